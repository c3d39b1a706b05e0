//! Offline maintenance, run from the CLI. `rotate-master-key` (while no server uses the data
//! directory: both take the master-key file's lock) adds a new master key, re-wraps every K2
//! under it, and only then drops the old keys from the file, so a crash at any point leaves every
//! K2 openable (re-running finishes the job under a further new key).
//!
//! `backup` writes a consistent snapshot of a SQLite index (`VACUUM INTO`, safe beside a running
//! server) and copies of the key files the index depends on (the master keys, which wrap every
//! K2, and the break-glass key, which opens every emergency wrap; 0600) into a new directory;
//! `restore` puts them back into a data directory that has no index (server stopped). Blobs are
//! not part of it (the blob store is backed up by its own means), nor is the escrow account key
//! (the operator's, which signs transactions and opens no record). The follower cursor is in
//! the snapshot, so a restored escrow replays the chain's events since the backup: records erased
//! after the backup are shredded again at the next start. A PostgreSQL index is backed up with
//! PostgreSQL's own tools (`pg_dump`); these commands refuse it.

use std::path::{Path, PathBuf};

use alloy_primitives::hex;
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
    /// A backup or restore precondition.
    #[error("{0}")]
    Refused(String),
    /// Copying files.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> MaintenanceError + '_ {
    move |source| MaintenanceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The key files a backup holds beside the index, by where the escrow keeps them.
#[derive(Debug, Clone, Copy)]
pub struct KeyFiles<'a> {
    /// The master-key file (K2s are wrapped under its keys).
    pub master: &'a Path,
    /// The break-glass key file (emergency wraps are made to it).
    pub break_glass: &'a Path,
}

/// The names of the key files inside a backup directory.
const MASTER_COPY: &str = "master.key";
const BREAK_GLASS_COPY: &str = "break-glass.key";

/// Backs up the index (SQLite) and the key files into the new directory `dest`. A key file the
/// escrow has not made yet (a break-glass key before the first start) is left out.
pub async fn backup(
    database_url: &str,
    keys: KeyFiles<'_>,
    dest: &Path,
) -> Result<Vec<PathBuf>, MaintenanceError> {
    if crate::db::sqlite_path(database_url).is_none() {
        return Err(MaintenanceError::Refused(
            "the index is not SQLite: back it up with the database's own tools (pg_dump)".into(),
        ));
    }
    if dest.exists() {
        return Err(MaintenanceError::Refused(format!(
            "{} exists: a backup goes into a new directory",
            dest.display()
        )));
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dest)
            .map_err(io_at(dest))?;
    }
    let index = Index::connect(database_url).await?;
    let index_copy = dest.join("index.sqlite");
    index
        .snapshot_sqlite(&index_copy.display().to_string())
        .await?;
    copy_private(&index_copy, &index_copy)?;
    let key_copy = dest.join(MASTER_COPY);
    copy_private(keys.master, &key_copy)?;
    let mut written = vec![index_copy, key_copy];
    if keys.break_glass.exists() {
        let bg_copy = dest.join(BREAK_GLASS_COPY);
        copy_private(keys.break_glass, &bg_copy)?;
        written.push(bg_copy);
    }
    Ok(written)
}

/// Copies `from` to `to` as a private (0600) file; the same path only tightens the mode.
fn copy_private(from: &Path, to: &Path) -> Result<(), MaintenanceError> {
    use std::os::unix::fs::PermissionsExt;
    if from == to {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).map_err(io_at(to))?;
        return Ok(());
    }
    keys::check_mode(from)?;
    let bytes = zeroize::Zeroizing::new(std::fs::read(from).map_err(io_at(from))?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| MaintenanceError::Refused(format!("{} is not text", from.display())))?;
    keys::write_new_private(to, text)?;
    Ok(())
}

/// What a restore did about the break-glass key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakGlassRestore {
    /// Copied from the backup, or already there and identical.
    Restored,
    /// The backup has none (made before backups held it): the data directory's own is kept, and
    /// a start refuses to make a new one while the index holds break-glass wraps.
    NotInBackup,
}

/// Restores a backup made by [`backup`] into a data directory without an index. Every check
/// comes before the first write: a refused restore leaves the data directory as it was.
pub async fn restore(
    database_url: &str,
    keys: KeyFiles<'_>,
    src: &Path,
) -> Result<BreakGlassRestore, MaintenanceError> {
    let Some(index_path) = crate::db::sqlite_path(database_url) else {
        return Err(MaintenanceError::Refused(
            "the index is not SQLite: restore it with the database's own tools".into(),
        ));
    };
    let _lock = DataLock::acquire(keys.master)?;
    // The index runs in WAL mode: a WAL (or its shared-memory index) left beside a restored file
    // would be replayed into it, so the old index's companions must go with it.
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{suffix}", index_path.display()));
        if path.exists() {
            return Err(MaintenanceError::Refused(format!(
                "{} exists: move the current index (and its -wal, -shm and -journal files) away before restoring",
                path.display()
            )));
        }
    }
    let index_copy = src.join("index.sqlite");
    let master_copy = src.join(MASTER_COPY);
    let bg_copy = src.join(BREAK_GLASS_COPY);
    keys::check_mode(&master_copy)?;
    let copy_master = needs_copy(&master_copy, keys.master, "master keys (the K2s)")?;
    let bg = if bg_copy.exists() {
        keys::check_mode(&bg_copy)?;
        let copy = needs_copy(
            &bg_copy,
            keys.break_glass,
            "break-glass key (the emergency wraps)",
        )?;
        Some(copy)
    } else {
        None
    };
    if copy_master {
        copy_private(&master_copy, keys.master)?;
    }
    if bg == Some(true) {
        copy_private(&bg_copy, keys.break_glass)?;
    }
    if let Some(dir) = index_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        keys::create_private_dir(dir)?;
    }
    std::fs::copy(&index_copy, &index_path).map_err(io_at(&index_copy))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&index_path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_at(&index_path))?;
    }
    // The copy must open and be at the current schema.
    Index::connect(database_url).await?.migrate().await?;
    Ok(match bg {
        Some(_) => BreakGlassRestore::Restored,
        None => BreakGlassRestore::NotInBackup,
    })
}

/// Whether the backup's key file `copy` must be copied to `target`: yes when `target` does not
/// exist, no when it holds the same bytes, refused when it holds other keys (the backup's data is
/// wrapped under its own).
fn needs_copy(copy: &Path, target: &Path, what: &str) -> Result<bool, MaintenanceError> {
    if !target.exists() {
        return Ok(true);
    }
    let ours = zeroize::Zeroizing::new(std::fs::read(target).map_err(io_at(target))?);
    let theirs = zeroize::Zeroizing::new(std::fs::read(copy).map_err(io_at(copy))?);
    if *ours != *theirs {
        return Err(MaintenanceError::Refused(format!(
            "{} differs from the backup's {what}: move it away first (the backup's data is wrapped under its own)",
            target.display()
        )));
    }
    Ok(false)
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
    for (rid, wrapped_hex) in index.wrapped_k2s().await? {
        let fail = |reason: String| MaintenanceError::Rewrap {
            record: rid.to_string(),
            reason,
        };
        let wrapped = hex::decode(&wrapped_hex).map_err(|_| fail("not hex".into()))?;
        if let Some(new) = tier2::rewrap(&ring, &rid, &wrapped).map_err(|e| fail(e.to_string()))? {
            if index
                .replace_wrapped_k2(rid, &wrapped_hex, &hex::encode_prefixed(new))
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
                record: record.to_string(),
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
