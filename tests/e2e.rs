//! End to end through the real binary: `consortia dev` as a process, a separate HTTP client.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::HashSet;

use consortia_api::node::StateProofView;
use consortia_api::proof::verify_state;
use consortia_crypto::{Hash, PrivateKey, Scheme, Suite};
use consortia_test_utils::process::*;
use consortia_types::{Genesis, Header};
use serde_json::json;

fn unhex(s: &serde_json::Value) -> Vec<u8> {
    hex::decode(s.as_str().expect("hex string").trim_start_matches("0x")).expect("hex")
}

#[test]
fn thousand_notarizations_commit_with_provable_state() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    let client = http();
    let url = node.url.clone();
    let chain_id = node.chain_id();

    // 1,000 transactions from 10 senders of all three schemes, submitted one per request
    // from 4 client threads.
    let keys: Vec<PrivateKey> = (0..10).map(|i| PrivateKey::generate(Scheme::ALL[i % 3])).collect();
    let txs: Vec<_> = (0..1000u64)
        .map(|i| {
            notarize_tx(
                &keys[(i % 10) as usize],
                chain_id,
                i / 10,
                &format!("doc-{i}"),
                &i.to_le_bytes(),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for part in txs.chunks(250) {
            let (client, url) = (client.clone(), url.clone());
            s.spawn(move || {
                for tx in part {
                    let (code, body) = post_json(
                        &client,
                        &format!("{url}/v1/transactions"),
                        &json!({"tx": hex_tx(tx)}),
                    );
                    assert_eq!(code, 202, "{body}");
                    assert_eq!(body["hash"], tx_hash(tx).to_hex());
                }
            });
        }
    });
    let mut heights = HashSet::new();
    for (i, tx) in txs.iter().enumerate() {
        let found = wait_committed(&url, &tx_hash(tx));
        assert_eq!(found["receipt"]["status"], "success", "{found}");
        assert_eq!(found["transaction"]["payload"]["id"], format!("doc-{i}"));
        heights.insert(found["height"].as_u64().unwrap());
        let (code, record) = get_json(&client, &format!("{url}/v1/notary/records/doc-{i}"));
        assert_eq!(code, 200);
        assert_eq!(record["tx_hash"], tx_hash(tx).to_hex());
    }
    assert!(heights.len() > 1, "1,000 transactions should span several blocks");

    // Every committed block carries a certificate from the genesis validator.
    let genesis: Genesis =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("genesis.json")).unwrap())
            .unwrap();
    let first = wait_committed(&url, &tx_hash(&txs[0]));
    let h1 = first["height"].as_u64().unwrap();
    let (_, block) = get_json(&client, &format!("{url}/v1/blocks/{h1}"));
    assert!(block["certificate"]["signatures"].as_array().is_some_and(|s| s.len() == 1));

    // A state proof from an older height verifies against that block's state root; the block
    // before it proves the record absent; a wrong value does not verify.
    let (_, latest) = get_json(&client, &format!("{url}/v1/blocks/latest"));
    assert!(latest["height"].as_u64().unwrap() > h1);
    let key = consortia_execution::notary::record_key("doc-0");
    let (code, proof) =
        get_json(&client, &format!("{url}/v1/state/0x{}?height={h1}", hex::encode(&key)));
    assert_eq!(code, 200, "{proof}");
    assert_eq!(proof["state_root"], block["state_root"]);
    let root = Hash::from_hex(block["state_root"].as_str().unwrap()).unwrap();
    let view: StateProofView = serde_json::from_value(proof).unwrap();
    assert!(verify_state(&view, Suite::Standard, root).unwrap().is_some(), "the SDK checks it");
    let forged = StateProofView { value: Some("0x666f72676564".into()), ..view };
    assert!(verify_state(&forged, Suite::Standard, root).is_err());
    let (_, before) =
        get_json(&client, &format!("{url}/v1/state/0x{}?height={}", hex::encode(&key), h1 - 1));
    assert!(before["value"].is_null());
    let (_, prev_block) = get_json(&client, &format!("{url}/v1/blocks/{}", h1 - 1));
    let prev_root = Hash::from_hex(prev_block["state_root"].as_str().unwrap()).unwrap();
    let before: StateProofView = serde_json::from_value(before).unwrap();
    assert_eq!(verify_state(&before, Suite::Standard, prev_root), Ok(None), "proven absent");

    // The header the proof's root comes from is certified by the genesis validator set.
    let header_hash = Hash::from_hex(block["hash"].as_str().unwrap()).unwrap();
    let header = Header {
        chain_id,
        height: h1,
        parent_hash: Hash::from_hex(block["parent_hash"].as_str().unwrap()).unwrap(),
        time_ms: block["time_ms"].as_u64().unwrap(),
        proposer: block["proposer"].as_str().unwrap().parse().unwrap(),
        tx_count: block["tx_count"].as_u64().unwrap() as u32,
        tx_root: Hash::from_hex(block["tx_root"].as_str().unwrap()).unwrap(),
        state_root: root,
        receipts_root: Hash::from_hex(block["receipts_root"].as_str().unwrap()).unwrap(),
        next_validators_hash: Hash::from_hex(block["next_validators_hash"].as_str().unwrap())
            .unwrap(),
    };
    assert_eq!(header.hash(Suite::Standard.hash()), header_hash);
    let sig = &block["certificate"]["signatures"][0];
    let cert = consortia_types::CommitCertificate {
        round: 0,
        signatures: vec![(0, consortia_crypto::Signature(unhex(&sig[1])))],
    };
    cert.verify(&header, Suite::Standard.hash(), &genesis.validators, genesis.params.consensus)
        .unwrap();

    // Find by content hash, time range.
    let content = consortia_crypto::HashAlgorithm::Sha256.digest(&7u64.to_le_bytes());
    let (_, by_hash) = get_json(&client, &format!("{url}/v1/notary/by-hash/{content}"));
    assert_eq!(by_hash["records"][0]["id"], "doc-7");
    let t = block["time_ms"].as_u64().unwrap();
    let (_, range) =
        get_json(&client, &format!("{url}/v1/blocks?from_time={t}&to_time={}&limit=5", t + 1));
    assert!(range["blocks"].as_array().unwrap().iter().any(|b| b["height"] == h1));
}

#[test]
fn bad_input_gets_clear_errors_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    // No pooled connections: a server may close a connection after refusing a body it did not
    // read, and a pooled client would send the next request into the closed socket
    // (regression: `IncompleteMessage` on the request after the 1 MiB body, seen once in CI).
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = node.url.clone();
    let chain_id = node.chain_id();
    let key = PrivateKey::generate(Scheme::Ed25519);
    let submit =
        |body: serde_json::Value| post_json(&client, &format!("{url}/v1/transactions"), &body);

    // Malformed bodies.
    let r = client
        .post(format!("{url}/v1/transactions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["code"], "malformed_body");
    assert_eq!(submit(json!({"tx": "0xzz"})).1["code"], "malformed_tx");
    assert_eq!(submit(json!({"tx": "0x0102"})).1["code"], "malformed_tx");
    // Bad signature, wrong chain, far-future nonce, oversized.
    let consortia_types::Transaction::Native(mut forged) =
        notarize_tx(&key, chain_id, 0, "x", b"x")
    else {
        unreachable!()
    };
    forged.body.nonce = 1;
    let forged = consortia_types::Transaction::Native(forged);
    assert_eq!(
        submit(json!({"tx": hex_tx(&forged)})),
        (
            400,
            json!({"code": "bad_signature", "message": "signature does not verify for the transaction's public key"})
        )
    );
    assert_eq!(
        submit(json!({"tx": hex_tx(&notarize_tx(&key, chain_id + 1, 0, "x", b""))})).1["code"],
        "wrong_chain_id"
    );
    assert_eq!(
        submit(json!({"tx": hex_tx(&notarize_tx(&key, chain_id, 5000, "x", b""))})).1["code"],
        "nonce_too_far_ahead"
    );
    let r = client
        .post(format!("{url}/v1/transactions"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1 << 20])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Over the chain's 128 KiB transaction limit, sent as raw bytes: refused before decoding.
    let consortia_types::Transaction::Native(mut huge) = notarize_tx(&key, chain_id, 0, "x", b"")
    else {
        unreachable!()
    };
    let consortia_types::Payload::Notarize(rec) = &mut huge.body.payload else { unreachable!() };
    rec.metadata = "m".repeat(140_000);
    let huge = consortia_types::Transaction::sign(huge.body, &key);
    let r = client
        .post(format!("{url}/v1/transactions"))
        .header("content-type", "application/octet-stream")
        .body(consortia_types::encode(&huge))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["code"], "tx_too_large");

    // A replayed nonce after a commit.
    let ok = notarize_tx(&key, chain_id, 0, "ok", b"");
    assert_eq!(submit(json!({"tx": hex_tx(&ok)})).0, 202);
    wait_committed(&url, &tx_hash(&ok));
    let (code, body) =
        submit(json!({"tx": hex_tx(&notarize_tx(&key, chain_id, 0, "replay", b""))}));
    assert_eq!((code, body["code"].as_str()), (409, Some("nonce_too_low")));

    // Unknown hash, unknown or malformed height, unknown record, unknown route.
    assert_eq!(get_json(&client, &format!("{url}/v1/transactions/{}", Hash([9; 32]))).0, 404);
    assert_eq!(get_json(&client, &format!("{url}/v1/transactions/0x12")).0, 400);
    assert_eq!(get_json(&client, &format!("{url}/v1/blocks/999999")).0, 404);
    assert_eq!(get_json(&client, &format!("{url}/v1/blocks/-1")).0, 400);
    assert_eq!(get_json(&client, &format!("{url}/v1/notary/records/nope")).0, 404);
    assert_eq!(get_json(&client, &format!("{url}/v1/state/abc?height=99999")).0, 404);
    assert_eq!(get_json(&client, &format!("{url}/v1/nope")).1["code"], "not_found");
    let (status, body) = get_json(&client, &format!("{url}/v1/notary/records/%FF"));
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_path")), "not UTF-8: {body}");
    // A batch reports each item.
    let (code, batch) = post_json(
        &client,
        &format!("{url}/v1/transactions/batch"),
        &json!({"txs": ["0x00", hex_tx(&notarize_tx(&key, chain_id, 1, "b", b""))]}),
    );
    assert_eq!(code, 200);
    assert_eq!(batch["accepted"], 1);
    assert_eq!(batch["results"][0]["error"]["code"], "malformed_tx");

    // Binary batches: a borsh list of encoded transactions; garbage is refused whole.
    let r = client
        .post(format!("{url}/v1/transactions/batch"))
        .header("content-type", "application/octet-stream")
        .body(vec![0xff, 0xff, 0xff, 0x7f])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["code"], "malformed_body");
    let binary = consortia_types::encode(&vec![
        vec![1u8, 2, 3],
        consortia_types::encode(&notarize_tx(&key, chain_id, 2, "bin", b"")),
    ]);
    let r = client
        .post(format!("{url}/v1/transactions/batch"))
        .header("content-type", "application/octet-stream")
        .body(binary)
        .send()
        .unwrap();
    let batch: serde_json::Value = r.json().unwrap();
    assert_eq!(batch["accepted"], 1);
    assert_eq!(batch["results"][0]["error"]["code"], "malformed_tx");

    let too_many: Vec<String> = vec!["0x00".into(); consortia_rpc::MAX_BATCH + 1];
    let (code, body) =
        post_json(&client, &format!("{url}/v1/transactions/batch"), &json!({"txs": too_many}));
    assert_eq!((code, body["code"].as_str()), (400, Some("batch_too_large")));
    assert_eq!(get_json(&client, &format!("{url}/v1/blocks?limit=0")).1["code"], "bad_query");
    assert_eq!(get_json(&client, &format!("{url}/v1/blocks?from_time=abc")).1["code"], "bad_query");
    assert_eq!(get_json(&client, &format!("{url}/v1/accounts/0x1234")).1["code"], "bad_address");

    // Nothing but the three good transactions was committed.
    wait_committed(&url, &tx_hash(&notarize_tx(&key, chain_id, 2, "bin", b"")));
    let (_, latest) = get_json(&client, &format!("{url}/v1/blocks/latest"));
    let total: u64 = (1..=latest["height"].as_u64().unwrap())
        .map(|h| get_json(&client, &format!("{url}/v1/blocks/{h}")).1["tx_count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3);
}

#[test]
fn restart_resumes_and_another_genesis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = DevNode::start(dir.path(), &[]);
    let client = http();
    let key = PrivateKey::generate(Scheme::Ed25519);
    let (_, status) = get_json(&client, &format!("{}/v1/status", node.url));
    let chain_id = status["chain_id"].as_u64().unwrap();
    let tx = notarize_tx(&key, chain_id, 0, "before-restart", b"");
    post_json(&client, &format!("{}/v1/transactions", node.url), &json!({"tx": hex_tx(&tx)}));
    let before = wait_committed(&node.url, &tx_hash(&tx));
    node.terminate();

    let node = DevNode::start(dir.path(), &[]);
    let after = wait_committed(&node.url, &tx_hash(&tx));
    assert_eq!(before, after);
    let (_, status2) = get_json(&client, &format!("{}/v1/status", node.url));
    assert_eq!(status["genesis_hash"], status2["genesis_hash"]);
    drop(node);

    // A genesis of another chain for the same data dir: refused with a clear message.
    let other_dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("validator.pem");
    let other_genesis = other_dir.path().join("genesis.json");
    let out = std::process::Command::new(&*BIN)
        .args(["genesis", "new", "--chain-id", "4242", "--validator-key"])
        .arg(&key_file)
        .arg("--out")
        .arg(&other_genesis)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(&*BIN)
        .args(["dev", "--http", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--genesis")
        .arg(&other_genesis)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("belongs to chain"), "{stderr}");
}

#[test]
fn sm_suite_chain_commits_sm2_transactions_with_sm3_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &["--suite", "sm"]);
    let client = http();
    let url = node.url.clone();
    let (_, status) = get_json(&client, &format!("{url}/v1/status"));
    assert_eq!(status["suite"], "sm");
    let key = PrivateKey::generate(Scheme::Sm2);
    let tx = notarize_tx(&key, status["chain_id"].as_u64().unwrap(), 0, "gm-doc", b"content");
    let hash = tx.hash(Suite::Sm.hash());
    let (code, body) =
        post_json(&client, &format!("{url}/v1/transactions"), &json!({"tx": hex_tx(&tx)}));
    assert_eq!((code, body["hash"].as_str()), (202, Some(hash.to_hex().as_str())));
    let found = wait_committed(&url, &hash);
    let height = found["height"].as_u64().unwrap();
    let (_, block) = get_json(&client, &format!("{url}/v1/blocks/{height}"));
    let key_bytes = consortia_execution::notary::record_key("gm-doc");
    let (_, proof) =
        get_json(&client, &format!("{url}/v1/state/0x{}?height={height}", hex::encode(&key_bytes)));
    let root = Hash::from_hex(block["state_root"].as_str().unwrap()).unwrap();
    let view: StateProofView = serde_json::from_value(proof).unwrap();
    assert!(verify_state(&view, Suite::Sm, root).unwrap().is_some());
    // An SM3 proof does not verify as a SHA-256 one.
    assert!(verify_state(&view, Suite::Standard, root).is_err());
}

/// The explorer's reads: latest transactions and blocks (pages), an address's transactions,
/// a block by hash, the volume per minute and hour; bad queries are 400s.
#[test]
fn explorer_reads_latest_transactions_addresses_blocks_and_volume() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    let (client, url) = (http(), node.url.clone());
    let chain_id = node.chain_id();
    let (alice, bob) =
        (PrivateKey::generate(Scheme::Ed25519), PrivateKey::generate(Scheme::Secp256k1));
    let mut hashes = vec![];
    for (i, key) in [&alice, &bob, &alice, &bob, &alice].into_iter().enumerate() {
        let nonce = (i / 2) as u64;
        let tx = notarize_tx(key, chain_id, nonce, &format!("ex-{i}"), b"x");
        let (code, body) =
            post_json(&client, &format!("{url}/v1/transactions"), &json!({"tx": hex_tx(&tx)}));
        assert_eq!(code, 202, "{body}");
        wait_committed(&url, &tx_hash(&tx));
        hashes.push(tx_hash(&tx).to_hex());
    }
    let list = |path: &str| {
        let (code, body) = get_json(&client, &format!("{url}{path}"));
        assert_eq!(code, 200, "{path}: {body}");
        body
    };
    let page_hashes = |page: &serde_json::Value| -> Vec<String> {
        let txs = page["transactions"].as_array().unwrap();
        txs.iter().map(|t| t["hash"].as_str().unwrap().to_owned()).collect()
    };
    let newest_first: Vec<String> = hashes.iter().rev().cloned().collect();

    // Latest transactions, newest first, in pages.
    let first = list("/v1/transactions?limit=3");
    assert_eq!(page_hashes(&first), newest_first[..3]);
    let tx0 = &first["transactions"][0];
    assert_eq!((tx0["kind"].as_str(), tx0["status"].as_str()), (Some("notarize"), Some("success")));
    assert!(tx0["time_ms"].as_u64().unwrap() > 0, "{tx0}");
    let next = first["next"].as_str().unwrap();
    let second = list(&format!("/v1/transactions?limit=3&before={next}"));
    assert_eq!(page_hashes(&second), newest_first[3..]);
    assert!(second["next"].is_null(), "{second}");

    // By address: the sender's own, and the notary's (every notarization calls it).
    let alice_address = alice.public_key().address().to_checksum_hex();
    let mine = list(&format!("/v1/addresses/{alice_address}/transactions"));
    assert_eq!(page_hashes(&mine), vec![hashes[4].clone(), hashes[2].clone(), hashes[0].clone()]);
    let notary = list("/v1/addresses/0x0000000000000000000000000000000000001001/transactions");
    assert_eq!(page_hashes(&notary), newest_first);
    let (code, account) = get_json(&client, &format!("{url}/v1/accounts/{alice_address}"));
    assert_eq!(
        (code, account["nonce"].as_u64(), account["contract"].as_bool()),
        (200, Some(3), Some(false))
    );

    // Latest blocks, newest first, without their transaction lists; a block by its hash.
    let blocks = list("/v1/blocks?order=desc&limit=2&tx_hashes=false");
    let heights: Vec<u64> = blocks["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert!(heights.len() == 2 && heights[0] > heights[1], "{blocks}");
    assert_eq!(blocks["blocks"][0]["tx_hashes"], json!([]));
    let latest_hash = blocks["blocks"][0]["hash"].as_str().unwrap();
    assert_eq!(list(&format!("/v1/blocks/{latest_hash}"))["height"], heights[0]);

    // Volume: every transaction counted in this hour's minutes and in the hour.
    let per_minute = list("/v1/stats/volume?bucket=minute");
    let buckets = per_minute["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    let total: u64 = buckets.iter().map(|b| b["txs"].as_u64().unwrap()).sum();
    assert_eq!(total, 5, "{per_minute}");
    let hourly = list("/v1/stats/volume?bucket=hour");
    let total: u64 =
        hourly["buckets"].as_array().unwrap().iter().map(|b| b["txs"].as_u64().unwrap()).sum();
    assert_eq!(total, 5, "{hourly}");

    // Bad queries.
    for path in [
        "/v1/transactions?limit=0",
        "/v1/transactions?limit=201",
        "/v1/transactions?before=yesterday",
        "/v1/addresses/0x12/transactions",
        "/v1/stats/volume?from_time=2000&to_time=1000",
        "/v1/stats/volume?bucket=minute&from_time=0&to_time=1000000000000",
        "/v1/stats/volume?bucket=week",
        "/v1/blocks/0x1234",
        "/v1/blocks?order=sideways",
    ] {
        let (code, body) = get_json(&client, &format!("{url}{path}"));
        assert_eq!(code, 400, "{path}: {body}");
    }
    let unknown = format!("/v1/blocks/0x{}", "ab".repeat(32));
    assert_eq!(get_json(&client, &format!("{url}{unknown}")).0, 404);
}

/// A validator key made encrypted (`keygen --encrypt`) holds no clear key; the node refuses to
/// start without its passphrase, or with a wrong one, and starts with the right one in
/// `CONSORTIA_KEY_PASSPHRASE`.
#[test]
fn an_encrypted_validator_key_opens_with_the_passphrase_from_the_environment() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    const PASSPHRASE: &str = "CONSORTIA_KEY_PASSPHRASE";
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("validator.pem");
    let made = Command::new(&*BIN)
        .args(["keygen", "--encrypt", "--out"])
        .arg(&key)
        .env(PASSPHRASE, "a long passphrase")
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{pem}");
    assert!(files_with_pem_private_keys(dir.path(), &[]).is_empty());

    let dev = |passphrase: Option<&str>| {
        let mut command = Command::new(&*BIN);
        command.args(["dev", "--http", "127.0.0.1:0", "--data-dir"]).arg(dir.path());
        match passphrase {
            Some(p) => command.env(PASSPHRASE, p),
            None => command.env_remove(PASSPHRASE),
        };
        command
    };
    for (passphrase, said) in [(None, PASSPHRASE), (Some("wrong"), "does not open")] {
        let out = dev(passphrase).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(said), "{stderr}");
    }
    let mut node = dev(Some("a long passphrase")).stdout(Stdio::piped()).spawn().unwrap();
    let lines = std::io::BufReader::new(node.stdout.take().unwrap()).lines();
    let served = lines.map_while(Result::ok).any(|l| l.contains("REST API"));
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(served, "the node did not start with the right passphrase");
}
