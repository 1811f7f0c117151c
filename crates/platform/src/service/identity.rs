//! Identity and access: the first administrator, logins and tokens, users and sub-users, API
//! keys, resolving a bearer credential to a [`Caller`], and the audit log.

use consortia_api::platform::{
    ApiKeyInfo, ApiKeyRequest, ApiKeyView, AuditEntry, AuditQuery, ChangePasswordRequest,
    CreateUserRequest, MIN_PASSWORD_CHARS, SessionView, TokenResponse, UserView,
};

use crate::credentials::{self, mysql_verifiers, random_secret, secret_hash};
use crate::error::{Error, Result};
use crate::store::identity::{self as users, Redeemed, UserRow};
use crate::store::now_ms;
use crate::{Bootstrap, Platform};

/// Lifetime of an access token, in seconds.
pub const ACCESS_TTL_S: i64 = 15 * 60;
/// Lifetime of a refresh token, in seconds.
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3600;
/// How the audit log names the end of work a call began in the background (a chain start).
pub const AUDIT_JOB: &str = "JOB";

/// An API key's lifetime when its creator names none, in days.
pub const API_KEY_DEFAULT_DAYS: u32 = 90;

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    /// A platform administrator: may do anything.
    pub admin: bool,
    /// The session of the access token the request came with (none for an API key).
    pub session: Option<String>,
}

fn unauthorized(message: &str) -> Error {
    Error::Unauthorized(message.to_owned())
}

fn disabled() -> Error {
    Error::Unauthorized("this account is disabled; ask a platform administrator".into())
}

fn check_username(name: &str) -> Result<()> {
    let ok = (3..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "bad_username",
            "usernames are 3 to 64 characters: lowercase letters, digits, `.`, `_`, `-`",
        ))
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "weak_password",
            format!("passwords have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Platform {
    /// An argon2id hash, made through the hashing queue (19 MiB, tens of milliseconds).
    async fn hash(&self, password: &str) -> Result<String> {
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.hashing
            .run(move |memory| credentials::hash_password_in(&password, memory))
            .await?
            .map_err(Error::internal)
    }

    /// Whether `password` matches the stored argon2 hash (through the hashing queue).
    async fn verify_password(&self, password: &str, stored: String) -> Result<bool> {
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.hashing
            .run(move |memory| credentials::password_matches_in(&password, &stored, memory))
            .await
    }

    /// On a first start (no users), creates the administrator `admin` with `password` (or a
    /// random one) and returns the credentials, shown once.
    pub(crate) async fn bootstrap_admin(
        &self,
        password: Option<String>,
    ) -> std::result::Result<Option<Bootstrap>, crate::OpenError> {
        if users::count_users(&self.db).await? > 0 {
            return Ok(None);
        }
        let password = match password {
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(crate::OpenError(format!(
                    "the administrator's password needs at least {MIN_PASSWORD_CHARS} characters"
                )));
            }
            Some(p) => p,
            None => credentials::random_password(),
        };
        users::insert_user(&self.db, "admin", &self.hash(&password).await?, None, true).await?;
        Ok(Some(Bootstrap { username: "admin".into(), password }))
    }

    /// Issues an access token and a new refresh token for `user` in `session`.
    async fn tokens_for(&self, user: &str, session: &str) -> Result<TokenResponse> {
        let now = now_ms();
        let refresh = format!("rt1.{}", random_secret());
        users::insert_refresh_token(
            &self.db,
            &secret_hash(&refresh),
            user,
            session,
            now + REFRESH_TTL_S * 1000,
        )
        .await?;
        Ok(TokenResponse {
            access_token: self.keys()?.tokens.issue(user, session, now, ACCESS_TTL_S),
            refresh_token: refresh,
            expires_in: ACCESS_TTL_S,
            token_type: "Bearer".into(),
        })
    }

    /// A token pair for a right username and password, from `address` (if known). Unknown
    /// users cost the same time as wrong passwords; failures are throttled per user, address
    /// and both (`throttle`), before any hashing.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<TokenResponse> {
        self.throttle.check(username, address, now_ms())?;
        let user = users::user_by_name(&self.db, username).await?;
        let (user, stored) = match user {
            Some(u) => {
                let stored = u.password_hash.clone();
                (Some(u), stored)
            }
            None => (None, self.dummy_hash.clone()),
        };
        let matches = self.verify_password(password, stored).await?;
        if matches {
            self.throttle.succeeded(username, address);
        } else {
            self.throttle.failed(username, address, now_ms());
        }
        match user.filter(|_| matches) {
            Some(u) if u.disabled => Err(disabled()),
            Some(u) => {
                let session =
                    users::insert_session(&self.db, &u.id, now_ms() + REFRESH_TTL_S * 1000).await?;
                self.tokens_for(&u.id, &session).await
            }
            None => Err(unauthorized("wrong username or password")),
        }
    }

    /// Uses up a refresh token for a new pair in the same session. A token used before is a
    /// sign it was copied (OAuth 2.0 security BCP §4.14): its whole session ends.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse> {
        let mut tx = self.db.begin().await?;
        let redeemed = users::redeem_refresh_token(&mut tx, &secret_hash(refresh_token)).await?;
        let (user, session) = match redeemed {
            Redeemed::Fresh { user, session } => (user, session),
            Redeemed::Reused { session } => {
                users::revoke_session(&mut *tx, &session, None, "refresh token reused").await?;
                tx.commit().await?;
                tracing::warn!(target: "platform::auth", %session, "a used refresh token came back: session revoked");
                return Err(unauthorized(
                    "this refresh token was already used, so its session is ended in case it was \
                     copied; log in again",
                ));
            }
            Redeemed::Unknown => {
                return Err(unauthorized("refresh token unknown or expired; log in again"));
            }
        };
        let live =
            users::refresh_session(&mut *tx, &session, now_ms() + REFRESH_TTL_S * 1000).await?;
        tx.commit().await?;
        if !live {
            return Err(unauthorized("the session has ended; log in again"));
        }
        match users::user_by_id(&self.db, &user).await? {
            Some(u) if !u.disabled => self.tokens_for(&user, &session).await,
            _ => Err(disabled()),
        }
    }

    /// Ends a session of the caller's: the one the refresh token belongs to, else the one of
    /// the request. Its access and refresh tokens stop working at once.
    pub async fn logout(&self, caller: &Caller, refresh_token: Option<&str>) -> Result<()> {
        let named = match refresh_token {
            Some(t) => {
                users::session_of_refresh_token(&self.db, &secret_hash(t), &caller.user_id).await?
            }
            None => None,
        };
        for session in named.iter().chain(caller.session.iter()) {
            users::revoke_session(&self.db, session, Some(&caller.user_id), "logged out").await?;
        }
        Ok(())
    }

    /// The caller a bearer credential (access token or API key `ck1.<id>.<secret>`) names.
    pub async fn resolve(&self, credential: &str) -> Result<Caller> {
        let (user, session) = if let Some(rest) = credential.strip_prefix("ck1.") {
            let (id, secret) =
                rest.split_once('.').ok_or_else(|| unauthorized("malformed API key"))?;
            let (user, stored) = users::api_key(&self.db, id)
                .await?
                .ok_or_else(|| unauthorized("unknown, expired or revoked API key"))?;
            if stored != secret_hash(secret) {
                return Err(unauthorized("API key does not match"));
            }
            let user = users::user_by_id(&self.db, &user).await?;
            (user.ok_or_else(|| unauthorized("the key's user no longer exists"))?, None)
        } else {
            let (user, session) =
                self.keys()?.tokens.verify(credential, now_ms()).map_err(unauthorized)?;
            let user =
                users::user_in_session(&self.db, &user, &session).await?.ok_or_else(|| {
                    unauthorized("the session has ended (logged out or revoked); log in again")
                })?;
            (user, Some(session))
        };
        if user.disabled {
            return Err(disabled());
        }
        Ok(Caller { user_id: user.id, username: user.username, admin: user.admin, session })
    }

    /// Changes the caller's password, after checking the current one; the caller's other
    /// sessions end (the one of this request stays).
    pub async fn change_password(
        &self,
        caller: &Caller,
        req: &ChangePasswordRequest,
    ) -> Result<()> {
        check_password(&req.new_password)?;
        let user = self.user_row(&caller.user_id).await?;
        if !self.verify_password(&req.current_password, user.password_hash).await? {
            return Err(Error::Forbidden("the current password is wrong".into()));
        }
        users::set_password(&self.db, &caller.user_id, &self.hash(&req.new_password).await?)
            .await?;
        users::revoke_sessions_of(
            &self.db,
            &caller.user_id,
            caller.session.as_deref(),
            "password changed",
        )
        .await
    }

    /// The caller's live sessions.
    pub async fn sessions(&self, caller: &Caller) -> Result<Vec<SessionView>> {
        let mut sessions = users::sessions_of(&self.db, &caller.user_id).await?;
        for s in &mut sessions {
            s.current = caller.session.as_deref() == Some(s.id.as_str());
        }
        Ok(sessions)
    }

    /// Ends one of the caller's sessions.
    pub async fn revoke_session(&self, caller: &Caller, id: &str) -> Result<()> {
        if users::revoke_session(&self.db, id, Some(&caller.user_id), "revoked").await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no live session {id} of yours")))
        }
    }

    /// Disables or enables `id` (a platform administrator, or the parent of a sub-user; never
    /// oneself). Disabling ends the user's sessions; their API keys stop working while
    /// disabled.
    pub async fn set_user_disabled(
        &self,
        caller: &Caller,
        id: &str,
        disabled: bool,
    ) -> Result<UserView> {
        self.may_manage(caller, id).await?;
        users::set_disabled(&self.db, id, disabled).await?;
        if disabled {
            users::revoke_sessions_of(&self.db, id, None, "user disabled").await?;
        }
        self.user_view(id).await
    }

    /// Deletes `id` for good (as [`Self::set_user_disabled`] decides who may), unless it is
    /// the last admin of an organization.
    pub async fn delete_user(&self, caller: &Caller, id: &str) -> Result<()> {
        self.may_manage(caller, id).await?;
        let sole = users::orgs_only_administered_by(&self.db, id).await?;
        if !sole.is_empty() {
            return Err(Error::conflict(
                "last_admin",
                format!(
                    "the user is the only admin of {}: make another admin first",
                    sole.join(", ")
                ),
            ));
        }
        let mut tx = self.db.begin().await?;
        users::delete_user(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `caller` may disable or delete `id`.
    async fn may_manage(&self, caller: &Caller, id: &str) -> Result<()> {
        if id == caller.user_id {
            return Err(Error::invalid("self", "you cannot disable or delete yourself"));
        }
        self.user_row(id).await?;
        let parent = users::parent_of(&self.db, id).await?;
        if caller.admin || parent.as_deref() == Some(caller.user_id.as_str()) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "only a platform administrator, or the user who created a sub-user, may do this"
                    .into(),
            ))
        }
    }

    async fn user_row(&self, id: &str) -> Result<UserRow> {
        users::user_by_id(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {id}")))
    }

    /// A user (by a platform administrator) or a sub-user of the caller (by anyone else, who
    /// gets no permissions until added to an organization or given policies).
    pub async fn create_user(&self, caller: &Caller, req: &CreateUserRequest) -> Result<UserView> {
        check_username(&req.username)?;
        check_password(&req.password)?;
        let parent = (!caller.admin).then_some(caller.user_id.as_str());
        let hash = self.hash(&req.password).await?;
        let id = users::insert_user(&self.db, &req.username, &hash, parent, false).await.map_err(
            |e| e.duplicate_as("conflict", format!("the username {} is taken", req.username)),
        )?;
        Ok(UserView {
            id,
            username: req.username.clone(),
            admin: false,
            parent_id: parent.map(str::to_owned),
            orgs: vec![],
            disabled: false,
        })
    }

    /// Every user for a platform administrator, otherwise the caller's sub-users.
    pub async fn users(&self, caller: &Caller) -> Result<Vec<UserView>> {
        users::list_users(&self.db, caller.admin, &caller.user_id).await
    }

    /// The caller with their organizations.
    pub async fn me(&self, caller: &Caller) -> Result<UserView> {
        self.user_view(&caller.user_id).await
    }

    /// A user with their parent and organizations.
    async fn user_view(&self, id: &str) -> Result<UserView> {
        let user = self.user_row(id).await?;
        Ok(UserView {
            id: user.id,
            username: user.username,
            admin: user.admin,
            parent_id: users::parent_of(&self.db, id).await?,
            orgs: users::memberships(&self.db, id).await?,
            disabled: user.disabled,
        })
    }

    /// A new API key of the caller's, shown once.
    pub async fn create_api_key(&self, caller: &Caller, req: &ApiKeyRequest) -> Result<ApiKeyView> {
        let name = super::check_name("API key", &req.name)?;
        let days = req.expires_in_days.unwrap_or(API_KEY_DEFAULT_DAYS);
        if days > 3650 {
            return Err(Error::invalid(
                "bad_expiry",
                "API keys expire within 3650 days (or 0: never)",
            ));
        }
        let expires_ms = (days > 0).then(|| now_ms() + i64::from(days) * 86_400_000);
        let secret = random_secret();
        let id = crate::store::new_id("key");
        let key = format!("ck1.{id}.{secret}");
        let (mysql_native, mysql_sha2) = mysql_verifiers(&key);
        let stored = users::StoredKey {
            id: id.clone(),
            secret_hash: secret_hash(&secret),
            mysql_native,
            mysql_sha2,
        };
        users::insert_api_key(&self.db, &caller.user_id, name, &stored, expires_ms).await?;
        Ok(ApiKeyView { id, name: name.to_owned(), key, expires_ms })
    }

    /// The caller's API keys, without their secrets.
    pub async fn api_keys(&self, caller: &Caller) -> Result<Vec<ApiKeyInfo>> {
        users::api_keys_of(&self.db, &caller.user_id).await
    }

    /// Revokes one of the caller's API keys.
    pub async fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<()> {
        if users::revoke_api_key(&self.db, id, &caller.user_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no live API key {id} of yours")))
        }
    }

    /// The audit log: the caller's own entries, or anyone's for a platform administrator.
    pub async fn audit(&self, caller: &Caller, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let actor = match (&q.actor, caller.admin) {
            (Some(a), true) => Some(a.clone()),
            (None, true) => None,
            (Some(a), false) if *a != caller.username => {
                return Err(Error::Forbidden(
                    "only platform administrators read other users' audit entries".into(),
                ));
            }
            (_, false) => Some(caller.username.clone()),
        };
        let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
        users::audit(&self.db, actor.as_deref(), q, limit).await
    }

    /// Writes an audit entry; a failure to write is logged, never the caller's failure.
    pub async fn record_audit(&self, actor: Option<&str>, method: &str, path: &str, status: u16) {
        if let Err(e) = users::insert_audit(&self.db, actor, method, path, status).await {
            tracing::error!(target: "platform::audit", error = %e, %path, "audit log write failed");
        }
    }

    /// The user id of a username (404 if none).
    pub(crate) async fn user_id(&self, username: &str) -> Result<String> {
        users::user_by_name(&self.db, username)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| Error::NotFound(format!("no user {username}")))
    }
}
