//! The insurer's pages (see [`crate::route`]): the coverage policy (publish, fund, withdraw; balance and committed
//! amounts), incoming claims with their state, opening a claim's document through the normal
//! consent and escrow path, approving (possibly less), denying with a reason, paying, and a CSV
//! export of the claims.
//!
//! The policy and the claims are resources; each submit is an `Action` (one per form, its steps
//! an enum, so they share one pending state and one note) that refetches what it changed.

use alloy_primitives::{keccak256, U256};
use leptos::prelude::*;
use medledger_protocol::api::ClaimStatus;
use medledger_protocol::contract::{Category, MedLedgerInsurance};

use super::super::components::{
    category_name, outcome_note, CategoryChecks, NoteView, OpenedPanel, OpenedView, Outcome,
    WhenLoaded,
};
use super::super::escrow::ClaimSummary;
use super::super::nav::{current_page, PageNav};
use super::super::records;
use super::super::state::{app_state, AppState};
use super::claims::{claims_resource, loaded, status_text, wei_text, Claims, ClaimsTable};
use crate::claim::{pending_reason, to_csv, CsvRow, DocumentCheck};
use crate::format::{self, parse_ether};
use crate::route::{Audience, Page};
use crate::sharing::categories_of;

/// The policy as the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PolicyView {
    published: bool,
    categories: Vec<u8>,
    per_claim: U256,
    annual: U256,
    deductible: U256,
    funds: U256,
    reserved: U256,
}

/// The signed-in insurer's policy; none while it loads or when the chain cannot say.
type Policy = LocalResource<Option<PolicyView>>;

async fn load_policy(state: AppState) -> Option<PolicyView> {
    let me = state.identity()?;
    let p = me
        .insurance
        .view(MedLedgerInsurance::policyOfCall {
            insurer: me.account,
        })
        .await
        .ok()?;
    Some(PolicyView {
        published: p.published,
        categories: categories_of(p.coveredCategories),
        per_claim: U256::from(p.perClaimLimit),
        annual: U256::from(p.annualLimit),
        deductible: U256::from(p.deductible),
        funds: p.funds,
        reserved: p.reserved,
    })
}

fn eth(text: &str, what: &str) -> Result<U256, String> {
    parse_ether(text).map_err(|e| format!("{what}: {e}"))
}

fn u128_of(v: U256, what: &str) -> Result<u128, String> {
    u128::try_from(v).map_err(|_| format!("{what} is too large"))
}

/// The verified insurer's home.
#[component]
pub fn InsurerPage() -> impl IntoView {
    let state = app_state();
    let policy: Policy = LocalResource::new(move || load_policy(state));
    let claims = claims_resource();
    let selected = RwSignal::new(None::<ClaimSummary>);
    let page = current_page(Audience::Insurer);
    view! {
        <div class="page" data-testid="insurer-page">
            <PageNav audience=Audience::Insurer current=page/>
            {move || match page.get() {
                Page::Policy => view! { <PolicySection policy/> }.into_any(),
                Page::Account => view! { <super::key::KeySection on_rotated=move || claims.refetch()/><super::recovery::HelpRecoverSection/> }.into_any(),
                _ => view! {
                    <section aria-labelledby="iclaims-h">
                        <h2 id="iclaims-h">"Claims"</h2>
                        <button on:click=move |_| claims.refetch()>"Refresh"</button>
                        " "
                        <CsvExport claims/>
                        <ClaimsTable claims select=selected/>
                        {move || selected.get().map(|c| view! { <Review claim=c claims policy selected/> })}
                    </section>
                }.into_any(),
            }}
        </div>
    }
}

/// The policy form as filled in.
#[derive(Clone)]
struct PolicyForm {
    categories: Vec<u8>,
    per_claim: String,
    annual: String,
    deductible: String,
    initial: String,
}

/// What the insurer does on the policy page.
#[derive(Clone)]
enum PolicyStep {
    Publish(PolicyForm),
    Fund(String),
    Withdraw(String),
}

async fn publish(state: AppState, form: PolicyForm) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    if form.categories.is_empty() {
        return Err("Choose the categories the policy covers.".into());
    }
    let per = u128_of(
        eth(&form.per_claim, "Per-claim limit")?,
        "the per-claim limit",
    )?;
    let year = u128_of(eth(&form.annual, "Annual limit")?, "the annual limit")?;
    let ded = u128_of(eth(&form.deductible, "Deductible")?, "the deductible")?;
    let value = if form.initial.trim().is_empty() {
        U256::ZERO
    } else {
        eth(&form.initial, "Initial funds")?
    };
    let covered = Category::mask(
        form.categories
            .iter()
            .filter_map(|n| Category::from_number(*n)),
    );
    me.send_insurance(
        MedLedgerInsurance::publishPolicyCall {
            coveredCategories: covered,
            perClaimLimit: per,
            annualLimit: year,
            deductible: ded,
        },
        value,
    )
    .await?;
    Ok("Policy published on chain.".into())
}

async fn fund(state: AppState, amount: String) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    let value = eth(&amount, "Amount")?;
    me.send_insurance(MedLedgerInsurance::fundPolicyCall {}, value)
        .await?;
    Ok("Funds added to the policy.".into())
}

async fn withdraw(state: AppState, amount: String) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    let amount = eth(&amount, "Amount")?;
    me.send_insurance(
        MedLedgerInsurance::withdrawPolicyFundsCall { amount },
        U256::ZERO,
    )
    .await?;
    Ok("Funds withdrawn to your account.".into())
}

#[component]
fn PolicySection(policy: Policy) -> impl IntoView {
    let state = app_state();
    let categories = RwSignal::new(vec![Category::Claims.number()]);
    let per_claim = RwSignal::new(String::new());
    let annual = RwSignal::new(String::new());
    let deductible = RwSignal::new("0".to_string());
    let initial = RwSignal::new(String::new());
    let fund_amount = RwSignal::new(String::new());
    let withdraw_amount = RwSignal::new(String::new());
    let act = Action::new_local(move |step: &PolicyStep| {
        let step = step.clone();
        async move {
            let outcome = match step {
                PolicyStep::Publish(form) => publish(state, form).await,
                PolicyStep::Fund(amount) => fund(state, amount)
                    .await
                    .inspect(|_| fund_amount.set(String::new())),
                PolicyStep::Withdraw(amount) => withdraw(state, amount)
                    .await
                    .inspect(|_| withdraw_amount.set(String::new())),
            };
            if outcome.is_ok() {
                policy.refetch();
            }
            outcome
        }
    });
    let busy = act.pending();
    let step = move |ev: leptos::ev::SubmitEvent, step: PolicyStep| {
        ev.prevent_default();
        act.dispatch_local(step);
    };
    let text_input = move |label: &'static str, sig: RwSignal<String>, testid: &'static str| {
        view! {
            <label class="field">{label} <input type="text" inputmode="decimal" prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev)) data-testid=testid/></label>
        }
    };
    let form = move || PolicyForm {
        categories: categories.get_untracked(),
        per_claim: per_claim.get_untracked(),
        annual: annual.get_untracked(),
        deductible: deductible.get_untracked(),
        initial: initial.get_untracked(),
    };
    view! {
        <section aria-labelledby="policy-h">
            <h2 id="policy-h">"Coverage policy"</h2>
            <WhenLoaded>
                <PolicyFacts policy/>
            </WhenLoaded>
            <form on:submit=move |ev| step(ev, PolicyStep::Publish(form())) data-testid="policy-form">
                <h3>{move || if policy.get().flatten().is_some_and(|p| p.published) { "Change the policy" } else { "Publish a policy" }}</h3>
                <CategoryChecks selected=categories legend="Covered categories"/>
                {text_input("Per-claim limit (ETH)", per_claim, "per-claim")}
                {text_input("Annual limit per patient (ETH)", annual, "annual")}
                {text_input("Deductible per patient and year (ETH)", deductible, "deductible")}
                {text_input("Initial funds (ETH, optional)", initial, "initial-funds")}
                <button type="submit" disabled=busy data-testid="publish">"Publish on chain"</button>
            </form>
            <form on:submit=move |ev| step(ev, PolicyStep::Fund(fund_amount.get_untracked()))>
                {text_input("Add funds (ETH)", fund_amount, "fund-amount")}
                <button type="submit" disabled=busy data-testid="fund">"Fund"</button>
            </form>
            <form on:submit=move |ev| step(ev, PolicyStep::Withdraw(withdraw_amount.get_untracked()))>
                {text_input("Withdraw free funds (ETH)", withdraw_amount, "withdraw-amount")}
                <button type="submit" disabled=busy>"Withdraw"</button>
            </form>
            <NoteView note=outcome_note(act)/>
        </section>
    }
}

/// The published policy's terms and money.
#[component]
fn PolicyFacts(policy: Policy) -> impl IntoView {
    move || {
        policy.get().flatten().filter(|p| p.published).map(|p| view! {
        <dl class="entry" data-testid="policy">
            <dt>"Covers"</dt><dd>{p.categories.iter().map(|c| category_name(*c)).collect::<Vec<_>>().join(", ")}</dd>
            <dt>"Per-claim limit"</dt><dd>{format::ether(p.per_claim)}</dd>
            <dt>"Annual limit per patient"</dt><dd>{format::ether(p.annual)}</dd>
            <dt>"Deductible per patient and year"</dt><dd>{format::ether(p.deductible)}</dd>
            <dt>"Funds held"</dt><dd data-testid="funds">{format::ether(p.funds)}</dd>
            <dt>"Committed to approved claims"</dt><dd data-testid="reserved">{format::ether(p.reserved)}</dd>
            <dt>"Available"</dt><dd data-testid="available">{format::ether(p.funds.saturating_sub(p.reserved))}</dd>
        </dl>
    })
    }
}

/// What the insurer does to the claim under review.
#[derive(Clone)]
enum ReviewStep {
    OpenDocument,
    /// The payout typed, in ETH.
    Approve(String),
    /// The reason typed.
    Deny(String),
    Pay,
}

/// Opens the claim's document (the chain says which record it is) and checks it against the
/// amount claimed; suggests a payout when the document supports one.
async fn open_document(
    state: AppState,
    claim: &ClaimSummary,
    opened: RwSignal<Option<OpenedView>>,
    amount: RwSignal<String>,
) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    // The list came from the escrow's index; what was claimed, and on which document, is the
    // chain's word.
    let on_chain = me
        .insurance
        .view(MedLedgerInsurance::claimOfCall {
            claimId: claim.claim_id,
        })
        .await
        .map_err(|e| e.to_string())?;
    // The escrow releases it only while the patient's grant on Claims lets this insurer read;
    // its refusal says so.
    let o = records::open(&me, on_chain.documentRecordId, on_chain.patient)
        .await
        .map_err(|e| e.to_string())?;
    opened.set(Some(OpenedView::from_record(
        format::short_id(on_chain.documentRecordId.as_slice()),
        &o,
    )));
    let check = DocumentCheck::of(
        &o.metadata.media_type,
        o.small.as_deref(),
        U256::from(on_chain.amount),
    );
    if let Some(payout) = check.suggested_payout() {
        amount.set(format::ether(payout).trim_end_matches(" ETH").to_string());
    }
    check.verdict()
}

/// Approves, denies or pays the claim on chain.
async fn decide(state: AppState, claim: &ClaimSummary, step: ReviewStep) -> Outcome {
    let me = state.identity().ok_or("sign in first")?;
    let id = claim.claim_id;
    let (sent, done) = match step {
        ReviewStep::OpenDocument => return Err("nothing to decide".into()),
        ReviewStep::Approve(amount) => {
            let payout = u128_of(eth(&amount, "Amount")?, "the amount")?;
            let call = MedLedgerInsurance::approveClaimCall {
                claimId: id,
                payout,
            };
            (
                me.send_insurance(call, U256::ZERO).await,
                "Approved; the amount is reserved from the policy until you pay.",
            )
        }
        ReviewStep::Deny(why) => {
            if why.trim().is_empty() {
                return Err("Give the reason for the denial (its hash goes on chain; tell the practitioner the text).".into());
            }
            let call = MedLedgerInsurance::denyClaimCall {
                claimId: id,
                reasonHash: keccak256(why.trim().as_bytes()),
            };
            (me.send_insurance(call, U256::ZERO).await, "Denied.")
        }
        ReviewStep::Pay => {
            let call = MedLedgerInsurance::payClaimCall { claimId: id };
            (
                me.send_insurance(call, U256::ZERO).await,
                "Paid: the practitioner can withdraw it.",
            )
        }
    };
    sent?;
    Ok(done.into())
}

#[component]
fn Review(
    claim: ClaimSummary,
    claims: Claims,
    policy: Policy,
    selected: RwSignal<Option<ClaimSummary>>,
) -> impl IntoView {
    let state = app_state();
    let opened = RwSignal::new(None::<OpenedView>);
    let amount = RwSignal::new(
        claim
            .amount
            .parse::<U256>()
            .map(|a| format::ether(a).trim_end_matches(" ETH").to_string())
            .unwrap_or_default(),
    );
    let reason = RwSignal::new(String::new());
    let c = claim.clone();
    let act = Action::new_local(move |step: &ReviewStep| {
        let (step, claim) = (step.clone(), claim.clone());
        async move {
            if let ReviewStep::OpenDocument = step {
                return open_document(state, &claim, opened, amount).await;
            }
            let outcome = decide(state, &claim, step).await?;
            // The escrow's index follows the chain within a block or so.
            super::super::wallet::sleep_ms(1200).await;
            claims.refetch();
            policy.refetch();
            Ok(outcome)
        }
    });
    let busy = act.pending();
    let open_for_review = matches!(
        c.status,
        ClaimStatus::Submitted | ClaimStatus::PendingReview
    );
    let approved = c.status == ClaimStatus::Approved;
    view! {
        <section class="opened" aria-label="review claim" data-testid="review-panel">
            <h3 title=format!("claim {}", c.claim_id)>"Claim of " {format::datetime(c.submitted_at)} " — " {wei_text(&c.amount)}</h3>
            <p>{status_text(&c)}</p>
            <button on:click=move |_| { act.dispatch_local(ReviewStep::OpenDocument); } disabled=busy data-testid="open-claim-doc">"Open the claim document"</button>
            {open_for_review.then(|| view! {
                <div class="filters">
                    <label class="field">"Approve (ETH, at most the amount claimed)" <input type="text" prop:value=move || amount.get() on:input=move |ev| amount.set(event_target_value(&ev)) data-testid="approve-amount"/></label>
                    <button on:click=move |_| { act.dispatch_local(ReviewStep::Approve(amount.get_untracked())); } disabled=busy data-testid="approve">"Approve"</button>
                </div>
                <div class="filters">
                    <label class="field">"Reason for denial" <input type="text" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) data-testid="deny-reason"/></label>
                    <button class="danger" on:click=move |_| { act.dispatch_local(ReviewStep::Deny(reason.get_untracked())); } disabled=busy data-testid="deny">"Deny"</button>
                </div>
            })}
            {approved.then(|| view! { <button on:click=move |_| { act.dispatch_local(ReviewStep::Pay); } disabled=busy data-testid="pay">"Pay"</button> })}
            " "
            <button on:click=move |_| selected.set(None)>"Close"</button>
            <NoteView note=outcome_note(act)/>
            <OpenedPanel opened/>
        </section>
    }
}

#[component]
fn CsvExport(claims: Claims) -> impl IntoView {
    let href = move || {
        let rows: Vec<CsvRow> = loaded(claims)
            .iter()
            .map(|c| CsvRow {
                claim_id: c.claim_id.to_string(),
                submitted_at: c.submitted_at,
                patient: c.patient.to_checksum(None),
                practitioner: c.practitioner.to_checksum(None),
                category: c.category,
                amount_wei: c.amount.clone(),
                status: c.status.as_str().to_string(),
                payout_wei: c.payout.clone().unwrap_or_default(),
                pending_reason: c
                    .pending_reason
                    .map(|r| pending_reason(r).to_string())
                    .unwrap_or_default(),
            })
            .collect();
        format!(
            "data:text/csv;charset=utf-8,{}",
            js_sys::encode_uri_component(&to_csv(&rows))
        )
    };
    view! { <a href=href download="medledger-claims.csv" data-testid="csv">"Export claims (CSV)"</a> }
}
