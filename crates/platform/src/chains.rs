//! Hosts, and the chain wizard of the seed's Tencent platform, resumable at any step:
//!
//! 1. create the chain in a consortium (name, consensus, crypto suite, block parameters; the
//!    chain id exists at once);
//! 2. add nodes (per organization, on one of its hosts);
//! 3. invite member organizations of the consortium, who bring their own nodes;
//! 4. start: genesis, certificates and configurations, nodes started through their host
//!    driver (not built yet).
//!
//! `GET /v1/chains/{id}` says which step is next and what still keeps the chain from starting.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use consortia_rpc::{ApiError, ApiResult, ErrorBody, json_body};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::api::{Body, Ctx, check_name, ids_for, org_exists};
use crate::auth::Caller;
use crate::authz;
use crate::db::{new_id, now_ms};
use crate::{Platform, db_error, db_error_or_duplicate};

pub(crate) fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/hosts", post(create_host).get(list_hosts))
        .route("/v1/chains", post(create_chain).get(list_chains))
        .route("/v1/chains/{id}", get(show_chain))
        .route("/v1/chains/{id}/orgs", post(invite_org))
        .route("/v1/chains/{id}/nodes/{node}", axum::routing::delete(remove_node))
        .route("/v1/chains/{id}/nodes", post(add_node).get(crate::nodes::list))
}

/// Where a host's nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// Processes of the platform's machine (`consortia node`).
    Local,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateHostRequest {
    pub org_id: String,
    pub name: String,
    pub kind: HostKind,
    /// The address its nodes listen on (default 127.0.0.1).
    pub address: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: HostKind,
    pub address: String,
}

async fn authorize_in(
    platform: &Platform,
    caller: &Caller,
    org: &str,
    action: &str,
    what: &str,
) -> ApiResult<()> {
    org_exists(platform, org).await?;
    authz::authorize(&platform.db, caller, org, action, &format!("org/{org}/{what}")).await
}

/// Register a host of an organization
#[utoipa::path(post, path = "/v1/hosts", tag = "hosts",
    request_body = CreateHostRequest,
    responses((status = 201, body = HostView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_host(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<HostView>)> {
    let req: CreateHostRequest = json_body(body)?;
    let name = check_name("host", &req.name)?.to_owned();
    authorize_in(&platform, &caller, &req.org_id, "host:create", "hosts").await?;
    let address = req.address.unwrap_or_else(|| "127.0.0.1".into());
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(ApiError::bad_request(
            "bad_address",
            format!("`{address}` is not an IP address"),
        ));
    }
    let id = new_id("host");
    sqlx::query("INSERT INTO hosts (id, org_id, name, kind, address, created_ms) VALUES ($1, $2, $3, 'local', $4, $5)")
        .bind(&id)
        .bind(&req.org_id)
        .bind(&name)
        .bind(&address)
        .bind(now_ms())
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok((
        StatusCode::CREATED,
        Json(HostView { id, org_id: req.org_id, name, kind: req.kind, address }),
    ))
}

/// Hosts of the caller's organizations
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", responses((status = 200, body = Vec<HostView>)))]
pub async fn list_hosts(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<HostView>>> {
    let rows = sqlx::query(
        "SELECT h.id, h.org_id, h.name, h.address FROM hosts h \
         LEFT JOIN org_members m ON m.org_id = h.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY h.name",
    )
    .bind(&caller.user_id)
    .bind(i64::from(caller.admin))
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    Ok(Json(
        rows.iter()
            .map(|r| HostView {
                id: r.get(0),
                org_id: r.get(1),
                name: r.get(2),
                kind: HostKind::Local,
                address: r.get(3),
            })
            .collect(),
    ))
}

/// The chain's consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Consensus {
    /// Tendermint: tolerates f Byzantine validators of 3f + 1 (at least 4 validators).
    Bft,
    /// Raft: tolerates crash faults of a minority (at least 3 validators).
    Raft,
    /// One validator: development only.
    Solo,
}

impl Consensus {
    fn as_str(self) -> &'static str {
        match self {
            Consensus::Bft => "bft",
            Consensus::Raft => "raft",
            Consensus::Solo => "solo",
        }
    }

    fn parse(s: &str) -> Consensus {
        match s {
            "raft" => Consensus::Raft,
            "solo" => Consensus::Solo,
            _ => Consensus::Bft,
        }
    }

    /// What the validator count must satisfy, as a problem if it does not.
    fn validator_problem(self, validators: usize) -> Option<String> {
        match self {
            Consensus::Bft if validators < 4 => {
                Some(format!("BFT needs at least 4 validators; it has {validators}"))
            }
            Consensus::Raft if validators < 3 => {
                Some(format!("Raft needs at least 3 validators; it has {validators}"))
            }
            Consensus::Solo if validators != 1 => {
                Some(format!("solo runs exactly 1 validator; it has {validators}"))
            }
            _ => None,
        }
    }
}

/// The chain's crypto suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CryptoSuite {
    /// Ed25519 / secp256k1, SHA-256 / Keccak, AES-GCM.
    Standard,
    /// The Chinese national standards: SM2, SM3, SM4.
    Sm,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateChainRequest {
    pub consortium_id: String,
    /// The member organization creating it (the caller must be its admin or operator).
    pub org_id: String,
    pub name: String,
    pub consensus: Consensus,
    /// Default `standard`.
    pub suite: Option<CryptoSuite>,
    /// Most transactions per block (default 2,000; 1 to 100,000).
    pub max_block_txs: Option<i64>,
    /// How long a proposer waits to fill a block, in ms (default 20; 1 to 10,000).
    pub block_interval_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainNodeView {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub host_id: String,
    /// `validator` or `observer`.
    pub role: String,
    /// The node's REST API (its Ethereum JSON-RPC is at `/rpc`), once its port is known
    /// (chosen when it was added, or picked at the start).
    pub http_url: Option<String>,
    /// Its peer-to-peer address, once its port is known.
    pub p2p_address: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainView {
    pub id: String,
    pub consortium_id: String,
    pub name: String,
    /// The chain id every transaction carries (assigned at creation).
    pub chain_id: i64,
    pub consensus: Consensus,
    pub suite: String,
    pub max_block_txs: i64,
    pub block_interval_ms: i64,
    /// `configuring`, `starting`, `running` or `failed`.
    pub status: String,
    /// Participating organizations.
    pub orgs: Vec<String>,
    pub nodes: Vec<ChainNodeView>,
    /// The wizard's next step: `add_nodes`, `invite_or_start` or `none`.
    pub next_step: String,
    /// What still keeps it from starting.
    pub problems: Vec<String>,
    /// Why the last start failed.
    pub failure: Option<String>,
    /// While `starting`: how far the start has come.
    pub progress: Option<crate::start::StartProgress>,
}

/// Step 1: create a chain in a consortium (the chain id is assigned at once)
#[utoipa::path(post, path = "/v1/chains", tag = "chains",
    request_body = CreateChainRequest,
    responses(
        (status = 201, body = ChainView),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "The organization is not a member, or the caller may not", body = ErrorBody),
        (status = 409, description = "Name taken in the consortium", body = ErrorBody),
    ))]
pub async fn create_chain(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    let req: CreateChainRequest = json_body(body)?;
    let name = check_name("chain", &req.name)?.to_owned();
    let max_block_txs = req.max_block_txs.unwrap_or(2_000);
    let interval = req.block_interval_ms.unwrap_or(20);
    if !(1..=100_000).contains(&max_block_txs) || !(1..=10_000).contains(&interval) {
        return Err(ApiError::bad_request(
            "bad_parameters",
            "max_block_txs is 1 to 100,000 and block_interval_ms 1 to 10,000",
        ));
    }
    authorize_in(
        &platform,
        &caller,
        &req.org_id,
        "chain:create",
        &format!("consortiums/{}", req.consortium_id),
    )
    .await?;
    consortium_member(&platform, &req.consortium_id, &req.org_id).await?;
    let suite = match req.suite.unwrap_or(CryptoSuite::Standard) {
        CryptoSuite::Standard => "standard",
        CryptoSuite::Sm => "sm",
    };
    let id = new_id("chain");
    let now = now_ms();
    let mut tx = platform.db.begin().await.map_err(db_error)?;
    // A random chain id (as Ethereum's are chosen), well clear of public networks' small ids.
    let chain_id = i64::from(OsRng.next_u32() >> 1).max(100_000);
    sqlx::query(
        "INSERT INTO chains (id, consortium_id, name, chain_id, consensus, suite, max_block_txs, block_interval_ms, status, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'configuring', $9, $10)",
    )
    .bind(&id)
    .bind(&req.consortium_id)
    .bind(&name)
    .bind(chain_id)
    .bind(req.consensus.as_str())
    .bind(suite)
    .bind(max_block_txs)
    .bind(interval)
    .bind(&caller.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("INSERT INTO chain_orgs (chain_id, org_id, joined_ms) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&req.org_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(chain_view(&platform, &id).await?)))
}

/// 403 unless `org` is a member of `consortium` (404 for an unknown consortium).
async fn consortium_member(platform: &Platform, consortium: &str, org: &str) -> ApiResult<()> {
    let exists = sqlx::query("SELECT 1 FROM consortiums WHERE id = $1")
        .bind(consortium)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!("no consortium {consortium}")));
    }
    let member =
        sqlx::query("SELECT 1 FROM consortium_members WHERE consortium_id = $1 AND org_id = $2")
            .bind(consortium)
            .bind(org)
            .fetch_optional(&platform.db)
            .await
            .map_err(db_error)?;
    member.map(|_| ()).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_member",
            format!("{org} is not a member of consortium {consortium}"),
        )
    })
}

pub(crate) async fn chain_view(platform: &Platform, id: &str) -> ApiResult<ChainView> {
    let r = sqlx::query(
        "SELECT id, consortium_id, name, chain_id, consensus, suite, max_block_txs, block_interval_ms, status, failure FROM chains WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?
    .ok_or_else(|| ApiError::not_found(format!("no chain {id}")))?;
    let orgs: Vec<String> =
        sqlx::query("SELECT org_id FROM chain_orgs WHERE chain_id = $1 ORDER BY joined_ms")
            .bind(id)
            .fetch_all(&platform.db)
            .await
            .map_err(db_error)?
            .iter()
            .map(|o| o.get(0))
            .collect();
    let nodes: Vec<ChainNodeView> =
        sqlx::query(
            "SELECT n.id, n.name, n.org_id, n.host_id, n.role, h.address, n.http_port, n.p2p_port \
             FROM chain_nodes n JOIN hosts h ON h.id = n.host_id WHERE n.chain_id = $1 ORDER BY n.created_ms, n.name",
        )
        .bind(id)
        .fetch_all(&platform.db)
        .await
        .map_err(db_error)?
        .iter()
        .map(|n| {
            let address: String = n.get(5);
            let at = |port: Option<i64>| port.map(|p| std::net::SocketAddr::new(address.parse().unwrap_or([127, 0, 0, 1].into()), p as u16));
            ChainNodeView {
                id: n.get(0),
                name: n.get(1),
                org_id: n.get(2),
                host_id: n.get(3),
                role: n.get(4),
                http_url: at(n.get(6)).map(|a| format!("http://{a}")),
                p2p_address: at(n.get(7)).map(|a| a.to_string()),
            }
        })
        .collect();
    let consensus = Consensus::parse(&r.get::<String, _>(4));
    let status: String = r.get(8);
    let validators = nodes.iter().filter(|n| n.role == "validator").count();
    let problems: Vec<String> = consensus.validator_problem(validators).into_iter().collect();
    let next_step = match (status.as_str(), problems.is_empty()) {
        ("configuring", false) => "add_nodes",
        ("configuring", true) => "invite_or_start",
        _ => "none",
    };
    let progress = if status == "starting" { platform.start_progress(id) } else { None };
    Ok(ChainView {
        id: r.get(0),
        consortium_id: r.get(1),
        name: r.get(2),
        chain_id: r.get(3),
        consensus,
        suite: r.get(5),
        max_block_txs: r.get(6),
        block_interval_ms: r.get(7),
        status,
        orgs,
        nodes,
        next_step: next_step.into(),
        problems,
        failure: r.get(9),
        progress,
    })
}

impl ChainView {
    /// Its node with this id or name (404 if none).
    pub(crate) fn node(&self, node: &str) -> ApiResult<&ChainNodeView> {
        self.nodes
            .iter()
            .find(|n| n.id == node || n.name == node)
            .ok_or_else(|| ApiError::not_found(format!("no node {node} in chain {}", self.id)))
    }
}

/// The chain, and 403 unless the caller is in one of its organizations.
pub(crate) async fn visible_chain(
    platform: &Platform,
    caller: &Caller,
    id: &str,
) -> ApiResult<ChainView> {
    let chain = chain_view(platform, id).await?;
    if caller.admin {
        return Ok(chain);
    }
    for org in &chain.orgs {
        if authz::role_in(&platform.db, &caller.user_id, org).await?.is_some() {
            return Ok(chain);
        }
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("none of your organizations takes part in chain {id}"),
    ))
}

/// A chain: parameters, organizations, nodes, the wizard's next step and open problems
#[utoipa::path(get, path = "/v1/chains/{id}", tag = "chains",
    responses((status = 200, body = ChainView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show_chain(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<ChainView>> {
    Ok(Json(visible_chain(&platform, &caller, &id).await?))
}

/// 403 unless the caller may do `action` in one of the chain's organizations.
pub(crate) async fn allowed_in_any_org(
    platform: &Platform,
    caller: &Caller,
    chain: &ChainView,
    action: &str,
) -> ApiResult<()> {
    if caller.admin {
        return Ok(());
    }
    for org in &chain.orgs {
        let resource = format!("org/{org}/chains/{}", chain.id);
        if authz::authorize(&platform.db, caller, org, action, &resource).await.is_ok() {
            return Ok(());
        }
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("no organization of yours in chain {} allows you {action}", chain.id),
    ))
}

/// 409 unless the chain is still being configured.
pub(crate) fn configuring(chain: &ChainView) -> ApiResult<()> {
    if chain.status == "configuring" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!("chain {} is {}; it can no longer be configured", chain.id, chain.status),
        ))
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteOrgRequest {
    /// A member organization of the chain's consortium.
    pub org_id: String,
}

/// Step 3: invite a member organization of the consortium (it brings its own nodes)
#[utoipa::path(post, path = "/v1/chains/{id}/orgs", tag = "chains",
    request_body = InviteOrgRequest,
    responses((status = 200, body = ChainView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn invite_org(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<ChainView>> {
    let req: InviteOrgRequest = json_body(body)?;
    let chain = visible_chain(&platform, &caller, &id).await?;
    configuring(&chain)?;
    allowed_in_any_org(&platform, &caller, &chain, "chain:invite").await?;
    consortium_member(&platform, &chain.consortium_id, &req.org_id).await?;
    sqlx::query("INSERT INTO chain_orgs (chain_id, org_id, joined_ms) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&req.org_id)
        .bind(now_ms())
        .execute(&platform.db)
        .await
        .map_err(|e| {
            db_error_or_duplicate(e, "conflict", format!("{} already takes part", req.org_id))
        })?;
    Ok(Json(chain_view(&platform, &id).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AddNodeRequest {
    /// The participating organization that owns the node.
    pub org_id: String,
    /// One of that organization's hosts.
    pub host_id: String,
    /// Default `node-<n>` (n: the chain's node count so far).
    pub name: Option<String>,
    /// `validator` (default) or `observer`.
    pub role: Option<String>,
    /// Port of its REST API and JSON-RPC (default: a free port picked at the start).
    pub http_port: Option<u16>,
    /// Port of its peer-to-peer listener (default: a free port picked at the start).
    pub p2p_port: Option<u16>,
}

/// Step 2: add a node of a participating organization on one of its hosts
#[utoipa::path(post, path = "/v1/chains/{id}/nodes", tag = "chains",
    request_body = AddNodeRequest,
    responses(
        (status = 201, body = ChainView),
        (status = 400, description = "Bad role, or a host of another organization", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Name or port taken, or the chain is past configuration", body = ErrorBody),
    ))]
pub async fn add_node(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    let req: AddNodeRequest = json_body(body)?;
    let chain = chain_view(&platform, &id).await?;
    configuring(&chain)?;
    if !chain.orgs.contains(&req.org_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_participating",
            format!(
                "{} does not take part in chain {id}; invite it first (POST /v1/chains/{id}/orgs)",
                req.org_id
            ),
        ));
    }
    authorize_in(&platform, &caller, &req.org_id, "node:create", &format!("chains/{id}/nodes"))
        .await?;
    let role = req.role.clone().unwrap_or_else(|| "validator".into());
    if role != "validator" && role != "observer" {
        return Err(ApiError::bad_request(
            "bad_role",
            "a node's role is `validator` or `observer`",
        ));
    }
    let host_org: Option<String> = sqlx::query("SELECT org_id FROM hosts WHERE id = $1")
        .bind(&req.host_id)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?
        .map(|r| r.get(0));
    match host_org {
        None => return Err(ApiError::not_found(format!("no host {}", req.host_id))),
        Some(o) if o != req.org_id => {
            return Err(ApiError::bad_request(
                "foreign_host",
                format!("host {} belongs to another organization", req.host_id),
            ));
        }
        Some(_) => {}
    }
    let name = match &req.name {
        Some(n) => check_name("node", n)?.to_owned(),
        None => format!("node-{}", chain.nodes.len()),
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::bad_request(
            "bad_name",
            "node names use letters, digits, `-` and `_` (they name directories and certificates)",
        ));
    }
    check_ports(&platform, &req).await?;
    sqlx::query("INSERT INTO chain_nodes (id, chain_id, org_id, host_id, name, role, http_port, p2p_port, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(new_id("node"))
        .bind(&id)
        .bind(&req.org_id)
        .bind(&req.host_id)
        .bind(&name)
        .bind(&role)
        .bind(req.http_port.map(i64::from))
        .bind(req.p2p_port.map(i64::from))
        .bind(now_ms())
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(chain_view(&platform, &id).await?)))
}

/// Refuses chosen ports that are 0, equal, or already given to a node on the same address.
async fn check_ports(platform: &Platform, req: &AddNodeRequest) -> ApiResult<()> {
    let chosen: Vec<u16> = [req.http_port, req.p2p_port].into_iter().flatten().collect();
    if chosen.contains(&0) {
        return Err(ApiError::bad_request(
            "bad_port",
            "a port is 1 to 65535 (omit it to have one picked)",
        ));
    }
    if req.http_port.is_some() && req.http_port == req.p2p_port {
        return Err(ApiError::bad_request("bad_port", "the HTTP and P2P ports must differ"));
    }
    for port in chosen {
        let taken: Option<String> = sqlx::query(
            "SELECT n.name FROM chain_nodes n JOIN hosts h ON h.id = n.host_id \
             WHERE h.address = (SELECT address FROM hosts WHERE id = $1) AND (n.http_port = $2 OR n.p2p_port = $2)",
        )
        .bind(&req.host_id)
        .bind(i64::from(port))
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?
        .map(|r| r.get(0));
        if let Some(node) = taken {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "port_taken",
                format!("port {port} is already node {node}'s on that address; choose another"),
            ));
        }
    }
    Ok(())
}

/// Chains the caller's organizations take part in (all for a platform administrator)
#[utoipa::path(get, path = "/v1/chains", tag = "chains", responses((status = 200, body = Vec<ChainView>)))]
pub async fn list_chains(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<ChainView>>> {
    let ids = ids_for(
        &platform,
        &caller,
        "SELECT DISTINCT c.id, c.created_ms FROM chains c \
         LEFT JOIN chain_orgs co ON co.chain_id = c.id \
         LEFT JOIN org_members m ON m.org_id = co.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY c.created_ms",
    )
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(chain_view(&platform, &id).await?);
    }
    Ok(Json(out))
}

/// Remove a node from a chain that has not started (the wizard's step 2, undone)
#[utoipa::path(delete, path = "/v1/chains/{id}/nodes/{node}", tag = "chains",
    responses(
        (status = 200, body = ChainView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The chain has started", body = ErrorBody),
    ))]
pub async fn remove_node(
    Ctx { platform, caller }: Ctx,
    Path((id, node)): Path<(String, String)>,
) -> ApiResult<Json<ChainView>> {
    let chain = visible_chain(&platform, &caller, &id).await?;
    let found = chain.node(&node)?;
    let resource = format!("org/{}/nodes/{}", found.org_id, found.id);
    authz::authorize(&platform.db, &caller, &found.org_id, "node:delete", &resource).await?;
    configuring(&chain)?;
    sqlx::query("DELETE FROM chain_nodes WHERE id = $1 AND chain_id = $2")
        .bind(&found.id)
        .bind(&id)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok(Json(chain_view(&platform, &id).await?))
}
