//! Ledger tables (TrustSQL): append-only tables whose rows live in the chain's authenticated
//! state, written by signed transactions to the ledger system contract at [`LEDGER_ADDRESS`].
//!
//! A [`TableSchema`] describes a table as MySQL would (columns with MySQL types, a primary
//! key, secondary indexes); rows are lists of [`SqlValue`]s in column order. Both travel in
//! this crate's canonical encoding (borsh) inside the contract's ABI calls
//! (`contracts/system/ILedger.sol`), so the SQL gateway, the SDK and a Solidity contract make
//! the same bytes.
//!
//! [`TableSchema::check`] and [`TableSchema::normalize_row`] are the rules the chain applies;
//! clients may run them first to fail early. A normalized row has one encoding per value (a
//! signed column holds [`SqlValue::Int`], an unsigned one [`SqlValue::UInt`], …), so the
//! primary key's encoding identifies a row.

use borsh::{BorshDeserialize, BorshSerialize};

use consortia_crypto::{Address, Hash};

/// The ledger system contract's address (`0x…1002`).
pub const LEDGER_ADDRESS: Address =
    Address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x02]);

/// Limits of a table's schema and rows.
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_COLUMNS: usize = 64;
pub const MAX_INDEXES: usize = 16;
pub const MAX_INDEX_COLUMNS: usize = 16;
/// Longest `CHAR`/`VARCHAR` (characters) or `BINARY`/`VARBINARY` (bytes) length.
pub const MAX_DECLARED_LEN: u32 = 16_383;
/// Largest `TEXT` or `BLOB` value (bytes), as MySQL's `TEXT`/`BLOB` (not `MEDIUMTEXT`).
pub const MAX_LOB_LEN: usize = 65_535;

/// A column's type, as MySQL names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ColumnType {
    /// `TINYINT` (1), `SMALLINT` (2), `MEDIUMINT` (3), `INT` (4), `BIGINT` (8): `bytes` wide,
    /// `UNSIGNED` or not. `BOOLEAN` is `TINYINT`.
    Int { bytes: u8, unsigned: bool },
    /// `DOUBLE` (also `FLOAT` and `REAL`): finite IEEE 754 binary64.
    Double,
    /// `CHAR(n)` / `VARCHAR(n)`: at most `n` characters.
    Varchar(u32),
    /// `TEXT`: at most [`MAX_LOB_LEN`] bytes of UTF-8.
    Text,
    /// `BINARY(n)` / `VARBINARY(n)`: at most `n` bytes.
    Varbinary(u32),
    /// `BLOB`: at most [`MAX_LOB_LEN`] bytes.
    Blob,
    /// `DATE`: `YYYY-MM-DD`.
    Date,
    /// `DATETIME` / `TIMESTAMP`: `YYYY-MM-DD HH:MM:SS`.
    DateTime,
}

impl ColumnType {
    /// The type as `DESCRIBE` shows it.
    pub fn mysql_name(&self) -> String {
        match *self {
            ColumnType::Int { bytes, unsigned } => {
                let name = match bytes {
                    1 => "tinyint",
                    2 => "smallint",
                    3 => "mediumint",
                    4 => "int",
                    _ => "bigint",
                };
                if unsigned { format!("{name} unsigned") } else { name.to_owned() }
            }
            ColumnType::Double => "double".into(),
            ColumnType::Varchar(n) => format!("varchar({n})"),
            ColumnType::Text => "text".into(),
            ColumnType::Varbinary(n) => format!("varbinary({n})"),
            ColumnType::Blob => "blob".into(),
            ColumnType::Date => "date".into(),
            ColumnType::DateTime => "datetime".into(),
        }
    }

    fn is_int(&self) -> bool {
        matches!(self, ColumnType::Int { .. })
    }

    /// Whether a primary key may include the column (MySQL needs a prefix length for `TEXT`
    /// and `BLOB` keys, and a float key compares inexactly).
    fn keyable(&self) -> bool {
        !matches!(self, ColumnType::Double | ColumnType::Text | ColumnType::Blob)
    }

    /// The range of an integer column.
    fn int_range(bytes: u8, unsigned: bool) -> (i128, i128) {
        let bits = u32::from(bytes) * 8;
        if unsigned {
            (0, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        }
    }
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Column {
    /// Lower-case ASCII: `[a-z][a-z0-9_]*` (names starting with `_` are the system columns').
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    /// The chain assigns the next number when a row leaves it `NULL` (one column per table,
    /// an integer in the primary key).
    pub auto_increment: bool,
}

/// A secondary index (not unique: the primary key is the table's one uniqueness rule).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TableIndex {
    pub name: String,
    /// Positions in [`TableSchema::columns`].
    pub columns: Vec<u16>,
}

/// A ledger table's schema.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TableSchema {
    /// Lower-case ASCII, as column names.
    pub name: String,
    pub columns: Vec<Column>,
    /// Positions in [`TableSchema::columns`]; at least one.
    pub primary_key: Vec<u16>,
    pub indexes: Vec<TableIndex>,
}

/// A value of a row, in its column's domain once normalized.
#[derive(Clone, Debug, PartialEq, BorshSerialize, BorshDeserialize)]
pub enum SqlValue {
    Null,
    Int(i64),
    UInt(u64),
    Double(f64),
    /// Text, and the `DATE`/`DATETIME` values.
    Text(String),
    Bytes(Vec<u8>),
}

/// Whether `name` is a valid table, column or index name (see [`Column::name`]).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl TableSchema {
    /// The rules every table's schema follows; the message says what to change.
    pub fn check(&self) -> Result<(), String> {
        let name_rule = "lower-case letters, digits and `_`, starting with a letter, at most 64";
        if !valid_name(&self.name) {
            return Err(format!("table name `{}`: use {name_rule}", self.name));
        }
        if self.columns.is_empty() || self.columns.len() > MAX_COLUMNS {
            return Err(format!("a table has 1 to {MAX_COLUMNS} columns"));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if !valid_name(&c.name) {
                return Err(format!("column name `{}`: use {name_rule}", c.name));
            }
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(format!("column `{}` is declared twice", c.name));
            }
            match c.ty {
                ColumnType::Int { bytes, .. } if ![1, 2, 3, 4, 8].contains(&bytes) => {
                    return Err(format!(
                        "column `{}`: an integer is 1, 2, 3, 4 or 8 bytes",
                        c.name
                    ));
                }
                ColumnType::Varchar(n) | ColumnType::Varbinary(n)
                    if n == 0 || n > MAX_DECLARED_LEN =>
                {
                    return Err(format!(
                        "column `{}`: a declared length is 1 to {MAX_DECLARED_LEN}",
                        c.name
                    ));
                }
                _ => {}
            }
        }
        let column = |i: &u16| self.columns.get(usize::from(*i));
        if self.primary_key.is_empty() {
            return Err(
                "a ledger table needs a PRIMARY KEY: rows are found and proven by it".into()
            );
        }
        if self.primary_key.len() > MAX_INDEX_COLUMNS {
            return Err(format!("a key has at most {MAX_INDEX_COLUMNS} columns"));
        }
        for (n, i) in self.primary_key.iter().enumerate() {
            let Some(c) = column(i) else { return Err(format!("no column {i} for the key")) };
            if self.primary_key[..n].contains(i) {
                return Err(format!("column `{}` is twice in the primary key", c.name));
            }
            if !c.ty.keyable() {
                return Err(format!(
                    "column `{}` ({}) cannot be in the primary key; use an integer, VARCHAR, VARBINARY, DATE or DATETIME",
                    c.name,
                    c.ty.mysql_name()
                ));
            }
            if c.nullable {
                return Err(format!("primary key column `{}` must be NOT NULL", c.name));
            }
        }
        let autos: Vec<_> =
            self.columns.iter().enumerate().filter(|(_, c)| c.auto_increment).collect();
        match autos.as_slice() {
            [] => {}
            [(i, c)] => {
                if !c.ty.is_int() || !self.primary_key.iter().any(|k| usize::from(*k) == *i) {
                    return Err(format!(
                        "AUTO_INCREMENT column `{}` must be an integer in the primary key",
                        c.name
                    ));
                }
            }
            _ => return Err("a table has at most one AUTO_INCREMENT column".into()),
        }
        if self.indexes.len() > MAX_INDEXES {
            return Err(format!("a table has at most {MAX_INDEXES} secondary indexes"));
        }
        for (n, index) in self.indexes.iter().enumerate() {
            if !valid_name(&index.name) {
                return Err(format!("index name `{}`: use {name_rule}", index.name));
            }
            if self.indexes[..n].iter().any(|o| o.name == index.name) {
                return Err(format!("index `{}` is declared twice", index.name));
            }
            if index.columns.is_empty() || index.columns.len() > MAX_INDEX_COLUMNS {
                return Err(format!("index `{}` has 1 to {MAX_INDEX_COLUMNS} columns", index.name));
            }
            if let Some(i) = index.columns.iter().find(|i| column(i).is_none()) {
                return Err(format!("index `{}` names no column {i}", index.name));
            }
        }
        Ok(())
    }

    /// The position of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The position of the `AUTO_INCREMENT` column, if the table has one.
    pub fn auto_increment(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.auto_increment)
    }

    /// Checks `row` against the schema and returns it in canonical form: integers in their
    /// column's signedness, integers given to a `DOUBLE` as doubles, text given to a binary
    /// column as its bytes. An `AUTO_INCREMENT` column may be `NULL` (the chain numbers it).
    pub fn normalize_row(&self, row: Vec<SqlValue>) -> Result<Vec<SqlValue>, String> {
        if row.len() != self.columns.len() {
            return Err(format!(
                "table `{}` has {} columns, the row has {} values",
                self.name,
                self.columns.len(),
                row.len()
            ));
        }
        row.into_iter()
            .zip(&self.columns)
            .map(|(value, c)| {
                normalize_value(c, value).map_err(|e| format!("column `{}`: {e}", c.name))
            })
            .collect()
    }

    /// Checks one value for the column at position `column` (see [`TableSchema::normalize_row`]).
    pub fn normalize_column(&self, column: usize, value: SqlValue) -> Result<SqlValue, String> {
        let c = self.columns.get(column).ok_or_else(|| format!("no column {column}"))?;
        normalize_value(c, value)
    }

    /// The values of the primary key's columns of a normalized row, in key order.
    pub fn key_of(&self, row: &[SqlValue]) -> Vec<SqlValue> {
        self.primary_key.iter().filter_map(|i| row.get(usize::from(*i)).cloned()).collect()
    }
}

fn normalize_value(c: &Column, value: SqlValue) -> Result<SqlValue, String> {
    use SqlValue as V;
    if value == V::Null {
        return if c.nullable || c.auto_increment {
            Ok(V::Null)
        } else {
            Err("cannot be NULL".into())
        };
    }
    let mismatch =
        |v: &SqlValue| Err(format!("a {} value does not fit {}", v.kind(), c.ty.mysql_name()));
    match c.ty {
        ColumnType::Int { bytes, unsigned } => {
            let n = match value {
                V::Int(n) => i128::from(n),
                V::UInt(n) => i128::from(n),
                other => return mismatch(&other),
            };
            let (min, max) = ColumnType::int_range(bytes, unsigned);
            if n < min || n > max {
                return Err(format!(
                    "{n} is out of range for {} ({min} to {max})",
                    c.ty.mysql_name()
                ));
            }
            // In range, so the conversions below cannot fail.
            Ok(if unsigned { V::UInt(n as u64) } else { V::Int(n as i64) })
        }
        ColumnType::Double => {
            let x = match value {
                V::Double(x) => x,
                V::Int(n) => n as f64,
                V::UInt(n) => n as f64,
                other => return mismatch(&other),
            };
            if !x.is_finite() {
                return Err("a DOUBLE is finite (no NaN or infinity)".into());
            }
            // One encoding for zero.
            Ok(V::Double(if x == 0.0 { 0.0 } else { x }))
        }
        ColumnType::Varchar(n) => match value {
            V::Text(s) if s.chars().count() <= n as usize => Ok(V::Text(s)),
            V::Text(_) => Err(format!("longer than {n} characters")),
            other => mismatch(&other),
        },
        ColumnType::Text => match value {
            V::Text(s) if s.len() <= MAX_LOB_LEN => Ok(V::Text(s)),
            V::Text(_) => Err(format!("longer than {MAX_LOB_LEN} bytes")),
            other => mismatch(&other),
        },
        ColumnType::Varbinary(_) | ColumnType::Blob => {
            let max = match c.ty {
                ColumnType::Varbinary(n) => n as usize,
                _ => MAX_LOB_LEN,
            };
            let bytes = match value {
                V::Bytes(b) => b,
                V::Text(s) => s.into_bytes(),
                other => return mismatch(&other),
            };
            if bytes.len() > max {
                return Err(format!("longer than {max} bytes"));
            }
            Ok(V::Bytes(bytes))
        }
        ColumnType::Date | ColumnType::DateTime => match value {
            V::Text(s) => {
                let with_time = c.ty == ColumnType::DateTime;
                canonical_datetime(&s, with_time).map(V::Text).ok_or_else(|| {
                    if with_time {
                        format!("`{s}` is not a DATETIME (YYYY-MM-DD HH:MM:SS)")
                    } else {
                        format!("`{s}` is not a DATE (YYYY-MM-DD)")
                    }
                })
            }
            other => mismatch(&other),
        },
    }
}

/// `s` as `YYYY-MM-DD` (or `YYYY-MM-DD HH:MM:SS` with `with_time`; a `DATETIME` given a date
/// alone is at midnight, as in MySQL), or `None` if it is not a valid date and time.
fn canonical_datetime(s: &str, with_time: bool) -> Option<String> {
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) if with_time => (d, t),
        Some(_) => return None,
        None => (s, "00:00:00"),
    };
    let num = |part: &str, len: usize| {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let mut t = time.split(':');
    let (hour, minute, second) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year == 0 || day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    Some(if with_time { format!("{date} {hour:02}:{minute:02}:{second:02}") } else { date })
}

impl SqlValue {
    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Int(_) | SqlValue::UInt(_) => "integer",
            SqlValue::Double(_) => "floating-point",
            SqlValue::Text(_) => "string",
            SqlValue::Bytes(_) => "binary",
        }
    }
}

// The ledger contract's state (its layout: execution's `ledger` module).

/// Prefix of every key the contract writes.
pub const PREFIX: &[u8] = b"sql/";
/// State key of the tables' names.
pub const TABLES_KEY: &[u8] = b"sql/tables";
/// Prefix of each table's schema key.
pub const TABLE_PREFIX: &[u8] = b"sql/table/";
/// Prefix of each table's row count key.
pub const COUNT_PREFIX: &[u8] = b"sql/count/";
/// Prefix of each table's `AUTO_INCREMENT` counter key.
pub const SEQ_PREFIX: &[u8] = b"sql/seq/";
/// Prefix of every row's key.
pub const ROW_PREFIX: &[u8] = b"sql/row/";

/// A table as the chain keeps it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredTable {
    pub schema: TableSchema,
    pub creator: Address,
    pub tx_hash: Hash,
    pub height: u64,
    pub time_ms: u64,
}

/// A row as the chain keeps it: its values (normalized, in column order) and who wrote it when.
#[derive(Clone, Debug, PartialEq, BorshSerialize, BorshDeserialize)]
pub struct StoredRow {
    pub values: Vec<SqlValue>,
    pub signer: Address,
    pub tx_hash: Hash,
    pub height: u64,
}

/// The state key of a table's schema.
pub fn table_key(name: &str) -> Vec<u8> {
    [TABLE_PREFIX, name.as_bytes()].concat()
}

/// The state key of a table's row count.
pub fn count_key(name: &str) -> Vec<u8> {
    [COUNT_PREFIX, name.as_bytes()].concat()
}

/// The state key of a table's next `AUTO_INCREMENT` number.
pub fn seq_key(name: &str) -> Vec<u8> {
    [SEQ_PREFIX, name.as_bytes()].concat()
}

/// The state key of the row of `table` whose primary key values are `key`.
pub fn row_key(table: &str, key: &[SqlValue]) -> Vec<u8> {
    [ROW_PREFIX, table.as_bytes(), &[0], &crate::encode(&key.to_vec())].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SqlValue as V;

    fn col(name: &str, ty: ColumnType) -> Column {
        Column { name: name.into(), ty, nullable: false, auto_increment: false }
    }

    fn orders() -> TableSchema {
        TableSchema {
            name: "orders".into(),
            columns: vec![
                Column {
                    auto_increment: true,
                    ..col("id", ColumnType::Int { bytes: 8, unsigned: true })
                },
                col("customer", ColumnType::Varchar(8)),
                Column { nullable: true, ..col("amount", ColumnType::Double) },
                Column { nullable: true, ..col("placed", ColumnType::DateTime) },
            ],
            primary_key: vec![0],
            indexes: vec![TableIndex { name: "by_customer".into(), columns: vec![1] }],
        }
    }

    #[test]
    fn a_well_formed_schema_passes() {
        orders().check().unwrap();
    }

    #[test]
    fn a_table_without_a_primary_key_is_refused() {
        let schema = TableSchema { primary_key: vec![], ..orders() };
        assert!(schema.check().unwrap_err().contains("PRIMARY KEY"));
    }

    #[test]
    fn names_must_be_lower_case_identifiers() {
        for bad in ["", "Orders", "1st", "_sys", "a-b", &"x".repeat(65)] {
            let schema = TableSchema { name: bad.into(), ..orders() };
            assert!(schema.check().is_err(), "{bad:?} passed");
        }
        assert!(valid_name("order_items2"));
    }

    #[test]
    fn a_nullable_or_text_key_column_is_refused() {
        let mut schema = orders();
        schema.primary_key = vec![2];
        assert!(schema.check().unwrap_err().contains("cannot be in the primary key"));
        schema.columns[1].nullable = true;
        schema.primary_key = vec![0, 1];
        assert!(schema.check().unwrap_err().contains("NOT NULL"));
    }

    #[test]
    fn auto_increment_must_be_an_integer_key_column() {
        let mut schema = orders();
        schema.columns[0].auto_increment = false;
        schema.columns[1].auto_increment = true;
        assert!(schema.check().unwrap_err().contains("AUTO_INCREMENT"));
    }

    #[test]
    fn duplicate_columns_and_unknown_index_columns_are_refused() {
        let mut schema = orders();
        schema.columns[1].name = "id".into();
        assert!(schema.check().unwrap_err().contains("twice"));
        let mut schema = orders();
        schema.indexes[0].columns = vec![9];
        assert!(schema.check().unwrap_err().contains("no column 9"));
    }

    #[test]
    fn rows_are_normalized_to_their_columns_domains() {
        let row = orders()
            .normalize_row(vec![
                V::Int(7),
                V::Text("ann".into()),
                V::Int(3),
                V::Text("2026-12-03".into()),
            ])
            .unwrap();
        assert_eq!(
            row,
            vec![
                V::UInt(7),
                V::Text("ann".into()),
                V::Double(3.0),
                V::Text("2026-12-03 00:00:00".into())
            ]
        );
    }

    #[test]
    fn out_of_range_integers_are_refused() {
        let schema = TableSchema {
            columns: vec![col("id", ColumnType::Int { bytes: 1, unsigned: false })],
            ..orders()
        };
        assert!(schema.normalize_row(vec![V::Int(127)]).is_ok());
        assert!(schema.normalize_row(vec![V::Int(128)]).unwrap_err().contains("out of range"));
        assert!(
            orders()
                .normalize_row(vec![V::Int(-1), V::Text("a".into()), V::Null, V::Null])
                .is_err()
        );
    }

    #[test]
    fn wrong_types_lengths_and_nulls_are_refused() {
        let s = orders();
        let row = |v: Vec<SqlValue>| s.normalize_row(v);
        assert!(row(vec![V::Null, V::Text("ann".into()), V::Null, V::Null]).is_ok());
        assert!(row(vec![V::Null, V::Null, V::Null, V::Null]).unwrap_err().contains("NULL"));
        assert!(
            row(vec![V::Null, V::Text("123456789".into()), V::Null, V::Null])
                .unwrap_err()
                .contains("longer")
        );
        assert!(row(vec![V::Text("x".into()), V::Text("a".into()), V::Null, V::Null]).is_err());
        assert!(row(vec![V::Null, V::Text("a".into()), V::Double(f64::NAN), V::Null]).is_err());
        assert!(row(vec![V::Null, V::Text("a".into())]).unwrap_err().contains("4 columns"));
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "2026-01-01 24:00:00", "yesterday"] {
            assert_eq!(canonical_datetime(bad, true), None, "{bad}");
        }
        assert_eq!(
            canonical_datetime("2024-02-29T23:59:59", true).as_deref(),
            Some("2024-02-29 23:59:59")
        );
        assert_eq!(canonical_datetime("2024-02-29 10:00:00", false), None);
    }
}
