//! A Consortia node: mempool, consensus driver, executor and storage assembled.
//!
//! [`Node::open`] opens (or creates from genesis) the node's store; [`Node::run`]
//! ([`runtime`]) drives the consensus engine (solo, BFT or Raft) until shutdown. The
//! [`driver::Driver`] feeds the engine inputs, builds and executes the blocks it asks for and
//! re-executes the blocks peers propose (its `pipeline`), keeps the consensus WAL, talks to
//! peers, catches up by block sync and commits the blocks decided; it is generic over its
//! [`world`] (transport, clock, WAL, tasks), so the same code runs over mutual TLS and the disk
//! in production and over simulated links in `tests/sim`. [`Node`] is what the APIs hold:
//! [`Node::submit`] is the way in for transactions (the HTTP API in `consortia-rpc` calls it;
//! they are gossiped to the other nodes), [`Node::store`] the read-only chain.
//!
//! The node knows nothing of HTTP; the binary serves `consortia-rpc`'s router over a [`Node`].

pub use consortia_types::config;
mod block_sync;
mod compact;
pub mod driver;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod history;
pub mod ledger;
pub mod mempool;
pub mod metrics;
pub mod p2p;
mod pipeline;
pub mod runtime;
pub mod state_sync;
pub mod wal;
pub mod world;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_execution::{Account, ExecutionError, Executor, FeeRules, read_account};
use consortia_network::{NetError, NetworkConfig};
use consortia_storage::{
    BlockReader, BlockWriter, ChainReader, ChainStore, PendingState, StorageError,
};
use consortia_types::{Block, ConsensusKind, Genesis, Header, Height};
use tokio::sync::{broadcast, watch};

use crate::mempool::{AdmitError, Admitted, Mempool, MempoolConfig};
use crate::pipeline::Built;
use crate::world::Transport;

pub use consortia_network as network;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error("a solo chain needs the key of its one validator (this node's key is not it)")]
    NotValidator,
    #[error("a blocking task failed: {0}")]
    Task(String),
    #[error("consensus WAL: {0}")]
    Wal(String),
    #[error(transparent)]
    Network(#[from] NetError),
    #[error(
        "a BFT or Raft node needs a network configuration (listen address, peers, TLS identity)"
    )]
    NoNetwork,
    #[error(
        "block {height} carries a valid certificate but this node computes different results ({reason}): its state diverged from the chain; stop it and resync it from an empty data directory"
    )]
    Diverged { height: Height, reason: String },
}

/// How to run a node.
#[derive(Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: Genesis,
    /// The consensus key. `None` runs a BFT observer: a full node that follows the chain
    /// without voting.
    pub validator_key: Option<PrivateKey>,
    pub mempool: MempoolConfig,
    /// How much block history to keep, and where.
    pub history: config::HistoryFile,
    /// Peers and TLS identity; required for BFT, unused by solo.
    pub network: Option<NetworkConfig>,
}

/// A running node's shared state: the handle the APIs hold (submit, the pool, the committed
/// height, the store's readers) and the driver shares. The block pipeline is the driver's.
pub struct Node {
    store: Arc<ChainStore>,
    mempool: Arc<Mempool>,
    genesis: Genesis,
    genesis_hash: Hash,
    executor: Executor,
    key: Option<PrivateKey>,
    data_dir: PathBuf,
    network: Option<NetworkConfig>,
    /// The running network, once the driver started: admitted transactions go out on it.
    gossip: OnceLock<Arc<dyn Transport>>,
    /// The running network, to renew the certificate it presents.
    live_network: OnceLock<consortia_network::Network>,
    /// The last decided block while its commit may still be under way: admission reads nonces
    /// through it, so a sender's next nonce counts blocks decided but not yet on disk.
    decided: parking_lot::Mutex<Option<Arc<Built>>>,
    /// Set when transactions arrive and until the driver hears of it ([`Node::take_arrivals`]).
    arrived: AtomicBool,
    /// Set once the node is about to stop: clients' transactions are refused ([`Node::drain`]).
    draining: AtomicBool,
    /// Tells the driver that transactions arrived (set by whoever runs it).
    arrivals_waker: OnceLock<Box<dyn Fn() + Send + Sync>>,
    committed: watch::Sender<Height>,
    /// The history policy in force (see `history.rs`), and its changes.
    history: parking_lot::Mutex<config::HistoryFile>,
    history_changed: tokio::sync::Notify,
    /// See [`Node::state_sync_after`].
    state_sync_after: parking_lot::Mutex<Option<Height>>,
    /// The hashes of newly admitted transactions, one message per admitted batch.
    admitted: broadcast::Sender<Arc<[Hash]>>,
    /// The SQL projection of the ledger tables (nodes with a data directory).
    ledger: Option<ledger::Ledger>,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("chain_id", &self.genesis.chain_id)
            .field("committed", &*self.committed.borrow())
            .finish_non_exhaustive()
    }
}

/// Admission reads through the block decided at that moment (taken per read, as
/// [`mempool::AdmissionState`] requires).
impl mempool::AdmissionState for Node {
    fn account(&self, sender: &consortia_crypto::Address) -> Result<Account, String> {
        let decided = self.decided.lock().clone();
        let pending = decided.as_ref().map(|b| &b.state);
        read_account(&PendingState::new(&self.store, pending), sender).map_err(|e| e.to_string())
    }

    fn block_gas_limit(&self) -> Result<u64, String> {
        let decided = self.decided.lock().clone();
        let pending = decided.as_ref().map(|b| &b.state);
        let state = PendingState::new(&self.store, pending);
        Ok(self.executor.params(&state).map_err(|e| e.to_string())?.block_gas_limit)
    }
}

pub use mempool::DroppedBatch;

/// How far behind its peers a fresh node must be to start by state sync, unless set otherwise
/// ([`Node::set_state_sync_after`]): replaying fewer blocks is about as quick.
pub const STATE_SYNC_AFTER: Height = 1_000;

/// Batches of admitted transaction hashes kept for slow [`Node::admitted`] receivers.
pub const ADMITTED_BACKLOG: usize = 1024;

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    /// Opens the store in `data_dir` (creating it, with block 0, on first start).
    pub fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        let NodeConfig { data_dir, genesis, validator_key, mempool, network, history } = config;
        check_key(&genesis, validator_key.as_ref())?;
        if genesis.params.consensus != ConsensusKind::Solo && network.is_none() {
            return Err(NodeError::NoNetwork);
        }
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| StorageError::Database(format!("{}: {e}", data_dir.display())))?;
        let (store, fresh) = ChainStore::open(&data_dir.join("chain.redb"), &genesis)?;
        if fresh {
            initialize(&store, &genesis)?;
        }
        let ledger =
            ledger::Ledger::open(&data_dir.join("ledger.sqlite"), &store, &Executor::new(&genesis));
        let mut node = Node::assemble(Arc::new(store), genesis, validator_key, mempool)?;
        node.ledger = Some(ledger);
        if let Some(network) = &network {
            node.metrics.certificate_expires("p2p", &network.tls.cert_pem);
            node.metrics.certificate_expires("ca", &network.tls.ca_pem);
        }
        node.data_dir = data_dir;
        node.network = network;
        node.history = parking_lot::Mutex::new(history);
        Ok(Arc::new(node))
    }

    /// A node over a store already created (see [`Node::memory_store`]), without a data
    /// directory or network configuration of its own: whoever runs its driver supplies the
    /// world (the node-level simulator does). Opening it again over the same store is a restart.
    pub fn with_store(
        store: Arc<ChainStore>,
        genesis: Genesis,
        validator_key: Option<PrivateKey>,
        mempool: MempoolConfig,
    ) -> Result<Arc<Node>, NodeError> {
        check_key(&genesis, validator_key.as_ref())?;
        Ok(Arc::new(Node::assemble(store, genesis, validator_key, mempool)?))
    }

    /// A store in memory holding block 0 of `genesis`.
    pub fn memory_store(genesis: &Genesis) -> Result<Arc<ChainStore>, NodeError> {
        genesis.validate().map_err(|e| NodeError::Genesis(e.to_string()))?;
        let store = ChainStore::in_memory(genesis)?;
        initialize(&store, genesis)?;
        Ok(Arc::new(store))
    }

    fn assemble(
        store: Arc<ChainStore>,
        genesis: Genesis,
        key: Option<PrivateKey>,
        mempool: MempoolConfig,
    ) -> Result<Node, NodeError> {
        let height = store.latest_height()?;
        let pool = Mempool::new(
            genesis.chain_id,
            genesis.suite.hash(),
            genesis.params.max_tx_bytes as usize,
            FeeRules::new(&genesis.params),
            mempool,
        );
        Ok(Node {
            metrics: metrics::Metrics::new(&genesis, key.is_some()),
            store,
            mempool: Arc::new(pool),
            genesis_hash: genesis.hash(),
            executor: Executor::new(&genesis),
            genesis,
            key,
            data_dir: PathBuf::new(),
            network: None,
            gossip: OnceLock::new(),
            live_network: OnceLock::new(),
            decided: parking_lot::Mutex::new(None),
            arrived: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            arrivals_waker: OnceLock::new(),
            committed: watch::Sender::new(height),
            history: Default::default(),
            history_changed: tokio::sync::Notify::new(),
            state_sync_after: parking_lot::Mutex::new(Some(STATE_SYNC_AFTER)),
            admitted: broadcast::Sender::new(ADMITTED_BACKLOG),
            ledger: None,
        })
    }

    /// Presents `cert_pem` (a renewed certificate for this node's key, with its chain) to
    /// peers from the next connection on, and exports its expiry. Fails before the network
    /// runs, or for a certificate of another key.
    pub fn renew_certificate(&self, cert_pem: &str) -> Result<(), NodeError> {
        let network = self.live_network.get().ok_or(NodeError::NoNetwork)?;
        network.set_certificate(cert_pem)?;
        self.metrics.certificate_expires("p2p", cert_pem);
        Ok(())
    }

    /// The committed chain, read-only: blocks, transactions, indexes, state now and at any
    /// past block, proofs. Writes are the driver's.
    pub fn store(&self) -> &dyn ChainReader {
        &*self.store
    }

    /// The SQL projection of the ledger tables, if this node keeps one.
    pub fn ledger(&self) -> Option<&ledger::Ledger> {
        self.ledger.as_ref()
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The height of the last block durably committed (in memory: no store read).
    pub fn committed_height(&self) -> Height {
        *self.committed.borrow()
    }

    /// This node's validator address (the `miner` of the blocks it proposes), if it has a key.
    pub fn address(&self) -> Option<consortia_crypto::Address> {
        self.key.as_ref().map(|k| k.public_key().address())
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.genesis.suite.hash()
    }

    /// Certified headers from `from` (at most `max`, within 4 MiB), as state sync serves them.
    pub fn certified_headers(
        &self,
        from: Height,
        max: u32,
    ) -> Vec<consortia_types::CertifiedHeader> {
        state_sync::serve_headers(&self.store, self.hash_algorithm(), from, max, 4 << 20)
    }

    /// Follows the height of the last committed block.
    pub fn committed(&self) -> watch::Receiver<Height> {
        self.committed.subscribe()
    }

    /// Follows newly admitted transactions (from clients and from peers), by hash. A receiver
    /// that falls more than [`ADMITTED_BACKLOG`] batches behind skips ahead.
    pub fn admitted(&self) -> broadcast::Receiver<Arc<[Hash]>> {
        self.admitted.subscribe()
    }

    /// Whether a transaction waits in the pool or in a block decided but not yet on disk.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        if self.mempool.contains(hash) {
            return true;
        }
        let decided = self.decided.lock();
        decided.as_ref().is_some_and(|b| {
            b.block.header.height > *self.committed.borrow() && b.tx_hashes.contains(hash)
        })
    }

    /// The peers this node is connected to.
    pub fn peer_count(&self) -> usize {
        self.gossip.get().map_or(0, |n| n.peer_count())
    }

    /// Refuses transactions from clients from now on ([`AdmitError::Draining`], so they go to
    /// another node), before the node stops: what its pool holds can still commit meanwhile.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// How many transactions wait in the pool.
    pub fn pending(&self) -> usize {
        self.mempool.len()
    }

    /// Whether transactions arrived since the driver last asked (and forgets that they did).
    pub fn take_arrivals(&self) -> bool {
        self.arrived.swap(false, Ordering::AcqRel)
    }

    /// Sets what tells the driver that transactions arrived (once; later calls are ignored).
    pub fn set_arrivals_waker(&self, waker: Box<dyn Fn() + Send + Sync>) {
        let _ = self.arrivals_waker.set(waker);
    }

    /// Admits encoded transactions (signature checks run on the blocking pool) and gossips the
    /// new ones to the other nodes.
    pub async fn submit(self: &Arc<Self>, raws: Vec<Vec<u8>>) -> Vec<Result<Admitted, AdmitError>> {
        let node = Arc::clone(self);
        tokio::task::spawn_blocking(move || node.submit_blocking(raws))
            .await
            .unwrap_or_else(|e| vec![Err(AdmitError::State(e.to_string()))])
    }

    /// [`Node::submit`] on the calling thread, for callers already on the blocking pool (which
    /// must not wait there for another blocking task: the pool is small, see `consortia`'s
    /// runtime, and a pool full of waiters deadlocks).
    pub fn submit_blocking(&self, raws: Vec<Vec<u8>>) -> Vec<Result<Admitted, AdmitError>> {
        if self.draining.load(Ordering::Acquire) {
            return raws.iter().map(|_| Err(AdmitError::Draining)).collect();
        }
        let results = self.admit_blocking(&raws);
        if let Some(network) = self.gossip.get() {
            let fresh: Vec<Vec<u8>> = raws
                .into_iter()
                .zip(&results)
                .filter(|(_, r)| r.as_ref().is_ok_and(|a| !a.already_known))
                .map(|(raw, _)| raw)
                .collect();
            if !fresh.is_empty() {
                network.broadcast(p2p::Wire::Txs(fresh).encode());
            }
        }
        results
    }

    /// Admits transactions without gossiping them (they came from a peer).
    pub(crate) fn admit_blocking(&self, raws: &[Vec<u8>]) -> Vec<Result<Admitted, AdmitError>> {
        let results = self.mempool.admit_batch(self, raws);
        self.metrics.admissions(&results);
        if results.iter().any(Result::is_ok) {
            if !self.arrived.swap(true, Ordering::AcqRel)
                && let Some(wake) = self.arrivals_waker.get()
            {
                wake();
            }
            if self.admitted.receiver_count() > 0 {
                let fresh: Arc<[Hash]> = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok().filter(|a| !a.already_known).map(|a| a.hash))
                    .collect();
                if !fresh.is_empty() {
                    // No receiver left between the check and the send is harmless.
                    let _ = self.admitted.send(fresh);
                }
            }
        }
        results
    }
}

/// A solo chain needs the key of its one validator; a BFT or Raft node runs with any key or
/// none: a key the validator set does not hold yet observes until governance adds it.
fn check_key(genesis: &Genesis, key: Option<&PrivateKey>) -> Result<(), NodeError> {
    genesis.validate().map_err(|e| NodeError::Genesis(e.to_string()))?;
    let is_validator = |key: &PrivateKey| {
        let public = key.public_key();
        genesis.validators.iter().any(|v| v.public_key == public)
    };
    match (genesis.params.consensus, key) {
        (ConsensusKind::Solo, Some(key)) if is_validator(key) => Ok(()),
        (ConsensusKind::Solo, _) => Err(NodeError::NotValidator),
        (ConsensusKind::Bft | ConsensusKind::Raft, _) => Ok(()),
    }
}

/// Writes block 0 with the genesis state into a fresh store.
fn initialize(store: &ChainStore, genesis: &Genesis) -> Result<(), NodeError> {
    let executor = Executor::new(genesis);
    let prepared = store.prepare_state(0, Executor::genesis_state(genesis), None)?;
    let header = Header {
        chain_id: genesis.chain_id,
        height: 0,
        parent_hash: Hash::ZERO,
        time_ms: genesis.time_ms,
        proposer: Default::default(),
        tx_count: 0,
        tx_root: executor.tx_root(&[]),
        state_root: prepared.root(),
        receipts_root: executor.receipts_root(&[]),
        next_validators_hash: consortia_types::validators_hash(
            genesis.suite.hash(),
            &genesis.validators,
        ),
    };
    store.initialize(&Block { header, transactions: vec![], certificate: None }, &prepared)?;
    tracing::info!(target: "node", chain_id = genesis.chain_id, "created chain from genesis");
    Ok(())
}
