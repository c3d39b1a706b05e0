//! The `records` table: a record from upload (pending) through its anchor (committed) to its
//! erasure (shredded), its blob's place, its wrapped K2, its sealed label and its shred receipt.

use sqlx::any::AnyRow;
use sqlx::Row;

use alloy_primitives::{Address, B256};
use medledger_protocol::record_root::Place;

use super::access_log::insert_log_query;
use super::{
    address_in, address_text, b256_in, b256_text, db_int, u64_in, DbError, DekRow, Index, LogRow,
    RecordState,
};

/// One record in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The record's id.
    pub record_id: B256,
    /// Whose record it is.
    pub patient: Address,
    /// Who uploaded it (the chain's author once committed).
    pub author: Address,
    /// Its category.
    pub category: u8,
    /// The hash of C1.
    pub h1: B256,
    /// Length of C1.
    pub size: u64,
    /// Where C2 is in the blob store (none once shredded).
    pub blob_key: Option<String>,
    /// Length of C2.
    pub c2_size: u64,
    /// Hex of the wrapped K2 (none once shredded).
    pub wrapped_k2: Option<String>,
    /// Where it stands.
    pub state: RecordState,
    /// Upload time (Unix seconds).
    pub created: i64,
    /// The block of `RecordAdded`.
    pub committed_block: Option<u64>,
    /// `0x` hex of the sealed label (none when the uploader sent none, and once shredded).
    pub label: Option<String>,
    /// Its place under a root, for a record anchored by `anchorRecordRoot` (none for one anchored
    /// alone by `addRecord`).
    pub rooted: Option<Place>,
}

pub(super) fn record_from_row(r: &AnyRow) -> Result<RecordRow, DbError> {
    let state: String = r.try_get("state")?;
    let category: i64 = r.try_get("category")?;
    let committed_block: Option<i64> = r.try_get("committed_block")?;
    let rooted = place_in(r)?;
    Ok(RecordRow {
        record_id: b256_in(r, "record_id")?,
        patient: address_in(r, "patient")?,
        author: address_in(r, "author")?,
        category: u8::try_from(category).map_err(|_| DbError::Corrupt("records.category"))?,
        h1: b256_in(r, "h1")?,
        size: u64_in(r, "size")?,
        blob_key: r.try_get("blob_key")?,
        c2_size: u64_in(r, "c2_size")?,
        wrapped_k2: r.try_get("wrapped_k2")?,
        label: r.try_get("label")?,
        state: RecordState::parse(&state).ok_or(DbError::Corrupt("records.state"))?,
        created: r.try_get("created")?,
        committed_block: committed_block
            .map(u64::try_from)
            .transpose()
            .map_err(|_| DbError::Corrupt("records.committed_block"))?,
        rooted,
    })
}

/// The `root`, `leaf_index` and `proof` columns, all NULL or none.
fn place_in(r: &AnyRow) -> Result<Option<Place>, DbError> {
    let root: Option<String> = r.try_get("root")?;
    let index: Option<i64> = r.try_get("leaf_index")?;
    let proof: Option<String> = r.try_get("proof")?;
    let (Some(root), Some(index), Some(proof)) = (root, index, proof) else {
        return Ok(None);
    };
    Place::parse(&format!("{root}:{index}:{proof}"))
        .map(Some)
        .map_err(|_| DbError::Corrupt("records.root"))
}

/// The `root`, `leaf_index` and `proof` columns of a place.
fn place_columns(place: Option<&Place>) -> (Option<String>, Option<i64>, Option<String>) {
    let Some(p) = place else {
        return (None, None, None);
    };
    let proof: Vec<u8> = p.proof.iter().flat_map(|h| h.0).collect();
    (
        Some(b256_text(p.root)),
        Some(i64::from(p.index)),
        Some(alloy_primitives::hex::encode_prefixed(proof)),
    )
}

/// What `shred_receipts.confirm_tx` holds for a receipt the chain had already confirmed.
const ALREADY_CONFIRMED: &str = "already-confirmed";

pub(super) const RECORD_COLUMNS: &str = "record_id, patient, author, category, h1, size, blob_key, c2_size, wrapped_k2, state, created, committed_block, label, root, leaf_index, proof";

/// A record as the chain anchored it (`RecordAdded`). The chain is the truth: a commit takes its
/// category and author, whatever the upload said.
#[derive(Debug, Clone, Copy)]
pub struct Anchored {
    /// The record id.
    pub record_id: B256,
    /// The patient.
    pub patient: Address,
    /// The ciphertext hash h1.
    pub h1: B256,
    /// The category the contract stored.
    pub category: u8,
    /// Who called addRecord.
    pub author: Address,
}

impl Index {
    /// Inserts a pending record with its wrapped DEKs, atomically. Fails on a duplicate id.
    pub async fn insert_pending(&self, r: &RecordRow, deks: &[DekRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        insert_pending_in(&mut tx, r, deks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Access-log entries, each with what it records when it records a write (a pending upload, a
    /// new hold, a hold's decision), in one transaction (all or none): the access log's group
    /// commit. A crash can leave no write without its entry; a duplicate record id, a hold decided
    /// meanwhile, a record shredded already, or an entry whose seq is taken (the primary key
    /// refuses a fork), fails the whole transaction and writes nothing.
    pub async fn insert_logged(
        &self,
        items: &[(&LogRow, Option<Alongside<'_>>)],
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for (entry, alongside) in items {
            match alongside {
                Some(Alongside::Upload(r, deks)) => insert_pending_in(&mut tx, r, deks).await?,
                Some(Alongside::Hold(h)) => super::risk::insert_hold_in(&mut tx, h).await?,
                Some(Alongside::Decision(d)) => super::risk::decide_hold_in(&mut tx, d).await?,
                Some(Alongside::Wraps(record_id, deks)) => {
                    super::wraps::put_wraps_in(&mut tx, *record_id, deks).await?
                }
                Some(Alongside::Rewraps(reader, wraps)) => {
                    super::wraps::replace_wraps_in(&mut tx, *reader, wraps).await?
                }
                Some(Alongside::Acceptance(a)) => {
                    super::agreements::insert_acceptance_in(&mut tx, a, entry).await?
                }
                // The blob key stays in the row: the follower reads it after the commit.
                Some(Alongside::Shred(s)) => shred_in(&mut tx, s).await?,
                None => {}
            }
            insert_log_query(entry).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        if items
            .iter()
            .any(|(_, a)| matches!(a, Some(Alongside::Shred(_))))
        {
            self.shredded();
        }
        Ok(())
    }

    /// One record.
    pub async fn record(&self, record_id: B256) -> Result<Option<RecordRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE record_id = $1"
        ))
        .bind(b256_text(record_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// A patient's records (not shredded), newest first.
    pub async fn records_of(&self, patient: Address) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE patient = $1 AND state <> $2 ORDER BY created DESC, record_id"
        ))
        .bind(address_text(patient))
        .bind(RecordState::Shredded.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Marks a pending record committed when its patient and h1 are the anchored ones, taking the
    /// anchor's category and author (the upload's request may have said otherwise). Returns
    /// whether it was. An upload that named a root is committed only under that root
    /// ([`Index::commit_under_root`]), never by an `addRecord` of the same id.
    pub async fn commit(&self, anchor: &Anchored, block: u64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET state = $1, committed_block = $2, category = $3, author = $4 \
             WHERE record_id = $5 AND patient = $6 AND h1 = $7 AND state = $8 AND root IS NULL",
        )
        .bind(RecordState::Committed.as_str())
        .bind(db_int(block))
        .bind(i64::from(anchor.category))
        .bind(address_text(anchor.author))
        .bind(b256_text(anchor.record_id))
        .bind(address_text(anchor.patient))
        .bind(b256_text(anchor.h1))
        .bind(RecordState::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pending records created before `before`.
    pub async fn stale_pending(&self, before: i64) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE state = $1 AND created < $2"
        ))
        .bind(RecordState::Pending.as_str())
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Deletes a pending record and its wrapped DEKs (TTL expiry). Returns whether it was pending.
    pub async fn delete_pending(&self, record_id: B256) -> Result<bool, DbError> {
        let record_id = b256_text(record_id);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM records WHERE record_id = $1 AND state = $2")
            .bind(&record_id)
            .bind(RecordState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
                .bind(&record_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Shreds a record with no access-log entry, for the index's own tests (the escrow shreds
    /// only through [`Alongside::Shred`], which logs the shred in the same transaction). Returns
    /// the blob key to delete (`Some(None)` when the record had no blob), or `None` when there is
    /// no such record or it was shredded already.
    #[cfg(test)]
    pub async fn shred(&self, s: &ShredReceipt) -> Result<Option<Option<String>>, DbError> {
        let mut tx = self.pool.begin().await?;
        match shred_in(&mut tx, s).await {
            Ok(()) => {}
            Err(DbError::Stale(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        self.shredded();
        let record = self.record(s.record_id).await?;
        Ok(Some(record.and_then(|r| r.blob_key)))
    }

    /// After a shred's commit: the WAL pages holding the old keys are due for scrubbing (see
    /// [`Index::scrub_if_due`]).
    pub fn shredded(&self) {
        self.scrub_due
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Forgets a shredded record's blob key once the blob is deleted.
    pub async fn clear_blob_key(&self, record_id: B256) -> Result<(), DbError> {
        sqlx::query("UPDATE records SET blob_key = NULL WHERE record_id = $1")
            .bind(b256_text(record_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Shredded records whose blob is still to be deleted.
    pub async fn shredded_with_blobs(&self) -> Result<Vec<(B256, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, blob_key FROM records WHERE state = $1 AND blob_key IS NOT NULL",
        )
        .bind(RecordState::Shredded.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((b256_in(r, "record_id")?, r.try_get("blob_key")?)))
            .collect()
    }

    /// Shred receipts not yet confirmed on chain: (record id, receipt hash, the root the record
    /// is under, if any).
    pub async fn unconfirmed_receipts(&self) -> Result<Vec<(B256, B256, Option<B256>)>, DbError> {
        let rows = sqlx::query(
            "SELECT s.record_id, s.receipt_hash, r.root FROM shred_receipts s \
             JOIN records r ON r.record_id = s.record_id \
             WHERE s.confirm_tx IS NULL ORDER BY s.at, s.record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let root = |r: &AnyRow| -> Result<Option<B256>, DbError> {
            let text: Option<String> = r.try_get("root")?;
            text.map(|t| t.parse().map_err(|_| DbError::Corrupt("records.root")))
                .transpose()
        };
        rows.iter()
            .map(|r| {
                Ok((
                    b256_in(r, "record_id")?,
                    b256_in(r, "receipt_hash")?,
                    root(r)?,
                ))
            })
            .collect()
    }

    /// Records the `confirmShredded` transaction, or (`None`) that the chain already held a
    /// confirmation when this escrow sent its own.
    pub async fn set_receipt_confirmed(
        &self,
        record_id: B256,
        tx: Option<B256>,
    ) -> Result<(), DbError> {
        let tx = tx.map_or_else(|| ALREADY_CONFIRMED.to_string(), b256_text);
        sqlx::query("UPDATE shred_receipts SET confirm_tx = $1 WHERE record_id = $2")
            .bind(tx)
            .bind(b256_text(record_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A shred receipt: (receipt JSON, signature hex, receipt hash, confirm tx).
    pub async fn receipt(
        &self,
        record_id: B256,
    ) -> Result<Option<(String, String, String, Option<String>)>, DbError> {
        let row = sqlx::query(
            "SELECT receipt, signature, receipt_hash, confirm_tx FROM shred_receipts WHERE record_id = $1",
        )
        .bind(b256_text(record_id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("receipt")?,
                r.try_get("signature")?,
                r.try_get("receipt_hash")?,
                r.try_get("confirm_tx")?,
            ))
        })
        .transpose()
        .map_err(|e: sqlx::Error| DbError::from(e))
    }

    /// Every stored wrapped K2: (record id, hex).
    pub async fn wrapped_k2s(&self) -> Result<Vec<(B256, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, wrapped_k2 FROM records WHERE wrapped_k2 IS NOT NULL ORDER BY record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((b256_in(r, "record_id")?, r.try_get("wrapped_k2")?)))
            .collect()
    }

    /// Replaces a record's wrapped K2 (master-key rotation), only if it still is `old`.
    pub async fn replace_wrapped_k2(
        &self,
        record_id: B256,
        old: &str,
        new: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET wrapped_k2 = $1 WHERE record_id = $2 AND wrapped_k2 = $3",
        )
        .bind(new)
        .bind(b256_text(record_id))
        .bind(old)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Count of records in a state.
    pub async fn count_state(&self, state: RecordState) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM records WHERE state = $1")
            .bind(state.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// What an access-log entry records, written in the entry's transaction.
#[derive(Debug, Clone, Copy)]
pub enum Alongside<'a> {
    /// A pending upload: the record and its wrapped DEKs.
    Upload(&'a RecordRow, &'a [DekRow]),
    /// A read held for the patient's approval.
    Hold(&'a super::NewHold),
    /// The patient's decision on a pending hold.
    Decision(&'a super::HoldDecision),
    /// An account's acceptance of the licence agreement.
    Acceptance(&'a super::NewAcceptance),
    /// Wrapped DEKs added to a record.
    Wraps(B256, &'a [DekRow]),
    /// A reader's wraps replaced by wraps to their rotated key.
    Rewraps(Address, &'a [(B256, String)]),
    /// A record shredded after its erasure on chain.
    Shred(&'a ShredReceipt),
}

/// A record's shred: its keys, wraps and label destroyed and its signed receipt stored.
#[derive(Debug, Clone)]
pub struct ShredReceipt {
    /// The record.
    pub record_id: B256,
    /// The receipt (JSON) the escrow signed.
    pub receipt: String,
    /// The escrow's signature over it (empty when the escrow has no signing key).
    pub signature: String,
    /// keccak256 of the receipt, confirmed on chain later.
    pub receipt_hash: B256,
    /// When, in seconds since the epoch.
    pub at: i64,
}

/// Shreds a record within `tx`; its blob key stays in the row, for the blob's delete after the
/// commit. `DbError::Stale` when there is no such record or it is shredded already: the
/// transaction, and the access-log entry written in it, are then dropped.
async fn shred_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    s: &ShredReceipt,
) -> Result<(), DbError> {
    let record_id = b256_text(s.record_id);
    // The update first: it checks and claims the record in one statement (no read before a
    // write, which SQLite's WAL could refuse with a snapshot gone stale).
    let claimed = sqlx::query(
        "UPDATE records SET wrapped_k2 = NULL, label = NULL, state = $1, shredded_at = $2 WHERE record_id = $3 AND state <> $1",
    )
    .bind(RecordState::Shredded.as_str())
    .bind(s.at)
    .bind(&record_id)
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(DbError::Stale("the record to shred"));
    }
    sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
        .bind(&record_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO shred_receipts (record_id, receipt, signature, receipt_hash, confirm_tx, at) VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(&record_id)
    .bind(&s.receipt)
    .bind(&s.signature)
    .bind(b256_text(s.receipt_hash))
    .bind(s.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a pending record and its wraps within `tx`.
async fn insert_pending_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &RecordRow,
    deks: &[DekRow],
) -> Result<(), DbError> {
    let (root, leaf_index, proof) = place_columns(r.rooted.as_ref());
    sqlx::query(&format!(
        "INSERT INTO records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    ))
    .bind(b256_text(r.record_id))
    .bind(address_text(r.patient))
    .bind(address_text(r.author))
    .bind(i64::from(r.category))
    .bind(b256_text(r.h1))
    .bind(db_int(r.size))
    .bind(&r.blob_key)
    .bind(db_int(r.c2_size))
    .bind(&r.wrapped_k2)
    .bind(r.state.as_str())
    .bind(r.created)
    .bind(r.committed_block.map(db_int))
    .bind(&r.label)
    .bind(root)
    .bind(leaf_index)
    .bind(proof)
    .execute(&mut **tx)
    .await?;
    for d in deks {
        sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
            .bind(b256_text(r.record_id))
            .bind(address_text(d.reader))
            .bind(&d.wrap)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
