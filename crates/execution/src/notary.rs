//! The notarization system contract: write-once records, found by id or by content hash.
//!
//! State layout: `notary/rec/<id>` → [`StoredRecord`], in the authenticated state (provable
//! with a state proof). Each record emits a `Notarized` event whose second topic is the content
//! hash; the store's log-topic index finds records by content hash, so that derived index costs
//! no state writes.
//!
//! Two doors lead in: native `Notarize` transactions, and EVM calls to [`ADDRESS`] with the
//! Solidity ABI of `contracts/system/INotary.sol` ([`INotary`]), from any contract or web3
//! client. Both write the same records and emit the same event.
//!
//! An EVM call is a precompile ([`Precompile`]); its records are [`JournaledWrites`], so a
//! record made in a call that later reverts is not kept.

use alloy_sol_types::{SolCall, SolEvent};
use consortia_crypto::{Address, Hash};
use consortia_storage::{LogReader, StateReader, TxReader};
use consortia_types::{Event, NotarizeRecord, Receipt, ReceiptStatus, encode};
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::{CallInputs, Gas, InterpreterResult};
use revm::primitives::{B256, Log};
use std::collections::BTreeMap;

use crate::system::{
    JournaledWrites, StateSource, done, open_call, out_of_gas, revert, unknown_selector,
};
use crate::{BlockContext, ExecutionError, Overlay, decode_state, failed};

alloy_sol_types::sol!("../../contracts/system/INotary.sol");

/// The contract's reserved address; its events carry it.
pub const ADDRESS: Address = consortia_types::NOTARY_ADDRESS;

/// Fixed step cost of one notarization plus a cost per byte stored.
const BASE_STEPS: u64 = 20_000;
const STEPS_PER_BYTE: u64 = 16;
/// Gas of `getRecord`: a cold storage read plus a copy cost per word returned.
const READ_GAS: u64 = 2_100;
const READ_GAS_PER_WORD: u64 = 3;

pub use consortia_types::notary::{StoredRecord, record_key};

/// Topic 0 of the `Notarized(string id, bytes32 indexed contentHash, address owner)` event.
pub fn notarized_topic() -> Hash {
    Hash(INotary::Notarized::SIGNATURE_HASH.0)
}

/// The `Notarized` event of a record, ABI-encoded as Solidity emits it.
fn notarized_event(record: &StoredRecord) -> Event {
    let log = INotary::Notarized {
        id: record.id.clone(),
        contentHash: B256::from(record.content_hash.0),
        owner: record.owner.0.into(),
    }
    .encode_log_data();
    Event {
        contract: ADDRESS,
        topics: log.topics().iter().map(|t| Hash(t.0)).collect(),
        data: log.data.to_vec(),
    }
}

/// The id a `Notarized` event names.
fn notarized_id(event: &Event) -> Option<String> {
    let (id, _owner) = INotary::Notarized::abi_decode_data(&event.data).ok()?;
    Some(id)
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
    let steps = write_steps(&bytes);
    let event = notarized_event(&stored);
    overlay.put(key, bytes);
    Ok(Receipt {
        status: ReceiptStatus::Success,
        steps_used: steps,
        events: vec![event],
        output: record.id.as_bytes().to_vec(),
    })
}

fn write_steps(stored: &[u8]) -> u64 {
    BASE_STEPS + STEPS_PER_BYTE * stored.len() as u64
}

/// The committed record with this id.
pub fn get_record<S: StateReader + ?Sized>(
    state: &S,
    id: &str,
) -> Result<Option<StoredRecord>, ExecutionError> {
    state
        .get(&record_key(id))?
        .map(|bytes| decode_state(format!("notary record `{id}`"), &bytes))
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
            ids.extend(notarized_id(event));
        }
    }
    Ok(ids)
}

/// The notary as an EVM precompile, for one transaction (see the module docs).
#[derive(Debug)]
pub(crate) struct Precompile {
    height: u64,
    time_ms: u64,
    tx_hash: Hash,
    /// Records notarized by this transaction.
    writes: JournaledWrites,
}

impl Precompile {
    pub(crate) fn new(ctx: &BlockContext, tx_hash: Hash) -> Self {
        Precompile {
            height: ctx.height,
            time_ms: ctx.time_ms,
            tx_hash,
            writes: JournaledWrites::new(ADDRESS),
        }
    }

    /// Runs a call to [`ADDRESS`]. `Err` is a storage failure, never the caller's mistake:
    /// those revert with an `Error(string)` reason.
    pub(crate) fn run<CTX>(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<InterpreterResult, ExecutionError>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let gas = Gas::new(inputs.gas_limit);
        let (selector, input) = match open_call(context, inputs, ADDRESS, "notary") {
            Ok(call) => call,
            Err(refused) => return Ok(refused),
        };
        let malformed = |name: &str| format!("notary: malformed arguments for {name}");
        match selector {
            INotary::notarizeCall::SELECTOR => match INotary::notarizeCall::abi_decode(&input) {
                Ok(call) => {
                    let record = NotarizeRecord {
                        id: call.id,
                        fields: BTreeMap::new(),
                        content_hash: Hash(call.contentHash.0),
                        metadata: call.metadata,
                    };
                    self.notarize(context, inputs, record, gas)
                }
                Err(_) => Ok(revert(gas, malformed("notarize"))),
            },
            INotary::notarizeWithFieldsCall::SELECTOR => {
                let Ok(call) = INotary::notarizeWithFieldsCall::abi_decode(&input) else {
                    return Ok(revert(gas, malformed("notarizeWithFields")));
                };
                if call.fieldNames.len() != call.fieldValues.len() {
                    return Ok(revert(gas, "notary: fieldNames and fieldValues differ in length"));
                }
                let count = call.fieldNames.len();
                let fields: BTreeMap<String, String> =
                    call.fieldNames.into_iter().zip(call.fieldValues).collect();
                if fields.len() != count {
                    return Ok(revert(gas, "notary: field names must be unique"));
                }
                let record = NotarizeRecord {
                    id: call.id,
                    fields,
                    content_hash: Hash(call.contentHash.0),
                    metadata: call.metadata,
                };
                self.notarize(context, inputs, record, gas)
            }
            INotary::getRecordCall::SELECTOR => match INotary::getRecordCall::abi_decode(&input) {
                Ok(call) => self.get_record(context, &call.id, gas),
                Err(_) => Ok(revert(gas, malformed("getRecord"))),
            },
            other => Ok(unknown_selector(gas, "notary", other)),
        }
    }

    /// The record with `id` as this transaction sees it: its own pending records first.
    fn lookup<CTX>(
        &self,
        context: &mut CTX,
        id: &str,
    ) -> Result<Option<StoredRecord>, ExecutionError>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        self.writes
            .get(context, &record_key(id))?
            .map(|bytes| decode_state(format!("notary record `{id}`"), &bytes))
            .transpose()
    }

    fn notarize<CTX>(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
        record: NotarizeRecord,
        mut gas: Gas,
    ) -> Result<InterpreterResult, ExecutionError>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        if inputs.is_static {
            return Ok(revert(
                gas,
                "notary: notarize writes state; it cannot run in a view (static) call",
            ));
        }
        if let Err(e) = record.check() {
            return Ok(revert(gas, format!("notary: {e}")));
        }
        if !gas.record_regular_cost(READ_GAS) {
            return Ok(out_of_gas(gas));
        }
        if self.lookup(context, &record.id)?.is_some() {
            return Ok(revert(
                gas,
                format!(
                    "notary: a record with id `{}` already exists; ids are write-once",
                    record.id
                ),
            ));
        }
        let stored = StoredRecord {
            id: record.id,
            fields: record.fields,
            content_hash: record.content_hash,
            metadata: record.metadata,
            owner: crate::evm::from_revm(inputs.caller),
            tx_hash: self.tx_hash,
            height: self.height,
            time_ms: self.time_ms,
        };
        if !gas.record_regular_cost(write_steps(&encode(&stored)).saturating_sub(READ_GAS)) {
            return Ok(out_of_gas(gas));
        }
        let event = notarized_event(&stored);
        self.writes.put(context, record_key(&stored.id), Some(encode(&stored)))?;
        context.journal_mut().log(Log::new_unchecked(
            crate::evm::to_revm(ADDRESS),
            event.topics.iter().map(|t| B256::from(t.0)).collect(),
            event.data.into(),
        ));
        Ok(done(gas, INotary::notarizeCall::abi_encode_returns(&true)))
    }

    fn get_record<CTX>(
        &mut self,
        context: &mut CTX,
        id: &str,
        mut gas: Gas,
    ) -> Result<InterpreterResult, ExecutionError>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        if !gas.record_regular_cost(READ_GAS) {
            return Ok(out_of_gas(gas));
        }
        let found = self.lookup(context, id)?;
        let out = match found {
            Some(r) => {
                let (names, values) = r.fields.into_iter().unzip();
                INotary::getRecordReturn {
                    exists: true,
                    contentHash: B256::from(r.content_hash.0),
                    owner: r.owner.0.into(),
                    height: r.height,
                    timeMs: r.time_ms,
                    txHash: B256::from(r.tx_hash.0),
                    metadata: r.metadata,
                    fieldNames: names,
                    fieldValues: values,
                }
            }
            None => INotary::getRecordReturn {
                exists: false,
                contentHash: B256::ZERO,
                owner: Default::default(),
                height: 0,
                timeMs: 0,
                txHash: B256::ZERO,
                metadata: String::new(),
                fieldNames: vec![],
                fieldValues: vec![],
            },
        };
        let encoded = INotary::getRecordCall::abi_encode_returns(&out);
        if !gas.record_regular_cost(READ_GAS_PER_WORD * encoded.len().div_ceil(32) as u64) {
            return Ok(out_of_gas(gas));
        }
        Ok(done(gas, encoded))
    }

    /// Ends the transaction: the state writes of the records kept (see [`JournaledWrites`]).
    pub(crate) fn finish(
        &mut self,
        changes: &mut revm::primitives::AddressMap<revm::state::Account>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes.finish(changes)
    }
}
