//! `consortia sql` against a `consortia dev` node: a ledger table created, rows inserted and
//! read back with the command line, and changes to committed rows refused.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use consortia_test_utils::process::{BIN, DevNode, consortia};

#[test]
fn a_ledger_table_is_created_filled_and_queried_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("chain"), &[]);
    let run = |args: &[&str]| consortia(args, &[("CONSORTIA_NODE", &node.url)]);
    let key = dir.path().join("writer.pem");
    let key = key.to_str().unwrap();
    run(&["keygen", "--scheme", "ed25519", "--out", key]);

    let created = run(&[
        "sql",
        "--key",
        key,
        "CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, customer VARCHAR(32) NOT NULL, \
         amount DOUBLE, PRIMARY KEY (id), KEY by_customer (customer))",
    ]);
    assert!(created.contains("table `orders` created"), "{created}");
    let inserted = run(&[
        "sql",
        "--key",
        key,
        "INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('bob', 5.5), ('ann', 2.5)",
    ]);
    assert!(
        inserted.contains("3 row(s) inserted") && inserted.contains("first id 1"),
        "{inserted}"
    );

    let totals = run(&[
        "sql",
        "SELECT customer, SUM(amount) FROM orders GROUP BY customer ORDER BY customer",
    ]);
    assert_eq!(totals, "customer\tSUM(amount)\nann\t12.5\nbob\t5.5\n");
    let describe = run(&["sql", "DESCRIBE orders"]);
    assert!(describe.starts_with("id\tbigint unsigned\tNO\tPRI\tauto_increment\n"), "{describe}");
    assert_eq!(run(&["sql", "SHOW TABLES"]), "orders\t3 rows\n");

    for (statement, says) in [
        ("DELETE FROM orders WHERE id = 1", "ERROR 1290 (HY000)"),
        ("INSERT INTO orders (id, customer) VALUES (1, 'eve')", "duplicate entry"),
        ("INSERT INTO nope VALUES (1)", "ERROR 1146 (42S02)"),
    ] {
        let out = std::process::Command::new(&*BIN)
            .args(["sql", "--key", key, statement])
            .env("CONSORTIA_NODE", &node.url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{statement}: {stderr}");
    }
    assert_eq!(run(&["sql", "SELECT COUNT(*) FROM orders"]), "COUNT(*)\n3\n", "nothing changed");
}

/// A `consortia dev` node with a table of three orders (ids 1 to 3), and a run of the CLI
/// against it.
fn orders(dir: &std::path::Path) -> (DevNode, impl Fn(&[&str]) -> std::process::Output) {
    let node = DevNode::start(&dir.join("chain"), &[]);
    let url = node.url.clone();
    let run = move |args: &[&str]| {
        std::process::Command::new(&*BIN).args(args).env("CONSORTIA_NODE", &url).output().unwrap()
    };
    let key = dir.join("writer.pem");
    let key = key.to_str().unwrap();
    assert!(run(&["keygen", "--scheme", "ed25519", "--out", key]).status.success());
    for statement in [
        "CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, customer VARCHAR(32) \
         NOT NULL, amount DOUBLE, PRIMARY KEY (id))",
        "INSERT INTO orders (customer, amount) VALUES ('ann', 10), ('bob', 5.5), ('cy', 1)",
    ] {
        let out = run(&["sql", "--key", key, statement]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    (node, run)
}

/// `consortia sql verify` of the order with id `pk`, trusting `genesis`.
fn verify(
    run: &impl Fn(&[&str]) -> std::process::Output,
    genesis: &std::path::Path,
    pk: &str,
) -> std::process::Output {
    let genesis = genesis.to_str().unwrap();
    run(&["sql", "verify", "--genesis", genesis, "--table", "orders", "--pk", pk])
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_row_verifies_offline_from_the_genesis_validators() {
    let dir = tempfile::tempdir().unwrap();
    let (node, run) = orders(dir.path());
    let genesis = node.data_dir.join("genesis.json");
    let out = verify(&run, &genesis, "2");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("customer\tbob\namount\t5.5\n"), "{said}");
    assert!(said.contains("verified: the row is in the state of block"), "{said}");
    assert!(said.contains("the node's SQL projection holds the same row"), "{said}");
}

#[test]
fn a_row_absent_from_the_state_is_reported_proven_absent() {
    let dir = tempfile::tempdir().unwrap();
    let (node, run) = orders(dir.path());
    let genesis = node.data_dir.join("genesis.json");
    let out = verify(&run, &genesis, "9");
    assert!(!out.status.success() && text(&out).contains("proven absent"), "{}", text(&out));
}

#[test]
fn a_genesis_with_other_validators_does_not_verify_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (node, run) = orders(dir.path());
    // Another dev chain's validators, under this chain's id.
    let other = DevNode::start(&dir.path().join("other"), &[]);
    let ours: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(node.data_dir.join("genesis.json")).unwrap())
            .unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(other.data_dir.join("genesis.json")).unwrap(),
    )
    .unwrap();
    forged["chain_id"] = ours["chain_id"].clone();
    let path = dir.path().join("forged.json");
    std::fs::write(&path, forged.to_string()).unwrap();
    let out = verify(&run, &path, "2");
    assert!(!out.status.success() && text(&out).contains("not verified"), "{}", text(&out));
}

#[test]
fn a_row_edited_in_the_projection_is_caught_by_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let (node, run) = orders(dir.path());
    let projection = rusqlite::Connection::open(node.data_dir.join("ledger.sqlite")).unwrap();
    projection.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(projection.execute("UPDATE orders SET amount = 999 WHERE id = 2", []).unwrap(), 1);
    let genesis = node.data_dir.join("genesis.json");
    let out = verify(&run, &genesis, "2");
    let said = text(&out);
    assert!(said.contains("verified: the row is in the state"), "the proof holds: {said}");
    assert!(!out.status.success() && said.contains("projection differs"), "{said}");
}
