//! Tier-2 stream decryptor and range planner on arbitrary bytes and offsets: no panic.
#![no_main]

use alloy_primitives::B256;
use libfuzzer_sys::fuzz_target;
use medledger_protocol::cipher::SecretKey;
use medledger_protocol::tier2::{self, Tier2Decryptor};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (off, c2) = data.split_at(8);
    let offset = u64::from_be_bytes(off.try_into().unwrap_or([0; 8]));
    let k2 = SecretKey::from_bytes([0x20; 32]);
    let record = B256::repeat_byte(0xa1);
    let _ = tier2::open(&k2, record, c2);
    if let Ok((mut dec, start)) =
        Tier2Decryptor::for_range(&k2, record, c2, c2.len() as u64, offset)
    {
        let from = usize::try_from(start.c2_offset).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        if let Some(rest) = c2.get(from..) {
            let _ = dec.push(rest, &mut out).and_then(|()| dec.finish(&mut out));
        }
    }
});
