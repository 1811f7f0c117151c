//! `consortia sql`: one statement on a chain's ledger tables from the command line. Reads go to
//! the node's SQL projection; `CREATE TABLE` and `INSERT` are transactions to the ledger
//! contract signed with the caller's own key (the SDK's way; the MySQL gateway signs with
//! managed keys). Statements are read as the gateway reads them, with its MySQL errors.

use std::path::PathBuf;

use alloy_sol_types::SolCall;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use consortia_api::NodeClient;
use consortia_api::node::SqlQuery;
use consortia_execution::ledger::{self, ILedger, StoredTable};
use consortia_platform::service::ledger_sql::{MysqlError, Statement, insert_rows, parse};
use consortia_platform::service::ledger_verify;
use consortia_types::{Genesis, decode, encode};
use serde_json::Value;

use crate::client::{DEFAULT_NODE, call_contract, node_client};
use crate::keys::read_key;

/// Gas of one statement's transaction: a table, or a few hundred rows.
const GAS: u64 = 30_000_000;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SqlArgs {
    #[command(subcommand)]
    command: Option<SqlCommand>,
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE, global = true)]
    node: String,
    /// The private key (PKCS#8 PEM) that signs `CREATE TABLE` and `INSERT`.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Give up waiting for the commit after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// One statement: `SELECT`, `INSERT`, `CREATE TABLE`, `SHOW TABLES` or `DESCRIBE t`.
    statement: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SqlCommand {
    /// Proves a row offline: its state proof under a block whose certificate is checked by
    /// following the chain's headers from the validators of `--genesis` (no trust in the node),
    /// then compares the node's SQL projection with it.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The chain's genesis file: the one thing trusted (its validators certify block 1).
    #[arg(long)]
    genesis: PathBuf,
    #[arg(long)]
    table: String,
    /// The row's primary key value (repeat it, in key order, for a composite key; `0x` hex
    /// for a binary column).
    #[arg(long = "pk", required = true)]
    pk: Vec<String>,
}

pub(crate) async fn run(args: SqlArgs) -> Result<()> {
    let client = node_client(&args.node)?;
    if let Some(SqlCommand::Verify(verify)) = &args.command {
        return verify_row(&client, verify).await;
    }
    let statement = args.statement.as_deref().context("give a statement (or `verify`)")?;
    let mysql = |e: MysqlError| anyhow!("{e}");
    match parse(statement).map_err(mysql)? {
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

/// Checks a row as `consortia sql verify` does (see [`SqlCommand::Verify`]).
async fn verify_row(client: &NodeClient, args: &VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.genesis)
        .with_context(|| format!("cannot read genesis {}", args.genesis.display()))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a genesis file", args.genesis.display()))?;
    let proven = ledger_verify::verify_row(client, &genesis, &args.table, &args.pk).await?;
    let names = proven.schema.columns.iter().map(|c| c.name.as_str());
    let names = names.chain(["_tx", "_height", "_signer", "_row_hash"]);
    for (name, value) in names.zip(proven.values()) {
        println!("{name}\t{}", cell(&value));
    }
    println!(
        "verified: the row is in the state of block {}, whose certificate was checked by \
         following {} header(s) from the validators of {}",
        proven.certificate.height,
        proven.headers,
        args.genesis.display()
    );
    match proven.projection {
        Ok(()) => {
            println!("the node's SQL projection holds the same row");
            Ok(())
        }
        Err(differs) => bail!("{differs}"),
    }
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
