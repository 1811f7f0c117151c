//! Writes seed inputs for every fuzz target into `corpus/<target>/` (valid encodings the
//! fuzzer mutates from): `cargo run --bin seeds` in fuzz/, run by scripts/fuzz when a corpus
//! is empty.

use std::path::Path;

use alloy_primitives::TxKind;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_test_utils::tx;
use consortia_types::encode;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn main() {
    let to = TxKind::Call(alloy_primitives::Address::repeat_byte(1));
    for (i, scheme) in [Scheme::Ed25519, Scheme::Secp256k1, Scheme::Sm2].into_iter().enumerate() {
        let key = PrivateKey::generate(scheme);
        write(
            "native_tx",
            &format!("notarize-{i}"),
            &encode(&tx::notarize(&key, 7, 1, "doc", b"x")),
        );
        let call = tx::native(&key, 7, 2, tx::evm_call(None, 5, vec![0x60, 0x00]));
        write("native_tx", &format!("evm-{i}"), &encode(&call));
    }
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let signed = [
        tx::eth(tx::eip1559(7, 0, to, vec![1, 2, 3]), &key),
        tx::eth(tx::eip2930(7, 1, to, vec![]), &key),
        tx::eth(tx::legacy(7, 2, TxKind::Create, vec![0x60]), &key),
    ];
    for (i, t) in signed.iter().enumerate() {
        let consortia_types::Transaction::Ethereum(eth) = t else { unreachable!() };
        write("eth_tx", &format!("eth-{i}"), eth.raw());
        write("native_tx", &format!("wrapped-eth-{i}"), &encode(t));
    }
    for (name, bytes) in consortia_node::fuzzing::seeds() {
        write(name.0, name.1, &bytes);
    }
    println!("seeds written to corpus/");
}
