//! The index's tables kept from contract events other than records: consent grants, insurance
//! claims and their updates, and policy events. Rows are keyed by the log's position on chain (block, log index), so a
//! replayed batch inserts nothing twice and the rows of blocks a reorganisation removed can be
//! deleted by block number.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{DbError, Index};

/// A pair's current grant as the latest `ConsentGranted` left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Checksummed patient address.
    pub patient: String,
    /// Checksummed grantee address.
    pub grantee: String,
    /// Decimal uint256 category mask.
    pub categories: String,
    /// Whether the grantee may add records.
    pub can_write: bool,
    /// Decimal uint64 expiry (Unix seconds; uint64's maximum for an open-ended grant).
    pub expiry: String,
    /// The block of the `ConsentGranted` event.
    pub block: i64,
}

fn grant_from_row(r: &AnyRow) -> Result<GrantRow, sqlx::Error> {
    Ok(GrantRow {
        patient: r.try_get("patient")?,
        grantee: r.try_get("grantee")?,
        categories: r.try_get("categories")?,
        can_write: r.try_get::<i64, _>("can_write")? != 0,
        expiry: r.try_get("expiry")?,
        block: r.try_get("block")?,
    })
}

impl Index {
    /// Records a `ConsentGranted` (`Some(grant)`) or `ConsentRevoked` (`None`) log at
    /// (block, log index); a replay of the same log inserts nothing.
    pub async fn grant_event(
        &self,
        block: i64,
        log_index: i64,
        patient: &str,
        grantee: &str,
        grant: Option<(&str, bool, &str)>,
    ) -> Result<(), DbError> {
        let (categories, can_write, expiry) = grant.unwrap_or(("0", false, "0"));
        sqlx::query(
            "INSERT INTO grants (block, log_index, patient, grantee, revoked, categories, can_write, expiry) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(block)
        .bind(log_index)
        .bind(patient)
        .bind(grantee)
        .bind(i64::from(grant.is_none()))
        .bind(categories)
        .bind(i64::from(can_write))
        .bind(expiry)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The current (not revoked) grants whose `column` (patient or grantee) is `address`, oldest
    /// first.
    async fn grants_where(&self, column: &str, address: &str) -> Result<Vec<GrantRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT g.patient AS patient, g.grantee AS grantee, g.categories AS categories, g.can_write AS can_write, g.expiry AS expiry, g.block AS block FROM grants g WHERE g.{column} = $1 AND g.revoked = 0 AND NOT EXISTS (SELECT 1 FROM grants h WHERE h.patient = g.patient AND h.grantee = g.grantee AND (h.block > g.block OR (h.block = g.block AND h.log_index > g.log_index))) ORDER BY g.block, g.log_index"
        ))
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(grant_from_row).collect::<Result<_, _>>()?)
    }

    /// The grants `patient` gave and has not revoked.
    pub async fn grants_given(&self, patient: &str) -> Result<Vec<GrantRow>, DbError> {
        self.grants_where("patient", patient).await
    }

    /// The grants `grantee` received and that were not revoked.
    pub async fn grants_received(&self, grantee: &str) -> Result<Vec<GrantRow>, DbError> {
        self.grants_where("grantee", grantee).await
    }
}

/// Claim states as the API names them.
pub mod claim_status {
    /// Submitted, nothing else seen yet.
    pub const SUBMITTED: &str = "submitted";
    /// Left for the insurer (`ClaimPendingReview`).
    pub const PENDING_REVIEW: &str = "pending-review";
    /// Approved by the insurer, not yet paid.
    pub const APPROVED: &str = "approved";
    /// Denied by the insurer.
    pub const DENIED: &str = "denied";
    /// Paid (automatically on submission, or by the insurer after approval).
    pub const PAID: &str = "paid";
    /// Every state, in the order of the claim's life.
    pub const ALL: [&str; 5] = [SUBMITTED, PENDING_REVIEW, APPROVED, DENIED, PAID];
}

/// A claim as its events left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    /// `0x` hex id.
    pub claim_id: String,
    /// Checksummed practitioner (submitter).
    pub practitioner: String,
    /// Checksummed patient.
    pub patient: String,
    /// Checksummed insurer.
    pub insurer: String,
    /// `0x` hex of the claim document's record id (a Claims record of the patient by the practitioner).
    pub document_record_id: String,
    /// Decimal wei claimed.
    pub amount: String,
    /// Category number.
    pub category: i64,
    /// Block of `ClaimSubmitted`.
    pub submitted_block: i64,
    /// Log index of `ClaimSubmitted`.
    pub log_index: i64,
    /// Timestamp of that block.
    pub submitted_at: i64,
    /// One of [`claim_status::ALL`].
    pub status: String,
    /// The contract's `PendingReason` when the claim was left for review.
    pub pending_reason: Option<i64>,
    /// Decimal wei approved or paid.
    pub payout: Option<String>,
    /// Whether it was paid on submission (only once paid).
    pub automatic: Option<bool>,
    /// `0x` hex of the denial reason hash (only when denied).
    pub deny_reason_hash: Option<String>,
}

/// What happened to a claim after its submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimUpdate {
    /// `ClaimPendingReview(reason)`.
    PendingReview {
        /// The contract's `PendingReason` number.
        reason: i64,
    },
    /// `ClaimApproved(payout)`.
    Approved {
        /// Decimal wei.
        payout: String,
    },
    /// `ClaimDenied(reasonHash)`.
    Denied {
        /// `0x` hex.
        reason_hash: String,
    },
    /// `ClaimPaid(payout, automatic)`.
    Paid {
        /// Decimal wei.
        payout: String,
        /// Settled on submission.
        automatic: bool,
    },
}

/// An insurer's policy as its events left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Checksummed insurer.
    pub insurer: String,
    /// Decimal uint256 mask of covered categories.
    pub covered_categories: String,
    /// Decimal wei.
    pub per_claim_limit: String,
    /// Decimal wei.
    pub annual_limit: String,
    /// Decimal wei.
    pub deductible: String,
    /// The policy's funds after its last `PolicyFunded` / `PolicyFundsWithdrawn` (decimal wei;
    /// payouts do not emit a policy event, so the live figure is the contract's `policyOf`).
    pub funds: String,
    /// Block of the latest `PolicyPublished`.
    pub published_block: i64,
}

const CLAIM_COLUMNS: &str = "claim_id, practitioner, patient, insurer, document_record_id, amount, category, submitted_block, log_index, submitted_at";

fn claim_from_row(r: &AnyRow) -> Result<ClaimRow, sqlx::Error> {
    Ok(ClaimRow {
        claim_id: r.try_get("claim_id")?,
        practitioner: r.try_get("practitioner")?,
        patient: r.try_get("patient")?,
        insurer: r.try_get("insurer")?,
        document_record_id: r.try_get("document_record_id")?,
        amount: r.try_get("amount")?,
        category: r.try_get("category")?,
        submitted_block: r.try_get("submitted_block")?,
        log_index: r.try_get("log_index")?,
        submitted_at: r.try_get("submitted_at")?,
        status: claim_status::SUBMITTED.to_string(),
        pending_reason: None,
        payout: None,
        automatic: None,
        deny_reason_hash: None,
    })
}

/// Applies one `claim_updates` row to a claim.
fn apply_update(c: &mut ClaimRow, r: &AnyRow) -> Result<(), sqlx::Error> {
    let status: String = r.try_get("status")?;
    match status.as_str() {
        claim_status::PENDING_REVIEW => c.pending_reason = r.try_get("pending_reason")?,
        claim_status::APPROVED => c.payout = r.try_get("payout")?,
        claim_status::DENIED => c.deny_reason_hash = r.try_get("deny_reason_hash")?,
        claim_status::PAID => {
            c.payout = r.try_get("payout")?;
            c.automatic = r.try_get::<Option<i64>, _>("automatic")?.map(|a| a != 0);
        }
        _ => {}
    }
    c.status = status;
    Ok(())
}

impl Index {
    /// Records a `ClaimSubmitted` log; a replay inserts nothing.
    pub async fn claim_submitted(&self, c: &ClaimRow) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (claim_id) DO NOTHING"
        ))
        .bind(&c.claim_id)
        .bind(&c.practitioner)
        .bind(&c.patient)
        .bind(&c.insurer)
        .bind(&c.document_record_id)
        .bind(&c.amount)
        .bind(c.category)
        .bind(c.submitted_block)
        .bind(c.log_index)
        .bind(c.submitted_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a claim's later event at (block, log index); a replay inserts nothing.
    pub async fn claim_update(
        &self,
        block: i64,
        log_index: i64,
        claim_id: &str,
        update: &ClaimUpdate,
    ) -> Result<(), DbError> {
        let (status, reason, payout, automatic, deny) = match update {
            ClaimUpdate::PendingReview { reason } => (
                claim_status::PENDING_REVIEW,
                Some(*reason),
                None,
                None,
                None,
            ),
            ClaimUpdate::Approved { payout } => (
                claim_status::APPROVED,
                None,
                Some(payout.as_str()),
                None,
                None,
            ),
            ClaimUpdate::Denied { reason_hash } => (
                claim_status::DENIED,
                None,
                None,
                None,
                Some(reason_hash.as_str()),
            ),
            ClaimUpdate::Paid { payout, automatic } => (
                claim_status::PAID,
                None,
                Some(payout.as_str()),
                Some(i64::from(*automatic)),
                None,
            ),
        };
        sqlx::query(
            "INSERT INTO claim_updates (block, log_index, claim_id, status, pending_reason, payout, automatic, deny_reason_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(block)
        .bind(log_index)
        .bind(claim_id)
        .bind(status)
        .bind(reason)
        .bind(payout)
        .bind(automatic)
        .bind(deny)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The claims `address` is the practitioner, patient or insurer of, oldest first, each in the
    /// state its events left it.
    pub async fn claims_of(&self, address: &str) -> Result<Vec<ClaimRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM claims WHERE practitioner = $1 OR patient = $1 OR insurer = $1 ORDER BY submitted_block, log_index"
        ))
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        let mut claims = rows
            .iter()
            .map(claim_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let updates = sqlx::query(
            "SELECT u.claim_id AS claim_id, u.status AS status, u.pending_reason AS pending_reason, u.payout AS payout, u.automatic AS automatic, u.deny_reason_hash AS deny_reason_hash FROM claim_updates u JOIN claims c ON c.claim_id = u.claim_id WHERE c.practitioner = $1 OR c.patient = $1 OR c.insurer = $1 ORDER BY u.block, u.log_index",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await?;
        let at: HashMap<String, usize> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| (c.claim_id.clone(), i))
            .collect();
        for u in &updates {
            let id: String = u.try_get("claim_id")?;
            if let Some(&i) = at.get(&id) {
                apply_update(&mut claims[i], u)?;
            }
        }
        Ok(claims)
    }

    /// How many claims are in each state: `(state, count)` for every state of
    /// [`claim_status::ALL`].
    pub async fn claim_counts(&self) -> Result<Vec<(&'static str, i64)>, DbError> {
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM claims")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT u.status AS status, COUNT(*) AS n FROM claim_updates u JOIN claims c ON c.claim_id = u.claim_id WHERE NOT EXISTS (SELECT 1 FROM claim_updates v WHERE v.claim_id = u.claim_id AND (v.block > u.block OR (v.block = u.block AND v.log_index > u.log_index))) GROUP BY u.status",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut counts: HashMap<String, i64> = HashMap::new();
        for r in &rows {
            counts.insert(r.try_get("status")?, r.try_get("n")?);
        }
        let updated: i64 = counts.values().sum();
        Ok(claim_status::ALL
            .iter()
            .map(|s| {
                let n = if *s == claim_status::SUBMITTED {
                    total - updated
                } else {
                    counts.get(*s).copied().unwrap_or(0)
                };
                (*s, n)
            })
            .collect())
    }

    /// Records a policy event: `kind` is `published` (with the terms), `funded` or `withdrawn`
    /// (with the amount and the funds after it). A replay inserts nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn policy_event(
        &self,
        block: i64,
        log_index: i64,
        insurer: &str,
        kind: &str,
        terms: Option<[&str; 4]>,
        amount_and_funds: Option<(&str, &str)>,
    ) -> Result<(), DbError> {
        let [covered, per_claim, annual, deductible] = match terms {
            Some(t) => t.map(Some),
            None => [None; 4],
        };
        let (amount, funds) = match amount_and_funds {
            Some((a, f)) => (Some(a), Some(f)),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO policy_events (block, log_index, insurer, kind, covered_categories, per_claim_limit, annual_limit, deductible, amount, funds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(block)
        .bind(log_index)
        .bind(insurer)
        .bind(kind)
        .bind(covered)
        .bind(per_claim)
        .bind(annual)
        .bind(deductible)
        .bind(amount)
        .bind(funds)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An insurer's policy as its events left it (`None` before its first `PolicyPublished`).
    pub async fn policy(&self, insurer: &str) -> Result<Option<PolicyRow>, DbError> {
        let Some(terms) = sqlx::query(
            "SELECT covered_categories, per_claim_limit, annual_limit, deductible, block FROM policy_events WHERE insurer = $1 AND kind = 'published' ORDER BY block DESC, log_index DESC LIMIT 1",
        )
        .bind(insurer)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let funds: Option<String> = sqlx::query(
            "SELECT funds FROM policy_events WHERE insurer = $1 AND kind <> 'published' ORDER BY block DESC, log_index DESC LIMIT 1",
        )
        .bind(insurer)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get("funds"))
        .transpose()?
        .flatten();
        let text = |c: &str| -> Result<String, DbError> {
            terms
                .try_get::<Option<String>, _>(c)?
                .ok_or(DbError::Corrupt("policy_events"))
        };
        Ok(Some(PolicyRow {
            insurer: insurer.to_string(),
            covered_categories: text("covered_categories")?,
            per_claim_limit: text("per_claim_limit")?,
            annual_limit: text("annual_limit")?,
            deductible: text("deductible")?,
            funds: funds.unwrap_or_else(|| "0".to_string()),
            published_block: terms.try_get("block")?,
        }))
    }
}

/// What a rewind undid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewound {
    /// Records committed at or after the rewind point, back to pending.
    pub uncommitted: u64,
    /// Grant, claim and policy rows deleted.
    pub event_rows: u64,
    /// Accounts registered at or after the rewind point, deleted.
    pub accounts_deleted: u64,
}

impl Index {
    /// Remembers the hash of `block` (the last block of a processed batch) and forgets all but
    /// the newest `keep` remembered blocks.
    pub async fn remember_block(&self, block: i64, hash: &str, keep: i64) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM follower_blocks WHERE block >= $1")
            .bind(block)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO follower_blocks (block, hash) VALUES ($1, $2)")
            .bind(block)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM follower_blocks WHERE block < (SELECT MIN(k.block) FROM (SELECT block FROM follower_blocks ORDER BY block DESC LIMIT $1) k)",
        )
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the anchored batches from `anchor_index` on (the contract no longer has them);
    /// returns how many.
    pub async fn forget_anchors_from(&self, anchor_index: i64) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM log_anchors WHERE anchor_index >= $1")
                .bind(anchor_index)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// The remembered blocks, newest first: (block, hash).
    pub async fn remembered_blocks(&self) -> Result<Vec<(i64, String)>, DbError> {
        let rows = sqlx::query("SELECT block, hash FROM follower_blocks ORDER BY block DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("block")?, r.try_get("hash")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Accounts whose status changed at or after `from` (their state must be asked of the chain
    /// when rewinding there).
    pub async fn accounts_updated_since(&self, from: i64) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT address FROM accounts WHERE updated_block >= $1 AND registered_block < $1",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("address"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Undoes, in one transaction, what the follower derived from blocks `from` and later: those
    /// blocks' grant, claim, policy and account-event rows are deleted, records committed there go back to
    /// pending, accounts registered there are deleted, the accounts in `account_status` get
    /// the status the chain gives them now (as of block `from - 1`, so the replay re-applies the
    /// later events), the remembered hashes of those blocks are forgotten and the cursor is set to
    /// `from`. Shredding is not undone: a destroyed key stays destroyed.
    pub async fn rewind(
        &self,
        from: i64,
        account_status: &[(String, medledger_protocol::api::AccountStatus)],
    ) -> Result<Rewound, DbError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Rewound::default();
        for (table, column) in [
            ("grants", "block"),
            ("claim_updates", "block"),
            ("claims", "submitted_block"),
            ("policy_events", "block"),
            ("account_events", "block"),
        ] {
            out.event_rows += sqlx::query(&format!("DELETE FROM {table} WHERE {column} >= $1"))
                .bind(from)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        out.uncommitted = sqlx::query(
            "UPDATE records SET state = $1, committed_block = NULL WHERE state = $2 AND committed_block >= $3",
        )
        .bind(super::RecordState::Pending.as_str())
        .bind(super::RecordState::Committed.as_str())
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        out.accounts_deleted = sqlx::query("DELETE FROM accounts WHERE registered_block >= $1")
            .bind(from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for (address, status) in account_status {
            sqlx::query("UPDATE accounts SET status = $1, updated_block = $2 WHERE address = $3")
                .bind(status.as_str())
                .bind(from - 1)
                .bind(address)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM follower_blocks WHERE block >= $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("UPDATE follower_cursor SET next_block = $1 WHERE id = 1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            sqlx::query("INSERT INTO follower_cursor (id, next_block) VALUES (1, $1)")
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}
