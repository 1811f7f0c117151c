//! The governance system contract through the EVM over a real store: proposals, votes,
//! policies and every refusal, each leaving the state as it was.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_sol_types::{SolCall, SolEvent};
use common::{Chain, ctx, eth, native};
use consortia_crypto::{Address, PrivateKey, Scheme};
use consortia_execution::governance::{self, IGovernance, Status};
use consortia_execution::ledger;
use consortia_execution::test_utils::{echo_runtime, forwarder, init_code, reader_runtime};
use consortia_execution::{BlockOutcome, CallOutcome, read_account, revert_reason};
use consortia_test_utils::genesis::{bft, validator_key};
use consortia_test_utils::ledger::orders;
use consortia_types::{
    DeployPolicy, EvmCall, Genesis, GenesisMember, Payload, ReceiptStatus, encode,
};

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
        Gov::with(|_| {})
    }

    /// A chain whose genesis `tweak` changed.
    fn with(tweak: impl FnOnce(&mut Genesis)) -> Gov {
        let admins: Vec<_> = (0..5).map(|_| PrivateKey::generate(Scheme::Secp256k1)).collect();
        let mut g = genesis(&admins[..4]);
        tweak(&mut g);
        Gov { chain: Chain::new(&g), admins, nonces: vec![0; 5] }
    }

    /// A chain whose deploy policy is `approved`.
    fn approving() -> Gov {
        Gov::with(|g| g.params.deploy_policy = DeployPolicy::Approved)
    }

    /// Proposes with org-a's admin and approves with org-b's and org-c's: a majority of 4.
    fn pass(&mut self, proposal: Vec<u8>) -> BlockOutcome {
        let out = self.succeeds(0, proposal);
        let id =
            IGovernance::proposeAddNodeCall::abi_decode_returns(&out.receipts[0].output).unwrap();
        self.succeeds(1, vote(id, true));
        let out = self.succeeds(2, vote(id, true));
        assert_eq!(self.proposal(id).status, Status::Executed, "{:?}", self.proposal(id));
        out
    }

    /// Deploys `init` from the non-member account 4; the receipt of the deployment.
    fn deploy(&mut self, init: Vec<u8>) -> (Address, ReceiptStatus) {
        let nonce = self.nonces[4];
        self.nonces[4] += 1;
        let sender = alloy_primitives::Address::from(self.admins[4].public_key().address().0);
        let address = Address(sender.create(nonce).0.0);
        let out = self.chain.run(vec![native(&self.admins[4], nonce, None, 0, init)]);
        (address, out.receipts[0].status.clone())
    }

    /// Calls `to` from account 4.
    fn call_contract(&mut self, to: Address, input: Vec<u8>) -> BlockOutcome {
        let nonce = self.nonces[4];
        self.nonces[4] += 1;
        self.chain.run(vec![native(&self.admins[4], nonce, Some(to), 0, input)])
    }

    /// An echo contract with `value` stored, deployed on an open chain.
    fn echo_holding(&mut self, value: u8) -> Address {
        let (echo, status) = self.deploy(init_code(&echo_runtime()));
        assert_eq!(status, ReceiptStatus::Success);
        let out = self.call_contract(echo, vec![value; 32]);
        assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
        echo
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
fn every_kind_and_rule_is_named_by_its_abi_number() {
    for (n, kind) in governance::Kind::ALL.iter().enumerate() {
        assert_eq!(*kind as usize, n, "kinds are numbered in order");
        assert_eq!(governance::Kind::from_name(kind.name()), Some(*kind));
    }
    assert_eq!(governance::Kind::ALL.len(), consortia_types::GOVERNANCE_KINDS.len());
    for name in consortia_types::GOVERNANCE_RULES {
        assert_eq!(governance::Rule::from_name(name).map(governance::Rule::name), Some(name));
    }
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

fn approve_code(init: &[u8]) -> Vec<u8> {
    let code_hash = governance::init_code_hash(init).0.into();
    IGovernance::proposeApproveCodeCall { codeHash: code_hash, label: "echo".into() }.abi_encode()
}

fn target(contract: Address) -> alloy_primitives::Address {
    alloy_primitives::Address::from(contract.0)
}

fn failure(status: &ReceiptStatus) -> &str {
    match status {
        ReceiptStatus::Failed { message, .. } => message,
        ReceiptStatus::Success => panic!("expected a failure"),
    }
}

fn code_hash(gov: &Gov, contract: Address) -> Option<consortia_crypto::Hash> {
    read_account(&gov.chain.store, &contract).unwrap().code_hash
}

#[test]
fn deploying_unapproved_code_fails_with_the_policys_reason_and_uses_the_nonce() {
    let mut gov = Gov::approving();
    let (echo, status) = gov.deploy(init_code(&echo_runtime()));
    let reason = failure(&status);
    assert!(reason.starts_with("deploy policy: code 0x"), "{reason}");
    assert!(reason.contains("is not approved"), "{reason}");
    assert_eq!(code_hash(&gov, echo), None, "nothing was deployed");
    let sender = gov.admins[4].public_key().address();
    assert_eq!(read_account(&gov.chain.store, &sender).unwrap().nonce, 1, "the nonce is used");
}

#[test]
fn approved_code_deploys() {
    let mut gov = Gov::approving();
    let init = init_code(&echo_runtime());
    let out = gov.pass(approve_code(&init));
    assert!(
        out.receipts[0]
            .events
            .iter()
            .any(|e| e.topics[0].0 == IGovernance::CodeApproved::SIGNATURE_HASH.0)
    );
    let (echo, status) = gov.deploy(init);
    assert_eq!(status, ReceiptStatus::Success);
    assert!(code_hash(&gov, echo).is_some());
}

#[test]
fn other_code_stays_refused_after_an_approval() {
    let mut gov = Gov::approving();
    gov.pass(approve_code(&init_code(&echo_runtime())));
    let (_, status) = gov.deploy(init_code(&reader_runtime()));
    assert!(failure(&status).contains("is not approved"));
}

#[test]
fn an_open_chain_deploys_without_approval() {
    let mut gov = Gov::new();
    let (_, status) = gov.deploy(init_code(&echo_runtime()));
    assert_eq!(status, ReceiptStatus::Success);
}

#[test]
fn approving_the_same_code_twice_is_refused() {
    let mut gov = Gov::approving();
    let init = init_code(&echo_runtime());
    gov.pass(approve_code(&init));
    let reason = gov.reverts(0, approve_code(&init));
    assert!(reason.contains("is already approved (proposal 1)"), "{reason}");
}

#[test]
fn an_upgrade_keeps_the_address_and_the_state() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(7);
    let (reader, _) = gov.deploy(init_code(&reader_runtime()));
    gov.pass(
        IGovernance::proposeUpgradeCall { target: target(echo), implementation: target(reader) }
            .abi_encode(),
    );
    assert_eq!(code_hash(&gov, echo), code_hash(&gov, reader), "the echo runs the reader's code");
    let out = gov.call_contract(echo, vec![]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success, "the reader does not revert");
    assert_eq!(out.receipts[0].output, vec![7; 32], "slot 0 kept what the echo stored");
    let record = governance::contract_record(&gov.chain.store, &echo).unwrap();
    assert_eq!(record.upgrades.len(), 1);
    assert_eq!(Some(record.upgrades[0].code_hash), code_hash(&gov, reader));
}

#[test]
fn an_upgrade_to_an_address_without_code_is_refused() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(1);
    let reason = gov.reverts(
        0,
        IGovernance::proposeUpgradeCall { target: target(echo), implementation: target(echo) }
            .abi_encode(),
    );
    assert!(reason.contains("already runs this code"), "{reason}");
    let nobody = target(Address([9; 20]));
    let reason = gov.reverts(
        0,
        IGovernance::proposeUpgradeCall { target: target(echo), implementation: nobody }
            .abi_encode(),
    );
    assert!(reason.contains("the implementation 0x0909"), "{reason}");
    assert!(reason.contains("holds no contract"), "{reason}");
}

#[test]
fn a_frozen_contract_reverts_until_unfrozen() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(1);
    gov.pass(IGovernance::proposeFreezeCall { target: target(echo) }.abi_encode());
    let out = gov.call_contract(echo, vec![2; 32]);
    let reason = failure(&out.receipts[0].status);
    assert!(reason.starts_with("contract frozen: "), "{reason}");
    gov.pass(IGovernance::proposeUnfreezeCall { target: target(echo) }.abi_encode());
    let out = gov.call_contract(echo, vec![3; 32]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(out.receipts[0].output, vec![3; 32]);
}

#[test]
fn a_call_through_another_contract_to_a_frozen_one_reverts_inside() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(1);
    let (relay, _) = gov.deploy(init_code(&forwarder(echo, false)));
    gov.pass(IGovernance::proposeFreezeCall { target: target(echo) }.abi_encode());
    let out = gov.call_contract(relay, vec![2; 32]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success, "the relay ignores the failure");
    assert!(out.receipts[0].events.is_empty(), "the frozen echo logged nothing");
    let slot = consortia_execution::slot_key(&echo, &[0; 32]);
    let stored = consortia_storage::StateReader::get(&gov.chain.store, &slot).unwrap();
    assert_eq!(stored, Some(vec![1; 32]), "nor stored anything");
}

#[test]
fn revoking_is_final() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(1);
    let (reader, _) = gov.deploy(init_code(&reader_runtime()));
    gov.pass(IGovernance::proposeRevokeCall { target: target(echo) }.abi_encode());
    let out = gov.call_contract(echo, vec![2; 32]);
    assert!(failure(&out.receipts[0].status).starts_with("contract revoked: "));
    let reason =
        gov.reverts(0, IGovernance::proposeUnfreezeCall { target: target(echo) }.abi_encode());
    assert!(reason.contains("revoking is final"), "{reason}");
    let reason = gov.reverts(
        0,
        IGovernance::proposeUpgradeCall { target: target(echo), implementation: target(reader) }
            .abi_encode(),
    );
    assert!(reason.contains("a revoked contract cannot be upgraded"), "{reason}");
}

#[test]
fn freezing_an_address_without_code_is_refused() {
    let mut gov = Gov::new();
    let reason = gov.reverts(
        0,
        IGovernance::proposeFreezeCall { target: target(Address([9; 20])) }.abi_encode(),
    );
    assert!(reason.contains("holds no contract"), "{reason}");
}

fn set_parameter(name: &str, value: u64) -> Vec<u8> {
    IGovernance::proposeSetParameterCall { name: name.into(), value }.abi_encode()
}

#[test]
fn the_deploy_policy_changes_by_vote() {
    let mut gov = Gov::new();
    gov.pass(set_parameter("deploy_policy", 1));
    let (_, status) = gov.deploy(init_code(&echo_runtime()));
    assert!(failure(&status).contains("is not approved"));
    let params = gov.chain.exec.params(&gov.chain.store).unwrap();
    assert_eq!(params.deploy_policy, DeployPolicy::Approved);
}

#[test]
fn the_block_gas_limit_changes_by_vote() {
    let mut gov = Gov::new();
    gov.pass(set_parameter("block_gas_limit", 1_000_000));
    let call =
        EvmCall { to: Some(Address([9; 20])), value: 0, input: vec![], gas_limit: 1_000_001 };
    let txs = vec![consortia_test_utils::tx::native(&gov.admins[4], 5, 0, Payload::Evm(call))];
    let err = gov.chain.exec.execute_block(&gov.chain.store, ctx(gov.chain.height + 1), &txs);
    assert!(
        matches!(err, Err(consortia_execution::ExecutionError::BlockFull { index: 0 })),
        "a transaction whose gas limit passes the new block gas limit does not fit: {err:?}"
    );
}

#[test]
fn timing_and_size_parameters_change_by_vote() {
    let mut gov = Gov::new();
    gov.pass(set_parameter("block_interval_ms", 250));
    gov.pass(set_parameter("timeout_propose_ms", 3_000));
    gov.pass(set_parameter("max_block_txs", 10));
    let params = gov.chain.exec.params(&gov.chain.store).unwrap();
    assert_eq!((params.block_interval_ms, params.timeout_propose_ms), (250, 3_000));
    let chain = params.apply_to(&consortia_types::ChainParams::default());
    assert_eq!(chain.max_block_txs, 10, "what the engine and the builder are given");
}

#[test]
fn a_block_size_below_the_largest_transaction_is_refused() {
    let mut gov = Gov::new();
    let reason = gov.reverts(0, set_parameter("max_block_bytes", 1_000));
    assert!(reason.contains("must hold the largest transaction"), "{reason}");
    let reason = gov.reverts(0, set_parameter("timeout_vote_ms", 5));
    assert!(reason.contains("timeout_vote_ms must be 10 to 600000"), "{reason}");
}

#[test]
fn a_parameter_out_of_bounds_or_unknown_is_refused() {
    let mut gov = Gov::new();
    let reason = gov.reverts(0, set_parameter("block_gas_limit", 5));
    assert!(reason.contains("must be at least 1000000"), "{reason}");
    let reason = gov.reverts(0, set_parameter("colour", 5));
    assert!(reason.contains("unknown parameter `colour`"), "{reason}");
    let reason = gov.reverts(0, set_parameter("deploy_policy", 0));
    assert!(reason.contains("deploy_policy is already 0"), "{reason}");
}

#[test]
fn a_dry_run_shows_the_deployment_and_keeps_nothing() {
    let gov = Gov::approving();
    let init = init_code(&echo_runtime());
    let call = EvmCall { to: None, value: 0, input: init, gas_limit: 1_000_000 };
    let from = gov.admins[4].public_key().address();
    let sim = gov.chain.exec.simulate(&gov.chain.store, ctx(1), from, call).unwrap();
    assert!(matches!(sim.outcome, CallOutcome::Success { .. }), "{:?}", sim.outcome);
    let (address, runtime_hash) = sim.created.expect("a created contract");
    assert_eq!(runtime_hash.0, alloy_primitives::keccak256(echo_runtime()).0);
    assert!(sim.deploy_refusal.unwrap().contains("is not approved"));
    assert!(read_account(&gov.chain.store, &address).unwrap().code_hash.is_none());
}

#[test]
fn a_dry_run_of_a_call_shows_its_events() {
    let mut gov = Gov::new();
    let echo = gov.echo_holding(1);
    let call = EvmCall { to: Some(echo), value: 0, input: vec![5; 32], gas_limit: 1_000_000 };
    let sim = gov
        .chain
        .exec
        .simulate(&gov.chain.store, ctx(gov.chain.height + 1), Address::default(), call)
        .unwrap();
    assert_eq!(sim.events.len(), 1);
    assert_eq!(sim.events[0].data, vec![5; 32]);
    assert_eq!(sim.deploy_refusal, None);
}

const OLD_CA: &str = "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n";
const NEW_CA: &str = "-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n";

fn rotate_ca(org: &str, ca_cert: &str, overlap_ms: u64) -> Vec<u8> {
    IGovernance::proposeRotateMemberCaCall {
        org: org.into(),
        caCert: ca_cert.into(),
        overlapMs: overlap_ms,
    }
    .abi_encode()
}

/// A chain whose member org-a has the CA `OLD_CA`.
fn with_org_a_ca() -> Gov {
    Gov::with(|g| g.members[0].ca_cert = OLD_CA.into())
}

fn trusted_cas_of_org_a(gov: &Gov, time_ms: u64) -> Vec<String> {
    let trusted = governance::trusted_cas(&gov.chain.store, time_ms).unwrap();
    trusted.into_iter().filter(|(org, _)| org == "org-a").map(|(_, pem)| pem).collect()
}

#[test]
fn a_rotated_ca_is_trusted_beside_the_new_one_until_the_overlap_ends() {
    let mut gov = with_org_a_ca();
    let out = gov.pass(rotate_ca("org-a", NEW_CA, 5_000));
    let decided_ms = gov.chain.height * 1000;
    let members = governance::members(&gov.chain.store).unwrap();
    assert_eq!(members[0].ca_cert, NEW_CA);
    assert_eq!(trusted_cas_of_org_a(&gov, decided_ms), [NEW_CA, OLD_CA]);
    assert_eq!(trusted_cas_of_org_a(&gov, decided_ms + 5_000), [NEW_CA, OLD_CA]);
    assert_eq!(trusted_cas_of_org_a(&gov, decided_ms + 5_001), [NEW_CA]);
    let rotated = out.receipts[0]
        .events
        .iter()
        .find(|e| e.topics[0].0 == IGovernance::MemberCaRotated::SIGNATURE_HASH.0)
        .expect("a MemberCaRotated event");
    let event = IGovernance::MemberCaRotated::abi_decode_data(&rotated.data).unwrap();
    assert_eq!(event, ("org-a".to_owned(), decided_ms + 5_000));
}

#[test]
fn a_rotation_without_overlap_distrusts_the_old_ca_at_once() {
    let mut gov = with_org_a_ca();
    gov.pass(rotate_ca("org-a", NEW_CA, 0));
    assert_eq!(trusted_cas_of_org_a(&gov, gov.chain.height * 1000), [NEW_CA]);
}

#[test]
fn a_rotation_to_no_ca_or_to_the_same_ca_is_refused() {
    let mut gov = with_org_a_ca();
    let reason = gov.reverts(0, rotate_ca("org-a", "", 1_000));
    assert!(reason.contains("caCert must be one PEM certificate"), "{reason}");
    let reason = gov.reverts(0, rotate_ca("org-a", OLD_CA, 1_000));
    assert!(reason.contains("`org-a` has this CA already"), "{reason}");
    let reason = gov.reverts(0, rotate_ca("org-z", NEW_CA, 1_000));
    assert!(reason.contains("`org-z` is not a member"), "{reason}");
    let too_long = governance::MAX_CA_OVERLAP_MS + 1;
    let reason = gov.reverts(0, rotate_ca("org-a", NEW_CA, too_long));
    assert!(reason.contains("an overlap takes at most 90 days"), "{reason}");
    assert_eq!(governance::proposal_count(&gov.chain.store).unwrap(), 0);
}

#[test]
fn a_rotation_takes_effect_when_a_majority_approved_it() {
    let mut gov = with_org_a_ca();
    let out = gov.succeeds(0, rotate_ca("org-a", NEW_CA, 1_000));
    let id = IGovernance::proposeRotateMemberCaCall::abi_decode_returns(&out.receipts[0].output)
        .unwrap();
    gov.succeeds(1, vote(id, true));
    assert_eq!(gov.proposal(id).status, Status::Open, "2 of 4 is not more than half");
    assert_eq!(trusted_cas_of_org_a(&gov, gov.chain.height * 1000), [OLD_CA]);
    gov.succeeds(2, vote(id, true));
    assert_eq!(gov.proposal(id).status, Status::Executed);
    assert_eq!(trusted_cas_of_org_a(&gov, gov.chain.height * 1000), [NEW_CA, OLD_CA]);
}

fn create_orders() -> Vec<u8> {
    ledger::ILedger::createTableCall { schema: encode(&orders()).into() }.abi_encode()
}

#[test]
fn an_unapproved_table_is_refused_where_deploying_needs_approval() {
    let mut gov = Gov::approving();
    let out = gov.call_contract(ledger::ADDRESS, create_orders());
    let reason = failure(&out.receipts[0].status);
    assert!(reason.contains("deploy policy: table `orders` (schema 0x"), "{reason}");
    assert!(reason.contains("proposeApproveCode"), "{reason}");
    assert!(ledger::get_table(&gov.chain.store, "orders").unwrap().is_none());
}

#[test]
fn an_approved_schema_creates_its_table() {
    let mut gov = Gov::approving();
    gov.pass(approve_code(&encode(&orders())));
    let out = gov.call_contract(ledger::ADDRESS, create_orders());
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert!(ledger::get_table(&gov.chain.store, "orders").unwrap().is_some());
}

#[test]
fn approving_one_schema_leaves_another_refused() {
    let mut gov = Gov::approving();
    let mut other = orders();
    other.name = "refunds".into();
    gov.pass(approve_code(&encode(&other)));
    let out = gov.call_contract(ledger::ADDRESS, create_orders());
    assert!(failure(&out.receipts[0].status).contains("is not approved"));
}
