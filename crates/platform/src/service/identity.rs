//! Identity and access: the first administrator, logins and tokens, users and sub-users, API
//! keys, resolving a bearer credential to a [`Caller`], and the audit log.

use consortia_api::platform::{
    AuditEntry, AuditQuery, CreateUserRequest, MIN_PASSWORD_CHARS, TokenResponse, UserView,
};

use crate::credentials::{self, random_secret, secret_hash};
use crate::error::{Error, Result};
use crate::store::{identity as users, now_ms};
use crate::{Bootstrap, Platform};

/// Lifetime of an access token, in seconds.
pub const ACCESS_TTL_S: i64 = 15 * 60;
/// Lifetime of a refresh token, in seconds.
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3600;
/// How the audit log names the end of work a call began in the background (a chain start).
pub const AUDIT_JOB: &str = "JOB";

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    /// A platform administrator: may do anything.
    pub admin: bool,
}

fn unauthorized(message: &str) -> Error {
    Error::Unauthorized(message.to_owned())
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

/// An argon2id hash, made on a blocking thread (it takes tens of milliseconds).
async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

impl Platform {
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
            None => random_secret()[..20].to_owned(),
        };
        users::insert_user(&self.db, "admin", &hash(&password).await?, None, true).await?;
        Ok(Some(Bootstrap { username: "admin".into(), password }))
    }

    /// Issues an access token and a new refresh token for `user`.
    async fn tokens_for(&self, user: &str) -> Result<TokenResponse> {
        let now = now_ms();
        let refresh = format!("rt1.{}", random_secret());
        users::insert_refresh_token(
            &self.db,
            &secret_hash(&refresh),
            user,
            now + REFRESH_TTL_S * 1000,
        )
        .await?;
        Ok(TokenResponse {
            access_token: self.keys()?.tokens.issue(user, now, ACCESS_TTL_S),
            refresh_token: refresh,
            expires_in: ACCESS_TTL_S,
            token_type: "Bearer".into(),
        })
    }

    /// A token pair for a right username and password. Unknown users cost the same time as
    /// wrong passwords.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenResponse> {
        let user = users::user_by_name(&self.db, username).await?;
        let (id, stored) = match user {
            Some(u) => (Some(u.id), u.password_hash),
            None => (None, self.dummy_hash.clone()),
        };
        let password = password.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || credentials::password_matches(&password, &stored))
                .await
                .map_err(Error::internal)?;
        match id.filter(|_| matches) {
            Some(id) => self.tokens_for(&id).await,
            None => Err(unauthorized("wrong username or password")),
        }
    }

    /// Uses up a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse> {
        let user = users::redeem_refresh_token(&self.db, &secret_hash(refresh_token))
            .await?
            .ok_or_else(|| unauthorized("refresh token unknown, used or expired; log in again"))?;
        self.tokens_for(&user).await
    }

    /// Revokes one of the caller's refresh tokens (an unknown one is already unusable).
    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<()> {
        users::revoke_refresh_token(&self.db, &secret_hash(refresh_token), &caller.user_id).await
    }

    /// The caller a bearer credential (access token or API key `ck1.<id>.<secret>`) names.
    pub async fn resolve(&self, credential: &str) -> Result<Caller> {
        let user_id = if let Some(rest) = credential.strip_prefix("ck1.") {
            let (id, secret) =
                rest.split_once('.').ok_or_else(|| unauthorized("malformed API key"))?;
            let (user, stored) = users::api_key(&self.db, id)
                .await?
                .ok_or_else(|| unauthorized("unknown or revoked API key"))?;
            if stored != secret_hash(secret) {
                return Err(unauthorized("API key does not match"));
            }
            user
        } else {
            self.keys()?.tokens.verify(credential, now_ms()).map_err(unauthorized)?
        };
        let user = users::user_by_id(&self.db, &user_id)
            .await?
            .ok_or_else(|| unauthorized("the token's user no longer exists"))?;
        Ok(Caller { user_id, username: user.username, admin: user.admin })
    }

    /// A user (by a platform administrator) or a sub-user of the caller (by anyone else, who
    /// gets no permissions until added to an organization or given policies).
    pub async fn create_user(&self, caller: &Caller, req: &CreateUserRequest) -> Result<UserView> {
        check_username(&req.username)?;
        check_password(&req.password)?;
        let parent = (!caller.admin).then_some(caller.user_id.as_str());
        let hash = hash(&req.password).await?;
        let id = users::insert_user(&self.db, &req.username, &hash, parent, false).await.map_err(
            |e| e.duplicate_as("conflict", format!("the username {} is taken", req.username)),
        )?;
        Ok(UserView {
            id,
            username: req.username.clone(),
            admin: false,
            parent_id: parent.map(str::to_owned),
            orgs: vec![],
        })
    }

    /// Every user for a platform administrator, otherwise the caller's sub-users.
    pub async fn users(&self, caller: &Caller) -> Result<Vec<UserView>> {
        users::list_users(&self.db, caller.admin, &caller.user_id).await
    }

    /// The caller with their organizations.
    pub async fn me(&self, caller: &Caller) -> Result<UserView> {
        Ok(UserView {
            id: caller.user_id.clone(),
            username: caller.username.clone(),
            admin: caller.admin,
            parent_id: users::parent_of(&self.db, &caller.user_id).await?,
            orgs: users::memberships(&self.db, &caller.user_id).await?,
        })
    }

    /// A new API key of the caller's: its id and the key, shown once.
    pub async fn create_api_key(&self, caller: &Caller, name: &str) -> Result<(String, String)> {
        let name = super::check_name("API key", name)?;
        let secret = random_secret();
        let id =
            users::insert_api_key(&self.db, &caller.user_id, name, &secret_hash(&secret)).await?;
        let key = format!("ck1.{id}.{secret}");
        Ok((id, key))
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
