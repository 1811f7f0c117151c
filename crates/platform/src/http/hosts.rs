//! `/v1/hosts`: where an organization's nodes run.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{CreateHostRequest, HostCheckView, HostView};
use consortia_api::server::{ApiResult, JsonBody, PathParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new().routes(routes!(create_host, list_hosts)).routes(routes!(check_host))
}

/// Register a host of an organization
#[utoipa::path(post, path = "/v1/hosts", tag = "hosts",
    request_body = CreateHostRequest,
    responses(
        (status = 201, body = HostView),
        (status = 400, description = "Bad name or address", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 409, description = "Name taken in the organization", body = ErrorBody),
    ))]
async fn create_host(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<CreateHostRequest>,
) -> ApiResult<(StatusCode, Json<HostView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_host(&caller, &req).await?)))
}

/// Check that a host can run nodes now
///
/// What a start checks first: a Docker host's engine answers and has the node image (made now
/// if missing); a local host's node program exists. A failing check is 502 `host_unreachable`
/// naming the host and what to fix.
#[utoipa::path(post, path = "/v1/hosts/{id}/check", tag = "hosts",
    params(("id" = String, Path, description = "Host id")),
    responses(
        (status = 200, body = HostCheckView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, description = "The host cannot run nodes now", body = ErrorBody),
    ))]
async fn check_host(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<HostCheckView>> {
    Ok(Json(platform.check_host(&caller, &id).await?))
}

/// Hosts of the caller's organizations
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", responses((status = 200, body = Vec<HostView>)))]
async fn list_hosts(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<HostView>>> {
    Ok(Json(platform.hosts(&caller).await?))
}
