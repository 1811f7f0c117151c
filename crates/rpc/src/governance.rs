//! Reads of the chain's governance (members, nodes, validator sets, proposals) as the
//! governance contract keeps them in the latest state (`execution/src/governance.rs`). Writes
//! are transactions to the contract (`docs/system-contracts.md`).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use consortia_api::ErrorBody;
use consortia_api::node::{
    ActionView, BallotView, CodeApprovalView, ContractStatusView, ContractVersionView, GovNodeView,
    MemberView, ParamsView, PolicyView, ProposalListView, ProposalView, ProposalsQuery,
    RetiringCaView, SimulateRequest, SimulationView, ValidatorSetView, ValidatorView,
    ValidatorsQuery,
};
use consortia_api::server::{ApiError, ApiResult, JsonBody, PathParams, QueryParams};
use consortia_crypto::PublicKey;
use consortia_execution::governance::{
    self, Action, Member, Node, Policy, Proposal, RetiringCa, Status,
};
use consortia_execution::{CallOutcome, read_account, revert_reason};
use consortia_node::Node as ChainNode;
use consortia_storage::StateReader;
use consortia_types::EvmCall;

use crate::QueryPool;
use crate::handlers::{call_context, decode_hex, parse_address, parse_hash, storage};
use crate::views::{event_view, hex0x};

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
        Action::ApproveCode { code_hash, label } => {
            ActionView::ApproveCode { code_hash: code_hash.to_hex(), label: label.clone() }
        }
        Action::Upgrade { contract, implementation, code_hash } => ActionView::Upgrade {
            contract: contract.to_checksum_hex(),
            implementation: implementation.to_checksum_hex(),
            code_hash: code_hash.to_hex(),
        },
        Action::Freeze { contract } => ActionView::Freeze { contract: contract.to_checksum_hex() },
        Action::Unfreeze { contract } => {
            ActionView::Unfreeze { contract: contract.to_checksum_hex() }
        }
        Action::Revoke { contract } => ActionView::Revoke { contract: contract.to_checksum_hex() },
        Action::SetParameter { param, value } => {
            ActionView::SetParameter { name: param.name().into(), value: *value }
        }
        Action::RotateCa { org, ca_cert, overlap_ms } => ActionView::RotateCa {
            org: org.clone(),
            ca_cert: ca_cert.clone(),
            overlap_ms: *overlap_ms,
        },
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

fn member_view(m: Member, nodes: &[Node], retiring: &[RetiringCa], time_ms: u64) -> MemberView {
    MemberView {
        nodes: nodes.iter().filter(|n| n.org == m.id).map(|n| n.name.clone()).collect(),
        admins: m.admins.iter().map(|a| a.to_checksum_hex()).collect(),
        ca_cert: m.ca_cert,
        retiring_cas: retiring
            .iter()
            .filter(|r| r.org == m.id && r.trusted_at(time_ms))
            .map(|r| RetiringCaView { ca_cert: r.ca_cert.clone(), until_ms: r.until_ms })
            .collect(),
        id: m.id,
    }
}

/// The latest block's time: what proposals' expiry is judged by.
pub(crate) fn latest_time_ms(node: &ChainNode) -> ApiResult<u64> {
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
    let retiring = governance::retiring_cas(store).map_err(internal)?;
    let time_ms = latest_time_ms(&node)?;
    Ok(Json(members.into_iter().map(|m| member_view(m, &nodes, &retiring, time_ms)).collect()))
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
/// Newest first; `status=open` lists the open ones only; `height=H` those the block at `H`
/// made, voted on or decided (read from its governance events). Each shows what it would
/// change, who voted, and the policy it is decided by.
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
    let before = q.before.unwrap_or(u64::MAX).min(total + 1);
    let ids: Vec<u64> = match q.height {
        Some(height) => {
            let mut ids = proposals_at(&node, height)?;
            ids.retain(|id| *id < before);
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids
        }
        None => (1..before).rev().collect(),
    };
    let mut out = Vec::new();
    for id in ids {
        if out.len() >= limit {
            break;
        }
        let Some(p) = governance::proposal(store, id).map_err(internal)? else { continue };
        if only_open && p.status_at(time_ms) != Status::Open {
            continue;
        }
        out.push(proposal_view(p, store, members, time_ms)?);
    }
    Ok(Json(ProposalListView { proposals: out, total }))
}

/// The proposals block `height` made, voted on or decided; 404 if there is no such block.
fn proposals_at(node: &ChainNode, height: u64) -> ApiResult<Vec<u64>> {
    let store = node.store();
    let header = store
        .header(height)
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("there is no block {height} yet")))?;
    let mut events = Vec::new();
    for position in 0..header.header.tx_count {
        // A pruned block's receipts are gone: it shows no governance.
        if let Some(receipt) = store.receipt_at(height, position).map_err(storage)? {
            events.extend(receipt.events);
        }
    }
    Ok(governance::proposals_in(&events))
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

/// The chain parameters
///
/// The values governance keeps (seeded from genesis, changed by `set_parameter` proposals):
/// the deploy policy, block limits (gas, transactions, bytes), the block interval, the
/// consensus timeouts and the voting period.
#[utoipa::path(get, path = "/v1/governance/params", tag = "governance",
    responses((status = 200, body = ParamsView)))]
pub(crate) async fn params(State(node): AppState) -> ApiResult<Json<ParamsView>> {
    let p = node.executor().params(node.store()).map_err(internal)?;
    Ok(Json(ParamsView {
        deploy_policy: p.deploy_policy.name().into(),
        block_gas_limit: p.block_gas_limit,
        governance_voting_ms: p.voting_ms,
        max_block_txs: p.max_block_txs,
        max_block_bytes: p.max_block_bytes,
        block_interval_ms: p.block_interval_ms,
        empty_block_interval_ms: p.empty_block_interval_ms,
        timeout_propose_ms: p.timeout_propose_ms,
        timeout_vote_ms: p.timeout_vote_ms,
        timeout_delta_ms: p.timeout_delta_ms,
        max_tx_bytes: p.max_tx_bytes,
    }))
}

/// A contract's governance status
///
/// Whether its calls run (`active`), revert until unfrozen (`frozen`) or for good
/// (`revoked`), the code it runs and its upgrades. 404 for an address without code.
#[utoipa::path(get, path = "/v1/governance/contracts/{address}", tag = "governance",
    params(("address" = String, Path, description = "0x hex")),
    responses((status = 200, body = ContractStatusView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn contract_status(
    State(node): AppState,
    PathParams(address): PathParams<String>,
) -> ApiResult<Json<ContractStatusView>> {
    let address = parse_address(&address)?;
    let store = node.store();
    let account = read_account(store, &address).map_err(internal)?;
    let Some(code_hash) = account.code_hash else {
        return Err(ApiError::not_found(format!(
            "{} holds no contract",
            address.to_checksum_hex()
        )));
    };
    let record = governance::contract_record(store, &address).map_err(internal)?;
    Ok(Json(ContractStatusView {
        address: address.to_checksum_hex(),
        status: record.status.name().into(),
        code_hash: code_hash.to_hex(),
        upgrades: record
            .upgrades
            .into_iter()
            .map(|v| ContractVersionView {
                code_hash: v.code_hash.to_hex(),
                height: v.height,
                proposal: v.proposal,
            })
            .collect(),
    }))
}

/// Whether init code is approved
///
/// `hash` is the keccak-256 hash of a deployment's init code (what `POST /v1/simulate`
/// reports as `init_code_hash`).
#[utoipa::path(get, path = "/v1/governance/code/{hash}", tag = "governance",
    params(("hash" = String, Path, description = "0x hex, 32 bytes")),
    responses((status = 200, body = CodeApprovalView), (status = 400, body = ErrorBody)))]
pub(crate) async fn code_approval(
    State(node): AppState,
    PathParams(hash): PathParams<String>,
) -> ApiResult<Json<CodeApprovalView>> {
    let code_hash = parse_hash(&hash)?;
    let approval = governance::code_approval(node.store(), &code_hash).map_err(internal)?;
    Ok(Json(CodeApprovalView {
        code_hash: code_hash.to_hex(),
        approved: approval.is_some(),
        label: approval.as_ref().map(|a| a.label.clone()),
        proposal: approval.as_ref().map(|a| a.proposal),
        height: approval.map(|a| a.height),
    }))
}

/// Gas a dry run may use at most.
const SIMULATE_GAS_CAP: u64 = 50_000_000;

/// Dry-run a transaction
///
/// Runs a call or a deployment on the latest state and keeps nothing: its outcome, gas,
/// events and, for a deployment, the address and code it would create and the hash an
/// approval must name. The chain's deploy policy is ignored (and reported), so code can be
/// tried before it is proposed; the sender's nonce and balance for gas are not checked.
#[utoipa::path(post, path = "/v1/simulate", tag = "governance", request_body = SimulateRequest,
    responses((status = 200, body = SimulationView), (status = 400, body = ErrorBody)))]
pub(crate) async fn simulate(
    State(node): AppState,
    Extension(pool): Extension<QueryPool>,
    JsonBody(req): JsonBody<SimulateRequest>,
) -> ApiResult<Json<SimulationView>> {
    let from = req.from.as_deref().map(parse_address).transpose()?.unwrap_or_default();
    let to = req.to.as_deref().map(parse_address).transpose()?;
    let input = decode_hex("data", &req.data)?;
    let value = match req.value.as_deref() {
        Some(v) => v.parse::<u128>().map_err(|e| {
            ApiError::bad_request("bad_value", format!("`value` is a decimal wei amount: {e}"))
        })?,
        None => 0,
    };
    let init_code_hash = to.is_none().then(|| governance::init_code_hash(&input));
    let reader = Arc::clone(&node);
    let simulation = pool
        .run(move || -> Result<_, String> {
            let store = reader.store();
            let latest = store.latest_height().map_err(|e| e.to_string())?;
            let parent = store
                .header(latest)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("block {latest} is missing"))?;
            let state = store.state_at(latest).map_err(|e| e.to_string())?;
            let executor = reader.executor();
            let cap = executor.params(&*state).map_err(|e| e.to_string())?.block_gas_limit;
            let gas_limit = req.gas.unwrap_or(SIMULATE_GAS_CAP).min(cap).min(SIMULATE_GAS_CAP);
            let call = EvmCall { to, value, input, gas_limit };
            executor.simulate(&*state, call_context(&parent), from, call).map_err(|e| e.to_string())
        })
        .await
        .map_err(internal)?
        .map_err(ApiError::internal)?;
    let (status, gas_used, output, reason) = match simulation.outcome {
        CallOutcome::Success { gas_used, output } => ("success", gas_used, output, None),
        CallOutcome::Revert { gas_used, output } => {
            let reason = revert_reason(&output).unwrap_or_else(|| "execution reverted".into());
            ("reverted", gas_used, output, Some(reason))
        }
        CallOutcome::Halt { gas_used, reason } => ("halted", gas_used, vec![], Some(reason)),
        CallOutcome::Invalid(reason) => ("invalid", 0, vec![], Some(reason)),
    };
    Ok(Json(SimulationView {
        status: status.into(),
        gas_used,
        output: hex0x(&output),
        reason,
        events: simulation.events.iter().map(event_view).collect(),
        contract_address: simulation.created.map(|(a, _)| a.to_checksum_hex()),
        code_hash: simulation.created.map(|(_, h)| h.to_hex()),
        init_code_hash: init_code_hash.map(|h| h.to_hex()),
        deploy_refusal: simulation.deploy_refusal,
    }))
}
