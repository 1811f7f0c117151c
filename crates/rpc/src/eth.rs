//! Ethereum JSON-RPC 2.0 at `POST /rpc` (and `POST /`), so web3.py, ethers and Foundry work
//! unchanged.
//!
//! Blocks are final when committed, so `latest`, `safe` and `finalized` name the same block;
//! `pending` is the next block as the pool would fill it where a block is asked for, and the
//! latest state where state is read (nonces also count the sender's pooled transactions).
//! `eth_gasPrice` is the chain's constant base fee (see `consortia-execution`). Errors use the
//! JSON-RPC codes: -32700 parse error, -32600 invalid request, -32601 unknown method, -32602
//! invalid params, -32003 for a transaction refused for its nonce, funds or intrinsic gas,
//! -32000 for other refusals and failed calls, and 3 with the revert data for a reverted call,
//! as geth reports it, so clients decode the reason. `docs/ethereum.md` lists every method.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::Transaction as _;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use consortia_api::jsonrpc::{
    self, EXECUTION_REVERTED, ErrorObject, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST,
    METHOD_NOT_FOUND, PARSE_ERROR, PRUNED_HISTORY, SERVER_ERROR, TRANSACTION_REJECTED,
};
use consortia_crypto::{Address, Hash, keccak256};
use consortia_execution::{Account, CallOutcome, code_key, read_account, revert_reason, slot_key};
use consortia_node::Node;
use consortia_node::mempool::{AdmissionState, AdmitError};
use consortia_storage::{StorageError, StoredHeader, StoredTx};
use consortia_types::{EvmCall, Height, Receipt, ReceiptStatus, Transaction, encode};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::QueryPool;
use crate::access::{Permit, WRITE_METHODS};
use crate::handlers::call_context;

mod debug;
mod proof;
mod simulate;
mod txpool;
pub(crate) mod ws;
pub(crate) use ws::WsLimits;
pub use ws::{MAX_CATCH_UP, MAX_SUBSCRIPTIONS, SEND_TIMEOUT};

/// Most requests one batch may carry.
pub const MAX_RPC_BATCH: usize = 100;
/// Most blocks one `eth_getLogs` without topics may scan (one with topics reads the topic
/// index instead, over any range).
pub const MAX_LOG_RANGE: u64 = 10_000;
/// Most logs one `eth_getLogs` answers.
pub const MAX_LOGS: usize = 10_000;
/// Most live filters; a filter not polled for [`FILTER_TTL`] is dropped.
const MAX_FILTERS: usize = 1_000;
const FILTER_TTL: Duration = Duration::from_secs(300);
/// Gas a call gets when it names none (and the most it may name).
const CALL_GAS_CAP: u64 = 50_000_000;
/// The root of an empty Merkle-Patricia trie (keccak256(rlp(""))): `withdrawalsRoot` of a
/// block without withdrawals.
const EMPTY_TRIE_ROOT: &str = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
/// keccak256(rlp([])): the uncles hash of a block without uncles.
const EMPTY_UNCLES: &str = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";

/// A JSON-RPC error object, and whether it answers a method this node does not serve.
#[derive(Debug)]
pub struct RpcError {
    error: ErrorObject,
    /// The method is not one this node serves (metrics count it as `unknown`, not by name).
    unknown_method: bool,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            error: ErrorObject { code, message: message.into(), data: None },
            unknown_method: false,
        }
    }

    /// The answer to a method this node does not serve.
    fn no_such_method(method: &str) -> Self {
        RpcError {
            unknown_method: true,
            ..RpcError::new(
                METHOD_NOT_FOUND,
                format!("the method {method} does not exist/is not available"),
            )
        }
    }

    fn params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    fn server(message: impl std::fmt::Display) -> Self {
        RpcError::new(SERVER_ERROR, message.to_string())
    }
}

/// Reads of the chain: pruned history answers as geth does (4444), an archive that cannot be
/// read says so without its path (logged), the rest is a server error.
impl From<StorageError> for RpcError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Pruned { first, .. } => RpcError {
                error: ErrorObject {
                    code: PRUNED_HISTORY,
                    message: "pruned history unavailable".into(),
                    data: Some(json!({ "firstBlock": format!("{first:#x}") })),
                },
                unknown_method: false,
            },
            StorageError::Archive(detail) => {
                tracing::warn!(target: "rpc::eth", error = %detail, "an archived block cannot be read");
                RpcError::server("archived history unavailable: this node cannot read its archive")
            }
            other => RpcError::server(other),
        }
    }
}

type RpcResult = Result<Value, RpcError>;

/// Ethereum JSON-RPC 2.0 at the root path, as many clients expect it (the same as `POST /rpc`)
#[utoipa::path(post, path = "/", tag = "ethereum",
    request_body(content = Object, description = "A JSON-RPC 2.0 request, or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "The response, or an array of responses for a batch", body = Object),
        (status = 204, description = "Only notifications: nothing to answer"),
        (status = 415, description = "The body is not declared JSON (`Content-Type: application/json`)", body = consortia_api::ErrorBody),
    ))]
pub(crate) async fn rpc_at_root(
    state: State<Arc<Node>>,
    shared: Extension<Arc<EthState>>,
    pool: Extension<QueryPool>,
    permit: Extension<Permit>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    rpc(state, shared, pool, permit, headers, body).await
}

/// What the Ethereum API keeps between requests: the filters of `eth_newFilter` /
/// `eth_newBlockFilter` (polled by id), and the gas and log sums of recent blocks.
#[derive(Debug, Default)]
pub struct EthState {
    filters: Mutex<FilterTable>,
    sums: Mutex<VecDeque<(Height, Arc<[TxSums]>)>>,
}

/// Blocks whose [`TxSums`] are kept: receipts are asked for in bursts, block by block.
const SUMS_KEPT: usize = 16;

/// Per transaction of a block: the gas used by it and those before it, and the logs before it
/// (a receipt's `cumulativeGasUsed` and its first `logIndex`).
#[derive(Clone, Copy, Debug)]
struct TxSums {
    cumulative_gas: u64,
    logs_before: usize,
}

#[derive(Debug, Default)]
struct FilterTable {
    next_id: u64,
    live: HashMap<u64, Filter>,
}

#[derive(Debug, Clone)]
struct Filter {
    kind: FilterKind,
    /// The last block whose changes were returned.
    seen: Height,
    polled: Instant,
}

#[derive(Debug, Clone)]
enum FilterKind {
    /// New block hashes.
    Blocks,
    Logs(LogFilter),
    /// Hashes of transactions admitted since; `next` is the pool's arrival number to ask from.
    Pending {
        next: u64,
    },
}

#[derive(Debug, Clone, Default)]
struct LogFilter {
    from: Option<Height>,
    to: Option<Height>,
    addresses: Vec<Address>,
    /// Per position: any of these (empty: anything).
    topics: Vec<Vec<Hash>>,
}

/// Ethereum JSON-RPC 2.0: one request, or a batch (an array) of at most 100
///
/// The `eth_*`, `net_*` and `web3_*` methods web3 clients call; errors use the JSON-RPC codes
/// (-32700, -32600, -32601, -32602, -32000, and 3 with the revert data for a reverted call).
#[utoipa::path(post, path = "/rpc", tag = "ethereum",
    request_body(content = Object, description = "A JSON-RPC 2.0 request `{jsonrpc, id, method, params}`, or an array of them", content_type = "application/json"),
    responses(
        (status = 200, description = "The response, or an array of responses for a batch (JSON-RPC errors are answered with 200 too)", body = Object),
        (status = 204, description = "Only notifications (requests without `id`): nothing to answer"),
        (status = 415, description = "The body is not declared JSON (`Content-Type: application/json`)", body = consortia_api::ErrorBody),
    ))]
pub(crate) async fn rpc(
    State(node): State<Arc<Node>>,
    Extension(shared): Extension<Arc<EthState>>,
    Extension(pool): Extension<QueryPool>,
    Extension(permit): Extension<Permit>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    // As geth: a POST not declared JSON is refused (see `declares_json` for why).
    if !consortia_api::server::declares_json(&headers) {
        return consortia_api::server::not_json().into_response();
    }
    match answer(&node, &shared, &pool, None, permit, &body).await {
        Some(v) => reply(v),
        None => axum::http::StatusCode::NO_CONTENT.into_response(),
    }
}

/// The answer to one request or a batch (`None` when it held only notifications), sending
/// transactions only as `permit` allows. Requests run on the query pool: they read the store.
async fn answer(
    node: &Arc<Node>,
    shared: &Arc<EthState>,
    pool: &QueryPool,
    session: Option<&Arc<ws::Session>>,
    permit: Permit,
    body: &[u8],
) -> Option<Value> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Some(error_response(
                Value::Null,
                &RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
            ));
        }
    };
    if light(&request) {
        return respond(node, shared, session.map(Arc::as_ref), permit, request, true);
    }
    if request.get("method").and_then(Value::as_str) == Some("eth_call") {
        // A short call is answered here; one past the step budget runs on a query thread.
        let answer = respond(node, shared, session.map(Arc::as_ref), permit, request.clone(), true);
        if !answer.as_ref().is_some_and(is_deferred) {
            return answer;
        }
    }
    let (node, shared, session) = (node.clone(), shared.clone(), session.cloned());
    let answer =
        pool.run(move || respond(&node, &shared, session.as_deref(), permit, request, false)).await;
    answer.unwrap_or_else(|e| {
        Some(error_response(Value::Null, &RpcError::new(INTERNAL_ERROR, e.to_string())))
    })
}

/// Methods answered on the async runtime, without a query thread: they read memory or a few
/// state keys (microseconds). Handing them to the blocking pool cost more than the read, two
/// thread switches per request (`scripts/bench-rpc`: 0.5x of anvil's throughput that way).
const LIGHT_METHODS: [&str; 17] = [
    "eth_blockNumber",
    "eth_chainId",
    "net_version",
    "net_listening",
    "net_peerCount",
    "web3_clientVersion",
    "eth_syncing",
    "eth_mining",
    "eth_accounts",
    "eth_coinbase",
    "eth_protocolVersion",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getStorageAt",
];

/// EVM steps an `eth_call` may take on the async runtime (a token's `balanceOf` takes a few
/// hundred; this many run in well under a millisecond). A call that needs more starts again on
/// a query thread, so a long call never holds a runtime thread that consensus shares.
const INLINE_CALL_STEPS: u64 = 20_000;

/// The code of the error an inline `eth_call` gives when it needs more than
/// [`INLINE_CALL_STEPS`]: never sent (the call is run again on a query thread).
const DEFERRED: i64 = i64::MIN;

fn is_deferred(answer: &Value) -> bool {
    answer["error"]["code"].as_i64() == Some(DEFERRED)
}

/// Whether a request (or a small batch) holds only [`LIGHT_METHODS`].
fn light(request: &Value) -> bool {
    let is_light = |r: &Value| {
        r.get("method").and_then(Value::as_str).is_some_and(|m| LIGHT_METHODS.contains(&m))
    };
    match request {
        Value::Array(batch) => batch.len() <= 8 && batch.iter().all(is_light),
        single => is_light(single),
    }
}

/// The answer to a parsed request or batch (`None` when it held only notifications).
/// `inline`: on the async runtime (an `eth_call` then stops at [`INLINE_CALL_STEPS`]).
fn respond(
    node: &Arc<Node>,
    shared: &EthState,
    session: Option<&ws::Session>,
    permit: Permit,
    request: Value,
    inline: bool,
) -> Option<Value> {
    let no_sends = HashMap::new();
    match request {
        Value::Array(batch) if batch.is_empty() => {
            Some(error_response(Value::Null, &RpcError::new(INVALID_REQUEST, "empty batch")))
        }
        Value::Array(batch) if batch.len() > MAX_RPC_BATCH => Some(error_response(
            Value::Null,
            &RpcError::new(
                INVALID_REQUEST,
                format!("a batch of {} requests is over the limit of {MAX_RPC_BATCH}", batch.len()),
            ),
        )),
        Value::Array(batch) => {
            let sends = if permit.write { admit_sends(node, &batch) } else { Sends::new() };
            let out: Vec<Value> = batch
                .into_iter()
                .filter_map(|r| handle(node, shared, session, permit, &sends, r, inline))
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        single => handle(node, shared, session, permit, &no_sends, single, inline),
    }
}

fn reply(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn error_response(id: Value, e: &RpcError) -> Value {
    serde_json::to_value(jsonrpc::Response::failure(id, e.error.clone())).unwrap_or(Value::Null)
}

/// The outcomes of a batch's `eth_sendRawTransaction`s, by transaction hash: the hash, or the
/// refusal.
type Sends = HashMap<Hash, Result<Hash, AdmitError>>;

/// Admits a batch's raw transactions together (one admission, one gossip message), before its
/// requests are answered in order. Requests with bad parameters are left to their answer.
fn admit_sends(node: &Node, batch: &[Value]) -> Sends {
    let mut hashes = vec![];
    let mut encoded = vec![];
    for request in batch {
        if request.get("method").and_then(Value::as_str) != Some("eth_sendRawTransaction") {
            continue;
        }
        let Some(param) = request.get("params").and_then(|p| p.get(0)) else { continue };
        if let Ok((h, tx)) = raw_transaction(node, param) {
            hashes.push(h);
            encoded.push(tx);
        }
    }
    if encoded.is_empty() {
        return Sends::new();
    }
    let results = node.submit_blocking(encoded);
    hashes.into_iter().zip(results).map(|(h, r)| (h, r.map(|a| a.hash))).collect()
}

/// An `eth_sendRawTransaction` parameter: the transaction's hash and its encoding for the pool.
fn raw_transaction(node: &Node, param: &Value) -> Result<(Hash, Vec<u8>), RpcError> {
    let raw = parse_bytes(param, "raw transaction")?;
    let max = node.genesis().params.max_tx_bytes as usize;
    if raw.len() > max {
        return Err(RpcError::server(format!(
            "oversized data: transaction is {} bytes, over the limit of {max}",
            raw.len()
        )));
    }
    let tx = consortia_types::EthTx::decode(&raw)
        .map_err(|e| RpcError::new(INVALID_PARAMS, format!("invalid raw transaction: {e}")))?;
    Ok((keccak256(&raw), encode(&Transaction::Ethereum(tx))))
}

/// One request; `None` for a notification (no id), which gets no answer.
fn handle(
    node: &Arc<Node>,
    shared: &EthState,
    session: Option<&ws::Session>,
    permit: Permit,
    sends: &Sends,
    request: Value,
    inline: bool,
) -> Option<Value> {
    let Value::Object(mut req) = request else {
        return Some(error_response(
            Value::Null,
            &RpcError::new(INVALID_REQUEST, "a request must be an object"),
        ));
    };
    let id = req.remove("id");
    let notification = id.is_none();
    let id = id.unwrap_or(Value::Null);
    if req.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error_response(
            id,
            &RpcError::new(INVALID_REQUEST, "jsonrpc must be \"2.0\""),
        ));
    }
    let Some(method) = req.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return Some(error_response(
            id,
            &RpcError::new(INVALID_REQUEST, "method must be a string"),
        ));
    };
    if !permit.write && WRITE_METHODS.contains(&method.as_str()) {
        let refused = RpcError::new(
            TRANSACTION_REJECTED,
            "transaction rejected: sending transactions needs a write credential",
        );
        return (!notification).then(|| error_response(id, &refused));
    }
    let params = match req.remove("params") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(p)) => p,
        Some(_) => {
            return Some(error_response(id, &RpcError::params("params must be an array")));
        }
    };
    let result = Eth { node, shared, params: &params, session, sends, inline }.dispatch(&method);
    if matches!(&result, Err(e) if e.error.code == DEFERRED) {
        return Some(error_response(id, &RpcError::new(DEFERRED, "deferred")));
    }
    let served = !matches!(&result, Err(e) if e.unknown_method);
    node.metrics().rpc_call(if served { &method } else { "unknown" }, result.is_ok());
    if notification {
        return None;
    }
    Some(match result {
        // The shape of `jsonrpc::Response::success`, built in place (no second copy of `v`).
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => error_response(id, &e),
    })
}

fn qty(n: impl Into<u128>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

fn data(b: &[u8]) -> Value {
    Value::String(format!("0x{}", hex::encode(b)))
}

fn addr(a: &Address) -> Value {
    Value::String(a.to_checksum_hex())
}

fn hash(h: &Hash) -> Value {
    Value::String(h.to_hex())
}

fn parse_qty(v: &Value, what: &str) -> Result<u128, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::params(format!("{what} must be a hex quantity")))?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| RpcError::params(format!("{what} `{s}` must start with 0x")))?;
    if digits.is_empty() || digits.len() > 32 {
        return Err(RpcError::params(format!("{what} `{s}` is not a quantity")));
    }
    u128::from_str_radix(digits, 16)
        .map_err(|_| RpcError::params(format!("{what} `{s}` is not a hex quantity")))
}

fn parse_u64(v: &Value, what: &str) -> Result<u64, RpcError> {
    u64::try_from(parse_qty(v, what)?).map_err(|_| RpcError::params(format!("{what} is too large")))
}

fn parse_bytes(v: &Value, what: &str) -> Result<Vec<u8>, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::params(format!("{what} must be hex data")))?;
    let digits = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(digits).map_err(|e| RpcError::params(format!("{what}: {e}")))
}

fn parse_address(v: &Value, what: &str) -> Result<Address, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::params(format!("{what} must be an address")))?;
    Address::from_hex_any_case(s).map_err(|e| RpcError::params(format!("{what}: {e}")))
}

fn parse_hash(v: &Value, what: &str) -> Result<Hash, RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::params(format!("{what} must be a 32-byte hash")))?;
    Hash::from_hex(s).map_err(|e| RpcError::params(format!("{what}: {e}")))
}

/// Adds `item`'s bits to a 2048-bit logs bloom (the Yellow Paper's M3:2048).
fn bloom_add(bloom: &mut [u8; 256], item: &[u8]) {
    let h = keccak256(item);
    for i in [0, 2, 4] {
        let bit = (usize::from(h.0[i]) << 8 | usize::from(h.0[i + 1])) & 2047;
        bloom[255 - bit / 8] |= 1 << (bit % 8);
    }
}

fn bloom_of<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> [u8; 256] {
    let mut bloom = [0u8; 256];
    for r in receipts {
        for e in &r.events {
            bloom_add(&mut bloom, &e.contract.0);
            for t in &e.topics {
                bloom_add(&mut bloom, &t.0);
            }
        }
    }
    bloom
}

struct Eth<'a> {
    node: &'a Arc<Node>,
    shared: &'a EthState,
    params: &'a [Value],
    /// The WebSocket connection the request came on, for `eth_subscribe`.
    session: Option<&'a ws::Session>,
    /// Raw transactions of the request's batch, already admitted.
    sends: &'a Sends,
    /// Answered on the async runtime: an `eth_call` stops at [`INLINE_CALL_STEPS`].
    inline: bool,
}

impl Eth<'_> {
    fn param(&self, i: usize, what: &str) -> Result<&Value, RpcError> {
        self.params.get(i).ok_or_else(|| RpcError::params(format!("missing parameter {i}: {what}")))
    }

    fn opt(&self, i: usize) -> Option<&Value> {
        self.params.get(i).filter(|v| !v.is_null())
    }

    fn dispatch(&self, method: &str) -> RpcResult {
        let node = self.node;
        let chain_id = node.genesis().chain_id;
        match method {
            "web3_clientVersion" => Ok(json!(concat!("consortia/v", env!("CARGO_PKG_VERSION")))),
            "web3_sha3" => Ok(hash(&keccak256(&parse_bytes(self.param(0, "data")?, "data")?))),
            "net_version" => Ok(json!(chain_id.to_string())),
            "net_listening" => Ok(json!(true)),
            "net_peerCount" => Ok(qty(node.peer_count() as u64)),
            "eth_chainId" => Ok(qty(chain_id)),
            "eth_blockNumber" => Ok(qty(self.latest()?)),
            "eth_syncing" | "eth_mining" => Ok(json!(false)),
            "eth_accounts" => Ok(json!([])),
            "eth_coinbase" => Ok(addr(&node.address().unwrap_or_default())),
            "eth_protocolVersion" => Ok(json!("0x44")),
            // The base fee is constant and no tip buys a place: a wallet pays the base fee.
            "eth_gasPrice" => Ok(qty(self.base_fee())),
            "eth_maxPriorityFeePerGas" => Ok(qty(0u8)),
            // Blobs are refused; the blob base fee at zero excess blob gas is 1 wei.
            "eth_blobBaseFee" => Ok(qty(1u8)),
            "eth_feeHistory" => self.fee_history(),
            "eth_getBalance" => {
                let a = parse_address(self.param(0, "address")?, "address")?;
                Ok(qty(self.account_at(&a, self.opt(1))?.balance))
            }
            "eth_getTransactionCount" => self.transaction_count(),
            "eth_getCode" => {
                let a = parse_address(self.param(0, "address")?, "address")?;
                let height = self.height_of(self.opt(1))?;
                let state = node.store().state_at(height).map_err(RpcError::from)?;
                let account = read_account(&*state, &a).map_err(RpcError::server)?;
                let code = match account.code_hash {
                    Some(h) => {
                        state.get(&code_key(&h)).map_err(RpcError::from)?.unwrap_or_default()
                    }
                    None => vec![],
                };
                Ok(data(&code))
            }
            "eth_getStorageAt" => {
                let a = parse_address(self.param(0, "address")?, "address")?;
                let slot = parse_qty_or_hash(self.param(1, "slot")?)?;
                let height = self.height_of(self.opt(2))?;
                let state = node.store().state_at(height).map_err(RpcError::from)?;
                let value = state.get(&slot_key(&a, &slot)).map_err(RpcError::from)?;
                let mut word = [0u8; 32];
                if let Some(v) = value {
                    word[32 - v.len().min(32)..].copy_from_slice(&v[v.len().saturating_sub(32)..]);
                }
                Ok(data(&word))
            }
            "eth_call"
                if self.opt(2).is_some_and(|v| !v.is_null())
                    || self.opt(3).is_some_and(|v| !v.is_null()) =>
            {
                self.call_with_overrides()
            }
            "eth_call" => {
                let height = self.height_of(self.opt(1))?;
                match self.call(self.param(0, "call")?, height)? {
                    CallOutcome::Success { output, .. } => Ok(data(&output)),
                    other => Err(call_error(other)),
                }
            }
            "eth_estimateGas" => self.estimate_gas(),
            "eth_sendRawTransaction" => self.send_raw(),
            "eth_getTransactionByHash" => {
                let h = parse_hash(self.param(0, "transaction hash")?, "transaction hash")?;
                match node.store().transaction(&h).map_err(RpcError::from)? {
                    Some(stored) => Ok(self.tx_object(&stored)?),
                    None => match node.mempool().get(&h) {
                        Some(pooled) => Ok(tx_json(&pooled.tx, &h, None)),
                        None => self.not_found(&h),
                    },
                }
            }
            "eth_getTransactionReceipt" => {
                let h = parse_hash(self.param(0, "transaction hash")?, "transaction hash")?;
                match node.store().transaction(&h).map_err(RpcError::from)? {
                    Some(stored) => self.receipt_object(&stored),
                    None => self.not_found(&h),
                }
            }
            "eth_getBlockReceipts" => {
                let Some(height) = self.block_id(self.param(0, "block")?)? else {
                    return Ok(Value::Null);
                };
                let header = self.header(height)?;
                (0..header.header.tx_count)
                    .map(|i| {
                        let stored = self
                            .node
                            .store()
                            .transaction(&header.tx_hashes[i as usize])
                            .map_err(RpcError::from)?
                            .ok_or_else(|| RpcError::server("a block's transaction is missing"))?;
                        self.receipt_object(&stored)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            "eth_getTransactionByBlockNumberAndIndex" | "eth_getTransactionByBlockHashAndIndex" => {
                let index = parse_u64(self.param(1, "index")?, "index")?;
                if method.contains("Number") && self.is_pending(self.param(0, "block")?) {
                    let pending = self.pending_txs();
                    return Ok(pending
                        .get(index as usize)
                        .map_or(Value::Null, |p| tx_json(&p.tx, &p.hash, None)));
                }
                let Some(height) = self.block_id(self.param(0, "block")?)? else {
                    return Ok(Value::Null);
                };
                let header = self.header(height)?;
                let Some(h) = header.tx_hashes.get(index as usize) else { return Ok(Value::Null) };
                match node.store().transaction(h).map_err(RpcError::from)? {
                    Some(stored) => self.tx_object(&stored),
                    None => Ok(Value::Null),
                }
            }
            "eth_getUncleCountByBlockHash" | "eth_getUncleCountByBlockNumber" => {
                Ok(match self.block_id(self.param(0, "block")?)? {
                    Some(_) => qty(0u8),
                    None => Value::Null,
                })
            }
            "eth_getUncleByBlockHashAndIndex" | "eth_getUncleByBlockNumberAndIndex" => {
                Ok(Value::Null)
            }
            "debug_traceTransaction" => self.debug_trace_transaction(),
            "debug_traceCall" => self.debug_trace_call(),
            "trace_transaction" => self.trace_transaction(),
            "debug_traceBlockByNumber" | "debug_traceBlockByHash" => self.debug_trace_block(),
            "trace_block" => self.trace_block(),
            "eth_createAccessList" => self.create_access_list(),
            "eth_getProof" => self.get_proof(),
            "eth_simulateV1" => self.simulate_v1(),
            "txpool_status" | "txpool_content" | "txpool_contentFrom" | "txpool_inspect" => {
                self.txpool(method)
            }
            "eth_getBlockByNumber" => {
                let full = self.opt(1).and_then(Value::as_bool).unwrap_or(false);
                let block = self.param(0, "block")?;
                if self.is_pending(block) {
                    return self.pending_block(full);
                }
                match self.block_height(block)? {
                    Some(h) => self.block_object(h, full),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockByHash" => {
                let full = self.opt(1).and_then(Value::as_bool).unwrap_or(false);
                let h = parse_hash(self.param(0, "block hash")?, "block hash")?;
                match node.store().height_by_hash(&h).map_err(RpcError::from)? {
                    Some(height) => self.block_object(height, full),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockTransactionCountByNumber" => {
                if self.is_pending(self.param(0, "block")?) {
                    return Ok(qty(self.pending_txs().len() as u64));
                }
                match self.block_height(self.param(0, "block")?)? {
                    Some(h) => Ok(qty(self.header(h)?.header.tx_count)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getBlockTransactionCountByHash" => {
                let h = parse_hash(self.param(0, "block hash")?, "block hash")?;
                match node.store().height_by_hash(&h).map_err(RpcError::from)? {
                    Some(height) => Ok(qty(self.header(height)?.header.tx_count)),
                    None => Ok(Value::Null),
                }
            }
            "eth_getLogs" => {
                let spec = self.param(0, "filter")?;
                let filter = self.log_filter(spec)?;
                let named = |f: &str| spec.get(f).is_some_and(|v| !v.is_null());
                if named("blockHash") && (named("fromBlock") || named("toBlock")) {
                    return Err(RpcError::params(
                        "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
                    ));
                }
                if let (Some(from), Some(to)) = (filter.from, filter.to)
                    && from > to
                {
                    return Err(RpcError::params("invalid block range params"));
                }
                if let Some(block_hash) = spec.get("blockHash").filter(|v| !v.is_null()) {
                    let h = parse_hash(block_hash, "blockHash")?;
                    let Some(height) = node.store().height_by_hash(&h).map_err(RpcError::from)?
                    else {
                        return Err(RpcError::server("unknown block"));
                    };
                    return self.logs(&filter, height, height);
                }
                let latest = self.latest()?;
                self.logs(&filter, filter.from.unwrap_or(latest), filter.to.unwrap_or(latest))
            }
            "eth_newFilter" => {
                let filter = self.log_filter(self.param(0, "filter")?)?;
                self.install(FilterKind::Logs(filter))
            }
            "eth_newBlockFilter" => self.install(FilterKind::Blocks),
            "eth_newPendingTransactionFilter" => {
                let (_, next) = node.mempool().admitted_since(u64::MAX);
                self.install(FilterKind::Pending { next })
            }
            "eth_getFilterChanges" => self.filter_changes(),
            "eth_getFilterLogs" => {
                let id = self.filter_id()?;
                let filter = self.shared.filters.lock().live.get(&id).cloned();
                let Some(Filter { kind: FilterKind::Logs(f), .. }) = filter else {
                    return Err(RpcError::server("filter not found"));
                };
                let latest = self.latest()?;
                self.logs(&f, f.from.unwrap_or(latest), f.to.unwrap_or(latest))
            }
            "eth_subscribe" | "eth_unsubscribe" => {
                let Some(session) = self.session else {
                    return Err(RpcError::new(
                        METHOD_NOT_FOUND,
                        format!(
                            "{method} needs a WebSocket connection: connect to ws://HOST:PORT/ws"
                        ),
                    ));
                };
                if method == "eth_subscribe" {
                    self.subscribe(session)
                } else {
                    self.unsubscribe(session)
                }
            }
            "eth_uninstallFilter" => {
                let id = self.filter_id()?;
                Ok(json!(self.shared.filters.lock().live.remove(&id).is_some()))
            }
            _ => Err(RpcError::no_such_method(method)),
        }
    }

    fn base_fee(&self) -> u64 {
        self.node.genesis().params.base_fee_per_gas
    }

    /// A transaction neither committed nor pooled: `null`, as geth answers, unless the pool
    /// dropped it after admitting it; then an error with why, so a client waiting for its
    /// receipt stops at once instead of at its timeout.
    fn not_found(&self, h: &Hash) -> RpcResult {
        match self.node.mempool().dropped(h) {
            Some(reason) => Err(RpcError::server(format!(
                "transaction {h} was dropped without a block: {reason}"
            ))),
            None => Ok(Value::Null),
        }
    }

    fn is_pending(&self, block: &Value) -> bool {
        block.as_str() == Some("pending")
    }

    /// A block by number, tag or hash (`null` answers for one not produced yet).
    fn block_id(&self, v: &Value) -> Result<Option<Height>, RpcError> {
        match v.as_str() {
            Some(s) if s.len() == 66 => self
                .node
                .store()
                .height_by_hash(&parse_hash(v, "block hash")?)
                .map_err(RpcError::from),
            _ => self.block_height(v),
        }
    }

    /// The transactions the next block would take now.
    fn pending_txs(&self) -> Vec<consortia_node::mempool::PoolTx> {
        let p = &self.node.genesis().params;
        self.node.mempool().preview_block(p.max_block_txs as usize, p.max_block_bytes)
    }

    /// The block being built: the transactions the next block would take, on top of the
    /// latest; `hash`, `nonce` and `miner` are null, as geth shows its pending block.
    fn pending_block(&self, full: bool) -> RpcResult {
        let latest = self.latest()?;
        let mut block = self.block_object(latest, false)?;
        let parent = self.header(latest)?;
        let txs = self.pending_txs();
        let gas: u64 = txs.iter().filter_map(|p| p.tx.evm_call()).map(|c| c.gas_limit).sum();
        block["number"] = qty(latest + 1);
        block["parentHash"] = hash(&parent.hash);
        block["timestamp"] = qty(consortia_node::now_ms().max(parent.header.time_ms) / 1_000);
        block["gasUsed"] = qty(gas.min(self.gas_limit(latest + 1)?));
        block["logsBloom"] = data(&[0u8; 256]);
        for unknown in ["hash", "nonce", "miner", "stateRoot", "receiptsRoot", "transactionsRoot"] {
            block[unknown] = Value::Null;
        }
        block["transactions"] = txs
            .iter()
            .map(|p| if full { tx_json(&p.tx, &p.hash, None) } else { hash(&p.hash) })
            .collect();
        Ok(block)
    }

    /// The latest committed height: the store's as well as the node's in memory. The store
    /// commits a block just before the node's height moves, so a client that saw a block's
    /// receipt must find that block `latest` (as geth orders them), or a call at `latest`
    /// right after a receipt reads the state before it.
    fn latest(&self) -> Result<Height, RpcError> {
        let stored = self.node.store().latest_height().map_err(RpcError::from)?;
        Ok(self.node.committed_height().max(stored))
    }

    fn header(&self, height: Height) -> Result<StoredHeader, RpcError> {
        self.node
            .store()
            .header(height)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::server(format!("block {height} not found")))
    }

    fn block(&self, height: Height) -> Result<consortia_types::Block, RpcError> {
        self.node
            .store()
            .block(height)
            .map_err(RpcError::from)?
            .ok_or_else(|| RpcError::server(format!("block {height} not found")))
    }

    /// A block tag or number; `None` for a block not produced yet.
    fn block_height(&self, v: &Value) -> Result<Option<Height>, RpcError> {
        let latest = self.latest()?;
        let h = match v.as_str() {
            Some("latest" | "pending" | "safe" | "finalized") => latest,
            Some("earliest") => 0,
            _ => parse_u64(v, "block number")?,
        };
        Ok((h <= latest).then_some(h))
    }

    /// The block whose state a query reads (absent: latest); EIP-1898 objects accepted.
    fn height_of(&self, v: Option<&Value>) -> Result<Height, RpcError> {
        let Some(v) = v else { return self.latest() };
        if let Some(h) = v.get("blockHash") {
            let h = parse_hash(h, "blockHash")?;
            return self
                .node
                .store()
                .height_by_hash(&h)
                .map_err(RpcError::from)?
                .ok_or_else(|| RpcError::server(format!("block {h} not found")));
        }
        let v = v.get("blockNumber").unwrap_or(v);
        self.block_height(v)?.ok_or_else(|| RpcError::server("header not found"))
    }

    fn account_at(&self, a: &Address, tag: Option<&Value>) -> Result<Account, RpcError> {
        let height = self.height_of(tag)?;
        let state = self.node.store().state_at(height).map_err(RpcError::from)?;
        read_account(&*state, a).map_err(RpcError::server)
    }

    fn transaction_count(&self) -> RpcResult {
        let a = parse_address(self.param(0, "address")?, "address")?;
        if self.opt(1).and_then(Value::as_str) != Some("pending") {
            return Ok(qty(self.account_at(&a, self.opt(1))?.nonce));
        }
        // As admission counts: the pool, then the account through the block decided but
        // perhaps not yet on disk. A block's transactions leave the pool once it is decided,
        // so in this order neither read misses them (the disk's latest state, read instead,
        // could be a block behind the pool and answer a nonce already used).
        let pooled = self.node.mempool().pending_nonce(&a);
        let decided = AdmissionState::account(&**self.node, &a).map_err(RpcError::server)?.nonce;
        Ok(qty(decided.max(pooled.unwrap_or(0))))
    }

    fn fee_history(&self) -> RpcResult {
        let count = match self.param(0, "block count")? {
            Value::Number(n) => n.as_u64().unwrap_or(0),
            v => parse_u64(v, "block count")?,
        }
        .clamp(1, 1024);
        let newest = self.block_height(self.param(1, "newest block")?)?.unwrap_or(self.latest()?);
        let oldest = newest.saturating_sub(count - 1);
        let blocks = newest - oldest + 1;
        let limit = self.gas_limit(newest)? as f64;
        let mut ratios = vec![];
        for h in oldest..=newest {
            let used = self.gas_used(h)?;
            ratios.push(json!(used as f64 / limit));
        }
        let percentiles = self.opt(2).and_then(Value::as_array).map_or(0, Vec::len);
        let mut out = json!({
            "oldestBlock": qty(oldest),
            "baseFeePerGas": vec![qty(self.base_fee()); blocks as usize + 1],
            "gasUsedRatio": ratios,
        });
        if self.opt(2).is_some() {
            out["reward"] = json!(vec![vec![qty(0u8); percentiles]; blocks as usize]);
        }
        Ok(out)
    }

    fn receipts(&self, height: Height, count: u32) -> Result<Vec<Receipt>, RpcError> {
        (0..count)
            .map(|i| {
                self.node.store().receipt_at(height, i).map_err(RpcError::from)?.ok_or_else(|| {
                    RpcError::server(format!("receipt {i} of block {height} missing"))
                })
            })
            .collect()
    }

    /// The gas limit of block `height`: governance's parameter as its parent's state held it.
    fn gas_limit(&self, height: Height) -> Result<u64, RpcError> {
        let state = self.node.store().state_at(height.saturating_sub(1)).map_err(RpcError::from)?;
        Ok(self.node.executor().params(&*state).map_err(RpcError::server)?.block_gas_limit)
    }

    fn gas_used(&self, height: Height) -> Result<u64, RpcError> {
        let h = self.header(height)?;
        Ok(self.receipts(height, h.header.tx_count)?.iter().map(|r| r.steps_used).sum())
    }

    /// Parses a call object (`from`, `to`, `gas`, `value`, `data`/`input`).
    fn call_request(&self, v: &Value) -> Result<(Address, EvmCall), RpcError> {
        let field = |name: &str| v.get(name).filter(|x| !x.is_null());
        let from = field("from").map(|f| parse_address(f, "from")).transpose()?.unwrap_or_default();
        let to = field("to").map(|t| parse_address(t, "to")).transpose()?;
        let gas = field("gas").map(|g| parse_u64(g, "gas")).transpose()?;
        let cap = CALL_GAS_CAP.min(self.gas_limit(self.latest()?)?);
        let value = field("value").map(|x| parse_qty(x, "value")).transpose()?.unwrap_or(0);
        let input = match field("input").or_else(|| field("data")) {
            Some(d) => parse_bytes(d, "data")?,
            None => vec![],
        };
        Ok((from, EvmCall { to, value, input, gas_limit: gas.unwrap_or(cap).min(cap) }))
    }

    fn call_at(
        &self,
        from: Address,
        call: EvmCall,
        height: Height,
    ) -> Result<CallOutcome, RpcError> {
        let header = self.header(height)?;
        let state = self.node.store().state_at(height).map_err(RpcError::from)?;
        let ctx = call_context(&header);
        self.node.executor().call(&*state, ctx, from, call).map_err(RpcError::server)
    }

    /// `eth_call`: within [`INLINE_CALL_STEPS`] when answered inline (deferred past them).
    fn call(&self, v: &Value, height: Height) -> Result<CallOutcome, RpcError> {
        let (from, call) = self.call_request(v)?;
        if !self.inline {
            return self.call_at(from, call, height);
        }
        let header = self.header(height)?;
        let state = self.node.store().state_at(height).map_err(RpcError::from)?;
        let ctx = call_context(&header);
        let bounded =
            self.node.executor().call_within(&*state, ctx, from, call, Some(INLINE_CALL_STEPS));
        bounded.map_err(RpcError::server)?.ok_or_else(|| RpcError::new(DEFERRED, "deferred"))
    }

    /// The least gas the call succeeds with (binary search: gas refunds and the 63/64 rule make
    /// the gas a call uses less than the gas it needs).
    fn estimate_gas(&self) -> RpcResult {
        let height = self.height_of(self.opt(1))?;
        let (from, call) = self.call_request(self.param(0, "call")?)?;
        let mut hi = call.gas_limit;
        let used = match self.call_at(from, call.clone(), height)? {
            CallOutcome::Success { gas_used, .. } => gas_used,
            other => return Err(call_error(other)),
        };
        let ok = |gas: u64| -> Result<bool, RpcError> {
            let call = EvmCall { gas_limit: gas, ..call.clone() };
            Ok(matches!(self.call_at(from, call, height)?, CallOutcome::Success { .. }))
        };
        let mut lo = used.saturating_sub(1).max(20_999);
        // Most calls succeed with a little more than they used: try that before searching.
        let guess = (used + used / 8).max(21_000);
        if guess < hi && ok(guess)? {
            hi = guess;
        }
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if ok(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(qty(hi))
    }

    fn send_raw(&self) -> RpcResult {
        let (tx_hash, encoded) = raw_transaction(self.node, self.param(0, "raw transaction")?)?;
        let outcome = match self.sends.get(&tx_hash) {
            Some(done) => done.clone(),
            None => match self.node.submit_blocking(vec![encoded]).pop() {
                Some(r) => r.map(|a| a.hash),
                None => Err(AdmitError::State("no admission result".to_owned())),
            },
        };
        outcome.map(|h| hash(&h)).map_err(|e| refusal(&e))
    }

    fn tx_object(&self, stored: &StoredTx) -> RpcResult {
        let header = self.header(stored.height)?;
        Ok(tx_json(
            &stored.transaction,
            &stored.hash,
            Some((&header, stored.position, self.base_fee())),
        ))
    }

    /// The [`TxSums`] of block `height` (computed once per block, not once per receipt: a
    /// block of n transactions would cost n² receipt reads).
    fn sums(&self, height: Height, tx_count: u32) -> Result<Arc<[TxSums]>, RpcError> {
        if let Some((_, sums)) = self.shared.sums.lock().iter().find(|(h, _)| *h == height) {
            return Ok(sums.clone());
        }
        let mut cumulative_gas = 0;
        let mut logs_before = 0;
        let sums: Arc<[TxSums]> = self
            .receipts(height, tx_count)?
            .iter()
            .map(|r| {
                cumulative_gas += r.steps_used;
                let sums = TxSums { cumulative_gas, logs_before };
                logs_before += r.events.len();
                sums
            })
            .collect();
        let mut kept = self.shared.sums.lock();
        if kept.len() >= SUMS_KEPT {
            kept.pop_front();
        }
        kept.push_back((height, sums.clone()));
        Ok(sums)
    }

    fn receipt_object(&self, stored: &StoredTx) -> RpcResult {
        let header = self.header(stored.height)?;
        let sums = self.sums(stored.height, header.header.tx_count)?;
        let TxSums { cumulative_gas: cumulative, logs_before: first_log } = *sums
            .get(stored.position as usize)
            .ok_or_else(|| RpcError::server("transaction position outside its block"))?;
        let r = &stored.receipt;
        let tx = &stored.transaction;
        let call = tx.evm_call();
        let created = matches!(&call, Some(c) if c.to.is_none())
            && r.status == ReceiptStatus::Success
            && r.output.len() == 20;
        let located = LogPlace::in_block(&header, &stored.hash, stored.position);
        Ok(json!({
            "transactionHash": hash(&stored.hash),
            "transactionIndex": qty(stored.position),
            "blockHash": hash(&header.hash),
            "blockNumber": qty(stored.height),
            "from": addr(&tx.sender()),
            "to": tx.to().map_or(Value::Null, |a| addr(&a)),
            "cumulativeGasUsed": qty(cumulative),
            "gasUsed": qty(r.steps_used),
            "effectiveGasPrice": qty(effective_gas_price(tx, Some(self.base_fee()))),
            "blockTimestamp": qty(header.header.time_ms / 1_000),
            // Blob transactions are refused; what one would pay at zero excess blob gas.
            "blobGasPrice": qty(1u8),
            "contractAddress": if created { addr(&Address::from_slice(&r.output)) } else { Value::Null },
            "logs": r.events.iter().enumerate().map(|(i, e)| log_json(e, &located, first_log + i)).collect::<Vec<_>>(),
            "logsBloom": data(&bloom_of([r])),
            "status": qty(u8::from(r.status == ReceiptStatus::Success)),
            "type": qty(tx_type(tx)),
        }))
    }

    fn block_object(&self, height: Height, full: bool) -> RpcResult {
        let header = self.header(height)?;
        let h = &header.header;
        let receipts = self.receipts(height, h.tx_count)?;
        let gas_used: u64 = receipts.iter().map(|r| r.steps_used).sum();
        let transactions: Vec<Value> = if full {
            self.block(height)?
                .transactions
                .iter()
                .zip(&header.tx_hashes)
                .enumerate()
                .map(|(i, (tx, th))| tx_json(tx, th, Some((&header, i as u32, self.base_fee()))))
                .collect()
        } else {
            header.tx_hashes.iter().map(hash).collect()
        };
        Ok(json!({
            "number": qty(height),
            "hash": hash(&header.hash),
            "parentHash": hash(&h.parent_hash),
            "nonce": "0x0000000000000000",
            "sha3Uncles": EMPTY_UNCLES,
            "logsBloom": data(&bloom_of(&receipts)),
            "transactionsRoot": hash(&h.tx_root),
            "stateRoot": hash(&h.state_root),
            "receiptsRoot": hash(&h.receipts_root),
            "miner": addr(&h.proposer),
            "difficulty": "0x0",
            "totalDifficulty": "0x0",
            "extraData": "0x",
            "size": qty(encode(h).len() as u64 + header.tx_hashes.len() as u64 * 32),
            "gasLimit": qty(self.gas_limit(height)?),
            "gasUsed": qty(gas_used),
            "timestamp": qty(h.time_ms / 1_000),
            "baseFeePerGas": qty(self.base_fee()),
            "mixHash": hash(&Hash::ZERO),
            // Cancun's fields, empty: no withdrawals, blobs or beacon chain here.
            "withdrawals": [],
            "withdrawalsRoot": EMPTY_TRIE_ROOT,
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
            "parentBeaconBlockRoot": hash(&Hash::ZERO),
            "transactions": transactions,
            "uncles": [],
        }))
    }

    /// A block's header fields, as `newHeads` notifications carry them.
    fn head_object(&self, height: Height) -> RpcResult {
        let mut block = self.block_object(height, false)?;
        if let Value::Object(fields) = &mut block {
            for body_only in ["transactions", "uncles", "totalDifficulty", "size"] {
                fields.remove(body_only);
            }
        }
        Ok(block)
    }

    fn log_filter(&self, v: &Value) -> Result<LogFilter, RpcError> {
        let field = |name: &str| v.get(name).filter(|x| !x.is_null());
        let bound = |name: &str| -> Result<Option<Height>, RpcError> {
            match field(name) {
                None => Ok(None),
                Some(b) => match b.as_str() {
                    Some("latest" | "pending" | "safe" | "finalized") => Ok(None),
                    Some("earliest") => Ok(Some(0)),
                    _ => parse_u64(b, name).map(Some),
                },
            }
        };
        let addresses = match field("address") {
            None => vec![],
            Some(Value::Array(list)) => {
                list.iter().map(|a| parse_address(a, "address")).collect::<Result<_, _>>()?
            }
            Some(a) => vec![parse_address(a, "address")?],
        };
        let topics = match field("topics") {
            None => vec![],
            Some(Value::Array(list)) => list
                .iter()
                .map(|t| match t {
                    Value::Null => Ok(vec![]),
                    Value::Array(any) => any.iter().map(|x| parse_hash(x, "topic")).collect(),
                    one => Ok(vec![parse_hash(one, "topic")?]),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(RpcError::params("topics must be an array")),
        };
        Ok(LogFilter { from: bound("fromBlock")?, to: bound("toBlock")?, addresses, topics })
    }

    fn logs(&self, f: &LogFilter, from: Height, to: Height) -> RpcResult {
        let to = to.min(self.latest()?);
        if from > to {
            return Ok(json!([]));
        }
        // As geth: a range reaching into pruned history is refused, not answered in part.
        let first = self.node.store().first_block()?;
        if from.max(1) < first && to > 0 {
            return Err(StorageError::Pruned { height: from, first }.into());
        }
        if let Some(alternatives) = f.topics.iter().find(|any| !any.is_empty()) {
            return self.indexed_logs(f, alternatives, from, to);
        }
        if to - from >= MAX_LOG_RANGE {
            return Err(RpcError::server(format!(
                "the range {from}..={to} is over {MAX_LOG_RANGE} blocks; query a smaller range"
            )));
        }
        let mut out = vec![];
        self.each_log(from, to, |e, place, index| {
            if matches(f, e) {
                out.push(log_json(e, &place, index));
            }
        })?;
        Ok(Value::Array(out))
    }

    /// The logs of a filter that names topics, from the store's topic index: only the events
    /// carrying one of `alternatives` (the filter's first constrained position) are read, so
    /// the cost follows the matches, not the range.
    fn indexed_logs(
        &self,
        f: &LogFilter,
        alternatives: &[Hash],
        from: Height,
        to: Height,
    ) -> RpcResult {
        let store = self.node.store();
        let mut found = std::collections::BTreeSet::new();
        for topic in alternatives {
            let hits =
                store.logs_by_topic_in(topic, from, to, MAX_LOGS + 1).map_err(RpcError::from)?;
            found.extend(hits.into_iter().map(|at| (at.height, at.position, at.event)));
            if found.len() > MAX_LOGS {
                return Err(RpcError::server(format!(
                    "query returned more than {MAX_LOGS} results; query a smaller range"
                )));
            }
        }
        let mut out = vec![];
        let mut block: Option<(StoredHeader, Arc<[TxSums]>)> = None;
        for (height, position, event) in found {
            if block.as_ref().is_none_or(|(h, _)| h.header.height != height) {
                let header = self.header(height)?;
                let sums = self.sums(height, header.header.tx_count)?;
                block = Some((header, sums));
            }
            let Some((header, sums)) = &block else { continue };
            let receipt =
                store.receipt_at(height, position).map_err(RpcError::from)?.ok_or_else(|| {
                    RpcError::server(format!("receipt {position} of block {height} missing"))
                })?;
            let Some(e) = receipt.events.get(usize::from(event)) else { continue };
            if !matches(f, e) {
                continue;
            }
            let first = sums.get(position as usize).map_or(0, |s| s.logs_before);
            let place = LogPlace::in_block(header, &header.tx_hashes[position as usize], position);
            out.push(log_json(e, &place, first + usize::from(event)));
        }
        Ok(Value::Array(out))
    }

    /// Calls `f` with every log of blocks `from..=to`, where it is and its index in its block.
    fn each_log(
        &self,
        from: Height,
        to: Height,
        mut f: impl FnMut(&consortia_types::Event, LogPlace<'_>, usize),
    ) -> Result<(), RpcError> {
        for height in from..=to {
            let header = self.header(height)?;
            if header.header.tx_count == 0 {
                continue;
            }
            let receipts = self.receipts(height, header.header.tx_count)?;
            let mut log_index = 0;
            for (position, r) in receipts.iter().enumerate() {
                for e in &r.events {
                    let place =
                        LogPlace::in_block(&header, &header.tx_hashes[position], position as u32);
                    f(e, place, log_index);
                    log_index += 1;
                }
            }
        }
        Ok(())
    }

    fn install(&self, kind: FilterKind) -> RpcResult {
        let seen = self.latest()?;
        let mut table = self.shared.filters.lock();
        table.live.retain(|_, f| f.polled.elapsed() < FILTER_TTL);
        if table.live.len() >= MAX_FILTERS {
            return Err(RpcError::server(format!(
                "too many filters ({MAX_FILTERS}); uninstall some or poll the ones you have"
            )));
        }
        table.next_id += 1;
        let id = table.next_id;
        table.live.insert(id, Filter { kind, seen, polled: Instant::now() });
        Ok(qty(id))
    }

    fn filter_id(&self) -> Result<u64, RpcError> {
        parse_u64(self.param(0, "filter id")?, "filter id")
    }

    fn filter_changes(&self) -> RpcResult {
        let id = self.filter_id()?;
        let latest = self.latest()?;
        let filter = {
            let mut table = self.shared.filters.lock();
            let Some(f) = table.live.get_mut(&id) else {
                return Err(RpcError::server("filter not found"));
            };
            let before = f.clone();
            f.seen = latest.max(f.seen);
            f.polled = Instant::now();
            if let FilterKind::Pending { next } = &mut f.kind {
                let (hashes, upto) = self.node.mempool().admitted_since(*next);
                *next = upto;
                return Ok(Value::Array(hashes.iter().map(hash).collect()));
            }
            before
        };
        match &filter.kind {
            FilterKind::Pending { .. } => Ok(json!([])),
            FilterKind::Blocks => (filter.seen + 1..=latest)
                .map(|h| Ok(hash(&self.header(h)?.hash)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            FilterKind::Logs(f) => {
                let from = f.from.unwrap_or(0).max(filter.seen + 1);
                let to = f.to.unwrap_or(latest);
                self.logs(f, from, to.min(from.saturating_add(MAX_LOG_RANGE - 1)))
            }
        }
    }
}

/// A storage slot, as a quantity (`0x0`) or a 32-byte word.
fn parse_qty_or_hash(v: &Value) -> Result<[u8; 32], RpcError> {
    let s = v.as_str().ok_or_else(|| RpcError::params("slot must be hex"))?;
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_owned() };
    let bytes = hex::decode(padded).map_err(|e| RpcError::params(format!("slot: {e}")))?;
    if bytes.len() > 32 {
        return Err(RpcError::params("slot is over 32 bytes"));
    }
    let mut slot = [0u8; 32];
    slot[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(slot)
}

fn matches(f: &LogFilter, e: &consortia_types::Event) -> bool {
    (f.addresses.is_empty() || f.addresses.contains(&e.contract))
        && f.topics
            .iter()
            .enumerate()
            .all(|(i, any)| any.is_empty() || e.topics.get(i).is_some_and(|t| any.contains(t)))
}

struct LogPlace<'a> {
    height: Height,
    block_hash: &'a Hash,
    time_ms: u64,
    tx_hash: &'a Hash,
    position: u32,
}

impl<'a> LogPlace<'a> {
    fn in_block(header: &'a StoredHeader, tx_hash: &'a Hash, position: u32) -> Self {
        LogPlace {
            height: header.header.height,
            block_hash: &header.hash,
            time_ms: header.header.time_ms,
            tx_hash,
            position,
        }
    }
}

fn log_json(e: &consortia_types::Event, at: &LogPlace<'_>, log_index: usize) -> Value {
    json!({
        "address": addr(&e.contract),
        "topics": e.topics.iter().map(hash).collect::<Vec<_>>(),
        "data": data(&e.data),
        "blockNumber": qty(at.height),
        "blockHash": hash(at.block_hash),
        "transactionHash": hash(at.tx_hash),
        "transactionIndex": qty(at.position),
        "logIndex": qty(log_index as u64),
        "blockTimestamp": qty(at.time_ms / 1_000),
        "removed": false,
    })
}

fn tx_type(tx: &Transaction) -> u8 {
    match tx {
        Transaction::Native(_) => 0,
        Transaction::Ethereum(e) => alloy_consensus::Typed2718::ty(e.envelope()),
    }
}

/// What a transaction pays per gas at `base_fee`; without one (not in a block yet), its fee
/// cap, as geth shows pending transactions. Native transactions pay nothing.
fn effective_gas_price(tx: &Transaction, base_fee: Option<u64>) -> u128 {
    match tx {
        Transaction::Native(_) => 0,
        Transaction::Ethereum(e) => e.envelope().effective_gas_price(base_fee),
    }
}

/// A transaction as geth shows it; `at` is its block and position and the chain's base fee
/// (`None`: pending).
fn tx_json(tx: &Transaction, tx_hash: &Hash, at: Option<(&StoredHeader, u32, u64)>) -> Value {
    let call = tx.evm_call();
    let mut out = json!({
        "hash": hash(tx_hash),
        "nonce": qty(tx.nonce()),
        "blockHash": at.map_or(Value::Null, |(h, _, _)| hash(&h.hash)),
        "blockNumber": at.map_or(Value::Null, |(h, _, _)| qty(h.header.height)),
        "blockTimestamp": at.map_or(Value::Null, |(h, _, _)| qty(h.header.time_ms / 1_000)),
        "transactionIndex": at.map_or(Value::Null, |(_, i, _)| qty(i)),
        "from": addr(&tx.sender()),
        "to": tx.to().map_or(Value::Null, |a| addr(&a)),
        "value": qty(call.as_ref().map_or(0, |c| c.value)),
        "gas": qty(call.as_ref().map_or(0, |c| c.gas_limit)),
        "gasPrice": qty(effective_gas_price(tx, at.map(|(_, _, base_fee)| base_fee))),
        "input": data(call.as_ref().map_or(&[][..], |c| &c.input)),
        "type": qty(tx_type(tx)),
        "chainId": tx.chain_id().map_or(Value::Null, qty),
        "v": "0x0",
        "r": "0x0",
        "s": "0x0",
    });
    if let Transaction::Ethereum(eth) = tx {
        let e = eth.envelope();
        let sig = e.signature();
        out["r"] = qty_u256(sig.r());
        out["s"] = qty_u256(sig.s());
        out["yParity"] = qty(u8::from(sig.v()));
        out["v"] = match e {
            alloy_consensus::TxEnvelope::Legacy(l) => {
                let parity = u128::from(sig.v());
                qty(l.tx().chain_id.map_or(27 + parity, |c| u128::from(c) * 2 + 35 + parity))
            }
            _ => qty(u8::from(sig.v())),
        };
        if let Some(list) = e.access_list() {
            out["accessList"] = list
                .iter()
                .map(|item| {
                    json!({
                        "address": Value::String(item.address.to_checksum(None)),
                        "storageKeys": item.storage_keys.iter().map(|k| data(k.as_slice())).collect::<Vec<_>>(),
                    })
                })
                .collect();
        }
        if e.is_dynamic_fee() {
            out["maxFeePerGas"] = qty(e.max_fee_per_gas());
            out["maxPriorityFeePerGas"] = qty(e.max_priority_fee_per_gas().unwrap_or(0));
        }
        debug_assert_eq!(Hash(e.tx_hash().0), *tx_hash);
    }
    out
}

fn qty_u256(v: alloy_primitives::U256) -> Value {
    Value::String(format!("{v:#x}"))
}

/// A failed call, as geth reports it: a revert is code 3 with the revert data.
fn call_error(outcome: CallOutcome) -> RpcError {
    match outcome {
        CallOutcome::Revert { output, .. } => RpcError {
            error: ErrorObject {
                code: EXECUTION_REVERTED,
                message: match revert_reason(&output) {
                    Some(reason) => format!("execution reverted: {reason}"),
                    None => "execution reverted".into(),
                },
                data: Some(data(&output)),
            },
            unknown_method: false,
        },
        CallOutcome::Halt { reason, .. } => RpcError::server(format!("execution halted: {reason}")),
        CallOutcome::Invalid(reason) => RpcError::server(reason),
        CallOutcome::Success { .. } => RpcError::server("the call succeeded"),
    }
}

/// A refused transaction in the words and codes Ethereum clients match on (geth's messages:
/// ethers, viem and web3.py turn `insufficient funds`, `nonce too low` and the like into their
/// own error types), with ours after them.
fn refusal(e: &AdmitError) -> RpcError {
    use AdmitError as E;
    let (code, prefix) = match e {
        E::NonceTooLow { .. } => (TRANSACTION_REJECTED, Some("nonce too low")),
        // These carry geth's words already.
        E::InsufficientFunds { .. } | E::IntrinsicGas { .. } => (TRANSACTION_REJECTED, None),
        E::GasLimit { .. } | E::FeeCapTooLow { .. } | E::Unprotected { .. } => (SERVER_ERROR, None),
        E::NonceTooFarAhead { .. } => (SERVER_ERROR, Some("nonce too high")),
        E::NonceConflict { .. } => (SERVER_ERROR, Some("replacement transaction underpriced")),
        E::PoolFull { .. } => (SERVER_ERROR, Some("txpool is full")),
        E::BadSignature => (SERVER_ERROR, Some("invalid sender")),
        E::WrongChain { .. } => (SERVER_ERROR, Some("invalid chain id")),
        E::TooLarge { .. } => (SERVER_ERROR, Some("oversized data")),
        E::Malformed(_) | E::InvalidPayload(_) | E::State(_) | E::Draining => (SERVER_ERROR, None),
    };
    match prefix {
        Some(prefix) => RpcError::new(code, format!("{prefix}: {e}")),
        None => RpcError::new(code, e.to_string()),
    }
}
