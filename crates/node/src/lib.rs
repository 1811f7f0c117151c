//! A Consortia node: mempool, consensus driver, executor and storage assembled.
//!
//! [`Node::open`] opens (or creates from genesis) the node's store; [`Node::run`] drives the
//! consensus engine (solo or BFT) until shutdown: it feeds the engine inputs, builds and
//! executes the blocks it asks for, re-executes the blocks peers propose, keeps the consensus
//! WAL, talks to peers over mutual TLS (`consortia-network`), catches up by block sync, and
//! commits the blocks decided. [`Node::submit`] is the way in for transactions (the HTTP API in
//! `consortia-rpc` calls it); they are gossiped to the other nodes.
//!
//! The node knows nothing of HTTP; the binary serves `consortia-rpc`'s router over a [`Node`].

pub use consortia_types::config;
mod driver;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod mempool;
pub mod metrics;
mod p2p;
mod wal;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_execution::{BlockContext, ExecutionError, Executor};
use consortia_network::{NetError, Network, NetworkConfig};
use consortia_storage::{
    BlockReader, BlockWriter, PendingState, PreparedState, RedbStore, StorageError,
};
use consortia_types::{Block, ConsensusKind, Genesis, Header, Height, Receipt};
use tokio::sync::{Notify, broadcast, watch};

use crate::mempool::{AdmitError, Admitted, Mempool, MempoolConfig, PoolTx};

pub use consortia_network as network;

/// How far ahead of this node's clock a proposed block's time may be.
const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error(
        "this node's key is not one of the genesis validators; a solo chain needs the key of its one validator, and a BFT observer runs without a validator key"
    )]
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
    /// Peers and TLS identity; required for BFT, unused by solo.
    pub network: Option<NetworkConfig>,
}

/// A running node's shared state.
#[derive(Debug)]
pub struct Node {
    store: Arc<RedbStore>,
    mempool: Arc<Mempool>,
    genesis: Genesis,
    genesis_hash: Hash,
    executor: Executor,
    key: Option<PrivateKey>,
    data_dir: PathBuf,
    network: Option<NetworkConfig>,
    /// The running network, once [`Node::run`] started it: admitted transactions go out on it.
    gossip: OnceLock<Network>,
    /// The last decided block while its commit may still be under way: admission reads nonces
    /// through it, so a sender's next nonce counts blocks decided but not yet on disk.
    decided: parking_lot::Mutex<Option<Arc<Built>>>,
    /// Wakes the driver when transactions arrive.
    arrivals: Notify,
    committed: watch::Sender<Height>,
    /// The hashes of newly admitted transactions, one message per admitted batch.
    admitted: broadcast::Sender<Arc<[Hash]>>,
    metrics: metrics::Metrics,
}

/// Admission reads a sender's next nonce through the block decided at that moment (taken per
/// read, as [`mempool::NonceSource`] requires).
impl mempool::NonceSource for Node {
    fn committed_nonce(&self, sender: &consortia_crypto::Address) -> Result<u64, String> {
        let decided = self.decided.lock().clone();
        let pending = decided.as_ref().map(|b| &b.state);
        PendingState { store: &self.store, pending }.committed_nonce(sender)
    }
}

/// Batches of admitted transaction hashes kept for slow [`Node::admitted`] receivers.
pub const ADMITTED_BACKLOG: usize = 1024;

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    /// Opens the store in `data_dir` (creating it, with block 0, on first start).
    pub fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        let genesis = config.genesis;
        genesis.validate().map_err(|e| NodeError::Genesis(e.to_string()))?;
        let is_validator =
            |key: &PrivateKey| genesis.validators.iter().any(|v| v.public_key == key.public_key());
        match (&genesis.params.consensus, &config.validator_key) {
            (ConsensusKind::Solo, Some(key)) if is_validator(key) => {}
            (ConsensusKind::Solo, _) => return Err(NodeError::NotValidator),
            (ConsensusKind::Bft | ConsensusKind::Raft, Some(key)) if !is_validator(key) => {
                return Err(NodeError::NotValidator);
            }
            (ConsensusKind::Bft | ConsensusKind::Raft, _) if config.network.is_none() => {
                return Err(NodeError::NoNetwork);
            }
            (ConsensusKind::Bft | ConsensusKind::Raft, _) => {}
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StorageError::Database(format!("{}: {e}", config.data_dir.display())))?;
        let (store, fresh) = RedbStore::open(&config.data_dir.join("chain.redb"), &genesis)?;
        let executor = Executor::new(&genesis);
        if fresh {
            let prepared = store.prepare_state(0, Executor::genesis_state(&genesis), None)?;
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
            };
            store.initialize(
                &Block { header, transactions: vec![], certificate: None },
                &prepared,
            )?;
            tracing::info!(target: "node", chain_id = genesis.chain_id, "created chain from genesis");
        }
        let height = store.latest_height()?;
        let mempool = Mempool::new(
            genesis.chain_id,
            genesis.suite.hash(),
            genesis.params.max_tx_bytes as usize,
            config.mempool,
        );
        let metrics = metrics::Metrics::new(&genesis, config.validator_key.is_some());
        Ok(Arc::new(Node {
            metrics,
            store: Arc::new(store),
            mempool: Arc::new(mempool),
            genesis_hash: genesis.hash(),
            genesis,
            executor,
            key: config.validator_key,
            data_dir: config.data_dir,
            network: config.network,
            gossip: OnceLock::new(),
            decided: parking_lot::Mutex::new(None),
            arrivals: Notify::new(),
            committed: watch::Sender::new(height),
            admitted: broadcast::Sender::new(ADMITTED_BACKLOG),
        }))
    }

    pub fn store(&self) -> &Arc<RedbStore> {
        &self.store
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

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.genesis.suite.hash()
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
        self.gossip.get().map_or(0, |n| n.peers().len())
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
    async fn admit(self: &Arc<Self>, raws: Vec<Vec<u8>>) -> Vec<Result<Admitted, AdmitError>> {
        let node = Arc::clone(self);
        tokio::task::spawn_blocking(move || node.admit_blocking(&raws))
            .await
            .unwrap_or_else(|e| vec![Err(AdmitError::State(e.to_string()))])
    }

    fn admit_blocking(&self, raws: &[Vec<u8>]) -> Vec<Result<Admitted, AdmitError>> {
        let results = self.mempool.admit_batch(self, raws);
        self.metrics.admissions(&results);
        if results.iter().any(Result::is_ok) {
            self.arrivals.notify_one();
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

    /// Drives consensus until `shutdown` fires. A storage failure stops the node (better to
    /// stop than to go on from a state that may not be on disk).
    ///
    /// Commits are pipelined: once a block is decided, its commit (the fsync) runs on a blocking
    /// thread while the next block is built (or validated) on top of it, reading through the
    /// decided block's prepared state. Commits stay in height order, and a transaction is
    /// visible through the API once its block is durable.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
        driver::Driver::run(self, shutdown).await
    }

    /// Takes ready transactions, executes them on top of `parent` and computes the roots.
    async fn build(self: Arc<Self>, height: Height, parent: Tip) -> Result<Built, NodeError> {
        tokio::task::spawn_blocking(move || self.build_blocking(height, &parent))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))?
    }

    fn build_blocking(&self, height: Height, parent: &Tip) -> Result<Built, NodeError> {
        let params = &self.genesis.params;
        let pending = parent.pending.as_ref().map(|b| &b.state);
        let state = PendingState { store: &self.store, pending };
        let started = std::time::Instant::now();
        let mut txs =
            self.mempool.take_for_block(params.max_block_txs as usize, params.max_block_bytes);
        loop {
            let transactions: Vec<_> = txs.iter().map(|p| (*p.tx).clone()).collect();
            let ctx = BlockContext {
                height,
                time_ms: now_ms().max(parent.time_ms),
                proposer: self.key.as_ref().map(|k| k.public_key().address()).unwrap_or_default(),
                parent_hash: parent.hash,
            };
            let outcome = match self.executor.execute_block(&state, ctx, &transactions) {
                Ok(outcome) => outcome,
                Err(ExecutionError::BlockFull { index }) => {
                    // The rest waits for the next block.
                    self.mempool.release(&txs.split_off(index));
                    continue;
                }
                Err(
                    e @ (ExecutionError::BadNonce { index, .. }
                    | ExecutionError::WrongChain { index, .. }
                    | ExecutionError::InvalidTx { index, .. }),
                ) => {
                    tracing::warn!(target: "node::build", tx = %txs[index].hash, error = %e, "evicting a transaction that cannot execute");
                    self.mempool.evict(&txs[index]);
                    // What follows it from the same sender went with it.
                    let gone = txs[index].sender;
                    txs = txs
                        .into_iter()
                        .enumerate()
                        .filter(|(i, p)| *i < index || p.sender != gone)
                        .map(|(_, p)| p)
                        .collect();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let tx_hashes: Vec<Hash> = txs.iter().map(|p| p.hash).collect();
            let prepared = self.store.prepare_state(height, outcome.changes, pending)?;
            let header = Header {
                chain_id: self.genesis.chain_id,
                height,
                parent_hash: parent.hash,
                time_ms: ctx.time_ms,
                proposer: ctx.proposer,
                tx_count: transactions.len() as u32,
                tx_root: self.executor.tx_root(&tx_hashes),
                state_root: prepared.root(),
                receipts_root: self.executor.receipts_root(&outcome.receipts),
            };
            let hash = header.hash(self.hash_algorithm());
            self.metrics.block_build.observe(started.elapsed().as_secs_f64());
            tracing::debug!(target: "node::build", height, txs = txs.len(), ms = started.elapsed().as_millis() as u64, "built");
            return Ok(Built {
                block: Block { header, transactions, certificate: None },
                hash,
                receipts: outcome.receipts,
                state: prepared,
                tx_hashes,
                pool_txs: txs,
            });
        }
    }

    /// Re-executes a block another node built, on top of `parent`: it must extend the parent,
    /// carry valid transactions, and reproduce every root of its header.
    async fn execute_received(
        self: Arc<Self>,
        block: Block,
        parent: Tip,
    ) -> Result<Result<Built, Rejection>, NodeError> {
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = self.execute_received_blocking(block, &parent);
            self.metrics.block_validate.observe(started.elapsed().as_secs_f64());
            result
        })
        .await
        .map_err(|e| NodeError::Task(e.to_string()))?
    }

    fn execute_received_blocking(
        &self,
        block: Block,
        parent: &Tip,
    ) -> Result<Result<Built, Rejection>, NodeError> {
        let bad = |m: String| Ok(Err(Rejection::Malformed(m)));
        let h = &block.header;
        let params = &self.genesis.params;
        if h.chain_id != self.genesis.chain_id
            || h.height != parent.height + 1
            || h.parent_hash != parent.hash
        {
            return bad(format!("block {} does not extend block {}", h.height, parent.height));
        }
        // The builder, not necessarily this round's proposer: a locked block is proposed again
        // by later proposers as it was built.
        if !self.genesis.validators.iter().any(|v| v.public_key.address() == h.proposer) {
            return bad(format!("block proposer {} is not a validator", h.proposer));
        }
        if h.time_ms < parent.time_ms || h.time_ms > now_ms() + MAX_CLOCK_DRIFT_MS {
            return bad(format!(
                "block time {} is before its parent's or too far ahead",
                h.time_ms
            ));
        }
        let txs = &block.transactions;
        if h.tx_count as usize != txs.len() || txs.len() > params.max_block_txs as usize {
            return bad(format!(
                "block holds {} transactions, header says {}",
                txs.len(),
                h.tx_count
            ));
        }
        let algo = self.hash_algorithm();
        let mut hashes = Vec::with_capacity(txs.len());
        let mut bytes = 0u64;
        for tx in txs {
            let raw = consortia_types::encode(tx);
            if raw.len() > params.max_tx_bytes as usize {
                return bad("a transaction is over the size limit".into());
            }
            if let Err(e) = tx.check_stateless(self.genesis.chain_id) {
                return bad(format!("a transaction is invalid: {e}"));
            }
            bytes += raw.len() as u64;
            // Not a digest of `raw`: an Ethereum transaction's id is keccak of its own bytes.
            hashes.push(tx.hash(algo));
        }
        if bytes > params.max_block_bytes {
            return bad("the block is over the size limit".into());
        }
        if self.executor.tx_root(&hashes) != h.tx_root {
            return bad("transaction root does not match the transactions".into());
        }
        if !self.mempool.verify_block_signatures(txs, &hashes) {
            return bad("a transaction signature does not verify".into());
        }
        let pending = parent.pending.as_ref().map(|b| &b.state);
        let state = PendingState { store: &self.store, pending };
        let ctx = BlockContext {
            height: h.height,
            time_ms: h.time_ms,
            proposer: h.proposer,
            parent_hash: h.parent_hash,
        };
        let outcome = match self.executor.execute_block(&state, ctx, txs) {
            Ok(outcome) => outcome,
            Err(
                e @ (ExecutionError::BadNonce { .. }
                | ExecutionError::WrongChain { .. }
                | ExecutionError::InvalidTx { .. }
                | ExecutionError::BlockFull { .. }),
            ) => {
                return bad(e.to_string());
            }
            Err(e) => return Err(e.into()),
        };
        let receipts_root = self.executor.receipts_root(&outcome.receipts);
        let prepared = self.store.prepare_state(h.height, outcome.changes, pending)?;
        if prepared.root() != h.state_root || receipts_root != h.receipts_root {
            let reason = format!(
                "state root {} / receipts root {} where the header says {} / {}",
                prepared.root(),
                receipts_root,
                h.state_root,
                h.receipts_root
            );
            return Ok(Err(Rejection::Diverged(reason)));
        }
        let hash = h.hash(algo);
        Ok(Ok(Built {
            block,
            hash,
            receipts: outcome.receipts,
            state: prepared,
            tx_hashes: hashes,
            pool_txs: vec![],
        }))
    }

    /// Writes a decided block durably, then lets the API know.
    fn commit(&self, built: &Built) -> Result<(), NodeError> {
        let started = std::time::Instant::now();
        self.store.commit_block(&built.block, &built.receipts, &built.state)?;
        let height = built.block.header.height;
        let elapsed = started.elapsed();
        let m = &self.metrics;
        m.block_commit.observe(elapsed.as_secs_f64());
        m.blocks_committed.inc();
        m.transactions_committed.inc_by(built.block.transactions.len() as u64);
        let round = built.block.certificate.as_ref().map_or(0, |c| c.round);
        m.commit_round.set(i64::from(round));
        let ms = elapsed.as_millis() as u64;
        tracing::debug!(target: "node::commit", height, txs = built.block.transactions.len(), ms, "committed");
        self.committed.send_replace(height);
        Ok(())
    }
}

/// Why a received block is not voted for.
#[derive(Debug)]
enum Rejection {
    /// The block breaks a rule any node can check without executing it, or a transaction
    /// cannot execute: its proposer (or the peer that sent it) is at fault.
    Malformed(String),
    /// Executing it gives other roots than its header's.
    Diverged(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Malformed(m) | Rejection::Diverged(m) => f.write_str(m),
        }
    }
}

/// What the next block is built on: the last decided block, and its prepared state while its
/// commit may still be under way.
#[derive(Clone)]
struct Tip {
    height: Height,
    hash: Hash,
    time_ms: u64,
    pending: Option<Arc<Built>>,
}

/// An executed block waiting for the engine's decision (built here or received).
#[derive(Debug)]
struct Built {
    block: Block,
    hash: Hash,
    receipts: Vec<Receipt>,
    state: PreparedState,
    tx_hashes: Vec<Hash>,
    /// What this node's pool gave the block (empty for blocks received from peers).
    pool_txs: Vec<PoolTx>,
}
