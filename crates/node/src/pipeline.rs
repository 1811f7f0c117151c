//! The block pipeline the driver owns: build a block from the pool, re-execute a block a peer
//! built, and write a decided block. Synchronous: the driver runs it on its own thread (in
//! production) or in the simulator's order, and hands the commit to [`crate::world::Tasks`].

use std::sync::Arc;

use consortia_crypto::Hash;
use consortia_execution::{BlockContext, ExecutionError, ledger};
use consortia_storage::{BlockWriter, PendingState, PreparedState};
use consortia_types::{Block, Header, Height, Receipt, Validator};

use crate::mempool::PoolTx;
use crate::{Node, NodeError};

/// How far ahead of this node's clock a proposed block's time may be.
const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// Builds, re-executes and commits blocks for one node.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) node: Arc<Node>,
}

impl Pipeline {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Pipeline { node }
    }
    /// Takes ready transactions, executes them on top of `parent` and computes the roots.
    pub(crate) fn build(
        &self,
        height: Height,
        parent: &Tip,
        signers: &Signers<'_>,
        now_ms: u64,
    ) -> Result<Built, NodeError> {
        let node = &self.node;
        let pending = parent.pending.as_ref().map(|b| &b.state);
        let state = PendingState::new(&node.store, pending);
        let started = std::time::Instant::now();
        // A block's size limits are those its parent's state holds (governance changes them).
        let params = node.executor.params(&state)?;
        let mut txs =
            node.mempool.take_for_block(params.max_block_txs as usize, params.max_block_bytes);
        loop {
            let transactions: Vec<_> = txs.iter().map(|p| (*p.tx).clone()).collect();
            let ctx = BlockContext {
                height,
                time_ms: now_ms.max(parent.time_ms),
                proposer: node.key.as_ref().map(|k| k.public_key().address()).unwrap_or_default(),
                parent_hash: parent.hash,
            };
            let outcome = match node.executor.execute_block(&state, ctx, &transactions) {
                Ok(outcome) => outcome,
                Err(ExecutionError::BlockFull { index }) => {
                    // The rest waits for the next block.
                    node.mempool.release(&txs.split_off(index));
                    continue;
                }
                Err(
                    e @ (ExecutionError::BadNonce { index, .. }
                    | ExecutionError::WrongChain { index, .. }
                    | ExecutionError::InvalidTx { index, .. }),
                ) => {
                    tracing::warn!(target: "node::build", tx = %txs[index].hash, error = %e, "evicting a transaction that cannot execute");
                    node.mempool().evict(&txs[index], &e.to_string());
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
            let ledger = ledger::entries(&outcome.changes);
            let prepared = node.store.prepare_state(height, outcome.changes, pending)?;
            let header = Header {
                chain_id: node.genesis.chain_id,
                height,
                parent_hash: parent.hash,
                time_ms: ctx.time_ms,
                proposer: ctx.proposer,
                tx_count: transactions.len() as u32,
                tx_root: node.executor.tx_root(&tx_hashes),
                state_root: prepared.root(),
                receipts_root: node.executor.receipts_root(&outcome.receipts),
                next_validators_hash: signers.next_hash,
            };
            let hash = header.hash(node.hash_algorithm());
            node.metrics.block_build.observe(started.elapsed().as_secs_f64());
            tracing::debug!(target: "node::build", height, txs = txs.len(), ms = started.elapsed().as_millis() as u64, "built");
            return Ok(Built {
                block: Block { header, transactions, certificate: None },
                hash,
                receipts: outcome.receipts,
                state: prepared,
                ledger,
                tx_hashes,
                pool_txs: txs,
            });
        }
    }

    /// Re-executes a block another node built, on top of `parent`: it must extend the parent,
    /// carry valid transactions, and reproduce every root of its header.
    pub(crate) fn execute_received(
        &self,
        block: Block,
        parent: &Tip,
        signers: &Signers<'_>,
        now_ms: u64,
    ) -> Result<Result<Built, Rejection>, NodeError> {
        let node = &self.node;
        let started = std::time::Instant::now();
        let result = self.execute_checked(block, parent, signers, now_ms);
        node.metrics.block_validate.observe(started.elapsed().as_secs_f64());
        result
    }

    fn execute_checked(
        &self,
        block: Block,
        parent: &Tip,
        signers: &Signers<'_>,
        now_ms: u64,
    ) -> Result<Result<Built, Rejection>, NodeError> {
        let node = &self.node;
        let bad = |m: String| Ok(Err(Rejection::Malformed(m)));
        let h = &block.header;
        let pending = parent.pending.as_ref().map(|b| &b.state);
        let state = PendingState::new(&node.store, pending);
        let params = node.executor.params(&state)?;
        if h.chain_id != node.genesis.chain_id
            || h.height != parent.height + 1
            || h.parent_hash != parent.hash
        {
            return bad(format!("block {} does not extend block {}", h.height, parent.height));
        }
        // The builder, not necessarily this round's proposer: a locked block is proposed again
        // by later proposers as it was built.
        if !signers.validators.iter().any(|v| v.public_key.address() == h.proposer) {
            return bad(format!("block proposer {} is not a validator", h.proposer));
        }
        if h.next_validators_hash != signers.next_hash {
            return bad(format!(
                "block {} names next validators {} where this chain's governance says {}",
                h.height, h.next_validators_hash, signers.next_hash
            ));
        }
        if h.time_ms < parent.time_ms || h.time_ms > now_ms + MAX_CLOCK_DRIFT_MS {
            return bad(format!(
                "block time {} is before its parent's or too far ahead",
                h.time_ms
            ));
        }
        let txs = &block.transactions;
        if h.tx_count as usize != txs.len() || txs.len() as u64 > params.max_block_txs {
            return bad(format!(
                "block holds {} transactions, header says {}",
                txs.len(),
                h.tx_count
            ));
        }
        let algo = node.hash_algorithm();
        let mut hashes = Vec::with_capacity(txs.len());
        let mut bytes = 0u64;
        for tx in txs {
            let raw = consortia_types::encode(tx);
            if raw.len() as u64 > params.max_tx_bytes {
                return bad("a transaction is over the size limit".into());
            }
            if let Err(e) = tx.check_stateless(node.genesis.chain_id) {
                return bad(format!("a transaction is invalid: {e}"));
            }
            bytes += raw.len() as u64;
            // Not a digest of `raw`: an Ethereum transaction's id is keccak of its own bytes.
            hashes.push(tx.hash(algo));
        }
        if bytes > params.max_block_bytes {
            return bad("the block is over the size limit".into());
        }
        if node.executor.tx_root(&hashes) != h.tx_root {
            return bad("transaction root does not match the transactions".into());
        }
        if !node.mempool.verify_block_signatures(txs, &hashes) {
            return bad("a transaction signature does not verify".into());
        }
        let ctx = BlockContext {
            height: h.height,
            time_ms: h.time_ms,
            proposer: h.proposer,
            parent_hash: h.parent_hash,
        };
        let outcome = match node.executor.execute_block(&state, ctx, txs) {
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
        let receipts_root = node.executor.receipts_root(&outcome.receipts);
        let ledger = ledger::entries(&outcome.changes);
        let prepared = node.store.prepare_state(h.height, outcome.changes, pending)?;
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
            ledger,
            tx_hashes: hashes,
            pool_txs: vec![],
        }))
    }

    /// Writes a decided block durably, then lets the API know.
    pub(crate) fn commit(node: &Node, built: &Built) -> Result<(), NodeError> {
        let started = std::time::Instant::now();
        node.store.commit_block(&built.block, &built.receipts, &built.state)?;
        let height = built.block.header.height;
        if let Some(ledger) = &node.ledger {
            ledger.committed(height, built.ledger.clone());
        }
        let elapsed = started.elapsed();
        let m = &node.metrics;
        m.block_commit.observe(elapsed.as_secs_f64());
        m.blocks_committed.inc();
        m.transactions_committed.inc_by(built.block.transactions.len() as u64);
        let round = built.block.certificate.as_ref().map_or(0, |c| c.round);
        m.commit_round.set(i64::from(round));
        let ms = elapsed.as_millis() as u64;
        tracing::debug!(target: "node::commit", height, txs = built.block.transactions.len(), ms, "committed");
        node.committed.send_replace(height);
        Ok(())
    }
}

/// Why a received block is not voted for.
#[derive(Debug)]
pub(crate) enum Rejection {
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

/// Who signs a block and the hash of who signs the next (see [`Header::next_validators_hash`]).
#[derive(Debug)]
pub(crate) struct Signers<'a> {
    pub(crate) validators: &'a [Validator],
    pub(crate) next_hash: Hash,
}

/// What the next block is built on: the last decided block, and its prepared state while its
/// commit may still be under way.
#[derive(Clone)]
pub(crate) struct Tip {
    pub(crate) height: Height,
    pub(crate) hash: Hash,
    pub(crate) time_ms: u64,
    pub(crate) pending: Option<Arc<Built>>,
}

impl Tip {
    /// The tip at a committed block.
    pub(crate) fn of(stored: &consortia_storage::StoredHeader) -> Tip {
        Tip {
            height: stored.header.height,
            hash: stored.hash,
            time_ms: stored.header.time_ms,
            pending: None,
        }
    }
}

/// An executed block waiting for the engine's decision (built here or received).
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) block: Block,
    pub(crate) hash: Hash,
    pub(crate) receipts: Vec<Receipt>,
    pub(crate) state: PreparedState,
    /// The block's state entries under `sql/`, for the SQL projection.
    pub(crate) ledger: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) tx_hashes: Vec<Hash>,
    /// What this node's pool gave the block (empty for blocks received from peers).
    pub(crate) pool_txs: Vec<PoolTx>,
}
