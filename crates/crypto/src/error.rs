/// Everything that can go wrong in this crate; every input from outside is treated as hostile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("invalid {scheme} public key")]
    InvalidPublicKey { scheme: &'static str },
    #[error("invalid {scheme} private key")]
    InvalidPrivateKey { scheme: &'static str },
    #[error("malformed {scheme} signature: expected {expected} bytes, got {got}")]
    SignatureLength { scheme: &'static str, expected: usize, got: usize },
    #[error("signature does not verify")]
    BadSignature,
    #[error("unknown signature scheme `{0}` (expected ed25519, secp256k1 or sm2)")]
    UnknownScheme(String),
    #[error("unknown crypto suite `{0}` (expected standard or sm)")]
    UnknownSuite(String),
    #[error("key encoding: {0}")]
    KeyEncoding(String),
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    #[error("invalid hex: {0}")]
    InvalidHex(String),
    #[error("AEAD: wrong key length {got} (expected {expected})")]
    AeadKeyLength { expected: usize, got: usize },
    #[error("AEAD: decryption failed (wrong key, nonce, associated data, or tampered ciphertext)")]
    AeadOpen,
    #[error("key share: {0}")]
    KeyShare(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("access token: {0}")]
    Token(String),
}
