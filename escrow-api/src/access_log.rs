//! The hash-chained access log: every release and refusal (and every upload and shred) is an
//! entry; each entry's hash covers its fields and the previous entry's hash, so a changed, removed
//! or reordered row breaks the chain. Batches of entries are anchored on chain as Merkle roots
//! (OpenZeppelin sorted-pair keccak256 tree over the contract's `logLeaf(seq, entryHash)` leaves),
//! and a patient gets their entries with proofs the contract's `verifyLogEntry` accepts.
//!
//! Entry hash: `keccak256(abi.encode(uint64 seq, bytes32 prevHash, uint64 at, address actor,
//! address patient, bytes32 recordId, string action, bool granted, string reason, int64
//! scoreMilli))`, the first entry's `prevHash` being zero.

use alloy_primitives::{keccak256, Address, B256};
use alloy_sol_types::SolValue;

use crate::db::{DbError, Index, LogRow};
use medledger_protocol::api::AccessAction;

/// What is appended (seq, time and hashes are the log's to fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Who asked.
    pub actor: Address,
    /// Whose record (zero when unknown).
    pub patient: Address,
    /// Which record (zero when none).
    pub record_id: B256,
    /// What was attempted.
    pub action: AccessAction,
    /// Released / done, or refused.
    pub granted: bool,
    /// Short reason code.
    pub reason: String,
    /// The access's risk assessment (unscored for what is not a read attempt).
    pub risk: RiskNote,
}

/// The risk assessment of an entry (docs/risk.md): the score is hashed with the entry; the rest
/// is kept beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskNote {
    /// Risk score × 1000 (0 for an entry that is not a scored read attempt).
    pub score_milli: i64,
    /// At or above the policy's threshold when written, or an emergency release.
    pub flagged: bool,
    /// The score's main reasons in words (flagged entries).
    pub reasons: Vec<String>,
    /// The attempt as one risk-log line (scored attempts), to rebuild histories at start-up.
    pub access: Option<String>,
}

/// Computes an entry's hash.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: u64,
    prev: B256,
    at: u64,
    actor: Address,
    patient: Address,
    record_id: B256,
    action: &str,
    granted: bool,
    reason: &str,
    score_milli: i64,
) -> B256 {
    keccak256(
        (
            seq,
            prev,
            at,
            actor,
            patient,
            record_id,
            action.to_string(),
            granted,
            reason.to_string(),
            score_milli,
        )
            .abi_encode_params(),
    )
}

/// Why a stored log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogIntegrityError {
    /// A row's fields do not parse.
    #[error("access-log entry {0} is malformed")]
    Malformed(i64),
    /// Sequence numbers are not contiguous.
    #[error("access-log entry {0} is missing")]
    Gap(i64),
    /// A row's prev hash is not the previous row's hash.
    #[error("access-log entry {0} does not link to the entry before it")]
    BrokenLink(i64),
    /// A row's hash does not match its fields.
    #[error("access-log entry {0} was altered (its hash does not match its fields)")]
    Altered(i64),
}

fn parse<T: std::str::FromStr>(s: &str, seq: i64) -> Result<T, LogIntegrityError> {
    s.parse().map_err(|_| LogIntegrityError::Malformed(seq))
}

/// Recomputes a row's hash from its fields.
pub fn row_hash(r: &LogRow) -> Result<B256, LogIntegrityError> {
    let seq = u64::try_from(r.seq).map_err(|_| LogIntegrityError::Malformed(r.seq))?;
    let at = u64::try_from(r.at).map_err(|_| LogIntegrityError::Malformed(r.seq))?;
    Ok(entry_hash(
        seq,
        parse(&r.prev_hash, r.seq)?,
        at,
        parse(&r.actor, r.seq)?,
        parse(&r.patient, r.seq)?,
        parse(&r.record_id, r.seq)?,
        &r.action,
        r.granted,
        &r.reason,
        r.score_milli,
    ))
}

/// The action of the entry that declares a gap: entries anchored on chain that the index no
/// longer holds (it was restored from a backup older than them). Its reason is
/// [`gap_reason`]`(first, last)`, its seq `last + 1`, and its `prevHash` the hash of the last
/// entry the index still holds, so the chain of what remains stays linked across the gap.
pub const GAP_ACTION: &str = AccessAction::LogGap.as_str();

/// The reason of a gap entry: the lost seqs, `lost:<first>..=<last>`.
pub fn gap_reason(first: u64, last: u64) -> String {
    format!("lost:{first}..={last}")
}

/// The seqs a gap entry declares lost (`None` for any other entry).
pub fn declared_gap(r: &LogRow) -> Option<(i64, i64)> {
    if r.action != GAP_ACTION {
        return None;
    }
    let (first, last) = r.reason.strip_prefix("lost:")?.split_once("..=")?;
    let (first, last): (i64, i64) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last && last.checked_add(1) == Some(r.seq)).then_some((first, last))
}

/// Checks a run of rows: each hash matches its fields and links to the one before (`prev` is the
/// hash before the first row: zero when it is entry 0). Seqs are contiguous except where a gap
/// entry declares exactly the seqs missing before it.
pub fn verify_chain(rows: &[LogRow], prev: B256) -> Result<(), LogIntegrityError> {
    let first = rows
        .first()
        .map_or(0, |r| declared_gap(r).map_or(r.seq, |(f, _)| f));
    ChainCheck::new(first, prev).check(rows)
}

/// Checks a log page by page: what [`verify_chain`] checks, carried across pages.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    expected_seq: i64,
    prev: B256,
    gaps: Vec<(i64, i64)>,
}

impl ChainCheck {
    /// Expecting entry `first_seq` (0 for the whole log), linked to `prev`.
    pub fn new(first_seq: i64, prev: B256) -> ChainCheck {
        ChainCheck {
            expected_seq: first_seq,
            prev,
            gaps: Vec::new(),
        }
    }

    /// Checks the next rows.
    pub fn check(&mut self, rows: &[LogRow]) -> Result<(), LogIntegrityError> {
        for r in rows {
            let declared = declared_gap(r);
            if r.seq != self.expected_seq && declared.map(|(f, _)| f) != Some(self.expected_seq) {
                return Err(LogIntegrityError::Gap(self.expected_seq));
            }
            let stored_prev: B256 = parse(&r.prev_hash, r.seq)?;
            if stored_prev != self.prev {
                return Err(LogIntegrityError::BrokenLink(r.seq));
            }
            let h = row_hash(r)?;
            if parse::<B256>(&r.entry_hash, r.seq)? != h {
                return Err(LogIntegrityError::Altered(r.seq));
            }
            if let Some(gap) = declared.filter(|_| r.seq != self.expected_seq) {
                self.gaps.push(gap);
            }
            self.prev = h;
            self.expected_seq = r.seq + 1;
        }
        Ok(())
    }

    /// The seq the next row must have.
    pub fn next_seq(&self) -> i64 {
        self.expected_seq
    }

    /// The gaps met so far (first and last lost seq).
    pub fn gaps(&self) -> &[(i64, i64)] {
        &self.gaps
    }
}

/// `logLeaf(seq, entryHash)`: `keccak256(bytes.concat(keccak256(abi.encode(seq, entryHash))))`.
pub fn leaf(seq: u64, entry_hash: B256) -> B256 {
    keccak256(keccak256((seq, entry_hash).abi_encode_params()))
}

// The tree and its proofs are protocol's (the contract's layout), shared with bulk anchoring.
pub use medledger_protocol::merkle::{verify_proof, MerkleTree};

/// The tree over stored rows (for anchoring and proofs).
pub fn tree_of(rows: &[LogRow]) -> Result<Option<MerkleTree>, LogIntegrityError> {
    let leaves = rows
        .iter()
        .map(|r| {
            let seq = u64::try_from(r.seq).map_err(|_| LogIntegrityError::Malformed(r.seq))?;
            Ok(leaf(seq, parse(&r.entry_hash, r.seq)?))
        })
        .collect::<Result<Vec<_>, LogIntegrityError>>()?;
    Ok(MerkleTree::new(leaves))
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The index refused.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The last stored entry is unreadable.
    #[error(transparent)]
    Integrity(#[from] LogIntegrityError),
    /// The write stored no row for this entry.
    #[error("the access log could not be written: {0}")]
    Batch(String),
    /// The writer task has stopped (the escrow is shutting down).
    #[error("the access log's writer has stopped")]
    WriterGone,
}

/// Most appends (entries, and uploads with their entries) written in one transaction.
const MAX_BATCH: usize = 256;

/// The log. One writer task does every append, so seqs are assigned in one place (the seq is
/// also the table's primary key: a second writer could never append the same seq). Appends that
/// arrive while a write is under way are written together in the next transaction (group
/// commit): concurrent reads and uploads share one fsync instead of queueing for one each. The
/// writer runs apart from the requests, so a request dropped mid-append loses nobody's entry.
#[derive(Debug)]
pub struct AccessLog {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Vec<LogRow>, AppendError>>;

/// What an entry records, written in its transaction (see [`crate::db::Alongside`]).
#[derive(Debug, Clone)]
pub enum Write {
    /// A pending upload: the record and its wrapped DEKs.
    Upload(Box<crate::db::RecordRow>, Vec<crate::db::DekRow>),
    /// A read held for the patient's approval.
    Hold(Box<crate::db::NewHold>),
    /// The patient's decision on a pending hold.
    Decision(Box<crate::db::HoldDecision>),
    /// Wrapped DEKs a patient added to a record (each reader's replacing any before).
    Wraps(B256, Vec<crate::db::DekRow>),
    /// A reader's wraps replaced by wraps to their rotated key: all, or the write fails with
    /// `DbError::Stale`.
    Rewraps(Address, Vec<(B256, String)>),
    /// An account's signed acceptance of the licence agreement.
    Acceptance(Box<crate::db::NewAcceptance>),
    /// A record shredded after its erasure on chain, with its signed receipt: fails with
    /// `DbError::Stale` (and logs nothing) when the record is shredded already.
    Shred(Box<crate::db::ShredReceipt>),
}

impl Write {
    fn alongside(&self) -> crate::db::Alongside<'_> {
        use crate::db::Alongside;
        match self {
            Write::Upload(r, deks) => Alongside::Upload(r, deks),
            Write::Hold(h) => Alongside::Hold(h),
            Write::Decision(d) => Alongside::Decision(d),
            Write::Acceptance(a) => Alongside::Acceptance(a),
            Write::Wraps(record_id, deks) => Alongside::Wraps(*record_id, deks),
            Write::Rewraps(reader, wraps) => Alongside::Rewraps(*reader, wraps),
            Write::Shred(s) => Alongside::Shred(s),
        }
    }
}

/// One append: its entries (one, or several that one write records), with the write they
/// record when they record one, written in one transaction.
struct Append {
    entries: Vec<NewEntry>,
    write: Option<Write>,
    reply: Reply,
}

/// What the writer is asked to do.
enum Job {
    /// Append (batched with the others waiting).
    Append(Append),
    /// Continue after the chain's anchors (see [`AccessLog::continue_after_anchors`]).
    Gap {
        next_anchored_seq: u64,
        escrow: Address,
        reply: tokio::sync::oneshot::Sender<Result<Option<LogRow>, AppendError>>,
    },
}

impl AccessLog {
    /// Over the index; starts the writer task (call inside a Tokio runtime).
    pub fn new(index: Index) -> AccessLog {
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(Writer { index }.run(queue));
        AccessLog { jobs }
    }

    /// Appends an entry and returns the stored row.
    pub async fn append(&self, e: NewEntry) -> Result<LogRow, AppendError> {
        self.append_inner(e, None).await
    }

    /// Appends an entry and the write it records in one transaction: both or neither.
    pub async fn append_with(&self, e: NewEntry, write: Write) -> Result<LogRow, AppendError> {
        self.append_inner(e, Some(write)).await
    }

    async fn append_inner(&self, e: NewEntry, write: Option<Write>) -> Result<LogRow, AppendError> {
        let rows = self.append_group(vec![e], write).await?;
        rows.into_iter()
            .next()
            .ok_or_else(|| AppendError::Batch("no row was written".into()))
    }

    /// Appends `entries` and the write they record in one transaction: all of them or none (a
    /// patient's wraps for several readers, a reader's wraps of several records moved to a new
    /// key: one entry each, and never a wrap without its entry).
    pub async fn append_all_with(
        &self,
        entries: Vec<NewEntry>,
        write: Write,
    ) -> Result<Vec<LogRow>, AppendError> {
        self.append_group(entries, Some(write)).await
    }

    async fn append_group(
        &self,
        entries: Vec<NewEntry>,
        write: Option<Write>,
    ) -> Result<Vec<LogRow>, AppendError> {
        if entries.is_empty() {
            return Err(AppendError::Batch("an append of no entry".into()));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.ask(Job::Append(Append {
            entries,
            write,
            reply,
        }))?;
        answer.await.map_err(|_| AppendError::WriterGone)?
    }

    /// Stores a pending upload (the record and its wraps) and its entry in one transaction, so
    /// that a crash between the two can never leave an upload without its entry. Nothing is
    /// written when either part is refused (a duplicate record id among them).
    pub async fn append_upload(
        &self,
        e: NewEntry,
        record: &crate::db::RecordRow,
        deks: &[crate::db::DekRow],
    ) -> Result<LogRow, AppendError> {
        let upload = Write::Upload(Box::new(record.clone()), deks.to_vec());
        self.append_inner(e, Some(upload)).await
    }

    /// Continues the log after the chain's anchored entries: when the chain has anchored entries
    /// up to `next_anchored_seq - 1` and the index holds fewer (it was restored from an older
    /// backup), appends the gap entry that declares the missing seqs lost, at seq
    /// `next_anchored_seq`, so that new entries never reuse an anchored seq. Returns the gap
    /// entry, or `None` when the index holds every anchored entry. Call before any other append.
    pub async fn continue_after_anchors(
        &self,
        next_anchored_seq: u64,
        escrow: Address,
    ) -> Result<Option<LogRow>, AppendError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.ask(Job::Gap {
            next_anchored_seq,
            escrow,
            reply,
        })?;
        answer.await.map_err(|_| AppendError::WriterGone)?
    }

    fn ask(&self, job: Job) -> Result<(), AppendError> {
        self.jobs.send(job).map_err(|_| AppendError::WriterGone)
    }
}

/// The writer task's side.
struct Writer {
    index: Index,
}

impl Writer {
    async fn run(self, mut queue: tokio::sync::mpsc::UnboundedReceiver<Job>) {
        let mut next_job = None;
        loop {
            let job = match next_job.take() {
                Some(job) => job,
                None => match queue.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            match job {
                Job::Append(first) => {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(Job::Append(a)) => batch.push(a),
                            Ok(other) => {
                                next_job = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.write_batch(batch).await;
                }
                Job::Gap {
                    next_anchored_seq,
                    escrow,
                    reply,
                } => {
                    let _ = reply.send(self.write_gap(next_anchored_seq, escrow).await);
                }
            }
        }
    }

    /// Writes the batch in one transaction and answers each waiter with its row. When that
    /// transaction fails and the batch holds more than one append, each is written alone, so
    /// that one upload refused (its id taken meanwhile) costs no other its place.
    async fn write_batch(&self, batch: Vec<Append>) {
        if batch.len() > 1 {
            match self.write(&batch).await {
                Ok(rows) => {
                    let mut rows = rows.into_iter();
                    for append in batch {
                        let own = rows.by_ref().take(append.entries.len()).collect();
                        let _ = append.reply.send(Ok(own));
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, appends = batch.len(), "a batch of access-log appends failed: writing each alone");
                }
            }
        }
        for one in batch {
            self.write_alone(one).await;
        }
    }

    /// Writes one append and answers it.
    async fn write_alone(&self, one: Append) {
        let answer = match self.write(std::slice::from_ref(&one)).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                // A write refused here is answered by its request (a duplicate id, a hold decided
                // meanwhile, is no fault).
                if one.write.is_none() {
                    tracing::error!(error = %e, "access-log entry not written");
                }
                Err(e)
            }
        };
        let _ = one.reply.send(answer);
    }

    /// The appends' rows after the last stored one, stored with their writes in one
    /// transaction (all or none); each append's write goes with its first entry.
    async fn write(&self, appends: &[Append]) -> Result<Vec<LogRow>, AppendError> {
        let entries = appends
            .iter()
            .flat_map(|a| a.entries.iter().cloned())
            .collect();
        let rows = self.rows_after_last(entries).await?;
        let mut items = Vec::with_capacity(rows.len());
        let mut row = rows.iter();
        for a in appends {
            for i in 0..a.entries.len() {
                let Some(r) = row.next() else { break };
                let alongside = if i == 0 {
                    a.write.as_ref().map(Write::alongside)
                } else {
                    None
                };
                items.push((r, alongside));
            }
        }
        self.index.insert_logged(&items).await?;
        Ok(rows)
    }

    async fn write_gap(
        &self,
        next_anchored_seq: u64,
        escrow: Address,
    ) -> Result<Option<LogRow>, AppendError> {
        let last = self.index.last_log().await?;
        let held = last.as_ref().map_or(0, |r| r.seq + 1);
        let next =
            i64::try_from(next_anchored_seq).map_err(|_| LogIntegrityError::Malformed(i64::MAX))?;
        if next <= held {
            return Ok(None);
        }
        let entry = NewEntry {
            actor: escrow,
            patient: Address::ZERO,
            record_id: B256::ZERO,
            action: AccessAction::LogGap,
            granted: false,
            reason: gap_reason(u64::try_from(held).unwrap_or(0), next_anchored_seq - 1),
            risk: RiskNote::default(),
        };
        let prev = last_hash(last.as_ref())?;
        let row = row_of(entry, next, prev);
        self.index.insert_log(&row).await?;
        Ok(Some(row))
    }

    /// The rows that follow the last stored one, in order.
    async fn rows_after_last(&self, entries: Vec<NewEntry>) -> Result<Vec<LogRow>, AppendError> {
        let last = self.index.last_log().await?;
        let first = last.as_ref().map_or(0, |r| r.seq + 1);
        let mut prev = last_hash(last.as_ref())?;
        let mut rows = Vec::with_capacity(entries.len());
        for (seq, e) in (first..).zip(entries) {
            let row = row_of(e, seq, prev);
            prev = parse(&row.entry_hash, row.seq)?;
            rows.push(row);
        }
        Ok(rows)
    }
}

/// The hash of the last stored entry (zero before entry 0).
fn last_hash(last: Option<&LogRow>) -> Result<B256, LogIntegrityError> {
    last.map_or(Ok(B256::ZERO), |r| parse(&r.entry_hash, r.seq))
}

/// The row of `e` at `seq` after the entry whose hash is `prev`, stamped now.
fn row_of(e: NewEntry, seq: i64, prev: B256) -> LogRow {
    let at = crate::now_secs();
    let h = entry_hash(
        u64::try_from(seq).unwrap_or(0),
        prev,
        u64::try_from(at).unwrap_or(0),
        e.actor,
        e.patient,
        e.record_id,
        e.action.as_str(),
        e.granted,
        &e.reason,
        e.risk.score_milli,
    );
    let reasons = (!e.risk.reasons.is_empty())
        .then(|| serde_json::to_string(&e.risk.reasons).ok())
        .flatten();
    LogRow {
        seq,
        at,
        actor: e.actor.to_checksum(None),
        patient: e.patient.to_checksum(None),
        record_id: e.record_id.to_string(),
        action: e.action.as_str().to_string(),
        granted: e.granted,
        reason: e.reason,
        score_milli: e.risk.score_milli,
        prev_hash: prev.to_string(),
        entry_hash: h.to_string(),
        flagged: e.risk.flagged,
        reasons,
        risk_access: e.risk.access,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<LogRow> {
        let mut prev = B256::ZERO;
        (0..n)
            .map(|i| {
                let seq = i as u64;
                let actor = Address::repeat_byte(1);
                let patient = Address::repeat_byte(2);
                let rid = B256::repeat_byte(3);
                let h = entry_hash(
                    seq,
                    prev,
                    100,
                    actor,
                    patient,
                    rid,
                    "read",
                    i % 2 == 0,
                    "consent",
                    0,
                );
                let row = LogRow {
                    seq: i as i64,
                    at: 100,
                    actor: actor.to_checksum(None),
                    patient: patient.to_checksum(None),
                    record_id: rid.to_string(),
                    action: "read".into(),
                    granted: i % 2 == 0,
                    reason: "consent".into(),
                    score_milli: 0,
                    prev_hash: prev.to_string(),
                    entry_hash: h.to_string(),
                    flagged: false,
                    reasons: None,
                    risk_access: None,
                };
                prev = h;
                row
            })
            .collect()
    }

    #[test]
    fn chain_verifies_and_detects_tampering() {
        let good = rows(5);
        verify_chain(&good, B256::ZERO).expect("intact");
        let mut altered = good.clone();
        altered[2].granted = !altered[2].granted;
        assert_eq!(
            verify_chain(&altered, B256::ZERO),
            Err(LogIntegrityError::Altered(2))
        );
        let mut removed = good.clone();
        removed.remove(3);
        assert_eq!(
            verify_chain(&removed, B256::ZERO),
            Err(LogIntegrityError::Gap(3))
        );
        let mut relinked = good;
        relinked[4].prev_hash = B256::repeat_byte(9).to_string();
        assert_eq!(
            verify_chain(&relinked, B256::ZERO),
            Err(LogIntegrityError::BrokenLink(4))
        );
    }

    #[tokio::test]
    async fn a_restored_log_continues_after_the_anchors_with_a_declared_gap() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let escrow = Address::repeat_byte(0xe5);
        for i in 0..3u8 {
            log.append(upload_entry(B256::repeat_byte(i + 1)))
                .await
                .expect("append");
        }
        // The chain anchored nothing beyond what the index holds: no gap.
        assert_eq!(
            log.continue_after_anchors(3, escrow).await.expect("ok"),
            None
        );
        assert_eq!(
            log.continue_after_anchors(1, escrow).await.expect("ok"),
            None
        );
        // It anchored up to seq 7: entries 3..=7 are lost, the log goes on at 8.
        let gap = log
            .continue_after_anchors(8, escrow)
            .await
            .expect("gap")
            .expect("a gap entry");
        assert_eq!((gap.seq, gap.action.as_str()), (8, GAP_ACTION));
        assert_eq!(declared_gap(&gap), Some((3, 7)));
        assert!(!gap.granted);
        let next = log
            .append(upload_entry(B256::repeat_byte(9)))
            .await
            .expect("append");
        assert_eq!(next.seq, 9);
        assert_eq!(
            log.continue_after_anchors(8, escrow).await.expect("ok"),
            None
        );
        let rows = idx.log_page(0, 100).await.expect("rows");
        verify_chain(&rows, B256::ZERO).expect("a declared gap verifies");
        let mut check = ChainCheck::new(0, B256::ZERO);
        check.check(&rows[..2]).expect("first page");
        check.check(&rows[2..]).expect("second page");
        assert_eq!(check.gaps(), &[(3, 7)]);

        // A gap nobody declared, or declared with other seqs, does not verify.
        let mut undeclared = rows.clone();
        undeclared.remove(3);
        assert!(verify_chain(&undeclared, B256::ZERO).is_err());
        let mut wrong = rows.clone();
        wrong[3].reason = gap_reason(4, 7);
        assert!(verify_chain(&wrong, B256::ZERO).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_chain_in_order_and_a_dropped_request_loses_nothing() {
        let (_dir, idx) = scratch_index().await;
        let log = std::sync::Arc::new(AccessLog::new(idx.clone()));
        let tasks: Vec<_> = (0..200u8)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.append(upload_entry(B256::repeat_byte(i))).await })
            })
            .collect();
        // Half the requests go away mid-append (a client that disconnects).
        let mut kept = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if i % 2 == 0 {
                t.abort();
            } else {
                kept.push(t);
            }
        }
        let mut seqs = Vec::new();
        for t in kept {
            seqs.push(t.await.expect("task").expect("appended").seq);
        }
        let last = log.append(upload_entry(B256::ZERO)).await.expect("append");
        let rows = idx.log_page(0, 1000).await.expect("rows");
        assert_eq!(rows.len() as i64, last.seq + 1, "contiguous from 0");
        verify_chain(&rows, B256::ZERO).expect("one intact chain");
        for s in seqs {
            assert!(rows.iter().any(|r| r.seq == s));
        }
    }

    #[test]
    fn every_leaf_proves_against_the_root() {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 13] {
            let rs = rows(n);
            let tree = tree_of(&rs).expect("rows").expect("non-empty");
            for (i, r) in rs.iter().enumerate() {
                let l = leaf(r.seq as u64, r.entry_hash.parse().expect("hash"));
                assert!(verify_proof(&tree.proof(i), tree.root(), l), "n={n} i={i}");
                assert!(!verify_proof(
                    &tree.proof(i),
                    tree.root(),
                    B256::repeat_byte(7)
                ));
            }
        }
        assert!(MerkleTree::new(vec![]).is_none());
    }

    #[test]
    fn leaf_is_the_contracts_double_hash() {
        // logLeaf(1, 0x11..11) = keccak256(keccak256(abi.encode(uint64(1), bytes32(0x11..11))))
        let mut enc = [0u8; 64];
        enc[31] = 1;
        enc[32..].copy_from_slice(&[0x11; 32]);
        assert_eq!(leaf(1, B256::repeat_byte(0x11)), keccak256(keccak256(enc)));
    }

    use crate::db::scratch_index;

    fn pending(id: B256) -> crate::db::RecordRow {
        crate::db::RecordRow {
            record_id: id,
            patient: Address::repeat_byte(2),
            author: Address::repeat_byte(2),
            category: 1,
            h1: B256::repeat_byte(9),
            size: 10,
            blob_key: Some(format!("c2/{id}")),
            c2_size: 78,
            wrapped_k2: Some("0x01".into()),
            state: crate::db::RecordState::Pending,
            created: 100,
            committed_block: None,
            label: None,
            rooted: None,
        }
    }

    /// The uploader's own wrap, which every upload carries.
    fn authors_wrap() -> [crate::db::DekRow; 1] {
        [crate::db::DekRow {
            reader: Address::repeat_byte(2),
            wrap: "0x02".into(),
        }]
    }

    fn upload_entry(id: B256) -> NewEntry {
        NewEntry {
            actor: Address::repeat_byte(2),
            patient: Address::repeat_byte(2),
            record_id: id,
            action: AccessAction::Upload,
            granted: true,
            reason: "stored-pending".into(),
            risk: RiskNote::default(),
        }
    }

    #[tokio::test]
    async fn an_upload_and_its_entry_are_written_together_or_not_at_all() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let deks = authors_wrap();
        let first = B256::repeat_byte(1);
        let row = log
            .append_upload(upload_entry(first), &pending(first), &deks)
            .await
            .expect("stored");
        assert_eq!(row.seq, 0);
        assert!(idx.record(first).await.expect("get").is_some());
        assert_eq!(idx.last_log().await.expect("log"), Some(row));

        // The same id again: refused, and the log gains no entry for it.
        assert!(log
            .append_upload(upload_entry(first), &pending(first), &deks)
            .await
            .is_err());
        assert_eq!(idx.last_log().await.expect("log").map(|r| r.seq), Some(0));

        // The entry's half refused (its seq is taken, as by a second writer): the record and its
        // wraps are not stored either.
        let second = B256::repeat_byte(5);
        let taken = idx.last_log().await.expect("log").expect("entry 0");
        let second_row = pending(second);
        assert!(idx
            .insert_logged(&[(
                &taken,
                Some(crate::db::Alongside::Upload(&second_row, &deks[..])),
            )])
            .await
            .is_err());
        assert!(idx.record(second).await.expect("get").is_none());
        assert_eq!(idx.count_deks(second).await.expect("deks"), 0);
    }

    #[tokio::test]
    async fn a_shred_and_its_entry_are_written_together_and_only_once() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let id = B256::repeat_byte(7);
        log.append_upload(upload_entry(id), &pending(id), &authors_wrap())
            .await
            .expect("stored");
        let receipt_of = |record_id| crate::db::ShredReceipt {
            record_id,
            receipt: "{}".into(),
            signature: String::new(),
            receipt_hash: B256::repeat_byte(0x77),
            at: 200,
        };
        let shred = || Write::Shred(Box::new(receipt_of(id)));
        let entry = NewEntry {
            action: AccessAction::Shred,
            reason: format!("receipt:{}", B256::repeat_byte(0x77)),
            ..upload_entry(id)
        };
        let row = log
            .append_with(entry.clone(), shred())
            .await
            .expect("shred");
        assert_eq!((row.seq, row.action.as_str()), (1, "shred"));
        let record = idx.record(id).await.expect("get").expect("kept");
        assert_eq!(record.state, crate::db::RecordState::Shredded);
        assert_eq!(
            (record.wrapped_k2, idx.count_deks(id).await.expect("deks")),
            (None, 0)
        );
        // The blob key stays until the blob is deleted.
        assert_eq!(record.blob_key, Some(format!("c2/{id}")));

        // A second shred of the record (a replayed erasure) is refused and logs nothing.
        assert!(matches!(
            log.append_with(entry.clone(), shred()).await,
            Err(AppendError::Db(crate::db::DbError::Stale(_)))
        ));
        assert_eq!(idx.last_log().await.expect("log").map(|r| r.seq), Some(1));
        // Also when it is queued with others (one batch, as the writer finds them together): the
        // others are written, each once.
        let (a, b) = (B256::repeat_byte(11), B256::repeat_byte(12));
        let (row_a, row_b, wrap) = (pending(a), pending(b), authors_wrap());
        let (stale, first, second) = tokio::join!(
            log.append_with(entry.clone(), shred()),
            log.append_upload(upload_entry(a), &row_a, &wrap),
            log.append_upload(upload_entry(b), &row_b, &wrap),
        );
        assert!(matches!(
            stale,
            Err(AppendError::Db(crate::db::DbError::Stale(_)))
        ));
        let seqs = [first.expect("upload a").seq, second.expect("upload b").seq];
        assert_eq!(seqs, [2, 3]);
        let rows = idx.log_page(0, 100).await.expect("rows");
        assert_eq!(rows.len(), 4);
        verify_chain(&rows, B256::ZERO).expect("one intact chain");

        // The entry's half refused (its seq taken): the record is not shredded either.
        let other = B256::repeat_byte(8);
        log.append_upload(upload_entry(other), &pending(other), &authors_wrap())
            .await
            .expect("stored");
        let taken = idx.last_log().await.expect("log").expect("entry 4");
        let receipt = receipt_of(other);
        assert!(idx
            .insert_logged(&[(&taken, Some(crate::db::Alongside::Shred(&receipt)))])
            .await
            .is_err());
        let record = idx.record(other).await.expect("get").expect("kept");
        assert_eq!(record.state, crate::db::RecordState::Pending);
        assert_eq!(idx.count_deks(other).await.expect("deks"), 1);
    }

    #[tokio::test]
    async fn uploads_written_together_lose_nothing_when_one_of_them_is_refused() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let deks = authors_wrap();
        let taken = B256::repeat_byte(50);
        log.append_upload(upload_entry(taken), &pending(taken), &deks)
            .await
            .expect("first");
        // Asked in one poll, so the writer finds them queued together: one batch, in which the
        // taken id fails the shared transaction.
        let ids: Vec<B256> = (45..55).map(B256::repeat_byte).collect();
        let rows: Vec<_> = ids
            .iter()
            .map(|id| (upload_entry(*id), pending(*id)))
            .collect();
        let answers = futures_util::future::join_all(
            rows.iter()
                .map(|(entry, row)| log.append_upload(entry.clone(), row, &deks)),
        )
        .await;
        for (id, answer) in ids.iter().zip(&answers) {
            assert_eq!(answer.is_ok(), *id != taken, "{id}");
            assert!(idx.record(*id).await.expect("get").is_some());
        }
        let seqs: Vec<i64> = answers.iter().flatten().map(|r| r.seq).collect();
        assert_eq!(
            seqs,
            (1..10).collect::<Vec<_>>(),
            "in order, no seq skipped"
        );
        let all = idx.log_range(0, 100).await.expect("log");
        assert_eq!(verify_chain(&all, B256::ZERO), Ok(()));
    }

    fn wrap_entry(id: B256, action: AccessAction, reader: Address) -> NewEntry {
        NewEntry {
            actor: Address::repeat_byte(2),
            patient: Address::repeat_byte(2),
            record_id: id,
            action,
            granted: true,
            reason: format!("reader:{reader}"),
            risk: RiskNote::default(),
        }
    }

    #[tokio::test]
    async fn wraps_and_their_entries_are_written_together_or_not_at_all() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let id = B256::repeat_byte(7);
        log.append_upload(upload_entry(id), &pending(id), &authors_wrap())
            .await
            .expect("stored");
        // Two readers' wraps, two entries, one transaction: consecutive seqs, both wraps stored.
        let readers = [Address::repeat_byte(3), Address::repeat_byte(4)];
        let deks: Vec<_> = readers
            .iter()
            .map(|r| crate::db::DekRow {
                reader: *r,
                wrap: "0x03".into(),
            })
            .collect();
        let entries = readers
            .iter()
            .map(|r| wrap_entry(id, AccessAction::AddWrap, *r))
            .collect();
        let rows = log
            .append_all_with(entries, Write::Wraps(id, deks))
            .await
            .expect("written");
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        for r in readers {
            assert!(idx.wrapped_dek(id, r).await.expect("get").is_some());
        }
        // A move of wraps one of which the reader does not hold: refused whole, no entry written
        // and the wrap it does hold unchanged.
        let unknown = B256::repeat_byte(8);
        let moves = vec![(id, "0x0404".to_string()), (unknown, "0x0505".to_string())];
        let entries = moves
            .iter()
            .map(|(record, _)| wrap_entry(*record, AccessAction::Rewrap, readers[0]))
            .collect();
        let refused = log
            .append_all_with(entries, Write::Rewraps(readers[0], moves))
            .await;
        assert!(
            matches!(refused, Err(AppendError::Db(crate::db::DbError::Stale(_)))),
            "{refused:?}"
        );
        assert_eq!(idx.last_log().await.expect("log").map(|r| r.seq), Some(2));
        assert_eq!(
            idx.wrapped_dek(id, readers[0])
                .await
                .expect("get")
                .as_deref(),
            Some("0x03")
        );
        let all = idx.log_range(0, 100).await.expect("log");
        assert_eq!(verify_chain(&all, B256::ZERO), Ok(()));
    }
}
