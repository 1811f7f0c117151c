//! `/v1/chains/{id}/explorer/*`, `/v1/chains/{id}/transactions/{hash}`: a chain's explorer
//! reads through its nodes, and transactions decoded with the chain's ABIs;
//! `/v1/chains/{id}/address-book`: the names of its addresses.

use std::sync::Arc;

use axum::Json;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use consortia_api::ErrorBody;
use consortia_api::platform::AddressName;
use consortia_api::server::{ApiResult, PathParams};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new().routes(routes!(chain_transaction)).routes(routes!(address_book))
}

/// The explorer's proxy route: its path parameter is a wildcard (`{*path}`), which OpenAPI
/// cannot spell, so it is routed here and documented as [`explorer_read`] with `{path}`.
pub(super) const READ_ROUTE: &str = "/v1/chains/{id}/explorer/{*path}";

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// Read a chain through one of its nodes (the node API's explorer reads: `blocks`,
/// `transactions`, `addresses/{address}/transactions`, `tokens/{address}[/holders|/transfers]`,
/// `stats/volume`, `stats/totals`,
/// `accounts/{address}`, `validators?height=`,
/// `status`, `notary/…`)
#[utoipa::path(get, path = "/v1/chains/{id}/explorer/{path}", tag = "explorer",
    params(
        ("id" = String, Path, description = "Chain id"),
        ("path" = String, Path, description = "A node API path after /v1/ (it may hold `/`), with its query"),
    ),
    responses(
        (status = 200, description = "The node's answer", body = Object),
        (status = 400, description = "The node refused the read", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not an explorer read, or nothing there", body = ErrorBody),
        (status = 409, description = "The chain does not run", body = ErrorBody),
        (status = 502, description = "No node answers", body = ErrorBody),
    ))]
pub(super) async fn explorer_read(
    Ctx { platform, caller }: Ctx,
    PathParams((id, path)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (code, body) = platform.explorer_read(&caller, &id, &path, query.as_deref()).await?;
    Ok((status(code), Json(body)))
}

/// The names the platform knows for the chain's addresses (its deployed contracts, its
/// organizations' accounts), for an explorer to show instead of the hex
#[utoipa::path(get, path = "/v1/chains/{id}/address-book", tag = "explorer",
    params(("id" = String, Path, description = "Chain id")),
    responses(
        (status = 200, body = Vec<AddressName>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain does not run", body = ErrorBody),
        (status = 503, description = "The keystore is sealed", body = ErrorBody),
    ))]
async fn address_book(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<AddressName>>> {
    Ok(Json(platform.address_book(&caller, &id).await?))
}

/// A transaction, decoded with the ABI of the contract it calls or created
#[utoipa::path(get, path = "/v1/chains/{id}/transactions/{hash}", tag = "explorer",
    params(("id" = String, Path, description = "Chain id"), ("hash" = String, Path, description = "Transaction hash, 0x + 64 hex digits")),
    responses(
        (status = 200, description = "The node's transaction lookup, plus `decoded` when a contract of the chain is involved", body = Object),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain does not run", body = ErrorBody),
        (status = 502, description = "No node answers", body = ErrorBody),
    ))]
async fn chain_transaction(
    Ctx { platform, caller }: Ctx,
    PathParams((id, hash)): PathParams<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (code, body) = platform.chain_transaction(&caller, &id, &hash).await?;
    Ok((status(code), Json(body)))
}
