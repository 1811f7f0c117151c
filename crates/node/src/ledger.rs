//! The node's SQL projection of the ledger tables (`consortia-sql`), kept in step with the
//! chain: each committed block's `sql/` state entries go to a thread of its own that applies
//! them, so a commit never waits for SQLite.
//!
//! On open the projection catches up with the store by re-executing the blocks it missed
//! (a crash between the store's commit and the projection's loses at most a block or two;
//! blocks before the first table was created hold no ledger entries and are skipped), then is
//! checked against the state. A projection that disagrees with the chain (its file edited) is
//! set aside and rebuilt from the chain. A node that lacks the blocks to rebuild it (it joined
//! by state sync, or pruned them) answers queries with the reason instead.

use std::path::Path;
use std::sync::{Arc, mpsc};

use parking_lot::Mutex;

use consortia_execution::{BlockContext, Executor, ledger};
use consortia_sql::{Cell, Limits, Projection, QueryEngine, ResultSet, SqlError};
use consortia_storage::{BlockReader, ChainStore, StateHistory};
use consortia_types::Height;
use tokio::sync::watch;

/// Blocks queued for the projection thread before a commit waits for it.
const QUEUE: usize = 256;

/// A block's ledger entries, for the projection thread.
type Update = (Height, Vec<(Vec<u8>, Vec<u8>)>);

/// The projection as the node holds it.
#[derive(Debug)]
pub struct Ledger {
    state: LedgerState,
}

#[derive(Debug)]
enum LedgerState {
    Ready {
        engine: QueryEngine,
        updates: mpsc::SyncSender<Update>,
        projected: watch::Receiver<Height>,
        /// Why the projection thread stopped, once it did: queries answer it from then on.
        stopped: Arc<Mutex<Option<String>>>,
    },
    /// Why this node cannot answer SQL queries.
    Unavailable(String),
}

impl Ledger {
    /// Opens the projection in `path` for `store`, catches it up, checks it (rebuilding it if it
    /// disagrees with the chain), and starts the thread that applies later blocks.
    pub(crate) fn open(path: &Path, store: &ChainStore, executor: &Executor) -> Ledger {
        let hash = store.genesis().map(|g| g.suite.hash());
        let opened = hash.map_err(SqlError::from).and_then(|hash| {
            match prepare(path, hash, store, executor) {
                Err(SqlError::Tampered(reason)) => {
                    tracing::error!(target: "node::ledger", %reason, path = %path.display(), "the SQL projection disagrees with the chain; rebuilding it from the chain");
                    remove(path);
                    prepare(path, hash, store, executor)
                }
                other => other,
            }
        });
        let state = match opened {
            Ok(projection) => start(projection),
            Err(e) => {
                tracing::warn!(target: "node::ledger", error = %e, "the SQL projection is unavailable on this node");
                LedgerState::Unavailable(e.to_string())
            }
        };
        Ledger { state }
    }

    /// Hands block `height`'s ledger entries to the projection thread (in commit order).
    pub(crate) fn committed(&self, height: Height, entries: Vec<(Vec<u8>, Vec<u8>)>) {
        if let LedgerState::Ready { updates, .. } = &self.state {
            // A send fails only once the thread stopped, which it logged.
            let _ = updates.send((height, entries));
        }
    }

    /// The height the projection has applied, and a way to wait for more.
    pub fn projected(&self) -> Result<watch::Receiver<Height>, SqlError> {
        self.ready().map(|(_, projected)| projected.clone())
    }

    /// Runs a read-only query (blocking: call it off the async runtime).
    pub fn query(&self, sql: &str, params: &[Cell], limits: Limits) -> Result<ResultSet, SqlError> {
        self.ready()?.0.query(sql, params, limits)
    }

    fn ready(&self) -> Result<(&QueryEngine, &watch::Receiver<Height>), SqlError> {
        match &self.state {
            LedgerState::Ready { engine, projected, stopped, .. } => match &*stopped.lock() {
                Some(reason) => Err(SqlError::Engine(reason.clone())),
                None => Ok((engine, projected)),
            },
            LedgerState::Unavailable(reason) => Err(SqlError::Engine(reason.clone())),
        }
    }
}

/// Opens, catches up and checks the projection.
fn prepare(
    path: &Path,
    hash: consortia_crypto::HashAlgorithm,
    store: &ChainStore,
    executor: &Executor,
) -> Result<Projection, SqlError> {
    let mut projection = Projection::open(path, hash)?;
    catch_up(&mut projection, store, executor)?;
    projection.check(&*store.state_at(u64::MAX)?)?;
    Ok(projection)
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// Applies the blocks the store has and the projection lacks, by re-executing them on the
/// state before each (the executor is deterministic, so the entries are the ones committed).
fn catch_up(
    projection: &mut Projection,
    store: &ChainStore,
    executor: &Executor,
) -> Result<(), SqlError> {
    let head = store.latest_height()?;
    let latest = store.state_at(u64::MAX)?;
    // No block before the first table's creation wrote a ledger entry.
    let mut first = head.saturating_add(1);
    for name in ledger::table_names(&*latest)? {
        if let Some(table) = ledger::get_table(&*latest, &name)? {
            first = first.min(table.height);
        }
    }
    let from = (projection.height()? + 1).max(first);
    if from > head {
        return projection.apply(head, &[]);
    }
    if store.first_block()? > from {
        return Err(SqlError::Engine(format!(
            "the SQL projection needs blocks {from} to {head} and this node holds them from {} on (it joined by state sync or pruned them); query another node",
            store.first_block()?
        )));
    }
    tracing::info!(target: "node::ledger", from, to = head, "catching the SQL projection up with the chain");
    for height in from..=head {
        let block = store
            .block(height)?
            .ok_or_else(|| SqlError::Engine(format!("block {height} is missing from the store")))?;
        let h = &block.header;
        let ctx = BlockContext {
            height,
            time_ms: h.time_ms,
            proposer: h.proposer,
            parent_hash: h.parent_hash,
        };
        let state = store.state_at(height - 1)?;
        let outcome = executor.execute_block(&*state, ctx, &block.transactions)?;
        projection.apply(height, &ledger::entries(&outcome.changes))?;
        if height % 10_000 == 0 {
            tracing::info!(target: "node::ledger", height, to = head, "SQL projection catching up");
        }
    }
    Ok(())
}

fn start(mut projection: Projection) -> LedgerState {
    let engine = QueryEngine::new(projection.path());
    let (updates, queue) = mpsc::sync_channel::<Update>(QUEUE);
    let (tell, projected) = watch::channel(projection.height().unwrap_or(0));
    let stopped = Arc::new(Mutex::new(None));
    let stop = stopped.clone();
    let spawned = std::thread::Builder::new().name("sql-projection".into()).spawn(move || {
        for (height, entries) in queue {
            if let Err(e) = projection.apply(height, &entries) {
                tracing::error!(target: "node::ledger", height, error = %e, "the SQL projection stopped; it is caught up or rebuilt when the node restarts");
                *stop.lock() = Some(format!("the SQL projection stopped at block {height} ({e}); restart the node to rebuild it"));
                return;
            }
            tell.send_replace(height);
        }
    });
    match spawned {
        Ok(_) => LedgerState::Ready { engine, updates, projected, stopped },
        Err(e) => LedgerState::Unavailable(format!("cannot start the projection thread: {e}")),
    }
}
