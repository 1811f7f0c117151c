//! Monitoring: every node's metrics summed up, and Prometheus scrape targets.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One node's figures, from its `/metrics`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
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

/// A target group of Prometheus' HTTP service discovery.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScrapeTargets {
    /// `host:port` of one node's API (metrics at `/metrics`).
    pub targets: Vec<String>,
    pub labels: HashMap<String, String>,
}
