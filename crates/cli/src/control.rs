//! The platform's REST API from the command line: `consortia login`, then `user`, `org`,
//! `consortium`, `host`, `chain` and `node` commands. The session (platform URL and tokens)
//! is kept in `$CONSORTIA_HOME/session.json` (default `~/.consortia`, mode 0600); an expired
//! access token is refreshed once, transparently (the SDK's `PlatformClient` does it, and the
//! new tokens are saved). Every command prints the platform's JSON answer, so scripts can read
//! ids with `jq`.

use std::path::PathBuf;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use consortia_api::platform::{
    AddNodeRequest, Allocation, CaRotationRequest, ChainProposalsQuery, ChainView, ChangeRequest,
    CreateChainRequest, CreateConsortiumRequest, CreateHostRequest, CreateNodeCredentialRequest,
    CreateUserRequest, CredentialRole, Decision, FaucetRequest, HostKind, HostKubernetes,
    HostNetwork, HostTls, InviteRequest, JoinRequest, LogLevel, LogQuery, NodeAccess,
    ProposalVoteRequest, ProposeRequest, StartStep, UpgradeRequest, VoteRequest,
};
use consortia_api::{ClientResult, Credentials, PlatformClient};
use serde::{Deserialize, Serialize};

/// Where `consortia platform` listens by default.
pub(crate) const DEFAULT_PLATFORM: &str = "http://127.0.0.1:8080";

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[arg(long, env = "CONSORTIA_PLATFORM", default_value = DEFAULT_PLATFORM)]
    platform: String,
    #[arg(long)]
    username: String,
    /// Default: read from the `CONSORTIA_PASSWORD` environment variable.
    #[arg(long, env = "CONSORTIA_PASSWORD", hide_env_values = true)]
    password: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user (a platform administrator) or a sub-user of yours (anyone else).
    Create {
        username: String,
        /// Default: read from the `CONSORTIA_NEW_PASSWORD` environment variable.
        #[arg(long, env = "CONSORTIA_NEW_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Disable a user (an administrator, or a sub-user's parent): their sessions end and their
    /// API keys stop working until enabled.
    Disable { id: String },
    /// Enable a disabled user.
    Enable { id: String },
    /// Delete a user for good (their memberships, sessions and keys go).
    Delete { id: String },
    /// Change your password (your other sessions end). Passwords come from the environment.
    Password {
        #[arg(long, env = "CONSORTIA_PASSWORD", hide_env_values = true)]
        current: String,
        #[arg(long, env = "CONSORTIA_NEW_PASSWORD", hide_env_values = true)]
        new: String,
    },
    /// Your live sessions; `--revoke ID` ends one.
    Sessions {
        #[arg(long)]
        revoke: Option<String>,
    },
    /// Your API keys: `create NAME [--expires-in-days N]`, `list`, `revoke ID`.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key (printed once); it expires in 90 days unless told otherwise (0: never).
    Create {
        name: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    List,
    /// Revoke a key: it stops working at once.
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organization (you become its admin).
    Create { name: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConsortiumCommand {
    /// Create a consortium led by one of your organizations.
    Create {
        name: String,
        #[arg(long)]
        org: String,
        /// `leader` (default) or `majority`.
        #[arg(long, default_value = "leader")]
        approval: String,
    },
    /// Invite a user into a consortium.
    Invite {
        consortium: String,
        #[arg(long)]
        user: String,
    },
    /// Accept an invitation addressed to you.
    Accept { invitation: String },
    /// Ask to join a consortium with one of your organizations.
    Join {
        consortium: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        invitation: String,
    },
    /// Vote to approve a join request on behalf of your member organization.
    Approve { consortium: String, request: String },
    /// Vote to reject a join request on behalf of your member organization.
    Reject { consortium: String, request: String },
    /// Rotate your member organization's CA: a new CA, proposed on each running chain it takes
    /// part in; once a chain approves, its nodes get certificates of the new CA.
    RotateCa {
        consortium: String,
        #[arg(long)]
        org: String,
        /// How long chains trust the replaced CA beside the new one: `30m`, `24h` (default),
        /// `7d` (at most 90 days), or `0` to distrust it at once (a compromised key).
        #[arg(long, value_parser = crate::gov::parse_overlap)]
        overlap: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostCommand {
    /// Register a host of an organization: local processes of the platform's machine (the
    /// default), containers of a Docker Engine (`--docker`), or Deployments of a Kubernetes
    /// cluster (`--kubernetes`).
    Create {
        name: String,
        #[arg(long)]
        org: String,
        /// Run the host's nodes as containers of a Docker Engine.
        #[arg(long, conflicts_with = "kubernetes")]
        docker: bool,
        /// Run the host's nodes on a Kubernetes cluster (with `--image-repository`, and
        /// `--kubeconfig` unless the platform runs in that cluster).
        #[arg(long, requires = "image_repository")]
        kubernetes: bool,
        /// The kubeconfig whose current context reaches the cluster (default: the platform's
        /// own cluster, through its service account). It is sent to the platform, which
        /// seals it.
        #[arg(long, requires = "kubernetes")]
        kubeconfig: Option<std::path::PathBuf>,
        /// Where the cluster pulls node images from (`registry.example/consortia-node`); a
        /// node of build B runs the tag B, pushed there beforehand (`scripts/k8s-smoke`).
        #[arg(long, requires = "kubernetes")]
        image_repository: Option<String>,
        /// The storage class of the nodes' data volumes (default: the cluster's).
        #[arg(long, requires = "kubernetes")]
        storage_class: Option<String>,
        /// The size of each node's data volume in GiB (default 10).
        #[arg(long, requires = "kubernetes")]
        storage_gib: Option<u32>,
        /// The Docker Engine's API: its socket (default `unix:///var/run/docker.sock`), or
        /// `tcp://HOST:2376` for an engine on another machine (with `--tls-dir`).
        #[arg(long, requires = "docker")]
        endpoint: Option<String>,
        /// A directory with Docker's TLS files for a TCP endpoint: `ca.pem` (the engine's CA),
        /// `cert.pem` and `key.pem` (a client certificate it trusts): what `DOCKER_CERT_PATH`
        /// names. The key is sent to the platform, which seals it.
        #[arg(long, requires = "endpoint")]
        tls_dir: Option<std::path::PathBuf>,
        /// How a Docker host's nodes are networked: `bridge` (each chain a network of its
        /// own, each node an address there; the default) or `host` (the machine's network,
        /// at `--address`: for chains that span machines). A Kubernetes host's are the
        /// cluster's (`cluster`).
        #[arg(long, value_parser = |s: &str| s.parse::<HostNetwork>())]
        network: Option<HostNetwork>,
        /// The IP address the host's nodes listen on (default 127.0.0.1).
        #[arg(long)]
        address: Option<String>,
    },
    /// Check that a host can run nodes now (what a chain's start checks first).
    Check { host: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ChainCommand {
    /// Step 1: create a chain in a consortium.
    Create {
        name: String,
        #[arg(long)]
        consortium: String,
        #[arg(long)]
        org: String,
        /// `bft`, `raft` or `solo`.
        #[arg(long, default_value = "bft")]
        consensus: String,
        /// `approved` (the members approve each deployment first) or `open`.
        #[arg(long, default_value = "approved")]
        deploy_policy: String,
        /// Base fee per gas in wei, constant and burned (0: gas is free, and ethers v6 then
        /// sends legacy transactions).
        #[arg(long, default_value_t = 1)]
        base_fee: i64,
        /// Fund an account at genesis: `0xADDRESS=WEI` (repeat it).
        #[arg(long = "alloc", value_name = "ADDRESS=WEI")]
        allocations: Vec<String>,
        /// A web origin whose pages may call the nodes (repeat it; `*` allows any site).
        /// Default: `http://localhost:*` and `http://127.0.0.1:*`.
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// Who may use the nodes' APIs: `members` (credentials from `chain credential`),
        /// `public-reads` or `open`.
        #[arg(long, default_value = "members")]
        node_access: NodeAccess,
        /// The nodes serve HTTPS (certificates from the consortium CA).
        #[arg(long)]
        https: bool,
    },
    /// Step 2: add a node of a participating organization on one of its hosts.
    AddNode {
        chain: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        host: String,
        #[arg(long)]
        name: Option<String>,
        /// `validator` or `observer`.
        #[arg(long, default_value = "validator")]
        role: String,
        /// The most memory it may use, in MiB (default 1024; containers are held to it).
        #[arg(long)]
        memory_mib: Option<u32>,
        /// The most CPU it may use, in thousandths of a core (default: no limit).
        #[arg(long)]
        cpu_millis: Option<u32>,
    },
    /// Step 3: invite a member organization of the consortium.
    Invite {
        chain: String,
        #[arg(long)]
        org: String,
    },
    /// Step 4: start the chain (returns once block 1 is committed).
    Start { chain: String },
    /// Rolling upgrade: move your organizations' nodes of a running chain to the build the
    /// platform is installed with, one at a time (returns when every node is done).
    Upgrade {
        chain: String,
        /// The build expected (as `chain nodes` shows versions); refused if the hosts offer
        /// another.
        #[arg(long)]
        version: Option<String>,
        /// Seconds a node on the new build gets to catch up before it is put back and the
        /// upgrade stops (default 60).
        #[arg(long)]
        node_timeout: Option<u32>,
    },
    /// The chain, its nodes, the next step and what keeps it from starting.
    Status { chain: String },
    /// A running chain's governance proposals, newest first.
    Proposals {
        chain: String,
        /// Only those still open for votes.
        #[arg(long)]
        open: bool,
    },
    /// Propose a change to a running chain for one of your organizations, e.g.
    /// `--change '{"type":"set_parameter","name":"block_interval_ms","value":50}'` (types:
    /// remove_member, remove_node, set_power, approve_code, upgrade, freeze, unfreeze, revoke,
    /// set_parameter; see the platform's OpenAPI). Nodes and organizations are added with
    /// `chain add-node` and `chain invite`.
    Propose {
        chain: String,
        #[arg(long)]
        org: String,
        /// The change, as JSON.
        #[arg(long)]
        change: String,
    },
    /// Issue a credential for the chain's node APIs, signed by your organization's CA: prints
    /// the token and the JSON-RPC URL that carries it (shown once).
    Credential {
        chain: String,
        /// `read`, or `write` to send transactions too.
        #[arg(long, default_value = "read")]
        role: CredentialRole,
        /// The organization it speaks for (default: your one organization in the chain).
        #[arg(long)]
        org: Option<String>,
        /// A name for its holder (default: your user name).
        #[arg(long)]
        name: Option<String>,
        /// Days until it expires (default 30, at most 365).
        #[arg(long)]
        days: Option<u32>,
        /// Also a client certificate (for nodes that serve HTTPS) for this Ed25519 key
        /// (`consortia keygen --scheme ed25519`); only its public key is sent.
        #[arg(long, requires = "cert_out")]
        key: Option<PathBuf>,
        /// Where to write the client certificate (PEM).
        #[arg(long, requires = "key")]
        cert_out: Option<PathBuf>,
    },
    /// Renew the certificates of the chain's nodes you manage (the platform also renews them
    /// at two thirds of their lifetime); nodes take them without a restart.
    RenewCerts { chain: String },
    /// Send wei from one of your organizations' accounts to an address (a wallet needs a
    /// balance to pay the chain's base fee).
    Faucet {
        chain: String,
        address: String,
        #[arg(long)]
        org: String,
        /// Wei (default 10^18).
        #[arg(long)]
        amount: Option<String>,
    },
    /// Vote on a proposal for one of your organizations (for it; against it with --reject).
    Vote {
        chain: String,
        id: u64,
        #[arg(long)]
        org: String,
        #[arg(long)]
        reject: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// The last lines of a node's log (JSON entries; `--text` prints them as lines).
    Logs {
        chain: String,
        node: String,
        #[arg(long, default_value_t = 100)]
        lines: usize,
        /// Only lines of this level or worse (trace, debug, info, warn, error).
        #[arg(long)]
        level: Option<LogLevel>,
        /// Only lines containing this text (any case).
        #[arg(long)]
        grep: Option<String>,
        /// One line per entry (`node time LEVEL target: message k=v`) instead of JSON.
        #[arg(long)]
        text: bool,
    },
    /// Restart a node.
    Restart { chain: String, node: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Session {
    platform: String,
    access_token: String,
    refresh_token: String,
}

fn session_path() -> Result<PathBuf> {
    let home = match std::env::var_os("CONSORTIA_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").context("set HOME or CONSORTIA_HOME")?)
            .join(".consortia"),
    };
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    Ok(home.join("session.json"))
}

/// Keeps the client's tokens for the commands that follow.
fn save(client: &PlatformClient) -> Result<()> {
    let Some(Credentials::Tokens { access_token, refresh_token }) = client.credentials() else {
        return Ok(());
    };
    let session = Session { platform: client.base().to_owned(), access_token, refresh_token };
    let path = session_path()?;
    // A new file each time, so it is created 0600.
    let _ = std::fs::remove_file(&path);
    crate::keys::write_secret(&path, &serde_json::to_string_pretty(&session)?)
}

/// A client of the platform the CLI is logged in to.
pub(crate) fn session() -> Result<PlatformClient> {
    let path = session_path()?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("not logged in ({} missing): run `consortia login` first", path.display())
    })?;
    let s: Session = serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged: run `consortia login` again", path.display()))?;
    let tokens =
        Credentials::Tokens { access_token: s.access_token, refresh_token: s.refresh_token };
    Ok(PlatformClient::with_credentials(&s.platform, Some(tokens)))
}

/// Runs one call as the logged-in user, keeps the (possibly refreshed) session, and turns a
/// refused refresh into advice.
pub(crate) async fn with_session<T>(
    call: impl AsyncFnOnce(&PlatformClient) -> ClientResult<T>,
) -> Result<T> {
    let client = session()?;
    let before = client.credentials();
    let result = call(&client).await;
    // A refresh replaced the tokens: keep the new pair (the old refresh token is spent).
    if client.credentials() != before {
        save(&client)?;
    }
    result.map_err(|e| match e.status() {
        Some(401) => anyhow::anyhow!("{e}\nthe session expired: run `consortia login` again"),
        _ => anyhow::anyhow!(e),
    })
}

pub(crate) async fn login(args: LoginArgs) -> Result<()> {
    let platform = args.platform.trim_end_matches('/');
    log_in(platform, &args.username, &args.password).await?;
    println!("logged in to {platform} as {}", args.username);
    Ok(())
}

/// Logs in and keeps the session for the commands that follow.
pub(crate) async fn log_in(platform: &str, username: &str, password: &str) -> Result<()> {
    let client = PlatformClient::new(platform);
    client.login(username, password).await?;
    save(&client)
}

/// Starts a chain in the background and follows it (`on_progress` gets a line whenever the
/// progress changes) until it runs; the platform's reason if it does not.
pub(crate) async fn start_chain(
    chain: &str,
    mut on_progress: impl FnMut(&str),
) -> Result<ChainView> {
    with_session(async |c| {
        c.start_and_follow(chain, START_TIMEOUT, |p| {
            on_progress(&match p.step {
                StartStep::StartingNodes => format!("starting nodes: {}/{}", p.done, p.total),
                StartStep::FirstBlock => {
                    format!("waiting for block 1: {}/{} nodes have it", p.done, p.total)
                }
                StartStep::Preparing => {
                    "making keys, certificates, the genesis and configurations".to_owned()
                }
            })
        })
        .await
    })
    .await
}

/// How long a chain start is followed.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Prints a value as pretty JSON.
fn print(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(crate) async fn user(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create { username, password } => {
            let request = CreateUserRequest { username, password };
            print(&with_session(async |c| c.create_user(&request).await).await?)
        }
        UserCommand::Disable { id } => {
            print(&with_session(async |c| c.set_user_disabled(&id, true).await).await?)
        }
        UserCommand::Enable { id } => {
            print(&with_session(async |c| c.set_user_disabled(&id, false).await).await?)
        }
        UserCommand::Delete { id } => {
            with_session(async |c| c.delete_user(&id).await).await?;
            println!("deleted {id}");
            Ok(())
        }
        UserCommand::Password { current, new } => {
            with_session(async |c| c.change_password(&current, &new).await).await?;
            println!("password changed; your other sessions ended");
            Ok(())
        }
        UserCommand::Sessions { revoke: Some(id) } => {
            with_session(async |c| c.revoke_session(&id).await).await?;
            println!("ended {id}");
            Ok(())
        }
        UserCommand::Sessions { revoke: None } => {
            print(&with_session(async |c| c.sessions().await).await?)
        }
        UserCommand::ApiKey { command: ApiKeyCommand::Create { name, expires_in_days } } => {
            print(&with_session(async |c| c.create_api_key(&name, expires_in_days).await).await?)
        }
        UserCommand::ApiKey { command: ApiKeyCommand::List } => {
            print(&with_session(async |c| c.api_keys().await).await?)
        }
        UserCommand::ApiKey { command: ApiKeyCommand::Revoke { id } } => {
            with_session(async |c| c.revoke_api_key(&id).await).await?;
            println!("revoked {id}");
            Ok(())
        }
    }
}

pub(crate) async fn org(command: OrgCommand) -> Result<()> {
    match command {
        OrgCommand::Create { name } => {
            print(&with_session(async |c| c.create_org(&name).await).await?)
        }
    }
}

pub(crate) async fn consortium(command: ConsortiumCommand) -> Result<()> {
    use ConsortiumCommand as C;
    match command {
        C::Create { name, org, approval } => {
            let approval_policy =
                Some(approval.parse().map_err(|e| anyhow::anyhow!("--approval: {e}"))?);
            let request = CreateConsortiumRequest { name, org_id: org, approval_policy };
            print(&with_session(async |c| c.create_consortium(&request).await).await?)
        }
        C::Invite { consortium, user } => {
            let request = InviteRequest { username: user, org_id: None };
            print(&with_session(async |c| c.invite(&consortium, &request).await).await?)
        }
        C::Accept { invitation } => {
            print(&with_session(async |c| c.accept_invitation(&invitation).await).await?)
        }
        C::Join { consortium, org, invitation } => {
            let request = JoinRequest { org_id: org, invitation_id: invitation };
            print(&with_session(async |c| c.request_join(&consortium, &request).await).await?)
        }
        C::Approve { consortium, request } => {
            let vote = VoteRequest { decision: Decision::Approve, org_id: None };
            print(&with_session(async |c| c.vote(&consortium, &request, &vote).await).await?)
        }
        C::Reject { consortium, request } => {
            let vote = VoteRequest { decision: Decision::Reject, org_id: None };
            print(&with_session(async |c| c.vote(&consortium, &request, &vote).await).await?)
        }
        C::RotateCa { consortium, org, overlap } => {
            let req = CaRotationRequest { overlap_ms: overlap };
            print(&with_session(async |c| c.rotate_member_ca(&consortium, &org, &req).await).await?)
        }
    }
}

pub(crate) async fn host(command: HostCommand) -> Result<()> {
    match command {
        HostCommand::Create {
            name,
            org,
            docker,
            kubernetes,
            kubeconfig,
            image_repository,
            storage_class,
            storage_gib,
            endpoint,
            tls_dir,
            network,
            address,
        } => {
            let kind = match (docker, kubernetes) {
                (true, _) => HostKind::Docker,
                (_, true) => HostKind::Kubernetes,
                _ => HostKind::Local,
            };
            let kubeconfig = match kubeconfig {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ),
                None => None,
            };
            let cluster = image_repository.map(|image_repository| HostKubernetes {
                kubeconfig,
                image_repository,
                storage_class,
                storage_gib,
            });
            let tls = match tls_dir {
                Some(dir) => {
                    let read = |file: &str| {
                        let path = dir.join(file);
                        std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))
                    };
                    Some(HostTls {
                        ca_cert_pem: read("ca.pem")?,
                        cert_pem: read("cert.pem")?,
                        key_pem: read("key.pem")?,
                    })
                }
                None => None,
            };
            let request = CreateHostRequest {
                kind,
                endpoint,
                tls,
                network,
                address,
                kubernetes: cluster,
                ..CreateHostRequest::local(&org, &name)
            };
            print(&with_session(async |c| c.create_host(&request).await).await?)
        }
        HostCommand::Check { host } => {
            print(&with_session(async |c| c.check_host(&host).await).await?)
        }
    }
}

pub(crate) async fn chain(command: ChainCommand) -> Result<()> {
    use ChainCommand as C;
    match command {
        C::Create {
            name,
            consortium,
            org,
            consensus,
            deploy_policy,
            base_fee,
            allocations,
            cors_origins,
            node_access,
            https,
        } => {
            let consensus = consensus.parse().map_err(|e| anyhow::anyhow!("--consensus: {e}"))?;
            let policy =
                deploy_policy.parse().map_err(|e| anyhow::anyhow!("--deploy-policy: {e}"))?;
            let allocations = allocations
                .iter()
                .map(|a| {
                    let (address, balance) = a
                        .split_once('=')
                        .context("--alloc takes 0xADDRESS=WEI, e.g. 0xabc…=1000000000000000000")?;
                    Ok(Allocation { address: address.to_owned(), balance: balance.to_owned() })
                })
                .collect::<Result<_>>()?;
            let request = CreateChainRequest {
                deploy_policy: Some(policy),
                base_fee_per_gas: Some(base_fee),
                allocations,
                cors_origins: (!cors_origins.is_empty()).then_some(cors_origins),
                node_access: Some(node_access),
                node_https: Some(https),
                ..CreateChainRequest::new(&consortium, &org, &name, consensus)
            };
            print(&with_session(async |c| c.create_chain(&request).await).await?)
        }
        C::AddNode { chain, org, host, name, role, memory_mib, cpu_millis } => {
            let role = Some(role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?);
            let request = AddNodeRequest {
                org_id: org,
                host_id: host,
                name,
                role,
                http_port: None,
                p2p_port: None,
                memory_mib,
                cpu_millis,
            };
            print(&with_session(async |c| c.add_node(&chain, &request).await).await?)
        }
        C::Invite { chain, org } => {
            print(&with_session(async |c| c.invite_org(&chain, &org).await).await?)
        }
        C::Start { chain } => print(&start_chain(&chain, |line| eprintln!("{line}")).await?),
        C::Upgrade { chain, version, node_timeout } => {
            eprintln!("upgrading the nodes of {chain} one at a time…");
            let request = UpgradeRequest { version, node_timeout_s: node_timeout };
            print(&with_session(async |c| c.upgrade_chain(&chain, &request).await).await?)
        }
        C::Status { chain } => print(&with_session(async |c| c.chain(&chain).await).await?),
        C::Proposals { chain, open } => {
            let query = ChainProposalsQuery { status: open.then(|| "open".to_owned()) };
            print(&with_session(async |c| c.chain_proposals(&chain, &query).await).await?)
        }
        C::Propose { chain, org, change } => {
            let change: ChangeRequest = serde_json::from_str(&change).context(
                "--change takes a JSON change, e.g. {\"type\":\"freeze\",\"contract\":\"0x…\"}",
            )?;
            let request = ProposeRequest { org_id: org, change };
            print(&with_session(async |c| c.propose(&chain, &request).await).await?)
        }
        C::Credential { chain, role, org, name, days, key, cert_out } => {
            let public_key = key
                .as_deref()
                .map(crate::keys::read_key)
                .transpose()?
                .map(|k| k.public_key().to_base64());
            let request = CreateNodeCredentialRequest {
                org_id: org,
                role,
                name,
                expires_in_days: days,
                public_key,
            };
            let issued =
                with_session(async |c| c.issue_node_credential(&chain, &request).await).await?;
            if let (Some(path), Some(pem)) = (&cert_out, &issued.certificate) {
                std::fs::write(path, pem)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            print(&issued)
        }
        C::RenewCerts { chain } => {
            print(&with_session(async |c| c.renew_certificates(&chain).await).await?)
        }
        C::Faucet { chain, address, org, amount } => {
            let request = FaucetRequest { org_id: org, address, amount };
            print(&with_session(async |c| c.faucet(&chain, &request).await).await?)
        }
        C::Vote { chain, id, org, reject } => {
            let request = ProposalVoteRequest { org_id: org, approve: !reject };
            print(&with_session(async |c| c.vote_on_proposal(&chain, id, &request).await).await?)
        }
    }
}

pub(crate) async fn node(command: NodeCommand) -> Result<()> {
    match command {
        NodeCommand::Logs { chain, node, lines, level, grep, text } => {
            let query = LogQuery { lines: Some(lines), level, q: grep, ..Default::default() };
            let entries = with_session(async |c| c.node_logs(&chain, &node, &query).await).await?;
            if !text {
                return print(&entries);
            }
            for entry in entries {
                println!("{entry}");
            }
            Ok(())
        }
        NodeCommand::Restart { chain, node } => {
            print(&with_session(async |c| c.restart_node(&chain, &node).await).await?)
        }
    }
}
