//! Running a node with its HTTP API until Ctrl-C or SIGTERM: what `dev` and `node` share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use consortia_api::serving::{AllowedHosts, Limits};
use consortia_node::Node;
use tokio::sync::watch;

/// How a node's HTTP API is served.
pub(crate) struct Api<'a> {
    /// Web origins whose pages may call it.
    pub cors_origins: &'a [String],
    /// The `Host` names it answers for.
    pub allowed_hosts: &'a [String],
    /// Whom it lets in.
    pub policy: consortia_rpc::AccessPolicy,
    /// HTTPS, or plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves `node`'s API on `http` as `api` says, under the servers' limits, and drives its
/// consensus; `banner` gets the bound address once the port is open. Returns when a signal
/// stops the node, or with the driver's error.
pub(crate) async fn serve(
    node: Arc<Node>,
    http: SocketAddr,
    api: Api<'_>,
    banner: impl FnOnce(SocketAddr),
) -> Result<()> {
    let cors = consortia_rpc::cors::layer(api.cors_origins)
        .map_err(anyhow::Error::msg)
        .context("the node's CORS origins are invalid")?;
    let listener = tokio::net::TcpListener::bind(http).await.with_context(|| {
        format!("cannot listen on {http} (is another node running there? pick another address)")
    })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut driver = tokio::spawn(node.clone().run(stop_rx.clone()));
    let app = consortia_rpc::router(node.clone(), api.policy);
    let app = match cors {
        Some(layer) => app.layer(layer),
        None => app,
    };
    banner(listener.local_addr()?);
    let mut server_stop = stop_rx.clone();
    let limits =
        Limits { hosts: AllowedHosts::new(api.allowed_hosts), tls: api.tls, ..Limits::default() };
    let server = consortia_api::serving::serve(listener, app, limits, async move {
        let _ = server_stop.changed().await;
    });
    let server = tokio::spawn(server);
    tokio::select! {
        _ = shutdown_signal() => {}
        result = &mut driver => {
            let _ = stop_tx.send(true);
            result.context("consensus driver panicked")??;
            anyhow::bail!("the consensus driver stopped unexpectedly");
        }
    }
    drain(&node).await;
    tracing::info!(target: "cli::serve", "shutting down");
    let _ = stop_tx.send(true);
    driver.await.context("consensus driver panicked")??;
    server.await.context("HTTP server panicked")??;
    Ok(())
}

/// The most a stopping node waits for its pool to empty.
const DRAIN_WAIT: Duration = Duration::from_secs(3);

/// Before a node stops: refuses clients' transactions, and lets those in its pool commit (a
/// transaction a client handed this node just before, and whose gossip to the peers is still
/// on its way, would be lost otherwise), for at most [`DRAIN_WAIT`]: under load the pool
/// never empties, as peers gossip new transactions.
async fn drain(node: &Node) {
    node.drain();
    let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
    let pending = node.pending();
    if pending > 0 {
        tracing::info!(target: "cli::serve", pending, "draining: refusing new transactions while the pool commits");
    }
    while node.pending() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
