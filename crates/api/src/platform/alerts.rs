//! Alerts: the rules the platform evaluates on each running chain, the alerts they raise,
//! where they are sent (signed webhooks, e-mail), silences and acknowledgements.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How bad an alert is: `critical` wants someone now, `warning` today.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Where an alert is in its life, as Prometheus names it: `pending` while its condition has
/// held for less than the rule's `for`, `firing` after, `resolved` once it no longer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// A rule as it stands on a chain: its default or the chain's own settings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertRuleView {
    /// `node_down`, `chain_stalled`, `peer_lost`, `equivocation`, `slow_commits`,
    /// `memory_high`, `pool_full`, `certificate_expiry`.
    pub rule: String,
    pub severity: Severity,
    /// What it watches, in words.
    pub description: String,
    pub enabled: bool,
    /// How long the condition must hold before the alert fires (0: at once).
    pub for_ms: u64,
    /// The rule's threshold in `unit`, if it has one.
    pub threshold: Option<u64>,
    /// `MiB`, `ms` or `days`.
    pub unit: Option<String>,
    /// Its alerts pending or firing now.
    pub active: u32,
}

/// A change to a rule's settings on one chain (absent fields stay as they are).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateAlertRuleRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// The organization acting (see `CallRequest.org_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// One alert: a rule's condition on one node (or the whole chain).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    pub chain_id: String,
    pub rule: String,
    pub severity: Severity,
    pub state: AlertState,
    /// The node it is about (none: the chain).
    pub node_id: Option<String>,
    pub node_name: Option<String>,
    /// What is wrong, in one line.
    pub summary: String,
    /// What to check next.
    pub description: String,
    /// When the condition was first seen, when the alert fired and when it was resolved.
    pub started_ms: i64,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    /// Who acknowledged it ("someone is on it": no more reminders), and when.
    pub acknowledged_by: Option<String>,
    pub acknowledged_ms: Option<i64>,
    /// The silence that keeps it from being sent, if one matches now.
    pub silenced_by: Option<String>,
}

/// Which alerts: the active ones (pending and firing), or the history newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `active` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Only alerts that started before this time (paging the history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_ms: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The organization acting, for a call whose body carries nothing else.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ActingOrg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// Where an alert receiver sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// POSTs Alertmanager's webhook JSON (version 4), signed like event webhooks.
    Webhook,
    /// Sends an e-mail through the platform's SMTP server.
    Email,
}

/// A new receiver: a URL or an e-mail address that gets the chain's alerts of `min_severity`
/// and worse when they fire and when they are resolved.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateAlertReceiverRequest {
    pub kind: ReceiverKind,
    /// `http(s)://…` for a webhook, `name@example.com` for e-mail.
    pub target: String,
    /// Default `warning` (everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A receiver and how its notifications stand.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertReceiverView {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub kind: ReceiverKind,
    pub target: String,
    pub min_severity: Severity,
    /// Notifications delivered, waiting (retried with doubling waits), and given up on.
    pub delivered: u64,
    pub waiting: u64,
    pub failed: u64,
    /// Why the latest failed attempt failed.
    pub last_error: Option<String>,
    pub created_ms: i64,
}

/// A new receiver, with the webhook's signing secret (shown once; none for e-mail).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedAlertReceiverView {
    pub receiver: AlertReceiverView,
    /// The HMAC-SHA256 key of `X-Consortia-Signature`, as for event webhooks.
    pub secret: Option<String>,
}

/// A new silence: matching alerts are shown but not sent until `ends_ms`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateSilenceRequest {
    /// Only this rule (none: every rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Only this node (none: every node and the chain itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// How long, from now (at most 30 days).
    pub duration_ms: u64,
    /// Why (shown beside the alerts it silences).
    #[serde(default)]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A silence.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    pub chain_id: String,
    pub rule: Option<String>,
    pub node_id: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
    pub ends_ms: i64,
}
