//! Hosts, chains (the wizard's rows), their organizations and nodes.

use consortia_api::platform::{
    Allocation, ChainStatus, Consensus, ContractPolicy, CryptoSuite, HostKind, HostKubernetesView,
    HostNetwork, HostView, NodeAccess, NodeRole,
};
use std::net::SocketAddr;

use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

/// A new host's row.
#[derive(Debug)]
pub struct NewHost<'a> {
    pub org: &'a str,
    pub name: &'a str,
    pub kind: HostKind,
    pub address: &'a str,
    pub endpoint: Option<&'a str>,
    pub network: HostNetwork,
    /// The engine's CA and the client certificate, for TLS (the key is sealed apart).
    pub tls: Option<(&'a str, &'a str)>,
    /// How a Kubernetes host runs nodes (its kubeconfig is sealed apart).
    pub kubernetes: Option<&'a HostKubernetesView>,
}

pub async fn insert_host(db: impl Exec<'_>, new: &NewHost<'_>) -> Result<HostView> {
    let id = new_id("host");
    sqlx::query(
        "INSERT INTO hosts (id, org_id, name, kind, address, endpoint, network, tls_ca_pem, \
         tls_cert_pem, created_ms, image_repository, storage_class, storage_gib) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(new.org)
    .bind(new.name)
    .bind(new.kind.as_str())
    .bind(new.address)
    .bind(new.endpoint)
    .bind(new.network.as_str())
    .bind(new.tls.map(|t| t.0))
    .bind(new.tls.map(|t| t.1))
    .bind(now_ms())
    .bind(new.kubernetes.map(|k| k.image_repository.as_str()))
    .bind(new.kubernetes.and_then(|k| k.storage_class.as_deref()))
    .bind(new.kubernetes.map(|k| i64::from(k.storage_gib)))
    .execute(db)
    .await?;
    Ok(HostView {
        id,
        org_id: new.org.to_owned(),
        name: new.name.to_owned(),
        kind: new.kind,
        address: new.address.to_owned(),
        endpoint: new.endpoint.map(str::to_owned),
        network: new.network,
        tls: new.tls.is_some(),
        kubernetes: new.kubernetes.cloned(),
    })
}

/// The columns [`host_view`] reads, of `hosts h`.
const HOST_COLUMNS: &str = "h.id, h.org_id, h.name, h.kind, h.address, h.endpoint, h.network, \
    h.tls_ca_pem, h.image_repository, h.storage_class, h.storage_gib";

fn host_view(r: &sqlx::any::AnyRow) -> HostView {
    HostView {
        id: r.get(0),
        org_id: r.get(1),
        name: r.get(2),
        kind: r.get::<String, _>(3).parse().unwrap_or(HostKind::Local),
        address: r.get(4),
        endpoint: r.get(5),
        network: r.get::<String, _>(6).parse().unwrap_or(HostNetwork::Host),
        tls: r.get::<Option<String>, _>(7).is_some(),
        kubernetes: r.get::<Option<String>, _>(8).map(|image_repository| HostKubernetesView {
            image_repository,
            storage_class: r.get(9),
            storage_gib: r
                .get::<Option<i64>, _>(10)
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or(0),
        }),
    }
}

/// The hosts of the user's organizations (every host with `all`).
pub async fn hosts_for(db: impl Exec<'_>, user: &str, all: bool) -> Result<Vec<HostView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOST_COLUMNS} FROM hosts h \
         LEFT JOIN org_members m ON m.org_id = h.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY h.name"
    )))
    .bind(user)
    .bind(i64::from(all))
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(host_view).collect())
}

/// A host's TLS material: the engine's CA, the client certificate and the sealed client key.
pub async fn host_tls(db: impl Exec<'_>, id: &str) -> Result<Option<(String, String, String)>> {
    let row = sqlx::query(
        "SELECT tls_ca_pem, tls_cert_pem, tls_key FROM hosts WHERE id = $1 AND tls_key IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// A Kubernetes host's sealed kubeconfig, if it has one.
pub async fn host_kubeconfig(db: impl Exec<'_>, id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT kubeconfig FROM hosts WHERE id = $1 AND kubeconfig IS NOT NULL")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn host(db: impl Exec<'_>, id: &str) -> Result<Option<HostView>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {HOST_COLUMNS} FROM hosts h WHERE h.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.as_ref().map(host_view))
}

pub async fn host_ids(db: impl Exec<'_>) -> Result<Vec<String>> {
    Ok(sqlx::query("SELECT id FROM hosts ORDER BY id")
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A new chain's row.
#[derive(Debug)]
pub struct NewChain<'a> {
    pub consortium: &'a str,
    pub org: &'a str,
    pub name: &'a str,
    pub chain_id: i64,
    pub consensus: Consensus,
    pub suite: CryptoSuite,
    pub max_block_txs: i64,
    pub block_interval_ms: i64,
    pub deploy_policy: ContractPolicy,
    pub base_fee_per_gas: i64,
    pub allocations: &'a [Allocation],
    pub cors_origins: &'a [String],
    pub node_access: NodeAccess,
    pub node_https: bool,
    pub created_by: &'a str,
}

/// Creates a chain in `configuring`, with its creating organization taking part.
pub async fn insert_chain(tx: &mut Tx, new: &NewChain<'_>) -> Result<String> {
    let id = new_id("chain");
    sqlx::query(
        "INSERT INTO chains (id, consortium_id, name, chain_id, consensus, suite, max_block_txs, block_interval_ms, status, created_by, created_ms, deploy_policy, base_fee_per_gas, allocations, cors_origins, node_access, node_https) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'configuring', $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(new.consortium)
    .bind(new.name)
    .bind(new.chain_id)
    .bind(new.consensus.as_str())
    .bind(new.suite.as_str())
    .bind(new.max_block_txs)
    .bind(new.block_interval_ms)
    .bind(new.created_by)
    .bind(now_ms())
    .bind(new.deploy_policy.as_str())
    .bind(new.base_fee_per_gas)
    .bind(serde_json::to_string(new.allocations).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(new.cors_origins).unwrap_or_else(|_| "[]".into()))
    .bind(new.node_access.as_str())
    .bind(i64::from(new.node_https))
    .execute(&mut **tx)
    .await?;
    insert_chain_org(&mut **tx, &id, new.org).await?;
    Ok(id)
}

pub async fn insert_chain_org(db: impl Exec<'_>, chain: &str, org: &str) -> Result<()> {
    sqlx::query("INSERT INTO chain_orgs (chain_id, org_id, joined_ms) VALUES ($1, $2, $3)")
        .bind(chain)
        .bind(org)
        .bind(now_ms())
        .execute(db)
        .await?;
    Ok(())
}

/// A chain's own row.
#[derive(Clone, Debug)]
pub struct ChainRow {
    pub id: String,
    pub consortium_id: String,
    pub name: String,
    pub chain_id: i64,
    pub consensus: Consensus,
    pub suite: CryptoSuite,
    pub max_block_txs: i64,
    pub block_interval_ms: i64,
    pub status: ChainStatus,
    pub failure: Option<String>,
    pub deploy_policy: ContractPolicy,
    pub base_fee_per_gas: i64,
    pub allocations: Vec<Allocation>,
    pub cors_origins: Vec<String>,
    pub node_access: NodeAccess,
    pub node_https: bool,
}

/// A node of a chain, with its address: its own once placed on a chain network, else its
/// host's.
#[derive(Clone, Debug)]
pub struct NodeRow {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub host_id: String,
    pub role: NodeRole,
    pub address: String,
    pub http_port: Option<u16>,
    pub p2p_port: Option<u16>,
    /// What it may use (none: the default).
    pub memory_mib: Option<u32>,
    pub cpu_millis: Option<u32>,
}

/// A chain with its organizations (in joining order) and nodes (in adding order).
#[derive(Clone, Debug)]
pub struct ChainRecord {
    pub chain: ChainRow,
    pub orgs: Vec<String>,
    pub nodes: Vec<NodeRow>,
}

pub async fn chain(db: &mut sqlx::AnyConnection, id: &str) -> Result<Option<ChainRecord>> {
    let Some(r) = sqlx::query(
        "SELECT id, consortium_id, name, chain_id, consensus, suite, max_block_txs, block_interval_ms, status, failure, deploy_policy, base_fee_per_gas, allocations, cors_origins, node_access, node_https \
         FROM chains WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    else {
        return Ok(None);
    };
    let chain = ChainRow {
        id: r.get(0),
        consortium_id: r.get(1),
        name: r.get(2),
        chain_id: r.get(3),
        consensus: r.get::<String, _>(4).parse().unwrap_or(Consensus::Bft),
        suite: r.get::<String, _>(5).parse().unwrap_or(CryptoSuite::Standard),
        max_block_txs: r.get(6),
        block_interval_ms: r.get(7),
        status: r.get::<String, _>(8).parse().unwrap_or(ChainStatus::Configuring),
        failure: r.get(9),
        deploy_policy: r.get::<String, _>(10).parse().unwrap_or(ContractPolicy::Approved),
        base_fee_per_gas: r.get(11),
        allocations: serde_json::from_str(&r.get::<String, _>(12)).unwrap_or_default(),
        cors_origins: serde_json::from_str(&r.get::<String, _>(13)).unwrap_or_default(),
        // Unknown values fail closed.
        node_access: r.get::<String, _>(14).parse().unwrap_or(NodeAccess::Members),
        node_https: r.get::<i64, _>(15) != 0,
    };
    let orgs =
        sqlx::query("SELECT org_id FROM chain_orgs WHERE chain_id = $1 ORDER BY joined_ms, org_id")
            .bind(id)
            .fetch_all(&mut *db)
            .await?
            .iter()
            .map(|o| o.get(0))
            .collect();
    let port = |p: Option<i64>| p.and_then(|p| u16::try_from(p).ok());
    let nodes = sqlx::query(
        "SELECT n.id, n.name, n.org_id, n.host_id, n.role, COALESCE(n.address, h.address), n.http_port, n.p2p_port, \
         n.memory_mib, n.cpu_millis \
         FROM chain_nodes n JOIN hosts h ON h.id = n.host_id WHERE n.chain_id = $1 ORDER BY n.created_ms, n.name",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|n| NodeRow {
        id: n.get(0),
        name: n.get(1),
        org_id: n.get(2),
        host_id: n.get(3),
        role: n.get::<String, _>(4).parse().unwrap_or(NodeRole::Validator),
        address: n.get(5),
        http_port: port(n.get(6)),
        p2p_port: port(n.get(7)),
        memory_mib: n.get::<Option<i64>, _>(8).and_then(|m| u32::try_from(m).ok()),
        cpu_millis: n.get::<Option<i64>, _>(9).and_then(|m| u32::try_from(m).ok()),
    })
    .collect();
    Ok(Some(ChainRecord { chain, orgs, nodes }))
}

/// The chains the user's organizations take part in (every one with `all`), oldest first.
/// A chain's consortium and its chain id (what its nodes' tokens name).
pub async fn consortium_and_chain_id(db: impl Exec<'_>, id: &str) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query("SELECT consortium_id, chain_id FROM chains WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

pub async fn ids_for(db: impl Exec<'_>, user: &str, all: bool) -> Result<Vec<String>> {
    Ok(super::ids_for(
        db,
        "SELECT DISTINCT c.id, c.created_ms FROM chains c \
         LEFT JOIN chain_orgs co ON co.chain_id = c.id \
         LEFT JOIN org_members m ON m.org_id = co.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY c.created_ms",
        user,
        all,
    )
    .await?)
}

/// The chains with this status.
pub async fn ids_with_status(db: impl Exec<'_>, status: ChainStatus) -> Result<Vec<String>> {
    Ok(sqlx::query("SELECT id FROM chains WHERE status = $1")
        .bind(status.as_str())
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Locks the chain's row until `tx` ends (its configuration changes and its start run one at
/// a time) and reads its status; none if there is no such chain.
pub async fn lock_chain(tx: &mut Tx, id: &str) -> Result<Option<ChainStatus>> {
    let done = sqlx::query("UPDATE chains SET status = status WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let status: String = sqlx::query("SELECT status FROM chains WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?
        .get(0);
    Ok(Some(status.parse().unwrap_or(ChainStatus::Configuring)))
}

pub async fn set_status(
    db: impl Exec<'_>,
    id: &str,
    status: ChainStatus,
    failure: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE chains SET status = $1, failure = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(failure)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The node of any chain on the same address as `host` that has `port`, if any.
pub async fn port_owner(db: impl Exec<'_>, host: &str, port: u16) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT n.name FROM chain_nodes n JOIN hosts h ON h.id = n.host_id \
         WHERE h.network = 'host' AND (n.http_port = $2 OR n.p2p_port = $2) \
         AND h.address = (SELECT address FROM hosts WHERE id = $1 AND network = 'host')",
    )
    .bind(host)
    .bind(i64::from(port))
    .fetch_optional(db)
    .await?
    .map(|r| r.get(0)))
}

/// A new node's row.
#[derive(Debug)]
pub struct NewNode<'a> {
    pub chain: &'a str,
    pub org: &'a str,
    pub host: &'a str,
    pub name: &'a str,
    pub role: NodeRole,
    pub http_port: Option<u16>,
    pub p2p_port: Option<u16>,
    pub memory_mib: Option<u32>,
    pub cpu_millis: Option<u32>,
}

pub async fn insert_node(db: impl Exec<'_>, new: &NewNode<'_>) -> Result<String> {
    let id = new_id("node");
    sqlx::query(
        "INSERT INTO chain_nodes (id, chain_id, org_id, host_id, name, role, http_port, p2p_port, \
         memory_mib, cpu_millis, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(new.chain)
    .bind(new.org)
    .bind(new.host)
    .bind(new.name)
    .bind(new.role.as_str())
    .bind(new.http_port.map(i64::from))
    .bind(new.p2p_port.map(i64::from))
    .bind(new.memory_mib.map(i64::from))
    .bind(new.cpu_millis.map(i64::from))
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn delete_node(db: impl Exec<'_>, chain: &str, node: &str) -> Result<()> {
    sqlx::query("DELETE FROM chain_nodes WHERE id = $1 AND chain_id = $2")
        .bind(node)
        .bind(chain)
        .execute(db)
        .await?;
    Ok(())
}

/// Keeps the genesis (JSON) a chain started with.
pub async fn record_genesis(db: impl Exec<'_>, chain: &str, genesis: &str) -> Result<()> {
    sqlx::query("UPDATE chains SET genesis = $1 WHERE id = $2")
        .bind(genesis)
        .bind(chain)
        .execute(db)
        .await?;
    Ok(())
}

/// The genesis (JSON) a chain started with, once it did.
pub async fn genesis(db: impl Exec<'_>, chain: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT genesis FROM chains WHERE id = $1")
        .bind(chain)
        .fetch_optional(db)
        .await?
        .and_then(|r| r.get::<Option<String>, _>(0)))
}

/// The organization no longer takes part in the chain.
pub async fn delete_chain_org(db: impl Exec<'_>, chain: &str, org: &str) -> Result<()> {
    sqlx::query("DELETE FROM chain_orgs WHERE chain_id = $1 AND org_id = $2")
        .bind(chain)
        .bind(org)
        .execute(db)
        .await?;
    Ok(())
}

/// Records when a node's certificates expire.
pub async fn set_cert_expiry(db: impl Exec<'_>, node: &str, expires_ms: i64) -> Result<()> {
    sqlx::query("UPDATE chain_nodes SET cert_expires_ms = $1 WHERE id = $2")
        .bind(expires_ms)
        .bind(node)
        .execute(db)
        .await?;
    Ok(())
}

/// The running chains with a node whose certificates expire before `before_ms`.
pub async fn chains_with_certificates_due(
    db: impl Exec<'_>,
    before_ms: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT DISTINCT n.chain_id FROM chain_nodes n JOIN chains c ON c.id = n.chain_id \
         WHERE c.status = 'running' AND n.cert_expires_ms IS NOT NULL AND n.cert_expires_ms < $1",
    )
    .bind(before_ms)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// A node's id and the sealed secret of its key files (none for a node made before keys were
/// encrypted), by its chain and name.
pub async fn key_secret(
    db: impl Exec<'_>,
    chain: &str,
    name: &str,
) -> Result<Option<(String, Option<String>)>> {
    Ok(sqlx::query("SELECT id, key_secret FROM chain_nodes WHERE chain_id = $1 AND name = $2")
        .bind(chain)
        .bind(name)
        .fetch_optional(db)
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Records where a node listens once it runs: its address and ports.
pub async fn record_placement(
    db: impl Exec<'_>,
    node: &str,
    http: SocketAddr,
    p2p: SocketAddr,
) -> Result<()> {
    sqlx::query("UPDATE chain_nodes SET http_port = $1, p2p_port = $2, address = $3 WHERE id = $4")
        .bind(i64::from(http.port()))
        .bind(i64::from(p2p.port()))
        .bind(http.ip().to_string())
        .bind(node)
        .execute(db)
        .await?;
    Ok(())
}

/// Records whether the node should run (`running`) or stay stopped (`stopped`).
pub async fn set_desired(db: impl Exec<'_>, node: &str, running: bool) -> Result<()> {
    sqlx::query("UPDATE chain_nodes SET desired = $1 WHERE id = $2")
        .bind(if running { "running" } else { "stopped" })
        .bind(node)
        .execute(db)
        .await?;
    Ok(())
}

/// (chain, node name, host) of every node of a running chain that should run.
pub async fn nodes_that_should_run(db: impl Exec<'_>) -> Result<Vec<(String, String, String)>> {
    Ok(sqlx::query(
        "SELECT n.chain_id, n.name, n.host_id FROM chain_nodes n JOIN chains c ON c.id = n.chain_id \
         WHERE c.status = 'running' AND n.desired = 'running'",
    )
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect())
}

/// The running chains of `consortium` that `org` takes part in.
pub async fn running_chains_of(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT c.id FROM chains c JOIN chain_orgs o ON o.chain_id = c.id \
         WHERE c.consortium_id = $1 AND o.org_id = $2 AND c.status = $3 ORDER BY c.id",
    )
    .bind(consortium)
    .bind(org)
    .bind(ChainStatus::Running.as_str())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
