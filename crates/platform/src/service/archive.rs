//! Taking a chain out of service: its nodes stopped and removed from their hosts, its event
//! deliveries paused, its alerts ended, its status `archived`. The platform keeps its records (contracts, calls,
//! alerts, the audit log); its name and chain id stay taken, so nothing new is confused with
//! it.

use consortia_api::platform::{ChainStatus, ChainView};

use super::chains::spec_name;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::store::chains as store;
use crate::store::webhooks as webhook_store;

/// The action that archives a chain, asked of every organization whose nodes it stops.
const ARCHIVE: &str = "chain:delete";

/// The organizations whose nodes an archive stops (each once, in the chain's order); a chain
/// without nodes asks its first organization.
fn deciding_orgs(chain: &ChainView) -> Vec<String> {
    let mut orgs: Vec<String> = vec![];
    for node in &chain.nodes {
        if !orgs.contains(&node.org_id) {
            orgs.push(node.org_id.clone());
        }
    }
    if orgs.is_empty() {
        orgs.extend(chain.orgs.first().cloned());
    }
    orgs
}

impl Platform {
    /// Archives a chain: every organization whose nodes run on it must allow `chain:delete`
    /// (a platform administrator may always). A node its host cannot remove is named in the
    /// error; the chain is archived all the same (its host is told again by hand).
    pub async fn archive_chain(&self, caller: &Caller, id: &str) -> Result<ChainView> {
        let chain = self.visible_chain(caller, id).await?;
        for org in deciding_orgs(&chain) {
            self.authorize_in_chain(caller, &org, ARCHIVE, &chain, "nodes").await?;
        }
        let mut tx = self.db.begin().await?;
        let status = store::lock_chain(&mut tx, &chain.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no chain {id}")))?;
        match status {
            ChainStatus::Starting => {
                return Err(Error::illegal_step(format!(
                    "chain {} is starting; archive it once the start has ended",
                    chain.name
                )));
            }
            ChainStatus::Archived => {
                return Err(Error::illegal_step(format!(
                    "chain {} is archived already",
                    chain.name
                )));
            }
            ChainStatus::Configuring | ChainStatus::Running => {}
        }
        store::set_status(&mut *tx, &chain.id, ChainStatus::Archived, None).await?;
        webhook_store::disable_chain(&mut *tx, &chain.id).await?;
        crate::store::alerts::end_all(&mut tx, &chain.id, crate::store::now_ms()).await?;
        tx.commit().await?;
        let started = status == ChainStatus::Running;
        let mut left = vec![];
        for node in &chain.nodes {
            store::set_desired(&self.db, &node.id, false).await?;
            if !started {
                continue;
            }
            let removed = match self.driver(&node.host_id).await {
                Ok(driver) => driver
                    .remove(&spec_name(&chain.id, &node.name))
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(why) = removed {
                left.push(format!("{} ({why})", node.name));
            }
        }
        tracing::info!(target: "platform::chains", chain = %chain.id, nodes = chain.nodes.len(), "archived");
        if !left.is_empty() {
            return Err(Error::Upstream {
                code: "host_failed",
                message: format!(
                    "chain {} is archived, but its hosts could not remove these nodes: {}; \
                     stop and delete them on their hosts",
                    chain.name,
                    left.join("; ")
                ),
            });
        }
        self.load_chain(&chain.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organizations_whose_nodes_stop_decide_each_once() {
        let mut chain = crate::service::test_chain("c", "n", 1);
        chain.orgs = vec!["o1".into(), "o2".into(), "o3".into()];
        assert_eq!(deciding_orgs(&chain), ["o1"], "no nodes: the first organization");
        let node = |org: &str| -> consortia_api::platform::ChainNodeView {
            serde_json::from_value(serde_json::json!({
                "id": format!("n-{org}"), "name": "v", "org_id": org, "host_id": "h",
                "role": "validator", "http_url": null, "p2p_address": null, "memory_mib": 256
            }))
            .unwrap()
        };
        chain.nodes = vec![node("o2"), node("o3"), node("o2")];
        assert_eq!(deciding_orgs(&chain), ["o2", "o3"]);
    }
}
