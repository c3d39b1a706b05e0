//! Identity messages (docs/formats.md section 6): the fixed EIP-712 message whose wallet signature
//! seeds a user's X25519 encryption key, SIWE (EIP-4361) sign-in messages built, parsed strictly and
//! verified, and EIP-712 escrow requests with a nonce and an expiry. Signatures are secp256k1 via
//! alloy-primitives (k256); nothing here touches the network or the clock: callers pass `now`.

use std::borrow::Cow;

use alloy_primitives::{Address, Signature, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolStruct};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::wrap::KeyPair;

sol! {
    /// The message signed (EIP-712) to derive the encryption key.
    #[derive(Debug, PartialEq, Eq)]
    struct DeriveEncryptionKey {
        address account;
        string purpose;
        uint32 keyVersion;
    }

    /// The message a wallet signs (EIP-712) to derive the encryption key of an identity a
    /// recovery moved to it (formats.md 6.1): the identity and the wallet both named, so the
    /// key is the identity's and only this wallet's signature gives it.
    #[derive(Debug, PartialEq, Eq)]
    struct DeriveMovedEncryptionKey {
        address account;
        address wallet;
        string purpose;
        uint32 keyVersion;
    }

    /// A request to the escrow signed beyond the session (EIP-712).
    #[derive(Debug, PartialEq, Eq)]
    struct EscrowRequest {
        string action;
        bytes32 recordId;
        address requester;
        uint256 nonce;
        uint64 expiry;
    }

    /// An account's consent to the escrow replacing its wrapped DEKs with ones made for its
    /// rotated encryption key (EIP-712; formats.md 6.5).
    #[derive(Debug, PartialEq, Eq)]
    struct MoveWraps {
        address account;
        bytes32 encryptionKey;
        uint64 deadline;
    }

    /// An account's acceptance of a version of the licence agreement (EIP-712; formats.md 6.6):
    /// `textHash` is keccak256 of the exact text shown.
    #[derive(Debug, PartialEq, Eq)]
    struct AcceptAgreement {
        address account;
        uint32 version;
        bytes32 textHash;
        uint64 acceptedAt;
    }

    /// A patient's decision on a read the escrow held for their approval (EIP-712).
    #[derive(Debug, PartialEq, Eq)]
    struct HoldDecision {
        uint64 hold;
        uint64 createdAt;
        bytes32 recordId;
        address reader;
        address patient;
        bool approve;
    }
}

/// EIP-712 domain name.
pub const DOMAIN_NAME: &str = "medledger";
/// EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";
/// The fixed `purpose` of the key-derivation message.
pub const KEY_PURPOSE: &str = "medledger encryption key";
/// The current key version.
pub const KEY_VERSION: u32 = 1;

/// The key version of a recovering wallet's transport key ([`KeyDerivation::transport`],
/// formats.md section 9): 0, which no account key has (they start at [`KEY_VERSION`] and only
/// grow), so a transport key is never an account's key, and the wallet derives it again from its
/// own signature on any device while the recovery is under way.
pub const TRANSPORT_KEY_VERSION: u32 = 0;
const HKDF_SALT: &[u8] = b"medledger/v1/x25519-salt";
const HKDF_INFO: &[u8] = b"medledger/v1/x25519";

/// What went wrong with an identity message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not a 65-byte `r || s || v` signature, or `v` not 0/1/27/28.
    #[error("malformed signature: {0}")]
    BadSignature(String),
    /// The signature recovers to another address.
    #[error("signature is by {recovered}, expected {expected}")]
    WrongSigner {
        /// who should have signed
        expected: Address,
        /// who did
        recovered: Address,
    },
    /// A SIWE message that does not follow EIP-4361.
    #[error("malformed SIWE message: {0}")]
    MalformedSiwe(&'static str),
    /// A SIWE field differs from what the verifier expects.
    #[error("SIWE {field} mismatch")]
    SiweMismatch {
        /// which field
        field: &'static str,
    },
    /// Expired (SIWE expiration time or request expiry).
    #[error("expired at {expired_at}, now {now}")]
    Expired {
        /// expiry, Unix seconds
        expired_at: i64,
        /// the verifier's clock
        now: i64,
    },
    /// SIWE `Not Before` in the future, or `Issued At` too far in the future.
    #[error("not valid yet (from {valid_from}, now {now})")]
    NotYetValid {
        /// Unix seconds
        valid_from: i64,
        /// the verifier's clock
        now: i64,
    },
    /// Older than the verifier's maximum session age.
    #[error("issued too long ago ({issued_at}, now {now})")]
    TooOld {
        /// Unix seconds
        issued_at: i64,
        /// the verifier's clock
        now: i64,
    },
}

/// The medledger EIP-712 domain on a chain and contract.
pub fn domain(chain_id: u64, contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(DOMAIN_NAME)),
        Some(Cow::Borrowed(DOMAIN_VERSION)),
        Some(U256::from(chain_id)),
        Some(contract),
        None,
    )
}

/// An `eth_signTypedData_v4` payload of one struct (`primary` with `fields`) in this project's
/// domain on `chain_id` and `contract`.
fn typed_data_json(
    chain_id: u64,
    contract: Address,
    primary: &str,
    fields: serde_json::Value,
    message: serde_json::Value,
) -> serde_json::Value {
    let mut types = serde_json::Map::new();
    types.insert(
        "EIP712Domain".into(),
        serde_json::json!([
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"}
        ]),
    );
    types.insert(primary.into(), fields);
    serde_json::json!({
        "types": types,
        "primaryType": primary,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": contract.to_checksum(None)
        },
        "message": message
    })
}

fn parse_signature(sig: &[u8]) -> Result<Signature, IdentityError> {
    Signature::from_raw(sig).map_err(|e| IdentityError::BadSignature(e.to_string()))
}

/// Recovers the signer of an EIP-712 hash.
pub fn recover_typed(signing_hash: &B256, sig: &[u8]) -> Result<Address, IdentityError> {
    parse_signature(sig)?
        .recover_address_from_prehash(signing_hash)
        .map_err(|e| IdentityError::BadSignature(e.to_string()))
}

/// Recovers the signer of an EIP-191 `personal_sign` message.
pub fn recover_personal(message: &[u8], sig: &[u8]) -> Result<Address, IdentityError> {
    parse_signature(sig)?
        .recover_address_from_msg(message)
        .map_err(|e| IdentityError::BadSignature(e.to_string()))
}

/// Checks `signature` over the EIP-712 `hash` is `expected`'s and has a low s (EIP-2), as
/// OpenZeppelin's `ECDSA` requires on chain.
pub fn verify_typed(hash: &B256, signature: &[u8], expected: Address) -> Result<(), IdentityError> {
    if parse_signature(signature)?.normalize_s().is_some() {
        return Err(IdentityError::BadSignature(
            "a high-s (malleable) signature; EIP-2 requires low s".into(),
        ));
    }
    signed_by(hash, signature, expected).map(|_| ())
}

/// The signer of `signature` over the EIP-712 `hash`, which must be `expected`.
fn signed_by(hash: &B256, signature: &[u8], expected: Address) -> Result<Address, IdentityError> {
    let recovered = recover_typed(hash, signature)?;
    if recovered != expected {
        return Err(IdentityError::WrongSigner {
            expected,
            recovered,
        });
    }
    Ok(recovered)
}

/// The key-derivation message for one account on one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDerivation {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// MedLedger contract.
    pub contract: Address,
    /// The account (identity) whose key it is.
    pub account: Address,
    /// Key version (rotation).
    pub key_version: u32,
    /// The wallet that signs: the account itself, or the wallet a recovery moved the identity to
    /// ([`KeyDerivation::by_wallet`]).
    pub wallet: Address,
}

impl KeyDerivation {
    /// The first key's message for `account`.
    pub fn new(chain_id: u64, contract: Address, account: Address) -> Self {
        Self {
            chain_id,
            contract,
            account,
            key_version: KEY_VERSION,
            wallet: account,
        }
    }

    /// The same key version's message for `wallet` controlling the account (after a recovery moved
    /// the identity to it): `DeriveMovedEncryptionKey`, whose key is another than the one the
    /// account's own wallet derives for that version. For the account's own address, unchanged.
    pub fn by_wallet(self, wallet: Address) -> Self {
        Self { wallet, ..self }
    }

    /// The key `wallet` names as its transport key when it asks to recover `account`
    /// (`requestRecovery`): the moved derivation of [`TRANSPORT_KEY_VERSION`]. The guardians
    /// re-seal their shares to it; only `wallet`'s signature derives it.
    pub fn transport(chain_id: u64, contract: Address, account: Address, wallet: Address) -> Self {
        Self {
            key_version: TRANSPORT_KEY_VERSION,
            ..Self::new(chain_id, contract, account)
        }
        .by_wallet(wallet)
    }

    /// Whether the signer is a wallet the identity moved to.
    pub fn moved(&self) -> bool {
        self.wallet != self.account
    }

    /// The message of `account`'s key after `rotations` rotations: each rotation derives the
    /// next version, so the key an account holds on chain is the one of version
    /// [`KEY_VERSION`] + the number of its `EncryptionKeyRotated` events.
    pub fn after_rotations(
        chain_id: u64,
        contract: Address,
        account: Address,
        rotations: u32,
    ) -> Self {
        Self {
            key_version: KEY_VERSION.saturating_add(rotations),
            ..Self::new(chain_id, contract, account)
        }
    }

    /// The typed struct.
    pub fn message(&self) -> DeriveEncryptionKey {
        DeriveEncryptionKey {
            account: self.account,
            purpose: KEY_PURPOSE.to_string(),
            keyVersion: self.key_version,
        }
    }

    /// The moved identity's typed struct.
    pub fn moved_message(&self) -> DeriveMovedEncryptionKey {
        DeriveMovedEncryptionKey {
            account: self.account,
            wallet: self.wallet,
            purpose: KEY_PURPOSE.to_string(),
            keyVersion: self.key_version,
        }
    }

    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self) -> B256 {
        let domain = domain(self.chain_id, self.contract);
        if self.moved() {
            self.moved_message().eip712_signing_hash(&domain)
        } else {
            self.message().eip712_signing_hash(&domain)
        }
    }

    /// The `eth_signTypedData_v4` payload.
    pub fn typed_data_json(&self) -> serde_json::Value {
        let mut fields = vec![serde_json::json!({"name": "account", "type": "address"})];
        let mut message = serde_json::json!({
            "account": self.account.to_checksum(None),
            "purpose": KEY_PURPOSE,
            "keyVersion": self.key_version
        });
        // The moved message names the wallet after the account (the struct's field order).
        let primary = if self.moved() {
            fields.push(serde_json::json!({"name": "wallet", "type": "address"}));
            message["wallet"] = self.wallet.to_checksum(None).into();
            "DeriveMovedEncryptionKey"
        } else {
            "DeriveEncryptionKey"
        };
        fields.push(serde_json::json!({"name": "purpose", "type": "string"}));
        fields.push(serde_json::json!({"name": "keyVersion", "type": "uint32"}));
        typed_data_json(
            self.chain_id,
            self.contract,
            primary,
            serde_json::Value::Array(fields),
            message,
        )
    }

    /// The 32-byte HKDF output that seeds the key pair (formats.md 6.1). Checks the signature is
    /// the signing wallet's over this message first, so a wallet that signed something else is
    /// caught here.
    pub fn seed(&self, signature: &[u8]) -> Result<[u8; 32], IdentityError> {
        signed_by(&self.signing_hash(), signature, self.wallet)?;
        // `v` is left out: wallets write it as 0/1 or 27/28 for the same signature.
        let rs = &signature[..64];
        let mut info = Vec::with_capacity(HKDF_INFO.len() + 8 + 20 + 20 + 4 + 20);
        info.extend_from_slice(HKDF_INFO);
        info.extend_from_slice(&self.chain_id.to_be_bytes());
        info.extend_from_slice(self.contract.as_slice());
        info.extend_from_slice(self.account.as_slice());
        info.extend_from_slice(&self.key_version.to_be_bytes());
        // Only a moved identity's info names the wallet: every key derived before stays as it was.
        if self.moved() {
            info.extend_from_slice(self.wallet.as_slice());
        }
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(HKDF_SALT), rs)
            .expand(&info, &mut okm)
            .map_err(|_| IdentityError::BadSignature("HKDF output length".into()))?;
        Ok(okm)
    }

    /// The X25519 key pair from the wallet's signature over [`KeyDerivation::signing_hash`].
    pub fn derive_keypair(&self, signature: &[u8]) -> Result<KeyPair, IdentityError> {
        let mut seed = self.seed(signature)?;
        let kp = KeyPair::derive(&seed);
        seed.zeroize();
        Ok(kp)
    }
}

impl EscrowRequest {
    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self, chain_id: u64, contract: Address) -> B256 {
        self.eip712_signing_hash(&domain(chain_id, contract))
    }

    /// Checks the signature is the requester's and the request has not expired. Single use of the
    /// nonce is the escrow's to enforce.
    pub fn verify(
        &self,
        chain_id: u64,
        contract: Address,
        signature: &[u8],
        now: i64,
    ) -> Result<Address, IdentityError> {
        let recovered = signed_by(
            &self.signing_hash(chain_id, contract),
            signature,
            self.requester,
        )?;
        let expiry = i64::try_from(self.expiry).unwrap_or(i64::MAX);
        if now >= expiry {
            return Err(IdentityError::Expired {
                expired_at: expiry,
                now,
            });
        }
        Ok(recovered)
    }
}

/// The consent an account's wallet signs before the escrow replaces its wrapped DEKs with wraps
/// to its new encryption key (formats.md 6.5). It names the key and a deadline: the escrow accepts
/// it only while that key is the account's key on chain and before the deadline, so a stolen
/// session without the wallet cannot replace anyone's wraps, and a signature seen once does not
/// serve for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveWrapsMessage {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// MedLedger contract.
    pub contract: Address,
    /// The signer, whose wraps move.
    pub account: Address,
    /// The X25519 public key the new wraps are made for.
    pub encryption_key: B256,
    /// Unix seconds after which the signature no longer serves.
    pub deadline: u64,
}

impl MoveWrapsMessage {
    /// The typed struct.
    pub fn message(&self) -> MoveWraps {
        MoveWraps {
            account: self.account,
            encryptionKey: self.encryption_key,
            deadline: self.deadline,
        }
    }

    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self) -> B256 {
        self.message()
            .eip712_signing_hash(&domain(self.chain_id, self.contract))
    }

    /// The `eth_signTypedData_v4` payload.
    pub fn typed_data_json(&self) -> serde_json::Value {
        typed_data_json(
            self.chain_id,
            self.contract,
            "MoveWraps",
            serde_json::json!([
                {"name": "account", "type": "address"},
                {"name": "encryptionKey", "type": "bytes32"},
                {"name": "deadline", "type": "uint64"}
            ]),
            serde_json::json!({
                "account": self.account.to_checksum(None),
                "encryptionKey": self.encryption_key.to_string(),
                "deadline": self.deadline
            }),
        )
    }

    /// Checks the signature is the account's over this key and deadline, and `now` (Unix
    /// seconds) is before the deadline.
    pub fn verify(&self, signature: &[u8], now: i64) -> Result<(), IdentityError> {
        self.verify_by(signature, self.account, now)
    }

    /// As [`MoveWrapsMessage::verify`], signed by `wallet`: the wallet that controls the account
    /// now, which is the account itself until a recovery moved it (`walletOf` on chain; the
    /// escrow takes it from the session, which the chain named at sign-in).
    pub fn verify_by(
        &self,
        signature: &[u8],
        wallet: Address,
        now: i64,
    ) -> Result<(), IdentityError> {
        signed_by(&self.signing_hash(), signature, wallet)?;
        let deadline = i64::try_from(self.deadline).unwrap_or(i64::MAX);
        if now >= deadline {
            return Err(IdentityError::Expired {
                expired_at: deadline,
                now,
            });
        }
        Ok(())
    }
}

/// A hold decision on one deployment: the message the patient's wallet signs (formats.md 6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldDecisionMessage {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// MedLedger contract.
    pub contract: Address,
    /// The hold's number.
    pub hold: u64,
    /// When the read was held (Unix seconds): with the number, names one hold even if an index
    /// restored from a backup numbers holds again.
    pub created_at: u64,
    /// The held record.
    pub record_id: B256,
    /// Who asked to read.
    pub reader: Address,
    /// The signer: the record's patient.
    pub patient: Address,
    /// Release (true) or refuse (false).
    pub approve: bool,
}

impl HoldDecisionMessage {
    /// The typed struct.
    pub fn message(&self) -> HoldDecision {
        HoldDecision {
            hold: self.hold,
            createdAt: self.created_at,
            recordId: self.record_id,
            reader: self.reader,
            patient: self.patient,
            approve: self.approve,
        }
    }

    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self) -> B256 {
        self.message()
            .eip712_signing_hash(&domain(self.chain_id, self.contract))
    }

    /// The `eth_signTypedData_v4` payload.
    pub fn typed_data_json(&self) -> serde_json::Value {
        typed_data_json(
            self.chain_id,
            self.contract,
            "HoldDecision",
            serde_json::json!([
                {"name": "hold", "type": "uint64"},
                {"name": "createdAt", "type": "uint64"},
                {"name": "recordId", "type": "bytes32"},
                {"name": "reader", "type": "address"},
                {"name": "patient", "type": "address"},
                {"name": "approve", "type": "bool"}
            ]),
            serde_json::json!({
                "hold": self.hold,
                "createdAt": self.created_at,
                "recordId": self.record_id.to_string(),
                "reader": self.reader.to_checksum(None),
                "patient": self.patient.to_checksum(None),
                "approve": self.approve
            }),
        )
    }

    /// Checks the signature is the patient's over this decision.
    pub fn verify(&self, signature: &[u8]) -> Result<(), IdentityError> {
        self.verify_by(signature, self.patient)
    }

    /// As [`HoldDecisionMessage::verify`], signed by `wallet`, the wallet that controls the
    /// patient's identity now (see [`MoveWrapsMessage::verify_by`]).
    pub fn verify_by(&self, signature: &[u8], wallet: Address) -> Result<(), IdentityError> {
        signed_by(&self.signing_hash(), signature, wallet)?;
        Ok(())
    }
}

/// An account's acceptance of one version of the licence agreement on one deployment: the message
/// its wallet signs (formats.md 6.6). The signature with the text it names is the proof anyone can
/// check later; the escrow also appends it to the anchored access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementAcceptanceMessage {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// MedLedger contract.
    pub contract: Address,
    /// The signer.
    pub account: Address,
    /// The agreement's version.
    pub version: u32,
    /// keccak256 of the agreement's exact text (UTF-8).
    pub text_hash: B256,
    /// When the account accepted (Unix seconds, the signer's clock).
    pub accepted_at: u64,
}

impl AgreementAcceptanceMessage {
    /// The typed struct.
    pub fn message(&self) -> AcceptAgreement {
        AcceptAgreement {
            account: self.account,
            version: self.version,
            textHash: self.text_hash,
            acceptedAt: self.accepted_at,
        }
    }

    /// The EIP-712 hash the wallet signs.
    pub fn signing_hash(&self) -> B256 {
        self.message()
            .eip712_signing_hash(&domain(self.chain_id, self.contract))
    }

    /// The `eth_signTypedData_v4` payload.
    pub fn typed_data_json(&self) -> serde_json::Value {
        typed_data_json(
            self.chain_id,
            self.contract,
            "AcceptAgreement",
            serde_json::json!([
                {"name": "account", "type": "address"},
                {"name": "version", "type": "uint32"},
                {"name": "textHash", "type": "bytes32"},
                {"name": "acceptedAt", "type": "uint64"}
            ]),
            serde_json::json!({
                "account": self.account.to_checksum(None),
                "version": self.version,
                "textHash": self.text_hash.to_string(),
                "acceptedAt": self.accepted_at
            }),
        )
    }

    /// Checks the signature is the account's over this acceptance.
    pub fn verify(&self, signature: &[u8]) -> Result<(), IdentityError> {
        self.verify_by(signature, self.account)
    }

    /// As [`AgreementAcceptanceMessage::verify`], signed by `wallet`, the wallet that controls
    /// the account now (see [`MoveWrapsMessage::verify_by`]).
    pub fn verify_by(&self, signature: &[u8], wallet: Address) -> Result<(), IdentityError> {
        signed_by(&self.signing_hash(), signature, wallet)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// SIWE (EIP-4361)

const SIWE_SUFFIX: &str = " wants you to sign in with your Ethereum account:";

/// An EIP-4361 message. Timestamps are kept as the exact RFC 3339 text that was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// RFC 3986 authority (optionally with a scheme) asking for the sign-in.
    pub domain: String,
    /// The signer.
    pub address: Address,
    /// Optional human-readable statement (one line).
    pub statement: Option<String>,
    /// The URI the sign-in is for.
    pub uri: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Server-issued nonce (at least 8 alphanumeric characters).
    pub nonce: String,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339, optional.
    pub expiration_time: Option<String>,
    /// RFC 3339, optional.
    pub not_before: Option<String>,
    /// Optional request id.
    pub request_id: Option<String>,
    /// Optional resources.
    pub resources: Vec<String>,
}

impl core::fmt::Display for SiweMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}{}\n{}\n\n",
            self.domain,
            SIWE_SUFFIX,
            self.address.to_checksum(None)
        )?;
        if let Some(s) = &self.statement {
            writeln!(f, "{s}")?;
        }
        write!(
            f,
            "\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri, self.chain_id, self.nonce, self.issued_at
        )?;
        if let Some(t) = &self.expiration_time {
            write!(f, "\nExpiration Time: {t}")?;
        }
        if let Some(t) = &self.not_before {
            write!(f, "\nNot Before: {t}")?;
        }
        if let Some(r) = &self.request_id {
            write!(f, "\nRequest ID: {r}")?;
        }
        if !self.resources.is_empty() {
            write!(f, "\nResources:")?;
            for r in &self.resources {
                write!(f, "\n- {r}")?;
            }
        }
        Ok(())
    }
}

/// What a verifier (the escrow) expects of a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweExpectations<'a> {
    /// Its own domain.
    pub domain: &'a str,
    /// Its own URI, when it checks one.
    pub uri: Option<&'a str>,
    /// The chain it serves.
    pub chain_id: u64,
    /// The nonce it issued for this sign-in.
    pub nonce: &'a str,
    /// Longest accepted time since `Issued At`, seconds.
    pub max_age: Option<i64>,
    /// Tolerated clock difference, seconds.
    pub clock_skew: i64,
}

fn no_ws(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

fn tagged<'a>(line: Option<&'a str>, tag: &'static str) -> Result<&'a str, IdentityError> {
    line.and_then(|l| l.strip_prefix(tag))
        .ok_or(IdentityError::MalformedSiwe(tag))
}

impl SiweMessage {
    /// Parses an EIP-4361 message strictly: what it accepts renders back to the same text.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let mut lines = text.split('\n').peekable();
        let first = lines.next().unwrap_or_default();
        let domain = first
            .strip_suffix(SIWE_SUFFIX)
            .filter(|d| no_ws(d))
            .ok_or(IdentityError::MalformedSiwe("preamble"))?
            .to_string();
        let addr_line = lines
            .next()
            .ok_or(IdentityError::MalformedSiwe("address"))?;
        let address = Address::parse_checksummed(addr_line, None)
            .map_err(|_| IdentityError::MalformedSiwe("address (must be EIP-55 checksummed)"))?;
        if lines.next() != Some("") {
            return Err(IdentityError::MalformedSiwe("blank line after address"));
        }
        let statement = match lines.next() {
            Some("") => None,
            Some(s) => {
                if lines.next() != Some("") {
                    return Err(IdentityError::MalformedSiwe("blank line after statement"));
                }
                Some(s.to_string())
            }
            None => return Err(IdentityError::MalformedSiwe("truncated")),
        };
        let uri = tagged(lines.next(), "URI: ")?;
        if !no_ws(uri) {
            return Err(IdentityError::MalformedSiwe("URI"));
        }
        if tagged(lines.next(), "Version: ")? != "1" {
            return Err(IdentityError::MalformedSiwe("Version"));
        }
        let chain = tagged(lines.next(), "Chain ID: ")?;
        if chain.is_empty() || !chain.bytes().all(|b| b.is_ascii_digit()) || chain.starts_with('0')
        {
            return Err(IdentityError::MalformedSiwe("Chain ID"));
        }
        let chain_id: u64 = chain
            .parse()
            .map_err(|_| IdentityError::MalformedSiwe("Chain ID"))?;
        let nonce = tagged(lines.next(), "Nonce: ")?;
        if nonce.len() < 8 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdentityError::MalformedSiwe("Nonce"));
        }
        let issued_at = tagged(lines.next(), "Issued At: ")?;
        parse_rfc3339(issued_at).ok_or(IdentityError::MalformedSiwe("Issued At"))?;
        let mut msg = Self {
            domain,
            address,
            statement,
            uri: uri.to_string(),
            chain_id,
            nonce: nonce.to_string(),
            issued_at: issued_at.to_string(),
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        };
        if let Some(t) = lines.next_if(|l| l.starts_with("Expiration Time: ")) {
            let t = &t["Expiration Time: ".len()..];
            parse_rfc3339(t).ok_or(IdentityError::MalformedSiwe("Expiration Time"))?;
            msg.expiration_time = Some(t.to_string());
        }
        if let Some(t) = lines.next_if(|l| l.starts_with("Not Before: ")) {
            let t = &t["Not Before: ".len()..];
            parse_rfc3339(t).ok_or(IdentityError::MalformedSiwe("Not Before"))?;
            msg.not_before = Some(t.to_string());
        }
        if let Some(r) = lines.next_if(|l| l.starts_with("Request ID: ")) {
            msg.request_id = Some(r["Request ID: ".len()..].to_string());
        }
        if lines.next_if(|l| *l == "Resources:").is_some() {
            for l in lines.by_ref() {
                let r = l
                    .strip_prefix("- ")
                    .filter(|r| no_ws(r))
                    .ok_or(IdentityError::MalformedSiwe("Resources"))?;
                msg.resources.push(r.to_string());
            }
            if msg.resources.is_empty() {
                return Err(IdentityError::MalformedSiwe("Resources"));
            }
        }
        if lines.next().is_some() {
            return Err(IdentityError::MalformedSiwe("unexpected trailing lines"));
        }
        if msg.to_string() != text {
            return Err(IdentityError::MalformedSiwe("not in canonical form"));
        }
        Ok(msg)
    }

    /// Checks signature, fields and times; returns the signer.
    pub fn verify(
        &self,
        signature: &[u8],
        expect: &SiweExpectations<'_>,
        now: i64,
    ) -> Result<Address, IdentityError> {
        let recovered = recover_personal(self.to_string().as_bytes(), signature)?;
        if recovered != self.address {
            return Err(IdentityError::WrongSigner {
                expected: self.address,
                recovered,
            });
        }
        if self.domain != expect.domain {
            return Err(IdentityError::SiweMismatch { field: "domain" });
        }
        if let Some(uri) = expect.uri {
            if self.uri != uri {
                return Err(IdentityError::SiweMismatch { field: "URI" });
            }
        }
        if self.chain_id != expect.chain_id {
            return Err(IdentityError::SiweMismatch { field: "chain id" });
        }
        if self.nonce != expect.nonce {
            return Err(IdentityError::SiweMismatch { field: "nonce" });
        }
        let time = |t: &str, f| parse_rfc3339(t).ok_or(IdentityError::MalformedSiwe(f));
        let issued = time(&self.issued_at, "Issued At")?;
        if issued > now.saturating_add(expect.clock_skew) {
            return Err(IdentityError::NotYetValid {
                valid_from: issued,
                now,
            });
        }
        if let Some(max_age) = expect.max_age {
            if now.saturating_sub(issued) > max_age {
                return Err(IdentityError::TooOld {
                    issued_at: issued,
                    now,
                });
            }
        }
        if let Some(t) = &self.expiration_time {
            let exp = time(t, "Expiration Time")?;
            if now >= exp {
                return Err(IdentityError::Expired {
                    expired_at: exp,
                    now,
                });
            }
        }
        if let Some(t) = &self.not_before {
            let nb = time(t, "Not Before")?;
            if now.saturating_add(expect.clock_skew) < nb {
                return Err(IdentityError::NotYetValid {
                    valid_from: nb,
                    now,
                });
            }
        }
        Ok(recovered)
    }
}

/// Parses and verifies the exact text the wallet signed.
pub fn verify_siwe(
    text: &str,
    signature: &[u8],
    expect: &SiweExpectations<'_>,
    now: i64,
) -> Result<(SiweMessage, Address), IdentityError> {
    let msg = SiweMessage::parse(text)?;
    let addr = msg.verify(signature, expect, now)?;
    Ok((msg, addr))
}

// Proleptic Gregorian day count (H. Hinnant's civil calendar algorithms); plain date arithmetic,
// kept here so the crate needs no date library in the browser.
/// Days from 1970-01-01 to the date `y-m-d` (negative before it).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Parses an RFC 3339 date-time (`2026-11-25T07:55:00Z`, fractions and offsets allowed) into Unix
/// seconds (fractions dropped).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0u32, |acc, &c| Some(acc * 10 + u32::from(c - b'0')))
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let dim = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > dim || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &rest[1 + digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (years 0..=9999).
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-25T07:55:00Z"), Some(1_795_593_300));
        assert_eq!(
            parse_rfc3339("2026-11-25T08:55:00.123+01:00"),
            Some(1_795_593_300)
        );
        assert_eq!(parse_rfc3339("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(parse_rfc3339("2001-02-29T12:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25 07:55:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25T07:55:00"), None);
        assert_eq!(format_rfc3339(1_795_593_300), "2026-11-25T07:55:00Z");
        assert_eq!(format_rfc3339(951_825_600), "2000-02-29T12:00:00Z");
    }
}
