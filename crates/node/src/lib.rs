//! A Consortia node: mempool, consensus driver, executor and storage assembled.
//!
//! [`Node::open`] opens (or creates from genesis) the node's store; [`Node::run`] drives the
//! consensus engine until shutdown: it feeds the engine inputs, builds and executes the blocks
//! it asks for, and commits the blocks it decides. [`Node::submit`] is the way in for
//! transactions (the HTTP API in `consortia-rpc` calls it).
//!
//! The node knows nothing of HTTP; the binary serves `consortia-rpc`'s router over a [`Node`].

pub mod mempool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consortia_consensus::{Engine, Input, Output, Solo};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_execution::{BlockContext, ExecutionError, Executor};
use consortia_storage::{
    BlockReader, BlockWriter, PendingState, PreparedState, RedbStore, StorageError,
};
use consortia_types::{Block, Genesis, Header, Height, Receipt};
use tokio::sync::{Notify, watch};

use crate::mempool::{AdmitError, Admitted, Mempool, MempoolConfig, PoolTx};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error(
        "this node's key is not the validator named in genesis; a solo chain needs the key of its one validator"
    )]
    NotValidator,
    #[error("a blocking task failed: {0}")]
    Task(String),
}

/// How to run a node.
#[derive(Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: Genesis,
    pub validator_key: PrivateKey,
    pub mempool: MempoolConfig,
}

/// A running node's shared state.
#[derive(Debug)]
pub struct Node {
    store: Arc<RedbStore>,
    mempool: Arc<Mempool>,
    genesis: Genesis,
    genesis_hash: Hash,
    executor: Executor,
    key: PrivateKey,
    /// Wakes the driver when transactions arrive.
    arrivals: Notify,
    committed: watch::Sender<Height>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    /// Opens the store in `data_dir` (creating it, with block 0, on first start).
    pub fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        let genesis = config.genesis;
        genesis.validate().map_err(|e| NodeError::Genesis(e.to_string()))?;
        if !genesis.validators.iter().any(|v| v.public_key == config.validator_key.public_key()) {
            return Err(NodeError::NotValidator);
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
        Ok(Arc::new(Node {
            store: Arc::new(store),
            mempool: Arc::new(mempool),
            genesis_hash: genesis.hash(),
            genesis,
            executor,
            key: config.validator_key,
            arrivals: Notify::new(),
            committed: watch::Sender::new(height),
        }))
    }

    pub fn store(&self) -> &Arc<RedbStore> {
        &self.store
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
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

    /// Admits encoded transactions (signature checks run on the blocking pool).
    pub async fn submit(self: &Arc<Self>, raws: Vec<Vec<u8>>) -> Vec<Result<Admitted, AdmitError>> {
        let node = Arc::clone(self);
        let results =
            tokio::task::spawn_blocking(move || node.mempool.admit_batch(&*node.store, &raws))
                .await
                .unwrap_or_else(|e| vec![Err(AdmitError::State(e.to_string()))]);
        if results.iter().any(Result::is_ok) {
            self.arrivals.notify_one();
        }
        results
    }

    /// Drives consensus until `shutdown` fires. A storage failure stops the node (better to
    /// stop than to go on from a state that may not be on disk).
    ///
    /// Commits are pipelined: once a block is decided, its commit (the fsync) runs on a blocking
    /// thread while the next block is built on top of it, reading through the decided block's
    /// prepared state. Commits stay in height order: a block's commit starts after the previous
    /// one has finished, and a transaction is visible through the API once its block is durable.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        let latest = self.store.header(self.store.latest_height()?)?.ok_or_else(|| {
            StorageError::Corrupt { table: "headers", detail: "latest block missing".into() }
        })?;
        let mut engine = Solo::new(
            self.genesis.chain_id,
            self.hash_algorithm(),
            self.key.clone(),
            self.genesis.params.clone(),
            latest.header.height + 1,
            now_ms(),
        );
        let mut tip = Tip { hash: latest.hash, time_ms: latest.header.time_ms, pending: None };
        let mut committing: Option<tokio::task::JoinHandle<Result<(), NodeError>>> = None;
        let mut building: Option<Built> = None;
        let mut wake_at: Option<u64> = None;
        let mut inputs =
            vec![Input::TxsReady { count: self.mempool.ready_count(), now_ms: now_ms() }];
        loop {
            while let Some(input) = inputs.pop() {
                for output in engine.handle(input) {
                    match output {
                        Output::WakeAt { at_ms } => wake_at = Some(at_ms),
                        Output::BuildProposal { height } => {
                            let built = self.clone().build(height, tip.clone()).await?;
                            let header = built.block.header.clone();
                            building = Some(built);
                            inputs.push(Input::ProposalBuilt { header, now_ms: now_ms() });
                        }
                        Output::Commit { height, block_hash, certificate } => {
                            let Some(mut built) = building.take() else { continue };
                            if built.block.header.height != height || built.hash != block_hash {
                                continue; // decided a block this node did not build: not in solo
                            }
                            built.block.certificate = Some(certificate);
                            // In order: the previous commit must be durable first.
                            if let Some(previous) = committing.take() {
                                previous.await.map_err(|e| NodeError::Task(e.to_string()))??;
                            }
                            let built = Arc::new(built);
                            tip = Tip {
                                hash: built.hash,
                                time_ms: built.block.header.time_ms,
                                pending: Some(built.clone()),
                            };
                            let node = self.clone();
                            committing =
                                Some(tokio::task::spawn_blocking(move || node.commit(&built)));
                            inputs.push(Input::TxsReady {
                                count: self.mempool.ready_count(),
                                now_ms: now_ms(),
                            });
                        }
                    }
                }
            }
            let sleep = match wake_at {
                Some(at) => Duration::from_millis(at.saturating_sub(now_ms())),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = self.arrivals.notified() => {
                    inputs.push(Input::TxsReady { count: self.mempool.ready_count(), now_ms: now_ms() });
                }
                _ = tokio::time::sleep(sleep) => {
                    wake_at = None;
                    inputs.push(Input::Tick { now_ms: now_ms() });
                }
                _ = shutdown.changed() => {
                    if let Some(last) = committing.take() {
                        last.await.map_err(|e| NodeError::Task(e.to_string()))??;
                    }
                    tracing::info!(target: "node", "consensus driver stopped");
                    return Ok(());
                }
            }
        }
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
        loop {
            let txs =
                self.mempool.take_for_block(params.max_block_txs as usize, params.max_block_bytes);
            let transactions: Vec<_> = txs.iter().map(|p| (*p.tx).clone()).collect();
            let ctx = BlockContext {
                height,
                time_ms: now_ms().max(parent.time_ms),
                proposer: self.key.public_key().address(),
            };
            let outcome = match self.executor.execute_block(&state, ctx, &transactions) {
                Ok(outcome) => outcome,
                Err(
                    ExecutionError::BadNonce { index, .. }
                    | ExecutionError::WrongChain { index, .. },
                ) => {
                    tracing::warn!(target: "node::build", tx = %txs[index].hash, "evicting a transaction that cannot execute");
                    self.mempool.evict(&txs[index]);
                    self.mempool.release(&txs);
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
            tracing::debug!(target: "node::build", height, txs = txs.len(), ms = started.elapsed().as_millis() as u64, "built");
            return Ok(Built {
                block: Block { header, transactions, certificate: None },
                hash,
                receipts: outcome.receipts,
                state: prepared,
                pool_txs: txs,
            });
        }
    }

    /// Writes a decided block durably, then lets the pool and the API know.
    fn commit(&self, built: &Built) -> Result<(), NodeError> {
        let started = std::time::Instant::now();
        self.store.commit_block(&built.block, &built.receipts, &built.state)?;
        self.mempool.remove_committed(&built.pool_txs);
        let height = built.block.header.height;
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(target: "node::commit", height, txs = built.pool_txs.len(), ms, "committed");
        self.committed.send_replace(height);
        Ok(())
    }
}

/// What the next block is built on: the last decided block, and its prepared state while its
/// commit may still be under way.
#[derive(Clone)]
struct Tip {
    hash: Hash,
    time_ms: u64,
    pending: Option<Arc<Built>>,
}

/// A block this node built, waiting for the engine's decision.
struct Built {
    block: Block,
    hash: Hash,
    receipts: Vec<Receipt>,
    state: PreparedState,
    pool_txs: Vec<PoolTx>,
}
