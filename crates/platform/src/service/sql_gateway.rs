//! The SQL gateway's domain, under the MySQL listener (`crate::mysql`): who a MySQL login is
//! (a platform user proving one of their API keys), which databases they see (the running
//! chains they may read, by id), and what a statement does on a chain's ledger tables:
//!
//! - `SELECT` goes to a node's SQL projection, waiting for the session's own latest write;
//! - `INSERT` and `CREATE TABLE` are transactions to the ledger contract signed with the
//!   managed key of the organization the user acts for on that chain (as a contract call
//!   from the console is), answered once their block is final;
//! - a chain's refusal (a duplicate key, an unknown table) comes back as the MySQL error a
//!   server would send.
//!
//! It speaks [`MysqlError`]: what a MySQL client reads is the only answer it has.

use std::collections::HashMap;
use std::sync::Mutex;

use alloy_sol_types::{SolCall, SolEvent};
use consortia_api::ClientError;
use consortia_api::node::{SqlQuery, SqlResult};
use consortia_api::platform::{ChainStatus, ChainView, SqlGatewayView};
use consortia_types::ledger::{LEDGER_ADDRESS, SqlValue, StoredTable, TableSchema, table_key};
use consortia_types::{decode, encode};
use serde_json::Value;

use super::abi::receipt_logs;
use super::ledger_sql::{Literal, MysqlError, insert_rows, json_value};
use crate::Platform;
use crate::credentials::mysql_response_matches;
use crate::error::Error;
use crate::service::identity::Caller;
use crate::store::identity as users;
use crate::store::now_ms;

alloy_sol_types::sol!("../../contracts/system/ILedger.sol");

/// What a write did: MySQL's affected rows and last insert id, and the block that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlWrite {
    pub affected_rows: u64,
    /// The first `AUTO_INCREMENT` value the statement gave (0: none).
    pub last_insert_id: u64,
    pub height: u64,
}

/// The schemas of ledger tables by chain and name. A committed schema never changes (no
/// `ALTER`), so what was read once holds for good.
#[derive(Debug, Default)]
pub struct SchemaCache(Mutex<HashMap<(String, String), TableSchema>>);

impl SchemaCache {
    fn get(&self, chain: &str, table: &str) -> Option<TableSchema> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&(chain.to_owned(), table.to_owned())).cloned()
    }

    fn put(&self, chain: &str, schema: &TableSchema) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert((chain.to_owned(), schema.name.clone()), schema.clone());
    }
}

impl Platform {
    /// Records where the MySQL listener serves (`consortia platform --mysql-listen`), for
    /// clients to be told ([`Platform::sql_gateway`]); the first call counts.
    pub fn serving_mysql(&self, address: std::net::SocketAddr, tls: bool) {
        let view = SqlGatewayView { host: address.ip().to_string(), port: address.port(), tls };
        // A second listener is not made; keeping the first answer is all there is to do.
        let _ = self.mysql.set(view);
    }

    /// Where the MySQL gateway listens; 404 when this platform serves none.
    pub fn sql_gateway(&self) -> Result<SqlGatewayView, Error> {
        self.mysql.get().cloned().ok_or_else(|| {
            Error::NotFound(
                "this platform serves no MySQL gateway: start it with --mysql-listen ADDRESS"
                    .into(),
            )
        })
    }
}

impl Platform {
    /// The user whose live API key answers the MySQL scramble `response` to `salt`, in either
    /// plugin. Failures are throttled as password logins are, per user and address.
    pub async fn mysql_login(
        &self,
        username: &str,
        salt: &[u8],
        response: &[u8],
        address: Option<std::net::IpAddr>,
    ) -> Result<Caller, MysqlError> {
        let denied = || {
            MysqlError::new(
                1045,
                "28000",
                format!(
                    "Access denied for user '{username}' (the password is one of your API keys)"
                ),
            )
        };
        self.throttle.check(username, address, now_ms()).map_err(|e| MysqlError::from(&e))?;
        let user = users::user_by_name(&self.db, username).await.map_err(|e| internal(&e))?;
        let verifiers = match &user {
            Some(u) => {
                users::mysql_verifiers_of(&self.db, &u.id).await.map_err(|e| internal(&e))?
            }
            None => vec![],
        };
        let matches = verifiers
            .iter()
            .any(|(native, sha2)| mysql_response_matches(native, sha2, salt, response));
        match user.filter(|_| matches) {
            Some(u) if u.disabled => Err(MysqlError::new(
                1045,
                "28000",
                format!("Access denied for user '{username}' (the account is disabled)"),
            )),
            Some(u) => {
                self.throttle.succeeded(username, address);
                Ok(Caller { user_id: u.id, username: u.username, admin: u.admin, session: None })
            }
            None => {
                self.throttle.failed(username, address, now_ms());
                Err(denied())
            }
        }
    }

    /// The databases a MySQL session sees: the running chains the caller may read, by id.
    pub async fn mysql_databases(&self, caller: &Caller) -> Result<Vec<String>, MysqlError> {
        let mut out = vec![];
        for chain in self.chains(caller).await.map_err(|e| MysqlError::from(&e))? {
            if chain.status == ChainStatus::Running
                && self.readable_chain(caller, &chain.id).await.is_ok()
            {
                out.push(chain.id);
            }
        }
        Ok(out)
    }

    /// The chain a `USE` (or a connection's database) names, if the caller may read it.
    pub async fn mysql_database(&self, caller: &Caller, db: &str) -> Result<ChainView, MysqlError> {
        self.readable_chain(caller, db).await.map_err(|e| match e {
            Error::NotFound(_) => {
                MysqlError::new(1049, "42000", format!("Unknown database '{db}'"))
            }
            Error::Forbidden(_) => MysqlError::new(
                1044,
                "42000",
                format!("Access denied for user '{}' to database '{db}'", caller.username),
            ),
            e => MysqlError::from(&e),
        })
    }

    /// A read, answered by a node whose projection has applied block `min_height`.
    pub async fn mysql_select(
        &self,
        chain: &ChainView,
        sql: &str,
        params: &[SqlValue],
        min_height: u64,
    ) -> Result<SqlResult, MysqlError> {
        let query = SqlQuery {
            sql: sql.to_owned(),
            params: params.iter().map(json_value).collect(),
            min_height: Some(min_height),
        };
        let answer = self
            .on_any_node(chain, |node| {
                let query = query.clone();
                async move { node.sql_query(&query).await }
            })
            .await
            .map_err(|e| MysqlError::from(&e))?;
        answer.map_err(|e| node_refusal(&e))
    }

    /// A committed table of the chain, from a node's state (then from the cache).
    pub async fn mysql_table(
        &self,
        chain: &ChainView,
        name: &str,
    ) -> Result<TableSchema, MysqlError> {
        if let Some(schema) = self.sql_schemas.get(&chain.id, name) {
            return Ok(schema);
        }
        // As hex: the key's slashes would end the path segment.
        let key = format!("0x{}", hex::encode(table_key(name)));
        let answer = self
            .on_any_node(chain, |node| {
                let key = key.clone();
                async move { node.state(&key, &Default::default()).await }
            })
            .await
            .map_err(|e| MysqlError::from(&e))?
            .map_err(|e| node_refusal(&e))?;
        let value = answer.value.ok_or_else(|| MysqlError::no_such_table(name))?;
        let bytes = hex::decode(value.trim_start_matches("0x")).map_err(|e| internal(&e))?;
        let stored: StoredTable = decode(&bytes).map_err(|e| internal(&e))?;
        self.sql_schemas.put(&chain.id, &stored.schema);
        Ok(stored.schema)
    }

    /// The chain's ledger tables' names, in the order they were created.
    pub async fn mysql_tables(&self, chain: &ChainView) -> Result<Vec<String>, MysqlError> {
        let tables = self
            .on_any_node(chain, |node| async move { node.sql_tables().await })
            .await
            .map_err(|e| MysqlError::from(&e))?
            .map_err(|e| node_refusal(&e))?;
        Ok(tables.into_iter().map(|t| t.name).collect())
    }

    /// `CREATE TABLE`, signed for the organization the caller acts for on the chain. Where the
    /// chain's deploy policy is `approved`, a schema is approved as code is: that organization
    /// proposes approving it (once) and the statement fails, naming the proposal, until the
    /// members have agreed (at once if the organization decides alone).
    pub async fn mysql_create_table(
        &self,
        caller: &Caller,
        chain: &ChainView,
        org: Option<&str>,
        schema: &TableSchema,
    ) -> Result<SqlWrite, MysqlError> {
        let org = self.ledger_org(caller, chain, org).await?;
        let encoded = encode(schema);
        let label = format!("table {}", schema.name);
        self.approve_deployment(chain, &org, &encoded, &label).await.map_err(|e| match e {
            Error::Conflict { code: "approval_pending", message } => {
                MysqlError::new(1290, "HY000", message.replace("deploy again", "create it again"))
            }
            e => MysqlError::from(&e),
        })?;
        let input = ILedger::createTableCall { schema: encoded.into() }.abi_encode();
        let (height, _) = self.ledger_transaction(chain, &org, input).await?;
        self.sql_schemas.put(&chain.id, schema);
        Ok(SqlWrite { affected_rows: 0, last_insert_id: 0, height })
    }

    /// `INSERT` of `rows` (literals, or the `?`s of `params`), signed for the organization
    /// the caller acts for on the chain.
    #[allow(clippy::too_many_arguments)] // a statement's parts, as the gateway read them
    pub async fn mysql_insert(
        &self,
        caller: &Caller,
        chain: &ChainView,
        org: Option<&str>,
        table: &str,
        columns: Option<&[String]>,
        rows: &[Vec<Literal>],
        params: &[SqlValue],
    ) -> Result<SqlWrite, MysqlError> {
        let schema = self.mysql_table(chain, table).await?;
        let rows = insert_rows(&schema, columns, rows, params)?;
        let affected_rows = rows.len() as u64;
        let input = ILedger::insertCall { table: table.to_owned(), rows: encode(&rows).into() }
            .abi_encode();
        let org = self.ledger_org(caller, chain, org).await?;
        let (height, receipt) = self.ledger_transaction(chain, &org, input).await?;
        let last_insert_id = receipt_logs(&receipt)
            .iter()
            .find_map(|(topics, data)| ILedger::RowsInserted::decode_raw_log(topics, data).ok())
            .map_or(0, |event| event.firstAutoId);
        Ok(SqlWrite { affected_rows, last_insert_id, height })
    }

    /// The organization the caller writes ledger rows for on the chain: `requested`, or their
    /// only one there.
    async fn ledger_org(
        &self,
        caller: &Caller,
        chain: &ChainView,
        requested: Option<&str>,
    ) -> Result<String, MysqlError> {
        self.acting_on_chain(caller, chain, requested, "contract:invoke", "contracts")
            .await
            .map_err(|e| MysqlError::from(&e))
    }

    /// Sends `input` to the ledger contract for `org` and waits for its block: the height and
    /// the receipt.
    async fn ledger_transaction(
        &self,
        chain: &ChainView,
        org: &str,
        input: Vec<u8>,
    ) -> Result<(u64, Value), MysqlError> {
        let to = alloy_primitives::Address::from(LEDGER_ADDRESS.0);
        let (outcome, receipt) = self
            .transact(chain, org, Some(to), 0, input)
            .await
            .map_err(|e| MysqlError::from(&e))?;
        if outcome.status != consortia_api::platform::TxResult::Success {
            return Err(MysqlError::new(
                1180,
                "HY000",
                format!(
                    "transaction {} reverted at block {}: a row of it was written meanwhile",
                    outcome.tx_hash, outcome.height
                ),
            ));
        }
        Ok((outcome.height, receipt))
    }
}

/// A node's refusal of a read as MySQL's error for it.
fn node_refusal(e: &ClientError) -> MysqlError {
    let ClientError::Refused { body, .. } = e else {
        return MysqlError::new(1105, "HY000", format!("the chain's node failed: {e}"));
    };
    let (code, state) = match body.code.as_str() {
        "sql_syntax" | "sql_invalid" => (1064, "42000"),
        "sql_unknown_table" => (1146, "42S02"),
        "sql_unknown_column" => (1054, "42S22"),
        "sql_read_only" => (1290, "HY000"),
        "sql_too_long" => (1317, "70100"),
        "sql_too_many_rows" => (1104, "42000"),
        _ => (1105, "HY000"),
    };
    MysqlError::new(code, state, body.message.clone())
}

/// A failure of the platform itself: the detail is logged, the client reads that it failed.
fn internal(e: &dyn std::fmt::Display) -> MysqlError {
    tracing::error!("SQL gateway: {e}");
    MysqlError::new(1105, "HY000", "the platform failed; its log has the detail")
}

impl From<&Error> for MysqlError {
    fn from(e: &Error) -> Self {
        let message = e.to_string();
        // A transaction the chain refused: its revert reason (after `ledger: `) says why.
        if let Error::Invalid { code: "would_revert", .. } = e {
            let message = message.split_once("ledger: ").map_or(message.as_str(), |(_, why)| why);
            let (code, state) = if message.contains("duplicate entry") {
                (1062, "23000")
            } else if message.contains("does not exist") {
                (1146, "42S02")
            } else if message.contains("already exists") {
                (1050, "42S01")
            } else {
                (1105, "HY000")
            };
            return MysqlError::new(code, state, format!("{message} (refused by the chain)"));
        }
        match e {
            Error::Unauthorized(_) => MysqlError::new(1045, "28000", message),
            Error::Forbidden(_) | Error::NotAMember { .. } | Error::NotParticipating { .. } => {
                MysqlError::new(1142, "42000", message)
            }
            Error::Throttled { .. } => MysqlError::new(1129, "HY000", message),
            Error::Timeout(_) => MysqlError::new(1205, "HY000", message),
            Error::Internal(_) | Error::Database(_) => internal(e),
            _ => MysqlError::new(1105, "HY000", message),
        }
    }
}
