//! Hot and cold tiers of the block history: blocks, transactions and receipts older than the
//! operator wants on the main disk move to an archive (another redb file, in a directory of the
//! operator's choosing, e.g. on another disk) and are read from there transparently, or are
//! pruned. Both run online, in steps of one write transaction each, so block commits go on
//! between steps.
//!
//! What stays in the hot store whatever happens: block 0, the head block, every block hash
//! (so a lookup by hash can say "pruned" rather than "unknown"), the time index of archived
//! blocks, the explorer's volume, and the whole authenticated state with its history (the
//! state is not pruned: a state sync or a balance at a past block still reads it).
//!
//! The tiers are two heights in `meta`, read in the same read transaction as the blocks, so a
//! reader never sees a block in neither tier: blocks `1..pruned_below` are gone,
//! `pruned_below..archived_below` are in the archive, the rest are hot. Moves are crash-safe:
//! archiving commits the copy to the archive before the hot store forgets it, pruning forgets
//! first and removes from the archive after, and restoring copies back (and then marks it
//! restored) in one hot transaction per step.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use consortia_types::{Height, decode, encode};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction,
};

use super::{
    ChainStore, HEADERS, META, META_GENESIS, RECEIPTS, TIME_INDEX, TXS, corrupt, head_value,
};
use crate::{Result, StorageError, StoredHeader};

/// First height still held (in either tier); below it, only block 0 is left.
const META_PRUNED_BELOW: &str = "pruned_below";
/// First height held in the hot store (block 0 always is).
const META_ARCHIVED_BELOW: &str = "archived_below";
/// The directory of the archive, while anything is archived or it was chosen.
const META_ARCHIVE_DIR: &str = "archive_dir";
/// The archive's file in its directory.
const ARCHIVE_FILE: &str = "blocks.redb";
/// A step moves or prunes blocks until it has this many transactions, or [`STEP_BLOCKS`]
/// blocks: a commit waits for at most one step (redb has one writer at a time).
const STEP_TXS: usize = 10_000;
const STEP_BLOCKS: u64 = 256;
/// The archive's cache: it is read rarely.
const ARCHIVE_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Where the history of a store is kept: what [`ChainStore::history`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The first block held (1 when nothing is pruned); blocks `1..first_block` are pruned.
    pub first_block: Height,
    /// The first block in the hot store; blocks `first_block..first_hot` are in the archive.
    pub first_hot: Height,
    /// The archive's directory, if one was chosen.
    pub archive_dir: Option<PathBuf>,
    /// The last committed block.
    pub head: Height,
}

/// The two heights that split the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tiers {
    pruned_below: Height,
    archived_below: Height,
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers { pruned_below: 1, archived_below: 1 }
    }
}

impl Tiers {
    fn read(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Tiers> {
        let height = |name| -> Result<Option<Height>> {
            meta.get(name)?.map(|v| head_value(v.value())).transpose()
        };
        let default = Tiers::default();
        Ok(Tiers {
            pruned_below: height(META_PRUNED_BELOW)?.unwrap_or(default.pruned_below),
            archived_below: height(META_ARCHIVED_BELOW)?.unwrap_or(default.archived_below),
        })
    }

    /// A history that starts at block `first` (a store restored from a state snapshot).
    pub(super) fn starting_at(first: Height) -> Tiers {
        Tiers { pruned_below: first, archived_below: first }
    }

    pub(super) fn write(&self, txn: &WriteTransaction) -> Result<()> {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_PRUNED_BELOW, self.pruned_below.to_be_bytes().as_slice())?;
        meta.insert(META_ARCHIVED_BELOW, self.archived_below.to_be_bytes().as_slice())?;
        Ok(())
    }

    /// The first height whose block is still held; see [`Blocks::at`].
    pub(super) fn first_held(&self) -> Height {
        self.pruned_below
    }

    /// The first height whose block is in the hot store.
    pub(super) fn first_hot(&self) -> Height {
        self.archived_below
    }

    pub(super) fn is_pruned(&self, height: Height) -> bool {
        height != 0 && height < self.pruned_below
    }

    fn is_archived(&self, height: Height) -> bool {
        height != 0 && height >= self.pruned_below && height < self.archived_below
    }
}

type OnceTable<K, V> = OnceCell<ReadOnlyTable<K, V>>;

/// The block tables of one tier in one read transaction, each opened at its first use (a
/// header read, the most frequent, opens one table).
pub(super) struct Tables {
    read: ReadTransaction,
    headers: OnceTable<u64, &'static [u8]>,
    txs: OnceTable<(u64, u32), &'static [u8]>,
    receipts: OnceTable<(u64, u32), &'static [u8]>,
}

impl Tables {
    fn new(read: ReadTransaction) -> Tables {
        Tables { read, headers: OnceCell::new(), txs: OnceCell::new(), receipts: OnceCell::new() }
    }

    pub(super) fn headers(&self) -> Result<&ReadOnlyTable<u64, &'static [u8]>> {
        opened(&self.headers, || self.read.open_table(HEADERS))
    }

    pub(super) fn txs(&self) -> Result<&ReadOnlyTable<(u64, u32), &'static [u8]>> {
        opened(&self.txs, || self.read.open_table(TXS))
    }

    pub(super) fn receipts(&self) -> Result<&ReadOnlyTable<(u64, u32), &'static [u8]>> {
        opened(&self.receipts, || self.read.open_table(RECEIPTS))
    }
}

fn opened<T>(
    cell: &OnceCell<T>,
    open: impl FnOnce() -> std::result::Result<T, redb::TableError>,
) -> Result<&T> {
    if let Some(table) = cell.get() {
        return Ok(table);
    }
    let table = open()?;
    Ok(cell.get_or_init(|| table))
}

/// The archive: its directory and its database.
#[derive(Debug)]
pub(super) struct Archive {
    dir: PathBuf,
    db: Arc<Database>,
}

/// The archive as the store holds it: open, not chosen, or chosen but not openable (reads of
/// archived blocks then say why).
#[derive(Debug, Default)]
pub(super) enum ArchiveSlot {
    #[default]
    None,
    Open(Archive),
    Unavailable {
        dir: PathBuf,
        error: String,
    },
}

impl Archive {
    /// Opens (or creates) the archive in `dir`, for the chain of `genesis_record` (the encoded
    /// genesis the hot store keeps): an archive of another chain is refused.
    pub(super) fn open(dir: &Path, genesis_record: &[u8]) -> Result<Archive> {
        let fail = |e: &dyn std::fmt::Display| {
            StorageError::Archive(format!("the archive at {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let db = Database::builder()
            .set_cache_size(ARCHIVE_CACHE_BYTES)
            .create(dir.join(ARCHIVE_FILE))
            .map_err(|e| fail(&e))?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_GENESIS)?.map(|v| v.value().to_vec());
            match found {
                Some(found) if found != genesis_record => {
                    return Err(fail(&"it holds the blocks of another chain"));
                }
                Some(_) => {}
                None => {
                    meta.insert(META_GENESIS, genesis_record)?;
                }
            }
            txn.open_table(HEADERS)?;
            txn.open_table(TXS)?;
            txn.open_table(RECEIPTS)?;
        }
        txn.commit()?;
        Ok(Archive { dir: dir.to_path_buf(), db: Arc::new(db) })
    }
}

/// The block history as one read sees it: the hot tables, and the archive's when a block is
/// there (opened at the first such read).
pub(super) struct Blocks {
    tiers: Tiers,
    hot: Tables,
    archive: Option<std::result::Result<Arc<Database>, String>>,
    archive_tables: OnceCell<Tables>,
}

impl Blocks {
    /// The hot store's read transaction the tiers were read in, for its other tables.
    pub(super) fn read(&self) -> &ReadTransaction {
        &self.hot.read
    }

    pub(super) fn tiers(&self) -> Tiers {
        self.tiers
    }

    pub(super) fn hot(&self) -> &Tables {
        &self.hot
    }

    /// The tables holding block `height`: an error if it was pruned, or is archived and the
    /// archive cannot be read.
    pub(super) fn at(&self, height: Height) -> Result<&Tables> {
        if self.tiers.is_pruned(height) {
            return Err(StorageError::Pruned { height, first: self.tiers.pruned_below });
        }
        if !self.tiers.is_archived(height) {
            return Ok(&self.hot);
        }
        self.archived()
    }

    /// The archive's tables (opened once per read).
    pub(super) fn archived(&self) -> Result<&Tables> {
        if let Some(tables) = self.archive_tables.get() {
            return Ok(tables);
        }
        let db = match &self.archive {
            Some(Ok(db)) => db,
            Some(Err(e)) => return Err(StorageError::Archive(e.clone())),
            None => return Err(StorageError::Archive("no archive is attached".into())),
        };
        let tables = Tables::new(db.begin_read()?);
        Ok(self.archive_tables.get_or_init(|| tables))
    }
}

impl ChainStore {
    /// Opens the archive a store recorded (when the store is opened). An archive that cannot be
    /// opened does not stop the node: reads of archived blocks say why.
    pub(super) fn attach_recorded_archive(&self) -> Result<()> {
        let read = self.db.begin_read()?;
        let meta = read.open_table(META)?;
        let Some(dir) = meta.get(META_ARCHIVE_DIR)? else { return Ok(()) };
        let dir = PathBuf::from(String::from_utf8_lossy(dir.value()).into_owned());
        let record = self.genesis_record(&meta)?;
        *self.archive.write() = match Archive::open(&dir, &record) {
            Ok(archive) => ArchiveSlot::Open(archive),
            Err(e) => {
                tracing::warn!(target: "storage::history", dir = %dir.display(), error = %e,
                    "the archive cannot be opened; archived blocks cannot be read until it can");
                ArchiveSlot::Unavailable { dir, error: format!("{e}; mount it and restart") }
            }
        };
        Ok(())
    }

    fn genesis_record(
        &self,
        meta: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Vec<u8>> {
        Ok(meta
            .get(META_GENESIS)?
            .map(|v| v.value().to_vec())
            .unwrap_or_else(|| encode(&self.genesis)))
    }

    /// The block history as of now, for reads: see [`Blocks`].
    pub(super) fn blocks(&self) -> Result<Blocks> {
        let read = self.db.begin_read()?;
        let tiers = Tiers::read(&read.open_table(META)?)?;
        let archive = if tiers.archived_below > tiers.pruned_below {
            Some(match &*self.archive.read() {
                ArchiveSlot::Open(archive) => Ok(archive.db.clone()),
                ArchiveSlot::Unavailable { error, .. } => Err(error.clone()),
                ArchiveSlot::None => Err("the store records archived blocks but no archive".into()),
            })
        } else {
            None
        };
        Ok(Blocks { tiers, hot: Tables::new(read), archive, archive_tables: OnceCell::new() })
    }

    /// Where the history is kept.
    pub fn history(&self) -> Result<History> {
        let read = self.db.begin_read()?;
        let tiers = Tiers::read(&read.open_table(META)?)?;
        let archive_dir = match &*self.archive.read() {
            ArchiveSlot::None => None,
            ArchiveSlot::Open(a) => Some(a.dir.clone()),
            ArchiveSlot::Unavailable { dir, .. } => Some(dir.clone()),
        };
        Ok(History {
            first_block: tiers.pruned_below,
            first_hot: tiers.archived_below,
            archive_dir,
            head: self.head.load(std::sync::atomic::Ordering::Acquire),
        })
    }

    /// Removes the blocks, transactions and receipts of heights `1..below` from both tiers (the
    /// head block is always kept), online, a step at a time. Returns the first block still
    /// held. Reads of pruned blocks answer [`StorageError::Pruned`].
    pub fn prune(&self, below: Height) -> Result<Height> {
        let _one = self.history_lock.lock();
        loop {
            let txn = self.db.begin_write()?;
            let head = Self::head_in(&txn)?.unwrap_or(0);
            let tiers = Tiers::read(&txn.open_table(META)?)?;
            let target = below.min(head.max(1));
            if tiers.pruned_below >= target {
                return Ok(tiers.pruned_below);
            }
            let end = step_end(
                &txn.open_table(HEADERS)?,
                self.archived_tables()?.as_ref(),
                tiers.pruned_below,
                target,
                &tiers,
            )?;
            // Hot blocks in the step: forget them with their time index entries.
            let hot_from = tiers.archived_below.max(tiers.pruned_below);
            if end > hot_from {
                remove_blocks(&txn, hot_from, end, true)?;
            }
            let next = Tiers { pruned_below: end, archived_below: tiers.archived_below.max(end) };
            next.write(&txn)?;
            txn.commit()?;
            // Archived blocks in the step: the hot store no longer points at them, so a crash
            // here leaves only unreachable copies, removed by the next prune of the archive.
            if tiers.archived_below > tiers.pruned_below
                && let ArchiveSlot::Open(archive) = &*self.archive.read()
            {
                let txn = archive.db.begin_write()?;
                remove_blocks(&txn, 0, end.min(tiers.archived_below), false)?;
                txn.commit()?;
            }
            tracing::info!(target: "storage::history", below = end, target, "pruned blocks");
        }
    }

    /// Moves the hot blocks of heights below `below` (never the head) to the archive in `dir`,
    /// online, a step at a time: each step is committed to the archive before the hot store
    /// forgets it. Returns the first block left hot. An archive holding blocks elsewhere must
    /// be restored before another directory is chosen.
    pub fn archive(&self, dir: &Path, below: Height) -> Result<Height> {
        let _one = self.history_lock.lock();
        let archive = self.attach_archive(dir)?;
        loop {
            let read = self.db.begin_read()?;
            let head = self.head.load(std::sync::atomic::Ordering::Acquire);
            let tiers = Tiers::read(&read.open_table(META)?)?;
            let target = below.min(head.max(1));
            let from = tiers.archived_below;
            if from >= target {
                return Ok(from);
            }
            let hot = Tables::new(read);
            let end = step_end(hot.headers()?, None, from, target, &tiers)?;
            let txn = archive.begin_write()?;
            copy_blocks(&hot, &txn, from, end)?;
            txn.commit()?;
            let txn = self.db.begin_write()?;
            remove_blocks(&txn, from, end, false)?;
            Tiers { archived_below: end, ..tiers }.write(&txn)?;
            txn.commit()?;
            tracing::info!(target: "storage::history", below = end, target, dir = %dir.display(),
                "archived blocks");
        }
    }

    /// Moves every archived block back to the hot store, newest first, online, a step at a
    /// time; then detaches the archive and removes its file. Returns the first hot block.
    pub fn restore(&self) -> Result<Height> {
        let _one = self.history_lock.lock();
        loop {
            let tiers = Tiers::read(&self.db.begin_read()?.open_table(META)?)?;
            let Some(archive) = self.archived_tables()? else {
                if tiers.archived_below > tiers.pruned_below {
                    return Err(StorageError::Archive(
                        "the archive cannot be opened, so its blocks cannot be restored".into(),
                    ));
                }
                return Ok(tiers.archived_below);
            };
            if tiers.archived_below <= tiers.pruned_below {
                self.detach_archive()?;
                return Ok(tiers.archived_below);
            }
            let start = tiers.archived_below.saturating_sub(STEP_BLOCKS).max(tiers.pruned_below);
            let txn = self.db.begin_write()?;
            copy_blocks(&archive, &txn, start, tiers.archived_below)?;
            Tiers { archived_below: start, ..tiers }.write(&txn)?;
            txn.commit()?;
            tracing::info!(target: "storage::history", first_hot = start, "restored blocks");
        }
    }

    /// The archive's tables, if one is open.
    fn archived_tables(&self) -> Result<Option<Tables>> {
        match &*self.archive.read() {
            ArchiveSlot::Open(archive) => Ok(Some(Tables::new(archive.db.begin_read()?))),
            _ => Ok(None),
        }
    }

    /// The archive in `dir`, opened and recorded if it is not the one attached.
    fn attach_archive(&self, dir: &Path) -> Result<Arc<Database>> {
        if let ArchiveSlot::Open(archive) = &*self.archive.read()
            && archive.dir == dir
        {
            return Ok(archive.db.clone());
        }
        let read = self.db.begin_read()?;
        let meta = read.open_table(META)?;
        let tiers = Tiers::read(&meta)?;
        if tiers.archived_below > tiers.pruned_below {
            let current = self.history()?.archive_dir.unwrap_or_default();
            return Err(StorageError::Archive(format!(
                "blocks {}..{} are archived at {}; restore them before choosing another \
                 directory",
                tiers.pruned_below,
                tiers.archived_below,
                current.display()
            )));
        }
        let archive = Archive::open(dir, &self.genesis_record(&meta)?)?;
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(META_ARCHIVE_DIR, dir.to_string_lossy().as_bytes())?;
        txn.commit()?;
        let db = archive.db.clone();
        *self.archive.write() = ArchiveSlot::Open(archive);
        Ok(db)
    }

    /// Forgets the archive once nothing is in it, and removes its file.
    fn detach_archive(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.remove(META_ARCHIVE_DIR)?;
        txn.commit()?;
        if let ArchiveSlot::Open(archive) = std::mem::take(&mut *self.archive.write()) {
            drop(archive.db);
            let file = archive.dir.join(ARCHIVE_FILE);
            if let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!(target: "storage::history", file = %file.display(), error = %e,
                    "the restored archive's file could not be removed");
            }
        }
        Ok(())
    }
}

/// The end of the step that starts at `from` towards `target`: [`STEP_BLOCKS`] blocks, or
/// fewer when they hold [`STEP_TXS`] transactions. Reads each block's header in the tier that
/// holds it.
fn step_end(
    hot: &impl ReadableTable<u64, &'static [u8]>,
    archive: Option<&Tables>,
    from: Height,
    target: Height,
    tiers: &Tiers,
) -> Result<Height> {
    let mut txs = 0;
    let mut end = from;
    while end < target && end - from < STEP_BLOCKS && txs < STEP_TXS {
        let raw = if tiers.is_archived(end) {
            match archive {
                Some(a) => a.headers()?.get(end)?,
                None => None,
            }
        } else {
            hot.get(end)?
        };
        if let Some(raw) = raw {
            let header: StoredHeader = decode(raw.value()).map_err(|e| corrupt("headers", e))?;
            txs += header.tx_hashes.len();
        }
        end += 1;
    }
    Ok(end)
}

/// Removes blocks `from..to` (headers, transactions, receipts; with their time index entries
/// when `timed`, which needs their headers).
fn remove_blocks(txn: &WriteTransaction, from: Height, to: Height, timed: bool) -> Result<()> {
    if from >= to {
        return Ok(());
    }
    let mut headers = txn.open_table(HEADERS)?;
    if timed {
        let mut times = txn.open_table(TIME_INDEX)?;
        for entry in headers.range(from..to)? {
            let (height, raw) = entry?;
            let header: StoredHeader = decode(raw.value()).map_err(|e| corrupt("headers", e))?;
            times.remove((header.header.time_ms, height.value()))?;
        }
    }
    headers.retain_in(from..to, |_, _| false)?;
    txn.open_table(TXS)?.retain_in((from, 0)..(to, 0), |_, _| false)?;
    txn.open_table(RECEIPTS)?.retain_in((from, 0)..(to, 0), |_, _| false)?;
    Ok(())
}

/// Copies blocks `from..to` from `source` into the tables `txn` writes.
fn copy_blocks(source: &Tables, txn: &WriteTransaction, from: Height, to: Height) -> Result<()> {
    let mut headers = txn.open_table(HEADERS)?;
    for entry in source.headers()?.range(from..to)? {
        let (height, raw) = entry?;
        headers.insert(height.value(), raw.value())?;
    }
    for (source, table) in [(source.txs()?, TXS), (source.receipts()?, RECEIPTS)] {
        let mut target = txn.open_table(table)?;
        for entry in source.range((from, 0)..(to, 0))? {
            let (key, raw) = entry?;
            target.insert(key.value(), raw.value())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{Hash, PrivateKey, Scheme, Suite};
    use consortia_types::{
        Block, NotarizeRecord, Payload, Receipt, ReceiptStatus, Transaction, TxBody,
    };

    use super::super::tests::{genesis, header};
    use super::*;
    use crate::{BlockReader, BlockWriter, ExplorerReader, StateChanges, StateHistory, TxReader};

    /// Commits blocks `1..=blocks` to `store`, each with one notarization by `key` (at time
    /// `height` seconds) and the state key `h` set to the height; returns the transactions.
    fn chain(store: &ChainStore, key: &PrivateKey, blocks: Height) -> Vec<Transaction> {
        let prepared = store.prepare_state(0, StateChanges::new(), None).unwrap();
        let block = Block {
            header: header(0, prepared.root(), 0),
            transactions: vec![],
            certificate: None,
        };
        store.initialize(&block, &prepared).unwrap();
        let mut sent = Vec::new();
        for height in 1..=blocks {
            let tx = Transaction::sign(
                TxBody {
                    chain_id: 9,
                    nonce: height - 1,
                    public_key: key.public_key(),
                    payload: Payload::Notarize(NotarizeRecord {
                        id: format!("r{height}"),
                        fields: Default::default(),
                        content_hash: Hash::ZERO,
                        metadata: String::new(),
                    }),
                },
                key,
            );
            let changes =
                StateChanges::from([(b"h".to_vec(), Some(height.to_be_bytes().to_vec()))]);
            let prepared = store.prepare_state(height, changes, None).unwrap();
            let block = Block {
                header: header(height, prepared.root(), height * 1000),
                transactions: vec![tx.clone()],
                certificate: None,
            };
            let receipt = Receipt {
                status: ReceiptStatus::Success,
                steps_used: height,
                events: vec![],
                output: vec![],
            };
            store.commit_block(&block, &[receipt], &prepared).unwrap();
            sent.push(tx);
        }
        sent
    }

    struct Fixture {
        dir: tempfile::TempDir,
        genesis: consortia_types::Genesis,
        store: ChainStore,
        key: PrivateKey,
        txs: Vec<Transaction>,
    }

    fn fixture(blocks: Height) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let genesis = genesis(Suite::Standard);
        let (store, _) = ChainStore::open(&dir.path().join("db"), &genesis).unwrap();
        let key = PrivateKey::generate(Scheme::Ed25519);
        let txs = chain(&store, &key, blocks);
        Fixture { dir, genesis, store, key, txs }
    }

    impl Fixture {
        fn reopen(self) -> Fixture {
            drop(self.store);
            let (store, _) = ChainStore::open(&self.dir.path().join("db"), &self.genesis).unwrap();
            Fixture { store, ..self }
        }

        fn archive_dir(&self) -> PathBuf {
            self.dir.path().join("cold")
        }

        fn tx_hash(&self, height: Height) -> Hash {
            self.txs[height as usize - 1].hash(Suite::Standard.hash())
        }

        /// What a reader sees of block `height`: its block, transaction by hash, receipt and
        /// place in the explorer's lists, or the error.
        fn read(&self, height: Height) -> Result<(Block, Receipt, Vec<Height>)> {
            let block = self.store.block(height)?.expect("a block below the head");
            let stored = self.store.transaction(&self.tx_hash(height))?.expect("indexed");
            let receipt = self.store.receipt_at(height, 0)?.expect("a receipt");
            assert_eq!(stored.receipt, receipt);
            let before = Some((height + 1, 0));
            let recent = self.store.recent_txs(before, 3)?;
            Ok((block, receipt, recent.iter().map(|t| t.height).collect()))
        }

        fn hot_has(&self, height: Height) -> bool {
            self.store.blocks().unwrap().hot().headers().unwrap().get(height).unwrap().is_some()
        }
    }

    /// The message of an archive error (panics on anything else).
    fn archive_error(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(StorageError::Archive(e)) => e,
            other => panic!("expected an archive error, got {other:?}"),
        }
    }

    fn pruned(result: Result<impl std::fmt::Debug>) -> (Height, Height) {
        match result {
            Err(StorageError::Pruned { height, first }) => (height, first),
            other => panic!("expected a pruned answer, got {other:?}"),
        }
    }

    #[test]
    fn reads_of_pruned_blocks_answer_pruned_with_the_first_block_kept() {
        let f = fixture(8);
        assert_eq!(f.store.prune(5).unwrap(), 5);
        assert_eq!(pruned(f.store.header(3)), (3, 5));
        assert_eq!(pruned(f.store.block(1)), (1, 5));
        assert_eq!(pruned(f.store.receipt_at(4, 0)), (4, 5));
        assert_eq!(pruned(f.store.transaction(&f.tx_hash(2))), (2, 5));
    }

    #[test]
    fn pruning_keeps_genesis_the_kept_blocks_the_hashes_and_the_state() {
        let f = fixture(8);
        let old_hash = f.store.header(3).unwrap().unwrap().hash;
        let before: Vec<_> = (5..=8).map(|h| f.read(h).unwrap()).collect();
        f.store.prune(5).unwrap();
        assert!(f.store.header(0).unwrap().is_some());
        let after: Vec<_> = (5..=8).map(|h| f.read(h).unwrap()).collect();
        assert_eq!(after[0].2, vec![5], "the explorer lists no pruned transaction");
        assert_eq!(after[1].2, vec![6, 5]);
        assert_eq!(before[2..], after[2..]);
        assert_eq!(f.store.height_by_hash(&old_hash).unwrap(), Some(3));
        let at_3 = f.store.state_at(3).unwrap().get(b"h").unwrap();
        assert_eq!(at_3, Some(3u64.to_be_bytes().to_vec()));
        let times: Vec<_> = f.store.headers_by_time(0, u64::MAX, 100, false).unwrap();
        let heights: Vec<_> = times.iter().map(|h| h.header.height).collect();
        assert_eq!(heights, vec![0, 5, 6, 7, 8]);
        let address = f.key.public_key().address();
        let mine = f.store.txs_by_address(&address, None, 100).unwrap();
        assert_eq!(mine.iter().map(|t| t.height).collect::<Vec<_>>(), vec![8, 7, 6, 5]);
    }

    #[test]
    fn the_head_block_is_never_pruned() {
        let f = fixture(4);
        assert_eq!(f.store.prune(Height::MAX).unwrap(), 4);
        assert!(f.store.block(4).unwrap().is_some());
        assert_eq!(f.store.history().unwrap().first_block, 4);
    }

    #[test]
    fn pruning_runs_in_steps_and_survives_reopening() {
        let f = fixture(STEP_BLOCKS + 20);
        assert_eq!(f.store.prune(STEP_BLOCKS + 10).unwrap(), STEP_BLOCKS + 10);
        let f = f.reopen();
        assert_eq!(f.store.history().unwrap().first_block, STEP_BLOCKS + 10);
        assert_eq!(pruned(f.store.block(STEP_BLOCKS)), (STEP_BLOCKS, STEP_BLOCKS + 10));
        assert!(f.read(STEP_BLOCKS + 10).is_ok());
    }

    #[test]
    fn archived_blocks_leave_the_hot_store_and_read_as_before() {
        let f = fixture(8);
        let before: Vec<_> = (1..=8).map(|h| f.read(h).unwrap()).collect();
        assert_eq!(f.store.archive(&f.archive_dir(), 6).unwrap(), 6);
        assert!(!f.hot_has(3) && f.hot_has(6) && f.hot_has(0));
        assert!(f.archive_dir().join(ARCHIVE_FILE).exists());
        let after: Vec<_> = (1..=8).map(|h| f.read(h).unwrap()).collect();
        assert_eq!(before, after);
        let history = f.store.history().unwrap();
        assert_eq!((history.first_block, history.first_hot), (1, 6));
        assert_eq!(history.archive_dir, Some(f.archive_dir()));
    }

    #[test]
    fn the_archive_is_attached_again_when_the_store_reopens() {
        let f = fixture(8);
        let before = f.read(2).unwrap();
        f.store.archive(&f.archive_dir(), 6).unwrap();
        let f = f.reopen();
        assert_eq!(f.read(2).unwrap(), before);
    }

    #[test]
    fn an_archive_that_cannot_be_opened_says_so_and_the_hot_blocks_still_read() {
        let f = fixture(8);
        f.store.archive(&f.archive_dir(), 6).unwrap();
        drop(f.store);
        std::fs::remove_dir_all(f.dir.path().join("cold")).unwrap();
        std::fs::write(f.dir.path().join("cold"), b"not a directory").unwrap();
        let (store, _) = ChainStore::open(&f.dir.path().join("db"), &f.genesis).unwrap();
        let f = Fixture { store, ..f };
        assert!(archive_error(f.store.block(2)).contains("cold"));
        assert!(f.store.block(7).unwrap().is_some());
    }

    #[test]
    fn restoring_moves_archived_blocks_back_and_removes_the_archive() {
        let f = fixture(STEP_BLOCKS + 20);
        let before = f.read(3).unwrap();
        f.store.archive(&f.archive_dir(), STEP_BLOCKS + 10).unwrap();
        assert_eq!(f.store.restore().unwrap(), 1);
        assert!(f.hot_has(3) && f.hot_has(STEP_BLOCKS + 5));
        assert_eq!(f.read(3).unwrap(), before);
        assert!(!f.archive_dir().join(ARCHIVE_FILE).exists());
        assert_eq!(f.store.history().unwrap().archive_dir, None);
        let f = f.reopen();
        assert_eq!(f.read(3).unwrap(), before);
    }

    #[test]
    fn another_archive_directory_is_refused_while_blocks_are_archived() {
        let f = fixture(8);
        f.store.archive(&f.archive_dir(), 4).unwrap();
        let elsewhere = f.dir.path().join("elsewhere");
        assert!(archive_error(f.store.archive(&elsewhere, 6)).contains("restore them"));
        f.store.restore().unwrap();
        assert_eq!(f.store.archive(&elsewhere, 6).unwrap(), 6);
        assert!(f.read(2).is_ok());
    }

    #[test]
    fn an_archive_of_another_chain_is_refused() {
        let f = fixture(4);
        let other = fixture(4);
        other.store.archive(&other.archive_dir(), 3).unwrap();
        let cold = other.archive_dir();
        drop(other.store);
        assert!(archive_error(f.store.archive(&cold, 3)).contains("another chain"));
    }

    #[test]
    fn pruning_archived_blocks_removes_them_from_the_archive() {
        let f = fixture(8);
        f.store.archive(&f.archive_dir(), 6).unwrap();
        assert_eq!(f.store.prune(3).unwrap(), 3);
        assert_eq!(pruned(f.store.block(2)), (2, 3));
        assert!(f.read(4).is_ok());
        let archive = f.store.archived_tables().unwrap().unwrap();
        assert!(archive.headers().unwrap().get(2).unwrap().is_none());
        assert!(archive.headers().unwrap().get(4).unwrap().is_some());
        // Pruning past the archive empties it and reaches into the hot store.
        assert_eq!(f.store.prune(7).unwrap(), 7);
        assert_eq!(pruned(f.store.block(6)), (6, 7));
        let history = f.store.history().unwrap();
        assert_eq!((history.first_block, history.first_hot), (7, 7));
    }

    #[test]
    fn a_copy_left_in_the_archive_by_a_crash_is_overwritten_by_the_next_step() {
        // A crash after the archive's commit and before the hot store's: the blocks are in
        // both, and the hot store still reads them as hot.
        let f = fixture(8);
        let before = f.read(3).unwrap();
        {
            let record = encode(&f.genesis);
            let archive = Archive::open(&f.archive_dir(), &record).unwrap();
            let txn = archive.db.begin_write().unwrap();
            let blocks = f.store.blocks().unwrap();
            copy_blocks(blocks.hot(), &txn, 1, 5).unwrap();
            txn.commit().unwrap();
        }
        assert_eq!(f.read(3).unwrap(), before);
        assert_eq!(f.store.archive(&f.archive_dir(), 6).unwrap(), 6);
        assert_eq!(f.read(3).unwrap(), before);
        assert!(!f.hot_has(3));
    }

    #[test]
    fn indexes_rebuilt_after_pruning_and_archiving_find_the_blocks_still_held() {
        let f = fixture(8);
        f.store.archive(&f.archive_dir(), 6).unwrap();
        f.store.prune(3).unwrap();
        drop(f.store);
        std::fs::remove_dir_all(f.dir.path().join("db.index")).unwrap();
        let (store, _) = ChainStore::open(&f.dir.path().join("db"), &f.genesis).unwrap();
        let f = Fixture { store, ..f };
        assert!(f.read(4).is_ok() && f.read(7).is_ok());
        assert_eq!(f.store.transaction(&f.tx_hash(2)).unwrap(), None);
        let latest = f.store.state_at(u64::MAX).unwrap().get(b"h").unwrap();
        assert_eq!(latest, Some(8u64.to_be_bytes().to_vec()));
    }
}
