//! The node-level deterministic simulator: N real consensus drivers ([`Driver`]) with their
//! mempools, executors and stores (redb on its in-memory backend), over a simulated world: a
//! virtual clock (each node's running ahead by up to 3 s), links with latency, jitter (so
//! reordering), loss and partitions that heal, a WAL in memory that loses its unsynced tail when
//! its node crashes, crashes at any event or at a WAL fsync, restarts from what was persisted,
//! clients submitting notarizations, and Byzantine validators (real drivers whose outgoing
//! frames are rewritten). One seed gives one trace.
//!
//! Every run checks:
//! - agreement: no two honest nodes hold different blocks at one height;
//! - validity: every committed block carries a certificate that verifies, holds only
//!   transactions clients submitted, and its header's state root is the root the store computed;
//! - no honest double signing: no honest validator signs two different messages for one height,
//!   round and step, across crashes;
//! - durability: a transaction a client saw committed stays committed, at the same height, on
//!   every honest node;
//! - liveness: once the network heals and crashed nodes are back, every honest node commits new
//!   blocks within bounded virtual time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use consortia_consensus::{Message, RaftKind, SignedVote};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_node::driver::{Driver, Event, Parts};
use consortia_node::mempool::MempoolConfig;
use consortia_node::network::{NetEvent, PeerId};
use consortia_node::p2p::Wire;
use consortia_node::wal::WalEntry;
use consortia_node::world::{Clock, CommitJob, Job, Tasks, Transport, WalStore, World};
use consortia_node::{Node, NodeError};
use consortia_storage::{BlockReader, RedbStore, StateProofReader, TxReader};
use consortia_test_utils::sim::{Behavior, Faults, Rng};
use consortia_types::{CommitCertificate, ConsensusKind, Genesis, Height, Transaction, encode};
use parking_lot::Mutex;

const CHAIN_ID: u64 = 77;
const HASH: HashAlgorithm = HashAlgorithm::Sha256;
const CLIENTS: usize = 3;
/// How long a disconnected peer stays refused (the network's ban).
const BAN_MS: u64 = 10_000;

/// One simulated run.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) seed: u64,
    pub(crate) faults: Faults,
    /// Heights every honest node must gain after `faults.heal_ms`...
    pub(crate) liveness_heights: u64,
    /// ...within this much virtual time.
    pub(crate) liveness_window_ms: u64,
    /// Per mille of crashes that strike at the node's next WAL fsync (the rest between events).
    pub(crate) crash_at_fsync_per_mille: u64,
    /// BFT, or Raft (crash faults only: no Byzantine behavior).
    pub(crate) consensus: ConsensusKind,
    /// Each node's clock runs ahead of the simulation's by up to this much (drawn per node).
    pub(crate) max_clock_skew_ms: u64,
    /// Full nodes without a validator key, after the validators (numbered from
    /// `faults.behaviors.len()`); they follow by consensus messages and block sync.
    pub(crate) observers: usize,
}

impl Scenario {
    pub(crate) fn calm(seed: u64, n: usize) -> Self {
        Scenario {
            seed,
            faults: Faults::calm(n),
            liveness_heights: 3,
            liveness_window_ms: 60_000,
            crash_at_fsync_per_mille: 500,
            consensus: ConsensusKind::Bft,
            observers: 0,
            max_clock_skew_ms: 0,
        }
    }

    /// What `scripts/test` runs for each seed: 4 validators, one of them Byzantine (or none),
    /// random latency, loss, partitions and crashes, all drawn from the seed.
    pub(crate) fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x0DE5_1A7E);
        Scenario {
            faults: Faults::random(&mut rng, 4),
            max_clock_skew_ms: 3_000,
            ..Scenario::calm(seed, 4)
        }
    }

    /// A random seed's faults with an observer beside the four validators.
    pub(crate) fn random_with_observer(seed: u64) -> Self {
        Scenario { observers: 1, ..Scenario::random(seed) }
    }

    /// A random crash-fault scenario for Raft: three validators, all honest, with the loss,
    /// partitions and crashes the seed draws.
    pub(crate) fn random_raft(seed: u64) -> Self {
        let mut s = Scenario::random(seed);
        let n = 3;
        s.consensus = ConsensusKind::Raft;
        s.faults.behaviors = vec![Behavior::Honest; n];
        for p in &mut s.faults.partitions {
            for g in &mut p.groups {
                g.retain(|v| *v < n);
            }
            p.groups.retain(|g| !g.is_empty());
        }
        for c in &mut s.faults.crashes {
            c.node %= n;
        }
        s
    }
}

/// The simulated world's parts.
#[derive(Debug)]
struct Simulated;

impl World for Simulated {
    type Transport = Link;
    type Clock = VirtualClock;
    type Wal = MemoryWal;
    type Tasks = SimTasks;
}

/// A frame a node handed to its transport.
#[derive(Debug)]
struct Outgoing {
    from: usize,
    /// None: to every peer.
    to: Option<usize>,
    frame: Vec<u8>,
}

#[derive(Debug, Default)]
struct Outbox {
    frames: Vec<Outgoing>,
    disconnects: Vec<(usize, usize)>,
}

/// One node's end of the simulated network: frames wait in the outbox until the simulator
/// routes them.
#[derive(Debug)]
struct Link {
    me: usize,
    peers: usize,
    outbox: Arc<Mutex<Outbox>>,
}

fn peer_id(node: usize) -> PeerId {
    PeerId([node as u8 + 1; 32])
}

fn node_of(peer: PeerId) -> usize {
    usize::from(peer.0[0]) - 1
}

impl Transport for Link {
    fn send(&self, peer: PeerId, frame: Vec<u8>) {
        let to = Some(node_of(peer));
        self.outbox.lock().frames.push(Outgoing { from: self.me, to, frame });
    }

    fn broadcast(&self, frame: Vec<u8>) {
        self.outbox.lock().frames.push(Outgoing { from: self.me, to: None, frame });
    }

    fn disconnect(&self, peer: PeerId, _reason: &str) {
        self.outbox.lock().disconnects.push((self.me, node_of(peer)));
    }

    fn peer_count(&self) -> usize {
        self.peers - 1
    }
}

/// A node's clock: the simulation's time, plus how far this node's clock runs ahead.
#[derive(Clone, Debug)]
struct VirtualClock {
    time: Arc<AtomicU64>,
    ahead_ms: u64,
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        self.time.load(Ordering::Relaxed) + self.ahead_ms
    }
}

/// A node's WAL as its disk holds it: survives crashes, except the unsynced tail.
#[derive(Debug, Default)]
struct WalDisk {
    synced: Vec<WalEntry>,
    unsynced: Vec<WalEntry>,
    /// The node dies at its next fsync (before the data reaches the disk).
    crash_at_sync: bool,
}

#[derive(Debug)]
struct MemoryWal(Arc<Mutex<WalDisk>>);

impl WalStore for MemoryWal {
    fn append(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        self.0.lock().unsynced.push(entry.clone());
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let mut disk = self.0.lock();
        if disk.crash_at_sync {
            return Err(std::io::Error::other("simulated crash at fsync"));
        }
        let tail = std::mem::take(&mut disk.unsynced);
        disk.synced.extend(tail);
        Ok(())
    }

    fn compact(&mut self, _decided: Height) -> std::io::Result<()> {
        Ok(()) // runs are short; the file WAL's compaction has its own tests
    }
}

/// Slow work runs inline; a commit waits until the simulator's fsync delay is over (or the
/// driver needs it finished), and is lost if its node crashes first.
struct SimTasks {
    commit: Arc<Mutex<Option<CommitJob>>>,
}

impl Tasks for SimTasks {
    fn spawn(&self, job: Job) {
        job();
    }

    fn start_commit(&mut self, job: CommitJob) {
        *self.commit.lock() = Some(job);
    }

    fn finish_commit(&mut self) -> Result<(), NodeError> {
        let job = self.commit.lock().take();
        job.map_or(Ok(()), |job| job())
    }
}

struct Running {
    node: Arc<Node>,
    driver: Driver<Simulated>,
    commit: Arc<Mutex<Option<CommitJob>>>,
}

struct SimNode {
    /// None for an observer.
    key: Option<PrivateKey>,
    behavior: Behavior,
    /// What survives a crash: the store (redb commits atomically) and the synced WAL.
    store: Arc<RedbStore>,
    wal: Arc<Mutex<WalDisk>>,
    running: Option<Running>,
    /// Bumped on every restart, so events meant for an earlier life are dropped.
    incarnation: u64,
    poll_at: Option<u64>,
    commit_scheduled: bool,
    /// How far this node's clock runs ahead of the simulation's.
    clock_ahead_ms: u64,
}

#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        frame: Vec<u8>,
    },
    Poll {
        node: usize,
        incarnation: u64,
    },
    CommitDone {
        node: usize,
        incarnation: u64,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Client {
        client: usize,
    },
    /// Each side of a link hears that it went down or came back.
    Link {
        node: usize,
        peer: usize,
        up: bool,
    },
}

/// A client: one notarization in flight at a time, resubmitted to another node if it is not
/// committed in time.
struct Client {
    key: PrivateKey,
    nonce: u64,
    in_flight: Option<InFlight>,
}

struct InFlight {
    raw: Vec<u8>,
    hash: Hash,
    node: usize,
    sent_ms: u64,
}

/// What a finished run reports.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// A digest of every event in order: two runs of a seed must give the same.
    pub(crate) trace: u64,
    pub(crate) heights: Vec<Height>,
    pub(crate) acknowledged: usize,
    pub(crate) disconnects: usize,
}

pub(crate) struct Sim {
    scenario: Scenario,
    genesis: Genesis,
    rng: Rng,
    clock: Arc<AtomicU64>,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    nodes: Vec<SimNode>,
    outbox: Arc<Mutex<Outbox>>,
    clients: Vec<Client>,
    /// Every transaction a client signed, by hash.
    submitted: BTreeSet<Hash>,
    /// Transactions a client saw committed: hash → height.
    acknowledged: BTreeMap<Hash, Height>,
    /// The first message each honest validator signed per (node, height, round, step).
    signed: BTreeMap<(usize, Height, u32, u8), Message>,
    trace: u64,
    disconnects: usize,
    /// Links cut by a disconnect, by (lower, higher) node, until a time (the network's ban).
    cut: BTreeMap<(usize, usize), u64>,
    /// `NODE_SIM_DEBUG=1`: print every delivery, crash and restart.
    debug: bool,
}

/// A frame in a few words, for debugging.
fn describe(frame: &[u8]) -> String {
    match borsh::from_slice::<Wire>(frame) {
        Ok(Wire::Consensus { message: Message::Proposal(p), block }) => format!(
            "proposal h{} r{} {} (block {})",
            p.proposal.height,
            p.proposal.round,
            p.proposal.block_hash,
            block.map_or("none".into(), |b| b.header.height.to_string())
        ),
        Ok(Wire::Consensus { message: Message::Vote(v), .. }) => format!(
            "{:?} by v{} h{} r{} {:?}",
            v.vote.kind, v.validator, v.vote.height, v.vote.round, v.vote.block_hash
        ),
        Ok(Wire::SyncBlocks(blocks)) => {
            format!("sync blocks {:?}", blocks.iter().map(|b| b.header.height).collect::<Vec<_>>())
        }
        Ok(Wire::Txs(txs)) => format!("{} txs", txs.len()),
        Ok(other) => format!("{other:?}"),
        Err(_) => format!("{} bytes of noise", frame.len()),
    }
}

impl Sim {
    pub(crate) fn new(scenario: Scenario) -> Self {
        let n = scenario.faults.behaviors.len();
        let (mut genesis, keys) = consortia_test_utils::genesis::bft(CHAIN_ID, n);
        genesis.params.consensus = scenario.consensus;
        let mut rng = Rng::new(scenario.seed);
        let observers = (0..scenario.observers).map(|_| (None, Behavior::Honest));
        let mut nodes = keys
            .into_iter()
            .map(Some)
            .zip(scenario.faults.behaviors.iter().copied())
            .chain(observers)
            .map(|(key, behavior)| SimNode {
                key,
                behavior,
                store: Node::memory_store(&genesis).expect("a store in memory"),
                wal: Arc::default(),
                running: None,
                incarnation: 0,
                poll_at: None,
                commit_scheduled: false,
                clock_ahead_ms: 0,
            })
            .collect::<Vec<_>>();
        let mut skew = Rng::new(scenario.seed ^ 0xC10C);
        for node in &mut nodes {
            node.clock_ahead_ms = skew.below(scenario.max_clock_skew_ms + 1);
        }
        let clients = (0..CLIENTS)
            .map(|c| Client {
                key: consortia_test_utils::genesis::validator_key(1_000 + c),
                nonce: 0,
                in_flight: None,
            })
            .collect();
        let mut sim = Sim {
            rng: Rng::new(rng.next_u64()),
            genesis,
            scenario,
            clock: Arc::new(AtomicU64::new(0)),
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            outbox: Arc::default(),
            clients,
            submitted: BTreeSet::new(),
            acknowledged: BTreeMap::new(),
            signed: BTreeMap::new(),
            trace: 0xcbf2_9ce4_8422_2325,
            disconnects: 0,
            cut: BTreeMap::new(),
            debug: std::env::var_os("NODE_SIM_DEBUG").is_some(),
        };
        for node in 0..n {
            sim.start(node);
        }
        for client in 0..CLIENTS {
            let after = sim.rng.below(200);
            sim.push(after, Ev::Client { client });
        }
        for crash in sim.scenario.faults.crashes.clone() {
            sim.push_at(crash.at_ms, Ev::Crash { node: crash.node });
            sim.push_at(crash.restart_ms, Ev::Restart { node: crash.node });
        }
        sim
    }

    fn now_ms(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    fn seed(&self) -> u64 {
        self.scenario.seed
    }

    fn push(&mut self, after_ms: u64, ev: Ev) {
        self.push_at(self.now_ms() + after_ms, ev);
    }

    fn push_at(&mut self, at_ms: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at_ms, self.seq), ev);
    }

    /// Folds an event into the trace digest (FNV-1a).
    fn record(&mut self, bytes: &[u8]) {
        for b in self.now_ms().to_le_bytes().iter().chain(bytes) {
            self.trace = (self.trace ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn alive(&self, node: usize) -> bool {
        self.nodes[node].running.is_some()
    }

    fn honest(&self, node: usize) -> bool {
        self.nodes[node].behavior == Behavior::Honest
    }

    /// Starts (or restarts) a node from its store and what its WAL synced.
    fn start(&mut self, node: usize) {
        let n = self.nodes.len();
        let seed = self.seed();
        let sim_node = &mut self.nodes[node];
        sim_node.incarnation += 1;
        sim_node.poll_at = None;
        sim_node.commit_scheduled = false;
        let entries = {
            let mut disk = sim_node.wal.lock();
            disk.crash_at_sync = false;
            disk.unsynced.clear();
            disk.synced.clone()
        };
        let handle = Node::with_store(
            sim_node.store.clone(),
            self.genesis.clone(),
            sim_node.key.clone(),
            MempoolConfig::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: node {node} does not open: {e}"));
        let commit = Arc::new(Mutex::new(None));
        let parts = Parts::<Simulated> {
            transport: Some(Arc::new(Link { me: node, peers: n, outbox: self.outbox.clone() })),
            clock: VirtualClock { time: self.clock.clone(), ahead_ms: sim_node.clock_ahead_ms },
            wal: Some((MemoryWal(sim_node.wal.clone()), entries)),
            tasks: SimTasks { commit: commit.clone() },
        };
        let driver = Driver::new(handle.clone(), parts)
            .unwrap_or_else(|e| panic!("seed {seed}: node {node} does not start: {e}"));
        sim_node.running = Some(Running { node: handle, driver, commit });
        self.record(&[b'S', node as u8]);
        if self.debug {
            eprintln!("{} start n{node}", self.now_ms());
        }
        self.after_call(node);
        // Peers see it connect, and it sees them.
        for peer in 0..n {
            if peer != node && self.alive(peer) && self.link_up(node, peer) {
                self.call(node, |d| d.handle(Event::Net(NetEvent::Connected(peer_id(peer)))));
                self.call(peer, |d| d.handle(Event::Net(NetEvent::Connected(peer_id(node)))));
            }
        }
    }

    fn crash(&mut self, node: usize) {
        let keep = {
            let disk = self.nodes[node].wal.lock();
            disk.unsynced.len() as u64
        };
        // The OS may have written part of the tail before the crash.
        let kept = self.rng.below(keep + 1) as usize;
        let n = &mut self.nodes[node];
        {
            let mut disk = n.wal.lock();
            let crashed_at_sync = disk.crash_at_sync;
            if crashed_at_sync {
                disk.unsynced.clear();
            } else {
                let tail: Vec<WalEntry> = disk.unsynced.drain(..).take(kept).collect();
                disk.synced.extend(tail);
            }
            disk.crash_at_sync = false;
        }
        n.running = None;
        self.record(&[b'C', node as u8]);
        if self.debug {
            eprintln!("{} crash n{node}", self.now_ms());
        }
    }

    /// Runs one driver call, then routes what it sent and schedules what it asked for. A
    /// driver that fails while its node is being crashed at an fsync simply dies; any other
    /// failure fails the run.
    fn call(
        &mut self,
        node: usize,
        f: impl FnOnce(&mut Driver<Simulated>) -> Result<(), NodeError>,
    ) {
        let Some(running) = self.nodes[node].running.as_mut() else { return };
        if let Err(e) = f(&mut running.driver) {
            let dying = self.nodes[node].wal.lock().crash_at_sync;
            assert!(dying, "seed {}: node {node} failed: {e}", self.seed());
            self.route();
            self.crash(node);
            return;
        }
        self.after_call(node);
    }

    fn after_call(&mut self, node: usize) {
        self.route();
        let Some(running) = self.nodes[node].running.as_ref() else { return };
        let arrived = running.node.take_arrivals();
        // The driver speaks its own clock's time; the queue, the simulation's.
        let deadline =
            running.driver.next_deadline().saturating_sub(self.nodes[node].clock_ahead_ms);
        let committing = running.commit.lock().is_some();
        if arrived {
            self.call(node, |d| d.handle(Event::TxsArrived));
            return;
        }
        let incarnation = self.nodes[node].incarnation;
        if self.nodes[node].poll_at.is_none_or(|at| deadline < at) {
            self.nodes[node].poll_at = Some(deadline);
            self.push_at(deadline.max(self.now_ms()), Ev::Poll { node, incarnation });
        }
        if committing && !self.nodes[node].commit_scheduled {
            self.nodes[node].commit_scheduled = true;
            let fsync_ms = 1 + self.rng.below(5);
            self.push(fsync_ms, Ev::CommitDone { node, incarnation });
        }
    }

    /// Takes what every node sent and puts it on the simulated links.
    fn route(&mut self) {
        let Outbox { frames, disconnects } = std::mem::take(&mut *self.outbox.lock());
        for (node, peer) in disconnects {
            self.disconnect(node, peer);
        }
        for out in frames {
            let targets: Vec<usize> = match out.to {
                Some(to) => vec![to],
                None => (0..self.nodes.len()).filter(|p| *p != out.from).collect(),
            };
            if self.honest(out.from) {
                self.check_no_double_sign(out.from, &out.frame);
                for to in targets {
                    self.send(out.from, to, out.frame.clone());
                }
            } else {
                self.send_byzantine(out.from, targets, &out.frame);
            }
        }
    }

    /// Cuts the link for the ban's time; each side hears of it, and of its return.
    fn disconnect(&mut self, node: usize, peer: usize) {
        if self.honest(peer) {
            self.disconnects += 1;
        }
        let link = (node.min(peer), node.max(peer));
        if self.cut.get(&link).is_some_and(|until| *until > self.now_ms()) {
            return;
        }
        self.cut.insert(link, self.now_ms() + BAN_MS);
        for (a, b) in [(node, peer), (peer, node)] {
            self.push(0, Ev::Link { node: a, peer: b, up: false });
            self.push(BAN_MS, Ev::Link { node: a, peer: b, up: true });
        }
    }

    fn link_up(&self, a: usize, b: usize) -> bool {
        self.cut.get(&(a.min(b), a.max(b))).is_none_or(|until| *until <= self.now_ms())
    }

    fn send(&mut self, from: usize, to: usize, frame: Vec<u8>) {
        let now_ms = self.now_ms();
        if from == to || !self.scenario.faults.connected(now_ms, from, to) {
            return;
        }
        if !self.link_up(from, to) {
            return;
        }
        let Some(latency) = self.scenario.faults.link(&mut self.rng, now_ms) else { return };
        self.push(latency, Ev::Deliver { to, from, frame });
    }

    fn check_no_double_sign(&mut self, node: usize, frame: &[u8]) {
        let Ok(Wire::Consensus { message, .. }) = borsh::from_slice::<Wire>(frame) else {
            return;
        };
        let Some(public) = self.nodes[node].key.as_ref().map(PrivateKey::public_key) else {
            return; // an observer signs nothing
        };
        let slot = match &message {
            Message::Proposal(p) if p.verify(&public) => {
                (node, p.proposal.height, p.proposal.round, 0)
            }
            Message::Vote(v) if v.validator as usize == node => {
                (node, v.vote.height, v.vote.round, 1 + v.vote.kind as u8)
            }
            // One vote request and one vote granted per term, whatever the height.
            Message::Raft(r) if r.message.from as usize == node => match r.message.kind {
                RaftKind::RequestVote { .. } => (node, 0, r.message.term, 3),
                RaftKind::GrantVote { .. } => (node, 0, r.message.term, 4),
                RaftKind::Heartbeat => return,
            },
            _ => return,
        };
        if let Some(first) = self.signed.get(&slot) {
            assert_eq!(
                first,
                &message,
                "seed {}: honest node {node} signed twice for height {}, round {}",
                self.seed(),
                slot.1,
                slot.2
            );
        } else {
            self.signed.insert(slot, message);
        }
    }

    /// Sends what a Byzantine node's driver sent, rewritten the way its behavior dictates.
    fn send_byzantine(&mut self, from: usize, targets: Vec<usize>, frame: &[u8]) {
        let key = self.nodes[from].key.clone().expect("a Byzantine node is a validator");
        let wire = borsh::from_slice::<Wire>(frame).ok();
        match (self.nodes[from].behavior, wire) {
            (Behavior::Silent, _) => {}
            (Behavior::Garbage, wire) => {
                for to in targets {
                    for _ in 0..1 + self.rng.below(3) {
                        let noise = self.noise(from, &key, wire.as_ref(), frame);
                        self.send(from, to, noise);
                    }
                }
            }
            (
                Behavior::EquivocatingProposer,
                Some(Wire::Consensus { message: Message::Proposal(p), block: Some(block) }),
            ) => {
                let mut other = block.clone();
                other.header.time_ms += 1;
                let mut second = p.proposal.clone();
                second.block_hash = other.header.hash(HASH);
                let second = Wire::Consensus {
                    message: Message::Proposal(second.sign(&key)),
                    block: Some(other),
                }
                .encode();
                for (i, to) in targets.into_iter().enumerate() {
                    let frame = if i % 2 == 0 { frame.to_vec() } else { second.clone() };
                    self.send(from, to, frame);
                }
            }
            (Behavior::DoubleVoter, Some(Wire::Consensus { message: Message::Vote(v), .. }))
                if v.validator as usize == from =>
            {
                let mut other = v.vote.clone();
                other.block_hash = match other.block_hash {
                    Some(_) => None,
                    None => Some(self.rng.hash()),
                };
                let second = Wire::Consensus {
                    message: Message::Vote(SignedVote::new(other, v.validator, &key)),
                    block: None,
                }
                .encode();
                let last = targets.len().saturating_sub(1);
                for (i, to) in targets.into_iter().enumerate() {
                    if i % 2 == 0 || i == last {
                        self.send(from, to, frame.to_vec());
                    }
                    if i % 2 == 1 || i == last {
                        self.send(from, to, second.clone());
                    }
                }
            }
            (
                Behavior::InvalidProposer,
                Some(Wire::Consensus { message: Message::Proposal(p), block: Some(mut block) }),
            ) => {
                block.header.state_root = self.rng.hash();
                let mut proposal = p.proposal.clone();
                proposal.block_hash = block.header.hash(HASH);
                let wire = Wire::Consensus {
                    message: Message::Proposal(proposal.sign(&key)),
                    block: Some(block),
                };
                let frame = wire.encode();
                for to in targets {
                    self.send(from, to, frame.clone());
                }
            }
            _ => {
                for to in targets {
                    self.send(from, to, frame.to_vec());
                }
            }
        }
    }

    /// One piece of noise in place of a frame a Byzantine node was about to send.
    fn noise(
        &mut self,
        from: usize,
        key: &PrivateKey,
        wire: Option<&Wire>,
        frame: &[u8],
    ) -> Vec<u8> {
        let n = self.nodes.len() as u32;
        let vote = |rng: &mut Rng, height, round| consortia_types::Vote {
            chain_id: CHAIN_ID,
            height,
            round,
            kind: consortia_types::VoteKind::Prevote,
            block_hash: Some(rng.hash()),
        };
        let (height, round) = match wire {
            Some(Wire::Consensus { message, .. }) => (message.height(), message.round()),
            _ => (1, 0),
        };
        match (self.rng.below(7), wire) {
            // Its proposal's block as a committed block, with a forged certificate: a node that
            // took it without checking would commit a block consensus never decided.
            (
                0 | 1,
                Some(Wire::Consensus { message: Message::Proposal(_), block: Some(block) }),
            ) => {
                let mut block = (**block).clone();
                let signatures = (0..n).map(|i| (i, key.sign(&self.rng.bytes(32)))).collect();
                block.certificate = Some(CommitCertificate { round, signatures });
                Wire::SyncBlocks(vec![block]).encode()
            }
            (0, _) => self.rng.bytes(300),
            (1, _) => {
                let mut bytes = frame.to_vec();
                if !bytes.is_empty() {
                    let at = self.rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << self.rng.below(8);
                }
                bytes
            }
            (2, _) => {
                // A vote claiming to be another validator's, signed with its own key.
                let victim = (from as u32 + 1 + self.rng.below(u64::from(n) - 1) as u32) % n;
                let v = SignedVote::new(vote(&mut self.rng, height, round), victim, key);
                Wire::Consensus { message: Message::Vote(v), block: None }.encode()
            }
            (3, _) => {
                let mut v = SignedVote::new(vote(&mut self.rng, height, round), from as u32, key);
                v.signature.0[0] ^= 1;
                Wire::Consensus { message: Message::Vote(v), block: None }.encode()
            }
            (4, _) => {
                let far = round + 1 + self.rng.below(1_000) as u32;
                let v = SignedVote::new(vote(&mut self.rng, height, far), from as u32, key);
                Wire::Consensus { message: Message::Vote(v), block: None }.encode()
            }
            (5, _) => Wire::Status { next_height: height + 1 + self.rng.below(1_000) }.encode(),
            _ => Wire::SyncRequest { from: self.rng.below(height + 1), max: u32::MAX }.encode(),
        }
    }

    fn client_tick(&mut self, client: usize) {
        let now_ms = self.now_ms();
        let live: Vec<usize> =
            (0..self.nodes.len()).filter(|n| self.alive(*n) && self.honest(*n)).collect();
        let c = &self.clients[client];
        let mut resend = None;
        if let Some(f) = &c.in_flight {
            let committed = self.nodes[f.node]
                .store
                .transaction(&f.hash)
                .unwrap_or_else(|e| panic!("seed {}: store read: {e}", self.seed()));
            if let Some(tx) = committed {
                self.acknowledged.insert(f.hash, tx.height);
                let c = &mut self.clients[client];
                c.nonce += 1;
                c.in_flight = None;
            } else if now_ms >= f.sent_ms + 3_000 {
                resend = Some(f.raw.clone());
            }
        }
        if self.clients[client].in_flight.is_none() {
            let c = &self.clients[client];
            let id = format!("c{client}-{}", c.nonce);
            let tx: Transaction =
                consortia_test_utils::tx::notarize(&c.key, CHAIN_ID, c.nonce, &id, id.as_bytes());
            resend = Some(encode(&tx));
            self.submitted.insert(tx.hash(HASH));
        }
        if let (Some(raw), false) = (resend, live.is_empty()) {
            let node = live[self.rng.below(live.len() as u64) as usize];
            let hash = consortia_types::decode::<Transaction>(&raw)
                .expect("our own transaction decodes")
                .hash(HASH);
            self.clients[client].in_flight =
                Some(InFlight { raw: raw.clone(), hash, node, sent_ms: now_ms });
            if let Some(running) = &self.nodes[node].running {
                running.node.submit_blocking(vec![raw]);
            }
            self.record(&[b'T', client as u8, node as u8]);
            self.after_call(node);
        }
        let next = 50 + self.rng.below(250);
        self.push(next, Ev::Client { client });
    }

    fn step(&mut self) -> bool {
        let Some(((at_ms, _), ev)) = self.queue.pop_first() else { return false };
        self.clock.store(at_ms, Ordering::Relaxed);
        match ev {
            Ev::Deliver { to, from, frame } => {
                if self.alive(to) && self.link_up(from, to) {
                    if self.debug {
                        eprintln!("{at_ms} n{from}->n{to} {}", describe(&frame));
                    }
                    let digest = HASH.digest(&frame);
                    self.record(&[&[b'D', to as u8, from as u8][..], &digest.0[..8]].concat());
                    let peer = peer_id(from);
                    self.call(to, |d| d.handle(Event::Net(NetEvent::Frame(peer, frame))));
                }
            }
            Ev::Poll { node, incarnation } => {
                if self.alive(node) && self.nodes[node].incarnation == incarnation {
                    self.nodes[node].poll_at = None;
                    self.call(node, Driver::poll);
                }
            }
            Ev::CommitDone { node, incarnation } => {
                if self.alive(node) && self.nodes[node].incarnation == incarnation {
                    self.nodes[node].commit_scheduled = false;
                    let job =
                        self.nodes[node].running.as_ref().and_then(|r| r.commit.lock().take());
                    if let Some(job) = job {
                        if self.debug {
                            eprintln!("{at_ms} n{node} commit done");
                        }
                        if let Err(e) = job() {
                            panic!("seed {}: node {node} failed to commit: {e}", self.seed());
                        }
                        self.record(&[b'K', node as u8]);
                    }
                    self.after_call(node);
                }
            }
            Ev::Crash { node } => {
                if self.alive(node) {
                    if self.rng.chance(self.scenario.crash_at_fsync_per_mille) {
                        self.nodes[node].wal.lock().crash_at_sync = true;
                    } else {
                        self.crash(node);
                    }
                }
            }
            Ev::Restart { node } => {
                if self.alive(node) && self.nodes[node].wal.lock().crash_at_sync {
                    self.crash(node); // it never reached an fsync: it dies now
                }
                if !self.alive(node) {
                    self.start(node);
                }
            }
            Ev::Client { client } => self.client_tick(client),
            Ev::Link { node, peer, up } => {
                if self.alive(node) && self.alive(peer) && up == self.link_up(node, peer) {
                    let event = match up {
                        true => NetEvent::Connected(peer_id(peer)),
                        false => NetEvent::Disconnected(peer_id(peer)),
                    };
                    self.record(&[b'L', node as u8, peer as u8, up as u8]);
                    self.call(node, |d| d.handle(Event::Net(event)));
                }
            }
        }
        true
    }

    fn committed_height(&self, node: usize) -> Height {
        self.nodes[node]
            .store
            .latest_height()
            .unwrap_or_else(|e| panic!("seed {}: store read: {e}", self.seed()))
    }

    fn honest_heights(&self) -> Vec<Height> {
        (0..self.nodes.len())
            .filter(|n| self.honest(*n))
            .map(|n| self.committed_height(n))
            .collect()
    }

    /// Runs the scenario to its end: faults until they heal, then liveness; checks every
    /// invariant.
    pub(crate) fn run(mut self) -> Report {
        let heal_ms = self.scenario.faults.heal_ms;
        while self.queue.first_key_value().is_some_and(|((at, _), _)| *at < heal_ms) {
            self.step();
        }
        self.clock.store(heal_ms, Ordering::Relaxed);
        for node in 0..self.nodes.len() {
            if self.alive(node) && self.nodes[node].wal.lock().crash_at_sync {
                self.crash(node);
            }
            if !self.alive(node) {
                self.start(node);
            }
        }
        let target =
            self.honest_heights().into_iter().max().unwrap_or(0) + self.scenario.liveness_heights;
        let deadline = heal_ms + self.scenario.liveness_window_ms;
        while self.honest_heights().into_iter().any(|h| h < target) {
            assert!(
                self.now_ms() <= deadline,
                "seed {}: no liveness: honest heights {:?} did not reach {target} within {} ms of healing ({:?})",
                self.seed(),
                self.honest_heights(),
                self.scenario.liveness_window_ms,
                self.scenario,
            );
            assert!(self.step(), "seed {}: nothing left to happen", self.seed());
        }
        self.check_chains();
        Report {
            trace: self.trace,
            heights: (0..self.nodes.len()).map(|n| self.committed_height(n)).collect(),
            acknowledged: self.acknowledged.len(),
            disconnects: self.disconnects,
        }
    }

    /// Agreement, validity and durability over what every honest node's store holds.
    fn check_chains(&self) {
        let seed = self.seed();
        let mut chain: BTreeMap<Height, Hash> = BTreeMap::new();
        for node in (0..self.nodes.len()).filter(|n| self.honest(*n)) {
            let store = &self.nodes[node].store;
            for height in 1..=self.committed_height(node) {
                let block = store
                    .block(height)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("seed {seed}: node {node} lacks block {height}"));
                let hash = block.header.hash(HASH);
                let first = *chain.entry(height).or_insert(hash);
                assert_eq!(first, hash, "seed {seed}: node {node} disagrees at height {height}");
                let certificate = block.certificate.as_ref().unwrap_or_else(|| {
                    panic!("seed {seed}: node {node}'s block {height} has no certificate")
                });
                if let Err(e) = certificate.verify(
                    &block.header,
                    HASH,
                    &self.genesis.validators,
                    self.scenario.consensus,
                ) {
                    panic!("seed {seed}: node {node}'s block {height}: {e}");
                }
                for tx in &block.transactions {
                    assert!(
                        self.submitted.contains(&tx.hash(HASH)),
                        "seed {seed}: block {height} holds a transaction no client sent"
                    );
                }
                let root = store
                    .get_with_proof(b"", height)
                    .unwrap_or_else(|e| panic!("seed {seed}: state of {height}: {e}"))
                    .state_root;
                assert_eq!(
                    root, block.header.state_root,
                    "seed {seed}: node {node}'s block {height} claims a state root its execution did not give"
                );
            }
            for (hash, height) in &self.acknowledged {
                if *height <= self.committed_height(node) {
                    let found = store.transaction(hash).ok().flatten().map(|t| t.height);
                    assert_eq!(
                        found,
                        Some(*height),
                        "seed {seed}: node {node} lost transaction {hash} acknowledged at {height}"
                    );
                }
            }
        }
    }
}
