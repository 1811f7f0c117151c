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

/// One block of a simulation: its context, what to pretend before it, and its calls (sender
/// and call) in order.
#[derive(Clone, Debug)]
pub struct SimulatedBlock {
    pub ctx: BlockContext,
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
    /// it left (overrides applied at the start of their block); nothing is kept.
    pub fn simulate_blocks<S: StateReader + ?Sized>(
        &self,
        state: &S,
        blocks: &[SimulatedBlock],
    ) -> Result<Vec<Vec<SimulatedCall>>, ExecutionError> {
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let options = CallOptions { keep_writes: true, ..Default::default() };
        blocks
            .iter()
            .map(|block| {
                apply_overrides(&mut overlay, &block.overrides)?;
                block
                    .calls
                    .iter()
                    .map(|(from, call)| {
                        let run = evm::simulate_fully(
                            &mut overlay,
                            &self.evm,
                            &block.ctx,
                            *from,
                            call.clone(),
                            options,
                        )?;
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
