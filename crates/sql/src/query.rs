//! Read-only queries over the projection: each on its own read-only connection, whose
//! authorizer admits `SELECT`, reads of the ledger tables and functions only, and whose
//! progress handler stops a query past its step budget.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{INTERNAL_PREFIX, SqlError};

/// SQLite calls the progress handler every this many virtual machine steps.
const STEPS_PER_CALL: u64 = 10_000;
/// Longest statement accepted (bytes).
const MAX_STATEMENT_BYTES: i32 = 1 << 20;

/// What one query may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Virtual machine steps (roughly, rows visited times the work per row).
    pub max_steps: u64,
    /// Rows in the result.
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_steps: 200_000_000, max_rows: 100_000 }
    }
}

/// A column of a result: its name and, for a column of a table, its declared (MySQL) type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub decl_type: Option<String>,
}

/// One value of a result.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What a query answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Vec<Cell>>,
}

/// Answers queries over a projection's file (see the module docs).
#[derive(Clone, Debug)]
pub struct QueryEngine {
    path: PathBuf,
}

impl QueryEngine {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        QueryEngine { path: path.into() }
    }

    /// Runs one `SELECT` (with `?` parameters bound to `params`) within `limits`.
    pub fn query(&self, sql: &str, params: &[Cell], limits: Limits) -> Result<ResultSet, SqlError> {
        let conn = self.connect(limits.max_steps)?;
        let mut statement = conn.prepare(sql).map_err(classify)?;
        if !statement.readonly() {
            return Err(SqlError::ReadOnly);
        }
        if statement.parameter_count() != params.len() {
            return Err(SqlError::Invalid(format!(
                "the statement has {} parameters, {} were given",
                statement.parameter_count(),
                params.len()
            )));
        }
        let columns: Vec<ColumnInfo> = statement
            .columns()
            .iter()
            .map(|c| ColumnInfo {
                name: c.name().to_owned(),
                decl_type: c.decl_type().map(str::to_owned),
            })
            .collect();
        let values = params.iter().map(|p| match p {
            Cell::Null => Value::Null,
            Cell::Integer(n) => Value::Integer(*n),
            Cell::Real(x) => Value::Real(*x),
            Cell::Text(s) => Value::Text(s.clone()),
            Cell::Blob(b) => Value::Blob(b.clone()),
        });
        let mut rows = statement.query(rusqlite::params_from_iter(values)).map_err(classify)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| over_budget(e, limits.max_steps))? {
            if out.len() == limits.max_rows {
                return Err(SqlError::TooManyRows(limits.max_rows));
            }
            let cells = (0..columns.len())
                .map(|i| {
                    row.get::<_, Value>(i).map(|v| match v {
                        Value::Null => Cell::Null,
                        Value::Integer(n) => Cell::Integer(n),
                        Value::Real(x) => Cell::Real(x),
                        Value::Text(s) => Cell::Text(s),
                        Value::Blob(b) => Cell::Blob(b),
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(classify)?;
            out.push(cells);
        }
        Ok(ResultSet { columns, rows: out })
    }

    fn connect(&self, max_steps: u64) -> Result<Connection, SqlError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(crate::engine)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT_BYTES)
            .map_err(crate::engine)?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0).map_err(crate::engine)?;
        conn.authorizer(Some(authorize)).map_err(crate::engine)?;
        let calls = Arc::new(AtomicU64::new(0));
        let budget = max_steps / STEPS_PER_CALL;
        conn.progress_handler(
            STEPS_PER_CALL as i32,
            Some(move || calls.fetch_add(1, Ordering::Relaxed) >= budget),
        )
        .map_err(crate::engine)?;
        Ok(conn)
    }
}

/// Reads of the ledger tables and functions pass; writes, schema changes, `PRAGMA`, `ATTACH`
/// and reads of the projection's own tables do not.
fn authorize(context: AuthContext<'_>) -> Authorization {
    match context.action {
        AuthAction::Select | AuthAction::Function { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Read { table_name, .. } if !table_name.starts_with(INTERNAL_PREFIX) => {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

fn over_budget(e: rusqlite::Error, max_steps: u64) -> SqlError {
    match e.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => SqlError::TooLong(max_steps),
        _ => classify(e),
    }
}

/// SQLite's error, as what the user did wrong where it is that.
fn classify(e: rusqlite::Error) -> SqlError {
    let message = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    };
    if e.sqlite_error_code() == Some(ErrorCode::AuthorizationForStatementDenied)
        || message.contains("not authorized")
    {
        return SqlError::ReadOnly;
    }
    if let Some(table) = message.strip_prefix("no such table: ") {
        return SqlError::UnknownTable(format!("table `{table}` does not exist"));
    }
    if let Some(column) = message.strip_prefix("no such column: ") {
        return SqlError::UnknownColumn(format!("unknown column `{column}`"));
    }
    if message.contains("syntax error") || message.contains("incomplete input") {
        return SqlError::Syntax(message);
    }
    match e {
        rusqlite::Error::SqliteFailure(ref f, _)
            if matches!(
                f.code,
                ErrorCode::Unknown | ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch
            ) =>
        {
            SqlError::Invalid(message)
        }
        rusqlite::Error::SqlInputError { .. }
        | rusqlite::Error::InvalidParameterCount(..)
        | rusqlite::Error::MultipleStatement => SqlError::Invalid(message),
        other => SqlError::Engine(other.to_string()),
    }
}
