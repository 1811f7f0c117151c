//! `storage::commit/growth`: what one block costs to prepare (the JMT) and commit (every table,
//! one fsync) as the chain grows, through the real store API (`BlockWriter`), with blocks of
//! `notarize-100` transactions as a validator commits them: per transaction a signed
//! notarization, its receipt with the notary's event (two topics), and two state writes (the
//! record, the sender's nonce), from 1,000 senders.
//!
//! Before each block is prepared, the keys it writes are read as its execution reads them
//! (`StateReader::get` through a `PendingState`, one per block): the notarization's id, absent, and the sender's
//! nonce, present after its first transaction.
//!
//! With `--transfers`, each receipt also carries an ERC-20 `Transfer` of one unit from the
//! sender to another sender (the token index's cost: `erc20-transfer`'s events).
//!
//! Prints one row per window of `--every` transactions: the reads' cost per transaction, the
//! blocks' mean and p50/p90 commit and prepare times, the commit cost per transaction, the store's size and this process' peak
//! RSS, and the process' CPU per transaction (the index's background work included). A cost
//! that grows with the chain shows as rising rows.
//!
//! ```sh
//! cargo bench -p consortia-storage --bench growth -- --txs 1000000 --block 2000 --every 100000
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use consortia_crypto::{Address, Hash, HashAlgorithm, PrivateKey, Scheme, Suite};
use consortia_storage::{BlockWriter, ChainStore, PendingState, StateChanges, StateReader};
use consortia_test_utils::tx::notarize;
use consortia_types::{Block, Event, Genesis, Header, Receipt, ReceiptStatus, Transaction};

#[path = "support/measure.rs"]
mod measure;
use measure::{dir_bytes, peak_rss_mib, process_cpu};

const CHAIN_ID: u64 = 9;
const SENDERS: usize = 1_000;

struct Args {
    txs: u64,
    block: u64,
    every: u64,
    transfers: bool,
}

fn args() -> Args {
    let mut out = Args { txs: 1_000_000, block: 2_000, every: 100_000, transfers: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match flag.as_str() {
            "--txs" => out.txs = value(),
            "--block" => out.block = value(),
            "--every" => out.every = value(),
            "--transfers" => out.transfers = true,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// An ERC-20 `Transfer` of one unit from `from` to `to`.
fn transfer(from: Address, to: Address) -> Event {
    let word = |a: Address| {
        let mut w = [0u8; 32];
        w[12..].copy_from_slice(&a.0);
        Hash(w)
    };
    let mut one = vec![0u8; 32];
    one[31] = 1;
    Event {
        contract: Address::from_slice(&[0x20; 20]),
        topics: vec![
            consortia_crypto::keccak256(b"Transfer(address,address,uint256)"),
            word(from),
            word(to),
        ],
        data: one,
    }
}

/// One block of `n` notarizations from `senders` (nonces in `nonces`), with receipts (and a
/// token transfer in each, with `transfers`) and the state it writes.
fn block_of(
    n: u64,
    first: u64,
    (senders, transfers): (&[PrivateKey], bool),
    nonces: &mut [u64],
) -> (Vec<Transaction>, Vec<Receipt>, StateChanges) {
    let notary = Address::from_slice(&[0x70; 20]);
    let notarized = HashAlgorithm::Sha256.digest(b"Notarized(string,bytes32)");
    let mut txs = Vec::with_capacity(n as usize);
    let mut receipts = Vec::with_capacity(n as usize);
    let mut changes = BTreeMap::new();
    for i in first..first + n {
        let s = (i % SENDERS as u64) as usize;
        let id = format!("doc-{i}");
        let content = i.to_be_bytes();
        let tx = notarize(&senders[s], CHAIN_ID, nonces[s], &id, &content);
        nonces[s] += 1;
        let event = Event {
            contract: notary,
            topics: vec![notarized, HashAlgorithm::Sha256.digest(&content)],
            data: id.clone().into_bytes(),
        };
        let mut events = vec![event];
        if transfers {
            let to = senders[(s * 7 + 1) % SENDERS].public_key().address();
            events.push(transfer(senders[s].public_key().address(), to));
        }
        receipts.push(Receipt {
            status: ReceiptStatus::Success,
            steps_used: 100,
            events,
            output: vec![],
        });
        changes.insert(format!("notary/{id}").into_bytes(), Some(vec![7u8; 100]));
        let sender = senders[s].public_key().address();
        changes.insert(
            [b"nonce/".as_slice(), &sender.0].concat(),
            Some(nonces[s].to_be_bytes().to_vec()),
        );
        txs.push(tx);
    }
    (txs, receipts, changes)
}

fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let validator = PrivateKey::generate(Scheme::Ed25519).public_key();
    let genesis = Genesis::solo(CHAIN_ID, "growth", Suite::Standard, validator, 1000);
    let (store, _) = ChainStore::open(&dir.path().join("store"), &genesis).expect("a store");
    let senders: Vec<PrivateKey> =
        (0..SENDERS).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
    let mut nonces = vec![0u64; SENDERS];
    let start_ms = 1_700_000_000_000u64;
    let header = |height, state_root, tx_count| Header {
        chain_id: CHAIN_ID,
        height,
        parent_hash: Hash::ZERO,
        time_ms: start_ms + height * 100,
        proposer: Address::default(),
        tx_count,
        tx_root: Hash::ZERO,
        state_root,
        receipts_root: Hash::ZERO,
        next_validators_hash: Hash::ZERO,
    };
    let prepared = store.prepare_state(0, StateChanges::new(), None).expect("genesis state");
    let block =
        Block { header: header(0, prepared.root(), 0), transactions: vec![], certificate: None };
    store.initialize(&block, &prepared).expect("genesis");
    println!(
        "storage::commit/growth block={} txs={} transfers={}: per window of {} transactions",
        args.block, args.txs, args.transfers, args.every
    );
    println!(
        "| chain (txs) | blocks | reads µs/tx | commit ms/block mean / p50 / p90 | commit µs/tx | prepare ms/block mean | CPU µs/tx | store MiB | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut cpu = process_cpu();
    let (mut commits, mut prepares, mut reads) = (Vec::new(), Vec::new(), Duration::ZERO);
    let mut done = 0u64;
    let mut height = 1;
    while done < args.txs {
        let n = args.block.min(args.txs - done);
        let (transactions, receipts, changes) =
            block_of(n, done, (&senders, args.transfers), &mut nonces);
        let t = Instant::now();
        let state = PendingState::new(&store, None);
        for key in changes.keys() {
            std::hint::black_box(state.get(key).expect("a state read"));
        }
        reads += t.elapsed();
        let t = Instant::now();
        let prepared = store.prepare_state(height, changes, None).expect("prepared");
        prepares.push(t.elapsed());
        let header = header(height, prepared.root(), n as u32);
        let block = Block { header, transactions, certificate: None };
        let t = Instant::now();
        store.commit_block(&block, &receipts, &prepared).expect("committed");
        commits.push(t.elapsed());
        done += n;
        height += 1;
        if done.is_multiple_of(args.every) || done == args.txs {
            let blocks = commits.len();
            let mean =
                |d: &[Duration]| d.iter().sum::<Duration>().as_secs_f64() * 1e3 / d.len() as f64;
            let commit_mean = mean(&commits);
            let window_txs = (blocks as u64 * args.block).min(args.every) as f64;
            let per_tx = commits.iter().sum::<Duration>().as_secs_f64() * 1e6 / window_txs;
            let reads_per_tx = std::mem::take(&mut reads).as_secs_f64() * 1e6 / window_txs;
            let prepare_mean = mean(&prepares);
            let cpu_now = process_cpu();
            let cpu_per_tx = (cpu_now - cpu).as_secs_f64() * 1e6 / window_txs;
            cpu = cpu_now;
            commits.sort();
            println!(
                "| {done} | {blocks} | {reads_per_tx:.1} | {commit_mean:.1} / {:.1} / {:.1} | {per_tx:.1} | {prepare_mean:.1} | {cpu_per_tx:.0} | {} | {} |",
                percentile(&commits, 0.5),
                percentile(&commits, 0.9),
                dir_bytes(dir.path()) >> 20,
                peak_rss_mib()
            );
            commits.clear();
            prepares.clear();
        }
    }
}
