//! The Consortia control plane (`consortia platform`): users and access, organizations with
//! roles and IAM-style policies, an audit log of every mutating call; consortiums, chains,
//! hosts and nodes build on these.
//!
//! Metadata lives in SQLite (a file in the data directory) or PostgreSQL ([`db`]). Every
//! endpoint but login, refresh and health needs a bearer credential ([`auth`]); what it may do
//! is decided per organization ([`authz`]). The REST API is described at `/openapi.json`
//! (Swagger UI at `/docs`), and its errors are the node API's `{"code", "message"}`.

pub mod api;
pub mod auth;
pub mod authz;
pub mod chains;
pub mod consortiums;
pub mod contracts;
pub mod db;
pub mod explorer;
pub mod monitor;
pub mod nodes;
pub mod start;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use consortia_rpc::ApiError;
use sqlx::{AnyPool, Row};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Why the platform cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{0}")]
    Config(String),
}

/// How to run the platform.
#[derive(Clone, Debug)]
pub struct PlatformConfig {
    /// Holds the SQLite database (unless `database_url` names another), the token key and
    /// the platform's generated files.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; default: `sqlite://<data_dir>/platform.db`.
    pub database_url: Option<String>,
    /// The `consortia` binary local hosts run nodes with (`consortia platform` passes itself).
    pub node_program: Option<PathBuf>,
    /// The administrator's password on a first start (default: a random one, returned once).
    pub admin_password: Option<String>,
}

/// The running platform's shared state.
#[derive(Debug)]
pub struct Platform {
    pub db: AnyPool,
    pub tokens: auth::TokenKey,
    pub data_dir: PathBuf,
    node_program: Option<PathBuf>,
    admin_password: Option<String>,
    /// For polling nodes' status (one connection pool for all of them).
    http: reqwest::Client,
    /// For calls into chains on a user's behalf (explorer reads, contract calls): longer
    /// timeouts than status polls.
    chain_http: reqwest::Client,
    /// Contract transactions are signed one at a time (a nonce read and its send must not
    /// interleave).
    signing: tokio::sync::Mutex<()>,
    /// The drivers of the hosts nodes run on, by host id (opened on first use, and at start so
    /// that local nodes still running are supervised again).
    hosts:
        std::sync::Mutex<std::collections::HashMap<String, Arc<dyn consortia_hosts::HostDriver>>>,
    /// An argon2 hash that matches nothing, checked when a login names an unknown user so
    /// that unknown users and wrong passwords take the same time.
    dummy_hash: String,
    /// The progress of the latest start of each chain this process ran (shown while `starting`).
    starts: std::sync::Mutex<std::collections::HashMap<String, start::StartProgress>>,
}

/// A first start: the administrator account it created and its one-time password.
#[derive(Debug)]
pub struct Bootstrap {
    pub username: String,
    pub password: String,
}

impl Platform {
    /// Opens (creating on first start) the database and the token key. On a first start it
    /// also creates the platform administrator `admin` and returns its password, which is
    /// shown once and stored nowhere but as a hash.
    pub async fn open(
        config: PlatformConfig,
    ) -> Result<(Arc<Platform>, Option<Bootstrap>), PlatformError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| PlatformError::Config(format!("{}: {e}", config.data_dir.display())))?;
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| db::sqlite_url(&config.data_dir.join("platform.db")));
        let pool = db::open(&url).await?;
        let tokens = auth::TokenKey::load_or_create(&config.data_dir.join("platform.key"))?;
        let platform = Arc::new(Platform {
            db: pool,
            tokens,
            data_dir: config.data_dir,
            node_program: config.node_program,
            admin_password: config.admin_password,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(1))
                .build()
                .map_err(|e| PlatformError::Config(format!("HTTP client: {e}")))?,
            chain_http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| PlatformError::Config(format!("HTTP client: {e}")))?,
            signing: Default::default(),
            hosts: Default::default(),
            dummy_hash: auth::hash_password(&auth::random_secret())?,
            starts: Default::default(),
        });
        let bootstrap = platform.bootstrap_admin().await?;
        if platform.node_program.is_some() {
            let hosts = sqlx::query("SELECT id FROM hosts")
                .fetch_all(&platform.db)
                .await
                .map_err(|e| PlatformError::Config(format!("database: {e}")))?;
            for host in hosts {
                platform.driver(&host.get::<String, _>(0)).map_err(|e| {
                    PlatformError::Config(format!(
                        "host {}: {}",
                        host.get::<String, _>(0),
                        e.body.message
                    ))
                })?;
            }
            platform.reconcile().await?;
        }
        platform
            .undo_interrupted_starts()
            .await
            .map_err(|e| PlatformError::Config(format!("database: {}", e.body.message)))?;
        Ok((platform, bootstrap))
    }

    /// Starts the nodes of running chains that should run but do not: the machine rebooted,
    /// or `consortia down` stopped them with the platform. Nodes stopped through the API stay
    /// stopped.
    async fn reconcile(&self) -> Result<(), PlatformError> {
        let rows = sqlx::query(
            "SELECT n.chain_id, n.name, n.host_id FROM chain_nodes n JOIN chains c ON c.id = n.chain_id \
             WHERE c.status = 'running' AND n.desired = 'running'",
        )
        .fetch_all(&self.db)
        .await
        .map_err(|e| PlatformError::Config(format!("database: {e}")))?;
        for row in rows {
            let (chain, node, host): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            let name = start::spec_name(&chain, &node);
            let Ok(driver) = self.driver(&host) else { continue };
            if matches!(driver.status(&name).await, Ok(consortia_hosts::NodeStatus::Stopped)) {
                match driver.start(&name).await {
                    Ok(()) => {
                        tracing::info!(target: "platform", %chain, %node, "started a node that should run")
                    }
                    Err(e) => {
                        tracing::warn!(target: "platform", %chain, %node, error = %e, "cannot start a node that should run")
                    }
                }
            }
        }
        Ok(())
    }

    /// The driver of a host (all hosts are local for now).
    pub fn driver(&self, host_id: &str) -> Result<Arc<dyn consortia_hosts::HostDriver>, ApiError> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = hosts.get(host_id) {
            return Ok(d.clone());
        }
        let program = self.node_program.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_node_program",
                "this platform was started without a node program; run it as `consortia platform`",
            )
        })?;
        let root = self.data_dir.join("hosts").join(host_id);
        let driver = consortia_hosts::local::LocalDriver::open(&root, program)
            .map_err(|e| ApiError::internal(format!("host {host_id}: {e}")))?;
        let driver: Arc<dyn consortia_hosts::HostDriver> = Arc::new(driver);
        hosts.insert(host_id.to_owned(), driver.clone());
        Ok(driver)
    }

    async fn bootstrap_admin(&self) -> Result<Option<Bootstrap>, PlatformError> {
        let db = |e: sqlx::Error| PlatformError::Config(format!("database: {e}"));
        let users: i64 =
            sqlx::query("SELECT COUNT(*) FROM users").fetch_one(&self.db).await.map_err(db)?.get(0);
        if users > 0 {
            return Ok(None);
        }
        let password = match &self.admin_password {
            Some(p) if p.chars().count() < auth::MIN_PASSWORD_CHARS => {
                return Err(PlatformError::Config(format!(
                    "the administrator's password needs at least {} characters",
                    auth::MIN_PASSWORD_CHARS
                )));
            }
            Some(p) => p.clone(),
            None => auth::random_secret()[..20].to_owned(),
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, parent_id, admin, created_ms) VALUES ($1, 'admin', $2, NULL, 1, $3)",
        )
        .bind(db::new_id("usr"))
        .bind(auth::hash_password(&password)?)
        .bind(db::now_ms())
        .execute(&self.db)
        .await
        .map_err(db)?;
        Ok(Some(Bootstrap { username: "admin".into(), password }))
    }
}

/// A database error as the API reports it: duplicates are 409, dangling references 400.
pub fn db_error(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return ApiError::new(StatusCode::CONFLICT, "conflict", "that name is already taken");
        }
        if d.is_foreign_key_violation() {
            return ApiError::bad_request("unknown_reference", "a referenced id does not exist");
        }
    }
    ApiError::internal(e)
}

/// [`db_error`], with a duplicate reported as `code` and `message`.
pub fn db_error_or_duplicate(e: sqlx::Error, code: &str, message: impl Into<String>) -> ApiError {
    match db_error(e) {
        c if c.status == StatusCode::CONFLICT => ApiError::new(StatusCode::CONFLICT, code, message),
        other => other,
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Consortia platform API",
        description = "The control plane: users, organizations, roles and policies, consortiums (invitations, join requests, approvals), the audit log. \
            Authenticate with `POST /v1/auth/login`, then send `Authorization: Bearer <access_token>` \
            (or an API key)."
    ),
    paths(
        api::health,
        api::login,
        api::refresh,
        api::logout,
        api::create_user,
        api::list_users,
        api::me,
        api::create_api_key,
        api::create_org,
        api::list_orgs,
        api::get_org,
        api::list_members,
        api::add_member,
        api::set_member_role,
        api::remove_member,
        api::create_policy,
        api::list_policies,
        api::attach_policy,
        api::detach_policy,
        api::audit,
        consortiums::create,
        consortiums::list,
        consortiums::show,
        consortiums::invite,
        consortiums::my_invitations,
        consortiums::accept,
        consortiums::decline,
        consortiums::request_join,
        consortiums::list_requests,
        consortiums::approve,
        consortiums::reject,
        chains::create_host,
        chains::list_hosts,
        chains::create_chain,
        chains::show_chain,
        chains::invite_org,
        chains::add_node,
        chains::list_chains,
        chains::remove_node,
        start::start_chain,
        nodes::list,
        nodes::logs,
        nodes::stop,
        nodes::start,
        nodes::restart,
        contracts::upload,
        contracts::list,
        contracts::show,
        contracts::deploy,
        contracts::call,
        explorer::read,
        explorer::transaction,
        monitor::chain_metrics,
        monitor::prometheus_targets,
    ),
    components(schemas(consortia_rpc::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The platform's HTTP API.
pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .merge(consortia_console::router())
        .merge(api::routes())
        .merge(consortiums::routes())
        .merge(chains::routes())
        .route("/v1/chains/{id}/start", axum::routing::post(start::start_chain))
        .route("/v1/chains/{id}/nodes/{node}/logs", axum::routing::get(nodes::logs))
        .route("/v1/chains/{id}/nodes/{node}/stop", axum::routing::post(nodes::stop))
        .route("/v1/chains/{id}/nodes/{node}/start", axum::routing::post(nodes::start))
        .route("/v1/chains/{id}/nodes/{node}/restart", axum::routing::post(nodes::restart))
        .route(
            "/v1/chains/{id}/contracts",
            axum::routing::post(contracts::upload).get(contracts::list),
        )
        .route("/v1/chains/{id}/contracts/{contract}", axum::routing::get(contracts::show))
        .route(
            "/v1/chains/{id}/contracts/{contract}/deploy",
            axum::routing::post(contracts::deploy),
        )
        .route("/v1/chains/{id}/contracts/{contract}/call", axum::routing::post(contracts::call))
        .route("/v1/chains/{id}/explorer/{*path}", axum::routing::get(explorer::read))
        .route("/v1/chains/{id}/transactions/{hash}", axum::routing::get(explorer::transaction))
        .route("/v1/chains/{id}/metrics", axum::routing::get(monitor::chain_metrics))
        .route(
            "/v1/chains/{id}/prometheus-targets",
            axum::routing::get(monitor::prometheus_targets),
        )
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(api::no_route)
        .layer(axum::middleware::from_fn_with_state(platform.clone(), auth::middleware))
        .with_state(platform)
}
