//! The projection: the ledger tables as SQLite tables, written block by block from the state
//! entries each block wrote under `sql/`, and checked against the state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use consortia_crypto::HashAlgorithm;
use consortia_execution::ledger::{self, Entry, StoredRow, StoredTable};
use consortia_storage::StateReader;
use consortia_types::ledger::{ColumnType, SqlValue, TableSchema};
use consortia_types::{Height, decode, encode};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{SqlError, engine, quoted};

/// The projection's own tables: its height, and each ledger table's stored schema.
const META: &str = "
    CREATE TABLE IF NOT EXISTS _consortia_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS _consortia_tables (name TEXT PRIMARY KEY, stored BLOB NOT NULL);
";

/// System columns every projected table has after its own.
const SYSTEM_COLUMNS: [&str; 4] = ["_tx", "_height", "_signer", "_row_hash"];

/// The ledger tables of one chain in SQLite (see the crate docs).
pub struct Projection {
    conn: Connection,
    path: PathBuf,
    hash: HashAlgorithm,
    /// Each table's schema, by name (read from `_consortia_tables` on open).
    schemas: HashMap<String, TableSchema>,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Projection {
    /// Opens (or creates) the projection in the file `path`, readable by its owner only. Rows
    /// hash with `hash` (the chain's suite).
    pub fn open(path: &Path, hash: HashAlgorithm) -> Result<Projection, SqlError> {
        let conn = Connection::open(path).map_err(engine)?;
        restrict(path)?;
        // The projection is rebuilt from the chain after a crash if need be, so WAL with
        // `NORMAL` sync (consistent, maybe a little behind) is enough.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(engine)?;
        conn.execute_batch(META).map_err(engine)?;
        let mut projection =
            Projection { conn, path: path.to_owned(), hash, schemas: HashMap::new() };
        for stored in projection.stored_tables()? {
            projection.schemas.insert(stored.schema.name.clone(), stored.schema);
        }
        Ok(projection)
    }

    /// The file the projection lives in (queries open it read-only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last block applied (0 before any).
    pub fn height(&self) -> Result<Height, SqlError> {
        let h: Option<i64> = self
            .conn
            .query_row("SELECT value FROM _consortia_meta WHERE key = 'height'", [], |r| r.get(0))
            .optional()
            .map_err(engine)?;
        Ok(h.map_or(0, |h| h as Height))
    }

    /// The ledger tables, in the order they were created.
    pub fn tables(&self) -> Result<Vec<StoredTable>, SqlError> {
        let mut tables = self.stored_tables()?;
        tables.sort_by_key(|t| t.height);
        Ok(tables)
    }

    fn stored_tables(&self) -> Result<Vec<StoredTable>, SqlError> {
        let mut statement =
            self.conn.prepare("SELECT name, stored FROM _consortia_tables").map_err(engine)?;
        let rows = statement
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(engine)?;
        rows.map(|row| {
            let (name, bytes) = row.map_err(engine)?;
            decode(&bytes).map_err(|e| SqlError::Tampered(format!("table `{name}`'s schema: {e}")))
        })
        .collect()
    }

    /// Applies block `height`'s state entries under `sql/` (key, value), in one SQLite
    /// transaction with the new height. A block at or below the projection's height is
    /// skipped: applying is idempotent.
    pub fn apply(
        &mut self,
        height: Height,
        entries: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), SqlError> {
        if height <= self.height()? && height > 0 {
            return Ok(());
        }
        let mut tables = Vec::new();
        let mut rows = Vec::new();
        for (key, value) in entries {
            match ledger::decode_entry(key, value)? {
                Entry::Table(table) => tables.push((table, value)),
                Entry::Row { table, row } => rows.push((table, row, value)),
                Entry::Other => {}
            }
        }
        let tx = self.conn.transaction().map_err(engine)?;
        // A block's entries come sorted by key, rows before tables: create first.
        for (table, stored) in &tables {
            tx.execute_batch(&create_statements(&table.schema)).map_err(engine)?;
            tx.execute(
                "INSERT INTO _consortia_tables (name, stored) VALUES (?1, ?2)",
                params![table.schema.name, stored],
            )
            .map_err(engine)?;
        }
        let mut schemas = self.schemas.clone();
        for (table, _) in tables {
            schemas.insert(table.schema.name.clone(), table.schema);
        }
        for (table, row, bytes) in rows {
            let schema = schemas.get(&table).ok_or_else(|| {
                SqlError::Tampered(format!("a row of `{table}`, a table the projection lacks"))
            })?;
            let mut statement = tx.prepare_cached(&insert_statement(schema)).map_err(engine)?;
            let mut values: Vec<Value> = row.values.iter().map(to_sqlite).collect();
            values.extend(system_values(&row, self.hash, bytes));
            statement.execute(rusqlite::params_from_iter(values)).map_err(engine)?;
        }
        tx.execute(
            "INSERT INTO _consortia_meta (key, value) VALUES ('height', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [height as i64],
        )
        .map_err(engine)?;
        tx.commit().map_err(engine)?;
        self.schemas = schemas;
        Ok(())
    }

    /// Compares the projection with `state` (the state at the projection's height): the same
    /// tables with the same schemas, the same row counts, and every row equal to its state
    /// entry with its system columns. [`SqlError::Tampered`] says the first difference.
    pub fn check<S: StateReader + ?Sized>(&self, state: &S) -> Result<(), SqlError> {
        let tampered = |m: String| Err(SqlError::Tampered(m));
        let names = ledger::table_names(state)?;
        let mut projected: Vec<String> = self.schemas.keys().cloned().collect();
        projected.sort();
        let mut expected = names.clone();
        expected.sort();
        if projected != expected {
            return tampered(format!("tables {projected:?}, the chain has {expected:?}"));
        }
        for stored in self.stored_tables()? {
            let name = &stored.schema.name;
            if state.get(&ledger::table_key(name))? != Some(encode(&stored)) {
                return tampered(format!("table `{name}`'s schema differs from the chain's"));
            }
            let count: i64 = self
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {}", quoted(name)), [], |r| r.get(0))
                .map_err(engine)?;
            let on_chain = ledger::row_count(state, name)?;
            if count as u64 != on_chain {
                return tampered(format!("table `{name}` has {count} rows, the chain {on_chain}"));
            }
            self.check_rows(state, &stored.schema)?;
        }
        Ok(())
    }

    fn check_rows<S: StateReader + ?Sized>(
        &self,
        state: &S,
        schema: &TableSchema,
    ) -> Result<(), SqlError> {
        let name = &schema.name;
        let mut statement =
            self.conn.prepare(&format!("SELECT * FROM {}", quoted(name))).map_err(engine)?;
        let width = schema.columns.len() + SYSTEM_COLUMNS.len();
        let mut rows = statement.query([]).map_err(engine)?;
        while let Some(row) = rows.next().map_err(engine)? {
            let cells: Vec<Value> =
                (0..width).map(|i| row.get(i)).collect::<Result<_, _>>().map_err(engine)?;
            let values: Vec<SqlValue> =
                schema.columns.iter().zip(&cells).map(|(c, v)| from_sqlite(c.ty, v)).collect();
            let key = ledger::row_key(name, &schema.key_of(&values));
            let Some(bytes) = state.get(&key)? else {
                return Err(SqlError::Tampered(format!(
                    "table `{name}` has a row the chain does not: {:?}",
                    schema.key_of(&values)
                )));
            };
            let stored: StoredRow = decode(&bytes)
                .map_err(|e| SqlError::Engine(format!("a row of `{name}` on chain: {e}")))?;
            let mut expected: Vec<Value> = stored.values.iter().map(to_sqlite).collect();
            expected.extend(system_values(&stored, self.hash, &bytes));
            if cells != expected {
                return Err(SqlError::Tampered(format!(
                    "table `{name}`'s row {:?} differs from the chain's",
                    schema.key_of(&stored.values)
                )));
            }
        }
        Ok(())
    }
}

/// Keeps the file (and SQLite's WAL and shared-memory files beside it) to its owner.
fn restrict(path: &Path) -> Result<(), SqlError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(engine)?;
    }
    Ok(())
}

/// `CREATE TABLE` and `CREATE INDEX` for a ledger table. Columns are declared with their MySQL
/// type names, which give SQLite the right affinity (`…INT…` integer, `…CHAR…`/`TEXT` text,
/// `DOUBLE` real, `BLOB` none) and tell readers the MySQL type.
fn create_statements(schema: &TableSchema) -> String {
    let mut columns: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!("{} {}{null}", quoted(&c.name), c.ty.mysql_name().to_uppercase())
        })
        .collect();
    columns.push("\"_tx\" CHAR(66) NOT NULL".into());
    columns.push("\"_height\" BIGINT UNSIGNED NOT NULL".into());
    columns.push("\"_signer\" CHAR(42) NOT NULL".into());
    columns.push("\"_row_hash\" CHAR(66) NOT NULL".into());
    let key: Vec<String> =
        schema.primary_key.iter().map(|i| quoted(&schema.columns[usize::from(*i)].name)).collect();
    let mut sql = format!(
        "CREATE TABLE {} ({}, PRIMARY KEY ({}));",
        quoted(&schema.name),
        columns.join(", "),
        key.join(", ")
    );
    for index in &schema.indexes {
        let columns: Vec<String> =
            index.columns.iter().map(|i| quoted(&schema.columns[usize::from(*i)].name)).collect();
        sql.push_str(&format!(
            "CREATE INDEX {} ON {} ({});",
            quoted(&format!("{}__{}", schema.name, index.name)),
            quoted(&schema.name),
            columns.join(", ")
        ));
    }
    sql
}

fn insert_statement(schema: &TableSchema) -> String {
    let n = schema.columns.len() + SYSTEM_COLUMNS.len();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO {} VALUES ({})", quoted(&schema.name), marks.join(", "))
}

/// A value as SQLite keeps it. A `BIGINT UNSIGNED` above 2^63 - 1 is kept as its two's
/// complement (exact, so the check holds; it sorts below the others, and readers that know the
/// column is unsigned show it right).
fn to_sqlite(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(n) => Value::Integer(*n),
        SqlValue::UInt(n) => Value::Integer(*n as i64),
        SqlValue::Double(x) => Value::Real(*x),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Bytes(b) => Value::Blob(b.clone()),
    }
}

/// A projected value back in its column's domain (the inverse of [`to_sqlite`] on what it
/// wrote; anything else stays as is and fails the comparison).
fn from_sqlite(ty: ColumnType, value: &Value) -> SqlValue {
    match (ty, value) {
        (_, Value::Null) => SqlValue::Null,
        (ColumnType::Int { unsigned: true, .. }, Value::Integer(n)) => SqlValue::UInt(*n as u64),
        (_, Value::Integer(n)) => SqlValue::Int(*n),
        (_, Value::Real(x)) => SqlValue::Double(*x),
        (_, Value::Text(s)) => SqlValue::Text(s.clone()),
        (_, Value::Blob(b)) => SqlValue::Bytes(b.clone()),
    }
}

/// `_tx`, `_height`, `_signer`, `_row_hash` of a row whose state entry is `entry`.
fn system_values(row: &StoredRow, hash: HashAlgorithm, entry: &[u8]) -> [Value; 4] {
    [
        Value::Text(row.tx_hash.to_hex()),
        Value::Integer(row.height as i64),
        Value::Text(row.signer.to_checksum_hex()),
        Value::Text(hash.digest(entry).to_hex()),
    ]
}
