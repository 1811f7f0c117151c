//! The consortium PKI: a certificate authority made with the consortium (or a bare network),
//! member organizations' CAs under it, and node certificates issued under those (rcgen,
//! Ed25519). One place for the platform, which issues, and the network, which verifies. A node's certificate carries its node key, the key genesis
//! lists for it; the CA proves the certificate was issued by the consortium, the key list says
//! which nodes belong to this chain.

use crate::{CryptoError, PrivateKey, Scheme};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519,
};

/// Every node certificate carries this DNS name; dialers expect it. Which node a peer is comes
/// from its certificate's key, not from its name.
pub const NODE_DNS_NAME: &str = "node.consortia";

/// A consortium certificate authority.
#[derive(Debug)]
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

fn rcgen_error(e: rcgen::Error) -> CryptoError {
    CryptoError::Certificate(e.to_string())
}

impl Ca {
    /// A new self-signed CA named after the consortium.
    pub fn generate(consortium: &str) -> Result<Ca, CryptoError> {
        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(rcgen_error)?;
        let params = Self::params(consortium)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        let key_pem = key.serialize_pem();
        Ok(Ca { issuer: Issuer::new(params, key), cert_pem: cert.pem(), key_pem })
    }

    /// The CA `generate` made for this consortium, from its certificate and key: issuing needs
    /// only the CA's name and key, which determine the issuer fields of what it signs.
    pub fn load(consortium: &str, cert_pem: &str, key_pem: &str) -> Result<Ca, CryptoError> {
        let key = KeyPair::from_pem(key_pem).map_err(rcgen_error)?;
        let issuer = Issuer::new(Self::params(consortium)?, key);
        Ok(Ca { issuer, cert_pem: cert_pem.to_owned(), key_pem: key_pem.to_owned() })
    }

    fn params(consortium: &str) -> Result<CertificateParams, CryptoError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name.push(DnType::CommonName, format!("{consortium} CA"));
        params.distinguished_name.push(DnType::OrganizationName, consortium);
        // One level of member-organization CAs may sit under it.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(params)
    }

    fn member_params(consortium: &str, org: &str) -> Result<CertificateParams, CryptoError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name.push(DnType::CommonName, format!("{org} CA"));
        params.distinguished_name.push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::OrganizationalUnitName, consortium);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(params)
    }

    /// A member organization's CA that [`Ca::issue_member`] made, from its certificate and key.
    pub fn load_member(
        consortium: &str,
        org: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Ca, CryptoError> {
        let key = KeyPair::from_pem(key_pem).map_err(rcgen_error)?;
        let issuer = Issuer::new(Self::member_params(consortium, org)?, key);
        Ok(Ca { issuer, cert_pem: cert_pem.to_owned(), key_pem: key_pem.to_owned() })
    }

    /// A member organization's identity: a CA certificate under this one, with which the
    /// organization issues its nodes' certificates.
    pub fn issue_member(&self, consortium: &str, org: &str) -> Result<Ca, CryptoError> {
        let key = KeyPair::generate_for(&PKCS_ED25519).map_err(rcgen_error)?;
        let params = Self::member_params(consortium, org)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        let key_pem = key.serialize_pem();
        Ok(Ca { issuer: Issuer::new(params, key), cert_pem: cert.pem(), key_pem })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PKCS#8 PEM): keep it offline once the nodes have certificates.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a TLS certificate (PEM) for a node's Ed25519 key, for both server and client use.
    pub fn issue(&self, node_name: &str, node_key: &PrivateKey) -> Result<String, CryptoError> {
        if node_key.scheme() != Scheme::Ed25519 {
            return Err(CryptoError::Certificate("node keys are Ed25519 keys".into()));
        }
        let key = KeyPair::from_pem(&node_key.to_pkcs8_pem()).map_err(rcgen_error)?;
        let mut params =
            CertificateParams::new(vec![NODE_DNS_NAME.to_owned()]).map_err(rcgen_error)?;
        params.distinguished_name.push(DnType::CommonName, node_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(cert.pem())
    }
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
pub fn ed25519_key(cert: &[u8]) -> Option<[u8; 32]> {
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

/// The Ed25519 key of the first certificate in `pem` (a CA's, say), or `None`.
pub fn ed25519_key_of_pem(pem: &str) -> Option<[u8; 32]> {
    let body = crate::keys::pem_body_first(pem, "CERTIFICATE")?;
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).ok()?;
    ed25519_key(&der)
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
        let ca = Ca::generate("t").unwrap();
        let key = crate::PrivateKey::generate(crate::Scheme::Ed25519);
        let pem = ca.issue("n", &key).unwrap();
        let der = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            crate::keys::pem_body_first(&pem, "CERTIFICATE").unwrap(),
        )
        .unwrap();
        assert_eq!(
            ed25519_key(&der).map(|k| k.to_vec()),
            Some(key.public_key().as_bytes().to_vec())
        );
        // Every truncation is refused, not misread.
        for len in 0..der.len() {
            assert_eq!(ed25519_key(&der[..len]), None, "read a key from {len} bytes");
        }
    }

    #[test]
    fn reads_the_key_of_a_ca_certificate_in_pem() {
        let ca = Ca::generate("t").unwrap();
        let key = crate::PrivateKey::from_pem(ca.key_pem(), None).unwrap();
        assert_eq!(
            ed25519_key_of_pem(ca.cert_pem()).map(|k| k.to_vec()),
            Some(key.public_key().as_bytes().to_vec())
        );
        assert_eq!(ed25519_key_of_pem("not a certificate"), None);
    }
}
