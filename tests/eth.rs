//! Ethereum JSON-RPC against the real binary: a contract deployed and called with raw
//! EIP-1559 and legacy transactions, logs found by address and topic, reverts reported as geth
//! reports them, filters, and every kind of bad request answered with its standard error.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use alloy_primitives::TxKind;
use consortia_crypto::{PrivateKey, Scheme};
use consortia_execution::test_utils::{ECHO_TOPIC, echo_runtime, init_code};
use consortia_test_utils::process::{DevNode, Rpc, eip1559, http};
use consortia_types::EthTx;
use serde_json::{Value, json};

#[test]
fn web3_flow_over_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    let chain_id = node.chain_id();
    let rpc = Rpc { url: format!("{}/rpc", node.url), client: http() };
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let me = key.public_key().address().to_checksum_hex();

    assert_eq!(rpc.ok("eth_chainId", json!([])), json!(format!("{chain_id:#x}")));
    assert_eq!(rpc.ok("net_version", json!([])), json!(chain_id.to_string()));
    assert_eq!(rpc.ok("eth_gasPrice", json!([])), json!("0x0"));
    let latest = rpc.ok("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(latest["baseFeePerGas"], "0x0");
    assert_eq!(latest["logsBloom"].as_str().unwrap().len(), 2 + 512);

    // Deploy with an EIP-1559 transaction.
    let deploy =
        EthTx::sign(eip1559(chain_id, 0, TxKind::Create, init_code(&echo_runtime())), &key)
            .unwrap();
    let hash = rpc.send(&deploy);
    assert_eq!(hash, consortia_crypto::keccak256(deploy.raw()).to_hex(), "keccak of the raw bytes");
    let receipt = rpc.receipt(&hash);
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let contract = receipt["contractAddress"].as_str().unwrap().to_owned();
    let expected = alloy_primitives::Address::from(key.public_key().address().0).create(0);
    assert_eq!(contract.to_lowercase(), format!("{expected:#x}"));
    let code = rpc.ok("eth_getCode", json!([contract, "latest"]));
    assert_eq!(code, json!(format!("0x{}", hex::encode(echo_runtime()))));
    assert_eq!(rpc.ok("eth_getTransactionCount", json!([me, "latest"])), "0x1");

    // eth_call returns the output; a revert is code 3 with the reason and the revert data.
    let word = format!("0x{}", "ab".repeat(32));
    let out = rpc.ok("eth_call", json!([{"to": contract, "data": word}, "latest"]));
    assert_eq!(out, json!(word));
    let reverted = rpc.call("eth_call", json!([{"to": contract, "data": "0x"}, "latest"]));
    assert_eq!(reverted["error"]["code"], 3, "{reverted}");
    assert_eq!(reverted["error"]["message"], "execution reverted: nope");
    assert!(reverted["error"]["data"].as_str().unwrap().starts_with("0x08c379a0"));
    let estimate = rpc.ok("eth_estimateGas", json!([{"from": me, "to": contract, "data": word}]));
    let estimate =
        u64::from_str_radix(estimate.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!((21_000..200_000).contains(&estimate), "{estimate}");

    // A legacy (EIP-155) call that logs; then find the log by address and by topic.
    let input = hex::decode(&word[2..]).unwrap();
    let legacy = alloy_consensus::TxLegacy {
        gas_limit: estimate,
        ..consortia_test_utils::tx::legacy(chain_id, 1, TxKind::Call(expected), input)
    };
    let filter = rpc.ok("eth_newFilter", json!([{"address": contract}]));
    let blocks = rpc.ok("eth_newBlockFilter", json!([]));
    let call_hash = rpc.send(&EthTx::sign(legacy, &key).unwrap());
    let receipt = rpc.receipt(&call_hash);
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["logs"][0]["data"], json!(word));
    let topic = format!("0x{:064x}", ECHO_TOPIC);
    let height = receipt["blockNumber"].clone();
    for filter in [
        json!({"fromBlock": "0x0", "toBlock": "latest", "address": contract}),
        json!({"fromBlock": height, "toBlock": height, "topics": [topic]}),
        json!({"blockHash": receipt["blockHash"], "topics": [[topic, format!("0x{}", "00".repeat(32))]]}),
    ] {
        let logs = rpc.ok("eth_getLogs", json!([filter]));
        assert_eq!(logs.as_array().unwrap().len(), 1, "{filter}: {logs}");
        assert_eq!(logs[0]["transactionHash"], json!(call_hash));
    }
    let none = rpc.ok(
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "topics": [format!("0x{}", "11".repeat(32))]}]),
    );
    assert_eq!(none, json!([]));
    let changes = rpc.ok("eth_getFilterChanges", json!([filter]));
    assert_eq!(changes.as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(
        rpc.ok("eth_getFilterChanges", json!([filter])),
        json!([]),
        "changes are given once"
    );
    assert!(!rpc.ok("eth_getFilterChanges", json!([blocks])).as_array().unwrap().is_empty());
    assert_eq!(rpc.ok("eth_uninstallFilter", json!([filter])), json!(true));
    assert_eq!(rpc.call("eth_getFilterChanges", json!([filter]))["error"]["code"], -32000);

    // The transaction and its block, as web3 clients read them.
    let tx = rpc.ok("eth_getTransactionByHash", json!([call_hash]));
    assert_eq!((tx["from"].as_str().unwrap(), tx["type"].as_str().unwrap()), (me.as_str(), "0x0"));
    assert_eq!(
        tx["v"],
        json!(format!("{:#x}", chain_id * 2 + 35 + u64::from(tx["yParity"] == "0x1")))
    );
    let block = rpc.ok("eth_getBlockByHash", json!([receipt["blockHash"], true]));
    assert_eq!(block["transactions"][0]["hash"], json!(call_hash));
    let count = rpc.ok("eth_getBlockTransactionCountByNumber", json!([height]));
    assert_eq!(count, "0x1");
    // State at an earlier block: no code before the deployment's block.
    assert_eq!(rpc.ok("eth_getCode", json!([contract, "0x0"])), "0x");
    assert_eq!(
        rpc.ok("eth_getStorageAt", json!([contract, "0x0", "latest"])),
        json!(word),
        "slot 0 holds the last value"
    );

    // Bad input gets the standard errors, and the node goes on.
    assert_eq!(rpc.raw("{not json")["error"]["code"], -32700);
    assert_eq!(rpc.raw("[]")["error"]["code"], -32600);
    assert_eq!(rpc.raw("42")["error"]["code"], -32600);
    assert_eq!(rpc.call("eth_noSuchMethod", json!([]))["error"]["code"], -32601);
    assert_eq!(rpc.call("eth_getBalance", json!(["0x12"]))["error"]["code"], -32602);
    assert_eq!(rpc.call("eth_getBalance", json!([]))["error"]["code"], -32602);
    let batch: Vec<Value> =
        (0..101).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId"})).collect();
    assert_eq!(rpc.raw(&Value::Array(batch).to_string())["error"]["code"], -32600);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
    ]);
    let answers = rpc.raw(&batch.to_string());
    assert_eq!(answers.as_array().unwrap().len(), 2, "a notification gets no answer: {answers}");
    assert_eq!(answers[1]["error"]["code"], -32601);
    let replay =
        rpc.call("eth_sendRawTransaction", json!([format!("0x{}", hex::encode(deploy.raw()))]));
    assert!(replay["error"]["message"].as_str().unwrap().starts_with("nonce too low"), "{replay}");
    let garbage = rpc.call("eth_sendRawTransaction", json!(["0x02deadbeef"]));
    assert_eq!(garbage["error"]["code"], -32602);
    let gap = EthTx::sign(eip1559(chain_id, 50_000, TxKind::Create, vec![]), &key).unwrap();
    let gap = rpc.call("eth_sendRawTransaction", json!([format!("0x{}", hex::encode(gap.raw()))]));
    assert_eq!(gap["error"]["code"], -32000, "{gap}");
    let other_chain = EthTx::sign(eip1559(chain_id + 1, 2, TxKind::Create, vec![]), &key).unwrap();
    let other = rpc
        .call("eth_sendRawTransaction", json!([format!("0x{}", hex::encode(other_chain.raw()))]));
    assert!(other["error"]["message"].as_str().unwrap().starts_with("invalid chain id"), "{other}");
    // Still serving, at the root path too.
    let root = Rpc { url: format!("{}/", node.url), client: http() };
    assert_eq!(root.ok("eth_chainId", json!([])), json!(format!("{chain_id:#x}")));
}

/// A JSON-RPC client over `/ws` that keeps the notifications it reads while waiting for
/// answers.
struct Ws {
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    notifications: Vec<Value>,
}

impl Ws {
    fn connect(http_url: &str) -> Ws {
        let host = http_url.trim_start_matches("http://");
        let stream = std::net::TcpStream::connect(host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (socket, _) = tungstenite::client(format!("ws://{host}/ws"), stream).unwrap();
        Ws { socket, next_id: 0, notifications: vec![] }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().unwrap() {
                tungstenite::Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Sends `text` and returns the first answer (not a notification).
    fn raw(&mut self, text: &str) -> Value {
        self.socket.send(tungstenite::Message::text(text)).unwrap();
        loop {
            let v = self.read();
            if v["method"] == "eth_subscription" {
                self.notifications.push(v);
            } else {
                return v;
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let answer = self.raw(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// The next notification of `subscription` (read earlier or now).
    fn notification(&mut self, subscription: &Value) -> Value {
        let of = |n: &Value| n["params"]["subscription"] == *subscription;
        if let Some(i) = self.notifications.iter().position(of) {
            return self.notifications.remove(i)["params"]["result"].clone();
        }
        loop {
            let v = self.read();
            if of(&v) {
                return v["params"]["result"].clone();
            }
            self.notifications.push(v);
        }
    }
}

#[test]
fn websocket_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    let chain_id = node.chain_id();
    let rpc = Rpc { url: format!("{}/rpc", node.url), client: http() };
    let key = PrivateKey::generate(Scheme::Secp256k1);
    let deploy =
        EthTx::sign(eip1559(chain_id, 0, TxKind::Create, init_code(&echo_runtime())), &key)
            .unwrap();
    let receipt = rpc.receipt(&rpc.send(&deploy));
    let contract = receipt["contractAddress"].clone();

    // Subscriptions need the WebSocket; over HTTP they are an unknown method.
    let over_http = rpc.call("eth_subscribe", json!(["newHeads"]));
    assert_eq!(over_http["error"]["code"], -32601, "{over_http}");
    assert!(over_http["error"]["message"].as_str().unwrap().contains("/ws"));

    let mut ws = Ws::connect(&node.url);
    // Every HTTP method works over the socket too.
    assert_eq!(ws.ok("eth_chainId", json!([])), json!(format!("{chain_id:#x}")));
    let heads = ws.ok("eth_subscribe", json!(["newHeads"]));
    let logs = ws.ok(
        "eth_subscribe",
        json!(["logs", {"address": contract, "topics": [format!("0x{:064x}", ECHO_TOPIC)]}]),
    );
    let other_logs =
        ws.ok("eth_subscribe", json!(["logs", {"address": format!("0x{}", "11".repeat(20))}]));
    let pending = ws.ok("eth_subscribe", json!(["newPendingTransactions"]));
    assert_eq!(heads.as_str().unwrap().len(), 34, "geth-style 16-byte ids: {heads}");

    let word = format!("0x{}", "cd".repeat(32));
    let call = EthTx::sign(
        eip1559(
            chain_id,
            1,
            TxKind::Call(alloy_primitives::Address::from_slice(
                &hex::decode(&contract.as_str().unwrap()[2..]).unwrap(),
            )),
            hex::decode(&word[2..]).unwrap(),
        ),
        &key,
    )
    .unwrap();
    let call_hash = rpc.send(&call);
    assert_eq!(ws.notification(&pending), json!(call_hash), "the admitted transaction's hash");
    let log = ws.notification(&logs);
    assert_eq!(log["transactionHash"], json!(call_hash), "{log}");
    assert_eq!(log["data"], json!(word));
    let mined = rpc.receipt(&call_hash);
    // Heads arrive in order; the one of the call's block carries its number and hash.
    let head = loop {
        let head = ws.notification(&heads);
        assert!(head.get("transactions").is_none(), "a head carries no body: {head}");
        if head["number"] == mined["blockNumber"] {
            break head;
        }
    };
    assert_eq!(head["hash"], mined["blockHash"]);
    assert!(head["logsBloom"].as_str().unwrap().len() == 2 + 512);

    // Unsubscribing stops notifications; the filter for another address never matched.
    assert_eq!(ws.ok("eth_unsubscribe", json!([logs])), json!(true));
    assert_eq!(ws.ok("eth_unsubscribe", json!([logs])), json!(false));
    assert!(ws.notifications.iter().all(|n| n["params"]["subscription"] != other_logs));

    // Bad input gets the standard errors and the connection goes on.
    assert_eq!(ws.raw("{not json")["error"]["code"], -32700);
    assert_eq!(ws.call("eth_subscribe", json!(["syncing2"]))["error"]["code"], -32602);
    assert_eq!(ws.call("eth_subscribe", json!([7]))["error"]["code"], -32602);
    assert_eq!(ws.call("eth_subscribe", json!(["logs", {"topics": 5}]))["error"]["code"], -32602);
    let batch = ws.raw(
        &json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"},
        ])
        .to_string(),
    );
    assert_eq!(batch.as_array().unwrap().len(), 2, "{batch}");
    let mut taken = 4; // heads, other_logs, pending, and the batch's
    while taken < consortia_rpc::eth::MAX_SUBSCRIPTIONS {
        ws.ok("eth_subscribe", json!(["newHeads"]));
        taken += 1;
    }
    let over = ws.call("eth_subscribe", json!(["newHeads"]));
    assert_eq!(over["error"]["code"], -32000, "{over}");
    assert!(ws.ok("eth_blockNumber", json!([])).is_string());
}

/// Many clients sending JSON-RPC batches of raw transactions at once: each batch is admitted
/// together, and the node keeps committing (it once deadlocked when as many batches as the
/// runtime has blocking threads each waited for an admission task).
#[test]
fn concurrent_raw_transaction_batches_are_all_committed() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path(), &[]);
    let chain_id = node.chain_id();
    let url = format!("{}/rpc", node.url);
    let clients = 16;
    let per_client = 20u64;
    let hashes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let url = url.clone();
                scope.spawn(move || {
                    let key = PrivateKey::generate(Scheme::Secp256k1);
                    let to = TxKind::Call(alloy_primitives::Address::repeat_byte(7));
                    let txs: Vec<EthTx> = (0..per_client)
                        .map(|n| EthTx::sign(eip1559(chain_id, n, to, vec![]), &key).unwrap())
                        .collect();
                    let batch: Vec<Value> = txs
                        .iter()
                        .enumerate()
                        .map(|(id, tx)| {
                            json!({"jsonrpc": "2.0", "id": id, "method": "eth_sendRawTransaction",
                                   "params": [format!("0x{}", hex::encode(tx.raw()))]})
                        })
                        .collect();
                    let rpc = Rpc { url, client: http() };
                    let answers = rpc.raw(&Value::Array(batch).to_string());
                    let answers = answers.as_array().unwrap();
                    assert_eq!(answers.len(), per_client as usize);
                    answers
                        .iter()
                        .map(|a| {
                            assert!(a.get("error").is_none(), "{a}");
                            a["result"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let rpc = Rpc { url, client: http() };
    for h in &hashes {
        assert_eq!(rpc.receipt(h)["status"], "0x1");
    }
    assert_eq!(hashes.len(), clients * per_client as usize);
}
