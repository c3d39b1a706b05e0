//! FHIR's views: the clinical summary (problems, medications, allergies, latest vitals with charts,
//! immunizations), shown to the patient and to a doctor they granted; the patient's FHIR export;
//! a doctor's FHIR import into a patient's records, within their write grant; what a checked file
//! holds besides what is imported. The summary is built on request: it opens every FHIR resource and structured entry the
//! reader can open (`web::fhir::open_all`), then `protocol::fhir::summary`. A part whose category
//! the reader was not granted says so, rather than showing an empty list.

use alloy_primitives::{Address, B256};
use leptos::prelude::*;
use medledger_protocol::fhir::summary::{summarise, Code, Item, Series, Summary};

use medledger_protocol::fhir::Import;

use super::super::components::{outcome_note, NoteView, Outcome, ProgressView};
use super::super::fhir;
use super::super::records::{self, Content, Prepared, Stage};
use super::super::state::{app_state, AppState};
use crate::fhir::{chart, preview_text, refused_text, shows, still_to_store, writable, Part};

/// How many of how many records are opened, while they are.
#[derive(Clone, Copy)]
struct Opening(RwSignal<Option<(usize, usize)>>);

impl Opening {
    fn new() -> Self {
        Self(RwSignal::new(None))
    }

    fn hear(self) -> impl Fn(usize, usize) {
        move |done, total| self.0.set(Some((done, total)))
    }

    fn view(self) -> impl IntoView {
        move || {
            self.0.get().map(|(done, total)| {
                let label = Signal::derive(move || format!("Opened {done} of {total} records"));
                let fraction = Signal::derive(move || done as f64 / total.max(1) as f64);
                view! { <ProgressView label fraction/> }
            })
        }
    }
}

/// What a reader's records made of the summary.
#[derive(Clone, PartialEq)]
struct Built {
    summary: Summary,
    resources: usize,
    failed: usize,
}

async fn build(state: AppState, patient: Address, progress: Opening) -> Result<Built, String> {
    let me = state.identity().ok_or("sign in first")?;
    let opened = fhir::open_all(&me, patient, &progress.hear()).await?;
    let failed = opened.failed;
    let typed = opened.into_typed();
    Ok(Built {
        summary: summarise(&typed),
        resources: typed.len(),
        failed,
    })
}

/// The summary of `patient`'s records for a reader granted `categories` (numbers; the patient
/// passes them all), from the records the escrow lists for the reader when it is built.
#[component]
pub fn ClinicalSummary(
    patient: Address,
    #[prop(into)] categories: Signal<Vec<u8>>,
) -> impl IntoView {
    let state = app_state();
    let built = RwSignal::new(None::<Built>);
    let opening = Opening::new();
    let action = Action::new_local(move |_: &()| async move {
        let result = build(state, patient, opening).await;
        opening.0.set(None);
        match result {
            Ok(b) => {
                let text = match b.failed {
                    0 => format!("Built from {} resources.", b.resources),
                    n => format!(
                        "Built from {} resources; {n} record(s) did not open and are left out.",
                        b.resources
                    ),
                };
                built.set(Some(b));
                Ok(text) as Outcome
            }
            Err(e) => Err(e),
        }
    });
    let busy = action.pending();
    view! {
        <section aria-labelledby="summary-h" data-testid="clinical-summary">
            <h2 id="summary-h">"Clinical summary"</h2>
            <p>"Problems, medications, allergies, vitals and immunizations from the FHIR resources and entries you can open, decrypted in this browser."</p>
            <button on:click=move |_| { action.dispatch_local(()); } disabled=busy data-testid="build-summary">
                {move || if built.with(Option::is_some) { "Refresh the summary" } else { "Show the clinical summary" }}
            </button>
            {opening.view()}
            <NoteView note=outcome_note(action)/>
            {move || built.get().map(|b| view! { <SummaryView summary=b.summary categories=categories.get()/> })}
        </section>
    }
}

#[component]
fn SummaryView(summary: Summary, categories: Vec<u8>) -> impl IntoView {
    let patient = summary.patient.clone();
    let parts = Part::ALL.into_iter().map(|part| {
        let shown = shows(part, &categories);
        let items = match part {
            Part::Problems => summary.problems.clone(),
            Part::Medications => summary.medications.clone(),
            Part::Allergies => summary.allergies.clone(),
            Part::Vitals => summary.vitals.clone(),
            Part::Immunizations => summary.immunizations.clone(),
        };
        let count = if shown { items.len() } else { 0 };
        let charts = (part == Part::Vitals && shown)
            .then(|| view! { <ChartView series=summary.weight.clone()/><ChartView series=summary.blood_pressure.clone()/> });
        view! {
            <div class="summary-part" data-part=part.heading() data-shown=shown.to_string() data-count=count.to_string()>
                <h3>{part.heading()}</h3>
                {if !shown {
                    view! { <p class="hidden-by-consent" data-testid="hidden-by-consent">{part.hidden_text()}</p> }.into_any()
                } else if items.is_empty() {
                    view! { <p>"None recorded."</p> }.into_any()
                } else {
                    view! { <ul>{items.into_iter().map(|i| view! { <ItemView item=i/> }).collect_view()}</ul> }.into_any()
                }}
                {charts}
            </div>
        }
    });
    view! {
        <div class="summary" data-testid="summary">
            {patient.map(|p| view! { <p class="summary-patient" data-testid="summary-patient"><strong>{p.name}</strong> " " {p.detail}</p> })}
            {parts.collect_view()}
        </div>
    }
}

#[component]
fn ItemView(item: Item) -> impl IntoView {
    let codes = item
        .codes
        .iter()
        .map(|Code { system, code }| format!("{system} {code}"))
        .collect::<Vec<_>>()
        .join(" · ");
    // A date the detail already says ("since 2019") is not said twice.
    let date = item.date.filter(|d| !item.detail.contains(d.as_str()));
    view! {
        <li data-testid="summary-item">
            <strong>{item.name}</strong>
            {(!item.detail.is_empty()).then(|| view! { " — " {item.detail} })}
            {date.map(|d| view! { <span class="muted">" (" {d} ")"</span> })}
            {(!codes.is_empty()).then(|| view! { <span class="codes">{codes}</span> })}
        </li>
    }
}

const CHART_W: f64 = 480.0;
const CHART_H: f64 = 160.0;
const CHART_PAD: f64 = 12.0;

/// A vital over time as an SVG line chart, with its range in words for those who cannot see it.
#[component]
fn ChartView(series: Series) -> impl IntoView {
    let chart = chart(&series, CHART_W, CHART_H, CHART_PAD)?;
    let (lo, hi) = chart.y_range;
    let (first, last) = chart.x_range.clone();
    let caption = format!(
        "{}: {lo}–{hi} {} from {first} to {last}",
        series.name, series.unit
    );
    let lines = chart.lines.into_iter().enumerate().map(|(i, (name, points))| {
        view! { <polyline class=format!("line line-{i}") points=points fill="none" stroke-width="2"><title>{name}</title></polyline> }
    });
    Some(view! {
        <figure class="chart" data-testid="vital-chart" data-series=series.name.clone()>
            <svg viewBox=format!("0 0 {CHART_W} {CHART_H}") role="img" aria-label=caption.clone() width="100%">
                <rect x="0" y="0" width=CHART_W height=CHART_H class="chart-frame" fill="none"/>
                {lines.collect_view()}
            </svg>
            <figcaption>{caption}</figcaption>
        </figure>
    })
}

/// The export of `patient`'s records as one FHIR R4 Bundle file: everything the reader can open,
/// with the patient's grants and access log when the reader is the patient, the reader's own
/// grant when it is a doctor.
#[component]
pub fn FhirExport(patient: Address) -> impl IntoView {
    let state = app_state();
    let link = RwSignal::new(None::<String>);
    let opening = Opening::new();
    let action = Action::new_local(move |_: &()| async move {
        let me = state.identity().ok_or("sign in first")?;
        let made = fhir::export_bundle(&me, patient, &opening.hear()).await;
        opening.0.set(None);
        let (bytes, count) = made?;
        if let Some(old) = link.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        link.set(Some(fhir::download_url(&bytes)?));
        Ok(format!("Exported {count} resources as one FHIR R4 Bundle."))
    });
    let busy = action.pending();
    view! {
        <section aria-labelledby="export-h" data-testid="fhir-export">
            <h2 id="export-h">"Export as FHIR"</h2>
            <p>{move || if state.identity().is_some_and(|me| me.account == patient) {
                "Everything you can open, your grants (as Consent) and your access log (as AuditEvent), in one FHIR R4 file any hospital system reads. It is made in this browser; the file is not encrypted, so keep it safe."
            } else {
                "The patient's records you may open, and your grant (as Consent), in one FHIR R4 file your hospital's system reads. It is made in this browser; the file is not encrypted: handle it as the patient's record."
            }}</p>
            <button on:click=move |_| { action.dispatch_local(()); } disabled=busy data-testid="export-fhir">"Make the FHIR file"</button>
            {opening.view()}
            <NoteView note=outcome_note(action)/>
            {move || link.get().map(|url| view! { <a href=url download="medledger-export.fhir.json" data-testid="fhir-download">"Download medledger-export.fhir.json"</a> })}
        </section>
    }
}

/// What a checked FHIR file holds besides what is imported: problems to fix, resources left out,
/// warnings.
#[component]
pub fn ImportNotes(import: medledger_protocol::fhir::Import) -> impl IntoView {
    let list = |title: &'static str,
                testid: &'static str,
                notes: Vec<medledger_protocol::fhir::Note>| {
        (!notes.is_empty()).then(|| view! {
            <details open=true data-testid=testid>
                <summary>{format!("{title} ({})", notes.len())}</summary>
                <ul>{notes.into_iter().map(|n| view! { <li><code>{n.resource}</code> ": " {n.note}</li> }).collect_view()}</ul>
            </details>
        })
    };
    view! {
        <div class="import-notes">
            {list("Problems to fix before anything is imported", "fhir-problems", import.problems)}
            {list("Not imported", "fhir-skipped", import.skipped)}
            {list("Imported, but worth knowing", "fhir-warnings", import.warnings)}
        </div>
    }
}

/// A doctor's FHIR import into `patient`'s records: the resources of categories their write grant
/// (`categories`) covers, as one bulk import under a root the doctor anchors (the contract checks
/// `canWrite` for every category the root names); the others are named and left out.
#[component]
pub fn FhirImportForPatient(
    patient: Address,
    categories: Vec<u8>,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = app_state();
    let file_input = NodeRef::<leptos::html::Input>::new();
    let checked = RwSignal::new(None::<Import>);
    let to_store = RwSignal::new_local(Vec::<(Content, u8)>::new());
    let run = ImportRun::new();
    let check = Action::new_local(move |_: &()| {
        let categories = categories.clone();
        async move {
            checked.set(None);
            to_store.set(Vec::new());
            let me = state.identity().ok_or("Sign in first.")?;
            let (import, stored) =
                fhir::check_picked(file_input.get_untracked(), &me, patient).await?;
            let (new, already) = still_to_store(&import, &stored);
            let (allowed, refused) = writable(new, &categories);
            let mut text = preview_text(&import, allowed.len(), already);
            if !refused.is_empty() {
                text.push_str(&format!(
                    " Left out, as your grant does not let you add them: {}.",
                    refused_text(&refused)
                ));
            }
            let importable = import.importable() && !allowed.is_empty();
            checked.set(Some(import));
            if !importable {
                return Err(text);
            }
            to_store.set(fhir::as_contents(allowed));
            // A new file replaces what a failed import of another left to retry.
            run.pending.set(Vec::new());
            Ok(text) as Outcome
        }
    });
    let store = Action::new_local(move |_: &()| {
        // Kept until stored: a failure before the uploads (the chain unreachable while
        // encrypting) leaves the checked file ready to import again.
        let contents = to_store.get_untracked();
        async move {
            let outcome = run.store(state, patient, contents).await;
            if outcome.is_ok() {
                to_store.set(Vec::new());
                on_done();
            }
            outcome
        }
    });
    let ready = move || to_store.with(|c| !c.is_empty()) || run.pending.with(|p| !p.is_empty());
    view! {
        <div class="fhir-for-patient" data-testid="fhir-for-patient">
            <h3>"Import FHIR for this patient"</h3>
            <p>"Resources of the categories you may write are added, each its own encrypted record, under one transaction."</p>
            <label class="field">"FHIR file" <input type="file" accept=".json,.ndjson,application/fhir+json,application/json" node_ref=file_input data-testid="doctor-fhir-input"/></label>
            <button on:click=move |_| { check.dispatch_local(()); } disabled=check.pending() data-testid="doctor-fhir-check">"Check the file"</button>
            <NoteView note=outcome_note(check)/>
            {move || checked.get().map(|i| view! { <ImportNotes import=i/> })}
            <Show when=ready>
                <button on:click=move |_| { store.dispatch_local(()); } disabled=store.pending() data-testid="doctor-fhir-import">
                    {move || if run.pending.with(|p| !p.is_empty()) { "Retry" } else { "Encrypt and import" }}
                </button>
            </Show>
            {run.view()}
            <div data-testid="doctor-fhir-outcome"><NoteView note=outcome_note(store)/></div>
        </div>
    }
}

/// An import's progress (counted in records) and what a failed step left to resume.
#[derive(Clone, Copy)]
struct ImportRun {
    stage: RwSignal<String>,
    fraction: RwSignal<f64>,
    pending: RwSignal<Vec<Prepared>, LocalStorage>,
}

impl ImportRun {
    fn new() -> Self {
        Self {
            stage: RwSignal::new(String::new()),
            fraction: RwSignal::new(0.0),
            pending: RwSignal::new_local(Vec::new()),
        }
    }

    fn progress(self) -> std::rc::Rc<dyn Fn(Stage)> {
        std::rc::Rc::new(move |s: Stage| match s {
            Stage::Uploaded(done, total) => {
                self.stage
                    .set(format!("Uploaded {done} of {total} records"));
                self.fraction.set(done as f64 / total.max(1) as f64);
            }
            Stage::Anchoring => {
                self.stage
                    .set("Anchoring on chain: confirm in your wallet".into());
                self.fraction.set(1.0);
            }
            // Many records: counted in records, not bytes.
            Stage::Encrypting(_) | Stage::Uploading(_) => {}
        })
    }

    fn view(self) -> impl IntoView {
        move || {
            (!self.stage.get().is_empty()).then(|| {
                let label = Signal::derive(move || self.stage.get());
                let fraction = Signal::derive(move || self.fraction.get());
                view! { <ProgressView label fraction/> }
            })
        }
    }

    /// Encrypts `contents` for `patient` (or resumes what a failed step left), places them under
    /// one root and stores them.
    async fn store(
        self,
        state: AppState,
        patient: Address,
        contents: Vec<(Content, u8)>,
    ) -> Outcome {
        let me = state.identity().ok_or("sign in first")?;
        let mut prepared = self.pending.get_untracked();
        if prepared.is_empty() {
            let counted = move |done: usize, total: usize| {
                self.stage.set(format!(
                    "Encrypted {done} of {total} records in your browser"
                ));
                self.fraction.set(done as f64 / total.max(1) as f64);
            };
            let made = records::prepare_many(&me, patient, contents, None, &counted).await;
            prepared = made.map_err(|e| {
                self.stage.set(String::new());
                e.to_string()
            })?;
            records::place_under_roots(&mut prepared).map_err(|e| e.to_string())?;
        }
        let count = prepared.len();
        let stored = records::store_all(&me, &mut prepared, self.progress()).await;
        self.stage.set(String::new());
        match stored {
            Ok(()) => {
                self.pending.set(Vec::new());
                let ids: Vec<B256> = prepared.iter().map(|p| p.record_id).collect();
                self.stage
                    .set("Anchored: waiting for the escrow to list them".into());
                let listed = records::await_listed(&me, patient, &ids).await;
                self.stage.set(String::new());
                Ok(format!(
                    "Imported {count} records for the patient, anchored under one root. The patient's app shares them with their other grantees.{}",
                    super::doctor::not_listed_yet(listed)
                ))
            }
            Err(e) => {
                self.pending.set(prepared);
                Err(format!(
                    "{e} — press Retry to continue from where it stopped."
                ))
            }
        }
    }
}
