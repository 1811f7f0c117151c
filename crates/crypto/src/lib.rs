//! Signature schemes, hashes, AEAD, addresses, key encodings and the consortium PKI for Consortia.
//!
//! This crate is the only place that touches cryptographic primitives. It offers:
//! - [`Scheme`]: ed25519 (RFC 8032), secp256k1 ECDSA with public-key recovery (Ethereum style,
//!   over a Keccak-256 prehash) and SM2 (GM/T 0003, distinguishing id `1234567812345678`), behind
//!   [`PrivateKey`], [`PublicKey`] and [`Signature`];
//! - [`HashAlgorithm`]: SHA-256, Keccak-256, SHA3-256 and SM3, with the 32-byte [`Hash`];
//! - [`Aead`]: AES-256-GCM and SM4-GCM;
//! - [`Address`]: 20-byte account addresses shown as EIP-55 hex or Base58Check;
//! - [`Suite`]: the per-chain choice (`standard` or `sm`) of hash and AEAD;
//! - [`pki`]: the consortium's certificate authorities and node TLS certificates.
//! - [`shamir`]: a root key split M of N, and its shares as text.
//! - [`token`]: access tokens for node APIs (JWT signed by a CA's Ed25519 key).
//!
//! It is not a key store (the platform keeps keys) and does no I/O.

mod address;
mod aead;
mod error;
mod hash;
mod keys;
pub mod keystore;
pub mod pki;
pub mod shamir;
mod suite;
pub mod token;

pub use address::Address;
pub use aead::Aead;
pub use error::CryptoError;
pub use hash::{Hash, HashAlgorithm, hex0x, keccak256, merkle_root};
pub use keys::{
    KeyCache, PrivateKey, PublicKey, Scheme, Signature, is_encrypted_pem, verify_batch,
};
pub use suite::Suite;

/// The SM2 distinguishing identifier (GM/T 0003, "default user id").
pub const SM2_DEFAULT_ID: &str = "1234567812345678";
