//! The sealed keystore (Vault's model): every private key the platform keeps is encrypted with
//! AEAD under a *data key*; the data key is kept wrapped by a *root key*; the root key exists
//! only in memory, recovered from M of the N Shamir shares its holders were given at
//! initialization, and is forgotten once it has unwrapped the data key.
//!
//! Pure: no SQL, no HTTP. The store keeps [`Sealing`] and the sealed values; the services
//! decide when to seal, unseal and rekey.
//!
//! A sealed value is `enc1:<cipher>:<base64(nonce || ciphertext || tag)>`, with a fresh
//! 96-bit nonce each time and associated data that names where the value lives
//! ([`Secret::aad`]), so a ciphertext copied into another row does not open there.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use consortia_crypto::Aead;
use consortia_crypto::shamir::{self, KeyShare};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::credentials::TokenKey;
use crate::error::{Error, Result};

/// What the database keeps about the keystore: the share set's shape, the cipher, the data
/// key wrapped by the root key and the token key sealed by the data key.
#[derive(Clone, Debug)]
pub struct Sealing {
    /// The current share set (hex of the 4 bytes every share of it carries).
    pub set: String,
    pub shares: u8,
    pub threshold: u8,
    pub cipher: Aead,
    pub data_key: String,
    pub token_key: String,
}

/// A private key the database holds, by where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// A consortium's root CA key.
    ConsortiumCa { consortium: String },
    /// A member organization's CA key in a consortium.
    MemberCa { consortium: String, org: String },
    /// The CA key a rotation replaced, kept while a chain may still trust only it.
    PreviousMemberCa { consortium: String, org: String },
    /// The key the contract gateway signs with for an organization.
    OrgAccount { org: String },
    /// A version of a managed signing key of the contract gateway.
    SigningKey { key: String, version: u32 },
    /// The HMAC key a webhook subscription's deliveries are signed with.
    WebhookSecret { webhook: String },
    /// The HMAC key an alert receiver's webhook deliveries are signed with.
    AlertReceiver { receiver: String },
    /// The secret a node's key files are encrypted under.
    NodeKeys { node: String },
    /// The client key the platform presents to a host's Docker Engine over TLS.
    HostKey { host: String },
    /// The kubeconfig (with its credentials) the platform reaches a Kubernetes host with.
    KubeConfig { host: String },
}

impl Secret {
    /// The associated data its ciphertext is bound to.
    pub fn aad(&self) -> String {
        match self {
            Secret::ConsortiumCa { consortium } => format!("consortium-ca/{consortium}"),
            Secret::MemberCa { consortium, org } => format!("member-ca/{consortium}/{org}"),
            Secret::PreviousMemberCa { consortium, org } => {
                format!("previous-member-ca/{consortium}/{org}")
            }
            Secret::OrgAccount { org } => format!("org-account/{org}"),
            Secret::SigningKey { key, version } => format!("signing-key/{key}/{version}"),
            Secret::WebhookSecret { webhook } => format!("webhook-secret/{webhook}"),
            Secret::AlertReceiver { receiver } => format!("alert-receiver/{receiver}"),
            Secret::NodeKeys { node } => format!("node-keys/{node}"),
            Secret::HostKey { host } => format!("host-key/{host}"),
            Secret::KubeConfig { host } => format!("kubeconfig/{host}"),
        }
    }
}

/// The cipher's name in sealed values and in the API.
pub fn cipher_name(cipher: Aead) -> &'static str {
    match cipher {
        Aead::Aes256Gcm => "aes-256-gcm",
        Aead::Sm4Gcm => "sm4-gcm",
    }
}

pub fn cipher_from_name(name: &str) -> Option<Aead> {
    match name {
        "aes-256-gcm" => Some(Aead::Aes256Gcm),
        "sm4-gcm" => Some(Aead::Sm4Gcm),
        _ => None,
    }
}

const TOKEN_KEY_AAD: &str = "platform/token-key";

fn data_key_aad(set: &str) -> String {
    format!("keystore/data-key/{set}")
}

fn random_key(cipher: Aead) -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
    OsRng.fill_bytes(&mut key);
    key
}

fn seal_with(cipher: Aead, key: &[u8], aad: &str, plaintext: &[u8]) -> Result<String> {
    let mut nonce = [0u8; Aead::NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher.seal(key, &nonce, aad.as_bytes(), plaintext).map_err(Error::internal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("enc1:{}:{}", cipher_name(cipher), B64.encode(out)))
}

fn open_with(cipher: Aead, key: &[u8], aad: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
    let garbled = || Error::internal(format!("the sealed value of {aad} is garbled"));
    let rest = sealed.strip_prefix("enc1:").ok_or_else(garbled)?;
    let (name, body) = rest.split_once(':').ok_or_else(garbled)?;
    if cipher_from_name(name) != Some(cipher) {
        return Err(Error::internal(format!("{aad} is sealed with {name}, not this keystore's")));
    }
    let bytes = B64.decode(body).map_err(|_| garbled())?;
    if bytes.len() < Aead::NONCE_LEN + Aead::TAG_LEN {
        return Err(garbled());
    }
    let (nonce, ciphertext) = bytes.split_at(Aead::NONCE_LEN);
    let nonce: &[u8; 12] = nonce.try_into().map_err(|_| garbled())?;
    cipher
        .open(key, nonce, aad.as_bytes(), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| Error::internal(format!("{aad} does not open under this keystore's data key")))
}

/// Whether a stored value is sealed (anything else is a clear value from before the keystore).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with("enc1:")
}

/// The keys an unsealed platform holds in memory (zeroized when dropped).
pub struct Keys {
    cipher: Aead,
    data_key: Zeroizing<Vec<u8>>,
    /// The key access tokens are signed with.
    pub tokens: TokenKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({}, ..)", cipher_name(self.cipher))
    }
}

impl Keys {
    /// Encrypts a secret for the row `secret` names.
    pub fn seal(&self, secret: &Secret, plaintext: &str) -> Result<String> {
        seal_with(self.cipher, &self.data_key, &secret.aad(), plaintext.as_bytes())
    }

    /// Decrypts the value stored for `secret`.
    pub fn open(&self, secret: &Secret, sealed: &str) -> Result<Zeroizing<String>> {
        let bytes = open_with(self.cipher, &self.data_key, &secret.aad(), sealed)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| Error::internal(format!("{} is not text", secret.aad())))
    }
}

/// A keystore just made: what to store, the shares to hand out (once), and its keys.
#[derive(Debug)]
pub struct Initialized {
    pub sealing: Sealing,
    pub shares: Vec<KeyShare>,
    pub keys: Arc<Keys>,
}

/// Makes a keystore: a data key (and the token key `tokens`, sealed by it) under a fresh root
/// key split into `shares` of which `threshold` unseal.
pub fn initialize(
    shares: u8,
    threshold: u8,
    cipher: Aead,
    tokens: TokenKey,
) -> Result<Initialized> {
    let data_key = random_key(cipher);
    let token_key = seal_with(cipher, &data_key, TOKEN_KEY_AAD, tokens.to_bytes().as_slice())?;
    let keys = Keys { cipher, data_key, tokens };
    let (sealing, shares) = wrap_data_key(&keys, token_key, shares, threshold)?;
    Ok(Initialized { sealing, shares, keys: Arc::new(keys) })
}

/// The data key under a fresh root key and share set (the token key sealed as before).
fn wrap_data_key(
    keys: &Keys,
    token_key: String,
    shares: u8,
    threshold: u8,
) -> Result<(Sealing, Vec<KeyShare>)> {
    let root = random_key(keys.cipher);
    let split = shamir::split(&root, shares, threshold).map_err(|e| {
        Error::invalid("bad_shares", e.to_string().trim_start_matches("key share: ").to_owned())
    })?;
    let set = hex::encode(split[0].set);
    let data_key = seal_with(keys.cipher, &root, &data_key_aad(&set), &keys.data_key)?;
    let sealing = Sealing { set, shares, threshold, cipher: keys.cipher, data_key, token_key };
    Ok((sealing, split))
}

/// Refuses a share that is not of the current set.
pub fn check_share(sealing: &Sealing, share: &KeyShare) -> Result<()> {
    if hex::encode(share.set) != sealing.set {
        return Err(Error::invalid(
            "wrong_share",
            "this share is not of this platform's current share set (another platform's, or \
             replaced by a rekey)",
        ));
    }
    Ok(())
}

/// The keys, from `threshold` shares of the current set.
pub fn unseal(sealing: &Sealing, shares: &[KeyShare]) -> Result<Keys> {
    for share in shares {
        check_share(sealing, share)?;
    }
    let root = shamir::combine(shares)
        .map_err(|e| Error::invalid("wrong_share", format!("the shares do not combine: {e}")))?;
    let data_key = open_with(sealing.cipher, &root, &data_key_aad(&sealing.set), &sealing.data_key)
        .map_err(|_| {
            Error::invalid(
                "wrong_share",
                "the shares do not open this keystore (one of them is not genuine); start again",
            )
        })?;
    let token_key = open_with(sealing.cipher, &data_key, TOKEN_KEY_AAD, &sealing.token_key)?;
    let tokens = TokenKey::from_bytes(&token_key)
        .ok_or_else(|| Error::internal("the sealed token key has the wrong length"))?;
    Ok(Keys { cipher: sealing.cipher, data_key, tokens })
}

/// A new share set for the same data key (nothing sealed under it changes), once `old`
/// shares proved the holders may.
pub fn rekey(
    sealing: &Sealing,
    old: &[KeyShare],
    shares: u8,
    threshold: u8,
) -> Result<(Sealing, Vec<KeyShare>)> {
    let keys = unseal(sealing, old)?;
    wrap_data_key(&keys, sealing.token_key.clone(), shares, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(cipher: Aead) -> Initialized {
        initialize(5, 3, cipher, TokenKey::random()).unwrap()
    }

    fn org(id: &str) -> Secret {
        Secret::OrgAccount { org: id.into() }
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_data_key_and_in_its_row() {
        for cipher in [Aead::Aes256Gcm, Aead::Sm4Gcm] {
            let ks = made(cipher);
            let sealed = ks.keys.seal(&org("a"), "-----BEGIN PRIVATE KEY-----").unwrap();
            assert!(sealed.starts_with(&format!("enc1:{}:", cipher_name(cipher))));
            assert!(!sealed.contains("PRIVATE"));
            assert_eq!(
                ks.keys.open(&org("a"), &sealed).unwrap().as_str(),
                "-----BEGIN PRIVATE KEY-----"
            );
            assert!(ks.keys.open(&org("b"), &sealed).is_err(), "moved to another row");
            assert!(made(cipher).keys.open(&org("a"), &sealed).is_err(), "another keystore");
        }
    }

    #[test]
    fn threshold_shares_unseal_the_same_keys() {
        let ks = made(Aead::Aes256Gcm);
        let sealed = ks.keys.seal(&org("a"), "secret").unwrap();
        let keys = unseal(&ks.sealing, &ks.shares[2..5]).unwrap();
        assert_eq!(keys.open(&org("a"), &sealed).unwrap().as_str(), "secret");
        assert_eq!(keys.tokens.to_bytes(), ks.keys.tokens.to_bytes());
    }

    #[test]
    fn fewer_shares_or_a_foreign_share_do_not_unseal() {
        let ks = made(Aead::Aes256Gcm);
        let err = unseal(&ks.sealing, &ks.shares[..2]).unwrap_err();
        assert!(err.to_string().contains("2 of 3"), "{err}");
        let other = made(Aead::Aes256Gcm);
        let mixed = [ks.shares[0].clone(), ks.shares[1].clone(), other.shares[2].clone()];
        assert!(unseal(&ks.sealing, &mixed).unwrap_err().to_string().contains("share set"));
    }

    #[test]
    fn rekey_keeps_the_data_key_and_retires_the_old_shares() {
        let ks = made(Aead::Sm4Gcm);
        let sealed = ks.keys.seal(&org("a"), "secret").unwrap();
        let (sealing, shares) = rekey(&ks.sealing, &ks.shares[..3], 2, 2).unwrap();
        assert_eq!(shares.len(), 2);
        let keys = unseal(&sealing, &shares).unwrap();
        assert_eq!(keys.open(&org("a"), &sealed).unwrap().as_str(), "secret");
        assert!(unseal(&sealing, &ks.shares[..3]).is_err(), "the old shares are retired");
    }

    #[test]
    fn a_rekey_needs_genuine_old_shares() {
        let ks = made(Aead::Aes256Gcm);
        let other = made(Aead::Aes256Gcm);
        assert!(rekey(&ks.sealing, &other.shares[..3], 3, 2).is_err());
    }
}
