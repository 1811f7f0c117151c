//! A chain's nodes once it runs: status (the host's view, and the node's own: height, peers,
//! last block time), the log tail, and stop / start / restart, each authorized against the
//! organization that owns the node.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use consortia_hosts::NodeStatus;
use consortia_rpc::views::StatusView;
use consortia_rpc::{ApiError, ApiResult, ErrorBody};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Platform;
use crate::api::Ctx;
use crate::auth::Caller;
use crate::authz;
use crate::chains::{ChainNodeView, visible_chain};
use crate::start::spec_name;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeStatusView {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub role: String,
    pub http_url: Option<String>,
    /// The host's view: `stopped`, `running` or `restarting` (with the last exit).
    pub process: String,
    /// Times the host restarted it after a crash.
    pub restarts: u32,
    pub last_exit: Option<String>,
    /// `healthy` (answers), `unreachable` (runs but does not answer), `stopped`.
    pub health: String,
    pub height: Option<u64>,
    pub peers: Option<usize>,
    pub latest_block_time_ms: Option<u64>,
}

async fn status_of(platform: &Platform, chain: &str, node: &ChainNodeView) -> NodeStatusView {
    let host = match platform.driver(&node.host_id) {
        Ok(d) => d.status(&spec_name(chain, &node.name)).await.ok(),
        Err(_) => None,
    };
    let (process, restarts, last_exit) = match &host {
        Some(NodeStatus::Running { restarts, .. }) => ("running", *restarts, None),
        Some(NodeStatus::Restarting { restarts, last_exit }) => {
            ("restarting", *restarts, Some(last_exit.clone()))
        }
        Some(NodeStatus::Stopped) | None => ("stopped", 0, None),
    };
    let polled = match (&node.http_url, process) {
        (Some(url), "running") => poll(platform, url).await,
        _ => None,
    };
    let health = match (process, &polled) {
        ("stopped", _) => "stopped",
        (_, Some(_)) => "healthy",
        _ => "unreachable",
    };
    NodeStatusView {
        id: node.id.clone(),
        name: node.name.clone(),
        org_id: node.org_id.clone(),
        role: node.role.clone(),
        http_url: node.http_url.clone(),
        process: process.into(),
        restarts,
        last_exit,
        health: health.into(),
        height: polled.as_ref().map(|s| s.height),
        peers: polled.as_ref().map(|s| s.peers),
        latest_block_time_ms: polled.as_ref().map(|s| s.latest_block_time_ms),
    }
}

/// A node's own status (`None` if it does not answer within a second).
pub(crate) async fn poll(platform: &Platform, url: &str) -> Option<StatusView> {
    let response = platform.http.get(format!("{url}/v1/status")).send().await.ok()?;
    response.json().await.ok()
}

/// The nodes of a chain with their status, polled from each node
#[utoipa::path(get, path = "/v1/chains/{id}/nodes", tag = "nodes",
    responses((status = 200, body = Vec<NodeStatusView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<NodeStatusView>>> {
    let chain = visible_chain(&platform, &caller, &id).await?;
    let mut out = Vec::with_capacity(chain.nodes.len());
    for node in &chain.nodes {
        out.push(status_of(&platform, &id, node).await);
    }
    Ok(Json(out))
}

/// The node named (by id or name) in a chain the caller sees, after `action` is authorized in
/// the organization that owns it.
async fn owned_node(
    platform: &Platform,
    caller: &Caller,
    chain: &str,
    node: &str,
    action: &str,
) -> ApiResult<ChainNodeView> {
    let view = visible_chain(platform, caller, chain).await?;
    let found = view.node(node)?.clone();
    let resource = format!("org/{}/nodes/{}", found.org_id, found.id);
    authz::authorize(&platform.db, caller, &found.org_id, action, &resource).await?;
    if view.status == "configuring" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!("chain {chain} has not started; its nodes do not run yet"),
        ));
    }
    Ok(found)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// How many of the last lines (default 100, at most 5,000).
    pub lines: Option<usize>,
}

/// The last lines of a node's log
#[utoipa::path(get, path = "/v1/chains/{id}/nodes/{node}/logs", tag = "nodes", params(LogQuery),
    responses((status = 200, body = Vec<String>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn logs(
    Ctx { platform, caller }: Ctx,
    Path((id, node)): Path<(String, String)>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<String>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let node = owned_node(&platform, &caller, &id, &node, "node:logs").await?;
    let driver = platform.driver(&node.host_id)?;
    let lines = q.lines.unwrap_or(100).clamp(1, 5_000);
    driver
        .logs(&spec_name(&id, &node.name), lines)
        .await
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn control(
    platform: &Platform,
    caller: &Caller,
    chain: &str,
    node: &str,
    verb: &str,
) -> ApiResult<Json<NodeStatusView>> {
    let found = owned_node(platform, caller, chain, node, &format!("node:{verb}")).await?;
    let driver = platform.driver(&found.host_id)?;
    let name = spec_name(chain, &found.name);
    let host = |e: consortia_hosts::HostError| ApiError::internal(e.to_string());
    // Recorded first: a platform that restarts in between does what was asked last.
    sqlx::query("UPDATE chain_nodes SET desired = $1 WHERE id = $2")
        .bind(if verb == "stop" { "stopped" } else { "running" })
        .bind(&found.id)
        .execute(&platform.db)
        .await
        .map_err(crate::db_error)?;
    if verb != "start" {
        driver.stop(&name).await.map_err(host)?;
    }
    if verb != "stop" {
        driver.start(&name).await.map_err(host)?;
        // Give it a moment to bind its port, so the answer says how it came up.
        for _ in 0..50 {
            if let Some(url) = &found.http_url
                && poll(platform, url).await.is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Json(status_of(platform, chain, &found).await))
}

/// Stop a node (its data stays)
#[utoipa::path(post, path = "/v1/chains/{id}/nodes/{node}/stop", tag = "nodes",
    responses((status = 200, body = NodeStatusView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop(
    Ctx { platform, caller }: Ctx,
    Path((id, node)): Path<(String, String)>,
) -> ApiResult<Json<NodeStatusView>> {
    control(&platform, &caller, &id, &node, "stop").await
}

/// Start a stopped node
#[utoipa::path(post, path = "/v1/chains/{id}/nodes/{node}/start", tag = "nodes",
    responses((status = 200, body = NodeStatusView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start(
    Ctx { platform, caller }: Ctx,
    Path((id, node)): Path<(String, String)>,
) -> ApiResult<Json<NodeStatusView>> {
    control(&platform, &caller, &id, &node, "start").await
}

/// Restart a node
#[utoipa::path(post, path = "/v1/chains/{id}/nodes/{node}/restart", tag = "nodes",
    responses((status = 200, body = NodeStatusView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restart(
    Ctx { platform, caller }: Ctx,
    Path((id, node)): Path<(String, String)>,
) -> ApiResult<Json<NodeStatusView>> {
    control(&platform, &caller, &id, &node, "restart").await
}
