//! EVM transactions through revm over a real store: creation, calls, storage, logs, reverts
//! with their reason, value transfers, gas limits, and Ethereum envelopes next to native ones.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_primitives::U256;
use common::{Chain, ctx, eth, native};
use consortia_crypto::{Address, Hash, PrivateKey, Scheme};
use consortia_execution::test_utils::{ECHO_TOPIC, echo_runtime, forwarder, init_code};
use consortia_execution::{ExecutionError, read_account, slot_key};
use consortia_storage::{BlockWriter, StateReader};
use consortia_test_utils::genesis::solo;
use consortia_types::{EvmCall, Genesis, ReceiptStatus};

fn genesis(funded: &[Address]) -> Genesis {
    let accounts: Vec<(Address, u128)> = funded.iter().map(|a| (*a, 1_000_000)).collect();
    solo(5, &accounts).0
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
    let account = read_account(&chain.store, &contract).unwrap();
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
    assert_eq!(read_account(&chain.store, &user.public_key().address()).unwrap().nonce, 2);
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
    assert_eq!(read_account(&chain.store, &poor_a).unwrap().balance, 400);
    assert_eq!(read_account(&chain.store, &rich_a).unwrap().balance, 1_000_000 - 400);

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

#[test]
fn the_notary_is_a_solidity_system_contract() {
    use alloy_sol_types::{SolCall, SolEvent};
    use consortia_execution::notary::{self, INotary};

    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = Chain::new(&genesis(&[user.public_key().address()]));
    let notarize = |id: &str, byte: u8| {
        INotary::notarizeCall {
            id: id.into(),
            contentHash: [byte; 32].into(),
            metadata: format!("meta {id}"),
        }
        .abi_encode()
    };

    // A web3 client calls it directly: the record is the native one, with its event.
    let tx = eth(&user, 0, notary::ADDRESS, 0, notarize("invoice-1", 1));
    let tx_hash = tx.hash(consortia_crypto::HashAlgorithm::Sha256);
    let out = chain.run(vec![tx]);
    let r = &out.receipts[0];
    assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
    let record = notary::get_record(&chain.store, "invoice-1").unwrap().unwrap();
    assert_eq!(record.owner, user.public_key().address());
    assert_eq!((record.content_hash, record.height), (Hash([1; 32]), 1));
    assert_eq!(record.tx_hash, tx_hash, "the Ethereum transaction's hash (keccak of its bytes)");
    let event = &r.events[0];
    assert_eq!(event.topics, vec![notary::notarized_topic(), Hash([1; 32])]);
    let decoded = INotary::Notarized::abi_decode_data(&event.data).unwrap();
    assert_eq!(decoded.0, "invoice-1");
    assert!(chain.store.get(&slot_key(&notary::ADDRESS, &[0; 32])).unwrap().is_none());

    // Taken ids, limits, bad arguments and value revert with a reason.
    let out = chain.run(vec![
        eth(&user, 1, notary::ADDRESS, 0, notarize("invoice-1", 2)),
        eth(&user, 2, notary::ADDRESS, 0, notarize("", 2)),
        eth(&user, 3, notary::ADDRESS, 0, vec![1, 2, 3]),
        eth(&user, 4, notary::ADDRESS, 0, notarize("invoice-1", 2)[..40].to_vec()),
        eth(&user, 5, notary::ADDRESS, 5, notarize("paid", 2)),
    ]);
    let reasons: Vec<String> = out
        .receipts
        .iter()
        .map(|r| match &r.status {
            ReceiptStatus::Failed { code, message } if code == "reverted" => message.clone(),
            other => panic!("expected a revert, got {other:?}"),
        })
        .collect();
    assert!(reasons[0].contains("already exists"), "{}", reasons[0]);
    assert!(reasons[1].contains("record id must be"), "{}", reasons[1]);
    assert!(reasons[2].contains("no function selector"), "{}", reasons[2]);
    assert!(reasons[3].contains("malformed arguments for notarize"), "{}", reasons[3]);
    assert!(reasons[4].contains("takes no value"), "{}", reasons[4]);

    // A record written in a call that reverts is not kept, even when the transaction goes on:
    // `outer` calls `inner` (notarizes, then reverts), then notarizes the same id itself.
    let deployer = PrivateKey::generate(Scheme::Ed25519);
    let inner = create_address(deployer.public_key().address(), 0);
    let outer = create_address(deployer.public_key().address(), 1);
    let mut outer_code = vec![0x36, 0x5f, 0x5f, 0x37];
    for target in [inner, notary::ADDRESS] {
        outer_code.extend_from_slice(&[0x5f, 0x5f, 0x36, 0x5f, 0x5f, 0x73]);
        outer_code.extend_from_slice(&target.0);
        outer_code.extend_from_slice(&[0x5a, 0xf1, 0x50]);
    }
    outer_code.extend_from_slice(&[0x5f, 0x5f, 0xf3]);
    chain.run(vec![
        native(&deployer, 0, None, 0, init_code(&forwarder(notary::ADDRESS, true))),
        native(&deployer, 1, None, 0, init_code(&outer_code)),
    ]);
    let out = chain.run(vec![native(&deployer, 2, Some(outer), 0, notarize("po-7", 7))]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(out.receipts[0].events.len(), 1, "the reverted call's event is gone too");
    let record = notary::get_record(&chain.store, "po-7").unwrap().unwrap();
    assert_eq!(record.owner, outer, "the caller that did not revert owns it");
    // Only the inner, reverting path: nothing is kept, though the transaction succeeds.
    let out = chain.run(vec![native(&deployer, 3, Some(inner), 0, notarize("po-8", 8))]);
    assert!(matches!(out.receipts[0].status, ReceiptStatus::Failed { .. }));
    assert!(notary::get_record(&chain.store, "po-8").unwrap().is_none());

    // getRecord reads committed records (and says when there is none).
    let read = |id: &str| {
        let call = EvmCall {
            to: Some(notary::ADDRESS),
            value: 0,
            input: INotary::getRecordCall { id: id.into() }.abi_encode(),
            gas_limit: 100_000,
        };
        match chain.exec.call(&chain.store, ctx(9), Address::default(), call).unwrap() {
            consortia_execution::CallOutcome::Success { output, .. } => {
                INotary::getRecordCall::abi_decode_returns(&output).unwrap()
            }
            other => panic!("{other:?}"),
        }
    };
    let got = read("po-7");
    assert!(got.exists);
    assert_eq!((got.owner.0.0, got.height, got.metadata.as_str()), (outer.0, 4, "meta po-7"));
    assert!(!read("po-8").exists);
}

#[test]
fn extensions_answer_transactions_and_refuse_value() {
    use alloy_sol_types::SolCall;
    use consortia_execution::extensions::{IJson, JSON_ADDRESS};
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = Chain::new(&genesis(&[user.public_key().address()]));
    let get_qty = IJson::getUintCall { json: r#"{"qty":3}"#.into(), pointer: "/qty".into() };
    let out = chain.run(vec![
        eth(&user, 0, JSON_ADDRESS, 0, get_qty.abi_encode()),
        eth(&user, 1, JSON_ADDRESS, 5, get_qty.abi_encode()),
    ]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    assert_eq!(IJson::getUintCall::abi_decode_returns(&out.receipts[0].output), Ok(U256::from(3)));
    assert_eq!(
        out.receipts[1].status,
        ReceiptStatus::Failed { code: "reverted".into(), message: "IJson: takes no value".into() }
    );
}

/// Block 2 of a chain whose block 1 deployed an echo contract: a store, two echo calls with a
/// native notarization between them, and the echo's address.
fn echo_block() -> (Chain, Vec<consortia_types::Transaction>, Address) {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = Chain::new(&genesis(&[user.public_key().address()]));
    chain.run(vec![native(&user, 0, None, 0, init_code(&echo_runtime()))]);
    let echo = create_address(user.public_key().address(), 0);
    let block = vec![
        eth(&user, 1, echo, 0, vec![1; 32]),
        consortia_test_utils::tx::notarize(&user, 5, 2, "between", b"x"),
        eth(&user, 3, echo, 0, vec![2; 32]),
    ];
    (chain, block, echo)
}

#[test]
fn a_block_trace_runs_each_transaction_on_what_the_ones_before_left() {
    use consortia_execution::trace::{GethDebugTracingOptions, GethTrace};
    let (chain, block, echo) = echo_block();
    let opts: GethDebugTracingOptions =
        serde_json::from_value(serde_json::json!({"tracer": "prestateTracer"})).unwrap();
    let traces = chain.exec.trace_block(&chain.store, ctx(2), &block, Hash([9; 32]), opts).unwrap();
    assert_eq!(traces.len(), 3);
    assert_eq!(traces[0].0, block[0].hash(consortia_crypto::HashAlgorithm::Keccak256));
    let slot0 = |trace: &Result<GethTrace, String>| {
        let GethTrace::PreStateTracer(pre) = trace.as_ref().unwrap() else { panic!("{trace:?}") };
        let json = serde_json::to_value(pre).unwrap();
        json.get(format!("0x{}", alloy_primitives::hex::encode(echo.0)))
            .and_then(|a| a["storage"].as_object().cloned())
            .unwrap_or_default()
    };
    assert!(slot0(&traces[0].1).values().all(|v| v.as_str().unwrap().ends_with("00")));
    assert!(traces[1].1.as_ref().unwrap_err().contains("native notarization runs no EVM code"));
    let seen = slot0(&traces[2].1);
    assert!(
        seen.values().any(|v| v.as_str().unwrap().ends_with("0101")),
        "the third transaction read what the first wrote: {seen:?}"
    );
}

#[test]
fn a_parity_block_trace_lists_the_frames_of_every_evm_transaction() {
    let (chain, block, echo) = echo_block();
    let traces =
        chain.exec.parity_trace_block(&chain.store, ctx(2), &block, Hash([9; 32]), 0).unwrap();
    assert_eq!(traces.len(), 2, "one frame per echo call; the notarization has none");
    assert!(traces.iter().all(|t| t.trace.action.as_call().is_some_and(|c| c.to.0 == echo.0)));
    assert_eq!(traces[1].transaction_position, Some(2));
}

/// Three calls to a contract that spins until its gas is gone, in blocks of 100,000 gas.
fn spin(blocks: usize, gas_cap: u64) -> Vec<Vec<consortia_execution::CallOutcome>> {
    use consortia_execution::simulate::{AccountOverride, SimulatedBlock};
    let chain = Chain::new(&genesis(&[]));
    let spinner = Address([0xee; 20]);
    // Runtime `JUMPDEST PUSH1 0 JUMP`.
    let code = AccountOverride { code: Some(vec![0x5b, 0x60, 0x00, 0x56]), ..Default::default() };
    let call = EvmCall { to: Some(spinner), value: 0, input: vec![], gas_limit: 60_000 };
    let block = |n: u64| SimulatedBlock {
        ctx: ctx(n),
        gas_limit: 100_000,
        overrides: [(spinner, code.clone())].into(),
        calls: vec![(Address::default(), call.clone()); 3],
    };
    let blocks: Vec<_> = (1..=blocks as u64).map(block).collect();
    let results = chain.exec.simulate_blocks(&chain.store, &blocks, gas_cap).unwrap();
    results.into_iter().map(|calls| calls.into_iter().map(|c| c.outcome).collect()).collect()
}

#[test]
fn a_simulated_call_gets_at_most_what_its_block_has_left() {
    use consortia_execution::CallOutcome;
    let calls = spin(1, u64::MAX).remove(0);
    assert_eq!(calls.iter().map(CallOutcome::gas_used).collect::<Vec<_>>(), [60_000, 40_000, 0]);
    assert_eq!(calls[2], CallOutcome::Invalid("block gas limit 100000 reached".into()));
}

#[test]
fn a_simulation_stops_at_its_gas_cap_across_blocks() {
    use consortia_execution::CallOutcome;
    let blocks = spin(2, 150_000);
    assert_eq!(blocks[1].iter().map(CallOutcome::gas_used).collect::<Vec<_>>(), [50_000, 0, 0]);
    assert!(
        matches!(&blocks[1][1], CallOutcome::Invalid(why) if why.contains("gas cap of 150000"))
    );
}
