use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, Signature};

use crate::{ConsensusKind, Height, Transaction, TypesError, Validator, encode};

const VOTE_SIGNING_DOMAIN: &[u8] = b"consortia/vote/v1\0";

/// A block header. Its hash (the chain's hash of its encoding) is the block's id; the commit
/// certificate is kept beside the header, not inside it, since it signs the header's hash.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Header {
    pub chain_id: u64,
    pub height: Height,
    pub parent_hash: Hash,
    /// Milliseconds since the Unix epoch, never less than the parent's.
    pub time_ms: u64,
    /// Address of the validator that proposed the block.
    pub proposer: Address,
    pub tx_count: u32,
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
    /// Root of the authenticated state after executing this block.
    pub state_root: Hash,
    /// Merkle root of the receipts' hashes, in block order.
    pub receipts_root: Hash,
    /// [`validators_hash`] of the validator set of the next block (height + 1), so that block
    /// sync and light clients follow validator-set changes from header to header (CometBFT's
    /// `NextValidatorsHash`). A set decided by block h signs from block h + 2 on: when block
    /// h + 1 is built, the set of h + 2 is known.
    pub next_validators_hash: Hash,
}

impl Header {
    pub fn hash(&self, algo: HashAlgorithm) -> Hash {
        algo.digest(&encode(self))
    }
}

/// The hash a header commits to for a validator set: the chain's hash of the set's canonical
/// encoding (keys, powers and names, in set order: a certificate's indexes refer to that order).
pub fn validators_hash(algo: HashAlgorithm, validators: &[Validator]) -> Hash {
    algo.digest(&encode(&validators.to_vec()))
}

/// A block: header, transactions, and the certificate that committed it (absent only for the
/// genesis block, which every node builds itself from the genesis file).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<Transaction>,
    pub certificate: Option<CommitCertificate>,
}

/// Which step of a round a vote belongs to. Solo consensus only precommits; the BFT engine
/// adds prevotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum VoteKind {
    Prevote = 0,
    Precommit = 1,
}

/// What a validator signs when it votes. `block_hash == None` is a vote for nil.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub chain_id: u64,
    pub height: Height,
    pub round: u32,
    pub kind: VoteKind,
    pub block_hash: Option<Hash>,
}

impl Vote {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = VOTE_SIGNING_DOMAIN.to_vec();
        self.serialize(&mut out).expect("writing into a Vec cannot fail");
        out
    }

    pub fn sign(&self, key: &PrivateKey) -> Signature {
        key.sign(&self.signing_bytes())
    }
}

/// Precommit signatures of a quorum of the voting power for one block hash: more than two
/// thirds under BFT, more than half under Raft.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitCertificate {
    pub round: u32,
    /// (index into the validator set, signature), sorted by index, no repeats.
    pub signatures: Vec<(u32, Signature)>,
}

impl CommitCertificate {
    /// Checks that the certificate commits `header` under `validators`: distinct known signers,
    /// each signature valid, and their power a quorum of the total for `consensus`.
    pub fn verify(
        &self,
        header: &Header,
        algo: HashAlgorithm,
        validators: &[Validator],
        consensus: ConsensusKind,
    ) -> Result<(), TypesError> {
        let bad = |m: String| Err(TypesError::InvalidCertificate(m));
        let vote = Vote {
            chain_id: header.chain_id,
            height: header.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block_hash: Some(header.hash(algo)),
        };
        let message = vote.signing_bytes();
        let total: u128 = validators.iter().map(|v| u128::from(v.power)).sum();
        let mut seen = BTreeSet::new();
        let mut power: u128 = 0;
        for (index, signature) in &self.signatures {
            let Some(validator) = validators.get(*index as usize) else {
                return bad(format!("signer index {index} is not a validator"));
            };
            if !seen.insert(*index) {
                return bad(format!("validator {index} signed twice"));
            }
            if validator.public_key.verify(&message, signature).is_err() {
                return bad(format!("signature of validator {index} does not verify"));
            }
            power += u128::from(validator.power);
        }
        if !consensus.is_quorum(power, total) {
            let need = if consensus == ConsensusKind::Raft { "1/2" } else { "2/3" };
            return bad(format!(
                "signers hold {power} of {total} voting power, need more than {need}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::Scheme;

    use super::*;

    fn header() -> Header {
        Header {
            chain_id: 1,
            height: 5,
            parent_hash: Hash([1; 32]),
            time_ms: 1,
            proposer: Address([2; 20]),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        }
    }

    #[test]
    fn certificate_needs_two_thirds_of_distinct_valid_signers() {
        let algo = HashAlgorithm::Sha256;
        let keys: Vec<PrivateKey> = (0..4).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
        let validators: Vec<Validator> = keys
            .iter()
            .map(|k| Validator { name: String::new(), public_key: k.public_key(), power: 1 })
            .collect();
        let h = header();
        let vote = Vote {
            chain_id: 1,
            height: 5,
            round: 0,
            kind: VoteKind::Precommit,
            block_hash: Some(h.hash(algo)),
        };
        let sig = |i: usize| (i as u32, vote.sign(&keys[i]));
        let cert = |sigs: Vec<(u32, Signature)>| CommitCertificate { round: 0, signatures: sigs };
        cert(vec![sig(0), sig(1), sig(2)])
            .verify(&h, algo, &validators, ConsensusKind::Bft)
            .unwrap();
        assert!(
            cert(vec![sig(0), sig(1)]).verify(&h, algo, &validators, ConsensusKind::Bft).is_err()
        );
        assert!(
            cert(vec![sig(0), sig(1), sig(1)])
                .verify(&h, algo, &validators, ConsensusKind::Bft)
                .is_err()
        );
        assert!(
            cert(vec![sig(0), sig(1), (9, sig(2).1)])
                .verify(&h, algo, &validators, ConsensusKind::Bft)
                .is_err()
        );
        // A signature by validator 2 presented as validator 3's.
        assert!(
            cert(vec![sig(0), sig(1), (3, sig(2).1)])
                .verify(&h, algo, &validators, ConsensusKind::Bft)
                .is_err()
        );
        // Under Raft, a majority is enough: 3 of 4 is, 2 of 4 is not.
        let raft = ConsensusKind::Raft;
        cert(vec![sig(0), sig(1), sig(2)]).verify(&h, algo, &validators, raft).unwrap();
        assert!(cert(vec![sig(0), sig(1)]).verify(&h, algo, &validators, raft).is_err());
        // Valid signatures, but for another header.
        let mut other = h.clone();
        other.height = 6;
        assert!(
            cert(vec![sig(0), sig(1), sig(2)])
                .verify(&other, algo, &validators, ConsensusKind::Bft)
                .is_err()
        );
    }
}
