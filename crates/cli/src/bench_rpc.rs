//! `consortia bench-rpc`: JSON-RPC read throughput of any Ethereum node (ours, anvil, geth), the
//! same client and requests against each, so that figures compare (WORKLOADS.md: "the same
//! requests against a reference Ethereum node run beside ours"). `scripts/bench-rpc` runs it
//! against a Consortia node and anvil in turn.
//!
//! Workloads: `block-number` (`eth_blockNumber`), `get-balance` (`eth_getBalance` over 1,000
//! accounts) and `call` (ERC-20 `balanceOf` through `eth_call`, over the same accounts, on the
//! Vyper token of the `erc20-transfer` workload, deployed first with `--key`'s account).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_consensus::TxLegacy;
use alloy_primitives::{TxKind, U256};
use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_crypto::{PrivateKey, Scheme, hex0x};
use consortia_types::EthTx;
use serde_json::{Value, json};

use crate::bench::ERC20_INIT_CODE;

/// Accounts the reads spread over.
const ACCOUNTS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReadWorkload {
    /// `eth_blockNumber`.
    BlockNumber,
    /// `eth_getBalance` of 1,000 accounts in turn.
    GetBalance,
    /// ERC-20 `balanceOf` of 1,000 accounts through `eth_call`.
    Call,
}

#[derive(Debug, Args)]
pub(crate) struct BenchRpcArgs {
    /// The node's JSON-RPC URL (requests are POSTed to it as given).
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    workload: ReadWorkload,
    /// Requests to send.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight, each on its own connection.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Hex private key of a funded account (deploys the token of `call`).
    #[arg(long, env = "BENCH_RPC_KEY")]
    key: Option<String>,
}

async fn rpc(http: &reqwest::Client, url: &str, method: &str, params: Value) -> Result<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value = http.post(url).json(&body).send().await?.error_for_status()?.json().await?;
    match answer.get("result") {
        Some(result) => Ok(result.clone()),
        None => bail!("{method}: {}", answer["error"]),
    }
}

fn quantity(v: &Value) -> Result<u128> {
    let text = v.as_str().context("a quantity")?;
    Ok(u128::from_str_radix(text.trim_start_matches("0x"), 16)?)
}

/// Deploys the token with `key`'s account; its address.
async fn deploy_token(http: &reqwest::Client, url: &str, key: &str) -> Result<String> {
    let secret = hex::decode(key.trim_start_matches("0x")).context("--key is not hex")?;
    let key = PrivateKey::from_secret_bytes(Scheme::Secp256k1, &secret)?;
    let from = key.public_key().address().to_checksum_hex();
    let chain_id = quantity(&rpc(http, url, "eth_chainId", json!([])).await?)? as u64;
    let nonce =
        quantity(&rpc(http, url, "eth_getTransactionCount", json!([from, "pending"])).await?)?;
    let price = quantity(&rpc(http, url, "eth_gasPrice", json!([])).await?)?;
    let mut init = hex::decode(ERC20_INIT_CODE.trim().trim_start_matches("0x"))?;
    init.extend(U256::from(1_000_000u64).to_be_bytes::<32>());
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce: nonce as u64,
        gas_price: price * 2 + 1,
        gas_limit: 3_000_000,
        to: TxKind::Create,
        value: U256::ZERO,
        input: init.into(),
    };
    let raw = hex0x(EthTx::sign(tx, &key)?.raw());
    let hash = rpc(http, url, "eth_sendRawTransaction", json!([raw])).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let receipt = rpc(http, url, "eth_getTransactionReceipt", json!([hash])).await?;
        if let Some(address) = receipt.get("contractAddress").and_then(Value::as_str) {
            return Ok(address.to_owned());
        }
        if Instant::now() > deadline {
            bail!("the token's deployment {hash} was not mined within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn run(args: BenchRpcArgs) -> Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|_| PrivateKey::generate(Scheme::Secp256k1).public_key().address().to_checksum_hex())
        .collect();
    let token = match args.workload {
        ReadWorkload::Call => {
            let key = args.key.as_deref().context("the call workload needs --key")?;
            Some(deploy_token(&http, &args.url, key).await?)
        }
        _ => None,
    };
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..args.requests)
            .map(|i| {
                let account = &accounts[i % ACCOUNTS];
                let (method, params) = match (&args.workload, &token) {
                    (ReadWorkload::BlockNumber, _) => ("eth_blockNumber", json!([])),
                    (ReadWorkload::GetBalance, _) => ("eth_getBalance", json!([account, "latest"])),
                    (ReadWorkload::Call, token) => {
                        // balanceOf(address)
                        let data = format!("0x70a08231{:0>64}", account.trim_start_matches("0x"));
                        ("eth_call", json!([{"to": token, "data": data}, "latest"]))
                    }
                };
                json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params}).to_string()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, url, bodies, next) =
            (http.clone(), args.url.clone(), bodies.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                let answer: Value = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?
                    .json()
                    .await?;
                if answer.get("result").is_none() {
                    bail!("refused: {answer}");
                }
                latencies.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("a reader panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("url:         {}", args.url);
    println!(
        "workload:    {:?}, {} requests, {} in flight",
        args.workload, args.requests, args.concurrency
    );
    println!("throughput:  {:.0} requests/s", latencies.len() as f64 / elapsed.max(1e-9));
    println!("latency:     p50 {:?}  p99 {:?}  max {:?}", at(0.5), at(0.99), at(1.0));
    Ok(())
}
