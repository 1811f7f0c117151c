//! Notarization records as the chain's state holds them (`notary/rec/<id>`), written by the
//! notary system contract (`execution/src/notary.rs`): shared here so that whoever checks a
//! record's state proof (the CLI, the platform's certificate) decodes what the executor wrote.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash};

const RECORD_PREFIX: &[u8] = b"notary/rec/";

/// A record as the chain keeps it: what was submitted, plus who and when.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredRecord {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    pub content_hash: Hash,
    pub metadata: String,
    pub owner: Address,
    pub tx_hash: Hash,
    pub height: u64,
    pub time_ms: u64,
}

/// The state key of a record (for state proofs).
pub fn record_key(id: &str) -> Vec<u8> {
    [RECORD_PREFIX, id.as_bytes()].concat()
}
