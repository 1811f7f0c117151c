//! Monitoring behind the console: every node's Prometheus metrics, read through the platform
//! and summed up per node, and the chain's nodes as Prometheus scrape targets (HTTP service
//! discovery), so an operator's own Prometheus finds them.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use consortia_rpc::ApiResult;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::Ctx;
use crate::chains::ChainNodeView;
use crate::explorer::readable;

/// A node that does not answer its metrics in this long is reported as unreachable.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// One node's figures, from its `/metrics`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct NodeMetrics {
    pub node_id: String,
    pub name: String,
    pub org_id: String,
    /// Why its metrics could not be read (the figures below are then absent).
    pub error: Option<String>,
    pub height: Option<f64>,
    pub peers: Option<f64>,
    /// Transactions waiting in its pool.
    pub mempool_transactions: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    /// CPU time used since it started (the console turns two readings into a rate).
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub threads: Option<f64>,
    pub blocks_committed: Option<f64>,
    pub transactions_committed: Option<f64>,
    /// Mean time to write a decided block durably, since it started.
    pub commit_seconds_mean: Option<f64>,
    /// Round (BFT) or term (Raft) of its last committed block.
    pub consensus_round: Option<f64>,
    pub equivocations: Option<f64>,
    pub invalid_messages: Option<f64>,
    /// Transactions its pool refused, all reasons together.
    pub refused_transactions: Option<f64>,
}

/// Each metric's samples summed over their labels, by series name.
fn sum_by_name(text: &str) -> HashMap<&str, f64> {
    let mut sums = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let name = series.split_once('{').map_or(series, |(n, _)| n);
        *sums.entry(name).or_insert(0.0) += value;
    }
    sums
}

impl NodeMetrics {
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
            ..NodeMetrics::unread(node, None)
        }
    }

    fn unread(node: &ChainNodeView, error: Option<String>) -> NodeMetrics {
        NodeMetrics {
            node_id: node.id.clone(),
            name: node.name.clone(),
            org_id: node.org_id.clone(),
            error,
            ..NodeMetrics::default()
        }
    }
}

/// Every node's metrics at once (memory, CPU, pool, peers, commits, consensus faults)
#[utoipa::path(get, path = "/v1/chains/{id}/metrics", tag = "monitoring",
    responses(
        (status = 200, description = "One entry per node, in the chain's order; a node that does not answer has `error` set", body = [NodeMetrics]),
        (status = 403, body = consortia_rpc::ErrorBody), (status = 404, body = consortia_rpc::ErrorBody),
        (status = 409, description = "The chain does not run", body = consortia_rpc::ErrorBody),
    ))]
pub async fn chain_metrics(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<NodeMetrics>>> {
    let chain = readable(&platform, &caller, &id).await?;
    let mut scrapes = tokio::task::JoinSet::new();
    for (i, node) in chain.nodes.iter().enumerate() {
        let Some(url) = node.http_url.clone() else { continue };
        let client = platform.chain_http.clone();
        scrapes.spawn(async move {
            let read = async {
                let r = client.get(format!("{url}/metrics")).timeout(SCRAPE_TIMEOUT).send().await?;
                r.error_for_status()?.text().await
            };
            (i, read.await.map_err(|e| format!("its metrics at {url} do not answer: {e}")))
        });
    }
    let mut texts: Vec<Result<String, String>> = chain
        .nodes
        .iter()
        .map(|_| Err("its address is not known yet (the chain never started it)".into()))
        .collect();
    while let Some(done) = scrapes.join_next().await {
        if let Ok((i, text)) = done {
            texts[i] = text;
        }
    }
    Ok(Json(
        chain
            .nodes
            .iter()
            .zip(texts)
            .map(|(node, text)| match text {
                Ok(text) => NodeMetrics::from_text(node, &text),
                Err(e) => NodeMetrics::unread(node, Some(e)),
            })
            .collect(),
    ))
}

/// A target group of Prometheus' HTTP service discovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScrapeTargets {
    /// `host:port` of one node's API (metrics at `/metrics`).
    pub targets: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// The chain's nodes as Prometheus scrape targets (`http_sd_configs` with an API key as
/// bearer token)
#[utoipa::path(get, path = "/v1/chains/{id}/prometheus-targets", tag = "monitoring",
    responses(
        (status = 200, description = "Prometheus HTTP service discovery: one group per node with an address, labelled with the chain, node and organization", body = [ScrapeTargets]),
        (status = 403, body = consortia_rpc::ErrorBody), (status = 404, body = consortia_rpc::ErrorBody),
        (status = 409, description = "The chain does not run", body = consortia_rpc::ErrorBody),
    ))]
pub async fn prometheus_targets(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ScrapeTargets>>> {
    let chain = readable(&platform, &caller, &id).await?;
    let groups = chain
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
        .collect();
    Ok(Json(groups))
}

#[cfg(test)]
mod tests {
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
            role: "validator".into(),
            http_url: None,
            p2p_address: None,
        };
        let m = NodeMetrics::from_text(&node, text);
        assert_eq!(m.refused_transactions, Some(5.0));
        assert_eq!(m.commit_seconds_mean, Some(0.125));
        assert_eq!(m.peers, Some(3.0));
        assert_eq!(m.height, None);
        let none = NodeMetrics::from_text(&node, "consortia_peers 1\n");
        assert_eq!(none.refused_transactions, Some(0.0));
        assert_eq!((m.name.as_str(), m.error), ("node-1", None));
    }
}
