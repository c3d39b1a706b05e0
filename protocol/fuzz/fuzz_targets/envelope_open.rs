//! Envelope v1 parser and decryptor on arbitrary bytes: no panic, and the keyless h1 hasher agrees
//! with the decryptor whenever both succeed. The first byte picks where the input is split in two
//! pushes, so the resumable state machine is exercised at every boundary.
#![no_main]

use alloy_primitives::{Address, B256};
use libfuzzer_sys::fuzz_target;
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::envelope::{Decryptor, H1Hasher, RecordContext};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let ctx = RecordContext {
        chain_id: 1337,
        contract: Address::repeat_byte(0x5f),
        record_id: B256::repeat_byte(0xa1),
        patient: Address::repeat_byte(0xf3),
    };
    let at = (usize::from(split) * data.len()) / 255;
    let (a, b) = data.split_at(at.min(data.len()));
    let mut dec = Decryptor::new(&SecretKey::from_bytes([0x42; 32]), &ctx);
    let mut out = Vec::new();
    let opened = dec
        .push(a, &mut out)
        .and_then(|()| dec.push(b, &mut out))
        .and_then(|()| dec.finish(&mut out));
    let mut hasher = H1Hasher::new();
    let h1 = hasher
        .push(a)
        .and_then(|()| hasher.push(b))
        .and_then(|()| hasher.finish());
    if let (Ok(opened), Ok(h1)) = (opened, h1) {
        assert_eq!(opened.h1, h1);
    }
});
