//! Erasure's other half: a record erased on chain loses its K2, wrapped DEKs, label and blob here,
//! with a signed receipt logged and confirmed on chain (`confirmShredded`, or
//! `confirmRootedShredded` for a record under a root); and the sweep that
//! removes pending uploads never anchored and blobs no record points to.

use std::collections::BTreeMap;

use super::*;
use crate::access_log::{AppendError, Write};
use crate::db::DbError;

/// Destroys a record's keys and blob and records a signed receipt (idempotent).
pub async fn shred(st: &AppState, record_id: B256) -> Result<(), FollowError> {
    let Some(record) = st.index.record(record_id).await? else {
        return Ok(());
    };
    if record.state == RecordState::Shredded {
        return Ok(());
    }
    let at = now_secs();
    let receipt = json!({
        "type": "medledger-shred-receipt",
        "version": 1,
        "chainId": st.deployment.chain_id,
        "contract": st.deployment.address,
        "escrow": st.deployment.escrow,
        "recordId": record_id,
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
    let shred = crate::db::ShredReceipt {
        record_id,
        receipt,
        signature,
        receipt_hash,
        at,
    };
    // The shred and its access-log entry in one transaction: a crash between the two can leave
    // neither a shred the patient's log does not show nor an entry for keys still held.
    let entry = NewEntry {
        actor: st.deployment.escrow,
        patient: record.patient,
        record_id,
        action: AccessAction::Shred,
        granted: true,
        reason: format!("receipt:{receipt_hash}"),
        risk: Default::default(),
    };
    match st
        .log
        .append_with(entry, Write::Shred(Box::new(shred)))
        .await
    {
        Ok(_) => {}
        // Shredded meanwhile, whose shred logged itself; or no longer in the index.
        Err(AppendError::Db(DbError::Stale(_))) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    st.metrics.shredded.inc();
    if !st.index.scrub_if_due().await? {
        tracing::warn!("the index's WAL could not be truncated after a shred yet; retrying");
    }
    // The blob last: a crash before its delete leaves it to the sweep (`shredded_with_blobs`).
    let blob_key = st.index.record(record_id).await?.and_then(|r| r.blob_key);
    if let Some(key) = blob_key {
        st.blobs.delete(&key).await?;
        st.index.clear_blob_key(record_id).await?;
    }
    tracing::info!("record shredded");
    Ok(())
}

/// Confirms on chain the shred receipts not confirmed yet: `confirmShredded` for a record anchored
/// alone, `confirmRootedShredded` for one erased by itself under a root, and one
/// `confirmRootShredded` for all the records of a root that `eraseAll` erased (a bulk import of
/// thousands is confirmed by one transaction, not thousands).
pub(super) async fn confirm_receipts(st: &AppState) -> Result<(), FollowError> {
    if st.signer.is_none() {
        return Ok(());
    }
    let mut by_root: BTreeMap<B256, Vec<(B256, B256)>> = BTreeMap::new();
    for (record_id, receipt_hash, root) in st.index.unconfirmed_receipts().await? {
        match root {
            None => confirm_one(st, record_id, receipt_hash, None).await?,
            Some(root) => by_root
                .entry(root)
                .or_default()
                .push((record_id, receipt_hash)),
        }
    }
    for (root, receipts) in by_root {
        confirm_under_root(st, root, &receipts).await?;
    }
    Ok(())
}

/// Whether a confirmation was refused because the chain holds one already.
fn already_confirmed(e: &ChainError) -> bool {
    let ChainError::Rpc {
        revert: Some(data), ..
    } = e
    else {
        return false;
    };
    matches!(
        hex::decode(data)
            .ok()
            .as_deref()
            .and_then(medledger_protocol::contract::decode_revert),
        Some(MedLedgerErrors::ShredAlreadyConfirmed(_))
    )
}

/// One record's receipt: `confirmShredded`, or `confirmRootedShredded` under its `root`.
async fn confirm_one(
    st: &AppState,
    record_id: B256,
    receipt_hash: B256,
    root: Option<B256>,
) -> Result<(), FollowError> {
    let sent = match root {
        None => st.ledger.confirm_shredded(record_id, receipt_hash).await,
        Some(root) => {
            let ledger = &st.ledger;
            ledger
                .confirm_rooted_shredded(root, record_id, receipt_hash)
                .await
        }
    };
    match sent {
        Ok(tx) => st.index.set_receipt_confirmed(record_id, Some(tx)).await?,
        Err(e) if already_confirmed(&e) => st.index.set_receipt_confirmed(record_id, None).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The unconfirmed `receipts` (record id, receipt hash), all under `root`. After an `eraseAll`
/// (the root's epoch is past), one `confirmRootShredded` once every record the escrow holds under
/// the root is shredded, with the hash of their receipt hashes in record-id order; otherwise each
/// on its own.
async fn confirm_under_root(
    st: &AppState,
    root: B256,
    receipts: &[(B256, B256)],
) -> Result<(), FollowError> {
    let on_chain = st.ledger.record_root_of(root).await?;
    let mark_all = async |tx: Option<B256>| -> Result<(), FollowError> {
        for (id, _) in receipts {
            st.index.set_receipt_confirmed(*id, tx).await?;
        }
        Ok(())
    };
    if on_chain.shredConfirmed {
        return mark_all(None).await;
    }
    let erased_all = on_chain.epoch != st.ledger.erasure_epoch_of(on_chain.patient).await?;
    if !erased_all || on_chain.patient.is_zero() {
        for (id, hash) in receipts {
            confirm_one(st, *id, *hash, Some(root)).await?;
        }
        return Ok(());
    }
    // Every record under the root, read now: a record shredded since `receipts` was read is
    // confirmed by this transaction too, and is marked with it (not later as "already
    // confirmed").
    let mut hashes = Vec::new();
    let mut covered = Vec::new();
    for r in st.index.records_under_root(root).await? {
        match st.index.receipt(r.record_id).await? {
            Some((_, _, hash, confirmed)) if r.state == RecordState::Shredded => {
                let hash: B256 = hash.parse().map_err(|_| FollowError::Corrupt(hash))?;
                hashes.extend_from_slice(hash.as_slice());
                if confirmed.is_none() {
                    covered.push(r.record_id);
                }
            }
            // The follower is still shredding the root's records: the next round confirms.
            _ => return Ok(()),
        }
    }
    let tx = match st
        .ledger
        .confirm_root_shredded(root, keccak256(&hashes))
        .await
    {
        Ok(tx) => Some(tx),
        Err(e) if already_confirmed(&e) => None,
        Err(e) => return Err(e.into()),
    };
    for id in covered {
        st.index.set_receipt_confirmed(id, tx).await?;
    }
    Ok(())
}

pub(super) async fn sweep(st: &AppState) -> Result<(), FollowError> {
    let now = now_secs();
    // Shredded records whose blob delete did not finish.
    for (rid, key) in st.index.shredded_with_blobs().await? {
        st.blobs.delete(&key).await?;
        st.index.clear_blob_key(rid).await?;
    }
    // Uploads never anchored.
    let cutoff = now - st.config.pending_ttl_secs;
    for r in st.index.stale_pending(cutoff).await? {
        if st.index.delete_pending(r.record_id).await? {
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
        // A key that names no record id is no record's blob.
        let referenced = match crate::blobs::c2_record(&key) {
            Some(rid) => st
                .index
                .record(rid)
                .await?
                .and_then(|r| r.blob_key)
                .is_some_and(|k| k == key),
            None => false,
        };
        if !referenced {
            st.blobs.delete(&key).await?;
            tracing::info!("removed an orphan blob");
        }
    }
    Ok(())
}
