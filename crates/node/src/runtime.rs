//! The production world: mutual TLS to peers, the system clock, the consensus WAL on disk and
//! tokio's blocking pool for slow work. [`Node::run`] runs the driver on a thread of its own and
//! feeds it from the network, the pool and the shutdown signal.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use consortia_network::Network;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use crate::driver::{Driver, Event, Parts};
use crate::wal::Wal;
use crate::world::{Clock, CommitJob, Job, Tasks, World};
use crate::{Node, NodeError};

/// The production [`World`].
#[derive(Debug)]
pub struct Production;

impl World for Production {
    type Transport = Network;
    type Clock = SystemClock;
    type Wal = Wal;
    type Tasks = BlockingPool;
}

/// This machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::now_ms()
    }
}

/// Slow work on tokio's blocking pool; commits too, one at a time.
#[derive(Debug)]
pub struct BlockingPool {
    handle: Handle,
    committing: Option<std_mpsc::Receiver<Result<(), NodeError>>>,
}

impl Tasks for BlockingPool {
    fn spawn(&self, job: Job) {
        self.handle.spawn_blocking(job);
    }

    fn start_commit(&mut self, job: CommitJob) {
        let (done, result) = std_mpsc::sync_channel(1);
        self.handle.spawn_blocking(move || {
            let _ = done.send(job());
        });
        self.committing = Some(result);
    }

    fn finish_commit(&mut self) -> Result<(), NodeError> {
        match self.committing.take() {
            Some(result) => result
                .recv()
                .unwrap_or_else(|_| Err(NodeError::Task("the commit task panicked".into()))),
            None => Ok(()),
        }
    }
}

/// What wakes the driver's thread.
enum Wake {
    Event(Event),
    Shutdown,
}

impl Node {
    /// Drives consensus until `shutdown` fires. A storage failure stops the node (better to
    /// stop than to go on from a state that may not be on disk).
    ///
    /// Commits are pipelined: once a block is decided, its commit (the fsync) runs on a blocking
    /// thread while the next block is built (or validated) on top of it, reading through the
    /// decided block's prepared state. Commits stay in height order, and a transaction is
    /// visible through the API once its block is durable.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        let (wake, woken) = std_mpsc::channel::<Wake>();
        let (transport, wal) = match self.network.clone() {
            Some(config) => {
                // The WAL first: a node that cannot read it must not join the network.
                let wal = Wal::open(&self.data_dir.join("consensus.wal"))
                    .map_err(|e| NodeError::Wal(e.to_string()))?;
                let (network, mut events) = Network::start(config, shutdown.clone()).await?;
                let _ = self.live_network.set(network.clone());
                let forward = wake.clone();
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        if forward.send(Wake::Event(Event::Net(event))).is_err() {
                            break;
                        }
                    }
                });
                (Some(Arc::new(network)), Some(wal))
            }
            None => (None, None),
        };
        tokio::spawn(self.clone().keep_history(shutdown.clone()));
        let arrivals = wake.clone();
        self.set_arrivals_waker(Box::new(move || {
            let _ = arrivals.send(Wake::Event(Event::TxsArrived));
        }));
        tokio::spawn(async move {
            let _ = shutdown.changed().await;
            let _ = wake.send(Wake::Shutdown);
        });
        let parts = Parts::<Production> {
            transport,
            clock: SystemClock,
            wal,
            tasks: BlockingPool { handle: Handle::current(), committing: None },
        };
        let (done, result) = oneshot::channel();
        let node = self.clone();
        std::thread::Builder::new()
            .name("consensus".into())
            .spawn(move || {
                let _ = done.send(drive(node, parts, &woken));
            })
            .map_err(|e| NodeError::Task(e.to_string()))?;
        result.await.map_err(|_| NodeError::Task("the consensus thread panicked".into()))?
    }
}

/// The driver's loop: wait for an event or the next deadline, carry it out, repeat.
fn drive(
    node: Arc<Node>,
    parts: Parts<Production>,
    woken: &std_mpsc::Receiver<Wake>,
) -> Result<(), NodeError> {
    let mut driver = Driver::new(node, parts)?;
    loop {
        let wait = driver.next_deadline().saturating_sub(crate::now_ms());
        match woken.recv_timeout(Duration::from_millis(wait)) {
            Ok(Wake::Event(event)) => driver.handle(event)?,
            Ok(Wake::Shutdown) | Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                return driver.stop();
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
        }
        driver.poll()?;
    }
}
