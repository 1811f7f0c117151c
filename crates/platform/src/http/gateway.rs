//! The contract gateway: `/v1/orgs/{org}/signing-keys*` (managed keys) and
//! `/v1/chains/{id}/calls*` (batches, and the status of calls).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use consortia_api::ErrorBody;
use consortia_api::platform::{
    BatchCallRequest, BatchCallView, CallQuery, CallsQuery, CreateSigningKeyRequest,
    GatewayCallView, SigningKeyView,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use super::contracts::call_options;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(create_signing_key, list_signing_keys))
        .routes(routes!(show_signing_key))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(disable_signing_key))
        .routes(routes!(enable_signing_key))
        .routes(routes!(batch_call, list_calls))
        .routes(routes!(show_call))
}

/// Make a managed signing key (a secp256k1 account kept sealed by the platform) for yourself,
/// or with `key:create` for another member of the organization
#[utoipa::path(post, path = "/v1/orgs/{org}/signing-keys", tag = "gateway",
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateSigningKeyRequest,
    responses(
        (status = 201, body = SigningKeyView),
        (status = 400, description = "Bad name, or the owner is not a member", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The organization has a key of that name", body = ErrorBody),
        (status = 503, description = "The keystore is sealed", body = ErrorBody),
    ))]
async fn create_signing_key(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
    JsonBody(req): JsonBody<CreateSigningKeyRequest>,
) -> ApiResult<(StatusCode, Json<SigningKeyView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_signing_key(&caller, &org, &req).await?)))
}

/// The organization's signing keys (yours only, unless you may `key:list` there)
#[utoipa::path(get, path = "/v1/orgs/{org}/signing-keys", tag = "gateway",
    params(("org" = String, Path, description = "Organization id")),
    responses((status = 200, body = Vec<SigningKeyView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_signing_keys(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
) -> ApiResult<Json<Vec<SigningKeyView>>> {
    Ok(Json(platform.signing_keys(&caller, &org).await?))
}

/// A signing key, with every account it signed with
#[utoipa::path(get, path = "/v1/orgs/{org}/signing-keys/{key}", tag = "gateway",
    params(("org" = String, Path, description = "Organization id"), ("key" = String, Path, description = "Key id")),
    responses((status = 200, body = SigningKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_signing_key(
    Ctx { platform, caller }: Ctx,
    PathParams((org, key)): PathParams<(String, String)>,
) -> ApiResult<Json<SigningKeyView>> {
    Ok(Json(platform.signing_key(&caller, &org, &key).await?))
}

/// Rotate a signing key: a new account signs from now on, the old one never again (it stays
/// listed, so what it signed stays attributable). Fund the new account on chains with fees
#[utoipa::path(post, path = "/v1/orgs/{org}/signing-keys/{key}/rotate", tag = "gateway",
    params(("org" = String, Path, description = "Organization id"), ("key" = String, Path, description = "Key id")),
    responses(
        (status = 200, body = SigningKeyView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "The keystore is sealed", body = ErrorBody),
    ))]
async fn rotate_signing_key(
    Ctx { platform, caller }: Ctx,
    PathParams((org, key)): PathParams<(String, String)>,
) -> ApiResult<Json<SigningKeyView>> {
    Ok(Json(platform.rotate_signing_key(&caller, &org, &key).await?))
}

/// Disable a signing key (its owner, or with `key:update`): calls with it are refused
#[utoipa::path(post, path = "/v1/orgs/{org}/signing-keys/{key}/disable", tag = "gateway",
    params(("org" = String, Path, description = "Organization id"), ("key" = String, Path, description = "Key id")),
    responses((status = 200, body = SigningKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_signing_key(
    Ctx { platform, caller }: Ctx,
    PathParams((org, key)): PathParams<(String, String)>,
) -> ApiResult<Json<SigningKeyView>> {
    Ok(Json(platform.set_signing_key_enabled(&caller, &org, &key, false).await?))
}

/// Enable a disabled signing key again (with `key:update`)
#[utoipa::path(post, path = "/v1/orgs/{org}/signing-keys/{key}/enable", tag = "gateway",
    params(("org" = String, Path, description = "Organization id"), ("key" = String, Path, description = "Key id")),
    responses((status = 200, body = SigningKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_signing_key(
    Ctx { platform, caller }: Ctx,
    PathParams((org, key)): PathParams<(String, String)>,
) -> ApiResult<Json<SigningKeyView>> {
    Ok(Json(platform.set_signing_key_enabled(&caller, &org, &key, true).await?))
}

/// Send several contract calls signed by one key, in order (each its own transaction: one
/// failing does not undo the others), waited for together unless `wait=false`. An
/// `Idempotency-Key` covers the batch: a retry sends only what the first did not
#[utoipa::path(post, path = "/v1/chains/{id}/calls", tag = "gateway",
    params(
        ("id" = String, Path, description = "Chain id"),
        CallQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; call i of the batch is recorded under KEY#i"),
    ),
    request_body = BatchCallRequest,
    responses(
        (status = 200, description = "Every call sent (each result: its call, or why it was not sent)", body = BatchCallView),
        (status = 202, description = "Sent, not waited for (`wait=false`)", body = BatchCallView),
        (status = 400, description = "Empty or oversized batch, unknown or disabled key", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
    ))]
async fn batch_call(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<CallQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<BatchCallRequest>,
) -> ApiResult<Response> {
    let opts = call_options(&query, &headers)?;
    let view = platform.call_batch(&caller, &id, &req, &opts).await?;
    let status = if opts.wait { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(view)).into_response())
}

/// Your gateway calls on a chain (an administrator's: everyone's), newest first
#[utoipa::path(get, path = "/v1/chains/{id}/calls", tag = "gateway",
    params(("id" = String, Path, description = "Chain id"), CallsQuery),
    responses((status = 200, body = Vec<GatewayCallView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_calls(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<CallsQuery>,
) -> ApiResult<Json<Vec<GatewayCallView>>> {
    Ok(Json(platform.gateway_calls(&caller, &id, &query).await?))
}

/// A gateway call and where it stands (pending until final; sent again until it is)
#[utoipa::path(get, path = "/v1/chains/{id}/calls/{call}", tag = "gateway",
    params(("id" = String, Path, description = "Chain id"), ("call" = String, Path, description = "Call id")),
    responses((status = 200, body = GatewayCallView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_call(
    Ctx { platform, caller }: Ctx,
    PathParams((id, call)): PathParams<(String, String)>,
) -> ApiResult<Json<GatewayCallView>> {
    Ok(Json(platform.gateway_call(&caller, &id, &call).await?))
}
