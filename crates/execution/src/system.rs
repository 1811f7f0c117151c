//! What the native system contracts (precompiles with Solidity ABIs) share: how a call comes
//! in ([`open_call`]), how it fails ([`revert`], [`out_of_gas`]), and state writes that revert
//! with their EVM frame ([`JournaledWrites`]).
//!
//! A precompile cannot write our key-value state through revm's journal, so a write made in a
//! call that later reverts could not be taken back. So the contract keeps its writes aside, in
//! order, and marks write `n` with a journaled storage slot of its own address (slot `n + 1` →
//! 1). revm reverts the mark with its frame; reads see the latest write whose mark stands; at
//! the end of the transaction the writes whose marks survived are returned (in order, so a later
//! write of a key wins) and the marks dropped: they never reach the state.
//!
//! Rejected: running every transaction with an inspector that tracks frame reverts (a
//! per-opcode hook on the hot path), and keeping system state as EVM slots (values are
//! variable-sized, and proofs would name hashed slots instead of readable keys).

use alloy_sol_types::SolError;
use consortia_crypto::Address;
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::{CallInputs, CallScheme, Gas, InstructionResult, InterpreterResult};
use revm::primitives::{Bytes, U256};

use crate::ExecutionError;
use crate::evm::to_revm;

/// A call that reverts with Solidity's `Error(string)`.
pub(crate) fn revert(gas: Gas, message: impl Into<String>) -> InterpreterResult {
    let data = alloy_sol_types::Revert::from(message.into()).abi_encode();
    InterpreterResult::new(InstructionResult::Revert, data.into(), gas)
}

/// A call that ran out of its gas.
pub(crate) fn out_of_gas(mut gas: Gas) -> InterpreterResult {
    gas.spend_all();
    InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas)
}

/// A successful call returning `output`.
pub(crate) fn done(gas: Gas, output: Vec<u8>) -> InterpreterResult {
    InterpreterResult::new(InstructionResult::Return, output.into(), gas)
}

/// Checks how a call to the system contract `name` at `address` came in (directly, without
/// value, with a selector) and returns its selector and input, or the revert to answer.
pub(crate) fn open_call<CTX: ContextTr>(
    context: &mut CTX,
    inputs: &CallInputs,
    address: Address,
    name: &str,
) -> Result<([u8; 4], Bytes), InterpreterResult> {
    let gas = Gas::new(inputs.gas_limit);
    if !matches!(inputs.scheme, CallScheme::Call | CallScheme::StaticCall)
        || inputs.target_address != to_revm(address)
    {
        return Err(revert(
            gas,
            format!(
                "{name}: call it directly (CALL or STATICCALL), not through DELEGATECALL or CALLCODE"
            ),
        ));
    }
    if inputs.transfers_value() {
        return Err(revert(gas, format!("{name}: the {name} takes no value")));
    }
    let input = inputs.input.bytes(context);
    match input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        Some(selector) => Ok((selector, input)),
        None => {
            Err(revert(gas, format!("{name}: no function selector; see its Solidity interface")))
        }
    }
}

/// The revert for a selector the contract `name` does not have.
pub(crate) fn unknown_selector(gas: Gas, name: &str, selector: [u8; 4]) -> InterpreterResult {
    revert(
        gas,
        format!(
            "{name}: unknown function selector 0x{}; see its Solidity interface",
            alloy_primitives::hex::encode(selector)
        ),
    )
}

/// The committed state (the block's overlay, then the store), as system contracts read it
/// through revm's database.
pub(crate) trait StateSource {
    fn state_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecutionError>;
}

/// One transaction's writes of the system contract at `address` (see the module docs).
#[derive(Debug)]
pub(crate) struct JournaledWrites {
    address: Address,
    /// Key and value (`None` deletes), in the order written.
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

fn mark(n: usize) -> U256 {
    U256::from(n as u64 + 1)
}

impl JournaledWrites {
    pub(crate) fn new(address: Address) -> Self {
        JournaledWrites { address, writes: Vec::new() }
    }

    /// The value of `key` as this transaction sees it: its own surviving writes, then the state.
    pub(crate) fn get<CTX>(
        &self,
        context: &mut CTX,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, ExecutionError>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let address = to_revm(self.address);
        let journal = context.journal_mut();
        journal.load_account(address)?;
        for (n, (k, value)) in self.writes.iter().enumerate().rev() {
            if k == key && !journal.sload(address, mark(n))?.data.is_zero() {
                return Ok(value.clone());
            }
        }
        context.db_mut().state_get(key)
    }

    /// Writes `value` (`None` deletes) under `key`, undone if the current frame reverts.
    pub(crate) fn put<CTX>(
        &mut self,
        context: &mut CTX,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<(), ExecutionError>
    where
        CTX: ContextTr<Db: revm::Database<Error = ExecutionError>>,
    {
        let address = to_revm(self.address);
        let journal = context.journal_mut();
        journal.load_account(address)?;
        journal.sstore(address, mark(self.writes.len()), U256::from(1))?;
        self.writes.push((key, value));
        Ok(())
    }

    /// Ends the transaction: takes the marks out of revm's changes (they are not state) and
    /// returns the writes whose marks survived, in order.
    pub(crate) fn finish(
        &mut self,
        changes: &mut revm::primitives::AddressMap<revm::state::Account>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let writes = std::mem::take(&mut self.writes);
        let Some(account) = changes.get_mut(&to_revm(self.address)) else { return vec![] };
        let marks = std::mem::take(&mut account.storage);
        writes
            .into_iter()
            .enumerate()
            .filter(|(n, _)| marks.get(&mark(*n)).is_some_and(|s| !s.present_value.is_zero()))
            .map(|(_, write)| write)
            .collect()
    }
}
