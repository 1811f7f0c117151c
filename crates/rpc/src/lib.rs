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

pub mod access;
pub mod cors;
mod error;
pub mod eth;
pub mod explorer;
mod governance;
mod handlers;
mod metrics;
mod sql;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use consortia_node::Node;

pub use access::AccessPolicy;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use consortia_api::ErrorBody;
use consortia_api::server::{document_common_answers, method_not_allowed, no_route};

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

/// The largest batch body (`POST /v1/transactions/batch`).
pub const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A body over this (or of unknown length) is *large*: large bodies are read one at a time.
pub const LARGE_BODY: u64 = 1024 * 1024;
/// How long a large body waits for its turn before the request is refused (503 `busy`).
const LARGE_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The one turn large bodies take (`one_large_body_at_a_time`): with a 64 MiB batch limit,
/// eight concurrent 60 MB batches would otherwise hold half a gigabyte at once.
#[derive(Clone, Debug)]
struct LargeBodies(Arc<tokio::sync::Semaphore>);

/// Reads large bodies one at a time: the others wait (their bytes stay in the kernel's socket
/// buffers, not in memory), up to [`LARGE_BODY_WAIT`].
async fn one_large_body_at_a_time(
    axum::Extension(gate): axum::Extension<LargeBodies>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::HttpBody;
    use axum::response::IntoResponse;
    // The body's own account of its length: `Content-Length`, or none for a chunked one.
    let large = request.body().size_hint().exact().is_none_or(|n| n > LARGE_BODY);
    if !large {
        return next.run(request).await;
    }
    let Ok(Ok(_turn)) = tokio::time::timeout(LARGE_BODY_WAIT, gate.0.acquire()).await else {
        return consortia_api::server::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many large requests at once: retry shortly",
        )
        .into_response();
    };
    next.run(request).await
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Consortia node API",
        description = "Submit transactions and read the chain of one Consortia node: REST, the \
            Ethereum JSON-RPC API (`POST /rpc` or `POST /`, and over WebSocket at `/ws`), and \
            Prometheus metrics. Every REST error is `{\"code\", \"message\"}`; an internal one \
            (500) adds `request_id`, under which the node's log holds the detail. Unless the \
            chain is open, calls take a credential the platform issues: `Authorization: Bearer \
            TOKEN`, or the token as the password of basic auth (`http://app:TOKEN@host/`); \
            which reads need one is the chain's setting, writes always do (401 without one, \
            403 with a read-only one). `GET /v1/health` answers everyone."
    ),
    components(schemas(ErrorBody)),
    security(("bearer" = []), ("basic" = []))
)]
struct ApiDoc;

/// Body limits, by what a request carries.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// One transaction: hex doubles its size, and JSON frames it.
    single: usize,
    /// A JSON-RPC request or batch of raw transactions (and a WebSocket message).
    rpc: usize,
}

impl Limits {
    fn for_transactions_of(max_tx: usize) -> Limits {
        let single = max_tx * 2 + 4096;
        Limits { single, rpc: (single * 8).max(8 * 1024 * 1024) }
    }
}

/// The routes with their OpenAPI document. Bodies are limited to what the largest batch of
/// largest transactions needs.
fn api(limits: &Limits) -> (Router<Arc<Node>>, utoipa::openapi::OpenApi) {
    let limit = DefaultBodyLimit::max;
    let turn = || axum::middleware::from_fn(one_large_body_at_a_time);
    let Limits { single: single_limit, rpc: rpc_limit } = *limits;
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::submit).layer(limit(single_limit)))
        .routes(routes!(explorer::recent))
        // Reads its body itself, up to BATCH_BODY_LIMIT (`api::server::read_body`).
        .routes(routes!(handlers::submit_batch).layer(turn()))
        .routes(routes!(handlers::get_transaction))
        .routes(routes!(explorer::by_address))
        .routes(routes!(explorer::volume))
        .routes(routes!(explorer::totals))
        .routes(routes!(explorer::token))
        .routes(routes!(explorer::token_holders))
        .routes(routes!(explorer::token_transfers))
        .routes(routes!(handlers::blocks_by_time))
        .routes(routes!(handlers::headers))
        .routes(routes!(handlers::latest_block))
        .routes(routes!(handlers::block_by_height))
        .routes(routes!(handlers::status))
        .routes(routes!(handlers::state_with_proof))
        .routes(routes!(handlers::notary_record))
        .routes(routes!(handlers::notary_by_hash))
        .routes(routes!(handlers::account))
        .routes(routes!(governance::members))
        .routes(routes!(governance::nodes))
        .routes(routes!(governance::validators))
        .routes(routes!(governance::proposals))
        .routes(routes!(governance::proposal))
        .routes(routes!(governance::params))
        .routes(routes!(governance::contract_status))
        .routes(routes!(governance::code_approval))
        .routes(routes!(governance::simulate).layer(limit(single_limit)))
        .routes(routes!(sql::query).layer(limit(single_limit)))
        .routes(routes!(sql::tables))
        .routes(routes!(eth::rpc).layer(limit(rpc_limit)).layer(turn()))
        .routes(routes!(eth::rpc_at_root).layer(limit(rpc_limit)).layer(turn()))
        .routes(routes!(eth::ws::upgrade))
        .routes(routes!(metrics::metrics))
        .routes(routes!(handlers::health))
        .split_for_parts();
    document_common_answers(&mut doc, true);
    doc.components.get_or_insert_with(Default::default).add_security_scheme(
        "basic",
        utoipa::openapi::security::SecurityScheme::Http(
            utoipa::openapi::security::HttpBuilder::new()
                .scheme(utoipa::openapi::security::HttpAuthScheme::Basic)
                .description(Some("Any user name; the access token as the password"))
                .build(),
        ),
    );
    (router, doc)
}

/// The node API's OpenAPI document (served at `/openapi.json`) for a chain whose largest
/// transaction is `max_tx_bytes`.
pub fn openapi(max_tx_bytes: usize) -> utoipa::openapi::OpenApi {
    api(&Limits::for_transactions_of(max_tx_bytes)).1
}

/// The node API, to the callers `policy` lets in.
pub fn router(node: Arc<Node>, policy: AccessPolicy) -> Router {
    let limits = Limits::for_transactions_of(node.genesis().params.max_tx_bytes as usize);
    let (api, doc) = api(&limits);
    let gate = access::Gate::new(node.clone(), policy);
    api.layer(axum::middleware::from_fn_with_state(gate, access::authenticate))
        .layer(axum::middleware::from_fn_with_state(node.clone(), metrics::track))
        .layer(axum::Extension(Arc::new(eth::EthState::default())))
        .layer(axum::Extension(QueryPool::new()))
        .layer(axum::Extension(LargeBodies(Arc::new(tokio::sync::Semaphore::new(1)))))
        .layer(axum::Extension(eth::WsLimits {
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_WS_CONNECTIONS)),
            max_message: limits.rpc,
        }))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(node)
}
