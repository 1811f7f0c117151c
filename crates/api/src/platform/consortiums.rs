//! Consortiums: creation, invitations, join requests and the votes that decide them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::wire_enum! {
    /// Who decides a join request.
    pub enum ApprovalPolicy {
        /// The leader organization alone.
        Leader = "leader",
        /// More than half of the member organizations.
        Majority = "majority",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateConsortiumRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// The leader organization (the caller must be its admin).
    pub org_id: String,
    /// Default `leader`.
    pub approval_policy: Option<ApprovalPolicy>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsortiumMemberView {
    pub org_id: String,
    pub org_name: String,
    /// The organization's CA certificate under the consortium CA (PEM).
    pub cert_pem: String,
    pub joined_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsortiumView {
    pub id: String,
    pub name: String,
    pub leader_org_id: String,
    pub approval_policy: ApprovalPolicy,
    /// The consortium CA certificate (PEM).
    pub ca_cert_pem: String,
    pub members: Vec<ConsortiumMemberView>,
    pub created_ms: i64,
    /// When it was dissolved (none while it works): a dissolved consortium is kept for the
    /// record, read-only.
    pub dissolved_ms: Option<i64>,
    /// Under the majority policy, the member organizations that voted to dissolve it; it
    /// dissolves once they are more than half of its members.
    #[serde(default)]
    pub dissolution_votes: Vec<String>,
}

/// Who asks to dissolve a consortium (`POST /v1/consortiums/{id}/dissolve`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DissolveQuery {
    /// The member organization voting (majority policy; needed only if you are in several).
    pub org_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteRequest {
    pub username: String,
    /// The member organization inviting (needed only if you are in several).
    pub org_id: Option<String>,
}

crate::wire_enum! {
    /// Where an invitation stands.
    pub enum InvitationStatus {
        Pending = "pending",
        Accepted = "accepted",
        Declined = "declined",
        /// Still pending when its consortium was dissolved.
        Withdrawn = "withdrawn",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub consortium_id: String,
    pub consortium_name: String,
    pub invitee: String,
    pub invited_by: String,
    pub status: InvitationStatus,
    pub created_ms: i64,
    /// Where the join request made with this invitation stands (the latest, if several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_request: Option<JoinRequestStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinRequest {
    /// The organization that joins (the caller must be its admin).
    pub org_id: String,
    /// The caller's accepted invitation to this consortium.
    pub invitation_id: String,
}

crate::wire_enum! {
    /// Where a join request stands.
    pub enum JoinRequestStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        /// Still pending when its consortium was dissolved.
        Withdrawn = "withdrawn",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinRequestView {
    pub id: String,
    pub consortium_id: String,
    pub org_id: String,
    pub org_name: String,
    pub status: JoinRequestStatus,
    /// Member organizations that approved so far.
    pub approvals: Vec<String>,
    /// Member organizations that rejected so far.
    pub rejections: Vec<String>,
    pub created_ms: i64,
}

crate::wire_enum! {
    /// A member organization's vote on a join request.
    pub enum Decision {
        Approve = "approve",
        Reject = "reject",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VoteRequest {
    pub decision: Decision,
    /// The member organization voting (needed only if you are in several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A rotation of a member organization's CA (`POST
/// /v1/consortiums/{id}/members/{org}/ca-rotation`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CaRotationRequest {
    /// How long the chains keep trusting the replaced CA beside the new one, in ms of block
    /// time (default a day, at most 90 days); 0 distrusts it at once (a compromised key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_ms: Option<u64>,
}

/// A rotation under way: the new CA, and the proposal that brings it onto each running chain
/// the organization takes part in. Once a proposal executes, the platform reissues the
/// organization's node certificates on that chain from the new CA.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CaRotationView {
    pub ca_cert_pem: String,
    pub overlap_ms: u64,
    pub proposals: Vec<ChainProposalRef>,
}

/// A proposal on one chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainProposalRef {
    pub chain_id: String,
    pub proposal_id: u64,
    /// `open` until the chain's members approve it (`executed` at once where the organization
    /// decides alone).
    pub status: String,
}
