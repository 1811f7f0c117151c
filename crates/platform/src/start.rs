//! Step 4 of the chain wizard: start. The platform makes what the chain needs (a node key and
//! a TLS certificate from its organization's CA per node, consensus keys, the genesis, each
//! node's configuration), hands every node to its host's driver, and waits for the first
//! committed block. After that the chain needs the platform no more.
//!
//! A start runs as a task of its own, so a client that stops waiting (`wait=false`, or a
//! dropped connection) does not cut it short; `GET /v1/chains/{id}` shows its progress.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use consortia_crypto::{PrivateKey, Scheme, Suite};
use consortia_hosts::NodeSpec;
use consortia_network::pki::Ca;
use consortia_node::config::{NodeFile, P2pFile};
use consortia_rpc::{ApiError, ApiResult, ErrorBody};
use consortia_types::{ChainParams, ConsensusKind, Genesis, NodeIdentity, Validator};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use crate::api::Ctx;
use crate::chains::{ChainView, allowed_in_any_org, chain_view, configuring, visible_chain};
use crate::db::now_ms;
use crate::{Platform, db_error};

/// How long a start waits for the first committed block.
const FIRST_BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

fn start_failed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "start_failed", message)
}

/// One node as the start sees it.
struct Planned {
    row_id: String,
    name: String,
    host_id: String,
    validator: bool,
    http: SocketAddr,
    p2p: SocketAddr,
}

/// The ports of every node: the ones chosen when it was added, and free ones for the rest.
/// All are held open together, so none is given twice and a chosen one that another program
/// holds is reported now; then they are released for the nodes (another program could take
/// one in between: the start then fails and says so).
fn plan_ports(wanted: &[(IpAddr, [Option<u16>; 2])]) -> Result<Vec<[u16; 2]>, ApiError> {
    let mut held = Vec::with_capacity(wanted.len() * 2);
    let mut ports = Vec::with_capacity(wanted.len());
    for (ip, chosen) in wanted {
        let mut pair = [0; 2];
        for (slot, port) in pair.iter_mut().zip(chosen) {
            let listener = TcpListener::bind((*ip, port.unwrap_or(0))).map_err(|e| match port {
                Some(p) => start_failed(format!(
                    "port {p} on {ip} is in use by another program ({e}): stop it, or remove the node and add it with another port"
                )),
                None => start_failed(format!("no free ports on {ip}: {e}")),
            })?;
            *slot = listener.local_addr().map_err(ApiError::internal)?.port();
            held.push(listener);
        }
        ports.push(pair);
    }
    Ok(ports)
}

/// How far a start has come. Kept in memory: a start runs in this process (one the platform
/// did not finish when it stopped is undone when it starts again). Shown while the chain is
/// `starting`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StartProgress {
    /// `preparing` (ports, certificates, configurations), `starting_nodes` or `first_block`.
    pub step: String,
    /// Nodes done in this step, of `total`.
    pub done: usize,
    pub total: usize,
    pub started_ms: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartQuery {
    /// `false`: answer 202 at once and start in the background (follow `progress` and `status`
    /// on `GET /v1/chains/{id}`). Default `true`: answer once block 1 is committed.
    wait: Option<bool>,
}

/// The reason left on a chain whose start the platform did not finish.
pub(crate) const INTERRUPTED: &str =
    "the platform stopped while this chain was starting; its nodes were removed: start it again";

impl Platform {
    fn progress(&self, chain: &str, step: &str, done: usize, total: usize) {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = starts.get_mut(chain) {
            (p.step, p.done, p.total) = (step.to_owned(), done, total);
        }
    }

    pub(crate) fn start_progress(&self, chain: &str) -> Option<StartProgress> {
        self.starts.lock().unwrap_or_else(|e| e.into_inner()).get(chain).cloned()
    }

    /// Removes the nodes a start made and puts the chain back to `configuring` with the reason.
    async fn undo_start(&self, chain: &ChainView, reason: &str) -> ApiResult<()> {
        for node in &chain.nodes {
            if let Ok(driver) = self.driver(&node.host_id) {
                let _ = driver.remove(&spec_name(&chain.id, &node.name)).await;
            }
        }
        sqlx::query("UPDATE chains SET status = 'configuring', failure = $1 WHERE id = $2")
            .bind(reason)
            .bind(&chain.id)
            .execute(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Undoes the starts a previous run of the platform left half done (it was killed, or the
    /// machine went down), so that the chains can be started again.
    pub(crate) async fn undo_interrupted_starts(&self) -> ApiResult<()> {
        let rows = sqlx::query("SELECT id FROM chains WHERE status = 'starting'")
            .fetch_all(&self.db)
            .await
            .map_err(db_error)?;
        for row in rows {
            let chain = chain_view(self, &row.get::<String, _>(0)).await?;
            tracing::warn!(target: "platform::start", chain = %chain.id, "undoing a start the platform did not finish");
            self.undo_start(&chain, INTERRUPTED).await?;
        }
        Ok(())
    }
}

/// Runs a start to its end, whoever still waits for it: a client that goes away does not
/// leave the chain half started. Its progress entry stays (one per chain started by this
/// process; the next start replaces it): a read that found the chain `starting` just before
/// the start ended still finds progress to show.
async fn run_start(platform: Arc<Platform>, chain: ChainView, actor: String) -> ApiResult<()> {
    let outcome = finish_start(&platform, &chain).await;
    let status = outcome.as_ref().map_or_else(|e| e.status, |()| StatusCode::OK);
    let path = format!("/v1/chains/{}/start", chain.id);
    crate::auth::audit(&platform.db, Some(&actor), crate::auth::AUDIT_JOB, &path, status).await;
    outcome
}

async fn finish_start(platform: &Platform, chain: &ChainView) -> ApiResult<()> {
    match launch(platform, chain).await {
        Ok(()) => sqlx::query("UPDATE chains SET status = 'running' WHERE id = $1")
            .bind(&chain.id)
            .execute(&platform.db)
            .await
            .map(|_| ())
            .map_err(db_error),
        Err(e) => {
            tracing::warn!(target: "platform::start", chain = %chain.id, error = %e.body.message, "start failed");
            platform.undo_start(chain, &e.body.message).await?;
            Err(e)
        }
    }
}

/// Step 4: start the chain (genesis, certificates, configurations; nodes started through their
/// hosts; by default answers once block 1 is committed, with `wait=false` at once)
#[utoipa::path(post, path = "/v1/chains/{id}/start", tag = "chains",
    params(StartQuery),
    responses(
        (status = 200, description = "Running: block 1 is committed", body = ChainView),
        (status = 202, description = "`wait=false`: starting; `progress` tells how far it is", body = ChainView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not ready (see `problems`) or already started", body = ErrorBody),
        (status = 502, description = "The nodes did not commit a first block; see `failure` and the node logs", body = ErrorBody),
    ))]
pub async fn start_chain(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> ApiResult<(StatusCode, Json<ChainView>)> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let chain = visible_chain(&platform, &caller, &id).await?;
    allowed_in_any_org(&platform, &caller, &chain, "chain:start").await?;
    configuring(&chain)?;
    if !chain.problems.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_ready",
            format!("the chain cannot start yet: {}", chain.problems.join("; ")),
        ));
    }
    let claimed = sqlx::query(
        "UPDATE chains SET status = 'starting', failure = NULL WHERE id = $1 AND status = 'configuring'",
    )
    .bind(&id)
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    if claimed.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            "the chain is already starting",
        ));
    }
    platform.starts.lock().unwrap_or_else(|e| e.into_inner()).insert(
        id.clone(),
        StartProgress {
            step: "preparing".into(),
            done: 0,
            total: chain.nodes.len(),
            started_ms: now_ms(),
        },
    );
    let job = tokio::spawn(run_start(platform.clone(), chain, caller.username.clone()));
    if query.wait == Some(false) {
        return Ok((StatusCode::ACCEPTED, Json(chain_view(&platform, &id).await?)));
    }
    job.await.map_err(|e| ApiError::internal(format!("the start failed: {e}")))??;
    Ok((StatusCode::OK, Json(chain_view(&platform, &id).await?)))
}

/// A node's name on its host: unique across chains.
pub(crate) fn spec_name(chain: &str, node: &str) -> String {
    format!("{chain}-{node}")
}

async fn launch(platform: &Platform, chain: &ChainView) -> ApiResult<()> {
    let consortium: (String, String) = {
        let r = sqlx::query("SELECT name, ca_cert_pem FROM consortiums WHERE id = $1")
            .bind(&chain.consortium_id)
            .fetch_one(&platform.db)
            .await
            .map_err(db_error)?;
        (r.get(0), r.get(1))
    };
    // Each organization's CA (its identity in the consortium) issues its nodes' certificates.
    let mut org_cas: HashMap<String, Ca> = HashMap::new();
    for org in &chain.orgs {
        let r = sqlx::query(
            "SELECT o.name, m.cert_pem, m.key_pem FROM consortium_members m JOIN orgs o ON o.id = m.org_id \
             WHERE m.consortium_id = $1 AND m.org_id = $2",
        )
        .bind(&chain.consortium_id)
        .bind(org)
        .fetch_one(&platform.db)
        .await
        .map_err(db_error)?;
        let ca = Ca::load_member(
            &consortium.0,
            &r.get::<String, _>(0),
            &r.get::<String, _>(1),
            &r.get::<String, _>(2),
        )
        .map_err(|e| ApiError::internal(format!("organization CA: {e}")))?;
        org_cas.insert(org.clone(), ca);
    }
    let mut wanted = Vec::with_capacity(chain.nodes.len());
    for node in &chain.nodes {
        let r = sqlx::query(
            "SELECT h.address, n.http_port, n.p2p_port FROM chain_nodes n JOIN hosts h ON h.id = n.host_id WHERE n.id = $1",
        )
        .bind(&node.id)
        .fetch_one(&platform.db)
        .await
        .map_err(db_error)?;
        let ip: IpAddr = r.get::<String, _>(0).parse().map_err(ApiError::internal)?;
        let chosen = |i| r.get::<Option<i64>, _>(i).map(|p| p as u16);
        wanted.push((ip, [chosen(1), chosen(2)]));
    }
    let ports = plan_ports(&wanted)?;
    let planned: Vec<Planned> = chain
        .nodes
        .iter()
        .zip(wanted.iter().zip(ports))
        .map(|(node, ((ip, _), [http, p2p]))| Planned {
            row_id: node.id.clone(),
            name: node.name.clone(),
            host_id: node.host_id.clone(),
            validator: node.role == "validator",
            http: SocketAddr::new(*ip, http),
            p2p: SocketAddr::new(*ip, p2p),
        })
        .collect();
    let suite = if chain.suite == "sm" { Suite::Sm } else { Suite::Standard };
    let scheme = if suite == Suite::Sm { Scheme::Sm2 } else { Scheme::Ed25519 };
    let mut validators = vec![];
    let mut identities = vec![];
    let mut keys = vec![];
    for (node, org) in planned.iter().zip(chain.nodes.iter().map(|n| &n.org_id)) {
        let node_key = PrivateKey::generate(Scheme::Ed25519);
        let ca = &org_cas[org];
        let cert = ca
            .issue(&node.name, &node_key)
            .map_err(|e| ApiError::internal(format!("certificate: {e}")))?;
        identities.push(NodeIdentity { name: node.name.clone(), key: node_key.public_key() });
        let validator_key = node.validator.then(|| PrivateKey::generate(scheme));
        if let Some(k) = &validator_key {
            validators.push(Validator {
                name: node.name.clone(),
                public_key: k.public_key(),
                power: 1,
            });
        }
        // The certificate followed by its issuer's: the chain up to the consortium CA.
        keys.push((node_key, format!("{cert}{}", ca.cert_pem()), validator_key));
    }
    let consensus = match chain.consensus {
        crate::chains::Consensus::Bft => ConsensusKind::Bft,
        crate::chains::Consensus::Raft => ConsensusKind::Raft,
        crate::chains::Consensus::Solo => ConsensusKind::Solo,
    };
    let genesis = Genesis {
        chain_id: chain.chain_id as u64,
        chain_name: chain.name.clone(),
        suite,
        time_ms: now_ms() as u64,
        validators,
        accounts: vec![],
        params: ChainParams {
            consensus,
            max_block_txs: chain.max_block_txs as u32,
            block_interval_ms: chain.block_interval_ms as u64,
            ..ChainParams::default()
        },
        nodes: identities,
    };
    genesis.validate().map_err(|e| ApiError::bad_request("bad_genesis", e.to_string()))?;
    let genesis_json = serde_json::to_vec_pretty(&genesis).map_err(ApiError::internal)?;
    for (i, (node, (node_key, cert_chain, validator_key))) in planned.iter().zip(keys).enumerate() {
        let file = NodeFile {
            name: node.name.clone(),
            data_dir: "data".into(),
            genesis: "genesis.json".into(),
            validator_key: validator_key.as_ref().map(|_| "validator.pem".into()),
            http: node.http,
            p2p: P2pFile {
                listen: node.p2p,
                peers: planned
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| p.p2p.to_string())
                    .collect(),
                ca: "ca.crt".into(),
                cert: "node.crt".into(),
                key: "node.key".into(),
            },
            mempool_max_txs: consortia_node::mempool::MempoolConfig::default().max_txs,
        };
        let mut files = vec![
            (
                "node.toml".to_owned(),
                toml::to_string_pretty(&file).map_err(ApiError::internal)?.into_bytes(),
            ),
            ("genesis.json".to_owned(), genesis_json.clone()),
            ("ca.crt".to_owned(), consortium.1.clone().into_bytes()),
            ("node.crt".to_owned(), cert_chain.into_bytes()),
            ("node.key".to_owned(), node_key.to_pkcs8_pem().into_bytes()),
        ];
        if let Some(k) = validator_key {
            files.push(("validator.pem".to_owned(), k.to_pkcs8_pem().into_bytes()));
        }
        let spec = NodeSpec {
            name: spec_name(&chain.id, &node.name),
            args: vec!["node".into(), "--config".into(), "node.toml".into()],
            // As `consortia up` does: fewer malloc arenas, less resident memory.
            env: vec![("MALLOC_ARENA_MAX".into(), "2".into())],
            files,
        };
        let driver = platform.driver(&node.host_id)?;
        driver.create(spec).await.map_err(|e| start_failed(format!("node {}: {e}", node.name)))?;
    }
    let total = planned.len();
    for (i, node) in planned.iter().enumerate() {
        platform.progress(&chain.id, "starting_nodes", i, total);
        let driver = platform.driver(&node.host_id)?;
        driver
            .start(&spec_name(&chain.id, &node.name))
            .await
            .map_err(|e| start_failed(format!("node {}: {e}", node.name)))?;
    }
    wait_for_first_block(platform, chain, &planned).await?;
    // Only now: the ports picked for a start that failed are picked afresh by the next.
    for node in &planned {
        sqlx::query("UPDATE chain_nodes SET http_port = $1, p2p_port = $2 WHERE id = $3")
            .bind(i64::from(node.http.port()))
            .bind(i64::from(node.p2p.port()))
            .bind(&node.row_id)
            .execute(&platform.db)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Polls every node's status until each has committed block 1.
async fn wait_for_first_block(
    platform: &Platform,
    chain: &ChainView,
    planned: &[Planned],
) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + FIRST_BLOCK_TIMEOUT;
    let mut waiting: Vec<&Planned> = planned.iter().collect();
    while !waiting.is_empty() {
        platform.progress(&chain.id, "first_block", planned.len() - waiting.len(), planned.len());
        let mut still = vec![];
        for node in waiting {
            let url = format!("http://{}", node.http);
            let height = crate::nodes::poll(platform, &url).await.map(|s| s.height);
            if height.unwrap_or(0) < 1 {
                still.push(node);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let node = waiting[0];
            let driver = platform.driver(&node.host_id)?;
            let log = driver.logs(&spec_name(&chain.id, &node.name), 8).await.unwrap_or_default();
            return Err(start_failed(format!(
                "{} node(s) had not committed block 1 after {} s; node {} logs: {}",
                waiting.len(),
                FIRST_BLOCK_TIMEOUT.as_secs(),
                node.name,
                log.join(" | ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
