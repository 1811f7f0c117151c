//! The connection loop every Consortia HTTP server runs (the platform, nodes): axum's router
//! under limits that a slow or hostile client cannot outlast. `axum::serve` sets none: without
//! a timer hyper's header timeout never fires, so a client that sends half a header (slowloris)
//! held its connection, and so its task and buffers, forever.
//!
//! - a new connection must send its first byte, and each request its whole head, within
//!   [`Limits::header_timeout`] (the connection is closed otherwise);
//! - its body within [`Limits::body_timeout`] (408 otherwise);
//! - at most [`Limits::max_connections`] connections at once: the loop stops accepting until
//!   one closes, and the kernel's backlog holds the rest; and at most
//!   [`Limits::max_per_client`] of them from one address (more are closed at once), so one
//!   client cannot take every slot;
//! - the `Host` a request names must be allowed ([`AllowedHosts`]; 403 otherwise): a web page
//!   on a DNS name that resolves to 127.0.0.1 (DNS rebinding) cannot read a local server's
//!   answers;
//! - handlers learn the client's address ([`ClientAddr`]);
//! - with [`Limits::tls`], connections speak TLS (rustls; the handshake must end within the
//!   header timeout) and a client may present a certificate, which handlers get unchecked as
//!   [`PeerCertificate`] to judge against their own trust (see [`tls_config`]).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::server::ApiError;

/// What every connection and request is held to.
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Most connections one client address may hold at once.
    pub max_per_client: usize,
    pub hosts: AllowedHosts,
    /// HTTPS: the server's certificate and key (see [`tls_config`]); plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_per_client: 256,
            hosts: AllowedHosts::default(),
            tls: None,
        }
    }
}

/// Which `Host` names a server answers: always IP literals (a rebinding attack needs a name)
/// and `localhost` (with its subdomains), plus the names given; `*` allows every name (as
/// geth's `--http.vhosts`). A name may start with `*.` for its subdomains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(names: impl IntoIterator<Item = impl AsRef<str>>) -> AllowedHosts {
        AllowedHosts(Arc::new(
            names.into_iter().map(|n| n.as_ref().trim().to_ascii_lowercase()).collect(),
        ))
    }

    /// Whether a `Host` header's value (name or address, with or without a port) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            // [v6]:port
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host.as_str(), |(name, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) { name } else { host.as_str() }
            }),
        };
        let name = name.trim_end_matches('.');
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.0.iter().any(|allowed| match allowed.strip_prefix("*.") {
                _ if allowed == "*" => true,
                Some(domain) => name.ends_with(&format!(".{domain}")),
                None => allowed == name,
            })
    }
}

/// The client's address, when the server loop knows it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)))
    }
}

/// Connections open per client address.
type Counts = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// One connection counted against its client's share; uncounted when dropped.
struct PerClient {
    counts: Counts,
    client: IpAddr,
}

impl PerClient {
    /// Counts a connection from `client`, unless it already holds `max`.
    fn enter(counts: &Counts, client: IpAddr, max: usize) -> Option<PerClient> {
        let mut held = counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(client).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PerClient { counts: counts.clone(), client })
    }
}

impl Drop for PerClient {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.client);
            }
        }
    }
}

/// The certificate a TLS client presented (DER), as it came: the TLS layer checked only that
/// the client holds its key. Whoever reads it decides whom it trusts ([`tls_config`]).
#[derive(Clone, Debug)]
pub struct PeerCertificate(pub Arc<[u8]>);

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

/// The certificate a TLS server presents, which a renewal replaces while it runs: the next
/// handshake presents the new one, connections already open keep theirs.
#[derive(Debug)]
pub struct ServerCertificate(std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>);

impl ServerCertificate {
    /// The certificate chain `cert_pem` (the server's certificate first) with its PKCS#8 key.
    pub fn new(cert_pem: &str, key_pkcs8_der: &[u8]) -> Result<Arc<ServerCertificate>, TlsError> {
        Ok(Arc::new(ServerCertificate(std::sync::RwLock::new(certified(cert_pem, key_pkcs8_der)?))))
    }

    /// Presents `cert_pem` with its key from the next handshake on.
    pub fn replace(&self, cert_pem: &str, key_pkcs8_der: &[u8]) -> Result<(), TlsError> {
        let next = certified(cert_pem, key_pkcs8_der)?;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for ServerCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn certified(
    cert_pem: &str,
    key_pkcs8_der: &[u8],
) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError("the certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der.to_vec()));
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError(format!("key: {e}")))?;
    let certified = rustls::sign::CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| TlsError(format!("certificate and key: {e}")))?;
    Ok(Arc::new(certified))
}

/// A TLS server configuration (TLS 1.2 and 1.3, ring, HTTP/2 and HTTP/1.1 by ALPN) that
/// presents `certificate`. Clients may present a certificate; the handshake checks only that
/// they hold its key and hands it to the application as [`PeerCertificate`], so trust can
/// follow what changes at run time (a chain's member CAs change by vote) without a new TLS
/// configuration.
pub fn tls_config(
    certificate: Arc<ServerCertificate>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyClientCertificate(provider.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Asks for a client certificate without requiring one, and checks of one only that the client
/// signed the handshake with its key: which issuers to trust is the application's decision.
#[derive(Debug)]
struct AnyClientCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn check_host(hosts: AllowedHosts, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(host) if !hosts.allows(&host) => ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "this server does not answer for the host `{host}` (DNS rebinding protection); \
                 its operator can allow the name with --allowed-host"
            ),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets open
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hosts = limits.hosts.clone();
    let app = app
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(axum::middleware::from_fn(move |r, n| check_host(hosts.clone(), r, n)));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little, as axum::serve does.
                Err(e) => {
                    tracing::warn!(target: "api::serving", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(client) = PerClient::enter(&per_client, peer.ip(), limits.max_per_client) else {
            tracing::debug!(target: "api::serving", client = %peer.ip(), "too many connections from one client");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(peer);
            request
        });
        let (builder, watcher, header_timeout) =
            (builder.clone(), graceful.watcher(), limits.header_timeout);
        let tls = limits.tls.clone();
        tokio::spawn(async move {
            // hyper's header timer starts with the first byte: a client that connects and says
            // nothing would hold its slot for ever.
            let mut first = [0u8; 1];
            if tokio::time::timeout(header_timeout, stream.peek(&mut first)).await.is_err() {
                return;
            }
            let Some(config) = tls else {
                let connection = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        TowerToHyperService::new(service),
                    )
                    .into_owned();
                // A client that goes away or times out ends its connection: nothing to report.
                let _ = watcher.watch(connection).await;
                drop((slot, client));
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let Ok(Ok(stream)) =
                tokio::time::timeout(header_timeout, acceptor.accept(stream)).await
            else {
                return;
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| PeerCertificate(Arc::from(c.as_ref())));
            let service = service.map_request(move |mut request: Request<_>| {
                if let Some(c) = &certificate {
                    request.extensions_mut().insert(c.clone());
                }
                request
            });
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            let _ = watcher.watch(connection).await;
            drop((slot, client));
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_and_localhost_names_are_always_allowed() {
        let hosts = AllowedHosts::default();
        for host in [
            "127.0.0.1:8545",
            "10.1.2.3",
            "[::1]:8080",
            "[fe80::1]",
            "localhost:3000",
            "LocalHost",
            "app.localhost",
            "localhost.",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in
            ["evil.example", "evil.example:8545", "localhost.evil.example", "127.0.0.1.nip.io"]
        {
            assert!(!hosts.allows(host), "{host}");
        }
    }

    #[test]
    fn named_hosts_wildcards_and_star_are_allowed_when_given() {
        let hosts = AllowedHosts::new(["node0.chain.internal", "*.consortia.example"]);
        assert!(hosts.allows("node0.chain.internal:30200"));
        assert!(hosts.allows("a.b.consortia.example"));
        assert!(!hosts.allows("consortia.example.evil"));
        assert!(!hosts.allows("node1.chain.internal"));
        assert!(AllowedHosts::new(["*"]).allows("anything.at.all"));
    }
}
