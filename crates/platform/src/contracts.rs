//! Contracts of a chain, as the console handles them: upload bytecode and ABI (checked against
//! the hash the uploader states), deploy, and call or query through the ABI. The platform signs
//! for the caller's organization with a key it keeps for it (a contract gateway: one secp256k1
//! account per organization, nonces taken in turn), encodes arguments from strings and decodes
//! results and events with the ABI, so a form built from the ABI is all a browser needs. The
//! same ABIs decode transactions in the explorer.

use std::time::Duration;

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt, FunctionExt, JsonAbiExt, Specifier};
use alloy_json_abi::{Function, JsonAbi, Param, StateMutability};
use alloy_primitives::{B256, LogData, keccak256};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_rpc::{ApiError, ApiResult, ErrorBody};
use consortia_types::EthTx;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use utoipa::ToSchema;

use crate::api::{Body, Ctx, check_name};
use crate::auth::Caller;
use crate::chains::{ChainView, visible_chain};
use crate::db::{new_id, now_ms};
use crate::{Platform, authz, db_error, db_error_or_duplicate};

/// How long a deploy or a transaction waits for its receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadRequest {
    /// The organization that owns it (the caller needs `contract:create` there).
    pub org_id: String,
    pub name: String,
    /// The contract's JSON ABI (an array, or a string holding one).
    #[schema(value_type = Object)]
    pub abi: Value,
    /// Creation bytecode, hex.
    pub bytecode: String,
    /// Keccak-256 of the bytecode's bytes, hex: the upload is refused if it differs, so what
    /// was reviewed is what gets deployed.
    pub code_hash: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParamView {
    pub name: String,
    /// Solidity type (`uint256`, `address`, `string[]`, `(uint256,bool)` …).
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunctionView {
    pub name: String,
    /// `name(type,…)`: names one overload exactly.
    pub signature: String,
    pub inputs: Vec<ParamView>,
    pub outputs: Vec<ParamView>,
    /// `view` and `pure` functions are queried (no transaction); others send one.
    pub read_only: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub name: String,
    pub code_hash: String,
    pub bytecode_size: usize,
    /// `uploaded` or `deployed`.
    pub status: String,
    pub address: Option<String>,
    pub deploy_tx: Option<String>,
    pub constructor: Vec<ParamView>,
    pub functions: Vec<FunctionView>,
    #[schema(value_type = Object)]
    pub abi: Value,
    pub created_ms: i64,
}

fn params(list: &[Param]) -> Vec<ParamView> {
    list.iter()
        .map(|p| ParamView { name: p.name.clone(), ty: p.selector_type().into_owned() })
        .collect()
}

fn read_only(f: &Function) -> bool {
    matches!(f.state_mutability, StateMutability::View | StateMutability::Pure)
}

fn parse_abi(abi: &Value) -> ApiResult<JsonAbi> {
    let parsed = match abi {
        Value::String(s) => serde_json::from_str(s),
        other => serde_json::from_value(other.clone()),
    };
    parsed.map_err(|e| {
        ApiError::bad_request("bad_abi", format!("the ABI is not a contract's JSON ABI: {e}"))
    })
}

/// A contract row as the API shows it.
struct Stored {
    view: ContractView,
    abi: JsonAbi,
    bytecode: Vec<u8>,
}

async fn load(platform: &Platform, chain: &str, id: &str) -> ApiResult<Stored> {
    let r = sqlx::query(
        "SELECT id, org_id, name, abi, bytecode, code_hash, status, address, deploy_tx, created_ms \
         FROM contracts WHERE chain_id = $1 AND (id = $2 OR name = $2)",
    )
    .bind(chain)
    .bind(id)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?
    .ok_or_else(|| ApiError::not_found(format!("no contract {id} on chain {chain}")))?;
    stored(chain, &r)
}

fn stored(chain: &str, r: &sqlx::any::AnyRow) -> ApiResult<Stored> {
    let abi_text: String = r.get(3);
    let abi: JsonAbi = serde_json::from_str(&abi_text).map_err(ApiError::internal)?;
    let bytecode = hex::decode(r.get::<String, _>(4)).map_err(ApiError::internal)?;
    let view = ContractView {
        id: r.get(0),
        chain_id: chain.to_owned(),
        org_id: r.get(1),
        name: r.get(2),
        code_hash: r.get(5),
        bytecode_size: bytecode.len(),
        status: r.get(6),
        address: r.get(7),
        deploy_tx: r.get(8),
        constructor: abi.constructor.as_ref().map(|c| params(&c.inputs)).unwrap_or_default(),
        functions: abi
            .functions()
            .map(|f| FunctionView {
                name: f.name.clone(),
                signature: f.signature(),
                inputs: params(&f.inputs),
                outputs: params(&f.outputs),
                read_only: read_only(f),
            })
            .collect(),
        abi: serde_json::from_str(&abi_text).map_err(ApiError::internal)?,
        created_ms: r.get(9),
    };
    Ok(Stored { view, abi, bytecode })
}

async fn authorize(
    platform: &Platform,
    caller: &Caller,
    org: &str,
    action: &str,
    chain: &ChainView,
) -> ApiResult<()> {
    if !chain.orgs.iter().any(|o| o == org) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_participating",
            format!("{org} does not take part in chain {}", chain.id),
        ));
    }
    let resource = format!("org/{org}/chains/{}/contracts", chain.id);
    authz::authorize(&platform.db, caller, org, action, &resource).await
}

/// Upload a contract: bytecode and ABI, checked against the stated code hash
#[utoipa::path(post, path = "/v1/chains/{id}/contracts", tag = "contracts",
    request_body = UploadRequest,
    responses(
        (status = 201, body = ContractView),
        (status = 400, description = "Bad ABI or bytecode, or the code hash differs", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Name taken on this chain", body = ErrorBody),
    ))]
pub async fn upload(
    Ctx { platform, caller }: Ctx,
    Path(chain_id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ContractView>)> {
    let req: UploadRequest = consortia_rpc::json_body(body)?;
    let chain = visible_chain(&platform, &caller, &chain_id).await?;
    authorize(&platform, &caller, &req.org_id, "contract:create", &chain).await?;
    let name = check_name("contract", &req.name)?.to_owned();
    let abi = parse_abi(&req.abi)?;
    let bytecode = hex::decode(req.bytecode.trim().trim_start_matches("0x")).map_err(|e| {
        ApiError::bad_request("bad_bytecode", format!("the bytecode is not hex: {e}"))
    })?;
    if bytecode.is_empty() || bytecode.len() > consortia_types::MAX_INITCODE_BYTES {
        return Err(ApiError::bad_request(
            "bad_bytecode",
            format!("creation bytecode is 1 to {} bytes", consortia_types::MAX_INITCODE_BYTES),
        ));
    }
    let actual = format!("0x{}", hex::encode(keccak256(&bytecode)));
    let stated = req.code_hash.trim().to_ascii_lowercase();
    let stated = if stated.starts_with("0x") { stated } else { format!("0x{stated}") };
    if stated != actual {
        return Err(ApiError::bad_request(
            "hash_mismatch",
            format!(
                "the bytecode's Keccak-256 is {actual}, not the stated {stated}: upload the bytecode that was reviewed"
            ),
        ));
    }
    let id = new_id("ctr");
    let abi_text = serde_json::to_string(&abi).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO contracts (id, chain_id, org_id, name, abi, bytecode, code_hash, status, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'uploaded', $8, $9)",
    )
    .bind(&id)
    .bind(&chain.id)
    .bind(&req.org_id)
    .bind(&name)
    .bind(&abi_text)
    .bind(hex::encode(&bytecode))
    .bind(&actual)
    .bind(&caller.user_id)
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(|e| db_error_or_duplicate(e, "conflict", format!("chain {} already has a contract named {name}", chain.id)))?;
    Ok((StatusCode::CREATED, Json(load(&platform, &chain.id, &id).await?.view)))
}

/// The contracts of a chain
#[utoipa::path(get, path = "/v1/chains/{id}/contracts", tag = "contracts",
    responses((status = 200, body = Vec<ContractView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    Ctx { platform, caller }: Ctx,
    Path(chain_id): Path<String>,
) -> ApiResult<Json<Vec<ContractView>>> {
    let chain = visible_chain(&platform, &caller, &chain_id).await?;
    let rows = sqlx::query(
        "SELECT id, org_id, name, abi, bytecode, code_hash, status, address, deploy_tx, created_ms \
         FROM contracts WHERE chain_id = $1 ORDER BY created_ms, name",
    )
    .bind(&chain.id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    rows.iter().map(|r| stored(&chain.id, r).map(|s| s.view)).collect::<ApiResult<_>>().map(Json)
}

/// A contract of a chain (by id or name)
#[utoipa::path(get, path = "/v1/chains/{id}/contracts/{contract}", tag = "contracts",
    responses((status = 200, body = ContractView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    Ctx { platform, caller }: Ctx,
    Path((chain_id, contract)): Path<(String, String)>,
) -> ApiResult<Json<ContractView>> {
    let chain = visible_chain(&platform, &caller, &chain_id).await?;
    Ok(Json(load(&platform, &chain.id, &contract).await?.view))
}

/// The organization's signing key, if it has one.
async fn stored_key(platform: &Platform, org: &str) -> ApiResult<Option<PrivateKey>> {
    let row = sqlx::query("SELECT key_pem FROM org_accounts WHERE org_id = $1")
        .bind(org)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?;
    row.map(|r| PrivateKey::from_pkcs8_pem(&r.get::<String, _>(0)).map_err(ApiError::internal))
        .transpose()
}

/// The organization's signing key (made on first use).
async fn org_key(platform: &Platform, org: &str) -> ApiResult<PrivateKey> {
    if let Some(key) = stored_key(platform, org).await? {
        return Ok(key);
    }
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let inserted = sqlx::query(
        "INSERT INTO org_accounts (org_id, address, key_pem, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(key.public_key().address().to_checksum_hex())
    .bind(key.to_pkcs8_pem())
    .bind(now_ms())
    .execute(&platform.db)
    .await;
    // Two first uses at once: one insert wins, and both use the key stored.
    match (inserted, stored_key(platform, org).await?) {
        (_, Some(key)) => Ok(key),
        (Err(e), None) => Err(db_error(e)),
        (Ok(_), None) => Err(ApiError::internal("the organization's new key was not stored")),
    }
}

/// Calls the chain's JSON-RPC on the first node that answers.
pub(crate) async fn rpc(
    platform: &Platform,
    chain: &ChainView,
    method: &str,
    params: Value,
) -> ApiResult<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut last = String::from("the chain has no node with an address yet");
    for node in &chain.nodes {
        let Some(url) = &node.http_url else { continue };
        let sent = platform.chain_http.post(format!("{url}/rpc")).json(&body).send().await;
        let answer: Value = match sent {
            Ok(r) => r.json().await.map_err(ApiError::internal)?,
            Err(e) => {
                last = format!("node {}: {e}", node.name);
                continue;
            }
        };
        if let Some(error) = answer.get("error") {
            let message = error["message"].as_str().unwrap_or("refused");
            return Err(ApiError::bad_request("chain_refused", format!("{method}: {message}")));
        }
        return Ok(answer["result"].clone());
    }
    Err(ApiError::new(
        StatusCode::BAD_GATEWAY,
        "chain_unreachable",
        format!("no node of chain {} answers ({last}); check the nodes page", chain.id),
    ))
}

/// Parses each argument string as its parameter's type.
fn arguments(inputs: &[Param], args: &[String]) -> ApiResult<Vec<DynSolValue>> {
    if inputs.len() != args.len() {
        return Err(ApiError::bad_request(
            "bad_arguments",
            format!("{} argument(s) expected, {} given", inputs.len(), args.len()),
        ));
    }
    inputs
        .iter()
        .zip(args)
        .map(|(p, a)| {
            let ty: DynSolType = p.resolve().map_err(|e| {
                ApiError::bad_request("bad_abi", format!("parameter {}: {e}", p.name))
            })?;
            ty.coerce_str(a.trim()).map_err(|e| {
                ApiError::bad_request(
                    "bad_arguments",
                    format!("argument `{}` is not a {}: {e}", p.name, p.selector_type()),
                )
            })
        })
        .collect()
}

/// A decoded value as JSON: numbers as decimal strings, bytes and addresses as hex.
fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => json!(i.to_string()),
        DynSolValue::Uint(u, _) => json!(u.to_string()),
        DynSolValue::FixedBytes(w, size) => json!(format!("0x{}", hex::encode(&w[..*size]))),
        DynSolValue::Address(a) => json!(a.to_checksum(None)),
        DynSolValue::Function(f) => json!(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Bytes(b) => json!(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => json!(s),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
    }
}

fn named(params: &[Param], values: &[DynSolValue]) -> Value {
    Value::Array(
        params
            .iter()
            .zip(values)
            .map(|(p, v)| json!({"name": p.name, "type": p.selector_type(), "value": to_json(v)}))
            .collect(),
    )
}

/// Decodes the logs an ABI knows (by their first topic); others are left out.
pub(crate) fn decode_events(abi: &JsonAbi, logs: &[(Vec<B256>, Vec<u8>)]) -> Vec<Value> {
    let mut out = vec![];
    for (topics, data) in logs {
        let Some(first) = topics.first() else { continue };
        let Some(event) = abi.events().find(|e| !e.anonymous && e.selector() == *first) else {
            continue;
        };
        let Ok(decoded) =
            event.decode_log(&LogData::new_unchecked(topics.clone(), data.clone().into()))
        else {
            continue;
        };
        let (mut indexed, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
        let args: Vec<Value> = event
            .inputs
            .iter()
            .map(|p| {
                let v = if p.indexed { indexed.next() } else { body.next() };
                json!({"name": p.name, "type": p.ty, "value": v.as_ref().map(to_json)})
            })
            .collect();
        out.push(json!({"event": event.name, "signature": event.signature(), "args": args}));
    }
    out
}

/// Decodes a call's input against an ABI: the function and its arguments.
pub(crate) fn decode_input(abi: &JsonAbi, input: &[u8]) -> Option<Value> {
    let selector = input.get(..4)?;
    let f = abi.functions().find(|f| f.selector().as_slice() == selector)?;
    let args = f.abi_decode_input(&input[4..]).ok()?;
    Some(json!({"function": f.name, "signature": f.signature(), "args": named(&f.inputs, &args)}))
}

/// The logs of a JSON-RPC receipt.
fn receipt_logs(receipt: &Value) -> Vec<(Vec<B256>, Vec<u8>)> {
    let logs = receipt["logs"].as_array().cloned().unwrap_or_default();
    logs.iter()
        .map(|l| {
            let topics = l["topics"].as_array().cloned().unwrap_or_default();
            let topics = topics.iter().filter_map(|t| t.as_str()?.parse().ok()).collect();
            let data = hex::decode(l["data"].as_str().unwrap_or("0x").trim_start_matches("0x"));
            (topics, data.unwrap_or_default())
        })
        .collect()
}

/// A JSON-RPC quantity (`0x1a`); 0 if absent or malformed.
fn qty(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0)
}

/// What a sent transaction came to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TxOutcome {
    pub tx_hash: String,
    pub height: u64,
    /// `success` or `reverted`.
    pub status: String,
    pub gas_used: u64,
    /// Events the ABI knows, decoded.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
}

/// Signs `input` to `to` (none: a creation) for the organization, sends it, and waits for its
/// receipt.
async fn transact(
    platform: &Platform,
    chain: &ChainView,
    org: &str,
    to: Option<alloy_primitives::Address>,
    input: Vec<u8>,
) -> ApiResult<(TxOutcome, Value)> {
    let key = org_key(platform, org).await?;
    let from = key.public_key().address().to_checksum_hex();
    let mut call = json!({"from": from, "data": format!("0x{}", hex::encode(&input))});
    if let Some(to) = to {
        call["to"] = json!(to.to_checksum(None));
    }
    let estimate = rpc(platform, chain, "eth_estimateGas", json!([call])).await.map_err(|e| {
        ApiError::bad_request(
            "would_revert",
            format!("the transaction would fail: {}", e.body.message),
        )
    })?;
    let gas = qty(&estimate);
    let hash = {
        // One signer at a time: the nonce read and the send must not interleave.
        let _turn = platform.signing.lock().await;
        let nonce =
            rpc(platform, chain, "eth_getTransactionCount", json!([from, "pending"])).await?;
        let nonce = qty(&nonce);
        let tx = alloy_consensus::TxEip1559 {
            chain_id: chain.chain_id as u64,
            nonce,
            gas_limit: gas + gas / 5 + 10_000,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            to: to.map_or(alloy_primitives::TxKind::Create, alloy_primitives::TxKind::Call),
            value: alloy_primitives::U256::ZERO,
            access_list: Default::default(),
            input: input.into(),
        };
        let signed = EthTx::sign(tx, &key).map_err(ApiError::internal)?;
        let raw = format!("0x{}", hex::encode(signed.raw()));
        rpc(platform, chain, "eth_sendRawTransaction", json!([raw])).await?
    };
    let hash = hash.as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
    let receipt = loop {
        let r = rpc(platform, chain, "eth_getTransactionReceipt", json!([hash])).await?;
        if !r.is_null() {
            break r;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "not_committed",
                format!(
                    "transaction {hash} was sent but not committed within {} s; look it up in the explorer",
                    RECEIPT_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let outcome = TxOutcome {
        tx_hash: hash,
        height: qty(&receipt["blockNumber"]),
        status: if receipt["status"] == "0x1" { "success" } else { "reverted" }.into(),
        gas_used: qty(&receipt["gasUsed"]),
        events: vec![],
    };
    Ok((outcome, receipt))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Constructor arguments, one string per parameter (`123`, `0xabc…`, `true`, `[1,2]`).
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeployView {
    pub contract: ContractView,
    pub outcome: TxOutcome,
}

/// Deploy an uploaded contract (signed for its organization)
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/deploy", tag = "contracts",
    request_body = DeployRequest,
    responses(
        (status = 200, body = DeployView),
        (status = 400, description = "Bad arguments, or the creation would fail", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already deployed, or the chain is not running", body = ErrorBody),
    ))]
pub async fn deploy(
    Ctx { platform, caller }: Ctx,
    Path((chain_id, contract)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<DeployView>> {
    let req: DeployRequest = consortia_rpc::json_body(body)?;
    let (chain, stored) = running_contract(&platform, &caller, &chain_id, &contract).await?;
    authorize(&platform, &caller, &stored.view.org_id, "contract:deploy", &chain).await?;
    if stored.view.status == "deployed" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!(
                "contract {} is deployed already, at {}",
                stored.view.name,
                stored.view.address.unwrap_or_default()
            ),
        ));
    }
    let inputs = stored.abi.constructor.as_ref().map(|c| c.inputs.clone()).unwrap_or_default();
    let values = arguments(&inputs, &req.args)?;
    let mut input = stored.bytecode.clone();
    if !values.is_empty() {
        input.extend(DynSolValue::Tuple(values).abi_encode_params());
    }
    let (mut outcome, receipt) =
        transact(&platform, &chain, &stored.view.org_id, None, input).await?;
    outcome.events = decode_events(&stored.abi, &receipt_logs(&receipt));
    let address = receipt["contractAddress"].as_str().map(str::to_owned);
    if outcome.status != "success" || address.is_none() {
        return Err(ApiError::bad_request(
            "deploy_failed",
            format!("the creation {} reverted on chain; see it in the explorer", outcome.tx_hash),
        ));
    }
    sqlx::query("UPDATE contracts SET status = 'deployed', address = $1, deploy_tx = $2, deployed_ms = $3 WHERE id = $4")
        .bind(&address)
        .bind(&outcome.tx_hash)
        .bind(now_ms())
        .bind(&stored.view.id)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    let contract = load(&platform, &chain.id, &stored.view.id).await?.view;
    Ok(Json(DeployView { contract, outcome }))
}

/// A contract of a running chain the caller sees.
async fn running_contract(
    platform: &Platform,
    caller: &Caller,
    chain: &str,
    contract: &str,
) -> ApiResult<(ChainView, Stored)> {
    let chain = running_chain(platform, caller, chain).await?;
    let stored = load(platform, &chain.id, contract).await?;
    Ok((chain, stored))
}

async fn running_chain(platform: &Platform, caller: &Caller, id: &str) -> ApiResult<ChainView> {
    let chain = visible_chain(platform, caller, id).await?;
    if chain.status != "running" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!("chain {id} is {}; start it first", chain.status),
        ));
    }
    Ok(chain)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallRequest {
    /// A function name, or its signature (`transfer(address,uint256)`) for an overload.
    pub function: String,
    /// One string per parameter.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whose key signs a transaction (default: the contract's organization). Queries need none.
    pub org_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    pub function: String,
    /// `query` (a view function: no transaction) or `transaction`.
    pub kind: String,
    /// A query's decoded results.
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    /// A transaction's outcome.
    pub outcome: Option<TxOutcome>,
}

/// Call a deployed contract: a query for view functions, a signed transaction otherwise
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/call", tag = "contracts",
    request_body = CallRequest,
    responses(
        (status = 200, body = CallView),
        (status = 400, description = "Unknown function, bad arguments, or the call would fail", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not deployed yet", body = ErrorBody),
    ))]
pub async fn call(
    Ctx { platform, caller }: Ctx,
    Path((chain_id, contract)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<CallView>> {
    let req: CallRequest = consortia_rpc::json_body(body)?;
    let (chain, stored) = running_contract(&platform, &caller, &chain_id, &contract).await?;
    let Some(address) = stored.view.address.as_deref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!("contract {} is not deployed yet", stored.view.name),
        ));
    };
    let address: alloy_primitives::Address = address.parse().map_err(ApiError::internal)?;
    let wanted = req.function.trim();
    let function = stored
        .abi
        .functions()
        .find(|f| f.signature() == wanted)
        .or_else(|| {
            let mut named = stored.abi.functions().filter(|f| f.name == wanted);
            named.next().filter(|_| named.next().is_none())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "unknown_function",
                format!(
                    "{} has no function `{wanted}` (name an overload by its signature)",
                    stored.view.name
                ),
            )
        })?
        .clone();
    let input = function
        .abi_encode_input(&arguments(&function.inputs, &req.args)?)
        .map_err(|e| ApiError::bad_request("bad_arguments", e.to_string()))?;
    if read_only(&function) {
        let org = stored.view.org_id.clone();
        authorize(&platform, &caller, &org, "contract:get", &chain).await?;
        let call =
            json!({"to": address.to_checksum(None), "data": format!("0x{}", hex::encode(&input))});
        let out = rpc(&platform, &chain, "eth_call", json!([call, "latest"])).await?;
        let bytes = hex::decode(out.as_str().unwrap_or("0x").trim_start_matches("0x"))
            .map_err(ApiError::internal)?;
        let values = function.abi_decode_output(&bytes).map_err(|e| {
            ApiError::bad_request("bad_output", format!("the result does not match the ABI: {e}"))
        })?;
        return Ok(Json(CallView {
            function: function.signature(),
            kind: "query".into(),
            outputs: Some(named(&function.outputs, &values)),
            outcome: None,
        }));
    }
    let org = req.org_id.clone().unwrap_or_else(|| stored.view.org_id.clone());
    authorize(&platform, &caller, &org, "contract:invoke", &chain).await?;
    let (mut outcome, receipt) = transact(&platform, &chain, &org, Some(address), input).await?;
    outcome.events = decode_events(&stored.abi, &receipt_logs(&receipt));
    Ok(Json(CallView {
        function: function.signature(),
        kind: "transaction".into(),
        outputs: None,
        outcome: Some(outcome),
    }))
}

/// The deployed contracts of a chain by address, with their ABIs (for decoding).
pub(crate) async fn abis_by_address(
    platform: &Platform,
    chain: &str,
) -> ApiResult<Vec<(String, String, JsonAbi)>> {
    let rows = sqlx::query(
        "SELECT address, name, abi FROM contracts WHERE chain_id = $1 AND address IS NOT NULL",
    )
    .bind(chain)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            let abi = serde_json::from_str(&r.get::<String, _>(2)).map_err(ApiError::internal)?;
            Ok((r.get::<String, _>(0).to_ascii_lowercase(), r.get(1), abi))
        })
        .collect()
}
