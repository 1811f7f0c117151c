//! Consensus messages from peers (proposals, votes, Raft messages): decoding never panics and
//! what decodes encodes back to the same bytes.
#![no_main]

use consortia_consensus::Message;
use consortia_types::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode::<Message>(data) {
        assert_eq!(encode(&message), data, "borsh is canonical");
        let _ = message.height();
    }
});
