//! Deterministic simulation of the BFT and Raft engines (see `sim/mod.rs` for what each run
//! checks).
//!
//! `SIM_SEEDS=N` sets how many random BFT seeds `random_scenarios` runs (default 1,000),
//! `RAFT_SEEDS=N` the Raft ones (default 300); `SIM_SEED=S` runs one seed; `SIM_DEBUG=1` prints
//! every engine input and output. `scripts/sim` runs 10,000 of each in release mode.
#![allow(clippy::unwrap_used)]

mod sim;

use sim::{Behavior, Crash, Partition, Rng, Scenario, Sim};

/// The seeds to run: `SIM_SEED` alone if set, else `0..$var` (default `default`).
fn seeds(var: &str, default: u64) -> Vec<u64> {
    consortia_test_utils::sim::seeds("SIM_SEED", var, default)
}

/// Runs every seed's scenario on all cores and prints the totals; any failure panics with its
/// seed.
fn run_all(what: &str, seeds: &[u64], scenario: fn(u64) -> Scenario) {
    let started = std::time::Instant::now();
    let reports = consortia_test_utils::sim::run_parallel(seeds, |seed| {
        let report = Sim::new(scenario(seed)).run();
        (report.heights.iter().max().copied().unwrap_or(0), report.messages)
    });
    let heights: u64 = reports.iter().map(|r| r.0).sum();
    let messages: u64 = reports.iter().map(|r| r.1).sum();
    println!(
        "{} {what} seeds passed: {heights} heights decided, {messages} messages, {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn random_scenarios() {
    run_all("BFT", &seeds("SIM_SEEDS", 1_000), Scenario::random);
}

#[test]
fn raft_random_crash_scenarios() {
    // Raft tolerates crashes and loss, not lies: no Byzantine validators here.
    run_all("Raft", &seeds("RAFT_SEEDS", 300), Scenario::random_raft);
}

#[test]
fn raft_survives_the_loss_of_its_leader() {
    for n in [3, 5] {
        let mut s = Scenario::calm(21, n);
        s.params.consensus = consortia_types::ConsensusKind::Raft;
        s.faults.heal_ms = 12_000;
        // Whoever leads, crash every node once, one after another, each back before the next.
        for node in 0..n {
            let at_ms = 1_000 + node as u64 * 2_000;
            s.faults.crashes.push(Crash { node, at_ms, restart_ms: at_ms + 1_500 });
        }
        s.liveness_heights = 10;
        let report = Sim::new(s).run();
        assert!(report.heights.iter().all(|h| *h > 10), "{:?}", report.heights);
    }
}

#[test]
fn one_seed_gives_one_trace() {
    for seed in [1, 42, 4242] {
        let a = Sim::new(Scenario::random(seed)).run();
        let b = Sim::new(Scenario::random(seed)).run();
        assert!(!a.trace.is_empty());
        assert_eq!(a.trace, b.trace, "seed {seed} ran two ways");
    }
    let a = Sim::new(Scenario::random_raft(7)).run();
    let b = Sim::new(Scenario::random_raft(7)).run();
    assert_eq!(a.trace, b.trace, "Raft seed 7 ran two ways");
    let a = Sim::new(Scenario::random(1)).run();
    let b = Sim::new(Scenario::random(2)).run();
    assert_ne!(a.trace, b.trace, "different seeds should differ");
}

#[test]
fn calm_network_decides_a_block_per_height() {
    let mut s = Scenario::calm(7, 4);
    s.liveness_heights = 50;
    let report = Sim::new(s).run();
    assert!(report.heights.iter().all(|h| *h >= 50), "{:?}", report.heights);
    assert_eq!(report.invalid_reports, 0);
}

#[test]
fn every_byzantine_behavior_is_survived_whoever_plays_it() {
    for behavior in Behavior::BYZANTINE {
        for who in 0..4 {
            let mut s = Scenario::calm(100 + who as u64, 4);
            s.faults.behaviors[who] = behavior;
            s.liveness_heights = 12; // every validator proposes at least twice
            let report = Sim::new(s).run();
            if matches!(behavior, Behavior::Garbage | Behavior::DoubleVoter) {
                assert!(report.invalid_reports > 0, "{behavior:?} went unnoticed");
            }
        }
    }
}

#[test]
fn a_two_two_partition_halts_and_then_resumes() {
    let mut s = Scenario::calm(9, 4);
    s.faults.heal_ms = 10_000;
    s.faults.partitions.push(Partition {
        from_ms: 2_000,
        until_ms: 10_000,
        groups: vec![vec![0, 1], vec![2, 3]],
    });
    let report = Sim::new(s).run();
    assert!(report.heights.iter().all(|h| *h > 0));
}

#[test]
fn crashed_validators_restart_from_their_wal_without_double_signing() {
    let mut rng = Rng::new(5);
    for seed in 0..20 {
        let mut s = Scenario::calm(seed, 4);
        s.faults.heal_ms = 8_000;
        for node in 0..4 {
            let at_ms = rng.below(6_000);
            s.faults.crashes.push(Crash { node, at_ms, restart_ms: at_ms + 1 + rng.below(1_500) });
        }
        Sim::new(s).run();
    }
}

#[test]
fn a_lagging_validator_catches_up_by_block_sync() {
    let mut s = Scenario::calm(11, 4);
    s.faults.heal_ms = 6_000;
    s.faults.crashes.push(Crash { node: 3, at_ms: 100, restart_ms: 5_900 });
    let report = Sim::new(s).run();
    assert!(report.trace.iter().any(|t| t.contains("sync n3")), "node 3 never synced");
}

/// `SIM_SEED=S SIM_DEBUG=1 cargo test -p consortia-consensus --test simulation replay -- --ignored
/// --nocapture` prints every input and output of one seed's run: the tool for a failing seed.
#[test]
#[ignore]
fn replay() {
    for seed in seeds("SIM_SEEDS", 1) {
        let report = Sim::new(Scenario::random(seed)).run();
        println!("seed {seed}: heights {:?}", report.heights);
    }
}

/// `SIM_SEED=S SIM_DEBUG=1 ... raft_replay -- --ignored --nocapture`: one Raft seed, traced.
#[test]
#[ignore]
fn raft_replay() {
    for seed in seeds("RAFT_SEEDS", 1) {
        let report = Sim::new(Scenario::random_raft(seed)).run();
        println!("seed {seed}: heights {:?}", report.heights);
    }
}
