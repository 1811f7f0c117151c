//! The README's CLI commands, against a `consortia dev` node.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use consortia_test_utils::process::{BIN, DevNode, consortia};

/// The README's commands, as a newcomer types them (against a node on a free port).
#[test]
fn readme_cli_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("chain"), &[]);
    let run = |args: &[&str]| consortia(args, &[("CONSORTIA_NODE", &node.url)]);
    let key = dir.path().join("alice.pem");
    let key = key.to_str().unwrap();
    let keygen = run(&["keygen", "--scheme", "ed25519", "--out", key]);
    assert!(keygen.contains("address:"), "{keygen}");
    // Never overwrites a key.
    let again = std::process::Command::new(&*BIN).args(["keygen", "--out", key]).output().unwrap();
    assert!(!again.status.success());

    let file = dir.path().join("contract.pdf");
    std::fs::write(&file, vec![7u8; 3 << 20]).unwrap();
    let receipt = run(&[
        "tx",
        "notarize",
        "--key",
        key,
        "--id",
        "contract-42",
        "--field",
        "buyer=org2",
        "--field",
        "seller=org1",
        "--file",
        file.to_str().unwrap(),
    ]);
    let receipt: serde_json::Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(receipt["status"], "committed");
    assert_eq!(receipt["receipt"]["status"], "success");
    let expected = consortia_crypto::HashAlgorithm::Sha256.digest(&vec![7u8; 3 << 20]);
    assert_eq!(receipt["transaction"]["payload"]["content_hash"], expected.to_hex());
    assert_eq!(receipt["transaction"]["payload"]["fields"]["buyer"], "org2");

    // The same id again: committed, but failed (write-once), and the command says so.
    let dup = std::process::Command::new(&*BIN)
        .args([
            "tx",
            "notarize",
            "--key",
            key,
            "--id",
            "contract-42",
            "--content-hash",
            &expected.to_hex(),
        ])
        .env("CONSORTIA_NODE", &node.url)
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(
        String::from_utf8_lossy(&dup.stdout).contains("notary_id_taken"),
        "{}{}",
        String::from_utf8_lossy(&dup.stdout),
        String::from_utf8_lossy(&dup.stderr)
    );

    let status: serde_json::Value = serde_json::from_str(&run(&["status"])).unwrap();
    assert!(status["height"].as_u64().unwrap() >= 2);
    let latest: serde_json::Value =
        serde_json::from_str(&run(&["block", "get", "latest"])).unwrap();
    assert_eq!(latest["height"], status["height"]);
    let height = receipt["height"].as_u64().unwrap().to_string();
    let block: serde_json::Value = serde_json::from_str(&run(&["block", "get", &height])).unwrap();
    assert_eq!(block["tx_hashes"][0], receipt["hash"]);

    // A node that is not there: a clear error that says what to do.
    let down = std::process::Command::new(&*BIN)
        .args(["status", "--node", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("is it running?"));
}
