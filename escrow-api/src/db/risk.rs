//! What the access-risk engine keeps (docs/risk.md): the deployment's policy (`risk_policy`),
//! reads held for the patient's approval (`holds`), and the two facts a read's features need
//! from the index: the reader's account kind and when their current grant from the patient
//! began.

use alloy_primitives::{Address, B256};
use medledger_protocol::api::{AccountKind, Hold, HoldState, RiskMode, RiskPolicy};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{address_in, address_text, b256_in, b256_text, db_int, u64_in, DbError, Index};

/// A hold as stored: the API's view and the patient's signature over the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// The API's view.
    pub hold: Hold,
    /// The patient's EIP-712 signature over the decision (0x-hex), once decided.
    pub signature: Option<String>,
}

/// A new hold's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// Its number ([`Index::next_hold_id`], taken under the engine's hold lock).
    pub id: u64,
    /// Who asked to read.
    pub reader: Address,
    /// Whose record.
    pub patient: Address,
    /// Which record.
    pub record_id: B256,
    /// When (Unix seconds).
    pub at: u64,
    /// The held read's score × 1000.
    pub score_milli: i64,
    /// Its reasons in words.
    pub reasons: Vec<String>,
}

/// The patient's decision on a pending hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldDecision {
    /// The hold.
    pub id: u64,
    /// Approved or denied.
    pub state: HoldState,
    /// When (Unix seconds).
    pub at: u64,
    /// Until when it applies to the reader's reads of the record.
    pub applies_until: u64,
    /// The patient's signature, 0x-hex.
    pub signature: String,
}

/// Stores a new pending hold inside the access log's transaction.
pub(super) async fn insert_hold_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    h: &NewHold,
) -> Result<(), DbError> {
    let reasons = serde_json::to_string(&h.reasons).map_err(|_| DbError::Corrupt("reasons"))?;
    sqlx::query(
        "INSERT INTO holds (id, reader, patient, record_id, created_at, score_milli, reasons, state) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')",
    )
    .bind(db_int(h.id))
    .bind(address_text(h.reader))
    .bind(address_text(h.patient))
    .bind(b256_text(h.record_id))
    .bind(db_int(h.at))
    .bind(h.score_milli)
    .bind(reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a decision on a pending hold inside the access log's transaction; [`DbError::Stale`]
/// (failing the transaction) when the hold is no longer pending.
pub(super) async fn decide_hold_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &HoldDecision,
) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE holds SET state = $1, decided_at = $2, applies_until = $3, signature = $4 WHERE id = $5 AND state = 'pending'",
    )
    .bind(d.state.as_str())
    .bind(db_int(d.at))
    .bind(db_int(d.applies_until))
    .bind(d.signature.clone())
    .bind(db_int(d.id))
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(DbError::Stale("the hold"))
    }
}

const HOLD_COLUMNS: &str = "id, reader, patient, record_id, created_at, score_milli, reasons, state, decided_at, applies_until, signature";

fn optional_u64(r: &AnyRow, column: &'static str) -> Result<Option<u64>, DbError> {
    let n: Option<i64> = r.try_get(column)?;
    n.map(|n| u64::try_from(n).map_err(|_| DbError::Corrupt(column)))
        .transpose()
}

fn hold_from_row(r: &AnyRow) -> Result<HoldRow, DbError> {
    let state: String = r.try_get("state")?;
    let reasons: String = r.try_get("reasons")?;
    Ok(HoldRow {
        hold: Hold {
            id: u64_in(r, "id")?,
            reader: address_in(r, "reader")?,
            patient: address_in(r, "patient")?,
            record_id: b256_in(r, "record_id")?,
            created_at: u64_in(r, "created_at")?,
            score_milli: r.try_get("score_milli")?,
            reasons: serde_json::from_str(&reasons)
                .map_err(|_| DbError::Corrupt("holds.reasons"))?,
            state: HoldState::parse(&state).ok_or(DbError::Corrupt("holds.state"))?,
            decided_at: optional_u64(r, "decided_at")?,
            applies_until: optional_u64(r, "applies_until")?,
        },
        signature: r.try_get("signature")?,
    })
}

impl Index {
    /// The policy an admin set, if any.
    pub async fn risk_policy(&self) -> Result<Option<RiskPolicy>, DbError> {
        let row = sqlx::query("SELECT mode, threshold_milli FROM risk_policy WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let mode: String = r.try_get("mode")?;
            let threshold: i64 = r.try_get("threshold_milli")?;
            Ok(RiskPolicy {
                mode: RiskMode::parse(&mode).ok_or(DbError::Corrupt("risk_policy.mode"))?,
                threshold_milli: u16::try_from(threshold)
                    .map_err(|_| DbError::Corrupt("risk_policy.threshold_milli"))?,
            })
        })
        .transpose()
    }

    /// Sets the policy.
    pub async fn put_risk_policy(
        &self,
        policy: RiskPolicy,
        by: Address,
        at: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO risk_policy (id, mode, threshold_milli, updated_at, updated_by) VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, threshold_milli = excluded.threshold_milli, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(policy.mode.as_str())
        .bind(i64::from(policy.threshold_milli))
        .bind(at)
        .bind(address_text(by))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What kind of account `address` registered as, if it did.
    pub async fn account_kind(&self, address: Address) -> Result<Option<AccountKind>, DbError> {
        let row = sqlx::query("SELECT kind FROM accounts WHERE address = $1")
            .bind(address_text(address))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let kind: i64 = r.try_get("kind")?;
            u8::try_from(kind)
                .ok()
                .and_then(AccountKind::from_chain_number)
                .ok_or(DbError::Corrupt("accounts.kind"))
        })
        .transpose()
    }

    /// The block in which `grantee`'s current grant from `patient` began: the first grant after
    /// the last revocation, by position on chain (block, then log index; a change of terms does
    /// not restart it); `None` without a grant.
    pub async fn grant_began(
        &self,
        patient: Address,
        grantee: Address,
    ) -> Result<Option<u64>, DbError> {
        let row = sqlx::query(
            "SELECT MIN(g.block) AS began FROM grants g WHERE g.patient = $1 AND g.grantee = $2 AND g.revoked = 0 AND NOT EXISTS (SELECT 1 FROM grants r WHERE r.patient = $1 AND r.grantee = $2 AND r.revoked = 1 AND (r.block > g.block OR (r.block = g.block AND r.log_index > g.log_index)))",
        )
        .bind(address_text(patient))
        .bind(address_text(grantee))
        .fetch_one(&self.pool)
        .await?;
        optional_u64(&row, "began")
    }

    /// The number the next hold gets. Holds are numbered from 1; the caller serialises creation
    /// (the risk engine's hold lock), so the number is still free when the hold is written.
    pub async fn next_hold_id(&self) -> Result<u64, DbError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM holds")
            .fetch_one(&self.pool)
            .await?;
        u64_in(&row, "next")
    }

    /// The newest hold of `reader` on `record_id`.
    pub async fn latest_hold(
        &self,
        reader: Address,
        record_id: B256,
    ) -> Result<Option<HoldRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM holds WHERE reader = $1 AND record_id = $2 ORDER BY id DESC LIMIT 1"
        ))
        .bind(address_text(reader))
        .bind(b256_text(record_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    /// Every (reader, record) pair that has a hold, decided or not.
    pub async fn hold_pairs(&self) -> Result<Vec<(Address, B256)>, DbError> {
        let rows = sqlx::query("SELECT DISTINCT reader, record_id FROM holds")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((address_in(r, "reader")?, b256_in(r, "record_id")?)))
            .collect()
    }

    /// A hold by number.
    pub async fn hold(&self, id: u64) -> Result<Option<HoldRow>, DbError> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1"))
            .bind(db_int(id))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_from_row).transpose()
    }

    /// `patient`'s holds decided at or after `decided_since`, and those still undecided made at or
    /// after `made_since`, newest first (as stored: expiry is the caller's, `holds::as_of`).
    pub async fn holds_of(
        &self,
        patient: Address,
        decided_since: u64,
        made_since: u64,
    ) -> Result<Vec<Hold>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOLD_COLUMNS} FROM holds WHERE patient = $1 AND ((state = 'pending' AND created_at >= $3) OR decided_at >= $2) ORDER BY id DESC LIMIT 500"
        ))
        .bind(address_text(patient))
        .bind(db_int(decided_since))
        .bind(db_int(made_since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| hold_from_row(r).map(|h| h.hold))
            .collect()
    }
}
