//! `consortia up` as a newcomer runs it: the platform, and a demo organization, consortium and
//! 4-validator BFT chain made through the platform; the printed console, credentials and
//! JSON-RPC URL work; `down` stops everything; `up` again resumes the same chain.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;

use consortia_test_utils::process as common;
use demo::{Demo, Down, admin, line, node, printed_rpc, run, up, up_with};

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use common::{alive, free_base_port, notarize_tx};
use consortia_api::node::{TxLookupView, TxStatus};
use consortia_api::platform::*;
use consortia_api::{NodeClient, PlatformClient};
use consortia_crypto::{PrivateKey, Scheme};
use consortia_types::encode;
use serde_json::{Value, json};

/// A notarization sent to `to` and waited for on `on`, with the credential `token`.
async fn notarize(
    [to, on]: [&str; 2],
    token: &str,
    key: &PrivateKey,
    chain_id: u64,
    nonce: u64,
) -> TxLookupView {
    let tx = notarize_tx(key, chain_id, nonce, &format!("up-demo-{nonce}"), b"demo");
    let sent = node(to, token).submit(&encode(&tx)).await.unwrap();
    node(on, token).wait_committed(&sent.hash, Duration::from_secs(60)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_the_platform_and_a_demo_chain_made_through_it_then_down_and_up_resume_it() {
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
    let (rpc_url, token) = printed_rpc(&out);
    assert!(rpc_url.ends_with(&format!("@127.0.0.1:{base}/")), "{out}");
    let page = reqwest::get(format!("{console}/")).await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "the console URL answers");
    let open = common::open_to_others(&data);
    assert!(open.is_empty(), "open to other users of the machine: {open:#?}");
    // The platform's keys are sealed under the demo's one share, which `up` names.
    let keys = line(&out, "keys").expect(&out);
    assert!(keys.contains("unseal.share") && keys.contains("0600"), "{out}");
    let share = std::fs::read_to_string(data.join("unseal.share")).unwrap();
    assert!(share.starts_with("cshare1-"));
    assert!(!data.join("platform/platform.key").exists(), "the token key is sealed");
    // Nor the nodes' keys: encrypted under secrets the platform seals and gives them at start.
    let clear = common::files_with_pem_private_keys(&data, &[]);
    assert!(clear.is_empty(), "private keys in clear: {clear:#?}");

    // The credentials work, and the demo was made through the platform: an organization, a
    // consortium it leads, and a running 4-validator BFT chain of its nodes.
    let (_, admin) = admin(&out).await;
    let orgs = admin.orgs().await.unwrap();
    assert_eq!(orgs.len(), 1, "{orgs:?}");
    let consortiums = admin.consortiums().await.unwrap();
    assert_eq!(consortiums[0].leader_org_id, orgs[0].id);
    let chains = admin.chains().await.unwrap();
    let chain = &chains[0];
    assert_eq!((chain.status, chain.consensus), (ChainStatus::Running, Consensus::Bft));
    assert_eq!(chain.consortium_id, consortiums[0].id);
    assert!(chain.nodes.iter().all(|n| n.role == NodeRole::Validator));
    let urls: Vec<String> = (0..4).map(|i| format!("http://127.0.0.1:{}", base + i)).collect();
    assert_eq!(chain.node_urls(), urls);
    let chain_id = chain.chain_id as u64;
    let health = admin.nodes(&chain.id).await.unwrap();
    assert!(health.iter().all(|n| n.health == NodeHealth::Healthy), "{health:?}");

    // The nodes take members only; the JSON-RPC URL carries a credential and answers as it
    // is (basic auth from the URL, as web3 clients and wallets send it).
    let rpc = NodeClient::new(&rpc_url);
    assert_eq!(rpc.rpc("eth_chainId", json!([])).await.unwrap(), json!(format!("{chain_id:#x}")));
    let anonymous = NodeClient::new(&urls[0]).status().await;
    assert_eq!(anonymous.unwrap_err().status(), Some(401));
    let health = reqwest::get(format!("{}/v1/health", urls[0])).await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "probes need no credential");
    let key = PrivateKey::generate(Scheme::Ed25519);
    let first = notarize([&urls[1], &urls[0]], &token, &key, chain_id, 0).await;

    // The CLI was logged in as the administrator.
    let shown = run(home.path(), &["chain", "status", &chain.id]);
    assert!(shown.contains("\"running\""), "{shown}");

    // The MySQL line names the port the gateway bound (the test asked for port 0), and a
    // client reaches it there.
    let mysql = line(&out, "MySQL").expect(&out);
    let port: u16 =
        mysql.split(" -P ").nth(1).and_then(|r| r.split(' ').next()).expect(mysql).parse().unwrap();
    assert_ne!(port, 0, "{mysql}");
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect(mysql);

    // down: the platform and every node stop.
    let pid: u32 =
        std::fs::read_to_string(data.join("platform.pid")).unwrap().trim().parse().unwrap();
    let stopped = run(home.path(), &["down", "--data-dir", data.to_str().unwrap()]);
    assert!(stopped.contains("the platform and 4 node(s)"), "{stopped}");
    assert!(!alive(pid), "the platform still runs");
    for url in &urls {
        assert!(NodeClient::new(url).status().await.is_err(), "{url} still answers");
    }

    // up again: the same chain resumes (no new administrator), with the transaction.
    let out = run(home.path(), &args);
    assert!(line(&out, "password").is_none(), "{out}");
    assert_eq!(line(&out, "console").map(|c| c.trim_end_matches('/')), Some(&*console));
    let found = node(&urls[2], &token).transaction(&first.hash).await.unwrap();
    assert_eq!(found.status, TxStatus::Committed);
    assert_eq!(printed_rpc(&out), (rpc_url.clone(), token.clone()), "the same credential");
    let second = notarize([&urls[0], &urls[3]], &token, &key, chain_id, 1).await;
    assert!(second.height > first.height);
    let admin = PlatformClient::with_credentials(&console, admin.credentials());
    assert_eq!(admin.chains().await.unwrap().len(), 1, "no second demo");
}

/// The Vyper ERC-20 of `tests/eth/contracts/Token.vy` (checked against vyper's output by
/// `tests/eth/test_clients.py`).
use consortia_test_utils::contracts::{ERC20_ABI as TOKEN_ABI, ERC20_BYTECODE as TOKEN_BYTECODE};

/// What the console does with contracts, through the platform's API on the demo chain: upload
/// with a hash check, deploy, query and transact through the ABI (the platform signs for the
/// organization), find the transaction decoded in the explorer; refusals are clear 4xx.
/// A refusal's status and code.
/// The names and states (`running`, `exited`) of the containers of `chain`'s nodes.
fn containers(chain: &str) -> Vec<(String, String)> {
    let list = ["ps", "-a", "--format", "{{.Names}} {{.State}}"];
    let out = Command::new("docker").args(list).output().unwrap().stdout;
    let mut found: Vec<(String, String)> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| name.starts_with(&format!("consortia-{chain}-")))
        .map(|(name, state)| (name.to_owned(), state.to_owned()))
        .collect();
    found.sort();
    found
}

/// `up --host docker`: the demo chain's nodes are containers of the Docker Engine, it commits,
/// and `down` stops them. Needs `CONSORTIA_TEST_DOCKER` (`scripts/docker`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_on_docker_runs_the_demo_as_containers_and_down_stops_them() {
    let Ok(endpoint) = std::env::var("CONSORTIA_TEST_DOCKER") else {
        eprintln!("skipped: CONSORTIA_TEST_DOCKER is not set (scripts/docker prints it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = dir.path().join("consortia");
    let _down = Down(&data);
    let extra = ["--host", "docker", "--docker-endpoint", &endpoint];
    let (out, _, base) = up_with(home.path(), &data, &extra);
    let demo: Value =
        serde_json::from_slice(&std::fs::read(data.join("up.json")).unwrap()).unwrap();
    let chain = demo["chain"].as_str().unwrap().to_owned();
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            for (name, _) in containers(&self.0) {
                let _ = Command::new("docker").args(["rm", "-f", "-v", &name]).output();
                let _ = Command::new("docker").args(["volume", "rm", "-f", &name]).output();
                let data = format!("{name}-data");
                let _ = Command::new("docker").args(["volume", "rm", "-f", &data]).output();
            }
            let network = format!("consortia-{}", self.0);
            let _ = Command::new("docker").args(["network", "rm", &network]).output();
        }
    }
    let _remove = Remove(chain.clone());
    let running = containers(&chain);
    assert_eq!(running.len(), 4, "{running:?}\n{out}");
    assert!(running.iter().all(|(_, state)| state == "running"), "{running:?}");

    let (_, token) = printed_rpc(&out);
    // Each node at an address of its own on the chain's bridge network, ports as asked.
    let urls: Vec<String> =
        demo["nodes"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_owned()).collect();
    let addresses: std::collections::HashSet<_> =
        urls.iter().map(|u| u.rsplit_once(':').unwrap().0.to_owned()).collect();
    assert_eq!(addresses.len(), 4, "{urls:?}");
    assert!(urls.iter().enumerate().all(|(i, u)| u.ends_with(&format!(":{}", base + i as u16))));
    let key = PrivateKey::generate(Scheme::Ed25519);
    let chain_id = demo["chain_id"].as_u64().unwrap();
    notarize([&urls[0], &urls[2]], &token, &key, chain_id, 0).await;

    let stopped = run(home.path(), &["down", "--data-dir", data.to_str().unwrap()]);
    assert!(stopped.contains("4 node(s)"), "{stopped}");
    let after = containers(&chain);
    assert!(after.iter().all(|(_, state)| state == "exited"), "{after:?}");
}

fn refused<T: std::fmt::Debug>(result: consortia_api::ClientResult<T>) -> (u16, String) {
    let e = result.expect_err("refused");
    (e.status().unwrap_or(0), e.code().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_upload_deploy_and_call_through_the_abi_and_show_decoded_in_the_explorer() {
    let demo = Demo::up().await;
    let (console, admin) = (&demo.console, &demo.admin);
    let chains = admin.chains().await.unwrap();
    let (chain, org) = (chains[0].id.clone(), chains[0].orgs[0].clone());

    // Upload: the stated hash must be the bytecode's Keccak-256.
    let bytecode = TOKEN_BYTECODE.trim();
    let code = hex::decode(bytecode.trim_start_matches("0x")).unwrap();
    let hash = format!("0x{}", hex::encode(alloy_primitives::keccak256(&code)));
    let abi: Value = serde_json::from_str(TOKEN_ABI).unwrap();
    let upload = |abi: Value, code_hash: &str| UploadRequest {
        org_id: org.clone(),
        name: "token".into(),
        abi,
        bytecode: bytecode.into(),
        code_hash: code_hash.into(),
    };
    let e = admin
        .upload_contract(&chain, &upload(abi.clone(), &format!("0x{}", "00".repeat(32))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("hash_mismatch"));
    assert!(e.body().unwrap().message.contains(&hash), "{e}");
    let bad_abi = admin.upload_contract(&chain, &upload(json!({"not": "an abi"}), &hash)).await;
    assert_eq!(refused(bad_abi), (400, "bad_abi".into()));
    let uploaded = admin.upload_contract(&chain, &upload(abi.clone(), &hash)).await.unwrap();
    assert_eq!(uploaded.status, ContractStatus::Uploaded);
    let find = |name: &str| uploaded.functions.iter().find(|f| f.name == name).unwrap();
    assert!(!find("transfer").read_only && find("balanceOf").read_only);
    assert_eq!(uploaded.constructor[0].ty, "uint256");
    assert_eq!(refused(admin.upload_contract(&chain, &upload(abi, &hash)).await).0, 409);

    // Deploy with the constructor's argument; the creation's Transfer event comes decoded.
    let deploy = |args: &[&str]| DeployRequest {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        org_id: None,
    };
    let no_args = admin.deploy(&chain, "token", &deploy(&[])).await;
    assert_eq!(refused(no_args), (400, "bad_arguments".into()));
    let deployed = admin.deploy(&chain, "token", &deploy(&["1000"])).await.unwrap();
    assert_eq!(deployed.contract.status, ContractStatus::Deployed);
    let address = deployed.contract.address.clone().unwrap();
    let minted = &deployed.outcome.events[0];
    assert_eq!(minted["event"], "Transfer", "{deployed:?}");
    let owner = minted["args"][1]["value"].as_str().unwrap().to_owned();
    assert_eq!(minted["args"][2]["value"], "1000");
    assert_eq!(refused(admin.deploy(&chain, "token", &deploy(&["1"])).await).0, 409);

    // A transaction and a query through the ABI.
    let bob = "0x00000000000000000000000000000000000000bb";
    let call = |function: &str, args: &[&str]| CallRequest {
        function: function.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        org_id: None,
        key: None,
    };
    let sent = admin.call(&chain, "token", &call("transfer", &[bob, "250"])).await.unwrap();
    let outcome = sent.outcome.unwrap();
    assert_eq!((sent.kind, outcome.status), (CallKind::Transaction, TxResult::Success));
    assert_eq!(outcome.events[0]["args"][2]["value"], "250");
    let balance = async |who: &str| {
        let r = admin.call(&chain, "token", &call("balanceOf", &[who])).await.unwrap();
        assert_eq!(r.kind, CallKind::Query);
        r.outputs.unwrap()[0]["value"].as_str().unwrap().to_owned()
    };
    assert_eq!((balance(bob).await, balance(&owner).await), ("250".into(), "750".into()));
    let e = admin.call(&chain, "token", &call("transfer", &[bob, "100000"])).await.unwrap_err();
    assert_eq!(e.code(), Some("would_revert"));
    assert!(e.body().unwrap().message.contains("insufficient balance"), "{e}");
    for (request, code) in [
        (call("mint", &[]), "unknown_function"),
        (call("transfer", &[bob]), "bad_arguments"),
        (call("transfer", &["not-an-address", "1"]), "bad_arguments"),
    ] {
        assert_eq!(refused(admin.call(&chain, "token", &request).await), (400, code.into()));
    }
    assert_eq!(refused(admin.contract(&chain, "nope").await).0, 404);
    // Acting for an organization is explicit: not one that takes no part in the chain.
    let elsewhere =
        CallRequest { org_id: Some("org_nope".into()), ..call("transfer", &[bob, "1"]) };
    assert_eq!(refused(admin.call(&chain, "token", &elsewhere).await).0, 403);

    // The explorer: the transfer decoded with the ABI, the contract's transactions, the latest.
    let found = admin.chain_transaction(&chain, &outcome.tx_hash).await.unwrap();
    assert_eq!(found["status"], "committed");
    assert_eq!(found["decoded"]["contract"]["name"], "token", "{found}");
    assert_eq!(found["decoded"]["call"]["function"], "transfer");
    assert_eq!(found["decoded"]["call"]["args"][1]["value"], "250");
    assert_eq!(found["decoded"]["events"][0]["event"], "Transfer");
    let mine = admin.explorer(&chain, &format!("addresses/{address}/transactions")).await.unwrap();
    let kinds: Vec<&str> = mine["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call", "create"], "{mine}");
    let latest = admin.explorer(&chain, "transactions?limit=1").await.unwrap();
    assert_eq!(latest["transactions"][0]["hash"], json!(outcome.tx_hash));
    admin.explorer(&chain, "stats/volume?bucket=hour").await.unwrap();
    // Outside the explorer's reads, and climbs out of them however encoded: 404.
    for path in
        ["state/x", "transactions/%252e%252e/%252e%252e/metrics", "blocks/%25252e%25252e/status"]
    {
        assert_eq!(refused(admin.explorer(&chain, path).await).0, 404, "{path}");
    }
    assert_eq!(refused(admin.explorer("chain_nope", "status").await).0, 404);
    let anonymous = PlatformClient::new(console);
    assert_eq!(refused(anonymous.explorer(&chain, "status").await).0, 401);

    // Monitoring: every node's metrics summed up, and the nodes as Prometheus targets.
    let metrics = admin.chain_metrics(&chain).await.unwrap();
    assert_eq!(metrics.len(), 4);
    for node in &metrics {
        assert!(node.error.is_none(), "{node:?}");
        assert_eq!(node.peers, Some(3.0), "{node:?}");
        assert!(node.height.unwrap() >= 3.0, "{node:?}");
        assert!(node.transactions_committed.unwrap() >= 1.0, "{node:?}");
        assert!(node.resident_memory_bytes.unwrap() > 1e6, "{node:?}");
        assert!(node.commit_seconds_mean.unwrap() > 0.0, "{node:?}");
    }
    let targets = admin.prometheus_targets(&chain).await.unwrap();
    assert_eq!(targets.len(), 4);
    let scraped =
        node(&format!("http://{}", targets[0].targets[0]), &demo.token).metrics().await.unwrap();
    assert!(scraped.contains("consortia_chain_height "), "{scraped}");
    assert_eq!(targets[0].labels["chain_id"], chains[0].chain_id.to_string());
    // A stopped node is reported, not hidden, and the others still answer.
    admin.stop_node(&chain, &metrics[3].node_id).await.unwrap();
    let metrics = admin.chain_metrics(&chain).await.unwrap();
    assert!(metrics[3].error.as_deref().unwrap().contains("do not answer"), "{metrics:?}");
    assert!(metrics[3].height.is_none() && metrics[0].error.is_none(), "{metrics:?}");
    assert_eq!(refused(admin.chain_metrics("chain_nope").await).0, 404);
    assert_eq!(refused(anonymous.chain_metrics(&chain).await).0, 401);
}

/// Kills a child process when dropped (the test's Prometheus), even when the test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped Prometheus configuration (`deploy/prometheus`), filled in as its comments say,
/// against `up`'s chain: a real Prometheus discovers every node through the platform, scrapes
/// each one, and loads the alert rules.
#[tokio::test]
async fn the_shipped_prometheus_configuration_finds_and_scrapes_every_node() {
    let Ok(prometheus) = std::env::var("CONSORTIA_TEST_PROMETHEUS") else {
        eprintln!("skipped: CONSORTIA_TEST_PROMETHEUS is not set (scripts/test sets it)");
        return;
    };
    let demo = Demo::up().await;
    let (console, admin, dir) = (&demo.console, &demo.admin, &demo.dir);
    let key = admin.create_api_key("prometheus", None).await.unwrap().key;
    let chain = admin.chains().await.unwrap().remove(0);
    let read = CreateNodeCredentialRequest {
        org_id: None,
        role: CredentialRole::Read,
        name: Some("prometheus".into()),
        expires_in_days: Some(365),
        public_key: None,
    };
    let credential = admin.issue_node_credential(&chain.id, &read).await.unwrap();

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    let config = std::fs::read_to_string(shipped.join("prometheus.yml"))
        .unwrap()
        .replace("CHAIN_ID", &chain.id)
        .replace("REPLACE_WITH_AN_API_KEY", &key)
        .replace("REPLACE_WITH_A_NODE_CREDENTIAL", &credential.token)
        .replace("http://127.0.0.1:8080", console);
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    std::fs::copy(shipped.join("alerts.yml"), dir.path().join("alerts.yml")).unwrap();
    let port = free_base_port(1);
    let _prometheus = Killed(
        Command::new(prometheus)
            .current_dir(dir.path())
            .arg("--config.file=prometheus.yml")
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    let api = |path: &str| {
        let url = format!("http://127.0.0.1:{port}/api/v1/{path}");
        async move {
            match reqwest::get(url).await {
                Ok(answer) => answer.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let targets = loop {
        let answer = api("targets").await;
        let targets = answer["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        if targets.len() == 4 && targets.iter().all(|t| t["health"] == "up") {
            break targets;
        }
        assert!(std::time::Instant::now() < deadline, "targets never all up: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let platform_chain = |t: &Value| t["labels"]["platform_chain"].clone();
    assert!(targets.iter().all(|t| platform_chain(t) == json!(chain.id)), "{targets:?}");
    let rules = api("rules").await;
    let groups = rules["data"]["groups"].as_array().cloned().unwrap_or_default();
    assert!(groups.iter().any(|g| !g["rules"].as_array().unwrap().is_empty()), "{rules}");
}
