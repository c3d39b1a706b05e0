//! The `wrapped_deks` table: a record's DEK wrapped to each reader, and the counts and sums that
//! quotas and the console read.

use alloy_primitives::{Address, B256};
use sqlx::Row;

use super::{address_in, address_text, b256_in, b256_text, DbError, Index, RecordState};

/// A wrapped DEK to store with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DekRow {
    /// The reader it is wrapped to.
    pub reader: Address,
    /// `0x` hex of the 81-byte wrap.
    pub wrap: String,
}

/// A page of one reader's wraps, through the index `wrapped_deks_reader` (migration 0014).
pub(super) const WRAPS_HELD_BY: &str = "SELECT w.record_id, r.patient, w.wrap FROM wrapped_deks w JOIN records r ON r.record_id = w.record_id WHERE w.reader = $1 AND w.record_id > $2 AND r.state <> $3 ORDER BY w.record_id LIMIT $4";

impl Index {
    /// The DEK wrapped to `reader` for a record.
    pub async fn wrapped_dek(
        &self,
        record_id: B256,
        reader: Address,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT wrap FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
            .bind(b256_text(record_id))
            .bind(address_text(reader))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("wrap")).transpose()?)
    }

    /// The wrapped DEKs held for `reader` of every record of `patient`, by record id: what a
    /// listing needs in one query instead of one per record.
    pub async fn wrapped_deks_of(
        &self,
        patient: Address,
        reader: Address,
    ) -> Result<std::collections::HashMap<B256, String>, DbError> {
        let rows = sqlx::query(
            "SELECT w.record_id, w.wrap FROM wrapped_deks w JOIN records r ON r.record_id = w.record_id WHERE r.patient = $1 AND w.reader = $2",
        )
        .bind(address_text(patient))
        .bind(address_text(reader))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((b256_in(r, "record_id")?, r.try_get("wrap")?)))
            .collect()
    }

    /// Adds (or replaces) wrapped DEKs of a record, atomically.
    pub async fn put_wraps(&self, record_id: B256, deks: &[DekRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        put_wraps_in(&mut tx, record_id, deks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` of the DEKs wrapped to `reader` of records not erased, by record id, those
    /// after `after`: (record, patient, wrap).
    pub async fn wraps_held_by(
        &self,
        reader: Address,
        after: Option<B256>,
        limit: usize,
    ) -> Result<Vec<(B256, Address, String)>, DbError> {
        // Record ids are stored as lowercase 0x-hex of a fixed length, so text order is id order.
        let after = after.map(b256_text).unwrap_or_default();
        let rows = sqlx::query(WRAPS_HELD_BY)
            .bind(address_text(reader))
            .bind(after)
            .bind(RecordState::Shredded.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    b256_in(r, "record_id")?,
                    address_in(r, "patient")?,
                    r.try_get("wrap")?,
                ))
            })
            .collect()
    }

    /// Replaces `reader`'s wrapped DEKs of these records, all or none: [`DbError::Stale`] (and
    /// nothing written) when `reader` holds no wrap of one of them or it was erased meanwhile.
    pub async fn replace_wraps_of(
        &self,
        reader: Address,
        wraps: &[(B256, String)],
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        replace_wraps_in(&mut tx, reader, wraps).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The readers a record has a wrapped DEK for.
    pub async fn readers_of(&self, record_id: B256) -> Result<Vec<Address>, DbError> {
        let rows = sqlx::query("SELECT reader FROM wrapped_deks WHERE record_id = $1")
            .bind(b256_text(record_id))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| address_in(r, "reader")).collect()
    }

    /// The C1 bytes of `author`'s uploads that are not anchored yet (asked by every upload:
    /// through the index `records_author_state`, so its cost does not grow with other authors'
    /// pending uploads).
    pub async fn pending_bytes_of(&self, author: Address) -> Result<u64, DbError> {
        let row = sqlx::query(PENDING_BYTES)
            .bind(RecordState::Pending.as_str())
            .bind(address_text(author))
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many tier-2 K2s the index holds, each wrapped under a master key: when there are
    /// any, a start without the master-key file must not make a new one.
    pub async fn count_wrapped_k2(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM records WHERE wrapped_k2 IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// How many wrapped DEKs name `reader`. For the escrow account these are the break-glass
    /// wraps, which only the break-glass key opens.
    pub async fn count_wraps_for(&self, reader: Address) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE reader = $1")
            .bind(address_text(reader))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// How many wrapped DEKs a record has.
    pub async fn count_deks(&self, record_id: B256) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE record_id = $1")
            .bind(b256_text(record_id))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// [`Index::pending_bytes_of`]'s query: (state, author).
pub(super) const PENDING_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM records WHERE state = $1 AND author = $2";

/// Stores wrapped DEKs of a record within `tx`, each reader's replacing any it had.
pub(super) async fn put_wraps_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    record_id: B256,
    deks: &[DekRow],
) -> Result<(), DbError> {
    let record_id = b256_text(record_id);
    for d in deks {
        sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
            .bind(&record_id)
            .bind(address_text(d.reader))
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
            .bind(&record_id)
            .bind(address_text(d.reader))
            .bind(&d.wrap)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Replaces `reader`'s wraps of records not erased within `tx`: every one, or `DbError::Stale`.
pub(super) async fn replace_wraps_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    reader: Address,
    wraps: &[(B256, String)],
) -> Result<(), DbError> {
    let reader = address_text(reader);
    for (record_id, wrap) in wraps {
        let done = sqlx::query(
            "UPDATE wrapped_deks SET wrap = $1 WHERE record_id = $2 AND reader = $3 AND EXISTS (SELECT 1 FROM records r WHERE r.record_id = $2 AND r.state <> $4)",
        )
        .bind(wrap)
        .bind(b256_text(*record_id))
        .bind(&reader)
        .bind(RecordState::Shredded.as_str())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DbError::Stale("no wrap of this reader to replace"));
        }
    }
    Ok(())
}
