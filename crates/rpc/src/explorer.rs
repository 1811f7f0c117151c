//! What a block explorer reads from a node, each answered from an index of the store (no scan
//! of the chain, whatever its length): the latest transactions, an address's transactions,
//! and the transaction volume per minute or hour. Blocks by time range (newest first too) and
//! by hash are in the block handlers.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use consortia_crypto::Address;
use consortia_node::Node;
use consortia_storage::{BlockReader, ExplorerReader, StorageError, StoredTx};
use consortia_types::{Height, ReceiptStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::QueryPool;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::handlers::{query, storage};

/// Most items one page of a list holds.
pub const MAX_PAGE: usize = 200;
/// Most buckets one volume query answers (a day of minutes).
pub const MAX_BUCKETS: u64 = 1_440;

/// One committed transaction in a list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxSummaryView {
    pub hash: String,
    pub height: u64,
    pub position: u32,
    /// Its block's time, ms since the Unix epoch.
    pub time_ms: u64,
    pub sender: String,
    /// The called contract or account (the notary for a notarization); absent for a creation.
    pub to: Option<String>,
    /// `notarize`, `create` or `call`.
    pub kind: String,
    /// `success` or `failed`.
    pub status: String,
    /// `native` or `ethereum`.
    pub envelope: String,
}

/// A page of transactions, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxListView {
    pub transactions: Vec<TxSummaryView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// How many (default 20, at most 200).
    pub limit: Option<usize>,
    /// A cursor from an earlier page's `next` (`height:position`): only older transactions.
    pub before: Option<String>,
}

impl PageQuery {
    fn parse(&self) -> ApiResult<(usize, Option<(Height, u32)>)> {
        let limit = self.limit.unwrap_or(20);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("limit must be between 1 and {MAX_PAGE}"),
            ));
        }
        let before = match &self.before {
            None => None,
            Some(cursor) => {
                let parsed = cursor
                    .split_once(':')
                    .and_then(|(h, p)| Some((h.parse().ok()?, p.parse().ok()?)));
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
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<TxListView>> {
    let (limit, before) = query(q)?.parse()?;
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
    Path(address): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<TxListView>> {
    let address: Address = address.parse().map_err(|e: consortia_crypto::CryptoError| {
        ApiError::bad_request("bad_address", e.to_string())
    })?;
    let (limit, before) = query(q)?.parse()?;
    on_pool(&pool, move || {
        let txs = node.store().txs_by_address(&address, before, limit).map_err(storage)?;
        summaries(&node, txs, limit).map_err(storage)
    })
    .await
    .map(Json)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
}

impl Bucket {
    fn minutes(self) -> u64 {
        match self {
            Bucket::Minute => 1,
            Bucket::Hour => 60,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VolumeQuery {
    /// `minute` (default) or `hour`.
    pub bucket: Option<Bucket>,
    /// Inclusive start, ms since the Unix epoch (default: 60 buckets before `to_time`).
    pub from_time: Option<u64>,
    /// Exclusive end, ms since the Unix epoch (default: the end of the current bucket).
    pub to_time: Option<u64>,
}

/// Blocks and transactions committed in one bucket.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeBucketView {
    /// The bucket's start, ms since the Unix epoch.
    pub start_ms: u64,
    pub blocks: u64,
    pub txs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub bucket: Bucket,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<VolumeBucketView>,
}

/// Transaction volume per minute or per hour over a time range
#[utoipa::path(get, path = "/v1/stats/volume", tag = "explorer", params(VolumeQuery),
    responses((status = 200, body = VolumeView), (status = 400, body = ErrorBody)))]
pub(crate) async fn volume(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    q: Result<Query<VolumeQuery>, QueryRejection>,
) -> ApiResult<Json<VolumeView>> {
    let q = query(q)?;
    if let (Some(from), Some(to)) = (q.from_time, q.to_time)
        && from >= to
    {
        return Err(ApiError::bad_request("bad_query", "from_time must be before to_time"));
    }
    let bucket = q.bucket.unwrap_or(Bucket::Minute);
    let width = bucket.minutes();
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
