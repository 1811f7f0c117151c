//! The `consortia` command: run a node, make keys and genesis files, talk to a node, load-test it.

mod bench;
mod bench_rpc;
mod client;
mod control;
mod detached;
mod dev;
mod gov;
mod keys;
mod net;
mod node;
mod notary;
mod platform;
mod serve;
mod sql;
mod up;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use consortia_crypto::{Scheme, Suite};
use consortia_platform::logbook::Logbook;

#[derive(Debug, Parser)]
#[command(name = "consortia", version, about = "Consortia: consortium blockchains as a service")]
struct Cli {
    /// How this process logs to standard error: `text` for people (coloured on a terminal
    /// only), `json` for machines (one object per line: timestamp, level, target, message and
    /// the event's fields), as the nodes the platform runs do.
    #[arg(long, global = true, env = "CONSORTIA_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to standard error in `format`, filtered by `RUST_LOG` (else `default_filter`), and
/// as JSON into `logbook` if given (the platform's own log, for its console).
fn init_logging(format: LogFormat, default_filter: &str, logbook: Option<Logbook>) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let stderr: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = match format {
        LogFormat::Text => stderr.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => {
            stderr.json().flatten_event(true).with_current_span(false).with_span_list(false).boxed()
        }
    };
    let kept = logbook.map(|book| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(book)
    });
    tracing_subscriber::registry().with(stderr).with(kept).with(filter).init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a private key (PKCS#8 PEM) and print its public key and address.
    Keygen {
        #[arg(long, default_value = "ed25519", value_parser = parse_scheme)]
        scheme: Scheme,
        /// Where to write the key (created with mode 0600; an existing file is not overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Encrypt the key (PKCS#8, scrypt and AES-256-CBC) under the passphrase in
        /// `CONSORTIA_KEY_PASSPHRASE`; nodes open it with the same variable.
        #[arg(long)]
        encrypt: bool,
    },
    /// Write the node image's root filesystem (this program and the libraries it links) as a
    /// tar, and print its build: the tag a Kubernetes host's nodes run, to import
    /// (`docker import`, with the printed `--change`s) and push where the cluster pulls from.
    NodeImage {
        /// Where to write the tar.
        #[arg(long)]
        output: PathBuf,
    },
    /// Genesis files.
    Genesis {
        #[command(subcommand)]
        command: GenesisCommand,
    },
    /// Run a single-validator development chain with its HTTP API.
    Dev(dev::DevArgs),
    /// Start the platform with a demo organization, consortium and 4-validator BFT chain
    /// made through it, and print the console, the administrator and the JSON-RPC URL; run
    /// again to resume.
    Up(up::UpArgs),
    /// Stop the platform and every node it runs.
    Down(up::DownArgs),
    /// A bare local network without the platform (for scripts and benchmarks).
    Net {
        #[command(subcommand)]
        command: NetCommand,
    },
    /// Run one validator or observer of a multi-node chain (`--config`), or manage a
    /// platform-run node (`logs`, `restart`).
    #[command(args_conflicts_with_subcommands = true)]
    Node {
        /// The node's configuration file (TOML); the platform and `consortia net up` write one
        /// per node.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keep the chain here instead of the configuration's `data_dir` (a container whose
        /// configuration is mounted read-only keeps its data on a volume of its own).
        #[arg(long, requires = "config")]
        data_dir: Option<PathBuf>,
        /// Bind both listeners to this address instead of the configuration's, on the same
        /// ports: `0.0.0.0` in a container reached through another address (a Kubernetes
        /// Service's).
        #[arg(long, requires = "config")]
        bind: Option<std::net::IpAddr>,
        #[command(subcommand)]
        command: Option<control::NodeCommand>,
    },
    /// Log in to a platform (the session is kept for the commands below).
    Login(control::LoginArgs),
    /// Users on the platform.
    User {
        #[command(subcommand)]
        command: control::UserCommand,
    },
    /// Organizations on the platform.
    Org {
        #[command(subcommand)]
        command: control::OrgCommand,
    },
    /// Consortiums: create, invite, accept, join, approve.
    Consortium {
        #[command(subcommand)]
        command: control::ConsortiumCommand,
    },
    /// Hosts that run an organization's nodes.
    Host {
        #[command(subcommand)]
        command: control::HostCommand,
    },
    /// The chain wizard: create, add-node, invite, start, status.
    Chain {
        #[command(subcommand)]
        command: control::ChainCommand,
    },
    /// On-chain governance: propose, vote, cancel, list and show proposals; members, nodes,
    /// validator sets, chain parameters, contract status and dry runs.
    Gov {
        #[command(subcommand)]
        command: gov::GovCommand,
    },
    /// Transactions.
    Tx {
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Notarization certificates: `verify` one offline.
    Notary {
        #[command(subcommand)]
        command: notary::NotaryCommand,
    },
    /// One SQL statement on the chain's ledger tables: `SELECT` (answered by the node),
    /// `CREATE TABLE` and `INSERT` (transactions signed with `--key`), `SHOW TABLES`, `DESCRIBE`.
    Sql(sql::SqlArgs),
    /// Blocks.
    Block {
        #[command(subcommand)]
        command: BlockCommand,
    },
    /// A node's chain id, height and latest block.
    Status {
        #[arg(long, env = "CONSORTIA_NODE", default_value = client::DEFAULT_NODE)]
        node: String,
    },
    /// Load generator: signed notarization transactions over HTTP; reports committed TPS and
    /// latency (p50, p99, max).
    Bench(bench::BenchArgs),
    /// JSON-RPC read throughput of any Ethereum node (ours, anvil, geth) with the same client
    /// and requests: `eth_blockNumber`, `eth_getBalance`, ERC-20 `balanceOf` through `eth_call`.
    BenchRpc(bench_rpc::BenchRpcArgs),
    /// Run the control plane: users, organizations, roles and policies, the audit log
    /// (REST API with OpenAPI at /openapi.json, Swagger UI at /docs).
    Platform(platform::PlatformArgs),
    /// Print an API's OpenAPI 3 document (JSON), as its server serves it at /openapi.json.
    Openapi {
        #[arg(value_enum)]
        api: OpenapiApi,
    },
}

/// The HTTP APIs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OpenapiApi {
    /// The platform's REST API.
    Platform,
    /// A node's REST API, Ethereum JSON-RPC and metrics (for the default transaction size).
    Node,
}

#[derive(Debug, Subcommand)]
enum GenesisCommand {
    /// Write a new genesis file.
    New {
        /// Chain id carried by every transaction of the chain.
        #[arg(long, default_value_t = 1001)]
        chain_id: u64,
        #[arg(long, default_value = "consortia-dev")]
        name: String,
        #[arg(long, default_value = "standard", value_parser = parse_suite)]
        suite: Suite,
        /// Private key file of the (solo) validator.
        #[arg(long)]
        validator_key: PathBuf,
        /// Pre-funded account, `ADDRESS=BALANCE` (repeatable).
        #[arg(long = "account")]
        accounts: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NetCommand {
    /// Start a local network (4 BFT validators by default, each its own process) and wait
    /// until it commits; run again to resume it.
    Up(net::UpArgs),
    /// Stop the network `net up` started.
    Down(net::DownArgs),
    /// Add a node to the running network: provision and start it, then propose it and vote
    /// it in with the network's member admins; waits until it has caught up.
    AddNode(net::AddNodeArgs),
    /// Remove a node from the running network by vote, then stop it.
    RemoveNode(net::RemoveNodeArgs),
    /// Issue every node a new certificate for its key (P2P, and HTTPS if it serves it) from
    /// the network's CA; running nodes present it from their next connection, with no restart.
    RenewCerts(net::RenewArgs),
}

#[derive(Debug, Subcommand)]
enum TxCommand {
    /// Notarize a record: sign, submit, wait for the commit, print the receipt.
    Notarize(client::NotarizeArgs),
}

#[derive(Debug, Subcommand)]
enum BlockCommand {
    /// Print a block (`latest` or a height).
    Get {
        #[arg(long, env = "CONSORTIA_NODE", default_value = client::DEFAULT_NODE)]
        node: String,
        height: String,
    },
}

fn parse_scheme(s: &str) -> Result<Scheme, String> {
    s.parse().map_err(|e: consortia_crypto::CryptoError| e.to_string())
}

fn parse_suite(s: &str) -> Result<Suite, String> {
    s.parse().map_err(|e: consortia_crypto::CryptoError| e.to_string())
}

fn main() -> Result<()> {
    // Everything Consortia writes (keys, ledgers, databases, logs, keystores) is its user's
    // alone: other users of the machine can neither read nor list it. What is meant to be
    // shared (a genesis file, a certificate) is shared on purpose, by copying or chmod.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    // `up` and `down` print what they did; the drivers' notes would only clutter that.
    let default_filter = match cli.command {
        Command::Up(_) | Command::Down(_) => "warn",
        _ => consortia_platform::provision::NODE_LOG_FILTER,
    };
    // The platform's server keeps its log for the console, beside standard error.
    let logbook = match &cli.command {
        Command::Platform(p) => p.logbook(),
        _ => None,
    };
    init_logging(cli.log_format, default_filter, logbook.clone());
    // Few blocking threads: admission, block building and commits are CPU- or disk-bound on a
    // small machine, and every extra thread can grow its own malloc arena (resident memory).
    let runtime =
        tokio::runtime::Builder::new_multi_thread().max_blocking_threads(8).enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Keygen { scheme, out, encrypt } => keys::keygen(scheme, &out, encrypt),
            Command::NodeImage { output } => node::image(&output),
            Command::Genesis { command: GenesisCommand::New { chain_id, name, suite, validator_key, accounts, out } } => {
                keys::genesis_new(chain_id, name, suite, &validator_key, &accounts, &out)
            }
            Command::Dev(args) => dev::run(args).await,
            Command::Platform(args) => platform::run(args, logbook).await,
            Command::Up(args) => up::up(args).await,
            Command::Down(args) => up::down(args).await,
            Command::Net { command: NetCommand::Up(args) } => net::up(args).await,
            Command::Net { command: NetCommand::Down(args) } => net::down(args).await,
            Command::Net { command: NetCommand::AddNode(args) } => net::add_node(args).await,
            Command::Net { command: NetCommand::RemoveNode(args) } => net::remove_node(args).await,
            Command::Net { command: NetCommand::RenewCerts(args) } => net::renew_certs(&args),
            Command::Gov { command } => gov::run(command).await,
            Command::Node { command: Some(command), .. } => control::node(command).await,
            Command::Node { config: Some(config), data_dir, bind, command: None } => {
                node::run(&config, node::Overrides { data_dir, bind }).await
            }
            Command::Node { config: None, command: None, .. } => {
                anyhow::bail!("`consortia node` needs --config FILE (or a subcommand: logs, restart)")
            }
            Command::Login(args) => control::login(args).await,
            Command::User { command } => control::user(command).await,
            Command::Org { command } => control::org(command).await,
            Command::Consortium { command } => control::consortium(command).await,
            Command::Host { command } => control::host(command).await,
            Command::Chain { command } => control::chain(command).await,
            Command::Tx { command: TxCommand::Notarize(args) } => client::notarize(args).await,
            Command::Block { command: BlockCommand::Get { node, height } } => {
                client::block_get(&node, &height).await
            }
            Command::Status { node } => client::status(&node).await,
            Command::Sql(args) => sql::run(args).await,
            Command::Notary { command } => notary::run(command),
            Command::Bench(args) => bench::run(args).await,
            Command::BenchRpc(args) => bench_rpc::run(args).await,
            Command::Openapi { api } => {
                let doc = match api {
                    OpenapiApi::Platform => consortia_platform::http::openapi(),
                    OpenapiApi::Node => consortia_rpc::openapi(
                        consortia_types::ChainParams::default().max_tx_bytes as usize,
                    ),
                };
                println!("{}", doc.to_pretty_json()?);
                Ok(())
            }
        }
    })
}

/// The default HTTP address of `consortia dev`.
pub(crate) const DEFAULT_HTTP: &str = "127.0.0.1:8545";

pub(crate) fn default_http() -> SocketAddr {
    DEFAULT_HTTP.parse().expect("valid default address")
}
