//! Deterministic executor for Consortia: accounts, nonces and native system contracts.
//!
//! [`Executor::execute_block`] turns an ordered list of transactions into receipts and the
//! [`StateChanges`] they make, reading the state through the storage crate's [`StateReader`].
//! Execution depends on nothing but the state, the transactions and the block context (height,
//! time, proposer): no clock, no randomness, no map iteration order. So every validator that
//! re-executes a block reproduces its state root.
//!
//! It does not verify signatures (admission does, once per node) and does not write storage.
//!
//! # What is refused where
//! - **At admission** (the mempool, never reaching a block): undecodable or oversized bytes,
//!   a bad signature, another chain's id, a payload over its limits, a nonce already used or
//!   too far ahead. These are errors to the submitter.
//! - **As a failed receipt** (committed, nonce used): a notarization whose id is already taken,
//!   including by an earlier transaction of the same block. The failure is on chain for all to
//!   see, like an EVM revert.
//! - **As an invalid block** ([`ExecutionError`]): a transaction with another chain's id or a
//!   nonce other than the sender's next. An honest proposer never builds such a block; a
//!   validator refuses to vote for one.

mod accounts;
pub mod notary;

use consortia_crypto::{Address, Hash, HashAlgorithm};
use consortia_storage::{StateChanges, StateReader, StorageError};
use consortia_types::{Genesis, Height, Payload, Receipt, ReceiptStatus, Transaction, encode};

pub use accounts::Account;

/// State key of the last executed block's (height, time): written every block, so every height
/// has its own state version and root even when no transaction ran.
pub const BLOCK_INFO_KEY: &[u8] = b"sys/block";

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("transaction {index} is for chain {got}, not {expected}")]
    WrongChain { index: usize, expected: u64, got: u64 },
    #[error("transaction {index} from {sender} has nonce {got}, expected {expected}")]
    BadNonce { index: usize, sender: Address, expected: u64, got: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("corrupt state at `{key}`: {detail}")]
    CorruptState { key: String, detail: String },
}

/// What a block is executed in.
#[derive(Clone, Copy, Debug)]
pub struct BlockContext {
    pub height: Height,
    pub time_ms: u64,
    pub proposer: Address,
}

/// Receipts (one per transaction, in order) and the state the block writes.
#[derive(Debug)]
pub struct BlockOutcome {
    pub receipts: Vec<Receipt>,
    pub changes: StateChanges,
}

/// Reads through the writes of the block so far, then the committed state.
struct Overlay<'a, S: ?Sized> {
    base: &'a S,
    changes: StateChanges,
}

impl<S: StateReader + ?Sized> Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecutionError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.base.get(key)?),
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }
}

/// The executor of one chain.
#[derive(Clone, Debug)]
pub struct Executor {
    chain_id: u64,
    hash: HashAlgorithm,
}

impl Executor {
    pub fn new(genesis: &Genesis) -> Self {
        Executor { chain_id: genesis.chain_id, hash: genesis.suite.hash() }
    }

    /// The state of block 0: the genesis accounts.
    pub fn genesis_state(genesis: &Genesis) -> StateChanges {
        let mut changes = StateChanges::new();
        for account in &genesis.accounts {
            let value = Account { nonce: 0, balance: account.balance };
            changes.insert(accounts::key(&account.address), Some(encode(&value)));
        }
        changes.insert(BLOCK_INFO_KEY.to_vec(), Some(encode(&(0u64, genesis.time_ms))));
        changes
    }

    /// Executes `txs` in order on top of `state`. Signatures must already be verified.
    pub fn execute_block<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        txs: &[Transaction],
    ) -> Result<BlockOutcome, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let mut receipts = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            if tx.body.chain_id != self.chain_id {
                return Err(ExecutionError::WrongChain {
                    index,
                    expected: self.chain_id,
                    got: tx.body.chain_id,
                });
            }
            let sender = tx.sender();
            let mut account = accounts::load(&overlay, &sender)?;
            if tx.body.nonce != account.nonce {
                return Err(ExecutionError::BadNonce {
                    index,
                    sender,
                    expected: account.nonce,
                    got: tx.body.nonce,
                });
            }
            account.nonce += 1;
            overlay.put(accounts::key(&sender), encode(&account));
            let receipt = match &tx.body.payload {
                Payload::Notarize(record) => {
                    let tx_hash = tx.hash(self.hash);
                    notary::notarize(&mut overlay, &ctx, sender, tx_hash, record)?
                }
            };
            receipts.push(receipt);
        }
        overlay.put(BLOCK_INFO_KEY.to_vec(), encode(&(ctx.height, ctx.time_ms)));
        Ok(BlockOutcome { receipts, changes: overlay.changes })
    }

    /// The receipts root a header commits to.
    pub fn receipts_root(&self, receipts: &[Receipt]) -> Hash {
        consortia_crypto::merkle_root(
            self.hash,
            receipts.iter().map(|r| self.hash.digest(&encode(r))),
        )
    }

    /// The transactions root a header commits to.
    pub fn tx_root(&self, tx_hashes: &[Hash]) -> Hash {
        consortia_crypto::merkle_root(self.hash, tx_hashes.iter().copied())
    }
}

fn failed(code: &str, message: String, steps_used: u64) -> Receipt {
    Receipt {
        status: ReceiptStatus::Failed { code: code.to_owned(), message },
        steps_used,
        events: vec![],
        output: vec![],
    }
}
