//! Process harnesses (feature `process`) that drive the real `consortia` binary: a `consortia
//! dev` node ([`DevNode`]), a network made by `consortia net up` ([`Net`]), the CLI itself
//! ([`consortia`]), and typed calls to a node over HTTP and JSON-RPC. Used by the CLI's tests
//! and the end-to-end tests in `tests/`.
//!
//! The binary is found beside the test executable (`target/<profile>/consortia`, which `cargo
//! test --workspace` builds), or at `$CONSORTIA_BIN`.

#![allow(clippy::unwrap_used)] // fixtures fail loudly on purpose

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use consortia_api::NodeClient;
use consortia_api::node::StatusView;
use consortia_crypto::Hash;
use consortia_types::{EthTx, Transaction, encode};
use serde_json::{Value, json};

pub use crate::tx::{eip1559, notarize as notarize_tx};

/// The `consortia` binary under test.
pub static BIN: LazyLock<PathBuf> = LazyLock::new(|| {
    if let Some(bin) = std::env::var_os("CONSORTIA_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> → target/<profile>/consortia
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("consortia{}", std::env::consts::EXE_SUFFIX)))
        .expect("the test executable sits in target/<profile>/deps");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build -p consortia` first (`cargo test --workspace` builds it), or set CONSORTIA_BIN",
        bin.display()
    );
    bin
});

/// A `consortia dev` process; killed when dropped.
#[derive(Debug)]
pub struct DevNode {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl DevNode {
    /// Starts a node on a free port and waits until it serves.
    pub fn start(data_dir: &Path, extra: &[&str]) -> DevNode {
        let mut child = Command::new(&*BIN)
            .args(["dev", "--data-dir"])
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn consortia dev");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("consortia dev exited before serving")
                .expect("read node stdout");
            if let Some(rest) = line.trim().strip_prefix("REST API: ") {
                break rest.trim_end_matches("/v1/status").to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        DevNode { child, url, data_dir: data_dir.to_path_buf() }
    }

    /// The chain id the node reports.
    pub fn chain_id(&self) -> u64 {
        sdk(node_client(&self.url).status()).unwrap().chain_id
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn hex_tx(tx: &Transaction) -> String {
    format!("0x{}", hex::encode(encode(tx)))
}

pub fn tx_hash(tx: &Transaction) -> Hash {
    tx.hash(consortia_crypto::HashAlgorithm::Sha256)
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// GETs `url`. A GET is idempotent, so one that fails in transport (a pooled connection the
/// server closed under it: `IncompleteMessage`, seen once in CI while nodes were being killed)
/// is sent again, twice at most; a node that is really down still fails the test.
pub fn get_json(client: &reqwest::blocking::Client, url: &str) -> (u16, serde_json::Value) {
    let mut attempt = 0;
    let r = loop {
        match client.get(url).send() {
            Ok(r) => break r,
            Err(e) if attempt < 2 => {
                eprintln!("GET {url} failed ({e}); retrying");
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("GET {url}: {e}"),
        }
    };
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

pub fn post_json(
    client: &reqwest::blocking::Client,
    url: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = client.post(url).json(body).send().expect("POST");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

/// Runs an SDK call to its end from these (threaded) tests: one runtime for the test binary.
pub fn sdk<F: std::future::Future>(call: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime")
        })
        .block_on(call)
}

/// The SDK's client of the node at `url` (30 s timeouts).
pub fn node_client(url: &str) -> NodeClient {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    NodeClient::with_client(url, client)
}

/// Waits until `hash` is committed on the node at `url`; returns the lookup as JSON.
pub fn wait_committed(url: &str, hash: &Hash) -> serde_json::Value {
    let lookup = sdk(node_client(url).wait_committed(&hash.to_hex(), Duration::from_secs(60)));
    serde_json::to_value(lookup.unwrap_or_else(|e| panic!("{e}"))).unwrap()
}

/// A local BFT network started with `consortia net up`; its node processes are stopped on drop.
#[derive(Debug)]
pub struct Net {
    pub dir: PathBuf,
    pub urls: Vec<String>,
    /// Nodes this test restarted itself.
    children: Vec<Child>,
}

/// A base port with `n` free HTTP ports at `base..` and P2P ports at `base + 100..`.
pub fn free_base_port(n: u16) -> u16 {
    // Tests of one binary run in parallel threads: each call starts somewhere else.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    // Below Linux's ephemeral range (32768 and up): a port picked there can be taken by any
    // outgoing connection while its node is down for a restart.
    let start = ((std::process::id() % 2_000) as u16 * 17 + call * 1_009) % 20_000;
    (0..2_000u16)
        .map(|k| 10_000 + (start + k * 211) % 20_000)
        .find(|b| (0..n).all(|i| free(b + i) && free(b + 100 + i)))
        .expect("no free ports")
}

impl Net {
    /// `consortia net up` with `n` validators in `dir`.
    pub fn up(dir: &Path, n: usize) -> Net {
        Net::up_with(dir, n, 0)
    }

    /// `consortia net up` with validators and observers (nodes `validators..` are the observers).
    pub fn up_with(dir: &Path, validators: usize, observers: usize) -> Net {
        Net::up_consensus(dir, validators, observers, "bft")
    }

    pub fn up_consensus(dir: &Path, validators: usize, observers: usize, consensus: &str) -> Net {
        Net::up_args(dir, validators, observers, &["--consensus", consensus])
    }

    /// `consortia net up` with more arguments (`--suite sm`, `--consensus raft`, ...).
    pub fn up_args(dir: &Path, validators: usize, observers: usize, more: &[&str]) -> Net {
        let n = validators + observers;
        let base = free_base_port(n as u16);
        let args = [
            "--validators".to_owned(),
            validators.to_string(),
            "--observers".to_owned(),
            observers.to_string(),
            "--base-port".to_owned(),
            base.to_string(),
        ];
        let args: Vec<String> =
            args.into_iter().chain(more.iter().map(|a| (*a).to_owned())).collect();
        let stdout = up_command(dir, &args);
        assert!(stdout.contains("network created"), "{stdout}");
        let urls = (0..n).map(|i| format!("http://127.0.0.1:{}", base + i as u16)).collect();
        Net { dir: dir.to_path_buf(), urls, children: vec![] }
    }

    /// `consortia net down`; the processes are gone when it returns.
    pub fn down(&mut self) {
        let out = Command::new(&*BIN)
            .args(["net", "down", "--data-dir"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for child in &mut self.children {
            let _ = child.wait();
        }
        self.children.clear();
    }

    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}"))
    }

    pub fn pid(&self, i: usize) -> u32 {
        std::fs::read_to_string(self.node_dir(i).join("node.pid")).unwrap().trim().parse().unwrap()
    }

    /// kill -9, and waits until the process is gone.
    pub fn kill9(&mut self, i: usize) {
        let pid = self.pid(i);
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        for child in &mut self.children {
            if child.id() == pid {
                let _ = child.wait();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(Instant::now() < deadline, "node {i} (pid {pid}) did not die");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts node `i` again (as this test's child) and waits until it serves HTTP.
    pub fn restart(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.node_dir(i).join("node.log"))
            .unwrap();
        let child = Command::new(&*BIN)
            .args(["node", "--config"])
            .arg(self.node_dir(i).join("node.toml"))
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        std::fs::write(self.node_dir(i).join("node.pid"), child.id().to_string()).unwrap();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_status(i).is_none() {
            let exited = self.children.last_mut().unwrap().try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.node_dir(i).join("node.log")).unwrap();
                // Its last words, without the frames of a backtrace (the error is above them).
                let frame = |l: &&str| {
                    let l = l.trim_start();
                    l.starts_with("at ")
                        || l.split_once(": ").is_some_and(|(n, _)| n.parse::<u32>().is_ok())
                };
                let tail: Vec<&str> = log.lines().filter(|l| !frame(l)).rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "node {i} did not come back (exited: {exited}); its log ends:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn try_status(&self, i: usize) -> Option<StatusView> {
        sdk(node_client(&self.urls[i]).status()).ok()
    }

    pub fn height(&self, i: usize) -> u64 {
        self.try_status(i).expect("node answers").height
    }

    pub fn block_hash(&self, i: usize, height: u64) -> String {
        let block = sdk(node_client(&self.urls[i]).block(height));
        block.unwrap_or_else(|e| panic!("node {i} has no block {height}: {e}")).hash
    }

    /// Submits transactions to node `i` as one batch; every one must be admitted.
    pub fn submit(&self, i: usize, txs: &[Transaction]) {
        let raws: Vec<Vec<u8>> = txs.iter().map(encode).collect();
        let reply = sdk(node_client(&self.urls[i]).submit_batch(&raws)).unwrap();
        assert_eq!(reply.accepted, txs.len(), "not all admitted: {reply:?}");
    }

    /// Every node in `nodes` holds the same block at every height up to the lowest height.
    pub fn assert_same_chain(&self, nodes: &[usize]) {
        let top = nodes.iter().map(|i| self.height(*i)).min().unwrap();
        for h in 1..=top {
            let first = self.block_hash(nodes[0], h);
            for i in &nodes[1..] {
                assert_eq!(self.block_hash(*i, h), first, "fork at height {h}: node {i} differs");
            }
        }
    }
}

/// Runs `consortia ARGS…` with `env` added, which must succeed; returns its stdout.
pub fn consortia(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(&*BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run consortia {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "consortia {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `consortia net up --data-dir DIR ARGS…`, which must succeed; returns its stdout.
pub fn up_command(dir: &Path, args: &[String]) -> String {
    let dir = dir.to_str().unwrap();
    let mut all = vec!["net", "up", "--data-dir", dir];
    all.extend(args.iter().map(String::as_str));
    consortia(&all, &[("RUST_LOG", "info")])
}

/// Every file and directory under `dir` (itself included) that users other than its owner may
/// read, write or enter.
pub fn open_to_others(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        // A file may go between listing and looking (a node rotating its write-ahead log).
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_symlink() {
            continue;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            open.push(path.clone());
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    open
}

/// Every file under `dir` (but in the subdirectories named in `skip`) that holds a PEM private
/// key (`-----BEGIN … PRIVATE KEY-----`, encrypted ones aside), also inside a host's
/// `spec.json`, which keeps a node's files as JSON arrays of bytes.
pub fn files_with_pem_private_keys(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let skipped =
                path != dir && path.file_name().is_some_and(|n| skip.iter().any(|s| n == *s));
            if !skipped && let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(mut bytes) = std::fs::read(&path) {
            if path.file_name().is_some_and(|n| n == "spec.json") {
                let spec: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let files = spec["files"].as_array().cloned().unwrap_or_default();
                for file in files {
                    let content = file[1].as_array().cloned().unwrap_or_default();
                    bytes.extend(content.iter().filter_map(|b| b.as_u64()).map(|b| b as u8));
                }
            }
            const MARK: &[u8] = b"PRIVATE KEY-----";
            let clear = bytes
                .windows(MARK.len())
                .enumerate()
                .any(|(i, w)| w == MARK && !bytes[..i].ends_with(b"ENCRYPTED "));
            if clear {
                found.push(path);
            }
        }
    }
    found
}

/// Writes `text` to a new file only its owner may read (mode 0600), as a secret is kept.
pub fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

pub fn alive(pid: u32) -> bool {
    // Not "its command line is empty": that comes before its files (its database's lock) are
    // closed, and a node restarted in between found its database "already open".
    !consortia_hosts::process::exited(pid)
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = Command::new(&*BIN).args(["net", "down", "--data-dir"]).arg(&self.dir).output();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A JSON-RPC client over HTTP.
#[derive(Debug)]
pub struct Rpc {
    pub url: String,
    pub client: reqwest::blocking::Client,
}

impl Rpc {
    pub fn raw(&self, body: &str) -> Value {
        let r = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap();
        r.json().unwrap()
    }

    /// Calls `method`; the whole response object.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.raw(
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        )
    }

    pub fn ok(&self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    pub fn send(&self, tx: &EthTx) -> String {
        let hash =
            self.ok("eth_sendRawTransaction", json!([format!("0x{}", hex::encode(tx.raw()))]));
        hash.as_str().unwrap().to_owned()
    }

    /// Waits for the receipt of `hash`.
    pub fn receipt(&self, hash: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.ok("eth_getTransactionReceipt", json!([hash]));
            if !r.is_null() {
                return r;
            }
            assert!(Instant::now() < deadline, "{hash} not mined");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
