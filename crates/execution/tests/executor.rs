//! The executor over a real store: nonces, write-once records, determinism.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{ctx, store};
use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, Scheme};
use consortia_execution::{Account, ExecutionError, Executor, notary, read_account};
use consortia_storage::BlockWriter;
use consortia_test_utils::genesis::solo;
use consortia_test_utils::tx;
use consortia_types::{Block, Genesis, Header, ReceiptStatus, Transaction};

fn genesis() -> Genesis {
    solo(5, &[(Address([1; 20]), 77)]).0
}

fn notarize(key: &PrivateKey, nonce: u64, id: &str, content: &[u8]) -> Transaction {
    tx::notarize(key, 5, nonce, id, content)
}

#[test]
fn genesis_accounts_are_funded() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let store = store(&dir, &g);
    assert_eq!(
        read_account(&store, &Address([1; 20])).unwrap(),
        Account { nonce: 0, balance: 77, code_hash: None }
    );
    assert_eq!(read_account(&store, &Address([2; 20])).unwrap(), Account::default());
}

#[test]
fn records_are_write_once_even_within_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let store = store(&dir, &g);
    let exec = Executor::new(&g);
    let alice = PrivateKey::generate(Scheme::Ed25519);
    let bob = PrivateKey::generate(Scheme::Sm2);
    let txs = vec![
        notarize(&alice, 0, "a", b"one"),
        notarize(&bob, 0, "a", b"two"),
        notarize(&alice, 1, "b", b"one"),
    ];
    let out = exec.execute_block(&store, ctx(1), &txs).unwrap();
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert!(
        matches!(&out.receipts[1].status, ReceiptStatus::Failed { code, .. } if code == "notary_id_taken")
    );
    assert_eq!(out.receipts[2].status, ReceiptStatus::Success);
    assert_eq!(out.receipts[0].events[0].topics[0], notary::notarized_topic());

    // Commit it and look the records up.
    let prepared = store.prepare_state(1, out.changes, None).unwrap();
    let header = Header {
        chain_id: 5,
        height: 1,
        parent_hash: Hash::ZERO,
        time_ms: 1000,
        proposer: Address::default(),
        tx_count: 3,
        tx_root: Hash::ZERO,
        state_root: prepared.root(),
        receipts_root: exec.receipts_root(&out.receipts),
        next_validators_hash: Hash::ZERO,
    };
    let block = Block { header, transactions: txs, certificate: None };
    store.commit_block(&block, &out.receipts, &prepared).unwrap();
    let a = notary::get_record(&store, "a").unwrap().unwrap();
    assert_eq!(a.owner, alice.public_key().address());
    assert_eq!(a.height, 1);
    let one = HashAlgorithm::Sha256.digest(b"one");
    assert_eq!(notary::find_by_hash(&store, &one, 10).unwrap(), vec!["a", "b"]);
    assert_eq!(notary::find_by_hash(&store, &one, 1).unwrap(), vec!["a"]);
    assert!(notary::get_record(&store, "zzz").unwrap().is_none());
    // The failed transaction still used bob's nonce.
    assert_eq!(read_account(&store, &bob.public_key().address()).unwrap().nonce, 1);
    assert_eq!(read_account(&store, &alice.public_key().address()).unwrap().nonce, 2);
}

#[test]
fn bad_nonce_or_chain_makes_the_block_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let store = store(&dir, &g);
    let exec = Executor::new(&g);
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let gap = vec![notarize(&key, 1, "x", b"")];
    assert!(matches!(
        exec.execute_block(&store, ctx(1), &gap),
        Err(ExecutionError::BadNonce { index: 0, expected: 0, got: 1, .. })
    ));
    let replay = vec![notarize(&key, 0, "x", b""), notarize(&key, 0, "y", b"")];
    assert!(matches!(
        exec.execute_block(&store, ctx(1), &replay),
        Err(ExecutionError::BadNonce { index: 1, .. })
    ));
    let Transaction::Native(mut other) = notarize(&key, 0, "x", b"") else { unreachable!() };
    other.body.chain_id = 6;
    assert!(matches!(
        exec.execute_block(&store, ctx(1), &[Transaction::Native(other)]),
        Err(ExecutionError::WrongChain { .. })
    ));
}

#[test]
fn execution_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let store = store(&dir, &g);
    let exec = Executor::new(&g);
    let keys: Vec<PrivateKey> = (0..20).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
    let txs: Vec<Transaction> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| notarize(k, 0, &format!("r{}", i % 7), b"c"))
        .collect();
    let a = exec.execute_block(&store, ctx(1), &txs).unwrap();
    let b = exec.execute_block(&store, ctx(1), &txs).unwrap();
    assert_eq!(a.receipts, b.receipts);
    assert_eq!(a.changes, b.changes);
    let ra = store.prepare_state(1, a.changes, None).unwrap().root();
    let rb = store.prepare_state(1, b.changes, None).unwrap().root();
    assert_eq!(ra, rb);
}

/// Building block 2 on block 1's prepared (not yet committed) state, as the pipelined driver
/// does, gives the same receipts and state root as building it after block 1 is committed.
#[test]
fn building_on_a_pending_block_matches_building_on_a_committed_one() {
    use consortia_storage::PendingState;
    let g = genesis();
    let exec = Executor::new(&g);
    let keys: Vec<PrivateKey> = (0..5).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
    let block1: Vec<Transaction> =
        keys.iter().enumerate().map(|(i, k)| notarize(k, 0, &format!("a{i}"), b"1")).collect();
    // Block 2 reuses an id of block 1 (must fail) and advances every nonce.
    let block2: Vec<Transaction> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| notarize(k, 1, &format!("a{}", i.min(1) * 9), b"2"))
        .collect();
    let run = |pipelined: bool| {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, &g);
        let out1 = exec.execute_block(&store, ctx(1), &block1).unwrap();
        let prepared1 = store.prepare_state(1, out1.changes, None).unwrap();
        let header1 = Header {
            chain_id: 5,
            height: 1,
            parent_hash: Hash::ZERO,
            time_ms: 1000,
            proposer: Address::default(),
            tx_count: 5,
            tx_root: Hash::ZERO,
            state_root: prepared1.root(),
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        };
        let b1 = Block { header: header1, transactions: block1.clone(), certificate: None };
        if !pipelined {
            store.commit_block(&b1, &out1.receipts, &prepared1).unwrap();
        }
        let parent = pipelined.then_some(&prepared1);
        let view = PendingState::new(&store, parent);
        let out2 = exec.execute_block(&view, ctx(2), &block2).unwrap();
        let root2 = store.prepare_state(2, out2.changes, parent).unwrap().root();
        (out2.receipts, root2)
    };
    let (receipts_seq, root_seq) = run(false);
    let (receipts_pipe, root_pipe) = run(true);
    assert_eq!(receipts_seq, receipts_pipe);
    assert_eq!(root_seq, root_pipe);
    assert!(
        matches!(&receipts_seq[0].status, ReceiptStatus::Failed { code, .. } if code == "notary_id_taken")
    );
}
