//! A node's configuration file (`node.toml`), as `consortia node --config` reads it and as
//! the provisioning plan (the platform's start, `consortia net up`) writes it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A node's configuration file (TOML). Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// A name for logs and people.
    pub name: String,
    pub data_dir: PathBuf,
    pub genesis: PathBuf,
    /// The consensus key (PKCS#8 PEM). Leave it out to run an observer: a full node that
    /// follows the chain without voting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_key: Option<PathBuf>,
    /// The HTTP API (REST) address.
    pub http: SocketAddr,
    pub p2p: P2pFile,
    /// Most transactions its pool holds.
    #[serde(default = "default_max_txs")]
    pub mempool_max_txs: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pFile {
    pub listen: SocketAddr,
    /// Other nodes' P2P addresses (`host:port`), dialed and kept connected.
    #[serde(default)]
    pub peers: Vec<String>,
    /// The consortium CA certificate (PEM).
    pub ca: PathBuf,
    /// This node's TLS certificate (PEM), issued for its node key by the consortium CA or by
    /// its organization's CA (then followed by that CA's certificate: the chain).
    pub cert: PathBuf,
    /// This node's Ed25519 node key (PKCS#8 PEM); genesis lists its public key.
    pub key: PathBuf,
}

/// A node's pool size unless its configuration says otherwise.
pub const DEFAULT_MEMPOOL_MAX_TXS: usize = 30_000;

fn default_max_txs() -> usize {
    DEFAULT_MEMPOOL_MAX_TXS
}
