//! Drives the real `consortia` binary: a node is a child process on a loopback port.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose
#![allow(dead_code, unreachable_pub)] // each test file uses its own part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consortia_crypto::{Hash, PrivateKey};
use consortia_types::{NotarizeRecord, Payload, Transaction, TxBody, encode};

pub const BIN: &str = env!("CARGO_BIN_EXE_consortia");

/// A `consortia dev` process; killed when dropped.
pub struct DevNode {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl DevNode {
    /// Starts a node on a free port and waits until it serves.
    pub fn start(data_dir: &Path, extra: &[&str]) -> DevNode {
        let mut child = Command::new(BIN)
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
        let (_, status) = get_json(&http(), &format!("{}/v1/status", self.url));
        status["chain_id"].as_u64().expect("status has a chain id")
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

pub fn notarize_tx(
    key: &PrivateKey,
    chain_id: u64,
    nonce: u64,
    id: &str,
    content: &[u8],
) -> Transaction {
    Transaction::sign(
        TxBody {
            chain_id,
            nonce,
            public_key: key.public_key(),
            payload: Payload::Notarize(NotarizeRecord {
                id: id.into(),
                fields: BTreeMap::from([("n".into(), nonce.to_string())]),
                content_hash: consortia_crypto::HashAlgorithm::Sha256.digest(content),
                metadata: "e2e".into(),
            }),
        },
        key,
    )
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

pub fn get_json(client: &reqwest::blocking::Client, url: &str) -> (u16, serde_json::Value) {
    let r = client.get(url).send().expect("GET");
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

/// Waits until `hash` is committed; returns the lookup.
pub fn wait_committed(
    client: &reqwest::blocking::Client,
    url: &str,
    hash: &Hash,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get_json(client, &format!("{url}/v1/transactions/{hash}"));
        if status == 200 && body["status"] == "committed" {
            return body;
        }
        assert!(Instant::now() < deadline, "{hash} not committed in time: {status} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
