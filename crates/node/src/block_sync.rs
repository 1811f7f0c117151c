//! Block sync: a node behind its peers fetches the blocks it lacks from several peers at once.
//!
//! The heights after the node's tip are cut into ranges of [`SYNC_BATCH`] blocks; each peer
//! ahead is asked for one range at a time, so a node behind three peers has three requests in
//! flight, and the blocks after the next one wait here while it is verified and executed. The
//! driver verifies each block (certificate, re-execution) when it is next in line; this module
//! only plans requests and holds answers, with who sent them, so a block that does not verify
//! disconnects its sender and is asked again of another peer.
//!
//! Memory is bounded: only blocks of a range a peer was asked for are kept, at most
//! [`WINDOW`] ranges ahead of the tip are asked, and each answer is at most one frame.

use std::collections::BTreeMap;

use consortia_network::PeerId;
use consortia_types::{Block, Height};

use crate::p2p::SYNC_BATCH;

/// Ranges of [`SYNC_BATCH`] blocks after the tip asked or held at once, at most.
pub(crate) const WINDOW: u64 = 4;
/// A request unanswered for this long is asked of another peer. A peer with nothing to send
/// does not answer, so this is also how long a peer that claims blocks it does not serve holds
/// up its range.
pub(crate) const RETRY_MS: u64 = 1_000;
/// A peer's late answer is still taken for this long after it was asked, and the peer is not
/// asked anything else meanwhile: on a loaded machine an answer of 8 MiB can take longer than
/// [`RETRY_MS`], and dropping every late answer could stall sync.
pub(crate) const ANSWER_MS: u64 = 4 * RETRY_MS;

/// A request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    pub from: Height,
    pub max: u32,
    pub at_ms: u64,
}

impl Ask {
    fn covers(&self, height: Height) -> bool {
        (self.from..self.from + u64::from(self.max)).contains(&height)
    }
}

/// What block sync has asked for and holds (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct BlockSync {
    /// The request each peer is answering: one per peer. Past [`RETRY_MS`] its range is asked
    /// of another peer too; its answer is taken until [`ANSWER_MS`].
    asked: BTreeMap<PeerId, Ask>,
    /// Blocks received after the tip, each with its sender, not verified yet.
    ahead: BTreeMap<Height, (PeerId, Block)>,
    /// When each peer was last asked: the one asked longest ago goes first, so a peer that
    /// announces heights it does not serve draws only its share of the requests.
    last_asked: BTreeMap<PeerId, u64>,
}

impl BlockSync {
    /// The requests to send now, for a node whose next height is `tip + 1`, given the next
    /// height each peer announced (`peers`). Each is recorded as asked.
    pub(crate) fn requests(
        &mut self,
        tip: Height,
        peers: &BTreeMap<PeerId, Height>,
        now_ms: u64,
    ) -> Vec<(PeerId, Ask)> {
        self.ahead.retain(|h, _| *h > tip);
        self.asked
            .retain(|_, a| now_ms < a.at_ms + ANSWER_MS && a.from + u64::from(a.max) > tip + 1);
        let end = tip + 1 + WINDOW * u64::from(SYNC_BATCH);
        let mut out = Vec::new();
        let mut from = tip + 1;
        while let Some((start, len)) = self.next_gap(from, end, now_ms) {
            let Some(peer) = self.free_peer(start, peers) else { break };
            let ask = Ask { from: start, max: len, at_ms: now_ms };
            self.asked.insert(peer, ask);
            self.last_asked.insert(peer, now_ms);
            out.push((peer, ask));
            from = start + u64::from(len);
        }
        out
    }

    /// The first run of heights in `from..end` neither held nor asked within [`RETRY_MS`]:
    /// its start and length (at most [`SYNC_BATCH`]).
    fn next_gap(&self, mut from: Height, end: Height, now_ms: u64) -> Option<(Height, u32)> {
        let covered = |h: Height| {
            self.ahead.contains_key(&h)
                || self.asked.values().any(|a| now_ms < a.at_ms + RETRY_MS && a.covers(h))
        };
        while from < end && covered(from) {
            from += 1;
        }
        if from >= end {
            return None;
        }
        let mut len = 1;
        while len < SYNC_BATCH && from + u64::from(len) < end && !covered(from + u64::from(len)) {
            len += 1;
        }
        Some((from, len))
    }

    /// A peer holding `from` (its announced next height is past it) with no request in flight,
    /// asked longest ago.
    fn free_peer(&self, from: Height, peers: &BTreeMap<PeerId, Height>) -> Option<PeerId> {
        peers
            .iter()
            .filter(|(p, next)| **next > from && !self.asked.contains_key(p))
            .min_by_key(|(p, next)| (self.last_asked.get(*p).copied(), std::cmp::Reverse(**next)))
            .map(|(p, _)| *p)
    }

    /// A peer's answer: its request is done, and the blocks of the range it was asked for
    /// after `tip` are kept (the first copy of each height). Blocks nobody asked it for are
    /// dropped, so a peer cannot make this node hold more than one answer of its own.
    pub(crate) fn received(&mut self, peer: PeerId, blocks: Vec<Block>, tip: Height) {
        let Some(ask) = self.asked.remove(&peer) else { return };
        for block in blocks {
            let height = block.header.height;
            if height > tip && ask.covers(height) {
                self.ahead.entry(height).or_insert((peer, block));
            }
        }
    }

    /// The block at `tip + 1`, if held, with its sender.
    pub(crate) fn next(&mut self, tip: Height) -> Option<(PeerId, Block)> {
        self.ahead.retain(|h, _| *h > tip);
        self.ahead.remove(&(tip + 1))
    }

    /// Drops what `peer` was asked and sent (it disconnected, or sent a block that did not
    /// verify): those heights are asked of other peers.
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.asked.remove(&peer);
        self.ahead.retain(|_, (from, _)| *from != peer);
    }

    /// Blocks held, waiting for their turn.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.ahead.len()
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::Hash;

    use super::*;

    fn peer(n: u8) -> PeerId {
        PeerId([n; 32])
    }

    fn block(height: Height) -> Block {
        Block {
            header: consortia_test_utils::genesis::header(9, height, Hash([0; 32]), height),
            transactions: vec![],
            certificate: None,
        }
    }

    fn blocks(from: Height, n: u64) -> Vec<Block> {
        (from..from + n).map(block).collect()
    }

    fn peers(heights: &[(u8, Height)]) -> BTreeMap<PeerId, Height> {
        heights.iter().map(|(p, h)| (peer(*p), *h)).collect()
    }

    const B: u64 = SYNC_BATCH as u64;

    #[test]
    fn each_peer_ahead_is_asked_for_its_own_range() {
        let mut sync = BlockSync::default();
        let asks = sync.requests(10, &peers(&[(1, 1000), (2, 1000), (3, 1000)]), 0);
        let ranges: Vec<_> = asks.iter().map(|(_, a)| (a.from, a.max)).collect();
        assert_eq!(ranges, [(11, SYNC_BATCH), (11 + B, SYNC_BATCH), (11 + 2 * B, SYNC_BATCH)]);
        let mut asked: Vec<_> = asks.iter().map(|(p, _)| *p).collect();
        asked.sort();
        assert_eq!(asked, [peer(1), peer(2), peer(3)], "three peers, three requests");
        assert!(sync.requests(10, &peers(&[(1, 1000), (2, 1000), (3, 1000)]), 10).is_empty());
    }

    #[test]
    fn no_more_than_the_window_is_asked_ahead_of_the_tip() {
        let mut sync = BlockSync::default();
        let many: Vec<_> = (1..=8).map(|p| (p, 10_000)).collect();
        let asks = sync.requests(0, &peers(&many), 0);
        assert_eq!(asks.len() as u64, WINDOW);
        assert_eq!(asks.last().unwrap().1.from, 1 + (WINDOW - 1) * B);
    }

    #[test]
    fn a_peer_is_asked_only_for_heights_it_announced() {
        let mut sync = BlockSync::default();
        let asks = sync.requests(10, &peers(&[(1, 15), (2, 1000)]), 0);
        assert_eq!(asks[0], (peer(2), Ask { from: 11, max: SYNC_BATCH, at_ms: 0 }));
        assert_eq!(asks.len(), 1, "peer 1 holds nothing past 14 that is not asked of peer 2");
    }

    #[test]
    fn blocks_answered_out_of_order_come_out_in_height_order() {
        let mut sync = BlockSync::default();
        let asks = sync.requests(0, &peers(&[(1, 1000), (2, 1000)]), 0);
        let (first, second) = (asks[0].0, asks[1].0);
        sync.received(second, blocks(1 + B, B), 0);
        assert!(sync.next(0).is_none(), "block 1 is not in yet");
        sync.received(first, blocks(1, B), 0);
        let mut tip = 0;
        while let Some((from, b)) = sync.next(tip) {
            assert_eq!(b.header.height, tip + 1);
            assert_eq!(from, if tip < B { first } else { second });
            tip += 1;
        }
        assert_eq!(tip, 2 * B);
    }

    #[test]
    fn an_unanswered_request_is_asked_again_of_another_peer() {
        let mut sync = BlockSync::default();
        let heights = peers(&[(1, 20), (2, 20)]);
        let asks = sync.requests(10, &heights, 0);
        assert_eq!(asks.len(), 1);
        let silent = asks[0].0;
        assert!(sync.requests(10, &heights, RETRY_MS - 1).is_empty(), "not yet");
        let again = sync.requests(10, &heights, RETRY_MS);
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].0, silent, "the other peer, asked longest ago");
        assert_eq!(again[0].1.from, 11);
    }

    #[test]
    fn a_late_answer_is_taken_while_its_range_is_asked_again() {
        let mut sync = BlockSync::default();
        sync.requests(0, &peers(&[(1, 1000)]), 0);
        let again = sync.requests(0, &peers(&[(1, 1000), (2, 1000)]), RETRY_MS);
        assert_eq!(again, [(peer(2), Ask { from: 1, max: SYNC_BATCH, at_ms: RETRY_MS })]);
        sync.received(peer(1), blocks(1, B), 0);
        assert_eq!(sync.next(0).unwrap().0, peer(1), "the slow peer's late answer counts");
    }

    #[test]
    fn a_peer_silent_past_the_answer_time_is_asked_again() {
        let mut sync = BlockSync::default();
        let heights = peers(&[(1, 1000)]);
        sync.requests(0, &heights, 0);
        assert!(sync.requests(0, &heights, ANSWER_MS - 1).is_empty(), "still waited for");
        assert_eq!(sync.requests(0, &heights, ANSWER_MS)[0].0, peer(1));
    }

    #[test]
    fn a_short_answer_leaves_the_rest_of_its_range_to_ask_again() {
        let mut sync = BlockSync::default();
        let heights = peers(&[(1, 1000)]);
        sync.requests(0, &heights, 0);
        sync.received(peer(1), blocks(1, 5), 0);
        let asks = sync.requests(0, &heights, 1);
        assert_eq!(asks, [(peer(1), Ask { from: 6, max: SYNC_BATCH, at_ms: 1 })]);
    }

    #[test]
    fn a_gap_between_held_blocks_is_asked_for_alone() {
        let mut sync = BlockSync::default();
        let heights = peers(&[(1, 1000), (2, 1000)]);
        let asks = sync.requests(0, &heights, 0);
        let (first, second) = (asks[0].0, asks[1].0);
        sync.received(first, blocks(1, 3), 0);
        sync.received(second, blocks(1 + B, 3), 0);
        let again = sync.requests(0, &heights, 1);
        assert_eq!(again[0].1, Ask { from: 4, max: SYNC_BATCH - 3, at_ms: 1 });
    }

    #[test]
    fn blocks_nobody_asked_for_are_not_kept() {
        let mut sync = BlockSync::default();
        sync.received(peer(1), blocks(1, 3), 0);
        assert_eq!(sync.held(), 0, "peer 1 was not asked");
        sync.requests(0, &peers(&[(1, 1000)]), 0);
        sync.received(peer(1), blocks(1 + B, 3), 0);
        assert_eq!(sync.held(), 0, "past the range peer 1 was asked for");
    }

    #[test]
    fn blocks_at_or_below_the_tip_are_not_kept() {
        let mut sync = BlockSync::default();
        sync.requests(0, &peers(&[(1, 1000)]), 0);
        sync.received(peer(1), blocks(1, 5), 3);
        assert_eq!(sync.held(), 2, "blocks 4 and 5");
    }

    #[test]
    fn forgetting_a_peer_drops_its_blocks_and_its_request() {
        let mut sync = BlockSync::default();
        let heights = peers(&[(1, 1000), (2, 1000)]);
        let asks = sync.requests(0, &heights, 0);
        let (liar, honest) = (asks[0].0, asks[1].0);
        sync.received(liar, blocks(1, B), 0);
        sync.received(honest, blocks(1 + B, B), 0);
        sync.forget(liar);
        assert!(sync.next(0).is_none());
        assert_eq!(sync.held() as u64, B, "the honest peer's blocks stay");
        let again = sync.requests(0, &heights, 1);
        assert_eq!(again[0].1.from, 1, "the liar's range is asked again");
    }

    #[test]
    fn the_first_copy_of_a_height_is_kept() {
        let mut sync = BlockSync::default();
        sync.requests(0, &peers(&[(1, 1000)]), 0);
        // Past the retry time the same range goes to peer 2, which answers first.
        sync.requests(0, &peers(&[(1, 1000), (2, 1000)]), RETRY_MS);
        sync.received(peer(2), blocks(1, 1), 0);
        sync.received(peer(1), blocks(1, 1), 0);
        assert_eq!(sync.next(0).unwrap().0, peer(2));
        assert_eq!(sync.held(), 0, "peer 1's late copy was not kept beside it");
    }
}
