//! A notarization's proof bundle: what it takes to check, offline and trusting no server, that
//! a record is in a chain's certified state.
//!
//! Trust starts at the chain's genesis validator set. Then come certified headers in ascending
//! height: each one after which the validator set changed (it names the next set, and its
//! certificate is signed by the set in force), and last the header whose state root proves the
//! record (a `jmt` proof of `notary/rec/<id>`). A light client skipping the headers between
//! set changes is safe as long as no validator set in between was corrupt: the same assumption
//! every BFT light client makes.
//!
//! [`verify_bundle`] runs the check; `consortia notary verify BUNDLE [--genesis FILE]` runs it on
//! a user's machine (pass the genesis to anchor the set; a bundle alone only proves itself
//! consistent with the set it names).

use consortia_crypto::{Hash, Suite};
use consortia_types::notary::{StoredRecord, record_key};
use consortia_types::{
    CertifiedHeader, ConsensusKind, HeaderChain, Validator, decode, validators_hash,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::node::{CertifiedHeaderView, RecordView, StateProofView};
use crate::proof::{ProofError, verify_state};

/// The bundle format this build writes and reads.
pub const FORMAT: &str = "consortia-notary-proof/1";

/// A record with its state proof and the certified headers that lead to it from the genesis.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotaryBundle {
    /// [`FORMAT`].
    pub format: String,
    pub chain_id: u64,
    /// `standard` or `sm`: the chain's hash and signature suite.
    #[schema(value_type = String)]
    pub suite: Suite,
    /// `bft`, `raft` or `solo`: how certificates are checked.
    #[schema(value_type = String)]
    pub consensus: ConsensusKind,
    /// The genesis validator set, where trust starts.
    #[schema(value_type = Vec<Object>)]
    pub genesis_validators: Vec<Validator>,
    /// The record as the node shows it (checked against the proven state entry).
    pub record: RecordView,
    /// The record's state entry, proven in the state of the last header.
    pub state_proof: StateProofView,
    /// Ascending: every header after which the validator set changed, then the header whose
    /// state root proves the record.
    pub headers: Vec<CertifiedHeaderView>,
}

/// What a bundle proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRecord {
    pub record: StoredRecord,
    /// The certified block whose state holds the record.
    pub height: u64,
    pub state_root: Hash,
    /// The validator set that certified that block.
    pub validators: Vec<Validator>,
    /// How many times the validator set changed since the genesis.
    pub set_changes: usize,
}

/// Checks `bundle`: each header certified by the set in force, the last header's state root
/// proving the record's entry, and the record shown being the one proven. With `genesis`, the
/// bundle's starting set must be that genesis' validators.
pub fn verify_bundle(
    bundle: &NotaryBundle,
    genesis: Option<&[Validator]>,
) -> Result<VerifiedRecord, ProofError> {
    let invalid = |what: &str, detail: String| ProofError::Invalid { what: what.into(), detail };
    let uncertified =
        |what: &str, detail: String| ProofError::Uncertified { what: what.into(), detail };
    if bundle.format != FORMAT {
        return Err(ProofError::Malformed(format!(
            "format `{}`; this build reads `{FORMAT}`",
            bundle.format
        )));
    }
    if genesis.is_some_and(|g| g != bundle.genesis_validators) {
        return Err(uncertified(
            "the genesis validator set",
            "the bundle starts from another set than the genesis given".into(),
        ));
    }
    let algo = bundle.suite.hash();
    let mut chain = HeaderChain::new(
        algo,
        bundle.consensus,
        bundle.chain_id,
        None,
        bundle.genesis_validators.clone(),
    );
    let (mut set_changes, mut signing) = (0, vec![]);
    for view in &bundle.headers {
        let bytes = hex::decode(view.encoded.trim_start_matches("0x"))
            .map_err(|e| ProofError::Malformed(format!("header {}: {e}", view.height)))?;
        let header: CertifiedHeader = decode(&bytes)
            .map_err(|e| ProofError::Malformed(format!("header {}: {e}", view.height)))?;
        signing = chain.next_set().to_vec();
        let set = validators_hash(algo, &signing);
        chain
            .skip_to(header)
            .map_err(|e| uncertified(&format!("header {}", view.height), e.to_string()))?;
        set_changes += usize::from(validators_hash(algo, chain.next_set()) != set);
    }
    let last = chain.last().cloned();
    let header = last.ok_or_else(|| ProofError::Malformed("the bundle has no header".into()))?;
    if bundle.state_proof.height != header.height {
        return Err(invalid(
            "the state proof",
            format!("it is of block {}, not {}", bundle.state_proof.height, header.height),
        ));
    }
    let key = format!("0x{}", hex::encode(record_key(&bundle.record.id)));
    if !bundle.state_proof.key.eq_ignore_ascii_case(&key) {
        return Err(invalid("the state proof", format!("it proves another key than {key}")));
    }
    let value = verify_state(&bundle.state_proof, bundle.suite, header.state_root)?
        .ok_or_else(|| invalid("the record", "the proof shows it absent".into()))?;
    let record: StoredRecord =
        decode(&value).map_err(|e| ProofError::Malformed(format!("the record's entry: {e}")))?;
    if RecordView::from(record.clone()) != bundle.record {
        return Err(invalid(
            "the record",
            "the bundle shows another record than the proven one".into(),
        ));
    }
    Ok(VerifiedRecord {
        record,
        height: header.height,
        state_root: header.state_root,
        validators: signing,
        set_changes,
    })
}

/// A bundle from a file's bytes: its JSON, or the `proof.json` a certificate PDF carries
/// attached (stored as is, so its JSON is found in the file).
pub fn bundle_from_bytes(bytes: &[u8]) -> Result<NotaryBundle, ProofError> {
    let start = if bytes.starts_with(b"%PDF") {
        let marker = FORMAT.as_bytes();
        let at = bytes.windows(marker.len()).position(|w| w == marker).ok_or_else(|| {
            ProofError::Malformed("the PDF carries no Consortia proof bundle".into())
        })?;
        bytes[..at]
            .iter()
            .rposition(|b| *b == b'{')
            .ok_or_else(|| ProofError::Malformed("the PDF's proof bundle is cut".into()))?
    } else {
        0
    };
    let mut values =
        serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<NotaryBundle>();
    match values.next() {
        Some(Ok(bundle)) => Ok(bundle),
        Some(Err(e)) => Err(ProofError::Malformed(format!("not a proof bundle: {e}"))),
        None => Err(ProofError::Malformed("the file is empty".into())),
    }
}
