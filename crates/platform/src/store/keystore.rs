//! The keystore's row and the private-key cells it seals.

use sqlx::Row;

use super::{Exec, Tx, now_ms};
use crate::error::{Error, Result};
use crate::keystore::{Sealing, Secret, cipher_from_name, cipher_name};

const ROW: &str = "root";

pub async fn sealing(db: impl Exec<'_>) -> Result<Option<Sealing>> {
    let Some(r) = sqlx::query(
        "SELECT share_set, shares, threshold, cipher, data_key, token_key FROM keystore WHERE id = $1",
    )
    .bind(ROW)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let cipher: String = r.get(3);
    let small = |n: i64| u8::try_from(n).map_err(|_| Error::internal("keystore row: bad count"));
    Ok(Some(Sealing {
        set: r.get(0),
        shares: small(r.get(1))?,
        threshold: small(r.get(2))?,
        cipher: cipher_from_name(&cipher)
            .ok_or_else(|| Error::internal(format!("keystore row: unknown cipher {cipher}")))?,
        data_key: r.get(4),
        token_key: r.get(5),
    }))
}

pub async fn insert_sealing(tx: &mut Tx, s: &Sealing) -> Result<()> {
    sqlx::query(
        "INSERT INTO keystore (id, share_set, shares, threshold, cipher, data_key, token_key, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ROW)
    .bind(&s.set)
    .bind(i64::from(s.shares))
    .bind(i64::from(s.threshold))
    .bind(cipher_name(s.cipher))
    .bind(&s.data_key)
    .bind(&s.token_key)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces the share set `old_set` by `new`'s; false if another rekey got there first.
pub async fn replace_sealing(db: impl Exec<'_>, old_set: &str, new: &Sealing) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE keystore SET share_set = $1, shares = $2, threshold = $3, data_key = $4, rekeyed_ms = $5 \
         WHERE id = $6 AND share_set = $7",
    )
    .bind(&new.set)
    .bind(i64::from(new.shares))
    .bind(i64::from(new.threshold))
    .bind(&new.data_key)
    .bind(now_ms())
    .bind(ROW)
    .bind(old_set)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every private-key cell of the database, with its stored value.
pub async fn secrets(tx: &mut Tx) -> Result<Vec<(Secret, String)>> {
    let mut out = vec![];
    for r in sqlx::query("SELECT id, ca_key_pem FROM consortiums").fetch_all(&mut **tx).await? {
        out.push((Secret::ConsortiumCa { consortium: r.get(0) }, r.get(1)));
    }
    for r in sqlx::query("SELECT consortium_id, org_id, key_pem FROM consortium_members")
        .fetch_all(&mut **tx)
        .await?
    {
        out.push((Secret::MemberCa { consortium: r.get(0), org: r.get(1) }, r.get(2)));
    }
    let previous = "SELECT consortium_id, org_id, previous_key_pem FROM consortium_members \
                    WHERE previous_key_pem IS NOT NULL";
    for r in sqlx::query(previous).fetch_all(&mut **tx).await? {
        out.push((Secret::PreviousMemberCa { consortium: r.get(0), org: r.get(1) }, r.get(2)));
    }
    for r in sqlx::query("SELECT org_id, key_pem FROM org_accounts").fetch_all(&mut **tx).await? {
        out.push((Secret::OrgAccount { org: r.get(0) }, r.get(1)));
    }
    let signing = "SELECT key_id, version, key_pem FROM signing_key_versions";
    for r in sqlx::query(signing).fetch_all(&mut **tx).await? {
        let version = u32::try_from(r.get::<i64, _>(1)).map_err(Error::internal)?;
        out.push((Secret::SigningKey { key: r.get(0), version }, r.get(2)));
    }
    for r in sqlx::query("SELECT id, secret FROM webhooks").fetch_all(&mut **tx).await? {
        out.push((Secret::WebhookSecret { webhook: r.get(0) }, r.get(1)));
    }
    let receivers = "SELECT id, secret FROM alert_receivers WHERE secret IS NOT NULL";
    for r in sqlx::query(receivers).fetch_all(&mut **tx).await? {
        out.push((Secret::AlertReceiver { receiver: r.get(0) }, r.get(1)));
    }
    let keyed = "SELECT id, key_secret FROM chain_nodes WHERE key_secret IS NOT NULL";
    for r in sqlx::query(keyed).fetch_all(&mut **tx).await? {
        out.push((Secret::NodeKeys { node: r.get(0) }, r.get(1)));
    }
    let hosts = "SELECT id, tls_key FROM hosts WHERE tls_key IS NOT NULL";
    for r in sqlx::query(hosts).fetch_all(&mut **tx).await? {
        out.push((Secret::HostKey { host: r.get(0) }, r.get(1)));
    }
    let kubeconfigs = "SELECT id, kubeconfig FROM hosts WHERE kubeconfig IS NOT NULL";
    for r in sqlx::query(kubeconfigs).fetch_all(&mut **tx).await? {
        out.push((Secret::KubeConfig { host: r.get(0) }, r.get(1)));
    }
    Ok(out)
}

/// Stores `value` in the cell `secret` names.
pub async fn set_secret(tx: &mut Tx, secret: &Secret, value: &str) -> Result<()> {
    let query = match secret {
        Secret::ConsortiumCa { consortium } => {
            sqlx::query("UPDATE consortiums SET ca_key_pem = $1 WHERE id = $2")
                .bind(value)
                .bind(consortium)
        }
        Secret::MemberCa { consortium, org } => sqlx::query(
            "UPDATE consortium_members SET key_pem = $1 WHERE consortium_id = $2 AND org_id = $3",
        )
        .bind(value)
        .bind(consortium)
        .bind(org),
        Secret::PreviousMemberCa { consortium, org } => sqlx::query(
            "UPDATE consortium_members SET previous_key_pem = $1 \
             WHERE consortium_id = $2 AND org_id = $3",
        )
        .bind(value)
        .bind(consortium)
        .bind(org),
        Secret::OrgAccount { org } => {
            sqlx::query("UPDATE org_accounts SET key_pem = $1 WHERE org_id = $2")
                .bind(value)
                .bind(org)
        }
        Secret::SigningKey { key, version } => sqlx::query(
            "UPDATE signing_key_versions SET key_pem = $1 WHERE key_id = $2 AND version = $3",
        )
        .bind(value)
        .bind(key)
        .bind(i64::from(*version)),
        Secret::WebhookSecret { webhook } => {
            sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2").bind(value).bind(webhook)
        }
        Secret::AlertReceiver { receiver } => {
            sqlx::query("UPDATE alert_receivers SET secret = $1 WHERE id = $2")
                .bind(value)
                .bind(receiver)
        }
        Secret::NodeKeys { node } => {
            sqlx::query("UPDATE chain_nodes SET key_secret = $1 WHERE id = $2")
                .bind(value)
                .bind(node)
        }
        Secret::HostKey { host } => {
            sqlx::query("UPDATE hosts SET tls_key = $1 WHERE id = $2").bind(value).bind(host)
        }
        Secret::KubeConfig { host } => {
            sqlx::query("UPDATE hosts SET kubeconfig = $1 WHERE id = $2").bind(value).bind(host)
        }
    };
    query.execute(&mut **tx).await?;
    Ok(())
}
