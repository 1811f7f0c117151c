use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest;

use crate::CryptoError;

/// A 32-byte digest: block, transaction and state hashes, Merkle roots.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        hex0x(&self.0)
    }

    /// Parses 64 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Self, CryptoError> {
        let raw = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(raw, &mut out)
            .map_err(|e| CryptoError::InvalidHex(format!("{e} (expected 64 hex digits)")))?;
        Ok(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// `0x`-prefixed lower-case hex of any bytes: the API's form of hashes and byte strings. (A
/// table lookup; the `hex` crate's char iterator showed in node profiles.)
pub fn hex0x(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(2 + bytes.len() * 2);
    out.extend_from_slice(b"0x");
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// The hash functions a chain may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Keccak256,
    Sha3_256,
    Sm3,
}

impl HashAlgorithm {
    /// Hashes one contiguous input.
    pub fn digest(self, data: &[u8]) -> Hash {
        self.digest_parts(&[data])
    }

    /// Hashes the concatenation of `parts` without copying them together.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Hash {
        fn run<D: Digest>(parts: &[&[u8]]) -> Hash {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            let mut out = [0u8; 32];
            out.copy_from_slice(&h.finalize());
            Hash(out)
        }
        match self {
            HashAlgorithm::Sha256 => run::<sha2::Sha256>(parts),
            HashAlgorithm::Keccak256 => run::<sha3::Keccak256>(parts),
            HashAlgorithm::Sha3_256 => run::<sha3::Sha3_256>(parts),
            HashAlgorithm::Sm3 => run::<sm3::Sm3>(parts),
        }
    }

    /// A streaming hasher, for files too large to hold in memory.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            HashAlgorithm::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Keccak256 => HasherInner::Keccak256(sha3::Keccak256::new()),
            HashAlgorithm::Sha3_256 => HasherInner::Sha3_256(sha3::Sha3_256::new()),
            HashAlgorithm::Sm3 => HasherInner::Sm3(sm3::Sm3::new()),
        })
    }
}

/// Incremental form of [`HashAlgorithm::digest`].
#[derive(Clone, Debug)]
pub struct Hasher(HasherInner);

#[derive(Clone, Debug)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Keccak256(sha3::Keccak256),
    Sha3_256(sha3::Sha3_256),
    Sm3(sm3::Sm3),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherInner::Sha256(h) => h.update(data),
            HasherInner::Keccak256(h) => h.update(data),
            HasherInner::Sha3_256(h) => h.update(data),
            HasherInner::Sm3(h) => h.update(data),
        }
    }

    pub fn finalize(self) -> Hash {
        Hash(match self.0 {
            HasherInner::Sha256(h) => h.finalize().into(),
            HasherInner::Keccak256(h) => h.finalize().into(),
            HasherInner::Sha3_256(h) => h.finalize().into(),
            HasherInner::Sm3(h) => h.finalize().into(),
        })
    }
}

/// Keccak-256 as Ethereum uses it (not SHA3-256: the padding differs).
pub fn keccak256(data: &[u8]) -> Hash {
    HashAlgorithm::Keccak256.digest(data)
}

/// Binary Merkle root over `leaves` in the style of RFC 6962: leaf = H(0x00 || leaf),
/// node = H(0x01 || left || right), an odd node is promoted unchanged, the empty root is H("").
/// The domain-separation bytes make a leaf impossible to pass off as an inner node.
pub fn merkle_root(algo: HashAlgorithm, leaves: impl IntoIterator<Item = Hash>) -> Hash {
    let mut level: Vec<Hash> =
        leaves.into_iter().map(|l| algo.digest_parts(&[&[0], &l.0])).collect();
    if level.is_empty() {
        return algo.digest(&[]);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => algo.digest_parts(&[&[1], &l.0, &r.0]),
                [one] => *one,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> Hash {
        Hash::from_hex(s).expect("test vector is valid hex")
    }

    // FIPS 180-2 Appendix B.1, the Keccak team's / Ethereum's empty-string digest, FIPS 202
    // (NIST SHA3-256 example values), GB/T 32905-2016 (SM3) Appendix A examples 1 and 2.
    #[test]
    fn published_vectors() {
        let cases = [
            (
                HashAlgorithm::Sha256,
                b"abc".to_vec(),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                HashAlgorithm::Keccak256,
                b"".to_vec(),
                "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
            ),
            (
                HashAlgorithm::Sha3_256,
                b"".to_vec(),
                "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
            ),
            (
                HashAlgorithm::Sha3_256,
                b"abc".to_vec(),
                "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
            ),
            (
                HashAlgorithm::Sm3,
                b"abc".to_vec(),
                "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
            ),
            (
                HashAlgorithm::Sm3,
                b"abcd".repeat(16),
                "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
            ),
        ];
        for (algo, input, want) in cases {
            assert_eq!(algo.digest(&input), hex32(want), "{algo:?}");
            let mut streamed = algo.hasher();
            for chunk in input.chunks(3) {
                streamed.update(chunk);
            }
            assert_eq!(streamed.finalize(), hex32(want), "{algo:?} streamed");
        }
    }

    #[test]
    fn merkle_root_shapes() {
        let a = HashAlgorithm::Sha256;
        let leaves: Vec<Hash> = (0u8..5).map(|i| a.digest(&[i])).collect();
        assert_eq!(merkle_root(a, []), a.digest(&[]));
        let one = merkle_root(a, leaves[..1].to_vec());
        assert_eq!(one, a.digest_parts(&[&[0], &leaves[0].0]));
        // Order matters and every leaf counts.
        let r5 = merkle_root(a, leaves.clone());
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(r5, merkle_root(a, swapped));
        assert_ne!(r5, merkle_root(a, leaves[..4].to_vec()));
    }

    #[test]
    fn hash_hex_round_trip_and_errors() {
        assert_eq!(hex0x(&[0x00, 0xab, 0x5f]), "0x00ab5f");
        let h = HashAlgorithm::Sha256.digest(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert!(Hash::from_hex("0x1234").is_err());
        assert!(Hash::from_hex(&"zz".repeat(32)).is_err());
    }
}
