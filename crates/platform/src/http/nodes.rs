//! `/v1/chains/{id}/nodes*`: a running chain's nodes, their logs, stop / start / restart.

use std::sync::Arc;

use axum::Json;
use consortia_api::ErrorBody;
use consortia_api::platform::{LogQuery, NodeAction, NodeStatusView};
use consortia_api::server::{ApiResult, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(list_nodes))
        .routes(routes!(node_logs))
        .routes(routes!(control_node))
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

/// The last lines of a node's log
#[utoipa::path(get, path = "/v1/chains/{id}/nodes/{node}/logs", tag = "nodes",
    params(("id" = String, Path, description = "Chain id"), ("node" = String, Path, description = "Node id or name"), LogQuery),
    responses(
        (status = 200, body = Vec<String>),
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
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(platform.node_logs(&caller, &id, &node, q.lines.unwrap_or(100)).await?))
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
