//! `/v1/chains/{id}/proposals*`: on-chain governance of a running chain through the platform,
//! which signs proposals and votes with the key it keeps for the organization the caller acts
//! for. The views are the node's (`crate::node::ProposalView`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A change to propose, in the name of one organization of the chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposeRequest {
    /// The organization you act for: it proposes (its proposal counts as its approval), with
    /// the key the platform keeps for it.
    pub org_id: String,
    pub change: ChangeRequest,
}

/// What a proposal changes. Nodes are added through `POST /v1/chains/{id}/nodes` (the
/// platform provisions and starts them first) and organizations invited through
/// `POST /v1/chains/{id}/orgs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeRequest {
    /// Remove a member organization (it must run no nodes any more).
    RemoveMember {
        org: String,
    },
    /// Remove a node by name (the platform stops it once the removal executed).
    RemoveNode {
        name: String,
    },
    /// Set the policy deciding proposals of `kind` (`add_member`, …, `set_parameter`): `rule`
    /// `majority`, `two_thirds`, `unanimous`, `n_of_m` (with `n`) or `leader_only` (with
    /// `leader`, a member organization).
    SetPolicy {
        kind: String,
        rule: String,
        #[serde(default)]
        n: u32,
        #[serde(default)]
        leader: String,
    },
    /// Set a node's voting power (0 makes a validator an observer).
    SetPower {
        name: String,
        power: u64,
    },
    /// Approve deploying init code whose keccak-256 hash is `code_hash`.
    ApproveCode {
        code_hash: String,
        #[serde(default)]
        label: String,
    },
    /// Give `contract` the code `implementation` runs, keeping its address and state.
    Upgrade {
        contract: String,
        implementation: String,
    },
    Freeze {
        contract: String,
    },
    Unfreeze {
        contract: String,
    },
    /// Revoke a contract for good.
    Revoke {
        contract: String,
    },
    /// `deploy_policy` (0 open, 1 approved), `block_gas_limit`, `max_block_txs`,
    /// `max_block_bytes`, `block_interval_ms`, `empty_block_interval_ms`,
    /// `timeout_propose_ms`, `timeout_vote_ms`, `timeout_delta_ms` or `governance_voting_ms`.
    SetParameter {
        name: String,
        value: u64,
    },
}

/// One organization's vote on a proposal.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalVoteRequest {
    /// The organization you vote for, with the key the platform keeps for it.
    pub org_id: String,
    pub approve: bool,
}

/// Which proposals to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChainProposalsQuery {
    /// `open` or `all` (default).
    pub status: Option<String>,
}
