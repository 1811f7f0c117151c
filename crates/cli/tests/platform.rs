//! `consortia platform` as a process: the one-time administrator credentials, login over
//! HTTP, and a restart that keeps the data and prints no new credentials.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{BIN, http};
use serde_json::{Value, json};

struct Platform {
    child: Child,
    url: String,
    /// The lines printed up to the address (credentials come before it on a first start).
    banner: Vec<String>,
}

impl Platform {
    fn start(dir: &std::path::Path) -> Platform {
        let mut child = Command::new(BIN)
            .args(["platform", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
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
