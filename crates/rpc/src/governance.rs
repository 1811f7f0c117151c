//! Reads of the chain's governance (members, nodes, validator sets, proposals) as the
//! governance contract keeps them in the latest state (`execution/src/governance.rs`). Writes
//! are transactions to the contract (`docs/system-contracts.md`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use consortia_api::ErrorBody;
use consortia_api::node::{
    ActionView, BallotView, GovNodeView, MemberView, PolicyView, ProposalListView, ProposalView,
    ProposalsQuery, ValidatorSetView, ValidatorView, ValidatorsQuery,
};
use consortia_api::server::{ApiError, ApiResult, PathParams, QueryParams};
use consortia_crypto::PublicKey;
use consortia_execution::governance::{self, Action, Member, Node, Policy, Proposal, Status};
use consortia_node::Node as ChainNode;
use consortia_storage::StateReader;

use crate::handlers::storage;

type AppState = State<Arc<ChainNode>>;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

fn key(k: &Option<PublicKey>) -> Option<String> {
    k.as_ref().map(PublicKey::to_base64)
}

fn policy_view(p: &Policy) -> PolicyView {
    PolicyView { rule: p.rule.name().into(), n: p.n, leader: p.leader.clone() }
}

fn action_view(action: &Action) -> ActionView {
    match action {
        Action::AddMember(m) => ActionView::AddMember {
            org: m.id.clone(),
            admins: m.admins.iter().map(|a| a.to_checksum_hex()).collect(),
            ca_cert: m.ca_cert.clone(),
        },
        Action::RemoveMember { org } => ActionView::RemoveMember { org: org.clone() },
        Action::AddNode(n) => ActionView::AddNode {
            name: n.name.clone(),
            org: n.org.clone(),
            power: n.power,
            consensus_key: key(&n.consensus_key),
            tls_key: key(&n.tls_key),
        },
        Action::RemoveNode { name } => ActionView::RemoveNode { name: name.clone() },
        Action::SetPower { name, power } => {
            ActionView::SetPower { name: name.clone(), power: *power }
        }
        Action::SetPolicy { kind, policy } => {
            ActionView::SetPolicy { kind: kind.name().into(), policy: policy_view(policy) }
        }
    }
}

fn proposal_view(
    p: Proposal,
    state: &dyn StateReader,
    members: usize,
    time_ms: u64,
) -> ApiResult<ProposalView> {
    let policy = governance::policy(state, p.action.kind()).map_err(internal)?;
    let status = p.status_at(time_ms);
    Ok(ProposalView {
        id: p.id,
        kind: p.action.kind().name().into(),
        summary: p.action.summary(),
        action: action_view(&p.action),
        status: status.name().into(),
        org: p.org,
        proposer: p.proposer.to_checksum_hex(),
        created_height: p.created_height,
        created_ms: p.created_ms,
        deadline_ms: p.deadline_ms,
        decided_height: (p.decided_height > 0).then_some(p.decided_height),
        failure: (status == Status::Failed).then_some(p.failure),
        votes: p
            .ballots
            .into_iter()
            .map(|b| BallotView {
                org: b.org,
                voter: b.voter.to_checksum_hex(),
                approve: b.approve,
                height: b.height,
            })
            .collect(),
        approvals_needed: policy.needed(members) as u64,
        policy: policy_view(&policy),
    })
}

fn member_view(m: Member, nodes: &[Node]) -> MemberView {
    MemberView {
        nodes: nodes.iter().filter(|n| n.org == m.id).map(|n| n.name.clone()).collect(),
        admins: m.admins.iter().map(|a| a.to_checksum_hex()).collect(),
        ca_cert: m.ca_cert,
        id: m.id,
    }
}

/// The latest block's time: what proposals' expiry is judged by.
fn latest_time_ms(node: &ChainNode) -> ApiResult<u64> {
    let store = node.store();
    let height = store.latest_height().map_err(storage)?;
    let header = store.header(height).map_err(storage)?;
    Ok(header.map_or(0, |h| h.header.time_ms))
}

/// Member organizations
///
/// The organizations that govern the chain, sorted by id, with the nodes each runs.
#[utoipa::path(get, path = "/v1/governance/members", tag = "governance",
    responses((status = 200, body = Vec<MemberView>)))]
pub(crate) async fn members(State(node): AppState) -> ApiResult<Json<Vec<MemberView>>> {
    let store = node.store();
    let nodes = governance::nodes(store).map_err(internal)?;
    let members = governance::members(store).map_err(internal)?;
    Ok(Json(members.into_iter().map(|m| member_view(m, &nodes)).collect()))
}

/// The node list
///
/// Every node of the chain (validators and observers) in order; peers admit exactly these
/// (by TLS key), and the validators among them, in order, sign from two blocks after the
/// block that changed them.
#[utoipa::path(get, path = "/v1/governance/nodes", tag = "governance",
    responses((status = 200, body = Vec<GovNodeView>)))]
pub(crate) async fn nodes(State(node): AppState) -> ApiResult<Json<Vec<GovNodeView>>> {
    let nodes = governance::nodes(node.store()).map_err(internal)?;
    Ok(Json(
        nodes
            .into_iter()
            .map(|n| GovNodeView {
                role: if n.power > 0 { "validator" } else { "observer" }.into(),
                consensus_key: key(&n.consensus_key),
                tls_key: key(&n.tls_key),
                name: n.name,
                org: n.org,
                power: n.power,
            })
            .collect(),
    ))
}

/// The validator set of a height
///
/// The set that signs block `height`: the one the state of block `height - 2` names. Known up
/// to two heights past the latest block; a later height is 404.
#[utoipa::path(get, path = "/v1/validators", tag = "governance", params(ValidatorsQuery),
    responses((status = 200, body = ValidatorSetView), (status = 404, body = ErrorBody)))]
pub(crate) async fn validators(
    State(node): AppState,
    QueryParams(q): QueryParams<ValidatorsQuery>,
) -> ApiResult<Json<ValidatorSetView>> {
    let store = node.store();
    let latest = store.latest_height().map_err(storage)?;
    let height = q.height.unwrap_or(latest + 1);
    if height > latest + governance::ACTIVATION_DELAY {
        return Err(ApiError::not_found(format!(
            "the validator set of height {height} is not known yet: the latest block is {latest}, and a set is known {} heights ahead",
            governance::ACTIVATION_DELAY
        )));
    }
    let set = governance::validators_at(store, height).map_err(internal)?;
    Ok(Json(ValidatorSetView {
        height,
        hash: consortia_types::validators_hash(node.hash_algorithm(), &set).to_hex(),
        total_power: set.iter().map(|v| v.power).sum(),
        validators: set
            .into_iter()
            .map(|v| ValidatorView {
                address: v.public_key.address().to_checksum_hex(),
                public_key: v.public_key.to_base64(),
                name: v.name,
                power: v.power,
            })
            .collect(),
    }))
}

/// Governance proposals
///
/// Newest first; `status=open` lists the open ones only. Each shows what it would change, who
/// voted, and the policy it is decided by.
#[utoipa::path(get, path = "/v1/governance/proposals", tag = "governance", params(ProposalsQuery),
    responses((status = 200, body = ProposalListView), (status = 400, body = ErrorBody)))]
pub(crate) async fn proposals(
    State(node): AppState,
    QueryParams(q): QueryParams<ProposalsQuery>,
) -> ApiResult<Json<ProposalListView>> {
    let only_open = match q.status.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_status",
                format!("status `{other}`: choose `open` or `all`"),
            ));
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let store = node.store();
    let total = governance::proposal_count(store).map_err(internal)?;
    let members = governance::members(store).map_err(internal)?.len();
    let time_ms = latest_time_ms(&node)?;
    let mut out = Vec::new();
    let mut id = q.before.unwrap_or(u64::MAX).min(total + 1);
    while id > 1 && out.len() < limit {
        id -= 1;
        let Some(p) = governance::proposal(store, id).map_err(internal)? else { continue };
        if only_open && p.status_at(time_ms) != Status::Open {
            continue;
        }
        out.push(proposal_view(p, store, members, time_ms)?);
    }
    Ok(Json(ProposalListView { proposals: out, total }))
}

/// A governance proposal
#[utoipa::path(get, path = "/v1/governance/proposals/{id}", tag = "governance",
    params(("id" = u64, Path)),
    responses((status = 200, body = ProposalView), (status = 404, body = ErrorBody)))]
pub(crate) async fn proposal(
    State(node): AppState,
    PathParams(id): PathParams<u64>,
) -> ApiResult<Json<ProposalView>> {
    let store = node.store();
    let p = governance::proposal(store, id)
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no proposal has id {id}")))?;
    let members = governance::members(store).map_err(internal)?.len();
    Ok(Json(proposal_view(p, store, members, latest_time_ms(&node)?)?))
}
