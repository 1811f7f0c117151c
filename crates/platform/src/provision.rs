//! The provisioning plan: everything a chain's nodes need to run, made in memory and nowhere
//! else. For each node: an Ed25519 node key with a TLS certificate from its issuer (its
//! organization's CA, which chains up to the consortium CA; or the consortium CA itself), a
//! consensus key for a validator (SM2 on `sm` chains, else Ed25519), and its `node.toml`;
//! for the chain: the genesis listing every validator and node key. The result is one
//! [`NodeSpec`] per node, which a host driver creates.
//!
//! The platform's start and `consortia net up` both provision through [`plan`], so a node
//! made either way is the same node. Ports are an input: the hosts choose them.

use std::net::SocketAddr;

/// What a node logs: `info`, but only warnings from the index's LSM tree (fjall), whose
/// info lines (every partition opened, every memtable flushed) would bury the node's own.
pub const NODE_LOG_FILTER: &str = "info,fjall=warn,lsm_tree=warn";

use consortia_crypto::pki::Ca;
use consortia_crypto::{CryptoError, PrivateKey, Scheme, Suite};
use consortia_hosts::{NodeSpec, Resources};
use consortia_types::config::{Access, DEFAULT_MEMPOOL_MAX_TXS, HttpsFile, NodeFile, P2pFile};
use consortia_types::{
    ChainParams, Genesis, GenesisAccount, GenesisMember, NodeIdentity, TypesError, Validator,
};

/// What keeps a plan from being made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("certificate: {0}")]
    Certificate(#[from] CryptoError),
    #[error(transparent)]
    Genesis(#[from] TypesError),
    #[error("encoding {file}: {detail}")]
    Encoding { file: &'static str, detail: String },
}

/// One node to provision.
#[derive(Debug)]
pub struct NodePlan<'a> {
    /// Its name in the chain (genesis, certificates, logs).
    pub name: String,
    /// Its name on its host: unique there.
    pub spec_name: String,
    /// The chain it belongs to on its host (a host may give each chain a network of its own).
    pub group: String,
    /// The organization that runs it.
    pub org: String,
    /// What it may use, where its host can hold it to that.
    pub resources: Resources,
    pub validator: bool,
    /// Who issues its TLS certificate.
    pub issuer: &'a Ca,
    /// Its REST API and JSON-RPC.
    pub http: SocketAddr,
    /// Its peer-to-peer listener (the other nodes dial it there).
    pub p2p: SocketAddr,
    /// A random secret its key files are encrypted under (given to the node at start as
    /// `CONSORTIA_KEY_PASSPHRASE`, never written next to them); `None` writes them in clear.
    pub key_secret: Option<&'a str>,
    /// Days its certificates are valid for (`None`: without an end).
    pub cert_days: Option<u32>,
}

/// A chain to provision.
#[derive(Debug)]
pub struct ChainPlan<'a> {
    pub chain_id: u64,
    pub chain_name: String,
    pub suite: Suite,
    pub params: ChainParams,
    /// Accounts funded at genesis.
    pub accounts: Vec<GenesisAccount>,
    pub time_ms: u64,
    /// The consortium CA's certificate: every node trusts it.
    pub ca_cert_pem: String,
    pub nodes: Vec<NodePlan<'a>>,
    /// The member organizations that govern the chain (their nodes named by [`NodePlan::name`]).
    pub members: Vec<GenesisMember>,
    pub api: NodeApi,
}

/// Settings of the nodes' HTTP APIs.
#[derive(Clone, Debug, Default)]
pub struct NodeApi {
    /// Web origins allowed to call them from a browser.
    pub cors_origins: Vec<String>,
    /// Who may use them.
    pub access: Access,
    /// HTTPS, with a certificate from the node's issuer for its HTTP address and `localhost`.
    pub https: bool,
}

/// The plan: the genesis and each node's spec, in the order of [`ChainPlan::nodes`].
#[derive(Debug)]
pub struct Plan {
    pub genesis: Genesis,
    pub specs: Vec<NodeSpec>,
}

/// The memory a platform-made node may hold where its host can limit it (a container), unless
/// asked otherwise: five times the 200 MiB a validator keeps under sustained load, so a leak
/// ends in a restart of that node, not in its neighbors starved.
pub const NODE_MEMORY_MIB: u32 = 1024;

/// What a node may use: `memory_mib` (default [`NODE_MEMORY_MIB`]) and `cpu_millis`.
pub fn resources(memory_mib: Option<u32>, cpu_millis: Option<u32>) -> Resources {
    let mib = u64::from(memory_mib.unwrap_or(NODE_MEMORY_MIB));
    Resources { memory_bytes: Some(mib << 20), cpu_millis }
}

pub const NODE_CONFIG: &str = "node.toml";
pub const GENESIS: &str = "genesis.json";
pub const CA_CERT: &str = "ca.crt";
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";
pub const VALIDATOR_KEY: &str = "validator.pem";
/// The HTTP API's certificate (HTTPS), for the node key.
pub const HTTPS_CERT: &str = "https.crt";

/// A node's secrets: its TLS key and certificate chain, and its consensus key if a validator.
struct NodeKeys {
    node_key: PrivateKey,
    cert_chain: String,
    validator_key: Option<PrivateKey>,
}

impl NodeKeys {
    /// New keys for `node`, its certificate issued by its issuer (followed by the issuer's own
    /// certificate when that is an organization's CA: the chain up to the consortium CA
    /// `ca_cert_pem` the peers trust).
    fn new(node: &NodePlan<'_>, ca_cert_pem: &str, suite: Suite) -> Result<Self, PlanError> {
        let scheme = if suite == Suite::Sm { Scheme::Sm2 } else { Scheme::Ed25519 };
        let node_key = PrivateKey::generate(Scheme::Ed25519);
        let public = public_bytes(&node_key)?;
        let cert_chain =
            p2p_certificate(node.issuer, ca_cert_pem, &node.name, &public, node.cert_days)?;
        let validator_key = node.validator.then(|| PrivateKey::generate(scheme));
        Ok(NodeKeys { node_key, cert_chain, validator_key })
    }

    /// The node's certificate for HTTPS (its node key, the HTTP address and `localhost`),
    /// followed by its issuer's when that is an organization's CA.
    fn https_chain(&self, node: &NodePlan<'_>, ca_cert_pem: &str) -> Result<String, PlanError> {
        let public = public_bytes(&self.node_key)?;
        let (issuer, name, days) = (node.issuer, &node.name, node.cert_days);
        https_certificate(issuer, ca_cert_pem, name, &public, node.http.ip(), days)
    }

    /// The node's directory: config, genesis, CA certificate, its certificate and keys.
    fn spec(
        self,
        node: &NodePlan<'_>,
        genesis_json: &[u8],
        ca_cert_pem: &str,
        peers: Vec<String>,
        api: &NodeApi,
    ) -> Result<NodeSpec, PlanError> {
        let file = NodeFile {
            name: node.name.clone(),
            data_dir: "data".into(),
            genesis: GENESIS.into(),
            validator_key: self.validator_key.as_ref().map(|_| VALIDATOR_KEY.into()),
            http: node.http,
            p2p: P2pFile {
                listen: node.p2p,
                peers,
                ca: CA_CERT.into(),
                cert: NODE_CERT.into(),
                key: NODE_KEY.into(),
            },
            mempool_max_txs: DEFAULT_MEMPOOL_MAX_TXS,
            cors_origins: api.cors_origins.clone(),
            allowed_hosts: vec![],
            access: api.access,
            https: api.https.then(|| HttpsFile { cert: HTTPS_CERT.into(), key: NODE_KEY.into() }),
            history: Default::default(),
            sync: Default::default(),
        };
        let https_chain = api.https.then(|| self.https_chain(node, ca_cert_pem)).transpose()?;
        let config = toml::to_string_pretty(&file)
            .map_err(|e| PlanError::Encoding { file: NODE_CONFIG, detail: e.to_string() })?;
        let mut files = vec![
            (NODE_CONFIG.to_owned(), config.into_bytes()),
            (GENESIS.to_owned(), genesis_json.to_vec()),
            (CA_CERT.to_owned(), ca_cert_pem.as_bytes().to_vec()),
            (NODE_CERT.to_owned(), self.cert_chain.into_bytes()),
            (NODE_KEY.to_owned(), key_file(&self.node_key, node.key_secret)?),
        ];
        if let Some(k) = &self.validator_key {
            files.push((VALIDATOR_KEY.to_owned(), key_file(k, node.key_secret)?));
        }
        if let Some(chain) = https_chain {
            files.push((HTTPS_CERT.to_owned(), chain.into_bytes()));
        }
        Ok(NodeSpec {
            name: node.spec_name.clone(),
            group: node.group.clone(),
            org: node.org.clone(),
            address: Some(node.http.ip()),
            args: vec!["node".into(), "--config".into(), NODE_CONFIG.into()],
            env: vec![
                // Fewer malloc arenas, less resident memory (docs/architecture.md).
                ("MALLOC_ARENA_MAX".into(), "2".into()),
                // JSON logs: the console and `GET …/logs` read their level, time and fields.
                // At `info` on every host (a local node would take the platform's own level).
                ("CONSORTIA_LOG_FORMAT".into(), "json".into()),
                ("RUST_LOG".into(), NODE_LOG_FILTER.into()),
            ],
            files,
            resources: node.resources,
            https: api.https,
        })
    }
}

/// The 32 bytes of a node key's public half.
fn public_bytes(key: &PrivateKey) -> Result<[u8; 32], PlanError> {
    key.public_key().as_bytes().try_into().map_err(|_| {
        PlanError::Certificate(CryptoError::Certificate("node keys are Ed25519".into()))
    })
}

/// `cert` followed by its issuer's certificate when that is an organization's CA (the chain up
/// to the consortium CA `ca_cert_pem` that peers and clients trust).
fn with_issuer(cert: String, issuer: &Ca, ca_cert_pem: &str) -> String {
    if issuer.cert_pem() == ca_cert_pem { cert } else { format!("{cert}{}", issuer.cert_pem()) }
}

/// A node's P2P certificate (with its chain) for its key `public_key`, from `issuer`, valid
/// for `days` days (`None`: without an end). Renewing one needs no private key.
pub fn p2p_certificate(
    issuer: &Ca,
    ca_cert_pem: &str,
    name: &str,
    public_key: &[u8; 32],
    days: Option<u32>,
) -> Result<String, PlanError> {
    Ok(with_issuer(issuer.issue_for(name, public_key, days)?, issuer, ca_cert_pem))
}

/// A node's HTTPS certificate (with its chain) for its key, its HTTP address and `localhost`.
pub fn https_certificate(
    issuer: &Ca,
    ca_cert_pem: &str,
    name: &str,
    public_key: &[u8; 32],
    address: std::net::IpAddr,
    days: Option<u32>,
) -> Result<String, PlanError> {
    let hosts = [address.to_string(), "localhost".to_owned()];
    let cert = issuer.issue_server_for(name, public_key, &hosts, days)?;
    Ok(with_issuer(cert, issuer, ca_cert_pem))
}

/// A key file: PKCS#8 PEM, encrypted under `secret` if given.
fn key_file(key: &PrivateKey, secret: Option<&str>) -> Result<Vec<u8>, PlanError> {
    Ok(match secret {
        Some(secret) => key.to_encrypted_pem_under_secret(secret)?.into_bytes(),
        None => key.to_pkcs8_pem().into_bytes(),
    })
}

fn genesis_json(genesis: &Genesis) -> Result<Vec<u8>, PlanError> {
    serde_json::to_vec_pretty(genesis)
        .map_err(|e| PlanError::Encoding { file: GENESIS, detail: e.to_string() })
}

/// Keys, certificates, genesis and configuration for every node of `chain`.
pub fn plan(chain: &ChainPlan<'_>) -> Result<Plan, PlanError> {
    let mut validators = vec![];
    let mut identities = vec![];
    let mut keys = vec![];
    for node in &chain.nodes {
        let k = NodeKeys::new(node, &chain.ca_cert_pem, chain.suite)?;
        identities.push(NodeIdentity { name: node.name.clone(), key: k.node_key.public_key() });
        if let Some(v) = &k.validator_key {
            validators.push(Validator {
                name: node.name.clone(),
                public_key: v.public_key(),
                power: 1,
            });
        }
        keys.push(k);
    }
    let genesis = Genesis {
        chain_id: chain.chain_id,
        chain_name: chain.chain_name.clone(),
        suite: chain.suite,
        time_ms: chain.time_ms,
        validators,
        accounts: consortia_types::standard_accounts()
            .into_iter()
            .chain(chain.accounts.iter().cloned())
            .collect(),
        params: chain.params.clone(),
        nodes: identities,
        members: chain.members.clone(),
    };
    genesis.validate()?;
    let genesis_json = genesis_json(&genesis)?;
    let specs = chain
        .nodes
        .iter()
        .zip(keys)
        .map(|(node, keys)| {
            let peers = chain
                .nodes
                .iter()
                .filter(|other| other.name != node.name)
                .map(|other| other.p2p.to_string())
                .collect();
            keys.spec(node, &genesis_json, &chain.ca_cert_pem, peers, &chain.api)
        })
        .collect::<Result<_, PlanError>>()?;
    Ok(Plan { genesis, specs })
}

/// A node provisioned to join a running chain, and the keys the proposal adding it names.
#[derive(Debug)]
pub struct Joining {
    pub spec: NodeSpec,
    /// Its consensus key, if a validator.
    pub consensus_key: Option<consortia_crypto::PublicKey>,
    /// The key of its TLS certificate: peers admit it by this key once governance adds it.
    pub tls_key: consortia_crypto::PublicKey,
}

/// Keys, certificate and configuration for `node` joining the running chain of `genesis`,
/// dialing `peers` (`host:port`). Until governance adds it (with the keys returned), its
/// peers refuse it; it then syncs and, as a validator, signs from its first height in the set.
pub fn join(
    node: &NodePlan<'_>,
    genesis: &Genesis,
    ca_cert_pem: &str,
    peers: Vec<String>,
    api: &NodeApi,
) -> Result<Joining, PlanError> {
    let keys = NodeKeys::new(node, ca_cert_pem, genesis.suite)?;
    let consensus_key = keys.validator_key.as_ref().map(PrivateKey::public_key);
    let tls_key = keys.node_key.public_key();
    let spec = keys.spec(node, &genesis_json(genesis)?, ca_cert_pem, peers, api)?;
    Ok(Joining { spec, consensus_key, tls_key })
}

#[cfg(test)]
mod tests {
    use consortia_types::ConsensusKind;

    use super::*;

    fn node<'a>(i: u16, validator: bool, issuer: &'a Ca) -> NodePlan<'a> {
        NodePlan {
            name: format!("node-{i}"),
            spec_name: format!("c-node-{i}"),
            group: "c".into(),
            org: "org".into(),
            resources: resources(None, None),
            validator,
            issuer,
            http: ([127, 0, 0, 1], 9000 + i).into(),
            p2p: ([127, 0, 0, 1], 9100 + i).into(),
            key_secret: None,
            cert_days: None,
        }
    }

    fn file<'s>(spec: &'s NodeSpec, name: &str) -> &'s [u8] {
        &spec.files.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn every_node_gets_its_keys_certificate_chain_and_config() {
        let root = Ca::generate("Trade").unwrap();
        let org = root.issue_member("Trade", "Bank").unwrap();
        let nodes = vec![node(0, true, &org), node(1, true, &root), node(2, false, &org)];
        let chain = ChainPlan {
            chain_id: 4242,
            chain_name: "trade".into(),
            suite: Suite::Sm,
            params: ChainParams { consensus: ConsensusKind::Raft, ..ChainParams::default() },
            accounts: vec![],
            time_ms: 1,
            ca_cert_pem: root.cert_pem().to_owned(),
            nodes,
            members: vec![],
            api: NodeApi::default(),
        };
        let plan = plan(&chain).unwrap();
        assert_eq!(plan.genesis.validators.len(), 2);
        assert_eq!(plan.genesis.nodes.len(), 3);
        assert!(plan.genesis.validators.iter().all(|v| v.public_key.scheme() == Scheme::Sm2));
        assert_eq!(
            plan.specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["c-node-0", "c-node-1", "c-node-2"]
        );
        let config: NodeFile =
            toml::from_str(std::str::from_utf8(file(&plan.specs[0], NODE_CONFIG)).unwrap())
                .unwrap();
        assert_eq!(config.p2p.peers, ["127.0.0.1:9101", "127.0.0.1:9102"]);
        assert_eq!(config.http, ([127, 0, 0, 1], 9000).into());
        assert!(config.validator_key.is_some());
        // An organization's node presents its certificate followed by the organization CA's;
        // one issued by the root presents its own only.
        let count = |spec: &NodeSpec| {
            std::str::from_utf8(file(spec, NODE_CERT)).unwrap().matches("BEGIN CERTIFICATE").count()
        };
        assert_eq!((count(&plan.specs[0]), count(&plan.specs[1])), (2, 1));
        assert!(
            plan.specs[2].files.iter().all(|(n, _)| n != VALIDATOR_KEY),
            "an observer has no consensus key"
        );
        let genesis: Genesis = serde_json::from_slice(file(&plan.specs[2], GENESIS)).unwrap();
        assert_eq!(genesis.hash(), plan.genesis.hash());
    }

    #[test]
    fn a_chain_without_validators_is_refused() {
        let root = Ca::generate("Trade").unwrap();
        let chain = ChainPlan {
            chain_id: 1,
            chain_name: "x".into(),
            suite: Suite::Standard,
            params: ChainParams::default(),
            accounts: vec![],
            time_ms: 1,
            ca_cert_pem: root.cert_pem().to_owned(),
            nodes: vec![node(0, false, &root)],
            members: vec![],
            api: NodeApi::default(),
        };
        assert!(matches!(plan(&chain), Err(PlanError::Genesis(_))));
    }
}
