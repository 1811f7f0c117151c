//! The load generator (WORKLOADS.md `notarize-<size>`): pre-signs notarization transactions
//! from many senders, submits them over HTTP in batches with a fixed number of requests in
//! flight (a fixed backlog), and follows the chain's blocks to time each transaction from
//! submission to the moment its block is readable from the node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_crypto::{PrivateKey, Scheme, hex0x};
use consortia_rpc::views::{BlockView, SubmitBatchRequest, SubmitBatchResponse};
use consortia_types::{NotarizeRecord, Payload, Transaction, TxBody, encode};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

use crate::client::{DEFAULT_NODE, NodeClient};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Transactions to submit (WORKLOADS.md asks for at least 10,000).
    #[arg(long, default_value_t = 100_000)]
    txs: usize,
    /// Distinct signing keys; transaction i is sent by key i mod senders.
    #[arg(long, default_value_t = 1_000)]
    senders: usize,
    /// Transactions per HTTP request.
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
    #[arg(long, default_value = "ed25519", value_parser = crate::parse_scheme)]
    scheme: Scheme,
    /// Send batches as JSON with hex transactions instead of the binary (borsh) batch body.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
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
    let client = NodeClient::new(&args.node);
    let status = client.status().await?;
    let algo: consortia_crypto::Suite = status.suite.parse()?;
    let algo = algo.hash();

    // Sign everything first, so signing costs nothing during the measured run.
    let bar = ProgressBar::new(args.txs as u64).with_style(
        ProgressStyle::with_template("signing {bar:30} {pos}/{len} {per_sec}")
            .expect("valid template"),
    );
    let run_id = crate::keys::now_ms();
    let metadata = "m".repeat(args.payload_bytes);
    let keys: Arc<Vec<PrivateKey>> =
        Arc::new((0..args.senders).map(|_| PrivateKey::generate(args.scheme)).collect());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = args.txs.div_ceil(threads);
    let mut handles = Vec::new();
    for t in 0..threads {
        let (keys, metadata, bar) = (keys.clone(), metadata.clone(), bar.clone());
        let (senders, chain_id, total) = (args.senders, status.chain_id, args.txs);
        handles.push(std::thread::spawn(move || {
            let range = (t * chunk)..((t + 1) * chunk).min(total);
            range
                .map(|i| {
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
                    bar.inc(1);
                    let bytes = encode(&tx);
                    (algo.digest(&bytes).to_hex(), bytes)
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut signed = Vec::with_capacity(args.txs);
    for h in handles {
        signed.extend(h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))?);
    }
    bar.finish_and_clear();
    let index: HashMap<String, usize> =
        signed.iter().enumerate().map(|(i, (h, _))| (h.clone(), i)).collect();
    let payloads: Arc<Vec<Vec<u8>>> = Arc::new(signed.into_iter().map(|(_, p)| p).collect());

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
        let (batch, rate, json) = (args.batch, args.rate, args.json);
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
let txs = todo.iter().map(|&i| payloads[i].clone());
                    submitted.set(todo.iter().copied(), Instant::now());
                    let response: SubmitBatchResponse = if json {
                        let body = SubmitBatchRequest { txs: txs.map(|tx| hex0x(&tx)).collect() };
                        client.post("/v1/transactions/batch", &body).await?
                    } else {
                        let body = encode(&txs.collect::<Vec<Vec<u8>>>());
                        client.post_bytes("/v1/transactions/batch", body).await?
                    };
                    let mut retry = Vec::new();
                    for (&i, item) in todo.iter().zip(&response.results) {
                        match &item.error {
                            None => {}
                            Some(e) if e.code == "pool_full" => retry.push(i),
                            Some(e) => {
                                rejected.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(target: "cli::bench", code = %e.code, message = %e.message, "rejected");
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
        let latest: BlockView = client.get("/v1/blocks/latest").await?;
        while height < latest.height {
            height += 1;
            let block: BlockView = client.get(&format!("/v1/blocks/{height}")).await?;
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
    let tps = committed as f64 / elapsed.max(1e-9);
    println!(
        "workload:    notarize-{} ({} scheme, {} senders)",
        args.payload_bytes, args.scheme, args.senders
    );
    let encoding = if args.json { "JSON batches" } else { "binary batches" };
    if args.rate > 0 {
        println!("offered:     {} tx/s in batches of {} ({})", args.rate, args.batch, encoding);
    } else {
        println!(
            "offered:     fixed backlog, {} requests x {} txs in flight ({})",
            args.concurrency, args.batch, encoding
        );
    }
    println!("committed:   {committed} of {} in {elapsed:.2} s over {blocks} blocks", args.txs);
    println!("rejected:    {}", rejected.load(Ordering::Relaxed));
    println!("throughput:  {tps:.0} tx/s");
    println!(
        "latency:     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    if let Some(rss) = peak_rss_kib() {
        println!("load generator: peak RSS {} MiB", rss / 1024);
    }
    Ok(())
}

/// This process's peak resident set (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
