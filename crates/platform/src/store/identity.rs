//! Users, refresh tokens, API keys and the audit log.

use consortia_api::platform::{
    ApiKeyInfo, AuditEntry, AuditQuery, MembershipView, Role, SessionView, UserView,
};
use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

/// A user as login and authentication need it.
#[derive(Debug)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    /// Disabled (or deleted): no login, no token, no key.
    pub disabled: bool,
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
        disabled: r.get::<i64, _>(4) != 0,
    }
}

const USER_COLUMNS: &str = "u.id, u.username, u.password_hash, u.admin, u.disabled";

pub async fn user_by_name(db: impl Exec<'_>, username: &str) -> Result<Option<UserRow>> {
    let query = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(query)).bind(username).fetch_optional(db).await?;
    Ok(row.as_ref().map(user_row))
}

pub async fn user_by_id(db: impl Exec<'_>, id: &str) -> Result<Option<UserRow>> {
    let query = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(query)).bind(id).fetch_optional(db).await?;
    Ok(row.as_ref().map(user_row))
}

/// The user of a live session of theirs (none if the session ended or is someone else's).
pub async fn user_in_session(
    db: impl Exec<'_>,
    user: &str,
    session: &str,
) -> Result<Option<UserRow>> {
    let query = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN sessions s ON s.user_id = u.id \
         WHERE u.id = $1 AND s.id = $2 AND s.revoked_ms IS NULL"
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(query)).bind(user).bind(session).fetch_optional(db).await?;
    Ok(row.as_ref().map(user_row))
}

pub async fn set_password(db: impl Exec<'_>, user: &str, password_hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_disabled(db: impl Exec<'_>, user: &str, disabled: bool) -> Result<()> {
    sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2 AND deleted_ms IS NULL")
        .bind(i64::from(disabled))
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a user for good: disabled, out of every organization and policy, with every
/// session and API key revoked. The row stays (the audit log and what they made name it).
pub async fn delete_user(tx: &mut Tx, user: &str) -> Result<()> {
    let now = now_ms();
    sqlx::query("UPDATE users SET disabled = 1, deleted_ms = $1 WHERE id = $2")
        .bind(now)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    for statement in [
        "DELETE FROM org_members WHERE user_id = $1",
        "DELETE FROM policy_attachments WHERE user_id = $1",
    ] {
        sqlx::query(statement).bind(user).execute(&mut **tx).await?;
    }
    revoke_sessions_of(&mut **tx, user, None, "user deleted").await?;
    sqlx::query(
        "UPDATE api_keys SET revoked = 1, revoked_ms = $1 WHERE user_id = $2 AND revoked = 0",
    )
    .bind(now)
    .bind(user)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The organizations `user` is the only admin of.
pub async fn orgs_only_administered_by(db: impl Exec<'_>, user: &str) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT o.name FROM org_members m JOIN orgs o ON o.id = m.org_id \
         WHERE m.user_id = $1 AND m.role = 'admin' AND NOT EXISTS (SELECT 1 FROM org_members x \
         WHERE x.org_id = m.org_id AND x.role = 'admin' AND x.user_id <> $1) ORDER BY o.name",
    )
    .bind(user)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Every user (for an administrator: `all`), or the sub-users of `parent`.
pub async fn list_users(db: impl Exec<'_>, all: bool, parent: &str) -> Result<Vec<UserView>> {
    let rows = sqlx::query(
        "SELECT id, username, admin, parent_id, disabled FROM users \
         WHERE ($1 = 1 OR parent_id = $2) AND deleted_ms IS NULL ORDER BY username",
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
            disabled: r.get::<i64, _>(4) != 0,
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

pub async fn insert_session(db: impl Exec<'_>, user: &str, expires_ms: i64) -> Result<String> {
    let id = new_id("ses");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_ms, refreshed_ms, expires_ms) VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(&id)
    .bind(user)
    .bind(now)
    .bind(expires_ms)
    .execute(db)
    .await?;
    Ok(id)
}

/// Marks a live session refreshed; false if it ended (revoked or expired).
pub async fn refresh_session(db: impl Exec<'_>, session: &str, expires_ms: i64) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE sessions SET refreshed_ms = $1, expires_ms = $2 \
         WHERE id = $3 AND revoked_ms IS NULL AND expires_ms > $1",
    )
    .bind(now)
    .bind(expires_ms)
    .bind(session)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a live session (of `user`, if given); false if there was none.
pub async fn revoke_session(
    db: impl Exec<'_>,
    session: &str,
    user: Option<&str>,
    reason: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_ms = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_ms IS NULL AND ($4 IS NULL OR user_id = $4)",
    )
    .bind(now_ms())
    .bind(reason)
    .bind(session)
    .bind(user)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every live session of `user` but `except`.
pub async fn revoke_sessions_of(
    db: impl Exec<'_>,
    user: &str,
    except: Option<&str>,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_ms = $1, revoked_reason = $2 \
         WHERE user_id = $3 AND revoked_ms IS NULL AND ($4 IS NULL OR id <> $4)",
    )
    .bind(now_ms())
    .bind(reason)
    .bind(user)
    .bind(except)
    .execute(db)
    .await?;
    Ok(())
}

/// The live sessions of `user`, newest first (`current` is left false).
pub async fn sessions_of(db: impl Exec<'_>, user: &str) -> Result<Vec<SessionView>> {
    Ok(sqlx::query(
        "SELECT id, created_ms, refreshed_ms, expires_ms FROM sessions \
         WHERE user_id = $1 AND revoked_ms IS NULL AND expires_ms > $2 ORDER BY created_ms DESC",
    )
    .bind(user)
    .bind(now_ms())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| SessionView {
        id: r.get(0),
        created_ms: r.get(1),
        refreshed_ms: r.get(2),
        expires_ms: r.get(3),
        current: false,
    })
    .collect())
}

pub async fn insert_refresh_token(
    db: impl Exec<'_>,
    token_hash: &str,
    user: &str,
    session: &str,
    expires_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, session_id, expires_ms, revoked) VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(token_hash)
    .bind(user)
    .bind(session)
    .bind(expires_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// A live token, now used up: its user and session.
    Fresh { user: String, session: String },
    /// A token of `session` that was already used: a sign it was copied.
    Reused { session: String },
    /// Unknown, expired, or from before sessions.
    Unknown,
}

/// Uses up a refresh token.
pub async fn redeem_refresh_token(tx: &mut Tx, token_hash: &str) -> Result<Redeemed> {
    let fresh = sqlx::query(
        "UPDATE refresh_tokens SET revoked = 1 \
         WHERE token_hash = $1 AND revoked = 0 AND expires_ms > $2 AND session_id IS NOT NULL \
         RETURNING user_id, session_id",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(r) = fresh {
        return Ok(Redeemed::Fresh { user: r.get(0), session: r.get(1) });
    }
    let used = sqlx::query(
        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND revoked = 1 AND session_id IS NOT NULL",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(used.map_or(Redeemed::Unknown, |r| Redeemed::Reused { session: r.get(0) }))
}

/// The session of a refresh token of `user`'s (used or not).
pub async fn session_of_refresh_token(
    db: impl Exec<'_>,
    token_hash: &str,
    user: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2 AND session_id IS NOT NULL",
    )
    .bind(token_hash)
    .bind(user)
    .fetch_optional(db)
    .await?
    .map(|r| r.get(0)))
}

pub async fn insert_api_key(
    db: impl Exec<'_>,
    user: &str,
    name: &str,
    stored: &StoredKey,
    expires_ms: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, secret_hash, mysql_native, mysql_sha2, \
         created_ms, expires_ms, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
    )
    .bind(&stored.id)
    .bind(user)
    .bind(name)
    .bind(&stored.secret_hash)
    .bind(&stored.mysql_native)
    .bind(&stored.mysql_sha2)
    .bind(now_ms())
    .bind(expires_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// What is kept of an API key: never the key, only what checks it.
#[derive(Debug)]
pub struct StoredKey {
    pub id: String,
    /// SHA-256 of the secret (the REST API's check).
    pub secret_hash: String,
    /// The MySQL gateway's verifiers (`credentials::mysql_verifiers`).
    pub mysql_native: String,
    pub mysql_sha2: String,
}

/// The MySQL verifiers (native, sha2) of `user`'s live API keys.
pub async fn mysql_verifiers_of(db: impl Exec<'_>, user: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query(
        "SELECT mysql_native, mysql_sha2 FROM api_keys WHERE user_id = $1 AND revoked = 0 \
         AND (expires_ms IS NULL OR expires_ms > $2) AND mysql_native IS NOT NULL",
    )
    .bind(user)
    .bind(now_ms())
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect())
}

/// A live (not revoked, not expired) API key's user and secret hash.
pub async fn api_key(db: impl Exec<'_>, id: &str) -> Result<Option<(String, String)>> {
    Ok(sqlx::query(
        "SELECT user_id, secret_hash FROM api_keys \
         WHERE id = $1 AND revoked = 0 AND (expires_ms IS NULL OR expires_ms > $2)",
    )
    .bind(id)
    .bind(now_ms())
    .fetch_optional(db)
    .await?
    .map(|r| (r.get(0), r.get(1))))
}

/// Every API key of `user`'s, newest first.
pub async fn api_keys_of(db: impl Exec<'_>, user: &str) -> Result<Vec<ApiKeyInfo>> {
    Ok(sqlx::query(
        "SELECT id, name, created_ms, expires_ms, revoked_ms, revoked FROM api_keys \
         WHERE user_id = $1 ORDER BY created_ms DESC",
    )
    .bind(user)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| ApiKeyInfo {
        id: r.get(0),
        name: r.get(1),
        created_ms: r.get(2),
        expires_ms: r.get(3),
        // Keys revoked before revocation times were kept say 0.
        revoked_ms: r.get::<Option<i64>, _>(4).or((r.get::<i64, _>(5) != 0).then_some(0)),
    })
    .collect())
}

/// Revokes an API key of `user`'s; false if there is no such live key.
pub async fn revoke_api_key(db: impl Exec<'_>, id: &str, user: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked = 1, revoked_ms = $1 WHERE id = $2 AND user_id = $3 AND revoked = 0",
    )
    .bind(now_ms())
    .bind(id)
    .bind(user)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
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
