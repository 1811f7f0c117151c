//! What nodes say to each other over the network (`consortia-network` moves the frames).

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_consensus::Message;
use consortia_crypto::Hash;
use consortia_storage::StateChunk;
use consortia_types::{Block, Header, Height, Receipt, Transaction};

use consortia_types::CertifiedHeader;

/// The newest version of this protocol a node speaks (negotiated per connection; see
/// `consortia-network`). 1: proposals carry whole blocks. 2: proposals to peers speaking 2 carry
/// compact blocks ([`Wire::CompactProposal`]), and their missing transactions are asked for.
/// 3: state sync ([`Wire::GetHeaders`], [`Wire::GetStateChunk`], [`Wire::GetBaseBlock`]) is
/// asked of peers speaking 3 (an older one would disconnect on a frame it cannot decode).
pub const PROTOCOL: u32 = 3;
/// The first version that serves state sync.
pub const STATE_SYNC_PROTOCOL: u32 = 3;

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
    /// A proposal with its block compact (protocol 2): the header and the transactions'
    /// hashes in block order. The receiver takes the transactions from its pool and asks the
    /// sender for the others ([`Wire::GetBlockTxs`]).
    CompactProposal { message: Message, header: Box<Header>, hashes: Vec<Hash> },
    /// "Send me the transactions at these positions of the block you proposed."
    GetBlockTxs { block_hash: Hash, positions: Vec<u32> },
    /// The transactions asked for, in the order asked.
    BlockTxs { block_hash: Hash, txs: Vec<Transaction> },
    /// State sync: "send me the headers from this height on, with their certificates."
    GetHeaders { from: Height, max: u32 },
    /// Headers in height order, each with its certificate and, where the set changes, the
    /// next validator set.
    Headers(Vec<CertifiedHeader>),
    /// State sync: "send me the leaves of the state after block `height` that follow `after`."
    GetStateChunk { height: Height, after: Option<[u8; 32]>, max: u32 },
    /// Leaves of a block's state with their range proof.
    StateChunk(StateChunk),
    /// State sync: "send me block `height` with its receipts" (the block it starts at).
    GetBaseBlock { height: Height },
    /// A block with its receipts.
    BaseBlock { block: Box<Block>, receipts: Vec<Receipt> },
}

impl Wire {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("writing into a Vec cannot fail")
    }
}
