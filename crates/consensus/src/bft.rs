//! Tendermint BFT: Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on BFT
//! consensus" (arXiv 1807.04938). Comments cite the algorithm's line numbers.
//!
//! The protocol, for n = 3f+1 validators (by voting power: "2f+1" below means more than 2/3 of
//! the total power, "f+1" more than 1/3):
//! - Each height runs rounds. A round's proposer (rotating with height and round, weighted by
//!   power) proposes a block; everyone *prevotes* for it if it is valid and they are not locked
//!   on another block, else for nil (lines 22-33).
//! - On 2f+1 prevotes for a block (a *polka*), a validator *locks* on it and *precommits* it
//!   (lines 36-43); on 2f+1 prevotes for nil it precommits nil (lines 44-46).
//! - 2f+1 precommits for a block decide it (lines 49-54): the commit certificate is made of those
//!   precommits. Otherwise, after timeouts, the next round starts (lines 57-67).
//! - A locked validator only prevotes for another block when the proposal carries a newer
//!   polka (`pol_round`, lines 28-33): this is what keeps two rounds from deciding two blocks.
//! - f+1 messages from a later round make a validator skip to it (line 55), so rounds catch up.
//!
//! Safety holds with up to f Byzantine validators and any message delays; liveness once messages
//! arrive within the (growing) round timeouts.
//!
//! Consortia's additions, outside the paper:
//! - `valid(v)` is the driver's re-execution of the block ([`Output::Validate`]): a validator
//!   prevotes only for a block whose roots it reproduced (DESIGN.md step 4).
//! - An idle chain does not spin rounds: round 0 of a height starts its timers only once
//!   transactions wait, a message for the height arrives, or the empty-block interval passes
//!   (height 1 starts at once: a new chain's first block shows its validators agree).
//!   The proposer of round 0 also waits out `block_interval_ms` after the last decision, so blocks
//!   batch transactions under load. Later rounds start at once, as in the paper.
//! - Every message this validator signs is handed to the driver to persist before it is sent
//!   ([`Output::Persist`]); a restarted engine reads them back ([`Bft::new`]'s `wal`) and never
//!   signs a second, different message for one height, round and step. The lock is set exactly
//!   when a non-nil precommit is signed (lines 38-40), so the latest own non-nil precommit *is*
//!   the lock; the 2f+1 prevotes that justified it are persisted just before it, and the driver
//!   persists the locked block with it, so a restarted validator can still re-propose its locked
//!   block with its proof (otherwise two validators locked on a block nobody else kept could
//!   stall the chain forever).
//! - Messages are re-sent every `timeout_propose_ms`, since links may lose them; a validator that
//!   fell a height behind catches up by block sync in the driver ([`Input::Synced`]).

use std::collections::{BTreeMap, BTreeSet};

use consortia_crypto::{Hash, HashAlgorithm, PrivateKey};
use consortia_types::{ChainParams, CommitCertificate, Header, Height, Validator, Vote, VoteKind};

use crate::message::{Message, Proposal, SignedProposal, SignedVote};
use crate::{Engine, Input, Output};

/// Votes for rounds further ahead than this are dropped, so a Byzantine peer cannot make a
/// validator store votes for millions of rounds.
const MAX_ROUNDS_AHEAD: u32 = 64;
/// Distinct proposals kept per round (more than one only from an equivocating proposer).
const MAX_PROPOSALS_PER_ROUND: usize = 4;
/// Messages for the next height kept until this validator gets there, per validator.
const MAX_FUTURE_PER_VALIDATOR: usize = 16;

/// What a BFT engine is configured with: the chain (from genesis) and this node's key.
#[derive(Clone, Debug)]
pub struct BftConfig {
    pub chain_id: u64,
    pub hash: HashAlgorithm,
    /// The validator set of the height the engine starts at (later heights' sets come as
    /// [`Input::Validators`]).
    pub validators: Vec<Validator>,
    pub params: ChainParams,
    /// `None` for an observer: it follows the votes but never signs.
    pub key: Option<PrivateKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Propose,
    Prevote,
    Precommit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimeoutKind {
    /// Lines 57-60.
    Propose,
    /// Lines 61-64.
    Prevote,
    /// Lines 65-67.
    Precommit,
    /// The round-0 proposer's batching window has passed: build the block.
    Cut,
    /// The empty-block interval passed: start the height even with nothing to do.
    Activate,
    /// Re-send this validator's messages of the current round.
    Rebroadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timeout {
    at_ms: u64,
    kind: TimeoutKind,
    round: u32,
}

/// Distinct votes kept per validator and step: more than one only from an equivocator.
const MAX_VOTES_PER_VALIDATOR: usize = 2;

/// The votes of one (round, step), with the power behind each value.
///
/// An equivocating validator's second vote is kept too (and reported): a proof-of-lock relayed
/// with a re-proposal (line 28) may contain the vote this validator did not see first, and
/// refusing it would leave that proof uncountable here forever. Counting a Byzantine validator
/// toward two values is safe: the algorithm's quorum arguments already allow f validators to
/// vote for anything. `total` counts each validator once.
#[derive(Debug, Default)]
struct VoteSet {
    votes: BTreeMap<u32, Vec<SignedVote>>,
    power: BTreeMap<Option<Hash>, u128>,
    total: u128,
}

/// What adding a vote did.
#[derive(Debug, PartialEq, Eq)]
enum Added {
    New,
    Known,
    /// A second, different vote of the same validator for the same step.
    Equivocation,
}

impl VoteSet {
    fn add(&mut self, vote: SignedVote, power: u128) -> Added {
        let seen = self.votes.entry(vote.validator).or_default();
        if seen.iter().any(|v| v.vote == vote.vote) {
            return Added::Known;
        }
        if seen.len() >= MAX_VOTES_PER_VALIDATOR {
            return Added::Equivocation;
        }
        if seen.is_empty() {
            self.total += power;
        }
        *self.power.entry(vote.vote.block_hash).or_default() += power;
        let equivocation = !seen.is_empty();
        seen.push(vote);
        if equivocation { Added::Equivocation } else { Added::New }
    }

    /// The votes for `value`, one per validator.
    fn for_value(&self, value: Option<Hash>) -> impl Iterator<Item = &SignedVote> {
        self.votes.values().filter_map(move |vs| vs.iter().find(|v| v.vote.block_hash == value))
    }
}

/// The Tendermint engine for one validator (or observer). See the module docs.
#[derive(Debug)]
pub struct Bft {
    config: BftConfig,
    /// This height's validator set, its total power and this node's index in it.
    validators: Vec<Validator>,
    total_power: u128,
    me: Option<u32>,
    /// Sets of later heights, as the driver learned them.
    upcoming: BTreeMap<Height, Vec<Validator>>,
    now_ms: u64,
    height: Height,
    round: u32,
    step: Step,
    /// lockedRound / lockedValue (lines 38-39).
    locked: Option<(u32, Hash)>,
    /// validRound / validValue (lines 41-42).
    valid: Option<(u32, Hash)>,
    /// Proposals of the current height from each round's proposer, in arrival order.
    proposals: BTreeMap<u32, Vec<SignedProposal>>,
    votes: BTreeMap<(u32, VoteKind), VoteSet>,
    /// valid(v) as the driver answered it, by block hash.
    validity: BTreeMap<Hash, bool>,
    validating: BTreeSet<Hash>,
    /// What this validator signed at this height (the WAL's content).
    own: Vec<Message>,
    /// Messages for the next height, replayed when this validator gets there.
    future: Vec<Message>,
    timeouts: BTreeSet<Timeout>,
    /// Lines 34, 36 and 47 act "for the first time" in a round: the round they last acted in.
    polka_any_round: Option<u32>,
    polka_value_round: Option<u32>,
    precommit_any_round: Option<u32>,
    /// Round 0 of this height has started (see the module docs on idle chains).
    active: bool,
    /// The round for which a proposal is being built.
    building: Option<u32>,
    pending: usize,
    last_commit_ms: u64,
}

impl Bft {
    /// An engine deciding `next_height` (one past the last committed block). `wal` is what this
    /// validator persisted before a restart (entries of other heights are ignored).
    pub fn new(config: BftConfig, next_height: Height, now_ms: u64, wal: Vec<Message>) -> Self {
        let mut engine = Bft {
            validators: vec![],
            total_power: 0,
            me: None,
            upcoming: BTreeMap::new(),
            config,
            now_ms,
            height: next_height,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            validity: BTreeMap::new(),
            validating: BTreeSet::new(),
            own: vec![],
            future: vec![],
            timeouts: BTreeSet::new(),
            polka_any_round: None,
            polka_value_round: None,
            precommit_any_round: None,
            active: false,
            building: None,
            pending: 0,
            last_commit_ms: now_ms,
        };
        engine.install(engine.config.validators.clone());
        engine.restore(wal);
        engine.schedule(TimeoutKind::Rebroadcast, 0, engine.config.params.timeout_propose_ms);
        if next_height == 1 {
            // A new chain decides its first block at once, idle or not: that block shows the
            // validators found each other and agree.
            engine.schedule(TimeoutKind::Activate, 0, 0);
        }
        engine
    }

    /// Rebuilds round, step, lock and the lock's proof from the WAL: this validator's own
    /// signed messages, and the prevotes that justified its lock.
    fn restore(&mut self, wal: Vec<Message>) {
        let entries: Vec<Message> = wal.into_iter().filter(|m| m.height() == self.height).collect();
        for message in entries {
            let own = match &message {
                Message::Proposal(p) => {
                    self.insert_proposal(p.clone());
                    Some(self.proposer(self.height, p.proposal.round)) == self.me
                }
                Message::Vote(v) => {
                    let power = self.power_of(v.validator);
                    self.votes
                        .entry((v.vote.round, v.vote.kind))
                        .or_default()
                        .add(v.clone(), power);
                    Some(v.validator) == self.me
                }
                Message::Raft(_) => false, // not written on a BFT chain
            };
            if own {
                self.own.push(message);
            }
        }
        let Some(round) = self.own.iter().map(Message::round).max() else { return };
        self.round = round;
        self.active = true;
        for message in &self.own {
            let Message::Vote(v) = message else { continue };
            if v.vote.round == round {
                let step = match v.vote.kind {
                    VoteKind::Prevote => Step::Prevote,
                    VoteKind::Precommit => Step::Precommit,
                };
                self.step = self.step.max(step);
            }
            if let (VoteKind::Precommit, Some(value)) = (v.vote.kind, v.vote.block_hash)
                && self.locked.is_none_or(|(r, _)| r < v.vote.round)
            {
                self.locked = Some((v.vote.round, value));
            }
        }
        // The locked value was also the valid value when it was locked (lines 38-42); keeping
        // it lets this validator re-propose it, with its proof, when its turn comes.
        self.valid = self.locked;
        if self.step == Step::Propose {
            self.schedule(TimeoutKind::Propose, round, self.timeout_propose(round));
        }
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    fn timeout_propose(&self, round: u32) -> u64 {
        let p = &self.config.params;
        p.timeout_propose_ms + u64::from(round) * p.timeout_delta_ms
    }

    fn timeout_vote(&self, round: u32) -> u64 {
        let p = &self.config.params;
        p.timeout_vote_ms + u64::from(round) * p.timeout_delta_ms
    }

    fn schedule(&mut self, kind: TimeoutKind, round: u32, after_ms: u64) {
        self.timeouts.insert(Timeout { at_ms: self.now_ms + after_ms, kind, round });
    }

    /// Makes `validators` this height's set: quorums, proposer rotation and this node's
    /// index follow it (a validator removed from the set stops voting; one added starts).
    fn install(&mut self, validators: Vec<Validator>) {
        self.total_power = validators.iter().map(|v| u128::from(v.power)).sum();
        let public = self.config.key.as_ref().map(PrivateKey::public_key);
        self.me = public
            .and_then(|p| validators.iter().position(|v| v.public_key == p))
            .map(|i| i as u32);
        self.validators = validators;
    }

    /// The set of `height`: this height's, or a later one's if the driver told it.
    fn set_of(&self, height: Height) -> &[Validator] {
        match self.upcoming.get(&height) {
            Some(set) if height != self.height => set,
            _ => &self.validators,
        }
    }

    fn power_of(&self, validator: u32) -> u128 {
        self.validators.get(validator as usize).map_or(0, |v| u128::from(v.power))
    }

    fn is_quorum(&self, power: u128) -> bool {
        power * 3 > self.total_power * 2
    }

    /// proposer(h, r): weighted round robin over the validator set of height h.
    pub fn proposer(&self, height: Height, round: u32) -> u32 {
        let set = self.set_of(height);
        let total: u128 = set.iter().map(|v| u128::from(v.power)).sum();
        let slot = (u128::from(height) + u128::from(round)) % total.max(1);
        let mut acc = 0u128;
        for (i, v) in set.iter().enumerate() {
            acc += u128::from(v.power);
            if slot < acc {
                return i as u32;
            }
        }
        0
    }

    fn am_proposer(&self) -> bool {
        self.me == Some(self.proposer(self.height, self.round))
    }

    fn insert_proposal(&mut self, p: SignedProposal) {
        let round = self.proposals.entry(p.proposal.round).or_default();
        if round.len() < MAX_PROPOSALS_PER_ROUND && !round.contains(&p) {
            round.push(p);
        }
    }

    fn proposal_for(&self, round: u32, value: Hash) -> Option<&SignedProposal> {
        self.proposals.get(&round)?.iter().find(|p| p.proposal.block_hash == value)
    }

    fn power_for(&self, round: u32, kind: VoteKind, value: Option<Hash>) -> u128 {
        self.votes.get(&(round, kind)).and_then(|s| s.power.get(&value).copied()).unwrap_or(0)
    }

    fn total_for(&self, round: u32, kind: VoteKind) -> u128 {
        self.votes.get(&(round, kind)).map_or(0, |s| s.total)
    }

    /// The value with 2f+1 votes of this kind in `round`, if any.
    fn quorum_value(&self, round: u32, kind: VoteKind) -> Option<Hash> {
        let set = self.votes.get(&(round, kind))?;
        set.power.iter().find_map(|(value, power)| match value {
            Some(v) if self.is_quorum(*power) => Some(*v),
            _ => None,
        })
    }

    /// valid(v): `Some` once the driver answered; asks it (once) otherwise.
    fn check_valid(&mut self, value: Hash, out: &mut Vec<Output>) -> Option<bool> {
        if let Some(valid) = self.validity.get(&value) {
            return Some(*valid);
        }
        if self.validating.insert(value) {
            out.push(Output::Validate { height: self.height, block_hash: value });
        }
        None
    }

    fn sign_and_send(&mut self, message: Message, out: &mut Vec<Output>) {
        self.own.push(message.clone());
        out.push(Output::Persist(message.clone()));
        out.push(Output::Broadcast(message));
    }

    /// Signs and sends this validator's vote for the current round, unless it already voted in
    /// this step (after a restart, the WAL says so).
    fn vote(&mut self, kind: VoteKind, value: Option<Hash>, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        let round = self.round;
        let already = self
            .own
            .iter()
            .any(|m| matches!(m, Message::Vote(v) if v.vote.round == round && v.vote.kind == kind));
        if already {
            return;
        }
        let vote = Vote {
            chain_id: self.config.chain_id,
            height: self.height,
            round,
            kind,
            block_hash: value,
        };
        let Some(key) = &self.config.key else { return };
        let signed = SignedVote::new(vote, me, key);
        let power = self.power_of(me);
        self.votes.entry((round, kind)).or_default().add(signed.clone(), power);
        self.sign_and_send(Message::Vote(signed), out);
    }

    /// StartRound (lines 11-21).
    fn start_round(&mut self, round: u32, out: &mut Vec<Output>) {
        self.round = round;
        self.step = Step::Propose;
        self.building = None;
        self.timeouts.retain(|t| t.round >= round || t.kind == TimeoutKind::Rebroadcast);
        if self.active || round > 0 {
            self.propose_or_wait(out);
        }
    }

    /// The proposer proposes (lines 14-19); everyone arms the propose timeout (line 21; the
    /// proposer too, in case its block cannot be built).
    fn propose_or_wait(&mut self, out: &mut Vec<Output>) {
        let round = self.round;
        self.schedule(TimeoutKind::Propose, round, self.timeout_propose(round));
        if !self.am_proposer() {
            return;
        }
        if self.proposed(round) {
            return;
        }
        if let Some((valid_round, value)) = self.valid {
            // Line 15: re-propose the block that had a polka, with that round as its proof.
            let proposal = Proposal {
                chain_id: self.config.chain_id,
                height: self.height,
                round,
                block_hash: value,
                pol_round: Some(valid_round),
            };
            self.send_proposal(proposal, out);
        } else if round > 0 || self.pending >= self.config.params.max_block_txs as usize {
            self.build(out);
        } else {
            // Round 0: let transactions batch until the block interval has passed.
            let due = self.last_commit_ms + self.config.params.block_interval_ms;
            if self.now_ms >= due {
                self.build(out);
            } else {
                self.timeouts.insert(Timeout { at_ms: due, kind: TimeoutKind::Cut, round });
            }
        }
    }

    fn proposed(&self, round: u32) -> bool {
        self.own.iter().any(|m| matches!(m, Message::Proposal(p) if p.proposal.round == round))
    }

    fn build(&mut self, out: &mut Vec<Output>) {
        if self.building.is_none() {
            self.building = Some(self.round);
            out.push(Output::BuildProposal { height: self.height });
        }
    }

    fn send_proposal(&mut self, proposal: Proposal, out: &mut Vec<Output>) {
        let Some(key) = &self.config.key else { return };
        let signed = proposal.sign(key);
        self.insert_proposal(signed.clone());
        self.sign_and_send(Message::Proposal(signed.clone()), out);
        self.relay_proof_of_lock(&signed, out);
    }

    /// A re-proposal (line 16) is only accepted with the 2f+1 prevotes of its `pol_round`
    /// (line 28); peers that missed them then would never accept it, so they travel with it.
    fn relay_proof_of_lock(&self, proposal: &SignedProposal, out: &mut Vec<Output>) {
        let Some(vr) = proposal.proposal.pol_round else { return };
        let Some(set) = self.votes.get(&(vr, VoteKind::Prevote)) else { return };
        for vote in set.for_value(Some(proposal.proposal.block_hash)) {
            out.push(Output::Broadcast(Message::Vote(vote.clone())));
        }
    }

    /// Starts round 0's timers (see the module docs on idle chains).
    fn activate(&mut self, out: &mut Vec<Output>) {
        if !self.active {
            self.active = true;
            if self.round == 0 && self.step == Step::Propose {
                self.propose_or_wait(out);
            }
        }
    }

    fn enter_height(&mut self, height: Height, out: &mut Vec<Output>) {
        self.height = height;
        if let Some(set) = self.upcoming.remove(&height) {
            self.install(set);
        }
        self.upcoming = self.upcoming.split_off(&height);
        self.round = 0;
        self.step = Step::Propose;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.votes.clear();
        self.validity.clear();
        self.validating.clear();
        self.own.clear();
        self.timeouts.retain(|t| t.kind == TimeoutKind::Rebroadcast);
        self.polka_any_round = None;
        self.polka_value_round = None;
        self.precommit_any_round = None;
        self.active = false;
        self.building = None;
        // The driver reports what still waits after every decision.
        self.pending = 0;
        self.last_commit_ms = self.now_ms;
        if self.config.params.empty_block_interval_ms > 0 {
            let after = self.config.params.empty_block_interval_ms;
            self.schedule(TimeoutKind::Activate, 0, after);
        }
        self.start_round(0, out);
        let future = std::mem::take(&mut self.future);
        for message in future {
            self.receive(message, out);
        }
    }

    /// Who signed a message (a proposal is signed by its round's proposer).
    fn sender(&self, message: &Message) -> u32 {
        match message {
            Message::Proposal(p) => self.proposer(p.proposal.height, p.proposal.round),
            Message::Vote(v) => v.validator,
            Message::Raft(r) => r.message.from,
        }
    }

    /// Checks a peer's message and records it.
    fn receive(&mut self, message: Message, out: &mut Vec<Output>) {
        if message.chain_id() != self.config.chain_id {
            out.push(Output::Invalid {
                reason: format!("message for chain {}", message.chain_id()),
            });
            return;
        }
        if matches!(message, Message::Raft(_)) {
            out.push(Output::Invalid { reason: "a Raft message on a BFT chain".into() });
            return;
        }
        let height = message.height();
        if height == self.height + 1 {
            let sender = self.sender(&message);
            let count = self.future.iter().filter(|m| self.sender(m) == sender).count();
            if count < MAX_FUTURE_PER_VALIDATOR && !self.future.contains(&message) {
                self.future.push(message);
            }
            return;
        }
        if height != self.height || message.round() > self.round.saturating_add(MAX_ROUNDS_AHEAD) {
            return; // stale, or too far ahead to matter yet
        }
        match message {
            Message::Raft(_) => return, // refused above
            Message::Proposal(p) => {
                let proposer = self.proposer(p.proposal.height, p.proposal.round);
                if Some(proposer) == self.me {
                    return; // our own, echoed back
                }
                let Some(signer) = self.validators.get(proposer as usize) else { return };
                if !p.verify(&signer.public_key) {
                    out.push(Output::Invalid {
                        reason: format!(
                            "proposal for height {} round {} not signed by its proposer",
                            p.proposal.height, p.proposal.round
                        ),
                    });
                    return;
                }
                if p.proposal.pol_round.is_some_and(|vr| vr >= p.proposal.round) {
                    out.push(Output::Invalid {
                        reason: "proposal with a future proof-of-lock round".into(),
                    });
                    return;
                }
                let value = p.proposal.block_hash;
                self.insert_proposal(p);
                // Ask again even if asked before: the driver could not answer without the block,
                // which came with this message.
                if !self.validity.contains_key(&value) {
                    self.validating.insert(value);
                    out.push(Output::Validate { height: self.height, block_hash: value });
                }
            }
            Message::Vote(v) => {
                if Some(v.validator) == self.me {
                    return;
                }
                let Some(validator) = self.validators.get(v.validator as usize) else {
                    out.push(Output::Invalid {
                        reason: format!("vote from unknown validator {}", v.validator),
                    });
                    return;
                };
                if !v.verify(&validator.public_key) {
                    out.push(Output::Invalid {
                        reason: format!("vote of validator {} with a bad signature", v.validator),
                    });
                    return;
                }
                let power = u128::from(validator.power);
                let (round, kind, who) = (v.vote.round, v.vote.kind, v.validator);
                if self.votes.entry((round, kind)).or_default().add(v, power) == Added::Equivocation
                {
                    let height = self.height;
                    out.push(Output::Equivocation { validator: who, height, round, kind });
                }
            }
        }
        self.activate(out);
    }

    /// Applies the algorithm's "upon" rules until none fires.
    fn process(&mut self, out: &mut Vec<Output>) {
        loop {
            let fired = self.rule_decide(out)
                || self.rule_skip_round(out)
                || self.rule_prevote(out)
                || self.rule_polka_value(out)
                || self.rule_polka_any(out)
                || self.rule_polka_nil(out)
                || self.rule_precommit_any(out);
            if !fired {
                break;
            }
        }
    }

    /// Lines 49-54: a proposal and 2f+1 precommits for it, in any round, decide it.
    fn rule_decide(&mut self, out: &mut Vec<Output>) -> bool {
        let rounds: Vec<u32> = self
            .votes
            .keys()
            .filter(|(_, kind)| *kind == VoteKind::Precommit)
            .map(|(round, _)| *round)
            .collect();
        for round in rounds {
            let Some(value) = self.quorum_value(round, VoteKind::Precommit) else { continue };
            if self.proposal_for(round, value).is_none() {
                continue; // without the block, block sync will bring it
            }
            if self.check_valid(value, out) != Some(true) {
                continue;
            }
            let signatures = self.votes[&(round, VoteKind::Precommit)]
                .for_value(Some(value))
                .map(|v| (v.validator, v.signature.clone()))
                .collect();
            out.push(Output::Commit {
                height: self.height,
                block_hash: value,
                certificate: CommitCertificate { round, signatures },
            });
            self.enter_height(self.height + 1, out);
            return true;
        }
        false
    }

    /// Line 55: f+1 of the power sent messages of a later round: skip to it.
    fn rule_skip_round(&mut self, out: &mut Vec<Output>) -> bool {
        let mut senders: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for ((round, _), set) in self.votes.range((self.round + 1, VoteKind::Prevote)..) {
            senders.entry(*round).or_default().extend(set.votes.keys());
        }
        for round in self.proposals.range(self.round + 1..).map(|(r, _)| *r) {
            let proposer = self.proposer(self.height, round);
            senders.entry(round).or_default().insert(proposer);
        }
        let skip_to = senders.iter().rev().find_map(|(round, who)| {
            let power: u128 = who.iter().map(|v| self.power_of(*v)).sum();
            (power * 3 > self.total_power).then_some(*round)
        });
        match skip_to {
            Some(round) => {
                self.start_round(round, out);
                true
            }
            None => false,
        }
    }

    /// Lines 22-33: in the propose step, prevote on the round's proposal.
    fn rule_prevote(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let round = self.round;
        let candidates: Vec<(Hash, Option<u32>)> = self
            .proposals
            .get(&round)
            .map(|ps| ps.iter().map(|p| (p.proposal.block_hash, p.proposal.pol_round)).collect())
            .unwrap_or_default();
        for (value, pol_round) in candidates {
            let acceptable = match pol_round {
                // Line 22: a fresh proposal; line 23: not locked, or locked on it.
                None => self.locked.is_none_or(|(_, locked)| locked == value),
                // Line 28: a re-proposal backed by 2f+1 prevotes in round vr < round.
                Some(vr) => {
                    if !self.is_quorum(self.power_for(vr, VoteKind::Prevote, Some(value))) {
                        continue; // not yet: the polka may still arrive
                    }
                    // Line 29: lockedRound <= vr or lockedValue = v.
                    self.locked.is_none_or(|(lr, locked)| lr <= vr || locked == value)
                }
            };
            let Some(valid) = self.check_valid(value, out) else { continue };
            let prevote = (valid && acceptable).then_some(value);
            self.vote(VoteKind::Prevote, prevote, out);
            self.step = Step::Prevote;
            return true;
        }
        false
    }

    /// Lines 36-43: a valid proposal with 2f+1 prevotes in this round: lock and precommit it
    /// (in the prevote step), and remember it as the valid value.
    fn rule_polka_value(&mut self, out: &mut Vec<Output>) -> bool {
        let round = self.round;
        if self.step < Step::Prevote || self.polka_value_round == Some(round) {
            return false;
        }
        let Some(value) = self.quorum_value(round, VoteKind::Prevote) else { return false };
        if self.proposal_for(round, value).is_none() || self.check_valid(value, out) != Some(true) {
            return false;
        }
        self.polka_value_round = Some(round);
        if self.step == Step::Prevote {
            // The lock's proof goes to the WAL with it: after a restart this validator may have
            // to re-propose the block, and peers accept that only with the proof (line 28).
            for prevote in self.votes[&(round, VoteKind::Prevote)].for_value(Some(value)) {
                if Some(prevote.validator) != self.me {
                    out.push(Output::Persist(Message::Vote(prevote.clone())));
                }
            }
            self.locked = Some((round, value));
            self.vote(VoteKind::Precommit, Some(value), out);
            self.step = Step::Precommit;
        }
        self.valid = Some((round, value));
        true
    }

    /// Lines 34-35: 2f+1 prevotes for anything: arm the prevote timeout.
    fn rule_polka_any(&mut self, _out: &mut Vec<Output>) -> bool {
        let round = self.round;
        if self.step != Step::Prevote
            || self.polka_any_round == Some(round)
            || !self.is_quorum(self.total_for(round, VoteKind::Prevote))
        {
            return false;
        }
        self.polka_any_round = Some(round);
        self.schedule(TimeoutKind::Prevote, round, self.timeout_vote(round));
        true
    }

    /// Lines 44-46: 2f+1 prevotes for nil: precommit nil.
    fn rule_polka_nil(&mut self, out: &mut Vec<Output>) -> bool {
        let round = self.round;
        if self.step != Step::Prevote
            || !self.is_quorum(self.power_for(round, VoteKind::Prevote, None))
        {
            return false;
        }
        self.vote(VoteKind::Precommit, None, out);
        self.step = Step::Precommit;
        true
    }

    /// Lines 47-48: 2f+1 precommits for anything: arm the precommit timeout.
    fn rule_precommit_any(&mut self, _out: &mut Vec<Output>) -> bool {
        let round = self.round;
        if self.precommit_any_round == Some(round)
            || !self.is_quorum(self.total_for(round, VoteKind::Precommit))
        {
            return false;
        }
        self.precommit_any_round = Some(round);
        self.schedule(TimeoutKind::Precommit, round, self.timeout_vote(round));
        true
    }

    fn fire_timeouts(&mut self, out: &mut Vec<Output>) {
        while let Some(t) = self.timeouts.first().copied() {
            if t.at_ms > self.now_ms {
                break;
            }
            self.timeouts.remove(&t);
            let current = t.round == self.round;
            match t.kind {
                // Lines 57-60.
                TimeoutKind::Propose if current && self.step == Step::Propose => {
                    self.vote(VoteKind::Prevote, None, out);
                    self.step = Step::Prevote;
                }
                // Lines 61-64.
                TimeoutKind::Prevote if current && self.step == Step::Prevote => {
                    self.vote(VoteKind::Precommit, None, out);
                    self.step = Step::Precommit;
                }
                // Lines 65-67.
                TimeoutKind::Precommit if current => self.start_round(t.round + 1, out),
                TimeoutKind::Cut if current && self.step == Step::Propose => self.build(out),
                TimeoutKind::Activate => self.activate(out),
                TimeoutKind::Rebroadcast => {
                    // Everything signed at this height, not only this round's: a peer still in
                    // an earlier round may need this validator's votes of that round to end it
                    // (lines 34-48) or to decide by it (line 49). A handful of messages per round.
                    for message in &self.own {
                        out.push(Output::Broadcast(message.clone()));
                        if let Message::Proposal(p) = message {
                            self.relay_proof_of_lock(p, out);
                        }
                    }
                    self.schedule(
                        TimeoutKind::Rebroadcast,
                        0,
                        self.config.params.timeout_propose_ms,
                    );
                }
                _ => {}
            }
            self.process(out);
        }
    }

    fn proposal_built(&mut self, header: Header, out: &mut Vec<Output>) {
        let Some(round) = self.building.take() else { return };
        if header.height != self.height || round != self.round || self.step != Step::Propose {
            return; // the round moved on while the block was built
        }
        let value = header.hash(self.config.hash);
        self.validity.insert(value, true);
        let proposal = Proposal {
            chain_id: self.config.chain_id,
            height: self.height,
            round,
            block_hash: value,
            pol_round: None,
        };
        self.send_proposal(proposal, out);
    }
}

impl Engine for Bft {
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
                if count > 0 {
                    self.activate(&mut out);
                }
                // A full block need not wait out the batching window.
                let full = count >= self.config.params.max_block_txs as usize;
                let round_zero = self.active && self.round == 0 && self.step == Step::Propose;
                if full && round_zero && self.am_proposer() && !self.proposed(0) {
                    self.build(&mut out);
                }
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
            }
            Input::Synced { height, .. } => {
                if height >= self.height {
                    self.enter_height(height + 1, &mut out);
                }
            }
            Input::Params { params, .. } => {
                self.config.params =
                    ChainParams { consensus: self.config.params.consensus, ..params };
            }
            Input::Validators { height, validators, .. } => {
                if height > self.height {
                    // A change is coming: decide the heights up to it at once, idle or not, so
                    // it takes effect now rather than with the next transaction (a removed
                    // validator is needed until then; a joiner waits to sign).
                    if validators != self.validators {
                        self.activate(&mut out);
                    }
                    self.upcoming.insert(height, validators);
                }
            }
        }
        self.process(&mut out);
        self.fire_timeouts(&mut out);
        if let Some(next) = self.timeouts.first() {
            out.push(Output::WakeAt { at_ms: next.at_ms });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{Address, Scheme};

    use super::*;

    fn keys(n: usize) -> Vec<PrivateKey> {
        (0..n).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect()
    }

    fn engine(keys: &[PrivateKey], me: usize, powers: &[u64], wal: Vec<Message>) -> Bft {
        engine_at(1, keys, me, powers, wal)
    }

    fn engine_at(
        height: Height,
        keys: &[PrivateKey],
        me: usize,
        powers: &[u64],
        wal: Vec<Message>,
    ) -> Bft {
        let validators = keys
            .iter()
            .zip(powers)
            .map(|(k, p)| Validator { name: String::new(), public_key: k.public_key(), power: *p })
            .collect();
        let config = BftConfig {
            chain_id: 9,
            hash: HashAlgorithm::Sha256,
            validators,
            params: ChainParams {
                consensus: consortia_types::ConsensusKind::Bft,
                ..Default::default()
            },
            key: Some(keys[me].clone()),
        };
        Bft::new(config, height, 1_000, wal)
    }

    fn header(proposer: Address) -> Header {
        Header {
            chain_id: 9,
            height: 1,
            parent_hash: Hash::ZERO,
            time_ms: 1,
            proposer,
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        }
    }

    fn signed(outputs: &[Output]) -> Vec<Message> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Persist(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn proposers_rotate_in_proportion_to_power() {
        let keys = keys(3);
        let e = engine(&keys, 0, &[1, 2, 1], vec![]);
        let turns: Vec<u32> = (0..8).map(|h| e.proposer(h, 0)).collect();
        assert_eq!(turns, vec![0, 1, 1, 2, 0, 1, 1, 2]);
        assert_eq!(e.proposer(3, 1), e.proposer(4, 0), "the next round moves to the next slot");
    }

    fn set(keys: &[PrivateKey]) -> Vec<Validator> {
        keys.iter()
            .map(|k| Validator { name: String::new(), public_key: k.public_key(), power: 1 })
            .collect()
    }

    /// An engine at height 2 for `me`, with `keys` as that height's set.
    fn engine_with(keys: &[PrivateKey], me: &PrivateKey) -> Bft {
        let config = BftConfig {
            chain_id: 9,
            hash: HashAlgorithm::Sha256,
            validators: set(keys),
            params: ChainParams::default(),
            key: Some(me.clone()),
        };
        Bft::new(config, 2, 1_000, vec![])
    }

    #[test]
    fn a_validator_added_to_the_set_signs_from_its_height_on() {
        let keys = keys(5);
        let mut e = engine_with(&keys[..4], &keys[4]);
        let out = e.handle(Input::TxsReady { count: 1, now_ms: 1_000 });
        let out = [out, e.handle(Input::Tick { now_ms: 100_000 })].concat();
        assert!(signed(&out).is_empty(), "not in the set of height 2: {out:?}");
        e.handle(Input::Validators { height: 3, validators: set(&keys), now_ms: 100_000 });
        e.handle(Input::Synced { height: 2, now_ms: 100_000 });
        e.handle(Input::TxsReady { count: 1, now_ms: 100_000 });
        let out = e.handle(Input::Tick { now_ms: 200_000 });
        let Some(Message::Vote(vote)) = signed(&out).first().cloned() else {
            panic!("the new validator signs at height 3: {out:?}");
        };
        assert_eq!((vote.vote.height, vote.validator), (3, 4));
    }

    #[test]
    fn a_validator_removed_from_the_set_stops_signing() {
        let keys = keys(5);
        let mut e = engine_with(&keys, &keys[0]);
        e.handle(Input::Validators { height: 3, validators: set(&keys[1..]), now_ms: 1_000 });
        e.handle(Input::Synced { height: 2, now_ms: 1_000 });
        let out = e.handle(Input::TxsReady { count: 1, now_ms: 1_000 });
        let out = [out, e.handle(Input::Tick { now_ms: 100_000 })].concat();
        assert!(signed(&out).is_empty(), "removed at height 3, it signs nothing: {out:?}");
    }

    #[test]
    fn a_coming_validator_set_change_starts_an_idle_height() {
        let keys = keys(5);
        // Validator 1 does not propose height 2; with nothing to do, it would wait.
        let mut e = engine_with(&keys[..4], &keys[1]);
        e.handle(Input::Validators { height: 4, validators: set(&keys), now_ms: 1_000 });
        let out = e.handle(Input::Tick { now_ms: 100_000 });
        assert!(!signed(&out).is_empty(), "the change makes it decide height 2 at once: {out:?}");
    }

    #[test]
    fn new_timeouts_from_governance_time_the_rounds_that_follow() {
        let keys = keys(4);
        // Validator 2 does not propose height 2, round 0: it waits out the propose timeout.
        let mut e = engine_at(2, &keys, 1, &[1; 4], vec![]);
        let params = ChainParams { timeout_propose_ms: 50_000, ..ChainParams::default() };
        e.handle(Input::Params { params, now_ms: 1_000 });
        e.handle(Input::TxsReady { count: 1, now_ms: 1_000 });
        let out = e.handle(Input::Tick { now_ms: 10_000 });
        assert!(signed(&out).is_empty(), "the default 1 s would have timed out: {out:?}");
        let out = e.handle(Input::Tick { now_ms: 51_000 });
        assert!(!signed(&out).is_empty(), "a nil prevote once the new timeout passed");
    }

    #[test]
    fn an_idle_chain_starts_no_round() {
        let keys = keys(4);
        // Validator 2 does not propose height 2, round 0.
        let mut e = engine_at(2, &keys, 1, &[1; 4], vec![]);
        let out = e.handle(Input::Tick { now_ms: 100_000 });
        assert!(signed(&out).is_empty(), "nothing to do, nothing signed: {out:?}");
        assert_eq!(e.round(), 0);
        // Transactions arrive: the round starts, and with no proposal it times out to a nil
        // prevote.
        e.handle(Input::TxsReady { count: 1, now_ms: 100_000 });
        let out = e.handle(Input::Tick { now_ms: 200_000 });
        let votes = signed(&out);
        assert!(
            matches!(&votes[0], Message::Vote(v) if v.vote.kind == VoteKind::Prevote && v.vote.block_hash.is_none())
        );
    }

    #[test]
    fn a_new_chain_proposes_its_first_block_at_once() {
        let keys = keys(4);
        let proposer = engine(&keys, 0, &[1; 4], vec![]).proposer(1, 0) as usize;
        let mut e = engine(&keys, proposer, &[1; 4], vec![]);
        // No transactions: it waits out the batching window (20 ms), then builds anyway.
        assert_eq!(e.handle(Input::Tick { now_ms: 1_000 }), vec![Output::WakeAt { at_ms: 1_020 }]);
        let out = e.handle(Input::Tick { now_ms: 1_020 });
        assert!(out.contains(&Output::BuildProposal { height: 1 }), "{out:?}");
    }

    #[test]
    fn a_restarted_validator_never_signs_a_second_vote_for_a_step() {
        let keys = keys(4);
        let mut first = engine(&keys, 2, &[1; 4], vec![]);
        first.handle(Input::TxsReady { count: 1, now_ms: 1_000 });
        let wal = signed(&first.handle(Input::Tick { now_ms: 10_000 })); // prevote nil
        assert_eq!(wal.len(), 1);
        // Restart from the WAL, then see a valid proposal for round 0: a fresh engine would
        // prevote for it; the restarted one already prevoted nil and stays silent.
        let mut restarted = engine(&keys, 2, &[1; 4], wal.clone());
        let proposer = restarted.proposer(1, 0) as usize;
        let block = header(keys[proposer].public_key().address());
        let hash = block.hash(HashAlgorithm::Sha256);
        let proposal =
            Proposal { chain_id: 9, height: 1, round: 0, block_hash: hash, pol_round: None }
                .sign(&keys[proposer]);
        restarted.handle(Input::Message { message: Message::Proposal(proposal), now_ms: 10_001 });
        let out =
            restarted.handle(Input::Validated { block_hash: hash, valid: true, now_ms: 10_002 });
        assert!(signed(&out).is_empty(), "signed again after restart: {out:?}");
        // It re-sends what it signed, unchanged.
        let out = restarted.handle(Input::Tick { now_ms: 12_000 });
        assert!(out.contains(&Output::Broadcast(wal[0].clone())));
    }

    #[test]
    fn forged_and_foreign_messages_are_reported() {
        let keys = keys(4);
        let mut e = engine(&keys, 0, &[1; 4], vec![]);
        let vote =
            Vote { chain_id: 9, height: 1, round: 0, kind: VoteKind::Prevote, block_hash: None };
        // Signed by validator 1, claimed as validator 2's.
        let forged = SignedVote::new(vote.clone(), 2, &keys[1]);
        let unknown = SignedVote::new(vote.clone(), 7, &keys[1]);
        let foreign = SignedVote::new(Vote { chain_id: 10, ..vote }, 1, &keys[1]);
        for v in [forged, unknown, foreign] {
            let out = e.handle(Input::Message { message: Message::Vote(v), now_ms: 1_000 });
            assert!(out.iter().any(|o| matches!(o, Output::Invalid { .. })), "{out:?}");
        }
    }
}
