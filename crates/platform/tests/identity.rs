//! Identity and access through the SDK, on a real SQLite file and on a real PostgreSQL server:
//! login, tokens and their forgeries, API keys, users and sub-users, organizations and roles,
//! policies that deny, the audit log, bad input, and a restart that keeps everything.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, bearer, password_of, refused, user};
use consortia_api::platform::*;
use reqwest::Method;

on_both_databases!(
    a_wrong_password_and_an_unknown_user_get_the_same_answer,
    forged_and_expired_tokens_are_refused,
    usernames_passwords_and_duplicates_are_checked,
    administrators_list_every_user_and_others_their_sub_users,
    an_organization_is_seen_by_its_members_only,
    a_viewer_reads_members_but_cannot_add_any,
    the_last_admin_of_an_organization_stays,
    a_deny_policy_beats_the_admin_role_until_detached,
    refresh_tokens_are_single_use_and_api_keys_authenticate,
    sub_users_start_without_permissions,
    malformed_bodies_and_unknown_routes_get_the_error_shape,
    the_audit_log_records_who_did_what_and_shows_others_only_to_admins,
    a_restart_keeps_users_organizations_and_sessions,
);

async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let anonymous = server.anonymous();
    assert_eq!(anonymous.health().await.unwrap().status, "ok");
    assert_eq!(refused(anonymous.orgs().await), (401, "unauthorized".into()));
    let wrong = anonymous.login("admin", "nope").await.unwrap_err();
    let nobody = anonymous.login("ghost", "nope").await.unwrap_err();
    assert_eq!(wrong.status(), Some(401));
    assert_eq!(wrong.body().unwrap().message, nobody.body().unwrap().message);
}

async fn forged_and_expired_tokens_are_refused(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let token = bearer(&admin);
    let forged = token.replace("usr_", "usr_0");
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&forged), "").await;
    assert_eq!(status, 401);
    let id = admin.me().await.unwrap().id;
    let expired = server.platform.keys().unwrap().tokens.issue(
        &id,
        consortia_platform::store::now_ms() - 3_600_000,
        60,
    );
    let (status, body) = server.raw(Method::GET, "/v1/users/me", Some(&expired), "").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
}

async fn usernames_passwords_and_duplicates_are_checked(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let create = |username: &str, password: &str| CreateUserRequest {
        username: username.into(),
        password: password.into(),
    };
    let bad_name = admin.create_user(&create("Alice!", "long enough pw")).await;
    assert_eq!(refused(bad_name), (400, "bad_username".into()));
    let weak = admin.create_user(&create("alice", "short")).await;
    assert_eq!(refused(weak), (400, "weak_password".into()));
    admin.create_user(&create("bob", "bob-password")).await.unwrap();
    let again = admin.create_user(&create("bob", "bob-password")).await;
    assert_eq!(refused(again), (409, "conflict".into()));
}

async fn administrators_list_every_user_and_others_their_sub_users(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    user(&server, &admin, "bob").await;
    let names: Vec<String> = admin.users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    assert!(alice.users().await.unwrap().is_empty());
}

async fn an_organization_is_seen_by_its_members_only(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (alice, bob) = (user(&server, &admin, "alice").await, user(&server, &admin, "bob").await);
    let org1 = alice.create_org("Org One").await.unwrap();
    assert_eq!(org1.role, Some(Role::Admin));
    bob.create_org("Org Two").await.unwrap();
    assert_eq!(refused(bob.create_org("Org One").await), (409, "conflict".into()));
    assert_eq!(refused(bob.members(&org1.id).await), (403, "forbidden".into()));
    assert_eq!(refused(bob.org("org_nope").await), (404, "not_found".into()));
    assert_eq!(bob.orgs().await.unwrap().len(), 1, "bob sees his organization only");
    assert_eq!(admin.orgs().await.unwrap().len(), 2);
}

async fn a_viewer_reads_members_but_cannot_add_any(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    let carol = user(&server, &admin, "carol").await;
    user(&server, &admin, "bob").await;
    let org = alice.create_org("Org One").await.unwrap();
    let add = |name: &str, role| AddMemberRequest { username: name.into(), role };
    alice.add_member(&org.id, &add("carol", Role::Viewer)).await.unwrap();
    assert_eq!(carol.members(&org.id).await.unwrap().len(), 2);
    let e = carol.add_member(&org.id, &add("bob", Role::Viewer)).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.body().unwrap().message.contains("viewer"), "{e}");
    assert_eq!(refused(alice.add_member(&org.id, &add("carol", Role::Admin)).await).0, 409);
    assert_eq!(refused(alice.add_member(&org.id, &add("nobody", Role::Admin)).await).0, 404);
}

async fn the_last_admin_of_an_organization_stays(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    let org = alice.create_org("Org One").await.unwrap();
    let me = alice.me().await.unwrap().id;
    let demote = alice.set_member_role(&org.id, &me, Role::Viewer).await;
    assert_eq!(refused(demote), (409, "last_admin".into()));
    assert_eq!(refused(alice.remove_member(&org.id, &me).await), (409, "last_admin".into()));
}

async fn a_deny_policy_beats_the_admin_role_until_detached(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    let carol = user(&server, &admin, "carol").await;
    user(&server, &admin, "bob").await;
    let org = alice.create_org("Org One").await.unwrap();
    let add = |name: &str| AddMemberRequest { username: name.into(), role: Role::Viewer };
    let carol_id = alice.add_member(&org.id, &add("carol")).await.unwrap().user_id;
    alice.set_member_role(&org.id, &carol_id, Role::Admin).await.unwrap();
    let statement = |effect, action: &str, resource: String| Statement {
        effect,
        actions: vec![action.into()],
        resources: vec![resource],
    };
    let deny = PolicyRequest {
        name: "no-new-members".into(),
        document: PolicyDocument {
            statements: vec![statement(Effect::Deny, "member:add", format!("org/{}*", org.id))],
        },
    };
    let policy = alice.create_policy(&org.id, &deny).await.unwrap();
    let bad = PolicyRequest {
        name: "x".into(),
        document: PolicyDocument { statements: vec![statement(Effect::Allow, "a*b", "*".into())] },
    };
    assert_eq!(refused(alice.create_policy(&org.id, &bad).await), (400, "bad_policy".into()));
    alice.attach_policy(&org.id, &policy.id, &carol_id).await.unwrap();
    let e = carol.add_member(&org.id, &add("bob")).await.unwrap_err();
    assert!(e.body().unwrap().message.contains("no-new-members"), "{e}");
    alice.detach_policy(&org.id, &policy.id, &carol_id).await.unwrap();
    carol.add_member(&org.id, &add("bob")).await.unwrap();
    // Attaching an unknown policy, or to a non-member: 404.
    let other = user(&server, &admin, "dave").await;
    let org2 = other.create_org("Org Two").await.unwrap();
    assert_eq!(refused(other.attach_policy(&org2.id, &policy.id, &carol_id).await).0, 404);
}

async fn refresh_tokens_are_single_use_and_api_keys_authenticate(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let first = bob.credentials();
    bob.refresh().await.unwrap();
    assert_ne!(bob.credentials(), first);
    let replay = consortia_api::PlatformClient::with_credentials(&server.url, first);
    assert_eq!(refused(replay.refresh().await), (401, "unauthorized".into()));
    let key = bob.create_api_key("ci").await.unwrap().key;
    let automation = consortia_api::PlatformClient::with_credentials(
        &server.url,
        Some(consortia_api::Credentials::ApiKey(key.clone())),
    );
    assert_eq!(automation.me().await.unwrap().username, "bob");
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&format!("{key}x")), "").await;
    assert_eq!(status, 401);
}

async fn sub_users_start_without_permissions(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let org = bob.create_org("Org Two").await.unwrap();
    let sub = user(&server, &bob, "bob.ci").await;
    assert!(sub.me().await.unwrap().parent_id.is_some());
    assert_eq!(refused(sub.org(&org.id).await), (403, "forbidden".into()));
    assert_eq!(bob.users().await.unwrap().len(), 1, "bob's own sub-user");
}

async fn malformed_bodies_and_unknown_routes_get_the_error_shape(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = bearer(&server.admin().await);
    let (status, body) = server.raw(Method::POST, "/v1/orgs", Some(&admin), "{not json").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("malformed_body")));
    let (status, body) = server.raw(Method::GET, "/v1/nowhere", Some(&admin), "").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = server.raw(Method::PATCH, "/v1/orgs", Some(&admin), "{}").await;
    assert_eq!((status, body["code"].as_str()), (405, Some("method_not_allowed")));
    let (status, body) = server.raw(Method::GET, "/v1/orgs/%FF", Some(&admin), "").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_path")), "not UTF-8");
}

async fn the_audit_log_records_who_did_what_and_shows_others_only_to_admins(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    let carol = user(&server, &admin, "carol").await;
    let org = alice.create_org("Org One").await.unwrap();
    carol
        .add_member(&org.id, &AddMemberRequest { username: "carol".into(), role: Role::Viewer })
        .await
        .unwrap_err();
    carol.create_org("Org Three").await.unwrap();
    server.anonymous().login("alice", "wrong").await.unwrap_err();
    let query = AuditQuery {
        method: Some("post".into()),
        path_prefix: Some("/v1/orgs".into()),
        ..AuditQuery::default()
    };
    let mine = carol.audit(&query).await.unwrap();
    let statuses: Vec<i64> = mine.iter().map(|e| e.status).collect();
    assert!(statuses.contains(&403) && statuses.contains(&201), "{mine:?}");
    assert!(mine.iter().all(|e| e.actor.as_deref() == Some("carol")));
    let others = AuditQuery { actor: Some("alice".into()), ..AuditQuery::default() };
    assert_eq!(refused(carol.audit(&others).await), (403, "forbidden".into()));
    let alices = admin.audit(&AuditQuery { limit: Some(500), ..others }).await.unwrap();
    assert!(alices.iter().any(|e| e.path == "/v1/orgs" && e.status == 201), "{alices:?}");
    let logins = AuditQuery { path_prefix: Some("/v1/auth/login".into()), ..AuditQuery::default() };
    let logins = admin.audit(&logins).await.unwrap();
    assert!(logins.iter().any(|e| e.status == 401 && e.actor.is_none()), "{logins:?}");
}

async fn a_restart_keeps_users_organizations_and_sessions(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let alice = user(&server, &admin, "alice").await;
    let org = alice.create_org("Org One").await.unwrap();
    let credentials = alice.credentials();
    let server = server.restart().await;
    assert!(server.admin_password.is_none(), "no second administrator");
    let alice = consortia_api::PlatformClient::with_credentials(&server.url, credentials);
    assert_eq!(alice.orgs().await.unwrap()[0].id, org.id);
    server.login("alice", &password_of("alice")).await;
}
