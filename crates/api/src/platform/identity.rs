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
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// Shown once: send as `Authorization: Bearer <key>`.
    pub key: String,
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
