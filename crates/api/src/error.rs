//! The one error body of every Consortia HTTP API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error the APIs return: a stable machine-readable `code` and a message for people.
/// An internal error (500) names the request in `request_id`: the server's log holds the
/// detail under that id, the answer never does.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable identifier, e.g. `bad_signature`, `nonce_too_low`, `not_found`, `internal`.
    pub code: String,
    pub message: String,
    /// Set on internal errors: quote it to the operator, who finds the detail in the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorBody {
        ErrorBody { code: code.to_owned(), message: message.into(), request_id: None }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}
