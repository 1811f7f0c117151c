//! The consensus driver: carries out what the engine asks (build, validate, persist, send,
//! commit), feeds it what happens (time, transactions, peers' messages), and keeps a lagging
//! node in step by block sync. One loop for every engine: solo simply never asks to validate,
//! persist or send.
//!
//! It is generic over its [`World`] and event-driven: whoever runs it feeds it [`Event`]s and
//! calls [`Driver::poll`] at [`Driver::next_deadline`]. [`crate::runtime`] runs it on a thread of
//! its own over TLS and the disk; the node-level simulator runs four of them on a virtual clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use consortia_consensus::{Bft, BftConfig, Engine, Input, Message, Output, Raft, Solo};
use consortia_crypto::Hash;
use consortia_execution::governance;
use consortia_network::{Credit, NetEvent, PeerId};
use consortia_storage::{
    BlockReader, ChunkLimit, PendingState, StateHistory, StorageError, StoredHeader,
};
use consortia_types::{
    Block, CommitCertificate, ConsensusKind, Header, Height, Transaction, Validator,
};

use crate::block_sync::BlockSync;
use crate::compact::{self, Assembly};
use crate::p2p::{STATE_SYNC_PROTOCOL, SYNC_BATCH, SYNC_BYTES, Wire};
use crate::pipeline::{Built, Pipeline, Rejection, Signers, Tip};
use crate::state_sync::{self, Answer, StateSync};
use crate::wal::WalEntry;
use crate::world::{Clock, Tasks, Transport, WalStore, World};
use crate::{Node, NodeError};

/// Blocks received with proposals (whole, or compact and being filled in) and kept until
/// executed or stale, at most...
const MAX_BODIES: usize = 64;
/// ...and from one peer (proposals are checked by the engine after the body is kept, so a
/// peer sending junk proposals must not crowd out the real one).
const MAX_BODIES_PER_PEER: usize = 8;
/// A node this long at one height asks a peer that is ahead for the block.
const STUCK_MS: u64 = 2_000;
/// How often a node tells its peers its height (and looks for a peer ahead of it).
const STATUS_EVERY_MS: u64 = 1_000;

/// What happens to a driver.
#[derive(Debug)]
pub enum Event {
    /// Something from the network.
    Net(NetEvent),
    /// Transactions were admitted to the pool (see [`Node::take_arrivals`]).
    TxsArrived,
}

/// The parts of a [`World`] one driver runs with.
#[derive(Debug)]
pub struct Parts<W: World> {
    /// Peers; none for a solo chain.
    pub transport: Option<Arc<W::Transport>>,
    pub clock: W::Clock,
    /// The WAL and what it held at start; BFT and Raft need one, solo keeps none.
    pub wal: Option<(W::Wal, Vec<WalEntry>)>,
    pub tasks: W::Tasks,
}

/// One node's consensus driver. Its maps are ordered (B-trees), so that a run depends only on
/// its inputs: the simulator replays a seed to the same trace.
pub struct Driver<W: World> {
    pipeline: Pipeline,
    engine: Box<dyn Engine>,
    /// Validator sets of the heights still to decide, always those of `tip + 1` and `tip + 2`:
    /// governance's change in block h takes effect at h + 2, so the set of h + 2 is known
    /// once block h is decided.
    sets: BTreeMap<Height, Vec<Validator>>,
    /// The chain parameters as of the tip (the engine's timing follows them).
    params: governance::Params,
    /// The peers of the on-chain node lists of the last three decided blocks, newest first: a
    /// node added by block h is admitted at once, a node removed by block h only once the
    /// set that still counts its vote is done (h + 2); cutting it off earlier could leave
    /// that set without a quorum.
    recent_peers: VecDeque<Vec<PeerId>>,
    /// Their union, as last given to the transport.
    allowed: Vec<PeerId>,
    /// The member CAs the transport trusts (see [`Driver::admit_nodes`]).
    trusted_cas: Vec<String>,
    /// This node's consensus key, if it has one (a validator in some sets, perhaps not all).
    public_key: Option<consortia_crypto::PublicKey>,
    transport: Option<Arc<W::Transport>>,
    clock: W::Clock,
    wal: Option<W::Wal>,
    tasks: W::Tasks,
    wal_dirty: bool,
    /// Blocks already in the WAL (for heights not yet decided).
    wal_blocks: BTreeSet<Hash>,
    tip: Tip,
    /// Executed blocks of the height being decided (built here, or received and validated).
    candidates: BTreeMap<Hash, Built>,
    /// Blocks received with proposals, not executed yet.
    bodies: BTreeMap<Hash, Block>,
    /// Compact blocks of proposals waiting for the transactions this node's pool lacked; the
    /// proposal goes to the engine once its block is whole.
    assembling: BTreeMap<Hash, Assembly>,
    /// Who sent each body, whole or compact: one peer may not fill the room (see
    /// [`MAX_BODIES_PER_PEER`]).
    body_senders: BTreeMap<Hash, PeerId>,
    wake_at: Option<u64>,
    next_status_ms: u64,
    peer_heights: BTreeMap<PeerId, Height>,
    /// Block sync's requests and the blocks it holds (see `block_sync.rs`).
    block_sync: BlockSync,
    /// A state sync under way (see `state_sync.rs`).
    state_sync: Option<StateSync>,
    /// One was tried (done or given up): the node replays blocks from now on.
    state_sync_tried: bool,
    height_since_ms: u64,
    /// Engine inputs waiting, each with the peer it came from.
    inputs: VecDeque<(Input, Option<PeerId>)>,
}

impl<W: World> std::fmt::Debug for Driver<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("height", &self.tip.height).finish_non_exhaustive()
    }
}

impl<W: World> Driver<W> {
    /// Sets up the engine from the store's last block and the WAL's content, and lets it start.
    pub fn new(node: Arc<Node>, parts: Parts<W>) -> Result<Self, NodeError> {
        let Parts { transport, clock, wal, tasks } = parts;
        let latest = head_header(&node)?;
        let next = latest.header.height + 1;
        let now_ms = clock.now_ms();
        let mut bodies = BTreeMap::new();
        let mut messages = Vec::new();
        let wal = match node.genesis.params.consensus {
            ConsensusKind::Solo => None,
            ConsensusKind::Bft | ConsensusKind::Raft => {
                let (wal, entries) =
                    wal.ok_or_else(|| NodeError::Wal("a BFT or Raft node needs its WAL".into()))?;
                for entry in entries {
                    match entry {
                        WalEntry::Message(m) => messages.push(m),
                        WalEntry::Block(b) if b.header.height >= next => {
                            bodies.insert(b.header.hash(node.hash_algorithm()), b);
                        }
                        WalEntry::Block(_) => {}
                    }
                }
                Some(wal)
            }
        };
        let sets = sets_after(&node, &latest)?;
        // Governance may have changed the timing and size parameters since genesis.
        let params = node.executor.params(&*node.store)?;
        let engine = engine_after(&node, &latest, &sets, &params, now_ms, messages)?;
        if let Some(transport) = &transport {
            let gossip: Arc<dyn Transport> = transport.clone();
            let _ = node.gossip.set(gossip);
        }
        let mut driver = Driver {
            engine,
            sets,
            params,
            recent_peers: VecDeque::new(),
            allowed: vec![],
            trusted_cas: vec![],
            public_key: node.key.as_ref().map(|k| k.public_key()),
            transport,
            clock,
            wal,
            tasks,
            wal_dirty: false,
            wal_blocks: bodies.keys().copied().collect(),
            tip: Tip::of(&latest),
            candidates: BTreeMap::new(),
            bodies,
            assembling: BTreeMap::new(),
            body_senders: BTreeMap::new(),
            wake_at: None,
            next_status_ms: now_ms,
            peer_heights: BTreeMap::new(),
            block_sync: BlockSync::default(),
            state_sync: None,
            state_sync_tried: false,
            height_since_ms: now_ms,
            inputs: VecDeque::new(),
            pipeline: Pipeline::new(node.clone()),
        };
        driver.start(&latest)?;
        Ok(driver)
    }

    /// Tells a new engine what comes after the tip, follows the recent node lists, and lets it
    /// start.
    fn start(&mut self, latest: &StoredHeader) -> Result<(), NodeError> {
        let node = self.node().clone();
        let now_ms = self.now_ms();
        let next = latest.header.height + 1;
        let following = self.set(next + 1).to_vec();
        self.push(Input::Validators { height: next + 1, validators: following, now_ms });
        // Take what arrived before this driver could be woken (the flag would otherwise stay
        // up, and later admissions would wake nobody), then count everything waiting.
        node.take_arrivals();
        self.push(Input::TxsReady { count: node.mempool.ready_count(), now_ms });
        for back in (0..=governance::ACTIVATION_DELAY).rev() {
            let at = latest.header.height.saturating_sub(back);
            // A store restored by state sync holds no state before its first block.
            let state = match node.store.state_at(at) {
                Err(StorageError::Pruned { .. }) => continue,
                state => state?,
            };
            let nodes = governance::nodes(&*state)?;
            let cas = governance::trusted_cas(&*state, latest.header.time_ms)?;
            self.admit_nodes(&nodes, cas);
        }
        self.drain()
    }

    /// After a state sync restored the store at a later block: starts over from there, as a
    /// node restarted on that store would.
    fn restart_at_head(&mut self) -> Result<(), NodeError> {
        let node = self.node().clone();
        let latest = head_header(&node)?;
        let now_ms = self.now_ms();
        self.sets = sets_after(&node, &latest)?;
        self.params = node.executor.params(&*node.store)?;
        self.engine = engine_after(&node, &latest, &self.sets, &self.params, now_ms, vec![])?;
        self.tip = Tip::of(&latest);
        self.pipeline = Pipeline::new(node.clone());
        self.candidates.clear();
        self.bodies.clear();
        self.assembling.clear();
        self.body_senders.clear();
        self.wal_blocks.clear();
        self.inputs.clear();
        self.recent_peers.clear();
        self.wake_at = None;
        self.height_since_ms = now_ms;
        node.committed.send_replace(latest.header.height);
        self.start(&latest)?;
        self.send_status(None);
        Ok(())
    }

    /// The set of `height` (one of the next two heights; empty for any other: nothing then
    /// verifies, which fails safe).
    fn set(&self, height: Height) -> &[Validator] {
        self.sets.get(&height).map_or(&[], Vec::as_slice)
    }

    /// The validators that sign block `height`, and the hash its header gives the next set.
    fn signers(&self, height: Height) -> Signers<'_> {
        let next = self.set(height + 1);
        Signers {
            validators: self.set(height),
            next_hash: consortia_types::validators_hash(self.node().hash_algorithm(), next),
        }
    }

    /// Whether validator `index` of the set of `height` is this node.
    fn is_me(&self, height: Height, index: u32) -> bool {
        let Some(key) = &self.public_key else { return false };
        self.set(height).get(index as usize).is_some_and(|v| &v.public_key == key)
    }

    /// Follows the node list of a newly decided block: admits the peers of the recent lists
    /// (see [`Driver::recent_peers`]); a node removed from all of them is disconnected. `cas`
    /// are the CAs the chain trusts as of that block (members' CAs, and the ones rotations
    /// replaced while their overlap runs): they vouch for their nodes' certificates (the keys
    /// must still be listed).
    fn admit_nodes(&mut self, nodes: &[governance::Node], cas: Vec<(String, String)>) {
        let cas: Vec<String> = cas.into_iter().map(|(_, pem)| pem).collect();
        let peers = nodes.iter().filter_map(|n| n.tls_key.as_ref().and_then(PeerId::of));
        self.recent_peers.push_front(peers.collect());
        self.recent_peers.truncate(governance::ACTIVATION_DELAY as usize + 1);
        let mut allowed: Vec<PeerId> = self.recent_peers.iter().flatten().copied().collect();
        allowed.sort();
        allowed.dedup();
        if allowed == self.allowed && cas == self.trusted_cas {
            return;
        }
        if let Some(transport) = &self.transport {
            transport.set_allowed(&allowed, &cas);
        }
        self.allowed = allowed;
        self.trusted_cas = cas;
    }

    /// After block `height` is decided: learns the set of `height + 2` from its state, tells
    /// the engine, and follows changes of the node list.
    fn learn_governance(&mut self, built: &Built) -> Result<(), NodeError> {
        let height = built.block.header.height;
        let node = self.node().clone();
        let state = PendingState::new(&node.store, Some(&built.state));
        let nodes = governance::nodes(&state)?;
        let cas = governance::trusted_cas(&state, built.block.header.time_ms)?;
        let validators = governance::validators_of(&nodes);
        if validators.as_slice() != self.set(height + 1) {
            tracing::info!(target: "node::consensus", from = height + 2, validators = validators.len(), "validator set changes");
        }
        self.sets.insert(height + 2, validators.clone());
        self.sets = self.sets.split_off(&(height + 1));
        self.admit_nodes(&nodes, cas);
        self.push(Input::Validators { height: height + 2, validators, now_ms: self.now_ms() });
        let params = node.executor.params(&state)?;
        if params != self.params {
            tracing::info!(target: "node::consensus", height, "chain parameters change");
            let chain = params.apply_to(&node.genesis.params);
            self.push(Input::Params { params: chain, now_ms: self.now_ms() });
            self.params = params;
        }
        Ok(())
    }

    fn node(&self) -> &Arc<Node> {
        &self.pipeline.node
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// When [`Driver::poll`] has something to do next (a timer of the engine, the status).
    pub fn next_deadline(&self) -> u64 {
        self.wake_at.map_or(self.next_status_ms, |at| at.min(self.next_status_ms))
    }

    /// Carries out an event and everything the engine answers.
    pub fn handle(&mut self, event: Event) -> Result<(), NodeError> {
        match event {
            Event::TxsArrived => {
                self.node().take_arrivals();
                let count = self.node().mempool.ready_count();
                self.push(Input::TxsReady { count, now_ms: self.now_ms() });
            }
            Event::Net(event) => self.on_network(event)?,
        }
        self.drain()
    }

    /// Fires what is due by the clock: the engine's timer, the periodic status and sync check.
    pub fn poll(&mut self) -> Result<(), NodeError> {
        let now_ms = self.now_ms();
        if self.wake_at.is_some_and(|at| at <= now_ms) {
            self.wake_at = None;
            self.push(Input::Tick { now_ms });
        }
        if self.next_status_ms <= now_ms {
            self.next_status_ms = now_ms + STATUS_EVERY_MS;
            self.send_status(None);
            self.maybe_sync();
        }
        self.drain()
    }

    /// Waits for the last commit to reach the disk.
    pub fn stop(mut self) -> Result<(), NodeError> {
        self.tasks.finish_commit()?;
        tracing::info!(target: "node", "consensus driver stopped");
        Ok(())
    }

    fn push(&mut self, input: Input) {
        self.inputs.push_back((input, None));
    }

    /// Feeds the engine everything waiting and carries out what it answers.
    fn drain(&mut self) -> Result<(), NodeError> {
        while let Some((input, from)) = self.inputs.pop_front() {
            for output in self.engine.handle(input) {
                self.carry_out(output, from)?;
            }
        }
        self.sync_wal()
    }

    fn carry_out(&mut self, output: Output, from: Option<PeerId>) -> Result<(), NodeError> {
        if let Output::Persist(message) = output {
            return self.persist(message);
        }
        // Persist before send: anything the engine asks after a Persist waits for the disk.
        self.sync_wal()?;
        match output {
            Output::Persist(_) => unreachable!("handled above"),
            Output::WakeAt { at_ms } => self.wake_at = Some(at_ms),
            Output::BuildProposal { height } if height != self.tip.height + 1 => {
                // Asked before the engine heard that sync committed this height (its `Synced`
                // inputs wait in the queue): building would put the block on the wrong parent.
                tracing::debug!(target: "node::consensus", height, decided = self.tip.height, "not building a proposal for a height already decided");
            }
            Output::BuildProposal { height } => {
                let signers = self.signers(height);
                let built = self.pipeline.build(height, &self.tip, &signers, self.now_ms())?;
                let header = built.block.header.clone();
                self.candidates.insert(built.hash, built);
                self.push(Input::ProposalBuilt { header, now_ms: self.now_ms() });
            }
            Output::Validate { height, block_hash } => self.validate(height, block_hash)?,
            Output::Broadcast(message) => self.broadcast(message),
            Output::Commit { height, block_hash, certificate } => {
                match self.candidates.remove(&block_hash) {
                    Some(built) => self.commit_decided(built, certificate)?,
                    None => {
                        tracing::error!(target: "node::consensus", height, block = %block_hash, "decided a block this node does not hold; block sync will fetch it")
                    }
                }
            }
            Output::Invalid { reason } => {
                self.node().metrics.invalid_messages.inc();
                match (from, &self.transport) {
                    (Some(peer), Some(transport)) => transport.disconnect(peer, &reason),
                    _ => tracing::warn!(target: "node::consensus", reason, "refused a message"),
                }
            }
            Output::Equivocation { validator, height, round, kind } => {
                self.node().metrics.equivocations.inc();
                tracing::warn!(target: "node::consensus", validator, height, round, ?kind, "validator signed two different votes for one step (Byzantine evidence)");
            }
        }
        Ok(())
    }

    fn block_of(&self, hash: &Hash) -> Option<&Block> {
        self.candidates.get(hash).map(|b| &b.block).or_else(|| self.bodies.get(hash))
    }

    /// Appends to the WAL (synced before the next output is carried out). With this node's
    /// proposal or lock goes the block it names, so it can be proposed again after a restart.
    fn persist(&mut self, message: Message) -> Result<(), NodeError> {
        if self.wal.is_none() {
            return Ok(());
        }
        let block_hash = match &message {
            Message::Proposal(p) => Some(p.proposal.block_hash),
            Message::Vote(v) if self.is_me(v.vote.height, v.validator) => {
                v.vote.block_hash.filter(|_| v.vote.kind == consortia_types::VoteKind::Precommit)
            }
            Message::Vote(_) | Message::Raft(_) => None,
        };
        // Once per block: a proposer's proposal and its own lock name the same block.
        let block_hash = block_hash.filter(|h| !self.wal_blocks.contains(h));
        let block = block_hash.and_then(|h| self.block_of(&h).cloned());
        let algo = self.node().hash_algorithm();
        let io = |e: std::io::Error| NodeError::Wal(e.to_string());
        let Some(wal) = self.wal.as_mut() else { return Ok(()) };
        wal.append(&WalEntry::Message(message)).map_err(io)?;
        if let Some(block) = block {
            self.wal_blocks.insert(block.header.hash(algo));
            wal.append(&WalEntry::Block(block)).map_err(io)?;
        }
        self.wal_dirty = true;
        Ok(())
    }

    fn sync_wal(&mut self) -> Result<(), NodeError> {
        if !self.wal_dirty {
            return Ok(());
        }
        if let Some(wal) = self.wal.as_mut() {
            wal.sync().map_err(|e| NodeError::Wal(e.to_string()))?;
        }
        self.wal_dirty = false;
        Ok(())
    }

    /// Sends a consensus message to every peer; a proposal goes with its block, compact to
    /// peers that speak protocol 2.
    fn broadcast(&self, message: Message) {
        let Some(transport) = &self.transport else { return };
        let Message::Proposal(p) = &message else {
            transport.broadcast(Wire::Consensus { message, block: None }.encode());
            return;
        };
        let hash = p.proposal.block_hash;
        let Some(block) = self.block_of(&hash) else {
            return; // proposed before a restart and not kept: nothing to send
        };
        transport.broadcast_by_protocol(&mut |protocol| {
            let message = message.clone();
            if protocol < 2 {
                return Wire::Consensus { message, block: Some(Box::new(block.clone())) }.encode();
            }
            let algo = self.node().hash_algorithm();
            let hashes = match self.candidates.get(&hash) {
                Some(built) => built.tx_hashes.clone(),
                None => block.transactions.iter().map(|t| t.hash(algo)).collect(),
            };
            let header = Box::new(block.header.clone());
            Wire::CompactProposal { message, header, hashes }.encode()
        });
    }

    /// Re-executes a proposed block on top of the decided parent and tells the engine.
    fn validate(&mut self, height: Height, hash: Hash) -> Result<(), NodeError> {
        if self.candidates.contains_key(&hash) {
            self.push(Input::Validated { block_hash: hash, valid: true, now_ms: self.now_ms() });
            return Ok(());
        }
        let Some(block) = self.bodies.get(&hash).cloned() else { return Ok(()) };
        if height != self.tip.height + 1 {
            return Ok(());
        }
        let signers = self.signers(height);
        let valid = match self.pipeline.execute_received(
            block,
            &self.tip,
            &signers,
            self.now_ms(),
        )? {
            Ok(built) => {
                self.candidates.insert(hash, built);
                true
            }
            Err(rejection) => {
                tracing::warn!(target: "node::consensus", height, block = %hash, %rejection, "proposed block is invalid; voting nil");
                false
            }
        };
        self.push(Input::Validated { block_hash: hash, valid, now_ms: self.now_ms() });
        Ok(())
    }

    /// Writes a decided block (in height order, pipelined with the next block's execution).
    fn commit_decided(
        &mut self,
        mut built: Built,
        certificate: CommitCertificate,
    ) -> Result<(), NodeError> {
        built.block.certificate = Some(certificate);
        let height = built.block.header.height;
        let node = self.node().clone();
        if self.tip.height + 1 == height {
            let interval = built.block.header.time_ms.saturating_sub(self.tip.time_ms);
            node.metrics.block_interval.observe(interval as f64 / 1000.0);
        }
        self.tasks.finish_commit()?;
        let built = Arc::new(built);
        // The previous block is on disk now: from here on admission reads through this one,
        // before the pool forgets its transactions (or a sender's next nonce would be read from
        // the disk, a block behind).
        *node.decided.lock() = Some(built.clone());
        // Whoever built it, its transactions are done; ours that went into a losing block are
        // offered again.
        let mempool = &node.mempool;
        mempool.remove_committed(built.block.transactions.iter().map(|t| (t.sender(), t.nonce())));
        for (_, other) in std::mem::take(&mut self.candidates) {
            mempool.release(&other.pool_txs);
        }
        self.tip = Tip {
            height,
            hash: built.hash,
            time_ms: built.block.header.time_ms,
            pending: Some(built.clone()),
        };
        self.bodies.retain(|_, b| b.header.height > height);
        self.assembling.retain(|_, a| a.height() > height);
        self.wal_blocks.retain(|h| self.bodies.contains_key(h));
        self.body_senders
            .retain(|h, _| self.bodies.contains_key(h) || self.assembling.contains_key(h));
        self.height_since_ms = self.now_ms();
        if let Some(wal) = self.wal.as_mut() {
            wal.compact(height).map_err(|e| NodeError::Wal(e.to_string()))?;
        }
        self.learn_governance(&built)?;
        let committer = node.clone();
        self.tasks.start_commit(Box::new(move || Pipeline::commit(&committer, &built)));
        self.push(Input::TxsReady { count: mempool.ready_count(), now_ms: self.now_ms() });
        Ok(())
    }

    fn on_network(&mut self, event: NetEvent) -> Result<(), NodeError> {
        match event {
            NetEvent::Connected(peer) => self.send_status(Some(peer)),
            NetEvent::Disconnected(peer) => {
                self.peer_heights.remove(&peer);
                self.block_sync.forget(peer);
            }
            NetEvent::Frame(peer, frame) => match borsh::from_slice::<Wire>(&frame) {
                Ok(wire) => self.on_wire(peer, wire, frame.into_credit())?,
                Err(e) => self.misbehaved(peer, &format!("undecodable message: {e}")),
            },
        }
        Ok(())
    }

    /// A peer sent a block by sync that does not verify: what it sent is dropped, and asked of
    /// others.
    fn sync_refused(&mut self, peer: PeerId, reason: &str) {
        self.block_sync.forget(peer);
        self.misbehaved(peer, reason);
    }

    fn misbehaved(&self, peer: PeerId, reason: &str) {
        if let Some(transport) = &self.transport {
            transport.disconnect(peer, reason);
        }
    }

    /// Handles a peer's message; `credit` is the frame's share of the peer's receive budget,
    /// held until the work the message starts is done.
    fn on_wire(&mut self, peer: PeerId, wire: Wire, credit: Credit) -> Result<(), NodeError> {
        match wire {
            Wire::Status { next_height } => {
                self.peer_heights.insert(peer, next_height);
                self.maybe_sync();
            }
            Wire::Consensus { message, block } => {
                if let Message::Proposal(p) = &message {
                    let algo = self.node().hash_algorithm();
                    let Some(block) =
                        block.filter(|b| b.header.hash(algo) == p.proposal.block_hash)
                    else {
                        self.misbehaved(peer, "proposal without its block");
                        return Ok(());
                    };
                    let hash = p.proposal.block_hash;
                    if let Some(assembly) = self.assembling.remove(&hash) {
                        // A peer speaking protocol 1 sent whole what was being filled in.
                        self.bodies.insert(hash, *block);
                        for (from, held) in assembly.into_proposals() {
                            self.hand_to_engine(from, held);
                        }
                    } else if self.room_for(peer, hash, block.header.height) {
                        self.body_senders.insert(hash, peer);
                        self.bodies.insert(hash, *block);
                    }
                }
                self.hand_to_engine(peer, message);
            }
            Wire::CompactProposal { message, header, hashes } => {
                self.on_compact(peer, message, header, hashes);
            }
            Wire::GetBlockTxs { block_hash, positions } => {
                self.serve_block_txs(peer, block_hash, &positions);
            }
            Wire::BlockTxs { block_hash, txs } => self.on_block_txs(peer, block_hash, txs),
            Wire::Txs(raws) => {
                let node = self.node().clone();
                self.tasks.spawn(Box::new(move || {
                    node.admit_blocking(&raws);
                    drop(credit);
                }));
            }
            Wire::SyncRequest { from, max } => self.serve_sync(peer, from, max),
            Wire::SyncBlocks(blocks) => self.apply_synced(peer, blocks)?,
            Wire::GetHeaders { from, max } => self.serve(peer, move |node| {
                let headers = state_sync::serve_headers(
                    &node.store,
                    node.hash_algorithm(),
                    from,
                    max,
                    SYNC_BYTES,
                );
                (!headers.is_empty()).then_some(Wire::Headers(headers))
            }),
            Wire::GetStateChunk { height, after, max } => self.serve(peer, move |node| {
                let leaves = max.min(state_sync::CHUNK_LEAVES) as usize;
                let limit = ChunkLimit { leaves, bytes: state_sync::CHUNK_BYTES };
                node.store.state_chunk(height, after, limit).ok().map(Wire::StateChunk)
            }),
            Wire::GetBaseBlock { height } => self.serve(peer, move |node| {
                let (block, receipts) = state_sync::serve_base(&node.store, height)?;
                Some(Wire::BaseBlock { block: Box::new(block), receipts })
            }),
            Wire::Headers(headers) => self.state_synced(peer, Answer::Headers(headers))?,
            Wire::StateChunk(chunk) => self.state_synced(peer, Answer::Chunk(chunk))?,
            Wire::BaseBlock { block, receipts } => {
                self.state_synced(peer, Answer::Base(block, receipts))?;
            }
        }
        Ok(())
    }

    fn hand_to_engine(&mut self, peer: PeerId, message: Message) {
        let now_ms = self.now_ms();
        self.inputs.push_back((Input::Message { message, now_ms }, Some(peer)));
    }

    /// Whether a proposed block of `height` from `peer` is worth keeping (of the next two
    /// heights, and not known yet) and fits in the room the peer has.
    fn room_for(&self, peer: PeerId, hash: Hash, height: Height) -> bool {
        let useful = height > self.tip.height && height <= self.tip.height + 2;
        let known = self.bodies.contains_key(&hash) || self.assembling.contains_key(&hash);
        let from_peer = self.body_senders.values().filter(|p| **p == peer).count();
        let held = self.bodies.len() + self.assembling.len();
        useful && !known && held < MAX_BODIES && from_peer < MAX_BODIES_PER_PEER
    }

    /// A proposal with its block compact: the block is filled in from the pool, and what the
    /// pool lacks is asked of the sender; the proposal reaches the engine once the block is
    /// whole. A block this node holds already, or has no room for, is not assembled (the
    /// engine then hears the proposal as with a whole block it did not keep).
    fn on_compact(
        &mut self,
        peer: PeerId,
        message: Message,
        header: Box<Header>,
        hashes: Vec<Hash>,
    ) {
        let Message::Proposal(p) = &message else {
            self.misbehaved(peer, "a compact block without a proposal");
            return;
        };
        let hash = p.proposal.block_hash;
        let node = self.node().clone();
        if header.hash(node.hash_algorithm()) != hash {
            self.misbehaved(peer, "proposal without its block");
            return;
        }
        if let Some(mut assembly) = self.assembling.remove(&hash) {
            // Proposed again (a later round, a leader's resend): the ask or its answer may
            // have been lost, so the missing transactions are asked of this sender.
            assembly.also(peer, message);
            self.assembled(hash, assembly);
            return;
        }
        if self.block_of(&hash).is_some() || !self.room_for(peer, hash, header.height) {
            self.hand_to_engine(peer, message);
            return;
        }
        let tx_root = |hashes: &[Hash]| node.executor.tx_root(hashes);
        let assembly =
            match Assembly::start(peer, message, (*header, hashes), &node.mempool, tx_root) {
                Ok(assembly) => assembly,
                Err(reason) => return self.misbehaved(peer, &reason),
            };
        self.body_senders.insert(hash, peer);
        node.metrics.compact_blocks.inc();
        self.assembled(hash, assembly);
    }

    /// Hands a whole block and its proposal on, or asks the sender for what is missing.
    fn assembled(&mut self, hash: Hash, assembly: Assembly) {
        match assembly.finish() {
            Ok((block, proposals)) => {
                self.bodies.insert(hash, block);
                for (peer, message) in proposals {
                    self.hand_to_engine(peer, message);
                }
            }
            Err(assembly) => {
                let mut assembly = *assembly;
                let positions = assembly.ask();
                self.node().metrics.compact_txs_fetched.inc_by(positions.len() as u64);
                tracing::debug!(target: "node::consensus", block = %hash, missing = positions.len(), "asking the proposer for transactions");
                if let Some(transport) = &self.transport {
                    transport.send(
                        assembly.from,
                        Wire::GetBlockTxs { block_hash: hash, positions }.encode(),
                    );
                }
                self.assembling.insert(hash, assembly);
            }
        }
    }

    fn on_block_txs(&mut self, peer: PeerId, hash: Hash, txs: Vec<Transaction>) {
        let Some(mut assembly) = self.assembling.remove(&hash) else { return };
        if !assembly.was_asked(&peer) {
            self.assembling.insert(hash, assembly);
            return;
        }
        match assembly.fill(txs, self.node().hash_algorithm()) {
            Ok(()) => self.assembled(hash, assembly),
            Err(reason) => {
                self.body_senders.remove(&hash);
                self.misbehaved(peer, &reason);
            }
        }
    }

    /// Answers a peer assembling a block this node proposed (or holds).
    fn serve_block_txs(&self, peer: PeerId, hash: Hash, positions: &[u32]) {
        let (Some(transport), Some(block)) = (&self.transport, self.block_of(&hash)) else {
            return;
        };
        match compact::transactions_at(block, positions) {
            Some(txs) => transport.send(peer, Wire::BlockTxs { block_hash: hash, txs }.encode()),
            None => self.misbehaved(peer, "asked for transactions a block does not hold"),
        }
    }

    fn send_status(&self, to: Option<PeerId>) {
        let Some(transport) = &self.transport else { return };
        let next_height = *self.node().committed.borrow() + 1;
        let frame = Wire::Status { next_height }.encode();
        match to {
            Some(peer) => transport.send(peer, frame),
            None => transport.broadcast(frame),
        }
    }

    /// Asks peers ahead for blocks when this node is behind: by two blocks or more, or by one
    /// for a while (an idle chain sends no more votes for a height it decided).
    fn maybe_sync(&mut self) {
        let now_ms = self.clock.now_ms();
        if self.state_syncing(now_ms) {
            return;
        }
        let Some(transport) = &self.transport else { return };
        let mine = self.tip.height + 1;
        let theirs = self.peer_heights.values().max().copied().unwrap_or(0);
        let behind = theirs.saturating_sub(mine);
        if behind == 0 || (behind < 2 && now_ms < self.height_since_ms + STUCK_MS) {
            return;
        }
        for (peer, ask) in self.block_sync.requests(self.tip.height, &self.peer_heights, now_ms) {
            tracing::debug!(target: "node::sync", peer = %peer, from = ask.from, max = ask.max, "asking for blocks");
            transport.send(peer, Wire::SyncRequest { from: ask.from, max: ask.max }.encode());
        }
    }

    fn serve_sync(&self, peer: PeerId, from: Height, max: u32) {
        self.serve(peer, move |node| {
            let store = &node.store;
            let mut blocks = Vec::new();
            let mut bytes = 0;
            let latest = store.latest_height().unwrap_or(0);
            let last = latest.min(from.saturating_add(u64::from(max.clamp(1, SYNC_BATCH))) - 1);
            for height in from.max(1)..=last {
                let Ok(Some(block)) = store.block(height) else { break };
                bytes += borsh::object_length(&block).unwrap_or(0);
                blocks.push(block);
                if bytes > SYNC_BYTES {
                    break;
                }
            }
            (!blocks.is_empty()).then_some(Wire::SyncBlocks(blocks))
        });
    }

    /// Answers a peer's request off the consensus thread: `answer` reads the store.
    fn serve(&self, peer: PeerId, answer: impl FnOnce(&Node) -> Option<Wire> + Send + 'static) {
        let Some(transport) = self.transport.clone() else { return };
        let node = self.node().clone();
        self.tasks.spawn(Box::new(move || {
            if let Some(wire) = answer(&node) {
                transport.send(peer, wire.encode());
            }
        }));
    }

    /// Whether a state sync runs (then block sync waits): one begins when this node holds
    /// only block 0 and a peer is far ahead, and it asks its next question here.
    fn state_syncing(&mut self, now_ms: u64) -> bool {
        let Some(transport) = self.transport.clone() else { return false };
        if self.state_sync.is_none() {
            // The median of the peers' heights: a peer claiming a height far ahead could
            // otherwise set a target no honest peer can reach.
            let mut heights: Vec<Height> = self.peer_heights.values().copied().collect();
            heights.sort_unstable();
            let theirs = heights.get(heights.len().saturating_sub(1) / 2).copied().unwrap_or(0);
            let after = self.node().state_sync_after();
            let far = after.is_some_and(|after| theirs.saturating_sub(1) >= after.max(1));
            if self.state_sync_tried || self.tip.height != 0 || !far {
                return false;
            }
            let target = theirs - 1;
            tracing::info!(target: "node::sync", target, "far behind with no blocks: state sync");
            match StateSync::new(self.node(), target, now_ms) {
                Ok(sync) => self.state_sync = Some(sync),
                Err(e) => {
                    tracing::warn!(target: "node::sync", error = %e, "state sync cannot begin; replaying blocks");
                    self.state_sync_tried = true;
                    return false;
                }
            }
        }
        let Some(sync) = self.state_sync.as_mut() else { return false };
        if sync.given_up(now_ms) {
            tracing::warn!(target: "node::sync", "state sync made no progress; replaying blocks instead");
            self.state_sync = None;
            self.state_sync_tried = true;
            return false;
        }
        let ahead: Vec<PeerId> = self
            .peer_heights
            .iter()
            .filter(|(p, h)| **h > sync.target() && transport.protocol(**p) >= STATE_SYNC_PROTOCOL)
            .map(|(p, _)| *p)
            .collect();
        if let Some((peer, ask)) = sync.next(&ahead, now_ms) {
            transport.send(peer, ask.into_wire().encode());
        }
        true
    }

    /// A peer's answer to this node's state sync.
    fn state_synced(&mut self, peer: PeerId, answer: Answer) -> Result<(), NodeError> {
        let node = self.node().clone();
        let now_ms = self.clock.now_ms();
        let Some(sync) = self.state_sync.as_mut() else { return Ok(()) };
        if let (Answer::Chunk(chunk), Some(transport)) = (&answer, &self.transport)
            && let Some(ask) = sync.ask_ahead(peer, chunk, now_ms)
        {
            transport.send(peer, ask.into_wire().encode());
        }
        match sync.answer(&node, peer, answer, now_ms) {
            Ok(true) => {
                self.state_sync = None;
                self.state_sync_tried = true;
                node.metrics.state_syncs.inc();
                self.restart_at_head()?;
            }
            Ok(false) => {}
            Err(reason) => self.misbehaved(peer, &reason),
        }
        self.maybe_sync();
        Ok(())
    }

    /// Takes blocks a peer sent, then verifies and commits those next in line, whoever sent
    /// them: each must carry a certificate of more than two thirds of the validators and
    /// re-execute to the roots in its header. A sender whose block does not is disconnected and
    /// its blocks dropped, to be asked of others.
    fn apply_synced(&mut self, peer: PeerId, blocks: Vec<Block>) -> Result<(), NodeError> {
        let algo = self.node().hash_algorithm();
        self.block_sync.received(peer, blocks, self.tip.height);
        while let Some((peer, block)) = self.block_sync.next(self.tip.height) {
            let height = block.header.height;
            let Some(certificate) = block.certificate.clone() else {
                self.sync_refused(peer, "synced block without a certificate");
                break;
            };
            let kind = self.node().genesis.params.consensus;
            if let Err(e) = certificate.verify(&block.header, algo, self.set(height), kind) {
                self.sync_refused(peer, &format!("synced block {height}: {e}"));
                break;
            }
            let hash = block.header.hash(algo);
            let built = match self.candidates.remove(&hash) {
                Some(built) => built,
                None => match self.pipeline.execute_received(
                    block,
                    &self.tip,
                    &self.signers(height),
                    self.now_ms(),
                )? {
                    Ok(built) => built,
                    Err(Rejection::Malformed(reason)) => {
                        self.sync_refused(peer, &format!("synced block {height}: {reason}"));
                        break;
                    }
                    Err(Rejection::Diverged(reason)) => {
                        return Err(NodeError::Diverged { height, reason });
                    }
                },
            };
            tracing::info!(target: "node::sync", height, peer = %peer, "committed a block from sync");
            self.node().metrics.synced_blocks.inc();
            self.commit_decided(built, certificate)?;
            self.push(Input::Synced { height, now_ms: self.now_ms() });
        }
        self.maybe_sync();
        Ok(())
    }
}

/// The store's last block.
fn head_header(node: &Node) -> Result<StoredHeader, NodeError> {
    Ok(node.store.header(node.store.latest_height()?)?.ok_or_else(|| StorageError::Corrupt {
        table: "headers",
        detail: "latest block missing".into(),
    })?)
}

/// The validator sets of the two heights after `latest`. A store restored by state sync has
/// no state for the first of them; it recorded that set with the restore.
fn sets_after(
    node: &Node,
    latest: &StoredHeader,
) -> Result<BTreeMap<Height, Vec<Validator>>, NodeError> {
    let next = latest.header.height + 1;
    let restored = node.store.base_validators()?;
    let set_of = |height| match &restored {
        Some((at, set)) if *at == height => Ok(set.clone()),
        _ => governance::validators_at(&*node.store, height),
    };
    Ok(BTreeMap::from([(next, set_of(next)?), (next + 1, set_of(next + 1)?)]))
}

/// The consensus engine for the height after `latest`, given the messages a WAL kept.
fn engine_after(
    node: &Node,
    latest: &StoredHeader,
    sets: &BTreeMap<Height, Vec<Validator>>,
    params: &governance::Params,
    now_ms: u64,
    messages: Vec<Message>,
) -> Result<Box<dyn Engine>, NodeError> {
    let genesis = &node.genesis;
    let next = latest.header.height + 1;
    let chain_params = params.apply_to(&genesis.params);
    Ok(match genesis.params.consensus {
        ConsensusKind::Solo => {
            let key = node.key.clone().ok_or(NodeError::NotValidator)?;
            let solo =
                Solo::new(genesis.chain_id, node.hash_algorithm(), key, chain_params, next, now_ms);
            Box::new(solo)
        }
        kind => {
            let config = BftConfig {
                chain_id: genesis.chain_id,
                hash: node.hash_algorithm(),
                validators: sets[&next].clone(),
                params: chain_params,
                key: node.key.clone(),
            };
            if kind == ConsensusKind::Raft {
                // Terms never go back: the last certificate's round is the least it can be.
                let last_term = latest.certificate.as_ref().map_or(0, |c| c.round);
                Box::new(Raft::new(config, next, last_term, now_ms, messages))
            } else {
                Box::new(Bft::new(config, next, now_ms, messages))
            }
        }
    })
}
