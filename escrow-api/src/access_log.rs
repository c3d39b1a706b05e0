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

/// What is appended (seq, time and hashes are the log's to fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Who asked.
    pub actor: Address,
    /// Whose record (zero when unknown).
    pub patient: Address,
    /// Which record (zero when none).
    pub record_id: B256,
    /// `read`, `upload`, `shred`, …
    pub action: &'static str,
    /// Released / done, or refused.
    pub granted: bool,
    /// Short reason code.
    pub reason: String,
    /// Anomaly score × 1000; 0 until the kNN model exists.
    pub score_milli: i64,
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

/// Checks a contiguous run of rows: each hash matches its fields and links to the one before
/// (`prev` is the hash before the first row: zero when it is entry 0).
pub fn verify_chain(rows: &[LogRow], mut prev: B256) -> Result<(), LogIntegrityError> {
    let mut expected_seq = rows.first().map(|r| r.seq);
    for r in rows {
        if Some(r.seq) != expected_seq {
            return Err(LogIntegrityError::Gap(expected_seq.unwrap_or(0)));
        }
        let stored_prev: B256 = parse(&r.prev_hash, r.seq)?;
        if stored_prev != prev {
            return Err(LogIntegrityError::BrokenLink(r.seq));
        }
        let h = row_hash(r)?;
        if parse::<B256>(&r.entry_hash, r.seq)? != h {
            return Err(LogIntegrityError::Altered(r.seq));
        }
        prev = h;
        expected_seq = Some(r.seq + 1);
    }
    Ok(())
}

/// `logLeaf(seq, entryHash)`: `keccak256(bytes.concat(keccak256(abi.encode(seq, entryHash))))`.
pub fn leaf(seq: u64, entry_hash: B256) -> B256 {
    keccak256(keccak256((seq, entry_hash).abi_encode_params()))
}

fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A Merkle tree over leaves, sorted-pair hashing (what OpenZeppelin's `MerkleProof` verifies);
/// an odd node at the end of a level is carried up unchanged.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// Builds the tree; `leaves` must not be empty.
    pub fn new(leaves: Vec<B256>) -> Option<MerkleTree> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while levels.last().map(Vec::len).unwrap_or(0) > 1 {
            let below = levels.last().cloned().unwrap_or_default();
            let above = below
                .chunks(2)
                .map(|p| {
                    if p.len() == 2 {
                        hash_pair(p[0], p[1])
                    } else {
                        p[0]
                    }
                })
                .collect();
            levels.push(above);
        }
        Some(MerkleTree { levels })
    }

    /// The root.
    pub fn root(&self) -> B256 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The proof of leaf `index`.
    pub fn proof(&self, mut index: usize) -> Vec<B256> {
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            let sibling = index ^ 1;
            if let Some(s) = level.get(sibling) {
                proof.push(*s);
            }
            index /= 2;
        }
        proof
    }
}

/// What `MerkleProof.verify` computes.
pub fn verify_proof(proof: &[B256], root: B256, leaf: B256) -> bool {
    proof.iter().fold(leaf, |acc, p| hash_pair(acc, *p)) == root
}

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
}

/// The log: appends are serialised in this process (the sequence number is also the table's
/// primary key, so two writers can never both append the same seq).
#[derive(Debug)]
pub struct AccessLog {
    index: Index,
    lock: tokio::sync::Mutex<()>,
}

impl AccessLog {
    /// Over the index.
    pub fn new(index: Index) -> AccessLog {
        AccessLog {
            index,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Appends an entry and returns the stored row.
    pub async fn append(&self, e: NewEntry) -> Result<LogRow, AppendError> {
        let _guard = self.lock.lock().await;
        let row = self.next_row(e).await?;
        self.index.insert_log(&row).await?;
        Ok(row)
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
        let _guard = self.lock.lock().await;
        let row = self.next_row(e).await?;
        self.index
            .insert_pending_logged(record, deks, Some(&row))
            .await?;
        Ok(row)
    }

    /// The row that would follow the last stored one (the caller holds the lock).
    async fn next_row(&self, e: NewEntry) -> Result<LogRow, AppendError> {
        let last = self.index.last_log().await?;
        let (seq, prev) = match &last {
            Some(r) => (r.seq + 1, parse::<B256>(&r.entry_hash, r.seq)?),
            None => (0, B256::ZERO),
        };
        let at = crate::now_secs();
        let h = entry_hash(
            u64::try_from(seq).map_err(|_| LogIntegrityError::Malformed(seq))?,
            prev,
            u64::try_from(at).unwrap_or(0),
            e.actor,
            e.patient,
            e.record_id,
            e.action,
            e.granted,
            &e.reason,
            e.score_milli,
        );
        let row = LogRow {
            seq,
            at,
            actor: e.actor.to_checksum(None),
            patient: e.patient.to_checksum(None),
            record_id: e.record_id.to_string(),
            action: e.action.to_string(),
            granted: e.granted,
            reason: e.reason,
            score_milli: e.score_milli,
            prev_hash: prev.to_string(),
            entry_hash: h.to_string(),
        };
        Ok(row)
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

    async fn scratch_index() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("i.sqlite").display()
        );
        let idx = Index::connect(&url).await.expect("connect");
        idx.migrate().await.expect("migrate");
        (dir, idx)
    }

    fn pending(id: B256) -> crate::db::RecordRow {
        crate::db::RecordRow {
            record_id: id.to_string(),
            patient: Address::repeat_byte(2).to_checksum(None),
            author: Address::repeat_byte(2).to_checksum(None),
            category: 1,
            h1: B256::repeat_byte(9).to_string(),
            size: 10,
            blob_key: Some(format!("c2/{id}")),
            c2_size: 78,
            wrapped_k2: Some("0x01".into()),
            state: crate::db::state::PENDING.into(),
            created: 100,
            committed_block: None,
        }
    }

    fn upload_entry(id: B256) -> NewEntry {
        NewEntry {
            actor: Address::repeat_byte(2),
            patient: Address::repeat_byte(2),
            record_id: id,
            action: "upload",
            granted: true,
            reason: "stored-pending".into(),
            score_milli: 0,
        }
    }

    #[tokio::test]
    async fn an_upload_and_its_entry_are_written_together_or_not_at_all() {
        let (_dir, idx) = scratch_index().await;
        let log = AccessLog::new(idx.clone());
        let deks = [crate::db::DekRow {
            reader: Address::repeat_byte(2).to_checksum(None),
            wrap: "0x02".into(),
        }];
        let first = B256::repeat_byte(1);
        let row = log
            .append_upload(upload_entry(first), &pending(first), &deks)
            .await
            .expect("stored");
        assert_eq!(row.seq, 0);
        assert!(idx.record(&first.to_string()).await.expect("get").is_some());
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
        assert!(idx
            .insert_pending_logged(&pending(second), &deks, Some(&taken))
            .await
            .is_err());
        assert!(idx
            .record(&second.to_string())
            .await
            .expect("get")
            .is_none());
        assert_eq!(idx.count_deks(&second.to_string()).await.expect("deks"), 0);
    }
}
