//! The Consortia control plane (`consortia platform`): users and access, organizations with roles and IAM-style policies, consortiums, chains, hosts, nodes, contracts, the explorer and monitoring, with an audit log of every mutating call.
//!
//! # Module map
//!
//! Three layers, each area in a file of the same name in every layer (`consortiums.rs` in
//! `http/`, `service/` and `store/`), and imports that only point down:
//!
//! - [`http`]: the REST API (axum). Handlers parse the request with typed extractors (whose
//!   rejections are the API's `{code, message}`), take the authenticated [`Caller`], call one
//!   service method and map its answer; [`http::error`] turns every domain [`Error`] into a
//!   status and a stable code. The OpenAPI document is built from the same routes.
//! - [`service`]: the domain, as methods of [`Platform`]: who may do what ([`authz`] decides,
//!   `service::orgs` reads the roles and policies), the consortium flow and its votes, the
//!   chain wizard, the start job, nodes through their hosts, contracts, explorer and
//!   monitoring reads through the nodes (with the SDK's `NodeClient`). It speaks
//!   [`Error`], never HTTP, and never SQL.
//! - [`store`]: every SQL statement, by area; no policy.
//!
//! Beside them: [`provision`] makes a chain's keys, certificates, genesis and node
//! configurations (a pure plan the platform's start and `consortia net up` share);
//! [`credentials`] hashes passwords and signs access tokens; [`keystore`] seals every private
//! key under a data key wrapped by a Shamir-split root key; [`authz`] decides a request from a
//! role and policies.
//!
//! Wire types (requests, views) are `consortia_api::platform`'s, shared with the SDK, the CLI
//! and the console's tests.

pub mod authz;
pub mod credentials;
pub mod error;
pub mod http;
pub mod keystore;
pub mod logbook;
pub mod mysql;
mod pdf;
pub mod provision;
pub mod service;
pub mod store;
pub mod throttle;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use consortia_api::platform::StartProgress;
use sqlx::AnyPool;

pub use error::{Error, OpenError, Result};
pub use http::router;
pub use service::identity::Caller;

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
    /// Shares to unseal with at once (`--unseal-file`; the demo's 1-of-1 share). Without
    /// them the platform starts sealed.
    pub unseal: Vec<consortia_crypto::shamir::KeyShare>,
    /// The SMTP server alert e-mail goes through (`--smtp-url`) and its sender
    /// (`--smtp-from`); without it, alerts go to webhooks only.
    pub smtp: Option<(String, String)>,
}

impl PlatformConfig {
    /// The configuration of a platform in `data_dir`, with the default database.
    pub fn new(data_dir: impl Into<PathBuf>) -> PlatformConfig {
        PlatformConfig {
            data_dir: data_dir.into(),
            database_url: None,
            node_program: None,
            admin_password: None,
            unseal: vec![],
            smtp: None,
        }
    }

    /// The database URL (by default SQLite in the data directory).
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| store::sqlite_url(&self.data_dir.join("platform.db")))
    }
}

/// The running platform: its database, keys, clients and the state its jobs share. Services
/// are its methods (`service::*`).
#[derive(Debug)]
pub struct Platform {
    db: AnyPool,
    /// The sealed keystore: the keys while unsealed (`Platform::keys`), unseal progress.
    keystore: Mutex<service::keystore::Vault>,
    data_dir: PathBuf,
    node_program: Option<PathBuf>,
    /// How the platform calls each chain's nodes (its token, clients trusting its CA), by
    /// chain id.
    node_calls: Mutex<HashMap<String, service::node_access::NodeCalls>>,
    /// Per account the platform signs for (by chain id and address), a lock that a nonce's
    /// choice and its send take, and the next nonce once known (`service::gateway`).
    nonces: service::gateway::Nonces,
    /// The drivers of the hosts nodes run on, by host id (opened on first use, and at start so
    /// that local nodes still running are supervised again).
    hosts: Mutex<HashMap<String, Arc<dyn consortia_hosts::HostDriver>>>,
    /// Failed logins, by user, address and both.
    throttle: throttle::LoginThrottle,
    /// Every password hash and check waits here (bounded).
    hashing: throttle::HashingQueue,
    /// An argon2 hash that matches nothing, checked when a login names an unknown user so
    /// that unknown users and wrong passwords take the same time.
    dummy_hash: String,
    /// The progress of the latest start of each chain this process ran (shown while
    /// `starting`).
    starts: Mutex<HashMap<String, StartProgress>>,
    /// The chains whose rolling upgrade this process runs: one at a time per chain.
    upgrades: Mutex<std::collections::HashSet<String>>,
    /// Ledger tables' schemas the SQL gateway has read (they never change).
    sql_schemas: service::sql_gateway::SchemaCache,
    /// The SMTP server alert e-mail goes through, if configured.
    mailer: Option<service::alerts::Mailer>,
    /// Where the MySQL gateway listens, once it does (`Platform::serving_mysql`).
    mysql: std::sync::OnceLock<consortia_api::platform::SqlGatewayView>,
    /// The platform's own last log lines, once its process keeps them (`Platform::keep_log`).
    logbook: std::sync::OnceLock<logbook::Logbook>,
}

/// Password checks that may wait for a hashing thread; more are refused at once (503 `busy`).
/// Waiting costs only the request (the 19 MiB of argon2's memory is taken when one runs).
const HASHING_QUEUE: usize = 256;

/// A first start: the administrator account it created and its one-time password.
#[derive(Debug)]
pub struct Bootstrap {
    pub username: String,
    pub password: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Platform {
    /// Opens the database, whose keystore must be initialized
    /// ([`service::keystore::initialize`]). On a first start it also creates the platform
    /// administrator `admin` and returns its password, which is shown once and stored nowhere
    /// but as a hash. The platform opens sealed unless the configuration brings shares; once
    /// unsealed, with a node program, it supervises the nodes of its hosts again and starts
    /// those that should run, and a start a previous run left half done is undone.
    pub async fn open(
        config: PlatformConfig,
    ) -> std::result::Result<(Arc<Platform>, Option<Bootstrap>), OpenError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| OpenError(format!("{}: {e}", config.data_dir.display())))?;
        let mailer = match &config.smtp {
            Some((url, from)) => Some(service::alerts::mailer(url, from).map_err(OpenError)?),
            None => None,
        };
        let db = store::open(&config.database_url()).await?;
        let sealing = store::keystore::sealing(&db).await?.ok_or_else(|| {
            OpenError(
                "the platform's keystore is not initialized: run `consortia platform init \
                 --shares 5 --threshold 3` first (docs/security.md)"
                    .into(),
            )
        })?;
        let platform = Arc::new(Platform {
            db,
            keystore: Mutex::new(service::keystore::Vault::sealed(sealing)),
            data_dir: config.data_dir,
            node_program: config.node_program,
            node_calls: Default::default(),
            nonces: Default::default(),
            hosts: Default::default(),
            throttle: Default::default(),
            hashing: throttle::HashingQueue::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                HASHING_QUEUE,
            ),
            dummy_hash: credentials::hash_password_in(
                &credentials::random_secret(),
                &mut credentials::HashMemory::default(),
            )?,
            starts: Default::default(),
            upgrades: Default::default(),
            sql_schemas: Default::default(),
            mailer,
            mysql: Default::default(),
            logbook: Default::default(),
        });
        tokio::spawn(service::certificates::renewal_job(Arc::downgrade(&platform)));
        tokio::spawn(service::gateway::gateway_job(Arc::downgrade(&platform)));
        tokio::spawn(service::webhooks::webhook_job(Arc::downgrade(&platform)));
        tokio::spawn(service::alerts::alert_job(Arc::downgrade(&platform)));
        let bootstrap = platform.bootstrap_admin(config.admin_password).await?;
        if !config.unseal.is_empty() {
            platform.unseal_with(&config.unseal).await?;
        }
        Ok((platform, bootstrap))
    }

    /// The metadata database (tests use it to set up what the API cannot).
    pub fn db(&self) -> &AnyPool {
        &self.db
    }
}
