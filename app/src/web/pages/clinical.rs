//! The clinical summary (problems, medications, allergies, latest vitals with charts,
//! immunizations), shown to the patient and to a doctor they granted, and the patient's FHIR
//! export. The summary is built on request: it opens every FHIR resource and structured entry the
//! reader can open (`web::fhir::open_all`), then `protocol::fhir::summary`. A part whose category
//! the reader was not granted says so, rather than showing an empty list.

use alloy_primitives::Address;
use leptos::prelude::*;
use medledger_protocol::fhir::summary::{summarise, Code, Item, Series, Summary};

use super::super::components::{outcome_note, NoteView, Outcome, ProgressView};
use super::super::fhir;
use super::super::records::Listing;
use super::super::state::{app_state, AppState};
use crate::fhir::{chart, shows, Part};

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

async fn build(
    state: AppState,
    patient: Address,
    listing: Option<Listing>,
    progress: Opening,
) -> Result<Built, String> {
    let me = state.identity().ok_or("sign in first")?;
    let listing = listing.ok_or("the records are still loading")?;
    let opened = fhir::open_all(&me, patient, &listing, &progress.hear()).await;
    let typed = opened.typed();
    Ok(Built {
        summary: summarise(&typed),
        resources: typed.len(),
        failed: opened.failed,
    })
}

/// The summary of `patient`'s records for a reader granted `categories` (numbers; the patient
/// passes them all), from the records `listing` holds.
#[component]
pub fn ClinicalSummary(
    patient: Address,
    #[prop(into)] categories: Signal<Vec<u8>>,
    #[prop(into)] listing: Signal<Option<Listing>>,
) -> impl IntoView {
    let state = app_state();
    let built = RwSignal::new(None::<Built>);
    let opening = Opening::new();
    let action = Action::new_local(move |_: &()| async move {
        let result = build(state, patient, listing.get_untracked(), opening).await;
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
    view! {
        <li data-testid="summary-item">
            <strong>{item.name}</strong>
            {(!item.detail.is_empty()).then(|| view! { " — " {item.detail} })}
            {item.date.map(|d| view! { <span class="muted">" (" {d} ")"</span> })}
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

/// The patient's export: everything they can open, their grants and their access log, as one
/// FHIR R4 Bundle file.
#[component]
pub fn FhirExport(#[prop(into)] listing: Signal<Option<Listing>>) -> impl IntoView {
    let state = app_state();
    let link = RwSignal::new(None::<String>);
    let opening = Opening::new();
    let action = Action::new_local(move |_: &()| async move {
        let me = state.identity().ok_or("sign in first")?;
        let listing = listing
            .get_untracked()
            .ok_or("the records are still loading")?;
        let made = fhir::export_bundle(&me, &listing, &opening.hear()).await;
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
            <p>"Everything you can open, your grants (as Consent) and your access log (as AuditEvent), in one FHIR R4 file any hospital system reads. It is made in this browser; the file is not encrypted, so keep it safe."</p>
            <button on:click=move |_| { action.dispatch_local(()); } disabled=busy data-testid="export-fhir">"Make the FHIR file"</button>
            {opening.view()}
            <NoteView note=outcome_note(action)/>
            {move || link.get().map(|url| view! { <a href=url download="medledger-export.fhir.json" data-testid="fhir-download">"Download medledger-export.fhir.json"</a> })}
        </section>
    }
}
