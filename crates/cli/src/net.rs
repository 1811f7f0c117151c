//! `consortia net up` and `consortia net down`: a bare local BFT network of validator processes,
//! without the platform (scripts, benchmarks and tests use it; `consortia up` runs the platform).
//!
//! `up` creates the network the first time (consortium CA, validator and node keys, node
//! certificates, genesis, one config per node), starts every validator as its own OS process
//! (`consortia node --config …`, detached, logging to its directory), and waits until the chain
//! works. Run again, it starts whatever is not running and resumes the chain. `down` stops them.
//!
//! The network is governed like any chain: validator `i` belongs to member organization
//! `org-i`, whose admin key is `admins/org-i.pem` in the network's directory. `add-node` and
//! `remove-node` change the running network by vote, with those keys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_sol_types::SolCall;
use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_api::NodeClient;
use consortia_api::node::ProposalView;
use consortia_crypto::pki::Ca;
use consortia_crypto::{PrivateKey, Scheme, Suite};
use consortia_execution::governance::{ACTIVATION_DELAY, IGovernance};
use consortia_hosts::process::Signal;
use consortia_platform::provision::{ChainPlan, NodeApi, NodePlan, join, plan, resources};
use consortia_types::config::{Access, LOCAL_CORS_ORIGINS, NodeFile};
use consortia_types::{ChainParams, ConsensusKind, Genesis, GenesisMember};
use indicatif::{ProgressBar, ProgressStyle};

use crate::gov;
use crate::keys::{now_ms, read_key, write_secret};

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where the network lives: genesis, CA, and one directory per node.
    #[arg(long, default_value = ".consortia/net")]
    data_dir: PathBuf,
    /// Validators of a new network (BFT needs at least 4: 3f+1 tolerate f faulty).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Observers of a new network: full nodes that follow the chain without voting.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// Consensus of a new network: `bft` (tolerates f Byzantine validators of 3f+1) or `raft`
    /// (tolerates f crashed validators of 2f+1, for members that trust each other not to lie).
    #[arg(long, default_value = "bft", value_parser = parse_consensus)]
    consensus: ConsensusKind,
    /// First HTTP port of a new network: node i serves HTTP on BASE+i and P2P on BASE+100+i.
    #[arg(long, default_value_t = 8545)]
    base_port: u16,
    /// Crypto suite of a new network.
    #[arg(long, default_value = "standard", value_parser = crate::parse_suite)]
    suite: Suite,
    #[arg(long, default_value_t = 1001)]
    chain_id: u64,
    /// Fund an account of a new network: `ADDRESS=BALANCE` (in wei; repeatable).
    #[arg(long = "account", value_name = "ADDRESS=BALANCE")]
    accounts: Vec<String>,
    /// Base fee per gas of a new network, in wei (constant, burned; 0: gas is free).
    #[arg(long, default_value_t = 0)]
    base_fee: u64,
    /// Cut an empty block after this many ms without transactions (0: none, blocks only with
    /// transactions). Clients that wait for a receipt by watching new blocks (ethers, viem)
    /// never miss one when blocks keep coming, as on geth with a block period.
    #[arg(long, default_value_t = 0)]
    empty_block_interval_ms: u64,
    /// Give up waiting for the chain after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Who may use the nodes' APIs: `open` (a network on this machine), `public-reads` or
    /// `members` (credentials: tokens or client certificates the network's CA issues; `net
    /// up` writes one for itself, `client.token`).
    #[arg(long, default_value = "open")]
    access: Access,
    /// Serve the nodes' APIs over HTTPS, with certificates from the network's CA (`ca.crt`).
    #[arg(long)]
    https: bool,
}

/// The nodes' HTTP APIs of a network made here: pages and tools of this machine may call them
/// (CORS), as `access` and `https` say.
fn local_api(access: Access, https: bool) -> NodeApi {
    NodeApi { cors_origins: LOCAL_CORS_ORIGINS.map(String::from).to_vec(), access, https }
}

fn parse_consensus(s: &str) -> Result<ConsensusKind, String> {
    match s {
        "bft" => Ok(ConsensusKind::Bft),
        "raft" => Ok(ConsensusKind::Raft),
        other => Err(format!("`{other}`: choose bft or raft")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    #[arg(long, default_value = ".consortia/net")]
    data_dir: PathBuf,
}

/// The node directories of a network, in order.
fn node_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("node.toml").is_file())
        .collect();
    dirs.sort_by_key(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        (name.len(), name)
    });
    Ok(dirs)
}

/// Creates keys, certificates, genesis and configs for a new network: the provisioning plan
/// the platform's start makes too, written into one directory per node, with the genesis and
/// the CA beside them (`genesis.json`, `ca.crt`, `ca.key`).
fn create(args: &UpArgs) -> Result<()> {
    match args.consensus {
        ConsensusKind::Bft if args.validators < 4 => bail!(
            "--validators {}: BFT needs at least 4 validators (3f+1 tolerate f faulty)",
            args.validators
        ),
        ConsensusKind::Raft if args.validators < 3 => bail!(
            "--validators {}: Raft needs at least 3 validators to survive a crash (2f+1 tolerate f)",
            args.validators
        ),
        _ => {}
    }
    let n = args.validators + args.observers;
    if usize::from(args.base_port) + 100 + n > usize::from(u16::MAX) {
        bail!("--base-port {} leaves no room for {n} nodes' ports", args.base_port);
    }
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca = Ca::generate(&consortium_name(args.chain_id))?;
    let nodes = (0..n)
        .map(|i| NodePlan {
            name: format!("node-{i}"),
            spec_name: format!("node-{i}"),
            group: String::new(),
            // Observers belong to org-0 (below).
            org: format!("org-{}", if i < args.validators { i } else { 0 }),
            resources: resources(None, None),
            validator: i < args.validators,
            issuer: &ca,
            http: ([127, 0, 0, 1], args.base_port + i as u16).into(),
            p2p: ([127, 0, 0, 1], args.base_port + 100 + i as u16).into(),
            // In clear, 0600 in 0700 directories: `net up` starts and restarts its nodes
            // with no keystore to hold a secret (docs/security.md).
            key_secret: None,
            cert_days: None,
        })
        .collect();
    // One member per validator, with an admin key kept here (secp256k1, so a web3 wallet can
    // vote with it too); observers belong to org-0.
    std::fs::create_dir_all(dir.join(ADMINS))?;
    let mut members = Vec::with_capacity(args.validators);
    for i in 0..args.validators {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        write_secret(&dir.join(ADMINS).join(format!("org-{i}.pem")), &key.to_pkcs8_pem())?;
        let mut nodes = vec![format!("node-{i}")];
        if i == 0 {
            nodes.extend((args.validators..n).map(|o| format!("node-{o}")));
        }
        members.push(GenesisMember {
            id: format!("org-{i}"),
            admins: vec![key.public_key().address()],
            ca_cert: String::new(),
            nodes,
        });
    }
    let chain = ChainPlan {
        chain_id: args.chain_id,
        chain_name: "consortia-local".into(),
        suite: args.suite,
        params: ChainParams {
            consensus: args.consensus,
            base_fee_per_gas: args.base_fee,
            empty_block_interval_ms: args.empty_block_interval_ms,
            ..ChainParams::default()
        },
        accounts: crate::keys::parse_accounts(&args.accounts)?,
        time_ms: now_ms(),
        ca_cert_pem: ca.cert_pem().to_owned(),
        nodes,
        members,
        api: local_api(args.access, args.https),
    };
    let plan = plan(&chain)?;
    for spec in &plan.specs {
        consortia_hosts::write_files(&dir.join(&spec.name), spec)?;
    }
    std::fs::write(dir.join("ca.crt"), ca.cert_pem())?;
    write_secret(&dir.join("ca.key"), ca.key_pem())?;
    std::fs::write(dir.join("genesis.json"), serde_json::to_string_pretty(&plan.genesis)?)?;
    if args.access != Access::Open {
        write_secret(&dir.join(CLIENT_TOKEN), &own_token(&ca, args.chain_id)?)?;
    }
    Ok(())
}

/// A write credential for the network's nodes, signed by its CA: what `net up` and its
/// operator use when the nodes take members only (a year).
fn own_token(ca: &Ca, chain_id: u64) -> Result<String> {
    use consortia_crypto::token::{CONSORTIUM_ISSUER, Claims, Role, issue};
    let now = now_ms() / 1000;
    let claims = Claims {
        iss: CONSORTIUM_ISSUER.into(),
        sub: "net-up".into(),
        aud: chain_id.to_string(),
        role: Role::Write,
        iat: now,
        exp: now + 365 * 86_400,
        jti: format!("net-up-{now}"),
    };
    let key = consortia_crypto::PrivateKey::from_pem(ca.key_pem(), None)?;
    Ok(issue(&claims, &key)?)
}

/// The folder of the member admins' keys in a network's directory.
const ADMINS: &str = "admins";

fn consortium_name(chain_id: u64) -> String {
    format!("consortium-{chain_id}")
}

/// The pid of a node process started from `node_dir`, if it still runs.
fn running_pid(node_dir: &Path) -> Option<u32> {
    let config = node_dir.join("node.toml");
    crate::detached::running(&node_dir.join("node.pid"), &["node", &config.to_string_lossy()])
}

fn start_node(node_dir: &Path) -> Result<std::process::Child> {
    // glibc gives every thread that allocates its own arena; a validator's blocking threads
    // then hold freed memory apart. Two arenas halve its peak RSS under load (measured:
    // 134-196 MiB -> 94-106 MiB at 2,000 tx/s), at no measurable cost in throughput.
    let arenas = std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "2".into());
    let config = node_dir.join("node.toml");
    crate::detached::spawn(
        &["node".as_ref(), "--config".as_ref(), config.as_os_str()],
        &[("MALLOC_ARENA_MAX", &arenas)],
        &node_dir.join("node.log"),
        &node_dir.join("node.pid"),
    )
}

/// What to show of a log when its process exited: its error, or its last lines.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    // An error report (with RUST_BACKTRACE set, followed by a long backtrace that would push it
    // out of a plain tail).
    let from = match lines.iter().rposition(|l| l.starts_with("Error: ")) {
        Some(error) => error,
        None => lines.len().saturating_sub(15),
    };
    lines[from..].iter().take(15).copied().collect::<Vec<_>>().join("\n")
}

/// A spinner for a wait: a message and the time spent.
pub(crate) fn spinner() -> Result<ProgressBar> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")?);
    bar.enable_steady_tick(Duration::from_millis(100));
    Ok(bar)
}

/// Polls the nodes at `urls` until every one answers, is connected to all the others and has
/// committed a block, showing how far they are on `bar`. A node of another chain answering at
/// one of the URLs (a port already taken) fails the wait when `genesis` names the expected
/// genesis hash. Between polls `check` may end the wait with an error (a node process
/// exited). False if `deadline` passed first.
pub(crate) async fn wait_until_committing(
    nodes: &[NodeClient],
    genesis: Option<&str>,
    deadline: Instant,
    bar: &ProgressBar,
    mut check: impl FnMut() -> Result<()>,
) -> Result<bool> {
    let n = nodes.len();
    loop {
        let mut statuses = Vec::new();
        for node in nodes {
            let url = node.base();
            if let Ok(status) = node.status().await {
                if let Some(expected) = genesis
                    && status.genesis_hash != expected
                {
                    bail!(
                        "{url} is a node of another chain (genesis {}): its port is taken; stop that chain or choose another --base-port",
                        status.genesis_hash
                    );
                }
                statuses.push(status);
            }
        }
        let height = statuses.iter().map(|s| s.height).min().unwrap_or(0);
        let connected = statuses.len() == n && statuses.iter().all(|s| s.peers + 1 >= n);
        bar.set_message(format!(
            "{} of {n} nodes up, all connected: {}, height {height}",
            statuses.len(),
            if connected { "yes" } else { "not yet" }
        ));
        if connected && height >= 1 {
            return Ok(true);
        }
        check()?;
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn up(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let dir = args.data_dir.clone();
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        create(&args)?;
    }
    let dirs = node_dirs(&dir)?;
    if dirs.is_empty() {
        bail!(
            "{} holds a genesis but no node directories; remove it and run `consortia net up` again",
            dir.display()
        );
    }
    // The processes started here are watched through their handles: until a child has
    // exec'd, /proc shows this command's line, not the node's.
    let mut started_here = Vec::new();
    for node_dir in &dirs {
        if running_pid(node_dir).is_none() {
            started_here.push((node_dir.clone(), start_node(node_dir)?));
        }
    }
    let files: Vec<NodeFile> = dirs
        .iter()
        .map(|d| crate::node::read_node_file(&d.join("node.toml")))
        .collect::<Result<_>>()?;
    let bar = spinner()?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let nodes =
        files.iter().map(|f| net_client(&dir, f, POLL_TIMEOUT)).collect::<Result<Vec<_>>>()?;
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json"))?)?;
    let genesis_hash = genesis.hash().to_hex();
    let came_up = wait_until_committing(&nodes, Some(&genesis_hash), deadline, &bar, || {
        for node_dir in &dirs {
            let exited = match started_here.iter_mut().find(|(sd, _)| sd == node_dir) {
                Some((_, child)) => !matches!(child.try_wait(), Ok(None)),
                None => running_pid(node_dir).is_none(),
            };
            if exited {
                bail!(
                    "node {} exited; the end of its log ({}/node.log):\n{}",
                    node_dir.display(),
                    node_dir.display(),
                    log_tail(&node_dir.join("node.log"))
                );
            }
        }
        Ok(())
    })
    .await;
    bar.finish_and_clear();
    if !came_up? {
        bail!(
            "the chain did not come up within {} s; see the node logs in {}/node-*/node.log",
            args.timeout,
            dir.display()
        );
    }
    let first_block = started.elapsed();
    let n = files.len();
    let verb = if fresh { "created" } else { "resumed" };
    let validators = files.iter().filter(|f| f.validator_key.is_some()).count();
    let observers = match n - validators {
        0 => String::new(),
        k => format!(" and {k} observer(s)"),
    };
    let consensus = match genesis.params.consensus {
        ConsensusKind::Raft => "Raft",
        ConsensusKind::Bft => "BFT",
        ConsensusKind::Solo => "solo",
    };
    println!(
        "consortia network {verb}: {validators} validators ({consensus}){observers}, data in {}",
        dir.display()
    );
    if fresh {
        println!(
            "first block committed {:.2} s after the command started",
            first_block.as_secs_f64()
        );
    }
    for (file, node_dir) in files.iter().zip(&dirs) {
        let role = if file.validator_key.is_some() { "validator" } else { "observer" };
        println!(
            "  {} ({role}): REST API {}/v1/status   P2P {}   log {}",
            file.name,
            node_url(file),
            file.p2p.listen,
            node_dir.join("node.log").display()
        );
    }
    if files.iter().any(|f| f.https.is_some()) {
        println!(
            "HTTPS: the nodes' certificates are from the network's CA, {}",
            dir.join("ca.crt").display()
        );
    }
    if dir.join(CLIENT_TOKEN).is_file() {
        println!(
            "the nodes take credentials: a write token is in {} (Authorization: Bearer, or CONSORTIA_NODE_TOKEN for the CLI)",
            dir.join(CLIENT_TOKEN).display()
        );
    }
    if dir.join(ADMINS).is_dir() {
        println!(
            "members' admin keys (one per validator's organization): {}/org-N.pem; change the network by vote with `consortia net add-node`, `remove-node` and `consortia gov`",
            dir.join(ADMINS).display()
        );
    }
    println!("stop it with: consortia net down --data-dir {}", dir.display());
    Ok(())
}

pub(crate) async fn down(args: DownArgs) -> Result<()> {
    let dirs = node_dirs(&args.data_dir)?;
    let mut stopping = Vec::new();
    for node_dir in &dirs {
        if let Some(pid) = running_pid(node_dir) {
            kill(pid, Signal::Term)?;
            stopping.push((node_dir.clone(), pid));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while stopping.iter().any(|(d, _)| running_pid(d).is_some()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (node_dir, pid) in &stopping {
        if running_pid(node_dir).is_some() {
            eprintln!("{} did not stop in 15 s; killing it", node_dir.display());
            kill(*pid, Signal::Kill)?;
        }
        let _ = std::fs::remove_file(node_dir.join("node.pid"));
    }
    println!("stopped {} node(s) of {}", stopping.len(), args.data_dir.display());
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct AddNodeArgs {
    #[arg(long, default_value = ".consortia/net")]
    data_dir: PathBuf,
    /// Add an observer (a full node that does not vote) instead of a validator.
    #[arg(long)]
    observer: bool,
    /// The member organization that runs it.
    #[arg(long, default_value = "org-0")]
    org: String,
    /// Only provision and start it; propose it yourself (`consortia gov propose add-node
    /// --node-dir …`).
    #[arg(long)]
    no_vote: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveNodeArgs {
    #[arg(long, default_value = ".consortia/net")]
    data_dir: PathBuf,
    /// The node's name (`node-4`).
    name: String,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    #[arg(long, default_value = ".consortia/net")]
    data_dir: PathBuf,
    /// Days the new certificates are valid for, from today.
    #[arg(long, default_value_t = 365)]
    days: u32,
}

/// Issues every node of the network in `args.data_dir` new certificates for its own key and
/// replaces its files (each written whole, then renamed over the old one, so a node never
/// reads half a certificate); nodes watch the files and present the new ones.
pub(crate) fn renew_certs(args: &RenewArgs) -> Result<()> {
    let dir = &args.data_dir;
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json"))?)?;
    let ca_cert = std::fs::read_to_string(dir.join("ca.crt"))?;
    let ca_key = zeroize::Zeroizing::new(std::fs::read_to_string(dir.join("ca.key"))?);
    let ca = Ca::load(&consortium_name(genesis.chain_id), &ca_cert, &ca_key)?;
    let days = Some(args.days);
    for node_dir in node_dirs(dir)? {
        let file = crate::node::read_node_file(&node_dir.join("node.toml"))?;
        let key: [u8; 32] = read_key(&file.p2p.key)?
            .public_key()
            .as_bytes()
            .try_into()
            .context("node keys are Ed25519 keys")?;
        replace_file(&file.p2p.cert, &ca.issue_for(&file.name, &key, days)?)?;
        if let Some(https) = &file.https {
            let hosts = [file.http.ip().to_string(), "localhost".to_owned()];
            replace_file(&https.cert, &ca.issue_server_for(&file.name, &key, &hosts, days)?)?;
        }
        println!("{}: certificates renewed for {} days", file.name, args.days);
    }
    Ok(())
}

/// Writes `contents` beside `path`, then renames it over `path`.
fn replace_file(path: &Path, contents: &str) -> Result<()> {
    let next = path.with_extension("next");
    std::fs::write(&next, contents).with_context(|| format!("cannot write {}", next.display()))?;
    std::fs::rename(&next, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The member admins' keys of a network, by organization id, in order.
fn admin_keys(dir: &Path) -> Result<Vec<(String, PrivateKey)>> {
    let folder = dir.join(ADMINS);
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(&folder).with_context(|| {
        format!(
            "cannot read {} (a network made before governance has no admin keys; make a new one)",
            folder.display()
        )
    })? {
        let path = entry?.path();
        let Some(org) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        keys.push((org, read_key(&path)?));
    }
    keys.sort_by_key(|(org, _)| (org.len(), org.clone()));
    Ok(keys)
}

/// How long a poll of a node's status may take.
pub(crate) const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// The credential `net up` made for itself when its nodes take members only.
const CLIENT_TOKEN: &str = "client.token";

/// A node's base URL: `https://` when its API speaks TLS.
fn node_url(file: &NodeFile) -> String {
    let scheme = if file.https.is_some() { "https" } else { "http" };
    format!("{scheme}://{}", file.http)
}

/// A client of the node `file` describes, in the network in `dir`: trusting the network's CA
/// (`ca.crt`), with `net up`'s own credential (`client.token`) if it made one.
fn net_client(dir: &Path, file: &NodeFile, timeout: Duration) -> Result<NodeClient> {
    let token = std::fs::read_to_string(dir.join(CLIENT_TOKEN)).ok().map(|t| t.trim().to_owned());
    crate::client::node_client_with(&node_url(file), Some(&dir.join("ca.crt")), token, timeout)
}

/// A client of the first node of the network that answers.
async fn any_node(dir: &Path, dirs: &[PathBuf]) -> Result<NodeClient> {
    for d in dirs {
        let file = crate::node::read_node_file(&d.join("node.toml"))?;
        let client = net_client(dir, &file, Duration::from_secs(60))?;
        if client.status().await.is_ok() {
            return Ok(client);
        }
    }
    bail!("no node of the network answers; start it with `consortia net up`")
}

/// Proposes `input` as `proposer`'s organization and votes it through with the other local
/// admins until it is executed; returns the executed proposal.
async fn decide(
    client: &NodeClient,
    admins: &[(String, PrivateKey)],
    proposer: &str,
    input: Vec<u8>,
    timeout_s: u64,
) -> Result<ProposalView> {
    let (_, key) = admins
        .iter()
        .find(|(org, _)| org == proposer)
        .with_context(|| format!("no admin key of `{proposer}` in this network"))?;
    let id = gov::propose(client, key, input, timeout_s).await?;
    for (org, key) in admins.iter().filter(|(org, _)| org != proposer) {
        let proposal = client.proposal(id).await?;
        if proposal.status != "open" {
            break;
        }
        gov::vote(client, key, id, true, timeout_s)
            .await
            .with_context(|| format!("{org}'s vote on proposal {id}"))?;
    }
    let proposal = client.proposal(id).await?;
    if proposal.status != "executed" {
        bail!(
            "proposal {id} ({}) is {}{}",
            proposal.summary,
            proposal.status,
            proposal.failure.as_deref().map(|f| format!(": {f}")).unwrap_or_default()
        );
    }
    Ok(proposal)
}

pub(crate) async fn add_node(args: AddNodeArgs) -> Result<()> {
    let dir = &args.data_dir;
    let dirs = node_dirs(dir)?;
    let first = dirs.first().context("no nodes here: run `consortia net up` first")?;
    let base = crate::node::read_node_file(&first.join("node.toml"))?;
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json"))?)?;
    let ca_cert = std::fs::read_to_string(dir.join("ca.crt"))?;
    let ca_key = std::fs::read_to_string(dir.join("ca.key"))?;
    let ca = Ca::load(&consortium_name(genesis.chain_id), &ca_cert, &ca_key)?;
    // The first free name (a removed node's name and ports are free again).
    let index = (0..).find(|i| !dir.join(format!("node-{i}")).exists()).unwrap_or(dirs.len());
    let name = format!("node-{index}");
    let (http, p2p) = (base.http.port() + index as u16, base.p2p.listen.port() + index as u16);
    let mut peers = Vec::new();
    for d in &dirs {
        peers.push(crate::node::read_node_file(&d.join("node.toml"))?.p2p.listen.to_string());
    }
    let node = NodePlan {
        name: name.clone(),
        spec_name: name.clone(),
        group: String::new(),
        org: String::new(),
        resources: resources(None, None),
        validator: !args.observer,
        issuer: &ca,
        http: (base.http.ip(), http).into(),
        p2p: (base.p2p.listen.ip(), p2p).into(),
        key_secret: None,
        cert_days: None,
    };
    let api = local_api(base.access, base.https.is_some());
    let joining = join(&node, &genesis, &ca_cert, peers, &api)?;
    let node_dir = dir.join(&name);
    consortia_hosts::write_files(&node_dir, &joining.spec)?;
    let mut child = start_node(&node_dir)?;
    println!(
        "{name} started (REST API {}, P2P {}); its peers admit it once it is voted in",
        node_url(&crate::node::read_node_file(&node_dir.join("node.toml"))?),
        node.p2p
    );
    if args.no_vote {
        println!(
            "propose it with: consortia gov propose add-node --node-dir {} --org {} --key <admin key>",
            node_dir.display(),
            args.org
        );
        return Ok(());
    }
    let client = any_node(dir, &dirs).await?;
    let admins = admin_keys(dir)?;
    // A validator joins in two votes, as on Cosmos chains: first as an observer, so that it
    // syncs while the chain does not count on it, then with its power once it caught up (a
    // validator still syncing would cost the chain a round timeout at each of its turns).
    let consensus = joining.consensus_key.map(|k| k.to_base64()).unwrap_or_default();
    let input = gov::add_node_call(
        name.clone(),
        args.org.clone(),
        consensus,
        0,
        joining.tls_key.to_base64(),
    );
    let proposal = decide(&client, &admins, &args.org, input, args.timeout).await?;
    let decided = proposal.decided_height.unwrap_or(0);
    println!("proposal {} executed at height {decided}: {}", proposal.id, proposal.summary);
    let own_file = crate::node::read_node_file(&node_dir.join("node.toml"))?;
    let own = net_client(dir, &own_file, POLL_TIMEOUT)?;
    let bar = spinner()?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    // Caught up: within a block of the chain for five checks in a row (a node that only just
    // caught up by sync may still fall behind).
    let mut in_step = 0;
    loop {
        let height = own.status().await.map(|s| s.height).unwrap_or(0);
        let chain = client.status().await.map(|s| s.height).unwrap_or(u64::MAX);
        bar.set_message(format!("{name} syncing: height {height} of {chain}"));
        in_step = if height >= decided && height + 1 >= chain { in_step + 1 } else { 0 };
        if in_step == 5 {
            break;
        }
        if !matches!(child.try_wait(), Ok(None)) {
            bar.finish_and_clear();
            bail!("{name} exited; the end of its log:\n{}", log_tail(&node_dir.join("node.log")));
        }
        if Instant::now() > deadline {
            bar.finish_and_clear();
            bail!(
                "{name} did not catch up within {} s; see {}",
                args.timeout,
                node_dir.join("node.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
    if args.observer {
        println!("{name} joined as an observer and caught up");
        return Ok(());
    }
    let input = IGovernance::proposeSetPowerCall { name: name.clone(), power: 1 }.abi_encode();
    let proposal = decide(&client, &admins, &args.org, input, args.timeout).await?;
    let from = proposal.decided_height.unwrap_or(0) + ACTIVATION_DELAY;
    println!("proposal {} executed: {}", proposal.id, proposal.summary);
    println!("{name} joined as a validator: caught up, signing from height {from}");
    Ok(())
}

pub(crate) async fn remove_node(args: RemoveNodeArgs) -> Result<()> {
    let dir = &args.data_dir;
    let dirs = node_dirs(dir)?;
    let node_dir = dir.join(&args.name);
    if !node_dirs(dir)?.contains(&node_dir) {
        bail!("{} is not a node of {}", args.name, dir.display());
    }
    let others: Vec<PathBuf> = dirs.iter().filter(|d| **d != node_dir).cloned().collect();
    let client = any_node(dir, &others).await?;
    let owner = client
        .governance_nodes()
        .await?
        .into_iter()
        .find(|n| n.name == args.name)
        .map(|n| n.org)
        .with_context(|| format!("the chain's node list has no `{}`", args.name))?;
    let admins = admin_keys(dir)?;
    let proposer =
        if admins.iter().any(|(org, _)| *org == owner) { owner } else { "org-0".to_owned() };
    let input = IGovernance::proposeRemoveNodeCall { name: args.name.clone() };
    let proposal = decide(&client, &admins, &proposer, input.abi_encode(), args.timeout).await?;
    let decided = proposal.decided_height.unwrap_or(0);
    println!("proposal {} executed at height {decided}: {}", proposal.id, proposal.summary);
    // It signs until the last height of the set that still holds it; stop it once that is
    // done (the chain decides it at once: a coming change starts the height without waiting
    // for transactions).
    client
        .wait_height(decided + ACTIVATION_DELAY - 1, Duration::from_secs(args.timeout))
        .await
        .context("the chain did not reach the removal's last signing height")?;
    if let Some(pid) = running_pid(&node_dir) {
        kill(pid, Signal::Term)?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while running_pid(&node_dir).is_some() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(pid) = running_pid(&node_dir) {
            kill(pid, Signal::Kill)?;
        }
    }
    let _ = std::fs::remove_file(node_dir.join("node.pid"));
    let kept = dir.join("removed").join(format!("{}-at-{decided}", args.name));
    std::fs::create_dir_all(dir.join("removed"))?;
    std::fs::rename(&node_dir, &kept)?;
    println!("{} removed and stopped; its directory is kept in {}", args.name, kept.display());
    Ok(())
}

fn kill(pid: u32, signal: Signal) -> Result<()> {
    if !consortia_hosts::process::signal(pid, signal) {
        bail!("could not signal process {pid}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exited_nodes_error_is_shown_not_its_backtrace() {
        let dir = tempfile::tempdir().unwrap();
        let backtrace: String = (0..40).map(|i| format!("  {i}: frame\n")).collect();
        let log = format!("INFO started\nError: address in use\n\nStack backtrace:\n{backtrace}");
        std::fs::write(dir.path().join("node.log"), log).unwrap();
        let shown = log_tail(&dir.path().join("node.log"));
        assert!(shown.starts_with("Error: address in use"), "{shown}");
        assert_eq!(shown.lines().count(), 15);

        let plain: String = (0..40).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("node.log"), plain).unwrap();
        let shown = log_tail(&dir.path().join("node.log"));
        assert!(shown.starts_with("line 25") && shown.ends_with("line 39"), "{shown}");
    }
}
