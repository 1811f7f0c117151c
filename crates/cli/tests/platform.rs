//! `consortia platform` as a process: the one-time administrator credentials, login over
//! HTTP, a restart that keeps the data and prints no new credentials; and the whole Baidu flow
//! with two users through to a running 4-validator chain on local hosts and a committed
//! transaction, which keeps running while the platform is down and is still there after it
//! comes back.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{BIN, alive, hex_tx, http, notarize_tx, post_json, tx_hash, wait_committed};
use consortia_crypto::{PrivateKey, Scheme};
use serde_json::{Value, json};

struct Platform {
    child: Child,
    url: String,
    /// The lines printed up to the address (credentials come before it on a first start).
    banner: Vec<String>,
}

impl Platform {
    fn start(dir: &std::path::Path) -> Platform {
        Platform::start_on(dir, None)
    }

    /// A platform whose metadata is in `database` (PostgreSQL), or in SQLite under `dir`.
    fn start_on(dir: &std::path::Path, database: Option<&str>) -> Platform {
        let mut command = Command::new(BIN);
        command.args(["platform", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir);
        match database {
            Some(url) => command.env("CONSORTIA_DATABASE_URL", url),
            None => command.env_remove("CONSORTIA_DATABASE_URL"),
        };
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = vec![];
        let url = loop {
            let line = lines.next().expect("platform exited before serving").unwrap();
            banner.push(line.clone());
            if let Some(rest) = line.strip_prefix("Consortia platform: ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Platform { child, url, banner }
    }

    /// A first start, and the administrator's access token.
    fn start_as_admin(dir: &std::path::Path, database: Option<&str>) -> (Platform, String) {
        let platform = Platform::start_on(dir, database);
        let password = platform.credential("password").expect("a first start");
        let (_, tokens) = login(&platform.url, "admin", &password);
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        (platform, token)
    }

    fn credential(&self, field: &str) -> Option<String> {
        self.banner.iter().find_map(|l| l.strip_prefix(&format!("{field}: ")).map(str::to_owned))
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn login(url: &str, username: &str, password: &str) -> (u16, Value) {
    let r = http()
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn platform_prints_its_admin_once_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::start(dir.path());
    let username = platform.credential("username").expect("first start prints the username");
    let password = platform.credential("password").expect("and the password");
    let (status, tokens) = login(&platform.url, &username, &password);
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let created = http()
        .post(format!("{}/v1/orgs", platform.url))
        .bearer_auth(&token)
        .json(&json!({"name": "Acme"}))
        .send()
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let unauthenticated = http().get(format!("{}/v1/orgs", platform.url)).send().unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    drop(platform);

    let platform = Platform::start(dir.path());
    assert!(platform.credential("password").is_none(), "{:?}", platform.banner);
    let (status, _) = login(&platform.url, &username, &password);
    assert_eq!(status, 200);
    let orgs: Value = http()
        .get(format!("{}/v1/orgs", platform.url))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(orgs[0]["name"], "Acme", "{orgs}");
}

/// Calls the platform API with a bearer token; the status and JSON body.
fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = http().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Kills the nodes the platform's local hosts started (they outlive the platform on purpose).
struct Nodes(std::path::PathBuf);

impl Drop for Nodes {
    fn drop(&mut self) {
        let Ok(hosts) = std::fs::read_dir(self.0.join("hosts")) else { return };
        for host in hosts.flatten() {
            for node in std::fs::read_dir(host.path()).into_iter().flatten().flatten() {
                if let Ok(pid) = std::fs::read_to_string(node.path().join("node.pid")) {
                    let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
                }
            }
        }
    }
}

#[test]
fn the_baidu_flow_runs_a_four_validator_chain_that_outlives_the_platform() {
    baidu_flow(None);
}

/// The same with the platform's metadata in PostgreSQL (`CONSORTIA_TEST_POSTGRES`, a server
/// where a new database is made for the test; required under CI, as for the platform suite).
#[test]
fn the_baidu_flow_runs_on_postgresql_too() {
    let Ok(server) = std::env::var("CONSORTIA_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this on PostgreSQL: set CONSORTIA_TEST_POSTGRES (scripts/test does)"
        );
        eprintln!("skipped: set CONSORTIA_TEST_POSTGRES=$(scripts/postgres) to run on PostgreSQL");
        return;
    };
    let name = format!(
        "consortia_e2e_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let made = Command::new("psql")
        .arg(&server)
        .args(["-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .unwrap();
    assert!(made.success(), "cannot create database {name} on {server}");
    let (base, _) = server.rsplit_once('/').unwrap();
    baidu_flow(Some(&format!("{base}/{name}")));
}

fn baidu_flow(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let _nodes = Nodes(dir.path().to_path_buf());
    let (platform, admin) = Platform::start_as_admin(dir.path(), database);
    let url = platform.url.clone();
    let post = |token: &str, path: &str, body: Value| {
        let (status, body) =
            call(reqwest::Method::POST, &format!("{url}{path}"), token, Some(body));
        assert!((200..300).contains(&status), "POST {path}: {status} {body}");
        body
    };
    for user in ["user1", "user2"] {
        post(
            &admin,
            "/v1/users",
            json!({"username": user, "password": format!("{user}-password")}),
        );
    }
    let token = |user: &str| {
        login(&url, user, &format!("{user}-password")).1["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (u1, u2) = (token("user1"), token("user2"));
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();

    // The consortium: user 1 leads with org 1, invites user 2, who joins with org 2.
    let org1 = id(&post(&u1, "/v1/orgs", json!({"name": "Bank"})));
    let cons = id(&post(&u1, "/v1/consortiums", json!({"name": "Trade", "org_id": org1})));
    let inv = id(&post(
        &u1,
        &format!("/v1/consortiums/{cons}/invitations"),
        json!({"username": "user2"}),
    ));
    post(&u2, &format!("/v1/invitations/{inv}/accept"), json!({}));
    let org2 = id(&post(&u2, "/v1/orgs", json!({"name": "Shipper"})));
    let req = id(&post(
        &u2,
        &format!("/v1/consortiums/{cons}/join-requests"),
        json!({"org_id": org2, "invitation_id": inv}),
    ));
    let decided =
        post(&u1, &format!("/v1/consortiums/{cons}/join-requests/{req}/approve"), json!({}));
    assert_eq!(decided["status"], "approved");

    // The chain wizard: each organization brings two validators on its own local host.
    let h1 =
        id(&post(&u1, "/v1/hosts", json!({"org_id": org1, "name": "bank-host", "kind": "local"})));
    let h2 = id(&post(
        &u2,
        "/v1/hosts",
        json!({"org_id": org2, "name": "shipper-host", "kind": "local"}),
    ));
    let chain = post(
        &u1,
        "/v1/chains",
        json!({"consortium_id": cons, "org_id": org1, "name": "ledger", "consensus": "bft"}),
    );
    let (chain, chain_id) = (id(&chain), chain["chain_id"].as_u64().unwrap());
    for n in 0..2 {
        post(
            &u1,
            &format!("/v1/chains/{chain}/nodes"),
            json!({"org_id": org1, "host_id": h1, "name": format!("bank-{n}")}),
        );
    }
    post(&u1, &format!("/v1/chains/{chain}/orgs"), json!({"org_id": org2}));
    for n in 0..2 {
        post(
            &u2,
            &format!("/v1/chains/{chain}/nodes"),
            json!({"org_id": org2, "host_id": h2, "name": format!("ship-{n}")}),
        );
    }
    let started = post(&u2, &format!("/v1/chains/{chain}/start"), json!({}));
    assert_eq!(started["status"], "running", "{started}");
    let nodes: Vec<String> = started["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["http_url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes.len(), 4);
    // Starting twice is an illegal step.
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/chains/{chain}/start"),
        &u1,
        Some(json!({})),
    );
    assert_eq!((status, body["code"].as_str()), (409, Some("illegal_step")), "{body}");

    // A transaction sent to one organization's node is committed on the other's.
    let key = PrivateKey::generate(Scheme::Ed25519);
    let tx = notarize_tx(&key, chain_id, 0, "bill-of-lading-1", b"cargo");
    let (status, body) =
        post_json(&http(), &format!("{}/v1/transactions", nodes[0]), &json!({"tx": hex_tx(&tx)}));
    assert_eq!(status, 202, "{body}");
    wait_committed(&http(), &nodes[3], &tx_hash(&tx));

    // Nodes: status polled from each, logs, and control authorized by the owning organization
    // (org 2's operator restarts org 2's node, but cannot touch org 1's; a viewer cannot).
    post(&admin, "/v1/users", json!({"username": "ops2", "password": "ops2-password"}));
    post(&u2, &format!("/v1/orgs/{org2}/members"), json!({"username": "ops2", "role": "operator"}));
    post(&admin, "/v1/users", json!({"username": "viewer1", "password": "viewer1-password"}));
    post(
        &u1,
        &format!("/v1/orgs/{org1}/members"),
        json!({"username": "viewer1", "role": "viewer"}),
    );
    let (ops2, viewer1) = (token("ops2"), token("viewer1"));
    let (status, statuses) =
        call(reqwest::Method::GET, &format!("{url}/v1/chains/{chain}/nodes"), &ops2, None);
    assert_eq!(status, 200, "{statuses}");
    for node in statuses.as_array().unwrap() {
        assert_eq!(
            (node["process"].as_str(), node["health"].as_str()),
            (Some("running"), Some("healthy")),
            "{node}"
        );
        assert!(
            node["height"].as_u64().unwrap() >= 1 && node["peers"].as_u64().unwrap() == 3,
            "{node}"
        );
    }
    let control = |token: &str, node: &str, verb: &str| {
        call(
            reqwest::Method::POST,
            &format!("{url}/v1/chains/{chain}/nodes/{node}/{verb}"),
            token,
            Some(json!({})),
        )
    };
    assert_eq!(control(&ops2, "bank-0", "restart").0, 403);
    assert_eq!(control(&viewer1, "bank-0", "stop").0, 403);
    assert_eq!(control(&ops2, "nope", "restart").0, 404);
    let (status, restarted) = control(&ops2, "ship-0", "restart");
    assert_eq!((status, restarted["health"].as_str()), (200, Some("healthy")), "{restarted}");
    let (status, logs) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/chains/{chain}/nodes/ship-0/logs?lines=20"),
        &ops2,
        None,
    );
    assert!(status == 200 && !logs.as_array().unwrap().is_empty(), "{status} {logs}");
    assert_eq!(
        call(
            reqwest::Method::GET,
            &format!("{url}/v1/chains/{chain}/nodes/bank-0/logs"),
            &ops2,
            None
        )
        .0,
        403
    );

    // A node stopped on purpose stays stopped, even across a platform restart.
    let (status, stopped) = control(&u2, "ship-1", "stop");
    assert_eq!((status, stopped["process"].as_str()), (200, Some("stopped")), "{stopped}");

    // The platform goes away; the chain (3 of 4 validators) does not need it.
    drop(platform);
    let tx = notarize_tx(&key, chain_id, 1, "bill-of-lading-2", b"cargo");
    post_json(&http(), &format!("{}/v1/transactions", nodes[1]), &json!({"tx": hex_tx(&tx)}));
    wait_committed(&http(), &nodes[2], &tx_hash(&tx));
    // With nobody to restart it, a crashed node stays down, and the chain (2 of 4) waits.
    let ship0 = dir.path().join("hosts").join(&h2).join(format!("{chain}-ship-0"));
    let pid = std::fs::read_to_string(ship0.join("node.pid")).unwrap();
    Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap();

    // Back again: everything is still there; the platform starts the node that should run
    // (not the one stopped on purpose), and the chain commits again.
    let platform = Platform::start_on(dir.path(), database);
    let (status, view) =
        call(reqwest::Method::GET, &format!("{}/v1/chains/{chain}", platform.url), &u1, None);
    assert_eq!((status, view["status"].as_str()), (200, Some("running")), "{view}");
    assert_eq!(view["nodes"].as_array().unwrap().len(), 4);
    let (_, consortium) =
        call(reqwest::Method::GET, &format!("{}/v1/consortiums/{cons}", platform.url), &u2, None);
    assert_eq!(consortium["members"].as_array().unwrap().len(), 2);
    let tx = notarize_tx(&key, chain_id, 2, "bill-of-lading-3", b"cargo");
    post_json(&http(), &format!("{}/v1/transactions", nodes[0]), &json!({"tx": hex_tx(&tx)}));
    wait_committed(&http(), &nodes[2], &tx_hash(&tx));
    let (_, statuses) =
        call(reqwest::Method::GET, &format!("{}/v1/chains/{chain}/nodes", platform.url), &u2, None);
    let process = |name: &str| {
        let node = statuses.as_array().unwrap().iter().find(|n| n["name"] == name).unwrap();
        node["process"].as_str().unwrap().to_owned()
    };
    assert_eq!((process("ship-0"), process("ship-1")), ("running".into(), "stopped".into()));
}

/// Runs `consortia ARGS` as the user whose session lives in `home`; the JSON it printed.
fn cli(home: &std::path::Path, platform: &str, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .env("CONSORTIA_HOME", home)
        .env("CONSORTIA_PLATFORM", platform)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consortia {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or(Value::Null)
}

#[test]
fn the_cli_drives_the_consortium_flow_and_the_chain_wizard() {
    let dir = tempfile::tempdir().unwrap();
    let _nodes = Nodes(dir.path().to_path_buf());
    let platform = Platform::start(dir.path());
    let url = platform.url.clone();
    let (home0, home1, home2) =
        (dir.path().join("home0"), dir.path().join("home1"), dir.path().join("home2"));
    let password = platform.credential("password").unwrap();
    cli(&home0, &url, &["login", "--username", "admin", "--password", &password]);
    for user in ["user1", "user2"] {
        let created =
            cli(&home0, &url, &["user", "create", user, "--password", &format!("{user}-password")]);
        assert_eq!(created["username"], user);
    }
    let as1 = |args: &[&str]| cli(&home1, &url, args);
    let as2 = |args: &[&str]| cli(&home2, &url, args);
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    as1(&["login", "--username", "user1", "--password", "user1-password"]);
    as2(&["login", "--username", "user2", "--password", "user2-password"]);

    let org1 = id(as1(&["org", "create", "Bank"]));
    let cons = id(as1(&["consortium", "create", "Trade", "--org", &org1]));
    let inv = id(as1(&["consortium", "invite", &cons, "--user", "user2"]));
    as2(&["consortium", "accept", &inv]);
    let org2 = id(as2(&["org", "create", "Shipper"]));
    let req = id(as2(&["consortium", "join", &cons, "--org", &org2, "--invitation", &inv]));
    assert_eq!(as1(&["consortium", "approve", &cons, &req])["status"], "approved");

    let host = id(as1(&["host", "create", "bank-host", "--org", &org1]));
    let chain = id(as1(&["chain", "create", "ledger", "--consortium", &cons, "--org", &org1]));
    for n in 0..4 {
        as1(&[
            "chain",
            "add-node",
            &chain,
            "--org",
            &org1,
            "--host",
            &host,
            "--name",
            &format!("v{n}"),
        ]);
    }
    as1(&["chain", "invite", &chain, "--org", &org2]);
    // `chain start` follows the start, saying how far it is on stderr.
    let out = Command::new(BIN)
        .args(["chain", "start", &chain])
        .env("CONSORTIA_HOME", &home1)
        .env("CONSORTIA_PLATFORM", &url)
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("making keys, certificates"), "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["status"], "running");
    assert_eq!(as2(&["chain", "status", &chain])["status"], "running", "org 2 sees the chain");
    let logs = as1(&["node", "logs", &chain, "v0", "--lines", "5"]);
    assert!(!logs.as_array().unwrap().is_empty());
    assert_eq!(as1(&["node", "restart", &chain, "v1"])["health"], "healthy");
    // Org 2 may not restart org 1's node: the command fails with the platform's reason.
    let out = Command::new(BIN)
        .args(["node", "restart", &chain, "v1"])
        .env("CONSORTIA_HOME", &home2)
        .env("CONSORTIA_PLATFORM", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A start runs in the background with progress (`wait=false`); one the platform did not
/// finish (killed mid-start) is undone when it starts again, and the chain then starts.
#[test]
fn a_start_in_the_background_shows_progress_and_one_cut_short_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let _nodes = Nodes(dir.path().to_path_buf());
    let (mut platform, admin) = Platform::start_as_admin(dir.path(), None);
    let url = platform.url.clone();
    let post = |path: &str, body: Value| {
        let (status, body) =
            call(reqwest::Method::POST, &format!("{url}{path}"), &admin, Some(body));
        assert!((200..300).contains(&status), "POST {path}: {status} {body}");
        (status, body)
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let org = id(&post("/v1/orgs", json!({"name": "Bank"})).1);
    let cons = id(&post("/v1/consortiums", json!({"name": "Trade", "org_id": org})).1);
    let host = id(&post("/v1/hosts", json!({"org_id": org, "name": "h", "kind": "local"})).1);
    let chain = post(
        "/v1/chains",
        json!({"consortium_id": cons, "org_id": org, "name": "ledger", "consensus": "bft"}),
    );
    let (chain, chain_id) = (id(&chain.1), chain.1["chain_id"].as_u64().unwrap());
    for n in 0..4 {
        post(
            &format!("/v1/chains/{chain}/nodes"),
            json!({"org_id": org, "host_id": host, "name": format!("v{n}")}),
        );
    }
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/chains/{chain}/start?wait=maybe"),
        &admin,
        Some(json!({})),
    );
    assert_eq!(status, 400, "a bad `wait` is refused");

    // Cut short: the platform is killed once its first node runs.
    let pids = || -> Vec<u32> {
        let nodes = dir.path().join("hosts").join(&host);
        std::fs::read_dir(nodes)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|n| std::fs::read_to_string(n.path().join("node.pid")).ok())
            .filter_map(|pid| pid.trim().parse().ok())
            .filter(|pid| alive(*pid))
            .collect()
    };
    let (status, view) = post(&format!("/v1/chains/{chain}/start?wait=false"), json!({}));
    assert_eq!((status, view["status"].as_str()), (202, Some("starting")), "{view}");
    assert_eq!(view["progress"]["total"], 4, "{view}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pids().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no node started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = Command::new("kill").args(["-KILL", &platform.child.id().to_string()]).status();
    let half_started = pids();
    let _ = platform.child.wait();
    drop(platform);
    let platform = Platform::start(dir.path());
    let url = platform.url.clone();
    let (_, view) = call(reqwest::Method::GET, &format!("{url}/v1/chains/{chain}"), &admin, None);
    assert_eq!(view["status"], "configuring", "{view}");
    assert!(view["failure"].as_str().unwrap().contains("stopped while this chain was starting"));
    assert!(view["progress"].is_null(), "{view}");
    assert!(
        half_started.iter().all(|pid| !alive(*pid)),
        "the half-started nodes are removed: {half_started:?}"
    );

    // Started again in the background: the progress goes forward to running.
    let (status, view) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/chains/{chain}/start?wait=false"),
        &admin,
        Some(json!({})),
    );
    assert_eq!((status, view["status"].as_str()), (202, Some("starting")), "{view}");
    let (status, again) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/chains/{chain}/start"),
        &admin,
        Some(json!({})),
    );
    assert_eq!((status, again["code"].as_str()), (409, Some("illegal_step")), "{again}");
    let mut steps = vec![];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let view = loop {
        let (_, view) =
            call(reqwest::Method::GET, &format!("{url}/v1/chains/{chain}"), &admin, None);
        if view["status"] != "starting" {
            break view;
        }
        let step = view["progress"]["step"].as_str().unwrap_or_else(|| panic!("{view}")).to_owned();
        if steps.last() != Some(&step) {
            steps.push(step);
        }
        assert!(std::time::Instant::now() < deadline, "still starting: {view}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(view["status"], "running", "{view}");
    assert!(view["failure"].is_null() && view["progress"].is_null(), "{view}");
    let order = ["preparing", "starting_nodes", "first_block"];
    let ranks: Vec<usize> =
        steps.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] < w[1]), "steps go forward: {steps:?}");
    let node = view["nodes"][0]["http_url"].as_str().unwrap().to_owned();
    let tx = notarize_tx(&PrivateKey::generate(Scheme::Ed25519), chain_id, 0, "after", b"x");
    let (status, body) =
        post_json(&http(), &format!("{node}/v1/transactions"), &json!({"tx": hex_tx(&tx)}));
    assert_eq!(status, 202, "{body}");
    wait_committed(&http(), &node, &tx_hash(&tx));
    // The audit log says how the background start ended, and who began it.
    let (_, audit) = call(
        reqwest::Method::GET,
        &format!("{url}/v1/audit?method=JOB&path_prefix=/v1/chains/{chain}/start"),
        &admin,
        None,
    );
    assert_eq!(
        (audit[0]["status"].as_i64(), audit[0]["actor"].as_str()),
        (Some(200), Some("admin"))
    );
}
