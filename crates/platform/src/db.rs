//! The metadata database: SQLite in the data directory by default, PostgreSQL for production
//! (`--database-url postgres://…`). One set of migrations serves both (portable DDL, see
//! `migrations/`); queries are checked at run time (`sqlx::query`), so building needs no
//! database.

use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::{OsRng, RngCore};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::PlatformError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend, PlatformError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(PlatformError::Config(format!(
                "database URL `{url}` is neither sqlite: nor postgres://"
            )))
        }
    }
}

/// The SQLite URL of a file (created if missing).
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Connects and brings the schema up to date.
pub async fn open(url: &str) -> Result<AnyPool, PlatformError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    let options: AnyConnectOptions =
        url.parse().map_err(|e| PlatformError::Config(format!("database URL: {e}")))?;
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
        .map_err(|e| PlatformError::Config(format!("cannot open the database {url}: {e}")))?;
    MIGRATOR.run(&pool).await.map_err(|e| PlatformError::Config(format!("migrations: {e}")))?;
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
