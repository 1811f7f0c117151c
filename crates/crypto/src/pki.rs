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
        random_serial(&mut params);
        params.distinguished_name.push(DnType::CommonName, format!("{consortium} CA"));
        params.distinguished_name.push(DnType::OrganizationName, consortium);
        // One level of member-organization CAs may sit under it.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(params)
    }

    fn member_params(consortium: &str, org: &str) -> Result<CertificateParams, CryptoError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        random_serial(&mut params);
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

    /// Issues an HTTPS server certificate (PEM) for `key` (a node's key), valid for `hosts`
    /// (IP addresses or DNS names clients connect to) and `NODE_DNS_NAME`.
    pub fn issue_server(
        &self,
        name: &str,
        key: &PrivateKey,
        hosts: &[String],
    ) -> Result<String, CryptoError> {
        self.issue_server_for(name, &node_public_key(key)?, hosts, None)
    }

    /// [`Ca::issue_server`] for the node key `public_key` (a renewal needs no private key),
    /// valid from today for `days` days (`None`: without an end).
    pub fn issue_server_for(
        &self,
        name: &str,
        public_key: &[u8; 32],
        hosts: &[String],
        days: Option<u32>,
    ) -> Result<String, CryptoError> {
        let mut names = hosts.to_vec();
        names.push(NODE_DNS_NAME.to_owned());
        let mut params = CertificateParams::new(names).map_err(rcgen_error)?;
        random_serial(&mut params);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if let Some(days) = days {
            valid_for(&mut params, days);
        }
        let key = Ed25519Public(*public_key);
        Ok(params.signed_by(&key, &self.issuer).map_err(rcgen_error)?.pem())
    }

    /// Issues a client certificate (PEM) for the Ed25519 public key `public_key`: its holder
    /// is `name`, its role (what it may do) the organizational unit, valid from today for
    /// `days` days.
    pub fn issue_client(
        &self,
        name: &str,
        role: &str,
        public_key: &[u8; 32],
        days: u32,
    ) -> Result<String, CryptoError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        random_serial(&mut params);
        params.distinguished_name.push(DnType::CommonName, name);
        params.distinguished_name.push(DnType::OrganizationalUnitName, role);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        valid_for(&mut params, days);
        let key = Ed25519Public(*public_key);
        Ok(params.signed_by(&key, &self.issuer).map_err(rcgen_error)?.pem())
    }

    /// Issues a TLS certificate (PEM) for a node's Ed25519 key, for both server and client use.
    pub fn issue(&self, node_name: &str, node_key: &PrivateKey) -> Result<String, CryptoError> {
        self.issue_for(node_name, &node_public_key(node_key)?, None)
    }

    /// [`Ca::issue`] for the node key `public_key`, valid from today for `days` days (`None`:
    /// without an end): a renewal needs only the public key, and peers admit it as before.
    pub fn issue_for(
        &self,
        node_name: &str,
        public_key: &[u8; 32],
        days: Option<u32>,
    ) -> Result<String, CryptoError> {
        let mut params =
            CertificateParams::new(vec![NODE_DNS_NAME.to_owned()]).map_err(rcgen_error)?;
        random_serial(&mut params);
        params.distinguished_name.push(DnType::CommonName, node_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        if let Some(days) = days {
            valid_for(&mut params, days);
        }
        let key = Ed25519Public(*public_key);
        Ok(params.signed_by(&key, &self.issuer).map_err(rcgen_error)?.pem())
    }
}

/// A random serial number (RFC 5280 asks an issuer for unique ones; rcgen's default is
/// derived from the key, so two certificates for one key, a renewal, would share it).
fn random_serial(params: &mut CertificateParams) {
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] &= 0x7f; // positive
    params.serial_number = Some(serial.to_vec().into());
}

/// Valid from the start of today (UTC) for `days` days.
fn valid_for(params: &mut CertificateParams, days: u32) {
    let today = unix_days(now_s());
    let date = |days: i64| {
        let (y, m, d) = civil_from_days(days);
        rcgen::date_time_ymd(y, m, d)
    };
    params.not_before = date(today);
    params.not_after = date(today + i64::from(days));
}

/// The public half of a node key (Ed25519), as certificates carry it.
fn node_public_key(key: &PrivateKey) -> Result<[u8; 32], CryptoError> {
    if key.scheme() != Scheme::Ed25519 {
        return Err(CryptoError::Certificate("node keys are Ed25519 keys".into()));
    }
    key.public_key()
        .as_bytes()
        .try_into()
        .map_err(|_| CryptoError::Certificate("an Ed25519 key is 32 bytes".into()))
}

/// An Ed25519 public key as rcgen certifies it (the holder keeps the private key).
struct Ed25519Public([u8; 32]);

impl rcgen::PublicKeyData for Ed25519Public {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ED25519
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_days(seconds: u64) -> i64 {
    (seconds / 86_400) as i64
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of an X.509 time: UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or
/// GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 0x18).
fn x509_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<u32>().ok();
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

/// A client certificate whose signature an issuer's key checked: who holds it, its role (the
/// subject's organizational unit) and when it is valid (seconds since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    pub name: String,
    pub role: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// The validity of the `tbsCertificate` whose content starts at `tbs_start` (seconds since
/// the epoch), and where its subject starts.
fn validity_in(der: &[u8], tbs_start: usize) -> Option<((i64, i64), usize)> {
    // [0] version (optional), serialNumber, signature, issuer, then validity and subject.
    let mut at = tbs_start;
    if der_element(der, at)?.0 == 0xa0 {
        at = der_element(der, at)?.2;
    }
    for _ in 0..3 {
        at = der_element(der, at)?.2;
    }
    let (_, validity_start, validity_end) = der_element(der, at)?;
    let (tag, start, end) = der_element(der, validity_start)?;
    let not_before = x509_time(tag, &der[start..end])?;
    let (tag, start, after_end) = der_element(der, end)?;
    let not_after = x509_time(tag, &der[start..after_end])?;
    (after_end == validity_end).then_some(((not_before, not_after), validity_end))
}

/// When the first certificate in `pem` expires (seconds since the epoch), or `None`.
pub fn not_after_of_pem(pem: &str) -> Option<i64> {
    let body = crate::keys::pem_body_first(pem, "CERTIFICATE")?;
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).ok()?;
    let (_, cert_start, _) = der_element(&der, 0)?;
    let (_, tbs_start, _) = der_element(&der, cert_start)?;
    Some(validity_in(&der, tbs_start)?.0.1)
}

/// Ed25519's AlgorithmIdentifier (RFC 8410): the only signature this PKI makes.
const ED25519_ALGORITHM: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const OID_ORGANIZATIONAL_UNIT: [u8; 3] = [0x55, 0x04, 0x0b];

/// Reads the certificate `der` if `issuer_key` (Ed25519) signed it; `None` for any other
/// issuer, signature algorithm, or malformed bytes. Validity is returned, not checked.
pub fn client_certificate(der: &[u8], issuer_key: &[u8; 32]) -> Option<ClientCertificate> {
    let (_, cert_start, cert_end) = der_element(der, 0)?;
    let (_, tbs_start, tbs_end) = der_element(der, cert_start)?;
    let tbs = &der[cert_start..tbs_end];
    let (_, alg_start, alg_end) = der_element(der, tbs_end)?;
    if der.get(tbs_end..alg_end)? != ED25519_ALGORITHM || alg_start == alg_end {
        return None;
    }
    let (tag, sig_start, sig_end) = der_element(der, alg_end)?;
    if tag != 0x03 || sig_end != cert_end || der.get(sig_start) != Some(&0) {
        return None;
    }
    let signature = crate::Signature(der.get(sig_start + 1..sig_end)?.to_vec());
    let key = crate::PublicKey::from_bytes(Scheme::Ed25519, issuer_key).ok()?;
    key.verify(tbs, &signature).ok()?;
    let ((not_before, not_after), subject_at) = validity_in(der, tbs_start)?;
    let (_, subject_start, subject_end) = der_element(der, subject_at)?;
    let (mut name, mut role) = (None, None);
    let mut rdn = subject_start;
    while rdn < subject_end {
        let (_, set_start, set_end) = der_element(der, rdn)?;
        let (_, pair_start, _) = der_element(der, set_start)?;
        let (_, oid_start, oid_end) = der_element(der, pair_start)?;
        let (_, value_start, value_end) = der_element(der, oid_end)?;
        let value = std::str::from_utf8(&der[value_start..value_end]).ok()?.to_owned();
        match &der[oid_start..oid_end] {
            oid if oid == OID_COMMON_NAME => name = Some(value),
            oid if oid == OID_ORGANIZATIONAL_UNIT => role = Some(value),
            _ => {}
        }
        rdn = set_end;
    }
    Some(ClientCertificate { name: name?, role: role?, not_before, not_after })
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
            let _ = client_certificate(&bytes, &[7; 32]);
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
    fn a_client_certificate_names_its_holder_role_and_validity_under_its_issuer_only() {
        let ca = Ca::generate("t").unwrap();
        let member = ca.issue_member("t", "org-a").unwrap();
        let holder = crate::PrivateKey::generate(Scheme::Ed25519);
        let public: [u8; 32] = holder.public_key().as_bytes().try_into().unwrap();
        let pem = member.issue_client("alice", "write", &public, 30).unwrap();
        let der = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            crate::keys::pem_body_first(&pem, "CERTIFICATE").unwrap(),
        )
        .unwrap();
        let member_key = ed25519_key_of_pem(member.cert_pem()).unwrap();
        let read = client_certificate(&der, &member_key).unwrap();
        assert_eq!((read.name.as_str(), read.role.as_str()), ("alice", "write"));
        let now = now_s() as i64;
        assert!(read.not_before <= now && now < read.not_after, "{read:?}");
        assert_eq!((read.not_after - read.not_before) / 86_400, 30);
        let root_key = ed25519_key_of_pem(ca.cert_pem()).unwrap();
        assert_eq!(client_certificate(&der, &root_key), None, "another issuer");
        for len in 0..der.len() {
            assert_eq!(client_certificate(&der[..len], &member_key), None, "{len} bytes");
        }
        let mut flipped = der.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(client_certificate(&flipped, &member_key), None, "a bad signature");
    }

    #[test]
    fn the_expiry_of_a_certificate_is_read_from_its_pem() {
        let ca = Ca::generate("t").unwrap();
        let key = crate::PrivateKey::from_secret_bytes(Scheme::Ed25519, &[3; 32]).unwrap();
        let holder: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
        let pem = ca.issue_client("app", "read", &holder, 10).unwrap();
        let today = unix_days(now_s()) * 86_400;
        assert_eq!(not_after_of_pem(&pem), Some(today + 10 * 86_400));
        // rcgen's default validity for certificates made without one: 4096-01-01.
        assert_eq!(not_after_of_pem(ca.cert_pem()), Some(days_from_civil(4096, 1, 1) * 86_400));
        assert_eq!(not_after_of_pem("nothing"), None);
    }

    #[test]
    fn x509_times_and_civil_dates_convert_both_ways() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(days_from_civil(2026, 12, 2), 20_789);
        assert_eq!(x509_time(0x17, b"250101000000Z"), Some(1_735_689_600));
        assert_eq!(x509_time(0x18, b"20250101000000Z"), Some(1_735_689_600));
        assert_eq!(x509_time(0x17, b"251301000000Z"), None, "month 13");
        assert_eq!(x509_time(0x17, b"2501010000Z"), None, "short");
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
