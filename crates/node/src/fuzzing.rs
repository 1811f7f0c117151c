//! Entry points for the fuzz targets (feature `fuzzing`, never in the release binary): the
//! node's decoders of bytes that come from peers and from its own disk, without what surrounds
//! them. Each checks what must hold whatever the input: nothing panics, and what decodes
//! encodes back to the same bytes (or, for the WAL, to a log that reads the same).

use crate::p2p::Wire;
use crate::wal;

/// A P2P frame's content, decoded as the driver decodes it: true if it decoded, in which case
/// it re-encodes to the very bytes (borsh is canonical, so a peer cannot smuggle two readings
/// of one frame).
pub fn decode_frame(bytes: &[u8]) -> bool {
    match borsh::from_slice::<Wire>(bytes) {
        Ok(wire) => {
            assert_eq!(
                wire.encode(),
                bytes,
                "a frame decodes to something that encodes differently"
            );
            true
        }
        Err(_) => false,
    }
}

/// A consensus WAL file, read as a restarting node reads it: the number of entries kept. The
/// valid prefix never runs past the input, and writing the kept entries again reads back the
/// same entries and the same prefix.
pub fn parse_wal(bytes: &[u8]) -> usize {
    let (entries, valid) = wal::parse(bytes);
    assert!(valid <= bytes.len(), "the valid prefix runs past the file");
    let rewritten: Vec<u8> = entries.iter().flat_map(wal::record).collect();
    assert_eq!(rewritten, bytes[..valid], "the kept records do not read back as written");
    let (again, _) = wal::parse(&rewritten);
    assert_eq!(again, entries);
    entries.len()
}

/// Valid inputs for the targets, by (target, name): a signed vote as a consensus message, each
/// kind of P2P frame, and a WAL of two records. The fuzzer mutates from these.
pub fn seeds() -> Vec<((&'static str, &'static str), Vec<u8>)> {
    use consortia_consensus::{Message, SignedVote};
    use consortia_crypto::{Address, Hash, PrivateKey, Scheme};
    use consortia_types::{Block, Header, Vote, VoteKind};
    let key = PrivateKey::generate(Scheme::Ed25519);
    let vote = Vote {
        chain_id: 7,
        height: 3,
        round: 1,
        kind: VoteKind::Precommit,
        block_hash: Some(Hash([9; 32])),
    };
    let message = Message::Vote(SignedVote::new(vote, 2, &key));
    let header = Header {
        chain_id: 7,
        height: 3,
        parent_hash: Hash([1; 32]),
        time_ms: 1_000,
        proposer: Address([2; 20]),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root: Hash([3; 32]),
        receipts_root: Hash::ZERO,
        next_validators_hash: Hash::ZERO,
    };
    let block = Block { header, transactions: vec![], certificate: None };
    let frames = [
        ("status", Wire::Status { next_height: 4 }),
        ("vote", Wire::Consensus { message: message.clone(), block: None }),
        ("txs", Wire::Txs(vec![vec![1, 2, 3]])),
        ("sync-request", Wire::SyncRequest { from: 1, max: 32 }),
        ("sync-blocks", Wire::SyncBlocks(vec![block.clone()])),
        (
            "compact-proposal",
            Wire::CompactProposal {
                message: message.clone(),
                header: Box::new(block.header.clone()),
                hashes: vec![Hash([4; 32])],
            },
        ),
        ("get-block-txs", Wire::GetBlockTxs { block_hash: Hash([5; 32]), positions: vec![0, 2] }),
        ("block-txs", Wire::BlockTxs { block_hash: Hash([5; 32]), txs: vec![] }),
        ("get-headers", Wire::GetHeaders { from: 1, max: 1_000 }),
        (
            "headers",
            Wire::Headers(vec![consortia_types::CertifiedHeader {
                header: block.header.clone(),
                certificate: consortia_types::CommitCertificate { round: 0, signatures: vec![] },
                next_validators: Some(vec![]),
            }]),
        ),
        ("get-state-chunk", Wire::GetStateChunk { height: 3, after: Some([6; 32]), max: 64 }),
        (
            "state-chunk",
            Wire::StateChunk(consortia_storage::StateChunk {
                height: 3,
                leaves: vec![([7; 32], vec![8])],
                proof: vec![0],
                last: true,
            }),
        ),
        ("get-base-block", Wire::GetBaseBlock { height: 3 }),
        ("base-block", Wire::BaseBlock { block: Box::new(block.clone()), receipts: vec![] }),
    ];
    let mut out: Vec<((&'static str, &'static str), Vec<u8>)> =
        frames.into_iter().map(|(name, wire)| (("p2p_frame", name), wire.encode())).collect();
    out.push((("consensus_message", "vote"), consortia_types::encode(&message)));
    let mut log = wal::record(&wal::WalEntry::Message(message));
    log.extend(wal::record(&wal::WalEntry::Block(block)));
    out.push((("wal", "vote-and-block"), log));
    out
}

#[cfg(test)]
mod tests {
    use consortia_consensus::{Message, SignedVote};
    use consortia_crypto::{PrivateKey, Scheme};
    use consortia_types::{Vote, VoteKind};

    use super::*;

    fn vote() -> wal::WalEntry {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let vote =
            Vote { chain_id: 1, height: 3, round: 0, kind: VoteKind::Prevote, block_hash: None };
        wal::WalEntry::Message(Message::Vote(SignedVote::new(vote, 0, &key)))
    }

    #[test]
    fn entry_points_accept_what_the_node_writes_and_refuse_garbage() {
        let record = wal::record(&vote());
        let mut log = record.clone();
        log.extend_from_slice(&record);
        assert_eq!(parse_wal(&log), 2);
        log.truncate(log.len() - 3);
        assert_eq!(parse_wal(&log), 1, "a torn last record is cut");
        assert!(decode_frame(&Wire::Status { next_height: 7 }.encode()));
        assert!(!decode_frame(&[0xff, 1, 2]));
        for ((target, name), bytes) in seeds() {
            match target {
                "p2p_frame" => assert!(decode_frame(&bytes), "{name}"),
                "wal" => assert_eq!(parse_wal(&bytes), 2),
                _ => {}
            }
        }
    }
}
