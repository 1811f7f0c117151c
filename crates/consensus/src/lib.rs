//! Sans-IO consensus engines for Consortia: solo, Tendermint BFT and Raft behind one seam.
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
//! Engines: [`Solo`], one validator that signs every block; [`Bft`], the Tendermint algorithm
//! for 3f+1 validators of which f may be Byzantine; [`Raft`], for 2f+1 validators of which f
//! may crash.

mod bft;
mod message;
mod raft;
mod solo;

use consortia_crypto::Hash;
use consortia_types::{ChainParams, CommitCertificate, Header, Height, Validator, VoteKind};

pub use bft::{Bft, BftConfig};
pub use message::{
    Message, Proposal, RaftKind, RaftMessage, SignedProposal, SignedRaft, SignedVote,
};
pub use raft::Raft;
pub use solo::Solo;

/// What happens to an engine. Every input carries the driver's clock (`now_ms`): engines read
/// time only from their inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Time passed (sent when a requested wake-up is due).
    Tick { now_ms: u64 },
    /// `count` transactions are ready to go into a block (not counting those in blocks already
    /// built or decided).
    TxsReady { count: usize, now_ms: u64 },
    /// The proposal the engine asked for is built and executed; this is its header.
    ProposalBuilt { header: Header, now_ms: u64 },
    /// A consensus message from a peer (the driver has checked that a proposal's block hashes
    /// to the proposal's `block_hash`).
    Message { message: Message, now_ms: u64 },
    /// The driver re-executed the proposed block with this hash (see [`Output::Validate`]):
    /// `valid` is true if it reproduced every root of its header on top of the decided parent.
    Validated { block_hash: Hash, valid: bool, now_ms: u64 },
    /// The driver committed the block at `height` from block sync (its certificate verified):
    /// the engine moves past it.
    Synced { height: Height, now_ms: u64 },
    /// The validator set of `height` (the chain's governance decides it two blocks earlier).
    /// The driver tells the engine every height's set as soon as it knows it, which is always
    /// before the engine can reach that height: the set of h + 2 is known once block h is
    /// committed. An engine never told keeps the set it has.
    Validators { height: Height, validators: Vec<Validator>, now_ms: u64 },
    /// The chain's parameters changed by governance (block size, block interval, consensus
    /// timeouts): the engine uses them from now on, for timers it sets from now on. Its
    /// consensus kind never changes.
    Params { params: ChainParams, now_ms: u64 },
}

impl Input {
    /// The driver's clock when it sent this input.
    pub fn now_ms(&self) -> u64 {
        match self {
            Input::Tick { now_ms }
            | Input::TxsReady { now_ms, .. }
            | Input::ProposalBuilt { now_ms, .. }
            | Input::Message { now_ms, .. }
            | Input::Validated { now_ms, .. }
            | Input::Synced { now_ms, .. }
            | Input::Validators { now_ms, .. }
            | Input::Params { now_ms, .. } => *now_ms,
        }
    }
}

/// What an engine asks the driver to do. Outputs are carried out in order; a [`Output::Persist`]
/// must be durable before the outputs after it are carried out (persist before send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Build and execute a block at `height` from the mempool, then send [`Input::ProposalBuilt`].
    BuildProposal { height: Height },
    /// Re-execute the block this node received with a proposal, then send [`Input::Validated`].
    /// A driver that does not have the block (it may have restarted) answers nothing: the
    /// engine asks again when the proposal, with its block, arrives again.
    Validate { height: Height, block_hash: Hash },
    /// Append this message to the consensus WAL and sync it to disk: a message this node
    /// signed, or a peer's prevote that justifies this node's lock. With a proposal or a
    /// non-nil precommit of this node, persist the block it names too (the engine may have to
    /// re-propose it after a restart).
    Persist(Message),
    /// Send this message to every validator (a proposal goes with its block).
    Broadcast(Message),
    /// The block with this header hash is decided: store it with the certificate, then send
    /// [`Input::TxsReady`] with what still waits. The engine moves on to the next height at
    /// once; the driver keeps commits in height order and builds the next block on top of the
    /// decided one while its commit is written (pipelining).
    Commit { height: Height, block_hash: Hash, certificate: CommitCertificate },
    /// A message was refused (bad signature, unknown signer, wrong proposer or chain): the peer
    /// that sent it misbehaves.
    Invalid { reason: String },
    /// A validator signed two different votes for one step: evidence of a Byzantine validator
    /// (not of the peer that relayed the second vote, which may be honest).
    Equivocation { validator: u32, height: Height, round: u32, kind: VoteKind },
    /// Send [`Input::Tick`] at (or soon after) `at_ms`; a later request replaces an earlier one.
    WakeAt { at_ms: u64 },
}

/// The seam every consensus engine implements.
pub trait Engine: Send {
    /// The next height this engine will decide.
    fn height(&self) -> Height;
    fn handle(&mut self, input: Input) -> Vec<Output>;
}
