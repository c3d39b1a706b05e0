//! Claims as each party sees them: the table of claims with their state, amount and payer (all
//! roles), the practitioner's claim form (a claim document encrypted as a Claims record, then
//! `submitClaim`, settled by the contract at once when it is inside the policy), and helpers the
//! insurer's page uses.

use alloy_primitives::{Address, B256, U256};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::{Category, MedLedger};
use medledger_protocol::envelope::RecordKind;
use medledger_protocol::wrap::PublicKey;

use super::super::chain::Contract;
use super::super::components::{category_name, run, Names, Note, NoteView, ProgressView};
use super::super::escrow::{self, ClaimSummary};
use super::super::records::{self, Content, Identity, Prepared, Stage};
use super::super::session::{self, Role};
use super::super::state::app_state;
use crate::claim::{pending_reason, ClaimDocument, LineInput, MEDIA_TYPE};
use crate::format;

/// How a claim's state reads.
pub fn status_text(c: &ClaimSummary) -> String {
    let payout = c
        .payout
        .as_deref()
        .and_then(|p| p.parse::<U256>().ok())
        .map(format::ether);
    match c.status.as_str() {
        "paid" if c.automatic == Some(true) => format!(
            "paid automatically by the contract: {}",
            payout.unwrap_or_default()
        ),
        "paid" => format!("paid: {}", payout.unwrap_or_default()),
        "approved" => format!(
            "approved for {}, awaiting payment",
            payout.unwrap_or_default()
        ),
        "denied" => "denied by the insurer".to_string(),
        "pending-review" | "submitted" => pending_reason(c.pending_reason.unwrap_or(0)).to_string(),
        other => other.to_string(),
    }
}

/// Wei (decimal string) → ETH text.
pub fn wei_text(wei: &str) -> String {
    wei.parse::<U256>().map(format::ether).unwrap_or_default()
}

/// The claims table; with `select`, a Review button per claim puts it there (the insurer's).
#[component]
pub fn ClaimsTable(
    claims: RwSignal<Vec<ClaimSummary>>,
    #[prop(optional)] select: Option<RwSignal<Option<ClaimSummary>>>,
) -> impl IntoView {
    let me = app_state().identity().map(|m| m.account);
    // The page's names when it has them (a practitioner's patients); else the directory alone.
    let names = use_context::<Names>().unwrap_or_else(|| {
        let names = Names::new();
        spawn_local(names.load_directory(me));
        names
    });
    let patient = move |who: Address| {
        if Some(who) == me {
            "you".to_string()
        } else {
            names.patient(who)
        }
    };
    view! {
        <table class="cards" data-testid="claims">
            <thead><tr><th>"Submitted"</th><th>"Patient"</th><th>"Practitioner"</th><th>"Insurer"</th><th>"Care"</th><th>"Amount"</th><th>"State"</th><th></th></tr></thead>
            <tbody>
                <For each=move || claims.get() key=|c| (c.claim_id, c.status.clone()) let:c>
                    <tr data-claim=c.claim_id.to_string() data-status=c.status.clone()>
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
        {move || claims.with(|c| c.is_empty()).then(|| view! { <p>"No claims."</p> })}
    }
}

/// Loads the caller's claims into `claims`.
pub async fn load_claims(claims: RwSignal<Vec<ClaimSummary>>, note: RwSignal<Option<Note>>) {
    match escrow::claims().await {
        Ok(mut list) => {
            list.reverse();
            claims.set(list)
        }
        Err(e) => note.set(Some(Note::Failed(e.to_string()))),
    }
}

/// The patient's current grantees whose grant covers `category`, with their registered keys and
/// roles (read from the chain, which anyone may read; wrapping to them lets each open the record
/// at once instead of after the patient's next visit).
pub async fn grantees_for(
    contract: &Contract,
    patient: Address,
    category: u8,
) -> Result<Vec<(Address, PublicKey, Role)>, String> {
    let grants = contract
        .view(MedLedger::activeGrantsCall { patient })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (grantee, grant) in grants.grantees.iter().zip(grants.grants.iter()) {
        if !grant.categories.bit(category as usize) {
            continue;
        }
        let acc = session::on_chain_account(contract, *grantee)
            .await
            .map_err(|e| e.to_string())?;
        if acc.encryption_key.is_zero() {
            continue;
        }
        out.push((*grantee, PublicKey(acc.encryption_key.0), acc.role));
    }
    Ok(out)
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

/// The practitioner's claim form for one patient; `care_categories` are those the patient's
/// grant to the practitioner covers, the only ones the contract accepts as the care claimed.
#[component]
pub fn NewClaim(
    patient: Address,
    mut care_categories: Vec<u8>,
    on_done: Callback<()>,
) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let insurers = RwSignal::new(Vec::<Address>::new());
    let insurer = RwSignal::new(String::new());
    let encounter = RwSignal::new(format::date((js_sys::Date::now() / 1000.0) as u64));
    let diagnosis = RwSignal::new(String::new());
    let lines = RwSignal::new(vec![LineInput::default()]);
    let stage = RwSignal::new(String::new());
    let fraction = RwSignal::new(0.0);
    let pending = RwSignal::new_local(None::<PendingClaim>);
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
    spawn_local(async move {
        let Some(contract) = state.contract() else {
            return;
        };
        if let Ok(list) = grantees_for(&contract, patient, claims_cat).await {
            let found: Vec<Address> = list
                .into_iter()
                .filter(|(_, _, role)| *role == Role::Insurer)
                .map(|(a, _, _)| a)
                .collect();
            if let Some(first) = found.first() {
                insurer.set(first.to_checksum(None));
            }
            insurers.set(found);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me: Identity = state.identity().ok_or("sign in first")?;
            let mut claim = match pending.get_untracked() {
                Some(p) => p,
                None => {
                    let who: Address = insurer
                        .get_untracked()
                        .parse()
                        .map_err(|_| "Choose the insurer (the patient must have granted it the Claims category).".to_string())?;
                    let care_category: u8 = care.get_untracked().parse().map_err(|_| {
                        "Choose the category of care (one the patient's grant to you covers)."
                            .to_string()
                    })?;
                    let today = format::date((js_sys::Date::now() / 1000.0) as u64);
                    let doc = ClaimDocument::from_form(
                        &encounter.get_untracked(),
                        &diagnosis.get_untracked(),
                        &lines.get_untracked(),
                        &today,
                    )
                    .map_err(|e| format!("Check the claim: {e}."))?;
                    let readers: Vec<(Address, PublicKey)> =
                        grantees_for(&me.contract, patient, claims_cat)
                            .await?
                            .into_iter()
                            .map(|(a, k, _)| (a, k))
                            .collect();
                    let progress = move |s: Stage| {
                        if let Stage::Encrypting(f) = s {
                            stage.set("Encrypting the claim document".into());
                            fraction.set(f);
                        }
                    };
                    let content = Content::Bytes {
                        data: doc.to_bytes(),
                        media_type: MEDIA_TYPE.into(),
                        file_name: format!("claim-{}.json", doc.encounter_date),
                        kind: RecordKind::Claim,
                    };
                    let prepared = records::prepare(
                        &me,
                        patient,
                        claims_cat,
                        B256::ZERO,
                        content,
                        &readers,
                        None,
                        &progress,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    let mut id = [0u8; 32];
                    medledger_protocol::cipher::fill_random(&mut id)
                        .map_err(|_| "no randomness available".to_string())?;
                    PendingClaim {
                        prepared,
                        claim_id: B256::from(id),
                        insurer: who,
                        amount: doc.total(),
                        care: care_category,
                    }
                }
            };
            let progress = std::rc::Rc::new(move |s: Stage| match s {
                Stage::Encrypting(_) => {}
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
            });
            let outcome = submit_claim(&me, &mut claim, progress).await;
            stage.set(String::new());
            match outcome {
                Ok(text) => {
                    pending.set(None);
                    lines.set(vec![LineInput::default()]);
                    diagnosis.set(String::new());
                    on_done.run(());
                    Ok(text)
                }
                Err(e) => {
                    pending.set(Some(claim));
                    Err(format!(
                        "{e} — press Retry to continue from where it stopped."
                    ))
                }
            }
        })
    };
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
        <form on:submit=submit data-testid="claim-form" class="claim-form">
            <h3>"New insurance claim"</h3>
            <label class="field">"Insurer"
                <select on:change=move |ev| insurer.set(event_target_value(&ev)) data-testid="claim-insurer">
                    {move || insurers.get().into_iter().map(|a| {
                        let text = a.to_checksum(None);
                        view! { <option value=text.clone()>{text.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            {move || insurers.with(|l| l.is_empty()).then(|| view! { <p class="warn">"The patient has not granted any insurer the Claims category."</p> })}
            <label class="field">"Category of care"
                <select on:change=move |ev| care.set(event_target_value(&ev)) data-testid="claim-care">
                    {care_categories.into_iter().map(|c| {
                        let n = c.to_string();
                        let chosen = n.clone();
                        view! { <option value=n selected=move || care.get() == chosen>{category_name(c)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class="field">"Encounter date" <input type="date" prop:value=move || encounter.get() on:input=move |ev| encounter.set(event_target_value(&ev))/></label>
            <label class="field">"Diagnosis" <input type="text" prop:value=move || diagnosis.get() on:input=move |ev| diagnosis.set(event_target_value(&ev)) data-testid="claim-diagnosis"/></label>
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
            <button type="submit" disabled=move || busy.get() data-testid="submit-claim">
                {move || if pending.with(Option::is_some) { "Retry" } else { "Submit claim" }}
            </button>
            <Show when=move || !stage.get().is_empty()>
                <ProgressView label=Signal::derive(move || stage.get()) fraction=Signal::derive(move || fraction.get())/>
            </Show>
            <NoteView note/>
        </form>
    }
}

/// Stores the claim document (resuming) and submits the claim unless it is on chain already;
/// says what the contract decided.
async fn submit_claim(
    me: &Identity,
    claim: &mut PendingClaim,
    progress: std::rc::Rc<dyn Fn(Stage)>,
) -> Result<String, String> {
    records::store(me, &mut claim.prepared, progress)
        .await
        .map_err(|e| e.to_string())?;
    let existing = me
        .contract
        .view(MedLedger::claimOfCall {
            claimId: claim.claim_id,
        })
        .await
        .map_err(|e| e.to_string())?;
    if existing.status == 0 {
        me.contract
            .send(
                me.account,
                MedLedger::submitClaimCall {
                    claimId: claim.claim_id,
                    patient: claim.prepared.patient,
                    insurer: claim.insurer,
                    documentRecordId: claim.prepared.record_id,
                    amount: claim.amount,
                    category: claim.care,
                },
                U256::ZERO,
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    let c = me
        .contract
        .view(MedLedger::claimOfCall {
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
