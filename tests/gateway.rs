//! The contract gateway on the demo chain `consortia up` makes: managed keys of several users
//! signing ERC-20 transfers through REST, with nonces that stay gap-free under concurrency and
//! across a platform killed with SIGKILL, idempotent retries, asynchronous calls, batches, and
//! clear refusals of bad input.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;
mod receiver;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use consortia_api::PlatformClient;
use consortia_api::platform::*;
use consortia_test_utils::contracts::{ERC20_ABI, ERC20_BYTECODE};
use demo::Demo;
use receiver::{receive, signed_by};
use serde_json::{Value, json};

/// Where the receiver of the transfers is.
const BOB: &str = "0x00000000000000000000000000000000000000bb";

/// The demo with the ERC-20 token deployed by its organization (all supply to the
/// organization's account).
struct TokenChain {
    demo: Demo,
    chain: ChainView,
    org: String,
}

impl TokenChain {
    async fn up() -> TokenChain {
        let demo = Demo::up().await;
        let chain = demo.admin.chains().await.unwrap().remove(0);
        let org = chain.orgs[0].clone();
        let code = hex::decode(ERC20_BYTECODE.trim().trim_start_matches("0x")).unwrap();
        let upload = UploadRequest {
            org_id: org.clone(),
            name: "token".into(),
            abi: serde_json::from_str(ERC20_ABI).unwrap(),
            bytecode: ERC20_BYTECODE.trim().into(),
            code_hash: format!("0x{}", hex::encode(alloy_primitives::keccak256(&code))),
        };
        demo.admin.upload_contract(&chain.id, &upload).await.unwrap();
        let deploy = DeployRequest { args: vec!["1000000000".into()], org_id: None };
        demo.admin.deploy(&chain.id, "token", &deploy).await.unwrap();
        TokenChain { demo, chain, org }
    }

    /// A new operator of the organization, logged in, with a managed key of its own (made by
    /// the administrator) holding gas money and `tokens`.
    async fn user_with_key(&self, name: &str, tokens: u64) -> (PlatformClient, SigningKeyView) {
        let admin = &self.demo.admin;
        let password = "correct horse battery";
        let user = CreateUserRequest { username: name.into(), password: password.into() };
        let user = admin.create_user(&user).await.unwrap();
        let member = AddMemberRequest { username: name.into(), role: Role::Operator };
        admin.add_member(&self.org, &member).await.unwrap();
        let request =
            CreateSigningKeyRequest { name: format!("{name}-app"), owner_id: Some(user.id) };
        let key = admin.create_signing_key(&self.org, &request).await.unwrap();
        self.fund(&key.address, tokens).await;
        let client = PlatformClient::new(&self.demo.console);
        client.login(name, password).await.unwrap();
        (client, key)
    }

    /// Gas money and `tokens` from the organization's account to `address`.
    async fn fund(&self, address: &str, tokens: u64) {
        let faucet =
            FaucetRequest { org_id: self.org.clone(), address: address.into(), amount: None };
        self.demo.admin.faucet(&self.chain.id, &faucet).await.unwrap();
        if tokens > 0 {
            let sent =
                self.demo.admin.call(&self.chain.id, "token", &transfer(address, tokens)).await;
            assert_eq!(sent.unwrap().outcome.unwrap().status, TxResult::Success);
        }
    }

    /// A JSON-RPC answer of the chain's first node.
    async fn rpc(&self, method: &str, params: Value) -> Value {
        let url = &self.chain.node_urls()[0];
        demo::node(url, &self.demo.token).rpc(method, params).await.unwrap()
    }

    /// The nonce the chain expects next from `address` (its committed transactions).
    async fn committed_count(&self, address: &str) -> u64 {
        let n = self.rpc("eth_getTransactionCount", json!([address, "latest"])).await;
        u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    async fn balance(&self, who: &str) -> u64 {
        let q = CallRequest {
            function: "balanceOf".into(),
            args: vec![who.into()],
            org_id: None,
            key: None,
        };
        let view = self.demo.admin.call(&self.chain.id, "token", &q).await.unwrap();
        view.outputs.unwrap()[0]["value"].as_str().unwrap().parse().unwrap()
    }
}

fn transfer(to: &str, amount: u64) -> CallRequest {
    CallRequest {
        function: "transfer".into(),
        args: vec![to.into(), amount.to_string()],
        org_id: None,
        key: None,
    }
}

fn with_key(request: CallRequest, key: &str) -> CallRequest {
    CallRequest { key: Some(key.into()), ..request }
}

fn refused<T: std::fmt::Debug>(result: consortia_api::ClientResult<T>) -> (u16, String) {
    let e = result.expect_err("refused");
    (e.status().unwrap_or(0), e.code().unwrap_or_default().to_owned())
}

/// The nonces of every call signed as `address`, after checking that each call succeeded.
fn nonces_of_successes(calls: &[GatewayCallView], address: &str) -> Vec<u64> {
    let mine: Vec<&GatewayCallView> = calls.iter().filter(|c| c.from == address).collect();
    for c in &mine {
        assert_eq!(c.status, CallStatus::Success, "{c:?}");
    }
    let mut nonces: Vec<u64> = mine.iter().map(|c| c.nonce.unwrap()).collect();
    nonces.sort_unstable();
    nonces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_calls_of_five_users_commit_with_gap_free_nonces() {
    let t = TokenChain::up().await;
    let mut users = vec![];
    for i in 0..5 {
        let (client, key) = t.user_with_key(&format!("app{i}"), 1_000).await;
        users.push((Arc::new(client), key));
    }
    let mut calls = vec![];
    for (client, key) in &users {
        for _ in 0..40 {
            let (client, chain, key) = (client.clone(), t.chain.id.clone(), key.id.clone());
            calls.push(tokio::spawn(async move {
                client.call(&chain, "token", &with_key(transfer(BOB, 1), &key)).await
            }));
        }
    }
    for call in calls {
        let view = call.await.unwrap().unwrap();
        assert_eq!(view.outcome.unwrap().status, TxResult::Success);
    }
    assert_eq!(t.balance(BOB).await, 200, "each transfer once");
    for (client, key) in &users {
        let journal = client.gateway_calls(&t.chain.id, 1000).await.unwrap();
        assert_eq!(journal.len(), 40, "the user's own calls");
        assert_eq!(nonces_of_successes(&journal, &key.address), (0..40).collect::<Vec<_>>());
        assert_eq!(t.committed_count(&key.address).await, 40, "{}", key.address);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_platform_killed_mid_flight_loses_no_acknowledged_call_and_reuses_no_nonce() {
    let t = TokenChain::up().await;
    let (client, key) = t.user_with_key("writer", 1_000).await;
    let client = Arc::new(client);
    let pid: i32 = std::fs::read_to_string(t.demo.data().join("platform.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Eight senders keep asynchronous calls in flight; the platform dies under them.
    let acknowledged = Arc::new(std::sync::Mutex::new(vec![]));
    let mut senders = vec![];
    for _ in 0..8 {
        let (client, chain, key, acked) =
            (client.clone(), t.chain.id.clone(), key.id.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            let request = with_key(transfer(BOB, 1), &key);
            while let Ok(call) = client.call_async(&chain, "token", &request, None).await {
                acked.lock().unwrap().push(call.id);
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    assert!(killed.unwrap().success());
    for s in senders {
        s.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Up again: the platform comes back on its data; what it had sent or recorded settles.
    t.demo.up_again();
    let client = PlatformClient::with_credentials(&t.demo.console, client.credentials());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for id in &acknowledged {
        loop {
            let call = client.gateway_call(&t.chain.id, id).await.unwrap();
            if call.status != CallStatus::Pending {
                assert_eq!(call.status, CallStatus::Success, "{call:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "still pending: {call:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Every call the journal holds committed (also those recorded but not acknowledged),
    // each with its own nonce, none skipped: the chain counts exactly as many.
    let journal = loop {
        let journal = client.gateway_calls(&t.chain.id, 1000).await.unwrap();
        if journal.iter().all(|c| c.status != CallStatus::Pending) {
            break journal;
        }
        assert!(tokio::time::Instant::now() < deadline, "calls left pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let nonces = nonces_of_successes(&journal, &key.address);
    assert!(nonces.len() >= acknowledged.len());
    assert_eq!(nonces, (0..nonces.len() as u64).collect::<Vec<_>>(), "gap-free, none twice");
    assert_eq!(t.committed_count(&key.address).await, nonces.len() as u64);
    assert_eq!(t.balance(BOB).await, nonces.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_idempotent_call_runs_once_and_another_request_under_its_key_is_refused() {
    let t = TokenChain::up().await;
    let (client, key) = t.user_with_key("retrier", 100).await;
    let request = with_key(transfer(BOB, 7), &key.id);
    let first = client.call_idempotent(&t.chain.id, "token", &request, "order-42").await.unwrap();
    let again = client.call_idempotent(&t.chain.id, "token", &request, "order-42").await.unwrap();
    assert_eq!(first.call_id, again.call_id);
    assert_eq!(first.outcome.unwrap().tx_hash, again.outcome.unwrap().tx_hash);
    assert_eq!(t.balance(BOB).await, 7, "executed once");
    let other = with_key(transfer(BOB, 8), &key.id);
    let reused = client.call_idempotent(&t.chain.id, "token", &other, "order-42").await;
    assert_eq!(refused(reused), (400, "idempotency_key_reused".into()));

    // Asynchronously: 202 with the call, which becomes final; a retry names the same call.
    let sent = client.call_async(&t.chain.id, "token", &request, Some("order-43")).await.unwrap();
    let retried =
        client.call_async(&t.chain.id, "token", &request, Some("order-43")).await.unwrap();
    assert_eq!(sent.id, retried.id);
    let done = loop {
        let call = client.gateway_call(&t.chain.id, &sent.id).await.unwrap();
        if call.status != CallStatus::Pending {
            break call;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.status, CallStatus::Success);
    assert_eq!(done.outcome.unwrap().events[0]["event"], "Transfer", "decoded with the ABI");
    assert_eq!(t.balance(BOB).await, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_disable_and_bad_calls_get_clear_refusals() {
    let t = TokenChain::up().await;
    let (client, key) = t.user_with_key("keeper", 10).await;
    let chain = &t.chain.id;
    let call = |request: CallRequest| {
        let client = &client;
        async move { client.call(chain, "token", &request).await }
    };

    // Bad input: a clear 4xx each, and nothing sent.
    for (request, code) in [
        (with_key(transfer(BOB, 1), "no-such-key"), "unknown_key"),
        (with_key(transfer(BOB, 11), &key.id), "would_revert"),
        (
            with_key(CallRequest { function: "mint".into(), ..transfer(BOB, 1) }, &key.id),
            "unknown_function",
        ),
        (
            with_key(
                CallRequest { args: vec!["bob".into(), "1".into()], ..transfer(BOB, 1) },
                &key.id,
            ),
            "bad_arguments",
        ),
    ] {
        assert_eq!(refused(call(request).await), (400, code.into()));
    }
    assert_eq!(t.committed_count(&key.address).await, 0);

    // Another user may not sign with the key.
    let (other, _) = t.user_with_key("stranger", 0).await;
    let stolen = other.call(chain, "token", &with_key(transfer(BOB, 1), &key.id)).await;
    assert_eq!(refused(stolen).0, 403);

    // Disabled, it signs nothing; enabled again (by an administrator), it does.
    let disabled = client.signing_key_action(&t.org, &key.id, "disable").await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        refused(call(with_key(transfer(BOB, 1), &key.id)).await),
        (400, "key_disabled".into())
    );
    assert_eq!(refused(client.signing_key_action(&t.org, &key.id, "enable").await).0, 403);
    t.demo.admin.signing_key_action(&t.org, &key.id, "enable").await.unwrap();
    call(with_key(transfer(BOB, 1), &key.id)).await.unwrap();

    // Rotated, a new account signs (the old one is kept, retired).
    let rotated = client.signing_key_action(&t.org, &key.id, "rotate").await.unwrap();
    assert_eq!((rotated.version, rotated.versions.len()), (2, 2));
    assert_ne!(rotated.address, key.address);
    assert!(rotated.versions[1].retired_ms.is_some());
    t.fund(&rotated.address, 5).await;
    let sent = call(with_key(transfer(BOB, 1), &key.id)).await.unwrap();
    let recorded = client.gateway_call(chain, &sent.call_id.unwrap()).await.unwrap();
    assert_eq!((recorded.from, recorded.nonce), (rotated.address.clone(), Some(0)));

    // A batch: each call its own result, the bad one refused by name, the others sent in order.
    let item = |function: &str, args: &[&str]| BatchItem {
        contract: "token".into(),
        function: function.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    };
    let batch = BatchCallRequest {
        calls: vec![
            item("transfer", &[BOB, "1"]),
            item("burn", &[]),
            item("transfer", &[BOB, "2"]),
        ],
        key: Some(key.name.clone()),
        org_id: None,
    };
    let results = client.batch_call(chain, &batch, true).await.unwrap().results;
    assert_eq!(results[1].error.as_ref().unwrap().code, "unknown_function");
    let nonces: BTreeSet<u64> = [&results[0], &results[2]]
        .iter()
        .map(|r| r.call.as_ref().unwrap().nonce.unwrap())
        .collect();
    assert_eq!(nonces, BTreeSet::from([1, 2]));
    assert!(
        [&results[0], &results[2]]
            .iter()
            .all(|r| r.call.as_ref().unwrap().status == CallStatus::Success)
    );
    assert_eq!(t.balance(BOB).await, 5);
}

/// The peak resident memory (MiB) of each process whose command line names `dir`.
fn peak_rss_of_processes_in(dir: &std::path::Path) -> Vec<(String, u64)> {
    let dir = dir.to_string_lossy().into_owned();
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if !cmdline.contains(&dir) && !cwd.to_string_lossy().contains(&dir) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        // utime and stime, in clock ticks (100 a second here).
        let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap_or("0 kB");
        let kib: u64 = peak.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
        let name = cwd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let what = cmdline.chars().take(40).collect::<String>();
        out.push((format!("{what} (in {name}), CPU {:.1} s", ticks as f64 / 100.0), kib / 1024));
    }
    out
}

/// `gateway-invoke` (docs/benchmarks.md): ERC-20 transfers through the REST gateway, each
/// signed by one of BENCH_KEYS managed keys (50) round robin, offered at BENCH_RATE calls a
/// second (1000) for BENCH_SECONDS (20), each answered once final; latency from the moment
/// the call was due to its answer. `scripts/bench-gateway` runs it on a release build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-gateway"]
async fn benchmark_gateway_invoke() {
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (keys_wanted, rate, seconds) =
        (env("BENCH_KEYS", 50), env("BENCH_RATE", 1000), env("BENCH_SECONDS", 20));
    let t = TokenChain::up().await;
    let admin = &t.demo.admin;
    let mut keys = vec![];
    for i in 0..keys_wanted {
        let request = CreateSigningKeyRequest { name: format!("bench-{i}"), owner_id: None };
        let key = admin.create_signing_key(&t.org, &request).await.unwrap();
        let faucet =
            FaucetRequest { org_id: t.org.clone(), address: key.address.clone(), amount: None };
        admin.faucet(&t.chain.id, &faucet).await.unwrap();
        keys.push(key);
    }
    let funding = BatchCallRequest {
        calls: keys
            .iter()
            .map(|k| BatchItem {
                contract: "token".into(),
                function: "transfer".into(),
                args: vec![k.address.clone(), "1000000".into()],
            })
            .collect(),
        key: None,
        org_id: None,
    };
    let funded = admin.batch_call(&t.chain.id, &funding, true).await.unwrap();
    assert!(
        funded
            .results
            .iter()
            .all(|r| r.call.as_ref().is_some_and(|c| c.status == CallStatus::Success))
    );

    let client = Arc::new(PlatformClient::with_credentials(&t.demo.console, admin.credentials()));
    // The platform takes at most 256 connections from one address (`serving::Limits`).
    let in_flight = Arc::new(tokio::sync::Semaphore::new(200));
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    let mut calls = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let (client, chain) = (client.clone(), t.chain.id.clone());
        let key = keys[(i % keys.len() as u64) as usize].id.clone();
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        calls.push(tokio::spawn(async move {
            let _permit = permit;
            let request = with_key(transfer(BOB, 1), &key);
            let outcome = match client.call(&chain, "token", &request).await {
                Ok(a) if a.outcome.as_ref().is_some_and(|o| o.status == TxResult::Success) => {
                    Ok(())
                }
                Ok(a) => Err(format!("{:?}", a.outcome)),
                Err(e) => Err(e.code().map_or_else(|| e.to_string(), str::to_owned)),
            };
            (outcome, due.elapsed(), tokio::time::Instant::now())
        }));
    }
    let (mut latencies, mut failed, mut last) = (vec![], 0, start);
    let mut why = std::collections::BTreeMap::<String, u64>::new();
    for call in calls {
        let (outcome, latency, done) = call.await.unwrap();
        last = last.max(done);
        match outcome {
            Ok(()) => latencies.push(latency),
            Err(e) => {
                failed += 1;
                *why.entry(e).or_default() += 1;
            }
        }
    }
    println!("offered: failures by reason {why:?}");
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let elapsed = (last - start).as_secs_f64();
    println!(
        "offered {rate}/s for {seconds} s with {} keys: {} committed in {elapsed:.1} s = {:.0}/s, {failed} failed; latency p50 {:?} p99 {:?} max {:?}",
        keys.len(),
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1],
    );
    for (process, mib) in peak_rss_of_processes_in(&t.demo.data()) {
        println!("offered peak RSS {mib} MiB: {process}");
    }
    assert_eq!(t.balance(BOB).await, latencies.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receiver_that_was_down_gets_every_event_in_order_signed() {
    let t = TokenChain::up().await;
    // A port nothing listens on yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let subscription = CreateWebhookRequest {
        url: format!("http://127.0.0.1:{port}/hooks/transfers"),
        contract: Some("token".into()),
        event: Some("Transfer(address,address,uint256)".into()),
        topics: vec![],
        from_height: None,
        org_id: None,
    };
    let created = t.demo.admin.create_webhook(&t.chain.id, &subscription).await.unwrap();
    let hook = created.webhook.id.clone();
    for amount in 1..=5 {
        t.demo.admin.call(&t.chain.id, "token", &transfer(BOB, amount)).await.unwrap();
    }
    // Deliveries fail and are retried with waits.
    let failing = loop {
        let view = t.demo.admin.webhook(&t.chain.id, &hook).await.unwrap();
        if view.attempts >= 2 {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(failing.last_error.unwrap().contains("not delivered"));
    assert_eq!(failing.delivered, 0);

    // The receiver comes back: every event arrives, in order, each signed.
    let got = receive(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered: {:?}",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = got.lock().unwrap().clone();
    let mut amounts = vec![];
    for (headers, body) in &got {
        let (timestamp, signature) =
            (&headers["x-consortia-timestamp"], &headers["x-consortia-signature"]);
        assert!(signed_by(&created.secret, timestamp, body, signature), "{headers:?}");
        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(
            !signed_by(&created.secret, timestamp, &tampered, signature),
            "a changed byte fails"
        );
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["decoded"]["event"]["event"], "Transfer", "{payload}");
        amounts.push(payload["decoded"]["event"]["args"][2]["value"].as_str().unwrap().to_owned());
    }
    assert_eq!(amounts, ["1", "2", "3", "4", "5"], "block order, each once");
    let done = t.demo.admin.webhook(&t.chain.id, &hook).await.unwrap();
    assert_eq!((done.delivered, done.attempts), (5, 0));
    assert!(t.demo.admin.webhook_dead_letters(&t.chain.id, &hook).await.unwrap().is_empty());
}

/// The `data:` payloads of the first `n` events of a Server-Sent Events answer, with their ids.
async fn first_events(answer: reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut answer = answer;
    let (mut text, mut events) = (String::new(), vec![]);
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(30), answer.chunk()).await;
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap().unwrap()));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let field =
                |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
            if let (Some(id), Some(data)) = (field("id: "), field("data: ")) {
                events.push((id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_follows_the_chain_and_resumes_after_its_last_event_id() {
    let t = TokenChain::up().await;
    let Some(consortia_api::Credentials::Tokens { access_token, .. }) = t.demo.admin.credentials()
    else {
        panic!("logged in with tokens")
    };
    let url = format!(
        "{}/v1/chains/{}/events?contract=token&event=Transfer(address,address,uint256)",
        t.demo.console, t.chain.id
    );
    let http = reqwest::Client::new();
    let open = |resume: Option<String>| {
        let mut request = http.get(&url).bearer_auth(&access_token);
        if let Some(id) = resume {
            request = request.header("Last-Event-ID", id);
        }
        request.send()
    };
    let stream = open(None).await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    for amount in 1..=3 {
        t.demo.admin.call(&t.chain.id, "token", &transfer(BOB, amount)).await.unwrap();
    }
    let seen = first_events(stream, 3).await;
    let amounts: Vec<&str> = seen
        .iter()
        .map(|(_, e)| e["decoded"]["event"]["args"][2]["value"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["1", "2", "3"]);
    // Reconnecting after the first event gets the second and third again, nothing before.
    let resumed = first_events(open(Some(seen[0].0.clone())).await.unwrap(), 2).await;
    assert_eq!(resumed.iter().map(|(id, _)| id).collect::<Vec<_>>(), [&seen[1].0, &seen[2].0]);
    let bad = open(Some("yesterday".into())).await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contracts_events_come_newest_first_and_page_through_all_of_them_once() {
    let t = TokenChain::up().await;
    for amount in 1..=4 {
        t.demo.admin.call(&t.chain.id, "token", &transfer(BOB, amount)).await.unwrap();
    }
    let value = |e: &Value| e["args"][2]["value"].as_str().unwrap().to_owned();
    let all = ContractEventQuery::default();
    let page = t.demo.admin.contract_events(&t.chain.id, "token", &all).await.unwrap();
    let values: Vec<String> = page.events.iter().map(value).collect();
    assert_eq!(values, ["4", "3", "2", "1", "1000000000"], "newest first, the mint last");
    assert!(page.events.iter().all(|e| e["event"] == "Transfer" && e["tx_hash"].is_string()));
    assert_eq!(page.next_before, None, "everything down to the genesis");

    // Two at a time, each page going on where the last ended: every event once, in order.
    let (mut paged, mut before) = (vec![], None);
    loop {
        let q = ContractEventQuery { limit: Some(2), before_height: before, ..Default::default() };
        let page = t.demo.admin.contract_events(&t.chain.id, "token", &q).await.unwrap();
        paged.extend(page.events.iter().map(value));
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, values);

    // An event the ABI lacks is a 400 that names it.
    let unknown = ContractEventQuery { event: Some("Shipped".into()), ..Default::default() };
    let err = t.demo.admin.contract_events(&t.chain.id, "token", &unknown).await.unwrap_err();
    assert!(err.to_string().contains("no event `Shipped`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_spec_is_kept_with_the_contract_only_if_it_matches_the_abi() {
    let t = TokenChain::up().await;
    let field = |name: &str, label: &str| DisplayField { name: name.into(), label: label.into() };
    let spec = DisplaySpec {
        title: "Payments".into(),
        description: Some("What the bank paid".into()),
        views: vec![
            DisplayView::Table {
                title: "Paid".into(),
                event: "Transfer".into(),
                columns: vec![field("receiver", "To"), field("value", "Amount")],
            },
            DisplayView::Lookup {
                title: "Balance".into(),
                function: "balanceOf".into(),
                fields: vec![field("arg0", "Holder")],
                outputs: vec![field("0", "Tokens")],
            },
        ],
    };
    let kept = t.demo.admin.set_contract_display(&t.chain.id, "token", &spec).await.unwrap();
    assert_eq!(kept.display.as_ref(), Some(&spec));
    let read = t.demo.admin.contract(&t.chain.id, "token").await.unwrap();
    assert_eq!(read.display, Some(spec.clone()), "kept with the contract");

    let mut wrong = spec.clone();
    wrong.views.push(DisplayView::Form {
        title: "Refund".into(),
        function: "refund".into(),
        fields: vec![],
        submit: None,
    });
    let err = t.demo.admin.set_contract_display(&t.chain.id, "token", &wrong).await.unwrap_err();
    assert!(err.to_string().contains("the ABI has no function `refund`"), "{err}");
    let read = t.demo.admin.contract(&t.chain.id, "token").await.unwrap();
    assert_eq!(read.display, Some(spec), "a refused spec changes nothing");

    // A viewer of the organization may read the views, not change them.
    let viewer =
        CreateUserRequest { username: "vic".into(), password: "correct horse battery".into() };
    t.demo.admin.create_user(&viewer).await.unwrap();
    let member = AddMemberRequest { username: "vic".into(), role: Role::Viewer };
    t.demo.admin.add_member(&t.org, &member).await.unwrap();
    let vic = PlatformClient::new(&t.demo.console);
    vic.login("vic", "correct horse battery").await.unwrap();
    let err = vic.set_contract_display(&t.chain.id, "token", &wrong).await.unwrap_err().to_string();
    assert!(err.contains("contract:update"), "{err}");
}
