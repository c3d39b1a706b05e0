//! Prometheus metrics: counters of uploads, reads (by outcome), follower progress and the access
//! log, exposed in the text format at `/metrics`. Labels carry outcomes only, never addresses or
//! record ids.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The escrow's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Uploads by result (`stored`, `duplicate`, `refused`, `invalid`, `shed`, `error`).
    pub uploads: IntCounterVec,
    /// Uploads being received now (at most `max_concurrent_uploads`), set from the upload slots
    /// when `/metrics` is read.
    pub uploads_in_progress: IntGauge,
    /// Reads by result (`released`, `refused`, `error`).
    pub reads: IntCounterVec,
    /// Sign-ins by result.
    pub sign_ins: IntCounterVec,
    /// The next block the follower will read.
    pub follower_next_block: IntGauge,
    /// The chain head the follower last saw.
    pub chain_head: IntGauge,
    /// Access-log entries written.
    pub log_entries: IntGauge,
    /// Access-log entries anchored on chain.
    pub log_anchored: IntGauge,
    /// Records shredded by this process.
    pub shredded: IntGauge,
    /// Consent decisions by who answered them (`index`: the consent index at the head; `chain`:
    /// the node, by `eth_call`).
    pub consent_answers: IntCounterVec,
    /// Scored read attempts by what the risk step did (`flagged`, `held`).
    pub risk_outcomes: IntCounterVec,
    /// Transactions the relayer sent (paid for), mined or not.
    pub relayed_transactions: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("medledger_escrow".into()), None)?;
        let uploads =
            IntCounterVec::new(Opts::new("uploads_total", "uploads by result"), &["result"])?;
        let reads = IntCounterVec::new(
            Opts::new("reads_total", "record reads by result"),
            &["result"],
        )?;
        let sign_ins = IntCounterVec::new(
            Opts::new("sign_ins_total", "SIWE sign-ins by result"),
            &["result"],
        )?;
        let follower_next_block =
            IntGauge::new("follower_next_block", "next block the event follower reads")?;
        let chain_head = IntGauge::new("chain_head_block", "chain head seen by the follower")?;
        let log_entries = IntGauge::new("access_log_entries", "access-log entries written")?;
        let log_anchored = IntGauge::new(
            "access_log_anchored",
            "access-log entries anchored on chain",
        )?;
        let shredded = IntGauge::new("records_shredded", "records shredded since start")?;
        let uploads_in_progress =
            IntGauge::new("uploads_in_progress", "uploads being received now")?;
        let consent_answers = IntCounterVec::new(
            Opts::new(
                "consent_answers_total",
                "consent decisions by source (index: from memory at the head; chain: eth_call)",
            ),
            &["source"],
        )?;
        let risk_outcomes = IntCounterVec::new(
            Opts::new(
                "risk_outcomes_total",
                "read attempts the access-risk step flagged or held",
            ),
            &["outcome"],
        )?;
        let relayed_transactions = IntCounter::new(
            "relayed_transactions_total",
            "transactions the relayer sent for accounts (it paid their gas)",
        )?;
        registry.register(Box::new(relayed_transactions.clone()))?;
        registry.register(Box::new(risk_outcomes.clone()))?;
        registry.register(Box::new(uploads.clone()))?;
        registry.register(Box::new(reads.clone()))?;
        registry.register(Box::new(sign_ins.clone()))?;
        registry.register(Box::new(follower_next_block.clone()))?;
        registry.register(Box::new(chain_head.clone()))?;
        registry.register(Box::new(log_entries.clone()))?;
        registry.register(Box::new(log_anchored.clone()))?;
        registry.register(Box::new(shredded.clone()))?;
        registry.register(Box::new(uploads_in_progress.clone()))?;
        registry.register(Box::new(consent_answers.clone()))?;
        Ok(Metrics {
            registry,
            uploads,
            uploads_in_progress,
            reads,
            sign_ins,
            follower_next_block,
            chain_head,
            log_entries,
            log_anchored,
            shredded,
            consent_answers,
            risk_outcomes,
            relayed_transactions,
        })
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
