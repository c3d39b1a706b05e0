//! Reads held for the patient's approval (docs/risk.md, "Hold"): the patient's list
//! (`GET /api/holds`) and their decision (`POST /api/holds/{id}`), signed by their wallet over
//! the EIP-712 `HoldDecision` (protocol `identity::HoldDecisionMessage`) so that the decision is
//! the patient's own and not only their session's. A decision applies to the reader's reads of
//! that record for [`DECISION_SECS`]; it is logged (`hold-decision`, `granted` the approval, reason
//! `reader:<address>`) before it takes effect. A hold unanswered for the configured
//! `hold_expiry_secs` expires ([`as_of`]): it is no longer decided, and the reader's next read is
//! judged anew.

use alloy_primitives::hex;
use alloy_primitives::Address;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medledger_protocol::api::{AccessAction, Hold, HoldDecisionBody, HoldState, Holds};
use medledger_protocol::identity::HoldDecisionMessage;

use crate::access_log::{AppendError, NewEntry, RiskNote, Write};
use crate::auth::Session;
use crate::db::{DbError, HoldDecision};
use crate::error::{ApiError, JsonBody};
use crate::server::AppState;

/// How long a patient's decision applies to the reader's reads of the record: a day of care.
pub const DECISION_SECS: u64 = 24 * 3_600;

/// Decided holds stay in the patient's list this long.
const LISTED_SECS: u64 = 30 * 86_400;

fn now() -> u64 {
    u64::try_from(crate::now_secs()).unwrap_or(0)
}

/// `hold` as it stands at `now`: pending and unanswered for `expiry` seconds, it is expired (as
/// of the end of that time). Expiry is not stored: every reader of a hold asks this, so the
/// list, a decision and the reader's next read agree on it at any moment.
pub fn as_of(mut hold: Hold, now: u64, expiry: u64) -> Hold {
    let ends = hold.created_at.saturating_add(expiry);
    if hold.state == HoldState::Pending && now >= ends {
        hold.state = HoldState::Expired;
        hold.decided_at = Some(ends);
    }
    hold
}

/// `GET /api/holds`: the signed-in patient's pending holds and those decided (or expired) in the
/// last 30 days.
pub async fn list(State(st): State<AppState>, session: Session) -> Result<Json<Holds>, ApiError> {
    let (now, expiry) = (now(), st.config.hold_expiry_secs);
    let since = now.saturating_sub(LISTED_SECS);
    let holds = st
        .index
        .holds_of(session.address, since, since.saturating_sub(expiry))
        .await?;
    let holds = holds.into_iter().map(|h| as_of(h, now, expiry)).collect();
    Ok(Json(Holds { holds }))
}

fn bad_signature(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "bad-signature",
        format!("the decision is not signed by this hold's patient: {why}"),
    )
}

/// The signature of `body`, checked to be the hold's patient's over this decision on this hold:
/// made by `wallet`, the session's, which controls the patient's identity.
fn patients_signature(
    st: &AppState,
    hold: &Hold,
    body: &HoldDecisionBody,
    wallet: Address,
) -> Result<Vec<u8>, ApiError> {
    let signature = hex::decode(body.signature.trim()).map_err(bad_signature)?;
    let message = HoldDecisionMessage {
        chain_id: st.deployment.chain_id,
        contract: st.deployment.address,
        hold: hold.id,
        created_at: hold.created_at,
        record_id: hold.record_id,
        reader: hold.reader,
        patient: hold.patient,
        approve: body.approve,
    };
    message
        .verify_by(&signature, wallet)
        .map_err(bad_signature)?;
    Ok(signature)
}

/// `POST /api/holds/{id}`: the patient approves or denies a pending hold.
pub async fn decide(
    State(st): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<HoldDecisionBody>,
) -> Result<Json<Hold>, ApiError> {
    let no_such_hold = || ApiError::not_found("no-such-hold", "no hold has this number");
    let id: u64 = id.parse().map_err(|_| no_such_hold())?;
    // One decision at a time, so the state checked below is the state the update finds.
    let _one_at_a_time = st.risk.hold_creation.lock().await;
    let Some(row) = st.index.hold(id).await? else {
        return Err(no_such_hold());
    };
    let at = now();
    let hold = as_of(row.hold, at, st.config.hold_expiry_secs);
    if hold.patient != session.address {
        return Err(ApiError::forbidden(
            "not-your-hold",
            "only the record's patient decides on a hold",
        ));
    }
    if let (HoldState::Expired, Some(expired)) = (hold.state, hold.decided_at) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hold-expired",
            format!("this hold expired unanswered at {expired} (Unix seconds); the reader's next read asks again if it must"),
        ));
    }
    if hold.state != HoldState::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "hold-decided",
            format!("this hold was already {}", hold.state),
        ));
    }
    let signature = patients_signature(&st, &hold, &body, session.wallet)?;
    let state = if body.approve {
        HoldState::Approved
    } else {
        HoldState::Denied
    };
    let until = at.saturating_add(DECISION_SECS);
    let decision = HoldDecision {
        id,
        state,
        at,
        applies_until: until,
        signature: hex::encode_prefixed(&signature),
    };
    let entry = NewEntry {
        actor: session.address,
        patient: hold.patient,
        record_id: hold.record_id,
        action: AccessAction::HoldDecision,
        // Approved or denied is `granted`; the reason names the reader (as an added wrap's
        // does), so the hash-chained entry alone says whose read the patient decided.
        granted: body.approve,
        reason: format!("reader:{}", hold.reader),
        risk: RiskNote::default(),
    };
    // The entry and the decision in one transaction: a decision is made logged, or not at all.
    match st
        .log
        .append_with(entry, Write::Decision(Box::new(decision)))
        .await
    {
        Err(AppendError::Db(DbError::Stale(_))) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "hold-decided",
                "this hold was decided meanwhile",
            ))
        }
        appended => crate::records::logged(&st, appended)?,
    };
    Ok(Json(Hold {
        state,
        decided_at: Some(at),
        applies_until: Some(until),
        ..hold
    }))
}
