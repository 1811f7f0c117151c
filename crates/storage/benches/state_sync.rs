//! `storage::state_sync/restore`: how fast a state moves from one store to another the way a
//! joining node's state sync moves it: chunks of leaves with range proofs read from the source
//! (`ChainStore::state_chunk`), each checked against the state root and written by the target
//! (`StateRestore::add_chunk`), on disk, one process playing both sides.
//!
//! The source state is `--keys` notarization records of ~100 bytes (plus one nonce per 100
//! records), written in blocks of `--block` keys. Prints the time to read the chunks, to check
//! and write them, the leaves per second end to end, both stores' sizes, and peak RSS.
//!
//! ```sh
//! cargo bench -p consortia-storage --bench state_sync -- --keys 1000000 --chunk 16384
//! ```

#[path = "support/measure.rs"]
mod measure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use consortia_crypto::{PrivateKey, Scheme, Suite};
use consortia_storage::{BlockWriter, ChainStore, ChunkLimit, StateChanges};
use consortia_types::{Block, Genesis, Validator};
use measure::{dir_bytes, peak_rss_mib, process_cpu};

struct Args {
    keys: u64,
    block: u64,
    chunk: usize,
    chunk_bytes: usize,
}

fn args() -> Args {
    let mut out = Args { keys: 1_000_000, block: 20_000, chunk: 16_384, chunk_bytes: 4 << 20 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match flag.as_str() {
            "--keys" => out.keys = value(),
            "--block" => out.block = value(),
            "--chunk" => out.chunk = value() as usize,
            "--chunk-bytes" => out.chunk_bytes = value() as usize,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    out
}

/// Commits block `height` with `changes` (block 0: initializes the store).
fn commit(store: &ChainStore, height: u64, changes: StateChanges) -> Block {
    let prepared = store.prepare_state(height, changes, None).expect("prepare");
    let block = Block {
        header: consortia_test_utils::genesis::header(9, height, prepared.root(), height * 1000),
        transactions: vec![],
        certificate: None,
    };
    if height == 0 {
        store.initialize(&block, &prepared).expect("initialize");
    } else {
        store.commit_block(&block, &[], &prepared).expect("commit");
    }
    block
}

fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let validator = PrivateKey::generate(Scheme::Ed25519).public_key();
    let genesis = Genesis::solo(9, "state-sync", Suite::Standard, validator.clone(), 1000);
    let place = |name: &str| {
        let at = dir.path().join(name);
        std::fs::create_dir_all(&at).expect("a directory");
        at
    };
    let (source, _) =
        ChainStore::open(&place("source").join("chain.redb"), &genesis).expect("open");
    commit(&source, 0, StateChanges::new());
    let started = Instant::now();
    let mut head = None;
    let mut written = 0;
    let mut height = 0;
    while written < args.keys {
        height += 1;
        let n = args.block.min(args.keys - written);
        let changes: StateChanges = (written..written + n)
            .map(|i| {
                let key = if i % 100 == 99 {
                    format!("acct/nonce/{i}").into_bytes()
                } else {
                    format!("notary/rec/{i:012}").into_bytes()
                };
                (key, Some(vec![(i % 251) as u8; 100]))
            })
            .collect();
        head = Some(commit(&source, height, changes));
        written += n;
    }
    let head = head.expect("at least one block");
    println!(
        "source: {written} keys in {height} blocks, built in {:.1} s, {} MiB on disk",
        started.elapsed().as_secs_f64(),
        dir_bytes(&dir.path().join("source")) >> 20
    );

    let (target, _) =
        ChainStore::open(&place("target").join("chain.redb"), &genesis).expect("open");
    let target = Arc::new(target);
    commit(&target, 0, StateChanges::new());
    let cpu = process_cpu();
    let started = Instant::now();
    let (mut reading, mut restoring) = (Duration::ZERO, Duration::ZERO);
    let mut restore = target.begin_restore(height, head.header.state_root).expect("begin");
    let mut chunks = 0;
    loop {
        let at = Instant::now();
        let limit = ChunkLimit { leaves: args.chunk, bytes: args.chunk_bytes };
        let chunk = source.state_chunk(height, restore.after(), limit).expect("chunk");
        reading += at.elapsed();
        let last = chunk.last;
        let at = Instant::now();
        restore.add_chunk(chunk).expect("a chunk that proves");
        restoring += at.elapsed();
        chunks += 1;
        if last {
            break;
        }
    }
    let leaves = restore.leaves();
    let at = Instant::now();
    let next = vec![Validator { name: "v".into(), public_key: validator, power: 1 }];
    restore.finish(&head, &[], &next).expect("finish");
    restoring += at.elapsed();
    let total = started.elapsed().as_secs_f64();
    println!(
        "state_sync/restore keys={leaves} chunk={}: {chunks} chunks in {total:.1} s ({:.0} leaves/s); \
         reading chunks {:.1} s, checking and writing {:.1} s; CPU {:.1} s; target {} MiB; peak RSS {} MiB",
        args.chunk,
        leaves as f64 / total,
        reading.as_secs_f64(),
        restoring.as_secs_f64(),
        (process_cpu() - cpu).as_secs_f64(),
        dir_bytes(&dir.path().join("target")) >> 20,
        peak_rss_mib()
    );
}
