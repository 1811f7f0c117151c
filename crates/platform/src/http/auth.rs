//! Who is calling: the middleware that answers 503 `sealed` while the keystore is sealed (but
//! for the few paths that unseal it), turns `Authorization: Bearer …` into a [`Caller`] (401
//! with `WWW-Authenticate: Bearer` otherwise) and writes the audit log, and the [`Ctx`]
//! extractor handlers take it from.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consortia_api::server::ApiError;

use crate::{Caller, Error, Platform};

/// The platform and the authenticated caller of a request (the middleware put it there).
#[derive(Debug)]
pub struct Ctx {
    pub platform: Arc<Platform>,
    pub caller: Caller,
}

impl FromRequestParts<Arc<Platform>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, ApiError> {
        let caller =
            parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ApiError::from(Error::Unauthorized("authentication required".into()))
            })?;
        Ok(Ctx { platform: platform.clone(), caller })
    }
}

/// Paths anyone may call.
fn is_public(path: &str) -> bool {
    matches!(path, "/v1/auth/login" | "/v1/auth/refresh")
        || super::keystore::PUBLIC.contains(&path)
        || answers_while_sealed(path)
}

/// Paths a sealed platform answers: health, the keystore's status and unseal, and the static
/// console (whose unseal screen uses them) and API reference.
fn answers_while_sealed(path: &str) -> bool {
    matches!(path, "/v1/health" | "/openapi.json")
        || super::keystore::WHILE_SEALED.contains(&path)
        || path.starts_with("/docs")
        || consortia_console::is_console_path(path)
}

/// Authenticates every request but the public ones, hands the [`Caller`] to the handlers,
/// and records every mutating call in the audit log (who, what, when, result).
pub async fn middleware(
    State(platform): State<Arc<Platform>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut actor = None;
    if !answers_while_sealed(&path)
        && let Err(sealed) = platform.keys()
    {
        return ApiError::from(sealed).into_response();
    }
    if !is_public(&path) {
        let credential = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let caller = match credential {
            Some(c) => platform.resolve(c.trim()).await,
            None => Err(Error::Unauthorized(
                "authentication required: send `Authorization: Bearer <token>` (POST /v1/auth/login) or an API key"
                    .into(),
            )),
        };
        match caller {
            Ok(caller) => {
                actor = Some(caller.username.clone());
                request.extensions_mut().insert(caller);
            }
            Err(e) => {
                let mut response = ApiError::from(e).into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
        }
    }
    let response = next.run(request).await;
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        platform
            .record_audit(actor.as_deref(), method.as_str(), &path, response.status().as_u16())
            .await;
    }
    response
}
