//! The patient's pages (one per task, see [`crate::route`]): records (list, open, erase), adding
//! (files of any size, structured entries), sharing (grants with categories, write and expiry;
//! keys wrapped to new grantees without the patient thinking about it), the access log verified
//! against the chain, claims, emergency access, and the account (erasing everything). Above
//! each of them, the reads waiting for the patient's approval ([`super::holds`]).
//!
//! What the pages show is loaded through resources (the records, the grants, the log), read
//! under a `Transition`; what the patient does is an `Action` whose pending state disables its
//! buttons and whose outcome is the note under them. A change refetches what it changed.

use medledger_protocol::api::RecordState;
use std::rc::Rc;

use alloy_primitives::{Address, B256};
use leptos::prelude::*;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::envelope::RecordKind;
use medledger_protocol::label::RecordLabel;
use medledger_protocol::wrap::PublicKey;

use super::super::components::{
    category_name, failure_note, outcome_note, CategoryChecks, CategorySelect, Names, Note,
    NoteView, OpenedPanel, OpenedView, Outcome, ProgressView, ReasonList, RecordTitle, WhenLoaded,
};
use super::super::escrow::{LogEntry, RecordSummary};
use super::super::fhir;
use super::super::log::{self, VerifiedLog};
use super::super::nav::{current_page, PageNav};
use super::super::records::{self, Content, Identity, Listing, Prepared, Stage};
use super::super::state::{app_state, AppState};
use super::clinical::{ClinicalSummary, FhirExport, ImportNotes};
use super::holds::{self, HoldsResource, HoldsSection};
use crate::entry::{HeightUnit, StructuredEntry, WeightUnit, BLOOD_GROUPS, MEDIA_TYPE};
use crate::format;
use crate::people::{self, log_sentence, reader_of, LogFacts};
use crate::route::{Audience, Page};
use crate::sharing::{self, GrantRow, NewGrant};

/// The patient's records with their labels, as loaded for the page.
type Records = LocalResource<Result<Listing, String>>;

/// Page-wide state shared by the sections.
#[derive(Clone, Copy)]
struct PatientCtx {
    /// The patient's records (refetched after every change to them).
    records: Records,
    /// Names of verified practitioners and insurers (the escrow's directory).
    names: Names,
    opened: RwSignal<Option<OpenedView>>,
    opted_in: RwSignal<bool>,
    /// The two upload forms' progress, resumable uploads and actions, and the entry being typed:
    /// kept by the page rather than the form, so leaving the Add page mid-upload or mid-entry
    /// loses nothing.
    file_upload: UploadRun,
    entry_upload: UploadRun,
    fhir_upload: UploadRun,
    entry: RwSignal<StructuredEntry>,
    /// The reads held for the patient's approval (they also name the reader of a decision in
    /// the access log).
    holds: HoldsResource,
    /// Notified when the access log has new entries the page made (a decision on a hold): the
    /// log, when shown, loads again.
    log_changed: Trigger,
}

impl PatientCtx {
    /// Reads the loaded list, when there is one.
    fn listing<T>(self, f: impl FnOnce(&Listing) -> T) -> Option<T> {
        self.records
            .with(|r| r.as_ref().and_then(|r| r.as_ref().ok()).map(f))
    }

    /// What the listed record `id` is called, when its label opened.
    fn label(self, id: B256) -> Option<RecordLabel> {
        self.listing(|l| l.labels.get(&id).cloned()).flatten()
    }

    /// Loads the records again, and the directory with them: someone verified since the page
    /// opened gets their name at the next refresh.
    fn refresh(self) {
        self.names.refresh();
        self.records.refetch();
    }
}

fn me(state: AppState) -> Result<Identity, String> {
    state.identity().ok_or_else(|| "sign in first".to_string())
}

/// "your History record “Asthma”", or "a record of yours" for one the list does not hold.
fn record_phrase(ctx: PatientCtx, id: &B256) -> String {
    ctx.listing(|l| {
        l.records.iter().find(|r| r.record_id == *id).map(|r| {
            let title = l.labels.get(id).map(|l| l.title.as_str());
            people::record_phrase(&category_name(r.category), title)
        })
    })
    .flatten()
    .unwrap_or_else(|| "a record of yours".into())
}

/// The escrow's break-glass key, when the patient opted in to emergency access.
fn break_glass(state: AppState, opted_in: bool) -> Option<(Address, PublicKey)> {
    if !opted_in {
        return None;
    }
    state
        .config
        .with_untracked(|c| c.as_ref().and_then(|c| c.break_glass()))
}

/// Shares keys with grantees who cannot open records yet; says nothing when there was nothing
/// to share.
async fn share_missing_keys(state: AppState) -> Option<Outcome> {
    let me = me(state).ok()?;
    match records::fill_missing_wraps(&me).await {
        Ok(0) => None,
        Ok(n) => Some(Ok(format!(
            "Shared {n} record key(s) with the people you granted access."
        ))),
        Err(e) => Some(Err(format!(
            "Could not share keys with your grantees yet: {e}"
        ))),
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
    let records: Records = LocalResource::new(move || async move {
        let me = me(state)?;
        records::list(&me, me.account)
            .await
            .map_err(|e| e.to_string())
    });
    let (opted_in, entry) = (
        RwSignal::new(opted_in),
        RwSignal::new(StructuredEntry::new()),
    );
    let ctx = PatientCtx {
        records,
        names: Names::new(state.identity().map(|m| m.account)),
        opened: RwSignal::new(None),
        opted_in,
        file_upload: UploadRun::new(state, records, opted_in, None),
        entry_upload: UploadRun::new(state, records, opted_in, Some(entry)),
        fhir_upload: UploadRun::new(state, records, opted_in, None),
        entry,
        holds: holds::load_holds(),
        log_changed: Trigger::new(),
    };
    provide_context(ctx.names);
    // Keys owed to grantees are shared as soon as the patient is here.
    let share = Action::new_local(move |_: &()| share_missing_keys(state));
    share.dispatch_local(());
    let shared = share.value();
    let page = current_page(Audience::Patient);
    view! {
        <div class="page" data-testid="patient-page">
            <PageNav audience=Audience::Patient current=page/>
            <NoteView note=Signal::derive(move || shared.get().flatten().map(Note::from))/>
            <HoldsSection holds=ctx.holds names=ctx.names record=move |id| record_phrase(ctx, &id) on_decided=move || ctx.log_changed.notify()/>
            {move || match page.get() {
                Page::Add => view! { <UploadSection ctx/><EntrySection ctx/><FhirImportSection ctx/> }.into_any(),
                Page::Sharing => view! { <SharingSection ctx/> }.into_any(),
                Page::Log => view! { <AccessLogSection ctx/> }.into_any(),
                Page::Claims => view! { <PatientClaims/> }.into_any(),
                Page::Emergency => view! { <EmergencySection ctx/> }.into_any(),
                Page::Account => view! { <super::key::KeySection on_rotated=move || ctx.records.refetch()/><super::recovery::GuardiansSection/><super::recovery::HelpRecoverSection/><super::licence::HospitalsSection/><EraseAllSection ctx/> }.into_any(),
                // Records, and nothing else: `resolve` gives a patient only the patient's pages.
                _ => view! { <RecordsSection ctx/> }.into_any(),
            }}
        </div>
    }
}

/// What the patient does to a listed record.
#[derive(Clone)]
enum RecordStep {
    Open(RecordSummary),
    Erase(B256),
}

async fn open_record(state: AppState, ctx: PatientCtx, r: RecordSummary) -> Outcome {
    let me = me(state)?;
    let opened = records::open(&me, r.record_id, r.patient)
        .await
        .map_err(|e| e.to_string())?;
    ctx.opened.set(Some(OpenedView::from_record(
        format::short_id(r.record_id.as_slice()),
        &opened,
    )));
    Ok("Opened and verified.".into())
}

/// Erases record `id`, closes the confirmation once the chain took it, and waits for the
/// escrow to destroy the keys.
async fn erase_record(
    state: AppState,
    ctx: PatientCtx,
    id: B256,
    confirm: RwSignal<Option<B256>>,
) -> Outcome {
    let me = me(state)?;
    me.send(MedLedger::eraseRecordCall { recordId: id }).await?;
    confirm.set(None);
    // The escrow destroys the keys when its follower sees the erasure; say so once it has.
    records::await_erased(&me, me.account, id).await;
    ctx.records.refetch();
    Ok("Erased: the record's keys are destroyed; nobody, you included, can open it again.".into())
}

#[component]
fn RecordsSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let confirm_erase = RwSignal::new(None::<B256>);
    let act = Action::new_local(move |step: &RecordStep| {
        let step = step.clone();
        async move {
            match step {
                RecordStep::Open(r) => open_record(state, ctx, r).await,
                RecordStep::Erase(id) => erase_record(state, ctx, id, confirm_erase).await,
            }
        }
    });
    let busy = act.pending();
    let rows = move || ctx.listing(|l| l.records.clone()).unwrap_or_default();
    view! {
        {state.identity().map(|me| {
            let every = Category::ALL.iter().map(|c| c.number()).collect::<Vec<u8>>();
            view! {
                <ClinicalSummary patient=me.account categories=every/>
            }
        })}
        <section id="records" aria-labelledby="records-h">
            <h2 id="records-h">"Your records"</h2>
            <button on:click=move |_| ctx.refresh()>"Refresh"</button>
            <WhenLoaded>
                <table class="cards" data-testid="records">
                    <thead><tr><th>"Record"</th><th>"Category"</th><th>"Author"</th><th>"Added"</th><th>"Size"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                    <tbody>
                        <For each=rows key=|r| (r.record_id, r.state) let:r>
                            <RecordRow ctx r busy open=move |r| { act.dispatch_local(RecordStep::Open(r)); } erase=move |id| confirm_erase.set(Some(id))/>
                        </For>
                    </tbody>
                </table>
                {move || ctx.listing(|l| l.records.is_empty()).unwrap_or(false).then(|| view! { <p>"No records yet."</p> })}
                <NoteView note=failure_note(ctx.records)/>
            </WhenLoaded>
            {move || confirm_erase.get().map(|id| view! {
                <div class="confirm" role="alertdialog" aria-label="confirm erasure">
                    <p>"Erase record " {format::short_id(id.as_slice())} "? Erasure destroys the record's keys at the escrow: from the next block nobody — you, your doctors, the operator, anyone holding a backup — can open it again. The chain keeps only the fact that a record existed and was erased. This cannot be undone."</p>
                    <button class="danger" on:click=move |_| { act.dispatch_local(RecordStep::Erase(id)); } disabled=busy data-testid="confirm-erase">"Erase for good"</button>
                    " "
                    <button on:click=move |_| confirm_erase.set(None)>"Keep it"</button>
                </div>
            })}
            <NoteView note=outcome_note(act)/>
            <OpenedPanel opened=ctx.opened/>
        </section>
        {state.identity().map(|me| view! {
            <FhirExport patient=me.account/>
        })}
    }
}

/// One row of the patient's records.
#[component]
fn RecordRow(
    ctx: PatientCtx,
    r: RecordSummary,
    busy: Memo<bool>,
    open: impl Fn(RecordSummary) + Copy + Send + Sync + 'static,
    erase: impl Fn(B256) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (id, who) = (r.record_id, r.author);
    let shredded = r.state == RecordState::Shredded;
    let status = match r.state {
        RecordState::Committed => "on chain",
        RecordState::Pending => "waiting for the chain",
        RecordState::Shredded => "erased",
    };
    let row = r.clone();
    view! {
        <tr data-record=id.to_string() data-state=r.state.as_str()>
            <RecordTitle label=Signal::derive(move || ctx.label(id)) category=r.category/>
            <td data-label="Category">{category_name(r.category)}</td>
            <td data-label="Author" title=r.author.to_checksum(None)>{move || ctx.names.person(who)}</td>
            <td data-label="Added">{format::datetime(r.created)}</td>
            <td data-label="Size">{format::size(r.size)}</td>
            <td data-label="Status">{status}</td>
            <td class="actions">
                <Show when=move || !shredded>
                    <button on:click={let row = row.clone(); move |_| open(row.clone())} disabled=busy>"Open"</button>
                    " "
                    <button class="danger" on:click=move |_| erase(id)>"Erase…"</button>
                </Show>
            </td>
        </tr>
    }
}

/// What an upload form asks for.
#[derive(Clone)]
enum UploadRequest {
    /// New records, one per file, entry or FHIR resource, each with its category: what to store
    /// (or why the form does not make any) and how they are anchored. Several are anchored in
    /// one transaction.
    New(Result<Vec<(Content, u8)>, String>, Anchoring),
    /// Finishing the upload a failed step left.
    Resume,
}

/// How new records go on chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Anchoring {
    /// Each a record of its own (`addRecord(s)`): it can be amended and be a claim's document.
    EachRecord,
    /// All under one Merkle root (`anchorRecordRoot`): one signature and the same gas whatever
    /// their number, for a back catalogue brought in at once.
    BulkImport,
}

/// An upload's progress, and the prepared uploads a failed step left to resume.
#[derive(Clone, Copy)]
struct Upload {
    stage: RwSignal<String>,
    fraction: RwSignal<f64>,
    /// Whether the run stores several records: progress is then counted in records, not bytes.
    many: RwSignal<bool>,
    pending: RwSignal<Vec<Prepared>, LocalStorage>,
}

impl Upload {
    fn progress(self) -> Rc<dyn Fn(Stage)> {
        Rc::new(move |s: Stage| match s {
            Stage::Encrypting(_) | Stage::Uploading(_) if self.many.get_untracked() => {}
            Stage::Uploaded(done, total) => {
                self.stage
                    .set(format!("Uploaded {done} of {total} records"));
                self.fraction.set(done as f64 / total.max(1) as f64);
            }
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

    /// Prepares new records (kept for a retry), then finishes the kept uploads.
    async fn run(self, state: AppState, opted_in: bool, request: UploadRequest) -> Outcome {
        let me = me(state)?;
        if let UploadRequest::New(contents, anchoring) = request {
            let contents = contents?;
            let total = contents.len();
            self.many.set(total > 1);
            let glass = break_glass(state, opted_in);
            let prepared = if total == 1 {
                let (content, category) = contents.into_iter().next().ok_or("nothing to store")?;
                let progress = self.progress();
                let one = records::prepare(
                    &me,
                    me.account,
                    category,
                    B256::ZERO,
                    content,
                    glass,
                    &*progress,
                );
                one.await.map(|p| vec![p])
            } else {
                let counted = move |done: usize, total: usize| {
                    self.stage.set(format!(
                        "Encrypted {done} of {total} records in your browser"
                    ));
                    self.fraction.set(done as f64 / total as f64);
                };
                records::prepare_many(&me, me.account, contents, glass, &counted).await
            };
            let mut prepared = prepared.map_err(|e| {
                self.stage.set(String::new());
                e.to_string()
            })?;
            if anchoring == Anchoring::BulkImport {
                records::place_under_roots(&mut prepared).map_err(|e| e.to_string())?;
            }
            self.pending.set(prepared);
        }
        let mut prepared = self.pending.get_untracked();
        if prepared.is_empty() {
            return Err("nothing to resume".into());
        }
        let result = records::store_all(&me, &mut prepared, self.progress()).await;
        self.stage.set(String::new());
        match result {
            Ok(()) => {
                self.pending.set(Vec::new());
                Ok(stored_text(&prepared))
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

/// An upload form's action and the upload it works on.
#[derive(Clone, Copy)]
struct UploadRun {
    upload: Upload,
    action: Action<UploadRequest, Outcome>,
    busy: Memo<bool>,
}

impl UploadRun {
    /// The run of one form; a new record stored from it clears `form` when given.
    fn new(
        state: AppState,
        records: Records,
        opted_in: RwSignal<bool>,
        form: Option<RwSignal<StructuredEntry>>,
    ) -> Self {
        let upload = Upload {
            stage: RwSignal::new(String::new()),
            fraction: RwSignal::new(0.0),
            many: RwSignal::new(false),
            pending: RwSignal::new_local(Vec::new()),
        };
        let action = Action::new_local(move |request: &UploadRequest| {
            let request = request.clone();
            let new = matches!(request, UploadRequest::New(..));
            async move {
                let outcome = upload.run(state, opted_in.get_untracked(), request).await;
                if outcome.is_ok() {
                    records.refetch();
                    if let (true, Some(form)) = (new, form) {
                        form.set(StructuredEntry::new());
                    }
                }
                outcome
            }
        });
        Self {
            upload,
            action,
            busy: action.pending(),
        }
    }
}

#[component]
fn UploadView(up: UploadRun) -> impl IntoView {
    view! {
        <Show when=move || !up.upload.stage.get().is_empty()>
            <ProgressView label=Signal::derive(move || up.upload.stage.get()) fraction=Signal::derive(move || up.upload.fraction.get())/>
        </Show>
        <Show when=move || up.upload.pending.with(|p| !p.is_empty()) && !up.busy.get()>
            <button data-testid="retry" on:click=move |_| { up.action.dispatch_local(UploadRequest::Resume); }>"Retry"</button>
        </Show>
        <NoteView note=outcome_note(up.action)/>
    }
}

#[component]
fn UploadSection(ctx: PatientCtx) -> impl IntoView {
    let category = RwSignal::new(Category::General.number());
    let bulk = RwSignal::new(false);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let up = ctx.file_upload;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let files = chosen_files(file_input);
        let anchoring = if bulk.get_untracked() {
            Anchoring::BulkImport
        } else {
            Anchoring::EachRecord
        };
        let category = category.get_untracked();
        let files = files.map(|files| files.into_iter().map(|f| (f, category)).collect());
        up.action
            .dispatch_local(UploadRequest::New(files, anchoring));
    };
    view! {
        <section id="add" aria-labelledby="add-h">
            <h2 id="add-h">"Add files"</h2>
            <p>"Any size, one or several at once (each its own record, anchored together in one transaction). Each is encrypted in this browser before it leaves; the escrow stores only ciphertext."</p>
            <form on:submit=submit>
                <label class="field">"Files" <input type="file" multiple node_ref=file_input data-testid="file-input"/></label>
                <CategorySelect value=category label="Category"/>
                <label class="option"><input type="checkbox" prop:checked=move || bulk.get() on:change=move |ev| bulk.set(event_target_checked(&ev)) data-testid="bulk-import"/>"Bulk import: one signature for any number of files (these records cannot be amended later or sent with an insurance claim)"</label>
                <button type="submit" disabled=up.busy data-testid="upload">"Encrypt and upload"</button>
            </form>
            <UploadView up/>
        </section>
    }
}

/// The files picked in a file input, each a record's content; refused when none is.
fn chosen_files(input: NodeRef<leptos::html::Input>) -> Result<Vec<Content>, String> {
    let files = input.get().and_then(|i| i.files());
    let files: Vec<Content> = files
        .map(|list| {
            (0..list.length())
                .filter_map(|i| list.get(i))
                .map(Content::File)
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        return Err("Choose a file first.".into());
    }
    Ok(files)
}

/// Checks a FHIR file in this browser, shows what it holds, and imports its new resources as one
/// bulk import (each resource its own record in its category, one signature).
#[component]
fn FhirImportSection(ctx: PatientCtx) -> impl IntoView {
    let file_input = NodeRef::<leptos::html::Input>::new();
    let checked = RwSignal::new(None::<medledger_protocol::fhir::Import>);
    // What the checked file adds, when it has new resources and nothing to fix: computed against
    // the records as they are now (a list loaded before the last import would offer it again).
    let to_store = RwSignal::new_local(Vec::<(Content, u8)>::new());
    let check = Action::new_local(move |_: &()| async move {
        checked.set(None);
        to_store.set(Vec::new());
        let me = app_state().identity().ok_or("Sign in first.")?;
        let (import, stored) =
            fhir::check_picked(file_input.get_untracked(), &me, me.account).await?;
        let (new, already) = fhir::contents(&import, &stored);
        let text = crate::fhir::preview_text(&import, new.len(), already);
        let importable = import.importable() && !new.is_empty();
        checked.set(Some(import));
        if importable {
            to_store.set(new);
            Ok(text)
        } else {
            Err(text)
        }
    });
    let up = ctx.fhir_upload;
    let store = move |_| {
        // Once: a failure is finished with Retry, and a new check offers what is still missing.
        let contents = to_store.try_update(std::mem::take).unwrap_or_default();
        up.action
            .dispatch_local(UploadRequest::New(Ok(contents), Anchoring::BulkImport));
    };
    let ready = move || to_store.with(|c| !c.is_empty());
    let notes = move || checked.get().map(|i| view! { <ImportNotes import=i/> });
    view! {
        <section id="fhir-import" aria-labelledby="fhir-h">
            <h2 id="fhir-h">"Import FHIR"</h2>
            <p>"A FHIR R4 file from a hospital system or a patient-access app: a Bundle, one resource, or NDJSON from a bulk export. It is read in this browser; each resource becomes its own encrypted record in the category it belongs to (conditions under history, vital signs under vitals…). Importing the same file again adds only what is missing."</p>
            <label class="field">"FHIR file" <input type="file" accept=".json,.ndjson,application/fhir+json,application/json" node_ref=file_input data-testid="fhir-input" on:change=move |_| { checked.set(None); to_store.set(Vec::new()); }/></label>
            <button on:click=move |_| { check.dispatch_local(()); } disabled=check.pending() data-testid="fhir-check">"Check the file"</button>
            <NoteView note=outcome_note(check)/>
            {notes}
            <Show when=ready>
                <button on:click=store disabled=up.busy data-testid="fhir-import">"Encrypt and import"</button>
            </Show>
            <div data-testid="fhir-upload"><UploadView up/></div>
        </section>
    }
}

/// What the patient is told once records are stored.
fn stored_text(prepared: &[records::Prepared]) -> String {
    let count = prepared.len();
    let roots: std::collections::BTreeSet<_> = prepared
        .iter()
        .filter_map(|p| p.rooted.as_ref().map(|place| place.root))
        .collect();
    match roots.len() {
        0 => {}
        1 => return format!(
            "Imported {count} records: encrypted, uploaded and anchored on chain under one root, in one transaction."
        ),
        n => return format!(
            "Imported {count} records: encrypted, uploaded and anchored on chain under {n} roots, one transaction each."
        ),
    }
    if count == 1 {
        "Stored: encrypted, uploaded and anchored on chain.".into()
    } else {
        format!(
            "Stored {count} records: encrypted, uploaded and anchored on chain in one transaction."
        )
    }
}

/// A structured entry as a record's content.
fn entry_content(entry: &StructuredEntry, today: &str) -> Content {
    Content::Bytes {
        data: entry.to_bytes(),
        media_type: MEDIA_TYPE.into(),
        file_name: format!("entry-{today}.json"),
        kind: RecordKind::Structured,
    }
}

#[component]
fn EntrySection(ctx: PatientCtx) -> impl IntoView {
    let entry = ctx.entry;
    let category = RwSignal::new(Category::History.number());
    let up = ctx.entry_upload;
    let weight_unit = RwSignal::new(WeightUnit::Kg);
    let height_unit = RwSignal::new(HeightUnit::Cm);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let today = format::date((js_sys::Date::now() / 1000.0) as u64);
        let content = entry
            .get_untracked()
            .from_form(
                weight_unit.get_untracked(),
                height_unit.get_untracked(),
                &today,
            )
            .map(|e| vec![entry_content(&e, &today)])
            .map_err(|e| format!("Check the entry: {}.", format::clause(&e)));
        let category = category.get_untracked();
        let content = content.map(|c| c.into_iter().map(|c| (c, category)).collect());
        up.action
            .dispatch_local(UploadRequest::New(content, Anchoring::EachRecord));
    };
    view! {
        <section id="entry" aria-labelledby="entry-h">
            <h2 id="entry-h">"Add a structured entry"</h2>
            <form on:submit=submit class="grid" data-testid="entry-form">
                <p class="wide hint">"Only the name is required (marked *); fill in what you know."</p>
                <EntryFields entry weight_unit height_unit/>
                <CategorySelect value=category label="Category"/>
                <button type="submit" disabled=up.busy data-testid="save-entry">"Encrypt and save"</button>
            </form>
            <UploadView up/>
        </section>
    }
}

/// The entry form's fields.
#[component]
fn EntryFields(
    entry: RwSignal<StructuredEntry>,
    weight_unit: RwSignal<WeightUnit>,
    height_unit: RwSignal<HeightUnit>,
) -> impl IntoView {
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
    view! {
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
    }
}

/// What the patient does on the Sharing page.
#[derive(Clone)]
enum SharingStep {
    /// A grant from the form (or why the form does not make one).
    Grant(Result<NewGrant, String>),
    Revoke(Address),
}

type Grants = LocalResource<Result<Vec<GrantRow>, String>>;

async fn grant(state: AppState, grants: Grants, form: Result<NewGrant, String>) -> Outcome {
    let me = me(state)?;
    let g = form?;
    me.send(MedLedger::grantCall {
        grantee: g.grantee,
        categories: g.mask,
        allowWrite: g.can_write,
        expiry: g.expiry,
    })
    .await?;
    grants.refetch();
    // The escrow asks the chain (activeGrants) which wraps are missing, so the grant just mined
    // is seen at once: one pass shares the keys of the records in scope.
    let shared = records::fill_missing_wraps(&me)
        .await
        .map_err(|e| format!("Access granted, but sharing the record keys failed: {}. They are shared at your next visit.", format::clause(&e)))?;
    Ok(format!("Access granted; {shared} record key(s) shared."))
}

async fn revoke(state: AppState, grants: Grants, who: Address) -> Outcome {
    let me = me(state)?;
    me.send(MedLedger::revokeCall { grantee: who }).await?;
    grants.refetch();
    Ok("Revoked: from the next block the escrow releases nothing more to them.".into())
}

#[component]
fn SharingSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let grants: Grants = LocalResource::new(move || async move {
        let me = me(state)?;
        records::active_grants(&me.contract, me.account)
            .await
            .map_err(|e| e.to_string())
    });
    let grantee = RwSignal::new(String::new());
    let categories = RwSignal::new(vec![Category::General.number()]);
    let can_write = RwSignal::new(false);
    let expiry = RwSignal::new(String::new());
    offer_categories_in_use(ctx, categories);
    let act = Action::new_local(move |step: &SharingStep| {
        let step = step.clone();
        async move {
            match step {
                SharingStep::Grant(form) => {
                    let outcome = grant(state, grants, form).await;
                    if outcome.is_ok() {
                        grantee.set(String::new());
                    }
                    outcome
                }
                SharingStep::Revoke(who) => revoke(state, grants, who).await,
            }
        }
    });
    let busy = act.pending();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = NewGrant::from_form(
            &grantee.get_untracked(),
            &categories.get_untracked(),
            can_write.get_untracked(),
            &expiry.get_untracked(),
        )
        .map_err(|e| e.to_string());
        act.dispatch_local(SharingStep::Grant(form));
    };
    let names = ctx.names;
    view! {
        <section id="sharing" aria-labelledby="sharing-h">
            <h2 id="sharing-h">"Sharing"</h2>
            <button on:click=move |_| { names.refresh(); grants.refetch(); } data-testid="refresh-sharing">"Refresh"</button>
            <form on:submit=submit data-testid="grant-form">
                <label class="field">"Share with (verified practitioners and insurers)"
                    <select on:change=move |ev| grantee.set(event_target_value(&ev)) prop:value=move || grantee.get() data-testid="grantee-pick">
                        <option value="">"Choose a person…"</option>
                        <For each=move || names.listed() key=|(a, _)| *a let:p>
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
                <button type="submit" disabled=busy data-testid="grant">"Grant access"</button>
            </form>
            <NoteView note=outcome_note(act)/>
            <GrantsTable grants names busy revoke=move |who| { act.dispatch_local(SharingStep::Revoke(who)); }/>
        </section>
    }
}

/// Until the patient chooses, the sharing form offers the categories they have records in.
fn offer_categories_in_use(ctx: PatientCtx, categories: RwSignal<Vec<u8>>) {
    let offered = RwSignal::new(categories.get_untracked());
    Effect::new(move |_| {
        let present = ctx
            .listing(|l| {
                sharing::categories_in_use(
                    l.records
                        .iter()
                        .map(|r| (r.category, r.state == RecordState::Shredded)),
                )
            })
            .unwrap_or_default();
        if !present.is_empty() && categories.get_untracked() == offered.get_untracked() {
            categories.set(present.clone());
            offered.set(present);
        }
    });
}

/// The grants the patient holds out, each with its Revoke button.
#[component]
fn GrantsTable(
    grants: Grants,
    names: Names,
    busy: Memo<bool>,
    revoke: impl Fn(Address) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rows = move || {
        grants
            .with(|g| g.as_ref().and_then(|g| g.as_ref().ok()).cloned())
            .unwrap_or_default()
    };
    view! {
        <WhenLoaded>
            <table class="cards" data-testid="grants">
                <thead><tr><th>"Who"</th><th>"Categories"</th><th>"Write"</th><th>"Expires"</th><th></th></tr></thead>
                <tbody>
                    <For each=rows key=|g| (g.grantee, g.categories.clone(), g.can_write, g.expiry) let:g>
                        <tr data-grantee=g.grantee.to_checksum(None)>
                            <td class="card-title" title=g.grantee.to_checksum(None)>{let who = g.grantee; move || names.person(who)}</td>
                            <td data-label="Categories">{g.categories.iter().map(|c| category_name(*c)).collect::<Vec<_>>().join(", ")}</td>
                            <td data-label="May add records">{if g.can_write { "yes" } else { "no" }}</td>
                            <td data-label="Expires">{format::expiry(g.expiry)}</td>
                            <td class="actions"><button on:click={let who = g.grantee; move |_| revoke(who)} disabled=busy data-testid="revoke">"Revoke"</button></td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <NoteView note=failure_note(grants)/>
        </WhenLoaded>
    }
}

#[component]
fn AccessLogSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let log: LocalResource<Result<VerifiedLog, String>> = LocalResource::new(move || {
        ctx.log_changed.track();
        async move {
            let me = me(state)?;
            log::verified(&me).await
        }
    });
    // While the log reloads, its button waits and the last summary is not shown as the new one.
    let reloading = RwSignal::new(false);
    let summary = Signal::derive(move || {
        if reloading.get() {
            return None;
        }
        log.with(|loaded| {
            let outcome = loaded.as_ref()?;
            Some(Note::from(match outcome {
                Ok(l) => Ok(l.summary.clone()),
                Err(e) => Err(e.clone()),
            }))
        })
    });
    let rows = move || {
        log.with(|l| {
            l.as_ref()
                .and_then(|l| l.as_ref().ok())
                .map(|l| l.rows.clone())
        })
        .unwrap_or_default()
    };
    view! {
        <section id="log" aria-labelledby="log-h">
            <h2 id="log-h">"Who accessed your records"</h2>
            <button on:click=move |_| log.refetch() disabled=move || reloading.get() data-testid="load-log">"Refresh and verify"</button>
            <NoteView note=summary/>
            <WhenLoaded reloading>
                <table class="cards" data-testid="access-log">
                    <thead><tr><th>"When"</th><th>"What happened"</th><th>"On chain"</th></tr></thead>
                    <tbody>
                        <For each=rows key=|r| (r.entry.seq, r.verified) let:r>
                            <LogRowView ctx r/>
                        </For>
                    </tbody>
                </table>
            </WhenLoaded>
        </section>
    }
}

/// The reader an entry is about besides its actor: whom a key was given to (`add-wrap`), or whose
/// held read the patient decided (`hold-decision`); both entries name them as `reader:<address>`.
fn entry_reader(entry: &LogEntry) -> Option<Address> {
    reader_of(&entry.reason)
}

/// One access-log entry, in words; a flagged one with the reasons the risk model gave.
#[component]
fn LogRowView(ctx: PatientCtx, r: log::LogRow) -> impl IntoView {
    let flagged = r.entry.flagged;
    let reasons = if flagged {
        r.entry.reasons.clone()
    } else {
        Vec::new()
    };
    // Names, categories and holds may arrive after the log: the sentence follows them.
    let (action, granted, reason) = (
        r.entry.action.as_str(),
        r.entry.granted,
        r.entry.reason.clone(),
    );
    let (actor, record) = (r.entry.actor, r.entry.record_id);
    let entry = r.entry.clone();
    let sentence = move || {
        let who = ctx.names.person(actor);
        let reader = entry_reader(&entry).map(|a| ctx.names.person(a));
        let facts = LogFacts {
            action,
            granted,
            reason: &reason,
            reader: reader.as_deref(),
        };
        log_sentence(facts, &who, &record_phrase(ctx, &record))
    };
    let chain = match (r.verified, r.entry.anchor.is_some()) {
        (Some(true), _) => "verified ✓",
        (Some(false), _) => "NOT verified ✗",
        (None, true) => "anchored; not provable (entries lost in a restore)",
        (None, false) => "not anchored yet",
    };
    view! {
        <tr class:flagged=flagged data-flagged=flagged.to_string() data-action=r.entry.action.as_str() data-granted=r.entry.granted.to_string() data-verified=format!("{:?}", r.verified) data-actor=r.entry.actor.to_checksum(None)>
            <td data-label="When">{format::datetime(r.entry.at)}</td>
            <td class="words" title=format!("{} · record {}", r.entry.actor.to_checksum(None), r.entry.record_id)>{flagged.then_some("⚑ Unusual: ")}{sentence}<ReasonList reasons/></td>
            <td data-label="On chain" data-testid="log-chain">{chain}</td>
        </tr>
    }
}

/// Turns emergency access on or off; turning it on prepares the records stored before.
async fn toggle_emergency(state: AppState, ctx: PatientCtx) -> Outcome {
    let me = me(state)?;
    let on = !ctx.opted_in.get_untracked();
    me.send(MedLedger::setEmergencyOptInCall { optedIn: on })
        .await?;
    ctx.opted_in.set(on);
    if !on {
        return Ok("Emergency access is off; every window opened before is closed.".into());
    }
    // Records stored before opting in get their break-glass wrap now.
    let ids = ctx.listing(Listing::unerased_ids).unwrap_or_default();
    let prepared = match break_glass(state, true) {
        Some(bg) if !ids.is_empty() => records::add_break_glass_wraps(&me, bg, &ids)
            .await
            .map_err(|e| format!("Emergency access is on, but preparing your existing records failed: {}. Turn it off and on again to retry.", format::clause(&e)))?,
        _ => 0,
    };
    Ok(format!(
        "Emergency access is on: {prepared} existing record(s) and every record you add from now on."
    ))
}

#[component]
fn EmergencySection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let toggle = Action::new_local(move |_: &()| toggle_emergency(state, ctx));
    view! {
        <section id="emergency" aria-labelledby="emergency-h">
            <h2 id="emergency-h">"Emergency access"</h2>
            <p>"When it is on, a verified practitioner who declares an emergency (with a reason, on chain) can read your records for a short window without your grant — useful if you are unconscious in a hospital. The trade-off: you rely on the escrow to release only inside that window, and you see every such access in your log afterwards, flagged. Records you add while it is on are prepared for it."</p>
            <p data-testid="emergency-state">{move || if ctx.opted_in.get() { "Status: on" } else { "Status: off" }}</p>
            <button on:click=move |_| { toggle.dispatch_local(()); } disabled=toggle.pending() data-testid="emergency-toggle">
                {move || if ctx.opted_in.get() { "Turn emergency access off" } else { "Turn emergency access on" }}
            </button>
            <NoteView note=outcome_note(toggle)/>
        </section>
    }
}

#[component]
fn EraseAllSection(ctx: PatientCtx) -> impl IntoView {
    let state = app_state();
    let typed = RwSignal::new(String::new());
    let erase_all = Action::new_local(move |_: &()| async move {
        if typed.get_untracked() != "ERASE" {
            return Err("Type ERASE to confirm.".into());
        }
        let me = me(state)?;
        me.send(MedLedger::eraseAllCall {}).await?;
        typed.set(String::new());
        // The list shows the erasure once the escrow's follower has seen it and destroyed the keys.
        let shredded = records::await_all_erased(&me, me.account).await;
        ctx.records.refetch();
        Ok(if shredded {
            "Everything is erased: the escrow has destroyed every key it held for your records."
        } else {
            "Everything is erased on chain: the escrow destroys every key it held for your records as soon as it sees it (Refresh the list in a moment)."
        }
        .into())
    });
    let busy = erase_all.pending();
    view! {
        <section id="erase-all" aria-labelledby="erase-h">
            <h2 id="erase-h">"Erase everything"</h2>
            <p>"Erasing destroys the keys of all your records at the escrow. Ciphertext left anywhere — disks, backups — becomes noise, and nobody can open it again, you included. Your account and grants stay; you can add new records afterwards."</p>
            <label class="field">"Type ERASE to confirm" <input type="text" prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/></label>
            <button class="danger" on:click=move |_| { erase_all.dispatch_local(()); } disabled=move || busy.get() || typed.get() != "ERASE">"Erase all my records"</button>
            <NoteView note=outcome_note(erase_all)/>
        </section>
    }
}

/// Every claim about the patient, with its state, amount and payer.
#[component]
fn PatientClaims() -> impl IntoView {
    let claims = super::claims::claims_resource();
    view! {
        <section id="claims" aria-labelledby="pclaims-h">
            <h2 id="pclaims-h">"Insurance claims about you"</h2>
            <p>"An insurer sees a claim's document only while you grant it the Claims category; revoke it under Sharing to stop future claims."</p>
            <button on:click=move |_| claims.refetch()>"Refresh"</button>
            <super::claims::ClaimsTable claims/>
        </section>
    }
}
