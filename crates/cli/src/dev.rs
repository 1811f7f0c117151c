use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use consortia_crypto::{PrivateKey, Scheme, Suite};
use consortia_node::mempool::MempoolConfig;
use consortia_node::{Node, NodeConfig};
use consortia_types::Genesis;
use consortia_types::config::LOCAL_CORS_ORIGINS;

use crate::keys::{now_ms, read_key, write_secret};

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Where the chain lives. Created on first start with a new key and genesis; later starts
    /// resume the chain found there.
    #[arg(long, default_value = ".consortia/dev")]
    data_dir: PathBuf,
    /// HTTP API address.
    #[arg(long, default_value_t = crate::default_http())]
    http: SocketAddr,
    /// Use this genesis file (its validator key must be in the data dir as validator.pem)
    /// instead of making one. A data dir of another chain is refused.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Crypto suite of a new chain.
    #[arg(long, default_value = "standard", value_parser = crate::parse_suite)]
    suite: Suite,
    /// Chain id of a new chain.
    #[arg(long, default_value_t = 1001)]
    chain_id: u64,
    /// Most transactions the pool holds before it answers "pool full, retry".
    #[arg(long, default_value_t = MempoolConfig::default().max_txs)]
    mempool_max_txs: usize,
    /// A web origin allowed to call the API from a browser (repeat it; `*` allows any site).
    /// Default: pages served from this machine, `http://localhost:*` and `http://127.0.0.1:*`.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// A DNS name the API answers for (repeat it; `*.domain` for its subdomains, `*` for any).
    /// IP addresses and `localhost` always work; other names are refused (DNS rebinding).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
}

fn load_or_create(args: &DevArgs) -> Result<(Genesis, PrivateKey)> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let key_path = args.data_dir.join("validator.pem");
    let key = if key_path.exists() {
        read_key(&key_path)?
    } else {
        let scheme = if args.suite == Suite::Sm { Scheme::Sm2 } else { Scheme::Ed25519 };
        let key = PrivateKey::generate(scheme);
        write_secret(&key_path, &key.to_pkcs8_pem())?;
        key
    };
    let saved = args.data_dir.join("genesis.json");
    let genesis = match (&args.genesis, saved.exists()) {
        (Some(path), _) => read_genesis(path)?,
        (None, true) => read_genesis(&saved)?,
        (None, false) => {
            Genesis::solo(args.chain_id, "consortia-dev", args.suite, key.public_key(), now_ms())
        }
    };
    if !saved.exists() {
        std::fs::write(&saved, serde_json::to_string_pretty(&genesis)?)
            .with_context(|| format!("cannot write {}", saved.display()))?;
    }
    Ok((genesis, key))
}

fn read_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read genesis {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid genesis file", path.display()))
}

pub(crate) async fn run(args: DevArgs) -> Result<()> {
    let (genesis, key) = load_or_create(&args)?;
    let node = Node::open(NodeConfig {
        data_dir: args.data_dir.clone(),
        genesis,
        validator_key: Some(key),
        network: None,
        history: Default::default(),
        mempool: MempoolConfig { max_txs: args.mempool_max_txs, ..Default::default() },
    })
    .with_context(|| format!("cannot start the node in {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.clone();
    let shown = node.clone();
    let cors = if args.cors_origins.is_empty() {
        LOCAL_CORS_ORIGINS.map(String::from).to_vec()
    } else {
        args.cors_origins.clone()
    };
    let api = crate::serve::Api {
        cors_origins: &cors,
        allowed_hosts: &args.allowed_hosts,
        policy: consortia_rpc::AccessPolicy::open(),
        tls: None,
    };
    crate::serve::serve(node, args.http, api, move |addr| {
        let g = shown.genesis();
        println!(
            "consortia dev chain `{}` (chain id {}, suite {})",
            g.chain_name, g.chain_id, g.suite
        );
        println!("  data dir: {}", data_dir.display());
        println!("  height:   {}", *shown.committed().borrow());
        println!("  REST API: http://{addr}/v1/status");
        println!("  API docs: http://{addr}/docs");
    })
    .await
}
