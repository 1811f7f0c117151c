//! Organizations, their members and roles, and policies with their attachments.

use consortia_api::platform::{MemberView, OrgView, PolicyDocument, PolicyView, Role};
use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

/// Creates an organization with `admin` as its first admin (in `tx`, so both or neither).
pub async fn insert_org(tx: &mut Tx, name: &str, admin: &str) -> Result<OrgView> {
    let id = new_id("org");
    let now = now_ms();
    sqlx::query("INSERT INTO orgs (id, name, created_by, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(admin)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(&id)
        .bind(admin)
        .execute(&mut **tx)
        .await?;
    Ok(OrgView { id, name: name.to_owned(), created_ms: now, role: Some(Role::Admin) })
}

fn org_view(r: &sqlx::any::AnyRow) -> OrgView {
    OrgView {
        id: r.get(0),
        name: r.get(1),
        created_ms: r.get(2),
        role: r.get::<Option<String>, _>(3).and_then(|s| s.parse().ok()),
    }
}

/// The organizations `user` belongs to (every one with `all`), with the user's role.
pub async fn list_orgs(db: impl Exec<'_>, user: &str, all: bool) -> Result<Vec<OrgView>> {
    let rows = sqlx::query(
        "SELECT o.id, o.name, o.created_ms, m.role FROM orgs o \
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $1 \
         WHERE o.deleted_ms IS NULL AND (m.user_id IS NOT NULL OR $2 = 1) ORDER BY o.name",
    )
    .bind(user)
    .bind(i64::from(all))
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(org_view).collect())
}

/// One organization, with `user`'s role in it.
pub async fn org(db: impl Exec<'_>, org: &str, user: &str) -> Result<Option<OrgView>> {
    let row = sqlx::query(
        "SELECT o.id, o.name, o.created_ms, m.role FROM orgs o \
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2 \
         WHERE o.id = $1 AND o.deleted_ms IS NULL",
    )
    .bind(org)
    .bind(user)
    .fetch_optional(db)
    .await?;
    Ok(row.as_ref().map(org_view))
}

/// The name of what a resource path's `(kind, id)` names (`org`, `chains`, `nodes`,
/// `consortiums`, `keys`, `hosts`, `contracts`), if it exists; none for other kinds.
pub async fn name_of(db: impl Exec<'_>, kind: &str, id: &str) -> Result<Option<String>> {
    let table = match kind {
        "org" => "orgs",
        "chains" => "chains",
        "nodes" => "chain_nodes",
        "consortiums" => "consortiums",
        "keys" => "signing_keys",
        "hosts" => "hosts",
        "contracts" => "contracts",
        _ => return Ok(None),
    };
    let sql = sqlx::AssertSqlSafe(format!("SELECT name FROM {table} WHERE id = $1"));
    Ok(sqlx::query_scalar(sql).bind(id).fetch_optional(db).await?)
}

/// The name of an organization that has not been deleted.
pub async fn org_name(db: impl Exec<'_>, org: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM orgs WHERE id = $1 AND deleted_ms IS NULL")
        .bind(org)
        .fetch_optional(db)
        .await?)
}

/// The names of the consortiums `org` is a member of that are not dissolved.
pub async fn live_consortiums_of(db: impl Exec<'_>, org: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT c.name FROM consortium_members m JOIN consortiums c ON c.id = m.consortium_id \
         WHERE m.org_id = $1 AND c.dissolved_ms IS NULL ORDER BY c.name",
    )
    .bind(org)
    .fetch_all(db)
    .await?)
}

/// Deletes an organization (its row locked by `tx`): its members and policies go, its
/// pending join requests are withdrawn, its signing keys disabled, and every secret sealed
/// for it destroyed (its chain account's key, its managed keys, its hosts' TLS keys and
/// kubeconfigs, its webhook and alert receiver secrets, its member CA keys). The row stays,
/// marked deleted, since chains, contracts and the audit log name it.
pub async fn delete_org(tx: &mut Tx, org: &str) -> Result<()> {
    for statement in [
        "DELETE FROM policy_attachments WHERE policy_id IN (SELECT id FROM policies WHERE org_id = $1)",
        "DELETE FROM policies WHERE org_id = $1",
        "DELETE FROM org_members WHERE org_id = $1",
        "UPDATE org_accounts SET key_pem = '' WHERE org_id = $1",
        "UPDATE signing_keys SET enabled = 0 WHERE org_id = $1",
        "UPDATE signing_key_versions SET key_pem = '' \
         WHERE key_id IN (SELECT id FROM signing_keys WHERE org_id = $1)",
        "UPDATE hosts SET tls_key = NULL, kubeconfig = NULL WHERE org_id = $1",
        "UPDATE webhooks SET enabled = 0, secret = '' WHERE org_id = $1",
        "UPDATE alert_receivers SET secret = NULL WHERE org_id = $1",
        "UPDATE consortium_members SET key_pem = '', previous_key_pem = NULL WHERE org_id = $1",
    ] {
        sqlx::query(statement).bind(org).execute(&mut **tx).await?;
    }
    let now = now_ms();
    for statement in [
        "UPDATE orgs SET deleted_ms = $2 WHERE id = $1",
        "UPDATE join_requests SET status = 'withdrawn', decided_ms = $2 \
         WHERE org_id = $1 AND status = 'pending'",
    ] {
        sqlx::query(statement).bind(org).bind(now).execute(&mut **tx).await?;
    }
    Ok(())
}

pub async fn members(db: impl Exec<'_>, org: &str) -> Result<Vec<MemberView>> {
    let rows = sqlx::query(
        "SELECT u.id, u.username, m.role FROM org_members m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY u.username",
    )
    .bind(org)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(MemberView {
                user_id: r.get(0),
                username: r.get(1),
                role: r.get::<String, _>(2).parse().ok()?,
            })
        })
        .collect())
}

/// A user's role in an organization, if a member.
pub async fn role_in(db: impl Exec<'_>, user: &str, org: &str) -> Result<Option<Role>> {
    let row = sqlx::query("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|r| r.get::<String, _>(0).parse().ok()))
}

pub async fn insert_member(db: impl Exec<'_>, org: &str, user: &str, role: Role) -> Result<()> {
    sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(org)
        .bind(user)
        .bind(role.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Locks the organization's row until `tx` ends (see the module docs of `store`): membership
/// changes of one organization run one at a time.
pub async fn lock_org(tx: &mut Tx, org: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE orgs SET name = name WHERE id = $1")
        .bind(org)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The organization's admins other than `user`.
pub async fn other_admins(db: impl Exec<'_>, org: &str, user: &str) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'admin' AND user_id <> $2",
    )
    .bind(org)
    .bind(user)
    .fetch_one(db)
    .await?
    .get(0))
}

/// Whether the member existed.
pub async fn set_role(db: impl Exec<'_>, org: &str, user: &str, role: Role) -> Result<bool> {
    let done = sqlx::query("UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(org)
        .bind(user)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a member and detaches the organization's policies from them; whether they were a
/// member.
pub async fn delete_member(tx: &mut Tx, org: &str, user: &str) -> Result<bool> {
    sqlx::query(
        "DELETE FROM policy_attachments WHERE user_id = $1 AND policy_id IN (SELECT id FROM policies WHERE org_id = $2)",
    )
    .bind(user)
    .bind(org)
    .execute(&mut **tx)
    .await?;
    let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn insert_policy(
    db: impl Exec<'_>,
    org: &str,
    name: &str,
    document: &PolicyDocument,
) -> Result<PolicyView> {
    let id = new_id("pol");
    let text = serde_json::to_string(document).map_err(crate::Error::internal)?;
    sqlx::query(
        "INSERT INTO policies (id, org_id, name, document, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(org)
    .bind(name)
    .bind(text)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(PolicyView { id, name: name.to_owned(), document: document.clone() })
}

pub async fn policies(db: impl Exec<'_>, org: &str) -> Result<Vec<PolicyView>> {
    let rows =
        sqlx::query("SELECT id, name, document FROM policies WHERE org_id = $1 ORDER BY name")
            .bind(org)
            .fetch_all(db)
            .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(PolicyView {
                id: r.get(0),
                name: r.get(1),
                document: serde_json::from_str(&r.get::<String, _>(2)).ok()?,
            })
        })
        .collect())
}

pub async fn policy_exists(db: impl Exec<'_>, org: &str, policy: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM policies WHERE id = $1 AND org_id = $2")
        .bind(policy)
        .bind(org)
        .fetch_optional(db)
        .await?
        .is_some())
}

/// The policies of `org` attached to `user`, by name.
pub async fn attached_policies(
    db: impl Exec<'_>,
    user: &str,
    org: &str,
) -> Result<Vec<(String, PolicyDocument)>> {
    let rows = sqlx::query(
        "SELECT p.name, p.document FROM policies p JOIN policy_attachments a ON a.policy_id = p.id \
         WHERE a.user_id = $1 AND p.org_id = $2",
    )
    .bind(user)
    .bind(org)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let doc = serde_json::from_str(&r.get::<String, _>(1)).ok()?;
            Some((r.get::<String, _>(0), doc))
        })
        .collect())
}

pub async fn attach(db: impl Exec<'_>, policy: &str, user: &str) -> Result<()> {
    sqlx::query("INSERT INTO policy_attachments (policy_id, user_id) VALUES ($1, $2)")
        .bind(policy)
        .bind(user)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether it was attached.
pub async fn detach(db: impl Exec<'_>, policy: &str, user: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM policy_attachments WHERE policy_id = $1 AND user_id = $2")
        .bind(policy)
        .bind(user)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
