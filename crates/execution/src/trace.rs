//! Tracing for the debug APIs: geth's tracers (`callTracer`, `prestateTracer`, the default
//! struct logger with its memory/stack/storage options, and the others `revm-inspectors`
//! knows), parity's `trace_transaction`, and the access list a call touches
//! (`eth_createAccessList`). They re-execute: a block's transaction after the transactions before
//! it, on its parent's state; a call on the state it names. Nothing they run is kept.
//!
//! A trace is bounded: at most [`TraceLimits::max_steps`] EVM steps and a deadline (geth's
//! `timeout`, 5 s by default), so one request cannot hold a node's memory or a query thread.

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use consortia_crypto::{Address, Hash};
use consortia_storage::{StateChanges, StateReader};
use consortia_types::{EvmCall, Transaction};
use revm::Inspector;
use revm::interpreter::{InstructionResult, Interpreter};
use revm_inspectors::access_list::AccessListInspector;
use revm_inspectors::tracing::{
    DebugInspector, TracingInspector, TracingInspectorConfig, TransactionContext,
};

pub use alloy_rpc_types_eth::{AccessList, TransactionInfo};
pub use alloy_rpc_types_trace::geth::{GethDebugTracingOptions, GethTrace};
pub use alloy_rpc_types_trace::parity::LocalizedTransactionTrace;

use crate::evm::{self, Run};
use crate::{BlockContext, CallOutcome, ExecutionError, Executor, Overlay, governance};

/// The most a trace may take, unless the request asks for less time.
pub const MAX_TRACE_TIMEOUT: Duration = Duration::from_secs(30);
/// geth's default `timeout`.
pub const DEFAULT_TRACE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most EVM steps one trace records (the struct logger keeps one entry per step).
pub const MAX_TRACE_STEPS: u64 = 500_000;

/// Why a trace has no result.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// The transaction or call could not run at all (e.g. its sender cannot pay).
    #[error("{0}")]
    Invalid(String),
    /// An unknown tracer, or a tracer configuration it does not take.
    #[error("{0}")]
    Tracer(String),
    /// Over the step cap or past the deadline.
    #[error("tracing stopped: {0}")]
    Limit(String),
}

/// How far one trace may go.
#[derive(Clone, Copy, Debug)]
pub struct TraceLimits {
    pub max_steps: u64,
    pub timeout: Duration,
}

impl TraceLimits {
    /// The limits for geth's `timeout` option (a Go duration: `"10s"`, `"500ms"`, `"1m"`),
    /// capped at [`MAX_TRACE_TIMEOUT`].
    pub fn with_timeout(timeout: Option<&str>) -> Result<TraceLimits, TraceError> {
        let timeout = match timeout {
            None => DEFAULT_TRACE_TIMEOUT,
            Some(text) => parse_duration(text).ok_or_else(|| {
                TraceError::Tracer(format!("timeout `{text}` is not a duration like 5s or 500ms"))
            })?,
        };
        Ok(TraceLimits { max_steps: MAX_TRACE_STEPS, timeout: timeout.min(MAX_TRACE_TIMEOUT) })
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => number / 1_000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// Stops a run past its step cap or deadline (checked every 1,024 steps), remembering why.
struct Guard {
    steps: u64,
    limits: TraceLimits,
    deadline: Instant,
    stopped: Option<String>,
}

impl Guard {
    fn new(limits: TraceLimits) -> Guard {
        Guard { steps: 0, limits, deadline: Instant::now() + limits.timeout, stopped: None }
    }

    fn outcome(&self) -> Result<(), TraceError> {
        self.stopped.clone().map_or(Ok(()), |why| Err(TraceError::Limit(why)))
    }
}

impl<CTX> Inspector<CTX> for Guard {
    fn step(&mut self, interp: &mut Interpreter, _: &mut CTX) {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            self.stopped = Some(format!(
                "over {} EVM steps; trace a smaller call, or ask for a tracer that records less (callTracer)",
                self.limits.max_steps
            ));
        } else if self.steps.is_multiple_of(1_024) && Instant::now() > self.deadline {
            self.stopped = Some(format!(
                "over the timeout of {:?}; pass a longer `timeout` (at most {:?})",
                self.limits.timeout, MAX_TRACE_TIMEOUT
            ));
        }
        if self.stopped.is_some() {
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

/// Only EVM transactions have traces: a native notarization runs no EVM code.
fn evm_only(tx: &Transaction) -> Result<(), TraceError> {
    match tx.evm_call() {
        Some(_) => Ok(()),
        None => Err(TraceError::Invalid(
            "a native notarization runs no EVM code, so it has no trace; its receipt has its event"
                .into(),
        )),
    }
}

fn b256(h: &Hash) -> B256 {
    B256::from(h.0)
}

/// A block's traces: each transaction's hash with its trace, or why it has none.
pub type BlockTraces = Vec<(Hash, Result<GethTrace, String>)>;

/// Where a block's transaction is, for the tracers' transaction context.
#[derive(Clone, Copy, Debug)]
pub struct TxPlace {
    pub block_hash: Hash,
    pub index: usize,
    pub tx_hash: Hash,
}

impl Executor {
    /// Runs the transactions of a block before `place.index` on `parent` (the state before the
    /// block), then `run` on what they left.
    fn after<'a, S, R>(
        &self,
        parent: &'a S,
        ctx: &BlockContext,
        txs: &[Transaction],
        index: usize,
        run: impl FnOnce(&mut Overlay<'a, S>, &governance::Rules) -> Result<R, TraceError>,
    ) -> Result<R, TraceError>
    where
        S: StateReader + ?Sized,
    {
        let mut overlay = Overlay { base: parent, changes: StateChanges::new() };
        let mut rules =
            governance::Rules::load(&mut |k| overlay.get(k), &self.evm.governance.genesis)?;
        let mut gas_left = rules.params.block_gas_limit;
        let Some(target) = txs.get(index) else {
            return Err(TraceError::Invalid(format!("the block has no transaction {index}")));
        };
        for (i, tx) in txs[..index].iter().enumerate() {
            self.apply(&mut overlay, &mut rules, ctx, tx, i, &mut gas_left)?;
        }
        self.check_sender(&overlay, target, index)?;
        run(&mut overlay, &rules)
    }

    /// Runs `trace` on each of a block's transactions in turn (its index and hash given), each
    /// on the state the transactions before it left; the whole walk stops past
    /// [`MAX_TRACE_TIMEOUT`]. A storage failure ends the walk; `trace`'s other errors are the
    /// caller's to keep per transaction.
    fn each_in_block<'a, S, R>(
        &self,
        parent: &'a S,
        ctx: &BlockContext,
        txs: &[Transaction],
        mut trace: impl FnMut(&mut Overlay<'a, S>, &governance::Rules, usize, Hash) -> R,
    ) -> Result<Vec<R>, TraceError>
    where
        S: StateReader + ?Sized,
    {
        let deadline = Instant::now() + MAX_TRACE_TIMEOUT;
        let mut overlay = Overlay { base: parent, changes: StateChanges::new() };
        let mut rules =
            governance::Rules::load(&mut |k| overlay.get(k), &self.evm.governance.genesis)?;
        let mut gas_left = rules.params.block_gas_limit;
        let mut traces = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            if Instant::now() > deadline {
                return Err(TraceError::Limit(format!(
                    "the block's traces took over {MAX_TRACE_TIMEOUT:?} by transaction {index}; \
                     trace its transactions one by one (debug_traceTransaction)"
                )));
            }
            self.check_sender(&overlay, tx, index)?;
            traces.push(trace(&mut overlay, &rules, index, tx.hash(self.hash)));
            self.apply(&mut overlay, &mut rules, ctx, tx, index, &mut gas_left)?;
        }
        Ok(traces)
    }

    /// geth's `debug_traceBlockByNumber` / `ByHash`: every transaction of the block traced with
    /// `opts`, in order, each with its hash; a transaction the tracer could not trace (a native
    /// notarization has no EVM frames) carries its error instead.
    pub fn trace_block<S: StateReader + ?Sized>(
        &self,
        parent: &S,
        ctx: BlockContext,
        txs: &[Transaction],
        block_hash: Hash,
        opts: GethDebugTracingOptions,
    ) -> Result<BlockTraces, TraceError> {
        let limits = TraceLimits::with_timeout(opts.timeout.as_deref())?;
        let traces = self.each_in_block(parent, &ctx, txs, |overlay, rules, index, hash| {
            let tx_context = TransactionContext {
                block_hash: Some(b256(&block_hash)),
                tx_index: Some(index),
                tx_hash: Some(b256(&hash)),
            };
            let run = Run::Tx(&txs[index], hash);
            let trace = evm_only(&txs[index]).and_then(|()| {
                geth_trace(self, overlay, rules, &ctx, run, opts.clone(), Some(tx_context), limits)
            });
            (hash, trace)
        })?;
        traces
            .into_iter()
            .map(|(hash, trace)| match trace {
                Err(TraceError::Execution(e)) => Err(TraceError::Execution(e)),
                other => Ok((hash, other.map_err(|e| e.to_string()))),
            })
            .collect()
    }

    /// Parity's `trace_block`: every call frame of every transaction of the block, flat.
    pub fn parity_trace_block<S: StateReader + ?Sized>(
        &self,
        parent: &S,
        ctx: BlockContext,
        txs: &[Transaction],
        block_hash: Hash,
        base_fee: u64,
    ) -> Result<Vec<LocalizedTransactionTrace>, TraceError> {
        let limits = TraceLimits::with_timeout(None)?;
        let traces = self.each_in_block(parent, &ctx, txs, |overlay, rules, index, hash| {
            let place = TxPlace { block_hash, index, tx_hash: hash };
            match evm_only(&txs[index]) {
                Ok(()) => {
                    parity_trace(self, overlay, rules, &ctx, &txs[index], place, base_fee, limits)
                }
                Err(_) => Ok(vec![]), // no frames
            }
        })?;
        Ok(traces.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }

    /// geth's `debug_traceTransaction`: the block's transaction `place.index` traced with
    /// `opts` after the transactions before it, on `parent` (the state before the block).
    pub fn trace_transaction<S: StateReader + ?Sized>(
        &self,
        parent: &S,
        ctx: BlockContext,
        txs: &[Transaction],
        place: TxPlace,
        opts: GethDebugTracingOptions,
    ) -> Result<GethTrace, TraceError> {
        let limits = TraceLimits::with_timeout(opts.timeout.as_deref())?;
        let tx_context = TransactionContext {
            block_hash: Some(b256(&place.block_hash)),
            tx_index: Some(place.index),
            tx_hash: Some(b256(&place.tx_hash)),
        };
        self.after(parent, &ctx, txs, place.index, |overlay, rules| {
            evm_only(&txs[place.index])?;
            let run = Run::Tx(&txs[place.index], place.tx_hash);
            geth_trace(self, overlay, rules, &ctx, run, opts, Some(tx_context), limits)
        })
    }

    /// geth's `debug_traceCall`: a call from `from` on `state` as block `ctx` would run it.
    pub fn trace_call<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        from: Address,
        call: &EvmCall,
        opts: GethDebugTracingOptions,
    ) -> Result<GethTrace, TraceError> {
        let limits = TraceLimits::with_timeout(opts.timeout.as_deref())?;
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let rules = governance::Rules::load(&mut |k| overlay.get(k), &self.evm.governance.genesis)?;
        geth_trace(self, &mut overlay, &rules, &ctx, Run::Call(from, call), opts, None, limits)
    }

    /// Parity's `trace_transaction`: every call frame of the block's transaction
    /// `place.index`, flat, with its trace address.
    pub fn parity_trace_transaction<S: StateReader + ?Sized>(
        &self,
        parent: &S,
        ctx: BlockContext,
        txs: &[Transaction],
        place: TxPlace,
        base_fee: u64,
    ) -> Result<Vec<LocalizedTransactionTrace>, TraceError> {
        let limits = TraceLimits::with_timeout(None)?;
        self.after(parent, &ctx, txs, place.index, |overlay, rules| {
            evm_only(&txs[place.index])?;
            parity_trace(self, overlay, rules, &ctx, &txs[place.index], place, base_fee, limits)
        })
    }

    /// geth's `eth_createAccessList`: the accounts and slots a call touches (besides its
    /// sender, its target and the precompiles), and what the call does with that list.
    pub fn create_access_list<S: StateReader + ?Sized>(
        &self,
        state: &S,
        ctx: BlockContext,
        from: Address,
        call: &EvmCall,
    ) -> Result<(AccessList, CallOutcome), TraceError> {
        let limits = TraceLimits::with_timeout(None)?;
        let mut overlay = Overlay { base: state, changes: StateChanges::new() };
        let rules = governance::Rules::load(&mut |k| overlay.get(k), &self.evm.governance.genesis)?;
        let inspector = (AccessListInspector::default(), Guard::new(limits));
        let run = Run::Call(from, call);
        let (collector, guard) =
            evm::inspect(&mut overlay, &self.evm, &rules, &ctx, run, inspector, |done| {
                done.inspector
            })?
            .map_err(TraceError::Invalid)?;
        guard.outcome()?;
        let list = collector.into_access_list();
        let options = evm::CallOptions {
            enforce_deploy_policy: true,
            access_list: Some(&list),
            ..Default::default()
        };
        let with_list =
            evm::simulate_fully(&mut overlay, &self.evm, &ctx, from, call.clone(), options)?;
        Ok((list, with_list.outcome))
    }
}

/// Parity's traces of the block's transaction `tx` at `place`, run on `overlay`.
#[allow(clippy::too_many_arguments)] // the run, where it is, and its bounds, each needed
fn parity_trace<'a, S: StateReader + ?Sized>(
    executor: &Executor,
    overlay: &mut Overlay<'a, S>,
    rules: &governance::Rules,
    ctx: &BlockContext,
    tx: &Transaction,
    place: TxPlace,
    base_fee: u64,
    limits: TraceLimits,
) -> Result<Vec<LocalizedTransactionTrace>, TraceError> {
    let info = TransactionInfo {
        hash: Some(b256(&place.tx_hash)),
        index: Some(place.index as u64),
        block_hash: Some(b256(&place.block_hash)),
        block_number: Some(ctx.height),
        base_fee: Some(base_fee),
        ..Default::default()
    };
    let inspector =
        (TracingInspector::new(TracingInspectorConfig::default_parity()), Guard::new(limits));
    let run = Run::Tx(tx, place.tx_hash);
    let (tracer, guard) =
        evm::inspect(overlay, &executor.evm, rules, ctx, run, inspector, |done| done.inspector)?
            .map_err(TraceError::Invalid)?;
    guard.outcome()?;
    Ok(tracer.into_parity_builder().into_localized_transaction_traces(info))
}

/// Runs `run` under the geth tracer `opts` names, within `limits`.
#[allow(clippy::too_many_arguments)] // the run, its tracer and its bounds, each needed
fn geth_trace<'a, S: StateReader + ?Sized>(
    executor: &Executor,
    overlay: &mut Overlay<'a, S>,
    rules: &governance::Rules,
    ctx: &BlockContext,
    run: Run<'_>,
    opts: GethDebugTracingOptions,
    tx_context: Option<TransactionContext>,
    limits: TraceLimits,
) -> Result<GethTrace, TraceError> {
    let tracer = DebugInspector::new(opts).map_err(|e| TraceError::Tracer(e.to_string()))?;
    let inspector = (tracer, Guard::new(limits));
    let (trace, guard) =
        evm::inspect(overlay, &executor.evm, rules, ctx, run, inspector, |done| {
            let (mut tracer, guard) = done.inspector;
            let trace =
                tracer.get_result(tx_context, done.tx_env, done.block_env, done.result, done.state);
            (trace, guard)
        })?
        .map_err(TraceError::Invalid)?;
    guard.outcome()?;
    trace.map_err(|e| TraceError::Tracer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_and_are_capped() {
        let limits = |t| TraceLimits::with_timeout(Some(t)).map(|l| l.timeout);
        assert_eq!(limits("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(limits("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(limits("2m").unwrap(), MAX_TRACE_TIMEOUT);
        assert!(limits("soon").is_err());
        assert_eq!(TraceLimits::with_timeout(None).unwrap().timeout, DEFAULT_TRACE_TIMEOUT);
    }
}
