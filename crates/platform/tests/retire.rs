//! Taking a consortium and an organization out of service, on SQLite and on PostgreSQL: a
//! consortium dissolves once its chains are archived, by its leader only, and then takes
//! nothing new (under the majority policy, by more than half of its members' votes); a
//! member leaves once it takes part in none of its chains in service; an
//! organization is deleted once it is in no consortium in service, by its admins only, and
//! every secret sealed for it is destroyed.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, ask_to_join, consortium, refused, user, vote};
use consortia_api::client::PlatformClient;
use consortia_api::platform::*;

on_both_databases!(
    a_consortium_dissolves_only_once_its_chains_are_archived,
    only_the_leader_s_admins_dissolve_a_consortium,
    a_dissolved_consortium_takes_no_new_chain_invitation_or_vote,
    dissolving_withdraws_pending_invitations_and_join_requests,
    an_organization_in_a_consortium_in_service_is_not_deleted,
    a_deleted_organization_is_gone_and_its_name_stays_taken,
    only_an_admin_of_the_organization_deletes_it,
    deleting_an_organization_destroys_the_secrets_sealed_for_it,
    a_member_leaves_once_it_takes_part_in_no_chain_in_service,
    the_leader_stays_and_only_a_member_s_admins_take_it_out,
    a_member_that_leaves_takes_back_its_votes_on_pending_requests,
    a_majority_consortium_dissolves_at_the_vote_of_more_than_half,
    a_majority_vote_to_dissolve_waits_for_the_chains_and_counts_once,
    a_member_leaving_makes_the_votes_cast_on_a_request_a_majority_of_fewer,
    a_member_leaving_makes_the_votes_cast_to_dissolve_a_majority_of_fewer,
    under_the_leader_policy_leaving_decides_nothing,
);

/// A chain of the consortium, configuring.
async fn chain(u: &PlatformClient, consortium: &str, org: &str, name: &str) -> ChainView {
    u.create_chain(&CreateChainRequest::new(consortium, org, name, Consensus::Bft)).await.unwrap()
}

async fn a_consortium_dissolves_only_once_its_chains_are_archived(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let (c, org) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let trade = chain(&u1, &c.id, &org.id, "trade").await;
    let refusal = refused(u1.dissolve_consortium(&c.id).await);
    assert_eq!(refusal, (409, "chains_not_archived".into()));
    u1.archive_chain(&trade.id).await.unwrap();
    let dissolved = u1.dissolve_consortium(&c.id).await.unwrap();
    assert!(dissolved.dissolved_ms.is_some());
    assert_eq!(u1.consortiums().await.unwrap()[0].dissolved_ms, dissolved.dissolved_ms);
    assert_eq!(refused(u1.dissolve_consortium(&c.id).await), (409, "dissolved".into()));
}

async fn only_the_leader_s_admins_dissolve_a_consortium(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    user(&server, &admin, "ops1").await;
    let (c, org1) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    let operator = AddMemberRequest { username: "ops1".into(), role: Role::Operator };
    u1.add_member(&org1.id, &operator).await.unwrap();
    let ops1 = server.login("ops1", &common::password_of("ops1")).await;
    assert_eq!(refused(u2.dissolve_consortium(&c.id).await).0, 403, "a member, not the leader");
    assert_eq!(refused(ops1.dissolve_consortium(&c.id).await).0, 403, "an operator");
    assert_eq!(refused(u1.dissolve_consortium("cons_nope").await).0, 404);
    admin.dissolve_consortium(&c.id).await.unwrap();
}

async fn a_dissolved_consortium_takes_no_new_chain_invitation_or_vote(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    user(&server, &admin, "user3").await;
    let (c, org) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.dissolve_consortium(&c.id).await.unwrap();
    let new_chain = CreateChainRequest::new(&c.id, &org.id, "late", Consensus::Bft);
    assert_eq!(refused(u1.create_chain(&new_chain).await), (409, "dissolved".into()));
    let invite = InviteRequest { username: "user3".into(), org_id: None };
    assert_eq!(refused(u1.invite(&c.id, &invite).await), (409, "dissolved".into()));
    let late_vote = u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await;
    assert_eq!(refused(late_vote), (409, "dissolved".into()));
    let rotation = u1.rotate_member_ca(&c.id, &org.id, &CaRotationRequest::default()).await;
    assert_eq!(refused(rotation), (409, "dissolved".into()));
}

async fn dissolving_withdraws_pending_invitations_and_join_requests(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    user(&server, &admin, "user3").await;
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.invite(&c.id, &InviteRequest { username: "user3".into(), org_id: None }).await.unwrap();
    u1.dissolve_consortium(&c.id).await.unwrap();
    let requests = u1.join_requests(&c.id).await.unwrap();
    assert_eq!(requests[0].status, JoinRequestStatus::Withdrawn);
    let mut statuses: Vec<_> =
        u1.consortium_invitations(&c.id).await.unwrap().iter().map(|i| i.status).collect();
    statuses.sort_by_key(|s| s.as_str());
    assert_eq!(statuses, [InvitationStatus::Accepted, InvitationStatus::Withdrawn]);
}

async fn an_organization_in_a_consortium_in_service_is_not_deleted(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let (c, org) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    assert_eq!(refused(u1.delete_org(&org.id).await), (409, "member_of_consortium".into()));
    u1.dissolve_consortium(&c.id).await.unwrap();
    u1.delete_org(&org.id).await.unwrap();
}

async fn a_deleted_organization_is_gone_and_its_name_stays_taken(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    let org = u1.create_org("Bank One").await.unwrap();
    let viewer = AddMemberRequest { username: "user2".into(), role: Role::Viewer };
    u1.add_member(&org.id, &viewer).await.unwrap();
    u1.delete_org(&org.id).await.unwrap();
    assert!(u1.orgs().await.unwrap().is_empty());
    assert!(u2.orgs().await.unwrap().is_empty(), "its members left it");
    assert!(admin.orgs().await.unwrap().iter().all(|o| o.id != org.id));
    assert_eq!(refused(admin.org(&org.id).await).0, 404);
    assert_eq!(refused(u1.delete_org(&org.id).await).0, 404, "deleted once");
    assert_eq!(refused(u1.create_org("Bank One").await), (409, "conflict".into()));
    u2.me().await.unwrap();
}

async fn only_an_admin_of_the_organization_deletes_it(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, u3) = (
        user(&server, &admin, "user1").await,
        user(&server, &admin, "user2").await,
        user(&server, &admin, "user3").await,
    );
    let org = u1.create_org("Bank One").await.unwrap();
    let operator = AddMemberRequest { username: "user2".into(), role: Role::Operator };
    u1.add_member(&org.id, &operator).await.unwrap();
    assert_eq!(refused(u2.delete_org(&org.id).await).0, 403, "an operator");
    assert_eq!(refused(u3.delete_org(&org.id).await).0, 403, "an outsider");
    admin.delete_org(&org.id).await.unwrap();
}

async fn deleting_an_organization_destroys_the_secrets_sealed_for_it(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let (c, org) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let other = u1.create_org("Bank Two").await.unwrap();
    for o in [&org, &other] {
        let key = CreateSigningKeyRequest { name: "app".into(), owner_id: None };
        u1.create_signing_key(&o.id, &key).await.unwrap();
    }
    u1.dissolve_consortium(&c.id).await.unwrap();
    u1.delete_org(&org.id).await.unwrap();
    let db = server.platform.db().clone();
    let sealed = |sql: &'static str| {
        let db = db.clone();
        async move {
            let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&db).await.unwrap();
            rows
        }
    };
    let keys = sealed(
        "SELECT k.org_id, v.key_pem FROM signing_key_versions v \
         JOIN signing_keys k ON k.id = v.key_id ORDER BY k.org_id",
    )
    .await;
    for (owner, key) in &keys {
        assert_eq!(key.is_empty(), *owner == org.id, "{owner}: {key}");
    }
    let members = sealed("SELECT org_id, key_pem FROM consortium_members").await;
    assert!(members.iter().all(|(_, key)| key.is_empty()), "{members:?}");
    let (ca,): (String,) =
        sqlx::query_as("SELECT ca_key_pem FROM consortiums").fetch_one(&db).await.unwrap();
    assert!(ca.is_empty(), "the consortium's CA key goes when it dissolves");
    let signing = u1.signing_keys(&other.id).await.unwrap();
    assert!(signing[0].enabled, "another organization's key is untouched");
}

/// `u1` leads a consortium `C` (`policy`) that `u2`'s Shipper Two joined.
///
/// Under the majority policy, `u1`'s approval alone is more than half of one member.
async fn two_members(
    server: &Server,
    admin: &PlatformClient,
    policy: ApprovalPolicy,
) -> (PlatformClient, PlatformClient, ConsortiumView, OrgView, OrgView) {
    let (u1, u2) = (user(server, admin, "user1").await, user(server, admin, "user2").await);
    let (c, org1) = consortium(&u1, "C", "Bank One", policy).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    (u1, u2, c, org1, org2)
}

async fn a_member_leaves_once_it_takes_part_in_no_chain_in_service(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, c, org1, org2) = two_members(&server, &admin, ApprovalPolicy::Leader).await;
    let trade = chain(&u1, &c.id, &org1.id, "trade").await;
    u1.invite_org(&trade.id, &org2.id).await.unwrap();
    let refusal = u2.leave_consortium(&c.id, &org2.id).await.unwrap_err();
    assert_eq!((refusal.status(), refusal.code()), (Some(409), Some("takes_part_in_chains")));
    assert!(refusal.to_string().contains("trade"), "{refusal}");
    u1.archive_chain(&trade.id).await.unwrap();
    u2.leave_consortium(&c.id, &org2.id).await.unwrap();
    let members: Vec<_> =
        u1.consortium(&c.id).await.unwrap().members.into_iter().map(|m| m.org_id).collect();
    assert_eq!(members, [org1.id.as_str()]);
    let late = CreateChainRequest::new(&c.id, &org2.id, "mine", Consensus::Bft);
    assert_eq!(refused(u2.create_chain(&late).await).0, 403, "no longer a member");
    assert_eq!(refused(u2.leave_consortium(&c.id, &org2.id).await).0, 404, "left already");
}

async fn the_leader_stays_and_only_a_member_s_admins_take_it_out(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, _u2, c, org1, org2) = two_members(&server, &admin, ApprovalPolicy::Leader).await;
    assert_eq!(refused(u1.leave_consortium(&c.id, &org1.id).await), (409, "leader_stays".into()));
    assert_eq!(refused(u1.leave_consortium(&c.id, &org2.id).await).0, 403, "not its admin");
    assert_eq!(refused(u1.leave_consortium("cons_nope", &org1.id).await).0, 404);
}

/// [`two_members`] under `policy`, and Carrier Three's request to join, pending: the leader's
/// and the second member's clients, the consortium, the second and third organizations, the
/// request.
async fn pending_request(
    server: &Server,
    policy: ApprovalPolicy,
) -> (PlatformClient, PlatformClient, ConsortiumView, OrgView, OrgView, JoinRequestView) {
    let admin = server.admin().await;
    let (u1, u2, c, _, org2) = two_members(server, &admin, policy).await;
    let u3 = user(server, &admin, "user3").await;
    let org3 = u3.create_org("Carrier Three").await.unwrap();
    let request = ask_to_join(&u1, &u3, &c.id, &org3).await;
    (u1, u2, c, org2, org3, request)
}

async fn a_member_that_leaves_takes_back_its_votes_on_pending_requests(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let (u1, u2, c, org2, _, request) = pending_request(&server, ApprovalPolicy::Majority).await;
    // One approval of two members: not yet more than half.
    u2.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    u2.leave_consortium(&c.id, &org2.id).await.unwrap();
    let pending = u1.join_requests(&c.id).await.unwrap();
    let pending = pending.iter().find(|r| r.id == request.id).unwrap();
    assert_eq!(pending.status, JoinRequestStatus::Pending);
    assert!(pending.approvals.is_empty(), "{:?}", pending.approvals);
}

async fn a_majority_consortium_dissolves_at_the_vote_of_more_than_half(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, c, org1, org2) = two_members(&server, &admin, ApprovalPolicy::Majority).await;
    // The leader's vote is one of two: not more than half.
    let voted = u1.dissolve_consortium(&c.id).await.unwrap();
    assert_eq!((voted.dissolved_ms, voted.dissolution_votes), (None, vec![org1.id.clone()]));
    let u3 = user(&server, &admin, "user3").await;
    let org3 = u3.create_org("Carrier Three").await.unwrap();
    let request = ask_to_join(&u1, &u3, &c.id, &org3).await;
    assert_eq!(refused(u3.dissolve_consortium(&c.id).await).0, 403, "not a member yet");
    // Carrier Three joins; then the second vote of three is more than half.
    u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    u2.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    assert_eq!(u1.consortium(&c.id).await.unwrap().members.len(), 3);
    let dissolved = u2.dissolve_consortium(&c.id).await.unwrap();
    assert!(dissolved.dissolved_ms.is_some(), "{dissolved:?}");
    assert_eq!(dissolved.dissolution_votes, [org1.id, org2.id]);
    assert_eq!(refused(u3.dissolve_consortium(&c.id).await), (409, "dissolved".into()));
}

async fn a_majority_vote_to_dissolve_waits_for_the_chains_and_counts_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, _u2, c, org1, _) = two_members(&server, &admin, ApprovalPolicy::Majority).await;
    let trade = chain(&u1, &c.id, &org1.id, "trade").await;
    let early = u1.dissolve_consortium(&c.id).await;
    assert_eq!(refused(early), (409, "chains_not_archived".into()));
    assert!(u1.consortium(&c.id).await.unwrap().dissolution_votes.is_empty(), "no vote kept");
    u1.archive_chain(&trade.id).await.unwrap();
    u1.dissolve_consortium(&c.id).await.unwrap();
    let again = u1.dissolve_consortium(&c.id).await.unwrap();
    assert_eq!((again.dissolved_ms, again.dissolution_votes.len()), (None, 1), "one vote each");
}

async fn a_member_leaving_makes_the_votes_cast_on_a_request_a_majority_of_fewer(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let (u1, u2, c, org2, org3, request) = pending_request(&server, ApprovalPolicy::Majority).await;
    // The leader's approval is one of two; once the other member leaves, it is one of one.
    u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    u2.leave_consortium(&c.id, &org2.id).await.unwrap();
    let requests = u1.join_requests(&c.id).await.unwrap();
    let decided = requests.iter().find(|r| r.id == request.id).unwrap();
    assert_eq!(decided.status, JoinRequestStatus::Approved);
    let members = u1.consortium(&c.id).await.unwrap().members;
    assert!(members.iter().any(|m| m.org_id == org3.id), "with its certificate: {members:?}");
}

async fn a_member_leaving_makes_the_votes_cast_to_dissolve_a_majority_of_fewer(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, c, _, org2) = two_members(&server, &admin, ApprovalPolicy::Majority).await;
    let voted = u1.dissolve_consortium(&c.id).await.unwrap();
    assert_eq!(voted.dissolved_ms, None, "one vote of two");
    u2.leave_consortium(&c.id, &org2.id).await.unwrap();
    let after = u1.consortium(&c.id).await.unwrap();
    assert!(after.dissolved_ms.is_some(), "one vote of one: {after:?}");
}

async fn under_the_leader_policy_leaving_decides_nothing(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let (u1, u2, c, org2, _, request) = pending_request(&server, ApprovalPolicy::Leader).await;
    u2.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    u2.leave_consortium(&c.id, &org2.id).await.unwrap();
    let requests = u1.join_requests(&c.id).await.unwrap();
    let pending = requests.iter().find(|r| r.id == request.id).unwrap();
    assert_eq!(pending.status, JoinRequestStatus::Pending, "the leader decides, not a count");
    assert_eq!(u1.consortium(&c.id).await.unwrap().dissolved_ms, None);
}
