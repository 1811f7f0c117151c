//! Compact blocks (protocol 2): a proposal carries its block's header and the hashes of its
//! transactions, which the validators already hold from gossip. A receiver fills the block
//! from its pool and asks the sender for the transactions it lacks; the proposal reaches the
//! engine once the block is whole. Peers speaking protocol 1 still get whole blocks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use consortia_consensus::Message;
use consortia_crypto::{Hash, HashAlgorithm};
use consortia_network::PeerId;
use consortia_types::{Block, Header, Transaction};

use crate::mempool::Mempool;

/// A proposal and the peer it came from.
pub(crate) type Proposed = (PeerId, Message);

/// A proposed block being put together from the pool and the sender's answer.
#[derive(Debug)]
pub(crate) struct Assembly {
    /// Who sent the latest proposal of it: the one asked for what is missing.
    pub(crate) from: PeerId,
    /// Every peer asked so far: an answer from any of them is taken.
    asked: BTreeSet<PeerId>,
    /// The proposals of this block (a locked block is proposed again in later rounds), each
    /// with its sender, handed to the engine once the block is whole.
    proposals: Vec<Proposed>,
    header: Header,
    hashes: Vec<Hash>,
    txs: Vec<Option<Arc<Transaction>>>,
}

impl Assembly {
    /// Starts putting a block together from the transactions `pool` holds. `tx_root` is the
    /// root the executor computes over transaction hashes: hashes that do not make the header's
    /// root are refused, so that a filled block is the block the proposal names.
    pub(crate) fn start(
        from: PeerId,
        message: Message,
        (header, hashes): (Header, Vec<Hash>),
        pool: &Mempool,
        tx_root: impl Fn(&[Hash]) -> Hash,
    ) -> Result<Assembly, String> {
        if hashes.len() != header.tx_count as usize || tx_root(&hashes) != header.tx_root {
            return Err("a compact block whose hashes do not match its header".into());
        }
        let txs = pool.transactions(&hashes);
        let proposals = vec![(from, message)];
        Ok(Assembly { from, asked: BTreeSet::new(), proposals, header, hashes, txs })
    }

    /// The positions of the transactions still missing.
    pub(crate) fn missing(&self) -> Vec<u32> {
        (0..self.txs.len() as u32).filter(|i| self.txs[*i as usize].is_none()).collect()
    }

    /// The positions still missing, to ask of [`Assembly::from`] (remembered as asked).
    pub(crate) fn ask(&mut self) -> Vec<u32> {
        self.asked.insert(self.from);
        self.missing()
    }

    /// Whether `peer` was asked for transactions of this block.
    pub(crate) fn was_asked(&self, peer: &PeerId) -> bool {
        self.asked.contains(peer)
    }

    /// Fills in an answer to [`Assembly::ask`]: each transaction must be one the block names
    /// (one filled in already is passed over: an answer to an earlier ask). An answer with a
    /// transaction the block does not name fills in nothing.
    pub(crate) fn fill(
        &mut self,
        txs: Vec<Transaction>,
        algo: HashAlgorithm,
    ) -> Result<(), String> {
        let mut wanted: HashMap<Hash, Vec<usize>> = HashMap::new();
        for position in self.missing().into_iter().rev() {
            wanted.entry(self.hashes[position as usize]).or_default().push(position as usize);
        }
        let named: HashSet<&Hash> = self.hashes.iter().collect();
        let mut found = Vec::with_capacity(txs.len());
        for tx in txs {
            let hash = tx.hash(algo);
            match wanted.get_mut(&hash).and_then(Vec::pop) {
                Some(position) => found.push((position, tx)),
                None if named.contains(&hash) => {}
                None => return Err(format!("transaction {hash} is not in the block")),
            }
        }
        for (position, tx) in found {
            self.txs[position] = Some(Arc::new(tx));
        }
        Ok(())
    }

    /// Another proposal of the same block, held until it is whole too; what is missing is
    /// asked of its sender from now on.
    pub(crate) fn also(&mut self, peer: PeerId, message: Message) {
        self.from = peer;
        self.proposals.push((peer, message));
    }

    /// The proposals held, for a block that came whole meanwhile.
    pub(crate) fn into_proposals(self) -> Vec<Proposed> {
        self.proposals
    }

    /// The block and its proposals, once every transaction is in.
    pub(crate) fn finish(self) -> Result<(Block, Vec<Proposed>), Box<Assembly>> {
        if self.txs.iter().any(Option::is_none) {
            return Err(Box::new(self));
        }
        let transactions = self.txs.into_iter().flatten().map(Arc::unwrap_or_clone).collect();
        let block = Block { header: self.header, transactions, certificate: None };
        Ok((block, self.proposals))
    }

    pub(crate) fn height(&self) -> u64 {
        self.header.height
    }
}

/// The transactions of `block` at `positions`, or `None` if one is out of range.
pub(crate) fn transactions_at(block: &Block, positions: &[u32]) -> Option<Vec<Transaction>> {
    positions.iter().map(|i| block.transactions.get(*i as usize).cloned()).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use consortia_consensus::Proposal;
    use consortia_crypto::Address;
    use consortia_execution::{Account, FeeRules};
    use consortia_test_utils::genesis::validator_key;
    use consortia_test_utils::tx;
    use consortia_types::{ChainParams, encode};

    use super::*;
    use crate::mempool::{AdmissionState, MempoolConfig};

    const ALGO: HashAlgorithm = HashAlgorithm::Sha256;
    const CHAIN: u64 = 5;

    struct Fresh;

    impl AdmissionState for Fresh {
        fn account(&self, _: &Address) -> Result<Account, String> {
            Ok(Account::default())
        }

        fn block_gas_limit(&self) -> Result<u64, String> {
            Ok(u64::MAX)
        }
    }

    fn root(hashes: &[Hash]) -> Hash {
        consortia_crypto::merkle_root(ALGO, hashes.iter().copied())
    }

    /// A block of `n` notarizations, and a pool holding those of them at `pooled`.
    fn block_and_pool(n: u64, pooled: &[u64]) -> (Block, Vec<Hash>, Mempool) {
        let key = validator_key(7);
        let txs: Vec<Transaction> =
            (0..n).map(|i| tx::notarize(&key, CHAIN, i, &format!("doc {i}"), b"x")).collect();
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash(ALGO)).collect();
        let header = Header {
            chain_id: CHAIN,
            height: 3,
            parent_hash: Hash::default(),
            time_ms: 1,
            proposer: Address::default(),
            tx_count: n as u32,
            tx_root: root(&hashes),
            state_root: Hash::default(),
            receipts_root: Hash::default(),
            next_validators_hash: Hash::default(),
        };
        let config =
            MempoolConfig { nonce_window: 1_000, gapped_ttl: Duration::ZERO, ..Default::default() };
        let pool = Mempool::new(CHAIN, ALGO, 4096, FeeRules::new(&ChainParams::default()), config);
        let raws: Vec<Vec<u8>> = pooled.iter().map(|i| encode(&txs[*i as usize])).collect();
        assert!(pool.admit_batch(&Fresh, &raws).iter().all(Result::is_ok));
        (Block { header, transactions: txs, certificate: None }, hashes, pool)
    }

    fn proposal(block: &Block) -> Message {
        let proposal = Proposal {
            chain_id: CHAIN,
            height: block.header.height,
            round: 0,
            block_hash: block.header.hash(ALGO),
            pol_round: None,
        };
        Message::Proposal(proposal.sign(&validator_key(0)))
    }

    fn start(block: &Block, hashes: Vec<Hash>, pool: &Mempool) -> Result<Assembly, String> {
        let parts = (block.header.clone(), hashes);
        Assembly::start(PeerId([1; 32]), proposal(block), parts, pool, root)
    }

    #[test]
    fn a_block_whose_transactions_are_all_pooled_is_whole_at_once() {
        let (block, hashes, pool) = block_and_pool(5, &[0, 1, 2, 3, 4]);
        let assembly = start(&block, hashes, &pool).unwrap();
        assert!(assembly.missing().is_empty());
        let (whole, proposals) = assembly.finish().unwrap();
        assert_eq!((whole, proposals), (block.clone(), vec![(PeerId([1; 32]), proposal(&block))]));
    }

    #[test]
    fn the_transactions_the_pool_lacks_are_asked_for_and_filled_in() {
        let (block, hashes, pool) = block_and_pool(6, &[0, 2, 3]);
        let assembly = start(&block, hashes, &pool).unwrap();
        let missing = assembly.missing();
        assert_eq!(missing, [1, 4, 5]);
        let mut assembly = *assembly.finish().unwrap_err();
        assembly.fill(transactions_at(&block, &missing).unwrap(), ALGO).unwrap();
        assert_eq!(assembly.finish().unwrap().0, block);
    }

    #[test]
    fn hashes_that_do_not_make_the_header_root_are_refused() {
        let (block, mut hashes, pool) = block_and_pool(3, &[]);
        hashes.swap(0, 1);
        assert!(start(&block, hashes.clone(), &pool).is_err());
        hashes.pop();
        assert!(start(&block, hashes, &pool).is_err());
    }

    #[test]
    fn an_answer_with_a_transaction_the_block_does_not_name_fills_in_nothing() {
        let (block, hashes, pool) = block_and_pool(3, &[1]);
        let (other, _, _) = block_and_pool(4, &[]);
        let mut assembly = start(&block, hashes, &pool).unwrap();
        let wrong = vec![block.transactions[0].clone(), other.transactions[3].clone()];
        assert!(assembly.fill(wrong, ALGO).is_err());
        assert_eq!(assembly.missing(), [0, 2]);
    }

    #[test]
    fn answers_fill_in_part_and_repeat_what_is_in_already() {
        let (block, hashes, pool) = block_and_pool(4, &[]);
        let mut assembly = start(&block, hashes, &pool).unwrap();
        assert_eq!(assembly.ask(), [0, 1, 2, 3]);
        assembly.fill(transactions_at(&block, &[2, 0]).unwrap(), ALGO).unwrap();
        assert_eq!(assembly.missing(), [1, 3]);
        assembly.fill(transactions_at(&block, &[0, 1, 2, 3]).unwrap(), ALGO).unwrap();
        assert_eq!(assembly.finish().unwrap().0, block);
    }

    #[test]
    fn positions_out_of_the_block_get_no_transactions() {
        let (block, _, _) = block_and_pool(2, &[]);
        assert!(transactions_at(&block, &[1, 2]).is_none());
        assert_eq!(transactions_at(&block, &[1]).unwrap(), vec![block.transactions[1].clone()]);
    }
}
