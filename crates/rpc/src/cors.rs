//! Cross-origin access to the node's HTTP API (JSON-RPC and REST), so browser dapps, Remix
//! and wallets' in-page providers can call it: an allow-list of origins, as geth's
//! `--http.corsdomain`.
//!
//! Each entry is an exact origin (`https://app.example.com`), an origin with any port
//! (`http://localhost:*`), or `*` (any origin: only when the operator writes it). An empty list
//! sends no CORS headers, so browsers keep other sites out. Credentials are never allowed: the
//! API authenticates by signature, not by cookie.

use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use consortia_types::config::CorsOrigin;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer answering preflights and adding `Access-Control-Allow-Origin` for `origins`;
/// `None` for an empty list (no CORS headers at all).
pub fn layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let patterns: Vec<CorsOrigin> =
        origins.iter().map(|o| CorsOrigin::parse(o)).collect::<Result<_, _>>()?;
    let allow = if patterns.contains(&CorsOrigin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| patterns.iter().any(|p| p.allows(o)))
        })
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
            .max_age(Duration::from_secs(24 * 3600)),
    ))
}
