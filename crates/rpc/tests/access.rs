//! Who may use the node API: the chain's access setting, and the tokens a CA of the chain
//! signed (`rpc/src/access.rs`), as bearer tokens, basic auth and `?access_token=`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use common::{CHAIN_ID, TestNode, hex0x};
use consortia_crypto::PrivateKey;
use consortia_crypto::pki::{Ca, ed25519_key_of_pem};
use consortia_crypto::token::{self, CONSORTIUM_ISSUER, Claims, Role};
use consortia_rpc::AccessPolicy;
use consortia_types::config::Access;
use consortia_types::encode;
use serde_json::{Value, json};
use std::time::Duration;

/// A node of `access`, its consortium CA and its member organization `org-a`'s CA.
struct Chain {
    node: TestNode,
    consortium: PrivateKey,
    member: PrivateKey,
}

async fn chain(access: Access) -> Chain {
    let consortium = Ca::generate("c").unwrap();
    let member = consortium.issue_member("c", "org-a").unwrap();
    let policy = AccessPolicy { access, consortium_ca: ed25519_key_of_pem(consortium.cert_pem()) };
    let node = TestNode::start_with(policy, member.cert_pem().to_owned()).await;
    let key = |ca: &Ca| PrivateKey::from_pem(ca.key_pem(), None).unwrap();
    Chain { node, consortium: key(&consortium), member: key(&member) }
}

fn now() -> u64 {
    consortia_node::now_ms() / 1000
}

fn claims(iss: &str, role: Role) -> Claims {
    Claims {
        iss: iss.into(),
        sub: "app".into(),
        aud: CHAIN_ID.to_string(),
        role,
        iat: now(),
        exp: now() + 600,
        jti: "t".into(),
    }
}

impl Chain {
    fn member_token(&self, role: Role) -> String {
        token::issue(&claims("org-a", role), &self.member).unwrap()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.node.send(request.body(body).unwrap()).await
    }

    /// `POST /v1/transactions` of the next notarization.
    async fn submit(&mut self, authorization: Option<String>) -> (StatusCode, Value) {
        let tx = self.node.notarization("n-1", b"x");
        let body = json!({"tx": hex0x(&encode(&tx))});
        self.call(Method::POST, "/v1/transactions", authorization, Some(body)).await
    }

    async fn status_with(&self, authorization: Option<String>) -> StatusCode {
        self.call(Method::GET, "/v1/status", authorization, None).await.0
    }

    /// `eth_sendRawTransaction` of bytes that do not decode: a caller allowed to send gets a
    /// decoding error, one who is not gets -32003.
    async fn send_raw_code(&self, authorization: Option<String>) -> i64 {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x01"]});
        let (status, value) = self.call(Method::POST, "/rpc", authorization, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        value["error"]["code"].as_i64().unwrap_or_else(|| panic!("{value}"))
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn basic(user: &str, password: &str) -> Option<String> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {encoded}"))
}

#[tokio::test]
async fn a_members_only_node_refuses_a_read_without_a_credential_with_a_challenge() {
    let c = chain(Access::Members).await;
    let request = Request::get("/v1/status").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(c.node.clone_router(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).unwrap();
    assert!(challenge.to_str().unwrap().starts_with("Bearer"), "{challenge:?}");
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []});
    let (status, body) = c.call(Method::POST, "/rpc", None, Some(rpc)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthorized");
    assert_eq!(c.call(Method::GET, "/metrics", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(c.call(Method::GET, "/ws", None, None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_the_api_document_answer_everyone() {
    let c = chain(Access::Members).await;
    let (status, body) = c.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    assert_eq!(c.call(Method::GET, "/openapi.json", None, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_member_token_reads_as_bearer_as_basic_auth_and_as_a_query_parameter() {
    let c = chain(Access::Members).await;
    let token = c.member_token(Role::Read);
    assert_eq!(c.status_with(bearer(&token)).await, StatusCode::OK);
    assert_eq!(c.status_with(basic("org-a", &token)).await, StatusCode::OK);
    assert_eq!(c.status_with(basic("", &token)).await, StatusCode::OK);
    let path = format!("/v1/status?access_token={token}");
    assert_eq!(c.call(Method::GET, &path, None, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_consortium_cas_token_is_trusted_as_the_platforms() {
    let c = chain(Access::Members).await;
    let token = token::issue(&claims(CONSORTIUM_ISSUER, Role::Write), &c.consortium).unwrap();
    assert_eq!(c.status_with(bearer(&token)).await, StatusCode::OK);
}

#[tokio::test]
async fn a_read_credential_cannot_send_transactions() {
    let mut c = chain(Access::Members).await;
    let token = c.member_token(Role::Read);
    let (status, answer) = c.submit(bearer(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(c.send_raw_code(bearer(&token)).await, -32003);
}

#[tokio::test]
async fn a_write_credential_sends_transactions() {
    let mut c = chain(Access::Members).await;
    let token = c.member_token(Role::Write);
    let (status, answer) = c.submit(bearer(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_ne!(c.send_raw_code(bearer(&token)).await, -32003, "the send was let through");
}

#[tokio::test]
async fn expired_forged_foreign_and_other_chains_tokens_are_refused() {
    let c = chain(Access::PublicReads).await;
    let mut expired = claims("org-a", Role::Read);
    expired.exp = now() - 1;
    let mut other_chain = claims("org-a", Role::Read);
    other_chain.aud = (CHAIN_ID + 1).to_string();
    let stranger = PrivateKey::generate(consortia_crypto::Scheme::Ed25519);
    let refused = [
        token::issue(&expired, &c.member).unwrap(),
        token::issue(&other_chain, &c.member).unwrap(),
        token::issue(&claims("org-a", Role::Read), &stranger).unwrap(),
        // The member's key, speaking as the consortium.
        token::issue(&claims(CONSORTIUM_ISSUER, Role::Read), &c.member).unwrap(),
        "not.a.token".into(),
    ];
    // Even where reads are public, a credential that does not hold is refused, not ignored.
    for token in refused {
        assert_eq!(c.status_with(bearer(&token)).await, StatusCode::UNAUTHORIZED, "{token}");
    }
    assert_eq!(c.status_with(Some("Digest x".into())).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn public_reads_let_anyone_read_but_not_send() {
    let mut c = chain(Access::PublicReads).await;
    assert_eq!(c.status_with(None).await, StatusCode::OK);
    let (status, answer) = c.submit(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(c.send_raw_code(None).await, -32003);
    let read = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let (_, answer) = c.call(Method::POST, "/rpc", None, Some(read)).await;
    assert_eq!(answer["result"], format!("{CHAIN_ID:#x}"), "{answer}");
}

#[tokio::test]
async fn a_batch_sends_nothing_without_a_write_credential() {
    let c = chain(Access::PublicReads).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x01"]},
    ]);
    let (_, answer) = c.call(Method::POST, "/rpc", None, Some(batch)).await;
    assert_eq!(answer[0]["result"], format!("{CHAIN_ID:#x}"), "{answer}");
    assert_eq!(answer[1]["error"]["code"], -32003, "{answer}");
}

#[tokio::test]
async fn an_open_node_takes_sends_without_a_credential() {
    let c = chain(Access::Open).await;
    assert_eq!(c.status_with(None).await, StatusCode::OK);
    assert_ne!(c.send_raw_code(None).await, -32003);
}

#[tokio::test]
async fn a_member_voted_in_is_trusted_at_once_and_voted_out_loses_its_tokens() {
    use alloy_sol_types::SolCall;
    use consortia_execution::governance::{self, IGovernance};
    let consortium = Ca::generate("c").unwrap();
    let member_a = consortium.issue_member("c", "org-a").unwrap();
    let member_b = consortium.issue_member("c", "org-b").unwrap();
    let policy = AccessPolicy {
        access: Access::Members,
        consortium_ca: ed25519_key_of_pem(consortium.cert_pem()),
    };
    let mut t = TestNode::start_with(policy, member_a.cert_pem().to_owned()).await;
    let key_b = PrivateKey::from_pem(member_b.key_pem(), None).unwrap();
    let token_b = token::issue(&claims("org-b", Role::Read), &key_b).unwrap();
    assert_eq!(status_for(&t, &token_b).await, StatusCode::UNAUTHORIZED, "not a member yet");

    let admin_b = PrivateKey::generate(consortia_crypto::Scheme::Secp256k1);
    let add = IGovernance::proposeAddMemberCall {
        org: "org-b".into(),
        admins: vec![admin_b.public_key().address().0.into()],
        caCert: member_b.cert_pem().to_owned(),
    };
    let tx = t.evm_call(governance::ADDRESS, add.abi_encode());
    t.commit(&[tx]).await;
    assert_eq!(status_for(&t, &token_b).await, StatusCode::OK, "a member once voted in");

    // org-a proposes, org-b's admin approves (gas is free here): two of two.
    let remove = IGovernance::proposeRemoveMemberCall { org: "org-b".into() };
    let tx = t.evm_call(governance::ADDRESS, remove.abi_encode());
    t.commit(&[tx]).await;
    let vote = IGovernance::voteCall { id: 2, approve: true };
    let payload =
        consortia_test_utils::tx::evm_call(Some(governance::ADDRESS), 0, vote.abi_encode());
    let tx = consortia_test_utils::tx::native(&admin_b, CHAIN_ID, 0, payload);
    t.commit(&[tx]).await;
    let members = governance::members(t.node.store()).unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(status_for(&t, &token_b).await, StatusCode::UNAUTHORIZED, "voted out");
}

/// What `/v1/status` answers a bearer of `token`.
async fn status_for(t: &TestNode, token: &str) -> StatusCode {
    let request = Request::get("/v1/status")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    t.send(request).await.0
}

/// A members-only node whose member org-a has a CA, the read tokens of that CA and of its
/// successor, and the successor's certificate.
async fn node_before_rotation() -> (TestNode, String, String, String) {
    let consortium = Ca::generate("c").unwrap();
    let old = consortium.issue_member("c", "org-a").unwrap();
    let new = consortium.issue_member("c", "org-a").unwrap();
    let policy = AccessPolicy {
        access: Access::Members,
        consortium_ca: ed25519_key_of_pem(consortium.cert_pem()),
    };
    let t = TestNode::start_with(policy, old.cert_pem().to_owned()).await;
    let token_of = |ca: &Ca| {
        let key = PrivateKey::from_pem(ca.key_pem(), None).unwrap();
        token::issue(&claims("org-a", Role::Read), &key).unwrap()
    };
    (t, token_of(&old), token_of(&new), new.cert_pem().to_owned())
}

/// Org-a (the chain's one member, so its proposal passes at once) rotates its CA to `ca_cert`.
async fn rotate(t: &mut TestNode, ca_cert: String, overlap_ms: u64) {
    use alloy_sol_types::SolCall;
    use consortia_execution::governance::{self, IGovernance};
    let rotate = IGovernance::proposeRotateMemberCaCall {
        org: "org-a".into(),
        caCert: ca_cert.clone(),
        overlapMs: overlap_ms,
    };
    let tx = t.evm_call(governance::ADDRESS, rotate.abi_encode());
    t.commit(&[tx]).await;
    assert_eq!(governance::members(t.node.store()).unwrap()[0].ca_cert, ca_cert);
}

#[tokio::test]
async fn a_rotated_ca_keeps_its_tokens_valid_until_the_overlap_ends() {
    let (mut t, old_token, new_token, new_ca) = node_before_rotation().await;
    assert_eq!(status_for(&t, &old_token).await, StatusCode::OK);
    assert_eq!(status_for(&t, &new_token).await, StatusCode::UNAUTHORIZED, "not voted yet");
    rotate(&mut t, new_ca, 1_500).await;
    assert_eq!(status_for(&t, &new_token).await, StatusCode::OK, "the new CA at once");
    assert_eq!(status_for(&t, &old_token).await, StatusCode::OK, "the old one in overlap");
    // The overlap ends with the first block whose time is past it.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let tx = t.notarization("after-overlap", b"x");
    t.commit(&[tx]).await;
    assert_eq!(status_for(&t, &old_token).await, StatusCode::UNAUTHORIZED, "overlap over");
    assert_eq!(status_for(&t, &new_token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_rotation_without_overlap_ends_the_old_cas_tokens_at_once() {
    let (mut t, old_token, new_token, new_ca) = node_before_rotation().await;
    assert_eq!(status_for(&t, &old_token).await, StatusCode::OK, "cached as verified");
    rotate(&mut t, new_ca, 0).await;
    assert_eq!(status_for(&t, &old_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_for(&t, &new_token).await, StatusCode::OK);
}

/// The DER of a client certificate `issuer` (a CA's PEM key and certificate) issues.
fn client_certificate(issuer: &Ca, role: &str, days: u32) -> Vec<u8> {
    let holder = PrivateKey::generate(consortia_crypto::Scheme::Ed25519);
    let public: [u8; 32] = holder.public_key().as_bytes().try_into().unwrap();
    let pem = issuer.issue_client("app", role, &public, days).unwrap();
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

impl Chain {
    /// A request over a TLS connection whose client presented `certificate`.
    async fn with_certificate(&mut self, method: Method, path: &str, der: &[u8]) -> StatusCode {
        let body = match method {
            Method::POST => {
                let tx = self.node.notarization("n-1", b"x");
                Body::from(json!({"tx": hex0x(&encode(&tx))}).to_string())
            }
            _ => Body::empty(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap();
        let certificate = consortia_api::serving::PeerCertificate(der.into());
        request.extensions_mut().insert(certificate);
        self.node.send(request).await.0
    }
}

/// A chain whose member `org-a` holds `member` as its CA.
async fn chain_of(member: &Ca, consortium: &Ca) -> Chain {
    let policy = AccessPolicy {
        access: Access::Members,
        consortium_ca: ed25519_key_of_pem(consortium.cert_pem()),
    };
    let node = TestNode::start_with(policy, member.cert_pem().to_owned()).await;
    let key = |ca: &Ca| PrivateKey::from_pem(ca.key_pem(), None).unwrap();
    Chain { node, consortium: key(consortium), member: key(member) }
}

#[tokio::test]
async fn a_members_client_certificate_is_a_credential_whose_role_decides_writes() {
    let consortium = Ca::generate("c").unwrap();
    let member = consortium.issue_member("c", "org-a").unwrap();
    let mut c = chain_of(&member, &consortium).await;
    let read = client_certificate(&member, "read", 30);
    assert_eq!(c.with_certificate(Method::GET, "/v1/status", &read).await, StatusCode::OK);
    let sent = c.with_certificate(Method::POST, "/v1/transactions", &read).await;
    assert_eq!(sent, StatusCode::FORBIDDEN);
    let write = client_certificate(&member, "write", 30);
    let sent = c.with_certificate(Method::POST, "/v1/transactions", &write).await;
    assert_eq!(sent, StatusCode::ACCEPTED);
    let platform = client_certificate(&consortium, "read", 30);
    assert_eq!(c.with_certificate(Method::GET, "/v1/status", &platform).await, StatusCode::OK);
}

#[tokio::test]
async fn a_client_certificate_of_a_stranger_expired_or_without_a_role_is_refused() {
    let consortium = Ca::generate("c").unwrap();
    let member = consortium.issue_member("c", "org-a").unwrap();
    let mut c = chain_of(&member, &consortium).await;
    let stranger = Ca::generate("other").unwrap();
    for der in [
        client_certificate(&stranger, "write", 30),
        client_certificate(&member, "write", 0),
        client_certificate(&member, "admin", 30),
    ] {
        let status = c.with_certificate(Method::GET, "/v1/status", &der).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

/// A dapp's page on an allowed origin calls a members-only node with a bearer token: the
/// preflight (browsers send it without credentials) allows the `Authorization` header, and the
/// call itself gets its answer with the origin allowed.
#[tokio::test]
async fn the_cors_allow_list_works_with_credentials() {
    let c = chain(Access::Members).await;
    let layer = consortia_rpc::cors::layer(&["http://localhost:*".to_owned()]).unwrap().unwrap();
    let app = c.node.clone_router().layer(layer);
    let preflight = Request::options("/rpc")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .body(Body::empty())
        .unwrap();
    let answer = tower::ServiceExt::oneshot(app.clone(), preflight).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let allowed = answer.headers().get("access-control-allow-headers").unwrap();
    assert!(allowed.to_str().unwrap().contains("authorization"), "{allowed:?}");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let call = Request::post("/rpc")
        .header("origin", "http://localhost:5173")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", c.member_token(Role::Read)))
        .body(Body::from(body.to_string()))
        .unwrap();
    let answer = tower::ServiceExt::oneshot(app, call).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let origin = answer.headers().get("access-control-allow-origin").unwrap();
    assert_eq!(origin, "http://localhost:5173");
}
