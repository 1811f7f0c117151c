//! Admission and the pool of transactions waiting for a block.
//!
//! Admission runs every check that does not need a block: size, decoding, chain id, payload
//! limits, signature (in batches), and the nonce window against the committed state. A
//! transaction that passes is kept until it commits; nothing admitted is ever dropped silently.
//! When the pool is full, admission answers [`AdmitError::PoolFull`] and the client retries.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consortia_crypto::{Address, Hash, HashAlgorithm, KeyCache, verify_batch};
use consortia_execution::Account;
use consortia_storage::StateReader;
use consortia_types::{Transaction, TypesError};
use parking_lot::Mutex;

/// Where admission reads the next nonce of a sender the pool does not track.
///
/// The pool calls it with no lock held, after noting how many blocks it has forgotten, and
/// asks again if a block was forgotten meanwhile: so the view it reads must be taken when it is
/// called. A view taken once before admission began can be a block behind the pool, and a
/// transaction admitted against it would wait forever for nonces already committed.
pub trait NonceSource {
    fn committed_nonce(&self, sender: &Address) -> Result<u64, String>;
}

impl<S: StateReader + ?Sized> NonceSource for S {
    fn committed_nonce(&self, sender: &Address) -> Result<u64, String> {
        Account::read(self, sender).map(|a| a.nonce).map_err(|e| e.to_string())
    }
}

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
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    #[error("state unavailable: {0}")]
    State(String),
}

impl AdmitError {
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::TooLarge { .. } => "tx_too_large",
            AdmitError::Malformed(_) => "malformed_tx",
            AdmitError::WrongChain { .. } => "wrong_chain_id",
            AdmitError::InvalidPayload(_) => "invalid_payload",
            AdmitError::BadSignature => "bad_signature",
            AdmitError::NonceTooLow { .. } => "nonce_too_low",
            AdmitError::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
            AdmitError::NonceConflict { .. } => "nonce_conflict",
            AdmitError::PoolFull { .. } => "pool_full",
            AdmitError::State(_) => "internal",
        }
    }
}

impl From<TypesError> for AdmitError {
    fn from(e: TypesError) -> Self {
        match e {
            TypesError::TooLarge { size, limit } => AdmitError::TooLarge { size, limit },
            TypesError::WrongChain { expected, got } => AdmitError::WrongChain { expected, got },
            TypesError::InvalidPayload(m) => AdmitError::InvalidPayload(m),
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
}

impl Inner {
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
#[derive(Debug)]
pub struct Mempool {
    chain_id: u64,
    hash: HashAlgorithm,
    max_tx_bytes: usize,
    config: MempoolConfig,
    keys: KeyCache,
    /// When a full pool last looked for gapped transactions (at most once a second: the scan
    /// visits every sender, and a full pool sees many retries).
    last_sweep: Mutex<Option<Instant>>,
    inner: Mutex<Inner>,
}

impl Mempool {
    pub fn new(
        chain_id: u64,
        hash: HashAlgorithm,
        max_tx_bytes: usize,
        config: MempoolConfig,
    ) -> Self {
        Mempool {
            chain_id,
            hash,
            max_tx_bytes,
            config,
            keys: KeyCache::default(),
            last_sweep: Mutex::new(None),
            inner: Mutex::new(Inner::default()),
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

    /// Transactions that could go into the next block: no nonce gap before them, and not in a
    /// block already built or decided.
    /// The nonce after `sender`'s pending run of consecutive transactions, if it has any: what
    /// a wallet asking for the "pending" nonce should sign next.
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        self.inner.lock().senders.get(sender).map(|q| q.ready_end)
    }

    pub fn ready_count(&self) -> usize {
        self.inner.lock().ready
    }

    /// Admits a batch of encoded transactions; CPU-bound (signature checks), so call it off the
    /// async runtime. One result per input, in order.
    pub fn admit_batch<S: NonceSource + ?Sized>(
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
        let decoded: Vec<Result<Transaction, AdmitError>> = raws
            .iter()
            .map(|raw| {
                if room == 0 {
                    return Err(AdmitError::PoolFull { pending: self.config.max_txs });
                }
                let tx = Transaction::decode(raw, self.max_tx_bytes)?;
                tx.check_stateless(self.chain_id)?;
                room -= 1;
                Ok(tx)
            })
            .collect();
        let mut verdicts = {
            let txs: Vec<&Transaction> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
            verify_transactions(&txs, &self.keys).into_iter()
        };
        decoded
            .into_iter()
            .zip(raws)
            .map(|(d, raw)| {
                let tx = d?;
                if !verdicts.next().unwrap_or(false) {
                    return Err(AdmitError::BadSignature);
                }
                let pool_tx = PoolTx {
                    hash: tx.hash(self.hash),
                    sender: tx.sender(),
                    size: raw.len(),
                    tx: Arc::new(tx),
                    arrival: 0, // set under the pool's lock
                    admitted_at: Instant::now(),
                };
                self.insert(state, pool_tx)
            })
            .collect()
    }

    fn insert<S: NonceSource + ?Sized>(
        &self,
        state: &S,
        ptx: PoolTx,
    ) -> Result<Admitted, AdmitError> {
        let nonce = ptx.tx.nonce();
        // Read the committed nonce before taking the lock (it is only needed for new senders,
        // but a store read under the lock would serialize every admission behind the disk).
        // If a block was removed from the pool meanwhile, the read may be a block old: read again
        // (through a view taken now: see [`NonceSource`]).
        let (base, mut inner) = loop {
            let (known, removals) = {
                let inner = self.inner.lock();
                (inner.senders.get(&ptx.sender).map(|q| q.base), inner.removals)
            };
            let base = match known {
                Some(base) => base,
                None => state.committed_nonce(&ptx.sender).map_err(AdmitError::State)?,
            };
            let inner = self.inner.lock();
            if inner.removals == removals {
                break (base, inner);
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
        let inner = &mut *inner;
        // Each sender's next transaction, earliest arrival first.
        let mut next: BinaryHeap<Reverse<(u64, Address)>> = inner
            .senders
            .iter()
            .filter_map(|(sender, q)| {
                let ptx = q.txs.get(&q.base.max(q.proposed_end)).filter(|_| q.unproposed() > 0)?;
                Some(Reverse((ptx.arrival, *sender)))
            })
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0u64;
        while let Some(Reverse((_, sender))) = next.pop() {
            let Some(queue) = inner.senders.get_mut(&sender) else { continue };
            let nonce = queue.base.max(queue.proposed_end);
            let Some(ptx) = queue.txs.get(&nonce) else { continue };
            if out.len() == max_txs || bytes + ptx.size as u64 > max_bytes {
                break;
            }
            bytes += ptx.size as u64;
            out.push(ptx.clone());
            queue.proposed_end = nonce + 1;
            inner.ready -= 1;
            if queue.unproposed() > 0
                && let Some(following) = queue.txs.get(&(nonce + 1))
            {
                next.push(Reverse((following.arrival, sender)));
            }
        }
        out
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
        let mut evicted = 0;
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
                        evicted += 1;
                    }
                }
            });
        }
        if evicted > 0 {
            tracing::info!(target: "node::mempool", evicted, "evicted transactions stuck behind nonce gaps");
        }
        evicted
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

    /// Drops one transaction that turned out not to execute (defensive: an honest pool never
    /// holds one), with everything after it from the same sender.
    pub fn evict(&self, bad: &PoolTx) {
        let mut inner = self.inner.lock();
        let nonce = bad.tx.nonce();
        inner.update(&bad.sender, |queue, inner| {
            for (_, gone) in queue.txs.split_off(&nonce) {
                inner.by_hash.remove(&gone.hash);
                inner.bytes -= gone.size;
            }
            queue.ready_end = queue.ready_end.min(nonce).max(queue.base);
            queue.proposed_end = queue.proposed_end.min(nonce);
        });
    }
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
