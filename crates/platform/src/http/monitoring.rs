//! `/v1/chains/{id}/metrics`, `/v1/chains/{id}/prometheus-targets`: monitoring.

use std::sync::Arc;

use axum::Json;
use consortia_api::ErrorBody;
use consortia_api::platform::{NodeMetrics, ScrapeTargets};
use consortia_api::server::{ApiResult, PathParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new().routes(routes!(chain_metrics)).routes(routes!(prometheus_targets))
}

/// Every node's metrics at once (memory, CPU, pool, peers, commits, consensus faults)
#[utoipa::path(get, path = "/v1/chains/{id}/metrics", tag = "monitoring",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, description = "One entry per node, in the chain's order; a node that does not answer has `error` set", body = [NodeMetrics]),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain does not run", body = ErrorBody),
    ))]
async fn chain_metrics(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<NodeMetrics>>> {
    Ok(Json(platform.chain_metrics(&caller, &id).await?))
}

/// The chain's nodes as Prometheus scrape targets (`http_sd_configs` with an API key as
/// bearer token)
#[utoipa::path(get, path = "/v1/chains/{id}/prometheus-targets", tag = "monitoring",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, description = "Prometheus HTTP service discovery: one group per node with an address, labelled with the chain, node and organization", body = [ScrapeTargets]),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain does not run", body = ErrorBody),
    ))]
async fn prometheus_targets(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<ScrapeTargets>>> {
    Ok(Json(platform.prometheus_targets(&caller, &id).await?))
}
