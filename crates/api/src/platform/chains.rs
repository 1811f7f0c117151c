//! Hosts, and chains through the wizard: create, add nodes, invite organizations, start.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::wire_enum! {
    /// Where a host's nodes run.
    pub enum HostKind {
        /// Processes of the platform's machine (`consortia node`).
        Local = "local",
        /// Containers of a Docker Engine (`endpoint`), one per node with its own volumes.
        Docker = "docker",
        /// Deployments of a Kubernetes cluster (`kubernetes`), one per node with its Service,
        /// Secret, ConfigMap and volume claim, each chain in a namespace of its own.
        Kubernetes = "kubernetes",
    }
}

crate::wire_enum! {
    /// How a host's nodes are networked.
    pub enum HostNetwork {
        /// On the host machine's own network, at the host's `address`, each node on ports of
        /// its own: what local processes use, and containers of a chain that spans machines.
        Host = "host",
        /// Each chain on a bridge network of its own on the host, each node at an address of
        /// its own there (ports need not differ); reachable from the host's machine only. The
        /// default for the Docker Engine of the platform's machine.
        Bridge = "bridge",
        /// A Kubernetes cluster's own network: each node at its Service's cluster IP, reached
        /// from inside the cluster (the platform runs there, or routes to it).
        Cluster = "cluster",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateHostRequest {
    pub org_id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub kind: HostKind,
    /// The IP address its nodes listen on (default 127.0.0.1).
    pub address: Option<String>,
    /// How the platform reaches the host's engine: for `docker`, the Engine API socket
    /// (default `unix:///var/run/docker.sock`), or `tcp://host:2376` for an engine on another
    /// machine (which takes `tls`). Not for `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Mutual TLS to an engine reached over TCP. The key is sealed by the platform's keystore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<HostTls>,
    /// How its nodes are networked: `host` for a local host (the only choice there); for a
    /// Docker host, `bridge` by default on this machine's engine, `host` for one reached over
    /// TCP (its bridge networks are out of the platform's reach: refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<HostNetwork>,
    /// The cluster of a `kubernetes` host, and how its nodes run there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<HostKubernetes>,
}

impl CreateHostRequest {
    /// A local host of `org` listening on 127.0.0.1.
    pub fn local(org: &str, name: &str) -> CreateHostRequest {
        CreateHostRequest {
            org_id: org.to_owned(),
            name: name.to_owned(),
            kind: HostKind::Local,
            address: None,
            endpoint: None,
            tls: None,
            network: None,
            kubernetes: None,
        }
    }

    /// A host of `org` on the local Docker Engine, each chain on a bridge network of its own.
    pub fn docker(org: &str, name: &str) -> CreateHostRequest {
        CreateHostRequest { kind: HostKind::Docker, ..CreateHostRequest::local(org, name) }
    }
}

/// A Kubernetes cluster as a host.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct HostKubernetes {
    /// The kubeconfig (YAML) whose current context reaches the cluster, with its credentials
    /// (sealed once received; never shown again). None: the cluster the platform runs in,
    /// through its pod's service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// Where the cluster pulls node images from (`registry.example/consortia-node`): a node of
    /// build `b` runs `<image_repository>:<b>`, pushed there beforehand.
    pub image_repository: String,
    /// The storage class of the nodes' data volumes (none: the cluster's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// The size of each node's data volume, in GiB (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65536)]
    pub storage_gib: Option<u32>,
}

impl std::fmt::Debug for HostKubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKubernetes")
            .field("image_repository", &self.image_repository)
            .field("storage_class", &self.storage_class)
            .field("storage_gib", &self.storage_gib)
            .finish_non_exhaustive()
    }
}

/// How a Kubernetes host runs its nodes (its kubeconfig is never shown).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostKubernetesView {
    pub image_repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    pub storage_gib: u32,
}

/// The TLS credentials of a Docker Engine reached over TCP, all PEM: Docker's `ca.pem`,
/// `cert.pem` and `key.pem` (what `DOCKER_CERT_PATH` holds).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct HostTls {
    /// The CA that issued the engine's certificate.
    pub ca_cert_pem: String,
    /// The client certificate the platform presents, issued by a CA the engine trusts.
    pub cert_pem: String,
    /// Its private key (sealed once received; never shown again).
    pub key_pem: String,
}

impl std::fmt::Debug for HostTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTls").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: HostKind,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub network: HostNetwork,
    /// Whether the platform reaches the engine over mutual TLS.
    #[serde(default)]
    pub tls: bool,
    /// How a Kubernetes host runs its nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<HostKubernetesView>,
}

/// What a host's check found (`POST /v1/hosts/{id}/check`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostCheckView {
    pub host_id: String,
    /// What the host runs nodes with, e.g. `Docker Engine 20.10.24 at unix:///var/run/docker.sock,
    /// image consortia-node:0.1.0-4ac1073d3cac`.
    pub ready: String,
}

crate::wire_enum! {
    /// The chain's consensus.
    pub enum Consensus {
        /// Tendermint: tolerates f Byzantine validators of 3f + 1 (at least 4 validators).
        Bft = "bft",
        /// Raft: tolerates crash faults of a minority (at least 3 validators).
        Raft = "raft",
        /// One validator: development only.
        Solo = "solo",
    }
}

crate::wire_enum! {
    /// The chain's crypto suite.
    pub enum CryptoSuite {
        /// Ed25519 / secp256k1, SHA-256 / Keccak, AES-GCM.
        Standard = "standard",
        /// The Chinese national standards: SM2, SM3, SM4.
        Sm = "sm",
    }
}

crate::wire_enum! {
    /// Who may use the chain's node APIs (REST, JSON-RPC, WebSocket, metrics). Credentials are
    /// tokens the platform issues (`POST /v1/chains/{id}/credentials`), sent as
    /// `Authorization: Bearer`, or as the password in the URL (`http://app:TOKEN@host/`).
    /// Each node's `GET /v1/health` answers everyone.
    pub enum NodeAccess {
        /// Members only: reads need a read credential, writes a write credential.
        Members = "members",
        /// Anyone reads; writes need a write credential.
        PublicReads = "public-reads",
        /// Anyone reads and writes (a chain on a private network, for development).
        Open = "open",
    }
}

crate::wire_enum! {
    /// Who may deploy contracts on the chain (its governance may change it later).
    pub enum ContractPolicy {
        /// The members approve each deployment first (a proposal naming its init code).
        Approved = "approved",
        /// Anyone deploys anything (development chains).
        Open = "open",
    }
}

/// Bounds of a chain's block parameters.
pub const MAX_BLOCK_TXS: std::ops::RangeInclusive<i64> = 1..=100_000;
pub const BLOCK_INTERVAL_MS: std::ops::RangeInclusive<i64> = 1..=10_000;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateChainRequest {
    pub consortium_id: String,
    /// The member organization creating it (the caller must be its admin or operator).
    pub org_id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub consensus: Consensus,
    /// Default `standard`.
    pub suite: Option<CryptoSuite>,
    /// Most transactions per block (default 2,000).
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_block_txs: Option<i64>,
    /// How long a proposer waits to fill a block, in ms (default 20).
    #[schema(minimum = 1, maximum = 10_000)]
    pub block_interval_ms: Option<i64>,
    /// The deploy policy the chain starts with (default `approved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_policy: Option<ContractPolicy>,
    /// The base fee per gas in wei, constant and burned (default 1: Ethereum wallets then send
    /// EIP-1559 transactions, each costing its gas in wei; 0 makes gas free and ethers v6
    /// falls back to legacy transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000i64)]
    pub base_fee_per_gas: Option<i64>,
    /// Accounts funded at genesis (each member organization's own account is funded too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allocations: Vec<Allocation>,
    /// Web origins whose pages may call the nodes' APIs from a browser (CORS): exact
    /// origins, `scheme://host:*`, or `*` for any site (default: `http://localhost:*` and
    /// `http://127.0.0.1:*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// Who may use its nodes' APIs (default `members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_access: Option<NodeAccess>,
    /// Whether its nodes serve HTTPS, with certificates from their organizations' CAs under
    /// the consortium CA (`GET /v1/consortiums/{id}`'s `ca_cert_pem` is the root to trust);
    /// default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_https: Option<bool>,
}

crate::wire_enum! {
    /// What a node credential lets its holder do.
    pub enum CredentialRole {
        /// Read blocks, transactions, state, events and metrics.
        Read = "read",
        /// Read, and send transactions.
        Write = "write",
    }
}

/// The longest a node credential may live, in days: a node checks credentials offline, so
/// one cannot be withdrawn before it expires (unless its organization leaves the chain).
pub const MAX_CREDENTIAL_DAYS: u32 = 365;

/// `POST /v1/chains/{id}/credentials`: a credential for the chain's node APIs, signed by
/// the organization's CA (its identity in the consortium).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateNodeCredentialRequest {
    /// The organization it speaks for (a read credential needs `chain:get` in it, a write
    /// credential `chain:write`). Default: the caller's one organization in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub role: CredentialRole,
    /// A name for whoever holds it (an application, a person); default the caller's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub name: Option<String>,
    /// Days until it expires (default 30, at most 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<u32>,
    /// An Ed25519 public key (`ed25519:BASE64`, as `consortia keygen` prints it): the answer
    /// then holds a client certificate for it too, for nodes that serve HTTPS (the holder
    /// keeps the private key; the platform never sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A node credential, shown once: the platform keeps no copy.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeCredentialView {
    /// Its id (the token's `jti`), for the audit trail.
    pub id: String,
    /// The access token: `Authorization: Bearer TOKEN`, or the password of basic auth.
    pub token: String,
    pub org_id: String,
    pub role: CredentialRole,
    pub expires_ms: i64,
    /// The first node's JSON-RPC URL with the token in it, as web3 clients and wallets take
    /// it (`http://ORG:TOKEN@host:port/`).
    pub rpc_url: Option<String>,
    /// The same for WebSocket subscriptions (`ws://…/ws`).
    pub ws_url: Option<String>,
    /// With `public_key`: a client certificate for it (PEM), signed by the organization's CA,
    /// the role in its organizational unit, expiring with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    /// 0x-hex address.
    pub address: String,
    /// Balance in wei, a decimal string (no client rounds it).
    pub balance: String,
}

/// The most a base fee may be (1,000 gwei): past it, no wallet's default fee cap pays.
pub const MAX_BASE_FEE_PER_GAS: i64 = 1_000_000_000_000;

/// What each member organization's own account holds at genesis, in wei (10^9 units of
/// 10^18): its gas for the platform's contract gateway and governance, and what its
/// operators grant with the faucet.
pub const MEMBER_BALANCE: u128 = 1_000_000_000 * 1_000_000_000_000_000_000;

/// `POST /v1/chains/{id}/faucet`: the organization sends wei from its own account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FaucetRequest {
    /// The organization whose account pays (the caller must be its admin or operator).
    pub org_id: String,
    /// 0x-hex address to fund.
    pub address: String,
    /// Wei, a decimal string (default 10^18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// A node whose certificates were renewed (`POST /v1/chains/{id}/certificates/renew`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateRenewalView {
    pub node_id: String,
    pub name: String,
    /// When the new certificates expire (ms since the epoch).
    pub expires_ms: i64,
}

/// The transfer a faucet request made, committed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FaucetView {
    pub tx_hash: String,
    pub height: i64,
    pub from: String,
    pub to: String,
    /// Wei, a decimal string.
    pub amount: String,
}

impl CreateChainRequest {
    /// A chain with the default suite and block parameters.
    pub fn new(consortium: &str, org: &str, name: &str, consensus: Consensus) -> Self {
        CreateChainRequest {
            consortium_id: consortium.to_owned(),
            org_id: org.to_owned(),
            name: name.to_owned(),
            consensus,
            suite: None,
            max_block_txs: None,
            block_interval_ms: None,
            deploy_policy: None,
            base_fee_per_gas: None,
            allocations: vec![],
            cors_origins: None,
            node_access: None,
            node_https: None,
        }
    }
}

crate::wire_enum! {
    /// What a node does in its chain.
    pub enum NodeRole {
        /// Votes in consensus.
        Validator = "validator",
        /// Follows the chain without voting.
        Observer = "observer",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainNodeView {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub host_id: String,
    pub role: NodeRole,
    /// The node's REST API (its Ethereum JSON-RPC is at `/rpc`), once its port is known
    /// (chosen when it was added, or picked at the start).
    pub http_url: Option<String>,
    /// Its peer-to-peer address, once its port is known.
    pub p2p_address: Option<String>,
    /// The most memory it may use, in MiB.
    pub memory_mib: u32,
    /// The most CPU it may use, in thousandths of a core (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<u32>,
}

crate::wire_enum! {
    /// Where a chain stands.
    pub enum ChainStatus {
        /// The wizard's steps 1 to 3: parameters, nodes and organizations may change.
        Configuring = "configuring",
        /// Step 4 runs (see `progress`).
        Starting = "starting",
        /// Block 1 is committed; the chain lives on without the platform.
        Running = "running",
        /// Taken out of service: its nodes stopped and removed from their hosts, its records
        /// kept (the name and chain id stay taken). Nothing reads or writes it any more.
        Archived = "archived",
    }
}

crate::wire_enum! {
    /// The wizard's next step.
    pub enum NextStep {
        /// Add nodes until `problems` is empty.
        AddNodes = "add_nodes",
        /// Invite more organizations, or start.
        InviteOrStart = "invite_or_start",
        /// The chain is starting or running.
        None = "none",
    }
}

crate::wire_enum! {
    /// A step of a chain's start.
    pub enum StartStep {
        /// Ports, keys, certificates, the genesis and configurations.
        Preparing = "preparing",
        /// Nodes handed to their hosts and started.
        StartingNodes = "starting_nodes",
        /// Waiting for every node to commit block 1.
        FirstBlock = "first_block",
    }
}

/// How far a start has come.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StartProgress {
    pub step: StartStep,
    /// Nodes done in this step, of `total`.
    pub done: usize,
    pub total: usize,
    pub started_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainView {
    pub id: String,
    pub consortium_id: String,
    pub name: String,
    /// The chain id every transaction carries (assigned at creation).
    pub chain_id: i64,
    pub consensus: Consensus,
    pub suite: CryptoSuite,
    pub max_block_txs: i64,
    pub block_interval_ms: i64,
    /// The deploy policy it starts with (on a running chain, governance may have changed it:
    /// `GET /v1/chains/{id}/explorer/governance/params` has the current one).
    pub deploy_policy: ContractPolicy,
    /// Wei per gas, constant and burned.
    pub base_fee_per_gas: i64,
    /// Accounts funded at genesis besides the member organizations' own.
    pub allocations: Vec<Allocation>,
    /// Web origins allowed to call its nodes from a browser.
    pub cors_origins: Vec<String>,
    /// Who may use its nodes' APIs.
    pub node_access: NodeAccess,
    /// Whether its nodes serve HTTPS.
    pub node_https: bool,
    pub status: ChainStatus,
    /// Participating organizations.
    pub orgs: Vec<String>,
    pub nodes: Vec<ChainNodeView>,
    pub next_step: NextStep,
    /// What still keeps it from starting.
    pub problems: Vec<String>,
    /// Why the last start failed.
    pub failure: Option<String>,
    /// While `starting`: how far the start has come.
    pub progress: Option<StartProgress>,
}

impl ChainView {
    /// Its node with this id or name.
    pub fn node(&self, id_or_name: &str) -> Option<&ChainNodeView> {
        self.nodes.iter().find(|n| n.id == id_or_name || n.name == id_or_name)
    }

    /// The REST URLs of its nodes that have an address.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().filter_map(|n| n.http_url.clone()).collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteOrgRequest {
    /// A member organization of the chain's consortium.
    pub org_id: String,
    /// On a running chain: the organization of the chain you act for, which proposes the new
    /// member to the chain's governance (default: your only organization in the chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AddNodeRequest {
    /// The participating organization that owns the node.
    pub org_id: String,
    /// One of that organization's hosts.
    pub host_id: String,
    /// Default `node-<n>` (n: the chain's node count so far); letters, digits, `-` and `_`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// Default `validator`.
    pub role: Option<NodeRole>,
    /// Port of its REST API and JSON-RPC (default: a free port picked at the start).
    #[schema(minimum = 1, maximum = 65535)]
    pub http_port: Option<u16>,
    /// Port of its peer-to-peer listener (default: a free port picked at the start).
    #[schema(minimum = 1, maximum = 65535)]
    pub p2p_port: Option<u16>,
    /// The most memory it may use, in MiB (default 1024): past it, a host that can hold it
    /// to that (a container) stops and restarts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 128, maximum = 65536)]
    pub memory_mib: Option<u32>,
    /// The most CPU it may use, in thousandths of a core (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 64000)]
    pub cpu_millis: Option<u32>,
}

impl AddNodeRequest {
    /// A validator `name` of `org` on its host `host`, with ports the host picks.
    pub fn validator(org: &str, host: &str, name: &str) -> AddNodeRequest {
        AddNodeRequest {
            org_id: org.to_owned(),
            host_id: host.to_owned(),
            name: Some(name.to_owned()),
            role: Some(NodeRole::Validator),
            http_port: None,
            p2p_port: None,
            memory_mib: None,
            cpu_millis: None,
        }
    }
}

/// How to answer a start.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// `false`: answer 202 at once and start in the background (follow `progress` and `status`
    /// on `GET /v1/chains/{id}`). Default `true`: answer once block 1 is committed.
    pub wait: Option<bool>,
}
