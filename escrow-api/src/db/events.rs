//! The index's tables kept from contract events other than records: consent grants, insurance
//! claims and their updates, and policy events. Rows are keyed by the log's position on chain (block, log index), so a
//! replayed batch inserts nothing twice and the rows of blocks a reorganisation removed can be
//! deleted by block number.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use alloy_primitives::{Address, B256, U256};
use medledger_protocol::api::ClaimStatus;

use super::{address_in, address_text, b256_in, b256_text, db_int, u64_in, DbError, Index};

/// A pair's current grant as the latest `ConsentGranted` left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Who granted.
    pub patient: Address,
    /// Who was granted.
    pub grantee: Address,
    /// The category mask, one bit per category.
    pub categories: U256,
    /// Whether the grantee may add records.
    pub can_write: bool,
    /// Unix seconds (uint64's maximum for an open-ended grant).
    pub expiry: u64,
    /// The block of the `ConsentGranted` event.
    pub block: u64,
}

/// The terms a `ConsentGranted` event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantTerms {
    /// The category mask.
    pub categories: U256,
    /// Whether the grantee may add records.
    pub can_write: bool,
    /// Unix seconds.
    pub expiry: u64,
}

/// A decimal text column as a `U256`, or `Corrupt` naming it.
fn u256_in(r: &AnyRow, column: &'static str) -> Result<U256, DbError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|_| DbError::Corrupt(column))
}

fn grant_from_row(r: &AnyRow) -> Result<GrantRow, DbError> {
    let expiry: String = r.try_get("expiry")?;
    Ok(GrantRow {
        patient: address_in(r, "patient")?,
        grantee: address_in(r, "grantee")?,
        categories: u256_in(r, "categories")?,
        can_write: r.try_get::<i64, _>("can_write")? != 0,
        expiry: expiry.parse().map_err(|_| DbError::Corrupt("expiry"))?,
        block: u64_in(r, "block")?,
    })
}

impl Index {
    /// Records a `ConsentGranted` (`Some(grant)`) or `ConsentRevoked` (`None`) log at
    /// (block, log index); a replay of the same log inserts nothing.
    pub async fn grant_event(
        &self,
        block: u64,
        log_index: u64,
        patient: Address,
        grantee: Address,
        grant: Option<GrantTerms>,
    ) -> Result<(), DbError> {
        let (categories, can_write, expiry) = grant.map_or((U256::ZERO, false, 0), |g| {
            (g.categories, g.can_write, g.expiry)
        });
        sqlx::query(
            "INSERT INTO grants (block, log_index, patient, grantee, revoked, categories, can_write, expiry) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(db_int(block))
        .bind(db_int(log_index))
        .bind(address_text(patient))
        .bind(address_text(grantee))
        .bind(i64::from(grant.is_none()))
        .bind(categories.to_string())
        .bind(i64::from(can_write))
        .bind(expiry.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The current (not revoked) grants whose `column` (patient or grantee) is `address`, oldest
    /// first.
    async fn grants_where(&self, column: &str, address: Address) -> Result<Vec<GrantRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT g.patient AS patient, g.grantee AS grantee, g.categories AS categories, g.can_write AS can_write, g.expiry AS expiry, g.block AS block FROM grants g WHERE g.{column} = $1 AND g.revoked = 0 AND NOT EXISTS (SELECT 1 FROM grants h WHERE h.patient = g.patient AND h.grantee = g.grantee AND (h.block > g.block OR (h.block = g.block AND h.log_index > g.log_index))) ORDER BY g.block, g.log_index"
        ))
        .bind(address_text(address))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// The grants `patient` gave and has not revoked.
    pub async fn grants_given(&self, patient: Address) -> Result<Vec<GrantRow>, DbError> {
        self.grants_where("patient", patient).await
    }

    /// The grants `grantee` received and that were not revoked.
    pub async fn grants_received(&self, grantee: Address) -> Result<Vec<GrantRow>, DbError> {
        self.grants_where("grantee", grantee).await
    }
}

/// A claim as its events left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRow {
    /// The claim's id.
    pub claim_id: B256,
    /// The practitioner who submitted it.
    pub practitioner: Address,
    /// The patient.
    pub patient: Address,
    /// The insurer.
    pub insurer: Address,
    /// The claim document's record id (a Claims record of the patient by the practitioner).
    pub document_record_id: B256,
    /// Wei claimed (the contract's `uint128`).
    pub amount: u128,
    /// Category number.
    pub category: u8,
    /// Block of `ClaimSubmitted`.
    pub submitted_block: u64,
    /// Log index of `ClaimSubmitted`.
    pub log_index: u64,
    /// Timestamp of that block.
    pub submitted_at: u64,
    /// Where it stands.
    pub status: ClaimStatus,
    /// The contract's `PendingReason` when the claim was left for review.
    pub pending_reason: Option<u8>,
    /// Wei approved or paid (only once approved or paid).
    pub payout: Option<u128>,
    /// Whether it was paid on submission (only once paid).
    pub automatic: Option<bool>,
    /// The denial reason hash (only when denied).
    pub deny_reason_hash: Option<B256>,
}

/// What happened to a claim after its submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimUpdate {
    /// `ClaimPendingReview(reason)`.
    PendingReview {
        /// The contract's `PendingReason` number.
        reason: u8,
    },
    /// `ClaimApproved(payout)`.
    Approved {
        /// Wei.
        payout: u128,
    },
    /// `ClaimDenied(reasonHash)`.
    Denied {
        /// The hash of the insurer's reason.
        reason_hash: B256,
    },
    /// `ClaimPaid(payout, automatic)`.
    Paid {
        /// Wei.
        payout: u128,
        /// Settled on submission.
        automatic: bool,
    },
}

/// A policy's terms, as `PolicyPublished` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyTerms {
    /// The mask of covered categories, one bit per category.
    pub covered_categories: U256,
    /// Wei, at most per claim.
    pub per_claim_limit: u128,
    /// Wei, at most per patient and year.
    pub annual_limit: u128,
    /// Wei the patient bears of each claim.
    pub deductible: u128,
}

/// A policy event of the insurance contract, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyEvent {
    /// `PolicyPublished`: the insurer's (new) terms.
    Published(PolicyTerms),
    /// `PolicyFunded`.
    Funded {
        /// Wei added.
        amount: U256,
        /// The policy's funds after it.
        funds: U256,
    },
    /// `PolicyFundsWithdrawn`.
    Withdrawn {
        /// Wei taken out.
        amount: U256,
        /// The policy's funds after it.
        funds: U256,
    },
}

/// The `kind` column of `policy_events`. Its names are the stored text of existing rows: a
/// landed name never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyKind {
    Published,
    Funded,
    Withdrawn,
}

impl PolicyKind {
    const ALL: [PolicyKind; 3] = [
        PolicyKind::Published,
        PolicyKind::Funded,
        PolicyKind::Withdrawn,
    ];

    /// The stored name.
    const fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Published => "published",
            PolicyKind::Funded => "funded",
            PolicyKind::Withdrawn => "withdrawn",
        }
    }

    /// The kind a stored name stands for.
    fn parse(name: &str) -> Option<PolicyKind> {
        PolicyKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl PolicyEvent {
    /// How the event is stored: its kind, terms (`Published` only) and amount and funds (the
    /// others).
    fn stored(&self) -> (PolicyKind, Option<PolicyTerms>, Option<(U256, U256)>) {
        match *self {
            PolicyEvent::Published(terms) => (PolicyKind::Published, Some(terms), None),
            PolicyEvent::Funded { amount, funds } => {
                (PolicyKind::Funded, None, Some((amount, funds)))
            }
            PolicyEvent::Withdrawn { amount, funds } => {
                (PolicyKind::Withdrawn, None, Some((amount, funds)))
            }
        }
    }
}

/// A decimal text column that is NULL where the row's kind has no such value, read where it must
/// have one: `Corrupt` naming the column when it is NULL or not a number.
fn decimal_in<T: std::str::FromStr>(r: &AnyRow, column: &'static str) -> Result<T, DbError> {
    let text: Option<String> = r.try_get(column)?;
    text.and_then(|t| t.parse().ok())
        .ok_or(DbError::Corrupt(column))
}

/// A `policy_events` row (selected with [`POLICY_COLUMNS`]) as the event it stores.
fn policy_event_from_row(r: &AnyRow) -> Result<PolicyEvent, DbError> {
    let kind: String = r.try_get("kind")?;
    let kind = PolicyKind::parse(&kind).ok_or(DbError::Corrupt("kind"))?;
    let amount_and_funds = || -> Result<(U256, U256), DbError> {
        Ok((decimal_in(r, "amount")?, decimal_in(r, "funds")?))
    };
    Ok(match kind {
        PolicyKind::Published => PolicyEvent::Published(PolicyTerms {
            covered_categories: decimal_in(r, "covered_categories")?,
            per_claim_limit: decimal_in(r, "per_claim_limit")?,
            annual_limit: decimal_in(r, "annual_limit")?,
            deductible: decimal_in(r, "deductible")?,
        }),
        PolicyKind::Funded => {
            let (amount, funds) = amount_and_funds()?;
            PolicyEvent::Funded { amount, funds }
        }
        PolicyKind::Withdrawn => {
            let (amount, funds) = amount_and_funds()?;
            PolicyEvent::Withdrawn { amount, funds }
        }
    })
}

const POLICY_COLUMNS: &str =
    "kind, covered_categories, per_claim_limit, annual_limit, deductible, amount, funds, block";

/// An insurer's policy as its events left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// The insurer.
    pub insurer: Address,
    /// The terms of the latest `PolicyPublished`.
    pub terms: PolicyTerms,
    /// The policy's funds after its last `PolicyFunded` / `PolicyFundsWithdrawn` (payouts do not
    /// emit a policy event, so the live figure is the contract's `policyOf`).
    pub funds: U256,
    /// Block of the latest `PolicyPublished`.
    pub published_block: u64,
}

/// A claim's wei column (decimal text) as a `u128`, or `Corrupt` naming it as the claims' other
/// columns are named (`table.column`) when it is NULL or not a `u128`.
fn wei_in(r: &AnyRow, column: &str, name: &'static str) -> Result<u128, DbError> {
    let text: Option<String> = r.try_get(column)?;
    text.and_then(|t| t.parse().ok())
        .ok_or(DbError::Corrupt(name))
}

const CLAIM_COLUMNS: &str = "claim_id, practitioner, patient, insurer, document_record_id, amount, category, submitted_block, log_index, submitted_at";

fn claim_from_row(r: &AnyRow) -> Result<ClaimRow, DbError> {
    let category: i64 = r.try_get("category")?;
    Ok(ClaimRow {
        claim_id: b256_in(r, "claim_id")?,
        practitioner: address_in(r, "practitioner")?,
        patient: address_in(r, "patient")?,
        insurer: address_in(r, "insurer")?,
        document_record_id: b256_in(r, "document_record_id")?,
        amount: wei_in(r, "amount", "claims.amount")?,
        category: u8::try_from(category).map_err(|_| DbError::Corrupt("claims.category"))?,
        submitted_block: u64_in(r, "submitted_block")?,
        log_index: u64_in(r, "log_index")?,
        submitted_at: u64_in(r, "submitted_at")?,
        status: ClaimStatus::Submitted,
        pending_reason: None,
        payout: None,
        automatic: None,
        deny_reason_hash: None,
    })
}

/// Applies one `claim_updates` row to a claim.
fn apply_update(c: &mut ClaimRow, r: &AnyRow) -> Result<(), DbError> {
    let status: String = r.try_get("status")?;
    let status = ClaimStatus::parse(&status).ok_or(DbError::Corrupt("claim_updates.status"))?;
    match status {
        ClaimStatus::PendingReview => {
            let reason: Option<i64> = r.try_get("pending_reason")?;
            c.pending_reason = reason
                .map(u8::try_from)
                .transpose()
                .map_err(|_| DbError::Corrupt("claim_updates.pending_reason"))?;
        }
        ClaimStatus::Approved => c.payout = Some(wei_in(r, "payout", "claim_updates.payout")?),
        ClaimStatus::Denied => {
            let hash: Option<String> = r.try_get("deny_reason_hash")?;
            c.deny_reason_hash = hash
                .map(|h| h.parse())
                .transpose()
                .map_err(|_| DbError::Corrupt("claim_updates.deny_reason_hash"))?;
        }
        ClaimStatus::Paid => {
            c.payout = Some(wei_in(r, "payout", "claim_updates.payout")?);
            c.automatic = r.try_get::<Option<i64>, _>("automatic")?.map(|a| a != 0);
        }
        ClaimStatus::Submitted => {}
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
        .bind(b256_text(c.claim_id))
        .bind(address_text(c.practitioner))
        .bind(address_text(c.patient))
        .bind(address_text(c.insurer))
        .bind(b256_text(c.document_record_id))
        .bind(c.amount.to_string())
        .bind(i64::from(c.category))
        .bind(db_int(c.submitted_block))
        .bind(db_int(c.log_index))
        .bind(db_int(c.submitted_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a claim's later event at (block, log index); a replay inserts nothing.
    pub async fn claim_update(
        &self,
        block: u64,
        log_index: u64,
        claim_id: B256,
        update: &ClaimUpdate,
    ) -> Result<(), DbError> {
        let (status, reason, payout, automatic, deny) = match update {
            ClaimUpdate::PendingReview { reason } => (
                ClaimStatus::PendingReview,
                Some(i64::from(*reason)),
                None,
                None,
                None,
            ),
            ClaimUpdate::Approved { payout } => (
                ClaimStatus::Approved,
                None,
                Some(payout.to_string()),
                None,
                None,
            ),
            ClaimUpdate::Denied { reason_hash } => (
                ClaimStatus::Denied,
                None,
                None,
                None,
                Some(b256_text(*reason_hash)),
            ),
            ClaimUpdate::Paid { payout, automatic } => (
                ClaimStatus::Paid,
                None,
                Some(payout.to_string()),
                Some(i64::from(*automatic)),
                None,
            ),
        };
        sqlx::query(
            "INSERT INTO claim_updates (block, log_index, claim_id, status, pending_reason, payout, automatic, deny_reason_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(db_int(block))
        .bind(db_int(log_index))
        .bind(b256_text(claim_id))
        .bind(status.as_str())
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
    pub async fn claims_of(&self, address: Address) -> Result<Vec<ClaimRow>, DbError> {
        let address = address_text(address);
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM claims WHERE practitioner = $1 OR patient = $1 OR insurer = $1 ORDER BY submitted_block, log_index"
        ))
        .bind(&address)
        .fetch_all(&self.pool)
        .await?;
        let mut claims = rows
            .iter()
            .map(claim_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let updates = sqlx::query(
            "SELECT u.claim_id AS claim_id, u.status AS status, u.pending_reason AS pending_reason, u.payout AS payout, u.automatic AS automatic, u.deny_reason_hash AS deny_reason_hash FROM claim_updates u JOIN claims c ON c.claim_id = u.claim_id WHERE c.practitioner = $1 OR c.patient = $1 OR c.insurer = $1 ORDER BY u.block, u.log_index",
        )
        .bind(&address)
        .fetch_all(&self.pool)
        .await?;
        let at: HashMap<B256, usize> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| (c.claim_id, i))
            .collect();
        for u in &updates {
            let id = b256_in(u, "claim_id")?;
            if let Some(&i) = at.get(&id) {
                apply_update(&mut claims[i], u)?;
            }
        }
        Ok(claims)
    }

    /// How many claims are in each state: `(state, count)` for every state.
    pub async fn claim_counts(&self) -> Result<Vec<(ClaimStatus, i64)>, DbError> {
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
        Ok(ClaimStatus::ALL
            .iter()
            .map(|&s| {
                let n = if s == ClaimStatus::Submitted {
                    total - updated
                } else {
                    counts.get(s.as_str()).copied().unwrap_or(0)
                };
                (s, n)
            })
            .collect())
    }

    /// Records a policy event at (block, log index); a replay inserts nothing.
    pub async fn policy_event(
        &self,
        block: u64,
        log_index: u64,
        insurer: Address,
        event: &PolicyEvent,
    ) -> Result<(), DbError> {
        let (kind, terms, amount_and_funds) = event.stored();
        let decimal = |n: Option<u128>| n.map(|n| n.to_string());
        sqlx::query(
            "INSERT INTO policy_events (block, log_index, insurer, kind, covered_categories, per_claim_limit, annual_limit, deductible, amount, funds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(db_int(block))
        .bind(db_int(log_index))
        .bind(address_text(insurer))
        .bind(kind.as_str())
        .bind(terms.map(|t| t.covered_categories.to_string()))
        .bind(decimal(terms.map(|t| t.per_claim_limit)))
        .bind(decimal(terms.map(|t| t.annual_limit)))
        .bind(decimal(terms.map(|t| t.deductible)))
        .bind(amount_and_funds.map(|(amount, _)| amount.to_string()))
        .bind(amount_and_funds.map(|(_, funds)| funds.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An insurer's policy as its events left it (`None` before its first `PolicyPublished`).
    pub async fn policy(&self, insurer: Address) -> Result<Option<PolicyRow>, DbError> {
        let insurer_text = address_text(insurer);
        let published = PolicyKind::Published.as_str();
        let Some(latest) = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM policy_events WHERE insurer = $1 AND kind = $2 ORDER BY block DESC, log_index DESC LIMIT 1"
        ))
        .bind(&insurer_text)
        .bind(published)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let PolicyEvent::Published(terms) = policy_event_from_row(&latest)? else {
            return Err(DbError::Corrupt("kind"));
        };
        let funding = sqlx::query(&format!(
            "SELECT {POLICY_COLUMNS} FROM policy_events WHERE insurer = $1 AND kind <> $2 ORDER BY block DESC, log_index DESC LIMIT 1"
        ))
        .bind(&insurer_text)
        .bind(published)
        .fetch_optional(&self.pool)
        .await?;
        let funds = match funding.as_ref().map(policy_event_from_row).transpose()? {
            None => U256::ZERO,
            Some(PolicyEvent::Funded { funds, .. } | PolicyEvent::Withdrawn { funds, .. }) => funds,
            Some(PolicyEvent::Published(_)) => return Err(DbError::Corrupt("kind")),
        };
        Ok(Some(PolicyRow {
            insurer,
            terms,
            funds,
            published_block: u64_in(&latest, "block")?,
        }))
    }
}

/// What a rewind undid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewound {
    /// Records committed at or after the rewind point, back to pending.
    pub uncommitted: u64,
    /// Grant, claim, policy, account-event and record-root rows deleted.
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
    pub async fn forget_anchors_from(&self, anchor_index: u64) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM log_anchors WHERE anchor_index >= $1")
                .bind(db_int(anchor_index))
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
    pub async fn accounts_updated_since(&self, from: i64) -> Result<Vec<Address>, DbError> {
        let rows = sqlx::query(
            "SELECT address FROM accounts WHERE updated_block >= $1 AND registered_block < $1",
        )
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| address_in(r, "address")).collect()
    }

    /// Undoes, in one transaction, what the follower derived from blocks `from` and later: those
    /// blocks' grant, claim, policy, account-event, record-root and licence-event rows are deleted, records
    /// committed there (alone or under a root) go back to
    /// pending, accounts registered there are deleted, the accounts in `account_status` get
    /// the status the chain gives them now (as of block `from - 1`, so the replay re-applies the
    /// later events), the remembered hashes of those blocks are forgotten and the cursor is set to
    /// `from`. Shredding is not undone: a destroyed key stays destroyed.
    pub async fn rewind(
        &self,
        from: i64,
        account_status: &[(Address, medledger_protocol::api::AccountStatus)],
    ) -> Result<Rewound, DbError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Rewound::default();
        for (table, column) in [
            ("grants", "block"),
            ("claim_updates", "block"),
            ("claims", "submitted_block"),
            ("policy_events", "block"),
            ("account_events", "block"),
            ("record_roots", "block"),
            ("licence_events", "block"),
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
                .bind(address_text(*address))
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
