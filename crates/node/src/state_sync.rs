//! State sync: a node that holds only block 0 while its peers are far ahead starts from the
//! state of a recent block instead of replaying every block before it.
//!
//! Trust comes from genesis alone, as a light client's does. The node first fetches the
//! headers with their commit certificates (no transactions) and verifies each certificate
//! against the validator set of its height, following set changes: a header commits to the
//! hash of the next set, and a peer sends the set itself where it changes. The last header
//! verified is the target. Then the target's state comes in chunks of leaves, each proven
//! against the target's state root before it is written (`storage`'s `StateRestore`), and
//! last the target block itself with its receipts, checked against its header's roots. The
//! store then starts at the target, and consensus and block sync go on from there.
//!
//! A peer whose answer does not verify is disconnected and the step is asked of another; a
//! bad chunk makes the state start over (the restore cannot resume past it). If no answer
//! comes for a while the node gives up and replays blocks instead (peers of an older version
//! do not speak this).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use consortia_crypto::{Hash, HashAlgorithm};
use consortia_execution::governance;
use consortia_network::PeerId;
use consortia_storage::{
    BlockReader, ChainStore, StateChunk, StateRestore, StorageError, TxReader,
};
use consortia_types::{
    Block, CertifiedHeader, CommitCertificate, HeaderChain, Height, Receipt, validators_hash,
};

use crate::{Node, NodeError};

/// Headers asked for in one request, at most.
pub(crate) const HEADERS_BATCH: u32 = 1_000;
/// State leaves asked for in one request, at most (`storage::state_sync/restore` measured
/// 16,384 a sixth faster than 4,096: fewer proofs and write transactions)...
pub(crate) const CHUNK_LEAVES: u32 = 16_384;
/// ...and the bytes of keys and values a chunk stops at: below any chain's frame limit (its
/// largest block and 4 MiB).
pub(crate) const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// A request unanswered for this long is asked of another peer.
const RETRY_MS: u64 = 3_000;
/// With no progress for this long, the node replays blocks instead.
const GIVE_UP_MS: u64 = 30_000;

/// A state sync under way (see the module's documentation).
pub(crate) struct StateSync {
    algo: HashAlgorithm,
    /// The height to reach: peers were this far when it began.
    target: Height,
    /// The headers verified (from block 0's), and the set that signs the next.
    chain: HeaderChain,
    last_certificate: Option<CommitCertificate>,
    /// The state restore, once the headers reached the target.
    restore: Option<StateRestore>,
    /// Its last chunk is in.
    state_complete: bool,
    /// Whose answers are awaited, and since when, in the order asked (two when the next chunk
    /// was asked before the last one was checked).
    asked: VecDeque<(PeerId, u64)>,
    /// The peer asked last (the next try goes to the one after it).
    last_asked: Option<PeerId>,
    progress_ms: u64,
    /// Peers whose answers did not verify.
    refused: BTreeSet<PeerId>,
}

/// What a peer sends a node in state sync.
pub(crate) enum Answer {
    Headers(Vec<CertifiedHeader>),
    Chunk(StateChunk),
    Base(Box<Block>, Vec<Receipt>),
}

/// What a node in state sync asks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    Headers { from: Height, max: u32 },
    Chunk { height: Height, after: Option<[u8; 32]>, max: u32 },
    Base { height: Height },
}

impl Ask {
    pub(crate) fn into_wire(self) -> crate::p2p::Wire {
        use crate::p2p::Wire;
        match self {
            Ask::Headers { from, max } => Wire::GetHeaders { from, max },
            Ask::Chunk { height, after, max } => Wire::GetStateChunk { height, after, max },
            Ask::Base { height } => Wire::GetBaseBlock { height },
        }
    }
}

impl StateSync {
    /// Begins toward `target` from the store's block 0.
    pub(crate) fn new(node: &Node, target: Height, now_ms: u64) -> Result<Self, NodeError> {
        let genesis = node.store.header(0)?.ok_or_else(|| StorageError::Corrupt {
            table: "headers",
            detail: "block 0 missing".into(),
        })?;
        Ok(StateSync {
            algo: node.hash_algorithm(),
            target,
            chain: HeaderChain::new(
                node.hash_algorithm(),
                node.genesis.params.consensus,
                node.genesis.chain_id,
                Some(genesis.header),
                governance::validators_at(&*node.store, 1)?,
            ),
            last_certificate: None,
            restore: None,
            state_complete: false,
            asked: VecDeque::new(),
            last_asked: None,
            progress_ms: now_ms,
            refused: BTreeSet::new(),
        })
    }

    /// The block it restores at (at the latest).
    pub(crate) fn target(&self) -> Height {
        self.target
    }

    pub(crate) fn given_up(&self, now_ms: u64) -> bool {
        now_ms > self.progress_ms + GIVE_UP_MS
    }

    /// The next request, and the peer to send it to (of `peers`, those far enough ahead),
    /// unless an answer is awaited.
    pub(crate) fn next(&mut self, peers: &[PeerId], now_ms: u64) -> Option<(PeerId, Ask)> {
        if let Some(&(peer, at)) = self.asked.front()
            && now_ms < at + RETRY_MS
            && peers.contains(&peer)
        {
            return None;
        }
        // Unanswered (or the peer left): whatever it was asked is asked of another.
        self.asked.clear();
        let previous = self.last_asked;
        let fresh: Vec<PeerId> =
            peers.iter().filter(|p| !self.refused.contains(p)).copied().collect();
        // Round robin past the one asked last, so a silent peer holds up one try.
        let peer =
            fresh.iter().find(|p| Some(**p) > previous).or_else(|| fresh.first()).copied()?;
        let ask = match &self.restore {
            None => Ask::Headers { from: self.chain.next_height(), max: HEADERS_BATCH },
            Some(r) if !self.state_complete => {
                Ask::Chunk { height: r.height(), after: r.after(), max: CHUNK_LEAVES }
            }
            Some(r) => Ask::Base { height: r.height() },
        };
        self.asked.push_back((peer, now_ms));
        self.last_asked = Some(peer);
        Some((peer, ask))
    }

    /// The chunk after `chunk`, asked of the peer that sent it before `chunk` is checked, so
    /// that the peer reads it while this node checks and writes (`None` when `chunk` is not
    /// the awaited one, or is the last). If `chunk` turns out bad, the peer is refused and its
    /// answer to this ignored.
    pub(crate) fn ask_ahead(
        &mut self,
        peer: PeerId,
        chunk: &StateChunk,
        now_ms: u64,
    ) -> Option<Ask> {
        let restore = self.restore.as_ref()?;
        let awaited = self.asked.len() == 1 && self.asked.front().is_some_and(|(p, _)| *p == peer);
        if !awaited || self.state_complete || chunk.last || chunk.height != restore.height() {
            return None;
        }
        let (after, _) = chunk.leaves.last()?;
        self.asked.push_back((peer, now_ms));
        Some(Ask::Chunk { height: restore.height(), after: Some(*after), max: CHUNK_LEAVES })
    }

    /// Takes a peer's answer. `Ok(true)`: the state is restored, and the node starts at the
    /// target. `Err`: the peer misbehaved (the reason); it is asked no more.
    pub(crate) fn answer(
        &mut self,
        node: &Arc<Node>,
        peer: PeerId,
        answer: Answer,
        now_ms: u64,
    ) -> Result<bool, String> {
        if self.asked.front().is_none_or(|(p, _)| *p != peer) {
            return Ok(false);
        }
        self.asked.pop_front();
        let outcome = match answer {
            Answer::Headers(headers) => self.headers(node, headers),
            Answer::Chunk(chunk) => self.chunk(node, chunk),
            Answer::Base(block, receipts) => self.base(node, *block, receipts),
        };
        match outcome {
            Ok(done) => {
                self.progress_ms = now_ms;
                Ok(done)
            }
            Err(reason) => {
                self.refused.insert(peer);
                self.asked.clear();
                Err(reason)
            }
        }
    }

    /// Verifies headers one after another; the restore begins once the target is reached.
    fn headers(&mut self, node: &Arc<Node>, headers: Vec<CertifiedHeader>) -> Result<bool, String> {
        if self.restore.is_some() {
            return Ok(false);
        }
        for next in headers {
            let height = next.header.height;
            if height != self.chain.next_height() || height > self.target {
                break;
            }
            let certificate = next.certificate.clone();
            self.chain.follow(next).map_err(|e| e.to_string())?;
            self.last_certificate = Some(certificate);
        }
        let (height, root) = self.last();
        if height >= self.target {
            tracing::info!(target: "node::sync", height, "headers verified; fetching the state");
            let restore = node
                .store
                .begin_restore(height, root)
                .map_err(|e| format!("the state restore cannot begin: {e}"))?;
            self.restore = Some(restore);
        }
        Ok(false)
    }

    /// The height and state root of the last header verified.
    fn last(&self) -> (Height, Hash) {
        self.chain.last().map_or((0, Hash::ZERO), |h| (h.height, h.state_root))
    }

    fn chunk(&mut self, node: &Arc<Node>, chunk: StateChunk) -> Result<bool, String> {
        let Some(restore) = self.restore.as_mut() else { return Ok(false) };
        if self.state_complete {
            return Ok(false);
        }
        let last = chunk.last;
        if let Err(e) = restore.add_chunk(chunk) {
            // A restore cannot go on past a refused chunk: the state starts over.
            let (height, root) = self.last();
            self.restore = Some(
                node.store
                    .begin_restore(height, root)
                    .map_err(|e| format!("the state restore cannot begin again: {e}"))?,
            );
            return Err(format!("state chunk: {e}"));
        }
        if last {
            tracing::info!(target: "node::sync", leaves = restore.leaves(), "state fetched");
            self.state_complete = true;
        }
        Ok(false)
    }

    /// The target block and its receipts: checked against the verified header, then the
    /// restore ends with it.
    fn base(
        &mut self,
        node: &Arc<Node>,
        block: Block,
        receipts: Vec<Receipt>,
    ) -> Result<bool, String> {
        if !self.state_complete {
            return Ok(false);
        }
        let Some(header) = self.chain.last() else { return Ok(false) };
        if block.header != *header {
            return Err(format!("block {} is not the verified one", block.header.height));
        }
        let hashes: Vec<Hash> = block.transactions.iter().map(|t| t.hash(self.algo)).collect();
        if node.executor.tx_root(&hashes) != header.tx_root {
            return Err("the target block's transactions do not match its header".into());
        }
        if node.executor.receipts_root(&receipts) != header.receipts_root {
            return Err("the target block's receipts do not match its header".into());
        }
        let block = Block { certificate: self.last_certificate.clone(), ..block };
        let Some(restore) = self.restore.take() else { return Ok(false) };
        let height = block.header.height;
        restore
            .finish(&block, &receipts, self.chain.next_set())
            .map_err(|e| format!("the state restore cannot end: {e}"))?;
        tracing::info!(target: "node::sync", height, "state sync done: starting at this block");
        Ok(true)
    }
}

/// The headers of `from..` (at most `max`, and what fits in `bytes`) as a node in state sync
/// asks for them; stops at a block it does not hold.
pub(crate) fn serve_headers(
    store: &ChainStore,
    algo: HashAlgorithm,
    from: Height,
    max: u32,
    bytes: usize,
) -> Vec<CertifiedHeader> {
    let mut out = Vec::new();
    let mut size = 0;
    let latest = store.latest_height().unwrap_or(0);
    let last = latest.min(from.saturating_add(u64::from(max.clamp(1, HEADERS_BATCH))) - 1);
    let mut previous =
        governance::validators_at(store, from.max(1)).ok().map(|set| validators_hash(algo, &set));
    for height in from.max(1)..=last {
        let Ok(Some(stored)) = store.header(height) else { break };
        let Some(certificate) = stored.certificate else { break };
        // The set of `height + 1` goes along where it differs from the set of `height`.
        let next_hash = stored.header.next_validators_hash;
        let next_validators = if previous == Some(next_hash) {
            None
        } else {
            match governance::validators_at(store, height + 1) {
                Ok(set) => Some(set),
                Err(_) => break,
            }
        };
        previous = Some(next_hash);
        let header = CertifiedHeader { header: stored.header, certificate, next_validators };
        size += borsh::object_length(&header).unwrap_or(0);
        out.push(header);
        if size > bytes {
            break;
        }
    }
    out
}

/// Block `height` with its receipts, for a node ending a state sync there.
pub(crate) fn serve_base(store: &ChainStore, height: Height) -> Option<(Block, Vec<Receipt>)> {
    let block = store.block(height).ok()??;
    let receipts = (0..block.transactions.len() as u32)
        .map(|i| store.receipt_at(height, i).ok().flatten())
        .collect::<Option<Vec<_>>>()?;
    Some((block, receipts))
}
