//! The load generator (WORKLOADS.md `notarize-<size>` and `erc20-transfer`): signs
//! transactions from many senders (the first `--presign` before the run, the rest a batch at a
//! time as they come due), submits them in batches with a fixed number of requests in flight
//! (a fixed backlog) or at a fixed rate, and follows the chain's blocks to time each
//! transaction from submission to the moment its block is readable from the node. Past the
//! presigned ones, only transactions in flight are held: a run of millions keeps 8 bytes for
//! each of the others.
//!
//! `notarize` sends native transactions to the REST batch endpoint. `erc20-transfer` deploys
//! the Vyper ERC-20 of `tests/eth/contracts/Token.vy` (its bytecode is `assets/erc20-token.hex`,
//! compiled with vyper 0.4.3 for cancun; `scripts/eth-clients` checks it still matches), gives
//! every sender tokens, then sends signed EIP-1559 `transfer`s between random holders as
//! JSON-RPC batches of `eth_sendRawTransaction`, and reads every receipt at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_api::NodeClient;
use consortia_api::node::{BlocksQuery, Order, PageQuery, SubmitBatchRequest, SubmitBatchResponse};
use consortia_crypto::{PrivateKey, Scheme, hex0x};
use consortia_types::{EthTx, NotarizeRecord, Payload, Transaction, TxBody, encode};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::sync::Mutex;

use crate::client::DEFAULT_NODE;

/// The ERC-20 the `erc20-transfer` workload deploys (init code, without constructor arguments).
pub(crate) const ERC20_INIT_CODE: &str = include_str!("../assets/erc20-token.hex");
/// Tokens each sender gets before the run (it sends 1 per transfer).
const ERC20_GRANT: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    /// Native notarizations through `POST /v1/transactions/batch`.
    Notarize,
    /// ERC-20 `transfer`s through JSON-RPC `eth_sendRawTransaction` (secp256k1, EIP-1559).
    Erc20Transfer,
    /// Reads: ERC-20 `balanceOf` through `eth_call` (`--txs` requests).
    EthCall,
    /// Reads: `eth_getBalance` of existing accounts (`--txs` requests).
    EthGetBalance,
    /// Reads: the explorer's queries on the chain as it is (`--txs` requests, a quarter each:
    /// latest blocks, latest transactions, a time range, an address's transactions).
    Explorer,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// What each transaction does (WORKLOADS.md).
    #[arg(long, value_enum, default_value_t = Workload::Notarize)]
    workload: Workload,
    /// Transactions to submit (WORKLOADS.md asks for at least 10,000).
    #[arg(long, default_value_t = 100_000)]
    txs: usize,
    /// Distinct signing keys; transaction i is sent by key i mod senders.
    #[arg(long, default_value_t = 1_000)]
    senders: usize,
    /// Transactions per HTTP request (JSON-RPC batches hold at most 100).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Offered load in transactions per second; 0 offers a fixed backlog (as fast as the
    /// node admits, `concurrency` requests in flight).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Metadata bytes per record (notarize-100 by default).
    #[arg(long, default_value_t = 100)]
    payload_bytes: usize,
    /// Signature scheme of `notarize` (`erc20-transfer` always signs with secp256k1).
    #[arg(long, default_value = "ed25519", value_parser = crate::parse_scheme)]
    scheme: Scheme,
    /// Send batches as JSON with hex transactions instead of the binary (borsh) batch body.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Transactions signed before the run starts; the rest are signed during the run, a batch
    /// at a time just before it is due, so a long run holds only what is in flight.
    #[arg(long, default_value_t = 200_000)]
    presign: usize,
    /// Also print throughput and latency per window of this many seconds (by commit time),
    /// when the run is longer than one window: whether a sustained rate holds.
    #[arg(long, default_value_t = 60)]
    window: u64,
}

/// Transaction `i` of the run: its hash (hex, as the node's APIs write it) and its encoding.
/// Deterministic in `i`, so a run need not hold every transaction at once.
type Make = Arc<dyn Fn(usize) -> Result<(String, Vec<u8>)> + Send + Sync>;

/// The transactions of the run: the first ones signed before it starts, the rest on demand.
struct Source {
    presigned: Vec<(String, Vec<u8>)>,
    make: Make,
    count: usize,
}

impl Source {
    /// Signs the first `presign` of `count` transactions on every core.
    fn new(count: usize, presign: usize, make: Make) -> Result<Self> {
        let presigned = sign_parallel(count.min(presign), |i| make(i))?
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        Ok(Source { presigned, make, count })
    }

    /// Transactions `range`, signing (off the async runtime) what was not signed before.
    async fn batch(
        self: &Arc<Self>,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if range.end <= self.presigned.len() {
            return Ok(self.presigned[range].to_vec());
        }
        let source = self.clone();
        tokio::task::spawn_blocking(move || {
            range
                .map(|i| match source.presigned.get(i) {
                    Some(tx) => Ok(tx.clone()),
                    None => (source.make)(i),
                })
                .collect()
        })
        .await
        .context("a signing task panicked")?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A committed transaction: when (since the run started) and how long after its submission.
/// Two `u32`s, so a run of millions of transactions keeps its figures in a few bytes each.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Commit {
    at_ms: u32,
    latency_us: u32,
}

impl Commit {
    fn new(started: Instant, submitted: Instant, now: Instant) -> Self {
        let ms = now.saturating_duration_since(started).as_millis();
        let us = now.saturating_duration_since(submitted).as_micros();
        Commit { at_ms: ms.min(u32::MAX.into()) as u32, latency_us: us.min(u32::MAX.into()) as u32 }
    }

    fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.into())
    }
}

/// The transactions committed in one window of the run.
#[derive(Debug, PartialEq)]
struct Window {
    /// Seconds since the start of the run at which the window starts.
    from_s: u64,
    committed: usize,
    p50: Duration,
    p99: Duration,
}

/// Committed transactions grouped by the window of `window` seconds they were committed in,
/// with the latencies of each group.
fn windows(window: Duration, commits: &[Commit]) -> Vec<Window> {
    let mut groups: Vec<Vec<Duration>> = Vec::new();
    for c in commits {
        let k = (u128::from(c.at_ms) / window.as_millis().max(1)) as usize;
        if groups.len() <= k {
            groups.resize_with(k + 1, Vec::new);
        }
        groups[k].push(c.latency());
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(k, mut latencies)| {
            latencies.sort();
            Window {
                from_s: k as u64 * window.as_secs(),
                committed: latencies.len(),
                p50: percentile(&latencies, 50.0),
                p99: percentile(&latencies, 99.0),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) async fn run(args: BenchArgs) -> Result<()> {
    if args.txs == 0 || args.senders == 0 || args.batch == 0 || args.concurrency == 0 {
        bail!("--txs, --senders, --batch and --concurrency must be at least 1");
    }
    let client = crate::client::node_client(&args.node)?;
    let status = client.status().await?;
    let algo: consortia_crypto::Suite = status.suite.parse()?;
    let algo = algo.hash();

    // Sign ahead (up to `--presign`), so signing costs little during the measured run.
    let make = match args.workload {
        Workload::Notarize => notarizations(&args, status.chain_id, algo),
        Workload::Erc20Transfer => erc20_transfers(&args, &client, status.chain_id).await?,
        Workload::EthCall | Workload::EthGetBalance => {
            return run_reads(&args, &client, status.chain_id).await;
        }
        Workload::Explorer => return run_explorer(&args, &client).await,
    };
    let source = Arc::new(Source::new(args.txs, args.presign, make)?);
    // The measured run starts after any setup's blocks.
    let status = client.status().await?;
    let batch_size = match args.workload {
        Workload::Notarize => args.batch,
        _ => args.batch.min(consortia_rpc::eth::MAX_RPC_BATCH),
    };

    // Submitted and not yet seen committed (or rejected): hash -> when last submitted.
    let in_flight: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next_batch = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let start_height = status.height;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, source, in_flight, next_batch, rejected) = (
            client.clone(),
            source.clone(),
            in_flight.clone(),
            next_batch.clone(),
            rejected.clone(),
        );
        let (batch, rate, json, workload) = (batch_size, args.rate, args.json, args.workload);
        workers.push(tokio::spawn(async move {
            loop {
                let first = next_batch.fetch_add(batch, Ordering::Relaxed);
                if first >= source.count {
                    return Ok::<(), anyhow::Error>(());
                }
                let txs = source.batch(first..(first + batch).min(source.count)).await?;
                if rate > 0 {
                    // Transaction `first` is due `first / rate` seconds into the run.
                    let due = started + Duration::from_secs_f64(first as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut todo: Vec<&(String, Vec<u8>)> = txs.iter().collect();
                while !todo.is_empty() {
                    if Instant::now() > deadline {
                        bail!("timed out while submitting");
                    }
                    let now = Instant::now();
                    lock(&in_flight).extend(todo.iter().map(|(hash, _)| (hash.clone(), now)));
                    let raws: Vec<&[u8]> = todo.iter().map(|(_, raw)| raw.as_slice()).collect();
                    let outcomes = match workload {
                        Workload::Notarize => submit_rest(&client, &raws, json).await?,
                        _ => submit_rpc(&client, &raws).await?,
                    };
                    let mut retry = Vec::new();
                    for (tx, outcome) in todo.into_iter().zip(outcomes) {
                        match outcome {
                            Admission::Admitted => {}
                            Admission::Retry => retry.push(tx),
                            Admission::Rejected(why) => {
                                lock(&in_flight).remove(&tx.0);
                                rejected.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(target: "cli::bench", %why, "rejected");
                            }
                        }
                    }
                    if !retry.is_empty() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    todo = retry;
                }
            }
        }));
    }

    // Follow the chain: a transaction is committed when its block is readable from the node.
    let progress = ProgressBar::new(args.txs as u64).with_style(
        ProgressStyle::with_template("committed {bar:30} {pos}/{len} {per_sec}")
            .expect("valid template"),
    );
    let mut commits: Vec<Commit> = Vec::with_capacity(args.txs);
    // The ERC-20 workload reads every receipt at the end (failed transfers are not throughput).
    let mut committed_hashes: Vec<String> = Vec::new();
    let mut height = start_height;
    let mut blocks = 0usize;
    let mut last_commit = started;
    while commits.len() + rejected.load(Ordering::Relaxed) < args.txs {
        if Instant::now() > deadline {
            bail!("timed out: {} of {} committed", commits.len(), args.txs);
        }
        // A submitter that failed stops the run now, with its error.
        if let Some(i) = workers.iter().position(|w| w.is_finished()) {
            workers.swap_remove(i).await.context("a submitter panicked")??;
        }
        let latest = client.latest_block().await?;
        while height < latest.height {
            height += 1;
            let block = client.block(height).await?;
            let now = Instant::now();
            blocks += 1;
            let mut in_flight = lock(&in_flight);
            for hash in block.tx_hashes {
                if let Some(submitted) = in_flight.remove(&hash) {
                    commits.push(Commit::new(started, submitted, now));
                    last_commit = now;
                    if args.workload == Workload::Erc20Transfer {
                        committed_hashes.push(hash);
                    }
                }
            }
            progress.set_position(commits.len() as u64);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    progress.finish_and_clear();
    for w in workers {
        w.await.context("a submitter panicked")??;
    }
    let mut committed = commits.len();
    let mut latencies: Vec<Duration> = commits.iter().map(Commit::latency).collect();
    latencies.sort();
    let elapsed = last_commit.duration_since(started).as_secs_f64();
    let encoding = match args.workload {
        Workload::Notarize => {
            println!(
                "workload:    notarize-{} ({} scheme, {} senders)",
                args.payload_bytes, args.scheme, args.senders
            );
            if args.json { "JSON batches" } else { "binary batches" }
        }
        _ => {
            println!("workload:    erc20-transfer (secp256k1 EIP-1559, {} holders)", args.senders);
            "JSON-RPC batches of eth_sendRawTransaction"
        }
    };
    if args.rate > 0 {
        println!("offered:     {} tx/s in batches of {batch_size} ({encoding})", args.rate);
    } else {
        println!(
            "offered:     fixed backlog, {} requests x {batch_size} txs in flight ({encoding})",
            args.concurrency
        );
    }
    println!("committed:   {committed} of {} in {elapsed:.2} s over {blocks} blocks", args.txs);
    println!("rejected:    {}", rejected.load(Ordering::Relaxed));
    if args.workload == Workload::Erc20Transfer {
        let failed = count_failed_receipts(&client, &committed_hashes).await?;
        println!("failed:      {failed} (committed with a failed receipt; not in throughput)");
        committed -= failed;
    }
    println!("throughput:  {:.0} tx/s", committed as f64 / elapsed.max(1e-9));
    print_latency_and_memory(&latencies);
    let window = Duration::from_secs(args.window.max(1));
    if elapsed > window.as_secs_f64() {
        println!(
            "per {} s (by commit time): from s, committed tx/s, p50 / p99 ms",
            window.as_secs()
        );
        for w in windows(window, &commits) {
            println!(
                "  {:>5}  {:>7.0}  {:.0} / {:.0}",
                w.from_s,
                w.committed as f64 / window.as_secs_f64(),
                w.p50.as_secs_f64() * 1e3,
                w.p99.as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}

/// What the node said to one submitted transaction.
enum Admission {
    Admitted,
    /// The pool is full: submit it again shortly.
    Retry,
    Rejected(String),
}

/// Notarizations `notarize-<payload_bytes>` from `senders` keys.
fn notarizations(args: &BenchArgs, chain_id: u64, algo: consortia_crypto::HashAlgorithm) -> Make {
    let run_id = crate::keys::now_ms();
    let metadata = "m".repeat(args.payload_bytes);
    let keys: Vec<PrivateKey> =
        (0..args.senders).map(|_| PrivateKey::generate(args.scheme)).collect();
    let senders = args.senders;
    Arc::new(move |i| {
        let key = &keys[i % senders];
        let tx = Transaction::sign(
            TxBody {
                chain_id,
                nonce: (i / senders) as u64,
                public_key: key.public_key(),
                payload: Payload::Notarize(NotarizeRecord {
                    id: format!("bench-{run_id}-{i}"),
                    fields: BTreeMap::from([("i".to_owned(), i.to_string())]),
                    content_hash: algo.digest(&i.to_le_bytes()),
                    metadata: metadata.clone(),
                }),
            },
            key,
        );
        let bytes = encode(&tx);
        Ok((algo.digest(&bytes).to_hex(), bytes))
    })
}

/// `make(i)` for every `i < count` on every core, in order, with a progress bar.
fn sign_parallel<T: Send>(count: usize, make: impl Fn(usize) -> T + Sync) -> Result<Vec<T>> {
    let bar = ProgressBar::new(count as u64).with_style(
        ProgressStyle::with_template("signing {bar:30} {pos}/{len} {per_sec}")
            .expect("valid template"),
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let out = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (make, bar) = (&make, bar.clone());
                scope.spawn(move || {
                    ((t * chunk).min(count)..((t + 1) * chunk).min(count))
                        .map(|i| {
                            bar.inc(1);
                            make(i)
                        })
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked")))
            .collect::<Result<Vec<_>>>()
    })?;
    bar.finish_and_clear();
    Ok(out.into_iter().flatten().collect())
}

/// An EIP-1559 call at gas price 0, signed; its hash (keccak of the bytes) and bytes.
fn eth_call_tx(
    key: &PrivateKey,
    chain_id: u64,
    nonce: u64,
    to: alloy_primitives::TxKind,
    input: Vec<u8>,
    gas_limit: u64,
) -> Result<(String, Vec<u8>)> {
    let tx = alloy_consensus::TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        to,
        input: input.into(),
        ..Default::default()
    };
    let tx = EthTx::sign(tx, key)?;
    Ok((consortia_crypto::keccak256(tx.raw()).to_hex(), tx.raw().to_vec()))
}

/// ABI call data of ERC-20 `transfer(to, amount)`.
fn erc20_transfer(to: &consortia_crypto::Address, amount: u64) -> Vec<u8> {
    let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
    data.extend_from_slice(&[0; 12]);
    data.extend_from_slice(&to.0);
    data.extend_from_slice(&[0; 24]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

/// Deploys the ERC-20 and funds `senders` holders (not measured); then the transfers.
async fn erc20_transfers(args: &BenchArgs, client: &NodeClient, chain_id: u64) -> Result<Make> {
    let holders: Vec<PrivateKey> =
        (0..args.senders).map(|_| PrivateKey::generate(Scheme::Secp256k1)).collect();
    let addresses: Vec<consortia_crypto::Address> =
        holders.iter().map(|k| k.public_key().address()).collect();
    let token = deploy_erc20(args, client, chain_id, &addresses).await?;
    let to = alloy_primitives::TxKind::Call(token);
    let senders = args.senders;
    Ok(Arc::new(move |i| {
        let from = i % senders;
        // A pseudo-random receiver other than the sender.
        let receiver = (from + 1 + (i.wrapping_mul(7919) % (senders.max(2) - 1))) % senders;
        let data = erc20_transfer(&addresses[receiver], 1);
        eth_call_tx(&holders[from], chain_id, (i / senders) as u64, to, data, 100_000)
    }))
}

/// Deploys the ERC-20 from a fresh key and gives each holder [`ERC20_GRANT`] tokens; returns
/// the token's address once every setup transaction succeeded.
async fn deploy_erc20(
    args: &BenchArgs,
    client: &NodeClient,
    chain_id: u64,
    holders: &[consortia_crypto::Address],
) -> Result<alloy_primitives::Address> {
    let owner = PrivateKey::generate(Scheme::Secp256k1);
    let mut init = hex::decode(ERC20_INIT_CODE.trim().trim_start_matches("0x"))
        .context("assets/erc20-token.hex is not hex")?;
    let supply = ERC20_GRANT as u128 * holders.len() as u128;
    init.extend_from_slice(&[0; 16]);
    init.extend_from_slice(&supply.to_be_bytes());
    let token = alloy_primitives::Address::from(owner.public_key().address().0).create(0);
    let to = alloy_primitives::TxKind::Call(token);
    let mut setup =
        vec![eth_call_tx(&owner, chain_id, 0, alloy_primitives::TxKind::Create, init, 3_000_000)?];
    for (i, holder) in holders.iter().enumerate() {
        let data = erc20_transfer(holder, ERC20_GRANT);
        setup.push(eth_call_tx(&owner, chain_id, i as u64 + 1, to, data, 100_000)?);
    }
    let spinner = ProgressBar::new_spinner()
        .with_message(format!("deploying the ERC-20 and funding {} holders", holders.len()));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let setup_raws: Vec<&[u8]> = setup.iter().map(|(_, raw)| raw.as_slice()).collect();
    for chunk in setup_raws.chunks(consortia_rpc::eth::MAX_RPC_BATCH) {
        let mut todo = chunk.to_vec();
        while !todo.is_empty() {
            let outcomes = submit_rpc(client, &todo).await?;
            let mut retry = vec![];
            for (raw, outcome) in todo.into_iter().zip(outcomes) {
                match outcome {
                    Admission::Admitted => {}
                    Admission::Retry => retry.push(raw),
                    Admission::Rejected(why) => bail!("a setup transaction was refused: {why}"),
                }
            }
            if !retry.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            todo = retry;
        }
    }
    let hashes: Vec<String> = setup.iter().map(|(h, _)| h.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let last = client.rpc("eth_getTransactionReceipt", json!([hashes.last()])).await?;
        if !last.is_null() {
            break;
        }
        if Instant::now() > deadline {
            bail!("timed out deploying and funding the ERC-20");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = count_failed_receipts(client, &hashes).await?;
    if failed > 0 {
        bail!(
            "{failed} of the ERC-20's setup transactions failed; is the chain's evm_version cancun or later?"
        );
    }
    spinner.finish_and_clear();
    Ok(token)
}

/// The read workloads: `--txs` single JSON-RPC requests, `--concurrency` in flight, against
/// accounts that exist (ERC-20 holders: `balanceOf` through `eth_call`, or `eth_getBalance`).
async fn run_reads(args: &BenchArgs, client: &NodeClient, chain_id: u64) -> Result<()> {
    let holders: Vec<consortia_crypto::Address> = (0..args.senders)
        .map(|_| PrivateKey::generate(Scheme::Secp256k1).public_key().address())
        .collect();
    let token = deploy_erc20(args, client, chain_id, &holders).await?;
    let requests: Arc<Vec<(&str, Value)>> = Arc::new(
        (0..args.txs)
            .map(|i| {
                let holder = &holders[i % holders.len()];
                let params = match args.workload {
                    Workload::EthCall => {
                        let mut data = vec![0x70, 0xa0, 0x82, 0x31]; // balanceOf(address)
                        data.extend_from_slice(&[0; 12]);
                        data.extend_from_slice(&holder.0);
                        json!([{"to": format!("{token:#x}"), "data": hex0x(&data)}, "latest"])
                    }
                    _ => json!([holder.to_checksum_hex(), "latest"]),
                };
                let method = match args.workload {
                    Workload::EthCall => "eth_call",
                    _ => "eth_getBalance",
                };
                (method, params)
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((method, params)) = requests.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let sent = Instant::now();
                client.rpc(method, params.clone()).await.with_context(|| format!("request {i}"))?;
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = vec![];
    for w in workers {
        latencies.extend(w.await.context("a reader panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let method = if args.workload == Workload::EthCall {
        "eth_call (ERC-20 balanceOf)"
    } else {
        "eth_getBalance"
    };
    println!("workload:    {method}, {} accounts", holders.len());
    println!("offered:     {} requests in flight, one request per HTTP call", args.concurrency);
    println!("answered:    {} in {elapsed:.2} s", latencies.len());
    println!("throughput:  {:.0} requests/s", latencies.len() as f64 / elapsed.max(1e-9));
    print_latency_and_memory(&latencies);
    Ok(())
}

/// The explorer's queries against the chain as it is: `--txs` GETs, `--concurrency` in
/// flight, a quarter each of latest blocks, latest transactions, a one-minute time range at a
/// random place in the chain's life, and the latest transactions of an address (senders seen
/// in the chain, and the notary, which every notarization calls). Latency per query.
async fn run_explorer(args: &BenchArgs, client: &NodeClient) -> Result<()> {
    use rand_core::{OsRng, RngCore};
    let status = client.status().await?;
    let first = client.block(1).await.context("the chain has no block 1")?;
    let (start, end) = (first.time_ms, status.latest_block_time_ms);
    let seen = client.recent_transactions(&PageQuery { limit: Some(200), before: None }).await?;
    let mut addresses: Vec<String> = seen.transactions.into_iter().map(|t| t.sender).collect();
    addresses.sort();
    addresses.dedup();
    addresses.push(consortia_types::NOTARY_ADDRESS.to_checksum_hex());
    const KINDS: [&str; 4] = [
        "latest blocks (20)",
        "latest transactions (20)",
        "time range (1 min, ≤100 blocks)",
        "address transactions (20)",
    ];
    let page = PageQuery { limit: Some(20), before: None };
    let reads: Arc<Vec<Read>> = Arc::new(
        (0..args.txs)
            .map(|i| match i % 4 {
                0 => Read::Blocks(BlocksQuery {
                    order: Some(Order::Desc),
                    limit: Some(20),
                    tx_hashes: Some(false),
                    ..BlocksQuery::default()
                }),
                1 => Read::Latest(page.clone()),
                2 => {
                    let from = start + OsRng.next_u64() % end.saturating_sub(start).max(1);
                    Read::Blocks(BlocksQuery {
                        from_time: Some(from),
                        to_time: Some(from + 60_000),
                        limit: Some(100),
                        tx_hashes: Some(false),
                        ..BlocksQuery::default()
                    })
                }
                _ => {
                    let a = &addresses[OsRng.next_u64() as usize % addresses.len()];
                    Read::Address(a.clone(), page.clone())
                }
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, reads, next) = (client.clone(), reads.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(read) = reads.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let sent = Instant::now();
                match read {
                    Read::Blocks(q) => client.blocks(q).await.map(drop),
                    Read::Latest(q) => client.recent_transactions(q).await.map(drop),
                    Read::Address(a, q) => client.address_transactions(a, q).await.map(drop),
                }
                .with_context(|| format!("read {i}"))?;
                latencies.push((i % 4, sent.elapsed()));
            }
        }));
    }
    let mut latencies = vec![];
    for w in workers {
        latencies.extend(w.await.context("a reader panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "workload:    explorer reads on a chain of {} blocks, {} addresses",
        status.height,
        addresses.len()
    );
    println!("offered:     {} requests in flight, one request per HTTP call", args.concurrency);
    println!(
        "answered:    {} in {elapsed:.2} s ({:.0} requests/s)",
        latencies.len(),
        latencies.len() as f64 / elapsed.max(1e-9)
    );
    for (k, name) in KINDS.iter().enumerate() {
        let mut of: Vec<Duration> =
            latencies.iter().filter(|(kind, _)| *kind == k).map(|(_, d)| *d).collect();
        of.sort();
        println!(
            "  {name:<34} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&of, 50.0).as_secs_f64() * 1e3,
            percentile(&of, 99.0).as_secs_f64() * 1e3,
            of.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }
    let mut all: Vec<Duration> = latencies.into_iter().map(|(_, d)| d).collect();
    all.sort();
    print_latency_and_memory(&all);
    Ok(())
}

/// The closing lines of every run: latency percentiles of the sorted `latencies`, and this
/// process's peak memory.
fn print_latency_and_memory(latencies: &[Duration]) {
    println!(
        "latency:     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(latencies, 50.0).as_secs_f64() * 1e3,
        percentile(latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    if let Some(rss) = peak_rss_kib() {
        let cpu = cpu_seconds().map(|s| format!(", CPU {s:.1} s")).unwrap_or_default();
        println!("load generator: peak RSS {} MiB{cpu}", rss / 1024);
    }
}

/// One read of the explorer workload.
enum Read {
    Blocks(BlocksQuery),
    Latest(PageQuery),
    Address(String, PageQuery),
}

/// How many of these transactions have a receipt with status 0 (read in JSON-RPC batches).
async fn count_failed_receipts(client: &NodeClient, hashes: &[String]) -> Result<usize> {
    let mut failed = 0;
    for chunk in hashes.chunks(consortia_rpc::eth::MAX_RPC_BATCH) {
        let calls: Vec<(&str, Value)> =
            chunk.iter().map(|h| ("eth_getTransactionReceipt", json!([h]))).collect();
        let answers = client.rpc_batch(&calls).await?;
        failed += answers.iter().filter(|a| matches!(a, Ok(r) if r["status"] == "0x0")).count();
    }
    Ok(failed)
}

/// Submits encoded transactions in one REST batch (binary, or JSON with `json`).
async fn submit_rest(client: &NodeClient, raws: &[&[u8]], json: bool) -> Result<Vec<Admission>> {
    let txs = raws.iter().map(|raw| raw.to_vec());
    let response: SubmitBatchResponse = if json {
        let body = SubmitBatchRequest { txs: txs.map(|tx| hex0x(&tx)).collect() };
        client.submit_batch_json(&body).await?
    } else {
        client.submit_batch(&txs.collect::<Vec<Vec<u8>>>()).await?
    };
    Ok(response
        .results
        .into_iter()
        .map(|item| match item.error {
            None => Admission::Admitted,
            Some(e) if e.code == "pool_full" => Admission::Retry,
            Some(e) => Admission::Rejected(format!("{}: {}", e.code, e.message)),
        })
        .collect())
}

/// Submits raw Ethereum transactions as one JSON-RPC batch of `eth_sendRawTransaction`.
async fn submit_rpc(client: &NodeClient, raws: &[&[u8]]) -> Result<Vec<Admission>> {
    let calls: Vec<(&str, Value)> =
        raws.iter().map(|raw| ("eth_sendRawTransaction", json!([hex0x(raw)]))).collect();
    let answers = client.rpc_batch(&calls).await?;
    Ok(answers
        .into_iter()
        .map(|a| match a {
            Ok(_) => Admission::Admitted,
            Err(e) if e.message.starts_with("txpool is full") => Admission::Retry,
            Err(e) => Admission::Rejected(e.to_string()),
        })
        .collect())
}

/// This process's user + system CPU time (Linux `/proc/self/stat`, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// This process's peak resident set (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_group_transactions_by_commit_time_with_their_latencies() {
        let commit = |at_ms, latency_ms: u32| Commit { at_ms, latency_us: latency_ms * 1_000 };
        // Committed at 0.5 s and 0.9 s (window 0), 2.5 s (window 2).
        let commits = [commit(500, 100), commit(900, 800), commit(2_500, 500)];
        let got = windows(Duration::from_secs(1), &commits);
        let ms = Duration::from_millis;
        assert_eq!(
            got,
            vec![
                Window { from_s: 0, committed: 2, p50: ms(100), p99: ms(800) },
                Window { from_s: 1, committed: 0, p50: Duration::ZERO, p99: Duration::ZERO },
                Window { from_s: 2, committed: 1, p50: ms(500), p99: ms(500) },
            ]
        );
    }

    #[test]
    fn a_commit_measures_from_its_submission_and_the_run_start() {
        let started = Instant::now();
        let submitted = started + Duration::from_millis(250);
        let now = started + Duration::from_millis(1_000);
        let c = Commit::new(started, submitted, now);
        assert_eq!(c, Commit { at_ms: 1_000, latency_us: 750_000 });
        assert_eq!(c.latency(), Duration::from_millis(750));
    }
}
