//! The insurer's pages (see [`crate::route`]): the coverage policy (publish, fund, withdraw; balance and committed
//! amounts), incoming claims with their state, opening a claim's document through the normal
//! consent and escrow path, approving (possibly less), denying with a reason, paying, and a CSV
//! export of the claims.

use alloy_primitives::{keccak256, U256};
use leptos::prelude::*;
use leptos::task::spawn_local;
use medledger_protocol::contract::{Category, MedLedger};

use super::super::components::{run, CategoryChecks, Note, NoteView, OpenedPanel, OpenedView};
use super::super::escrow::ClaimSummary;
use super::super::nav::{current_page, PageNav};
use super::super::records;
use super::super::state::{app_state, AppState};
use super::claims::{load_claims, status_text, wei_text, ClaimsTable};
use crate::claim::{pending_reason, to_csv, CsvRow, DocumentCheck};
use crate::format::{self, parse_ether};
use crate::route::{Audience, Page};

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

async fn load_policy(state: AppState, policy: RwSignal<Option<PolicyView>>) {
    let (Some(contract), Some(me)) = (state.contract(), state.identity()) else {
        return;
    };
    if let Ok(p) = contract
        .view(MedLedger::policyOfCall {
            insurer: me.account,
        })
        .await
    {
        policy.set(Some(PolicyView {
            published: p.published,
            categories: Category::from_mask(p.coveredCategories)
                .iter()
                .map(|c| c.number())
                .collect(),
            per_claim: U256::from(p.perClaimLimit),
            annual: U256::from(p.annualLimit),
            deductible: U256::from(p.deductible),
            funds: p.funds,
            reserved: p.reserved,
        }));
    }
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
    let policy = RwSignal::new(None::<PolicyView>);
    let claims = RwSignal::new(Vec::<ClaimSummary>::new());
    let note = RwSignal::new(None::<Note>);
    let selected = RwSignal::new(None::<ClaimSummary>);
    spawn_local(load_policy(state, policy));
    spawn_local(load_claims(claims, note));
    let page = current_page(Audience::Insurer);
    view! {
        <div class="page" data-testid="insurer-page">
            <PageNav audience=Audience::Insurer current=page/>
            <NoteView note/>
            {move || match page.get() {
                Page::Policy => view! { <PolicySection policy/> }.into_any(),
                _ => view! {
                    <section aria-labelledby="iclaims-h">
                        <h2 id="iclaims-h">"Claims"</h2>
                        <button on:click=move |_| spawn_local(load_claims(claims, note))>"Refresh"</button>
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

#[component]
fn PolicySection(policy: RwSignal<Option<PolicyView>>) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
    let categories = RwSignal::new(vec![Category::Claims.number()]);
    let per_claim = RwSignal::new(String::new());
    let annual = RwSignal::new(String::new());
    let deductible = RwSignal::new("0".to_string());
    let initial = RwSignal::new(String::new());
    let fund = RwSignal::new(String::new());
    let withdraw = RwSignal::new(String::new());
    let publish = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let cats = categories.get_untracked();
            if cats.is_empty() {
                return Err("Choose the categories the policy covers.".into());
            }
            let per = u128_of(
                eth(&per_claim.get_untracked(), "Per-claim limit")?,
                "the per-claim limit",
            )?;
            let year = u128_of(
                eth(&annual.get_untracked(), "Annual limit")?,
                "the annual limit",
            )?;
            let ded = u128_of(
                eth(&deductible.get_untracked(), "Deductible")?,
                "the deductible",
            )?;
            let value = if initial.get_untracked().trim().is_empty() {
                U256::ZERO
            } else {
                eth(&initial.get_untracked(), "Initial funds")?
            };
            me.contract
                .send(
                    me.account,
                    MedLedger::publishPolicyCall {
                        coveredCategories: Category::mask(
                            cats.iter().filter_map(|n| Category::from_number(*n)),
                        ),
                        perClaimLimit: per,
                        annualLimit: year,
                        deductible: ded,
                    },
                    value,
                )
                .await
                .map_err(|e| e.to_string())?;
            load_policy(state, policy).await;
            Ok("Policy published on chain.".into())
        })
    };
    let do_fund = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let value = eth(&fund.get_untracked(), "Amount")?;
            me.contract
                .send(me.account, MedLedger::fundPolicyCall {}, value)
                .await
                .map_err(|e| e.to_string())?;
            fund.set(String::new());
            load_policy(state, policy).await;
            Ok("Funds added to the policy.".into())
        })
    };
    let do_withdraw = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let amount = eth(&withdraw.get_untracked(), "Amount")?;
            me.contract
                .send(
                    me.account,
                    MedLedger::withdrawPolicyFundsCall { amount },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            withdraw.set(String::new());
            load_policy(state, policy).await;
            Ok("Funds withdrawn to your account.".into())
        })
    };
    let text_input = move |label: &'static str, sig: RwSignal<String>, testid: &'static str| {
        view! {
            <label class="field">{label} <input type="text" inputmode="decimal" prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev)) data-testid=testid/></label>
        }
    };
    view! {
        <section aria-labelledby="policy-h">
            <h2 id="policy-h">"Coverage policy"</h2>
            {move || policy.get().filter(|p| p.published).map(|p| view! {
                <dl class="entry" data-testid="policy">
                    <dt>"Covers"</dt><dd>{p.categories.iter().map(|c| super::super::components::category_name(*c)).collect::<Vec<_>>().join(", ")}</dd>
                    <dt>"Per-claim limit"</dt><dd>{format::ether(p.per_claim)}</dd>
                    <dt>"Annual limit per patient"</dt><dd>{format::ether(p.annual)}</dd>
                    <dt>"Deductible per patient and year"</dt><dd>{format::ether(p.deductible)}</dd>
                    <dt>"Funds held"</dt><dd data-testid="funds">{format::ether(p.funds)}</dd>
                    <dt>"Committed to approved claims"</dt><dd data-testid="reserved">{format::ether(p.reserved)}</dd>
                    <dt>"Available"</dt><dd data-testid="available">{format::ether(p.funds.saturating_sub(p.reserved))}</dd>
                </dl>
            })}
            <form on:submit=publish data-testid="policy-form">
                <h3>{move || if policy.with(|p| p.as_ref().is_some_and(|p| p.published)) { "Change the policy" } else { "Publish a policy" }}</h3>
                <CategoryChecks selected=categories legend="Covered categories"/>
                {text_input("Per-claim limit (ETH)", per_claim, "per-claim")}
                {text_input("Annual limit per patient (ETH)", annual, "annual")}
                {text_input("Deductible per patient and year (ETH)", deductible, "deductible")}
                {text_input("Initial funds (ETH, optional)", initial, "initial-funds")}
                <button type="submit" disabled=move || busy.get() data-testid="publish">"Publish on chain"</button>
            </form>
            <form on:submit=do_fund>
                {text_input("Add funds (ETH)", fund, "fund-amount")}
                <button type="submit" disabled=move || busy.get() data-testid="fund">"Fund"</button>
            </form>
            <form on:submit=do_withdraw>
                {text_input("Withdraw free funds (ETH)", withdraw, "withdraw-amount")}
                <button type="submit" disabled=move || busy.get()>"Withdraw"</button>
            </form>
            <NoteView note/>
        </section>
    }
}

#[component]
fn Review(
    claim: ClaimSummary,
    claims: RwSignal<Vec<ClaimSummary>>,
    policy: RwSignal<Option<PolicyView>>,
    selected: RwSignal<Option<ClaimSummary>>,
) -> impl IntoView {
    let state = app_state();
    let busy = RwSignal::new(false);
    let note = RwSignal::new(None::<Note>);
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
    let after = move || async move {
        super::super::wallet::sleep_ms(1200).await;
        load_claims(claims, note).await;
        load_policy(state, policy).await;
    };
    let open_doc = {
        let c = c.clone();
        move |_| {
            let c = c.clone();
            run(busy, note, async move {
                let me = state.identity().ok_or("sign in first")?;
                // The list came from the escrow's index; what was claimed, and on which
                // document, is the chain's word.
                let on_chain = me
                    .contract
                    .view(MedLedger::claimOfCall {
                        claimId: c.claim_id,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                // The escrow releases it only while the patient's grant on Claims lets this
                // insurer read; its refusal says so.
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
            })
        }
    };
    let id = c.claim_id;
    let approve = move |_| {
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let payout = u128_of(eth(&amount.get_untracked(), "Amount")?, "the amount")?;
            me.contract
                .send(
                    me.account,
                    MedLedger::approveClaimCall {
                        claimId: id,
                        payout,
                    },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            after().await;
            Ok("Approved; the amount is reserved from the policy until you pay.".into())
        })
    };
    let deny = move |_| {
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            let why = reason.get_untracked();
            if why.trim().is_empty() {
                return Err("Give the reason for the denial (its hash goes on chain; tell the practitioner the text).".into());
            }
            me.contract
                .send(
                    me.account,
                    MedLedger::denyClaimCall {
                        claimId: id,
                        reasonHash: keccak256(why.trim().as_bytes()),
                    },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            after().await;
            Ok("Denied.".into())
        })
    };
    let pay = move |_| {
        run(busy, note, async move {
            let me = state.identity().ok_or("sign in first")?;
            me.contract
                .send(
                    me.account,
                    MedLedger::payClaimCall { claimId: id },
                    U256::ZERO,
                )
                .await
                .map_err(|e| e.to_string())?;
            after().await;
            Ok("Paid: the practitioner can withdraw it.".into())
        })
    };
    let open_for_review = matches!(c.status.as_str(), "submitted" | "pending-review");
    let approved = c.status == "approved";
    view! {
        <section class="opened" aria-label="review claim" data-testid="review-panel">
            <h3 title=format!("claim {}", c.claim_id)>"Claim of " {format::datetime(c.submitted_at)} " — " {wei_text(&c.amount)}</h3>
            <p>{status_text(&c)}</p>
            <button on:click=open_doc disabled=move || busy.get() data-testid="open-claim-doc">"Open the claim document"</button>
            {open_for_review.then(|| view! {
                <div class="filters">
                    <label class="field">"Approve (ETH, at most the amount claimed)" <input type="text" prop:value=move || amount.get() on:input=move |ev| amount.set(event_target_value(&ev)) data-testid="approve-amount"/></label>
                    <button on:click=approve disabled=move || busy.get() data-testid="approve">"Approve"</button>
                </div>
                <div class="filters">
                    <label class="field">"Reason for denial" <input type="text" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) data-testid="deny-reason"/></label>
                    <button class="danger" on:click=deny disabled=move || busy.get() data-testid="deny">"Deny"</button>
                </div>
            })}
            {approved.then(|| view! { <button on:click=pay disabled=move || busy.get() data-testid="pay">"Pay"</button> })}
            " "
            <button on:click=move |_| selected.set(None)>"Close"</button>
            <NoteView note/>
            <OpenedPanel opened/>
        </section>
    }
}

#[component]
fn CsvExport(claims: RwSignal<Vec<ClaimSummary>>) -> impl IntoView {
    let href = move || {
        let rows: Vec<CsvRow> = claims.with(|l| {
            l.iter()
                .map(|c| CsvRow {
                    claim_id: c.claim_id.to_string(),
                    submitted_at: c.submitted_at,
                    patient: c.patient.to_checksum(None),
                    practitioner: c.practitioner.to_checksum(None),
                    category: c.category,
                    amount_wei: c.amount.clone(),
                    status: c.status.clone(),
                    payout_wei: c.payout.clone().unwrap_or_default(),
                    pending_reason: c
                        .pending_reason
                        .map(|r| pending_reason(r).to_string())
                        .unwrap_or_default(),
                })
                .collect()
        });
        format!(
            "data:text/csv;charset=utf-8,{}",
            js_sys::encode_uri_component(&to_csv(&rows))
        )
    };
    view! { <a href=href download="medledger-claims.csv" data-testid="csv">"Export claims (CSV)"</a> }
}
