//! The chunked AEAD stream shared by envelope v1 (tier 1) and tier 2: fixed-size chunks, nonce =
//! 8-byte prefix || u32(last << 31 | index), AAD = format prefix || u32 index || u8 last, the final
//! chunk flagged (docs/formats.md 2.2–2.5 and 4.1). Both directions keep at most one chunk in memory
//! whatever the body size, and take input in pieces of any size so the browser can push 64 KiB
//! slices and the escrow can push network frames.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::cipher::{ChunkCipher, NONCE_LEN, TAG_LEN};

/// Smallest accepted chunk size (plaintext bytes).
pub const MIN_CHUNK_SIZE: u32 = 16;
/// Largest accepted chunk size (plaintext bytes): bounds the memory a hostile header can demand.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// The default chunk size, 64 KiB: one WebCrypto call and one WASM call per chunk in the browser.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Chunk indices run from 0 to `MAX_CHUNKS - 1`; the counter value `0x7fff_ffff` with the last bit
/// set is reserved for the envelope's metadata block.
pub const MAX_CHUNKS: u32 = 0x7fff_ffff;

/// What went wrong in a chunk stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The stream ended with a final piece too short to hold a tag.
    #[error("truncated: the stream ends inside chunk {0}")]
    Truncated(u32),
    /// The stream ended right after a complete non-final chunk: the final chunk(s) are missing.
    #[error("truncated: the stream ends after chunk {0}, which is not the final chunk")]
    TruncatedAtChunkBoundary(u32),
    /// A chunk's tag did not verify.
    #[error("chunk {0} failed authentication (tampered, reordered, or moved from another record)")]
    ChunkTampered(u32),
    /// Bytes arrived after the final chunk.
    #[error("data after the final chunk")]
    TrailingData,
    /// More chunks than the nonce space allows.
    #[error("too many chunks for one stream")]
    TooManyChunks,
    /// A caller of the explicit chunk API passed a chunk of the wrong size.
    #[error("chunk {index} has {len} bytes; a non-final chunk must have exactly the chunk size and a final one at most that")]
    BadChunkLength {
        /// index of the offending chunk
        index: u32,
        /// its length
        len: usize,
    },
    /// The stream was already finished.
    #[error("the stream is already finished")]
    Finished,
    /// The final chunk has not been sealed yet.
    #[error("the final chunk has not been sealed yet")]
    Unfinished,
    /// The AEAD refused to seal (input too long for the cipher).
    #[error("sealing chunk {0} failed")]
    Seal(u32),
}

/// The 12-byte nonce of chunk `counter` (docs/formats.md 2.2).
pub fn chunk_nonce(prefix: &[u8; 8], counter: u32, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(prefix);
    let word = (counter & MAX_CHUNKS) | if last { 0x8000_0000 } else { 0 };
    nonce[8..].copy_from_slice(&word.to_be_bytes());
    nonce
}

/// `prefix || u32 counter || u8 last`: the AAD of one chunk given its format's prefix.
pub fn chunk_aad(prefix: &[u8], counter: u32, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(prefix.len() + 5);
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(&counter.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// The per-record parameters of a stream that both directions need.
#[derive(Clone)]
pub(crate) struct StreamParams {
    pub(crate) nonce_prefix: [u8; 8],
    pub(crate) aad_prefix: Vec<u8>,
    pub(crate) chunk_size: usize,
}

impl StreamParams {
    fn sealed_len(&self) -> usize {
        self.chunk_size + TAG_LEN
    }
}

/// Encrypting side. `digests`, when set, receives SHA-256 of every sealed chunk (for `h1`).
pub(crate) struct ChunkSealer<C: ChunkCipher> {
    cipher: C,
    params: StreamParams,
    next_index: u32,
    pending: Vec<u8>,
    finished: bool,
    digests: Option<Sha256>,
}

impl<C: ChunkCipher> ChunkSealer<C> {
    pub(crate) fn new(cipher: C, params: StreamParams, digests: Option<Sha256>) -> Self {
        let cap = params.chunk_size;
        Self {
            cipher,
            params,
            next_index: 0,
            pending: Vec::with_capacity(cap),
            finished: false,
            digests,
        }
    }

    pub(crate) fn chunk_size(&self) -> usize {
        self.params.chunk_size
    }

    pub(crate) fn next_index(&self) -> u32 {
        self.next_index
    }

    /// The chunk digests, once the final chunk is sealed.
    pub(crate) fn take_digests(&mut self) -> Result<Option<Sha256>, StreamError> {
        if !self.finished {
            return Err(StreamError::Unfinished);
        }
        Ok(self.digests.take())
    }

    /// Seals one whole chunk. Non-final chunks must be exactly `chunk_size` bytes.
    pub(crate) fn seal_chunk(
        &mut self,
        plaintext: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        if self.finished {
            return Err(StreamError::Finished);
        }
        if !self.pending.is_empty() {
            // Mixing push() and seal_chunk() would reorder bytes.
            return Err(StreamError::BadChunkLength {
                index: self.next_index,
                len: plaintext.len(),
            });
        }
        self.seal_inner(plaintext, last, out)
    }

    fn seal_inner(
        &mut self,
        plaintext: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        let index = self.next_index;
        let ok_len = if last {
            plaintext.len() <= self.params.chunk_size
        } else {
            plaintext.len() == self.params.chunk_size
        };
        if !ok_len {
            return Err(StreamError::BadChunkLength {
                index,
                len: plaintext.len(),
            });
        }
        if index >= MAX_CHUNKS || (!last && index + 1 >= MAX_CHUNKS) {
            return Err(StreamError::TooManyChunks);
        }
        let nonce = chunk_nonce(&self.params.nonce_prefix, index, last);
        let aad = chunk_aad(&self.params.aad_prefix, index, last);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .seal_in_place(&nonce, &aad, &mut out[start..])
            .map_err(|_| StreamError::Seal(index))?;
        out.extend_from_slice(&tag);
        if let Some(d) = self.digests.as_mut() {
            d.update(Sha256::digest(&out[start..]));
        }
        self.next_index = index + 1;
        if last {
            self.finished = true;
        }
        Ok(())
    }

    /// Buffers plaintext and seals every chunk known not to be the final one. A full chunk is held
    /// back until more data arrives, since a body that ends on a chunk boundary ends with a full
    /// chunk flagged final.
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.finished {
            return Err(StreamError::Finished);
        }
        let cs = self.params.chunk_size;
        while !data.is_empty() {
            if self.pending.len() == cs {
                let chunk = core::mem::take(&mut self.pending);
                let res = self.seal_inner(&chunk, false, out);
                self.pending = chunk;
                // Overwritten by the next chunk; zeroized on drop.
                self.pending.clear();
                res?;
            }
            if self.pending.is_empty() && data.len() > cs {
                // Whole chunks followed by more data are sealed straight from the input (one copy
                // fewer); the strict `>` keeps a possibly-final chunk back.
                self.seal_inner(&data[..cs], false, out)?;
                data = &data[cs..];
                continue;
            }
            let take = (cs - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals what is buffered as the final chunk (possibly empty).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<Option<Sha256>, StreamError> {
        if self.finished {
            return Err(StreamError::Finished);
        }
        let chunk = core::mem::take(&mut self.pending);
        let res = self.seal_inner(&chunk, true, out);
        self.pending = chunk;
        self.pending.zeroize();
        res?;
        Ok(self.digests.take())
    }
}

impl<C: ChunkCipher> Drop for ChunkSealer<C> {
    fn drop(&mut self) {
        self.pending.zeroize();
    }
}

/// Where a stream known in advance to end at a given chunk stops (tier-2 range reads).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KnownEnd {
    pub(crate) last_index: u32,
    pub(crate) last_sealed_len: usize,
}

/// Decrypting side. Holds at most one sealed chunk.
pub(crate) struct ChunkOpener<C: ChunkCipher> {
    cipher: C,
    params: StreamParams,
    next_index: u32,
    buf: Vec<u8>,
    done: bool,
    digests: Option<Sha256>,
    known_end: Option<KnownEnd>,
    skip: usize,
}

impl<C: ChunkCipher> ChunkOpener<C> {
    pub(crate) fn new(cipher: C, params: StreamParams, digests: Option<Sha256>) -> Self {
        let cap = params.sealed_len();
        Self {
            cipher,
            params,
            next_index: 0,
            buf: Vec::with_capacity(cap),
            done: false,
            digests,
            known_end: None,
            skip: 0,
        }
    }

    /// Starts at chunk `first_index` of a stream that ends at `end`, dropping the first `skip`
    /// plaintext bytes (an HTTP Range that starts inside a chunk).
    pub(crate) fn starting_at(
        cipher: C,
        params: StreamParams,
        first_index: u32,
        end: KnownEnd,
        skip: usize,
    ) -> Self {
        let mut me = Self::new(cipher, params, None);
        me.next_index = first_index;
        me.known_end = Some(end);
        me.skip = skip;
        me
    }

    fn open_buf(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), StreamError> {
        let buf = core::mem::take(&mut self.buf);
        let res = self.open_piece(&buf, last, out);
        self.buf = buf;
        if res.is_ok() {
            self.buf.clear();
        }
        res
    }

    fn open_piece(
        &mut self,
        piece: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        let index = self.next_index;
        if index >= MAX_CHUNKS {
            return Err(StreamError::TooManyChunks);
        }
        let split = piece
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(StreamError::Truncated(index))?;
        if let Some(d) = self.digests.as_mut() {
            d.update(Sha256::digest(piece));
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&piece[split..]);
        let nonce = chunk_nonce(&self.params.nonce_prefix, index, last);
        let aad = chunk_aad(&self.params.aad_prefix, index, last);
        let start = out.len();
        out.extend_from_slice(&piece[..split]);
        if self
            .cipher
            .open_in_place(&nonce, &aad, &mut out[start..], &tag)
            .is_err()
        {
            out[start..].zeroize();
            out.truncate(start);
            return Err(self.classify_failure(piece, last, split, &tag));
        }
        if self.skip > 0 {
            let drop_n = self.skip.min(out.len() - start);
            out.drain(start..start + drop_n);
            self.skip -= drop_n;
        }
        self.next_index = index + 1;
        if last {
            self.done = true;
        }
        Ok(())
    }

    /// A final piece that opens as non-final is a stream cut at a chunk boundary, which deserves a
    /// clearer error than "tampered". Only runs on the failure path.
    fn classify_failure(
        &self,
        piece: &[u8],
        tried_last: bool,
        split: usize,
        tag: &[u8; TAG_LEN],
    ) -> StreamError {
        let index = self.next_index;
        if tried_last && self.known_end.is_none() {
            let nonce = chunk_nonce(&self.params.nonce_prefix, index, false);
            let aad = chunk_aad(&self.params.aad_prefix, index, false);
            let mut scratch = piece[..split].to_vec();
            let ok = self
                .cipher
                .open_in_place(&nonce, &aad, &mut scratch, tag)
                .is_ok();
            scratch.zeroize();
            if ok {
                return StreamError::TruncatedAtChunkBoundary(index);
            }
        }
        StreamError::ChunkTampered(index)
    }

    fn expected_len(&self) -> usize {
        match self.known_end {
            Some(end) if end.last_index == self.next_index => end.last_sealed_len,
            _ => self.params.sealed_len(),
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        while !data.is_empty() {
            if self.done {
                return Err(StreamError::TrailingData);
            }
            let want = self.expected_len();
            if self.buf.len() == want {
                // Only reachable without a known end: more data proves this chunk is not final.
                self.open_buf(false, out)?;
                continue;
            }
            if self.buf.is_empty() && self.known_end.is_none() && data.len() > want {
                // A whole chunk followed by more data opens straight from the input.
                let (piece, rest) = data.split_at(want);
                self.open_piece(piece, false, out)?;
                data = rest;
                continue;
            }
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Some(end) = self.known_end {
                if self.buf.len() == want {
                    let last = end.last_index == self.next_index;
                    self.open_buf(last, out)?;
                }
            }
        }
        Ok(())
    }

    /// Opens the held piece as the final chunk. With a known end, stopping early (a Range that ends
    /// before the blob does) is allowed and only a partial chunk is an error.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<Option<Sha256>, StreamError> {
        if self.known_end.is_some() {
            if !self.buf.is_empty() {
                return Err(StreamError::Truncated(self.next_index));
            }
            return Ok(None);
        }
        if !self.done {
            if self.buf.len() < TAG_LEN {
                return Err(if self.buf.is_empty() && self.next_index > 0 {
                    StreamError::TruncatedAtChunkBoundary(self.next_index - 1)
                } else {
                    StreamError::Truncated(self.next_index)
                });
            }
            self.open_buf(true, out)?;
        }
        Ok(self.digests.take())
    }
}
