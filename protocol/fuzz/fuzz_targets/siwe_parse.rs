//! SIWE parser and RFC 3339 parser on arbitrary text: no panic, and what parses renders back to
//! exactly the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medledger_protocol::identity::{parse_rfc3339, SiweMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_rfc3339(text);
    if let Ok(msg) = SiweMessage::parse(text) {
        assert_eq!(msg.to_string(), text);
    }
});
