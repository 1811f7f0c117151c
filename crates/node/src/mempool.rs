//! Admission and the pool of transactions waiting for a block.
//!
//! Admission runs every check that does not need a block: size, decoding, chain id, payload
//! limits, signature (in batches), and, against the last decided state, what execution will
//! check (as geth's pool does): the nonce window, intrinsic gas, the block gas limit, the fee
//! cap against the base fee, and the sender's balance for `gas × fee cap + value` of this
//! transaction and those it has pending before it. So what the pool takes executes; one that
//! later cannot (its sender spent the balance meanwhile) is dropped and remembered with the
//! reason ([`Mempool::dropped`]), never dropped silently.
//! When the pool is full, admission answers [`AdmitError::PoolFull`] and the client retries.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consortia_crypto::{Address, Hash, HashAlgorithm, KeyCache, verify_batch};
use consortia_execution::{Account, FeeRules};
use consortia_types::{Transaction, TypesError};
use parking_lot::Mutex;
use tokio::sync::broadcast;

/// What admission reads of the chain: a sender's account and the block gas limit.
///
/// The pool calls it with no lock held, after noting how many blocks it has forgotten, and
/// asks again if a block was forgotten meanwhile: so the view it reads must be taken when it is
/// called. A view taken once before admission began can be a block behind the pool, and a
/// transaction admitted against it would wait forever for nonces already committed.
pub trait AdmissionState {
    /// The sender's account (next nonce, balance) as of the last decided block.
    fn account(&self, sender: &Address) -> Result<Account, String>;
    /// The most gas the next block may use (governance changes it).
    fn block_gas_limit(&self) -> Result<u64, String>;
}

/// How many admissions the pool remembers for [`Mempool::admitted_since`].
pub const RECENT_KEPT: usize = 10_000;

/// How many dropped transactions the pool remembers (with why), for clients asking after them.
pub const DROPPED_KEPT: usize = 10_000;

/// Pool limits.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    pub max_txs: usize,
    pub max_bytes: usize,
    /// How far past a sender's next nonce a transaction may run ahead.
    pub nonce_window: u64,
    /// A transaction stuck behind a nonce gap this long may be evicted when the pool is full,
    /// so senders with gaps cannot hold the pool against transactions that could run.
    pub gapped_ttl: Duration,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: consortia_types::config::DEFAULT_MEMPOOL_MAX_TXS,
            max_bytes: 64 * 1024 * 1024,
            nonce_window: 1024,
            gapped_ttl: Duration::from_secs(60),
        }
    }
}

/// Why a transaction was not admitted. [`AdmitError::code`] is stable for clients.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdmitError {
    #[error("transaction is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("transaction is for chain {got}, this chain is {expected}")]
    WrongChain { expected: u64, got: u64 },
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("signature does not verify for the transaction's public key")]
    BadSignature,
    #[error(
        "only replay-protected (EIP-155) transactions allowed: sign it with chain id {chain_id}"
    )]
    Unprotected { chain_id: u64 },
    #[error("nonce {got} is already used; the sender's next nonce is {next}")]
    NonceTooLow { next: u64, got: u64 },
    #[error(
        "nonce {got} is too far ahead: the sender's next nonce is {next}, at most {window} ahead is accepted"
    )]
    NonceTooFarAhead { next: u64, got: u64, window: u64 },
    #[error("another transaction with nonce {nonce} from this sender is already pending")]
    NonceConflict { nonce: u64 },
    #[error("the pool is full ({pending} transactions pending); retry shortly")]
    PoolFull { pending: usize },
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas { gas: u64, needed: u64 },
    #[error("exceeds block gas limit: gas {gas}, block gas limit {limit}")]
    GasLimit { gas: u64, limit: u64 },
    #[error("max fee per gas less than block base fee: maxFeePerGas {max_fee}, baseFee {base_fee}")]
    FeeCapTooLow { max_fee: u128, base_fee: u64 },
    #[error(
        "insufficient funds for gas * price + value: address {address} have {have} want {want}"
    )]
    InsufficientFunds { address: Address, have: u128, want: u128 },
    #[error("state unavailable: {0}")]
    State(String),
    #[error("this node is shutting down: send the transaction to another node of the chain")]
    Draining,
}

impl AdmitError {
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::TooLarge { .. } => "tx_too_large",
            AdmitError::Malformed(_) => "malformed_tx",
            AdmitError::WrongChain { .. } => "wrong_chain_id",
            AdmitError::InvalidPayload(_) => "invalid_payload",
            AdmitError::BadSignature => "bad_signature",
            AdmitError::Unprotected { .. } => "unprotected_tx",
            AdmitError::NonceTooLow { .. } => "nonce_too_low",
            AdmitError::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
            AdmitError::NonceConflict { .. } => "nonce_conflict",
            AdmitError::PoolFull { .. } => "pool_full",
            AdmitError::IntrinsicGas { .. } => "intrinsic_gas_too_low",
            AdmitError::GasLimit { .. } => "exceeds_block_gas_limit",
            AdmitError::FeeCapTooLow { .. } => "fee_cap_too_low",
            AdmitError::InsufficientFunds { .. } => "insufficient_funds",
            AdmitError::State(_) => "internal",
            AdmitError::Draining => "node_draining",
        }
    }
}

impl From<TypesError> for AdmitError {
    fn from(e: TypesError) -> Self {
        match e {
            TypesError::TooLarge { size, limit } => AdmitError::TooLarge { size, limit },
            TypesError::WrongChain { expected, got } => AdmitError::WrongChain { expected, got },
            TypesError::InvalidPayload(m) => AdmitError::InvalidPayload(m),
            TypesError::Unprotected { chain_id } => AdmitError::Unprotected { chain_id },
            TypesError::Signature(_) | TypesError::EthSignature(_) => AdmitError::BadSignature,
            other => AdmitError::Malformed(other.to_string()),
        }
    }
}

/// An admitted transaction.
#[derive(Clone, Debug)]
pub struct PoolTx {
    pub hash: Hash,
    pub sender: Address,
    pub tx: Arc<Transaction>,
    pub size: usize,
    /// The most it may take from its sender's balance (`gas × fee cap + value`).
    cost: u128,
    /// Admission order across the whole pool: blocks take transactions first come, first
    /// served (within each sender's nonce order).
    arrival: u64,
    admitted_at: Instant,
}

/// The result of a successful admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub hash: Hash,
    /// The same transaction was already pending (submitting twice is harmless).
    pub already_known: bool,
}

#[derive(Debug)]
struct SenderQueue {
    /// The next nonce the chain will execute for this sender.
    base: u64,
    /// First nonce at or after `base` that is missing: `base..ready_end` can go into a block.
    ready_end: u64,
    /// Nonces below this are in a block already built or decided, not yet committed.
    proposed_end: u64,
    txs: BTreeMap<u64, PoolTx>,
}

impl SenderQueue {
    /// Ready transactions not yet in a block: what [`Inner::ready`] sums.
    fn unproposed(&self) -> usize {
        self.ready_end.saturating_sub(self.base.max(self.proposed_end)) as usize
    }

    /// Extends the ready run over nonces now present.
    fn extend_ready(&mut self) {
        while self.txs.contains_key(&self.ready_end) {
            self.ready_end += 1;
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_hash: HashMap<Hash, (Address, u64)>,
    senders: HashMap<Address, SenderQueue>,
    next_arrival: u64,
    bytes: usize,
    /// Sum of [`SenderQueue::unproposed`]: transactions the next block could take.
    ready: usize,
    /// Bumped by every [`Mempool::remove_committed`].
    removals: u64,
    /// Transactions dropped after admission, with why: the most recent [`DROPPED_KEPT`].
    dropped: HashMap<Hash, Arc<str>>,
    dropped_order: VecDeque<Hash>,
    /// The last [`RECENT_KEPT`] admissions, by arrival number (pending-transaction filters).
    recent: VecDeque<(u64, Hash)>,
}

impl Inner {
    fn note_dropped(&mut self, hash: Hash, reason: &Arc<str>) {
        if self.dropped.insert(hash, reason.clone()).is_none() {
            self.dropped_order.push_back(hash);
        }
        while self.dropped_order.len() > DROPPED_KEPT {
            if let Some(old) = self.dropped_order.pop_front() {
                self.dropped.remove(&old);
            }
        }
    }

    /// Applies `change` to one sender's queue, keeping `ready` in step, and forgets the sender
    /// once it has nothing pending.
    fn update(&mut self, sender: &Address, change: impl FnOnce(&mut SenderQueue, &mut Self)) {
        let Some(mut queue) = self.senders.remove(sender) else { return };
        let before = queue.unproposed();
        change(&mut queue, self);
        self.ready = self.ready + queue.unproposed() - before;
        if !queue.txs.is_empty() {
            self.senders.insert(*sender, queue);
        }
    }
}

/// The transaction pool of one node. Shared behind an `Arc`; every method takes `&self`.
/// Transactions dropped together, each with why (what [`Mempool::subscribe_dropped`] sends).
pub type DroppedBatch = Arc<[(Hash, Arc<str>)]>;

/// Batches of dropped transactions kept for slow [`Mempool::subscribe_dropped`] receivers.
const DROPPED_BACKLOG: usize = 1024;

#[derive(Debug)]
pub struct Mempool {
    chain_id: u64,
    hash: HashAlgorithm,
    max_tx_bytes: usize,
    fees: FeeRules,
    config: MempoolConfig,
    keys: KeyCache,
    /// When a full pool last looked for gapped transactions (at most once a second: the scan
    /// visits every sender, and a full pool sees many retries).
    last_sweep: Mutex<Option<Instant>>,
    inner: Mutex<Inner>,
    /// Every drop after admission, announced (WebSocket `droppedTransactions` listens).
    dropped_out: broadcast::Sender<DroppedBatch>,
}

impl Mempool {
    pub fn new(
        chain_id: u64,
        hash: HashAlgorithm,
        max_tx_bytes: usize,
        fees: FeeRules,
        config: MempoolConfig,
    ) -> Self {
        Mempool {
            chain_id,
            hash,
            max_tx_bytes,
            fees,
            config,
            keys: KeyCache::default(),
            last_sweep: Mutex::new(None),
            inner: Mutex::new(Inner::default()),
            dropped_out: broadcast::Sender::new(DROPPED_BACKLOG),
        }
    }

    /// Transactions dropped after admission (with why), one message per eviction: a
    /// transaction found unexecutable, with its sender's later ones, or gapped ones a full pool
    /// evicted. A receiver more than 1,024 batches behind skips ahead.
    pub fn subscribe_dropped(&self) -> broadcast::Receiver<DroppedBatch> {
        self.dropped_out.subscribe()
    }

    fn announce(&self, dropped: &[(Hash, Arc<str>)]) {
        if !dropped.is_empty() && self.dropped_out.receiver_count() > 0 {
            // No receiver left between the check and the send is harmless.
            let _ = self.dropped_out.send(dropped.into());
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a transaction is waiting in the pool.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.inner.lock().by_hash.contains_key(hash)
    }

    /// Why a transaction admitted earlier was dropped without a block, if it was (among the
    /// last [`DROPPED_KEPT`]).
    pub fn dropped(&self, hash: &Hash) -> Option<Arc<str>> {
        self.inner.lock().dropped.get(hash).cloned()
    }

    /// The nonce after `sender`'s pending run of consecutive transactions, if it has any: what
    /// a wallet asking for the "pending" nonce should sign next.
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.inner.lock().senders.get(sender).map(|q| q.ready_end)
    }

    /// Transactions that could go into the next block: no nonce gap before them, and not in a
    /// block already built or decided.
    pub fn ready_count(&self) -> usize {
        self.inner.lock().ready
    }

    /// Admits a batch of encoded transactions; CPU-bound (signature checks), so call it off the
    /// async runtime. One result per input, in order.
    pub fn admit_batch<S: AdmissionState + ?Sized>(
        &self,
        state: &S,
        raws: &[Vec<u8>],
    ) -> Vec<Result<Admitted, AdmitError>> {
        // Stateless checks first, then one batched signature verification. What cannot fit in
        // the pool is refused before it is even decoded: a client retrying against a full pool
        // must not cost the node a decode and a verification per attempt.
        if self.len() >= self.config.max_txs && self.sweep_due() {
            self.evict_gapped(self.config.gapped_ttl);
        }
        let mut room = self.config.max_txs.saturating_sub(self.len());
        let mut gas_limit = None;
        let decoded: Vec<Result<(Transaction, u128), AdmitError>> = raws
            .iter()
            .map(|raw| {
                if room == 0 {
                    return Err(AdmitError::PoolFull { pending: self.config.max_txs });
                }
                let tx = Transaction::decode(raw, self.max_tx_bytes)?;
                let cost = match self.fees.charge(&tx) {
                    Some(charge) => {
                        let limit = match gas_limit {
                            Some(limit) => limit,
                            None => *gas_limit
                                .insert(state.block_gas_limit().map_err(AdmitError::State)?),
                        };
                        self.check_charge(&tx, &charge, limit)?;
                        charge.max_cost
                    }
                    None => 0,
                };
                tx.check_stateless(self.chain_id)?;
                room -= 1;
                Ok((tx, cost))
            })
            .collect();
        let mut verdicts = {
            let txs: Vec<&Transaction> =
                decoded.iter().filter_map(|d| d.as_ref().ok().map(|(tx, _)| tx)).collect();
            verify_transactions(&txs, &self.keys).into_iter()
        };
        decoded
            .into_iter()
            .zip(raws)
            .map(|(d, raw)| {
                let (tx, cost) = d?;
                if !verdicts.next().unwrap_or(false) {
                    return Err(AdmitError::BadSignature);
                }
                let pool_tx = PoolTx {
                    hash: tx.hash(self.hash),
                    sender: tx.sender(),
                    size: raw.len(),
                    cost,
                    tx: Arc::new(tx),
                    arrival: 0, // set under the pool's lock
                    admitted_at: Instant::now(),
                };
                self.insert(state, pool_tx)
            })
            .collect()
    }

    /// The checks of an EVM transaction's gas and fee that need no account: intrinsic gas,
    /// the block gas limit, and the fee cap against the base fee (constant on our chains, so a
    /// transaction under it would never run).
    fn check_charge(
        &self,
        tx: &Transaction,
        charge: &consortia_execution::TxCharge,
        block_gas_limit: u64,
    ) -> Result<(), AdmitError> {
        if charge.gas_limit < charge.intrinsic_gas {
            return Err(AdmitError::IntrinsicGas {
                gas: charge.gas_limit,
                needed: charge.intrinsic_gas,
            });
        }
        if charge.gas_limit > block_gas_limit {
            return Err(AdmitError::GasLimit { gas: charge.gas_limit, limit: block_gas_limit });
        }
        let base_fee = self.fees.base_fee_per_gas;
        if matches!(tx, Transaction::Ethereum(_)) && charge.max_fee_per_gas < u128::from(base_fee) {
            return Err(AdmitError::FeeCapTooLow { max_fee: charge.max_fee_per_gas, base_fee });
        }
        Ok(())
    }

    fn insert<S: AdmissionState + ?Sized>(
        &self,
        state: &S,
        ptx: PoolTx,
    ) -> Result<Admitted, AdmitError> {
        let nonce = ptx.tx.nonce();
        // Read the account before taking the lock (a store read under the lock would serialize
        // every admission behind the disk). If a block was removed from the pool meanwhile, the
        // read may be a block old: read again (through a view taken now: see
        // [`AdmissionState`]). The balance is needed only for a transaction that costs
        // something, the nonce only for a sender the pool does not track.
        let (base, balance, mut inner) = loop {
            let (known, removals) = {
                let inner = self.inner.lock();
                (inner.senders.get(&ptx.sender).map(|q| q.base), inner.removals)
            };
            let account = match (known, ptx.cost) {
                (Some(base), 0) => Account { nonce: base, ..Account::default() },
                _ => state.account(&ptx.sender).map_err(AdmitError::State)?,
            };
            let inner = self.inner.lock();
            if inner.removals == removals {
                break (known.unwrap_or(account.nonce), account.balance, inner);
            }
        };
        if inner.by_hash.contains_key(&ptx.hash) {
            return Ok(Admitted { hash: ptx.hash, already_known: true });
        }
        let inner = &mut *inner;
        let base = inner.senders.get(&ptx.sender).map_or(base, |q| q.base);
        if nonce < base {
            return Err(AdmitError::NonceTooLow { next: base, got: nonce });
        }
        if nonce >= base + self.config.nonce_window {
            return Err(AdmitError::NonceTooFarAhead {
                next: base,
                got: nonce,
                window: self.config.nonce_window,
            });
        }
        if inner.senders.get(&ptx.sender).is_some_and(|q| q.txs.contains_key(&nonce)) {
            return Err(AdmitError::NonceConflict { nonce });
        }
        if ptx.cost > 0 {
            // This transaction runs after the sender's pending ones: they may spend first.
            let pending: u128 = inner.senders.get(&ptx.sender).map_or(0, |q| {
                q.txs.range(..nonce).map(|(_, p)| p.cost).fold(0, u128::saturating_add)
            });
            let want = pending.saturating_add(ptx.cost);
            if balance < want {
                return Err(AdmitError::InsufficientFunds {
                    address: ptx.sender,
                    have: balance,
                    want,
                });
            }
        }
        if inner.by_hash.len() >= self.config.max_txs
            || inner.bytes + ptx.size > self.config.max_bytes
        {
            return Err(AdmitError::PoolFull { pending: inner.by_hash.len() });
        }
        inner.senders.entry(ptx.sender).or_insert_with(|| SenderQueue {
            base,
            ready_end: base,
            proposed_end: base,
            txs: BTreeMap::new(),
        });
        let mut ptx = ptx;
        ptx.arrival = inner.next_arrival;
        inner.next_arrival += 1;
        inner.by_hash.insert(ptx.hash, (ptx.sender, nonce));
        inner.bytes += ptx.size;
        let (hash, sender) = (ptx.hash, ptx.sender);
        inner.recent.push_back((ptx.arrival, hash));
        if inner.recent.len() > RECENT_KEPT {
            inner.recent.pop_front();
        }
        inner.update(&sender, |queue, _| {
            queue.txs.insert(nonce, ptx);
            queue.extend_ready();
        });
        Ok(Admitted { hash, already_known: false })
    }

    /// Takes ready transactions for the next block in arrival order (each sender's in nonce
    /// order), within the block limits: a sender that keeps sending cannot starve the others.
    /// They stay in the pool (and count as pending) until their block commits, but are not
    /// offered again.
    pub fn take_for_block(&self, max_txs: usize, max_bytes: u64) -> Vec<PoolTx> {
        let mut inner = self.inner.lock();
        let out = pick(&inner, max_txs, max_bytes);
        for ptx in &out {
            let nonce = ptx.tx.nonce();
            inner.update(&ptx.sender, |queue, _| queue.proposed_end = nonce + 1);
        }
        out
    }

    /// What [`Mempool::take_for_block`] would take now, taking nothing: the pending block.
    pub fn preview_block(&self, max_txs: usize, max_bytes: u64) -> Vec<PoolTx> {
        pick(&self.inner.lock(), max_txs, max_bytes)
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &Hash) -> Option<PoolTx> {
        let inner = self.inner.lock();
        let (sender, nonce) = inner.by_hash.get(hash)?;
        inner.senders.get(sender)?.txs.get(nonce).cloned()
    }

    /// The pooled transactions of these hashes (under one lock), `None` for those not pooled.
    pub fn transactions(&self, hashes: &[Hash]) -> Vec<Option<Arc<Transaction>>> {
        let inner = self.inner.lock();
        let get = |hash| {
            let (sender, nonce) = inner.by_hash.get(hash)?;
            Some(inner.senders.get(sender)?.txs.get(nonce)?.tx.clone())
        };
        hashes.iter().map(get).collect()
    }

    /// Every pooled transaction by sender in nonce order, each with whether it is executable
    /// (no nonce gap before it: geth's "pending") or waits behind a gap ("queued").
    pub fn content(&self) -> Vec<(Address, Vec<(PoolTx, bool)>)> {
        let inner = self.inner.lock();
        let mut out: Vec<_> = inner
            .senders
            .iter()
            .map(|(sender, q)| {
                let txs = q.txs.iter().map(|(n, p)| (p.clone(), *n < q.ready_end)).collect();
                (*sender, txs)
            })
            .collect();
        out.sort_by_key(|(sender, _)| *sender);
        out
    }

    /// The hashes admitted at or after arrival number `since` (among the last
    /// [`RECENT_KEPT`]), and the number to ask from next time.
    pub fn admitted_since(&self, since: u64) -> (Vec<Hash>, u64) {
        let inner = self.inner.lock();
        let hashes = inner.recent.iter().filter(|(a, _)| *a >= since).map(|(_, h)| *h).collect();
        (hashes, inner.next_arrival)
    }

    /// Checks the signatures of a proposed block's transactions, skipping those this pool
    /// admitted (checked then: a signature is verified once per node). True if all verify.
    pub fn verify_block_signatures(&self, txs: &[Transaction], hashes: &[Hash]) -> bool {
        let unknown: Vec<&Transaction> = {
            let inner = self.inner.lock();
            txs.iter()
                .zip(hashes)
                .filter(|(tx, h)| match inner.by_hash.get(h) {
                    // Same hash, same bytes: the signer the pool recovered holds.
                    Some((sender, _)) => {
                        if let Transaction::Ethereum(eth) = tx {
                            eth.assume_sender(*sender);
                        }
                        false
                    }
                    None => true,
                })
                .map(|(t, _)| t)
                .collect()
        };
        verify_transactions(&unknown, &self.keys).into_iter().all(|ok| ok)
    }

    /// Forgets transactions that a decided block carried (by sender and nonce, whoever built
    /// the block) and advances their senders.
    pub fn remove_committed(&self, committed: impl IntoIterator<Item = (Address, u64)>) {
        let mut inner = self.inner.lock();
        inner.removals += 1;
        for (sender, nonce) in committed {
            let next = nonce + 1;
            inner.update(&sender, |queue, inner| {
                if next <= queue.base {
                    return;
                }
                // Everything below the new base is done (or can never run): drop it.
                let keep = queue.txs.split_off(&next);
                for (_, gone) in std::mem::replace(&mut queue.txs, keep) {
                    inner.by_hash.remove(&gone.hash);
                    inner.bytes -= gone.size;
                }
                queue.base = next;
                queue.ready_end = queue.ready_end.max(next);
                queue.proposed_end = queue.proposed_end.max(next);
                queue.extend_ready();
            });
        }
    }

    fn sweep_due(&self) -> bool {
        let mut last = self.last_sweep.lock();
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// Drops transactions that have waited behind a nonce gap for longer than `ttl`; returns
    /// how many. Ready transactions are never dropped.
    pub fn evict_gapped(&self, ttl: Duration) -> usize {
        let mut inner = self.inner.lock();
        let senders: Vec<Address> = inner
            .senders
            .iter()
            .filter(|(_, q)| q.txs.range(q.ready_end..).next().is_some())
            .map(|(sender, _)| *sender)
            .collect();
        let mut evicted = Vec::new();
        let gapped: Arc<str> = format!(
            "waited over {} s behind a missing nonce of its sender while the pool was full",
            ttl.as_secs()
        )
        .into();
        for sender in senders {
            inner.update(&sender, |queue, inner| {
                let stale: Vec<u64> = queue
                    .txs
                    .range(queue.ready_end..)
                    .filter(|(_, ptx)| ptx.admitted_at.elapsed() >= ttl)
                    .map(|(nonce, _)| *nonce)
                    .collect();
                for nonce in stale {
                    if let Some(gone) = queue.txs.remove(&nonce) {
                        inner.by_hash.remove(&gone.hash);
                        inner.bytes -= gone.size;
                        inner.note_dropped(gone.hash, &gapped);
                        evicted.push((gone.hash, gapped.clone()));
                    }
                }
            });
        }
        drop(inner);
        if !evicted.is_empty() {
            tracing::info!(target: "node::mempool", evicted = evicted.len(), "evicted transactions stuck behind nonce gaps");
            self.announce(&evicted);
        }
        evicted.len()
    }

    /// Offers transactions taken for a block that was not built again.
    pub fn release(&self, taken: &[PoolTx]) {
        let mut inner = self.inner.lock();
        for ptx in taken {
            let nonce = ptx.tx.nonce();
            inner.update(&ptx.sender, |queue, _| {
                queue.proposed_end = queue.proposed_end.min(nonce).max(queue.base);
            });
        }
    }

    /// Drops one transaction that turned out not to execute (its sender spent the balance it
    /// was admitted with, say), with everything after it from the same sender; each is
    /// remembered with `reason` ([`Mempool::dropped`]) and announced
    /// ([`Mempool::subscribe_dropped`]).
    pub fn evict(&self, bad: &PoolTx, reason: &str) {
        let mut inner = self.inner.lock();
        let nonce = bad.tx.nonce();
        let first: Arc<str> = reason.into();
        let after: Arc<str> =
            format!("an earlier transaction of its sender (nonce {nonce}) was dropped: {reason}")
                .into();
        let mut dropped = Vec::new();
        inner.update(&bad.sender, |queue, inner| {
            for (_, gone) in queue.txs.split_off(&nonce) {
                inner.by_hash.remove(&gone.hash);
                inner.bytes -= gone.size;
                let why = if gone.hash == bad.hash { &first } else { &after };
                inner.note_dropped(gone.hash, why);
                dropped.push((gone.hash, why.clone()));
            }
            queue.ready_end = queue.ready_end.min(nonce).max(queue.base);
            queue.proposed_end = queue.proposed_end.min(nonce);
        });
        drop(inner);
        self.announce(&dropped);
    }
}

/// The ready transactions a block would take, in arrival order (each sender's in nonce order)
/// within the limits; changes nothing.
fn pick(inner: &Inner, max_txs: usize, max_bytes: u64) -> Vec<PoolTx> {
    // Each sender's next transaction, earliest arrival first.
    let mut next: BinaryHeap<Reverse<(u64, Address, u64)>> = inner
        .senders
        .iter()
        .filter_map(|(sender, q)| {
            let nonce = q.base.max(q.proposed_end);
            let ptx = q.txs.get(&nonce).filter(|_| q.unproposed() > 0)?;
            Some(Reverse((ptx.arrival, *sender, nonce)))
        })
        .collect();
    let mut out = Vec::new();
    let mut bytes = 0u64;
    while let Some(Reverse((_, sender, nonce))) = next.pop() {
        let Some(queue) = inner.senders.get(&sender) else { continue };
        let Some(ptx) = queue.txs.get(&nonce) else { continue };
        if out.len() == max_txs || bytes + ptx.size as u64 > max_bytes {
            break;
        }
        bytes += ptx.size as u64;
        out.push(ptx.clone());
        if nonce + 1 < queue.ready_end
            && let Some(following) = queue.txs.get(&(nonce + 1))
        {
            next.push(Reverse((following.arrival, sender, nonce + 1)));
        }
    }
    out
}

/// Verifies transactions' signatures, one verdict each, in order: native ed25519 ones in one
/// batch, Ethereum ones by recovering their signer (which is then remembered with them).
fn verify_transactions(txs: &[&Transaction], keys: &KeyCache) -> Vec<bool> {
    let messages: Vec<Option<Vec<u8>>> = txs
        .iter()
        .map(|tx| match tx {
            Transaction::Native(n) => Some(Transaction::signing_bytes(&n.body)),
            Transaction::Ethereum(_) => None,
        })
        .collect();
    let items: Vec<_> = txs
        .iter()
        .zip(&messages)
        .filter_map(|(tx, m)| match tx {
            Transaction::Native(n) => Some((&n.body.public_key, m.as_deref()?, &n.signature)),
            Transaction::Ethereum(_) => None,
        })
        .collect();
    let mut native = verify_batch(&items, keys).into_iter();
    txs.iter()
        .map(|tx| match tx {
            Transaction::Native(_) => native.next().is_some_and(|r| r.is_ok()),
            Transaction::Ethereum(_) => tx.verify_signature().is_ok(),
        })
        .collect()
}
