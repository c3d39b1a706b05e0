//! Background work driven by the chain. The event follower reads the logs of the deployment's three
//! contracts (the core's records, accounts and consent; the insurance contract's claims and
//! policies; the licensing contract's organisations, told apart by the address that logged them) from a
//! durable cursor (stored in the index, so a restart resumes where it stopped) up to the head minus
//! the confirmation depth, and: marks an upload committed on `RecordAdded` with the same h1;
//! shreds on `RecordErased` / `AllRecordsErased` (destroys K2 and the wrapped DEKs, stores a
//! receipt signed by the escrow key and logs it in the access log, all in one transaction, so its
//! hash is anchored with the next batch; then deletes the blob and calls `confirmShredded`); removes pending uploads that were
//! never anchored after the TTL, and blobs no record points to. Handling is idempotent, so
//! replaying a block range after a crash is harmless.
//!
//! The anchoring task puts the Merkle root of each new batch of access-log entries on chain with
//! `anchorAccessLog`, reconciling its own record of anchors with the contract's first.

use std::time::Duration;

use alloy_primitives::{hex, keccak256, Address, B256};
use alloy_signer::SignerSync;
use medledger_protocol::api::licensing::{LicenceEvent, LicenceEventKind};
use medledger_protocol::api::{AccountEvent, AccountKind, AccountStatus};
use medledger_protocol::contract::{
    MedLedgerErrors, MedLedgerEvents, MedLedgerInsuranceEvents, MedLedgerLicensingEvents,
};
use serde_json::json;
use tokio::sync::watch;

use crate::access_log::{tree_of, NewEntry};
use crate::chain::{ChainError, ChainLog, ContractEvent, Ledger};
use crate::db::{
    db_int, AnchorRow, ClaimRow, ClaimUpdate, GrantTerms, PolicyEvent, PolicyTerms, RecordState,
};
use crate::now_secs;
use crate::server::AppState;
use medledger_protocol::api::AccessAction;
use medledger_protocol::api::ClaimStatus;

mod anchor;
mod events;
mod shred;

pub use anchor::{anchor_once, run_anchoring, verify_log, verify_log_with, LogReport};
use events::handle;
pub use shred::shred;
use shred::{confirm_receipts, sweep};

/// Why a follower step failed (it is retried at the next tick).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The index.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The blob store.
    #[error(transparent)]
    Blobs(#[from] crate::blobs::BlobError),
    /// The access log.
    #[error(transparent)]
    Log(#[from] crate::access_log::AppendError),
    /// A stored value.
    #[error("malformed stored value: {0}")]
    Corrupt(String),
    /// Signing a receipt.
    #[error("signing: {0}")]
    Sign(String),
}

/// Runs the follower until `stop` turns true.
pub async fn run(st: AppState, stop: watch::Receiver<bool>) {
    let step = TickUntil(stop.clone());
    every_poll(&st, stop, AtStop::Finish, "event follower step", step).await;
}

/// The follower's [`tick`] with the stop it checks between batches of blocks.
struct TickUntil(watch::Receiver<bool>);

impl<'a> AsyncStep<'a> for TickUntil {
    type Fut = futures_util::future::BoxFuture<'a, Result<(), FollowError>>;
    fn call(&self, st: &'a AppState) -> Self::Fut {
        let stop = self.0.clone();
        Box::pin(async move { tick(st, &stop).await })
    }
}

/// Sends `confirmShredded` for the receipts not yet confirmed, until `stop` turns true. A task of
/// its own: waiting for a transaction to be mined (up to the receipt timeout, e.g. when a
/// reorganisation dropped it) must not hold up following the chain.
pub async fn run_confirmations(st: AppState, stop: watch::Receiver<bool>) {
    every_poll(
        &st,
        stop,
        AtStop::Drop,
        "confirming shreds",
        confirm_receipts,
    )
    .await;
}

/// What a shutdown does to a background step in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtStop {
    /// Lets it finish: the follower's tick, which never waits on a receipt, and which ends at
    /// the next batch of blocks once `stop` turns true (a batch is never split: a stop mid-batch
    /// would make the next start handle its first events again).
    Finish,
    /// Drops it ([`unless_stopped`]): a step that may be waiting out a transaction's receipt.
    Drop,
}

async fn every_poll<F>(
    st: &AppState,
    mut stop: watch::Receiver<bool>,
    at_stop: AtStop,
    what: &str,
    step: F,
) where
    F: for<'a> AsyncStep<'a>,
{
    let interval = Duration::from_millis(st.config.poll_interval_ms);
    loop {
        let done = match at_stop {
            AtStop::Finish => Some(step.call(st).await),
            AtStop::Drop => unless_stopped(&mut stop, step.call(st)).await,
        };
        match done {
            None => return,
            Some(Err(e)) => tracing::warn!(error = %e, "{what} failed; retrying"),
            Some(Ok(())) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Runs `step` to its end, or drops it when `stop` turns true first (`None`). For the steps that
/// send a transaction and wait for its receipt (confirming shreds, anchoring): dropping one
/// half-way is what a crash at that point does, which they survive (each starts again from the
/// index and the chain: a confirmation the chain already holds is recognised, anchors are
/// reconciled with the contract's list), and a shutdown then never waits out a receipt (up to the
/// receipt timeout, e.g. for a transaction a reorganisation dropped).
async fn unless_stopped<T>(
    stop: &mut watch::Receiver<bool>,
    step: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        result = step => Some(result),
        _ = stop.wait_for(|stopped| *stopped) => None,
    }
}

/// An async step over the shared state (a named trait, since closures returning borrowing
/// futures cannot be written as `Fn` bounds directly).
trait AsyncStep<'a> {
    type Fut: std::future::Future<Output = Result<(), FollowError>> + Send + 'a;
    fn call(&self, st: &'a AppState) -> Self::Fut;
}

impl<'a, F, Fut> AsyncStep<'a> for F
where
    F: Fn(&'a AppState) -> Fut,
    Fut: std::future::Future<Output = Result<(), FollowError>> + Send + 'a,
{
    type Fut = Fut;
    fn call(&self, st: &'a AppState) -> Fut {
        self(st)
    }
}

/// One follower step: new logs, then blobs to delete and expired uploads (shred confirmations
/// run in [`run_confirmations`]).
pub async fn tick(st: &AppState, stop: &watch::Receiver<bool>) -> Result<(), FollowError> {
    // Each part runs even when the other fails; the first error is reported.
    let logs = follow_logs(st, stop).await;
    // The sweep lists every stored blob (slow on an object store): not when stopping.
    let swept = if *stop.borrow() {
        Ok(())
    } else {
        sweep(st).await
    };
    // A shred whose WAL truncation a busy reader held up is finished here.
    let scrubbed = st
        .index
        .scrub_if_due()
        .await
        .map(|_| ())
        .map_err(Into::into);
    logs.and(swept).and(scrubbed)
}

/// How many processed batches' last-block hashes the follower remembers (its reorg window).
pub const REMEMBERED_BLOCKS: i64 = 128;

/// Follows the chain's logs up to the safe head, a batch of blocks at a time; returns between
/// batches once `stop` turns true (an escrow far behind the head stops without catching up).
async fn follow_logs(st: &AppState, stop: &watch::Receiver<bool>) -> Result<(), FollowError> {
    let chain = st.ledger.chain();
    let head = chain.block_number().await?;
    st.metrics
        .chain_head
        .set(i64::try_from(head).unwrap_or(i64::MAX));
    let safe = head.saturating_sub(st.config.confirmations);
    let mut next = match st.index.cursor().await? {
        Some(n) => u64::try_from(n).unwrap_or(0),
        None => st.deployment.deploy_block,
    };
    if let Some(resume) = check_reorg(st, next).await? {
        next = resume;
    }
    while next <= safe && !*stop.borrow() {
        let to = safe.min(next + st.config.log_block_batch - 1);
        // The last block's hash before and after reading the logs: a reorganisation in between
        // leaves the batch for the next step.
        let Some(before) = chain.block(to).await? else {
            return Ok(());
        };
        let logs = chain.logs(next, to).await?;
        let after = chain.block(to).await?;
        if after.map(|b| b.hash) != Some(before.hash) {
            tracing::warn!(
                block = to,
                "the chain changed while its logs were read; retrying"
            );
            return Ok(());
        }
        for log in &logs {
            if let Some(event) = Ledger::decode(log, &st.deployment) {
                handle(st, event, log).await?;
            }
        }
        st.index
            .remember_block(db_int(to), &before.hash.to_string(), REMEMBERED_BLOCKS)
            .await?;
        next = to + 1;
        st.index.set_cursor(db_int(next)).await?;
        st.metrics.follower_next_block.set(db_int(next));
    }
    Ok(())
}

/// Checks that the last processed block (the one before `next`) still has the hash the follower
/// remembered. When it does not, the chain was reorganised deeper than the confirmation depth:
/// finds the newest remembered block still on the chain (or, when none is, the deployment block),
/// undoes what the follower derived from the blocks after it and returns the block to resume at.
async fn check_reorg(st: &AppState, next: u64) -> Result<Option<u64>, FollowError> {
    let remembered = st.index.remembered_blocks().await?;
    let Some((last, hash)) = remembered.first() else {
        return Ok(None);
    };
    if u64::try_from(*last).ok().map(|b| b + 1) != Some(next) {
        // Not where the follower stopped (an older index, or a cursor set elsewhere): nothing
        // to compare.
        return Ok(None);
    }
    let chain = st.ledger.chain();
    if still_there(chain.as_ref(), *last, hash).await? {
        return Ok(None);
    }
    let mut resume = st.deployment.deploy_block;
    for (block, hash) in remembered.iter().skip(1) {
        if still_there(chain.as_ref(), *block, hash).await? {
            resume = u64::try_from(*block).unwrap_or(0) + 1;
            break;
        }
    }
    let from = db_int(resume);
    let mut statuses = Vec::new();
    for account in st.index.accounts_updated_since(from).await? {
        // An account the index holds has a status on chain; anything else reads as not verified.
        let status = st
            .ledger
            .account_status_of(account)
            .await?
            .unwrap_or(AccountStatus::Pending);
        statuses.push((account, status));
    }
    let undone = st.index.rewind(from, &statuses).await?;
    tracing::warn!(
        remembered = last,
        resume,
        uncommitted = undone.uncommitted,
        event_rows = undone.event_rows,
        accounts = undone.accounts_deleted + statuses.len() as u64,
        "chain reorganised beyond the confirmation depth; rewound the follower (shreds are not undone)"
    );
    st.metrics.follower_next_block.set(from);
    Ok(Some(resume))
}

async fn still_there(
    chain: &dyn crate::chain::Chain,
    block: i64,
    hash: &str,
) -> Result<bool, FollowError> {
    let Ok(number) = u64::try_from(block) else {
        return Ok(false);
    };
    Ok(chain
        .block(number)
        .await?
        .is_some_and(|b| b.hash.to_string() == hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_never_ends_is_dropped_at_stop() {
        let (tx, mut rx) = watch::channel(false);
        tx.send(true).expect("a receiver");
        let waiting_for_a_receipt = std::future::pending::<()>();
        assert_eq!(unless_stopped(&mut rx, waiting_for_a_receipt).await, None);
    }

    #[tokio::test]
    async fn a_step_runs_to_its_end_while_not_stopped() {
        let (_tx, mut rx) = watch::channel(false);
        assert_eq!(unless_stopped(&mut rx, async { 7 }).await, Some(7));
    }

    #[tokio::test]
    async fn the_follower_stops_between_batches_without_catching_up() {
        use crate::chain::scripted::{escrow_on, Script};
        let script = Script {
            head: 1_000,
            ..Script::default()
        };
        let (_dir, _chain, mut st) = escrow_on(script).await;
        st.config = std::sync::Arc::new(crate::config::Config {
            log_block_batch: 10,
            confirmations: 0,
            ..(*st.config).clone()
        });
        let start = st.index.cursor().await.expect("cursor");
        // Stopped: not one batch more.
        let (stopping, stop) = watch::channel(true);
        follow_logs(&st, &stop).await.expect("stopped");
        assert_eq!(st.index.cursor().await.expect("cursor"), start);
        // Running: every batch up to the head.
        stopping.send(false).expect("a receiver");
        follow_logs(&st, &stop).await.expect("followed");
        assert_eq!(st.index.cursor().await.expect("cursor"), Some(1_001));
    }
}
