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
