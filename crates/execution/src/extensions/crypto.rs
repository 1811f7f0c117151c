//! [`ICrypto`] (`contracts/system/ICrypto.sol`): SM3, and SM2, ed25519 and RSA signature checks.

use alloy_sol_types::SolCall;
use consortia_crypto::{HashAlgorithm, PublicKey, Scheme, Signature};
use revm::primitives::{B256, U256};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{Extension, words};

alloy_sol_types::sol!("../../contracts/system/ICrypto.sol");

use ICrypto::ICryptoCalls as Call;

/// Gas per 32-byte word of hashed input (SHA-256's precompile charges the same).
const GAS_PER_WORD: u64 = 12;
const SM3_GAS: u64 = 60;
pub(super) const SM2_GAS: u64 = 6_500;
const ED25519_GAS: u64 = 1_000;
/// An RSA check with a 2048-bit modulus; other sizes scale with the modulus' square.
pub(super) const RSA_2048_GAS: u64 = 3_200;
const RSA_MIN_BITS: usize = 1024;
const RSA_MAX_BITS: usize = 4096;

pub(super) struct Crypto;

impl Extension for Crypto {
    const NAME: &'static str = "ICrypto";
    type Call = Call;

    fn gas(call: &Call) -> u64 {
        let per_word = |message: &[u8]| GAS_PER_WORD * words(message.len());
        match call {
            Call::sm3(c) => SM3_GAS + per_word(&c.data),
            Call::sm2Verify(c) => SM2_GAS + per_word(&c.message),
            Call::ed25519Verify(c) => ED25519_GAS + per_word(&c.message),
            Call::rsaPkcs1v15Verify(c) => rsa_gas(c.modulus.len()) + per_word(&c.message),
            Call::rsaPssVerify(c) => rsa_gas(c.modulus.len()) + per_word(&c.message),
        }
    }

    fn answer(call: Call) -> Result<Vec<u8>, String> {
        Ok(match call {
            Call::sm3(c) => {
                let digest = B256::from(HashAlgorithm::Sm3.digest(&c.data).0);
                ICrypto::sm3Call::abi_encode_returns(&digest)
            }
            Call::sm2Verify(c) => {
                let key = PublicKey::from_sec1(Scheme::Sm2, &c.publicKey).map_err(|_| {
                    "sm2Verify: the public key is not an SM2 point (33, 64 or 65 bytes)".to_owned()
                })?;
                let valid = key.verify(&c.message, &Signature(c.signature.to_vec())).is_ok();
                ICrypto::sm2VerifyCall::abi_encode_returns(&valid)
            }
            Call::ed25519Verify(c) => {
                let key = PublicKey::from_bytes(Scheme::Ed25519, c.publicKey.as_slice())
                    .map_err(|_| "ed25519Verify: the public key is not an ed25519 point")?;
                let valid = key.verify(&c.message, &Signature(c.signature.to_vec())).is_ok();
                ICrypto::ed25519VerifyCall::abi_encode_returns(&valid)
            }
            Call::rsaPkcs1v15Verify(c) => {
                let key = rsa_key("rsaPkcs1v15Verify", &c.modulus, &c.exponent)?;
                let (scheme, hashed) = match c.hash {
                    ICrypto::RsaHash::Sha256 => {
                        (Pkcs1v15Sign::new::<Sha256>(), Sha256::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::Sha384 => {
                        (Pkcs1v15Sign::new::<Sha384>(), Sha384::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::Sha512 => {
                        (Pkcs1v15Sign::new::<Sha512>(), Sha512::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::__Invalid => return Err(unknown_hash()),
                };
                let valid = key.verify(scheme, &hashed, &c.signature).is_ok();
                ICrypto::rsaPkcs1v15VerifyCall::abi_encode_returns(&valid)
            }
            Call::rsaPssVerify(c) => {
                let key = rsa_key("rsaPssVerify", &c.modulus, &c.exponent)?;
                // A salt longer than the modulus can hold never verifies.
                let salt = usize::try_from(c.saltLength).unwrap_or(usize::MAX).min(key.size());
                let (scheme, hashed) = match c.hash {
                    ICrypto::RsaHash::Sha256 => {
                        (Pss::new_with_salt::<Sha256>(salt), Sha256::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::Sha384 => {
                        (Pss::new_with_salt::<Sha384>(salt), Sha384::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::Sha512 => {
                        (Pss::new_with_salt::<Sha512>(salt), Sha512::digest(&c.message).to_vec())
                    }
                    ICrypto::RsaHash::__Invalid => return Err(unknown_hash()),
                };
                let valid = c.saltLength <= U256::from(key.size())
                    && key.verify(scheme, &hashed, &c.signature).is_ok();
                ICrypto::rsaPssVerifyCall::abi_encode_returns(&valid)
            }
        })
    }
}

/// Gas of an RSA check with a modulus of `len` bytes: [`RSA_2048_GAS`] × (len / 256)².
fn rsa_gas(len: usize) -> u64 {
    let len = len.min(RSA_MAX_BITS / 8) as u64; // longer moduli are refused before any work
    (RSA_2048_GAS * len * len).div_ceil(256 * 256).max(RSA_2048_GAS / 4)
}

fn rsa_key(function: &str, modulus: &[u8], exponent: &[u8]) -> Result<RsaPublicKey, String> {
    if modulus.len() > RSA_MAX_BITS / 8 {
        return Err(format!("{function}: the modulus is longer than {RSA_MAX_BITS} bits"));
    }
    let n = BigUint::from_bytes_be(modulus);
    let bits = n.bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(format!(
            "{function}: the modulus has {bits} bits; {RSA_MIN_BITS} to {RSA_MAX_BITS} are accepted"
        ));
    }
    RsaPublicKey::new_with_max_size(n, BigUint::from_bytes_be(exponent), RSA_MAX_BITS).map_err(
        |e| format!("{function}: not an RSA public key ({e}); the exponent is usually 0x010001"),
    )
}

fn unknown_hash() -> String {
    "unknown RsaHash; 0 (SHA-256), 1 (SHA-384) and 2 (SHA-512) are defined".to_owned()
}
