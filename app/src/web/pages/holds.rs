//! "Waiting for your approval": the reads the escrow held for the patient's approval because they
//! looked unusual (docs/risk.md, "Hold"), each with Approve and Deny, and the patient's decisions
//! of the last 30 days. Shown above every patient page, so a request is seen wherever the patient
//! is; it takes no room when there is nothing to show.
//!
//! The holds are a resource reloaded every [`POLL_SECS`]; a decision is an `Action` that signs the
//! typed decision in the wallet and posts it. What the list holds, the signed message and the
//! sentences come from [`crate::holds`] (pure, unit-tested natively).

use std::time::Duration;

use alloy_primitives::B256;
use leptos::prelude::*;

use super::super::chain::ChainError;
use super::super::components::{failure_note, outcome_note, Names, NoteView, ReasonList};
use super::super::escrow::{self, Hold};
use super::super::state::{app_state, AppState};
use super::super::wallet;
use crate::format::{self, capitalised};
use crate::holds::{self, HoldLists};

/// The reads held for the signed-in patient, as loaded for the page.
pub type HoldsResource = LocalResource<Result<Vec<Hold>, String>>;

/// How often the list is reloaded while the page is open: a read held while the patient is here
/// shows up without a reload.
const POLL_SECS: u64 = 30;

/// Starts loading the signed-in patient's holds.
pub fn load_holds() -> HoldsResource {
    LocalResource::new(|| async {
        let holds = escrow::holds().await.map_err(|e| e.to_string())?;
        Ok(holds.holds)
    })
}

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// The loaded holds sorted for the page (empty while they load or when they failed to).
fn lists(holds: HoldsResource) -> HoldLists {
    holds.with(|h| match h {
        Some(Ok(list)) => HoldLists::new(list, now()),
        _ => HoldLists::default(),
    })
}

/// Reloads `holds` every [`POLL_SECS`] until the calling view goes.
fn poll(holds: HoldsResource) {
    if let Ok(handle) =
        set_interval_with_handle(move || holds.refetch(), Duration::from_secs(POLL_SECS))
    {
        on_cleanup(move || handle.clear());
    }
}

/// Signs the patient's decision on `hold` in their wallet and sends it; the escrow's answer is
/// the decided hold.
async fn decide(state: AppState, hold: &Hold, approve: bool) -> Result<Hold, String> {
    let me = state.identity().ok_or("sign in first")?;
    let message = holds::decision_message(
        hold,
        me.contract.chain_id,
        me.contract.address,
        me.account,
        approve,
    );
    let signature = wallet::sign_typed_data(me.wallet, &message.typed_data_json())
        .await
        .map_err(|e| ChainError::from(e).to_string())?;
    let body = holds::decision_body(approve, &signature);
    escrow::decide_hold(hold.id, &body)
        .await
        .map_err(|e| e.to_string())
}

/// The section: pending holds with their buttons, then the recent decisions. `record` says what
/// the page calls a record ("your History record “Asthma”"); `on_decided` runs after each
/// decision the escrow took (the access log has a new entry).
#[component]
pub fn HoldsSection(
    holds: HoldsResource,
    names: Names,
    record: impl Fn(B256) -> String + Copy + Send + Sync + 'static,
    on_decided: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = app_state();
    poll(holds);
    let act = Action::new_local(move |(hold, approve): &(Hold, bool)| {
        let (hold, approve) = (hold.clone(), *approve);
        async move {
            let decided = decide(state, &hold, approve).await;
            // Reloaded whatever the answer: a refusal such as `hold-decided` means the list is
            // out of date.
            holds.refetch();
            let decided = decided?;
            on_decided();
            Ok(holds::decision_outcome(
                &decided,
                &names.person(decided.reader),
                &record(decided.record_id),
            ))
        }
    });
    let busy = act.pending();
    let pending = move || lists(holds).pending;
    let decided = Signal::derive(move || lists(holds).decided);
    let count = move || lists(holds).pending.len().to_string();
    let loaded = move || holds.with(|h| h.is_some()).to_string();
    view! {
        <section id="holds" class="holds" data-pending=count data-loaded=loaded aria-live="polite">
            <Transition fallback=|| ()>
                <Show when=move || !pending().is_empty()>
                    <h2 id="holds-h">"Waiting for your approval"</h2>
                    <p>"These reads of your records looked unusual, so the escrow held them until you answer. Approve to let the reader open the record; Deny to refuse. Your wallet asks you to sign your answer."</p>
                    <table class="cards" data-testid="pending-holds" aria-labelledby="holds-h">
                        <thead><tr><th>"Who"</th><th>"Record"</th><th>"Asked"</th><th>"Why it looked unusual"</th><th></th></tr></thead>
                        <tbody>
                            <For each=pending key=|h| h.id let:hold>
                                <PendingRow hold names record busy decide=move |h, approve| { act.dispatch_local((h, approve)); }/>
                            </For>
                        </tbody>
                    </table>
                </Show>
                <DecidedHolds decided names record/>
            </Transition>
            <NoteView note=failure_note(holds)/>
            <NoteView note=outcome_note(act)/>
        </section>
    }
}

/// One pending hold with its Approve and Deny buttons.
#[component]
fn PendingRow(
    hold: Hold,
    names: Names,
    record: impl Fn(B256) -> String + Copy + Send + Sync + 'static,
    busy: Memo<bool>,
    decide: impl Fn(Hold, bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (reader, record_id) = (hold.reader, hold.record_id);
    let reasons = holds::reasons(&hold);
    let (approve, deny) = (hold.clone(), hold.clone());
    view! {
        <tr data-hold=hold.id.to_string() data-reader=reader.to_checksum(None) data-record=record_id.to_string()>
            <td class="card-title" title=reader.to_checksum(None)>{move || capitalised(&names.person(reader))}</td>
            <td data-label="Record" title=record_id.to_string()>{move || capitalised(&record(record_id))}</td>
            <td data-label="Asked">{format::datetime(hold.created_at)}</td>
            <td data-label="Why it looked unusual"><ReasonList reasons/></td>
            <td class="actions">
                <button on:click=move |_| decide(approve.clone(), true) disabled=busy data-testid="approve-hold">"Approve"</button>
                " "
                <button class="danger" on:click=move |_| decide(deny.clone(), false) disabled=busy data-testid="deny-hold">"Deny"</button>
            </td>
        </tr>
    }
}

/// The decisions of the last 30 days, read-only, folded away under one line.
#[component]
fn DecidedHolds(
    decided: Signal<Vec<Hold>>,
    names: Names,
    record: impl Fn(B256) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let summary = move || {
        format!(
            "Your answers to held reads in the last 30 days ({})",
            decided.with(Vec::len)
        )
    };
    view! {
        <Show when=move || decided.with(|d| !d.is_empty())>
            <details class="decided-holds" data-testid="decided-holds">
                <summary>{summary}</summary>
                <ul>
                    <For each=move || decided.get() key=|h| (h.id, h.state) let:hold>
                        <li data-decided-hold=hold.id.to_string() data-state=hold.state.as_str()>
                            {let hold = hold.clone(); move || holds::decided_sentence(&hold, &names.person(hold.reader), &record(hold.record_id))}
                        </li>
                    </For>
                </ul>
            </details>
        </Show>
    }
}
