//! The governance reads in-process: members, the node list, validator sets by height, and
//! proposals with their votes, action and policy.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_sol_types::SolCall;
use axum::http::StatusCode;
use common::TestNode;
use consortia_execution::governance::{self, IGovernance};
use consortia_execution::test_utils::{echo_runtime, init_code};
use serde_json::json;

#[tokio::test]
async fn members_and_nodes_come_from_the_governance_state() {
    let t = TestNode::start().await;
    let (status, members) = t.get("/v1/governance/members").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members[0]["id"], "org-a");
    assert_eq!(members[0]["admins"][0], t.address().to_checksum_hex());
    assert_eq!(members[0]["nodes"][0], "validator-0");
    let (status, nodes) = t.get("/v1/governance/nodes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(nodes[0]["name"], "validator-0");
    assert_eq!(nodes[0]["role"], "validator");
    assert_eq!(nodes[0]["org"], "org-a");
}

#[tokio::test]
async fn the_validator_set_of_a_height_matches_what_headers_commit_to() {
    let t = TestNode::start().await;
    let (status, set) = t.get("/v1/validators?height=1").await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["validators"].as_array().unwrap().len(), 1);
    assert_eq!(set["total_power"], 1);
    let (_, genesis) = t.get("/v1/blocks/0").await;
    assert_eq!(genesis["next_validators_hash"], set["hash"], "block 0 names the set of block 1");
    let (status, body) = t.get("/v1/validators?height=1000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not known yet"), "{body}");
}

#[tokio::test]
async fn a_proposal_is_listed_with_its_votes_action_and_policy() {
    let mut t = TestNode::start().await;
    let admin = format!("0x{}", "11".repeat(20)).parse().unwrap();
    let call = IGovernance::proposeAddMemberCall {
        org: "org-b".into(),
        admins: vec![admin],
        caCert: String::new(),
    };
    let tx = t.evm_call(governance::ADDRESS, call.abi_encode());
    t.commit(&[tx]).await;
    let (status, list) = t.get("/v1/governance/proposals").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    let p = &list["proposals"][0];
    // One member: the proposer's approval is a majority, so it executed at once.
    assert_eq!(p["status"], "executed", "{p}");
    assert_eq!(p["kind"], "add_member");
    assert_eq!(p["action"]["type"], "add_member");
    assert_eq!(p["action"]["org"], "org-b");
    assert_eq!(p["votes"][0]["org"], "org-a");
    assert_eq!(p["policy"]["rule"], "majority");
    let (status, one) = t.get("/v1/governance/proposals/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["summary"], p["summary"]);
    let (_, open) = t.get("/v1/governance/proposals?status=open").await;
    assert!(open["proposals"].as_array().unwrap().is_empty(), "{open}");
    let (_, members) = t.get("/v1/governance/members").await;
    assert_eq!(members.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_blocks_proposals_are_the_ones_its_governance_events_name() {
    let mut t = TestNode::start().await;
    let mut heights = vec![];
    for (org, byte) in [("org-b", "11"), ("org-c", "22")] {
        let admin = format!("0x{}", byte.repeat(20)).parse().unwrap();
        let call = IGovernance::proposeAddMemberCall {
            org: org.into(),
            admins: vec![admin],
            caCert: String::new(),
        };
        let tx = t.evm_call(governance::ADDRESS, call.abi_encode());
        heights.push(t.commit(&[tx]).await);
    }
    let ids = |list: &serde_json::Value| -> Vec<u64> {
        list["proposals"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect()
    };
    for (height, expected) in [(heights[0], vec![1]), (heights[1], vec![2]), (0, vec![])] {
        let (status, list) = t.get(&format!("/v1/governance/proposals?height={height}")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(ids(&list), expected, "block {height}: {list}");
    }
    let (status, body) = t.get("/v1/governance/proposals?height=999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn unknown_proposals_and_bad_filters_are_refused() {
    let t = TestNode::start().await;
    let (status, body) = t.get("/v1/governance/proposals/9").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = t.get("/v1/governance/proposals?status=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_chain_parameters_are_read_from_governance() {
    let t = TestNode::start().await;
    let (status, params) = t.get("/v1/governance/params").await;
    assert_eq!(status, StatusCode::OK, "{params}");
    assert_eq!(params["deploy_policy"], "open");
    assert_eq!(params["block_gas_limit"], 1_000_000_000u64);
}

#[tokio::test]
async fn a_dry_run_of_a_deployment_shows_its_address_code_and_the_hash_to_approve() {
    let t = TestNode::start().await;
    let init = init_code(&echo_runtime());
    let body = json!({ "from": t.address().to_checksum_hex(), "data": common::hex0x(&init) });
    let (status, sim) = t.post("/v1/simulate", body).await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["status"], "success", "{sim}");
    assert_eq!(sim["init_code_hash"], governance::init_code_hash(&init).to_hex());
    let runtime_hash = alloy_primitives::keccak256(echo_runtime());
    assert_eq!(sim["code_hash"], format!("{runtime_hash}"));
    assert!(sim["contract_address"].as_str().unwrap().starts_with("0x"));
    assert!(sim.get("deploy_refusal").is_none(), "an open chain deploys anything: {sim}");
    let (status, _) = t
        .get(&format!("/v1/governance/contracts/{}", sim["contract_address"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a dry run deploys nothing");
}

#[tokio::test]
async fn a_dry_run_with_malformed_data_is_refused() {
    let t = TestNode::start().await;
    let (status, body) = t.post("/v1/simulate", json!({ "data": "0xzz" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn an_approval_of_code_is_visible_once_executed() {
    let mut t = TestNode::start().await;
    let init = init_code(&echo_runtime());
    let hash = governance::init_code_hash(&init);
    let path = format!("/v1/governance/code/{}", hash.to_hex());
    let (status, before) = t.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["approved"], false);
    let call =
        IGovernance::proposeApproveCodeCall { codeHash: hash.0.into(), label: "echo".into() };
    let tx = t.evm_call(governance::ADDRESS, call.abi_encode());
    t.commit(&[tx]).await;
    let (_, after) = t.get(&path).await;
    assert_eq!(after["approved"], true, "{after}");
    assert_eq!(after["proposal"], 1);
    assert_eq!(after["label"], "echo");
    let (_, p) = t.get("/v1/governance/proposals/1").await;
    assert_eq!(p["action"]["type"], "approve_code", "{p}");
    assert_eq!(p["action"]["code_hash"], hash.to_hex());
}

#[tokio::test]
async fn a_smaller_max_block_txs_decided_by_vote_bounds_the_next_blocks() {
    let mut t = TestNode::start().await;
    let call = IGovernance::proposeSetParameterCall { name: "max_block_txs".into(), value: 2 };
    let tx = t.evm_call(governance::ADDRESS, call.abi_encode());
    let decided = t.commit(&[tx]).await;
    let (_, params) = t.get("/v1/governance/params").await;
    assert_eq!(params["max_block_txs"], 2, "{params}");
    let txs: Vec<_> = (0..7).map(|i| t.notarization(&format!("n-{i}"), b"x")).collect();
    let last = t.commit(&txs).await;
    assert!(last >= decided + 4, "7 transactions need at least 4 blocks of 2: {decided}..{last}");
    for height in decided + 1..=last {
        let (_, block) = t.get(&format!("/v1/blocks/{height}")).await;
        assert!(block["tx_count"].as_u64().unwrap() <= 2, "{block}");
    }
}
