//! Rolling upgrades (M29): a running chain's nodes move to another build one at a time, the
//! chain committing throughout. For each node in turn: refuse if taking it down could cost
//! the chain its quorum, run it on the new build (its host stops it gracefully and starts it
//! again, files, data and secrets kept), then wait until it has caught up with the chain and
//! is connected again to every node that answered before it went (so it takes part in
//! consensus: an idle chain commits no block to watch it vote in); a node that does not within the request's timeout (default
//! [`NODE_TIMEOUT_S`]) is put back on the build it ran and the upgrade stops there, saying so.
//!
//! Each organization upgrades its own nodes (`node:upgrade` on each): an upgrade moves the
//! nodes of the caller's organizations and leaves the others' alone. The build is the one the
//! hosts offer: the platform's node program as installed (on a Docker host, its image).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use consortia_api::platform::{
    ChainNodeView, ChainStatus, ChainView, NodeRole, NodeUpgradeView, UpgradeOutcome,
    UpgradeRequest, UpgradeView,
};

use super::chains::spec_name;
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::{Platform, lock};

/// Seconds a node on its new build gets to catch up and follow the chain, unless asked.
const NODE_TIMEOUT_S: u32 = 60;
/// The most a request may give it.
const MAX_NODE_TIMEOUT_S: u32 = 600;
/// What a node put back on its old build gets to follow the chain again.
const NODE_TIMEOUT: Duration = Duration::from_secs(NODE_TIMEOUT_S as u64);
/// A validator this many blocks behind the highest is not counted on for the quorum.
const LAG_BLOCKS: u64 = 2;

fn upgrade_failed(message: String) -> Error {
    Error::Upstream { code: "upgrade_failed", message }
}

impl Platform {
    /// Upgrades the nodes of the caller's organizations in a running chain, one at a time. It
    /// runs as a job of its own, so a client that stops waiting does not cut it short.
    pub async fn upgrade_chain(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        req: &UpgradeRequest,
    ) -> Result<UpgradeView> {
        let chain = self.visible_chain(caller, id).await?;
        if chain.status != ChainStatus::Running {
            return Err(Error::illegal_step(format!(
                "chain {id} is {}; only a running chain is upgraded",
                chain.status
            )));
        }
        let mut mine = Vec::new();
        for node in &chain.nodes {
            let resource = format!("org/{}/nodes/{}", node.org_id, node.id);
            if self.may(caller, &node.org_id, "node:upgrade", &resource).await {
                mine.push(node.clone());
            }
        }
        if mine.is_empty() {
            return Err(Error::Forbidden(format!(
                "you may upgrade no node of chain {id} (`node:upgrade` in the organizations that run them)"
            )));
        }
        let timeout = req.node_timeout_s.unwrap_or(NODE_TIMEOUT_S);
        if !(1..=MAX_NODE_TIMEOUT_S).contains(&timeout) {
            return Err(Error::invalid(
                "bad_timeout",
                format!("node_timeout_s must be 1 to {MAX_NODE_TIMEOUT_S}"),
            ));
        }
        if !lock(&self.upgrades).insert(id.to_owned()) {
            return Err(Error::illegal_step(format!("an upgrade of chain {id} runs already")));
        }
        let this = self.clone();
        let version = req.version.clone();
        let timeout = Duration::from_secs(u64::from(timeout));
        let job = tokio::spawn(async move {
            let done = this.run_upgrade(&chain, &mine, (version, timeout)).await;
            lock(&this.upgrades).remove(&chain.id);
            done
        });
        job.await.map_err(|e| Error::internal(format!("the upgrade failed: {e}")))?
    }

    async fn run_upgrade(
        &self,
        chain: &ChainView,
        nodes: &[ChainNodeView],
        (version, timeout): (Option<String>, Duration),
    ) -> Result<UpgradeView> {
        let target = self.offered_build(nodes, version).await?;
        let mut done: Vec<NodeUpgradeView> = Vec::with_capacity(nodes.len());
        for node in nodes {
            let driver = self.driver(&node.host_id).await?;
            let name = spec_name(&chain.id, &node.name);
            let from = driver.version(&name).await.map_err(super::hosts::host_error)?;
            let view = |outcome| NodeUpgradeView {
                name: node.name.clone(),
                org_id: node.org_id.clone(),
                from: from.clone(),
                outcome,
            };
            if from == target {
                done.push(view(UpgradeOutcome::Current));
                continue;
            }
            // A chain at risk before the upgrade is refused at once; after a node moved, the
            // others get the node timeout to settle (the one just back may trail for a moment).
            let upgraded = done.iter().any(|n| n.outcome == UpgradeOutcome::Upgraded);
            let patience = if upgraded { timeout } else { Duration::ZERO };
            let before = self.quorum_without(chain, node, patience).await?;
            tracing::info!(target: "platform::upgrade", chain = %chain.id, node = %node.name, %from, to = %target, "upgrading a node");
            let secrets = self.secret_env(&chain.id, &node.name).await?;
            // A move that failed half way (stopped, not started again) is put back too.
            let moved = match driver.run_version(&name, &target, &secrets).await {
                Ok(()) => self.follows(chain, node, before, timeout).await,
                Err(e) => Err(format!("it could not move: {e}")),
            };
            if let Err(why) = moved {
                let back = match driver.run_version(&name, &from, &secrets).await {
                    Ok(()) => match self.follows(chain, node, before, NODE_TIMEOUT).await {
                        Ok(()) => format!("it was put back on {from}"),
                        Err(e) => format!("it was put back on {from}, where {e} too"),
                    },
                    Err(e) => format!("it could not be put back on {from}: {e}"),
                };
                let upgraded: Vec<&str> = done
                    .iter()
                    .filter(|n| n.outcome == UpgradeOutcome::Upgraded)
                    .map(|n| n.name.as_str())
                    .collect();
                return Err(upgrade_failed(format!(
                    "node {} on {target}: {why}; {back}. The upgrade stopped there (upgraded before it: {upgraded:?}); see the node's log",
                    node.name
                )));
            }
            done.push(view(UpgradeOutcome::Upgraded));
        }
        Ok(UpgradeView { version: target, nodes: done })
    }

    /// The build the nodes' hosts offer (each checked first): `version` if every host offers
    /// it, 409 `version_unavailable` if one does not.
    async fn offered_build(
        &self,
        nodes: &[ChainNodeView],
        version: Option<String>,
    ) -> Result<String> {
        let mut offered: HashMap<&str, String> = HashMap::new();
        for node in nodes {
            if offered.contains_key(node.host_id.as_str()) {
                continue;
            }
            let host = &node.host_id;
            let driver = self.driver(host).await?;
            let unreachable = |e: consortia_hosts::HostError| Error::Upstream {
                code: "host_unreachable",
                message: format!("host {host}: {e}"),
            };
            driver.preflight().await.map_err(unreachable)?;
            let build = driver.available_version().await.map_err(unreachable)?;
            offered.insert(host, build);
        }
        let mut builds: Vec<&String> = offered.values().collect();
        builds.sort();
        builds.dedup();
        match (version, builds.as_slice()) {
            (Some(wanted), _) if builds.iter().all(|b| **b == wanted) => Ok(wanted),
            (None, [one]) => Ok((*one).clone()),
            (wanted, _) => Err(Error::conflict(
                "version_unavailable",
                format!(
                    "the hosts offer {builds:?}{}: a host offers the build the platform is installed with; install the build wanted where the platform runs and restart it",
                    wanted.map(|w| format!(", not {w}")).unwrap_or_default()
                ),
            )),
        }
    }

    /// The chain as the nodes other than `node` see it, after checking that the validators
    /// among them that answer and keep up still make a quorum: taking `node` down then cannot
    /// stop the chain. Checked again until `patience` runs out, then 409 `quorum_at_risk`.
    async fn quorum_without(
        &self,
        chain: &ChainView,
        node: &ChainNodeView,
        patience: Duration,
    ) -> Result<Seen> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let others = self.others(chain, node).await;
            let (live, quorum) = others.keeping_up();
            if node.role != NodeRole::Validator || live >= quorum {
                return Ok(others.seen());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::conflict(
                    "quorum_at_risk",
                    format!(
                        "taking node {} down would leave {live} of {} validators keeping up, and the chain needs {quorum} to commit: bring the others back first",
                        node.name, others.validators
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The heights of the chain's nodes other than `node` that answer.
    async fn others(&self, chain: &ChainView, node: &ChainNodeView) -> Others {
        let mut others = Others { heights: Vec::new(), validators: 0 };
        for other in &chain.nodes {
            if other.role == NodeRole::Validator {
                others.validators += 1;
            }
            let Some(url) = &other.http_url else { continue };
            if other.id == node.id {
                continue;
            }
            if let Some(status) = self.poll(&chain.id, url).await {
                others.heights.push((other.role, status.height));
            }
        }
        others
    }

    /// Waits until `node` has reached the height `before` saw, is connected to as many peers
    /// as answered then, and keeps up with the others (within [`LAG_BLOCKS`] of the highest
    /// now, so the next node's quorum counts it): what went wrong if not within `timeout`.
    async fn follows(
        &self,
        chain: &ChainView,
        node: &ChainNodeView,
        before: Seen,
        timeout: Duration,
    ) -> std::result::Result<(), String> {
        let url = node.http_url.as_deref().ok_or("it has no address")?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.poll(&chain.id, url).await {
                if status.height >= before.height
                    && status.peers >= before.answering
                    && status.height + LAG_BLOCKS >= self.others(chain, node).await.seen().height
                {
                    return Ok(());
                }
                last = Some(status);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let within = timeout.as_secs();
        Err(match last {
            None => format!("it did not answer within {within} s"),
            Some(s) => format!(
                "within {within} s it reached height {} of {} with {} of {} peers",
                s.height, before.height, s.peers, before.answering
            ),
        })
    }
}

/// The heights of the nodes other than one, as they answered.
struct Others {
    /// The role and height of each that answered.
    heights: Vec<(NodeRole, u64)>,
    /// How many validators the chain has, the one left out included.
    validators: usize,
}

impl Others {
    fn seen(&self) -> Seen {
        let height = self.heights.iter().map(|(_, h)| *h).max().unwrap_or(0);
        Seen { height, answering: self.heights.len() }
    }

    /// How many validators among them keep up with the highest, and how many the chain needs
    /// to commit.
    fn keeping_up(&self) -> (usize, usize) {
        let top = self.seen().height;
        let live = self
            .heights
            .iter()
            .filter(|(role, h)| *role == NodeRole::Validator && h + LAG_BLOCKS >= top)
            .count();
        (live, self.validators - (self.validators - 1) / 3)
    }
}

/// The chain as the other nodes saw it before a node went down.
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// The highest height among them.
    height: u64,
    /// How many of them answered.
    answering: usize,
}
