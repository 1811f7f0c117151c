//! Hosts and the chain wizard's first three steps over the API, on SQLite and on PostgreSQL:
//! the chain id at once, nodes per organization on its own hosts, inviting a member
//! organization that brings its nodes, the next step and the open problems, and every illegal
//! order or foreign resource refused with a clear 4xx.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::http::{Method, StatusCode};
use common::{Api, Backend, database};
use serde_json::{Value, json};

#[tokio::test]
async fn chain_wizard_on_sqlite() {
    chain_wizard(Backend::Sqlite).await;
}

#[tokio::test]
async fn chain_wizard_on_postgres() {
    chain_wizard(Backend::Postgres).await;
}

async fn chain_wizard(backend: Backend) {
    let Some(url) = database(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (api, password) = Api::open(dir.path(), url).await;
    let admin = api.token("admin", &password.unwrap()).await;
    for user in ["user1", "user2", "user3", "ops2"] {
        let body = json!({"username": user, "password": format!("{user}-password")});
        api.call(Method::POST, "/v1/users", Some(&admin), body).await;
    }
    let u1 = api.token("user1", "user1-password").await;
    let u2 = api.token("user2", "user2-password").await;
    let u3 = api.token("user3", "user3-password").await;
    let ops2 = api.token("ops2", "ops2-password").await;
    let post = |token: &str, path: &str, body: Value| {
        let (api, token, path) = (&api, token.to_owned(), path.to_owned());
        async move { api.call(Method::POST, &path, Some(&token), body).await }
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();

    // A consortium of org 1 (user 1) and org 2 (user 2; ops2 is its operator).
    let org1 = id(&post(&u1, "/v1/orgs", json!({"name": "Org One"})).await.1);
    let org2 = id(&post(&u2, "/v1/orgs", json!({"name": "Org Two"})).await.1);
    post(&u2, &format!("/v1/orgs/{org2}/members"), json!({"username": "ops2", "role": "operator"}))
        .await;
    let cons = id(&post(&u1, "/v1/consortiums", json!({"name": "C", "org_id": org1})).await.1);
    let inv = id(&post(
        &u1,
        &format!("/v1/consortiums/{cons}/invitations"),
        json!({"username": "user2"}),
    )
    .await
    .1);
    post(&u2, &format!("/v1/invitations/{inv}/accept"), Value::Null).await;
    let req = id(&post(
        &u2,
        &format!("/v1/consortiums/{cons}/join-requests"),
        json!({"org_id": org2, "invitation_id": inv}),
    )
    .await
    .1);
    post(&u1, &format!("/v1/consortiums/{cons}/join-requests/{req}/approve"), Value::Null).await;

    // Hosts belong to organizations.
    let (status, host1) =
        post(&u1, "/v1/hosts", json!({"org_id": org1, "name": "h1", "kind": "local"})).await;
    assert_eq!(
        (status, host1["address"].as_str()),
        (StatusCode::CREATED, Some("127.0.0.1")),
        "{host1}"
    );
    let host1 = id(&host1);
    let host2 =
        id(&post(&u2, "/v1/hosts", json!({"org_id": org2, "name": "h2", "kind": "local"})).await.1);
    assert_eq!(
        post(&u1, "/v1/hosts", json!({"org_id": org2, "name": "x", "kind": "local"})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &u1,
            "/v1/hosts",
            json!({"org_id": org1, "name": "bad", "kind": "local", "address": "nope"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&u1, "/v1/hosts", json!({"org_id": org1, "name": "h1", "kind": "local"})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(&u1, "/v1/hosts", json!({"org_id": org1, "name": "k", "kind": "mainframe"})).await.0,
        StatusCode::BAD_REQUEST
    );

    // Step 1: the chain and its id exist at once; it needs 4 validators.
    let bad = post(&u1, "/v1/chains", json!({"consortium_id": cons, "org_id": org1, "name": "c", "consensus": "bft", "max_block_txs": 0})).await;
    assert_eq!((bad.0, bad.1["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_parameters")));
    assert_eq!(
        post(
            &u3,
            "/v1/chains",
            json!({"consortium_id": cons, "org_id": org1, "name": "c", "consensus": "bft"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let org3 = id(&post(&u3, "/v1/orgs", json!({"name": "Outsider"})).await.1);
    let outsider = post(
        &u3,
        "/v1/chains",
        json!({"consortium_id": cons, "org_id": org3, "name": "c", "consensus": "bft"}),
    )
    .await;
    assert_eq!(
        (outsider.0, outsider.1["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_a_member"))
    );
    let (status, chain) = post(
        &u1,
        "/v1/chains",
        json!({"consortium_id": cons, "org_id": org1, "name": "trade", "consensus": "bft"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{chain}");
    assert!(chain["chain_id"].as_i64().unwrap() >= 100_000);
    assert_eq!(
        (chain["status"].as_str(), chain["next_step"].as_str()),
        (Some("configuring"), Some("add_nodes"))
    );
    assert!(chain["problems"][0].as_str().unwrap().contains("at least 4 validators"));
    let chain = id(&chain);
    assert_eq!(
        post(
            &u1,
            "/v1/chains",
            json!({"consortium_id": cons, "org_id": org1, "name": "trade", "consensus": "raft"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    // Step 2 before step 3: org 2 does not take part yet.
    let nodes = format!("/v1/chains/{chain}/nodes");
    let early = post(&u2, &nodes, json!({"org_id": org2, "host_id": host2})).await;
    assert_eq!(
        (early.0, early.1["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_participating"))
    );
    for n in 0..2 {
        let (status, body) = post(
            &u1,
            &nodes,
            json!({"org_id": org1, "host_id": host1, "name": format!("one-{n}")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(
        post(&u1, &nodes, json!({"org_id": org1, "host_id": host1, "name": "one-0"})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(&u1, &nodes, json!({"org_id": org1, "host_id": host2})).await.1["code"],
        "foreign_host"
    );
    assert_eq!(
        post(&u1, &nodes, json!({"org_id": org1, "host_id": "host_nope"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&u1, &nodes, json!({"org_id": org1, "host_id": host1, "role": "king"})).await.0,
        StatusCode::BAD_REQUEST
    );
    // Ports may be chosen: not 0, not twice on one address.
    let with_ports = |name: &str, http: u16, p2p: u16| json!({"org_id": org1, "host_id": host1, "name": name, "http_port": http, "p2p_port": p2p});
    for (http, p2p) in [(0, 19_101), (19_001, 19_001)] {
        let (status, body) = post(&u1, &nodes, with_ports("one-9", http, p2p)).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_port")));
    }
    let (status, view) = post(&u1, &nodes, with_ports("one-9", 19_001, 19_101)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let pinned = view["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "one-9").unwrap();
    assert_eq!(pinned["http_url"], "http://127.0.0.1:19001", "{view}");
    let (status, body) = post(&u1, &nodes, with_ports("one-8", 19_002, 19_001)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("port_taken")));
    let (status, _) =
        api.call(Method::DELETE, &format!("{nodes}/one-9"), Some(&u1), Value::Null).await;
    assert_eq!(status, StatusCode::OK);

    // Step 3: invite org 2; its operator adds its nodes but cannot touch org 1's.
    assert_eq!(
        post(&u2, &format!("/v1/chains/{chain}/orgs"), json!({"org_id": org2})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&u1, &format!("/v1/chains/{chain}/orgs"), json!({"org_id": org3})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, invited) =
        post(&u1, &format!("/v1/chains/{chain}/orgs"), json!({"org_id": org2})).await;
    assert_eq!(status, StatusCode::OK, "{invited}");
    assert_eq!(
        post(&u1, &format!("/v1/chains/{chain}/orgs"), json!({"org_id": org2})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(&ops2, &nodes, json!({"org_id": org1, "host_id": host1})).await.0,
        StatusCode::FORBIDDEN
    );
    for n in 0..2 {
        let (status, body) = post(
            &ops2,
            &nodes,
            json!({"org_id": org2, "host_id": host2, "name": format!("two-{n}")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let view =
        api.call(Method::GET, &format!("/v1/chains/{chain}"), Some(&u2), Value::Null).await.1;
    assert_eq!(
        (view["next_step"].as_str(), view["problems"].as_array().unwrap().len()),
        (Some("invite_or_start"), 0),
        "{view}"
    );
    assert_eq!(view["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(view["orgs"], json!([org1, org2]));
    // Outsiders see nothing; unknown ids are 404.
    assert_eq!(
        api.call(Method::GET, &format!("/v1/chains/{chain}"), Some(&u3), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Method::GET, "/v1/chains/chain_nope", Some(&u1), Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
    let hosts = api.call(Method::GET, "/v1/hosts", Some(&u2), Value::Null).await.1;
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
    let listed = api.call(Method::GET, "/v1/chains", Some(&u2), Value::Null).await.1;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(api.call(Method::GET, "/v1/chains", Some(&u3), Value::Null).await.1, json!([]));

    // Step 2 undone: a node leaves before the start (its organization only); then 3
    // validators are not enough for BFT again.
    let remove = |token: &str, node: &str| {
        let (api, token, path) =
            (&api, token.to_owned(), format!("/v1/chains/{chain}/nodes/{node}"));
        async move { api.call(Method::DELETE, &path, Some(&token), Value::Null).await }
    };
    assert_eq!(remove(&ops2, "one-0").await.0, StatusCode::FORBIDDEN);
    assert_eq!(remove(&u1, "ghost").await.0, StatusCode::NOT_FOUND);
    let (status, view) = remove(&u1, "one-0").await;
    assert_eq!((status, view["next_step"].as_str()), (StatusCode::OK, Some("add_nodes")), "{view}");
    assert_eq!(view["nodes"].as_array().unwrap().len(), 3);

    // A chosen port that another program holds fails the start before any node is made, and
    // says which; the chain is configuring again, with the reason.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let body = json!({"org_id": org1, "host_id": host1, "name": "one-9", "http_port": held});
    assert_eq!(post(&u1, &nodes, body).await.0, StatusCode::CREATED);
    let (status, body) = post(&u1, &format!("/v1/chains/{chain}/start"), Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("start_failed")));
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&format!("port {held}")) && message.contains("in use"), "{message}");
    let view =
        api.call(Method::GET, &format!("/v1/chains/{chain}"), Some(&u1), Value::Null).await.1;
    assert_eq!(view["status"], "configuring", "{view}");
    assert!(view["failure"].as_str().unwrap().contains("in use"), "{view}");
    let unpinned = view["nodes"].as_array().unwrap().iter().filter(|n| n["http_url"].is_null());
    assert_eq!(unpinned.count(), 3, "ports picked for a failed start are not kept: {view}");
}
