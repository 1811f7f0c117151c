//! What the SQL gateway makes of a statement a MySQL client sends: `sqlparser` with the MySQL
//! dialect reads it, and this module turns it into what the ledger does (a `SELECT` for the
//! node's projection, rows or a schema for the ledger contract, an answer to a client's
//! connection chatter) or into the MySQL error a server would send (code and SQLSTATE).
//!
//! Ledger tables are append-only: `UPDATE`, `DELETE`, `REPLACE`, `DROP`, `ALTER` and
//! `TRUNCATE` are refused with the reason, never sent to the chain.

use consortia_types::ledger::{
    Column, ColumnType, MAX_DECLARED_LEN, SqlValue, TableIndex, TableSchema,
};
use sqlparser::ast::{
    self, BinaryLength, CharacterLength, ColumnOption, DataType, Expr, ObjectName, ObjectNamePart,
    SetExpr, TableConstraint, TableObject, UnaryOperator, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// A MySQL error: the code and SQLSTATE clients branch on, and the message people read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlError {
    pub code: u16,
    pub state: &'static str,
    pub message: String,
}

impl MysqlError {
    pub fn new(code: u16, state: &'static str, message: impl Into<String>) -> Self {
        MysqlError { code, state, message: message.into() }
    }

    /// `ER_PARSE_ERROR`.
    fn parse(message: impl Into<String>) -> Self {
        Self::new(1064, "42000", message)
    }

    /// `ER_NOT_SUPPORTED_YET`.
    fn unsupported(message: impl Into<String>) -> Self {
        Self::new(1235, "42000", message)
    }

    /// `ER_BAD_FIELD_ERROR`.
    fn unknown_column(column: &str, table: &str) -> Self {
        Self::new(1054, "42S22", format!("Unknown column '{column}' in '{table}'"))
    }

    /// `ER_NO_SUCH_TABLE`.
    pub fn no_such_table(table: &str) -> Self {
        Self::new(1146, "42S02", format!("Table '{table}' doesn't exist"))
    }
}

impl std::fmt::Display for MysqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {} ({}): {}", self.code, self.state, self.message)
    }
}

/// A value of an `INSERT`: a literal, or the `n`th `?` of a prepared statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Value(SqlValue),
    Param(usize),
}

/// What a statement asks of the ledger.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// A read, answered by a node's projection (the text as the client sent it).
    Select(String),
    /// `INSERT INTO table [(columns)] VALUES (…), (…)`.
    Insert {
        table: String,
        columns: Option<Vec<String>>,
        rows: Vec<Vec<Literal>>,
    },
    CreateTable(TableSchema),
    ShowDatabases,
    ShowTables,
    /// `SHOW COLUMNS FROM t`, `DESCRIBE t`.
    Describe(String),
    /// `USE db`.
    Use(String),
    /// `SET …`, `BEGIN`, `COMMIT`, `ROLLBACK`: accepted and without effect (each `INSERT`
    /// commits on its own, through consensus).
    Accepted,
    /// A `SELECT` of the session's own values without a table (`SELECT @@version_comment`,
    /// `SELECT DATABASE()`): what clients ask on connecting, answered by the gateway. Each item
    /// is the column's label and what it asks.
    Session(Vec<(String, SessionItem)>),
}

/// What a session `SELECT` asks of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionItem {
    /// A system variable (`@@version`, `@@session.autocommit`), lower-cased, without scope.
    Variable(String),
    /// `DATABASE()`, `SCHEMA()`.
    Database,
    /// `USER()`, `CURRENT_USER()`, `SESSION_USER()`, `SYSTEM_USER()`.
    User,
    /// `VERSION()`.
    Version,
    /// `CONNECTION_ID()`.
    ConnectionId,
    /// `LAST_INSERT_ID()`: the first `AUTO_INCREMENT` value the session's latest `INSERT` gave.
    LastInsertId,
}

/// How many `?` parameters a statement has (for a prepared statement's answer).
pub fn placeholders(sql: &str) -> Result<usize, MysqlError> {
    let tokens = sqlparser::tokenizer::Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .map_err(|e| MysqlError::parse(format!("You have an error in your SQL syntax: {e}")))?;
    Ok(tokens
        .iter()
        .filter(|t| matches!(t, sqlparser::tokenizer::Token::Placeholder(p) if p == "?"))
        .count())
}

/// The items of a `SELECT` without `FROM` whose every item is a session value, if it is one.
fn session_items(query: &ast::Query) -> Option<Vec<(String, SessionItem)>> {
    let SetExpr::Select(select) = &*query.body else { return None };
    if !select.from.is_empty() || select.selection.is_some() {
        return None;
    }
    select
        .projection
        .iter()
        .map(|item| {
            let (expr, alias) = match item {
                ast::SelectItem::UnnamedExpr(e) => (e, None),
                ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                _ => return None,
            };
            let asked = match expr {
                Expr::Identifier(id) if id.value.starts_with("@@") => {
                    SessionItem::Variable(variable(&id.value))
                }
                Expr::CompoundIdentifier(parts) if parts[0].value.starts_with("@@") => {
                    SessionItem::Variable(variable(&parts.last()?.value))
                }
                Expr::Function(f) => match last_part(&f.name).as_str() {
                    "database" | "schema" => SessionItem::Database,
                    "user" | "current_user" | "session_user" | "system_user" => SessionItem::User,
                    "version" => SessionItem::Version,
                    "connection_id" => SessionItem::ConnectionId,
                    "last_insert_id" if no_arguments(&f.args) => SessionItem::LastInsertId,
                    _ => return None,
                },
                _ => return None,
            };
            Some((alias.unwrap_or_else(|| expr.to_string()), asked))
        })
        .collect()
}

fn no_arguments(args: &ast::FunctionArguments) -> bool {
    match args {
        ast::FunctionArguments::None => true,
        ast::FunctionArguments::List(list) => list.args.is_empty(),
        ast::FunctionArguments::Subquery(_) => false,
    }
}

/// A system variable's name without `@@` and scope (`@@SESSION.autocommit` → `autocommit`).
fn variable(name: &str) -> String {
    let name = name.trim_start_matches("@@").to_lowercase();
    for scope in ["session.", "global.", "local."] {
        if let Some(rest) = name.strip_prefix(scope) {
            return rest.to_owned();
        }
    }
    name
}

/// Reads one statement.
pub fn parse(sql: &str) -> Result<Statement, MysqlError> {
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| MysqlError::parse(format!("You have an error in your SQL syntax: {e}")))?;
    let statement = match statements.len() {
        1 => statements.remove(0),
        0 => return Err(MysqlError::new(1065, "42000", "Query was empty")),
        _ => return Err(MysqlError::parse("one statement at a time")),
    };
    let refused = |what: &str, why: &str| {
        Err(MysqlError::new(
            1290,
            "HY000",
            format!(
                "{what} is refused: ledger tables are append-only ({why}); rows are kept forever"
            ),
        ))
    };
    match statement {
        ast::Statement::Query(query) => Ok(match session_items(&query) {
            Some(items) => Statement::Session(items),
            None => Statement::Select(sql.trim().to_owned()),
        }),
        ast::Statement::Insert(insert) if insert.replace_into => {
            refused("REPLACE", "it would overwrite a committed row")
        }
        ast::Statement::Insert(insert) => insert_statement(insert),
        ast::Statement::CreateTable(create) => create_table(create).map(Statement::CreateTable),
        ast::Statement::Update(_) => refused("UPDATE", "it would change a committed row"),
        ast::Statement::Delete(_) => refused("DELETE", "it would remove committed rows"),
        ast::Statement::Truncate(_) => refused("TRUNCATE", "it would remove committed rows"),
        ast::Statement::Drop { .. } => refused("DROP", "a table's rows stay on the chain"),
        ast::Statement::AlterTable(_) => refused("ALTER TABLE", "a table's schema never changes"),
        ast::Statement::ShowDatabases { .. } | ast::Statement::ShowSchemas { .. } => {
            Ok(Statement::ShowDatabases)
        }
        ast::Statement::ShowTables { .. } => Ok(Statement::ShowTables),
        ast::Statement::ShowColumns { show_options, .. } => show_options
            .show_in
            .and_then(|s| s.parent_name)
            .map(|name| Statement::Describe(last_part(&name)))
            .ok_or_else(|| MysqlError::parse("SHOW COLUMNS needs FROM a table")),
        ast::Statement::ExplainTable { table_name, .. } => {
            Ok(Statement::Describe(last_part(&table_name)))
        }
        ast::Statement::Use(using) => {
            Ok(Statement::Use(using.to_string().trim_start_matches("USE ").trim().to_owned()))
        }
        ast::Statement::Set(_)
        | ast::Statement::StartTransaction { .. }
        | ast::Statement::Commit { .. }
        | ast::Statement::Rollback { .. } => Ok(Statement::Accepted),
        other => Err(MysqlError::unsupported(format!(
            "this ledger answers SELECT, INSERT, CREATE TABLE, SHOW and DESCRIBE; not `{}`",
            other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        ))),
    }
}

/// The last part of a name (`db.table` → `table`), lower-cased as ledger names are.
fn last_part(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.to_lowercase(),
        _ => name.to_string().to_lowercase(),
    }
}

fn insert_statement(insert: ast::Insert) -> Result<Statement, MysqlError> {
    let table = match &insert.table {
        TableObject::TableName(name) => last_part(name),
        other => return Err(MysqlError::unsupported(format!("INSERT INTO {other}"))),
    };
    if insert.on.is_some() {
        return Err(MysqlError::new(
            1290,
            "HY000",
            "ON DUPLICATE KEY UPDATE is refused: ledger tables are append-only",
        ));
    }
    if !insert.assignments.is_empty() {
        return Err(MysqlError::unsupported("INSERT … SET; use INSERT … VALUES"));
    }
    let Some(SetExpr::Values(values)) = insert.source.as_deref().map(|q| &*q.body) else {
        return Err(MysqlError::unsupported("INSERT … SELECT; insert literal VALUES"));
    };
    let mut params = 0;
    let rows = values
        .rows
        .iter()
        .map(|row| row.content.iter().map(|e| literal(e, &mut params)).collect())
        .collect::<Result<Vec<Vec<Literal>>, _>>()?;
    let columns =
        (!insert.columns.is_empty()).then(|| insert.columns.iter().map(last_part).collect());
    Ok(Statement::Insert { table, columns, rows })
}

/// A literal of a `VALUES` row; `?`s are numbered in order.
fn literal(expr: &Expr, params: &mut usize) -> Result<Literal, MysqlError> {
    let value = match expr {
        Expr::Value(v) => &v.value,
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => {
            return match literal(expr, params)? {
                Literal::Value(SqlValue::Int(n)) => Ok(Literal::Value(SqlValue::Int(-n))),
                Literal::Value(SqlValue::UInt(n)) if n == 1 << 63 => {
                    Ok(Literal::Value(SqlValue::Int(i64::MIN)))
                }
                Literal::Value(SqlValue::Double(x)) => Ok(Literal::Value(SqlValue::Double(-x))),
                _ => Err(MysqlError::unsupported(format!("the value {expr}; use a literal"))),
            };
        }
        other => {
            return Err(MysqlError::unsupported(format!(
                "the value `{other}`: a ledger row holds literals (and ? in prepared statements)"
            )));
        }
    };
    Ok(Literal::Value(match value {
        Value::Placeholder(_) => {
            *params += 1;
            return Ok(Literal::Param(*params - 1));
        }
        Value::Null => SqlValue::Null,
        Value::Boolean(b) => SqlValue::Int(i64::from(*b)),
        Value::Number(n, _) => number(n)?,
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => SqlValue::Text(s.clone()),
        Value::HexStringLiteral(h) => {
            SqlValue::Bytes(hex::decode(h).map_err(|e| MysqlError::parse(format!("X'{h}': {e}")))?)
        }
        other => return Err(MysqlError::unsupported(format!("the literal {other}"))),
    }))
}

fn number(n: &str) -> Result<SqlValue, MysqlError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(SqlValue::Int(i));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(SqlValue::UInt(u));
    }
    n.parse::<f64>()
        .map(SqlValue::Double)
        .map_err(|_| MysqlError::new(1264, "22003", format!("Out of range value {n}")))
}

fn create_table(create: ast::CreateTable) -> Result<TableSchema, MysqlError> {
    if create.temporary {
        return Err(MysqlError::unsupported("TEMPORARY tables: a ledger table is on the chain"));
    }
    let name = last_part(&create.name);
    let mut columns = Vec::new();
    let mut primary_key: Vec<u16> = Vec::new();
    for def in &create.columns {
        let column_name = def.name.value.to_lowercase();
        let mut column = Column {
            ty: column_type(&def.data_type, &column_name)?,
            name: column_name,
            nullable: true,
            auto_increment: false,
        };
        for option in &def.options {
            match &option.option {
                ColumnOption::Null => column.nullable = true,
                ColumnOption::NotNull => column.nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    column.nullable = false;
                    primary_key.push(columns.len() as u16);
                }
                ColumnOption::DialectSpecific(tokens)
                    if tokens
                        .iter()
                        .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
                {
                    column.auto_increment = true;
                }
                ColumnOption::Comment(_)
                | ColumnOption::CharacterSet(_)
                | ColumnOption::Collation(_) => {}
                other => {
                    return Err(MysqlError::unsupported(format!(
                        "the column option `{other}` (of `{}`)",
                        column.name
                    )));
                }
            }
        }
        columns.push(column);
    }
    let position = |expr: &Expr| -> Result<u16, MysqlError> {
        let name = match expr {
            Expr::Identifier(ident) => ident.value.to_lowercase(),
            other => {
                return Err(MysqlError::unsupported(format!(
                    "the key part `{other}`; name a column"
                )));
            }
        };
        columns.iter().position(|c| c.name == name).map(|i| i as u16).ok_or_else(|| {
            MysqlError::new(1072, "42000", format!("Key column '{name}' doesn't exist in table"))
        })
    };
    let mut indexes = Vec::new();
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                if !primary_key.is_empty() {
                    return Err(MysqlError::new(1068, "42000", "Multiple primary key defined"));
                }
                for part in &pk.columns {
                    primary_key.push(position(&part.column.expr)?);
                }
            }
            TableConstraint::Index(index) => {
                let columns = index
                    .columns
                    .iter()
                    .map(|part| position(&part.column.expr))
                    .collect::<Result<Vec<u16>, _>>()?;
                let name = index.name.as_ref().map_or_else(
                    || format!("idx_{}", indexes.len() + 1),
                    |n| n.value.to_lowercase(),
                );
                indexes.push(TableIndex { name, columns });
            }
            TableConstraint::Unique(_) => {
                return Err(MysqlError::unsupported(
                    "UNIQUE secondary keys: a ledger table's one uniqueness rule is its primary key",
                ));
            }
            other => return Err(MysqlError::unsupported(format!("the constraint `{other}`"))),
        }
    }
    for i in &primary_key {
        columns[usize::from(*i)].nullable = false;
    }
    let schema = TableSchema { name, columns, primary_key, indexes };
    schema.check().map_err(|e| {
        let (code, state) = if e.contains("PRIMARY KEY") {
            (1173, "42000") // ER_REQUIRES_PRIMARY_KEY
        } else if e.starts_with("table name") {
            (1103, "42000") // ER_WRONG_TABLE_NAME
        } else if e.starts_with("column name") {
            (1166, "42000") // ER_WRONG_COLUMN_NAME
        } else if e.contains("declared twice") {
            (1060, "42S21") // ER_DUP_FIELDNAME
        } else {
            (1235, "42000") // ER_NOT_SUPPORTED_YET
        };
        MysqlError::new(code, state, e)
    })?;
    Ok(schema)
}

fn column_type(ty: &DataType, column: &str) -> Result<ColumnType, MysqlError> {
    let int = |bytes, unsigned| Ok(ColumnType::Int { bytes, unsigned });
    let chars = |len: &Option<CharacterLength>| match len {
        Some(CharacterLength::IntegerLength { length, .. }) => declared(*length, column),
        None => Ok(1),
        Some(CharacterLength::Max) => Err(MysqlError::unsupported("VARCHAR(MAX)")),
    };
    match ty {
        DataType::TinyInt(_) | DataType::Bool | DataType::Boolean => int(1, false),
        DataType::TinyIntUnsigned(_) => int(1, true),
        DataType::SmallInt(_) => int(2, false),
        DataType::SmallIntUnsigned(_) => int(2, true),
        DataType::MediumInt(_) => int(3, false),
        DataType::MediumIntUnsigned(_) => int(3, true),
        DataType::Int(_) | DataType::Integer(_) => int(4, false),
        DataType::IntUnsigned(_) | DataType::IntegerUnsigned(_) => int(4, true),
        DataType::BigInt(_) => int(8, false),
        DataType::BigIntUnsigned(_) => int(8, true),
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float(_) | DataType::Real => {
            Ok(ColumnType::Double)
        }
        DataType::Varchar(len) | DataType::Char(len) | DataType::Character(len) => {
            chars(len).map(ColumnType::Varchar)
        }
        DataType::Text | DataType::TinyText => Ok(ColumnType::Text),
        DataType::Varbinary(len) => match len {
            Some(BinaryLength::IntegerLength { length }) => {
                declared(*length, column).map(ColumnType::Varbinary)
            }
            _ => Err(MysqlError::parse(format!("VARBINARY of `{column}` needs a length"))),
        },
        DataType::Binary(len) => declared(len.unwrap_or(1), column).map(ColumnType::Varbinary),
        DataType::Blob(_) | DataType::TinyBlob => Ok(ColumnType::Blob),
        DataType::Date => Ok(ColumnType::Date),
        DataType::Datetime(_) | DataType::Timestamp(..) => Ok(ColumnType::DateTime),
        other => Err(MysqlError::unsupported(format!(
            "the type {other} (of `{column}`); ledger columns are integers, DOUBLE, CHAR/VARCHAR, TEXT, BINARY/VARBINARY, BLOB, DATE and DATETIME"
        ))),
    }
}

fn declared(length: u64, column: &str) -> Result<u32, MysqlError> {
    u32::try_from(length).ok().filter(|n| (1..=MAX_DECLARED_LEN).contains(n)).ok_or_else(|| {
        MysqlError::new(
            1074,
            "42000",
            format!("Column length too big for column '{column}' (max = {MAX_DECLARED_LEN})"),
        )
    })
}

/// The rows of an `INSERT` into `schema`, in column order and checked as the chain will check
/// them: omitted columns are `NULL`, `?`s take `params`, strings given to numeric columns are
/// read as numbers (as MySQL does).
pub fn insert_rows(
    schema: &TableSchema,
    columns: Option<&[String]>,
    rows: &[Vec<Literal>],
    params: &[SqlValue],
) -> Result<Vec<Vec<SqlValue>>, MysqlError> {
    let positions: Vec<usize> = match columns {
        None => (0..schema.columns.len()).collect(),
        Some(names) => names
            .iter()
            .map(|n| schema.column(n).ok_or_else(|| MysqlError::unknown_column(n, "field list")))
            .collect::<Result<_, _>>()?,
    };
    rows.iter()
        .enumerate()
        .map(|(r, row)| {
            if row.len() != positions.len() {
                return Err(MysqlError::new(
                    1136,
                    "21S01",
                    format!("Column count doesn't match value count at row {}", r + 1),
                ));
            }
            let mut values = vec![SqlValue::Null; schema.columns.len()];
            for (literal, &at) in row.iter().zip(&positions) {
                let value = match literal {
                    Literal::Value(v) => v.clone(),
                    Literal::Param(i) => params.get(*i).cloned().ok_or_else(|| {
                        MysqlError::new(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute")
                    })?,
                };
                values[at] = coerce(schema.columns[at].ty, value);
            }
            schema.normalize_row(values).map_err(|e| row_error(&e, r + 1))
        })
        .collect()
}

/// The primary key values of a row of `schema`, from their text (`--pk` arguments), in key
/// order: numbers for numeric columns, `0x` hex for binary ones.
pub fn key_values(schema: &TableSchema, given: &[String]) -> Result<Vec<SqlValue>, MysqlError> {
    if given.len() != schema.primary_key.len() {
        return Err(MysqlError::new(
            1136,
            "21S01",
            format!(
                "the primary key of `{}` has {} column(s); {} value(s) given",
                schema.name,
                schema.primary_key.len(),
                given.len()
            ),
        ));
    }
    schema
        .primary_key
        .iter()
        .zip(given)
        .map(|(&column, text)| {
            let column = usize::from(column);
            let ty = schema.columns[column].ty;
            let value = match (ty, text.strip_prefix("0x")) {
                (ColumnType::Varbinary(_) | ColumnType::Blob, Some(hex)) => SqlValue::Bytes(
                    hex::decode(hex).map_err(|e| MysqlError::parse(format!("{text}: {e}")))?,
                ),
                _ => coerce(ty, SqlValue::Text(text.clone())),
            };
            schema.normalize_column(column, value).map_err(|e| row_error(&e, 1))
        })
        .collect()
}

/// A value as the node's SQL API renders it: null, numbers, strings, `0x` hex for bytes.
pub fn json_value(value: &SqlValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Int(n) => Value::from(*n),
        SqlValue::UInt(n) => Value::from(*n),
        SqlValue::Double(x) => Value::from(*x),
        SqlValue::Text(s) => Value::from(s.as_str()),
        SqlValue::Bytes(b) => Value::from(format!("0x{}", hex::encode(b))),
    }
}

/// A string given to a numeric column as the number it spells (anything else is left for the
/// check to refuse).
fn coerce(ty: ColumnType, value: SqlValue) -> SqlValue {
    match (ty, value) {
        (ColumnType::Int { .. } | ColumnType::Double, SqlValue::Text(s)) => {
            number(s.trim()).unwrap_or(SqlValue::Text(s))
        }
        (ColumnType::Varchar(_) | ColumnType::Text, SqlValue::Int(n)) => {
            SqlValue::Text(n.to_string())
        }
        (ColumnType::Varchar(_) | ColumnType::Text, SqlValue::UInt(n)) => {
            SqlValue::Text(n.to_string())
        }
        (_, value) => value,
    }
}

/// The check's refusal of row `row` as MySQL's error for it.
fn row_error(message: &str, row: usize) -> MysqlError {
    let (code, state) = if message.contains("out of range") {
        (1264, "22003")
    } else if message.contains("longer than") {
        (1406, "22001")
    } else if message.contains("cannot be NULL") {
        (1048, "23000")
    } else {
        (1366, "HY000")
    };
    MysqlError::new(code, state, format!("{message} at row {row}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_clients_ask_on_connecting_is_a_session_select() {
        let Statement::Session(items) = parse("select @@version_comment limit 1").unwrap() else {
            panic!("not a session select")
        };
        assert_eq!(
            items,
            [("@@version_comment".into(), SessionItem::Variable("version_comment".into()))]
        );
        let Statement::Session(items) =
            parse("SELECT DATABASE(), @@SESSION.autocommit AS ac, CONNECTION_ID()").unwrap()
        else {
            panic!("not a session select")
        };
        let asked: Vec<_> = items.into_iter().map(|(_, item)| item).collect();
        assert_eq!(
            asked,
            [
                SessionItem::Database,
                SessionItem::Variable("autocommit".into()),
                SessionItem::ConnectionId
            ]
        );
    }

    #[test]
    fn a_select_of_a_table_or_an_expression_goes_to_the_projection() {
        for sql in ["SELECT @@version FROM t", "SELECT 1 + 1", "SELECT DATABASE() WHERE 1"] {
            assert!(matches!(parse(sql).unwrap(), Statement::Select(_)), "{sql}");
        }
    }

    #[test]
    fn placeholders_are_counted_outside_strings() {
        assert_eq!(
            placeholders("SELECT * FROM t WHERE a = ? AND b = '?' AND c IN (?, ?)").unwrap(),
            3
        );
        assert_eq!(placeholders("SELECT 1").unwrap(), 0);
    }
    use SqlValue as V;

    fn create(sql: &str) -> Result<TableSchema, MysqlError> {
        match parse(sql)? {
            Statement::CreateTable(schema) => Ok(schema),
            other => panic!("{other:?}"),
        }
    }

    fn orders() -> TableSchema {
        create(
            "CREATE TABLE Orders (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, customer VARCHAR(32) NOT NULL, \
             amount DOUBLE, placed DATETIME, PRIMARY KEY (id), KEY by_customer (customer))",
        )
        .unwrap()
    }

    fn insert(sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, MysqlError> {
        let Statement::Insert { columns, rows, .. } = parse(sql)? else { panic!("not an insert") };
        insert_rows(&orders(), columns.as_deref(), &rows, params)
    }

    #[test]
    fn create_table_becomes_a_ledger_schema() {
        let schema = orders();
        assert_eq!(schema.name, "orders", "names are lower-cased");
        assert_eq!(schema.columns[0].ty, ColumnType::Int { bytes: 8, unsigned: true });
        assert!(schema.columns[0].auto_increment && !schema.columns[0].nullable);
        assert!(schema.columns[2].nullable, "nullable unless NOT NULL, as MySQL");
        assert_eq!(
            (schema.primary_key.clone(), schema.indexes[0].columns.clone()),
            (vec![0], vec![1])
        );
    }

    #[test]
    fn an_inline_primary_key_is_the_key() {
        let schema = create("CREATE TABLE t (code VARCHAR(8) PRIMARY KEY, n INT)").unwrap();
        assert_eq!(schema.primary_key, vec![0]);
    }

    #[test]
    fn a_table_without_a_key_or_with_an_unknown_type_is_refused() {
        assert_eq!(create("CREATE TABLE t (n INT)").unwrap_err().code, 1173);
        assert_eq!(create("CREATE TABLE t (n INT PRIMARY KEY, N INT)").unwrap_err().code, 1060);
        assert_eq!(
            create("CREATE TABLE t (n INT PRIMARY KEY, g GEOMETRY)").unwrap_err().code,
            1235
        );
        assert_eq!(create("CREATE TABLE t (n INT, PRIMARY KEY (m))").unwrap_err().code, 1072);
    }

    #[test]
    fn changes_to_committed_rows_are_refused_with_the_reason() {
        for sql in [
            "UPDATE orders SET amount = 0",
            "DELETE FROM orders",
            "DROP TABLE orders",
            "ALTER TABLE orders ADD COLUMN x INT",
            "TRUNCATE TABLE orders",
            "REPLACE INTO orders VALUES (1, 'a', 1, NULL)",
            "INSERT INTO orders VALUES (1, 'a', 1, NULL) ON DUPLICATE KEY UPDATE amount = 2",
        ] {
            let e = parse(sql).unwrap_err();
            assert_eq!((e.code, e.state), (1290, "HY000"), "{sql}");
            assert!(e.message.contains("append-only"), "{sql}: {}", e.message);
        }
    }

    #[test]
    fn syntax_errors_are_1064() {
        let e = parse("SELEC 1").unwrap_err();
        assert_eq!((e.code, e.state), (1064, "42000"));
        assert_eq!(parse("").unwrap_err().code, 1065);
    }

    #[test]
    fn what_clients_send_on_connect_is_understood() {
        assert_eq!(parse("SET NAMES utf8mb4").unwrap(), Statement::Accepted);
        assert_eq!(parse("SHOW DATABASES").unwrap(), Statement::ShowDatabases);
        assert_eq!(parse("SHOW TABLES").unwrap(), Statement::ShowTables);
        assert_eq!(parse("DESCRIBE Orders").unwrap(), Statement::Describe("orders".into()));
        assert_eq!(
            parse("SHOW COLUMNS FROM orders").unwrap(),
            Statement::Describe("orders".into())
        );
        assert_eq!(parse("USE ledger").unwrap(), Statement::Use("ledger".into()));
    }

    #[test]
    fn multi_row_inserts_fill_omitted_columns_with_null() {
        let rows =
            insert("INSERT INTO orders (customer, amount) VALUES ('ann', 10.5), ('bob', -2)", &[])
                .unwrap();
        assert_eq!(rows[0], vec![V::Null, V::Text("ann".into()), V::Double(10.5), V::Null]);
        assert_eq!(rows[1][2], V::Double(-2.0));
    }

    #[test]
    fn placeholders_take_the_parameters_in_order() {
        let rows = insert(
            "INSERT INTO orders (customer, amount, placed) VALUES (?, ?, ?)",
            &[V::Text("ann".into()), V::Text("3.5".into()), V::Text("2026-12-03 10:00:00".into())],
        )
        .unwrap();
        assert_eq!(
            rows[0][1..],
            [V::Text("ann".into()), V::Double(3.5), V::Text("2026-12-03 10:00:00".into())]
        );
    }

    #[test]
    fn values_that_do_not_fit_get_mysql_errors() {
        let code = |sql: &str| insert(sql, &[]).unwrap_err().code;
        assert_eq!(code("INSERT INTO orders (customer) VALUES (NULL)"), 1048);
        assert_eq!(
            code(&format!("INSERT INTO orders (customer) VALUES ('{}')", "x".repeat(33))),
            1406
        );
        assert_eq!(code("INSERT INTO orders (id, customer) VALUES (-1, 'a')"), 1264);
        assert_eq!(code("INSERT INTO orders (customer, amount) VALUES ('a', 'lots')"), 1366);
        assert_eq!(code("INSERT INTO orders (customer, nope) VALUES ('a', 1)"), 1054);
        assert_eq!(code("INSERT INTO orders (customer) VALUES ('a', 1)"), 1136);
        assert_eq!(code("INSERT INTO orders (customer) VALUES (?)"), 1210);
    }
}
