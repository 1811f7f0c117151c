//! State sync: the state after a block, served in chunks of leaves with range proofs
//! ([`ChainStore::state_chunk`]), and restored from them into a fresh store
//! ([`ChainStore::begin_restore`]), each chunk checked against the block's state root before
//! anything of it is written. The restored store starts at that block: its state has no
//! earlier versions and it holds no earlier block (reads of either answer
//! [`StorageError::Pruned`]).
//!
//! A restore writes the tree's nodes and values as version `height` while the store's head is
//! still block 0, so nothing reads them until [`StateRestore::finish`] moves the head in one
//! transaction. A restore left unfinished (a crash, a peer that lied) is wiped the next time
//! the store opens or a restore begins: every node and value above the head is removed, and
//! the indexes are rebuilt.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use consortia_crypto::{Hash, Suite};
use consortia_types::{Block, Height, Receipt, Validator, decode, encode};
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::storage::{NodeBatch, TreeWriter};
use jmt::{JellyfishMerkleIterator, JellyfishMerkleTree, KeyHash, RootHash, SimpleHasher};
use redb::{ReadableDatabase, ReadableTable};

use super::history::Tiers;
use super::{
    BlockToIndex, ChainStore, JMT_NODES, JMT_VALUES, META, corrupt, index_block, node_key,
    stored_value, value_key,
};
use crate::index::IndexBatch;
use crate::{Result, StorageError};

/// Present while a restore is under way (its height): a store opened with it wipes the
/// restore's writes.
const META_RESTORING: &str = "restoring";
/// The first height of the state's history (0 unless the store was restored).
pub(super) const META_STATE_FROM: &str = "state_from";
/// The validator set of the block after the restored one (its state is not held).
const META_BASE_VALIDATORS: &str = "base_validators";

/// A run of the state's leaves after one block, in key-hash order, with the proof that they
/// are the leaves of that block's state from the start (or the last chunk's end) to the last
/// of them. `proof` is a borsh-encoded `jmt` sparse Merkle range proof.
#[derive(Clone, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct StateChunk {
    pub height: Height,
    /// (key hash, value).
    pub leaves: Vec<([u8; 32], Vec<u8>)>,
    pub proof: Vec<u8>,
    /// No leaf follows the last of these.
    pub last: bool,
}

/// How much one [`StateChunk`] holds at most: leaves, and bytes of keys and values (a chunk
/// holds one leaf at least, whatever its size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimit {
    pub leaves: usize,
    pub bytes: usize,
}

impl ChunkLimit {
    pub fn leaves(leaves: usize) -> ChunkLimit {
        ChunkLimit { leaves, bytes: usize::MAX }
    }
}

impl ChainStore {
    /// The leaves of the state after block `height` whose key hash follows `after` (from the
    /// first when `None`), at most `limit.leaves`, and no more once they hold `limit.bytes`
    /// (one at least), with their range proof.
    pub fn state_chunk(
        &self,
        height: Height,
        after: Option<[u8; 32]>,
        limit: ChunkLimit,
    ) -> Result<StateChunk> {
        let head = self.head.load(Ordering::Acquire);
        if height > head {
            return Err(StorageError::FutureHeight { requested: height, latest: head });
        }
        self.check_state_held(height)?;
        let start = match after {
            None => Some(KeyHash([0; 32])),
            Some(key) => successor(key).map(KeyHash),
        };
        let reader = Arc::new(self.jmt_reader(None)?);
        fn run<H: SimpleHasher, R: jmt::storage::TreeReader>(
            reader: Arc<R>,
            height: Height,
            start: Option<KeyHash>,
            limit: ChunkLimit,
        ) -> anyhow::Result<StateChunk> {
            let mut leaves = Vec::new();
            let mut last = true;
            if let Some(start) = start {
                let mut iter = JellyfishMerkleIterator::new(reader.clone(), height, start)?;
                let mut bytes = 0;
                for leaf in iter.by_ref() {
                    let (key, value) = leaf?;
                    bytes += key.0.len() + value.len();
                    leaves.push((key.0, value));
                    if leaves.len() >= limit.leaves || bytes >= limit.bytes {
                        break;
                    }
                }
                last = iter.next().is_none();
            }
            let proof = match leaves.last() {
                Some((key, _)) => {
                    let tree = JellyfishMerkleTree::<_, H>::new(reader.as_ref());
                    borsh::to_vec(&tree.get_range_proof(KeyHash(*key), height)?)?
                }
                None => Vec::new(),
            };
            Ok(StateChunk { height, leaves, proof, last })
        }
        match self.suite {
            Suite::Standard => run::<sha2::Sha256, _>(reader, height, start, limit),
            Suite::Sm => run::<sm3::Sm3, _>(reader, height, start, limit),
        }
        .map_err(|e| StorageError::State(e.to_string()))
    }

    /// Refuses a read of the state before the first version this store holds.
    pub(super) fn check_state_held(&self, height: Height) -> Result<()> {
        let first = self.state_from.load(Ordering::Acquire);
        if height < first {
            return Err(StorageError::Pruned { height, first });
        }
        Ok(())
    }

    /// Starts restoring the state after block `height`, whose header names `root`, into this
    /// store, which must hold nothing but block 0.
    pub fn begin_restore(self: &Arc<Self>, height: Height, root: Hash) -> Result<StateRestore> {
        if self.head.load(Ordering::Acquire) != 0 || height == 0 {
            return Err(StorageError::State(
                "a state snapshot restores only into a store holding block 0 alone".into(),
            ));
        }
        self.wipe_unfinished_restore()?;
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(META_RESTORING, height.to_be_bytes().as_slice())?;
        txn.commit()?;
        let sink = Arc::new(Sink::default());
        let receiver = match self.suite {
            Suite::Standard => Receiver::Standard(
                JellyfishMerkleRestore::new_overwrite(sink.clone(), height, RootHash(root.0))
                    .map_err(state_error)?,
            ),
            Suite::Sm => Receiver::Sm(
                JellyfishMerkleRestore::new_overwrite(sink.clone(), height, RootHash(root.0))
                    .map_err(state_error)?,
            ),
        };
        let store = self.clone();
        Ok(StateRestore { store, height, root, sink, receiver, after: None, leaves: 0 })
    }

    /// Removes what an unfinished restore wrote: state nodes and values of versions above the
    /// head, and the indexes (rebuilt from the blocks).
    pub(super) fn wipe_unfinished_restore(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        let restoring = txn.open_table(META)?.get(META_RESTORING)?.is_some();
        if !restoring {
            return Ok(());
        }
        let head = self.head.load(Ordering::Acquire);
        let above = (head + 1).to_be_bytes();
        for table in [JMT_NODES, JMT_VALUES] {
            txn.open_table(table)?.retain_in(above.as_slice().., |_, _| false)?;
        }
        txn.open_table(META)?.remove(META_RESTORING)?;
        txn.commit()?;
        tracing::warn!(target: "storage::snapshot", "wiped an unfinished state restore");
        self.indexes.clear()?;
        self.catch_up_indexes()
    }

    /// The validator set of the block after the one this store was restored at, which its
    /// state cannot tell (it names the set two blocks ahead), with that block's height.
    pub fn base_validators(&self) -> Result<Option<(Height, Vec<Validator>)>> {
        let read = self.db.begin_read()?;
        let meta = read.open_table(META)?;
        let found = meta.get(META_BASE_VALIDATORS)?;
        found.map(|v| decode(v.value()).map_err(|e| corrupt("meta", e))).transpose()
    }
}

impl ChainStore {
    /// The root of the state tree at `version`, read from its nodes.
    fn root_at(&self, version: Height) -> Result<Hash> {
        let reader = self.jmt_reader(None)?;
        fn run<H: SimpleHasher>(
            reader: &super::JmtReader<'_>,
            version: Height,
        ) -> anyhow::Result<RootHash> {
            JellyfishMerkleTree::<_, H>::new(reader).get_root_hash(version)
        }
        let root = match self.suite {
            Suite::Standard => run::<sha2::Sha256>(&reader, version),
            Suite::Sm => run::<sm3::Sm3>(&reader, version),
        }
        .map_err(state_error)?;
        Ok(Hash(root.0))
    }

    /// Makes `base`, whose state was restored, the head and the first block of this store.
    fn write_base(
        &self,
        base: &Block,
        receipts: &[Receipt],
        next_validators: &[Validator],
    ) -> Result<()> {
        let height = base.header.height;
        let txn = self.db.begin_write()?;
        let tx_hashes = self.put_block(&txn, base, receipts)?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(super::META_HEAD, height.to_be_bytes().as_slice())?;
            meta.insert(META_STATE_FROM, height.to_be_bytes().as_slice())?;
            meta.insert(META_BASE_VALIDATORS, encode(&(height + 1, next_validators)).as_slice())?;
            meta.remove(META_RESTORING)?;
        }
        Tiers::starting_at(height).write(&txn)?;
        txn.commit()?;
        let mut index = IndexBatch::default();
        let block = BlockToIndex {
            height,
            tx_hashes: &tx_hashes,
            txs: &base.transactions,
            receipts,
            ..BlockToIndex::default()
        };
        index_block(&mut index, block, &[]);
        self.indexes.write(index, height)?;
        self.state_from.store(height, Ordering::Release);
        self.head.store(height, Ordering::Release);
        tracing::info!(target: "storage::snapshot", height, "state restored");
        Ok(())
    }
}

/// The key hash right after `key` (none after the last).
fn successor(mut key: [u8; 32]) -> Option<[u8; 32]> {
    for byte in key.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(key);
        }
    }
    None
}

fn state_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::State(e.to_string())
}

/// Where `jmt`'s restore puts the nodes it completes, until they are written to the store.
#[derive(Default)]
struct Sink {
    batches: parking_lot::Mutex<Vec<NodeBatch>>,
}

impl TreeWriter for Sink {
    fn write_node_batch(&self, batch: &NodeBatch) -> anyhow::Result<()> {
        self.batches.lock().push(batch.clone());
        Ok(())
    }
}

enum Receiver {
    Standard(JellyfishMerkleRestore<sha2::Sha256>),
    Sm(JellyfishMerkleRestore<sm3::Sm3>),
}

/// A state restore under way (see [`ChainStore::begin_restore`]).
pub struct StateRestore {
    store: Arc<ChainStore>,
    height: Height,
    root: Hash,
    sink: Arc<Sink>,
    receiver: Receiver,
    /// The last key restored: the next chunk starts after it.
    after: Option<[u8; 32]>,
    leaves: u64,
}

impl std::fmt::Debug for StateRestore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateRestore")
            .field("height", &self.height)
            .field("leaves", &self.leaves)
            .finish_non_exhaustive()
    }
}

impl StateRestore {
    pub fn height(&self) -> Height {
        self.height
    }

    /// Where the next chunk starts: after this key hash (from the first when `None`).
    pub fn after(&self) -> Option<[u8; 32]> {
        self.after
    }

    /// Leaves restored so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Checks `chunk` against the state root and writes it. A chunk that does not prove
    /// (wrong height, out of order, a leaf changed, missing or added) is refused and nothing
    /// of it is written; the restore cannot go on after that (begin again).
    pub fn add_chunk(&mut self, chunk: StateChunk) -> Result<()> {
        if chunk.height != self.height {
            return Err(StorageError::InvalidProof(format!(
                "a chunk of the state after block {} while restoring block {}",
                chunk.height, self.height
            )));
        }
        let Some((last, _)) = chunk.leaves.last() else {
            return Err(StorageError::InvalidProof("an empty chunk".into()));
        };
        if self.after.is_some_and(|after| chunk.leaves[0].0 <= after) {
            return Err(StorageError::InvalidProof("a chunk that does not follow the last".into()));
        }
        let last = *last;
        let count = chunk.leaves.len() as u64;
        let leaves: Vec<(KeyHash, Vec<u8>)> =
            chunk.leaves.into_iter().map(|(k, v)| (KeyHash(k), v)).collect();
        let undecodable = |e: std::io::Error| StorageError::InvalidProof(format!("proof: {e}"));
        match &mut self.receiver {
            Receiver::Standard(r) => {
                r.add_chunk(leaves, borsh::from_slice(&chunk.proof).map_err(undecodable)?)
            }
            Receiver::Sm(r) => {
                r.add_chunk(leaves, borsh::from_slice(&chunk.proof).map_err(undecodable)?)
            }
        }
        .map_err(|e| StorageError::InvalidProof(e.to_string()))?;
        flush(&self.store, self.height, &self.sink)?;
        self.after = Some(last);
        self.leaves += count;
        Ok(())
    }

    /// Ends the restore once the last chunk is in: checks the tree's root, then makes `base`
    /// (the restored block, with its receipts) the store's head and first block, and records
    /// `next_validators`, the set that signs the block after it. The caller has checked `base`
    /// against its certified header.
    pub fn finish(
        self,
        base: &Block,
        receipts: &[Receipt],
        next_validators: &[Validator],
    ) -> Result<()> {
        let height = self.height;
        if base.header.height != height || base.header.state_root != self.root {
            return Err(StorageError::State(format!(
                "block {} with state root {} is not the one restored",
                base.header.height, base.header.state_root
            )));
        }
        let StateRestore { store, root, sink, receiver, .. } = self;
        match receiver {
            Receiver::Standard(r) => r.finish(),
            Receiver::Sm(r) => r.finish(),
        }
        .map_err(state_error)?;
        flush(&store, height, &sink)?;
        let found = store.root_at(height)?;
        if found != root {
            return Err(StorageError::InvalidProof(format!(
                "the restored state's root is {found}, not {root}: leaves are missing"
            )));
        }
        store.write_base(base, receipts, next_validators)
    }
}

/// Writes the nodes and values `jmt` completed, with their index entries (bounded by the head,
/// still 0, so no reader sees them yet).
fn flush(store: &ChainStore, height: Height, sink: &Sink) -> Result<()> {
    let batches = std::mem::take(&mut *sink.batches.lock());
    let mut txn = store.db.begin_write()?;
    // No fsync per chunk: a restore a crash interrupts is wiped anyway, and `finish` commits
    // durably (which persists these writes too).
    txn.set_durability(redb::Durability::None)
        .map_err(|e| StorageError::Database(e.to_string()))?;
    let mut index = IndexBatch::default();
    {
        let mut nodes = txn.open_table(JMT_NODES)?;
        let mut values = txn.open_table(JMT_VALUES)?;
        for batch in &batches {
            for (key, node) in batch.nodes() {
                nodes.insert(node_key(key).as_slice(), encode(node).as_slice())?;
            }
            for ((version, key_hash), value) in batch.values() {
                let stored = stored_value(value.as_deref());
                values.insert(value_key(*version, key_hash).as_slice(), stored.as_slice())?;
            }
            let changed: Vec<_> = batch.values().keys().copied().collect();
            index_block(&mut index, BlockToIndex { height, ..BlockToIndex::default() }, &changed);
        }
    }
    txn.commit()?;
    store.indexes.write(index, 0)
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{PrivateKey, Scheme};

    use super::super::tests::{commit_state, genesis};
    use super::*;
    use crate::{
        BlockReader, BlockWriter, StateChanges, StateHistory, StateProofReader, StateReader,
    };

    const BLOCKS: Height = 4;

    fn key(i: usize) -> Vec<u8> {
        format!("key/{i}").into_bytes()
    }

    /// Block `height` of the source chain: 100 keys set, and every key the block before set
    /// with an index divisible by 7 deleted.
    fn changes(height: Height) -> StateChanges {
        let base = height as usize * 100;
        let mut changes: StateChanges = (base..base + 100)
            .map(|i| (key(i), Some(format!("v{height}/{i}").into_bytes())))
            .collect();
        if height > 1 {
            for i in (base - 100..base).filter(|i| i % 7 == 0) {
                changes.insert(key(i), None);
            }
        }
        changes
    }

    fn commit(store: &ChainStore, height: Height) -> Block {
        commit_state(store, height, changes(height), height * 1000)
    }

    struct Pair {
        source: ChainStore,
        target: Arc<ChainStore>,
        head: Block,
        validators: Vec<Validator>,
    }

    fn pair(suite: Suite) -> Pair {
        let g = genesis(suite);
        let source = ChainStore::in_memory(&g).unwrap();
        let head = (0..=BLOCKS).map(|h| commit(&source, h)).last().unwrap();
        let target = Arc::new(ChainStore::in_memory(&g).unwrap());
        commit(&target, 0);
        let key = PrivateKey::generate(Scheme::Ed25519).public_key();
        let validators = vec![Validator { name: "v".into(), public_key: key, power: 1 }];
        Pair { source, target, head, validators }
    }

    /// Restores the source's head state into the target in chunks of `per_chunk` leaves.
    fn restore(p: &Pair, per_chunk: usize) -> Result<()> {
        let mut restore = p.target.begin_restore(BLOCKS, p.head.header.state_root)?;
        loop {
            let chunk =
                p.source.state_chunk(BLOCKS, restore.after(), ChunkLimit::leaves(per_chunk))?;
            let last = chunk.last;
            restore.add_chunk(chunk)?;
            if last {
                break;
            }
        }
        restore.finish(&p.head, &[], &p.validators)
    }

    fn every_key() -> impl Iterator<Item = Vec<u8>> {
        (0..(BLOCKS as usize + 2) * 100).map(key)
    }

    #[test]
    fn a_restored_state_reads_and_proves_as_its_source() {
        for suite in [Suite::Standard, Suite::Sm] {
            let p = pair(suite);
            restore(&p, 37).unwrap();
            for k in every_key() {
                assert_eq!(p.target.get(&k).unwrap(), p.source.get(&k).unwrap());
                let proof = p.target.get_with_proof(&k, BLOCKS).unwrap();
                assert_eq!(proof, p.source.get_with_proof(&k, BLOCKS).unwrap());
            }
            assert_eq!(p.target.latest_height().unwrap(), BLOCKS);
            assert_eq!(p.target.header(BLOCKS).unwrap(), p.source.header(BLOCKS).unwrap());
        }
    }

    #[test]
    fn a_chunk_stops_at_its_byte_budget_and_the_state_restores_all_the_same() {
        let p = pair(Suite::Standard);
        let limit = ChunkLimit { leaves: 1_000, bytes: 500 };
        let chunk = p.source.state_chunk(BLOCKS, None, limit).unwrap();
        assert!(chunk.leaves.len() < 20 && !chunk.leaves.is_empty(), "{}", chunk.leaves.len());
        let one = p.source.state_chunk(BLOCKS, None, ChunkLimit { leaves: 9, bytes: 0 }).unwrap();
        assert_eq!(one.leaves.len(), 1, "a chunk holds one leaf at least");
        let mut restore = p.target.begin_restore(BLOCKS, p.head.header.state_root).unwrap();
        loop {
            let chunk = p.source.state_chunk(BLOCKS, restore.after(), limit).unwrap();
            let last = chunk.last;
            restore.add_chunk(chunk).unwrap();
            if last {
                break;
            }
        }
        restore.finish(&p.head, &[], &p.validators).unwrap();
        assert_eq!(p.target.get(&key(420)).unwrap(), p.source.get(&key(420)).unwrap());
    }

    #[test]
    fn a_restored_store_commits_the_next_block_to_the_sources_root() {
        let p = pair(Suite::Standard);
        restore(&p, 100).unwrap();
        let next = commit(&p.source, BLOCKS + 1);
        let prepared = p.target.prepare_state(BLOCKS + 1, changes(BLOCKS + 1), None).unwrap();
        assert_eq!(prepared.root(), next.header.state_root);
        p.target.commit_block(&next, &[], &prepared).unwrap();
        for k in every_key() {
            assert_eq!(p.target.get(&k).unwrap(), p.source.get(&k).unwrap());
        }
    }

    #[test]
    fn a_restored_store_starts_at_its_block_with_the_next_validators() {
        let p = pair(Suite::Standard);
        restore(&p, 100).unwrap();
        assert!(matches!(
            p.target.state_at(BLOCKS - 1).map(|_| ()),
            Err(StorageError::Pruned { height: 3, first: BLOCKS })
        ));
        assert!(matches!(p.target.block(1), Err(StorageError::Pruned { .. })));
        assert_eq!(p.target.first_block().unwrap(), BLOCKS);
        assert_eq!(p.target.base_validators().unwrap(), Some((BLOCKS + 1, p.validators.clone())));
        assert!(matches!(
            p.target.state_chunk(1, None, ChunkLimit::leaves(10)),
            Err(StorageError::Pruned { .. })
        ));
    }

    /// The first chunk of the source's head state, changed by `tamper`, offered to a restore.
    fn tampered(tamper: impl FnOnce(&mut StateChunk)) -> StorageError {
        let p = pair(Suite::Standard);
        let mut restore = p.target.begin_restore(BLOCKS, p.head.header.state_root).unwrap();
        let mut chunk = p.source.state_chunk(BLOCKS, None, ChunkLimit::leaves(50)).unwrap();
        tamper(&mut chunk);
        restore.add_chunk(chunk).unwrap_err()
    }

    #[test]
    fn a_chunk_with_a_changed_value_is_refused() {
        let e = tampered(|c| c.leaves[10].1 = b"forged".to_vec());
        assert!(matches!(e, StorageError::InvalidProof(_)), "{e}");
    }

    #[test]
    fn a_chunk_missing_a_leaf_or_with_one_added_is_refused() {
        let e = tampered(|c| {
            c.leaves.remove(5);
        });
        assert!(matches!(e, StorageError::InvalidProof(_)), "{e}");
        let e = tampered(|c| {
            let mut extra = c.leaves[3].0;
            extra[31] ^= 1;
            c.leaves.insert(4, (extra, b"extra".to_vec()));
            c.leaves.sort();
        });
        assert!(matches!(e, StorageError::InvalidProof(_)), "{e}");
    }

    #[test]
    fn a_chunk_of_another_block_or_out_of_order_is_refused() {
        let e = tampered(|c| c.height = 2);
        assert!(matches!(e, StorageError::InvalidProof(_)), "{e}");
        let p = pair(Suite::Standard);
        let mut restore = p.target.begin_restore(BLOCKS, p.head.header.state_root).unwrap();
        let first = p.source.state_chunk(BLOCKS, None, ChunkLimit::leaves(50)).unwrap();
        restore.add_chunk(first.clone()).unwrap();
        assert!(matches!(restore.add_chunk(first), Err(StorageError::InvalidProof(_))));
    }

    #[test]
    fn a_restore_finished_before_its_last_chunk_is_refused() {
        let p = pair(Suite::Standard);
        let mut restore = p.target.begin_restore(BLOCKS, p.head.header.state_root).unwrap();
        restore
            .add_chunk(p.source.state_chunk(BLOCKS, None, ChunkLimit::leaves(50)).unwrap())
            .unwrap();
        let e = restore.finish(&p.head, &[], &p.validators).unwrap_err();
        assert!(e.to_string().contains("leaves are missing"), "{e}");
        assert_eq!(p.target.latest_height().unwrap(), 0);
    }

    #[test]
    fn an_unfinished_restore_is_wiped_when_the_store_opens_and_can_begin_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = pair(Suite::Standard);
        let path = dir.path().join("db");
        let g = p.target.genesis().unwrap();
        {
            let target = Arc::new(ChainStore::open(&path, &g).unwrap().0);
            commit(&target, 0);
            let mut restore = target.begin_restore(BLOCKS, p.head.header.state_root).unwrap();
            restore
                .add_chunk(p.source.state_chunk(BLOCKS, None, ChunkLimit::leaves(50)).unwrap())
                .unwrap();
        }
        let target = Arc::new(ChainStore::open(&path, &g).unwrap().0);
        let before = p.source.state_at(0).unwrap().get(&key(150)).unwrap();
        assert_eq!(target.get(&key(150)).unwrap(), before);
        let read = target.db.begin_read().unwrap();
        let values = read.open_table(JMT_VALUES).unwrap();
        let above = 1u64.to_be_bytes();
        assert_eq!(values.range(above.as_slice()..).unwrap().count(), 0, "restored values left");
        drop((values, read));
        let target = Pair { target, ..p };
        restore(&target, 100).unwrap();
        assert_eq!(target.target.get(&key(450)).unwrap(), target.source.get(&key(450)).unwrap());
    }

    #[test]
    fn only_a_store_holding_block_0_alone_restores() {
        let p = pair(Suite::Standard);
        let source = Arc::new(p.source);
        let e = source.begin_restore(BLOCKS, p.head.header.state_root).unwrap_err();
        assert!(e.to_string().contains("block 0 alone"), "{e}");
    }
}
