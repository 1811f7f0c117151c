//! Users, refresh tokens, API keys and the audit log.

use consortia_api::platform::{AuditEntry, AuditQuery, MembershipView, Role, UserView};
use sqlx::Row;

use super::{Exec, new_id, now_ms};
use crate::error::Result;

/// A user as login and authentication need it.
#[derive(Debug)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
}

pub async fn count_users(db: impl Exec<'_>) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM users").fetch_one(db).await?.get(0))
}

pub async fn insert_user(
    db: impl Exec<'_>,
    username: &str,
    password_hash: &str,
    parent: Option<&str>,
    admin: bool,
) -> Result<String> {
    let id = new_id("usr");
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, parent_id, admin, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(username)
    .bind(password_hash)
    .bind(parent)
    .bind(i64::from(admin))
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(id)
}

fn user_row(r: &sqlx::any::AnyRow) -> UserRow {
    UserRow {
        id: r.get(0),
        username: r.get(1),
        password_hash: r.get(2),
        admin: r.get::<i64, _>(3) != 0,
    }
}

pub async fn user_by_name(db: impl Exec<'_>, username: &str) -> Result<Option<UserRow>> {
    let row =
        sqlx::query("SELECT id, username, password_hash, admin FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(db)
            .await?;
    Ok(row.as_ref().map(user_row))
}

pub async fn user_by_id(db: impl Exec<'_>, id: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query("SELECT id, username, password_hash, admin FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(user_row))
}

/// Every user (for an administrator: `all`), or the sub-users of `parent`.
pub async fn list_users(db: impl Exec<'_>, all: bool, parent: &str) -> Result<Vec<UserView>> {
    let rows = sqlx::query(
        "SELECT id, username, admin, parent_id FROM users WHERE $1 = 1 OR parent_id = $2 ORDER BY username",
    )
    .bind(i64::from(all))
    .bind(parent)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| UserView {
            id: r.get(0),
            username: r.get(1),
            admin: r.get::<i64, _>(2) != 0,
            parent_id: r.get(3),
            orgs: vec![],
        })
        .collect())
}

pub async fn parent_of(db: impl Exec<'_>, user: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT parent_id FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(db)
        .await?
        .get(0))
}

/// The organizations a user belongs to, with the role in each.
pub async fn memberships(db: impl Exec<'_>, user: &str) -> Result<Vec<MembershipView>> {
    let rows = sqlx::query(
        "SELECT o.id, o.name, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name",
    )
    .bind(user)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(MembershipView {
                org_id: r.get(0),
                org_name: r.get(1),
                role: r.get::<String, _>(2).parse::<Role>().ok()?,
            })
        })
        .collect())
}

pub async fn insert_refresh_token(
    db: impl Exec<'_>,
    token_hash: &str,
    user: &str,
    expires_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, expires_ms, revoked) VALUES ($1, $2, $3, 0)",
    )
    .bind(token_hash)
    .bind(user)
    .bind(expires_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// Uses up a live refresh token: the user it was issued to.
pub async fn redeem_refresh_token(db: impl Exec<'_>, token_hash: &str) -> Result<Option<String>> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0 AND expires_ms > $2 RETURNING user_id",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(db)
    .await?
    .map(|r| r.get(0)))
}

pub async fn revoke_refresh_token(db: impl Exec<'_>, token_hash: &str, user: &str) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1 AND user_id = $2")
        .bind(token_hash)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn insert_api_key(
    db: impl Exec<'_>,
    user: &str,
    name: &str,
    secret_hash: &str,
) -> Result<String> {
    let id = new_id("key");
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, secret_hash, created_ms, revoked) VALUES ($1, $2, $3, $4, $5, 0)",
    )
    .bind(&id)
    .bind(user)
    .bind(name)
    .bind(secret_hash)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(id)
}

/// A live API key's user and secret hash.
pub async fn api_key(db: impl Exec<'_>, id: &str) -> Result<Option<(String, String)>> {
    Ok(sqlx::query("SELECT user_id, secret_hash FROM api_keys WHERE id = $1 AND revoked = 0")
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

pub async fn insert_audit(
    db: impl Exec<'_>,
    actor: Option<&str>,
    method: &str,
    path: &str,
    status: u16,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor, method, path, status) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id("aud"))
    .bind(now_ms())
    .bind(actor)
    .bind(method)
    .bind(path)
    .bind(i64::from(status))
    .execute(db)
    .await?;
    Ok(())
}

/// Audit entries, newest first; `actor` (if any) has been decided by the caller's rights.
pub async fn audit(
    db: impl Exec<'_>,
    actor: Option<&str>,
    q: &AuditQuery,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT at_ms, actor, method, path, status FROM audit_log \
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR method = $2) \
         AND ($3 IS NULL OR path LIKE $3 ESCAPE '\\') AND at_ms >= $4 AND at_ms < $5 \
         ORDER BY at_ms DESC, id DESC LIMIT $6",
    )
    .bind(actor)
    .bind(q.method.as_ref().map(|m| m.to_uppercase()))
    .bind(q.path_prefix.as_ref().map(|p| format!("{}%", p.replace('%', "\\%").replace('_', "\\_"))))
    .bind(q.since_ms.unwrap_or(0))
    .bind(q.until_ms.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            at_ms: r.get(0),
            actor: r.get(1),
            method: r.get(2),
            path: r.get(3),
            status: r.get(4),
        })
        .collect())
}
