//! rustls configurations for mutual TLS 1.3 between nodes, and reading the peer's key from its
//! certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::NetError;

/// A node's TLS identity, all PEM: the consortium CA, the node's certificate, its key.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Tls(format!("{what}: {e}"))
}

struct Parsed {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn parse(identity: &TlsIdentity) -> Result<Parsed, NetError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(identity.ca_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| tls_error("CA certificate", e))?)
            .map_err(|e| tls_error("CA certificate", e))?;
    }
    if roots.is_empty() {
        return Err(NetError::Tls("the CA file holds no certificate".into()));
    }
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error("node certificate", e))?;
    if chain.is_empty() {
        return Err(NetError::Tls("the node certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|e| tls_error("node key", e))?;
    Ok(Parsed { roots: Arc::new(roots), chain, key })
}

/// Whether `pem` holds one or more certificates and nothing malformed.
pub(crate) fn is_certificate(pem: &str) -> bool {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    certs.is_ok_and(|c| !c.is_empty())
}

/// Accepts only clients whose certificate chains to the consortium CA.
pub(crate) fn server_config(identity: &TlsIdentity) -> Result<Arc<ServerConfig>, NetError> {
    let p = parse(identity)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(p.roots, provider())
        .build()
        .map_err(|e| tls_error("client verifier", e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(p.chain, p.key)
        .map_err(|e| tls_error("node certificate", e))?;
    Ok(Arc::new(config))
}

/// Accepts only servers whose certificate chains to the identity's CA, and presents its
/// certificate: mutual TLS 1.3 (between nodes, and to a Docker Engine over TCP).
pub fn client_config(identity: &TlsIdentity) -> Result<Arc<ClientConfig>, NetError> {
    let p = parse(identity)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error("TLS versions", e))?
        .with_root_certificates(p.roots)
        .with_client_auth_cert(p.chain, p.key)
        .map_err(|e| tls_error("node certificate", e))?;
    Ok(Arc::new(config))
}
