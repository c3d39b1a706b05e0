//! The escrow's index through sqlx's `Any` driver, so SQLite (the default, a file in the data
//! directory) and PostgreSQL (`DATABASE_URL=postgres://…`) run the same queries: records and their
//! state, wrapped DEKs, sessions, SIWE nonces, the follower cursor, the access log and its anchors,
//! and shred receipts. The schema is in `escrow-api/migrations/`, embedded in the binary. The SQL
//! is portable: byte strings are lower-case `0x` hex text, times Unix seconds, integers BIGINT.
//!
//! One module per table or pair of tables, each an `impl Index` block with its row types:
//! `records` (a record's lifecycle), `wraps` (wrapped DEKs), `sessions` (nonces and sessions),
//! `cursor` (the follower's next block), `access_log` (entries and anchors), `risk` (the risk policy
//! and held reads), `accounts` (accounts
//! and their history), `roots` (the roots records are anchored under) and `events` (grants, claims
//! and policies, kept from contract events). This
//! file holds the connection, the migrations and the deployment binding.

use std::borrow::Cow;

use alloy_primitives::{Address, B256};
use medledger_protocol::deployment::ContractDeployment;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

mod access_log;
mod accounts;
mod agreements;
mod cursor;
mod events;
mod licensing;
mod records;
mod recovery;
mod relays;
mod risk;
mod roots;
mod sessions;
mod wraps;

pub use access_log::{AnchorRow, LogRow};
pub use accounts::Application;
pub use agreements::NewAcceptance;
pub use events::{
    ClaimRow, ClaimUpdate, GrantRow, GrantTerms, PolicyEvent, PolicyRow, PolicyTerms, Rewound,
};
use records::RECORD_COLUMNS;
pub use records::{Alongside, Anchored, RecordRow, ShredReceipt};
pub use recovery::{NewRelease, StoredKit};
pub use risk::{HoldDecision, HoldRow, NewHold};
pub use roots::RootRow;
pub use sessions::LiveSession;
pub use wraps::DekRow;

pub use medledger_protocol::api::RecordState;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query or connection failed.
    #[error("index: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("index migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite index file or its directory could not be prepared.
    #[error("index file {path}: {source}")]
    File {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored value is not what the escrow wrote.
    #[error("index holds a malformed value in {0}")]
    Corrupt(&'static str),
    /// A row an update expected was changed meanwhile (a hold decided by another request).
    #[error("index: {0} changed meanwhile")]
    Stale(&'static str),
    /// The index follows another deployment than the one configured.
    #[error(
        "the index follows contract {indexed_contract} on chain {indexed_chain}, but the deployment \
         names {contract} on chain {chain}: use a new data directory (or DATABASE_URL) for a new \
         deployment"
    )]
    OtherDeployment {
        /// The chain the index was made for.
        indexed_chain: u64,
        /// The contract the index was made for.
        indexed_contract: String,
        /// The configured chain.
        chain: u64,
        /// The configured contract.
        contract: String,
    },
}

/// The schema's steps, in order: (version, description, SQL). A new table or column is a new
/// file in `escrow-api/migrations/` and a new row here; a landed step never changes.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "index", include_str!("../../migrations/0001_index.sql")),
    (
        2,
        "accounts",
        include_str!("../../migrations/0002_accounts.sql"),
    ),
    (
        3,
        "grants",
        include_str!("../../migrations/0003_grants.sql"),
    ),
    (
        4,
        "claims",
        include_str!("../../migrations/0004_claims.sql"),
    ),
    (
        5,
        "follower_blocks",
        include_str!("../../migrations/0005_follower_blocks.sql"),
    ),
    (
        6,
        "claim_document_record",
        include_str!("../../migrations/0006_claim_document_record.sql"),
    ),
    (
        7,
        "index_binding",
        include_str!("../../migrations/0007_index_binding.sql"),
    ),
    (
        8,
        "account_events",
        include_str!("../../migrations/0008_account_events.sql"),
    ),
    (
        9,
        "record_labels",
        include_str!("../../migrations/0009_record_labels.sql"),
    ),
    (
        10,
        "index_binding_insurance",
        include_str!("../../migrations/0010_index_binding_insurance.sql"),
    ),
    (
        11,
        "record_roots",
        include_str!("../../migrations/0011_record_roots.sql"),
    ),
    (
        12,
        "pending_by_author",
        include_str!("../../migrations/0012_pending_by_author.sql"),
    ),
    (
        13,
        "access_risk",
        include_str!("../../migrations/0013_access_risk.sql"),
    ),
    (
        14,
        "wraps_by_reader",
        include_str!("../../migrations/0014_wraps_by_reader.sql"),
    ),
    (
        15,
        "licence_events",
        include_str!("../../migrations/0015_licence_events.sql"),
    ),
    (
        16,
        "agreement_acceptances",
        include_str!("../../migrations/0016_agreement_acceptances.sql"),
    ),
    (
        17,
        "relayed_transactions",
        include_str!("../../migrations/0017_relayed_transactions.sql"),
    ),
    (
        18,
        "agreement_texts",
        include_str!("../../migrations/0018_agreement_texts.sql"),
    ),
    (
        19,
        "relayed_transactions_time",
        include_str!("../../migrations/0019_relayed_transactions_time.sql"),
    ),
    (
        20,
        "session_wallets",
        include_str!("../../migrations/0020_session_wallets.sql"),
    ),
    (
        21,
        "recovery_kits",
        include_str!("../../migrations/0021_recovery_kits.sql"),
    ),
];

/// The embedded migrations.
pub fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// The file of a `sqlite://` URL, or `None` for another database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// The index's text form of an address: checksummed.
fn address_text(a: Address) -> String {
    a.to_checksum(None)
}

/// The index's text form of a 32-byte value (an id, a hash): lower-case `0x` hex.
fn b256_text(b: B256) -> String {
    b.to_string()
}

/// An address column, or `Corrupt` naming the column when it holds something else.
fn address_in(r: &AnyRow, column: &'static str) -> Result<Address, DbError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|_| DbError::Corrupt(column))
}

/// A 32-byte column (an id, a hash), or `Corrupt` naming the column.
fn b256_in(r: &AnyRow, column: &'static str) -> Result<B256, DbError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|_| DbError::Corrupt(column))
}

/// A non-negative integer column, or `Corrupt` naming the column.
fn u64_in(r: &AnyRow, column: &'static str) -> Result<u64, DbError> {
    let n: i64 = r.try_get(column)?;
    u64::try_from(n).map_err(|_| DbError::Corrupt(column))
}

/// A number the index stores as BIGINT (block numbers, sizes): beyond `i64` is beyond any real
/// value, and saturates.
pub(crate) fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Sets the scrub flag again when dropped while armed (see [`Index::scrub_if_due`]).
struct StillDue<'a>(&'a std::sync::atomic::AtomicBool, bool);

impl Drop for StillDue<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The index.
#[derive(Debug, Clone)]
pub struct Index {
    pool: AnyPool,
    /// SQLite keeps freed pages and WAL frames in its files: erasure must scrub them (PostgreSQL's
    /// storage is the operator's to secure).
    sqlite: bool,
    /// A shred's deleted pages may still sit in the WAL: set by a shred, cleared once a
    /// checkpoint(TRUNCATE) completed (a busy reader can make one give up; the follower retries).
    scrub_due: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn file_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Creates the SQLite file's directory 0700 and the file 0600 before SQLite does (SQLite would use
/// the umask; its -journal and -wal files take the database file's mode), and narrows an existing
/// file to 0600.
fn prepare_sqlite_file(path: &std::path::Path) -> Result<(), DbError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(file_error(dir))?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)
                .map_err(file_error(path))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(file_error(path))?;
            }
            Ok(())
        }
        Err(e) => Err(file_error(path)(e)),
    }
}

impl Index {
    /// Connects (creating a SQLite file 0600 and its directory 0700 as needed). Every SQLite
    /// connection runs with `secure_delete = ON`, so that deleted rows (wrapped DEKs, wrapped K2s)
    /// are overwritten with zeros instead of staying in the file's free space, in WAL mode with
    /// `synchronous = FULL`.
    pub async fn connect(url: &str) -> Result<Index, DbError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if let Some(path) = sqlite_path(url) {
            prepare_sqlite_file(&path)?;
        }
        let mut options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 16 });
        if sqlite {
            // WAL with synchronous FULL: a commit is durable once its frames are appended and the
            // WAL is fsynced (one fsync, where the rollback journal took three or four), and
            // readers no longer wait for the writer. A shred's checkpoint(TRUNCATE) clears old
            // pages out of the WAL (`scrub_if_due`).
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA secure_delete = ON",
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Index {
            pool,
            sqlite,
            // Due at every start: a crash after a shred's commit and before its checkpoint left
            // the old pages in the WAL, and nothing after the restart would shred that record
            // again to set the flag.
            scrub_due: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(sqlite)),
        })
    }

    /// After a shred: moves every WAL frame into the database file (whose freed cells
    /// `secure_delete` zeroed) and truncates the WAL, so no old page with key material stays in
    /// it. A no-op in the rollback-journal modes (SQLite's default, whose journal is deleted at
    /// commit) and on PostgreSQL. Returns whether nothing is left to scrub; when a reader kept
    /// the checkpoint from finishing it stays due and the follower tries again.
    pub async fn scrub_if_due(&self) -> Result<bool, DbError> {
        use std::sync::atomic::Ordering;
        if !self.sqlite || !self.scrub_due.swap(false, Ordering::SeqCst) {
            return Ok(true);
        }
        // Due again unless the checkpoint finishes: on an error, when a reader kept it busy, and
        // when this future is dropped at its await (the escrow stopping mid-checkpoint). The
        // flag is cleared before the checkpoint so that a shred committed during it keeps its
        // own scrub due.
        let mut still_due = StillDue(&self.scrub_due, true);
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        let busy = row.try_get::<i64, _>(0)? != 0;
        still_due.1 = busy;
        Ok(!busy)
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), DbError> {
        migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Ties the index to the deployment it follows on first use, and refuses another core (or
    /// chain) after: rows of two contracts in one index would be served as one. Another insurance
    /// contract beside the same core (redeployed alone) is followed instead of the old one: see
    /// [`Index::follow_insurance`].
    pub async fn bind_to(
        &self,
        chain_id: u64,
        contract: Address,
        insurance: &ContractDeployment,
    ) -> Result<(), DbError> {
        let contract = format!("{contract:#x}");
        let chain = i64::try_from(chain_id).map_err(|_| DbError::Corrupt("chain id"))?;
        sqlx::query(
            "INSERT INTO index_binding (singleton, chain_id, contract, insurance) VALUES (1, $1, $2, $3) \
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(chain)
        .bind(&contract)
        .bind(address_text(insurance.address))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT chain_id, contract, insurance FROM index_binding WHERE singleton = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        let indexed_chain: i64 = row.try_get("chain_id")?;
        let indexed_contract: String = row.try_get("contract")?;
        if indexed_chain != chain || indexed_contract != contract {
            return Err(DbError::OtherDeployment {
                indexed_chain: u64::try_from(indexed_chain)
                    .map_err(|_| DbError::Corrupt("index_binding"))?,
                indexed_contract,
                chain: chain_id,
                contract,
            });
        }
        let indexed_insurance: Option<String> = row.try_get("insurance")?;
        match indexed_insurance {
            Some(a) if a == address_text(insurance.address) => Ok(()),
            _ => self.follow_insurance(insurance).await,
        }
    }

    /// Follows `insurance` from now on: in one transaction, drops what the index derived from any
    /// other insurance contract (claims, their updates, policy events), moves the follower's
    /// cursor back to the new contract's deployment block if it is past it (the core's events in
    /// between are replayed, which changes nothing), forgets the remembered blocks from there, and
    /// records the new address. An index bound before the insurance contract existed gets the
    /// same: its claims came from a core that no longer logs them.
    async fn follow_insurance(&self, insurance: &ContractDeployment) -> Result<(), DbError> {
        let from = db_int(insurance.deploy_block);
        let mut tx = self.pool.begin().await?;
        for table in ["claim_updates", "claims", "policy_events"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE follower_cursor SET next_block = $1 WHERE id = 1 AND next_block > $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM follower_blocks WHERE block >= $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE index_binding SET insurance = $1 WHERE singleton = 1")
            .bind(address_text(insurance.address))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(
            insurance = %insurance.address,
            from_block = insurance.deploy_block,
            "following a new insurance contract: the old one's claims and policies are dropped from the index"
        );
        Ok(())
    }

    /// Writes a consistent copy of a SQLite index to `path` (`VACUUM INTO`).
    pub async fn snapshot_sqlite(&self, path: &str) -> Result<(), DbError> {
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Cheap liveness query.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A migrated index in a new SQLite file, for tests; the file lives as long as the directory.
#[cfg(test)]
pub(crate) async fn scratch_index() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("i.sqlite").display()
    );
    let idx = Index::connect(&url).await.expect("connect");
    idx.migrate().await.expect("migrate");
    (dir, idx)
}

#[cfg(test)]
mod tests;
