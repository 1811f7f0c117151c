//! `/v1/chains/{id}/proposals*`: a running chain's on-chain governance, proposals and votes
//! signed by the platform for the organization the caller acts for.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::node::{ProposalListView, ProposalView};
use consortia_api::platform::{ChainProposalsQuery, ProposalVoteRequest, ProposeRequest};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(list_proposals, propose))
        .routes(routes!(show_proposal))
        .routes(routes!(vote))
}

/// A running chain's governance proposals, newest first (`status=open` for the open ones),
/// each with what it changes, who voted and the policy deciding it
#[utoipa::path(get, path = "/v1/chains/{id}/proposals", tag = "governance",
    params(("id" = String, Path, description = "Chain id"), ChainProposalsQuery),
    responses((status = 200, body = ProposalListView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The chain does not run", body = ErrorBody)))]
async fn list_proposals(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<ChainProposalsQuery>,
) -> ApiResult<Json<ProposalListView>> {
    Ok(Json(platform.chain_proposals(&caller, &id, &query).await?))
}

/// One proposal of a running chain
#[utoipa::path(get, path = "/v1/chains/{id}/proposals/{proposal}", tag = "governance",
    params(("id" = String, Path, description = "Chain id"), ("proposal" = u64, Path, description = "Proposal id")),
    responses((status = 200, body = ProposalView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_proposal(
    Ctx { platform, caller }: Ctx,
    PathParams((id, proposal)): PathParams<(String, u64)>,
) -> ApiResult<Json<ProposalView>> {
    Ok(Json(platform.chain_proposal(&caller, &id, proposal).await?))
}

/// Propose a change to a running chain for the organization you act for (its proposal is its
/// approval; a chain of one member decides at once). Members, nodes and contracts that need
/// provisioning go through `POST /v1/chains/{id}/orgs` and `…/nodes`
#[utoipa::path(post, path = "/v1/chains/{id}/proposals", tag = "governance",
    params(("id" = String, Path, description = "Chain id")),
    request_body = ProposeRequest,
    responses(
        (status = 201, body = ProposalView),
        (status = 400, description = "A malformed change", body = ErrorBody),
        (status = 403, description = "Not your organization, or it does not take part", body = ErrorBody),
        (status = 409, description = "The chain's governance refused it (`governance_refused`, with the contract's reason), or the chain does not run", body = ErrorBody),
    ))]
async fn propose(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<ProposeRequest>,
) -> ApiResult<(StatusCode, Json<ProposalView>)> {
    Ok((StatusCode::CREATED, Json(platform.propose(&caller, &id, &req).await?)))
}

/// Vote on a proposal for the organization you act for (one vote per organization; the vote
/// that meets the policy executes it)
#[utoipa::path(post, path = "/v1/chains/{id}/proposals/{proposal}/votes", tag = "governance",
    params(("id" = String, Path, description = "Chain id"), ("proposal" = u64, Path, description = "Proposal id")),
    request_body = ProposalVoteRequest,
    responses(
        (status = 200, description = "The proposal after the vote", body = ProposalView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Refused by the chain's governance (already voted, not open, not a member)", body = ErrorBody),
    ))]
async fn vote(
    Ctx { platform, caller }: Ctx,
    PathParams((id, proposal)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<ProposalVoteRequest>,
) -> ApiResult<Json<ProposalView>> {
    Ok(Json(platform.vote_on_proposal(&caller, &id, proposal, &req).await?))
}
