//! Crash safety: `kill -9` the node at random moments under load, many times. After every
//! kill the store passes redb's integrity check and its indexes find every transaction the
//! client saw committed; after every restart, each transaction the
//! client saw committed is still there, in the same block, and the chain goes on.
//! `CRASH_ITERATIONS` sets the number of kills (default 20); `CRASH_SEED` replays a run's kill
//! timings.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consortia_crypto::{PrivateKey, Scheme};
use consortia_test_utils::process::*;
use serde_json::json;

/// xorshift64*: kill timings reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn kill_9_under_load_never_loses_a_committed_transaction() {
    let iterations: usize =
        std::env::var("CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed = std::env::var("CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("crash test: {iterations} kills, CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let client = http();
    let keys: Vec<PrivateKey> = (0..48).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
    // (tx hash, height, block hash) of every transaction seen committed.
    let mut acknowledged: Vec<(String, u64, String)> = Vec::new();
    let mut seen_height = 0u64;
    let mut serial = 0u64;

    for round in 0..=iterations {
        let mut node = DevNode::start(dir.path(), &[]);
        let url = node.url.clone();

        // Everything acknowledged before the crash is still there, unchanged.
        for (hash, height, block_hash) in &acknowledged {
            let (code, found) = get_json(&client, &format!("{url}/v1/transactions/{hash}"));
            assert_eq!(
                code, 200,
                "round {round}: committed {hash} lost after kill -9 (seed {seed})"
            );
            assert_eq!(found["height"].as_u64(), Some(*height), "round {round}: {hash} moved");
            assert_eq!(
                found["block_hash"].as_str(),
                Some(block_hash.as_str()),
                "round {round}: block changed"
            );
        }
        let (_, status) = get_json(&client, &format!("{url}/v1/status"));
        assert!(
            status["height"].as_u64().unwrap() >= seen_height,
            "round {round}: height went back"
        );
        if round == iterations {
            break;
        }
        let chain_id = status["chain_id"].as_u64().unwrap();
        let mut nonces: Vec<u64> = keys
            .iter()
            .map(|k| {
                let (_, a) =
                    get_json(&client, &format!("{url}/v1/accounts/{}", k.public_key().address()));
                a["nonce"].as_u64().unwrap()
            })
            .collect();

        // A killer thread picks the moment; this thread keeps the node busy until then.
        let pid = node.child.id();
        let delay = Duration::from_millis(150 + rng.next() % 900);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        let deadline = Instant::now() + delay + Duration::from_secs(5);
        'load: while Instant::now() < deadline {
            let batch: Vec<String> = keys
                .iter()
                .zip(nonces.iter_mut())
                .map(|(k, n)| {
                    serial += 1;
                    let tx = notarize_tx(
                        k,
                        chain_id,
                        *n,
                        &format!("crash-{serial}"),
                        &serial.to_le_bytes(),
                    );
                    *n += 1;
                    hex_tx(&tx)
                })
                .collect();
            let Ok(r) = client
                .post(format!("{url}/v1/transactions/batch"))
                .json(&json!({"txs": batch}))
                .send()
            else {
                break 'load;
            };
            if !r.status().is_success() {
                break 'load;
            }
            // Acknowledge what the node says is committed.
            let Ok(r) = client.get(format!("{url}/v1/blocks/latest")).send() else { break 'load };
            let Ok(latest) = r.json::<serde_json::Value>() else { break 'load };
            let latest = latest["height"].as_u64().unwrap_or(seen_height);
            while seen_height < latest {
                let Ok(r) = client.get(format!("{url}/v1/blocks/{}", seen_height + 1)).send()
                else {
                    break 'load;
                };
                let Ok(block) = r.json::<serde_json::Value>() else { break 'load };
                seen_height += 1;
                for h in block["tx_hashes"].as_array().unwrap() {
                    acknowledged.push((
                        h.as_str().unwrap().to_owned(),
                        seen_height,
                        block["hash"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        killer.join().unwrap();
        node.kill9();

        // The store the crash left opens and passes redb's full integrity check.
        let genesis: consortia_types::Genesis = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("genesis.json")).unwrap(),
        )
        .unwrap();
        let (mut store, fresh) =
            consortia_storage::ChainStore::open(&dir.path().join("chain.redb"), &genesis).unwrap();
        assert!(!fresh);
        assert!(
            store.check_integrity().unwrap(),
            "round {round}: store corrupt after kill -9 (seed {seed})"
        );
        // The indexes, written after each block's redb commit without an fsync of their own,
        // were caught up by the open: every acknowledged transaction is found by its hash.
        use consortia_storage::TxReader;
        for (hash, height, _) in &acknowledged {
            let found = store.transaction(&consortia_crypto::Hash::from_hex(hash).unwrap());
            assert_eq!(
                found.unwrap().map(|t| t.height),
                Some(*height),
                "round {round}: {hash} not in the index after kill -9 (seed {seed})"
            );
        }
    }
    assert!(
        acknowledged.len() > iterations * 10,
        "too little load reached the node: {}",
        acknowledged.len()
    );

    // The chain goes on after the last crash.
    let node = DevNode::start(dir.path(), &[]);
    let (_, status) = get_json(&client, &format!("{}/v1/status", node.url));
    let key = &keys[0];
    let (_, account) =
        get_json(&client, &format!("{}/v1/accounts/{}", node.url, key.public_key().address()));
    let tx = notarize_tx(
        key,
        status["chain_id"].as_u64().unwrap(),
        account["nonce"].as_u64().unwrap(),
        "after-crashes",
        b"",
    );
    post_json(&client, &format!("{}/v1/transactions", node.url), &json!({"tx": hex_tx(&tx)}));
    wait_committed(&node.url, &tx_hash(&tx));
    eprintln!(
        "crash test: {} committed transactions survived {iterations} kills",
        acknowledged.len()
    );
}
