//! Transaction bytes as a node admits them (`POST /v1/transactions`, gossip, blocks): decoding
//! never panics; what decodes encodes back to the same bytes; stateless checks and hashing hold
//! up whatever decoded.
#![no_main]

use consortia_crypto::HashAlgorithm;
use consortia_types::{ChainParams, Transaction, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let max = ChainParams::default().max_tx_bytes as usize;
    if let Ok(tx) = Transaction::decode(data, max) {
        assert_eq!(encode(&tx), data, "borsh is canonical");
        let _ = tx.check_stateless(7);
        let _ = tx.hash(HashAlgorithm::Sha256);
        let _ = tx.sender();
    }
});
