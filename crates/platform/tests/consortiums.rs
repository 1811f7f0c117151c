//! The seed's Baidu flow through the SDK, on SQLite and on PostgreSQL: an organization
//! creates a consortium and leads it; it invites a user, who accepts and asks to join with an
//! organization of theirs; member organizations vote and the approval policy decides; a new
//! member gets a CA certificate under the consortium CA. And every refusal on the way.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, ask_to_join, bearer, consortium, refused, user, vote};
use consortia_api::platform::*;
use reqwest::Method;

on_both_databases!(
    a_consortium_has_a_ca_and_its_leader_a_certificate_under_it,
    only_a_member_organization_invites,
    an_invitee_reads_the_consortium_and_answers_once,
    a_join_request_needs_ones_own_accepted_invitation,
    a_user_takes_part_through_one_organization_only,
    the_leader_alone_decides_under_the_leader_policy,
    more_than_half_of_the_members_decide_under_the_majority_policy,
    half_of_the_members_rejecting_rejects_under_the_majority_policy,
    the_older_approve_and_reject_calls_still_vote,
    unknown_ids_and_malformed_bodies_are_refused,
);

async fn a_consortium_has_a_ca_and_its_leader_a_certificate_under_it(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let (c, org) = consortium(&u1, "Trade Finance", "Bank One", ApprovalPolicy::Leader).await;
    assert_eq!(
        (c.approval_policy, c.leader_org_id.as_str()),
        (ApprovalPolicy::Leader, org.id.as_str())
    );
    assert!(c.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(c.members.len(), 1);
    assert_ne!(c.members[0].cert_pem, c.ca_cert_pem);
    let u2 = user(&server, &admin, "user2").await;
    let foreign =
        CreateConsortiumRequest { name: "X".into(), org_id: org.id.clone(), approval_policy: None };
    assert_eq!(refused(u2.create_consortium(&foreign).await), (403, "forbidden".into()));
    let again = CreateConsortiumRequest { name: "Trade Finance".into(), ..foreign };
    assert_eq!(refused(u1.create_consortium(&again).await), (409, "conflict".into()));
}

async fn only_a_member_organization_invites(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let u3 = user(&server, &admin, "user3").await;
    user(&server, &admin, "user2").await;
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let invite = |who: &str| InviteRequest { username: who.into(), org_id: None };
    u1.invite(&c.id, &invite("user2")).await.unwrap();
    assert_eq!(refused(u1.invite(&c.id, &invite("user2")).await), (409, "already_invited".into()));
    assert_eq!(refused(u3.invite(&c.id, &invite("user3")).await), (403, "forbidden".into()));
    assert_eq!(refused(u1.invite(&c.id, &invite("nobody")).await), (404, "not_found".into()));
}

async fn an_invitee_reads_the_consortium_and_answers_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, u3) = (
        user(&server, &admin, "user1").await,
        user(&server, &admin, "user2").await,
        user(&server, &admin, "user3").await,
    );
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let invitation =
        u1.invite(&c.id, &InviteRequest { username: "user2".into(), org_id: None }).await.unwrap();
    let mine = u2.invitations().await.unwrap();
    assert_eq!((mine.len(), mine[0].status), (1, InvitationStatus::Pending));
    u2.consortium(&c.id).await.unwrap();
    assert_eq!(refused(u3.consortium(&c.id).await).0, 403);
    assert_eq!(refused(u3.accept_invitation(&invitation.id).await).0, 403);
    let accepted = u2.accept_invitation(&invitation.id).await.unwrap();
    assert_eq!(accepted.status, InvitationStatus::Accepted);
    assert_eq!(
        refused(u2.decline_invitation(&invitation.id).await),
        (409, "already_answered".into())
    );
}

async fn a_join_request_needs_ones_own_accepted_invitation(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, u3) = (
        user(&server, &admin, "user1").await,
        user(&server, &admin, "user2").await,
        user(&server, &admin, "user3").await,
    );
    let (c, org1) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let org3 = u3.create_org("Insurer Three").await.unwrap();
    let invitation =
        u1.invite(&c.id, &InviteRequest { username: "user2".into(), org_id: None }).await.unwrap();
    let join = |org: &OrgView, invitation: &str| JoinRequest {
        org_id: org.id.clone(),
        invitation_id: invitation.into(),
    };
    let not_yet = u2.request_join(&c.id, &join(&org2, &invitation.id)).await;
    assert_eq!(refused(not_yet), (400, "bad_invitation".into()), "not accepted yet");
    u2.accept_invitation(&invitation.id).await.unwrap();
    assert_eq!(refused(u2.request_join(&c.id, &join(&org2, "inv_nope")).await).0, 404);
    assert_eq!(refused(u2.request_join(&c.id, &join(&org1, &invitation.id)).await).0, 403);
    let someone_elses = u3.request_join(&c.id, &join(&org3, &invitation.id)).await;
    assert_eq!(refused(someone_elses), (400, "bad_invitation".into()));
    let request = u2.request_join(&c.id, &join(&org2, &invitation.id)).await.unwrap();
    assert_eq!(request.status, JoinRequestStatus::Pending);
}

async fn a_user_takes_part_through_one_organization_only(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    let org2b = u2.create_org("Shipper Two B").await.unwrap();
    let invitation = u2.invitations().await.unwrap().remove(0);
    let second = JoinRequest { org_id: org2b.id, invitation_id: invitation.id };
    assert_eq!(refused(u2.request_join(&c.id, &second).await), (409, "already_taking_part".into()));
    assert_eq!(request.org_id, org2.id);
}

async fn the_leader_alone_decides_under_the_leader_policy(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    assert_eq!(refused(u2.vote(&c.id, &request.id, &vote(Decision::Approve)).await).0, 403);
    let decided = u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    assert_eq!(decided.status, JoinRequestStatus::Approved);
    let late = u1.vote(&c.id, &request.id, &vote(Decision::Reject)).await;
    assert_eq!(refused(late), (409, "already_decided".into()));
    let view = u2.consortium(&c.id).await.unwrap();
    let names: Vec<&str> = view.members.iter().map(|m| m.org_name.as_str()).collect();
    assert_eq!(names, ["Bank One", "Shipper Two"]);
    assert!(view.members[1].cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_ne!(view.members[1].cert_pem, view.members[0].cert_pem);
    assert_eq!(u2.consortiums().await.unwrap().len(), 1);
}

async fn more_than_half_of_the_members_decide_under_the_majority_policy(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, u3) = (
        user(&server, &admin, "user1").await,
        user(&server, &admin, "user2").await,
        user(&server, &admin, "user3").await,
    );
    let (c, _) = consortium(&u1, "Open Ledger", "Bank One", ApprovalPolicy::Majority).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let r2 = ask_to_join(&u1, &u2, &c.id, &org2).await;
    let one_of_one = u1.vote(&c.id, &r2.id, &vote(Decision::Approve)).await.unwrap();
    assert_eq!(one_of_one.status, JoinRequestStatus::Approved, "1 of 1 member");
    let org3 = u3.create_org("Insurer Three").await.unwrap();
    let r3 = ask_to_join(&u1, &u3, &c.id, &org3).await;
    let one_of_two = u1.vote(&c.id, &r3.id, &vote(Decision::Approve)).await.unwrap();
    assert_eq!((one_of_two.status, one_of_two.approvals.len()), (JoinRequestStatus::Pending, 1));
    let twice = u1.vote(&c.id, &r3.id, &vote(Decision::Approve)).await;
    assert_eq!(refused(twice), (409, "already_voted".into()), "one vote per organization");
    let two_of_two = u2.vote(&c.id, &r3.id, &vote(Decision::Approve)).await.unwrap();
    assert_eq!(two_of_two.status, JoinRequestStatus::Approved);
}

async fn half_of_the_members_rejecting_rejects_under_the_majority_policy(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2, u3) = (
        user(&server, &admin, "user1").await,
        user(&server, &admin, "user2").await,
        user(&server, &admin, "user3").await,
    );
    let (c, _) = consortium(&u1, "Open Ledger", "Bank One", ApprovalPolicy::Majority).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let r2 = ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.vote(&c.id, &r2.id, &vote(Decision::Approve)).await.unwrap();
    let org3 = u3.create_org("Insurer Three").await.unwrap();
    let r3 = ask_to_join(&u1, &u3, &c.id, &org3).await;
    let rejected = u2.vote(&c.id, &r3.id, &vote(Decision::Reject)).await.unwrap();
    assert_eq!((rejected.status, rejected.rejections.len()), (JoinRequestStatus::Rejected, 1));
    assert_eq!(u1.consortium(&c.id).await.unwrap().members.len(), 2);
}

async fn the_older_approve_and_reject_calls_still_vote(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let (u1, u2) = (user(&server, &admin, "user1").await, user(&server, &admin, "user2").await);
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Shipper Two").await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    let path = format!("/v1/consortiums/{}/join-requests/{}", c.id, request.id);
    let token = bearer(&u1);
    let (status, body) =
        server.raw(Method::POST, &format!("{path}/approve"), Some(&token), "").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("approved")), "{body}");
    let (status, body) =
        server.raw(Method::POST, &format!("{path}/reject"), Some(&token), "{}").await;
    assert_eq!((status, body["code"].as_str()), (409, Some("already_decided")));
}

async fn unknown_ids_and_malformed_bodies_are_refused(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    assert_eq!(refused(u1.consortium("cons_nope").await).0, 404);
    assert_eq!(refused(u1.vote(&c.id, "join_nope", &vote(Decision::Approve)).await).0, 404);
    let token = bearer(&u1);
    let (status, body) = server.raw(Method::POST, "/v1/consortiums", Some(&token), "[1,2").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("malformed_body")));
    let votes = format!("/v1/consortiums/{}/join-requests/x/votes", c.id);
    let (status, body) =
        server.raw(Method::POST, &votes, Some(&token), r#"{"decision":"maybe"}"#).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("malformed_body")));
}
