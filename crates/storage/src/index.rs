//! The store's random-keyed indexes (transaction by hash, logs by topic, transactions by
//! address, the accounts seen, token holders and transfers, the versions at which each state
//! key changed) in an LSM tree
//! (`fjall`), beside the redb file that holds what is appended in height order.
//!
//! A copy-on-write B-tree rewrites a 4 KiB page for each random insert, and the pages a block
//! touches grow with the tables: in redb these four indexes made a block's commit cost triple
//! from 100,000 to 1,000,000 transactions (docs/benchmarks.md, `storage::commit/growth`). An
//! LSM appends them to a journal and sorts them in the background.
//!
//! The indexes are derived data: everything in them can be computed again from the blocks,
//! receipts and state values redb holds. So they are written after the redb commit, without an
//! fsync of their own, together with the height they now cover (one atomic batch). After a crash
//! they may be behind redb; the store catches them up when it opens (see
//! [`crate::ChainStore::open`]), and an index directory that cannot be opened is rebuilt.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::RwLock;

use consortia_crypto::Address;
use consortia_types::Height;

use crate::tokens::{self, Transfer};
use crate::{Result, StorageError};

/// One of the indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Index {
    /// tx hash (32) → height (8, BE) ‖ position (4, BE).
    Tx = 0,
    /// topic (32) ‖ height (8, BE) ‖ position (4, BE) ‖ event index (2, BE) → (): logs by
    /// topic, oldest first (`eth_getLogs`-style lookups, notarizations by content hash).
    LogTopics = 1,
    /// address (20) ‖ height (8, BE) ‖ position (4, BE) → (): the transactions an address sent,
    /// called or created (an explorer's address view), newest last.
    AddressTxs = 2,
    /// key hash (32) ‖ version (8, BE) → (): the versions at which each state key changed. Its
    /// newest entry at or below a version says where the value then is (in redb's values,
    /// which are stored by version).
    KeyVersions = 3,
    /// key hash (32) → version (8, BE): the newest version at which each state key changed.
    /// Most state reads are of the latest state, and many are of keys never written (a
    /// notarization's id): one point read, most of them answered by the Bloom filter, instead of
    /// a range read of `KeyVersions` through every level of the tree.
    LatestVersion = 4,
    /// address (20) → height (8, BE): every account a transaction touched (as in
    /// `AddressTxs`), with the block it was first seen in; counted in the meta keyspace.
    Accounts = 5,
    /// Token contracts' balances, holders and transfers, folded from their ERC-20 and ERC-721
    /// `Transfer` events (records in `tokens.rs`).
    Tokens = 6,
}

/// How many indexes there are.
const COUNT: usize = 7;

impl Index {
    const ALL: [Index; COUNT] = [
        Index::Tx,
        Index::LogTopics,
        Index::AddressTxs,
        Index::KeyVersions,
        Index::LatestVersion,
        Index::Accounts,
        Index::Tokens,
    ];

    fn name(self) -> &'static str {
        match self {
            Index::Tx => "tx_index",
            Index::LogTopics => "log_topics",
            Index::AddressTxs => "address_txs",
            Index::KeyVersions => "key_versions",
            Index::LatestVersion => "latest_version",
            Index::Accounts => "accounts",
            Index::Tokens => "tokens",
        }
    }
}

/// Entries to write at once, with the height they bring the indexes to.
#[derive(Debug, Default)]
pub(crate) struct IndexBatch {
    entries: Vec<(Index, Vec<u8>, Vec<u8>)>,
    /// Accounts seen, in height order: only the first sighting of each is kept and counted.
    accounts: Vec<(Address, Height)>,
    /// Token transfers, in the order they happened.
    transfers: Vec<Transfer>,
}

impl IndexBatch {
    pub(crate) fn insert(&mut self, index: Index, key: &[u8], value: &[u8]) {
        self.entries.push((index, key.to_vec(), value.to_vec()));
    }

    /// `address` took part in a transaction of block `height`.
    pub(crate) fn account(&mut self, address: Address, height: Height) {
        self.accounts.push((address, height));
    }

    /// A token `Transfer` event (its parties are accounts seen at its height).
    pub(crate) fn transfer(&mut self, transfer: Transfer) {
        for party in transfer.parties() {
            self.account(party, transfer.height());
        }
        self.transfers.push(transfer);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The LSM's memory bounds. fjall's defaults (64 MiB memtables per keyspace, journals up to
/// 512 MiB) took a process to 550 MiB; four validators share a laptop, and a validator's budget
/// is ~200 MiB in all. Measured in `storage::commit/growth` (docs/benchmarks.md).
const MEMTABLE_BYTES: u64 = 4 << 20;
const WRITE_BUFFER_BYTES: u64 = 16 << 20;
const JOURNAL_BYTES: u64 = 64 << 20;
const CACHE_BYTES: u64 = 8 << 20;
/// Flushes and compactions in the background: one thread, so four validators on two cores
/// leave the cores to execution and consensus.
const WORKER_THREADS: usize = 1;

/// Where the indexes live: on disk beside the redb file, or in memory (the simulator).
pub(crate) enum Indexes {
    Lsm { db: fjall::Database, keyspaces: Vec<fjall::Keyspace>, meta: fjall::Keyspace },
    Memory(RwLock<Memory>),
}

#[derive(Default)]
pub(crate) struct Memory {
    maps: [BTreeMap<Vec<u8>, Vec<u8>>; COUNT],
    indexed: Option<Height>,
    accounts: u64,
}

impl std::fmt::Debug for Indexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Indexes::Lsm { .. } => f.write_str("Indexes::Lsm"),
            Indexes::Memory(_) => f.write_str("Indexes::Memory"),
        }
    }
}

const META_INDEXED: &[u8] = b"indexed";
/// How many keys `accounts` holds (8, BE): counting an LSM's keys would read them all.
const META_ACCOUNTS: &[u8] = b"accounts";
/// Which indexes the directory holds: indexes of another layout are rebuilt from the blocks.
pub(crate) const META_LAYOUT: &[u8] = b"layout";
/// 2: `latest_version` added; 3: `accounts`; 4: `tokens`, and accounts named by the genesis and
/// by token transfers.
const LAYOUT: u8 = 4;

fn lsm_error(e: impl ToString) -> StorageError {
    StorageError::Database(format!("indexes: {}", e.to_string()))
}

impl Indexes {
    /// Opens (or creates) the indexes in the directory `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        // fjall marks the global write-buffer bound deprecated ("todo"); it is what bounds the
        // memtables of all keyspaces together, and it works.
        #[allow(deprecated)]
        let db = fjall::Database::builder(path)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(JOURNAL_BYTES)
            .max_write_buffer_size(Some(WRITE_BUFFER_BYTES))
            .worker_threads(WORKER_THREADS)
            .open()
            .map_err(lsm_error)?;
        let options = |index: Option<Index>| {
            let options = fjall::KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
            match index {
                // Bloom filters only help point reads: the other indexes are read by range.
                Some(Index::LogTopics | Index::AddressTxs | Index::KeyVersions) => {
                    options.filter_policy(fjall::config::FilterPolicy::disabled())
                }
                // Read on every state read, most often for keys it does not hold: its Bloom
                // filters and index blocks stay in memory at every level (fjall keeps them only
                // for the top levels), or each miss reads them again once the tree is deep.
                // ~1.3 MB of filter and 0.5 MB of index per million keys.
                Some(Index::LatestVersion) => options
                    .filter_block_pinning_policy(fjall::config::PinningPolicy::all(true))
                    .index_block_pinning_policy(fjall::config::PinningPolicy::all(true))
                    .filter_block_partitioning_policy(fjall::config::PartitioningPolicy::all(false))
                    .index_block_partitioning_policy(fjall::config::PartitioningPolicy::all(false)),
                Some(Index::Tx | Index::Accounts | Index::Tokens) | None => options,
            }
        };
        let keyspaces = Index::ALL
            .iter()
            .map(|&index| db.keyspace(index.name(), || options(Some(index))).map_err(lsm_error))
            .collect::<Result<Vec<_>>>()?;
        let meta = db.keyspace("meta", || options(None)).map_err(lsm_error)?;
        let indexes = Indexes::Lsm { db, keyspaces, meta };
        if let Indexes::Lsm { meta, .. } = &indexes
            && meta.get(META_LAYOUT).map_err(lsm_error)?.as_deref() != Some(&[LAYOUT])
        {
            // Cleared first: a crash in between leaves no marker, and the next open clears again.
            indexes.clear()?;
            meta.insert(META_LAYOUT, [LAYOUT]).map_err(lsm_error)?;
        }
        Ok(indexes)
    }

    pub(crate) fn in_memory() -> Self {
        Indexes::Memory(RwLock::new(Memory::default()))
    }

    /// The height through which every block is indexed (`None`: none is).
    pub(crate) fn indexed(&self) -> Result<Option<Height>> {
        match self {
            Indexes::Lsm { meta, .. } => meta_number(meta, META_INDEXED, "the indexed height"),
            Indexes::Memory(memory) => Ok(read(memory).indexed),
        }
    }

    /// How many accounts transactions have touched (the keys of [`Index::Accounts`]).
    pub(crate) fn accounts(&self) -> Result<u64> {
        match self {
            Indexes::Lsm { meta, .. } => {
                Ok(meta_number(meta, META_ACCOUNTS, "the account count")?.unwrap_or(0))
            }
            Indexes::Memory(memory) => Ok(read(memory).accounts),
        }
    }

    /// Writes `batch` and records that the indexes now cover every block through `through`, in
    /// one atomic write (handed to the OS, not synced: see the module's docs). Blocks are
    /// written by one thread, in height order, so the account count read here stays true.
    pub(crate) fn write(&self, mut batch: IndexBatch, through: Height) -> Result<()> {
        let mut seen = HashSet::new();
        let mut first = Vec::new();
        for (address, height) in std::mem::take(&mut batch.accounts) {
            if seen.insert(address) && self.get(Index::Accounts, &address.0)?.is_none() {
                first.push((address.0.to_vec(), height.to_be_bytes().to_vec()));
            }
        }
        let accounts = self.accounts()? + first.len() as u64;
        let tokens = tokens::fold(self, std::mem::take(&mut batch.transfers))?;
        let entries = batch
            .entries
            .into_iter()
            .chain(first.into_iter().map(|(key, value)| (Index::Accounts, key, value)));
        match self {
            Indexes::Lsm { db, keyspaces, meta } => {
                let mut write = db.batch();
                for (index, key, value) in entries {
                    write.insert(&keyspaces[index as usize], key, value);
                }
                let keyspace = &keyspaces[Index::Tokens as usize];
                for (key, value) in tokens {
                    match value {
                        Some(value) => write.insert(keyspace, key, value),
                        None => write.remove(keyspace, key),
                    }
                }
                write.insert(meta, META_INDEXED, through.to_be_bytes());
                write.insert(meta, META_ACCOUNTS, accounts.to_be_bytes());
                write.commit().map_err(lsm_error)
            }
            Indexes::Memory(memory) => {
                let mut memory = memory.write().unwrap_or_else(|e| e.into_inner());
                for (index, key, value) in entries {
                    memory.maps[index as usize].insert(key, value);
                }
                let map = &mut memory.maps[Index::Tokens as usize];
                for (key, value) in tokens {
                    match value {
                        Some(value) => map.insert(key, value),
                        None => map.remove(&key),
                    };
                }
                memory.indexed = Some(through);
                memory.accounts = accounts;
                Ok(())
            }
        }
    }

    /// Removes every entry (an index that is ahead of the blocks is rebuilt from nothing).
    pub(crate) fn clear(&self) -> Result<()> {
        match self {
            Indexes::Lsm { keyspaces, meta, .. } => {
                for keyspace in keyspaces.iter().chain([meta]) {
                    keyspace.clear().map_err(lsm_error)?;
                }
                Ok(())
            }
            Indexes::Memory(memory) => {
                *memory.write().unwrap_or_else(|e| e.into_inner()) = Memory::default();
                Ok(())
            }
        }
    }

    pub(crate) fn get(&self, index: Index, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self {
            Indexes::Lsm { keyspaces, .. } => {
                let found = keyspaces[index as usize].get(key).map_err(lsm_error)?;
                Ok(found.map(|v| v.to_vec()))
            }
            Indexes::Memory(memory) => Ok(read(memory).maps[index as usize].get(key).cloned()),
        }
    }

    /// The keys of `index` in `from..=to`, in order (or newest first), at most `limit`.
    pub(crate) fn keys(
        &self,
        index: Index,
        from: &[u8],
        to: &[u8],
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        match self {
            Indexes::Lsm { keyspaces, .. } => {
                let range = keyspaces[index as usize].range(from..=to);
                let keys: Box<dyn Iterator<Item = fjall::Guard>> =
                    if newest_first { Box::new(range.rev()) } else { Box::new(range) };
                keys.take(limit).map(|g| g.key().map(|k| k.to_vec()).map_err(lsm_error)).collect()
            }
            Indexes::Memory(memory) => {
                let memory = read(memory);
                let bounds = (Bound::Included(from), Bound::Included(to));
                let range = memory.maps[index as usize].range::<[u8], _>(bounds);
                let keys: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> =
                    if newest_first { Box::new(range.rev()) } else { Box::new(range) };
                Ok(keys.take(limit).map(|(k, _)| k.clone()).collect())
            }
        }
    }
}

/// The number (8 bytes, BE) kept under `key` in the meta keyspace, if any; `what` names it
/// in the error a damaged value gives.
fn meta_number(meta: &fjall::Keyspace, key: &[u8], what: &str) -> Result<Option<u64>> {
    let Some(raw) = meta.get(key).map_err(lsm_error)? else { return Ok(None) };
    let bytes: [u8; 8] = raw.as_ref().try_into().map_err(|_| StorageError::Corrupt {
        table: "indexes",
        detail: format!("{what} is not 8 bytes"),
    })?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

fn read(memory: &RwLock<Memory>) -> std::sync::RwLockReadGuard<'_, Memory> {
    memory.read().unwrap_or_else(|e| e.into_inner())
}
