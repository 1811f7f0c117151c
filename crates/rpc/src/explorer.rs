//! What a block explorer reads from a node, each answered from an index of the store (no scan
//! of the chain, whatever its length): the latest transactions, an address's transactions,
//! and the transaction volume per minute or hour. Blocks by time range (newest first too) and
//! by hash are in the block handlers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use consortia_api::ErrorBody;
use consortia_api::node::{
    Bucket, MAX_BUCKETS, MAX_PAGE, PageQuery, TotalsView, TxListView, TxSummaryView,
    VolumeBucketView, VolumeQuery, VolumeView,
};
use consortia_api::server::{ApiError, ApiResult, PathParams, QueryParams};
use consortia_crypto::Address;
use consortia_node::Node;
use consortia_storage::{StorageError, StoredTx};
use consortia_types::{Height, ReceiptStatus};

use crate::QueryPool;
use crate::handlers::storage;

/// The page size and cursor of a page query.
fn page(q: &PageQuery) -> ApiResult<(usize, Option<(Height, u32)>)> {
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let before = match &q.before {
        None => None,
        Some(cursor) => {
            let parsed =
                cursor.split_once(':').and_then(|(h, p)| Some((h.parse().ok()?, p.parse().ok()?)));
            Some(parsed.ok_or_else(|| {
                ApiError::bad_request(
                    "bad_query",
                    format!("`{cursor}` is not a cursor (height:position, from `next`)"),
                )
            })?)
        }
    };
    Ok((limit, before))
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
    let address: Address = address.parse().map_err(|e: consortia_crypto::CryptoError| {
        ApiError::bad_request("bad_address", e.to_string())
    })?;
    let (limit, before) = page(&q)?;
    on_pool(&pool, move || {
        let txs = node.store().txs_by_address(&address, before, limit).map_err(storage)?;
        summaries(&node, txs, limit).map_err(storage)
    })
    .await
    .map(Json)
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
