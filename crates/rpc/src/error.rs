//! The node's refusals as API errors.

use axum::http::StatusCode;
use consortia_api::server::ApiError;
use consortia_node::mempool::AdmitError;

/// An admission refusal with its HTTP status.
pub(crate) fn admit_error(e: AdmitError) -> ApiError {
    let status = match e {
        AdmitError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AdmitError::NonceTooLow { .. } | AdmitError::NonceConflict { .. } => StatusCode::CONFLICT,
        AdmitError::PoolFull { .. } | AdmitError::Draining => StatusCode::SERVICE_UNAVAILABLE,
        AdmitError::State(_) => return ApiError::internal(e),
        AdmitError::Malformed(_)
        | AdmitError::WrongChain { .. }
        | AdmitError::InvalidPayload(_)
        | AdmitError::BadSignature
        | AdmitError::Unprotected { .. }
        | AdmitError::IntrinsicGas { .. }
        | AdmitError::GasLimit { .. }
        | AdmitError::FeeCapTooLow { .. }
        | AdmitError::InsufficientFunds { .. }
        | AdmitError::NonceTooFarAhead { .. } => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}
