//! Archiving the demo chain: only an administrator of the organization whose nodes run on it
//! may; its nodes stop and leave their host; nothing reads, starts or alerts on it after.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod demo;

use std::time::Duration;

use consortia_api::PlatformClient;
use consortia_api::platform::*;
use demo::Demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_chain_has_no_nodes_running_and_answers_no_reads() {
    let demo = Demo::up().await;
    let chain = demo.admin.chains().await.unwrap().remove(0);
    let org = chain.orgs[0].clone();

    // An operator runs nodes; taking the chain out of service is an administrator's.
    let user =
        CreateUserRequest { username: "olga".into(), password: "correct horse battery".into() };
    demo.admin.create_user(&user).await.unwrap();
    let member = AddMemberRequest { username: "olga".into(), role: Role::Operator };
    demo.admin.add_member(&org, &member).await.unwrap();
    let olga = PlatformClient::new(&demo.console);
    olga.login("olga", "correct horse battery").await.unwrap();
    let err = olga.archive_chain(&chain.id).await.unwrap_err().to_string();
    assert!(err.contains("chain:delete"), "{err}");
    assert_eq!(demo.admin.chain(&chain.id).await.unwrap().status, ChainStatus::Running);

    let archived = demo.admin.archive_chain(&chain.id).await.unwrap();
    assert_eq!(archived.status, ChainStatus::Archived);
    // Its nodes are gone from the host: nothing answers on their ports.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    for node in &archived.nodes {
        let url = format!("{}/v1/status", node.http_url.as_deref().unwrap());
        assert!(client.get(&url).send().await.is_err(), "{} still answers", node.name);
    }
    // Nothing reads it, starts it, or archives it again; each refusal says why.
    let read = demo.admin.chain_metrics(&chain.id).await.unwrap_err().to_string();
    assert!(read.contains("archived"), "{read}");
    let start = demo.admin.start_chain(&chain.id, true).await.unwrap_err().to_string();
    assert!(start.contains("archived"), "{start}");
    let again = demo.admin.archive_chain(&chain.id).await.unwrap_err().to_string();
    assert!(again.contains("archived already"), "{again}");
    // Its stopped nodes raise no alert: the platform watches running chains only.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let alerts = demo.admin.alerts(&chain.id, &AlertQuery::default()).await.unwrap();
    assert!(alerts.is_empty(), "{alerts:?}");
}
