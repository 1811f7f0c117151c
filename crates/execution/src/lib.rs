//! Deterministic executor for Consortia: accounts, nonces, the EVM (revm) and native system contracts.
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
mod evm;
pub mod extensions;
pub mod governance;
pub mod ledger;
pub mod notary;
pub mod simulate;
mod system;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod trace;

use consortia_crypto::{Address, Hash, HashAlgorithm};
use consortia_storage::{StateChanges, StateReader, StorageError};
use consortia_types::{
    EvmCall, Genesis, Height, NativeTx, Payload, Receipt, ReceiptStatus, Transaction, encode,
};

pub use accounts::{Account, account_key, code_key, read_account, slot_key};
pub use evm::{CallOutcome, FeeRules, Simulation, TxCharge, revert_reason};

/// State key of the last executed block's (height, time): written every block, so every height
/// has its own state version and root even when no transaction ran.
pub const BLOCK_INFO_KEY: &[u8] = b"sys/block";

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("transaction {index} is for chain {got}, not {expected}")]
    WrongChain { index: usize, expected: u64, got: u64 },
    #[error("transaction {index} from {sender} has nonce {got}, expected {expected}")]
    BadNonce { index: usize, sender: Address, expected: u64, got: u64 },
    #[error("transaction {index} cannot be included: {reason}")]
    InvalidTx { index: usize, reason: String },
    #[error("transaction {index} does not fit in the block's remaining gas")]
    BlockFull { index: usize },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("corrupt state at `{key}`: {detail}")]
    CorruptState { key: String, detail: String },
}

impl ExecutionError {
    /// The state entry `what` did not decode.
    pub(crate) fn corrupt(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        ExecutionError::CorruptState { key: what.into(), detail: e.to_string() }
    }
}

/// Decodes the state entry `what` (named in the error if it does not decode).
pub(crate) fn decode_state<T: borsh::BorshDeserialize>(
    what: impl Into<String>,
    bytes: &[u8],
) -> Result<T, ExecutionError> {
    consortia_types::decode(bytes).map_err(|e| ExecutionError::corrupt(what, e))
}

/// What a block is executed in.
#[derive(Clone, Copy, Debug)]
pub struct BlockContext {
    pub height: Height,
    pub time_ms: u64,
    pub proposer: Address,
    /// Hash of block `height - 1` (what `BLOCKHASH` and `PREVRANDAO` see).
    pub parent_hash: Hash,
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

    fn delete(&mut self, key: Vec<u8>) {
        self.changes.insert(key, None);
    }
}

/// The executor of one chain.
#[derive(Clone, Debug)]
pub struct Executor {
    chain_id: u64,
    hash: HashAlgorithm,
    evm: evm::EvmEnv,
}

impl Executor {
    pub fn new(genesis: &Genesis) -> Self {
        let p = &genesis.params;
        Executor {
            chain_id: genesis.chain_id,
            hash: genesis.suite.hash(),
            evm: evm::EvmEnv::new(genesis.chain_id, p),
        }
    }

    /// The state of block 0: the genesis accounts.
    pub fn genesis_state(genesis: &Genesis) -> StateChanges {
        let mut changes = StateChanges::new();
        for account in &genesis.accounts {
            let code_hash = (!account.code.is_empty()).then(|| {
                let hash = consortia_crypto::keccak256(&account.code);
                changes.insert(code_key(&hash), Some(account.code.clone()));
                hash
            });
            // A contract starts at nonce 1 (EIP-161), as one created by a transaction does.
            let nonce = u64::from(code_hash.is_some());
            let value = Account { nonce, balance: account.balance, code_hash };
            changes.insert(accounts::account_key(&account.address), Some(encode(&value)));
        }
        for (key, value) in governance::genesis_state(genesis) {
            changes.insert(key, Some(value));
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
        let mut rules =
            governance::Rules::load(&mut |k| overlay.get(k), &self.evm.governance.genesis)?;
        let mut gas_left = rules.params.block_gas_limit;
        for (index, tx) in txs.iter().enumerate() {
            receipts.push(self.apply(&mut overlay, &mut rules, &ctx, tx, index, &mut gas_left)?);
        }
        if let Some(parent) = ctx.height.checked_sub(1) {
            overlay.put(evm::block_hash_key(parent), encode(&(parent, ctx.parent_hash)));
        }
        overlay.put(BLOCK_INFO_KEY.to_vec(), encode(&(ctx.height, ctx.time_ms)));
        Ok(BlockOutcome { receipts, changes: overlay.changes })
    }

    /// Executes one transaction of a block (its `index`th) on `overlay`.
    fn apply<S: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, S>,
        rules: &mut governance::Rules,
        ctx: &BlockContext,
        tx: &Transaction,
        index: usize,
        gas_left: &mut u64,
    ) -> Result<Receipt, ExecutionError> {
        let mut account = self.check_sender(overlay, tx, index)?;
        match tx {
            Transaction::Native(NativeTx { body, .. }) => match &body.payload {
                Payload::Notarize(record) => {
                    let sender = tx.sender();
                    account.nonce += 1;
                    overlay.put(accounts::account_key(&sender), encode(&account));
                    let tx_hash = tx.hash(self.hash);
                    notary::notarize(overlay, ctx, sender, tx_hash, record)
                }
                Payload::Evm(_) => self.evm_tx(overlay, rules, ctx, tx, index, gas_left),
            },
            Transaction::Ethereum(_) => self.evm_tx(overlay, rules, ctx, tx, index, gas_left),
        }
    }

    /// A block's transaction must be for this chain and carry its sender's next nonce; the
    /// sender's account.
    fn check_sender<S: StateReader + ?Sized>(
        &self,
        overlay: &Overlay<'_, S>,
        tx: &Transaction,
        index: usize,
    ) -> Result<Account, ExecutionError> {
        if tx.chain_id() != Some(self.chain_id) {
            return Err(ExecutionError::WrongChain {
                index,
                expected: self.chain_id,
                got: tx.chain_id().unwrap_or(0),
            });
        }
        let sender = tx.sender();
        let account = accounts::load(overlay, &sender)?;
        if tx.nonce() != account.nonce {
            return Err(ExecutionError::BadNonce {
                index,
                sender,
                expected: account.nonce,
                got: tx.nonce(),
            });
        }
        Ok(account)
    }

    fn evm_tx<S: StateReader + ?Sized>(
        &self,
        overlay: &mut Overlay<'_, S>,
        rules: &mut governance::Rules,
        ctx: &BlockContext,
        tx: &Transaction,
        index: usize,
        gas_left: &mut u64,
    ) -> Result<Receipt, ExecutionError> {
        let gas_limit = tx.evm_call().map_or(0, |c| c.gas_limit);
        if gas_limit > *gas_left {
            return Err(ExecutionError::BlockFull { index });
        }
        match evm::execute(overlay, &self.evm, rules, ctx, tx, tx.hash(self.hash))? {
            Ok(receipt) => {
                *gas_left -= receipt.steps_used;
                Ok(receipt)
            }
            Err(reason) => Err(ExecutionError::InvalidTx { index, reason }),
        }
    }

    /// Runs an EVM call from `from` on `state` as block `ctx` would, keeping none of its
    /// writes: `eth_call` and gas estimation.
    pub fn call<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        from: Address,
        call: EvmCall,
    ) -> Result<CallOutcome, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let options = evm::CallOptions { enforce_deploy_policy: true, ..Default::default() };
        Ok(evm::simulate_fully(&mut overlay, &self.evm, &ctx, from, call, options)?.outcome)
    }

    /// [`Executor::call`] within `max_steps` EVM steps: `None` if it needs more (the caller
    /// runs it again unbounded, elsewhere). A node answers short calls on its async runtime
    /// this way and hands only long ones to a query thread.
    pub fn call_within<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        from: Address,
        call: EvmCall,
        max_steps: Option<u64>,
    ) -> Result<Option<CallOutcome>, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let options =
            evm::CallOptions { enforce_deploy_policy: true, max_steps, ..Default::default() };
        Ok(evm::simulate(&mut overlay, &self.evm, &ctx, from, call, &options)?.map(|s| s.outcome))
    }

    /// A dry run of a transaction from `from` on `state` as block `ctx` would run it: its
    /// outcome, events and (for a deployment) the contract it would create, ignoring the deploy
    /// policy (it says whether the policy would refuse it). Nothing is kept.
    pub fn simulate<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        from: Address,
        call: EvmCall,
    ) -> Result<Simulation, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        evm::simulate_fully(&mut overlay, &self.evm, &ctx, from, call, Default::default())
    }

    /// The chain parameters governance keeps, as of `state`.
    pub fn params<S: StateReader + ?Sized>(
        &self,
        state: &S,
    ) -> Result<governance::Params, ExecutionError> {
        governance::params(state, &self.evm.governance.genesis)
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
