//! Licensing in the app (docs/licensing.md): a practitioner whose hospital's licence is under
//! notice, lapsed or terminated is told so at the top of their pages; a patient sees the hospitals
//! that offered them enrolment or enrolled them, and accepts, declines or leaves. The words are
//! [`crate::licence`]'s; the chain is read here (the core for a licence, the licensing contract for
//! enrolments) and the names come from the escrow.

use std::collections::HashMap;

use alloy_primitives::{Address, U256};
use leptos::prelude::*;
use medledger_protocol::api::licensing::{EnrolmentState, LicenceStatus};
use medledger_protocol::contract::{MedLedger, MedLedgerLicensing};

use super::super::chain::Contract;
use super::super::components::{failure_note, outcome_note, NoteView, Outcome, WhenLoaded};
use super::super::escrow;
use super::super::state::{app_state, AppState};
use crate::licence::{self, Level};

/// The names the escrow knows; none when it cannot say (the ids are shown instead).
async fn names() -> HashMap<u32, String> {
    escrow::organisation_names().await.unwrap_or_default()
}

/// What a practitioner is told about their organisation's licence, if anything.
async fn practitioner_notice(state: AppState) -> Result<Option<(Level, String)>, String> {
    let (Some(core), Some(me)) = (state.contract(), state.identity()) else {
        return Ok(None);
    };
    let practitioner = me.account;
    let view = |e: super::super::chain::ChainError| e.to_string();
    let organisation = core
        .view(MedLedger::practitionerOrganisationCall { practitioner })
        .await
        .map_err(view)?;
    if organisation == 0 {
        return Ok(None);
    }
    let number = core
        .view(MedLedger::licenceStatusCall { organisation })
        .await
        .map_err(view)?;
    let terms = core
        .view(MedLedger::licenceTermsOfCall { organisation })
        .await
        .map_err(view)?;
    let Some(status) = LicenceStatus::from_chain_number(number) else {
        return Ok(None);
    };
    let name = licence::organisation_name(
        organisation,
        names().await.get(&organisation).map(String::as_str),
    );
    let terminates_at = (terms.terminatesAt != 0).then_some(terms.terminatesAt);
    Ok(licence::practitioner_notice(
        &name,
        status,
        terms.paidUntil,
        terminates_at,
    ))
}

/// At the top of a practitioner's pages: their hospital's licence, when it is under notice, lapsed
/// or terminated (nothing otherwise).
#[component]
pub fn LicenceNotice() -> impl IntoView {
    let state = app_state();
    let notice = LocalResource::new(move || practitioner_notice(state));
    move || {
        notice.with(|n| match n {
            Some(Ok(Some((level, text)))) => {
                let class = match level {
                    Level::Warning => "note warn",
                    Level::Blocked => "note failed",
                };
                Some(view! { <p class=class role="alert" data-testid="licence-notice">{text.clone()}</p> })
            }
            _ => None,
        })
    }
}

/// One hospital in the patient's list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hospital {
    id: u32,
    name: String,
    enrolled: bool,
}

/// The organisations that offered `patient` enrolment or enrolled them, as the chain says. The
/// escrow names the organisations whose events name the patient, so that only those are asked;
/// when it cannot, every organisation is.
async fn hospitals_of(licensing: Contract, patient: Address) -> Result<Vec<Hospital>, String> {
    let err = |e: super::super::chain::ChainError| e.to_string();
    let (names, candidates) = match escrow::organisations().await {
        Ok(list) => {
            let names = list.organisations.into_iter().map(|o| (o.id, o.name));
            (names.collect::<HashMap<_, _>>(), list.involving_you)
        }
        Err(_) => {
            let count = licensing
                .view(MedLedgerLicensing::organisationCountCall {})
                .await
                .map_err(err)?;
            (HashMap::new(), (1..=count).collect())
        }
    };
    let mut out = Vec::new();
    for organisation in candidates {
        let e = licensing
            .view(MedLedgerLicensing::enrolmentOfCall {
                organisation,
                patient,
            })
            .await
            .map_err(err)?;
        let enrolled = match EnrolmentState::from_chain_number(e) {
            Some(EnrolmentState::Offered) => false,
            Some(EnrolmentState::Enrolled) => true,
            None => continue,
        };
        let name =
            licence::organisation_name(organisation, names.get(&organisation).map(String::as_str));
        out.push(Hospital {
            id: organisation,
            name,
            enrolled,
        });
    }
    Ok(out)
}

/// What the patient does with an enrolment.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Accept,
    Decline,
    Leave,
}

async fn choose(state: AppState, id: u32, choice: Choice) -> Outcome {
    let licensing = state
        .licensing()
        .ok_or("This escrow names no licensing contract.")?;
    let me = state.identity().ok_or("Sign in first.")?;
    let sent = match choice {
        Choice::Accept => {
            let call = MedLedgerLicensing::acceptEnrolmentCall { organisation: id };
            licensing.send(me.wallet, call, U256::ZERO).await
        }
        Choice::Decline | Choice::Leave => {
            let call = MedLedgerLicensing::endEnrolmentCall {
                organisation: id,
                patient: me.account,
            };
            licensing.send(me.wallet, call, U256::ZERO).await
        }
    };
    sent.map_err(|e| e.to_string())?;
    Ok(match choice {
        Choice::Accept => "You are enrolled. The hospital still sees only what you share.",
        Choice::Decline => "Declined: the hospital's offer is withdrawn.",
        Choice::Leave => "You left the hospital's list of patients.",
    }
    .into())
}

/// The patient's hospitals: offers to accept or decline, enrolments to leave.
#[component]
pub fn HospitalsSection() -> impl IntoView {
    let state = app_state();
    let hospitals = LocalResource::new(move || async move {
        let (Some(licensing), Some(me)) = (state.licensing(), state.identity()) else {
            return Ok(Vec::new());
        };
        hospitals_of(licensing, me.account).await
    });
    let act = Action::new_local(move |(id, choice): &(u32, Choice)| {
        let (id, choice) = (*id, *choice);
        async move {
            let done = choose(state, id, choice).await;
            hospitals.refetch();
            done
        }
    });
    let busy = act.pending();
    let rows = move || {
        hospitals
            .with(|h| h.as_ref().and_then(|h| h.as_ref().ok()).cloned())
            .unwrap_or_default()
    };
    view! {
        <section id="hospitals" aria-labelledby="hospitals-h" data-testid="hospitals">
            <h2 id="hospitals-h">"Your hospitals"</h2>
            <p>{licence::ENROLMENT_EXPLAINED}</p>
            <button on:click=move |_| hospitals.refetch()>"Refresh"</button>
            <WhenLoaded>
                {move || rows().is_empty().then(|| view! { <p data-testid="no-hospitals">"No hospital has asked to enrol you."</p> })}
                <ul class="hospitals">
                    <For each=rows key=|h| (h.id, h.enrolled) let:h>
                        <li data-organisation=h.id.to_string() data-enrolled=h.enrolled.to_string()>
                            {if h.enrolled { format!("Enrolled with {}", h.name) } else { format!("{} asks to enrol you", h.name) }}
                            " "
                            {if h.enrolled {
                                let id = h.id;
                                view! { <button on:click=move |_| { act.dispatch_local((id, Choice::Leave)); } disabled=move || busy.get()>"Leave"</button> }.into_any()
                            } else {
                                let id = h.id;
                                view! {
                                    <button data-testid="accept-enrolment" on:click=move |_| { act.dispatch_local((id, Choice::Accept)); } disabled=move || busy.get()>"Accept"</button>
                                    " "
                                    <button on:click=move |_| { act.dispatch_local((id, Choice::Decline)); } disabled=move || busy.get()>"Decline"</button>
                                }.into_any()
                            }}
                        </li>
                    </For>
                </ul>
            </WhenLoaded>
            <NoteView note=failure_note(hospitals)/>
            <NoteView note=outcome_note(act)/>
        </section>
    }
}
