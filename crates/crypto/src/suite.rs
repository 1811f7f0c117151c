use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Aead, CryptoError, HashAlgorithm};

/// The cryptographic suite of a chain, fixed at genesis: which hash builds block, transaction
/// and state digests, and which AEAD encrypts data at rest. Signature schemes are per transaction.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Suite {
    /// SHA-256 and AES-256-GCM.
    #[default]
    Standard = 0,
    /// The Chinese national standards: SM3 and SM4-GCM (SM2 signatures are expected).
    Sm = 1,
}

impl Suite {
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Suite::Standard => HashAlgorithm::Sha256,
            Suite::Sm => HashAlgorithm::Sm3,
        }
    }

    pub fn aead(self) -> Aead {
        match self {
            Suite::Standard => Aead::Aes256Gcm,
            Suite::Sm => Aead::Sm4Gcm,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Suite::Standard => "standard",
            Suite::Sm => "sm",
        })
    }
}

impl FromStr for Suite {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Suite::Standard),
            "sm" => Ok(Suite::Sm),
            other => Err(CryptoError::UnknownSuite(other.to_owned())),
        }
    }
}
