//! What the consensus driver needs from the world around it, as small traits: a transport to
//! peers, a clock, a write-ahead log, and somewhere to run slow work. Production wires mutual
//! TLS ([`Network`]), the system clock, the file WAL and tokio's blocking pool
//! ([`crate::runtime`]); the node-level simulator (`tests/sim`) wires simulated links, a virtual
//! clock, a WAL in memory that can lose its unsynced tail, and work run in the simulator's own
//! order. The block store is the same [`consortia_storage::ChainStore`] in both, on a file or
//! on redb's in-memory backend.

use consortia_network::{Network, PeerId};
use consortia_types::Height;

use crate::NodeError;
use crate::wal::{Wal, WalEntry};

/// Sends frames to peers. Sending is fire-and-forget: a frame to a peer that is gone is
/// dropped, as on a real network.
pub trait Transport: Send + Sync {
    fn send(&self, peer: PeerId, frame: Vec<u8>);
    fn broadcast(&self, frame: Vec<u8>);
    /// Sends each peer the frame `frame_for` makes for the protocol version the peer speaks
    /// (see [`crate::p2p::PROTOCOL`]), made once per version.
    fn broadcast_by_protocol(&self, frame_for: &mut dyn FnMut(u32) -> Vec<u8>);
    /// The protocol version a connected peer speaks (0 when it is not connected).
    fn protocol(&self, peer: PeerId) -> u32;
    /// Drops a peer that misbehaved (and refuses it for a while).
    fn disconnect(&self, peer: PeerId, reason: &str);
    /// Admits exactly these peers from now on (the chain's node list changed), with
    /// certificates from the consortium CA or one of `cas` (the member organizations' CAs,
    /// PEM); connections of peers no longer listed are closed.
    fn set_allowed(&self, peers: &[PeerId], cas: &[String]);
    fn peer_count(&self) -> usize;
}

impl Transport for Network {
    fn send(&self, peer: PeerId, frame: Vec<u8>) {
        Network::send(self, peer, frame);
    }

    fn broadcast(&self, frame: Vec<u8>) {
        Network::broadcast(self, frame);
    }

    fn broadcast_by_protocol(&self, frame_for: &mut dyn FnMut(u32) -> Vec<u8>) {
        Network::broadcast_by_protocol(self, frame_for);
    }

    fn protocol(&self, peer: PeerId) -> u32 {
        self.protocol_of(peer).unwrap_or(0)
    }

    fn disconnect(&self, peer: PeerId, reason: &str) {
        Network::disconnect(self, peer, reason);
    }

    fn set_allowed(&self, peers: &[PeerId], cas: &[String]) {
        Network::set_trusted_cas(self, cas);
        Network::set_allowed(self, peers);
    }

    fn peer_count(&self) -> usize {
        self.peers().len()
    }
}

/// Milliseconds since the Unix epoch, by whatever clock the world keeps.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// The consensus write-ahead log: appends are buffered until [`WalStore::sync`]; only synced
/// entries survive a crash.
pub trait WalStore {
    fn append(&mut self, entry: &WalEntry) -> std::io::Result<()>;
    fn sync(&mut self) -> std::io::Result<()>;
    /// May drop the entries of heights at or below `decided`.
    fn compact(&mut self, decided: Height) -> std::io::Result<()>;
}

impl WalStore for Wal {
    fn append(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        Wal::append(self, entry)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        Wal::sync(self)
    }

    fn compact(&mut self, decided: Height) -> std::io::Result<()> {
        Wal::compact(self, decided)
    }
}

/// Work the driver hands off.
pub type Job = Box<dyn FnOnce() + Send>;
/// The write of a decided block.
pub type CommitJob = Box<dyn FnOnce() -> Result<(), NodeError> + Send>;

/// Where the driver's slow work runs, so its loop keeps answering peers meanwhile.
pub trait Tasks {
    /// Runs `job` (admitting peers' transactions, serving a sync request) apart from the loop.
    fn spawn(&self, job: Job);
    /// Starts writing a decided block. The driver finishes the previous commit first, so at
    /// most one runs at a time and blocks reach the disk in height order.
    fn start_commit(&mut self, job: CommitJob);
    /// Waits for the commit under way, if any, and returns how it went.
    fn finish_commit(&mut self) -> Result<(), NodeError>;
}

/// One world's choice of each part.
pub trait World {
    type Transport: Transport + 'static;
    type Clock: Clock;
    type Wal: WalStore;
    type Tasks: Tasks;
}
