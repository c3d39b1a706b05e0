//! Envelope v1 decryption with WebCrypto, fed the frames of a streamed download as they arrive.
//!
//! Two things keep it near the speed of raw WebCrypto doing the same work (bench/README.md):
//! - **No copies through WASM.** A frame stays a JavaScript `Uint8Array`; a sealed chunk that lies
//!   inside one frame goes to `crypto.subtle` as a view of it (`subarray`), and only a chunk split
//!   across frames is assembled, in JavaScript memory. Just the header and the metadata block (a few
//!   hundred bytes) are copied into WASM, where the shared code parses and opens them.
//! - **Chunks stay in flight across frames.** Up to [`IN_FLIGHT`] chunks are being opened and
//!   hashed at once; `push` waits only when that many are running, and then for the oldest quarter
//!   together (one promise for their openings and digests), so the browser keeps decrypting while
//!   the next frame is still on the network. Their plaintexts come back in order, from a later
//!   `push` or from `finish`.
//! - **Little work per chunk across the boundary.** One AES-GCM parameters object serves every
//!   chunk ([`GcmParams`]), and chunks are awaited in groups, not one by one.

use std::collections::VecDeque;

use js_sys::{ArrayBuffer, Reflect, Uint8Array};
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use zeroize::Zeroize;

use super::{
    all, browser, digest_bytes, digest_result, import_aes_key, start_sha256, subtle, GcmParams,
    WebCryptoError,
};
use crate::cipher::{open_to_vec, AesGcm256, SecretKey, TAG_LEN};
use crate::envelope::{
    body_aad_prefix, metadata_aad, metadata_nonce, EnvelopeError, H1Builder, Header, Metadata,
    Opened, RecordContext, HEADER_LEN,
};
use crate::stream::{chunk_aad, chunk_nonce, StreamError, MAX_CHUNKS};

/// Chunks opened at once. Measured against 16 and 64 (bench/README.md): 32 gave Firefox the
/// most and Chromium as much as 16; memory is at most this many 64 KiB chunks and plaintexts.
pub const IN_FLIGHT: usize = 32;

/// Chunks settled together when [`IN_FLIGHT`] are running: their openings and digests are awaited
/// as one promise (one round trip through the executor per group, not two per chunk), while the
/// rest stay in flight. A quarter keeps 24–32 chunks in flight; half (16–32) left the browser's
/// queue short more often: Chromium's decryption ran at 0.96–1.00 of its anchor with a quarter
/// against 0.88–0.95 with half, in four paired rounds (bench/README.md, 2026-12-03).
const SETTLE_GROUP: usize = IN_FLIGHT / 4;

/// Received bytes not yet started, kept as the views of the frames they arrived in.
#[derive(Default)]
struct Pending {
    pieces: VecDeque<Uint8Array>,
    len: usize,
}

impl Pending {
    fn push(&mut self, bytes: Uint8Array) {
        let n = bytes.length() as usize;
        if n > 0 {
            self.len += n;
            self.pieces.push_back(bytes);
        }
    }

    /// The first `n` bytes (at most `self.len`): a view when they lie in one frame, else a copy
    /// assembled in JavaScript memory.
    fn take(&mut self, n: usize) -> Uint8Array {
        let n = n.min(self.len);
        self.len -= n;
        if let Some(front) = self.pieces.front_mut() {
            if front.length() as usize >= n {
                let out = front.subarray(0, n as u32);
                *front = front.subarray(n as u32, front.length());
                if front.length() == 0 {
                    self.pieces.pop_front();
                }
                return out;
            }
        }
        let out = Uint8Array::new_with_length(n as u32);
        let mut filled = 0usize;
        while filled < n {
            let Some(front) = self.pieces.front_mut() else {
                break;
            };
            let k = (n - filled).min(front.length() as usize);
            out.set(&front.subarray(0, k as u32), filled as u32);
            filled += k;
            *front = front.subarray(k as u32, front.length());
            if front.length() == 0 {
                self.pieces.pop_front();
            }
        }
        out
    }
}

/// One chunk being opened and hashed.
struct InFlight {
    index: u32,
    digest: js_sys::Promise,
    opening: js_sys::Promise,
}

/// What the body needs once the header and metadata are known.
struct Body {
    subtle: SubtleCrypto,
    key: CryptoKey,
    params: GcmParams,
    nonce_prefix: [u8; 8],
    aad_prefix: Vec<u8>,
    sealed_len: usize,
    /// The index of the next chunk to start.
    next_index: u32,
    pending: Pending,
    in_flight: VecDeque<InFlight>,
    h1: H1Builder,
    header: Header,
    metadata: Metadata,
}

enum State {
    /// The header and metadata block so far (copied into WASM: they are parsed here).
    Head(Vec<u8>),
    Body(Box<Body>),
    Done,
}

/// Decrypts an envelope v1 stream, pushed in frames of any size, with WebCrypto. Plaintext is
/// released only after its chunk's tag verified, in order; the body is complete only when
/// [`WebDecryptor::finish`] succeeds. At most [`IN_FLIGHT`] sealed chunks are being opened at once.
pub struct WebDecryptor {
    dek: SecretKey,
    ctx: RecordContext,
    state: State,
}

impl WebDecryptor {
    /// A decryptor for the record `ctx` under `dek`.
    pub fn new(dek: &SecretKey, ctx: &RecordContext) -> Self {
        Self {
            dek: dek.clone(),
            ctx: *ctx,
            state: State::Head(Vec::with_capacity(HEADER_LEN + 128)),
        }
    }

    /// The metadata, once the metadata block went through.
    pub fn metadata(&self) -> Option<&Metadata> {
        match &self.state {
            State::Body(body) => Some(&body.metadata),
            _ => None,
        }
    }

    /// Feeds ciphertext held in WASM memory (copied out once); see [`WebDecryptor::push_frame`].
    pub async fn push(&mut self, data: &[u8]) -> Result<Vec<Uint8Array>, WebCryptoError> {
        self.push_frame(&Uint8Array::from(data)).await
    }

    /// Feeds a frame of ciphertext as the network delivered it (the frame is not copied: chunks
    /// are opened from views of it, so the caller must not change it afterwards). Returns the
    /// plaintext of the chunks whose opening completed, in order — possibly none while fewer than
    /// [`IN_FLIGHT`] are running. After an error, refuses more input.
    pub async fn push_frame(
        &mut self,
        frame: &Uint8Array,
    ) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let result = self.push_inner(frame).await;
        if result.is_err() {
            self.state = State::Done;
        }
        result
    }

    async fn push_inner(&mut self, frame: &Uint8Array) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let frame = match &mut self.state {
            State::Done => return Err(StreamError::Finished.into()),
            State::Body(_) => frame.clone(),
            State::Head(buf) => {
                let Some(rest) = read_head(buf, frame, &self.ctx)? else {
                    return Ok(Vec::new());
                };
                let body = open_head(buf, &self.dek, &self.ctx).await?;
                self.state = State::Body(Box::new(body));
                rest
            }
        };
        let State::Body(body) = &mut self.state else {
            return Err(StreamError::Finished.into());
        };
        body.pending.push(frame);
        body.start_ready().await
    }

    /// Opens every chunk still in flight and the final one; returns their plaintexts in order and
    /// the record's metadata, header and `h1` (compare `h1` with the chain's anchor).
    pub async fn finish(mut self) -> Result<(Vec<Uint8Array>, Opened), WebCryptoError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => Err(StreamError::Finished.into()),
            State::Head(buf) => Err(EnvelopeError::Truncated(if buf.len() < HEADER_LEN {
                "header"
            } else {
                "metadata block"
            })
            .into()),
            State::Body(body) => body.finish().await,
        }
    }
}

/// Copies into `buf` what the header and then the metadata block still need from `frame`, checking
/// the header's record id as soon as the header is whole. Returns the rest of the frame (a view)
/// once both are complete, `None` while more is needed.
fn read_head(
    buf: &mut Vec<u8>,
    frame: &Uint8Array,
    ctx: &RecordContext,
) -> Result<Option<Uint8Array>, WebCryptoError> {
    let mut at = 0u32;
    let mut fill = |buf: &mut Vec<u8>, upto: usize| {
        let k = (upto.saturating_sub(buf.len()) as u32).min(frame.length() - at);
        let from = buf.len();
        buf.resize(from + k as usize, 0);
        frame.subarray(at, at + k).copy_to(&mut buf[from..]);
        at += k;
        buf.len() >= upto
    };
    if !fill(buf, HEADER_LEN) {
        return Ok(None);
    }
    let header = Header::parse(buf)?;
    if header.record_id != ctx.record_id {
        return Err(EnvelopeError::WrongRecord {
            expected: ctx.record_id,
            found: header.record_id,
        }
        .into());
    }
    if !fill(buf, HEADER_LEN + header.metadata_len as usize) {
        return Ok(None);
    }
    Ok(Some(frame.subarray(at, frame.length())))
}

/// Opens the metadata block of a complete head and sets up the body's decryption.
async fn open_head(
    buf: &[u8],
    dek: &SecretKey,
    ctx: &RecordContext,
) -> Result<Body, WebCryptoError> {
    let header = Header::parse(buf)?;
    let header_bytes = header.encode();
    let mut meta_plain = open_to_vec(
        &AesGcm256::new(dek),
        &metadata_nonce(&header.nonce_prefix),
        &metadata_aad(&header_bytes, ctx),
        &buf[HEADER_LEN..],
    )
    .map_err(|_| EnvelopeError::MetadataAuth)?;
    let metadata = Metadata::decode(&meta_plain);
    meta_plain.zeroize();
    let metadata = metadata?;
    let d_head: [u8; 32] = Sha256::digest(buf).into();
    let subtle = subtle()?;
    let key = import_aes_key(&subtle, dek).await?;
    Ok(Body {
        subtle,
        key,
        params: GcmParams::new()?,
        nonce_prefix: header.nonce_prefix,
        aad_prefix: body_aad_prefix(&header_bytes, ctx),
        sealed_len: header.chunk_size as usize + TAG_LEN,
        next_index: 0,
        pending: Pending::default(),
        in_flight: VecDeque::with_capacity(IN_FLIGHT),
        h1: H1Builder::new(&d_head),
        header,
        metadata,
    })
}

impl Body {
    /// Starts every full chunk with a byte beyond it (until then a full piece might be the final
    /// chunk, whose nonce and AAD differ), settling the oldest whenever [`IN_FLIGHT`] are running.
    async fn start_ready(&mut self) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let mut out = Vec::new();
        while self.pending.len > self.sealed_len {
            if self.in_flight.len() >= IN_FLIGHT {
                out.extend(self.settle_oldest(SETTLE_GROUP).await?);
            }
            let index = self.next_index;
            if index >= MAX_CHUNKS - 1 {
                return Err(StreamError::TooManyChunks.into());
            }
            let piece = self.pending.take(self.sealed_len);
            let digest = start_sha256(&self.subtle, &piece)?;
            let opening = self.start_open(index, false, &piece)?;
            self.in_flight.push_back(InFlight {
                index,
                digest,
                opening,
            });
            self.next_index = index + 1;
        }
        Ok(out)
    }

    /// Awaits the oldest `n` chunks in flight together: their plaintexts in order, their digests
    /// added to `h1`. When any fails, the first to fail in chunk order is the error.
    async fn settle_oldest(&mut self, n: usize) -> Result<Vec<Uint8Array>, WebCryptoError> {
        let group: Vec<InFlight> = self
            .in_flight
            .drain(..n.min(self.in_flight.len()))
            .collect();
        let promises: Vec<js_sys::Promise> = group
            .iter()
            .map(|c| c.opening.clone())
            .chain(group.iter().map(|c| c.digest.clone()))
            .collect();
        let Ok(results) = all(&promises).await else {
            return Err(first_failure(group).await);
        };
        let mut plains = Vec::with_capacity(group.len());
        for (k, result) in results.iter().enumerate() {
            if k < group.len() {
                let buffer: ArrayBuffer = result.dyn_into().map_err(browser)?;
                plains.push(Uint8Array::new(&buffer));
            } else {
                self.h1.push_chunk_digest(&digest_bytes(result)?);
            }
        }
        Ok(plains)
    }

    async fn finish(mut self) -> Result<(Vec<Uint8Array>, Opened), WebCryptoError> {
        let mut out = self.settle_oldest(self.in_flight.len()).await?;
        let next_index = self.next_index;
        if self.pending.len < TAG_LEN {
            return Err(if self.pending.len == 0 && next_index > 0 {
                StreamError::TruncatedAtChunkBoundary(next_index - 1)
            } else {
                StreamError::Truncated(next_index)
            }
            .into());
        }
        let last = self.pending.take(self.pending.len);
        let digest = start_sha256(&self.subtle, &last)?;
        let plain = match self.open_chunk(next_index, true, &last).await {
            Ok(plain) => plain,
            // A full piece that opens as non-final means the real final chunk is missing.
            Err(OpenError::Tag) => {
                return Err(match self.open_chunk(next_index, false, &last).await {
                    Ok(_) => StreamError::TruncatedAtChunkBoundary(next_index),
                    Err(_) => StreamError::ChunkTampered(next_index),
                }
                .into())
            }
            Err(OpenError::Other(e)) => return Err(e),
        };
        self.h1.push_chunk_digest(&digest_result(digest).await?);
        out.push(plain);
        let opened = Opened {
            metadata: self.metadata,
            header: self.header,
            h1: self.h1.finish(),
        };
        Ok((out, opened))
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

/// Why a group of chunks failed: each awaited in chunk order, the first failure (a tag that did
/// not verify is that chunk's tampering).
async fn first_failure(group: Vec<InFlight>) -> WebCryptoError {
    for chunk in group {
        if let Err(e) = finish_open(chunk.opening).await {
            return e.or_tampered(chunk.index);
        }
        if let Err(e) = digest_result(chunk.digest).await {
            return e;
        }
    }
    WebCryptoError::Browser("a chunk failed, and none did when awaited alone".into())
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

impl Body {
    /// Starts opening chunk `index` (the final one when `last`); [`finish_open`] awaits it.
    /// Several may run at once.
    fn start_open(
        &mut self,
        index: u32,
        last: bool,
        sealed: &Uint8Array,
    ) -> Result<js_sys::Promise, WebCryptoError> {
        let params = self.params.with(
            &chunk_nonce(&self.nonce_prefix, index, last),
            &chunk_aad(&self.aad_prefix, index, last),
        )?;
        self.subtle
            .decrypt_with_object_and_buffer_source(params, &self.key, sealed)
            .map_err(browser)
    }

    /// Opens chunk `index` and waits for it.
    async fn open_chunk(
        &mut self,
        index: u32,
        last: bool,
        sealed: &Uint8Array,
    ) -> Result<Uint8Array, OpenError> {
        let opening = self
            .start_open(index, last, sealed)
            .map_err(OpenError::Other)?;
        finish_open(opening).await
    }
}
