//! `/v1/chains/{id}/contracts*`: upload, deploy and call contracts through their ABI.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use consortia_api::ErrorBody;
use consortia_api::platform::{
    AssetLedgerQuery, AssetLedgerView, CallQuery, CallRequest, CallView, ContractEventQuery,
    ContractEventsPage, ContractView, DeployRequest, DeployView, DisplaySpec, GatewayCallView,
    UploadRequest,
};
use consortia_api::server::{ApiError, ApiResult, JsonBody, JsonOrEmpty, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;
use crate::service::contracts::{CallAnswer, CallOptions};

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(upload_contract, list_contracts))
        .routes(routes!(show_contract))
        .routes(routes!(deploy_contract))
        .routes(routes!(propose_deploy_approval))
        .routes(routes!(call_contract))
        .routes(routes!(set_contract_display, clear_contract_display))
        .routes(routes!(contract_events))
        .routes(routes!(contract_holders))
}

/// Set a contract's business views for the console's app browser: tables of its events,
/// forms that call its functions, lookups of its view functions, with the words they show
/// under; checked against its ABI (needs `contract:update` in its organization)
#[utoipa::path(put, path = "/v1/chains/{id}/contracts/{contract}/display", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    request_body = DisplaySpec,
    responses(
        (status = 200, body = ContractView),
        (status = 400, description = "The spec names what the ABI lacks (every problem listed)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn set_contract_display(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    JsonBody(spec): JsonBody<DisplaySpec>,
) -> ApiResult<Json<ContractView>> {
    Ok(Json(platform.set_contract_display(&caller, &id, &contract, Some(&spec)).await?))
}

/// Remove a contract's business views
#[utoipa::path(delete, path = "/v1/chains/{id}/contracts/{contract}/display", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name")),
    responses((status = 200, body = ContractView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn clear_contract_display(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
) -> ApiResult<Json<ContractView>> {
    Ok(Json(platform.set_contract_display(&caller, &id, &contract, None).await?))
}

/// A deployed contract's events, newest first and decoded with its ABI, a page at a time
/// (pass `next_before` as `before_height` for the older ones)
#[utoipa::path(get, path = "/v1/chains/{id}/contracts/{contract}/events", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name"), ContractEventQuery),
    responses(
        (status = 200, body = ContractEventsPage),
        (status = 400, description = "An event the ABI lacks", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not deployed, or the chain is not running", body = ErrorBody),
        (status = 502, description = "No node answers", body = ErrorBody),
    ))]
async fn contract_events(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<ContractEventQuery>,
) -> ApiResult<Json<ContractEventsPage>> {
    Ok(Json(platform.contract_events(&caller, &id, &contract, &q).await?))
}

/// A token contract's holders (largest first, organizations' accounts named) and latest
/// transfers, as its ERC-20 or ERC-721 `Transfer` events add up: the platform's assets and
/// any token a member deployed
#[utoipa::path(get, path = "/v1/chains/{id}/contracts/{contract}/holders", tag = "contracts",
    params(("id" = String, Path, description = "Chain id"), ("contract" = String, Path, description = "Contract id or name"), AssetLedgerQuery),
    responses(
        (status = 200, body = AssetLedgerView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such contract, or it has no Transfer event", body = ErrorBody),
        (status = 409, description = "Not deployed", body = ErrorBody),
        (status = 502, description = "No node answers", body = ErrorBody),
    ))]
async fn contract_holders(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<AssetLedgerQuery>,
) -> ApiResult<Json<AssetLedgerView>> {
    Ok(Json(platform.contract_holders(&caller, &id, &contract, &q).await?))
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
/// (signed with the managed key named in `key`, else the organization's own account). A
/// transaction is answered once final, or with `wait=false` at once (202, the call's status
/// resource in `Location`); an `Idempotency-Key` makes a retry return the first call instead
/// of sending another
#[utoipa::path(post, path = "/v1/chains/{id}/contracts/{contract}/call", tag = "contracts",
    params(
        ("id" = String, Path, description = "Chain id"),
        ("contract" = String, Path, description = "Contract id or name"),
        CallQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters, unique per request of the caller: a retry with the same key and request returns the first call"),
    ),
    request_body = CallRequest,
    responses(
        (status = 200, body = CallView),
        (status = 202, description = "Sent (`wait=false`): follow the call", body = GatewayCallView),
        (status = 400, description = "Unknown function or key, bad arguments, a disabled key, the call would fail (with the revert reason), the chain refused it, or the idempotency key was used for another request", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not deployed yet, the chain is not running, or a request with the same idempotency key is being sent", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
        (status = 504, description = "Sent, but not final in time (it is sent again until it is: follow the call)", body = ErrorBody),
    ))]
async fn call_contract(
    Ctx { platform, caller }: Ctx,
    PathParams((id, contract)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<CallQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CallRequest>,
) -> ApiResult<Response> {
    let opts = call_options(&query, &headers)?;
    Ok(match platform.call(&caller, &id, &contract, &req, &opts).await? {
        CallAnswer::Done(view) => Json(view).into_response(),
        CallAnswer::Accepted(call) => accepted(call),
    })
}

/// How a call asks to be answered: `wait` and its `Idempotency-Key`.
pub(super) fn call_options(query: &CallQuery, headers: &HeaderMap) -> ApiResult<CallOptions> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v.to_str().ok().filter(|k| {
                (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
            });
            Some(key.map(str::to_owned).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_idempotency_key",
                    "Idempotency-Key is 1 to 255 printable ASCII characters (a UUID, say)",
                )
            })?)
        }
    };
    Ok(CallOptions { wait: query.wait != Some(false), idempotency_key })
}

/// 202 with the call's status, and where to follow it.
pub(super) fn accepted(call: GatewayCallView) -> Response {
    let location = format!("/v1/chains/{}/calls/{}", call.chain_id, call.id);
    (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(call)).into_response()
}
