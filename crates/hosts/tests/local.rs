//! The local process driver with real processes (`/bin/sh` stands in for `consortia node`):
//! files, start, logs, stop, restart with backoff after a crash, adoption by a new driver
//! (a platform restart) while the node keeps running, and refusals.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use consortia_hosts::local::LocalDriver;
use consortia_hosts::process::cmdline;
use consortia_hosts::{HostDriver, HostError, NodeSpec, NodeStatus};

fn sh(name: &str, script: &str) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        group: "chain".into(),
        org: "org".into(),
        address: None,
        args: vec!["-c".into(), script.into()],
        env: vec![("GREETING".into(), "hello".into())],
        files: vec![("conf/node.toml".into(), b"x = 1\n".to_vec())],
        resources: Default::default(),
        https: false,
    }
}

async fn wait_for(
    driver: &LocalDriver,
    name: &str,
    what: impl Fn(&NodeStatus) -> bool,
) -> NodeStatus {
    for _ in 0..400 {
        let status = driver.status(name).await.unwrap();
        if what(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} never reached the state; last {:?}", driver.status(name).await);
}

fn pid_of(status: &NodeStatus) -> u32 {
    match status {
        NodeStatus::Running { pid, .. } => *pid,
        other => panic!("not running: {other:?}"),
    }
}

#[tokio::test]
async fn a_node_runs_logs_stops_and_outlives_its_driver() {
    let root = tempfile::tempdir().unwrap();
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    driver
        .create(sh("n1", "echo $GREETING from $(cat conf/node.toml); sleep 30; true"))
        .await
        .unwrap();
    assert_eq!(driver.status("n1").await.unwrap(), NodeStatus::Stopped);
    assert!(matches!(driver.create(sh("n1", "true")).await, Err(HostError::Exists(_))));
    driver.start("n1", &[]).await.unwrap();
    driver.start("n1", &[]).await.unwrap(); // starting a running node does nothing
    let pid = pid_of(&wait_for(&driver, "n1", |s| matches!(s, NodeStatus::Running { .. })).await);
    for _ in 0..100 {
        if !driver.logs("n1", 10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(driver.logs("n1", 10).await.unwrap(), ["hello from x = 1"]);

    // The platform goes away (the driver is dropped): the node keeps running, and a new driver
    // adopts it, stops it, and it is gone.
    drop(driver);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(cmdline(pid).is_some(), "the node outlives its driver");
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    assert_eq!(pid_of(&driver.status("n1").await.unwrap()), pid, "adopted");
    driver.stop("n1").await.unwrap();
    assert_eq!(driver.status("n1").await.unwrap(), NodeStatus::Stopped);
    assert!(cmdline(pid).is_none(), "stopped means gone");
    driver.remove("n1").await.unwrap();
    assert!(matches!(driver.status("n1").await, Err(HostError::UnknownNode(_))));
}

#[tokio::test]
async fn the_secret_environment_reaches_every_restart_but_never_the_disk() {
    let root = tempfile::tempdir().unwrap();
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    driver.create(sh("keyed", "echo key=$SECRET; exit 3")).await.unwrap();
    let secret = [("SECRET".to_owned(), "s3cr3t-value".to_owned())];
    driver.start("keyed", &secret).await.unwrap();
    wait_for(
        &driver,
        "keyed",
        |s| matches!(s, NodeStatus::Restarting { restarts, .. } if *restarts >= 2),
    )
    .await;
    let logs = driver.logs("keyed", 50).await.unwrap();
    let seen = logs.iter().filter(|l| *l == "key=s3cr3t-value").count();
    assert!(seen >= 2, "the first run and a restart: {logs:?}");
    driver.stop("keyed").await.unwrap();
    let mut stack = vec![root.path().to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().flatten().map(|e| e.path()));
        } else if path.file_name().is_some_and(|n| n != "node.log") {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("s3cr3t-value"), "{} holds the secret", path.display());
        }
    }
}

#[tokio::test]
async fn a_crashing_node_is_restarted_with_backoff_until_stopped() {
    let root = tempfile::tempdir().unwrap();
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    driver.create(sh("crashy", "echo run; exit 3")).await.unwrap();
    driver.start("crashy", &[]).await.unwrap();
    let status = wait_for(
        &driver,
        "crashy",
        |s| matches!(s, NodeStatus::Restarting { restarts, .. } if *restarts >= 2),
    )
    .await;
    let NodeStatus::Restarting { last_exit, .. } = status else { unreachable!() };
    assert!(last_exit.contains('3'), "{last_exit}");
    let logs = driver.logs("crashy", 50).await.unwrap();
    assert!(logs.iter().filter(|l| *l == "run").count() >= 2, "{logs:?}");
    assert!(
        logs.iter().any(|l| l.contains("starting it again in 2 s")),
        "backoff doubles: {logs:?}"
    );
    driver.stop("crashy").await.unwrap();
    assert_eq!(driver.status("crashy").await.unwrap(), NodeStatus::Stopped);
}

#[tokio::test]
async fn bad_names_paths_and_unknown_nodes_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    for name in ["", "a/b", "..", "x y"] {
        assert!(
            matches!(driver.create(sh(name, "true")).await, Err(HostError::BadName(_))),
            "{name}"
        );
    }
    let mut escape = sh("esc", "true");
    escape.files = vec![("../outside".into(), vec![])];
    assert!(driver.create(escape).await.is_err());
    assert!(!root.path().join("outside").exists());
    assert!(matches!(driver.start("ghost", &[]).await, Err(HostError::UnknownNode(_))));
    assert!(matches!(driver.stop("ghost").await, Err(HostError::UnknownNode(_))));
    assert!(matches!(driver.logs("ghost", 5).await, Err(HostError::UnknownNode(_))));
    // A program that cannot start is retried, with the reason shown.
    let missing =
        LocalDriver::open(root.path(), std::path::Path::new("/nonexistent/consortia")).unwrap();
    missing.create(sh("m", "true")).await.unwrap();
    missing.start("m", &[]).await.unwrap();
    let status = wait_for(&missing, "m", |s| matches!(s, NodeStatus::Restarting { .. })).await;
    assert!(format!("{status:?}").contains("cannot start"), "{status:?}");
    missing.stop("m").await.unwrap();
}

#[tokio::test]
async fn a_replaced_file_appears_whole_and_stays_in_the_spec() {
    let root = tempfile::tempdir().unwrap();
    let driver = LocalDriver::open(root.path(), std::path::Path::new("/bin/sh")).unwrap();
    driver.create(sh("r", "sleep 30")).await.unwrap();
    driver.replace_file("r", "conf/node.toml", b"x = 2\n".to_vec()).await.unwrap();
    let path = root.path().join("r/conf/node.toml");
    assert_eq!(std::fs::read(&path).unwrap(), b"x = 2\n");
    let spec = std::fs::read_to_string(root.path().join("r/spec.json")).unwrap();
    let spec: NodeSpec = serde_json::from_str(&spec).unwrap();
    assert_eq!(spec.files, vec![("conf/node.toml".to_owned(), b"x = 2\n".to_vec())]);
    assert!(driver.replace_file("r", "../escape", vec![]).await.is_err(), "outside its directory");
    assert!(driver.replace_file("ghost", "a", vec![]).await.is_err());
}
