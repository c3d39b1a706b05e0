//! The `wrapped_deks` table: a record's DEK wrapped to each reader, and the counts and sums that
//! quotas and the console read.

use sqlx::Row;

use super::{state, DbError, Index};

/// A wrapped DEK to store with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DekRow {
    /// Checksummed reader address.
    pub reader: String,
    /// `0x` hex of the 81-byte wrap.
    pub wrap: String,
}

impl Index {
    /// The DEK wrapped to `reader` for a record.
    pub async fn wrapped_dek(
        &self,
        record_id: &str,
        reader: &str,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT wrap FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
            .bind(record_id)
            .bind(reader)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("wrap")).transpose()?)
    }

    /// Adds (or replaces) wrapped DEKs of a record, atomically.
    pub async fn put_wraps(&self, record_id: &str, deks: &[DekRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for d in deks {
            sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
                .bind(record_id)
                .bind(&d.reader)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
                .bind(record_id)
                .bind(&d.reader)
                .bind(&d.wrap)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The readers a record has a wrapped DEK for.
    pub async fn readers_of(&self, record_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT reader FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("reader"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The C1 bytes of `author`'s uploads that are not anchored yet.
    pub async fn pending_bytes_of(&self, author: &str) -> Result<u64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM records WHERE state = $1 AND author = $2",
        )
        .bind(state::PENDING)
        .bind(author)
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

    /// How many wrapped DEKs name `reader` (a checksummed address). For the escrow account these
    /// are the break-glass wraps, which only the break-glass key opens.
    pub async fn count_wraps_for(&self, reader: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE reader = $1")
            .bind(reader)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// How many wrapped DEKs a record has.
    pub async fn count_deks(&self, record_id: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
