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
    /// What the caller may do to it (`node:stop`, … in the organization that owns it), so a
    /// client offers only those.
    #[serde(default)]
    pub allowed_actions: Vec<NodeAction>,
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

crate::wire_enum! {
    /// How severe a log line is, least first (tracing's levels).
    pub enum LogLevel {
        Trace = "trace",
        Debug = "debug",
        Info = "info",
        Warn = "warn",
        Error = "error",
    }
}

impl LogLevel {
    /// Whether a line of this level passes a filter asking for `min` or worse.
    pub fn at_least(self, min: LogLevel) -> bool {
        let rank = |l: LogLevel| LogLevel::ALL.iter().position(|x| *x == l);
        rank(self) >= rank(min)
    }
}

/// One line of a node's log, read: a node the platform runs writes JSON (`--log-format json`:
/// time, level, target, message and the event's fields); any other line (a node started
/// before, a panic, a host's note) is its text without terminal colours, with the time and
/// level a text log line starts with, else those of the line before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    /// The node's name.
    pub node: String,
    /// When, as the node wrote it (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The same, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<LogLevel>,
    /// The module that logged it (`consensus::round`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub message: String,
    /// The event's structured fields (`height`, `round`, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Display for LogEntry {
    /// The line as tracing's text format writes it: `time LEVEL target: message k=v`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.node)?;
        if let Some(time) = &self.time {
            write!(f, "{time} ")?;
        }
        if let Some(level) = self.level {
            write!(f, "{:>5} ", level.as_str().to_uppercase())?;
        }
        if let Some(target) = &self.target {
            write!(f, "{target}: ")?;
        }
        f.write_str(&self.message)?;
        for (key, value) in &self.fields {
            match value {
                serde_json::Value::String(text) => write!(f, " {key}={text}")?,
                other => write!(f, " {key}={other}")?,
            }
        }
        Ok(())
    }
}

/// Which log lines to read: the last `lines` of those that pass every filter given.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many of the last lines that pass (default 100, at most 5,000).
    #[param(minimum = 1, maximum = 5000)]
    pub lines: Option<usize>,
    /// Only lines of this level or worse (`warn`: warnings and errors).
    pub level: Option<LogLevel>,
    /// Only lines whose message, target or fields contain this text (any case).
    pub q: Option<String>,
    /// Only lines written at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Only lines written before this time (milliseconds since the Unix epoch).
    pub until_ms: Option<u64>,
    /// Of a chain's logs: only this node's (id or name).
    pub node: Option<String>,
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
