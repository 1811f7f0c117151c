//! The REST handlers in-process (router + in-memory store): each route's success shape and its
//! error answers.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestNode, hex0x};
use consortia_crypto::HashAlgorithm;
use consortia_types::encode;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn status_names_the_chain_and_its_height() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("s-1", b"status");
    let height = t.commit(&[tx]).await;
    let (status, body) = t.get("/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["chain_id"], common::CHAIN_ID);
    assert_eq!(body["suite"], "standard");
    assert!(body["height"].as_u64().unwrap() >= height, "{body}");
    assert_eq!((&body["first_block"], &body["archived_blocks"]), (&json!(1), &json!(0)));
}

#[tokio::test]
async fn a_submitted_transaction_is_pending_then_committed_with_its_receipt() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("r-1", b"receipt");
    let (status, body) = t.post("/v1/transactions", json!({"tx": hex0x(&encode(&tx))})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let hash = body["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash, tx.hash(HashAlgorithm::Sha256).to_hex());
    let height = t.commit(&[tx]).await;
    let (status, body) = t.get(&format!("/v1/transactions/{hash}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "committed", "{body}");
    assert!(body["height"].as_u64().unwrap() <= height);
    assert_eq!(body["receipt"]["status"], "success", "{body}");
}

#[tokio::test]
async fn a_binary_submission_is_accepted_like_hex() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("b-1", b"binary");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/transactions")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(encode(&tx)))
        .unwrap();
    let (status, body) = t.send(request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn malformed_and_badly_signed_transactions_get_their_own_codes() {
    let mut t = TestNode::start().await;
    let (status, body) = t.post("/v1/transactions", json!({"tx": "0xzz"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_tx")));
    let (status, body) = t.post("/v1/transactions", json!({"tx": "0x0102"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_tx")));
    let mut raw = encode(&t.notarization("x", b"x"));
    let last = raw.len() - 1;
    raw[last] ^= 1; // the signature's last byte
    let (status, body) = t.post("/v1/transactions", json!({"tx": hex0x(&raw)})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_signature")));
    let (status, body) = t.post("/v1/transactions", json!({"nope": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().is_some(), "{body}");
}

#[tokio::test]
async fn a_used_nonce_is_a_conflict() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("n-1", b"nonce");
    t.commit(std::slice::from_ref(&tx)).await;
    let (status, body) = t.post("/v1/transactions", json!({"tx": hex0x(&encode(&tx))})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("nonce_too_low")));
}

#[tokio::test]
async fn a_batch_answers_each_transaction_in_order() {
    let mut t = TestNode::start().await;
    let good = hex0x(&encode(&t.notarization("batch-1", b"1")));
    let (status, body) = t.post("/v1/transactions/batch", json!({"txs": [good, "0xzz"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1);
    assert!(body["results"][0]["hash"].is_string());
    assert_eq!(body["results"][1]["error"]["code"], "malformed_tx");
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_whole() {
    let t = TestNode::start().await;
    let txs = vec!["0x00"; consortia_rpc::MAX_BATCH + 1];
    let (status, body) = t.post("/v1/transactions/batch", json!({ "txs": txs })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("batch_too_large")));
}

#[tokio::test]
async fn unknown_and_malformed_transaction_hashes_are_told_apart() {
    let t = TestNode::start().await;
    let (status, body) = t.get(&format!("/v1/transactions/0x{}", "ab".repeat(32))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = t.get("/v1/transactions/0x1234").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_hash")));
}

#[tokio::test]
async fn blocks_by_height_latest_and_beyond_the_head() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("blk", b"block");
    let height = t.commit(&[tx]).await;
    let (status, block) = t.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(block["height"], height);
    assert!(block["certificate"].is_object(), "{block}");
    let (status, latest) = t.get("/v1/blocks/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert!(latest["height"].as_u64().unwrap() >= height);
    let (status, body) = t.get("/v1/blocks/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = t.get("/v1/blocks/minus-one").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn blocks_by_time_are_ordered_and_bounded() {
    let mut t = TestNode::start().await;
    for i in 0..3 {
        let tx = t.notarization(&format!("time-{i}"), b"t");
        t.commit(&[tx]).await;
    }
    let (status, body) = t.get("/v1/blocks?from_time=0&to_time=99999999999999&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert!(blocks[0]["time_ms"].as_u64() <= blocks[1]["time_ms"].as_u64());
    let (status, body) = t.get("/v1/blocks?from_time=10&to_time=5").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")));
}

#[tokio::test]
async fn the_latest_blocks_page_down_by_height_without_gaps() {
    let mut t = TestNode::start().await;
    for i in 0..4 {
        let tx = t.notarization(&format!("page-{i}"), b"p");
        t.commit(&[tx]).await;
    }
    let (_, head) = t.get("/v1/blocks/latest").await;
    let top = head["height"].as_u64().unwrap();
    let mut seen = vec![];
    let mut before = top + 100; // past the head: the page starts at the head
    loop {
        let (status, body) = t.get(&format!("/v1/blocks?before_height={before}&limit=2")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let heights: Vec<u64> = body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["height"].as_u64().unwrap())
            .collect();
        let Some(&lowest) = heights.last() else { break };
        seen.extend(heights);
        before = lowest;
    }
    assert_eq!(seen, (0..=top).rev().collect::<Vec<_>>(), "every block once, newest first");
    let (status, body) = t.get("/v1/blocks?before_height=3&from_time=0").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_query")));
}

#[tokio::test]
async fn totals_count_every_block_transaction_and_account_once() {
    let mut t = TestNode::start().await;
    let (_, before) = t.get("/v1/stats/totals").await;
    let first = t.notarization("total-1", b"t");
    let second = t.notarization("total-2", b"t");
    t.commit(&[first]).await;
    t.commit(&[second]).await;
    let (status, after) = t.get("/v1/stats/totals").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let grew = |field: &str| after[field].as_u64().unwrap() - before[field].as_u64().unwrap();
    assert_eq!(grew("transactions"), 2, "{before} {after}");
    assert!(grew("blocks") >= 2, "{before} {after}");
    // The notary contract, once however often it is called; the sender was counted at the
    // genesis, which funded it.
    assert_eq!(grew("accounts"), 1, "{before} {after}");
    assert!(before["accounts"].as_u64() > Some(0), "the genesis funds accounts: {before}");
}

#[tokio::test]
async fn a_state_proof_verifies_against_the_block_state_root() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("proof", b"proof");
    let height = t.commit(&[tx]).await;
    let (status, body) = t.get(&format!("/v1/state/some-key?height={height}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, block) = t.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(body["state_root"], block["state_root"]);
    assert!(body["value"].is_null(), "an absent key proves absence: {body}");
    let (status, _) = t.get("/v1/state/some-key?height=999999").await;
    assert!(status.is_client_error(), "{status}");
}

#[tokio::test]
async fn a_notarization_is_found_by_id_and_by_content_hash() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("doc-7", b"the document");
    t.commit(&[tx]).await;
    let (status, record) = t.get("/v1/notary/records/doc-7").await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let content_hash = HashAlgorithm::Sha256.digest(b"the document").to_hex();
    assert_eq!(record["content_hash"], content_hash);
    let (status, body) = t.get(&format!("/v1/notary/by-hash/{content_hash}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["records"][0]["id"], "doc-7");
    let (status, _) = t.get("/v1/notary/records/no-such-record").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_account_shows_its_nonce_and_balance() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("acct", b"a");
    t.commit(&[tx]).await;
    let (status, body) = t.get(&format!("/v1/accounts/{}", t.address())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nonce"], 1);
    assert_eq!(body["contract"], false);
    let (status, body) = t.get("/v1/accounts/not-an-address").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_address")));
}

#[tokio::test]
async fn the_explorer_lists_recent_transactions_newest_first_and_pages() {
    let mut t = TestNode::start().await;
    for i in 0..3 {
        let tx = t.notarization(&format!("ex-{i}"), b"e");
        t.commit(&[tx]).await;
    }
    let (status, page) = t.get("/v1/transactions?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let txs = page["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    assert!(txs[0]["height"].as_u64() >= txs[1]["height"].as_u64());
    let next = page["next"].as_str().unwrap();
    let (_, rest) = t.get(&format!("/v1/transactions?limit=2&before={next}")).await;
    assert_eq!(rest["transactions"].as_array().unwrap().len(), 1, "{rest}");
    let (status, mine) = t.get(&format!("/v1/addresses/{}/transactions", t.address())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["transactions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn volume_counts_what_was_committed() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("vol", b"v");
    t.commit(&[tx]).await;
    let (status, body) = t.get("/v1/stats/volume?bucket=minute").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let txs: u64 =
        body["buckets"].as_array().unwrap().iter().map(|b| b["txs"].as_u64().unwrap()).sum();
    assert!(txs >= 1, "{body}");
    let (status, _) = t.get("/v1/stats/volume?bucket=fortnight").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let t = TestNode::start().await;
    let (status, body) = t.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["code"].is_string(), "{body}");
    let (status, body) = t.request(Method::DELETE, "/v1/status", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["code"].is_string(), "{body}");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let t = TestNode::start().await;
    let (status, body) = t.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("# TYPE"), "{body}");
}

#[tokio::test]
async fn a_body_not_declared_json_is_refused_with_415() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("plain", b"x");
    let body = json!({"tx": hex0x(&encode(&tx))}).to_string();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/transactions")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body))
        .unwrap();
    let (status, answer) = t.send(request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["code"], "unsupported_media_type");
}

/// A large body (over 1 MiB) waits while another is being read, so eight 60 MB batches at
/// once hold one in memory, not eight; small requests do not wait.
#[tokio::test]
async fn large_bodies_are_read_one_at_a_time_and_small_ones_pass() {
    let t = TestNode::start().await;
    let large = 2 * 1024 * 1024;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let slow = Request::post("/v1/transactions/batch")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, large)
        .body(Body::from_stream(Chunks(rx)))
        .unwrap();
    let first = {
        let t = t.clone_router();
        tokio::spawn(async move { t.oneshot(slow).await.unwrap().status() })
    };
    tx.send(Ok(vec![b' '; 1024])).await.unwrap();
    let garbage = || {
        Request::post("/v1/transactions/batch")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b'x'; large]))
            .unwrap()
    };
    let second = {
        let t = t.clone_router();
        let request = garbage();
        tokio::spawn(async move { t.oneshot(request).await.unwrap().status() })
    };
    let (status, _) = t.post("/v1/transactions/batch", json!({"txs": []})).await;
    assert_eq!(status, StatusCode::OK, "a small batch does not wait");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "a second large body was read beside the first");
    tx.send(Ok(vec![b'x'; large - 1024])).await.unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap(), StatusCode::BAD_REQUEST);
    assert_eq!(second.await.unwrap(), StatusCode::BAD_REQUEST, "then its turn came");
}

/// The receiving end of a channel as a body stream.
struct Chunks(tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn a_pruned_block_and_its_transaction_answer_410_pruned() {
    let mut t = TestNode::start().await;
    let tx = t.notarization("gone", b"pruned");
    let height = t.commit(std::slice::from_ref(&tx)).await;
    let later = t.notarization("kept", b"kept");
    let kept = t.commit(&[later]).await;
    t.store.as_ref().expect("a node in memory").prune(kept).unwrap();
    let (status, body) = t.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "pruned");
    assert!(body["message"].as_str().unwrap().contains(&format!("keeps blocks from {kept}")));
    let hash = hex0x(&tx.hash(HashAlgorithm::Sha256).0);
    let (status, body) = t.get(&format!("/v1/transactions/{hash}")).await;
    assert_eq!((status, &body["code"]), (StatusCode::GONE, &json!("pruned")), "{body}");
    let (status, _) = t.get(&format!("/v1/blocks/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = t.get("/v1/status").await;
    assert_eq!(body["first_block"], kept, "{body}");
}
