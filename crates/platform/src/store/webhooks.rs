//! Webhook subscriptions, their delivery cursors and dead letters.

use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

#[derive(Clone, Debug)]
pub struct WebhookRow {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub created_by: String,
    pub url: String,
    pub address: Option<String>,
    pub event: Option<String>,
    /// JSON array.
    pub topics: String,
    /// Sealed.
    pub secret: String,
    pub enabled: bool,
    pub cursor_height: i64,
    pub cursor_index: i64,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub delivered: i64,
    pub created_ms: i64,
}

const COLUMNS: &str = "SELECT id, chain_id, org_id, created_by, url, address, event, topics, \
     secret, enabled, cursor_height, cursor_index, attempts, next_attempt_ms, last_error, \
     delivered, created_ms FROM webhooks";

fn row(r: &sqlx::any::AnyRow) -> WebhookRow {
    WebhookRow {
        id: r.get(0),
        chain_id: r.get(1),
        org_id: r.get(2),
        created_by: r.get(3),
        url: r.get(4),
        address: r.get(5),
        event: r.get(6),
        topics: r.get(7),
        secret: r.get(8),
        enabled: r.get::<i64, _>(9) == 1,
        cursor_height: r.get(10),
        cursor_index: r.get(11),
        attempts: r.get(12),
        next_attempt_ms: r.get(13),
        last_error: r.get(14),
        delivered: r.get(15),
        created_ms: r.get(16),
    }
}

/// A new subscription's row (its id chosen by the caller: the secret is sealed under it).
#[derive(Debug)]
pub struct NewWebhook<'a> {
    pub id: &'a str,
    pub chain: &'a str,
    pub org: &'a str,
    pub created_by: &'a str,
    pub url: &'a str,
    pub address: Option<&'a str>,
    pub event: Option<&'a str>,
    pub topics: &'a str,
    pub secret: &'a str,
    pub from_height: u64,
}

pub async fn insert(db: impl Exec<'_>, new: &NewWebhook<'_>) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO webhooks (id, chain_id, org_id, created_by, url, address, event, topics, \
         secret, enabled, cursor_height, cursor_index, attempts, next_attempt_ms, delivered, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, -1, 0, 0, 0, $11)",
    )
    .bind(new.id)
    .bind(new.chain)
    .bind(new.org)
    .bind(new.created_by)
    .bind(new.url)
    .bind(new.address)
    .bind(new.event)
    .bind(new.topics)
    .bind(new.secret)
    .bind(new.from_height as i64)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn webhook(db: impl Exec<'_>, id: &str) -> Result<Option<WebhookRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = $1"));
    Ok(sqlx::query(sql).bind(id).fetch_optional(db).await?.as_ref().map(row))
}

pub async fn of_chain(db: impl Exec<'_>, chain: &str) -> Result<Vec<WebhookRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE chain_id = $1 ORDER BY created_ms, id"));
    Ok(sqlx::query(sql).bind(chain).fetch_all(db).await?.iter().map(row).collect())
}

/// Enabled subscriptions whose next attempt is due.
pub async fn due(db: impl Exec<'_>, now: i64) -> Result<Vec<WebhookRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{COLUMNS} WHERE enabled = 1 AND next_attempt_ms <= $1 ORDER BY chain_id, id"
    ));
    Ok(sqlx::query(sql).bind(now).fetch_all(db).await?.iter().map(row).collect())
}

/// Moves the cursor (after a delivery, or a consumer's rewind) and clears the failures;
/// `delivered` is added to the count.
pub async fn advance(
    db: impl Exec<'_>,
    id: &str,
    height: u64,
    index: i64,
    delivered: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhooks SET cursor_height = $1, cursor_index = $2, attempts = 0, \
         next_attempt_ms = 0, last_error = NULL, delivered = delivered + $3 WHERE id = $4",
    )
    .bind(height as i64)
    .bind(index)
    .bind(delivered)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// A failed attempt: counted, and the next one not before `next_ms`.
pub async fn failed(db: impl Exec<'_>, id: &str, error: &str, next_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE webhooks SET attempts = attempts + 1, next_attempt_ms = $1, last_error = $2 \
         WHERE id = $3",
    )
    .bind(next_ms)
    .bind(error)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_enabled(db: impl Exec<'_>, id: &str, enabled: bool) -> Result<()> {
    sqlx::query("UPDATE webhooks SET enabled = $1, next_attempt_ms = 0 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Pauses every subscription of a chain (it is archived: nothing more to deliver).
pub async fn disable_chain(db: impl Exec<'_>, chain: &str) -> Result<()> {
    sqlx::query("UPDATE webhooks SET enabled = 0 WHERE chain_id = $1")
        .bind(chain)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a subscription and its dead letters.
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM webhook_dead_letters WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// An event given up on.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub webhook: &'a str,
    pub height: u64,
    pub log_index: u64,
    pub payload: &'a str,
    pub attempts: i64,
    pub last_error: &'a str,
}

pub async fn insert_dead_letter(db: impl Exec<'_>, d: &DeadLetter<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_dead_letters (id, webhook_id, height, log_index, payload, attempts, \
         last_error, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id("dead"))
    .bind(d.webhook)
    .bind(d.height as i64)
    .bind(d.log_index as i64)
    .bind(d.payload)
    .bind(d.attempts)
    .bind(d.last_error)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// A dead letter: id, height, log index, payload, attempts, last error, time.
pub type DeadLetterRow = (String, i64, i64, String, i64, String, i64);

pub async fn dead_letters(db: impl Exec<'_>, webhook: &str) -> Result<Vec<DeadLetterRow>> {
    let rows = sqlx::query(
        "SELECT id, height, log_index, payload, attempts, last_error, created_ms \
         FROM webhook_dead_letters WHERE webhook_id = $1 ORDER BY height, log_index",
    )
    .bind(webhook)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
        .collect())
}
