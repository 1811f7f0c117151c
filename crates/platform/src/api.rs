//! The REST handlers of identity and access: login and tokens, users and API keys,
//! organizations, members and roles, policies, the audit log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use consortia_rpc::{ApiError, ApiResult, ErrorBody, json_body};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{self, ACCESS_TTL_S, Caller};
use crate::authz::{self, PolicyDocument, Role};
use crate::db::{new_id, now_ms};
use crate::{Platform, db_error, db_error_or_duplicate};

type AppState = State<Arc<Platform>>;
/// A request body, read by [`json_body`].
pub(crate) type Body = Result<Bytes, BytesRejection>;

/// The platform and the authenticated caller of a request (the middleware put it there).
#[derive(Debug)]
pub struct Ctx {
    pub platform: Arc<Platform>,
    pub caller: Caller,
}

impl FromRequestParts<Arc<Platform>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| auth::unauthorized("authentication required"))?;
        Ok(Ctx { platform: platform.clone(), caller })
    }
}

/// 400 unless `name` (trimmed) is 1 to 64 characters; the trimmed name.
pub(crate) fn check_name<'a>(kind: &str, name: &'a str) -> ApiResult<&'a str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::bad_request(
            "bad_name",
            format!("{kind} names are 1 to 64 characters"),
        ));
    }
    Ok(name)
}

pub(crate) fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/users", post(create_user).get(list_users))
        .route("/v1/users/me", get(me))
        .route("/v1/users/me/api-keys", post(create_api_key))
        .route("/v1/orgs", post(create_org).get(list_orgs))
        .route("/v1/orgs/{org}", get(get_org))
        .route("/v1/orgs/{org}/members", get(list_members).post(add_member))
        .route("/v1/orgs/{org}/members/{user}", put(set_member_role).delete(remove_member))
        .route("/v1/orgs/{org}/policies", get(list_policies).post(create_policy))
        .route("/v1/orgs/{org}/policies/{policy}/attachments", post(attach_policy))
        .route(
            "/v1/orgs/{org}/policies/{policy}/attachments/{user}",
            axum::routing::delete(detach_policy),
        )
        .route("/v1/audit", get(audit))
}

pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}; see /docs for the API", uri.path()))
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Liveness (no authentication)
#[utoipa::path(get, path = "/v1/health", tag = "platform", security(()),
    responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single use: `POST /v1/auth/refresh` returns a new pair.
    pub refresh_token: String,
    /// Seconds the access token is valid for.
    pub expires_in: i64,
    pub token_type: String,
}

async fn tokens_for(platform: &Platform, user_id: &str) -> ApiResult<Json<TokenResponse>> {
    let (access_token, refresh_token) = auth::issue_pair(platform, user_id).await?;
    Ok(Json(TokenResponse {
        access_token,
        refresh_token,
        expires_in: ACCESS_TTL_S,
        token_type: "Bearer".into(),
    }))
}

/// Log in with a username and password
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
    ))]
pub async fn login(State(platform): AppState, body: Body) -> ApiResult<Json<TokenResponse>> {
    let req: LoginRequest = json_body(body)?;
    match auth::check_password(&platform, &req.username, &req.password).await? {
        Some((user_id, _)) => tokens_for(&platform, &user_id).await,
        None => Err(auth::unauthorized("wrong username or password")),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Trade a refresh token for a new token pair
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Unknown, used or expired refresh token", body = ErrorBody),
    ))]
pub async fn refresh(State(platform): AppState, body: Body) -> ApiResult<Json<TokenResponse>> {
    let req: RefreshRequest = json_body(body)?;
    let user_id = auth::redeem_refresh(&platform, &req.refresh_token).await?;
    tokens_for(&platform, &user_id).await
}

/// Revoke a refresh token
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Revoked (or already unusable)")))]
pub async fn logout(Ctx { platform, caller }: Ctx, body: Body) -> ApiResult<StatusCode> {
    let req: RefreshRequest = json_body(body)?;
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1 AND user_id = $2")
        .bind(auth::secret_hash(&req.refresh_token))
        .bind(&caller.user_id)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// 3 to 64 characters: lowercase letters, digits, `.`, `_`, `-`.
    pub username: String,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipView {
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub admin: bool,
    /// The user who created this sub-user.
    pub parent_id: Option<String>,
    pub orgs: Vec<MembershipView>,
}

fn check_username(name: &str) -> ApiResult<()> {
    let ok = (3..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "bad_username",
            "usernames are 3 to 64 characters: lowercase letters, digits, `.`, `_`, `-`",
        ))
    }
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
pub async fn create_user(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let req: CreateUserRequest = json_body(body)?;
    check_username(&req.username)?;
    if req.password.chars().count() < auth::MIN_PASSWORD_CHARS {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("passwords have at least {} characters", auth::MIN_PASSWORD_CHARS),
        ));
    }
    let hash = auth::hash_password(&req.password).map_err(ApiError::internal)?;
    let id = new_id("usr");
    let parent = (!caller.admin).then_some(caller.user_id.clone());
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, parent_id, admin, created_ms) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(&id)
    .bind(&req.username)
    .bind(hash)
    .bind(&parent)
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    let view =
        UserView { id, username: req.username, admin: false, parent_id: parent, orgs: vec![] };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Users: every user for a platform administrator, otherwise the caller's sub-users
#[utoipa::path(get, path = "/v1/users", tag = "users", responses((status = 200, body = Vec<UserView>)))]
pub async fn list_users(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<UserView>>> {
    let rows = sqlx::query(
        "SELECT id, username, admin, parent_id FROM users WHERE $1 = 1 OR parent_id = $2 ORDER BY username",
    )
    .bind(i64::from(caller.admin))
    .bind(&caller.user_id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(
        rows.iter()
            .map(|r| UserView {
                id: r.get(0),
                username: r.get(1),
                admin: r.get::<i64, _>(2) != 0,
                parent_id: r.get(3),
                orgs: vec![],
            })
            .collect(),
    ))
}

/// The calling user and their organizations
#[utoipa::path(get, path = "/v1/users/me", tag = "users", responses((status = 200, body = UserView)))]
pub async fn me(Ctx { platform, caller }: Ctx) -> ApiResult<Json<UserView>> {
    let parent: Option<String> = sqlx::query("SELECT parent_id FROM users WHERE id = $1")
        .bind(&caller.user_id)
        .fetch_one(&platform.db)
        .await
        .map_err(db_error)?
        .get(0);
    let rows = sqlx::query(
        "SELECT o.id, o.name, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name",
    )
    .bind(&caller.user_id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    let orgs = rows
        .iter()
        .filter_map(|r| {
            Some(MembershipView {
                org_id: r.get(0),
                org_name: r.get(1),
                role: Role::parse(&r.get::<String, _>(2))?,
            })
        })
        .collect();
    Ok(Json(UserView {
        id: caller.user_id,
        username: caller.username,
        admin: caller.admin,
        parent_id: parent,
        orgs,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRequest {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// Shown once: send as `Authorization: Bearer <key>`.
    pub key: String,
}

/// Create an API key for automation
#[utoipa::path(post, path = "/v1/users/me/api-keys", tag = "users",
    request_body = ApiKeyRequest, responses((status = 201, body = ApiKeyView)))]
pub async fn create_api_key(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    let req: ApiKeyRequest = json_body(body)?;
    let name = check_name("API key", &req.name)?;
    let (id, key) = auth::create_api_key(&platform, &caller.user_id, name).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyView { id, name: name.to_owned(), key })))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateOrgRequest {
    /// 1 to 64 characters, unique on the platform.
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    /// The caller's role (none for a platform administrator who is not a member).
    pub role: Option<Role>,
}

/// Create an organization (the caller becomes its admin)
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs",
    request_body = CreateOrgRequest,
    responses(
        (status = 201, body = OrgView),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
pub async fn create_org(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let req: CreateOrgRequest = json_body(body)?;
    let name = check_name("organization", &req.name)?;
    let id = new_id("org");
    let now = now_ms();
    let mut tx = platform.db.begin().await.map_err(db_error)?;
    sqlx::query("INSERT INTO orgs (id, name, created_by, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(&caller.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(&id)
        .bind(&caller.user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    let view = OrgView { id, name: name.to_owned(), created_ms: now, role: Some(Role::Admin) };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Organizations the caller belongs to (all of them for a platform administrator)
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", responses((status = 200, body = Vec<OrgView>)))]
pub async fn list_orgs(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<OrgView>>> {
    let rows = sqlx::query(
        "SELECT o.id, o.name, o.created_ms, m.role FROM orgs o \
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY o.name",
    )
    .bind(&caller.user_id)
    .bind(i64::from(caller.admin))
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(rows.iter().map(org_view).collect()))
}

fn org_view(r: &sqlx::any::AnyRow) -> OrgView {
    OrgView {
        id: r.get(0),
        name: r.get(1),
        created_ms: r.get(2),
        role: r.get::<Option<String>, _>(3).as_deref().and_then(Role::parse),
    }
}

/// The ids a listing query selects for the caller: the query binds `$1` to the caller's user id
/// and `$2` to 1 for a platform administrator, and selects the id first.
pub(crate) async fn ids_for(
    platform: &Platform,
    caller: &Caller,
    query: &'static str,
) -> ApiResult<Vec<String>> {
    Ok(sqlx::query(query)
        .bind(&caller.user_id)
        .bind(i64::from(caller.admin))
        .fetch_all(&platform.db)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The id of the user called `username` (404 if none).
pub(crate) async fn user_id_by_name(platform: &Platform, username: &str) -> ApiResult<String> {
    Ok(sqlx::query("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found(format!("no user {username}")))?
        .get(0))
}

/// 404 unless the organization exists.
pub(crate) async fn org_exists(platform: &Platform, org: &str) -> ApiResult<()> {
    let found = sqlx::query("SELECT 1 FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or_else(|| ApiError::not_found(format!("no organization {org}")))
}

/// 404 for an unknown organization, 403 unless the caller may do `action` in it.
async fn allowed(platform: &Platform, caller: &Caller, org: &str, action: &str) -> ApiResult<()> {
    org_exists(platform, org).await?;
    authz::authorize(&platform.db, caller, org, action, &format!("org/{org}")).await
}

/// One organization
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_org(
    Ctx { platform, caller }: Ctx,
    Path(org): Path<String>,
) -> ApiResult<Json<OrgView>> {
    allowed(&platform, &caller, &org, "org:get").await?;
    let row = sqlx::query(
        "SELECT o.id, o.name, o.created_ms, m.role FROM orgs o \
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2 WHERE o.id = $1",
    )
    .bind(&org)
    .bind(&caller.user_id)
    .fetch_one(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(org_view(&row)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub username: String,
    pub role: Role,
}

/// Members of an organization
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs",
    responses((status = 200, body = Vec<MemberView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    Ctx { platform, caller }: Ctx,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<MemberView>>> {
    allowed(&platform, &caller, &org, "member:list").await?;
    let rows = sqlx::query(
        "SELECT u.id, u.username, m.role FROM org_members m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY u.username",
    )
    .bind(&org)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(
        rows.iter()
            .filter_map(|r| {
                Some(MemberView {
                    user_id: r.get(0),
                    username: r.get(1),
                    role: Role::parse(&r.get::<String, _>(2))?,
                })
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    pub username: String,
    pub role: Role,
}

/// Add a user to an organization with a role
#[utoipa::path(post, path = "/v1/orgs/{org}/members", tag = "orgs",
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = MemberView),
        (status = 404, description = "Unknown organization or user", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
    ))]
pub async fn add_member(
    Ctx { platform, caller }: Ctx,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let req: AddMemberRequest = json_body(body)?;
    allowed(&platform, &caller, &org, "member:add").await?;
    let user_id = user_id_by_name(&platform, &req.username).await?;
    sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(&org)
        .bind(&user_id)
        .bind(req.role.as_str())
        .execute(&platform.db)
        .await
        .map_err(|e| {
            let message = format!("{} is already a member; change the role with PUT", req.username);
            db_error_or_duplicate(e, "conflict", message)
        })?;
    let view = MemberView { user_id, username: req.username, role: req.role };
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleRequest {
    pub role: Role,
}

/// The organization's admins other than `user`.
async fn other_admins(platform: &Platform, org: &str, user: &str) -> ApiResult<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'admin' AND user_id <> $2",
    )
    .bind(org)
    .bind(user)
    .fetch_one(&platform.db)
    .await
    .map_err(db_error)?
    .get(0))
}

/// Change a member's role
#[utoipa::path(put, path = "/v1/orgs/{org}/members/{user}", tag = "orgs",
    request_body = RoleRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "Not a member", body = ErrorBody),
        (status = 409, description = "It would leave the organization without an admin", body = ErrorBody),
    ))]
pub async fn set_member_role(
    Ctx { platform, caller }: Ctx,
    Path((org, user)): Path<(String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let req: RoleRequest = json_body(body)?;
    allowed(&platform, &caller, &org, "member:update").await?;
    if req.role != Role::Admin && other_admins(&platform, &org, &user).await? == 0 {
        return Err(last_admin());
    }
    let done = sqlx::query("UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3")
        .bind(req.role.as_str())
        .bind(&org)
        .bind(&user)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("{user} is not a member of {org}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn last_admin() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "last_admin",
        "an organization keeps at least one admin; make another member admin first",
    )
}

/// Remove a member
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user}", tag = "orgs",
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last admin", body = ErrorBody),
    ))]
pub async fn remove_member(
    Ctx { platform, caller }: Ctx,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    allowed(&platform, &caller, &org, "member:remove").await?;
    if other_admins(&platform, &org, &user).await? == 0
        && authz::role_in(&platform.db, &user, &org).await? == Some(Role::Admin)
    {
        return Err(last_admin());
    }
    let mut tx = platform.db.begin().await.map_err(db_error)?;
    sqlx::query(
        "DELETE FROM policy_attachments WHERE user_id = $1 AND policy_id IN (SELECT id FROM policies WHERE org_id = $2)",
    )
    .bind(&user)
    .bind(&org)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(&org)
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("{user} is not a member of {org}")));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyRequest {
    pub name: String,
    pub document: PolicyDocument,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub name: String,
    pub document: PolicyDocument,
}

/// Create a policy (allow/deny statements on actions and resources)
#[utoipa::path(post, path = "/v1/orgs/{org}/policies", tag = "policies",
    request_body = PolicyRequest,
    responses(
        (status = 201, body = PolicyView),
        (status = 400, description = "Malformed document", body = ErrorBody),
        (status = 409, description = "Name taken in this organization", body = ErrorBody),
    ))]
pub async fn create_policy(
    Ctx { platform, caller }: Ctx,
    Path(org): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let req: PolicyRequest = json_body(body)?;
    allowed(&platform, &caller, &org, "policy:create").await?;
    req.document.check().map_err(|m| ApiError::bad_request("bad_policy", m))?;
    let name = check_name("policy", &req.name)?.to_owned();
    let id = new_id("pol");
    let document = serde_json::to_string(&req.document).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO policies (id, org_id, name, document, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&org)
    .bind(&name)
    .bind(document)
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(PolicyView { id, name, document: req.document })))
}

/// Policies of an organization
#[utoipa::path(get, path = "/v1/orgs/{org}/policies", tag = "policies",
    responses((status = 200, body = Vec<PolicyView>)))]
pub async fn list_policies(
    Ctx { platform, caller }: Ctx,
    Path(org): Path<String>,
) -> ApiResult<Json<Vec<PolicyView>>> {
    allowed(&platform, &caller, &org, "policy:list").await?;
    let rows =
        sqlx::query("SELECT id, name, document FROM policies WHERE org_id = $1 ORDER BY name")
            .bind(&org)
            .fetch_all(&platform.db)
            .await
            .map_err(db_error)?;
    Ok(Json(
        rows.iter()
            .filter_map(|r| {
                Some(PolicyView {
                    id: r.get(0),
                    name: r.get(1),
                    document: serde_json::from_str(&r.get::<String, _>(2)).ok()?,
                })
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachRequest {
    pub user_id: String,
}

/// 404 unless `policy` belongs to `org` and `user` is a member of it.
async fn policy_and_member(
    platform: &Platform,
    org: &str,
    policy: &str,
    user: &str,
) -> ApiResult<()> {
    let found = sqlx::query("SELECT 1 FROM policies WHERE id = $1 AND org_id = $2")
        .bind(policy)
        .bind(org)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?;
    if found.is_none() {
        return Err(ApiError::not_found(format!("no policy {policy} in {org}")));
    }
    if authz::role_in(&platform.db, user, org).await?.is_none() {
        return Err(ApiError::not_found(format!("{user} is not a member of {org}")));
    }
    Ok(())
}

/// Attach a policy to a member
#[utoipa::path(post, path = "/v1/orgs/{org}/policies/{policy}/attachments", tag = "policies",
    request_body = AttachRequest,
    responses((status = 204, description = "Attached"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn attach_policy(
    Ctx { platform, caller }: Ctx,
    Path((org, policy)): Path<(String, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let req: AttachRequest = json_body(body)?;
    allowed(&platform, &caller, &org, "policy:attach").await?;
    policy_and_member(&platform, &org, &policy, &req.user_id).await?;
    sqlx::query("INSERT INTO policy_attachments (policy_id, user_id) VALUES ($1, $2)")
        .bind(&policy)
        .bind(&req.user_id)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Detach a policy from a member
#[utoipa::path(delete, path = "/v1/orgs/{org}/policies/{policy}/attachments/{user}", tag = "policies",
    responses((status = 204, description = "Detached"), (status = 404, body = ErrorBody)))]
pub async fn detach_policy(
    Ctx { platform, caller }: Ctx,
    Path((org, policy, user)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    allowed(&platform, &caller, &org, "policy:detach").await?;
    policy_and_member(&platform, &org, &policy, &user).await?;
    let done = sqlx::query("DELETE FROM policy_attachments WHERE policy_id = $1 AND user_id = $2")
        .bind(&policy)
        .bind(&user)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("{policy} is not attached to {user}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this user's calls (others than yourself need platform administrator rights).
    pub actor: Option<String>,
    /// `POST`, `PUT`, `DELETE`, …
    pub method: Option<String>,
    /// Paths starting with this.
    pub path_prefix: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// At most this many entries, newest first (default 100, at most 1,000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// The user, or none for an unauthenticated call (a login).
    pub actor: Option<String>,
    /// The HTTP method, or `JOB` for how work that a call began in the background ended (a
    /// chain start).
    pub method: String,
    pub path: String,
    /// The HTTP status the call got (for a `JOB`: 200, or the status of its failure).
    pub status: i64,
}

/// The audit log: every mutating call, who, what, when and the result
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody)))]
pub async fn audit(
    Ctx { platform, caller }: Ctx,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let actor = match (q.actor, caller.admin) {
        (Some(a), true) => Some(a),
        (None, true) => None,
        (Some(a), false) if a != caller.username => {
            return Err(forbidden("only platform administrators read other users' audit entries"));
        }
        (_, false) => Some(caller.username.clone()),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let rows = sqlx::query(
        "SELECT at_ms, actor, method, path, status FROM audit_log \
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR method = $2) \
         AND ($3 IS NULL OR path LIKE $3 ESCAPE '\\') AND at_ms >= $4 AND at_ms < $5 \
         ORDER BY at_ms DESC, id DESC LIMIT $6",
    )
    .bind(actor)
    .bind(q.method.map(|m| m.to_uppercase()))
    .bind(q.path_prefix.map(|p| format!("{}%", p.replace('%', "\\%").replace('_', "\\_"))))
    .bind(q.since_ms.unwrap_or(0))
    .bind(q.until_ms.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(
        rows.iter()
            .map(|r| AuditEntry {
                at_ms: r.get(0),
                actor: r.get(1),
                method: r.get(2),
                path: r.get(3),
                status: r.get(4),
            })
            .collect(),
    ))
}
