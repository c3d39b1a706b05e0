//! What the event follower indexed besides records, for the signed-in caller only: the consent
//! grants they gave or received (`GET /api/grants`) and the insurance claims they are the
//! practitioner, patient or insurer of (`GET /api/claims`). The caller is the session's address;
//! there is no parameter naming anyone else, so nobody sees another party's grants or claims.
//! Also the directory of verified practitioners and insurers (`GET /api/directory`): the names
//! the app shows instead of addresses.

use alloy_primitives::Address;
use axum::extract::State;
use axum::Json;
use medledger_protocol::api::{
    AccountKind, AccountStatus, ClaimList, ClaimSummary, Directory, DirectoryEntry, GrantSummary,
    Grants,
};
use serde_json::Value;

use crate::auth::Session;
use crate::db::{ClaimRow, GrantRow};
use crate::error::ApiError;
use crate::server::AppState;

/// Whether a grant with this expiry (Unix seconds; open-ended grants carry uint64's maximum) is
/// in force at `now` (the latest block's timestamp), as the contract decides it: `now < expiry`.
/// The contract has no "never" value: a grant's expiry is always in the future when granted.
pub fn expiry_active(expiry: u64, now: u64) -> bool {
    expiry > now
}

fn grant_summary(g: &GrantRow, now: u64) -> GrantSummary {
    GrantSummary {
        patient: g.patient,
        grantee: g.grantee,
        categories: g.categories.to_string(),
        allow_write: g.can_write,
        expiry: g.expiry,
        granted_block: g.block,
        active: expiry_active(g.expiry, now),
    }
}

/// `GET /api/grants`: `{"asPatient": [...], "asGrantee": [...]}`, the caller's grants (revoked
/// ones omitted), each with whether it is in force at the latest block.
pub async fn grants(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<Grants>, ApiError> {
    let given = st.index.grants_given(session.address).await?;
    let received = st.index.grants_received(session.address).await?;
    let now = st.ledger.head_timestamp().await?;
    let summaries = |rows: &[GrantRow]| rows.iter().map(|g| grant_summary(g, now)).collect();
    Ok(Json(Grants {
        as_patient: summaries(&given),
        as_grantee: summaries(&received),
    }))
}

fn claim_summary(c: &ClaimRow) -> ClaimSummary {
    ClaimSummary {
        claim_id: c.claim_id,
        practitioner: c.practitioner,
        patient: c.patient,
        insurer: c.insurer,
        document_record_id: c.document_record_id,
        // The wire keeps wei as decimal strings (JSON numbers lose precision beyond 2^53).
        amount: c.amount.to_string(),
        category: c.category,
        status: c.status,
        pending_reason: c.pending_reason,
        payout: c.payout.map(|p| p.to_string()),
        automatic: c.automatic,
        deny_reason_hash: c.deny_reason_hash,
        submitted_block: c.submitted_block,
        submitted_at: c.submitted_at,
    }
}

/// `GET /api/claims`: `{"claims": [...]}`, the claims the caller is the practitioner, patient or
/// insurer of, oldest first, each in the state the chain's events left it.
pub async fn claims(
    State(st): State<AppState>,
    session: Session,
) -> Result<Json<ClaimList>, ApiError> {
    let rows = st.index.claims_of(session.address).await?;
    let claims = rows.iter().map(claim_summary).collect();
    Ok(Json(ClaimList { claims }))
}

/// The public part of a submitted profile: what a patient needs to recognise a practitioner or
/// insurer. The licence number stays with the admins who verify it.
fn directory_entry(address: Address, kind: AccountKind, profile: &str) -> Option<DirectoryEntry> {
    let p: Value = serde_json::from_str(profile).ok()?;
    let text = |field: &str| p.get(field).and_then(Value::as_str).map(str::to_string);
    Some(DirectoryEntry {
        address,
        kind,
        name: text("name")?,
        organisation: text("organisation").unwrap_or_default(),
    })
}

/// `GET /api/directory`: `{"people": [{"address", "kind", "name", "organisation"}]}`, every
/// verified (active) practitioner and insurer whose profile matches its on-chain hash, for any
/// signed-in caller. Pending, suspended and unprofiled accounts are not listed.
pub async fn directory(
    State(st): State<AppState>,
    _session: Session,
) -> Result<Json<Directory>, ApiError> {
    let people = st
        .index
        .applications(Some(AccountStatus::Active))
        .await?
        .iter()
        .filter_map(|a| directory_entry(a.address, a.kind, a.profile.as_deref()?))
        .collect();
    Ok(Json(Directory { people }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_directory_shows_name_and_organisation_never_the_licence() {
        let who = Address::repeat_byte(0xab);
        let e = directory_entry(
            who,
            AccountKind::Practitioner,
            r#"{"name":"Dr. Priya Raman","licenceNumber":"GMC-1","organisation":"St Luke's"}"#,
        )
        .expect("entry");
        let e = serde_json::to_value(e).expect("json");
        assert_eq!(e["name"], "Dr. Priya Raman");
        assert_eq!(e["organisation"], "St Luke's");
        assert_eq!(e["kind"], "practitioner");
        assert!(e.get("licenceNumber").is_none());
        assert!(!e.to_string().contains("GMC-1"));
        assert!(directory_entry(who, AccountKind::Insurer, "not json").is_none());
        assert!(directory_entry(who, AccountKind::Insurer, r#"{"organisation":"x"}"#).is_none());
    }

    use super::*;

    #[test]
    fn in_force_until_the_expiry_second_as_the_contract_decides() {
        assert!(!expiry_active(0, 100), "zero is no open-ended grant");
        assert!(expiry_active(u64::MAX, 1_764_028_800));
        assert!(expiry_active(101, 100));
        assert!(!expiry_active(100, 100));
        assert!(!expiry_active(99, 100));
    }
}
