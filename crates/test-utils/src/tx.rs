//! Transactions for tests: native envelopes signed with any scheme, and Ethereum ones.

use std::collections::BTreeMap;

use alloy_consensus::{TxEip1559, TxEip2930, TxLegacy};
use alloy_primitives::TxKind;
use consortia_crypto::{Address, HashAlgorithm, PrivateKey};
use consortia_types::{EthTx, EvmCall, NotarizeRecord, Payload, Transaction, TxBody};

/// The gas limit the builders give a call.
pub const GAS: u64 = 200_000;

/// A notarization record `id` of `content` (its SHA-256), with one field `n` (the nonce it is
/// sent with, so records of one sender differ).
pub fn record(id: &str, nonce: u64, content: &[u8]) -> NotarizeRecord {
    NotarizeRecord {
        id: id.into(),
        fields: BTreeMap::from([("n".into(), nonce.to_string())]),
        content_hash: HashAlgorithm::Sha256.digest(content),
        metadata: "test".into(),
    }
}

/// A native transaction carrying `payload`, signed by `key` (any scheme).
pub fn native(key: &PrivateKey, chain_id: u64, nonce: u64, payload: Payload) -> Transaction {
    Transaction::sign(TxBody { chain_id, nonce, public_key: key.public_key(), payload }, key)
}

/// A native notarization of `content` under `id`.
pub fn notarize(
    key: &PrivateKey,
    chain_id: u64,
    nonce: u64,
    id: &str,
    content: &[u8],
) -> Transaction {
    native(key, chain_id, nonce, Payload::Notarize(record(id, nonce, content)))
}

/// The payload of a native EVM call (`to` none: a creation) with [`GAS`].
pub fn evm_call(to: Option<Address>, value: u128, input: Vec<u8>) -> Payload {
    Payload::Evm(EvmCall { to, value, input, gas_limit: GAS })
}

/// An EIP-1559 body at gas price 0 with [`GAS`] (adjust fields with struct update syntax).
pub fn eip1559(chain_id: u64, nonce: u64, to: TxKind, input: Vec<u8>) -> TxEip1559 {
    TxEip1559 { chain_id, nonce, gas_limit: GAS, to, input: input.into(), ..Default::default() }
}

/// An EIP-2930 body at gas price 0 with [`GAS`] and an empty access list.
pub fn eip2930(chain_id: u64, nonce: u64, to: TxKind, input: Vec<u8>) -> TxEip2930 {
    TxEip2930 { chain_id, nonce, gas_limit: GAS, to, input: input.into(), ..Default::default() }
}

/// A legacy body with its EIP-155 chain id, at gas price 0 with [`GAS`].
pub fn legacy(chain_id: u64, nonce: u64, to: TxKind, input: Vec<u8>) -> TxLegacy {
    TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_limit: GAS,
        to,
        input: input.into(),
        ..Default::default()
    }
}

/// An Ethereum body signed by a secp256k1 `key`, as a web3 client sends it.
pub fn eth<T>(tx: T, key: &PrivateKey) -> Transaction
where
    T: alloy_consensus::SignableTransaction<alloy_primitives::Signature>,
    alloy_consensus::TxEnvelope: From<alloy_consensus::Signed<T>>,
{
    Transaction::Ethereum(EthTx::sign(tx, key).expect("a secp256k1 key signs Ethereum bodies"))
}

#[cfg(test)]
mod tests {
    use consortia_crypto::Scheme;

    use super::*;

    #[test]
    fn every_envelope_and_scheme_signs_and_names_its_sender() {
        for scheme in [Scheme::Ed25519, Scheme::Secp256k1, Scheme::Sm2] {
            let key = PrivateKey::generate(scheme);
            let tx = notarize(&key, 7, 3, "doc", b"content");
            assert_eq!((tx.chain_id(), tx.nonce()), (Some(7), 3));
            assert_eq!(tx.sender(), key.public_key().address());
            let call = native(&key, 7, 4, evm_call(None, 0, vec![1]));
            assert!(call.evm_call().is_some());
        }
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let to = TxKind::Call(alloy_primitives::Address::repeat_byte(1));
        for tx in [
            eth(eip1559(7, 0, to, vec![]), &key),
            eth(eip2930(7, 1, to, vec![]), &key),
            eth(legacy(7, 2, to, vec![]), &key),
        ] {
            assert_eq!(tx.chain_id(), Some(7));
            assert_eq!(tx.sender(), key.public_key().address());
        }
    }
}
