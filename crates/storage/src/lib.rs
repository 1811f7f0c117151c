//! Block store, indexes and versioned authenticated state for Consortia.
//!
//! The seam is a handful of small traits: [`BlockReader`], [`TxReader`], [`LogReader`],
//! [`ExplorerReader`], [`TokenReader`], [`StateReader`], [`StateHistory`] and [`StateProofReader`] for reads
//! (together, [`ChainReader`]: what APIs are given), [`BlockWriter`] for
//! the one write the chain makes, a whole block at a time. Nothing in the traits names the
//! engine; [`ChainStore`] implements them on `redb` (ACID, one fsync per commit) for what is
//! appended in height order (blocks, receipts, the state's nodes and values) and an LSM tree
//! (`fjall`) for the random-keyed indexes (see `index.rs`), with the state authenticated by a
//! Jellyfish Merkle tree (`jmt`) whose version is the block height, so any past state can be
//! read with a proof against that block's state root.
//!
//! It is not an executor: it stores the [`StateChanges`] the executor produced and computes
//! their root ([`BlockWriter::prepare_state`]) before the block is proposed or voted on.

mod error;
mod index;
mod proof;
mod store;
mod tokens;

use std::collections::BTreeMap;

use consortia_crypto::{Address, Hash};
use consortia_types::{Block, CommitCertificate, Genesis, Header, Height, Receipt, Transaction};

pub use error::StorageError;
pub use proof::{StateProof, verify_state_proof};
pub use store::{
    ChainStore, ChunkLimit, History, PendingState, PreparedState, StateAt, StateChunk, StateRestore,
};

pub use tokens::{TokenHolder, TokenStandard, TokenStats, TokenTransferAt};

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The state writes of one block: key → new value, or `None` to delete. Sorted, so applying
/// them is deterministic.
pub type StateChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A committed block's header with what the store keeps beside it.
#[derive(Clone, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct StoredHeader {
    pub hash: Hash,
    pub header: Header,
    pub certificate: Option<CommitCertificate>,
    pub tx_hashes: Vec<Hash>,
}

/// A committed transaction with its outcome and where it sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTx {
    pub hash: Hash,
    pub height: Height,
    pub position: u32,
    pub transaction: Transaction,
    pub receipt: Receipt,
}

pub trait BlockReader {
    /// The genesis this store was created from.
    fn genesis(&self) -> Result<Genesis>;
    /// Height of the last committed block (0 = only genesis).
    fn latest_height(&self) -> Result<Height>;
    /// The first block whose body this store holds besides block 0 (1 when nothing was
    /// pruned); reads of the blocks in between answer [`StorageError::Pruned`].
    fn first_block(&self) -> Result<Height>;
    fn header(&self, height: Height) -> Result<Option<StoredHeader>>;
    fn height_by_hash(&self, hash: &Hash) -> Result<Option<Height>>;
    /// Headers with `from_ms <= time < to_ms`, oldest (or newest) first, at most `limit`.
    fn headers_by_time(
        &self,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<StoredHeader>>;
    /// A whole block, transactions included.
    fn block(&self, height: Height) -> Result<Option<Block>>;
}

pub trait TxReader {
    fn transaction(&self, hash: &Hash) -> Result<Option<StoredTx>>;
    /// The receipt of the transaction at `position` in block `height`.
    fn receipt_at(&self, height: Height, position: u32) -> Result<Option<Receipt>>;
}

/// Blocks and transactions committed in one minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinuteVolume {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    pub blocks: u64,
    pub txs: u64,
}

/// What a block explorer asks, each answered from an index (no scan of the chain).
pub trait ExplorerReader {
    /// Committed transactions, newest first, from just before `before` (height, position; none:
    /// the latest), at most `limit`.
    fn recent_txs(&self, before: Option<(Height, u32)>, limit: usize) -> Result<Vec<StoredTx>>;
    /// The transactions `address` sent, called or created, newest first, from just before
    /// `before`, at most `limit`.
    fn txs_by_address(
        &self,
        address: &Address,
        before: Option<(Height, u32)>,
        limit: usize,
    ) -> Result<Vec<StoredTx>>;
    /// Blocks and transactions per minute for the minutes `from_minute..to_minute` (since the
    /// Unix epoch); minutes without a block are absent.
    fn volume(&self, from_minute: u64, to_minute: u64) -> Result<Vec<MinuteVolume>>;
    /// Blocks, transactions and accounts since the genesis.
    fn totals(&self) -> Result<Totals>;
}

/// What a chain holds since its genesis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Blocks, the genesis included (the per-minute counts summed).
    pub blocks: u64,
    pub transactions: u64,
    /// Distinct accounts the genesis funded, or that sent, were called by, were created by or
    /// were named by a token transfer of a transaction of an indexed block (after a rebuild of
    /// the indexes, accounts seen only in pruned blocks are not counted).
    pub accounts: u64,
}

/// Where an event sits: block, transaction position, index among the transaction's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLocation {
    pub height: Height,
    pub position: u32,
    pub event: u16,
}

/// Events indexed by each of their topics, oldest first.
pub trait LogReader {
    fn logs_by_topic(&self, topic: &Hash, limit: usize) -> Result<Vec<LogLocation>> {
        self.logs_by_topic_in(topic, 0, Height::MAX, limit)
    }

    /// The events carrying `topic` (at any position) in blocks `from..=to`, oldest first, at
    /// most `limit`.
    fn logs_by_topic_in(
        &self,
        topic: &Hash,
        from: Height,
        to: Height,
        limit: usize,
    ) -> Result<Vec<LogLocation>>;
}

/// Token contracts as their ERC-20 and ERC-721 `Transfer` events add up, each answered from
/// the token index (no fold over the events).
pub trait TokenReader {
    /// The token contract at `contract`; `None` if it never emitted a transfer.
    fn token(&self, contract: &Address) -> Result<Option<TokenStats>>;
    /// Its holders, largest balance first, after `after` (the balance and address of the last
    /// holder of an earlier page), at most `limit`, with at most `tokens` of each holder's
    /// token ids (ERC-721).
    fn token_holders(
        &self,
        contract: &Address,
        after: Option<(alloy_primitives::U256, Address)>,
        limit: usize,
        tokens: usize,
    ) -> Result<Vec<TokenHolder>>;
    /// Its transfers, newest first, from just before `before`, at most `limit`.
    fn token_transfers(
        &self,
        contract: &Address,
        before: Option<LogLocation>,
        limit: usize,
    ) -> Result<Vec<TokenTransferAt>>;
}

pub trait StateReader {
    /// The latest value of `key` this reader sees.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
}

/// The state as it was after any committed block.
pub trait StateHistory {
    /// The state after block `height`, read in one snapshot: what a call or a balance query at
    /// a past block sees (`u64::MAX`: the latest committed state).
    fn state_at(&self, height: Height) -> Result<Box<dyn StateReader + '_>>;
}

/// Every read of the committed chain: what a node's APIs are given (never the writer).
pub trait ChainReader:
    BlockReader
    + TxReader
    + ExplorerReader
    + LogReader
    + TokenReader
    + StateReader
    + StateProofReader
    + StateHistory
    + Send
    + Sync
{
}

pub trait StateProofReader {
    /// The value of `key` after block `height`, with a proof against that block's state root.
    fn get_with_proof(&self, key: &[u8], height: Height) -> Result<StateProof>;
}

pub trait BlockWriter {
    /// Computes the state root `changes` give on top of the state after `height - 1`, without
    /// writing anything. `parent` is the prepared state of block `height - 1` when that block
    /// is decided but its commit may still be under way (execution pipelines with commits).
    /// The result is committed with the block, or dropped.
    fn prepare_state(
        &self,
        height: Height,
        changes: StateChanges,
        parent: Option<&PreparedState>,
    ) -> Result<PreparedState>;
    /// Writes the block, its receipts, every index and the prepared state in one atomic,
    /// durable transaction: after a crash, either all of it is there or none of it.
    fn commit_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        state: &PreparedState,
    ) -> Result<()>;
}
