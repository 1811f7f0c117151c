//! The web console in a real browser (Debian's chromium, driven through chromedriver with
//! fantoccini), against `consortia up`: a newcomer logs in with the printed credentials and,
//! from the console alone, creates users, an organization and a consortium, invites a second
//! user who accepts and asks to join, approves the join, runs the chain wizard to a running
//! 4-validator chain, uploads, deploys and calls a contract, finds the transaction in the
//! explorer by its hash (decoded), and sees the volume chart drawn; the Chinese switch works,
//! and the layout holds at tablet width.
//!
//! Needs `chromedriver` (scripts/chromium installs it; `scripts/test` sets
//! `CONSORTIA_TEST_CHROMEDRIVER`). Without it the test is skipped, except under CI where it
//! fails. With `CONSORTIA_SCREENSHOTS=DIR` it saves the main pages as PNG files there (how
//! `docs/screenshots/` is made).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consortia_test_utils::process::{BIN, consortia, free_base_port};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use consortia_test_utils::contracts::{ERC20_ABI as TOKEN_ABI, ERC20_BYTECODE as TOKEN_BYTECODE};

/// Commits `n` transfers from Alice Bank's account through the platform's faucet, one block
/// each, so that the chain `name` holds more blocks than a page.
async fn grow_chain(console: &str, name: &str, n: usize) {
    let alice = consortia_api::PlatformClient::new(console);
    alice.login("alice", "alice-password").await.unwrap();
    let chains = alice.chains().await.unwrap();
    let chain = chains.iter().find(|c| c.name == name).unwrap();
    let orgs = alice.orgs().await.unwrap();
    let bank = orgs.iter().find(|o| o.name == "Alice Bank").unwrap();
    for i in 0..n {
        let request = consortia_api::platform::FaucetRequest {
            org_id: bank.id.clone(),
            address: format!("0x{:040x}", 0xa11ce0 + i),
            amount: Some("1".into()),
        };
        alice.faucet(&chain.id, &request).await.unwrap();
    }
}

/// A consortium "Club" under the majority policy, led by Alice Bank, that Bob Shipping has
/// joined (through the API); Alice's client.
async fn majority_club(console: &str) -> consortia_api::PlatformClient {
    use consortia_api::platform::*;
    let login = |user: &'static str| async move {
        let client = consortia_api::PlatformClient::new(console);
        client.login(user, &format!("{user}-password")).await.unwrap();
        client
    };
    let (alice, bob) = (login("alice").await, login("bob").await);
    let org = async |client: &consortia_api::PlatformClient, name: &str| {
        client.orgs().await.unwrap().into_iter().find(|o| o.name == name).unwrap()
    };
    let (bank, shipping) = (org(&alice, "Alice Bank").await, org(&bob, "Bob Shipping").await);
    let request = CreateConsortiumRequest {
        name: "Club".into(),
        org_id: bank.id.clone(),
        approval_policy: Some(ApprovalPolicy::Majority),
    };
    let club = alice.create_consortium(&request).await.unwrap();
    let invite = InviteRequest { username: "bob".into(), org_id: None };
    let invitation = alice.invite(&club.id, &invite).await.unwrap();
    bob.accept_invitation(&invitation.id).await.unwrap();
    let join = JoinRequest { org_id: shipping.id, invitation_id: invitation.id };
    let request = bob.request_join(&club.id, &join).await.unwrap();
    let vote = VoteRequest { decision: Decision::Approve, org_id: None };
    alice.vote(&club.id, &request.id, &vote).await.unwrap();
    alice
}

/// The id of the consortium "Club" as `client` sees it.
async fn club_id(client: &consortia_api::PlatformClient) -> String {
    let all = client.consortiums().await.unwrap();
    all.into_iter().find(|c| c.name == "Club").unwrap().id
}

/// chromedriver as a child process, with the browsers it started ended on drop, on every
/// outcome (a panic included): killing chromedriver alone leaves its Chromium running, so it
/// is asked to shut down first (`/shutdown` quits every session's browser), then killed.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let timeout = Duration::from_secs(5);
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        if let Ok(mut socket) = std::net::TcpStream::connect_timeout(&address, timeout) {
            let _ = socket.set_read_timeout(Some(timeout));
            let request = "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            if socket.write_all(request.as_bytes()).is_ok() {
                let _ = socket.read_to_end(&mut vec![]);
            }
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops what `up` started, even when the test fails.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(&*BIN).args(["down", "--data-dir"]).arg(&self.0).output();
    }
}

fn chromedriver() -> Option<String> {
    if let Ok(path) = std::env::var("CONSORTIA_TEST_CHROMEDRIVER") {
        return Some(path);
    }
    let found = Command::new("sh").args(["-c", "command -v chromedriver"]).output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    if !path.is_empty() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "chromedriver is missing under CI: scripts/test installs it with scripts/chromium"
    );
    eprintln!("skipping the browser test: no chromedriver (run scripts/chromium)");
    None
}

async fn browser(profile: &Path) -> (Driver, Client) {
    let port = free_base_port(1);
    let child = Command::new(chromedriver().unwrap())
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=en-US",
            format!("--user-data-dir={}", profile.display()),
        ]}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot start a browser session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The page, driven by CSS selectors; every wait says what the page showed when it gave up.
/// Every page of the side navigation, by its `nav-` test name.
const PAGES: [&str; 17] = [
    "overview",
    "orgs",
    "consortiums",
    "chains",
    "hosts",
    "audit",
    "settings",
    "nodes",
    "contracts",
    "governance",
    "sql",
    "gateway",
    "services",
    "explorer",
    "monitor",
    "alerts",
    "apps",
];

struct Page {
    client: Client,
    url: String,
    shots: Option<PathBuf>,
}

impl Page {
    async fn errors(&self) -> String {
        let mut out = vec![];
        for sel in ["[data-test=error]", "[data-test=toast-error]"] {
            for e in self.client.find_all(Locator::Css(sel)).await.unwrap_or_default() {
                out.push(e.text().await.unwrap_or_default());
            }
        }
        out.join(" | ")
    }

    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if Instant::now() > deadline {
                let url =
                    self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                panic!("no `{css}` on {url} after 60 s; errors shown: {}", self.errors().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until one of the elements `css` matches has a text containing `text`; returns
    /// that text. Every match counts: toasts stack, and the one awaited need not be the first
    /// (waiting on the first alone missed a toast that came and went behind an older one).
    async fn wait_text(&self, css: &str, text: &str) -> String {
        self.wait_for(css, &format!("`{text}`"), |t| t.contains(text)).await
    }

    /// Waits until one of the elements `css` matches has a text for which `shows` holds
    /// (`what` says what that is, for the failure); returns that text.
    async fn wait_for(&self, css: &str, what: &str, shows: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut texts = Vec::new();
            for element in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
                texts.push(element.text().await.unwrap_or_default());
            }
            if let Some(found) = texts.iter().find(|t| shows(t)) {
                return found.clone();
            }
            let seen = texts.join(" | ");
            if Instant::now() > deadline {
                panic!(
                    "`{css}` never showed {what} (it shows `{seen}`); errors: {}",
                    self.errors().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks the element, waiting (as a person would) while a toast covers it.
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.wait(css).await.click().await {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline && e.to_string().contains("intercepted") => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("clicking `{css}`: {e}"),
            }
        }
    }

    /// Clicks a destructive action's button, checks that its confirmation says `says`, and
    /// accepts it.
    async fn click_and_confirm(&self, css: &str, says: &str) {
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let question = loop {
            match self.client.get_alert_text().await {
                Ok(text) => break text,
                Err(e) => assert!(Instant::now() < deadline, "`{css}` asked nothing: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(question.contains(says), "`{css}` asked `{question}`");
        self.client.accept_alert().await.unwrap();
    }

    /// Opens a page of the side navigation and, once it has drawn, tells what its language
    /// lacks (keys, space-separated), whether a `{placeholder}` is left unfilled, and whether
    /// the page scrolls sideways.
    async fn scan(&self, nav: &str) -> (String, bool, bool) {
        self.click(&format!("[data-test=nav-{nav}]")).await;
        self.wait("main h1").await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let check = "return [document.documentElement.dataset.untranslated || '', /\\{[a-z_]+\\}/.test(document.body.innerText), document.documentElement.scrollWidth > window.innerWidth];";
        serde_json::from_value(self.client.execute(check, vec![]).await.unwrap()).unwrap()
    }

    /// Asserts that nothing matches `css` now (what the user may not do is not offered).
    async fn absent(&self, css: &str) {
        let found = "return [...document.querySelectorAll(arguments[0])].map((e) => e.dataset.test || e.tagName);";
        let found = self.client.execute(found, vec![json!(css)]).await.unwrap();
        assert_eq!(found, json!([]), "`{css}` is offered");
    }

    /// Waits until nothing matches `css` (what was deleted is no longer listed).
    async fn wait_gone(&self, css: &str) {
        let gone = "return document.querySelector(arguments[0]) === null;";
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.client.execute(gone, vec![json!(css)]).await.unwrap() != json!(true) {
            assert!(Instant::now() < deadline, "`{css}` is still shown");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Sets a long value at once (typing kilobytes of bytecode key by key is slow) and lets
    /// the page know, as typing would.
    async fn paste(&self, css: &str, text: &str) {
        self.wait(css).await;
        self.client
            .execute(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(text)],
            )
            .await
            .unwrap();
    }

    async fn select(&self, css: &str, label: &str) {
        self.wait(css).await.select_by_label(label).await.unwrap();
    }

    async fn go(&self, hash: &str) {
        self.client.goto(&format!("{}/{hash}", self.url)).await.unwrap();
    }

    async fn login(&self, username: &str, password: &str) {
        self.go("#/login").await;
        self.fill("[data-test=username]", username).await;
        self.fill("[data-test=password]", password).await;
        self.click("[data-test=login-submit]").await;
        self.wait_text("[data-test=who]", username).await;
    }

    async fn logout(&self) {
        self.click("[data-test=logout]").await;
        self.wait("[data-test=login-form]").await;
    }

    /// Bob Shipping approves proposal `id` from his console, which then executes; Alice is
    /// logged in again after.
    async fn bob_approves(&self, id: u64) {
        self.logout().await;
        self.login("bob", "bob-password").await;
        self.click("[data-test=nav-governance]").await;
        self.click(&format!("[data-test=approve-{id}]")).await;
        self.wait_text(&format!("[data-test=status-{id}]"), "executed").await;
        self.logout().await;
        self.login("alice", "alice-password").await;
    }

    async fn shot(&self, name: &str) {
        if let Some(dir) = &self.shots {
            // Let charts and live tables settle.
            tokio::time::sleep(Duration::from_millis(600)).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_runs_the_whole_flow_from_the_console() {
    if chromedriver().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("consortia");
    let _down = Down(data.clone());
    let base = free_base_port(4);
    let listen = loop {
        let p = free_base_port(1);
        if !(base..base + 4).contains(&p) && !(base + 100..base + 104).contains(&p) {
            break p;
        }
    };
    let home = dir.path().join("home");
    let listen_arg = format!("127.0.0.1:{listen}");
    let out = consortia(
        &[
            "up",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &listen_arg,
            "--base-port",
            &base.to_string(),
            // Tests run side by side: no fixed MySQL port.
            "--mysql-listen",
            "127.0.0.1:0",
        ],
        &[("CONSORTIA_HOME", home.to_str().unwrap()), ("RUST_LOG", "warn")],
    );
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .expect(&out)
            .trim()
            .to_owned()
    };
    let (url, password) = (field("console").trim_end_matches('/').to_owned(), field("password"));
    let (_driver, client) = browser(&dir.path().join("chrome")).await;
    // A relative directory is the workspace's (tests run in their package's directory).
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shots = std::env::var_os("CONSORTIA_SCREENSHOTS").map(|d| workspace.join(d));
    if let Some(d) = &shots {
        std::fs::create_dir_all(d).unwrap();
    }
    let page = Page { client, url, shots };

    // The administrator logs in with what `up` printed and makes two users.
    page.go("").await;
    page.wait("[data-test=login-form]").await;
    page.shot("login").await;
    page.login("admin", &password).await;
    page.wait_text("[data-test=stat-chains]", "1 / 1").await;
    page.shot("overview").await;
    page.click("[data-test=nav-orgs]").await;
    for user in ["alice", "bob", "carol", "temp"] {
        page.fill("[data-test=new-username]", user).await;
        page.fill("[data-test=new-password]", &format!("{user}-password")).await;
        page.click("[data-test=create-user-submit]").await;
        page.wait_text("main", user).await;
    }
    // A user made by mistake is deleted, after a question that says what follows.
    page.click_and_confirm("[data-test=delete-user-temp]", "can no longer log in").await;
    page.wait_text("[data-test=toast]", "User temp is deleted.").await;
    page.wait_gone("[data-test=delete-user-temp]").await;
    // So is an organization made by mistake, with its own question.
    page.fill("[data-test=org-name]", "Scratch").await;
    page.click("[data-test=create-org-submit]").await;
    page.wait_text("main", "Members of Scratch").await;
    page.click_and_confirm("[data-test=delete-org-Scratch]", "every key kept for it is destroyed")
        .await;
    page.wait_text("[data-test=toast]", "Organization Scratch is deleted.").await;
    page.wait_gone("[data-test=org-Scratch]").await;
    page.logout().await;

    // Alice: an organization and a consortium it leads; she invites Bob.
    page.login("alice", "alice-password").await;
    page.click("[data-test=nav-orgs]").await;
    page.fill("[data-test=org-name]", "Alice Bank").await;
    page.click("[data-test=create-org-submit]").await;
    page.wait_text("main", "Members of Alice Bank").await;
    // Carol joins it as a viewer: she reads everything and changes nothing.
    page.fill("[data-test=member-username]", "carol").await;
    page.select("[data-test=member-role]", "viewer").await;
    page.click("[data-test=add-member-submit]").await;
    page.wait_text("main", "carol").await;
    // She acts for her organization, shown in the top bar (never someone else's by default).
    page.wait_text("[data-test=acting-org]", "Alice Bank").await;
    page.shot("organizations").await;
    page.click("[data-test=nav-consortiums]").await;
    page.fill("[data-test=consortium-name]", "Trade").await;
    page.click("[data-test=create-consortium-submit]").await;
    page.fill("[data-test='invite-user-Trade']", "bob").await;
    page.click("[data-test='invite-submit-Trade']").await;
    page.wait_text("[data-test=toast]", "Invited bob").await;
    // The inviter sees the invitation it sent, waiting for bob's answer.
    page.wait_text("[data-test='sent-Trade']", "bob").await;
    page.logout().await;

    // Bob: an organization; accepts the invitation and asks to join with it.
    page.login("bob", "bob-password").await;
    page.click("[data-test=nav-orgs]").await;
    page.fill("[data-test=org-name]", "Bob Shipping").await;
    page.click("[data-test=create-org-submit]").await;
    page.wait_text("main", "Members of Bob Shipping").await;
    page.click("[data-test=nav-consortiums]").await;
    page.click("[data-test='accept-Trade']").await;
    page.click("[data-test='join-submit-Trade']").await;
    page.wait_text("[data-test=toast]", "Join request sent").await;
    // Bob sees his request waiting, not the join form again.
    page.wait_text("main", "join request waiting for the members' decision").await;
    page.logout().await;

    // Alice approves; Bob Shipping is a member.
    page.login("alice", "alice-password").await;
    page.click("[data-test=nav-consortiums]").await;
    page.click("[data-test='approve-Bob Shipping']").await;
    page.wait_text("main", "approved").await;
    page.shot("consortiums").await;

    // The chain wizard: create, a host, four validators, invite Bob Shipping, start.
    page.click("[data-test=nav-chains]").await;
    page.click("[data-test=new-chain]").await;
    page.select("[data-test=chain-consortium]", "Trade").await;
    page.fill("[data-test=chain-name]", "ledger").await;
    // Contracts deploy freely at first; the members require approvals later, by vote.
    page.select("[data-test=chain-deploy-policy]", "open to everyone").await;
    page.click("[data-test=create-chain-submit]").await;
    page.wait_text("[data-test=steps]", "Add nodes").await;
    page.click("[data-test=create-host-submit]").await;
    for n in 0..4 {
        page.wait("[data-test=node-host] option").await;
        page.fill("[data-test=node-name]", &format!("v{n}")).await;
        page.click("[data-test=add-node-submit]").await;
        page.wait_text("main", &format!("v{n}")).await;
    }
    page.select("[data-test=invite-org]", "Bob Shipping").await;
    page.click("[data-test=invite-chain-org-submit]").await;
    page.wait_text("main", "Taking part: Alice Bank, Bob Shipping").await;
    page.shot("chain-wizard").await;
    page.click("[data-test=start-chain]").await;
    page.wait_text("main", "The chain runs.").await;

    // Connect: a credential for the nodes, shown once with snippets; the wallet URL answers.
    page.select("[data-test=credential-role]", "read and send transactions").await;
    page.click("[data-test=issue-credential-submit]").await;
    let url = page.wait_text("[data-test=snippet-url]", "@127.0.0.1:").await;
    page.wait_text("[data-test=snippet-web3py]", &url).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []});
    let answer: serde_json::Value =
        reqwest::Client::new().post(&url).json(&call).send().await.unwrap().json().await.unwrap();
    assert!(answer["result"].is_string(), "{answer}");
    // The standing panel: each node's JSON-RPC URL answers the chain id it shows.
    let shown_id = page.wait_text("[data-test=connection-chain-id]", "(0x").await;
    let rpc = page.wait_text("[data-test=rpc-v0]", "http://").await;
    let token = reqwest::Url::parse(&url).unwrap().password().unwrap().to_owned();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let http = reqwest::Client::new();
    let answer: serde_json::Value =
        http.post(&rpc).bearer_auth(&token).json(&call).send().await.unwrap().json().await.unwrap();
    let id = answer["result"].as_str().unwrap();
    assert!(shown_id.ends_with(&format!("({id})")), "{shown_id} vs {answer}");
    page.wait_text("[data-test=ws-v0]", "/ws").await;
    page.wait_text("[data-test=snippet-rust]", "NodeClient::new").await;
    // The MySQL gateway, where the platform serves it: the port shown greets as MySQL does.
    let mysql = page.wait_text("[data-test=mysql-cli]", "mysql -h 127.0.0.1 -P ").await;
    let port: u16 =
        mysql.split_whitespace().skip_while(|w| *w != "-P").nth(1).unwrap().parse().unwrap();
    let mut greeting = [0u8; 5];
    let mut gateway = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::io::AsyncReadExt::read_exact(&mut gateway, &mut greeting).await.unwrap();
    assert_eq!(greeting[4], 10, "MySQL's protocol version 10 opens the handshake");
    drop(gateway);
    page.wait_text("[data-test=chain-select]", "ledger (running)").await;
    page.shot("connect").await;

    // Nodes: all healthy. The top bar's chain picker shows the chain running now.
    page.click("[data-test=nav-nodes]").await;
    page.wait_text("[data-test=chain-select]", "ledger (running)").await;
    for _ in 0..4 {
        page.wait_text("main", "healthy").await;
    }
    // Each node's build: the version and the start of the program's digest.
    page.wait_text("[data-test=build-v0]", concat!(env!("CARGO_PKG_VERSION"), "-")).await;
    page.shot("nodes").await;
    // Logs: the nodes' JSON lines, searched across the chain's nodes, then followed live: a
    // search nothing matches yet, then a restart writes the lines it finds.
    page.wait_text("[data-test=logs]", "peer connected").await;
    page.fill("[data-test=log-text]", "shutting down").await;
    page.click("[data-test=log-apply]").await;
    page.wait_text("[data-test=logs]", "No log lines match").await;
    page.click("[data-test=log-follow]").await;
    page.wait_text("[data-test=log-follow]", "Stop following").await;
    page.click("[data-test=restart-v2]").await;
    page.wait_text("[data-test=logs]", "shutting down").await;
    page.wait_text("[data-test=logs]", "v2").await;
    let show = "document.querySelector('[data-test=log-filters]').scrollIntoView()";
    page.client.execute(show, vec![]).await.unwrap();
    page.shot("logs").await;
    page.click("[data-test=log-follow]").await;
    // Hosts: the one the wizard made, the chain's four nodes on it, and a check that it can
    // run nodes now.
    page.click("[data-test=nav-hosts]").await;
    page.wait_text("[data-test=host-nodes-local]", "ledger/v3").await;
    page.click("[data-test=check-host-local]").await;
    page.wait_text("[data-test=check-local]", "local processes of").await;
    page.shot("hosts").await;

    // A contract: upload with its hash, deploy, call through the ABI's form.
    page.click("[data-test=nav-contracts]").await;
    let code = hex::decode(TOKEN_BYTECODE.trim().trim_start_matches("0x")).unwrap();
    let hash = format!("0x{}", hex::encode(alloy_primitives::keccak256(&code)));
    page.fill("[data-test=contract-name]", "token").await;
    page.paste("[data-test=contract-abi]", TOKEN_ABI).await;
    page.paste("[data-test=contract-bytecode]", TOKEN_BYTECODE.trim()).await;
    page.fill("[data-test=contract-hash]", &hash).await;
    page.click("[data-test=upload-contract-submit]").await;
    page.fill("[data-test=ctor-supply]", "1000").await;
    page.click("[data-test=deploy-submit]").await;
    page.wait_text("[data-test=contract-address]", "0x").await;
    let bob = "0x00000000000000000000000000000000000000bb";
    page.fill("[data-test=arg-transfer-to]", bob).await;
    page.fill("[data-test=arg-transfer-amount]", "250").await;
    page.click("[data-test=call-submit-transfer]").await;
    let link = page.wait("[data-test=result-transfer] [data-test=tx-link]").await;
    let tx_hash = link.text().await.unwrap();
    page.fill("[data-test=arg-balanceOf-arg0]", bob).await;
    page.click("[data-test=call-submit-balanceOf]").await;
    page.wait_text("[data-test=result-balanceOf]", "\"250\"").await;
    page.shot("contracts").await;
    // The contract's events, decoded: the mint and the transfer.
    page.wait_text("[data-test=contract-events]", "value = 250").await;
    // And its holders, as its Transfer events add up: Alice Bank's account by name.
    let holders = page
        .wait_for("[data-test=contract-holders]", "both holders", |t| {
            t.contains("Alice Bank") && t.contains("750") && t.contains("250")
        })
        .await;
    assert!(holders.to_lowercase().contains("holders: 2"), "{holders}");

    // An app from the token's display spec, for people who are not developers: its
    // transfers as a table, a form that pays, a lookup of a balance, in the spec's words.
    let spec = json!({"title": "Payments", "views": [
        {"kind": "table", "title": "Payments made", "event": "Transfer", "columns": [
            {"name": "receiver", "label": "Paid to"}, {"name": "value", "label": "Amount paid"},
            {"name": "height", "label": "Block"}]},
        {"kind": "form", "title": "Pay", "function": "transfer", "submit": "Pay now", "fields": [
            {"name": "to", "label": "Recipient"}, {"name": "amount", "label": "Amount"}]},
        {"kind": "lookup", "title": "Balance", "function": "balanceOf",
            "fields": [{"name": "arg0", "label": "Holder"}], "outputs": [{"name": "0", "label": "Tokens held"}]},
    ]});
    page.paste("[data-test=display-spec]", &spec.to_string()).await;
    page.click("[data-test=display-save]").await;
    page.click("[data-test=open-app]").await;
    page.wait_text("[data-test=app-table-0]", "Amount paid").await;
    page.wait_text("[data-test=app-table-0]", "250").await;
    page.fill("[data-test=app-form-1-to]", bob).await;
    page.fill("[data-test=app-form-1-amount]", "5").await;
    page.click("[data-test=app-form-1-submit]").await;
    page.wait_text("[data-test=app-form-1-result]", "success").await;
    let rows = "return document.querySelectorAll('[data-test=app-table-0] tbody tr').length;";
    let deadline = Instant::now() + Duration::from_secs(30);
    while page.client.execute(rows, vec![]).await.unwrap() != json!(3) {
        assert!(Instant::now() < deadline, "the new payment is not in the table");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    page.fill("[data-test=app-lookup-2-arg0]", bob).await;
    page.click("[data-test=app-lookup-2-submit]").await;
    page.wait_text("[data-test=app-output-0]", "255").await;
    page.shot("apps").await;
    // A spec that names what the ABI lacks is refused, every problem named.
    page.click("[data-test=nav-contracts]").await;
    page.click("[data-test=contract-token]").await;
    let bad = json!({"title": "Bad", "views": [{"kind": "table", "title": "T", "event": "Shipped", "columns": [{"name": "id", "label": "Id"}]}]});
    page.paste("[data-test=display-spec]", &bad.to_string()).await;
    page.click("[data-test=display-save]").await;
    page.wait_text("[data-test=display-form]", "the ABI has no event `Shipped`").await;

    // The overview's totals and activity: the token's deployment and its calls, named.
    page.click("[data-test=nav-overview]").await;
    page.wait_text("[data-test=activity]", "Alice Bank called token").await;
    page.wait_text("[data-test=activity]", "Alice Bank deployed a contract").await;
    page.wait_text("[data-test=stat-contracts]", "1").await;
    let txs = page
        .wait_for("[data-test=stat-transactions]", "3 or more", |t| {
            t.parse::<u64>().is_ok_and(|n| n >= 3)
        })
        .await;
    assert!(!txs.is_empty());
    // Alice Bank's account and the token it called, at least (a transfer's payee is in its
    // calldata, not a party of the transaction).
    page.wait_for("[data-test=stat-accounts]", "2 or more", |t| {
        t.parse::<u64>().is_ok_and(|n| n >= 2)
    })
    .await;
    // Each chain's trend of the last hour, and its block interval said as under load or idle
    // (an idle BFT chain makes no blocks: not a fault).
    page.wait("[data-test=tps-trend-ledger]").await;
    page.wait_for("[data-test=interval-ledger]", "under load or idle", |t| {
        t.ends_with("ms under load") || t == "idle"
    })
    .await;
    // Where consensus stands: four validators, a commit needs three, each node sees the rest.
    page.wait_text("[data-test=quorum-ledger]", "held needs 3 of 4").await;
    page.wait_text("[data-test=peers-ledger]", "3–3 of 3").await;
    page.shot("overview-activity").await;

    // The explorer: the transaction found by its hash, decoded; the volume chart drawn.
    page.click("[data-test=nav-explorer]").await;
    page.fill("[data-test=search]", &tx_hash).await;
    page.click("[data-test=search-submit]").await;
    page.wait_text("[data-test=tx-hash]", &tx_hash).await;
    page.wait_text("[data-test=decoded-function]", "transfer(address,uint256)").await;
    page.wait_text("[data-test=decoded-contract]", "token").await;
    // In plain words, with its time, gas and fee, and the sender named as its organization.
    page.wait_text("[data-test=tx-kind]", "Ethereum EIP-1559 transaction").await;
    page.wait_text("[data-test=tx-gas]", "used of").await;
    page.wait_text("[data-test=tx-fee]", "wei per gas").await;
    page.wait_text("[data-test=tx-time]", "ago").await;
    page.wait_text("[data-test=named-address]", "Alice Bank (organization account)").await;
    page.shot("explorer-transaction").await;
    // Searched by a contract's name, and by a hash without its `0x`.
    page.fill("[data-test=search]", "token").await;
    page.click("[data-test=search-submit]").await;
    page.wait_text("[data-test=address-name]", "token (contract)").await;
    page.fill("[data-test=search]", tx_hash.trim_start_matches("0x")).await;
    page.click("[data-test=search-submit]").await;
    page.wait_text("[data-test=tx-hash]", &tx_hash).await;
    page.click("[data-test=nav-explorer]").await;
    page.wait("[data-test=tx-row]").await;
    // A block names its proposer as a node of an organization, and the set that signed it.
    page.click("[data-test=block-row]").await;
    page.wait_text("[data-test=block-proposer]", "of Alice Bank").await;
    page.wait_text("[data-test=validator]", "v0 of Alice Bank").await;
    let validators = "return document.querySelectorAll('[data-test=validator]').length;";
    assert_eq!(page.client.execute(validators, vec![]).await.unwrap(), json!(4));
    page.shot("explorer-block").await;
    // Times in a time zone chosen in the account settings, named beside them.
    page.click("[data-test=nav-settings]").await;
    page.select("[data-test=time-zone]", "Asia/Shanghai").await;
    page.client.back().await.unwrap();
    page.wait_text("[data-test=block]", "Asia/Shanghai").await;
    page.click("[data-test=nav-settings]").await;
    let browsers = "const s = document.querySelector('[data-test=time-zone]'); s.value = ''; s.dispatchEvent(new Event('change'));";
    page.wait("[data-test=time-zone]").await;
    page.client.execute(browsers, vec![]).await.unwrap();
    page.click("[data-test=nav-explorer]").await;
    page.wait("[data-test=tx-row]").await;
    let chart = page.wait("[data-test=volume-chart][data-total]").await;
    let total: u64 = chart.attr("data-total").await.unwrap().unwrap().parse().unwrap();
    assert!(total >= 2, "the volume chart counts the deploy and the transfer: {total}");
    let points: u64 = chart.attr("data-points").await.unwrap().unwrap().parse().unwrap();
    assert_eq!(points, 60, "a bar per minute of the last hour");
    page.select("[data-test=bucket]", "per hour (last 60 hours)").await;
    page.wait_text("[data-test=volume-total]", "hours").await;
    page.shot("explorer").await;
    // "View all" pages back to the genesis block, every block once, 10 at a time: the chain
    // grows past a page first.
    grow_chain(&page.url, "ledger", 8).await;
    page.click("[data-test=all-blocks]").await;
    page.wait("[data-test=block-row]").await;
    page.select("[data-test=page-size]", "10").await;
    let heights = "return [...document.querySelectorAll('[data-test=block-row]')].map((e) => Number(e.textContent));";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pages = 1;
    let listed: Vec<u64> = loop {
        let listed: Vec<u64> =
            serde_json::from_value(page.client.execute(heights, vec![]).await.unwrap()).unwrap();
        if listed.last() == Some(&0) {
            break listed;
        }
        assert!(Instant::now() < deadline, "paging never reached block 0: {listed:?}");
        if let Ok(older) = page.client.find(Locator::Css("[data-test=older]")).await
            && older.click().await.is_ok()
        {
            pages += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed, (0..=listed[0]).rev().collect::<Vec<_>>(), "newest first, no gap");
    assert!(pages >= 2 && listed.len() > 10, "{pages} page(s) of {listed:?}");
    page.click("[data-test=nav-monitor]").await;
    page.wait("[data-test=interval-chart][data-points]").await;
    // The block interval under load, with the last block's age beside it (an idle BFT chain
    // makes no blocks, which is not a fault).
    page.wait_text("[data-test=busy-interval]", "last block").await;
    // Every node's resources, from its metrics through the platform.
    page.wait_text("[data-test=node-metrics]", "MiB").await;
    let rows = page
        .client
        .execute(
            "return document.querySelectorAll('[data-test=node-metrics] tbody tr').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rows, json!(4), "a row per node");
    page.shot("monitoring").await;
    page.client
        .execute("document.querySelector('[data-test=node-metrics]').scrollIntoView();", vec![])
        .await
        .unwrap();
    page.shot("monitoring-nodes").await;

    // Alerts: `node_down` set to fire at once, a webhook receiver added; a node stopped from
    // the nodes page fires the alert, which reaches the receiver and is acknowledged; the node
    // started again, the alert is resolved into the history.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/alerts", listener.local_addr().unwrap());
    let got = receiver::receive(listener);
    page.click("[data-test=nav-alerts]").await;
    page.wait_text("[data-test=alerts-active]", "No active alert").await;
    page.fill("[data-test=rule-for-node_down]", "0").await;
    page.click("[data-test=rule-save-node_down]").await;
    page.fill("[data-test=receiver-target-input]", &hook).await;
    page.click("[data-test=receiver-create]").await;
    page.wait("[data-test=receiver-secret]").await;
    page.click("[data-test=nav-nodes]").await;
    page.click_and_confirm("[data-test=stop-v3]", "Stop node v3?").await;
    page.wait("[data-test=start-v3]").await;
    page.click("[data-test=nav-alerts]").await;
    page.wait_text("[data-test=alert-node_down]", "node v3 of chain ledger does not answer").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the alert did not reach the webhook receiver");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent: serde_json::Value = serde_json::from_slice(&got.lock().unwrap()[0].1).unwrap();
    assert_eq!(sent["alerts"][0]["labels"]["node"], "v3", "{sent}");
    page.shot("alerts").await;
    page.click("[data-test=ack-node_down]").await;
    page.wait_text("[data-test=alerts-active]", "Acknowledged").await;
    // With one of four validators down, the next failure stops commits: the overview says so.
    page.click("[data-test=nav-overview]").await;
    page.wait_text("[data-test=quorum-ledger]", "at risk").await;
    page.click("[data-test=nav-nodes]").await;
    page.click("[data-test=start-v3]").await;
    page.wait("[data-test=stop-v3]").await;
    page.click("[data-test=nav-alerts]").await;
    page.wait_text("[data-test=alerts-active]", "No active alert").await;
    page.client.refresh().await.unwrap();
    page.wait_text("[data-test=alerts-history]", "resolved").await;

    // Governance: Alice Bank proposes the `approved` deploy policy; it waits for Bob
    // Shipping's vote (two members: both must agree), which Bob casts from his console.
    page.click("[data-test=nav-governance]").await;
    page.select("[data-test=proposal-type]", "Set a chain parameter").await;
    page.select("[data-test=proposal-name]", "deploy_policy").await;
    page.fill("[data-test=proposal-value]", "1").await;
    page.click("[data-test=propose-submit]").await;
    page.wait_text("[data-test=proposal-1]", "set deploy_policy to 1").await;
    page.shot("governance").await;
    page.bob_approves(1).await;
    // The block that decided it says so, with the vote that did.
    page.click("[data-test=nav-governance]").await;
    page.click("[data-test=decided-1]").await;
    page.wait_text("[data-test=block-governance]", "executed: set deploy_policy to 1").await;
    page.wait_text("[data-test=block-governance]", "Bob Shipping voted for it").await;
    // The token's on-chain status, and a proposal to freeze it.
    page.click("[data-test=nav-contracts]").await;
    page.click("[data-test=contract-token]").await;
    page.wait_text("[data-test=governance-status]", "active").await;
    page.click("[data-test=propose-freeze]").await;
    page.wait_text("[data-test=toast]", "Proposal #2: open").await;
    // Deploying another contract now needs the members' approval: the platform proposes it.
    page.fill("[data-test=contract-name]", "token2").await;
    page.paste("[data-test=contract-abi]", TOKEN_ABI).await;
    page.paste("[data-test=contract-bytecode]", TOKEN_BYTECODE.trim()).await;
    page.fill("[data-test=contract-hash]", &hash).await;
    page.click("[data-test=upload-contract-submit]").await;
    page.fill("[data-test=ctor-supply]", "5").await;
    page.click("[data-test=deploy-submit]").await;
    page.wait_text("[data-test=approval-pending]", "proposal #3").await;
    page.shot("contracts-governance").await;
    // Bob Shipping approves; then the deployment goes through.
    page.bob_approves(3).await;
    page.click("[data-test=nav-contracts]").await;
    page.click("[data-test=contract-token2]").await;
    page.fill("[data-test=ctor-supply]", "5").await;
    page.click("[data-test=deploy-submit]").await;
    page.wait_text("[data-test=contract-address]", "0x").await;

    // The SQL ledger: a new table needs the members' approval too; the platform proposes it.
    let create = "CREATE TABLE shipments (id INT PRIMARY KEY, item VARCHAR(20) NOT NULL)";
    page.click("[data-test=nav-sql]").await;
    page.wait_text("[data-test=main]", "No ledger tables yet").await;
    page.absent("[data-test=sql-read-only]").await;
    page.fill("[data-test=sql-editor]", create).await;
    page.click("[data-test=sql-run]").await;
    page.wait_text("[data-test=error]", "proposal #4").await;
    page.bob_approves(4).await;
    page.click("[data-test=nav-sql]").await;
    page.fill("[data-test=sql-editor]", create).await;
    page.click("[data-test=sql-run]").await;
    page.wait_text("[data-test=sql-result]", "Done at block").await;
    page.fill("[data-test=sql-editor]", "INSERT INTO shipments VALUES (1, 'steel'), (2, 'grain')")
        .await;
    page.click("[data-test=sql-run]").await;
    page.wait_text("[data-test=sql-result]", "2 rows inserted").await;
    page.fill("[data-test=sql-editor]", "UPDATE shipments SET item = 'sand'").await;
    page.click("[data-test=sql-run]").await;
    page.wait_text("[data-test=error]", "ERROR 1290").await;
    // The table's schema and rows, a row's detail, and its proof verified from the genesis.
    page.click("[data-test=table-shipments]").await;
    page.wait_text("[data-test=schema-shipments]", "varchar(20)").await;
    page.click("[data-test=sql-run]").await;
    page.wait_text("[data-test=sql-result]", "grain").await;
    page.shot("sql").await;
    page.click("[data-test=row-1]").await;
    page.wait_text("[data-test=row-detail]", "grain").await;
    page.click("[data-test=verify-row]").await;
    page.wait_text("[data-test=verify-result]", "verified").await;
    page.shot("sql-verify").await;

    // The contract gateway: a managed key for an application, a webhook on the token's
    // transfers (its secret shown once).
    page.click("[data-test=nav-gateway]").await;
    page.fill("[data-test=key-name]", "billing-app").await;
    page.click("[data-test=key-create]").await;
    page.wait_text("[data-test=key-billing-app]", "billing-app").await;
    page.wait_text("[data-test=main]", "enabled").await;
    page.fill("[data-test=webhook-url-input]", "http://127.0.0.1:9/hooks/transfers").await;
    page.select("[data-test=webhook-contract]", "token2").await;
    page.select("[data-test=webhook-event]", "Transfer(address,address,uint256)").await;
    page.click("[data-test=webhook-create]").await;
    page.wait_text("[data-test=webhook-secret]", "whsec_").await;
    page.wait_text("[data-test=webhook-url]", "/hooks/transfers").await;
    page.shot("gateway").await;

    // Business services: a fungible asset and the shared ledger. Both are contracts, so the
    // chain's `approved` deploy policy asks Bob Shipping's vote first.
    page.click("[data-test=nav-services]").await;
    page.wait_text("[data-test=main]", "No digital assets yet").await;
    page.fill("[data-test=asset-name]", "points").await;
    page.fill("[data-test=asset-symbol]", "PTS").await;
    page.click("[data-test=issue-asset-submit]").await;
    page.wait_text("[data-test=error]", "proposal #5").await;
    page.bob_approves(5).await;
    page.click("[data-test=nav-services]").await;
    page.fill("[data-test=asset-name]", "points").await;
    page.fill("[data-test=asset-symbol]", "PTS").await;
    page.click("[data-test=issue-asset-submit]").await;
    page.wait_text("[data-test=supply-points]", "0").await;
    page.click("[data-test=asset-points]").await;
    page.fill("[data-test=asset-who]", "0x00000000000000000000000000000000000000ca").await;
    page.fill("[data-test=asset-value]", "500").await;
    page.click("[data-test=asset-submit]").await;
    page.wait_text("[data-test=supply-points]", "500").await;
    page.wait_text("[data-test=asset-transfers]", "(1").await;
    // The explorer knows the asset's contract for what it is.
    let address = page
        .client
        .execute(
            "return document.querySelector('[data-test=supply-points]').closest('tr').querySelector('code').title;",
            vec![],
        )
        .await
        .unwrap();
    page.click("[data-test=nav-explorer]").await;
    page.fill("[data-test=search]", address.as_str().unwrap()).await;
    page.click("[data-test=search-submit]").await;
    page.wait_text("[data-test=address-asset]", "points (PTS)").await;
    page.click("[data-test=nav-services]").await;
    page.fill("[data-test=entry-amount]", "250").await;
    page.fill("[data-test=entry-reference]", "INV-7").await;
    page.click("[data-test=entry-submit]").await;
    page.wait_text("[data-test=error]", "proposal #6").await;
    page.bob_approves(6).await;
    page.click("[data-test=nav-services]").await;
    page.fill("[data-test=entry-amount]", "250").await;
    page.fill("[data-test=entry-reference]", "INV-7").await;
    page.click("[data-test=entry-submit]").await;
    page.wait_text("[data-test=main]", "INV-7").await;
    // Bob Shipping owes it, and confirms: the balances move.
    page.logout().await;
    page.login("bob", "bob-password").await;
    page.click("[data-test=nav-services]").await;
    page.click("[data-test=entry-confirm-0]").await;
    page.wait_text("[data-test=main]", "confirmed").await;
    page.wait_text("[data-test=main]", "-250").await;
    page.shot("services").await;
    // Bob's nodes page offers no stop or restart on Alice Bank's nodes.
    page.click("[data-test=nav-nodes]").await;
    page.wait("[data-test=logs-v0]").await;
    let controls =
        "return document.querySelectorAll('[data-test^=stop-], [data-test^=restart-]').length;";
    assert_eq!(page.client.execute(controls, vec![]).await.unwrap(), json!(0));
    // Nor to archive the chain: Alice Bank's nodes run it, so Alice Bank's admins decide.
    page.click("[data-test=nav-chains]").await;
    page.click("[data-test=chain-ledger]").await;
    page.wait("[data-test=download-genesis]").await;
    page.absent("[data-test=archive-chain]").await;
    // Bob Shipping may leave the consortium only once the chain no longer counts it: asked,
    // the platform says why not, in words.
    page.click("[data-test=nav-consortiums]").await;
    page.click_and_confirm("[data-test='leave-Trade-Bob Shipping']", "governance proposal").await;
    page.wait_text("[data-test=toast-error]", "still takes part in chains of this consortium")
        .await;
    page.wait_text("[data-test=toast-error]", "ledger").await;
    page.absent("[data-test='leave-Trade-Alice Bank']").await;
    // A majority-policy consortium of both banks dissolves by vote: Bob Shipping's is one of
    // two, then Alice Bank's makes more than half.
    let club = majority_club(&page.url).await;
    page.click("[data-test=nav-overview]").await;
    page.click("[data-test=nav-consortiums]").await;
    page.click_and_confirm("[data-test=dissolve-Club]", "vote").await;
    page.wait_text("[data-test=toast]", "1 of 2").await;
    club.dissolve_consortium(&club_id(&club).await).await.unwrap();
    page.click("[data-test=nav-overview]").await;
    page.click("[data-test=nav-consortiums]").await;
    page.wait("[data-test=dissolved-Club]").await;
    page.absent("[data-test=dissolve-Club]").await;
    page.logout().await;
    // Carol, a viewer, reads every page but is offered no change on any.
    page.login("carol", "carol-password").await;
    for (nav, shown, offered) in [
        (
            "alerts",
            "[data-test=receiver-target]",
            "[data-test=receiver-form], [data-test=silence-form], [data-test^=rule-form-], [data-test^=ack-]",
        ),
        (
            "gateway",
            "[data-test=webhook-url]",
            "[data-test=webhook-form], [data-test^=webhook-pause-]",
        ),
        (
            "services",
            "[data-test^=supply-]",
            "[data-test=issue-asset-form], [data-test=entry-form]",
        ),
        ("governance", "[data-test^=status-]", "[data-test=new-proposal], [data-test^=approve-]"),
        ("contracts", "[data-test=contract-token]", "[data-test=upload-contract]"),
        (
            "orgs",
            "[data-test='org-Alice Bank']",
            "[data-test=add-member], [data-test^=delete-org-], [data-test^=remove-member-]",
        ),
    ] {
        page.click(&format!("[data-test=nav-{nav}]")).await;
        page.wait(shown).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        page.absent(offered).await;
    }
    // The SQL page still reads for her, and says up front that it will not write.
    page.click("[data-test=nav-sql]").await;
    page.wait("[data-test=table-shipments]").await;
    page.wait_text("[data-test=sql-read-only]", "SELECT").await;
    page.logout().await;
    // The administrator reads the platform's own log beside the audit log: the alert it
    // raised when a node stopped is there.
    page.login("admin", &password).await;
    page.click("[data-test=nav-audit]").await;
    page.wait_text("[data-test=platform-log] [data-test=logs]", "firing").await;
    let log = "document.querySelector('[data-test=platform-log]').scrollIntoView();";
    page.client.execute(log, vec![]).await.unwrap();
    page.shot("platform-log").await;
    page.logout().await;
    page.login("alice", "alice-password").await;

    // 中文.
    page.click("[data-test=nav-overview]").await;
    page.wait("[data-test=stat-nodes]").await;
    page.select("[data-test=lang]", "中文").await;
    page.wait_text("[data-test=nav-overview]", "概览").await;
    page.shot("overview-zh").await;
    // Every page in Chinese: no text the language lacks, no `{placeholder}` left unfilled.
    for nav in PAGES {
        let found = page.scan(nav).await;
        assert_eq!((found.0.as_str(), found.1), ("", false), "page {nav} in Chinese");
    }
    // A server's error in Chinese: its kind from the error code, then the platform's words.
    page.go("#/chains/chain_missing/explorer").await;
    page.wait_text("[data-test=error]", "未找到。").await;
    page.click("[data-test=nav-overview]").await;
    page.select("[data-test=lang]", "English").await;
    page.wait_text("[data-test=nav-overview]", "Overview").await;

    // Dark mode, chosen in the top bar, kept across a reload, and back to light.
    page.select("[data-test=theme]", "Dark").await;
    page.client.refresh().await.unwrap();
    page.wait("[data-test=stat-nodes]").await;
    let dark = "return [document.documentElement.dataset.theme, getComputedStyle(document.documentElement).backgroundColor];";
    let colours = page.client.execute(dark, vec![]).await.unwrap();
    assert_eq!(colours, json!(["dark", "rgb(14, 20, 34)"]), "the dark theme's background");
    page.shot("overview-dark").await;
    page.select("[data-test=theme]", "Light").await;
    let colours = page.client.execute(dark, vec![]).await.unwrap();
    assert_eq!(colours, json!(["light", "rgb(244, 246, 250)"]), "the light theme's background");

    // Tablet width: the side navigation folds into a bar above the page; no page scrolls
    // sideways, and (in English too) none shows a text its language lacks.
    page.client.set_window_size(820, 1100).await.unwrap();
    for nav in PAGES {
        let (untranslated, placeholder, overflows) = page.scan(nav).await;
        assert_eq!(
            (untranslated.as_str(), placeholder, overflows),
            ("", false, false),
            "page {nav} at tablet width"
        );
    }
    page.click("[data-test=nav-overview]").await;
    page.wait("[data-test=stat-nodes]").await;
    let layout = page
        .client
        .execute(
            "return [getComputedStyle(document.querySelector('.side')).display, document.documentElement.scrollWidth <= window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout, json!(["flex", true]), "the tablet layout");
    page.shot("overview-tablet").await;
    page.client.set_window_size(1366, 768).await.unwrap();

    // Last, the chain is archived from its page: the question says what follows first.
    page.click("[data-test=nav-chains]").await;
    page.click("[data-test=chain-ledger]").await;
    page.click_and_confirm("[data-test=archive-chain]", "removed from their hosts with their data")
        .await;
    page.wait_text("main h1", "archived").await;
    page.wait_text("[data-test=chain-select]", "ledger (archived)").await;
}

/// A platform process, killed on drop, with what it printed up to its address.
struct Serving {
    child: Child,
    url: String,
    banner: Vec<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `consortia platform init` in `data` with `shares` and `threshold`: the shares it printed.
fn init_keystore(data: &Path, shares: u8, threshold: u8) -> Vec<String> {
    let (n, m) = (shares.to_string(), threshold.to_string());
    let data = data.to_str().unwrap();
    let args = ["platform", "init", "--data-dir", data, "--shares", &n, "--threshold", &m];
    consortia(&args, &[])
        .lines()
        .filter_map(|l| l.split_once(": ").map(|x| x.1.to_owned()))
        .filter(|s| s.starts_with("cshare1-"))
        .collect()
}

/// `consortia platform` on `data`, unsealing itself with the shares in `unseal` if given.
fn serve_platform(data: &Path, unseal: Option<&Path>) -> Serving {
    use std::io::BufRead;
    let mut command = Command::new(&*BIN);
    command.args(["platform", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data);
    if let Some(file) = unseal {
        command.arg("--unseal-file").arg(file);
    }
    let mut child = command.env("RUST_LOG", "warn").stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = vec![];
    let url = loop {
        let line = lines.next().expect("the platform serves").unwrap();
        banner.push(line.clone());
        if let Some(rest) = line.strip_prefix("Consortia platform: ") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Serving { child, url, banner }
}

/// A sealed platform (two shares, both needed): the console opens on its unseal screen, two
/// holders give their shares there one after the other, and the login screen follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_holders_unseal_the_platform_from_the_console() {
    if chromedriver().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform");
    let shares = init_keystore(&data, 2, 2);
    assert_eq!(shares.len(), 2);
    let platform = serve_platform(&data, None);

    let (_driver, client) = browser(&dir.path().join("chrome")).await;
    let page = Page { client, url: platform.url.clone(), shots: None };
    page.go("#/overview").await;
    page.wait_text("[data-test=unseal-progress]", "0 of 2").await;
    page.fill("[data-test=share]", &shares[1]).await;
    page.click("[data-test=unseal-submit]").await;
    page.wait_text("[data-test=unseal-progress]", "1 of 2").await;
    page.fill("[data-test=share]", &shares[0]).await;
    page.click("[data-test=unseal-submit]").await;
    page.wait("[data-test=login-form]").await;
    page.client.close().await.unwrap();
}

/// The status of `GET /v1/users/me` with `bearer`.
async fn me_status(url: &str, bearer: &str) -> u16 {
    let response = reqwest::Client::new()
        .get(format!("{url}/v1/users/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The account page: an API key made with an expiry works until revoked there; another
/// session ends from the list; the password changes; the audit log page finds those calls by
/// method and path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_manages_keys_sessions_and_password_and_reads_the_audit_log_in_the_console() {
    if chromedriver().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("platform");
    let share = init_keystore(&data, 1, 1).remove(0);
    let share_file = dir.path().join("unseal.share");
    consortia_test_utils::process::write_private(&share_file, &share);
    let platform = serve_platform(&data, Some(&share_file));
    let password = platform.banner.iter().find_map(|l| l.strip_prefix("password: ")).unwrap();
    let url = platform.url.clone();

    let (_driver, client) = browser(&dir.path().join("chrome")).await;
    let page = Page { client, url: url.clone(), shots: None };
    page.login("admin", password).await;
    page.click("[data-test=who]").await;

    // An API key, shown once, that works until revoked.
    page.fill("[data-test=key-name]", "ci").await;
    page.fill("[data-test=key-days]", "30").await;
    page.click("[data-test=create-key-submit]").await;
    let key = page.wait_text("[data-test=new-key-secret]", "ck1.").await;
    page.wait_text("[data-test=key-state-ci]", "active").await;
    assert_eq!(me_status(&url, &key).await, 200);
    page.click_and_confirm("[data-test=revoke-key-ci]", "cannot be undone").await;
    page.wait_text("[data-test=key-state-ci]", "revoked").await;
    assert_eq!(me_status(&url, &key).await, 401);

    // Another session (a CLI elsewhere) ends from the list.
    let elsewhere = consortia_api::PlatformClient::new(&url);
    let token = elsewhere.login("admin", password).await.unwrap().access_token;
    page.go("#/audit").await;
    page.click("[data-test=who]").await;
    page.click("[data-test=end-session]").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while me_status(&url, &token).await != 401 {
        assert!(Instant::now() < deadline, "the other session still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The password changes; this session stays.
    page.fill("[data-test=current-password]", password).await;
    page.fill("[data-test=new-password]", "a brand new password").await;
    page.click("[data-test=password-submit]").await;
    page.wait_text("[data-test=toast]", "Password changed").await;
    consortia_api::PlatformClient::new(&url).login("admin", "a brand new password").await.unwrap();

    // The audit log finds the revocation by method, and the password change by path.
    page.click("[data-test=nav-audit]").await;
    page.wait_text("[data-test=audit-results]", "/v1/users/me/api-keys").await;
    page.select("[data-test=audit-method]", "DELETE").await;
    page.click("[data-test=audit-search]").await;
    // Until the search answers, the unfiltered list (which has DELETEs too) is still shown.
    let only_deletes = |t: &str| t.contains("/v1/users/me/sessions/") && !t.contains("POST");
    let deleted = page.wait_for("[data-test=audit-results]", "DELETEs only", only_deletes).await;
    assert!(deleted.contains("/v1/users/me/api-keys/key_"), "{deleted}");
    page.select("[data-test=audit-method]", "any").await;
    page.fill("[data-test=audit-path]", "/v1/users/me/password").await;
    page.click("[data-test=audit-search]").await;
    let password_only = |t: &str| t.contains("/v1/users/me/password") && !t.contains("api-keys");
    page.wait_for("[data-test=audit-results]", "the password change only", password_only).await;
    page.client.close().await.unwrap();
}
