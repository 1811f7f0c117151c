//! The platform's API in process, over a real database: SQLite in a temporary directory, or a
//! PostgreSQL database of the test's own.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)] // shared by several test files

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use consortia_platform::{Platform, PlatformConfig, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Api {
    pub router: Router,
    pub platform: Arc<Platform>,
}

/// Where a test keeps its metadata.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database URL of one test (`None`: the default SQLite file), or `None` when PostgreSQL
/// is not available outside CI. A PostgreSQL test gets a database of its own.
pub async fn database(backend: Backend) -> Option<Option<String>> {
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

impl Api {
    pub async fn open(
        dir: &std::path::Path,
        database_url: Option<String>,
    ) -> (Api, Option<String>) {
        let config = PlatformConfig {
            data_dir: dir.to_path_buf(),
            database_url,
            // Hosts' drivers open (they choose nodes' ports), but no node runs in these tests:
            // a start that got as far as running one would fail.
            node_program: Some(dir.join("no-node-program")),
            admin_password: None,
        };
        let (platform, bootstrap) = Platform::open(config).await.unwrap();
        let api = Api { router: router(platform.clone()), platform };
        (api, bootstrap.map(|b| b.password))
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.raw(method, path, token, &body).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Value {
        let (status, tokens) = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        self.login(username, password).await["access_token"].as_str().unwrap().to_owned()
    }
}
