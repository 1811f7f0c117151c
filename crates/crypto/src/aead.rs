use aes_gcm::aead::{Aead as _, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};
use sm4::Sm4;
use sm4::cipher::consts::U12;

use crate::CryptoError;

type Sm4Gcm = AesGcm<Sm4, U12>;

/// Authenticated encryption with a 96-bit nonce and a 128-bit tag (GCM, NIST SP 800-38D).
/// SM4-GCM is GCM over the SM4 block cipher (GB/T 32907), as RFC 8998 specifies for TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aead {
    Aes256Gcm,
    Sm4Gcm,
}

impl Aead {
    pub const NONCE_LEN: usize = 12;
    pub const TAG_LEN: usize = 16;

    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes256Gcm => 32,
            Aead::Sm4Gcm => 16,
        }
    }

    /// Returns ciphertext || tag. The nonce must never repeat under one key.
    pub fn seal(
        self,
        key: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let payload = Payload { msg: plaintext, aad };
        let nonce = Nonce::from_slice(nonce);
        self.check_key(key)?;
        let out = match self {
            Aead::Aes256Gcm => Aes256Gcm::new_from_slice(key).map(|c| c.encrypt(nonce, payload)),
            Aead::Sm4Gcm => Sm4Gcm::new_from_slice(key).map(|c| c.encrypt(nonce, payload)),
        };
        out.map_err(|_| self.key_error(key))?.map_err(|_| CryptoError::AeadOpen)
    }

    /// Checks the tag and returns the plaintext.
    pub fn open(
        self,
        key: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let payload = Payload { msg: sealed, aad };
        let nonce = Nonce::from_slice(nonce);
        self.check_key(key)?;
        let out = match self {
            Aead::Aes256Gcm => Aes256Gcm::new_from_slice(key).map(|c| c.decrypt(nonce, payload)),
            Aead::Sm4Gcm => Sm4Gcm::new_from_slice(key).map(|c| c.decrypt(nonce, payload)),
        };
        out.map_err(|_| self.key_error(key))?.map_err(|_| CryptoError::AeadOpen)
    }

    fn check_key(self, key: &[u8]) -> Result<(), CryptoError> {
        if key.len() == self.key_len() { Ok(()) } else { Err(self.key_error(key)) }
    }

    fn key_error(self, key: &[u8]) -> CryptoError {
        CryptoError::AeadKeyLength { expected: self.key_len(), got: key.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector is hex")
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14 (AES-256).
    #[test]
    fn aes256_gcm_nist_vectors() {
        let key = [0u8; 32];
        let nonce = [0u8; 12];
        assert_eq!(
            Aead::Aes256Gcm.seal(&key, &nonce, &[], &[]).unwrap(),
            unhex("530f8afbc74536b9a963b4f1c4cb738b")
        );
        assert_eq!(
            Aead::Aes256Gcm.seal(&key, &nonce, &[], &[0u8; 16]).unwrap(),
            unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")
        );
    }

    // RFC 8998 Appendix A.1 (SM4-GCM).
    #[test]
    fn sm4_gcm_rfc8998_vector() {
        let key = unhex("0123456789ABCDEFFEDCBA9876543210");
        let nonce: [u8; 12] = unhex("00001234567800000000ABCD").try_into().unwrap();
        let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
        let pt = unhex(
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
             EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
        );
        let want = unhex(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
             D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D\
             83DE3541E4C2B58177E065A9BF7B62EC",
        );
        assert_eq!(Aead::Sm4Gcm.seal(&key, &nonce, &aad, &pt).unwrap(), want);
        assert_eq!(Aead::Sm4Gcm.open(&key, &nonce, &aad, &want).unwrap(), pt);
    }

    // GB/T 32907-2016 (SM4) Appendix A example 1, through the block cipher directly.
    #[test]
    fn sm4_block_vector() {
        use sm4::cipher::{BlockEncrypt, KeyInit as _};
        let key = unhex("0123456789abcdeffedcba9876543210");
        let cipher = Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::generic_array::GenericArray::clone_from_slice(&key);
        cipher.encrypt_block(&mut block);
        assert_eq!(block.to_vec(), unhex("681edf34d206965e86b3e94f536e4246"));
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        for aead in [Aead::Aes256Gcm, Aead::Sm4Gcm] {
            let key = vec![7u8; aead.key_len()];
            let nonce = [1u8; 12];
            let mut sealed = aead.seal(&key, &nonce, b"ad", b"secret").unwrap();
            assert_eq!(aead.open(&key, &nonce, b"ad", &sealed).unwrap(), b"secret");
            assert_eq!(aead.open(&key, &nonce, b"AD", &sealed), Err(CryptoError::AeadOpen));
            sealed[0] ^= 1;
            assert_eq!(aead.open(&key, &nonce, b"ad", &sealed), Err(CryptoError::AeadOpen));
            assert!(matches!(
                aead.seal(&[0u8; 5], &nonce, b"", b""),
                Err(CryptoError::AeadKeyLength { .. })
            ));
        }
    }
}
