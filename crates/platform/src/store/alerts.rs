//! Alerts: rule settings per chain, alerts, receivers, the notification outbox, silences.

use sqlx::Row;

use super::{Exec, Tx, new_id};
use crate::error::Result;

/// A chain's settings of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSetting {
    pub rule: String,
    pub enabled: bool,
    pub for_ms: i64,
    pub threshold: Option<i64>,
}

/// What evaluation remembered of `chain` at its last look (JSON), if it ever looked.
pub async fn memory(db: impl Exec<'_>, chain: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT memory FROM alert_memory WHERE chain_id = $1")
        .bind(chain)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn save_memory(db: impl Exec<'_>, chain: &str, memory: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_memory (chain_id, memory, updated_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (chain_id) DO UPDATE SET memory = $2, updated_ms = $3",
    )
    .bind(chain)
    .bind(memory)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn rule_settings(db: impl Exec<'_>, chain: &str) -> Result<Vec<RuleSetting>> {
    let rows = sqlx::query(
        "SELECT rule, enabled, for_ms, threshold FROM alert_rule_settings WHERE chain_id = $1",
    )
    .bind(chain)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| RuleSetting {
            rule: r.get(0),
            enabled: r.get::<i64, _>(1) == 1,
            for_ms: r.get(2),
            threshold: r.get(3),
        })
        .collect())
}

pub async fn set_rule(
    db: impl Exec<'_>,
    chain: &str,
    s: &RuleSetting,
    user: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_rule_settings (chain_id, rule, enabled, for_ms, threshold, updated_by, \
         updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain_id, rule) DO UPDATE \
         SET enabled = $3, for_ms = $4, threshold = $5, updated_by = $6, updated_ms = $7",
    )
    .bind(chain)
    .bind(&s.rule)
    .bind(i64::from(s.enabled))
    .bind(s.for_ms)
    .bind(s.threshold)
    .bind(user)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// An alert's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub chain_id: String,
    pub rule: String,
    /// The node's id, `""` for the chain.
    pub subject: String,
    pub severity: String,
    pub state: String,
    pub summary: String,
    pub started_ms: i64,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub notified_ms: Option<i64>,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
}

const ALERT_COLUMNS: &str = "SELECT id, chain_id, rule, subject, severity, state, summary, \
     started_ms, fired_ms, resolved_ms, notified_ms, acked_by, acked_ms FROM alerts";

fn alert_row(r: &sqlx::any::AnyRow) -> AlertRow {
    AlertRow {
        id: r.get(0),
        chain_id: r.get(1),
        rule: r.get(2),
        subject: r.get(3),
        severity: r.get(4),
        state: r.get(5),
        summary: r.get(6),
        started_ms: r.get(7),
        fired_ms: r.get(8),
        resolved_ms: r.get(9),
        notified_ms: r.get(10),
        acked_by: r.get(11),
        acked_ms: r.get(12),
    }
}

pub async fn insert_alert(db: impl Exec<'_>, a: &AlertRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO alerts (id, chain_id, rule, subject, severity, state, summary, started_ms, \
         fired_ms, resolved_ms, notified_ms, acked_by, acked_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&a.id)
    .bind(&a.chain_id)
    .bind(&a.rule)
    .bind(&a.subject)
    .bind(&a.severity)
    .bind(&a.state)
    .bind(&a.summary)
    .bind(a.started_ms)
    .bind(a.fired_ms)
    .bind(a.resolved_ms)
    .bind(a.notified_ms)
    .bind(&a.acked_by)
    .bind(a.acked_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// Writes what evaluation changes: state, severity, summary and the times.
pub async fn update_alert(db: impl Exec<'_>, a: &AlertRow) -> Result<()> {
    sqlx::query(
        "UPDATE alerts SET state = $1, severity = $2, summary = $3, fired_ms = $4, \
         resolved_ms = $5, notified_ms = $6 WHERE id = $7",
    )
    .bind(&a.state)
    .bind(&a.severity)
    .bind(&a.summary)
    .bind(a.fired_ms)
    .bind(a.resolved_ms)
    .bind(a.notified_ms)
    .bind(&a.id)
    .execute(db)
    .await?;
    Ok(())
}

/// A pending alert whose condition cleared before it fired: it leaves no history.
pub async fn delete_alert(db: impl Exec<'_>, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM alerts WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Ends a chain's active alerts (it is archived: nothing is watched any more); pending ones
/// leave no trace.
pub async fn end_all(db: &mut Tx, chain: &str, now: i64) -> Result<()> {
    sqlx::query("DELETE FROM alerts WHERE chain_id = $1 AND state = 'pending'")
        .bind(chain)
        .execute(&mut **db)
        .await?;
    sqlx::query(
        "UPDATE alerts SET state = 'resolved', resolved_ms = $1 WHERE chain_id = $2 AND state = 'firing'",
    )
    .bind(now)
    .bind(chain)
    .execute(&mut **db)
    .await?;
    Ok(())
}

pub async fn acknowledge(db: impl Exec<'_>, id: &str, user: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE alerts SET acked_by = $1, acked_ms = $2 WHERE id = $3")
        .bind(user)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn alert(db: impl Exec<'_>, id: &str) -> Result<Option<AlertRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{ALERT_COLUMNS} WHERE id = $1"));
    Ok(sqlx::query(sql).bind(id).fetch_optional(db).await?.as_ref().map(alert_row))
}

/// The chain's pending and firing alerts, oldest first.
pub async fn active(db: impl Exec<'_>, chain: &str) -> Result<Vec<AlertRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{ALERT_COLUMNS} WHERE chain_id = $1 AND state <> 'resolved' ORDER BY started_ms, id"
    ));
    Ok(sqlx::query(sql).bind(chain).fetch_all(db).await?.iter().map(alert_row).collect())
}

/// The chain's alerts that started before `before_ms`, newest first.
pub async fn history(
    db: impl Exec<'_>,
    chain: &str,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<AlertRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{ALERT_COLUMNS} WHERE chain_id = $1 AND started_ms < $2 \
         ORDER BY started_ms DESC, id DESC LIMIT $3"
    ));
    let rows = sqlx::query(sql).bind(chain).bind(before_ms).bind(limit).fetch_all(db).await?;
    Ok(rows.iter().map(alert_row).collect())
}

/// A receiver's row, with its notification counts.
#[derive(Clone, Debug)]
pub struct ReceiverRow {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub kind: String,
    pub target: String,
    /// Sealed (webhooks only).
    pub secret: Option<String>,
    pub min_severity: String,
    pub created_ms: i64,
    pub delivered: i64,
    pub waiting: i64,
    pub failed: i64,
    pub last_error: Option<String>,
}

const RECEIVER_COLUMNS: &str = "SELECT r.id, r.chain_id, r.org_id, r.kind, r.target, r.secret, \
     r.min_severity, r.created_ms, \
     (SELECT COUNT(*) FROM alert_notifications n WHERE n.receiver_id = r.id AND n.delivered_ms IS NOT NULL), \
     (SELECT COUNT(*) FROM alert_notifications n WHERE n.receiver_id = r.id AND n.delivered_ms IS NULL AND n.failed = 0), \
     (SELECT COUNT(*) FROM alert_notifications n WHERE n.receiver_id = r.id AND n.failed = 1), \
     (SELECT n.last_error FROM alert_notifications n WHERE n.receiver_id = r.id AND n.last_error IS NOT NULL \
      ORDER BY n.created_ms DESC LIMIT 1) \
     FROM alert_receivers r";

fn receiver_row(r: &sqlx::any::AnyRow) -> ReceiverRow {
    ReceiverRow {
        id: r.get(0),
        chain_id: r.get(1),
        org_id: r.get(2),
        kind: r.get(3),
        target: r.get(4),
        secret: r.get(5),
        min_severity: r.get(6),
        created_ms: r.get(7),
        delivered: r.get(8),
        waiting: r.get(9),
        failed: r.get(10),
        last_error: r.get(11),
    }
}

/// A new receiver (its id chosen by the caller: a webhook's secret is sealed under it).
#[derive(Debug)]
pub struct NewReceiver<'a> {
    pub id: &'a str,
    pub chain: &'a str,
    pub org: &'a str,
    pub created_by: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub secret: Option<&'a str>,
    pub min_severity: &'a str,
    pub now: i64,
}

pub async fn insert_receiver(db: impl Exec<'_>, n: &NewReceiver<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_receivers (id, chain_id, org_id, created_by, kind, target, secret, \
         min_severity, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(n.id)
    .bind(n.chain)
    .bind(n.org)
    .bind(n.created_by)
    .bind(n.kind)
    .bind(n.target)
    .bind(n.secret)
    .bind(n.min_severity)
    .bind(n.now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn receiver(db: impl Exec<'_>, id: &str) -> Result<Option<ReceiverRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{RECEIVER_COLUMNS} WHERE r.id = $1"));
    Ok(sqlx::query(sql).bind(id).fetch_optional(db).await?.as_ref().map(receiver_row))
}

pub async fn receivers(db: impl Exec<'_>, chain: &str) -> Result<Vec<ReceiverRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{RECEIVER_COLUMNS} WHERE r.chain_id = $1 ORDER BY r.created_ms, r.id"
    ));
    Ok(sqlx::query(sql).bind(chain).fetch_all(db).await?.iter().map(receiver_row).collect())
}

/// Deletes a receiver and its notifications.
pub async fn delete_receiver(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM alert_notifications WHERE receiver_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM alert_receivers WHERE id = $1").bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// Queues one notification (`firing`, `resolved`, `reminder` or `test`).
pub async fn enqueue(
    db: impl Exec<'_>,
    alert: &str,
    receiver: &str,
    event: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_notifications (id, alert_id, receiver_id, event, attempts, \
         next_attempt_ms, failed, created_ms) VALUES ($1, $2, $3, $4, 0, $5, 0, $5)",
    )
    .bind(new_id("ntf"))
    .bind(alert)
    .bind(receiver)
    .bind(event)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a receiver was sent an alert's firing (so that it hears of its resolution).
pub async fn was_told(db: impl Exec<'_>, alert: &str, receiver: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM alert_notifications WHERE alert_id = $1 AND receiver_id = $2 \
         AND event <> 'resolved'",
    )
    .bind(alert)
    .bind(receiver)
    .fetch_one(db)
    .await?;
    Ok(row.get::<i64, _>(0) > 0)
}

/// A notification due: (id, alert id, receiver id, event, attempts).
pub type DueNotification = (String, String, String, String, i64);

/// Notifications not delivered nor given up on whose next attempt is due, oldest first.
pub async fn due(db: impl Exec<'_>, now: i64) -> Result<Vec<DueNotification>> {
    let rows = sqlx::query(
        "SELECT id, alert_id, receiver_id, event, attempts FROM alert_notifications \
         WHERE delivered_ms IS NULL AND failed = 0 AND next_attempt_ms <= $1 \
         ORDER BY created_ms, id LIMIT 200",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
}

pub async fn delivered(db: impl Exec<'_>, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE alert_notifications SET delivered_ms = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A failed attempt: counted, retried from `next_ms`, or given up on.
pub async fn attempt_failed(
    db: impl Exec<'_>,
    id: &str,
    error: &str,
    next_ms: i64,
    give_up: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE alert_notifications SET attempts = attempts + 1, next_attempt_ms = $1, \
         last_error = $2, failed = $3 WHERE id = $4",
    )
    .bind(next_ms)
    .bind(error)
    .bind(i64::from(give_up))
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// A silence's row.
#[derive(Clone, Debug)]
pub struct SilenceRow {
    pub id: String,
    pub chain_id: String,
    pub rule: Option<String>,
    pub subject: Option<String>,
    pub comment: String,
    pub created_by: String,
    pub created_ms: i64,
    pub ends_ms: i64,
}

pub async fn insert_silence(db: impl Exec<'_>, s: &SilenceRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO alert_silences (id, chain_id, rule, subject, comment, created_by, \
         created_ms, ends_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.id)
    .bind(&s.chain_id)
    .bind(&s.rule)
    .bind(&s.subject)
    .bind(&s.comment)
    .bind(&s.created_by)
    .bind(s.created_ms)
    .bind(s.ends_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// The chain's silences that have not ended by `now`.
pub async fn silences(db: impl Exec<'_>, chain: &str, now: i64) -> Result<Vec<SilenceRow>> {
    let rows = sqlx::query(
        "SELECT id, chain_id, rule, subject, comment, created_by, created_ms, ends_ms \
         FROM alert_silences WHERE chain_id = $1 AND ends_ms > $2 ORDER BY created_ms, id",
    )
    .bind(chain)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| SilenceRow {
            id: r.get(0),
            chain_id: r.get(1),
            rule: r.get(2),
            subject: r.get(3),
            comment: r.get(4),
            created_by: r.get(5),
            created_ms: r.get(6),
            ends_ms: r.get(7),
        })
        .collect())
}

/// Ends a silence now; false if the chain has no such silence running.
pub async fn end_silence(db: impl Exec<'_>, chain: &str, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE alert_silences SET ends_ms = $1 WHERE id = $2 AND chain_id = $3 AND ends_ms > $1",
    )
    .bind(now)
    .bind(id)
    .bind(chain)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
