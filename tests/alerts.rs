//! Alerts on the demo chain: a node stopped through the platform raises `node_down`, which
//! goes pending, fires, is sent to a signed webhook and by e-mail (to a real SMTP sink,
//! Python's aiosmtpd), is acknowledged, held back by a silence, and resolved when the node
//! is back.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;
mod receiver;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use consortia_api::platform::*;
use demo::Demo;
use receiver::{Received, receive, signed_by};
use serde_json::Value;

/// Polls `check` every 200 ms until it gives a value, for at most `secs`.
async fn until<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited {secs} s for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn active(demo: &Demo, chain: &str) -> Vec<AlertView> {
    demo.admin.alerts(chain, &AlertQuery::default()).await.unwrap()
}

fn bodies(got: &std::sync::Mutex<Vec<Received>>) -> Vec<(Received, Value)> {
    let got = got.lock().unwrap().clone();
    got.into_iter().map(|r| (r.clone(), serde_json::from_slice(&r.1).unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_fires_node_down_to_a_signed_webhook_until_it_is_back() {
    let demo = Demo::up().await;
    let chain = demo.admin.chains().await.unwrap().remove(0).id;
    let quick = UpdateAlertRuleRequest { for_ms: Some(3_000), ..Default::default() };
    let rule = demo.admin.update_alert_rule(&chain, "node_down", &quick).await.unwrap();
    assert_eq!((rule.enabled, rule.for_ms), (true, 3_000));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let got = receive(listener);
    let webhook = CreateAlertReceiverRequest {
        kind: ReceiverKind::Webhook,
        target: url,
        min_severity: Some(Severity::Critical),
        org_id: None,
    };
    let created = demo.admin.create_alert_receiver(&chain, &webhook).await.unwrap();
    let secret = created.secret.unwrap();
    assert!(active(&demo, &chain).await.is_empty(), "a healthy chain has no alert");

    demo.admin.stop_node(&chain, "node-3").await.unwrap();
    // Pending first (the rule's `for` is 3 s, a look every 5 s), then firing.
    let (mut states, deadline) = (vec![], tokio::time::Instant::now() + Duration::from_secs(60));
    let alert = loop {
        let down = active(&demo, &chain).await.into_iter().find(|a| a.rule == "node_down");
        if let Some(down) = down {
            states.push(down.state);
            if down.state == AlertState::Firing {
                break down;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "node_down did not fire: {states:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(states[0], AlertState::Pending, "{states:?}");
    assert_eq!(alert.node_name.as_deref(), Some("node-3"));
    assert_eq!(alert.severity, Severity::Critical);
    assert!(alert.summary.contains("node-3") && alert.description.contains("nodes page"));

    // Sent once, signed, in Alertmanager's shape.
    let firing =
        until(30, "the firing webhook", || async { bodies(&got).into_iter().next() }).await;
    let ((headers, body), payload) = firing;
    let signature = &headers["x-consortia-signature"];
    assert!(signed_by(&secret, &headers["x-consortia-timestamp"], &body, signature));
    assert_eq!(headers["x-consortia-alert-receiver"], created.receiver.id);
    assert_eq!(
        (payload["version"].as_str(), payload["status"].as_str()),
        (Some("4"), Some("firing"))
    );
    let labels = &payload["alerts"][0]["labels"];
    assert_eq!(
        (labels["alertname"].as_str(), labels["node"].as_str()),
        (Some("node_down"), Some("node-3"))
    );
    assert_eq!(payload["alerts"][0]["fingerprint"], alert.id.as_str());

    // Acknowledged: someone is on it.
    let acked = demo.admin.acknowledge_alert(&chain, &alert.id).await.unwrap();
    assert!(acked.acknowledged_by.is_some() && acked.acknowledged_ms.is_some());

    // A receiver added while it fires is told at once, not at the reminder hours later.
    let late = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let late_url = format!("http://{}/alerts", late.local_addr().unwrap());
    let late_got = receive(late);
    let late_webhook = CreateAlertReceiverRequest { target: late_url, ..webhook.clone() };
    demo.admin.create_alert_receiver(&chain, &late_webhook).await.unwrap();
    let told = until(30, "the firing sent to the late receiver", || async {
        bodies(&late_got).into_iter().next()
    })
    .await;
    assert_eq!(
        (told.1["status"].as_str(), told.1["alerts"][0]["fingerprint"].as_str()),
        (Some("firing"), Some(alert.id.as_str()))
    );

    // Back: resolved, and the receiver that heard of the firing hears of the resolution.
    demo.admin.start_node(&chain, "node-3").await.unwrap();
    let resolved = until(90, "the resolved webhook", || async {
        bodies(&got).into_iter().find(|(_, p)| p["status"] == "resolved")
    })
    .await;
    assert_eq!(resolved.1["alerts"][0]["fingerprint"], alert.id.as_str());
    assert_ne!(resolved.1["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(active(&demo, &chain).await.iter().all(|a| a.rule != "node_down"));
    let all = AlertQuery { state: Some("all".into()), ..Default::default() };
    let history = demo.admin.alerts(&chain, &all).await.unwrap();
    let past = history.iter().find(|a| a.id == alert.id).unwrap();
    assert_eq!(past.state, AlertState::Resolved);
    assert!(
        past.fired_ms.is_some() && past.resolved_ms.is_some() && past.acknowledged_by.is_some()
    );
    let receivers = demo.admin.alert_receivers(&chain).await.unwrap();
    let first = receivers.iter().find(|r| r.id == created.receiver.id).unwrap();
    assert_eq!((first.delivered, first.failed), (2, 0));
    assert_eq!(bodies(&got).len(), 2, "one firing, one resolution");
    let late_resolved = until(30, "the resolution sent to the late receiver", || async {
        bodies(&late_got).into_iter().find(|(_, p)| p["status"] == "resolved")
    })
    .await;
    assert_eq!(late_resolved.1["alerts"][0]["fingerprint"], alert.id.as_str());

    // Without an SMTP server, an e-mail receiver is refused with what to do.
    let email = CreateAlertReceiverRequest {
        kind: ReceiverKind::Email,
        target: "ops@example.com".into(),
        min_severity: None,
        org_id: None,
    };
    let err = demo.admin.create_alert_receiver(&chain, &email).await.unwrap_err().to_string();
    assert!(err.contains("--smtp-url"), "{err}");
}

/// Python's aiosmtpd on a free loopback port, keeping every message in a maildir.
struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// `None` without `CONSORTIA_TEST_SMTP_PYTHON` (scripts/test sets it: scripts/smtp-sink).
    fn start() -> Option<SmtpSink> {
        let python = std::env::var("CONSORTIA_TEST_SMTP_PYTHON").ok()?;
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .spawn()
            .unwrap();
        let sink = SmtpSink { child, port, maildir, _dir: dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(sink);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    /// The messages received so far, as text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.join("new");
        let Ok(files) = std::fs::read_dir(&new) else { return vec![] };
        files.map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message's header, unfolded.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

fn wait_a_look() -> Duration {
    // Two evaluation rounds (every 5 s) and a margin.
    Duration::from_secs(12)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_alert_is_shown_not_mailed_until_the_silence_ends() {
    let Some(sink) = SmtpSink::start() else {
        eprintln!("skipped: CONSORTIA_TEST_SMTP_PYTHON is not set (scripts/smtp-sink)");
        return;
    };
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let env =
        [("CONSORTIA_SMTP_URL", smtp.as_str()), ("CONSORTIA_SMTP_FROM", "alerts@consortia.test")];
    let demo = Demo::up_with_env(&env).await;
    let chain = demo.admin.chains().await.unwrap().remove(0).id;
    let at_once = UpdateAlertRuleRequest { for_ms: Some(0), ..Default::default() };
    demo.admin.update_alert_rule(&chain, "node_down", &at_once).await.unwrap();
    let email = CreateAlertReceiverRequest {
        kind: ReceiverKind::Email,
        target: "Ops Team <ops@example.com>".into(),
        min_severity: None,
        org_id: None,
    };
    let receiver = demo.admin.create_alert_receiver(&chain, &email).await.unwrap();
    assert_eq!((receiver.receiver.target.as_str(), receiver.secret), ("ops@example.com", None));
    let node = demo.admin.chain(&chain).await.unwrap().nodes[1].clone();
    let silence = CreateSilenceRequest {
        rule: Some("node_down".into()),
        node_id: Some(node.id.clone()),
        duration_ms: 3_600_000,
        comment: "maintenance".into(),
        org_id: None,
    };
    let silence = demo.admin.create_silence(&chain, &silence).await.unwrap();

    demo.admin.stop_node(&chain, &node.name).await.unwrap();
    let alert = until(60, "node_down to fire", || async {
        active(&demo, &chain).await.into_iter().find(|a| a.state == AlertState::Firing)
    })
    .await;
    assert_eq!(alert.silenced_by.as_deref(), Some(silence.id.as_str()));
    tokio::time::sleep(wait_a_look()).await;
    assert!(sink.messages().is_empty(), "silenced: {:?}", sink.messages());

    // The silence ends: the alert still firing is mailed.
    demo.admin.end_silence(&chain, &silence.id).await.unwrap();
    let message =
        until(60, "the alert e-mail", || async { sink.messages().into_iter().next() }).await;
    let subject = header(&message, "Subject").unwrap();
    assert!(subject.starts_with("[FIRING:critical] node_down: "), "{subject}");
    assert!(subject.contains(&node.name), "{subject}");
    assert_eq!(header(&message, "To"), Some("ops@example.com"));
    assert!(header(&message, "From").unwrap().contains("alerts@consortia.test"));
    assert!(message.contains("What to check: "), "{message}");
    demo.admin.start_node(&chain, &node.name).await.unwrap();
    until(90, "the resolution e-mail", || async {
        let all = sink.messages();
        all.iter()
            .any(|m| header(m, "Subject").is_some_and(|s| s.starts_with("[RESOLVED")))
            .then_some(())
    })
    .await;
}
