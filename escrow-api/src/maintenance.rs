//! Offline maintenance of the escrow's keys, run from the CLI while no server uses the data
//! directory (both take the master-key file's lock). `rotate-master-key` adds a new master key,
//! re-wraps every K2 under it, and only then drops the old keys from the file, so a crash at any
//! point leaves every K2 openable (re-running finishes the job under a further new key).

use std::path::Path;

use alloy_primitives::{hex, B256};
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::tier2;

use crate::db::{DbError, Index};
use crate::keys::{self, DataLock, KeyFileError};

/// Why a rotation stopped.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A key file.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The index.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored wrapped K2 does not open or parse (the record is named, never the key).
    #[error("the wrapped K2 of record {record} cannot be re-wrapped: {reason}")]
    Rewrap {
        /// The record.
        record: String,
        /// Why.
        reason: String,
    },
    /// No randomness.
    #[error("no system randomness for a new master key")]
    Random,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The new current key id.
    pub new_key_id: u32,
    /// The ids dropped from the file.
    pub retired: Vec<u32>,
    /// K2s re-wrapped.
    pub rewrapped: usize,
}

impl std::fmt::Display for RotationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "master key rotated to id {}: {} K2s re-wrapped, key ids {:?} removed",
            self.new_key_id, self.rewrapped, self.retired
        )
    }
}

/// Rotates the master key of `path` over every K2 in `index`.
pub async fn rotate_master_key(
    path: &Path,
    index: &Index,
) -> Result<RotationReport, MaintenanceError> {
    let _lock = DataLock::acquire(path)?;
    let old = keys::read_master_key_list(path)?;
    let new_id = old
        .last()
        .map(|(id, _)| id.checked_add(1))
        .unwrap_or(Some(1))
        .ok_or_else(|| MaintenanceError::Rewrap {
            record: "-".into(),
            reason: "key ids exhausted".into(),
        })?;
    let new_key = SecretKey::generate().map_err(|_| MaintenanceError::Random)?;
    // 1. The file holds the old keys and the new, current one.
    let mut all: Vec<(u32, &SecretKey)> = old.iter().map(|(id, k)| (*id, k)).collect();
    all.push((new_id, &new_key));
    keys::write_master_keys(path, &all)?;
    let ring = keys::load_master_keys(path)?.ring;
    // 2. Every K2 re-wrapped under it.
    let mut rewrapped = 0;
    for (record, wrapped_hex) in index.wrapped_k2s().await? {
        let fail = |reason: String| MaintenanceError::Rewrap {
            record: record.clone(),
            reason,
        };
        let rid: B256 = record
            .parse()
            .map_err(|_| fail("malformed record id".into()))?;
        let wrapped = hex::decode(&wrapped_hex).map_err(|_| fail("not hex".into()))?;
        if let Some(new) = tier2::rewrap(&ring, &rid, &wrapped).map_err(|e| fail(e.to_string()))? {
            if index
                .replace_wrapped_k2(&record, &wrapped_hex, &hex::encode_prefixed(new))
                .await?
            {
                rewrapped += 1;
            }
        }
    }
    // 3. Nothing names an old key any more: drop them.
    for (record, wrapped_hex) in index.wrapped_k2s().await? {
        let wrapped = hex::decode(&wrapped_hex).unwrap_or_default();
        if tier2::wrapped_key_id(&wrapped).ok() != Some(new_id) {
            return Err(MaintenanceError::Rewrap {
                record,
                reason: "still wrapped under an old key after the pass; old keys kept".into(),
            });
        }
    }
    keys::write_master_keys(path, &[(new_id, &new_key)])?;
    Ok(RotationReport {
        new_key_id: new_id,
        retired: old.iter().map(|(id, _)| *id).collect(),
        rewrapped,
    })
}
