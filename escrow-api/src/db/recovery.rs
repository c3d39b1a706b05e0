//! The `recovery_kits` and `recovery_releases` tables (migration 0021): each identity's recovery
//! kit, and the shares its guardians re-sealed for a recovering wallet.

use alloy_primitives::{Address, B256};
use medledger_protocol::api::recovery::RecoveryKit;
use sqlx::Row;

use super::{address_in, address_text, b256_text, db_int, u64_in, DbError, Index};

/// A stored kit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKit {
    /// The kit as the patient sent it.
    pub kit: RecoveryKit,
    /// When it was stored (Unix seconds).
    pub stored_at: u64,
}

/// A guardian's re-sealed share to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    /// The identity being recovered.
    pub identity: Address,
    /// The wallet it is for.
    pub new_wallet: Address,
    /// The kit (Manifest::id) the share is of.
    pub kit_id: B256,
    /// The wallet's request number.
    pub request_id: u64,
    /// The guardian's index in the set.
    pub index: u8,
    /// The guardian.
    pub guardian: Address,
    /// The re-sealed share, 0x-hex.
    pub sealed: String,
    /// When (Unix seconds).
    pub at: u64,
}

/// A stored re-sealed share: its index, guardian and the share (0x-hex).
pub type Release = (u8, Address, String);

impl Index {
    /// Stores `kit` as `identity`'s, replacing any kit before it.
    pub async fn put_kit(
        &self,
        identity: Address,
        kit: &RecoveryKit,
        at: u64,
    ) -> Result<(), DbError> {
        let text = serde_json::to_string(kit).map_err(|_| DbError::Corrupt("recovery kit"))?;
        sqlx::query(
            "INSERT INTO recovery_kits (identity, kit, stored_at) VALUES ($1, $2, $3) \
             ON CONFLICT (identity) DO UPDATE SET kit = excluded.kit, stored_at = excluded.stored_at",
        )
        .bind(address_text(identity))
        .bind(text)
        .bind(db_int(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `identity`'s kit, if it stored one.
    pub async fn kit(&self, identity: Address) -> Result<Option<StoredKit>, DbError> {
        let row = sqlx::query("SELECT kit, stored_at FROM recovery_kits WHERE identity = $1")
            .bind(address_text(identity))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("kit")?;
        let kit = serde_json::from_str(&text).map_err(|_| DbError::Corrupt("recovery kit"))?;
        Ok(Some(StoredKit {
            kit,
            stored_at: u64_in(&row, "stored_at")?,
        }))
    }

    /// Stores a guardian's re-sealed share (a second one for the same place replaces the first)
    /// and returns how many guardians have released a share for that request of that kit.
    pub async fn put_release(&self, r: &NewRelease) -> Result<u32, DbError> {
        let (identity, wallet, kit_id) = (
            address_text(r.identity),
            address_text(r.new_wallet),
            b256_text(r.kit_id),
        );
        let request = db_int(r.request_id);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO recovery_releases (identity, new_wallet, kit_id, request_id, share_index, guardian, sealed, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (identity, new_wallet, kit_id, request_id, share_index) \
             DO UPDATE SET sealed = excluded.sealed, released_at = excluded.released_at",
        )
        .bind(&identity)
        .bind(&wallet)
        .bind(&kit_id)
        .bind(request)
        .bind(i64::from(r.index))
        .bind(address_text(r.guardian))
        .bind(&r.sealed)
        .bind(db_int(r.at))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_releases WHERE identity = $1 AND new_wallet = $2 AND kit_id = $3 AND request_id = $4",
        )
        .bind(&identity)
        .bind(&wallet)
        .bind(&kit_id)
        .bind(request)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let n: i64 = row.try_get("n")?;
        u32::try_from(n).map_err(|_| DbError::Corrupt("recovery_releases"))
    }

    /// The shares of kit `kit_id` re-sealed for `new_wallet`'s request `request_id` to take
    /// `identity` over, in index order.
    pub async fn releases(
        &self,
        identity: Address,
        new_wallet: Address,
        kit_id: B256,
        request_id: u64,
    ) -> Result<Vec<Release>, DbError> {
        let rows = sqlx::query(
            "SELECT share_index, guardian, sealed FROM recovery_releases \
             WHERE identity = $1 AND new_wallet = $2 AND kit_id = $3 AND request_id = $4 \
             ORDER BY share_index",
        )
        .bind(address_text(identity))
        .bind(address_text(new_wallet))
        .bind(b256_text(kit_id))
        .bind(db_int(request_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let index: i64 = r.try_get("share_index")?;
                Ok((
                    u8::try_from(index).map_err(|_| DbError::Corrupt("share_index"))?,
                    address_in(r, "guardian")?,
                    r.try_get("sealed")?,
                ))
            })
            .collect()
    }
}
