use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use consortia_api::ErrorBody;
use consortia_api::node::{
    AccountView, BatchItem, BlockListView, BlockView, BlocksQuery, CertifiedHeaderView,
    HeadersQuery, HeightQuery, LimitQuery, Order, RecordView, RecordsByHashView, StateProofView,
    StatusView, SubmitBatchRequest, SubmitBatchResponse, SubmitRequest, SubmitResponse,
    TxLookupView, TxStatus,
};
use consortia_api::server::{
    ApiError, ApiResult, PathParams, QueryParams, declares_json, json_body, json_from, not_json,
    read_body,
};
use consortia_crypto::{Address, Hash};
use consortia_execution::{BlockContext, notary, read_account};
use consortia_node::Node;
use consortia_storage::{StorageError, StoredHeader};

use crate::MAX_BATCH;
use crate::error::admit_error;
use crate::views::{block_view, committed, hex0x};

type AppState = State<Arc<Node>>;

pub(crate) fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::FutureHeight { .. } => ApiError::not_found(e.to_string()),
        StorageError::Pruned { .. } => ApiError::new(StatusCode::GONE, "pruned", e.to_string()),
        StorageError::Archive(detail) => {
            tracing::warn!(target: "rpc", error = %detail, "an archived block cannot be read");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "archive_unavailable",
                "this block is in the node's archive, which cannot be read now; ask the node's \
                 operator, or another node",
            )
        }
        other => ApiError::internal(other),
    }
}

/// The context a read-only call on top of block `parent` runs in: the next height, now.
pub(crate) fn call_context(parent: &StoredHeader) -> BlockContext {
    BlockContext {
        height: parent.header.height + 1,
        time_ms: parent.header.time_ms.max(consortia_node::now_ms()),
        proposer: Address::default(),
        parent_hash: parent.hash,
    }
}

pub(crate) fn decode_hex(field: &str, s: &str) -> ApiResult<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|e| ApiError::bad_request("malformed_tx", format!("`{field}` is not hex: {e}")))
}

pub(crate) fn parse_address(text: &str) -> ApiResult<Address> {
    text.parse().map_err(|e: consortia_crypto::CryptoError| {
        ApiError::bad_request("bad_address", format!("`{text}`: {e}"))
    })
}

pub(crate) fn parse_hash(s: &str) -> ApiResult<Hash> {
    Hash::from_hex(s).map_err(|e| ApiError::bad_request("bad_hash", e.to_string()))
}

/// Submit one transaction
///
/// The body is JSON `{"tx": "0x…"}` (the transaction's canonical encoding in hex) or, with
/// `Content-Type: application/octet-stream`, the raw bytes. Admission checks size, encoding,
/// chain id, payload limits, signature and nonce; an admitted transaction is committed in a
/// later block (poll `GET /v1/transactions/{hash}`).
#[utoipa::path(post, path = "/v1/transactions", tag = "transactions",
    request_body = SubmitRequest,
    responses(
        (status = 202, description = "Admitted (or already pending)", body = SubmitResponse),
        (status = 400, description = "Malformed, wrong chain, bad signature, invalid payload, or nonce too far ahead", body = ErrorBody),
        (status = 409, description = "Nonce already used or taken by another pending transaction", body = ErrorBody),
        (status = 413, description = "Transaction too large", body = ErrorBody),
        (status = 503, description = "Pool full (`pool_full`: retry after the Retry-After header), or the node is shutting down (`node_draining`: send it to another node)", body = ErrorBody),
    ))]
pub(crate) async fn submit(
    State(node): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SubmitResponse>)> {
    let raw = if is_binary(&headers) {
        raw_body(body)?.to_vec()
    } else if !declares_json(&headers) {
        return Err(not_json());
    } else {
        let req: SubmitRequest = json_body(body)?;
        decode_hex("tx", &req.tx)?
    };
    let result = node
        .submit(vec![raw])
        .await
        .pop()
        .unwrap_or_else(|| {
            Err(consortia_node::mempool::AdmitError::State("no admission result".into()))
        })
        .map_err(admit_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse { hash: result.hash.to_hex(), status: TxStatus::Pending }),
    ))
}

fn raw_body(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(consortia_api::server::body_rejection)
}

fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"))
}

/// Submit a batch of transactions
///
/// Up to 10,000 transactions; signatures are verified in one batch. The body is JSON
/// `{"txs": ["0x…", …]}` or, with `Content-Type: application/octet-stream`, the borsh encoding
/// of the list of encoded transactions (`u32` count, then each as `u32` length and bytes): half
/// the size, no hex. The response lists, in order, each transaction's hash or the error that
/// refused it.
#[utoipa::path(post, path = "/v1/transactions/batch", tag = "transactions",
    request_body = SubmitBatchRequest,
    responses(
        (status = 200, description = "Per-transaction results", body = SubmitBatchResponse),
        (status = 400, description = "Malformed body or too many transactions", body = ErrorBody),
    ))]
pub(crate) async fn submit_batch(
    State(node): AppState,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<SubmitBatchResponse>> {
    if !is_binary(&headers) && !declares_json(&headers) {
        return Err(not_json());
    }
    let bytes = read_body(body, crate::BATCH_BODY_LIMIT).await?;
    let items: Vec<ApiResult<Vec<u8>>> = if is_binary(&headers) {
        let raws: Vec<Vec<u8>> = consortia_types::decode(&bytes).map_err(|e| {
            ApiError::bad_request(
                "malformed_body",
                format!("not a borsh list of transactions: {e}"),
            )
        })?;
        raws.into_iter().map(Ok).collect()
    } else {
        // Borrowed from the body: a 60 MB batch is not copied into strings first.
        #[derive(serde::Deserialize)]
        struct Batch<'a> {
            #[serde(borrow)]
            txs: Vec<std::borrow::Cow<'a, str>>,
        }
        let req: Batch<'_> = json_from(&bytes)?;
        req.txs.iter().map(|tx| decode_hex("txs[]", tx)).collect()
    };
    drop(bytes);
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("{} transactions in one batch; at most {MAX_BATCH}", items.len()),
        ));
    }
    let mut results: Vec<Option<BatchItem>> = vec![None; items.len()];
    let mut raws = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Ok(raw) => {
                raws.push(raw);
                slots.push(i);
            }
            Err(e) => results[i] = Some(BatchItem { hash: None, error: Some(e.body) }),
        }
    }
    for (slot, outcome) in slots.into_iter().zip(node.submit(raws).await) {
        results[slot] = Some(match outcome {
            Ok(a) => BatchItem { hash: Some(a.hash.to_hex()), error: None },
            Err(e) => BatchItem { hash: None, error: Some(admit_error(e).body) },
        });
    }
    let results: Vec<BatchItem> = results.into_iter().flatten().collect();
    let accepted = results.iter().filter(|r| r.hash.is_some()).count();
    Ok(Json(SubmitBatchResponse { accepted, results }))
}

/// A transaction by hash
///
/// A committed transaction comes with its receipt, height, position and block hash; one still
/// in the pool has status `pending`; one the pool dropped after admitting it (its sender could
/// no longer pay, say) has status `dropped` and the `reason`.
#[utoipa::path(get, path = "/v1/transactions/{hash}", tag = "transactions",
    params(("hash" = String, Path, description = "Transaction hash, 0x + 64 hex digits")),
    responses(
        (status = 200, body = TxLookupView),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 404, description = "Unknown transaction", body = ErrorBody),
        (status = 410, description = "The transaction's block was pruned from this node's history (code `pruned`)", body = ErrorBody),
        (status = 503, description = "The block is in the node's archive, which cannot be read now (code `archive_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn get_transaction(
    State(node): AppState,
    PathParams(hash): PathParams<String>,
) -> ApiResult<Json<TxLookupView>> {
    let hash = parse_hash(&hash)?;
    if let Some(tx) = node.store().transaction(&hash).map_err(storage)? {
        let header = node.store().header(tx.height).map_err(storage)?.ok_or_else(|| {
            ApiError::internal(format!("block {} of a committed transaction is missing", tx.height))
        })?;
        return Ok(Json(committed(&tx, header.hash.to_hex())));
    }
    if node.is_pending(&hash) {
        return Ok(Json(TxLookupView::pending(hash.to_hex())));
    }
    if let Some(reason) = node.mempool().dropped(&hash) {
        return Ok(Json(TxLookupView::dropped(hash.to_hex(), reason.to_string())));
    }
    Err(ApiError::not_found(format!("no transaction {hash} is committed or pending on this node")))
}

fn stored_header(node: &Node, height: u64) -> ApiResult<StoredHeader> {
    node.store().header(height).map_err(storage)?.ok_or_else(|| {
        let latest = node.store().latest_height().unwrap_or(0);
        ApiError::not_found(format!("no block at height {height}; the latest is {latest}"))
    })
}

fn block_at(node: &Node, height: u64) -> ApiResult<BlockView> {
    stored_header(node, height).map(block_view)
}

/// The latest committed block
#[utoipa::path(get, path = "/v1/blocks/latest", tag = "blocks",
    responses((status = 200, body = BlockView)))]
pub(crate) async fn latest_block(State(node): AppState) -> ApiResult<Json<BlockView>> {
    let latest = node.store().latest_height().map_err(storage)?;
    Ok(Json(block_at(&node, latest)?))
}

/// A block by height or hash
#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "blocks",
    params(("height" = String, Path, description = "Block height (0 is genesis), or its hash (0x + 64 hex digits)")),
    responses(
        (status = 200, body = BlockView),
        (status = 400, description = "Neither a height nor a hash", body = ErrorBody),
        (status = 404, description = "No such block (yet)", body = ErrorBody),
        (status = 410, description = "The block was pruned from this node's history (code `pruned`)", body = ErrorBody),
        (status = 503, description = "The block is in the node's archive, which cannot be read now (code `archive_unavailable`)", body = ErrorBody),
    ))]
pub(crate) async fn block_by_height(
    State(node): AppState,
    PathParams(height): PathParams<String>,
) -> ApiResult<Json<BlockView>> {
    if height.starts_with("0x") {
        let hash = parse_hash(&height)?;
        let found = node.store().height_by_hash(&hash).map_err(storage)?;
        let at = found.ok_or_else(|| ApiError::not_found(format!("no block has hash {hash}")))?;
        return Ok(Json(block_at(&node, at)?));
    }
    let height: u64 = height.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_height",
            format!("`{height}` is not a block height (a whole number ≥ 0) or a block hash (0x…)"),
        )
    })?;
    Ok(Json(block_at(&node, height)?))
}

/// Certified headers from a height: each header with its commit certificate and, where the
/// validator set changes after it, the next set (what a light client follows from genesis)
#[utoipa::path(get, path = "/v1/headers", tag = "blocks", params(HeadersQuery),
    responses(
        (status = 200, body = Vec<CertifiedHeaderView>),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
pub(crate) async fn headers(
    State(node): AppState,
    QueryParams(q): QueryParams<HeadersQuery>,
) -> ApiResult<Json<Vec<CertifiedHeaderView>>> {
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("bad_query", "limit must be between 1 and 1000"));
    }
    let algo = node.hash_algorithm();
    let headers = node.certified_headers(q.from.unwrap_or(1), limit);
    Ok(Json(
        headers
            .iter()
            .map(|h| CertifiedHeaderView {
                height: h.header.height,
                hash: h.header.hash(algo).to_hex(),
                state_root: h.header.state_root.to_hex(),
                encoded: format!("0x{}", hex::encode(consortia_types::encode(h))),
            })
            .collect(),
    ))
}

/// Blocks in a time range, oldest or newest first (the latest blocks: `?order=desc`), or a
/// page of the latest blocks below a height (`?before_height=`)
#[utoipa::path(get, path = "/v1/blocks", tag = "blocks", params(BlocksQuery),
    responses(
        (status = 200, body = BlockListView),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
pub(crate) async fn blocks_by_time(
    State(node): AppState,
    QueryParams(q): QueryParams<BlocksQuery>,
) -> ApiResult<Json<BlockListView>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("bad_query", "limit must be between 1 and 1000"));
    }
    let headers = match q.before_height {
        Some(before) => {
            if q.from_time.is_some() || q.to_time.is_some() || q.order == Some(Order::Asc) {
                return Err(ApiError::bad_request(
                    "bad_query",
                    "before_height pages the latest blocks newest first: it takes no time range and no `order=asc`",
                ));
            }
            let below = before.min(node.store().latest_height().map_err(storage)? + 1);
            let mut headers = Vec::with_capacity(limit.min(below as usize));
            for height in (0..below).rev().take(limit) {
                headers.extend(node.store().header(height).map_err(storage)?);
            }
            headers
        }
        None => {
            let from = q.from_time.unwrap_or(0);
            let to = q.to_time.unwrap_or(u64::MAX);
            if from > to {
                return Err(ApiError::bad_request("bad_query", "from_time is after to_time"));
            }
            let newest_first = q.order == Some(Order::Desc);
            node.store().headers_by_time(from, to, limit, newest_first).map_err(storage)?
        }
    };
    let mut blocks: Vec<BlockView> = headers.into_iter().map(block_view).collect();
    if q.tx_hashes == Some(false) {
        blocks.iter_mut().for_each(|b| b.tx_hashes.clear());
    }
    Ok(Json(BlockListView { blocks }))
}

/// Liveness, for probes (no credential in any access mode)
#[utoipa::path(get, path = "/v1/health", tag = "node", security(()),
    responses((status = 200, body = consortia_api::platform::Health)))]
pub(crate) async fn health() -> Json<consortia_api::platform::Health> {
    Json(consortia_api::platform::Health { status: "ok".into() })
}

/// Chain and node status
#[utoipa::path(get, path = "/v1/status", tag = "node", responses((status = 200, body = StatusView)))]
pub(crate) async fn status(State(node): AppState) -> ApiResult<Json<StatusView>> {
    let height = node.store().latest_height().map_err(storage)?;
    // Only the header's hash and time: not the block view, which hex-encodes every tx hash.
    let latest = stored_header(&node, height)?;
    let history = node.history().map_err(storage)?;
    let g = node.genesis();
    Ok(Json(StatusView {
        chain_id: g.chain_id,
        chain_name: g.chain_name.clone(),
        suite: g.suite.to_string(),
        genesis_hash: node.genesis_hash().to_hex(),
        height,
        latest_block_hash: latest.hash.to_hex(),
        latest_block_time_ms: latest.header.time_ms,
        pending_txs: node.mempool().len(),
        peers: node.peer_count(),
        first_block: history.first_block,
        archived_blocks: history.first_hot - history.first_block,
    }))
}

/// A state value with a Merkle proof
///
/// `key` is `0x`-prefixed hex for binary keys, or else taken as UTF-8 text (e.g.
/// `notary/rec/invoice-1`). The proof verifies against `state_root`, which is the state root
/// in the header of block `height`.
#[utoipa::path(get, path = "/v1/state/{key}", tag = "state", params(("key" = String, Path), HeightQuery),
    responses(
        (status = 200, body = StateProofView),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Height beyond the latest block", body = ErrorBody),
    ))]
pub(crate) async fn state_with_proof(
    State(node): AppState,
    axum::Extension(pool): axum::Extension<crate::QueryPool>,
    PathParams(key): PathParams<String>,
    QueryParams(q): QueryParams<HeightQuery>,
) -> ApiResult<Json<StateProofView>> {
    let key_bytes = match key.strip_prefix("0x") {
        Some(h) => {
            hex::decode(h).map_err(|e| ApiError::bad_request("bad_key", format!("hex key: {e}")))?
        }
        None => key.into_bytes(),
    };
    let height = match q.height {
        Some(h) => h,
        None => node.store().latest_height().map_err(storage)?,
    };
    let reader = Arc::clone(&node);
    let proof = pool
        .run(move || reader.store().get_with_proof(&key_bytes, height).map(|p| (key_bytes, p)))
        .await
        .map_err(ApiError::internal)?;
    let (key_bytes, proof) = proof.map_err(storage)?;
    let header = stored_header(&node, height)?;
    Ok(Json(StateProofView {
        key: hex0x(&key_bytes),
        height,
        block_hash: header.hash.to_hex(),
        state_root: proof.state_root.to_hex(),
        value: proof.value.as_deref().map(hex0x),
        proof: hex0x(&proof.proof),
    }))
}

/// A notarization record by id
#[utoipa::path(get, path = "/v1/notary/records/{id}", tag = "notary",
    params(("id" = String, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = ErrorBody)))]
pub(crate) async fn notary_record(
    State(node): AppState,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<RecordView>> {
    let record = notary::get_record(node.store(), &id).map_err(ApiError::internal)?;
    record
        .map(|r| Json(RecordView::from(r)))
        .ok_or_else(|| ApiError::not_found(format!("no notarization record with id `{id}`")))
}

/// Notarization records with a content hash
#[utoipa::path(get, path = "/v1/notary/by-hash/{content_hash}", tag = "notary",
    params(("content_hash" = String, Path), LimitQuery),
    responses((status = 200, body = RecordsByHashView), (status = 400, body = ErrorBody)))]
pub(crate) async fn notary_by_hash(
    State(node): AppState,
    PathParams(content_hash): PathParams<String>,
    QueryParams(q): QueryParams<LimitQuery>,
) -> ApiResult<Json<RecordsByHashView>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let hash = parse_hash(&content_hash)?;
    let store = node.store();
    let ids = notary::find_by_hash(store, &hash, limit).map_err(ApiError::internal)?;
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = notary::get_record(store, &id).map_err(ApiError::internal)? {
            records.push(RecordView::from(r));
        }
    }
    Ok(Json(RecordsByHashView { content_hash: hash.to_hex(), records }))
}

/// An account's next nonce and balance
#[utoipa::path(get, path = "/v1/accounts/{address}", tag = "state",
    params(("address" = String, Path, description = "0x hex (EIP-55) or Base58Check")),
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody)))]
pub(crate) async fn account(
    State(node): AppState,
    PathParams(address): PathParams<String>,
) -> ApiResult<Json<AccountView>> {
    let address = parse_address(&address)?;
    let account = read_account(node.store(), &address).map_err(ApiError::internal)?;
    Ok(Json(AccountView {
        address: address.to_checksum_hex(),
        nonce: account.nonce,
        balance: account.balance.to_string(),
        contract: account.code_hash.is_some(),
    }))
}
