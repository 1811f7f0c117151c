//! The projection and the query engine over a real SQLite file, fed the state entries the
//! ledger contract writes (made here by hand: the state is a map at this seam).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;

use consortia_crypto::{Address, Hash, HashAlgorithm};
use consortia_execution::ledger::{self, StoredRow, StoredTable};
use consortia_sql::{Cell, Limits, Projection, QueryEngine, SqlError};
use consortia_storage::StateReader;
use consortia_test_utils::ledger::orders;
use consortia_types::encode;
use consortia_types::ledger::{SqlValue as V, TableSchema};

/// The chain's state, as far as the ledger goes.
#[derive(Default)]
struct State(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateReader for State {
    fn get(&self, key: &[u8]) -> consortia_storage::Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).cloned())
    }
}

fn schema(name: &str) -> TableSchema {
    TableSchema { name: name.into(), ..orders() }
}

/// Writes to `state` what the contract writes for creating `table` at `height`, and returns
/// the block's entries.
fn create(state: &mut State, table: &str, height: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let stored = StoredTable {
        schema: schema(table),
        creator: Address([1; 20]),
        tx_hash: Hash([height as u8; 32]),
        height,
        time_ms: height * 1000,
    };
    let mut names: Vec<String> = ledger::table_names(state).unwrap();
    names.push(table.into());
    let entries = vec![
        (ledger::TABLES_KEY.to_vec(), encode(&names)),
        (ledger::table_key(table), encode(&stored)),
    ];
    state.0.extend(entries.clone());
    entries
}

/// Writes to `state` what the contract writes for inserting `rows` (id, customer, amount).
fn insert(
    state: &mut State,
    table: &str,
    height: u64,
    rows: &[(u64, &str, f64)],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut entries = vec![];
    for (id, customer, amount) in rows {
        let row = StoredRow {
            values: vec![V::UInt(*id), V::Text((*customer).into()), V::Double(*amount)],
            signer: Address([2; 20]),
            tx_hash: Hash([height as u8; 32]),
            height,
        };
        entries.push((ledger::row_key(table, &[V::UInt(*id)]), encode(&row)));
    }
    let count = ledger::row_count(state, table).unwrap() + rows.len() as u64;
    entries.push((ledger::count_key(table), encode(&count)));
    state.0.extend(entries.clone());
    entries
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: State,
    projection: Projection,
    engine: QueryEngine,
}

/// `orders` with three rows and `refunds` with one, applied block by block.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::default();
    let mut projection =
        Projection::open(&dir.path().join("ledger.sqlite"), HashAlgorithm::Sha256).unwrap();
    let mut block1 = create(&mut state, "orders", 1);
    block1.extend(insert(&mut state, "orders", 1, &[(1, "ann", 10.0), (2, "bob", 5.5)]));
    projection.apply(1, &block1).unwrap();
    let mut block2 = create(&mut state, "refunds", 2);
    block2.extend(insert(&mut state, "orders", 2, &[(3, "ann", 2.5)]));
    block2.extend(insert(&mut state, "refunds", 2, &[(1, "ann", 1.0)]));
    projection.apply(2, &block2).unwrap();
    let engine = QueryEngine::new(projection.path());
    Fixture { _dir: dir, state, projection, engine }
}

fn query(f: &Fixture, sql: &str) -> Result<Vec<Vec<Cell>>, SqlError> {
    f.engine.query(sql, &[], Limits::default()).map(|r| r.rows)
}

/// Edits the projection's file behind its back, as someone with access to the disk could.
fn tamper(f: &Fixture, sql: &str) {
    rusqlite::Connection::open(f.projection.path()).unwrap().execute_batch(sql).unwrap();
}

#[test]
fn rows_a_block_wrote_are_queryable_with_their_system_columns() {
    let f = fixture();
    let rows = query(&f, "SELECT id, customer, _height, _signer FROM orders ORDER BY id").unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2][..3], [Cell::Integer(3), Cell::Text("ann".into()), Cell::Integer(2)]);
    assert_eq!(rows[0][3], Cell::Text(Address([2; 20]).to_checksum_hex()));
    assert_eq!(f.projection.height().unwrap(), 2);
}

#[test]
fn the_row_hash_is_the_hash_of_the_rows_state_entry() {
    let f = fixture();
    let rows = query(&f, "SELECT _row_hash FROM orders WHERE id = 1").unwrap();
    let entry = &f.state.0[&ledger::row_key("orders", &[V::UInt(1)])];
    assert_eq!(rows[0][0], Cell::Text(HashAlgorithm::Sha256.digest(entry).to_hex()));
}

#[test]
fn joins_and_aggregates_run_on_the_engine() {
    let f = fixture();
    let rows = query(
        &f,
        "SELECT o.customer, COUNT(*), SUM(o.amount) FROM orders o JOIN refunds r ON r.customer = o.customer GROUP BY o.customer",
    )
    .unwrap();
    assert_eq!(rows, vec![vec![Cell::Text("ann".into()), Cell::Integer(2), Cell::Real(12.5)]]);
}

#[test]
fn parameters_are_bound() {
    let f = fixture();
    let r = f
        .engine
        .query(
            "SELECT id FROM orders WHERE customer = ? ORDER BY id",
            &[Cell::Text("ann".into())],
            Limits::default(),
        )
        .unwrap();
    assert_eq!(r.rows, vec![vec![Cell::Integer(1)], vec![Cell::Integer(3)]]);
    assert_eq!(r.columns[0].decl_type.as_deref(), Some("BIGINT UNSIGNED"), "the MySQL type");
}

#[test]
fn a_block_applied_twice_is_applied_once() {
    let mut f = fixture();
    let again = insert(&mut State::default(), "orders", 2, &[(3, "ann", 2.5)]);
    f.projection.apply(2, &again).unwrap();
    assert_eq!(query(&f, "SELECT COUNT(*) FROM orders").unwrap()[0][0], Cell::Integer(3));
}

#[test]
fn a_faithful_projection_passes_the_check() {
    let f = fixture();
    f.projection.check(&f.state).unwrap();
}

#[test]
fn an_edited_row_is_caught() {
    let f = fixture();
    tamper(&f, "UPDATE orders SET amount = 1000 WHERE id = 2");
    let e = f.projection.check(&f.state).unwrap_err();
    assert!(matches!(&e, SqlError::Tampered(m) if m.contains("differs")), "{e}");
}

#[test]
fn a_deleted_row_is_caught() {
    let f = fixture();
    tamper(&f, "DELETE FROM orders WHERE id = 2");
    let e = f.projection.check(&f.state).unwrap_err();
    assert!(matches!(&e, SqlError::Tampered(m) if m.contains("2 rows, the chain 3")), "{e}");
}

#[test]
fn a_row_swapped_for_an_invented_one_is_caught() {
    let f = fixture();
    tamper(
        &f,
        "DELETE FROM orders WHERE id = 2; INSERT INTO orders SELECT 9, customer, amount, _tx, _height, _signer, _row_hash FROM orders WHERE id = 1",
    );
    let e = f.projection.check(&f.state).unwrap_err();
    assert!(matches!(&e, SqlError::Tampered(m) if m.contains("the chain does not")), "{e}");
}

#[test]
fn a_dropped_table_is_caught() {
    let f = fixture();
    tamper(&f, "DROP TABLE refunds; DELETE FROM _consortia_tables WHERE name = 'refunds'");
    let reopened = Projection::open(f.projection.path(), HashAlgorithm::Sha256).unwrap();
    assert!(matches!(reopened.check(&f.state), Err(SqlError::Tampered(_))));
}

#[test]
fn writes_and_schema_changes_are_refused() {
    let f = fixture();
    for sql in [
        "INSERT INTO orders (id, customer) VALUES (7, 'x')",
        "UPDATE orders SET amount = 0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "CREATE TABLE t (x)",
        "PRAGMA journal_mode",
        "ATTACH DATABASE 'x' AS y",
        "SELECT * FROM _consortia_meta",
    ] {
        assert!(matches!(query(&f, sql), Err(SqlError::ReadOnly)), "{sql} was not refused");
    }
    assert_eq!(query(&f, "SELECT COUNT(*) FROM orders").unwrap()[0][0], Cell::Integer(3));
}

#[test]
fn mistakes_are_named() {
    let f = fixture();
    assert!(
        matches!(query(&f, "SELECT * FROM nope"), Err(SqlError::UnknownTable(m)) if m.contains("`nope`"))
    );
    assert!(
        matches!(query(&f, "SELECT nope FROM orders"), Err(SqlError::UnknownColumn(m)) if m.contains("`nope`"))
    );
    assert!(matches!(query(&f, "SELEC 1"), Err(SqlError::Syntax(_))));
    assert!(matches!(
        query(&f, "SELECT COUNT(*) FROM orders WHERE SUM(id) > 1"),
        Err(SqlError::Invalid(_))
    ));
}

#[test]
fn a_query_past_its_budget_stops() {
    let f = fixture();
    let endless =
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n";
    let limits = Limits { max_steps: 1_000_000, ..Limits::default() };
    assert!(matches!(f.engine.query(endless, &[], limits), Err(SqlError::TooLong(1_000_000))));
}

#[test]
fn a_result_past_its_row_limit_is_refused() {
    let f = fixture();
    let limits = Limits { max_rows: 2, ..Limits::default() };
    assert!(matches!(
        f.engine.query("SELECT * FROM orders", &[], limits),
        Err(SqlError::TooManyRows(2))
    ));
}
