//! The load generator (WORKLOADS.md `notarize-<size>` and `erc20-transfer`): pre-signs
//! transactions from many senders, submits them in batches with a fixed number of requests in
//! flight (a fixed backlog) or at a fixed rate, and follows the chain's blocks to time each
//! transaction from submission to the moment its block is readable from the node.
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
    /// Also print throughput and latency per window of this many seconds (by commit time),
    /// when the run is longer than one window: whether a sustained rate holds.
    #[arg(long, default_value_t = 60)]
    window: u64,
}

/// One timestamp slot per transaction.
#[derive(Debug)]
struct Slots(Mutex<Vec<Option<Instant>>>);

impl Slots {
    fn new(n: usize) -> Self {
        Slots(Mutex::new(vec![None; n]))
    }

    fn set(&self, range: impl Iterator<Item = usize>, at: Instant) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for i in range {
            v[i] = Some(at);
        }
    }

    fn take(&self) -> Vec<Option<Instant>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
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

/// Committed transactions grouped by the window of `window` seconds (since `started`) they
/// were committed in, with the latencies (from `submitted`) of each group.
fn windows(
    started: Instant,
    window: Duration,
    committed_at: &[Option<Instant>],
    submitted: &[Option<Instant>],
) -> Vec<Window> {
    let mut groups: Vec<Vec<Duration>> = Vec::new();
    for (c, s) in committed_at.iter().zip(submitted) {
        let (Some(c), Some(s)) = (c, s) else { continue };
        let k =
            (c.saturating_duration_since(started).as_secs_f64() / window.as_secs_f64()) as usize;
        if groups.len() <= k {
            groups.resize_with(k + 1, Vec::new);
        }
        groups[k].push(c.saturating_duration_since(*s));
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

    // Sign everything first, so signing costs nothing during the measured run.
    let signed = match args.workload {
        Workload::Notarize => sign_notarizations(&args, status.chain_id, algo)?,
        Workload::Erc20Transfer => prepare_erc20(&args, &client, status.chain_id).await?,
        Workload::EthCall | Workload::EthGetBalance => {
            return run_reads(&args, &client, status.chain_id).await;
        }
        Workload::Explorer => return run_explorer(&args, &client).await,
    };
    let index: HashMap<String, usize> =
        signed.iter().enumerate().map(|(i, (h, _))| (h.clone(), i)).collect();
    let hashes: Vec<String> = signed.iter().map(|(h, _)| h.clone()).collect();
    let payloads: Arc<Vec<Vec<u8>>> = Arc::new(signed.into_iter().map(|(_, p)| p).collect());
    // The measured run starts after any setup's blocks.
    let status = client.status().await?;
    let batch_size = match args.workload {
        Workload::Notarize => args.batch,
        _ => args.batch.min(consortia_rpc::eth::MAX_RPC_BATCH),
    };

    let submitted = Arc::new(Slots::new(args.txs));
    let next_batch = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let start_height = status.height;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, payloads, submitted, next_batch, rejected) = (
            client.clone(),
            payloads.clone(),
            submitted.clone(),
            next_batch.clone(),
            rejected.clone(),
        );
        let (batch, rate, json, workload) = (batch_size, args.rate, args.json, args.workload);
        workers.push(tokio::spawn(async move {
            loop {
                let first = next_batch.fetch_add(batch, Ordering::Relaxed);
                if first >= payloads.len() {
                    return Ok::<(), anyhow::Error>(());
                }
                if rate > 0 {
                    // Transaction `first` is due `first / rate` seconds into the run.
                    let due = started + Duration::from_secs_f64(first as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut todo: Vec<usize> = (first..(first + batch).min(payloads.len())).collect();
                while !todo.is_empty() {
                    if Instant::now() > deadline {
                        bail!("timed out while submitting");
                    }
                    submitted.set(todo.iter().copied(), Instant::now());
                    let outcomes = match workload {
                        Workload::Notarize => submit_rest(&client, &payloads, &todo, json).await?,
                        _ => submit_rpc(&client, &payloads, &todo).await?,
                    };
                    let mut retry = Vec::new();
                    for (&i, outcome) in todo.iter().zip(outcomes) {
                        match outcome {
                            Admission::Admitted => {}
                            Admission::Retry => retry.push(i),
                            Admission::Rejected(why) => {
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
    let mut committed_at: Vec<Option<Instant>> = vec![None; args.txs];
    let mut committed = 0usize;
    let mut height = start_height;
    let mut blocks = 0usize;
    let mut last_commit = started;
    while committed + rejected.load(Ordering::Relaxed) < args.txs {
        if Instant::now() > deadline {
            bail!("timed out: {committed} of {} committed", args.txs);
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
            for hash in &block.tx_hashes {
                if let Some(&i) = index.get(hash)
                    && committed_at[i].is_none()
                {
                    committed_at[i] = Some(now);
                    committed += 1;
                    last_commit = now;
                }
            }
            progress.set_position(committed as u64);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    progress.finish_and_clear();
    for w in workers {
        w.await.context("a submitter panicked")??;
    }
    let submitted = submitted.take();
    let mut latencies: Vec<Duration> = committed_at
        .iter()
        .zip(&submitted)
        .filter_map(|(c, s)| Some(c.as_ref()?.saturating_duration_since(*s.as_ref()?)))
        .collect();
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
        let failed = count_failed_receipts(&client, &hashes).await?;
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
        for w in windows(started, window, &committed_at, &submitted) {
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
fn sign_notarizations(
    args: &BenchArgs,
    chain_id: u64,
    algo: consortia_crypto::HashAlgorithm,
) -> Result<Vec<(String, Vec<u8>)>> {
    let run_id = crate::keys::now_ms();
    let metadata = "m".repeat(args.payload_bytes);
    let keys: Vec<PrivateKey> =
        (0..args.senders).map(|_| PrivateKey::generate(args.scheme)).collect();
    let senders = args.senders;
    sign_parallel(args.txs, |i| {
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
        (algo.digest(&bytes).to_hex(), bytes)
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

/// Deploys the ERC-20 and funds `senders` holders (not measured), then signs the transfers.
async fn prepare_erc20(
    args: &BenchArgs,
    client: &NodeClient,
    chain_id: u64,
) -> Result<Vec<(String, Vec<u8>)>> {
    let holders: Vec<PrivateKey> =
        (0..args.senders).map(|_| PrivateKey::generate(Scheme::Secp256k1)).collect();
    let addresses: Vec<consortia_crypto::Address> =
        holders.iter().map(|k| k.public_key().address()).collect();
    let token = deploy_erc20(args, client, chain_id, &addresses).await?;
    let to = alloy_primitives::TxKind::Call(token);
    let senders = args.senders;
    sign_parallel(args.txs, |i| {
        let from = i % senders;
        // A pseudo-random receiver other than the sender.
        let receiver = (from + 1 + (i.wrapping_mul(7919) % (senders.max(2) - 1))) % senders;
        let data = erc20_transfer(&addresses[receiver], 1);
        eth_call_tx(&holders[from], chain_id, (i / senders) as u64, to, data, 100_000)
    })?
    .into_iter()
    .collect()
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
    let payloads: Vec<Vec<u8>> = setup.iter().map(|(_, raw)| raw.clone()).collect();
    for chunk in (0..payloads.len()).collect::<Vec<_>>().chunks(consortia_rpc::eth::MAX_RPC_BATCH) {
        let mut todo = chunk.to_vec();
        while !todo.is_empty() {
            let outcomes = submit_rpc(client, &payloads, &todo).await?;
            let mut retry = vec![];
            for (&i, outcome) in todo.iter().zip(outcomes) {
                match outcome {
                    Admission::Admitted => {}
                    Admission::Retry => retry.push(i),
                    Admission::Rejected(why) => bail!("setup transaction {i} refused: {why}"),
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
        println!("load generator: peak RSS {} MiB", rss / 1024);
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

/// Submits transactions `todo` in one REST batch (binary, or JSON with `json`).
async fn submit_rest(
    client: &NodeClient,
    payloads: &[Vec<u8>],
    todo: &[usize],
    json: bool,
) -> Result<Vec<Admission>> {
    let txs = todo.iter().map(|&i| payloads[i].clone());
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

/// Submits raw Ethereum transactions `todo` as one JSON-RPC batch of `eth_sendRawTransaction`.
async fn submit_rpc(
    client: &NodeClient,
    payloads: &[Vec<u8>],
    todo: &[usize],
) -> Result<Vec<Admission>> {
    let calls: Vec<(&str, Value)> =
        todo.iter().map(|&i| ("eth_sendRawTransaction", json!([hex0x(&payloads[i])]))).collect();
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
        let t0 = Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        // Committed at 0.5 s and 0.9 s (window 0), 2.5 s (window 2); one never committed.
        let committed = [at(500), at(900), at(2_500), None];
        let submitted = [at(400), at(100), at(2_000), at(0)];
        let got = windows(t0, Duration::from_secs(1), &committed, &submitted);
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
}
