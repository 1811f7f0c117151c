//! A chain's ledger tables through the REST API (the console's SQL page): the table list, one
//! statement at a time as the MySQL gateway runs it (`sql_gateway`), and a row proven from the
//! genesis the platform launched the chain with (`ledger_verify`). Errors are the platform's;
//! a statement's MySQL error keeps its code and SQLSTATE in the message.

use consortia_api::node::SqlTableView;
use consortia_api::platform::{
    ChainView, RowProofView, SqlStatementRequest, SqlStatementView, SqlVerifyRequest,
};
use consortia_types::Genesis;

use super::ledger_sql::{MysqlError, Statement, parse};
use super::ledger_verify::{VerifyError, verify_row};
use crate::Platform;
use crate::error::{Error, Result};
use crate::service::identity::Caller;
use crate::store::chains as store;

impl Platform {
    /// The chain's ledger tables with their schemas and row counts, in creation order.
    pub async fn sql_tables(&self, caller: &Caller, chain: &str) -> Result<Vec<SqlTableView>> {
        let chain = self.readable_chain(caller, chain).await?;
        self.governance_read(&chain, |node| async move { node.sql_tables().await }).await
    }

    /// Runs one `SELECT`, `INSERT` or `CREATE TABLE` on the chain.
    pub async fn sql_statement(
        &self,
        caller: &Caller,
        chain: &str,
        req: &SqlStatementRequest,
    ) -> Result<SqlStatementView> {
        let chain = self.readable_chain(caller, chain).await?;
        let written = |write: super::sql_gateway::SqlWrite| SqlStatementView {
            columns: vec![],
            rows: vec![],
            affected_rows: write.affected_rows,
            last_insert_id: write.last_insert_id,
            height: write.height,
        };
        let view = match parse(&req.sql).map_err(platform_error)? {
            Statement::Select(sql) => {
                let min_height = req.min_height.unwrap_or(0);
                let result = self.mysql_select(&chain, &sql, &[], min_height).await;
                let result = result.map_err(platform_error)?;
                SqlStatementView {
                    columns: result.columns,
                    rows: result.rows,
                    affected_rows: 0,
                    last_insert_id: 0,
                    height: result.height,
                }
            }
            Statement::Insert { table, columns, rows } => {
                let org = req.org_id.as_deref();
                let insert =
                    self.mysql_insert(caller, &chain, org, &table, columns.as_deref(), &rows, &[]);
                written(insert.await.map_err(platform_error)?)
            }
            Statement::CreateTable(schema) => written(
                self.mysql_create_table(caller, &chain, req.org_id.as_deref(), &schema)
                    .await
                    .map_err(platform_error)?,
            ),
            _ => {
                return Err(Error::invalid(
                    "sql_unsupported",
                    "this endpoint runs SELECT, INSERT and CREATE TABLE; GET …/sql/tables lists the tables with their schemas, and the MySQL gateway answers the rest",
                ));
            }
        };
        Ok(view)
    }

    /// The genesis a chain the caller sees was launched with.
    pub async fn chain_genesis(&self, caller: &Caller, chain: &str) -> Result<Genesis> {
        let chain = self.visible_chain(caller, chain).await?;
        self.launched_genesis(&chain, "take the genesis.json of one of its nodes").await
    }

    /// The genesis the platform launched `chain` with (to check proofs against); `otherwise`
    /// says what to do for a chain started before the platform kept it.
    pub(crate) async fn launched_genesis(
        &self,
        chain: &ChainView,
        otherwise: &str,
    ) -> Result<Genesis> {
        let genesis = store::genesis(&self.db, &chain.id).await?.ok_or_else(|| {
            Error::illegal_step(format!(
                "chain {} started before the platform kept its genesis: {otherwise}",
                chain.id
            ))
        })?;
        serde_json::from_str(&genesis).map_err(Error::internal)
    }

    /// Proves a row from the chain's genesis through any node, and compares that node's
    /// projection with it (see `ledger_verify`).
    pub async fn sql_verify(
        &self,
        caller: &Caller,
        chain: &str,
        req: &SqlVerifyRequest,
    ) -> Result<RowProofView> {
        let chain = self.readable_chain(caller, chain).await?;
        let genesis =
            &self.launched_genesis(&chain, "verify with `consortia sql verify --genesis`").await?;
        let proven = self
            .on_any_node(&chain, |node| async move {
                match verify_row(&node, genesis, &req.table, &req.key).await {
                    Err(VerifyError::Node(e)) => Err(e),
                    other => Ok(other),
                }
            })
            .await?
            .map_err(|e| Error::Upstream { code: "chain_failed", message: e.to_string() })?
            .map_err(|e| match e {
                VerifyError::Absent(message) => Error::NotFound(message),
                e => Error::conflict("not_verified", e.to_string()),
            })?;
        let names = proven.schema.columns.iter().map(|c| c.name.clone());
        let columns =
            names.chain(["_tx", "_height", "_signer", "_row_hash"].map(String::from)).collect();
        Ok(RowProofView {
            table: req.table.clone(),
            columns,
            values: proven.values(),
            headers: proven.headers,
            projection_matches: proven.projection.is_ok(),
            projection_detail: proven.projection.err(),
            certificate: proven.certificate,
            table_proof: proven.table_proof,
            row_proof: proven.row_proof,
        })
    }
}

/// A statement's MySQL error as the platform's: who may not, what waits for a vote, what
/// timed out; anything else is the statement's fault, its code and SQLSTATE kept.
fn platform_error(e: MysqlError) -> Error {
    match e.code {
        1044 | 1142 => Error::Forbidden(e.message),
        1045 => Error::Unauthorized(e.message),
        1290 if e.message.contains("members' approval") => {
            Error::conflict("approval_pending", e.message)
        }
        1205 => Error::Timeout(e.message),
        1105 => Error::Upstream { code: "chain_failed", message: e.message },
        _ => Error::invalid("sql_refused", e.to_string()),
    }
}
