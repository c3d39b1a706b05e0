//! The `accounts` table (practitioners, insurers and patients as the chain registered them, with
//! the profile text an applicant submitted) and `account_events`, each account's history.

use std::collections::HashMap;

use medledger_protocol::api::{AccountEvent, AccountKind, AccountStatus};
use sqlx::any::AnyRow;
use sqlx::Row;

use alloy_primitives::{Address, B256};

use super::{address_in, address_text, b256_in, b256_text, db_int, u64_in, DbError, Index};

/// A practitioner's or insurer's account as the index holds it, with its submitted profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The account.
    pub address: Address,
    /// Practitioner or insurer.
    pub kind: AccountKind,
    /// Where it stands.
    pub status: AccountStatus,
    /// The profile hash registered on chain.
    pub profile_hash: B256,
    /// The block it registered in.
    pub registered_block: u64,
    /// The submitted profile text matching the hash, if any.
    pub profile: Option<String>,
}

fn application_from_row(r: &AnyRow) -> Result<Application, DbError> {
    let kind: i64 = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    Ok(Application {
        address: address_in(r, "address")?,
        kind: u8::try_from(kind)
            .ok()
            .and_then(AccountKind::from_chain_number)
            .ok_or(DbError::Corrupt("accounts.kind"))?,
        status: AccountStatus::parse(&status).ok_or(DbError::Corrupt("accounts.status"))?,
        profile_hash: b256_in(r, "profile_hash")?,
        registered_block: u64_in(r, "registered_block")?,
        profile: r.try_get("profile")?,
    })
}

impl Index {
    /// Records a registration (idempotent: a replay keeps the row).
    pub async fn account_registered(
        &self,
        address: Address,
        kind: AccountKind,
        status: AccountStatus,
        profile_hash: B256,
        block: u64,
    ) -> Result<(), DbError> {
        let address = address_text(address);
        let exists = sqlx::query("SELECT address FROM accounts WHERE address = $1")
            .bind(&address)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO accounts (address, kind, status, profile_hash, registered_block, updated_block) VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&address)
            .bind(i64::from(kind.chain_number()))
            .bind(status.as_str())
            .bind(b256_text(profile_hash))
            .bind(db_int(block))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Sets an account's status as of `block` (older events do not overwrite newer ones).
    pub async fn account_status(
        &self,
        address: Address,
        status: AccountStatus,
        block: u64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE accounts SET status = $1, updated_block = $2 WHERE address = $3 AND updated_block <= $2",
        )
        .bind(status.as_str())
        .bind(db_int(block))
        .bind(address_text(address))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A practitioner released by their organisation: Pending again, unless suspended (then it
    /// stays so, as in the contract).
    pub async fn account_released(&self, address: Address, block: u64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE accounts SET status = $1, updated_block = $2 WHERE address = $3 AND updated_block <= $2 AND status <> $4",
        )
        .bind(AccountStatus::Pending.as_str())
        .bind(db_int(block))
        .bind(address_text(address))
        .bind(AccountStatus::Suspended.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an account's event log at (block, log index); a replay inserts nothing.
    pub async fn account_event(
        &self,
        block: u64,
        log_index: u64,
        address: Address,
        event: AccountEvent,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO account_events (block, log_index, address, event) VALUES ($1, $2, $3, $4) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(db_int(block))
        .bind(db_int(log_index))
        .bind(address_text(address))
        .bind(event.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The events of every practitioner and insurer, by address, oldest first.
    pub async fn account_histories(
        &self,
    ) -> Result<HashMap<Address, Vec<(u64, AccountEvent)>>, DbError> {
        let rows = sqlx::query(
            "SELECT e.address AS address, e.block AS block, e.event AS event FROM account_events e JOIN accounts a ON a.address = e.address WHERE a.kind IN ($1, $2) ORDER BY e.block, e.log_index",
        )
        .bind(i64::from(AccountKind::Practitioner.chain_number()))
        .bind(i64::from(AccountKind::Insurer.chain_number()))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<Address, Vec<(u64, AccountEvent)>> = HashMap::new();
        for r in &rows {
            let event: String = r.try_get("event")?;
            let Some(event) = AccountEvent::parse(&event) else {
                return Err(DbError::Corrupt("account_events.event"));
            };
            out.entry(address_in(r, "address")?)
                .or_default()
                .push((u64_in(r, "block")?, event));
        }
        Ok(out)
    }

    /// Stores (or replaces) an account's off-chain profile.
    pub async fn put_profile(
        &self,
        address: Address,
        profile: &str,
        profile_hash: B256,
        at: i64,
    ) -> Result<(), DbError> {
        let (address, profile_hash) = (address_text(address), b256_text(profile_hash));
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM profiles WHERE address = $1")
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO profiles (address, profile, profile_hash, submitted) VALUES ($1, $2, $3, $4)",
        )
        .bind(&address)
        .bind(profile)
        .bind(&profile_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Practitioner and insurer accounts, optionally of one status, with their profile text when
    /// one was submitted for the registered hash, oldest registration first.
    pub async fn applications(
        &self,
        status: Option<AccountStatus>,
    ) -> Result<Vec<Application>, DbError> {
        let rows = sqlx::query(
            "SELECT a.address AS address, a.kind AS kind, a.status AS status, a.profile_hash AS profile_hash, a.registered_block AS registered_block, p.profile AS profile FROM accounts a LEFT JOIN profiles p ON p.address = a.address AND p.profile_hash = a.profile_hash WHERE a.kind IN ($2, $3) AND ($1 = '' OR a.status = $1) ORDER BY a.registered_block, a.address",
        )
        .bind(status.map_or("", AccountStatus::as_str))
        .bind(i64::from(AccountKind::Practitioner.chain_number()))
        .bind(i64::from(AccountKind::Insurer.chain_number()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(application_from_row).collect()
    }
}
