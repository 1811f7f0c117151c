//! A deterministic simulator for the BFT and Raft engines: a seeded scheduler over a virtual clock,
//! simulated links (latency, jitter and so reordering, loss, partitions that heal), crashes with
//! restarts from persisted state (the decided chain and the consensus WAL), block sync, and
//! Byzantine validators. One seed gives one trace.
//!
//! Every run checks:
//! - agreement: no two nodes ever hold different blocks at one height;
//! - validity: every decided block is valid and carries a certificate that verifies;
//! - no honest double signing: no honest validator ever signs two different messages for one
//!   height, round and step, across crashes;
//! - liveness: once the network heals and crashed nodes are back, every honest node decides
//!   new blocks within bounded virtual time.

use std::collections::BTreeMap;

use consortia_consensus::{
    Bft, BftConfig, Engine, Input, Message, Output, Raft, RaftKind, SignedVote,
};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey, Scheme};
use consortia_types::{
    ChainParams, CommitCertificate, ConsensusKind, Header, Height, Validator, Vote, VoteKind,
};

pub(crate) const CHAIN_ID: u64 = 77;
const HASH: HashAlgorithm = HashAlgorithm::Sha256;

pub(crate) use consortia_test_utils::sim::{Behavior, Crash, Faults, Partition, Rng};

/// One simulated run.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) seed: u64,
    pub(crate) validators: usize,
    pub(crate) faults: Faults,
    /// Heights every honest node must gain after `faults.heal_ms`...
    pub(crate) liveness_heights: u64,
    /// ...within this much virtual time.
    pub(crate) liveness_window_ms: u64,
    pub(crate) params: ChainParams,
}

impl Scenario {
    /// A calm network of `n` honest validators.
    pub(crate) fn calm(seed: u64, n: usize) -> Self {
        Scenario {
            seed,
            validators: n,
            faults: Faults::calm(n),
            liveness_heights: 5,
            liveness_window_ms: 60_000,
            params: ChainParams {
                consensus: ConsensusKind::Bft,
                block_interval_ms: 20,
                ..ChainParams::default()
            },
        }
    }

    /// A random crash-fault scenario for Raft: 3 or 5 validators, all honest, with loss,
    /// partitions and crashes drawn from the seed.
    pub(crate) fn random_raft(seed: u64) -> Self {
        let mut s = Scenario::random(seed);
        let mut rng = Rng::new(seed ^ 0x0AF7);
        let n = if rng.chance(500) { 3 } else { 5 };
        s.validators = n;
        s.faults.behaviors = vec![Behavior::Honest; n];
        s.params.consensus = ConsensusKind::Raft;
        for p in &mut s.faults.partitions {
            for g in &mut p.groups {
                g.retain(|v| *v < n);
            }
            let missing: Vec<usize> =
                (0..n).filter(|v| !p.groups.iter().any(|g| g.contains(v))).collect();
            p.groups[0].extend(missing);
        }
        for c in &mut s.faults.crashes {
            c.node %= n;
        }
        s
    }

    /// What `scripts/test` runs for each seed: 4 validators, one of them Byzantine (or none),
    /// random latency, loss, partitions and crashes, all drawn from the seed.
    pub(crate) fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5CE7_A210);
        Scenario { faults: Faults::random(&mut rng, 4), ..Scenario::calm(seed, 4) }
    }
}

/// What travels between simulated nodes.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // a test harness: clarity over size
enum Wire {
    /// A consensus message; a proposal goes with its block (here, a header).
    Consensus(Message, Option<Header>),
    /// Undecodable or unverifiable noise (decoded as a borsh `Message` if it happens to be one).
    Bytes(Vec<u8>),
    /// "My chain is this long": lets a node that fell behind notice.
    Status {
        next_height: Height,
    },
    SyncRequest {
        from: Height,
    },
    SyncResponse {
        blocks: Vec<(Header, CommitCertificate)>,
    },
}

#[derive(Clone, Debug)]
enum Event {
    Deliver { to: usize, from: usize, wire: Wire },
    Wake { node: usize },
    Built { node: usize, incarnation: u64, header: Header },
    Validated { node: usize, incarnation: u64, hash: Hash, valid: bool },
    Status { node: usize },
    Crash { node: usize },
    Restart { node: usize },
}

struct Node {
    key: PrivateKey,
    behavior: Behavior,
    engine: Option<Box<dyn Engine>>,
    /// Bumped on every restart, so work started before a crash is dropped.
    incarnation: u64,
    /// Survives crashes: the decided chain (index = height; 0 is genesis) and the WAL.
    chain: Vec<(Header, Option<CommitCertificate>)>,
    wal: Vec<Message>,
    /// The blocks this node proposed or precommitted, persisted with the WAL.
    wal_blocks: Vec<Header>,
    /// Volatile: blocks received or built for the current height.
    blocks: BTreeMap<Hash, Header>,
    wake_at: Option<u64>,
}

/// What a finished run reports.
#[derive(Debug)]
pub(crate) struct Report {
    /// Every delivered event and decision, in order: two runs of a seed must be equal.
    pub(crate) trace: Vec<String>,
    pub(crate) heights: Vec<Height>,
    pub(crate) invalid_reports: usize,
    pub(crate) messages: u64,
}

pub(crate) struct Sim {
    scenario: Scenario,
    rng: Rng,
    now_ms: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    validators: Vec<Validator>,
    /// Agreement: the first block seen decided at each height.
    decided: BTreeMap<Height, Hash>,
    /// No honest double signing: the first message each honest validator signed per slot.
    signed: BTreeMap<(usize, Height, u32, u8), Message>,
    trace: Vec<String>,
    invalid_reports: usize,
    messages: u64,
}

/// The state root a valid block must carry: a stand-in for re-execution.
fn expected_state_root(parent: Hash, tx_root: Hash) -> Hash {
    let mut bytes = parent.0.to_vec();
    bytes.extend_from_slice(&tx_root.0);
    HASH.digest(&bytes)
}

fn header_hash(h: &Header) -> Hash {
    h.hash(HASH)
}

impl Sim {
    pub(crate) fn new(scenario: Scenario) -> Self {
        let mut rng = Rng::new(scenario.seed);
        let keys: Vec<PrivateKey> = (0..scenario.validators)
            .map(|i| {
                let mut secret = [0u8; 32];
                secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
                PrivateKey::from_secret_bytes(Scheme::Ed25519, &secret).expect("valid key")
            })
            .collect();
        let validators: Vec<Validator> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Validator { name: format!("v{i}"), public_key: k.public_key(), power: 1 })
            .collect();
        let genesis = Header {
            chain_id: CHAIN_ID,
            height: 0,
            parent_hash: Hash::ZERO,
            time_ms: 0,
            proposer: Default::default(),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        };
        let nodes = keys
            .into_iter()
            .zip(&scenario.faults.behaviors)
            .map(|(key, behavior)| Node {
                key,
                behavior: *behavior,
                engine: None,
                incarnation: 0,
                chain: vec![(genesis.clone(), None)],
                wal: vec![],
                wal_blocks: vec![],
                blocks: BTreeMap::new(),
                wake_at: None,
            })
            .collect();
        let mut sim = Sim {
            rng: Rng::new(rng.next_u64()),
            scenario,
            now_ms: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            validators,
            decided: BTreeMap::new(),
            signed: BTreeMap::new(),
            trace: vec![],
            invalid_reports: 0,
            messages: 0,
        };
        for node in 0..sim.nodes.len() {
            sim.start(node);
            let jitter = sim.rng.below(500);
            sim.push(jitter, Event::Status { node });
        }
        for crash in sim.scenario.faults.crashes.clone() {
            sim.push_at(crash.at_ms, Event::Crash { node: crash.node });
            sim.push_at(crash.restart_ms, Event::Restart { node: crash.node });
        }
        sim
    }

    fn push(&mut self, after_ms: u64, event: Event) {
        self.push_at(self.now_ms + after_ms, event);
    }

    fn push_at(&mut self, at_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((at_ms, self.seq), event);
    }

    fn config(&self, node: usize) -> BftConfig {
        BftConfig {
            chain_id: CHAIN_ID,
            hash: HASH,
            validators: self.validators.clone(),
            params: self.scenario.params.clone(),
            key: Some(self.nodes[node].key.clone()),
        }
    }

    /// (Re)starts a node's engine from its persisted chain and WAL.
    fn start(&mut self, node: usize) {
        let config = self.config(node);
        let n = &mut self.nodes[node];
        n.incarnation += 1;
        n.blocks = n.wal_blocks.iter().map(|h| (header_hash(h), h.clone())).collect();
        n.wake_at = None;
        let next = n.chain.len() as Height;
        let wal = n.wal.clone();
        n.engine = Some(match self.scenario.params.consensus {
            ConsensusKind::Raft => {
                let last_term = n.chain.last().and_then(|(_, c)| c.as_ref()).map_or(0, |c| c.round);
                Box::new(Raft::new(config, next, last_term, self.now_ms, wal))
            }
            _ => Box::new(Bft::new(config, next, self.now_ms, wal)),
        });
        // The load: every node always has transactions waiting.
        self.input(node, Input::TxsReady { count: 100, now_ms: self.now_ms });
    }

    fn alive(&self, node: usize) -> bool {
        self.nodes[node].engine.is_some()
    }

    fn send(&mut self, from: usize, to: usize, wire: Wire) {
        if from == to || !self.scenario.faults.connected(self.now_ms, from, to) {
            return;
        }
        let Some(latency) = self.scenario.faults.link(&mut self.rng, self.now_ms) else { return };
        self.messages += 1;
        self.push(latency, Event::Deliver { to, from, wire });
    }

    fn broadcast(&mut self, from: usize, wire: Wire) {
        for to in 0..self.nodes.len() {
            self.send(from, to, wire.clone());
        }
    }

    fn input(&mut self, node: usize, input: Input) {
        let Some(engine) = self.nodes[node].engine.as_mut() else { return };
        let debug = std::env::var("SIM_DEBUG").is_ok();
        if debug && !matches!(input, Input::Tick { .. }) {
            println!("{} n{node} <- {input:?}", self.now_ms);
        }
        let outputs = engine.handle(input);
        for output in outputs {
            if debug && !matches!(output, Output::WakeAt { .. }) {
                println!("{} n{node} -> {output:?}", self.now_ms);
            }
            self.carry_out(node, output);
        }
    }

    fn carry_out(&mut self, node: usize, output: Output) {
        let incarnation = self.nodes[node].incarnation;
        match output {
            Output::BuildProposal { height } => {
                let parent = header_hash(&self.nodes[node].chain.last().expect("genesis").0);
                let tx_root = self.rng.hash();
                let mut state_root = expected_state_root(parent, tx_root);
                if self.nodes[node].behavior == Behavior::InvalidProposer {
                    state_root = self.rng.hash();
                }
                let header = Header {
                    chain_id: CHAIN_ID,
                    height,
                    parent_hash: parent,
                    time_ms: self.now_ms,
                    proposer: self.nodes[node].key.public_key().address(),
                    tx_count: 100,
                    tx_root,
                    state_root,
                    receipts_root: Hash::ZERO,
                    next_validators_hash: Hash::ZERO,
                };
                self.nodes[node].blocks.insert(header_hash(&header), header.clone());
                let build_ms = 1 + self.rng.below(10);
                self.push(build_ms, Event::Built { node, incarnation, header });
            }
            Output::Validate { height, block_hash } => {
                let n = &self.nodes[node];
                let parent = &n.chain.last().expect("genesis").0;
                let Some(h) = n.blocks.get(&block_hash) else { return };
                let valid = h.height == height
                    && h.parent_hash == header_hash(parent)
                    && h.state_root == expected_state_root(h.parent_hash, h.tx_root);
                let exec_ms = 1 + self.rng.below(10);
                self.push(exec_ms, Event::Validated { node, incarnation, hash: block_hash, valid });
            }
            Output::Persist(message) => {
                let (own, block) = match &message {
                    Message::Proposal(p) => (true, Some(p.proposal.block_hash)),
                    Message::Vote(v) => (
                        v.validator as usize == node,
                        v.vote.block_hash.filter(|_| v.vote.kind == VoteKind::Precommit),
                    ),
                    Message::Raft(r) => (r.message.from as usize == node, None),
                };
                if own && self.nodes[node].behavior == Behavior::Honest {
                    self.check_no_double_sign(node, &message);
                }
                let n = &mut self.nodes[node];
                if let Some(header) = block.filter(|_| own).and_then(|b| n.blocks.get(&b)) {
                    n.wal_blocks.push(header.clone());
                }
                n.wal.push(message);
            }
            Output::Broadcast(message) => self.broadcast_as(node, message),
            Output::Commit { height, block_hash, certificate } => {
                self.commit(node, height, block_hash, certificate)
            }
            Output::Invalid { .. } => self.invalid_reports += 1,
            Output::Equivocation { validator, .. } => {
                self.invalid_reports += 1;
                let honest = self.nodes[validator as usize].behavior == Behavior::Honest;
                assert!(!honest, "seed {}: honest validator {validator} equivocated", self.seed());
            }
            Output::WakeAt { at_ms } => {
                if self.nodes[node].wake_at != Some(at_ms) {
                    self.nodes[node].wake_at = Some(at_ms);
                    self.push_at(at_ms.max(self.now_ms), Event::Wake { node });
                }
            }
        }
    }

    fn seed(&self) -> u64 {
        self.scenario.seed
    }

    fn check_no_double_sign(&mut self, node: usize, message: &Message) {
        let slot = match message {
            Message::Proposal(p) => (node, p.proposal.height, p.proposal.round, 0),
            Message::Vote(v) => (node, v.vote.height, v.vote.round, 1 + v.vote.kind as u8),
            // One vote request and one vote granted per term, whatever the height.
            Message::Raft(r) => {
                let kind = match r.message.kind {
                    RaftKind::RequestVote { .. } => 3,
                    RaftKind::GrantVote { .. } => 4,
                    RaftKind::Heartbeat => return,
                };
                (node, 0, r.message.term, kind)
            }
        };
        if let Some(first) = self.signed.get(&slot) {
            assert_eq!(first, message, "seed {}: honest node {node} signed twice", self.seed());
        } else {
            self.signed.insert(slot, message.clone());
        }
    }

    /// Sends what the engine asked to broadcast, the way this node's behavior dictates.
    fn broadcast_as(&mut self, node: usize, message: Message) {
        let body = |n: &Node, m: &Message| match m {
            Message::Proposal(p) => n.blocks.get(&p.proposal.block_hash).cloned(),
            Message::Vote(_) | Message::Raft(_) => None,
        };
        let peers: Vec<usize> = (0..self.nodes.len()).filter(|p| *p != node).collect();
        match (self.nodes[node].behavior, &message) {
            (Behavior::Silent, _) => {}
            (Behavior::Garbage, _) => {
                for _ in 0..3 {
                    let noise = self.noise(node, &message);
                    self.broadcast(node, noise);
                }
            }
            (Behavior::EquivocatingProposer, Message::Proposal(p)) => {
                let Some(header) = body(&self.nodes[node], &message) else { return };
                let mut other = header.clone();
                other.tx_root = self.rng.hash();
                other.state_root = expected_state_root(other.parent_hash, other.tx_root);
                let mut second = p.proposal.clone();
                second.block_hash = header_hash(&other);
                let second = Message::Proposal(second.sign(&self.nodes[node].key));
                for (i, to) in peers.into_iter().enumerate() {
                    let wire = if i % 2 == 0 {
                        Wire::Consensus(message.clone(), Some(header.clone()))
                    } else {
                        Wire::Consensus(second.clone(), Some(other.clone()))
                    };
                    self.send(node, to, wire);
                }
            }
            (Behavior::DoubleVoter, Message::Vote(v)) => {
                let mut other = v.vote.clone();
                other.block_hash = match other.block_hash {
                    Some(_) => None,
                    None => Some(self.rng.hash()),
                };
                let second =
                    Message::Vote(SignedVote::new(other, v.validator, &self.nodes[node].key));
                // Each half gets one of the votes; the last peer gets both and can tell.
                let last = peers.len() - 1;
                for (i, to) in peers.into_iter().enumerate() {
                    if i % 2 == 0 || i == last {
                        self.send(node, to, Wire::Consensus(message.clone(), None));
                    }
                    if i % 2 == 1 || i == last {
                        self.send(node, to, Wire::Consensus(second.clone(), None));
                    }
                }
            }
            _ => {
                let header = body(&self.nodes[node], &message);
                if matches!(message, Message::Proposal(_)) && header.is_none() {
                    return; // a proposal from before a restart: its block is gone
                }
                self.broadcast(node, Wire::Consensus(message, header));
            }
        }
    }

    /// One piece of noise derived from a message the Byzantine node was about to send.
    fn noise(&mut self, node: usize, message: &Message) -> Wire {
        let height = message.height();
        let round = message.round();
        let key = self.nodes[node].key.clone();
        let vote = |block_hash| Vote {
            chain_id: CHAIN_ID,
            height,
            round,
            kind: VoteKind::Prevote,
            block_hash,
        };
        match self.rng.below(6) {
            0 => {
                let len = self.rng.below(300) as usize;
                Wire::Bytes((0..len).map(|_| self.rng.next_u64() as u8).collect())
            }
            1 => {
                // A vote claiming to be another validator's, signed with our key.
                let victim = (node + 1 + self.rng.below(3) as usize) % self.nodes.len();
                let hash = self.rng.hash();
                Wire::Consensus(
                    Message::Vote(SignedVote::new(vote(Some(hash)), victim as u32, &key)),
                    None,
                )
            }
            2 => {
                let mut v = SignedVote::new(vote(None), node as u32, &key);
                v.signature.0[0] ^= 1;
                Wire::Consensus(Message::Vote(v), None)
            }
            3 => {
                let mut v = vote(None);
                v.round = round + 1 + self.rng.below(u64::from(u32::MAX - round - 1)) as u32;
                Wire::Consensus(Message::Vote(SignedVote::new(v, node as u32, &key)), None)
            }
            4 => {
                let mut v = vote(None);
                v.chain_id = CHAIN_ID + 1;
                Wire::Consensus(Message::Vote(SignedVote::new(v, node as u32, &key)), None)
            }
            _ => {
                let mut v = vote(Some(self.rng.hash()));
                v.height = height + 2 + self.rng.below(1_000);
                Wire::Consensus(Message::Vote(SignedVote::new(v, 9_999, &key)), None)
            }
        }
    }

    fn commit(&mut self, node: usize, height: Height, hash: Hash, certificate: CommitCertificate) {
        let seed = self.seed();
        let n = &mut self.nodes[node];
        let header = n.blocks.get(&hash).cloned().unwrap_or_else(|| {
            panic!("seed {seed}: node {node} decided block {hash} at {height} without having it")
        });
        assert_eq!(header.height, height, "seed {seed}: decided block has another height");
        assert_eq!(n.chain.len() as Height, height, "seed {seed}: node {node} skipped a height");
        certificate
            .verify(&header, HASH, &self.validators, self.scenario.params.consensus)
            .unwrap_or_else(|e| panic!("seed {seed}: node {node} made a bad certificate: {e}"));
        self.apply(node, header, certificate);
        let now_ms = self.now_ms;
        self.input(node, Input::TxsReady { count: 100, now_ms });
    }

    /// Appends a decided (or synced) block to a node's chain, checking agreement and validity.
    fn apply(&mut self, node: usize, header: Header, certificate: CommitCertificate) {
        let seed = self.seed();
        let hash = header_hash(&header);
        let height = header.height;
        assert_eq!(
            header.state_root,
            expected_state_root(header.parent_hash, header.tx_root),
            "seed {seed}: node {node} decided an invalid block at {height}"
        );
        if self.nodes[node].behavior == Behavior::Honest {
            let first = *self.decided.entry(height).or_insert(hash);
            assert_eq!(first, hash, "seed {seed}: fork at height {height} (node {node})");
        }
        let n = &mut self.nodes[node];
        n.chain.push((header, Some(certificate)));
        // Blocks proposed for later heights may already be here: keep them.
        n.blocks.retain(|_, h| h.height > height);
        // As the node's WAL compaction does: decided heights go, but Raft's election messages
        // of the latest term stay (a term and its vote outlive heights).
        let raft_term = |m: &Message| match m {
            Message::Raft(r) => Some(r.message.term),
            _ => None,
        };
        let latest_term = n.wal.iter().filter_map(raft_term).max();
        n.wal.retain(|m| {
            m.height() > height || (raft_term(m).is_some() && raft_term(m) == latest_term)
        });
        n.wal_blocks.retain(|h| h.height > height);
        self.trace.push(format!("{} commit n{node} h{height} {hash}", self.now_ms));
    }

    fn deliver(&mut self, to: usize, from: usize, wire: Wire) {
        let now_ms = self.now_ms;
        match wire {
            Wire::Consensus(message, header) => {
                if let Message::Proposal(p) = &message {
                    // The network layer drops a proposal without its block or with another one.
                    let Some(h) = header.filter(|h| header_hash(h) == p.proposal.block_hash) else {
                        return;
                    };
                    self.nodes[to].blocks.insert(p.proposal.block_hash, h);
                }
                self.trace.push(format!(
                    "{now_ms} n{from}->n{to} {}/{}",
                    message.height(),
                    message.round()
                ));
                self.input(to, Input::Message { message, now_ms });
            }
            Wire::Bytes(bytes) => {
                if let Ok(message) = borsh::from_slice::<Message>(&bytes) {
                    self.input(to, Input::Message { message, now_ms });
                }
            }
            Wire::Status { next_height } => {
                if next_height > self.nodes[to].chain.len() as Height {
                    let from_height = self.nodes[to].chain.len() as Height;
                    self.send(to, from, Wire::SyncRequest { from: from_height });
                }
            }
            Wire::SyncRequest { from: start } => {
                if self.nodes[to].behavior != Behavior::Honest {
                    return;
                }
                let blocks: Vec<(Header, CommitCertificate)> = self.nodes[to]
                    .chain
                    .iter()
                    .skip(start as usize)
                    .take(10)
                    .filter_map(|(h, c)| c.clone().map(|c| (h.clone(), c)))
                    .collect();
                self.send(to, from, Wire::SyncResponse { blocks });
            }
            Wire::SyncResponse { blocks } => {
                for (header, certificate) in blocks {
                    let n = &self.nodes[to];
                    let expected = n.chain.len() as Height;
                    let parent = header_hash(&n.chain.last().expect("genesis").0);
                    if header.height != expected || header.parent_hash != parent {
                        continue;
                    }
                    if certificate
                        .verify(&header, HASH, &self.validators, self.scenario.params.consensus)
                        .is_err()
                    {
                        break;
                    }
                    let height = header.height;
                    self.trace.push(format!("{now_ms} sync n{to} h{height}"));
                    self.apply(to, header, certificate);
                    self.input(to, Input::Synced { height, now_ms });
                    // As the node's driver does after every commit.
                    self.input(to, Input::TxsReady { count: 100, now_ms });
                }
            }
        }
    }

    fn step(&mut self) -> bool {
        let Some(((at_ms, _), event)) = self.queue.pop_first() else { return false };
        self.now_ms = at_ms;
        match event {
            Event::Deliver { to, from, wire } => {
                if self.alive(to) {
                    self.deliver(to, from, wire);
                }
            }
            Event::Wake { node } => {
                if self.nodes[node].wake_at.is_some_and(|at| at <= at_ms) {
                    self.nodes[node].wake_at = None;
                    self.input(node, Input::Tick { now_ms: at_ms });
                }
            }
            Event::Built { node, incarnation, header } => {
                if self.nodes[node].incarnation == incarnation {
                    self.input(node, Input::ProposalBuilt { header, now_ms: at_ms });
                }
            }
            Event::Validated { node, incarnation, hash, valid } => {
                if self.nodes[node].incarnation == incarnation {
                    self.input(node, Input::Validated { block_hash: hash, valid, now_ms: at_ms });
                }
            }
            Event::Status { node } => {
                if self.alive(node) {
                    let next_height = self.nodes[node].chain.len() as Height;
                    self.broadcast(node, Wire::Status { next_height });
                }
                self.push(500, Event::Status { node });
            }
            Event::Crash { node } => {
                self.trace.push(format!("{at_ms} crash n{node}"));
                self.nodes[node].engine = None;
            }
            Event::Restart { node } => {
                if !self.alive(node) {
                    self.trace.push(format!("{at_ms} restart n{node}"));
                    self.start(node);
                }
            }
        }
        true
    }

    fn honest_heights(&self) -> Vec<Height> {
        self.nodes
            .iter()
            .filter(|n| n.behavior == Behavior::Honest)
            .map(|n| n.chain.len() as Height - 1)
            .collect()
    }

    /// Runs the scenario to its end and checks liveness; safety is checked as it runs.
    pub(crate) fn run(mut self) -> Report {
        let heal_ms = self.scenario.faults.heal_ms;
        while self.queue.first_key_value().is_some_and(|((at, _), _)| *at < heal_ms) {
            self.step();
        }
        self.now_ms = heal_ms;
        for node in 0..self.nodes.len() {
            if !self.alive(node) {
                self.start(node);
            }
        }
        let target =
            self.honest_heights().into_iter().max().unwrap_or(0) + self.scenario.liveness_heights;
        let deadline = heal_ms + self.scenario.liveness_window_ms;
        while self.honest_heights().into_iter().any(|h| h < target) {
            let next = self.queue.first_key_value().map(|((at, _), _)| *at);
            assert!(
                next.is_some_and(|at| at <= deadline),
                "seed {}: no liveness: honest heights {:?} did not reach {target} within {} ms of healing ({:?})",
                self.seed(),
                self.honest_heights(),
                self.scenario.liveness_window_ms,
                self.scenario,
            );
            self.step();
        }
        Report {
            trace: self.trace,
            heights: self.nodes.iter().map(|n| n.chain.len() as Height - 1).collect(),
            invalid_reports: self.invalid_reports,
            messages: self.messages,
        }
    }
}
