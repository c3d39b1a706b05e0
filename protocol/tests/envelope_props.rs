//! Envelope v1: round trips over body sizes, chunk sizes and push splits (proptest), `h1` agreement
//! between encryptor, decryptor and the keyless hasher, and tamper tests over every region.

use alloy_primitives::{address, b256, B256};
use medledger_protocol::cipher::{AesGcm256, SecretKey};
use medledger_protocol::envelope::{
    self, Decryptor, Encryptor, EnvelopeError, H1Hasher, Header, Metadata, RecordContext,
    RecordKind, HEADER_LEN,
};
use medledger_protocol::stream::StreamError;
use proptest::prelude::*;

fn ctx() -> RecordContext {
    RecordContext {
        chain_id: 1337,
        contract: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
        record_id: b256!("1111111111111111111111111111111111111111111111111111111111111111"),
        patient: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    }
}

fn meta() -> Metadata {
    Metadata {
        kind: RecordKind::Document,
        created: 1_795_593_300,
        media_type: "application/pdf".into(),
        file_name: "blood-panel.pdf".into(),
    }
}

fn key() -> SecretKey {
    SecretKey::from_bytes([0x42; 32])
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Seals with a fixed prefix so tamper tests can rebuild neighbours deterministically.
fn seal_fixed(ctx: &RecordContext, chunk: u32, data: &[u8], prefix: [u8; 8]) -> (Vec<u8>, B256) {
    let (mut enc, mut out) =
        Encryptor::with_cipher(AesGcm256::new(&key()), ctx, &meta(), chunk, prefix).expect("start");
    enc.push(data, &mut out).expect("push");
    let h1 = enc.finish(&mut out).expect("finish");
    (out, h1)
}

fn open_err(ctx: &RecordContext, c1: &[u8]) -> EnvelopeError {
    envelope::open(&key(), ctx, c1).expect_err("must fail")
}

fn h1_of(c1: &[u8]) -> Result<B256, EnvelopeError> {
    let mut h = H1Hasher::new();
    h.push(c1)?;
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_any_size_and_split(
        len in 0usize..2000,
        chunk in 16u32..200,
        splits in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let data = body(len);
        let dek = SecretKey::generate().expect("rng");
        let (mut enc, mut c1) = Encryptor::new(&dek, &ctx(), &meta(), chunk).expect("start");
        // Push the body in irregular pieces.
        let mut rest = &data[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = splits[i % splits.len()].min(rest.len());
            enc.push(&rest[..n], &mut c1).expect("push");
            rest = &rest[n..];
            i += 1;
        }
        let h1 = enc.finish(&mut c1).expect("finish");

        let chunks = if len == 0 { 1 } else { len.div_ceil(chunk as usize) };
        let meta_len = Header::parse(&c1).expect("header").metadata_len as usize;
        prop_assert_eq!(c1.len(), HEADER_LEN + meta_len + len + 16 * chunks);

        // Decrypt with other irregular splits.
        let mut dec = Decryptor::new(&dek, &ctx());
        let mut plain = Vec::new();
        for piece in c1.chunks(splits[0] + 7) {
            dec.push(piece, &mut plain).expect("push");
        }
        let opened = dec.finish(&mut plain).expect("finish");
        prop_assert_eq!(&plain, &data);
        prop_assert_eq!(opened.metadata, meta());
        prop_assert_eq!(opened.h1, h1);

        let mut hasher = H1Hasher::new();
        for piece in c1.chunks(splits[splits.len() - 1]) {
            hasher.push(piece).expect("hash");
        }
        prop_assert_eq!(hasher.finish().expect("h1"), h1);
    }

    #[test]
    fn metadata_round_trip(kind in any::<u8>(), created in any::<u64>(),
                           mt in "[a-z/+.-]{0,60}", name in "\\PC{0,80}") {
        let m = Metadata { kind: RecordKind::from_byte(kind), created, media_type: mt, file_name: name };
        let enc = m.encode().expect("encode");
        prop_assert_eq!(enc.len() % 64, 0);
        prop_assert_eq!(Metadata::decode(&enc).expect("decode"), m);
    }

    #[test]
    fn any_single_bit_flip_is_detected(len in 0usize..300, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (c1, _) = seal_fixed(&ctx(), 32, &body(len), [9; 8]);
        let mut bad = c1.clone();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(envelope::open(&key(), &ctx(), &bad).is_err());
    }

    #[test]
    fn decoders_never_panic_on_garbage(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = envelope::open(&key(), &ctx(), &data);
        let _ = h1_of(&data);
        let _ = Metadata::decode(&data);
        let _ = Header::parse(&data);
    }
}

#[test]
fn io_adapters_round_trip_a_large_body_in_flat_memory() {
    let data = body(3 * 65_536 + 123);
    let dek = SecretKey::generate().expect("rng");
    let mut c1 = Vec::new();
    let h1 = envelope::encrypt_stream(
        &dek,
        &ctx(),
        &meta(),
        envelope::DEFAULT_CHUNK_SIZE,
        &data[..],
        &mut c1,
    )
    .expect("encrypt");
    assert_eq!(h1_of(&c1).expect("h1"), h1);
    let mut plain = Vec::new();
    let opened = envelope::decrypt_stream(&dek, &ctx(), &c1[..], &mut plain).expect("decrypt");
    assert_eq!(plain, data);
    assert_eq!(opened.h1, h1);
    assert_eq!(opened.header.chunk_size, 65_536);
}

#[test]
fn explicit_chunk_api_matches_push_api() {
    let data = body(100);
    let (via_push, h_push) = seal_fixed(&ctx(), 32, &data, [5; 8]);
    let (mut enc, mut out) =
        Encryptor::with_cipher(AesGcm256::new(&key()), &ctx(), &meta(), 32, [5; 8]).expect("s");
    enc.seal_chunk(&data[0..32], false, &mut out).expect("c0");
    enc.seal_chunk(&data[32..64], false, &mut out).expect("c1");
    // A short non-final chunk is refused.
    assert!(matches!(
        enc.seal_chunk(&data[64..70], false, &mut Vec::new()),
        Err(EnvelopeError::Stream(StreamError::BadChunkLength {
            index: 2,
            len: 6
        }))
    ));
    enc.seal_chunk(&data[64..96], false, &mut out).expect("c2");
    enc.seal_chunk(&data[96..], true, &mut out).expect("c3");
    assert_eq!(out, via_push);
    assert_eq!(enc.h1().expect("h1"), h_push);
}

#[test]
fn body_on_chunk_boundary_ends_with_full_final_chunk() {
    let (c1, _) = seal_fixed(&ctx(), 32, &body(64), [1; 8]);
    let meta_len = Header::parse(&c1).expect("h").metadata_len as usize;
    // Two chunks of 32 + 16, no empty third chunk.
    assert_eq!(c1.len(), HEADER_LEN + meta_len + 2 * 48);
    let (plain, _) = envelope::open(&key(), &ctx(), &c1).expect("open");
    assert_eq!(plain, body(64));
}

// ----- tamper tests over every region -------------------------------------------------------------

const CHUNK: u32 = 32;

fn sample() -> (Vec<u8>, usize) {
    let (c1, _) = seal_fixed(&ctx(), CHUNK, &body(100), [3; 8]); // chunks: 32, 32, 32, 4
    let body_start = HEADER_LEN + Header::parse(&c1).expect("h").metadata_len as usize;
    (c1, body_start)
}

fn chunk_range(body_start: usize, i: usize) -> std::ops::Range<usize> {
    let s = body_start + i * (CHUNK as usize + 16);
    s..s + CHUNK as usize + 16
}

#[test]
fn tampered_header_fields_are_reported() {
    let (c1, _) = sample();
    let mut bad = c1.clone();
    bad[0] = b'X';
    assert_eq!(open_err(&ctx(), &bad), EnvelopeError::BadMagic);
    let mut bad = c1.clone();
    bad[4] = 2;
    assert_eq!(open_err(&ctx(), &bad), EnvelopeError::UnsupportedVersion(2));
    let mut bad = c1.clone();
    bad[5] = 9;
    assert_eq!(
        open_err(&ctx(), &bad),
        EnvelopeError::UnsupportedAlgorithm(9)
    );
    let mut bad = c1.clone();
    bad[7] = 1;
    assert_eq!(open_err(&ctx(), &bad), EnvelopeError::UnsupportedFlags(1));
    let mut bad = c1.clone();
    bad[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        open_err(&ctx(), &bad),
        EnvelopeError::InvalidChunkSize(u32::MAX)
    );
    // A valid but different chunk size is caught by the metadata tag (header is in the AAD).
    let mut bad = c1.clone();
    bad[8..12].copy_from_slice(&64u32.to_be_bytes());
    assert_eq!(open_err(&ctx(), &bad), EnvelopeError::MetadataAuth);
    let mut bad = c1.clone();
    bad[20] ^= 1;
    assert!(matches!(
        open_err(&ctx(), &bad),
        EnvelopeError::WrongRecord { .. }
    ));
    let mut bad = c1.clone();
    bad[45] ^= 1; // nonce prefix
    assert_eq!(open_err(&ctx(), &bad), EnvelopeError::MetadataAuth);
    let mut bad = c1.clone();
    bad[55] = 0x11; // metadata length not a padded size
    assert!(matches!(
        open_err(&ctx(), &bad),
        EnvelopeError::InvalidMetadataLength(_)
    ));
}

#[test]
fn tampered_metadata_block_is_reported() {
    let (c1, body_start) = sample();
    for i in [HEADER_LEN, HEADER_LEN + 10, body_start - 1] {
        let mut bad = c1.clone();
        bad[i] ^= 0x80;
        assert_eq!(
            open_err(&ctx(), &bad),
            EnvelopeError::MetadataAuth,
            "byte {i}"
        );
    }
}

#[test]
fn each_tampered_chunk_is_named() {
    let (c1, body_start) = sample();
    for i in 0..4 {
        let r = chunk_range(body_start, i);
        let mut bad = c1.clone();
        let at = (r.start + 3).min(c1.len() - 1);
        bad[at] ^= 0x01;
        assert_eq!(
            open_err(&ctx(), &bad),
            EnvelopeError::Stream(StreamError::ChunkTampered(i as u32)),
            "chunk {i}"
        );
        // The tag region too.
        let mut bad = c1.clone();
        let last_byte = r.end.min(c1.len()) - 1;
        bad[last_byte] ^= 0x01;
        assert_eq!(
            open_err(&ctx(), &bad),
            EnvelopeError::Stream(StreamError::ChunkTampered(i as u32))
        );
    }
}

#[test]
fn truncation_is_reported_everywhere() {
    let (c1, body_start) = sample();
    assert_eq!(
        open_err(&ctx(), &c1[..10]),
        EnvelopeError::Truncated("header")
    );
    assert_eq!(
        open_err(&ctx(), &c1[..HEADER_LEN + 5]),
        EnvelopeError::Truncated("metadata block")
    );
    assert_eq!(
        open_err(&ctx(), &c1[..body_start]),
        EnvelopeError::Stream(StreamError::Truncated(0))
    );
    // Cut at each chunk boundary: the previous chunk was not sealed as final.
    for i in 1..4 {
        let cut = chunk_range(body_start, i).start;
        assert_eq!(
            open_err(&ctx(), &c1[..cut]),
            EnvelopeError::Stream(StreamError::TruncatedAtChunkBoundary(i as u32 - 1)),
            "cut before chunk {i}"
        );
    }
    // Cut inside the last chunk (shorter than a tag) and inside a middle chunk.
    assert_eq!(
        open_err(&ctx(), &c1[..c1.len() - 10]),
        EnvelopeError::Stream(StreamError::Truncated(3))
    );
    let mid = chunk_range(body_start, 1).start + 20;
    assert_eq!(
        open_err(&ctx(), &c1[..mid]),
        EnvelopeError::Stream(StreamError::ChunkTampered(1))
    );
    // The keyless hasher also refuses a stream cut inside the header or metadata.
    assert!(h1_of(&c1[..HEADER_LEN + 3]).is_err());
}

#[test]
fn reordered_dropped_duplicated_and_extended_chunks_fail() {
    let (c1, body_start) = sample();
    let c = |i| c1[chunk_range(body_start, i)].to_vec();
    let head = &c1[..body_start];
    let last = &c1[chunk_range(body_start, 3).start..];

    let build = |parts: &[&[u8]]| -> Vec<u8> {
        let mut v = head.to_vec();
        for p in parts {
            v.extend_from_slice(p);
        }
        v
    };
    // Swap chunks 0 and 1.
    let swapped = build(&[&c(1), &c(0), &c(2), last]);
    assert_eq!(
        open_err(&ctx(), &swapped),
        EnvelopeError::Stream(StreamError::ChunkTampered(0))
    );
    // Drop chunk 1.
    let dropped = build(&[&c(0), &c(2), last]);
    assert_eq!(
        open_err(&ctx(), &dropped),
        EnvelopeError::Stream(StreamError::ChunkTampered(1))
    );
    // Duplicate chunk 0.
    let dup = build(&[&c(0), &c(0), &c(1), &c(2), last]);
    assert_eq!(
        open_err(&ctx(), &dup),
        EnvelopeError::Stream(StreamError::ChunkTampered(1))
    );
    // Append bytes after the final chunk: it is no longer final.
    let mut extended = c1.clone();
    extended.extend_from_slice(&[0u8; 20]);
    assert!(matches!(
        open_err(&ctx(), &extended),
        EnvelopeError::Stream(StreamError::ChunkTampered(_))
    ));
}

#[test]
fn chunk_moved_from_another_record_fails_even_under_the_same_key_and_prefix() {
    let (c1, body_start) = sample();
    let mut other_ctx = ctx();
    other_ctx.record_id = b256!("2222222222222222222222222222222222222222222222222222222222222222");
    let (other, other_start) = {
        let (o, _) = seal_fixed(&other_ctx, CHUNK, &body(100), [3; 8]);
        let s = HEADER_LEN + Header::parse(&o).expect("h").metadata_len as usize;
        (o, s)
    };
    let mut spliced = c1.clone();
    let r = chunk_range(body_start, 1);
    spliced[r.clone()].copy_from_slice(&other[chunk_range(other_start, 1)]);
    assert_eq!(
        open_err(&ctx(), &spliced),
        EnvelopeError::Stream(StreamError::ChunkTampered(1))
    );
}

#[test]
fn wrong_context_or_key_fails_at_the_metadata_block() {
    let (c1, _) = sample();
    let mut c = ctx();
    c.patient = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    assert_eq!(open_err(&c, &c1), EnvelopeError::MetadataAuth);
    let mut c = ctx();
    c.contract = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    assert_eq!(open_err(&c, &c1), EnvelopeError::MetadataAuth);
    let mut c = ctx();
    c.chain_id = 1;
    assert_eq!(open_err(&c, &c1), EnvelopeError::MetadataAuth);
    let mut c = ctx();
    c.record_id = B256::ZERO;
    assert!(matches!(
        open_err(&c, &c1),
        EnvelopeError::WrongRecord { .. }
    ));
    let wrong = SecretKey::from_bytes([0x43; 32]);
    assert_eq!(
        envelope::open(&wrong, &ctx(), &c1).expect_err("wrong key"),
        EnvelopeError::MetadataAuth
    );
}

#[test]
fn decryptor_refuses_input_after_an_error_and_h1_changes_with_any_chunk() {
    let (c1, body_start) = sample();
    let mut bad = c1.clone();
    bad[body_start + 1] ^= 1;
    let mut dec = envelope::Decryptor::new(&key(), &ctx());
    let mut out = Vec::new();
    assert!(dec.push(&bad, &mut out).is_err());
    assert!(dec.push(&[0], &mut out).is_err());
    // Plaintext of the tampered chunk was not released.
    assert!(out.is_empty());
    assert_ne!(
        h1_of(&bad).expect("framing intact"),
        h1_of(&c1).expect("h1")
    );
}

#[test]
fn oversized_metadata_is_refused() {
    let mut m = meta();
    m.file_name = "x".repeat(1025);
    let err = Encryptor::new(&key(), &ctx(), &m, 64)
        .err()
        .expect("must fail");
    assert_eq!(err, EnvelopeError::MetadataTooLong("file name"));
    assert_eq!(
        Encryptor::new(&key(), &ctx(), &meta(), 8).err(),
        Some(EnvelopeError::InvalidChunkSize(8))
    );
}
