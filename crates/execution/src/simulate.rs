//! Simulations: calls in blocks that never happen (`eth_simulateV1`), and state overrides for
//! them and for `eth_call`. Each call runs on what the calls before it left; every write stays
//! in an overlay that is thrown away at the end.

use std::collections::BTreeMap;

use consortia_crypto::{Address, Hash, keccak256};
use consortia_storage::{StateChanges, StateReader};
use consortia_types::{Event, EvmCall, encode};

use crate::accounts::{self, account_key, code_key, slot_key};
use crate::evm::{self, CallOptions};
use crate::{BlockContext, CallOutcome, ExecutionError, Executor, Overlay};

/// What to pretend about one account before a call (geth's state override object).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountOverride {
    pub balance: Option<u128>,
    pub nonce: Option<u64>,
    /// Runtime code; empty makes the account codeless.
    pub code: Option<Vec<u8>>,
    /// Slots to set (a zero word clears one); the other slots keep their values.
    pub state_diff: BTreeMap<[u8; 32], [u8; 32]>,
}

/// Overrides by account.
pub type StateOverrides = BTreeMap<Address, AccountOverride>;

/// One block of a simulation: its context and gas limit, what to pretend before it, and its
/// calls (sender and call) in order.
#[derive(Clone, Debug)]
pub struct SimulatedBlock {
    pub ctx: BlockContext,
    /// What the block's calls may use together; a call gets at most what is left.
    pub gas_limit: u64,
    pub overrides: StateOverrides,
    pub calls: Vec<(Address, EvmCall)>,
}

/// What one simulated call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatedCall {
    pub outcome: CallOutcome,
    /// Its events (none unless it succeeded).
    pub events: Vec<Event>,
}

impl Executor {
    /// `eth_simulateV1`: the blocks' calls in order on `state`, each on what the ones before
    /// it left (overrides applied at the start of their block); nothing is kept. As geth's, the
    /// gas the calls use is bounded twice: each call gets at most what its block has left, and
    /// all of them together at most `gas_cap` (so one request's work is bounded whatever it
    /// asks); a call that would get none is [`CallOutcome::Invalid`].
    pub fn simulate_blocks<S: StateReader + ?Sized>(
        &self,
        state: &S,
        blocks: &[SimulatedBlock],
        gas_cap: u64,
    ) -> Result<Vec<Vec<SimulatedCall>>, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let options = CallOptions { keep_writes: true, ..Default::default() };
        let mut budget = gas_cap;
        blocks
            .iter()
            .map(|block| {
                apply_overrides(&mut overlay, &block.overrides)?;
                let mut left = block.gas_limit;
                block
                    .calls
                    .iter()
                    .map(|(from, call)| {
                        let gas = call.gas_limit.min(left).min(budget);
                        if gas == 0 {
                            let why = if budget == 0 {
                                format!("the simulation's gas cap of {gas_cap} is spent")
                            } else {
                                format!("block gas limit {} reached", block.gas_limit)
                            };
                            let outcome = CallOutcome::Invalid(why);
                            return Ok(SimulatedCall { outcome, events: vec![] });
                        }
                        let call = EvmCall { gas_limit: gas, ..call.clone() };
                        let run = evm::simulate_fully(
                            &mut overlay,
                            &self.evm,
                            &block.ctx,
                            *from,
                            call,
                            options,
                        )?;
                        let used = run.outcome.gas_used();
                        left = left.saturating_sub(used);
                        budget = budget.saturating_sub(used);
                        Ok(SimulatedCall { outcome: run.outcome, events: run.events })
                    })
                    .collect()
            })
            .collect()
    }
}

/// Writes `overrides` into the overlay as if the state held them.
fn apply_overrides<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    overrides: &StateOverrides,
) -> Result<(), ExecutionError> {
    for (address, o) in overrides {
        let mut account = accounts::load(overlay, address)?;
        if let Some(balance) = o.balance {
            account.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            account.nonce = nonce;
        }
        if let Some(code) = &o.code {
            account.code_hash = if code.is_empty() {
                None
            } else {
                let hash: Hash = keccak256(code);
                overlay.put(code_key(&hash), code.clone());
                Some(hash)
            };
        }
        overlay.put(account_key(address), encode(&account));
        for (slot, word) in &o.state_diff {
            let key = slot_key(address, slot);
            if *word == [0; 32] {
                overlay.delete(key);
            } else {
                overlay.put(key, word.to_vec());
            }
        }
    }
    Ok(())
}
