//! Deterministic simulation of real nodes: the production consensus driver, mempool, executor
//! and store under faults and Byzantine peers (see `sim/mod.rs` for what each run checks).
//!
//! `NODE_SIM_SEEDS=N` sets how many random seeds each random test runs (default 300 for BFT and
//! for validator-set changes, 100 with an observer and for Raft); `NODE_SIM_SEED=S` runs one seed. `scripts/sim` runs
//! 10,000 of each in release mode.
#![allow(clippy::unwrap_used)]

mod sim;

use consortia_node::p2p::PROTOCOL;
use consortia_test_utils::sim::{Behavior, Crash, Partition};
use sim::{Change, Scenario, Sim};

/// The seeds to run: `NODE_SIM_SEED` alone if set, else `0..NODE_SIM_SEEDS` (default
/// `default`).
fn seeds(default: u64) -> Vec<u64> {
    consortia_test_utils::sim::seeds("NODE_SIM_SEED", "NODE_SIM_SEEDS", default)
}

/// Runs `scenario` for every seed on all cores and prints the totals; any failure panics with
/// its seed.
fn run_all(what: &str, seeds: &[u64], scenario: fn(u64) -> Scenario) -> Vec<sim::Report> {
    let started = std::time::Instant::now();
    let reports =
        consortia_test_utils::sim::run_parallel(seeds, |seed| Sim::new(scenario(seed)).run());
    let heights: u64 = reports.iter().map(|r| r.heights.iter().max().copied().unwrap_or(0)).sum();
    let acknowledged: usize = reports.iter().map(|r| r.acknowledged).sum();
    println!(
        "{} node-level {what} seeds passed: {heights} heights committed, {acknowledged} transactions acknowledged, {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    reports
}

#[test]
fn random_scenarios() {
    run_all("BFT", &seeds(300), Scenario::random);
}

/// An observer follows the validators through the same faults (it is partitioned, crashed and
/// restarted like them) and must hold the same chain.
#[test]
fn random_scenarios_with_an_observer() {
    run_all("BFT + observer", &seeds(100), Scenario::random_with_observer);
}

/// The members change the validator set while the seed's faults strike: joiners are added and
/// catch up, powers change, validators are demoted and removed, and every invariant holds
/// across each change.
#[test]
fn random_scenarios_with_validator_changes() {
    run_all("BFT + validator changes", &seeds(300), Scenario::random_with_changes);
}

/// Without faults, every kind of change goes through and the chain keeps committing.
#[test]
fn a_calm_network_adds_demotes_and_removes_validators() {
    let mut s = Scenario::calm(90, 4);
    s.joiners = 2;
    s.faults.heal_ms = 2_000;
    s.changes = vec![
        Change::Add(4),
        Change::Add(5),
        Change::Power(4, 2),
        Change::Power(0, 0),
        Change::Remove(1),
    ];
    let report = Sim::new(s).run();
    assert_eq!(report.changes, 5, "{report:?}");
    assert!(report.heights[4] >= report.heights[2] - 1, "the joiner caught up: {report:?}");
}

/// A validator added once the chain is well under way starts from a recent block's state (its
/// headers verified from genesis, the state proven chunk by chunk) instead of replaying every
/// block, then votes.
#[test]
fn a_validator_added_late_joins_by_state_sync_and_votes() {
    let mut s = Scenario::calm(92, 4);
    s.joiners = 1;
    s.state_sync_after = Some(10);
    s.changes_from_ms = 3_000;
    s.faults.heal_ms = 4_000;
    s.changes = vec![Change::Add(4), Change::Power(0, 0)];
    let report = Sim::new(s).run();
    assert_eq!(report.changes, 2, "{report:?}");
    assert_eq!(report.restored, 1, "the joiner did not start by state sync: {report:?}");
    assert!(report.heights[4] >= report.heights[1] - 1, "the joiner caught up: {report:?}");
    assert!(report.signed[4] > 0, "the joiner never voted: {report:?}");
}

/// A joiner whose peers include a liar (forged headers, state leaves and receipts) and a node
/// sending noise still starts from a recent state, from the honest peers, and the liar is cut
/// off.
#[test]
fn state_sync_survives_peers_that_lie() {
    let mut lies = 0;
    for (seed, behavior) in [(93, Behavior::InvalidProposer), (94, Behavior::Garbage)] {
        for who in 0..4 {
            let mut s = Scenario::calm(seed + 10 * who as u64, 4);
            s.faults.behaviors[who] = behavior;
            s.byzantine_protocol = PROTOCOL;
            s.joiners = 1;
            // Faults slow the chain: by the time the joiner is added it is a few blocks on.
            s.state_sync_after = Some(4);
            s.changes_from_ms = 3_000;
            s.faults.heal_ms = 4_000;
            s.changes = vec![Change::Add(4)];
            s.liveness_heights = 10;
            let report = Sim::new(s).run();
            assert_eq!(report.restored, 1, "{behavior:?} as node {who}: {report:?}");
            assert!(report.signed[4] > 0, "{behavior:?} as node {who}: {report:?}");
            lies += report.state_sync_lies;
        }
    }
    assert!(lies > 0, "no liar was ever asked");
}

/// Random faults while the members add validators that join by state sync: loss, latency,
/// partitions, crashes (of a joiner too, at a random time after the changes begin: during its
/// state sync or after) and a Byzantine validator.
#[test]
fn random_scenarios_with_joiners_by_state_sync() {
    let reports = run_all("BFT + state sync", &seeds(60), |seed| {
        let mut s = Scenario { state_sync_after: Some(5), ..Scenario::random_with_changes(seed) };
        let at_ms = s.changes_from_ms + 500 + (seed * 397) % 3_000;
        s.faults.crashes.push(Crash { node: 4, at_ms, restart_ms: at_ms + 300 + seed % 700 });
        s
    });
    let restored: usize = reports.iter().map(|r| r.restored).sum();
    println!("{restored} joiners started by state sync");
    assert!(restored > 0 || reports.len() < 10, "no joiner ever started by state sync");
}

/// Raft under crash faults (loss, partitions, crashes; no Byzantine validator).
#[test]
fn raft_random_crash_scenarios() {
    run_all("Raft", &seeds(100), Scenario::random_raft);
}

#[test]
fn a_seed_replays_to_the_same_trace() {
    for seed in [3, 17] {
        let first = Sim::new(Scenario::random(seed)).run();
        let second = Sim::new(Scenario::random(seed)).run();
        assert_eq!(first, second, "seed {seed} ran two ways");
    }
}

#[test]
fn a_calm_network_commits_what_clients_send() {
    let report = Sim::new(Scenario::calm(1, 4)).run();
    assert!(report.acknowledged > 0, "{report:?}");
    assert_eq!(report.disconnects, 0, "an honest peer was disconnected: {report:?}");
}

#[test]
fn proposals_travel_compact_and_missing_transactions_are_fetched() {
    let mut fetched = 0;
    for seed in 1..=4 {
        let report = Sim::new(Scenario::random(seed)).run();
        assert!(report.compact_proposals > 0, "seed {seed}: {report:?}");
        fetched += report.block_tx_requests;
    }
    assert!(fetched > 0, "no receiver ever lacked a transaction of a compact block");
}

#[test]
fn nodes_speaking_whole_and_compact_blocks_commit_together() {
    for legacy in [vec![1], vec![0, 2]] {
        let mut scenario = Scenario::calm(5, 4);
        scenario.legacy = legacy.iter().copied().collect();
        let report = Sim::new(scenario).run();
        assert!(report.acknowledged > 0, "legacy {legacy:?}: {report:?}");
        assert!(report.compact_proposals > 0, "legacy {legacy:?}: {report:?}");
        assert_eq!(report.disconnects, 0, "legacy {legacy:?}: {report:?}");
    }
}

#[test]
fn each_byzantine_behavior_is_survived() {
    for behavior in Behavior::BYZANTINE {
        for who in 0..4 {
            let mut s = Scenario::calm(40 + who as u64, 4);
            s.faults.behaviors[who] = behavior;
            s.faults.heal_ms = 4_000;
            let report = Sim::new(s).run();
            assert!(report.acknowledged > 0, "{behavior:?} as node {who}: {report:?}");
        }
    }
}

#[test]
fn a_validator_crashing_at_its_wal_fsync_comes_back_without_double_signing() {
    for node in 0..4 {
        let mut s = Scenario::calm(60 + node as u64, 4);
        s.crash_at_fsync_per_mille = 1_000;
        s.faults.heal_ms = 6_000;
        for i in 0..4 {
            let at_ms = 500 + i * 1_200;
            s.faults.crashes.push(Crash { node, at_ms, restart_ms: at_ms + 600 });
        }
        Sim::new(s).run();
    }
}

/// Node 3 cut off from the other three from 200 ms until `until_ms`; faults heal 1 s later.
fn cut_off_node_3(s: &mut Scenario, until_ms: u64) {
    s.faults.heal_ms = until_ms + 1_000;
    s.faults.partitions.push(Partition {
        from_ms: 200,
        until_ms,
        groups: vec![vec![0, 1, 2], vec![3]],
    });
}

#[test]
fn a_minority_cut_off_catches_up_by_sync_after_the_partition_heals() {
    let mut s = Scenario::calm(80, 4);
    cut_off_node_3(&mut s, 5_000);
    let report = Sim::new(s).run();
    assert!(report.heights[3] >= report.heights[0] - 1, "{report:?}");
}

/// A validator cut off while the others commit more blocks than one sync request holds
/// catches up from several peers at once (`block_sync.rs`), each answering its own range.
#[test]
fn a_validator_far_behind_syncs_from_several_peers_at_once() {
    let mut s = Scenario::calm(81, 4);
    // Empty blocks besides the clients' transactions, so the chain gets well ahead.
    s.empty_block_interval_ms = 50;
    cut_off_node_3(&mut s, 24_000);
    let report = Sim::new(s).run();
    assert!(report.heights[0] > 2 * 32, "the chain did not get far enough ahead: {report:?}");
    assert!(report.heights[3] >= report.heights[0] - 1, "{report:?}");
    assert!(report.sync_parallel[3] >= 2, "one peer asked at a time: {report:?}");
}

/// A validator that synced past the height its engine was at was asked to build a proposal for
/// that height, built it on the synced block, and stopped ("block 4 cannot follow block 5"):
/// the driver now ignores a build request for a height already decided.
#[test]
fn regression_build_after_sync_past_the_height() {
    Sim::new(Scenario::random(216)).run();
}

/// A Byzantine peer announcing a height far ahead drew every sync request of the nodes behind,
/// and answered with forged blocks: they never caught up. The driver now asks the peers ahead
/// in turn, and the simulator disconnects a misbehaving peer for the network's ban time.
#[test]
fn regression_a_peer_lying_about_its_height_does_not_stall_sync() {
    Sim::new(Scenario::random(113)).run();
}

/// Replays one seed with its scenario printed: `NODE_SIM_SEED=S NODE_SIM_KIND=K cargo test -p
/// consortia-node --test simulation replay -- --ignored --nocapture`, where K is the random
/// test's kind: `bft` (the default), `observer`, `changes` or `raft`.
#[test]
#[ignore = "a debugging aid"]
fn replay() {
    let kind = std::env::var("NODE_SIM_KIND").unwrap_or_default();
    let scenario: fn(u64) -> Scenario = match kind.as_str() {
        "observer" => Scenario::random_with_observer,
        "changes" => Scenario::random_with_changes,
        "raft" => Scenario::random_raft,
        _ => Scenario::random,
    };
    for seed in seeds(1) {
        let scenario = scenario(seed);
        println!("{scenario:#?}");
        println!("{:?}", Sim::new(scenario).run());
    }
}
