use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, PublicKey, Signature};

use crate::{TypesError, encode};

/// Domain separation for transaction signatures: a signed transaction can never be replayed
/// as a vote or any other signed object.
const TX_SIGNING_DOMAIN: &[u8] = b"consortia/tx/v1\0";

/// What a transaction asks the chain to do.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Payload {
    /// Write a notarization record (see the notary system contract in `consortia-execution`).
    Notarize(NotarizeRecord),
}

/// A notarization record: who notarized what (by content hash), under an id chosen by the
/// client, with searchable key fields and free metadata. Write-once per id.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NotarizeRecord {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    pub content_hash: Hash,
    pub metadata: String,
}

/// Size limits of a notarization record, checked statelessly at admission.
#[derive(Clone, Copy, Debug)]
pub struct NotaryLimits {
    pub max_id_len: usize,
    pub max_fields: usize,
    pub max_field_key_len: usize,
    pub max_field_value_len: usize,
    pub max_metadata_len: usize,
}

pub const NOTARY_LIMITS: NotaryLimits = NotaryLimits {
    max_id_len: 128,
    max_fields: 32,
    max_field_key_len: 64,
    max_field_value_len: 1024,
    max_metadata_len: 64 * 1024,
};

impl NotarizeRecord {
    fn check(&self) -> Result<(), TypesError> {
        let l = NOTARY_LIMITS;
        let bad = |m: String| Err(TypesError::InvalidPayload(m));
        if self.id.is_empty() || self.id.len() > l.max_id_len {
            return bad(format!("record id must be 1 to {} bytes", l.max_id_len));
        }
        if self.id.chars().any(char::is_control) {
            return bad("record id must not contain control characters".into());
        }
        if self.fields.len() > l.max_fields {
            return bad(format!("at most {} fields", l.max_fields));
        }
        for (k, v) in &self.fields {
            if k.is_empty() || k.len() > l.max_field_key_len {
                return bad(format!("field names must be 1 to {} bytes", l.max_field_key_len));
            }
            if v.len() > l.max_field_value_len {
                return bad(format!("field `{k}` is over {} bytes", l.max_field_value_len));
            }
        }
        if self.metadata.len() > l.max_metadata_len {
            return bad(format!("metadata is over {} bytes", l.max_metadata_len));
        }
        Ok(())
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBody {
    /// Binds the transaction to one chain (no cross-chain replay).
    pub chain_id: u64,
    /// The sender's sequence number: exactly one transaction per nonce is ever committed.
    pub nonce: u64,
    /// The sender's key; its scheme tag says how to verify `signature`.
    pub public_key: PublicKey,
    pub payload: Payload,
}

/// A signed transaction envelope.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    pub body: TxBody,
    pub signature: Signature,
}

impl Transaction {
    /// The bytes a sender signs: a domain tag, then the canonical body.
    pub fn signing_bytes(body: &TxBody) -> Vec<u8> {
        let mut out = TX_SIGNING_DOMAIN.to_vec();
        body.serialize(&mut out).expect("writing into a Vec cannot fail");
        out
    }

    pub fn sign(body: TxBody, key: &PrivateKey) -> Self {
        let signature = key.sign(&Self::signing_bytes(&body));
        Transaction { body, signature }
    }

    /// The transaction's id: the chain's hash of its whole canonical encoding.
    pub fn hash(&self, algo: HashAlgorithm) -> Hash {
        algo.digest(&encode(self))
    }

    pub fn sender(&self) -> Address {
        self.body.public_key.address()
    }

    /// Decodes wire bytes, refusing anything over `max_bytes` before looking inside.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Self, TypesError> {
        if bytes.len() > max_bytes {
            return Err(TypesError::TooLarge { size: bytes.len(), limit: max_bytes });
        }
        crate::decode(bytes)
    }

    /// Every check that needs no state except the signature: chain id and payload limits.
    /// Signatures are checked separately (in batches) by the mempool.
    pub fn check_stateless(&self, chain_id: u64) -> Result<(), TypesError> {
        if self.body.chain_id != chain_id {
            return Err(TypesError::WrongChain { expected: chain_id, got: self.body.chain_id });
        }
        match &self.body.payload {
            Payload::Notarize(record) => record.check(),
        }
    }

    pub fn verify_signature(&self) -> Result<(), TypesError> {
        Ok(self.body.public_key.verify(&Self::signing_bytes(&self.body), &self.signature)?)
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::Scheme;
    use proptest::prelude::*;

    use super::*;

    fn sample(key: &PrivateKey) -> Transaction {
        Transaction::sign(
            TxBody {
                chain_id: 7,
                nonce: 0,
                public_key: key.public_key(),
                payload: Payload::Notarize(NotarizeRecord {
                    id: "doc-1".into(),
                    fields: BTreeMap::from([("owner".into(), "acme".into())]),
                    content_hash: HashAlgorithm::Sha256.digest(b"contract.pdf"),
                    metadata: "{}".into(),
                }),
            },
            key,
        )
    }

    #[test]
    fn round_trip_and_checks() {
        for scheme in Scheme::ALL {
            let key = PrivateKey::generate(scheme);
            let tx = sample(&key);
            let bytes = encode(&tx);
            let back = Transaction::decode(&bytes, 1 << 20).unwrap();
            assert_eq!(back, tx);
            back.verify_signature().unwrap();
            back.check_stateless(7).unwrap();
            assert_eq!(
                back.check_stateless(8),
                Err(TypesError::WrongChain { expected: 8, got: 7 })
            );
        }
    }

    #[test]
    fn refuses_oversized_trailing_and_tampered() {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let tx = sample(&key);
        let mut bytes = encode(&tx);
        assert!(matches!(Transaction::decode(&bytes, 10), Err(TypesError::TooLarge { .. })));
        bytes.push(0);
        assert!(matches!(Transaction::decode(&bytes, 1 << 20), Err(TypesError::Decode(_))));
        let mut forged = tx.clone();
        forged.body.nonce = 1;
        assert!(forged.verify_signature().is_err());
    }

    #[test]
    fn payload_limits() {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let mut tx = sample(&key);
        let Payload::Notarize(record) = &mut tx.body.payload;
        record.id = String::new();
        assert!(matches!(tx.check_stateless(7), Err(TypesError::InvalidPayload(_))));
        let Payload::Notarize(record) = &mut tx.body.payload;
        record.id = "x".repeat(129);
        assert!(matches!(tx.check_stateless(7), Err(TypesError::InvalidPayload(_))));
        let Payload::Notarize(record) = &mut tx.body.payload;
        record.id = "ok".into();
        record.fields = (0..33).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(matches!(tx.check_stateless(7), Err(TypesError::InvalidPayload(_))));
    }

    proptest! {
        // The decoder never panics on arbitrary bytes, and whatever it accepts re-encodes to
        // exactly the same bytes (the encoding is canonical).
        #[test]
        fn decoder_total_and_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(tx) = Transaction::decode(&bytes, 1 << 20) {
                prop_assert_eq!(encode(&tx), bytes);
            }
        }

        // Mutating any byte of a valid transaction either fails to decode or fails to verify
        // (or, if the flipped byte is in the content, changes the hash).
        #[test]
        fn mutations_are_caught(pos in 0usize..400, bit in 0u8..8) {
            let key = PrivateKey::from_secret_bytes(Scheme::Ed25519, &[3; 32]).unwrap();
            let tx = sample(&key);
            let mut bytes = encode(&tx);
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            if let Ok(mutated) = Transaction::decode(&bytes, 1 << 20) {
                prop_assert!(mutated.verify_signature().is_err());
            }
        }
    }
}
