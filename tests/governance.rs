//! On-chain governance on a running network of real `consortia node` processes over mutual
//! TLS: validators join and leave by vote (`consortia net add-node` and `remove-node`, which
//! propose and vote with the network's member admins) while clients keep sending transactions.
#![allow(clippy::unwrap_used)]

use consortia_test_utils::process as common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_sol_types::SolCall;
use common::{Net, consortia, node_client, notarize_tx, sdk, tx_hash, wait_committed};
use consortia_crypto::{Hash, PrivateKey, Scheme};
use consortia_execution::governance::{self, IGovernance};
use consortia_execution::test_utils::{echo_runtime, init_code};
use consortia_test_utils::tx;

const CHAIN: u64 = 1001;

/// Clients sending about `rate` notarizations a second (a batch each 100 ms) to the genesis
/// validators in turn until `stop`; returns every transaction hash admitted.
fn steady_load(
    urls: Vec<String>,
    rate: usize,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Hash>> {
    let batch = (rate / 10).max(1) as u64;
    std::thread::spawn(move || {
        let senders: Vec<PrivateKey> =
            (0..4).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
        let mut nonces = [0u64; 4];
        let mut admitted = Vec::new();
        let mut round = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let s = round % senders.len();
            let txs: Vec<_> = (0..batch)
                .map(|i| {
                    let id = format!("load-{s}-{}", nonces[s] + i);
                    notarize_tx(&senders[s], CHAIN, nonces[s] + i, &id, id.as_bytes())
                })
                .collect();
            let raws: Vec<Vec<u8>> = txs.iter().map(consortia_types::encode).collect();
            let url = &urls[round % urls.len()];
            if let Ok(reply) = sdk(node_client(url).submit_batch(&raws))
                && reply.accepted == txs.len()
            {
                nonces[s] += txs.len() as u64;
                admitted.extend(txs.iter().map(tx_hash));
            }
            round += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        admitted
    })
}

/// The longest time between two consecutive blocks from `from` to `to`, by block time.
fn longest_gap_ms(url: &str, from: u64, to: u64) -> u64 {
    let client = node_client(url);
    let times: Vec<u64> = (from..=to).map(|h| sdk(client.block(h)).unwrap().time_ms).collect();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// The names of the validators whose signatures certify block `height`.
fn signers(client: &consortia_api::NodeClient, height: u64) -> Vec<String> {
    let block = sdk(client.block(height)).unwrap();
    let set = sdk(client.validators(Some(height))).unwrap().validators;
    let certificate = block.certificate.expect("a committed block's certificate");
    certificate.signatures.iter().map(|(i, _)| set[*i as usize].name.clone()).collect()
}

/// How many of the blocks from `from` to `to` a validator outside the genesis set signed.
fn blocks_signed_by_joiners(url: &str, from: u64, to: u64) -> usize {
    let client = node_client(url);
    let genesis: Vec<String> =
        sdk(client.validators(Some(1))).unwrap().validators.into_iter().map(|v| v.name).collect();
    (from..=to).filter(|h| signers(&client, *h).iter().any(|s| !genesis.contains(s))).count()
}

/// Committed transactions per second over blocks `from + 1 ..= to`, by block time.
fn committed_tps(client: &consortia_api::NodeClient, from: u64, to: u64) -> f64 {
    let txs: u64 = (from + 1..=to).map(|h| u64::from(sdk(client.block(h)).unwrap().tx_count)).sum();
    let time = |h| sdk(client.block(h)).unwrap().time_ms;
    txs as f64 * 1000.0 / (time(to) - time(from)).max(1) as f64
}

/// The member admins of a `consortia net up` network, voting through node 0.
struct Members {
    client: consortia_api::NodeClient,
    admins: Vec<PrivateKey>,
}

fn read_key(path: &std::path::Path) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Members {
    fn of(net: &Net) -> Members {
        let admins =
            (0..4).map(|i| read_key(&net.dir.join(format!("admins/org-{i}.pem")))).collect();
        Members { client: node_client(&net.urls[0]), admins }
    }

    /// Sends a governance call from member `m`'s admin and waits for it; it must succeed.
    fn call(&self, m: usize, input: Vec<u8>) -> Vec<u8> {
        let key = &self.admins[m];
        let nonce =
            sdk(self.client.account(&key.public_key().address().to_string())).unwrap().nonce;
        let call = consortia_test_utils::tx::evm_call(Some(governance::ADDRESS), 0, input);
        let tx = consortia_test_utils::tx::native(key, CHAIN, nonce, call);
        let hash = tx_hash(&tx);
        sdk(self.client.submit(&consortia_types::encode(&tx))).unwrap();
        let lookup = wait_committed(self.client.base(), &hash);
        assert_eq!(lookup["receipt"]["status"], "success", "{lookup}");
        hex::decode(lookup["receipt"]["output"].as_str().unwrap().trim_start_matches("0x")).unwrap()
    }

    /// Proposes as org-0 and votes it through with org-1 and org-2; returns the height that
    /// executed it.
    fn decide(&self, input: Vec<u8>) -> u64 {
        let out = self.call(0, input);
        let id = IGovernance::proposeRemoveNodeCall::abi_decode_returns(&out).unwrap();
        for m in [1, 2] {
            self.call(m, IGovernance::voteCall { id, approve: true }.abi_encode());
        }
        let proposal = sdk(self.client.proposal(id)).unwrap();
        assert_eq!(proposal.status, "executed", "{proposal:?}");
        proposal.decided_height.unwrap()
    }
}

/// Adds a node as a validator in two votes: as an observer first, so it syncs while the chain
/// does not count on it, then with power 1 once it caught up (what `net add-node` does).
/// Returns the height of the vote that gave it power.
fn add_validator(
    net: &Net,
    members: &Members,
    joiner: &(String, String, String),
    url: &str,
) -> u64 {
    let (name, consensus, tls) = joiner;
    let input = IGovernance::proposeAddNodeCall {
        name: name.clone(),
        org: "org-0".into(),
        consensusKey: consensus.clone(),
        power: 0,
        tlsKey: tls.clone(),
    };
    let decided = members.decide(input.abi_encode());
    caught_up(net, url, decided);
    members.decide(IGovernance::proposeSetPowerCall { name: name.clone(), power: 1 }.abi_encode())
}

/// A node `consortia net add-node --no-vote` made: its name, consensus key and TLS key.
fn joiner(net: &Net) -> (String, String, String) {
    let data_dir = net.dir.to_str().unwrap();
    let out = consortia(&["net", "add-node", "--no-vote", "--data-dir", data_dir], &[]);
    let name = out.split_whitespace().next().unwrap().to_owned();
    let dir = net.dir.join(&name);
    let consensus = read_key(&dir.join("validator.pem")).public_key().to_base64();
    let tls = read_key(&dir.join("node.key")).public_key().to_base64();
    (name, consensus, tls)
}

/// The REST API of the node named `name` in the network's directory.
fn url_of(net: &Net, name: &str) -> String {
    let file = std::fs::read_to_string(net.dir.join(name).join("node.toml")).unwrap();
    let http = file.lines().find(|l| l.starts_with("http")).unwrap();
    format!("http://{}", http.split('"').nth(1).unwrap())
}

/// Waits until the node at `url` has kept within a block of node 0 for five checks in a row
/// (a node that only just caught up by sync may still fall behind).
fn caught_up(net: &Net, url: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut in_step = 0;
    loop {
        let own = sdk(node_client(url).status()).map(|s| s.height).unwrap_or(0);
        in_step = if own >= at_least && own + 1 >= net.height(0) { in_step + 1 } else { 0 };
        if in_step == 5 {
            return;
        }
        assert!(Instant::now() < deadline, "{url} stuck at {own}; node 0 at {}", net.height(0));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Taken by the tests that run a network under steady load, so that two of them never share
/// this machine's cores: together (4 validators, a joiner and a load generator each, on 2
/// cores) a state-synced joiner starved and did not catch up in time.
static UNDER_LOAD: Mutex<()> = Mutex::new(());

/// Three nodes join as validators by vote and leave again, `GOVERNANCE_CYCLES` times (10 by
/// default), while clients keep sending transactions: the chain never forks, keeps every
/// transaction, and never waits more than 5 s between blocks; the joiners sign blocks.
#[test]
fn validators_join_and_leave_by_vote_under_load() {
    let _turn = UNDER_LOAD.lock().unwrap_or_else(|e| e.into_inner());
    let cycles: usize =
        std::env::var("GOVERNANCE_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let members = Members::of(&net);
    // Three nodes, started once: their peers refuse them until they are voted in, and cut
    // them off again once removed; each return syncs what it missed.
    let joiners: Vec<_> = (0..3).map(|_| joiner(&net)).collect();
    let start = net.height(0);
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(net.urls.clone(), 100, stop.clone());
    let started = Instant::now();
    for _ in 0..cycles {
        let mut last = 0;
        for joiner in &joiners {
            last = add_validator(&net, &members, joiner, &url_of(&net, &joiner.0));
        }
        let set = sdk(node_client(&net.urls[0]).validators(Some(last + 2))).unwrap();
        assert_eq!(set.validators.len(), 7, "from height {}", last + 2);
        for (name, _, _) in joiners.iter().rev() {
            members.decide(IGovernance::proposeRemoveNodeCall { name: name.clone() }.abi_encode());
        }
    }
    let changes = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let admitted = load.join().unwrap();

    // Back to the four genesis validators (the last removal signs off at once, idle or not),
    // which hold one chain with every transaction.
    let client = node_client(&net.urls[0]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let set = loop {
        let set = sdk(client.validators(None)).unwrap();
        if set.validators.len() == 4 || Instant::now() > deadline {
            break set;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let names: Vec<&str> = set.validators.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["node-0", "node-1", "node-2", "node-3"]);
    assert!(!admitted.is_empty());
    for hash in &admitted {
        wait_committed(&net.urls[3], hash);
    }
    net.assert_same_chain(&[0, 1, 2, 3]);

    let end = net.height(0);
    let gap = longest_gap_ms(&net.urls[0], start, end);
    let joined = blocks_signed_by_joiners(&net.urls[0], start, end);
    println!(
        "{cycles} cycles of 3 additions and 3 removals in {:.1} s: {} blocks, {} transactions, longest gap between blocks {gap} ms, {joined} blocks signed by joiners",
        changes.as_secs_f64(),
        end - start,
        admitted.len()
    );
    assert!(gap <= 5_000, "a {gap} ms gap between commits");
    assert!(joined >= cycles, "joiners signed only {joined} blocks in {cycles} cycles");
}

/// `consortia gov` with an admin's key: a proposal, the votes that execute it, the list, the
/// validator set it changed; and a refusal that shows the contract's reason.
#[test]
fn the_gov_command_proposes_votes_and_shows_the_reason_of_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let node = net.urls[0].as_str();
    let key = |i: usize| admin_key(&net, i);
    let out = gov(format!(
        "gov propose --node {node} --key {} set-power --name node-1 --power 2",
        key(0)
    ));
    assert!(out.contains("#1 set the power of `node-1` to 2 [open]"), "{out}");
    gov(format!("gov vote 1 --node {node} --key {}", key(1)));
    let out = gov(format!("gov vote 1 --node {node} --key {}", key(2)));
    assert!(out.contains("[executed]"), "{out}");
    let out = gov(format!("gov list --node {node}"));
    assert!(out.contains("#1 set the power of `node-1` to 2 [executed] by org-0"), "{out}");

    let line = format!("gov propose --node {node} --key {} remove-node --name node-3", key(0));
    let refused =
        std::process::Command::new(&*common::BIN).args(line.split_whitespace()).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("the change would leave 3 BFT validators"), "{stderr}");
}

/// The path of member org-`i`'s admin key that `consortia net up` wrote.
fn admin_key(net: &Net, i: usize) -> String {
    net.dir.join(format!("admins/org-{i}.pem")).to_str().unwrap().to_owned()
}

/// Runs a `consortia` command line (split on spaces) and returns its output.
fn gov(line: String) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    consortia(&args, &[])
}

/// The contract lifecycle on a running network through `consortia gov`: the members switch the
/// deploy policy to `approved`, an unapproved deployment fails with the policy's reason, a dry
/// run names the hash to approve, the approved code deploys, and a frozen contract's calls fail.
#[test]
fn contracts_are_approved_and_frozen_by_vote_on_a_running_network() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let node = net.urls[0].as_str();
    let key = |i: usize| admin_key(&net, i);
    // Proposed by org-0, approved by org-1 and org-2: three of four members.
    let pass = |change: String| {
        let out = gov(format!("gov propose --node {node} --key {} {change}", key(0)));
        let id = out.split_whitespace().next().unwrap().trim_start_matches('#').to_owned();
        gov(format!("gov vote {id} --node {node} --key {}", key(1)));
        let out = gov(format!("gov vote {id} --node {node} --key {}", key(2)));
        assert!(out.contains("[executed]"), "{out}");
    };
    let deployer = PrivateKey::generate(Scheme::Secp256k1);
    let mut nonce = 0;
    let mut send = |to: Option<consortia_crypto::Address>, input: Vec<u8>| {
        let payload = tx::evm_call(to, 0, input);
        let t = tx::native(&deployer, CHAIN, nonce, payload);
        nonce += 1;
        net.submit(0, std::slice::from_ref(&t));
        wait_committed(node, &tx_hash(&t))["receipt"].clone()
    };
    let init = init_code(&echo_runtime());
    let init_hex = format!("0x{}", hex::encode(&init));

    pass("set-parameter --name deploy-policy --value approved".into());
    let receipt = send(None, init.clone());
    assert_eq!(receipt["status"], "failed", "{receipt}");
    assert!(receipt["error"]["message"].as_str().unwrap().contains("is not approved"));

    let simulated: serde_json::Value =
        serde_json::from_str(&gov(format!("gov simulate --node {node} --data {init_hex}")))
            .unwrap();
    assert_eq!(simulated["status"], "success", "{simulated}");
    assert_eq!(simulated["init_code_hash"], governance::init_code_hash(&init).to_hex());
    assert!(simulated["deploy_refusal"].is_string(), "{simulated}");

    pass(format!("approve-code --init-code {init_hex} --label echo"));
    let receipt = send(None, init);
    assert_eq!(receipt["status"], "success", "{receipt}");
    let echo: consortia_crypto::Address =
        format!("0x{}", &receipt["output"].as_str().unwrap()[2..]).parse().unwrap();

    pass(format!("freeze --contract {}", echo.to_checksum_hex()));
    let receipt = send(Some(echo), vec![1; 32]);
    assert!(
        receipt["error"]["message"].as_str().unwrap().starts_with("contract frozen"),
        "{receipt}"
    );
    let status = gov(format!("gov contract --node {node} {}", echo.to_checksum_hex()));
    assert!(status.contains("\"status\": \"frozen\""), "{status}");
}

/// `consortia net add-node` provisions a node, votes it in and waits until it caught up;
/// `remove-node` votes it out and stops it.
#[test]
fn net_add_node_and_remove_node_change_the_running_network() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let data_dir = net.dir.to_str().unwrap();
    let out = consortia(&["net", "add-node", "--data-dir", data_dir], &[]);
    assert!(out.contains("node-4 joined as a validator"), "{out}");
    let client = node_client(&net.urls[0]);
    let names = |client: &consortia_api::NodeClient| -> Vec<String> {
        let nodes = sdk(client.governance_nodes()).unwrap();
        nodes.into_iter().map(|n| n.name).collect()
    };
    assert!(names(&client).contains(&"node-4".to_owned()));
    let pid = common::Net::pid(&net, 4);
    let out = consortia(&["net", "remove-node", "node-4", "--data-dir", data_dir], &[]);
    assert!(out.contains("node-4 removed and stopped"), "{out}");
    assert!(!common::alive(pid), "the removed node still runs");
    assert!(!names(&client).contains(&"node-4".to_owned()));
}

/// The governance benchmark (`scripts/bench-governance`, a release build): committed throughput
/// before and during validator-set changes in one run, the longest gap between blocks, and the
/// time from the deciding vote to the first block the new validator signs.
#[test]
#[ignore = "a benchmark: scripts/bench-governance"]
fn benchmark_validator_set_changes() {
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (rate, window_s) = (env("BENCH_RATE", 500) as usize, env("BENCH_WINDOW_S", 20));
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let members = Members::of(&net);
    let joiners: Vec<_> = (0..3).map(|_| joiner(&net)).collect();
    let client = node_client(&net.urls[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(net.urls.clone(), rate, stop.clone());
    std::thread::sleep(Duration::from_secs(5));
    let before_from = net.height(0);
    std::thread::sleep(Duration::from_secs(window_s));
    let before_to = net.height(0);
    let mut to_first_signature_ms = Vec::new();
    for joiner in &joiners {
        let name = &joiner.0;
        let decided = add_validator(&net, &members, joiner, &url_of(&net, name));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut h = decided + 1;
        loop {
            while net.height(0) < h {
                assert!(Instant::now() < deadline, "{name} never signed a block");
                std::thread::sleep(Duration::from_millis(20));
            }
            if signers(&client, h).contains(name) {
                let at = |h| sdk(client.block(h)).unwrap().time_ms;
                to_first_signature_ms.push(at(h) - at(decided));
                break;
            }
            h += 1;
        }
    }
    for (name, _, _) in joiners.iter().rev() {
        members.decide(IGovernance::proposeRemoveNodeCall { name: name.clone() }.abi_encode());
    }
    let during_to = net.height(0);
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let before = committed_tps(&client, before_from, before_to);
    let during = committed_tps(&client, before_to, during_to);
    if std::env::var_os("BENCH_DEBUG").is_some() {
        for h in before_to + 1..=during_to {
            let (b, p) = (sdk(client.block(h)).unwrap(), sdk(client.block(h - 1)).unwrap());
            if b.time_ms - p.time_ms > 500 {
                let round = b.certificate.map_or(0, |c| c.round);
                println!(
                    "gap before block {h}: {} ms, round {round}, proposer {}",
                    b.time_ms - p.time_ms,
                    b.proposer
                );
            }
        }
        let list = sdk(client.proposals(&Default::default())).unwrap();
        for p in list.proposals {
            println!("proposal {} decided at {:?}: {}", p.id, p.decided_height, p.summary);
        }
        println!("network kept in {}", dir.path().display());
        std::mem::forget(dir);
        return;
    }
    let gap_before = longest_gap_ms(&net.urls[0], before_from, before_to);
    let gap = longest_gap_ms(&net.urls[0], before_to, during_to);
    let rss: Vec<String> = (0..7)
        .map(|i| {
            let pid = std::fs::read_to_string(net.dir.join(format!("node-{i}/node.pid")));
            let status = pid
                .ok()
                .and_then(|p| std::fs::read_to_string(format!("/proc/{}/status", p.trim())).ok());
            let peak = status.and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM"))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0))
            });
            format!("node-{i} {} MiB", peak.unwrap_or(0) / 1024)
        })
        .collect();
    println!(
        "offered {rate} tx/s; committed before the changes {before:.0} tx/s ({window_s} s), during 3 additions and 3 removals {during:.0} tx/s ({:.1}% of before); longest gap between blocks {gap_before} ms before, {gap} ms during; deciding vote to the new validator's first signed block {to_first_signature_ms:?} ms; peak RSS {}",
        during / before * 100.0,
        rss.join(", ")
    );
}

/// A validator added to a chain well under way starts from a recent block's state (state sync:
/// headers verified from genesis, the state proven chunk by chunk) instead of replaying every
/// block: it holds the chain from that block, says "pruned" below it, and signs blocks.
#[test]
fn a_validator_added_late_starts_by_state_sync_and_signs() {
    let _turn = UNDER_LOAD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let net = Net::up(dir.path(), 4);
    let members = Members::of(&net);
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(net.urls.clone(), 100, stop.clone());
    while net.height(0) < 150 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let joiner = joiner(&net);
    // Restarted with a low threshold, so that 150 blocks count as far behind.
    let node_dir = net.dir.join(&joiner.0);
    let pid = std::fs::read_to_string(node_dir.join("node.pid")).unwrap();
    let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status();
    while common::alive(pid.trim().parse().unwrap()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let config = node_dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[sync]\nstate_sync_after = 50\n")).unwrap();
    let log = std::fs::File::create(node_dir.join("node.log")).unwrap();
    let mut child = std::process::Command::new(&*common::BIN)
        .args(["node", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = url_of(&net, &joiner.0);
    let decided = add_validator(&net, &members, &joiner, &url);
    let status = sdk(node_client(&url).status()).unwrap();
    assert!(status.first_block >= 100, "it replayed blocks instead: {status:?}");
    let (code, body) = common::get_json(&common::http(), &format!("{url}/v1/blocks/1"));
    assert_eq!((code, body["code"].as_str()), (410, Some("pruned")), "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while blocks_signed_by_joiners(&net.urls[0], decided + 2, net.height(0)) == 0 {
        assert!(Instant::now() < deadline, "the state-synced validator never signed a block");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for hash in load.join().unwrap().iter().rev().take(20) {
        wait_committed(&url, hash);
    }
    let _ = child.kill();
    let _ = child.wait();
}
