//! Executing and committing blocks of notarizations on a real store (fsync per commit).

use std::collections::BTreeMap;

use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, Scheme, Suite};
use consortia_execution::{BlockContext, Executor};
use consortia_storage::{BlockReader, BlockWriter, ChainStore};
use consortia_types::{Block, Genesis, Header, NotarizeRecord, Payload, Transaction, TxBody};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn genesis() -> Genesis {
    Genesis::solo(
        1,
        "bench",
        Suite::Standard,
        PrivateKey::generate(Scheme::Ed25519).public_key(),
        0,
    )
}

fn open(dir: &tempfile::TempDir, g: &Genesis) -> ChainStore {
    let (store, _) = ChainStore::open(&dir.path().join("db"), g).expect("open");
    let prepared = store.prepare_state(0, Executor::genesis_state(g), None).expect("prepare");
    let header = header(0, prepared.root());
    store
        .initialize(&Block { header, transactions: vec![], certificate: None }, &prepared)
        .expect("init");
    store
}

fn header(height: u64, state_root: Hash) -> Header {
    consortia_test_utils::genesis::header(1, height, state_root, height)
}

/// `n` notarizations from `n / 10` senders, ids unique per `round`.
fn txs(keys: &[PrivateKey], n: usize, round: u64) -> Vec<Transaction> {
    (0..n)
        .map(|i| {
            let key = &keys[i % keys.len()];
            Transaction::sign(
                TxBody {
                    chain_id: 1,
                    nonce: round * (n / keys.len()) as u64 + (i / keys.len()) as u64,
                    public_key: key.public_key(),
                    payload: Payload::Notarize(NotarizeRecord {
                        id: format!("r{round}-{i}"),
                        fields: BTreeMap::from([("k".into(), "v".into())]),
                        content_hash: HashAlgorithm::Sha256.digest(&i.to_le_bytes()),
                        metadata: "m".repeat(100),
                    }),
                },
                key,
            )
        })
        .collect()
}

fn executor(c: &mut Criterion) {
    let g = genesis();
    let exec = Executor::new(&g);
    let mut group = c.benchmark_group("execution");
    group.sample_size(10);
    for n in [1000usize, 5000] {
        let keys: Vec<PrivateKey> =
            (0..n / 10).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, &g);
        let block = txs(&keys, n, 0);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("execute_block/txs", n), |b| {
            b.iter(|| {
                let ctx = BlockContext {
                    height: 1,
                    time_ms: 1,
                    proposer: Address::default(),
                    parent_hash: Hash::ZERO,
                };
                exec.execute_block(&store, ctx, &block).expect("executes")
            })
        });
        group.bench_function(BenchmarkId::new("state_root/txs", n), |b| {
            let ctx = BlockContext {
                height: 1,
                time_ms: 1,
                proposer: Address::default(),
                parent_hash: Hash::ZERO,
            };
            let out = exec.execute_block(&store, ctx, &block).expect("executes");
            b.iter_batched(
                || out.changes.clone(),
                |changes| store.prepare_state(1, changes, None).expect("root"),
                BatchSize::LargeInput,
            )
        });
        // Execute, compute the root and commit (fsync) one block after another.
        let mut round = 0u64;
        group.bench_function(BenchmarkId::new("execute_and_commit/txs", n), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    txs(&keys, n, round - 1)
                },
                |block_txs| {
                    let height = store.latest_height().expect("head") + 1;
                    let ctx = BlockContext {
                        height,
                        time_ms: height,
                        proposer: Address::default(),
                        parent_hash: Hash::ZERO,
                    };
                    let out = exec.execute_block(&store, ctx, &block_txs).expect("executes");
                    let prepared = store.prepare_state(height, out.changes, None).expect("root");
                    let block = Block {
                        header: header(height, prepared.root()),
                        transactions: block_txs,
                        certificate: None,
                    };
                    store.commit_block(&block, &out.receipts, &prepared).expect("commit");
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, executor);
criterion_main!(benches);
