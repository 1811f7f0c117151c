//! Ethereum transactions as a node meets them: decoding `eth_sendRawTransaction` bytes, and
//! recovering the signer (the "signature check" of an Ethereum transaction).

#![allow(clippy::unwrap_used)] // a benchmark fails loudly on purpose

use alloy_primitives::TxKind;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_types::EthTx;
use criterion::{Criterion, criterion_group, criterion_main};

fn ethereum(c: &mut Criterion) {
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let tx = alloy_consensus::TxEip1559 {
        chain_id: 1001,
        nonce: 7,
        gas_limit: 100_000,
        to: TxKind::Call(alloy_primitives::Address::repeat_byte(1)),
        input: vec![0xa9; 68].into(),
        ..Default::default()
    };
    let raw = EthTx::sign(tx, &key).unwrap().raw().to_vec();
    let mut group = c.benchmark_group("types");
    group.bench_function("eth_tx/decode", |b| b.iter(|| EthTx::decode(&raw).unwrap()));
    group.bench_function("eth_tx/decode_and_recover", |b| {
        b.iter(|| EthTx::decode(&raw).unwrap().sender().unwrap())
    });
    group.finish();
}

criterion_group!(benches, ethereum);
criterion_main!(benches);
