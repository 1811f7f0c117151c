//! What nodes say to each other over the network (`consortia-network` moves the frames).

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_consensus::Message;
use consortia_types::{Block, Height};

/// Blocks asked for in one sync request, at most.
pub(crate) const SYNC_BATCH: u32 = 32;
/// A sync response stops adding blocks past this many bytes.
pub(crate) const SYNC_BYTES: usize = 8 * 1024 * 1024;

/// One frame's content.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub enum Wire {
    /// "My next height to commit is this" (one past my last committed block): sent on connect
    /// and every second; a node that learns it is behind asks for blocks.
    Status { next_height: Height },
    /// A consensus message; a proposal travels with its block.
    Consensus { message: Message, block: Option<Box<Block>> },
    /// Transactions admitted by the sender (encoded), for the other pools.
    Txs(Vec<Vec<u8>>),
    /// "Send me committed blocks from this height on."
    SyncRequest { from: Height, max: u32 },
    /// Committed blocks, in height order, each with its certificate.
    SyncBlocks(Vec<Block>),
}

impl Wire {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing into a Vec cannot fail")
    }
}
