//! Who may use the node API: the chain's [`Access`] setting and the caller's credential.
//!
//! A credential is an access token (`consortia_crypto::token`) signed by the consortium's CA
//! (whose key the node has from its configuration) or by a member organization's CA (whose
//! certificate the chain's governance lists now: a member voted out takes its tokens with it).
//! It comes as `Authorization: Bearer TOKEN`, as the password of HTTP basic auth
//! (`http://app:TOKEN@host:port/`: wallets and web3 clients that take only a URL send it so),
//! or, for a browser's WebSocket (which cannot set headers), as `?access_token=TOKEN`
//! (RFC 6750 section 2.3). Over HTTPS a client certificate is a credential too (Fabric's
//! way): issued by the same CAs, its holder in the common name and its role (`read`, `write`)
//! in the organizational unit. The node checks both offline: no call to the platform.
//!
//! Reads are every route but the writes; writes are `POST /v1/transactions`, its batch, and
//! the JSON-RPC methods that send transactions (checked by the dispatcher with [`Permit`]).
//! `GET /v1/health` and the API's documentation are open in every mode, for probes and people.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use consortia_api::server::ApiError;
use consortia_api::serving::PeerCertificate;
use consortia_crypto::token::{self, CONSORTIUM_ISSUER, Claims, Role, Signed};
use consortia_execution::governance;
use consortia_node::Node;
use consortia_types::Height;
use consortia_types::config::Access;
use parking_lot::Mutex;

/// The JSON-RPC methods that write (send a transaction).
pub(crate) const WRITE_METHODS: [&str; 2] = ["eth_sendRawTransaction", "eth_sendTransaction"];

/// Who may use this node's API, and whom it trusts to say so.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    pub access: Access,
    /// The consortium CA's Ed25519 key (from its certificate): its tokens are the platform's,
    /// or the network operator's.
    pub consortium_ca: Option<[u8; 32]>,
}

impl AccessPolicy {
    /// Anyone reads and writes (`consortia dev`, tests of other things).
    pub fn open() -> AccessPolicy {
        AccessPolicy { access: Access::Open, consortium_ca: None }
    }
}

/// What the caller of a request may do, for the handlers that decide per call (JSON-RPC).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Permit {
    pub(crate) write: bool,
}

/// Member organizations by their CA's Ed25519 key.
type MemberCas = Arc<HashMap<[u8; 32], String>>;

/// The policy and the member CAs' keys as of the last height read (re-read when the chain
/// has moved on, so a vote that removes a member, or a CA rotation's overlap that ended, ends
/// their tokens at the next request).
#[derive(Debug)]
pub(crate) struct Gate {
    node: Arc<Node>,
    policy: AccessPolicy,
    members: Mutex<Option<(Height, MemberCas)>>,
    /// Tokens whose signature verified (bounded by [`VERIFIED_KEPT`]).
    verified: Mutex<HashMap<String, Signed>>,
}

/// Most verified tokens a node remembers (a few hundred bytes each); past it, it forgets all
/// and verifies again: clients hold few tokens each, and a signature check costs ~50 µs.
const VERIFIED_KEPT: usize = 4096;

impl Gate {
    pub(crate) fn new(node: Arc<Node>, policy: AccessPolicy) -> Arc<Gate> {
        Arc::new(Gate { node, policy, members: Mutex::new(None), verified: Mutex::default() })
    }

    /// The issuer names of the keys the chain trusts now: member organizations' CAs.
    fn member_cas(&self) -> Result<MemberCas, ApiError> {
        let height = self.node.committed_height();
        if let Some((at, keys)) = &*self.members.lock()
            && *at == height
        {
            return Ok(keys.clone());
        }
        let time_ms = crate::governance::latest_time_ms(&self.node)?;
        let cas = governance::trusted_cas(self.node.store(), time_ms)
            .map_err(|e| ApiError::internal(format!("reading the chain's members: {e}")))?;
        let keys: HashMap<[u8; 32], String> = cas
            .into_iter()
            .filter_map(|(org, pem)| Some((consortia_crypto::pki::ed25519_key_of_pem(&pem)?, org)))
            .collect();
        let keys = Arc::new(keys);
        *self.members.lock() = Some((height, keys.clone()));
        Ok(keys)
    }

    /// The role of a client certificate one of the chain's CAs issued, if valid now.
    fn verify_certificate(&self, der: &[u8]) -> Result<Role, ApiError> {
        let members = self.member_cas()?;
        let issuers = self.policy.consortium_ca.iter().chain(members.keys());
        let certificate = issuers
            .filter_map(|key| consortia_crypto::pki::client_certificate(der, key))
            .next()
            .ok_or_else(|| unauthorized("the client certificate is not from a CA of this chain"))?;
        let now = (consortia_node::now_ms() / 1000) as i64;
        if now < certificate.not_before || now >= certificate.not_after {
            return Err(unauthorized("the client certificate has expired or is not valid yet"));
        }
        match certificate.role.as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            other => Err(unauthorized(&format!(
                "the client certificate's role `{other}` is neither read nor write"
            ))),
        }
    }

    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let members = self.member_cas()?;
        let trusted = |key: &[u8; 32]| {
            if self.policy.consortium_ca.as_ref() == Some(key) {
                return Some(CONSORTIUM_ISSUER.to_owned());
            }
            members.get(key).cloned()
        };
        let now = consortia_node::now_ms() / 1000;
        // A token seen before skips its signature check, not the others: its issuer must
        // still be trusted (a member voted out, a CA replaced) and it must not have expired.
        let seen = self.verified.lock().get(token).cloned();
        if let Some(signed) = seen
            && now < signed.claims.exp
            && trusted(&signed.issuer_key).as_deref() == Some(signed.claims.iss.as_str())
        {
            return Ok(signed.claims);
        }
        let signed = token::verify(token, self.node.genesis().chain_id, now, trusted)
            .map_err(|e| unauthorized(&format!("{e}; ask the platform for a new credential")))?;
        let mut verified = self.verified.lock();
        if verified.len() >= VERIFIED_KEPT {
            verified.clear();
        }
        verified.insert(token.to_owned(), signed.clone());
        Ok(signed.claims)
    }
}

/// 401 with the challenge RFC 6750 asks for.
fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn with_challenge(error: ApiError) -> Response {
    let mut response = error.into_response();
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"consortia node\""),
        );
    }
    response
}

/// The token a request carries, if any: malformed credentials are an error, not "none".
fn credential(request: &Request) -> Result<Option<String>, ApiError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value =
            value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Ok(Some(rest.trim().to_owned())),
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| unauthorized("the basic credentials are not base64 text"))?;
                let (_, password) = decoded.split_once(':').unwrap_or(("", &decoded));
                Ok(Some(password.to_owned()))
            }
            _ => Err(unauthorized("use `Authorization: Bearer TOKEN` or basic auth")),
        };
    }
    let query = request.uri().query().unwrap_or("");
    Ok(query.split('&').find_map(|pair| pair.strip_prefix("access_token=")).map(str::to_owned))
}

/// Open to everyone in every mode.
fn is_open(path: &str) -> bool {
    path == "/v1/health" || path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/")
}

/// Whether the route itself writes (JSON-RPC is decided per method by the dispatcher).
fn is_write_route(method: &Method, path: &str) -> bool {
    method == Method::POST && (path == "/v1/transactions" || path == "/v1/transactions/batch")
}

/// Lets a request through if the chain's access and its credential allow it, with the
/// [`Permit`] the JSON-RPC dispatcher reads.
pub(crate) async fn authenticate(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if is_open(path) || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let writes = is_write_route(request.method(), path);
    let certificate = request.extensions().get::<PeerCertificate>().cloned();
    let role = match (credential(&request), certificate) {
        (Err(e), _) => return with_challenge(e),
        (Ok(Some(token)), _) => match gate.verify(&token) {
            Ok(claims) => Some(claims.role),
            Err(e) => return with_challenge(e),
        },
        (Ok(None), Some(certificate)) => match gate.verify_certificate(&certificate.0) {
            Ok(role) => Some(role),
            Err(e) => return with_challenge(e),
        },
        (Ok(None), None) => None,
    };
    let access = gate.policy.access;
    let may_read = access != Access::Members || role.is_some();
    let may_write = access == Access::Open || role == Some(Role::Write);
    if !may_read {
        return with_challenge(unauthorized(
            "this node serves members only: send a credential the platform issued \
             (Authorization: Bearer TOKEN, or http://app:TOKEN@host/)",
        ));
    }
    if writes && !may_write {
        return with_challenge(match role {
            None => unauthorized("sending transactions needs a write credential"),
            Some(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this credential only reads: sending transactions needs a write credential",
            ),
        });
    }
    request.extensions_mut().insert(Permit { write: may_write });
    next.run(request).await
}
