//! Pins the consensus wire format: proposals, votes and Raft's election messages as sent, and
//! as written to the WAL. Change a pin only on purpose: it breaks every running network.
#![allow(clippy::unwrap_used)]

use consortia_consensus::{Message, Proposal, RaftKind, RaftMessage, SignedVote};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey, Scheme};
use consortia_types::{Vote, VoteKind};

fn key() -> PrivateKey {
    // A fixed secret: deterministic ed25519 signatures make the encodings fixed.
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&HashAlgorithm::Sha256.digest(b"conformance").0);
    PrivateKey::from_secret_bytes(Scheme::Ed25519, &seed).unwrap()
}

fn pin(name: &str, message: &Message, want: &str) {
    let got = HashAlgorithm::Sha256.digest(&borsh::to_vec(message).unwrap()).to_hex();
    assert_eq!(got, want, "{name}: encoding changed (got {got})");
}

#[test]
fn consensus_messages_are_pinned() {
    let proposal = Proposal {
        chain_id: 1001,
        height: 7,
        round: 2,
        block_hash: Hash([5; 32]),
        pol_round: Some(1),
    };
    pin(
        "proposal",
        &Message::Proposal(proposal.sign(&key())),
        "0xad3cb8601c1490887eaf067703118dc34b202e16c49db28cce2b5086f1f27750",
    );
    let vote =
        Vote { chain_id: 1001, height: 7, round: 2, kind: VoteKind::Prevote, block_hash: None };
    pin(
        "vote",
        &Message::Vote(SignedVote::new(vote, 3, &key())),
        "0x78aa80fd059312e20a3613baee69af3d5544f16b1b5dd6390d2e635c48555667",
    );
    let raft = RaftMessage {
        chain_id: 1001,
        height: 7,
        term: 9,
        from: 1,
        kind: RaftKind::RequestVote { accepted_term: Some(8) },
    };
    pin(
        "raft",
        &Message::Raft(raft.sign(&key())),
        "0x402e6eefdfa2eff37d6f6499350431398c13334a20734719ff25e17a40a9f5e5",
    );
}
