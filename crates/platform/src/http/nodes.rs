//! `/v1/chains/{id}/nodes*`: a running chain's nodes, their logs, stop / start / restart;
//! `/v1/chains/{id}/logs[/stream]`: the logs of a chain's nodes, searched and followed;
//! `/v1/platform/logs[/stream]`: the platform's own, likewise;
//! `/v1/chains/{id}/upgrade`: a rolling upgrade.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::response::sse::{Event, KeepAlive, Sse};
use consortia_api::ErrorBody;
use consortia_api::platform::{
    LogEntry, LogQuery, NodeAction, NodeStatusView, UpgradeRequest, UpgradeView,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use futures_util::{Stream, StreamExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(list_nodes))
        .routes(routes!(node_logs))
        .routes(routes!(chain_logs))
        .routes(routes!(follow_logs))
        .routes(routes!(platform_logs))
        .routes(routes!(follow_platform_logs))
        .routes(routes!(control_node))
        .routes(routes!(upgrade_chain))
}

/// The nodes of a chain with their status, polled from each node
#[utoipa::path(get, path = "/v1/chains/{id}/nodes", tag = "nodes",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<NodeStatusView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_nodes(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<NodeStatusView>>> {
    Ok(Json(platform.nodes(&caller, &id).await?))
}

/// A node's last log lines, read: time, level, target, message and fields (from the JSON its
/// host's node writes), the last `lines` of those that pass the filters, oldest first
#[utoipa::path(get, path = "/v1/chains/{id}/nodes/{node}/logs", tag = "nodes",
    params(("id" = String, Path, description = "Chain id"), ("node" = String, Path, description = "Node id or name"), LogQuery),
    responses(
        (status = 200, body = Vec<LogEntry>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has not started", body = ErrorBody),
        (status = 502, description = "The host failed", body = ErrorBody),
        (status = 503, description = "The platform runs without a node program", body = ErrorBody),
    ))]
async fn node_logs(
    Ctx { platform, caller }: Ctx,
    PathParams((id, node)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Json<Vec<LogEntry>>> {
    Ok(Json(platform.node_logs(&caller, &id, &node, &q).await?))
}

/// The log lines of the chain's nodes you may read (`node` picks one), the last `lines` of
/// those that pass the filters, merged in time order: a search across the chain's nodes
#[utoipa::path(get, path = "/v1/chains/{id}/logs", tag = "nodes",
    params(("id" = String, Path, description = "Chain id"), LogQuery),
    responses(
        (status = 200, body = Vec<LogEntry>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, description = "You may read no node's log", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has not started", body = ErrorBody),
        (status = 502, description = "A host failed", body = ErrorBody),
    ))]
async fn chain_logs(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Json<Vec<LogEntry>>> {
    Ok(Json(platform.chain_logs(&caller, &id, &q).await?))
}

/// Follow the chain's nodes' logs as they are written, as Server-Sent Events (`event: log`,
/// `data:` an entry as `GET …/logs` gives it), from `since_ms` on or else from now, with the
/// same filters (`lines` is not used)
#[utoipa::path(get, path = "/v1/chains/{id}/logs/stream", tag = "nodes",
    params(("id" = String, Path, description = "Chain id"), LogQuery),
    responses(
        (status = 200, description = "A stream of log entries", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, description = "You may read no node's log", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has not started", body = ErrorBody),
    ))]
async fn follow_logs(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    Ok(log_events(platform.follow_logs(&caller, &id, &q).await?))
}

/// Log entries as Server-Sent Events: `event: log`, `data:` the entry's JSON.
fn log_events(
    entries: impl Stream<Item = LogEntry> + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = entries.map(|entry| {
        let data = serde_json::to_string(&entry).unwrap_or_default();
        Ok(Event::default().event("log").data(data))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The platform's own last log lines (platform administrators; `node` is not used, and each
/// entry's `node` is `platform`), the last `lines` of those that pass the filters, oldest first
///
/// The process keeps its last 5,000 lines in memory (read back from its log file at start)
/// and every line in `<data-dir>/logs/platform.log`, rotated by size and age.
#[utoipa::path(get, path = "/v1/platform/logs", tag = "platform", params(LogQuery),
    responses(
        (status = 200, body = Vec<LogEntry>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "This process keeps no log", body = ErrorBody),
    ))]
async fn platform_logs(
    Ctx { platform, caller }: Ctx,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Json<Vec<LogEntry>>> {
    Ok(Json(platform.platform_logs(&caller, &q).await?))
}

/// Follow the platform's own log as it is written, as Server-Sent Events (as
/// `GET /v1/chains/{id}/logs/stream` does a chain's)
#[utoipa::path(get, path = "/v1/platform/logs/stream", tag = "platform", params(LogQuery),
    responses(
        (status = 200, description = "A stream of log entries", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "This process keeps no log", body = ErrorBody),
    ))]
async fn follow_platform_logs(
    Ctx { platform, caller }: Ctx,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    Ok(log_events(platform.follow_platform_logs(&caller, &q).await?))
}

/// Stop, start or restart a node of a running chain
///
/// `stop` keeps its data, and the node stays stopped (also across a platform restart) until
/// started; `start` starts a stopped node; `restart` does both. Answers with the node's status
/// once it answers again (or after five seconds).
#[utoipa::path(post, path = "/v1/chains/{id}/nodes/{node}/{action}", tag = "nodes",
    params(
        ("id" = String, Path, description = "Chain id"),
        ("node" = String, Path, description = "Node id or name"),
        ("action" = inline(NodeAction), Path, description = "`stop`, `start` or `restart`"),
    ),
    responses(
        (status = 200, body = NodeStatusView),
        (status = 400, description = "Not an action", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has not started", body = ErrorBody),
        (status = 502, description = "The host failed", body = ErrorBody),
        (status = 503, description = "The platform runs without a node program", body = ErrorBody),
    ))]
async fn control_node(
    Ctx { platform, caller }: Ctx,
    PathParams((id, node, action)): PathParams<(String, String, NodeAction)>,
) -> ApiResult<Json<NodeStatusView>> {
    Ok(Json(platform.control_node(&caller, &id, &node, action).await?))
}

/// Rolling upgrade: move the chain's nodes of the caller's organizations to another build
///
/// One node at a time: refused first if taking it down could cost the chain its quorum; its
/// host stops it gracefully and starts it on the new build (files, data and secrets kept);
/// the next goes once it has caught up with the chain and is connected to its peers again. A node
/// that does not within 60 s is put back on the build it ran and the upgrade stops (502).
/// The build is the one the hosts offer: the platform's node program as installed (on a
/// Docker host, the image made from it). Answers when every node is done.
#[utoipa::path(post, path = "/v1/chains/{id}/upgrade", tag = "nodes",
    params(("id" = String, Path, description = "Chain id")),
    request_body = UpgradeRequest,
    responses(
        (status = 200, description = "Every node of the caller's organizations runs the build", body = UpgradeView),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 403, description = "The caller may upgrade none of the chain's nodes", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not running, an upgrade runs already, the build is not offered (`version_unavailable`), or the quorum is at risk (`quorum_at_risk`)", body = ErrorBody),
        (status = 502, description = "A host did not answer, or a node did not come back on the new build (`upgrade_failed`; it was put back)", body = ErrorBody),
        (status = 503, description = "The platform runs without a node program", body = ErrorBody),
    ))]
async fn upgrade_chain(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<UpgradeRequest>,
) -> ApiResult<Json<UpgradeView>> {
    Ok(Json(platform.upgrade_chain(&caller, &id, &req).await?))
}
