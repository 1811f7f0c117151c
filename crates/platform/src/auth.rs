//! Who is calling: passwords (argon2id), short-lived access tokens, rotating refresh tokens
//! and API keys, and the middleware that turns an `Authorization: Bearer …` header into a
//! [`Caller`] (and writes the audit log).
//!
//! Access tokens are `at1.<user id>.<expiry ms>.<HMAC-SHA256>` under a key kept in the data
//! directory (`platform.key`): checked without a database read of the token, valid for
//! [`ACCESS_TTL_S`]. Refresh tokens and API keys are random secrets stored only as SHA-256
//! hashes; a refresh token is single-use (each refresh returns a new pair).

use std::path::Path;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use consortia_rpc::ApiError;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{new_id, now_ms};
use crate::{Platform, PlatformError, db_error};

/// Lifetime of an access token, in seconds.
pub const ACCESS_TTL_S: i64 = 15 * 60;
/// Lifetime of a refresh token, in seconds.
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3600;

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    /// A platform administrator: may do anything.
    pub admin: bool,
}

/// The key access tokens are signed with.
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// Reads the key from `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<TokenKey, PlatformError> {
        let io = |e: std::io::Error| PlatformError::Config(format!("{}: {e}", path.display()));
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    PlatformError::Config(format!(
                        "{} must hold 32 bytes; delete it to make a new key (signing everyone out)",
                        path.display()
                    ))
                })?;
                Ok(TokenKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = TokenKey::random();
                write_private(path, &key.0).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn random() -> TokenKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        TokenKey(key)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    /// An access token for `user_id`, valid for `ttl_s` seconds from `now`.
    pub fn issue(&self, user_id: &str, now: i64, ttl_s: i64) -> String {
        let body = format!("at1.{user_id}.{}", now + ttl_s * 1000);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The user an access token names, if it is genuine and not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<String, &'static str> {
        let (body, tag) = token.rsplit_once('.').ok_or("malformed token")?;
        let mut parts = body.split('.');
        let (Some("at1"), Some(user), Some(expiry), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token");
        };
        let tag = B64.decode(tag).map_err(|_| "malformed token")?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).map_err(|_| "token signature does not verify")?;
        let expiry: i64 = expiry.parse().map_err(|_| "malformed token")?;
        if expiry <= now {
            return Err("token expired; refresh it at POST /v1/auth/refresh or log in again");
        }
        Ok(user.to_owned())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> Result<String, PlatformError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PlatformError::Config(format!("password hashing: {e}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A random secret, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// How secrets are stored: SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a password; the user's id and name if it matches. Unknown users cost the same time
/// as wrong passwords.
pub async fn check_password(
    platform: &Platform,
    username: &str,
    password: &str,
) -> Result<Option<(String, String)>, ApiError> {
    let row = sqlx::query("SELECT id, username, password_hash FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?;
    let (id, name, stored) = match row {
        Some(r) => (Some(r.get::<String, _>(0)), r.get::<String, _>(1), r.get::<String, _>(2)),
        None => (None, String::new(), platform.dummy_hash.clone()),
    };
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || password_matches(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    Ok(id.filter(|_| ok).map(|id| (id, name)))
}

/// Issues an access token and a new refresh token for `user_id`.
pub async fn issue_pair(platform: &Platform, user_id: &str) -> Result<(String, String), ApiError> {
    let now = now_ms();
    let refresh = format!("rt1.{}", random_secret());
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, expires_ms, revoked) VALUES ($1, $2, $3, 0)",
    )
    .bind(secret_hash(&refresh))
    .bind(user_id)
    .bind(now + REFRESH_TTL_S * 1000)
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    Ok((platform.tokens.issue(user_id, now, ACCESS_TTL_S), refresh))
}

/// Uses up a refresh token: the user it was issued to, if it is live.
pub async fn redeem_refresh(platform: &Platform, token: &str) -> Result<String, ApiError> {
    let hash = secret_hash(token);
    let row = sqlx::query(
        "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0 AND expires_ms > $2 RETURNING user_id",
    )
    .bind(&hash)
    .bind(now_ms())
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?;
    row.map(|r| r.get::<String, _>(0))
        .ok_or_else(|| unauthorized("refresh token unknown, used or expired; log in again"))
}

/// A new API key for `user_id`: its id and the key, shown once.
pub async fn create_api_key(
    platform: &Platform,
    user_id: &str,
    name: &str,
) -> Result<(String, String), ApiError> {
    let id = new_id("key");
    let secret = random_secret();
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, secret_hash, created_ms, revoked) VALUES ($1, $2, $3, $4, $5, 0)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(name)
    .bind(secret_hash(&secret))
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    Ok((id.clone(), format!("ck1.{id}.{secret}")))
}

pub(crate) fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The caller a bearer credential names (access token or API key).
async fn resolve(platform: &Platform, credential: &str) -> Result<Caller, ApiError> {
    let user_id = if let Some(rest) = credential.strip_prefix("ck1.") {
        let (id, secret) = rest.split_once('.').ok_or_else(|| unauthorized("malformed API key"))?;
        let row =
            sqlx::query("SELECT user_id, secret_hash FROM api_keys WHERE id = $1 AND revoked = 0")
                .bind(id)
                .fetch_optional(&platform.db)
                .await
                .map_err(db_error)?
                .ok_or_else(|| unauthorized("unknown or revoked API key"))?;
        if row.get::<String, _>(1) != secret_hash(secret) {
            return Err(unauthorized("API key does not match"));
        }
        row.get::<String, _>(0)
    } else {
        platform.tokens.verify(credential, now_ms()).map_err(unauthorized)?
    };
    let row = sqlx::query("SELECT username, admin FROM users WHERE id = $1")
        .bind(&user_id)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| unauthorized("the token's user no longer exists"))?;
    Ok(Caller { user_id, username: row.get(0), admin: row.get::<i64, _>(1) != 0 })
}

/// Paths anyone may call.
fn is_public(path: &str) -> bool {
    matches!(path, "/v1/auth/login" | "/v1/auth/refresh" | "/v1/health" | "/openapi.json")
        || path.starts_with("/docs")
        || consortia_console::is_console_path(path)
}

/// Authenticates every request but the public ones (401 with `WWW-Authenticate: Bearer`
/// otherwise), hands the [`Caller`] to the handlers, and records every mutating call in the
/// audit log (who, what, when, result).
pub async fn middleware(
    State(platform): State<Arc<Platform>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut actor = None;
    if !is_public(&path) {
        let credential = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let caller = match credential {
            Some(c) => resolve(&platform, c.trim()).await,
            None => Err(unauthorized(
                "authentication required: send `Authorization: Bearer <token>` (POST /v1/auth/login) or an API key",
            )),
        };
        match caller {
            Ok(caller) => {
                actor = Some(caller.username.clone());
                request.extensions_mut().insert(caller);
            }
            Err(e) => {
                let mut response = e.into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                return response;
            }
        }
    }
    let response = next.run(request).await;
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        audit(&platform.db, actor.as_deref(), method.as_str(), &path, response.status()).await;
    }
    response
}

/// What a job that a call began ended with is audited under this method.
pub const AUDIT_JOB: &str = "JOB";

/// Writes an audit entry (a failure to write is logged, never the caller's failure).
pub(crate) async fn audit(
    db: &sqlx::AnyPool,
    actor: Option<&str>,
    method: &str,
    path: &str,
    status: StatusCode,
) {
    let recorded = sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor, method, path, status) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id("aud"))
    .bind(now_ms())
    .bind(actor)
    .bind(method)
    .bind(path)
    .bind(i64::from(status.as_u16()))
    .execute(db)
    .await;
    if let Err(e) = recorded {
        tracing::error!(target: "platform::audit", error = %e, %path, "audit log write failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_verify_expire_and_refuse_forgeries() {
        let key = TokenKey::random();
        let token = key.issue("usr_1", 1_000, 60);
        assert_eq!(key.verify(&token, 2_000).unwrap(), "usr_1");
        assert!(key.verify(&token, 61_000).unwrap_err().contains("expired"));
        // Another key, another user, a changed expiry, garbage.
        assert!(TokenKey::random().verify(&token, 2_000).is_err());
        let forged = token.replace("usr_1", "usr_2");
        assert!(key.verify(&forged, 2_000).unwrap_err().contains("signature"));
        let (body, tag) = token.rsplit_once('.').unwrap();
        let later = body.replace("61000", "99999999");
        assert!(key.verify(&format!("{later}.{tag}"), 2_000).is_err());
        for junk in ["", "at1", "at1.a.b", "a.b.c.d.e", "at1.u.1.!!!"] {
            assert!(key.verify(junk, 0).is_err(), "{junk}");
        }
    }

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(password_matches("correct horse", &a));
        assert!(!password_matches("wrong", &a));
        assert!(!password_matches("correct horse", "not a hash"));
    }
}
