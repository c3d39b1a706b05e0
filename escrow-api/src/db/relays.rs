//! The `relayed_transactions` table (migration 0017): what the relayer paid for, per account, so
//! that its quota counts every transaction it sent for the account in the window.

use alloy_primitives::{Address, B256};
use sqlx::Row;

use super::{address_text, b256_text, db_int, u64_in, DbError, Index};

/// The relayed transactions of one account in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayUse {
    /// How many.
    pub count: u32,
    /// When the earliest of them was sent (Unix seconds), if any: the window frees its place
    /// `window` seconds after.
    pub earliest: Option<u64>,
}

impl Index {
    /// `account`'s relayed transactions sent at or after `since` (Unix seconds); every account's
    /// when `account` is `None`.
    pub async fn relays_since(
        &self,
        account: Option<Address>,
        since: u64,
    ) -> Result<RelayUse, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(relayed_at) AS earliest FROM relayed_transactions \
             WHERE ($1 = '' OR account = $1) AND relayed_at >= $2",
        )
        .bind(account.map(address_text).unwrap_or_default())
        .bind(db_int(since))
        .fetch_one(&self.pool)
        .await?;
        let count = u32::try_from(u64_in(&row, "n")?).map_err(|_| DbError::Corrupt("count"))?;
        let earliest = row
            .try_get::<Option<i64>, _>("earliest")?
            .map(|t| u64::try_from(t).map_err(|_| DbError::Corrupt("relayed_at")))
            .transpose()?;
        Ok(RelayUse { count, earliest })
    }

    /// Records a transaction the relayer sent for `account`.
    pub async fn record_relay(
        &self,
        account: Address,
        at: u64,
        function: &str,
        tx_hash: B256,
        succeeded: bool,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO relayed_transactions (account, relayed_at, function, tx_hash, succeeded) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(address_text(account))
        .bind(db_int(at))
        .bind(function)
        .bind(b256_text(tx_hash))
        .bind(i64::from(succeeded))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
