//! EVM transactions through revm over a real store: creation, calls, storage, logs, reverts
//! with their reason, value transfers, gas limits, and Ethereum envelopes next to native ones.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_primitives::{TxKind, U256};
use common::{ctx, store};
use consortia_crypto::{Address, Hash, PrivateKey, Scheme, Suite};
use consortia_execution::test_utils::{ECHO_TOPIC, echo_runtime, init_code};
use consortia_execution::{Account, BlockOutcome, ExecutionError, Executor, slot_key};
use consortia_storage::{BlockWriter, RedbStore, StateReader};
use consortia_types::{
    Block, EthTx, EvmCall, Genesis, GenesisAccount, Header, Payload, ReceiptStatus, Transaction,
    TxBody,
};

fn native(
    key: &PrivateKey,
    nonce: u64,
    to: Option<Address>,
    value: u128,
    input: Vec<u8>,
) -> Transaction {
    Transaction::sign(
        TxBody {
            chain_id: 5,
            nonce,
            public_key: key.public_key(),
            payload: Payload::Evm(EvmCall { to, value, input, gas_limit: 300_000 }),
        },
        key,
    )
}

fn eth(key: &PrivateKey, nonce: u64, to: Address, value: u128, input: Vec<u8>) -> Transaction {
    let tx = alloy_consensus::TxEip1559 {
        chain_id: 5,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(alloy_primitives::Address::from(to.0)),
        value: U256::from(value),
        access_list: Default::default(),
        input: input.into(),
    };
    Transaction::Ethereum(EthTx::sign(tx, key).unwrap())
}

struct Chain {
    _dir: tempfile::TempDir,
    store: RedbStore,
    exec: Executor,
    height: u64,
}

impl Chain {
    fn new(g: &Genesis) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, g);
        Chain { _dir: dir, store, exec: Executor::new(g), height: 0 }
    }

    fn run(&mut self, txs: Vec<Transaction>) -> BlockOutcome {
        self.height += 1;
        let out = self.exec.execute_block(&self.store, ctx(self.height), &txs).unwrap();
        let prepared = self.store.prepare_state(self.height, out.changes.clone(), None).unwrap();
        let header = Header {
            chain_id: 5,
            height: self.height,
            parent_hash: Hash::ZERO,
            time_ms: self.height * 1000,
            proposer: Address::default(),
            tx_count: txs.len() as u32,
            tx_root: Hash::ZERO,
            state_root: prepared.root(),
            receipts_root: Hash::ZERO,
        };
        let block = Block { header, transactions: txs, certificate: None };
        self.store.commit_block(&block, &out.receipts, &prepared).unwrap();
        out
    }
}

fn genesis(funded: &[Address]) -> Genesis {
    let validator = PrivateKey::generate(Scheme::Ed25519).public_key();
    let mut g = Genesis::solo(5, "evm", Suite::Standard, validator, 0);
    g.accounts =
        funded.iter().map(|a| GenesisAccount { address: *a, balance: 1_000_000 }).collect();
    g
}

fn create_address(sender: Address, nonce: u64) -> Address {
    Address(alloy_primitives::Address::from(sender.0).create(nonce).0.0)
}

#[test]
fn a_contract_is_created_called_and_reverts_with_its_reason() {
    let deployer = PrivateKey::generate(Scheme::Ed25519);
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = Chain::new(&genesis(&[]));
    let contract = create_address(deployer.public_key().address(), 0);

    let out = chain.run(vec![native(&deployer, 0, None, 0, init_code(&echo_runtime()))]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(out.receipts[0].output, contract.0.to_vec(), "output is the new address");
    let account = Account::read(&chain.store, &contract).unwrap();
    assert_eq!(account.nonce, 1, "a new contract starts at nonce 1 (EIP-161)");
    assert!(account.code_hash.is_some());

    // A native call and an Ethereum call in one block.
    let value = [7u8; 32];
    let other = [9u8; 32];
    let out = chain.run(vec![
        native(&deployer, 1, Some(contract), 0, value.to_vec()),
        eth(&user, 0, contract, 0, other.to_vec()),
    ]);
    for r in &out.receipts {
        assert_eq!(r.status, ReceiptStatus::Success);
        assert!(r.steps_used > 21_000, "gas is metered: {}", r.steps_used);
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].contract, contract);
        assert_eq!(r.events[0].topics, vec![Hash(U256::from(ECHO_TOPIC).to_be_bytes())]);
    }
    assert_eq!(out.receipts[0].events[0].data, value);
    assert_eq!(out.receipts[1].output, other);
    let slot0 = chain.store.get(&slot_key(&contract, &[0; 32])).unwrap();
    assert_eq!(slot0, Some(other.to_vec()), "the last write of the block wins");

    // No calldata: reverts with its reason, keeps no writes, still uses the nonce.
    let out = chain.run(vec![eth(&user, 1, contract, 0, vec![])]);
    let r = &out.receipts[0];
    assert_eq!(r.status, ReceiptStatus::Failed { code: "reverted".into(), message: "nope".into() });
    assert_eq!(&r.output[..4], &[0x08, 0xc3, 0x79, 0xa0], "revert data is kept for clients");
    assert!(r.events.is_empty());
    assert_eq!(chain.store.get(&slot_key(&contract, &[0; 32])).unwrap(), Some(other.to_vec()));
    assert_eq!(Account::read(&chain.store, &user.public_key().address()).unwrap().nonce, 2);
}

#[test]
fn value_moves_only_with_funds_and_gas_only_within_the_block() {
    let rich = PrivateKey::generate(Scheme::Secp256k1);
    let poor = PrivateKey::generate(Scheme::Secp256k1);
    let (rich_a, poor_a) = (rich.public_key().address(), poor.public_key().address());
    let mut chain = Chain::new(&genesis(&[rich_a]));
    let out = chain.run(vec![eth(&rich, 0, poor_a, 400, vec![])]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(out.receipts[0].steps_used, 21_000);
    assert_eq!(Account::read(&chain.store, &poor_a).unwrap().balance, 400);
    assert_eq!(Account::read(&chain.store, &rich_a).unwrap().balance, 1_000_000 - 400);

    // More than the sender holds: the transaction cannot be included at all.
    let broke = vec![eth(&poor, 0, rich_a, 401, vec![])];
    assert!(matches!(
        chain.exec.execute_block(&chain.store, ctx(9), &broke),
        Err(ExecutionError::InvalidTx { index: 0, .. })
    ));

    // Gas: as on Ethereum, a transaction fits while its gas limit is within what the block's
    // earlier transactions left (130,000 - 2 × 21,000 used < 100,000 for the third).
    let mut g = genesis(&[rich_a]);
    g.params.block_gas_limit = 130_000;
    let chain = Chain::new(&g);
    let txs: Vec<_> = (0..3).map(|n| eth(&rich, n, poor_a, 1, vec![])).collect();
    assert!(matches!(
        chain.exec.execute_block(&chain.store, ctx(1), &txs),
        Err(ExecutionError::BlockFull { index: 2 })
    ));
}

#[test]
fn evm_execution_is_deterministic() {
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let g = genesis(&[key.public_key().address()]);
    let contract = create_address(key.public_key().address(), 0);
    let txs = vec![
        native(&key, 0, None, 0, init_code(&echo_runtime())),
        native(&key, 1, Some(contract), 5, [3u8; 32].to_vec()),
        eth(&key, 2, contract, 0, vec![]),
    ];
    let roots: Vec<_> = (0..2)
        .map(|_| {
            let mut chain = Chain::new(&g);
            let out = chain.run(txs.clone());
            (out.receipts, chain.store.prepare_state(2, Default::default(), None).unwrap().root())
        })
        .collect();
    assert_eq!(roots[0], roots[1]);
}
