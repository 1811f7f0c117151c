//! Raw Ethereum transactions (`eth_sendRawTransaction`): decoding never panics, keeps the raw
//! bytes as signed, and yields a sender; the envelope re-encodes inside a native one.
#![no_main]

use consortia_types::{EthTx, Transaction, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = EthTx::decode(data) {
        assert_eq!(tx.raw(), data, "the raw bytes are kept as signed");
        let _ = tx.call();
        let wrapped = encode(&Transaction::Ethereum(tx));
        let again: Transaction = decode(&wrapped).expect("an encoded transaction decodes");
        assert_eq!(encode(&again), wrapped);
    }
});
