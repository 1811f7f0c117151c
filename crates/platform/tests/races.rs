//! Concurrent calls whose outcomes depend on each other, on SQLite and on PostgreSQL: many
//! votes on one join request, many answers to one invitation, two join requests of one user,
//! many starts of one chain, and nodes added while the chain starts. Each is decided exactly
//! once, and no call's answer contradicts what was recorded.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Backend, Server, ask_to_join, consortium, user, vote};
use consortia_api::platform::*;
use consortia_api::{ClientResult, PlatformClient};

on_both_databases!(
    forty_organizations_voting_at_once_decide_a_request_exactly_once,
    votes_for_and_against_at_once_decide_a_request_exactly_once,
    forty_answers_to_one_invitation_at_once_take_effect_once,
    two_join_requests_of_one_user_at_once_make_one_request,
    forty_starts_of_one_chain_at_once_start_it_once,
    a_node_added_while_the_chain_starts_is_refused_or_part_of_the_start,
);

/// A call of the SDK, not yet made.
type Call<T> = std::pin::Pin<Box<dyn std::future::Future<Output = ClientResult<T>> + Send>>;

fn call<T>(f: impl std::future::Future<Output = ClientResult<T>> + Send + 'static) -> Call<T> {
    Box::pin(f)
}

/// Runs the calls at once (each on a task of its own) and returns their outcomes in order.
async fn at_once<T: Send + 'static>(calls: Vec<Call<T>>) -> Vec<ClientResult<T>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                call.await
            })
        })
        .collect();
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// How many outcomes had each status and code (`200` for a success).
fn tally<T>(outcomes: &[ClientResult<T>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        let key = match o {
            Ok(_) => "200".to_owned(),
            Err(e) => format!("{} {}", e.status().unwrap_or(0), e.code().unwrap_or("")),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// A majority consortium of `n` member organizations, one user each (`member-<i>`, organization
/// `org <i>`), grown one join request at a time; and one more user (`member-<n>`) with an
/// organization outside.
async fn members(server: &Server, n: usize) -> (String, Vec<Arc<PlatformClient>>, Vec<OrgView>) {
    let admin = server.admin().await;
    let mut users = vec![];
    let mut orgs = vec![];
    let first = user(server, &admin, "member-0").await;
    let (c, org0) = consortium(&first, "Open Ledger", "org 0", ApprovalPolicy::Majority).await;
    users.push(Arc::new(first));
    orgs.push(org0);
    for i in 1..=n {
        let u = user(server, &admin, &format!("member-{i}")).await;
        orgs.push(u.create_org(&format!("org {i}")).await.unwrap());
        if i < n {
            let request = ask_to_join(&users[0], &u, &c.id, &orgs[i]).await;
            for voter in &users {
                let view = voter.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
                if view.status == JoinRequestStatus::Approved {
                    break;
                }
            }
        }
        users.push(Arc::new(u));
    }
    (c.id, users, orgs)
}

async fn forty_organizations_voting_at_once_decide_a_request_exactly_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let n = 40;
    let (c, users, orgs) = members(&server, n).await;
    let request = ask_to_join(&users[0], &users[n], &c, &orgs[n]).await;
    let calls = users[..n]
        .iter()
        .map(|u| {
            let (u, c, r) = (u.clone(), c.clone(), request.id.clone());
            call(async move { u.vote(&c, &r, &vote(Decision::Approve)).await })
        })
        .collect();
    let outcomes = at_once(calls).await;
    // 21 approvals of 40 members decide; every later vote is told so.
    let expected = BTreeMap::from([("200".to_owned(), 21), ("409 already_decided".to_owned(), 19)]);
    assert_eq!(tally(&outcomes), expected);
    let decided = users[0].join_requests(&c).await.unwrap().pop().unwrap();
    assert_eq!((decided.status, decided.approvals.len()), (JoinRequestStatus::Approved, 21));
    let view = users[0].consortium(&c).await.unwrap();
    assert_eq!(view.members.iter().filter(|m| m.org_id == orgs[n].id).count(), 1);
    assert_eq!(view.members.len(), n + 1);
}

async fn votes_for_and_against_at_once_decide_a_request_exactly_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let n = 12;
    let (c, users, orgs) = members(&server, n).await;
    let request = ask_to_join(&users[0], &users[n], &c, &orgs[n]).await;
    let calls = users[..n]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let (u, c, r) = (u.clone(), c.clone(), request.id.clone());
            let decision = if i % 2 == 0 { Decision::Approve } else { Decision::Reject };
            call(async move { u.vote(&c, &r, &vote(decision)).await })
        })
        .collect();
    let outcomes = at_once(calls).await;
    let counted = outcomes.iter().filter(|o| o.is_ok()).count();
    let decided = users[0].join_requests(&c).await.unwrap().pop().unwrap();
    let (yes, no) = (decided.approvals.len(), decided.rejections.len());
    assert_eq!(yes + no, counted, "every vote answered 200 is counted, no other");
    match decided.status {
        // Six of twelve rejecting rejects; seven approving would approve.
        JoinRequestStatus::Rejected => assert_eq!((no, yes < 7), (6, true), "{decided:?}"),
        other => panic!("6 approvals cannot approve, 6 rejections reject: {other} {decided:?}"),
    }
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|e| e.code() == Some("already_decided"))
    );
    assert_eq!(users[0].consortium(&c).await.unwrap().members.len(), n);
}

async fn forty_answers_to_one_invitation_at_once_take_effect_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let u2 = Arc::new(user(&server, &admin, "user2").await);
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let invite = InviteRequest { username: "user2".into(), org_id: None };
    let invitation = u1.invite(&c.id, &invite).await.unwrap();
    let calls = (0..40)
        .map(|i| {
            let (u2, id) = (u2.clone(), invitation.id.clone());
            call(async move {
                if i % 2 == 0 {
                    u2.accept_invitation(&id).await
                } else {
                    u2.decline_invitation(&id).await
                }
            })
        })
        .collect();
    let outcomes = at_once(calls).await;
    let expected = BTreeMap::from([("200".to_owned(), 1), ("409 already_answered".to_owned(), 39)]);
    assert_eq!(tally(&outcomes), expected);
    let winner = outcomes.iter().find_map(|o| o.as_ref().ok()).unwrap();
    let stored = u2.invitations().await.unwrap().pop().unwrap();
    assert_eq!(stored.status, winner.status, "the answer given is the one recorded");
}

async fn two_join_requests_of_one_user_at_once_make_one_request(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let u2 = Arc::new(user(&server, &admin, "user2").await);
    let (c, _) = consortium(&u1, "C", "Bank One", ApprovalPolicy::Leader).await;
    let invite = InviteRequest { username: "user2".into(), org_id: None };
    let invitation = u1.invite(&c.id, &invite).await.unwrap();
    u2.accept_invitation(&invitation.id).await.unwrap();
    let mut calls = vec![];
    for name in ["Shipper A", "Shipper B", "Shipper C", "Shipper D"] {
        let org = u2.create_org(name).await.unwrap();
        let request = JoinRequest { org_id: org.id, invitation_id: invitation.id.clone() };
        let (u2, c) = (u2.clone(), c.id.clone());
        calls.push(call(async move { u2.request_join(&c, &request).await }));
    }
    let outcomes = at_once(calls).await;
    let expected =
        BTreeMap::from([("200".to_owned(), 1), ("409 already_taking_part".to_owned(), 3)]);
    assert_eq!(tally(&outcomes), expected);
    assert_eq!(u1.join_requests(&c.id).await.unwrap().len(), 1);
}

/// A BFT chain of org 1 with four validators on a local host: ready to start.
async fn ready_chain(
    server: &Server,
    name: &str,
) -> (Arc<PlatformClient>, ChainView, String, String) {
    let admin = server.admin().await;
    let u1 = user(server, &admin, name).await;
    let (c, org) = consortium(
        &u1,
        &format!("{name} consortium"),
        &format!("{name} org"),
        ApprovalPolicy::Leader,
    )
    .await;
    let host = CreateHostRequest::local(&org.id, "h");
    let host = u1.create_host(&host).await.unwrap().id;
    let request = CreateChainRequest::new(&c.id, &org.id, "trade", Consensus::Bft);
    let chain = u1.create_chain(&request).await.unwrap();
    for n in 0..4 {
        u1.add_node(&chain.id, &AddNodeRequest::validator(&org.id, &host, &format!("node-{n}")))
            .await
            .unwrap();
    }
    let chain = u1.chain(&chain.id).await.unwrap();
    assert_eq!(chain.next_step, NextStep::InviteOrStart);
    (Arc::new(u1), chain, org.id, host)
}

async fn forty_starts_of_one_chain_at_once_start_it_once(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    let (u1, chain, _, _) = ready_chain(&server, "starter").await;
    let calls = (0..40)
        .map(|_| {
            let (u1, id) = (u1.clone(), chain.id.clone());
            call(async move { u1.start_chain(&id, false).await })
        })
        .collect();
    let outcomes = at_once(calls).await;
    let expected = BTreeMap::from([("200".to_owned(), 1), ("409 illegal_step".to_owned(), 39)]);
    assert_eq!(tally(&outcomes), expected);
    // The one start runs (its nodes cannot: this platform has no node program to run them).
    let view = u1.chain(&chain.id).await.unwrap();
    assert_eq!(view.status, ChainStatus::Starting);
    assert_eq!(view.progress.unwrap().total, 4);
}

async fn a_node_added_while_the_chain_starts_is_refused_or_part_of_the_start(backend: Backend) {
    let Some(server) = Server::start(backend).await else { return };
    for round in 0..4 {
        let (u1, chain, org, host) = ready_chain(&server, &format!("round{round}")).await;
        let mut calls = vec![];
        for n in 0..12 {
            let (client, id) = (u1.clone(), chain.id.clone());
            let request = AddNodeRequest::validator(&org, &host, &format!("late-{n}"));
            calls.push(call(async move { client.add_node(&id, &request).await }));
            if n == 6 {
                let (client, id) = (u1.clone(), chain.id.clone());
                calls.push(call(async move { client.start_chain(&id, false).await }));
            }
        }
        let outcomes = at_once(calls).await;
        for o in &outcomes {
            if let Err(e) = o {
                assert_eq!(e.code(), Some("illegal_step"), "{e}");
            }
        }
        // The start provisions every node the chain has, and no node is left out of it.
        let view = u1.chain(&chain.id).await.unwrap();
        assert_eq!(view.status, ChainStatus::Starting, "{view:?}");
        assert_eq!(view.progress.as_ref().unwrap().total, view.nodes.len(), "{view:?}");
        // Calls 0 to 6 and 8 to 12 add nodes; call 7 starts.
        assert!(outcomes[7].is_ok(), "the start: {:?}", outcomes[7]);
        let added = outcomes.iter().enumerate().filter(|(i, o)| *i != 7 && o.is_ok()).count();
        assert_eq!(view.nodes.len(), 4 + added, "every node added is in the chain");
    }
}
