//! The patient's pages (one per task, see [`crate::route`]): records (list, open, erase), adding
//! (files of any size, structured entries), sharing (grants with categories, write and expiry;
//! keys wrapped to new grantees without the patient thinking about it), the access log verified
//! against the chain, claims, emergency access, and the account (erasing everything).

use std::collections::HashMap;
use std::rc::Rc;

use alloy_primitives::{Address, B256, U256};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::envelope::RecordKind;
use medledger_protocol::label::RecordLabel;
use medledger_protocol::wrap::PublicKey;

use super::super::components::{
    category_name, run, CategoryChecks, CategorySelect, Note, NoteView, OpenedPanel, OpenedView,
    ProgressView, RecordTitle,
};
use super::super::escrow::{self, LogEntry, RecordSummary};
use super::super::nav::{current_page, PageNav};
use super::super::records::{self, Content, Identity, Prepared, Stage};
use super::super::state::{app_state, AppState};
use crate::entry::{
    height_in_cm, weight_in_kg, EntryError, HeightUnit, StructuredEntry, WeightUnit, BLOOD_GROUPS,
    MEDIA_TYPE,
};
use crate::format;
use crate::people::{self, log_sentence, reader_of, Directory, LogFacts};
use crate::route::{Audience, Page};

/// Page-wide signals shared by the sections.
#[derive(Clone, Copy)]
struct PatientCtx {
    records: RwSignal<Vec<RecordSummary>>,
    /// Names of verified practitioners and insurers (the escrow's directory).
    people: RwSignal<Directory>,
    /// What each listed record is called (its sealed label, opened in this browser).
    labels: RwSignal<HashMap<B256, RecordLabel>>,
    opened: RwSignal<Option<OpenedView>>,
    note: RwSignal<Option<Note>>,
    opted_in: RwSignal<bool>,
    /// The two upload forms' progress and resumable uploads, and the entry being typed: kept by
    /// the page rather than the form, so leaving the Add page mid-upload or mid-entry loses nothing.
    file_upload: UploadRun,
    entry_upload: UploadRun,
    entry: RwSignal<StructuredEntry>,
}

fn me(state: AppState) -> Result<Identity, String> {
    state.identity().ok_or_else(|| "sign in first".to_string())
}

/// Loads the directory of verified practitioners and insurers; without it the views fall back
/// to short addresses.
async fn load_directory(state: AppState, ctx: PatientCtx) {
    if let Ok(people) = escrow::people(me(state).ok().map(|m| m.account)).await {
        ctx.people.set(people);
    }
}

/// "your History record “Asthma”", or "a record of yours" for one the list does not hold.
fn record_phrase(ctx: PatientCtx, id: &B256) -> String {
    let title = ctx.labels.with(|l| l.get(id).map(|l| l.title.clone()));
    ctx.records.with(|list| {
        list.iter()
            .find(|r| r.record_id == *id)
            .map(|r| people::record_phrase(&category_name(r.category), title.as_deref()))
            .unwrap_or_else(|| "a record of yours".into())
    })
}

async fn reload_records(state: AppState, ctx: PatientCtx) {
    // Someone verified since the page opened gets their name at the next refresh.
    load_directory(state, ctx).await;
    if let Ok(me) = me(state) {
        match escrow::records(me.account).await {
            Ok(list) => {
                ctx.labels.set(records::labels_of(&me, &list));
                ctx.records.set(list);
            }
            Err(e) => ctx.note.set(Some(Note::Failed(e.to_string()))),
        }
    }
}

/// The patient's current grantees whose grant covers `category`, with their registered keys.
async fn readers_for(me: &Identity, category: u8) -> Result<Vec<(Address, PublicKey)>, String> {
    Ok(
        super::claims::grantees_for(&me.contract, me.account, category)
            .await?
            .into_iter()
            .map(|(a, k, _)| (a, k))
            .collect(),
    )
}

/// The escrow's break-glass key, when the patient opted in to emergency access.
fn break_glass(state: AppState, opted_in: bool) -> Option<(Address, PublicKey)> {
    if !opted_in {
        return None;
    }
    state.config.with_untracked(|c| {
        let c = c.as_ref()?;
        let reader = c.break_glass_reader?;
        let key = alloy_primitives::hex::decode(c.break_glass_key.as_deref()?).ok()?;
        let key: [u8; 32] = key.try_into().ok()?;
        Some((reader, PublicKey(key)))
    })
}

/// Shares keys with grantees who cannot open records yet; quiet when there is nothing to do.
async fn share_missing_keys(state: AppState, ctx: PatientCtx) {
    let Ok(me) = me(state) else { return };
    match records::fill_missing_wraps(&me).await {
        Ok(0) => {}
        Ok(n) => ctx.note.set(Some(Note::Done(format!(
            "Shared {n} record key(s) with the people you granted access."
        )))),
        Err(e) => ctx.note.set(Some(Note::Failed(format!(
            "Could not share keys with your grantees yet: {e}"
        )))),
    }
}

/// The patient's home.
#[component]
pub fn PatientPage() -> impl IntoView {
    let state = app_state();
    let opted_in = state
        .signed_in
        .with_untracked(|s| s.as_ref().map(|s| s.on_chain.emergency_opt_in))
        .unwrap_or(false);
    let ctx = PatientCtx {
        records: RwSignal::new(Vec::new()),
        people: RwSignal::new(Directory::default()),
        labels: RwSignal::new(HashMap::new()),
        opened: RwSignal::new(None),
        note: RwSignal::new(None),
        opted_in: RwSignal::new(opted_in),
        file_upload: UploadRun::new(),
        entry_upload: UploadRun::new(),
        entry: RwSignal::new(StructuredEntry::new()),
    };
    let page = current_page(Audience::Patient);
    spawn_local(async move {
        reload_records(state, ctx).await;
        share_missing_keys(state, ctx).await;
    });
    view! {
        <div class="page" data-testid="patient-page">
            <PageNav audience=Audience::Patient current=page/>
            <NoteView note=ctx.note/>
            {move || match page.get() {
                Page::Add => view! { <UploadSection ctx/><EntrySection ctx/> }.into_any(),
                Page::Sharing => view! { <SharingSection ctx/> }.into_any(),
                Page::Log => view! { <AccessLogSection ctx/> }.into_any(),
                Page::Claims => view! { <PatientClaims/> }.into_any(),
                Page::Emergency => view! { <EmergencySection ctx/> }.into_any(),
                Page::Account => view! { <EraseAllSection ctx/> }.into_any(),
                // Records, and nothing else: `resolve` gives a patient only the patient's pages.
                _ => view! { <RecordsSection ctx/> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn RecordsSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let confirm_erase = RwSignal::new(None::<B256>);
    let open = move |r: RecordSummary| {
        run(busy, note, async move {
            let me = me(state)?;
            let opened = records::open(&me, r.record_id, r.patient)
                .await
                .map_err(|e| e.to_string())?;
            ctx.opened.set(Some(OpenedView::from_record(
                format::short_id(r.record_id.as_slice()),
                &opened,
            )));
            Ok("Opened and verified.".into())
        })
    };
    let erase = move |id: B256| {
        run(busy, note, async move {
            let me = me(state)?;
            me.contract
                .send(
                    me.account,
                    MedLedger::eraseRecordCall { recordId: id },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            confirm_erase.set(None);
            // The escrow destroys the keys when its follower sees the erasure; show it once done.
            for _ in 0..40 {
                reload_records(state, ctx).await;
                // The escrow stops listing a record once it destroyed its keys.
                if ctx.records.with_untracked(|l| {
                    !l.iter().any(|r| r.record_id == id && r.state != "shredded")
                }) {
                    break;
                }
                super::super::wallet::sleep_ms(500).await;
            }
            Ok(
                "Erased: the record's keys are destroyed; nobody, you included, can open it again."
                    .into(),
            )
        })
    };
    view! {
        <section id="records" aria-labelledby="records-h">
            <h2 id="records-h">"Your records"</h2>
            <button on:click=move |_| spawn_local(reload_records(state, ctx))>"Refresh"</button>
            <table class="cards" data-testid="records">
                <thead><tr><th>"Record"</th><th>"Category"</th><th>"Author"</th><th>"Added"</th><th>"Size"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    <For each=move || ctx.records.get() key=|r| (r.record_id, r.state.clone()) let:r>
                        {
                            let author = {
                                let who = r.author;
                                move || ctx.people.with(|d| d.who(&who))
                            };
                            let shredded = r.state == "shredded";
                            let status = match r.state.as_str() {
                                "committed" => "on chain",
                                "pending" => "waiting for the chain",
                                "shredded" => "erased",
                                other => other,
                            }.to_string();
                            let id = r.record_id;
                            let r2 = r.clone();
                            view! {
                                <tr data-record=id.to_string() data-state=r.state.clone()>
                                    <RecordTitle labels=ctx.labels id category=r.category/>
                                    <td data-label="Category">{category_name(r.category)}</td>
                                    <td data-label="Author" title=r.author.to_checksum(None)>{author}</td>
                                    <td data-label="Added">{format::datetime(r.created)}</td>
                                    <td data-label="Size">{format::size(r.size)}</td>
                                    <td data-label="Status">{status}</td>
                                    <td class="actions">
                                        <Show when=move || !shredded>
                                            <button on:click={let r = r2.clone(); move |_| open(r.clone())} disabled=move || busy.get()>"Open"</button>
                                            " "
                                            <button class="danger" on:click=move |_| confirm_erase.set(Some(id))>"Erase…"</button>
                                        </Show>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
            {move || ctx.records.with(|l| l.is_empty()).then(|| view! { <p>"No records yet."</p> })}
            {move || confirm_erase.get().map(|id| view! {
                <div class="confirm" role="alertdialog" aria-label="confirm erasure">
                    <p>"Erase record " {format::short_id(id.as_slice())} "? Erasure destroys the record's keys at the escrow: from the next block nobody — you, your doctors, the operator, anyone holding a backup — can open it again. The chain keeps only the fact that a record existed and was erased. This cannot be undone."</p>
                    <button class="danger" on:click=move |_| erase(id) disabled=move || busy.get() data-testid="confirm-erase">"Erase for good"</button>
                    " "
                    <button on:click=move |_| confirm_erase.set(None)>"Keep it"</button>
                </div>
            })}
            <NoteView note/>
            <OpenedPanel opened=ctx.opened/>
        </section>
    }
}

/// A prepared upload kept for a retry, and the signals of its progress.
#[derive(Clone, Copy)]
struct UploadRun {
    busy: RwSignal<bool>,
    stage: RwSignal<String>,
    fraction: RwSignal<f64>,
    /// The upload a failed step left to resume.
    pending: RwSignal<Option<Prepared>, LocalStorage>,
    note: RwSignal<Option<Note>>,
}

impl UploadRun {
    fn new() -> Self {
        Self {
            busy: RwSignal::new(false),
            stage: RwSignal::new(String::new()),
            fraction: RwSignal::new(0.0),
            pending: RwSignal::new_local(None),
            note: RwSignal::new(None),
        }
    }

    fn progress(self) -> Rc<dyn Fn(Stage)> {
        Rc::new(move |s: Stage| match s {
            Stage::Encrypting(f) => {
                self.stage.set("Encrypting in your browser".into());
                self.fraction.set(f);
            }
            Stage::Uploading(f) => {
                self.stage.set("Uploading the ciphertext".into());
                self.fraction.set(f);
            }
            Stage::Anchoring => {
                self.stage
                    .set("Anchoring on chain: confirm in your wallet".into());
                self.fraction.set(1.0);
            }
        })
    }

    /// Finishes (or resumes) the kept upload.
    async fn finish(self, state: AppState, ctx: PatientCtx) -> Result<String, String> {
        let me = me(state)?;
        let Some(mut prepared) = self.pending.get_untracked() else {
            return Err("nothing to resume".into());
        };
        let result = records::store(&me, &mut prepared, self.progress()).await;
        if result.is_ok() {
            self.pending.set(None);
        } else {
            self.pending.set(Some(prepared));
            self.stage.set(String::new());
        }
        result.map_err(|e| format!("{e} — press Retry to continue from where it stopped."))?;
        self.stage.set(String::new());
        reload_records(state, ctx).await;
        Ok("Stored: encrypted, uploaded and anchored on chain.".into())
    }
}

#[component]
fn UploadView(up: UploadRun) -> impl IntoView {
    let state = app_state();
    view! {
        <Show when=move || !up.stage.get().is_empty()>
            <ProgressView label=Signal::derive(move || up.stage.get()) fraction=Signal::derive(move || up.fraction.get())/>
        </Show>
        <Show when=move || up.pending.with(Option::is_some) && !up.busy.get()>
            <button data-testid="retry" on:click=move |_| {
                let ctx = expect_context::<PatientCtx>();
                run(up.busy, up.note, up.finish(state, ctx))
            }>"Retry"</button>
        </Show>
        <NoteView note=up.note/>
    }
}

#[component]
fn UploadSection(ctx: PatientCtx) -> impl IntoView {
    provide_context(ctx);
    let state = app_state();
    let category = RwSignal::new(Category::General.number());
    let file_input = NodeRef::<leptos::html::Input>::new();
    let up = ctx.file_upload;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let file = file_input
            .get()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0));
        run(up.busy, up.note, async move {
            let me = me(state)?;
            let file = file.ok_or("Choose a file first.")?;
            let category = category.get_untracked();
            let readers = readers_for(&me, category).await?;
            let progress = up.progress();
            let prepared = records::prepare(
                &me,
                me.account,
                category,
                B256::ZERO,
                Content::File(file),
                &readers,
                break_glass(state, ctx.opted_in.get_untracked()),
                &*progress,
            )
            .await
            .map_err(|e| e.to_string())?;
            up.pending.set(Some(prepared));
            up.finish(state, ctx).await
        })
    };
    view! {
        <section id="add" aria-labelledby="add-h">
            <h2 id="add-h">"Add a file"</h2>
            <p>"Any size. It is encrypted in this browser before it leaves; the escrow stores only ciphertext."</p>
            <form on:submit=submit>
                <label class="field">"File" <input type="file" node_ref=file_input data-testid="file-input"/></label>
                <CategorySelect value=category label="Category"/>
                <button type="submit" disabled=move || up.busy.get() data-testid="upload">"Encrypt and upload"</button>
            </form>
            <UploadView up/>
        </section>
    }
}

#[component]
fn EntrySection(ctx: PatientCtx) -> impl IntoView {
    provide_context(ctx);
    let state = app_state();
    let entry = ctx.entry;
    let category = RwSignal::new(Category::History.number());
    let up = ctx.entry_upload;
    let weight_unit = RwSignal::new(WeightUnit::Kg);
    let height_unit = RwSignal::new(HeightUnit::Cm);
    let field = move |label: &'static str,
                      kind: &'static str,
                      get: fn(&StructuredEntry) -> String,
                      set: fn(&mut StructuredEntry, String)| {
        view! {
            <label class="field">{label}
                <input type=kind prop:value=move || entry.with(get)
                    on:input=move |ev| { let v = event_target_value(&ev); entry.update(|e| set(e, v)); }/>
            </label>
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(up.busy, up.note, async move {
            let me = me(state)?;
            let mut e = entry.get_untracked();
            let check = |e: EntryError| format!("Check the entry: {e}.");
            e.weight_kg = weight_in_kg(&e.weight_kg, weight_unit.get_untracked()).map_err(check)?;
            e.height_cm = height_in_cm(&e.height_cm, height_unit.get_untracked()).map_err(check)?;
            let today = format::date((js_sys::Date::now() / 1000.0) as u64);
            e.validate(&today)
                .map_err(|e| format!("Check the entry: {e}."))?;
            let category = category.get_untracked();
            let readers = readers_for(&me, category).await?;
            let progress = up.progress();
            let content = Content::Bytes {
                data: e.to_bytes(),
                media_type: MEDIA_TYPE.into(),
                file_name: format!("entry-{today}.json"),
                kind: RecordKind::Structured,
            };
            let prepared = records::prepare(
                &me,
                me.account,
                category,
                B256::ZERO,
                content,
                &readers,
                break_glass(state, ctx.opted_in.get_untracked()),
                &*progress,
            )
            .await
            .map_err(|e| e.to_string())?;
            up.pending.set(Some(prepared));
            let done = up.finish(state, ctx).await?;
            entry.set(StructuredEntry::new());
            Ok(done)
        })
    };
    view! {
        <section id="entry" aria-labelledby="entry-h">
            <h2 id="entry-h">"Add a structured entry"</h2>
            <form on:submit=submit class="grid" data-testid="entry-form">
                <p class="wide hint">"Only the name is required (marked *); fill in what you know."</p>
                <label class="field">"Name *"
                    <input type="text" required aria-required="true" prop:value=move || entry.with(|e| e.name.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); entry.update(|e| e.name = v); }/>
                </label>
                {field("Birth date", "date", |e| e.birth_date.clone(), |e, v| e.birth_date = v)}
                {field("Phone", "tel", |e| e.phone.clone(), |e, v| e.phone = v)}
                {field("Address", "text", |e| e.address.clone(), |e, v| e.address = v)}
                <div class="field measure">
                    {field("Weight", "text", |e| e.weight_kg.clone(), |e, v| e.weight_kg = v)}
                    <label>"Weight unit"
                        <select on:change=move |ev| weight_unit.set(if event_target_value(&ev) == "lb" { WeightUnit::Lb } else { WeightUnit::Kg })>
                            <option value="kg">"kg"</option><option value="lb">"lb"</option>
                        </select>
                    </label>
                </div>
                <div class="field measure">
                    {field("Height", "text", |e| e.height_cm.clone(), |e, v| e.height_cm = v)}
                    <label>"Height unit"
                        <select on:change=move |ev| height_unit.set(if event_target_value(&ev) == "ft" { HeightUnit::FeetInches } else { HeightUnit::Cm })>
                            <option value="cm">"cm"</option><option value="ft">"ft and in (5'7\")"</option>
                        </select>
                    </label>
                </div>
                <label class="field">"Blood group"
                    // The select's value is bound as a property: Firefox keeps a user's choice over
                    // a changed `selected` attribute, so a reset form would show the old group.
                    <select prop:value=move || entry.with(|e| e.blood_group.clone()) on:change=move |ev| { let v = event_target_value(&ev); entry.update(|e| e.blood_group = v); } data-testid="blood-group">
                        {BLOOD_GROUPS.iter().map(|g| view! { <option value=*g>{if g.is_empty() { "—" } else { g }}</option> }).collect_view()}
                    </select>
                </label>
                {field("Condition", "text", |e| e.condition.clone(), |e, v| e.condition = v)}
                {field("Since (a year, a month like 2019-06, or a date)", "text", |e| e.since.clone(), |e, v| e.since = v)}
                <label class="field wide">"Description"
                    <textarea prop:value=move || entry.with(|e| e.description.clone())
                        on:input=move |ev| { let v = event_target_value(&ev); entry.update(|e| e.description = v); }></textarea>
                </label>
                <CategorySelect value=category label="Category"/>
                <button type="submit" disabled=move || up.busy.get() data-testid="save-entry">"Encrypt and save"</button>
            </form>
            <UploadView up/>
        </section>
    }
}

/// One grant as the chain holds it.
#[derive(Clone, PartialEq)]
struct GrantRow {
    grantee: Address,
    categories: Vec<u8>,
    can_write: bool,
    expiry: u64,
}

#[component]
fn SharingSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let grants = RwSignal::new(Vec::<GrantRow>::new());
    let grantee = RwSignal::new(String::new());
    let categories = RwSignal::new(vec![Category::General.number()]);
    let can_write = RwSignal::new(false);
    let expiry = RwSignal::new(String::new());
    let load = move || async move {
        // People verified since the page opened are offered at the next refresh.
        load_directory(state, ctx).await;
        let Ok(me) = me(state) else { return };
        if let Ok(g) = me
            .contract
            .view(MedLedger::activeGrantsCall {
                patient: me.account,
            })
            .await
        {
            grants.set(
                g.grantees
                    .iter()
                    .zip(g.grants.iter())
                    .map(|(a, g)| GrantRow {
                        grantee: *a,
                        categories: Category::from_mask(g.categories)
                            .iter()
                            .map(|c| c.number())
                            .collect(),
                        can_write: g.canWrite,
                        expiry: g.expiry,
                    })
                    .collect(),
            );
        }
    };
    spawn_local(load());
    // The categories offered first are those the patient has records in, until they choose.
    let offered = RwSignal::new(categories.get_untracked());
    Effect::new(move |_| {
        let present = ctx.records.with(|list| {
            let mut cats: Vec<u8> = list
                .iter()
                .filter(|r| r.state != "shredded")
                .map(|r| r.category)
                .collect();
            cats.sort_unstable();
            cats.dedup();
            cats
        });
        if !present.is_empty() && categories.get_untracked() == offered.get_untracked() {
            categories.set(present.clone());
            offered.set(present);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me = me(state)?;
            let who: Address = grantee.get_untracked().trim().parse().map_err(|_| {
                "The grantee must be an account address (0x… 40 hex digits).".to_string()
            })?;
            let cats = categories.get_untracked();
            if cats.is_empty() {
                return Err("Choose at least one category.".into());
            }
            let mask = Category::mask(cats.iter().filter_map(|n| Category::from_number(*n)));
            let expiry_text = expiry.get_untracked();
            // The contract has no "never": a grant without an end lasts until the last second a
            // uint64 can name, which the views show as "never".
            let until = if expiry_text.is_empty() {
                u64::MAX
            } else {
                format::end_of_day(&expiry_text).ok_or("The expiry must be a date.")?
            };
            me.contract
                .send(
                    me.account,
                    MedLedger::grantCall {
                        grantee: who,
                        categories: mask,
                        allowWrite: can_write.get_untracked(),
                        expiry: until,
                    },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            load().await;
            // The escrow asks the chain (activeGrants) which wraps are missing, so the grant
            // just mined is seen at once: one pass shares the keys of the records in scope.
            let shared = records::fill_missing_wraps(&me)
                .await
                .map_err(|e| format!("Access granted, but sharing the record keys failed: {e}. They are shared at your next visit."))?;
            grantee.set(String::new());
            Ok(format!("Access granted; {shared} record key(s) shared."))
        })
    };
    let revoke = move |who: Address| {
        run(busy, note, async move {
            let me = me(state)?;
            me.contract
                .send(
                    me.account,
                    MedLedger::revokeCall { grantee: who },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            load().await;
            Ok("Revoked: from the next block the escrow releases nothing more to them.".into())
        })
    };
    let choices = move || {
        ctx.people.with(|d| {
            let mut people: Vec<(Address, String)> =
                d.listed().map(|(a, _)| (*a, d.who(a))).collect();
            people.sort_by(|x, y| x.1.cmp(&y.1));
            people
        })
    };
    view! {
        <section id="sharing" aria-labelledby="sharing-h">
            <h2 id="sharing-h">"Sharing"</h2>
            <button on:click=move |_| spawn_local(load()) data-testid="refresh-sharing">"Refresh"</button>
            <form on:submit=submit data-testid="grant-form">
                <label class="field">"Share with (verified practitioners and insurers)"
                    <select on:change=move |ev| grantee.set(event_target_value(&ev)) prop:value=move || grantee.get() data-testid="grantee-pick">
                        <option value="">"Choose a person…"</option>
                        <For each=choices key=|(a, _)| *a let:p>
                            <option value=p.0.to_checksum(None)>{p.1}</option>
                        </For>
                    </select>
                </label>
                <label class="field">"…or their account address, if they are not listed"
                    <input type="text" placeholder="0x…" prop:value=move || grantee.get() on:input=move |ev| grantee.set(event_target_value(&ev)) data-testid="grantee"/>
                </label>
                <CategoryChecks selected=categories legend="Categories they may read"/>
                <label><input type="checkbox" prop:checked=move || can_write.get() on:change=move |ev| can_write.set(event_target_checked(&ev)) data-testid="allow-write"/>"They may also add records in these categories"</label>
                <label class="field">"Expires (optional)" <input type="date" prop:value=move || expiry.get() on:input=move |ev| expiry.set(event_target_value(&ev))/></label>
                <button type="submit" disabled=move || busy.get() data-testid="grant">"Grant access"</button>
            </form>
            <NoteView note/>
            <table class="cards" data-testid="grants">
                <thead><tr><th>"Who"</th><th>"Categories"</th><th>"Write"</th><th>"Expires"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || grants.get() key=|g| (g.grantee, g.categories.clone(), g.can_write, g.expiry) let:g>
                        <tr data-grantee=g.grantee.to_checksum(None)>
                            <td class="card-title" title=g.grantee.to_checksum(None)>{let who = g.grantee; move || ctx.people.with(|d| d.who(&who))}</td>
                            <td data-label="Categories">{g.categories.iter().map(|c| category_name(*c)).collect::<Vec<_>>().join(", ")}</td>
                            <td data-label="May add records">{if g.can_write { "yes" } else { "no" }}</td>
                            <td data-label="Expires">{format::expiry(g.expiry)}</td>
                            <td class="actions"><button on:click={let who = g.grantee; move |_| revoke(who)} disabled=move || busy.get() data-testid="revoke">"Revoke"</button></td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </section>
    }
}

/// An access-log entry and what the chain said of it.
#[derive(Clone, PartialEq)]
struct LogRow {
    entry: LogEntry,
    verified: Option<bool>,
}

/// What the patient is told of entries the escrow lost in a restore.
fn gaps_notice(gaps: &[escrow::LogGap]) -> String {
    gaps.iter()
        .map(|g| {
            format!(
                " On {} the escrow said it had lost log entries {} to {} in a restore from a backup: any of them about your records cannot be shown or verified.",
                format::datetime(g.declared_at),
                g.first_seq,
                g.last_seq
            )
        })
        .collect()
}

#[component]
fn AccessLogSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let rows = RwSignal::new(Vec::<LogRow>::new());
    let load = move || {
        run(busy, note, async move {
            let me = me(state)?;
            let escrow::AccessLog { entries, gaps } =
                escrow::access_log().await.map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(entries.len());
            let (mut ok, mut anchored) = (0, 0);
            for entry in entries {
                let verified = match (&entry.anchor, &entry.proof) {
                    (Some(anchor), Some(proof)) => {
                        anchored += 1;
                        let v = me
                            .contract
                            .view(MedLedger::verifyLogEntryCall {
                                anchorIndex: U256::from(anchor.index),
                                seq: entry.seq,
                                entryHash: entry.entry_hash,
                                proof: proof.clone(),
                            })
                            .await
                            .unwrap_or(false);
                        if v {
                            ok += 1;
                        }
                        Some(v)
                    }
                    _ => None,
                };
                out.push(LogRow { entry, verified });
            }
            out.reverse();
            rows.set(out);
            Ok(format!(
                "{ok} of {anchored} anchored entries verified on chain.{}",
                gaps_notice(&gaps)
            ))
        })
    };
    load();
    view! {
        <section id="log" aria-labelledby="log-h">
            <h2 id="log-h">"Who accessed your records"</h2>
            <button on:click=move |_| load() disabled=move || busy.get() data-testid="load-log">"Refresh and verify"</button>
            <NoteView note/>
            <table class="cards" data-testid="access-log">
                <thead><tr><th>"When"</th><th>"What happened"</th><th>"On chain"</th></tr></thead>
                <tbody>
                    <For each=move || rows.get() key=|r| (r.entry.seq, r.verified) let:r>
                        {
                            let flagged = r.entry.score_milli >= 500;
                            // Names and categories may arrive after the log: the sentence follows them.
                            let (action, granted, reason) = (r.entry.action.clone(), r.entry.granted, r.entry.reason.clone());
                            let (actor, record) = (r.entry.actor, r.entry.record_id);
                            let sentence = move || {
                                let (who, reader) = ctx.people.with(|d| (d.who(&actor), reader_of(&reason).map(|a| d.who(&a))));
                                let facts = LogFacts { action: &action, granted, reason: &reason, reader: reader.as_deref() };
                                log_sentence(facts, &who, &record_phrase(ctx, &record))
                            };
                            let chain = match (r.verified, r.entry.anchor.is_some()) {
                                (Some(true), _) => "verified ✓",
                                (Some(false), _) => "NOT verified ✗",
                                (None, true) => "anchored; not provable (entries lost in a restore)",
                                (None, false) => "not anchored yet",
                            };
                            view! {
                                <tr class:flagged=flagged data-action=r.entry.action.clone() data-granted=r.entry.granted.to_string() data-verified=format!("{:?}", r.verified) data-actor=r.entry.actor.to_checksum(None)>
                                    <td data-label="When">{format::datetime(r.entry.at)}</td>
                                    <td class="words" title=format!("{} · record {}", r.entry.actor.to_checksum(None), r.entry.record_id)>{flagged.then_some("⚑ Unusual: ")}{sentence}</td>
                                    <td data-label="On chain" data-testid="log-chain">{chain}</td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn EmergencySection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let toggle = move |_| {
        run(busy, note, async move {
            let me = me(state)?;
            let on = !ctx.opted_in.get_untracked();
            me.contract
                .send(
                    me.account,
                    MedLedger::setEmergencyOptInCall { optedIn: on },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            ctx.opted_in.set(on);
            if on {
                // Records stored before opting in get their break-glass wrap now.
                let ids: Vec<B256> = ctx.records.with_untracked(|l| {
                    l.iter()
                        .filter(|r| r.state != "shredded")
                        .map(|r| r.record_id)
                        .collect()
                });
                let prepared = match break_glass(state, true) {
                    Some(bg) if !ids.is_empty() => records::add_break_glass_wraps(&me, bg, &ids)
                        .await
                        .map_err(|e| format!("Emergency access is on, but preparing your existing records failed: {e}. Turn it off and on again to retry."))?,
                    _ => 0,
                };
                return Ok(format!(
                    "Emergency access is on: {prepared} existing record(s) and every record you add from now on."
                ));
            }
            Ok("Emergency access is off; every window opened before is closed.".into())
        })
    };
    view! {
        <section id="emergency" aria-labelledby="emergency-h">
            <h2 id="emergency-h">"Emergency access"</h2>
            <p>"When it is on, a verified practitioner who declares an emergency (with a reason, on chain) can read your records for a short window without your grant — useful if you are unconscious in a hospital. The trade-off: you rely on the escrow to release only inside that window, and you see every such access in your log afterwards, flagged. Records you add while it is on are prepared for it."</p>
            <p data-testid="emergency-state">{move || if ctx.opted_in.get() { "Status: on" } else { "Status: off" }}</p>
            <button on:click=toggle disabled=move || busy.get() data-testid="emergency-toggle">
                {move || if ctx.opted_in.get() { "Turn emergency access off" } else { "Turn emergency access on" }}
            </button>
            <NoteView note/>
        </section>
    }
}

#[component]
fn EraseAllSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let typed = RwSignal::new(String::new());
    let erase_all = move |_| {
        run(busy, note, async move {
            if typed.get_untracked() != "ERASE" {
                return Err("Type ERASE to confirm.".into());
            }
            let me = me(state)?;
            me.contract
                .send(me.account, MedLedger::eraseAllCall {}, U256::ZERO)
                .await
                .map_err(|e| e.to_string())?;
            typed.set(String::new());
            super::super::wallet::sleep_ms(1500).await;
            reload_records(state, ctx).await;
            Ok(
                "Everything is erased: the escrow destroys every key it held for your records."
                    .into(),
            )
        })
    };
    view! {
        <section id="erase-all" aria-labelledby="erase-h">
            <h2 id="erase-h">"Erase everything"</h2>
            <p>"Erasing destroys the keys of all your records at the escrow. Ciphertext left anywhere — disks, backups — becomes noise, and nobody can open it again, you included. Your account and grants stay; you can add new records afterwards."</p>
            <label class="field">"Type ERASE to confirm" <input type="text" prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/></label>
            <button class="danger" on:click=erase_all disabled=move || busy.get() || typed.get() != "ERASE">"Erase all my records"</button>
            <NoteView note/>
        </section>
    }
}

/// Every claim about the patient, with its state, amount and payer.
#[component]
fn PatientClaims() -> impl IntoView {
    let note = RwSignal::new(None::<Note>);
    let claims = RwSignal::new(Vec::new());
    spawn_local(super::claims::load_claims(claims, note));
    view! {
        <section id="claims" aria-labelledby="pclaims-h">
            <h2 id="pclaims-h">"Insurance claims about you"</h2>
            <p>"An insurer sees a claim's document only while you grant it the Claims category; revoke it under Sharing to stop future claims."</p>
            <button on:click=move |_| spawn_local(super::claims::load_claims(claims, note))>"Refresh"</button>
            <super::claims::ClaimsTable claims/>
            <NoteView note/>
        </section>
    }
}
