//! `/v1/chains/{id}/contracts*`: upload, deploy and call contracts through their ABI.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::{
    CallRequest, CallView, ContractView, DeployRequest, DeployView, UploadRequest,
};
use consortia_api::server::{ApiResult, JsonBody, JsonOrEmpty, PathParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(upload_contract, list_contracts))
        .routes(routes!(show_contract))
        .routes(routes!(deploy_contract))
        .routes(routes!(propose_deploy_approval))
        .routes(routes!(call_contract))
}

/// Upload a contract: bytecode and ABI, checked against the stated code hash
#[utoipa::path(post, path = "/v1/chains/{id}/contracts", tag = "contracts",
    params(("id" = String, Path, description = "Chain id")),
    request_body = UploadRequest,
    responses(
        (status = 201, body = ContractView),
        (status = 400, description = "Bad ABI or bytecode, or the code hash differs", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Name taken on this chain", body = ErrorBody),
    ))]
async fn upload_contract(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<UploadRequest>,
) -> ApiResult<(StatusCode, Json<ContractView>)> {
    Ok((StatusCode::CREATED, Json(platform.upload_contract(&caller, &id, &req).await?)))
}

/// The contracts of a chain
#[utoipa::path(get, path = "/v1/chains/{id}/contracts", tag = "contracts",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<ContractView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_contracts(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<ContractView>>> {
    Ok(Json(platform.contracts(&caller, &id).await?))
}

/// A contract of a chain (by id or name)
#[utoipa::path(get, path = "/v1/chains/{id}/contracts/{contract}", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    responses((status = 200, body = ContractView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_contract(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
) -> ApiResult<Json<ContractView>> {
    Ok(Json(platform.contract(&caller, &id, &contract).await?))
}

/// Propose approving the deployment of an uploaded contract with these constructor arguments
/// (on chains whose deploy policy is `approved`): the keccak-256 of its init code, proposed
/// for the organization you act for; deploy once the proposal executed
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/approval", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    request_body = DeployRequest,
    responses(
        (status = 201, body = consortia_api::node::ProposalView),
        (status = 400, description = "Bad arguments", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Refused by the chain's governance (already approved), or the chain is not running", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
    ))]
async fn propose_deploy_approval(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    JsonOrEmpty(req): JsonOrEmpty<DeployRequest>,
) -> ApiResult<(StatusCode, Json<consortia_api::node::ProposalView>)> {
    let proposal = platform.propose_deploy_approval(&caller, &id, &contract, &req).await?;
    Ok((StatusCode::CREATED, Json(proposal)))
}

/// Deploy an uploaded contract (signed for its organization)
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/deploy", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    request_body = DeployRequest,
    responses(
        (status = 200, body = DeployView),
        (status = 400, description = "Bad arguments, or the creation would fail", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already deployed, the chain is not running, or (`approval_pending`) the chain's members approve deployments and the platform proposed this one: deploy again once the proposal executed", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
        (status = 504, description = "Sent, but not committed in time", body = ErrorBody),
    ))]
async fn deploy_contract(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    JsonOrEmpty(req): JsonOrEmpty<DeployRequest>,
) -> ApiResult<Json<DeployView>> {
    Ok(Json(platform.deploy(&caller, &id, &contract, &req).await?))
}

/// Call a deployed contract: a query for view functions, a signed transaction otherwise
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/call", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    request_body = CallRequest,
    responses(
        (status = 200, body = CallView),
        (status = 400, description = "Unknown function, bad arguments, or the call would fail", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not deployed yet, or the chain is not running", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
        (status = 504, description = "Sent, but not committed in time", body = ErrorBody),
    ))]
async fn call_contract(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    JsonBody(req): JsonBody<CallRequest>,
) -> ApiResult<Json<CallView>> {
    Ok(Json(platform.call(&caller, &id, &contract, &req).await?))
}
