//! The store layer: every SQL statement of the platform, by area, and nothing else (no
//! policy, no HTTP). The metadata database is SQLite in the data directory by default,
//! PostgreSQL for production (`--database-url postgres://…`). One set of migrations serves
//! both (portable DDL, see `migrations/`); queries are checked at run time (`sqlx::query`),
//! so building needs no database.
//!
//! Functions take any executor ([`Exec`]): the pool for a single statement, or a transaction
//! (`&mut *tx`) when a service needs several to hold together. A transaction that must not
//! interleave with another on the same row *locks* it first, with a write
//! (`UPDATE … SET x = x`): PostgreSQL then blocks the second transaction on
//! the row until the first commits, and SQLite takes its single write lock before anything
//! is read, so both databases serialize the two (see docs/architecture.md).

pub mod alerts;
pub mod chains;
pub mod consortiums;
pub mod contracts;
pub mod gateway;
pub mod identity;
pub mod keystore;
pub mod orgs;
pub mod webhooks;

use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor};

use crate::error::OpenError;

/// Anything a statement runs on: the pool, a connection, a transaction.
pub trait Exec<'e>: Executor<'e, Database = Any> {}
impl<'e, T: Executor<'e, Database = Any>> Exec<'e> for T {}

/// A transaction of the metadata database.
pub type Tx = sqlx::Transaction<'static, Any>;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(OpenError(format!("database URL `{url}` is neither sqlite: nor postgres://")))
        }
    }
}

/// The SQLite URL of a file (created if missing).
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Connects and brings the schema up to date.
pub async fn open(url: &str) -> Result<AnyPool, OpenError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    let options: AnyConnectOptions =
        url.parse().map_err(|e| OpenError(format!("database URL: {e}")))?;
    let pool = AnyPoolOptions::new()
        .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // Foreign keys are off by default in SQLite; WAL lets readers run beside
                    // the writer; a writer waits for another instead of failing.
                    conn.execute(
                        "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
                         PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| OpenError(format!("cannot open the database {url}: {e}")))?;
    MIGRATOR.run(&pool).await.map_err(|e| OpenError(format!("migrations: {e}")))?;
    Ok(pool)
}

/// A fresh id: `prefix` and 16 random bytes in hex (`org_3f9a…`).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Milliseconds since the Unix epoch, as the database stores times.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The ids a listing query selects for a caller: `$1` is bound to the caller's user id, `$2`
/// to 1 for a platform administrator; the id is the first column.
pub(crate) async fn ids_for(
    db: impl Exec<'_>,
    query: &'static str,
    user_id: &str,
    admin: bool,
) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::Row;
    Ok(sqlx::query(query)
        .bind(user_id)
        .bind(i64::from(admin))
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
