//! A running chain's nodes: status, logs, stop / start / restart, rolling upgrades.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::chains::NodeRole;

crate::wire_enum! {
    /// The host's view of a node's process.
    pub enum ProcessState {
        Stopped = "stopped",
        Running = "running",
        /// It exited on its own; the host starts it again after a pause.
        Restarting = "restarting",
    }
}

crate::wire_enum! {
    /// Whether a node answers.
    pub enum NodeHealth {
        /// Its process runs and its API answers.
        Healthy = "healthy",
        /// Its process runs (or restarts) but its API does not answer.
        Unreachable = "unreachable",
        Stopped = "stopped",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeStatusView {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub role: NodeRole,
    pub http_url: Option<String>,
    pub process: ProcessState,
    /// Times the host restarted it after a crash.
    pub restarts: u32,
    pub last_exit: Option<String>,
    pub health: NodeHealth,
    pub height: Option<u64>,
    pub peers: Option<usize>,
    pub latest_block_time_ms: Option<u64>,
    /// The build it runs (`0.1.0-4ac1073d3cac`: the version and the start of the program's
    /// SHA-256), if its host says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

crate::wire_enum! {
    /// What can be done to a running node.
    pub enum NodeAction {
        /// Stop it (its data stays); it stays stopped, also across a platform restart.
        Stop = "stop",
        /// Start a stopped node.
        Start = "start",
        /// Stop it and start it again.
        Restart = "restart",
    }
}

/// How much of a log to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many of the last lines (default 100; larger values read 5,000).
    #[param(minimum = 1)]
    pub lines: Option<usize>,
}

/// A rolling upgrade (`POST /v1/chains/{id}/upgrade`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UpgradeRequest {
    /// The build to move to, as a node's `version` shows it. Refused (409) if a host offers
    /// another: a host offers the build the platform is installed with. Default: that build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Seconds a node on the new build gets to catch up and follow the chain before it is put
    /// back on its old build and the upgrade stops (default 60, at most 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 600)]
    pub node_timeout_s: Option<u32>,
}

crate::wire_enum! {
    /// What an upgrade did to a node.
    pub enum UpgradeOutcome {
        /// It was replaced: it runs the new build, caught up and follows the chain.
        Upgraded = "upgraded",
        /// It ran that build already.
        Current = "current",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeUpgradeView {
    pub name: String,
    pub org_id: String,
    /// The build it ran before.
    pub from: String,
    pub outcome: UpgradeOutcome,
}

/// A finished rolling upgrade: every node of the caller's organizations, in the order they
/// were replaced.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UpgradeView {
    pub version: String,
    pub nodes: Vec<NodeUpgradeView>,
}
