//! Read-only SQL over the chain's ledger tables: the node's projection (`consortia-sql`,
//! `node/src/ledger.rs`) answers `SELECT`s. Rows are written by transactions to the ledger
//! contract (`docs/system-contracts.md`), never here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use consortia_api::ErrorBody;
use consortia_api::node::{
    SqlColumn, SqlColumnView, SqlIndexView, SqlQuery, SqlResult, SqlTableView,
};
use consortia_api::server::{ApiError, ApiResult, JsonBody};
use consortia_execution::ledger::{self, StoredTable};
use consortia_node::Node;
use consortia_sql::{Cell, Limits, SqlError};
use serde_json::Value;

use crate::QueryPool;

/// Longest wait for the projection to reach a query's `min_height`.
const MIN_HEIGHT_WAIT: Duration = Duration::from_secs(5);

/// Runs a read-only SQL query over the ledger tables
#[utoipa::path(post, path = "/v1/sql/query", tag = "sql", request_body = SqlQuery,
    responses((status = 200, body = SqlResult),
        (status = 400, body = ErrorBody, description = "not a SELECT, a syntax error, an unknown table or column, over a limit"),
        (status = 503, body = ErrorBody, description = "this node keeps no SQL projection, or not up to `min_height` yet")))]
pub(crate) async fn query(
    State(node): State<Arc<Node>>,
    Extension(pool): Extension<QueryPool>,
    JsonBody(q): JsonBody<SqlQuery>,
) -> ApiResult<Json<SqlResult>> {
    let ledger = node.ledger().ok_or_else(|| unavailable("this node keeps no SQL projection"))?;
    let mut projected = ledger.projected().map_err(sql_error)?;
    if let Some(min) = q.min_height {
        let wait = async { projected.wait_for(|h| *h >= min).await.is_ok() };
        if !tokio::time::timeout(MIN_HEIGHT_WAIT, wait).await.unwrap_or(false) {
            return Err(unavailable(format!(
                "the SQL projection has not reached block {min} yet (it is at {}); retry",
                *projected.borrow()
            )));
        }
    }
    let params = q.params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
    let height = *projected.borrow();
    let node = node.clone();
    let result = pool
        .run(move || {
            let ledger =
                node.ledger().ok_or_else(|| SqlError::Engine("no SQL projection".into()))?;
            ledger.query(&q.sql, &params, Limits::default())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(sql_error)?;
    let unsigned: Vec<bool> = result
        .columns
        .iter()
        .map(|c| c.decl_type.as_deref().is_some_and(|t| t.ends_with("UNSIGNED")))
        .collect();
    let rows = result
        .rows
        .into_iter()
        .map(|row| row.into_iter().zip(&unsigned).map(|(cell, u)| json(cell, *u)).collect())
        .collect();
    let columns = result
        .columns
        .into_iter()
        .map(|c| SqlColumn { name: c.name, decl_type: c.decl_type })
        .collect();
    Ok(Json(SqlResult { height, columns, rows }))
}

/// The chain's ledger tables and their schemas
#[utoipa::path(get, path = "/v1/sql/tables", tag = "sql",
    responses((status = 200, body = Vec<SqlTableView>, description = "in the order they were created")))]
pub(crate) async fn tables(State(node): State<Arc<Node>>) -> ApiResult<Json<Vec<SqlTableView>>> {
    let state = node.store().state_at(u64::MAX).map_err(ApiError::internal)?;
    let mut views = vec![];
    for name in ledger::table_names(&*state).map_err(ApiError::internal)? {
        let Some(table) = ledger::get_table(&*state, &name).map_err(ApiError::internal)? else {
            continue;
        };
        let rows = ledger::row_count(&*state, &name).map_err(ApiError::internal)?;
        views.push(table_view(table, rows));
    }
    Ok(Json(views))
}

fn table_view(table: StoredTable, rows: u64) -> SqlTableView {
    let schema = table.schema;
    let names = |positions: &[u16]| {
        positions
            .iter()
            .filter_map(|i| schema.columns.get(usize::from(*i)))
            .map(|c| c.name.clone())
            .collect()
    };
    SqlTableView {
        primary_key: names(&schema.primary_key),
        indexes: schema
            .indexes
            .iter()
            .map(|i| SqlIndexView { name: i.name.clone(), columns: names(&i.columns) })
            .collect(),
        columns: schema
            .columns
            .iter()
            .map(|c| SqlColumnView {
                name: c.name.clone(),
                column_type: c.ty.mysql_name(),
                nullable: c.nullable,
                auto_increment: c.auto_increment,
            })
            .collect(),
        name: schema.name.clone(),
        creator: table.creator.to_checksum_hex(),
        tx_hash: table.tx_hash.to_hex(),
        height: table.height,
        rows,
    }
}

fn param(value: &Value) -> Result<Cell, ApiError> {
    Ok(match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Cell::Integer(i),
            (None, Some(x)) => Cell::Real(x),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "sql_invalid",
                    format!("parameter {n} is out of range"),
                ));
            }
        },
        Value::String(s) => Cell::Text(s.clone()),
        other => {
            return Err(ApiError::bad_request(
                "sql_invalid",
                format!("a parameter is null, a boolean, a number or a string, not {other}"),
            ));
        }
    })
}

/// A value as JSON. SQLite keeps a `BIGINT UNSIGNED` over 2^63 - 1 as its two's complement
/// (`consortia-sql`); an unsigned column shows it as the number it is.
fn json(cell: Cell, unsigned: bool) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Integer(n) if unsigned && n < 0 => Value::from(n as u64),
        Cell::Integer(n) => Value::from(n),
        Cell::Real(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        Cell::Text(s) => Value::String(s),
        Cell::Blob(b) => Value::String(format!("0x{}", hex::encode(b))),
    }
}

fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "sql_unavailable", message)
}

fn sql_error(e: SqlError) -> ApiError {
    let code = match &e {
        SqlError::ReadOnly => "sql_read_only",
        SqlError::Syntax(_) => "sql_syntax",
        SqlError::UnknownTable(_) => "sql_unknown_table",
        SqlError::UnknownColumn(_) => "sql_unknown_column",
        SqlError::TooLong(_) => "sql_too_long",
        SqlError::TooManyRows(_) => "sql_too_many_rows",
        SqlError::Invalid(_) => "sql_invalid",
        SqlError::Engine(_) | SqlError::Tampered(_) => return unavailable(e.to_string()),
        SqlError::Execution(_) | SqlError::Storage(_) => return ApiError::internal(e),
    };
    ApiError::bad_request(code, e.to_string())
}
