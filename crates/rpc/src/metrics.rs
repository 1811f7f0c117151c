//! `GET /metrics` and the middleware that counts every HTTP request into the node's metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consortia_node::Node;
use consortia_node::metrics::{HttpLabels, RouteLabels};

/// The node's metrics for Prometheus, in the Prometheus text format (0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text format (0.0.4): height, commits and their latencies, consensus rounds, the pool, peers, HTTP and JSON-RPC traffic, and the process (memory, CPU, descriptors)", content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(node): State<Arc<Node>>) -> Response {
    ([(CONTENT_TYPE, consortia_node::metrics::CONTENT_TYPE)], node.encode_metrics()).into_response()
}

/// Counts a request by its route's pattern (so `/v1/blocks/{height}` is one series whatever
/// the height), method and status, and times it.
pub(crate) async fn track(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let m = node.metrics();
    m.http_duration
        .get_or_create(&RouteLabels { route: route.clone() })
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&HttpLabels { route, method, status: response.status().as_u16() })
        .inc();
    response
}
