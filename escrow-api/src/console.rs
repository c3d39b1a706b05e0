//! The admin console's data: system health (chain head, follower lag, pending uploads, the last
//! anchor, claims per state) and the access log's refused and flagged entries. Only for a signed-in address that
//! holds the contract's ADMIN role, asked of the chain on every request. An admin sees who
//! accessed which record id and when (no record content: the escrow has none), with the risk
//! score's reasons for flagged entries, and sets the access-risk policy. The page is
//! `escrow-api/api/console.html`.

use axum::extract::State;
use axum::Json;
use medledger_protocol::api::{self, AccountHistoryEntry, AccountStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Session;
use crate::db::{db_int, RecordState};
use crate::error::{ApiError, QueryParams};
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
    let anchored = anchor
        .as_ref()
        .map_or(0, |a| db_int(a.last_seq).saturating_add(1));
    // Entries after the last anchor (the seqs before it may hold a declared gap).
    let next_seq = st.index.last_log().await?.map_or(0, |r| r.seq + 1);
    let unanchored = (next_seq - anchored).max(0);
    let claims: serde_json::Map<String, Value> = st
        .index
        .claim_counts()
        .await?
        .into_iter()
        .map(|(s, n)| (s.to_string(), json!(n)))
        .collect();
    Ok(Json(json!({
        "chainHead": head,
        "followerNextBlock": next,
        "followerLagBlocks": lag,
        "confirmations": st.config.confirmations,
        "records": {
            "pending": st.index.count_state(RecordState::Pending).await?,
            "committed": st.index.count_state(RecordState::Committed).await?,
            "shredded": st.index.count_state(RecordState::Shredded).await?,
        },
        "accessLog": {
            "entries": entries,
            "refused": refused,
            "flagged": flagged,
            "anchored": anchored,
            "unanchored": unanchored,
            "gaps": crate::records::log_gaps(&st).await?,
            "lastAnchor": anchor.as_ref().map(crate::records::log_anchor_of),
        },
        "claims": claims,
        "escrowKey": st.signer.is_some(),
        "relayer": crate::relay::console_status(&st).await?,
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
    QueryParams(q): QueryParams<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &session).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = st.index.recent_log(limit, q.attention).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        // The console's list is for reading, not for checking the chain of hashes.
        let entry = crate::records::log_entry_of(r)?;
        entries.push(api::LogEntry {
            prev_hash: None,
            ..entry
        });
    }
    Ok(Json(json!({ "entries": entries })))
}

/// `GET /api/console/risk`: the risk policy and where the model's reference comes from.
pub async fn risk_status(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<api::RiskStatus>, ApiError> {
    require_admin(&st, &session).await?;
    Ok(Json(st.risk.status()))
}

/// `PUT /api/console/risk`: sets the risk policy (flag or hold, and the threshold).
pub async fn put_risk_policy(
    State(st): State<AppState>,
    session: Session,
    crate::error::JsonBody(policy): crate::error::JsonBody<api::RiskPolicy>,
) -> Result<Json<api::RiskStatus>, ApiError> {
    require_admin(&st, &session).await?;
    if !(1..=1000).contains(&policy.threshold_milli) {
        return Err(ApiError::bad_request(
            "bad-threshold",
            "thresholdMilli is a score × 1000 from 1 to 1000",
        ));
    }
    st.index
        .put_risk_policy(policy, session.address, crate::now_secs())
        .await?;
    st.risk.set_policy(policy);
    tracing::info!(mode = %policy.mode, threshold = policy.threshold_milli, "risk policy set");
    Ok(Json(st.risk.status()))
}

/// Body of `PUT /api/profile`.
#[derive(Debug, Deserialize)]
pub struct ProfileBody {
    /// The exact profile text whose keccak256 the account registered as `profileHash`: a JSON
    /// object with string fields `name`, `licenceNumber` and `organisation`.
    pub profile: String,
}

/// `PUT /api/profile`: a practitioner or insurer submits the off-chain profile behind the profile
/// hash it registered on chain; accepted only when keccak256 of the exact text is that hash.
pub async fn put_profile(
    State(st): State<AppState>,
    session: Session,
    crate::error::JsonBody(body): crate::error::JsonBody<ProfileBody>,
) -> Result<Json<Value>, ApiError> {
    if body.profile.len() > 4096 {
        return Err(ApiError::bad_request(
            "profile-too-large",
            "a profile is at most 4096 bytes",
        ));
    }
    let parsed: Value = serde_json::from_str(&body.profile)
        .map_err(|_| ApiError::bad_request("bad-profile", "the profile is not JSON"))?;
    for field in ["name", "licenceNumber", "organisation"] {
        if !parsed.get(field).is_some_and(Value::is_string) {
            return Err(ApiError::bad_request(
                "bad-profile",
                format!("the profile needs a string field `{field}`"),
            ));
        }
    }
    let hash = alloy_primitives::keccak256(body.profile.as_bytes());
    let registered = st.ledger.profile_hash_of(session.address).await?;
    if registered == alloy_primitives::B256::ZERO || registered != hash {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "profile-hash-mismatch",
            "keccak256 of this profile is not the profile hash your account registered on chain",
        ));
    }
    st.index
        .put_profile(session.address, &body.profile, hash, crate::now_secs())
        .await?;
    Ok(Json(json!({"profileHash": hash})))
}

/// Query of `GET /api/console/applications`.
#[derive(Debug, Deserialize)]
pub struct ApplicationsQuery {
    /// `pending`, `active` or `suspended`; all when absent.
    pub status: Option<AccountStatus>,
}

/// `GET /api/console/applications?status=pending`: practitioner and insurer accounts as the chain's
/// events left them, with their submitted profiles and their history on chain (admins only).
pub async fn applications(
    State(st): State<AppState>,
    session: Session,
    QueryParams(q): QueryParams<ApplicationsQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&st, &session).await?;
    let rows = st.index.applications(q.status).await?;
    let mut histories = st.index.account_histories().await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|a| {
            let history: Vec<AccountHistoryEntry> = histories
                .remove(&a.address)
                .unwrap_or_default()
                .into_iter()
                .map(|(block, event)| AccountHistoryEntry { block, event })
                .collect();
            json!({
                "history": history,
                // Checksummed, as every address the API sends.
                "address": a.address.to_checksum(None),
                "kind": a.kind,
                "status": a.status,
                "profileHash": a.profile_hash,
                "registeredBlock": a.registered_block,
                "profile": a.profile.and_then(|p| serde_json::from_str::<Value>(&p).ok()),
            })
        })
        .collect();
    Ok(Json(json!({ "accounts": out })))
}
