//! `/v1/chains/{id}/sql*`: a running chain's ledger tables (TrustSQL) for the console: the
//! tables, one statement at a time (as the MySQL gateway reads it), and a row proven from the
//! chain's genesis.

use std::sync::Arc;

use axum::Json;
use consortia_api::ErrorBody;
use consortia_api::node::SqlTableView;
use consortia_api::platform::{
    RowProofView, SqlGatewayView, SqlStatementRequest, SqlStatementView, SqlVerifyRequest,
};
use consortia_api::server::{ApiResult, JsonBody, PathParams};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Ctx;
use crate::Platform;

pub(super) fn routes() -> OpenApiRouter<Arc<Platform>> {
    OpenApiRouter::new()
        .routes(routes!(list_tables))
        .routes(routes!(run_statement))
        .routes(routes!(verify_row))
        .routes(routes!(sql_gateway))
}

/// Where the MySQL gateway listens: connect as your platform user with an API key as the
/// password, to a running chain by its id as the database (`mysql -h HOST -P PORT -u USER -p
/// CHAIN_ID`)
#[utoipa::path(get, path = "/v1/sql/gateway", tag = "sql",
    responses((status = 200, body = SqlGatewayView),
        (status = 404, description = "This platform serves no MySQL gateway", body = ErrorBody)))]
async fn sql_gateway(Ctx { platform, .. }: Ctx) -> ApiResult<Json<SqlGatewayView>> {
    Ok(Json(platform.sql_gateway()?))
}

/// A running chain's ledger tables, in creation order, each with its schema (columns with
/// their MySQL types, primary key, indexes), creator and row count
#[utoipa::path(get, path = "/v1/chains/{id}/sql/tables", tag = "sql",
    params(("id" = String, Path, description = "Chain id")),
    responses((status = 200, body = Vec<SqlTableView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The chain does not run", body = ErrorBody)))]
async fn list_tables(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<Vec<SqlTableView>>> {
    Ok(Json(platform.sql_tables(&caller, &id).await?))
}

/// Run one statement on the chain's ledger tables (MySQL's dialect): a `SELECT` (read-only,
/// answered from a node's projection of the committed rows, with the system columns `_tx`,
/// `_height`, `_signer`, `_row_hash`), or an `INSERT` / `CREATE TABLE` signed for the
/// organization you act for and answered once its block is final. `UPDATE`, `DELETE`, `DROP`,
/// `ALTER` and the like are refused: a ledger keeps every row
#[utoipa::path(post, path = "/v1/chains/{id}/sql", tag = "sql",
    params(("id" = String, Path, description = "Chain id")),
    request_body = SqlStatementRequest,
    responses(
        (status = 200, body = SqlStatementView),
        (status = 400, description = "The statement is refused (`sql_refused`: its MySQL error code and SQLSTATE in the message; `sql_unsupported`)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain does not run, or (`approval_pending`) its deploy policy needs the members' approval of a new table: the platform proposed it; run the statement again once the proposal executed", body = ErrorBody),
        (status = 502, description = "No node answered", body = ErrorBody),
        (status = 504, description = "The write was not committed in time", body = ErrorBody),
    ))]
async fn run_statement(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<SqlStatementRequest>,
) -> ApiResult<Json<SqlStatementView>> {
    Ok(Json(platform.sql_statement(&caller, &id, &req).await?))
}

/// Prove a row: the platform follows every certified header from the chain's genesis, checks
/// the state proofs of the table and the row under the last one, and compares a node's SQL
/// projection with the proven row (`projection_matches`). For a check that trusts neither the
/// node nor the platform, run `consortia sql verify --genesis` yourself
#[utoipa::path(post, path = "/v1/chains/{id}/sql/verify", tag = "sql",
    params(("id" = String, Path, description = "Chain id")),
    request_body = SqlVerifyRequest,
    responses(
        (status = 200, body = RowProofView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such chain, table or row (the absence is proven)", body = ErrorBody),
        (status = 409, description = "`not_verified`: a certificate, header or proof the node served does not check out; or the chain does not run", body = ErrorBody),
        (status = 502, description = "No node answered", body = ErrorBody),
    ))]
async fn verify_row(
    Ctx { platform, caller }: Ctx,
    PathParams(id): PathParams<String>,
    JsonBody(req): JsonBody<SqlVerifyRequest>,
) -> ApiResult<Json<RowProofView>> {
    Ok(Json(platform.sql_verify(&caller, &id, &req).await?))
}
