//! The fault model both deterministic simulators draw from (the engine-only one in
//! `consortia-consensus` and the node-level one in `consortia-node`): a seeded generator,
//! Byzantine behaviors, partitions, crashes, and a seed's random mix of them.

use consortia_crypto::Hash;

/// SplitMix64: small, fast, and the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn hash(&mut self) -> Hash {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        Hash(out)
    }

    pub fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// How a validator behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Honest,
    /// Proposes two different blocks in its rounds, one to each half of its peers.
    EquivocatingProposer,
    /// Sends each vote for its value to half of its peers and a conflicting vote to the others.
    DoubleVoter,
    /// Runs but never sends anything.
    Silent,
    /// Sends noise instead of its messages: random bytes, bad signatures, votes in other
    /// validators' names, far rounds and heights, another chain's id, forged certificates.
    Garbage,
    /// Proposes blocks whose state root is wrong (they fail re-execution).
    InvalidProposer,
}

impl Behavior {
    pub const BYZANTINE: [Behavior; 5] = [
        Behavior::EquivocatingProposer,
        Behavior::DoubleVoter,
        Behavior::Silent,
        Behavior::Garbage,
        Behavior::InvalidProposer,
    ];
}

/// A network partition: from `from_ms` to `until_ms`, messages only flow within a group.
#[derive(Clone, Debug)]
pub struct Partition {
    pub from_ms: u64,
    pub until_ms: u64,
    pub groups: Vec<Vec<usize>>,
}

#[derive(Clone, Debug)]
pub struct Crash {
    pub node: usize,
    pub at_ms: u64,
    pub restart_ms: u64,
}

/// What goes wrong in one run, until `heal_ms`.
#[derive(Clone, Debug)]
pub struct Faults {
    pub behaviors: Vec<Behavior>,
    pub min_latency_ms: u64,
    pub jitter_ms: u64,
    /// Per mille of messages lost before `heal_ms`.
    pub drop_per_mille: u64,
    pub partitions: Vec<Partition>,
    pub crashes: Vec<Crash>,
    /// From here on: no loss, no partition, every crashed node restarted.
    pub heal_ms: u64,
}

impl Faults {
    /// A calm network of `n` honest validators.
    pub fn calm(n: usize) -> Self {
        Faults {
            behaviors: vec![Behavior::Honest; n],
            min_latency_ms: 5,
            jitter_ms: 20,
            drop_per_mille: 0,
            partitions: vec![],
            crashes: vec![],
            heal_ms: 1_000,
        }
    }

    /// `n` validators, one of them Byzantine (or none), random latency, loss, partitions and
    /// crashes, all drawn from `rng`.
    pub fn random(rng: &mut Rng, n: usize) -> Self {
        let mut s = Faults::calm(n);
        s.min_latency_ms = 1 + rng.below(30);
        s.jitter_ms = rng.below(100);
        s.drop_per_mille = [0, 0, 50, 200][rng.below(4) as usize];
        s.heal_ms = 2_000 + rng.below(6_000);
        let byzantine = rng.below(n as u64 + 2) as usize; // sometimes nobody
        if byzantine < n {
            s.behaviors[byzantine] =
                Behavior::BYZANTINE[rng.below(Behavior::BYZANTINE.len() as u64) as usize];
        }
        if rng.chance(500) {
            let from_ms = rng.below(s.heal_ms / 2);
            let until_ms = from_ms + rng.below(s.heal_ms - from_ms);
            let mut nodes: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                nodes.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let cut = 1 + rng.below(n as u64 - 1) as usize;
            let groups = vec![nodes[..cut].to_vec(), nodes[cut..].to_vec()];
            s.partitions.push(Partition { from_ms, until_ms, groups });
        }
        let crashes = rng.below(3);
        for _ in 0..crashes {
            let node = rng.below(n as u64) as usize;
            let at_ms = rng.below(s.heal_ms);
            let restart_ms = at_ms + rng.below(s.heal_ms - at_ms);
            s.crashes.push(Crash { node, at_ms, restart_ms });
        }
        s
    }

    pub fn healed(&self, now_ms: u64) -> bool {
        now_ms >= self.heal_ms
    }

    /// Whether `a` and `b` can reach each other at `now_ms`.
    pub fn connected(&self, now_ms: u64, a: usize, b: usize) -> bool {
        !self.partitions.iter().any(|p| {
            now_ms >= p.from_ms
                && now_ms < p.until_ms
                && !p.groups.iter().any(|g| g.contains(&a) && g.contains(&b))
        })
    }

    /// Whether a message is lost, and else its latency.
    pub fn link(&self, rng: &mut Rng, now_ms: u64) -> Option<u64> {
        if !self.healed(now_ms) && rng.chance(self.drop_per_mille) {
            return None;
        }
        Some(self.min_latency_ms + rng.below(self.jitter_ms + 1))
    }
}

/// The seeds a simulation test runs: `$one` alone if set, else `0..$count` (default `default`).
pub fn seeds(one: &str, count: &str, default: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var(one) {
        return vec![seed.parse().unwrap_or_else(|_| panic!("{one} is a number"))];
    }
    let n = std::env::var(count)
        .map_or(default, |n| n.parse().unwrap_or_else(|_| panic!("{count} is a number of seeds")));
    (0..n).collect()
}

/// Runs `run` for every seed on all cores (seed order within a thread); a panic fails with its
/// seed's message.
pub fn run_parallel<T: Send>(seeds: &[u64], run: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let run = &run;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    seeds.iter().copied().skip(t).step_by(threads).map(run).collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
