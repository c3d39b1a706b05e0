//! The consent index: the core contract's `canRead` and `canWrite` answered from memory, exactly
//! as the contract would answer them at the chain's current head, instead of one `eth_call` (or
//! four) per request.
//!
//! [`ConsentIndex::run`] follows every block of the core's logs from its deployment block into a
//! [`ConsentState`] (no confirmation depth: consent is decided at the head, as `eth_call` at
//! `latest` decides it). Each of its steps asks the node for its head block, checks that the block
//! the state stands at is still on the chain, reads the logs up to the head, checks the head is
//! still the same block, and applies them; a reorganisation (the state's block gone) empties the
//! state and replays from the deployment block.
//!
//! A question ([`ConsentIndex::at_head`]) is answered from memory only when a step that *began
//! after the question arrived* found the state at the node's head: so the answer is never older
//! than the chain was when the request came in, and a revocation mined before a request is
//! applied to it, as with `eth_call`. Concurrent questions share one step (one head request to the
//! node for all of them). The answer uses the state's block timestamp, the `block.timestamp` an
//! `eth_call` at that block sees, for expiries and emergency windows.
//!
//! Otherwise the index says nothing (`None`) and the caller asks the chain as before:
//! not started (`consent_index = false`, or the unit tests' escrows), still catching up after a
//! start, replaying after a reorganisation, a step failed (node unreachable, the head moved while
//! the logs were read), or no step answered within `consent_wait_ms`. The `*_now` helpers here do
//! exactly that, so no caller can forget the fallback.

pub mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use futures_util::stream::{FuturesUnordered, StreamExt};
use medledger_protocol::contract::MedLedger::RootedRecord;
use medledger_protocol::deployment::Deployment;
use prometheus::IntCounterVec;
use tokio::sync::{watch, Notify};

use crate::chain::{BlockInfo, ChainError, ContractEvent, Ledger};
pub use state::{Basis, ConsentState};

/// Why a step of the index did not reach the head.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The node.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Block `0` changed (or vanished) while its logs were read.
    #[error("block {0} changed while its logs were read")]
    Moved(u64),
}

/// The state and the block it stands at (`None` before the first block is applied).
#[derive(Debug, Default)]
struct Snapshot {
    state: ConsentState,
    head: Option<BlockInfo>,
}

/// What a step published: the questions it answers (those that arrived before it began) and the
/// head it found the state at, when it did.
#[derive(Debug, Clone, Copy, Default)]
struct Observation {
    covers: u64,
    fresh: Option<BlockInfo>,
}

/// See the module doc.
pub struct ConsentIndex {
    ledger: Ledger,
    deployment: Arc<Deployment>,
    log_block_batch: u64,
    poll_interval: Duration,
    wait: Duration,
    running: AtomicBool,
    snapshot: RwLock<Snapshot>,
    /// Questions asked so far; a step covers those counted before it began.
    arrivals: AtomicU64,
    wake: Notify,
    published: watch::Sender<Observation>,
    answers: IntCounterVec,
}

impl core::fmt::Debug for ConsentIndex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConsentIndex")
            .field("running", &self.running.load(Ordering::Relaxed))
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

/// How a question was answered, for the `consent_answers_total` metric.
const FROM_INDEX: &str = "index";
const FROM_CHAIN: &str = "chain";

impl ConsentIndex {
    /// An index over `ledger`'s chain for `deployment`, not yet running (every question goes to
    /// the chain until [`ConsentIndex::run`] has reached the head).
    pub fn new(
        ledger: Ledger,
        deployment: Arc<Deployment>,
        config: &crate::config::Config,
        answers: IntCounterVec,
    ) -> ConsentIndex {
        ConsentIndex {
            ledger,
            deployment,
            log_block_batch: config.log_block_batch,
            poll_interval: Duration::from_millis(config.poll_interval_ms),
            wait: Duration::from_millis(config.consent_wait_ms),
            running: AtomicBool::new(false),
            snapshot: RwLock::new(Snapshot::default()),
            arrivals: AtomicU64::new(0),
            wake: Notify::new(),
            published: watch::Sender::new(Observation::default()),
            answers,
        }
    }

    /// The block the state stands at.
    pub fn head(&self) -> Option<BlockInfo> {
        self.read().head
    }

    /// `f(state, block)` at whatever block the state stands at, fresh or not (for the
    /// differential test and diagnostics; decisions go through [`ConsentIndex::at_head`]).
    pub fn inspect<T>(&self, f: impl FnOnce(&ConsentState, BlockInfo) -> T) -> Option<T> {
        let snapshot = self.read();
        Some(f(&snapshot.state, snapshot.head?))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        // Applying an event cannot panic (map inserts and removes); were the lock poisoned
        // anyway, the state is still whole at a block boundary only if the head moved last,
        // which `step` guarantees by setting it after the events.
        self.snapshot.read().unwrap_or_else(|p| p.into_inner())
    }

    /// `f(state, block timestamp)` when the index holds the chain's current head (see the module
    /// doc); `None` when it cannot say, and the caller must ask the chain.
    pub async fn at_head<T>(&self, f: impl FnOnce(&ConsentState, u64) -> T) -> Option<T> {
        if !self.running.load(Ordering::Acquire) {
            return None;
        }
        let ticket = self.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
        let mut seen = self.published.subscribe();
        self.wake.notify_one();
        let covered = seen.wait_for(|o| o.covers >= ticket);
        let observed = match tokio::time::timeout(self.wait, covered).await {
            Ok(Ok(o)) => *o,
            _ => return None,
        };
        let fresh = observed.fresh?;
        let snapshot = self.read();
        let head = snapshot.head?;
        // Older than the observed head only while a reorganisation is being replayed.
        if head.number < fresh.number || (head.number == fresh.number && head.hash != fresh.hash) {
            return None;
        }
        Some(f(&snapshot.state, head.timestamp))
    }

    fn count(&self, source: &str) {
        self.answers.with_label_values(&[source]).inc();
    }

    /// `canRead(patient, reader, recordId)` now, with its basis: from the index, else from the
    /// chain (`canRead`, then the grant and the emergency window that explain it; a read whose
    /// basis cannot be named, because the chain moved on between the calls, is refused).
    pub async fn read_basis_now(
        &self,
        patient: Address,
        reader: Address,
        record_id: B256,
        category: u8,
    ) -> Result<Option<Basis>, ChainError> {
        let known = self
            .at_head(|s, now| s.read_basis(patient, reader, record_id, now))
            .await;
        if let Some(basis) = known {
            self.count(FROM_INDEX);
            return Ok(basis);
        }
        self.count(FROM_CHAIN);
        if !self.ledger.can_read(patient, reader, record_id).await? {
            return Ok(None);
        }
        self.basis_from_chain(patient, reader, category).await
    }

    /// `canReadRooted(patient, reader, root, record, proof)` now, with its basis: from the index,
    /// else from the chain as [`ConsentIndex::read_basis_now`] asks it.
    pub async fn rooted_read_basis_now(
        &self,
        patient: Address,
        reader: Address,
        root: B256,
        record: &RootedRecord,
        proof: &[B256],
    ) -> Result<Option<Basis>, ChainError> {
        let known = self
            .at_head(|s, now| s.rooted_read_basis(patient, reader, root, record, proof, now))
            .await;
        if let Some(basis) = known {
            self.count(FROM_INDEX);
            return Ok(basis);
        }
        self.count(FROM_CHAIN);
        let chain = &self.ledger;
        if !chain
            .can_read_rooted(patient, reader, root, record, proof)
            .await?
        {
            return Ok(None);
        }
        self.basis_from_chain(patient, reader, record.category)
            .await
    }

    /// The basis of a read the chain just allowed: the patient's own, a grant covering `category`,
    /// else an emergency window; `None` (refused) when neither holds any longer, because the chain
    /// moved on between the calls.
    async fn basis_from_chain(
        &self,
        patient: Address,
        reader: Address,
        category: u8,
    ) -> Result<Option<Basis>, ChainError> {
        if reader == patient {
            return Ok(Some(Basis::Consent));
        }
        let now = self.ledger.head_timestamp().await?;
        let (categories, expiry) = self.ledger.grant_of(patient, reader).await?;
        if categories.bit(usize::from(category)) && expiry > now {
            return Ok(Some(Basis::Consent));
        }
        let until = self.ledger.emergency_until(patient, reader).await?;
        Ok((until > now).then_some(Basis::Emergency))
    }

    /// `canRead` now: from the index, else one `eth_call`.
    pub async fn can_read_now(
        &self,
        patient: Address,
        reader: Address,
        record_id: B256,
    ) -> Result<bool, ChainError> {
        let known = self
            .at_head(|s, now| s.can_read(patient, reader, record_id, now))
            .await;
        self.answered(known, || self.ledger.can_read(patient, reader, record_id))
            .await
    }

    /// `canReadMany(patient, reader, ids)` now: from the index, else one `eth_call` per
    /// [`crate::chain::CAN_READ_BATCH`] ids.
    pub async fn can_read_many_now(
        &self,
        patient: Address,
        reader: Address,
        record_ids: &[B256],
    ) -> Result<Vec<bool>, ChainError> {
        let known = self
            .at_head(|s, now| {
                let each = |id: &B256| s.can_read(patient, reader, *id, now);
                record_ids.iter().map(each).collect()
            })
            .await;
        self.answered(known, || {
            self.ledger.can_read_many(patient, reader, record_ids)
        })
        .await
    }

    /// `canReadRooted` now for each of `patient`'s records under roots, given as (root, leaf,
    /// proof): from the index in one look, else one `eth_call` each.
    pub async fn can_read_rooted_many_now(
        &self,
        patient: Address,
        reader: Address,
        leaves: &[(B256, RootedRecord, Vec<B256>)],
    ) -> Result<Vec<bool>, ChainError> {
        let known = self
            .at_head(|s, now| {
                let each = |(root, leaf, proof): &(B256, RootedRecord, Vec<B256>)| {
                    let basis = s.rooted_read_basis(patient, reader, *root, leaf, proof, now);
                    basis.is_some()
                };
                leaves.iter().map(each).collect()
            })
            .await;
        self.answered(known, || async {
            let mut allowed = Vec::with_capacity(leaves.len());
            for (root, leaf, proof) in leaves {
                let ledger = &self.ledger;
                allowed.push(
                    ledger
                        .can_read_rooted(patient, reader, *root, leaf, proof)
                        .await?,
                );
            }
            Ok(allowed)
        })
        .await
    }

    /// `canWrite(patient, writer, category)` now: from the index, else one `eth_call`.
    pub async fn can_write_now(
        &self,
        patient: Address,
        writer: Address,
        category: u8,
    ) -> Result<bool, ChainError> {
        let known = self
            .at_head(|s, now| s.can_write(patient, writer, category, now))
            .await;
        self.answered(known, || self.ledger.can_write(patient, writer, category))
            .await
    }

    /// Whether `patient` is opted in to emergency access now.
    pub async fn emergency_opt_in_now(&self, patient: Address) -> Result<bool, ChainError> {
        let known = self.at_head(|s, _| s.emergency_opt_in(patient)).await;
        self.answered(known, || self.ledger.emergency_opt_in(patient))
            .await
    }

    /// Whether `practitioner`'s emergency window on `patient` is open now.
    pub async fn emergency_open_now(
        &self,
        patient: Address,
        practitioner: Address,
    ) -> Result<bool, ChainError> {
        let known = self
            .at_head(|s, now| s.emergency_until(patient, practitioner) > now)
            .await;
        self.answered(known, || async {
            let until = self.ledger.emergency_until(patient, practitioner).await?;
            Ok(until > self.ledger.head_timestamp().await?)
        })
        .await
    }

    /// The index's answer, counted, or the chain's.
    async fn answered<T, F, Fut>(&self, known: Option<T>, ask_chain: F) -> Result<T, ChainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        match known {
            Some(v) => {
                self.count(FROM_INDEX);
                Ok(v)
            }
            None => {
                self.count(FROM_CHAIN);
                ask_chain().await
            }
        }
    }

    /// Starts following the chain (see [`ConsentIndex::run`]); questions asked from now on wait
    /// for its steps (up to `consent_wait_ms`) instead of going straight to the chain.
    pub fn spawn(self: &Arc<Self>, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        self.running.store(true, Ordering::Release);
        tokio::spawn(self.clone().run(stop))
    }

    /// Follows the chain until `stop` turns true. Whenever questions wait that no head request
    /// in flight was sent after, it sends one (at most [`OBSERVATIONS_IN_FLIGHT`] at a time, so a
    /// question waits for about one head request, not for the rest of one and then another); with
    /// no question waiting, one every poll interval keeps the state near the head. Each head that
    /// comes back is caught up to (one at a time) and published for the questions it covers.
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        let mut in_flight = FuturesUnordered::new();
        let mut launched = 0u64;
        let mut tick = tokio::time::interval(self.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let arrived = self.arrivals.load(Ordering::SeqCst);
            if arrived > launched && in_flight.len() < OBSERVATIONS_IN_FLIGHT {
                launched = arrived;
                in_flight.push(self.observe(arrived));
                continue;
            }
            tokio::select! {
                Some((covers, head)) = in_flight.next() => {
                    let reached = match head {
                        Ok(head) => self.reach(head).await,
                        Err(e) => Err(e.into()),
                    };
                    let fresh = match reached {
                        Ok(head) => {
                            if failing {
                                tracing::info!(block = head.number, "consent index at the head again");
                            }
                            failing = false;
                            Some(head)
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!(error = %e, "consent index behind the head: reads ask the chain until it catches up");
                            }
                            failing = true;
                            None
                        }
                    };
                    self.publish(Observation { covers, fresh });
                }
                _ = self.wake.notified() => {}
                _ = tick.tick(), if in_flight.is_empty() => {
                    let covers = self.arrivals.load(Ordering::SeqCst);
                    launched = launched.max(covers);
                    in_flight.push(self.observe(covers));
                }
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        self.running.store(false, Ordering::Release);
    }

    /// The node's head, asked after the `covers` questions counted so far arrived.
    fn observe(
        &self,
        covers: u64,
    ) -> futures_util::future::BoxFuture<'static, (u64, Result<BlockInfo, ChainError>)> {
        let chain = self.ledger.chain().clone();
        Box::pin(async move { (covers, chain.head().await) })
    }

    /// Publishes an observation unless one covering more questions already was (head requests
    /// may come back out of order).
    fn publish(&self, observation: Observation) {
        self.published.send_if_modified(|o| {
            let newer = observation.covers > o.covers;
            if newer {
                *o = observation;
            }
            newer
        });
    }

    /// Brings the state to the node's head; returns that head.
    pub async fn step(&self) -> Result<BlockInfo, StepError> {
        let head = self.ledger.chain().head().await?;
        self.reach(head).await
    }

    /// Brings the state to `head`, a head the node reported (or further, when a later report
    /// already took it there); returns the block the state then stands at.
    async fn reach(&self, head: BlockInfo) -> Result<BlockInfo, StepError> {
        let chain = self.ledger.chain();
        if let Some(at) = self.head() {
            if at == head {
                return Ok(head);
            }
            if head.number == at.number + 1 && head.parent_hash == at.hash {
                // The usual step: one new block on top of ours; its logs by its hash (EIP-234),
                // which a node answers only for that very block (an answer holding another
                // block's logs, as Ganache gives for a dropped block, is refused in chain.rs).
                let logs = chain.block_logs(head.hash).await?;
                self.apply(&logs, head);
                return Ok(head);
            }
            let ours = chain.block(at.number).await?;
            if ours == Some(at) && at.number > head.number {
                // A report older than one already applied: the state is newer still.
                return Ok(at);
            }
            if ours != Some(at) {
                tracing::warn!(
                    block = at.number,
                    "the chain was reorganised under the consent index: replaying its events"
                );
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Snapshot::default();
            }
        }
        let mut from = self
            .head()
            .map_or(self.deployment.deploy_block, |b| b.number + 1);
        while from <= head.number {
            let to = head.number.min(from + self.log_block_batch - 1);
            let end = if to == head.number {
                head
            } else {
                chain.block(to).await?.ok_or(StepError::Moved(to))?
            };
            let logs = chain.logs(from, to).await?;
            if chain.block(to).await? != Some(end) {
                return Err(StepError::Moved(to));
            }
            self.apply(&logs, end);
            from = to + 1;
        }
        Ok(head)
    }

    /// Applies the core's events among `logs` and moves the state to `end`, under one write lock.
    fn apply(&self, logs: &[crate::chain::ChainLog], end: BlockInfo) {
        let events: Vec<_> = logs
            .iter()
            .filter_map(|log| match Ledger::decode(log, &self.deployment) {
                Some(ContractEvent::Core(e)) => Some((e, log.block)),
                _ => None,
            })
            .collect();
        let mut snapshot = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        for (event, block) in &events {
            snapshot.state.apply_in(event, *block);
        }
        snapshot.head = Some(end);
    }
}

/// Head requests in flight at once: one being answered and one sent for the questions that
/// arrived since.
const OBSERVATIONS_IN_FLIGHT: usize = 2;

#[cfg(test)]
mod tests;
