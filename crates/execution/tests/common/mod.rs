//! Fixtures shared by the executor's tests: a real store at genesis, a block context.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose
#![allow(dead_code, unreachable_pub)] // each test file uses its own part of this module

use alloy_primitives::{TxKind, U256};
use consortia_crypto::{Address, Hash, PrivateKey};
use consortia_execution::{BlockContext, BlockOutcome, Executor};
use consortia_storage::{BlockWriter, ChainStore};
use consortia_test_utils::tx;
use consortia_types::{Block, EvmCall, Genesis, Header, Payload, Transaction};

/// A store initialized with `g`'s block 0.
pub fn store(dir: &tempfile::TempDir, g: &Genesis) -> ChainStore {
    let (store, _) = ChainStore::open(&dir.path().join("db"), g).unwrap();
    let prepared = store.prepare_state(0, Executor::genesis_state(g), None).unwrap();
    let header = Header {
        chain_id: g.chain_id,
        height: 0,
        parent_hash: Hash::ZERO,
        time_ms: 0,
        proposer: Address::default(),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root: prepared.root(),
        receipts_root: Hash::ZERO,
        next_validators_hash: Hash::ZERO,
    };
    store
        .initialize(&Block { header, transactions: vec![], certificate: None }, &prepared)
        .unwrap();
    store
}

/// The context of block `height` (time and parent hash derived from it).
pub fn ctx(height: u64) -> BlockContext {
    BlockContext {
        height,
        time_ms: height * 1000,
        proposer: Address::default(),
        parent_hash: Hash([height as u8; 32]),
    }
}

pub fn native(
    key: &PrivateKey,
    nonce: u64,
    to: Option<Address>,
    value: u128,
    input: Vec<u8>,
) -> Transaction {
    let call = EvmCall { to, value, input, gas_limit: 300_000 };
    tx::native(key, 5, nonce, Payload::Evm(call))
}

pub fn eth(key: &PrivateKey, nonce: u64, to: Address, value: u128, input: Vec<u8>) -> Transaction {
    let to = TxKind::Call(alloy_primitives::Address::from(to.0));
    let body = tx::eip1559(5, nonce, to, input);
    tx::eth(
        alloy_consensus::TxEip1559 { gas_limit: 100_000, value: U256::from(value), ..body },
        key,
    )
}

pub struct Chain {
    _dir: tempfile::TempDir,
    pub store: ChainStore,
    pub exec: Executor,
    pub height: u64,
}

impl Chain {
    pub fn new(g: &Genesis) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, g);
        Chain { _dir: dir, store, exec: Executor::new(g), height: 0 }
    }

    pub fn run(&mut self, txs: Vec<Transaction>) -> BlockOutcome {
        self.height += 1;
        let out = self.exec.execute_block(&self.store, ctx(self.height), &txs).unwrap();
        let prepared = self.store.prepare_state(self.height, out.changes.clone(), None).unwrap();
        let header = Header {
            chain_id: 5,
            height: self.height,
            parent_hash: Hash::ZERO,
            time_ms: self.height * 1000,
            proposer: Address::default(),
            tx_count: txs.len() as u32,
            tx_root: Hash::ZERO,
            state_root: prepared.root(),
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        };
        let block = Block { header, transactions: txs, certificate: None };
        self.store.commit_block(&block, &out.receipts, &prepared).unwrap();
        out
    }
}
