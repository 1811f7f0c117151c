//! Fixtures shared by the executor's tests: a real store at genesis, a block context.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose
#![allow(dead_code, unreachable_pub)] // each test file uses its own part of this module

use consortia_crypto::{Address, Hash};
use consortia_execution::{BlockContext, Executor};
use consortia_storage::{BlockWriter, RedbStore};
use consortia_types::{Block, Genesis, Header};

/// A store initialized with `g`'s block 0.
pub fn store(dir: &tempfile::TempDir, g: &Genesis) -> RedbStore {
    let (store, _) = RedbStore::open(&dir.path().join("db"), g).unwrap();
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
