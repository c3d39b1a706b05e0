//! The admin console's data: system health (chain head, follower lag, pending uploads, the last
//! anchor) and the access log's refused and flagged entries. Only for a signed-in address that
//! holds the contract's ADMIN role, asked of the chain on every request. An admin sees who
//! accessed which record id and when (no record content: the escrow has none). The console's
//! pages are not built yet; these are the endpoints they will read.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Session;
use crate::db::state;
use crate::error::ApiError;
use crate::server::AppState;

async fn require_admin(st: &AppState, session: &Session) -> Result<(), ApiError> {
    if st.ledger.is_admin(session.address).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not-admin",
            "the console is for accounts holding the contract's ADMIN role",
        ))
    }
}

/// `GET /api/console/summary`.
pub async fn summary(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &session).await?;
    let head = st.ledger.chain().block_number().await?;
    let next = st.index.cursor().await?;
    let lag = next.map(|n| i64::try_from(head).unwrap_or(i64::MAX) + 1 - n);
    let (entries, refused, flagged) = st.index.log_counts().await?;
    let anchor = st.index.last_anchor().await?;
    let anchored = anchor.as_ref().map(|a| a.last_seq + 1).unwrap_or(0);
    Ok(Json(json!({
        "chainHead": head,
        "followerNextBlock": next,
        "followerLagBlocks": lag,
        "confirmations": st.config.confirmations,
        "records": {
            "pending": st.index.count_state(state::PENDING).await?,
            "committed": st.index.count_state(state::COMMITTED).await?,
            "shredded": st.index.count_state(state::SHREDDED).await?,
        },
        "accessLog": {
            "entries": entries,
            "refused": refused,
            "flagged": flagged,
            "anchored": anchored,
            "unanchored": entries - anchored,
            "lastAnchor": anchor.map(|a| json!({"index": a.anchor_index, "firstSeq": a.first_seq, "lastSeq": a.last_seq, "root": a.root, "tx": a.tx_hash})),
        },
        "escrowKey": st.signer.is_some(),
    })))
}

/// Query of `GET /api/console/log`.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// Only refused or flagged entries.
    #[serde(default)]
    pub attention: bool,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// `GET /api/console/log?attention=true&limit=100`: the newest entries, newest first.
pub async fn log(
    State(st): State<AppState>,
    session: Session,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &session).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = st.index.recent_log(limit, q.attention).await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "seq": r.seq, "at": r.at, "actor": r.actor, "patient": r.patient,
                "recordId": r.record_id, "action": r.action, "granted": r.granted,
                "reason": r.reason, "scoreMilli": r.score_milli, "entryHash": r.entry_hash,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
