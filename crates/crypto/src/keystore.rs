//! Ethereum keystores (Web3 Secret Storage, version 3): a secp256k1 key encrypted under a
//! password with scrypt and AES-128-CTR, the file MetaMask, ethers (`Wallet.fromEncryptedJson`),
//! web3.py (`Account.decrypt`) and Foundry (`--keystore`) import. Keys handed to wallets leave
//! the platform this way, never in clear text.

use aes::cipher::{KeyIvInit, StreamCipher};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{CryptoError, PrivateKey, Scheme, keccak256};

/// scrypt's cost: 2^14 (16 MiB, tens of milliseconds), between geth's "light" 2^12 and its
/// standard 2^18.
const LOG_N: u8 = 14;
const R: u32 = 8;
const P: u32 = 1;

/// A keystore file's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keystore {
    /// The key's address, lowercase hex without `0x`.
    pub address: String,
    pub crypto: KeystoreCrypto,
    pub id: String,
    pub version: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeystoreCrypto {
    pub cipher: String,
    pub cipherparams: CipherParams,
    pub ciphertext: String,
    pub kdf: String,
    pub kdfparams: KdfParams,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CipherParams {
    pub iv: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub dklen: usize,
    pub n: u64,
    pub r: u32,
    pub p: u32,
    pub salt: String,
}

fn derive(password: &str, params: &KdfParams) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bad = |m: &str| CryptoError::KeyEncoding(format!("keystore: {m}"));
    if !params.n.is_power_of_two() || params.n < 2 || params.dklen < 32 {
        return Err(bad("unsupported scrypt parameters"));
    }
    let log_n = params.n.trailing_zeros() as u8;
    let scrypt = scrypt::Params::new(log_n, params.r, params.p, params.dklen)
        .map_err(|e| bad(&e.to_string()))?;
    let salt = hex::decode(&params.salt).map_err(|_| bad("salt is not hex"))?;
    let mut key = Zeroizing::new(vec![0u8; params.dklen]);
    scrypt::scrypt(password.as_bytes(), &salt, &scrypt, &mut key)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(key)
}

fn apply_ctr(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
    let mut cipher = ctr::Ctr128BE::<aes::Aes128>::new_from_slices(key, iv)
        .map_err(|_| CryptoError::KeyEncoding("keystore: bad cipher parameters".into()))?;
    cipher.apply_keystream(data);
    Ok(())
}

impl Keystore {
    /// Encrypts a secp256k1 key under `password`.
    pub fn encrypt(key: &PrivateKey, password: &str) -> Result<Keystore, CryptoError> {
        if key.scheme() != Scheme::Secp256k1 {
            return Err(CryptoError::KeyEncoding(
                "an Ethereum keystore holds a secp256k1 key".into(),
            ));
        }
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        OsRng.fill_bytes(&mut id);
        let kdfparams = KdfParams { dklen: 32, n: 1 << LOG_N, r: R, p: P, salt: hex::encode(salt) };
        let derived = derive(password, &kdfparams)?;
        let mut ciphertext = key.secret_bytes();
        let ciphertext = &mut *ciphertext;
        apply_ctr(&derived[..16], &iv, ciphertext)?;
        let mac = keccak256(&[&derived[16..32], &ciphertext[..]].concat());
        // A random (version 4) UUID.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let id = hex::encode(id);
        Ok(Keystore {
            address: hex::encode(key.public_key().address().0),
            crypto: KeystoreCrypto {
                cipher: "aes-128-ctr".into(),
                cipherparams: CipherParams { iv: hex::encode(iv) },
                ciphertext: hex::encode(&ciphertext),
                kdf: "scrypt".into(),
                kdfparams,
                mac: hex::encode(mac.0),
            },
            id: format!(
                "{}-{}-{}-{}-{}",
                &id[..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[20..]
            ),
            version: 3,
        })
    }

    /// The key, if `password` is the one it was encrypted under.
    pub fn decrypt(&self, password: &str) -> Result<PrivateKey, CryptoError> {
        let bad = |m: &str| CryptoError::KeyEncoding(format!("keystore: {m}"));
        let c = &self.crypto;
        if self.version != 3 || c.cipher != "aes-128-ctr" || c.kdf != "scrypt" {
            return Err(bad("only version 3 with scrypt and aes-128-ctr is supported"));
        }
        let derived = derive(password, &c.kdfparams)?;
        let mut secret =
            Zeroizing::new(hex::decode(&c.ciphertext).map_err(|_| bad("ciphertext is not hex"))?);
        let mac = keccak256(&[&derived[16..32], &secret[..]].concat());
        if hex::encode(mac.0) != c.mac.to_ascii_lowercase() {
            return Err(bad("wrong password (the MAC does not match)"));
        }
        let iv = hex::decode(&c.cipherparams.iv).map_err(|_| bad("iv is not hex"))?;
        apply_ctr(&derived[..16], &iv, &mut secret)?;
        PrivateKey::from_secret_bytes(Scheme::Secp256k1, &secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keystore_opens_with_its_password_only() {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let store = Keystore::encrypt(&key, "correct horse").unwrap();
        assert_eq!(store.address, hex::encode(key.public_key().address().0));
        let opened = store.decrypt("correct horse").unwrap();
        assert_eq!(opened.public_key(), key.public_key());
        assert!(store.decrypt("wrong").is_err());
    }

    /// A keystore eth-account (web3.py) wrote: `Account.encrypt(key, "testpassword",
    /// kdf="scrypt", iterations=16384)`. (The definition's own scrypt vector has r = 1 with
    /// n = 2^18, which RFC 7914 and RustCrypto refuse: n must stay under 2^(16 r).)
    #[test]
    fn a_keystore_written_by_eth_account_decrypts() {
        let json = r#"{"address": "008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b", "crypto": {"cipher": "aes-128-ctr", "cipherparams": {"iv": "9a334b164896cfc4b9177721e0f9e380"}, "ciphertext": "8fa7af22794e1dd0cf16f7aa09b325aeb469600efccddfea02512cd2c9cc6a1c", "kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 16384, "r": 8, "p": 1, "salt": "907594fccfbd68f38c5923514328fa41"}, "mac": "a7842bc45e59a9e6080db22c068169c067775dee4fb75d927756c20c3f0580e9"}, "id": "d29262ac-f25b-489b-b4be-ef14b4d53e94", "version": 3}"#;
        let store: Keystore = serde_json::from_str(json).unwrap();
        let key = store.decrypt("testpassword").unwrap();
        assert_eq!(
            hex::encode(&*key.secret_bytes()),
            "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
        );
    }
}
