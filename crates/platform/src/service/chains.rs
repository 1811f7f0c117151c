//! The chain wizard of the seed's Tencent platform, resumable at any step because every step
//! is a row:
//!
//! 1. create the chain in a consortium (name, consensus, crypto suite, block parameters; the
//!    chain id exists at once);
//! 2. add nodes (per organization, on one of its hosts);
//! 3. invite member organizations of the consortium, who bring their own nodes;
//! 4. start (`service::start`).
//!
//! A chain's view says which step is next and what still keeps it from starting. Steps that
//! change a chain lock its row first, so none of them interleaves with another or with the
//! start: a node is either refused or part of the chain that starts.

use consortia_api::platform::{
    AddNodeRequest, Allocation, BLOCK_INTERVAL_MS, ChainNodeView, ChainStatus, ChainView,
    Consensus, ContractPolicy, CreateChainRequest, CryptoSuite, MAX_BASE_FEE_PER_GAS,
    MAX_BLOCK_TXS, NextStep, NodeAccess, NodeRole, StartProgress, StartStep,
};
use consortia_types::config::{CorsOrigin, LOCAL_CORS_ORIGINS};
use rand_core::{OsRng, RngCore};

use super::check_name;
use crate::provision::NodeApi;
use std::sync::Arc;

use super::governance::check_free_ports;
use super::identity::Caller;
use super::orgs::choose_org;
use crate::error::{Error, Result};
use crate::store::Tx;
use crate::store::chains::{self as store, ChainRecord, NewChain, NewNode, NodeRow};
use crate::{Platform, lock};

/// A node's name on its host: unique across chains.
pub fn spec_name(chain: &str, node: &str) -> String {
    format!("{chain}-{node}")
}

/// What the validator count must satisfy, as a problem if it does not.
pub fn validator_problem(consensus: Consensus, validators: usize) -> Option<String> {
    match consensus {
        Consensus::Bft if validators < 4 => {
            Some(format!("BFT needs at least 4 validators; it has {validators}"))
        }
        Consensus::Raft if validators < 3 => {
            Some(format!("Raft needs at least 3 validators; it has {validators}"))
        }
        Consensus::Solo if validators != 1 => {
            Some(format!("solo runs exactly 1 validator; it has {validators}"))
        }
        _ => None,
    }
}

/// A node's view: its REST URL once its port is known, and what it may use.
fn node_view(n: &NodeRow, https: bool) -> ChainNodeView {
    let scheme = if https { "https" } else { "http" };
    let ip = n.address.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let at = |port: Option<u16>| port.map(|p| std::net::SocketAddr::new(ip, p));
    ChainNodeView {
        id: n.id.clone(),
        name: n.name.clone(),
        org_id: n.org_id.clone(),
        host_id: n.host_id.clone(),
        role: n.role,
        http_url: at(n.http_port).map(|a| format!("{scheme}://{a}")),
        p2p_address: at(n.p2p_port).map(|a| a.to_string()),
        memory_mib: n.memory_mib.unwrap_or(crate::provision::NODE_MEMORY_MIB),
        cpu_millis: n.cpu_millis,
    }
}

/// 409 `illegal_step` unless the chain is still being configured.
fn configuring(id: &str, status: ChainStatus) -> Result<()> {
    if status == ChainStatus::Configuring {
        Ok(())
    } else {
        Err(Error::illegal_step(format!("chain {id} is {status}; it can no longer be configured")))
    }
}

/// Locks the chain for a configuration step (404 if unknown, 409 unless configuring).
async fn lock_configuring(tx: &mut Tx, id: &str) -> Result<()> {
    let status = store::lock_chain(tx, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no chain {id}")))?;
    configuring(id, status)
}

fn check_node_name(name: &str) -> Result<()> {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(Error::invalid(
            "bad_name",
            "node names use letters, digits, `-` and `_` (they name directories and certificates)",
        ))
    }
}

impl Platform {
    /// How far the latest start of a chain this process ran has come.
    pub(crate) fn start_progress(&self, chain: &str) -> Option<StartProgress> {
        lock(&self.starts).get(chain).cloned()
    }

    /// Records how far a start has come (a new start begins with `Preparing`).
    pub(crate) fn set_progress(&self, chain: &str, step: StartStep, done: usize, total: usize) {
        let mut starts = lock(&self.starts);
        let started_ms = match (step, starts.get(chain)) {
            (StartStep::Preparing, _) | (_, None) => crate::store::now_ms(),
            (_, Some(p)) => p.started_ms,
        };
        starts.insert(chain.to_owned(), StartProgress { step, done, total, started_ms });
    }

    /// A chain's record as the database holds it (404 if unknown).
    pub(crate) async fn chain_record(&self, id: &str) -> Result<ChainRecord> {
        store::chain(&mut *self.db.acquire().await?, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no chain {id}")))
    }

    /// A chain as the API shows it: with the wizard's next step, its problems, and the
    /// progress of a start this process runs.
    pub(crate) fn chain_view(&self, record: ChainRecord) -> ChainView {
        let ChainRecord { chain, orgs, nodes } = record;
        let https = chain.node_https;
        let validators = nodes.iter().filter(|n| n.role == NodeRole::Validator).count();
        let problems: Vec<String> =
            validator_problem(chain.consensus, validators).into_iter().collect();
        let next_step = match (chain.status, problems.is_empty()) {
            (ChainStatus::Configuring, false) => NextStep::AddNodes,
            (ChainStatus::Configuring, true) => NextStep::InviteOrStart,
            _ => NextStep::None,
        };
        let progress = match chain.status {
            ChainStatus::Starting => self.start_progress(&chain.id),
            _ => None,
        };
        ChainView {
            id: chain.id,
            consortium_id: chain.consortium_id,
            name: chain.name,
            chain_id: chain.chain_id,
            consensus: chain.consensus,
            suite: chain.suite,
            max_block_txs: chain.max_block_txs,
            block_interval_ms: chain.block_interval_ms,
            deploy_policy: chain.deploy_policy,
            base_fee_per_gas: chain.base_fee_per_gas,
            allocations: chain.allocations,
            cors_origins: chain.cors_origins,
            node_access: chain.node_access,
            node_https: chain.node_https,
            status: chain.status,
            orgs,
            nodes: nodes.iter().map(|n| node_view(n, https)).collect(),
            next_step,
            problems,
            failure: chain.failure,
            progress,
        }
    }

    pub(crate) async fn load_chain(&self, id: &str) -> Result<ChainView> {
        Ok(self.chain_view(self.chain_record(id).await?))
    }

    /// The chain, and 403 unless the caller is in one of its organizations.
    pub(crate) async fn visible_chain(&self, caller: &Caller, id: &str) -> Result<ChainView> {
        let chain = self.load_chain(id).await?;
        if caller.admin {
            return Ok(chain);
        }
        for org in &chain.orgs {
            if self.role_in(&caller.user_id, org).await?.is_some() {
                return Ok(chain);
            }
        }
        Err(Error::Forbidden(format!(
            "none of your organizations takes part in chain {}",
            chain.name
        )))
    }

    /// 403 unless the caller may do `action` in one of the chain's organizations.
    pub(crate) async fn allowed_in_any_org(
        &self,
        caller: &Caller,
        chain: &ChainView,
        action: &str,
    ) -> Result<()> {
        if caller.admin {
            return Ok(());
        }
        for org in &chain.orgs {
            let resource = format!("org/{org}/chains/{}", chain.id);
            if self.may(caller, org, action, &resource).await {
                return Ok(());
            }
        }
        Err(Error::Forbidden(format!(
            "no organization of yours in chain {} allows you {action}",
            chain.name
        )))
    }

    /// 403 unless `org` takes part in the chain and the caller may do `action` on its `area`
    /// (`contracts`, `governance`).
    pub(crate) async fn authorize_in_chain(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
        chain: &ChainView,
        area: &str,
    ) -> Result<()> {
        if !chain.orgs.iter().any(|o| o == org) {
            return Err(Error::NotParticipating { org: org.into(), chain: chain.id.clone() });
        }
        let resource = format!("org/{org}/chains/{}/{area}", chain.id);
        self.authorize(caller, org, action, &resource).await
    }

    /// The organization the caller acts for on `chain` (see [`choose_org`]), once `action` on
    /// its `area` is authorized there.
    pub(crate) async fn acting_on_chain(
        &self,
        caller: &Caller,
        chain: &ChainView,
        requested: Option<&str>,
        action: &str,
        area: &str,
    ) -> Result<String> {
        let mine = self.own_orgs_among(caller, &chain.orgs).await?;
        let eligible = |o: &str| chain.orgs.iter().any(|c| c == o);
        let org = choose_org(&mine, eligible, requested, caller.admin, &chain.id)?;
        self.authorize_in_chain(caller, &org, action, chain, area).await?;
        Ok(org)
    }

    /// A running chain the caller may read (`chain:get` in one of its organizations).
    pub(crate) async fn readable_chain(&self, caller: &Caller, id: &str) -> Result<ChainView> {
        let chain = self.visible_chain(caller, id).await?;
        if chain.status != ChainStatus::Running {
            return Err(Error::illegal_step(format!(
                "chain {id} is {}; it answers once it runs",
                chain.status
            )));
        }
        self.allowed_in_any_org(caller, &chain, "chain:get")
            .await
            .map_err(|_| Error::Forbidden(format!("you may not read chain {}", chain.name)))?;
        Ok(chain)
    }

    /// Step 1: a chain in a consortium, with its chain id.
    pub async fn create_chain(
        &self,
        caller: &Caller,
        req: &CreateChainRequest,
    ) -> Result<ChainView> {
        let name = check_name("chain", &req.name)?;
        let max_block_txs = req.max_block_txs.unwrap_or(2_000);
        let interval = req.block_interval_ms.unwrap_or(20);
        if !MAX_BLOCK_TXS.contains(&max_block_txs) || !BLOCK_INTERVAL_MS.contains(&interval) {
            return Err(Error::invalid(
                "bad_parameters",
                "max_block_txs is 1 to 100,000 and block_interval_ms 1 to 10,000",
            ));
        }
        let base_fee_per_gas = req.base_fee_per_gas.unwrap_or(1);
        if !(0..=MAX_BASE_FEE_PER_GAS).contains(&base_fee_per_gas) {
            return Err(Error::invalid(
                "bad_parameters",
                format!("base_fee_per_gas is 0 to {MAX_BASE_FEE_PER_GAS} wei"),
            ));
        }
        check_allocations(&req.allocations)?;
        let cors_origins = req
            .cors_origins
            .clone()
            .unwrap_or_else(|| LOCAL_CORS_ORIGINS.map(String::from).to_vec());
        CorsOrigin::validate_all(&cors_origins)
            .map_err(|e| Error::invalid("bad_cors_origins", e))?;
        self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}/consortiums/{}", req.org_id, req.consortium_id);
        self.authorize(caller, &req.org_id, "chain:create", &resource).await?;
        self.consortium_member(&req.consortium_id, &req.org_id).await?;
        let new = NewChain {
            consortium: &req.consortium_id,
            org: &req.org_id,
            name,
            // A random chain id (as Ethereum's are chosen), well clear of public networks'.
            chain_id: i64::from(OsRng.next_u32() >> 1).max(100_000),
            consensus: req.consensus,
            suite: req.suite.unwrap_or(CryptoSuite::Standard),
            max_block_txs,
            block_interval_ms: interval,
            deploy_policy: req.deploy_policy.unwrap_or(ContractPolicy::Approved),
            base_fee_per_gas,
            allocations: &req.allocations,
            cors_origins: &cors_origins,
            node_access: req.node_access.unwrap_or(NodeAccess::Members),
            node_https: req.node_https.unwrap_or(false),
            created_by: &caller.user_id,
        };
        let mut tx = self.db.begin().await?;
        super::consortiums::lock_live(&mut tx, &req.consortium_id).await?;
        let id = store::insert_chain(&mut tx, &new).await.map_err(|e| {
            e.duplicate_as("conflict", format!("the consortium already has a chain {name}"))
        })?;
        tx.commit().await?;
        self.load_chain(&id).await
    }

    /// The chains the caller's organizations take part in (all for an administrator).
    pub async fn chains(&self, caller: &Caller) -> Result<Vec<ChainView>> {
        let ids = store::ids_for(&self.db, &caller.user_id, caller.admin).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.load_chain(&id).await?);
        }
        Ok(out)
    }

    /// A chain, for the members of its organizations.
    pub async fn chain(&self, caller: &Caller, id: &str) -> Result<ChainView> {
        self.visible_chain(caller, id).await
    }

    /// Step 3: a member organization of the consortium takes part (it brings its own nodes).
    /// On a running chain the organization the caller acts for (`as_org`) proposes it to the
    /// chain's governance ([`Platform::invite_to_running_chain`]).
    pub async fn invite_org(
        &self,
        caller: &Caller,
        id: &str,
        org: &str,
        as_org: Option<&str>,
    ) -> Result<ChainView> {
        let chain = self.visible_chain(caller, id).await?;
        if chain.status == ChainStatus::Running {
            return self.invite_to_running_chain(caller, &chain, org, as_org).await;
        }
        configuring(id, chain.status)?;
        self.allowed_in_any_org(caller, &chain, "chain:invite").await?;
        self.consortium_member(&chain.consortium_id, org).await?;
        let mut tx = self.db.begin().await?;
        lock_configuring(&mut tx, id).await?;
        store::insert_chain_org(&mut *tx, id, org)
            .await
            .map_err(|e| e.duplicate_as("conflict", format!("{org} already takes part")))?;
        tx.commit().await?;
        self.load_chain(id).await
    }

    /// Step 2: a node of a participating organization on one of its hosts.
    pub async fn add_node(
        &self,
        caller: &Caller,
        id: &str,
        req: &AddNodeRequest,
    ) -> Result<ChainView> {
        let chain = self.load_chain(id).await?;
        if chain.status != ChainStatus::Running {
            configuring(id, chain.status)?;
        }
        if !chain.orgs.contains(&req.org_id) {
            return Err(Error::NotParticipating { org: req.org_id.clone(), chain: id.into() });
        }
        self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}/chains/{id}/nodes", req.org_id);
        self.authorize(caller, &req.org_id, "node:create", &resource).await?;
        let host = store::host(&self.db, &req.host_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no host {}", req.host_id)))?;
        if host.org_id != req.org_id {
            return Err(Error::invalid(
                "foreign_host",
                format!("host {} belongs to another organization", req.host_id),
            ));
        }
        let name = match &req.name {
            Some(n) => check_name("node", n)?.to_owned(),
            None => format!("node-{}", chain.nodes.len()),
        };
        check_node_name(&name)?;
        check_chosen_ports(req)?;
        check_resources(req)?;
        if chain.status == ChainStatus::Running {
            return self.add_node_to_running_chain(&chain, req, &name).await;
        }
        let mut tx = self.db.begin().await?;
        lock_configuring(&mut tx, id).await?;
        check_free_ports(&mut tx, req).await?;
        let new = NewNode {
            chain: id,
            org: &req.org_id,
            host: &req.host_id,
            name: &name,
            role: req.role.unwrap_or(NodeRole::Validator),
            http_port: req.http_port,
            p2p_port: req.p2p_port,
            memory_mib: req.memory_mib,
            cpu_millis: req.cpu_millis,
        };
        store::insert_node(&mut *tx, &new).await.map_err(|e| {
            e.duplicate_as("conflict", format!("chain {id} already has a node {name}"))
        })?;
        tx.commit().await?;
        self.load_chain(id).await
    }

    /// Removes a node from a chain that has not started (step 2 undone); on a running chain,
    /// proposes its removal ([`Platform::remove_node_from_running_chain`]).
    pub async fn remove_node(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        node: &str,
    ) -> Result<ChainView> {
        let chain = self.visible_chain(caller, id).await?;
        let found = chain
            .node(node)
            .ok_or_else(|| Error::NotFound(format!("no node {node} in chain {id}")))?;
        let resource = format!("org/{}/nodes/{}", found.org_id, found.id);
        self.authorize(caller, &found.org_id, "node:delete", &resource).await?;
        if chain.status == ChainStatus::Running {
            return self.remove_node_from_running_chain(&chain, found).await;
        }
        configuring(id, chain.status)?;
        let mut tx = self.db.begin().await?;
        lock_configuring(&mut tx, id).await?;
        store::delete_node(&mut *tx, id, &found.id).await?;
        tx.commit().await?;
        self.load_chain(id).await
    }
}

/// Refuses chosen ports that are 0 or equal.
fn check_chosen_ports(req: &AddNodeRequest) -> Result<()> {
    if [req.http_port, req.p2p_port].contains(&Some(0)) {
        return Err(Error::invalid(
            "bad_port",
            "a port is 1 to 65535 (omit it to have one picked)",
        ));
    }
    if req.http_port.is_some() && req.http_port == req.p2p_port {
        return Err(Error::invalid("bad_port", "the HTTP and P2P ports must differ"));
    }
    Ok(())
}

/// 400 `bad_resources` unless the memory is 128 MiB to 64 GiB and the CPU 0.1 to 64 cores.
fn check_resources(req: &AddNodeRequest) -> Result<()> {
    if req.memory_mib.is_some_and(|m| !(128..=65_536).contains(&m)) {
        return Err(Error::invalid("bad_resources", "memory_mib is 128 to 65536"));
    }
    if req.cpu_millis.is_some_and(|c| !(100..=64_000).contains(&c)) {
        return Err(Error::invalid("bad_resources", "cpu_millis is 100 to 64000"));
    }
    Ok(())
}

/// Genesis allocations: valid addresses, each once, with decimal wei balances.
fn check_allocations(allocations: &[Allocation]) -> Result<()> {
    let mut problems = vec![];
    let mut seen = std::collections::HashSet::new();
    for a in allocations {
        match consortia_crypto::Address::from_hex(&a.address) {
            Ok(address) if !seen.insert(address) => {
                problems.push(format!("{} is allocated twice", a.address));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("allocation address `{}`: {e}", a.address)),
        }
        if a.balance.parse::<u128>().is_err() {
            problems.push(format!("allocation balance `{}` is not a wei amount", a.balance));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid("bad_allocations", problems.join("; ")))
    }
}

/// The settings of a chain's node APIs, as its nodes' configuration has them.
pub(crate) fn node_api(cors_origins: &[String], access: NodeAccess, https: bool) -> NodeApi {
    use consortia_types::config::Access;
    let access = match access {
        NodeAccess::Members => Access::Members,
        NodeAccess::PublicReads => Access::PublicReads,
        NodeAccess::Open => Access::Open,
    };
    NodeApi { cors_origins: cors_origins.to_vec(), access, https }
}
