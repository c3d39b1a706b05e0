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

use crate::cipher::{open_to_vec, seal_to_vec, AesGcm256, SecretKey, TAG_LEN};
use crate::envelope::{
    body_aad_prefix, metadata_aad, metadata_nonce, EnvelopeError, H1Builder, Header, Metadata,
    Opened, RecordContext, HEADER_LEN,
};
use crate::stream::{
    chunk_aad, chunk_nonce, StreamError, MAX_CHUNKS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};

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

/// `{ name: "AES-GCM", iv, additionalData, tagLength: 128 }`
fn gcm_params(nonce: &[u8], aad: &[u8]) -> Result<Object, WebCryptoError> {
    let params = Object::new();
    let set = |k: &str, v: &JsValue| Reflect::set(&params, &JsValue::from_str(k), v).map(|_| ());
    set("name", &JsValue::from_str("AES-GCM")).map_err(browser)?;
    set("iv", &Uint8Array::from(nonce).into()).map_err(browser)?;
    set("additionalData", &Uint8Array::from(aad).into()).map_err(browser)?;
    set("tagLength", &JsValue::from_f64(128.0)).map_err(browser)?;
    Ok(params)
}

/// Starts SHA-256 of `data` in the browser; [`digest_result`] awaits it.
fn start_sha256(subtle: &SubtleCrypto, data: &Object) -> Result<js_sys::Promise, WebCryptoError> {
    subtle
        .digest_with_str_and_buffer_source("SHA-256", data)
        .map_err(browser)
}

async fn digest_result(promise: js_sys::Promise) -> Result<[u8; 32], WebCryptoError> {
    let digest = JsFuture::from(promise).await.map_err(browser)?;
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

/// Encrypts an envelope v1 body chunk by chunk with WebCrypto. The caller knows the body's size (a
/// browser `File` has one) and hands over chunks of exactly the chunk size, the final one flagged.
pub struct WebEncryptor {
    subtle: SubtleCrypto,
    key: CryptoKey,
    nonce_prefix: [u8; 8],
    aad_prefix: Vec<u8>,
    chunk_size: usize,
    next_index: u32,
    finished: bool,
    h1: H1Builder,
    /// The digest of the last sealed chunk, still running: it overlaps the next chunk's
    /// encryption (WebCrypto works on other threads) and is collected before that chunk's digest.
    pending_digest: Option<js_sys::Promise>,
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
        Ok((
            Self {
                subtle,
                key,
                nonce_prefix,
                aad_prefix: body_aad_prefix(&header_bytes, ctx),
                chunk_size: chunk_size as usize,
                next_index: 0,
                finished: false,
                h1: H1Builder::new(&d_head),
                pending_digest: None,
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
        for (k, plaintext) in plaintexts.iter().enumerate() {
            let index = first + k as u32;
            let last = ends_body && k + 1 == count;
            let params = gcm_params(
                &chunk_nonce(&self.nonce_prefix, index, last),
                &chunk_aad(&self.aad_prefix, index, last),
            )?;
            encrypting.push(
                self.subtle
                    .encrypt_with_object_and_buffer_source(&params, &self.key, plaintext)
                    .map_err(browser)?,
            );
        }
        // Collect the previous batch's last digest while these encrypt.
        self.collect_digest().await?;
        let mut sealed_chunks = Vec::with_capacity(count);
        let mut digests = Vec::with_capacity(count);
        for promise in encrypting {
            let sealed = JsFuture::from(promise).await.map_err(browser)?;
            let buffer: ArrayBuffer = sealed.dyn_into().map_err(browser)?;
            let sealed = Uint8Array::new(&buffer);
            digests.push(start_sha256(&self.subtle, &sealed)?);
            sealed_chunks.push(sealed);
        }
        // All digests but the last are collected now; the last overlaps the next batch.
        self.pending_digest = digests.pop();
        for digest in digests {
            let d = digest_result(digest).await?;
            self.h1.push_chunk_digest(&d);
        }
        self.next_index = first + count as u32;
        self.finished = ends_body && count > 0;
        Ok(sealed_chunks)
    }

    async fn collect_digest(&mut self) -> Result<(), WebCryptoError> {
        if let Some(promise) = self.pending_digest.take() {
            let digest = digest_result(promise).await?;
            self.h1.push_chunk_digest(&digest);
        }
        Ok(())
    }

    /// `h1`, once the final chunk is sealed.
    pub async fn finish(mut self) -> Result<B256, WebCryptoError> {
        if !self.finished {
            return Err(StreamError::Unfinished.into());
        }
        self.collect_digest().await?;
        Ok(self.h1.finish())
    }
}

enum WebDecState {
    Head(Vec<u8>),
    Body {
        subtle: SubtleCrypto,
        key: CryptoKey,
        nonce_prefix: [u8; 8],
        aad_prefix: Vec<u8>,
        sealed_len: usize,
        next_index: u32,
        pending: Vec<u8>,
        h1: H1Builder,
        header: Header,
        metadata: Metadata,
    },
    Done,
}

/// Decrypts an envelope v1 stream, pushed in pieces of any size (network frames), with WebCrypto.
/// Plaintext is released only after its chunk's tag verified; the body is complete only when
/// [`WebDecryptor::finish`] succeeds. At most one sealed chunk is held in WASM memory.
pub struct WebDecryptor {
    dek: SecretKey,
    ctx: RecordContext,
    state: WebDecState,
}

impl WebDecryptor {
    /// A decryptor for the record `ctx` under `dek`.
    pub fn new(dek: &SecretKey, ctx: &RecordContext) -> Self {
        Self {
            dek: dek.clone(),
            ctx: *ctx,
            state: WebDecState::Head(Vec::with_capacity(HEADER_LEN + 128)),
        }
    }

    /// The metadata, once the metadata block went through.
    pub fn metadata(&self) -> Option<&Metadata> {
        match &self.state {
            WebDecState::Body { metadata, .. } => Some(metadata),
            _ => None,
        }
    }

    /// Feeds ciphertext; returns the plaintext of every chunk it completed (verified), except a
    /// full chunk that may still turn out to be the final one. After an error, refuses more input.
    pub async fn push(&mut self, data: &[u8]) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let result = self.push_inner(data).await;
        if result.is_err() {
            self.state = WebDecState::Done;
        }
        result
    }

    async fn push_inner(&mut self, mut data: &[u8]) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let mut out = Vec::new();
        if let WebDecState::Head(buf) = &mut self.state {
            buf.extend_from_slice(data);
            data = &[];
            if buf.len() < HEADER_LEN {
                return Ok(out);
            }
            let header = Header::parse(buf)?;
            if header.record_id != self.ctx.record_id {
                return Err(EnvelopeError::WrongRecord {
                    expected: self.ctx.record_id,
                    found: header.record_id,
                }
                .into());
            }
            let head_len = HEADER_LEN + header.metadata_len as usize;
            if buf.len() < head_len {
                return Ok(out);
            }
            let header_bytes = header.encode();
            let mut meta_plain = open_to_vec(
                &AesGcm256::new(&self.dek),
                &metadata_nonce(&header.nonce_prefix),
                &metadata_aad(&header_bytes, &self.ctx),
                &buf[HEADER_LEN..head_len],
            )
            .map_err(|_| EnvelopeError::MetadataAuth)?;
            let metadata = Metadata::decode(&meta_plain);
            meta_plain.zeroize();
            let metadata = metadata?;
            let d_head: [u8; 32] = Sha256::digest(&buf[..head_len]).into();
            let pending = buf[head_len..].to_vec();
            let subtle = subtle()?;
            let key = import_aes_key(&subtle, &self.dek).await?;
            self.state = WebDecState::Body {
                subtle,
                key,
                nonce_prefix: header.nonce_prefix,
                aad_prefix: body_aad_prefix(&header_bytes, &self.ctx),
                sealed_len: header.chunk_size as usize + TAG_LEN,
                next_index: 0,
                pending,
                h1: H1Builder::new(&d_head),
                header,
                metadata,
            };
        }
        match &mut self.state {
            WebDecState::Head(_) => Ok(out),
            WebDecState::Done => Err(StreamError::Finished.into()),
            WebDecState::Body {
                subtle,
                key,
                nonce_prefix,
                aad_prefix,
                sealed_len,
                next_index,
                pending,
                h1,
                ..
            } => {
                pending.extend_from_slice(data);
                // Open a full piece only once a byte beyond it arrived: until then it might be
                // the final chunk, whose nonce and AAD differ. Every full piece of this push is
                // started at once (WebCrypto runs them on its own threads), then collected in order.
                let full = (pending.len().saturating_sub(1)) / *sealed_len;
                let mut started = Vec::with_capacity(full);
                for k in 0..full {
                    let index = *next_index + k as u32;
                    if index >= MAX_CHUNKS - 1 {
                        return Err(StreamError::TooManyChunks.into());
                    }
                    let piece = Uint8Array::from(&pending[k * *sealed_len..(k + 1) * *sealed_len]);
                    let digest = start_sha256(subtle, &piece)?;
                    let opening =
                        start_open(subtle, key, nonce_prefix, aad_prefix, index, false, &piece)?;
                    started.push((index, digest, opening));
                }
                pending.drain(..full * *sealed_len);
                for (index, digest, opening) in started {
                    let plain = finish_open(opening)
                        .await
                        .map_err(|e| e.or_tampered(index))?;
                    h1.push_chunk_digest(&digest_result(digest).await?);
                    *next_index = index + 1;
                    out.push(plain);
                }
                Ok(out)
            }
        }
    }

    /// Opens the final chunk; returns its plaintext and the record's metadata, header and `h1`
    /// (compare `h1` with the chain's anchor).
    pub async fn finish(mut self) -> Result<(Uint8Array, Opened), WebCryptoError> {
        match std::mem::replace(&mut self.state, WebDecState::Done) {
            WebDecState::Done => Err(StreamError::Finished.into()),
            WebDecState::Head(buf) => Err(EnvelopeError::Truncated(if buf.len() < HEADER_LEN {
                "header"
            } else {
                "metadata block"
            })
            .into()),
            WebDecState::Body {
                subtle,
                key,
                nonce_prefix,
                aad_prefix,
                next_index,
                pending,
                mut h1,
                header,
                metadata,
                ..
            } => {
                if pending.len() < TAG_LEN {
                    return Err(if pending.is_empty() && next_index > 0 {
                        StreamError::TruncatedAtChunkBoundary(next_index - 1)
                    } else {
                        StreamError::Truncated(next_index)
                    }
                    .into());
                }
                let pending = Uint8Array::from(&pending[..]);
                let digest = start_sha256(&subtle, &pending)?;
                let plain = match open_chunk(
                    &subtle,
                    &key,
                    &nonce_prefix,
                    &aad_prefix,
                    next_index,
                    true,
                    &pending,
                )
                .await
                {
                    Ok(plain) => plain,
                    Err(OpenError::Tag) => {
                        // A full piece that opens as non-final means the real final chunk is missing.
                        let non_final = open_chunk(
                            &subtle,
                            &key,
                            &nonce_prefix,
                            &aad_prefix,
                            next_index,
                            false,
                            &pending,
                        )
                        .await;
                        return Err(match non_final {
                            Ok(_) => StreamError::TruncatedAtChunkBoundary(next_index),
                            Err(_) => StreamError::ChunkTampered(next_index),
                        }
                        .into());
                    }
                    Err(OpenError::Other(e)) => return Err(e),
                };
                h1.push_chunk_digest(&digest_result(digest).await?);
                Ok((
                    plain,
                    Opened {
                        metadata,
                        header,
                        h1: h1.finish(),
                    },
                ))
            }
        }
    }
}

enum OpenError {
    /// The tag did not verify (WebCrypto's `OperationError`).
    Tag,
    Other(WebCryptoError),
}

impl OpenError {
    fn or_tampered(self, index: u32) -> WebCryptoError {
        match self {
            OpenError::Tag => StreamError::ChunkTampered(index).into(),
            OpenError::Other(e) => e,
        }
    }
}

/// Starts opening one sealed chunk; [`finish_open`] awaits it. Several may run at once.
fn start_open(
    subtle: &SubtleCrypto,
    key: &CryptoKey,
    nonce_prefix: &[u8; 8],
    aad_prefix: &[u8],
    index: u32,
    last: bool,
    sealed: &Uint8Array,
) -> Result<js_sys::Promise, WebCryptoError> {
    let params = gcm_params(
        &chunk_nonce(nonce_prefix, index, last),
        &chunk_aad(aad_prefix, index, last),
    )?;
    subtle
        .decrypt_with_object_and_buffer_source(&params, key, sealed)
        .map_err(browser)
}

async fn finish_open(opening: js_sys::Promise) -> Result<Uint8Array, OpenError> {
    match JsFuture::from(opening).await {
        Ok(plain) => plain
            .dyn_into::<ArrayBuffer>()
            .map(|b| Uint8Array::new(&b))
            .map_err(|e| OpenError::Other(browser(e))),
        Err(e) => {
            let name = Reflect::get(&e, &JsValue::from_str("name"))
                .ok()
                .and_then(|n| n.as_string());
            if name.as_deref() == Some("OperationError") {
                Err(OpenError::Tag)
            } else {
                Err(OpenError::Other(browser(e)))
            }
        }
    }
}

async fn open_chunk(
    subtle: &SubtleCrypto,
    key: &CryptoKey,
    nonce_prefix: &[u8; 8],
    aad_prefix: &[u8],
    index: u32,
    last: bool,
    sealed: &Uint8Array,
) -> Result<Uint8Array, OpenError> {
    let opening = start_open(subtle, key, nonce_prefix, aad_prefix, index, last, sealed)
        .map_err(OpenError::Other)?;
    finish_open(opening).await
}
