//! The seam between the chunked formats and the AEAD that seals one chunk: 32-byte secret keys that
//! zeroize on drop and redact themselves in `Debug`, and the [`ChunkCipher`] operation that envelope
//! and tier 2 are written against. Natively the operation is RustCrypto's `aes-gcm`; the browser will
//! implement the very same operation with WebCrypto (SubtleCrypto AES-GCM), which is why the formats
//! only ever ask for "seal these bytes under this nonce and AAD, tag appended".

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// AES-256 key length.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length used by every medledger format.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length used by every medledger format (appended to the ciphertext).
pub const TAG_LEN: usize = 16;

/// The system random number generator failed (no entropy source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Fills `buf` from the operating system's (or, in the browser, `crypto.getRandomValues`') CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

/// A 32-byte symmetric key (a DEK, a K2 or a master key). Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

// Constant time, so comparing keys (tests, rotation checks) leaks nothing through timing.
impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}

impl Eq for SecretKey {}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, RandomError> {
        let mut key = [0u8; KEY_LEN];
        fill_random(&mut key)?;
        let out = Self(key);
        key.zeroize();
        Ok(out)
    }

    /// Takes ownership of key bytes (for example just unwrapped).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Copies key bytes from a slice; `None` when the length is not 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// The raw key, for wrapping it or handing it to WebCrypto. Keep the borrow short.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// An AEAD tag check failed, or the AEAD refused the input (too long).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AEAD seal or open failed")]
pub struct CipherError;

/// One chunk operation of AES-256-GCM with a 96-bit nonce and a 128-bit tag. Implementations must
/// be interchangeable byte for byte: the test vectors pin the output.
pub trait ChunkCipher {
    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CipherError>;

    /// Checks `tag` and decrypts `buf` in place. On error `buf` holds no plaintext worth keeping.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CipherError>;
}

/// The [`ChunkCipher`] this build uses: `ring`'s assembly AES-256-GCM natively (the escrow's tier 2,
/// the native tools), RustCrypto's portable `aes-gcm` on wasm32 (where the app's body chunks go
/// through WebCrypto anyway, `webcrypto.rs`, and this one seals only short messages). Both produce
/// the same bytes: the test vectors pin them and a property test compares the two natively.
#[cfg(not(target_arch = "wasm32"))]
pub type AesGcm256 = RingAesGcm256;
/// See the native definition: on wasm32 the portable implementation.
#[cfg(target_arch = "wasm32")]
pub type AesGcm256 = PortableAesGcm256;

/// RustCrypto `aes-gcm`: portable (it detects AES-NI and CLMUL at run time natively), and its
/// round keys are zeroized on drop through the crate's `zeroize` feature.
#[derive(Clone)]
pub struct PortableAesGcm256 {
    inner: Aes256Gcm,
}

impl PortableAesGcm256 {
    /// Expands `key` for AES-256-GCM.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            inner: Aes256Gcm::new(key.expose_secret().into()),
        }
    }
}

impl core::fmt::Debug for PortableAesGcm256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PortableAesGcm256(<redacted>)")
    }
}

impl ChunkCipher for PortableAesGcm256 {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CipherError> {
        let tag = self
            .inner
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
            .map_err(|_| CipherError)?;
        Ok(tag.into())
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CipherError> {
        self.inner
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
            .map_err(|_| CipherError)
    }
}

/// `ring`'s AES-256-GCM (BoringSSL's assembly: AES-NI with the stitched GHASH, VAES/VPCLMULQDQ where
/// the CPU has them), about three times the portable crate on the machines we measure
/// (bench/README.md). Unlike [`PortableAesGcm256`], ring does not wipe the expanded round keys
/// when the key is dropped; the [`SecretKey`] they came from still is (docs/threat-model.md).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
pub struct RingAesGcm256 {
    inner: ring::aead::LessSafeKey,
}

#[cfg(not(target_arch = "wasm32"))]
impl RingAesGcm256 {
    /// Expands `key` for AES-256-GCM.
    pub fn new(key: &SecretKey) -> Self {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.expose_secret())
            // A 32-byte key is the one thing AES_256_GCM's constructor checks; the type makes
            // every SecretKey 32 bytes, so this cannot fail.
            .expect("AES-256-GCM takes any 32-byte key");
        Self {
            inner: ring::aead::LessSafeKey::new(unbound),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl core::fmt::Debug for RingAesGcm256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RingAesGcm256(<redacted>)")
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ChunkCipher for RingAesGcm256 {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CipherError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let tag = self
            .inner
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), buf)
            .map_err(|_| CipherError)?;
        tag.as_ref().try_into().map_err(|_| CipherError)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CipherError> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let tag = ring::aead::Tag::from(*tag);
        self.inner
            .open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, buf, 0..)
            .map(|_| ())
            .map_err(|_| CipherError)
    }
}

/// Seals a short message (a key, a metadata block) into a new vector `ct || tag`.
pub(crate) fn seal_to_vec<C: ChunkCipher>(
    cipher: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = cipher.seal_in_place(nonce, aad, &mut out)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens `ct || tag` into a new vector. Rejects inputs shorter than a tag.
pub(crate) fn open_to_vec<C: ChunkCipher>(
    cipher: &C,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CipherError> {
    let split = sealed.len().checked_sub(TAG_LEN).ok_or(CipherError)?;
    let (ct, tag) = sealed.split_at(split);
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| CipherError)?;
    let mut out = ct.to_vec();
    if let Err(e) = cipher.open_in_place(nonce, aad, &mut out, &tag) {
        out.zeroize();
        return Err(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_debug_is_redacted() {
        let key = SecretKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?} {:?}", AesGcm256::new(&key));
        assert!(!shown.contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let cipher = AesGcm256::new(&SecretKey::from_bytes([7; 32]));
        let nonce = [1u8; NONCE_LEN];
        let sealed = seal_to_vec(&cipher, &nonce, b"aad", b"hello").expect("seal");
        assert_eq!(sealed.len(), 5 + TAG_LEN);
        assert_eq!(
            open_to_vec(&cipher, &nonce, b"aad", &sealed).expect("open"),
            b"hello"
        );
        assert!(open_to_vec(&cipher, &nonce, b"aaD", &sealed).is_err());
        assert!(open_to_vec(&cipher, &nonce, b"aad", &sealed[..10]).is_err());
    }

    /// ring and the portable crate must be interchangeable byte for byte: whatever one seals the
    /// other opens, with the same tag, and both refuse the same tampering.
    #[cfg(not(target_arch = "wasm32"))]
    mod ring_against_portable {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn same_bytes_same_tag(
                key in any::<[u8; KEY_LEN]>(),
                nonce in any::<[u8; NONCE_LEN]>(),
                aad in proptest::collection::vec(any::<u8>(), 0..80),
                body in proptest::collection::vec(any::<u8>(), 0..3000),
                flip in any::<proptest::sample::Index>(),
            ) {
                let key = SecretKey::from_bytes(key);
                let (ring, portable) = (RingAesGcm256::new(&key), PortableAesGcm256::new(&key));
                let by_ring = seal_to_vec(&ring, &nonce, &aad, &body).expect("ring seals");
                let by_portable = seal_to_vec(&portable, &nonce, &aad, &body).expect("portable seals");
                prop_assert_eq!(&by_ring, &by_portable);
                prop_assert_eq!(&open_to_vec(&portable, &nonce, &aad, &by_ring).expect("opens"), &body);
                prop_assert_eq!(&open_to_vec(&ring, &nonce, &aad, &by_portable).expect("opens"), &body);
                let mut tampered = by_ring.clone();
                let at = flip.index(tampered.len());
                tampered[at] ^= 0x01;
                prop_assert!(open_to_vec(&ring, &nonce, &aad, &tampered).is_err());
                prop_assert!(open_to_vec(&portable, &nonce, &aad, &tampered).is_err());
            }
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = SecretKey::generate().expect("rng");
        let b = SecretKey::generate().expect("rng");
        assert_ne!(a, b);
    }
}
