use consortia_crypto::{Hash, Suite};
use jmt::proof::SparseMerkleProof;
use jmt::{KeyHash, RootHash, SimpleHasher};

use crate::{Result, StorageError};

/// A state value at some height, with its Merkle proof (borsh-encoded `jmt` sparse Merkle
/// proof). `value == None` comes with a proof of absence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateProof {
    pub height: u64,
    pub state_root: Hash,
    pub value: Option<Vec<u8>>,
    pub proof: Vec<u8>,
}

/// Checks that `value` (or its absence) is what the state with root `root` holds for `key`.
/// Clients run this against a state root taken from a certified block header.
pub fn verify_state_proof(
    suite: Suite,
    root: Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<()> {
    fn run<H: SimpleHasher>(
        root: Hash,
        key: &[u8],
        value: Option<&[u8]>,
        proof: &[u8],
    ) -> Result<()> {
        let proof: SparseMerkleProof<H> = borsh::from_slice(proof)
            .map_err(|e| StorageError::InvalidProof(format!("undecodable: {e}")))?;
        proof
            .verify(RootHash(root.0), KeyHash::with::<H>(key), value)
            .map_err(|e| StorageError::InvalidProof(e.to_string()))
    }
    match suite {
        Suite::Standard => run::<sha2::Sha256>(root, key, value, proof),
        Suite::Sm => run::<sm3::Sm3>(root, key, value, proof),
    }
}
