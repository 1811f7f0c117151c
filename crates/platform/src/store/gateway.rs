//! The contract gateway's managed signing keys, and the journal of every transaction the
//! platform signs (`signed_txs`).

use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

// ---- signing keys ---------------------------------------------------------------------------

/// A managed key's row.
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub id: String,
    pub org_id: String,
    pub owner_id: String,
    pub name: String,
    pub enabled: bool,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One version of a key: its account and sealed private key.
#[derive(Clone, Debug)]
pub struct KeyVersionRow {
    pub version: i64,
    pub address: String,
    pub key_pem: String,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

const KEY_COLUMNS: &str =
    "SELECT id, org_id, owner_id, name, enabled, version, created_ms, updated_ms FROM signing_keys";

fn key_row(r: &sqlx::any::AnyRow) -> KeyRow {
    KeyRow {
        id: r.get(0),
        org_id: r.get(1),
        owner_id: r.get(2),
        name: r.get(3),
        enabled: r.get::<i64, _>(4) == 1,
        version: r.get(5),
        created_ms: r.get(6),
        updated_ms: r.get(7),
    }
}

/// A new key and its first version, in one transaction.
pub async fn insert_key(
    tx: &mut Tx,
    id: &str,
    org: &str,
    owner: &str,
    name: &str,
    address: &str,
    key_pem: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO signing_keys (id, org_id, owner_id, name, enabled, version, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, 1, 1, $5, $5)",
    )
    .bind(id)
    .bind(org)
    .bind(owner)
    .bind(name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    insert_version(tx, id, 1, address, key_pem).await
}

async fn insert_version(
    tx: &mut Tx,
    key: &str,
    version: i64,
    address: &str,
    key_pem: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_key_versions (key_id, version, address, key_pem, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key)
    .bind(version)
    .bind(address)
    .bind(key_pem)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Locks a key's row (two rotations take turns) and returns its signing version.
pub async fn lock_key(tx: &mut Tx, key: &str) -> Result<i64> {
    sqlx::query("UPDATE signing_keys SET version = version WHERE id = $1")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query("SELECT version FROM signing_keys WHERE id = $1")
        .bind(key)
        .fetch_one(&mut **tx)
        .await?
        .get(0))
}

/// Makes `version` (one past the locked key's) its signing version with a new account, and
/// retires the ones before.
pub async fn rotate(
    tx: &mut Tx,
    key: &str,
    version: i64,
    address: &str,
    key_pem: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query("UPDATE signing_keys SET version = $1, updated_ms = $2 WHERE id = $3")
        .bind(version)
        .bind(now)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE signing_key_versions SET retired_ms = $1 WHERE key_id = $2 AND retired_ms IS NULL",
    )
    .bind(now)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    insert_version(tx, key, version, address, key_pem).await
}

pub async fn set_key_enabled(db: impl Exec<'_>, key: &str, enabled: bool) -> Result<()> {
    sqlx::query("UPDATE signing_keys SET enabled = $1, updated_ms = $2 WHERE id = $3")
        .bind(i64::from(enabled))
        .bind(now_ms())
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn key(db: impl Exec<'_>, id: &str) -> Result<Option<KeyRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE id = $1"));
    Ok(sqlx::query(sql).bind(id).fetch_optional(db).await?.as_ref().map(key_row))
}

/// The keys whose id is `id_or_name`, or whose name is, in any organization.
pub async fn keys_named(db: impl Exec<'_>, id_or_name: &str) -> Result<Vec<KeyRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{KEY_COLUMNS} WHERE id = $1 OR name = $1"));
    Ok(sqlx::query(sql).bind(id_or_name).fetch_all(db).await?.iter().map(key_row).collect())
}

/// An organization's keys (only `owner`'s, if given), by name.
pub async fn keys_of_org(db: impl Exec<'_>, org: &str, owner: Option<&str>) -> Result<Vec<KeyRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{KEY_COLUMNS} WHERE org_id = $1 AND ($2 = '' OR owner_id = $2) ORDER BY name"
    ));
    let rows = sqlx::query(sql).bind(org).bind(owner.unwrap_or("")).fetch_all(db).await?;
    Ok(rows.iter().map(key_row).collect())
}

/// A key's versions, newest first.
pub async fn versions(db: impl Exec<'_>, key: &str) -> Result<Vec<KeyVersionRow>> {
    let rows = sqlx::query(
        "SELECT version, address, key_pem, created_ms, retired_ms FROM signing_key_versions \
         WHERE key_id = $1 ORDER BY version DESC",
    )
    .bind(key)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| KeyVersionRow {
            version: r.get(0),
            address: r.get(1),
            key_pem: r.get(2),
            created_ms: r.get(3),
            retired_ms: r.get(4),
        })
        .collect())
}

// ---- the journal of signed transactions ------------------------------------------------------

/// A signed transaction as recorded.
#[derive(Clone, Debug)]
pub struct SignedTxRow {
    pub id: String,
    pub chain_id: String,
    pub address: String,
    pub nonce: Option<i64>,
    pub tx_hash: String,
    pub raw_tx: Option<String>,
    pub status: String,
    pub user_id: Option<String>,
    pub org_id: String,
    pub key_id: Option<String>,
    pub contract_id: Option<String>,
    pub function: Option<String>,
    pub fingerprint: Option<String>,
    pub idempotency_key: Option<String>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub created_ms: i64,
    pub sent_ms: i64,
    pub finished_ms: Option<i64>,
}

const TX_COLUMNS: &str = "SELECT id, chain_id, address, nonce, tx_hash, raw_tx, status, user_id, \
     org_id, key_id, contract_id, function, fingerprint, idempotency_key, outcome, error, \
     created_ms, sent_ms, finished_ms FROM signed_txs";

fn tx_row(r: &sqlx::any::AnyRow) -> SignedTxRow {
    SignedTxRow {
        id: r.get(0),
        chain_id: r.get(1),
        address: r.get(2),
        nonce: r.get(3),
        tx_hash: r.get(4),
        raw_tx: r.get(5),
        status: r.get(6),
        user_id: r.get(7),
        org_id: r.get(8),
        key_id: r.get(9),
        contract_id: r.get(10),
        function: r.get(11),
        fingerprint: r.get(12),
        idempotency_key: r.get(13),
        outcome: r.get(14),
        error: r.get(15),
        created_ms: r.get(16),
        sent_ms: r.get(17),
        finished_ms: r.get(18),
    }
}

/// What a gateway call records beside the transaction (none for the platform's own).
#[derive(Clone, Debug, Default)]
pub struct CallRecord {
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub contract_id: Option<String>,
    pub function: Option<String>,
    pub request: Option<String>,
    pub fingerprint: Option<String>,
    pub idempotency_key: Option<String>,
}

/// A transaction about to be sent.
#[derive(Debug)]
pub struct NewSignedTx<'a> {
    pub chain: &'a str,
    pub org: &'a str,
    pub address: &'a str,
    pub nonce: u64,
    pub tx_hash: &'a str,
    pub raw_tx: &'a str,
    pub call: &'a CallRecord,
}

/// Records a signed transaction as pending; refused (a duplicate) if its nonce is taken or
/// its user already used its idempotency key.
pub async fn insert_tx(db: impl Exec<'_>, new: &NewSignedTx<'_>) -> Result<String> {
    let id = new_id("call");
    let now = now_ms();
    let c = new.call;
    sqlx::query(
        "INSERT INTO signed_txs (id, chain_id, address, nonce, tx_hash, raw_tx, status, user_id, \
         org_id, key_id, contract_id, function, request, fingerprint, idempotency_key, \
         created_ms, sent_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(&id)
    .bind(new.chain)
    .bind(new.address)
    .bind(new.nonce as i64)
    .bind(new.tx_hash)
    .bind(new.raw_tx)
    .bind(&c.user_id)
    .bind(new.org)
    .bind(&c.key_id)
    .bind(&c.contract_id)
    .bind(&c.function)
    .bind(&c.request)
    .bind(&c.fingerprint)
    .bind(&c.idempotency_key)
    .bind(now)
    .execute(db)
    .await?;
    Ok(id)
}

/// The highest nonce recorded for an account on a chain.
pub async fn max_nonce(db: impl Exec<'_>, chain: &str, address: &str) -> Result<Option<u64>> {
    let row = sqlx::query(
        "SELECT MAX(nonce) FROM signed_txs WHERE chain_id = $1 AND address = $2 AND nonce IS NOT NULL",
    )
    .bind(chain)
    .bind(address)
    .fetch_one(db)
    .await?;
    Ok(row.get::<Option<i64>, _>(0).map(|n| n as u64))
}

/// The chain refused a pending transaction: failed, and its nonce freed. Refused at its
/// first send (`forget_key`), nothing ran and nobody was told it was accepted: its
/// idempotency key is freed too, so a retry sends it again.
pub async fn refuse(db: impl Exec<'_>, id: &str, error: &str, forget_key: bool) -> Result<()> {
    sqlx::query(
        "UPDATE signed_txs SET status = 'failed', nonce = NULL, raw_tx = NULL, error = $1, \
         finished_ms = $2, idempotency_key = CASE WHEN $3 = 1 THEN NULL ELSE idempotency_key END \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(error)
    .bind(now_ms())
    .bind(i64::from(forget_key))
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// How a final transaction ended.
#[derive(Debug)]
pub struct Finished<'a> {
    pub status: &'a str,
    pub height: u64,
    pub outcome: &'a str,
    pub error: Option<&'a str>,
}

/// Records the outcome of a pending transaction; false if it was final already.
pub async fn finish(db: impl Exec<'_>, id: &str, f: &Finished<'_>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE signed_txs SET status = $1, height = $2, outcome = $3, error = $4, raw_tx = NULL, \
         finished_ms = $5 WHERE id = $6 AND status = 'pending'",
    )
    .bind(f.status)
    .bind(f.height as i64)
    .bind(f.outcome)
    .bind(f.error)
    .bind(now_ms())
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes that a pending transaction was sent again.
pub async fn touch_sent(db: impl Exec<'_>, id: &str) -> Result<()> {
    sqlx::query("UPDATE signed_txs SET sent_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn tx(db: impl Exec<'_>, id: &str) -> Result<Option<SignedTxRow>> {
    let sql = sqlx::AssertSqlSafe(format!("{TX_COLUMNS} WHERE id = $1"));
    Ok(sqlx::query(sql).bind(id).fetch_optional(db).await?.as_ref().map(tx_row))
}

/// The call a user made with an idempotency key.
pub async fn by_idempotency_key(
    db: impl Exec<'_>,
    user: &str,
    key: &str,
) -> Result<Option<SignedTxRow>> {
    let sql =
        sqlx::AssertSqlSafe(format!("{TX_COLUMNS} WHERE user_id = $1 AND idempotency_key = $2"));
    Ok(sqlx::query(sql).bind(user).bind(key).fetch_optional(db).await?.as_ref().map(tx_row))
}

/// Pending transactions last sent before `sent_before` (ms), oldest nonce first per account.
pub async fn pending(db: impl Exec<'_>, sent_before: i64, limit: i64) -> Result<Vec<SignedTxRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{TX_COLUMNS} WHERE status = 'pending' AND sent_ms < $1 \
         ORDER BY chain_id, address, nonce LIMIT $2"
    ));
    let rows = sqlx::query(sql).bind(sent_before).bind(limit).fetch_all(db).await?;
    Ok(rows.iter().map(tx_row).collect())
}

/// Which gateway calls to list.
#[derive(Debug)]
pub struct CallFilter<'a> {
    pub chain: &'a str,
    /// Only this user's (none: everyone's).
    pub user: Option<&'a str>,
    pub status: Option<&'a str>,
    pub key: Option<&'a str>,
    pub limit: i64,
}

/// Gateway calls of a chain, newest first.
pub async fn calls(db: impl Exec<'_>, f: &CallFilter<'_>) -> Result<Vec<SignedTxRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{TX_COLUMNS} WHERE chain_id = $1 AND user_id IS NOT NULL AND ($2 = '' OR user_id = $2) \
         AND ($3 = '' OR status = $3) AND ($4 = '' OR key_id = $4) \
         ORDER BY created_ms DESC, id LIMIT $5"
    ));
    let rows = sqlx::query(sql)
        .bind(f.chain)
        .bind(f.user.unwrap_or(""))
        .bind(f.status.unwrap_or(""))
        .bind(f.key.unwrap_or(""))
        .bind(f.limit)
        .fetch_all(db)
        .await?;
    Ok(rows.iter().map(tx_row).collect())
}
