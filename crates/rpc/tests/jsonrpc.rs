//! The Ethereum JSON-RPC handlers in-process (router + in-memory store): answers shaped as
//! geth's, the standard error codes, batches and their limit, block tags, log filters.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::http::StatusCode;
use common::TestNode;
use consortia_api::jsonrpc::{
    INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, PRUNED_HISTORY, SERVER_ERROR,
};
use consortia_crypto::HashAlgorithm;
use serde_json::{Value, json};

fn qty(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn chain_id_and_net_version_name_the_chain() {
    let t = TestNode::start().await;
    assert_eq!(qty(&t.result("eth_chainId", json!([])).await), common::CHAIN_ID);
    assert_eq!(t.result("net_version", json!([])).await, common::CHAIN_ID.to_string());
    let response = t.rpc("eth_chainId", json!([])).await;
    assert_eq!((response["jsonrpc"].as_str(), response["id"].as_i64()), (Some("2.0"), Some(1)));
}

#[tokio::test]
async fn a_batch_is_answered_in_order_and_notifications_are_not() {
    let t = TestNode::start().await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 7, "method": "no_such_method"},
    ]);
    let (status, body) = t.post("/rpc", batch).await;
    assert_eq!(status, StatusCode::OK);
    let answers = body.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{body}");
    assert_eq!(answers[0]["id"], "a");
    assert_eq!(answers[1]["id"], 7);
    assert_eq!(answers[1]["error"]["code"], METHOD_NOT_FOUND);
}

#[tokio::test]
async fn only_notifications_get_no_content() {
    let t = TestNode::start().await;
    let (status, _) = t.post("/rpc", json!({"jsonrpc": "2.0", "method": "eth_chainId"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_empty_batch_and_one_over_the_limit_are_invalid_requests() {
    let t = TestNode::start().await;
    let (_, body) = t.post("/rpc", json!([])).await;
    assert_eq!(body["error"]["code"], INVALID_REQUEST, "{body}");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"});
    let batch = vec![call; consortia_rpc::eth::MAX_RPC_BATCH + 1];
    let (_, body) = t.post("/rpc", Value::Array(batch)).await;
    assert_eq!(body["error"]["code"], INVALID_REQUEST, "{body}");
}

#[tokio::test]
async fn unparsable_json_is_a_parse_error_with_a_null_id() {
    let t = TestNode::start().await;
    let request = axum::http::Request::post("/rpc")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"jsonrpc\": "))
        .unwrap();
    let (status, body) = t.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], PARSE_ERROR);
    assert!(body["id"].is_null());
}

#[tokio::test]
async fn the_root_path_serves_json_rpc_too() {
    let t = TestNode::start().await;
    let (_, body) = t.post("/", json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})).await;
    assert_eq!(qty(&body["result"]), common::CHAIN_ID);
}

#[tokio::test]
async fn bad_parameters_are_invalid_params() {
    let t = TestNode::start().await;
    assert_eq!(t.error_code("eth_getBalance", json!(["0x12"])).await, INVALID_PARAMS);
    assert_eq!(t.error_code("eth_getBlockByNumber", json!(["soon", false])).await, INVALID_PARAMS);
    assert_eq!(t.error_code("eth_sendRawTransaction", json!(["0xnothex"])).await, INVALID_PARAMS);
}

#[tokio::test]
async fn block_tags_name_the_right_blocks() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("tags", b"tags");
    let height = t.commit(&[tx]).await;
    let latest = qty(&t.result("eth_blockNumber", json!([])).await);
    assert!(latest >= height);
    let earliest = t.result("eth_getBlockByNumber", json!(["earliest", false])).await;
    assert_eq!(qty(&earliest["number"]), 0);
    for tag in ["latest", "safe", "finalized", "pending"] {
        let block = t.result("eth_getBlockByNumber", json!([tag, false])).await;
        assert!(qty(&block["number"]) >= latest, "{tag}: {block}");
    }
    let by_number = t.result("eth_getBlockByNumber", json!([format!("0x{height:x}"), true])).await;
    let by_hash = t.result("eth_getBlockByHash", json!([by_number["hash"], true])).await;
    assert_eq!(by_number, by_hash);
    // A block not produced yet is null, as geth answers.
    assert!(t.result("eth_getBlockByNumber", json!(["0xffffff", false])).await.is_null());
}

#[tokio::test]
async fn balances_and_nonces_read_at_a_block() {
    let mut t = TestNode::start().await;
    let address = t.address().to_string();
    let before = qty(&t.result("eth_getTransactionCount", json!([address, "latest"])).await);
    let tx = t.notarization("nonce", b"n");
    let height = t.commit(&[tx]).await;
    let after = qty(&t.result("eth_getTransactionCount", json!([address, "latest"])).await);
    assert_eq!(after, before + 1);
    let at_genesis = t.result("eth_getTransactionCount", json!([address, "earliest"])).await;
    assert_eq!(qty(&at_genesis), 0);
    let past = json!({"blockNumber": format!("0x{:x}", height - 1)});
    let at_parent = t.result("eth_getTransactionCount", json!([address, past])).await;
    assert_eq!(qty(&at_parent), before);
    let balance = t.result("eth_getBalance", json!([address, "latest"])).await;
    assert_eq!(balance, format!("0x{:x}", 10u128.pow(24)));
    assert_eq!(t.error_code("eth_getBalance", json!([address, "0xffffff"])).await, SERVER_ERROR);
}

#[tokio::test]
async fn logs_are_filtered_by_topic_and_range() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("logged", b"logged content");
    t.commit(&[tx]).await;
    let content = format!(
        "0x{}",
        HashAlgorithm::Sha256.digest(b"logged content").to_hex().trim_start_matches("0x")
    );
    let all = json!([{"fromBlock": "earliest", "toBlock": "latest", "topics": [null, content]}]);
    let logs = t.result("eth_getLogs", all).await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    let other = format!("0x{}", "11".repeat(32));
    let none = json!([{"fromBlock": "earliest", "topics": [null, other]}]);
    assert_eq!(t.result("eth_getLogs", none).await, json!([]));
    let backwards = json!([{"fromBlock": "0x5", "toBlock": "0x1"}]);
    assert_eq!(t.error_code("eth_getLogs", backwards).await, INVALID_PARAMS);
    let bad = json!([{"topics": "not-an-array"}]);
    assert_eq!(t.error_code("eth_getLogs", bad).await, INVALID_PARAMS);
}

#[tokio::test]
async fn a_block_filter_reports_new_blocks_once() {
    let mut t = TestNode::start().await;
    let id = t.result("eth_newBlockFilter", json!([])).await;
    let tx = t.notarization("filter", b"f");
    t.commit(&[tx]).await;
    let changes = t.result("eth_getFilterChanges", json!([id])).await;
    assert!(!changes.as_array().unwrap().is_empty(), "{changes}");
    let again = t.result("eth_getFilterChanges", json!([id])).await;
    assert_eq!(again, json!([]));
    assert_eq!(t.result("eth_uninstallFilter", json!([id])).await, json!(true));
    assert!(t.rpc("eth_getFilterChanges", json!([id])).await["error"].is_object());
}

#[tokio::test]
async fn a_raw_transaction_that_is_not_one_is_refused() {
    let t = TestNode::start().await;
    let response = t.rpc("eth_sendRawTransaction", json!(["0x0102"])).await;
    assert!(response["error"]["code"].as_i64().is_some(), "{response}");
    assert!(response.get("result").is_none());
}

#[tokio::test]
async fn unknown_transactions_and_receipts_are_null() {
    let t = TestNode::start().await;
    let hash = format!("0x{}", "ab".repeat(32));
    assert!(t.result("eth_getTransactionByHash", json!([hash])).await.is_null());
    assert!(t.result("eth_getTransactionReceipt", json!([hash])).await.is_null());
}

/// Three notarizations in three blocks, then the first two blocks pruned: their heights, the
/// transactions' hashes, and the first block kept.
async fn pruned_chain() -> (TestNode, Vec<u64>, Vec<String>) {
    let mut t = TestNode::start().await;
    let mut heights = vec![];
    let mut hashes = vec![];
    for i in 0..3 {
        let tx = t.notarization(&format!("p{i}"), b"pruned");
        heights.push(t.commit(std::slice::from_ref(&tx)).await);
        hashes.push(common::hex0x(&tx.hash(HashAlgorithm::Sha256).0));
    }
    t.store.as_ref().expect("a node in memory").prune(heights[2]).unwrap();
    (t, heights, hashes)
}

fn assert_pruned(response: &Value, first: u64) {
    assert_eq!(response["error"]["code"], PRUNED_HISTORY, "{response}");
    assert_eq!(response["error"]["message"], "pruned history unavailable");
    assert_eq!(response["error"]["data"]["firstBlock"], format!("{first:#x}"));
}

#[tokio::test]
async fn a_pruned_block_answers_4444_as_geth_does() {
    let (t, heights, _) = pruned_chain().await;
    let old = json!([format!("{:#x}", heights[0]), false]);
    assert_pruned(&t.rpc("eth_getBlockByNumber", old).await, heights[2]);
    let kept = json!([format!("{:#x}", heights[2]), false]);
    assert!(t.result("eth_getBlockByNumber", kept).await.is_object());
}

#[tokio::test]
async fn a_pruned_transaction_and_its_receipt_answer_4444() {
    let (t, heights, hashes) = pruned_chain().await;
    assert_pruned(&t.rpc("eth_getTransactionByHash", json!([hashes[1]])).await, heights[2]);
    assert_pruned(&t.rpc("eth_getTransactionReceipt", json!([hashes[0]])).await, heights[2]);
    let kept = t.result("eth_getTransactionReceipt", json!([hashes[2]])).await;
    assert_eq!(kept["status"], "0x1");
}

#[tokio::test]
async fn logs_reaching_into_pruned_history_answer_4444_and_later_ranges_answer() {
    let (t, heights, _) = pruned_chain().await;
    let all = json!([{"fromBlock": "earliest", "toBlock": "latest"}]);
    assert_pruned(&t.rpc("eth_getLogs", all).await, heights[2]);
    let kept = json!([{"fromBlock": format!("{:#x}", heights[2]), "toBlock": "latest"}]);
    assert!(t.result("eth_getLogs", kept).await.is_array());
}

#[tokio::test]
async fn the_state_at_a_pruned_block_is_still_read() {
    let (t, heights, _) = pruned_chain().await;
    let at = json!([t.address().to_string(), format!("{:#x}", heights[0])]);
    assert!(t.result("eth_getTransactionCount", at).await.is_string());
}
