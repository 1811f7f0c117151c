//! `consortia sql`: one statement on a chain's ledger tables from the command line. Reads go to
//! the node's SQL projection; `CREATE TABLE` and `INSERT` are transactions to the ledger
//! contract signed with the caller's own key (the SDK's way; the MySQL gateway signs with
//! managed keys). Statements are read as the gateway reads them, with its MySQL errors.

use std::path::PathBuf;

use alloy_sol_types::SolCall;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use consortia_api::NodeClient;
use consortia_api::node::{HeadersQuery, HeightQuery, SqlQuery};
use consortia_api::proof::verify_state;
use consortia_execution::ledger::{self, ILedger, StoredRow, StoredTable};
use consortia_platform::service::ledger_sql::{
    MysqlError, Statement, insert_rows, json_value, key_values, parse,
};
use consortia_types::{CertifiedHeader, Genesis, HeaderChain, decode, encode};
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
    let algo = genesis.suite.hash();
    let height = client.status().await?.height;
    let at = HeightQuery { height: Some(height) };
    // Every header from block 1 to `height`, each certified by the set that signs it.
    let mut chain = HeaderChain::new(
        algo,
        genesis.params.consensus,
        genesis.chain_id,
        None,
        genesis.validators.clone(),
    );
    while chain.next_height() <= height {
        let from = chain.next_height();
        let page = client.headers(&HeadersQuery { from: Some(from), limit: None }).await?;
        if page.is_empty() {
            bail!("the node serves no certified header {from}");
        }
        for view in page.into_iter().filter(|v| v.height <= height) {
            let bytes = hex::decode(view.encoded.trim_start_matches("0x"))
                .context("a header's encoding")?;
            let header: CertifiedHeader =
                decode(&bytes).map_err(|e| anyhow!("header {}: {e}", view.height))?;
            chain.follow(header).map_err(|e| anyhow!("not verified: {e}"))?;
        }
    }
    let root = chain.last().context("no block yet")?.state_root;
    let proven = async |key: Vec<u8>| -> Result<Option<Vec<u8>>> {
        let answer = client.state(&format!("0x{}", hex::encode(key)), &at).await?;
        verify_state(&answer, genesis.suite, root).map_err(|e| anyhow!("not verified: {e}"))
    };
    let table = proven(ledger::table_key(&args.table))
        .await?
        .ok_or_else(|| anyhow!("{}", MysqlError::no_such_table(&args.table)))?;
    let table: StoredTable = decode(&table).map_err(|e| anyhow!("the table's entry: {e}"))?;
    let schema = &table.schema;
    let key = key_values(schema, &args.pk).map_err(|e| anyhow!("{e}"))?;
    let entry = proven(ledger::row_key(&args.table, &key)).await?.ok_or_else(|| {
        anyhow!("no row of `{}` has that key (proven absent at block {height})", args.table)
    })?;
    let row: StoredRow = decode(&entry).map_err(|e| anyhow!("the row's entry: {e}"))?;
    let row_hash = algo.digest(&entry).to_hex();
    for (column, value) in schema.columns.iter().zip(&row.values) {
        println!("{}\t{}", column.name, cell(&json_value(value)));
    }
    println!(
        "_tx\t{}\n_height\t{}\n_signer\t{}",
        row.tx_hash.to_hex(),
        row.height,
        row.signer.to_checksum_hex()
    );
    println!("_row_hash\t{row_hash}");
    println!(
        "verified: the row is in the state of block {height}, whose certificate was checked by \
         following {height} header(s) from the validators of {}",
        args.genesis.display()
    );
    // The node's projection must say the same.
    let filter: Vec<String> = schema
        .primary_key
        .iter()
        .map(|&k| format!("`{}` = ?", schema.columns[usize::from(k)].name))
        .collect();
    let sql = format!("SELECT * FROM `{}` WHERE {}", args.table, filter.join(" AND "));
    let params = key.iter().map(json_value).collect();
    let answer = client.sql_query(&SqlQuery { sql, params, min_height: Some(height) }).await?;
    let mut expected: Vec<Value> = row.values.iter().map(json_value).collect();
    expected.extend([
        Value::from(row.tx_hash.to_hex()),
        Value::from(row.height),
        Value::from(row.signer.to_checksum_hex()),
        Value::from(row_hash),
    ]);
    match answer.rows.as_slice() {
        [projected] if *projected == expected => {
            println!("the node's SQL projection holds the same row");
            Ok(())
        }
        [projected] => bail!(
            "the node's SQL projection differs from the proven row (tampered?): it answers {}",
            Value::from(projected.clone())
        ),
        _ => bail!("the node's SQL projection lacks the proven row (tampered?)"),
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
