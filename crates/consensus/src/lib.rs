//! Sans-IO consensus engines for Consortia (solo now; BFT and Raft behind the same seam).
//!
//! An engine is a state machine: the node's driver feeds it [`Input`]s (time passed,
//! transactions waiting, a proposal it asked for is built, a block is committed) and carries out
//! the [`Output`]s it returns (build a proposal, commit a block with its certificate, wake me up
//! at a time). The engine owns no clock, socket, thread or disk, so it runs the same under the
//! real driver and under a deterministic simulator.
//!
//! The driver builds and executes proposals (DESIGN.md step 4: the proposer executes before
//! proposing, so the header carries the state and receipts roots), and keeps the block it built
//! until the engine decides it. Durability is the driver's business: a decided block is final
//! (BFT finality does not wait for a disk), and the driver writes decided blocks in order.
//!
//! Engines: [`Solo`], one validator that signs every block.

mod solo;

use consortia_crypto::Hash;
use consortia_types::{CommitCertificate, Header, Height};

pub use solo::Solo;

/// What happens to an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The driver's clock reads `now_ms` (sent when a requested wake-up is due).
    Tick { now_ms: u64 },
    /// `count` transactions are ready to go into a block (not counting those in blocks already
    /// built or decided).
    TxsReady { count: usize, now_ms: u64 },
    /// The proposal the engine asked for is built and executed; this is its header.
    ProposalBuilt { header: Header, now_ms: u64 },
}

/// What an engine asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Build and execute a block at `height` from the mempool, then send [`Input::ProposalBuilt`].
    BuildProposal { height: Height },
    /// The block with this header hash is decided: store it with the certificate, then send
    /// [`Input::TxsReady`] with what still waits. The engine moves on to the next height at
    /// once; the driver keeps commits in height order and builds the next block on top of the
    /// decided one while its commit is written (pipelining).
    Commit { height: Height, block_hash: Hash, certificate: CommitCertificate },
    /// Send [`Input::Tick`] at (or soon after) `at_ms`; a later request replaces an earlier one.
    WakeAt { at_ms: u64 },
}

/// The seam every consensus engine implements.
pub trait Engine: Send {
    /// The next height this engine will decide.
    fn height(&self) -> Height;
    fn handle(&mut self, input: Input) -> Vec<Output>;
}
