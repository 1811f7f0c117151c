//! The node-level deterministic simulator: N real consensus drivers ([`Driver`]) with their
//! mempools, executors and stores (redb on its in-memory backend), over a simulated world: a
//! virtual clock (each node's running ahead by up to 3 s), links with latency, jitter (so
//! reordering), loss and partitions that heal, a WAL in memory that loses its unsynced tail when
//! its node crashes, crashes at any event or at a WAL fsync, restarts from what was persisted,
//! clients submitting notarizations, and Byzantine validators (real drivers whose outgoing
//! frames are rewritten). One seed gives one trace. A scenario may also change the validator
//! set as the run goes: member organizations' admins propose and vote through the governance
//! contract (adding nodes that join, changing power, demoting and removing validators), and each
//! node's peers follow the chain's node list (a removed node is cut off).
//!
//! Every run checks:
//! - agreement: no two honest nodes hold different blocks at one height;
//! - validity: every committed block carries a certificate that verifies against the validator
//!   set of its height (as the chain's own state names it), its header commits to the next
//!   height's set, it holds only transactions clients submitted, and its header's state root is
//!   the root the store computed;
//! - no honest double signing: no honest validator signs two different messages for one height,
//!   round and step, across crashes;
//! - durability: a transaction a client saw committed stays committed, at the same height, on
//!   every honest node;
//! - liveness: once the network heals and crashed nodes are back, every honest node still in
//!   the chain's node list commits new blocks within bounded virtual time, and every planned
//!   validator-set change is executed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_sol_types::SolCall;
use consortia_consensus::{Message, RaftKind, SignedVote};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_execution::governance::{self, IGovernance};
use consortia_node::driver::{Driver, Event, Parts};
use consortia_node::mempool::MempoolConfig;
use consortia_node::network::{NetEvent, PeerId};
use consortia_node::p2p::{PROTOCOL, Wire};
use consortia_node::wal::WalEntry;
use consortia_node::world::{Clock, CommitJob, Job, Tasks, Transport, WalStore, World};
use consortia_node::{Node, NodeError};
use consortia_storage::{BlockReader, ChainStore, StateHistory, StateProofReader, TxReader};
use consortia_test_utils::genesis::validator_key;
use consortia_test_utils::sim::{Behavior, Faults, Rng};
use consortia_test_utils::tx;
use consortia_types::{
    CommitCertificate, ConsensusKind, Genesis, GenesisMember, Height, NodeIdentity, ReceiptStatus,
    Transaction, encode,
};
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
    /// Nodes after the observers with a key no genesis set holds: they join when governance
    /// adds them (until then no peer admits them).
    pub(crate) joiners: usize,
    /// Validator-set changes the members make one after another, from `changes_from_ms`.
    pub(crate) changes: Vec<Change>,
    pub(crate) changes_from_ms: u64,
    /// Honest nodes that speak protocol 1 (a build before compact blocks), by index.
    pub(crate) legacy: BTreeSet<usize>,
    /// How far behind a node holding only block 0 starts by state sync (`None`: never).
    pub(crate) state_sync_after: Option<Height>,
    /// The protocol Byzantine nodes speak: 1 by default, so their rewrites act on whole blocks;
    /// the newest to be asked for state sync (and lie in it).
    pub(crate) byzantine_protocol: u32,
    /// The chain's `empty_block_interval_ms` (0: blocks only for transactions).
    pub(crate) empty_block_interval_ms: u64,
}

/// A validator-set change, by node index (node `i`'s consensus key is `validator_key(i)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add a joiner as a validator of power 1.
    Add(usize),
    /// Remove a node from the chain (it is cut off).
    Remove(usize),
    /// Set a validator's power (0 demotes it to an observer, still connected).
    Power(usize, u64),
}

/// The number of member organizations (each runs one genesis validator and has one admin);
/// a proposal passes with the proposer's and two more votes.
const MEMBERS: usize = 4;

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
            joiners: 0,
            changes: vec![],
            changes_from_ms: 0,
            legacy: BTreeSet::new(),
            state_sync_after: Some(consortia_node::STATE_SYNC_AFTER),
            byzantine_protocol: 1,
            empty_block_interval_ms: 0,
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

    /// A random seed's faults while the members change the validator set: three joiners, and
    /// five changes drawn from the seed (additions, removals, power changes, demotions), each
    /// one the governance contract accepts (BFT keeps 4 validators and moves less than a third
    /// of the power per change) and none that gives the Byzantine validator more power.
    pub(crate) fn random_with_changes(seed: u64) -> Self {
        let mut s = Scenario::random(seed);
        let mut rng = Rng::new(seed ^ 0x60F_E2A5);
        s.joiners = 3;
        s.changes_from_ms = rng.below(3_000);
        let joiners: Vec<usize> = (4..4 + s.joiners).collect();
        let mut power: BTreeMap<usize, u64> = (0..4).map(|v| (v, 1)).collect();
        for _ in 0..5 {
            let total: u64 = power.values().sum();
            let validators = power.values().filter(|p| **p > 0).count();
            let mut options = vec![];
            for j in &joiners {
                if !power.contains_key(j) {
                    options.push(Change::Add(*j));
                }
            }
            for (&v, &p) in &power {
                let honest = s.faults.behaviors.get(v).is_none_or(|b| *b == Behavior::Honest);
                let can_leave = validators > 4 && p * 3 < total;
                if p > 0 && can_leave {
                    options.push(Change::Remove(v));
                    options.push(Change::Power(v, 0));
                }
                if p == 1 && honest {
                    options.push(Change::Power(v, 2));
                }
                if p == 2 {
                    options.push(Change::Power(v, 1));
                }
            }
            let change = options[rng.below(options.len() as u64) as usize];
            match change {
                Change::Add(j) => drop(power.insert(j, 1)),
                Change::Remove(v) => drop(power.remove(&v)),
                Change::Power(v, p) => drop(power.insert(v, p)),
            }
            s.changes.push(change);
        }
        s
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
    /// Each node's admitted peers, as its driver last set them.
    allowed: Vec<(usize, Vec<PeerId>)>,
}

/// One node's end of the simulated network: frames wait in the outbox until the simulator
/// routes them.
#[derive(Debug)]
struct Link {
    me: usize,
    peers: Arc<Vec<PeerId>>,
    /// The newest protocol version each node speaks; a link speaks the lower of its ends'.
    protocols: Arc<Vec<u32>>,
    outbox: Arc<Mutex<Outbox>>,
}

/// The TLS key of node `i` (its peer identity).
fn tls_key(node: usize) -> consortia_crypto::PublicKey {
    validator_key(500 + node).public_key()
}

/// The key of the admin of member `i`.
fn admin_key(member: usize) -> PrivateKey {
    validator_key(3_000 + member)
}

impl Link {
    fn node_of(&self, peer: PeerId) -> usize {
        self.peers.iter().position(|p| *p == peer).expect("a simulated peer")
    }
}

impl Transport for Link {
    fn send(&self, peer: PeerId, frame: Vec<u8>) {
        let to = Some(self.node_of(peer));
        self.outbox.lock().frames.push(Outgoing { from: self.me, to, frame });
    }

    fn broadcast(&self, frame: Vec<u8>) {
        self.outbox.lock().frames.push(Outgoing { from: self.me, to: None, frame });
    }

    fn broadcast_by_protocol(&self, frame_for: &mut dyn FnMut(u32) -> Vec<u8>) {
        let spoken = |peer: usize| self.protocols[self.me].min(self.protocols[peer]);
        let peers: Vec<usize> = (0..self.peers.len()).filter(|p| *p != self.me).collect();
        let versions: BTreeSet<u32> = peers.iter().map(|p| spoken(*p)).collect();
        if let [only] = versions.iter().copied().collect::<Vec<_>>()[..] {
            return self.broadcast(frame_for(only));
        }
        let frames: BTreeMap<u32, Vec<u8>> = versions.iter().map(|v| (*v, frame_for(*v))).collect();
        let mut outbox = self.outbox.lock();
        for to in peers {
            let frame = frames[&spoken(to)].clone();
            outbox.frames.push(Outgoing { from: self.me, to: Some(to), frame });
        }
    }

    fn protocol(&self, peer: PeerId) -> u32 {
        self.protocols[self.me].min(self.protocols[self.node_of(peer)])
    }

    fn disconnect(&self, peer: PeerId, _reason: &str) {
        let peer = self.node_of(peer);
        self.outbox.lock().disconnects.push((self.me, peer));
    }

    fn set_allowed(&self, peers: &[PeerId], _cas: &[String]) {
        self.outbox.lock().allowed.push((self.me, peers.to_vec()));
    }

    fn peer_count(&self) -> usize {
        self.peers.len() - 1
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
    store: Arc<ChainStore>,
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
    /// The members' next governance step.
    Govern,
    /// Each side of a link hears that it went down or came back.
    Link {
        node: usize,
        peer: usize,
        up: bool,
    },
}

/// A client: one transaction in flight at a time, resubmitted to another node if it is not
/// committed in time. A notarizer makes notarizations without end; a member's admin sends the
/// governance calls queued for it, and keeps the receipt of the last one.
struct Client {
    key: PrivateKey,
    nonce: u64,
    in_flight: Option<InFlight>,
    /// Governance calls to send (admins only).
    calls: Option<VecDeque<Vec<u8>>>,
    last_receipt: Option<consortia_types::Receipt>,
}

/// Where the members are in carrying out the scenario's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GovPhase {
    Idle,
    /// Admin 0 proposed the next change.
    Proposed,
    /// Admins 1 and 2 vote for proposal `id`.
    Voting {
        id: u64,
    },
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
    /// Validator-set changes executed.
    pub(crate) changes: usize,
    /// Compact proposals sent, and asks for transactions a receiver's pool lacked.
    pub(crate) compact_proposals: usize,
    pub(crate) block_tx_requests: usize,
    /// Nodes whose store starts after block 0: they joined by state sync.
    pub(crate) restored: usize,
    /// Consensus messages each honest validator signed (one per height, round and step).
    pub(crate) signed: Vec<usize>,
    /// Answers to a node in state sync that a Byzantine node forged.
    pub(crate) state_sync_lies: usize,
    /// For each node, the most block-sync requests it had in flight at once (to different
    /// peers, unanswered).
    pub(crate) sync_parallel: Vec<usize>,
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
    /// Each node's peer identity.
    peer_ids: Arc<Vec<PeerId>>,
    /// The newest protocol version each node speaks: Byzantine nodes and the scenario's legacy
    /// nodes speak 1 (whole blocks), the others [`PROTOCOL`].
    protocols: Arc<Vec<u32>>,
    /// Frames routed, by kind: compact proposals and asks for their missing transactions.
    compact_proposals: usize,
    state_sync_lies: usize,
    block_tx_requests: usize,
    /// Each node's block-sync requests in flight (the peers asked), and the most at once.
    sync_asked: Vec<BTreeSet<usize>>,
    sync_parallel: Vec<usize>,
    /// The peers each node admits (`None` until its driver says).
    allowed: Vec<Option<BTreeSet<usize>>>,
    /// Nodes outside the chain's node list: joiners not added yet, and nodes governance
    /// removed. No peer admits them, so they are not held to liveness.
    outside: BTreeSet<usize>,
    changes: VecDeque<Change>,
    gov_phase: GovPhase,
    changes_done: usize,
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
        genesis.params.empty_block_interval_ms = scenario.empty_block_interval_ms;
        let observers = (n..n + scenario.observers).map(|_| (None, Behavior::Honest));
        let first_joiner = n + scenario.observers;
        let joiners = (first_joiner..first_joiner + scenario.joiners)
            .map(|i| (Some(validator_key(i)), Behavior::Honest));
        let all: Vec<(Option<PrivateKey>, Behavior)> = keys
            .into_iter()
            .map(Some)
            .zip(scenario.faults.behaviors.iter().copied())
            .chain(observers)
            .chain(joiners)
            .collect();
        // Genesis lists the validators and observers (not the joiners) with their TLS keys,
        // and the members: member i runs validator i.
        genesis.nodes = (0..first_joiner)
            .map(|i| NodeIdentity {
                name: if i < n { format!("validator-{i}") } else { format!("observer-{i}") },
                key: tls_key(i),
            })
            .collect();
        genesis.members = (0..MEMBERS.min(n))
            .map(|i| GenesisMember {
                id: format!("org-{i}"),
                admins: vec![admin_key(i).public_key().address()],
                ca_cert: String::new(),
                nodes: vec![format!("validator-{i}")],
            })
            .collect();
        let mut rng = Rng::new(scenario.seed);
        let peer_ids: Vec<PeerId> =
            (0..all.len()).map(|i| PeerId::of(&tls_key(i)).expect("an Ed25519 key")).collect();
        let mut nodes = all
            .into_iter()
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
        let notarizers = (0..CLIENTS).map(|c| Client {
            key: validator_key(1_000 + c),
            nonce: 0,
            in_flight: None,
            calls: None,
            last_receipt: None,
        });
        let admins = (0..MEMBERS).map(|m| Client {
            key: admin_key(m),
            nonce: 0,
            in_flight: None,
            calls: Some(VecDeque::new()),
            last_receipt: None,
        });
        let clients = notarizers.chain(admins).collect();
        let node_count = nodes.len();
        let protocols = (0..node_count)
            .map(|i| match (nodes[i].behavior, scenario.legacy.contains(&i)) {
                (_, true) => 1,
                (Behavior::Honest, false) => PROTOCOL,
                _ => scenario.byzantine_protocol,
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
            peer_ids: Arc::new(peer_ids),
            protocols: Arc::new(protocols),
            compact_proposals: 0,
            state_sync_lies: 0,
            block_tx_requests: 0,
            sync_asked: vec![BTreeSet::new(); node_count],
            sync_parallel: vec![0; node_count],
            allowed: vec![None; node_count],
            outside: (first_joiner..node_count).collect(),
            changes: VecDeque::new(),
            gov_phase: GovPhase::Idle,
            changes_done: 0,
        };
        sim.changes = sim.scenario.changes.iter().copied().collect();
        for node in 0..node_count {
            sim.start(node);
        }
        for client in 0..CLIENTS + MEMBERS {
            let after = sim.rng.below(200);
            sim.push(after, Ev::Client { client });
        }
        if !sim.changes.is_empty() {
            sim.push_at(sim.scenario.changes_from_ms, Ev::Govern);
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
            transport: Some(Arc::new(Link {
                me: node,
                peers: self.peer_ids.clone(),
                protocols: self.protocols.clone(),
                outbox: self.outbox.clone(),
            })),
            clock: VirtualClock { time: self.clock.clone(), ahead_ms: sim_node.clock_ahead_ms },
            wal: Some((MemoryWal(sim_node.wal.clone()), entries)),
            tasks: SimTasks { commit: commit.clone() },
        };
        handle.set_state_sync_after(self.scenario.state_sync_after);
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
                let (them, me) = (self.peer_ids[peer], self.peer_ids[node]);
                self.call(node, |d| d.handle(Event::Net(NetEvent::Connected(them))));
                self.call(peer, |d| d.handle(Event::Net(NetEvent::Connected(me))));
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
        let Outbox { frames, disconnects, allowed } = std::mem::take(&mut *self.outbox.lock());
        for (node, peer) in disconnects {
            self.disconnect(node, peer);
        }
        for (node, peers) in allowed {
            self.set_allowed(node, &peers);
        }
        for out in frames {
            match borsh::from_slice::<Wire>(&out.frame) {
                Ok(Wire::CompactProposal { .. }) => self.compact_proposals += 1,
                Ok(Wire::GetBlockTxs { .. }) => self.block_tx_requests += 1,
                Ok(Wire::SyncRequest { .. }) => {
                    if let Some(to) = out.to {
                        let asked = &mut self.sync_asked[out.from];
                        asked.insert(to);
                        self.sync_parallel[out.from] =
                            self.sync_parallel[out.from].max(asked.len());
                    }
                }
                Ok(Wire::SyncBlocks(_)) => {
                    if let Some(to) = out.to {
                        self.sync_asked[to].remove(&out.from);
                    }
                }
                _ => {}
            }
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

    /// A link carries frames when neither side banned the other and each admits the other
    /// (a TLS session needs both sides' consent).
    fn link_up(&self, a: usize, b: usize) -> bool {
        let admits = |x: usize, y: usize| self.allowed[x].as_ref().is_none_or(|s| s.contains(&y));
        self.cut.get(&(a.min(b), a.max(b))).is_none_or(|until| *until <= self.now_ms())
            && admits(a, b)
            && admits(b, a)
    }

    /// A node's driver changed whom it admits: links that open or close are announced to both
    /// sides, as connections made or dropped.
    fn set_allowed(&mut self, node: usize, peers: &[PeerId]) {
        let before: Vec<bool> = (0..self.nodes.len()).map(|p| self.link_up(node, p)).collect();
        let admitted =
            peers.iter().filter_map(|id| self.peer_ids.iter().position(|p| p == id)).collect();
        self.allowed[node] = Some(admitted);
        for (peer, was_up) in before.into_iter().enumerate() {
            let up = self.link_up(node, peer);
            if peer != node && up != was_up {
                self.push(0, Ev::Link { node, peer, up });
                self.push(0, Ev::Link { node: peer, peer: node, up });
            }
        }
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
        let message = match borsh::from_slice::<Wire>(frame) {
            Ok(Wire::Consensus { message, .. } | Wire::CompactProposal { message, .. }) => message,
            _ => return,
        };
        let Some(public) = self.nodes[node].key.as_ref().map(PrivateKey::public_key) else {
            return; // an observer signs nothing
        };
        let slot = match &message {
            Message::Proposal(p) if p.verify(&public) => {
                (node, p.proposal.height, p.proposal.round, 0)
            }
            Message::Vote(v) if v.verify(&public) => {
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
                if v.verify(&key.public_key()) =>
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
            // It lies to nodes in state sync: a header that its certificate does not sign, a
            // state leaf changed, a receipt that is not the block's.
            (Behavior::InvalidProposer, Some(Wire::Headers(mut headers))) => {
                if let Some(last) = headers.last_mut() {
                    last.header.state_root = self.rng.hash();
                }
                self.state_sync_lies += 1;
                let frame = Wire::Headers(headers).encode();
                for to in targets {
                    self.send(from, to, frame.clone());
                }
            }
            (Behavior::InvalidProposer, Some(Wire::StateChunk(mut chunk))) => {
                let at = self.rng.below(chunk.leaves.len().max(1) as u64) as usize;
                if let Some((_, value)) = chunk.leaves.get_mut(at) {
                    value.push(0x5a);
                }
                self.state_sync_lies += 1;
                let frame = Wire::StateChunk(chunk).encode();
                for to in targets {
                    self.send(from, to, frame.clone());
                }
            }
            (Behavior::InvalidProposer, Some(Wire::BaseBlock { block, mut receipts })) => {
                receipts.push(consortia_types::Receipt {
                    status: consortia_types::ReceiptStatus::Success,
                    steps_used: 1,
                    events: vec![],
                    output: vec![],
                });
                self.state_sync_lies += 1;
                let frame = Wire::BaseBlock { block, receipts }.encode();
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
        // Clients reach the nodes of the chain (one outside it has no peers to gossip to).
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|n| self.alive(*n) && self.honest(*n) && !self.outside.contains(n))
            .collect();
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
                c.last_receipt = Some(tx.receipt);
            } else if now_ms >= f.sent_ms + 3_000 {
                resend = Some(f.raw.clone());
            }
        }
        if self.clients[client].in_flight.is_none() {
            let c = &mut self.clients[client];
            let tx: Option<Transaction> = match &mut c.calls {
                None => {
                    let id = format!("c{client}-{}", c.nonce);
                    Some(tx::notarize(&c.key, CHAIN_ID, c.nonce, &id, id.as_bytes()))
                }
                Some(calls) => calls.pop_front().map(|input| {
                    let call = tx::evm_call(Some(governance::ADDRESS), 0, input);
                    tx::native(&c.key, CHAIN_ID, c.nonce, call)
                }),
            };
            if let Some(tx) = tx {
                resend = Some(encode(&tx));
                self.submitted.insert(tx.hash(HASH));
            }
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

    /// The name of node `i` in the chain's node list.
    fn node_name(&self, node: usize) -> String {
        let validators = self.scenario.faults.behaviors.len();
        match node {
            n if n < validators => format!("validator-{n}"),
            n if n < validators + self.scenario.observers => format!("observer-{n}"),
            n => format!("joiner-{n}"),
        }
    }

    fn proposal_of(&self, change: Change) -> Vec<u8> {
        match change {
            Change::Add(node) => IGovernance::proposeAddNodeCall {
                name: self.node_name(node),
                org: "org-0".into(),
                consensusKey: validator_key(node).public_key().to_base64(),
                power: 1,
                tlsKey: tls_key(node).to_base64(),
            }
            .abi_encode(),
            Change::Remove(node) => {
                IGovernance::proposeRemoveNodeCall { name: self.node_name(node) }.abi_encode()
            }
            Change::Power(node, power) => {
                IGovernance::proposeSetPowerCall { name: self.node_name(node), power }.abi_encode()
            }
        }
    }

    /// Member `m`'s admin has sent everything queued for it; its last receipt, if any.
    fn admin_done(&mut self, member: usize) -> Option<consortia_types::Receipt> {
        let admin = &mut self.clients[CLIENTS + member];
        let idle = admin.in_flight.is_none() && admin.calls.as_ref().is_some_and(|c| c.is_empty());
        if idle { admin.last_receipt.take() } else { None }
    }

    fn queue_call(&mut self, member: usize, input: Vec<u8>) {
        let admin = &mut self.clients[CLIENTS + member];
        admin.last_receipt = None;
        admin.calls.get_or_insert_default().push_back(input);
    }

    /// The members carry out the next change: admin 0 proposes, admins 1 and 2 vote (with the
    /// proposer's, three of four members: more than half).
    fn govern(&mut self) {
        let seed = self.seed();
        let Some(change) = self.changes.front().copied() else { return };
        match self.gov_phase {
            GovPhase::Idle => {
                let input = self.proposal_of(change);
                self.queue_call(0, input);
                self.gov_phase = GovPhase::Proposed;
            }
            GovPhase::Proposed => {
                if let Some(receipt) = self.admin_done(0) {
                    assert_eq!(
                        receipt.status,
                        ReceiptStatus::Success,
                        "seed {seed}: proposing {change:?} failed"
                    );
                    let id = IGovernance::proposeAddNodeCall::abi_decode_returns(&receipt.output)
                        .expect("a proposal id");
                    for member in [1, 2] {
                        self.queue_call(
                            member,
                            IGovernance::voteCall { id, approve: true }.abi_encode(),
                        );
                    }
                    self.gov_phase = GovPhase::Voting { id };
                }
            }
            GovPhase::Voting { id } => {
                let admin = |sim: &Sim, m: usize| {
                    let c = &sim.clients[CLIENTS + m];
                    c.in_flight.is_none()
                        && c.calls.as_ref().is_some_and(|c| c.is_empty())
                        && c.last_receipt.is_some()
                };
                if admin(self, 1) && admin(self, 2) {
                    for member in [1, 2] {
                        let receipt = self.admin_done(member).expect("checked above");
                        assert_eq!(
                            receipt.status,
                            ReceiptStatus::Success,
                            "seed {seed}: a vote on proposal {id} ({change:?}) failed"
                        );
                    }
                    match change {
                        Change::Remove(node) => drop(self.outside.insert(node)),
                        Change::Add(node) => drop(self.outside.remove(&node)),
                        Change::Power(..) => {}
                    }
                    self.record(&[b'G', self.changes_done as u8]);
                    if self.debug {
                        eprintln!("{} executed {change:?} (proposal {id})", self.now_ms());
                    }
                    self.changes_done += 1;
                    self.changes.pop_front();
                    self.gov_phase = GovPhase::Idle;
                }
            }
        }
        if !self.changes.is_empty() {
            self.push(200, Ev::Govern);
        }
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
                    let peer = self.peer_ids[from];
                    self.call(to, |d| d.handle(Event::Net(NetEvent::Frame(peer, frame.into()))));
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
            Ev::Govern => self.govern(),
            Ev::Link { node, peer, up } => {
                if self.alive(node) && self.alive(peer) && up == self.link_up(node, peer) {
                    let event = match up {
                        true => NetEvent::Connected(self.peer_ids[peer]),
                        false => NetEvent::Disconnected(self.peer_ids[peer]),
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

    /// The heights of the honest nodes still in the chain (a removed node is cut off).
    fn honest_heights(&self) -> Vec<Height> {
        (0..self.nodes.len())
            .filter(|n| self.honest(*n) && !self.outside.contains(n))
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
        while self.honest_heights().into_iter().any(|h| h < target) || !self.changes.is_empty() {
            assert!(
                self.now_ms() <= deadline,
                "seed {}: no liveness: honest heights {:?} did not reach {target}, or changes {:?} were left, within {} ms of healing ({:?})",
                self.seed(),
                self.honest_heights(),
                self.changes,
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
            changes: self.changes_done,
            compact_proposals: self.compact_proposals,
            block_tx_requests: self.block_tx_requests,
            restored: self.nodes.iter().filter(|n| n.store.first_block().unwrap_or(1) > 1).count(),
            signed: (0..self.nodes.len())
                .map(|n| self.signed.keys().filter(|(node, ..)| *node == n).count())
                .collect(),
            state_sync_lies: self.state_sync_lies,
            sync_parallel: std::mem::take(&mut self.sync_parallel),
        }
    }

    /// Agreement, validity and durability over what every honest node's store holds.
    fn check_chains(&self) {
        let seed = self.seed();
        let mut chain: BTreeMap<Height, Hash> = BTreeMap::new();
        for node in (0..self.nodes.len()).filter(|n| self.honest(*n)) {
            let store = &self.nodes[node].store;
            // A node that joined by state sync holds the chain from the block it restored.
            let first_held = store.first_block().expect("a store read");
            let restored = store.base_validators().expect("a store read");
            for height in first_held..=self.committed_height(node) {
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
                // The set of a height is the one the state two blocks earlier names (a
                // restored store recorded the one its state cannot tell; the restored block's
                // own certificate was checked by the sync that fetched it).
                let set_of = |h: Height| match &restored {
                    Some((at, set)) if *at == h => Some(set.clone()),
                    _ if first_held > 1
                        && h.saturating_sub(governance::ACTIVATION_DELAY) < first_held =>
                    {
                        None
                    }
                    _ => {
                        let state = store.state_at(h.saturating_sub(governance::ACTIVATION_DELAY));
                        Some(
                            governance::validators(&*state.expect("a past state"))
                                .expect("validators"),
                        )
                    }
                };
                if let Some(set) = set_of(height)
                    && let Err(e) =
                        certificate.verify(&block.header, HASH, &set, self.scenario.consensus)
                {
                    panic!("seed {seed}: node {node}'s block {height}: {e}");
                }
                let next = set_of(height + 1).expect("the set after a held block is known");
                assert_eq!(
                    block.header.next_validators_hash,
                    consortia_types::validators_hash(HASH, &next),
                    "seed {seed}: node {node}'s block {height} names another next validator set"
                );
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
                if (first_held..=self.committed_height(node)).contains(height) {
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
