//! The index's tables kept from contract events other than records: consent grants (and, later,
//! claims and policies). Rows are keyed by the log's position on chain (block, log index), so a
//! replayed batch inserts nothing twice and the rows of blocks a reorganisation removed can be
//! deleted by block number.

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
    /// Decimal uint64 expiry (Unix seconds; 0 = none).
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
