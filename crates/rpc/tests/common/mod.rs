//! An in-process node for the rpc tests: a solo chain on an in-memory store, its driver
//! running, and the node API's router called without a socket.

#![allow(dead_code)] // each test file uses part of the harness

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use consortia_crypto::{Address, Hash, PrivateKey, Scheme};
use consortia_node::Node;
use consortia_node::mempool::MempoolConfig;
use consortia_types::{Height, Transaction, encode};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;

pub(crate) const CHAIN_ID: u64 = 77;

pub(crate) struct TestNode {
    pub(crate) node: Arc<Node>,
    /// The node's store, to change its history as an operator's policy would.
    pub(crate) store: Arc<consortia_storage::ChainStore>,
    router: Router,
    /// A funded account's key.
    pub(crate) user: PrivateKey,
    nonce: u64,
    _stop: watch::Sender<bool>,
}

impl TestNode {
    /// A solo node with one funded account, its driver running, open to all.
    pub(crate) async fn start() -> TestNode {
        TestNode::start_with(consortia_rpc::AccessPolicy::open(), String::new()).await
    }

    /// The same node serving the callers `policy` lets in, its member organization `org-a`
    /// holding the CA certificate `member_ca` (PEM; may be empty).
    pub(crate) async fn start_with(
        policy: consortia_rpc::AccessPolicy,
        member_ca: String,
    ) -> TestNode {
        let user = PrivateKey::generate(Scheme::Secp256k1);
        let funded = [(user.public_key().address(), 10u128.pow(24))];
        let (mut genesis, key) = consortia_test_utils::genesis::solo(CHAIN_ID, &funded);
        // The funded account administers the chain's one member organization.
        genesis.members = vec![consortia_types::GenesisMember {
            id: "org-a".into(),
            admins: vec![user.public_key().address()],
            ca_cert: member_ca,
            nodes: vec!["validator-0".into()],
        }];
        let store = Node::memory_store(&genesis).expect("a store in memory");
        let node = Node::with_store(store.clone(), genesis, Some(key), MempoolConfig::default())
            .expect("a node over it");
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(node.clone().run(shutdown));
        let router = consortia_rpc::router(node.clone(), policy);
        TestNode { node, store, router, user, nonce: 0, _stop: stop }
    }

    pub(crate) fn address(&self) -> Address {
        self.user.public_key().address()
    }

    /// The next notarization from the funded account.
    pub(crate) fn notarization(&mut self, id: &str, content: &[u8]) -> Transaction {
        let tx = consortia_test_utils::tx::notarize(&self.user, CHAIN_ID, self.nonce, id, content);
        self.nonce += 1;
        tx
    }

    /// The next EVM call from the funded account.
    pub(crate) fn evm_call(&mut self, to: Address, input: Vec<u8>) -> Transaction {
        let call = consortia_test_utils::tx::evm_call(Some(to), 0, input);
        let tx = consortia_test_utils::tx::native(&self.user, CHAIN_ID, self.nonce, call);
        self.nonce += 1;
        tx
    }

    /// Submits transactions straight to the node and waits until they are all committed;
    /// returns the height then.
    pub(crate) async fn commit(&self, txs: &[Transaction]) -> Height {
        let raws = txs.iter().map(encode).collect();
        for result in self.node.submit(raws).await {
            result.expect("admitted");
        }
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash(self.node.hash_algorithm())).collect();
        let mut committed = self.node.committed();
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let done = hashes
                    .iter()
                    .all(|h| self.node.store().transaction(h).expect("a store read").is_some());
                if done {
                    return *committed.borrow();
                }
                committed.changed().await.expect("the node runs");
            }
        })
        .await
        .expect("committed within 30 s")
    }

    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("a request")).await
    }

    /// The router, to send a request from another task.
    pub(crate) fn clone_router(&self) -> Router {
        self.router.clone()
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(body)).await
    }

    /// A JSON-RPC call's whole response object.
    pub(crate) async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, value) = self.post("/rpc", body).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        value
    }

    /// A JSON-RPC call's result (panics on an error).
    pub(crate) async fn result(&self, method: &str, params: Value) -> Value {
        let response = self.rpc(method, params).await;
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// A JSON-RPC call's error code (panics on a result).
    pub(crate) async fn error_code(&self, method: &str, params: Value) -> i64 {
        let response = self.rpc(method, params).await;
        response["error"]["code"].as_i64().unwrap_or_else(|| panic!("{method}: {response}"))
    }
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
