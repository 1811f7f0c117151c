//! A running chain's nodes: status, logs, stop / start / restart.

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
