//! The `access_log` table (the hash-chained entries) and `log_anchors` (the batches whose Merkle
//! roots the contract holds).

use alloy_primitives::B256;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{b256_in, b256_text, db_int, u64_in, DbError, Index};

/// One access-log row, as stored. Unlike the other rows it keeps the stored text: the log's
/// verification (`access_log::verify_chain`) must name a tampered or malformed entry by its seq
/// rather than fail to read the batch, so its fields are parsed where an entry is hashed, checked
/// or served (`records::log_entry_of`).
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
    /// Risk score × 1000 (docs/risk.md).
    pub score_milli: i64,
    /// The previous entry's hash (zero for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub entry_hash: String,
    /// Beside the entry, not hashed: whether it was flagged when written.
    pub flagged: bool,
    /// Beside the entry, not hashed: the score's reasons in words (a JSON array), if flagged.
    pub reasons: Option<String>,
    /// Beside the entry, not hashed: the scored attempt as one risk-log line (docs/risk.md).
    pub risk_access: Option<String>,
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
        flagged: r.try_get::<i64, _>("flagged")? != 0,
        reasons: r.try_get("reasons")?,
        risk_access: r.try_get("risk_access")?,
    })
}

const LOG_COLUMNS: &str = "seq, at, actor, patient, record_id, action, granted, reason, score_milli, prev_hash, entry_hash, flagged, reasons, risk_access";
const INSERT_LOG: &str = "INSERT INTO access_log (seq, at, actor, patient, record_id, action, granted, reason, score_milli, prev_hash, entry_hash, flagged, reasons, risk_access) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// An anchored access-log batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRow {
    /// The contract's anchor index.
    pub anchor_index: u64,
    /// First entry.
    pub first_seq: u64,
    /// Last entry (inclusive).
    pub last_seq: u64,
    /// Merkle root.
    pub root: B256,
    /// The anchoring transaction; `None` for a batch reconciled from the chain, whose transaction
    /// the escrow never saw (stored as an empty string).
    pub tx_hash: Option<B256>,
}

fn anchor_from_row(r: &AnyRow) -> Result<AnchorRow, DbError> {
    let tx_hash: String = r.try_get("tx_hash")?;
    Ok(AnchorRow {
        anchor_index: u64_in(r, "anchor_index")?,
        first_seq: u64_in(r, "first_seq")?,
        last_seq: u64_in(r, "last_seq")?,
        root: b256_in(r, "root")?,
        tx_hash: match tx_hash.as_str() {
            "" => None,
            tx => Some(tx.parse().map_err(|_| DbError::Corrupt("tx_hash"))?),
        },
    })
}

/// The statement that appends one access-log row (alone, or inside a caller's transaction).
pub(super) fn insert_log_query(
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
        .bind(i64::from(e.flagged))
        .bind(e.reasons.clone())
        .bind(e.risk_access.clone())
}

impl Index {
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

    /// (entries, refused, flagged) counts of the whole log.
    pub async fn log_counts(&self) -> Result<(i64, i64, i64), DbError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN granted = 0 THEN 1 ELSE 0 END), 0) AS refused, COALESCE(SUM(CASE WHEN flagged <> 0 THEN 1 ELSE 0 END), 0) AS flagged FROM access_log",
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
            "WHERE granted = 0 OR flagged <> 0"
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

    /// The newest `limit` scored attempts' risk-log lines, oldest first, with whether each was
    /// flagged: the history the risk engine rebuilds at start-up.
    pub async fn scored_accesses(&self, limit: i64) -> Result<Vec<(String, bool)>, DbError> {
        let rows = sqlx::query(
            "SELECT risk_access, flagged FROM access_log WHERE risk_access IS NOT NULL ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("risk_access")?,
                    r.try_get::<i64, _>("flagged")? != 0,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// The last anchored batch.
    pub async fn last_anchor(&self) -> Result<Option<AnchorRow>, DbError> {
        let row = sqlx::query(
            "SELECT anchor_index, first_seq, last_seq, root, tx_hash FROM log_anchors ORDER BY anchor_index DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(anchor_from_row).transpose()
    }

    /// The batch holding `seq`.
    pub async fn anchor_covering(&self, seq: i64) -> Result<Option<AnchorRow>, DbError> {
        let row = sqlx::query(
            "SELECT anchor_index, first_seq, last_seq, root, tx_hash FROM log_anchors WHERE first_seq <= $1 AND last_seq >= $1",
        )
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(anchor_from_row).transpose()
    }

    /// Records an anchored batch.
    pub async fn insert_anchor(&self, a: &AnchorRow, at: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO log_anchors (anchor_index, first_seq, last_seq, root, tx_hash, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(db_int(a.anchor_index))
        .bind(db_int(a.first_seq))
        .bind(db_int(a.last_seq))
        .bind(b256_text(a.root))
        .bind(a.tx_hash.map_or_else(String::new, b256_text))
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
