//! `consortia up` as a newcomer runs it: the platform, and a demo organization, consortium and
//! 4-validator BFT chain made through the platform; the printed console, credentials and
//! JSON-RPC URL work; `down` stops everything; `up` again resumes the same chain.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    BIN, Rpc, alive, free_base_port, get_json, hex_tx, http, notarize_tx, post_json, tx_hash,
    wait_committed,
};
use consortia_crypto::{PrivateKey, Scheme};
use serde_json::{Value, json};

/// Runs `consortia ARGS…` with the session kept in `home`; its stdout, after checking success.
fn run(home: &Path, args: &[&str]) -> String {
    common::consortia(args, &[("CONSORTIA_HOME", home.to_str().unwrap()), ("RUST_LOG", "warn")])
}

/// The value of the printed line `field: value`.
fn line<'a>(out: &'a str, field: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{field}: ")))
}

/// Stops whatever `up` started, even when the test fails.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = Command::new(BIN).args(["down", "--data-dir"]).arg(self.0).output();
    }
}

/// `consortia up` in `data` on free ports: its output, the `up` arguments, and the base port.
fn up(home: &Path, data: &Path) -> (String, Vec<String>, u16) {
    let base = free_base_port(4);
    let listen = loop {
        let p = free_base_port(1);
        if !(base..base + 4).contains(&p) && !(base + 100..base + 104).contains(&p) {
            break p;
        }
    };
    let args: Vec<String> = [
        "up",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{listen}"),
        "--base-port",
        &base.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = run(home, &args.iter().map(String::as_str).collect::<Vec<_>>());
    (out, args, base)
}

/// Logs in with what `up` printed: the console URL and the administrator's access token.
fn admin(out: &str) -> (String, String) {
    let console = line(out, "console").expect(out).trim_end_matches('/').to_owned();
    let password = line(out, "password").expect(out);
    let (status, tokens) = post_json(
        &http(),
        &format!("{console}/v1/auth/login"),
        &json!({"username": "admin", "password": password}),
    );
    assert_eq!(status, 200, "{tokens}");
    (console, tokens["access_token"].as_str().unwrap().to_owned())
}

#[test]
fn up_runs_the_platform_and_a_demo_chain_made_through_it_then_down_and_up_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = dir.path().join("consortia");
    let _down = Down(&data);
    let (out, args, base) = up(home.path(), &data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listen: u16 = args[4].rsplit(':').next().unwrap().parse().unwrap();

    // What it prints: the console, the one-time administrator, the chain's JSON-RPC.
    let console = line(&out, "console").expect(&out).trim_end_matches('/').to_owned();
    assert_eq!(console, format!("http://127.0.0.1:{listen}"), "{out}");
    assert_eq!(line(&out, "username"), Some("admin"), "{out}");
    let password = line(&out, "password").expect(&out).to_owned();
    let rpc_url = line(&out, "JSON-RPC").expect(&out).split_whitespace().next().unwrap();
    assert_eq!(rpc_url, format!("http://127.0.0.1:{base}/rpc"), "{out}");
    let page = http().get(format!("{console}/")).send().unwrap();
    assert_eq!(page.status().as_u16(), 200, "the console URL answers");

    // The credentials work, and the demo was made through the platform: an organization, a
    // consortium it leads, and a running 4-validator BFT chain of its nodes.
    let (_, token) = admin(&out);
    let token = token.as_str();
    assert!(!password.is_empty());
    let get = |path: &str| -> Value {
        let r = http().get(format!("{console}{path}")).bearer_auth(token).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        r.json().unwrap()
    };
    let orgs = get("/v1/orgs");
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    let consortiums = get("/v1/consortiums");
    assert_eq!(consortiums[0]["leader_org_id"], orgs[0]["id"], "{consortiums}");
    let chains = get("/v1/chains");
    let chain = &chains[0];
    assert_eq!(chain["status"], "running", "{chains}");
    assert_eq!(chain["consensus"], "bft");
    assert_eq!(chain["consortium_id"], consortiums[0]["id"]);
    let nodes = chain["nodes"].as_array().unwrap();
    assert_eq!(nodes.iter().filter(|n| n["role"] == "validator").count(), 4, "{chain}");
    let urls: Vec<String> = (0..4).map(|i| format!("http://127.0.0.1:{}", base + i)).collect();
    let listed: Vec<&str> = nodes.iter().map(|n| n["http_url"].as_str().unwrap()).collect();
    assert_eq!(listed, urls);
    let chain_id = chain["chain_id"].as_u64().unwrap();
    let node_status = get(&format!("/v1/chains/{}/nodes", chain["id"].as_str().unwrap()));
    assert!(
        node_status.as_array().unwrap().iter().all(|n| n["health"] == "healthy"),
        "{node_status}"
    );

    // The chain takes transactions; the JSON-RPC URL answers for it.
    let rpc = Rpc { url: rpc_url.to_owned(), client: http() };
    assert_eq!(rpc.ok("eth_chainId", json!([])), json!(format!("{chain_id:#x}")));
    let key = PrivateKey::generate(Scheme::Ed25519);
    let tx = notarize_tx(&key, chain_id, 0, "up-demo", b"before down");
    let (status, body) =
        post_json(&http(), &format!("{}/v1/transactions", urls[1]), &json!({"tx": hex_tx(&tx)}));
    assert_eq!(status, 202, "{body}");
    let committed = wait_committed(&http(), &urls[0], &tx_hash(&tx));
    let height = committed["height"].as_u64().unwrap();

    // The CLI was logged in as the administrator.
    let shown = run(home.path(), &["chain", "status", chain["id"].as_str().unwrap()]);
    assert!(shown.contains("\"running\""), "{shown}");

    // down: the platform and every node stop.
    let pid: u32 =
        std::fs::read_to_string(data.join("platform.pid")).unwrap().trim().parse().unwrap();
    let stopped = run(home.path(), &["down", "--data-dir", data.to_str().unwrap()]);
    assert!(stopped.contains("the platform and 4 node(s)"), "{stopped}");
    assert!(!alive(pid), "the platform still runs");
    for url in &urls {
        assert!(http().get(format!("{url}/v1/status")).send().is_err(), "{url} still answers");
    }

    // up again: the same chain resumes (no new administrator), with the transaction.
    let out = run(home.path(), &args);
    assert!(line(&out, "password").is_none(), "{out}");
    assert_eq!(line(&out, "console").map(|c| c.trim_end_matches('/')), Some(&*console));
    let (status, body) =
        get_json(&http(), &format!("{}/v1/transactions/{}", urls[2], tx_hash(&tx)));
    assert_eq!((status, &body["status"]), (200, &json!("committed")), "{body}");
    let tx = notarize_tx(&key, chain_id, 1, "up-demo-2", b"after up");
    let (status, body) =
        post_json(&http(), &format!("{}/v1/transactions", urls[0]), &json!({"tx": hex_tx(&tx)}));
    assert_eq!(status, 202, "{body}");
    let again = wait_committed(&http(), &urls[3], &tx_hash(&tx));
    assert!(again["height"].as_u64().unwrap() > height, "{again}");
    let chains_after = get("/v1/chains");
    assert_eq!(chains_after.as_array().unwrap().len(), 1, "no second demo: {chains_after}");
}

/// The Vyper ERC-20 of `tests/eth/contracts/Token.vy` (checked against vyper's output by
/// `tests/eth/test_clients.py`).
const TOKEN_BYTECODE: &str = include_str!("../assets/erc20-token.hex");
const TOKEN_ABI: &str = include_str!("../assets/erc20-token.abi.json");

/// What the console does with contracts, through the platform's API on the demo chain: upload
/// with a hash check, deploy, query and transact through the ABI (the platform signs for the
/// organization), find the transaction decoded in the explorer; refusals are clear 4xx.
#[test]
fn contracts_upload_deploy_and_call_through_the_abi_and_show_decoded_in_the_explorer() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = dir.path().join("consortia");
    let _down = Down(&data);
    let (out, _, _) = up(home.path(), &data);
    let (console, token) = admin(&out);
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| -> (u16, Value) {
        let mut request = http().request(method, format!("{console}{path}")).bearer_auth(&token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().unwrap();
        (response.status().as_u16(), response.json().unwrap_or(Value::Null))
    };
    let post = |path: &str, body: Value| call(reqwest::Method::POST, path, Some(body));
    let get = |path: &str| call(reqwest::Method::GET, path, None);
    let (_, chains) = get("/v1/chains");
    let chain = chains[0]["id"].as_str().unwrap().to_owned();
    let org = chains[0]["orgs"][0].as_str().unwrap().to_owned();
    let contracts = format!("/v1/chains/{chain}/contracts");

    // Upload: the stated hash must be the bytecode's Keccak-256.
    let bytecode = TOKEN_BYTECODE.trim();
    let code = hex::decode(bytecode.trim_start_matches("0x")).unwrap();
    let hash = format!("0x{}", hex::encode(alloy_primitives::keccak256(&code)));
    let upload = |name: &str, abi: Value, code_hash: &str| json!({"org_id": org, "name": name, "abi": abi, "bytecode": bytecode, "code_hash": code_hash});
    let abi: Value = serde_json::from_str(TOKEN_ABI).unwrap();
    let (status, body) =
        post(&contracts, upload("token", abi.clone(), &format!("0x{}", "00".repeat(32))));
    assert_eq!((status, body["code"].as_str()), (400, Some("hash_mismatch")), "{body}");
    assert!(body["message"].as_str().unwrap().contains(&hash), "{body}");
    let (status, body) = post(&contracts, upload("token", json!({"not": "an abi"}), &hash));
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_abi")), "{body}");
    let (status, uploaded) = post(&contracts, upload("token", abi.clone(), &hash));
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["status"], "uploaded");
    let functions = uploaded["functions"].as_array().unwrap();
    let find = |name: &str| functions.iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(find("transfer")["read_only"], false);
    assert_eq!(find("balanceOf")["read_only"], true);
    assert_eq!(uploaded["constructor"][0]["type"], "uint256");
    assert_eq!(post(&contracts, upload("token", abi, &hash)).0, 409);

    // Deploy with the constructor's argument; the creation's Transfer event comes decoded.
    let token_path = format!("{contracts}/token");
    let (status, body) = post(&format!("{token_path}/deploy"), json!({"args": []}));
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_arguments")), "{body}");
    let (status, deployed) = post(&format!("{token_path}/deploy"), json!({"args": ["1000"]}));
    assert_eq!(status, 200, "{deployed}");
    assert_eq!(deployed["contract"]["status"], "deployed");
    let address = deployed["contract"]["address"].as_str().unwrap().to_owned();
    let minted = &deployed["outcome"]["events"][0];
    assert_eq!(minted["event"], "Transfer", "{deployed}");
    let owner = minted["args"][1]["value"].as_str().unwrap().to_owned();
    assert_eq!(minted["args"][2]["value"], "1000");
    assert_eq!(post(&format!("{token_path}/deploy"), json!({"args": ["1"]})).0, 409);

    // A transaction and a query through the ABI.
    let bob = "0x00000000000000000000000000000000000000bb";
    let (status, sent) =
        post(&format!("{token_path}/call"), json!({"function": "transfer", "args": [bob, "250"]}));
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        (sent["kind"].as_str(), sent["outcome"]["status"].as_str()),
        (Some("transaction"), Some("success"))
    );
    assert_eq!(sent["outcome"]["events"][0]["args"][2]["value"], "250");
    let tx_hash = sent["outcome"]["tx_hash"].as_str().unwrap().to_owned();
    let balance = |who: &str| {
        let (status, r) =
            post(&format!("{token_path}/call"), json!({"function": "balanceOf", "args": [who]}));
        assert_eq!((status, r["kind"].as_str()), (200, Some("query")), "{r}");
        r["outputs"][0]["value"].as_str().unwrap().to_owned()
    };
    assert_eq!((balance(bob), balance(&owner)), ("250".into(), "750".into()));
    let (status, body) = post(
        &format!("{token_path}/call"),
        json!({"function": "transfer", "args": [bob, "100000"]}),
    );
    assert_eq!((status, body["code"].as_str()), (400, Some("would_revert")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("insufficient balance"), "{body}");
    for (request, code) in [
        (json!({"function": "mint", "args": []}), "unknown_function"),
        (json!({"function": "transfer", "args": [bob]}), "bad_arguments"),
        (json!({"function": "transfer", "args": ["not-an-address", "1"]}), "bad_arguments"),
    ] {
        let (status, body) = post(&format!("{token_path}/call"), request);
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{body}");
    }
    assert_eq!(get(&format!("{contracts}/nope")).0, 404);

    // The explorer: the transfer decoded with the ABI, the contract's transactions, the latest.
    let (status, found) = get(&format!("/v1/chains/{chain}/transactions/{tx_hash}"));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["status"], "committed");
    assert_eq!(found["decoded"]["contract"]["name"], "token", "{found}");
    assert_eq!(found["decoded"]["call"]["function"], "transfer");
    assert_eq!(found["decoded"]["call"]["args"][1]["value"], "250");
    assert_eq!(found["decoded"]["events"][0]["event"], "Transfer");
    let (status, mine) =
        get(&format!("/v1/chains/{chain}/explorer/addresses/{address}/transactions"));
    assert_eq!(status, 200, "{mine}");
    let kinds: Vec<&str> = mine["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call", "create"], "{mine}");
    let (_, latest) = get(&format!("/v1/chains/{chain}/explorer/transactions?limit=1"));
    assert_eq!(latest["transactions"][0]["hash"], json!(tx_hash));
    let (status, volume) = get(&format!("/v1/chains/{chain}/explorer/stats/volume?bucket=hour"));
    assert_eq!(status, 200, "{volume}");
    for path in ["explorer/state/x", "explorer/transactions/../../v1/status"] {
        assert_eq!(get(&format!("/v1/chains/{chain}/{path}")).0, 404, "{path}");
    }
    assert_eq!(get("/v1/chains/chain_nope/explorer/status").0, 404);
    let anonymous =
        http().get(format!("{console}/v1/chains/{chain}/explorer/status")).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // Monitoring: every node's metrics summed up, and the nodes as Prometheus targets.
    let (status, metrics) = get(&format!("/v1/chains/{chain}/metrics"));
    assert_eq!(status, 200, "{metrics}");
    let metrics = metrics.as_array().unwrap();
    assert_eq!(metrics.len(), 4);
    for node in metrics {
        assert!(node["error"].is_null(), "{node}");
        assert_eq!(node["peers"], 3.0, "{node}");
        assert!(node["height"].as_f64().unwrap() >= 3.0, "{node}");
        assert!(node["transactions_committed"].as_f64().unwrap() >= 1.0, "{node}");
        assert!(node["resident_memory_bytes"].as_f64().unwrap() > 1e6, "{node}");
        assert!(node["commit_seconds_mean"].as_f64().unwrap() > 0.0, "{node}");
    }
    let (status, targets) = get(&format!("/v1/chains/{chain}/prometheus-targets"));
    assert_eq!(status, 200, "{targets}");
    let targets = targets.as_array().unwrap();
    assert_eq!(targets.len(), 4);
    let target = targets[0]["targets"][0].as_str().unwrap();
    let scraped = http().get(format!("http://{target}/metrics")).send().unwrap().text().unwrap();
    assert!(scraped.contains("consortia_chain_height "), "{scraped}");
    assert_eq!(targets[0]["labels"]["chain_id"], json!(chains[0]["chain_id"].to_string()));
    // A stopped node is reported, not hidden, and the others still answer.
    let node = metrics[3]["node_id"].as_str().unwrap();
    assert_eq!(post(&format!("/v1/chains/{chain}/nodes/{node}/stop"), json!({})).0, 200);
    let (_, metrics) = get(&format!("/v1/chains/{chain}/metrics"));
    assert!(metrics[3]["error"].as_str().unwrap().contains("do not answer"), "{metrics}");
    assert!(metrics[3]["height"].is_null() && metrics[0]["error"].is_null(), "{metrics}");
    assert_eq!(get("/v1/chains/chain_nope/metrics").0, 404);
    let anonymous = http().get(format!("{console}/v1/chains/{chain}/metrics")).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
