//! The logs of the demo chain's nodes through the platform: the nodes it runs log JSON, which
//! it reads into entries (time, level, target, fields), searches across the chain's nodes, and
//! follows as Server-Sent Events.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;

use std::collections::BTreeSet;
use std::time::Duration;

use consortia_api::platform::{ChainView, LogEntry, LogLevel, LogQuery};
use demo::Demo;

async fn demo_chain() -> (Demo, ChainView) {
    let demo = Demo::up().await;
    let chain = demo.admin.chains().await.unwrap().remove(0);
    (demo, chain)
}

fn nodes_of(entries: &[LogEntry]) -> BTreeSet<String> {
    entries.iter().map(|e| e.node.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chains_logs_are_read_as_entries_and_searched_across_its_nodes() {
    let (demo, chain) = demo_chain().await;
    let all = LogQuery { lines: Some(1_000), ..Default::default() };
    let entries = demo.admin.chain_logs(&chain.id, &all).await.unwrap();
    // Every node's JSON lines come with their time, level and module, in time order.
    assert_eq!(nodes_of(&entries).len(), 4, "{:?}", nodes_of(&entries));
    let leveled: Vec<&LogEntry> = entries.iter().filter(|e| e.level.is_some()).collect();
    assert!(leveled.len() > 8, "{entries:?}");
    assert!(leveled.iter().all(|e| e.time_ms.is_some() && e.target.is_some()), "{leveled:?}");
    assert!(entries.windows(2).all(|w| w[0].time_ms <= w[1].time_ms), "merged in time order");
    assert!(entries.iter().all(|e| !e.message.contains('\u{1b}')), "no colour codes");
    // Fields stay structured: a peer connected names its peer.
    let connected = LogQuery { q: Some("PEER CONNECTED".into()), ..all.clone() };
    let found = demo.admin.chain_logs(&chain.id, &connected).await.unwrap();
    assert_eq!(nodes_of(&found).len(), 4, "every node connected to its peers: {found:?}");
    assert!(found.iter().all(|e| e.message == "peer connected" && e.fields.contains_key("peer")));

    // A search by level keeps that level and worse; by node, that node; by time, that range.
    let warnings = LogQuery { level: Some(LogLevel::Warn), ..all.clone() };
    let worse = demo.admin.chain_logs(&chain.id, &warnings).await.unwrap();
    assert!(worse.iter().all(|e| e.level.is_some_and(|l| l.at_least(LogLevel::Warn))), "{worse:?}");
    let one = LogQuery { node: Some("node-1".into()), ..all.clone() };
    let node1 = demo.admin.chain_logs(&chain.id, &one).await.unwrap();
    assert_eq!(nodes_of(&node1).into_iter().collect::<Vec<_>>(), ["node-1"]);
    assert_eq!(demo.admin.node_logs(&chain.id, "node-1", &all).await.unwrap(), node1);
    let middle = leveled[leveled.len() / 2].time_ms.unwrap();
    let later = LogQuery { since_ms: Some(middle), ..all.clone() };
    let since = demo.admin.chain_logs(&chain.id, &later).await.unwrap();
    assert!(!since.is_empty() && since.len() < entries.len());
    assert!(since.iter().all(|e| e.time_ms.unwrap() >= middle));
    // The last lines only.
    let two = LogQuery { lines: Some(2), ..Default::default() };
    assert_eq!(demo.admin.chain_logs(&chain.id, &two).await.unwrap().len(), 2);

    // An unknown node is a 404 that names it.
    let unknown = LogQuery { node: Some("node-9".into()), ..all };
    let err = demo.admin.chain_logs(&chain.id, &unknown).await.unwrap_err().to_string();
    assert!(err.contains("node-9"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_chains_logs_streams_what_a_restarted_node_writes() {
    let (demo, chain) = demo_chain().await;
    let Some(consortia_api::Credentials::Tokens { access_token, .. }) = demo.admin.credentials()
    else {
        panic!("logged in with tokens")
    };
    let url = format!("{}/v1/chains/{}/logs/stream?node=node-2", demo.console, chain.id);
    let mut stream =
        reqwest::Client::new().get(&url).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    demo.admin.restart_node(&chain.id, "node-2").await.unwrap();
    // The stream starts from now: the stop and the start that follow, from node-2 alone.
    let (mut text, mut seen) = (String::new(), vec![]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|e: &LogEntry| e.message.contains("peer connected")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await;
        let chunk = chunk.unwrap_or_else(|_| panic!("no reconnection within 60 s: {seen:?}"));
        let chunk = chunk.unwrap().expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                seen.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    assert!(seen.iter().all(|e| e.node == "node-2"), "{seen:?}");
    assert!(seen.iter().any(|e| e.message == "shutting down"), "{seen:?}");
    let times: Vec<u64> = seen.iter().filter_map(|e| e.time_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in the order written: {times:?}");
}
