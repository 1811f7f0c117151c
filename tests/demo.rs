//! The demo `consortia up` makes, for end-to-end tests that need a platform and a running
//! 4-validator chain made through it (shared by the test files that `mod demo;` it).

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use consortia_test_utils::process as common;

use std::path::Path;
use std::process::Command;

use common::{BIN, free_base_port};
use consortia_api::{NodeClient, PlatformClient};

/// Runs `consortia ARGS…` with the session kept in `home`; its stdout, after checking success.
pub fn run(home: &Path, args: &[&str]) -> String {
    run_with_env(home, args, &[])
}

/// [`run`] with more environment (which `up` passes on to the platform it starts).
pub fn run_with_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec![("CONSORTIA_HOME", home.to_str().unwrap()), ("RUST_LOG", "warn")];
    all.extend_from_slice(env);
    common::consortia(args, &all)
}

/// The value of the printed line `field: value`.
pub fn line<'a>(out: &'a str, field: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{field}: ")))
}

/// Stops whatever `up` started, even when the test fails.
pub struct Down<'a>(pub &'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = Command::new(&*BIN).args(["down", "--data-dir"]).arg(self.0).output();
    }
}

/// `up` in fresh directories, logged in as its administrator; stopped when dropped.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
    pub console: String,
    pub admin: PlatformClient,
    /// The write credential for the nodes that `up` printed in the JSON-RPC URL.
    pub token: String,
    /// The `up` command's arguments (`up` again resumes the same platform and chain).
    pub args: Vec<String>,
}

impl Demo {
    pub async fn up() -> Demo {
        Demo::up_with_env(&[]).await
    }

    /// `up` with more environment for the platform (`CONSORTIA_SMTP_URL`, …).
    pub async fn up_with_env(env: &[(&str, &str)]) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let (out, args, _) = up_env(home.path(), &dir.path().join("consortia"), &[], env);
        let (console, admin) = admin(&out).await;
        let (_, token) = printed_rpc(&out);
        Demo { dir, home, console, admin, token, args }
    }

    /// The data directory `up` made.
    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("consortia")
    }

    /// `up` again: a platform that is not running starts again on the same data.
    pub fn up_again(&self) -> String {
        run(self.home.path(), &self.args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// The JSON-RPC URL `up` printed, and the credential in it (the URL's password).
pub fn printed_rpc(out: &str) -> (String, String) {
    let url = line(out, "JSON-RPC").expect(out).split_whitespace().next().unwrap().to_owned();
    let token = reqwest::Url::parse(&url).unwrap().password().expect(&url).to_owned();
    (url, token)
}

/// A client of the node at `url` with the demo's credential.
pub fn node(url: &str, token: &str) -> NodeClient {
    NodeClient::new(url).with_token(token)
}

impl Drop for Demo {
    fn drop(&mut self) {
        drop(Down(&self.dir.path().join("consortia")));
    }
}

/// `consortia up` in `data` on free ports: its output, the `up` arguments, and the base port.
pub fn up(home: &Path, data: &Path) -> (String, Vec<String>, u16) {
    up_with(home, data, &[])
}

/// `up` with `extra` arguments.
pub fn up_with(home: &Path, data: &Path, extra: &[&str]) -> (String, Vec<String>, u16) {
    up_env(home, data, extra, &[])
}

/// `up` with `extra` arguments and `env`.
pub fn up_env(
    home: &Path,
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (String, Vec<String>, u16) {
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
        // Tests run side by side: no fixed MySQL port.
        "--mysql-listen",
        "127.0.0.1:0",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain(extra.iter().map(|a| (*a).to_owned()))
    .collect();
    let out = run_with_env(home, &args.iter().map(String::as_str).collect::<Vec<_>>(), env);
    (out, args, base)
}

/// Logs in with what `up` printed: the console URL and the administrator.
pub async fn admin(out: &str) -> (String, PlatformClient) {
    let console = line(out, "console").expect(out).trim_end_matches('/').to_owned();
    let password = line(out, "password").expect(out);
    let client = PlatformClient::new(&console);
    client.login("admin", password).await.unwrap();
    (console, client)
}
