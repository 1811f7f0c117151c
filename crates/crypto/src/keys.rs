use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::OsRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sm2::dsa::signature::{Signer, Verifier};

use crate::{Address, CryptoError, HashAlgorithm, SM2_DEFAULT_ID, keccak256};

/// A signature scheme. The tag is part of every signed envelope, so one chain can mix schemes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize,
)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Scheme {
    Ed25519 = 0,
    Secp256k1 = 1,
    Sm2 = 2,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::Ed25519, Scheme::Secp256k1, Scheme::Sm2];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ed25519 => "ed25519",
            Scheme::Secp256k1 => "secp256k1",
            Scheme::Sm2 => "sm2",
        }
    }

    /// Length of an encoded public key (ed25519: 32; secp256k1 and SM2: SEC1 compressed, 33).
    pub fn public_key_len(self) -> usize {
        match self {
            Scheme::Ed25519 => 32,
            Scheme::Secp256k1 | Scheme::Sm2 => 33,
        }
    }

    /// Length of a signature (secp256k1 carries the recovery id: r || s || v).
    pub fn signature_len(self) -> usize {
        match self {
            Scheme::Ed25519 | Scheme::Sm2 => 64,
            Scheme::Secp256k1 => 65,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CryptoError::UnknownScheme(s.to_owned()))
    }
}

/// A scheme-tagged public key. Construction checks that the bytes are a valid point, but a key
/// decoded from the wire with borsh is checked only when it is used to verify.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct PublicKey {
    scheme: Scheme,
    bytes: Vec<u8>,
}

impl PublicKey {
    pub fn from_bytes(scheme: Scheme, bytes: &[u8]) -> Result<Self, CryptoError> {
        let invalid = || CryptoError::InvalidPublicKey { scheme: scheme.name() };
        if bytes.len() != scheme.public_key_len() {
            return Err(invalid());
        }
        let key = PublicKey { scheme, bytes: bytes.to_vec() };
        key.parse().map_err(|_| invalid())?;
        Ok(key)
    }

    /// A secp256k1 or SM2 key in any form other systems hand out: SEC1 compressed (33 bytes),
    /// uncompressed (65 bytes, `04 || x || y`) or raw `x || y` (64 bytes). Keeps it compressed.
    pub fn from_sec1(scheme: Scheme, bytes: &[u8]) -> Result<Self, CryptoError> {
        let invalid = || CryptoError::InvalidPublicKey { scheme: scheme.name() };
        let sec1 = match bytes.len() {
            64 => [&[4u8][..], bytes].concat(),
            33 | 65 => bytes.to_vec(),
            _ => return Err(invalid()),
        };
        let compressed = match scheme {
            Scheme::Ed25519 => return Err(invalid()),
            Scheme::Secp256k1 => k256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| invalid())?
                .to_encoded_point(true)
                .as_bytes()
                .to_vec(),
            Scheme::Sm2 => sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &sec1)
                .map_err(|_| invalid())?
                .as_affine()
                .to_encoded_point(true)
                .as_bytes()
                .to_vec(),
        };
        Ok(PublicKey { scheme, bytes: compressed })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn parse(&self) -> Result<ParsedPublicKey, CryptoError> {
        let invalid = || CryptoError::InvalidPublicKey { scheme: self.scheme.name() };
        Ok(match self.scheme {
            Scheme::Ed25519 => {
                let raw: [u8; 32] = self.bytes.as_slice().try_into().map_err(|_| invalid())?;
                ParsedPublicKey::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| invalid())?,
                )
            }
            Scheme::Secp256k1 => ParsedPublicKey::Secp256k1(
                k256::ecdsa::VerifyingKey::from_sec1_bytes(&self.bytes).map_err(|_| invalid())?,
            ),
            Scheme::Sm2 => ParsedPublicKey::Sm2(
                sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &self.bytes)
                    .map_err(|_| invalid())?,
            ),
        })
    }

    /// Verifies `signature` over `message`.
    ///
    /// - ed25519 signs the message itself (RFC 8032 "pure" Ed25519);
    /// - secp256k1 signs Keccak-256(message) and must have a low `s` (no malleable twins);
    /// - SM2 signs SM3(Z || message) with the default distinguishing id (GM/T 0003.2).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        let expected = self.scheme.signature_len();
        if signature.0.len() != expected {
            return Err(CryptoError::SignatureLength {
                scheme: self.scheme.name(),
                expected,
                got: signature.0.len(),
            });
        }
        match self.parse()? {
            ParsedPublicKey::Ed25519(vk) => {
                let sig = ed25519_dalek::Signature::from_slice(&signature.0)
                    .map_err(|_| CryptoError::BadSignature)?;
                vk.verify(message, &sig).map_err(|_| CryptoError::BadSignature)
            }
            ParsedPublicKey::Secp256k1(vk) => {
                // Verified by recovery, so the recovery byte is checked too: verifying (r, s)
                // alone would accept any last byte, and a relayer could make a valid twin of a
                // transaction under another hash. Recovery costs about what a verify does.
                let sig = secp256k1_signature(&signature.0)?;
                let recid = k256::ecdsa::RecoveryId::from_byte(signature.0[64])
                    .filter(|r| !r.is_x_reduced())
                    .ok_or(CryptoError::BadSignature)?;
                let signer = k256::ecdsa::VerifyingKey::recover_from_prehash(
                    keccak256(message).as_bytes(),
                    &sig,
                    recid,
                )
                .map_err(|_| CryptoError::BadSignature)?;
                if signer == vk { Ok(()) } else { Err(CryptoError::BadSignature) }
            }
            ParsedPublicKey::Sm2(vk) => {
                let sig = sm2::dsa::Signature::from_slice(&signature.0)
                    .map_err(|_| CryptoError::BadSignature)?;
                vk.verify(message, &sig).map_err(|_| CryptoError::BadSignature)
            }
        }
    }

    /// The account address of this key:
    /// secp256k1 → Keccak-256(uncompressed X || Y)[12..] (Ethereum's rule);
    /// ed25519 → Keccak-256(key)[12..]; SM2 → SM3(uncompressed X || Y)[12..] (FISCO BCOS's rule).
    pub fn address(&self) -> Address {
        // ed25519 hashes the key bytes as they are: no point decompression (which costs as
        // much as half a signature check) on this path, which every transaction takes.
        let digest = if self.scheme == Scheme::Ed25519 {
            keccak256(&self.bytes)
        } else {
            match self.parse() {
                Ok(ParsedPublicKey::Secp256k1(vk)) => {
                    keccak256(&vk.to_encoded_point(false).as_bytes()[1..])
                }
                Ok(ParsedPublicKey::Sm2(vk)) => {
                    HashAlgorithm::Sm3.digest(&vk.to_sec1_bytes_uncompressed()[1..])
                }
                // An invalid key can sign nothing; give it an address nobody can spend from.
                Ok(ParsedPublicKey::Ed25519(_)) | Err(_) => keccak256(&self.bytes),
            }
        };
        Address::from_slice(&digest.0[12..])
    }

    /// `scheme:base64`, the form keys take in genesis files and on the command line.
    pub fn to_base64(&self) -> String {
        format!("{}:{}", self.scheme, B64.encode(&self.bytes))
    }

    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let (scheme, b64) = s.split_once(':').ok_or_else(|| {
            CryptoError::KeyEncoding(format!("expected scheme:base64, got `{s}`"))
        })?;
        let bytes = B64.decode(b64).map_err(|e| CryptoError::KeyEncoding(e.to_string()))?;
        PublicKey::from_bytes(scheme.parse()?, &bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PublicKey::from_base64(&<String as Deserialize>::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}

enum ParsedPublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Secp256k1(k256::ecdsa::VerifyingKey),
    Sm2(sm2::dsa::VerifyingKey),
}

trait Sm2Uncompressed {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8>;
}

impl Sm2Uncompressed for sm2::dsa::VerifyingKey {
    fn to_sec1_bytes_uncompressed(&self) -> Vec<u8> {
        self.as_affine().to_encoded_point(false).as_bytes().to_vec()
    }
}

fn secp256k1_signature(raw: &[u8]) -> Result<k256::ecdsa::Signature, CryptoError> {
    let sig =
        k256::ecdsa::Signature::from_slice(&raw[..64]).map_err(|_| CryptoError::BadSignature)?;
    if sig.normalize_s().is_some() {
        return Err(CryptoError::BadSignature); // high s: the malleable twin of a valid signature
    }
    Ok(sig)
}

/// Signature bytes; their layout is the scheme's (see [`Scheme::signature_len`]).
#[derive(Clone, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub Vec<u8>);

impl Signature {
    /// Recovers the secp256k1 public key that made `self` over `message` (Ethereum `ecrecover`).
    pub fn recover_secp256k1(&self, message: &[u8]) -> Result<PublicKey, CryptoError> {
        if self.0.len() != 65 {
            return Err(CryptoError::SignatureLength {
                scheme: "secp256k1",
                expected: 65,
                got: self.0.len(),
            });
        }
        let sig = secp256k1_signature(&self.0)?;
        let recid =
            k256::ecdsa::RecoveryId::from_byte(self.0[64]).ok_or(CryptoError::BadSignature)?;
        let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(
            keccak256(message).as_bytes(),
            &sig,
            recid,
        )
        .map_err(|_| CryptoError::BadSignature)?;
        Ok(PublicKey {
            scheme: Scheme::Secp256k1,
            bytes: vk.to_encoded_point(true).as_bytes().to_vec(),
        })
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(&self.0))
    }
}

/// A private key of any scheme. Its memory is wiped on drop by the underlying crates.
#[derive(Clone)]
pub enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
    Sm2(sm2::dsa::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, public {})", self.scheme(), self.public_key())
    }
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(scheme: Scheme) -> Self {
        match scheme {
            Scheme::Ed25519 => PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            Scheme::Secp256k1 => PrivateKey::Secp256k1(k256::ecdsa::SigningKey::random(&mut OsRng)),
            Scheme::Sm2 => loop {
                let secret = sm2::SecretKey::random(&mut OsRng);
                if let Ok(key) = sm2::dsa::SigningKey::new(SM2_DEFAULT_ID, &secret) {
                    break PrivateKey::Sm2(key);
                }
            },
        }
    }

    /// A key from its 32 secret bytes (an ed25519 seed or a big-endian scalar).
    pub fn from_secret_bytes(scheme: Scheme, secret: &[u8]) -> Result<Self, CryptoError> {
        let invalid = || CryptoError::InvalidPrivateKey { scheme: scheme.name() };
        Ok(match scheme {
            Scheme::Ed25519 => PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::try_from(secret).map_err(|_| invalid())?,
            ),
            Scheme::Secp256k1 => PrivateKey::Secp256k1(
                k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| invalid())?,
            ),
            Scheme::Sm2 => PrivateKey::Sm2(
                sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_ID, secret).map_err(|_| invalid())?,
            ),
        })
    }

    /// The 32 secret bytes [`PrivateKey::from_secret_bytes`] takes (wiped when dropped).
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(match self {
            PrivateKey::Ed25519(k) => k.to_bytes().to_vec(),
            PrivateKey::Secp256k1(k) => k.to_bytes().to_vec(),
            PrivateKey::Sm2(k) => k.to_bytes().to_vec(),
        })
    }

    pub fn scheme(&self) -> Scheme {
        match self {
            PrivateKey::Ed25519(_) => Scheme::Ed25519,
            PrivateKey::Secp256k1(_) => Scheme::Secp256k1,
            PrivateKey::Sm2(_) => Scheme::Sm2,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        let bytes = match self {
            PrivateKey::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            PrivateKey::Secp256k1(k) => {
                k.verifying_key().to_encoded_point(true).as_bytes().to_vec()
            }
            PrivateKey::Sm2(k) => {
                k.verifying_key().as_affine().to_encoded_point(true).as_bytes().to_vec()
            }
        };
        PublicKey { scheme: self.scheme(), bytes }
    }

    /// Signs `message` under the rules of [`PublicKey::verify`]. Signing is deterministic for
    /// ed25519 and secp256k1 (RFC 6979); SM2 uses a fresh nonce per GM/T 0003.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(match self {
            PrivateKey::Ed25519(k) => ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec(),
            PrivateKey::Secp256k1(k) => {
                let (sig, recid) = k
                    .sign_prehash_recoverable(keccak256(message).as_bytes())
                    .expect("a 32-byte prehash is always signable");
                let mut out = sig.to_bytes().to_vec();
                out.push(recid.to_byte());
                out
            }
            PrivateKey::Sm2(k) => {
                let sig: sm2::dsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        })
    }

    /// The PKCS#8 DER encoding (RFC 5208/5958), the standard container for all three schemes.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        let doc = match self {
            PrivateKey::Ed25519(k) => k.to_pkcs8_der(),
            PrivateKey::Secp256k1(k) => k.to_pkcs8_der(),
            PrivateKey::Sm2(k) => sm2::SecretKey::from_bytes(&k.to_bytes())
                .expect("a signing key is a valid secret key")
                .to_pkcs8_der(),
        };
        doc.expect("encoding a valid key cannot fail").as_bytes().to_vec()
    }

    /// Reads PKCS#8 DER, telling the scheme from the algorithm identifier.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Ed25519(k));
        }
        if let Ok(k) = k256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Secp256k1(k));
        }
        let secret = sm2::SecretKey::from_pkcs8_der(der).map_err(|_| {
            CryptoError::KeyEncoding(
                "not a PKCS#8 ed25519, secp256k1 or SM2 private key".to_owned(),
            )
        })?;
        sm2::dsa::SigningKey::new(SM2_DEFAULT_ID, &secret)
            .map(PrivateKey::Sm2)
            .map_err(|_| CryptoError::InvalidPrivateKey { scheme: "sm2" })
    }

    /// PEM (`-----BEGIN PRIVATE KEY-----`) around the PKCS#8 DER.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_wrap("PRIVATE KEY", &self.to_pkcs8_der())
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        Self::from_base64(&pem_body(pem, "PRIVATE KEY")?)
    }

    /// The PKCS#8 key encrypted under `passphrase`, as PEM (`ENCRYPTED PRIVATE KEY`: PBES2 with
    /// scrypt and AES-256-CBC, which `openssl pkey` reads).
    pub fn to_encrypted_pem(&self, passphrase: &str) -> Result<String, CryptoError> {
        let der = zeroize::Zeroizing::new(self.to_pkcs8_der());
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(encoding)?;
        let sealed = info.encrypt(rand_core::OsRng, passphrase).map_err(encoding)?;
        Ok(pem_wrap("ENCRYPTED PRIVATE KEY", sealed.as_bytes()))
    }

    /// The key encrypted under `secret`, a random secret of at least 128 bits (not a password a
    /// person chose), as [`PrivateKey::to_encrypted_pem`] writes it but with scrypt's cost at
    /// N = 2^10 (1 MiB, about a millisecond): stretching makes a password expensive to guess,
    /// and a random secret is out of a guesser's reach without it. The platform seals such a
    /// secret per node and hands it to the node at start, which then opens its keys quickly
    /// and without scrypt's 128 MiB.
    pub fn to_encrypted_pem_under_secret(&self, secret: &str) -> Result<String, CryptoError> {
        if secret.len() < 22 {
            return Err(CryptoError::KeyEncoding(
                "the secret is too short to skip stretching".into(),
            ));
        }
        let der = zeroize::Zeroizing::new(self.to_pkcs8_der());
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(encoding)?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut iv);
        let cost = scrypt::Params::new(10, 8, 1, 32).map_err(encoding)?;
        let params = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv)
            .map_err(encoding)?;
        let sealed = info.encrypt_with_params(params, secret).map_err(encoding)?;
        Ok(pem_wrap("ENCRYPTED PRIVATE KEY", sealed.as_bytes()))
    }

    /// A key from PEM: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` opened with `passphrase`.
    pub fn from_pem(pem: &str, passphrase: Option<&str>) -> Result<Self, CryptoError> {
        if !is_encrypted_pem(pem) {
            return Self::from_pkcs8_pem(pem);
        }
        let passphrase = passphrase.ok_or_else(|| {
            CryptoError::KeyEncoding("the key is encrypted and no passphrase was given".into())
        })?;
        let der = B64
            .decode(pem_body(pem, "ENCRYPTED PRIVATE KEY")?)
            .map_err(|e| CryptoError::KeyEncoding(e.to_string()))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(encoding)?;
        let clear = info
            .decrypt(passphrase)
            .map_err(|_| CryptoError::KeyEncoding("the passphrase does not open the key".into()))?;
        Self::from_pkcs8_der(clear.as_bytes())
    }

    /// Base64 of the PKCS#8 DER (the PEM body on one line).
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_pkcs8_der())
    }

    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let der = B64.decode(s.trim()).map_err(|e| CryptoError::KeyEncoding(e.to_string()))?;
        Self::from_pkcs8_der(&der)
    }
}

/// Whether a PEM text holds an encrypted PKCS#8 key.
pub fn is_encrypted_pem(pem: &str) -> bool {
    pem.trim_start().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

fn encoding(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyEncoding(e.to_string())
}

/// `der` as PEM with `label`, 64 characters a line.
fn pem_wrap(label: &str, der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The base64 body of a PEM with `label`.
fn pem_body(pem: &str, label: &str) -> Result<String, CryptoError> {
    Ok(pem
        .trim()
        .strip_prefix(&format!("-----BEGIN {label}-----"))
        .and_then(|rest| rest.trim_end().strip_suffix(&format!("-----END {label}-----")))
        .ok_or_else(|| CryptoError::KeyEncoding(format!("expected a `BEGIN {label}` PEM")))?
        .split_whitespace()
        .collect())
}

/// The base64 body of the first PEM block with `label` in `pem` (which may hold several, as a
/// certificate chain does).
pub(crate) fn pem_body_first(pem: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let rest = &pem[pem.find(&begin)? + begin.len()..];
    let body = &rest[..rest.find(&format!("-----END {label}-----"))?];
    Some(body.split_whitespace().collect())
}

/// Decompressed ed25519 public keys, by their bytes. Decompressing a key (a field square root)
/// costs about a third of a batched signature check, and a chain's senders sign again and again.
/// Bounded: when full it starts over, which keeps it O(1) and its memory under ~4 MiB.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: std::sync::Mutex<std::collections::HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>,
}

impl KeyCache {
    const CAPACITY: usize = 16_384;

    /// Parses every ed25519 key in `raws`, decompressing only the ones not seen before, outside
    /// the lock. `None` for bytes that are not a valid point.
    fn ed25519_keys(&self, raws: &[[u8; 32]]) -> Vec<Option<ed25519_dalek::VerifyingKey>> {
        let mut out: Vec<Option<ed25519_dalek::VerifyingKey>> = {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            raws.iter().map(|raw| keys.get(raw).copied()).collect()
        };
        let mut fresh = Vec::new();
        for (slot, raw) in out.iter_mut().zip(raws) {
            if slot.is_none() {
                *slot = ed25519_dalek::VerifyingKey::from_bytes(raw).ok();
                if let Some(vk) = slot {
                    fresh.push((*raw, *vk));
                }
            }
        }
        if !fresh.is_empty() {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            if keys.len() + fresh.len() > Self::CAPACITY {
                keys.clear();
            }
            keys.extend(fresh);
        }
        out
    }
}

/// Verifies many signatures at once. ed25519 signatures go through one batch equation (about
/// twice as fast per signature), with keys from `cache`; if the batch fails, or for other
/// schemes, each is checked alone so the caller learns exactly which ones are bad. Single and
/// batch ed25519 checks accept the same signatures (both use the cofactorless equation), so the
/// choice never changes an outcome.
pub fn verify_batch(
    items: &[(&PublicKey, &[u8], &Signature)],
    cache: &KeyCache,
) -> Vec<Result<(), CryptoError>> {
    let ed: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, (pk, _, sig))| {
            pk.scheme == Scheme::Ed25519 && pk.bytes.len() == 32 && sig.0.len() == 64
        })
        .map(|(i, _)| i)
        .collect();
    let mut batch_ok = vec![false; items.len()];
    if ed.len() > 1 {
        let raws: Vec<[u8; 32]> = ed
            .iter()
            .map(|&i| {
                let mut raw = [0u8; 32];
                raw.copy_from_slice(&items[i].0.bytes);
                raw
            })
            .collect();
        let keys: Option<Vec<_>> = cache.ed25519_keys(&raws).into_iter().collect();
        let sigs: Option<Vec<_>> =
            ed.iter().map(|&i| ed25519_dalek::Signature::from_slice(&items[i].2.0).ok()).collect();
        if let (Some(keys), Some(sigs)) = (keys, sigs) {
            let messages: Vec<&[u8]> = ed.iter().map(|&i| items[i].1).collect();
            if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                for &i in &ed {
                    batch_ok[i] = true;
                }
            }
        }
    }
    items
        .iter()
        .zip(batch_ok)
        .map(|((pk, msg, sig), ok)| if ok { Ok(()) } else { pk.verify(msg, sig) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test vector is hex")
    }

    // RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
    #[test]
    fn ed25519_rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (secret, public, msg, sig) in cases {
            let key = PrivateKey::from_secret_bytes(Scheme::Ed25519, &unhex(secret)).unwrap();
            assert_eq!(key.public_key().as_bytes(), unhex(public));
            let signature = key.sign(&unhex(msg));
            assert_eq!(signature.0, unhex(sig));
            key.public_key().verify(&unhex(msg), &signature).unwrap();
        }
    }

    // EIP-155's worked example: private key 0x4646…46 signs the given signing hash with
    // v = 37 (chain id 1, recovery id 0) and the published r and s; its address is known.
    #[test]
    fn secp256k1_ethereum_vectors() {
        let key = PrivateKey::from_secret_bytes(Scheme::Secp256k1, &[0x46; 32]).unwrap();
        assert_eq!(
            key.public_key().address().to_checksum_hex(),
            "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F"
        );
        let PrivateKey::Secp256k1(sk) = &key else { unreachable!() };
        let signing_hash =
            unhex("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
        let (sig, recid) = sk.sign_prehash_recoverable(&signing_hash).unwrap();
        assert_eq!(recid.to_byte(), 0);
        let r = "18515461264373351373200002665853028612451056578545711640558177340181847433846";
        let s = "46948507304638947509940763649030358759909902576025900602547168820602576006531";
        assert_eq!(decimal(&sig.r().to_bytes()), r);
        assert_eq!(decimal(&sig.s().to_bytes()), s);
    }

    fn decimal(be: &[u8]) -> String {
        // Big-endian bytes to a decimal string, for comparing with the EIP's figures.
        let mut digits = vec![0u8];
        for &byte in be {
            let mut carry = u32::from(byte);
            for d in digits.iter_mut() {
                let v = u32::from(*d) * 256 + carry;
                *d = (v % 10) as u8;
                carry = v / 10;
            }
            while carry > 0 {
                digits.push((carry % 10) as u8);
                carry /= 10;
            }
        }
        digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
    }

    // GB/T 32918.2-2016 (GM/T 0003.2) example on the recommended curve: the published key,
    // message "message digest", default id, and signature (r, s) made with k = 59276E27….
    #[test]
    fn sm2_standard_vector() {
        let secret = unhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8");
        let key = PrivateKey::from_secret_bytes(Scheme::Sm2, &secret).unwrap();
        let mut uncompressed = vec![4u8];
        uncompressed
            .extend(unhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"));
        uncompressed
            .extend(unhex("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"));
        let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &uncompressed).unwrap();
        assert_eq!(key.public_key().as_bytes(), vk.as_affine().to_encoded_point(true).as_bytes());
        let mut sig = unhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3");
        sig.extend(unhex("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"));
        let sig = Signature(sig);
        key.public_key().verify(b"message digest", &sig).unwrap();
        assert_eq!(
            key.public_key().verify(b"message digesT", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn from_sec1_takes_compressed_uncompressed_and_raw_keys_alike() {
        for scheme in [Scheme::Secp256k1, Scheme::Sm2] {
            let key = PrivateKey::generate(scheme).public_key();
            let uncompressed = match key.parse().unwrap() {
                ParsedPublicKey::Secp256k1(vk) => vk.to_encoded_point(false).as_bytes().to_vec(),
                ParsedPublicKey::Sm2(vk) => vk.to_sec1_bytes_uncompressed(),
                ParsedPublicKey::Ed25519(_) => unreachable!(),
            };
            assert_eq!(PublicKey::from_sec1(scheme, key.as_bytes()).unwrap(), key);
            assert_eq!(PublicKey::from_sec1(scheme, &uncompressed).unwrap(), key);
            assert_eq!(PublicKey::from_sec1(scheme, &uncompressed[1..]).unwrap(), key);
            assert!(PublicKey::from_sec1(scheme, &uncompressed[2..]).is_err());
            assert!(PublicKey::from_sec1(scheme, &[7; 64]).is_err());
        }
        assert!(PublicKey::from_sec1(Scheme::Ed25519, &[7; 33]).is_err());
    }

    #[test]
    fn every_scheme_signs_verifies_and_rejects_tampering() {
        for scheme in Scheme::ALL {
            let key = PrivateKey::generate(scheme);
            let pk = key.public_key();
            let sig = key.sign(b"hello");
            assert_eq!(sig.0.len(), scheme.signature_len());
            pk.verify(b"hello", &sig).unwrap();
            assert!(pk.verify(b"hellO", &sig).is_err());
            let mut bad = sig.clone();
            bad.0[5] ^= 1;
            assert!(pk.verify(b"hello", &bad).is_err());
            assert!(pk.verify(b"hello", &Signature(vec![0; 3])).is_err());
            let other = PrivateKey::generate(scheme).public_key();
            assert!(other.verify(b"hello", &sig).is_err());
        }
    }

    #[test]
    fn secp256k1_recovers_and_rejects_high_s() {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let sig = key.sign(b"msg");
        assert_eq!(sig.recover_secp256k1(b"msg").unwrap(), key.public_key());
        // Flip s to n - s: same point equation, different bytes; must be refused.
        let parsed = k256::ecdsa::Signature::from_slice(&sig.0[..64]).unwrap();
        let high = k256::ecdsa::Signature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
        let mut raw = high.to_bytes().to_vec();
        raw.push(sig.0[64] ^ 1);
        assert_eq!(
            key.public_key().verify(b"msg", &Signature(raw)),
            Err(CryptoError::BadSignature)
        );
    }

    /// Verification checked (r, s) and ignored the recovery byte, so any of 256 last bytes
    /// verified: a relayer could re-encode a native transaction under another hash.
    #[test]
    fn regression_secp256k1_recovery_byte_is_part_of_the_signature() {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let sig = key.sign(b"msg");
        assert_eq!(key.public_key().verify(b"msg", &sig), Ok(()));
        for byte in 0..=u8::MAX {
            if byte == sig.0[64] {
                continue;
            }
            let mut twin = sig.clone();
            twin.0[64] = byte;
            assert_eq!(
                key.public_key().verify(b"msg", &twin),
                Err(CryptoError::BadSignature),
                "recovery byte {byte}"
            );
        }
    }

    #[test]
    fn pkcs8_pem_and_base64_round_trip() {
        for scheme in Scheme::ALL {
            let key = PrivateKey::generate(scheme);
            let pem = key.to_pkcs8_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = PrivateKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(back.public_key(), key.public_key());
            let back = PrivateKey::from_base64(&key.to_base64()).unwrap();
            assert_eq!(back.public_key(), key.public_key());
            let pk = key.public_key();
            assert_eq!(PublicKey::from_base64(&pk.to_base64()).unwrap(), pk);
        }
        assert!(
            PrivateKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
            )
            .is_err()
        );
        assert!(PrivateKey::from_pkcs8_pem("garbage").is_err());
    }

    #[test]
    fn a_key_encrypted_under_a_random_secret_opens_with_it_only() {
        let secret = "Kc3pQzS0dV9mL2xY7wN4bR8tH1fJ6gA5";
        for scheme in [Scheme::Ed25519, Scheme::Sm2] {
            let key = PrivateKey::generate(scheme);
            let pem = key.to_encrypted_pem_under_secret(secret).unwrap();
            assert!(is_encrypted_pem(&pem));
            let back = PrivateKey::from_pem(&pem, Some(secret)).unwrap();
            assert_eq!(back.public_key(), key.public_key());
            assert!(PrivateKey::from_pem(&pem, Some("Kc3pQzS0dV9mL2xY7wN4bR8tH1fJ6gA6")).is_err());
        }
        let short = PrivateKey::generate(Scheme::Ed25519).to_encrypted_pem_under_secret("hunter2");
        assert!(short.is_err(), "a password gets the stretched kind");
    }

    #[test]
    fn an_encrypted_key_opens_only_with_its_passphrase() {
        for scheme in [Scheme::Ed25519, Scheme::Secp256k1, Scheme::Sm2] {
            let key = PrivateKey::generate(scheme);
            let pem = key.to_encrypted_pem("correct horse").unwrap();
            assert!(is_encrypted_pem(&pem) && !pem.contains("BEGIN PRIVATE KEY"));
            let back = PrivateKey::from_pem(&pem, Some("correct horse")).unwrap();
            assert_eq!(back.public_key(), key.public_key());
            assert!(PrivateKey::from_pem(&pem, Some("wrong")).is_err());
            assert!(PrivateKey::from_pem(&pem, None).is_err());
            let clear = PrivateKey::from_pem(&key.to_pkcs8_pem(), None).unwrap();
            assert_eq!(clear.public_key(), key.public_key());
        }
        assert!(PublicKey::from_base64("rsa:AAAA").is_err());
        let mut not_a_point = [0u8; 33];
        not_a_point[0] = 9; // no SEC1 tag 9 exists
        assert!(PublicKey::from_bytes(Scheme::Secp256k1, &not_a_point).is_err());
        assert!(PublicKey::from_bytes(Scheme::Sm2, &not_a_point).is_err());
        assert!(PublicKey::from_bytes(Scheme::Ed25519, &[1; 31]).is_err());
    }

    #[test]
    fn batch_verification_pinpoints_the_bad_signature() {
        let keys: Vec<PrivateKey> = (0..8)
            .map(|i| PrivateKey::generate(if i == 7 { Scheme::Sm2 } else { Scheme::Ed25519 }))
            .collect();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let pks: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let cache = KeyCache::default();
        let items = |sigs: &[Signature]| -> Vec<Result<(), CryptoError>> {
            let v: Vec<(&PublicKey, &[u8], &Signature)> =
                (0..8).map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i])).collect();
            verify_batch(&v, &cache)
        };
        assert!(items(&sigs).iter().all(Result::is_ok));
        sigs[3].0[0] ^= 1;
        let results = items(&sigs);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 3, "item {i}");
        }
    }
}
