//! `/v1/chains/{id}/sql*`: a chain's ledger tables through the platform, as the console's SQL
//! page uses them. Statements are read as the MySQL gateway reads them; writes are signed with
//! the key the platform keeps for the organization the caller acts for.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::node::{CertifiedHeaderView, SqlColumn, StateProofView};

/// One SQL statement: `SELECT`, `INSERT` or `CREATE TABLE` (MySQL's dialect).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlStatementRequest {
    pub sql: String,
    /// Answer a `SELECT` only once this block is applied (the `height` of your last write), so
    /// a read sees it on whichever node answers.
    #[serde(default)]
    pub min_height: Option<u64>,
    /// The organization a write is signed for (default: your only one in the chain).
    #[serde(default)]
    pub org_id: Option<String>,
}

/// What a statement did: a read's columns and rows, or a write's counts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlStatementView {
    /// A read's columns (empty for a write).
    pub columns: Vec<SqlColumn>,
    /// A read's rows: null, numbers, strings, and `0x` hex for binary columns.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows an `INSERT` added.
    pub affected_rows: u64,
    /// The first `AUTO_INCREMENT` value an `INSERT` gave (0: none).
    pub last_insert_id: u64,
    /// The block holding a write, or the block a read saw.
    pub height: u64,
}

/// A row to prove, by its table and primary key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlVerifyRequest {
    pub table: String,
    /// The primary key's values, in key order, as text (`0x` hex for a binary column).
    pub key: Vec<String>,
}

/// A row the platform proved from the chain's genesis, trusting nothing the node said: every
/// certified header followed from block 1, then the state proofs of the table and of the row
/// checked under the last header's state root.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RowProofView {
    pub table: String,
    /// The row's columns, then `_tx`, `_height`, `_signer`, `_row_hash`.
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<serde_json::Value>,
    /// How many certified headers were checked.
    pub headers: u64,
    /// The block whose state root proves the row, with its commit certificate.
    pub certificate: CertifiedHeaderView,
    /// The checked proofs: the table's schema and the row.
    pub table_proof: StateProofView,
    pub row_proof: StateProofView,
    /// Whether the node's SQL projection holds the same row.
    pub projection_matches: bool,
    /// How the projection differs, when it does (an edited projection file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection_detail: Option<String>,
}

/// Where the platform's MySQL gateway listens (`GET /v1/sql/gateway`): connect with any
/// MySQL client, as a platform user with one of their API keys as the password, to a
/// running chain by its id as the database.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlGatewayView {
    /// The address it is bound to; an unspecified one (`0.0.0.0`, `::`) means every address
    /// of the platform's host.
    pub host: String,
    pub port: u16,
    /// Whether clients must use TLS (the platform's HTTPS certificate).
    pub tls: bool,
}
