//! `/v1/hosts`: where an organization's nodes run.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{CreateHostRequest, HostView};
use consortia_api::server::{ApiResult, JsonBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new().routes(routes!(create_host, list_hosts))
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

/// Hosts of the caller's organizations
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", responses((status = 200, body = Vec<HostView>)))]
async fn list_hosts(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<HostView>>> {
    Ok(Json(platform.hosts(&caller).await?))
}
