//! Tier 2 (docs/formats.md section 4): the escrow's per-record key K2, the chunked AES-256-GCM layer
//! `C2` it puts over the tier-1 ciphertext `C1` (same chunk rules as the envelope body, so it is
//! added while an upload streams in and stripped while a read streams out, from any offset for HTTP
//! Range), and K2 wrapped under a versioned master key so the master key can be rotated.

use std::collections::BTreeMap;

use alloy_primitives::B256;

use crate::cipher::{
    fill_random, open_to_vec, seal_to_vec, AesGcm256, ChunkCipher, RandomError, SecretKey, TAG_LEN,
};
use crate::stream::{
    ChunkOpener, ChunkSealer, KnownEnd, StreamError, StreamParams, MAX_CHUNKS, MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
};

pub use crate::stream::DEFAULT_CHUNK_SIZE;

/// `MLT2`.
pub const MAGIC: [u8; 4] = *b"MLT2";
/// Tier-2 stream version.
pub const VERSION: u8 = 1;
/// AES-256-GCM.
pub const ALG_AES256GCM: u8 = 1;
/// Tier-2 header length.
pub const HEADER_LEN: usize = 52;
/// Wrapped-K2 format version.
pub const WRAP_VERSION: u8 = 1;
/// Wrapped K2 length: version, key id, nonce, K2 ciphertext and tag.
pub const WRAPPED_K2_LEN: usize = 1 + 4 + 12 + 32 + 16;
const K2_WRAP_LABEL: &[u8] = b"medledger/v1/k2-wrap";

/// What went wrong in tier 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tier2Error {
    /// Not a tier-2 stream.
    #[error("not a tier-2 stream (bad magic)")]
    BadMagic,
    /// Unknown version.
    #[error("unsupported tier-2 version {0}")]
    UnsupportedVersion(u8),
    /// Unknown algorithm or flags.
    #[error("unsupported tier-2 algorithm {0} or flags {1:#06x}")]
    Unsupported(u8, u16),
    /// Chunk size out of range.
    #[error("invalid tier-2 chunk size {0}")]
    InvalidChunkSize(u32),
    /// The stream names another record.
    #[error("tier-2 stream is for record {found}, expected {expected}")]
    WrongRecord {
        /// expected record
        expected: B256,
        /// record in the header
        found: B256,
    },
    /// The stream ended inside the header.
    #[error("truncated: the stream ends inside the tier-2 header")]
    TruncatedHeader,
    /// The stored length cannot be a tier-2 stream with this chunk size.
    #[error("a tier-2 stream cannot be {0} bytes long")]
    BadTotalLength(u64),
    /// A range offset beyond the end of `C1`.
    #[error("offset {offset} is beyond the end of the record ({len} bytes)")]
    OffsetOutOfRange {
        /// requested offset in C1
        offset: u64,
        /// length of C1
        len: u64,
    },
    /// A chunk problem.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// A wrapped K2 of the wrong length.
    #[error("wrapped K2 must be {WRAPPED_K2_LEN} bytes, got {0}")]
    BadWrappedLength(usize),
    /// A wrapped K2 of an unknown format version.
    #[error("unsupported wrapped-K2 version {0}")]
    UnsupportedWrapVersion(u8),
    /// The master key named by a wrapped K2 is not in the key ring.
    #[error("master key {0} is not in the key ring")]
    UnknownMasterKey(u32),
    /// The wrapped K2 did not open.
    #[error("K2 unwrap failed: wrong master key, wrapped for another record, or tampered")]
    K2Unwrap,
    /// A master key id used twice in a ring.
    #[error("master key id {0} is already in the key ring")]
    DuplicateKeyId(u32),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The 52-byte tier-2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Plaintext (C1) bytes per chunk.
    pub chunk_size: u32,
    /// The record.
    pub record_id: B256,
    /// Random per-stream nonce prefix.
    pub nonce_prefix: [u8; 8],
}

impl Header {
    /// Serializes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = ALG_AES256GCM;
        h[8..12].copy_from_slice(&self.chunk_size.to_be_bytes());
        h[12..44].copy_from_slice(self.record_id.as_slice());
        h[44..52].copy_from_slice(&self.nonce_prefix);
        h
    }

    /// Parses and validates a header.
    pub fn parse(bytes: &[u8]) -> Result<Self, Tier2Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Tier2Error::TruncatedHeader);
        }
        if bytes[0..4] != MAGIC {
            return Err(Tier2Error::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(Tier2Error::UnsupportedVersion(bytes[4]));
        }
        let flags = u16::from_be_bytes([bytes[6], bytes[7]]);
        if bytes[5] != ALG_AES256GCM || flags != 0 {
            return Err(Tier2Error::Unsupported(bytes[5], flags));
        }
        let chunk_size = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Tier2Error::InvalidChunkSize(chunk_size));
        }
        let mut nonce_prefix = [0u8; 8];
        nonce_prefix.copy_from_slice(&bytes[44..52]);
        Ok(Self {
            chunk_size,
            record_id: B256::from_slice(&bytes[12..44]),
            nonce_prefix,
        })
    }

    fn params(&self) -> StreamParams {
        StreamParams {
            nonce_prefix: self.nonce_prefix,
            aad_prefix: self.encode().to_vec(),
            chunk_size: self.chunk_size as usize,
        }
    }
}

/// Adds the tier-2 layer to `C1` as it streams in.
pub struct Tier2Encryptor<C: ChunkCipher = AesGcm256> {
    sealer: ChunkSealer<C>,
}

impl Tier2Encryptor<AesGcm256> {
    /// Starts `C2` for `record_id` under `k2` with a random nonce prefix; returns the header bytes
    /// to write first.
    pub fn new(
        k2: &SecretKey,
        record_id: B256,
        chunk_size: u32,
    ) -> Result<(Self, [u8; HEADER_LEN]), Tier2Error> {
        let mut prefix = [0u8; 8];
        fill_random(&mut prefix)?;
        Self::with_cipher(AesGcm256::new(k2), record_id, chunk_size, prefix)
    }
}

impl<C: ChunkCipher> Tier2Encryptor<C> {
    /// Starts `C2` with a given cipher and nonce prefix (test vectors).
    pub fn with_cipher(
        cipher: C,
        record_id: B256,
        chunk_size: u32,
        nonce_prefix: [u8; 8],
    ) -> Result<(Self, [u8; HEADER_LEN]), Tier2Error> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Tier2Error::InvalidChunkSize(chunk_size));
        }
        let header = Header {
            chunk_size,
            record_id,
            nonce_prefix,
        };
        Ok((
            Self {
                sealer: ChunkSealer::new(cipher, header.params(), None),
            },
            header.encode(),
        ))
    }

    /// Feeds `C1` bytes; appends finished `C2` chunks to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Tier2Error> {
        Ok(self.sealer.push(data, out)?)
    }

    /// Seals the final chunk.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Tier2Error> {
        self.sealer.finish(out)?;
        Ok(())
    }
}

/// Where a range read of `C1` starts inside `C2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeStart {
    /// Byte offset in `C2` to read from (the start of the chunk holding the offset).
    pub c2_offset: u64,
    /// Plaintext bytes of that chunk to drop before the requested offset.
    pub skip: usize,
    /// Index of that chunk.
    pub chunk_index: u32,
}

/// The length of `C1` inside a `C2` of `c2_len` bytes, and the number of chunks.
pub fn plaintext_len(chunk_size: u32, c2_len: u64) -> Result<(u64, u32), Tier2Error> {
    let body = c2_len
        .checked_sub(HEADER_LEN as u64)
        .ok_or(Tier2Error::BadTotalLength(c2_len))?;
    let sealed = u64::from(chunk_size) + TAG_LEN as u64;
    // At least one chunk; a final piece holds 16..=sealed bytes.
    let chunks = body.div_ceil(sealed).max(1);
    let last_len = body - (chunks - 1) * sealed;
    if !(TAG_LEN as u64..=sealed).contains(&last_len) || chunks > u64::from(MAX_CHUNKS) {
        return Err(Tier2Error::BadTotalLength(c2_len));
    }
    // `chunks` is bounded by MAX_CHUNKS above.
    Ok((body - chunks * TAG_LEN as u64, chunks as u32))
}

/// Where to start reading `C2` to serve `C1` from `offset` (formats.md 4.1).
pub fn range_start(header: &Header, c2_len: u64, offset: u64) -> Result<RangeStart, Tier2Error> {
    let (len, chunks) = plaintext_len(header.chunk_size, c2_len)?;
    if offset > len {
        return Err(Tier2Error::OffsetOutOfRange { offset, len });
    }
    let cs = u64::from(header.chunk_size);
    // An offset at the very end of a body that fills its last chunk maps to that last chunk.
    let index = (offset / cs).min(u64::from(chunks) - 1);
    let skip = offset - index * cs;
    Ok(RangeStart {
        c2_offset: HEADER_LEN as u64 + index * (cs + TAG_LEN as u64),
        skip: skip as usize,
        chunk_index: index as u32,
    })
}

enum DecState<C: ChunkCipher> {
    Header(Vec<u8>, Option<C>),
    Body(ChunkOpener<C>),
    Failed,
}

/// Strips the tier-2 layer as `C2` streams out of storage.
pub struct Tier2Decryptor<C: ChunkCipher = AesGcm256> {
    record_id: B256,
    state: DecState<C>,
}

impl Tier2Decryptor<AesGcm256> {
    /// Decrypts a whole `C2` from its first byte.
    pub fn new(k2: &SecretKey, record_id: B256) -> Self {
        Self {
            record_id,
            state: DecState::Header(Vec::with_capacity(HEADER_LEN), Some(AesGcm256::new(k2))),
        }
    }

    /// Decrypts `C1` from `offset`: the caller has read the header (first 52 bytes of `C2`) and
    /// knows the stored length; it then feeds `C2` from the returned [`RangeStart::c2_offset`].
    /// Stopping before the end is allowed (a bounded range): [`Tier2Decryptor::finish`] then only
    /// checks that no partial chunk is pending.
    pub fn for_range(
        k2: &SecretKey,
        record_id: B256,
        header_bytes: &[u8],
        c2_len: u64,
        offset: u64,
    ) -> Result<(Self, RangeStart), Tier2Error> {
        let header = Header::parse(header_bytes)?;
        if header.record_id != record_id {
            return Err(Tier2Error::WrongRecord {
                expected: record_id,
                found: header.record_id,
            });
        }
        let start = range_start(&header, c2_len, offset)?;
        let (c1_len, chunks) = plaintext_len(header.chunk_size, c2_len)?;
        let last_plain = c1_len - u64::from(chunks - 1) * u64::from(header.chunk_size);
        let end = KnownEnd {
            last_index: chunks - 1,
            // Bounded by the chunk size (u32).
            last_sealed_len: last_plain as usize + TAG_LEN,
        };
        let opener = ChunkOpener::starting_at(
            AesGcm256::new(k2),
            header.params(),
            start.chunk_index,
            end,
            start.skip,
        );
        Ok((
            Self {
                record_id,
                state: DecState::Body(opener),
            },
            start,
        ))
    }
}

impl<C: ChunkCipher> Tier2Decryptor<C> {
    /// Feeds `C2`; appends verified `C1` bytes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Tier2Error> {
        let res = self.push_inner(data, out);
        if res.is_err() {
            self.state = DecState::Failed;
        }
        res
    }

    fn push_inner(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), Tier2Error> {
        if let DecState::Header(buf, cipher) = &mut self.state {
            let take = (HEADER_LEN - buf.len()).min(data.len());
            buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if buf.len() < HEADER_LEN {
                return Ok(());
            }
            let header = Header::parse(buf)?;
            if header.record_id != self.record_id {
                return Err(Tier2Error::WrongRecord {
                    expected: self.record_id,
                    found: header.record_id,
                });
            }
            let cipher = cipher.take().ok_or(StreamError::Finished)?;
            self.state = DecState::Body(ChunkOpener::new(cipher, header.params(), None));
        }
        match &mut self.state {
            DecState::Body(opener) => Ok(opener.push(data, out)?),
            DecState::Header(..) => Ok(()),
            DecState::Failed => Err(StreamError::Finished.into()),
        }
    }

    /// Ends the stream (checks the final chunk when reading to the end).
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Tier2Error> {
        match core::mem::replace(&mut self.state, DecState::Failed) {
            DecState::Body(mut opener) => {
                opener.finish(out)?;
                Ok(())
            }
            DecState::Header(..) => Err(Tier2Error::TruncatedHeader),
            DecState::Failed => Err(StreamError::Finished.into()),
        }
    }
}

/// One master key with its id.
#[derive(Clone)]
struct MasterKey {
    cipher: AesGcm256,
}

/// The escrow's master keys: one current key wraps, every key in the ring unwraps.
pub struct MasterKeyRing {
    current: u32,
    keys: BTreeMap<u32, MasterKey>,
}

impl core::fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MasterKeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeyRing {
    /// A ring holding one key, which is current.
    pub fn new(key_id: u32, key: &SecretKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(
            key_id,
            MasterKey {
                cipher: AesGcm256::new(key),
            },
        );
        Self {
            current: key_id,
            keys,
        }
    }

    /// Adds an older key that may still be named by wrapped K2s.
    pub fn add_retired(&mut self, key_id: u32, key: &SecretKey) -> Result<(), Tier2Error> {
        if self.keys.contains_key(&key_id) {
            return Err(Tier2Error::DuplicateKeyId(key_id));
        }
        self.keys.insert(
            key_id,
            MasterKey {
                cipher: AesGcm256::new(key),
            },
        );
        Ok(())
    }

    /// Adds a new key and makes it current (rotation); then [`rewrap`] every stored K2.
    pub fn rotate_to(&mut self, key_id: u32, key: &SecretKey) -> Result<(), Tier2Error> {
        self.add_retired(key_id, key)?;
        self.current = key_id;
        Ok(())
    }

    /// Drops a retired key once no wrapped K2 names it. The current key cannot be dropped.
    pub fn remove(&mut self, key_id: u32) -> bool {
        key_id != self.current && self.keys.remove(&key_id).is_some()
    }

    /// Id of the current key.
    pub fn current_id(&self) -> u32 {
        self.current
    }
}

fn k2_aad(record_id: &B256, key_id: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(K2_WRAP_LABEL.len() + 36);
    aad.extend_from_slice(K2_WRAP_LABEL);
    aad.extend_from_slice(record_id.as_slice());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

/// Wraps `k2` under the ring's current master key with a random nonce.
pub fn wrap_k2(
    ring: &MasterKeyRing,
    record_id: &B256,
    k2: &SecretKey,
) -> Result<[u8; WRAPPED_K2_LEN], Tier2Error> {
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce)?;
    wrap_k2_with_nonce(ring, record_id, k2, nonce)
}

/// [`wrap_k2`] with a given nonce (test vectors only: a nonce must never repeat under a master key).
pub fn wrap_k2_with_nonce(
    ring: &MasterKeyRing,
    record_id: &B256,
    k2: &SecretKey,
    nonce: [u8; 12],
) -> Result<[u8; WRAPPED_K2_LEN], Tier2Error> {
    let key_id = ring.current;
    let mk = ring
        .keys
        .get(&key_id)
        .ok_or(Tier2Error::UnknownMasterKey(key_id))?;
    let sealed = seal_to_vec(
        &mk.cipher,
        &nonce,
        &k2_aad(record_id, key_id),
        k2.expose_secret(),
    )
    .map_err(|_| StreamError::Seal(0))?;
    let mut out = [0u8; WRAPPED_K2_LEN];
    out[0] = WRAP_VERSION;
    out[1..5].copy_from_slice(&key_id.to_be_bytes());
    out[5..17].copy_from_slice(&nonce);
    if sealed.len() != WRAPPED_K2_LEN - 17 {
        return Err(StreamError::Seal(0).into());
    }
    out[17..].copy_from_slice(&sealed);
    Ok(out)
}

/// The master key id a wrapped K2 names.
pub fn wrapped_key_id(wrapped: &[u8]) -> Result<u32, Tier2Error> {
    if wrapped.len() != WRAPPED_K2_LEN {
        return Err(Tier2Error::BadWrappedLength(wrapped.len()));
    }
    if wrapped[0] != WRAP_VERSION {
        return Err(Tier2Error::UnsupportedWrapVersion(wrapped[0]));
    }
    Ok(u32::from_be_bytes([
        wrapped[1], wrapped[2], wrapped[3], wrapped[4],
    ]))
}

/// Opens a wrapped K2 with whichever ring key it names.
pub fn unwrap_k2(
    ring: &MasterKeyRing,
    record_id: &B256,
    wrapped: &[u8],
) -> Result<SecretKey, Tier2Error> {
    let key_id = wrapped_key_id(wrapped)?;
    let mk = ring
        .keys
        .get(&key_id)
        .ok_or(Tier2Error::UnknownMasterKey(key_id))?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&wrapped[5..17]);
    let mut pt = open_to_vec(
        &mk.cipher,
        &nonce,
        &k2_aad(record_id, key_id),
        &wrapped[17..],
    )
    .map_err(|_| Tier2Error::K2Unwrap)?;
    let key = SecretKey::from_slice(&pt);
    zeroize::Zeroize::zeroize(&mut pt);
    key.ok_or(Tier2Error::K2Unwrap)
}

/// Re-wraps a K2 under the ring's current master key (rotation). Returns `None` when it already is.
pub fn rewrap(
    ring: &MasterKeyRing,
    record_id: &B256,
    wrapped: &[u8],
) -> Result<Option<[u8; WRAPPED_K2_LEN]>, Tier2Error> {
    if wrapped_key_id(wrapped)? == ring.current {
        // Still check it opens, so a rotation pass also finds damaged entries.
        unwrap_k2(ring, record_id, wrapped)?;
        return Ok(None);
    }
    let k2 = unwrap_k2(ring, record_id, wrapped)?;
    Ok(Some(wrap_k2(ring, record_id, &k2)?))
}

/// Adds the tier-2 layer to a whole `C1` in memory (small blobs, tests).
pub fn seal(
    k2: &SecretKey,
    record_id: B256,
    chunk_size: u32,
    c1: &[u8],
) -> Result<Vec<u8>, Tier2Error> {
    let (mut enc, header) = Tier2Encryptor::new(k2, record_id, chunk_size)?;
    let mut out = header.to_vec();
    enc.push(c1, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// Strips the tier-2 layer of a whole `C2` in memory.
pub fn open(k2: &SecretKey, record_id: B256, c2: &[u8]) -> Result<Vec<u8>, Tier2Error> {
    let mut dec = Tier2Decryptor::new(k2, record_id);
    let mut out = Vec::with_capacity(c2.len());
    dec.push(c2, &mut out)?;
    dec.finish(&mut out)?;
    Ok(out)
}
