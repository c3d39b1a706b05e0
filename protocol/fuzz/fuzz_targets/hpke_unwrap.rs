//! HPKE DEK unwrap on arbitrary wrapped bytes and reader keys: no panic, and nothing forged opens.
#![no_main]

use alloy_primitives::{Address, B256};
use libfuzzer_sys::fuzz_target;
use medledger_protocol::wrap::{unwrap_dek, KeyPair, Purpose, WrapContext};

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let (ikm, wrapped) = data.split_at(32);
    let Ok(ikm) = <[u8; 32]>::try_from(ikm) else {
        return;
    };
    let kp = KeyPair::derive(&ikm);
    let ctx = WrapContext {
        chain_id: 1337,
        contract: Address::repeat_byte(0x5f),
        record_id: B256::repeat_byte(0xa1),
        reader: Address::repeat_byte(0x70),
        purpose: Purpose::Reader,
    };
    // A wrap nobody made for this key cannot open (the AEAD tag would have to be forged).
    assert!(unwrap_dek(wrapped, &kp, &ctx).is_err());
});
