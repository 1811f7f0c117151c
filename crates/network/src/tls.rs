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

/// Accepts only servers whose certificate chains to the consortium CA, and presents ours.
pub(crate) fn client_config(identity: &TlsIdentity) -> Result<Arc<ClientConfig>, NetError> {
    let p = parse(identity)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error("TLS versions", e))?
        .with_root_certificates(p.roots)
        .with_client_auth_cert(p.chain, p.key)
        .map_err(|e| tls_error("node certificate", e))?;
    Ok(Arc::new(config))
}

/// The DER encoding of an Ed25519 SubjectPublicKeyInfo up to the key bytes (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Reads one DER element at `at`: (tag, content start, content end).
fn der_element(der: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *der.get(at)?;
    let first = *der.get(at + 1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, at + 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = der.get(at + 2..at + 2 + n)?;
        (bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), at + 2 + n)
    };
    let end = start.checked_add(len)?;
    (end <= der.len()).then_some((tag, start, end))
}

/// The Ed25519 key of an X.509 certificate, read from `tbsCertificate.subjectPublicKeyInfo`
/// (RFC 5280 section 4.1): `None` for any other key type or a malformed certificate.
pub(crate) fn ed25519_key(cert: &[u8]) -> Option<[u8; 32]> {
    let (_, cert_start, _) = der_element(cert, 0)?;
    let (_, tbs_start, tbs_end) = der_element(cert, cert_start)?;
    let mut at = tbs_start;
    // [0] version (optional), serialNumber, signature, issuer, validity, subject, then SPKI.
    let (tag, _, end) = der_element(cert, at)?;
    if tag == 0xa0 {
        at = end;
    }
    for _ in 0..5 {
        at = der_element(cert, at)?.2;
    }
    let (_, _, spki_end) = der_element(cert, at)?;
    if spki_end > tbs_end {
        return None;
    }
    let spki = &cert[at..spki_end];
    let key = spki.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    key.try_into().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The certificate walker reads attacker-supplied bytes: it must never panic, and only
        /// well-formed Ed25519 certificates yield a key.
        #[test]
        fn certificate_key_reader_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ed25519_key(&bytes);
        }
    }

    #[test]
    fn reads_the_key_of_an_issued_certificate() {
        let ca = crate::pki::Ca::generate("t").unwrap();
        let key = consortia_crypto::PrivateKey::generate(consortia_crypto::Scheme::Ed25519);
        let pem = ca.issue("n", &key).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(
            ed25519_key(&der).map(|k| k.to_vec()),
            Some(key.public_key().as_bytes().to_vec())
        );
        // Every truncation is refused, not misread.
        for len in 0..der.len() {
            assert_eq!(ed25519_key(&der[..len]), None, "read a key from {len} bytes");
        }
    }
}
