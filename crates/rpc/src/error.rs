use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use consortia_node::mempool::AdmitError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error the API returns: a stable machine-readable `code` and a message for people.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable identifier, e.g. `bad_signature`, `nonce_too_low`, `not_found`.
    pub code: String,
    pub message: String,
}

/// An error with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { code: code.to_owned(), message: message.into() } }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(target: "rpc", error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<AdmitError> for ApiError {
    fn from(e: AdmitError) -> Self {
        let status = match e {
            AdmitError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AdmitError::NonceTooLow { .. } | AdmitError::NonceConflict { .. } => {
                StatusCode::CONFLICT
            }
            AdmitError::PoolFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AdmitError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AdmitError::Malformed(_)
            | AdmitError::WrongChain { .. }
            | AdmitError::InvalidPayload(_)
            | AdmitError::BadSignature
            | AdmitError::NonceTooFarAhead { .. } => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Reads a JSON body ourselves, so malformed or oversized bodies get our error shape
/// (`malformed_body` 400, `body_too_large` 413) instead of axum's plain-text rejections.
pub fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<T> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.body_text())
        } else {
            ApiError::bad_request("malformed_body", e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("malformed_body", format!("invalid JSON body: {e}")))
}
