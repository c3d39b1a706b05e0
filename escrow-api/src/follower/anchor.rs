//! The access log's anchors: each new batch's Merkle root put on chain with `anchorAccessLog`
//! (reconciled with the contract's own list first), and the verification of the whole log
//! against its anchors (`escrow-api verify-log`).

use super::*;

/// Runs the anchoring task until `stop` turns true (never when the interval is 0 or there is no
/// escrow key).
pub async fn run_anchoring(st: AppState, mut stop: watch::Receiver<bool>) {
    if st.config.anchor_interval_secs == 0 || st.signer.is_none() {
        return;
    }
    let interval = Duration::from_secs(st.config.anchor_interval_secs);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match unless_stopped(&mut stop, anchor_once(&st)).await {
            None => return,
            Some(Err(e)) => tracing::warn!(error = %e, "anchoring the access log failed; retrying"),
            Some(Ok(_)) => {}
        }
    }
}

/// Anchors the entries not yet on chain as one batch. Returns the new anchor, if any.
pub async fn anchor_once(st: &AppState) -> Result<Option<AnchorRow>, FollowError> {
    reconcile_anchors(st).await?;
    let next_seq = st.ledger.next_log_seq().await?;
    let Some(last) = st.index.last_log().await? else {
        return Ok(None);
    };
    let first = i64::try_from(next_seq).map_err(|_| FollowError::Corrupt("seq".into()))?;
    if last.seq < first {
        return Ok(None);
    }
    let last_seq = last
        .seq
        .min(first + i64::try_from(st.config.anchor_batch_max).unwrap_or(i64::MAX) - 1);
    let rows = st.index.log_range(first, last_seq).await?;
    let tree = tree_of(&rows)
        .map_err(|e| FollowError::Corrupt(e.to_string()))?
        .ok_or_else(|| FollowError::Corrupt("empty batch".into()))?;
    let index = st.ledger.anchor_count().await?;
    let root = tree.root();
    let batch_last = u64::try_from(last_seq).unwrap_or(0);
    let tx = st
        .ledger
        .anchor_access_log(root, next_seq, batch_last)
        .await?;
    let row = AnchorRow {
        anchor_index: index,
        first_seq: next_seq,
        last_seq: batch_last,
        root,
        tx_hash: Some(tx),
    };
    st.index.insert_anchor(&row, now_secs()).await?;
    st.metrics.log_anchored.set(last_seq + 1);
    tracing::info!(first, last_seq, "access-log batch anchored");
    Ok(Some(row))
}

/// Adds anchors the contract has and the index lacks (a crash after the transaction), after
/// checking each root against the stored entries; forgets anchors the index has and the contract
/// no longer has (their transactions were on a reorganised-out branch: the entries are anchored
/// again with the next batch).
async fn reconcile_anchors(st: &AppState) -> Result<(), FollowError> {
    let on_chain = st.ledger.anchor_count().await?;
    let forgotten = st.index.forget_anchors_from(on_chain).await?;
    if forgotten > 0 {
        tracing::warn!(
            forgotten,
            "access-log anchors no longer on chain (reorganised out); they will be anchored again"
        );
    }
    let known = st
        .index
        .last_anchor()
        .await?
        .map_or(0, |a| a.anchor_index + 1);
    let gaps: Vec<(i64, i64)> = if known < on_chain {
        st.index
            .log_gaps()
            .await?
            .iter()
            .filter_map(crate::access_log::declared_gap)
            .collect()
    } else {
        Vec::new()
    };
    for i in known..on_chain {
        let (root, first, last) = st.ledger.anchor_at(i).await?;
        let (first_seq, last_seq) = (
            i64::try_from(first).unwrap_or(0),
            i64::try_from(last).unwrap_or(0),
        );
        let rows = st.index.log_range(first_seq, last_seq).await?;
        let ours = tree_of(&rows)
            .map_err(|e| FollowError::Corrupt(e.to_string()))?
            .map(|t| t.root());
        // A batch holding entries a restore lost is recorded unchecked: the gap entry says so.
        if ours != Some(root) && !in_gap(&gaps, first_seq, last_seq) {
            return Err(FollowError::Corrupt(format!(
                "anchor {i} on chain does not match the stored entries {first}..={last}"
            )));
        }
        st.index
            .insert_anchor(
                &AnchorRow {
                    anchor_index: i,
                    first_seq: first,
                    last_seq: last,
                    root,
                    tx_hash: None,
                },
                now_secs(),
            )
            .await?;
    }
    Ok(())
}

/// What `verify-log` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Entries checked.
    pub entries: u64,
    /// Anchored batches checked against the chain.
    pub anchors: u64,
    /// Gaps the log declares (entries anchored on chain that a restored index no longer holds):
    /// first and last lost seq.
    pub gaps: Vec<(i64, i64)>,
    /// Anchored batches that cannot be checked because a declared gap holds some of their entries.
    pub anchors_in_gaps: u64,
    /// The first problem, if any.
    pub problem: Option<String>,
}

impl LogReport {
    /// Whether everything verified (declared gaps are reported, not failures).
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

impl std::fmt::Display for LogReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "access log OK: {} entries chained, {} anchored batches match the chain",
                self.entries, self.anchors
            )?,
            Some(p) => write!(
                f,
                "access log FAILED after {} entries and {} anchors: {p}",
                self.entries, self.anchors
            )?,
        }
        for (first, last) in &self.gaps {
            write!(
                f,
                "\nentries {first}..={last} were lost in a restore (declared in the log)"
            )?;
        }
        if self.anchors_in_gaps > 0 {
            write!(
                f,
                "\n{} anchored batches hold lost entries and cannot be checked",
                self.anchors_in_gaps
            )?;
        }
        Ok(())
    }
}

/// Checks the whole hash chain, then every anchored batch's root against the contract.
pub async fn verify_log(st: &AppState) -> Result<LogReport, FollowError> {
    verify_log_with(&st.index, &st.ledger).await
}

/// Whether an anchored batch `first..=last` holds seqs of one of `gaps`.
fn in_gap(gaps: &[(i64, i64)], first: i64, last: i64) -> bool {
    gaps.iter().any(|(a, b)| first <= *b && *a <= last)
}

/// [`verify_log`] over an index and a ledger.
pub async fn verify_log_with(
    index: &crate::db::Index,
    ledger: &Ledger,
) -> Result<LogReport, FollowError> {
    const PAGE: i64 = 10_000;
    let mut report = LogReport {
        entries: 0,
        anchors: 0,
        gaps: Vec::new(),
        anchors_in_gaps: 0,
        problem: None,
    };
    let mut chain = crate::access_log::ChainCheck::new(0, B256::ZERO);
    loop {
        let rows = index.log_page(chain.next_seq(), PAGE).await?;
        if let Err(e) = chain.check(&rows) {
            report.problem = Some(e.to_string());
            return Ok(report);
        }
        report.entries += rows.len() as u64;
        if rows.len() < PAGE as usize {
            break;
        }
    }
    report.gaps = chain.gaps().to_vec();
    let mut anchor_ends = Vec::new();
    for i in 0..ledger.anchor_count().await? {
        let (root, a, b) = ledger.anchor_at(i).await?;
        let (a, b) = (
            i64::try_from(a).unwrap_or(i64::MAX),
            i64::try_from(b).unwrap_or(i64::MAX),
        );
        anchor_ends.push(b);
        if in_gap(&report.gaps, a, b) {
            report.anchors_in_gaps += 1;
            continue;
        }
        let rows = index.log_range(a, b).await?;
        let ours = tree_of(&rows).ok().flatten().map(|t| t.root());
        if ours != Some(root) {
            report.problem = Some(format!(
                "anchored batch {i} (entries {a}..={b}) does not match the stored entries"
            ));
            return Ok(report);
        }
        report.anchors += 1;
    }
    // A gap is declared only for entries the chain anchored: it ends where an anchor ends.
    if let Some((first, last)) = report
        .gaps
        .iter()
        .find(|(_, last)| !anchor_ends.contains(last))
    {
        report.problem = Some(format!(
            "the log declares entries {first}..={last} lost, but no anchor on chain ends at {last}"
        ));
    }
    Ok(report)
}
