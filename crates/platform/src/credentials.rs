//! Credentials, without storage: passwords (argon2id), short-lived access tokens, and the
//! random secrets of refresh tokens and API keys (stored only as hashes).
//!
//! Access tokens are `at2.<user id>.<session id>.<expiry ms>.<HMAC-SHA256>` under a key sealed
//! in the keystore: their signature and expiry are checked without the database, valid for
//! [`ACCESS_TTL_S`]; the session they name must still be live (one row read with the user's).
//! Refresh tokens and API keys are random secrets stored only as SHA-256 hashes; a refresh
//! token is single-use (each refresh returns a new pair in the same session).

use argon2::Argon2;
use argon2::password_hash::PasswordHash;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::OpenError;

/// Lifetime of an access token, in seconds.
pub const ACCESS_TTL_S: i64 = 15 * 60;
/// Lifetime of a refresh token, in seconds.
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3600;

/// The key access tokens are signed with.
pub struct TokenKey([u8; 32]);

impl Drop for TokenKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TokenKey> {
        bytes.try_into().ok().map(TokenKey)
    }

    /// The key's bytes (to seal it, or for a test that writes an older platform's file).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0)
    }

    pub fn random() -> TokenKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        TokenKey(key)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    /// An access token for `user_id` in `session`, valid for `ttl_s` seconds from `now`.
    pub fn issue(&self, user_id: &str, session: &str, now: i64, ttl_s: i64) -> String {
        let body = format!("at2.{user_id}.{session}.{}", now + ttl_s * 1000);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The user and session an access token names, if it is genuine and not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<(String, String), &'static str> {
        let (body, tag) = token.rsplit_once('.').ok_or("malformed token")?;
        let mut parts = body.split('.');
        let (Some("at2"), Some(user), Some(session), Some(expiry), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token; log in again");
        };
        let tag = B64.decode(tag).map_err(|_| "malformed token")?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).map_err(|_| "token signature does not verify")?;
        let expiry: i64 = expiry.parse().map_err(|_| "malformed token")?;
        if expiry <= now {
            return Err("token expired; refresh it at POST /v1/auth/refresh or log in again");
        }
        Ok((user.to_owned(), session.to_owned()))
    }
}

/// The memory of one argon2id computation (19 MiB by default), kept by a hashing worker and
/// used for every hash it computes. Allocated afresh each time, glibc kept a freed copy in
/// each thread's arena: 200 logins left the platform at 500 MiB.
pub struct HashMemory(Vec<argon2::Block>);

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} blocks)", self.0.len())
    }
}

impl Default for HashMemory {
    fn default() -> HashMemory {
        HashMemory(vec![argon2::Block::default(); argon2::Params::default().block_count()])
    }
}

impl HashMemory {
    /// `blocks` blocks of it (grown if a stored hash asks for more).
    fn blocks(&mut self, blocks: usize) -> &mut [argon2::Block] {
        if self.0.len() < blocks {
            self.0.resize(blocks, argon2::Block::default());
        }
        &mut self.0[..blocks]
    }
}

/// An argon2id hash (PHC string) of a password, computed in `memory`.
pub fn hash_password_in(password: &str, memory: &mut HashMemory) -> Result<String, OpenError> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let params = argon2::Params::default();
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| OpenError(format!("password hashing: {e}")))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Whether `password` matches a stored argon2id hash, computed in `memory` (the comparison
/// takes constant time).
pub fn password_matches_in(password: &str, stored: &str, memory: &mut HashMemory) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else { return false };
    if hash.algorithm != argon2::Algorithm::Argon2id.ident() {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (argon2::Params::try_from(&hash), hash.salt, hash.hash)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory.blocks(blocks))
        .is_ok()
        && argon2::password_hash::Output::new(&out).is_ok_and(|out| out == expected)
}

/// A random secret, URL-safe.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// A random password of 20 letters and digits (~119 bits). Only alphanumerics: a generated
/// password is typed on command lines, where one starting with `-` reads as a flag
/// (`consortia login --password -8H…` fails).
pub fn random_password() -> String {
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        out.extend(
            random_secret().chars().filter(char::is_ascii_alphanumeric).take(20 - out.len()),
        );
    }
    out
}

/// How secrets are stored: SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What the MySQL gateway keeps of an API key to check a client's scramble without the key:
/// `SHA1(SHA1(key))` for `mysql_native_password` and `SHA256(SHA256(key))` for
/// `caching_sha2_password`'s fast path, hex (as MySQL's own `mysql.user` keeps them). Neither
/// logs in by itself; the keys are 256-bit random, so neither can be searched back to a key.
pub fn mysql_verifiers(key: &str) -> (String, String) {
    let native = sha1::Sha1::digest(sha1::Sha1::digest(key.as_bytes()));
    let sha2 = Sha256::digest(Sha256::digest(key.as_bytes()));
    (hex::encode(native), hex::encode(sha2))
}

/// Whether a MySQL client's `response` to `salt` proves it holds the key of these verifiers
/// (hex, from [`mysql_verifiers`]): a 20-byte `mysql_native_password` response
/// (`SHA1(key) ⊕ SHA1(salt ‖ SHA1(SHA1(key)))`) or a 32-byte `caching_sha2_password` one
/// (`SHA256(key) ⊕ SHA256(SHA256(SHA256(key)) ‖ salt)`).
pub fn mysql_response_matches(native: &str, sha2: &str, salt: &[u8], response: &[u8]) -> bool {
    fn unmask<D: Digest>(stage2: &[u8], mask: &[u8], response: &[u8]) -> bool {
        let stage1: Vec<u8> = response.iter().zip(mask).map(|(r, m)| r ^ m).collect();
        D::digest(&stage1).as_slice() == stage2
    }
    match response.len() {
        20 => hex::decode(native).is_ok_and(|stage2| {
            let mask = sha1::Sha1::new().chain_update(salt).chain_update(&stage2).finalize();
            unmask::<sha1::Sha1>(&stage2, &mask, response)
        }),
        32 => hex::decode(sha2).is_ok_and(|stage2| {
            let mask = Sha256::new().chain_update(&stage2).chain_update(salt).finalize();
            unmask::<Sha256>(&stage2, &mask, response)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's scramble, computed as MySQL's client libraries do.
    fn client_response(plugin: &str, key: &str, salt: &[u8]) -> Vec<u8> {
        fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
            a.iter().zip(b).map(|(x, y)| x ^ y).collect()
        }
        if plugin == "mysql_native_password" {
            let stage1 = sha1::Sha1::digest(key.as_bytes());
            let stage2 = sha1::Sha1::digest(stage1);
            xor(&stage1, &sha1::Sha1::new().chain_update(salt).chain_update(stage2).finalize())
        } else {
            let stage1 = Sha256::digest(key.as_bytes());
            let stage2 = Sha256::digest(stage1);
            xor(&stage1, &Sha256::new().chain_update(stage2).chain_update(salt).finalize())
        }
    }

    #[test]
    fn mysql_scrambles_of_the_key_match_its_verifiers_in_both_plugins() {
        let (native, sha2) = mysql_verifiers("ck1.key_1.secret");
        let salt = b"0123456789abcdefghij";
        for plugin in ["mysql_native_password", "caching_sha2_password"] {
            let response = client_response(plugin, "ck1.key_1.secret", salt);
            assert!(mysql_response_matches(&native, &sha2, salt, &response), "{plugin}");
        }
    }

    #[test]
    fn mysql_scrambles_of_another_key_or_salt_do_not_match() {
        let (native, sha2) = mysql_verifiers("ck1.key_1.secret");
        let salt = b"0123456789abcdefghij";
        for plugin in ["mysql_native_password", "caching_sha2_password"] {
            let wrong = client_response(plugin, "ck1.key_1.secreT", salt);
            assert!(!mysql_response_matches(&native, &sha2, salt, &wrong), "{plugin}");
            let replayed = client_response(plugin, "ck1.key_1.secret", b"another salt 0123456");
            assert!(!mysql_response_matches(&native, &sha2, salt, &replayed), "{plugin}");
        }
        for junk in [&b""[..], &[0u8; 20], &[0u8; 32], &[1u8; 7]] {
            assert!(!mysql_response_matches(&native, &sha2, salt, junk));
        }
    }

    #[test]
    fn generated_passwords_are_20_letters_and_digits() {
        for _ in 0..2_000 {
            let password = random_password();
            assert_eq!(password.len(), 20);
            assert!(password.chars().all(|c| c.is_ascii_alphanumeric()), "{password}");
        }
    }

    #[test]
    fn access_tokens_verify_expire_and_refuse_forgeries() {
        let key = TokenKey::random();
        let token = key.issue("usr_1", "ses_1", 1_000, 60);
        assert_eq!(key.verify(&token, 2_000).unwrap(), ("usr_1".into(), "ses_1".into()));
        assert!(key.verify(&token, 61_000).unwrap_err().contains("expired"));
        // Another key, another user, a changed expiry, garbage.
        assert!(TokenKey::random().verify(&token, 2_000).is_err());
        let forged = token.replace("usr_1", "usr_2");
        assert!(key.verify(&forged, 2_000).unwrap_err().contains("signature"));
        let other_session = token.replace("ses_1", "ses_2");
        assert!(key.verify(&other_session, 2_000).unwrap_err().contains("signature"));
        let (body, tag) = token.rsplit_once('.').unwrap();
        let later = body.replace("61000", "99999999");
        assert!(key.verify(&format!("{later}.{tag}"), 2_000).is_err());
        for junk in ["", "at2", "at2.a.b", "a.b.c.d.e.f", "at2.u.s.1.!!!", "at1.u.1.x"] {
            assert!(key.verify(junk, 0).is_err(), "{junk}");
        }
    }

    #[test]
    fn hashes_made_in_reused_memory_verify_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
        let mut memory = HashMemory::default();
        let ours = hash_password_in("correct horse", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        let verified = Argon2::default().verify_password(b"correct horse", &parsed);
        assert!(verified.is_ok(), "the argon2 crate reads ours");
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(password_matches_in("correct horse", &theirs, &mut memory));
        assert!(password_matches_in("correct horse", &ours, &mut memory));
        assert!(!password_matches_in("wrong", &ours, &mut memory));
        assert!(!password_matches_in("correct horse", "not a hash", &mut memory));
        assert_ne!(ours, hash_password_in("correct horse", &mut memory).unwrap(), "salted");
    }
}
