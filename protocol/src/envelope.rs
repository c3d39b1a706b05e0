//! Envelope v1, the tier-1 record ciphertext `C1` (docs/formats.md section 2): the header, the
//! encrypted metadata block, the body in AES-256-GCM chunks bound to the record context, and the
//! ciphertext hash `h1` computed while streaming. Encryption and decryption take input in pieces
//! of any size and keep at most one chunk in memory; [`H1Hasher`] computes `h1` from the framing
//! alone, without a key, for the escrow.
//!
//! Browser note: everything except the AEAD call is keyless and exposed ([`Header`],
//! [`metadata_aad`], [`body_aad_prefix`], [`crate::stream::chunk_nonce`], [`H1Builder`]), so a
//! WebCrypto-driven encryptor produces the same bytes as [`Encryptor`] with [`AesGcm256`].

use std::io::{Read, Write};

use alloy_primitives::{Address, B256};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::cipher::{
    open_to_vec, seal_to_vec, AesGcm256, ChunkCipher, RandomError, SecretKey, TAG_LEN,
};
use crate::stream::{
    chunk_nonce, ChunkOpener, ChunkSealer, StreamError, StreamParams, MAX_CHUNKS, MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
};

pub use crate::stream::DEFAULT_CHUNK_SIZE;

/// `MLE1`.
pub const MAGIC: [u8; 4] = *b"MLE1";
/// The only envelope version this crate reads and writes.
pub const VERSION: u8 = 1;
/// AES-256-GCM chunks, SHA-256 `h1`.
pub const ALG_AES256GCM_SHA256: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 56;
/// Upper bound of the metadata plaintext (before the tag).
pub const MAX_METADATA_PLAIN: usize = 4096;
/// Metadata plaintext is padded to a multiple of this, hiding the exact file name length.
pub const METADATA_PAD: usize = 64;
/// Longest media type, bytes.
pub const MAX_MEDIA_TYPE: usize = 255;
/// Longest file name, bytes.
pub const MAX_FILE_NAME: usize = 1024;

const BLOCK_METADATA: u8 = 0x00;
const BLOCK_CHUNK: u8 = 0x01;

/// Why an envelope could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The first bytes are not `MLE1`.
    #[error("not a medledger envelope (bad magic)")]
    BadMagic,
    /// A version this crate does not know.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// An algorithm id this crate does not know.
    #[error("unsupported envelope algorithm {0}")]
    UnsupportedAlgorithm(u8),
    /// Reserved header flags set.
    #[error("unsupported envelope flags {0:#06x}")]
    UnsupportedFlags(u16),
    /// Chunk size outside 16 B ..= 16 MiB.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    /// Metadata length outside the allowed range or not padded.
    #[error("invalid metadata block length {0}")]
    InvalidMetadataLength(u32),
    /// The header names another record than the one asked for.
    #[error("envelope is for record {found}, expected {expected}")]
    WrongRecord {
        /// the record the caller expected
        expected: B256,
        /// the record the header names
        found: B256,
    },
    /// The metadata tag did not verify: these causes cannot be told apart, by design.
    #[error("metadata block failed authentication: wrong key, wrong record context (chain, contract, patient) or tampered header/metadata")]
    MetadataAuth,
    /// Metadata opened but its content is malformed.
    #[error("malformed metadata: {0}")]
    MalformedMetadata(&'static str),
    /// Metadata to encrypt is over the limits of the format.
    #[error("metadata field too long: {0}")]
    MetadataTooLong(&'static str),
    /// The stream ended inside the header or the metadata block.
    #[error("truncated: the stream ends inside the {0}")]
    Truncated(&'static str),
    /// A body chunk problem.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// No randomness for the nonce prefix.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Reading or writing failed in an io adapter.
    #[error("i/o: {0}")]
    Io(String),
}

/// Where a record lives; bound into every AAD so ciphertext cannot be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordContext {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The MedLedger contract.
    pub contract: Address,
    /// The record's random id.
    pub record_id: B256,
    /// The data owner.
    pub patient: Address,
}

/// What kind of record a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A document (PDF, text...).
    Document,
    /// An image.
    Image,
    /// A structured entry (JSON: vitals, history...).
    Structured,
    /// A claim document for an insurer.
    Claim,
    /// A kind this version does not know; kept so it round-trips.
    Other(u8),
}

impl RecordKind {
    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Document => 1,
            Self::Image => 2,
            Self::Structured => 3,
            Self::Claim => 4,
            Self::Other(b) => b,
        }
    }

    /// From the wire byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::Document,
            2 => Self::Image,
            3 => Self::Structured,
            4 => Self::Claim,
            other => Self::Other(other),
        }
    }
}

/// The encrypted metadata of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// What the record is.
    pub kind: RecordKind,
    /// Unix seconds, UTC.
    pub created: u64,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Original file name; may be empty.
    pub file_name: String,
}

impl Metadata {
    /// The padded plaintext of the metadata block (formats.md 2.3).
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        if self.media_type.len() > MAX_MEDIA_TYPE {
            return Err(EnvelopeError::MetadataTooLong("media type"));
        }
        if self.file_name.len() > MAX_FILE_NAME {
            return Err(EnvelopeError::MetadataTooLong("file name"));
        }
        let mut out = Vec::with_capacity(13 + self.media_type.len() + self.file_name.len() + 64);
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.created.to_be_bytes());
        // Lengths are bounded above, so these conversions cannot truncate.
        out.extend_from_slice(&(self.media_type.len() as u16).to_be_bytes());
        out.extend_from_slice(self.media_type.as_bytes());
        out.extend_from_slice(&(self.file_name.len() as u16).to_be_bytes());
        out.extend_from_slice(self.file_name.as_bytes());
        let padded = out.len().div_ceil(METADATA_PAD) * METADATA_PAD;
        out.resize(padded, 0);
        Ok(out)
    }

    /// Parses a padded metadata plaintext, strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut r = Cursor(bytes);
        let kind = RecordKind::from_byte(r.u8()?);
        let created = r.u64()?;
        let mt_len = usize::from(r.u16()?);
        if mt_len > MAX_MEDIA_TYPE {
            return Err(EnvelopeError::MalformedMetadata("media type too long"));
        }
        let media_type = String::from_utf8(r.take(mt_len)?.to_vec())
            .map_err(|_| EnvelopeError::MalformedMetadata("media type is not UTF-8"))?;
        let fname_len = usize::from(r.u16()?);
        if fname_len > MAX_FILE_NAME {
            return Err(EnvelopeError::MalformedMetadata("file name too long"));
        }
        let file_name = String::from_utf8(r.take(fname_len)?.to_vec())
            .map_err(|_| EnvelopeError::MalformedMetadata("file name is not UTF-8"))?;
        if r.0.iter().any(|&b| b != 0) {
            return Err(EnvelopeError::MalformedMetadata("non-zero padding"));
        }
        Ok(Self {
            kind,
            created,
            media_type,
            file_name,
        })
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::MalformedMetadata("too short"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, EnvelopeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// The 56-byte envelope header (formats.md 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// The record.
    pub record_id: B256,
    /// Per-envelope random nonce prefix.
    pub nonce_prefix: [u8; 8],
    /// Length of the metadata block (ciphertext and tag).
    pub metadata_len: u32,
}

impl Header {
    /// Serializes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = ALG_AES256GCM_SHA256;
        // h[6..8]: flags, zero.
        h[8..12].copy_from_slice(&self.chunk_size.to_be_bytes());
        h[12..44].copy_from_slice(self.record_id.as_slice());
        h[44..52].copy_from_slice(&self.nonce_prefix);
        h[52..56].copy_from_slice(&self.metadata_len.to_be_bytes());
        h
    }

    /// Parses and validates a header (not yet against a record context).
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() < HEADER_LEN {
            return Err(EnvelopeError::Truncated("header"));
        }
        if bytes[0..4] != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(bytes[4]));
        }
        if bytes[5] != ALG_AES256GCM_SHA256 {
            return Err(EnvelopeError::UnsupportedAlgorithm(bytes[5]));
        }
        let flags = u16::from_be_bytes([bytes[6], bytes[7]]);
        if flags != 0 {
            return Err(EnvelopeError::UnsupportedFlags(flags));
        }
        let chunk_size = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        check_chunk_size(chunk_size)?;
        let record_id = B256::from_slice(&bytes[12..44]);
        let mut nonce_prefix = [0u8; 8];
        nonce_prefix.copy_from_slice(&bytes[44..52]);
        let metadata_len = u32::from_be_bytes([bytes[52], bytes[53], bytes[54], bytes[55]]);
        let plain = (metadata_len as usize).wrapping_sub(TAG_LEN);
        if (metadata_len as usize) <= TAG_LEN
            || plain > MAX_METADATA_PLAIN
            || !plain.is_multiple_of(METADATA_PAD)
        {
            return Err(EnvelopeError::InvalidMetadataLength(metadata_len));
        }
        Ok(Self {
            chunk_size,
            record_id,
            nonce_prefix,
            metadata_len,
        })
    }
}

fn check_chunk_size(chunk_size: u32) -> Result<(), EnvelopeError> {
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        Ok(())
    } else {
        Err(EnvelopeError::InvalidChunkSize(chunk_size))
    }
}

fn context_aad(header: &[u8; HEADER_LEN], ctx: &RecordContext, block: u8) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 8 + 20 + 20 + 1 + 5);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&ctx.chain_id.to_be_bytes());
    aad.extend_from_slice(ctx.contract.as_slice());
    aad.extend_from_slice(ctx.patient.as_slice());
    aad.push(block);
    aad
}

/// The AAD prefix of body chunks: `header || chain_id || contract || patient || 0x01`; a chunk's
/// AAD is this followed by `u32 index || u8 last`.
pub fn body_aad_prefix(header: &[u8; HEADER_LEN], ctx: &RecordContext) -> Vec<u8> {
    context_aad(header, ctx, BLOCK_CHUNK)
}

/// The full AAD of the metadata block.
pub fn metadata_aad(header: &[u8; HEADER_LEN], ctx: &RecordContext) -> Vec<u8> {
    crate::stream::chunk_aad(&context_aad(header, ctx, BLOCK_METADATA), MAX_CHUNKS, true)
}

/// The nonce of the metadata block: `prefix || ff ff ff ff`.
pub fn metadata_nonce(prefix: &[u8; 8]) -> [u8; 12] {
    chunk_nonce(prefix, MAX_CHUNKS, true)
}

/// Builds `h1` from the head digest and the per-chunk digests (formats.md 2.6). Usable with digests
/// computed elsewhere (WebCrypto).
#[derive(Clone, Default)]
pub struct H1Builder {
    outer: Sha256,
}

impl H1Builder {
    /// Starts with `d_head = SHA-256(header || metadata_block)`.
    pub fn new(d_head: &[u8; 32]) -> Self {
        let mut outer = Sha256::new();
        outer.update(d_head);
        Self { outer }
    }

    /// Adds `d_i = SHA-256(chunk_i)`, in order.
    pub fn push_chunk_digest(&mut self, d: &[u8; 32]) {
        self.outer.update(d);
    }

    /// `h1`.
    pub fn finish(self) -> B256 {
        B256::from_slice(&self.outer.finalize())
    }
}

fn head_digest(header: &[u8], metadata_block: &[u8]) -> Sha256 {
    let mut d = Sha256::new();
    d.update(header);
    d.update(metadata_block);
    let mut outer = Sha256::new();
    outer.update(d.finalize());
    outer
}

fn stream_params(
    header: &Header,
    header_bytes: &[u8; HEADER_LEN],
    ctx: &RecordContext,
) -> StreamParams {
    StreamParams {
        nonce_prefix: header.nonce_prefix,
        aad_prefix: body_aad_prefix(header_bytes, ctx),
        chunk_size: header.chunk_size as usize,
    }
}

/// Streaming envelope encryptor.
pub struct Encryptor<C: ChunkCipher = AesGcm256> {
    sealer: ChunkSealer<C>,
}

impl Encryptor<AesGcm256> {
    /// Starts an envelope with a fresh random nonce prefix. Returns the encryptor and the first
    /// bytes of `C1` (header and metadata block).
    pub fn new(
        dek: &SecretKey,
        ctx: &RecordContext,
        metadata: &Metadata,
        chunk_size: u32,
    ) -> Result<(Self, Vec<u8>), EnvelopeError> {
        let mut prefix = [0u8; 8];
        crate::cipher::fill_random(&mut prefix)?;
        Self::with_cipher(AesGcm256::new(dek), ctx, metadata, chunk_size, prefix)
    }
}

impl<C: ChunkCipher> Encryptor<C> {
    /// Starts an envelope with a given cipher and nonce prefix. The prefix must never repeat under
    /// one key; outside test vectors use [`Encryptor::new`].
    pub fn with_cipher(
        cipher: C,
        ctx: &RecordContext,
        metadata: &Metadata,
        chunk_size: u32,
        nonce_prefix: [u8; 8],
    ) -> Result<(Self, Vec<u8>), EnvelopeError> {
        check_chunk_size(chunk_size)?;
        let mut meta_plain = metadata.encode()?;
        let header = Header {
            chunk_size,
            record_id: ctx.record_id,
            nonce_prefix,
            // Bounded by MAX_METADATA_PLAIN, so no truncation.
            metadata_len: (meta_plain.len() + TAG_LEN) as u32,
        };
        let header_bytes = header.encode();
        let sealed = seal_to_vec(
            &cipher,
            &metadata_nonce(&nonce_prefix),
            &metadata_aad(&header_bytes, ctx),
            &meta_plain,
        );
        meta_plain.zeroize();
        let sealed = sealed.map_err(|_| StreamError::Seal(MAX_CHUNKS))?;
        let mut prelude = Vec::with_capacity(HEADER_LEN + sealed.len());
        prelude.extend_from_slice(&header_bytes);
        prelude.extend_from_slice(&sealed);
        let digests = head_digest(&header_bytes, &sealed);
        let params = stream_params(&header, &header_bytes, ctx);
        Ok((
            Self {
                sealer: ChunkSealer::new(cipher, params, Some(digests)),
            },
            prelude,
        ))
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> usize {
        self.sealer.chunk_size()
    }

    /// Index the next sealed chunk gets.
    pub fn next_index(&self) -> u32 {
        self.sealer.next_index()
    }

    /// Appends to `out` every chunk that `data` completes, except a full chunk that might be the
    /// final one.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        Ok(self.sealer.push(data, out)?)
    }

    /// Explicit chunk API for callers that know where the body ends (a browser `File` has a size):
    /// non-final chunks must be exactly the chunk size. Do not mix with [`Encryptor::push`].
    pub fn seal_chunk(
        &mut self,
        plaintext: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), EnvelopeError> {
        Ok(self.sealer.seal_chunk(plaintext, last, out)?)
    }

    /// Seals the final chunk (after `push`) and returns `h1`. After `seal_chunk(.., true, ..)` use
    /// [`Encryptor::h1`] instead.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<B256, EnvelopeError> {
        let digests = self.sealer.finish(out)?;
        digests
            .map(|d| B256::from_slice(&d.finalize()))
            .ok_or(EnvelopeError::Stream(StreamError::Finished))
    }

    /// `h1` once the final chunk went through [`Encryptor::seal_chunk`].
    pub fn h1(mut self) -> Result<B256, EnvelopeError> {
        self.sealer
            .take_digests()?
            .map(|d| B256::from_slice(&d.finalize()))
            .ok_or(EnvelopeError::Stream(StreamError::Finished))
    }
}

enum DecState<C: ChunkCipher> {
    Header(Vec<u8>, Option<C>),
    Metadata {
        header: Header,
        header_bytes: [u8; HEADER_LEN],
        buf: Vec<u8>,
        cipher: Option<C>,
    },
    Body(ChunkOpener<C>),
    Failed,
}

/// What a finished decryption yields besides the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The record's metadata.
    pub metadata: Metadata,
    /// The header as read.
    pub header: Header,
    /// `h1` of the ciphertext just read; compare it with the chain's anchor.
    pub h1: B256,
}

/// Streaming envelope decryptor: push ciphertext in pieces of any size, get verified plaintext.
/// Plaintext of a chunk is released only after its tag verified; the body as a whole is complete
/// only when [`Decryptor::finish`] succeeds.
pub struct Decryptor<C: ChunkCipher = AesGcm256> {
    ctx: RecordContext,
    state: DecState<C>,
    metadata: Option<Metadata>,
    header: Option<Header>,
}

impl Decryptor<AesGcm256> {
    /// A decryptor for the record `ctx` under `dek`.
    pub fn new(dek: &SecretKey, ctx: &RecordContext) -> Self {
        Self::with_cipher(AesGcm256::new(dek), ctx)
    }
}

impl<C: ChunkCipher> Decryptor<C> {
    /// A decryptor with a given cipher.
    pub fn with_cipher(cipher: C, ctx: &RecordContext) -> Self {
        Self {
            ctx: *ctx,
            state: DecState::Header(Vec::with_capacity(HEADER_LEN), Some(cipher)),
            metadata: None,
            header: None,
        }
    }

    /// The metadata, once the metadata block went through.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_ref()
    }

    /// Feeds ciphertext; appends verified plaintext to `out`. After an error the decryptor refuses
    /// further input.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        let res = self.push_inner(data, out);
        if res.is_err() {
            self.state = DecState::Failed;
        }
        res
    }

    fn push_inner(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        loop {
            match &mut self.state {
                DecState::Failed => return Err(StreamError::Finished.into()),
                DecState::Header(buf, cipher) => {
                    let take = (HEADER_LEN - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if buf.len() < HEADER_LEN {
                        return Ok(());
                    }
                    let header = Header::parse(buf)?;
                    if header.record_id != self.ctx.record_id {
                        return Err(EnvelopeError::WrongRecord {
                            expected: self.ctx.record_id,
                            found: header.record_id,
                        });
                    }
                    let header_bytes = header.encode();
                    let cipher = cipher.take();
                    self.header = Some(header);
                    self.state = DecState::Metadata {
                        header,
                        header_bytes,
                        buf: Vec::with_capacity(header.metadata_len as usize),
                        cipher,
                    };
                }
                DecState::Metadata {
                    header,
                    header_bytes,
                    buf,
                    cipher,
                } => {
                    let want = header.metadata_len as usize;
                    let take = (want - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if buf.len() < want {
                        return Ok(());
                    }
                    let cipher = cipher.take().ok_or(StreamError::Finished)?;
                    let mut plain = open_to_vec(
                        &cipher,
                        &metadata_nonce(&header.nonce_prefix),
                        &metadata_aad(header_bytes, &self.ctx),
                        buf,
                    )
                    .map_err(|_| EnvelopeError::MetadataAuth)?;
                    let meta = Metadata::decode(&plain);
                    plain.zeroize();
                    self.metadata = Some(meta?);
                    let digests = head_digest(header_bytes, buf);
                    let params = stream_params(header, header_bytes, &self.ctx);
                    self.state = DecState::Body(ChunkOpener::new(cipher, params, Some(digests)));
                }
                DecState::Body(opener) => {
                    opener.push(data, out)?;
                    return Ok(());
                }
            }
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// Checks the final chunk and returns the metadata and `h1`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<Opened, EnvelopeError> {
        let state = core::mem::replace(&mut self.state, DecState::Failed);
        match state {
            DecState::Failed => Err(StreamError::Finished.into()),
            DecState::Header(..) => Err(EnvelopeError::Truncated("header")),
            DecState::Metadata { .. } => Err(EnvelopeError::Truncated("metadata block")),
            DecState::Body(mut opener) => {
                let digests = opener.finish(out)?;
                let h1 = digests
                    .map(|d| B256::from_slice(&d.finalize()))
                    .ok_or(StreamError::Finished)?;
                match (self.metadata.take(), self.header) {
                    (Some(metadata), Some(header)) => Ok(Opened {
                        metadata,
                        header,
                        h1,
                    }),
                    _ => Err(EnvelopeError::Truncated("metadata block")),
                }
            }
        }
    }
}

/// Computes `h1` of an envelope from its bytes alone (no key), as the escrow does while an upload
/// streams in. Checks the framing but not the tags.
pub struct H1Hasher {
    head: Vec<u8>,
    header: Option<Header>,
    head_len: usize,
    outer: Option<Sha256>,
    chunk: Sha256,
    chunk_fill: usize,
    chunks: u64,
    total: u64,
}

impl Default for H1Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl H1Hasher {
    /// A hasher at the start of an envelope.
    pub fn new() -> Self {
        Self {
            head: Vec::with_capacity(HEADER_LEN),
            header: None,
            head_len: HEADER_LEN,
            outer: None,
            chunk: Sha256::new(),
            chunk_fill: 0,
            chunks: 0,
            total: 0,
        }
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Bytes seen so far.
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// Feeds envelope bytes.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), EnvelopeError> {
        self.total += data.len() as u64;
        while !data.is_empty() {
            if let Some(outer) = self.outer.as_mut() {
                // Framing is known once `outer` exists.
                let sealed_len = self
                    .header
                    .map(|h| h.chunk_size as usize + TAG_LEN)
                    .ok_or(EnvelopeError::Truncated("header"))?;
                if self.chunk_fill == sealed_len {
                    let d = core::mem::take(&mut self.chunk).finalize();
                    outer.update(d);
                    self.chunk_fill = 0;
                    self.chunks += 1;
                    if self.chunks >= u64::from(MAX_CHUNKS) {
                        return Err(StreamError::TooManyChunks.into());
                    }
                }
                let take = (sealed_len - self.chunk_fill).min(data.len());
                self.chunk.update(&data[..take]);
                self.chunk_fill += take;
                data = &data[take..];
            } else {
                let take = (self.head_len - self.head.len()).min(data.len());
                self.head.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.head.len() < self.head_len {
                    continue;
                }
                if self.header.is_none() {
                    let h = Header::parse(&self.head)?;
                    self.head_len = HEADER_LEN + h.metadata_len as usize;
                    self.header = Some(h);
                } else {
                    let mut outer = Sha256::new();
                    outer.update(Sha256::digest(&self.head));
                    self.outer = Some(outer);
                    self.head = Vec::new();
                }
            }
        }
        Ok(())
    }

    /// `h1`; fails when the stream ended inside the header, the metadata or a chunk tag.
    pub fn finish(mut self) -> Result<B256, EnvelopeError> {
        let Some(mut outer) = self.outer.take() else {
            return Err(EnvelopeError::Truncated(if self.header.is_some() {
                "metadata block"
            } else {
                "header"
            }));
        };
        if self.chunk_fill < TAG_LEN {
            return Err(StreamError::Truncated(self.chunks as u32).into());
        }
        outer.update(self.chunk.finalize());
        Ok(B256::from_slice(&outer.finalize()))
    }
}

fn io_err(e: std::io::Error) -> EnvelopeError {
    EnvelopeError::Io(e.to_string())
}

/// Encrypts everything `reader` yields into `writer` in constant memory; returns `h1`.
pub fn encrypt_stream<R: Read, W: Write>(
    dek: &SecretKey,
    ctx: &RecordContext,
    metadata: &Metadata,
    chunk_size: u32,
    mut reader: R,
    mut writer: W,
) -> Result<B256, EnvelopeError> {
    let (mut enc, prelude) = Encryptor::new(dek, ctx, metadata, chunk_size)?;
    writer.write_all(&prelude).map_err(io_err)?;
    let mut buf = vec![0u8; chunk_size as usize];
    let mut out = Vec::with_capacity(chunk_size as usize + TAG_LEN);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.zeroize();
                return Err(io_err(e));
            }
        };
        enc.push(&buf[..n], &mut out)?;
        writer.write_all(&out).map_err(io_err)?;
        out.clear();
    }
    buf.zeroize();
    let h1 = enc.finish(&mut out)?;
    writer.write_all(&out).map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    Ok(h1)
}

/// Decrypts an envelope from `reader` into `writer` in constant memory. Plaintext written before an
/// error is authenticated chunk by chunk, but the record is complete only when this returns `Ok`.
pub fn decrypt_stream<R: Read, W: Write>(
    dek: &SecretKey,
    ctx: &RecordContext,
    mut reader: R,
    mut writer: W,
) -> Result<Opened, EnvelopeError> {
    let mut dec = Decryptor::new(dek, ctx);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len() + TAG_LEN);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        dec.push(&buf[..n], &mut out)?;
        writer.write_all(&out).map_err(io_err)?;
        out.zeroize();
    }
    let opened = dec.finish(&mut out)?;
    writer.write_all(&out).map_err(io_err)?;
    out.zeroize();
    writer.flush().map_err(io_err)?;
    Ok(opened)
}

/// Encrypts a whole body held in memory (small records, tests).
pub fn seal(
    dek: &SecretKey,
    ctx: &RecordContext,
    metadata: &Metadata,
    chunk_size: u32,
    body: &[u8],
) -> Result<(Vec<u8>, B256), EnvelopeError> {
    let (mut enc, mut out) = Encryptor::new(dek, ctx, metadata, chunk_size)?;
    enc.push(body, &mut out)?;
    let h1 = enc.finish(&mut out)?;
    Ok((out, h1))
}

/// Decrypts a whole envelope held in memory.
pub fn open(
    dek: &SecretKey,
    ctx: &RecordContext,
    envelope: &[u8],
) -> Result<(Vec<u8>, Opened), EnvelopeError> {
    let mut dec = Decryptor::new(dek, ctx);
    let mut out = Vec::with_capacity(envelope.len());
    dec.push(envelope, &mut out)?;
    let opened = dec.finish(&mut out)?;
    Ok((out, opened))
}
