//! The `record_roots` table: the roots records are anchored under (`RecordRootAnchored`), as the
//! chain stored them, and the commit of the uploads that prove a leaf of one.

use alloy_primitives::{Address, B256, U256};
use medledger_protocol::contract::MedLedger::RootedRecord;
use medledger_protocol::record_root::{Place, RootTerms};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{address_in, address_text, b256_text, db_int, u64_in, DbError, Index, RecordRow};
use super::{RecordState, RECORD_COLUMNS};

/// A root as the chain anchored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRow {
    /// The Merkle root.
    pub root: B256,
    /// Whose records its leaves are.
    pub patient: Address,
    /// Who anchored it.
    pub author: Address,
    /// How many leaves.
    pub count: u32,
    /// The categories its leaves may have.
    pub categories: U256,
    /// The block of `RecordRootAnchored`.
    pub block: u64,
}

impl RootRow {
    /// Whether `record` is a leaf of this root as `canReadRooted` would see it: the root's
    /// patient, an index below the count, a category the root allows and a proof of its leaf
    /// (its id, h1, category and index) up to the root.
    pub fn admits(&self, record: &RecordRow) -> bool {
        record.rooted.as_ref().is_some_and(|place| {
            let leaf = place.leaf(record.record_id, record.h1, record.category);
            self.admits_leaf(record.patient, place, &leaf)
        })
    }

    /// [`RootRow::admits`] for a record not stored yet: `patient`'s `leaf` at `place`.
    pub fn admits_leaf(&self, patient: Address, place: &Place, leaf: &RootedRecord) -> bool {
        let terms = RootTerms {
            patient: self.patient,
            count: self.count,
            categories: self.categories,
        };
        place.root == self.root && terms.holds(self.root, patient, leaf, &place.proof)
    }
}

fn root_from_row(r: &AnyRow) -> Result<RootRow, DbError> {
    let categories: String = r.try_get("categories")?;
    Ok(RootRow {
        root: super::b256_in(r, "root")?,
        patient: address_in(r, "patient")?,
        author: address_in(r, "author")?,
        count: u32::try_from(u64_in(r, "leaf_count")?)
            .map_err(|_| DbError::Corrupt("record_roots.leaf_count"))?,
        categories: categories
            .parse()
            .map_err(|_| DbError::Corrupt("record_roots.categories"))?,
        block: u64_in(r, "block")?,
    })
}

impl Index {
    /// Keeps an anchored root (a replayed block keeps it once).
    pub async fn insert_root(&self, root: &RootRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO record_roots (root, patient, author, leaf_count, categories, block) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (root) DO NOTHING",
        )
        .bind(b256_text(root.root))
        .bind(address_text(root.patient))
        .bind(address_text(root.author))
        .bind(i64::from(root.count))
        .bind(root.categories.to_string())
        .bind(db_int(root.block))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An anchored root, when the index has seen it.
    pub async fn root(&self, root: B256) -> Result<Option<RootRow>, DbError> {
        let row = sqlx::query(
            "SELECT root, patient, author, leaf_count, categories, block FROM record_roots WHERE root = $1",
        )
        .bind(b256_text(root))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(root_from_row).transpose()
    }

    /// The pending uploads that name `root` as theirs.
    pub async fn pending_under_root(&self, root: B256) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE root = $1 AND state = $2"
        ))
        .bind(b256_text(root))
        .bind(RecordState::Pending.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::records::record_from_row).collect()
    }

    /// Every record stored under `root`, whatever its state, in record-id order.
    pub async fn records_under_root(&self, root: B256) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE root = $1 ORDER BY record_id"
        ))
        .bind(b256_text(root))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::records::record_from_row).collect()
    }

    /// Commits a pending upload under `root` when [`RootRow::admits`] it, with the root's author
    /// and block (the chain is the truth). Returns whether it was.
    pub async fn commit_under_root(
        &self,
        root: &RootRow,
        record: &RecordRow,
    ) -> Result<bool, DbError> {
        if record.state != RecordState::Pending || !root.admits(record) {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE records SET state = $1, committed_block = $2, author = $3 \
             WHERE record_id = $4 AND root = $5 AND h1 = $6 AND state = $7",
        )
        .bind(RecordState::Committed.as_str())
        .bind(db_int(root.block))
        .bind(address_text(root.author))
        .bind(b256_text(record.record_id))
        .bind(b256_text(root.root))
        .bind(b256_text(record.h1))
        .bind(RecordState::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
