//! Monitoring behind the console: every node's Prometheus metrics, read through the platform
//! and summed up per node, and the chain's nodes as Prometheus scrape targets (HTTP service
//! discovery), so an operator's own Prometheus finds them.

use std::collections::HashMap;
use std::time::Duration;

use consortia_api::platform::{ChainNodeView, ChainView, NodeMetrics, ScrapeTargets};

use super::identity::Caller;
use crate::Platform;
use crate::error::Result;

/// A node that does not answer its metrics in this long is reported as unreachable.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// Each metric's samples summed over their labels, by series name.
pub(crate) fn sum_by_name(text: &str) -> HashMap<&str, f64> {
    let mut sums = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let name = series.split_once('{').map_or(series, |(n, _)| n);
        *sums.entry(name).or_insert(0.0) += value;
    }
    sums
}

/// A node's figures from its metrics text.
fn from_text(node: &ChainNodeView, text: &str) -> NodeMetrics {
    let m = sum_by_name(text);
    let get = |name: &str| m.get(format!("consortia_{name}").as_str()).copied();
    let mean = match (get("block_commit_seconds_sum"), get("block_commit_seconds_count")) {
        (Some(sum), Some(count)) if count > 0.0 => Some(sum / count),
        _ => None,
    };
    NodeMetrics {
        height: get("chain_height"),
        peers: get("peers"),
        mempool_transactions: get("mempool_transactions"),
        resident_memory_bytes: get("process_resident_memory_bytes"),
        cpu_seconds: get("process_cpu_seconds_total"),
        open_fds: get("process_open_fds"),
        threads: get("process_threads"),
        blocks_committed: get("blocks_committed_total"),
        transactions_committed: get("transactions_committed_total"),
        commit_seconds_mean: mean,
        consensus_round: get("consensus_commit_round"),
        equivocations: get("consensus_equivocations_total"),
        invalid_messages: get("consensus_invalid_messages_total"),
        // A node that answered but lists no refusal has refused none.
        refused_transactions: get("mempool_refused_total").or(Some(0.0)),
        ..unread(node, None)
    }
}

/// A node whose metrics were not read, and why.
fn unread(node: &ChainNodeView, error: Option<String>) -> NodeMetrics {
    NodeMetrics {
        node_id: node.id.clone(),
        name: node.name.clone(),
        org_id: node.org_id.clone(),
        error,
        ..NodeMetrics::default()
    }
}

impl Platform {
    /// Every node's metrics at once, in the chain's order; a node that does not answer has
    /// `error` set.
    pub async fn chain_metrics(&self, caller: &Caller, chain: &str) -> Result<Vec<NodeMetrics>> {
        let chain = self.readable_chain(caller, chain).await?;
        let texts = self.scrape(&chain).await?;
        Ok(chain
            .nodes
            .iter()
            .zip(texts)
            .map(|(node, text)| match text {
                Ok(text) => from_text(node, &text),
                Err(e) => unread(node, Some(e)),
            })
            .collect())
    }

    /// Every node's metrics text at once, in the chain's order, or why it was not read.
    pub(crate) async fn scrape(
        &self,
        chain: &ChainView,
    ) -> Result<Vec<std::result::Result<String, String>>> {
        let mut scrapes = tokio::task::JoinSet::new();
        for (i, node) in chain.nodes.iter().enumerate() {
            let Some(url) = node.http_url.clone() else { continue };
            let client = self.chain_client(&chain.id, &url).await?;
            scrapes.spawn(async move {
                let read = tokio::time::timeout(SCRAPE_TIMEOUT, client.metrics()).await;
                let text = match read {
                    Ok(Ok(text)) => Ok(text),
                    Ok(Err(e)) => Err(format!("its metrics at {url} do not answer: {e}")),
                    Err(_) => Err(format!(
                        "its metrics at {url} did not answer within {} s",
                        SCRAPE_TIMEOUT.as_secs()
                    )),
                };
                (i, text)
            });
        }
        let mut texts: Vec<std::result::Result<String, String>> = chain
            .nodes
            .iter()
            .map(|_| Err("its address is not known yet (the chain never started it)".into()))
            .collect();
        while let Some(done) = scrapes.join_next().await {
            if let Ok((i, text)) = done {
                texts[i] = text;
            }
        }
        Ok(texts)
    }

    /// The chain's nodes as Prometheus HTTP service discovery target groups, labelled with
    /// the chain, node, organization and role.
    pub async fn prometheus_targets(
        &self,
        caller: &Caller,
        chain: &str,
    ) -> Result<Vec<ScrapeTargets>> {
        let chain = self.readable_chain(caller, chain).await?;
        Ok(chain
            .nodes
            .iter()
            .filter_map(|node| {
                let url = node.http_url.as_deref()?;
                let address = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/');
                let labels = [
                    ("chain", chain.name.as_str()),
                    ("chain_id", &chain.chain_id.to_string()),
                    ("platform_chain", chain.id.as_str()),
                    ("node", node.name.as_str()),
                    ("org", node.org_id.as_str()),
                    ("role", node.role.as_str()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
                Some(ScrapeTargets { targets: vec![address.to_owned()], labels })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use consortia_api::platform::NodeRole;

    use super::*;

    #[test]
    fn samples_are_summed_over_labels_and_comments_skipped() {
        let text = "# HELP consortia_mempool_refused Refused.\n\
            # TYPE consortia_mempool_refused counter\n\
            consortia_mempool_refused_total{reason=\"a b\"} 2\n\
            consortia_mempool_refused_total{reason=\"c\"} 3\n\
            consortia_block_commit_seconds_sum 0.5\n\
            consortia_block_commit_seconds_count 4\n\
            consortia_peers 3\n\
            # EOF\n";
        let node = ChainNodeView {
            id: "n".into(),
            name: "node-1".into(),
            org_id: "o".into(),
            host_id: "h".into(),
            role: NodeRole::Validator,
            http_url: None,
            p2p_address: None,
            memory_mib: 1024,
            cpu_millis: None,
        };
        let m = from_text(&node, text);
        assert_eq!(m.refused_transactions, Some(5.0));
        assert_eq!(m.commit_seconds_mean, Some(0.125));
        assert_eq!(m.peers, Some(3.0));
        assert_eq!(m.height, None);
        let none = from_text(&node, "consortia_peers 1\n");
        assert_eq!(none.refused_transactions, Some(0.0));
        assert_eq!((m.name.as_str(), m.error), ("node-1", None));
    }
}
