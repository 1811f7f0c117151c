//! `eth_simulateV1` (execution-apis): blocks of calls that never happen, on top of a block, each
//! call seeing what the ones before it wrote; and the overrides `eth_call` takes (state as its
//! third parameter, block as its fourth). The executor runs them on a throwaway overlay
//! (`consortia_execution::simulate`); this module parses, bounds and shapes the answer.
//!
//! Differences from geth: `validation` and `traceTransfers` are refused (not silently
//! ignored); block overrides take `number`, `time`, `feeRecipient` and `prevRandao` (the gas
//! limit and base fee are the chain's, set by governance); a gap in block numbers is not filled
//! with empty blocks; `state` overrides (replacing all of an account's storage) are refused, as
//! the state keeps no per-account storage root to drop; use `stateDiff`.

use std::collections::BTreeMap;

use consortia_crypto::{Hash, keccak256};
use consortia_execution::simulate::{AccountOverride, SimulatedBlock, StateOverrides};
use consortia_execution::{BlockContext, CallOutcome, revert_reason};
use serde_json::{Value, json};

use super::{
    DEFERRED, EMPTY_TRIE_ROOT, EMPTY_UNCLES, Eth, LogPlace, RpcError, RpcResult, addr, call_error,
    data, hash, log_json, parse_address, parse_bytes, parse_hash, parse_qty, parse_qty_or_hash,
    parse_u64, qty,
};
use crate::handlers::call_context;

/// geth's limit on the blocks of one simulation.
const MAX_BLOCKS: usize = 256;
/// The most calls one simulation runs.
const MAX_CALLS: usize = 1_000;
/// geth's time between simulated blocks whose `time` is not given, in seconds.
const BLOCK_TIME_S: u64 = 12;
/// The most gas all the calls of one simulation use together (geth bounds it by its RPC gas
/// cap the same way), so one request's work is bounded however many calls it holds.
const SIMULATION_GAS_CAP: u64 = 100_000_000;
/// execution-apis' codes.
const BLOCK_NUMBER_ORDER: i64 = -38020;
const BLOCK_TIME_ORDER: i64 = -38021;
const VM_ERROR: i64 = -32015;

impl Eth<'_> {
    pub(super) fn simulate_v1(&self) -> RpcResult {
        let payload = self.param(0, "simulation")?;
        for flag in ["validation", "traceTransfers"] {
            if payload.get(flag).and_then(Value::as_bool) == Some(true) {
                return Err(RpcError::params(format!(
                    "`{flag}: true` is not supported yet; simulate without it"
                )));
            }
        }
        let specs = match payload.get("blockStateCalls") {
            Some(Value::Array(specs)) if !specs.is_empty() && specs.len() <= MAX_BLOCKS => specs,
            _ => {
                return Err(RpcError::params(format!(
                    "blockStateCalls must be an array of 1 to {MAX_BLOCKS} blocks"
                )));
            }
        };
        let base = self.height_of(self.opt(1))?;
        let parent = self.header(base)?;
        let gas_limit = self.gas_limit(base)?;
        let mut previous = BlockContext {
            height: base,
            time_ms: parent.header.time_ms,
            proposer: parent.header.proposer,
            parent_hash: parent.hash,
        };
        let mut hashes = Vec::with_capacity(specs.len());
        let mut parent_hash = parent.hash;
        let mut blocks = Vec::with_capacity(specs.len());
        let mut calls_total = 0;
        for spec in specs {
            let ctx = next_block(&previous, parent_hash, field(spec, "blockOverrides"))?;
            let block_hash = keccak256(
                &[b"consortia/simulated".as_slice(), &parent_hash.0, &ctx.height.to_be_bytes()]
                    .concat(),
            );
            let overrides = field(spec, "stateOverrides").map(state_overrides).transpose()?;
            let calls = match field(spec, "calls") {
                None => vec![],
                Some(Value::Array(calls)) => {
                    calls.iter().map(|c| self.call_request(c)).collect::<Result<_, _>>()?
                }
                Some(_) => return Err(RpcError::params("calls must be an array")),
            };
            calls_total += calls.len();
            if calls_total > MAX_CALLS {
                return Err(RpcError::params(format!("at most {MAX_CALLS} calls per simulation")));
            }
            hashes.push((block_hash, parent_hash));
            let overrides = overrides.unwrap_or_default();
            blocks.push(SimulatedBlock { ctx, gas_limit, overrides, calls });
            previous = ctx;
            parent_hash = block_hash;
        }
        let state = self.node.store().state_at(base).map_err(RpcError::server)?;
        let results = self
            .node
            .executor()
            .simulate_blocks(&*state, &blocks, SIMULATION_GAS_CAP)
            .map_err(RpcError::server)?;
        let mut answer = Vec::with_capacity(blocks.len());
        for (n, ((block, calls), (block_hash, parent_hash))) in
            blocks.iter().zip(results).zip(hashes).enumerate()
        {
            let mut log_index = 0;
            let mut gas_used = 0u64;
            let mut tx_hashes = Vec::with_capacity(calls.len());
            let mut shaped = Vec::with_capacity(calls.len());
            for (i, call) in calls.into_iter().enumerate() {
                let tx_hash =
                    keccak256(&[block_hash.0.as_slice(), &(i as u32).to_be_bytes()].concat());
                let place = LogPlace {
                    height: block.ctx.height,
                    block_hash: &block_hash,
                    time_ms: block.ctx.time_ms,
                    tx_hash: &tx_hash,
                    position: i as u32,
                };
                let logs: Vec<Value> = call
                    .events
                    .iter()
                    .map(|e| {
                        log_index += 1;
                        log_json(e, &place, log_index - 1)
                    })
                    .collect();
                let (used, result) = call_result(call.outcome, logs)
                    .map_err(|why| RpcError::server(format!("block {n}, call {i}: {why}")))?;
                gas_used += used;
                tx_hashes.push(hash(&tx_hash));
                shaped.push(result);
            }
            answer.push(json!({
                "number": qty(block.ctx.height),
                "hash": hash(&block_hash),
                "parentHash": hash(&parent_hash),
                "timestamp": qty(block.ctx.time_ms / 1_000),
                "gasLimit": qty(gas_limit),
                "gasUsed": qty(gas_used),
                "baseFeePerGas": qty(self.base_fee()),
                "miner": addr(&block.ctx.proposer),
                "mixHash": hash(&block.ctx.parent_hash),
                "stateRoot": hash(&Hash::ZERO),
                "transactionsRoot": EMPTY_TRIE_ROOT,
                "receiptsRoot": EMPTY_TRIE_ROOT,
                "sha3Uncles": EMPTY_UNCLES,
                "logsBloom": data(&[0u8; 256]),
                "difficulty": "0x0",
                "nonce": "0x0000000000000000",
                "extraData": "0x",
                "size": "0x0",
                "uncles": [],
                "withdrawals": [],
                "transactions": tx_hashes,
                "calls": shaped,
            }));
        }
        Ok(Value::Array(answer))
    }

    /// `eth_call` with a state override set (parameter 2) or block overrides (parameter 3):
    /// run on a query thread as a one-call simulation.
    pub(super) fn call_with_overrides(&self) -> RpcResult {
        if self.inline {
            return Err(RpcError::new(DEFERRED, "deferred"));
        }
        let call = self.call_request(self.param(0, "call")?)?;
        let height = self.height_of(self.opt(1))?;
        let mut ctx = call_context(&self.header(height)?);
        if let Some(overrides) = self.opt(3).filter(|v| !v.is_null()) {
            override_block(&mut ctx, overrides)?;
        }
        let overrides = match self.opt(2).filter(|v| !v.is_null()) {
            Some(v) => state_overrides(v)?,
            None => StateOverrides::new(),
        };
        let state = self.node.store().state_at(height).map_err(RpcError::server)?;
        let gas_limit = call.1.gas_limit;
        let block = SimulatedBlock { ctx, gas_limit, overrides, calls: vec![call] };
        let mut results = self
            .node
            .executor()
            .simulate_blocks(&*state, &[block], gas_limit)
            .map_err(RpcError::server)?;
        let outcome = results.pop().and_then(|mut calls| calls.pop()).map(|c| c.outcome);
        match outcome {
            Some(CallOutcome::Success { output, .. }) => Ok(data(&output)),
            Some(other) => Err(call_error(other)),
            None => Err(RpcError::server("the call did not run")),
        }
    }
}

/// A non-null member of an object.
fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    v.get(name).filter(|x| !x.is_null())
}

/// The context of the simulated block after `previous`: one number and 12 s later unless the
/// overrides say otherwise; numbers and times must grow.
fn next_block(
    previous: &BlockContext,
    parent_hash: Hash,
    overrides: Option<&Value>,
) -> Result<BlockContext, RpcError> {
    let mut ctx = BlockContext {
        height: previous.height + 1,
        time_ms: previous.time_ms + BLOCK_TIME_S * 1_000,
        proposer: previous.proposer,
        parent_hash,
    };
    if let Some(overrides) = overrides {
        override_block(&mut ctx, overrides)?;
    }
    if ctx.height <= previous.height {
        return Err(RpcError::new(
            BLOCK_NUMBER_ORDER,
            format!("block numbers must increase: {} after {}", ctx.height, previous.height),
        ));
    }
    if ctx.time_ms <= previous.time_ms {
        return Err(RpcError::new(
            BLOCK_TIME_ORDER,
            format!(
                "block timestamps must increase: {} after {}",
                ctx.time_ms / 1_000,
                previous.time_ms / 1_000
            ),
        ));
    }
    Ok(ctx)
}

/// Applies geth's block overrides that a chain can vary: number, time, fee recipient and
/// PREVRANDAO; the others are refused by name.
fn override_block(ctx: &mut BlockContext, overrides: &Value) -> Result<(), RpcError> {
    let Value::Object(fields) = overrides else {
        return Err(RpcError::params("block overrides must be an object"));
    };
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        match name.as_str() {
            "number" => ctx.height = parse_u64(value, "blockOverrides.number")?,
            "time" => ctx.time_ms = parse_u64(value, "blockOverrides.time")?.saturating_mul(1_000),
            "feeRecipient" | "coinbase" => ctx.proposer = parse_address(value, name)?,
            "prevRandao" | "random" => ctx.parent_hash = parse_hash(value, name)?,
            "gasLimit" | "baseFeePerGas" | "blobBaseFee" => {
                return Err(RpcError::params(format!(
                    "blockOverrides.{name} is not supported: the chain's gas limit and fees are \
                     set by governance"
                )));
            }
            other => {
                return Err(RpcError::params(format!("blockOverrides.{other} is not supported")));
            }
        }
    }
    Ok(())
}

/// geth's state override set: address → {balance, nonce, code, stateDiff}.
fn state_overrides(v: &Value) -> Result<StateOverrides, RpcError> {
    let Value::Object(accounts) = v else {
        return Err(RpcError::params("state overrides must be an object of address → override"));
    };
    accounts
        .iter()
        .map(|(address, o)| {
            let address = parse_address(&Value::String(address.clone()), "override address")?;
            let Value::Object(fields) = o else {
                return Err(RpcError::params(format!(
                    "the override of {address} is not an object"
                )));
            };
            let mut account = AccountOverride::default();
            for (name, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                match name.as_str() {
                    "balance" => account.balance = Some(parse_qty(value, "balance")?),
                    "nonce" => account.nonce = Some(parse_u64(value, "nonce")?),
                    "code" => account.code = Some(parse_bytes(value, "code")?),
                    "stateDiff" => account.state_diff = slots(value)?,
                    "state" => {
                        return Err(RpcError::params(
                            "`state` (replacing all of an account's storage) is not supported; \
                             set the slots you need with `stateDiff`",
                        ));
                    }
                    other => {
                        return Err(RpcError::params(format!(
                            "state override `{other}` is not supported (balance, nonce, code, \
                             stateDiff are)"
                        )));
                    }
                }
            }
            Ok((address, account))
        })
        .collect()
}

fn slots(v: &Value) -> Result<BTreeMap<[u8; 32], [u8; 32]>, RpcError> {
    let Value::Object(slots) = v else {
        return Err(RpcError::params("stateDiff must be an object of slot → value"));
    };
    slots
        .iter()
        .map(|(slot, word)| {
            Ok((parse_qty_or_hash(&Value::String(slot.clone()))?, parse_qty_or_hash(word)?))
        })
        .collect()
}

/// One call's entry (`status`, `returnData`, `gasUsed`, `logs`, `error`) and the gas it used;
/// `Err` for a call that could not run at all.
fn call_result(outcome: CallOutcome, logs: Vec<Value>) -> Result<(u64, Value), String> {
    Ok(match outcome {
        CallOutcome::Success { gas_used, output } => (
            gas_used,
            json!({
                "status": "0x1",
                "returnData": data(&output),
                "gasUsed": qty(gas_used),
                "logs": logs,
            }),
        ),
        CallOutcome::Revert { gas_used, output } => {
            let message = match revert_reason(&output) {
                Some(reason) => format!("execution reverted: {reason}"),
                None => "execution reverted".into(),
            };
            (
                gas_used,
                json!({
                    "status": "0x0",
                    "returnData": data(&output),
                    "gasUsed": qty(gas_used),
                    "logs": [],
                    "error": {"code": super::EXECUTION_REVERTED, "message": message, "data": data(&output)},
                }),
            )
        }
        CallOutcome::Halt { gas_used, reason } => (
            gas_used,
            json!({
                "status": "0x0",
                "returnData": "0x",
                "gasUsed": qty(gas_used),
                "logs": [],
                "error": {"code": VM_ERROR, "message": reason},
            }),
        ),
        CallOutcome::Invalid(reason) => return Err(reason),
    })
}
