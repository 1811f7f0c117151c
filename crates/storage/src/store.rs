use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::U256;
use anyhow::Context as _;
use consortia_crypto::{Address, Hash, Suite};
use consortia_types::{
    Block, Genesis, GenesisAccount, Height, Receipt, ReceiptStatus, Transaction, decode, encode,
};
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, SimpleHasher, Version};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle, WriteTransaction,
};

use crate::index::{Index, IndexBatch, Indexes};
use crate::tokens::{self, Transfer};
use crate::{
    BlockReader, BlockWriter, ExplorerReader, LogLocation, LogReader, MinuteVolume, Result,
    StateChanges, StateProof, StateProofReader, StateReader, StorageError, StoredHeader, StoredTx,
    TokenHolder, TokenReader, TokenStats, TokenTransferAt, Totals, TxReader,
};
pub use history::History;
use history::{ArchiveSlot, Blocks};
pub use snapshot::{ChunkLimit, StateChunk, StateRestore};

mod history;
mod snapshot;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BLOCK_HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("block_hashes");
const TXS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("txs");
const RECEIPTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("receipts");
/// (block time in ms, height): blocks in a time range without scanning the chain.
const TIME_INDEX: TableDefinition<(u64, u64), ()> = TableDefinition::new("time_index");
/// minute since the Unix epoch → (blocks, transactions): an explorer's volume chart without
/// reading blocks.
const VOLUME: TableDefinition<u64, (u64, u64)> = TableDefinition::new("volume");
/// version (8, BE) || nibble path → node; see [`node_key`].
const JMT_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");
/// version (8, BE) || key hash (32) → 0 (deleted) or 1 || value: appended block by block.
const JMT_VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_values");
/// Tables earlier versions kept in redb, now in the [`Indexes`]: dropped when a store is opened
/// (the indexes are rebuilt from the blocks).
const MOVED_TO_INDEXES: [&str; 4] = ["tx_index", "log_topics", "address_txs", "key_versions"];

const META_GENESIS: &str = "genesis";
const META_HEAD: &str = "head";
/// Present once [`VOLUME`] covers every block; a store made before it existed is counted when
/// opened.
const META_EXPLORER: &str = "explorer_indexes";

/// redb's page cache. Its default (1 GiB) is too much for four validators on one laptop; 16 MiB
/// measured as fast as 64 MiB under load (the OS page cache backs it) and 30 MiB smaller.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Index entries written per batch while the indexes catch up with the blocks.
const CATCH_UP_BATCH: usize = 200_000;

/// The store: blocks, receipts and state in redb, the random-keyed indexes beside it (see
/// [`crate::index`]). Cheap to share behind an `Arc`: reads run concurrently with the single
/// writer (redb is MVCC).
#[derive(Debug)]
pub struct ChainStore {
    db: Database,
    indexes: Indexes,
    suite: Suite,
    genesis: Genesis,
    /// The last committed height, set right after each commit and its indexes: `latest_height`
    /// is asked by every JSON-RPC call (`latest`), and a read transaction for it cost ~10 µs of
    /// a 20 µs request (scripts/bench-rpc). Reads of the indexes are bounded by it, so none
    /// sees a block redb holds but the indexes do not yet.
    head: AtomicU64,
    /// The archive tier of the block history (see `history.rs`).
    archive: parking_lot::RwLock<ArchiveSlot>,
    /// One history change (prune, archive, restore) at a time.
    history_lock: parking_lot::Mutex<()>,
    /// The first version of the state held: 0, or the block a state snapshot restored.
    state_from: AtomicU64,
}

/// A state root computed ahead of commit (see [`BlockWriter::prepare_state`]).
#[derive(Debug)]
pub struct PreparedState {
    height: Height,
    root: Hash,
    nodes: NodeBatch,
}

impl PreparedState {
    pub fn root(&self) -> Hash {
        self.root
    }

    pub fn height(&self) -> Height {
        self.height
    }
}

fn corrupt(table: &'static str, detail: impl ToString) -> StorageError {
    StorageError::Corrupt { table, detail: detail.to_string() }
}

impl ChainStore {
    /// Opens (or creates) the store at `path` for `genesis`, with its indexes in the directory
    /// beside it (`path` with the extension `index`). Refuses a store made from another
    /// genesis. A store left by a crash is recovered by redb to its last committed transaction,
    /// and the indexes are caught up with it; indexes that cannot be opened are rebuilt.
    /// Returns whether the store still needs [`ChainStore::initialize`].
    pub fn open(path: &Path, genesis: &Genesis) -> Result<(Self, bool)> {
        // redb first: its lock keeps a second process away from both.
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path)?;
        let dir = path.with_extension("index");
        let indexes = Indexes::open(&dir).or_else(|e| {
            tracing::warn!(target: "storage", dir = %dir.display(), error = %e,
                "the indexes cannot be opened; rebuilding them from the blocks");
            std::fs::remove_dir_all(&dir)
                .map_err(|e| StorageError::Database(format!("{}: {e}", dir.display())))?;
            Indexes::open(&dir)
        })?;
        Self::open_db(db, indexes, genesis)
    }

    /// A store held in memory (redb's in-memory backend): the same code as on disk, without
    /// the file or the fsyncs. What the node-level simulator runs: a simulated crash keeps what
    /// was committed (redb commits atomically) and loses the rest, as a real crash does. Always
    /// fresh: it needs [`ChainStore::initialize`].
    pub fn in_memory(genesis: &Genesis) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(redb::backends::InMemoryBackend::new())?;
        Ok(Self::open_db(db, Indexes::in_memory(), genesis)?.0)
    }

    fn open_db(db: Database, indexes: Indexes, genesis: &Genesis) -> Result<(Self, bool)> {
        let txn = db.begin_write()?;
        {
            // Create every table, so readers never meet a missing one.
            txn.open_table(META)?;
            txn.open_table(HEADERS)?;
            txn.open_table(BLOCK_HASHES)?;
            txn.open_table(TXS)?;
            txn.open_table(RECEIPTS)?;
            txn.open_table(TIME_INDEX)?;
            txn.open_table(VOLUME)?;
            txn.open_table(JMT_NODES)?;
            txn.open_table(JMT_VALUES)?;
        }
        let moved: Vec<_> =
            txn.list_tables()?.filter(|t| MOVED_TO_INDEXES.contains(&t.name())).collect();
        for table in moved {
            txn.delete_table(table)?;
        }
        txn.commit()?;
        let (head, state_from) = {
            let read = db.begin_read()?;
            let meta = read.open_table(META)?;
            let height = |name| -> Result<Height> {
                let found = meta.get(name)?;
                Ok(found.map(|v| head_value(v.value())).transpose()?.unwrap_or(0))
            };
            (height(META_HEAD)?, height(snapshot::META_STATE_FROM)?)
        };
        let store = ChainStore {
            db,
            indexes,
            suite: genesis.suite,
            genesis: genesis.clone(),
            head: AtomicU64::new(head),
            archive: Default::default(),
            history_lock: Default::default(),
            state_from: AtomicU64::new(state_from),
        };
        let stored = {
            let read = store.db.begin_read()?;
            let meta = read.open_table(META)?;
            meta.get(META_GENESIS)?.map(|g| decode::<Genesis>(g.value()))
        };
        match stored {
            None => {
                // A fresh redb beside indexes of a removed one.
                if store.indexes.indexed()?.is_some() {
                    store.indexes.clear()?;
                }
                Ok((store, true))
            }
            Some(Err(e)) => Err(corrupt("meta", e)),
            Some(Ok(found)) if found.hash() != genesis.hash() => {
                Err(StorageError::GenesisMismatch {
                    expected: format!("{} ({})", genesis.chain_name, genesis.chain_id),
                    expected_hash: genesis.hash().to_hex(),
                    found: format!("{} ({})", found.chain_name, found.chain_id),
                    found_hash: found.hash().to_hex(),
                })
            }
            Some(Ok(_)) => {
                store.attach_recorded_archive()?;
                store.count_old_blocks()?;
                store.catch_up_indexes()?;
                store.wipe_unfinished_restore()?;
                Ok((store, false))
            }
        }
    }

    /// Fills [`VOLUME`] for the blocks of a store made before it existed, in one write
    /// transaction (once: a marker records it).
    fn count_old_blocks(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        if txn.open_table(META)?.get(META_EXPLORER)?.is_some() {
            return Ok(());
        }
        let Some(head) = Self::head_in(&txn)? else { return Ok(()) };
        // The genesis too, as a block committed now is counted (regression: the totals of a
        // store counted here were one block short of a fresh store's).
        for height in 0..=head {
            let header = header_in(&txn.open_table(HEADERS)?, height)?;
            count_block(&txn, header.header.time_ms, header.tx_hashes.len())?;
        }
        txn.open_table(META)?.insert(META_EXPLORER, [1u8].as_slice())?;
        txn.commit()?;
        if head > 0 {
            tracing::info!(target: "storage", blocks = head + 1, "counted old blocks for the explorer");
        }
        Ok(())
    }

    /// Brings the indexes up to the last committed block: after a crash they may be a few
    /// blocks behind (they are written after redb's commit, without an fsync of their own), and
    /// a store from before they existed has none. Indexes ahead of the blocks (redb restored
    /// from an older copy) are rebuilt from nothing.
    fn catch_up_indexes(&self) -> Result<()> {
        let head = self.head.load(Ordering::Acquire);
        let indexed = match self.indexes.indexed()? {
            Some(indexed) if indexed > head => {
                tracing::warn!(target: "storage", indexed, head,
                    "the indexes are ahead of the blocks; rebuilding them");
                self.indexes.clear()?;
                None
            }
            indexed => indexed,
        };
        let from = indexed.map_or(0, |h| h + 1);
        if from > head {
            return Ok(());
        }
        tracing::info!(target: "storage", from, to = head, "indexing blocks");
        let blocks = self.blocks()?;
        let first_held = blocks.tiers().first_held();
        if from < first_held && first_held > 1 {
            tracing::warn!(target: "storage", from, first_held,
                "blocks below {first_held} are pruned: their transactions, accounts and token \
                 transfers are not indexed again (an archive node's explorer has them)");
        }
        let read = self.db.begin_read()?;
        let values = read.open_table(JMT_VALUES)?;
        let mut batch = IndexBatch::default();
        let mut reported = std::time::Instant::now();
        for height in from..=head {
            // A pruned block's transactions are not indexed again (a lookup of one finds
            // nothing); the state keys it changed are, from the state's own history.
            let (mut tx_hashes, mut block_txs, mut block_receipts) =
                (Vec::new(), Vec::<Transaction>::new(), Vec::<Receipt>::new());
            if !blocks.tiers().is_pruned(height) {
                let tables = blocks.at(height)?;
                tx_hashes = header_in(tables.headers()?, height)?.tx_hashes;
                for position in 0..tx_hashes.len() as u32 {
                    let (tx, receipt) = tx_in(tables.txs()?, tables.receipts()?, height, position)?;
                    block_txs.push(tx);
                    block_receipts.push(receipt);
                }
            }
            let changed = values
                .range(
                    value_key(height, &KeyHash([0; 32])).as_slice()
                        ..=value_key(height, &KeyHash([0xff; 32])).as_slice(),
                )?
                .map(|entry| {
                    let (key, _) = entry?;
                    let hash: [u8; 32] = key.value()[8..]
                        .try_into()
                        .map_err(|_| corrupt("jmt_values", "key is not 40 bytes"))?;
                    Ok((height, KeyHash(hash)))
                })
                .collect::<Result<Vec<_>>>()?;
            let block = BlockToIndex {
                height,
                tx_hashes: &tx_hashes,
                txs: &block_txs,
                receipts: &block_receipts,
                genesis_accounts: self.genesis_accounts(height),
            };
            index_block(&mut batch, block, &changed);
            if batch.len() >= CATCH_UP_BATCH || height == head {
                self.indexes.write(std::mem::take(&mut batch), height)?;
            }
            if reported.elapsed().as_secs() >= 10 {
                tracing::info!(target: "storage", height, head, "indexing blocks");
                reported = std::time::Instant::now();
            }
        }
        tracing::info!(target: "storage", blocks = head + 1 - from, "indexed");
        Ok(())
    }

    /// Checks every page and checksum of the database file (slow: reads the whole file).
    /// `Ok(true)` when it is intact.
    pub fn check_integrity(&mut self) -> Result<bool> {
        Ok(self.db.check_integrity()?)
    }

    /// The accounts block `height` creates outside its transactions: the genesis's, at 0.
    fn genesis_accounts(&self, height: Height) -> &[GenesisAccount] {
        if height == 0 { &self.genesis.accounts } else { &[] }
    }

    /// Writes the genesis record and block 0 with the genesis state, atomically.
    pub fn initialize(&self, block: &Block, state: &PreparedState) -> Result<()> {
        self.write_block(block, &[], state, Some(&self.genesis))
    }

    fn write_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        state: &PreparedState,
        genesis: Option<&Genesis>,
    ) -> Result<()> {
        let height = block.header.height;
        let txn = self.db.begin_write()?;
        let head = Self::head_in(&txn)?;
        if head.is_some_and(|h| h != self.head.load(Ordering::Acquire)) {
            return Err(StorageError::Database(
                "an earlier block was committed but not indexed (its index write failed); \
                 restart the node to index it"
                    .into(),
            ));
        }
        let expected = head.map_or(0, |h| h + 1);
        if height != expected || state.height != height || (height == 0) != genesis.is_some() {
            return Err(StorageError::OutOfOrder { head: head.unwrap_or(0), got: height });
        }
        let tx_hashes = self.put_block(&txn, block, receipts)?;
        {
            let mut nodes = txn.open_table(JMT_NODES)?;
            for (key, node) in state.nodes.nodes() {
                nodes.insert(node_key(key).as_slice(), encode(node).as_slice())?;
            }
            let mut values = txn.open_table(JMT_VALUES)?;
            for ((version, key_hash), value) in state.nodes.values() {
                let stored = stored_value(value.as_deref());
                values.insert(value_key(*version, key_hash).as_slice(), stored.as_slice())?;
            }
            let mut meta = txn.open_table(META)?;
            if let Some(genesis) = genesis {
                meta.insert(META_GENESIS, encode(genesis).as_slice())?;
                meta.insert(META_EXPLORER, [1u8].as_slice())?;
            }
            meta.insert(META_HEAD, height.to_be_bytes().as_slice())?;
        }
        txn.commit()?;
        // The indexes after the commit: they are rebuilt from what it wrote if this is lost.
        let mut batch = IndexBatch::default();
        let changed: Vec<_> = state.nodes.values().keys().copied().collect();
        let to_index = BlockToIndex {
            height,
            tx_hashes: &tx_hashes,
            txs: &block.transactions,
            receipts,
            genesis_accounts: self.genesis_accounts(height),
        };
        index_block(&mut batch, to_index, &changed);
        self.indexes.write(batch, height)?;
        self.head.store(height, Ordering::Release);
        tracing::debug!(target: "storage::commit", height, txs = tx_hashes.len(), "block committed");
        Ok(())
    }

    /// Writes `block` and its receipts (header, hash, time index, transactions, receipts,
    /// volume) in `txn`; returns its transactions' hashes.
    fn put_block(
        &self,
        txn: &WriteTransaction,
        block: &Block,
        receipts: &[Receipt],
    ) -> Result<Vec<Hash>> {
        if receipts.len() != block.transactions.len() {
            return Err(corrupt("receipts", "one receipt per transaction is required"));
        }
        let height = block.header.height;
        let algo = self.suite.hash();
        let tx_hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash(algo)).collect();
        let block_hash = block.header.hash(algo);
        let stored = StoredHeader {
            hash: block_hash,
            header: block.header.clone(),
            certificate: block.certificate.clone(),
            tx_hashes: tx_hashes.clone(),
        };
        txn.open_table(HEADERS)?.insert(height, encode(&stored).as_slice())?;
        txn.open_table(BLOCK_HASHES)?.insert(block_hash.0.as_slice(), height)?;
        txn.open_table(TIME_INDEX)?.insert((block.header.time_ms, height), ())?;
        let mut txs = txn.open_table(TXS)?;
        let mut rcpts = txn.open_table(RECEIPTS)?;
        for (i, (tx, receipt)) in block.transactions.iter().zip(receipts).enumerate() {
            let pos = i as u32;
            txs.insert((height, pos), encode(tx).as_slice())?;
            rcpts.insert((height, pos), encode(receipt).as_slice())?;
        }
        count_block(txn, block.header.time_ms, block.transactions.len())?;
        Ok(tx_hashes)
    }

    fn head_in(txn: &WriteTransaction) -> Result<Option<Height>> {
        let meta = txn.open_table(META)?;
        let head = meta.get(META_HEAD)?;
        head.map(|v| head_value(v.value())).transpose()
    }

    fn jmt_reader<'a>(&'a self, pending: Option<&'a PreparedState>) -> Result<JmtReader<'a>> {
        let (read, values) = self.values()?;
        Ok(JmtReader { nodes: read.open_table(JMT_NODES)?, values, pending })
    }

    /// The state's values as of the head, with the read transaction they are read in. The head
    /// is taken first: redb then holds at least every block the indexes cover up to it.
    fn values(&self) -> Result<(ReadTransaction, Values<'_>)> {
        let head = self.head.load(Ordering::Acquire);
        let read = self.db.begin_read()?;
        let values = Values { head, versions: &self.indexes, values: read.open_table(JMT_VALUES)? };
        Ok((read, values))
    }

    fn key_hash(&self, key: &[u8]) -> KeyHash {
        match self.suite {
            Suite::Standard => KeyHash::with::<sha2::Sha256>(key),
            Suite::Sm => KeyHash::with::<sm3::Sm3>(key),
        }
    }
}

/// A state value as `jmt_values` stores it: 0 (deleted), or 1 and the value.
fn stored_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(v) => [&[1u8], v].concat(),
        None => vec![0],
    }
}

/// The head height as `meta` stores it.
fn head_value(bytes: &[u8]) -> Result<Height> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| corrupt("meta", "head is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Version first, big-endian: the nodes a block writes sort after every earlier node, so each
/// commit appends to the table instead of dirtying pages all over it (a copy-on-write B-tree
/// pays a page per leaf it touches).
fn node_key(key: &NodeKey) -> Vec<u8> {
    let mut out = key.version().to_be_bytes().to_vec();
    out.extend(encode(key.nibble_path()));
    out
}

/// The accounts a transaction touches for the explorer: its sender, whom it calls, and the
/// contract it created.
fn parties(tx: &Transaction, receipt: &Receipt) -> Vec<Address> {
    let mut out = vec![tx.sender()];
    match tx.to() {
        Some(to) => out.push(to),
        None if receipt.status == ReceiptStatus::Success && receipt.output.len() == 20 => {
            out.push(Address::from_slice(&receipt.output));
        }
        None => {}
    }
    out.dedup();
    out
}

fn address_key(address: &Address, height: Height, position: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..20].copy_from_slice(&address.0);
    key[20..28].copy_from_slice(&height.to_be_bytes());
    key[28..].copy_from_slice(&position.to_be_bytes());
    key
}

/// Counts a block of `txs` transactions made at `time_ms` in [`VOLUME`].
fn count_block(txn: &WriteTransaction, time_ms: u64, txs: usize) -> Result<()> {
    let mut volume = txn.open_table(VOLUME)?;
    let minute = time_ms / 60_000;
    let (blocks, count) = volume.get(minute)?.map_or((0, 0), |v| v.value());
    volume.insert(minute, (blocks + 1, count + txs as u64))?;
    Ok(())
}

/// What block `height` holds, as [`index_block`] reads it.
#[derive(Default)]
struct BlockToIndex<'a> {
    height: Height,
    tx_hashes: &'a [Hash],
    txs: &'a [Transaction],
    receipts: &'a [Receipt],
    /// The accounts the genesis creates (block 0 only).
    genesis_accounts: &'a [GenesisAccount],
}

/// The index entries of a block: its transactions by hash, its events by topic, its
/// transactions by the accounts they touch, its token transfers, and the state keys it changed
/// (`changed`: version, key hash).
fn index_block(batch: &mut IndexBatch, block: BlockToIndex<'_>, changed: &[(Version, KeyHash)]) {
    let BlockToIndex { height, tx_hashes, txs, receipts, genesis_accounts } = block;
    for account in genesis_accounts {
        batch.account(account.address, height);
    }
    let mut log_index = 0u32;
    for (pos, ((hash, tx), receipt)) in tx_hashes.iter().zip(txs).zip(receipts).enumerate() {
        let pos = pos as u32;
        let location = [height.to_be_bytes().as_slice(), &pos.to_be_bytes()].concat();
        batch.insert(Index::Tx, &hash.0, &location);
        for (index, event) in receipt.events.iter().enumerate() {
            for topic in &event.topics {
                batch.insert(Index::LogTopics, &log_key(topic, height, pos, index as u16), &[]);
            }
            let at = LogLocation { height, position: pos, event: index as u16 };
            if let Some(transfer) = Transfer::of(event, TokenTransferAt { at, log_index }) {
                batch.transfer(transfer);
            }
            log_index += 1;
        }
        for party in parties(tx, receipt) {
            batch.insert(Index::AddressTxs, &address_key(&party, height, pos), &[]);
            batch.account(party, height);
        }
    }
    for (version, key_hash) in changed {
        batch.insert(Index::KeyVersions, &version_key(key_hash, *version), &[]);
        // Blocks are indexed in height order, so the last write is the newest version.
        batch.insert(Index::LatestVersion, &key_hash.0, &version.to_be_bytes());
    }
}

/// The stored header of block `height`, which must be there.
fn header_in(
    headers: &impl ReadableTable<u64, &'static [u8]>,
    height: Height,
) -> Result<StoredHeader> {
    let raw = headers
        .get(height)?
        .ok_or_else(|| corrupt("headers", format!("block {height} is missing")))?;
    decode(raw.value()).map_err(|e| corrupt("headers", e))
}

/// The transaction at (`height`, `position`) and its receipt, which must be there.
fn tx_in(
    txs: &impl ReadableTable<(u64, u32), &'static [u8]>,
    receipts: &impl ReadableTable<(u64, u32), &'static [u8]>,
    height: Height,
    position: u32,
) -> Result<(Transaction, Receipt)> {
    let raw = txs
        .get((height, position))?
        .ok_or_else(|| corrupt("txs", "an index points at a missing transaction"))?;
    let transaction = decode(raw.value()).map_err(|e| corrupt("txs", e))?;
    let receipt =
        receipts.get((height, position))?.ok_or_else(|| corrupt("receipts", "missing"))?;
    Ok((transaction, decode(receipt.value()).map_err(|e| corrupt("receipts", e))?))
}

fn log_key(topic: &Hash, height: Height, pos: u32, index: u16) -> [u8; 46] {
    let mut out = [0u8; 46];
    out[..32].copy_from_slice(&topic.0);
    out[32..40].copy_from_slice(&height.to_be_bytes());
    out[40..44].copy_from_slice(&pos.to_be_bytes());
    out[44..].copy_from_slice(&index.to_be_bytes());
    out
}

fn value_key(version: Version, key_hash: &KeyHash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&version.to_be_bytes());
    out[8..].copy_from_slice(&key_hash.0);
    out
}

fn version_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&key_hash.0);
    out[32..].copy_from_slice(&version.to_be_bytes());
    out
}

/// The versioned values of the state, read in one snapshot of redb, as of `head` at most.
struct Values<'a> {
    head: Height,
    versions: &'a Indexes,
    values: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Values<'_> {
    /// The value of `key_hash` as of `max_version` (set at its newest change at or before it).
    fn at(&self, max_version: Version, key_hash: KeyHash) -> Result<Option<OwnedValue>> {
        let bound = max_version.min(self.head);
        // The indexes cover every block through `head` at least, so a key without a latest
        // version never changed at or before `bound`.
        let Some(latest) = self.versions.get(Index::LatestVersion, &key_hash.0)? else {
            return Ok(None);
        };
        let latest = u64::from_be_bytes(
            latest.as_slice().try_into().map_err(|_| corrupt("latest_version", "not 8 bytes"))?,
        );
        let version = if latest <= bound {
            latest
        } else {
            // Changed since `bound` (a read of the past, or of a block being indexed).
            let from = version_key(&key_hash, 0);
            let to = version_key(&key_hash, bound);
            let newest = self.versions.keys(Index::KeyVersions, &from, &to, true, 1)?;
            let Some(key) = newest.first() else {
                return Ok(None);
            };
            let version: [u8; 8] = key
                .get(32..40)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| corrupt("key_versions", "short key"))?;
            u64::from_be_bytes(version)
        };
        let stored = self
            .values
            .get(value_key(version, &key_hash).as_slice())?
            .ok_or_else(|| corrupt("jmt_values", "a version without its value"))?;
        Ok(match stored.value().split_first() {
            Some((1, rest)) => Some(rest.to_vec()),
            _ => None,
        })
    }
}

/// `jmt`'s view of the store: nodes and versioned values, read in one snapshot, seen through
/// the prepared (decided, maybe not yet durable) state of the block before.
struct JmtReader<'a> {
    nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: Values<'a>,
    pending: Option<&'a PreparedState>,
}

impl PreparedState {
    fn value(&self, key_hash: KeyHash) -> Option<&Option<OwnedValue>> {
        self.nodes.values().get(&(self.height, key_hash))
    }
}

impl TreeReader for JmtReader<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if let Some(node) = self.pending.and_then(|p| p.nodes.get_node(node_key)) {
            return Ok(Some(node.clone()));
        }
        match self.nodes.get(self::node_key(node_key).as_slice())? {
            Some(bytes) => Ok(Some(borsh::from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        if let Some(pending) = self.pending.filter(|p| p.height <= max_version)
            && let Some(value) = pending.value(key_hash)
        {
            return Ok(value.clone());
        }
        Ok(self.values.at(max_version, key_hash)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only jmt's resumable snapshot restore asks for this; ours (`snapshot.rs`) begins
        // again instead of resuming, with `new_overwrite`, which does not.
        anyhow::bail!("state snapshot restore is not supported by this store")
    }
}

impl BlockReader for ChainStore {
    fn genesis(&self) -> Result<Genesis> {
        Ok(self.genesis.clone())
    }

    fn latest_height(&self) -> Result<Height> {
        Ok(self.head.load(Ordering::Acquire))
    }

    fn first_block(&self) -> Result<Height> {
        Ok(self.blocks()?.tiers().first_held())
    }

    fn header(&self, height: Height) -> Result<Option<StoredHeader>> {
        let blocks = self.blocks()?;
        let found = blocks.at(height)?.headers()?.get(height)?;
        found.map(|v| decode(v.value()).map_err(|e| corrupt("headers", e))).transpose()
    }

    fn height_by_hash(&self, hash: &Hash) -> Result<Option<Height>> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BLOCK_HASHES)?;
        Ok(table.get(hash.0.as_slice())?.map(|v| v.value()))
    }

    fn headers_by_time(
        &self,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<StoredHeader>> {
        let blocks = self.blocks()?;
        let index = blocks.read().open_table(TIME_INDEX)?;
        let mut out = Vec::new();
        if from_ms >= to_ms {
            return Ok(out);
        }
        let range = index.range((from_ms, 0)..(to_ms, 0))?;
        let entries: Box<dyn Iterator<Item = _>> =
            if newest_first { Box::new(range.rev()) } else { Box::new(range) };
        for entry in entries.take(limit) {
            let (key, _) = entry?;
            let (_, height) = key.value();
            let header = blocks.at(height)?.headers()?.get(height)?.ok_or_else(|| {
                corrupt("time_index", format!("points at missing block {height}"))
            })?;
            out.push(decode(header.value()).map_err(|e| corrupt("headers", e))?);
        }
        Ok(out)
    }

    fn block(&self, height: Height) -> Result<Option<Block>> {
        let blocks = self.blocks()?;
        let tables = blocks.at(height)?;
        let Some(stored) = tables.headers()?.get(height)? else { return Ok(None) };
        let stored: StoredHeader = decode(stored.value()).map_err(|e| corrupt("headers", e))?;
        let transactions = tables
            .txs()?
            .range((height, 0)..=(height, u32::MAX))?
            .map(|entry| {
                let (_, bytes) = entry?;
                decode::<Transaction>(bytes.value()).map_err(|e| corrupt("txs", e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Block { header: stored.header, transactions, certificate: stored.certificate }))
    }
}

impl LogReader for ChainStore {
    fn logs_by_topic_in(
        &self,
        topic: &Hash,
        from: Height,
        to: Height,
        limit: usize,
    ) -> Result<Vec<LogLocation>> {
        let to = to.min(self.head.load(Ordering::Acquire));
        if from > to {
            return Ok(Vec::new());
        }
        let from = log_key(topic, from, 0, 0);
        let to = log_key(topic, to, u32::MAX, u16::MAX);
        let mut out = Vec::new();
        for key in self.indexes.keys(Index::LogTopics, &from, &to, false, limit)? {
            let k: [u8; 46] =
                key.try_into().map_err(|_| corrupt("log_topics", "key is not 46 bytes"))?;
            let mut height = [0u8; 8];
            height.copy_from_slice(&k[32..40]);
            out.push(LogLocation {
                height: u64::from_be_bytes(height),
                position: u32::from_be_bytes([k[40], k[41], k[42], k[43]]),
                event: u16::from_be_bytes([k[44], k[45]]),
            });
        }
        Ok(out)
    }
}

impl ChainStore {
    /// The committed transaction at (`height`, `position`), in the read transaction `read`.
    fn stored_tx(&self, blocks: &Blocks, height: Height, position: u32) -> Result<StoredTx> {
        let tables = blocks.at(height)?;
        let (transaction, receipt) = tx_in(tables.txs()?, tables.receipts()?, height, position)?;
        Ok(StoredTx {
            hash: transaction.hash(self.suite.hash()),
            height,
            position,
            transaction,
            receipt,
        })
    }
}

impl ExplorerReader for ChainStore {
    fn recent_txs(&self, before: Option<(Height, u32)>, limit: usize) -> Result<Vec<StoredTx>> {
        let blocks = self.blocks()?;
        let end = before.unwrap_or((Height::MAX, u32::MAX));
        let mut out = Vec::new();
        // The hot tier, then the archive below it; pruned transactions are not listed.
        let archived = blocks.tiers().first_hot() > blocks.tiers().first_held();
        for tables in [Some(blocks.hot()), archived.then(|| blocks.archived()).transpose()?] {
            let Some(tables) = tables else { continue };
            for entry in tables.txs()?.range(..end)?.rev().take(limit - out.len()) {
                let (key, _) = entry?;
                let (height, position) = key.value();
                out.push(self.stored_tx(&blocks, height, position)?);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn txs_by_address(
        &self,
        address: &Address,
        before: Option<(Height, u32)>,
        limit: usize,
    ) -> Result<Vec<StoredTx>> {
        let head = self.head.load(Ordering::Acquire);
        let blocks = self.blocks()?;
        // Just before `before`, and at the head at most.
        let last = match before {
            Some((0, 0)) => return Ok(Vec::new()),
            Some((height, 0)) => (height - 1, u32::MAX),
            Some((height, position)) => (height, position - 1),
            None => (Height::MAX, u32::MAX),
        };
        let last = last.min((head, u32::MAX));
        let from = address_key(address, blocks.tiers().first_held(), 0);
        let to = address_key(address, last.0, last.1);
        if last.0 < blocks.tiers().first_held() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for key in self.indexes.keys(Index::AddressTxs, &from, &to, true, limit)? {
            let k: [u8; 32] =
                key.try_into().map_err(|_| corrupt("address_txs", "key is not 32 bytes"))?;
            let height = u64::from_be_bytes(k[20..28].try_into().unwrap_or_default());
            let position = u32::from_be_bytes(k[28..].try_into().unwrap_or_default());
            out.push(self.stored_tx(&blocks, height, position)?);
        }
        Ok(out)
    }

    fn volume(&self, from_minute: u64, to_minute: u64) -> Result<Vec<MinuteVolume>> {
        let read = self.db.begin_read()?;
        let volume = read.open_table(VOLUME)?;
        let mut out = Vec::new();
        if from_minute >= to_minute {
            return Ok(out);
        }
        for entry in volume.range(from_minute..to_minute)? {
            let (minute, counts) = entry?;
            let (blocks, txs) = counts.value();
            out.push(MinuteVolume { minute: minute.value(), blocks, txs });
        }
        Ok(out)
    }

    fn totals(&self) -> Result<Totals> {
        let read = self.db.begin_read()?;
        let volume = read.open_table(VOLUME)?;
        let mut totals = Totals { accounts: self.indexes.accounts()?, ..Totals::default() };
        for entry in volume.iter()? {
            let (blocks, txs) = entry?.1.value();
            totals.blocks += blocks;
            totals.transactions += txs;
        }
        Ok(totals)
    }
}

impl TxReader for ChainStore {
    fn receipt_at(&self, height: Height, position: u32) -> Result<Option<Receipt>> {
        let blocks = self.blocks()?;
        let found = blocks.at(height)?.receipts()?.get((height, position))?;
        found.map(|v| decode(v.value()).map_err(|e| corrupt("receipts", e))).transpose()
    }

    fn transaction(&self, hash: &Hash) -> Result<Option<StoredTx>> {
        let head = self.head.load(Ordering::Acquire);
        let Some(location) = self.indexes.get(Index::Tx, &hash.0)? else { return Ok(None) };
        let location: [u8; 12] =
            location.try_into().map_err(|_| corrupt("tx_index", "location is not 12 bytes"))?;
        let height = u64::from_be_bytes(location[..8].try_into().unwrap_or_default());
        let position = u32::from_be_bytes(location[8..].try_into().unwrap_or_default());
        if height > head {
            return Ok(None);
        }
        let mut found = self.stored_tx(&self.blocks()?, height, position)?;
        found.hash = *hash;
        Ok(Some(found))
    }
}

impl StateReader for ChainStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.snapshot_at(Version::MAX)?.get(key)
    }
}

impl TokenReader for ChainStore {
    fn token(&self, contract: &Address) -> Result<Option<TokenStats>> {
        tokens::stats(&self.indexes, contract)
    }

    fn token_holders(
        &self,
        contract: &Address,
        after: Option<(U256, Address)>,
        limit: usize,
        owned: usize,
    ) -> Result<Vec<TokenHolder>> {
        tokens::holders(&self.indexes, contract, after, limit, owned)
    }

    fn token_transfers(
        &self,
        contract: &Address,
        before: Option<LogLocation>,
        limit: usize,
    ) -> Result<Vec<TokenTransferAt>> {
        tokens::transfers(&self.indexes, contract, before, limit)
    }
}

impl crate::ChainReader for ChainStore {}

impl crate::StateHistory for ChainStore {
    fn state_at(&self, height: Height) -> Result<Box<dyn StateReader + '_>> {
        Ok(Box::new(self.snapshot_at(height)?))
    }
}

impl ChainStore {
    /// The state as it was after block `height`, read in one snapshot (`u64::MAX`: the latest
    /// committed state).
    fn snapshot_at(&self, height: Height) -> Result<StateAt<'_>> {
        self.check_state_held(height)?;
        let (_, values) = self.values()?;
        Ok(StateAt { store: self, height, values })
    }
}

/// A snapshot of the state after one block (see [`ChainStore::snapshot_at`]).
pub struct StateAt<'a> {
    store: &'a ChainStore,
    height: Height,
    values: Values<'a>,
}

impl std::fmt::Debug for StateAt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateAt").field("height", &self.height).finish_non_exhaustive()
    }
}

impl StateReader for StateAt<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.values.at(self.height, self.store.key_hash(key))
    }
}

/// The committed state seen through a decided block whose commit may still be under way: what
/// the executor reads while it builds the next block.
///
/// The committed state is read in one snapshot, taken at the first read that `pending` does
/// not answer: one read transaction per block executed, not one per read. If `pending`
/// commits meanwhile, the snapshot may predate it, which changes nothing: `pending` answers
/// every key it wrote.
#[derive(Debug)]
pub struct PendingState<'a> {
    store: &'a ChainStore,
    pending: Option<&'a PreparedState>,
    committed: std::cell::OnceCell<StateAt<'a>>,
}

impl<'a> PendingState<'a> {
    pub fn new(store: &'a ChainStore, pending: Option<&'a PreparedState>) -> Self {
        PendingState { store, pending, committed: std::cell::OnceCell::new() }
    }
}

impl StateReader for PendingState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let hash = self.store.key_hash(key);
        if let Some(value) = self.pending.and_then(|p| p.value(hash)) {
            return Ok(value.clone());
        }
        let committed = match self.committed.get() {
            Some(snapshot) => snapshot,
            None => {
                let snapshot = self.store.snapshot_at(Version::MAX)?;
                self.committed.get_or_init(|| snapshot)
            }
        };
        committed.values.at(committed.height, hash)
    }
}

impl StateProofReader for ChainStore {
    fn get_with_proof(&self, key: &[u8], height: Height) -> Result<StateProof> {
        let latest = self.latest_height()?;
        if height > latest {
            return Err(StorageError::FutureHeight { requested: height, latest });
        }
        self.check_state_held(height)?;
        let reader = self.jmt_reader(None)?;
        fn run<H: SimpleHasher>(
            reader: &JmtReader<'_>,
            key: &[u8],
            height: Height,
        ) -> anyhow::Result<(RootHash, Option<Vec<u8>>, Vec<u8>)> {
            let tree = JellyfishMerkleTree::<_, H>::new(reader);
            let (value, proof) = tree.get_with_proof(KeyHash::with::<H>(key), height)?;
            Ok((tree.get_root_hash(height)?, value, borsh::to_vec(&proof)?))
        }
        let (root, value, proof) = match self.suite {
            Suite::Standard => run::<sha2::Sha256>(&reader, key, height),
            Suite::Sm => run::<sm3::Sm3>(&reader, key, height),
        }
        .map_err(|e| StorageError::State(e.to_string()))?;
        Ok(StateProof { height, state_root: Hash(root.0), value, proof })
    }
}

/// The state tree after `changes`, as the root and the nodes to write.
///
/// A block without deletions goes through the JMT's batch insert, which builds each changed node
/// once. `put_value_set` rebuilds and rehashes the path from the root for every key: for a block
/// of 2,000 notarizations (4,000 keys) the root was hashed 4,000 times, and SHA-256 was a fifth
/// of a block's prepare. The batch insert takes no deletions, so a block that deletes a key goes
/// key by key. Both give the same tree: a JMT's shape depends only on the keys it holds
/// (`batched_and_key_by_key_updates_make_the_same_tree`).
fn update_tree<H: SimpleHasher>(
    reader: &JmtReader<'_>,
    height: Height,
    changes: StateChanges,
) -> anyhow::Result<(RootHash, NodeBatch)> {
    let tree = JellyfishMerkleTree::<_, H>::new(reader);
    if changes.is_empty() || changes.values().any(Option::is_none) {
        let set = changes.into_iter().map(|(k, v)| (KeyHash::with::<H>(&k), v));
        let (root, batch) = tree.put_value_set(set, height)?;
        return Ok((root, batch.node_batch));
    }
    let set = changes.into_iter().filter_map(|(k, v)| Some((KeyHash::with::<H>(&k), v?))).collect();
    let (roots, batch) = tree.batch_put_value_sets(vec![set], None, height)?;
    let root = roots.first().copied().context("the batch insert returned no root")?;
    Ok((root, batch.node_batch))
}

impl BlockWriter for ChainStore {
    fn prepare_state(
        &self,
        height: Height,
        changes: StateChanges,
        parent: Option<&PreparedState>,
    ) -> Result<PreparedState> {
        if let Some(p) = parent
            && p.height + 1 != height
        {
            return Err(StorageError::OutOfOrder { head: p.height, got: height });
        }
        let reader = self.jmt_reader(parent)?;
        let (root, nodes) = match self.suite {
            Suite::Standard => update_tree::<sha2::Sha256>(&reader, height, changes),
            Suite::Sm => update_tree::<sm3::Sm3>(&reader, height, changes),
        }
        .map_err(|e| StorageError::State(e.to_string()))?;
        Ok(PreparedState { height, root: Hash(root.0), nodes })
    }

    fn commit_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        state: &PreparedState,
    ) -> Result<()> {
        self.write_block(block, receipts, state, None)
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{Address, PrivateKey, Scheme};
    use consortia_types::{Header, ReceiptStatus};

    use super::*;
    use crate::{StateHistory, verify_state_proof};

    pub(super) fn genesis(suite: Suite) -> Genesis {
        let validator = PrivateKey::generate(Scheme::Ed25519).public_key();
        Genesis::solo(9, "test", suite, validator, 1000)
    }

    pub(super) fn header(height: Height, state_root: Hash, time_ms: u64) -> Header {
        consortia_test_utils::genesis::header(9, height, state_root, time_ms)
    }

    fn commit(store: &ChainStore, height: Height, changes: &[(&str, Option<&str>)]) -> Hash {
        let changes: StateChanges = changes
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect();
        commit_state(store, height, changes, 1000 + height * 10).header.state_root
    }

    /// Commits an empty block `height` (block 0: initializes) with `changes`, at `time_ms`.
    pub(super) fn commit_state(
        store: &ChainStore,
        height: Height,
        changes: StateChanges,
        time_ms: u64,
    ) -> Block {
        let prepared = store.prepare_state(height, changes, None).unwrap();
        let block = Block {
            header: header(height, prepared.root(), time_ms),
            transactions: vec![],
            certificate: None,
        };
        if height == 0 {
            store.initialize(&block, &prepared).unwrap();
        } else {
            store.commit_block(&block, &[], &prepared).unwrap();
        }
        block
    }

    /// A block's changes from `(key, value)` pairs, `None` a deletion.
    fn changes_of(pairs: &[(u8, Option<u8>)]) -> StateChanges {
        pairs.iter().map(|(k, v)| (vec![*k], v.map(|v| vec![v]))).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The batch insert (blocks without deletions) and the key-by-key insert must build the
        /// same tree, node for node, over any history of inserts, updates and deletions.
        #[test]
        fn batched_and_key_by_key_updates_make_the_same_tree(
            history in proptest::collection::vec(
                proptest::collection::vec((0u8..48, proptest::option::weighted(0.8, proptest::prelude::any::<u8>())), 1..24),
                1..8,
            ),
            last in proptest::collection::vec((0u8..64, proptest::prelude::any::<u8>()), 1..32),
        ) {
            let store = ChainStore::in_memory(&genesis(Suite::Standard)).unwrap();
            commit_state(&store, 0, changes_of(&[(255, Some(0))]), 1000);
            for (i, block) in history.iter().enumerate() {
                commit_state(&store, i as u64 + 1, changes_of(block), 2000 + i as u64);
            }
            let height = history.len() as u64 + 1;
            let last: Vec<_> = last.into_iter().map(|(k, v)| (k, Some(v))).collect();
            let reader = store.jmt_reader(None).unwrap();
            let (root, nodes) =
                update_tree::<sha2::Sha256>(&reader, height, changes_of(&last)).unwrap();
            let tree = JellyfishMerkleTree::<_, sha2::Sha256>::new(&reader);
            let set = changes_of(&last).into_iter().map(|(k, v)| (KeyHash::with::<sha2::Sha256>(&k), v));
            let (expected_root, expected) = tree.put_value_set(set, height).unwrap();
            proptest::prop_assert_eq!(root, expected_root);
            proptest::prop_assert_eq!(nodes, expected.node_batch);
        }
    }

    #[test]
    fn a_pending_state_reads_one_snapshot_with_its_pending_block_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) =
            ChainStore::open(&dir.path().join("db"), &genesis(Suite::Standard)).unwrap();
        commit(&store, 0, &[("a", Some("1")), ("b", Some("1"))]);
        let changes: StateChanges = [(b"b".to_vec(), Some(b"2".to_vec()))].into_iter().collect();
        let pending = store.prepare_state(1, changes, None).unwrap();
        let state = PendingState::new(&store, Some(&pending));
        assert_eq!(state.get(b"a").unwrap(), Some(b"1".to_vec()));
        // Blocks committed while a block executes do not change what it reads.
        commit(&store, 1, &[("a", Some("2")), ("b", Some("2"))]);
        commit(&store, 2, &[("a", Some("3"))]);
        assert_eq!(state.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(state.get(b"b").unwrap(), Some(b"2".to_vec()), "the pending block answers");
        assert_eq!(PendingState::new(&store, None).get(b"a").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn the_latest_height_follows_commits_and_is_read_back_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(Suite::Standard);
        {
            let (store, _) = ChainStore::open(&dir.path().join("db"), &g).unwrap();
            assert_eq!(store.latest_height().unwrap(), 0);
            for height in 0..=3 {
                commit(&store, height, &[("k", Some("v"))]);
                assert_eq!(store.latest_height().unwrap(), height);
            }
        }
        let (store, fresh) = ChainStore::open(&dir.path().join("db"), &g).unwrap();
        assert!(!fresh);
        assert_eq!(store.latest_height().unwrap(), 3);
    }

    #[test]
    fn versioned_state_with_proofs_for_both_suites() {
        for suite in [Suite::Standard, Suite::Sm] {
            let dir = tempfile::tempdir().unwrap();
            let g = genesis(suite);
            let (store, fresh) = ChainStore::open(&dir.path().join("db"), &g).unwrap();
            assert!(fresh);
            let r0 = commit(&store, 0, &[("a", Some("1"))]);
            let r1 = commit(&store, 1, &[("a", Some("2")), ("b", Some("x"))]);
            let r2 = commit(&store, 2, &[("b", None)]);
            assert_eq!(store.latest_height().unwrap(), 2);
            assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
            assert_eq!(store.get(b"b").unwrap(), None);

            let p0 = store.get_with_proof(b"a", 0).unwrap();
            assert_eq!((p0.state_root, p0.value.as_deref()), (r0, Some(&b"1"[..])));
            verify_state_proof(suite, r0, b"a", Some(b"1"), &p0.proof).unwrap();
            // The same proof does not verify a different value or root.
            assert!(verify_state_proof(suite, r0, b"a", Some(b"2"), &p0.proof).is_err());
            assert!(verify_state_proof(suite, r1, b"a", Some(b"1"), &p0.proof).is_err());

            let p1 = store.get_with_proof(b"b", 1).unwrap();
            verify_state_proof(suite, r1, b"b", Some(b"x"), &p1.proof).unwrap();
            // Deleted at 2: a proof of absence.
            let p2 = store.get_with_proof(b"b", 2).unwrap();
            assert_eq!(p2.value, None);
            verify_state_proof(suite, r2, b"b", None, &p2.proof).unwrap();
            assert!(verify_state_proof(suite, r2, b"b", Some(b"x"), &p2.proof).is_err());
            assert!(matches!(
                store.get_with_proof(b"a", 3),
                Err(StorageError::FutureHeight { requested: 3, latest: 2 })
            ));
        }
    }

    #[test]
    fn reopen_resumes_and_refuses_other_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let g = genesis(Suite::Standard);
        {
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            commit(&store, 0, &[("k", Some("v"))]);
            commit(&store, 1, &[("k", Some("w"))]);
            // Out of order and replayed heights are refused.
            let prepared = store.prepare_state(5, StateChanges::new(), None).unwrap();
            let block =
                Block { header: header(5, Hash::ZERO, 0), transactions: vec![], certificate: None };
            assert!(matches!(
                store.commit_block(&block, &[], &prepared),
                Err(StorageError::OutOfOrder { head: 1, got: 5 })
            ));
        }
        let (store, fresh) = ChainStore::open(&path, &g).unwrap();
        assert!(!fresh);
        assert_eq!(store.latest_height().unwrap(), 1);
        assert_eq!(store.get(b"k").unwrap(), Some(b"w".to_vec()));
        drop(store);
        let other = genesis(Suite::Standard);
        assert!(matches!(
            ChainStore::open(&path, &other),
            Err(StorageError::GenesisMismatch { .. })
        ));
    }

    #[test]
    fn blocks_transactions_and_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(Suite::Standard);
        let (store, _) = ChainStore::open(&dir.path().join("db"), &g).unwrap();
        commit(&store, 0, &[]);
        let key = PrivateKey::generate(Scheme::Ed25519);
        let tx = consortia_types::Transaction::sign(
            consortia_types::TxBody {
                chain_id: 9,
                nonce: 0,
                public_key: key.public_key(),
                payload: consortia_types::Payload::Notarize(consortia_types::NotarizeRecord {
                    id: "r".into(),
                    fields: Default::default(),
                    content_hash: Hash::ZERO,
                    metadata: String::new(),
                }),
            },
            &key,
        );
        let topic = Hash([0x77; 32]);
        let receipt = Receipt {
            status: ReceiptStatus::Success,
            steps_used: 1,
            events: vec![consortia_types::Event {
                contract: Address([1; 20]),
                topics: vec![Hash([0x11; 32]), topic],
                data: vec![],
            }],
            output: vec![],
        };
        let prepared = store.prepare_state(1, StateChanges::new(), None).unwrap();
        let block = Block {
            header: header(1, prepared.root(), 1010),
            transactions: vec![tx.clone()],
            certificate: None,
        };
        store.commit_block(&block, std::slice::from_ref(&receipt), &prepared).unwrap();
        let hash = tx.hash(Suite::Standard.hash());
        let found = store.transaction(&hash).unwrap().unwrap();
        assert_eq!((found.height, found.position), (1, 0));
        assert_eq!(found.transaction, tx);
        assert_eq!(found.receipt, receipt);
        assert_eq!(store.transaction(&Hash([7; 32])).unwrap(), None);
        assert_eq!(store.block(1).unwrap().unwrap(), block);
        let bh = block.header.hash(Suite::Standard.hash());
        assert_eq!(store.height_by_hash(&bh).unwrap(), Some(1));
        let in_range = store.headers_by_time(1005, 2000, 10, false).unwrap();
        assert_eq!(in_range.iter().map(|h| h.header.height).collect::<Vec<_>>(), vec![1]);
        assert_eq!(store.headers_by_time(0, 2000, 1, false).unwrap().len(), 1);
        let newest = store.headers_by_time(0, 2000, 1, true).unwrap();
        assert_eq!(newest[0].header.height, 1);
        assert!(store.block(2).unwrap().is_none());
        let at = LogLocation { height: 1, position: 0, event: 0 };
        assert_eq!(store.logs_by_topic(&topic, 10).unwrap(), vec![at]);
        assert_eq!(store.logs_by_topic(&Hash([0x11; 32]), 10).unwrap(), vec![at]);
        assert!(store.logs_by_topic(&Hash([0x12; 32]), 10).unwrap().is_empty());
        assert_eq!(store.receipt_at(1, 0).unwrap(), Some(receipt));
        assert_eq!(store.receipt_at(1, 1).unwrap(), None);
    }

    /// Notarizations (to the notary) and EVM calls (to a contract, and a creation) from two
    /// senders over three minutes, committed block by block.
    fn explorer_chain(store: &ChainStore) -> (Address, Address, Address) {
        commit(store, 0, &[]);
        explorer_blocks(store)
    }

    /// An account only a token transfer names.
    const PAYEE: Address = Address([0xee; 20]);

    /// Blocks 1 to 3 of [`explorer_chain`]; each also sets the state key `block` to its height.
    fn explorer_blocks(store: &ChainStore) -> (Address, Address, Address) {
        let (a, b) = (PrivateKey::generate(Scheme::Ed25519), PrivateKey::generate(Scheme::Ed25519));
        let contract = Address([0xcc; 20]);
        let created = Address([0xdd; 20]);
        let sign = |key: &PrivateKey, nonce, payload| {
            Transaction::sign(
                consortia_types::TxBody {
                    chain_id: 9,
                    nonce,
                    public_key: key.public_key(),
                    payload,
                },
                key,
            )
        };
        let notarize = |id: &str| {
            consortia_types::Payload::Notarize(consortia_types::NotarizeRecord {
                id: id.into(),
                fields: Default::default(),
                content_hash: Hash::ZERO,
                metadata: String::new(),
            })
        };
        let call = |to| {
            consortia_types::Payload::Evm(consortia_types::EvmCall {
                to,
                value: 0,
                input: vec![],
                gas_limit: 100_000,
            })
        };
        let ok = |output: Vec<u8>| Receipt {
            status: ReceiptStatus::Success,
            steps_used: 1,
            events: vec![],
            output,
        };
        let b_address = b.public_key().address();
        // The contract is an ERC-20 token: it mints 100 to b, b pays 30 to PAYEE.
        let moved = |from: Address, to: Address, amount: u64| {
            let word = |a: Address| {
                let mut w = [0u8; 32];
                w[12..].copy_from_slice(&a.0);
                Hash(w)
            };
            let topic = consortia_crypto::keccak256(b"Transfer(address,address,uint256)");
            Receipt {
                events: vec![consortia_types::Event {
                    contract,
                    topics: vec![topic, word(from), word(to)],
                    data: alloy_primitives::U256::from(amount).to_be_bytes::<32>().to_vec(),
                }],
                ..ok(vec![])
            }
        };
        // Block 1 (minute 0): a notarizes; block 2 (minute 0): b calls the contract twice;
        // block 3 (minute 2): a creates a contract.
        let blocks = [
            (60_000 * 10, vec![(sign(&a, 0, notarize("x")), ok(vec![]))]),
            (
                60_000 * 10 + 500,
                vec![
                    (sign(&b, 0, call(Some(contract))), moved(Address([0; 20]), b_address, 100)),
                    (sign(&b, 1, call(Some(contract))), moved(b_address, PAYEE, 30)),
                ],
            ),
            (60_000 * 12, vec![(sign(&a, 1, call(None)), ok(created.0.to_vec()))]),
        ];
        for (i, (time, txs)) in blocks.into_iter().enumerate() {
            let height = i as u64 + 1;
            let changes =
                StateChanges::from([(b"block".to_vec(), Some(height.to_string().into_bytes()))]);
            let prepared = store.prepare_state(height, changes, None).unwrap();
            let (transactions, receipts): (Vec<_>, Vec<_>) = txs.into_iter().unzip();
            let block = Block {
                header: header(height, prepared.root(), time),
                transactions,
                certificate: None,
            };
            store.commit_block(&block, &receipts, &prepared).unwrap();
        }
        (a.public_key().address(), b.public_key().address(), contract)
    }

    fn places(txs: &[StoredTx]) -> Vec<(Height, u32)> {
        txs.iter().map(|t| (t.height, t.position)).collect()
    }

    fn check_explorer_indexes(store: &ChainStore, a: Address, b: Address, contract: Address) {
        let recent = store.recent_txs(None, 10).unwrap();
        assert_eq!(places(&recent), vec![(3, 0), (2, 1), (2, 0), (1, 0)]);
        assert_eq!(recent[0].hash, recent[0].transaction.hash(Suite::Standard.hash()));
        assert_eq!(places(&store.recent_txs(Some((2, 1)), 2).unwrap()), vec![(2, 0), (1, 0)]);
        assert_eq!(places(&store.txs_by_address(&a, None, 10).unwrap()), vec![(3, 0), (1, 0)]);
        assert_eq!(places(&store.txs_by_address(&b, None, 1).unwrap()), vec![(2, 1)]);
        assert_eq!(places(&store.txs_by_address(&b, Some((2, 1)), 5).unwrap()), vec![(2, 0)]);
        assert_eq!(places(&store.txs_by_address(&contract, None, 10).unwrap()).len(), 2);
        let notary = consortia_types::NOTARY_ADDRESS;
        assert_eq!(places(&store.txs_by_address(&notary, None, 10).unwrap()), vec![(1, 0)]);
        let created = Address([0xdd; 20]);
        assert_eq!(places(&store.txs_by_address(&created, None, 10).unwrap()), vec![(3, 0)]);
        assert!(store.txs_by_address(&Address([9; 20]), None, 10).unwrap().is_empty());
        let volume = store.volume(10, 13).unwrap();
        let counts: Vec<_> = volume.iter().map(|v| (v.minute, v.blocks, v.txs)).collect();
        assert_eq!(counts, vec![(10, 2, 3), (12, 1, 1)]);
        assert!(store.volume(13, 10).unwrap().is_empty());
        let genesis = store.genesis.accounts.len() as u64;
        assert_eq!(
            store.totals().unwrap(),
            // a, b, the contract a called, the notary, the contract created, the token's payee.
            Totals { blocks: 4, transactions: 4, accounts: 6 + genesis },
            "every block (the genesis too), transaction and account seen"
        );
        check_token_index(store, b, contract);
    }

    /// The token `explorer_blocks` moves: 100 minted to b, 30 paid on to [`PAYEE`].
    fn check_token_index(store: &ChainStore, b: Address, token: Address) {
        let stats = TokenStats { standard: crate::TokenStandard::Erc20, holders: 2, transfers: 2 };
        assert_eq!(store.token(&token).unwrap(), Some(stats));
        assert_eq!(store.token(&Address([9; 20])).unwrap(), None);
        let holders = store.token_holders(&token, None, 10, 10).unwrap();
        let balances: Vec<_> = holders.iter().map(|h| (h.address, h.balance.to::<u64>())).collect();
        assert_eq!(balances, vec![(b, 70), (PAYEE, 30)], "largest first");
        let next = store.token_holders(&token, Some((U256::from(70), b)), 10, 0).unwrap();
        assert_eq!(next.iter().map(|h| h.address).collect::<Vec<_>>(), vec![PAYEE]);
        let transfers = store.token_transfers(&token, None, 10).unwrap();
        let places: Vec<_> =
            transfers.iter().map(|t| (t.at.height, t.at.position, t.log_index)).collect();
        assert_eq!(places, vec![(2, 1, 1), (2, 0, 0)], "newest first, logIndex block-wide");
        let older = store.token_transfers(&token, Some(transfers[0].at), 10).unwrap();
        assert_eq!(older, transfers[1..]);
    }

    #[test]
    fn explorer_indexes_serve_recent_transactions_addresses_and_volume() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(Suite::Standard);
        let (store, _) = ChainStore::open(&dir.path().join("db"), &g).unwrap();
        let (a, b, contract) = explorer_chain(&store);
        check_explorer_indexes(&store, a, b, contract);
    }

    #[test]
    fn a_store_made_before_the_volume_table_is_counted_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis(Suite::Standard);
        let path = dir.path().join("db");
        let (a, b, contract) = {
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            let parties = explorer_chain(&store);
            // As an older version left it: no volume, no marker.
            let txn = store.db.begin_write().unwrap();
            txn.delete_table(VOLUME).unwrap();
            txn.open_table(META).unwrap().remove(META_EXPLORER).unwrap();
            txn.commit().unwrap();
            assert!(store.volume(10, 13).is_err());
            parties
        };
        let (store, fresh) = ChainStore::open(&path, &g).unwrap();
        assert!(!fresh);
        check_explorer_indexes(&store, a, b, contract);
    }

    /// The answers every index gives on [`explorer_chain`], with a state key of each block.
    fn check_indexes(store: &ChainStore, parties: (Address, Address, Address)) {
        check_explorer_indexes(store, parties.0, parties.1, parties.2);
        for stored in store.recent_txs(None, 10).unwrap() {
            let found = store.transaction(&stored.hash).unwrap().unwrap();
            assert_eq!((found.height, found.position), (stored.height, stored.position));
        }
        assert_eq!(store.get(b"block").unwrap(), Some(b"3".to_vec()));
        assert_eq!(store.get(b"never written").unwrap(), None);
        let at_1 = store.state_at(1).unwrap().get(b"block").unwrap();
        assert_eq!(at_1, Some(b"1".to_vec()));
        verify_state_proof(
            Suite::Standard,
            store.header(2).unwrap().unwrap().header.state_root,
            b"block",
            Some(b"2"),
            &store.get_with_proof(b"block", 2).unwrap().proof,
        )
        .unwrap();
    }

    fn index_dir(path: &Path) -> std::path::PathBuf {
        path.with_extension("index")
    }

    #[test]
    fn indexes_lost_with_their_directory_are_rebuilt_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let parties = explorer_chain(&ChainStore::open(&path, &g).unwrap().0);
        std::fs::remove_dir_all(index_dir(&path)).unwrap();
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        check_indexes(&store, parties);
    }

    #[test]
    fn indexes_of_an_older_layout_are_rebuilt_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let parties = explorer_chain(&ChainStore::open(&path, &g).unwrap().0);
        // As a store from before `latest_version` left them: no layout, that index empty.
        let Indexes::Lsm { keyspaces, meta, .. } = Indexes::open(&index_dir(&path)).unwrap() else {
            unreachable!("on disk")
        };
        keyspaces[Index::LatestVersion as usize].clear().unwrap();
        meta.remove(crate::index::META_LAYOUT).unwrap();
        drop((keyspaces, meta));
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        check_indexes(&store, parties);
    }

    #[test]
    fn indexes_a_crash_left_behind_the_blocks_catch_up_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let early = dir.path().join("early.index");
        let parties = {
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            commit(&store, 0, &[]);
            drop(store);
            // The indexes as a crash right after block 0's redb commit could leave them.
            copy_dir(&index_dir(&path), &early);
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            explorer_blocks(&store)
        };
        std::fs::remove_dir_all(index_dir(&path)).unwrap();
        std::fs::rename(&early, index_dir(&path)).unwrap();
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        check_indexes(&store, parties);
    }

    #[test]
    fn indexes_ahead_of_the_blocks_are_rebuilt_from_them() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        commit(&store, 0, &[]);
        drop(store);
        let early = dir.path().join("early.redb");
        std::fs::copy(&path, &early).unwrap();
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        explorer_blocks(&store);
        let tx = store.recent_txs(None, 1).unwrap().remove(0);
        drop(store);
        // redb restored from an older copy: the indexes know blocks it does not.
        std::fs::rename(&early, &path).unwrap();
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        assert_eq!(store.latest_height().unwrap(), 0);
        assert_eq!(store.get(b"block").unwrap(), None);
        // The chain grows again with other transactions at the same heights: nothing of the
        // forgotten ones is found.
        let parties = explorer_blocks(&store);
        assert_eq!(store.transaction(&tx.hash).unwrap(), None);
        assert!(store.txs_by_address(&tx.transaction.sender(), None, 10).unwrap().is_empty());
        check_indexes(&store, parties);
    }

    #[test]
    fn an_index_directory_that_cannot_be_opened_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let parties = explorer_chain(&ChainStore::open(&path, &g).unwrap().0);
        // Every file of the indexes overwritten with junk.
        for file in files(&index_dir(&path)) {
            std::fs::write(file, b"not an index").unwrap();
        }
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        check_indexes(&store, parties);
    }

    #[test]
    fn a_store_with_its_indexes_in_redb_moves_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let parties = {
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            let parties = explorer_chain(&store);
            // As an older version left it: the indexes as redb tables, no index directory.
            let txn = store.db.begin_write().unwrap();
            for name in MOVED_TO_INDEXES {
                let table: TableDefinition<&[u8], ()> = TableDefinition::new(name);
                txn.open_table(table).unwrap().insert([1u8].as_slice(), ()).unwrap();
            }
            txn.commit().unwrap();
            parties
        };
        std::fs::remove_dir_all(index_dir(&path)).unwrap();
        let (store, _) = ChainStore::open(&path, &g).unwrap();
        let read = store.db.begin_read().unwrap();
        let left: Vec<String> = read.list_tables().unwrap().map(|t| t.name().to_owned()).collect();
        assert!(MOVED_TO_INDEXES.iter().all(|name| !left.iter().any(|l| l == name)), "{left:?}");
        check_indexes(&store, parties);
    }

    #[test]
    fn a_fresh_store_beside_old_indexes_starts_them_over() {
        let dir = tempfile::tempdir().unwrap();
        let (g, path) = (genesis(Suite::Standard), dir.path().join("db"));
        let tx = {
            let (store, _) = ChainStore::open(&path, &g).unwrap();
            explorer_chain(&store);
            store.recent_txs(None, 1).unwrap().remove(0)
        };
        std::fs::remove_file(&path).unwrap();
        let (store, fresh) = ChainStore::open(&path, &g).unwrap();
        assert!(fresh);
        commit(&store, 0, &[]);
        assert_eq!(store.transaction(&tx.hash).unwrap(), None);
        assert_eq!(store.get(b"block").unwrap(), None);
    }

    #[test]
    fn the_memory_store_answers_as_the_disk_store_does() {
        let store = ChainStore::in_memory(&genesis(Suite::Standard)).unwrap();
        let parties = explorer_chain(&store);
        check_indexes(&store, parties);
    }

    fn files(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { out.extend(files(&path)) } else { out.push(path) }
        }
        out
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy_dir(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
}
