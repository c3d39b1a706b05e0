//! Tier 2 (stream, range reads, master-key rotation) and HPKE DEK wrapping: round trips and every
//! binding (record, reader, purpose, contract, chain, key) enforced.

use alloy_primitives::{address, b256, B256};
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::stream::StreamError;
use medledger_protocol::tier2::{
    self, plaintext_len, range_start, rewrap, unwrap_k2, wrap_k2, wrapped_key_id, MasterKeyRing,
    Tier2Decryptor, Tier2Error, HEADER_LEN,
};
use medledger_protocol::wrap::{
    unwrap_dek, wrap_dek, KeyPair, Purpose, WrapContext, WrapError, WRAPPED_LEN,
};
use proptest::prelude::*;

const RECORD: B256 = b256!("1111111111111111111111111111111111111111111111111111111111111111");

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tier2_round_trip_and_every_range(len in 0usize..600, chunk in 16u32..100, offset_frac in 0.0f64..=1.0) {
        let k2 = SecretKey::generate().expect("rng");
        let c1 = data(len);
        let c2 = tier2::seal(&k2, RECORD, chunk, &c1).expect("seal");
        prop_assert_eq!(tier2::open(&k2, RECORD, &c2).expect("open"), c1.clone());
        prop_assert_eq!(plaintext_len(chunk, c2.len() as u64).expect("len").0, len as u64);

        let offset = ((len as f64) * offset_frac) as u64;
        let (mut dec, start) =
            Tier2Decryptor::for_range(&k2, RECORD, &c2[..HEADER_LEN], c2.len() as u64, offset)
                .expect("range");
        let mut out = Vec::new();
        // Feed from the computed offset in odd-sized pieces.
        for piece in c2[start.c2_offset as usize..].chunks(13) {
            dec.push(piece, &mut out).expect("push");
        }
        dec.finish(&mut out).expect("finish");
        prop_assert_eq!(&out[..], &c1[offset as usize..]);
    }

    #[test]
    fn hpke_wrap_round_trips_for_any_dek_and_context(
        dek in any::<[u8; 32]>(),
        ikm in any::<[u8; 32]>(),
        record in any::<[u8; 32]>(),
        reader in any::<[u8; 20]>(),
        chain in any::<u64>(),
        break_glass in any::<bool>(),
    ) {
        let kp = KeyPair::derive(&ikm);
        let ctx = WrapContext {
            chain_id: chain,
            contract: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            record_id: B256::from(record),
            reader: reader.into(),
            purpose: if break_glass { Purpose::BreakGlass } else { Purpose::Reader },
        };
        let dek = SecretKey::from_bytes(dek);
        let wrapped = wrap_dek(&dek, &kp.public(), &ctx).expect("wrap");
        prop_assert_eq!(unwrap_dek(&wrapped, &kp, &ctx).expect("unwrap"), dek);
    }

    #[test]
    fn tier2_decoder_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..300), off in any::<u64>()) {
        let k2 = SecretKey::from_bytes([1; 32]);
        let _ = tier2::open(&k2, RECORD, &garbage);
        let _ = Tier2Decryptor::for_range(&k2, RECORD, &garbage, garbage.len() as u64, off);
        let ring = MasterKeyRing::new(1, &k2);
        let _ = unwrap_k2(&ring, &RECORD, &garbage);
        let kp = KeyPair::derive(&[3; 32]);
        let _ = unwrap_dek(&garbage, &kp, &wctx(Purpose::Reader));
    }
}

#[test]
fn bounded_range_may_stop_early_but_not_mid_chunk() {
    let k2 = SecretKey::generate().expect("rng");
    let c1 = data(500);
    let c2 = tier2::seal(&k2, RECORD, 64, &c1).expect("seal");
    let (mut dec, start) =
        Tier2Decryptor::for_range(&k2, RECORD, &c2, c2.len() as u64, 130).expect("range");
    assert_eq!(start.chunk_index, 2);
    assert_eq!(start.skip, 2);
    assert_eq!(start.c2_offset, HEADER_LEN as u64 + 2 * 80);
    let mut out = Vec::new();
    let from = start.c2_offset as usize;
    dec.push(&c2[from..from + 80], &mut out).expect("one chunk");
    assert_eq!(out, c1[130..192]);
    dec.finish(&mut out)
        .expect("stopping on a chunk boundary is fine");

    let (mut dec, _) =
        Tier2Decryptor::for_range(&k2, RECORD, &c2, c2.len() as u64, 130).expect("range");
    dec.push(&c2[from..from + 50], &mut out).expect("partial");
    assert_eq!(
        dec.finish(&mut out),
        Err(Tier2Error::Stream(StreamError::Truncated(2)))
    );
}

#[test]
fn range_errors() {
    let k2 = SecretKey::from_bytes([2; 32]);
    let c2 = tier2::seal(&k2, RECORD, 64, &data(100)).expect("seal");
    let header = tier2::Header::parse(&c2).expect("header");
    assert_eq!(
        range_start(&header, c2.len() as u64, 101),
        Err(Tier2Error::OffsetOutOfRange {
            offset: 101,
            len: 100
        })
    );
    // A stored length that no tier-2 stream can have (final piece shorter than a tag).
    assert_eq!(
        range_start(&header, HEADER_LEN as u64 + 80 + 5, 0),
        Err(Tier2Error::BadTotalLength(HEADER_LEN as u64 + 85))
    );
    assert!(matches!(
        Tier2Decryptor::for_range(&k2, B256::ZERO, &c2, c2.len() as u64, 0),
        Err(Tier2Error::WrongRecord { .. })
    ));
}

#[test]
fn tier2_tamper_truncation_and_wrong_key() {
    let k2 = SecretKey::from_bytes([2; 32]);
    let c1 = data(200);
    let c2 = tier2::seal(&k2, RECORD, 64, &c1).expect("seal");
    let mut bad = c2.clone();
    bad[HEADER_LEN + 80 + 5] ^= 1;
    assert_eq!(
        tier2::open(&k2, RECORD, &bad),
        Err(Tier2Error::Stream(StreamError::ChunkTampered(1)))
    );
    assert_eq!(
        tier2::open(&k2, RECORD, &c2[..HEADER_LEN + 160]),
        Err(Tier2Error::Stream(StreamError::TruncatedAtChunkBoundary(1)))
    );
    assert_eq!(
        tier2::open(&SecretKey::from_bytes([3; 32]), RECORD, &c2),
        Err(Tier2Error::Stream(StreamError::ChunkTampered(0)))
    );
    assert!(matches!(
        tier2::open(&k2, B256::ZERO, &c2),
        Err(Tier2Error::WrongRecord { .. })
    ));
    let mut bad = c2.clone();
    bad[44] ^= 1; // nonce prefix is in every chunk's AAD and nonce
    assert_eq!(
        tier2::open(&k2, RECORD, &bad),
        Err(Tier2Error::Stream(StreamError::ChunkTampered(0)))
    );
    assert_eq!(
        tier2::open(&k2, RECORD, &c2[..10]),
        Err(Tier2Error::TruncatedHeader)
    );
}

#[test]
fn master_key_rotation_rewraps_and_keeps_old_wraps_readable_until_removed() {
    let mk1 = SecretKey::from_bytes([0x11; 32]);
    let mk2 = SecretKey::from_bytes([0x22; 32]);
    let k2 = SecretKey::generate().expect("rng");
    let mut ring = MasterKeyRing::new(1, &mk1);
    let w1 = wrap_k2(&ring, &RECORD, &k2).expect("wrap");
    assert_eq!(wrapped_key_id(&w1), Ok(1));
    assert_eq!(unwrap_k2(&ring, &RECORD, &w1).expect("unwrap"), k2);
    // Another record's wrap does not open for this one.
    assert_eq!(
        unwrap_k2(&ring, &B256::ZERO, &w1),
        Err(Tier2Error::K2Unwrap)
    );

    ring.rotate_to(2, &mk2).expect("rotate");
    assert_eq!(ring.current_id(), 2);
    assert_eq!(unwrap_k2(&ring, &RECORD, &w1).expect("old still opens"), k2);
    let w2 = rewrap(&ring, &RECORD, &w1)
        .expect("rewrap")
        .expect("changed");
    assert_eq!(wrapped_key_id(&w2), Ok(2));
    assert_eq!(unwrap_k2(&ring, &RECORD, &w2).expect("new opens"), k2);
    assert_eq!(rewrap(&ring, &RECORD, &w2), Ok(None));

    assert!(!ring.remove(2), "the current key cannot be removed");
    assert!(ring.remove(1));
    assert_eq!(
        unwrap_k2(&ring, &RECORD, &w1),
        Err(Tier2Error::UnknownMasterKey(1))
    );
    assert_eq!(ring.rotate_to(2, &mk1), Err(Tier2Error::DuplicateKeyId(2)));

    // The key id is authenticated: relabelling a wrap under another id fails.
    let mut ring = MasterKeyRing::new(1, &mk1);
    ring.add_retired(2, &mk1).expect("same bytes, other id");
    let mut relabelled = w1;
    relabelled[4] = 2;
    assert_eq!(
        unwrap_k2(&ring, &RECORD, &relabelled),
        Err(Tier2Error::K2Unwrap)
    );
    assert_eq!(
        unwrap_k2(&ring, &RECORD, &w1[..20]),
        Err(Tier2Error::BadWrappedLength(20))
    );
    let shown = format!("{ring:?}");
    assert!(
        shown.contains("key_ids") && !shown.contains("17"),
        "{shown}"
    );
}

fn wctx(purpose: Purpose) -> WrapContext {
    WrapContext {
        chain_id: 1337,
        contract: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
        record_id: RECORD,
        reader: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        purpose,
    }
}

#[test]
fn hpke_wrap_round_trip_and_bindings() {
    let reader = KeyPair::generate().expect("rng");
    let dek = SecretKey::generate().expect("rng");
    let ctx = wctx(Purpose::Reader);
    let wrapped = wrap_dek(&dek, &reader.public(), &ctx).expect("wrap");
    assert_eq!(wrapped.len(), WRAPPED_LEN);
    assert_eq!(unwrap_dek(&wrapped, &reader, &ctx).expect("unwrap"), dek);
    // Fresh ephemeral key each time.
    assert_ne!(
        wrap_dek(&dek, &reader.public(), &ctx).expect("wrap"),
        wrapped
    );

    let variants = {
        let mut v = Vec::new();
        v.push(wctx(Purpose::BreakGlass));
        let mut c = ctx;
        c.record_id = B256::ZERO;
        v.push(c);
        let mut c = ctx;
        c.reader = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        v.push(c);
        let mut c = ctx;
        c.contract = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");
        v.push(c);
        let mut c = ctx;
        c.chain_id = 1;
        v.push(c);
        v
    };
    for other in variants {
        assert_eq!(
            unwrap_dek(&wrapped, &reader, &other),
            Err(WrapError::WrongKeyOrContext),
            "{other:?}"
        );
    }
    let stranger = KeyPair::generate().expect("rng");
    assert_eq!(
        unwrap_dek(&wrapped, &stranger, &ctx),
        Err(WrapError::WrongKeyOrContext)
    );
    for i in 0..WRAPPED_LEN {
        let mut bad = wrapped;
        bad[i] ^= 0x20;
        assert!(unwrap_dek(&bad, &reader, &ctx).is_err(), "byte {i}");
    }
    let mut bad = wrapped;
    bad[0] = 7;
    assert_eq!(
        unwrap_dek(&bad, &reader, &ctx),
        Err(WrapError::UnsupportedVersion(7))
    );
    assert_eq!(
        unwrap_dek(&wrapped[..80], &reader, &ctx),
        Err(WrapError::BadLength(80))
    );
}

#[test]
fn keypair_round_trips_through_secret_bytes_and_redacts() {
    let kp = KeyPair::derive(&[9; 32]);
    let again = KeyPair::from_secret_bytes(*kp.expose_secret()).expect("restore");
    assert_eq!(again.public(), kp.public());
    assert_ne!(KeyPair::derive(&[8; 32]).public(), kp.public());
    let shown = format!("{kp:?}");
    assert!(shown.contains("redacted"));
    let secret_hex: String = kp
        .expose_secret()
        .iter()
        .map(|b| format!("{b}, "))
        .collect();
    assert!(!shown.contains(secret_hex.trim_end_matches(", ")));
}
