//! The ledger tables system contract (TrustSQL): append-only tables whose every row is in the
//! authenticated state, with the key of its signer, its transaction and its height.
//!
//! State layout (each provable with a state proof):
//! - `sql/tables` → the tables' names (`Vec<String>`), in the order they were created;
//! - `sql/table/<name>` → [`StoredTable`] (the schema, who created it, when);
//! - `sql/count/<name>` → how many rows the table has (`u64`), once it has one;
//! - `sql/seq/<name>` → the next `AUTO_INCREMENT` number (`u64`), once one was given;
//! - `sql/row/<name>` 0x00 `<primary key>` → [`StoredRow`], the key being the canonical
//!   encoding of the row's primary key values ([`TableSchema::key_of`]). Names hold no 0x00,
//!   so one table's rows never share a prefix with another's.
//!
//! One door: EVM calls to [`ADDRESS`] with the ABI of `contracts/system/ILedger.sol`
//! ([`ILedger`]), from an Ethereum transaction (the SQL gateway signs with the user's managed
//! key) or a native envelope's EVM call (the SDK). Writes are [`JournaledWrites`], so rows
//! inserted in a call that later reverts are not kept. An `insert` keeps all its rows or none.
//!
//! Any account may create a table on a chain whose deploy policy is `open` (the chain is
//! permissioned at its nodes). Where it is `approved`, a table is treated as code: its schema
//! (the canonical encoding `createTable` takes) must be approved first, as init code is, by
//! `IGovernance.proposeApproveCode` with the schema's keccak-256 hash.

use alloy_sol_types::{SolCall, SolEvent};
use consortia_crypto::{Address, Hash};
use consortia_storage::{StateChanges, StateReader};
pub use consortia_types::ledger::{
    COUNT_PREFIX, PREFIX, ROW_PREFIX, SEQ_PREFIX, StoredRow, StoredTable, TABLE_PREFIX, TABLES_KEY,
    count_key, row_key, seq_key, table_key,
};
use consortia_types::ledger::{SqlValue, TableSchema};
use consortia_types::{DeployPolicy, decode, encode};
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::{CallInputs, Gas, InterpreterResult};
use revm::primitives::Log;

use crate::evm::{from_revm, to_revm};
use crate::governance::{approval_key, init_code_hash};
use crate::system::{
    JournaledWrites, StateSource, done, open_call, out_of_gas, revert, unknown_selector,
};
use crate::{ExecutionError, decode_state};

alloy_sol_types::sol!("../../contracts/system/ILedger.sol");

/// The contract's reserved address; its events carry it.
pub const ADDRESS: Address = consortia_types::LEDGER_ADDRESS;

/// Gas of creating a table and of inserting a row: a fixed cost plus a cost per byte stored.
const TABLE_GAS: u64 = 50_000;
const ROW_GAS: u64 = 20_000;
const GAS_PER_BYTE: u64 = 16;
/// Gas of a cold state read (the table, a row's key).
const READ_GAS: u64 = 2_100;

/// The entries a block's state changes wrote under [`PREFIX`] (the contract never deletes).
pub fn entries(changes: &StateChanges) -> Vec<(Vec<u8>, Vec<u8>)> {
    changes
        .range(PREFIX.to_vec()..)
        .take_while(|(key, _)| key.starts_with(PREFIX))
        .filter_map(|(key, value)| Some((key.clone(), value.clone()?)))
        .collect()
}

/// What a state key of this contract holds.
#[derive(Debug, PartialEq)]
pub enum Entry {
    Table(StoredTable),
    Row {
        table: String,
        row: StoredRow,
    },
    /// Bookkeeping (the `AUTO_INCREMENT` counters).
    Other,
}

/// Decodes a state entry of this contract (a key under [`PREFIX`]).
pub fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry, ExecutionError> {
    let corrupt = |detail: String| ExecutionError::CorruptState {
        key: String::from_utf8_lossy(key).into_owned(),
        detail,
    };
    if key.starts_with(TABLE_PREFIX) {
        return decode(value).map(Entry::Table).map_err(|e| corrupt(e.to_string()));
    }
    if let Some(rest) = key.strip_prefix(ROW_PREFIX) {
        let end =
            rest.iter().position(|b| *b == 0).ok_or_else(|| corrupt("no table name".into()))?;
        let table = String::from_utf8(rest[..end].to_vec()).map_err(|e| corrupt(e.to_string()))?;
        let row = decode(value).map_err(|e| corrupt(e.to_string()))?;
        return Ok(Entry::Row { table, row });
    }
    Ok(Entry::Other)
}

/// The committed tables' names, in the order they were created.
pub fn table_names<S: StateReader + ?Sized>(state: &S) -> Result<Vec<String>, ExecutionError> {
    state.get(TABLES_KEY)?.map_or(Ok(vec![]), |bytes| decode_state("ledger table list", &bytes))
}

/// How many rows the committed table `name` has.
pub fn row_count<S: StateReader + ?Sized>(state: &S, name: &str) -> Result<u64, ExecutionError> {
    state
        .get(&count_key(name))?
        .map_or(Ok(0), |bytes| decode_state(format!("ledger row count of `{name}`"), &bytes))
}

/// The committed table named `name`.
pub fn get_table<S: StateReader + ?Sized>(
    state: &S,
    name: &str,
) -> Result<Option<StoredTable>, ExecutionError> {
    state
        .get(&table_key(name))?
        .map(|bytes| decode_state(format!("ledger table `{name}`"), &bytes))
        .transpose()
}

/// The ledger contract as an EVM precompile, for one transaction (see the module docs).
#[derive(Debug)]
pub(crate) struct Precompile {
    height: u64,
    time_ms: u64,
    tx_hash: Hash,
    /// The chain's deploy policy as this transaction runs: it binds tables too.
    deploy_policy: DeployPolicy,
    writes: JournaledWrites,
}

/// A call's outcome before it is mapped to the EVM: a revert reason, or a storage fault.
enum Refusal {
    Revert(String),
    OutOfGas,
    Fault(ExecutionError),
}

impl From<ExecutionError> for Refusal {
    fn from(e: ExecutionError) -> Self {
        Refusal::Fault(e)
    }
}

fn charge(gas: &mut Gas, cost: u64) -> Result<(), Refusal> {
    if gas.record_regular_cost(cost) { Ok(()) } else { Err(Refusal::OutOfGas) }
}

impl Precompile {
    pub(crate) fn new(
        height: u64,
        time_ms: u64,
        tx_hash: Hash,
        deploy_policy: DeployPolicy,
    ) -> Self {
        Precompile {
            height,
            time_ms,
            tx_hash,
            deploy_policy,
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
        let mut gas = Gas::new(inputs.gas_limit);
        let (selector, input) = match open_call(context, inputs, ADDRESS, "ledger") {
            Ok(call) => call,
            Err(refused) => return Ok(refused),
        };
        let caller = from_revm(inputs.caller);
        let outcome = match selector {
            ILedger::createTableCall::SELECTOR => {
                match ILedger::createTableCall::abi_decode(&input) {
                    Ok(call) if !inputs.is_static => self
                        .create_table(context, caller, &call.schema, &mut gas)
                        .map(|()| ILedger::createTableCall::abi_encode_returns(&true)),
                    Ok(_) => Err(Refusal::Revert(read_only("createTable"))),
                    Err(_) => {
                        Err(Refusal::Revert("ledger: malformed arguments for createTable".into()))
                    }
                }
            }
            ILedger::insertCall::SELECTOR => match ILedger::insertCall::abi_decode(&input) {
                Ok(call) if !inputs.is_static => self
                    .insert(context, caller, &call.table, &call.rows, &mut gas)
                    .map(|first| ILedger::insertCall::abi_encode_returns(&first)),
                Ok(_) => Err(Refusal::Revert(read_only("insert"))),
                Err(_) => Err(Refusal::Revert("ledger: malformed arguments for insert".into())),
            },
            other => return Ok(unknown_selector(gas, "ledger", other)),
        };
        match outcome {
            Ok(output) => Ok(done(gas, output)),
            Err(Refusal::Revert(reason)) => Ok(revert(gas, reason)),
            Err(Refusal::OutOfGas) => Ok(out_of_gas(gas)),
            Err(Refusal::Fault(e)) => Err(e),
        }
    }

    fn table<CTX>(&self, context: &mut CTX, name: &str) -> Result<Option<StoredTable>, Refusal>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let Some(bytes) = self.writes.get(context, &table_key(name))? else { return Ok(None) };
        Ok(Some(decode_state(format!("ledger table `{name}`"), &bytes)?))
    }

    /// A `u64` this contract keeps under `key` (0 if absent), as this transaction sees it.
    fn counter<CTX>(&self, context: &mut CTX, key: &[u8]) -> Result<Option<u64>, Refusal>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let Some(bytes) = self.writes.get(context, key)? else { return Ok(None) };
        Ok(Some(decode_state(String::from_utf8_lossy(key), &bytes)?))
    }

    fn create_table<CTX>(
        &mut self,
        context: &mut CTX,
        caller: Address,
        schema: &[u8],
        gas: &mut Gas,
    ) -> Result<(), Refusal>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        let encoded = schema;
        let schema: TableSchema = decode(encoded).map_err(|e| {
            Refusal::Revert(format!("ledger: the schema is not a canonical TableSchema: {e}"))
        })?;
        schema.check().map_err(|e| Refusal::Revert(format!("ledger: {e}")))?;
        if self.deploy_policy == DeployPolicy::Approved {
            let hash = init_code_hash(encoded);
            charge(gas, READ_GAS)?;
            if self.writes.get(context, &approval_key(&hash))?.is_none() {
                return Err(Refusal::Revert(format!(
                    "ledger: deploy policy: table `{}` (schema {hash}) is not approved on this chain; propose approving it (IGovernance.proposeApproveCode with that hash) and create the table once the members agree",
                    schema.name
                )));
            }
        }
        charge(gas, READ_GAS)?;
        if self.table(context, &schema.name)?.is_some() {
            return Err(Refusal::Revert(format!(
                "ledger: table `{}` already exists; a ledger table's schema never changes",
                schema.name
            )));
        }
        let stored = StoredTable {
            schema,
            creator: caller,
            tx_hash: self.tx_hash,
            height: self.height,
            time_ms: self.time_ms,
        };
        let bytes = encode(&stored);
        charge(gas, (TABLE_GAS + GAS_PER_BYTE * bytes.len() as u64).saturating_sub(READ_GAS))?;
        let name = stored.schema.name.clone();
        self.writes.put(context, table_key(&name), Some(bytes))?;
        let mut names: Vec<String> = match self.writes.get(context, TABLES_KEY)? {
            Some(bytes) => decode_state("ledger table list", &bytes)?,
            None => vec![],
        };
        names.push(name.clone());
        charge(gas, GAS_PER_BYTE * (name.len() as u64 + 4))?;
        self.writes.put(context, TABLES_KEY.to_vec(), Some(encode(&names)))?;
        let event = ILedger::TableCreated { name, creator: to_revm(caller) }.encode_log_data();
        context.journal_mut().log(Log { address: to_revm(ADDRESS), data: event });
        Ok(())
    }

    fn insert<CTX>(
        &mut self,
        context: &mut CTX,
        caller: Address,
        table: &str,
        rows: &[u8],
        gas: &mut Gas,
    ) -> Result<u64, Refusal>
    where
        CTX: ContextTr<Db: StateSource + revm::Database<Error = ExecutionError>>,
    {
        charge(gas, READ_GAS)?;
        let Some(stored) = self.table(context, table)? else {
            return Err(Refusal::Revert(format!("ledger: table `{table}` does not exist")));
        };
        let schema = &stored.schema;
        let rows: Vec<Vec<SqlValue>> = decode(rows).map_err(|e| {
            Refusal::Revert(format!("ledger: the rows are not a canonical list of rows: {e}"))
        })?;
        if rows.is_empty() {
            return Err(Refusal::Revert("ledger: insert needs at least one row".into()));
        }
        let auto = schema.auto_increment();
        let mut next = match auto {
            Some(_) => self.counter(context, &seq_key(table))?.unwrap_or(1),
            None => 0,
        };
        let mut first_auto = 0;
        let count = rows.len() as u64;
        for (n, row) in rows.into_iter().enumerate() {
            let at = |e: String| Refusal::Revert(format!("ledger: row {}: {e}", n + 1));
            let mut values = schema.normalize_row(row).map_err(at)?;
            if let Some(i) = auto {
                match values[i] {
                    SqlValue::Null => {
                        let given =
                            schema.normalize_column(i, SqlValue::UInt(next)).map_err(|_| {
                                at(format!("AUTO_INCREMENT of `{table}` ran out of values"))
                            })?;
                        values[i] = given;
                        if first_auto == 0 {
                            first_auto = next;
                        }
                        next += 1;
                    }
                    SqlValue::UInt(v) => next = next.max(v.saturating_add(1)),
                    SqlValue::Int(v) => {
                        next = next.max(u64::try_from(v).unwrap_or(0).saturating_add(1))
                    }
                    _ => {}
                }
            }
            let key = row_key(table, &schema.key_of(&values));
            charge(gas, READ_GAS)?;
            if self.writes.get(context, &key)?.is_some() {
                return Err(at(format!(
                    "duplicate entry for the primary key of `{table}`; a ledger row is written once"
                )));
            }
            let row =
                StoredRow { values, signer: caller, tx_hash: self.tx_hash, height: self.height };
            let bytes = encode(&row);
            charge(gas, ROW_GAS + GAS_PER_BYTE * bytes.len() as u64)?;
            self.writes.put(context, key, Some(bytes))?;
        }
        if auto.is_some() {
            self.writes.put(context, seq_key(table), Some(encode(&next)))?;
        }
        let total = self.counter(context, &count_key(table))?.unwrap_or(0) + count;
        self.writes.put(context, count_key(table), Some(encode(&total)))?;
        let event =
            ILedger::RowsInserted { table: table.to_owned(), rows: count, firstAutoId: first_auto }
                .encode_log_data();
        context.journal_mut().log(Log { address: to_revm(ADDRESS), data: event });
        Ok(first_auto)
    }

    /// Ends the transaction: the state writes that were not reverted (see [`JournaledWrites`]).
    pub(crate) fn finish(
        &mut self,
        changes: &mut revm::primitives::AddressMap<revm::state::Account>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.writes.finish(changes)
    }
}

fn read_only(function: &str) -> String {
    format!("ledger: {function} writes state; it cannot run in a view (static) call")
}
