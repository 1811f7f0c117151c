//! What Ethereum wallets and tools rely on beyond the basics (issue 15): refusals at submission
//! in geth's codes and words, pending transactions and the pool, the pending block, Cancun's
//! header fields, `blockTimestamp`, strict `eth_getLogs`, by-block-and-index reads, and CORS.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use alloy_primitives::{TxKind, U256};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{CHAIN_ID, TestNode, hex0x};
use consortia_api::jsonrpc::{INVALID_PARAMS, SERVER_ERROR, TRANSACTION_REJECTED};
use consortia_crypto::{PrivateKey, Scheme};
use consortia_types::EthTx;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A signed EIP-1559 transfer to 0x01…01, as raw hex.
fn transfer(key: &PrivateKey, nonce: u64, max_fee: u128, value: u128) -> String {
    let to = TxKind::Call(alloy_primitives::Address::repeat_byte(1));
    let mut tx = consortia_test_utils::tx::eip1559(CHAIN_ID, nonce, to, vec![]);
    tx.gas_limit = 21_000;
    tx.max_fee_per_gas = max_fee;
    tx.value = U256::from(value);
    hex0x(EthTx::sign(tx, key).unwrap().raw())
}

async fn send(t: &TestNode, raw: String) -> Value {
    t.rpc("eth_sendRawTransaction", json!([raw])).await
}

/// Regression (accept-then-drop): the hash came back, the proposer later evicted the
/// transaction, and the wallet waited for a receipt until its timeout.
#[tokio::test]
async fn regression_an_unfunded_sender_is_refused_with_insufficient_funds() {
    let t = TestNode::start().await;
    let broke = PrivateKey::generate(Scheme::Secp256k1);
    let answer = send(&t, transfer(&broke, 0, 1, 0)).await;
    assert_eq!(answer["error"]["code"], TRANSACTION_REJECTED, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("insufficient funds for gas * price + value"), "{message}");
}

#[tokio::test]
async fn a_used_nonce_is_refused_as_nonce_too_low() {
    let t = TestNode::start().await;
    let hash = send(&t, transfer(&t.user, 0, 1, 0)).await["result"].clone();
    wait_for_receipt(&t, &hash).await;
    let answer = send(&t, transfer(&t.user, 0, 2, 0)).await;
    assert_eq!(answer["error"]["code"], TRANSACTION_REJECTED, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("nonce too low"));
}

#[tokio::test]
async fn an_unprotected_legacy_transaction_is_refused_as_geth_does() {
    let t = TestNode::start().await;
    let to = TxKind::Call(alloy_primitives::Address::repeat_byte(1));
    let mut tx = consortia_test_utils::tx::legacy(CHAIN_ID, 0, to, vec![]);
    tx.chain_id = None;
    let answer = send(&t, hex0x(EthTx::sign(tx, &t.user).unwrap().raw())).await;
    assert_eq!(answer["error"]["code"], SERVER_ERROR, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("only replay-protected"));
}

/// The receipt of `hash`, waiting up to 30 s (tests run many nodes at once).
async fn wait_for_receipt(t: &TestNode, hash: &Value) -> Value {
    assert!(hash.is_string(), "not a transaction hash: {hash}");
    for _ in 0..600 {
        let receipt = t.result("eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            return receipt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no receipt for {hash} within 30 s");
}

/// A transaction one nonce ahead of its sender's next waits in the pool ("queued").
async fn queued(t: &TestNode) -> Value {
    let answer = send(t, transfer(&t.user, 1, 1, 0)).await;
    answer["result"].clone()
}

#[tokio::test]
async fn a_pooled_transaction_is_visible_by_hash_without_a_block() {
    let t = TestNode::start().await;
    let hash = queued(&t).await;
    let tx = t.result("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["hash"], hash);
    assert!(tx["blockNumber"].is_null() && tx["blockHash"].is_null(), "{tx}");
    assert_eq!(tx["gasPrice"], "0x1", "a pending 1559 transaction shows its fee cap");
    assert!(t.result("eth_getTransactionReceipt", json!([hash])).await.is_null());
}

#[tokio::test]
async fn txpool_methods_split_executable_from_queued() {
    let t = TestNode::start().await;
    let hash = queued(&t).await;
    let status = t.result("txpool_status", json!([])).await;
    assert_eq!(status, json!({"pending": "0x0", "queued": "0x1"}));
    let sender = t.address().to_checksum_hex();
    let content = t.result("txpool_content", json!([])).await;
    assert_eq!(content["queued"][&sender]["1"]["hash"], hash, "{content}");
    let from = t.result("txpool_contentFrom", json!([sender])).await;
    assert_eq!(from["queued"]["1"]["hash"], hash, "{from}");
    let inspect = t.result("txpool_inspect", json!([])).await;
    let line = inspect["queued"][&sender]["1"].as_str().unwrap();
    assert!(line.ends_with(": 0 wei + 21000 gas × 1 wei"), "{line}");
}

#[tokio::test]
async fn a_dropped_transaction_is_reported_instead_of_null() {
    let t = TestNode::start().await;
    let hash = queued(&t).await;
    let h = consortia_crypto::Hash::from_hex(hash.as_str().unwrap()).unwrap();
    let pooled = t.node.mempool().get(&h).unwrap();
    t.node.mempool().evict(&pooled, "the sender cannot pay");
    for method in ["eth_getTransactionByHash", "eth_getTransactionReceipt"] {
        let answer = t.rpc(method, json!([hash])).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("dropped") && message.contains("cannot pay"), "{answer}");
    }
    let (status, lookup) = t.get(&format!("/v1/transactions/{}", hash.as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&lookup["status"], &lookup["reason"]),
        (&json!("dropped"), &json!("the sender cannot pay"))
    );
}

#[tokio::test]
async fn a_pending_transaction_filter_reports_admitted_hashes() {
    let t = TestNode::start().await;
    let id = t.result("eth_newPendingTransactionFilter", json!([])).await;
    let hash = queued(&t).await;
    assert_eq!(t.result("eth_getFilterChanges", json!([id])).await, json!([hash]));
    assert_eq!(t.result("eth_getFilterChanges", json!([id])).await, json!([]));
}

#[tokio::test]
async fn the_pending_block_is_the_next_one_with_null_hash_and_miner() {
    let t = TestNode::start().await;
    let latest = t.result("eth_blockNumber", json!([])).await;
    let pending = t.result("eth_getBlockByNumber", json!(["pending", false])).await;
    let next = u64::from_str_radix(latest.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let number = pending["number"].as_str().unwrap().trim_start_matches("0x").to_owned();
    assert!(u64::from_str_radix(&number, 16).unwrap() > next, "{pending}");
    assert!(pending["hash"].is_null() && pending["miner"].is_null(), "{pending}");
    assert!(pending["transactions"].is_array());
}

#[tokio::test]
async fn blocks_carry_cancun_fields_and_objects_carry_block_timestamp() {
    let t = TestNode::start().await;
    let hash = send(&t, transfer(&t.user, 0, 1, 5)).await["result"].clone();
    let receipt = wait_for_receipt(&t, &hash).await;
    let block = t.result("eth_getBlockByHash", json!([receipt["blockHash"], true])).await;
    for field in ["withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot"] {
        assert!(block[field].is_string(), "{field} missing: {block}");
    }
    assert_eq!(block["withdrawals"], json!([]));
    assert_eq!(block["baseFeePerGas"], "0x0");
    assert_eq!(receipt["blockTimestamp"], block["timestamp"]);
    assert_eq!(block["transactions"][0]["blockTimestamp"], block["timestamp"]);
    assert!(receipt["blobGasPrice"].is_string(), "{receipt}");
}

#[tokio::test]
async fn transactions_and_receipts_are_found_by_block_and_index() {
    let t = TestNode::start().await;
    let hash = send(&t, transfer(&t.user, 0, 1, 5)).await["result"].clone();
    let receipt = wait_for_receipt(&t, &hash).await;
    let (number, block_hash) = (&receipt["blockNumber"], &receipt["blockHash"]);
    let index = &receipt["transactionIndex"];
    let by_number =
        t.result("eth_getTransactionByBlockNumberAndIndex", json!([number, index])).await;
    let by_hash =
        t.result("eth_getTransactionByBlockHashAndIndex", json!([block_hash, index])).await;
    assert_eq!((&by_number["hash"], &by_hash["hash"]), (&hash, &hash));
    let past_end = t.result("eth_getTransactionByBlockNumberAndIndex", json!([number, "0x99"]));
    assert!(past_end.await.is_null());
    let receipts = t.result("eth_getBlockReceipts", json!([number])).await;
    assert_eq!(
        receipts.as_array().unwrap().iter().filter(|r| r["transactionHash"] == hash).count(),
        1
    );
    assert_eq!(t.result("eth_getBlockReceipts", json!([block_hash])).await, receipts);
    assert_eq!(t.result("eth_getUncleCountByBlockNumber", json!([number])).await, "0x0");
    assert!(t.result("eth_getUncleByBlockNumberAndIndex", json!([number, "0x0"])).await.is_null());
}

#[tokio::test]
async fn get_logs_refuses_a_block_hash_with_a_range_and_a_backwards_range() {
    let t = TestNode::start().await;
    let genesis = t.result("eth_getBlockByNumber", json!(["0x0", false])).await;
    let both = json!([{"blockHash": genesis["hash"], "fromBlock": "0x0"}]);
    assert_eq!(t.error_code("eth_getLogs", both).await, INVALID_PARAMS);
    let backwards = json!([{"fromBlock": "0x2", "toBlock": "0x1"}]);
    assert_eq!(t.error_code("eth_getLogs", backwards).await, INVALID_PARAMS);
}

#[tokio::test]
async fn coinbase_and_protocol_version_answer() {
    let t = TestNode::start().await;
    let coinbase = t.result("eth_coinbase", json!([])).await;
    assert_eq!(coinbase.as_str().unwrap().len(), 42);
    assert!(t.result("eth_protocolVersion", json!([])).await.is_string());
}

#[tokio::test]
async fn the_create2_deployer_is_in_genesis() {
    let t = TestNode::start().await;
    let address = "0x4e59b44847b379578588920ca78fbf26c0b4956c";
    let code = t.result("eth_getCode", json!([address, "latest"])).await;
    assert_eq!(code, hex0x(&consortia_types::CREATE2_DEPLOYER_CODE));
}

async fn preflight(origins: &[&str], origin: &str) -> (StatusCode, Option<String>) {
    let t = TestNode::start().await;
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    let layer = consortia_rpc::cors::layer(&origins).unwrap().unwrap();
    let app =
        consortia_rpc::router(t.node.clone(), consortia_rpc::AccessPolicy::open()).layer(layer);
    let request = Request::options("/rpc")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), allowed)
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let (status, allowed) = preflight(&["http://localhost:*"], "http://localhost:5173").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(allowed.as_deref(), Some("http://localhost:5173"));
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allowance() {
    let (_, allowed) = preflight(&["http://localhost:*"], "https://evil.example").await;
    assert_eq!(allowed, None);
}

#[tokio::test]
async fn a_star_allows_any_origin_without_credentials() {
    let (_, allowed) = preflight(&["*"], "https://remix.ethereum.org").await;
    assert_eq!(allowed.as_deref(), Some("*"));
}

alloy_sol_types::sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

/// Sends a signed EIP-1559 transaction from the funded account; its receipt.
async fn transact(t: &TestNode, nonce: u64, to: TxKind, input: Vec<u8>) -> Value {
    let mut tx = consortia_test_utils::tx::eip1559(CHAIN_ID, nonce, to, input);
    tx.gas_limit = 3_000_000;
    let raw = hex0x(EthTx::sign(tx, &t.user).unwrap().raw());
    let answer = send(t, raw).await;
    wait_for_receipt(t, &answer["result"]).await
}

/// The ERC-20 of the test contracts, deployed with a supply of 1,000 to the funded account,
/// and a transfer of 250 to 0x…01; the token's address and the transfer's receipt.
async fn token_and_transfer(t: &TestNode) -> (alloy_primitives::Address, Value) {
    use alloy_sol_types::{SolCall, SolValue};
    let mut init = hex::decode(
        consortia_test_utils::contracts::ERC20_BYTECODE.trim().trim_start_matches("0x"),
    )
    .unwrap();
    init.extend(U256::from(1_000).abi_encode());
    let deployed = transact(t, 0, TxKind::Create, init).await;
    let token: alloy_primitives::Address =
        deployed["contractAddress"].as_str().unwrap().parse().unwrap();
    let to = alloy_primitives::Address::repeat_byte(1);
    let input = transferCall { to, amount: U256::from(250) }.abi_encode();
    (token, transact(t, 1, TxKind::Call(token), input).await)
}

#[tokio::test]
async fn a_token_s_holders_and_transfers_are_read_from_its_transfer_events() {
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let (status, stats) = t.get(&format!("/v1/tokens/{token}")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!((stats["standard"].as_str(), stats["holders"].as_u64()), (Some("erc20"), Some(2)));
    assert_eq!(stats["transfers"], 2, "the mint and the transfer: {stats}");
    let (_, page) = t.get(&format!("/v1/tokens/{token}/holders")).await;
    let holders: Vec<_> = page["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (h["address"].as_str().unwrap().to_owned(), h["balance"].as_str().unwrap().to_owned())
        })
        .collect();
    let payee = alloy_primitives::Address::repeat_byte(1).to_checksum(None);
    let sender = t.address().to_checksum_hex();
    assert_eq!(holders, vec![(sender, "750".into()), (payee.clone(), "250".into())], "{page}");
    let (_, page) = t.get(&format!("/v1/tokens/{token}/transfers?limit=1")).await;
    let newest = &page["transfers"][0];
    assert_eq!(newest["tx_hash"], receipt["transactionHash"], "{page}");
    assert_eq!(
        (newest["to"].as_str(), newest["amount"].as_str()),
        (Some(payee.as_str()), Some("250"))
    );
    assert_eq!(newest["log_index"].as_u64(), Some(gas(&receipt["logs"][0]["logIndex"])));
    let (_, older) = t
        .get(&format!("/v1/tokens/{token}/transfers?before={}", page["next"].as_str().unwrap()))
        .await;
    let mint = &older["transfers"][0];
    assert_eq!(mint["from"], "0x0000000000000000000000000000000000000000", "{older}");
    assert!(older["next"].is_null(), "the mint was the first: {older}");
}

/// The token index still points at transfers of blocks the node pruned since: a page leaves
/// them out (the holders stay, folded when the blocks committed) instead of failing.
#[tokio::test]
async fn regression_a_transfer_page_over_pruned_blocks_leaves_them_out() {
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let last = gas(&receipt["blockNumber"]);
    t.store.as_ref().expect("a node in memory").prune(last).unwrap();
    let (status, page) = t.get(&format!("/v1/tokens/{token}/transfers")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let heights: Vec<_> =
        page["transfers"].as_array().unwrap().iter().map(|x| x["height"].clone()).collect();
    assert_eq!(heights, [json!(last)], "the mint's block is pruned: {page}");
    let (_, holders) = t.get(&format!("/v1/tokens/{token}/holders")).await;
    assert_eq!(holders["holders"].as_array().map(Vec::len), Some(2), "{holders}");
}

#[tokio::test]
async fn token_reads_answer_an_unknown_contract_with_404_and_a_bad_cursor_with_400() {
    let t = TestNode::start().await;
    let (status, body) = t.get(&format!("/v1/tokens/{}", t.address())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = t.get(&format!("/v1/tokens/{}/holders", t.address())).await;
    assert_eq!((status, body["holders"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let (status, body) = t.get(&format!("/v1/tokens/{}/transfers?before=1:2", t.address())).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")));
    let (status, body) = t.get(&format!("/v1/tokens/{}/holders?limit=1001", t.address())).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")));
}

fn gas(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn the_call_tracer_shows_the_transaction_frame() {
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let options = json!({"tracer": "callTracer"});
    let frame =
        t.result("debug_traceTransaction", json!([receipt["transactionHash"], options])).await;
    assert_eq!(frame["type"], "CALL", "{frame}");
    assert_eq!(frame["to"].as_str().unwrap().to_lowercase(), token.to_string().to_lowercase());
    assert_eq!(gas(&frame["gasUsed"]), gas(&receipt["gasUsed"]), "{frame}");
    assert!(frame["output"].as_str().unwrap().ends_with('1'), "transfer returned true: {frame}");
}

#[tokio::test]
async fn the_prestate_tracer_shows_what_the_transaction_read() {
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let options = json!({"tracer": "prestateTracer"});
    let pre =
        t.result("debug_traceTransaction", json!([receipt["transactionHash"], options])).await;
    let account = pre
        .as_object()
        .unwrap()
        .iter()
        .find(|(a, _)| a.to_lowercase() == token.to_string().to_lowercase())
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no token in {pre}"));
    assert!(account["storage"].as_object().is_some_and(|s| !s.is_empty()), "{account}");
    assert!(account["code"].is_string(), "{account}");
}

#[tokio::test]
async fn the_struct_logger_records_steps_and_memory_on_request() {
    let t = TestNode::start().await;
    let (_, receipt) = token_and_transfer(&t).await;
    let hash = &receipt["transactionHash"];
    let plain = t.result("debug_traceTransaction", json!([hash])).await;
    assert_eq!(plain["gas"].as_u64(), Some(gas(&receipt["gasUsed"])), "{}", plain["gas"]);
    let logs = plain["structLogs"].as_array().unwrap();
    assert!(logs.len() > 10 && logs[0]["op"].is_string(), "{}", logs.len());
    assert!(logs.iter().all(|l| l.get("memory").is_none()), "memory is off by default");
    let with_memory = json!([hash, {"enableMemory": true, "disableStack": true}]);
    let traced = t.result("debug_traceTransaction", with_memory).await;
    let logs = traced["structLogs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l.get("memory").is_some()), "memory recorded");
    assert!(logs.iter().all(|l| l.get("stack").is_none()), "stack off");
}

#[tokio::test]
async fn trace_call_and_parity_traces_and_access_lists_answer() {
    use alloy_sol_types::SolCall;
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let query =
        hex0x(&balanceOfCall { owner: alloy_primitives::Address::repeat_byte(1) }.abi_encode());
    let call = json!({"to": token.to_string(), "data": query});
    let frame =
        t.result("debug_traceCall", json!([call, "latest", {"tracer": "callTracer"}])).await;
    assert_eq!(
        U256::from_str_radix(frame["output"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap(),
        U256::from(250)
    );
    let parity = t.result("trace_transaction", json!([receipt["transactionHash"]])).await;
    let first = &parity.as_array().unwrap()[0];
    assert_eq!(
        (first["type"].as_str(), first["action"]["callType"].as_str()),
        (Some("call"), Some("call")),
        "{first}"
    );
    assert_eq!(first["transactionHash"], receipt["transactionHash"]);
    let transfer = json!({
        "from": t.address().to_checksum_hex(),
        "to": token.to_string(),
        "data": hex0x(&transferCall { to: alloy_primitives::Address::repeat_byte(2), amount: U256::from(1) }.abi_encode()),
    });
    let listed = t.result("eth_createAccessList", json!([transfer, "latest"])).await;
    let entries = listed["accessList"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["storageKeys"].as_array().unwrap().len(), 2, "both balances: {listed}");
    assert!(gas(&listed["gasUsed"]) > 21_000 && listed.get("error").is_none(), "{listed}");
}

#[tokio::test]
async fn block_traces_answer_by_number_and_hash_with_geths_shape() {
    let t = TestNode::start().await;
    let (_, receipt) = token_and_transfer(&t).await;
    let options = json!({"tracer": "callTracer"});
    let by_number =
        t.result("debug_traceBlockByNumber", json!([receipt["blockNumber"], options])).await;
    let entry = by_number
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["txHash"] == receipt["transactionHash"])
        .unwrap_or_else(|| panic!("no entry for the transfer: {by_number}"));
    assert_eq!(entry["result"]["type"], "CALL", "{entry}");
    assert_eq!(gas(&entry["result"]["gasUsed"]), gas(&receipt["gasUsed"]));
    let by_hash = t.result("debug_traceBlockByHash", json!([receipt["blockHash"], options])).await;
    assert_eq!(by_hash, by_number);
    let parity = t.result("trace_block", json!([receipt["blockNumber"]])).await;
    assert!(
        parity
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["transactionHash"] == receipt["transactionHash"]),
        "{parity}"
    );
    assert_eq!(t.result("trace_block", json!(["0x0"])).await, json!([]), "genesis has none");
}

#[tokio::test]
async fn a_trace_that_runs_too_long_is_stopped_with_a_reason() {
    let t = TestNode::start().await;
    // Runtime code `JUMPDEST PUSH1 0 JUMP`: a loop until the gas runs out.
    let init = hex::decode("635b6000566000526004601cf3").unwrap();
    let deployed = transact(&t, 0, TxKind::Create, init).await;
    let call = json!({"to": deployed["contractAddress"], "gas": "0x2faf080"});
    let answer = t.rpc("debug_traceCall", json!([call, "latest", {"tracer": "callTracer"}])).await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("tracing stopped: over 500000 EVM steps"), "{answer}");
}

#[tokio::test]
async fn an_unknown_tracer_is_refused() {
    let t = TestNode::start().await;
    let (_, receipt) = token_and_transfer(&t).await;
    let options = json!({"tracer": "noSuchTracer"});
    let answer =
        t.rpc("debug_traceTransaction", json!([receipt["transactionHash"], options])).await;
    assert!(answer["error"]["message"].is_string(), "{answer}");
}

/// A call past the inline step budget is not cut short: it runs again on a query thread and
/// ends as the EVM says (here: out of gas, after ~75,000 steps).
#[tokio::test]
async fn a_call_past_the_inline_step_budget_still_runs_to_its_end() {
    let t = TestNode::start().await;
    let init = hex::decode("635b6000566000526004601cf3").unwrap();
    let deployed = transact(&t, 0, TxKind::Create, init).await;
    let call = json!({"to": deployed["contractAddress"], "gas": "0x493e0"});
    let answer = t.rpc("eth_call", json!([call, "latest"])).await;
    assert_eq!(answer["error"]["code"], SERVER_ERROR, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("OutOfGas"), "{answer}");
}

/// A token's `eth_getProof` answer and the state root of the latest header.
async fn token_proof(t: &TestNode) -> (Value, consortia_crypto::Hash) {
    let (token, _) = token_and_transfer(t).await;
    let slots = json!(["0x0", "0x99"]);
    let proof = t.result("eth_getProof", json!([token.to_string(), slots, "latest"])).await;
    let block = t.result("eth_getBlockByNumber", json!(["latest", false])).await;
    let root = consortia_crypto::Hash::from_hex(block["stateRoot"].as_str().unwrap()).unwrap();
    (proof, root)
}

#[tokio::test]
async fn get_proof_proves_an_account_and_its_slots_with_the_sdk_verifier() {
    use consortia_api::proof::{Suite, verify_eth_proof};
    let t = TestNode::start().await;
    let (proof, root) = token_proof(&t).await;
    let proven = verify_eth_proof(&proof, Suite::Standard, root).unwrap();
    assert!(proven.account.code_hash.is_some(), "a contract");
    assert_eq!(proven.storage.len(), 2);
    assert_ne!(proven.storage[0].1, [0; 32], "slot 0 holds a value");
    assert_eq!(proven.storage[1].1, [0; 32], "slot 0x99 is proven absent");
}

#[tokio::test]
async fn the_sdk_verifier_refuses_a_lying_answer() {
    use consortia_api::proof::{ProofError, Suite, verify_eth_proof};
    let t = TestNode::start().await;
    let (proof, root) = token_proof(&t).await;
    let verify = |answer: &Value| verify_eth_proof(answer, Suite::Standard, root);

    let mut richer = proof.clone();
    richer["balance"] = json!("0xde0b6b3a7640000");
    assert!(matches!(verify(&richer), Err(ProofError::Mismatch { field: "balance", .. })));

    let mut forged = proof.clone();
    let value = forged["accountValue"].as_str().unwrap().to_owned();
    forged["accountValue"] = json!(format!("{}{}", &value[..value.len() - 2], "ff"));
    assert!(matches!(verify(&forged), Err(ProofError::Invalid { .. })), "{:?}", verify(&forged));

    let mut slot = proof.clone();
    slot["storageProof"][1]["value"] = json!("0x1");
    assert!(matches!(verify(&slot), Err(ProofError::Invalid { .. })));

    let other_root = consortia_crypto::Hash([7; 32]);
    assert!(matches!(
        verify_eth_proof(&proof, Suite::Standard, other_root),
        Err(ProofError::OtherRoot { .. })
    ));
}

/// A WebSocket client of `droppedTransactions` hears of a transaction the pool drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_hear_of_dropped_transactions() {
    let t = TestNode::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = consortia_rpc::router(t.node.clone(), consortia_rpc::AccessPolicy::open());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let client = tokio::task::spawn_blocking(move || {
        let stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        let (mut socket, _) = tungstenite::client(format!("ws://{address}/ws"), stream).unwrap();
        let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["droppedTransactions"]});
        socket.send(tungstenite::Message::text(subscribe.to_string())).unwrap();
        let mut read_next = || match socket.read().unwrap() {
            tungstenite::Message::Text(text) => serde_json::from_str::<Value>(&text).unwrap(),
            other => panic!("unexpected frame {other:?}"),
        };
        let id = read_next()["result"].clone();
        subscribed_tx.send(()).unwrap();
        (id, read_next())
    });
    subscribed.await.unwrap();
    let hash = queued(&t).await;
    let h = consortia_crypto::Hash::from_hex(hash.as_str().unwrap()).unwrap();
    t.node.mempool().evict(&t.node.mempool().get(&h).unwrap(), "the sender cannot pay");
    let (id, note) = client.await.unwrap();
    assert_eq!(note["params"]["subscription"], id, "{note}");
    assert_eq!(note["params"]["result"], json!({"hash": hash, "reason": "the sender cannot pay"}));
}

/// Topic queries are answered from the topic index: the same logs, with the same places and
/// log indexes, as the receipts hold.
#[tokio::test]
async fn logs_by_topic_come_from_the_index_as_the_receipts_show_them() {
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let transfer_topic = receipt["logs"][0]["topics"][0].clone();
    let query = json!([{"fromBlock": "0x0", "toBlock": "latest", "topics": [transfer_topic]}]);
    let logs = t.result("eth_getLogs", query).await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 2, "the mint and the transfer: {logs:?}");
    assert_eq!(logs[1], receipt["logs"][0], "same log as the receipt's");
    let by_address =
        json!([{"fromBlock": "0x0", "address": token.to_string(), "topics": [transfer_topic]}]);
    assert_eq!(t.result("eth_getLogs", by_address).await.as_array().unwrap().len(), 2);
    let nobody = format!("0x{}07", "00".repeat(31));
    let other = json!([{"fromBlock": "0x0", "topics": [null, nobody]}]);
    assert_eq!(t.result("eth_getLogs", other).await, json!([]));
}

/// A 32-byte word as JSON-RPC data.
fn word(n: u8) -> String {
    format!("0x{:064x}", n)
}

#[tokio::test]
async fn simulate_v1_runs_blocks_of_calls_each_on_what_the_last_wrote() {
    use alloy_sol_types::SolCall;
    let t = TestNode::start().await;
    let (token, receipt) = token_and_transfer(&t).await;
    let two = alloy_primitives::Address::repeat_byte(2);
    let send = transferCall { to: two, amount: U256::from(10) }.abi_encode();
    let read = balanceOfCall { owner: two }.abi_encode();
    let from = t.address().to_checksum_hex();
    let payload = json!({"blockStateCalls": [
        {"calls": [{"from": from, "to": token.to_string(), "data": hex0x(&send)}]},
        {"calls": [{"to": token.to_string(), "data": hex0x(&read)}]},
    ]});
    let blocks = t.result("eth_simulateV1", json!([payload, receipt["blockNumber"]])).await;
    let base = gas(&receipt["blockNumber"]);
    assert_eq!(gas(&blocks[0]["number"]), base + 1);
    assert_eq!(gas(&blocks[1]["number"]), base + 2);
    assert_eq!(gas(&blocks[1]["timestamp"]) - gas(&blocks[0]["timestamp"]), 12, "geth's step");
    assert_eq!(blocks[1]["parentHash"], blocks[0]["hash"]);
    let sent = &blocks[0]["calls"][0];
    assert_eq!(sent["status"], "0x1", "{sent}");
    assert_eq!(sent["logs"].as_array().unwrap().len(), 1, "the Transfer event: {sent}");
    assert_eq!(sent["logs"][0]["transactionHash"], blocks[0]["transactions"][0]);
    assert_eq!(blocks[1]["calls"][0]["returnData"], word(10), "block 2 saw block 1's transfer");
    let now = t.result("eth_call", json!([{"to": token.to_string(), "data": hex0x(&read)}])).await;
    assert_eq!(now, word(0), "nothing simulated was kept");
}

#[tokio::test]
async fn simulate_v1_reports_a_revert_per_call_with_its_data() {
    let t = TestNode::start().await;
    // Runtime `PUSH0 PUSH0 REVERT`: reverts with no data.
    let deployed =
        transact(&t, 0, TxKind::Create, hex::decode("60038060093d393df35f5ffd").unwrap()).await;
    let payload = json!({"blockStateCalls": [{"calls": [{"to": deployed["contractAddress"]}]}]});
    let blocks = t.result("eth_simulateV1", json!([payload, "latest"])).await;
    let call = &blocks[0]["calls"][0];
    assert_eq!(
        (call["status"].as_str(), call["error"]["code"].as_i64()),
        (Some("0x0"), Some(3)),
        "{call}"
    );
}

#[tokio::test]
async fn simulate_v1_state_overrides_fund_a_sender_for_its_block() {
    let t = TestNode::start().await;
    let broke = "0x00000000000000000000000000000000000000bb";
    let to = "0x00000000000000000000000000000000000000cc";
    let payload = json!({"blockStateCalls": [{
        "stateOverrides": {broke: {"balance": "0xde0b6b3a7640000"}},
        "calls": [{"from": broke, "to": to, "value": "0x1"}],
    }]});
    let blocks = t.result("eth_simulateV1", json!([payload, "latest"])).await;
    assert_eq!(blocks[0]["calls"][0]["status"], "0x1", "{blocks}");
    let unfunded =
        json!({"blockStateCalls": [{"calls": [{"from": broke, "to": to, "value": "0x1"}]}]});
    let answer = t.rpc("eth_simulateV1", json!([unfunded, "latest"])).await;
    assert!(answer["error"]["message"].as_str().unwrap().contains("block 0, call 0"), "{answer}");
}

#[tokio::test]
async fn simulate_v1_refuses_what_it_does_not_do_by_name() {
    let t = TestNode::start().await;
    let calls = json!([{"to": "0x00000000000000000000000000000000000000cc"}]);
    let cases = [
        (
            json!({"blockStateCalls": [{"calls": calls}], "validation": true}),
            INVALID_PARAMS,
            "validation",
        ),
        (json!({"blockStateCalls": []}), INVALID_PARAMS, "1 to 256 blocks"),
        (
            json!({"blockStateCalls": [{"blockOverrides": {"number": "0x64"}}, {"blockOverrides": {"number": "0x63"}}]}),
            -38020,
            "block numbers must increase",
        ),
        (
            json!({"blockStateCalls": [{"stateOverrides": {"0x00000000000000000000000000000000000000cc": {"state": {}}}}]}),
            INVALID_PARAMS,
            "stateDiff",
        ),
        (
            json!({"blockStateCalls": [{"blockOverrides": {"baseFeePerGas": "0x1"}}]}),
            INVALID_PARAMS,
            "governance",
        ),
    ];
    for (payload, code, words) in cases {
        let answer = t.rpc("eth_simulateV1", json!([payload, "latest"])).await;
        assert_eq!(answer["error"]["code"].as_i64(), Some(code), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(words), "{answer}");
    }
}

#[tokio::test]
async fn eth_call_takes_code_and_storage_overrides() {
    let t = TestNode::start().await;
    let at = "0x00000000000000000000000000000000000000dd";
    // Runtime `PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN`: returns slot 0.
    let overrides =
        json!({at: {"code": "0x60005460005260206000f3", "stateDiff": {"0x0": word(7)}}});
    let answer = t.result("eth_call", json!([{"to": at}, "latest", overrides])).await;
    assert_eq!(answer, word(7));
    let plain = t.result("eth_call", json!([{"to": at}, "latest"])).await;
    assert_eq!(plain, "0x", "without overrides the address has no code");
}

#[tokio::test]
async fn eth_call_takes_block_overrides() {
    let t = TestNode::start().await;
    let at = "0x00000000000000000000000000000000000000dd";
    // Runtime `NUMBER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN`.
    let code = json!({at: {"code": "0x4360005260206000f3"}});
    let answer =
        t.result("eth_call", json!([{"to": at}, "latest", code, {"number": "0x2a"}])).await;
    assert_eq!(answer, word(42));
}

#[tokio::test]
async fn addresses_are_taken_in_any_case_as_geth_takes_them() {
    let t = TestNode::start().await;
    let checksummed = t.address().to_checksum_hex();
    let flipped: String =
        checksummed[2..]
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }
            })
            .collect();
    let balance = t.result("eth_getBalance", json!([checksummed, "latest"])).await;
    let miscased = t.result("eth_getBalance", json!([format!("0x{flipped}"), "latest"])).await;
    assert_eq!(miscased, balance, "a checksum that does not match is not refused");
    assert_ne!(balance, "0x0");
}

/// A JSON-RPC POST with this content type (none when `None`): its HTTP status.
async fn rpc_with_content_type(content_type: Option<&str>) -> StatusCode {
    let t = TestNode::start().await;
    let mut request = Request::post("/rpc");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    t.send(request.body(Body::from(body.to_string())).unwrap()).await.0
}

#[tokio::test]
async fn a_json_rpc_post_not_declared_json_is_refused_as_geth_refuses_it() {
    for refused in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        assert_eq!(
            rpc_with_content_type(refused).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{refused:?}"
        );
    }
    for taken in ["application/json", "application/json; charset=utf-8", "application/json-rpc"] {
        assert_eq!(rpc_with_content_type(Some(taken)).await, StatusCode::OK, "{taken}");
    }
}
