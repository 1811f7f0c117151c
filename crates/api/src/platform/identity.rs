//! Identity and access: login and tokens, users, API keys, the audit log.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::orgs::Role;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[schema(min_length = 1)]
    pub password: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single use: `POST /v1/auth/refresh` returns a new pair.
    pub refresh_token: String,
    /// Seconds the access token is valid for.
    pub expires_in: i64,
    pub token_type: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The shortest password the platform accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// 3 to 64 characters: lowercase letters, digits, `.`, `_`, `-`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._-]{3,64}$")]
    pub username: String,
    /// At least 10 characters.
    #[schema(min_length = 10)]
    pub password: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipView {
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub admin: bool,
    /// The user who created this sub-user.
    pub parent_id: Option<String>,
    pub orgs: Vec<MembershipView>,
    /// A disabled user can neither log in nor use a token or an API key.
    #[serde(default)]
    pub disabled: bool,
}

/// Changes the caller's password; every other session of theirs ends.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 10 characters.
    #[schema(min_length = 10)]
    pub new_password: String,
}

/// Disables or enables a user (a platform administrator, or the parent of a sub-user).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    pub disabled: bool,
}

/// One login of the caller's: its refresh tokens and the access tokens that name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_ms: i64,
    /// The last refresh (or the login).
    pub refreshed_ms: i64,
    pub expires_ms: i64,
    /// The session the request came with.
    pub current: bool,
}

/// An API key, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    /// None: never expires.
    pub expires_ms: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// Days until it expires (1 to 3650); default 90. `0` makes a key that never expires
    /// (for monitoring; prefer an expiry).
    #[serde(default)]
    #[schema(maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// Shown once: send as `Authorization: Bearer <key>`.
    pub key: String,
    #[serde(default)]
    pub expires_ms: Option<i64>,
}

/// Ends a session: the one whose refresh token is given, else the caller's current one.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct LogoutRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Which audit entries to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's calls (others than yourself need platform administrator rights).
    pub actor: Option<String>,
    /// `POST`, `PUT`, `DELETE`, `JOB`, …
    pub method: Option<String>,
    /// Paths starting with this.
    pub path_prefix: Option<String>,
    /// From this time (Unix ms, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// At most this many entries, newest first (default 100; larger values read 1,000).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// The user, or none for an unauthenticated call (a login).
    pub actor: Option<String>,
    /// The HTTP method, or `JOB` for how work that a call began in the background ended (a
    /// chain start).
    pub method: String,
    pub path: String,
    /// The HTTP status the call got (for a `JOB`: 200, or the status of its failure).
    pub status: i64,
}
