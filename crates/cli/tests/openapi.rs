//! The OpenAPI documents of both servers against the servers themselves: every documented
//! operation is served (and no other method on a documented path), parameters sit where they
//! are sent (path or query), every schema reference resolves, and every operation documents
//! its error answers with the error body. The documents are also checked with a standard
//! OpenAPI 3 validator (`scripts/openapi`, in scripts/test).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeSet;

use consortia_api::PlatformClient;
use consortia_test_utils::process::DevNode;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn platform_doc() -> Value {
    serde_json::to_value(consortia_platform::http::openapi()).unwrap()
}

fn node_doc() -> Value {
    let max = consortia_types::ChainParams::default().max_tx_bytes as usize;
    serde_json::to_value(consortia_rpc::openapi(max)).unwrap()
}

/// Every (path, method) of a document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = vec![];
    // Sealing stops everything after it (503 `sealed`): it goes last.
    let mut paths: Vec<_> = doc["paths"].as_object().unwrap().iter().collect();
    paths.sort_by_key(|(path, _)| *path == "/v1/sys/seal");
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// `{name}`s of a path template.
fn path_names(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned))
        .collect()
}

#[test]
fn parameters_are_documented_where_they_are_sent() {
    for doc in [platform_doc(), node_doc()] {
        for (path, method, op) in operations(&doc) {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let in_path: BTreeSet<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(in_path, path_names(&path), "{method} {path}: path parameters");
            // Besides the path: queries, and request headers the handler reads
            // (`Idempotency-Key`).
            for p in params.iter().filter(|p| p["in"] != "path") {
                assert!(p["in"] == "query" || p["in"] == "header", "{method} {path}: {p}");
            }
        }
    }
    // The queries the issue named, by name.
    let doc = platform_doc();
    let audit = &doc["paths"]["/v1/audit"]["get"]["parameters"];
    assert!(audit.as_array().unwrap().iter().all(|p| p["in"] == "query"), "{audit}");
}

#[test]
fn every_schema_reference_resolves() {
    for doc in [platform_doc(), node_doc()] {
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = 0;
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref {name}");
            refs += 1;
        }
        assert!(refs > 10, "{refs} references");
    }
}

#[test]
fn every_operation_documents_its_error_answers_with_the_error_body() {
    for (doc, authenticated) in [(platform_doc(), true), (node_doc(), false)] {
        for (path, method, op) in operations(&doc) {
            let responses = op["responses"].as_object().unwrap();
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().all(|r| r == &serde_json::json!({})));
            assert!(responses.contains_key("500"), "{method} {path}");
            if authenticated && !public {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            if !op["requestBody"].is_null() {
                assert!(
                    responses.contains_key("400") && responses.contains_key("413"),
                    "{method} {path}"
                );
            }
            for (status, response) in responses {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') && !(path == "/ws" && status == "400") {
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // Input constraints are stated.
    let doc = platform_doc();
    let user = &doc["components"]["schemas"]["CreateUserRequest"]["properties"];
    assert_eq!(
        (user["username"]["minLength"].as_u64(), user["password"]["minLength"].as_u64()),
        (Some(3), Some(10))
    );
}

/// Sends every documented operation to the server at `base` (path parameters `x`, an empty
/// JSON object as the body) and checks that a route took it; and every other method on a
/// documented path, which must be 405.
async fn check_routes(base: &str, doc: &Value, bearer: Option<&str>) {
    let client = reqwest::Client::new();
    let mut served = 0;
    // Logging out ends the session (401 after it) and sealing stops everything (503): they
    // go last, in that order.
    let ending = |path: &str, method: &str| match (path, method) {
        ("/v1/auth/logout", "post") => 1,
        ("/v1/sys/seal", "post") => 2,
        _ => 0,
    };
    let mut calls: Vec<_> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| METHODS.iter().map(move |m| (path, item, *m)))
        .collect();
    calls.sort_by_key(|(path, _, method)| ending(path, method));
    for (path, item, method) in calls {
        let url = format!(
            "{base}{}",
            path.split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        );
        let mut request = client
            .request(method.to_uppercase().parse().unwrap(), &url)
            .header("content-type", "application/json")
            .body("{}");
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let unrouted =
            status == 404 && body["message"].as_str().is_some_and(|m| m.starts_with("no route "));
        if item.get(method).is_some() {
            assert!(
                !unrouted && status != 405,
                "{method} {path} is documented but not served: {status} {body}"
            );
            served += 1;
        } else {
            assert_eq!(status, 405, "{method} {path} is served but not documented: {body}");
            assert_eq!(body["code"], "method_not_allowed");
        }
    }
    assert_eq!(served, operations(doc).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_platform_route_is_served_and_no_other_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = consortia_platform::PlatformConfig::new(dir.path());
    config.admin_password = Some("administrator".into());
    config.unseal = consortia_platform::service::keystore::initialize(
        &config,
        1,
        1,
        consortia_crypto::Aead::Aes256Gcm,
    )
    .await
    .unwrap();
    let (platform, _) = consortia_platform::Platform::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = consortia_platform::router(platform);
    tokio::spawn(async move {
        let limits = consortia_api::serving::Limits::default();
        consortia_api::serving::serve(listener, app, limits, std::future::pending()).await
    });
    let admin = PlatformClient::new(&base);
    let token = admin.login("admin", "administrator").await.unwrap().access_token;
    let served: Value =
        reqwest::get(format!("{base}/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(served, platform_doc(), "the document served is the one checked here");
    check_routes(&base, &served, Some(&token)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_node_route_is_served_and_no_other_method() {
    let dir = tempfile::tempdir().unwrap();
    let node = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || DevNode::start(&dir, &[])
    })
    .await
    .unwrap();
    let served: Value =
        reqwest::get(format!("{}/openapi.json", node.url)).await.unwrap().json().await.unwrap();
    assert_eq!(served, node_doc(), "the document served is the one checked here");
    check_routes(&node.url, &served, None).await;
    let ui = reqwest::get(format!("{}/docs/", node.url)).await.unwrap();
    assert_eq!(ui.status().as_u16(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
}
