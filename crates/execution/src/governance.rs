//! The governance system contract: the member organizations decide together, on chain, who
//! takes part (members, nodes and their voting power) and which policy decides each kind of
//! proposal. The ABI and the rules users read are in `contracts/system/IGovernance.sol`
//! ([`IGovernance`]); `docs/system-contracts.md` has the walkthrough.
//!
//! State (authenticated, so provable at any height):
//! - `gov/members` → the [`Member`]s, sorted by id;
//! - `gov/nodes` → the [`Node`]s, in order; the validators among them, in that order, are the
//!   consensus set ([`validators`]) that signs from two blocks after the block that wrote it;
//! - `gov/proposals` → how many proposals were made; `gov/proposal/<id>` → each [`Proposal`];
//! - `gov/policy/<kind>` → the [`Policy`] of a kind (absent: more than half of the members);
//! - `gov/params` → the chain's [`Params`] (deploy policy, block gas limit, voting period);
//! - `gov/code/<init code hash>` → a [`CodeApproval`]; `gov/contract/<address>` → a
//!   [`ContractRecord`] (status, upgrades) of a contract governance acted on; `gov/blocked` →
//!   the frozen and revoked contracts, which every call frame is checked against ([`Rules`]).
//!
//! One door: EVM calls to [`ADDRESS`], from a native envelope or an Ethereum transaction alike.
//! Writes are [`JournaledWrites`], so a governance call inside a reverting frame has no effect.
//! Expiry is decided when a proposal is read or voted on (no per-block sweep).

use alloy_sol_types::{SolCall, SolEvent};
use borsh::{BorshDeserialize, BorshSerialize};
use std::sync::Arc;

use consortia_crypto::{Address, Hash, PublicKey, Scheme};
use consortia_storage::{StateHistory, StateReader};
use consortia_types::{ChainParams, ConsensusKind, DeployPolicy, Genesis, Validator, encode};
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::{CallInputs, Gas, InterpreterResult};
use revm::primitives::{B256, KECCAK_EMPTY, Log};

use crate::evm::{from_revm, to_revm};
use crate::system::{
    JournaledWrites, StateSource, done, open_call, out_of_gas, revert, unknown_selector,
};
use crate::{ExecutionError, decode_state};

alloy_sol_types::sol!("../../contracts/system/IGovernance.sol");

/// The contract's reserved address; its events carry it.
pub const ADDRESS: Address = consortia_types::GOVERNANCE_ADDRESS;

/// State key of the member list.
pub const MEMBERS_KEY: &[u8] = b"gov/members";
/// State key of the node list (and so of the validator set).
pub const NODES_KEY: &[u8] = b"gov/nodes";
const COUNT_KEY: &[u8] = b"gov/proposals";
/// State key of the chain's [`Params`].
pub const PARAMS_KEY: &[u8] = b"gov/params";
/// State key of the frozen and revoked contracts.
pub const BLOCKED_KEY: &[u8] = b"gov/blocked";
/// State key of the [`RetiringCa`]s: members' replaced CAs still trusted for a while.
pub const RETIRING_CAS_KEY: &[u8] = b"gov/retiring-cas";

/// Gas of a call that writes: a fixed cost plus a cost per byte stored.
const WRITE_GAS: u64 = 50_000;
const WRITE_GAS_PER_BYTE: u64 = 16;
/// Gas of a read: a cold storage read plus a copy cost per word returned.
const READ_GAS: u64 = 2_100;
const READ_GAS_PER_WORD: u64 = 3;

/// Limits that keep one proposal's state small.
const MAX_ID_BYTES: usize = 64;
const MAX_ADMINS: usize = 16;
const MAX_CA_CERT_BYTES: usize = 16 * 1024;
/// Longest overlap a CA rotation may keep the replaced CA trusted for (90 days).
pub const MAX_CA_OVERLAP_MS: u64 = 90 * 24 * 3600 * 1000;
/// Most replaced CAs one member may have in overlap at once.
const MAX_RETIRING_PER_MEMBER: usize = 2;
/// Bounds of the parameters governance may set.
const MIN_BLOCK_GAS_LIMIT: u64 = 1_000_000;
const MIN_VOTING_MS: u64 = 1_000;

/// A validator set changed by block h signs from block h + [`ACTIVATION_DELAY`] on.
pub const ACTIVATION_DELAY: u64 = 2;

/// A member organization.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Member {
    pub id: String,
    /// Any one of these casts the organization's vote.
    pub admins: Vec<Address>,
    /// PEM certificate of the organization's CA (may be empty).
    pub ca_cert: String,
}

/// A member's CA that a rotation replaced, still trusted (for its nodes' certificates and its
/// credentials) until block time `until_ms`, so nodes can move to certificates of the new CA
/// without a moment in which their peers refuse them.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RetiringCa {
    pub org: String,
    pub ca_cert: String,
    pub until_ms: u64,
}

impl RetiringCa {
    /// Whether its overlap still runs at block time `time_ms`.
    pub fn trusted_at(&self, time_ms: u64) -> bool {
        self.until_ms >= time_ms
    }
}

/// A node of the chain: a validator (power above 0, with its consensus key) or an observer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Node {
    pub name: String,
    /// The member organization that runs it (empty for a genesis node no member claimed).
    pub org: String,
    pub consensus_key: Option<PublicKey>,
    pub power: u64,
    /// The Ed25519 key of its TLS certificate: peers admit it by this key.
    pub tls_key: Option<PublicKey>,
}

/// The kinds of proposal, each with its own [`Policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Kind {
    AddMember = 0,
    RemoveMember = 1,
    AddNode = 2,
    RemoveNode = 3,
    SetPower = 4,
    SetPolicy = 5,
    ApproveCode = 6,
    Upgrade = 7,
    Freeze = 8,
    Unfreeze = 9,
    Revoke = 10,
    SetParameter = 11,
    RotateCa = 12,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::AddMember,
        Kind::RemoveMember,
        Kind::AddNode,
        Kind::RemoveNode,
        Kind::SetPower,
        Kind::SetPolicy,
        Kind::ApproveCode,
        Kind::Upgrade,
        Kind::Freeze,
        Kind::Unfreeze,
        Kind::Revoke,
        Kind::SetParameter,
        Kind::RotateCa,
    ];

    fn from_u8(n: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == n)
    }

    /// The kind's name in the APIs and the CLI (`add_member`, …).
    pub fn name(self) -> &'static str {
        consortia_types::GOVERNANCE_KINDS[self as usize]
    }

    /// The kind named `name` (`-` and `_` alike).
    pub fn from_name(name: &str) -> Option<Kind> {
        let name = name.replace('-', "_");
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How many member organizations must approve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Rule {
    /// More than half of the members (the default).
    Majority = 0,
    /// At least two thirds of the members.
    TwoThirds = 1,
    /// Every member.
    Unanimous = 2,
    /// `n` members (all of them if there are fewer).
    NOfM = 3,
    /// The `leader` member alone (more than half, if the leader is no longer a member).
    LeaderOnly = 4,
}

impl Rule {
    const ALL: [Rule; 5] =
        [Rule::Majority, Rule::TwoThirds, Rule::Unanimous, Rule::NOfM, Rule::LeaderOnly];

    fn from_u8(n: u8) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| *r as u8 == n)
    }

    /// The rule's name in the APIs and the CLI.
    pub fn name(self) -> &'static str {
        consortia_types::GOVERNANCE_RULES[self as usize]
    }

    /// The rule named `name` (`-` and `_` alike).
    pub fn from_name(name: &str) -> Option<Rule> {
        let name = name.replace('-', "_");
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What decides the proposals of one kind.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Policy {
    pub rule: Rule,
    /// For [`Rule::NOfM`].
    pub n: u32,
    /// For [`Rule::LeaderOnly`].
    pub leader: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { rule: Rule::Majority, n: 0, leader: String::new() }
    }
}

impl Policy {
    /// Approvals needed of `members` members.
    pub fn needed(&self, members: usize) -> usize {
        match self.rule {
            Rule::Majority | Rule::LeaderOnly => members / 2 + 1,
            Rule::TwoThirds => (2 * members).div_ceil(3),
            Rule::Unanimous => members,
            Rule::NOfM => (self.n as usize).min(members),
        }
    }

    fn describe(&self) -> String {
        match self.rule {
            Rule::Majority => "more than half of the members".into(),
            Rule::TwoThirds => "two thirds of the members".into(),
            Rule::Unanimous => "every member".into(),
            Rule::NOfM => format!("{} members", self.n),
            Rule::LeaderOnly => format!("the leader `{}` alone", self.leader),
        }
    }
}

/// A chain parameter governance sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Param {
    /// 0 open, 1 approved.
    DeployPolicy = 0,
    BlockGasLimit = 1,
    VotingMs = 2,
    MaxBlockTxs = 3,
    MaxBlockBytes = 4,
    BlockIntervalMs = 5,
    EmptyBlockIntervalMs = 6,
    TimeoutProposeMs = 7,
    TimeoutVoteMs = 8,
    TimeoutDeltaMs = 9,
}

impl Param {
    pub const ALL: [Param; 10] = [
        Param::DeployPolicy,
        Param::BlockGasLimit,
        Param::VotingMs,
        Param::MaxBlockTxs,
        Param::MaxBlockBytes,
        Param::BlockIntervalMs,
        Param::EmptyBlockIntervalMs,
        Param::TimeoutProposeMs,
        Param::TimeoutVoteMs,
        Param::TimeoutDeltaMs,
    ];

    /// The parameter's name in the ABI, the APIs and the CLI (as in genesis files' `params`).
    pub fn name(self) -> &'static str {
        match self {
            Param::DeployPolicy => "deploy_policy",
            Param::BlockGasLimit => "block_gas_limit",
            Param::VotingMs => "governance_voting_ms",
            Param::MaxBlockTxs => "max_block_txs",
            Param::MaxBlockBytes => "max_block_bytes",
            Param::BlockIntervalMs => "block_interval_ms",
            Param::EmptyBlockIntervalMs => "empty_block_interval_ms",
            Param::TimeoutProposeMs => "timeout_propose_ms",
            Param::TimeoutVoteMs => "timeout_vote_ms",
            Param::TimeoutDeltaMs => "timeout_delta_ms",
        }
    }

    /// The parameter named `name` (`-` and `_` alike).
    pub fn from_name(name: &str) -> Option<Param> {
        let name = name.replace('-', "_");
        Param::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The values it may take (`max_block_bytes` must also hold the largest transaction).
    fn bounds(self) -> (u64, u64) {
        const MINUTE: u64 = 60_000;
        match self {
            Param::DeployPolicy => (0, 1),
            Param::BlockGasLimit => (MIN_BLOCK_GAS_LIMIT, u64::MAX),
            Param::VotingMs => (MIN_VOTING_MS, u64::MAX),
            Param::MaxBlockTxs => (1, 100_000),
            Param::MaxBlockBytes => (1, 1 << 30),
            Param::BlockIntervalMs => (1, MINUTE),
            Param::EmptyBlockIntervalMs => (0, 24 * 60 * MINUTE),
            Param::TimeoutProposeMs | Param::TimeoutVoteMs => (10, 10 * MINUTE),
            Param::TimeoutDeltaMs => (0, 10 * MINUTE),
        }
    }
}

/// The chain parameters governance keeps (seeded from genesis). Those of blocks (size, gas)
/// bind a block by its parent's state; those of timing (interval, timeouts) each node applies
/// once it decided the block that changed them.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    pub deploy_policy: DeployPolicy,
    pub block_gas_limit: u64,
    pub voting_ms: u64,
    pub max_block_txs: u64,
    pub max_block_bytes: u64,
    pub block_interval_ms: u64,
    pub empty_block_interval_ms: u64,
    pub timeout_propose_ms: u64,
    pub timeout_vote_ms: u64,
    pub timeout_delta_ms: u64,
    /// Fixed at genesis (not governed): `max_block_bytes` must hold one such transaction.
    pub max_tx_bytes: u64,
}

impl Params {
    pub fn from_genesis(p: &ChainParams) -> Params {
        Params {
            deploy_policy: p.deploy_policy,
            block_gas_limit: p.block_gas_limit,
            voting_ms: p.governance_voting_ms,
            max_block_txs: u64::from(p.max_block_txs),
            max_block_bytes: p.max_block_bytes,
            block_interval_ms: p.block_interval_ms,
            empty_block_interval_ms: p.empty_block_interval_ms,
            timeout_propose_ms: p.timeout_propose_ms,
            timeout_vote_ms: p.timeout_vote_ms,
            timeout_delta_ms: p.timeout_delta_ms,
            max_tx_bytes: u64::from(p.max_tx_bytes),
        }
    }

    /// `chain` with the governed values of these parameters.
    pub fn apply_to(&self, chain: &ChainParams) -> ChainParams {
        ChainParams {
            deploy_policy: self.deploy_policy,
            block_gas_limit: self.block_gas_limit,
            governance_voting_ms: self.voting_ms,
            max_block_txs: u32::try_from(self.max_block_txs).unwrap_or(u32::MAX),
            max_block_bytes: self.max_block_bytes,
            block_interval_ms: self.block_interval_ms,
            empty_block_interval_ms: self.empty_block_interval_ms,
            timeout_propose_ms: self.timeout_propose_ms,
            timeout_vote_ms: self.timeout_vote_ms,
            timeout_delta_ms: self.timeout_delta_ms,
            ..chain.clone()
        }
    }

    fn slot(&mut self, param: Param) -> Option<&mut u64> {
        Some(match param {
            Param::DeployPolicy => return None,
            Param::BlockGasLimit => &mut self.block_gas_limit,
            Param::VotingMs => &mut self.voting_ms,
            Param::MaxBlockTxs => &mut self.max_block_txs,
            Param::MaxBlockBytes => &mut self.max_block_bytes,
            Param::BlockIntervalMs => &mut self.block_interval_ms,
            Param::EmptyBlockIntervalMs => &mut self.empty_block_interval_ms,
            Param::TimeoutProposeMs => &mut self.timeout_propose_ms,
            Param::TimeoutVoteMs => &mut self.timeout_vote_ms,
            Param::TimeoutDeltaMs => &mut self.timeout_delta_ms,
        })
    }

    pub fn get(&self, param: Param) -> u64 {
        match param {
            Param::DeployPolicy => self.deploy_policy as u64,
            Param::BlockGasLimit => self.block_gas_limit,
            Param::VotingMs => self.voting_ms,
            Param::MaxBlockTxs => self.max_block_txs,
            Param::MaxBlockBytes => self.max_block_bytes,
            Param::BlockIntervalMs => self.block_interval_ms,
            Param::EmptyBlockIntervalMs => self.empty_block_interval_ms,
            Param::TimeoutProposeMs => self.timeout_propose_ms,
            Param::TimeoutVoteMs => self.timeout_vote_ms,
            Param::TimeoutDeltaMs => self.timeout_delta_ms,
        }
    }

    /// Sets `param` to `value` if it is within the parameter's bounds.
    fn set(&mut self, param: Param, value: u64) -> Result<(), String> {
        if self.get(param) == value {
            return Err(format!("{} is already {value}", param.name()));
        }
        let (low, high) = param.bounds();
        if value < low || value > high {
            return Err(match param {
                Param::DeployPolicy => "deploy_policy is 0 (open) or 1 (approved)".into(),
                _ if high == u64::MAX => format!("{} must be at least {low}", param.name()),
                _ => format!("{} must be {low} to {high}", param.name()),
            });
        }
        if param == Param::MaxBlockBytes && value < self.max_tx_bytes {
            return Err(format!(
                "max_block_bytes must hold the largest transaction ({} bytes)",
                self.max_tx_bytes
            ));
        }
        match self.slot(param) {
            Some(slot) => *slot = value,
            None => {
                self.deploy_policy =
                    if value == 0 { DeployPolicy::Open } else { DeployPolicy::Approved }
            }
        }
        Ok(())
    }
}

/// Whether a contract's calls run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum ContractStatus {
    #[default]
    Active = 0,
    /// Calls revert until unfrozen.
    Frozen = 1,
    /// Calls revert for good.
    Revoked = 2,
}

impl ContractStatus {
    pub fn name(self) -> &'static str {
        match self {
            ContractStatus::Active => "active",
            ContractStatus::Frozen => "frozen",
            ContractStatus::Revoked => "revoked",
        }
    }
}

/// One upgrade of a contract.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Version {
    /// The code it runs from then on.
    pub code_hash: Hash,
    pub height: u64,
    pub proposal: u64,
}

/// What governance did to a contract (the default for one it never acted on).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ContractRecord {
    pub status: ContractStatus,
    pub upgrades: Vec<Version>,
}

/// An approval of init code for deployment.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CodeApproval {
    pub label: String,
    pub proposal: u64,
    pub height: u64,
}

/// What a proposal changes when executed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    AddMember(Member),
    RemoveMember {
        org: String,
    },
    AddNode(Node),
    RemoveNode {
        name: String,
    },
    SetPower {
        name: String,
        power: u64,
    },
    SetPolicy {
        kind: Kind,
        policy: Policy,
    },
    /// Init code whose keccak-256 hash is `code_hash` may be deployed.
    ApproveCode {
        code_hash: Hash,
        label: String,
    },
    /// `contract` runs `code_hash`, the code `implementation` ran when proposed.
    Upgrade {
        contract: Address,
        implementation: Address,
        code_hash: Hash,
    },
    Freeze {
        contract: Address,
    },
    Unfreeze {
        contract: Address,
    },
    Revoke {
        contract: Address,
    },
    SetParameter {
        param: Param,
        value: u64,
    },
    /// `org`'s CA becomes `ca_cert`; the one it replaces stays trusted for `overlap_ms` of
    /// block time (0: distrusted at once, for a compromised CA).
    RotateCa {
        org: String,
        ca_cert: String,
        overlap_ms: u64,
    },
}

impl Action {
    pub fn kind(&self) -> Kind {
        match self {
            Action::AddMember(_) => Kind::AddMember,
            Action::RemoveMember { .. } => Kind::RemoveMember,
            Action::AddNode(_) => Kind::AddNode,
            Action::RemoveNode { .. } => Kind::RemoveNode,
            Action::SetPower { .. } => Kind::SetPower,
            Action::SetPolicy { .. } => Kind::SetPolicy,
            Action::ApproveCode { .. } => Kind::ApproveCode,
            Action::Upgrade { .. } => Kind::Upgrade,
            Action::Freeze { .. } => Kind::Freeze,
            Action::Unfreeze { .. } => Kind::Unfreeze,
            Action::Revoke { .. } => Kind::Revoke,
            Action::SetParameter { .. } => Kind::SetParameter,
            Action::RotateCa { .. } => Kind::RotateCa,
        }
    }

    /// One line for people: what the proposal would change.
    pub fn summary(&self) -> String {
        match self {
            Action::AddMember(m) => format!("add member `{}` ({} admins)", m.id, m.admins.len()),
            Action::RemoveMember { org } => format!("remove member `{org}`"),
            Action::AddNode(n) if n.power > 0 => {
                format!("add validator `{}` of `{}` with power {}", n.name, n.org, n.power)
            }
            Action::AddNode(n) => format!("add observer `{}` of `{}`", n.name, n.org),
            Action::RemoveNode { name } => format!("remove node `{name}`"),
            Action::SetPower { name, power } => format!("set the power of `{name}` to {power}"),
            Action::SetPolicy { kind, policy } => {
                format!("decide {} proposals by {}", kind.name(), policy.describe())
            }
            Action::ApproveCode { code_hash, label } if label.is_empty() => {
                format!("approve deploying code {code_hash}")
            }
            Action::ApproveCode { code_hash, label } => {
                format!("approve deploying `{label}` (code {code_hash})")
            }
            Action::Upgrade { contract, implementation, .. } => format!(
                "upgrade {} to the code of {}",
                contract.to_checksum_hex(),
                implementation.to_checksum_hex()
            ),
            Action::Freeze { contract } => format!("freeze {}", contract.to_checksum_hex()),
            Action::Unfreeze { contract } => format!("unfreeze {}", contract.to_checksum_hex()),
            Action::Revoke { contract } => {
                format!("revoke {} for good", contract.to_checksum_hex())
            }
            Action::SetParameter { param, value } => format!("set {} to {value}", param.name()),
            Action::RotateCa { org, overlap_ms, .. } if *overlap_ms == 0 => {
                format!("replace the CA of `{org}`, distrusting the old one at once")
            }
            Action::RotateCa { org, overlap_ms, .. } => format!(
                "replace the CA of `{org}`, trusting the old one for {} more",
                describe_ms(*overlap_ms)
            ),
        }
    }
}

/// A proposal's state. Expiry is not stored: an open proposal past its deadline is expired
/// ([`Proposal::status_at`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Status {
    Open = 0,
    Executed = 1,
    Rejected = 2,
    Cancelled = 3,
    Expired = 4,
    /// Approved, but no longer applicable when decided (the reason is in the proposal).
    Failed = 5,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Executed => "executed",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Failed => "failed",
        }
    }
}

/// One organization's vote.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Ballot {
    pub org: String,
    /// The admin account that cast it.
    pub voter: Address,
    pub approve: bool,
    pub height: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub id: u64,
    pub action: Action,
    /// The proposing organization and admin account (its proposal is its approval).
    pub org: String,
    pub proposer: Address,
    pub created_height: u64,
    pub created_ms: u64,
    /// Block time after which an open proposal is expired.
    pub deadline_ms: u64,
    pub ballots: Vec<Ballot>,
    pub status: Status,
    /// The block that decided it (executed, rejected, cancelled or failed); 0 while open.
    pub decided_height: u64,
    /// Why an approved proposal failed.
    pub failure: String,
}

impl Proposal {
    /// The status at block time `time_ms`.
    pub fn status_at(&self, time_ms: u64) -> Status {
        match self.status {
            Status::Open if time_ms > self.deadline_ms => Status::Expired,
            ref s => s.clone(),
        }
    }
}

fn proposal_key(id: u64) -> Vec<u8> {
    format!("gov/proposal/{id}").into_bytes()
}

fn policy_key(kind: Kind) -> Vec<u8> {
    format!("gov/policy/{}", kind as u8).into_bytes()
}

pub(crate) fn approval_key(code_hash: &Hash) -> Vec<u8> {
    format!("gov/code/{}", code_hash.to_hex()).into_bytes()
}

fn contract_key(contract: &Address) -> Vec<u8> {
    format!("gov/contract/{}", alloy_primitives::hex::encode(contract.0)).into_bytes()
}

fn decode_or<T: BorshDeserialize + Default>(
    what: &str,
    bytes: Option<Vec<u8>>,
) -> Result<T, ExecutionError> {
    bytes.map_or(Ok(T::default()), |b| decode_state(what, &b))
}

/// The members, sorted by id.
pub fn members<S: StateReader + ?Sized>(state: &S) -> Result<Vec<Member>, ExecutionError> {
    decode_or("gov/members", state.get(MEMBERS_KEY)?)
}

/// The replaced CAs of members, whether or not their overlap has ended.
pub fn retiring_cas<S: StateReader + ?Sized>(state: &S) -> Result<Vec<RetiringCa>, ExecutionError> {
    decode_or("gov/retiring-cas", state.get(RETIRING_CAS_KEY)?)
}

/// The CAs the chain trusts at block time `time_ms`, as `(member id, PEM)`: every member's
/// current CA and the CAs rotations replaced whose overlap has not ended. Nodes judge peers'
/// certificates and clients' credentials by these.
pub fn trusted_cas<S: StateReader + ?Sized>(
    state: &S,
    time_ms: u64,
) -> Result<Vec<(String, String)>, ExecutionError> {
    let members = members(state)?;
    let retiring: Vec<(String, String)> = retiring_cas(state)?
        .into_iter()
        .filter(|r| r.trusted_at(time_ms) && members.iter().any(|m| m.id == r.org))
        .map(|r| (r.org, r.ca_cert))
        .collect();
    Ok(members
        .into_iter()
        .filter(|m| !m.ca_cert.is_empty())
        .map(|m| (m.id, m.ca_cert))
        .chain(retiring)
        .collect())
}

/// The nodes, in order.
pub fn nodes<S: StateReader + ?Sized>(state: &S) -> Result<Vec<Node>, ExecutionError> {
    decode_or("gov/nodes", state.get(NODES_KEY)?)
}

/// The validators of a node list, in order: the nodes with power and a consensus key.
pub fn validators_of(nodes: &[Node]) -> Vec<Validator> {
    nodes
        .iter()
        .filter(|n| n.power > 0)
        .filter_map(|n| {
            let key = n.consensus_key.clone()?;
            Some(Validator { name: n.name.clone(), public_key: key, power: n.power })
        })
        .collect()
}

/// The validator set this state names: it signs from [`ACTIVATION_DELAY`] blocks after the
/// state's block.
pub fn validators<S: StateReader + ?Sized>(state: &S) -> Result<Vec<Validator>, ExecutionError> {
    Ok(validators_of(&nodes(state)?))
}

/// The validator set that signs block `height`: the one the state of block `height - 2`
/// names (the genesis state's for blocks 1 and 2). Known up to two heights past the latest
/// block; a later height is [`consortia_storage::StorageError::FutureHeight`].
pub fn validators_at<H: StateHistory + ?Sized>(
    history: &H,
    height: u64,
) -> Result<Vec<Validator>, ExecutionError> {
    validators(&*history.state_at(height.saturating_sub(ACTIVATION_DELAY))?)
}

/// The proposal with this id.
pub fn proposal<S: StateReader + ?Sized>(
    state: &S,
    id: u64,
) -> Result<Option<Proposal>, ExecutionError> {
    state.get(&proposal_key(id))?.map(|b| decode_state("gov/proposal", &b)).transpose()
}

/// The proposals that `events` (a block's, in order) made, voted on or decided: the `id`
/// topic of the governance contract's proposal events, each once, in order of first mention.
pub fn proposals_in<'a>(events: impl IntoIterator<Item = &'a consortia_types::Event>) -> Vec<u64> {
    use IGovernance as G;
    let about_a_proposal = [
        G::ProposalCreated::SIGNATURE_HASH,
        G::Voted::SIGNATURE_HASH,
        G::ProposalExecuted::SIGNATURE_HASH,
        G::ProposalRejected::SIGNATURE_HASH,
        G::ProposalCancelled::SIGNATURE_HASH,
        G::ProposalFailed::SIGNATURE_HASH,
    ];
    let mut ids = Vec::new();
    for event in events {
        if event.contract != ADDRESS {
            continue;
        }
        let [kind, id, ..] = event.topics.as_slice() else { continue };
        if !about_a_proposal.iter().any(|s| s.0 == kind.0) {
            continue;
        }
        // A `uint64 indexed` topic: the number in the last 8 of its 32 bytes.
        let id = u64::from_be_bytes(id.0[24..].try_into().unwrap_or_default());
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// How many proposals were made (ids run from 1).
pub fn proposal_count<S: StateReader + ?Sized>(state: &S) -> Result<u64, ExecutionError> {
    decode_or("gov/proposals", state.get(COUNT_KEY)?)
}

/// The policy deciding proposals of `kind`.
pub fn policy<S: StateReader + ?Sized>(state: &S, kind: Kind) -> Result<Policy, ExecutionError> {
    decode_or("gov/policy", state.get(&policy_key(kind))?)
}

/// The chain's parameters (`genesis` until governance wrote them).
pub fn params<S: StateReader + ?Sized>(
    state: &S,
    genesis: &Params,
) -> Result<Params, ExecutionError> {
    decode_params(state.get(PARAMS_KEY)?, genesis)
}

fn decode_params(bytes: Option<Vec<u8>>, genesis: &Params) -> Result<Params, ExecutionError> {
    match bytes {
        Some(bytes) => decode_state("gov/params", &bytes),
        None => Ok(genesis.clone()),
    }
}

/// The approval of init code with hash `code_hash`, if any.
pub fn code_approval<S: StateReader + ?Sized>(
    state: &S,
    code_hash: &Hash,
) -> Result<Option<CodeApproval>, ExecutionError> {
    state.get(&approval_key(code_hash))?.map(|b| decode_state("gov/code", &b)).transpose()
}

/// What governance did to `contract` (status and upgrades).
pub fn contract_record<S: StateReader + ?Sized>(
    state: &S,
    contract: &Address,
) -> Result<ContractRecord, ExecutionError> {
    decode_or("gov/contract", state.get(&contract_key(contract))?)
}

/// A state read as the executor makes it (through the block's overlay).
pub(crate) type Get<'a> = dyn FnMut(&[u8]) -> Result<Option<Vec<u8>>, ExecutionError> + 'a;

/// What governance decided that every transaction obeys: the parameters and the frozen and
/// revoked contracts. Read once per block, and again after a transaction that changed them,
/// so a change applies from the next transaction on.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    pub(crate) params: Params,
    blocked: Arc<Vec<(Address, ContractStatus)>>,
}

impl Rules {
    pub(crate) fn load(get: &mut Get<'_>, genesis: &Params) -> Result<Rules, ExecutionError> {
        let params = decode_params(get(PARAMS_KEY)?, genesis)?;
        let blocked = Arc::new(decode_or("gov/blocked", get(BLOCKED_KEY)?)?);
        Ok(Rules { params, blocked })
    }

    /// Whether writing `key` changes the rules.
    pub(crate) fn changed_by(key: &[u8]) -> bool {
        key == PARAMS_KEY || key == BLOCKED_KEY
    }

    /// The contracts calls must not reach.
    pub(crate) fn blocked(&self) -> Arc<Vec<(Address, ContractStatus)>> {
        self.blocked.clone()
    }

    /// Why deploying `init_code` is refused, if it is.
    pub(crate) fn deploy_refusal(
        &self,
        get: &mut Get<'_>,
        init_code: &[u8],
    ) -> Result<Option<String>, ExecutionError> {
        if self.params.deploy_policy == DeployPolicy::Open {
            return Ok(None);
        }
        let hash = init_code_hash(init_code);
        Ok(get(&approval_key(&hash))?.is_none().then(|| {
            format!(
                "deploy policy: code {hash} is not approved on this chain; propose approving it (IGovernance.proposeApproveCode) and deploy once the members agree"
            )
        }))
    }
}

/// The hash an approval names: keccak-256 of the init code (a deployment's data).
pub fn init_code_hash(init_code: &[u8]) -> Hash {
    Hash(alloy_primitives::keccak256(init_code).0)
}

/// Why a call frame running `target`'s storage with `code`'s code may not run, if it may not.
pub(crate) fn call_refusal(
    blocked: &[(Address, ContractStatus)],
    target: Address,
    code: Address,
) -> Option<String> {
    let status =
        |a: &Address| blocked.binary_search_by(|(b, _)| b.cmp(a)).ok().map(|i| (blocked[i].1, *a));
    match status(&target).or_else(|| status(&code))? {
        (ContractStatus::Frozen, a) => Some(format!(
            "contract frozen: {} is frozen by governance; its calls revert until it is unfrozen",
            a.to_checksum_hex()
        )),
        (_, a) => Some(format!(
            "contract revoked: {} was revoked by governance; its calls revert for good",
            a.to_checksum_hex()
        )),
    }
}

/// The governance state of block 0: the genesis members and nodes (validators first, in
/// genesis order, then the other nodes), each node owned by the member that lists it.
pub fn genesis_state(genesis: &Genesis) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut members: Vec<Member> = genesis
        .members
        .iter()
        .map(|m| Member { id: m.id.clone(), admins: m.admins.clone(), ca_cert: m.ca_cert.clone() })
        .collect();
    members.sort_by(|a, b| a.id.cmp(&b.id));
    let owner = |name: &str| {
        genesis
            .members
            .iter()
            .find(|m| m.nodes.iter().any(|n| n == name))
            .map(|m| m.id.clone())
            .unwrap_or_default()
    };
    let tls_key = |name: &str| genesis.nodes.iter().find(|n| n.name == name).map(|n| n.key.clone());
    let mut nodes: Vec<Node> = genesis
        .validators
        .iter()
        .map(|v| Node {
            name: v.name.clone(),
            org: owner(&v.name),
            consensus_key: Some(v.public_key.clone()),
            power: v.power,
            tls_key: tls_key(&v.name),
        })
        .collect();
    for identity in &genesis.nodes {
        if !nodes.iter().any(|n| n.name == identity.name) {
            nodes.push(Node {
                name: identity.name.clone(),
                org: owner(&identity.name),
                consensus_key: None,
                power: 0,
                tls_key: Some(identity.key.clone()),
            });
        }
    }
    vec![
        (MEMBERS_KEY.to_vec(), encode(&members)),
        (NODES_KEY.to_vec(), encode(&nodes)),
        (PARAMS_KEY.to_vec(), encode(&Params::from_genesis(&genesis.params))),
    ]
}

/// What the contract needs to know about its chain.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) consensus: ConsensusKind,
    /// The parameters at genesis (until governance writes `gov/params`).
    pub(crate) genesis: Params,
}

/// The members, nodes and replaced CAs an action is checked against and applied to, at block
/// time `time_ms`.
struct Registry {
    members: Vec<Member>,
    nodes: Vec<Node>,
    retiring: Vec<RetiringCa>,
    time_ms: u64,
}

/// What applying an action changed, beyond the registry.
#[derive(Debug, Default)]
struct Applied {
    validators_changed: bool,
    retiring_changed: bool,
    policy: Option<(Kind, Policy)>,
}

/// Refuses a CA certificate that is not one PEM certificate of bounded size (empty only where
/// `may_be_empty`).
fn check_ca_cert(pem: &str, may_be_empty: bool) -> Result<(), String> {
    let empty_ok = if may_be_empty { "empty or " } else { "" };
    if pem.len() > MAX_CA_CERT_BYTES
        || !((may_be_empty && pem.is_empty()) || pem.starts_with("-----BEGIN CERTIFICATE-----"))
    {
        return Err(format!(
            "caCert must be {empty_ok}one PEM certificate of at most {MAX_CA_CERT_BYTES} bytes"
        ));
    }
    Ok(())
}

/// `ms` for people: in days, hours, minutes or seconds, whichever divides it.
fn describe_ms(ms: u64) -> String {
    let units = [(86_400_000, "day"), (3_600_000, "hour"), (60_000, "minute"), (1_000, "second")];
    match units.iter().find(|(unit, _)| ms.is_multiple_of(*unit)) {
        Some((unit, name)) => {
            let n = ms / unit;
            format!("{n} {name}{}", if n == 1 { "" } else { "s" })
        }
        None => format!("{ms} ms"),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_ID_BYTES || name.chars().any(char::is_control) {
        return Err(format!("{what} takes 1 to {MAX_ID_BYTES} bytes without control characters"));
    }
    Ok(())
}

impl Registry {
    fn member(&self, org: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == org)
    }

    fn node_index(&self, name: &str) -> Result<usize, String> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| format!("no node is named `{name}`"))
    }

    /// Checks `action` against the registry and applies it; on `Err` the registry may be
    /// half-changed and must be dropped.
    fn apply(&mut self, action: &Action, settings: &Settings) -> Result<Applied, String> {
        let before = validators_of(&self.nodes);
        let mut applied = Applied::default();
        match action {
            Action::AddMember(m) => {
                check_name("a member id", &m.id)?;
                if self.member(&m.id).is_some() {
                    return Err(format!("`{}` is already a member", m.id));
                }
                if m.admins.is_empty() || m.admins.len() > MAX_ADMINS {
                    return Err(format!("a member needs 1 to {MAX_ADMINS} admin accounts"));
                }
                check_ca_cert(&m.ca_cert, true)?;
                self.members.push(m.clone());
                self.members.sort_by(|a, b| a.id.cmp(&b.id));
            }
            Action::RemoveMember { org } => {
                if self.member(org).is_none() {
                    return Err(format!("`{org}` is not a member"));
                }
                let owned: Vec<&str> =
                    self.nodes.iter().filter(|n| &n.org == org).map(|n| n.name.as_str()).collect();
                if !owned.is_empty() {
                    return Err(format!(
                        "`{org}` still runs nodes {}: remove them first",
                        owned.join(", ")
                    ));
                }
                if self.members.len() == 1 {
                    return Err("the last member cannot leave".into());
                }
                self.members.retain(|m| &m.id != org);
                let before = self.retiring.len();
                self.retiring.retain(|r| &r.org != org);
                applied.retiring_changed = self.retiring.len() != before;
            }
            Action::RotateCa { org, ca_cert, overlap_ms } => {
                check_ca_cert(ca_cert, false)?;
                if *overlap_ms > MAX_CA_OVERLAP_MS {
                    return Err(format!(
                        "an overlap takes at most {} ({MAX_CA_OVERLAP_MS} ms)",
                        describe_ms(MAX_CA_OVERLAP_MS)
                    ));
                }
                let time_ms = self.time_ms;
                self.retiring.retain(|r| r.trusted_at(time_ms));
                let in_overlap = self.retiring.iter().filter(|r| &r.org == org).count();
                let member = self
                    .members
                    .iter_mut()
                    .find(|m| &m.id == org)
                    .ok_or_else(|| format!("`{org}` is not a member"))?;
                if &member.ca_cert == ca_cert {
                    return Err(format!("`{org}` has this CA already"));
                }
                let keeps_old = !member.ca_cert.is_empty() && *overlap_ms > 0;
                if keeps_old && in_overlap >= MAX_RETIRING_PER_MEMBER {
                    return Err(format!(
                        "`{org}` already has {in_overlap} replaced CAs in overlap; rotate again once one retired, or with no overlap"
                    ));
                }
                let old = std::mem::replace(&mut member.ca_cert, ca_cert.clone());
                if keeps_old {
                    let until_ms = time_ms.saturating_add(*overlap_ms);
                    self.retiring.push(RetiringCa { org: org.clone(), ca_cert: old, until_ms });
                }
                applied.retiring_changed = true;
            }
            Action::AddNode(node) => {
                check_name("a node name", &node.name)?;
                if self.member(&node.org).is_none() {
                    return Err(format!("`{}` is not a member; only members add nodes", node.org));
                }
                if self.nodes.iter().any(|n| n.name == node.name) {
                    return Err(format!("a node named `{}` exists", node.name));
                }
                if node.power > 0 && node.consensus_key.is_none() {
                    return Err("a validator (power above 0) needs its consensus key".into());
                }
                if node.consensus_key.is_some()
                    && self.nodes.iter().any(|n| n.consensus_key == node.consensus_key)
                {
                    return Err("another node has this consensus key".into());
                }
                match &node.tls_key {
                    Some(key) if key.scheme() != Scheme::Ed25519 => {
                        return Err("a TLS key must be an Ed25519 key".into());
                    }
                    Some(_) if self.nodes.iter().any(|n| n.tls_key == node.tls_key) => {
                        return Err("another node has this TLS key".into());
                    }
                    _ => {}
                }
                self.nodes.push(node.clone());
            }
            Action::RemoveNode { name } => {
                let index = self.node_index(name)?;
                self.nodes.remove(index);
            }
            Action::SetPower { name, power } => {
                let index = self.node_index(name)?;
                let node = &mut self.nodes[index];
                if node.power == *power {
                    return Err(format!("`{name}` already has power {power}"));
                }
                if *power > 0 && node.consensus_key.is_none() {
                    return Err(format!("`{name}` has no consensus key; it can only observe"));
                }
                node.power = *power;
            }
            Action::SetPolicy { kind, policy } => {
                match policy.rule {
                    Rule::NOfM if policy.n == 0 => {
                        return Err("an N-of-M policy needs n of at least 1".into());
                    }
                    Rule::LeaderOnly if self.member(&policy.leader).is_none() => {
                        return Err(format!("the leader `{}` is not a member", policy.leader));
                    }
                    _ => {}
                }
                applied.policy = Some((*kind, policy.clone()));
            }
            // Checked against the chain's code and contracts by the call (`Call::check_other`).
            Action::ApproveCode { .. }
            | Action::Upgrade { .. }
            | Action::Freeze { .. }
            | Action::Unfreeze { .. }
            | Action::Revoke { .. }
            | Action::SetParameter { .. } => {}
        }
        let after = validators_of(&self.nodes);
        if after != before {
            check_validator_change(settings.consensus, &before, &after)?;
            applied.validators_changed = true;
        }
        Ok(applied)
    }
}

/// Refuses validator sets a chain cannot safely move to (see `IGovernance.sol`).
fn check_validator_change(
    consensus: ConsensusKind,
    before: &[Validator],
    after: &[Validator],
) -> Result<(), String> {
    if consensus != ConsensusKind::Bft {
        let name = if consensus == ConsensusKind::Raft { "raft" } else { "solo" };
        return Err(format!(
            "this chain runs {name} consensus, whose validators are fixed at genesis (only BFT chains change validators by vote); observers may still be added and removed"
        ));
    }
    if after.len() < 4 {
        return Err(format!(
            "the change would leave {} BFT validators; BFT needs at least 4 (3f+1 tolerate f faulty ones)",
            after.len()
        ));
    }
    let power = |set: &[Validator], key: &PublicKey| {
        set.iter().find(|v| &v.public_key == key).map_or(0, |v| u128::from(v.power))
    };
    let total: u128 = before.iter().map(|v| u128::from(v.power)).sum();
    let moved: u128 = before
        .iter()
        .chain(after)
        .map(|v| &v.public_key)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|key| power(before, key).abs_diff(power(after, key)))
        .sum();
    if moved * 3 >= total {
        return Err(format!(
            "the change moves {moved} of {total} voting power at once; move less than a third per proposal, so that the old and the new validators' quorums overlap"
        ));
    }
    Ok(())
}

/// How a tally came out.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Approved,
    Rejected,
    Pending,
}

fn tally(proposal: &Proposal, members: &[Member], policy: &Policy) -> Decision {
    let is_member = |org: &str| members.iter().any(|m| m.id == org);
    if policy.rule == Rule::LeaderOnly && is_member(&policy.leader) {
        return match proposal.ballots.iter().find(|b| b.org == policy.leader) {
            Some(b) if b.approve => Decision::Approved,
            Some(_) => Decision::Rejected,
            None => Decision::Pending,
        };
    }
    let count = |approve: bool| {
        proposal.ballots.iter().filter(|b| b.approve == approve && is_member(&b.org)).count()
    };
    let needed = policy.needed(members.len()).max(1);
    if count(true) >= needed {
        Decision::Approved
    } else if count(false) > members.len().saturating_sub(needed) {
        Decision::Rejected
    } else {
        Decision::Pending
    }
}

/// The governance contract as an EVM precompile, for one transaction.
#[derive(Debug)]
pub(crate) struct Precompile {
    height: u64,
    time_ms: u64,
    settings: Settings,
    writes: JournaledWrites,
}

/// An answer that is not the caller's mistake fails the transaction's execution.
type Answer = Result<InterpreterResult, ExecutionError>;

fn unknown_param(name: &str) -> String {
    let names: Vec<&str> = Param::ALL.iter().map(|p| p.name()).collect();
    format!("unknown parameter `{name}`; the parameters are {}", names.join(", "))
}

fn parse_key(what: &str, text: &str) -> Result<Option<PublicKey>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    PublicKey::from_base64(text).map(Some).map_err(|e| format!("{what}: {e}"))
}

impl Precompile {
    pub(crate) fn new(height: u64, time_ms: u64, settings: Settings) -> Self {
        Precompile { height, time_ms, settings, writes: JournaledWrites::new(ADDRESS) }
    }

    /// Runs a call to [`ADDRESS`]. `Err` is a storage failure, never the caller's mistake:
    /// those revert with an `Error(string)` reason.
    pub(crate) fn run<CTX>(&mut self, context: &mut CTX, inputs: &CallInputs) -> Answer
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let gas = Gas::new(inputs.gas_limit);
        let (selector, input) = match open_call(context, inputs, ADDRESS, "governance") {
            Ok(call) => call,
            Err(refused) => return Ok(refused),
        };
        let caller = from_revm(inputs.caller);
        let malformed =
            |name: &str| Ok(revert(gas, format!("governance: malformed arguments for {name}")));
        use IGovernance as G;
        macro_rules! args {
            ($call:ty, $name:literal) => {
                match <$call>::abi_decode(&input) {
                    Ok(call) => call,
                    Err(_) => return malformed($name),
                }
            };
        }
        let writes = matches!(
            selector,
            G::proposeAddMemberCall::SELECTOR
                | G::proposeRemoveMemberCall::SELECTOR
                | G::proposeAddNodeCall::SELECTOR
                | G::proposeRemoveNodeCall::SELECTOR
                | G::proposeSetPowerCall::SELECTOR
                | G::proposeSetPolicyCall::SELECTOR
                | G::proposeApproveCodeCall::SELECTOR
                | G::proposeUpgradeCall::SELECTOR
                | G::proposeFreezeCall::SELECTOR
                | G::proposeUnfreezeCall::SELECTOR
                | G::proposeRevokeCall::SELECTOR
                | G::proposeSetParameterCall::SELECTOR
                | G::proposeRotateMemberCaCall::SELECTOR
                | G::voteCall::SELECTOR
                | G::cancelCall::SELECTOR
        );
        if writes && inputs.is_static {
            return Ok(revert(
                gas,
                "governance: this function writes state; it cannot run in a view (static) call",
            ));
        }
        let mut call = Call { contract: self, context, gas, caller };
        match selector {
            G::proposeAddMemberCall::SELECTOR => {
                let c = args!(G::proposeAddMemberCall, "proposeAddMember");
                let admins = c.admins.iter().map(|a| from_revm(*a)).collect();
                call.propose(Action::AddMember(Member { id: c.org, admins, ca_cert: c.caCert }))
            }
            G::proposeRemoveMemberCall::SELECTOR => {
                let c = args!(G::proposeRemoveMemberCall, "proposeRemoveMember");
                call.propose(Action::RemoveMember { org: c.org })
            }
            G::proposeAddNodeCall::SELECTOR => {
                let c = args!(G::proposeAddNodeCall, "proposeAddNode");
                let keys = parse_key("consensusKey", &c.consensusKey)
                    .and_then(|k| Ok((k, parse_key("tlsKey", &c.tlsKey)?)));
                match keys {
                    Ok((consensus_key, tls_key)) => call.propose(Action::AddNode(Node {
                        name: c.name,
                        org: c.org,
                        consensus_key,
                        power: c.power,
                        tls_key,
                    })),
                    Err(e) => Ok(revert(gas, format!("governance: {e}"))),
                }
            }
            G::proposeRemoveNodeCall::SELECTOR => {
                let c = args!(G::proposeRemoveNodeCall, "proposeRemoveNode");
                call.propose(Action::RemoveNode { name: c.name })
            }
            G::proposeSetPowerCall::SELECTOR => {
                let c = args!(G::proposeSetPowerCall, "proposeSetPower");
                call.propose(Action::SetPower { name: c.name, power: c.power })
            }
            G::proposeSetPolicyCall::SELECTOR => {
                let c = args!(G::proposeSetPolicyCall, "proposeSetPolicy");
                let (Some(kind), Some(rule)) = (Kind::from_u8(c.kind), Rule::from_u8(c.rule))
                else {
                    return Ok(revert(
                        gas,
                        "governance: unknown proposal kind or rule; see IGovernance.sol",
                    ));
                };
                call.propose(Action::SetPolicy {
                    kind,
                    policy: Policy { rule, n: c.n, leader: c.leader },
                })
            }
            G::proposeApproveCodeCall::SELECTOR => {
                let c = args!(G::proposeApproveCodeCall, "proposeApproveCode");
                call.propose(Action::ApproveCode { code_hash: Hash(c.codeHash.0), label: c.label })
            }
            G::proposeUpgradeCall::SELECTOR => {
                let c = args!(G::proposeUpgradeCall, "proposeUpgrade");
                let implementation = from_revm(c.implementation);
                let code_hash = call.code_hash_of(implementation)?.unwrap_or(Hash::ZERO);
                call.propose(Action::Upgrade {
                    contract: from_revm(c.target),
                    implementation,
                    code_hash,
                })
            }
            G::proposeFreezeCall::SELECTOR => {
                let c = args!(G::proposeFreezeCall, "proposeFreeze");
                call.propose(Action::Freeze { contract: from_revm(c.target) })
            }
            G::proposeUnfreezeCall::SELECTOR => {
                let c = args!(G::proposeUnfreezeCall, "proposeUnfreeze");
                call.propose(Action::Unfreeze { contract: from_revm(c.target) })
            }
            G::proposeRevokeCall::SELECTOR => {
                let c = args!(G::proposeRevokeCall, "proposeRevoke");
                call.propose(Action::Revoke { contract: from_revm(c.target) })
            }
            G::proposeSetParameterCall::SELECTOR => {
                let c = args!(G::proposeSetParameterCall, "proposeSetParameter");
                let Some(param) = Param::from_name(&c.name) else {
                    return Ok(revert(gas, format!("governance: {}", unknown_param(&c.name))));
                };
                call.propose(Action::SetParameter { param, value: c.value })
            }
            G::proposeRotateMemberCaCall::SELECTOR => {
                let c = args!(G::proposeRotateMemberCaCall, "proposeRotateMemberCa");
                call.propose(Action::RotateCa {
                    org: c.org,
                    ca_cert: c.caCert,
                    overlap_ms: c.overlapMs,
                })
            }
            G::isCodeApprovedCall::SELECTOR => {
                let c = args!(G::isCodeApprovedCall, "isCodeApproved");
                let approval = call.approval(&Hash(c.codeHash.0))?;
                call.answer(G::isCodeApprovedCall::abi_encode_returns(&G::isCodeApprovedReturn {
                    approved: approval.is_some(),
                    proposal: approval.map_or(0, |a| a.proposal),
                }))
            }
            G::contractStatusCall::SELECTOR => {
                let c = args!(G::contractStatusCall, "contractStatus");
                let target = from_revm(c.target);
                let record = call.record(&target)?;
                let code_hash = call.code_hash_of(target)?.unwrap_or(Hash::ZERO);
                call.answer(G::contractStatusCall::abi_encode_returns(&G::contractStatusReturn {
                    status: record.status as u8,
                    version: record.upgrades.len() as u64,
                    codeHash: B256::from(code_hash.0),
                }))
            }
            G::getParameterCall::SELECTOR => {
                let c = args!(G::getParameterCall, "getParameter");
                let Some(param) = Param::from_name(&c.name) else {
                    return Ok(revert(gas, format!("governance: {}", unknown_param(&c.name))));
                };
                let value = call.params()?.get(param);
                call.answer(G::getParameterCall::abi_encode_returns(&value))
            }
            G::voteCall::SELECTOR => {
                let c = args!(G::voteCall, "vote");
                call.vote(c.id, c.approve)
            }
            G::cancelCall::SELECTOR => {
                let c = args!(G::cancelCall, "cancel");
                call.cancel(c.id)
            }
            G::proposalCountCall::SELECTOR => {
                let count: u64 = call.load(COUNT_KEY, "gov/proposals")?;
                call.answer(G::proposalCountCall::abi_encode_returns(&count))
            }
            G::getProposalCall::SELECTOR => {
                let c = args!(G::getProposalCall, "getProposal");
                call.get_proposal(c.id)
            }
            G::memberIdsCall::SELECTOR => {
                let members: Vec<Member> = call.load(MEMBERS_KEY, "gov/members")?;
                let ids: Vec<String> = members.into_iter().map(|m| m.id).collect();
                call.answer(G::memberIdsCall::abi_encode_returns(&ids))
            }
            G::getMemberCall::SELECTOR => {
                let c = args!(G::getMemberCall, "getMember");
                call.get_member(&c.org)
            }
            G::nodeNamesCall::SELECTOR => {
                let nodes: Vec<Node> = call.load(NODES_KEY, "gov/nodes")?;
                let names: Vec<String> = nodes.into_iter().map(|n| n.name).collect();
                call.answer(G::nodeNamesCall::abi_encode_returns(&names))
            }
            G::getNodeCall::SELECTOR => {
                let c = args!(G::getNodeCall, "getNode");
                call.get_node(&c.name)
            }
            G::getPolicyCall::SELECTOR => {
                let c = args!(G::getPolicyCall, "getPolicy");
                let Some(kind) = Kind::from_u8(c.kind) else {
                    return Ok(revert(
                        gas,
                        "governance: unknown proposal kind; see IGovernance.sol",
                    ));
                };
                let p: Policy = call.load(&policy_key(kind), "gov/policy")?;
                call.answer(G::getPolicyCall::abi_encode_returns(&G::getPolicyReturn {
                    rule: p.rule as u8,
                    n: p.n,
                    leader: p.leader,
                }))
            }
            other => Ok(unknown_selector(gas, "governance", other)),
        }
    }

    /// Ends the transaction: the state writes of its governance calls that were not reverted.
    pub(crate) fn finish(
        &mut self,
        changes: &mut revm::primitives::AddressMap<revm::state::Account>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes.finish(changes)
    }
}

/// One call into the contract.
struct Call<'p, 'c, CTX> {
    contract: &'p mut Precompile,
    context: &'c mut CTX,
    gas: Gas,
    caller: Address,
}

impl<CTX> Call<'_, '_, CTX>
where
    CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
{
    fn refuse(&self, reason: impl std::fmt::Display) -> Answer {
        Ok(revert(self.gas, format!("governance: {reason}")))
    }

    fn load<T: BorshDeserialize + Default>(
        &mut self,
        key: &[u8],
        what: &str,
    ) -> Result<T, ExecutionError> {
        let bytes = self.contract.writes.get(self.context, key)?;
        decode_or(what, bytes)
    }

    fn store<T: BorshSerialize>(&mut self, key: &[u8], value: &T) -> Result<u64, ExecutionError> {
        let bytes = encode(value);
        let len = bytes.len() as u64;
        self.contract.writes.put(self.context, key.to_vec(), Some(bytes))?;
        Ok(len)
    }

    fn emit(&mut self, event: impl SolEvent) {
        let log = Log { address: to_revm(ADDRESS), data: event.encode_log_data() };
        self.context.journal_mut().log(log);
    }

    /// A read's answer, charged by its size.
    fn answer(mut self, encoded: Vec<u8>) -> Answer {
        let cost = READ_GAS + READ_GAS_PER_WORD * encoded.len().div_ceil(32) as u64;
        if !self.gas.record_regular_cost(cost) {
            return Ok(out_of_gas(self.gas));
        }
        Ok(done(self.gas, encoded))
    }

    /// A write's answer, charged by the bytes it stored.
    fn written(mut self, stored: u64, encoded: Vec<u8>) -> Answer {
        if !self.gas.record_regular_cost(WRITE_GAS + WRITE_GAS_PER_BYTE * stored) {
            return Ok(out_of_gas(self.gas));
        }
        Ok(done(self.gas, encoded))
    }

    fn registry(&mut self) -> Result<Registry, ExecutionError> {
        Ok(Registry {
            members: self.load(MEMBERS_KEY, "gov/members")?,
            nodes: self.load(NODES_KEY, "gov/nodes")?,
            retiring: self.load(RETIRING_CAS_KEY, "gov/retiring-cas")?,
            time_ms: self.contract.time_ms,
        })
    }

    /// The member organization whose admin the caller is.
    fn callers_org(&self, members: &[Member]) -> Option<String> {
        members.iter().find(|m| m.admins.contains(&self.caller)).map(|m| m.id.clone())
    }

    fn proposal(&mut self, id: u64) -> Result<Option<Proposal>, ExecutionError> {
        let bytes = self.contract.writes.get(self.context, &proposal_key(id))?;
        bytes.map(|b| decode_state("gov/proposal", &b)).transpose()
    }

    fn propose(mut self, action: Action) -> Answer {
        if !self.gas.record_regular_cost(READ_GAS) {
            return Ok(out_of_gas(self.gas));
        }
        let mut registry = self.registry()?;
        let Some(org) = self.callers_org(&registry.members) else {
            return self.refuse(format!(
                "{} is not an admin of a member organization; only members propose",
                self.caller
            ));
        };
        if let Err(reason) = self.check(&mut registry, &action)? {
            return self.refuse(reason);
        }
        let voting_ms = self.params()?.voting_ms;
        let id = self.load::<u64>(COUNT_KEY, "gov/proposals")? + 1;
        let (height, time_ms) = (self.contract.height, self.contract.time_ms);
        let mut proposal = Proposal {
            id,
            action,
            org: org.clone(),
            proposer: self.caller,
            created_height: height,
            created_ms: time_ms,
            deadline_ms: time_ms.saturating_add(voting_ms),
            ballots: vec![Ballot { org: org.clone(), voter: self.caller, approve: true, height }],
            status: Status::Open,
            decided_height: 0,
            failure: String::new(),
        };
        self.emit(IGovernance::ProposalCreated {
            id,
            kind: proposal.action.kind() as u8,
            org: org.clone(),
            proposer: to_revm(self.caller),
            summary: proposal.action.summary(),
        });
        self.emit(IGovernance::Voted { id, org, voter: to_revm(self.caller), approve: true });
        let mut stored = self.store(COUNT_KEY, &id)?;
        stored += self.decide(&mut proposal)?;
        stored += self.store(&proposal_key(id), &proposal)?;
        self.written(stored, IGovernance::proposeAddMemberCall::abi_encode_returns(&id))
    }

    fn vote(mut self, id: u64, approve: bool) -> Answer {
        if !self.gas.record_regular_cost(READ_GAS) {
            return Ok(out_of_gas(self.gas));
        }
        let members: Vec<Member> = self.load(MEMBERS_KEY, "gov/members")?;
        let Some(org) = self.callers_org(&members) else {
            return self.refuse(format!(
                "{} is not an admin of a member organization; only members vote",
                self.caller
            ));
        };
        let Some(mut proposal) = self.proposal(id)? else {
            return self.refuse(format!("no proposal has id {id}"));
        };
        let status = proposal.status_at(self.contract.time_ms);
        if status != Status::Open {
            return self.refuse(format!(
                "proposal {id} is {}; only open proposals take votes",
                status.name()
            ));
        }
        if proposal.ballots.iter().any(|b| b.org == org) {
            return self.refuse(format!(
                "`{org}` already voted on proposal {id}; one vote per organization"
            ));
        }
        proposal.ballots.push(Ballot {
            org: org.clone(),
            voter: self.caller,
            approve,
            height: self.contract.height,
        });
        self.emit(IGovernance::Voted { id, org, voter: to_revm(self.caller), approve });
        let mut stored = self.decide(&mut proposal)?;
        stored += self.store(&proposal_key(id), &proposal)?;
        self.written(stored, IGovernance::voteCall::abi_encode_returns(&(proposal.status as u8)))
    }

    fn cancel(mut self, id: u64) -> Answer {
        let Some(mut proposal) = self.proposal(id)? else {
            return self.refuse(format!("no proposal has id {id}"));
        };
        if proposal.proposer != self.caller {
            return self.refuse(format!(
                "only the proposer ({}) may cancel proposal {id}",
                proposal.proposer
            ));
        }
        let status = proposal.status_at(self.contract.time_ms);
        if status != Status::Open {
            return self.refuse(format!(
                "proposal {id} is {}; only open proposals can be cancelled",
                status.name()
            ));
        }
        proposal.status = Status::Cancelled;
        proposal.decided_height = self.contract.height;
        self.emit(IGovernance::ProposalCancelled { id });
        let stored = self.store(&proposal_key(id), &proposal)?;
        self.written(stored, IGovernance::cancelCall::abi_encode_returns(&true))
    }

    /// Tallies an open proposal and, if its policy is met, executes it. Returns bytes stored.
    fn decide(&mut self, proposal: &mut Proposal) -> Result<u64, ExecutionError> {
        let kind = proposal.action.kind();
        let policy: Policy = self.load(&policy_key(kind), "gov/policy")?;
        let mut registry = self.registry()?;
        let id = proposal.id;
        match tally(proposal, &registry.members, &policy) {
            Decision::Pending => return Ok(0),
            Decision::Rejected => {
                proposal.status = Status::Rejected;
                proposal.decided_height = self.contract.height;
                self.emit(IGovernance::ProposalRejected { id });
                return Ok(0);
            }
            Decision::Approved => {}
        }
        proposal.decided_height = self.contract.height;
        let applied = match self.check(&mut registry, &proposal.action)? {
            Ok(applied) => applied,
            Err(reason) => {
                proposal.status = Status::Failed;
                proposal.failure = reason.clone();
                self.emit(IGovernance::ProposalFailed { id, reason });
                return Ok(0);
            }
        };
        proposal.status = Status::Executed;
        self.emit(IGovernance::ProposalExecuted { id });
        let mut stored = 0;
        match &proposal.action {
            Action::AddMember(m) => self.emit(IGovernance::MemberAdded { org: m.id.clone() }),
            Action::RemoveMember { org } => {
                self.emit(IGovernance::MemberRemoved { org: org.clone() })
            }
            Action::AddNode(n) => self.emit(IGovernance::NodeAdded {
                name: n.name.clone(),
                org: n.org.clone(),
                power: n.power,
            }),
            Action::RemoveNode { name } => {
                self.emit(IGovernance::NodeRemoved { name: name.clone() })
            }
            Action::SetPower { name, power } => {
                self.emit(IGovernance::NodePowerChanged { name: name.clone(), power: *power })
            }
            Action::SetPolicy { kind, policy } => self.emit(IGovernance::PolicyChanged {
                kind: *kind as u8,
                rule: policy.rule as u8,
                n: policy.n,
                leader: policy.leader.clone(),
            }),
            Action::RotateCa { org, .. } => {
                let until = registry.retiring.iter().filter(|r| &r.org == org).map(|r| r.until_ms);
                self.emit(IGovernance::MemberCaRotated {
                    org: org.clone(),
                    previousTrustedUntilMs: until.max().unwrap_or(0),
                })
            }
            _ => stored += self.apply_other(proposal)?,
        }
        if let Some((kind, policy)) = applied.policy {
            stored += self.store(&policy_key(kind), &policy)?;
        }
        match proposal.action {
            Action::AddMember(_) | Action::RemoveMember { .. } | Action::RotateCa { .. } => {
                stored += self.store(MEMBERS_KEY, &registry.members)?;
            }
            Action::AddNode(_) | Action::RemoveNode { .. } | Action::SetPower { .. } => {
                stored += self.store(NODES_KEY, &registry.nodes)?;
            }
            _ => {}
        }
        if applied.retiring_changed {
            stored += self.store(RETIRING_CAS_KEY, &registry.retiring)?;
        }
        if applied.validators_changed {
            let effective = self.contract.height + ACTIVATION_DELAY;
            self.emit(IGovernance::ValidatorSetChanged { effectiveHeight: effective });
        }
        Ok(stored)
    }

    fn params(&mut self) -> Result<Params, ExecutionError> {
        let bytes = self.contract.writes.get(self.context, PARAMS_KEY)?;
        decode_params(bytes, &self.contract.settings.genesis)
    }

    fn approval(&mut self, code_hash: &Hash) -> Result<Option<CodeApproval>, ExecutionError> {
        let bytes = self.contract.writes.get(self.context, &approval_key(code_hash))?;
        bytes.map(|b| decode_state("gov/code", &b)).transpose()
    }

    fn record(&mut self, contract: &Address) -> Result<ContractRecord, ExecutionError> {
        self.load(&contract_key(contract), "gov/contract")
    }

    /// The hash of the code `address` runs (`None` for an account without code).
    fn code_hash_of(&mut self, address: Address) -> Result<Option<Hash>, ExecutionError> {
        let account = self.context.journal_mut().load_account_with_code(to_revm(address))?;
        let hash = account.data.info.code_hash;
        Ok((hash != KECCAK_EMPTY && hash != B256::ZERO).then_some(Hash(hash.0)))
    }

    /// Checks `action` against the chain as it is now; member, node and policy actions are
    /// applied to `registry` on the way.
    fn check(
        &mut self,
        registry: &mut Registry,
        action: &Action,
    ) -> Result<Result<Applied, String>, ExecutionError> {
        let applied = match registry.apply(action, &self.contract.settings) {
            Ok(applied) => applied,
            Err(reason) => return Ok(Err(reason)),
        };
        Ok(self.check_other(action)?.map(|()| applied))
    }

    /// Checks a contract or parameter action.
    fn check_other(&mut self, action: &Action) -> Result<Result<(), String>, ExecutionError> {
        let no_contract = |a: &Address| format!("{} holds no contract", a.to_checksum_hex());
        Ok(match action {
            Action::ApproveCode { label, .. }
                if label.len() > MAX_ID_BYTES || label.chars().any(char::is_control) =>
            {
                Err(format!(
                    "a label takes at most {MAX_ID_BYTES} bytes without control characters"
                ))
            }
            Action::ApproveCode { code_hash, .. } => match self.approval(code_hash)? {
                Some(a) => {
                    Err(format!("code {code_hash} is already approved (proposal {})", a.proposal))
                }
                None => Ok(()),
            },
            Action::Upgrade { contract, implementation, code_hash } => {
                let status = self.record(contract)?.status;
                let current = self.code_hash_of(*contract)?;
                let implemented = self.code_hash_of(*implementation)?;
                match (status, current, implemented) {
                    (ContractStatus::Revoked, ..) => Err(format!(
                        "{} was revoked; a revoked contract cannot be upgraded",
                        contract.to_checksum_hex()
                    )),
                    (_, None, _) => Err(no_contract(contract)),
                    (_, _, None) => {
                        Err(format!("the implementation {}", no_contract(implementation)))
                    }
                    (_, _, Some(h)) if h != *code_hash => Err(format!(
                        "the implementation {} runs other code than when proposed",
                        implementation.to_checksum_hex()
                    )),
                    (_, Some(h), _) if h == *code_hash => {
                        Err(format!("{} already runs this code", contract.to_checksum_hex()))
                    }
                    _ => Ok(()),
                }
            }
            Action::Freeze { contract } | Action::Revoke { contract } => {
                let status = self.record(contract)?.status;
                if self.code_hash_of(*contract)?.is_none() {
                    Err(no_contract(contract))
                } else if status == ContractStatus::Revoked
                    || (status == ContractStatus::Frozen && matches!(action, Action::Freeze { .. }))
                {
                    Err(format!("{} is {} already", contract.to_checksum_hex(), status.name()))
                } else {
                    Ok(())
                }
            }
            Action::Unfreeze { contract } => match self.record(contract)?.status {
                ContractStatus::Frozen => Ok(()),
                other => Err(format!(
                    "{} is {}, not frozen{}",
                    contract.to_checksum_hex(),
                    other.name(),
                    if other == ContractStatus::Revoked { "; revoking is final" } else { "" }
                )),
            },
            Action::SetParameter { param, value } => self.params()?.set(*param, *value),
            _ => Ok(()),
        })
    }

    /// Executes a checked contract or parameter action; returns the bytes stored.
    fn apply_other(&mut self, proposal: &Proposal) -> Result<u64, ExecutionError> {
        let (id, height) = (proposal.id, self.contract.height);
        match &proposal.action {
            Action::ApproveCode { code_hash, label } => {
                self.emit(IGovernance::CodeApproved {
                    codeHash: B256::from(code_hash.0),
                    label: label.clone(),
                });
                let approval = CodeApproval { label: label.clone(), proposal: id, height };
                self.store(&approval_key(code_hash), &approval)
            }
            Action::Upgrade { contract, implementation, code_hash } => {
                let journal = self.context.journal_mut();
                let code = journal
                    .load_account_with_code(to_revm(*implementation))?
                    .data
                    .info
                    .code
                    .clone()
                    .unwrap_or_default();
                journal.load_account(to_revm(*contract))?;
                journal.set_code_with_hash(to_revm(*contract), code, B256::from(code_hash.0));
                let mut record = self.record(contract)?;
                record.upgrades.push(Version { code_hash: *code_hash, height, proposal: id });
                self.emit(IGovernance::ContractUpgraded {
                    target: to_revm(*contract),
                    codeHash: B256::from(code_hash.0),
                    version: record.upgrades.len() as u64,
                });
                self.store(&contract_key(contract), &record)
            }
            Action::Freeze { contract } => self.set_status(contract, ContractStatus::Frozen),
            Action::Unfreeze { contract } => self.set_status(contract, ContractStatus::Active),
            Action::Revoke { contract } => self.set_status(contract, ContractStatus::Revoked),
            Action::SetParameter { param, value } => {
                let mut params = self.params()?;
                if let Err(reason) = params.set(*param, *value) {
                    return Err(ExecutionError::corrupt("gov/params", reason));
                }
                self.emit(IGovernance::ParameterChanged {
                    name: param.name().into(),
                    value: *value,
                });
                self.store(PARAMS_KEY, &params)
            }
            _ => Ok(0),
        }
    }

    fn set_status(
        &mut self,
        contract: &Address,
        status: ContractStatus,
    ) -> Result<u64, ExecutionError> {
        let mut record = self.record(contract)?;
        record.status = status;
        let mut blocked: Vec<(Address, ContractStatus)> = self.load(BLOCKED_KEY, "gov/blocked")?;
        blocked.retain(|(a, _)| a != contract);
        if status != ContractStatus::Active {
            let at = blocked.partition_point(|(a, _)| a < contract);
            blocked.insert(at, (*contract, status));
        }
        self.emit(IGovernance::ContractStatusChanged {
            target: to_revm(*contract),
            status: status as u8,
        });
        Ok(self.store(&contract_key(contract), &record)? + self.store(BLOCKED_KEY, &blocked)?)
    }

    fn get_proposal(mut self, id: u64) -> Answer {
        let p = self.proposal(id)?;
        let time_ms = self.contract.time_ms;
        let out = match p {
            Some(p) => {
                let orgs = |approve: bool| {
                    p.ballots
                        .iter()
                        .filter(|b| b.approve == approve)
                        .map(|b| b.org.clone())
                        .collect()
                };
                IGovernance::getProposalReturn {
                    exists: true,
                    kind: p.action.kind() as u8,
                    status: p.status_at(time_ms) as u8,
                    org: p.org.clone(),
                    proposer: to_revm(p.proposer),
                    createdHeight: p.created_height,
                    deadlineMs: p.deadline_ms,
                    summary: p.action.summary(),
                    approvals: orgs(true),
                    rejections: orgs(false),
                }
            }
            None => IGovernance::getProposalReturn {
                exists: false,
                kind: 0,
                status: 0,
                org: String::new(),
                proposer: Default::default(),
                createdHeight: 0,
                deadlineMs: 0,
                summary: String::new(),
                approvals: vec![],
                rejections: vec![],
            },
        };
        self.answer(IGovernance::getProposalCall::abi_encode_returns(&out))
    }

    fn get_member(mut self, org: &str) -> Answer {
        let registry = self.registry()?;
        let out = match registry.member(org) {
            Some(m) => IGovernance::getMemberReturn {
                exists: true,
                admins: m.admins.iter().map(|a| to_revm(*a)).collect(),
                caCert: m.ca_cert.clone(),
                nodes: registry
                    .nodes
                    .iter()
                    .filter(|n| n.org == org)
                    .map(|n| n.name.clone())
                    .collect(),
            },
            None => IGovernance::getMemberReturn {
                exists: false,
                admins: vec![],
                caCert: String::new(),
                nodes: vec![],
            },
        };
        self.answer(IGovernance::getMemberCall::abi_encode_returns(&out))
    }

    fn get_node(mut self, name: &str) -> Answer {
        let nodes: Vec<Node> = self.load(NODES_KEY, "gov/nodes")?;
        let key = |k: &Option<PublicKey>| k.as_ref().map(PublicKey::to_base64).unwrap_or_default();
        let out = match nodes.iter().find(|n| n.name == name) {
            Some(n) => IGovernance::getNodeReturn {
                exists: true,
                org: n.org.clone(),
                consensusKey: key(&n.consensus_key),
                power: n.power,
                tlsKey: key(&n.tls_key),
            },
            None => IGovernance::getNodeReturn {
                exists: false,
                org: String::new(),
                consensusKey: String::new(),
                power: 0,
                tlsKey: String::new(),
            },
        };
        self.answer(IGovernance::getNodeCall::abi_encode_returns(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        Member { id: id.into(), admins: vec![Address([1; 20])], ca_cert: String::new() }
    }

    fn proposal_with(votes: &[(&str, bool)]) -> Proposal {
        Proposal {
            id: 1,
            action: Action::RemoveMember { org: "x".into() },
            org: votes[0].0.into(),
            proposer: Address::default(),
            created_height: 1,
            created_ms: 0,
            deadline_ms: 10,
            ballots: votes
                .iter()
                .map(|(org, approve)| Ballot {
                    org: (*org).into(),
                    voter: Address::default(),
                    approve: *approve,
                    height: 1,
                })
                .collect(),
            status: Status::Open,
            decided_height: 0,
            failure: String::new(),
        }
    }

    fn four() -> Vec<Member> {
        ["a", "b", "c", "d"].into_iter().map(member).collect()
    }

    fn event_of(contract: Address, event: impl SolEvent) -> consortia_types::Event {
        let log = event.encode_log_data();
        consortia_types::Event {
            contract,
            topics: log.topics().iter().map(|t| Hash(t.0)).collect(),
            data: log.data.to_vec(),
        }
    }

    #[test]
    fn a_blocks_proposals_are_read_from_the_governance_events_each_once() {
        use IGovernance as G;
        let voter = revm::primitives::Address::ZERO;
        let events = [
            event_of(ADDRESS, G::Voted { id: 7, org: "a".into(), voter, approve: true }),
            event_of(ADDRESS, G::MemberAdded { org: "b".into() }),
            event_of(ADDRESS, G::ProposalExecuted { id: 7 }),
            event_of(
                ADDRESS,
                G::ProposalCreated {
                    id: 8,
                    kind: 0,
                    org: "a".into(),
                    proposer: voter,
                    summary: "s".into(),
                },
            ),
            // The same event from another contract is not governance.
            event_of(Address([9; 20]), G::ProposalRejected { id: 9 }),
            event_of(ADDRESS, G::ProposalFailed { id: 1 << 40, reason: "r".into() }),
        ];
        assert_eq!(proposals_in(&events), [7, 8, 1 << 40]);
    }

    #[test]
    fn majority_needs_more_than_half_of_the_members() {
        let majority = Policy::default();
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("b", true)]), &four(), &majority),
            Decision::Pending
        );
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("b", true), ("c", true)]), &four(), &majority),
            Decision::Approved
        );
    }

    #[test]
    fn a_proposal_is_rejected_once_its_policy_cannot_be_met() {
        let majority = Policy::default();
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("b", false)]), &four(), &majority),
            Decision::Pending
        );
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("b", false), ("c", false)]), &four(), &majority),
            Decision::Rejected
        );
    }

    #[test]
    fn votes_of_organizations_no_longer_members_do_not_count() {
        let majority = Policy::default();
        let p = proposal_with(&[("a", true), ("gone", true), ("b", true)]);
        assert_eq!(tally(&p, &four(), &majority), Decision::Pending);
    }

    #[test]
    fn each_rule_needs_its_number_of_approvals() {
        let policy = |rule, n| Policy { rule, n, leader: String::new() };
        assert_eq!(policy(Rule::TwoThirds, 0).needed(4), 3);
        assert_eq!(policy(Rule::TwoThirds, 0).needed(3), 2);
        assert_eq!(policy(Rule::Unanimous, 0).needed(4), 4);
        assert_eq!(policy(Rule::NOfM, 2).needed(4), 2);
        assert_eq!(policy(Rule::NOfM, 9).needed(4), 4);
        assert_eq!(policy(Rule::Majority, 0).needed(1), 1);
    }

    #[test]
    fn a_leader_only_policy_follows_the_leader_alone() {
        let leader = Policy { rule: Rule::LeaderOnly, n: 0, leader: "b".into() };
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("c", true), ("d", true)]), &four(), &leader),
            Decision::Pending
        );
        assert_eq!(
            tally(&proposal_with(&[("a", false), ("b", true)]), &four(), &leader),
            Decision::Approved
        );
        assert_eq!(
            tally(&proposal_with(&[("a", true), ("b", false)]), &four(), &leader),
            Decision::Rejected
        );
    }

    fn validator(seed: u8, power: u64) -> Validator {
        let key =
            consortia_crypto::PrivateKey::from_secret_bytes(Scheme::Ed25519, &[seed; 32]).unwrap();
        Validator { name: format!("v{seed}"), public_key: key.public_key(), power }
    }

    #[test]
    fn bft_keeps_at_least_four_validators() {
        let five: Vec<_> = (1..=5).map(|i| validator(i, 1)).collect();
        assert!(check_validator_change(ConsensusKind::Bft, &five, &five[..4]).is_ok());
        let err = check_validator_change(ConsensusKind::Bft, &five[..4], &five[..3]).unwrap_err();
        assert!(err.contains("leave 3 BFT validators"), "{err}");
    }

    #[test]
    fn a_change_moves_less_than_a_third_of_the_power() {
        let four: Vec<_> = (1..=4).map(|i| validator(i, 1)).collect();
        let six: Vec<_> = (1..=6).map(|i| validator(i, 1)).collect();
        let err = check_validator_change(ConsensusKind::Bft, &four, &six).unwrap_err();
        assert!(err.contains("moves 2 of 4"), "{err}");
        let mut heavier = four.clone();
        heavier[0].power = 2;
        assert!(check_validator_change(ConsensusKind::Bft, &four, &heavier).is_ok());
    }

    #[test]
    fn raft_and_solo_refuse_validator_changes() {
        let four: Vec<_> = (1..=4).map(|i| validator(i, 1)).collect();
        let five: Vec<_> = (1..=5).map(|i| validator(i, 1)).collect();
        let err = check_validator_change(ConsensusKind::Raft, &four, &five).unwrap_err();
        assert!(err.contains("raft consensus"), "{err}");
    }

    fn registry_at(time_ms: u64, ca: &str) -> Registry {
        let mut a = member("a");
        a.ca_cert = ca.into();
        Registry { members: vec![a, member("b")], nodes: vec![], retiring: vec![], time_ms }
    }

    fn settings() -> Settings {
        Settings {
            consensus: ConsensusKind::Bft,
            genesis: Params::from_genesis(&ChainParams::default()),
        }
    }

    fn pem(name: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n")
    }

    fn rotate(ca: &str, overlap_ms: u64) -> Action {
        Action::RotateCa { org: "a".into(), ca_cert: pem(ca), overlap_ms }
    }

    #[test]
    fn a_member_rotates_at_most_two_cas_into_overlap_at_once() {
        let mut registry = registry_at(1_000, &pem("ca-1"));
        registry.apply(&rotate("ca-2", 10_000), &settings()).unwrap();
        registry.apply(&rotate("ca-3", 10_000), &settings()).unwrap();
        let err = registry.apply(&rotate("ca-4", 10_000), &settings()).unwrap_err();
        assert!(err.contains("already has 2 replaced CAs in overlap"), "{err}");
        registry.apply(&rotate("ca-4", 0), &settings()).unwrap();
        assert_eq!(registry.retiring.len(), 2, "a rotation without overlap keeps none");
    }

    #[test]
    fn a_rotation_forgets_the_replaced_cas_whose_overlap_ended() {
        let mut registry = registry_at(1_000, &pem("ca-1"));
        registry.apply(&rotate("ca-2", 1_000), &settings()).unwrap();
        registry.time_ms = 2_001;
        registry.apply(&rotate("ca-3", 1_000), &settings()).unwrap();
        let cas: Vec<String> = registry.retiring.iter().map(|r| r.ca_cert.clone()).collect();
        assert_eq!(cas, [pem("ca-2")], "ca-1's overlap ended at 2000");
    }

    #[test]
    fn a_member_without_a_ca_gets_one_with_nothing_in_overlap() {
        let mut registry = registry_at(1_000, "");
        registry.apply(&rotate("ca-1", 10_000), &settings()).unwrap();
        assert_eq!(registry.members[0].ca_cert, pem("ca-1"));
        assert!(registry.retiring.is_empty());
    }

    #[test]
    fn removing_a_member_forgets_its_replaced_cas() {
        let mut registry = registry_at(1_000, &pem("ca-1"));
        registry.apply(&rotate("ca-2", 10_000), &settings()).unwrap();
        let applied = registry.apply(&Action::RemoveMember { org: "a".into() }, &settings());
        assert!(applied.unwrap().retiring_changed);
        assert!(registry.retiring.is_empty());
    }

    #[test]
    fn removing_a_member_that_runs_nodes_is_refused() {
        let mut registry = registry_at(0, "");
        registry.nodes.push(Node {
            name: "n".into(),
            org: "b".into(),
            consensus_key: None,
            power: 0,
            tls_key: None,
        });
        let err =
            registry.apply(&Action::RemoveMember { org: "b".into() }, &settings()).unwrap_err();
        assert!(err.contains("still runs nodes n"), "{err}");
    }
}
