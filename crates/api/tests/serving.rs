//! The servers' connection loop against clients that misbehave on purpose, over real sockets:
//! half a header (slowloris), a body that stalls, more connections than the cap, and a `Host`
//! that is not the server's (DNS rebinding).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use consortia_api::serving::{AllowedHosts, ClientAddr, Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server with short limits (so the tests wait little) answering `GET /` with the client's
/// address and echoing `POST /echo`.
async fn server(max_connections: usize) -> String {
    let app = Router::new()
        .route("/", get(|ClientAddr(a): ClientAddr| async move { format!("{a:?}") }))
        .route(
            "/echo",
            post(
                |body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>| async {
                    body.map_err(consortia_api::server::body_rejection)
                },
            ),
        );
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_connections,
        max_per_client: max_connections,
        hosts: AllowedHosts::new(["node0.chain.internal"]),
        tls: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

/// Reads until the server closes the connection (or 10 s pass); what it sent.
async fn read_to_close(stream: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await.is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn half_a_header_is_cut_off() {
    let addr = server(16).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let (_, closed) = read_to_close(&mut stream).await;
    assert!(closed, "the server still holds a connection whose header never ends");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let addr = server(16).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = read_to_close(&mut stream).await;
    assert!(closed);
}

#[tokio::test]
async fn a_body_that_stalls_is_refused_with_408() {
    let addr = server(16).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789";
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
}

#[tokio::test]
async fn past_the_connection_cap_a_client_waits_for_a_free_slot() {
    let addr = server(2).await;
    let mut held = vec![];
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        // A request in flight keeps each slot busy: its body never comes (until the timeout).
        let head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n";
        s.write_all(head.as_bytes()).await.unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let answer = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(answer.status(), 200);
    // It was served once the held connections timed out, not before.
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_foreign_host_is_refused_and_the_servers_names_answer() {
    let addr = server(16).await;
    let client = reqwest::Client::new();
    let ask =
        |host: &'static str| client.get(format!("http://{addr}/")).header("host", host).send();
    let refused = ask("evil.example:8545").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "host_not_allowed");
    for host in ["localhost:8545", "node0.chain.internal", "127.0.0.1"] {
        assert_eq!(ask(host).await.unwrap().status(), 200, "{host}");
    }
}

#[tokio::test]
async fn handlers_learn_the_clients_address() {
    let addr = server(16).await;
    let text = reqwest::get(format!("http://{addr}/")).await.unwrap().text().await.unwrap();
    assert_eq!(text, "Some(127.0.0.1)");
}

#[tokio::test]
async fn a_keep_alive_connection_left_idle_is_closed() {
    let addr = server(16).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let (answer, closed) = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "a keep-alive connection with no next request stays open");
}

/// A TLS server whose certificate the consortium CA `ca` issued for 127.0.0.1, answering
/// `GET /` with whether the client presented a certificate.
async fn tls_server(ca: &consortia_crypto::pki::Ca) -> String {
    use consortia_api::serving::{PeerCertificate, ServerCertificate, tls_config};
    let key = consortia_crypto::PrivateKey::generate(consortia_crypto::Scheme::Ed25519);
    let cert = ca.issue_server("server", &key, &["127.0.0.1".to_owned()]).unwrap();
    let config = tls_config(ServerCertificate::new(&cert, &key.to_pkcs8_der()).unwrap()).unwrap();
    let app = Router::new().route(
        "/",
        get(|c: Option<axum::Extension<PeerCertificate>>| async move {
            if c.is_some() { "a client certificate" } else { "none" }
        }),
    );
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        tls: Some(config),
        ..Limits::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

#[tokio::test]
async fn over_tls_a_client_certificate_reaches_the_handlers() {
    let ca = consortia_crypto::pki::Ca::generate("t").unwrap();
    let addr = tls_server(&ca).await;
    let root = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
    let anonymous = reqwest::Client::builder().add_root_certificate(root.clone()).build().unwrap();
    let url = format!("https://{addr}/");
    assert_eq!(anonymous.get(&url).send().await.unwrap().text().await.unwrap(), "none");
    let key = consortia_crypto::PrivateKey::generate(consortia_crypto::Scheme::Ed25519);
    let public: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
    let cert = ca.issue_client("app", "read", &public, 1).unwrap();
    let identity =
        reqwest::Identity::from_pem(format!("{cert}{}", key.to_pkcs8_pem()).as_bytes()).unwrap();
    let client =
        reqwest::Client::builder().add_root_certificate(root).identity(identity).build().unwrap();
    let answer = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(answer, "a client certificate");
}

#[tokio::test]
async fn a_tls_handshake_that_stalls_is_cut_off() {
    let ca = consortia_crypto::pki::Ca::generate("t").unwrap();
    let addr = tls_server(&ca).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    // The first byte of a TLS record (handshake), then nothing.
    stream.write_all(&[0x16]).await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_to_close(&mut stream).await;
    assert!(closed && started.elapsed() < Duration::from_secs(5), "a stalled handshake held on");
}

#[tokio::test]
async fn a_replaced_server_certificate_is_presented_from_the_next_handshake() {
    use consortia_api::serving::{ServerCertificate, tls_config};
    use consortia_crypto::{PrivateKey, Scheme, pki::Ca};
    let (old_ca, new_ca) = (Ca::generate("old").unwrap(), Ca::generate("new").unwrap());
    let key = PrivateKey::generate(Scheme::Ed25519);
    let hosts = ["127.0.0.1".to_owned()];
    let certificate = ServerCertificate::new(
        &old_ca.issue_server("s", &key, &hosts).unwrap(),
        &key.to_pkcs8_der(),
    )
    .unwrap();
    let limits =
        Limits { tls: Some(tls_config(certificate.clone()).unwrap()), ..Limits::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let app = Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    // A fresh client per request: a pooled connection would keep the first handshake's.
    let trusting = |ca: &Ca| {
        let root = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();
        reqwest::Client::builder().add_root_certificate(root).build().unwrap()
    };
    assert!(trusting(&old_ca).get(&url).send().await.is_ok());
    assert!(trusting(&new_ca).get(&url).send().await.is_err());
    let renewed = new_ca.issue_server("s", &key, &hosts).unwrap();
    certificate.replace(&renewed, &key.to_pkcs8_der()).unwrap();
    assert!(trusting(&new_ca).get(&url).send().await.is_ok());
    assert!(trusting(&old_ca).get(&url).send().await.is_err());
}

#[tokio::test]
async fn one_client_cannot_take_more_than_its_share_of_connections() {
    let limits =
        Limits { header_timeout: Duration::from_secs(5), max_per_client: 2, ..Limits::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    let mut held = vec![];
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap(); // half a head
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(&addr).await.unwrap();
    let (said, closed) = read_to_close(&mut third).await;
    assert!(closed && said.is_empty(), "a third connection of one client was served: {said}");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = reqwest::get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(answer.status(), 200, "a freed share serves again");
}
