//! Drivers that run Consortia nodes on hosts: the [`HostDriver`] seam, [`local`], which runs
//! nodes as processes of this machine, [`docker`], which runs them as containers of a Docker
//! Engine, and [`kubernetes`], which runs them as Deployments of a Kubernetes cluster.
//!
//! The platform talks to hosts only through [`HostDriver`]: place its nodes (the address and
//! ports each listens on), create a node from a [`NodeSpec`] (its command line and files),
//! start, stop, remove, read its log, ask its status; nothing above the trait knows which
//! kind of host it speaks to.
//! Methods return boxed futures so drivers of different kinds sit behind one `dyn HostDriver`.

pub mod docker;
pub mod kubernetes;
pub mod local;
pub mod logfile;
mod ports;
mod preflight;
pub mod process;
mod version;

pub use kubernetes::KubernetesDriver;
pub use local::write_files;
pub use version::program_version;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path};
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// Refuses node names a host cannot use as a directory or object name.
pub(crate) fn check_name(name: &str) -> Result<(), HostError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(HostError::BadName(name.to_owned())) }
}

/// `rel` as a path inside a node's directory: relative, without `..`.
pub(crate) fn relative(rel: &str) -> Result<&Path, HostError> {
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(HostError::Io(format!("file path `{rel}` must be relative, without `..`")));
    }
    Ok(path)
}

/// How much of a node's log is kept: rotated past `max_bytes`, with `keep` older files.
/// Local nodes' logs are rotated by their driver, which also deletes older files past
/// `max_age`; Docker's by the engine (`json-file` with `max-size` and `max-file`); on
/// Kubernetes the kubelet rotates container logs (`containerLogMaxSize`, `…MaxFiles`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRetention {
    pub max_bytes: u64,
    pub keep: usize,
    pub max_age: std::time::Duration,
}

/// 16 MiB a file, four older files, a week: at most 80 MiB of log per node.
pub const LOG_RETENTION: LogRetention = LogRetention {
    max_bytes: 16 << 20,
    keep: 4,
    max_age: std::time::Duration::from_secs(7 * 86_400),
};

/// A future a driver returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a host could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no node `{0}` on this host")]
    UnknownNode(String),
    #[error("a node `{0}` already exists on this host")]
    Exists(String),
    #[error("node name `{0}` is not usable: use letters, digits, `-` and `_`")]
    BadName(String),
    #[error(
        "port {port} on {address} is in use by another program ({detail}): stop it, or remove the node and add it with another port"
    )]
    PortInUse { address: IpAddr, port: u16, detail: String },
    #[error("no free ports on {address}: {detail}")]
    NoFreePorts { address: IpAddr, detail: String },
    #[error("no free address on network {network}: remove nodes of its chain, or use another host")]
    NoFreeAddress { network: String },
    /// The host's own configuration (a kubeconfig) does not do: what to fix in it.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
}

/// What to run for one node: the node program's arguments, its environment, and the files it
/// reads (configuration, genesis, keys, certificates), by path relative to its directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Unique on the host; also the node's directory name.
    pub name: String,
    /// The chain the node belongs to: a host that gives each chain a network of its own
    /// attaches the node there.
    #[serde(default)]
    pub group: String,
    /// The organization that runs it (a label on what the host makes for it).
    #[serde(default)]
    pub org: String,
    /// The address it was placed at ([`HostDriver::place`]); a host that hands out addresses
    /// (a container's own) gives it this one.
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// Arguments of the node program (`node --config node.toml`).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub files: Vec<(String, Vec<u8>)>,
    /// What the node may use, where the host can hold it to that (containers; a local process
    /// is not limited).
    #[serde(default)]
    pub resources: Resources,
    /// Whether its API serves HTTPS (a host's health checks ask it so).
    #[serde(default)]
    pub https: bool,
}

/// Limits of a node's memory and CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Most resident memory, in bytes: past it the host kills the node (and restarts it).
    pub memory_bytes: Option<u64>,
    /// Most CPU time, in thousandths of a core.
    pub cpu_millis: Option<u32>,
}

/// What a node is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeStatus {
    /// Created, or stopped on request.
    Stopped,
    Running {
        pid: u32,
        /// Times the driver restarted it after it exited on its own.
        restarts: u32,
    },
    /// It exited on its own; the driver starts it again after a pause.
    Restarting { restarts: u32, last_exit: String },
}

/// A node about to be placed ([`HostDriver::place`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Its name on the host, as it will be created.
    pub name: String,
    /// The HTTP and P2P ports asked for (none: the host picks).
    pub ports: [Option<u16>; 2],
}

/// A host that runs nodes.
pub trait HostDriver: Send + Sync + std::fmt::Debug {
    /// `local`, `docker`, `kubernetes`.
    fn kind(&self) -> &'static str;
    /// Checks that the host can run nodes now (its engine answers, its clock agrees with this
    /// machine's, the node image is there or made, the node program exists, there is room for
    /// data): what it runs them with, for people.
    fn preflight(&self) -> BoxFuture<'_, Result<String, HostError>>;
    /// Where nodes about to be created for the chain `group` listen: for each node its HTTP
    /// and P2P addresses. A host on its machine's network places them at `address` (the
    /// host's) on the chosen ports (checked to be free) or ones it picks, never giving a port
    /// twice; a host that gives each chain a network of its own gives each node an address
    /// there, and then ports need not differ; a cluster gives each node a Service, whose
    /// address is the node's.
    fn place<'a>(
        &'a self,
        group: &'a str,
        address: IpAddr,
        wanted: &'a [Wanted],
    ) -> BoxFuture<'a, Result<Vec<[SocketAddr; 2]>, HostError>>;
    /// Prepares a node (writes its files); it does not start it.
    fn create(&self, spec: NodeSpec) -> BoxFuture<'_, Result<(), HostError>>;
    /// Starts the node and keeps it running: a node that exits on its own is started again
    /// with backoff. `secret_env` joins the spec's environment (the secret its key files are
    /// encrypted under): kept in memory for restarts, never written to the host's disk.
    /// Starting a running node only hands it the secrets for its next restart.
    fn start<'a>(
        &'a self,
        name: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>>;
    /// Stops the node (SIGTERM, then SIGKILL after a grace period) and keeps its files.
    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Stops the node and deletes its files.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Replaces one of the node's files (a renewed certificate) while it may run: the new
    /// contents appear whole, never half written; the node's spec has them from now on.
    fn replace_file<'a>(
        &'a self,
        name: &'a str,
        path: &'a str,
        contents: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), HostError>>;
    /// The last `lines` lines of the node's output.
    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, HostError>>;
    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NodeStatus, HostError>>;
    /// The build the node runs ([`program_version`] of the program it runs: its image's, or
    /// the program's when the process last started).
    fn version<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, HostError>>;
    /// The build a node made or upgraded now would run: the host's node program as installed
    /// now (on a Docker host, its image is made if missing).
    fn available_version(&self) -> BoxFuture<'_, Result<String, HostError>>;
    /// Runs the node on build `version` (the available one, or one it ran before: a rollback),
    /// keeping its files and data: it stops, then starts on that build with `secret_env` (as
    /// [`HostDriver::start`]). A host that cannot run that build any more says so.
    fn run_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>>;
}
