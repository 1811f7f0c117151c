//! The SQL gateway's MySQL listener: the edge beside [`crate::http`] for MySQL clients
//! (`mysql`, PyMySQL, JDBC, any driver). `opensrv-mysql` speaks the wire protocol (MySQL 8
//! handshake, TLS, text and binary protocols); this module reads each statement
//! (`service::ledger_sql`), calls the gateway's service (`service::sql_gateway`) and writes its
//! answer or its MySQL error. One listener serves every chain: a chain is a database
//! (`USE <chain id>`, `mysql -D <chain id>`), as one MySQL server holds many.
//!
//! A login is a platform user and one of their API keys as the password, checked with the
//! `mysql_native_password` or `caching_sha2_password` scramble against verifiers kept with the
//! key (never the key). With TLS configured, a connection that does not switch to TLS is
//! refused at login (as `require_secure_transport` does).
//!
//! A connection that sends garbage, half a handshake or an HTTP request is closed; nothing
//! else is touched. The first packet must come within [`HANDSHAKE_TIMEOUT`], connections are
//! at most [`MAX_CONNECTIONS`], statements at most [`MAX_STATEMENT`] bytes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consortia_api::node::{SqlColumn, SqlResult};
use consortia_api::platform::ChainView;
use consortia_types::ledger::{SqlValue, TableSchema};
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    IntermediaryOptions, OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
    StatusFlags, ValueInner,
};
use serde_json::Value;
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};

use crate::Platform;
use crate::service::identity::Caller;
use crate::service::ledger_sql::{MysqlError, SessionItem, Statement, parse, placeholders};

/// The rustls (0.22) server configuration `opensrv-mysql` switches to TLS with.
pub type TlsConfig = Arc<rustls_022::ServerConfig>;

/// How long a new connection may take to answer the server's greeting.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 128;
/// The longest statement (`@@max_allowed_packet` answers the same; the protocol reader closes
/// a connection whose packet passes 5 MiB, so a connection buffers at most that).
pub const MAX_STATEMENT: usize = 4 << 20;
/// What `@@version` and the handshake say: MySQL 8 as clients expect, and what it is.
const VERSION: &str = "8.0.36-consortia";

/// A TLS configuration from a certificate chain (PEM) and its PKCS#8 key.
pub fn tls_config(cert_pem: &str, key_pkcs8_der: &[u8]) -> Result<TlsConfig, String> {
    use rustls_022::pki_types::pem::PemObject;
    use rustls_022::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der.to_vec()));
    let config = rustls_022::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// Serves MySQL clients on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, platform: Arc<Platform>, tls: Option<TlsConfig>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let ids = Arc::new(AtomicU32::new(1));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, a connection reset before accept: wait, go on.
                tracing::warn!("MySQL gateway: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("MySQL gateway: {MAX_CONNECTIONS} connections open; closing {peer}");
            continue;
        };
        let session = Session::new(platform.clone(), ids.fetch_add(1, Ordering::Relaxed), peer);
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(session, stream, tls).await {
                tracing::debug!("MySQL connection from {peer} ended: {e}");
            }
            drop(slot);
        });
    }
}

/// One client connection: the greeting, TLS if asked, then its commands until it quits.
async fn connection(
    mut session: Session,
    stream: TcpStream,
    tls: Option<TlsConfig>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let options = IntermediaryOptions::default();
    let greeting = AsyncMysqlIntermediary::init_before_ssl(&mut session, reader, &mut writer, &tls);
    let (wants_tls, init) = tokio::time::timeout(HANDSHAKE_TIMEOUT, greeting)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no handshake"))??;
    match tls {
        Some(config) if wants_tls => {
            opensrv_mysql::secure_run_with_options(session, writer, options, config, init).await
        }
        Some(_) => {
            session.insecure = true;
            opensrv_mysql::plain_run_with_options(session, writer, options, init).await
        }
        None => opensrv_mysql::plain_run_with_options(session, writer, options, init).await,
    }
}

/// A prepared statement: what it reads as, and how many `?` it takes.
struct Prepared {
    statement: Statement,
    params: usize,
}

/// One MySQL session: who logged in, the chain in use, its prepared statements.
struct Session {
    platform: Arc<Platform>,
    id: u32,
    peer: IpAddr,
    salt: [u8; 20],
    /// Set by a successful login (`authenticate` takes `&self`).
    caller: Mutex<Option<Caller>>,
    /// Plain TCP where TLS is configured: logins are refused.
    insecure: bool,
    chain: Option<ChainView>,
    /// The height of this session's latest write: its reads wait for it.
    min_height: u64,
    /// What `LAST_INSERT_ID()` answers.
    last_insert_id: u64,
    prepared: HashMap<u32, Prepared>,
    next_statement: u32,
    /// The column descriptions of the answer being written (they must outlive the writer).
    columns: Vec<Column>,
}

impl Session {
    fn new(platform: Arc<Platform>, id: u32, peer: SocketAddr) -> Session {
        Session {
            platform,
            id,
            peer: peer.ip(),
            salt: scramble(),
            caller: Mutex::new(None),
            insecure: false,
            chain: None,
            min_height: 0,
            last_insert_id: 0,
            prepared: HashMap::new(),
            next_statement: 1,
            columns: vec![],
        }
    }

    fn caller(&self) -> Result<Caller, MysqlError> {
        let caller = self.caller.lock().unwrap_or_else(|e| e.into_inner()).clone();
        caller.ok_or_else(|| MysqlError::new(1045, "28000", "not logged in"))
    }

    fn chain(&self) -> Result<&ChainView, MysqlError> {
        self.chain.as_ref().ok_or_else(|| {
            MysqlError::new(
                1046,
                "3D000",
                "No database selected: `USE <chain id>` (SHOW DATABASES lists them)",
            )
        })
    }

    /// Runs one statement with its parameters: the answer to write, or its error.
    async fn run(
        &mut self,
        statement: Statement,
        params: &[SqlValue],
    ) -> Result<Answer, MysqlError> {
        match statement {
            Statement::Select(sql) => {
                let chain = self.chain()?;
                let result =
                    self.platform.mysql_select(chain, &sql, params, self.min_height).await?;
                Ok(Answer::Rows(rows_of(&result)))
            }
            Statement::Insert { table, columns, rows } => {
                let caller = self.caller()?;
                let chain = self.chain()?;
                let write = self
                    .platform
                    .mysql_insert(&caller, chain, None, &table, columns.as_deref(), &rows, params)
                    .await?;
                self.min_height = self.min_height.max(write.height);
                if write.last_insert_id > 0 {
                    self.last_insert_id = write.last_insert_id;
                }
                let info = if write.affected_rows > 1 {
                    format!("Records: {}  Duplicates: 0  Warnings: 0", write.affected_rows)
                } else {
                    String::new()
                };
                Ok(Answer::Done {
                    affected_rows: write.affected_rows,
                    last_insert_id: write.last_insert_id,
                    info,
                })
            }
            Statement::CreateTable(schema) => {
                let caller = self.caller()?;
                let chain = self.chain()?;
                let write = self.platform.mysql_create_table(&caller, chain, None, &schema).await?;
                self.min_height = self.min_height.max(write.height);
                Ok(Answer::ok())
            }
            Statement::ShowDatabases => {
                let names = self.platform.mysql_databases(&self.caller()?).await?;
                Ok(Answer::Rows(Rows::texts("Database", names)))
            }
            Statement::ShowTables => {
                let chain = self.chain()?;
                let names = self.platform.mysql_tables(chain).await?;
                Ok(Answer::Rows(Rows::texts(&format!("Tables_in_{}", chain.id), names)))
            }
            Statement::Describe(table) => {
                let schema = self.platform.mysql_table(self.chain()?, &table).await?;
                Ok(Answer::Rows(describe(&schema)))
            }
            Statement::Use(db) => {
                self.chain = Some(self.platform.mysql_database(&self.caller()?, &db).await?);
                Ok(Answer::ok())
            }
            Statement::Accepted => Ok(Answer::ok()),
            Statement::Session(items) => self.session_values(&items).map(Answer::Rows),
        }
    }

    /// The answer to a session `SELECT` (`@@version_comment`, `DATABASE()`, …).
    fn session_values(&self, items: &[(String, SessionItem)]) -> Result<Rows, MysqlError> {
        let mut columns = vec![];
        let mut row = vec![];
        for (label, item) in items {
            let value = match item {
                SessionItem::Database => {
                    self.chain.as_ref().map_or(Value::Null, |c| Value::from(c.id.clone()))
                }
                SessionItem::User => {
                    Value::from(format!("{}@{}", self.caller()?.username, self.peer))
                }
                SessionItem::Version => Value::from(VERSION),
                SessionItem::ConnectionId => Value::from(self.id),
                SessionItem::LastInsertId => Value::from(self.last_insert_id),
                SessionItem::Variable(name) => variable(name).ok_or_else(|| {
                    MysqlError::new(1193, "HY000", format!("Unknown system variable '{name}'"))
                })?,
            };
            columns.push(SqlColumn { name: label.clone(), decl_type: None });
            row.push(value);
        }
        Ok(rows_of(&SqlResult { height: 0, columns, rows: vec![row] }))
    }

    /// Answers a statement (a query, or a prepared statement's execution).
    async fn answer<'a, W: AsyncWrite + Send + Unpin>(
        &'a mut self,
        outcome: Result<Answer, MysqlError>,
        results: QueryResultWriter<'a, W>,
        binary: bool,
    ) -> io::Result<()> {
        match outcome {
            Err(e) => results.error(error_kind(e.code), e.message.as_bytes()).await,
            Ok(Answer::Done { affected_rows, last_insert_id, info }) => {
                results
                    .completed(OkResponse {
                        affected_rows,
                        last_insert_id,
                        status_flags: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
                        info,
                        ..Default::default()
                    })
                    .await
            }
            Ok(Answer::Rows(rows)) => {
                self.columns = rows.columns;
                let this: &'a Session = self;
                let mut writer = results.start(&this.columns).await?;
                for row in &rows.rows {
                    for (cell, kind) in row.iter().zip(&rows.kinds) {
                        write_cell(&mut writer, *kind, cell, binary)?;
                    }
                    writer.end_row().await?;
                }
                writer.finish().await
            }
        }
    }
}

/// What a statement answers: rows, or an OK with its counts.
enum Answer {
    Rows(Rows),
    Done { affected_rows: u64, last_insert_id: u64, info: String },
}

impl Answer {
    fn ok() -> Answer {
        Answer::Done { affected_rows: 0, last_insert_id: 0, info: String::new() }
    }
}

/// A result set as the wire writes it: column descriptions, each column's kind of value, the
/// rows.
struct Rows {
    columns: Vec<Column>,
    kinds: Vec<Kind>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// One text column of `values`.
    fn texts(name: &str, values: Vec<String>) -> Rows {
        Rows {
            columns: vec![column(name, Kind::Text)],
            kinds: vec![Kind::Text],
            rows: values.into_iter().map(|v| vec![Value::from(v)]).collect(),
        }
    }
}

/// How a column's values go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    UInt,
    Double,
    Text,
    Bytes,
    Date,
    DateTime,
}

/// The kind of a projection column from its declared MySQL type; for an expression, from its
/// values (all integers, all numbers, else text).
fn kind_of(column: &SqlColumn, index: usize, rows: &[Vec<Value>]) -> Kind {
    if let Some(decl) = &column.decl_type {
        let decl = decl.to_lowercase();
        return if decl.contains("int") {
            if decl.contains("unsigned") { Kind::UInt } else { Kind::Int }
        } else if decl.starts_with("double")
            || decl.starts_with("float")
            || decl.starts_with("real")
        {
            Kind::Double
        } else if decl.contains("binary") || decl.contains("blob") {
            Kind::Bytes
        } else if decl == "datetime" {
            Kind::DateTime
        } else if decl == "date" {
            Kind::Date
        } else {
            Kind::Text
        };
    }
    let values = rows.iter().filter_map(|r| r.get(index)).filter(|v| !v.is_null());
    let mut kind = None;
    for value in values {
        let this = if value.is_i64() {
            Kind::Int
        } else if value.is_u64() {
            Kind::UInt
        } else if value.is_f64() {
            Kind::Double
        } else {
            return Kind::Text;
        };
        kind = Some(match (kind, this) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some(Kind::Int | Kind::UInt), Kind::Int | Kind::UInt) => Kind::Double,
            _ => Kind::Double,
        });
    }
    kind.unwrap_or(Kind::Text)
}

fn column(name: &str, kind: Kind) -> Column {
    let (coltype, colflags) = match kind {
        Kind::Int => (ColumnType::MYSQL_TYPE_LONGLONG, ColumnFlags::empty()),
        Kind::UInt => (ColumnType::MYSQL_TYPE_LONGLONG, ColumnFlags::UNSIGNED_FLAG),
        Kind::Double => (ColumnType::MYSQL_TYPE_DOUBLE, ColumnFlags::empty()),
        Kind::Text => (ColumnType::MYSQL_TYPE_VAR_STRING, ColumnFlags::empty()),
        Kind::Bytes => {
            (ColumnType::MYSQL_TYPE_BLOB, ColumnFlags::BINARY_FLAG | ColumnFlags::BLOB_FLAG)
        }
        Kind::Date => (ColumnType::MYSQL_TYPE_DATE, ColumnFlags::empty()),
        Kind::DateTime => (ColumnType::MYSQL_TYPE_DATETIME, ColumnFlags::empty()),
    };
    Column { table: String::new(), column: name.to_owned(), coltype, colflags }
}

/// A node's answer as a result set.
fn rows_of(result: &SqlResult) -> Rows {
    let kinds: Vec<Kind> =
        result.columns.iter().enumerate().map(|(i, c)| kind_of(c, i, &result.rows)).collect();
    Rows {
        columns: result.columns.iter().zip(&kinds).map(|(c, k)| column(&c.name, *k)).collect(),
        kinds,
        rows: result.rows.clone(),
    }
}

/// Writes one value as its column's kind (the node gives JSON: numbers, strings, `0x` hex for
/// binary values).
fn write_cell<W: AsyncWrite + Unpin>(
    writer: &mut opensrv_mysql::RowWriter<'_, W>,
    kind: Kind,
    value: &Value,
    binary: bool,
) -> io::Result<()> {
    if value.is_null() {
        return writer.write_col(None::<i64>);
    }
    let text = || value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {value}"));
    match kind {
        Kind::Int => writer.write_col(value.as_i64().ok_or_else(|| bad("not an integer"))?),
        // The projection keeps an unsigned value above 2^63 as its two's complement.
        Kind::UInt => writer.write_col(
            value
                .as_u64()
                .or_else(|| value.as_i64().map(|v| v as u64))
                .ok_or_else(|| bad("not an integer"))?,
        ),
        Kind::Double => writer.write_col(value.as_f64().ok_or_else(|| bad("not a number"))?),
        Kind::Text => writer.write_col(text()),
        Kind::Bytes => {
            let hex = text();
            let bytes = hex::decode(hex.trim_start_matches("0x")).map_err(|_| bad("not hex"))?;
            writer.write_col(bytes)
        }
        Kind::Date if binary => writer.write_col(
            chrono::NaiveDate::parse_from_str(&text(), "%Y-%m-%d")
                .map_err(|_| bad("not a date"))?,
        ),
        Kind::DateTime if binary => writer.write_col(
            chrono::NaiveDateTime::parse_from_str(&text(), "%Y-%m-%d %H:%M:%S%.f")
                .map_err(|_| bad("not a datetime"))?,
        ),
        Kind::Date | Kind::DateTime => writer.write_col(text()),
    }
}

/// `DESCRIBE t`: MySQL's six columns, the table's own and then the ledger's system columns.
fn describe(schema: &TableSchema) -> Rows {
    let names = ["Field", "Type", "Null", "Key", "Default", "Extra"];
    let mut rows: Vec<Vec<Value>> = schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let key = if schema.primary_key.iter().any(|k| usize::from(*k) == i) {
                "PRI"
            } else if schema
                .indexes
                .iter()
                .any(|x| x.columns.first().is_some_and(|k| usize::from(*k) == i))
            {
                "MUL"
            } else {
                ""
            };
            vec![
                Value::from(c.name.clone()),
                Value::from(c.ty.mysql_name()),
                Value::from(if c.nullable { "YES" } else { "NO" }),
                Value::from(key),
                Value::Null,
                Value::from(if c.auto_increment { "auto_increment" } else { "" }),
            ]
        })
        .collect();
    for (name, ty) in [
        ("_tx", "char(66)"),
        ("_height", "bigint unsigned"),
        ("_signer", "char(42)"),
        ("_row_hash", "char(66)"),
    ] {
        rows.push(vec![
            Value::from(name),
            Value::from(ty),
            Value::from("NO"),
            Value::from(""),
            Value::Null,
            Value::from("ledger"),
        ]);
    }
    Rows {
        columns: names.iter().map(|n| column(n, Kind::Text)).collect(),
        kinds: vec![Kind::Text; names.len()],
        rows,
    }
}

/// The value of a system variable clients read, or `None` for one this server does not have.
fn variable(name: &str) -> Option<Value> {
    Some(match name {
        "version" => Value::from(VERSION),
        "version_comment" => Value::from("Consortia ledger tables (INSERT and SELECT only)"),
        "version_compile_os" => Value::from(std::env::consts::OS),
        "version_compile_machine" => Value::from(std::env::consts::ARCH),
        "autocommit" => Value::from(1),
        "auto_increment_increment" | "auto_increment_offset" => Value::from(1),
        "max_allowed_packet" => Value::from(MAX_STATEMENT),
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server"
        | "character_set_database" => Value::from("utf8mb4"),
        "collation_connection" | "collation_server" | "collation_database" => {
            Value::from("utf8mb4_general_ci")
        }
        "sql_mode" => Value::from("STRICT_TRANS_TABLES"),
        "time_zone" => Value::from("+00:00"),
        "system_time_zone" => Value::from("UTC"),
        "lower_case_table_names" => Value::from(1),
        "transaction_isolation" | "tx_isolation" => Value::from("READ-COMMITTED"),
        "transaction_read_only" | "tx_read_only" | "read_only" => Value::from(0),
        "wait_timeout" | "interactive_timeout" => Value::from(28_800),
        "net_write_timeout" => Value::from(60),
        "license" => Value::from("Apache-2.0"),
        "have_ssl" | "have_openssl" => Value::from("YES"),
        "require_secure_transport" => Value::from("OFF"),
        "default_authentication_plugin" => Value::from("mysql_native_password"),
        _ => return None,
    })
}

/// A fresh 20-byte scramble of printable characters, without `$` (as MySQL makes them).
fn scramble() -> [u8; 20] {
    use rand_core::{OsRng, RngCore};
    let mut salt = [0u8; 20];
    OsRng.fill_bytes(&mut salt);
    for b in &mut salt {
        *b = match 0x21 + *b % 94 {
            b'$' => b'%',
            c => c,
        };
    }
    salt
}

/// A parameter of a prepared statement as a ledger value.
fn param(value: opensrv_mysql::ParamValue<'_>) -> Result<SqlValue, MysqlError> {
    let binary = matches!(
        value.coltype,
        ColumnType::MYSQL_TYPE_BLOB
            | ColumnType::MYSQL_TYPE_TINY_BLOB
            | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
            | ColumnType::MYSQL_TYPE_LONG_BLOB
    );
    let whole = value.value;
    Ok(match whole.into_inner() {
        ValueInner::NULL => SqlValue::Null,
        ValueInner::Int(n) => SqlValue::Int(n),
        ValueInner::UInt(n) => SqlValue::UInt(n),
        ValueInner::Double(x) => SqlValue::Double(x),
        ValueInner::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) if !binary => SqlValue::Text(s.to_owned()),
            _ => SqlValue::Bytes(b.to_vec()),
        },
        ValueInner::Date(_) | ValueInner::Datetime(_) => {
            let at = opensrv_mysql::to_naive_datetime(whole)
                .map_err(|e| MysqlError::new(1210, "HY000", format!("a date parameter: {e}")))?;
            SqlValue::Text(at.format("%Y-%m-%d %H:%M:%S").to_string())
        }
        ValueInner::Time(_) => {
            return Err(MysqlError::new(1210, "HY000", "TIME parameters are not supported"));
        }
    })
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Session {
    type Error = io::Error;

    fn version(&self) -> String {
        VERSION.into()
    }

    fn connect_id(&self) -> u32 {
        self.id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(
        &self,
        _plugin: &str,
        username: &[u8],
        salt: &[u8],
        response: &[u8],
    ) -> bool {
        let username = String::from_utf8_lossy(username);
        if self.insecure {
            tracing::info!("MySQL login of {username} from {} refused: not over TLS", self.peer);
            return false;
        }
        match self.platform.mysql_login(&username, salt, response, Some(self.peer)).await {
            Ok(caller) => {
                *self.caller.lock().unwrap_or_else(|e| e.into_inner()) = Some(caller);
                true
            }
            Err(e) => {
                tracing::info!(
                    "MySQL login of {username} from {} refused: {}",
                    self.peer,
                    e.message
                );
                false
            }
        }
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        let read = (|| {
            if query.len() > MAX_STATEMENT {
                return Err(too_long());
            }
            Ok(Prepared { statement: parse(query)?, params: placeholders(query)? })
        })();
        match read {
            Err(e) => info.error(error_kind(e.code), e.message.as_bytes()).await,
            Ok(prepared) => {
                let id = self.next_statement;
                self.next_statement = self.next_statement.wrapping_add(1).max(1);
                self.columns = vec![column("?", Kind::Text); prepared.params];
                self.prepared.insert(id, prepared);
                let this: &'a Session = self;
                info.reply(id, &this.columns, &[]).await
            }
        }
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let outcome = match self.prepared.get(&id) {
            None => Err(MysqlError::new(
                1243,
                "HY000",
                format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"),
            )),
            Some(prepared) => {
                let statement = prepared.statement.clone();
                let expected = prepared.params;
                match params.into_iter().map(param).collect::<Result<Vec<_>, _>>() {
                    Err(e) => Err(e),
                    Ok(values) if values.len() != expected => Err(MysqlError::new(
                        1210,
                        "HY000",
                        "Incorrect arguments to mysqld_stmt_execute",
                    )),
                    Ok(values) => self.run(statement, &values).await,
                }
            }
        };
        self.answer(outcome, results, true).await
    }

    async fn on_close<'a>(&'a mut self, id: u32)
    where
        W: 'async_trait,
    {
        self.prepared.remove(&id);
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let outcome = if query.len() > MAX_STATEMENT {
            Err(too_long())
        } else {
            match parse(query) {
                Ok(statement) => self.run(statement, &[]).await,
                Err(e) => Err(e),
            }
        };
        self.answer(outcome, results, false).await
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, writer: InitWriter<'a, W>) -> io::Result<()> {
        let chosen = match self.caller() {
            Ok(caller) => self.platform.mysql_database(&caller, db).await,
            Err(e) => Err(e),
        };
        match chosen {
            Ok(chain) => {
                self.chain = Some(chain);
                writer.ok().await
            }
            Err(e) => writer.error(error_kind(e.code), e.message.as_bytes()).await,
        }
    }
}

/// The wire's error kind of a code (the crate knows MySQL 5.7's, 1000 to 1886; its lookup
/// panics on others, so those go as `ER_UNKNOWN_ERROR` with their message).
fn error_kind(code: u16) -> ErrorKind {
    if (1000..=1886).contains(&code) { ErrorKind::from(code) } else { ErrorKind::ER_UNKNOWN_ERROR }
}

/// `ER_NET_PACKET_TOO_LARGE`.
fn too_long() -> MysqlError {
    MysqlError::new(
        1153,
        "08S01",
        format!("Got a packet bigger than 'max_allowed_packet' bytes ({MAX_STATEMENT})"),
    )
}
