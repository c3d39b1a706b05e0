//! The risk step of a read (docs/risk.md, "At the escrow"): once consent allows the read, the
//! attempt is scored, and the patient's earlier decision or the policy decides what happens:
//!
//! 1. an emergency release inside an on-chain window is released, always flagged, never held;
//!    so is the patient's own read (scored and flagged like any other, never held);
//! 2. a hold the patient approved (in force) releases, `consent-approved`;
//! 3. a hold the patient denied (in force) refuses, 403 `hold-denied`;
//! 4. a pending hold, or under `hold` a score at or above the threshold, refuses with 423
//!    `held-for-approval` (a new hold only when none is pending);
//! 5. anything else is released, flagged when at or above the threshold.
//!
//! Refused reads of a known record are scored too ([`refusal_note`]): a run of refusals is part
//! of what makes a reader unusual.

use alloy_primitives::Address;
use axum::http::StatusCode;
use medledger_protocol::api::{HoldState, RiskMode};
use medledger_protocol::contract::Category;
use medledger_risk::access::Access;

use super::{log_entry, Attempt};
use crate::access_log::{NewEntry, RiskNote, Write};
use crate::db::{NewHold, RecordRow};
use crate::error::ApiError;
use crate::risk::Assessment;
use crate::server::AppState;
use medledger_protocol::api::AccessAction;

/// What the features need to know of the record read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFacts {
    category: u8,
    size: u64,
    created: i64,
}

impl RecordFacts {
    /// The facts of an index row.
    pub fn of(r: &RecordRow) -> RecordFacts {
        RecordFacts {
            category: r.category,
            size: r.size,
            created: r.created,
        }
    }
}

/// The outcome of a read that may go ahead.
#[derive(Debug)]
pub struct Released {
    /// What its log entry keeps.
    pub note: RiskNote,
    /// Released because the patient approved a hold.
    pub approved: bool,
}

/// The attempt as the risk model sees it: reader, role, patient, category, the grant's start,
/// the record's size and age; `at` now.
async fn access_of(
    st: &AppState,
    reader: Address,
    patient: Address,
    facts: RecordFacts,
    granted: bool,
    emergency: bool,
) -> Option<Access> {
    let category = Category::from_number(facts.category)?;
    let kind = st.risk.kind_of(&st.index, reader).await;
    Some(Access {
        at: u64::try_from(crate::now_secs()).unwrap_or(0),
        reader,
        role: crate::risk::role_of(reader, patient, kind),
        patient,
        category,
        granted,
        emergency,
        bytes: facts.size,
        grant_since: grant_since(st, patient, reader).await,
        record_created: u64::try_from(facts.created).unwrap_or(0),
        label: None,
    })
}

/// When `reader`'s current grant from `patient` began (its block's timestamp), if they hold
/// one. A failure to learn it leaves the feature out rather than failing the read.
async fn grant_since(st: &AppState, patient: Address, reader: Address) -> Option<u64> {
    if reader == patient {
        return None;
    }
    // The consent index's state holds it in memory (at whatever block it stands: a feature, not a
    // decision); the index's grant rows when the consent index is off or not started.
    let began = match st
        .consent
        .inspect(|state, _| state.grant_began(patient, reader))
    {
        Some(began) => began,
        None => st.index.grant_began(patient, reader).await.ok()?,
    };
    let block = began?;
    if let Some(t) = st.risk.block_time(block) {
        return Some(t);
    }
    match st.ledger.chain().block(block).await {
        Ok(Some(b)) => {
            st.risk.remember_block_time(block, b.timestamp);
            Some(b.timestamp)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, block, "grant block unknown for the risk features");
            None
        }
    }
}

/// The score of a refused read of a known record (unscored: an attempt without a session or
/// of an unknown record, or anything but a read).
pub async fn refusal_note(attempt: &Attempt<'_>) -> RiskNote {
    let (Some(facts), AccessAction::Read) = (attempt.record, attempt.action) else {
        return RiskNote::default();
    };
    if attempt.actor == Address::ZERO || !attempt.st.risk.scoring() {
        return RiskNote::default();
    }
    let st = attempt.st;
    let Some(access) = access_of(st, attempt.actor, attempt.patient, facts, false, false).await
    else {
        return RiskNote::default();
    };
    match st.risk.assess(&access).await {
        Ok(a) => a.note,
        Err(e) => {
            tracing::error!(error = %e, "risk score of a refusal failed");
            RiskNote::default()
        }
    }
}

fn held(hold: u64) -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "held-for-approval",
        format!(
            "this read was held for the patient's approval because it looked unusual (hold {hold}); \
             the patient has been asked, try again after they answer"
        ),
    )
}

fn denied() -> ApiError {
    ApiError::forbidden("hold-denied", "the patient declined this read")
}

/// The entry of a read the gate refused, with its score.
fn refused_entry(attempt: &Attempt<'_>, reason: &str, note: RiskNote) -> NewEntry {
    NewEntry {
        actor: attempt.actor,
        patient: attempt.patient,
        record_id: attempt.record_id,
        action: AccessAction::Read,
        granted: false,
        reason: reason.into(),
        risk: note,
    }
}

/// Logs a refusal with its score (the gate's, or after it the one the gate gave the attempt),
/// and returns `err` (or 503 when even the log is unwritable).
pub async fn refuse_scored(
    attempt: &Attempt<'_>,
    reason: &str,
    note: RiskNote,
    err: ApiError,
) -> ApiError {
    match log_entry(attempt.st, refused_entry(attempt, reason, note)).await {
        Ok(_) => err,
        Err(log_err) => log_err,
    }
}

/// The patient's latest decision on this reader's reads of the record, as it stands now.
enum Earlier {
    /// Approved, and still in force.
    Approved,
    /// Denied, and still in force.
    Denied,
    /// Not decided yet: the hold's number.
    Pending(u64),
    /// No hold, or a decision no longer in force.
    Nothing,
}

async fn earlier(attempt: &Attempt<'_>, now: u64) -> Result<Earlier, ApiError> {
    if !attempt.st.risk.has_hold(attempt.actor, attempt.record_id) {
        return Ok(Earlier::Nothing);
    }
    let latest = attempt
        .st
        .index
        .latest_hold(attempt.actor, attempt.record_id)
        .await?;
    let expiry = attempt.st.config.hold_expiry_secs;
    let Some(h) = latest.map(|row| crate::holds::as_of(row.hold, now, expiry)) else {
        return Ok(Earlier::Nothing);
    };
    let in_force = h.applies_until.is_some_and(|until| until > now);
    Ok(match h.state {
        HoldState::Approved if in_force => Earlier::Approved,
        HoldState::Denied if in_force => Earlier::Denied,
        HoldState::Pending => Earlier::Pending(h.id),
        _ => Earlier::Nothing,
    })
}

/// The attempt's score, or the logged refusal when it cannot be computed (fail closed).
async fn assess(attempt: &Attempt<'_>, emergency: bool) -> Result<Assessment, ApiError> {
    let (st, facts) = match attempt.record {
        Some(facts) => (attempt.st, facts),
        None => {
            let why = "a read scored before its record was found";
            return Err(ApiError::internal("risk", &why));
        }
    };
    let access = access_of(st, attempt.actor, attempt.patient, facts, true, emergency).await;
    let Some(access) = access else {
        let err = ApiError::internal("risk", &"a record of an unknown category");
        return Err(attempt.without_record().refuse_coded(err).await);
    };
    match st.risk.assess(&access).await {
        Ok(a) => {
            if a.note.flagged {
                st.metrics
                    .risk_outcomes
                    .with_label_values(&["flagged"])
                    .inc();
            }
            Ok(a)
        }
        Err(e) => {
            tracing::error!(error = %e, "risk score failed");
            let err = ApiError::unavailable(
                "risk-unavailable",
                "the access-risk model is not available; nothing is released",
            );
            Err(attempt.without_record().refuse_coded(err).await)
        }
    }
}

/// Holds the read for the patient's approval: one pending hold per reader and record, stored in
/// the same transaction as the read's `held` entry. Under the hold lock the patient's latest
/// decision is looked at again, since it may have been made (or the hold made by the reader's
/// concurrent read) since the gate first looked.
async fn hold(attempt: &Attempt<'_>, note: RiskNote, now: u64) -> Result<Released, ApiError> {
    let st = attempt.st;
    let _one_at_a_time = st.risk.hold_creation.lock().await;
    match earlier(attempt, now).await? {
        Earlier::Approved => {
            return Ok(Released {
                note,
                approved: true,
            })
        }
        Earlier::Denied => return Err(refuse_scored(attempt, "hold-denied", note, denied()).await),
        Earlier::Pending(id) => return Err(refuse_scored(attempt, "held", note, held(id)).await),
        Earlier::Nothing => {}
    }
    let id = st.index.next_hold_id().await?;
    let new = NewHold {
        id,
        reader: attempt.actor,
        patient: attempt.patient,
        record_id: attempt.record_id,
        at: now,
        score_milli: note.score_milli,
        reasons: note.reasons.clone(),
    };
    let entry = refused_entry(attempt, "held", note);
    super::logged(
        st,
        st.log.append_with(entry, Write::Hold(Box::new(new))).await,
    )?;
    st.risk.note_hold(attempt.actor, attempt.record_id);
    st.metrics.risk_outcomes.with_label_values(&["held"]).inc();
    Err(held(id))
}

/// The risk step of a read that consent allows (see the module doc).
pub async fn gate(attempt: &Attempt<'_>, emergency: bool) -> Result<Released, ApiError> {
    let now = u64::try_from(crate::now_secs()).unwrap_or(0);
    if !attempt.st.risk.scoring() {
        // Unscored, nothing held; but a patient's signed denial still stands while in force.
        let note = RiskNote::default();
        return match earlier(attempt, now).await? {
            Earlier::Denied => Err(refuse_scored(attempt, "hold-denied", note, denied()).await),
            _ => Ok(Released {
                note,
                approved: false,
            }),
        };
    }
    let assessment = assess(attempt, emergency).await?;
    let note = assessment.note;
    // Never held: an emergency inside its window, and the patient's own read (scored, since a
    // stolen wallet reads like someone else, but there is nobody else to ask).
    if emergency || attempt.actor == attempt.patient {
        return Ok(Released {
            note,
            approved: false,
        });
    }
    let hold_mode = assessment.policy.mode == RiskMode::Hold;
    match earlier(attempt, now).await? {
        Earlier::Approved => Ok(Released {
            note,
            approved: true,
        }),
        Earlier::Denied => Err(refuse_scored(attempt, "hold-denied", note, denied()).await),
        Earlier::Pending(id) if hold_mode => {
            Err(refuse_scored(attempt, "held", note, held(id)).await)
        }
        _ if hold_mode && assessment.above_threshold => hold(attempt, note, now).await,
        _ => Ok(Released {
            note,
            approved: false,
        }),
    }
}
