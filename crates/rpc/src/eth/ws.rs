//! Ethereum JSON-RPC over WebSocket at `GET /ws`: every method of the HTTP endpoint, plus
//! `eth_subscribe` / `eth_unsubscribe` for `newHeads`, `logs` and `newPendingTransactions`,
//! with notifications as geth sends them (`eth_subscription` with `{subscription, result}`),
//! and ours, `droppedTransactions` (`{hash, reason}` for a transaction the pool admitted and
//! then dropped without a block), so a dapp waiting on a transaction learns it at once.
//!
//! One task serves a connection: it answers requests in order and, between them, turns
//! committed blocks and admitted transactions into notifications. A client that stops reading
//! for [`SEND_TIMEOUT`] is disconnected; a subscriber more than [`MAX_CATCH_UP`] blocks behind
//! skips ahead (as a client reconnecting would).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use consortia_crypto::Hash;
use consortia_node::Node;
use consortia_types::Height;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::QueryPool;
use crate::access::Permit;

use super::{Eth, EthState, LogFilter, RpcError, RpcResult, answer, hash, log_json, matches};

/// Most subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Most blocks of notifications sent to catch up after a stall.
pub const MAX_CATCH_UP: u64 = 1_000;
/// How long a notification or answer may wait for the client to read.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection limits of `/ws`, shared by every connection of a node.
#[derive(Debug, Clone)]
pub(crate) struct WsLimits {
    pub slots: Arc<Semaphore>,
    pub max_message: usize,
}

/// The subscriptions of one connection.
#[derive(Debug, Default)]
pub(crate) struct Session {
    inner: Mutex<Subscriptions>,
}

#[derive(Debug, Default)]
struct Subscriptions {
    next_id: u64,
    live: HashMap<String, Kind>,
}

#[derive(Debug, Clone)]
enum Kind {
    NewHeads,
    Logs(LogFilter),
    PendingTransactions,
    DroppedTransactions,
}

impl Session {
    fn wants(&self, kind: fn(&Kind) -> bool) -> bool {
        self.inner.lock().live.values().any(kind)
    }

    fn snapshot(&self) -> Vec<(String, Kind)> {
        self.inner.lock().live.iter().map(|(id, k)| (id.clone(), k.clone())).collect()
    }
}

impl Eth<'_> {
    /// `eth_subscribe`: the kind and, for `logs`, a filter (`address`, `topics`).
    pub(super) fn subscribe(&self, session: &Session) -> RpcResult {
        let kind = match self.param(0, "subscription kind")?.as_str() {
            Some("newHeads") => Kind::NewHeads,
            Some("logs") => {
                let filter = match self.opt(1) {
                    Some(f) => self.log_filter(f)?,
                    None => LogFilter::default(),
                };
                Kind::Logs(filter)
            }
            Some("newPendingTransactions") => {
                if self.opt(1).and_then(Value::as_bool) == Some(true) {
                    return Err(RpcError::params(
                        "full pending transactions are not supported; subscribe to hashes and fetch with eth_getTransactionByHash",
                    ));
                }
                Kind::PendingTransactions
            }
            Some("droppedTransactions") => Kind::DroppedTransactions,
            Some(other) => {
                return Err(RpcError::params(format!(
                    "unknown subscription `{other}`; use newHeads, logs, newPendingTransactions or droppedTransactions"
                )));
            }
            None => return Err(RpcError::params("the subscription kind must be a string")),
        };
        let mut subs = session.inner.lock();
        if subs.live.len() >= MAX_SUBSCRIPTIONS {
            return Err(RpcError::server(format!(
                "too many subscriptions on this connection ({MAX_SUBSCRIPTIONS}); unsubscribe some"
            )));
        }
        subs.next_id += 1;
        let id = format!("{:#034x}", subs.next_id);
        subs.live.insert(id.clone(), kind);
        Ok(json!(id))
    }

    /// `eth_unsubscribe`: whether the subscription existed.
    pub(super) fn unsubscribe(&self, session: &Session) -> RpcResult {
        let id = self
            .param(0, "subscription id")?
            .as_str()
            .ok_or_else(|| RpcError::params("the subscription id must be a string"))?;
        Ok(json!(session.inner.lock().live.remove(id).is_some()))
    }

    /// The notifications of block `height` for these subscriptions.
    fn block_notifications(&self, height: Height, subs: &[(String, Kind)]) -> Vec<Value> {
        let mut out = vec![];
        let mut head = None;
        for (id, kind) in subs {
            match kind {
                Kind::NewHeads => {
                    if head.is_none() {
                        head = self.head_object(height).ok();
                    }
                    if let Some(h) = &head {
                        out.push(notification(id, h.clone()));
                    }
                }
                Kind::Logs(filter) => {
                    let sent = self.each_log(height, height, |e, place, index| {
                        if matches(filter, e) {
                            out.push(notification(id, log_json(e, &place, index)));
                        }
                    });
                    if let Err(e) = sent {
                        tracing::warn!(target: "rpc::ws", height, error = %e.error.message, "logs of a committed block unreadable");
                    }
                }
                Kind::PendingTransactions | Kind::DroppedTransactions => {}
            }
        }
        out
    }
}

fn notification(subscription: &str, result: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "eth_subscription",
        "params": {"subscription": subscription, "result": result},
    })
}

/// Ethereum JSON-RPC over WebSocket: every HTTP method, plus `eth_subscribe` (`newHeads`,
/// `logs`, `newPendingTransactions`) and `eth_unsubscribe`
#[utoipa::path(get, path = "/ws", tag = "ethereum",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 503, description = "Too many connections: retry after the Retry-After header", body = consortia_api::ErrorBody),
    ))]
pub(crate) async fn upgrade(
    State(node): State<Arc<Node>>,
    Extension(shared): Extension<Arc<EthState>>,
    Extension(pool): Extension<QueryPool>,
    Extension(limits): Extension<WsLimits>,
    Extension(permit): Extension<Permit>,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(slot) = limits.slots.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections to this node; retry later or use another node",
        )
            .into_response();
    };
    ws.max_message_size(limits.max_message)
        .on_upgrade(move |socket| serve(socket, node, shared, pool, permit, slot))
}

async fn serve(
    mut socket: WebSocket,
    node: Arc<Node>,
    shared: Arc<EthState>,
    pool: QueryPool,
    permit: Permit,
    _slot: OwnedSemaphorePermit,
) {
    let session = Arc::new(Session::default());
    let mut committed = node.committed();
    let mut seen = *committed.borrow_and_update();
    // Subscribed only while some subscription wants pending (or dropped) transactions.
    let mut admitted: Option<broadcast::Receiver<Arc<[Hash]>>> = None;
    let mut dropped: Option<broadcast::Receiver<consortia_node::DroppedBatch>> = None;
    loop {
        let out: Vec<Value> = tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    answer(&node, &shared, &pool, Some(&session), permit, text.as_bytes()).await.into_iter().collect()
                }
                Some(Ok(Message::Binary(bytes))) => {
                    answer(&node, &shared, &pool, Some(&session), permit, &bytes).await.into_iter().collect()
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            changed = committed.changed() => {
                if changed.is_err() {
                    break;
                }
                let latest = *committed.borrow_and_update();
                let from = (seen + 1).max(latest.saturating_sub(MAX_CATCH_UP - 1));
                seen = latest;
                let subs = session.snapshot();
                if subs.iter().all(|(_, k)| {
                    matches!(k, Kind::PendingTransactions | Kind::DroppedTransactions)
                }) {
                    continue;
                }
                let (node, shared) = (node.clone(), shared.clone());
                pool.run(move || {
                    let sends = HashMap::new();
                    let eth = Eth {
                        node: &node,
                        shared: &shared,
                        params: &[],
                        session: None,
                        sends: &sends,
                        inline: false,
                    };
                    (from..=latest).flat_map(|h| eth.block_notifications(h, &subs)).collect()
                })
                .await
                .unwrap_or_default()
            },
            batch = next_message(&mut admitted) => match batch {
                Ok(hashes) => session
                    .snapshot()
                    .iter()
                    .filter(|(_, k)| matches!(k, Kind::PendingTransactions))
                    .flat_map(|(id, _)| hashes.iter().map(|h| notification(id, hash(h))))
                    .collect(),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(target: "rpc::ws", skipped, "pending-transaction subscriber lagged");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            gone = next_message(&mut dropped) => match gone {
                Ok(gone) => session
                    .snapshot()
                    .iter()
                    .filter(|(_, k)| matches!(k, Kind::DroppedTransactions))
                    .flat_map(|(id, _)| {
                        gone.iter().map(|(h, why)| {
                            notification(id, json!({"hash": hash(h), "reason": why.as_ref()}))
                        })
                    })
                    .collect(),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(target: "rpc::ws", skipped, "dropped-transaction subscriber lagged");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        match (session.wants(|k| matches!(k, Kind::PendingTransactions)), admitted.is_some()) {
            (true, false) => admitted = Some(node.admitted()),
            (false, true) => admitted = None,
            _ => {}
        }
        match (session.wants(|k| matches!(k, Kind::DroppedTransactions)), dropped.is_some()) {
            (true, false) => dropped = Some(node.mempool().subscribe_dropped()),
            (false, true) => dropped = None,
            _ => {}
        }
        for v in out {
            let send = socket.send(Message::Text(v.to_string().into()));
            if !matches!(tokio::time::timeout(SEND_TIMEOUT, send).await, Ok(Ok(()))) {
                tracing::debug!(target: "rpc::ws", "client not reading; closing the connection");
                return;
            }
        }
    }
}

/// The next message of a broadcast, or never when nothing is subscribed.
async fn next_message<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
