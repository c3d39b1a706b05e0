//! Who the user is to medledger: the wallet account, the escrow session (SIWE) and the encryption
//! key derived from the wallet's signature and checked against the one registered on chain.

use alloy_primitives::{Address, B256};
use medledger_protocol::api::{AccountKind, AccountStatus};
use medledger_protocol::contract::MedLedger;
use medledger_protocol::identity::KeyDerivation;
use medledger_protocol::wrap::KeyPair;

use super::chain::{ChainError, Contract};
use super::escrow::{self, EscrowError};
use super::key_cache;
use super::wallet;

/// A registered account's kind on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not registered.
    None,
    /// A patient.
    Patient,
    /// A doctor or other practitioner.
    Practitioner,
    /// An insurer.
    Insurer,
}

/// Verification state on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not registered.
    None,
    /// Waiting for an admin.
    Pending,
    /// Usable.
    Active,
    /// Suspended by an admin.
    Suspended,
}

/// The account as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChainAccount {
    /// Kind.
    pub role: Role,
    /// Status.
    pub status: Status,
    /// Emergency access opt-in (patients).
    pub emergency_opt_in: bool,
    /// The registered X25519 key.
    pub encryption_key: B256,
}

/// Reads `accountOf(account)`.
pub async fn on_chain_account(
    contract: &Contract,
    account: Address,
) -> Result<OnChainAccount, ChainError> {
    let a = contract.view(MedLedger::accountOfCall { account }).await?;
    // The contract's numbers are read once, by protocol::api; a kind or status added there makes
    // these matches fail to compile until the app says what it means here.
    let role = match AccountKind::from_chain_number(a.kind) {
        Some(AccountKind::Patient) => Role::Patient,
        Some(AccountKind::Practitioner) => Role::Practitioner,
        Some(AccountKind::Insurer) => Role::Insurer,
        None => Role::None,
    };
    let status = match AccountStatus::from_chain_number(a.status) {
        Some(AccountStatus::Pending) => Status::Pending,
        Some(AccountStatus::Active) => Status::Active,
        Some(AccountStatus::Suspended) => Status::Suspended,
        None => Status::None,
    };
    Ok(OnChainAccount {
        role: if status == Status::None {
            Role::None
        } else {
            role
        },
        status,
        emergency_opt_in: a.emergencyOptIn,
        encryption_key: a.encryptionKey,
    })
}

/// Why signing in did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInError {
    /// The wallet refused or failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The escrow refused.
    #[error(transparent)]
    Escrow(#[from] EscrowError),
    /// The escrow's session is for another address.
    #[error("the escrow signed in {0}, not the wallet's account")]
    WrongSession(Address),
    /// The key derived now is not the one on chain.
    #[error("this wallet derived a different encryption key than the one registered on chain. It does not sign deterministically (or it is another wallet holding the same address): medledger cannot safely use it. Use the wallet you registered with.")]
    KeyMismatch,
    /// The signature could not be turned into a key.
    #[error("the key-derivation signature is not valid: {0}")]
    BadSignature(String),
}

/// Makes sure the escrow session is this wallet's: reuses a live one (unless `fresh`: then it is
/// ended and the wallet signs again), else SIWE via `personal_sign`. The session names the
/// identity the wallet acts for (itself, or the account a recovery moved to it) and where it
/// stands with the licence agreement.
pub async fn ensure_escrow_session(
    wallet: Address,
    fresh: bool,
) -> Result<escrow::Session, SignInError> {
    if let Some(s) = escrow::session().await? {
        if s.wallet == wallet && !fresh {
            return Ok(s);
        }
        escrow::sign_out().await?;
        // Another account signs in: what the last one opened goes.
        super::fhir::forget_opened();
    }
    let message = escrow::sign_in_message(wallet).await?;
    let signature = wallet::personal_sign(wallet, &message)
        .await
        .map_err(ChainError::from)?;
    let session = escrow::verify(&message, &signature).await?;
    if session.wallet != wallet {
        return Err(SignInError::WrongSession(session.wallet));
    }
    Ok(session)
}

/// How many times `account` has rotated its encryption key on chain: its `EncryptionKeyRotated`
/// events since the deployment's block that changed the key (formats.md 6.1, "Rotation"). A
/// rotation to the key it already had, as a transaction sent again while the first was still
/// pending made before the contract refused it, does not count: the key version is the number of
/// different keys. The logs are asked in ranges a capped provider accepts (`crate::log_ranges`).
pub async fn key_rotations(
    contract: &Contract,
    account: Address,
    deploy_block: u64,
) -> Result<u32, ChainError> {
    let keys = rotation_keys(contract, account, deploy_block).await?;
    Ok(crate::rotation::versions_moved(&keys))
}

/// The key `account` held on chain before its latest rotation (`None`: it never rotated): the
/// rotation before it's new key, or the key it registered with.
pub async fn previous_key(
    contract: &Contract,
    account: Address,
    deploy_block: u64,
) -> Result<Option<B256>, ChainError> {
    use alloy_sol_types::SolEvent;
    let mut keys = rotation_keys(contract, account, deploy_block).await?;
    // A rotation repeated to the same key is not a version (crate::rotation::versions_moved).
    keys.dedup();
    match keys.len() {
        0 => Ok(None),
        1 => {
            let registered = MedLedger::AccountRegistered::SIGNATURE_HASH;
            let data = account_event_data(contract, registered, account, deploy_block).await?;
            // (kind, encryptionKey, profileHash): the key is the second word.
            let key = data
                .first()
                .and_then(|d| alloy_primitives::hex::decode(d).ok())
                .filter(|b| b.len() >= 64)
                .map(|b| B256::from_slice(&b[32..64]))
                .ok_or_else(|| {
                    ChainError::Decode("no registration names the account's first key".into())
                })?;
            Ok(Some(key))
        }
        n => Ok(keys.get(n - 2).copied()),
    }
}

/// The new keys of `account`'s `EncryptionKeyRotated` events, in chain order.
async fn rotation_keys(
    contract: &Contract,
    account: Address,
    deploy_block: u64,
) -> Result<Vec<B256>, ChainError> {
    use alloy_sol_types::SolEvent;
    let rotated = MedLedger::EncryptionKeyRotated::SIGNATURE_HASH;
    account_event_data(contract, rotated, account, deploy_block)
        .await?
        .iter()
        .map(|d| {
            d.parse::<B256>()
                .map_err(|_| ChainError::Decode("a key rotation's log has no key".into()))
        })
        .collect()
}

/// The `data` of the core's events `signature` whose first indexed argument is `account`, in chain
/// order.
async fn account_event_data(
    contract: &Contract,
    signature: B256,
    account: Address,
    deploy_block: u64,
) -> Result<Vec<String>, ChainError> {
    let topics = [signature, B256::left_padding_from(account.as_slice())];
    logs(contract, &topics, deploy_block)
        .await?
        .iter()
        .map(|log| {
            log.get("data")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ChainError::Decode("a log has no data".into()))
        })
        .collect()
}

/// The logs of `at` matching `topics` (the event's signature, then its first indexed arguments)
/// from the deployment's block to the head, in chain order, asked in ranges a capped provider
/// accepts (`crate::log_ranges`).
pub async fn logs(
    at: &Contract,
    topics: &[B256],
    deploy_block: u64,
) -> Result<Vec<serde_json::Value>, ChainError> {
    let head = wallet::request("eth_blockNumber", serde_json::json!([])).await?;
    let head = head
        .as_str()
        .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| ChainError::Decode("eth_blockNumber returned no number".into()))?;
    let topics: Vec<String> = topics.iter().map(B256::to_string).collect();
    let mut plan = crate::log_ranges::LogRanges::new(deploy_block, head);
    let mut found = Vec::new();
    while let Some((from, to)) = plan.next_range() {
        let filter = serde_json::json!([{
            "address": at.address.to_checksum(None),
            "fromBlock": format!("0x{from:x}"),
            "toBlock": format!("0x{to:x}"),
            "topics": topics,
        }]);
        match wallet::request("eth_getLogs", filter).await {
            Ok(serde_json::Value::Array(logs)) => found.extend(logs),
            Ok(_) => return Err(ChainError::Decode("eth_getLogs returned no list".into())),
            Err(e)
                if crate::log_ranges::LogRanges::is_range_refusal(e.code, &e.message)
                    && plan.refused((from, to)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(found)
}

/// Asks `wallet` to sign the key-derivation message of `account`'s key after `rotations`
/// rotations and derives that X25519 key pair: the account's own message when the wallet is the
/// account, the moved identity's (formats.md 6.1) when a recovery moved the account to it.
pub async fn derive_version(
    contract: &Contract,
    (account, wallet): (Address, Address),
    rotations: u32,
) -> Result<KeyPair, SignInError> {
    let derivation =
        KeyDerivation::after_rotations(contract.chain_id, contract.address, account, rotations)
            .by_wallet(wallet);
    derive_signed(&derivation).await
}

/// Asks the derivation's wallet to sign it and derives the key pair.
pub async fn derive_signed(derivation: &KeyDerivation) -> Result<KeyPair, SignInError> {
    let seed = seed_signed(derivation).await?;
    Ok(KeyPair::derive(&seed))
}

/// Asks the derivation's wallet to sign it: the 32-byte seed the key pair comes from (what a
/// recovery kit splits among guardians).
pub async fn seed_signed(
    derivation: &KeyDerivation,
) -> Result<zeroize::Zeroizing<[u8; 32]>, SignInError> {
    let signature = wallet::sign_typed_data(derivation.wallet, &derivation.typed_data_json())
        .await
        .map_err(ChainError::from)?;
    derivation
        .seed(&signature)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| SignInError::BadSignature(e.to_string()))
}

/// The account's key, from one signature of `wallet`'s, or, when `use_remembered` (the wallet
/// signed this sign-in afresh), from what this device remembers of it (`key_cache`) when that
/// gives the key the chain holds. When the account is registered, the key must be the one on
/// chain: the version is the one its rotations on chain give. A key the wallet derives is
/// remembered when `remember`; otherwise whatever this device remembered for the wallet is
/// forgotten.
pub async fn derive_key(
    contract: &Contract,
    (account, wallet): (Address, Address),
    registered: Option<B256>,
    deploy_block: u64,
    memory: (bool, bool),
) -> Result<KeyPair, SignInError> {
    let rotations = match registered {
        Some(_) => key_rotations(contract, account, deploy_block).await?,
        None => 0,
    };
    derive_key_after(contract, (account, wallet), registered, rotations, memory).await
}

/// [`derive_key`] of the version after `rotations` (the caller has counted them on chain).
pub async fn derive_key_after(
    contract: &Contract,
    (account, wallet): (Address, Address),
    registered: Option<B256>,
    rotations: u32,
    (remember, use_remembered): (bool, bool),
) -> Result<KeyPair, SignInError> {
    let derivation =
        KeyDerivation::after_rotations(contract.chain_id, contract.address, account, rotations)
            .by_wallet(wallet);
    let slot = key_slot(contract, wallet);
    let is_chains = |keys: &KeyPair| registered.is_none_or(|r| r.0 == keys.public().0);
    if remember && use_remembered {
        if let Some(seed) = key_cache::recall(slot, account, derivation.key_version).await {
            let keys = KeyPair::derive(&seed);
            if is_chains(&keys) {
                return Ok(keys);
            }
        }
    }
    let seed = seed_signed(&derivation).await?;
    let keys = KeyPair::derive(&seed);
    if !is_chains(&keys) {
        return Err(SignInError::KeyMismatch);
    }
    if remember {
        key_cache::remember(slot, account, derivation.key_version, &seed).await;
    } else {
        key_cache::forget(slot).await;
    }
    Ok(keys)
}

/// Where this device remembers `wallet`'s key for this deployment.
pub fn key_slot(contract: &Contract, wallet: Address) -> key_cache::Slot {
    key_cache::Slot {
        chain_id: contract.chain_id,
        contract: contract.address,
        wallet,
    }
}
