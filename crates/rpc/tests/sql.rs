//! `POST /v1/sql/query` over a node on disk: rows inserted through the ledger contract are
//! answered by the node's SQL projection, which survives restarts, losing its file, and edits
//! of its file.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_sol_types::SolCall;
use axum::http::StatusCode;
use common::{Chain, TestNode};
use consortia_execution::ledger::{self, ILedger};
use consortia_test_utils::ledger::orders;
use consortia_types::encode;
use consortia_types::ledger::SqlValue as V;
use serde_json::{Value, json};

/// Creates `orders` (on a chain without it) and inserts rows for `customers`; returns the
/// height they were committed at.
async fn insert(t: &mut TestNode, customers: &[&str], create: bool) -> u64 {
    let mut txs = vec![];
    if create {
        let input = ILedger::createTableCall { schema: encode(&orders()).into() }.abi_encode();
        txs.push(t.evm_call(ledger::ADDRESS, input));
    }
    let rows: Vec<Vec<V>> =
        customers.iter().map(|c| vec![V::Null, V::Text((*c).into()), V::Null]).collect();
    let input =
        ILedger::insertCall { table: "orders".into(), rows: encode(&rows).into() }.abi_encode();
    txs.push(t.evm_call(ledger::ADDRESS, input));
    t.commit(&txs).await
}

async fn query(t: &TestNode, sql: &str, min_height: u64) -> (StatusCode, Value) {
    t.post("/v1/sql/query", json!({"sql": sql, "min_height": min_height})).await
}

async fn customers(t: &TestNode, min_height: u64) -> Value {
    let (status, body) = query(t, "SELECT customer FROM orders ORDER BY id", min_height).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["rows"].clone()
}

#[tokio::test]
async fn inserted_rows_are_answered_with_their_system_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann", "bob"], true).await;
    let (status, body) =
        query(&t, "SELECT id, customer, _height, _signer FROM orders ORDER BY id", height).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"][1], json!([2, "bob", height, t.address().to_checksum_hex()]));
    assert_eq!(body["columns"][0], json!({"name": "id", "type": "BIGINT UNSIGNED"}));
    assert!(body["height"].as_u64().unwrap() >= height);
}

#[tokio::test]
async fn statements_that_write_or_name_nothing_get_sql_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann"], true).await;
    for (sql, code) in [
        ("DELETE FROM orders", "sql_read_only"),
        ("UPDATE orders SET customer = 'x'", "sql_read_only"),
        ("SELECT * FROM nope", "sql_unknown_table"),
        ("SELECT nope FROM orders", "sql_unknown_column"),
        ("SELEC 1", "sql_syntax"),
    ] {
        let (status, body) = query(&t, sql, height).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{sql}: {body}"
        );
    }
    assert_eq!(customers(&t, height).await, json!([["ann"]]), "nothing was changed");
}

#[tokio::test]
async fn parameters_bind_to_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann", "bob"], true).await;
    let body = json!({"sql": "SELECT id FROM orders WHERE customer = ?", "params": ["bob"], "min_height": height});
    let (status, body) = t.post("/v1/sql/query", body).await;
    assert_eq!((status, &body["rows"]), (StatusCode::OK, &json!([[2]])), "{body}");
}

#[tokio::test]
async fn a_projection_behind_the_chain_answers_503_after_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann"], true).await;
    let (status, body) = query(&t, "SELECT 1", height + 1_000).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("sql_unavailable"))
    );
}

#[tokio::test]
async fn rows_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(String::new());
    let mut t = TestNode::start_in(dir.path(), &chain).await;
    insert(&mut t, &["ann"], true).await;
    t.stop().await;
    let mut t = TestNode::start_in(dir.path(), &chain).await;
    let height = insert(&mut t, &["bob"], false).await;
    assert_eq!(customers(&t, height).await, json!([["ann"], ["bob"]]));
}

#[tokio::test]
async fn a_lost_projection_is_rebuilt_from_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(String::new());
    let mut t = TestNode::start_in(dir.path(), &chain).await;
    let height = insert(&mut t, &["ann", "bob"], true).await;
    t.stop().await;
    std::fs::remove_file(dir.path().join("ledger.sqlite")).unwrap();
    let t = TestNode::start_in(dir.path(), &chain).await;
    assert_eq!(customers(&t, height).await, json!([["ann"], ["bob"]]));
}

#[tokio::test]
async fn an_edited_projection_is_caught_and_rebuilt_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::new(String::new());
    let mut t = TestNode::start_in(dir.path(), &chain).await;
    let height = insert(&mut t, &["ann", "bob"], true).await;
    t.stop().await;
    let file = rusqlite::Connection::open(dir.path().join("ledger.sqlite")).unwrap();
    file.execute_batch(
        "UPDATE orders SET customer = 'mallory' WHERE id = 1; DELETE FROM orders WHERE id = 2",
    )
    .unwrap();
    drop(file);
    let t = TestNode::start_in(dir.path(), &chain).await;
    assert_eq!(customers(&t, height).await, json!([["ann"], ["bob"]]));
}

#[tokio::test]
async fn tables_are_listed_with_their_schema_and_row_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann", "bob"], true).await;
    let (status, body) = t.get("/v1/sql/tables").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let table = &body[0];
    assert_eq!((table["name"].as_str(), table["rows"].as_u64()), (Some("orders"), Some(2)));
    assert_eq!(
        table["columns"][0],
        json!({"name": "id", "type": "bigint unsigned", "nullable": false, "auto_increment": true})
    );
    assert_eq!(
        (&table["primary_key"], &table["indexes"][0]),
        (&json!(["id"]), &json!({"name": "by_customer", "columns": ["customer"]}))
    );
    assert_eq!(
        (table["creator"].as_str(), table["height"].as_u64()),
        (Some(t.address().to_checksum_hex().as_str()), Some(height))
    );
}

#[tokio::test]
async fn the_projections_height_is_exported_as_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = TestNode::start_in(dir.path(), &Chain::new(String::new())).await;
    let height = insert(&mut t, &["ann"], true).await;
    customers(&t, height).await;
    let (status, body) = t.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let line = body
        .as_str()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("consortia_sql_projection_height"))
        .unwrap_or_else(|| panic!("no projection height in {body}"))
        .to_owned();
    let value: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= height, "{line}");
}
