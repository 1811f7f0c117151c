//! The Consortia web console: plain HTML, CSS and JavaScript modules embedded in the binary
//! (no build step, nothing loaded from elsewhere), served by the platform at `/`.
//!
//! The console is a client of the platform's REST API like any other: it logs in, keeps the
//! tokens in the browser's storage, and renders pages from the API's JSON. Routing happens in
//! the browser (`#/…`), so the server only hands out files: `/` and `/assets/…`.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// Every file of the console: its path under `/assets/`, its type, its bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../assets/style.css")),
    ("app.js", JS, include_bytes!("../assets/app.js")),
    ("api.js", JS, include_bytes!("../assets/api.js")),
    ("ui.js", JS, include_bytes!("../assets/ui.js")),
    ("i18n.js", JS, include_bytes!("../assets/i18n.js")),
    ("chart.js", JS, include_bytes!("../assets/chart.js")),
    ("logs.js", JS, include_bytes!("../assets/logs.js")),
    ("events.js", JS, include_bytes!("../assets/events.js")),
    ("pages/login.js", JS, include_bytes!("../assets/pages/login.js")),
    ("pages/alerts.js", JS, include_bytes!("../assets/pages/alerts.js")),
    ("pages/apps.js", JS, include_bytes!("../assets/pages/apps.js")),
    ("pages/unseal.js", JS, include_bytes!("../assets/pages/unseal.js")),
    ("pages/overview.js", JS, include_bytes!("../assets/pages/overview.js")),
    ("pages/orgs.js", JS, include_bytes!("../assets/pages/orgs.js")),
    ("pages/consortiums.js", JS, include_bytes!("../assets/pages/consortiums.js")),
    ("pages/chains.js", JS, include_bytes!("../assets/pages/chains.js")),
    ("pages/nodes.js", JS, include_bytes!("../assets/pages/nodes.js")),
    ("pages/contracts.js", JS, include_bytes!("../assets/pages/contracts.js")),
    ("pages/proposals.js", JS, include_bytes!("../assets/pages/proposals.js")),
    ("pages/sql.js", JS, include_bytes!("../assets/pages/sql.js")),
    ("pages/gateway.js", JS, include_bytes!("../assets/pages/gateway.js")),
    ("pages/services.js", JS, include_bytes!("../assets/pages/services.js")),
    ("pages/explorer.js", JS, include_bytes!("../assets/pages/explorer.js")),
    ("pages/monitor.js", JS, include_bytes!("../assets/pages/monitor.js")),
    ("pages/settings.js", JS, include_bytes!("../assets/pages/settings.js")),
    ("pages/audit.js", JS, include_bytes!("../assets/pages/audit.js")),
    ("pages/hosts.js", JS, include_bytes!("../assets/pages/hosts.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
];

const JS: &str = "text/javascript; charset=utf-8";

/// Each asset's ETag (a hash of its bytes), computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..16]))
            .collect()
    })
}

/// The console's routes: `/` and `/assets/{file}`. They need no login: the files hold no data.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { asset("index.html", &headers) }))
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                asset(&file, &headers)
            }),
        )
}

/// True for the paths [`router`] serves (the platform lets them through without a login).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path.starts_with("/assets/")
}

fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let (_, kind, bytes) = ASSETS[i];
    let etag = &etags()[i];
    // Revalidated on every load (cheap: a 304), so a new binary's console shows at once.
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v == etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, kind)], bytes).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Nothing but this server: no inline scripts, no outside hosts.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_revalidated_by_etag() {
        for (name, kind, _) in ASSETS {
            let r = asset(name, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], *kind);
            let etag = r.headers()[header::ETAG].clone();
            let mut again = HeaderMap::new();
            again.insert(header::IF_NONE_MATCH, etag);
            assert_eq!(asset(name, &again).status(), StatusCode::NOT_MODIFIED, "{name}");
        }
        assert_eq!(asset("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }

    /// The keys of the English and the Chinese table, in order.
    fn text_tables() -> (Vec<String>, Vec<String>) {
        let i18n = std::str::from_utf8(include_bytes!("../assets/i18n.js")).unwrap_or_default();
        let (en, zh) = i18n.split_once("const zh = {").unwrap_or_default();
        let keys = |table: &str| -> Vec<String> {
            table
                .lines()
                .filter_map(|l| l.strip_prefix("  ")?.split_once(':').map(|(k, _)| k.to_owned()))
                .filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .collect()
        };
        (keys(en), keys(zh))
    }

    /// A key written twice in one table silently takes the later text: the earlier page's
    /// words change (regression: a new `no_alerts` replaced the overview's).
    #[test]
    fn regression_no_text_key_is_written_twice() {
        for table in <[Vec<String>; 2]>::from(text_tables()) {
            let mut seen = std::collections::HashSet::new();
            let twice: Vec<&String> = table.iter().filter(|k| !seen.insert(*k)).collect();
            assert!(twice.is_empty(), "written twice: {twice:?}");
        }
    }

    /// Every `t('key')` of the pages has English and Chinese text.
    #[test]
    fn every_text_key_is_in_both_languages() {
        let (en, zh) = text_tables();
        assert!(en.len() > 100, "{} English keys", en.len());
        for (name, _, bytes) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap_or_default();
            for (at, _) in text.match_indices("t('") {
                // `t(` itself, not the end of `split(` or `get(`.
                if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    continue;
                }
                let key: String = text[at + 3..].chars().take_while(|c| *c != '\'').collect();
                assert!(en.contains(&key), "{name}: `{key}` has no English text");
                assert!(zh.contains(&key), "{name}: `{key}` has no Chinese text");
            }
        }
    }

    /// Every module the console imports is one the server serves (a missing file would only
    /// show as a blank page in a browser).
    #[test]
    fn every_imported_module_is_embedded() {
        for (name, _, bytes) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap_or_default();
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else { continue };
                let mut parts: Vec<&str> = if dir.is_empty() { vec![] } else { vec![dir] };
                for part in spec.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {spec} ({target}), which is not embedded"
                );
            }
        }
    }
}
