//! The practitioner's pages (see [`crate::route`]): the patients who granted access, their records
//! filterable by category and date, open and download, adding a record or an amendment where write
//! is granted; emergency access with a reason, showing when the window ends; claims and payouts.
//!
//! Lists are resources read under a `Transition`; each submit is an `Action` whose pending state
//! disables its button and whose outcome is its note; a change refetches what it changed.

use alloy_primitives::{keccak256, Address, B256, U256};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::{Category, MedLedger, MedLedgerInsurance};
use medledger_protocol::envelope::RecordKind;

use super::super::components::{
    category_name, failure_note, outcome_note, CategorySelect, Names, NoteView, OpenedPanel,
    OpenedView, Outcome, ProgressView, RecordTitle, WhenLoaded,
};
use super::super::escrow::{self, GrantSummary, RecordSummary};
use super::super::nav::{current_page, PageNav};
use super::super::records::{self, Content, Listing, Prepared, Stage};
use super::super::state::{app_state, AppState};
use super::clinical::{ClinicalSummary, FhirExport, FhirImportForPatient};
use crate::filter::RecordFilter;
use crate::format;
use crate::route::{Audience, Page};
use crate::sharing::categories_of_decimal;

/// The patients whose grants to this practitioner are active.
type Patients = LocalResource<Result<Vec<GrantSummary>, String>>;

/// The loaded grants (none while they load or when they failed to).
fn grants(patients: Patients) -> Vec<GrantSummary> {
    patients
        .with(|p| p.as_ref().and_then(|p| p.as_ref().ok()).cloned())
        .unwrap_or_default()
}

/// The practitioner's home.
#[component]
pub fn DoctorPage() -> impl IntoView {
    let state = app_state();
    let names = Names::new(state.identity().map(|m| m.account));
    provide_context(names);
    let patients: Patients = LocalResource::new(|| async {
        let g = escrow::grants().await.map_err(|e| e.to_string())?;
        Ok(g.as_grantee.into_iter().filter(|g| g.active).collect())
    });
    // Whenever the list (re)loads, each patient is named from the records they share.
    Effect::new(move |_| {
        let listed: Vec<Address> = grants(patients).iter().map(|g| g.patient).collect();
        if let (Some(me), false) = (state.identity(), listed.is_empty()) {
            spawn_local(async move { names.learn_all(&me, &listed).await });
        }
    });
    let selected = RwSignal::new(None::<Address>);
    let page = current_page(Audience::Practitioner);
    // The records of the patient chosen on the Patients page, or of the emergency window just
    // opened: shown under whichever of the two pages chose them.
    let chosen = move || {
        selected.get().map(|p| {
            let grant = untrack(|| grants(patients))
                .into_iter()
                .find(|g| g.patient == p);
            view! { <PatientRecords patient=p grant/> }
        })
    };
    view! {
        <div class="page" data-testid="doctor-page">
            <PageNav audience=Audience::Practitioner current=page/>
            <super::licence::LicenceNotice/>
            {move || match page.get() {
                Page::Emergency => view! { <EmergencySection selected patients/>{chosen}}.into_any(),
                Page::Claims => view! { <DoctorClaims/> }.into_any(),
                Page::Account => view! { <super::key::KeySection on_rotated=move || patients.refetch()/><super::recovery::HelpRecoverSection/> }.into_any(),
                _ => view! { <PatientList patients selected/>{chosen}}.into_any(),
            }}
        </div>
    }
}

/// The patients who granted this practitioner access.
#[component]
fn PatientList(patients: Patients, selected: RwSignal<Option<Address>>) -> impl IntoView {
    let names = expect_context::<Names>();
    view! {
        <section aria-labelledby="patients-h">
            <h2 id="patients-h">"Your patients"</h2>
            <button on:click=move |_| { names.refresh(); patients.refetch(); }>"Refresh"</button>
            <WhenLoaded>
                <table class="cards" data-testid="patients">
                    <thead><tr><th>"Patient"</th><th>"Categories"</th><th>"Write"</th><th>"Expires"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || grants(patients) key=|g| (g.patient, g.categories.clone(), g.allow_write, g.expiry) let:g>
                            <tr data-patient=g.patient.to_checksum(None)>
                                <td class="card-title" title=g.patient.to_checksum(None)>{let p = g.patient; move || names.patient(p)}</td>
                                <td data-label="Categories">{categories_of_decimal(&g.categories).into_iter().map(category_name).collect::<Vec<_>>().join(", ")}</td>
                                <td data-label="May add records">{if g.allow_write { "yes" } else { "no" }}</td>
                                <td data-label="Expires">{format::expiry(g.expiry)}</td>
                                <td class="actions"><button on:click={let p = g.patient; move |_| selected.set(Some(p))} data-testid="select-patient">"Open records"</button></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
                {move || patients.with(|p| matches!(p, Some(Ok(l)) if l.is_empty())).then(|| view! { <p>"No patient has granted you access yet."</p> })}
                <NoteView note=failure_note(patients)/>
            </WhenLoaded>
        </section>
    }
}

/// Opens a listed record into `opened`.
async fn open_record(
    state: AppState,
    opened: RwSignal<Option<OpenedView>>,
    r: RecordSummary,
) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    let o = records::open(&me, r.record_id, r.patient)
        .await
        .map_err(|e| e.to_string())?;
    opened.set(Some(OpenedView::from_record(
        format::short_id(r.record_id.as_slice()),
        &o,
    )));
    Ok("Opened and verified.".into())
}

#[component]
fn PatientRecords(patient: Address, grant: Option<GrantSummary>) -> impl IntoView {
    let state = app_state();
    let names = expect_context::<Names>();
    let list: LocalResource<Result<Listing, String>> = LocalResource::new(move || async move {
        let me = state.identity().ok_or("sign in first")?;
        let listing = records::list(&me, patient)
            .await
            .map_err(|e| e.to_string())?;
        // A patient opened through an emergency window is named too, when their records say
        // who they are.
        names.learn(patient, &listing);
        Ok(listing)
    });
    let opened = RwSignal::new(None::<OpenedView>);
    let (filter_category, from, to) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let visible = move || {
        let filter = RecordFilter::from_form(&filter_category.get(), &from.get(), &to.get());
        list.with(|l| match l {
            Some(Ok(l)) => l
                .records
                .iter()
                .filter(|r| filter.admits(r.category, r.created))
                .cloned()
                .collect(),
            _ => Vec::new(),
        })
    };
    let label = move |id: B256| {
        Signal::derive(move || {
            list.with(|l| match l {
                Some(Ok(l)) => l.labels.get(&id).cloned(),
                _ => None,
            })
        })
    };
    let open = Action::new_local(move |r: &RecordSummary| open_record(state, opened, r.clone()));
    let busy = open.pending();
    let amend = RwSignal::new(B256::ZERO);
    let categories = grant
        .as_ref()
        .map(|g| categories_of_decimal(&g.categories))
        .unwrap_or_default();
    let writable = grant.filter(|g| g.allow_write).map(|_| categories.clone());
    let can_amend = writable.is_some();
    view! {
        <section aria-labelledby="precords-h" data-testid="patient-records">
            <h2 id="precords-h">"Records of " <span title=patient.to_checksum(None)>{move || names.patient(patient)}</span></h2>
            <ClinicalSummary patient categories=categories.clone()/>
            <RecordFilters filter_category from to refresh=move || list.refetch()/>
            <WhenLoaded>
                <table class="cards" data-testid="doctor-records">
                    <thead><tr><th>"Record"</th><th>"Category"</th><th>"Author"</th><th>"Added"</th><th>"Size"</th><th></th></tr></thead>
                    <tbody>
                        <For each=visible key=|r| r.record_id let:r>
                            // A bulk-imported record (under a root) cannot be amended on chain.
                            <RecordRow label=label(r.record_id) amend=(can_amend && r.rooted.is_none()).then_some(amend) r busy open=move |r| { open.dispatch_local(r); }/>
                        </For>
                    </tbody>
                </table>
                {move || list.with(|l| matches!(l, Some(Ok(l)) if l.records.is_empty())).then(|| view! { <p>"No records you may read."</p> })}
                <NoteView note=failure_note(list)/>
            </WhenLoaded>
            <NoteView note=outcome_note(open)/>
            <OpenedPanel opened/>
            {writable.clone().map(|cats| view! { <AddForPatient patient categories=cats amend on_done=move || list.refetch()/> })}
            {writable.map(|cats| view! { <FhirImportForPatient patient categories=cats on_done=move || list.refetch()/> })}
            <FhirExport patient/>
            <super::claims::NewClaim patient care_categories=categories on_done=Callback::new(move |_| list.refetch())/>
        </section>
    }
}

/// One of the patient's records; `amend` when the practitioner may write.
#[component]
fn RecordRow(
    r: RecordSummary,
    label: Signal<Option<medledger_protocol::label::RecordLabel>>,
    busy: Memo<bool>,
    open: impl Fn(RecordSummary) + Copy + Send + Sync + 'static,
    amend: Option<RwSignal<B256>>,
) -> impl IntoView {
    let names = expect_context::<Names>();
    let (row, id, author) = (r.clone(), r.record_id, r.author);
    view! {
        <tr data-record=r.record_id.to_string()>
            <RecordTitle label category=r.category/>
            <td data-label="Category">{category_name(r.category)}</td>
            <td data-label="Author" title=r.author.to_checksum(None)>{move || names.anyone(author)}</td>
            <td data-label="Added">{format::datetime(r.created)}</td>
            <td data-label="Size">{format::size(r.size)}</td>
            <td class="actions">
                <button on:click=move |_| open(row.clone()) disabled=busy data-testid="open">"Open"</button>
                {amend.map(|amend| view! { " " <button on:click=move |_| amend.set(id)>"Amend"</button> })}
            </td>
        </tr>
    }
}

/// The record list's filters and its Refresh button.
#[component]
fn RecordFilters(
    filter_category: RwSignal<String>,
    from: RwSignal<String>,
    to: RwSignal<String>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="filters">
            <label class="field">"Category"
                <select on:change=move |ev| filter_category.set(event_target_value(&ev)) data-testid="filter-category">
                    <option value="">"All"</option>
                    {Category::ALL.iter().map(|c| view! { <option value=c.number().to_string()>{category_name(c.number())}</option> }).collect_view()}
                </select>
            </label>
            <label class="field">"From" <input type="date" on:input=move |ev| from.set(event_target_value(&ev))/></label>
            <label class="field">"To" <input type="date" on:input=move |ev| to.set(event_target_value(&ev))/></label>
            <button on:click=move |_| refresh()>"Refresh"</button>
        </div>
    }
}

/// A practitioner's note or file for a patient, before it is encrypted.
fn note_or_file(file: Option<web_sys::File>, text: &str) -> Result<Content, String> {
    if let Some(f) = file {
        return Ok(Content::File(f));
    }
    if text.trim().is_empty() {
        return Err("Write a note or choose a file.".into());
    }
    Ok(Content::Bytes {
        data: text.as_bytes().to_vec(),
        media_type: "text/plain; charset=utf-8".into(),
        file_name: format!(
            "note-{}.txt",
            format::date((js_sys::Date::now() / 1000.0) as u64)
        ),
        kind: RecordKind::Document,
    })
}

/// The add form's progress and the record a failed step left to resume.
#[derive(Clone, Copy)]
struct AddRun {
    stage: RwSignal<String>,
    fraction: RwSignal<f64>,
    /// A record whose upload or anchoring failed is kept and resumed by the next press, not made
    /// again (the escrow answers an identical retry with what it stored).
    pending: RwSignal<Option<Prepared>, LocalStorage>,
}

impl AddRun {
    fn progress(self) -> std::rc::Rc<dyn Fn(Stage)> {
        let AddRun {
            stage, fraction, ..
        } = self;
        std::rc::Rc::new(move |s: Stage| match s {
            Stage::Encrypting(f) => {
                stage.set("Encrypting".into());
                fraction.set(f);
            }
            // One record: its bytes' progress says it all.
            Stage::Uploaded(..) => {}
            Stage::Uploading(f) => {
                stage.set("Uploading".into());
                fraction.set(f);
            }
            Stage::Anchoring => {
                stage.set("Anchoring on chain: confirm in your wallet".into());
                fraction.set(1.0);
            }
        })
    }

    /// Stores the kept record, or a new one of `category` (amending `supersedes`) from `content`.
    async fn run(
        self,
        state: AppState,
        patient: Address,
        (content, category, supersedes): (Result<Content, String>, u8, B256),
    ) -> Outcome {
        let me = state.identity().ok_or("sign in first")?;
        let progress = self.progress();
        let mut prepared = match self.pending.get_untracked() {
            Some(p) => p,
            // The key is wrapped to the patient's other grantees for this category too (the
            // chain says who they are), so they can open it without waiting for the patient's app.
            None => records::prepare(
                &me, patient, category, supersedes, content?, None, &*progress,
            )
            .await
            .map_err(|e| {
                self.stage.set(String::new());
                e.to_string()
            })?,
        };
        let stored = records::store(&me, &mut prepared, progress).await;
        self.stage.set(String::new());
        if let Err(e) = stored {
            self.pending.set(Some(prepared));
            return Err(format!(
                "{e} — press Retry to continue from where it stopped."
            ));
        }
        self.pending.set(None);
        self.stage
            .set("Anchored: waiting for the escrow to list it".into());
        let listed = records::await_listed(&me, patient, &[prepared.record_id]).await;
        self.stage.set(String::new());
        Ok(format!(
            "Added to the patient's records. The patient's app shares it with their other grantees.{}",
            not_listed_yet(listed)
        ))
    }
}

/// What an outcome adds when the escrow did not list the new records within its wait: the
/// transaction is mined, so they are the patient's; the list shows them after a refresh.
pub(super) fn not_listed_yet(listed: bool) -> &'static str {
    if listed {
        ""
    } else {
        " The escrow has not seen the anchor yet: press Refresh in a moment to see it listed."
    }
}

#[component]
fn AddForPatient(
    patient: Address,
    categories: Vec<u8>,
    amend: RwSignal<B256>,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = app_state();
    let run = AddRun {
        stage: RwSignal::new(String::new()),
        fraction: RwSignal::new(0.0),
        pending: RwSignal::new_local(None),
    };
    let category = RwSignal::new(categories.first().copied().unwrap_or(0));
    let text = RwSignal::new(String::new());
    let file_input = NodeRef::<leptos::html::Input>::new();
    let allowed = Signal::derive(move || categories.clone());
    let add = Action::new_local(move |request: &(Result<Content, String>, u8, B256)| {
        let request = request.clone();
        async move {
            let outcome = run.run(state, patient, request).await;
            if outcome.is_ok() {
                text.set(String::new());
                amend.set(B256::ZERO);
                on_done();
            }
            outcome
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let file = file_input
            .get()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0));
        let content = note_or_file(file, &text.get_untracked());
        add.dispatch_local((content, category.get_untracked(), amend.get_untracked()));
    };
    view! {
        <form on:submit=submit data-testid="add-for-patient">
            <h3>{move || if amend.get().is_zero() { "Add a record".to_string() } else { format!("Amend record {}", format::short_id(amend.get().as_slice())) }}</h3>
            <CategorySelect value=category label="Category" allowed=allowed/>
            <label class="field wide">"Note" <textarea prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) data-testid="note-text"></textarea></label>
            <label class="field">"or a file" <input type="file" node_ref=file_input/></label>
            <button type="submit" disabled=add.pending() data-testid="add-record">{move || if run.pending.with(Option::is_some) { "Retry" } else { "Encrypt and add" }}</button>
            <Show when=move || !amend.get().is_zero()><button type="button" on:click=move |_| amend.set(B256::ZERO)>"Not an amendment"</button></Show>
            <Show when=move || !run.stage.get().is_empty()>
                <ProgressView label=Signal::derive(move || run.stage.get()) fraction=Signal::derive(move || run.fraction.get())/>
            </Show>
            <NoteView note=outcome_note(add)/>
        </form>
    }
}

/// Declares an emergency for the patient typed or picked, with the reason; the window's end.
async fn declare_emergency(
    state: AppState,
    patient: String,
    reason: String,
) -> Result<(Address, u64), String> {
    let me = state.identity().ok_or("sign in first")?;
    let who: Address = patient
        .trim()
        .parse()
        .map_err(|_| "Enter the patient's account address.".to_string())?;
    if reason.trim().len() < 10 {
        return Err("Give the reason (at least a short sentence): it is recorded on chain as a hash and the patient is shown the access.".into());
    }
    me.send(MedLedger::emergencyAccessCall {
        patient: who,
        reasonHash: keccak256(reason.trim().as_bytes()),
    })
    .await?;
    let end = me
        .contract
        .view(MedLedger::emergencyAccessUntilCall {
            patient: who,
            practitioner: me.account,
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok((who, end))
}

#[component]
fn EmergencySection(selected: RwSignal<Option<Address>>, patients: Patients) -> impl IntoView {
    let names = expect_context::<Names>();
    let state = app_state();
    let patient = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let until = RwSignal::new(None::<u64>);
    let declare = Action::new_local(move |(who, why): &(String, String)| {
        let (who, why) = (who.clone(), why.clone());
        async move {
            let (who, end) = declare_emergency(state, who, why).await?;
            until.set(Some(end));
            selected.set(Some(who));
            Ok(format!(
                "Emergency window open until {}.",
                format::datetime(end)
            ))
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        declare.dispatch_local((patient.get_untracked(), reason.get_untracked()));
    };
    view! {
        <section aria-labelledby="emergency-h">
            <h2 id="emergency-h">"Emergency access"</h2>
            <p>"Only for an emergency with a patient who opted in. The access is logged, flagged to the patient, and ends with the window."</p>
            <form on:submit=submit>
                <label class="field">"One of your patients"
                    <select on:change=move |ev| patient.set(event_target_value(&ev)) prop:value=move || patient.get() data-testid="emergency-pick">
                        <option value="">"Choose a patient…"</option>
                        <For each=move || grants(patients) key=|g| g.patient let:g>
                            <option value=g.patient.to_checksum(None)>{let p = g.patient; move || names.patient(p)}</option>
                        </For>
                    </select>
                </label>
                <label class="field">"…or the patient's account address" <input type="text" placeholder="0x…" prop:value=move || patient.get() on:input=move |ev| patient.set(event_target_value(&ev))/></label>
                <label class="field wide">"Reason" <textarea prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))></textarea></label>
                <button type="submit" disabled=declare.pending()>"Open emergency access"</button>
            </form>
            {move || until.get().map(|t| view! { <p class="warn" data-testid="emergency-until">"Window ends " {format::datetime(t)}</p> })}
            <NoteView note=outcome_note(declare)/>
        </section>
    }
}

/// The practitioner's claims and payouts (pulled from the contract).
#[component]
fn DoctorClaims() -> impl IntoView {
    let state = app_state();
    let claims = super::claims::claims_resource();
    let payout = LocalResource::new(move || async move {
        let me = state.identity().ok_or("sign in first")?;
        me.insurance
            .view(MedLedgerInsurance::payoutOfCall {
                practitioner: me.account,
            })
            .await
            .map_err(|e| e.to_string())
    });
    let withdraw = Action::new_local(move |_: &()| async move {
        let me = state.identity().ok_or("sign in first")?;
        me.send_insurance(MedLedgerInsurance::withdrawPayoutCall {}, U256::ZERO)
            .await?;
        claims.refetch();
        payout.refetch();
        Ok("Payouts sent to your account.".into())
    });
    let busy = withdraw.pending();
    let waiting = move || payout.with(|p| p.as_ref().and_then(|p| p.as_ref().ok()).copied());
    view! {
        <section aria-labelledby="dclaims-h">
            <h2 id="dclaims-h">"Your claims"</h2>
            <button on:click=move |_| { claims.refetch(); payout.refetch(); }>"Refresh"</button>
            <super::claims::ClaimsTable claims/>
            <WhenLoaded>
                <p data-testid="payout">"Payouts waiting for you: " {move || format::ether(waiting().unwrap_or_default())}</p>
            </WhenLoaded>
            <button on:click=move |_| { withdraw.dispatch_local(()); } disabled=move || busy.get() || waiting().unwrap_or_default().is_zero()>"Withdraw payouts"</button>
            <NoteView note=outcome_note(withdraw)/>
        </section>
    }
}
