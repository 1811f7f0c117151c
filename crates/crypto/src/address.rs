use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{CryptoError, keccak256};

/// Version byte of the Base58Check form (the same as Bitcoin's P2PKH, so addresses start with 1).
const BASE58_VERSION: u8 = 0;

/// A 20-byte account address.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Takes the first 20 bytes of `bytes` (callers pass exactly 20).
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut out = [0u8; 20];
        out.copy_from_slice(&bytes[..20]);
        Address(out)
    }

    /// EIP-55 mixed-case checksum hex: a hex letter is upper case when the matching nibble of
    /// Keccak-256(lower-case hex) is 8 or more.
    pub fn to_checksum_hex(&self) -> String {
        let lower = hex::encode(self.0);
        let digest = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (digest.0[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    /// Parses `0x` + 40 hex digits. Mixed case must carry a correct EIP-55 checksum; all-lower
    /// or all-upper is accepted as is (EIP-55's rule).
    pub fn from_hex(s: &str) -> Result<Self, CryptoError> {
        let address = Address::from_hex_any_case(s)?;
        let raw = s.strip_prefix("0x").unwrap_or(s);
        let mixed = raw.chars().any(|c| c.is_ascii_lowercase())
            && raw.chars().any(|c| c.is_ascii_uppercase());
        if mixed && address.to_checksum_hex()[2..] != *raw {
            return Err(CryptoError::InvalidAddress(format!("`{s}`: EIP-55 checksum mismatch")));
        }
        Ok(address)
    }

    /// Parses `0x` + 40 hex digits in any case, without checking an EIP-55 checksum: what
    /// geth's JSON-RPC does, so tools that send mis-cased addresses work alike (and the keccak of
    /// a checksum is not paid per request).
    pub fn from_hex_any_case(s: &str) -> Result<Self, CryptoError> {
        let raw = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 20];
        hex::decode_to_slice(raw, &mut out).map_err(|e| {
            CryptoError::InvalidAddress(format!("`{s}`: {e} (expected 40 hex digits)"))
        })?;
        Ok(Address(out))
    }

    /// Base58Check of version byte || address (double SHA-256 checksum).
    pub fn to_base58(&self) -> String {
        bs58::encode(self.0).with_check_version(BASE58_VERSION).into_string()
    }

    pub fn from_base58(s: &str) -> Result<Self, CryptoError> {
        let raw = bs58::decode(s)
            .with_check(Some(BASE58_VERSION))
            .into_vec()
            .map_err(|e| CryptoError::InvalidAddress(format!("`{s}`: {e}")))?;
        if raw.len() != 21 {
            return Err(CryptoError::InvalidAddress(format!("`{s}`: wrong length")));
        }
        Ok(Address::from_slice(&raw[1..]))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum_hex())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum_hex())
    }
}

impl FromStr for Address {
    type Err = CryptoError;
    /// Accepts either form: `0x…` hex or Base58Check.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("0x") { Address::from_hex(s) } else { Address::from_base58(s) }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_checksum_hex())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as Deserialize>::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test addresses listed in EIP-55.
    #[test]
    fn eip55_vectors() {
        for want in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a = Address::from_hex(&want.to_lowercase()).unwrap();
            assert_eq!(a.to_checksum_hex(), want);
            assert_eq!(Address::from_hex(want).unwrap(), a);
        }
        // One flipped case letter breaks the checksum.
        assert!(Address::from_hex("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_err());
        assert!(Address::from_hex("0x1234").is_err());
    }

    #[test]
    fn base58check_round_trip_and_corruption() {
        let a = Address([0x42; 20]);
        let b58 = a.to_base58();
        assert!(b58.starts_with('1'));
        assert_eq!(Address::from_base58(&b58).unwrap(), a);
        assert_eq!(b58.parse::<Address>().unwrap(), a);
        let mut corrupted = b58.into_bytes();
        let last = corrupted.len() - 1;
        corrupted[last] = if corrupted[last] == b'2' { b'3' } else { b'2' };
        assert!(Address::from_base58(std::str::from_utf8(&corrupted).unwrap()).is_err());
    }
}
