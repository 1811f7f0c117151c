use consortia_crypto::{HashAlgorithm, PrivateKey};
use consortia_types::{ChainParams, CommitCertificate, Height, Vote, VoteKind};

use crate::{Engine, Input, Output};

/// One validator deciding every block alone: for development and single-organization chains.
///
/// Policy: at most one block being built. While transactions wait, a block is cut as soon as it
/// would be full, or once `block_interval_ms` has passed since the previous cut (so batches grow
/// under load while an idle chain answers within one interval). With nothing waiting, an empty
/// block is cut every `empty_block_interval_ms` if that is not 0. Each block is committed with a
/// certificate holding the validator's own precommit signature, so certificates have one shape
/// whatever the engine.
#[derive(Debug)]
pub struct Solo {
    chain_id: u64,
    hash: HashAlgorithm,
    key: PrivateKey,
    params: ChainParams,
    /// The height being decided next.
    height: Height,
    in_flight: bool,
    pending: usize,
    last_cut_ms: u64,
}

impl Solo {
    /// `next_height` is one past the last committed block.
    pub fn new(
        chain_id: u64,
        hash: HashAlgorithm,
        key: PrivateKey,
        params: ChainParams,
        next_height: Height,
        now_ms: u64,
    ) -> Self {
        Solo {
            chain_id,
            hash,
            key,
            params,
            height: next_height,
            in_flight: false,
            pending: 0,
            last_cut_ms: now_ms,
        }
    }

    fn maybe_cut(&mut self, now_ms: u64) -> Vec<Output> {
        if self.in_flight {
            return vec![];
        }
        let due = if self.pending >= self.params.max_block_txs as usize {
            now_ms
        } else if self.pending > 0 {
            self.last_cut_ms + self.params.block_interval_ms
        } else if self.params.empty_block_interval_ms > 0 {
            self.last_cut_ms + self.params.empty_block_interval_ms
        } else {
            return vec![];
        };
        if now_ms < due {
            return vec![Output::WakeAt { at_ms: due }];
        }
        self.in_flight = true;
        self.last_cut_ms = now_ms;
        vec![Output::BuildProposal { height: self.height }]
    }
}

impl Engine for Solo {
    fn height(&self) -> Height {
        self.height
    }

    fn handle(&mut self, input: Input) -> Vec<Output> {
        match input {
            Input::Tick { now_ms } => self.maybe_cut(now_ms),
            Input::TxsReady { count, now_ms } => {
                self.pending = count;
                self.maybe_cut(now_ms)
            }
            // One validator: there are no peers, so nothing to hear from or catch up with.
            Input::Message { .. }
            | Input::Validated { .. }
            | Input::Synced { .. }
            | Input::Validators { .. } => vec![],
            Input::Params { params, now_ms } => {
                self.params = ChainParams { consensus: self.params.consensus, ..params };
                self.maybe_cut(now_ms)
            }
            Input::ProposalBuilt { header, now_ms } => {
                if !self.in_flight || header.height != self.height {
                    return vec![]; // not the proposal we asked for
                }
                let block_hash = header.hash(self.hash);
                let vote = Vote {
                    chain_id: self.chain_id,
                    height: self.height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block_hash: Some(block_hash),
                };
                let certificate =
                    CommitCertificate { round: 0, signatures: vec![(0, vote.sign(&self.key))] };
                let mut out = vec![Output::Commit { height: self.height, block_hash, certificate }];
                self.height += 1;
                self.in_flight = false;
                // Arrivals during the build were counted apart from what the block took, so no
                // estimate is kept: the driver reports what still waits after every decision.
                self.pending = 0;
                out.extend(self.maybe_cut(now_ms));
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use consortia_crypto::{Address, Hash, Scheme};
    use consortia_types::{ConsensusKind, Header, Validator};

    use super::*;

    fn solo(params: ChainParams) -> (Solo, PrivateKey) {
        let key = PrivateKey::generate(Scheme::Ed25519);
        (Solo::new(3, HashAlgorithm::Sha256, key.clone(), params, 1, 1_000), key)
    }

    fn header(height: Height) -> Header {
        Header {
            chain_id: 3,
            height,
            parent_hash: Hash::ZERO,
            time_ms: 0,
            proposer: Address::default(),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
        }
    }

    #[test]
    fn batches_within_the_interval_and_cuts_full_blocks_at_once() {
        let params = ChainParams { block_interval_ms: 50, max_block_txs: 10, ..Default::default() };
        let (mut s, _) = solo(params);
        // Idle: nothing to do, no empty blocks.
        assert_eq!(s.handle(Input::Tick { now_ms: 5_000 }), vec![]);
        // Waiting transactions past the interval: cut now.
        assert_eq!(
            s.handle(Input::TxsReady { count: 1, now_ms: 5_000 }),
            vec![Output::BuildProposal { height: 1 }]
        );
        // One block being built at a time.
        assert_eq!(s.handle(Input::TxsReady { count: 4, now_ms: 5_001 }), vec![]);
        // Decided: the engine moves on at once, without waiting for the disk, and waits for
        // the driver to say what still waits; the next cut waits for the interval, unless the
        // block would be full.
        let out = s.handle(Input::ProposalBuilt { header: header(1), now_ms: 5_002 });
        assert!(matches!(&out[..], [Output::Commit { height: 1, .. }]), "{out:?}");
        assert_eq!(s.height(), 2);
        assert_eq!(
            s.handle(Input::TxsReady { count: 3, now_ms: 5_003 }),
            vec![Output::WakeAt { at_ms: 5_050 }]
        );
        assert_eq!(
            s.handle(Input::TxsReady { count: 10, now_ms: 5_012 }),
            vec![Output::BuildProposal { height: 2 }]
        );
    }

    #[test]
    fn certificate_verifies_and_stale_inputs_are_ignored() {
        let (mut s, key) = solo(ChainParams::default());
        s.handle(Input::TxsReady { count: 1, now_ms: 10_000 });
        assert_eq!(s.handle(Input::ProposalBuilt { header: header(7), now_ms: 0 }), vec![]);
        let h = header(1);
        let out = s.handle(Input::ProposalBuilt { header: h.clone(), now_ms: 0 });
        let [Output::Commit { certificate, .. }, ..] = &out[..] else {
            panic!("expected a commit")
        };
        let validators =
            vec![Validator { name: "v".into(), public_key: key.public_key(), power: 1 }];
        certificate.verify(&h, HashAlgorithm::Sha256, &validators, ConsensusKind::Solo).unwrap();
        assert_eq!(s.height(), 2);
        // A proposal for a height already decided is ignored.
        assert_eq!(s.handle(Input::ProposalBuilt { header: h, now_ms: 0 }), vec![]);
    }

    #[test]
    fn heartbeat_cuts_empty_blocks_when_enabled() {
        let params = ChainParams { empty_block_interval_ms: 1_000, ..Default::default() };
        let (mut s, _) = solo(params);
        assert_eq!(s.handle(Input::Tick { now_ms: 1_500 }), vec![Output::WakeAt { at_ms: 2_000 }]);
        assert_eq!(
            s.handle(Input::Tick { now_ms: 2_000 }),
            vec![Output::BuildProposal { height: 1 }]
        );
    }
}
