//! The practitioner's pages (see [`crate::route`]): the patients who granted access, their records
//! filterable by category and date, open and download, adding a record or an amendment where write
//! is granted; emergency access with a reason, showing when the window ends; claims and payouts.

use std::collections::HashMap;

use alloy_primitives::{keccak256, Address, B256, U256};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::envelope::RecordKind;
use medledger_protocol::label::RecordLabel;

use super::super::components::{
    category_name, run, CategorySelect, Names, Note, NoteView, OpenedPanel, OpenedView,
    ProgressView, RecordTitle,
};
use super::super::escrow::{self, GrantSummary, RecordSummary};
use super::super::nav::{current_page, PageNav};
use super::super::records::{self, Content, Stage};
use super::super::state::app_state;
use crate::format;
use crate::route::{Audience, Page};

fn mask_categories(mask: &str) -> Vec<u8> {
    let Ok(mask) = mask.parse::<U256>() else {
        return Vec::new();
    };
    Category::from_mask(mask)
        .iter()
        .map(|c| c.number())
        .collect()
}

/// Learns each patient's name from the newest label that carries one among the records the
/// practitioner may list.
async fn learn_patient_names(me: &records::Identity, patients: &[Address], names: Names) {
    for &patient in patients {
        let Ok(list) = escrow::records(patient).await else {
            continue;
        };
        let labels = records::labels_of(me, &list);
        remember_patient_name(names, patient, &list, &labels);
    }
}

/// Takes the patient's name from the newest label that carries one (the list is newest first).
/// Only the patient's own records count: a practitioner with write access cannot rename them.
fn remember_patient_name(
    names: Names,
    patient: Address,
    list: &[RecordSummary],
    labels: &HashMap<B256, RecordLabel>,
) {
    let name = list
        .iter()
        .filter(|r| r.author == patient)
        .find_map(|r| labels.get(&r.record_id)?.patient_name.clone());
    if let Some(name) = name {
        names.patients.update(|n| {
            n.insert(patient, name);
        });
    }
}

/// The practitioner's home.
#[component]
pub fn DoctorPage() -> impl IntoView {
    let state = app_state();
    let note = RwSignal::new(None::<Note>);
    let patients = RwSignal::new(Vec::<GrantSummary>::new());
    let selected = RwSignal::new(None::<Address>);
    let names = Names::new();
    provide_context(names);
    let load = move || async move {
        let me = state.identity();
        names.load_directory(me.as_ref().map(|m| m.account)).await;
        match escrow::grants().await {
            Ok(g) => patients.set(g.as_grantee.into_iter().filter(|g| g.active).collect()),
            Err(e) => note.set(Some(Note::Failed(e.to_string()))),
        }
        if let Some(me) = me {
            let list: Vec<Address> =
                patients.with_untracked(|l| l.iter().map(|g| g.patient).collect());
            learn_patient_names(&me, &list, names).await;
        }
    };
    spawn_local(load());
    let page = current_page(Audience::Practitioner);
    // The records of the patient chosen on the Patients page, or of the emergency window just
    // opened: shown under whichever of the two pages chose them.
    let chosen = move || {
        selected.get().map(|p| {
            let grant = patients.with_untracked(|l| l.iter().find(|g| g.patient == p).cloned());
            view! { <PatientRecords patient=p grant/> }
        })
    };
    view! {
        <div class="page" data-testid="doctor-page">
            <PageNav audience=Audience::Practitioner current=page/>
            <NoteView note/>
            {move || match page.get() {
                Page::Emergency => view! { <EmergencySection selected patients/>{chosen}}.into_any(),
                Page::Claims => view! { <DoctorClaims/> }.into_any(),
                _ => view! { <PatientList patients selected load/>{chosen}}.into_any(),
            }}
        </div>
    }
}

/// The patients who granted this practitioner access.
#[component]
fn PatientList<F, Fut>(
    patients: RwSignal<Vec<GrantSummary>>,
    selected: RwSignal<Option<Address>>,
    load: F,
) -> impl IntoView
where
    F: Fn() -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    view! {
        <section aria-labelledby="patients-h">
            <h2 id="patients-h">"Your patients"</h2>
            <button on:click=move |_| spawn_local(load())>"Refresh"</button>
            <table class="cards" data-testid="patients">
                <thead><tr><th>"Patient"</th><th>"Categories"</th><th>"Write"</th><th>"Expires"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || patients.get() key=|g| (g.patient, g.categories.clone(), g.allow_write, g.expiry) let:g>
                        <tr data-patient=g.patient.to_checksum(None)>
                            <td class="card-title" title=g.patient.to_checksum(None)>{let p = g.patient; move || expect_context::<Names>().patient(p)}</td>
                            <td data-label="Categories">{mask_categories(&g.categories).into_iter().map(category_name).collect::<Vec<_>>().join(", ")}</td>
                            <td data-label="May add records">{if g.allow_write { "yes" } else { "no" }}</td>
                            <td data-label="Expires">{format::expiry(g.expiry)}</td>
                            <td class="actions"><button on:click={let p = g.patient; move |_| selected.set(Some(p))} data-testid="select-patient">"Open records"</button></td>
                        </tr>
                    </For>
                </tbody>
            </table>
            {move || patients.with(|p| p.is_empty()).then(|| view! { <p>"No patient has granted you access yet."</p> })}
        </section>
    }
}

#[component]
fn PatientRecords(patient: Address, grant: Option<GrantSummary>) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let list = RwSignal::new(Vec::<RecordSummary>::new());
    let opened = RwSignal::new(None::<OpenedView>);
    let filter_category = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let names = expect_context::<Names>();
    let labels = RwSignal::new(HashMap::new());
    let load = move || async move {
        match escrow::records(patient).await {
            Ok(l) => {
                if let Some(me) = state.identity() {
                    let opened = records::labels_of(&me, &l);
                    // A patient opened through an emergency window is named too, when their
                    // records say who they are.
                    remember_patient_name(names, patient, &l, &opened);
                    labels.set(opened);
                }
                list.set(l);
            }
            Err(e) => note.set(Some(Note::Failed(e.to_string()))),
        }
    };
    spawn_local(load());
    let visible = move || {
        let cat = filter_category.get().parse::<u8>().ok();
        let from = format::end_of_day(&from.get()).map(|t| t - 86_399);
        let to = format::end_of_day(&to.get());
        list.get()
            .into_iter()
            .filter(|r| cat.is_none_or(|c| r.category == c))
            .filter(|r| from.is_none_or(|f| r.created >= f))
            .filter(|r| to.is_none_or(|t| r.created <= t))
            .collect::<Vec<_>>()
    };
    let open = move |r: RecordSummary| {
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let o = records::open(&me, r.record_id, r.patient)
                .await
                .map_err(|e| e.to_string())?;
            opened.set(Some(OpenedView::from_record(
                format::short_id(r.record_id.as_slice()),
                &o,
            )));
            Ok("Opened and verified.".into())
        })
    };
    let amend = RwSignal::new(B256::ZERO);
    let writable = grant
        .as_ref()
        .filter(|g| g.allow_write)
        .map(|g| mask_categories(&g.categories));
    let can_amend = writable.is_some();
    let claimable = grant
        .as_ref()
        .map(|g| mask_categories(&g.categories))
        .unwrap_or_default();
    view! {
        <section aria-labelledby="precords-h" data-testid="patient-records">
            <h2 id="precords-h">"Records of " <span title=patient.to_checksum(None)>{move || names.patient(patient)}</span></h2>
            <div class="filters">
                <label class="field">"Category"
                    <select on:change=move |ev| filter_category.set(event_target_value(&ev)) data-testid="filter-category">
                        <option value="">"All"</option>
                        {Category::ALL.iter().map(|c| view! { <option value=c.number().to_string()>{category_name(c.number())}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field">"From" <input type="date" on:input=move |ev| from.set(event_target_value(&ev))/></label>
                <label class="field">"To" <input type="date" on:input=move |ev| to.set(event_target_value(&ev))/></label>
                <button on:click=move |_| spawn_local(load())>"Refresh"</button>
            </div>
            <table class="cards" data-testid="doctor-records">
                <thead><tr><th>"Record"</th><th>"Category"</th><th>"Author"</th><th>"Added"</th><th>"Size"</th><th></th></tr></thead>
                <tbody>
                    <For each=visible key=|r| r.record_id let:r>
                        {
                            let r2 = r.clone();
                            let id = r.record_id;
                            view! {
                                <tr data-record=r.record_id.to_string()>
                                    <RecordTitle labels id category=r.category/>
                                    <td data-label="Category">{category_name(r.category)}</td>
                                    <td data-label="Author" title=r.author.to_checksum(None)>{let a = r.author; move || names.anyone(a)}</td>
                                    <td data-label="Added">{format::datetime(r.created)}</td>
                                    <td data-label="Size">{format::size(r.size)}</td>
                                    <td class="actions">
                                        <button on:click=move |_| open(r2.clone()) disabled=move || busy.get() data-testid="open">"Open"</button>
                                        {can_amend.then(|| view! { " " <button on:click=move |_| amend.set(id)>"Amend"</button> })}
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            {move || list.with(|l| l.is_empty()).then(|| view! { <p>"No records you may read."</p> })}
            <NoteView note/>
            <OpenedPanel opened/>
            {writable.map(|cats| view! { <AddForPatient patient categories=cats amend on_done=move || spawn_local(load())/> })}
            <super::claims::NewClaim patient care_categories=claimable on_done=Callback::new(move |_| spawn_local(load()))/>
        </section>
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
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let stage = RwSignal::new(String::new());
    let fraction = RwSignal::new(0.0);
    let category = RwSignal::new(categories.first().copied().unwrap_or(0));
    let text = RwSignal::new(String::new());
    let file_input = NodeRef::<leptos::html::Input>::new();
    // A record whose upload or anchoring failed is kept and resumed by the next press, not made
    // again (the escrow answers an identical retry with what it stored).
    let pending = RwSignal::new_local(None::<records::Prepared>);
    let allowed = Signal::derive({
        let c = categories.clone();
        move || c.clone()
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let file = file_input
            .get()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0));
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let content = match file {
                Some(f) => Content::File(f),
                None => {
                    let t = text.get_untracked();
                    if t.trim().is_empty() {
                        return Err("Write a note or choose a file.".into());
                    }
                    Content::Bytes {
                        data: t.into_bytes(),
                        media_type: "text/plain; charset=utf-8".into(),
                        file_name: format!(
                            "note-{}.txt",
                            format::date((js_sys::Date::now() / 1000.0) as u64)
                        ),
                        kind: RecordKind::Document,
                    }
                }
            };
            let progress = move |s: Stage| match s {
                Stage::Encrypting(f) => {
                    stage.set("Encrypting".into());
                    fraction.set(f);
                }
                Stage::Uploading(f) => {
                    stage.set("Uploading".into());
                    fraction.set(f);
                }
                Stage::Anchoring => {
                    stage.set("Anchoring on chain: confirm in your wallet".into());
                    fraction.set(1.0);
                }
            };
            let mut prepared = match pending.get_untracked() {
                Some(p) => p,
                None => {
                    // Wrap to the patient's other grantees for this category too (the chain says
                    // who they are), so they can open it without waiting for the patient's app.
                    let cat = category.get_untracked();
                    let readers: Vec<_> = super::claims::grantees_for(&me.contract, patient, cat)
                        .await?
                        .into_iter()
                        .map(|(a, k, _)| (a, k))
                        .collect();
                    records::prepare(
                        &me,
                        patient,
                        cat,
                        amend.get_untracked(),
                        content,
                        &readers,
                        None,
                        &progress,
                    )
                    .await
                    .map_err(|e| e.to_string())?
                }
            };
            let stored = records::store(&me, &mut prepared, std::rc::Rc::new(progress)).await;
            if let Err(e) = stored {
                pending.set(Some(prepared));
                stage.set(String::new());
                return Err(format!(
                    "{e} — press Retry to continue from where it stopped."
                ));
            }
            pending.set(None);
            stage.set(String::new());
            text.set(String::new());
            amend.set(B256::ZERO);
            on_done();
            Ok("Added to the patient's records. The patient's app shares it with their other grantees.".into())
        })
    };
    view! {
        <form on:submit=submit data-testid="add-for-patient">
            <h3>{move || if amend.get().is_zero() { "Add a record".to_string() } else { format!("Amend record {}", format::short_id(amend.get().as_slice())) }}</h3>
            <CategorySelect value=category label="Category" allowed=allowed/>
            <label class="field wide">"Note" <textarea prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) data-testid="note-text"></textarea></label>
            <label class="field">"or a file" <input type="file" node_ref=file_input/></label>
            <button type="submit" disabled=move || busy.get() data-testid="add-record">{move || if pending.with(Option::is_some) { "Retry" } else { "Encrypt and add" }}</button>
            <Show when=move || !amend.get().is_zero()><button type="button" on:click=move |_| amend.set(B256::ZERO)>"Not an amendment"</button></Show>
            <Show when=move || !stage.get().is_empty()>
                <ProgressView label=Signal::derive(move || stage.get()) fraction=Signal::derive(move || fraction.get())/>
            </Show>
            <NoteView note/>
        </form>
    }
}

#[component]
fn EmergencySection(
    selected: RwSignal<Option<Address>>,
    patients: RwSignal<Vec<GrantSummary>>,
) -> impl IntoView {
    let names = expect_context::<Names>();
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let patient = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let until = RwSignal::new(None::<u64>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let who: Address = patient
                .get_untracked()
                .trim()
                .parse()
                .map_err(|_| "Enter the patient's account address.".to_string())?;
            let why = reason.get_untracked();
            if why.trim().len() < 10 {
                return Err("Give the reason (at least a short sentence): it is recorded on chain as a hash and the patient is shown the access.".into());
            }
            me.contract
                .send(
                    me.account,
                    MedLedger::emergencyAccessCall {
                        patient: who,
                        reasonHash: keccak256(why.trim().as_bytes()),
                    },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            let end = me
                .contract
                .view(MedLedger::emergencyAccessUntilCall {
                    patient: who,
                    practitioner: me.account,
                })
                .await
                .map_err(|e| e.to_string())?;
            until.set(Some(end));
            selected.set(Some(who));
            Ok(format!(
                "Emergency window open until {}.",
                format::datetime(end)
            ))
        })
    };
    view! {
        <section aria-labelledby="emergency-h">
            <h2 id="emergency-h">"Emergency access"</h2>
            <p>"Only for an emergency with a patient who opted in. The access is logged, flagged to the patient, and ends with the window."</p>
            <form on:submit=submit>
                <label class="field">"One of your patients"
                    <select on:change=move |ev| patient.set(event_target_value(&ev)) prop:value=move || patient.get() data-testid="emergency-pick">
                        <option value="">"Choose a patient…"</option>
                        <For each=move || patients.get() key=|g| g.patient let:g>
                            <option value=g.patient.to_checksum(None)>{let p = g.patient; move || names.patient(p)}</option>
                        </For>
                    </select>
                </label>
                <label class="field">"…or the patient's account address" <input type="text" placeholder="0x…" prop:value=move || patient.get() on:input=move |ev| patient.set(event_target_value(&ev))/></label>
                <label class="field wide">"Reason" <textarea prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))></textarea></label>
                <button type="submit" disabled=move || busy.get()>"Open emergency access"</button>
            </form>
            {move || until.get().map(|t| view! { <p class="warn" data-testid="emergency-until">"Window ends " {format::datetime(t)}</p> })}
            <NoteView note/>
        </section>
    }
}

/// The practitioner's claims and payouts (pulled from the contract).
#[component]
fn DoctorClaims() -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let claims = RwSignal::new(Vec::new());
    let payout = RwSignal::new(U256::ZERO);
    let load = move || async move {
        super::claims::load_claims(claims, note).await;
        if let Some(me) = state.identity() {
            if let Ok(p) = me
                .contract
                .view(MedLedger::payoutOfCall {
                    practitioner: me.account,
                })
                .await
            {
                payout.set(p);
            }
        }
    };
    spawn_local(load());
    let withdraw = move |_| {
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            me.contract
                .send(me.account, MedLedger::withdrawPayoutCall {}, U256::ZERO)
                .await
                .map_err(|e| e.to_string())?;
            load().await;
            Ok("Payouts sent to your account.".into())
        })
    };
    view! {
        <section aria-labelledby="dclaims-h">
            <h2 id="dclaims-h">"Your claims"</h2>
            <button on:click=move |_| spawn_local(load())>"Refresh"</button>
            <super::claims::ClaimsTable claims/>
            <p data-testid="payout">"Payouts waiting for you: " {move || format::ether(payout.get())}</p>
            <button on:click=withdraw disabled=move || busy.get() || payout.get().is_zero()>"Withdraw payouts"</button>
            <NoteView note/>
        </section>
    }
}
