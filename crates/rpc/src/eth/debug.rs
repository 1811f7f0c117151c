//! The debug and trace methods tools call: geth's `debug_traceTransaction`,
//! `debug_traceBlockByNumber` / `ByHash` and `debug_traceCall` (every tracer `revm-inspectors`
//! knows: `callTracer`, `prestateTracer`, the default struct logger with `enableMemory`,
//! `disableStack`, `disableStorage`, and `timeout`), parity's `trace_transaction` and
//! `trace_block`, and `eth_createAccessList`. They re-execute on a query thread;
//! `consortia_execution::trace` bounds each run (steps and time) and this module the size of
//! its answer.

use consortia_crypto::Hash;
use consortia_execution::trace::{GethDebugTracingOptions, TraceError, TxPlace};
use consortia_execution::{BlockContext, CallOutcome};
use consortia_storage::{StateReader, StoredHeader, StoredTx};
use serde_json::{Value, json};

use super::{Eth, RpcError, RpcResult, call_error, hash, parse_hash, qty};
use crate::handlers::call_context;

/// The largest trace answered (the struct logger with memory grows fast).
const MAX_TRACE_BYTES: usize = 32 * 1024 * 1024;

fn trace_error(e: TraceError) -> RpcError {
    RpcError::server(e)
}

/// The context block `header` ran in (what a re-execution of its transactions needs).
fn block_context(header: &StoredHeader) -> BlockContext {
    BlockContext {
        height: header.header.height,
        time_ms: header.header.time_ms,
        proposer: header.header.proposer,
        parent_hash: header.header.parent_hash,
    }
}

/// A trace as JSON, refused over [`MAX_TRACE_BYTES`].
fn bounded(trace: &impl serde::Serialize) -> RpcResult {
    let text = serde_json::to_string(trace).map_err(RpcError::server)?;
    if text.len() > MAX_TRACE_BYTES {
        return Err(RpcError::server(format!(
            "the trace is {} bytes, over the limit of {MAX_TRACE_BYTES}; disable memory or stack, \
             set a `limit`, or use the callTracer",
            text.len()
        )));
    }
    serde_json::from_str(&text).map_err(RpcError::server)
}

impl Eth<'_> {
    fn tracing_options(&self, i: usize) -> Result<GethDebugTracingOptions, RpcError> {
        match self.opt(i) {
            None => Ok(GethDebugTracingOptions::default()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RpcError::params(format!("tracing options: {e}"))),
        }
    }

    /// A committed transaction by the hash in parameter 0, with its block's transactions.
    fn located(
        &self,
    ) -> Result<(StoredTx, StoredHeader, Vec<consortia_types::Transaction>), RpcError> {
        let h = parse_hash(self.param(0, "transaction hash")?, "transaction hash")?;
        let stored = self
            .node
            .store()
            .transaction(&h)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::server(format!("transaction {h} not found")))?;
        let header = self.header(stored.height)?;
        let txs = self.block(stored.height)?.transactions;
        Ok((stored, header, txs))
    }

    pub(super) fn debug_trace_transaction(&self) -> RpcResult {
        let opts = self.tracing_options(1)?;
        let (stored, header, txs) = self.located()?;
        let parent = self.node.store().state_at(stored.height - 1).map_err(RpcError::from)?;
        let place = place(&stored, &header);
        let trace = self
            .node
            .executor()
            .trace_transaction(&*parent, block_context(&header), &txs, place, opts)
            .map_err(trace_error)?;
        bounded(&trace)
    }

    /// Traces the committed block named by parameter 0 (number, tag or hash) with `trace`,
    /// given the state before it; a block without transactions has no traces.
    fn trace_block_with<R: serde::Serialize>(
        &self,
        trace: impl FnOnce(
            &dyn StateReader,
            BlockContext,
            &[consortia_types::Transaction],
            Hash,
        ) -> Result<R, TraceError>,
    ) -> RpcResult {
        let height = self
            .block_id(self.param(0, "block")?)?
            .ok_or_else(|| RpcError::server("block not found"))?;
        let header = self.header(height)?;
        let txs = self.block(height)?.transactions;
        if txs.is_empty() {
            return Ok(json!([]));
        }
        let parent = self.node.store().state_at(height - 1).map_err(RpcError::from)?;
        let traces =
            trace(&*parent, block_context(&header), &txs, header.hash).map_err(trace_error)?;
        bounded(&traces)
    }

    /// geth's answer: `[{txHash, result}]`, or `{txHash, error}` for a transaction it could not
    /// trace.
    pub(super) fn debug_trace_block(&self) -> RpcResult {
        let opts = self.tracing_options(1)?;
        self.trace_block_with(|parent, ctx, txs, block_hash| {
            let traces = self.node.executor().trace_block(parent, ctx, txs, block_hash, opts)?;
            Ok(traces
                .into_iter()
                .map(|(tx_hash, trace)| match trace {
                    Ok(result) => json!({ "txHash": hash(&tx_hash), "result": result }),
                    Err(error) => json!({ "txHash": hash(&tx_hash), "error": error }),
                })
                .collect::<Vec<_>>())
        })
    }

    pub(super) fn trace_block(&self) -> RpcResult {
        let base_fee = self.base_fee();
        self.trace_block_with(|parent, ctx, txs, block_hash| {
            self.node.executor().parity_trace_block(parent, ctx, txs, block_hash, base_fee)
        })
    }

    pub(super) fn debug_trace_call(&self) -> RpcResult {
        let (from, call) = self.call_request(self.param(0, "call")?)?;
        let height = self.height_of(self.opt(1))?;
        let opts = self.tracing_options(2)?;
        let state = self.node.store().state_at(height).map_err(RpcError::from)?;
        let ctx = call_context(&self.header(height)?);
        let trace = self
            .node
            .executor()
            .trace_call(&*state, ctx, from, &call, opts)
            .map_err(trace_error)?;
        bounded(&trace)
    }

    pub(super) fn trace_transaction(&self) -> RpcResult {
        let (stored, header, txs) = self.located()?;
        let parent = self.node.store().state_at(stored.height - 1).map_err(RpcError::from)?;
        let traces = self
            .node
            .executor()
            .parity_trace_transaction(
                &*parent,
                block_context(&header),
                &txs,
                place(&stored, &header),
                self.base_fee(),
            )
            .map_err(trace_error)?;
        bounded(&traces)
    }

    /// geth's answer: the list, the gas the call uses with it, and the error if it fails.
    pub(super) fn create_access_list(&self) -> RpcResult {
        let (from, call) = self.call_request(self.param(0, "call")?)?;
        let height = self.height_of(self.opt(1))?;
        let state = self.node.store().state_at(height).map_err(RpcError::from)?;
        let ctx = call_context(&self.header(height)?);
        let (list, outcome) = self
            .node
            .executor()
            .create_access_list(&*state, ctx, from, &call)
            .map_err(trace_error)?;
        let list = serde_json::to_value(&list).map_err(RpcError::server)?;
        let (gas, error) = match outcome {
            CallOutcome::Success { gas_used, .. } => (gas_used, None),
            CallOutcome::Revert { gas_used, ref output } => {
                let message = call_error(CallOutcome::Revert { gas_used, output: output.clone() });
                (gas_used, Some(message.error.message))
            }
            CallOutcome::Halt { gas_used, reason } => (gas_used, Some(reason)),
            invalid @ CallOutcome::Invalid(_) => return Err(call_error(invalid)),
        };
        let mut answer = json!({ "accessList": list, "gasUsed": qty(gas) });
        if let Some(error) = error {
            answer["error"] = Value::String(error);
        }
        Ok(answer)
    }
}

fn place(stored: &StoredTx, header: &StoredHeader) -> TxPlace {
    TxPlace { block_hash: header.hash, index: stored.position as usize, tx_hash: stored.hash }
}
