//! `storage::index/engine=redb|fjall`: the store's four random-keyed indexes written by two
//! engines, to choose where they go (issue 18; docs/benchmarks.md). Per transaction, entries
//! shaped as the store writes them: `tx_index` (tx hash → height ‖ position), `log_topics`
//! (two topics ‖ height ‖ position ‖ event: one topic shared, one random), `address_txs`
//! (sender of 1,000 ‖ height ‖ position) and `key_versions` (two key hashes ‖ height: a random
//! record, the sender's nonce). One block of `--block` transactions is one durable write: a
//! redb transaction committed with fsync, or a fjall batch and `persist(SyncAll)`. Prints the
//! foreground cost per window; run it under `/usr/bin/time` for the whole process' CPU, since
//! fjall compacts on background threads.
//!
//! ```sh
//! cargo bench -p consortia-storage --bench index_engines -- --engine fjall --txs 1000000
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const TABLES: [&str; 4] = ["tx_index", "log_topics", "address_txs", "key_versions"];

/// A hash standing for one of the store's (tag, n).
fn hash(tag: u8, n: u64) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update([tag]);
    digest.update(n.to_be_bytes());
    digest.finalize().into()
}

/// The index entries of transaction `i` at (`height`, `position`): (table, key, value).
fn entries(i: u64, height: u64, position: u32) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let location = [height.to_be_bytes().as_slice(), &position.to_be_bytes()].concat();
    let mut out = vec![(0, hash(1, i).to_vec(), location.clone())];
    for topic in [hash(7, 0), hash(2, i)] {
        out.push((1, [topic.as_slice(), &location, &0u16.to_be_bytes()].concat(), vec![]));
    }
    out.push((2, [&hash(9, i % 1000)[..20], location.as_slice()].concat(), vec![]));
    for key in [hash(3, i), hash(4, i % 1000)] {
        out.push((3, [key.as_slice(), &height.to_be_bytes()].concat(), vec![]));
    }
    out
}

/// An engine taking one block's entries as one durable write.
trait Engine {
    fn write(&mut self, entries: Vec<(usize, Vec<u8>, Vec<u8>)>);
}

struct Redb {
    db: redb::Database,
}

impl Engine for Redb {
    fn write(&mut self, entries: Vec<(usize, Vec<u8>, Vec<u8>)>) {
        let txn = self.db.begin_write().expect("a write");
        {
            let mut tables: Vec<_> = TABLES
                .iter()
                .map(|name| {
                    let table: redb::TableDefinition<&[u8], &[u8]> =
                        redb::TableDefinition::new(name);
                    txn.open_table(table).expect("a table")
                })
                .collect();
            for (table, key, value) in entries {
                tables[table].insert(key.as_slice(), value.as_slice()).expect("an insert");
            }
        }
        txn.commit().expect("a commit");
    }
}

struct Fjall {
    db: fjall::Database,
    keyspaces: Vec<fjall::Keyspace>,
}

impl Engine for Fjall {
    fn write(&mut self, entries: Vec<(usize, Vec<u8>, Vec<u8>)>) {
        let mut batch = self.db.batch();
        for (table, key, value) in entries {
            batch.insert(&self.keyspaces[table], key, value);
        }
        batch.commit().expect("a batch");
        self.db.persist(fjall::PersistMode::SyncAll).expect("a sync");
    }
}

fn size(path: &Path) -> u64 {
    let entries = std::fs::read_dir(path).into_iter().flatten().flatten();
    entries
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .map(|(p, m)| if m.is_dir() { size(&p) } else { m.len() })
        .sum()
}

fn main() {
    let (mut engine_name, mut txs, mut block, mut every) =
        ("redb".to_owned(), 1_000_000u64, 2_000u64, 200_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match flag.as_str() {
            "--engine" => engine_name = value(),
            "--txs" => txs = value().parse().expect("a number"),
            "--block" => block = value().parse().expect("a number"),
            "--every" => every = value().parse().expect("a number"),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("db");
    // Both with the store's 16 MiB cache.
    let mut engine: Box<dyn Engine> = match engine_name.as_str() {
        "redb" => {
            let db =
                redb::Database::builder().set_cache_size(16 << 20).create(&path).expect("redb");
            Box::new(Redb { db })
        }
        "fjall" => {
            let db = fjall::Database::builder(&path).cache_size(16 << 20).open().expect("fjall");
            let keyspaces = TABLES
                .iter()
                .map(|name| {
                    db.keyspace(name, fjall::KeyspaceCreateOptions::default).expect("a keyspace")
                })
                .collect();
            Box::new(Fjall { db, keyspaces })
        }
        other => panic!("--engine is redb or fjall, not {other}"),
    };
    println!("storage::index/engine={engine_name} block={block}");
    let (mut done, mut height, mut window) = (0u64, 1u64, Vec::<Duration>::new());
    while done < txs {
        let n = block.min(txs - done);
        let entries: Vec<_> = (0..n).flat_map(|p| entries(done + p, height, p as u32)).collect();
        let started = Instant::now();
        engine.write(entries);
        window.push(started.elapsed());
        done += n;
        height += 1;
        if done.is_multiple_of(every) || done == txs {
            let spent: Duration = window.iter().sum();
            println!(
                "{done} txs: {:.1} µs/tx, {:.1} ms/block, {} MiB on disk",
                spent.as_secs_f64() * 1e6 / (window.len() as f64 * block as f64),
                spent.as_secs_f64() * 1e3 / window.len() as f64,
                size(dir.path()) >> 20
            );
            window.clear();
        }
    }
}
