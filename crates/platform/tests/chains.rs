//! Hosts and the chain wizard through the SDK, on SQLite and on PostgreSQL: the chain id at
//! once, nodes per organization on its own hosts, inviting a member organization that brings
//! its nodes, the next step and the open problems, chosen ports, and every illegal order or
//! foreign resource refused with a clear 4xx.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{Backend, Server, ask_to_join, bearer, consortium, refused, user, vote};
use consortia_api::PlatformClient;
use consortia_api::platform::*;
use reqwest::Method;

on_both_databases!(
    hosts_belong_to_their_organization,
    a_chain_has_its_id_at_once_and_needs_four_bft_validators,
    a_node_needs_a_participating_organization_and_one_of_its_hosts,
    chosen_ports_are_checked_and_shown,
    a_node_s_memory_and_cpu_limits_are_checked_and_shown,
    an_invited_organization_brings_its_own_nodes,
    outsiders_see_no_chain_and_unknown_ids_are_not_found,
    a_node_leaves_before_the_start_by_its_organization_only,
    a_chosen_port_another_program_holds_fails_the_start_by_name,
    a_chain_keeps_its_base_fee_allocations_and_origins,
    bad_fees_allocations_and_origins_are_refused,
);

/// A consortium of org 1 (user 1) and org 2 (user 2, with ops2 as its operator), a local host
/// each, and user 3 with an organization outside.
struct World {
    server: Server,
    u1: PlatformClient,
    u2: PlatformClient,
    u3: PlatformClient,
    ops2: PlatformClient,
    consortium: String,
    org1: String,
    org2: String,
    org3: String,
    host1: String,
    host2: String,
}

async fn world(backend: Backend) -> Option<World> {
    let server = Server::start(backend).await?;
    let admin = server.admin().await;
    let u1 = user(&server, &admin, "user1").await;
    let u2 = user(&server, &admin, "user2").await;
    let u3 = user(&server, &admin, "user3").await;
    let ops2 = user(&server, &admin, "ops2").await;
    let (c, org1) = consortium(&u1, "C", "Org One", ApprovalPolicy::Leader).await;
    let org2 = u2.create_org("Org Two").await.unwrap();
    let operator = AddMemberRequest { username: "ops2".into(), role: Role::Operator };
    u2.add_member(&org2.id, &operator).await.unwrap();
    let request = ask_to_join(&u1, &u2, &c.id, &org2).await;
    u1.vote(&c.id, &request.id, &vote(Decision::Approve)).await.unwrap();
    let org3 = u3.create_org("Outsider").await.unwrap();
    let host1 = u1.create_host(&CreateHostRequest::local(&org1.id, "h1")).await.unwrap().id;
    let host2 = u2.create_host(&CreateHostRequest::local(&org2.id, "h2")).await.unwrap().id;
    Some(World {
        server,
        u1,
        u2,
        u3,
        ops2,
        consortium: c.id,
        org1: org1.id,
        org2: org2.id,
        org3: org3.id,
        host1,
        host2,
    })
}

/// Org 1's BFT chain `trade` with nodes `one-0` and `one-1`.
async fn trade(w: &World) -> ChainView {
    let chain = w
        .u1
        .create_chain(&CreateChainRequest::new(&w.consortium, &w.org1, "trade", Consensus::Bft))
        .await
        .unwrap();
    for n in 0..2 {
        w.u1.add_node(
            &chain.id,
            &AddNodeRequest::validator(&w.org1, &w.host1, &format!("one-{n}")),
        )
        .await
        .unwrap();
    }
    w.u1.chain(&chain.id).await.unwrap()
}

async fn hosts_belong_to_their_organization(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let listed = w.u1.hosts().await.unwrap();
    assert_eq!((listed.len(), listed[0].address.as_str()), (1, "127.0.0.1"));
    assert_eq!(listed[0].network, HostNetwork::Host);
    let bridged = CreateHostRequest {
        network: Some(HostNetwork::Bridge),
        ..CreateHostRequest::local(&w.org1, "bridged")
    };
    assert_eq!(refused(w.u1.create_host(&bridged).await), (400, "bad_network".into()));
    assert_eq!(refused(w.u1.create_host(&CreateHostRequest::local(&w.org2, "x")).await).0, 403);
    let bad = CreateHostRequest {
        address: Some("nope".into()),
        ..CreateHostRequest::local(&w.org1, "bad")
    };
    assert_eq!(refused(w.u1.create_host(&bad).await), (400, "bad_address".into()));
    assert_eq!(refused(w.u1.create_host(&CreateHostRequest::local(&w.org1, "h1")).await).0, 409);
    let token = bearer(&w.u1);
    let body = format!(r#"{{"org_id":"{}","name":"k","kind":"mainframe"}}"#, w.org1);
    let (status, _) = w.server.raw(Method::POST, "/v1/hosts", Some(&token), &body).await;
    assert_eq!(status, 400);
}

async fn a_chain_has_its_id_at_once_and_needs_four_bft_validators(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let zero = CreateChainRequest {
        max_block_txs: Some(0),
        ..CreateChainRequest::new(&w.consortium, &w.org1, "c", Consensus::Bft)
    };
    assert_eq!(refused(w.u1.create_chain(&zero).await), (400, "bad_parameters".into()));
    let not_mine = CreateChainRequest::new(&w.consortium, &w.org1, "c", Consensus::Bft);
    assert_eq!(refused(w.u3.create_chain(&not_mine).await).0, 403);
    let outsider = CreateChainRequest::new(&w.consortium, &w.org3, "c", Consensus::Bft);
    assert_eq!(refused(w.u3.create_chain(&outsider).await), (403, "not_a_member".into()));
    let chain = w
        .u1
        .create_chain(&CreateChainRequest::new(&w.consortium, &w.org1, "trade", Consensus::Bft))
        .await
        .unwrap();
    assert!(chain.chain_id >= 100_000);
    assert_eq!((chain.status, chain.next_step), (ChainStatus::Configuring, NextStep::AddNodes));
    assert!(chain.problems[0].contains("at least 4 validators"), "{:?}", chain.problems);
    let again = CreateChainRequest::new(&w.consortium, &w.org1, "trade", Consensus::Raft);
    assert_eq!(refused(w.u1.create_chain(&again).await).0, 409);
}

async fn a_node_needs_a_participating_organization_and_one_of_its_hosts(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    assert_eq!(chain.nodes.len(), 2);
    let early =
        w.u2.add_node(&chain.id, &AddNodeRequest::validator(&w.org2, &w.host2, "two-0")).await;
    assert_eq!(refused(early), (403, "not_participating".into()));
    let twice =
        w.u1.add_node(&chain.id, &AddNodeRequest::validator(&w.org1, &w.host1, "one-0")).await;
    assert_eq!(refused(twice).0, 409);
    let foreign =
        w.u1.add_node(&chain.id, &AddNodeRequest::validator(&w.org1, &w.host2, "x")).await;
    assert_eq!(refused(foreign), (400, "foreign_host".into()));
    let unknown =
        w.u1.add_node(&chain.id, &AddNodeRequest::validator(&w.org1, "host_nope", "x")).await;
    assert_eq!(refused(unknown).0, 404);
    let bad_name =
        w.u1.add_node(&chain.id, &AddNodeRequest::validator(&w.org1, &w.host1, "a b")).await;
    assert_eq!(refused(bad_name), (400, "bad_name".into()));
    let body = format!(r#"{{"org_id":"{}","host_id":"{}","role":"king"}}"#, w.org1, w.host1);
    let path = format!("/v1/chains/{}/nodes", chain.id);
    let (status, _) = w.server.raw(Method::POST, &path, Some(&bearer(&w.u1)), &body).await;
    assert_eq!(status, 400);
}

async fn chosen_ports_are_checked_and_shown(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    let pinned = |name: &str, http: u16, p2p: u16| AddNodeRequest {
        http_port: Some(http),
        p2p_port: Some(p2p),
        ..AddNodeRequest::validator(&w.org1, &w.host1, name)
    };
    for (http, p2p) in [(0, 19_101), (19_001, 19_001)] {
        let bad = w.u1.add_node(&chain.id, &pinned("one-9", http, p2p)).await;
        assert_eq!(refused(bad), (400, "bad_port".into()));
    }
    let view = w.u1.add_node(&chain.id, &pinned("one-9", 19_001, 19_101)).await.unwrap();
    let one9 = view.node("one-9").unwrap();
    assert_eq!(one9.http_url.as_deref(), Some("http://127.0.0.1:19001"));
    assert_eq!(one9.p2p_address.as_deref(), Some("127.0.0.1:19101"));
    let taken = w.u1.add_node(&chain.id, &pinned("one-8", 19_002, 19_001)).await;
    assert_eq!(refused(taken), (409, "port_taken".into()));
}

async fn a_node_s_memory_and_cpu_limits_are_checked_and_shown(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    let limited = |name: &str, memory_mib: u32, cpu_millis: u32| AddNodeRequest {
        memory_mib: Some(memory_mib),
        cpu_millis: Some(cpu_millis),
        ..AddNodeRequest::validator(&w.org1, &w.host1, name)
    };
    for (memory, cpu) in [(64, 500), (512, 10), (100_000, 500)] {
        let bad = w.u1.add_node(&chain.id, &limited("small", memory, cpu)).await;
        assert_eq!(refused(bad), (400, "bad_resources".into()), "{memory} MiB, {cpu} m");
    }
    let view = w.u1.add_node(&chain.id, &limited("small", 512, 500)).await.unwrap();
    let small = view.node("small").unwrap();
    assert_eq!((small.memory_mib, small.cpu_millis), (512, Some(500)));
    let plain = AddNodeRequest::validator(&w.org1, &w.host1, "plain");
    let view = w.u1.add_node(&chain.id, &plain).await.unwrap();
    let plain = view.node("plain").unwrap();
    assert_eq!((plain.memory_mib, plain.cpu_millis), (1024, None), "the defaults");
}

async fn an_invited_organization_brings_its_own_nodes(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    assert_eq!(refused(w.u2.invite_org(&chain.id, &w.org2).await).0, 403, "not yet in it");
    assert_eq!(refused(w.u1.invite_org(&chain.id, &w.org3).await), (403, "not_a_member".into()));
    w.u1.invite_org(&chain.id, &w.org2).await.unwrap();
    assert_eq!(refused(w.u1.invite_org(&chain.id, &w.org2).await).0, 409);
    let foreign =
        w.ops2.add_node(&chain.id, &AddNodeRequest::validator(&w.org1, &w.host1, "x")).await;
    assert_eq!(refused(foreign).0, 403, "an operator of org 2 cannot add org 1's nodes");
    for n in 0..2 {
        w.ops2
            .add_node(&chain.id, &AddNodeRequest::validator(&w.org2, &w.host2, &format!("two-{n}")))
            .await
            .unwrap();
    }
    let view = w.u2.chain(&chain.id).await.unwrap();
    assert_eq!((view.next_step, view.problems.len()), (NextStep::InviteOrStart, 0));
    assert_eq!(view.nodes.len(), 4);
    assert_eq!(view.orgs, [w.org1.clone(), w.org2.clone()]);
}

async fn outsiders_see_no_chain_and_unknown_ids_are_not_found(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    assert_eq!(refused(w.u3.chain(&chain.id).await).0, 403);
    assert_eq!(refused(w.u1.chain("chain_nope").await).0, 404);
    assert!(w.u3.chains().await.unwrap().is_empty());
    assert_eq!(w.u1.chains().await.unwrap().len(), 1);
    assert_eq!(w.u2.hosts().await.unwrap().len(), 1, "org 2's own host");
}

async fn a_node_leaves_before_the_start_by_its_organization_only(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    w.u1.invite_org(&chain.id, &w.org2).await.unwrap();
    for n in 0..2 {
        w.ops2
            .add_node(&chain.id, &AddNodeRequest::validator(&w.org2, &w.host2, &format!("two-{n}")))
            .await
            .unwrap();
    }
    assert_eq!(refused(w.ops2.remove_node(&chain.id, "one-0").await).0, 403);
    assert_eq!(refused(w.u1.remove_node(&chain.id, "ghost").await).0, 404);
    let view = w.u1.remove_node(&chain.id, "one-0").await.unwrap();
    assert_eq!((view.next_step, view.nodes.len()), (NextStep::AddNodes, 3));
}

async fn a_chosen_port_another_program_holds_fails_the_start_by_name(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let chain = trade(&w).await;
    for n in 2..4 {
        w.u1.add_node(
            &chain.id,
            &AddNodeRequest::validator(&w.org1, &w.host1, &format!("one-{n}")),
        )
        .await
        .unwrap();
    }
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let pinned = AddNodeRequest {
        http_port: Some(held),
        ..AddNodeRequest::validator(&w.org1, &w.host1, "one-9")
    };
    w.u1.add_node(&chain.id, &pinned).await.unwrap();
    let e = w.u1.start_chain(&chain.id, true).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(502), Some("start_failed")));
    let message = &e.body().unwrap().message;
    assert!(message.contains(&format!("port {held}")) && message.contains("in use"), "{message}");
    let view = w.u1.chain(&chain.id).await.unwrap();
    assert_eq!(view.status, ChainStatus::Configuring);
    assert!(view.failure.as_deref().unwrap().contains("in use"), "{view:?}");
    let unpinned = view.nodes.iter().filter(|n| n.http_url.is_none()).count();
    assert_eq!(unpinned, 4, "ports picked for a failed start are not kept");
}

async fn a_chain_keeps_its_base_fee_allocations_and_origins(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let defaults = trade(&w).await;
    assert_eq!(defaults.base_fee_per_gas, 1);
    assert!(defaults.allocations.is_empty());
    assert_eq!(defaults.cors_origins, ["http://localhost:*", "http://127.0.0.1:*"]);
    let funded = Allocation {
        address: "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf".into(),
        balance: "1000000000000000000".into(),
    };
    let request = CreateChainRequest {
        base_fee_per_gas: Some(0),
        allocations: vec![funded.clone()],
        cors_origins: Some(vec!["https://dapp.example".into()]),
        ..CreateChainRequest::new(&w.consortium, &w.org1, "free", Consensus::Bft)
    };
    let chain = w.u1.create_chain(&request).await.unwrap();
    let shown = w.u1.chain(&chain.id).await.unwrap();
    assert_eq!(shown.base_fee_per_gas, 0);
    assert_eq!(shown.allocations, [funded]);
    assert_eq!(shown.cors_origins, ["https://dapp.example"]);
}

async fn bad_fees_allocations_and_origins_are_refused(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let base = CreateChainRequest::new(&w.consortium, &w.org1, "c", Consensus::Bft);
    let negative = CreateChainRequest { base_fee_per_gas: Some(-1), ..base.clone() };
    assert_eq!(refused(w.u1.create_chain(&negative).await), (400, "bad_parameters".into()));
    let allocation = |address: &str, balance: &str| Allocation {
        address: address.into(),
        balance: balance.into(),
    };
    let twice = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf";
    let bad = CreateChainRequest {
        allocations: vec![
            allocation("0xnope", "1"),
            allocation(twice, "1"),
            allocation(twice, "one"),
        ],
        ..base.clone()
    };
    let e = w.u1.create_chain(&bad).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(400), Some("bad_allocations")));
    let message = e.to_string();
    for problem in ["0xnope", "allocated twice", "`one`"] {
        assert!(message.contains(problem), "{problem} missing from {message}");
    }
    let origins = CreateChainRequest { cors_origins: Some(vec!["localhost".into()]), ..base };
    assert_eq!(refused(w.u1.create_chain(&origins).await), (400, "bad_cors_origins".into()));
}
