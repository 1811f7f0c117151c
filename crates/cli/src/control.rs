//! The platform's REST API from the command line: `consortia login`, then `user`, `org`,
//! `consortium`, `host`, `chain` and `node` commands. The session (platform URL and tokens)
//! is kept in `$CONSORTIA_HOME/session.json` (default `~/.consortia`, mode 0600); an expired
//! access token is refreshed once, transparently. Every command prints the platform's JSON
//! answer, so scripts can read ids with `jq`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    /// Approve a join request on behalf of your member organization.
    Approve { consortium: String, request: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum HostCommand {
    /// Register a local host of an organization.
    Create {
        name: String,
        #[arg(long)]
        org: String,
    },
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
    },
    /// Step 3: invite a member organization of the consortium.
    Invite {
        chain: String,
        #[arg(long)]
        org: String,
    },
    /// Step 4: start the chain (returns once block 1 is committed).
    Start { chain: String },
    /// The chain, its nodes, the next step and what keeps it from starting.
    Status { chain: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// The last lines of a node's log.
    Logs {
        chain: String,
        node: String,
        #[arg(long, default_value_t = 100)]
        lines: usize,
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

fn save(session: &Session) -> Result<()> {
    let path = session_path()?;
    // A new file each time, so it is created 0600.
    let _ = std::fs::remove_file(&path);
    crate::keys::write_secret(&path, &serde_json::to_string_pretty(session)?)
}

fn load() -> Result<Session> {
    let path = session_path()?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("not logged in ({} missing): run `consortia login` first", path.display())
    })?;
    Ok(serde_json::from_str(&text)?)
}

async fn tokens(
    client: &reqwest::Client,
    platform: &str,
    path: &str,
    body: Value,
) -> Result<Session> {
    let response = client
        .post(format!("{platform}{path}"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach the platform at {platform}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{}: {}", status, body["message"].as_str().unwrap_or("refused"));
    }
    Ok(Session {
        platform: platform.to_owned(),
        access_token: body["access_token"].as_str().unwrap_or_default().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap_or_default().to_owned(),
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
    let client = reqwest::Client::new();
    let body = json!({"username": username, "password": password});
    let session = tokens(&client, platform, "/v1/auth/login", body).await?;
    save(&session)
}

/// Calls the platform as the logged-in user (refreshing an expired token once); the JSON
/// answer of a success, an error with the platform's message otherwise.
pub(crate) async fn request(
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let client = reqwest::Client::new();
    let mut session = load()?;
    for attempt in 0..2 {
        let mut request = client
            .request(method.clone(), format!("{}{path}", session.platform))
            .bearer_auth(&session.access_token);
        if let Some(b) = &body {
            request = request.json(b);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the platform at {}", session.platform))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
            let refresh = json!({"refresh_token": session.refresh_token});
            session = tokens(&client, &session.platform, "/v1/auth/refresh", refresh)
                .await
                .context("the session expired: run `consortia login` again")?;
            save(&session)?;
            continue;
        }
        if !status.is_success() {
            bail!("{status}: {}", answer["message"].as_str().unwrap_or("refused"));
        }
        return Ok(answer);
    }
    bail!("the platform refused the refreshed session: run `consortia login` again")
}

/// Starts a chain in the background and follows it (`on_progress` gets a line whenever the
/// progress changes) until it runs; the platform's reason if it does not.
pub(crate) async fn start_chain(
    chain: &str,
    mut on_progress: impl FnMut(&str),
) -> Result<consortia_platform::chains::ChainView> {
    let path = format!("/v1/chains/{chain}");
    let mut answer =
        request(reqwest::Method::POST, &format!("{path}/start?wait=false"), Some(json!({})))
            .await?;
    let mut said = String::new();
    loop {
        let view: consortia_platform::chains::ChainView = serde_json::from_value(answer)?;
        match view.status.as_str() {
            "running" => return Ok(view),
            "starting" => {}
            _ => bail!(
                "the chain did not start: {}",
                view.failure.as_deref().unwrap_or("see `consortia node logs`")
            ),
        }
        if let Some(p) = &view.progress {
            let line = match p.step.as_str() {
                "starting_nodes" => format!("starting nodes: {}/{}", p.done, p.total),
                "first_block" => {
                    format!("waiting for block 1: {}/{} nodes have it", p.done, p.total)
                }
                _ => "making keys, certificates, the genesis and configurations".to_owned(),
            };
            if line != said {
                on_progress(&line);
                said = line;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        answer = request(reqwest::Method::GET, &path, None).await?;
    }
}

/// [`request`], printing the JSON answer.
async fn call(method: reqwest::Method, path: &str, body: Option<Value>) -> Result<()> {
    let answer = request(method, path, body).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

async fn post(path: &str, body: Value) -> Result<()> {
    call(reqwest::Method::POST, path, Some(body)).await
}

pub(crate) async fn user(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create { username, password } => {
            post("/v1/users", json!({"username": username, "password": password})).await
        }
    }
}

pub(crate) async fn org(command: OrgCommand) -> Result<()> {
    match command {
        OrgCommand::Create { name } => post("/v1/orgs", json!({"name": name})).await,
    }
}

pub(crate) async fn consortium(command: ConsortiumCommand) -> Result<()> {
    use ConsortiumCommand as C;
    match command {
        C::Create { name, org, approval } => {
            post(
                "/v1/consortiums",
                json!({"name": name, "org_id": org, "approval_policy": approval}),
            )
            .await
        }
        C::Invite { consortium, user } => {
            post(&format!("/v1/consortiums/{consortium}/invitations"), json!({"username": user}))
                .await
        }
        C::Accept { invitation } => {
            post(&format!("/v1/invitations/{invitation}/accept"), json!({})).await
        }
        C::Join { consortium, org, invitation } => {
            let body = json!({"org_id": org, "invitation_id": invitation});
            post(&format!("/v1/consortiums/{consortium}/join-requests"), body).await
        }
        C::Approve { consortium, request } => {
            post(
                &format!("/v1/consortiums/{consortium}/join-requests/{request}/approve"),
                json!({}),
            )
            .await
        }
    }
}

pub(crate) async fn host(command: HostCommand) -> Result<()> {
    match command {
        HostCommand::Create { name, org } => {
            post("/v1/hosts", json!({"org_id": org, "name": name, "kind": "local"})).await
        }
    }
}

pub(crate) async fn chain(command: ChainCommand) -> Result<()> {
    use ChainCommand as C;
    match command {
        C::Create { name, consortium, org, consensus } => {
            let body = json!({"consortium_id": consortium, "org_id": org, "name": name, "consensus": consensus});
            post("/v1/chains", body).await
        }
        C::AddNode { chain, org, host, name, role } => {
            let body = json!({"org_id": org, "host_id": host, "name": name, "role": role});
            post(&format!("/v1/chains/{chain}/nodes"), body).await
        }
        C::Invite { chain, org } => {
            post(&format!("/v1/chains/{chain}/orgs"), json!({"org_id": org})).await
        }
        C::Start { chain } => {
            let view = start_chain(&chain, |line| eprintln!("{line}")).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
        C::Status { chain } => {
            call(reqwest::Method::GET, &format!("/v1/chains/{chain}"), None).await
        }
    }
}

pub(crate) async fn node(command: NodeCommand) -> Result<()> {
    match command {
        NodeCommand::Logs { chain, node, lines } => {
            let path = format!("/v1/chains/{chain}/nodes/{node}/logs?lines={lines}");
            call(reqwest::Method::GET, &path, None).await
        }
        NodeCommand::Restart { chain, node } => {
            post(&format!("/v1/chains/{chain}/nodes/{node}/restart"), json!({})).await
        }
    }
}
