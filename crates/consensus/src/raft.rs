//! Raft: crash-fault-tolerant consensus for consortiums that trust their members not to lie
//! (Ongaro and Ousterhout, "In Search of an Understandable Consensus Algorithm", USENIX ATC
//! 2014; section numbers below are the paper's).
//!
//! The replicated log is the chain, one block per entry, one height at a time:
//! - **Terms and elections (5.2).** A follower that hears nothing from a leader for its
//!   election timeout becomes a candidate of the next term and asks for votes. A validator
//!   grants one vote per term, only to a candidate at least as up to date as itself (5.4.1):
//!   further along the chain, or at the same height with a block accepted in a term at least as
//!   recent. A majority of the power elects the leader; a higher term makes anyone a follower.
//! - **Replication (5.3).** The leader proposes the block of the next height (a [`Proposal`],
//!   round = term); a follower re-executes it (DESIGN.md step 4) and accepts it with a signed
//!   precommit [`crate::SignedVote`] (round = term), sent to everyone. Acceptances of more than
//!   half the power commit the block; they are its certificate.
//! - **Leader completeness (5.4).** A new leader that accepted a block at its height proposes
//!   that block again in its own term (instead of a new one), and commits it only with
//!   acceptances of its own term: a block a majority accepted reaches every later leader, and no
//!   block of an old term is committed by counting old acceptances (the paper's Figure 8).
//!
//! Departures: the log holds one uncommitted entry at a time (blocks are decided in order
//! anyway), so AppendEntries' consistency check reduces to "same height"; a validator that fell
//! behind catches up by block sync in the driver. Election timeouts are spread by a hash of
//! (term, validator) instead of a random number: engines hold no randomness, so one seed gives
//! one simulation. What each validator signed (votes granted, acceptances) is persisted before it
//! is sent, as under BFT, so a restart never votes twice in a term.

use std::collections::{BTreeMap, BTreeSet};

use consortia_crypto::{Hash, HashAlgorithm};
use consortia_types::{
    ChainParams, CommitCertificate, ConsensusKind, Header, Height, Vote, VoteKind,
};

use crate::bft::BftConfig;
use crate::message::{
    Message, Proposal, RaftKind, RaftMessage, SignedProposal, SignedRaft, SignedVote,
};
use crate::{Engine, Input, Output};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

/// The Raft engine for one validator (or observer). See the module docs.
#[derive(Debug)]
pub struct Raft {
    config: BftConfig,
    total_power: u128,
    me: Option<u32>,
    now_ms: u64,
    height: Height,
    term: u32,
    voted_for: Option<u32>,
    role: Role,
    leader: Option<u32>,
    grants: BTreeSet<u32>,
    /// The block this validator accepted at this height: (term, hash).
    accepted: Option<(u32, Hash)>,
    /// Proposals of this height, by term (one leader per term, one block per term).
    proposals: BTreeMap<u32, SignedProposal>,
    /// Acceptances of this height, by term, by validator.
    acks: BTreeMap<u32, BTreeMap<u32, SignedVote>>,
    validity: BTreeMap<Hash, bool>,
    validating: BTreeSet<Hash>,
    /// What this validator signed at this height, and its latest election message.
    own: Vec<Message>,
    election: Option<SignedRaft>,
    future: Vec<Message>,
    election_at: u64,
    heartbeat_at: u64,
    rebroadcast_at: u64,
    cut_at: Option<u64>,
    building: bool,
    pending: usize,
    /// The leader cuts a block at this height even without transactions (height 1, or the
    /// empty-block interval passed).
    cut_anyway: bool,
    last_commit_ms: u64,
}

impl Raft {
    /// An engine deciding `next_height`; `last_term` is the term (certificate round) of the last
    /// committed block, `wal` what this validator persisted before a restart.
    pub fn new(
        config: BftConfig,
        next_height: Height,
        last_term: u32,
        now_ms: u64,
        wal: Vec<Message>,
    ) -> Self {
        let total_power = config.validators.iter().map(|v| u128::from(v.power)).sum();
        let me = config.key.as_ref().and_then(|key| {
            let public = key.public_key();
            config.validators.iter().position(|v| v.public_key == public).map(|i| i as u32)
        });
        let mut engine = Raft {
            config,
            total_power,
            me,
            now_ms,
            height: next_height,
            term: last_term,
            voted_for: None,
            role: Role::Follower,
            leader: None,
            grants: BTreeSet::new(),
            accepted: None,
            proposals: BTreeMap::new(),
            acks: BTreeMap::new(),
            validity: BTreeMap::new(),
            validating: BTreeSet::new(),
            own: vec![],
            election: None,
            future: vec![],
            election_at: 0,
            heartbeat_at: 0,
            rebroadcast_at: now_ms,
            cut_at: None,
            building: false,
            pending: 0,
            cut_anyway: next_height == 1,
            last_commit_ms: now_ms,
        };
        engine.restore(wal);
        engine.reset_election_timer();
        engine
    }

    /// Term, vote and acceptance from what this validator persisted.
    fn restore(&mut self, wal: Vec<Message>) {
        for message in wal {
            match &message {
                Message::Raft(r) if Some(r.message.from) == self.me => {
                    let m = &r.message;
                    if m.term > self.term {
                        self.term = m.term;
                        self.voted_for = None;
                    }
                    if m.term == self.term {
                        self.voted_for = match m.kind {
                            RaftKind::RequestVote { .. } => self.me,
                            RaftKind::GrantVote { candidate } => Some(candidate),
                            RaftKind::Heartbeat => self.voted_for,
                        };
                    }
                    self.election = Some(r.clone());
                }
                Message::Vote(v)
                    if Some(v.validator) == self.me && v.vote.height == self.height =>
                {
                    self.term = self.term.max(v.vote.round);
                    if let Some(hash) = v.vote.block_hash
                        && self.accepted.is_none_or(|(t, _)| t < v.vote.round)
                    {
                        self.accepted = Some((v.vote.round, hash));
                    }
                    self.acks.entry(v.vote.round).or_default().insert(v.validator, v.clone());
                    self.own.push(message);
                }
                Message::Proposal(p) if p.proposal.height == self.height => {
                    self.term = self.term.max(p.proposal.round);
                    self.proposals.insert(p.proposal.round, p.clone());
                    self.own.push(message);
                }
                _ => {}
            }
        }
    }

    fn power_of(&self, validator: u32) -> u128 {
        self.config.validators.get(validator as usize).map_or(0, |v| u128::from(v.power))
    }

    fn is_majority(&self, power: u128) -> bool {
        ConsensusKind::Raft.is_quorum(power, self.total_power)
    }

    /// Election timeouts between `timeout_propose_ms` and twice that, spread by validator and
    /// term so that candidates rarely split the vote twice in a row.
    fn reset_election_timer(&mut self) {
        if self.term == 0 && self.me == Some(0) {
            // A new chain: validator 0 stands at once, so the first block does not wait out an
            // election timeout (the others still time out if it is not there).
            self.election_at = self.now_ms;
            return;
        }
        let base = self.config.params.timeout_propose_ms;
        let seed = u64::from(self.term) << 32 | u64::from(self.me.unwrap_or(u32::MAX));
        let spread = HashAlgorithm::Sha256.digest(&seed.to_le_bytes()).0;
        let jitter = u64::from_le_bytes(spread[..8].try_into().expect("8 bytes")) % base.max(1);
        self.election_at = self.now_ms + base + jitter;
    }

    fn heartbeat_interval(&self) -> u64 {
        (self.config.params.timeout_propose_ms / 4).max(1)
    }

    fn sign_raft(&self, kind: RaftKind) -> Option<SignedRaft> {
        let key = self.config.key.as_ref()?;
        let me = self.me?;
        let message = RaftMessage {
            chain_id: self.config.chain_id,
            height: self.height,
            term: self.term,
            from: me,
            kind,
        };
        Some(message.sign(key))
    }

    fn persist_and_send(&mut self, message: Message, out: &mut Vec<Output>) {
        out.push(Output::Persist(message.clone()));
        out.push(Output::Broadcast(message));
    }

    fn become_follower(&mut self, term: u32) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if self.role != Role::Follower {
            self.role = Role::Follower;
            self.building = false;
            self.cut_at = None;
        }
        self.grants.clear();
    }

    /// 5.2: no word from a leader: stand for the next term.
    fn campaign(&mut self, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(me);
        self.leader = None;
        self.grants = BTreeSet::from([me]);
        self.reset_election_timer();
        let accepted_term = self.accepted.map(|(t, _)| t);
        if let Some(request) = self.sign_raft(RaftKind::RequestVote { accepted_term }) {
            self.election = Some(request.clone());
            self.persist_and_send(Message::Raft(request), out);
        }
        self.check_elected(out);
    }

    fn check_elected(&mut self, out: &mut Vec<Output>) {
        let power: u128 = self.grants.iter().map(|v| self.power_of(*v)).sum();
        if self.role == Role::Candidate && self.is_majority(power) {
            self.role = Role::Leader;
            self.leader = self.me;
            self.heartbeat_at = self.now_ms;
            self.lead(out);
        }
    }

    /// The leader's turn at this height (5.3, 5.4): re-propose what it accepted here, or cut a
    /// new block once there is something to put in it.
    fn lead(&mut self, out: &mut Vec<Output>) {
        if self.role != Role::Leader || self.proposals.contains_key(&self.term) || self.building {
            return;
        }
        if let Some((accepted_term, value)) = self.accepted {
            let proposal = Proposal {
                chain_id: self.config.chain_id,
                height: self.height,
                round: self.term,
                block_hash: value,
                pol_round: Some(accepted_term),
            };
            self.send_proposal(proposal, out);
            return;
        }
        let p = &self.config.params;
        let full = self.pending >= p.max_block_txs as usize;
        let due = self.last_commit_ms + p.block_interval_ms;
        if self.pending == 0 && !self.cut_anyway {
            return;
        }
        if full || self.now_ms >= due {
            self.building = true;
            self.cut_at = None;
            out.push(Output::BuildProposal { height: self.height });
        } else {
            self.cut_at = Some(due);
        }
    }

    fn send_proposal(&mut self, proposal: Proposal, out: &mut Vec<Output>) {
        let Some(key) = &self.config.key else { return };
        let signed = proposal.sign(key);
        self.proposals.insert(signed.proposal.round, signed.clone());
        let message = Message::Proposal(signed);
        self.own.push(message.clone());
        self.persist_and_send(message, out);
        self.try_accept(out);
    }

    /// 5.3: accept the current term's proposal once it re-executed.
    fn try_accept(&mut self, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        let term = self.term;
        let Some(value) = self.proposals.get(&term).map(|p| p.proposal.block_hash) else { return };
        if self.acks.get(&term).is_some_and(|a| a.contains_key(&me)) {
            return;
        }
        match self.validity.get(&value) {
            Some(true) => {}
            Some(false) => return,
            None => {
                if self.validating.insert(value) {
                    out.push(Output::Validate { height: self.height, block_hash: value });
                }
                return;
            }
        }
        let Some(key) = &self.config.key else { return };
        let vote = Vote {
            chain_id: self.config.chain_id,
            height: self.height,
            round: term,
            kind: VoteKind::Precommit,
            block_hash: Some(value),
        };
        let signed = SignedVote::new(vote, me, key);
        self.accepted = Some((term, value));
        self.acks.entry(term).or_default().insert(me, signed.clone());
        let message = Message::Vote(signed);
        self.own.push(message.clone());
        self.persist_and_send(message, out);
        self.try_commit(out);
    }

    /// Acceptances of more than half the power for the current term's block commit it.
    fn try_commit(&mut self, out: &mut Vec<Output>) {
        let terms: Vec<u32> = self.acks.keys().copied().collect();
        for term in terms {
            let Some(proposal) = self.proposals.get(&term) else { continue };
            let value = proposal.proposal.block_hash;
            let acks = &self.acks[&term];
            let power: u128 = acks
                .values()
                .filter(|v| v.vote.block_hash == Some(value))
                .map(|v| self.power_of(v.validator))
                .sum();
            if !self.is_majority(power) || self.validity.get(&value) != Some(&true) {
                continue;
            }
            let signatures = acks
                .values()
                .filter(|v| v.vote.block_hash == Some(value))
                .map(|v| (v.validator, v.signature.clone()))
                .collect();
            out.push(Output::Commit {
                height: self.height,
                block_hash: value,
                certificate: CommitCertificate { round: term, signatures },
            });
            self.enter_height(self.height + 1, out);
            return;
        }
    }

    fn enter_height(&mut self, height: Height, out: &mut Vec<Output>) {
        self.height = height;
        self.accepted = None;
        self.proposals.clear();
        self.acks.clear();
        self.validity.clear();
        self.validating.clear();
        self.own.clear();
        self.building = false;
        self.cut_at = None;
        self.pending = 0;
        self.cut_anyway = false;
        self.last_commit_ms = self.now_ms;
        for message in std::mem::take(&mut self.future) {
            self.receive(message, out);
        }
        self.lead(out);
    }

    fn receive(&mut self, message: Message, out: &mut Vec<Output>) {
        if message.chain_id() != self.config.chain_id {
            out.push(Output::Invalid {
                reason: format!("message for chain {}", message.chain_id()),
            });
            return;
        }
        match message {
            Message::Raft(r) => self.on_raft(r, out),
            Message::Proposal(p) => self.on_proposal(p, out),
            Message::Vote(v) => self.on_ack(v, out),
        }
    }

    fn on_raft(&mut self, r: SignedRaft, out: &mut Vec<Output>) {
        let m = &r.message;
        let Some(sender) = self.config.validators.get(m.from as usize) else {
            out.push(Output::Invalid {
                reason: format!("election message from unknown validator {}", m.from),
            });
            return;
        };
        if Some(m.from) == self.me {
            return;
        }
        if !r.verify(&sender.public_key) {
            out.push(Output::Invalid {
                reason: format!("election message of validator {} with a bad signature", m.from),
            });
            return;
        }
        if m.term < self.term {
            return; // 5.1: stale term
        }
        if m.term > self.term {
            self.become_follower(m.term);
        }
        match m.kind {
            RaftKind::Heartbeat => {
                self.leader = Some(m.from);
                if self.role == Role::Candidate {
                    self.become_follower(m.term);
                }
                self.reset_election_timer();
            }
            RaftKind::RequestVote { accepted_term } => {
                // 5.4.1: only for a candidate at least as up to date.
                let up_to_date = m.height > self.height
                    || (m.height == self.height && accepted_term >= self.accepted.map(|(t, _)| t));
                if self.voted_for == Some(m.from) {
                    // Asked again (our grant was lost): the same grant, already persisted.
                    if let Some(grant) = &self.election {
                        out.push(Output::Broadcast(Message::Raft(grant.clone())));
                    }
                } else if up_to_date && self.voted_for.is_none() && self.me.is_some() {
                    self.voted_for = Some(m.from);
                    self.reset_election_timer();
                    if let Some(grant) = self.sign_raft(RaftKind::GrantVote { candidate: m.from }) {
                        self.election = Some(grant.clone());
                        self.persist_and_send(Message::Raft(grant), out);
                    }
                }
            }
            RaftKind::GrantVote { candidate } => {
                if Some(candidate) == self.me && self.role == Role::Candidate {
                    self.grants.insert(m.from);
                    self.check_elected(out);
                }
            }
        }
    }

    fn on_proposal(&mut self, p: SignedProposal, out: &mut Vec<Output>) {
        let term = p.proposal.round;
        let height = p.proposal.height;
        if height == self.height + 1 {
            self.buffer(Message::Proposal(p));
            return;
        }
        if height != self.height || term < self.term {
            return;
        }
        // The proposer of a term is its leader: whoever signed it must be a validator (one
        // leader per term is Raft's own guarantee; members are trusted not to lie).
        let signer =
            self.config.validators.iter().position(|v| p.verify(&v.public_key)).map(|i| i as u32);
        let Some(leader) = signer else {
            out.push(Output::Invalid { reason: "proposal not signed by a validator".into() });
            return;
        };
        if Some(leader) == self.me {
            return;
        }
        if term > self.term || self.role == Role::Candidate {
            self.become_follower(term);
        }
        self.leader = Some(leader);
        self.reset_election_timer();
        let value = p.proposal.block_hash;
        self.proposals.entry(term).or_insert(p);
        if !self.validity.contains_key(&value) {
            self.validating.insert(value);
            out.push(Output::Validate { height: self.height, block_hash: value });
        }
        self.try_accept(out);
    }

    fn on_ack(&mut self, v: SignedVote, out: &mut Vec<Output>) {
        if v.vote.height == self.height + 1 {
            self.buffer(Message::Vote(v));
            return;
        }
        if v.vote.height != self.height || v.vote.kind != VoteKind::Precommit {
            return;
        }
        let Some(validator) = self.config.validators.get(v.validator as usize) else {
            out.push(Output::Invalid {
                reason: format!("acceptance from unknown validator {}", v.validator),
            });
            return;
        };
        if Some(v.validator) == self.me {
            return;
        }
        if !v.verify(&validator.public_key) {
            out.push(Output::Invalid {
                reason: format!("acceptance of validator {} with a bad signature", v.validator),
            });
            return;
        }
        let (term, who) = (v.vote.round, v.validator);
        let acks = self.acks.entry(term).or_default();
        match acks.get(&who) {
            Some(existing) if existing.vote != v.vote => {
                let height = self.height;
                out.push(Output::Equivocation {
                    validator: who,
                    height,
                    round: term,
                    kind: VoteKind::Precommit,
                });
            }
            Some(_) => {}
            None => {
                acks.insert(who, v);
            }
        }
        self.try_commit(out);
    }

    fn buffer(&mut self, message: Message) {
        if self.future.len() < 16 * self.config.validators.len() && !self.future.contains(&message)
        {
            self.future.push(message);
        }
    }

    fn on_timers(&mut self, out: &mut Vec<Output>) {
        if self.role == Role::Leader {
            if self.now_ms >= self.heartbeat_at {
                self.heartbeat_at = self.now_ms + self.heartbeat_interval();
                if let Some(beat) = self.sign_raft(RaftKind::Heartbeat) {
                    out.push(Output::Broadcast(Message::Raft(beat)));
                }
            }
            if self.cut_at.is_some_and(|at| self.now_ms >= at) {
                self.lead(out);
            }
            let empty = self.config.params.empty_block_interval_ms;
            if empty > 0 && self.now_ms >= self.last_commit_ms + empty {
                self.cut_anyway = true;
                self.lead(out);
            }
        } else if self.now_ms >= self.election_at && self.me.is_some() {
            self.campaign(out);
        }
        if self.now_ms >= self.rebroadcast_at {
            self.rebroadcast_at = self.now_ms + self.config.params.timeout_propose_ms;
            out.extend(self.own.iter().cloned().map(Output::Broadcast));
            // An election still open: ask (or answer) again, in case the message was lost.
            if let Some(election) = self.election.as_ref().filter(|_| self.leader.is_none()) {
                out.push(Output::Broadcast(Message::Raft(election.clone())));
            }
        }
    }

    fn next_wake(&self) -> u64 {
        let mut at = self.rebroadcast_at;
        if self.role == Role::Leader {
            at = at.min(self.heartbeat_at);
            if let Some(cut) = self.cut_at {
                at = at.min(cut);
            }
            let empty = self.config.params.empty_block_interval_ms;
            if empty > 0 {
                at = at.min(self.last_commit_ms + empty);
            }
        } else if self.me.is_some() {
            at = at.min(self.election_at);
        }
        at
    }

    fn proposal_built(&mut self, header: Header, out: &mut Vec<Output>) {
        if !self.building || header.height != self.height || self.role != Role::Leader {
            return;
        }
        self.building = false;
        let value = header.hash(self.config.hash);
        self.validity.insert(value, true);
        let proposal = Proposal {
            chain_id: self.config.chain_id,
            height: self.height,
            round: self.term,
            block_hash: value,
            pol_round: None,
        };
        self.send_proposal(proposal, out);
    }
}

impl Engine for Raft {
    fn height(&self) -> Height {
        self.height
    }

    fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.now_ms = self.now_ms.max(input.now_ms());
        match input {
            Input::Tick { .. } => {}
            Input::TxsReady { count, .. } => {
                self.pending = count;
                self.lead(&mut out);
            }
            Input::ProposalBuilt { header, .. } => {
                self.proposal_built(header, &mut out);
            }
            Input::Message { message, .. } => {
                self.receive(message, &mut out);
            }
            Input::Validated { block_hash, valid, .. } => {
                if self.validating.remove(&block_hash) {
                    self.validity.insert(block_hash, valid);
                }
                self.try_accept(&mut out);
                self.try_commit(&mut out);
            }
            Input::Synced { height, .. } => {
                if height >= self.height {
                    self.enter_height(height + 1, &mut out);
                }
            }
            // The set is fixed at genesis: governance refuses validator changes on Raft chains
            // until single-server membership changes are built (docs/architecture.md).
            Input::Validators { .. } => {}
            Input::Params { params, .. } => {
                self.config.params =
                    ChainParams { consensus: self.config.params.consensus, ..params };
            }
        }
        self.on_timers(&mut out);
        out.push(Output::WakeAt { at_ms: self.next_wake() });
        out
    }
}
