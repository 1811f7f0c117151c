//! Following a chain's headers from a trusted validator set, as a light client does: each
//! header's commit certificate is checked under the set that signs its height, each header
//! follows its parent, and a header that commits to another set for the next height brings that
//! set along (checked against its hash). What reaches a height this way proves that height's
//! state root, and so, with a state proof, any value of its state: no trust in the node that
//! served them. State sync follows headers this way, and `consortia sql verify` too.

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::HashAlgorithm;

use crate::{CommitCertificate, ConsensusKind, Header, TypesError, Validator, validators_hash};

/// A header with what a client following headers needs besides: its certificate, and the
/// validator set of the next height when it differs from this one's.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertifiedHeader {
    pub header: Header,
    pub certificate: CommitCertificate,
    pub next_validators: Option<Vec<Validator>>,
}

/// The headers followed so far: the last one and the set that signs the next.
#[derive(Clone, Debug)]
pub struct HeaderChain {
    algo: HashAlgorithm,
    consensus: ConsensusKind,
    chain_id: u64,
    /// The last header followed (block 0's, or none when starting from a genesis file).
    last: Option<Header>,
    /// The set that signs the next height.
    set: Vec<Validator>,
}

impl HeaderChain {
    /// Starts after `last` (block 0's header, when known), with `set` signing the next
    /// height: the genesis validators.
    pub fn new(
        algo: HashAlgorithm,
        consensus: ConsensusKind,
        chain_id: u64,
        last: Option<Header>,
        set: Vec<Validator>,
    ) -> HeaderChain {
        HeaderChain { algo, consensus, chain_id, last, set }
    }

    /// The height the next header must have.
    pub fn next_height(&self) -> u64 {
        self.last.as_ref().map_or(1, |h| h.height + 1)
    }

    /// The last header followed.
    pub fn last(&self) -> Option<&Header> {
        self.last.as_ref()
    }

    /// The validator set that signs the next height.
    pub fn next_set(&self) -> &[Validator] {
        &self.set
    }

    /// Follows `next`: it must be the next height, of this chain, after the last header,
    /// certified by the current set; then its set for the next height takes over.
    pub fn follow(&mut self, next: CertifiedHeader) -> Result<(), TypesError> {
        let height = next.header.height;
        if height != self.next_height() {
            return Err(TypesError::InvalidCertificate(format!(
                "header {height} where {} was next",
                self.next_height()
            )));
        }
        if let Some(last) = &self.last
            && next.header.parent_hash != last.hash(self.algo)
        {
            return Err(TypesError::InvalidCertificate(format!(
                "header {height} does not follow its parent"
            )));
        }
        self.accept(next)
    }

    /// Skips to `next`, any later header, certified by the current set: a light client's
    /// skipping verification, for proofs that carry only the headers where the set changed
    /// (sound while no set in between was corrupt, the assumption of every BFT light client).
    pub fn skip_to(&mut self, next: CertifiedHeader) -> Result<(), TypesError> {
        if next.header.height < self.next_height() {
            return Err(TypesError::InvalidCertificate(format!(
                "header {} is not after header {}",
                next.header.height,
                self.next_height() - 1
            )));
        }
        self.accept(next)
    }

    /// Takes `next` once its certificate checks under the current set; then its set for the
    /// next height takes over.
    fn accept(&mut self, next: CertifiedHeader) -> Result<(), TypesError> {
        let CertifiedHeader { header, certificate, next_validators } = next;
        let bad = |m: String| Err(TypesError::InvalidCertificate(m));
        let height = header.height;
        if header.chain_id != self.chain_id {
            return bad(format!("header {height} is of chain {}", header.chain_id));
        }
        certificate
            .verify(&header, self.algo, &self.set, self.consensus)
            .map_err(|e| TypesError::InvalidCertificate(format!("header {height}: {e}")))?;
        if header.next_validators_hash != validators_hash(self.algo, &self.set) {
            let Some(next) = next_validators else {
                return bad(format!("header {height} changes the set without naming it"));
            };
            if validators_hash(self.algo, &next) != header.next_validators_hash {
                return bad(format!("the validator set after header {height} is not its"));
            }
            self.set = next;
        }
        self.last = Some(header);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{Address, Hash, PrivateKey, Scheme};

    use super::*;
    use crate::{Vote, VoteKind};

    const ALGO: HashAlgorithm = HashAlgorithm::Sha256;

    struct Signers(Vec<PrivateKey>);

    impl Signers {
        fn new(n: usize) -> Signers {
            Signers((0..n).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect())
        }

        fn set(&self) -> Vec<Validator> {
            let validator = |k: &PrivateKey| Validator {
                name: String::new(),
                public_key: k.public_key(),
                power: 1,
            };
            self.0.iter().map(validator).collect()
        }

        /// Header `height` after `parent`, naming `next` as the set after it, certified by all.
        fn certify(&self, height: u64, parent: Hash, next: &[Validator]) -> CertifiedHeader {
            let header = Header {
                chain_id: 7,
                height,
                parent_hash: parent,
                time_ms: height,
                proposer: Address([2; 20]),
                tx_count: 0,
                tx_root: Hash::ZERO,
                state_root: Hash([height as u8; 32]),
                receipts_root: Hash::ZERO,
                next_validators_hash: validators_hash(ALGO, next),
            };
            let vote = Vote {
                chain_id: 7,
                height,
                round: 0,
                kind: VoteKind::Precommit,
                block_hash: Some(header.hash(ALGO)),
            };
            let signatures = self.0.iter().enumerate().map(|(i, k)| (i as u32, vote.sign(k)));
            let certificate = CommitCertificate { round: 0, signatures: signatures.collect() };
            let changes = next != self.set().as_slice();
            CertifiedHeader { header, certificate, next_validators: changes.then(|| next.to_vec()) }
        }
    }

    fn chain(genesis: &Signers) -> HeaderChain {
        HeaderChain::new(ALGO, ConsensusKind::Bft, 7, None, genesis.set())
    }

    #[test]
    fn headers_certified_by_the_genesis_set_are_followed() {
        let signers = Signers::new(4);
        let mut chain = chain(&signers);
        let first = signers.certify(1, Hash::ZERO, &signers.set());
        let parent = first.header.hash(ALGO);
        chain.follow(first).unwrap();
        chain.follow(signers.certify(2, parent, &signers.set())).unwrap();
        assert_eq!(chain.next_height(), 3);
        assert_eq!(chain.last().unwrap().state_root, Hash([2; 32]));
    }

    #[test]
    fn a_header_signed_by_another_set_is_refused() {
        let mut chain = chain(&Signers::new(4));
        let others = Signers::new(4);
        let forged = others.certify(1, Hash::ZERO, &others.set());
        assert!(chain.follow(forged).unwrap_err().to_string().contains("header 1"));
    }

    #[test]
    fn a_header_out_of_order_of_another_chain_or_parent_is_refused() {
        let signers = Signers::new(4);
        let mut chain = chain(&signers);
        assert!(chain.follow(signers.certify(2, Hash::ZERO, &signers.set())).is_err());
        let mut other_chain = signers.certify(1, Hash::ZERO, &signers.set());
        other_chain.header.chain_id = 8;
        assert!(chain.follow(other_chain).is_err());
        chain.follow(signers.certify(1, Hash::ZERO, &signers.set())).unwrap();
        let orphan = signers.certify(2, Hash([9; 32]), &signers.set());
        assert!(chain.follow(orphan).unwrap_err().to_string().contains("parent"));
    }

    #[test]
    fn a_new_set_takes_over_only_with_the_set_its_header_names() {
        let old = Signers::new(4);
        let new = Signers::new(4);
        let mut chain = chain(&old);
        let mut hidden = old.certify(1, Hash::ZERO, &new.set());
        hidden.next_validators = None;
        assert!(chain.follow(hidden).unwrap_err().to_string().contains("without naming"));
        let mut swapped = old.certify(1, Hash::ZERO, &new.set());
        swapped.next_validators = Some(Signers::new(4).set());
        assert!(chain.follow(swapped).unwrap_err().to_string().contains("not its"));
        let handover = old.certify(1, Hash::ZERO, &new.set());
        let parent = handover.header.hash(ALGO);
        chain.follow(handover).unwrap();
        assert!(chain.follow(old.certify(2, parent, &old.set())).is_err(), "the old set is done");
        chain.follow(new.certify(2, parent, &new.set())).unwrap();
    }

    #[test]
    fn skipping_takes_only_the_set_change_headers_and_refuses_going_back() {
        let old = Signers::new(4);
        let new = Signers::new(4);
        let mut chain = chain(&old);
        // Headers 1 to 4 are left out; header 5 hands over to the new set, which signs 9.
        chain.skip_to(old.certify(5, Hash([1; 32]), &new.set())).unwrap();
        assert!(
            chain.skip_to(old.certify(9, Hash::ZERO, &old.set())).is_err(),
            "the old set is done"
        );
        chain.skip_to(new.certify(9, Hash::ZERO, &new.set())).unwrap();
        assert_eq!(chain.last().unwrap().height, 9);
        let back = chain.skip_to(new.certify(7, Hash::ZERO, &new.set())).unwrap_err();
        assert!(back.to_string().contains("not after header 9"), "{back}");
    }
}
