//! Recovery with guardians in this browser (issue 18; formats.md section 9; docs/api.md "Recovery
//! kits"): each step of the three people's, the views in `pages::recovery`.
//!
//! - The patient names guardians on chain (`setGuardians`) and stores a kit: the seed of its key
//!   (its wallet signs the derivation again) split t of n, each share sealed to its guardian's key
//!   on chain ([`name_guardians`], [`store_kit`]).
//! - A new wallet asks to take the account over, naming its transport key: the moved derivation
//!   of key version 0, which only that wallet's signature gives, on any device ([`ask`]); once t
//!   guardians approved and the delay passed, it completes the move ([`complete`]).
//! - A guardian sees the open requests for an account, opens its own share with its key, re-seals
//!   it to the request's transport key for the escrow, and approves on chain ([`help`]).
//! - The moved account signs in: while its key on chain is still the one the kit split, the
//!   released shares are opened with the transport key and combined into it, checked against the
//!   chain ([`unlock_moved`]); the account page then rotates to a key of the new wallet's own.

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolEvent;
use medledger_protocol::api::recovery::{KitView, RecoveryKit, ReleaseShareBody, ReleasedShares};
use medledger_protocol::contract::{ContractError, MedLedger, MedLedgerRecovery};
use medledger_protocol::identity::{KeyDerivation, KEY_VERSION};
use medledger_protocol::recovery::{self as shares, Manifest, RecoverySet, Share};
use medledger_protocol::wrap::{KeyPair, PublicKey};

use super::chain::{ChainError, Contract};
use super::records::Identity;
use super::{escrow, key_cache, session, wallet};

/// An account's guardians on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardians {
    /// In share order.
    pub guardians: Vec<Address>,
    /// Approvals a recovery needs.
    pub threshold: u8,
    /// Seconds from the approval that reaches the threshold to the earliest completion.
    pub delay: u32,
}

/// A wallet's request to take an account over, as the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The wallet asking.
    pub new_wallet: Address,
    /// Its number (`recoveryOf`).
    pub id: u64,
    /// Guardians who approved it.
    pub approvals: u64,
    /// When it may complete (chain seconds; 0 until the threshold is reached).
    pub ready_at: u64,
    /// Still open (not cancelled, replaced or completed).
    pub open: bool,
}

/// The recovery contract the core created.
pub async fn recovery_contract(core: &Contract) -> Result<Contract, String> {
    let address = core
        .view(MedLedger::recoveryCall {})
        .await
        .map_err(|e| e.to_string())?;
    Ok(Contract {
        address,
        chain_id: core.chain_id,
    })
}

/// `identity`'s guardians on chain (none: an empty list).
pub async fn guardians_of(core: &Contract, identity: Address) -> Result<Guardians, String> {
    let recovery = recovery_contract(core).await?;
    let g = recovery
        .view(MedLedgerRecovery::guardiansOfCall { identity })
        .await
        .map_err(|e| e.to_string())?;
    Ok(Guardians {
        guardians: g.guardians,
        threshold: g.threshold,
        delay: g.delay,
    })
}

/// `new_wallet`'s request for `identity`.
pub async fn request_of(
    core: &Contract,
    identity: Address,
    new_wallet: Address,
) -> Result<Request, String> {
    let recovery = recovery_contract(core).await?;
    let r = recovery
        .view(MedLedgerRecovery::recoveryOfCall {
            identity,
            newWallet: new_wallet,
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(Request {
        new_wallet,
        id: r.requestId,
        approvals: u64::try_from(r.approvals).unwrap_or(u64::MAX),
        ready_at: r.readyAt,
        open: r.open,
    })
}

/// The chain's time now: the latest block's timestamp (`None` when the node does not say).
pub async fn chain_now() -> Option<u64> {
    let block = wallet::request("eth_getBlockByNumber", serde_json::json!(["latest", false]))
        .await
        .ok()?;
    let t = block.get("timestamp")?.as_str()?;
    u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()
}

/// The patient's own kit at the escrow (`None`: none stored).
pub async fn my_kit(me: &Identity) -> Result<Option<KitView>, String> {
    escrow::recovery_kit(me.account)
        .await
        .map_err(|e| e.to_string())
}

/// The account's key version now (formats.md 6.1: the first, plus its rotations on chain).
pub async fn key_version(me: &Identity, deploy_block: u64) -> Result<u32, String> {
    let rotations = session::key_rotations(&me.contract, me.account, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    Ok(KEY_VERSION.saturating_add(rotations))
}

/// Names `guardians` with `threshold` and `delay` on chain (unless the chain holds exactly these
/// already) and stores the kit that goes with them. The set is checked, and the wallet's signature
/// of the key's seed taken, before anything is sent: a refusal changes nothing on chain.
pub async fn name_guardians(
    me: &Identity,
    chosen: Guardians,
    deploy_block: u64,
) -> Result<Stored, String> {
    set_of(me, &chosen, KEY_VERSION)
        .check()
        .map_err(|e| e.to_string())?;
    let keys = guardian_keys(me, &chosen.guardians).await?;
    let (seed, version) = signed_seed(me, deploy_block).await?;
    if guardians_of(&me.contract, me.account).await? != chosen {
        let recovery = recovery_contract(&me.contract).await?;
        let call = MedLedgerRecovery::setGuardiansCall {
            guardians: chosen.guardians.clone(),
            threshold: chosen.threshold,
            delay: chosen.delay,
        };
        me.send_to(&recovery, call)
            .await
            .map_err(|e| e.to_string())?;
    }
    store_split(me, &chosen, &keys, (&seed, version)).await
}

/// A kit stored, and the recovery sheet's code of its first share (formats.md section 9): shown
/// once, for the patient to print or copy; the page keeps it no longer than it shows it.
pub struct Stored {
    /// The kit as the escrow keeps it.
    pub kit: KitView,
    /// Share 1 as a sheet's code.
    pub sheet: String,
}

/// Splits the seed of the account's key now among the guardians the chain names, each share
/// sealed to that guardian's key on chain, and stores the kit. The wallet signs the key's
/// derivation again: the page keeps the key, never its seed.
pub async fn store_kit(me: &Identity, deploy_block: u64) -> Result<Stored, String> {
    let on_chain = guardians_of(&me.contract, me.account).await?;
    if on_chain.guardians.is_empty() {
        return Err("Name your guardians first.".into());
    }
    let keys = guardian_keys(me, &on_chain.guardians).await?;
    let (seed, version) = signed_seed(me, deploy_block).await?;
    store_split(me, &on_chain, &keys, (&seed, version)).await
}

/// The seed of the account's key now, which the wallet signs again, and its version; refused
/// unless it gives the key the page holds (a recovered account holds the lost wallet's key,
/// which this wallet cannot sign: it rotates first).
async fn signed_seed(
    me: &Identity,
    deploy_block: u64,
) -> Result<(zeroize::Zeroizing<[u8; 32]>, u32), String> {
    let rotations = session::key_rotations(&me.contract, me.account, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    let derivation = KeyDerivation::after_rotations(
        me.contract.chain_id,
        me.contract.address,
        me.account,
        rotations,
    )
    .by_wallet(me.wallet);
    // A recovered account's unfinished first rotation needs the released shares of the kit stored
    // now (previous_keys): a new kit would make them unreachable.
    if me.wallet != me.account && super::rotation::stale_wraps(me).await.unwrap_or(0) > 0 {
        return Err("Finish the rotation of your key first (above): until then your guardians' shares are still needed for the records wrapped to the old key.".into());
    }
    let seed = session::seed_signed(&derivation)
        .await
        .map_err(|e| e.to_string())?;
    if KeyPair::derive(&seed).public() != me.keys.public() {
        return Err("Your key is not one this wallet computes: if your account was just recovered, rotate your encryption key first (above); otherwise sign out and in again.".into());
    }
    Ok((seed, derivation.key_version))
}

/// Splits `seed` (of key `version`) among `guardians`, sealed to their `keys`, and stores the kit.
async fn store_split(
    me: &Identity,
    guardians: &Guardians,
    keys: &[PublicKey],
    (seed, version): (&[u8; 32], u32),
) -> Result<Stored, String> {
    let set = set_of(me, guardians, version);
    let (split, manifest) = shares::split(seed, &set).map_err(|e| e.to_string())?;
    let sealed = split
        .iter()
        .zip(keys)
        .map(|(share, key)| share.seal(&set, key).map(|s| Bytes::from(s.to_vec())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let sheet = split
        .first()
        .map(|share| share.sheet_code(&manifest))
        .ok_or("The kit has no share.")?;
    let kit = RecoveryKit {
        set,
        commitments: manifest.commitments,
        sealed,
    };
    let kit = escrow::put_recovery_kit(&kit)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Stored { kit, sheet })
}

fn set_of(me: &Identity, g: &Guardians, key_version: u32) -> RecoverySet {
    RecoverySet {
        chain_id: me.contract.chain_id,
        contract: me.contract.address,
        account: me.account,
        key_version,
        threshold: g.threshold,
        guardians: g.guardians.clone(),
    }
}

/// Each guardian's encryption key on chain; refused, naming it, for one that is not a registered
/// account.
async fn guardian_keys(me: &Identity, guardians: &[Address]) -> Result<Vec<PublicKey>, String> {
    let mut keys = Vec::with_capacity(guardians.len());
    for g in guardians {
        let account = session::on_chain_account(&me.contract, *g)
            .await
            .map_err(|e| e.to_string())?;
        if account.status == session::Status::None || account.encryption_key.is_zero() {
            return Err(format!(
                "{g} is not a registered medledger account: a guardian must have signed up (as a patient, a practitioner or an insurer) first."
            ));
        }
        keys.push(PublicKey(account.encryption_key.0));
    }
    Ok(keys)
}

/// The transport key derivation of `wallet` recovering `identity`.
fn transport(core: &Contract, identity: Address, wallet: Address) -> KeyDerivation {
    KeyDerivation::transport(core.chain_id, core.address, identity, wallet)
}

/// The signed-in wallet (registered as nothing) asks to take `identity` over, naming the
/// transport key its signature derives. Its request as the chain then holds it.
pub async fn ask(me: &Identity, identity: Address) -> Result<Request, String> {
    if identity == me.wallet {
        return Err("That is this wallet's own address: enter the account you lost.".into());
    }
    if guardians_of(&me.contract, identity)
        .await?
        .guardians
        .is_empty()
    {
        return Err(format!(
            "{identity} has named no guardians, so it cannot be recovered."
        ));
    }
    // Asking again would void the approvals given so far (a new request number): an open request
    // is shown, not replaced.
    let open = request_of(&me.contract, identity, me.wallet).await?;
    if open.open {
        return Ok(open);
    }
    let keys = session::derive_signed(&transport(&me.contract, identity, me.wallet))
        .await
        .map_err(|e| e.to_string())?;
    let recovery = recovery_contract(&me.contract).await?;
    let call = MedLedgerRecovery::requestRecoveryCall {
        identity,
        transportKey: B256::from(keys.public().0),
    };
    me.send_to(&recovery, call)
        .await
        .map_err(|e| e.to_string())?;
    request_of(&me.contract, identity, me.wallet).await
}

/// The signed-in wallet completes its approved request: the identity is its from this block.
pub async fn complete(me: &Identity, identity: Address) -> Result<(), String> {
    let recovery = recovery_contract(&me.contract).await?;
    me.send_to(
        &recovery,
        MedLedgerRecovery::completeRecoveryCall { identity },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The open requests to take `identity` over, newest first, from its `RecoveryRequested` events.
pub async fn open_requests(
    core: &Contract,
    identity: Address,
    deploy_block: u64,
) -> Result<Vec<Request>, String> {
    let recovery = recovery_contract(core).await?;
    let mut wallets: Vec<Address> = Vec::new();
    for event in requested(&recovery, identity, None, deploy_block).await? {
        if !wallets.contains(&event.newWallet) {
            wallets.push(event.newWallet);
        }
    }
    let mut open = Vec::new();
    for w in wallets.into_iter().rev() {
        let r = request_of(core, identity, w).await?;
        if r.open {
            open.push(r);
        }
    }
    Ok(open)
}

/// The signed-in guardian helps `request`'s wallet take `identity` over: its own share of the
/// kit, opened with its key and re-sealed to the request's transport key, goes to the escrow;
/// then its approval goes on chain (skipped when it approved before: a retry goes on).
pub async fn help(
    me: &Identity,
    identity: Address,
    request: &Request,
    deploy_block: u64,
) -> Result<(), String> {
    let recovery = recovery_contract(&me.contract).await?;
    let transport_key = transport_key_of(&recovery, identity, request, deploy_block).await?;
    let kit = escrow::recovery_kit(identity)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("The account stored no recovery kit: there is no share of yours to hand over.")?;
    let mine = kit
        .shares
        .iter()
        .find(|s| s.guardian == me.account)
        .ok_or("The account's kit holds no share for you.")?;
    let set = &kit.manifest.set;
    let share = Share::open(&mine.sealed, set, mine.index, &me.keys).map_err(|e| {
        format!("Your share did not open with your key ({e}): was it made before you rotated your key? Ask the patient to store their kit again.")
    })?;
    let sealed = share
        .seal_for_transport(set, request.new_wallet, &transport_key)
        .map_err(|e| e.to_string())?;
    let body = ReleaseShareBody {
        kit_id: kit.manifest.kit_id,
        new_wallet: request.new_wallet,
        request_id: request.id,
        index: mine.index,
        sealed: Bytes::from(sealed.to_vec()),
    };
    escrow::release_share(identity, &body)
        .await
        .map_err(|e| e.to_string())?;
    approve(me, &recovery, identity, request).await
}

/// Approves `request` on chain; an approval given before counts as done.
async fn approve(
    me: &Identity,
    recovery: &Contract,
    identity: Address,
    request: &Request,
) -> Result<(), String> {
    use medledger_protocol::contract::MedLedgerRecovery::MedLedgerRecoveryErrors as E;
    let call = MedLedgerRecovery::approveRecoveryCall {
        identity,
        newWallet: request.new_wallet,
        requestId: request.id,
    };
    match me.send_to(recovery, call).await {
        Ok(_) => Ok(()),
        Err(ChainError::Reverted(ContractError::Recovery(E::AlreadyApproved(_)))) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The transport key `request` named on chain.
async fn transport_key_of(
    recovery: &Contract,
    identity: Address,
    request: &Request,
    deploy_block: u64,
) -> Result<PublicKey, String> {
    requested(recovery, identity, Some(request.new_wallet), deploy_block)
        .await?
        .into_iter()
        .rev()
        .find(|e| e.requestId == request.id)
        .map(|e| PublicKey(e.transportKey.0))
        .ok_or_else(|| {
            "The chain holds no transport key for that request: it may have been replaced.".into()
        })
}

/// `identity`'s `RecoveryRequested` events (of `new_wallet` alone when given), oldest first,
/// asked in ranges a capped provider accepts.
async fn requested(
    recovery: &Contract,
    identity: Address,
    new_wallet: Option<Address>,
    deploy_block: u64,
) -> Result<Vec<MedLedgerRecovery::RecoveryRequested>, String> {
    let topic = |a: Address| B256::left_padding_from(a.as_slice());
    let mut topics = vec![
        MedLedgerRecovery::RecoveryRequested::SIGNATURE_HASH,
        topic(identity),
    ];
    topics.extend(new_wallet.map(topic));
    let logs = session::logs(recovery, &topics, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    logs.iter().map(decode_requested).collect()
}

/// One `RecoveryRequested` log, decoded.
fn decode_requested(
    log: &serde_json::Value,
) -> Result<MedLedgerRecovery::RecoveryRequested, String> {
    let bad = || "a recovery request's log could not be read".to_string();
    let topics: Vec<B256> = log
        .get("topics")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|t| t.as_str().and_then(|t| t.parse().ok()).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let data: Bytes = log
        .get("data")
        .and_then(serde_json::Value::as_str)
        .and_then(|d| d.parse().ok())
        .ok_or_else(bad)?;
    MedLedgerRecovery::RecoveryRequested::decode_raw_log(topics, &data).map_err(|_| bad())
}

/// How a moved account's sign-in goes: whether this device may remember the key, whether it may
/// use one it remembers (only after a fresh SIWE signature), and a recovery sheet's code if typed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlock<'a> {
    /// Remember a key the wallet derives (else forget what the device remembered).
    pub remember: bool,
    /// Use a key the device remembers (the wallet signed this sign-in afresh).
    pub use_remembered: bool,
    /// A recovery sheet's code, standing in for the first guardian's share.
    pub sheet: Option<&'a str>,
}

/// The key of a moved account (`account` now controlled by `wallet`) with the chain's key
/// `on_chain`: when the key on chain is still the one the released kit split (the recovery's last
/// step), the shares are opened with the transport key and combined, and `true` says the page
/// must rotate to a key of the wallet's own (a rebuilt key is never remembered on the device);
/// otherwise the wallet derives its moved key of the version the chain is at, or the device
/// remembers it (as `session::derive_key`).
pub async fn unlock_moved(
    core: &Contract,
    (account, wallet): (Address, Address),
    on_chain: B256,
    deploy_block: u64,
    how: Unlock<'_>,
) -> Result<(KeyPair, bool), String> {
    let rotations = session::key_rotations(core, account, deploy_block)
        .await
        .map_err(|e| e.to_string())?;
    let version = KEY_VERSION.saturating_add(rotations);
    let released = escrow::released_shares().await.map_err(|e| e.to_string())?;
    let mut not_reassembled = None;
    if let Some(released) = released.filter(|r| r.manifest.set.key_version == version) {
        match reassemble(core, (account, wallet), &released, (on_chain, how.sheet)).await {
            Ok(keys) => {
                if !how.remember {
                    key_cache::forget(session::key_slot(core, wallet)).await;
                }
                return Ok((keys, true));
            }
            // The key on chain may be the wallet's own after all (a kit stored again after its
            // rotation): its derivation below decides, and this is the reason if it does not.
            Err(e) => not_reassembled = Some(e),
        }
    }
    let memory = (how.remember, how.use_remembered);
    let ids = (account, wallet);
    match session::derive_key_after(core, ids, Some(on_chain), rotations, memory).await {
        Ok(keys) => Ok((keys, false)),
        Err(session::SignInError::KeyMismatch) => Err(not_reassembled.unwrap_or_else(|| {
            "This account was moved to this wallet, but its key on chain is still the lost wallet's, and the escrow holds none of your guardians' shares for this wallet to rebuild it. Ask your guardians to approve your recovery again in their app (their shares come to this wallet), then sign in again.".to_string()
        })),
        Err(e) => Err(e.to_string()),
    }
}

/// The key a moved account held before its latest rotation (`previous`: the rotations before it),
/// to finish that rotation: rebuilt from the guardians' released shares when the released kit is
/// of that version (the first rotation after a recovery), else the wallet's own derivation of it;
/// either checked against the key the chain held.
pub async fn previous_keys(
    me: &Identity,
    previous: u32,
    deploy_block: u64,
) -> Result<KeyPair, String> {
    let expected = session::previous_key(&me.contract, me.account, deploy_block)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("This account never rotated its key: there is no previous key to finish with.")?;
    let version = KEY_VERSION.saturating_add(previous);
    let released = escrow::released_shares().await.map_err(|e| e.to_string())?;
    let mut not_rebuilt = None;
    if let Some(released) = released.filter(|r| r.manifest.set.key_version == version) {
        let identity = (me.account, me.wallet);
        match reassemble(&me.contract, identity, &released, (expected, None)).await {
            Ok(keys) => return Ok(keys),
            Err(e) => not_rebuilt = Some(e),
        }
    }
    let keys = session::derive_version(&me.contract, (me.account, me.wallet), previous)
        .await
        .map_err(|e| e.to_string())?;
    if keys.public().0 != expected.0 {
        return Err(not_rebuilt.unwrap_or_else(|| "Your key before the last rotation was your lost wallet's, and the escrow holds none of your guardians' shares that rebuild it: the records still wrapped to it cannot be moved from this wallet.".into()));
    }
    Ok(keys)
}

/// The account's key from the shares the guardians re-sealed for `wallet`, and the one a recovery
/// sheet's code gives, when typed in: each opened with the transport key and checked against the
/// manifest's commitment, those that fail left out (one guardian's bad share must not block the
/// others'), the rest combined and checked to give the key on chain.
async fn reassemble(
    core: &Contract,
    (account, wallet): (Address, Address),
    released: &ReleasedShares,
    (on_chain, sheet): (B256, Option<&str>),
) -> Result<KeyPair, String> {
    let set = &released.manifest.set;
    let manifest = Manifest {
        set: set.clone(),
        commitments: released.manifest.commitments.clone(),
    };
    let mut good = Vec::new();
    if let Some(code) = sheet {
        good.push(Share::from_sheet_code(code, &manifest).map_err(|e| e.to_string())?);
    }
    let transport_keys = session::derive_signed(&transport(core, account, wallet))
        .await
        .map_err(|e| e.to_string())?;
    let mut left_out = Vec::new();
    for s in &released.shares {
        match Share::open_transported(&s.sealed, set, s.index, wallet, &transport_keys) {
            Ok(share) if committed(&manifest, &share) => good.push(share),
            _ => left_out.push(s.index.to_string()),
        }
    }
    let seed = shares::recover(&manifest, &good, &PublicKey(on_chain.0)).map_err(|e| {
        let bad = if left_out.is_empty() {
            String::new()
        } else {
            format!(
                " (left out as unreadable: the share of guardian {})",
                left_out.join(", ")
            )
        };
        format!("Your guardians' shares did not give your key back: {e}{bad}")
    })?;
    Ok(KeyPair::derive(&seed))
}

/// Whether `share` is the one `manifest` committed to at its index.
fn committed(manifest: &Manifest, share: &Share) -> bool {
    usize::from(share.index)
        .checked_sub(1)
        .and_then(|i| manifest.commitments.get(i))
        .is_some_and(|c| *c == share.commitment(&manifest.set))
}
