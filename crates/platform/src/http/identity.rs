//! `/v1/health`, `/v1/auth/*`, `/v1/users*`, `/v1/audit`: logins and tokens, users, API keys,
//! the audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    ApiKeyInfo, ApiKeyRequest, ApiKeyView, AuditEntry, AuditQuery, ChangePasswordRequest,
    CreateUserRequest, Health, LoginRequest, LogoutRequest, RefreshRequest, SessionView,
    TokenResponse, UpdateUserRequest, UserView,
};
use consortia_api::server::{ApiResult, JsonBody, JsonOrEmpty, QueryParams};
use consortia_api::serving::ClientAddr;
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
        .routes(routes!(update_user, delete_user))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
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
        (status = 429, description = "Too many failed logins for this user or address: wait for `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "Too many logins at once (`busy`): retry in a second", body = ErrorBody),
    ))]
async fn login(
    State(platform): State<Arc<Platform>>,
    ClientAddr(address): ClientAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(platform.login(&req.username, &req.password, address).await?))
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

/// Log out: end the session
///
/// Ends the session the refresh token belongs to (if given) and the one of this request: their
/// access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body(content = Option<LogoutRequest>, description = "Optional"),
    responses((status = 204, description = "Ended (or already over)")))]
async fn logout(
    Ctx { platform, caller }: Ctx,
    JsonOrEmpty(req): JsonOrEmpty<LogoutRequest>,
) -> ApiResult<StatusCode> {
    platform.logout(&caller, req.refresh_token.as_deref()).await?;
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

/// Disable or enable a user
///
/// A platform administrator, or the user who created a sub-user. A disabled user's sessions
/// end at once, and their API keys stop working while disabled.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 400, description = "Oneself", body = ErrorBody),
        (status = 403, description = "Neither an administrator nor the parent", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
async fn update_user(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(platform.set_user_disabled(&caller, &id, req.disabled).await?))
}

/// Delete a user for good
///
/// As disabling, and the user leaves every organization and policy; their sessions and API
/// keys are revoked. The username stays taken (the audit log names it).
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Oneself", body = ErrorBody),
        (status = 403, description = "Neither an administrator nor the parent", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The only admin of an organization", body = ErrorBody),
    ))]
async fn delete_user(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    platform.delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password (your other sessions end)
#[utoipa::path(post, path = "/v1/users/me/password", tag = "users",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "A weak new password", body = ErrorBody),
        (status = 403, description = "The current password is wrong", body = ErrorBody),
    ))]
async fn change_password(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    platform.change_password(&caller, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your live sessions (logins)
#[utoipa::path(get, path = "/v1/users/me/sessions", tag = "users",
    responses((status = 200, body = Vec<SessionView>)))]
async fn list_sessions(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<SessionView>>> {
    Ok(Json(platform.sessions(&caller).await?))
}

/// End one of your sessions (its tokens stop working at once)
#[utoipa::path(delete, path = "/v1/users/me/sessions/{id}", tag = "users",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No live session of yours", body = ErrorBody),
    ))]
async fn revoke_session(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    platform.revoke_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The calling user and their organizations
#[utoipa::path(get, path = "/v1/users/me", tag = "users", responses((status = 200, body = UserView)))]
async fn me(Ctx { platform, caller }: Ctx) -> ApiResult<Json<UserView>> {
    Ok(Json(platform.me(&caller).await?))
}

/// Create an API key for automation (expires in 90 days unless told otherwise)
#[utoipa::path(post, path = "/v1/users/me/api-keys", tag = "users",
    request_body = ApiKeyRequest,
    responses((status = 201, body = ApiKeyView), (status = 400, description = "Bad name or expiry", body = ErrorBody)))]
async fn create_api_key(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_api_key(&caller, &req).await?)))
}

/// Your API keys, without their secrets
#[utoipa::path(get, path = "/v1/users/me/api-keys", tag = "users",
    responses((status = 200, body = Vec<ApiKeyInfo>)))]
async fn list_api_keys(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(platform.api_keys(&caller).await?))
}

/// Revoke one of your API keys (it stops working at once)
#[utoipa::path(delete, path = "/v1/users/me/api-keys/{id}", tag = "users",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No live API key of yours", body = ErrorBody),
    ))]
async fn revoke_api_key(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    platform.revoke_api_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
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
