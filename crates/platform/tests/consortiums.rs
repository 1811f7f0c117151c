//! The seed's Baidu flow over the API, on SQLite and on PostgreSQL: user 1 creates org 1 and a
//! consortium with it; invites user 2; user 2 accepts, creates org 2 and requests to join; the
//! request is approved by the policy; org 2 is a member with a certificate under the
//! consortium CA. Then majority approval, refusals, and the one-organization rule.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::http::{Method, StatusCode};
use common::{Api, Backend, database};
use serde_json::{Value, json};

#[tokio::test]
async fn consortium_flow_on_sqlite() {
    consortium_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn consortium_flow_on_postgres() {
    consortium_flow(Backend::Postgres).await;
}

async fn consortium_flow(backend: Backend) {
    let Some(url) = database(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (api, password) = Api::open(dir.path(), url).await;
    let admin = api.token("admin", &password.unwrap()).await;
    for user in ["user1", "user2", "user3"] {
        let body = json!({"username": user, "password": format!("{user}-password")});
        assert_eq!(
            api.call(Method::POST, "/v1/users", Some(&admin), body).await.0,
            StatusCode::CREATED
        );
    }
    let u1 = api.token("user1", "user1-password").await;
    let u2 = api.token("user2", "user2-password").await;
    let u3 = api.token("user3", "user3-password").await;
    let post = |token: &str, path: String, body: Value| {
        let (api, token) = (&api, token.to_owned());
        async move { api.call(Method::POST, &path, Some(&token), body).await }
    };

    // User 1: org 1, and a consortium it leads (leader-only approval).
    let org1 = post(&u1, "/v1/orgs".into(), json!({"name": "Bank One"})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, cons) =
        post(&u1, "/v1/consortiums".into(), json!({"name": "Trade Finance", "org_id": org1})).await;
    assert_eq!(status, StatusCode::CREATED, "{cons}");
    assert_eq!(cons["approval_policy"], "leader");
    assert!(cons["ca_cert_pem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(cons["members"].as_array().unwrap().len(), 1);
    let cons = cons["id"].as_str().unwrap().to_owned();
    // Not the admin of someone else's org; not a second consortium of that name.
    let (status, _) =
        post(&u2, "/v1/consortiums".into(), json!({"name": "X", "org_id": org1})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let dup =
        post(&u1, "/v1/consortiums".into(), json!({"name": "Trade Finance", "org_id": org1})).await;
    assert_eq!(dup.0, StatusCode::CONFLICT);

    // User 1 invites user 2; user 2 sees it, may read the consortium, accepts.
    let (status, inv) =
        post(&u1, format!("/v1/consortiums/{cons}/invitations"), json!({"username": "user2"}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let inv = inv["id"].as_str().unwrap().to_owned();
    assert_eq!(
        post(&u1, format!("/v1/consortiums/{cons}/invitations"), json!({"username": "user2"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(&u3, format!("/v1/consortiums/{cons}/invitations"), json!({"username": "user3"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let mine = api.call(Method::GET, "/v1/invitations", Some(&u2), Value::Null).await.1;
    assert_eq!(mine[0]["status"], "pending");
    assert_eq!(
        api.call(Method::GET, &format!("/v1/consortiums/{cons}"), Some(&u2), Value::Null).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.call(Method::GET, &format!("/v1/consortiums/{cons}"), Some(&u3), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&u3, format!("/v1/invitations/{inv}/accept"), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, accepted) = post(&u2, format!("/v1/invitations/{inv}/accept"), Value::Null).await;
    assert_eq!((status, accepted["status"].as_str()), (StatusCode::OK, Some("accepted")));
    assert_eq!(
        post(&u2, format!("/v1/invitations/{inv}/decline"), Value::Null).await.0,
        StatusCode::CONFLICT
    );

    // User 2 creates org 2 and asks to join with it; bad asks are refused first.
    let org2 = post(&u2, "/v1/orgs".into(), json!({"name": "Shipper Two"})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/consortiums/{cons}/join-requests");
    assert_eq!(
        post(&u2, path.clone(), json!({"org_id": org2, "invitation_id": "inv_nope"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&u2, path.clone(), json!({"org_id": org1, "invitation_id": inv})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(post(&u2, path.clone(), json!({"org_id": org2})).await.0, StatusCode::BAD_REQUEST);
    let (status, request) =
        post(&u2, path.clone(), json!({"org_id": org2, "invitation_id": inv})).await;
    assert_eq!(
        (status, request["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{request}"
    );
    let request = request["id"].as_str().unwrap().to_owned();
    // A second organization of the same user may not ask too.
    let org2b = post(&u2, "/v1/orgs".into(), json!({"name": "Shipper Two B"})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) =
        post(&u2, path.clone(), json!({"org_id": org2b, "invitation_id": inv})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_taking_part"))
    );

    // Only a member organization votes; the leader's approval decides.
    assert_eq!(
        post(&u2, format!("{path}/{request}/approve"), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, decided) = post(&u1, format!("{path}/{request}/approve"), Value::Null).await;
    assert_eq!(
        (status, decided["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{decided}"
    );
    assert_eq!(
        post(&u1, format!("{path}/{request}/reject"), Value::Null).await.0,
        StatusCode::CONFLICT
    );
    let consortium =
        api.call(Method::GET, &format!("/v1/consortiums/{cons}"), Some(&u2), Value::Null).await.1;
    let members: Vec<&str> = consortium["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["org_name"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["Bank One", "Shipper Two"]);
    let cert = consortium["members"][1]["cert_pem"].as_str().unwrap();
    assert!(
        cert.starts_with("-----BEGIN CERTIFICATE-----")
            && cert != consortium["members"][0]["cert_pem"].as_str().unwrap()
    );
    let listed = api.call(Method::GET, "/v1/consortiums", Some(&u2), Value::Null).await.1;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // A majority consortium: with two members, one approval is not more than half; two are.
    let (_, majority) = post(
        &u1,
        "/v1/consortiums".into(),
        json!({"name": "Open Ledger", "org_id": org1, "approval_policy": "majority"}),
    )
    .await;
    let majority = majority["id"].as_str().unwrap().to_owned();
    let invite = |who: &'static str| {
        post(&u1, format!("/v1/consortiums/{majority}/invitations"), json!({"username": who}))
    };
    let inv2 = invite("user2").await.1["id"].as_str().unwrap().to_owned();
    post(&u2, format!("/v1/invitations/{inv2}/accept"), Value::Null).await;
    let mpath = format!("/v1/consortiums/{majority}/join-requests");
    let r2 = post(&u2, mpath.clone(), json!({"org_id": org2, "invitation_id": inv2})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        post(&u1, format!("{mpath}/{r2}/approve"), Value::Null).await.1["status"],
        "approved",
        "1 of 1 member"
    );
    let inv3 = invite("user3").await.1["id"].as_str().unwrap().to_owned();
    post(&u3, format!("/v1/invitations/{inv3}/accept"), Value::Null).await;
    let org3 = post(&u3, "/v1/orgs".into(), json!({"name": "Insurer Three"})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r3 = post(&u3, mpath.clone(), json!({"org_id": org3, "invitation_id": inv3})).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = post(&u1, format!("{mpath}/{r3}/approve"), Value::Null).await.1;
    assert_eq!(
        (one["status"].as_str(), one["approvals"].as_array().unwrap().len()),
        (Some("pending"), 1),
        "1 of 2 is not a majority"
    );
    assert_eq!(
        post(&u1, format!("{mpath}/{r3}/approve"), Value::Null).await.0,
        StatusCode::CONFLICT,
        "one vote per organization"
    );
    let two = post(&u2, format!("{mpath}/{r3}/approve"), Value::Null).await.1;
    assert_eq!(two["status"], "approved", "{two}");

    // Unknown ids and malformed bodies.
    assert_eq!(
        api.call(Method::GET, "/v1/consortiums/cons_nope", Some(&u1), Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&u1, format!("{path}/join_nope/approve"), Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = api.raw(Method::POST, "/v1/consortiums", Some(&u1), "[1,2").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_body")));
}
