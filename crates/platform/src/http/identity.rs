//! `/v1/health`, `/v1/auth/*`, `/v1/users*`, `/v1/audit`: logins and tokens, users, API keys,
//! the audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    ApiKeyRequest, ApiKeyView, AuditEntry, AuditQuery, CreateUserRequest, Health, LoginRequest,
    RefreshRequest, TokenResponse, UserView,
};
use consortia_api::server::{ApiResult, JsonBody, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(create_user, list_users))
        .routes(routes!(me))
        .routes(routes!(create_api_key))
        .routes(routes!(audit))
}

/// Liveness (no authentication)
#[utoipa::path(get, path = "/v1/health", tag = "platform", security(()),
    responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Log in with a username and password
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
    ))]
async fn login(
    State(platform): State<Arc<Platform>>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(platform.login(&req.username, &req.password).await?))
}

/// Trade a refresh token for a new token pair
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Unknown, used or expired refresh token", body = ErrorBody),
    ))]
async fn refresh(
    State(platform): State<Arc<Platform>>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(platform.refresh(&req.refresh_token).await?))
}

/// Revoke a refresh token
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Revoked (or already unusable)")))]
async fn logout(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> ApiResult<StatusCode> {
    platform.logout(&caller, &req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a user
///
/// A platform administrator creates users; any other user creates sub-users of their own,
/// who have no permissions until added to an organization or given policies.
#[utoipa::path(post, path = "/v1/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 400, description = "Bad username or weak password", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
    ))]
async fn create_user(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_user(&caller, &req).await?)))
}

/// Users: every user for a platform administrator, otherwise the caller's sub-users
#[utoipa::path(get, path = "/v1/users", tag = "users", responses((status = 200, body = Vec<UserView>)))]
async fn list_users(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(platform.users(&caller).await?))
}

/// The calling user and their organizations
#[utoipa::path(get, path = "/v1/users/me", tag = "users", responses((status = 200, body = UserView)))]
async fn me(Ctx { platform, caller }: Ctx) -> ApiResult<Json<UserView>> {
    Ok(Json(platform.me(&caller).await?))
}

/// Create an API key for automation
#[utoipa::path(post, path = "/v1/users/me/api-keys", tag = "users",
    request_body = ApiKeyRequest,
    responses((status = 201, body = ApiKeyView), (status = 400, description = "Bad name", body = ErrorBody)))]
async fn create_api_key(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    let (id, key) = platform.create_api_key(&caller, &req.name).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyView { id, name: req.name.trim().to_owned(), key })))
}

/// The audit log: every mutating call, who, what, when and the result
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, body = Vec<AuditEntry>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, description = "Another user's entries, without administrator rights", body = ErrorBody),
    ))]
async fn audit(
    Ctx { platform, caller }: Ctx,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(platform.audit(&caller, &q).await?))
}
