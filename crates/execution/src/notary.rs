//! The notarization system contract: write-once records, found by id or by content hash.
//!
//! State layout: `notary/rec/<id>` → [`StoredRecord`], in the authenticated state (provable
//! with a state proof). Each record emits a `Notarized` event whose second topic is the content
//! hash; the store's log-topic index finds records by content hash, so that derived index costs
//! no state writes.

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash, keccak256};
use consortia_storage::{LogReader, StateReader, TxReader};
use consortia_types::{Event, NotarizeRecord, Receipt, ReceiptStatus, decode, encode};
use std::collections::BTreeMap;

use crate::{BlockContext, ExecutionError, Overlay, failed};

/// The contract's reserved address; its events carry it.
pub const ADDRESS: Address =
    Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01]);

/// Fixed step cost of one notarization plus a cost per byte stored.
const BASE_STEPS: u64 = 20_000;
const STEPS_PER_BYTE: u64 = 16;

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

/// Topic 0 of the `Notarized(string id, bytes32 contentHash, address owner)` event.
pub fn notarized_topic() -> Hash {
    keccak256(b"Notarized(string,bytes32,address)")
}

/// The state key of a record (for state proofs).
pub fn record_key(id: &str) -> Vec<u8> {
    [RECORD_PREFIX, id.as_bytes()].concat()
}

pub(crate) fn notarize<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    owner: Address,
    tx_hash: Hash,
    record: &NotarizeRecord,
) -> Result<Receipt, ExecutionError> {
    let key = record_key(&record.id);
    if overlay.get(&key)?.is_some() {
        return Ok(failed(
            "notary_id_taken",
            format!("a record with id `{}` already exists; ids are write-once", record.id),
            BASE_STEPS,
        ));
    }
    let stored = StoredRecord {
        id: record.id.clone(),
        fields: record.fields.clone(),
        content_hash: record.content_hash,
        metadata: record.metadata.clone(),
        owner,
        tx_hash,
        height: ctx.height,
        time_ms: ctx.time_ms,
    };
    let bytes = encode(&stored);
    let steps = BASE_STEPS + STEPS_PER_BYTE * bytes.len() as u64;
    overlay.put(key, bytes);
    Ok(Receipt {
        status: ReceiptStatus::Success,
        steps_used: steps,
        events: vec![Event {
            contract: ADDRESS,
            topics: vec![notarized_topic(), record.content_hash],
            data: record.id.as_bytes().to_vec(),
        }],
        output: record.id.as_bytes().to_vec(),
    })
}

/// The committed record with this id.
pub fn get_record<S: StateReader + ?Sized>(
    state: &S,
    id: &str,
) -> Result<Option<StoredRecord>, ExecutionError> {
    state
        .get(&record_key(id))?
        .map(|bytes| {
            decode(&bytes).map_err(|e| ExecutionError::CorruptState {
                key: format!("notary record `{id}`"),
                detail: e.to_string(),
            })
        })
        .transpose()
}

/// Ids of committed records with this content hash, oldest first, at most `limit`.
pub fn find_by_hash<S: LogReader + TxReader + ?Sized>(
    store: &S,
    content_hash: &Hash,
    limit: usize,
) -> Result<Vec<String>, ExecutionError> {
    let mut ids = Vec::new();
    // The content hash may be a topic of other contracts' events too: those are skipped (and
    // count against `limit`, which bounds the work of one query).
    for at in store.logs_by_topic(content_hash, limit)? {
        let Some(receipt) = store.receipt_at(at.height, at.position)? else { continue };
        let Some(event) = receipt.events.get(usize::from(at.event)) else { continue };
        if event.contract == ADDRESS && event.topics.first() == Some(&notarized_topic()) {
            ids.push(String::from_utf8_lossy(&event.data).into_owned());
        }
    }
    Ok(ids)
}
