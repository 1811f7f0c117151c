//! The node's Prometheus metrics: one registry per node (no global one), served by the HTTP API
//! at `GET /metrics` in the Prometheus text format (0.0.4): what every scraper reads and what
//! `promtool check metrics` checks (it reads OpenMetrics' `_total` samples under a family named
//! without it as metrics without help).
//!
//! Events are counted where they happen (commits, admissions, HTTP requests); levels that are
//! cheap to read (height, pool size, peers, the process's memory) are read when scraped, so
//! they are never stale and cost nothing between scrapes.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::Node;

/// The content type of [`Node::encode_metrics`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Labels of a refused transaction: the API's error code (`AdmitError::code`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Labels of an HTTP request: the route's pattern (never the raw path, which would make a
/// series per block hash), the method and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// Labels of an HTTP request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Labels of a JSON-RPC call: the method when it is one the node serves, else `unknown` (a
/// client must not be able to mint series).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: String,
    pub outcome: &'static str,
}

/// Labels of a certificate the node holds: `p2p` (its TLS identity among peers), `https` (its
/// API's), `ca` (the consortium CA it trusts).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    pub certificate: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    chain_id: String,
    consensus: String,
    suite: String,
    validator: String,
    version: &'static str,
}

/// Seconds, from 0.5 ms to ~16 s in doublings: block building, execution and commits on
/// commodity disks, and API calls.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric a node exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub blocks_committed: Counter,
    pub transactions_committed: Counter,
    /// Building and executing a block this node proposes.
    pub block_build: Histogram,
    /// Re-executing a block another node proposed.
    pub block_validate: Histogram,
    /// Writing a decided block durably.
    pub block_commit: Histogram,
    /// The time between a committed block and its parent, by their headers.
    pub block_interval: Histogram,
    /// The consensus round (BFT) or term (Raft) of the last committed block's certificate.
    pub commit_round: Gauge,
    pub equivocations: Counter,
    pub invalid_messages: Counter,
    pub synced_blocks: Counter,
    /// State syncs finished (a fresh node started from a recent block's state).
    pub state_syncs: Counter,
    /// Proposed blocks received compact, and the transactions of them the pool lacked.
    pub compact_blocks: Counter,
    pub compact_txs_fetched: Counter,
    pub admitted: Counter,
    pub refused: Family<ReasonLabels, Counter>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub rpc_calls: Family<RpcLabels, Counter>,
    /// When each certificate expires (Unix seconds), for alerts well before it does.
    pub certificate_expiry: Family<CertificateLabels, Gauge>,
    // Read at scrape time by `Node::encode_metrics`.
    height: Gauge,
    mempool_transactions: Gauge,
    mempool_ready: Gauge,
    peers: Gauge,
    history_first_block: Gauge,
    history_archived_blocks: Gauge,
    sql_projection_height: Gauge,
    process: ProcessMetrics,
    /// One scrape at a time: the CPU counter is brought up to the reading by adding the
    /// difference, which two scrapes at once would add twice.
    scraping: parking_lot::Mutex<()>,
}

/// What a process exports under the names Prometheus' own client libraries use, so stock
/// dashboards work. Read from `/proc/self` (Linux); elsewhere they stay at zero.
#[derive(Debug, Default)]
struct ProcessMetrics {
    resident_memory: Gauge,
    virtual_memory: Gauge,
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    open_fds: Gauge,
    threads: Gauge,
    start_time: Gauge,
}

impl Metrics {
    /// Records when the first certificate of `pem` expires, as `certificate`.
    pub fn certificate_expires(&self, certificate: &'static str, pem: &str) {
        if let Some(at) = consortia_crypto::pki::not_after_of_pem(pem) {
            self.certificate_expiry.get_or_create(&CertificateLabels { certificate }).set(at);
        }
    }

    pub(crate) fn new(genesis: &consortia_types::Genesis, validator: bool) -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("consortia"),
            blocks_committed: Counter::default(),
            transactions_committed: Counter::default(),
            block_build: seconds_histogram(),
            block_validate: seconds_histogram(),
            block_commit: seconds_histogram(),
            block_interval: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            commit_round: Gauge::default(),
            equivocations: Counter::default(),
            invalid_messages: Counter::default(),
            synced_blocks: Counter::default(),
            state_syncs: Counter::default(),
            compact_blocks: Counter::default(),
            compact_txs_fetched: Counter::default(),
            admitted: Counter::default(),
            refused: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(seconds_histogram),
            rpc_calls: Family::default(),
            certificate_expiry: Family::default(),
            height: Gauge::default(),
            mempool_transactions: Gauge::default(),
            mempool_ready: Gauge::default(),
            peers: Gauge::default(),
            history_first_block: Gauge::default(),
            sql_projection_height: Gauge::default(),
            history_archived_blocks: Gauge::default(),
            process: ProcessMetrics::default(),
            scraping: parking_lot::Mutex::new(()),
        };
        let registry = &mut m.registry;
        // A gauge at 1, as exporters do: the Prometheus text format has no `info` type.
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            chain_id: genesis.chain_id.to_string(),
            consensus: format!("{:?}", genesis.params.consensus).to_lowercase(),
            suite: genesis.suite.to_string(),
            validator: validator.to_string(),
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        registry.register("node_info", "What this node runs", info);
        registry.register("chain_height", "Height of the last committed block", m.height.clone());
        registry.register(
            "history_first_block",
            "First block whose transactions and receipts the node holds (earlier ones are pruned)",
            m.history_first_block.clone(),
        );
        registry.register(
            "sql_projection_height",
            "Last block the SQL projection of the ledger tables applied (-1: the node keeps none, or it stopped); behind chain_height while it catches up",
            m.sql_projection_height.clone(),
        );
        registry.register(
            "history_archived_blocks",
            "Blocks the node holds in its archive directory rather than on its main disk",
            m.history_archived_blocks.clone(),
        );
        registry.register_with_unit(
            "certificate_expiry_timestamp",
            "When a certificate this node holds expires (p2p: its TLS identity; https: its API's; ca: the consortium CA), in Unix time",
            Unit::Seconds,
            m.certificate_expiry.clone(),
        );
        registry.register(
            "blocks_committed",
            "Blocks this node committed since it started",
            m.blocks_committed.clone(),
        );
        registry.register(
            "transactions_committed",
            "Transactions in the blocks this node committed since it started",
            m.transactions_committed.clone(),
        );
        registry.register_with_unit(
            "block_build",
            "Time to build and execute a block this node proposes",
            Unit::Seconds,
            m.block_build.clone(),
        );
        registry.register_with_unit(
            "block_validate",
            "Time to re-execute and check a block another validator proposed",
            Unit::Seconds,
            m.block_validate.clone(),
        );
        registry.register_with_unit(
            "block_commit",
            "Time to write a decided block durably",
            Unit::Seconds,
            m.block_commit.clone(),
        );
        registry.register_with_unit(
            "block_interval",
            "Time between a committed block and its parent, by their headers",
            Unit::Seconds,
            m.block_interval.clone(),
        );
        registry.register(
            "consensus_commit_round",
            "Round (BFT) or term (Raft) of the last committed block's certificate; a BFT round above 0 means a proposer failed",
            m.commit_round.clone(),
        );
        registry.register(
            "consensus_equivocations",
            "Pairs of conflicting votes seen from one validator (Byzantine evidence)",
            m.equivocations.clone(),
        );
        registry.register(
            "consensus_invalid_messages",
            "Consensus messages refused as invalid (the sending peer is disconnected)",
            m.invalid_messages.clone(),
        );
        registry.register(
            "sync_blocks",
            "Blocks applied from peers by block sync",
            m.synced_blocks.clone(),
        );
        registry.register(
            "state_syncs",
            "State syncs finished: the node started from a recent block's state",
            m.state_syncs.clone(),
        );
        registry.register(
            "compact_blocks",
            "Proposed blocks received compact (transaction hashes) and filled in from the pool",
            m.compact_blocks.clone(),
        );
        registry.register(
            "compact_fetched_transactions",
            "Transactions of compact blocks the pool lacked, asked of the proposer",
            m.compact_txs_fetched.clone(),
        );
        registry.register(
            "mempool_transactions",
            "Transactions waiting in the pool",
            m.mempool_transactions.clone(),
        );
        registry.register(
            "mempool_ready",
            "Pool transactions ready for the next block (no nonce gap)",
            m.mempool_ready.clone(),
        );
        registry.register(
            "mempool_admitted",
            "Transactions admitted to the pool (from clients and peers)",
            m.admitted.clone(),
        );
        registry.register(
            "mempool_refused",
            "Transactions refused at admission, by reason",
            m.refused.clone(),
        );
        registry.register("peers", "Peers connected", m.peers.clone());
        registry.register(
            "http_requests",
            "HTTP requests served, by route pattern, method and status",
            m.http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to serve an HTTP request, by route pattern",
            Unit::Seconds,
            m.http_duration.clone(),
        );
        registry.register(
            "jsonrpc_calls",
            "Ethereum JSON-RPC calls, by method and outcome (ok or error)",
            m.rpc_calls.clone(),
        );
        let process = registry.sub_registry_with_prefix("process");
        // Under `consortia_process_*`: the standard names, prefixed like everything here.
        let p = &m.process;
        process.register_with_unit(
            "resident_memory",
            "Resident memory size",
            Unit::Bytes,
            p.resident_memory.clone(),
        );
        process.register_with_unit(
            "virtual_memory",
            "Virtual memory size",
            Unit::Bytes,
            p.virtual_memory.clone(),
        );
        process.register_with_unit(
            "cpu",
            "User and system CPU time spent",
            Unit::Seconds,
            p.cpu_seconds.clone(),
        );
        process.register("open_fds", "Open file descriptors", p.open_fds.clone());
        process.register("threads", "Operating system threads", p.threads.clone());
        process.register_with_unit(
            "start_time",
            "When the node opened its store, in seconds since the Unix epoch",
            Unit::Seconds,
            p.start_time.clone(),
        );
        p.start_time.set((crate::now_ms() / 1000) as i64);
        m
    }

    /// Counts one JSON-RPC call.
    pub fn rpc_call(&self, method: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.rpc_calls.get_or_create(&RpcLabels { method: method.to_owned(), outcome }).inc();
    }

    /// Counts a batch of admission results (a transaction the pool already held is neither).
    pub(crate) fn admissions(
        &self,
        results: &[Result<crate::mempool::Admitted, crate::mempool::AdmitError>],
    ) {
        for result in results {
            match result {
                Ok(a) if a.already_known => {}
                Ok(_) => {
                    self.admitted.inc();
                }
                Err(e) => {
                    self.refused.get_or_create(&ReasonLabels { reason: e.code() }).inc();
                }
            }
        }
    }
}

impl ProcessMetrics {
    fn read(&self) {
        // /proc/self/status is in kB and names its fields, so no page size is needed.
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let value = |prefix: &str| {
                    line.strip_prefix(prefix)
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse::<i64>().ok())
                };
                if let Some(kb) = value("VmRSS:") {
                    self.resident_memory.set(kb * 1024);
                } else if let Some(kb) = value("VmSize:") {
                    self.virtual_memory.set(kb * 1024);
                } else if let Some(n) = value("Threads:") {
                    self.threads.set(n);
                }
            }
        }
        // Fields 14 and 15 (utime, stime) of /proc/self/stat, in clock ticks: USER_HZ, which
        // Linux fixes at 100 for every interface to user space. The command name (field 2)
        // may hold spaces, so count from its closing parenthesis.
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some((_, rest)) = stat.rsplit_once(')')
        {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            // `rest` starts at field 3, so field n is at index n - 3.
            let seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
            let counted = self.cpu_seconds.get();
            if seconds > counted {
                self.cpu_seconds.inc_by(seconds - counted);
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as i64);
        }
    }
}

impl Node {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The node's metrics in the Prometheus text format ([`CONTENT_TYPE`]), levels read now.
    pub fn encode_metrics(self: &Arc<Self>) -> String {
        let m = &self.metrics;
        let _one_at_a_time = m.scraping.lock();
        m.height.set(*self.committed.borrow() as i64);
        m.mempool_transactions.set(self.mempool.len() as i64);
        m.mempool_ready.set(self.mempool.ready_count() as i64);
        m.peers.set(self.peer_count() as i64);
        if let Ok(history) = self.history() {
            m.history_first_block.set(history.first_block as i64);
            m.history_archived_blocks.set((history.first_hot - history.first_block) as i64);
        }
        let projected = self.ledger().and_then(|l| l.projected().ok()).map(|h| *h.borrow());
        m.sql_projection_height.set(projected.map_or(-1, |h| h as i64));
        m.process.read();
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_text::encode(&mut out, &m.registry).is_err() {
            // Writing to a String cannot fail; keep the scrape well-formed regardless.
            out.clear();
        }
        out
    }
}
