//! Shamir's secret sharing of a root key: split into N shares of which any M recover it, and
//! fewer reveal nothing (GF(256), byte-wise, through `blahaj`).
//!
//! A share travels as text between people, so its encoding guards against the mistakes people
//! make: Base58Check (a typo fails the checksum rather than poisoning the recovered key), and
//! it names its set (4 random bytes shared by the shares of one split) and threshold, so a
//! share from another platform or from before a rekey is refused by name.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// The encoding's version byte.
const VERSION: u8 = 1;
/// What every share's text starts with, so a share is recognizable in a file or a paste.
const PREFIX: &str = "cshare1-";

/// One share of a split secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyShare {
    /// The split this share belongs to.
    pub set: [u8; 4],
    /// How many shares recover the secret.
    pub threshold: u8,
    /// The share's point: x (never 0) and the polynomial's values at x.
    x: u8,
    y: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShare(set {}, {} of {}, ..)", hex::encode(self.set), self.x, self.threshold)
    }
}

impl KeyShare {
    /// The share's number within its set (1..=N).
    pub fn index(&self) -> u8 {
        self.x
    }
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], shares: u8, threshold: u8) -> Result<Vec<KeyShare>, CryptoError> {
    if threshold == 0 || threshold > shares {
        return Err(CryptoError::KeyShare(format!(
            "the threshold must be between 1 and the number of shares ({shares}), not {threshold}"
        )));
    }
    if secret.is_empty() {
        return Err(CryptoError::KeyShare("nothing to split".into()));
    }
    let mut set = [0u8; 4];
    OsRng.fill_bytes(&mut set);
    Ok(blahaj::Sharks(threshold)
        .dealer(secret)
        .take(usize::from(shares))
        .map(|share| {
            let mut bytes = Vec::from(&share);
            let y = Zeroizing::new(bytes.split_off(1));
            bytes.zeroize();
            KeyShare { set, threshold, x: share.x.0, y }
        })
        .collect())
}

/// Recovers the secret from at least `threshold` distinct shares of one set. Shares repeated
/// (the same person twice) count once.
pub fn combine(shares: &[KeyShare]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(first) = shares.first() else {
        return Err(CryptoError::KeyShare("no shares".into()));
    };
    let mut distinct = BTreeMap::new();
    for share in shares {
        if share.set != first.set || share.threshold != first.threshold {
            return Err(CryptoError::KeyShare("the shares come from different splits".into()));
        }
        if share.y.len() != first.y.len() {
            return Err(CryptoError::KeyShare("the shares have different lengths".into()));
        }
        if let Some(seen) = distinct.insert(share.x, share)
            && seen.y != share.y
        {
            return Err(CryptoError::KeyShare(format!(
                "two different shares claim number {}",
                share.x
            )));
        }
    }
    if distinct.len() < usize::from(first.threshold) {
        return Err(CryptoError::KeyShare(format!(
            "{} of {} shares",
            distinct.len(),
            first.threshold
        )));
    }
    let points: Vec<blahaj::Share> = distinct
        .values()
        .map(|s| {
            let mut bytes = Zeroizing::new(Vec::with_capacity(s.y.len() + 1));
            bytes.push(s.x);
            bytes.extend_from_slice(&s.y);
            blahaj::Share::try_from(bytes.as_slice())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| CryptoError::KeyShare(e.into()))?;
    blahaj::Sharks(first.threshold)
        .recover(&points)
        .map(Zeroizing::new)
        .map_err(|e| CryptoError::KeyShare(e.into()))
}

impl fmt::Display for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Zeroizing::new(Vec::with_capacity(7 + self.y.len()));
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.set);
        bytes.push(self.threshold);
        bytes.push(self.x);
        bytes.extend_from_slice(&self.y);
        let text = Zeroizing::new(bs58::encode(bytes.as_slice()).with_check().into_string());
        write!(f, "{PREFIX}{}", text.as_str())
    }
}

impl FromStr for KeyShare {
    type Err = CryptoError;

    fn from_str(text: &str) -> Result<KeyShare, CryptoError> {
        let bad = |why: &str| CryptoError::KeyShare(why.to_owned());
        let body = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("a share starts with `cshare1-`"))?;
        let bytes = Zeroizing::new(
            bs58::decode(body)
                .with_check(None)
                .into_vec()
                .map_err(|_| bad("the share is mistyped (its checksum does not match)"))?,
        );
        match bytes.as_slice() {
            [VERSION, s0, s1, s2, s3, threshold, x, y @ ..] if *x != 0 && !y.is_empty() => {
                Ok(KeyShare {
                    set: [*s0, *s1, *s2, *s3],
                    threshold: *threshold,
                    x: *x,
                    y: Zeroizing::new(y.to_vec()),
                })
            }
            _ => Err(bad("not a share of this version")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [0x5a; 32];

    #[test]
    fn any_threshold_of_the_shares_recover_the_secret() {
        let shares = split(&SECRET, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        for pick in [[0, 1, 2], [0, 2, 4], [4, 3, 1], [1, 2, 3]] {
            let chosen: Vec<_> = pick.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(combine(&chosen).unwrap().as_slice(), SECRET);
        }
    }

    #[test]
    fn fewer_than_the_threshold_are_refused_even_when_repeated() {
        let shares = split(&SECRET, 5, 3).unwrap();
        let two = [shares[0].clone(), shares[1].clone(), shares[1].clone()];
        assert_eq!(combine(&two), Err(CryptoError::KeyShare("2 of 3 shares".into())));
    }

    #[test]
    fn shares_of_different_splits_do_not_mix() {
        let a = split(&SECRET, 3, 2).unwrap();
        let b = split(&SECRET, 3, 2).unwrap();
        assert!(matches!(combine(&[a[0].clone(), b[1].clone()]), Err(CryptoError::KeyShare(_))));
    }

    #[test]
    fn one_of_one_is_the_secret_in_a_share() {
        let shares = split(&SECRET, 1, 1).unwrap();
        assert_eq!(combine(&shares).unwrap().as_slice(), SECRET);
    }

    #[test]
    fn a_threshold_above_the_share_count_or_zero_is_refused() {
        assert!(split(&SECRET, 3, 4).is_err());
        assert!(split(&SECRET, 3, 0).is_err());
    }

    #[test]
    fn a_share_survives_its_text_and_a_typo_is_caught() {
        let share = split(&SECRET, 3, 2).unwrap().remove(1);
        let text = share.to_string();
        assert!(text.starts_with("cshare1-"));
        assert_eq!(text.parse::<KeyShare>().unwrap(), share);
        assert_eq!(format!("  {text}\n").parse::<KeyShare>().unwrap(), share);
        let mut typo = text.into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'2' { b'3' } else { b'2' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(typo.parse::<KeyShare>().unwrap_err().to_string().contains("mistyped"));
    }

    #[test]
    fn a_share_does_not_show_its_value_when_debugged() {
        let share = split(&SECRET, 2, 2).unwrap().remove(0);
        assert!(!format!("{share:?}").contains(&hex::encode(share.y.as_slice())));
    }
}
