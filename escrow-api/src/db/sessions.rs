//! Sign-in: single-use SIWE nonces and the sessions they open (stored by the hash of the token).

use sqlx::Row;

use alloy_primitives::Address;

use super::{address_in, address_text, DbError, Index};

/// A live session as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    /// The account (identity) the session acts as.
    pub address: Address,
    /// The wallet that signed in (the account itself unless a recovery moved it).
    pub wallet: Address,
    /// When it ends (Unix seconds).
    pub expires: i64,
    /// The latest version of the licence agreement the address accepted.
    pub agreement_accepted: Option<u32>,
}

impl Index {
    /// Stores an issued nonce.
    pub async fn insert_nonce(&self, nonce: &str, expires: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO siwe_nonces (nonce, expires) VALUES ($1, $2)")
            .bind(nonce)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a nonce: true exactly once, and only before it expires.
    pub async fn take_nonce(&self, nonce: &str, now: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM siwe_nonces WHERE nonce = $1 AND expires > $2")
            .bind(nonce)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a session by the hash of its id: the account it acts as and the wallet that
    /// signed in.
    pub async fn insert_session(
        &self,
        id_hash: &str,
        (address, wallet): (Address, Address),
        created: i64,
        expires: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, address, wallet, created, expires) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(address_text(address))
        .bind(address_text(wallet))
        .bind(created)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session: its address and expiry, and the latest version of the licence agreement
    /// the address accepted (one query: every request asks).
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<LiveSession>, DbError> {
        let row = sqlx::query(
            "SELECT s.address, s.wallet, s.expires, (SELECT MAX(a.version) FROM agreement_acceptances a \
             WHERE a.account = s.address) AS accepted FROM sessions s \
             WHERE s.id_hash = $1 AND s.expires > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LiveSession {
                address: address_in(&r, "address")?,
                wallet: address_in(&r, "wallet")?,
                expires: r.try_get("expires")?,
                agreement_accepted: super::agreements::version_in(&r, "accepted")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session `wallet` signed in: a recovery retired it (IdentityMoved). The number
    /// ended.
    pub async fn delete_sessions_of_wallet(&self, wallet: Address) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM sessions WHERE wallet = $1")
            .bind(address_text(wallet))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes expired sessions and nonces.
    pub async fn purge_expired(&self, now: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM siwe_nonces WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
