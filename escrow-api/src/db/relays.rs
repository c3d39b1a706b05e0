//! The `relayed_transactions` table (migration 0017): what the relayer paid for, per account, so
//! that its quota counts every transaction it sent for the account in the window.

use alloy_primitives::{Address, B256};
use sqlx::any::AnyRow;
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

/// A `COUNT(*) AS n, MIN(relayed_at) AS earliest` row.
fn relay_use(row: &AnyRow) -> Result<RelayUse, DbError> {
    let count = u32::try_from(u64_in(row, "n")?).map_err(|_| DbError::Corrupt("count"))?;
    let earliest = row
        .try_get::<Option<i64>, _>("earliest")?
        .map(|t| u64::try_from(t).map_err(|_| DbError::Corrupt("relayed_at")))
        .transpose()?;
    Ok(RelayUse { count, earliest })
}

impl Index {
    /// `account`'s relayed transactions sent at or after `since` (Unix seconds); every account's
    /// when `account` is `None`.
    pub async fn relays_since(
        &self,
        account: Option<Address>,
        since: u64,
    ) -> Result<RelayUse, DbError> {
        // Two queries, so that each uses its index: (account, relayed_at) or (relayed_at).
        let row = match account {
            Some(account) => sqlx::query(
                "SELECT COUNT(*) AS n, MIN(relayed_at) AS earliest FROM relayed_transactions \
                 WHERE account = $1 AND relayed_at >= $2",
            )
            .bind(address_text(account)),
            None => sqlx::query(
                "SELECT COUNT(*) AS n, MIN(relayed_at) AS earliest FROM relayed_transactions \
                 WHERE relayed_at >= $1",
            ),
        }
        .bind(db_int(since))
        .fetch_one(&self.pool)
        .await?;
        relay_use(&row)
    }

    /// Every account's relayed calls of `function` (its Solidity name) sent at or after `since`.
    pub async fn relays_of_since(&self, function: &str, since: u64) -> Result<RelayUse, DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(relayed_at) AS earliest FROM relayed_transactions \
             WHERE relayed_at >= $1 AND function = $2",
        )
        .bind(db_int(since))
        .bind(function)
        .fetch_one(&self.pool)
        .await?;
        relay_use(&row)
    }

    /// Forgets relays sent before `before` (Unix seconds): older than any window counts.
    pub async fn prune_relays(&self, before: u64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM relayed_transactions WHERE relayed_at < $1")
            .bind(db_int(before))
            .execute(&self.pool)
            .await?;
        Ok(())
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
