//! `consortia up` and `consortia down`: the whole product on this machine. `up` starts the
//! platform (detached, logging to `platform.log`) and, the first time, makes a demo
//! organization, consortium and 4-validator BFT chain through the platform's own REST API, as
//! a user would; then it waits until the chain commits and prints where everything is. Run
//! again, it starts what is not running: the platform starts the chain's nodes that should run.
//! `down` stops the platform and every node it runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_api::ClientResult;
use consortia_api::PlatformClient;
use consortia_api::platform::{
    AddNodeRequest, Allocation, ApprovalPolicy, ChainStatus, ChainView, Consensus, ContractPolicy,
    CreateChainRequest, CreateConsortiumRequest, CreateHostRequest, CreateNodeCredentialRequest,
    CredentialRole, MAX_CREDENTIAL_DAYS, NodeCredentialView,
};
use consortia_crypto::keystore::Keystore;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_hosts::docker::{DockerDriver, Engine, Networking};
use consortia_hosts::local::LocalDriver;
use consortia_hosts::process::terminate;
use consortia_hosts::{HostDriver, HostError};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::client::node_client_with;
use crate::control::{log_in, start_chain, with_session};
use crate::keys::write_secret;
use crate::net::{POLL_TIMEOUT, log_tail, spinner, wait_until_committing};

/// The demo's names: organization, consortium, host and chain.
const DEMO: &str = "demo";
const DEMO_HOST: &str = "local";
const DEMO_DOCKER_HOST: &str = "docker";
const DEMO_VALIDATORS: u16 = 4;
/// What the demo account holds at genesis: 10^6 units of 10^18 wei.
const DEMO_BALANCE: u128 = 1_000_000 * 1_000_000_000_000_000_000;
/// The demo account's keystore in the data dir (Web3 Secret Storage v3).
const DEMO_KEYSTORE: &str = "demo-account.json";

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where everything lives: the platform's database and keys, its nodes
    /// (`platform/hosts/`), its log.
    #[arg(long, default_value = ".consortia")]
    data_dir: PathBuf,
    /// Address of the platform: its console and REST API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the SQL gateway for MySQL clients.
    #[arg(long, default_value = "127.0.0.1:3307")]
    mysql_listen: SocketAddr,
    /// Ports of a new demo chain: validator i serves REST and JSON-RPC on BASE+i and P2P on
    /// BASE+100+i.
    #[arg(long, default_value_t = 8545)]
    base_port: u16,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Where a new demo chain's nodes run: `local` processes, or `docker` containers of the
    /// Docker Engine at `--docker-endpoint` (`scripts/docker` starts one).
    #[arg(long, value_enum, default_value = "local")]
    host: DemoHost,
    /// The Docker Engine's API socket for `--host docker`.
    #[arg(long, default_value = "unix:///var/run/docker.sock")]
    docker_endpoint: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DemoHost {
    Local,
    Docker,
}

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    #[arg(long, default_value = ".consortia")]
    data_dir: PathBuf,
}

/// What `up` made, kept in `up.json` so that a later `up` finds the chain without logging in.
#[derive(Debug, Serialize, Deserialize)]
struct Demo {
    chain: String,
    chain_id: i64,
    nodes: Vec<String>,
    /// A write credential for the chain's nodes (the demo's nodes take members only), and
    /// the JSON-RPC URL carrying it. The file is the user's alone (umask 077).
    credential: NodeCredentialView,
    /// The Docker Engine the nodes are containers of (none: local processes), for `down`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    docker: Option<String>,
}

/// The demo's funded account: its address, and the keystore's password when `up` just made it
/// (printed once; the keystore holds the key encrypted under it, never in clear).
struct DemoAccount {
    address: String,
    new_password: Option<String>,
}

/// The demo account's keystore in `dir`, made with a fresh key and password if absent.
fn demo_account(dir: &Path) -> Result<DemoAccount> {
    let path = dir.join(DEMO_KEYSTORE);
    if let Ok(raw) = std::fs::read(&path) {
        let store: Keystore = serde_json::from_slice(&raw)
            .with_context(|| format!("{} is not a keystore", path.display()))?;
        return Ok(DemoAccount { address: format!("0x{}", store.address), new_password: None });
    }
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let password = consortia_platform::credentials::random_password();
    let store = Keystore::encrypt(&key, &password)?;
    write_secret(&path, &serde_json::to_string_pretty(&store)?)?;
    Ok(DemoAccount {
        address: key.public_key().address().to_checksum_hex(),
        new_password: Some(password),
    })
}

fn platform_dir(dir: &Path) -> PathBuf {
    dir.join("platform")
}

/// The demo keystore's one share, with which the platform unseals itself at start.
fn unseal_file(dir: &Path) -> PathBuf {
    dir.join("unseal.share")
}

/// Initializes the demo platform's keystore with one share in [`unseal_file`], unless an
/// earlier `up` did (a platform made before the keystore existed gets its keys sealed now).
async fn demo_keystore(dir: &Path) -> Result<()> {
    let file = unseal_file(dir);
    if file.exists() {
        return Ok(());
    }
    let init = crate::platform::InitArgs::demo(&platform_dir(dir), &file);
    let shares = crate::platform::initialize(&init).await.with_context(|| {
        format!(
            "{} is missing: unseal the platform with its shares (`consortia platform unseal`)",
            file.display()
        )
    })?;
    let share = shares.first().context("no share made")?;
    crate::keys::write_secret(&file, &format!("{share}\n"))
}

/// The platform process started from `dir`, if it still runs.
fn platform_pid(dir: &Path) -> Option<u32> {
    let data = platform_dir(dir);
    crate::detached::running(&dir.join("platform.pid"), &[" platform ", &data.to_string_lossy()])
}

/// Starts `consortia platform` detached, logging to `platform.log`, with the password its
/// administrator gets if this is its first start (in the environment, so it never lands in a
/// log; the platform ignores it otherwise).
fn spawn_platform(
    dir: &Path,
    listen: SocketAddr,
    mysql_listen: SocketAddr,
    admin_password: &str,
) -> Result<Child> {
    let data = platform_dir(dir);
    let share = unseal_file(dir);
    let listen = listen.to_string();
    let mysql_listen = mysql_listen.to_string();
    let args = [
        "platform".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--listen".as_ref(),
        listen.as_ref(),
        "--mysql-listen".as_ref(),
        mysql_listen.as_ref(),
        "--unseal-file".as_ref(),
        share.as_os_str(),
    ];
    let env = [("CONSORTIA_ADMIN_PASSWORD", admin_password)];
    crate::detached::spawn(&args, &env, &dir.join("platform.log"), &dir.join("platform.pid"))
}

/// Waits until the platform answers its health check; fails early if the process it started
/// exited (with the end of its log).
async fn wait_for_platform(
    dir: &Path,
    url: &str,
    child: &mut Option<Child>,
    deadline: Instant,
) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    loop {
        if let Some(c) = child
            && !matches!(c.try_wait(), Ok(None))
        {
            bail!(
                "the platform exited; the end of its log ({}):\n{}",
                dir.join("platform.log").display(),
                log_tail(&dir.join("platform.log"))
            );
        }
        let healthy = client
            .get(format!("{url}/v1/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the platform did not answer at {url}; see {}",
                dir.join("platform.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes the demo through the platform's API as the logged-in administrator. Each step first
/// looks for what an interrupted earlier `up` made, so running again finishes the job.
async fn make_demo(args: &UpArgs, account: &str, bar: &ProgressBar) -> Result<Demo> {
    bar.set_message("creating the demo organization, consortium and host");
    let chain = with_session(async |c| make_demo_chain(c, args, account, bar).await).await?;
    let chain = match chain.status {
        ChainStatus::Configuring => {
            start_chain(&chain.id, |line| bar.set_message(format!("starting the chain: {line}")))
                .await?
        }
        ChainStatus::Archived => bail!(
            "the demo chain {} is archived: its nodes are gone. Run `consortia down` and start \
             over with another --data-dir (or delete this one)",
            chain.name
        ),
        _ => chain,
    };
    bar.set_message("issuing a credential for the nodes");
    let request = CreateNodeCredentialRequest {
        org_id: None,
        role: CredentialRole::Write,
        name: Some("consortia up".into()),
        expires_in_days: Some(MAX_CREDENTIAL_DAYS),
        public_key: None,
    };
    let credential =
        with_session(async |c| c.issue_node_credential(&chain.id, &request).await).await?;
    let docker = (args.host == DemoHost::Docker).then(|| args.docker_endpoint.clone());
    Ok(Demo {
        chain: chain.id.clone(),
        chain_id: chain.chain_id,
        nodes: chain.node_urls(),
        credential,
        docker,
    })
}

/// The demo's organization, consortium, host and chain with its validators (steps 1 and 2 of
/// the wizard), each found if an earlier run made it.
async fn make_demo_chain(
    c: &PlatformClient,
    args: &UpArgs,
    account: &str,
    bar: &ProgressBar,
) -> ClientResult<ChainView> {
    let org = match c.orgs().await?.into_iter().find(|o| o.name == DEMO) {
        Some(o) => o,
        None => c.create_org(DEMO).await?,
    };
    let consortium = match c.consortiums().await?.into_iter().find(|x| x.name == DEMO) {
        Some(x) => x,
        None => {
            let request = CreateConsortiumRequest {
                name: DEMO.into(),
                org_id: org.id.clone(),
                approval_policy: Some(ApprovalPolicy::Leader),
            };
            c.create_consortium(&request).await?
        }
    };
    let hosts = c.hosts().await?;
    let (name, request) = match args.host {
        DemoHost::Local => (DEMO_HOST, CreateHostRequest::local(&org.id, DEMO_HOST)),
        DemoHost::Docker => (
            DEMO_DOCKER_HOST,
            CreateHostRequest {
                endpoint: Some(args.docker_endpoint.clone()),
                ..CreateHostRequest::docker(&org.id, DEMO_DOCKER_HOST)
            },
        ),
    };
    let host = match hosts.into_iter().find(|h| h.name == name && h.org_id == org.id) {
        Some(h) => h,
        None => c.create_host(&request).await?,
    };
    bar.set_message("chain wizard: create, add 4 validators");
    let existing = c.chains().await?.into_iter();
    let mut chain =
        match existing.filter(|x| x.consortium_id == consortium.id).find(|x| x.name == DEMO) {
            Some(x) => x,
            None => {
                let request = CreateChainRequest {
                    // A development chain: web3 tools deploy as on any Ethereum node; the
                    // members can require approvals later by vote.
                    deploy_policy: Some(ContractPolicy::Open),
                    allocations: vec![Allocation {
                        address: account.to_owned(),
                        balance: DEMO_BALANCE.to_string(),
                    }],
                    ..CreateChainRequest::new(&consortium.id, &org.id, DEMO, Consensus::Bft)
                };
                c.create_chain(&request).await?
            }
        };
    for i in 0..DEMO_VALIDATORS {
        let name = format!("node-{i}");
        if chain.status == ChainStatus::Configuring && chain.node(&name).is_none() {
            let request = AddNodeRequest {
                http_port: Some(args.base_port + i),
                p2p_port: Some(args.base_port + 100 + i),
                ..AddNodeRequest::validator(&org.id, &host.id, &name)
            };
            chain = c.add_node(&chain.id, &request).await?;
        }
    }
    Ok(chain)
}

pub(crate) async fn up(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    // Absolute, so that the platform's command line names it wherever `up` runs from.
    let dir = args.data_dir.canonicalize()?;
    let url = format!("http://{}", args.listen);
    let password = consortia_platform::credentials::random_password();
    let account = demo_account(&dir)?;
    let bar = spinner()?;
    bar.set_message("starting the platform");
    let mut child = match platform_pid(&dir) {
        Some(_) => None,
        None => {
            demo_keystore(&dir).await?;
            Some(spawn_platform(&dir, args.listen, args.mysql_listen, &password)?)
        }
    };
    let result = async {
        wait_for_platform(&dir, &url, &mut child, deadline).await?;
        // The password works only if the platform just started for the first time.
        let fresh = child.is_some() && log_in(&url, "admin", &password).await.is_ok();
        let demo_file = dir.join("up.json");
        let demo: Demo = match std::fs::read(&demo_file) {
            Ok(raw) => serde_json::from_slice(&raw)
                .with_context(|| {
                    format!(
                        "{} is damaged or from an older `consortia up`: remove it and run `consortia up` again (logged in as admin) to find the chain and issue a new credential",
                        demo_file.display()
                    )
                })?,
            Err(_) => {
                let demo = make_demo(&args, &account.address, &bar).await.context(
                    "making the demo chain through the platform failed (run `consortia up` again to resume)",
                )?;
                std::fs::write(&demo_file, serde_json::to_vec_pretty(&demo)?)?;
                demo
            }
        };
        let token = Some(demo.credential.token.clone());
        let nodes = demo
            .nodes
            .iter()
            .map(|url| node_client_with(url, None, token.clone(), POLL_TIMEOUT))
            .collect::<Result<Vec<_>>>()?;
        let came_up = wait_until_committing(&nodes, None, deadline, &bar, || Ok(())).await?;
        if !came_up {
            bail!(
                "the demo chain did not come up within {} s; its nodes' logs are in {}/hosts/*/*/node.log",
                args.timeout,
                platform_dir(&dir).display()
            );
        }
        Ok((demo, fresh))
    }
    .await;
    bar.finish_and_clear();
    let (demo, fresh) = result?;
    let first = demo.nodes.first().context("the demo chain has no nodes")?;
    println!(
        "Consortia is up in {:.1} s: the platform and a {DEMO_VALIDATORS}-validator BFT chain `{DEMO}` (chain id {})",
        started.elapsed().as_secs_f64(),
        demo.chain_id
    );
    println!("console: {url}/");
    if fresh {
        println!("first start: the administrator, shown this once (store it now):");
        println!("username: admin");
        println!("password: {password}");
    } else {
        println!("log in as admin with the password the first `consortia up` printed");
    }
    let credential = &demo.credential;
    let rpc = credential.rpc_url.as_deref().unwrap_or(first);
    println!(
        "JSON-RPC: {rpc}   (a URL with a write credential: web3 clients and wallets take it as it is)"
    );
    if let Some(ws) = &credential.ws_url {
        println!("WebSocket: {ws}");
    }
    println!(
        "the nodes take members only: the URL above carries a write credential ({MAX_CREDENTIAL_DAYS} days; \
         for the REST API send its token as `Authorization: Bearer TOKEN`: it is in {}; \
         more with `consortia chain credential`). Plain HTTP on loopback: a demo",
        dir.join("up.json").display()
    );
    println!(
        "funded account: {} (keystore {}; base fee 1 wei per gas)",
        account.address,
        dir.join(DEMO_KEYSTORE).display()
    );
    if let Some(password) = &account.new_password {
        println!("keystore password, shown this once (store it now): {password}");
    }
    // The address the gateway bound (`--mysql-listen` may ask for port 0), else the flag's.
    let (mysql_host, mysql_port) = match with_session(async |c| c.sql_gateway().await).await {
        Ok(gateway) => (gateway.host, gateway.port),
        Err(_) => (args.mysql_listen.ip().to_string(), args.mysql_listen.port()),
    };
    println!(
        "MySQL: mysql -h {mysql_host} -P {mysql_port} -u admin -p'<API key>' {}   (make a key: consortia user api-key create sql)",
        demo.chain
    );
    for (i, node) in demo.nodes.iter().enumerate() {
        println!("  node-{i}: REST API {node}/v1/status");
    }
    if fresh {
        println!("the CLI is logged in as admin: try `consortia chain status {}`", demo.chain);
    }
    println!(
        "keys: sealed under one key share in {} (mode 0600), with which the platform unseals \
         itself: a demo convenience; a real platform splits its root key with \
         `consortia platform init --shares 5 --threshold 3`",
        unseal_file(&dir).display()
    );
    println!("data in {}; stop everything with: consortia down", dir.display());
    Ok(())
}

pub(crate) async fn down(args: DownArgs) -> Result<()> {
    let dir = &args.data_dir.canonicalize().unwrap_or(args.data_dir.clone());
    // The platform first, so that it does not restart the nodes stopped next.
    let platform = match platform_pid(dir) {
        Some(pid) => terminate(pid, consortia_hosts::local::GRACE).await,
        None => false,
    };
    let _ = std::fs::remove_file(dir.join("platform.pid"));
    let exe = std::env::current_exe().context("cannot find the consortia executable")?;
    let mut stopped = 0;
    let hosts = platform_dir(dir).join("hosts");
    for host in std::fs::read_dir(&hosts).into_iter().flatten().flatten() {
        let driver = LocalDriver::open(&host.path(), &exe).map_err(host_error)?;
        for node in driver.nodes() {
            if !matches!(driver.status(&node).await, Ok(consortia_hosts::NodeStatus::Stopped)) {
                driver.stop(&node).await.map_err(host_error)?;
                stopped += 1;
            }
        }
    }
    stopped += stop_demo_containers(dir, &exe).await?;
    let platform = if platform { "the platform and " } else { "" };
    println!("stopped {platform}{stopped} node(s) of {}", dir.display());
    Ok(())
}

/// Stops the demo chain's containers if `up --host docker` made it: how many.
async fn stop_demo_containers(dir: &Path, exe: &Path) -> Result<usize> {
    let Ok(raw) = std::fs::read(dir.join("up.json")) else { return Ok(0) };
    let Ok(Demo { chain, docker: Some(endpoint), .. }) = serde_json::from_slice(&raw) else {
        return Ok(0);
    };
    // Networking matters only to making nodes, not to stopping them.
    let engine = Engine::at(&endpoint);
    let driver = DockerDriver::new(&engine, exe, Networking::Bridge).map_err(host_error)?;
    let mut stopped = 0;
    for i in 0..DEMO_VALIDATORS {
        let name = format!("{chain}-node-{i}");
        if matches!(driver.status(&name).await, Ok(consortia_hosts::NodeStatus::Running { .. })) {
            driver.stop(&name).await.map_err(host_error)?;
            stopped += 1;
        }
    }
    Ok(stopped)
}

fn host_error(e: HostError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
