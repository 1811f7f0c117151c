//! `/v1/orgs*`: organizations, members and roles, policies.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    AddMemberRequest, AttachRequest, CreateOrgRequest, MemberView, OrgView, PermissionsQuery,
    PermissionsView, PolicyRequest, PolicyView, RoleRequest,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, delete_org))
        .routes(routes!(permissions))
        .routes(routes!(list_members, add_member))
        .routes(routes!(set_member_role, remove_member))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(attach_policy))
        .routes(routes!(detach_policy))
}

/// Create an organization (the caller becomes its admin)
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs",
    request_body = CreateOrgRequest,
    responses(
        (status = 201, body = OrgView),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
async fn create_org(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<CreateOrgRequest>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_org(&caller, &req.name).await?)))
}

/// Organizations the caller belongs to (all of them for a platform administrator)
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", responses((status = 200, body = Vec<OrgView>)))]
async fn list_orgs(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<OrgView>>> {
    Ok(Json(platform.orgs(&caller).await?))
}

/// One organization
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Organization id")),
    responses((status = 200, body = OrgView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_org(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
) -> ApiResult<Json<OrgView>> {
    Ok(Json(platform.org(&caller, &org).await?))
}

/// Which actions the caller may do in the organization (its members and administrators ask)
///
/// Decided as each action itself would be, from the caller's role and the policies attached
/// to them, so a client offers only what will be allowed (the console hides the rest).
#[utoipa::path(get, path = "/v1/orgs/{org}/permissions", tag = "orgs",
    params(("org" = String, Path, description = "Organization id"), PermissionsQuery),
    responses(
        (status = 200, body = PermissionsView),
        (status = 400, description = "Malformed actions", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn permissions(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
    QueryParams(q): QueryParams<PermissionsQuery>,
) -> ApiResult<Json<PermissionsView>> {
    let allowed = platform.permissions(&caller, &org, &q.actions, q.resource.as_deref()).await?;
    Ok(Json(PermissionsView { allowed }))
}

/// Delete an organization (`org:delete`: its admins)
///
/// Allowed once the organization is a member of no consortium in service (a consortium's
/// leader dissolves it once its chains are archived). Its members and policies go, its
/// pending join requests are withdrawn, its managed signing keys are disabled, and every
/// secret the platform sealed for it is destroyed: its chain account's key, its managed
/// keys, its hosts' TLS keys and kubeconfigs, its webhook and alert-receiver secrets, its
/// member CA keys. Its name stays taken, since chains, contracts and the audit log name it.
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A member of a consortium in service", body = ErrorBody),
    ))]
async fn delete_org(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
) -> ApiResult<StatusCode> {
    platform.delete_org(&caller, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members of an organization
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs",
    params(("org" = String, Path, description = "Organization id")),
    responses((status = 200, body = Vec<MemberView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_members(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
) -> ApiResult<Json<Vec<MemberView>>> {
    Ok(Json(platform.members(&caller, &org).await?))
}

/// Add a user to an organization with a role
#[utoipa::path(post, path = "/v1/orgs/{org}/members", tag = "orgs",
    params(("org" = String, Path, description = "Organization id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = MemberView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Unknown organization or user", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
    ))]
async fn add_member(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
    JsonBody(req): JsonBody<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    Ok((StatusCode::CREATED, Json(platform.add_member(&caller, &org, &req).await?)))
}

/// Change a member's role
#[utoipa::path(put, path = "/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = String, Path, description = "Organization id"), ("user" = String, Path, description = "User id")),
    request_body = RoleRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not a member", body = ErrorBody),
        (status = 409, description = "It would leave the organization without an admin", body = ErrorBody),
    ))]
async fn set_member_role(
    Ctx { platform, caller }: Ctx,
    PathParams((org, user)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<RoleRequest>,
) -> ApiResult<StatusCode> {
    platform.set_member_role(&caller, &org, &user, req.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user}", tag = "orgs",
    params(("org" = String, Path, description = "Organization id"), ("user" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last admin", body = ErrorBody),
    ))]
async fn remove_member(
    Ctx { platform, caller }: Ctx,
    PathParams((org, user)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    platform.remove_member(&caller, &org, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a policy (allow/deny statements on actions and resources)
#[utoipa::path(post, path = "/v1/orgs/{org}/policies", tag = "policies",
    params(("org" = String, Path, description = "Organization id")),
    request_body = PolicyRequest,
    responses(
        (status = 201, body = PolicyView),
        (status = 400, description = "Malformed document", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Name taken in this organization", body = ErrorBody),
    ))]
async fn create_policy(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
    JsonBody(req): JsonBody<PolicyRequest>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_policy(&caller, &org, &req).await?)))
}

/// Policies of an organization
#[utoipa::path(get, path = "/v1/orgs/{org}/policies", tag = "policies",
    params(("org" = String, Path, description = "Organization id")),
    responses((status = 200, body = Vec<PolicyView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_policies(
    Ctx { platform, caller }: Ctx,
    PathParams(org): PathParams<String>,
) -> ApiResult<Json<Vec<PolicyView>>> {
    Ok(Json(platform.policies(&caller, &org).await?))
}

/// Attach a policy to a member
#[utoipa::path(post, path = "/v1/orgs/{org}/policies/{policy}/attachments", tag = "policies",
    params(("org" = String, Path, description = "Organization id"), ("policy" = String, Path, description = "Policy id")),
    request_body = AttachRequest,
    responses(
        (status = 204, description = "Attached"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already attached", body = ErrorBody),
    ))]
async fn attach_policy(
    Ctx { platform, caller }: Ctx,
    PathParams((org, policy)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<AttachRequest>,
) -> ApiResult<StatusCode> {
    platform.attach_policy(&caller, &org, &policy, &req.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Detach a policy from a member
#[utoipa::path(delete, path = "/v1/orgs/{org}/policies/{policy}/attachments/{user}", tag = "policies",
    params(("org" = String, Path, description = "Organization id"), ("policy" = String, Path, description = "Policy id"), ("user" = String, Path, description = "User id")),
    responses((status = 204, description = "Detached"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn detach_policy(
    Ctx { platform, caller }: Ctx,
    PathParams((org, policy, user)): PathParams<(String, String, String)>,
) -> ApiResult<StatusCode> {
    platform.detach_policy(&caller, &org, &policy, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
