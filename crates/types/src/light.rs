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
        let CertifiedHeader { header, certificate, next_validators } = next;
        let bad = |m: String| Err(TypesError::InvalidCertificate(m));
        let height = header.height;
        if height != self.next_height() {
            return bad(format!("header {height} where {} was next", self.next_height()));
        }
        if header.chain_id != self.chain_id {
            return bad(format!("header {height} is of chain {}", header.chain_id));
        }
        if let Some(last) = &self.last
            && header.parent_hash != last.hash(self.algo)
        {
            return bad(format!("header {height} does not follow its parent"));
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
