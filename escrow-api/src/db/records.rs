//! The `records` table: a record from upload (pending) through its anchor (committed) to its
//! erasure (shredded), its blob's place, its wrapped K2, its sealed label and its shred receipt.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::access_log::insert_log_query;
use super::{state, DbError, DekRow, Index, LogRow};

/// One record in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// `0x` hex of the 32-byte id.
    pub record_id: String,
    /// Checksummed patient address.
    pub patient: String,
    /// Checksummed uploader address.
    pub author: String,
    /// Category number.
    pub category: i64,
    /// `0x` hex of h1.
    pub h1: String,
    /// Length of C1.
    pub size: i64,
    /// Where C2 is in the blob store (none once shredded).
    pub blob_key: Option<String>,
    /// Length of C2.
    pub c2_size: i64,
    /// Hex of the wrapped K2 (none once shredded).
    pub wrapped_k2: Option<String>,
    /// pending | committed | shredded.
    pub state: String,
    /// Upload time.
    pub created: i64,
    /// The block of `RecordAdded`.
    pub committed_block: Option<i64>,
    /// `0x` hex of the sealed label (none when the uploader sent none, and once shredded).
    pub label: Option<String>,
}

fn record_from_row(r: &AnyRow) -> Result<RecordRow, sqlx::Error> {
    Ok(RecordRow {
        record_id: r.try_get("record_id")?,
        patient: r.try_get("patient")?,
        author: r.try_get("author")?,
        category: r.try_get("category")?,
        h1: r.try_get("h1")?,
        size: r.try_get("size")?,
        blob_key: r.try_get("blob_key")?,
        c2_size: r.try_get("c2_size")?,
        wrapped_k2: r.try_get("wrapped_k2")?,
        label: r.try_get("label")?,
        state: r.try_get("state")?,
        created: r.try_get("created")?,
        committed_block: r.try_get("committed_block")?,
    })
}

const RECORD_COLUMNS: &str = "record_id, patient, author, category, h1, size, blob_key, c2_size, wrapped_k2, state, created, committed_block, label";

/// A record as the chain anchored it (`RecordAdded`), in the index's text forms. The chain is the
/// truth: a commit takes its category and author, whatever the upload said.
#[derive(Debug, Clone, Copy)]
pub struct Anchored<'a> {
    /// The record id.
    pub record_id: &'a str,
    /// The patient (checksummed).
    pub patient: &'a str,
    /// The ciphertext hash h1.
    pub h1: &'a str,
    /// The category the contract stored.
    pub category: i64,
    /// Who called addRecord (checksummed).
    pub author: &'a str,
}

impl Index {
    /// Inserts a pending record with its wrapped DEKs, atomically. Fails on a duplicate id.
    pub async fn insert_pending(&self, r: &RecordRow, deks: &[DekRow]) -> Result<(), DbError> {
        self.insert_pending_logged(r, deks, None).await
    }

    /// [`Index::insert_pending`] and, when given, the access-log entry that records it, in one
    /// transaction: a crash can leave neither half without the other. Fails on a duplicate id,
    /// and on a log entry whose seq is taken (the primary key refuses a fork), writing nothing.
    pub async fn insert_pending_logged(
        &self,
        r: &RecordRow,
        deks: &[DekRow],
        log: Option<&LogRow>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&r.record_id)
        .bind(&r.patient)
        .bind(&r.author)
        .bind(r.category)
        .bind(&r.h1)
        .bind(r.size)
        .bind(&r.blob_key)
        .bind(r.c2_size)
        .bind(&r.wrapped_k2)
        .bind(&r.state)
        .bind(r.created)
        .bind(r.committed_block)
        .bind(&r.label)
        .execute(&mut *tx)
        .await?;
        for d in deks {
            sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
                .bind(&r.record_id)
                .bind(&d.reader)
                .bind(&d.wrap)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(e) = log {
            insert_log_query(e).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One record.
    pub async fn record(&self, record_id: &str) -> Result<Option<RecordRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE record_id = $1"
        ))
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    /// A patient's records (not shredded), newest first.
    pub async fn records_of(&self, patient: &str) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE patient = $1 AND state <> $2 ORDER BY created DESC, record_id"
        ))
        .bind(patient)
        .bind(state::SHREDDED)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// Marks a pending record committed when its patient and h1 are the anchored ones, taking the
    /// anchor's category and author (the upload's request may have said otherwise). Returns
    /// whether it was.
    pub async fn commit(&self, anchor: &Anchored<'_>, block: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET state = $1, committed_block = $2, category = $3, author = $4 \
             WHERE record_id = $5 AND patient = $6 AND h1 = $7 AND state = $8",
        )
        .bind(state::COMMITTED)
        .bind(block)
        .bind(anchor.category)
        .bind(anchor.author)
        .bind(anchor.record_id)
        .bind(anchor.patient)
        .bind(anchor.h1)
        .bind(state::PENDING)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pending records created before `before`.
    pub async fn stale_pending(&self, before: i64) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE state = $1 AND created < $2"
        ))
        .bind(state::PENDING)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a pending record and its wrapped DEKs (TTL expiry). Returns whether it was pending.
    pub async fn delete_pending(&self, record_id: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM records WHERE record_id = $1 AND state = $2")
            .bind(record_id)
            .bind(state::PENDING)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Destroys a record's keys: deletes its wrapped DEKs, clears its wrapped K2, marks it
    /// shredded and stores the signed receipt, atomically. Returns the blob key to delete, or
    /// `None` when the record was already shredded.
    pub async fn shred(
        &self,
        record_id: &str,
        receipt: &str,
        signature: &str,
        receipt_hash: &str,
        at: i64,
    ) -> Result<Option<Option<String>>, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT blob_key, state FROM records WHERE record_id = $1")
            .bind(record_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let st: String = row.try_get("state")?;
        if st == state::SHREDDED {
            return Ok(None);
        }
        let blob_key: Option<String> = row.try_get("blob_key")?;
        sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE records SET wrapped_k2 = NULL, label = NULL, state = $1, shredded_at = $2 WHERE record_id = $3",
        )
        .bind(state::SHREDDED)
        .bind(at)
        .bind(record_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO shred_receipts (record_id, receipt, signature, receipt_hash, confirm_tx, at) VALUES ($1, $2, $3, $4, NULL, $5)",
        )
        .bind(record_id)
        .bind(receipt)
        .bind(signature)
        .bind(receipt_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.scrub_due
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if !self.scrub_if_due().await? {
            tracing::warn!("the index's WAL could not be truncated after a shred yet; retrying");
        }
        Ok(Some(blob_key))
    }

    /// Forgets a shredded record's blob key once the blob is deleted.
    pub async fn clear_blob_key(&self, record_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE records SET blob_key = NULL WHERE record_id = $1")
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Shredded records whose blob is still to be deleted.
    pub async fn shredded_with_blobs(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, blob_key FROM records WHERE state = $1 AND blob_key IS NOT NULL",
        )
        .bind(state::SHREDDED)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("blob_key")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Shred receipts not yet confirmed on chain: (record id, receipt hash).
    pub async fn unconfirmed_receipts(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, receipt_hash FROM shred_receipts WHERE confirm_tx IS NULL ORDER BY at, record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("receipt_hash")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Records the `confirmShredded` transaction.
    pub async fn set_receipt_confirmed(&self, record_id: &str, tx: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE shred_receipts SET confirm_tx = $1 WHERE record_id = $2")
            .bind(tx)
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A shred receipt: (receipt JSON, signature hex, receipt hash, confirm tx).
    pub async fn receipt(
        &self,
        record_id: &str,
    ) -> Result<Option<(String, String, String, Option<String>)>, DbError> {
        let row = sqlx::query(
            "SELECT receipt, signature, receipt_hash, confirm_tx FROM shred_receipts WHERE record_id = $1",
        )
        .bind(record_id)
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
    pub async fn wrapped_k2s(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, wrapped_k2 FROM records WHERE wrapped_k2 IS NOT NULL ORDER BY record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("wrapped_k2")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Replaces a record's wrapped K2 (master-key rotation), only if it still is `old`.
    pub async fn replace_wrapped_k2(
        &self,
        record_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET wrapped_k2 = $1 WHERE record_id = $2 AND wrapped_k2 = $3",
        )
        .bind(new)
        .bind(record_id)
        .bind(old)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Count of records in a state.
    pub async fn count_state(&self, st: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM records WHERE state = $1")
            .bind(st)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
