//! Access tokens for a chain's node API: JSON Web Tokens (RFC 7519) signed with Ed25519
//! (`EdDSA`, RFC 8037) by a certificate authority the chain trusts, so that a node checks
//! them offline, with no call to whoever issued them.
//!
//! The issuer is the consortium's CA (the platform acting for the consortium, or whoever runs
//! a bare network) or a member organization's CA, whose certificate the chain's governance
//! lists: a token is as good as its issuer's membership, so an organization voted out takes
//! its tokens with it. The header's `kid` is the issuer's public key (base64url), which picks
//! the key to verify with; the `iss` claim must then name the same issuer, so one member's
//! key cannot speak for another. `aud` is the chain id, so a token works on one chain only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

use crate::{CryptoError, PrivateKey, PublicKey, Scheme, Signature};

/// The longest token a node reads; anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The issuer name of tokens signed by the consortium's CA (members sign as their org id).
pub const CONSORTIUM_ISSUER: &str = "consortium";

/// What a token lets its holder do on the chain's node API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read blocks, transactions, state, events and metrics.
    Read,
    /// Read, and submit transactions.
    Write,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
        }
    }
}

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who signed: [`CONSORTIUM_ISSUER`] or a member organization's id.
    pub iss: String,
    /// Whom it was issued to (a user, an application credential, the platform).
    pub sub: String,
    /// The chain id, in decimal.
    pub aud: String,
    pub role: Role,
    /// Issued at, and expires at (seconds since the Unix epoch).
    pub iat: u64,
    pub exp: u64,
    /// The token's own id, for the audit trail.
    pub jti: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

const ALG: &str = "EdDSA";

/// The claims signed by `key` (an Ed25519 CA key), as a compact JWT.
pub fn issue(claims: &Claims, key: &PrivateKey) -> Result<String, CryptoError> {
    if key.scheme() != Scheme::Ed25519 {
        return Err(CryptoError::Token("tokens are signed with Ed25519 keys".into()));
    }
    let header = Header {
        alg: ALG.into(),
        typ: "JWT".into(),
        kid: B64URL.encode(key.public_key().as_bytes()),
    };
    let signing_input = format!("{}.{}", part(&header), part(claims));
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", B64URL.encode(&signature.0)))
}

/// A token that verified: the issuer's key (the header's `kid`) and the claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub issuer_key: [u8; 32],
    pub claims: Claims,
}

/// Reads `token` and checks its signature under the key its header names, which `trusted`
/// must accept (returning the issuer name that key signs as). Checks too that `iss` is that
/// name, that `aud` is `chain_id` and that `now` (Unix seconds) is before `exp`.
pub fn verify(
    token: &str,
    chain_id: u64,
    now: u64,
    trusted: impl Fn(&[u8; 32]) -> Option<String>,
) -> Result<Signed, CryptoError> {
    let bad = |why: &str| CryptoError::Token(why.to_owned());
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JSON Web Token (three base64url parts)"));
    };
    let decode = |part: &str| B64URL.decode(part).map_err(|_| bad("a part is not base64url"));
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| bad("the header is not JSON"))?;
    if header.alg != ALG {
        return Err(bad("the algorithm is not EdDSA"));
    }
    let issuer_key: [u8; 32] =
        decode(&header.kid)?.try_into().map_err(|_| bad("the key id is not an Ed25519 key"))?;
    let issuer = trusted(&issuer_key).ok_or_else(|| bad("no CA of this chain issued it"))?;
    let key = PublicKey::from_bytes(Scheme::Ed25519, &issuer_key)?;
    let signing_input = &token[..token.len() - signature.len() - 1];
    key.verify(signing_input.as_bytes(), &Signature(decode(signature)?))
        .map_err(|_| bad("the signature does not verify"))?;
    let claims: Claims =
        serde_json::from_slice(&decode(payload)?).map_err(|_| bad("the claims are not valid"))?;
    if claims.iss != issuer {
        return Err(bad("the issuer is not the key's owner"));
    }
    if claims.aud != chain_id.to_string() {
        return Err(bad("the token is for another chain"));
    }
    if now >= claims.exp {
        return Err(bad("the token has expired"));
    }
    Ok(Signed { issuer_key, claims })
}

/// A JSON part of a token, base64url-encoded.
fn part(value: &impl Serialize) -> String {
    B64URL.encode(serde_json::to_vec(value).expect("claims and headers always encode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: u64 = 7;
    const NOW: u64 = 1_800_000_000;

    fn claims(iss: &str) -> Claims {
        Claims {
            iss: iss.into(),
            sub: "alice".into(),
            aud: CHAIN.to_string(),
            role: Role::Write,
            iat: NOW,
            exp: NOW + 60,
            jti: "t1".into(),
        }
    }

    fn trusting(key: &PrivateKey, name: &'static str) -> impl Fn(&[u8; 32]) -> Option<String> {
        let public: [u8; 32] = key.public_key().as_bytes().try_into().unwrap();
        move |k| (k == &public).then(|| name.to_owned())
    }

    #[test]
    fn a_token_verifies_under_its_issuer_until_it_expires() {
        let ca = PrivateKey::generate(Scheme::Ed25519);
        let token = issue(&claims("org-a"), &ca).unwrap();
        let trusted = trusting(&ca, "org-a");
        assert_eq!(verify(&token, CHAIN, NOW, &trusted).unwrap().claims, claims("org-a"));
        assert!(verify(&token, CHAIN, NOW + 60, &trusted).is_err(), "expired");
    }

    #[test]
    fn a_token_of_an_untrusted_key_or_another_chain_is_refused() {
        let ca = PrivateKey::generate(Scheme::Ed25519);
        let token = issue(&claims("org-a"), &ca).unwrap();
        let stranger = PrivateKey::generate(Scheme::Ed25519);
        assert!(verify(&token, CHAIN, NOW, trusting(&stranger, "org-a")).is_err());
        assert!(verify(&token, CHAIN + 1, NOW, trusting(&ca, "org-a")).is_err());
    }

    #[test]
    fn a_member_key_cannot_sign_as_another_issuer() {
        let ca = PrivateKey::generate(Scheme::Ed25519);
        let token = issue(&claims(CONSORTIUM_ISSUER), &ca).unwrap();
        let err = verify(&token, CHAIN, NOW, trusting(&ca, "org-a")).unwrap_err();
        assert_eq!(err, CryptoError::Token("the issuer is not the key's owner".into()));
    }

    #[test]
    fn changed_claims_break_the_signature() {
        let ca = PrivateKey::generate(Scheme::Ed25519);
        let token = issue(&claims("org-a"), &ca).unwrap();
        let mut forged = claims("org-a");
        forged.exp += 3600;
        let parts: Vec<&str> = token.split('.').collect();
        let payload = B64URL.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        let err = verify(&tampered, CHAIN, NOW, trusting(&ca, "org-a")).unwrap_err();
        assert_eq!(err, CryptoError::Token("the signature does not verify".into()));
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let ca = PrivateKey::generate(Scheme::Ed25519);
        let trusted = trusting(&ca, "org-a");
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        for token in ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.AA", long.as_str()] {
            assert!(verify(token, CHAIN, NOW, &trusted).is_err(), "{token}");
        }
    }

    #[test]
    fn only_ed25519_keys_issue() {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        assert!(issue(&claims("org-a"), &key).is_err());
    }
}
