//! Reads held for the patient's approval (docs/risk.md, "Hold"): the patient's list
//! (`GET /api/holds`) and their decision (`POST /api/holds/{id}`), signed by their wallet over
//! the EIP-712 `HoldDecision` (protocol `identity::HoldDecisionMessage`) so that the decision is
//! the patient's own and not only their session's. A decision applies to the reader's reads of
//! that record for [`DECISION_SECS`]; it is logged (`hold-decision`, `granted` the approval, reason
//! `reader:<address>`) before it takes effect.

use alloy_primitives::hex;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medledger_protocol::api::{AccessAction, Hold, HoldDecisionBody, HoldState, Holds};
use medledger_protocol::identity::HoldDecisionMessage;

use crate::access_log::{NewEntry, RiskNote};
use crate::auth::Session;
use crate::error::{ApiError, JsonBody};
use crate::server::AppState;

/// How long a patient's decision applies to the reader's reads of the record: a day of care.
pub const DECISION_SECS: u64 = 24 * 3_600;

/// Decided holds stay in the patient's list this long.
const LISTED_SECS: u64 = 30 * 86_400;

fn now() -> u64 {
    u64::try_from(crate::now_secs()).unwrap_or(0)
}

/// `GET /api/holds`: the signed-in patient's pending holds and those decided in the last 30 days.
pub async fn list(State(st): State<AppState>, session: Session) -> Result<Json<Holds>, ApiError> {
    let holds = st
        .index
        .holds_of(session.address, now().saturating_sub(LISTED_SECS))
        .await?;
    Ok(Json(Holds { holds }))
}

fn bad_signature(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "bad-signature",
        format!("the decision is not signed by this hold's patient: {why}"),
    )
}

/// `POST /api/holds/{id}`: the patient approves or denies a pending hold.
pub async fn decide(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<u64>,
    JsonBody(body): JsonBody<HoldDecisionBody>,
) -> Result<Json<Hold>, ApiError> {
    // One decision at a time, so the state checked below is the state the update finds.
    let _one_at_a_time = st.risk.hold_creation.lock().await;
    let Some(row) = st.index.hold(id).await? else {
        return Err(ApiError::not_found(
            "no-such-hold",
            "no hold has this number",
        ));
    };
    let hold = row.hold;
    if hold.patient != session.address {
        return Err(ApiError::forbidden(
            "not-your-hold",
            "only the record's patient decides on a hold",
        ));
    }
    if hold.state != HoldState::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hold-decided",
            format!("this hold was already {}", hold.state),
        ));
    }
    let signature = hex::decode(body.signature.trim()).map_err(bad_signature)?;
    let message = HoldDecisionMessage {
        chain_id: st.deployment.chain_id,
        contract: st.deployment.address,
        hold: hold.id,
        record_id: hold.record_id,
        reader: hold.reader,
        patient: hold.patient,
        approve: body.approve,
    };
    message.verify(&signature).map_err(bad_signature)?;
    let state = if body.approve {
        HoldState::Approved
    } else {
        HoldState::Denied
    };
    // Logged before it takes effect: a decision the log cannot hold is not made.
    super::records::log_decision(
        &st,
        NewEntry {
            actor: session.address,
            patient: hold.patient,
            record_id: hold.record_id,
            action: AccessAction::HoldDecision,
            // Approved or denied is `granted`; the reason names the reader (as an added wrap's
            // does), so the hash-chained entry alone says whose read the patient decided.
            granted: body.approve,
            reason: format!("reader:{}", hold.reader),
            risk: RiskNote::default(),
        },
    )
    .await?;
    let at = now();
    let until = at.saturating_add(DECISION_SECS);
    let sig_hex = hex::encode_prefixed(&signature);
    if !st.index.decide_hold(id, state, at, until, &sig_hex).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hold-decided",
            "this hold was decided meanwhile",
        ));
    }
    Ok(Json(Hold {
        state,
        decided_at: Some(at),
        applies_until: Some(until),
        ..hold
    }))
}
