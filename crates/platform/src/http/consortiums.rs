//! `/v1/consortiums*`, `/v1/invitations*`: consortiums, invitations, join requests and votes.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    CaRotationRequest, CaRotationView, ConsortiumView, CreateConsortiumRequest, Decision,
    DissolveQuery, InvitationStatus, InvitationView, InviteRequest, JoinRequest, JoinRequestView,
    VoteRequest,
};
use consortia_api::server::{ApiResult, JsonBody, JsonOrEmpty, PathParams, QueryParams};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(create_consortium, list_consortiums))
        .routes(routes!(show_consortium))
        .routes(routes!(invite_user, consortium_invitations))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
        .routes(routes!(request_join, list_requests))
        .routes(routes!(vote_on_join_request))
        .routes(routes!(approve_join_request))
        .routes(routes!(reject_join_request))
        .routes(routes!(rotate_member_ca))
        .routes(routes!(dissolve_consortium))
        .routes(routes!(leave_consortium))
}

/// Dissolve a consortium, or vote to (`consortium:delete`)
///
/// Under the leader policy its leader organization's admins dissolve it. Under the majority
/// policy each member organization's admins vote (`org_id` picks which if they are in
/// several): it dissolves at the vote that makes more than half of its members, and until
/// then answers the consortium with `dissolution_votes`. Allowed once every chain of the
/// consortium is archived. Its pending invitations and join
/// requests are withdrawn and the keys of its CA and its members' CAs destroyed, so no
/// certificate is issued under it again; it stays listed for its members, read-only, and
/// its name stays taken. Its member organizations may then be deleted.
#[utoipa::path(post, path = "/v1/consortiums/{id}/dissolve", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), DissolveQuery),
    responses(
        (status = 200, description = "Dissolved, or the vote counted (see `dissolved_ms`)", body = ConsortiumView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Chains not archived, or dissolved already", body = ErrorBody),
    ))]
async fn dissolve_consortium(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(q): QueryParams<DissolveQuery>,
) -> ApiResult<Json<ConsortiumView>> {
    Ok(Json(platform.dissolve_consortium(&caller, &id, q.org_id.as_deref()).await?))
}

/// A member organization leaves a consortium (`consortium:leave`: its admins)
///
/// Allowed once it takes part in none of the consortium's chains in service (each chain's
/// members remove it by a governance proposal first, or the chain is archived). The leader
/// cannot leave; it dissolves the consortium. Its votes on pending join requests and on
/// dissolution are withdrawn, and its membership goes with its member CA's keys; coming back
/// takes a new invitation and approval. Under the majority policy the votes left are counted
/// again against the fewer members: a join request or a dissolution they now carry is decided.
#[utoipa::path(delete, path = "/v1/consortiums/{id}/members/{org}", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), ("org" = String, Path, description = "The leaving organization's id")),
    responses(
        (status = 204, description = "Left"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such consortium, or the organization is not a member", body = ErrorBody),
        (status = 409, description = "The leader, a chain in service it takes part in, or the consortium is dissolved", body = ErrorBody),
    ))]
async fn leave_consortium(
    Ctx { platform, caller }: Ctx,
    PathParams((id, org)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    platform.leave_consortium(&caller, &id, &org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a member organization's CA (`consortium:rotate-ca`: its admins)
///
/// The platform makes a new CA for the organization and proposes it on every running chain
/// the organization takes part in (`proposeRotateMemberCa`); the chains' members vote as on
/// any proposal. Once a chain executes it, the platform reissues the organization's node
/// certificates there from the new CA; until the overlap ends, that chain trusts both CAs,
/// for peers and credentials alike. New chains get the new CA at once. Asked again while a
/// chain still trusts only the replaced CA (its proposal was rejected or expired), it proposes
/// the current CA there again.
#[utoipa::path(post, path = "/v1/consortiums/{id}/members/{org}/ca-rotation", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), ("org" = String, Path, description = "Member organization id")),
    request_body = CaRotationRequest,
    responses(
        (status = 202, description = "Proposed on the organization's running chains", body = CaRotationView),
        (status = 400, description = "An overlap a chain refuses (over 90 days)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn rotate_member_ca(
    Ctx { platform, caller }: Ctx,
    PathParams((id, org)): PathParams<(String, String)>,
    JsonOrEmpty(req): JsonOrEmpty<CaRotationRequest>,
) -> ApiResult<(StatusCode, Json<CaRotationView>)> {
    let rotation = platform.rotate_member_ca(&caller, &id, &org, &req).await?;
    Ok((StatusCode::ACCEPTED, Json(rotation)))
}

/// Create a consortium led by one of the caller's organizations
#[utoipa::path(post, path = "/v1/consortiums", tag = "consortiums",
    request_body = CreateConsortiumRequest,
    responses(
        (status = 201, body = ConsortiumView),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 403, description = "Not an admin of the organization", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
async fn create_consortium(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<CreateConsortiumRequest>,
) -> ApiResult<(StatusCode, Json<ConsortiumView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_consortium(&caller, &req).await?)))
}

/// Consortiums the caller's organizations belong to (all for a platform administrator)
#[utoipa::path(get, path = "/v1/consortiums", tag = "consortiums",
    responses((status = 200, body = Vec<ConsortiumView>)))]
async fn list_consortiums(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<ConsortiumView>>> {
    Ok(Json(platform.consortiums(&caller).await?))
}

/// A consortium, its members and their certificates (members and invitees may read it)
#[utoipa::path(get, path = "/v1/consortiums/{id}", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id")),
    responses((status = 200, body = ConsortiumView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_consortium(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<ConsortiumView>> {
    Ok(Json(platform.consortium(&caller, &id).await?))
}

/// Invite a user into the consortium
#[utoipa::path(post, path = "/v1/consortiums/{id}/invitations", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id")),
    request_body = InviteRequest,
    responses(
        (status = 201, body = InvitationView),
        (status = 400, description = "You are in several member organizations: name one", body = ErrorBody),
        (status = 403, description = "Not an admin of a member organization", body = ErrorBody),
        (status = 404, description = "Unknown consortium or user", body = ErrorBody),
        (status = 409, description = "Already invited and pending", body = ErrorBody),
    ))]
async fn invite_user(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    Ok((StatusCode::CREATED, Json(platform.invite(&caller, &id, &req).await?)))
}

/// The invitations sent to join a consortium, with their answers and the join requests made
/// with them (for the consortium's members)
#[utoipa::path(get, path = "/v1/consortiums/{id}/invitations", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id")),
    responses((status = 200, body = Vec<InvitationView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn consortium_invitations(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<InvitationView>>> {
    Ok(Json(platform.consortium_invitations(&caller, &id).await?))
}

/// Invitations addressed to the caller
#[utoipa::path(get, path = "/v1/invitations", tag = "consortiums",
    responses((status = 200, body = Vec<InvitationView>)))]
async fn my_invitations(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<InvitationView>>> {
    Ok(Json(platform.my_invitations(&caller).await?))
}

/// Accept an invitation (then request to join with one of your organizations)
#[utoipa::path(post, path = "/v1/invitations/{id}/accept", tag = "consortiums",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 200, body = InvitationView),
        (status = 403, description = "Addressed to another user", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already answered", body = ErrorBody),
    ))]
async fn accept_invitation(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<InvitationView>> {
    Ok(Json(platform.answer_invitation(&caller, &id, InvitationStatus::Accepted).await?))
}

/// Decline an invitation
#[utoipa::path(post, path = "/v1/invitations/{id}/decline", tag = "consortiums",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 200, body = InvitationView),
        (status = 403, description = "Addressed to another user", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already answered", body = ErrorBody),
    ))]
async fn decline_invitation(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<InvitationView>> {
    Ok(Json(platform.answer_invitation(&caller, &id, InvitationStatus::Declined).await?))
}

/// Request to join with one of your organizations (needs your accepted invitation)
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id")),
    request_body = JoinRequest,
    responses(
        (status = 201, body = JoinRequestView),
        (status = 400, description = "The invitation is not yours, not for this consortium, or not accepted", body = ErrorBody),
        (status = 403, description = "Not an admin of the organization", body = ErrorBody),
        (status = 404, description = "Unknown consortium, organization or invitation", body = ErrorBody),
        (status = 409, description = "Already a member, already requested, or you take part through another organization", body = ErrorBody),
    ))]
async fn request_join(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<JoinRequest>,
) -> ApiResult<(StatusCode, Json<JoinRequestView>)> {
    Ok((StatusCode::CREATED, Json(platform.request_join(&caller, &id, &req).await?)))
}

/// Join requests of a consortium (for its members)
#[utoipa::path(get, path = "/v1/consortiums/{id}/join-requests", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id")),
    responses((status = 200, body = Vec<JoinRequestView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_requests(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<JoinRequestView>>> {
    Ok(Json(platform.join_requests(&caller, &id).await?))
}

/// Vote on a join request on behalf of your member organization
///
/// Votes on one request are counted one at a time; the vote that meets the consortium's
/// approval policy decides the request (an approved organization becomes a member with its
/// CA certificate), and later votes are refused.
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests/{request}/votes", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), ("request" = String, Path, description = "Join request id")),
    request_body = VoteRequest,
    responses(
        (status = 200, description = "The request, decided if the policy is met", body = JoinRequestView),
        (status = 400, description = "You are in several member organizations: name one", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already decided, or your organization already voted", body = ErrorBody),
    ))]
async fn vote_on_join_request(
    Ctx { platform, caller }: Ctx,
    PathParams((id, request)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<VoteRequest>,
) -> ApiResult<Json<JoinRequestView>> {
    Ok(Json(platform.vote(&caller, &id, &request, &req).await?))
}

/// The body of the older approve and reject calls: the voting organization, if you are in
/// several (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
struct OnBehalfOf {
    org_id: Option<String>,
}

async fn vote_as(
    ctx: Ctx,
    id: String,
    request: String,
    body: OnBehalfOf,
    decision: Decision,
) -> ApiResult<Json<JoinRequestView>> {
    let vote = VoteRequest { decision, org_id: body.org_id };
    Ok(Json(ctx.platform.vote(&ctx.caller, &id, &request, &vote).await?))
}

/// Approve a join request (same as a vote with `decision: approve`)
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests/{request}/approve", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), ("request" = String, Path, description = "Join request id")),
    request_body(content = OnBehalfOf, description = "The voting organization, if you are in several"),
    responses(
        (status = 200, description = "The request, decided if the policy is met", body = JoinRequestView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn approve_join_request(
    ctx: Ctx,
    PathParams((id, request)): PathParams<(String, String)>,
    JsonOrEmpty(body): JsonOrEmpty<OnBehalfOf>,
) -> ApiResult<Json<JoinRequestView>> {
    vote_as(ctx, id, request, body, Decision::Approve).await
}

/// Reject a join request (same as a vote with `decision: reject`)
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests/{request}/reject", tag = "consortiums",
    params(("id" = String, Path, description = "Consortium id"), ("request" = String, Path, description = "Join request id")),
    request_body(content = OnBehalfOf, description = "The voting organization, if you are in several"),
    responses(
        (status = 200, description = "The request, decided if the policy is met", body = JoinRequestView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn reject_join_request(
    ctx: Ctx,
    PathParams((id, request)): PathParams<(String, String)>,
    JsonOrEmpty(body): JsonOrEmpty<OnBehalfOf>,
) -> ApiResult<Json<JoinRequestView>> {
    vote_as(ctx, id, request, body, Decision::Reject).await
}
