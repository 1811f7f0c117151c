use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Hash, PrivateKey, PublicKey, Signature};
use consortia_types::{Height, Vote};

const PROPOSAL_SIGNING_DOMAIN: &[u8] = b"consortia/proposal/v1\0";
const RAFT_SIGNING_DOMAIN: &[u8] = b"consortia/raft/v1\0";

/// What a round's proposer signs: "in round `round` of `height` I propose the block with this
/// header hash". `pol_round` is the paper's `validRound`: the round in which more than 2/3
/// prevoted for this block (a proof-of-lock), `None` for a fresh block. The block itself travels
/// beside the proposal; the network layer checks that its header hashes to `block_hash`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub chain_id: u64,
    pub height: Height,
    pub round: u32,
    pub block_hash: Hash,
    pub pol_round: Option<u32>,
}

impl Proposal {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = PROPOSAL_SIGNING_DOMAIN.to_vec();
        self.serialize(&mut out).expect("writing into a Vec cannot fail");
        out
    }

    pub fn sign(self, key: &PrivateKey) -> SignedProposal {
        let signature = key.sign(&self.signing_bytes());
        SignedProposal { proposal: self, signature }
    }
}

/// A proposal with its proposer's signature. The signer is not named: only the round's
/// proposer may propose, so the receiver knows whose key must verify it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedProposal {
    pub proposal: Proposal,
    pub signature: Signature,
}

impl SignedProposal {
    pub fn verify(&self, proposer: &PublicKey) -> bool {
        proposer.verify(&self.proposal.signing_bytes(), &self.signature).is_ok()
    }
}

/// A prevote or precommit with the index (in the genesis validator set) of its signer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedVote {
    pub vote: Vote,
    pub validator: u32,
    pub signature: Signature,
}

impl SignedVote {
    pub fn new(vote: Vote, validator: u32, key: &PrivateKey) -> Self {
        let signature = vote.sign(key);
        SignedVote { vote, validator, signature }
    }

    pub fn verify(&self, signer: &PublicKey) -> bool {
        signer.verify(&self.vote.signing_bytes(), &self.signature).is_ok()
    }
}

/// Raft's election traffic. Blocks travel as [`Proposal`]s (round = term) and acceptances as
/// precommit [`Vote`]s (round = term), as under BFT.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RaftMessage {
    pub chain_id: u64,
    /// The sender's next height (one past its last committed block).
    pub height: Height,
    pub term: u32,
    pub from: u32,
    pub kind: RaftKind,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum RaftKind {
    /// "Elect me leader of `term`": with the term of the block the candidate accepted at its
    /// height, if any (how up to date its log is).
    RequestVote { accepted_term: Option<u32> },
    /// "In `term` I vote for `candidate`."
    GrantVote { candidate: u32 },
    /// The leader of `term` is alive.
    Heartbeat,
}

impl RaftMessage {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = RAFT_SIGNING_DOMAIN.to_vec();
        self.serialize(&mut out).expect("writing into a Vec cannot fail");
        out
    }

    pub fn sign(self, key: &PrivateKey) -> SignedRaft {
        let signature = key.sign(&self.signing_bytes());
        SignedRaft { message: self, signature }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedRaft {
    pub message: RaftMessage,
    pub signature: Signature,
}

impl SignedRaft {
    pub fn verify(&self, signer: &PublicKey) -> bool {
        signer.verify(&self.message.signing_bytes(), &self.signature).is_ok()
    }
}

/// A consensus message between validators. These are also the consensus WAL's entries: a
/// validator persists each message it signs before sending it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    Proposal(SignedProposal),
    Vote(SignedVote),
    Raft(SignedRaft),
}

impl Message {
    pub fn height(&self) -> Height {
        match self {
            Message::Proposal(p) => p.proposal.height,
            Message::Vote(v) => v.vote.height,
            Message::Raft(r) => r.message.height,
        }
    }

    /// The round (BFT) or term (Raft) the message belongs to.
    pub fn round(&self) -> u32 {
        match self {
            Message::Proposal(p) => p.proposal.round,
            Message::Vote(v) => v.vote.round,
            Message::Raft(r) => r.message.term,
        }
    }

    pub fn chain_id(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.proposal.chain_id,
            Message::Vote(v) => v.vote.chain_id,
            Message::Raft(r) => r.message.chain_id,
        }
    }
}
