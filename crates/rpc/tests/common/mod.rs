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
    /// The node's store, to change its history as an operator's policy would (nodes in
    /// memory only).
    pub(crate) store: Option<Arc<consortia_storage::ChainStore>>,
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
        let chain = Chain::new(member_ca);
        let store = Node::memory_store(&chain.genesis).expect("a store in memory");
        let node = Node::with_store(
            store.clone(),
            chain.genesis,
            Some(chain.validator),
            MempoolConfig::default(),
        )
        .expect("a node over it");
        TestNode::serve(node, Some(store), policy, chain.user)
    }

    /// A node of `chain` with its data directory in `dir` (so with its SQL projection), open
    /// to all. Starting it again on the same directory is a restart.
    pub(crate) async fn start_in(dir: &std::path::Path, chain: &Chain) -> TestNode {
        let config = consortia_node::NodeConfig {
            data_dir: dir.to_owned(),
            genesis: chain.genesis.clone(),
            validator_key: Some(chain.validator.clone()),
            mempool: MempoolConfig::default(),
            history: Default::default(),
            network: None,
        };
        let node = Node::open(config).expect("a node on disk");
        let mut t =
            TestNode::serve(node, None, consortia_rpc::AccessPolicy::open(), chain.user.clone());
        t.nonce = {
            let state = t.node.store().state_at(u64::MAX).expect("the latest state");
            consortia_execution::read_account(&*state, &t.address()).expect("an account").nonce
        };
        t
    }

    fn serve(
        node: Arc<Node>,
        store: Option<Arc<consortia_storage::ChainStore>>,
        policy: consortia_rpc::AccessPolicy,
        user: PrivateKey,
    ) -> TestNode {
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(node.clone().run(shutdown));
        let router = consortia_rpc::router(node.clone(), policy);
        TestNode { node, store, router, user, nonce: 0, _stop: stop }
    }

    /// Stops the node and waits until nothing holds it (its store and files are closed).
    pub(crate) async fn stop(self) {
        let node = Arc::downgrade(&self.node);
        let _ = self._stop.send(true);
        drop(self);
        tokio::time::timeout(Duration::from_secs(30), async {
            while node.strong_count() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the node stops within 30 s");
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

/// A solo chain with one funded account whose owner administers its one member organization
/// `org-a`.
#[derive(Clone)]
pub(crate) struct Chain {
    pub(crate) genesis: consortia_types::Genesis,
    pub(crate) validator: PrivateKey,
    /// The funded account's key.
    pub(crate) user: PrivateKey,
}

impl Chain {
    /// A new chain whose member holds the CA certificate `member_ca` (PEM; may be empty).
    pub(crate) fn new(member_ca: String) -> Chain {
        let user = PrivateKey::generate(Scheme::Secp256k1);
        let funded = [(user.public_key().address(), 10u128.pow(24))];
        let (mut genesis, validator) = consortia_test_utils::genesis::solo(CHAIN_ID, &funded);
        genesis.members = vec![consortia_types::GenesisMember {
            id: "org-a".into(),
            admins: vec![user.public_key().address()],
            ca_cert: member_ca,
            nodes: vec!["validator-0".into()],
        }];
        Chain { genesis, validator, user }
    }
}

pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
