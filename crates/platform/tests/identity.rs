//! Identity and access through the SDK, on a real SQLite file and on a real PostgreSQL server:
//! login, tokens and their forgeries, API keys, users and sub-users, organizations and roles,
//! policies that deny, the audit log, bad input, and a restart that keeps everything.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, bearer, password_of, refused, user};
use consortia_api::ErrorBody;
use consortia_api::client::PlatformClient;
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
    logout_ends_the_session_and_its_access_token_at_once,
    a_reused_refresh_token_ends_its_whole_session,
    changing_the_password_ends_the_other_sessions_but_this_one,
    api_keys_are_listed_and_revoking_one_stops_it_at_once,
    an_expired_api_key_is_refused,
    a_disabled_user_cannot_log_in_or_use_tokens_or_keys_until_enabled,
    a_deleted_user_loses_every_credential_and_membership,
    the_last_admin_of_an_organization_cannot_be_deleted,
    only_an_administrator_or_the_parent_disables_a_user,
    sessions_are_listed_and_one_can_be_ended,
    repeated_wrong_passwords_wait_with_retry_after,
    permissions_answer_as_the_actions_would_by_role,
    permissions_answer_as_the_actions_would_under_a_policy,
    permissions_are_asked_by_members_only_with_well_formed_actions,
    the_platform_s_own_log_is_read_by_administrators_through_the_filters,
    a_platform_that_keeps_no_log_says_where_it_is,
);

/// The asked actions `client` may do in `org` on `resource`.
async fn allowed(
    client: &PlatformClient,
    org: &str,
    actions: &str,
    resource: Option<&str>,
) -> Vec<String> {
    let query = PermissionsQuery { actions: actions.into(), resource: resource.map(Into::into) };
    client.permissions(org, &query).await.unwrap().allowed
}

/// Alice's organization with `who` in it as `role`, logged in.
async fn member_as(
    server: &Server,
    admin: &PlatformClient,
    who: &str,
    role: Role,
) -> (PlatformClient, PlatformClient, OrgView) {
    let alice = user(server, admin, "alice").await;
    let member = user(server, admin, who).await;
    let org = alice.create_org("Org One").await.unwrap();
    alice.add_member(&org.id, &AddMemberRequest { username: who.into(), role }).await.unwrap();
    (alice, member, org)
}

const ASKED: &str = "chain:delete,contract:deploy,chain:get,org:delete";

async fn permissions_answer_as_the_actions_would_by_role(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (alice, operator, org) = member_as(&server, &admin, "olga", Role::Operator).await;
    let viewer = user(&server, &admin, "vic").await;
    alice
        .add_member(&org.id, &AddMemberRequest { username: "vic".into(), role: Role::Viewer })
        .await
        .unwrap();
    assert_eq!(allowed(&alice, &org.id, ASKED, None).await, ASKED.split(',').collect::<Vec<_>>());
    assert_eq!(allowed(&operator, &org.id, ASKED, None).await, ["contract:deploy", "chain:get"]);
    assert_eq!(allowed(&viewer, &org.id, ASKED, None).await, ["chain:get"]);
    assert_eq!(allowed(&admin, &org.id, ASKED, None).await.len(), 4, "a platform administrator");
}

async fn permissions_answer_as_the_actions_would_under_a_policy(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (alice, operator, org) = member_as(&server, &admin, "olga", Role::Operator).await;
    let deny = PolicyRequest {
        name: "no-deploys-on-c1".into(),
        document: PolicyDocument {
            statements: vec![Statement {
                effect: Effect::Deny,
                actions: vec!["contract:deploy".into()],
                resources: vec![format!("org/{}/chains/c1*", org.id)],
            }],
        },
    };
    let policy = alice.create_policy(&org.id, &deny).await.unwrap();
    let olga = operator.me().await.unwrap().id;
    alice.attach_policy(&org.id, &policy.id, &olga).await.unwrap();
    let on = |chain: &'static str| Some(chain);
    assert!(
        allowed(&operator, &org.id, "contract:deploy", on("chains/c1/contracts")).await.is_empty()
    );
    assert_eq!(
        allowed(&operator, &org.id, "contract:deploy", on("chains/c2/contracts")).await,
        ["contract:deploy"]
    );
}

async fn permissions_are_asked_by_members_only_with_well_formed_actions(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (alice, _, org) = member_as(&server, &admin, "olga", Role::Viewer).await;
    let outsider = user(&server, &admin, "mallory").await;
    let ask = |actions: &str| PermissionsQuery { actions: actions.into(), resource: None };
    assert_eq!(refused(outsider.permissions(&org.id, &ask("chain:get")).await).0, 403);
    assert_eq!(refused(alice.permissions("org_nope", &ask("chain:get")).await).0, 404);
    for bad in ["", "chain", "chain:*", "Chain:get", &vec!["a:b"; 51].join(",")] {
        assert_eq!(
            refused(alice.permissions(&org.id, &ask(bad)).await),
            (400, "bad_actions".into()),
            "{bad}"
        );
    }
}

async fn repeated_wrong_passwords_wait_with_retry_after(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    user(&server, &admin, "bob").await;
    let body = |password: &str| format!(r#"{{"username":"bob","password":"{password}"}}"#);
    let login = |password: String| {
        reqwest::Client::new()
            .post(format!("{}/v1/auth/login", server.url))
            .header("content-type", "application/json")
            .body(body(&password))
            .send()
    };
    for _ in 0..6 {
        assert_eq!(login("wrong password".into()).await.unwrap().status(), 401);
    }
    // Throttled before the password is even checked: the right one waits too.
    let throttled = login(password_of("bob")).await.unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let error: ErrorBody = throttled.json().await.unwrap();
    assert_eq!(error.code, "too_many_requests");
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(login(password_of("bob")).await.unwrap().status(), 200);
    // Another user from the same address is not held back by bob's failures.
    assert_eq!(
        server.anonymous().login("admin", "wrong password").await.unwrap_err().status(),
        Some(401)
    );
}

/// A client with the same credentials as `client` (another copy of its tokens or key).
fn copy_of(
    server: &Server,
    client: &consortia_api::PlatformClient,
) -> consortia_api::PlatformClient {
    consortia_api::PlatformClient::with_credentials(&server.url, client.credentials())
}

async fn logout_ends_the_session_and_its_access_token_at_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let token = bearer(&bob);
    let stolen = copy_of(&server, &bob);
    bob.logout().await.unwrap();
    let (status, body) = server.raw(Method::GET, "/v1/users/me", Some(&token), "").await;
    assert_eq!(status, 401, "the access token died with its session: {body}");
    assert_eq!(refused(stolen.refresh().await), (401, "unauthorized".into()));
}

async fn a_reused_refresh_token_ends_its_whole_session(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let copied = copy_of(&server, &bob);
    bob.refresh().await.unwrap();
    bob.me().await.unwrap();
    // The copy comes back with the used refresh token: the whole family is revoked, so the
    // legitimate client's fresh tokens stop working too (it logs in again).
    assert_eq!(refused(copied.refresh().await), (401, "unauthorized".into()));
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&bearer(&bob)), "").await;
    assert_eq!(status, 401);
    assert_eq!(refused(bob.refresh().await), (401, "unauthorized".into()));
}

async fn changing_the_password_ends_the_other_sessions_but_this_one(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let elsewhere = server.login("bob", &password_of("bob")).await;
    let wrong = bob.change_password("not the password", "a-new-password").await;
    assert_eq!(refused(wrong), (403, "forbidden".into()));
    let weak = bob.change_password(&password_of("bob"), "short").await;
    assert_eq!(refused(weak), (400, "weak_password".into()));
    bob.change_password(&password_of("bob"), "a-new-password").await.unwrap();
    bob.me().await.unwrap();
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&bearer(&elsewhere)), "").await;
    assert_eq!(status, 401, "the other session ended");
    assert!(server.anonymous().login("bob", &password_of("bob")).await.is_err());
    server.login("bob", "a-new-password").await;
}

async fn api_keys_are_listed_and_revoking_one_stops_it_at_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let made = bob.create_api_key("ci", None).await.unwrap();
    let day = 86_400_000;
    let expires = made.expires_ms.expect("a default expiry");
    let in_90_days = consortia_platform::store::now_ms() + 90 * day;
    assert!((in_90_days - day..=in_90_days).contains(&expires), "{expires}");
    let forever = bob.create_api_key("monitoring", Some(0)).await.unwrap();
    assert_eq!(forever.expires_ms, None);
    let listed = bob.api_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.revoked_ms.is_none()));
    assert!(!serde_json::to_string(&listed).unwrap().contains(&made.key), "no secrets listed");
    assert!(admin.api_keys().await.unwrap().is_empty(), "one's own keys only");

    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&made.key), "").await;
    assert_eq!(status, 200);
    assert_eq!(refused(admin.revoke_api_key(&made.id).await), (404, "not_found".into()));
    bob.revoke_api_key(&made.id).await.unwrap();
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&made.key), "").await;
    assert_eq!(status, 401);
    let listed = bob.api_keys().await.unwrap();
    assert!(listed.iter().find(|k| k.id == made.id).unwrap().revoked_ms.is_some());
    let too_long = bob.create_api_key("x", Some(5000)).await;
    assert_eq!(refused(too_long), (400, "bad_expiry".into()));
}

async fn an_expired_api_key_is_refused(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let made = admin.create_api_key("old", Some(1)).await.unwrap();
    sqlx::query("UPDATE api_keys SET expires_ms = $1 WHERE id = $2")
        .bind(consortia_platform::store::now_ms() - 1)
        .bind(&made.id)
        .execute(server.platform.db())
        .await
        .unwrap();
    let (status, body) = server.raw(Method::GET, "/v1/users/me", Some(&made.key), "").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
}

async fn a_disabled_user_cannot_log_in_or_use_tokens_or_keys_until_enabled(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let key = bob.create_api_key("ci", None).await.unwrap().key;
    let id = bob.me().await.unwrap().id;
    assert!(admin.set_user_disabled(&id, true).await.unwrap().disabled);
    for credential in [bearer(&bob), key.clone()] {
        let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&credential), "").await;
        assert_eq!(status, 401);
    }
    let login = server.anonymous().login("bob", &password_of("bob")).await.unwrap_err();
    assert!(login.body().unwrap().message.contains("disabled"), "{login}");
    assert!(admin.users().await.unwrap().iter().any(|u| u.username == "bob" && u.disabled));

    admin.set_user_disabled(&id, false).await.unwrap();
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&key), "").await;
    assert_eq!(status, 200, "the key works again; the sessions stay ended");
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&bearer(&bob)), "").await;
    assert_eq!(status, 401);
}

async fn a_deleted_user_loses_every_credential_and_membership(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let org = admin.create_org("Acme").await.unwrap();
    let member = AddMemberRequest { username: "bob".into(), role: Role::Viewer };
    admin.add_member(&org.id, &member).await.unwrap();
    let key = bob.create_api_key("ci", None).await.unwrap().key;
    let id = bob.me().await.unwrap().id;
    admin.delete_user(&id).await.unwrap();
    let (status, _) = server.raw(Method::GET, "/v1/users/me", Some(&key), "").await;
    assert_eq!(status, 401);
    assert!(server.anonymous().login("bob", &password_of("bob")).await.is_err());
    assert!(admin.members(&org.id).await.unwrap().iter().all(|m| m.username != "bob"));
    assert!(admin.users().await.unwrap().iter().all(|u| u.username != "bob"));
    let again = CreateUserRequest { username: "bob".into(), password: password_of("bob") };
    assert_eq!(refused(admin.create_user(&again).await).0, 409, "the name stays taken");
}

async fn the_last_admin_of_an_organization_cannot_be_deleted(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    bob.create_org("Bob's").await.unwrap();
    let id = bob.me().await.unwrap().id;
    assert_eq!(refused(admin.delete_user(&id).await), (409, "last_admin".into()));
    bob.me().await.unwrap();
}

async fn only_an_administrator_or_the_parent_disables_a_user(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let carol = user(&server, &admin, "carol").await;
    let ci = user(&server, &bob, "bob.ci").await;
    let ci_id = ci.me().await.unwrap().id;
    let bob_id = bob.me().await.unwrap().id;
    assert_eq!(refused(carol.set_user_disabled(&ci_id, true).await), (403, "forbidden".into()));
    assert_eq!(refused(ci.set_user_disabled(&bob_id, true).await), (403, "forbidden".into()));
    assert_eq!(refused(bob.set_user_disabled(&bob_id, true).await), (400, "self".into()));
    bob.set_user_disabled(&ci_id, true).await.unwrap();
    assert_eq!(refused(ci.me().await).0, 401);
    assert_eq!(refused(admin.set_user_disabled("usr_nobody", true).await).0, 404);
}

async fn sessions_are_listed_and_one_can_be_ended(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let bob = user(&server, &admin, "bob").await;
    let laptop = server.login("bob", &password_of("bob")).await;
    let sessions = bob.sessions().await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);
    let other = sessions.iter().find(|s| !s.current).unwrap();
    assert_eq!(refused(admin.revoke_session(&other.id).await), (404, "not_found".into()));
    bob.revoke_session(&other.id).await.unwrap();
    assert_eq!(refused(laptop.me().await).0, 401);
    assert_eq!(bob.sessions().await.unwrap().len(), 1);
}

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
        "ses_any",
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
    // The replay ended the session (a_reused_refresh_token_ends_its_whole_session).
    let bob = server.login("bob", &password_of("bob")).await;
    let key = bob.create_api_key("ci", None).await.unwrap().key;
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

async fn the_platform_s_own_log_is_read_by_administrators_through_the_filters(backend: Backend) {
    use std::io::Write;
    use tracing_subscriber::fmt::MakeWriter;
    let Some(server) = Server::start(backend).await else { return };
    let book = consortia_platform::logbook::Logbook::default();
    server.platform.keep_log(book.clone());
    for (level, message) in [("INFO", "started"), ("WARN", "node restarting"), ("INFO", "done")] {
        let line = serde_json::json!({
            "timestamp": "2026-12-04T10:00:00.000000Z",
            "level": level,
            "target": "platform::test",
            "message": message,
        });
        writeln!(book.make_writer(), "{line}").unwrap();
    }
    let admin = server.admin().await;
    let warnings = LogQuery { level: Some(LogLevel::Warn), ..Default::default() };
    let read = admin.platform_logs(&warnings).await.unwrap();
    let read: Vec<_> = read.iter().map(|e| (e.node.as_str(), e.message.as_str())).collect();
    assert_eq!(read, [("platform", "node restarting")]);
    assert_eq!(admin.platform_logs(&LogQuery::default()).await.unwrap().len(), 3);
    let alice = user(&server, &admin, "alice").await;
    assert_eq!(refused(alice.platform_logs(&LogQuery::default()).await).0, 403);
}

async fn a_platform_that_keeps_no_log_says_where_it_is(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let err = admin.platform_logs(&LogQuery::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(err.to_string().contains("standard error"), "{err}");
}
