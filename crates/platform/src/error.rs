//! The platform's domain errors: what went wrong, in the domain's words. Each kind has one
//! HTTP status and one stable code ([`Error::status`], [`Error::code`]); the HTTP layer turns
//! an error into the API's answer in one place (`http::error`), and internal failures keep
//! their detail in the log.

/// Why a platform operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An id that names nothing (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// No credential, or one that does not hold (401 `unauthorized`).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// An organization acts in a consortium it is not a member of (403 `not_a_member`).
    #[error("{org} is not a member of consortium {consortium}")]
    NotAMember { org: String, consortium: String },
    /// An organization acts in a chain it does not take part in (403 `not_participating`).
    #[error(
        "{org} does not take part in chain {chain}; invite it first (POST /v1/chains/{chain}/orgs)"
    )]
    NotParticipating { org: String, chain: String },
    /// Bad input (400, with its code).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// What is asked contradicts the current state (409, with its code: `illegal_step`,
    /// `already_decided`, `port_taken`, …).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Too many attempts: try again after `retry_after_s` (429 `too_many_requests`).
    #[error("{message}")]
    Throttled { retry_after_s: u64, message: String },
    /// The platform cannot do it as it runs (503, with its code).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// A node or host failed (502, with its code: `start_failed`, `chain_unreachable`).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// A wait ran out (504 `not_committed`).
    #[error("{0}")]
    Timeout(String),
    /// A failure of the platform itself (500): the detail is logged, never shown.
    #[error("{0}")]
    Internal(String),
    /// The database failed, or refused a duplicate (409 `conflict`) or a dangling reference
    /// (400 `unknown_reference`).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::Conflict { code, message: message.into() }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Error {
        Error::Internal(detail.to_string())
    }

    /// A step the chain's state does not allow (409 `illegal_step`).
    pub fn illegal_step(message: impl Into<String>) -> Error {
        Error::conflict("illegal_step", message)
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) | Error::NotAMember { .. } | Error::NotParticipating { .. } => 403,
            Error::Invalid { .. } => 400,
            Error::Conflict { .. } => 409,
            Error::Throttled { .. } => 429,
            Error::Unavailable { .. } => 503,
            Error::Upstream { .. } => 502,
            Error::Timeout(_) => 504,
            Error::Internal(_) => 500,
            Error::Database(sqlx::Error::Database(d)) if d.is_unique_violation() => 409,
            Error::Database(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => 400,
            Error::Database(_) => 500,
        }
    }

    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotAMember { .. } => "not_a_member",
            Error::NotParticipating { .. } => "not_participating",
            Error::Invalid { code, .. }
            | Error::Conflict { code, .. }
            | Error::Unavailable { code, .. }
            | Error::Upstream { code, .. } => code,
            Error::Timeout(_) => "not_committed",
            Error::Throttled { .. } => "too_many_requests",
            Error::Database(_) if self.status() == 409 => "conflict",
            Error::Database(_) if self.status() == 400 => "unknown_reference",
            Error::Internal(_) | Error::Database(_) => "internal",
        }
    }

    /// Whether the detail of this error stays in the log (a failure of the platform itself).
    pub fn is_internal(&self) -> bool {
        self.status() == 500
    }

    /// What may be shown to users: the message, or for an internal failure a pointer to the
    /// log (the detail may name tables, files or peers).
    pub fn public_message(&self) -> String {
        match self {
            _ if self.is_internal() => "internal error; the platform's log has the detail".into(),
            Error::Database(_) if self.status() == 409 => "that name is already taken".into(),
            Error::Database(_) => "a referenced id does not exist".into(),
            other => other.to_string(),
        }
    }

    /// Whether the database refused a duplicate.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }

    /// A duplicate reported as this conflict; any other error as it is.
    pub fn duplicate_as(self, code: &'static str, message: impl Into<String>) -> Error {
        if self.is_duplicate() { Error::conflict(code, message) } else { self }
    }
}

/// Why the platform cannot open (configuration, database, key file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

impl From<Error> for OpenError {
    fn from(e: Error) -> OpenError {
        OpenError(e.to_string())
    }
}
