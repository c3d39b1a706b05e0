//! HPKE wrapping of a record's DEK to a reader's X25519 public key (docs/formats.md section 3):
//! RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, with the purpose in
//! `info` and the chain, contract, record and reader in the AAD, so a wrapped DEK opens only for the
//! record, reader and purpose it was made for. Also the reader key pair type.

use alloy_primitives::{Address, B256};
use hpke::aead::AesGcm256 as HpkeAesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::rand_core::CryptoRng;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::cipher::SecretKey;

type Kem = X25519HkdfSha256;

/// Format version byte of a wrapped DEK.
pub const WRAP_VERSION: u8 = 1;
/// Length of a wrapped DEK: version, `enc`, DEK ciphertext and tag.
pub const WRAPPED_LEN: usize = 1 + 32 + 32 + 16;
/// The `info` label.
pub const INFO_LABEL: &[u8] = b"medledger/v1/dek-wrap";

/// Why a DEK could not be wrapped or unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    /// The wrapped form has the wrong length.
    #[error("wrapped DEK must be {WRAPPED_LEN} bytes, got {0}")]
    BadLength(usize),
    /// An unknown format version byte.
    #[error("unsupported wrapped-DEK version {0}")]
    UnsupportedVersion(u8),
    /// A public key that is not a valid X25519 key.
    #[error("invalid X25519 public key")]
    BadPublicKey,
    /// Opening failed.
    #[error("DEK unwrap failed: wrong reader key, or wrapped for another record, reader, purpose, contract or chain, or tampered")]
    WrongKeyOrContext,
    /// Sealing failed.
    #[error("DEK wrap failed")]
    Seal,
}

/// Why a DEK is wrapped to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The patient, the author or a grantee.
    Reader,
    /// The escrow's emergency (break-glass) key.
    BreakGlass,
    /// A guardian's recovery share (crate::recovery), sealed like a DEK.
    Guardian,
    /// A guardian's share re-sealed to the transport key of the wallet recovering the account
    /// (crate::recovery).
    Transport,
}

impl Purpose {
    /// The ASCII label bound into `info`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::BreakGlass => "break-glass",
            Self::Guardian => "guardian",
            Self::Transport => "recovery-transport",
        }
    }
}

/// Who a wrap is for and about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapContext {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The MedLedger contract.
    pub contract: Address,
    /// The record whose DEK is wrapped.
    pub record_id: B256,
    /// The reader's account address.
    pub reader: Address,
    /// Why.
    pub purpose: Purpose,
}

impl WrapContext {
    /// `info = label || 0x00 || u8 len(purpose) || purpose`.
    pub fn info(&self) -> Vec<u8> {
        let p = self.purpose.label().as_bytes();
        let mut info = Vec::with_capacity(INFO_LABEL.len() + 2 + p.len());
        info.extend_from_slice(INFO_LABEL);
        info.push(0);
        // Labels are short constants.
        info.push(p.len() as u8);
        info.extend_from_slice(p);
        info
    }

    /// `aad = u64 chain_id || contract || record_id || reader`.
    pub fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(8 + 20 + 32 + 20);
        aad.extend_from_slice(&self.chain_id.to_be_bytes());
        aad.extend_from_slice(self.contract.as_slice());
        aad.extend_from_slice(self.record_id.as_slice());
        aad.extend_from_slice(self.reader.as_slice());
        aad
    }
}

/// A reader's X25519 public key (registered on chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

/// A reader's X25519 key pair. The private half is zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyPair {
    secret: [u8; 32],
    #[zeroize(skip)]
    public: PublicKey,
}

impl core::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl KeyPair {
    /// RFC 9180 `DeriveKeyPair(ikm)` for DHKEM(X25519, HKDF-SHA256).
    pub fn derive(ikm: &[u8; 32]) -> Self {
        let (sk, pk) = Kem::derive_keypair(ikm);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Self {
            secret,
            public: PublicKey(public),
        }
    }

    /// A random key pair (the escrow's break-glass key, tests).
    pub fn generate() -> Result<Self, crate::cipher::RandomError> {
        let mut ikm = [0u8; 32];
        crate::cipher::fill_random(&mut ikm)?;
        let kp = Self::derive(&ikm);
        ikm.zeroize();
        Ok(kp)
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The raw private key (for storing the escrow's break-glass key sealed). Keep the borrow short.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// From stored private key bytes.
    pub fn from_secret_bytes(secret: [u8; 32]) -> Result<Self, WrapError> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret)
            .map_err(|_| WrapError::BadPublicKey)?;
        let pk = Kem::sk_to_pk(&sk);
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Ok(Self {
            secret,
            public: PublicKey(public),
        })
    }
}

/// Wraps `dek` to `recipient` with the system RNG.
pub fn wrap_dek(
    dek: &SecretKey,
    recipient: &PublicKey,
    ctx: &WrapContext,
) -> Result<[u8; WRAPPED_LEN], WrapError> {
    let mut ikm_e = [0u8; 32];
    crate::cipher::fill_random(&mut ikm_e).map_err(|_| WrapError::Seal)?;
    let out = wrap_dek_with_rng(dek, recipient, ctx, &mut FixedIkm::new(ikm_e));
    ikm_e.zeroize();
    out
}

/// Wraps `dek` with an explicit RNG for the ephemeral key (deterministic test vectors).
pub fn wrap_dek_with_rng(
    dek: &SecretKey,
    recipient: &PublicKey,
    ctx: &WrapContext,
    rng: &mut impl CryptoRng,
) -> Result<[u8; WRAPPED_LEN], WrapError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| WrapError::BadPublicKey)?;
    let (enc, ct) = hpke::single_shot_seal_with_rng::<HpkeAesGcm256, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        &ctx.info(),
        dek.expose_secret(),
        &ctx.aad(),
        rng,
    )
    .map_err(|_| WrapError::Seal)?;
    let mut out = [0u8; WRAPPED_LEN];
    out[0] = WRAP_VERSION;
    out[1..33].copy_from_slice(&enc.to_bytes());
    if ct.len() != WRAPPED_LEN - 33 {
        return Err(WrapError::Seal);
    }
    out[33..].copy_from_slice(&ct);
    Ok(out)
}

/// Opens a wrapped DEK with the reader's key pair.
pub fn unwrap_dek(
    wrapped: &[u8],
    keys: &KeyPair,
    ctx: &WrapContext,
) -> Result<SecretKey, WrapError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(WrapError::BadLength(wrapped.len()));
    }
    if wrapped[0] != WRAP_VERSION {
        return Err(WrapError::UnsupportedVersion(wrapped[0]));
    }
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&keys.secret)
        .map_err(|_| WrapError::WrongKeyOrContext)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&wrapped[1..33])
        .map_err(|_| WrapError::WrongKeyOrContext)?;
    let mut pt = hpke::single_shot_open::<HpkeAesGcm256, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        &ctx.info(),
        &wrapped[33..],
        &ctx.aad(),
    )
    .map_err(|_| WrapError::WrongKeyOrContext)?;
    let key = SecretKey::from_slice(&pt);
    pt.zeroize();
    key.ok_or(WrapError::WrongKeyOrContext)
}

/// An RNG that yields the given 32 bytes over and over: HPKE's X25519 key generation draws exactly
/// 32 bytes (the ephemeral `ikmE` of RFC 9180's test vectors), so this makes the ephemeral key
/// `DeriveKeyPair(ikmE)`. Only for test vectors, and internally with fresh random bytes.
pub struct FixedIkm {
    ikm: [u8; 32],
    pos: usize,
}

impl FixedIkm {
    /// Yields `ikm`.
    pub fn new(ikm: [u8; 32]) -> Self {
        Self { ikm, pos: 0 }
    }
}

impl Drop for FixedIkm {
    fn drop(&mut self) {
        self.ikm.zeroize();
    }
}

impl hpke::rand_core::TryRng for FixedIkm {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.ikm[self.pos % 32];
            self.pos += 1;
        }
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for FixedIkm {}
