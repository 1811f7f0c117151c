//! The servers' side of the wire types (feature `server`): [`ApiError`] as an axum response,
//! and extractors whose rejections answer with the same `{code, message}` body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;

use crate::ErrorBody;

/// An error with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds the client should wait before trying again (`Retry-After`; a 503 says 1
    /// unless told).
    pub retry_after_s: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A fresh id for a request whose failure is logged: `req_` and 8 random bytes in hex.
fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::from("req_"), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody::new(code, message), retry_after_s: None }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of the server itself. The detail goes to the log under a new request id;
    /// the client gets the id, never the detail (which may name tables, paths or peers).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let id = new_request_id();
        tracing::error!(target: "api", request_id = %id, error = %detail, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody {
                code: "internal".into(),
                message: format!(
                    "internal error; the server's log has the detail under request id {id}"
                ),
                request_id: Some(id),
            },
            retry_after_s: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = match self.retry_after_s {
            Some(s) => Some(s),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            None => None,
        };
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(s) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// A body that could not be read, in our error shape: `body_too_large` 413, `body_timeout`
/// 408 (it did not arrive within the server's body timeout, `serving::Limits`), else
/// `malformed_body` 400.
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if timed_out(&e) {
        return body_timeout();
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.body_text())
    } else {
        ApiError::bad_request("malformed_body", e.body_text())
    }
}

/// Whether a body error is the server's body timeout (`serving::Limits::body_timeout`).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn body_timeout() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        "the request body did not arrive in time",
    )
}

/// Reads a body of at most `limit` bytes into one buffer sized from its `Content-Length`.
/// axum's `Bytes` collects the chunks and then copies them into one buffer, so a 60 MB batch
/// briefly took 120 MB; large routes read with this instead.
pub async fn read_body(body: axum::body::Body, limit: usize) -> ApiResult<Vec<u8>> {
    use axum::body::HttpBody;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {limit} bytes"),
        )
    };
    let hint = body.size_hint();
    if hint.lower() > limit as u64 {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(hint.exact().map_or(0, |n| n as usize));
    let mut body = std::pin::pin!(body);
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            if timed_out(&e) {
                body_timeout()
            } else {
                ApiError::bad_request("malformed_body", format!("cannot read the body: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Reads a JSON body ourselves, so malformed, oversized or late bodies get our error shape
/// ([`body_rejection`]) instead of axum's plain-text rejections.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    json_from(&body.map_err(body_rejection)?)
}

/// Parses JSON that may borrow from `bytes` (a large body's strings need not be copied).
pub fn json_from<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_body", format!("invalid JSON body: {e}")))
}

/// Whether a request declares a JSON body: `application/json`, `application/json-rpc` or
/// `application/jsonrequest` (geth's list), with any parameters. A body declared otherwise is
/// refused (415): a cross-origin `text/plain` or form POST is a CORS "simple" request that a
/// browser sends without asking, a JSON one needs a preflight the server can deny.
pub fn declares_json(headers: &HeaderMap) -> bool {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    matches!(
        media_type.as_deref(),
        Some("application/json" | "application/json-rpc" | "application/jsonrequest")
    )
}

/// The refusal of a body not declared JSON (415, `unsupported_media_type`).
pub fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON, with `Content-Type: application/json`",
    )
}

/// A JSON request body, declared so ([`declares_json`]; otherwise `unsupported_media_type`,
/// 415); anything else is refused with `malformed_body` (400) or `body_too_large` (413) in the
/// API's error shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !declares_json(request.headers()) {
            return Err(not_json());
        }
        json_body(Bytes::from_request(request, state).await).map(JsonBody)
    }
}

/// A JSON request body that may also be empty, which reads as `T::default()` (whatever its
/// declared type); a body that is not empty must be declared JSON, as [`JsonBody`]'s.
#[derive(Debug)]
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = declares_json(request.headers());
        match Bytes::from_request(request, state).await {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(JsonOrEmpty(T::default())),
            _ if !json => Err(not_json()),
            other => json_body(other).map(JsonOrEmpty),
        }
    }
}

/// Path parameters; undecodable ones (bad percent-encoding, not UTF-8) are refused with
/// `bad_path` (400).
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(p)| PathParams(p))
            .map_err(|e| ApiError::bad_request("bad_path", e.body_text()))
    }
}

/// Query parameters; malformed ones are refused with `bad_query` (400).
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// The answer to a path no route serves (404 `not_found`, pointing to the API's reference).
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}; see /docs for the API", uri.path()))
}

/// The answer to a method a path does not take (405 `method_not_allowed`).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method; see /docs for the API",
    )
}

/// Documents on every operation the answers it can give without saying so itself: 500 for an
/// internal failure, 400 and 413 for a body that is not JSON or too large; with `bearer`, 401
/// unless the operation is public (`security: [{}]`), and the bearer security scheme.
pub fn document_common_answers(doc: &mut utoipa::openapi::OpenApi, bearer: bool) {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    if bearer {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations =
            [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            let public = op.security.as_ref().is_some_and(|s| {
                s.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
            });
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            };
            if bearer && !public {
                add("401", "No credential, or one that does not hold (expired, revoked, forged)");
            }
            add("500", "An internal failure: `request_id` names the log entry with the detail");
            if op.request_body.is_some() {
                add("400", "The body is not what this operation takes (`malformed_body`)");
                add("413", "The body is too large (`body_too_large`)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_keep_their_detail_out_of_the_answer() {
        let e = ApiError::internal("relation \"users\" does not exist");
        let id = e.body.request_id.clone().unwrap();
        assert!(id.starts_with("req_") && id.len() == 20, "{id}");
        assert_eq!(e.body.code, "internal");
        assert!(!e.body.message.contains("users"), "{}", e.body.message);
        assert!(e.body.message.contains(&id));
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.request_id, Some(id));
        assert_ne!(
            ApiError::internal("x").body.request_id,
            ApiError::internal("x").body.request_id
        );
    }

    #[tokio::test]
    async fn unavailable_answers_say_when_to_retry() {
        let response =
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "pool_full", "full").into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn malformed_bodies_get_the_error_shape() {
        let e = json_body::<serde_json::Value>(Ok(Bytes::from_static(b"{nope"))).unwrap_err();
        assert_eq!((e.status, e.body.code.as_str()), (StatusCode::BAD_REQUEST, "malformed_body"));
    }
}
