//! Rotating the signed-in account's encryption key (formats.md 6.1 "Rotation", docs/api.md "Your
//! wraps"). The next key version is derived from the wallet's signature; every DEK the escrow
//! holds wrapped to the account is opened with the old key and wrapped to the new one in this
//! browser; the new key is registered on chain (`rotateEncryptionKey`), and from then on the page
//! holds the new key; then the escrow replaces the old wraps, a batch at a time, on the wallet's
//! `MoveWraps` signature. Wraps made for other readers are not touched.
//!
//! Each step can fail (the wallet refused, the network went away): what is done stays done in a
//! [`Rotation`] the page keeps, and Retry goes on from there. A rotation registered on chain but
//! not moved (the page closed) is found at the next visit ([`stale_wraps`]) and finished with the
//! previous key, which the wallet derives again ([`finish_previous`]). Nothing here ever registers
//! a key other than the next version's, and only over the key it moves from: a finish never
//! rotates.

use alloy_primitives::{hex, B256};
use medledger_protocol::api::{MoveWrapsBody, MovedWrap, MY_WRAPS_PAGE};
use medledger_protocol::contract::MedLedger;
use medledger_protocol::identity::MoveWrapsMessage;
use medledger_protocol::wrap::{self, KeyPair, PublicKey, Purpose, WrapContext};

use super::records::Identity;
use super::{escrow, session, wallet};
use crate::rotation::Step;

/// How long the wallet's `MoveWraps` signature serves (the escrow takes at most a day).
const SIGNATURE_SECS: u64 = 3_600;

/// A rotation under way: the keys and what is left to do.
#[derive(Clone)]
pub struct Rotation {
    /// The key the account moves from.
    old_keys: KeyPair,
    /// The key the account moves to.
    pub new_keys: KeyPair,
    /// Wraps to the new key the escrow has not accepted yet.
    to_move: Vec<MovedWrap>,
    /// Wraps the old key did not open (left as they were).
    pub unopened: usize,
    /// The wallet's `MoveWraps` signature and its deadline, once given.
    signature: Option<(String, u64)>,
    /// How many the escrow accepted so far.
    pub moved: usize,
}

type Progress<'a> = &'a dyn Fn(Step);

/// Why moving wraps stopped: the escrow refused (its code tells a gone record apart), or the
/// wallet did not sign.
enum MoveError {
    Escrow(escrow::EscrowError),
    Wallet(String),
}

impl std::fmt::Display for MoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveError::Escrow(e) => write!(f, "{e}"),
            MoveError::Wallet(why) => f.write_str(why),
        }
    }
}

/// Called once the new key is the account's on chain: the page holds it from then on.
pub type Adopt<'a> = &'a dyn Fn(&KeyPair);

fn context(me: &Identity, record_id: B256) -> WrapContext {
    WrapContext {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        record_id,
        reader: me.account,
        purpose: Purpose::Reader,
    }
}

fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Every DEK the escrow holds wrapped to the account, page by page: (record, wrap bytes).
async fn all_my_wraps(progress: Progress<'_>) -> Result<Vec<(B256, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = escrow::my_wraps(after).await.map_err(|e| e.to_string())?;
        for w in page.wraps {
            let bytes = hex::decode(&w.wrapped_dek).map_err(|_| {
                format!("the escrow sent a malformed key for record {}", w.record_id)
            })?;
            out.push((w.record_id, bytes));
        }
        progress(Step::Listing(out.len()));
        match page.next {
            // Pages go forward by record id; one that does not would never end.
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            Some(_) => return Err("the escrow's list of your keys did not move forward".into()),
            None => return Ok(out),
        }
    }
}

/// The account's wraps `from` opens, wrapped to `to`; and how many `from` did not open.
async fn rewrap_all(
    me: &Identity,
    from: &KeyPair,
    to: PublicKey,
    progress: Progress<'_>,
) -> Result<(Vec<MovedWrap>, usize), String> {
    let wraps = all_my_wraps(progress).await?;
    rewrap(me, wraps, from, to, progress).await
}

/// [`rewrap_all`] over wraps already listed.
async fn rewrap(
    me: &Identity,
    wraps: Vec<(B256, Vec<u8>)>,
    from: &KeyPair,
    to: PublicKey,
    progress: Progress<'_>,
) -> Result<(Vec<MovedWrap>, usize), String> {
    let total = wraps.len();
    let (mut moved, mut unopened) = (Vec::with_capacity(total), 0);
    for (done, (record_id, wrapped)) in wraps.into_iter().enumerate() {
        let ctx = context(me, record_id);
        match wrap::unwrap_dek(&wrapped, from, &ctx) {
            Ok(dek) => {
                let new = wrap::wrap_dek(&dek, &to, &ctx).map_err(|e| e.to_string())?;
                moved.push(MovedWrap {
                    record_id,
                    wrapped_dek: hex::encode_prefixed(new),
                });
            }
            Err(_) => unopened += 1,
        }
        if done % 50 == 49 {
            progress(Step::Rewrapping(done + 1, total));
            // Lets the page draw the bar between batches of work.
            wallet::sleep_ms(0).await;
        }
    }
    progress(Step::Rewrapping(total, total));
    Ok((moved, unopened))
}

/// How many of the account's wraps the key the page holds does not open: more than none means a
/// rotation registered on chain whose keys were not all moved. Every page is looked at: a
/// rotation stopped part way moved the first records (by id) and left the rest.
pub async fn stale_wraps(me: &Identity) -> Result<usize, String> {
    Ok(stale_among(me, &all_my_wraps(&|_| {}).await?))
}

/// How many of `wraps` the key the page holds does not open.
fn stale_among(me: &Identity, wraps: &[(B256, Vec<u8>)]) -> usize {
    wraps
        .iter()
        .filter(|(record_id, wrapped)| {
            wrap::unwrap_dek(wrapped, &me.keys, &context(me, *record_id)).is_err()
        })
        .count()
}

/// Refuses unless the page holds the key the chain holds (after a rotation elsewhere, or one
/// this page did not see through, the page must sign in again first).
async fn page_holds_chains_key(me: &Identity) -> Result<(), String> {
    if key_on_chain(me).await?.0 != me.keys.public().0 {
        return Err(
            "Your key on chain is not the one this page holds: sign out and in again first.".into(),
        );
    }
    Ok(())
}

/// The account's encryption key on chain now.
async fn key_on_chain(me: &Identity) -> Result<B256, String> {
    session::on_chain_account(&me.contract, me.account)
        .await
        .map(|a| a.encryption_key)
        .map_err(|e| e.to_string())
}

/// Begins a rotation: derives the next key (a wallet signature) and wraps every key the current
/// one opens to it, in this browser. Nothing has changed anywhere yet.
pub async fn start(
    me: &Identity,
    deploy_block: u64,
    progress: Progress<'_>,
) -> Result<Rotation, String> {
    page_holds_chains_key(me).await?;
    // Listed once: checked for an unfinished rotation, then re-wrapped.
    let wraps = all_my_wraps(progress).await?;
    if stale_among(me, &wraps) > 0 {
        return Err("Some of your records' keys are still made for your previous key: finish that rotation first.".into());
    }
    let rotations = session::key_rotations(&me.contract, me.account, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    let new_keys = session::derive_version(
        &me.contract,
        (me.account, me.wallet),
        rotations.saturating_add(1),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (to_move, unopened) = rewrap(me, wraps, &me.keys, new_keys.public(), progress).await?;
    Ok(Rotation {
        old_keys: me.keys.clone(),
        new_keys,
        to_move,
        unopened,
        signature: None,
        moved: 0,
    })
}

/// Registers the new key on chain (only over the old one: unless the chain holds the new key
/// already) and has the escrow replace the old wraps; `adopt` is told the new key as soon as the
/// chain holds it. Safe to call again after any failure: it goes on from where it stopped.
pub async fn complete(
    me: &Identity,
    rotation: &mut Rotation,
    progress: Progress<'_>,
    adopt: Adopt<'_>,
) -> Result<(), String> {
    let new_key = B256::from(rotation.new_keys.public().0);
    let old_key = B256::from(rotation.old_keys.public().0);
    let on_chain = key_on_chain(me).await?;
    if on_chain == old_key {
        progress(Step::Registering);
        me.send(MedLedger::rotateEncryptionKeyCall {
            encryptionKey: new_key,
        })
        .await?;
    } else if on_chain != new_key {
        return Err("Your key on chain has changed since this rotation began (another device?): sign out and in again.".into());
    }
    adopt(&rotation.new_keys);
    move_or_relist(me, rotation, new_key, progress).await?;
    // A record stored while this ran was wrapped to the key the chain named then, the old one:
    // the old key opens exactly the wraps not moved yet, so one more pass moves those.
    let (late, _) =
        rewrap_all(me, &rotation.old_keys, rotation.new_keys.public(), progress).await?;
    rotation.to_move = late;
    move_or_relist(me, rotation, new_key, progress).await
}

/// [`move_wraps`]; when a record of the batch is gone meanwhile (erased, or an upload that expired
/// unanchored), the escrow refuses the whole batch: the wraps are listed and re-wrapped again
/// from the old key, once, and sent again.
async fn move_or_relist(
    me: &Identity,
    rotation: &mut Rotation,
    new_key: B256,
    progress: Progress<'_>,
) -> Result<(), String> {
    match move_wraps(me, rotation, new_key, progress).await {
        Err(MoveError::Escrow(e))
            if matches!(
                e.code.as_str(),
                "erased" | "unknown-record" | "no-wrap-to-move"
            ) =>
        {
            let (fresh, _) =
                rewrap_all(me, &rotation.old_keys, rotation.new_keys.public(), progress).await?;
            rotation.to_move = fresh;
            move_wraps(me, rotation, new_key, progress)
                .await
                .map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// The wallet's `MoveWraps` signature for `new_key`: the one given, while it has ten minutes
/// left, else a new one.
async fn move_signature(
    me: &Identity,
    rotation: &mut Rotation,
    new_key: B256,
) -> Result<(String, u64), MoveError> {
    if let Some((sig, deadline)) = &rotation.signature {
        if *deadline > now_secs() + 600 {
            return Ok((sig.clone(), *deadline));
        }
    }
    let deadline = now_secs() + SIGNATURE_SECS;
    let message = MoveWrapsMessage {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        account: me.account,
        encryption_key: new_key,
        deadline,
    };
    let sig = wallet::sign_typed_data(me.wallet, &message.typed_data_json())
        .await
        .map_err(|e| MoveError::Wallet(super::chain::ChainError::from(e).to_string()))?;
    let signed = (hex::encode_prefixed(sig), deadline);
    rotation.signature = Some(signed.clone());
    Ok(signed)
}

/// Sends the rotation's wraps to the escrow, [`MY_WRAPS_PAGE`] at a time, on one signature.
async fn move_wraps(
    me: &Identity,
    rotation: &mut Rotation,
    new_key: B256,
    progress: Progress<'_>,
) -> Result<(), MoveError> {
    if rotation.to_move.is_empty() {
        return Ok(());
    }
    let total = rotation.moved + rotation.to_move.len();
    while !rotation.to_move.is_empty() {
        let (signature, deadline) = move_signature(me, rotation, new_key).await?;
        let take = rotation.to_move.len().min(MY_WRAPS_PAGE);
        let body = MoveWrapsBody {
            encryption_key: new_key,
            deadline,
            signature,
            wraps: rotation.to_move[..take].to_vec(),
        };
        progress(Step::Moving(rotation.moved, total));
        escrow::move_my_wraps(&body)
            .await
            .map_err(MoveError::Escrow)?;
        rotation.to_move.drain(..take);
        rotation.moved += take;
    }
    progress(Step::Moving(total, total));
    Ok(())
}

/// Finishes a rotation registered on chain but not moved: the wallet derives the previous key
/// again, and the keys it opens are wrapped to the current one and moved. The page must hold the
/// key the chain holds (it is never registered here).
pub async fn finish_previous(
    me: &Identity,
    deploy_block: u64,
    progress: Progress<'_>,
) -> Result<Rotation, String> {
    page_holds_chains_key(me).await?;
    let rotations = session::key_rotations(&me.contract, me.account, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    let Some(previous) = rotations.checked_sub(1) else {
        return Err(
            "This account never rotated its key: these keys were made for another one.".into(),
        );
    };
    // A recovered account's previous key may be the lost wallet's, which the shares rebuild.
    let old_keys = if me.wallet != me.account {
        super::recovery::previous_keys(me, previous, deploy_block).await?
    } else {
        session::derive_version(&me.contract, (me.account, me.wallet), previous)
            .await
            .map_err(|e| e.to_string())?
    };
    let (to_move, unopened) = rewrap_all(me, &old_keys, me.keys.public(), progress).await?;
    let mut rotation = Rotation {
        old_keys,
        new_keys: me.keys.clone(),
        to_move,
        unopened,
        signature: None,
        moved: 0,
    };
    complete(me, &mut rotation, progress, &|_| {}).await?;
    Ok(rotation)
}
