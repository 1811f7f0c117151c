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

#[test]
fn up_runs_the_platform_and_a_demo_chain_made_through_it_then_down_and_up_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = dir.path().join("consortia");
    let _down = Down(&data);
    let base = free_base_port(4);
    let listen = loop {
        let p = free_base_port(1);
        if !(base..base + 4).contains(&p) && !(base + 100..base + 104).contains(&p) {
            break p;
        }
    };
    let args = [
        "up",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{listen}"),
        "--base-port",
        &base.to_string(),
    ];
    let out = run(home.path(), &args);

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
    let (status, tokens) = post_json(
        &http(),
        &format!("{console}/v1/auth/login"),
        &json!({"username": "admin", "password": password}),
    );
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
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
