//! Identity and access over the platform's HTTP API, on a real SQLite database file and on a
//! real PostgreSQL server (the same suite): login, tokens and their forgeries, API keys, users
//! and sub-users, organizations and roles, policies that deny, the audit log, bad input, and a
//! restart that keeps everything.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Api, Backend, database};
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn identity_roles_policies_and_audit_on_sqlite() {
    identity_roles_policies_and_audit(Backend::Sqlite).await;
}

#[tokio::test]
async fn identity_roles_policies_and_audit_on_postgres() {
    identity_roles_policies_and_audit(Backend::Postgres).await;
}

async fn identity_roles_policies_and_audit(backend: Backend) {
    let Some(url) = database(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (api, password) = Api::open(dir.path(), url.clone()).await;
    let password = password.expect("a first start creates the administrator");
    let admin = api.token("admin", &password).await;

    // Every endpoint but login and health needs a credential; wrong ones are refused.
    assert_eq!(api.call(Method::GET, "/v1/health", None, Value::Null).await.0, StatusCode::OK);
    let (status, body) = api.call(Method::GET, "/v1/orgs", None, Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let wrong = api
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            json!({"username": "admin", "password": "nope"}),
        )
        .await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    let nobody = api
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            json!({"username": "ghost", "password": "nope"}),
        )
        .await;
    assert_eq!(nobody.1["message"], wrong.1["message"], "unknown users look like wrong passwords");
    let forged = admin.replace("usr_", "usr_0");
    assert_eq!(
        api.call(Method::GET, "/v1/users/me", Some(&forged), Value::Null).await.0,
        StatusCode::UNAUTHORIZED
    );
    let me = api.call(Method::GET, "/v1/users/me", Some(&admin), Value::Null).await.1;
    let admin_id = me["id"].as_str().unwrap().to_owned();
    let expired =
        api.platform.tokens().issue(&admin_id, consortia_platform::store::now_ms() - 3_600_000, 60);
    let (status, body) = api.call(Method::GET, "/v1/users/me", Some(&expired), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");

    // Users: bad names, weak passwords, duplicates.
    for (user, pw, code) in
        [("Alice!", "long enough pw", "bad_username"), ("alice", "short", "weak_password")]
    {
        let (status, body) = api
            .call(
                Method::POST,
                "/v1/users",
                Some(&admin),
                json!({"username": user, "password": pw}),
            )
            .await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)));
    }
    for user in ["alice", "bob", "carol"] {
        let (status, body) = api
            .call(
                Method::POST,
                "/v1/users",
                Some(&admin),
                json!({"username": user, "password": format!("{user}-password")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let dup = api
        .call(
            Method::POST,
            "/v1/users",
            Some(&admin),
            json!({"username": "bob", "password": "bob-password"}),
        )
        .await;
    assert_eq!(dup.0, StatusCode::CONFLICT);
    let alice = api.token("alice", "alice-password").await;
    let bob = api.token("bob", "bob-password").await;
    let carol = api.token("carol", "carol-password").await;
    // The administrator lists every user; anyone else their own sub-users (none yet).
    let users = api.call(Method::GET, "/v1/users", Some(&admin), Value::Null).await.1;
    let names: Vec<&str> =
        users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice", "bob", "carol"]);
    assert_eq!(api.call(Method::GET, "/v1/users", Some(&alice), Value::Null).await.1, json!([]));

    // Organizations: the creator is admin; names are unique; others cannot read them.
    let (status, org1) =
        api.call(Method::POST, "/v1/orgs", Some(&alice), json!({"name": "Org One"})).await;
    assert_eq!((status, org1["role"].as_str()), (StatusCode::CREATED, Some("admin")));
    let org1 = org1["id"].as_str().unwrap().to_owned();
    let (_, org2) =
        api.call(Method::POST, "/v1/orgs", Some(&bob), json!({"name": "Org Two"})).await;
    let org2 = org2["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(Method::POST, "/v1/orgs", Some(&bob), json!({"name": "Org One"})).await.0,
        StatusCode::CONFLICT
    );
    let (status, body) =
        api.call(Method::GET, &format!("/v1/orgs/{org1}/members"), Some(&bob), Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        api.call(Method::GET, "/v1/orgs/org_nope", Some(&bob), Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
    let listed = api.call(Method::GET, "/v1/orgs", Some(&bob), Value::Null).await.1;
    assert_eq!(listed.as_array().unwrap().len(), 1, "bob sees his organization only: {listed}");
    assert_eq!(
        api.call(Method::GET, "/v1/orgs", Some(&admin), Value::Null)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A viewer reads but cannot change; an operator cannot manage members either.
    let members = format!("/v1/orgs/{org1}/members");
    let added = api
        .call(Method::POST, &members, Some(&alice), json!({"username": "carol", "role": "viewer"}))
        .await;
    assert_eq!(added.0, StatusCode::CREATED, "{}", added.1);
    let carol_id = added.1["user_id"].as_str().unwrap().to_owned();
    assert_eq!(api.call(Method::GET, &members, Some(&carol), Value::Null).await.0, StatusCode::OK);
    let (status, body) = api
        .call(Method::POST, &members, Some(&carol), json!({"username": "bob", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["message"].as_str().unwrap().contains("viewer"), "{body}");
    let again = api
        .call(Method::POST, &members, Some(&alice), json!({"username": "carol", "role": "admin"}))
        .await;
    assert_eq!(again.0, StatusCode::CONFLICT);
    assert_eq!(
        api.call(
            Method::POST,
            &members,
            Some(&alice),
            json!({"username": "nobody", "role": "admin"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // The last admin stays.
    let me_alice = api.call(Method::GET, "/v1/users/me", Some(&alice), Value::Null).await.1;
    let alice_id = me_alice["id"].as_str().unwrap().to_owned();
    let demote = api
        .call(
            Method::PUT,
            &format!("{members}/{alice_id}"),
            Some(&alice),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!((demote.0, demote.1["code"].as_str()), (StatusCode::CONFLICT, Some("last_admin")));

    // Carol becomes admin, then a policy that denies adding members binds her.
    let promote = api
        .call(Method::PUT, &format!("{members}/{carol_id}"), Some(&alice), json!({"role": "admin"}))
        .await;
    assert_eq!(promote.0, StatusCode::NO_CONTENT);
    let policy = json!({"name": "no-new-members", "document": {"statements": [
        {"effect": "deny", "actions": ["member:add"], "resources": [format!("org/{org1}*")]}
    ]}});
    let (status, policy) =
        api.call(Method::POST, &format!("/v1/orgs/{org1}/policies"), Some(&alice), policy).await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    let bad_policy = json!({"name": "x", "document": {"statements": [{"effect": "allow", "actions": ["a*b"], "resources": ["*"]}]}});
    assert_eq!(
        api.call(Method::POST, &format!("/v1/orgs/{org1}/policies"), Some(&alice), bad_policy)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let attach = format!("/v1/orgs/{org1}/policies/{policy_id}/attachments");
    assert_eq!(
        api.call(Method::POST, &attach, Some(&alice), json!({"user_id": carol_id})).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = api
        .call(Method::POST, &members, Some(&carol), json!({"username": "bob", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["message"].as_str().unwrap().contains("no-new-members"), "{body}");
    let detach = format!("{attach}/{carol_id}");
    assert_eq!(
        api.call(Method::DELETE, &detach, Some(&alice), Value::Null).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(
            Method::POST,
            &members,
            Some(&carol),
            json!({"username": "bob", "role": "viewer"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    // Attaching to a non-member or an unknown policy: 404.
    assert_eq!(
        api.call(
            Method::POST,
            &format!("/v1/orgs/{org2}/policies/{policy_id}/attachments"),
            Some(&bob),
            json!({"user_id": carol_id})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Refresh tokens are single use; API keys authenticate.
    let tokens = api.login("bob", "bob-password").await;
    let refresh = json!({"refresh_token": tokens["refresh_token"]});
    let (status, fresh) = api.call(Method::POST, "/v1/auth/refresh", None, refresh.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh["refresh_token"], tokens["refresh_token"]);
    assert_eq!(
        api.call(Method::POST, "/v1/auth/refresh", None, refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, key) =
        api.call(Method::POST, "/v1/users/me/api-keys", Some(&bob), json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let key = key["key"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(Method::GET, "/v1/users/me", Some(&key), Value::Null).await.1["username"],
        "bob"
    );
    let tampered = format!("{}x", key);
    assert_eq!(
        api.call(Method::GET, "/v1/users/me", Some(&tampered), Value::Null).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Sub-users: a user creates them; they start with no permissions.
    let (status, sub) = api
        .call(
            Method::POST,
            "/v1/users",
            Some(&bob),
            json!({"username": "bob.ci", "password": "bob-ci-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(sub["parent_id"].is_string());
    let sub = api.token("bob.ci", "bob-ci-password").await;
    assert_eq!(
        api.call(Method::GET, &format!("/v1/orgs/{org2}"), Some(&sub), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );

    // Malformed bodies and unknown routes get the API's error shape.
    let (status, body) = api.raw(Method::POST, "/v1/orgs", Some(&bob), "{not json").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_body")));
    let (status, body) = api.call(Method::GET, "/v1/nowhere", Some(&bob), Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // The audit log: who did what, when, with what result; filtered; others' only for admins.
    let (status, mine) = api
        .call(Method::GET, "/v1/audit?method=post&path_prefix=/v1/orgs", Some(&carol), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<i64> =
        mine.as_array().unwrap().iter().map(|e| e["status"].as_i64().unwrap()).collect();
    assert!(
        statuses.contains(&403) && statuses.contains(&201),
        "carol's refused and accepted calls: {mine}"
    );
    assert!(mine.as_array().unwrap().iter().all(|e| e["actor"] == "carol"));
    assert_eq!(
        api.call(Method::GET, "/v1/audit?actor=alice", Some(&carol), Value::Null).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, all) =
        api.call(Method::GET, "/v1/audit?actor=alice&limit=500", Some(&admin), Value::Null).await;
    let org_created =
        all.as_array().unwrap().iter().any(|e| e["path"] == "/v1/orgs" && e["status"] == 201);
    assert!(org_created, "{all}");
    let (_, logins) = api
        .call(Method::GET, "/v1/audit?path_prefix=/v1/auth/login", Some(&admin), Value::Null)
        .await;
    assert!(logins.as_array().unwrap().iter().any(|e| e["status"] == 401 && e["actor"].is_null()));

    // A restart keeps users, organizations and signed-in sessions; no second administrator.
    drop(api);
    let (api, again) = Api::open(dir.path(), url).await;
    assert!(again.is_none());
    let orgs = api.call(Method::GET, "/v1/orgs", Some(&alice), Value::Null).await.1;
    assert_eq!(orgs[0]["id"], json!(org1));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_swagger_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (api, _) = Api::open(dir.path(), None).await;
    let (status, doc) = api.call(Method::GET, "/openapi.json", None, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/auth/login",
        "/v1/orgs/{org}/members/{user}",
        "/v1/audit",
        "/v1/orgs/{org}/policies/{policy}/attachments/{user}",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let docs = api
        .router
        .clone()
        .oneshot(Request::get("/docs/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
}
