//! Claims as each party sees them: the table of claims with their state, amount and payer (all
//! roles), the practitioner's claim form (a claim document encrypted as a Claims record, then
//! `submitClaim`, settled by the contract at once when it is inside the policy), and helpers the
//! insurer's page uses.

use std::rc::Rc;

use alloy_primitives::{Address, B256, U256};
use leptos::prelude::*;
use medledger_protocol::contract::{Category, MedLedgerInsurance};
use medledger_protocol::envelope::RecordKind;

use super::super::components::{
    category_name, failure_note, outcome_note, Names, NoteView, Outcome, ProgressView, WhenLoaded,
};
use super::super::escrow::{self, ClaimSummary};
use super::super::records::{self, Content, Identity, Prepared, Stage};
use super::super::state::{app_state, AppState};
use crate::claim::{pending_reason, ClaimDocument, LineInput, MEDIA_TYPE};
use crate::format;

/// The claims the signed-in party is practitioner, patient or insurer of, newest first.
pub type Claims = LocalResource<Result<Vec<ClaimSummary>, String>>;

/// Starts loading the caller's claims.
pub fn claims_resource() -> Claims {
    LocalResource::new(|| async {
        let mut list = escrow::claims().await.map_err(|e| e.to_string())?;
        list.reverse();
        Ok(list)
    })
}

/// The loaded claims (none while they load or when they failed to).
pub fn loaded(claims: Claims) -> Vec<ClaimSummary> {
    claims
        .with(|c| c.as_ref().and_then(|c| c.as_ref().ok()).cloned())
        .unwrap_or_default()
}

/// How a claim's state reads.
pub fn status_text(c: &ClaimSummary) -> String {
    let payout = c.payout.as_deref().and_then(|p| p.parse::<U256>().ok());
    crate::claim::status_text(c.status.as_str(), c.automatic, payout, c.pending_reason)
}

/// Wei (decimal string) → ETH text.
pub fn wei_text(wei: &str) -> String {
    wei.parse::<U256>().map(format::ether).unwrap_or_default()
}

/// The claims table; with `select`, a Review button per claim puts it there (the insurer's).
#[component]
pub fn ClaimsTable(
    claims: Claims,
    #[prop(optional)] select: Option<RwSignal<Option<ClaimSummary>>>,
) -> impl IntoView {
    let me = app_state().identity().map(|m| m.account);
    // The page's names when it has them (a practitioner's patients); else the directory alone.
    let names = use_context::<Names>().unwrap_or_else(|| Names::new(me));
    let patient = move |who: Address| {
        if Some(who) == me {
            "you".to_string()
        } else {
            names.patient(who)
        }
    };
    view! {
        <WhenLoaded>
            <table class="cards" data-testid="claims">
                <thead><tr><th>"Submitted"</th><th>"Patient"</th><th>"Practitioner"</th><th>"Insurer"</th><th>"Care"</th><th>"Amount"</th><th>"State"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || loaded(claims) key=|c| (c.claim_id, c.status) let:c>
                        <tr data-claim=c.claim_id.to_string() data-status=c.status.as_str()>
                            <td class="card-title">{format::datetime(c.submitted_at)}</td>
                            <td data-label="Patient" title=c.patient.to_checksum(None)>{let p = c.patient; move || patient(p)}</td>
                            <td data-label="Practitioner" title=c.practitioner.to_checksum(None)>{let p = c.practitioner; move || names.person(p)}</td>
                            <td data-label="Insurer" title=c.insurer.to_checksum(None)>{let p = c.insurer; move || names.person(p)}</td>
                            <td data-label="Care">{category_name(c.category)}</td>
                            <td data-label="Amount">{wei_text(&c.amount)}</td>
                            <td data-label="State" class="claim-state">{status_text(&c)}</td>
                            <td class="actions">{select.map(|sel| {
                                let c = c.clone();
                                view! { <button on:click=move |_| sel.set(Some(c.clone())) data-testid="review">"Review"</button> }
                            })}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            {move || claims.with(|c| matches!(c, Some(Ok(l)) if l.is_empty())).then(|| view! { <p>"No claims."</p> })}
            <NoteView note=failure_note(claims)/>
        </WhenLoaded>
    }
}

/// A claim on its way: the document record (kept for a retry) and the claim's id, total and
/// category of care.
#[derive(Clone)]
struct PendingClaim {
    prepared: Prepared,
    claim_id: B256,
    insurer: Address,
    amount: u128,
    care: u8,
}

/// The claim form as filled in when it was submitted.
#[derive(Clone)]
struct ClaimForm {
    insurer: Option<Address>,
    care: String,
    encounter: String,
    diagnosis: String,
    lines: Vec<LineInput>,
}

impl ClaimForm {
    /// Checks the form and prepares its claim: the document encrypted as a Claims record of the
    /// patient (wrapped for the patient's Claims grantees) and a fresh claim id.
    async fn prepare(
        self,
        me: &Identity,
        patient: Address,
        progress: &dyn Fn(Stage),
    ) -> Result<PendingClaim, String> {
        let insurer = self
            .insurer
            .ok_or("Choose the insurer (the patient must have granted it the Claims category).")?;
        let care: u8 = self.care.parse().map_err(|_| {
            "Choose the category of care (one the patient's grant to you covers).".to_string()
        })?;
        let today = format::date((js_sys::Date::now() / 1000.0) as u64);
        let doc = ClaimDocument::from_form(&self.encounter, &self.diagnosis, &self.lines, &today)
            .map_err(|e| format!("Check the claim: {}.", format::clause(&e)))?;
        let content = Content::Bytes {
            data: doc.to_bytes(),
            media_type: MEDIA_TYPE.into(),
            file_name: format!("claim-{}.json", doc.encounter_date),
            kind: RecordKind::Claim,
        };
        let prepared = records::prepare(
            me,
            patient,
            Category::Claims.number(),
            B256::ZERO,
            content,
            None,
            progress,
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut id = [0u8; 32];
        medledger_protocol::cipher::fill_random(&mut id)
            .map_err(|_| "no randomness available".to_string())?;
        Ok(PendingClaim {
            prepared,
            claim_id: B256::from(id),
            insurer,
            amount: doc.total(),
            care,
        })
    }
}

/// The claim form's progress and the claim a failed step left to resume.
#[derive(Clone, Copy)]
struct ClaimRun {
    stage: RwSignal<String>,
    fraction: RwSignal<f64>,
    pending: RwSignal<Option<PendingClaim>, LocalStorage>,
}

impl ClaimRun {
    fn progress(self) -> Rc<dyn Fn(Stage)> {
        let ClaimRun {
            stage, fraction, ..
        } = self;
        Rc::new(move |s: Stage| match s {
            Stage::Encrypting(f) => {
                stage.set("Encrypting the claim document".into());
                fraction.set(f);
            }
            // One record: its bytes' progress says it all.
            Stage::Uploaded(..) => {}
            Stage::Uploading(f) => {
                stage.set("Uploading the claim document".into());
                fraction.set(f);
            }
            Stage::Anchoring => {
                stage.set(
                    "Anchoring the document and submitting the claim: confirm in your wallet"
                        .into(),
                );
                fraction.set(1.0);
            }
        })
    }

    /// Submits the kept claim, or a new one from `form`; keeps it again when a step fails.
    async fn run(self, state: AppState, patient: Address, form: ClaimForm) -> Outcome {
        let me: Identity = state.identity().ok_or("sign in first")?;
        let progress = self.progress();
        let mut claim = match self.pending.get_untracked() {
            Some(p) => p,
            None => form.prepare(&me, patient, &*progress).await.map_err(|e| {
                self.stage.set(String::new());
                e
            })?,
        };
        let outcome = submit_claim(&me, &mut claim, progress).await;
        self.stage.set(String::new());
        match outcome {
            Ok(text) => {
                self.pending.set(None);
                Ok(text)
            }
            Err(e) => {
                self.pending.set(Some(claim));
                Err(format!(
                    "{e} — press Retry to continue from where it stopped."
                ))
            }
        }
    }
}

/// The practitioner's claim form for one patient; `care_categories` are those the patient's
/// grant to the practitioner covers, the only ones the contract accepts as the care claimed.
#[component]
pub fn NewClaim(
    patient: Address,
    mut care_categories: Vec<u8>,
    on_done: Callback<()>,
) -> impl IntoView {
    let state = app_state();
    let insurers: Insurers = LocalResource::new(move || async move {
        let contract = state.contract().ok_or("not configured")?;
        records::insurers_of(&contract, patient)
            .await
            .map_err(|e| e.to_string())
    });
    // The insurer picked, else the first offered (the one the select shows).
    let picked = RwSignal::new(None::<Address>);
    let encounter = RwSignal::new(format::date((js_sys::Date::now() / 1000.0) as u64));
    let diagnosis = RwSignal::new(String::new());
    let lines = RwSignal::new(vec![LineInput::default()]);
    let claims_cat = Category::Claims.number();
    // The category of care claimed, judged against the policy's coverage. Claims is where the
    // document is filed; the care itself is usually elsewhere, so it comes last.
    care_categories.sort_by_key(|c| *c == claims_cat);
    let care = RwSignal::new(
        care_categories
            .first()
            .map(u8::to_string)
            .unwrap_or_default(),
    );
    let run = ClaimRun {
        stage: RwSignal::new(String::new()),
        fraction: RwSignal::new(0.0),
        pending: RwSignal::new_local(None),
    };
    let submit_action = Action::new_local(move |form: &ClaimForm| {
        let form = form.clone();
        async move {
            let outcome = run.run(state, patient, form).await;
            if outcome.is_ok() {
                lines.set(vec![LineInput::default()]);
                diagnosis.set(String::new());
                on_done.run(());
            }
            outcome
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit_action.dispatch_local(ClaimForm {
            insurer: picked
                .get_untracked()
                .or_else(|| offered(insurers).first().copied()),
            care: care.get_untracked(),
            encounter: encounter.get_untracked(),
            diagnosis: diagnosis.get_untracked(),
            lines: lines.get_untracked(),
        });
    };
    view! {
        <form on:submit=submit data-testid="claim-form" class="claim-form">
            <h3>"New insurance claim"</h3>
            <InsurerPick insurers picked/>
            <CarePick care care_categories/>
            <label class="field">"Encounter date" <input type="date" prop:value=move || encounter.get() on:input=move |ev| encounter.set(event_target_value(&ev))/></label>
            <label class="field">"Diagnosis" <input type="text" prop:value=move || diagnosis.get() on:input=move |ev| diagnosis.set(event_target_value(&ev)) data-testid="claim-diagnosis"/></label>
            <ClaimLines lines/>
            <button type="submit" disabled=submit_action.pending() data-testid="submit-claim">
                {move || if run.pending.with(Option::is_some) { "Retry" } else { "Submit claim" }}
            </button>
            <Show when=move || !run.stage.get().is_empty()>
                <ProgressView label=Signal::derive(move || run.stage.get()) fraction=Signal::derive(move || run.fraction.get())/>
            </Show>
            <NoteView note=outcome_note(submit_action)/>
        </form>
    }
}

/// The category of care claimed, among those the patient's grant covers.
#[component]
fn CarePick(care: RwSignal<String>, care_categories: Vec<u8>) -> impl IntoView {
    view! {
        <label class="field">"Category of care"
            <select on:change=move |ev| care.set(event_target_value(&ev)) data-testid="claim-care">
                {care_categories.into_iter().map(|c| {
                    let n = c.to_string();
                    let chosen = n.clone();
                    view! { <option value=n selected=move || care.get() == chosen>{category_name(c)}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

type Insurers = LocalResource<Result<Vec<Address>, String>>;

/// The insurers loaded (none while they load).
fn offered(insurers: Insurers) -> Vec<Address> {
    insurers
        .with(|l| l.as_ref().and_then(|l| l.as_ref().ok()).cloned())
        .unwrap_or_default()
}

/// The insurer a claim goes to, among those the patient lets read claim documents.
#[component]
fn InsurerPick(insurers: Insurers, picked: RwSignal<Option<Address>>) -> impl IntoView {
    view! {
        <label class="field">"Insurer"
            <select on:change=move |ev| picked.set(event_target_value(&ev).parse().ok()) data-testid="claim-insurer">
                {move || offered(insurers).into_iter().map(|a| {
                    let text = a.to_checksum(None);
                    view! { <option value=text.clone()>{text.clone()}</option> }
                }).collect_view()}
            </select>
        </label>
        {move || insurers.with(|l| matches!(l, Some(Ok(l)) if l.is_empty())).then(|| view! { <p class="warn">"The patient has not granted any insurer the Claims category."</p> })}
    }
}

/// The claim's service lines, with buttons to add and remove one.
#[component]
fn ClaimLines(lines: RwSignal<Vec<LineInput>>) -> impl IntoView {
    let line_field = move |i: usize,
                           label: &'static str,
                           kind: &'static str,
                           get: fn(&LineInput) -> String,
                           set: fn(&mut LineInput, String)| {
        view! {
            <label class="field">{label}
                <input type=kind prop:value=move || lines.with(|l| l.get(i).map(get).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev); lines.update(|l| if let Some(x) = l.get_mut(i) { set(x, v) }); }
                    data-testid=format!("line-{i}-{}", label.to_lowercase().replace(' ', "-"))/>
            </label>
        }
    };
    view! {
        <fieldset>
            <legend>"Services"</legend>
            {move || (0..lines.with(|l| l.len())).map(|i| view! {
                <div class="line">
                    {line_field(i, "Code", "text", |l| l.code.clone(), |l, v| l.code = v)}
                    {line_field(i, "Description", "text", |l| l.description.clone(), |l, v| l.description = v)}
                    {line_field(i, "Date", "date", |l| l.date.clone(), |l, v| l.date = v)}
                    {line_field(i, "Amount ETH", "text", |l| l.amount_eth.clone(), |l, v| l.amount_eth = v)}
                </div>
            }).collect_view()}
            <button type="button" on:click=move |_| lines.update(|l| l.push(LineInput::default())) data-testid="add-line">"Add a service"</button>
            " "
            <button type="button" on:click=move |_| lines.update(|l| { if l.len() > 1 { l.pop(); } })>"Remove the last"</button>
        </fieldset>
    }
}

/// Stores the claim document (resuming) and submits the claim unless it is on chain already;
/// says what the contract decided.
async fn submit_claim(
    me: &Identity,
    claim: &mut PendingClaim,
    progress: Rc<dyn Fn(Stage)>,
) -> Result<String, String> {
    records::store(me, &mut claim.prepared, progress)
        .await
        .map_err(|e| e.to_string())?;
    let existing = me
        .insurance
        .view(MedLedgerInsurance::claimOfCall {
            claimId: claim.claim_id,
        })
        .await
        .map_err(|e| e.to_string())?;
    if existing.status == 0 {
        me.send_insurance(
            MedLedgerInsurance::submitClaimCall {
                claimId: claim.claim_id,
                patient: claim.prepared.patient,
                insurer: claim.insurer,
                documentRecordId: claim.prepared.record_id,
                amount: claim.amount,
                category: claim.care,
            },
            U256::ZERO,
        )
        .await?;
    }
    let c = me
        .insurance
        .view(MedLedgerInsurance::claimOfCall {
            claimId: claim.claim_id,
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(match c.status {
        4 => format!(
            "Claim settled automatically: the contract paid {} from the insurer's funds (withdraw it under Payouts).",
            format::ether(U256::from(c.payout))
        ),
        _ => format!("Claim submitted; {}.", pending_reason(c.pendingReason)),
    })
}
