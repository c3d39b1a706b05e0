//! The browser's fast path for envelope v1: the very same format as [`crate::envelope`], with the
//! body chunks sealed, opened and hashed by the browser's WebCrypto (`crypto.subtle`) instead of
//! `aes-gcm` and `sha2` compiled to WASM. WebCrypto runs AES-GCM and SHA-256 in native code,
//! about twenty times faster than the same algorithms in WASM; its calls are asynchronous, so this
//! module's API is async and works one chunk at a time (one WebCrypto call per 64 KiB chunk, never
//! one per file). Chunk data stays in JavaScript memory (`Uint8Array`): only nonces, AADs and the
//! 32-byte chunk digests cross into WASM.
//!
//! The header and the small metadata block are made and checked by the native code paths (they are
//! a few hundred bytes), so the framing rules live in one place; the test vectors pin that both
//! paths produce identical bytes.

use alloy_primitives::B256;
use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use zeroize::Zeroize;

use crate::cipher::{seal_to_vec, AesGcm256, SecretKey, NONCE_LEN, TAG_LEN};
use crate::envelope::{
    body_aad_prefix, metadata_aad, metadata_nonce, EnvelopeError, H1Builder, Header, Metadata,
    RecordContext, HEADER_LEN,
};
use crate::stream::{
    chunk_aad, chunk_nonce, StreamError, MAX_CHUNKS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};

mod decrypt;
pub use decrypt::WebDecryptor;

/// `read` (a body's bytes from some offset that is a multiple of `chunk_size`) cut into views of
/// `chunk_size` bytes for [`WebEncryptor::seal_chunks`], without copying: the last view may be
/// shorter, and nothing read is one empty chunk (an empty body's final chunk). One large read
/// cut into views is how the app reads a file: a read per chunk made the reads the limit.
pub fn chunk_views(read: &Uint8Array, chunk_size: u32) -> Vec<Uint8Array> {
    let len = read.length();
    if len == 0 || chunk_size == 0 {
        return vec![read.clone()];
    }
    (0..len)
        .step_by(chunk_size as usize)
        .map(|at| read.subarray(at, at.saturating_add(chunk_size).min(len)))
        .collect()
}

/// Why a WebCrypto envelope operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebCryptoError {
    /// The format said no (tampered chunk, truncation, wrong record...).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// `crypto.subtle` is missing: not a secure context (https or localhost), or no WebCrypto.
    #[error(
        "WebCrypto is not available here (the page must be served over https or from localhost)"
    )]
    Unavailable,
    /// The browser refused a WebCrypto call for another reason than a failed tag.
    #[error("WebCrypto failed: {0}")]
    Browser(String),
}

impl From<StreamError> for WebCryptoError {
    fn from(e: StreamError) -> Self {
        WebCryptoError::Envelope(EnvelopeError::Stream(e))
    }
}

fn js_message(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            Reflect::get(v, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn browser(v: JsValue) -> WebCryptoError {
    WebCryptoError::Browser(js_message(&v))
}

/// `crypto.subtle` of the current global (window or worker).
fn subtle() -> Result<SubtleCrypto, WebCryptoError> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| WebCryptoError::Unavailable)?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .map_err(|_| WebCryptoError::Unavailable)?;
    subtle
        .dyn_into::<SubtleCrypto>()
        .map_err(|_| WebCryptoError::Unavailable)
}

/// A non-extractable AES-GCM key in the browser's key store, imported from `key`. The raw bytes
/// pass through one temporary `Uint8Array`, which is overwritten right after the import.
async fn import_aes_key(
    subtle: &SubtleCrypto,
    key: &SecretKey,
) -> Result<CryptoKey, WebCryptoError> {
    let raw = Uint8Array::from(&key.expose_secret()[..]);
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let promise = subtle
        .import_key_with_str("raw", &raw, "AES-GCM", false, &usages)
        .map_err(browser);
    raw.fill(0, 0, raw.length());
    let imported = JsFuture::from(promise?).await.map_err(browser)?;
    imported.dyn_into::<CryptoKey>().map_err(browser)
}

/// One `{ name: "AES-GCM", iv, additionalData, tagLength: 128 }` object for every chunk of a
/// body: each call overwrites the bytes of its `iv` and `additionalData` arrays in place.
///
/// Why reuse is safe: WebCrypto copies the bytes of an algorithm's buffer members when the call is
/// made ("normalize an algorithm", Web Cryptography API §18.4.4: "get a copy of the bytes held
/// by"), so a call in flight never sees the next chunk's nonce; a browser that did not would fail
/// every multi-chunk round trip of the test vectors. Why reuse at all: building a fresh object per
/// 64 KiB chunk (four properties and two arrays across the WASM boundary) was a measurable share
/// of the envelope's cost against raw WebCrypto (bench/README.md).
struct GcmParams {
    object: Object,
    iv: Uint8Array,
    aad: Uint8Array,
}

impl GcmParams {
    fn new() -> Result<Self, WebCryptoError> {
        let object = Object::new();
        let iv = Uint8Array::new_with_length(NONCE_LEN as u32);
        let aad = Uint8Array::new_with_length(0);
        let set = |k: &str, v: &JsValue| Reflect::set(&object, &JsValue::from_str(k), v);
        set("name", &JsValue::from_str("AES-GCM")).map_err(browser)?;
        set("tagLength", &JsValue::from_f64(128.0)).map_err(browser)?;
        set("iv", &iv).map_err(browser)?;
        set("additionalData", &aad).map_err(browser)?;
        Ok(Self { object, iv, aad })
    }

    /// The parameters for one call: `nonce` and `aad` copied into the shared arrays (a new
    /// `additionalData` array only when the AAD's length changes, which a body's chunks never do).
    fn with(&mut self, nonce: &[u8; NONCE_LEN], aad: &[u8]) -> Result<&Object, WebCryptoError> {
        self.iv.copy_from(nonce);
        if self.aad.length() as usize != aad.len() {
            self.aad = Uint8Array::new_with_length(aad.len() as u32);
            Reflect::set(
                &self.object,
                &JsValue::from_str("additionalData"),
                &self.aad,
            )
            .map_err(browser)?;
        }
        self.aad.copy_from(aad);
        Ok(&self.object)
    }
}

/// SHA-256 of each sealed chunk, started by the browser itself the moment the chunk's encryption
/// resolves (`sealing.then(digest)`): no trip back into WASM between the two, as raw WebCrypto
/// code would chain them. Both functions are made once per body; calling `then` through
/// `Function::call1` keeps the chain free of Rust closures (and of `eval`, which the app's
/// content security policy forbids).
struct DigestAfter {
    /// `Promise.prototype.then`.
    then: js_sys::Function,
    /// `subtle.digest` bound to `subtle` and `"SHA-256"`.
    digest: js_sys::Function,
}

impl DigestAfter {
    fn new(subtle: &SubtleCrypto) -> Result<Self, WebCryptoError> {
        let function = |of: &JsValue, name: &str| {
            Reflect::get(of, &JsValue::from_str(name))
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .map_err(browser)
        };
        let then = function(&js_sys::Promise::resolve(&JsValue::UNDEFINED), "then")?;
        let digest = function(subtle, "digest")?
            .bind1(subtle, &JsValue::from_str("SHA-256"))
            .unchecked_into::<js_sys::Function>();
        Ok(Self { then, digest })
    }

    /// The digest of what `sealing` resolves to.
    fn chain(&self, sealing: &js_sys::Promise) -> Result<js_sys::Promise, WebCryptoError> {
        self.then
            .call1(sealing, &self.digest)
            .and_then(|p| p.dyn_into::<js_sys::Promise>())
            .map_err(browser)
    }
}

/// Awaits every promise of `promises` with one future (one round trip through the executor for
/// a whole batch instead of one per chunk); their results, in order.
async fn all(promises: &[js_sys::Promise]) -> Result<Array, WebCryptoError> {
    let list: Array = promises.iter().collect();
    let results = JsFuture::from(js_sys::Promise::all(&list))
        .await
        .map_err(browser)?;
    results.dyn_into::<Array>().map_err(browser)
}

/// A SHA-256 digest as WebCrypto gives it (an `ArrayBuffer`), checked and copied into WASM.
fn digest_bytes(digest: JsValue) -> Result<[u8; 32], WebCryptoError> {
    let buffer: ArrayBuffer = digest.dyn_into().map_err(browser)?;
    let bytes = Uint8Array::new(&buffer);
    let mut out = [0u8; 32];
    if bytes.length() != 32 {
        return Err(WebCryptoError::Browser(
            "SHA-256 digest is not 32 bytes".into(),
        ));
    }
    bytes.copy_to(&mut out);
    Ok(out)
}

/// Starts SHA-256 of `data` in the browser; [`digest_result`] awaits it.
fn start_sha256(subtle: &SubtleCrypto, data: &Object) -> Result<js_sys::Promise, WebCryptoError> {
    subtle
        .digest_with_str_and_buffer_source("SHA-256", data)
        .map_err(browser)
}

async fn digest_result(promise: js_sys::Promise) -> Result<[u8; 32], WebCryptoError> {
    digest_bytes(JsFuture::from(promise).await.map_err(browser)?)
}

/// Encrypts an envelope v1 body chunk by chunk with WebCrypto. The caller knows the body's size (a
/// browser `File` has one) and hands over chunks of exactly the chunk size, the final one flagged.
pub struct WebEncryptor {
    subtle: SubtleCrypto,
    key: CryptoKey,
    params: GcmParams,
    digest_after: DigestAfter,
    nonce_prefix: [u8; 8],
    aad_prefix: Vec<u8>,
    chunk_size: usize,
    next_index: u32,
    finished: bool,
    h1: H1Builder,
    /// The digests of the last batch's sealed chunks, still running: they overlap the next
    /// batch's encryption (WebCrypto works on other threads) and are collected, in order, before
    /// its digests.
    pending_digests: Vec<js_sys::Promise>,
}

impl WebEncryptor {
    /// Starts an envelope for `ctx` under `dek` with a fresh random nonce prefix. Returns the
    /// encryptor and the first bytes of `C1` (header and metadata block).
    pub async fn start(
        dek: &SecretKey,
        ctx: &RecordContext,
        metadata: &Metadata,
        chunk_size: u32,
    ) -> Result<(Self, Vec<u8>), WebCryptoError> {
        let mut prefix = [0u8; 8];
        crate::cipher::fill_random(&mut prefix).map_err(EnvelopeError::from)?;
        Self::start_with_prefix(dek, ctx, metadata, chunk_size, prefix).await
    }

    /// As [`WebEncryptor::start`] with a given nonce prefix: for test vectors only (a prefix must
    /// never repeat under one key).
    pub async fn start_with_prefix(
        dek: &SecretKey,
        ctx: &RecordContext,
        metadata: &Metadata,
        chunk_size: u32,
        nonce_prefix: [u8; 8],
    ) -> Result<(Self, Vec<u8>), WebCryptoError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(EnvelopeError::InvalidChunkSize(chunk_size).into());
        }
        let mut meta_plain = metadata.encode()?;
        let header = Header {
            chunk_size,
            record_id: ctx.record_id,
            nonce_prefix,
            // Bounded by the metadata limits, so no truncation.
            metadata_len: (meta_plain.len() + TAG_LEN) as u32,
        };
        let header_bytes = header.encode();
        let sealed = seal_to_vec(
            &AesGcm256::new(dek),
            &metadata_nonce(&nonce_prefix),
            &metadata_aad(&header_bytes, ctx),
            &meta_plain,
        );
        meta_plain.zeroize();
        let sealed = sealed.map_err(|_| StreamError::Seal(MAX_CHUNKS))?;
        let mut prelude = Vec::with_capacity(HEADER_LEN + sealed.len());
        prelude.extend_from_slice(&header_bytes);
        prelude.extend_from_slice(&sealed);
        let d_head: [u8; 32] = Sha256::digest(&prelude).into();

        let subtle = subtle()?;
        let key = import_aes_key(&subtle, dek).await?;
        let digest_after = DigestAfter::new(&subtle)?;
        Ok((
            Self {
                subtle,
                key,
                params: GcmParams::new()?,
                digest_after,
                nonce_prefix,
                aad_prefix: body_aad_prefix(&header_bytes, ctx),
                chunk_size: chunk_size as usize,
                next_index: 0,
                finished: false,
                h1: H1Builder::new(&d_head),
                pending_digests: Vec::new(),
            },
            prelude,
        ))
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Seals the next chunk: exactly `chunk_size` bytes unless `last`, then at most that (an empty
    /// body is one empty final chunk). Returns the sealed chunk (`ciphertext || tag`).
    pub async fn seal_chunk(
        &mut self,
        plaintext: &Uint8Array,
        last: bool,
    ) -> Result<Uint8Array, WebCryptoError> {
        let mut sealed = self
            .seal_chunks(std::slice::from_ref(plaintext), last)
            .await?;
        sealed
            .pop()
            .ok_or(WebCryptoError::Browser("no sealed chunk came back".into()))
    }

    /// Seals several consecutive chunks at once — WebCrypto encrypts and hashes them in parallel
    /// on its own threads — and returns them in order. Every chunk must be exactly `chunk_size`
    /// bytes, except the last of the batch when `ends_body` (then it is the body's final chunk).
    /// Nothing is sealed when any length is wrong.
    pub async fn seal_chunks(
        &mut self,
        plaintexts: &[Uint8Array],
        ends_body: bool,
    ) -> Result<Vec<Uint8Array>, WebCryptoError> {
        if self.finished {
            return Err(StreamError::Finished.into());
        }
        let count = plaintexts.len();
        let first = self.next_index;
        if u64::from(first) + count as u64 > u64::from(MAX_CHUNKS) {
            return Err(StreamError::TooManyChunks.into());
        }
        for (k, plaintext) in plaintexts.iter().enumerate() {
            let last = ends_body && k + 1 == count;
            let len = plaintext.length() as usize;
            if len > self.chunk_size || (!last && len != self.chunk_size) {
                let index = first + k as u32;
                return Err(StreamError::BadChunkLength { index, len }.into());
            }
        }
        let mut encrypting = Vec::with_capacity(count);
        let mut digesting = Vec::with_capacity(count);
        for (k, plaintext) in plaintexts.iter().enumerate() {
            let index = first + k as u32;
            let last = ends_body && k + 1 == count;
            let params = self.params.with(
                &chunk_nonce(&self.nonce_prefix, index, last),
                &chunk_aad(&self.aad_prefix, index, last),
            )?;
            let sealing = self
                .subtle
                .encrypt_with_object_and_buffer_source(params, &self.key, plaintext)
                .map_err(browser)?;
            digesting.push(self.digest_after.chain(&sealing)?);
            encrypting.push(sealing);
        }
        // Collect the previous batch's digests, in order, while these encrypt.
        self.collect_digests().await?;
        let mut sealed_chunks = Vec::with_capacity(count);
        for sealed in all(&encrypting).await?.iter() {
            let buffer: ArrayBuffer = sealed.dyn_into().map_err(browser)?;
            sealed_chunks.push(Uint8Array::new(&buffer));
        }
        self.pending_digests = digesting;
        // This batch's digests run on while the caller reads the next batch and starts it.
        self.next_index = first + count as u32;
        self.finished = ends_body && count > 0;
        Ok(sealed_chunks)
    }

    async fn collect_digests(&mut self) -> Result<(), WebCryptoError> {
        let pending = std::mem::take(&mut self.pending_digests);
        if pending.is_empty() {
            return Ok(());
        }
        for digest in all(&pending).await?.iter() {
            self.h1.push_chunk_digest(&digest_bytes(digest)?);
        }
        Ok(())
    }

    /// `h1`, once the final chunk is sealed.
    pub async fn finish(mut self) -> Result<B256, WebCryptoError> {
        if !self.finished {
            return Err(StreamError::Unfinished.into());
        }
        self.collect_digests().await?;
        Ok(self.h1.finish())
    }
}
