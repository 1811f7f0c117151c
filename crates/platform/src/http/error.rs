//! Domain errors as the API answers them: the one place a [`crate::Error`] becomes a status
//! and a `{code, message}` body. An internal failure answers `{code: "internal", message,
//! request_id}` and its detail goes to the log under that id.

use axum::http::StatusCode;
use consortia_api::server::ApiError;

use crate::Error;

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        if e.is_internal() {
            return ApiError::internal(e);
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut answer = ApiError::new(status, e.code(), e.public_message());
        if let Error::Throttled { retry_after_s, .. } = e {
            answer.retry_after_s = Some(retry_after_s);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_code_and_internal_ones_their_secrets() {
        let e: ApiError = Error::NotAMember { org: "o".into(), consortium: "c".into() }.into();
        assert_eq!((e.status, e.body.code.as_str()), (StatusCode::FORBIDDEN, "not_a_member"));
        let e: ApiError = Error::conflict("port_taken", "port 1 is taken").into();
        assert_eq!((e.status, e.body.message.as_str()), (StatusCode::CONFLICT, "port 1 is taken"));
        let e: ApiError = Error::internal("no such table: chain_nodes").into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.body.message.contains("chain_nodes"), "{}", e.body.message);
        assert!(e.body.request_id.is_some());
        let e: ApiError = Error::Database(sqlx::Error::RowNotFound).into();
        assert_eq!((e.body.code.as_str(), e.body.request_id.is_some()), ("internal", true));
    }
}
