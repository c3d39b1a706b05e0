//! Background work driven by the chain. The event follower reads the contract's logs from a
//! durable cursor (stored in the index, so a restart resumes where it stopped) up to the head minus
//! the confirmation depth, and: marks an upload committed on `RecordAdded` with the same h1;
//! shreds on `RecordErased` / `AllRecordsErased` (destroys K2 and the wrapped DEKs, deletes the
//! blob, stores a receipt signed by the escrow key, logs it in the access log so its hash is
//! anchored with the next batch, and calls `confirmShredded`); removes pending uploads that were
//! never anchored after the TTL, and blobs no record points to. Handling is idempotent, so
//! replaying a block range after a crash is harmless.
//!
//! The anchoring task puts the Merkle root of each new batch of access-log entries on chain with
//! `anchorAccessLog`, reconciling its own record of anchors with the contract's first.

use std::time::Duration;

use alloy_primitives::{hex, keccak256, Address, B256};
use alloy_signer::SignerSync;
use medledger_protocol::api::{AccountEvent, AccountKind, AccountStatus};
use medledger_protocol::contract::{MedLedgerErrors, MedLedgerEvents};
use serde_json::json;
use tokio::sync::watch;

use crate::access_log::{tree_of, NewEntry};
use crate::chain::{ChainError, ChainLog, Ledger};
use crate::db::{claim_status, state, AnchorRow, ClaimRow, ClaimUpdate};
use crate::now_secs;
use crate::server::AppState;

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
    every_poll(&st, stop, "event follower step", tick).await;
}

/// Sends `confirmShredded` for the receipts not yet confirmed, until `stop` turns true. A task of
/// its own: waiting for a transaction to be mined (up to the receipt timeout, e.g. when a
/// reorganisation dropped it) must not hold up following the chain.
pub async fn run_confirmations(st: AppState, stop: watch::Receiver<bool>) {
    every_poll(&st, stop, "confirming shreds", confirm_receipts).await;
}

async fn every_poll<F>(st: &AppState, mut stop: watch::Receiver<bool>, what: &str, step: F)
where
    F: for<'a> AsyncStep<'a>,
{
    let interval = Duration::from_millis(st.config.poll_interval_ms);
    loop {
        if let Err(e) = step.call(st).await {
            tracing::warn!(error = %e, "{what} failed; retrying");
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
pub async fn tick(st: &AppState) -> Result<(), FollowError> {
    // Each part runs even when the other fails; the first error is reported.
    let logs = follow_logs(st).await;
    let swept = sweep(st).await;
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

async fn follow_logs(st: &AppState) -> Result<(), FollowError> {
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
    while next <= safe {
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
            if let Some(event) = Ledger::decode(log) {
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
    for address in st.index.accounts_updated_since(from).await? {
        let account: Address = address
            .parse()
            .map_err(|_| FollowError::Corrupt("account address".into()))?;
        // An account the index holds has a status on chain; anything else reads as not verified.
        let status = AccountStatus::from_chain_number(st.ledger.account_status_of(account).await?)
            .unwrap_or(AccountStatus::Pending);
        statuses.push((address, status));
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

fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn handle(st: &AppState, event: MedLedgerEvents, log: &ChainLog) -> Result<(), FollowError> {
    let block = log.block;
    match event {
        MedLedgerEvents::RecordAdded(e) => {
            let rid = e.recordId.to_string();
            let (patient, author) = (e.patient.to_checksum(None), e.author.to_checksum(None));
            let h1 = e.ciphertextHash.to_string();
            let anchored = crate::db::Anchored {
                record_id: &rid,
                patient: &patient,
                h1: &h1,
                category: i64::from(e.category),
                author: &author,
            };
            let uploaded = st.index.record(&rid).await?;
            if st.index.commit(&anchored, db_int(block)).await? {
                let differs = uploaded.is_some_and(|u| {
                    u.category != anchored.category || u.author != anchored.author
                });
                if differs {
                    tracing::warn!(
                        block,
                        "the anchor's category or author differs from the upload's; the index follows the chain"
                    );
                }
                tracing::info!(block, "record committed");
            } else if let Some(r) = st.index.record(&rid).await? {
                if r.state == state::PENDING {
                    tracing::warn!(
                        block,
                        "anchored h1 differs from the stored upload; it stays pending and expires"
                    );
                }
            }
        }
        MedLedgerEvents::RecordErased(e) => shred(st, e.recordId).await?,
        MedLedgerEvents::AccountRegistered(e) => {
            let Some(kind) = AccountKind::from_chain_number(e.kind) else {
                // A role added to the contract after this escrow: not shown as another one.
                tracing::warn!(
                    block,
                    kind = e.kind,
                    "an account kind this escrow does not know is not indexed"
                );
                return Ok(());
            };
            st.index
                .account_registered(
                    &e.account.to_checksum(None),
                    kind,
                    kind.status_at_registration(),
                    &e.profileHash.to_string(),
                    i64::try_from(block).unwrap_or(i64::MAX),
                )
                .await?;
            st.index
                .account_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.account.to_checksum(None),
                    AccountEvent::Registered,
                )
                .await?;
        }
        MedLedgerEvents::AccountVerified(e) => {
            st.index
                .account_status(
                    &e.account.to_checksum(None),
                    AccountStatus::Active,
                    i64::try_from(block).unwrap_or(i64::MAX),
                )
                .await?;
            st.index
                .account_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.account.to_checksum(None),
                    AccountEvent::Verified,
                )
                .await?;
        }
        MedLedgerEvents::AccountSuspended(e) => {
            st.index
                .account_status(
                    &e.account.to_checksum(None),
                    AccountStatus::Suspended,
                    i64::try_from(block).unwrap_or(i64::MAX),
                )
                .await?;
            st.index
                .account_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.account.to_checksum(None),
                    AccountEvent::Suspended,
                )
                .await?;
        }
        MedLedgerEvents::AccountReinstated(e) => {
            st.index
                .account_status(
                    &e.account.to_checksum(None),
                    AccountStatus::Active,
                    i64::try_from(block).unwrap_or(i64::MAX),
                )
                .await?;
            st.index
                .account_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.account.to_checksum(None),
                    AccountEvent::Reinstated,
                )
                .await?;
        }
        MedLedgerEvents::ConsentGranted(e) => {
            st.index
                .grant_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.patient.to_checksum(None),
                    &e.grantee.to_checksum(None),
                    Some((&e.categories.to_string(), e.canWrite, &e.expiry.to_string())),
                )
                .await?;
        }
        MedLedgerEvents::ConsentRevoked(e) => {
            st.index
                .grant_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.patient.to_checksum(None),
                    &e.grantee.to_checksum(None),
                    None,
                )
                .await?;
        }
        MedLedgerEvents::ClaimSubmitted(e) => {
            let submitted_at = st
                .ledger
                .chain()
                .block(block)
                .await?
                .map(|b| b.timestamp)
                .ok_or_else(|| FollowError::Corrupt("a logged block is missing".into()))?;
            st.index
                .claim_submitted(&ClaimRow {
                    claim_id: e.claimId.to_string(),
                    practitioner: e.practitioner.to_checksum(None),
                    patient: e.patient.to_checksum(None),
                    insurer: e.insurer.to_checksum(None),
                    document_record_id: e.documentRecordId.to_string(),
                    amount: e.amount.to_string(),
                    category: i64::from(e.category),
                    submitted_block: db_int(block),
                    log_index: db_int(log.log_index),
                    submitted_at: db_int(submitted_at),
                    status: claim_status::SUBMITTED.to_string(),
                    pending_reason: None,
                    payout: None,
                    automatic: None,
                    deny_reason_hash: None,
                })
                .await?;
        }
        MedLedgerEvents::ClaimPendingReview(e) => {
            let reason = ClaimUpdate::PendingReview {
                reason: i64::from(e.reason),
            };
            claim_update(st, log, e.claimId, reason).await?;
        }
        MedLedgerEvents::ClaimApproved(e) => {
            let payout = e.payout.to_string();
            claim_update(st, log, e.claimId, ClaimUpdate::Approved { payout }).await?;
        }
        MedLedgerEvents::ClaimDenied(e) => {
            let reason_hash = e.reasonHash.to_string();
            claim_update(st, log, e.claimId, ClaimUpdate::Denied { reason_hash }).await?;
        }
        MedLedgerEvents::ClaimPaid(e) => {
            let update = ClaimUpdate::Paid {
                payout: e.payout.to_string(),
                automatic: e.automatic,
            };
            claim_update(st, log, e.claimId, update).await?;
        }
        MedLedgerEvents::PolicyPublished(e) => {
            let terms = [
                e.coveredCategories.to_string(),
                e.perClaimLimit.to_string(),
                e.annualLimit.to_string(),
                e.deductible.to_string(),
            ];
            st.index
                .policy_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.insurer.to_checksum(None),
                    "published",
                    Some([&terms[0], &terms[1], &terms[2], &terms[3]]),
                    None,
                )
                .await?;
        }
        MedLedgerEvents::PolicyFunded(e) => {
            st.index
                .policy_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.insurer.to_checksum(None),
                    "funded",
                    None,
                    Some((&e.amount.to_string(), &e.funds.to_string())),
                )
                .await?;
        }
        MedLedgerEvents::PolicyFundsWithdrawn(e) => {
            st.index
                .policy_event(
                    db_int(block),
                    db_int(log.log_index),
                    &e.insurer.to_checksum(None),
                    "withdrawn",
                    None,
                    Some((&e.amount.to_string(), &e.funds.to_string())),
                )
                .await?;
        }
        MedLedgerEvents::AllRecordsErased(e) => {
            for r in st.index.records_of(&e.patient.to_checksum(None)).await? {
                let rid: B256 = r
                    .record_id
                    .parse()
                    .map_err(|_| FollowError::Corrupt("record id".into()))?;
                if st.ledger.is_erased(rid).await? {
                    shred(st, rid).await?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

async fn claim_update(
    st: &AppState,
    log: &ChainLog,
    claim_id: B256,
    update: ClaimUpdate,
) -> Result<(), FollowError> {
    st.index
        .claim_update(
            db_int(log.block),
            db_int(log.log_index),
            &claim_id.to_string(),
            &update,
        )
        .await?;
    Ok(())
}

/// Destroys a record's keys and blob and records a signed receipt (idempotent).
pub async fn shred(st: &AppState, record_id: B256) -> Result<(), FollowError> {
    let rid = record_id.to_string();
    let Some(record) = st.index.record(&rid).await? else {
        return Ok(());
    };
    if record.state == state::SHREDDED {
        return Ok(());
    }
    let at = now_secs();
    let receipt = json!({
        "type": "medledger-shred-receipt",
        "version": 1,
        "chainId": st.deployment.chain_id,
        "contract": st.deployment.address,
        "escrow": st.deployment.escrow,
        "recordId": rid,
        "h1": record.h1,
        "destroyed": ["k2", "wrapped-deks", "blob"],
        "shreddedAt": at,
    })
    .to_string();
    let receipt_hash = keccak256(receipt.as_bytes());
    let signature = match &st.signer {
        Some(s) => hex::encode_prefixed(
            s.sign_message_sync(receipt.as_bytes())
                .map_err(|e| FollowError::Sign(e.to_string()))?
                .as_bytes(),
        ),
        None => String::new(),
    };
    let Some(blob_key) = st
        .index
        .shred(&rid, &receipt, &signature, &receipt_hash.to_string(), at)
        .await?
    else {
        return Ok(());
    };
    if let Some(key) = blob_key {
        st.blobs.delete(&key).await?;
        st.index.clear_blob_key(&rid).await?;
    }
    st.metrics.shredded.inc();
    let patient: Address = record
        .patient
        .parse()
        .map_err(|_| FollowError::Corrupt("patient".into()))?;
    st.log
        .append(NewEntry {
            actor: st.deployment.escrow,
            patient,
            record_id,
            action: "shred",
            granted: true,
            reason: format!("receipt:{receipt_hash}"),
            score_milli: 0,
        })
        .await?;
    tracing::info!("record shredded");
    Ok(())
}

async fn confirm_receipts(st: &AppState) -> Result<(), FollowError> {
    if st.signer.is_none() {
        return Ok(());
    }
    for (rid, hash) in st.index.unconfirmed_receipts().await? {
        let record_id: B256 = rid
            .parse()
            .map_err(|_| FollowError::Corrupt("record id".into()))?;
        let receipt_hash: B256 = hash
            .parse()
            .map_err(|_| FollowError::Corrupt("receipt hash".into()))?;
        match st.ledger.confirm_shredded(record_id, receipt_hash).await {
            Ok(tx) => {
                st.index
                    .set_receipt_confirmed(&rid, &tx.to_string())
                    .await?
            }
            Err(ChainError::Rpc {
                revert: Some(data), ..
            }) if matches!(
                hex::decode(&data)
                    .ok()
                    .as_deref()
                    .and_then(medledger_protocol::contract::decode_revert),
                Some(MedLedgerErrors::ShredAlreadyConfirmed(_))
            ) =>
            {
                st.index
                    .set_receipt_confirmed(&rid, "already-confirmed")
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn sweep(st: &AppState) -> Result<(), FollowError> {
    let now = now_secs();
    // Shredded records whose blob delete did not finish.
    for (rid, key) in st.index.shredded_with_blobs().await? {
        st.blobs.delete(&key).await?;
        st.index.clear_blob_key(&rid).await?;
    }
    // Uploads never anchored.
    let cutoff = now - st.config.pending_ttl_secs;
    for r in st.index.stale_pending(cutoff).await? {
        if st.index.delete_pending(&r.record_id).await? {
            if let Some(key) = r.blob_key {
                st.blobs.delete(&key).await?;
            }
            tracing::info!("expired a pending upload that was never anchored");
        }
    }
    // Parts of uploads a killed process never finished.
    let staged = st.blobs.sweep_staging("c2", cutoff)?;
    if staged > 0 {
        tracing::info!(staged, "removed unfinished upload parts");
    }
    // Blobs no record points to (a crash between the blob and the index row).
    for (key, modified) in st.blobs.list("c2").await? {
        if modified >= cutoff {
            continue;
        }
        let rid = key.split('/').nth(1).unwrap_or_default();
        let referenced = st
            .index
            .record(rid)
            .await?
            .and_then(|r| r.blob_key)
            .is_some_and(|k| k == key);
        if !referenced {
            st.blobs.delete(&key).await?;
            tracing::info!("removed an orphan blob");
        }
    }
    Ok(())
}

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
        if let Err(e) = anchor_once(&st).await {
            tracing::warn!(error = %e, "anchoring the access log failed; retrying");
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
    let tx = st
        .ledger
        .anchor_access_log(root, next_seq, u64::try_from(last_seq).unwrap_or(0))
        .await?;
    let row = AnchorRow {
        anchor_index: i64::try_from(index).unwrap_or(i64::MAX),
        first_seq: first,
        last_seq,
        root: root.to_string(),
        tx_hash: tx.to_string(),
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
    let forgotten = st
        .index
        .forget_anchors_from(i64::try_from(on_chain).unwrap_or(i64::MAX))
        .await?;
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
        .map(|a| u64::try_from(a.anchor_index + 1).unwrap_or(0))
        .unwrap_or(0);
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
                    anchor_index: i64::try_from(i).unwrap_or(i64::MAX),
                    first_seq: i64::try_from(first).unwrap_or(0),
                    last_seq: i64::try_from(last).unwrap_or(0),
                    root: root.to_string(),
                    tx_hash: String::new(),
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
