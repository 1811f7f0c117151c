//! The governance system contract through the EVM over a real store: proposals, votes,
//! policies and every refusal, each leaving the state as it was.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_sol_types::{SolCall, SolEvent};
use common::{Chain, ctx, eth, native};
use consortia_crypto::{Address, PrivateKey, Scheme};
use consortia_execution::governance::{self, IGovernance, Status};
use consortia_execution::test_utils::{forwarder, init_code};
use consortia_execution::{BlockOutcome, CallOutcome, revert_reason};
use consortia_test_utils::genesis::{bft, validator_key};
use consortia_types::{EvmCall, Genesis, GenesisMember, ReceiptStatus};

const ORGS: [&str; 4] = ["org-a", "org-b", "org-c", "org-d"];

/// A 4-validator BFT chain whose validators belong to four members, one admin each.
struct Gov {
    chain: Chain,
    admins: Vec<PrivateKey>,
    nonces: Vec<u64>,
}

fn genesis(admins: &[PrivateKey]) -> Genesis {
    let (mut g, _) = bft(5, 4);
    g.chain_id = 5;
    g.params.governance_voting_ms = 10_000;
    g.members = ORGS
        .iter()
        .zip(admins)
        .enumerate()
        .map(|(i, (org, admin))| GenesisMember {
            id: (*org).into(),
            admins: vec![admin.public_key().address()],
            ca_cert: String::new(),
            nodes: vec![format!("validator-{i}")],
        })
        .collect();
    g
}

impl Gov {
    fn new() -> Gov {
        let admins: Vec<_> = (0..5).map(|_| PrivateKey::generate(Scheme::Secp256k1)).collect();
        let chain = Chain::new(&genesis(&admins[..4]));
        Gov { chain, admins, nonces: vec![0; 5] }
    }

    /// Runs one block with `admin`'s call to the contract.
    fn call(&mut self, admin: usize, input: Vec<u8>) -> BlockOutcome {
        let nonce = self.nonces[admin];
        self.nonces[admin] += 1;
        let tx = native(&self.admins[admin], nonce, Some(governance::ADDRESS), 0, input);
        self.chain.run(vec![tx])
    }

    fn reverts(&mut self, admin: usize, input: Vec<u8>) -> String {
        let out = self.call(admin, input);
        match &out.receipts[0].status {
            ReceiptStatus::Failed { code, message } if code == "reverted" => message.clone(),
            other => panic!("expected a revert, got {other:?}"),
        }
    }

    fn succeeds(&mut self, admin: usize, input: Vec<u8>) -> BlockOutcome {
        let out = self.call(admin, input);
        assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
        out
    }

    fn proposal(&self, id: u64) -> governance::Proposal {
        governance::proposal(&self.chain.store, id).unwrap().unwrap()
    }

    fn validator_count(&self) -> usize {
        governance::validators(&self.chain.store).unwrap().len()
    }

    fn propose_adding_validator(&mut self, admin: usize, index: usize) -> u64 {
        let out = self.succeeds(admin, add_validator(index));
        IGovernance::proposeAddNodeCall::abi_decode_returns(&out.receipts[0].output).unwrap()
    }
}

fn add_validator(index: usize) -> Vec<u8> {
    IGovernance::proposeAddNodeCall {
        name: format!("validator-{index}"),
        org: "org-a".into(),
        consensusKey: validator_key(index).public_key().to_base64(),
        power: 1,
        tlsKey: String::new(),
    }
    .abi_encode()
}

fn vote(id: u64, approve: bool) -> Vec<u8> {
    IGovernance::voteCall { id, approve }.abi_encode()
}

fn remove_node(name: &str) -> Vec<u8> {
    IGovernance::proposeRemoveNodeCall { name: name.into() }.abi_encode()
}

#[test]
fn genesis_seeds_the_members_and_the_validators() {
    let gov = Gov::new();
    let members = governance::members(&gov.chain.store).unwrap();
    assert_eq!(members.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ORGS);
    let validators = governance::validators(&gov.chain.store).unwrap();
    assert_eq!(validators, bft(5, 4).0.validators);
    let nodes = governance::nodes(&gov.chain.store).unwrap();
    assert_eq!(nodes[2].org, "org-c", "a node belongs to the member that lists it");
}

#[test]
fn a_majority_of_members_adds_a_validator_effective_two_blocks_later() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    assert_eq!(id, 1);
    gov.succeeds(1, vote(id, true));
    assert_eq!(gov.proposal(id).status, Status::Open, "2 of 4 is not more than half");
    assert_eq!(gov.validator_count(), 4);
    let out = gov.succeeds(2, vote(id, true));
    let executed = gov.proposal(id);
    assert_eq!(executed.status, Status::Executed);
    assert_eq!(executed.decided_height, gov.chain.height);
    assert_eq!(gov.validator_count(), 5);
    let changed = out.receipts[0]
        .events
        .iter()
        .find(|e| e.topics[0].0 == IGovernance::ValidatorSetChanged::SIGNATURE_HASH.0)
        .expect("a ValidatorSetChanged event");
    let effective = IGovernance::ValidatorSetChanged::abi_decode_data(&changed.data).unwrap().0;
    assert_eq!(effective, gov.chain.height + governance::ACTIVATION_DELAY);
}

#[test]
fn an_ethereum_transaction_votes_like_a_native_one() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    gov.succeeds(1, vote(id, true));
    let tx = eth(&gov.admins[2], 0, governance::ADDRESS, 0, vote(id, true));
    let out = gov.chain.run(vec![tx]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(gov.proposal(id).status, Status::Executed);
}

#[test]
fn a_vote_from_a_non_member_is_refused() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    let reason = gov.reverts(4, vote(id, true));
    assert!(reason.contains("not an admin of a member"), "{reason}");
    assert_eq!(gov.proposal(id).ballots.len(), 1);
}

#[test]
fn a_second_vote_from_the_same_organization_is_refused() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    let reason = gov.reverts(0, vote(id, false));
    assert!(reason.contains("`org-a` already voted on proposal 1"), "{reason}");
    assert_eq!(gov.proposal(id).ballots.len(), 1);
}

#[test]
fn a_vote_on_an_executed_proposal_is_refused() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    gov.succeeds(1, vote(id, true));
    gov.succeeds(2, vote(id, true));
    let reason = gov.reverts(3, vote(id, true));
    assert!(reason.contains("proposal 1 is executed"), "{reason}");
    assert_eq!(gov.proposal(id).ballots.len(), 3);
}

#[test]
fn a_vote_on_an_expired_proposal_is_refused() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    // Blocks are 1 s apart in these tests; the voting period is 10 s.
    for _ in 0..11 {
        gov.chain.run(vec![]);
    }
    let reason = gov.reverts(1, vote(id, true));
    assert!(reason.contains("proposal 1 is expired"), "{reason}");
    assert_eq!(gov.validator_count(), 4);
}

#[test]
fn a_proposal_leaving_fewer_than_four_bft_validators_is_refused() {
    let mut gov = Gov::new();
    let reason = gov.reverts(0, remove_node("validator-3"));
    assert!(reason.contains("leave 3 BFT validators"), "{reason}");
    assert_eq!(governance::proposal_count(&gov.chain.store).unwrap(), 0);
}

#[test]
fn removing_an_unknown_node_is_refused() {
    let mut gov = Gov::new();
    let reason = gov.reverts(0, remove_node("nobody"));
    assert!(reason.contains("no node is named `nobody`"), "{reason}");
    assert_eq!(governance::proposal_count(&gov.chain.store).unwrap(), 0);
}

#[test]
fn a_malformed_proposal_is_refused() {
    let mut gov = Gov::new();
    let mut input = add_validator(4);
    input.truncate(40);
    let reason = gov.reverts(0, input);
    assert!(reason.contains("malformed arguments for proposeAddNode"), "{reason}");
    let bad_key = IGovernance::proposeAddNodeCall {
        name: "v".into(),
        org: "org-a".into(),
        consensusKey: "ed25519:not-base64!".into(),
        power: 1,
        tlsKey: String::new(),
    };
    let reason = gov.reverts(0, bad_key.abi_encode());
    assert!(reason.contains("consensusKey"), "{reason}");
    assert_eq!(governance::proposal_count(&gov.chain.store).unwrap(), 0);
}

#[test]
fn the_proposer_cancels_and_no_one_else_may() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    let cancel = IGovernance::cancelCall { id }.abi_encode();
    let reason = gov.reverts(1, cancel.clone());
    assert!(reason.contains("only the proposer"), "{reason}");
    gov.succeeds(0, cancel);
    assert_eq!(gov.proposal(id).status, Status::Cancelled);
    let reason = gov.reverts(1, vote(id, true));
    assert!(reason.contains("is cancelled"), "{reason}");
}

#[test]
fn enough_rejections_reject_a_proposal() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    gov.succeeds(1, vote(id, false));
    gov.succeeds(2, vote(id, false));
    assert_eq!(gov.proposal(id).status, Status::Rejected);
    assert_eq!(gov.validator_count(), 4);
}

#[test]
fn a_leader_only_policy_lets_the_leader_decide_alone() {
    let mut gov = Gov::new();
    let policy = IGovernance::proposeSetPolicyCall {
        kind: governance::Kind::AddNode as u8,
        rule: governance::Rule::LeaderOnly as u8,
        n: 0,
        leader: "org-b".into(),
    };
    let out = gov.succeeds(0, policy.abi_encode());
    let id =
        IGovernance::proposeSetPolicyCall::abi_decode_returns(&out.receipts[0].output).unwrap();
    gov.succeeds(1, vote(id, true));
    gov.succeeds(2, vote(id, true));
    assert_eq!(gov.proposal(id).status, Status::Executed);
    let id = gov.propose_adding_validator(1, 4);
    assert_eq!(gov.proposal(id).status, Status::Executed, "the leader's proposal decides");
}

#[test]
fn an_approved_proposal_no_longer_applicable_fails_with_its_reason() {
    let mut gov = Gov::new();
    let first = gov.propose_adding_validator(0, 4);
    let second = gov.propose_adding_validator(1, 4);
    for id in [first, second] {
        gov.succeeds(2, vote(id, true));
        gov.succeeds(3, vote(id, true));
    }
    assert_eq!(gov.proposal(first).status, Status::Executed);
    let failed = gov.proposal(second);
    assert_eq!(failed.status, Status::Failed);
    assert!(failed.failure.contains("a node named `validator-4` exists"), "{}", failed.failure);
    assert_eq!(gov.validator_count(), 5);
}

#[test]
fn a_governance_call_in_a_reverting_frame_leaves_nothing() {
    // Two forwarder contracts deployed by admin 4, both admins of org-a: one reverts after its
    // call into governance, the other returns.
    let admins: Vec<_> = (0..5).map(|_| PrivateKey::generate(Scheme::Secp256k1)).collect();
    let deployer = admins[4].public_key().address();
    let created =
        |nonce: u64| Address(alloy_primitives::Address::from(deployer.0).create(nonce).0.0);
    let (reverting, returning) = (created(0), created(1));
    let mut g = genesis(&admins[..4]);
    g.members[0].admins.extend([reverting, returning]);
    let mut chain = Chain::new(&g);
    chain.run(vec![
        native(&admins[4], 0, None, 0, init_code(&forwarder(governance::ADDRESS, true))),
        native(&admins[4], 1, None, 0, init_code(&forwarder(governance::ADDRESS, false))),
    ]);
    let out = chain.run(vec![native(&admins[4], 2, Some(reverting), 0, add_validator(4))]);
    assert!(matches!(out.receipts[0].status, ReceiptStatus::Failed { .. }));
    assert_eq!(governance::proposal_count(&chain.store).unwrap(), 0, "the revert took it back");
    let out = chain.run(vec![native(&admins[4], 3, Some(returning), 0, add_validator(4))]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(governance::proposal_count(&chain.store).unwrap(), 1, "a contract can propose");
}

#[test]
fn views_read_proposals_members_and_nodes() {
    let mut gov = Gov::new();
    let id = gov.propose_adding_validator(0, 4);
    let call = |input: Vec<u8>| EvmCall {
        to: Some(governance::ADDRESS),
        value: 0,
        input,
        gas_limit: 1_000_000,
    };
    let read = |gov: &Gov, input: Vec<u8>| match gov
        .chain
        .exec
        .call(&gov.chain.store, ctx(gov.chain.height + 1), Address::default(), call(input))
        .unwrap()
    {
        CallOutcome::Success { output, .. } => output,
        other => panic!("{other:?}"),
    };
    let p = IGovernance::getProposalCall::abi_decode_returns(&read(
        &gov,
        IGovernance::getProposalCall { id }.abi_encode(),
    ))
    .unwrap();
    assert!(p.exists);
    assert_eq!(p.status, Status::Open as u8);
    assert_eq!(p.approvals, vec!["org-a".to_owned()]);
    assert!(p.summary.contains("add validator `validator-4`"), "{}", p.summary);
    let ids = IGovernance::memberIdsCall::abi_decode_returns(&read(
        &gov,
        IGovernance::memberIdsCall {}.abi_encode(),
    ))
    .unwrap();
    assert_eq!(ids, ORGS);
    let node = IGovernance::getNodeCall::abi_decode_returns(&read(
        &gov,
        IGovernance::getNodeCall { name: "validator-1".into() }.abi_encode(),
    ))
    .unwrap();
    assert_eq!((node.org.as_str(), node.power), ("org-b", 1));
    // A write from a view is refused with its reason.
    let outcome = gov
        .chain
        .exec
        .call(&gov.chain.store, ctx(9), Address::default(), EvmCall { ..call(vote(id, true)) })
        .unwrap();
    let CallOutcome::Revert { output, .. } = outcome else { panic!("{outcome:?}") };
    assert!(revert_reason(&output).unwrap().contains("not an admin"));
}
