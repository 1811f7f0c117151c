//! Business services: digital assets (`/v1/chains/{id}/assets*`) and the shared ledger
//! (`/v1/chains/{id}/shared-ledger*`).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use consortia_api::ErrorBody;
use consortia_api::platform::{
    AssetAction, AssetActionRequest, AssetLedgerQuery, AssetLedgerView, AssetView, CallQuery,
    CallView, EntryQuery, EntryView, GatewayCallView, IssueAssetRequest, PartyBalance,
    PostEntryRequest, ReconciliationQuery, ReconciliationView, SettleEntryRequest,
};
use consortia_api::server::{ApiResult, JsonBody, JsonOrEmpty, PathParams, QueryParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use super::contracts::{accepted, call_options};
use crate::Platform;
use crate::service::contracts::CallAnswer;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(issue_asset, list_assets))
        .routes(routes!(show_asset))
        .routes(routes!(asset_holders))
        .routes(routes!(asset_action))
        .routes(routes!(post_entry, list_entries))
        .routes(routes!(show_entry))
        .routes(routes!(confirm_entry))
        .routes(routes!(dispute_entry))
        .routes(routes!(party_balances))
        .routes(routes!(reconciliation))
}

/// Issue a new digital asset: the platform deploys the standard ERC-20 (fungible) or ERC-721
/// (non-fungible) contract for the organization you act for, whose account becomes the
/// asset's issuer (it alone issues, freezes and unfreezes, checked on chain). The chain's
/// deploy policy applies
#[utoipa::path(post, path = "/v1/chains/{id}/assets", tag = "assets",
    params(("id" = String, Path, description = "Chain id")),
    request_body = IssueAssetRequest,
    responses(
        (status = 201, body = AssetView),
        (status = 400, description = "Bad name, symbol or decimals", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The name is taken, the chain is not running, or its members approve deployments (`approval_pending`)", body = ErrorBody),
        (status = 502, description = "No node of the chain answers", body = ErrorBody),
    ))]
async fn issue_asset(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<IssueAssetRequest>,
) -> ApiResult<(StatusCode, Json<AssetView>)> {
    Ok((StatusCode::CREATED, Json(platform.issue_asset(&caller, &id, &req).await?)))
}

/// The chain's digital assets, with their supply as the chain holds it
#[utoipa::path(get, path = "/v1/chains/{id}/assets", tag = "assets",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<AssetView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn list_assets(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<AssetView>>> {
    Ok(Json(platform.assets(&caller, &id).await?))
}

/// A digital asset
#[utoipa::path(get, path = "/v1/chains/{id}/assets/{asset}", tag = "assets",
    params(("id" = String, Path, description = "Chain id"), ("asset" = String, Path, description = "Asset name")),
    responses((status = 200, body = AssetView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn show_asset(
    Ctx { platform, caller }: Ctx,
    PathParams((id, asset)): PathParams<(String, String)>,
) -> ApiResult<Json<AssetView>> {
    Ok(Json(platform.asset(&caller, &id, &asset).await?))
}

/// An asset's holders (largest first, organizations' accounts named) and latest transfers,
/// as its `Transfer`, `Frozen` and `Unfrozen` events add up
#[utoipa::path(get, path = "/v1/chains/{id}/assets/{asset}/holders", tag = "assets",
    params(("id" = String, Path, description = "Chain id"), ("asset" = String, Path, description = "Asset name"), AssetLedgerQuery),
    responses((status = 200, body = AssetLedgerView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn asset_holders(
    Ctx { platform, caller }: Ctx,
    PathParams((id, asset)): PathParams<(String, String)>,
    QueryParams(query): QueryParams<AssetLedgerQuery>,
) -> ApiResult<Json<AssetLedgerView>> {
    Ok(Json(platform.asset_ledger(&caller, &id, &asset, &query).await?))
}

/// Issue, transfer, burn, freeze or unfreeze: a contract gateway call of the asset's
/// function, signed with `key` (else the organization's account), answered like
/// `…/contracts/{contract}/call` (`wait=false`, `Idempotency-Key`)
#[utoipa::path(post, path = "/v1/chains/{id}/assets/{asset}/{action}", tag = "assets",
    params(
        ("id" = String, Path, description = "Chain id"),
        ("asset" = String, Path, description = "Asset name"),
        ("action" = inline(AssetAction), Path, description = "issue, transfer, burn, freeze or unfreeze"),
        CallQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: a retry with the same key and request returns the first call"),
    ),
    request_body = AssetActionRequest,
    responses(
        (status = 200, body = CallView),
        (status = 202, description = "Sent (`wait=false`): follow the call", body = GatewayCallView),
        (status = 400, description = "A field missing or malformed, or the asset refuses (with its reason: a frozen account, a balance too small, not the issuer)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody),
    ))]
async fn asset_action(
    Ctx { platform, caller }: Ctx,
    PathParams((id, asset, action)): PathParams<(String, String, AssetAction)>,
    QueryParams(query): QueryParams<CallQuery>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<AssetActionRequest>,
) -> ApiResult<Response> {
    let opts = call_options(&query, &headers)?;
    Ok(match platform.asset_action(&caller, &id, &asset, action, &req, &opts).await? {
        CallAnswer::Done(view) => Json(view).into_response(),
        CallAnswer::Accepted(call) => accepted(call),
    })
}

/// Post a shared-ledger entry as one of its parties (the organization you act for), signed
/// with its account; the chain's first entry deploys the ledger contract
#[utoipa::path(post, path = "/v1/chains/{id}/shared-ledger/entries", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id")),
    request_body = PostEntryRequest,
    responses(
        (status = 201, body = EntryView),
        (status = 400, description = "A bad amount or hash, or the ledger refuses (with its reason: not a party, not a member, a zero amount)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain is not running, or its members approve deployments (`approval_pending`)", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody),
    ))]
async fn post_entry(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<PostEntryRequest>,
) -> ApiResult<(StatusCode, Json<EntryView>)> {
    Ok((StatusCode::CREATED, Json(platform.post_entry(&caller, &id, &req).await?)))
}

/// The shared ledger's entries, oldest first
#[utoipa::path(get, path = "/v1/chains/{id}/shared-ledger/entries", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id"), EntryQuery),
    responses((status = 200, body = Vec<EntryView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn list_entries(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<EntryQuery>,
) -> ApiResult<Json<Vec<EntryView>>> {
    Ok(Json(platform.entries(&caller, &id, &query).await?))
}

/// A shared-ledger entry
#[utoipa::path(get, path = "/v1/chains/{id}/shared-ledger/entries/{entry}", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id"), ("entry" = u64, Path, description = "Entry id")),
    responses((status = 200, body = EntryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn show_entry(
    Ctx { platform, caller }: Ctx,
    PathParams((id, entry)): PathParams<(String, u64)>,
) -> ApiResult<Json<EntryView>> {
    Ok(Json(platform.entry(&caller, &id, entry).await?))
}

/// Confirm an entry as its counterparty: it counts in both parties' balances
#[utoipa::path(post, path = "/v1/chains/{id}/shared-ledger/entries/{entry}/confirm", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id"), ("entry" = u64, Path, description = "Entry id")),
    request_body(content = SettleEntryRequest, description = "Optional: `org_id`"),
    responses(
        (status = 200, body = EntryView),
        (status = 400, description = "The ledger refuses (with its reason: not the counterparty, settled already)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
    ))]
async fn confirm_entry(
    Ctx { platform, caller }: Ctx,
    PathParams((id, entry)): PathParams<(String, u64)>,
    JsonOrEmpty(req): JsonOrEmpty<SettleEntryRequest>,
) -> ApiResult<Json<EntryView>> {
    Ok(Json(platform.settle_entry(&caller, &id, entry, true, &req).await?))
}

/// Dispute an entry as its counterparty, saying why: it does not count in the balances
#[utoipa::path(post, path = "/v1/chains/{id}/shared-ledger/entries/{entry}/dispute", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id"), ("entry" = u64, Path, description = "Entry id")),
    request_body = SettleEntryRequest,
    responses(
        (status = 200, body = EntryView),
        (status = 400, description = "No reason, or the ledger refuses (with its reason)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
    ))]
async fn dispute_entry(
    Ctx { platform, caller }: Ctx,
    PathParams((id, entry)): PathParams<(String, u64)>,
    JsonBody(req): JsonBody<SettleEntryRequest>,
) -> ApiResult<Json<EntryView>> {
    Ok(Json(platform.settle_entry(&caller, &id, entry, false, &req).await?))
}

/// Every party's confirmed balance per currency, as the ledger contract holds it
#[utoipa::path(get, path = "/v1/chains/{id}/shared-ledger/balances", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<PartyBalance>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn party_balances(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<PartyBalance>>> {
    Ok(Json(platform.party_balances(&caller, &id).await?))
}

/// An organization's reconciliation report: its balances, per counterparty and currency what
/// is confirmed, pending and disputed, and the entries waiting on it or on the other side
#[utoipa::path(get, path = "/v1/chains/{id}/shared-ledger/reconciliation", tag = "shared-ledger",
    params(("id" = String, Path, description = "Chain id"), ReconciliationQuery),
    responses((status = 200, body = ReconciliationView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn reconciliation(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<ReconciliationQuery>,
) -> ApiResult<Json<ReconciliationView>> {
    Ok(Json(platform.reconciliation(&caller, &id, query.org.as_deref()).await?))
}
