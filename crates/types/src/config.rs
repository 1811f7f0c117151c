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
    /// Web origins allowed to call the HTTP API from a browser (CORS): exact origins,
    /// `scheme://host:*` for any port, or `*` for any site. Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// DNS names the HTTP API answers for besides IP addresses and `localhost` (the `Host`
    /// header; DNS rebinding protection): exact names, `*.domain`, or `*` for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Who may use the HTTP API (REST, JSON-RPC, WebSocket, metrics); `members` unless given.
    #[serde(default)]
    pub access: Access,
    /// HTTPS for the HTTP API; plain HTTP without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpsFile>,
    /// How much block history the node keeps, and where. Read again while the node runs.
    #[serde(default, skip_serializing_if = "HistoryFile::keeps_everything")]
    pub history: HistoryFile,
    /// How the node catches up with its peers.
    #[serde(default, skip_serializing_if = "SyncFile::is_default")]
    pub sync: SyncFile,
}

/// How a node catches up with its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncFile {
    /// A node holding no block but genesis starts from a recent block's state (state sync)
    /// when its peers are at least this many blocks ahead; 0 never does (it replays every
    /// block: what an archive node wants). The node's default unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_sync_after: Option<u64>,
}

impl SyncFile {
    pub fn is_default(&self) -> bool {
        *self == SyncFile::default()
    }
}

/// How much block history (blocks, transactions, receipts) a node keeps, and where; the state
/// and its history are always kept. By default every block stays on the main disk. The node
/// applies it as blocks commit, and again when the file changes (no restart).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryFile {
    /// Keep the last N blocks; older ones are pruned from both tiers, and reads of them
    /// answer "pruned" (JSON-RPC 4444, HTTP 410). At least [`HistoryFile::MIN_KEEP_BLOCKS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_blocks: Option<u64>,
    /// Move blocks older than the last `hot_blocks` to this directory (e.g. another disk), from
    /// where they are still read. Removing it from the file moves them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_dir: Option<PathBuf>,
    /// How many recent blocks stay on the main disk when `archive_dir` is set
    /// ([`HistoryFile::DEFAULT_HOT_BLOCKS`] unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_blocks: Option<u64>,
}

impl HistoryFile {
    /// Peers a little behind sync from recent blocks, so a node keeps at least these.
    pub const MIN_KEEP_BLOCKS: u64 = 256;
    pub const DEFAULT_HOT_BLOCKS: u64 = 100_000;

    pub fn keeps_everything(&self) -> bool {
        *self == HistoryFile::default()
    }

    /// The recent blocks kept on the main disk when archiving.
    pub fn hot_blocks(&self) -> u64 {
        self.hot_blocks.unwrap_or(Self::DEFAULT_HOT_BLOCKS)
    }

    /// Every problem with it, for the file's validation.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.keep_blocks.is_some_and(|n| n < Self::MIN_KEEP_BLOCKS) {
            problems.push(format!(
                "history.keep_blocks must be at least {} (peers sync recent blocks from it)",
                Self::MIN_KEEP_BLOCKS
            ));
        }
        if self.hot_blocks.is_some() && self.archive_dir.is_none() {
            problems.push("history.hot_blocks needs history.archive_dir".into());
        }
        if self.hot_blocks.is_some_and(|n| n < Self::MIN_KEEP_BLOCKS) {
            problems.push(format!("history.hot_blocks must be at least {}", Self::MIN_KEEP_BLOCKS));
        }
        problems
    }
}

/// The HTTP API's TLS certificate and key. Clients may present a certificate of their own,
/// issued by a CA of the chain (a credential, as a token is).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsFile {
    /// The server's certificate, then the chain up to its CA (PEM): from the consortium CA,
    /// or the operator's own.
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM; may be encrypted, opened with `CONSORTIA_KEY_PASSPHRASE`).
    pub key: PathBuf,
}

/// Who may use a node's HTTP API. Credentials are access tokens a CA of the chain signed
/// (`consortia_crypto::token`), as `Authorization: Bearer`, or as the password of HTTP basic
/// auth (`http://any:TOKEN@host/`, for wallets that take only a URL). `GET /v1/health` and
/// the API's documentation are open to all in every mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Only holders of a token: reads need a read token, writes a write token.
    #[default]
    Members,
    /// Anyone reads; writes need a write token.
    PublicReads,
    /// Anyone reads and writes (a development chain on loopback: `consortia dev`).
    Open,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Members => "members",
            Access::PublicReads => "public-reads",
            Access::Open => "open",
        }
    }
}

impl std::str::FromStr for Access {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "members" => Ok(Access::Members),
            "public-reads" => Ok(Access::PublicReads),
            "open" => Ok(Access::Open),
            other => Err(format!("unknown access `{other}` (members, public-reads or open)")),
        }
    }
}

/// The environment variable a node reads the passphrase of its encrypted key files from
/// (`consortia keygen --encrypt`, or the secret the platform gives the nodes it makes).
pub const KEY_PASSPHRASE_ENV: &str = "CONSORTIA_KEY_PASSPHRASE";

/// The origins local tooling allows (`consortia dev`, `net up`, `up`): pages served from this
/// machine, on any port, so a dapp under development reaches its chain.
pub const LOCAL_CORS_ORIGINS: [&str; 2] = ["http://localhost:*", "http://127.0.0.1:*"];

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

/// One entry of a CORS allow-list ([`NodeFile::cors_origins`]): `*`, an exact origin
/// (`https://app.example.com`), or an origin with any port (`http://localhost:*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigin {
    Any,
    Exact(String),
    /// `scheme://host:` followed by any port (or none).
    AnyPort(String),
}

impl CorsOrigin {
    pub fn parse(entry: &str) -> Result<CorsOrigin, String> {
        let entry = entry.trim().trim_end_matches('/');
        if entry == "*" {
            return Ok(CorsOrigin::Any);
        }
        let bad = || format!("CORS origin `{entry}` must be `*` or http(s)://host[:port|:*]");
        let (scheme, rest) = entry.split_once("://").ok_or_else(bad)?;
        if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
            return Err(bad());
        }
        match rest.strip_suffix(":*") {
            Some(host) if !host.contains('*') => {
                Ok(CorsOrigin::AnyPort(format!("{scheme}://{host}:").to_ascii_lowercase()))
            }
            None if !rest.contains('*') => Ok(CorsOrigin::Exact(entry.to_ascii_lowercase())),
            _ => Err(format!("CORS origin `{entry}`: only the port may be `*`")),
        }
    }

    /// Whether a browser's `Origin` header value matches.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        match self {
            CorsOrigin::Any => true,
            CorsOrigin::Exact(o) => origin == *o,
            CorsOrigin::AnyPort(prefix) => {
                origin == prefix.trim_end_matches(':')
                    || origin.strip_prefix(prefix.as_str()).is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
            }
        }
    }

    /// Checks an allow-list, every problem at once.
    pub fn validate_all(origins: &[String]) -> Result<(), String> {
        let problems: Vec<String> =
            origins.iter().filter_map(|o| CorsOrigin::parse(o).err()).collect();
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, origin: &str) -> bool {
        CorsOrigin::parse(entry).unwrap().allows(origin)
    }

    #[test]
    fn any_port_matches_only_digits_after_the_host() {
        assert!(allows("http://localhost:*", "http://localhost:5173"));
        assert!(allows("http://localhost:*", "http://localhost"));
        assert!(!allows("http://localhost:*", "http://localhost.evil.com:80"));
        assert!(!allows("http://localhost:*", "https://localhost:5173"));
        assert!(!allows("http://localhost:*", "http://localhost:80x"));
    }

    #[test]
    fn exact_origins_ignore_case_and_a_trailing_slash() {
        assert!(allows("https://App.example.com/", "https://app.example.com"));
        assert!(!allows("https://app.example.com", "https://app.example.com:8443"));
    }

    #[test]
    fn malformed_entries_are_all_reported() {
        let entries = ["localhost".into(), "http://*.example.com".into(), "*".into()];
        let err = CorsOrigin::validate_all(&entries).unwrap_err();
        assert!(err.contains("`localhost`") && err.contains("*.example.com"), "{err}");
    }
}
