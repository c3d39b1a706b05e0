//! The escrow's index through sqlx's `Any` driver, so SQLite (the default, a file in the data
//! directory) and PostgreSQL (`DATABASE_URL=postgres://…`) run the same queries: records and their
//! state, wrapped DEKs, sessions, SIWE nonces, the follower cursor, the access log and its anchors,
//! and shred receipts. The schema is in `escrow-api/migrations/`, embedded in the binary. The SQL
//! is portable: byte strings are lower-case `0x` hex text, times Unix seconds, integers BIGINT.

use std::borrow::Cow;
use std::collections::HashMap;

use alloy_primitives::Address;
use medledger_protocol::api::{AccountEvent, AccountKind, AccountStatus};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

mod events;
pub use events::{claim_status, ClaimRow, ClaimUpdate, GrantRow, PolicyRow, Rewound};

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

/// The embedded migrations.
pub fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![
            Migration::new(
                1,
                Cow::Borrowed("index"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0001_index.sql")),
                false,
            ),
            Migration::new(
                2,
                Cow::Borrowed("accounts"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0002_accounts.sql")),
                false,
            ),
            Migration::new(
                3,
                Cow::Borrowed("grants"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0003_grants.sql")),
                false,
            ),
            Migration::new(
                4,
                Cow::Borrowed("claims"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0004_claims.sql")),
                false,
            ),
            Migration::new(
                5,
                Cow::Borrowed("follower_blocks"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0005_follower_blocks.sql")),
                false,
            ),
            Migration::new(
                6,
                Cow::Borrowed("claim_document_record"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0006_claim_document_record.sql")),
                false,
            ),
            Migration::new(
                7,
                Cow::Borrowed("index_binding"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0007_index_binding.sql")),
                false,
            ),
            Migration::new(
                8,
                Cow::Borrowed("account_events"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0008_account_events.sql")),
                false,
            ),
            Migration::new(
                9,
                Cow::Borrowed("record_labels"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../migrations/0009_record_labels.sql")),
                false,
            ),
        ]),
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

/// Record states.
pub mod state {
    /// Stored, not yet anchored on chain.
    pub const PENDING: &str = "pending";
    /// Anchored by `RecordAdded` with the same h1.
    pub const COMMITTED: &str = "committed";
    /// Erased on chain; K2, wrapped DEKs and blob destroyed.
    pub const SHREDDED: &str = "shredded";
}

/// One record in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// `0x` hex of the 32-byte id.
    pub record_id: String,
    /// Checksummed patient address.
    pub patient: String,
    /// Checksummed uploader address.
    pub author: String,
    /// Category number.
    pub category: i64,
    /// `0x` hex of h1.
    pub h1: String,
    /// Length of C1.
    pub size: i64,
    /// Where C2 is in the blob store (none once shredded).
    pub blob_key: Option<String>,
    /// Length of C2.
    pub c2_size: i64,
    /// Hex of the wrapped K2 (none once shredded).
    pub wrapped_k2: Option<String>,
    /// pending | committed | shredded.
    pub state: String,
    /// Upload time.
    pub created: i64,
    /// The block of `RecordAdded`.
    pub committed_block: Option<i64>,
    /// `0x` hex of the sealed label (none when the uploader sent none, and once shredded).
    pub label: Option<String>,
}

fn record_from_row(r: &AnyRow) -> Result<RecordRow, sqlx::Error> {
    Ok(RecordRow {
        record_id: r.try_get("record_id")?,
        patient: r.try_get("patient")?,
        author: r.try_get("author")?,
        category: r.try_get("category")?,
        h1: r.try_get("h1")?,
        size: r.try_get("size")?,
        blob_key: r.try_get("blob_key")?,
        c2_size: r.try_get("c2_size")?,
        wrapped_k2: r.try_get("wrapped_k2")?,
        label: r.try_get("label")?,
        state: r.try_get("state")?,
        created: r.try_get("created")?,
        committed_block: r.try_get("committed_block")?,
    })
}

const RECORD_COLUMNS: &str = "record_id, patient, author, category, h1, size, blob_key, c2_size, wrapped_k2, state, created, committed_block, label";

/// A practitioner's or insurer's account as the index holds it, with its submitted profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Checksummed address.
    pub address: String,
    /// Practitioner or insurer.
    pub kind: AccountKind,
    /// Where it stands.
    pub status: AccountStatus,
    /// `0x` hex of the profile hash registered on chain.
    pub profile_hash: String,
    /// The block it registered in.
    pub registered_block: i64,
    /// The submitted profile text matching the hash, if any.
    pub profile: Option<String>,
}

fn application_from_row(r: &AnyRow) -> Result<Application, DbError> {
    let kind: i64 = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    Ok(Application {
        address: r.try_get("address")?,
        kind: u8::try_from(kind)
            .ok()
            .and_then(AccountKind::from_chain_number)
            .ok_or(DbError::Corrupt("accounts.kind"))?,
        status: AccountStatus::parse(&status).ok_or(DbError::Corrupt("accounts.status"))?,
        profile_hash: r.try_get("profile_hash")?,
        registered_block: r.try_get("registered_block")?,
        profile: r.try_get("profile")?,
    })
}

/// One access-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Sequence number from 0.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who asked (session address, or the escrow itself for shred entries).
    pub actor: String,
    /// Whose record.
    pub patient: String,
    /// Which record (`0x` hex).
    pub record_id: String,
    /// read | upload | shred | …
    pub action: String,
    /// Released or refused.
    pub granted: bool,
    /// Why (a short code).
    pub reason: String,
    /// Anomaly score × 1000 (placeholder until the kNN model).
    pub score_milli: i64,
    /// The previous entry's hash (zero for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub entry_hash: String,
}

fn log_from_row(r: &AnyRow) -> Result<LogRow, sqlx::Error> {
    Ok(LogRow {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        patient: r.try_get("patient")?,
        record_id: r.try_get("record_id")?,
        action: r.try_get("action")?,
        granted: r.try_get::<i64, _>("granted")? != 0,
        reason: r.try_get("reason")?,
        score_milli: r.try_get("score_milli")?,
        prev_hash: r.try_get("prev_hash")?,
        entry_hash: r.try_get("entry_hash")?,
    })
}

const LOG_COLUMNS: &str =
    "seq, at, actor, patient, record_id, action, granted, reason, score_milli, prev_hash, entry_hash";
const INSERT_LOG: &str = "INSERT INTO access_log (seq, at, actor, patient, record_id, action, granted, reason, score_milli, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// A record as the chain anchored it (`RecordAdded`), in the index's text forms. The chain is the
/// truth: a commit takes its category and author, whatever the upload said.
#[derive(Debug, Clone, Copy)]
pub struct Anchored<'a> {
    /// The record id.
    pub record_id: &'a str,
    /// The patient (checksummed).
    pub patient: &'a str,
    /// The ciphertext hash h1.
    pub h1: &'a str,
    /// The category the contract stored.
    pub category: i64,
    /// Who called addRecord (checksummed).
    pub author: &'a str,
}

/// An anchored access-log batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRow {
    /// The contract's anchor index.
    pub anchor_index: i64,
    /// First entry.
    pub first_seq: i64,
    /// Last entry (inclusive).
    pub last_seq: i64,
    /// Merkle root (`0x` hex).
    pub root: String,
    /// The anchoring transaction.
    pub tx_hash: String,
}

/// A wrapped DEK to store with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DekRow {
    /// Checksummed reader address.
    pub reader: String,
    /// `0x` hex of the 81-byte wrap.
    pub wrap: String,
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
    /// are overwritten with zeros instead of staying in the file's free space.
    pub async fn connect(url: &str) -> Result<Index, DbError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if let Some(path) = sqlite_path(url) {
            prepare_sqlite_file(&path)?;
        }
        let mut options = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 16 });
        if sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA secure_delete = ON")
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Index {
            pool,
            sqlite,
            scrub_due: Default::default(),
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
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await;
        let busy = match row {
            Ok(row) => row.try_get::<i64, _>(0)? != 0,
            Err(e) => {
                self.scrub_due.store(true, Ordering::SeqCst);
                return Err(e.into());
            }
        };
        if busy {
            self.scrub_due.store(true, Ordering::SeqCst);
        }
        Ok(!busy)
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), DbError> {
        migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Ties the index to the deployment it follows on first use, and refuses another one after:
    /// rows of two contracts (or chains) in one index would be served as one.
    pub async fn bind_to(&self, chain_id: u64, contract: Address) -> Result<(), DbError> {
        let contract = format!("{contract:#x}");
        let chain = i64::try_from(chain_id).map_err(|_| DbError::Corrupt("chain id"))?;
        sqlx::query(
            "INSERT INTO index_binding (singleton, chain_id, contract) VALUES (1, $1, $2) \
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(chain)
        .bind(&contract)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT chain_id, contract FROM index_binding WHERE singleton = 1")
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

    // ---------------------------------------------------------------- records

    /// Inserts a pending record with its wrapped DEKs, atomically. Fails on a duplicate id.
    pub async fn insert_pending(&self, r: &RecordRow, deks: &[DekRow]) -> Result<(), DbError> {
        self.insert_pending_logged(r, deks, None).await
    }

    /// [`Index::insert_pending`] and, when given, the access-log entry that records it, in one
    /// transaction: a crash can leave neither half without the other. Fails on a duplicate id,
    /// and on a log entry whose seq is taken (the primary key refuses a fork), writing nothing.
    pub async fn insert_pending_logged(
        &self,
        r: &RecordRow,
        deks: &[DekRow],
        log: Option<&LogRow>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&r.record_id)
        .bind(&r.patient)
        .bind(&r.author)
        .bind(r.category)
        .bind(&r.h1)
        .bind(r.size)
        .bind(&r.blob_key)
        .bind(r.c2_size)
        .bind(&r.wrapped_k2)
        .bind(&r.state)
        .bind(r.created)
        .bind(r.committed_block)
        .bind(&r.label)
        .execute(&mut *tx)
        .await?;
        for d in deks {
            sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
                .bind(&r.record_id)
                .bind(&d.reader)
                .bind(&d.wrap)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(e) = log {
            insert_log_query(e).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One record.
    pub async fn record(&self, record_id: &str) -> Result<Option<RecordRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE record_id = $1"
        ))
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    /// A patient's records (not shredded), newest first.
    pub async fn records_of(&self, patient: &str) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE patient = $1 AND state <> $2 ORDER BY created DESC, record_id"
        ))
        .bind(patient)
        .bind(state::SHREDDED)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// Marks a pending record committed when its patient and h1 are the anchored ones, taking the
    /// anchor's category and author (the upload's request may have said otherwise). Returns
    /// whether it was.
    pub async fn commit(&self, anchor: &Anchored<'_>, block: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET state = $1, committed_block = $2, category = $3, author = $4 \
             WHERE record_id = $5 AND patient = $6 AND h1 = $7 AND state = $8",
        )
        .bind(state::COMMITTED)
        .bind(block)
        .bind(anchor.category)
        .bind(anchor.author)
        .bind(anchor.record_id)
        .bind(anchor.patient)
        .bind(anchor.h1)
        .bind(state::PENDING)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pending records created before `before`.
    pub async fn stale_pending(&self, before: i64) -> Result<Vec<RecordRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE state = $1 AND created < $2"
        ))
        .bind(state::PENDING)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a pending record and its wrapped DEKs (TTL expiry). Returns whether it was pending.
    pub async fn delete_pending(&self, record_id: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM records WHERE record_id = $1 AND state = $2")
            .bind(record_id)
            .bind(state::PENDING)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Destroys a record's keys: deletes its wrapped DEKs, clears its wrapped K2, marks it
    /// shredded and stores the signed receipt, atomically. Returns the blob key to delete, or
    /// `None` when the record was already shredded.
    pub async fn shred(
        &self,
        record_id: &str,
        receipt: &str,
        signature: &str,
        receipt_hash: &str,
        at: i64,
    ) -> Result<Option<Option<String>>, DbError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT blob_key, state FROM records WHERE record_id = $1")
            .bind(record_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let st: String = row.try_get("state")?;
        if st == state::SHREDDED {
            return Ok(None);
        }
        let blob_key: Option<String> = row.try_get("blob_key")?;
        sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE records SET wrapped_k2 = NULL, label = NULL, state = $1, shredded_at = $2 WHERE record_id = $3",
        )
        .bind(state::SHREDDED)
        .bind(at)
        .bind(record_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO shred_receipts (record_id, receipt, signature, receipt_hash, confirm_tx, at) VALUES ($1, $2, $3, $4, NULL, $5)",
        )
        .bind(record_id)
        .bind(receipt)
        .bind(signature)
        .bind(receipt_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.scrub_due
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if !self.scrub_if_due().await? {
            tracing::warn!("the index's WAL could not be truncated after a shred yet; retrying");
        }
        Ok(Some(blob_key))
    }

    /// Forgets a shredded record's blob key once the blob is deleted.
    pub async fn clear_blob_key(&self, record_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE records SET blob_key = NULL WHERE record_id = $1")
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Shredded records whose blob is still to be deleted.
    pub async fn shredded_with_blobs(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, blob_key FROM records WHERE state = $1 AND blob_key IS NOT NULL",
        )
        .bind(state::SHREDDED)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("blob_key")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Shred receipts not yet confirmed on chain: (record id, receipt hash).
    pub async fn unconfirmed_receipts(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, receipt_hash FROM shred_receipts WHERE confirm_tx IS NULL ORDER BY at, record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("receipt_hash")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Records the `confirmShredded` transaction.
    pub async fn set_receipt_confirmed(&self, record_id: &str, tx: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE shred_receipts SET confirm_tx = $1 WHERE record_id = $2")
            .bind(tx)
            .bind(record_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A shred receipt: (receipt JSON, signature hex, receipt hash, confirm tx).
    pub async fn receipt(
        &self,
        record_id: &str,
    ) -> Result<Option<(String, String, String, Option<String>)>, DbError> {
        let row = sqlx::query(
            "SELECT receipt, signature, receipt_hash, confirm_tx FROM shred_receipts WHERE record_id = $1",
        )
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("receipt")?,
                r.try_get("signature")?,
                r.try_get("receipt_hash")?,
                r.try_get("confirm_tx")?,
            ))
        })
        .transpose()
        .map_err(|e: sqlx::Error| DbError::from(e))
    }

    /// Every stored wrapped K2: (record id, hex).
    pub async fn wrapped_k2s(&self) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query(
            "SELECT record_id, wrapped_k2 FROM records WHERE wrapped_k2 IS NOT NULL ORDER BY record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("record_id")?, r.try_get("wrapped_k2")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Replaces a record's wrapped K2 (master-key rotation), only if it still is `old`.
    pub async fn replace_wrapped_k2(
        &self,
        record_id: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE records SET wrapped_k2 = $1 WHERE record_id = $2 AND wrapped_k2 = $3",
        )
        .bind(new)
        .bind(record_id)
        .bind(old)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Count of records in a state.
    pub async fn count_state(&self, st: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM records WHERE state = $1")
            .bind(st)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    // ---------------------------------------------------------------- wrapped DEKs

    /// The DEK wrapped to `reader` for a record.
    pub async fn wrapped_dek(
        &self,
        record_id: &str,
        reader: &str,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query("SELECT wrap FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
            .bind(record_id)
            .bind(reader)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("wrap")).transpose()?)
    }

    /// Adds (or replaces) wrapped DEKs of a record, atomically.
    pub async fn put_wraps(&self, record_id: &str, deks: &[DekRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for d in deks {
            sqlx::query("DELETE FROM wrapped_deks WHERE record_id = $1 AND reader = $2")
                .bind(record_id)
                .bind(&d.reader)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO wrapped_deks (record_id, reader, wrap) VALUES ($1, $2, $3)")
                .bind(record_id)
                .bind(&d.reader)
                .bind(&d.wrap)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The readers a record has a wrapped DEK for.
    pub async fn readers_of(&self, record_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query("SELECT reader FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("reader"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// The C1 bytes of `author`'s uploads that are not anchored yet.
    pub async fn pending_bytes_of(&self, author: &str) -> Result<u64, DbError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM records WHERE state = $1 AND author = $2",
        )
        .bind(state::PENDING)
        .bind(author)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many tier-2 K2s the index holds, each wrapped under a master key: when there are
    /// any, a start without the master-key file must not make a new one.
    pub async fn count_wrapped_k2(&self) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM records WHERE wrapped_k2 IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// How many wrapped DEKs name `reader` (a checksummed address). For the escrow account these
    /// are the break-glass wraps, which only the break-glass key opens.
    pub async fn count_wraps_for(&self, reader: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE reader = $1")
            .bind(reader)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// How many wrapped DEKs a record has.
    pub async fn count_deks(&self, record_id: &str) -> Result<i64, DbError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wrapped_deks WHERE record_id = $1")
            .bind(record_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    // ---------------------------------------------------------------- sign-in

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

    /// Stores a session by the hash of its id.
    pub async fn insert_session(
        &self,
        id_hash: &str,
        address: &str,
        created: i64,
        expires: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, address, created, expires) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(address)
        .bind(created)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The address and expiry of a live session.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<(String, i64)>, DbError> {
        let row = sqlx::query(
            "SELECT address, expires FROM sessions WHERE id_hash = $1 AND expires > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("address")?, r.try_get("expires")?)))
            .transpose()
            .map_err(|e: sqlx::Error| DbError::from(e))
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    // ---------------------------------------------------------------- follower cursor

    /// The next block to follow, if any was stored.
    pub async fn cursor(&self) -> Result<Option<i64>, DbError> {
        let row = sqlx::query("SELECT next_block FROM follower_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("next_block")).transpose()?)
    }

    /// Stores the next block to follow.
    pub async fn set_cursor(&self, next_block: i64) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE follower_cursor SET next_block = $1 WHERE id = 1")
            .bind(next_block)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            sqlx::query("INSERT INTO follower_cursor (id, next_block) VALUES (1, $1)")
                .bind(next_block)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- access log

    /// The last entry.
    pub async fn last_log(&self) -> Result<Option<LogRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(log_from_row).transpose()?)
    }

    /// Appends an entry (its seq must be the next one: the primary key refuses a fork).
    pub async fn insert_log(&self, e: &LogRow) -> Result<(), DbError> {
        insert_log_query(e).execute(&self.pool).await?;
        Ok(())
    }

    /// Appends consecutive entries in one transaction (all or none).
    pub async fn insert_logs(&self, rows: &[LogRow]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for e in rows {
            insert_log_query(e).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Entries `first..=last`.
    pub async fn log_range(&self, first: i64, last: i64) -> Result<Vec<LogRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq"
        ))
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    /// At most `limit` entries from seq `first` on (a log with a declared gap skips seqs).
    pub async fn log_page(&self, first: i64, limit: i64) -> Result<Vec<LogRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(first)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    /// The gap entries (see [`crate::access_log::GAP_ACTION`]), oldest first.
    pub async fn log_gaps(&self) -> Result<Vec<LogRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log WHERE action = $1 ORDER BY seq"
        ))
        .bind(crate::access_log::GAP_ACTION)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    /// A patient's entries.
    pub async fn log_of_patient(&self, patient: &str) -> Result<Vec<LogRow>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log WHERE patient = $1 ORDER BY seq"
        ))
        .bind(patient)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    /// (entries, refused, flagged) counts of the whole log; flagged = score ≥ 0.5.
    pub async fn log_counts(&self) -> Result<(i64, i64, i64), DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN granted = 0 THEN 1 ELSE 0 END), 0) AS refused, COALESCE(SUM(CASE WHEN score_milli >= 500 THEN 1 ELSE 0 END), 0) AS flagged FROM access_log",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get("n")?,
            row.try_get("refused")?,
            row.try_get("flagged")?,
        ))
    }

    /// The newest entries, newest first; with `attention` only refused or flagged ones.
    pub async fn recent_log(&self, limit: i64, attention: bool) -> Result<Vec<LogRow>, DbError> {
        let filter = if attention {
            "WHERE granted = 0 OR score_milli >= 500"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM access_log {filter} ORDER BY seq DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    /// Records a registration (idempotent: a replay keeps the row).
    pub async fn account_registered(
        &self,
        address: &str,
        kind: AccountKind,
        status: AccountStatus,
        profile_hash: &str,
        block: i64,
    ) -> Result<(), DbError> {
        let exists = sqlx::query("SELECT address FROM accounts WHERE address = $1")
            .bind(address)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO accounts (address, kind, status, profile_hash, registered_block, updated_block) VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(address)
            .bind(i64::from(kind.chain_number()))
            .bind(status.as_str())
            .bind(profile_hash)
            .bind(block)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Sets an account's status as of `block` (older events do not overwrite newer ones).
    pub async fn account_status(
        &self,
        address: &str,
        status: AccountStatus,
        block: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE accounts SET status = $1, updated_block = $2 WHERE address = $3 AND updated_block <= $2",
        )
        .bind(status.as_str())
        .bind(block)
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an account's event log at (block, log index); a replay inserts nothing.
    pub async fn account_event(
        &self,
        block: i64,
        log_index: i64,
        address: &str,
        event: AccountEvent,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO account_events (block, log_index, address, event) VALUES ($1, $2, $3, $4) ON CONFLICT (block, log_index) DO NOTHING",
        )
        .bind(block)
        .bind(log_index)
        .bind(address)
        .bind(event.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The events of every practitioner and insurer, by address, oldest first.
    pub async fn account_histories(
        &self,
    ) -> Result<HashMap<String, Vec<(i64, AccountEvent)>>, DbError> {
        let rows = sqlx::query(
            "SELECT e.address AS address, e.block AS block, e.event AS event FROM account_events e JOIN accounts a ON a.address = e.address WHERE a.kind IN ($1, $2) ORDER BY e.block, e.log_index",
        )
        .bind(i64::from(AccountKind::Practitioner.chain_number()))
        .bind(i64::from(AccountKind::Insurer.chain_number()))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<String, Vec<(i64, AccountEvent)>> = HashMap::new();
        for r in &rows {
            let event: String = r.try_get("event")?;
            let Some(event) = AccountEvent::parse(&event) else {
                return Err(DbError::Corrupt("account_events.event"));
            };
            out.entry(r.try_get("address")?)
                .or_default()
                .push((r.try_get("block")?, event));
        }
        Ok(out)
    }

    /// Stores (or replaces) an account's off-chain profile.
    pub async fn put_profile(
        &self,
        address: &str,
        profile: &str,
        profile_hash: &str,
        at: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM profiles WHERE address = $1")
            .bind(address)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO profiles (address, profile, profile_hash, submitted) VALUES ($1, $2, $3, $4)",
        )
        .bind(address)
        .bind(profile)
        .bind(profile_hash)
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

    /// The last anchored batch.
    pub async fn last_anchor(&self) -> Result<Option<AnchorRow>, DbError> {
        let row = sqlx::query(
            "SELECT anchor_index, first_seq, last_seq, root, tx_hash FROM log_anchors ORDER BY anchor_index DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(anchor_from_row)
            .transpose()
            .map_err(DbError::from)
    }

    /// The batch holding `seq`.
    pub async fn anchor_covering(&self, seq: i64) -> Result<Option<AnchorRow>, DbError> {
        let row = sqlx::query(
            "SELECT anchor_index, first_seq, last_seq, root, tx_hash FROM log_anchors WHERE first_seq <= $1 AND last_seq >= $1",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(anchor_from_row)
            .transpose()
            .map_err(DbError::from)
    }

    /// Records an anchored batch.
    pub async fn insert_anchor(&self, a: &AnchorRow, at: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO log_anchors (anchor_index, first_seq, last_seq, root, tx_hash, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.anchor_index)
        .bind(a.first_seq)
        .bind(a.last_seq)
        .bind(&a.root)
        .bind(&a.tx_hash)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn anchor_from_row(r: &AnyRow) -> Result<AnchorRow, sqlx::Error> {
    Ok(AnchorRow {
        anchor_index: r.try_get("anchor_index")?,
        first_seq: r.try_get("first_seq")?,
        last_seq: r.try_get("last_seq")?,
        root: r.try_get("root")?,
        tx_hash: r.try_get("tx_hash")?,
    })
}

/// The statement that appends one access-log row (alone, or inside a caller's transaction).
fn insert_log_query(
    e: &LogRow,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>> {
    sqlx::query(INSERT_LOG)
        .bind(e.seq)
        .bind(e.at)
        .bind(e.actor.clone())
        .bind(e.patient.clone())
        .bind(e.record_id.clone())
        .bind(e.action.clone())
        .bind(i64::from(e.granted))
        .bind(e.reason.clone())
        .bind(e.score_milli)
        .bind(e.prev_hash.clone())
        .bind(e.entry_hash.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn index() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("i.sqlite").display()
        );
        let idx = Index::connect(&url).await.expect("connect");
        idx.migrate().await.expect("migrate");
        idx.migrate().await.expect("migrations are idempotent");
        (dir, idx)
    }

    #[tokio::test]
    async fn an_index_serves_one_deployment_only() {
        let (_dir, idx) = index().await;
        let contract = Address::repeat_byte(0x11);
        idx.bind_to(1337, contract)
            .await
            .expect("first start binds");
        idx.bind_to(1337, contract)
            .await
            .expect("the same deployment again");
        for (chain, other) in [(1337, Address::repeat_byte(0x22)), (1, contract)] {
            match idx.bind_to(chain, other).await {
                Err(DbError::OtherDeployment {
                    indexed_chain,
                    indexed_contract,
                    ..
                }) => {
                    assert_eq!(indexed_chain, 1337);
                    assert_eq!(indexed_contract, format!("{contract:#x}"));
                }
                r => panic!("another deployment must be refused, got {r:?}"),
            }
        }
        idx.bind_to(1337, contract)
            .await
            .expect("a refusal changed nothing");
    }

    #[tokio::test]
    async fn account_histories_follow_the_chain_and_its_reorganisations() {
        let (_dir, idx) = index().await;
        let (doc, pat) = ("0xDoc", "0xPat");
        idx.account_registered(
            doc,
            AccountKind::Practitioner,
            AccountStatus::Pending,
            "0xh",
            10,
        )
        .await
        .expect("registered");
        idx.account_registered(pat, AccountKind::Patient, AccountStatus::Active, "0xh", 10)
            .await
            .expect("registered");
        for (block, log, who, event) in [
            (10, 0, doc, AccountEvent::Registered),
            (10, 1, pat, AccountEvent::Registered),
            (12, 0, doc, AccountEvent::Verified),
            (15, 3, doc, AccountEvent::Suspended),
            (15, 3, doc, AccountEvent::Suspended), // a replayed log
            (20, 0, doc, AccountEvent::Reinstated),
        ] {
            idx.account_event(block, log, who, event)
                .await
                .expect("event");
        }
        let all = idx.account_histories().await.expect("histories");
        // Patients are not applicants: only practitioners and insurers have a history here.
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[doc],
            [
                (10, AccountEvent::Registered),
                (12, AccountEvent::Verified),
                (15, AccountEvent::Suspended),
                (20, AccountEvent::Reinstated)
            ]
        );
        // A reorganisation from block 15 takes the later events with it.
        idx.rewind(15, &[(doc.to_string(), AccountStatus::Active)])
            .await
            .expect("rewind");
        let after = idx.account_histories().await.expect("histories");
        assert_eq!(
            after[doc],
            [(10, AccountEvent::Registered), (12, AccountEvent::Verified)]
        );
    }

    #[tokio::test]
    async fn accounts_indexed_before_the_history_table_keep_their_registration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("i.sqlite").display()
        );
        let idx = Index::connect(&url).await.expect("connect");
        let mut before = migrator();
        let through_7: Vec<_> = before
            .migrations
            .iter()
            .filter(|m| m.version <= 7)
            .cloned()
            .collect();
        before.migrations = Cow::Owned(through_7);
        before.run(&idx.pool).await.expect("migrations 1 to 7");
        for (who, block) in [("0xA", 5), ("0xB", 5), ("0xC", 9)] {
            idx.account_registered(
                who,
                AccountKind::Practitioner,
                AccountStatus::Active,
                "0xh",
                block,
            )
            .await
            .expect("registered");
        }
        idx.migrate()
            .await
            .expect("migration 8 on a populated index");
        let all = idx.account_histories().await.expect("histories");
        assert_eq!(all["0xA"], [(5, AccountEvent::Registered)]);
        assert_eq!(all["0xB"], [(5, AccountEvent::Registered)]);
        assert_eq!(all["0xC"], [(9, AccountEvent::Registered)]);
        // The follower's real logs at the same blocks do not collide with the filled-in rows.
        idx.account_event(5, 0, "0xA", AccountEvent::Verified)
            .await
            .expect("a real log at block 5");
        assert_eq!(
            idx.account_histories().await.expect("histories")["0xA"].len(),
            2
        );
    }

    fn rec(id: &str) -> RecordRow {
        RecordRow {
            record_id: id.into(),
            patient: "0xP".into(),
            author: "0xP".into(),
            category: 1,
            h1: "0xh1".into(),
            size: 10,
            blob_key: Some(format!("c2/{id}")),
            c2_size: 78,
            wrapped_k2: Some("0xk2".into()),
            state: state::PENDING.into(),
            created: 100,
            committed_block: None,
            label: Some("0x01aa".into()),
        }
    }

    #[tokio::test]
    async fn record_lifecycle_pending_committed_shredded() {
        let (_dir, idx) = index().await;
        let deks = vec![DekRow {
            reader: "0xP".into(),
            wrap: "0xw".into(),
        }];
        idx.insert_pending(&rec("0x01"), &deks)
            .await
            .expect("insert");
        assert!(
            idx.insert_pending(&rec("0x01"), &deks).await.is_err(),
            "an id is stored once"
        );
        let anchored = |patient, h1| Anchored {
            record_id: "0x01",
            patient,
            h1,
            category: 2,
            author: "0xA",
        };
        assert!(!idx
            .commit(&anchored("0xP", "0xother"), 5)
            .await
            .expect("commit"));
        assert!(!idx
            .commit(&anchored("0xQ", "0xh1"), 5)
            .await
            .expect("commit"));
        assert!(idx
            .commit(&anchored("0xP", "0xh1"), 5)
            .await
            .expect("commit"));
        let r = idx.record("0x01").await.expect("get").expect("present");
        assert_eq!(r.state, state::COMMITTED);
        assert_eq!(r.committed_block, Some(5));
        // The upload said category 1 and author 0xP; the anchor's category and author win.
        assert_eq!((r.category, r.author.as_str()), (2, "0xA"));
        assert_eq!(
            r.label.as_deref(),
            Some("0x01aa"),
            "the sealed label is kept"
        );
        assert_eq!(
            idx.wrapped_dek("0x01", "0xP").await.expect("dek"),
            Some("0xw".into())
        );
        let blob = idx
            .shred("0x01", "{}", "0xsig", "0xhash", 200)
            .await
            .expect("shred");
        assert_eq!(blob, Some(Some("c2/0x01".into())));
        assert_eq!(
            idx.shred("0x01", "{}", "0xsig", "0xhash", 201)
                .await
                .expect("again"),
            None
        );
        let r = idx.record("0x01").await.expect("get").expect("present");
        assert_eq!(r.state, state::SHREDDED);
        assert_eq!(r.wrapped_k2, None);
        assert_eq!(r.label, None, "shredding clears the label with the keys");
        assert_eq!(idx.count_deks("0x01").await.expect("count"), 0);
        assert_eq!(idx.unconfirmed_receipts().await.expect("r").len(), 1);
    }

    #[tokio::test]
    async fn nonces_are_single_use_and_expire() {
        let (_dir, idx) = index().await;
        idx.insert_nonce("abcdefgh1", 1000).await.expect("nonce");
        idx.insert_nonce("abcdefgh2", 1000).await.expect("nonce");
        assert!(idx.take_nonce("abcdefgh1", 999).await.expect("take"));
        assert!(
            !idx.take_nonce("abcdefgh1", 999).await.expect("take"),
            "single use"
        );
        assert!(
            !idx.take_nonce("abcdefgh2", 1000).await.expect("take"),
            "expired"
        );
        assert!(!idx.take_nonce("never", 1).await.expect("take"));
    }

    #[tokio::test]
    async fn cursor_survives_reconnect() {
        let (dir, idx) = index().await;
        assert_eq!(idx.cursor().await.expect("cursor"), None);
        idx.set_cursor(7).await.expect("set");
        idx.set_cursor(9).await.expect("set");
        drop(idx);
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("i.sqlite").display()
        );
        let idx = Index::connect(&url).await.expect("reconnect");
        assert_eq!(idx.cursor().await.expect("cursor"), Some(9));
    }
}
