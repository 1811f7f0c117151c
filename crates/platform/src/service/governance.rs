//! On-chain governance of running chains through the platform. Proposals and votes are
//! transactions to the chain's governance contract (`contracts/system/IGovernance.sol`),
//! signed with the key the platform keeps for the organization the caller acts for: the key
//! genesis (or an executed `add_member`) made that organization's admin account. Reads are the
//! nodes' governance API. Anyone can also vote with their own wallet through the ABI.
//!
//! Running chains change through the same doors as the wizard: inviting an organization
//! proposes it as a member; adding a node provisions and starts it on its host, then proposes
//! it; removing a node proposes its removal and stops it once the removal executed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy_sol_types::{SolCall, SolEvent};
use consortia_api::node::{ActionView, ProposalListView, ProposalView, ProposalsQuery};
use consortia_api::platform::{
    AddNodeRequest, ChainNodeView, ChainProposalsQuery, ChainStatus, ChainView, ChangeRequest,
    NodeRole, ProposalVoteRequest, ProposeRequest, TxResult,
};
use consortia_api::{ClientError, ClientResult, NodeClient};
use consortia_crypto::{Address, Hash};
use consortia_hosts::Wanted;
use consortia_types::Genesis;
use serde_json::Value;

use super::abi::receipt_logs;
use super::chains::{node_api, spec_name};
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::provision::{self, NodePlan};
use crate::store::Tx;
use crate::store::chains::{self as store, NewNode};
use crate::store::{consortiums as consortium_store, now_ms};

alloy_sol_types::sol!("../../contracts/system/IGovernance.sol");

/// The governance contract's address, as alloy spells it.
fn governance() -> alloy_primitives::Address {
    consortia_types::GOVERNANCE_ADDRESS.0.into()
}

fn address(what: &str, text: &str) -> Result<alloy_primitives::Address> {
    let parsed: Address = text.parse().map_err(|e| {
        Error::invalid("bad_address", format!("{what} `{text}` is not an address: {e}"))
    })?;
    Ok(parsed.0.into())
}

/// The governance call that proposes `change`.
fn call_data(change: &ChangeRequest) -> Result<Vec<u8>> {
    use IGovernance as G;
    Ok(match change {
        ChangeRequest::RemoveMember { org } => {
            G::proposeRemoveMemberCall { org: org.clone() }.abi_encode()
        }
        ChangeRequest::RemoveNode { name } => {
            G::proposeRemoveNodeCall { name: name.clone() }.abi_encode()
        }
        ChangeRequest::SetPower { name, power } => {
            G::proposeSetPowerCall { name: name.clone(), power: *power }.abi_encode()
        }
        ChangeRequest::SetPolicy { kind, rule, n, leader } => {
            let number = |names: &[&str], name: &str, what: &str| {
                names.iter().position(|k| *k == name).map(|i| i as u8).ok_or_else(|| {
                    Error::invalid(
                        "bad_policy",
                        format!("{what} `{name}` is not one of {}", names.join(", ")),
                    )
                })
            };
            G::proposeSetPolicyCall {
                kind: number(&consortia_types::GOVERNANCE_KINDS, kind, "kind")?,
                rule: number(&consortia_types::GOVERNANCE_RULES, rule, "rule")?,
                n: *n,
                leader: leader.clone(),
            }
            .abi_encode()
        }
        ChangeRequest::ApproveCode { code_hash, label } => {
            let hash = Hash::from_hex(code_hash)
                .map_err(|e| Error::invalid("bad_hash", format!("code_hash `{code_hash}`: {e}")))?;
            G::proposeApproveCodeCall { codeHash: hash.0.into(), label: label.clone() }.abi_encode()
        }
        ChangeRequest::Upgrade { contract, implementation } => G::proposeUpgradeCall {
            target: address("contract", contract)?,
            implementation: address("implementation", implementation)?,
        }
        .abi_encode(),
        ChangeRequest::Freeze { contract } => {
            G::proposeFreezeCall { target: address("contract", contract)? }.abi_encode()
        }
        ChangeRequest::Unfreeze { contract } => {
            G::proposeUnfreezeCall { target: address("contract", contract)? }.abi_encode()
        }
        ChangeRequest::Revoke { contract } => {
            G::proposeRevokeCall { target: address("contract", contract)? }.abi_encode()
        }
        ChangeRequest::SetParameter { name, value } => {
            G::proposeSetParameterCall { name: name.clone(), value: *value }.abi_encode()
        }
    })
}

/// The id in a receipt's `ProposalCreated` event.
fn proposal_id(receipt: &Value) -> Option<u64> {
    receipt_logs(receipt).into_iter().find_map(|(topics, _)| {
        if topics.first() != Some(&IGovernance::ProposalCreated::SIGNATURE_HASH) {
            return None;
        }
        u64::try_from(alloy_primitives::U256::from_be_bytes(topics.get(1)?.0)).ok()
    })
}

/// A node's refusal as the platform's error.
fn node_error(e: ClientError) -> Error {
    match &e {
        ClientError::Refused { status: 404, body, .. } => Error::NotFound(body.message.clone()),
        ClientError::Refused { status: 400, body, .. } => {
            Error::invalid("bad_request", body.message.clone())
        }
        _ => Error::Upstream { code: "chain_failed", message: e.to_string() },
    }
}

impl Platform {
    /// A read from the first node of the chain that answers.
    pub(crate) async fn governance_read<T, F, Fut>(&self, chain: &ChainView, read: F) -> Result<T>
    where
        F: Fn(NodeClient) -> Fut,
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        self.on_any_node(chain, read).await?.map_err(node_error)
    }

    /// A running chain's proposals, newest first.
    pub async fn chain_proposals(
        &self,
        caller: &Caller,
        chain: &str,
        query: &ChainProposalsQuery,
    ) -> Result<ProposalListView> {
        let chain = self.readable_chain(caller, chain).await?;
        let query = ProposalsQuery { status: query.status.clone(), ..Default::default() };
        let query = &query;
        self.governance_read(&chain, |node| async move { node.proposals(query).await }).await
    }

    /// One proposal of a running chain.
    pub async fn chain_proposal(
        &self,
        caller: &Caller,
        chain: &str,
        id: u64,
    ) -> Result<ProposalView> {
        let chain = self.readable_chain(caller, chain).await?;
        self.governance_read(&chain, |node| async move { node.proposal(id).await }).await
    }

    /// The organization the caller acts for in the chain's governance (`requested`, or their
    /// only one in the chain), once `chain:govern` is authorized there.
    async fn governing_org(
        &self,
        caller: &Caller,
        chain: &ChainView,
        requested: Option<&str>,
    ) -> Result<String> {
        self.acting_on_chain(caller, chain, requested, "chain:govern", "governance").await
    }

    /// Proposes a change for the organization the caller acts for.
    pub async fn propose(
        self: &Arc<Self>,
        caller: &Caller,
        chain: &str,
        req: &ProposeRequest,
    ) -> Result<ProposalView> {
        let chain = self.readable_chain(caller, chain).await?;
        let org = self.governing_org(caller, &chain, Some(&req.org_id)).await?;
        let proposal = self.propose_as(&chain, &org, call_data(&req.change)?).await?;
        if let ChangeRequest::RemoveMember { org } = &req.change {
            self.follow(&chain.id, proposal.clone(), Settle::DropOrg(org.clone()));
        }
        Ok(proposal)
    }

    /// Sends the governance call `input` (a `propose…`) signed for `org`: the proposal made.
    pub(crate) async fn propose_as(
        &self,
        chain: &ChainView,
        org: &str,
        input: Vec<u8>,
    ) -> Result<ProposalView> {
        let receipt = self.govern(chain, org, input).await?;
        let id = proposal_id(&receipt)
            .ok_or_else(|| Error::internal("a proposal's receipt without ProposalCreated"))?;
        self.governance_read(chain, |node| async move { node.proposal(id).await }).await
    }

    /// Proposes approving init code with keccak-256 `code_hash` for `org`.
    pub(crate) async fn propose_code_approval(
        &self,
        chain: &ChainView,
        org: &str,
        code_hash: [u8; 32],
        label: &str,
    ) -> Result<ProposalView> {
        let change =
            ChangeRequest::ApproveCode { code_hash: Hash(code_hash).to_hex(), label: label.into() };
        self.propose_as(chain, org, call_data(&change)?).await
    }

    /// Makes sure the chain's deploy policy lets `org` deploy `init_code`: nothing to do on an
    /// `open` chain or for approved code; otherwise `org` proposes approving it (once: an open
    /// proposal for the same code is reused). Ok once approved (a chain whose policy `org`
    /// meets alone decides at once); 409 `approval_pending`, naming the proposal, while the
    /// members vote.
    pub(crate) async fn approve_deployment(
        &self,
        chain: &ChainView,
        org: &str,
        init_code: &[u8],
        label: &str,
    ) -> Result<()> {
        let params = self.governance_read(chain, |n| async move { n.params().await }).await?;
        if params.deploy_policy != "approved" {
            return Ok(());
        }
        let hash = alloy_primitives::keccak256(init_code).0;
        let hex = &Hash(hash).to_hex();
        let approval =
            self.governance_read(chain, |n| async move { n.code_approval(hex).await }).await?;
        if approval.approved {
            return Ok(());
        }
        let query = &ProposalsQuery { status: Some("open".into()), ..Default::default() };
        let open = self.governance_read(chain, |n| async move { n.proposals(query).await }).await?;
        let proposal = match open.proposals.into_iter().find(
            |p| matches!(&p.action, ActionView::ApproveCode { code_hash, .. } if code_hash == hex),
        ) {
            Some(p) => p,
            None => self.propose_code_approval(chain, org, hash, label).await?,
        };
        if proposal.status == "executed" {
            return Ok(());
        }
        let approvals = proposal.votes.iter().filter(|v| v.approve).count();
        Err(Error::conflict(
            "approval_pending",
            format!(
                "deploying {label} needs the chain members' approval: proposal #{} ({}) has {approvals} of {} approvals; deploy again once it executed",
                proposal.id, proposal.summary, proposal.approvals_needed
            ),
        ))
    }

    /// Sends a governance call signed for `org`; a refusal carries the contract's reason.
    async fn govern(&self, chain: &ChainView, org: &str, input: Vec<u8>) -> Result<Value> {
        let (outcome, receipt) =
            self.transact(chain, org, Some(governance()), 0, input).await.map_err(|e| match e {
                Error::Invalid { code: "would_revert", message } => {
                    Error::conflict("governance_refused", message)
                }
                other => other,
            })?;
        if outcome.status != TxResult::Success {
            return Err(Error::conflict(
                "governance_refused",
                format!("the governance call reverted in transaction {}", outcome.tx_hash),
            ));
        }
        Ok(receipt)
    }

    /// Casts the vote of the organization the caller acts for.
    pub async fn vote_on_proposal(
        &self,
        caller: &Caller,
        chain: &str,
        id: u64,
        req: &ProposalVoteRequest,
    ) -> Result<ProposalView> {
        let chain = self.readable_chain(caller, chain).await?;
        let org = self.governing_org(caller, &chain, Some(&req.org_id)).await?;
        let input = IGovernance::voteCall { id, approve: req.approve }.abi_encode();
        self.govern(&chain, &org, input).await?;
        self.governance_read(&chain, |node| async move { node.proposal(id).await }).await
    }
}

/// What the platform does once a proposal it made for a running chain executed.
#[derive(Debug)]
enum Settle {
    /// Stop and delete the removed node (after its last signing height).
    DropNode(ChainNodeView),
    /// The organization left the chain: it no longer takes part on the platform.
    DropOrg(String),
}

/// How often a proposal the platform follows is polled.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

impl Platform {
    /// Invites `org` onto a running chain: the organization the caller acts for (`as_org`)
    /// proposes it as a member, voting with the key the platform keeps for it and trusted for
    /// its CA, and (on a chain that charges gas) funds the new member's account from its own. It takes part on the platform at once (it sees the chain, prepares its nodes);
    /// on chain it governs, and its nodes may be added, once the proposal executed.
    pub(crate) async fn invite_to_running_chain(
        &self,
        caller: &Caller,
        chain: &ChainView,
        org: &str,
        as_org: Option<&str>,
    ) -> Result<ChainView> {
        self.consortium_member(&chain.consortium_id, org).await?;
        if chain.orgs.iter().any(|o| o == org) {
            return Err(Error::conflict("conflict", format!("{org} already takes part")));
        }
        let acting = self.governing_org(caller, chain, as_org).await?;
        let admin = self.org_key(org).await?.public_key().address();
        let (_, ca_cert, _) =
            consortium_store::member_ca(&self.db, &chain.consortium_id, org).await?;
        let input = IGovernance::proposeAddMemberCall {
            org: org.to_owned(),
            admins: vec![admin.0.into()],
            caCert: ca_cert,
        }
        .abi_encode();
        self.propose_as(chain, &acting, input).await?;
        self.fund_new_member(chain, &acting, admin).await?;
        store::insert_chain_org(&self.db, &chain.id, org)
            .await
            .map_err(|e| e.duplicate_as("conflict", format!("{org} already takes part")))?;
        self.load_chain(&chain.id).await
    }

    /// Adds a node to a running chain: provisioned with the chain's genesis and certified by
    /// its organization's CA, started on its host (it syncs, refused by its peers until
    /// admitted), then proposed by its organization. Undone if any step fails.
    pub(crate) async fn add_node_to_running_chain(
        &self,
        chain: &ChainView,
        req: &AddNodeRequest,
        name: &str,
    ) -> Result<ChainView> {
        let genesis = store::genesis(&self.db, &chain.id).await?.ok_or_else(|| {
            Error::illegal_step(format!(
                "chain {} started before the platform kept its genesis; add nodes with `consortia gov propose add-node`",
                chain.id
            ))
        })?;
        let genesis: Genesis = serde_json::from_str(&genesis).map_err(Error::internal)?;
        let role = req.role.unwrap_or(NodeRole::Validator);
        let mut tx = self.db.begin().await?;
        match store::lock_chain(&mut tx, &chain.id).await? {
            Some(ChainStatus::Running) => {}
            _ => return Err(Error::illegal_step(format!("chain {} is not running", chain.id))),
        }
        check_free_ports(&mut tx, req).await?;
        let new = NewNode {
            chain: &chain.id,
            org: &req.org_id,
            host: &req.host_id,
            name,
            role,
            http_port: req.http_port,
            p2p_port: req.p2p_port,
            memory_mib: req.memory_mib,
            cpu_millis: req.cpu_millis,
        };
        let node = store::insert_node(&mut *tx, &new).await.map_err(|e| {
            e.duplicate_as("conflict", format!("chain {} already has a node {name}", chain.id))
        })?;
        tx.commit().await?;
        if let Err(e) = self.join_node(chain, &genesis, &node, name, req, role).await {
            if let Ok(driver) = self.driver(&req.host_id).await {
                let _ = driver.remove(&spec_name(&chain.id, name)).await;
            }
            store::delete_node(&self.db, &chain.id, &node).await?;
            return Err(e);
        }
        self.load_chain(&chain.id).await
    }

    async fn join_node(
        &self,
        chain: &ChainView,
        genesis: &Genesis,
        node: &str,
        name: &str,
        req: &AddNodeRequest,
        role: NodeRole,
    ) -> Result<()> {
        let host = store::host(&self.db, &req.host_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no host {}", req.host_id)))?;
        let ip: IpAddr = host.address.parse().map_err(Error::internal)?;
        let driver = self.driver(&req.host_id).await?;
        let failed = |e: &dyn std::fmt::Display| Error::Upstream {
            code: "start_failed",
            message: format!("node {name}: {e}"),
        };
        let spec_name = spec_name(&chain.id, name);
        let wanted = Wanted { name: spec_name.clone(), ports: [req.http_port, req.p2p_port] };
        let placed = driver.place(&chain.id, ip, &[wanted]).await.map_err(|e| failed(&e))?;
        let [http, p2p] = placed[0];
        let issuer = self.chain_org_ca(chain, &req.org_id).await?;
        let (_, ca_cert, _) = consortium_store::ca(&self.db, &chain.consortium_id).await?;
        let secret = self.new_key_secret(node).await?;
        let plan = NodePlan {
            name: name.to_owned(),
            spec_name: spec_name.clone(),
            group: chain.id.clone(),
            org: req.org_id.clone(),
            resources: provision::resources(req.memory_mib, req.cpu_millis),
            validator: role == NodeRole::Validator,
            issuer: &issuer,
            http,
            p2p,
            key_secret: Some(secret.as_str()),
            cert_days: Some(super::certificates::NODE_CERT_DAYS),
        };
        let peers = chain.nodes.iter().filter_map(|n| n.p2p_address.clone()).collect();
        let joining = provision::join(
            &plan,
            genesis,
            &ca_cert,
            peers,
            &node_api(&chain.cors_origins, chain.node_access, chain.node_https),
        )
        .map_err(|e| Error::invalid("bad_genesis", e.to_string()))?;
        driver.create(joining.spec).await.map_err(|e| failed(&e))?;
        let secrets = self.secret_env(&chain.id, name).await?;
        driver.start(&spec_name, &secrets).await.map_err(|e| failed(&e))?;
        store::record_placement(&self.db, node, http, p2p).await?;
        let expires = super::certificates::expiry_ms(super::certificates::NODE_CERT_DAYS);
        store::set_cert_expiry(&self.db, node, expires).await?;
        let input = IGovernance::proposeAddNodeCall {
            name: name.to_owned(),
            org: req.org_id.clone(),
            consensusKey: joining.consensus_key.map(|k| k.to_base64()).unwrap_or_default(),
            power: u64::from(role == NodeRole::Validator),
            tlsKey: joining.tls_key.to_base64(),
        }
        .abi_encode();
        self.propose_as(chain, &req.org_id, input).await?;
        Ok(())
    }

    /// Removes a node of a running chain: its organization proposes the removal, and the
    /// platform stops and deletes the node once the removal executed and the node's last
    /// signing height passed. A node the chain no longer lists goes at once.
    pub(crate) async fn remove_node_from_running_chain(
        self: &Arc<Self>,
        chain: &ChainView,
        node: &ChainNodeView,
    ) -> Result<ChainView> {
        let listed = self
            .governance_read(chain, |n| async move { n.governance_nodes().await })
            .await?
            .iter()
            .any(|n| n.name == node.name);
        if listed {
            let input = IGovernance::proposeRemoveNodeCall { name: node.name.clone() }.abi_encode();
            let proposal = self.propose_as(chain, &node.org_id, input).await?;
            self.follow(&chain.id, proposal, Settle::DropNode(node.clone()));
        } else {
            self.drop_node(&chain.id, node).await?;
        }
        self.load_chain(&chain.id).await
    }

    async fn drop_node(&self, chain: &str, node: &ChainNodeView) -> Result<()> {
        self.driver(&node.host_id)
            .await?
            .remove(&spec_name(chain, &node.name))
            .await
            .map_err(|e| Error::Upstream { code: "host_failed", message: e.to_string() })?;
        store::delete_node(&self.db, chain, &node.id).await
    }

    /// Follows `proposal` until it is decided (or its deadline passed) and, if it executed,
    /// does what `settle` says. A platform restart drops the follow; removing the node again
    /// then finishes it.
    fn follow(self: &Arc<Self>, chain: &str, proposal: ProposalView, settle: Settle) {
        let (platform, chain) = (self.clone(), chain.to_owned());
        tokio::spawn(async move {
            if let Err(e) = platform.settle_when_decided(&chain, proposal, settle).await {
                tracing::warn!(target: "platform::governance", chain = %chain, error = %e, "following a proposal failed");
            }
        });
    }

    /// Polls `proposal` until it is decided or its deadline passed: the proposal if it
    /// executed.
    pub(crate) async fn executed(
        &self,
        chain: &str,
        mut proposal: ProposalView,
    ) -> Result<Option<ProposalView>> {
        let id = proposal.id;
        let give_up = proposal.deadline_ms + 60_000;
        while proposal.status == "open" {
            if now_ms() as u64 > give_up {
                return Ok(None);
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
            let view = self.load_chain(chain).await?;
            if let Ok(p) =
                self.governance_read(&view, |n| async move { n.proposal(id).await }).await
            {
                proposal = p;
            }
        }
        Ok((proposal.status == "executed").then_some(proposal))
    }

    async fn settle_when_decided(
        &self,
        chain: &str,
        proposal: ProposalView,
        settle: Settle,
    ) -> Result<()> {
        let Some(proposal) = self.executed(chain, proposal).await? else { return Ok(()) };
        match settle {
            Settle::DropNode(node) => {
                // The removed node signs up to the deciding block + 2; its peers still count on
                // it until then.
                let last = proposal.decided_height.unwrap_or(0) + 2;
                loop {
                    let view = self.load_chain(chain).await?;
                    let height = self
                        .governance_read(&view, |n| async move { n.status().await })
                        .await
                        .map_or(0, |s| s.height);
                    if height > last {
                        break;
                    }
                    tokio::time::sleep(FOLLOW_EVERY).await;
                }
                self.drop_node(chain, &node).await
            }
            Settle::DropOrg(org) => store::delete_chain_org(&self.db, chain, &org).await,
        }
    }
}

/// 409 `port_taken` if a chosen port is another node's on the same address.
pub(crate) async fn check_free_ports(tx: &mut Tx, req: &AddNodeRequest) -> Result<()> {
    for port in [req.http_port, req.p2p_port].into_iter().flatten() {
        if let Some(node) = store::port_owner(&mut **tx, &req.host_id, port).await? {
            return Err(Error::conflict(
                "port_taken",
                format!("port {port} is already node {node}'s on that address; choose another"),
            ));
        }
    }
    Ok(())
}
