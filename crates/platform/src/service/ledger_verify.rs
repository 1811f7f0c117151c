//! Proving a ledger row from a chain's genesis, trusting nothing the node says: every
//! certified header from block 1 to the latest is followed (`types::HeaderChain`), each
//! certificate checked under the validator set that signs its height, and the last header's
//! state root checks the state proofs of the table's schema and of the row. The node's SQL
//! projection is then compared with the proven row (an edited `ledger.sqlite` shows there).
//!
//! `consortia sql verify` runs it on the user's machine against a genesis file; the console's
//! "verify" button runs it on the platform against the genesis it launched the chain with.

use consortia_api::node::{
    CertifiedHeaderView, HeadersQuery, HeightQuery, SqlQuery, StateProofView,
};
use consortia_api::proof::verify_state;
use consortia_api::{ClientError, NodeClient};
use consortia_crypto::Hash;
use consortia_types::ledger::{StoredRow, StoredTable, TableSchema, row_key, table_key};
use consortia_types::{CertifiedHeader, Genesis, HeaderChain, decode};
use serde_json::Value;

use super::ledger_sql::{MysqlError, json_value, key_values};

/// Why a row could not be proven.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The node did not answer, or refused.
    #[error(transparent)]
    Node(#[from] ClientError),
    /// What the node served does not check out: a certificate, a header or a proof.
    #[error("not verified: {0}")]
    NotVerified(String),
    /// The table or the row is proven absent, or the key does not fit the table.
    #[error("{0}")]
    Absent(String),
}

/// A row proven in the state of a certified block.
#[derive(Debug)]
pub struct ProvenRow {
    /// The block whose certified state root proves the row.
    pub certificate: CertifiedHeaderView,
    /// How many certified headers were followed from genesis.
    pub headers: u64,
    pub schema: TableSchema,
    pub row: StoredRow,
    /// The hash of the row's state entry (`_row_hash`).
    pub row_hash: Hash,
    /// The node's answers, checked: the table's schema and the row.
    pub table_proof: StateProofView,
    pub row_proof: StateProofView,
    /// `Err` says how the node's SQL projection differs from the proven row.
    pub projection: Result<(), String>,
}

impl ProvenRow {
    /// The row as the projection shows it: the columns' values, then `_tx`, `_height`,
    /// `_signer` and `_row_hash`.
    pub fn values(&self) -> Vec<Value> {
        let row = &self.row;
        let mut values: Vec<Value> = row.values.iter().map(json_value).collect();
        values.extend([
            Value::from(row.tx_hash.to_hex()),
            Value::from(row.height),
            Value::from(row.signer.to_checksum_hex()),
            Value::from(self.row_hash.to_hex()),
        ]);
        values
    }
}

/// Proves the row of `table` whose primary key is `pk` (in key order; `0x` hex for a binary
/// column) from `genesis`, through `client`'s answers, and compares the node's projection.
pub async fn verify_row(
    client: &NodeClient,
    genesis: &Genesis,
    table: &str,
    pk: &[String],
) -> Result<ProvenRow, VerifyError> {
    let invalid = |e: &dyn std::fmt::Display| VerifyError::NotVerified(e.to_string());
    let algo = genesis.suite.hash();
    let height = client.status().await?.height;
    let (chain, certificate) = follow_headers(client, genesis, height, |_, _, _| {}).await?;
    let root = chain.last().ok_or_else(|| invalid(&"the chain has no block yet"))?.state_root;
    let at = HeightQuery { height: Some(height) };
    let proven = async |key: Vec<u8>| -> Result<(Option<Vec<u8>>, StateProofView), VerifyError> {
        let answer = client.state(&format!("0x{}", hex::encode(key)), &at).await?;
        let value = verify_state(&answer, genesis.suite, root).map_err(|e| invalid(&e))?;
        Ok((value, answer))
    };
    let (entry, table_proof) = proven(table_key(table)).await?;
    let entry =
        entry.ok_or_else(|| VerifyError::Absent(MysqlError::no_such_table(table).message))?;
    let stored: StoredTable =
        decode(&entry).map_err(|e| invalid(&format!("the table's entry: {e}")))?;
    let schema = stored.schema;
    let key = key_values(&schema, pk).map_err(|e| VerifyError::Absent(e.message))?;
    let (entry, row_proof) = proven(row_key(table, &key)).await?;
    let entry = entry.ok_or_else(|| {
        VerifyError::Absent(format!(
            "no row of `{table}` has that key (proven absent at block {height})"
        ))
    })?;
    let row: StoredRow = decode(&entry).map_err(|e| invalid(&format!("the row's entry: {e}")))?;
    let mut proven = ProvenRow {
        certificate,
        headers: height,
        row_hash: algo.digest(&entry),
        schema,
        row,
        table_proof,
        row_proof,
        projection: Ok(()),
    };
    proven.projection = projection_check(client, &proven, table, &key, height).await?;
    Ok(proven)
}

/// Follows every certified header from block 1 to `height` through `client`'s answers, each
/// certified by the set that signs its height, from `genesis`' validators: the chain followed,
/// and the last header's view. `seen` gets each header before it is followed (with the chain
/// as it stands: its `next_set` signs that header).
pub async fn follow_headers(
    client: &NodeClient,
    genesis: &Genesis,
    height: u64,
    mut seen: impl FnMut(&HeaderChain, &CertifiedHeaderView, &CertifiedHeader),
) -> Result<(HeaderChain, CertifiedHeaderView), VerifyError> {
    let invalid = |e: &dyn std::fmt::Display| VerifyError::NotVerified(e.to_string());
    let mut chain = HeaderChain::new(
        genesis.suite.hash(),
        genesis.params.consensus,
        genesis.chain_id,
        None,
        genesis.validators.clone(),
    );
    let mut last = None;
    while chain.next_height() <= height {
        let from = chain.next_height();
        let page = client.headers(&HeadersQuery { from: Some(from), limit: None }).await?;
        if page.is_empty() {
            return Err(invalid(&format!("the node serves no certified header {from}")));
        }
        for view in page.into_iter().filter(|v| v.height <= height) {
            let bytes = hex::decode(view.encoded.trim_start_matches("0x"))
                .map_err(|e| invalid(&format!("header {}'s encoding: {e}", view.height)))?;
            let header: CertifiedHeader =
                decode(&bytes).map_err(|e| invalid(&format!("header {}: {e}", view.height)))?;
            seen(&chain, &view, &header);
            chain.follow(header).map_err(|e| invalid(&e))?;
            last = Some(view);
        }
    }
    let last = last.ok_or_else(|| invalid(&"the chain has no block yet"))?;
    Ok((chain, last))
}

/// Whether the node's SQL projection holds `proven` as the chain does.
async fn projection_check(
    client: &NodeClient,
    proven: &ProvenRow,
    table: &str,
    key: &[consortia_types::ledger::SqlValue],
    height: u64,
) -> Result<Result<(), String>, VerifyError> {
    let schema = &proven.schema;
    let filter: Vec<String> = schema
        .primary_key
        .iter()
        .map(|&k| format!("`{}` = ?", schema.columns[usize::from(k)].name))
        .collect();
    let sql = format!("SELECT * FROM `{table}` WHERE {}", filter.join(" AND "));
    let params = key.iter().map(json_value).collect();
    let answer = client.sql_query(&SqlQuery { sql, params, min_height: Some(height) }).await?;
    Ok(match answer.rows.as_slice() {
        [projected] if *projected == proven.values() => Ok(()),
        [projected] => Err(format!(
            "the node's SQL projection differs from the proven row (tampered?): it answers {}",
            Value::from(projected.clone())
        )),
        _ => Err("the node's SQL projection lacks the proven row (tampered?)".into()),
    })
}
