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
