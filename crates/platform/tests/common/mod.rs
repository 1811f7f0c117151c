//! The platform served on a loopback port, over a real database (SQLite in a temporary
//! directory, or a PostgreSQL database of the test's own), driven through the SDK's
//! `PlatformClient` as any client would; raw requests only for malformed input.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)] // shared by several test files

use std::path::PathBuf;
use std::sync::Arc;

use consortia_api::platform::*;
use consortia_api::{ClientResult, Credentials, PlatformClient};
use consortia_crypto::Aead;
use consortia_crypto::shamir::KeyShare;
use consortia_platform::service::keystore::initialize;
use consortia_platform::{Platform, PlatformConfig, router};
use serde_json::Value;

/// Where a test keeps its metadata.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test function (`async fn name(backend: Backend)`) once on each database, as the
/// tests `name::on_sqlite` and `name::on_postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite() {
                super::$name(super::common::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres() {
                super::$name(super::common::Backend::Postgres).await
            }
        }
    )*};
}

/// The database URL of one test (`None`: the default SQLite file), or `None` when PostgreSQL
/// is not available outside CI. A PostgreSQL test gets a database of its own.
async fn database(backend: Backend) -> Option<Option<String>> {
    use sqlx::Connection;
    let Backend::Postgres = backend else { return Some(None) };
    let Ok(server) = std::env::var("CONSORTIA_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the PostgreSQL suite: set CONSORTIA_TEST_POSTGRES (scripts/test does, from scripts/postgres)"
        );
        eprintln!("skipped: set CONSORTIA_TEST_POSTGRES=$(scripts/postgres) to run on PostgreSQL");
        return None;
    };
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
    let name = consortia_platform::store::new_id("consortia_test");
    // `name` is ours: `consortia_test_` and hex.
    let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"));
    sqlx::query(create).execute(&mut admin).await.unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some(Some(format!("{base}/{name}")))
}

/// The keystore's one share: made on a first start (1 of 1), kept beside the data.
async fn unseal_share(config: PlatformConfig) -> Vec<KeyShare> {
    let file = config.data_dir.join("test.share");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return vec![text.parse().unwrap()];
    }
    let shares = initialize(&config, 1, 1, Aead::Aes256Gcm).await.unwrap();
    std::fs::write(&file, shares[0].to_string()).unwrap();
    shares
}

/// A platform serving on a loopback port.
pub struct Server {
    pub url: String,
    pub platform: Arc<Platform>,
    /// The administrator's one-time password (first start only).
    pub admin_password: Option<String>,
    dir: Arc<tempfile::TempDir>,
    database_url: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// A fresh platform on `backend`, or none when PostgreSQL is not available here.
    pub async fn start(backend: Backend) -> Option<Server> {
        let database_url = database(backend).await?;
        Some(Server::open(Arc::new(tempfile::tempdir().unwrap()), database_url).await)
    }

    /// A fresh platform on SQLite whose keystore splits into `shares` with `threshold`,
    /// started sealed, and its shares.
    pub async fn start_sealed(shares: u8, threshold: u8) -> (Server, Vec<KeyShare>) {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let config = PlatformConfig::new(dir.path());
        let made = initialize(&config, shares, threshold, Aead::Aes256Gcm).await.unwrap();
        (Server::open_with(dir, None, |_| async { vec![] }).await, made)
    }

    async fn open(dir: Arc<tempfile::TempDir>, database_url: Option<String>) -> Server {
        Server::open_with(dir, database_url, unseal_share).await
    }

    /// Opens the platform in `dir`, unsealed with the shares `unseal` finds for it.
    async fn open_with<F: Future<Output = Vec<KeyShare>>>(
        dir: Arc<tempfile::TempDir>,
        database_url: Option<String>,
        unseal: impl FnOnce(PlatformConfig) -> F,
    ) -> Server {
        let mut config = PlatformConfig {
            database_url: database_url.clone(),
            // Hosts' drivers open (they choose nodes' ports) and pass their preflight (the
            // program exists), but no node runs in these tests: `false` exits at once, so a
            // start that got as far as running one would wait for it in vain.
            node_program: Some(PathBuf::from("/bin/false")),
            ..PlatformConfig::new(dir.path())
        };
        config.unseal = unseal(config.clone()).await;
        let (platform, bootstrap) = Platform::open(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = router(platform.clone());
        let task = tokio::spawn(async move {
            let limits = consortia_api::serving::Limits::default();
            consortia_api::serving::serve(listener, app, limits, std::future::pending())
                .await
                .unwrap();
        });
        Server {
            url,
            platform,
            admin_password: bootstrap.map(|b| b.password),
            dir,
            database_url,
            task,
        }
    }

    /// The same platform (data directory and database) started again.
    pub async fn restart(self) -> Server {
        let (dir, url) = (self.dir.clone(), self.database_url.clone());
        drop(self);
        Server::open(dir, url).await
    }

    /// The platform's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> PlatformClient {
        PlatformClient::new(&self.url)
    }

    /// A client logged in as `username`.
    pub async fn login(&self, username: &str, password: &str) -> PlatformClient {
        let client = self.anonymous();
        client.login(username, password).await.unwrap();
        client
    }

    /// The administrator, logged in.
    pub async fn admin(&self) -> PlatformClient {
        let password = self.admin_password.clone().expect("a first start");
        self.login("admin", &password).await
    }

    /// A raw request (for input the SDK cannot send): the status and the JSON answer.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The password the fixtures give `username`.
pub fn password_of(username: &str) -> String {
    format!("{username}-password")
}

/// The bearer credential a client sends.
pub fn bearer(client: &PlatformClient) -> String {
    match client.credentials() {
        Some(Credentials::Tokens { access_token, .. }) => access_token,
        Some(Credentials::ApiKey(key)) => key,
        None => String::new(),
    }
}

/// The status and code of a refusal (panics on success).
pub fn refused<T: std::fmt::Debug>(result: ClientResult<T>) -> (u16, String) {
    let e = result.expect_err("refused");
    (e.status().unwrap_or(0), e.code().unwrap_or_default().to_owned())
}

/// A user the administrator creates, logged in (password: [`password_of`]).
pub async fn user(server: &Server, admin: &PlatformClient, username: &str) -> PlatformClient {
    let request =
        CreateUserRequest { username: username.to_owned(), password: password_of(username) };
    admin.create_user(&request).await.unwrap();
    server.login(username, &password_of(username)).await
}

/// A consortium led by `leader`'s new organization `org name`, under `policy`.
pub async fn consortium(
    leader: &PlatformClient,
    name: &str,
    org: &str,
    policy: ApprovalPolicy,
) -> (ConsortiumView, OrgView) {
    let org = leader.create_org(org).await.unwrap();
    let request = CreateConsortiumRequest {
        name: name.to_owned(),
        org_id: org.id.clone(),
        approval_policy: Some(policy),
    };
    (leader.create_consortium(&request).await.unwrap(), org)
}

/// `joiner` (invited by `inviter`) accepts and asks to join with its organization `org`.
pub async fn ask_to_join(
    inviter: &PlatformClient,
    joiner: &PlatformClient,
    consortium: &str,
    org: &OrgView,
) -> JoinRequestView {
    let me = joiner.me().await.unwrap();
    let invite = InviteRequest { username: me.username, org_id: None };
    let invitation = inviter.invite(consortium, &invite).await.unwrap();
    joiner.accept_invitation(&invitation.id).await.unwrap();
    let request = JoinRequest { org_id: org.id.clone(), invitation_id: invitation.id };
    joiner.request_join(consortium, &request).await.unwrap()
}

/// A vote of the caller's only member organization.
pub fn vote(decision: Decision) -> VoteRequest {
    VoteRequest { decision, org_id: None }
}
