//! The ledger tables system contract through the executor over a real store: tables created
//! and rows inserted by signed transactions, every row in the authenticated state with its
//! signer, and every way an insert is refused.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_sol_types::{SolCall, SolEvent};
use common::{Chain, eth, native};
use consortia_crypto::{Address, HashAlgorithm, PrivateKey, Scheme};
use consortia_execution::ledger::{self, ILedger, StoredRow};
use consortia_execution::test_utils::{forwarder, init_code};
use consortia_storage::StateReader;
use consortia_test_utils::genesis::solo;
use consortia_test_utils::ledger::orders;
use consortia_types::ledger::{SqlValue as V, TableSchema};
use consortia_types::{ReceiptStatus, decode, encode};

fn create(schema: &TableSchema) -> Vec<u8> {
    ILedger::createTableCall { schema: encode(schema).into() }.abi_encode()
}

fn insert(table: &str, rows: Vec<Vec<V>>) -> Vec<u8> {
    ILedger::insertCall { table: table.into(), rows: encode(&rows).into() }.abi_encode()
}

fn row(id: Option<u64>, customer: &str) -> Vec<V> {
    vec![id.map_or(V::Null, V::UInt), V::Text(customer.into()), V::Double(1.5)]
}

fn stored(chain: &Chain, table: &str, id: u64) -> Option<StoredRow> {
    let bytes = chain.store.get(&ledger::row_key(table, &[V::UInt(id)])).unwrap()?;
    Some(decode(&bytes).unwrap())
}

/// A chain with `orders` created by `user`.
fn chain_with_orders(user: &PrivateKey) -> Chain {
    let mut chain = Chain::new(&solo(5, &[(user.public_key().address(), 1_000_000)]).0);
    let out = chain.run(vec![eth(user, 0, ledger::ADDRESS, 0, create(&orders()))]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success, "{:?}", out.receipts[0]);
    chain
}

fn revert_reason(status: &ReceiptStatus) -> String {
    match status {
        ReceiptStatus::Failed { code, message } if code == "reverted" => message.clone(),
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[test]
fn a_created_table_is_in_the_state_with_its_creator() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let chain = chain_with_orders(&user);
    let table = ledger::get_table(&chain.store, "orders").unwrap().unwrap();
    assert_eq!(table.schema, orders());
    assert_eq!((table.creator, table.height), (user.public_key().address(), 1));
    assert_eq!(ledger::table_names(&chain.store).unwrap(), vec!["orders".to_owned()]);
    assert_eq!(ledger::row_count(&chain.store, "orders").unwrap(), 0);
}

#[test]
fn a_row_is_kept_with_its_signer_transaction_and_height() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    let tx = eth(&user, 1, ledger::ADDRESS, 0, insert("orders", vec![row(Some(7), "ann")]));
    let tx_hash = tx.hash(HashAlgorithm::Sha256);
    let out = chain.run(vec![tx]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success);
    let got = stored(&chain, "orders", 7).unwrap();
    assert_eq!(got.values, row(Some(7), "ann"));
    assert_eq!((got.signer, got.tx_hash, got.height), (user.public_key().address(), tx_hash, 2));
}

#[test]
fn auto_increment_numbers_rows_after_the_highest_given() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    let rows = vec![row(None, "a"), row(Some(10), "b"), row(None, "c")];
    let out = chain.run(vec![eth(&user, 1, ledger::ADDRESS, 0, insert("orders", rows))]);
    let first = ILedger::insertCall::abi_decode_returns(&out.receipts[0].output).unwrap();
    assert_eq!(first, 1, "the first number given, as MySQL's LAST_INSERT_ID()");
    assert!(stored(&chain, "orders", 1).is_some());
    assert!(stored(&chain, "orders", 11).is_some(), "after 10, given explicitly");
    let event = ILedger::RowsInserted::decode_raw_log(
        out.receipts[0].events[0].topics.iter().map(|t| alloy_primitives::B256::from(t.0)),
        &out.receipts[0].events[0].data,
    )
    .unwrap();
    assert_eq!((event.rows, event.firstAutoId), (3, 1));
    let out =
        chain.run(vec![eth(&user, 2, ledger::ADDRESS, 0, insert("orders", vec![row(None, "d")]))]);
    assert_eq!(ILedger::insertCall::abi_decode_returns(&out.receipts[0].output).unwrap(), 12);
    assert_eq!(ledger::row_count(&chain.store, "orders").unwrap(), 4, "rows are counted");
}

#[test]
fn a_duplicate_primary_key_reverts_the_whole_insert() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    chain.run(vec![eth(&user, 1, ledger::ADDRESS, 0, insert("orders", vec![row(Some(1), "a")]))]);
    let rows = vec![row(Some(2), "b"), row(Some(1), "again")];
    let out = chain.run(vec![eth(&user, 2, ledger::ADDRESS, 0, insert("orders", rows))]);
    let reason = revert_reason(&out.receipts[0].status);
    assert!(reason.contains("row 2: duplicate entry"), "{reason}");
    assert!(stored(&chain, "orders", 2).is_none(), "all rows or none");
    assert_eq!(ledger::row_count(&chain.store, "orders").unwrap(), 1);
    assert_eq!(stored(&chain, "orders", 1).unwrap().values[1], V::Text("a".into()));
}

#[test]
fn two_rows_with_one_key_in_one_insert_are_refused() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    let rows = vec![row(Some(3), "a"), row(Some(3), "b")];
    let out = chain.run(vec![eth(&user, 1, ledger::ADDRESS, 0, insert("orders", rows))]);
    assert!(revert_reason(&out.receipts[0].status).contains("duplicate entry"));
    assert!(stored(&chain, "orders", 3).is_none());
}

#[test]
fn bad_inserts_and_tables_revert_with_what_to_fix() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    let no_key = TableSchema { name: "notes".into(), primary_key: vec![], ..orders() };
    let calls = vec![
        insert("missing", vec![row(None, "a")]),
        insert("orders", vec![vec![V::Null, V::Int(5), V::Null]]),
        insert("orders", vec![vec![V::Null]]),
        insert("orders", vec![]),
        ILedger::insertCall { table: "orders".into(), rows: vec![9, 9, 9].into() }.abi_encode(),
        create(&orders()),
        create(&no_key),
    ];
    let txs = calls.into_iter().enumerate();
    let out =
        chain.run(txs.map(|(n, c)| eth(&user, n as u64 + 1, ledger::ADDRESS, 0, c)).collect());
    let reasons: Vec<String> = out.receipts.iter().map(|r| revert_reason(&r.status)).collect();
    let expected = [
        "table `missing` does not exist",
        "row 1: column `customer`: a integer value does not fit varchar(32)",
        "has 3 columns, the row has 1 values",
        "at least one row",
        "not a canonical list of rows",
        "table `orders` already exists",
        "needs a PRIMARY KEY",
    ];
    for (reason, want) in reasons.iter().zip(expected) {
        assert!(reason.contains(want), "{reason:?} does not say {want:?}");
    }
}

#[test]
fn a_static_call_cannot_insert() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let deployer = PrivateKey::generate(Scheme::Ed25519);
    let mut chain = chain_with_orders(&user);
    // Runtime that passes its calldata on with STATICCALL, then returns.
    let mut code = vec![0x36, 0x5f, 0x5f, 0x37, 0x5f, 0x5f, 0x36, 0x5f, 0x73];
    code.extend_from_slice(&ledger::ADDRESS.0);
    code.extend_from_slice(&[0x5a, 0xfa, 0x50, 0x5f, 0x5f, 0xf3]); // GAS STATICCALL POP RETURN
    let viewer = created(&deployer, 0);
    chain.run(vec![native(&deployer, 0, None, 0, init_code(&code))]);
    let out = chain.run(vec![native(
        &deployer,
        1,
        Some(viewer),
        0,
        insert("orders", vec![row(Some(1), "a")]),
    )]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success, "the outer call goes on");
    assert!(stored(&chain, "orders", 1).is_none(), "the static frame wrote nothing");
}

fn created(deployer: &PrivateKey, nonce: u64) -> Address {
    let sender = alloy_primitives::Address::from(deployer.public_key().address().0);
    Address(sender.create(nonce).0.0)
}

#[test]
fn rows_inserted_in_a_reverted_call_are_not_kept() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let deployer = PrivateKey::generate(Scheme::Ed25519);
    let mut chain = chain_with_orders(&user);
    let relay = created(&deployer, 0);
    chain.run(vec![native(&deployer, 0, None, 0, init_code(&forwarder(ledger::ADDRESS, true)))]);
    let out = chain.run(vec![native(
        &deployer,
        1,
        Some(relay),
        0,
        insert("orders", vec![row(Some(4), "a")]),
    )]);
    assert!(matches!(out.receipts[0].status, ReceiptStatus::Failed { .. }));
    assert!(stored(&chain, "orders", 4).is_none());
}

#[test]
fn a_native_envelope_inserts_as_its_signer() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let sdk = PrivateKey::generate(Scheme::Ed25519);
    let mut chain = chain_with_orders(&user);
    let out = chain.run(vec![native(
        &sdk,
        0,
        Some(ledger::ADDRESS),
        0,
        insert("orders", vec![row(Some(5), "b")]),
    )]);
    assert_eq!(out.receipts[0].status, ReceiptStatus::Success, "{:?}", out.receipts[0]);
    assert_eq!(stored(&chain, "orders", 5).unwrap().signer, sdk.public_key().address());
}

#[test]
fn state_entries_decode_as_tables_and_rows() {
    let user = PrivateKey::generate(Scheme::Secp256k1);
    let mut chain = chain_with_orders(&user);
    let out =
        chain.run(vec![eth(&user, 1, ledger::ADDRESS, 0, insert("orders", vec![row(None, "a")]))]);
    let mut rows = 0;
    let entries = ledger::entries(&out.changes);
    assert!(entries.iter().all(|(k, _)| k.starts_with(ledger::PREFIX)));
    assert!(out.changes.keys().filter(|k| k.starts_with(ledger::PREFIX)).count() == entries.len());
    for (key, value) in &entries {
        match ledger::decode_entry(key, value).unwrap() {
            ledger::Entry::Row { table, row } => {
                assert_eq!((table.as_str(), &row.values[1]), ("orders", &V::Text("a".into())));
                rows += 1;
            }
            ledger::Entry::Other => {}
            ledger::Entry::Table(t) => panic!("no table was created: {t:?}"),
        }
    }
    assert_eq!(rows, 1);
}
