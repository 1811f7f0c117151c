//! `consortia sql`: one statement on a chain's ledger tables from the command line. Reads go to
//! the node's SQL projection; `CREATE TABLE` and `INSERT` are transactions to the ledger
//! contract signed with the caller's own key (the SDK's way; the MySQL gateway signs with
//! managed keys). Statements are read as the gateway reads them, with its MySQL errors.

use std::path::PathBuf;

use alloy_sol_types::SolCall;
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use consortia_api::NodeClient;
use consortia_api::node::SqlQuery;
use consortia_execution::ledger::{self, ILedger, StoredTable};
use consortia_platform::service::ledger_sql::{MysqlError, Statement, insert_rows, parse};
use consortia_types::{decode, encode};
use serde_json::Value;

use crate::client::{DEFAULT_NODE, call_contract, node_client};
use crate::keys::read_key;

/// Gas of one statement's transaction: a table, or a few hundred rows.
const GAS: u64 = 30_000_000;

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// The private key (PKCS#8 PEM) that signs `CREATE TABLE` and `INSERT`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Give up waiting for the commit after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// One statement: `SELECT`, `INSERT`, `CREATE TABLE`, `SHOW TABLES` or `DESCRIBE t`.
    statement: String,
}

pub(crate) async fn run(args: SqlArgs) -> Result<()> {
    let client = node_client(&args.node)?;
    let mysql = |e: MysqlError| anyhow!("{e}");
    match parse(&args.statement).map_err(mysql)? {
        Statement::Select(sql) => {
            // Whatever was committed before this command is in the answer.
            let min_height = Some(client.status().await?.height);
            let answer = client.sql_query(&SqlQuery { sql, params: vec![], min_height }).await?;
            let names: Vec<&str> = answer.columns.iter().map(|c| c.name.as_str()).collect();
            println!("{}", names.join("\t"));
            for row in &answer.rows {
                println!("{}", row.iter().map(cell).collect::<Vec<_>>().join("\t"));
            }
        }
        Statement::CreateTable(schema) => {
            let name = schema.name.clone();
            let input = ILedger::createTableCall { schema: encode(&schema).into() }.abi_encode();
            let (_, height) = send(&client, &args, input).await?;
            println!("table `{name}` created at block {height}");
        }
        Statement::Insert { table, columns, rows } => {
            let stored = table_of(&client, &table).await?;
            let rows =
                insert_rows(&stored.schema, columns.as_deref(), &rows, &[]).map_err(mysql)?;
            let count = rows.len();
            let input = ILedger::insertCall { table, rows: encode(&rows).into() }.abi_encode();
            let (output, height) = send(&client, &args, input).await?;
            let first =
                ILedger::insertCall::abi_decode_returns(&output).context("the insert's output")?;
            let auto = if first > 0 { format!(", first id {first}") } else { String::new() };
            println!("{count} row(s) inserted at block {height}{auto}");
        }
        Statement::ShowTables => {
            for table in client.sql_tables().await? {
                println!("{}\t{} rows", table.name, table.rows);
            }
        }
        Statement::Describe(table) => {
            let schema = table_of(&client, &table).await?.schema;
            for c in &schema.columns {
                let key = schema
                    .primary_key
                    .iter()
                    .any(|k| schema.columns[usize::from(*k)].name == c.name);
                let null = if c.nullable { "YES" } else { "NO" };
                let extra = if c.auto_increment { "auto_increment" } else { "" };
                println!(
                    "{}\t{}\t{null}\t{}\t{extra}",
                    c.name,
                    c.ty.mysql_name(),
                    if key { "PRI" } else { "" }
                );
            }
        }
        Statement::ShowDatabases | Statement::Use(_) | Statement::Accepted => {
            println!("nothing to do: a chain is one database of ledger tables");
        }
        Statement::Session(_) => {
            println!("session values (@@variables, DATABASE()) are the MySQL gateway's to answer");
        }
    }
    Ok(())
}

/// The committed table `name`, read from the node's state.
async fn table_of(client: &NodeClient, name: &str) -> Result<StoredTable> {
    // As hex: the key's slashes would end the path segment.
    let key = format!("0x{}", hex::encode(ledger::table_key(name)));
    let answer = client.state(&key, &Default::default()).await?;
    let Some(value) = answer.value else { bail!("{}", MysqlError::no_such_table(name)) };
    let bytes = hex::decode(value.trim_start_matches("0x")).context("the table's state entry")?;
    decode(&bytes).map_err(|e| anyhow!("the table's state entry: {e}"))
}

/// Signs `input` to the ledger contract with `--key` and waits for its commit (see
/// [`call_contract`]).
async fn send(client: &NodeClient, args: &SqlArgs, input: Vec<u8>) -> Result<(Vec<u8>, u64)> {
    let path = args.key.as_ref().context("a write needs --key (the PEM key that signs it)")?;
    let key = read_key(path)?;
    call_contract(client, &key, ledger::ADDRESS, input, GAS, args.timeout).await
}

/// A value as the `mysql` client prints it in batch mode.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
