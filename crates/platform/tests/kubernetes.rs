//! Kubernetes hosts through the SDK: what a request must give, a cluster that cannot be reached
//! or whose kubeconfig does not parse refused by name, and the kubeconfig sealed. The cluster
//! here is a loopback HTTP server that answers the API's `/version` (what a host's preflight
//! asks); the driver's calls are tested against its in-memory API in `consortia-hosts`, and
//! against a real cluster by `scripts/k8s-smoke`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, consortium, refused};
use consortia_api::PlatformClient;
use consortia_api::platform::*;

on_both_databases!(a_reachable_cluster_becomes_a_host_with_its_kubeconfig_sealed);

/// The token in the test kubeconfig: it must never reach the database in clear.
const TOKEN: &str = "kubeconfig-token-7f3a9c";

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
         clusters:\n- name: test\n  cluster:\n    server: {server}\n\
         users:\n- name: test\n  user:\n    token: {TOKEN}\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
    )
}

/// A loopback server answering `GET /version` as a Kubernetes 1.33 API server does.
async fn api_server() -> String {
    use axum::routing::get;
    let info = serde_json::json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64",
    });
    let app = axum::Router::new().route("/version", get(move || async move { axum::Json(info) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn request(org: &str, kubeconfig: Option<String>) -> CreateHostRequest {
    CreateHostRequest {
        kind: HostKind::Kubernetes,
        kubernetes: Some(HostKubernetes {
            kubeconfig,
            image_repository: "registry.example/consortia-node".into(),
            storage_class: Some("fast".into()),
            storage_gib: Some(20),
        }),
        ..CreateHostRequest::local(org, "k8s")
    }
}

async fn org_admin(backend: Backend) -> Option<(Server, PlatformClient, String)> {
    let server = Server::start(backend).await?;
    let admin = server.admin().await;
    let user = common::user(&server, &admin, "user1").await;
    let (_, org) = consortium(&user, "C", "Org One", ApprovalPolicy::Leader).await;
    Some((server, user, org.id))
}

async fn a_reachable_cluster_becomes_a_host_with_its_kubeconfig_sealed(backend: Backend) {
    let Some((server, user, org)) = org_admin(backend).await else { return };
    let api = api_server().await;
    let host = user.create_host(&request(&org, Some(kubeconfig(&api)))).await.unwrap();
    assert_eq!((host.kind, host.network), (HostKind::Kubernetes, HostNetwork::Cluster));
    assert_eq!(host.endpoint.as_deref(), Some(format!("{api}/").as_str()));
    let cluster = host.kubernetes.unwrap();
    assert_eq!(cluster.image_repository, "registry.example/consortia-node");
    assert_eq!((cluster.storage_class.as_deref(), cluster.storage_gib), (Some("fast"), 20));
    let listed = user.hosts().await.unwrap();
    assert_eq!(listed[0].kubernetes.as_ref().unwrap().storage_gib, 20, "read back as stored");
    let check = user.check_host(&host.id).await.unwrap();
    assert!(check.ready.contains("Kubernetes v1.33.1"), "{}", check.ready);
    let (sealed,): (String,) = sqlx::query_as("SELECT kubeconfig FROM hosts WHERE id = $1")
        .bind(&host.id)
        .fetch_one(server.platform.db())
        .await
        .unwrap();
    assert!(!sealed.contains(TOKEN) && sealed.starts_with("enc1:"), "{sealed}");
}

#[tokio::test]
async fn a_kubernetes_host_needs_its_cluster_settings() {
    let Some((_server, user, org)) = org_admin(Backend::Sqlite).await else { return };
    let bare =
        CreateHostRequest { kind: HostKind::Kubernetes, ..CreateHostRequest::local(&org, "k") };
    assert_eq!(refused(user.create_host(&bare).await), (400, "kubernetes_required".into()));
    let mut tagged = request(&org, None);
    tagged.kubernetes.as_mut().unwrap().image_repository = "registry.example/node:1.0".into();
    assert_eq!(refused(user.create_host(&tagged).await), (400, "bad_image".into()));
    let mut huge = request(&org, None);
    huge.kubernetes.as_mut().unwrap().storage_gib = Some(0);
    assert_eq!(refused(user.create_host(&huge).await), (400, "bad_storage".into()));
}

#[tokio::test]
async fn networks_and_endpoints_of_other_kinds_are_refused_on_a_cluster() {
    let Some((_server, user, org)) = org_admin(Backend::Sqlite).await else { return };
    let host_network =
        CreateHostRequest { network: Some(HostNetwork::Host), ..request(&org, None) };
    assert_eq!(refused(user.create_host(&host_network).await), (400, "bad_network".into()));
    let endpoint =
        CreateHostRequest { endpoint: Some("tcp://10.0.0.1:2376".into()), ..request(&org, None) };
    assert_eq!(refused(user.create_host(&endpoint).await), (400, "bad_endpoint".into()));
    let docker_on_cluster = CreateHostRequest {
        network: Some(HostNetwork::Cluster),
        ..CreateHostRequest::docker(&org, "d")
    };
    assert_eq!(refused(user.create_host(&docker_on_cluster).await), (400, "bad_network".into()));
    let local_with_cluster = CreateHostRequest { kind: HostKind::Local, ..request(&org, None) };
    assert_eq!(
        refused(user.create_host(&local_with_cluster).await),
        (400, "bad_kubernetes".into())
    );
}

#[tokio::test]
async fn a_kubeconfig_that_does_not_parse_is_a_bad_request() {
    let Some((_server, user, org)) = org_admin(Backend::Sqlite).await else { return };
    let bad = request(&org, Some("clusters: [unclosed".into()));
    let (status, code) = refused(user.create_host(&bad).await);
    assert_eq!((status, code.as_str()), (400, "bad_kubeconfig"));
}

#[tokio::test]
async fn an_unreachable_cluster_is_refused_by_name_and_nothing_is_kept() {
    let Some((_server, user, org)) = org_admin(Backend::Sqlite).await else { return };
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let request = request(&org, Some(kubeconfig(&format!("http://{closed}"))));
    let err = user.create_host(&request).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(502), Some("host_unreachable")));
    let text = err.to_string();
    assert!(text.contains("host k8s") && text.contains("kubeconfig's `server`"), "{text}");
    assert!(user.hosts().await.unwrap().is_empty(), "no host is left half made");
}

#[tokio::test]
async fn without_a_kubeconfig_outside_a_cluster_the_error_says_to_give_one() {
    let Some((_server, user, org)) = org_admin(Backend::Sqlite).await else { return };
    let (status, code) = refused(user.create_host(&request(&org, None)).await);
    assert_eq!((status, code.as_str()), (400, "bad_kubeconfig"));
}
