//! The SQL ledger's node-side half: a SQLite projection of the ledger tables, kept in step with the chain, and a read-only query engine over it.
//!
//! The chain is the truth: a ledger table's schema and rows are entries of the authenticated
//! state, written by the ledger system contract (`consortia_execution::ledger`). A node keeps
//! a [`Projection`] of them in an embedded SQLite file, so that `SELECT` with joins,
//! aggregates, `GROUP BY` and secondary indexes runs on a maintained engine instead of a
//! hand-written one. Each projected row carries the system columns `_tx`, `_height`,
//! `_signer` and `_row_hash` (the hash of the row's state entry, which its state proof proves).
//!
//! The projection is derived data: [`Projection::check`] compares it with the state (every
//! table, row count and row), so an edited file is caught, and the node rebuilds it from the
//! chain. [`QueryEngine`] answers queries on read-only connections whose authorizer admits
//! reads only, within a step budget.
//!
//! This crate knows nothing of HTTP or of the MySQL protocol: the node API serves queries, the
//! platform's gateway speaks MySQL.

mod projection;
mod query;

pub use projection::Projection;
pub use query::{Cell, ColumnInfo, Limits, QueryEngine, ResultSet};

use consortia_execution::ExecutionError;
use consortia_storage::StorageError;

/// Prefix of the projection's own tables, which queries cannot read.
const INTERNAL_PREFIX: &str = "_consortia";

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// Anything but a read: the ledger is written by transactions.
    #[error(
        "only SELECT is answered here: ledger rows are written by transactions (INSERT through the SQL gateway) and never changed"
    )]
    ReadOnly,
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    #[error("{0}")]
    UnknownTable(String),
    #[error("{0}")]
    UnknownColumn(String),
    #[error(
        "the query needs more than its budget of {0} steps; narrow it (WHERE on a key or an index, LIMIT)"
    )]
    TooLong(u64),
    #[error("the result has more than {0} rows; add a LIMIT")]
    TooManyRows(usize),
    /// Another mistake in the statement (a misused aggregate, a wrong argument count, …).
    #[error("{0}")]
    Invalid(String),
    /// The projection's file disagrees with the chain's state.
    #[error("the SQL projection disagrees with the chain: {0}")]
    Tampered(String),
    #[error("SQL projection: {0}")]
    Engine(String),
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl SqlError {
    /// Whether the statement, not the node, is at fault.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SqlError::ReadOnly
                | SqlError::Syntax(_)
                | SqlError::UnknownTable(_)
                | SqlError::UnknownColumn(_)
                | SqlError::TooLong(_)
                | SqlError::TooManyRows(_)
                | SqlError::Invalid(_)
        )
    }
}

fn engine(e: impl std::fmt::Display) -> SqlError {
    SqlError::Engine(e.to_string())
}

/// A name, quoted for SQLite (ledger names are `[a-z][a-z0-9_]*`, so quoting is for keywords).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
