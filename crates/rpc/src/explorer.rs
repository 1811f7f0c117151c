//! What a block explorer reads from a node, each answered from an index of the store (no scan
//! of the chain, whatever its length): the latest transactions, an address's transactions,
//! token contracts' holders and transfers, and the transaction volume per minute or hour.
//! Blocks by time range (newest first too) and by hash are in the block handlers.

use std::sync::Arc;

use alloy_primitives::U256;
use axum::Json;
use axum::extract::{Extension, State};
use consortia_api::ErrorBody;
use consortia_api::node::{
    Bucket, MAX_BUCKETS, MAX_HOLDERS_PAGE, MAX_PAGE, MAX_TOKENS_PER_HOLDER, PageQuery,
    TokenHolderView, TokenHoldersQuery, TokenHoldersView, TokenStandardView, TokenTransferView,
    TokenTransfersView, TokenView, TotalsView, TxListView, TxSummaryView, VolumeBucketView,
    VolumeQuery, VolumeView,
};
use consortia_api::server::{ApiError, ApiResult, PathParams, QueryParams};
use consortia_crypto::Address;
use consortia_node::Node;
use consortia_storage::{LogLocation, StorageError, StoredTx, TokenStandard};
use consortia_types::{Height, ReceiptStatus};

use crate::QueryPool;
use crate::handlers::storage;

/// `limit` (default 20) if it is between 1 and `max`.
fn page_size(limit: Option<usize>, max: usize) -> ApiResult<usize> {
    match limit.unwrap_or(20) {
        n @ 1.. if n <= max => Ok(n),
        _ => Err(ApiError::bad_request("bad_query", format!("limit must be between 1 and {max}"))),
    }
}

/// `before` parsed by `parse`; `shape` names the cursor's form in the error.
fn cursor<T>(
    before: Option<&str>,
    shape: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> ApiResult<Option<T>> {
    before
        .map(|c| {
            parse(c).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_query",
                    format!("`{c}` is not a cursor ({shape}, from `next`)"),
                )
            })
        })
        .transpose()
}

/// The page size and cursor of a page query.
fn page(q: &PageQuery) -> ApiResult<(usize, Option<(Height, u32)>)> {
    let before = cursor(q.before.as_deref(), "height:position", |c| {
        c.split_once(':').and_then(|(h, p)| Some((h.parse().ok()?, p.parse().ok()?)))
    })?;
    Ok((page_size(q.limit, MAX_PAGE)?, before))
}

fn parse_address(raw: &str) -> ApiResult<Address> {
    raw.parse().map_err(|e: consortia_crypto::CryptoError| {
        ApiError::bad_request("bad_address", e.to_string())
    })
}

fn summaries(node: &Node, txs: Vec<StoredTx>, limit: usize) -> Result<TxListView, StorageError> {
    let next = (txs.len() == limit)
        .then(|| txs.last().map(|t| format!("{}:{}", t.height, t.position)))
        .flatten();
    let mut time = (u64::MAX, 0);
    let mut out = Vec::with_capacity(txs.len());
    for t in txs {
        if time.0 != t.height {
            let header = node.store().header(t.height)?;
            time = (t.height, header.map_or(0, |h| h.header.time_ms));
        }
        let to = t.transaction.to();
        let kind = match (&t.transaction.evm_call(), to) {
            (None, _) => "notarize",
            (Some(_), None) => "create",
            (Some(_), Some(_)) => "call",
        };
        out.push(TxSummaryView {
            hash: t.hash.to_hex(),
            height: t.height,
            position: t.position,
            time_ms: time.1,
            sender: t.transaction.sender().to_checksum_hex(),
            to: to.map(|a| a.to_checksum_hex()),
            kind: kind.into(),
            status: match t.receipt.status {
                ReceiptStatus::Success => "success",
                ReceiptStatus::Failed { .. } => "failed",
            }
            .into(),
            envelope: match t.transaction {
                consortia_types::Transaction::Native(_) => "native",
                consortia_types::Transaction::Ethereum(_) => "ethereum",
            }
            .into(),
        });
    }
    Ok(TxListView { transactions: out, next })
}

async fn on_pool<T: Send + 'static>(
    pool: &QueryPool,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    pool.run(f).await.map_err(ApiError::internal)?
}

/// The latest committed transactions, newest first
#[utoipa::path(get, path = "/v1/transactions", tag = "explorer", params(PageQuery),
    responses((status = 200, body = TxListView), (status = 400, body = ErrorBody)))]
pub(crate) async fn recent(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<TxListView>> {
    let (limit, before) = page(&q)?;
    on_pool(&pool, move || {
        let txs = node.store().recent_txs(before, limit).map_err(storage)?;
        summaries(&node, txs, limit).map_err(storage)
    })
    .await
    .map(Json)
}

/// Transactions an address sent, called or created, newest first
#[utoipa::path(get, path = "/v1/addresses/{address}/transactions", tag = "explorer",
    params(("address" = String, Path, description = "0x hex (EIP-55) or Base58Check"), PageQuery),
    responses((status = 200, body = TxListView), (status = 400, body = ErrorBody)))]
pub(crate) async fn by_address(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    PathParams(address): PathParams<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<TxListView>> {
    let address = parse_address(&address)?;
    let (limit, before) = page(&q)?;
    on_pool(&pool, move || {
        let txs = node.store().txs_by_address(&address, before, limit).map_err(storage)?;
        summaries(&node, txs, limit).map_err(storage)
    })
    .await
    .map(Json)
}

/// A token contract as its ERC-20 or ERC-721 `Transfer` events add up
#[utoipa::path(get, path = "/v1/tokens/{address}", tag = "explorer",
    params(("address" = String, Path, description = "The contract: 0x hex or Base58Check")),
    responses((status = 200, body = TokenView), (status = 400, body = ErrorBody),
        (status = 404, description = "It never emitted a token transfer", body = ErrorBody)))]
pub(crate) async fn token(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    PathParams(contract): PathParams<String>,
) -> ApiResult<Json<TokenView>> {
    let contract = parse_address(&contract)?;
    let stats = on_pool(&pool, move || node.store().token(&contract).map_err(storage)).await?;
    let stats = stats.ok_or_else(|| {
        ApiError::not_found(format!(
            "{} never emitted an ERC-20 or ERC-721 Transfer event",
            contract.to_checksum_hex()
        ))
    })?;
    Ok(Json(TokenView {
        address: contract.to_checksum_hex(),
        standard: match stats.standard {
            TokenStandard::Erc20 => TokenStandardView::Erc20,
            TokenStandard::Erc721 => TokenStandardView::Erc721,
        },
        holders: stats.holders,
        transfers: stats.transfers,
    }))
}

/// A token's holders, largest balance first (an empty page for a contract without transfers)
#[utoipa::path(get, path = "/v1/tokens/{address}/holders", tag = "explorer",
    params(("address" = String, Path, description = "The contract: 0x hex or Base58Check"),
        TokenHoldersQuery),
    responses((status = 200, body = TokenHoldersView), (status = 400, body = ErrorBody)))]
pub(crate) async fn token_holders(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    PathParams(contract): PathParams<String>,
    QueryParams(q): QueryParams<TokenHoldersQuery>,
) -> ApiResult<Json<TokenHoldersView>> {
    let contract = parse_address(&contract)?;
    let limit = page_size(q.limit, MAX_HOLDERS_PAGE)?;
    let tokens = q.tokens.unwrap_or(20).min(MAX_TOKENS_PER_HOLDER);
    let after = cursor(q.before.as_deref(), "balance:address", |c| {
        let (balance, holder) = c.split_once(':')?;
        Some((balance.parse::<U256>().ok()?, holder.parse::<Address>().ok()?))
    })?;
    let store = move || node.store().token_holders(&contract, after, limit, tokens);
    let holders = on_pool(&pool, move || store().map_err(storage)).await?;
    let next = (holders.len() == limit)
        .then(|| holders.last().map(|h| format!("{}:{}", h.balance, h.address.to_checksum_hex())))
        .flatten();
    let holders = holders
        .into_iter()
        .map(|h| TokenHolderView {
            address: h.address.to_checksum_hex(),
            balance: h.balance.to_string(),
            tokens: h.tokens.iter().map(U256::to_string).collect(),
        })
        .collect();
    Ok(Json(TokenHoldersView { holders, next }))
}

/// A token's transfers, newest first (an empty page for a contract without transfers)
#[utoipa::path(get, path = "/v1/tokens/{address}/transfers", tag = "explorer",
    params(("address" = String, Path, description = "The contract: 0x hex or Base58Check"),
        PageQuery),
    responses((status = 200, body = TokenTransfersView), (status = 400, body = ErrorBody)))]
pub(crate) async fn token_transfers(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    PathParams(contract): PathParams<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<TokenTransfersView>> {
    let contract = parse_address(&contract)?;
    let limit = page_size(q.limit, MAX_PAGE)?;
    let before = cursor(q.before.as_deref(), "height:position:event", |c| {
        let mut parts = c.split(':');
        let at = LogLocation {
            height: parts.next()?.parse().ok()?,
            position: parts.next()?.parse().ok()?,
            event: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(at)
    })?;
    on_pool(&pool, move || transfer_page(&node, &contract, before, limit).map_err(storage))
        .await
        .map(Json)
}

/// What a read of a block found, none if the block was pruned since.
fn held<T>(read: Result<Option<T>, StorageError>) -> Result<Option<T>, StorageError> {
    match read {
        Err(StorageError::Pruned { .. }) => Ok(None),
        other => other,
    }
}

/// A page of `contract`'s transfers, read from the blocks the token index points at (a
/// pruned block's transfers are left out).
fn transfer_page(
    node: &Node,
    contract: &Address,
    before: Option<LogLocation>,
    limit: usize,
) -> Result<TokenTransfersView, StorageError> {
    let store = node.store();
    let found = store.token_transfers(contract, before, limit)?;
    let next = (found.len() == limit)
        .then(|| found.last().map(|t| format!("{}:{}:{}", t.at.height, t.at.position, t.at.event)))
        .flatten();
    let mut header = None;
    let mut transfers = Vec::with_capacity(found.len());
    for t in found {
        if header
            .as_ref()
            .is_none_or(|h: &consortia_storage::StoredHeader| h.header.height != t.at.height)
        {
            header = held(store.header(t.at.height))?;
        }
        let receipt = held(store.receipt_at(t.at.height, t.at.position))?;
        let (Some(h), Some(receipt)) = (&header, receipt) else { continue };
        let Some(event) = receipt.events.get(usize::from(t.at.event)) else { continue };
        if event.topics.len() < 3 {
            continue;
        }
        let word = |i: usize| Address::from_slice(&event.topics[i].0[12..]).to_checksum_hex();
        let (amount, token_id) = match event.topics.get(3) {
            Some(id) => (None, Some(U256::from_be_bytes(id.0).to_string())),
            None => (Some(U256::from_be_slice(&event.data).to_string()), None),
        };
        transfers.push(TokenTransferView {
            tx_hash: h
                .tx_hashes
                .get(t.at.position as usize)
                .map(|x| x.to_hex())
                .unwrap_or_default(),
            height: t.at.height,
            position: t.at.position,
            log_index: u64::from(t.log_index),
            time_ms: h.header.time_ms,
            from: word(1),
            to: word(2),
            amount,
            token_id,
        });
    }
    Ok(TokenTransfersView { transfers, next })
}

/// The minutes a bucket spans.
fn minutes(bucket: Bucket) -> u64 {
    match bucket {
        Bucket::Minute => 1,
        Bucket::Hour => 60,
    }
}

/// Blocks, transactions and accounts since the genesis
#[utoipa::path(get, path = "/v1/stats/totals", tag = "explorer",
    responses((status = 200, body = TotalsView)))]
pub(crate) async fn totals(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
) -> ApiResult<Json<TotalsView>> {
    let totals = on_pool(&pool, move || node.store().totals().map_err(storage)).await?;
    Ok(Json(TotalsView {
        blocks: totals.blocks,
        transactions: totals.transactions,
        accounts: totals.accounts,
    }))
}

/// Transaction volume per minute or per hour over a time range
#[utoipa::path(get, path = "/v1/stats/volume", tag = "explorer", params(VolumeQuery),
    responses((status = 200, body = VolumeView), (status = 400, body = ErrorBody)))]
pub(crate) async fn volume(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    QueryParams(q): QueryParams<VolumeQuery>,
) -> ApiResult<Json<VolumeView>> {
    if let (Some(from), Some(to)) = (q.from_time, q.to_time)
        && from >= to
    {
        return Err(ApiError::bad_request("bad_query", "from_time must be before to_time"));
    }
    let bucket = q.bucket.unwrap_or(Bucket::Minute);
    let width = minutes(bucket);
    let to_minute = match q.to_time {
        Some(t) => t.div_ceil(60_000).div_ceil(width) * width,
        None => (consortia_node::now_ms() / 60_000 / width + 1) * width,
    };
    let from_minute = match q.from_time {
        Some(t) => t / 60_000 / width * width,
        None => to_minute.saturating_sub(60 * width),
    };
    if from_minute >= to_minute {
        return Err(ApiError::bad_request("bad_query", "from_time must be before to_time"));
    }
    if (to_minute - from_minute) / width > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("at most {MAX_BUCKETS} buckets per query; narrow the range or use hours"),
        ));
    }
    let minutes =
        on_pool(&pool, move || node.store().volume(from_minute, to_minute).map_err(storage))
            .await?;
    let mut buckets: Vec<VolumeBucketView> = (from_minute..to_minute)
        .step_by(width as usize)
        .map(|m| VolumeBucketView { start_ms: m * 60_000, blocks: 0, txs: 0 })
        .collect();
    for m in minutes {
        let b = &mut buckets[((m.minute - from_minute) / width) as usize];
        b.blocks += m.blocks;
        b.txs += m.txs;
    }
    Ok(Json(VolumeView { bucket, buckets }))
}
