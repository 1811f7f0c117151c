//! `/v1/chains*`: the chain wizard (create, add and remove nodes, invite organizations, start)
//! and chains' views.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    AddNodeRequest, CertificateRenewalView, ChainView, CreateChainRequest,
    CreateNodeCredentialRequest, FaucetRequest, FaucetView, InviteOrgRequest, NodeCredentialView,
    StartQuery,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(create_chain, list_chains))
        .routes(routes!(show_chain))
        .routes(routes!(chain_genesis))
        .routes(routes!(invite_org))
        .routes(routes!(add_node))
        .routes(routes!(remove_node))
        .routes(routes!(start_chain))
        .routes(routes!(faucet))
        .routes(routes!(issue_node_credential))
        .routes(routes!(renew_certificates))
        .routes(routes!(archive_chain))
}

/// Archive a chain: its nodes are stopped and removed from their hosts (their data with
/// them), its webhooks paused, and it can no longer be read or written; the platform keeps
/// its records, and its name and chain id stay taken. Cannot be undone. Needs `chain:delete`
/// (an administrator's) in every organization whose nodes run on it
#[utoipa::path(post, path = "/v1/chains/{id}/archive", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, body = ChainView),
        (status = 403, description = "An organization whose nodes would stop does not allow it", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Starting, or archived already", body = ErrorBody),
        (status = 502, description = "Archived, but a host could not remove a node (named)", body = ErrorBody),
    ))]
async fn archive_chain(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<ChainView>> {
    Ok(Json(platform.archive_chain(&caller, &id).await?))
}

/// Renew the certificates of the chain's nodes the caller may manage (`node:renew`), for the
/// same node keys: P2P, and HTTPS where the chain serves it. Nodes present them from their next
/// connection, without a restart (the platform also renews at two thirds of their lifetime)
#[utoipa::path(post, path = "/v1/chains/{id}/certificates/renew", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, description = "Renewed", body = Vec<CertificateRenewalView>),
        (status = 403, description = "The caller may renew no node of the chain", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
        (status = 502, description = "No node answered, or a host refused the new files", body = ErrorBody),
    ))]
async fn renew_certificates(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<CertificateRenewalView>>> {
    Ok(Json(platform.renew_certificates(&caller, &id).await?))
}

/// Issue a credential for the chain's node APIs (REST, JSON-RPC, WebSocket, metrics), signed
/// by the organization's CA; nodes check it offline. Shown once, with the JSON-RPC URL that
/// carries it for wallets and web3 clients
#[utoipa::path(post, path = "/v1/chains/{id}/credentials", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    request_body = CreateNodeCredentialRequest,
    responses(
        (status = 201, description = "Issued", body = NodeCredentialView),
        (status = 400, description = "Bad name or expiry", body = ErrorBody),
        (status = 403, description = "The caller may not read (or, for `write`, write to) the chain for the organization", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
    ))]
async fn issue_node_credential(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<CreateNodeCredentialRequest>,
) -> ApiResult<(StatusCode, Json<NodeCredentialView>)> {
    Ok((StatusCode::CREATED, Json(platform.issue_node_credential(&caller, &id, &req).await?)))
}

/// Fund an address from an organization's own account (its operators' faucet): the chain's
/// base fee is paid by the sender, so wallets and web3 tools need a balance
#[utoipa::path(post, path = "/v1/chains/{id}/faucet", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    request_body = FaucetRequest,
    responses(
        (status = 200, description = "Committed", body = FaucetView),
        (status = 400, description = "Bad address or amount, or the organization's account cannot pay it", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
        (status = 502, description = "No node answered", body = ErrorBody),
    ))]
async fn faucet(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<FaucetRequest>,
) -> ApiResult<Json<FaucetView>> {
    Ok(Json(platform.faucet(&caller, &id, &req).await?))
}

/// Step 1: create a chain in a consortium (the chain id is assigned at once)
#[utoipa::path(post, path = "/v1/chains", tag = "chains",
    request_body = CreateChainRequest,
    responses(
        (status = 201, body = ChainView),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "The organization is not a member, or the caller may not", body = ErrorBody),
        (status = 404, description = "Unknown consortium or organization", body = ErrorBody),
        (status = 409, description = "Name taken in the consortium", body = ErrorBody),
    ))]
async fn create_chain(
    Ctx { platform, caller }: Ctx,
    JsonBody(req): JsonBody<CreateChainRequest>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    Ok((StatusCode::CREATED, Json(platform.create_chain(&caller, &req).await?)))
}

/// Chains the caller's organizations take part in (all for a platform administrator)
#[utoipa::path(get, path = "/v1/chains", tag = "chains", responses((status = 200, body = Vec<ChainView>)))]
async fn list_chains(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<ChainView>>> {
    Ok(Json(platform.chains(&caller).await?))
}

/// A chain: parameters, organizations, nodes, the wizard's next step and open problems
#[utoipa::path(get, path = "/v1/chains/{id}", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = ChainView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_chain(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<ChainView>> {
    Ok(Json(platform.chain(&caller, &id).await?))
}

/// Step 3: invite a member organization of the consortium (it brings its own nodes); on a
/// running chain, the organization you act for (`as_org_id`) proposes it as a member
#[utoipa::path(post, path = "/v1/chains/{id}/orgs", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    request_body = InviteOrgRequest,
    responses(
        (status = 200, body = ChainView),
        (status = 403, description = "Not a member of the consortium, or the caller may not", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already taking part, the chain is starting, or its governance refused the proposal", body = ErrorBody),
    ))]
async fn invite_org(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<InviteOrgRequest>,
) -> ApiResult<Json<ChainView>> {
    Ok(Json(platform.invite_org(&caller, &id, &req.org_id, req.as_org_id.as_deref()).await?))
}

/// Step 2: add a node of a participating organization on one of its hosts; on a running
/// chain the node is provisioned, started, and proposed to the chain's governance by its
/// organization (it signs once the proposal executed)
#[utoipa::path(post, path = "/v1/chains/{id}/nodes", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    request_body = AddNodeRequest,
    responses(
        (status = 201, body = ChainView),
        (status = 400, description = "Bad name or port, or a host of another organization", body = ErrorBody),
        (status = 403, description = "The organization does not take part, or the caller may not", body = ErrorBody),
        (status = 404, description = "Unknown chain or host", body = ErrorBody),
        (status = 409, description = "Name or port taken, the chain is starting, or its governance refused the node", body = ErrorBody),
        (status = 502, description = "The host could not start the node", body = ErrorBody),
    ))]
async fn add_node(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<AddNodeRequest>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    Ok((StatusCode::CREATED, Json(platform.add_node(&caller, &id, &req).await?)))
}

/// Remove a node: from a chain not started yet at once; from a running chain its organization
/// proposes the removal, and the platform stops the node once it executed
#[utoipa::path(delete, path = "/v1/chains/{id}/nodes/{node}", tag = "chains",
    params(("id" = String, Path, description = "Chain id"), ("node" = String, Path, description = "Node id or name")),
    responses(
        (status = 200, body = ChainView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is starting, or its governance refused the removal", body = ErrorBody),
    ))]
async fn remove_node(
    Ctx { platform, caller }: Ctx,
    PathParams((id, node)): PathParams<(String, String)>,
) -> ApiResult<Json<ChainView>> {
    Ok(Json(platform.remove_node(&caller, &id, &node).await?))
}

/// Step 4: start the chain (genesis, certificates, configurations; nodes started through their
/// hosts; by default answers once block 1 is committed, with `wait=false` at once)
#[utoipa::path(post, path = "/v1/chains/{id}/start", tag = "chains",
    params(("id" = String, Path, description = "Chain id"), StartQuery),
    responses(
        (status = 200, description = "Running: block 1 is committed", body = ChainView),
        (status = 202, description = "`wait=false`: starting; `progress` tells how far it is", body = ChainView),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not ready (see `problems`) or already started", body = ErrorBody),
        (status = 502, description = "The nodes did not commit a first block; see `failure` and the node logs", body = ErrorBody),
        (status = 503, description = "The platform runs without a node program", body = ErrorBody),
    ))]
async fn start_chain(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<StartQuery>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    let wait = query.wait != Some(false);
    let view = platform.start_chain(&caller, &id, wait).await?;
    Ok((if wait { StatusCode::OK } else { StatusCode::ACCEPTED }, Json(view)))
}

/// The genesis file the platform launched the chain with: the one thing a light client (and
/// `consortia notary verify --genesis`, `consortia sql verify --genesis`) trusts
#[utoipa::path(get, path = "/v1/chains/{id}/genesis", tag = "chains",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, description = "The genesis (JSON, as the nodes read it)", body = Object),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has not started, or started before the platform kept its genesis", body = ErrorBody),
    ))]
async fn chain_genesis(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<consortia_types::Genesis>> {
    Ok(Json(platform.chain_genesis(&caller, &id).await?))
}
