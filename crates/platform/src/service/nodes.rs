//! A chain's nodes once it runs: status (the host's view, and the node's own: height, peers,
//! last block time), and stop / start / restart (logs: `logs.rs`), each authorized against the
//! organization that owns the node. Each node has a desired state, recorded before acting,
//! which the platform restores when it starts (a reboot, `consortia down`).

use std::time::Duration;

use consortia_api::node::StatusView;
use consortia_api::platform::{
    ChainNodeView, ChainStatus, ChainView, NodeAction, NodeHealth, NodeStatusView, ProcessState,
};
use consortia_api::{ClientError, ClientResult, NodeClient};
use consortia_hosts::NodeStatus;
use consortia_types::config::KEY_PASSPHRASE_ENV;
use zeroize::Zeroizing;

use super::chains::spec_name;
use super::hosts::host_error;
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::chains as store;
use crate::{OpenError, Platform};

impl Platform {
    /// Runs `call` on the chain's nodes in order until one answers (one that cannot be
    /// reached passes the call on to the next): the first answer, or 502 `chain_unreachable`.
    pub(crate) async fn on_any_node<T, F, Fut>(
        &self,
        chain: &ChainView,
        call: F,
    ) -> Result<ClientResult<T>>
    where
        F: Fn(NodeClient) -> Fut,
        Fut: std::future::Future<Output = ClientResult<T>>,
    {
        let mut last = String::from("the chain has no node with an address yet");
        for node in &chain.nodes {
            let Some(url) = &node.http_url else { continue };
            match call(self.chain_client(&chain.id, url).await?).await {
                Err(e @ ClientError::Unreachable { .. }) => {
                    last = format!("node {}: {e}", node.name)
                }
                answered => return Ok(answered),
            }
        }
        Err(Error::Upstream {
            code: "chain_unreachable",
            message: format!(
                "no node of chain {} answers ({last}); check the nodes page",
                chain.id
            ),
        })
    }

    /// A new secret for the key files of node `node_id`, sealed and recorded before any file
    /// is encrypted under it.
    pub(crate) async fn new_key_secret(&self, node_id: &str) -> Result<Zeroizing<String>> {
        let secret = Zeroizing::new(crate::credentials::random_secret());
        let cell = Secret::NodeKeys { node: node_id.into() };
        let sealed = self.keys()?.seal(&cell, &secret)?;
        let mut tx = self.db.begin().await?;
        crate::store::keystore::set_secret(&mut tx, &cell, &sealed).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// What a node's host adds to its environment at start: the secret its key files are
    /// encrypted under (nothing for a node made before they were).
    pub(crate) async fn secret_env(
        &self,
        chain: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>> {
        let Some((id, Some(sealed))) = store::key_secret(&self.db, chain, node).await? else {
            return Ok(vec![]);
        };
        let secret = self.keys()?.open(&Secret::NodeKeys { node: id }, &sealed)?;
        Ok(vec![(KEY_PASSPHRASE_ENV.to_owned(), secret.to_string())])
    }

    /// A node's own status, or none if it does not answer within a second.
    pub(crate) async fn poll(&self, chain: &str, url: &str) -> Option<StatusView> {
        self.status_client(chain, url).await.ok()?.status().await.ok()
    }

    async fn status_of(&self, chain: &str, node: &ChainNodeView) -> NodeStatusView {
        let name = spec_name(chain, &node.name);
        let (host, version) = match self.driver(&node.host_id).await {
            Ok(d) => (d.status(&name).await.ok(), d.version(&name).await.ok()),
            Err(_) => (None, None),
        };
        let (process, restarts, last_exit) = match &host {
            Some(NodeStatus::Running { restarts, .. }) => (ProcessState::Running, *restarts, None),
            Some(NodeStatus::Restarting { restarts, last_exit }) => {
                (ProcessState::Restarting, *restarts, Some(last_exit.clone()))
            }
            Some(NodeStatus::Stopped) | None => (ProcessState::Stopped, 0, None),
        };
        let polled = match (&node.http_url, process) {
            (Some(url), ProcessState::Running) => self.poll(chain, url).await,
            _ => None,
        };
        let health = match (process, &polled) {
            (ProcessState::Stopped, _) => NodeHealth::Stopped,
            (_, Some(_)) => NodeHealth::Healthy,
            _ => NodeHealth::Unreachable,
        };
        NodeStatusView {
            id: node.id.clone(),
            name: node.name.clone(),
            org_id: node.org_id.clone(),
            role: node.role,
            http_url: node.http_url.clone(),
            process,
            restarts,
            last_exit,
            health,
            height: polled.as_ref().map(|s| s.height),
            peers: polled.as_ref().map(|s| s.peers),
            latest_block_time_ms: polled.as_ref().map(|s| s.latest_block_time_ms),
            version,
            allowed_actions: vec![],
        }
    }

    /// What `caller` may do to `node`.
    async fn allowed_actions(&self, caller: &Caller, node: &ChainNodeView) -> Vec<NodeAction> {
        let resource = format!("org/{}/nodes/{}", node.org_id, node.id);
        let mut allowed = vec![];
        for action in NodeAction::ALL {
            let verb = format!("node:{action}");
            if self.may(caller, &node.org_id, &verb, &resource).await {
                allowed.push(*action);
            }
        }
        allowed
    }

    /// The nodes of a chain with their status, and what the caller may do to each.
    pub async fn nodes(&self, caller: &Caller, chain: &str) -> Result<Vec<NodeStatusView>> {
        let view = self.visible_chain(caller, chain).await?;
        let mut out = Vec::with_capacity(view.nodes.len());
        for node in &view.nodes {
            let mut status = self.status_of(chain, node).await;
            status.allowed_actions = self.allowed_actions(caller, node).await;
            out.push(status);
        }
        Ok(out)
    }

    /// The node named (by id or name) in a running chain the caller sees, after `action` is
    /// authorized in the organization that owns it.
    async fn owned_node(
        &self,
        caller: &Caller,
        chain: &str,
        node: &str,
        action: &str,
    ) -> Result<ChainNodeView> {
        let view = self.visible_chain(caller, chain).await?;
        let found = view
            .node(node)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no node {node} in chain {chain}")))?;
        let resource = format!("org/{}/nodes/{}", found.org_id, found.id);
        self.authorize(caller, &found.org_id, action, &resource).await?;
        if view.status == ChainStatus::Configuring {
            return Err(Error::illegal_step(format!(
                "chain {chain} has not started; its nodes do not run yet"
            )));
        }
        Ok(found)
    }

    /// Stops, starts or restarts a node; its desired state is recorded first, so a platform
    /// that restarts in between does what was asked last.
    pub async fn control_node(
        &self,
        caller: &Caller,
        chain: &str,
        node: &str,
        action: NodeAction,
    ) -> Result<NodeStatusView> {
        let found = self.owned_node(caller, chain, node, &format!("node:{action}")).await?;
        let driver = self.driver(&found.host_id).await?;
        let name = spec_name(chain, &found.name);
        store::set_desired(&self.db, &found.id, action != NodeAction::Stop).await?;
        if action != NodeAction::Start {
            driver.stop(&name).await.map_err(host_error)?;
        }
        if action != NodeAction::Stop {
            let secrets = self.secret_env(chain, &found.name).await?;
            driver.start(&name, &secrets).await.map_err(host_error)?;
            // Give it a moment to bind its port, so the answer says how it came up.
            for _ in 0..50 {
                if let Some(url) = &found.http_url
                    && self.poll(chain, url).await.is_some()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut status = self.status_of(chain, &found).await;
        status.allowed_actions = self.allowed_actions(caller, &found).await;
        Ok(status)
    }

    /// Starts the nodes of running chains that should run but do not: the machine rebooted,
    /// or `consortia down` stopped them with the platform. Nodes stopped through the API stay
    /// stopped. Nodes still running (adopted by their host) get their key secret for their
    /// next restart.
    pub(crate) async fn reconcile(&self) -> std::result::Result<(), OpenError> {
        for (chain, node, host) in store::nodes_that_should_run(&self.db).await? {
            let Ok(driver) = self.driver(&host).await else { continue };
            let name = spec_name(&chain, &node);
            let stopped = matches!(driver.status(&name).await, Ok(NodeStatus::Stopped));
            let secrets = match self.secret_env(&chain, &node).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(target: "platform::nodes", %chain, %node, error = %e, "cannot open a node's key secret");
                    continue;
                }
            };
            if !stopped {
                let _ = driver.start(&name, &secrets).await;
                continue;
            }
            match driver.start(&name, &secrets).await {
                Ok(()) => {
                    tracing::info!(target: "platform::nodes", %chain, %node, "started a node that should run")
                }
                Err(e) => {
                    tracing::warn!(target: "platform::nodes", %chain, %node, error = %e, "cannot start a node that should run")
                }
            }
        }
        Ok(())
    }
}
