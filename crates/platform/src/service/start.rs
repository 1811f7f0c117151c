//! Step 4 of the chain wizard: start. The platform asks each node's host for ports, makes the
//! provisioning plan (keys, certificates from each organization's CA, genesis, configurations:
//! [`crate::provision`]), hands every node to its host's driver, and waits for the first
//! committed block. After that the chain needs the platform no more.
//!
//! The chain is claimed under its row lock (`configuring` → `starting`) together with a
//! consistent read of its nodes, so of two starts at once exactly one runs, and no node can be
//! added or removed meanwhile. A start runs as a task of its own, so a client that stops
//! waiting does not cut it short; its progress shows in the chain's view. A start the
//! platform did not finish (killed) is undone when it opens again.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use consortia_api::platform::{
    ChainStatus, ChainView, Consensus, ContractPolicy, CryptoSuite, MEMBER_BALANCE, NodeRole,
    StartStep,
};
use consortia_crypto::pki::Ca;
use consortia_crypto::{Address, Suite};
use consortia_hosts::Wanted;
use consortia_types::{ChainParams, ConsensusKind, DeployPolicy, GenesisAccount, GenesisMember};

use super::certificates::NODE_CERT_DAYS;
use super::chains::{node_api, spec_name};
use super::identity::{AUDIT_JOB, Caller};
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::provision::{ChainPlan, NodePlan, plan};
use crate::store::chains::{self as store, ChainRecord};
use crate::store::{consortiums as consortium_store, now_ms};
use crate::{OpenError, Platform};

/// How long a start waits for the first committed block.
const FIRST_BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The reason left on a chain whose start the platform did not finish.
pub const INTERRUPTED: &str =
    "the platform stopped while this chain was starting; its nodes were removed: start it again";

fn start_failed(message: impl Into<String>) -> Error {
    Error::Upstream { code: "start_failed", message: message.into() }
}

impl Platform {
    /// Starts a chain: claims it, then runs the start as a job. With `wait`, answers once
    /// block 1 is committed (or the start failed); without, at once, with the chain
    /// `starting`.
    pub async fn start_chain(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        wait: bool,
    ) -> Result<ChainView> {
        let view = self.visible_chain(caller, id).await?;
        self.allowed_in_any_org(caller, &view, "chain:start").await?;
        let record = self.claim_start(id).await?;
        self.set_progress(id, StartStep::Preparing, 0, record.nodes.len());
        let job = tokio::spawn(run_start(self.clone(), record, caller.username.clone()));
        if wait {
            job.await.map_err(|e| Error::internal(format!("the start failed: {e}")))??;
        }
        self.load_chain(id).await
    }

    /// `configuring` → `starting`, under the chain's row lock, with the nodes read in the same
    /// transaction: the record the start provisions.
    async fn claim_start(&self, id: &str) -> Result<ChainRecord> {
        let mut tx = self.db.begin().await?;
        let status = store::lock_chain(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no chain {id}")))?;
        match status {
            ChainStatus::Configuring => {}
            ChainStatus::Starting => {
                return Err(Error::illegal_step("the chain is already starting"));
            }
            ChainStatus::Running => {
                return Err(Error::illegal_step(format!("chain {id} is running already")));
            }
            ChainStatus::Archived => {
                return Err(Error::illegal_step(format!("chain {id} is archived")));
            }
        }
        let record = store::chain(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no chain {id}")))?;
        let problems = self.chain_view(record.clone()).problems;
        if !problems.is_empty() {
            return Err(Error::conflict(
                "not_ready",
                format!("the chain cannot start yet: {}", problems.join("; ")),
            ));
        }
        store::set_status(&mut *tx, id, ChainStatus::Starting, None).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Removes the nodes a start made and puts the chain back to `configuring` with the reason.
    async fn undo_start(&self, record: &ChainRecord, reason: &str) -> Result<()> {
        for node in &record.nodes {
            if let Ok(driver) = self.driver(&node.host_id).await {
                let _ = driver.remove(&spec_name(&record.chain.id, &node.name)).await;
            }
        }
        store::set_status(&self.db, &record.chain.id, ChainStatus::Configuring, Some(reason)).await
    }

    /// Undoes the starts a previous run of the platform left half done (it was killed, or the
    /// machine went down), so that the chains can be started again.
    pub(crate) async fn undo_interrupted_starts(&self) -> std::result::Result<(), OpenError> {
        for id in store::ids_with_status(&self.db, ChainStatus::Starting).await? {
            let record = self.chain_record(&id).await?;
            tracing::warn!(target: "platform::start", chain = %id, "undoing a start the platform did not finish");
            self.undo_start(&record, INTERRUPTED).await?;
        }
        Ok(())
    }

    /// Where every node listens, chosen by its host (after a preflight): grouped by host, in
    /// the chain's order.
    async fn place(&self, record: &ChainRecord) -> Result<Vec<(SocketAddr, SocketAddr)>> {
        let mut by_host: Vec<(String, IpAddr, Vec<usize>)> = vec![];
        for (i, node) in record.nodes.iter().enumerate() {
            let ip: IpAddr = node.address.parse().map_err(Error::internal)?;
            match by_host.iter_mut().find(|(h, _, _)| *h == node.host_id) {
                Some((_, _, members)) => members.push(i),
                None => by_host.push((node.host_id.clone(), ip, vec![i])),
            }
        }
        let mut out = vec![None; record.nodes.len()];
        for (host, ip, members) in by_host {
            let wanted: Vec<Wanted> = members
                .iter()
                .map(|&i| {
                    let node = &record.nodes[i];
                    let name = spec_name(&record.chain.id, &node.name);
                    Wanted { name, ports: [node.http_port, node.p2p_port] }
                })
                .collect();
            let driver = self.driver(&host).await?;
            driver.preflight().await.map_err(|e| start_failed(format!("host {host}: {e}")))?;
            let placed = driver
                .place(&record.chain.id, ip, &wanted)
                .await
                .map_err(|e| start_failed(format!("host {host}: {e}")))?;
            for (&i, [http, p2p]) in members.iter().zip(placed) {
                out[i] = Some((http, p2p));
            }
        }
        out.into_iter()
            .map(|p| p.ok_or_else(|| Error::internal("a node got no ports from its host")))
            .collect()
    }

    /// The CA of `org` in `consortium` (its identity there), which issues its nodes'
    /// certificates.
    pub(crate) async fn org_ca(&self, consortium: &str, org: &str) -> Result<Ca> {
        let (name, cert, key) = consortium_store::member_ca(&self.db, consortium, org).await?;
        let secret = Secret::MemberCa { consortium: consortium.into(), org: org.into() };
        self.load_org_ca(consortium, &name, &cert, &secret, &key).await
    }

    /// The CA of the organization named `org_name` in `consortium` whose key is `secret`,
    /// sealed as `sealed_key`.
    pub(crate) async fn load_org_ca(
        &self,
        consortium: &str,
        org_name: &str,
        cert: &str,
        secret: &Secret,
        sealed_key: &str,
    ) -> Result<Ca> {
        let (consortium_name, _, _) = consortium_store::ca(&self.db, consortium).await?;
        let key = self.keys()?.open(secret, sealed_key)?;
        Ca::load_member(&consortium_name, org_name, cert, &key)
            .map_err(|e| Error::internal(format!("organization CA: {e}")))
    }

    /// The chain's governing members: each organization running a node, voting with the key
    /// the platform keeps for it (the one that signs its contract transactions), with its CA.
    async fn genesis_members(
        &self,
        record: &ChainRecord,
        org_cas: &HashMap<&str, Ca>,
    ) -> Result<Vec<GenesisMember>> {
        let mut members = Vec::new();
        for org in &record.orgs {
            let key = self.org_key(org).await?;
            members.push(GenesisMember {
                id: org.clone(),
                admins: vec![key.public_key().address()],
                ca_cert: org_cas
                    .get(org.as_str())
                    .map(|ca| ca.cert_pem().to_owned())
                    .unwrap_or_default(),
                nodes: record
                    .nodes
                    .iter()
                    .filter(|n| &n.org_id == org)
                    .map(|n| n.name.clone())
                    .collect(),
            });
        }
        Ok(members)
    }

    /// The chain's allocations, and each member organization's own account with
    /// [`MEMBER_BALANCE`] (its gas for the gateway and governance, and its faucet), unless an
    /// allocation names that account already.
    async fn genesis_accounts(&self, record: &ChainRecord) -> Result<Vec<GenesisAccount>> {
        let mut accounts = Vec::new();
        for a in &record.chain.allocations {
            let address = Address::from_hex(&a.address).map_err(Error::internal)?;
            let balance = a.balance.parse().map_err(Error::internal)?;
            accounts.push(GenesisAccount::funded(address, balance));
        }
        for org in &record.orgs {
            let address = self.org_key(org).await?.public_key().address();
            if !accounts.iter().any(|a| a.address == address) {
                accounts.push(GenesisAccount::funded(address, MEMBER_BALANCE));
            }
        }
        Ok(accounts)
    }

    /// Provisions, creates and starts every node, and waits for block 1; then records the
    /// ports (those of a start that failed are picked afresh by the next).
    async fn launch(&self, record: &ChainRecord) -> Result<()> {
        let chain = &record.chain;
        let (_, ca_cert, _) = consortium_store::ca(&self.db, &chain.consortium_id).await?;
        // Each organization's CA (its identity in the consortium) issues its nodes'
        // certificates.
        let mut org_cas: HashMap<&str, Ca> = HashMap::new();
        for org in &record.orgs {
            org_cas.insert(org, self.org_ca(&chain.consortium_id, org).await?);
        }
        let ports = self.place(record).await?;
        let mut secrets = Vec::with_capacity(record.nodes.len());
        for node in &record.nodes {
            secrets.push(self.new_key_secret(&node.id).await?);
        }
        let mut nodes = Vec::with_capacity(record.nodes.len());
        for ((node, (http, p2p)), secret) in record.nodes.iter().zip(&ports).zip(&secrets) {
            let issuer = org_cas
                .get(node.org_id.as_str())
                .ok_or_else(|| Error::internal(format!("no CA for {}", node.org_id)))?;
            nodes.push(NodePlan {
                name: node.name.clone(),
                spec_name: spec_name(&chain.id, &node.name),
                group: chain.id.clone(),
                org: node.org_id.clone(),
                resources: crate::provision::resources(node.memory_mib, node.cpu_millis),
                validator: node.role == NodeRole::Validator,
                issuer,
                http: *http,
                p2p: *p2p,
                key_secret: Some(secret.as_str()),
                cert_days: Some(NODE_CERT_DAYS),
            });
        }
        let chain_plan = ChainPlan {
            chain_id: chain.chain_id as u64,
            chain_name: chain.name.clone(),
            suite: match chain.suite {
                CryptoSuite::Standard => Suite::Standard,
                CryptoSuite::Sm => Suite::Sm,
            },
            params: ChainParams {
                consensus: match chain.consensus {
                    Consensus::Bft => ConsensusKind::Bft,
                    Consensus::Raft => ConsensusKind::Raft,
                    Consensus::Solo => ConsensusKind::Solo,
                },
                max_block_txs: chain.max_block_txs as u32,
                block_interval_ms: chain.block_interval_ms as u64,
                deploy_policy: match chain.deploy_policy {
                    ContractPolicy::Approved => DeployPolicy::Approved,
                    ContractPolicy::Open => DeployPolicy::Open,
                },
                base_fee_per_gas: u64::try_from(chain.base_fee_per_gas).unwrap_or(0),
                ..ChainParams::default()
            },
            accounts: self.genesis_accounts(record).await?,
            time_ms: now_ms() as u64,
            ca_cert_pem: ca_cert,
            nodes,
            members: self.genesis_members(record, &org_cas).await?,
            api: node_api(&chain.cors_origins, chain.node_access, chain.node_https),
        };
        let plan = plan(&chain_plan).map_err(|e| Error::invalid("bad_genesis", e.to_string()))?;
        let genesis = serde_json::to_string(&plan.genesis).map_err(Error::internal)?;
        store::record_genesis(&self.db, &chain.id, &genesis).await?;
        for (node, spec) in record.nodes.iter().zip(plan.specs) {
            let driver = self.driver(&node.host_id).await?;
            driver
                .create(spec)
                .await
                .map_err(|e| start_failed(format!("node {}: {e}", node.name)))?;
        }
        let total = record.nodes.len();
        for (i, node) in record.nodes.iter().enumerate() {
            self.set_progress(&chain.id, StartStep::StartingNodes, i, total);
            let driver = self.driver(&node.host_id).await?;
            let secrets = self.secret_env(&chain.id, &node.name).await?;
            driver
                .start(&spec_name(&chain.id, &node.name), &secrets)
                .await
                .map_err(|e| start_failed(format!("node {}: {e}", node.name)))?;
        }
        self.wait_for_first_block(record, &ports).await?;
        let expires = super::certificates::expiry_ms(NODE_CERT_DAYS);
        for (node, (http, p2p)) in record.nodes.iter().zip(&ports) {
            store::record_placement(&self.db, &node.id, *http, *p2p).await?;
            store::set_cert_expiry(&self.db, &node.id, expires).await?;
        }
        Ok(())
    }

    /// Polls every node's status until each has committed block 1 (a solo chain cuts no
    /// empty blocks: there, until its node answers).
    async fn wait_for_first_block(
        &self,
        record: &ChainRecord,
        ports: &[(SocketAddr, SocketAddr)],
    ) -> Result<()> {
        let chain = &record.chain.id;
        let deadline = tokio::time::Instant::now() + FIRST_BLOCK_TIMEOUT;
        let total = record.nodes.len();
        let mut waiting: Vec<usize> = (0..total).collect();
        let needed = u64::from(record.chain.consensus != Consensus::Solo);
        let scheme = if record.chain.node_https { "https" } else { "http" };
        loop {
            self.set_progress(chain, StartStep::FirstBlock, total - waiting.len(), total);
            let mut still = vec![];
            for i in waiting {
                let url = format!("{scheme}://{}", ports[i].0);
                if self.poll(chain, &url).await.is_none_or(|s| s.height < needed) {
                    still.push(i);
                }
            }
            waiting = still;
            let Some(&first) = waiting.first() else { return Ok(()) };
            if tokio::time::Instant::now() > deadline {
                let node = &record.nodes[first];
                let driver = self.driver(&node.host_id).await?;
                let log = driver.logs(&spec_name(chain, &node.name), 8).await.unwrap_or_default();
                return Err(start_failed(format!(
                    "{} node(s) had not committed block 1 after {} s; node {} logs: {}",
                    waiting.len(),
                    FIRST_BLOCK_TIMEOUT.as_secs(),
                    node.name,
                    log.join(" | ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs a start to its end, whoever still waits for it: a client that goes away does not
/// leave the chain half started. How it ended is audited as a `JOB` of the user who began it.
async fn run_start(platform: Arc<Platform>, record: ChainRecord, actor: String) -> Result<()> {
    let outcome = match platform.launch(&record).await {
        Ok(()) => {
            store::set_status(&platform.db, &record.chain.id, ChainStatus::Running, None).await
        }
        Err(e) => {
            tracing::warn!(target: "platform::start", chain = %record.chain.id, error = %e, "start failed");
            platform.undo_start(&record, &e.public_message()).await?;
            Err(e)
        }
    };
    let status = outcome.as_ref().map_or_else(Error::status, |()| 200);
    let path = format!("/v1/chains/{}/start", record.chain.id);
    platform.record_audit(Some(&actor), AUDIT_JOB, &path, status).await;
    outcome
}
