//! EVM calls through `revm`, over the chain's versioned key-value state.
//!
//! State layout (all in the authenticated state, so every value is provable):
//! - `acct/<address>` → [`Account`] (nonce, balance, code hash);
//! - `code/<keccak(code)>` → the code, shared by identical contracts;
//! - `slot/<address><slot>` → the slot's 32-byte value (a zero value is deleted);
//! - `sys/bh/<n mod 256>` → (n, hash of block n), for `BLOCKHASH` over the last 256 blocks.
//!
//! Fees: every block's base fee is the genesis' `base_fee_per_gas` (constant), burned as
//! EIP-1559 burns it; a tip goes to the block's proposer. Native transactions carry no price
//! and run with the base-fee check off: gas is metered and limited but costs them nothing.
//! [`FeeRules::charge`] is what admission checks before taking a transaction.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_consensus::{Transaction as _, Typed2718};
use consortia_crypto::{Address, Hash};
use consortia_storage::StateReader;
use consortia_types::{
    ChainParams, Event, EvmCall, Receipt, ReceiptStatus, Transaction, decode, encode,
};
use revm::context::result::EVMError;
use revm::context::result::{ExecutionResult, Output, ResultAndState};
use revm::context::transaction::AccessList;
use revm::context::{BlockEnv, Cfg, CfgEnv, TxEnv};
use revm::context_interface::ContextTr;
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::{DBErrorMarker, Database, DatabaseCommit, DatabaseRef};
use revm::handler::{EthPrecompiles, PrecompileProvider};
use revm::interpreter::{CallInputs, InterpreterResult};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{
    AddressMap, AddressSet, B256, KECCAK_EMPTY, StorageKey, StorageValue, TxKind, U256,
};
use revm::state::{AccountInfo, Bytecode};
use revm::{Context, ExecuteCommitEvm, ExecuteEvm, InspectEvm, MainBuilder, MainContext};

use crate::accounts::{self, Account, code_key, slot_key};
use crate::governance::{self, ContractStatus, Rules};
use crate::system::{StateSource, revert};
use crate::{BlockContext, ExecutionError, Overlay};
use crate::{extensions, ledger, notary};

/// How many past block hashes `BLOCKHASH` sees (as on Ethereum).
const BLOCK_HASH_WINDOW: u64 = 256;

impl DBErrorMarker for ExecutionError {}

/// The revm spec of an `evm_version` (validated with the genesis).
pub(crate) fn spec(evm_version: &str) -> SpecId {
    match evm_version {
        "prague" => SpecId::PRAGUE,
        "osaka" => SpecId::OSAKA,
        _ => SpecId::CANCUN,
    }
}

pub(crate) fn block_hash_key(height: u64) -> Vec<u8> {
    [b"sys/bh/".as_slice(), &(height % BLOCK_HASH_WINDOW).to_be_bytes()].concat()
}

pub(crate) fn to_revm(a: Address) -> revm::primitives::Address {
    revm::primitives::Address::from(a.0)
}

pub(crate) fn from_revm(a: revm::primitives::Address) -> Address {
    Address(a.0.0)
}

/// revm's view of the state: the block's overlay, then the committed state.
pub(crate) struct StateDb<'o, 'a, S: ?Sized> {
    overlay: &'o mut Overlay<'a, S>,
    codes: &'o CodeCache,
}

/// Analyzed contract code by hash (revm's jump-table analysis of a contract costs more than
/// a short call to it): code is content-addressed, so an entry never goes stale. Bounded by
/// clearing when full, which a chain's working set of contracts rarely reaches.
#[derive(Debug, Default)]
pub(crate) struct CodeCache(std::sync::Mutex<HashMap<B256, Bytecode>>);

/// Contracts whose analyzed code is kept.
const CODE_CACHE_ENTRIES: usize = 1_024;

impl CodeCache {
    fn get_or_load(
        &self,
        code_hash: B256,
        load: impl FnOnce() -> Result<Bytecode, ExecutionError>,
    ) -> Result<Bytecode, ExecutionError> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(code) = lock().get(&code_hash) {
            return Ok(code.clone());
        }
        let code = load()?;
        let mut cache = lock();
        if cache.len() >= CODE_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(code_hash, code.clone());
        Ok(code)
    }
}

/// revm's reads of the overlay, shared by [`StateDb`] (execution) and [`StateRef`] (tracers
/// that read the state a transaction started from).
fn account_info<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    address: revm::primitives::Address,
) -> Result<Option<AccountInfo>, ExecutionError> {
    let address = from_revm(address);
    if overlay.get(&accounts::account_key(&address))?.is_none() {
        return Ok(None);
    }
    let account = accounts::load(overlay, &address)?;
    Ok(Some(AccountInfo {
        balance: U256::from(account.balance),
        nonce: account.nonce,
        code_hash: account.code_hash.map_or(KECCAK_EMPTY, |h| B256::from(h.0)),
        code: None,
        ..Default::default()
    }))
}

fn code_of<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    code_hash: B256,
) -> Result<Bytecode, ExecutionError> {
    if code_hash == KECCAK_EMPTY {
        return Ok(Bytecode::default());
    }
    let code = overlay.get(&code_key(&Hash(code_hash.0)))?.ok_or_else(|| {
        ExecutionError::CorruptState {
            key: format!("code {code_hash}"),
            detail: "an account names code the state does not hold".into(),
        }
    })?;
    Ok(Bytecode::new_raw(code.into()))
}

fn slot_of<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    address: revm::primitives::Address,
    index: StorageKey,
) -> Result<StorageValue, ExecutionError> {
    let key = slot_key(&from_revm(address), &index.to_be_bytes());
    Ok(match overlay.get(&key)? {
        Some(v) => U256::from_be_slice(&v),
        None => U256::ZERO,
    })
}

fn block_hash_of<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    number: u64,
) -> Result<B256, ExecutionError> {
    let Some(raw) = overlay.get(&block_hash_key(number))? else { return Ok(B256::ZERO) };
    let (height, hash): (u64, Hash) = decode(&raw).map_err(|e| ExecutionError::CorruptState {
        key: format!("block hash {number}"),
        detail: e.to_string(),
    })?;
    Ok(if height == number { B256::from(hash.0) } else { B256::ZERO })
}

impl<S: StateReader + ?Sized> Database for StateDb<'_, '_, S> {
    type Error = ExecutionError;

    fn basic(
        &mut self,
        address: revm::primitives::Address,
    ) -> Result<Option<AccountInfo>, Self::Error> {
        account_info(self.overlay, address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let overlay = &*self.overlay;
        self.codes.get_or_load(code_hash, || code_of(overlay, code_hash))
    }

    fn storage(
        &mut self,
        address: revm::primitives::Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        slot_of(self.overlay, address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        block_hash_of(self.overlay, number)
    }
}

/// A read-only view of the overlay, as revm's `DatabaseRef`: what the prestate tracer reads.
pub(crate) struct StateRef<'o, 'a, S: ?Sized>(&'o Overlay<'a, S>);

impl<S: StateReader + ?Sized> DatabaseRef for StateRef<'_, '_, S> {
    type Error = ExecutionError;

    fn basic_ref(
        &self,
        address: revm::primitives::Address,
    ) -> Result<Option<AccountInfo>, Self::Error> {
        account_info(self.0, address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        code_of(self.0, code_hash)
    }

    fn storage_ref(
        &self,
        address: revm::primitives::Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        slot_of(self.0, address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        block_hash_of(self.0, number)
    }
}

impl<S: StateReader + ?Sized> StateSource for StateDb<'_, '_, S> {
    fn state_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecutionError> {
        self.overlay.get(key)
    }
}

/// Ethereum's precompiles, the chain's system contracts (the notary at [`notary::ADDRESS`],
/// governance at [`governance::ADDRESS`], the ledger tables at [`ledger::ADDRESS`]) and the
/// [`extensions`], for one transaction.
struct Precompiles {
    eth: EthPrecompiles,
    /// Built once per chain (see [`EvmEnv`]), not per transaction.
    warm: Arc<AddressSet>,
    notary: notary::Precompile,
    governance: governance::Precompile,
    ledger: ledger::Precompile,
    /// Contracts governance froze or revoked: every call frame is checked against them.
    blocked: Arc<Vec<(Address, ContractStatus)>>,
    /// A storage failure inside a system contract: it voids the transaction's result.
    fault: Option<ExecutionError>,
}

/// The addresses that start warm: Ethereum's precompiles and the system contracts.
fn warm_set(eth: &EthPrecompiles) -> Arc<AddressSet> {
    let mut warm = eth.warm_addresses().clone();
    warm.insert(to_revm(notary::ADDRESS));
    warm.insert(to_revm(governance::ADDRESS));
    warm.insert(to_revm(ledger::ADDRESS));
    warm.extend(extensions::ADDRESSES.map(to_revm));
    Arc::new(warm)
}

impl Precompiles {
    fn new(env: &EvmEnv, rules: &Rules, ctx: &BlockContext, tx_hash: Hash) -> Self {
        let eth = EthPrecompiles::new(env.cfg.spec);
        Precompiles {
            eth,
            warm: env.warm.clone(),
            notary: notary::Precompile::new(ctx, tx_hash),
            governance: governance::Precompile::new(
                ctx.height,
                ctx.time_ms,
                env.governance.clone(),
            ),
            ledger: ledger::Precompile::new(
                ctx.height,
                ctx.time_ms,
                tx_hash,
                rules.params.deploy_policy,
            ),
            blocked: rules.blocked(),
            fault: None,
        }
    }

    /// Ends the transaction: the system contracts' state writes that were not reverted.
    fn finish(
        &mut self,
        changes: &mut AddressMap<revm::state::Account>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut writes = self.notary.finish(changes);
        writes.extend(self.governance.finish(changes));
        writes.extend(self.ledger.finish(changes));
        writes
    }
}

impl<CTX> PrecompileProvider<CTX> for Precompiles
where
    CTX: ContextTr<Db: StateSource + Database<Error = ExecutionError>>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = warm_set(&self.eth);
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        if !self.blocked.is_empty()
            && let Some(reason) = governance::call_refusal(
                &self.blocked,
                from_revm(inputs.target_address),
                from_revm(inputs.bytecode_address),
            )
        {
            return Ok(Some(revert(revm::interpreter::Gas::new(inputs.gas_limit), reason)));
        }
        let answer = if inputs.bytecode_address == to_revm(notary::ADDRESS) {
            self.notary.run(context, inputs)
        } else if inputs.bytecode_address == to_revm(governance::ADDRESS) {
            self.governance.run(context, inputs)
        } else if inputs.bytecode_address == to_revm(ledger::ADDRESS) {
            self.ledger.run(context, inputs)
        } else if let Some(result) = extensions::run(context, inputs) {
            return Ok(Some(result));
        } else {
            return <EthPrecompiles as PrecompileProvider<CTX>>::run(
                &mut self.eth,
                context,
                inputs,
            );
        };
        match answer {
            Ok(result) => Ok(Some(result)),
            Err(e) => {
                let message = e.to_string();
                self.fault = Some(e);
                Err(message)
            }
        }
    }

    fn warm_addresses(&self) -> &AddressSet {
        self.warm.as_ref()
    }
}

impl<S: StateReader + ?Sized> DatabaseCommit for StateDb<'_, '_, S> {
    fn commit(&mut self, changes: AddressMap<revm::state::Account>) {
        // Sorted, so the writes (and any first error) do not depend on hash map order.
        let mut changes: Vec<_> = changes.into_iter().filter(|(_, a)| a.is_touched()).collect();
        changes.sort_by_key(|(address, _)| *address);
        for (address, account) in changes {
            let address = from_revm(address);
            let slots = account.storage.iter().filter(|(_, s)| s.is_changed());
            if account.is_selfdestructed() || account.is_empty() {
                // Since Cancun a self-destructed account was created in this very transaction,
                // so every slot it has is in `account.storage` (EIP-6780).
                for (slot, _) in account.storage.iter() {
                    self.overlay.delete(slot_key(&address, &slot.to_be_bytes()));
                }
                self.overlay.delete(accounts::account_key(&address));
                continue;
            }
            for (slot, value) in slots {
                let key = slot_key(&address, &slot.to_be_bytes());
                if value.present_value.is_zero() {
                    self.overlay.delete(key);
                } else {
                    self.overlay.put(key, value.present_value.to_be_bytes::<32>().to_vec());
                }
            }
            let info = &account.info;
            let code_hash = (info.code_hash != KECCAK_EMPTY).then_some(Hash(info.code_hash.0));
            if let (Some(hash), Some(code)) = (code_hash, &info.code)
                && account.is_created()
            {
                self.overlay.put(code_key(&hash), code.original_bytes().to_vec());
            }
            let stored = Account {
                nonce: info.nonce,
                // Balances start as u128 at genesis and value moves between accounts; no sum
                // of them can pass u128.
                balance: info.balance.try_into().unwrap_or(u128::MAX),
                code_hash,
            };
            self.overlay.put(accounts::account_key(&address), encode(&stored));
        }
    }
}

/// A block transaction's revm environment: the transaction (a refused deployment turned into
/// the plain call it is charged as), the configuration (native transactions run free of the
/// base fee), and the deploy policy's refusal, if any.
fn prepare<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    env: &EvmEnv,
    rules: &Rules,
    tx: &Transaction,
) -> Result<(TxEnv, CfgEnv, Option<String>), ExecutionError> {
    let Some(call) = tx.evm_call() else {
        return Err(ExecutionError::CorruptState {
            key: "transaction".into(),
            detail: "not an EVM call".into(),
        });
    };
    let refusal = match call.to {
        None => rules.deploy_refusal(&mut |k| overlay.get(k), &call.input)?,
        Some(_) => None,
    };
    let mut tx_env = tx_env(env.chain_id, tx.sender(), call, tx.nonce());
    if refusal.is_some() {
        // A refused deployment runs as a call to the governance contract that it refuses (no
        // input, no value moved): the nonce is used and the gas of a plain call charged, and
        // the receipt carries the policy's reason.
        tx_env.kind = TxKind::Call(to_revm(governance::ADDRESS));
        tx_env.data = Default::default();
    }
    if let Transaction::Ethereum(eth) = tx {
        let e = eth.envelope();
        tx_env.tx_type = e.ty();
        tx_env.gas_price = e.max_fee_per_gas();
        tx_env.gas_priority_fee = e.max_priority_fee_per_gas();
        if let Some(list) = e.access_list() {
            tx_env.access_list = list.clone();
        }
    }
    let mut cfg = env.cfg.clone();
    // Native transactions carry no fee: they run free of the base fee (and pay nothing).
    cfg.disable_base_fee = matches!(tx, Transaction::Native(_));
    Ok((tx_env, cfg, refusal))
}

/// Runs one transaction's EVM call and commits its writes into the overlay. `Ok(Err(reason))`
/// is a transaction that cannot be included at all (Ethereum's invalid transactions: nonce,
/// funds for value plus gas). The caller checks the gas limit against what the block has left.
/// `rules` are reloaded when the transaction changed them.
pub(crate) fn execute<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    env: &EvmEnv,
    rules: &mut Rules,
    ctx: &BlockContext,
    tx: &Transaction,
    tx_hash: Hash,
) -> Result<Result<Receipt, String>, ExecutionError> {
    let (tx_env, cfg, refusal) = prepare(overlay, env, rules, tx)?;
    let mut evm = Context::mainnet()
        .with_db(StateDb { overlay, codes: &env.codes })
        .with_cfg(cfg)
        .with_block(block_env(env, rules, ctx))
        .build_mainnet()
        .with_precompiles(Precompiles::new(env, rules, ctx, tx_hash));
    let outcome = evm.transact(tx_env);
    if let Some(fault) = evm.precompiles.fault.take() {
        return Err(fault);
    }
    let (result, mut changes) = match outcome {
        Ok(out) => (out.result, out.state),
        Err(EVMError::Database(e)) => return Err(e),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let records = evm.precompiles.finish(&mut changes);
    evm.commit(changes);
    drop(evm);
    if put_records(overlay, records) {
        *rules = Rules::load(&mut |k| overlay.get(k), &env.governance.genesis)?;
    }
    if let Some(reason) = refusal {
        let output =
            alloy_sol_types::SolError::abi_encode(&alloy_sol_types::Revert::from(reason.clone()));
        return Ok(Ok(Receipt {
            status: ReceiptStatus::Failed { code: "reverted".into(), message: reason },
            steps_used: result.tx_gas_used(),
            events: vec![],
            output,
        }));
    }
    let gas_used = result.tx_gas_used();
    Ok(Ok(match result {
        ExecutionResult::Success { logs, output, .. } => Receipt {
            status: ReceiptStatus::Success,
            steps_used: gas_used,
            events: events(logs),
            output: match output {
                Output::Call(bytes) => bytes.to_vec(),
                Output::Create(_, address) => address.map(|a| a.0.to_vec()).unwrap_or_default(),
            },
        },
        ExecutionResult::Revert { output, .. } => Receipt {
            status: ReceiptStatus::Failed {
                code: "reverted".into(),
                message: revert_reason(&output).unwrap_or_else(|| "execution reverted".to_owned()),
            },
            steps_used: gas_used,
            events: vec![],
            output: output.to_vec(),
        },
        ExecutionResult::Halt { reason, .. } => Receipt {
            status: ReceiptStatus::Failed { code: "halted".into(), message: format!("{reason:?}") },
            steps_used: gas_used,
            events: vec![],
            output: vec![],
        },
    }))
}

/// Writes the system contracts' records of a run into `overlay`; whether they changed the
/// governance rules.
fn put_records<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> bool {
    let rules_changed = records.iter().any(|(key, _)| Rules::changed_by(key));
    for (key, value) in records {
        match value {
            Some(value) => overlay.put(key, value),
            None => overlay.delete(key),
        }
    }
    rules_changed
}

/// The contract a successful deployment created.
fn output_address(result: &ExecutionResult) -> Option<revm::primitives::Address> {
    match result {
        ExecutionResult::Success { output, .. } => output.address().copied(),
        _ => None,
    }
}

fn tx_env(chain_id: u64, caller: Address, call: EvmCall, nonce: u64) -> TxEnv {
    TxEnv {
        caller: to_revm(caller),
        gas_limit: call.gas_limit,
        kind: match call.to {
            Some(to) => TxKind::Call(to_revm(to)),
            None => TxKind::Create,
        },
        value: U256::from(call.value),
        data: call.input.into(),
        nonce,
        chain_id: Some(chain_id),
        ..Default::default()
    }
}

/// A call's revm environment: any sender nonce, and no base fee (a call names no price, as
/// with geth's `eth_call`).
fn call_env(env: &EvmEnv, from: Address, call: EvmCall) -> (TxEnv, CfgEnv) {
    let mut cfg = env.cfg.clone();
    cfg.disable_nonce_check = true;
    cfg.disable_base_fee = true;
    (tx_env(env.chain_id, from, call, 0), cfg)
}

fn block_env(env: &EvmEnv, rules: &Rules, ctx: &BlockContext) -> BlockEnv {
    BlockEnv {
        number: U256::from(ctx.height),
        beneficiary: to_revm(ctx.proposer),
        timestamp: U256::from(ctx.time_ms / 1_000),
        gas_limit: rules.params.block_gas_limit,
        basefee: env.base_fee_per_gas,
        difficulty: U256::ZERO,
        prevrandao: Some(B256::from(ctx.parent_hash.0)),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 1)),
        ..Default::default()
    }
}

/// What an EVM transaction may cost its sender and the least gas it needs: what admission
/// checks before it takes a transaction, so that what it takes executes (revm checks the same
/// when the block runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCharge {
    pub gas_limit: u64,
    /// Intrinsic gas (EIP-2028 calldata, EIP-2930 access list, EIP-3860 init code, and the
    /// EIP-7623 floor from Prague): a gas limit below it cannot even start.
    pub intrinsic_gas: u64,
    /// The fee cap per gas (`gasPrice` or `maxFeePerGas`); native transactions pay no fee.
    pub max_fee_per_gas: u128,
    /// `gas limit × fee cap + value`, what the sender's balance must cover (geth's `Cost`);
    /// saturates, so an absurd fee cap is simply unaffordable.
    pub max_cost: u128,
}

/// The admission side of the EVM rules of one chain: its hard fork and base fee.
#[derive(Clone, Copy, Debug)]
pub struct FeeRules {
    spec: SpecId,
    /// The base fee per gas every block charges (constant; see the module's fee notes).
    pub base_fee_per_gas: u64,
}

impl FeeRules {
    pub fn new(params: &ChainParams) -> Self {
        FeeRules { spec: spec(&params.evm_version), base_fee_per_gas: params.base_fee_per_gas }
    }

    /// The charge of `tx`, `None` for a transaction that runs no EVM code (a notarization).
    pub fn charge(&self, tx: &Transaction) -> Option<TxCharge> {
        let call = tx.evm_call()?;
        let (gas_limit, value) = (call.gas_limit, call.value);
        let mut tx_env = tx_env(0, tx.sender(), call, tx.nonce());
        let mut max_fee_per_gas = 0;
        if let Transaction::Ethereum(eth) = tx {
            let e = eth.envelope();
            max_fee_per_gas = e.max_fee_per_gas();
            if let Some(list) = e.access_list() {
                tx_env.access_list = list.clone();
            }
        }
        let gas = revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx(
            &tx_env, self.spec, None,
        );
        let intrinsic_gas = (gas.initial_regular_gas + gas.initial_state_gas).max(gas.floor_gas);
        let max_cost = u128::from(gas_limit).saturating_mul(max_fee_per_gas).saturating_add(value);
        Some(TxCharge { gas_limit, intrinsic_gas, max_fee_per_gas, max_cost })
    }
}

/// What an inspected run runs: a block's transaction (by its hash) or a call.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Run<'t> {
    Tx(&'t Transaction, Hash),
    Call(Address, &'t EvmCall),
}

/// The revm context transactions run in.
pub(crate) type EvmContext<'o, 'a, S> =
    Context<BlockEnv, TxEnv, CfgEnv, StateDb<'o, 'a, S>, revm::Journal<StateDb<'o, 'a, S>>, ()>;

/// What an inspected run hands to its `finish`: the inspector, the environment, the result,
/// and the state the run started from (nothing it wrote is kept).
pub(crate) struct Inspected<'r, 'o, 'a, I, S: ?Sized> {
    pub inspector: I,
    pub tx_env: &'r TxEnv,
    pub block_env: &'r BlockEnv,
    pub result: &'r ResultAndState,
    pub state: &'r mut StateRef<'o, 'a, S>,
}

/// Runs `run` on `overlay` under `inspector` (revm calls it at every step, call and log),
/// keeps none of its writes, and returns what `finish` makes of it. `Ok(Err(reason))`: the
/// transaction could not run at all.
pub(crate) fn inspect<'a, S, I, R>(
    overlay: &mut Overlay<'a, S>,
    env: &EvmEnv,
    rules: &Rules,
    ctx: &BlockContext,
    run: Run<'_>,
    inspector: I,
    finish: impl FnOnce(Inspected<'_, '_, 'a, I, S>) -> R,
) -> Result<Result<R, String>, ExecutionError>
where
    S: StateReader + ?Sized,
    I: for<'o> revm::Inspector<EvmContext<'o, 'a, S>>,
{
    let (tx_env, cfg, tx_hash) = match run {
        Run::Tx(tx, hash) => {
            let (tx_env, cfg, _) = prepare(overlay, env, rules, tx)?;
            (tx_env, cfg, hash)
        }
        Run::Call(from, call) => {
            let (tx_env, cfg) = call_env(env, from, call.clone());
            (tx_env, cfg, Hash::ZERO)
        }
    };
    let block = block_env(env, rules, ctx);
    let (outcome, inspector) = {
        let mut evm = Context::mainnet()
            .with_db(StateDb { overlay: &mut *overlay, codes: &env.codes })
            .with_cfg(cfg)
            .with_block(block.clone())
            .build_mainnet_with_inspector(inspector)
            .with_precompiles(Precompiles::new(env, rules, ctx, tx_hash));
        let outcome = evm.inspect_tx(tx_env.clone());
        if let Some(fault) = evm.precompiles.fault.take() {
            return Err(fault);
        }
        (outcome, evm.inspector)
    };
    let result = match outcome {
        Ok(result) => result,
        Err(EVMError::Database(e)) => return Err(e),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut state = StateRef(&*overlay);
    Ok(Ok(finish(Inspected {
        inspector,
        tx_env: &tx_env,
        block_env: &block,
        result: &result,
        state: &mut state,
    })))
}

/// What a read-only call (`eth_call`, `eth_estimateGas`) gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Success {
        gas_used: u64,
        output: Vec<u8>,
    },
    /// `REVERT`: the revert data, for clients to decode.
    Revert {
        gas_used: u64,
        output: Vec<u8>,
    },
    /// Out of gas, invalid opcode and the like.
    Halt {
        gas_used: u64,
        reason: String,
    },
    /// The call could not run at all (e.g. the sender cannot pay the value).
    Invalid(String),
}

impl CallOutcome {
    /// The gas the call used (none if it could not run).
    pub fn gas_used(&self) -> u64 {
        match self {
            CallOutcome::Success { gas_used, .. }
            | CallOutcome::Revert { gas_used, .. }
            | CallOutcome::Halt { gas_used, .. } => *gas_used,
            CallOutcome::Invalid(_) => 0,
        }
    }
}

/// What a dry run of a transaction would do ([`crate::Executor::simulate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    pub outcome: CallOutcome,
    /// The events it would emit (none if it reverts).
    pub events: Vec<Event>,
    /// For a deployment: the contract's address and the hash of its runtime code.
    pub created: Option<(Address, Hash)>,
    /// For a deployment: why the chain's deploy policy would refuse it now (the dry run itself
    /// ignores the policy, so that code can be tried before it is proposed).
    pub deploy_refusal: Option<String>,
}

/// [`simulate`] without a step budget (so it always has an outcome).
pub(crate) fn simulate_fully<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    env: &EvmEnv,
    ctx: &BlockContext,
    from: Address,
    call: EvmCall,
    options: CallOptions<'_>,
) -> Result<Simulation, ExecutionError> {
    let options = CallOptions { max_steps: None, ..options };
    Ok(simulate(overlay, env, ctx, from, call, &options)?.unwrap_or_else(|| Simulation {
        outcome: CallOutcome::Invalid("stopped without a step budget".into()),
        events: vec![],
        created: None,
        deploy_refusal: None,
    }))
}

/// How a call runs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallOptions<'l> {
    /// Refuse a deployment the chain's deploy policy refuses (a dry run tries it anyway).
    pub enforce_deploy_policy: bool,
    /// Run as a transaction carrying this access list.
    pub access_list: Option<&'l AccessList>,
    /// Give up past this many EVM steps (the caller then runs it elsewhere, unbounded).
    pub max_steps: Option<u64>,
    /// Keep the call's writes in the overlay (a simulation's later calls see them).
    pub keep_writes: bool,
}

/// Counts a run's steps and halts it once `left` runs out.
struct StepBudget {
    left: u64,
    exceeded: bool,
}

impl<CTX> revm::Inspector<CTX> for StepBudget {
    fn step(&mut self, interp: &mut revm::interpreter::Interpreter, _: &mut CTX) {
        match self.left.checked_sub(1) {
            Some(left) => self.left = left,
            None => {
                self.exceeded = true;
                interp.halt(revm::interpreter::InstructionResult::OutOfGas);
            }
        }
    }
}

/// Runs a call on `overlay` and throws its writes away (unless `keep_writes`); the sender's
/// nonce is not checked.
/// With `enforce_deploy_policy` false a refused deployment runs anyway (a dry run).
pub(crate) fn simulate<S: StateReader + ?Sized>(
    overlay: &mut Overlay<'_, S>,
    env: &EvmEnv,
    ctx: &BlockContext,
    from: Address,
    call: EvmCall,
    options: &CallOptions<'_>,
) -> Result<Option<Simulation>, ExecutionError> {
    let CallOptions { enforce_deploy_policy, access_list, max_steps, keep_writes } = *options;
    let rules = Rules::load(&mut |k| overlay.get(k), &env.governance.genesis)?;
    let deploy_refusal = match call.to {
        None => rules.deploy_refusal(&mut |k| overlay.get(k), &call.input)?,
        Some(_) => None,
    };
    let simulation = |outcome| Simulation {
        outcome,
        events: vec![],
        created: None,
        deploy_refusal: deploy_refusal.clone(),
    };
    if let (true, Some(reason)) = (enforce_deploy_policy, &deploy_refusal) {
        let output =
            alloy_sol_types::SolError::abi_encode(&alloy_sol_types::Revert::from(reason.clone()));
        return Ok(Some(simulation(CallOutcome::Revert { gas_used: 0, output })));
    }
    let (mut tx, cfg) = call_env(env, from, call);
    if let Some(list) = access_list {
        // As an EIP-1559 transaction carrying the list (its intrinsic gas counts it).
        tx.tx_type = 2;
        tx.access_list = list.clone();
    }
    let budget = StepBudget { left: max_steps.unwrap_or(u64::MAX), exceeded: false };
    let mut evm = Context::mainnet()
        .with_db(StateDb { overlay, codes: &env.codes })
        .with_cfg(cfg)
        .with_block(block_env(env, &rules, ctx))
        .build_mainnet_with_inspector(budget)
        .with_precompiles(Precompiles::new(env, &rules, ctx, Hash::ZERO));
    // Counting steps costs an inspector call per step: only when a budget is asked for.
    let outcome = if max_steps.is_some() { evm.inspect_tx(tx) } else { evm.transact(tx) };
    if let Some(fault) = evm.precompiles.fault.take() {
        return Err(fault);
    }
    if evm.inspector.exceeded {
        return Ok(None);
    }
    let (result, mut state) = match outcome {
        Ok(r) => (r.result, r.state),
        Err(EVMError::Database(e)) => return Err(e),
        Err(e) => return Ok(Some(simulation(CallOutcome::Invalid(e.to_string())))),
    };
    let created = output_address(&result).map(|a| {
        let code_hash = state.get(&a).map_or(KECCAK_EMPTY, |acct| acct.info.code_hash);
        (from_revm(a), Hash(code_hash.0))
    });
    if keep_writes {
        let records = evm.precompiles.finish(&mut state);
        evm.commit(state);
        drop(evm);
        put_records(overlay, records);
    }
    let gas_used = result.tx_gas_used();
    Ok(Some(match result {
        ExecutionResult::Success { output, logs, .. } => Simulation {
            events: events(logs),
            created,
            ..simulation(CallOutcome::Success { gas_used, output: output.data().to_vec() })
        },
        ExecutionResult::Revert { output, .. } => {
            simulation(CallOutcome::Revert { gas_used, output: output.to_vec() })
        }
        ExecutionResult::Halt { reason, .. } => {
            simulation(CallOutcome::Halt { gas_used, reason: format!("{reason:?}") })
        }
    }))
}

fn events(logs: Vec<revm::primitives::Log>) -> Vec<Event> {
    logs.into_iter()
        .map(|log| Event {
            contract: from_revm(log.address),
            topics: log.data.topics().iter().map(|t| Hash(t.0)).collect(),
            data: log.data.data.to_vec(),
        })
        .collect()
}

/// The message of Solidity's `Error(string)` revert data.
pub fn revert_reason(data: &[u8]) -> Option<String> {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = data.strip_prefix(&ERROR_SELECTOR)?;
    let word = |i: usize| -> Option<usize> {
        let w = body.get(i..i + 32)?;
        if w[..24].iter().any(|b| *b != 0) {
            return None;
        }
        Some(u64::from_be_bytes(w[24..].try_into().ok()?) as usize)
    };
    let offset = word(0)?;
    let len = word(offset)?;
    let start = offset.checked_add(32)?;
    let bytes = body.get(start..start.checked_add(len)?)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// The chain-wide EVM settings.
#[derive(Clone, Debug)]
pub(crate) struct EvmEnv {
    pub(crate) chain_id: u64,
    pub(crate) cfg: CfgEnv,
    /// Addresses warm from the start of every transaction.
    warm: Arc<AddressSet>,
    pub(crate) governance: governance::Settings,
    base_fee_per_gas: u64,
    codes: Arc<CodeCache>,
}

impl EvmEnv {
    pub(crate) fn new(chain_id: u64, params: &ChainParams) -> Self {
        let mut cfg = CfgEnv::new_with_spec(spec(&params.evm_version));
        cfg.chain_id = chain_id;
        let warm = warm_set(&EthPrecompiles::new(cfg.spec));
        let governance = governance::Settings {
            consensus: params.consensus,
            genesis: governance::Params::from_genesis(params),
        };
        EvmEnv {
            chain_id,
            cfg,
            warm,
            governance,
            base_fee_per_gas: params.base_fee_per_gas,
            codes: Arc::default(),
        }
    }
}
