//! Contracts of a chain, and the signing accounts the platform keeps per organization.

use sqlx::Row;

use super::{Exec, new_id, now_ms};
use crate::error::Result;

/// A contract row.
#[derive(Clone, Debug)]
pub struct ContractRow {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub name: String,
    /// The JSON ABI as stored.
    pub abi: String,
    pub bytecode: Vec<u8>,
    pub code_hash: String,
    pub status: String,
    pub address: Option<String>,
    pub deploy_tx: Option<String>,
    pub created_ms: i64,
    /// Which of the platform's standard contracts it is (`erc20`, `erc721`,
    /// `shared-ledger`); none for an uploaded one.
    pub standard: Option<String>,
    /// Its business views (a JSON `DisplaySpec`), if set.
    pub display: Option<String>,
}

const COLUMNS: &str = "SELECT id, chain_id, org_id, name, abi, bytecode, code_hash, status, address, deploy_tx, created_ms, standard, display_spec FROM contracts";

fn row(r: &sqlx::any::AnyRow) -> Result<ContractRow> {
    Ok(ContractRow {
        id: r.get(0),
        chain_id: r.get(1),
        org_id: r.get(2),
        name: r.get(3),
        abi: r.get(4),
        bytecode: hex::decode(r.get::<String, _>(5)).map_err(crate::Error::internal)?,
        code_hash: r.get(6),
        status: r.get(7),
        address: r.get(8),
        deploy_tx: r.get(9),
        created_ms: r.get(10),
        standard: r.get(11),
        display: r.get(12),
    })
}

/// A new contract's row.
#[derive(Debug)]
pub struct NewContract<'a> {
    pub chain: &'a str,
    pub org: &'a str,
    pub name: &'a str,
    pub abi: &'a str,
    pub bytecode: &'a [u8],
    pub code_hash: &'a str,
    pub created_by: &'a str,
    pub standard: Option<&'a str>,
}

pub async fn insert(db: impl Exec<'_>, new: &NewContract<'_>) -> Result<String> {
    let id = new_id("ctr");
    sqlx::query(
        "INSERT INTO contracts (id, chain_id, org_id, name, abi, bytecode, code_hash, status, created_by, created_ms, standard) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'uploaded', $8, $9, $10)",
    )
    .bind(&id)
    .bind(new.chain)
    .bind(new.org)
    .bind(new.name)
    .bind(new.abi)
    .bind(hex::encode(new.bytecode))
    .bind(new.code_hash)
    .bind(new.created_by)
    .bind(now_ms())
    .bind(new.standard)
    .execute(db)
    .await?;
    Ok(id)
}

/// A contract of a chain by id or name.
pub async fn by_id_or_name(
    db: impl Exec<'_>,
    chain: &str,
    id_or_name: &str,
) -> Result<Option<ContractRow>> {
    let sql =
        sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE chain_id = $1 AND (id = $2 OR name = $2)"));
    let found = sqlx::query(sql).bind(chain).bind(id_or_name).fetch_optional(db).await?;
    found.as_ref().map(row).transpose()
}

/// The contracts of a chain, oldest first; with `deployed`, only those with an address.
pub async fn of_chain(db: impl Exec<'_>, chain: &str, deployed: bool) -> Result<Vec<ContractRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{COLUMNS} WHERE chain_id = $1 AND ($2 = 0 OR address IS NOT NULL) ORDER BY created_ms, name"
    ));
    let rows = sqlx::query(sql).bind(chain).bind(i64::from(deployed)).fetch_all(db).await?;
    rows.iter().map(row).collect()
}

/// Marks an uploaded contract deployed; false if it was deployed meanwhile.
pub async fn mark_deployed(
    db: impl Exec<'_>,
    id: &str,
    address: &str,
    tx_hash: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE contracts SET status = 'deployed', address = $1, deploy_tx = $2, deployed_ms = $3 \
         WHERE id = $4 AND status = 'uploaded'",
    )
    .bind(address)
    .bind(tx_hash)
    .bind(now_ms())
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The organization's signing key (PKCS#8 PEM), if it has one.
/// Sets or clears a contract's business views.
pub async fn set_display(db: impl Exec<'_>, id: &str, display: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE contracts SET display_spec = $1 WHERE id = $2")
        .bind(display)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn org_key(db: impl Exec<'_>, org: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT key_pem FROM org_accounts WHERE org_id = $1")
        .bind(org)
        .fetch_optional(db)
        .await?
        .map(|r| r.get(0)))
}

/// The account address of `org`'s key (`0x` checksummed hex), if it has one: kept beside the
/// sealed key, and after an organization is deleted and its key erased.
pub async fn org_address(db: impl Exec<'_>, org: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT address FROM org_accounts WHERE org_id = $1")
        .bind(org)
        .fetch_optional(db)
        .await?
        .map(|r| r.get(0)))
}

pub async fn insert_org_key(
    db: impl Exec<'_>,
    org: &str,
    address: &str,
    key_pem: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_accounts (org_id, address, key_pem, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(address)
    .bind(key_pem)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}
