//! Pins the canonical encodings: if one of these hashes changes, the wire format or the
//! hashing rules changed, which breaks every existing chain. Change a pin only on purpose.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;

use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, Scheme, Suite};
use consortia_types::{
    ChainParams, CommitCertificate, EthTx, Genesis, GenesisAccount, GenesisMember, Header,
    NodeIdentity, NotarizeRecord, Payload, Receipt, ReceiptStatus, Transaction, TxBody, Validator,
    Vote, VoteKind, encode,
};

fn key() -> PrivateKey {
    // RFC 8032 TEST 1 secret: deterministic ed25519 signatures make the whole encoding fixed.
    let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .expect("valid hex");
    PrivateKey::from_secret_bytes(Scheme::Ed25519, &seed).expect("valid seed")
}

fn fixed_tx() -> Transaction {
    Transaction::sign(
        TxBody {
            chain_id: 1001,
            nonce: 42,
            public_key: key().public_key(),
            payload: Payload::Notarize(NotarizeRecord {
                id: "invoice-2026-0001".into(),
                fields: BTreeMap::from([
                    ("buyer".into(), "org2".into()),
                    ("seller".into(), "org1".into()),
                ]),
                content_hash: HashAlgorithm::Sha256.digest(b"invoice body"),
                metadata: "{\"pages\":3}".into(),
            }),
        },
        &key(),
    )
}

fn fixed_header() -> Header {
    Header {
        chain_id: 1001,
        height: 7,
        parent_hash: Hash([0xab; 32]),
        time_ms: 1_790_000_000_000,
        proposer: key().public_key().address(),
        tx_count: 1,
        tx_root: Hash([1; 32]),
        state_root: Hash([2; 32]),
        receipts_root: Hash([3; 32]),
        next_validators_hash: Hash([4; 32]),
    }
}

fn pin(name: &str, bytes: &[u8], want: &str) {
    let got = HashAlgorithm::Sha256.digest(bytes).to_hex();
    assert_eq!(got, want, "{name}: encoding changed (got {got})");
}

#[test]
fn transaction_encoding_is_pinned() {
    let tx = fixed_tx();
    pin(
        "transaction",
        &encode(&tx),
        "0x5d5cc410f7d9e9478b375ede6e7fa115d7f9b5a54b0318ff15013b38cd7bf69c",
    );
    assert_eq!(
        tx.hash(HashAlgorithm::Sha256).to_hex(),
        "0x5d5cc410f7d9e9478b375ede6e7fa115d7f9b5a54b0318ff15013b38cd7bf69c"
    );
    tx.verify_signature().expect("fixed transaction verifies");
}

/// An Ethereum transaction is kept as the bytes its wallet signed (RFC 6979 signatures are
/// deterministic): the hash is the one every Ethereum tool computes, whatever the chain's suite.
#[test]
fn ethereum_transaction_encoding_is_pinned() {
    use alloy_primitives::{TxKind, U256};
    let key = PrivateKey::from_secret_bytes(Scheme::Secp256k1, &[0x46; 32]).expect("valid key");
    let tx = alloy_consensus::TxEip1559 {
        chain_id: 1001,
        nonce: 9,
        gas_limit: 60_000,
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(alloy_primitives::Address::repeat_byte(0x35)),
        value: U256::from(1_000u64),
        access_list: Default::default(),
        input: vec![0xa9, 0x05, 0x9c, 0xbb].into(),
    };
    let tx = Transaction::Ethereum(EthTx::sign(tx, &key).expect("secp256k1 signs"));
    let Transaction::Ethereum(eth) = &tx else { unreachable!() };
    pin(
        "ethereum transaction",
        eth.raw(),
        "0x0050618df279edd4f9d874352c7f459beddb5536c949d398ff468affd050a731",
    );
    assert_eq!(tx.hash(HashAlgorithm::Sm3), consortia_crypto::keccak256(eth.raw()));
    assert_eq!(tx.sender(), key.public_key().address());
}

#[test]
fn header_and_vote_encodings_are_pinned() {
    pin(
        "header",
        &encode(&fixed_header()),
        "0xf7aff35757dec2b9fe73edab9d8a2b3455e95bd9b686481b379d195ce5b7d276",
    );
    let vote = Vote {
        chain_id: 1001,
        height: 7,
        round: 2,
        kind: VoteKind::Precommit,
        block_hash: Some(fixed_header().hash(HashAlgorithm::Sha256)),
    };
    pin(
        "vote signing bytes",
        &vote.signing_bytes(),
        "0x23a8f4f225d4a425056abf6241a26c86afdb7526b7a5e3140bbcf8180b5b4525",
    );
    let cert = CommitCertificate { round: 2, signatures: vec![(0, vote.sign(&key()))] };
    pin(
        "certificate",
        &encode(&cert),
        "0xc494ffda1f565a4c5dd2e638a312877749ce25dd2226dd45296e4e9bd0095b91",
    );
}

#[test]
fn receipt_and_genesis_encodings_are_pinned() {
    let receipt = Receipt {
        status: ReceiptStatus::Failed { code: "notary_id_taken".into(), message: "x".into() },
        steps_used: 21_000,
        events: vec![],
        output: vec![1, 2, 3],
    };
    pin(
        "receipt",
        &encode(&receipt),
        "0x141bf81397f81875578dab0d35d5abad8080791a624e778053669ac1ddc21d2b",
    );
    let genesis = Genesis {
        chain_id: 1001,
        chain_name: "conformance".into(),
        suite: Suite::Sm,
        time_ms: 1_790_000_000_000,
        validators: vec![Validator { name: "v0".into(), public_key: key().public_key(), power: 1 }],
        accounts: vec![GenesisAccount::funded(Address([9; 20]), 10u128.pow(24))],
        params: ChainParams::default(),
        nodes: vec![NodeIdentity { name: "node-0".into(), key: key().public_key() }],
        members: vec![GenesisMember {
            id: "org-a".into(),
            admins: vec![Address([7; 20])],
            ca_cert: String::new(),
            nodes: vec!["v0".into(), "node-0".into()],
        }],
    };
    pin(
        "genesis",
        &encode(&genesis),
        "0x1a2e0280cabe30ac1ad81aebc14a66e535a43776e3ed1d01e912be290f64c4ff",
    );
    // The sm suite names the chain with SM3.
    assert_eq!(genesis.hash(), HashAlgorithm::Sm3.digest(&encode(&genesis)));
}
