//! Alerts: the platform watches every running chain and raises what an operator must know
//! (a node down, the chain stalled, a peer lost, equivocation, slow commits, memory, a full
//! pool, a certificate near its end), the way Prometheus' rules do, without the operator
//! running a Prometheus.
//!
//! Every [`EVALUATE_EVERY`], [`alert_job`] reads each running chain's nodes' metrics, turns
//! them into the conditions that hold ([`conditions`], with a little memory for counters and
//! the height, kept in the database across restarts), and moves the chain's alerts along ([`step`]): a condition first seen is
//! `pending`; held for the rule's `for` it is `firing`; gone, it is `resolved` (a pending one
//! that clears leaves no trace). Firing alerts are sent to the chain's receivers (Alertmanager's
//! webhook JSON, signed like event webhooks, or e-mail over SMTP) through an outbox retried
//! with doubling waits, then reminded every [`REMIND_EVERY_MS`] until someone acknowledges
//! them; a silence holds them back; a resolution is sent to whoever heard of the firing. A
//! receiver added while an alert fires is sent it at once.
//!
//! The deploy/prometheus rules say the same for an operator's own Prometheus; this is the
//! console's view and needs nothing installed.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use consortia_api::platform::{
    AlertQuery, AlertReceiverView, AlertRuleView, AlertState, AlertView, ChainView,
    CreateAlertReceiverRequest, CreateSilenceRequest, CreatedAlertReceiverView, ReceiverKind,
    Severity, SilenceView, UpdateAlertRuleRequest,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::identity::Caller;
use super::monitoring::sum_by_name;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::alerts::{self as store, AlertRow, ReceiverRow, RuleSetting, SilenceRow};
use crate::store::{new_id, now_ms};
use crate::{Platform, credentials};

/// How often every running chain is looked at.
pub const EVALUATE_EVERY: Duration = Duration::from_secs(5);

/// A firing alert nobody acknowledged is sent again this often.
pub const REMIND_EVERY_MS: i64 = 4 * 3_600_000;

/// A counter that rose within this long keeps its rule's condition true (Prometheus'
/// `increase(…[5m]) > 0`).
const RECENT_MS: i64 = 5 * 60_000;

/// Attempts at one notification before it is given up on (about 25 minutes of retries).
const MAX_ATTEMPTS: i64 = 14;

/// The longest silence.
const MAX_SILENCE_MS: u64 = 30 * 86_400_000;

/// The action that manages a chain's alerts (rules, receivers, silences, acknowledgements).
const MANAGE: &str = "chain:alerts";

/// A rule of the catalogue: what it watches and its defaults.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub for_ms: u64,
    /// The default threshold and its unit.
    pub threshold: Option<(u64, &'static str)>,
    pub description: &'static str,
    /// What to check next (the alert's description).
    pub next: &'static str,
}

/// The rules every chain has.
pub const RULES: [Rule; 8] = [
    Rule {
        id: "node_down",
        severity: Severity::Critical,
        for_ms: 60_000,
        threshold: None,
        description: "A node does not answer the platform.",
        next: "Check the node on the nodes page (its process, restarts, logs). A BFT chain of 4 \
               validators keeps committing with one down, not with two.",
    },
    Rule {
        id: "chain_stalled",
        severity: Severity::Critical,
        for_ms: 60_000,
        threshold: None,
        description: "No block is committed while transactions wait.",
        next: "Fewer than two thirds of the validators may be up or connected: check every \
               node's peers and the nodes that are down.",
    },
    Rule {
        id: "peer_lost",
        severity: Severity::Warning,
        for_ms: 300_000,
        threshold: None,
        description: "A node that answers is connected to fewer peers than the other nodes \
                      that answer.",
        next: "The network between hosts is broken for it (TLS, firewall, addresses): read its \
               log for the peer it cannot reach.",
    },
    Rule {
        id: "equivocation",
        severity: Severity::Critical,
        for_ms: 0,
        threshold: None,
        description: "A validator signed conflicting votes (seen in the last 5 minutes).",
        next: "Byzantine evidence: the node's log names the validator. Propose its removal \
               from the validator set on the governance page.",
    },
    Rule {
        id: "slow_commits",
        severity: Severity::Warning,
        for_ms: 600_000,
        threshold: Some((1_000, "ms")),
        description: "Writing a decided block takes longer than the threshold (mean between \
                      two looks).",
        next: "The disk is slow or full, or the store grew past what this machine writes \
               quickly: check the host's disk.",
    },
    Rule {
        id: "memory_high",
        severity: Severity::Warning,
        for_ms: 600_000,
        threshold: Some((200, "MiB")),
        description: "A node holds more resident memory than the threshold.",
        next: "Check the load and the pool size; a node started without MALLOC_ARENA_MAX=2 \
               holds more.",
    },
    Rule {
        id: "pool_full",
        severity: Severity::Warning,
        for_ms: 0,
        threshold: None,
        description: "A node refused transactions because its pool was full (in the last 5 \
                      minutes).",
        next: "The chain commits less than it is offered: spread clients over nodes, or raise \
               the block size if blocks are full.",
    },
    Rule {
        id: "certificate_expiry",
        severity: Severity::Warning,
        for_ms: 0,
        threshold: Some((30, "days")),
        description: "A node's certificate expires within the threshold (critical within 7 \
                      days).",
        next: "Renew it (the nodes page, or `consortia node renew`) before it expires: an \
               expired p2p certificate takes the node out of consensus.",
    },
];

fn rule(id: &str) -> Result<&'static Rule> {
    RULES.iter().find(|r| r.id == id).ok_or_else(|| {
        let known: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        Error::NotFound(format!("no alert rule {id}; the rules are {}", known.join(", ")))
    })
}

/// A rule as a chain has it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Effective {
    pub enabled: bool,
    pub for_ms: u64,
    pub threshold: Option<u64>,
}

fn effective(rule: &Rule, settings: &[RuleSetting]) -> Effective {
    match settings.iter().find(|s| s.rule == rule.id) {
        Some(s) => Effective {
            enabled: s.enabled,
            for_ms: s.for_ms.max(0) as u64,
            threshold: s.threshold.map(|t| t.max(0) as u64),
        },
        None => Effective {
            enabled: true,
            for_ms: rule.for_ms,
            threshold: rule.threshold.map(|(t, _)| t),
        },
    }
}

/// What one node's metrics say, as the rules read them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub height: f64,
    pub peers: f64,
    pub ready: f64,
    pub resident_bytes: f64,
    pub equivocations: f64,
    pub pool_full_refusals: f64,
    pub commit_seconds_sum: f64,
    pub commits: f64,
    /// The earliest expiry of its certificates, in Unix seconds.
    pub certificate_expiry_s: Option<f64>,
}

impl Figures {
    pub fn from_text(text: &str) -> Figures {
        let m = sum_by_name(text);
        let get = |name: &str| m.get(name).copied().unwrap_or(0.0);
        let samples = |name: &'static str| {
            text.lines().filter(|l| !l.starts_with('#')).filter_map(move |line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (n, labels) = series.split_once('{').unwrap_or((series, ""));
                (n == name).then(|| Some((labels, value.parse::<f64>().ok()?))).flatten()
            })
        };
        Figures {
            height: get("consortia_chain_height"),
            peers: get("consortia_peers"),
            ready: get("consortia_mempool_ready"),
            resident_bytes: get("consortia_process_resident_memory_bytes"),
            equivocations: get("consortia_consensus_equivocations_total"),
            pool_full_refusals: samples("consortia_mempool_refused_total")
                .filter(|(labels, _)| labels.contains("reason=\"pool_full\""))
                .map(|(_, v)| v)
                .sum(),
            commit_seconds_sum: get("consortia_block_commit_seconds_sum"),
            commits: get("consortia_block_commit_seconds_count"),
            certificate_expiry_s: samples("consortia_certificate_expiry_timestamp_seconds")
                .map(|(_, v)| v)
                .reduce(f64::min),
        }
    }
}

/// One node as the evaluation sees it: its figures, or why it was not read.
#[derive(Clone, Debug)]
pub struct Reading {
    pub node_id: String,
    pub node_name: String,
    pub figures: std::result::Result<Figures, String>,
}

/// What evaluation remembers of a chain between two looks, kept in the database so that a
/// restarted platform goes on where it stopped (a firing alert whose condition needs memory,
/// a stall or a recent counter rise, is not resolved by forgetting).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    /// The highest height seen and when it last rose.
    height: f64,
    height_rose_ms: i64,
    nodes: HashMap<String, NodeMemory>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct NodeMemory {
    /// Whether a reading came before: a first reading is never a rise.
    read: bool,
    equivocations: f64,
    equivocation_ms: Option<i64>,
    pool_full: f64,
    pool_full_ms: Option<i64>,
    commit_sum: f64,
    commits: f64,
    /// The mean commit time of the last interval that had commits.
    commit_mean_s: Option<f64>,
}

/// A rule's condition holding now, about a node (`subject`) or the chain (`""`).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub rule: &'static str,
    pub subject: String,
    pub severity: Severity,
    pub summary: String,
}

/// The conditions that hold on a chain now, by its nodes' readings; `memory` carries the
/// counters and the height from one look to the next.
pub fn conditions(
    rules: &dyn Fn(&Rule) -> Effective,
    chain_name: &str,
    readings: &[Reading],
    memory: &mut Memory,
    now: i64,
) -> Vec<Condition> {
    let on = |id: &str| RULES.iter().find(|r| r.id == id).map(rules).filter(|e| e.enabled);
    let mut out = vec![];
    let mut hold = |rule: &'static str, subject: &str, severity: Severity, summary: String| {
        out.push(Condition { rule, subject: subject.to_owned(), severity, summary })
    };
    let answering = readings.iter().filter(|r| r.figures.is_ok()).count();
    let mut height = memory.height;
    let mut ready = 0.0;
    for r in readings {
        let name = &r.node_name;
        let figures = match &r.figures {
            Ok(f) => f,
            Err(why) => {
                if on("node_down").is_some() {
                    let summary =
                        format!("node {name} of chain {chain_name} does not answer: {why}");
                    hold("node_down", &r.node_id, Severity::Critical, summary);
                }
                continue;
            }
        };
        height = height.max(figures.height);
        ready += figures.ready;
        let seen = memory.nodes.entry(r.node_id.clone()).or_default();
        let first = !seen.read;
        seen.read = true;
        if figures.equivocations > seen.equivocations && !first {
            seen.equivocation_ms = Some(now);
        }
        if figures.pool_full_refusals > seen.pool_full && !first {
            seen.pool_full_ms = Some(now);
        }
        let commits = figures.commits - seen.commits;
        if commits > 0.0 && !first {
            seen.commit_mean_s = Some((figures.commit_seconds_sum - seen.commit_sum) / commits);
        }
        (seen.equivocations, seen.pool_full) = (figures.equivocations, figures.pool_full_refusals);
        (seen.commit_sum, seen.commits) = (figures.commit_seconds_sum, figures.commits);
        let recent = |at: Option<i64>| at.is_some_and(|t| now - t < RECENT_MS);
        if on("peer_lost").is_some() && figures.peers + 1.0 < answering as f64 {
            let others = answering - 1;
            let summary = format!(
                "node {name} of chain {chain_name} has {} peers of the {others} other nodes that answer",
                figures.peers
            );
            hold("peer_lost", &r.node_id, Severity::Warning, summary);
        }
        if on("equivocation").is_some() && recent(seen.equivocation_ms) {
            let summary =
                format!("node {name} of chain {chain_name} saw a validator sign conflicting votes");
            hold("equivocation", &r.node_id, Severity::Critical, summary);
        }
        if let (Some(rule), Some(mean)) = (on("slow_commits"), seen.commit_mean_s) {
            let limit_ms = rule.threshold.unwrap_or(1_000) as f64;
            if mean * 1000.0 > limit_ms {
                let summary = format!(
                    "node {name} of chain {chain_name} takes {:.0} ms to write a block (over {limit_ms} ms)",
                    mean * 1000.0
                );
                hold("slow_commits", &r.node_id, Severity::Warning, summary);
            }
        }
        if let Some(rule) = on("memory_high") {
            let limit = rule.threshold.unwrap_or(200);
            let mib = figures.resident_bytes / 1_048_576.0;
            if mib > limit as f64 {
                let summary = format!(
                    "node {name} of chain {chain_name} holds {mib:.0} MiB resident (over {limit} MiB)"
                );
                hold("memory_high", &r.node_id, Severity::Warning, summary);
            }
        }
        if on("pool_full").is_some() && recent(seen.pool_full_ms) {
            let summary =
                format!("node {name} of chain {chain_name} refuses transactions: its pool is full");
            hold("pool_full", &r.node_id, Severity::Warning, summary);
        }
        if let (Some(rule), Some(expiry)) = (on("certificate_expiry"), figures.certificate_expiry_s)
        {
            let days = (expiry - now as f64 / 1000.0) / 86_400.0;
            if days < rule.threshold.unwrap_or(30) as f64 {
                let severity = if days < 7.0 { Severity::Critical } else { Severity::Warning };
                let summary = if days <= 0.0 {
                    format!("a certificate of node {name} of chain {chain_name} has expired")
                } else {
                    format!(
                        "a certificate of node {name} of chain {chain_name} expires in {days:.1} days"
                    )
                };
                hold("certificate_expiry", &r.node_id, severity, summary);
            }
        }
    }
    if height > memory.height || memory.height_rose_ms == 0 {
        (memory.height, memory.height_rose_ms) = (height, now);
    }
    if on("chain_stalled").is_some() && ready > 0.0 && memory.height_rose_ms < now {
        let summary = format!(
            "chain {chain_name} is at height {height} and commits nothing while {ready} transactions wait"
        );
        hold("chain_stalled", "", Severity::Critical, summary);
    }
    out
}

/// What one look changes in a chain's alerts.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A condition first seen (pending, or firing at once when its rule has no `for`).
    Insert(AlertRow),
    /// A pending alert that fired, an alert resolved, or a summary that moved.
    Update(AlertRow),
    /// A pending alert whose condition cleared before it fired.
    Delete(String),
}

/// Moves a chain's active alerts along by the conditions holding now.
pub fn step(
    chain: &str,
    active: &[AlertRow],
    holding: &[Condition],
    for_ms: &dyn Fn(&str) -> u64,
    now: i64,
) -> Vec<Change> {
    let mut changes = vec![];
    for alert in active {
        let held = holding.iter().find(|c| c.rule == alert.rule && c.subject == alert.subject);
        match held {
            None if alert.state == AlertState::Pending.as_str() => {
                changes.push(Change::Delete(alert.id.clone()))
            }
            None => changes.push(Change::Update(AlertRow {
                state: AlertState::Resolved.as_str().into(),
                resolved_ms: Some(now),
                ..alert.clone()
            })),
            Some(c) => {
                let fires = alert.state == AlertState::Pending.as_str()
                    && now - alert.started_ms >= for_ms(&alert.rule) as i64;
                let mut next = AlertRow {
                    severity: c.severity.as_str().into(),
                    summary: c.summary.clone(),
                    ..alert.clone()
                };
                if fires {
                    (next.state, next.fired_ms) = (AlertState::Firing.as_str().into(), Some(now));
                }
                if next != *alert {
                    changes.push(Change::Update(next));
                }
            }
        }
    }
    for c in holding {
        if active.iter().any(|a| a.rule == c.rule && a.subject == c.subject) {
            continue;
        }
        let at_once = for_ms(c.rule) == 0;
        changes.push(Change::Insert(AlertRow {
            id: new_id("alert"),
            chain_id: chain.to_owned(),
            rule: c.rule.to_owned(),
            subject: c.subject.clone(),
            severity: c.severity.as_str().into(),
            state: if at_once { AlertState::Firing } else { AlertState::Pending }.as_str().into(),
            summary: c.summary.clone(),
            started_ms: now,
            fired_ms: at_once.then_some(now),
            resolved_ms: None,
            notified_ms: None,
            acked_by: None,
            acked_ms: None,
        }));
    }
    changes
}

/// Whether a silence holds an alert back.
fn silences_alert(s: &SilenceRow, alert: &AlertRow) -> bool {
    s.rule.as_ref().is_none_or(|r| *r == alert.rule)
        && s.subject.as_ref().is_none_or(|n| *n == alert.subject)
}

/// Whether a firing alert is to be sent now: never sent yet, or a reminder is due and nobody
/// acknowledged it.
fn due_to_send(alert: &AlertRow, now: i64) -> bool {
    alert.state == AlertState::Firing.as_str()
        && match alert.notified_ms {
            None => true,
            Some(at) => alert.acked_by.is_none() && now - at >= REMIND_EVERY_MS,
        }
}

fn severity(s: &str) -> Severity {
    Severity::parse(s).unwrap_or(Severity::Warning)
}

/// Alertmanager's webhook body (version 4) for one alert: what tools that take
/// Alertmanager's webhooks read.
pub fn alertmanager_payload(
    chain: &ChainView,
    alert: &AlertRow,
    node_name: Option<&str>,
    receiver: &str,
) -> Value {
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map_or("0001-01-01T00:00:00Z".to_owned(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
    };
    let status = if alert.state == AlertState::Resolved.as_str() { "resolved" } else { "firing" };
    let mut labels = json!({
        "alertname": alert.rule,
        "chain": chain.name,
        "chain_id": chain.id,
        "severity": alert.severity,
    });
    if let Some(node) = node_name {
        labels["node"] = json!(node);
    }
    let next = RULES.iter().find(|r| r.id == alert.rule).map_or("", |r| r.next);
    let annotations = json!({"summary": alert.summary, "description": next});
    json!({
        "version": "4",
        "groupKey": format!("{}:{}", chain.id, alert.id),
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": alert.rule},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": time(Some(alert.fired_ms.unwrap_or(alert.started_ms))),
            "endsAt": time(alert.resolved_ms),
            "generatorURL": "",
            "fingerprint": alert.id,
        }],
    })
}

fn receiver_view(r: ReceiverRow) -> AlertReceiverView {
    AlertReceiverView {
        kind: if r.kind == "email" { ReceiverKind::Email } else { ReceiverKind::Webhook },
        min_severity: severity(&r.min_severity),
        id: r.id,
        chain_id: r.chain_id,
        org_id: r.org_id,
        target: r.target,
        delivered: r.delivered as u64,
        waiting: r.waiting as u64,
        failed: r.failed as u64,
        last_error: r.last_error,
        created_ms: r.created_ms,
    }
}

fn silence_view(s: SilenceRow) -> SilenceView {
    SilenceView {
        id: s.id,
        chain_id: s.chain_id,
        rule: s.rule,
        node_id: s.subject,
        comment: s.comment,
        created_by: s.created_by,
        created_ms: s.created_ms,
        ends_ms: s.ends_ms,
    }
}

/// An e-mail address, checked the way the mailer will parse it.
fn mailbox(text: &str) -> Result<lettre::message::Mailbox> {
    text.trim().parse().map_err(|e| {
        Error::invalid("bad_address", format!("`{text}` is not an e-mail address: {e}"))
    })
}

impl Platform {
    fn alert_view(&self, chain: &ChainView, a: AlertRow, silences: &[SilenceRow]) -> AlertView {
        let node = chain.nodes.iter().find(|n| n.id == a.subject);
        AlertView {
            silenced_by: silences.iter().find(|s| silences_alert(s, &a)).map(|s| s.id.clone()),
            severity: severity(&a.severity),
            state: AlertState::parse(&a.state).unwrap_or(AlertState::Resolved),
            node_id: (!a.subject.is_empty()).then(|| a.subject.clone()),
            node_name: node.map(|n| n.name.clone()),
            description: RULES.iter().find(|r| r.id == a.rule).map_or("", |r| r.next).to_owned(),
            id: a.id,
            chain_id: a.chain_id,
            rule: a.rule,
            summary: a.summary,
            started_ms: a.started_ms,
            fired_ms: a.fired_ms,
            resolved_ms: a.resolved_ms,
            acknowledged_by: a.acked_by,
            acknowledged_ms: a.acked_ms,
        }
    }

    /// The chain's alerts: the active ones, or the history newest first.
    pub async fn alerts(
        &self,
        caller: &Caller,
        chain: &str,
        q: &AlertQuery,
    ) -> Result<Vec<AlertView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let rows = match q.state.as_deref() {
            None | Some("active") => store::active(&self.db, &chain.id).await?,
            Some("all") => {
                let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
                store::history(&self.db, &chain.id, q.before_ms.unwrap_or(i64::MAX), limit).await?
            }
            Some(other) => {
                return Err(Error::invalid(
                    "bad_state",
                    format!("state `{other}` is neither `active` nor `all`"),
                ));
            }
        };
        let silences = store::silences(&self.db, &chain.id, now_ms()).await?;
        Ok(rows.into_iter().map(|a| self.alert_view(&chain, a, &silences)).collect())
    }

    /// Marks a firing alert as seen to: no more reminders are sent for it.
    pub async fn acknowledge_alert(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
        org: Option<&str>,
    ) -> Result<AlertView> {
        let chain = self.visible_chain(caller, chain).await?;
        self.acting_on_chain(caller, &chain, org, MANAGE, "alerts").await?;
        let alert = store::alert(&self.db, id)
            .await?
            .filter(|a| a.chain_id == chain.id)
            .ok_or_else(|| Error::NotFound(format!("no alert {id} on chain {}", chain.name)))?;
        if alert.state != AlertState::Firing.as_str() {
            return Err(Error::illegal_step(format!(
                "alert {id} is {}; only a firing alert is acknowledged",
                alert.state
            )));
        }
        store::acknowledge(&self.db, id, &caller.user_id, now_ms()).await?;
        let alert = store::alert(&self.db, id).await?.ok_or_else(|| Error::internal("gone"))?;
        let silences = store::silences(&self.db, &chain.id, now_ms()).await?;
        Ok(self.alert_view(&chain, alert, &silences))
    }

    /// The rules as the chain has them, with their active alerts counted.
    pub async fn alert_rules(&self, caller: &Caller, chain: &str) -> Result<Vec<AlertRuleView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let settings = store::rule_settings(&self.db, &chain.id).await?;
        let active = store::active(&self.db, &chain.id).await?;
        Ok(RULES
            .iter()
            .map(|r| {
                let e = effective(r, &settings);
                AlertRuleView {
                    rule: r.id.into(),
                    severity: r.severity,
                    description: r.description.into(),
                    enabled: e.enabled,
                    for_ms: e.for_ms,
                    threshold: e.threshold,
                    unit: r.threshold.map(|(_, u)| u.into()),
                    active: active.iter().filter(|a| a.rule == r.id).count() as u32,
                }
            })
            .collect())
    }

    /// Changes a rule's settings on the chain.
    pub async fn update_alert_rule(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
        req: &UpdateAlertRuleRequest,
    ) -> Result<AlertRuleView> {
        let chain = self.visible_chain(caller, chain).await?;
        let rule = rule(id)?;
        self.acting_on_chain(caller, &chain, req.org_id.as_deref(), MANAGE, "alerts").await?;
        if req.threshold.is_some() && rule.threshold.is_none() {
            return Err(Error::invalid(
                "bad_threshold",
                format!("rule {id} has no threshold to set"),
            ));
        }
        if req.for_ms.is_some_and(|f| f > 86_400_000) {
            return Err(Error::invalid("bad_for", "`for_ms` is at most a day (86400000)"));
        }
        let now = effective(rule, &store::rule_settings(&self.db, &chain.id).await?);
        let setting = RuleSetting {
            rule: rule.id.into(),
            enabled: req.enabled.unwrap_or(now.enabled),
            for_ms: req.for_ms.unwrap_or(now.for_ms) as i64,
            threshold: req.threshold.or(now.threshold).map(|t| t as i64),
        };
        store::set_rule(&self.db, &chain.id, &setting, &caller.user_id, now_ms()).await?;
        let rules = self.alert_rules(caller, &chain.id).await?;
        rules.into_iter().find(|r| r.rule == id).ok_or_else(|| Error::internal("rule gone"))
    }

    /// A new receiver of the chain's alerts, for one of the caller's organizations.
    pub async fn create_alert_receiver(
        &self,
        caller: &Caller,
        chain: &str,
        req: &CreateAlertReceiverRequest,
    ) -> Result<CreatedAlertReceiverView> {
        let chain = self.visible_chain(caller, chain).await?;
        let org =
            self.acting_on_chain(caller, &chain, req.org_id.as_deref(), MANAGE, "alerts").await?;
        let id = new_id("rcv");
        let (kind, target, secret) = match req.kind {
            ReceiverKind::Webhook => {
                let url = super::webhooks::check_url(&req.target)?;
                let secret = Zeroizing::new(format!("whsec_{}", credentials::random_secret()));
                ("webhook", url, Some(secret))
            }
            ReceiverKind::Email => {
                if self.mailer.is_none() {
                    return Err(Error::illegal_step(
                        "the platform has no SMTP server to send e-mail through: start it with \
                         --smtp-url smtp://HOST:PORT and --smtp-from ADDRESS",
                    ));
                }
                ("email", mailbox(&req.target)?.email.to_string(), None)
            }
        };
        let sealed = match &secret {
            Some(s) => Some(self.keys()?.seal(&Secret::AlertReceiver { receiver: id.clone() }, s)?),
            None => None,
        };
        let min = req.min_severity.unwrap_or(Severity::Warning);
        let new = store::NewReceiver {
            id: &id,
            chain: &chain.id,
            org: &org,
            created_by: &caller.user_id,
            kind,
            target: &target,
            secret: sealed.as_deref(),
            min_severity: min.as_str(),
            now: now_ms(),
        };
        store::insert_receiver(&self.db, &new).await?;
        self.tell_what_fires(&chain.id, &id, min).await?;
        let row = store::receiver(&self.db, &id).await?.ok_or_else(|| Error::internal("gone"))?;
        Ok(CreatedAlertReceiverView {
            receiver: receiver_view(row),
            secret: secret.map(|s| s.to_string()),
        })
    }

    /// Sends a new receiver the chain's alerts that already fire and were sent to the others
    /// (as Alertmanager does for a receiver added to its configuration), so it does not wait
    /// hours for their reminder. Alerts not sent yet go to it with everyone's at the next look.
    async fn tell_what_fires(&self, chain: &str, receiver: &str, min: Severity) -> Result<()> {
        let now = now_ms();
        let silences = store::silences(&self.db, chain, now).await?;
        for a in store::active(&self.db, chain).await? {
            let told = a.state == AlertState::Firing.as_str() && a.notified_ms.is_some();
            if told
                && severity(&a.severity) >= min
                && !silences.iter().any(|s| silences_alert(s, &a))
            {
                store::enqueue(&self.db, &a.id, receiver, "firing", now).await?;
            }
        }
        Ok(())
    }

    /// The chain's receivers of the caller's organizations (an administrator sees all).
    pub async fn alert_receivers(
        &self,
        caller: &Caller,
        chain: &str,
    ) -> Result<Vec<AlertReceiverView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let mine = self.own_orgs_among(caller, &chain.orgs).await?;
        Ok(store::receivers(&self.db, &chain.id)
            .await?
            .into_iter()
            .filter(|r| caller.admin || mine.contains(&r.org_id))
            .map(receiver_view)
            .collect())
    }

    pub async fn delete_alert_receiver(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
    ) -> Result<()> {
        let chain = self.visible_chain(caller, chain).await?;
        let row =
            store::receiver(&self.db, id).await?.filter(|r| r.chain_id == chain.id).ok_or_else(
                || Error::NotFound(format!("no alert receiver {id} on chain {}", chain.name)),
            )?;
        self.authorize_in_chain(caller, &row.org_id, MANAGE, &chain, "alerts").await?;
        let mut tx = self.db.begin().await?;
        store::delete_receiver(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A silence: matching alerts are shown, not sent, until it ends.
    pub async fn create_silence(
        &self,
        caller: &Caller,
        chain: &str,
        req: &CreateSilenceRequest,
    ) -> Result<SilenceView> {
        let chain = self.visible_chain(caller, chain).await?;
        self.acting_on_chain(caller, &chain, req.org_id.as_deref(), MANAGE, "alerts").await?;
        if let Some(r) = &req.rule {
            rule(r)?;
        }
        if let Some(node) = &req.node_id
            && !chain.nodes.iter().any(|n| n.id == *node)
        {
            return Err(Error::NotFound(format!("chain {} has no node {node}", chain.name)));
        }
        if req.duration_ms == 0 || req.duration_ms > MAX_SILENCE_MS {
            return Err(Error::invalid(
                "bad_duration",
                "a silence lasts more than 0 ms and at most 30 days",
            ));
        }
        let now = now_ms();
        let row = SilenceRow {
            id: new_id("sil"),
            chain_id: chain.id.clone(),
            rule: req.rule.clone(),
            subject: req.node_id.clone(),
            comment: req.comment.trim().to_owned(),
            created_by: caller.user_id.clone(),
            created_ms: now,
            ends_ms: now + req.duration_ms as i64,
        };
        store::insert_silence(&self.db, &row).await?;
        Ok(silence_view(row))
    }

    /// The chain's silences that have not ended.
    pub async fn silences(&self, caller: &Caller, chain: &str) -> Result<Vec<SilenceView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let rows = store::silences(&self.db, &chain.id, now_ms()).await?;
        Ok(rows.into_iter().map(silence_view).collect())
    }

    /// Ends a silence now.
    pub async fn end_silence(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
        org: Option<&str>,
    ) -> Result<()> {
        let chain = self.visible_chain(caller, chain).await?;
        self.acting_on_chain(caller, &chain, org, MANAGE, "alerts").await?;
        if !store::end_silence(&self.db, &chain.id, id, now_ms()).await? {
            return Err(Error::NotFound(format!(
                "no running silence {id} on chain {}",
                chain.name
            )));
        }
        Ok(())
    }

    /// One look at every running chain, then the notifications due.
    async fn evaluate_all(&self) -> Result<()> {
        let running = crate::store::chains::ids_with_status(
            &self.db,
            consortia_api::platform::ChainStatus::Running,
        )
        .await?;
        for id in running {
            if let Err(e) = self.evaluate(&id).await {
                tracing::warn!(target: "platform::alerts", chain = %id, error = %e, "evaluation failed");
            }
        }
        self.send_due().await
    }

    /// One look at a chain: conditions, alert changes, and what is to be sent.
    async fn evaluate(&self, id: &str) -> Result<()> {
        let chain = self.load_chain(id).await?;
        let texts = self.scrape(&chain).await?;
        let readings: Vec<Reading> = chain
            .nodes
            .iter()
            .zip(texts)
            .map(|(n, t)| Reading {
                node_id: n.id.clone(),
                node_name: n.name.clone(),
                figures: t.map(|t| Figures::from_text(&t)),
            })
            .collect();
        let settings = store::rule_settings(&self.db, &chain.id).await?;
        let rules = |r: &Rule| effective(r, &settings);
        let now = now_ms();
        let mut memory = self.alert_memory(&chain.id).await?;
        let holding = conditions(&rules, &chain.name, &readings, &mut memory, now);
        let remembered = serde_json::to_string(&memory)
            .map_err(|e| Error::internal(format!("alert memory: {e}")))?;
        store::save_memory(&self.db, &chain.id, &remembered, now).await?;
        let active = store::active(&self.db, &chain.id).await?;
        let for_ms = |id: &str| RULES.iter().find(|r| r.id == id).map_or(0, |r| rules(r).for_ms);
        let receivers = store::receivers(&self.db, &chain.id).await?;
        for change in step(&chain.id, &active, &holding, &for_ms, now) {
            match change {
                Change::Insert(a) => store::insert_alert(&self.db, &a).await?,
                Change::Delete(id) => store::delete_alert(&self.db, &id).await?,
                Change::Update(a) => {
                    store::update_alert(&self.db, &a).await?;
                    if a.state == AlertState::Resolved.as_str() {
                        tracing::info!(target: "platform::alerts", chain = %chain.id, alert = %a.id, rule = %a.rule, "resolved");
                        for r in &receivers {
                            if store::was_told(&self.db, &a.id, &r.id).await? {
                                store::enqueue(&self.db, &a.id, &r.id, "resolved", now).await?;
                            }
                        }
                    }
                }
            }
        }
        let silences = store::silences(&self.db, &chain.id, now).await?;
        for mut a in store::active(&self.db, &chain.id).await? {
            if !due_to_send(&a, now) || silences.iter().any(|s| silences_alert(s, &a)) {
                continue;
            }
            let event = if a.notified_ms.is_some() { "reminder" } else { "firing" };
            tracing::warn!(target: "platform::alerts", chain = %chain.id, alert = %a.id, rule = %a.rule, summary = %a.summary, "{event}");
            for r in receivers.iter().filter(|r| severity(&a.severity) >= severity(&r.min_severity))
            {
                store::enqueue(&self.db, &a.id, &r.id, event, now).await?;
            }
            a.notified_ms = Some(now);
            store::update_alert(&self.db, &a).await?;
        }
        Ok(())
    }

    /// What evaluation remembered of the chain at its last look; nothing if it never looked, or
    /// if what it kept cannot be read (its counters then start over from the next reading).
    async fn alert_memory(&self, chain: &str) -> Result<Memory> {
        let Some(json) = store::memory(&self.db, chain).await? else {
            return Ok(Memory::default());
        };
        Ok(serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::warn!(target: "platform::alerts", chain, error = %e, "alert memory unreadable; starting over");
            Memory::default()
        }))
    }

    /// Sends every notification due, each retried with doubling waits until given up on.
    async fn send_due(&self) -> Result<()> {
        let mut chains: HashMap<String, ChainView> = HashMap::new();
        for (id, alert, receiver, event, attempts) in store::due(&self.db, now_ms()).await? {
            let (Some(alert), Some(receiver)) = (
                store::alert(&self.db, &alert).await?,
                store::receiver(&self.db, &receiver).await?,
            ) else {
                continue;
            };
            if !chains.contains_key(&alert.chain_id) {
                chains.insert(alert.chain_id.clone(), self.load_chain(&alert.chain_id).await?);
            }
            let chain = &chains[&alert.chain_id];
            let sent = self.send(chain, &alert, &receiver, &event, &id).await;
            let now = now_ms();
            match sent {
                Ok(()) => store::delivered(&self.db, &id, now).await?,
                Err(why) => {
                    let give_up = attempts + 1 >= MAX_ATTEMPTS;
                    let next = now + super::webhooks::backoff_ms(attempts);
                    tracing::warn!(target: "platform::alerts", notification = %id, receiver = %receiver.id, %why, give_up, "not sent");
                    store::attempt_failed(&self.db, &id, &why, next, give_up).await?;
                }
            }
        }
        Ok(())
    }

    /// One notification, by webhook or e-mail; `Err` with why it was not delivered.
    async fn send(
        &self,
        chain: &ChainView,
        alert: &AlertRow,
        receiver: &ReceiverRow,
        event: &str,
        delivery: &str,
    ) -> std::result::Result<(), String> {
        let node = chain.nodes.iter().find(|n| n.id == alert.subject).map(|n| n.name.as_str());
        if receiver.kind == "email" {
            return self.mail(chain, alert, node, &receiver.target, event).await;
        }
        let sealed = receiver.secret.as_deref().ok_or("the receiver has no secret")?;
        let secret = self
            .keys()
            .and_then(|k| k.open(&Secret::AlertReceiver { receiver: receiver.id.clone() }, sealed))
            .map_err(|e| format!("its secret cannot be opened: {e}"))?;
        let payload = alertmanager_payload(chain, alert, node, &receiver.id);
        let body = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        let headers = [("x-consortia-alert-receiver", receiver.id.as_str())];
        super::webhooks::post_signed(&receiver.target, &headers, delivery, &secret, body).await
    }

    /// An alert by e-mail through the platform's SMTP server.
    async fn mail(
        &self,
        chain: &ChainView,
        alert: &AlertRow,
        node: Option<&str>,
        to: &str,
        event: &str,
    ) -> std::result::Result<(), String> {
        use lettre::AsyncTransport;
        let (transport, from) = self.mailer.as_ref().ok_or("the platform has no SMTP server")?;
        let status = match event {
            "resolved" => "RESOLVED",
            "reminder" => "STILL FIRING",
            _ => "FIRING",
        };
        let subject = format!("[{status}:{}] {}: {}", alert.severity, alert.rule, alert.summary);
        let next = RULES.iter().find(|r| r.id == alert.rule).map_or("", |r| r.next);
        let when = |ms: Option<i64>| {
            ms.and_then(chrono::DateTime::from_timestamp_millis)
                .map_or("-".to_owned(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        let body = format!(
            "{}\n\nChain: {} ({})\nNode: {}\nRule: {} ({})\nFiring since: {}\nResolved: {}\n\n\
             What to check: {next}\n\nAlert {} on the console's Alerts page.\n",
            alert.summary,
            chain.name,
            chain.id,
            node.unwrap_or("-"),
            alert.rule,
            alert.severity,
            when(alert.fired_ms),
            when(alert.resolved_ms),
            alert.id,
        );
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(mailbox(to).map_err(|e| e.to_string())?)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("the message cannot be built: {e}"))?;
        transport.send(message).await.map(|_| ()).map_err(|e| format!("not sent: {e}"))
    }
}

/// The SMTP server alert e-mail goes through, and the sender it names.
pub type Mailer = (lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, lettre::message::Mailbox);

/// The mailer of `--smtp-url` (`smtp://host:port` plain, `smtp://host?tls=required` with
/// STARTTLS, `smtps://host` with TLS; credentials as `user:password@`) and `--smtp-from`.
pub fn mailer(url: &str, from: &str) -> std::result::Result<Mailer, String> {
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        .map_err(|e| format!("--smtp-url: {e}"))?
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let from = from.parse().map_err(|e| format!("--smtp-from `{from}`: {e}"))?;
    Ok((transport, from))
}

/// Evaluates the alert rules while the platform runs.
pub(crate) async fn alert_job(platform: Weak<Platform>) {
    loop {
        tokio::time::sleep(EVALUATE_EVERY).await;
        let Some(platform) = platform.upgrade() else { return };
        if platform.seal_status().sealed {
            continue;
        }
        if let Err(e) = platform.evaluate_all().await {
            tracing::warn!(target: "platform::alerts", error = %e, "alert round failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(r: &Rule) -> Effective {
        effective(r, &[])
    }

    fn up(id: &str, f: Figures) -> Reading {
        Reading { node_id: id.into(), node_name: format!("n-{id}"), figures: Ok(f) }
    }

    fn down(id: &str) -> Reading {
        Reading { node_id: id.into(), node_name: format!("n-{id}"), figures: Err("refused".into()) }
    }

    fn healthy() -> Figures {
        Figures {
            height: 10.0,
            peers: 3.0,
            commits: 10.0,
            commit_seconds_sum: 0.1,
            ..Figures::default()
        }
    }

    fn rules_of(held: &[Condition]) -> Vec<(&'static str, &str)> {
        held.iter().map(|c| (c.rule, c.subject.as_str())).collect()
    }

    fn look(readings: &[Reading], memory: &mut Memory, now: i64) -> Vec<Condition> {
        conditions(&defaults, "demo", readings, memory, now)
    }

    #[test]
    fn figures_read_labelled_refusals_and_the_earliest_certificate() {
        let text = "# TYPE x counter\n\
            consortia_mempool_refused_total{reason=\"pool_full\"} 3\n\
            consortia_mempool_refused_total{reason=\"bad_nonce\"} 7\n\
            consortia_certificate_expiry_timestamp_seconds{certificate=\"p2p\"} 2000\n\
            consortia_certificate_expiry_timestamp_seconds{certificate=\"ca\"} 1000\n\
            consortia_peers 3\n";
        let f = Figures::from_text(text);
        assert_eq!((f.pool_full_refusals, f.peers), (3.0, 3.0));
        assert_eq!(f.certificate_expiry_s, Some(1000.0));
    }

    #[test]
    fn a_node_that_does_not_answer_is_down_and_its_peers_are_not_lost() {
        let readings = [
            up("a", Figures { peers: 2.0, ..healthy() }),
            up("b", Figures { peers: 2.0, ..healthy() }),
            up("c", Figures { peers: 2.0, ..healthy() }),
            down("d"),
        ];
        let held = look(&readings, &mut Memory::default(), 1_000);
        assert_eq!(rules_of(&held), [("node_down", "d")]);
        assert!(held[0].summary.contains("n-d of chain demo does not answer: refused"));
    }

    #[test]
    fn a_node_with_fewer_peers_than_the_nodes_that_answer_lost_a_peer() {
        let readings = [
            up("a", Figures { peers: 1.0, ..healthy() }),
            up("b", healthy()),
            up("c", healthy()),
            up("d", healthy()),
        ];
        assert_eq!(rules_of(&look(&readings, &mut Memory::default(), 1_000)), [("peer_lost", "a")]);
    }

    #[test]
    fn a_chain_stalls_only_while_transactions_wait_and_the_height_stands() {
        let mut memory = Memory::default();
        let waiting = |height| [up("a", Figures { height, ready: 5.0, ..healthy() })];
        assert!(look(&waiting(10.0), &mut memory, 1_000).is_empty(), "first look: no history");
        assert_eq!(rules_of(&look(&waiting(10.0), &mut memory, 6_000)), [("chain_stalled", "")]);
        assert!(look(&waiting(11.0), &mut memory, 11_000).is_empty(), "a new block");
        let idle = [up("a", Figures { height: 11.0, ..healthy() })];
        assert!(look(&idle, &mut memory, 16_000).is_empty(), "nothing waits");
    }

    #[test]
    fn memory_kept_as_json_carries_a_stall_and_a_rise_across_a_restart() {
        let at = |e| [up("a", Figures { height: 10.0, ready: 5.0, equivocations: e, ..healthy() })];
        let mut memory = Memory::default();
        assert!(look(&at(1.0), &mut memory, 1_000).is_empty());
        let held = look(&at(2.0), &mut memory, 6_000);
        let mut before = rules_of(&held);
        before.sort();
        assert_eq!(before, [("chain_stalled", ""), ("equivocation", "a")]);
        // The platform restarts and reads back what it kept.
        let mut kept: Memory =
            serde_json::from_str(&serde_json::to_string(&memory).unwrap()).unwrap();
        assert_eq!(kept, memory);
        let held = look(&at(2.0), &mut kept, 11_000);
        let mut after = rules_of(&held);
        after.sort();
        assert_eq!(after, before, "both still hold");
        assert!(
            look(&at(2.0), &mut Memory::default(), 11_000).is_empty(),
            "forgetting resolves both"
        );
    }

    #[test]
    fn counters_raise_their_rules_when_they_rise_and_for_five_minutes_after() {
        let mut memory = Memory::default();
        let at = |e, p| [up("a", Figures { equivocations: e, pool_full_refusals: p, ..healthy() })];
        assert!(look(&at(2.0, 4.0), &mut memory, 1_000).is_empty(), "a first reading is no rise");
        let held = look(&at(3.0, 5.0), &mut memory, 6_000);
        assert_eq!(rules_of(&held), [("equivocation", "a"), ("pool_full", "a")]);
        assert_eq!(look(&at(3.0, 5.0), &mut memory, 6_000 + RECENT_MS - 1).len(), 2);
        assert!(look(&at(3.0, 5.0), &mut memory, 6_000 + RECENT_MS).is_empty());
    }

    /// Regression: a node that had committed nothing counted every reading as its first, so
    /// its counters' rises went unseen.
    #[test]
    fn regression_a_rise_counts_on_a_node_that_never_committed() {
        let mut memory = Memory::default();
        let idle = |e| {
            [up(
                "a",
                Figures { equivocations: e, commits: 0.0, commit_seconds_sum: 0.0, ..healthy() },
            )]
        };
        assert!(look(&idle(0.0), &mut memory, 1_000).is_empty());
        assert_eq!(rules_of(&look(&idle(1.0), &mut memory, 6_000)), [("equivocation", "a")]);
    }

    #[test]
    fn slow_commits_read_the_mean_between_two_looks() {
        let mut memory = Memory::default();
        let at = |sum, count| {
            [up("a", Figures { commit_seconds_sum: sum, commits: count, ..healthy() })]
        };
        assert!(look(&at(100.0, 10.0), &mut memory, 1_000).is_empty(), "the mean since start");
        assert!(look(&at(100.5, 20.0), &mut memory, 6_000).is_empty(), "50 ms a block");
        let held = look(&at(115.5, 30.0), &mut memory, 11_000);
        assert_eq!(rules_of(&held), [("slow_commits", "a")]);
        assert!(held[0].summary.contains("1500 ms"), "{}", held[0].summary);
        assert_eq!(look(&at(115.5, 30.0), &mut memory, 16_000).len(), 1, "no commits: as before");
    }

    #[test]
    fn memory_over_the_threshold_is_high() {
        let big = [up("a", Figures { resident_bytes: 300.0 * 1_048_576.0, ..healthy() })];
        assert_eq!(rules_of(&look(&big, &mut Memory::default(), 1)), [("memory_high", "a")]);
    }

    #[test]
    fn a_certificate_within_a_week_of_its_end_is_critical() {
        let now = 1_000_000_000_000;
        let expiring = |days: f64| {
            let at = now as f64 / 1000.0 + days * 86_400.0;
            [up("a", Figures { certificate_expiry_s: Some(at), ..healthy() })]
        };
        assert!(look(&expiring(40.0), &mut Memory::default(), now).is_empty());
        let soon = look(&expiring(20.0), &mut Memory::default(), now);
        assert_eq!((soon[0].rule, soon[0].severity), ("certificate_expiry", Severity::Warning));
        let sooner = look(&expiring(3.0), &mut Memory::default(), now);
        assert_eq!(sooner[0].severity, Severity::Critical);
        assert!(
            look(&expiring(-1.0), &mut Memory::default(), now)[0].summary.contains("has expired")
        );
    }

    #[test]
    fn a_disabled_rule_raises_nothing() {
        let settings =
            [RuleSetting { rule: "node_down".into(), enabled: false, for_ms: 0, threshold: None }];
        let rules = |r: &Rule| effective(r, &settings);
        assert!(conditions(&rules, "demo", &[down("d")], &mut Memory::default(), 1).is_empty());
    }

    fn condition(rule: &'static str, subject: &str) -> Condition {
        Condition {
            rule,
            subject: subject.into(),
            severity: Severity::Critical,
            summary: "s".into(),
        }
    }

    fn only(changes: Vec<Change>) -> Change {
        assert_eq!(changes.len(), 1, "{changes:?}");
        changes.into_iter().next().unwrap()
    }

    #[test]
    fn a_condition_is_pending_until_it_held_for_the_rules_for_then_fires() {
        let for_a_minute = |_: &str| 60_000;
        let Change::Insert(pending) =
            only(step("c", &[], &[condition("node_down", "d")], &for_a_minute, 1_000))
        else {
            panic!("not inserted")
        };
        assert_eq!((pending.state.as_str(), pending.fired_ms), ("pending", None));
        let held = [condition("node_down", "d")];
        assert!(step("c", std::slice::from_ref(&pending), &held, &for_a_minute, 60_999).is_empty());
        let Change::Update(fired) = only(step("c", &[pending], &held, &for_a_minute, 61_000))
        else {
            panic!("not updated")
        };
        assert_eq!((fired.state.as_str(), fired.fired_ms), ("firing", Some(61_000)));
    }

    #[test]
    fn a_rule_without_for_fires_at_once() {
        let Change::Insert(a) = only(step("c", &[], &[condition("equivocation", "a")], &|_| 0, 5))
        else {
            panic!("not inserted")
        };
        assert_eq!((a.state.as_str(), a.fired_ms), ("firing", Some(5)));
    }

    #[test]
    fn a_pending_alert_that_clears_leaves_no_trace_and_a_firing_one_is_resolved() {
        let Change::Insert(pending) =
            only(step("c", &[], &[condition("node_down", "d")], &|_| 60_000, 1))
        else {
            panic!()
        };
        assert_eq!(
            only(step("c", std::slice::from_ref(&pending), &[], &|_| 60_000, 2)),
            Change::Delete(pending.id.clone())
        );
        let firing = AlertRow { state: "firing".into(), fired_ms: Some(2), ..pending };
        let Change::Update(resolved) = only(step("c", &[firing], &[], &|_| 60_000, 9)) else {
            panic!()
        };
        assert_eq!((resolved.state.as_str(), resolved.resolved_ms), ("resolved", Some(9)));
    }

    fn firing(notified: Option<i64>, acked: bool) -> AlertRow {
        let Change::Insert(a) = only(step("c", &[], &[condition("node_down", "d")], &|_| 0, 0))
        else {
            panic!()
        };
        AlertRow { notified_ms: notified, acked_by: acked.then(|| "u".into()), ..a }
    }

    #[test]
    fn a_firing_alert_is_sent_once_then_reminded_until_acknowledged() {
        assert!(due_to_send(&firing(None, false), 1));
        assert!(!due_to_send(&firing(Some(0), false), REMIND_EVERY_MS - 1));
        assert!(due_to_send(&firing(Some(0), false), REMIND_EVERY_MS));
        assert!(!due_to_send(&firing(Some(0), true), REMIND_EVERY_MS));
        assert!(due_to_send(&firing(None, true), 1), "acknowledged before it was ever sent");
    }

    #[test]
    fn a_silence_matches_by_rule_and_node_where_it_names_them() {
        let silence = |rule: Option<&str>, subject: Option<&str>| SilenceRow {
            id: "s".into(),
            chain_id: "c".into(),
            rule: rule.map(Into::into),
            subject: subject.map(Into::into),
            comment: String::new(),
            created_by: "u".into(),
            created_ms: 0,
            ends_ms: 1,
        };
        let alert = firing(None, false);
        assert!(silences_alert(&silence(None, None), &alert));
        assert!(silences_alert(&silence(Some("node_down"), Some("d")), &alert));
        assert!(!silences_alert(&silence(Some("peer_lost"), None), &alert));
        assert!(!silences_alert(&silence(None, Some("e")), &alert));
    }

    #[test]
    fn the_webhook_body_is_alertmanagers_version_4() {
        let chain = crate::service::test_chain("ch_1", "demo", 0);
        let mut alert = firing(None, false);
        alert.fired_ms = Some(1_700_000_000_000);
        let body = alertmanager_payload(&chain, &alert, Some("bank-0"), "rcv_1");
        assert_eq!(
            (body["version"].as_str(), body["status"].as_str()),
            (Some("4"), Some("firing"))
        );
        let first = &body["alerts"][0];
        assert_eq!(first["labels"]["alertname"], "node_down");
        assert_eq!(first["labels"]["node"], "bank-0");
        assert_eq!(first["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(first["endsAt"], "0001-01-01T00:00:00Z");
        assert!(first["annotations"]["description"].as_str().unwrap().contains("nodes page"));
    }
}
