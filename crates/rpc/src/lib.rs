//! The node's HTTP API for Consortia: REST with OpenAPI, and Ethereum JSON-RPC.
//!
//! [`router`] serves a [`Node`]: transaction submission, blocks, transactions, state with
//! proofs, notarization records, the block explorer's indexed reads ([`explorer`]), and
//! `/openapi.json` with Swagger UI at `/docs`, and Prometheus metrics at `/metrics`. Every REST
//! error is JSON `{"code", "message"}` with the matching HTTP status (`consortia_api::ErrorBody`). The
//! Ethereum JSON-RPC API ([`eth`]) answers `POST /rpc` and `POST /`, and over WebSocket at
//! `GET /ws` with `eth_subscribe`.
//!
//! The requests and views are `consortia_api::node`'s, so clients (the SDK, the CLI, the
//! platform, tests) read them with the same definitions the server writes them with.

mod error;
pub mod eth;
pub mod explorer;
mod handlers;
mod metrics;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use consortia_node::Node;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use consortia_api::ErrorBody;

/// Requests that read the store or run the EVM at once, each on a blocking thread. Fewer than
/// the runtime's blocking threads, so consensus (WAL, building, commits) always finds one.
pub const QUERY_THREADS: usize = 4;

/// Runs queries on the blocking pool, at most [`QUERY_THREADS`] at once (the rest wait here,
/// in async land, holding no thread).
#[derive(Clone, Debug)]
pub(crate) struct QueryPool(Arc<tokio::sync::Semaphore>);

impl QueryPool {
    fn new() -> Self {
        QueryPool(Arc::new(tokio::sync::Semaphore::new(QUERY_THREADS)))
    }

    pub(crate) async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // The semaphore is never closed.
        let _permit = self.0.acquire().await.ok();
        tokio::task::spawn_blocking(query).await
    }
}

/// Most WebSocket connections (`/ws`) a node serves at once.
pub const MAX_WS_CONNECTIONS: usize = 1_000;

/// Most transactions one batch may carry.
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Consortia node API",
        description = "Submit transactions and read the chain of one Consortia node."
    ),
    paths(
        handlers::submit,
        handlers::submit_batch,
        handlers::get_transaction,
        handlers::latest_block,
        handlers::block_by_height,
        handlers::blocks_by_time,
        handlers::status,
        handlers::state_with_proof,
        handlers::notary_record,
        handlers::notary_by_hash,
        handlers::account,
        explorer::recent,
        explorer::by_address,
        explorer::volume,
        metrics::metrics,
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// The node API. Bodies are limited to what the largest batch of largest transactions needs.
pub fn router(node: Arc<Node>) -> Router {
    let max_tx = node.genesis().params.max_tx_bytes as usize;
    // Hex doubles the size; allow JSON framing on top.
    let single_limit = max_tx * 2 + 4096;
    let batch_limit = 64 * 1024 * 1024;
    // A JSON-RPC batch of raw transactions.
    let rpc_limit = (single_limit * 8).max(8 * 1024 * 1024);
    Router::new()
        .route(
            "/v1/transactions",
            post(handlers::submit).layer(DefaultBodyLimit::max(single_limit)),
        )
        .route(
            "/v1/transactions/batch",
            post(handlers::submit_batch).layer(DefaultBodyLimit::max(batch_limit)),
        )
        .route("/v1/transactions", get(explorer::recent))
        .route("/v1/transactions/{hash}", get(handlers::get_transaction))
        .route("/v1/addresses/{address}/transactions", get(explorer::by_address))
        .route("/v1/stats/volume", get(explorer::volume))
        .route("/v1/blocks", get(handlers::blocks_by_time))
        .route("/v1/blocks/latest", get(handlers::latest_block))
        .route("/v1/blocks/{height}", get(handlers::block_by_height))
        .route("/v1/status", get(handlers::status))
        .route("/v1/state/{key}", get(handlers::state_with_proof))
        .route("/v1/notary/records/{id}", get(handlers::notary_record))
        .route("/v1/notary/by-hash/{content_hash}", get(handlers::notary_by_hash))
        .route("/v1/accounts/{address}", get(handlers::account))
        .route("/rpc", post(eth::rpc).layer(DefaultBodyLimit::max(rpc_limit)))
        .route("/", post(eth::rpc).layer(DefaultBodyLimit::max(rpc_limit)))
        .route("/ws", get(eth::ws_upgrade))
        .route("/metrics", get(metrics::metrics))
        .layer(axum::middleware::from_fn_with_state(node.clone(), metrics::track))
        .layer(axum::Extension(Arc::new(eth::EthState::default())))
        .layer(axum::Extension(QueryPool::new()))
        .layer(axum::Extension(eth::WsLimits {
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_WS_CONNECTIONS)),
            max_message: rpc_limit,
        }))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(handlers::no_route)
        .with_state(node)
}
