//! Consortiums, their member organizations (with their CA certificates and keys),
//! invitations, join requests and votes.

use consortia_api::platform::{
    ApprovalPolicy, ConsortiumMemberView, ConsortiumView, InvitationStatus, InvitationView,
    JoinRequestStatus, JoinRequestView,
};
use sqlx::Row;

use super::{Exec, Tx, new_id, now_ms};
use crate::error::Result;

/// A new consortium's row.
#[derive(Debug)]
pub struct NewConsortium<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub leader: &'a str,
    pub policy: ApprovalPolicy,
    pub ca_cert_pem: &'a str,
    /// Sealed by the keystore.
    pub ca_key_pem: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_consortium(tx: &mut Tx, new: &NewConsortium<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO consortiums (id, name, leader_org_id, approval_policy, ca_cert_pem, ca_key_pem, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new.id)
    .bind(new.name)
    .bind(new.leader)
    .bind(new.policy.as_str())
    .bind(new.ca_cert_pem)
    .bind(new.ca_key_pem)
    .bind(new.created_by)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes `org` a member with its CA certificate and key (sealed by the keystore).
pub async fn insert_member(
    tx: &mut Tx,
    consortium: &str,
    org: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO consortium_members (consortium_id, org_id, cert_pem, key_pem, joined_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(consortium)
    .bind(org)
    .bind(cert_pem)
    .bind(key_pem)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A consortium with its members.
pub async fn consortium(db: &mut sqlx::AnyConnection, id: &str) -> Result<Option<ConsortiumView>> {
    let Some(row) = sqlx::query(
        "SELECT id, name, leader_org_id, approval_policy, ca_cert_pem, created_ms, dissolved_ms FROM consortiums WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "SELECT m.org_id, o.name, m.cert_pem, m.joined_ms FROM consortium_members m \
         JOIN orgs o ON o.id = m.org_id WHERE m.consortium_id = $1 ORDER BY m.joined_ms, o.name",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?
    .iter()
    .map(|r| ConsortiumMemberView {
        org_id: r.get(0),
        org_name: r.get(1),
        cert_pem: r.get(2),
        joined_ms: r.get(3),
    })
    .collect();
    let dissolution_votes = sqlx::query_scalar(
        "SELECT org_id FROM dissolution_votes WHERE consortium_id = $1 ORDER BY voted_ms, org_id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    Ok(Some(ConsortiumView {
        id: row.get(0),
        name: row.get(1),
        leader_org_id: row.get(2),
        approval_policy: row.get::<String, _>(3).parse().unwrap_or(ApprovalPolicy::Leader),
        ca_cert_pem: row.get(4),
        members,
        created_ms: row.get(5),
        dissolved_ms: row.get(6),
        dissolution_votes,
    }))
}

/// Whether a consortium still works or has been dissolved (none if there is no such one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Live,
    Dissolved,
}

/// The consortium's name and standing, if there is one.
pub async fn standing(db: impl Exec<'_>, id: &str) -> Result<Option<(String, Standing)>> {
    let row = sqlx::query("SELECT name, dissolved_ms FROM consortiums WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| {
        let dissolved = r.get::<Option<i64>, _>(1).is_some();
        (r.get(0), if dissolved { Standing::Dissolved } else { Standing::Live })
    }))
}

/// The consortiums the user's organizations belong to (every one with `all`).
pub async fn ids_for(db: impl Exec<'_>, user: &str, all: bool) -> Result<Vec<String>> {
    Ok(super::ids_for(
        db,
        "SELECT DISTINCT c.id, c.name FROM consortiums c \
         LEFT JOIN consortium_members cm ON cm.consortium_id = c.id \
         LEFT JOIN org_members m ON m.org_id = cm.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY c.name",
        user,
        all,
    )
    .await?)
}

/// The consortium's name and its CA's certificate and key (sealed).
pub async fn ca(db: impl Exec<'_>, id: &str) -> Result<(String, String, String)> {
    let r = sqlx::query("SELECT name, ca_cert_pem, ca_key_pem FROM consortiums WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await?;
    Ok((r.get(0), r.get(1), r.get(2)))
}

/// A member organization's name and its CA's certificate and key (sealed).
pub async fn member_ca(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
) -> Result<(String, String, String)> {
    let r = sqlx::query(
        "SELECT o.name, m.cert_pem, m.key_pem FROM consortium_members m JOIN orgs o ON o.id = m.org_id \
         WHERE m.consortium_id = $1 AND m.org_id = $2",
    )
    .bind(consortium)
    .bind(org)
    .fetch_one(db)
    .await?;
    Ok((r.get(0), r.get(1), r.get(2)))
}

pub async fn is_member(db: impl Exec<'_>, consortium: &str, org: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM consortium_members WHERE consortium_id = $1 AND org_id = $2")
        .bind(consortium)
        .bind(org)
        .fetch_optional(db)
        .await?
        .is_some())
}

/// The user's organizations that are members of the consortium.
pub async fn user_member_orgs(
    db: impl Exec<'_>,
    consortium: &str,
    user: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT c.org_id FROM consortium_members c JOIN org_members m ON m.org_id = c.org_id \
         WHERE c.consortium_id = $1 AND m.user_id = $2",
    )
    .bind(consortium)
    .bind(user)
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

pub async fn is_invited(db: impl Exec<'_>, consortium: &str, user: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM invitations WHERE consortium_id = $1 AND invitee_id = $2")
        .bind(consortium)
        .bind(user)
        .fetch_optional(db)
        .await?
        .is_some())
}

pub async fn has_pending_invitation(
    db: impl Exec<'_>,
    consortium: &str,
    invitee: &str,
) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM invitations WHERE consortium_id = $1 AND invitee_id = $2 AND status = 'pending'",
    )
    .bind(consortium)
    .bind(invitee)
    .fetch_optional(db)
    .await?
    .is_some())
}

pub async fn insert_invitation(
    db: impl Exec<'_>,
    consortium: &str,
    invitee: &str,
    invited_by: &str,
) -> Result<String> {
    let id = new_id("inv");
    sqlx::query(
        "INSERT INTO invitations (id, consortium_id, invitee_id, invited_by, status, created_ms) VALUES ($1, $2, $3, $4, 'pending', $5)",
    )
    .bind(&id)
    .bind(consortium)
    .bind(invitee)
    .bind(invited_by)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(id)
}

const INVITATION_COLUMNS: &str = "SELECT i.id, i.consortium_id, c.name, u.username, b.username, i.status, i.created_ms, i.invitee_id, \
     (SELECT j.status FROM join_requests j WHERE j.invitation_id = i.id ORDER BY j.created_ms DESC LIMIT 1) \
     FROM invitations i JOIN consortiums c ON c.id = i.consortium_id \
     JOIN users u ON u.id = i.invitee_id JOIN users b ON b.id = i.invited_by";

fn invitation_view(r: &sqlx::any::AnyRow) -> InvitationView {
    InvitationView {
        id: r.get(0),
        consortium_id: r.get(1),
        consortium_name: r.get(2),
        invitee: r.get(3),
        invited_by: r.get(4),
        status: r.get::<String, _>(5).parse().unwrap_or(InvitationStatus::Pending),
        created_ms: r.get(6),
        join_request: r.get::<Option<String>, _>(8).and_then(|s| s.parse().ok()),
    }
}

/// An invitation and its invitee's user id.
pub async fn invitation(db: impl Exec<'_>, id: &str) -> Result<Option<(InvitationView, String)>> {
    // Only constants are formatted into the statement.
    let sql = sqlx::AssertSqlSafe(format!("{INVITATION_COLUMNS} WHERE i.id = $1"));
    let row = sqlx::query(sql).bind(id).fetch_optional(db).await?;
    Ok(row.map(|r| (invitation_view(&r), r.get(7))))
}

/// The invitations addressed to a user, newest first.
pub async fn invitations_of(db: impl Exec<'_>, user: &str) -> Result<Vec<InvitationView>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{INVITATION_COLUMNS} WHERE i.invitee_id = $1 ORDER BY i.created_ms DESC"
    ));
    let rows = sqlx::query(sql).bind(user).fetch_all(db).await?;
    Ok(rows.iter().map(invitation_view).collect())
}

/// The invitations to a consortium, newest first.
pub async fn invitations_to(db: impl Exec<'_>, consortium: &str) -> Result<Vec<InvitationView>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{INVITATION_COLUMNS} WHERE i.consortium_id = $1 ORDER BY i.created_ms DESC"
    ));
    let rows = sqlx::query(sql).bind(consortium).fetch_all(db).await?;
    Ok(rows.iter().map(invitation_view).collect())
}

/// Answers a pending invitation addressed to `invitee`: false if it was no longer pending
/// (another answer won), so exactly one answer takes effect.
pub async fn answer_invitation(
    db: impl Exec<'_>,
    id: &str,
    invitee: &str,
    status: InvitationStatus,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE invitations SET status = $1 WHERE id = $2 AND invitee_id = $3 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(id)
    .bind(invitee)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks the consortium's row until `tx` ends, so what depends on its standing (a join
/// request, a vote, a new chain, its dissolution) happens one at a time; with its name and
/// standing under the lock (none if there is no such consortium).
pub async fn lock_consortium(tx: &mut Tx, id: &str) -> Result<Option<(String, Standing)>> {
    let done = sqlx::query("UPDATE consortiums SET name = name WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    standing(&mut **tx, id).await
}

/// The names of the consortium's chains that are not archived.
pub async fn live_chains(db: impl Exec<'_>, consortium: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM chains WHERE consortium_id = $1 AND status <> 'archived' ORDER BY name",
    )
    .bind(consortium)
    .fetch_all(db)
    .await?)
}

/// The consortium's chains in service (not archived) that `org` takes part in, by name.
pub async fn live_chains_of(db: impl Exec<'_>, consortium: &str, org: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT c.name FROM chains c JOIN chain_orgs o ON o.chain_id = c.id \
         WHERE c.consortium_id = $1 AND o.org_id = $2 AND c.status <> 'archived' ORDER BY c.name",
    )
    .bind(consortium)
    .bind(org)
    .fetch_all(db)
    .await?)
}

/// Records `org`'s vote to dissolve the consortium (its row locked by `tx`; a second vote of
/// the same organization changes nothing); answers the votes and the member count.
pub async fn vote_dissolution(
    tx: &mut Tx,
    consortium: &str,
    org: &str,
    user: &str,
) -> Result<(i64, i64)> {
    sqlx::query(
        "INSERT INTO dissolution_votes (consortium_id, org_id, voted_by, voted_ms) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (consortium_id, org_id) DO NOTHING",
    )
    .bind(consortium)
    .bind(org)
    .bind(user)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    dissolution_tally(tx, consortium).await
}

/// The votes to dissolve a consortium and its members: (votes, members).
pub async fn dissolution_tally(tx: &mut Tx, consortium: &str) -> Result<(i64, i64)> {
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(consortium);
    let votes = count("SELECT COUNT(*) FROM dissolution_votes WHERE consortium_id = $1")
        .fetch_one(&mut **tx)
        .await?;
    let members = count("SELECT COUNT(*) FROM consortium_members WHERE consortium_id = $1")
        .fetch_one(&mut **tx)
        .await?;
    Ok((votes, members))
}

/// `org` leaves the consortium (its row locked by `tx`): its votes on pending join requests
/// go, since they no longer count, and its membership with its member CA (certificate and
/// sealed key).
pub async fn leave(tx: &mut Tx, consortium: &str, org: &str) -> Result<()> {
    for statement in [
        "DELETE FROM join_votes WHERE org_id = $2 AND request_id IN \
         (SELECT id FROM join_requests WHERE consortium_id = $1 AND status = 'pending')",
        "DELETE FROM dissolution_votes WHERE consortium_id = $1 AND org_id = $2",
        "DELETE FROM consortium_members WHERE consortium_id = $1 AND org_id = $2",
    ] {
        sqlx::query(statement).bind(consortium).bind(org).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Dissolves a consortium (its row locked by `tx`): pending invitations and join requests
/// are withdrawn, and the keys of its CA and of its members' CAs destroyed, so no
/// certificate is ever issued under it again.
pub async fn dissolve(tx: &mut Tx, id: &str) -> Result<()> {
    let now = now_ms();
    for statement in [
        "UPDATE consortiums SET dissolved_ms = $2, ca_key_pem = '' WHERE id = $1",
        "UPDATE join_requests SET status = 'withdrawn', decided_ms = $2 \
         WHERE consortium_id = $1 AND status = 'pending'",
    ] {
        sqlx::query(statement).bind(id).bind(now).execute(&mut **tx).await?;
    }
    for statement in [
        "UPDATE consortium_members SET key_pem = '', previous_key_pem = NULL WHERE consortium_id = $1",
        "UPDATE invitations SET status = 'withdrawn' WHERE consortium_id = $1 AND status = 'pending'",
    ] {
        sqlx::query(statement).bind(id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The name of an organization of `user` that is a member of the consortium or has a
/// pending request to join it, if any.
pub async fn taking_part_through(
    db: impl Exec<'_>,
    user: &str,
    consortium: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT o.name FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 AND ( \
           EXISTS (SELECT 1 FROM consortium_members c WHERE c.consortium_id = $2 AND c.org_id = m.org_id) \
           OR EXISTS (SELECT 1 FROM join_requests r WHERE r.consortium_id = $2 AND r.org_id = m.org_id AND r.status = 'pending'))",
    )
    .bind(user)
    .bind(consortium)
    .fetch_optional(db)
    .await?
    .map(|r| r.get(0)))
}

pub async fn insert_join_request(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
    invitation: &str,
    requested_by: &str,
) -> Result<String> {
    let id = new_id("join");
    sqlx::query(
        "INSERT INTO join_requests (id, consortium_id, org_id, invitation_id, requested_by, status, created_ms) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(&id)
    .bind(consortium)
    .bind(org)
    .bind(invitation)
    .bind(requested_by)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(id)
}

/// A join request with the votes cast so far.
pub async fn join_request(
    db: &mut sqlx::AnyConnection,
    consortium: &str,
    id: &str,
) -> Result<Option<JoinRequestView>> {
    let Some(row) = sqlx::query(
        "SELECT r.id, r.consortium_id, r.org_id, o.name, r.status, r.created_ms FROM join_requests r \
         JOIN orgs o ON o.id = r.org_id WHERE r.id = $1 AND r.consortium_id = $2",
    )
    .bind(id)
    .bind(consortium)
    .fetch_optional(&mut *db)
    .await?
    else {
        return Ok(None);
    };
    let votes = sqlx::query(
        "SELECT org_id, approve FROM join_votes WHERE request_id = $1 ORDER BY voted_ms, org_id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let (yes, no): (Vec<_>, Vec<_>) = votes.iter().partition(|v| v.get::<i64, _>(1) != 0);
    Ok(Some(JoinRequestView {
        id: row.get(0),
        consortium_id: row.get(1),
        org_id: row.get(2),
        org_name: row.get(3),
        status: row.get::<String, _>(4).parse().unwrap_or(JoinRequestStatus::Pending),
        approvals: yes.iter().map(|v| v.get(0)).collect(),
        rejections: no.iter().map(|v| v.get(0)).collect(),
        created_ms: row.get(5),
    }))
}

pub async fn join_request_ids(db: impl Exec<'_>, consortium: &str) -> Result<Vec<String>> {
    Ok(sqlx::query("SELECT id FROM join_requests WHERE consortium_id = $1 ORDER BY created_ms")
        .bind(consortium)
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The consortium's join requests still pending, oldest first.
pub async fn pending_request_ids(tx: &mut Tx, consortium: &str) -> Result<Vec<String>> {
    Ok(sqlx::query(
        "SELECT id FROM join_requests WHERE consortium_id = $1 AND status = 'pending' \
         ORDER BY created_ms",
    )
    .bind(consortium)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Locks a join request's row until `tx` ends: votes on one request are counted one at a
/// time. False if there is no such request in the consortium.
pub async fn lock_join_request(tx: &mut Tx, consortium: &str, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE join_requests SET status = status WHERE id = $1 AND consortium_id = $2",
    )
    .bind(id)
    .bind(consortium)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_vote(
    tx: &mut Tx,
    request: &str,
    org: &str,
    approve: bool,
    voted_by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO join_votes (request_id, org_id, approve, voted_by, voted_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request)
    .bind(org)
    .bind(i64::from(approve))
    .bind(voted_by)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The votes on a request so far and the consortium's member count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub approvals: i64,
    pub rejections: i64,
    pub members: i64,
}

pub async fn tally(tx: &mut Tx, consortium: &str, request: &str) -> Result<Tally> {
    let members: i64 =
        sqlx::query("SELECT COUNT(*) FROM consortium_members WHERE consortium_id = $1")
            .bind(consortium)
            .fetch_one(&mut **tx)
            .await?
            .get(0);
    let row = sqlx::query(
        // COUNTs, not SUM: PostgreSQL sums BIGINTs as NUMERIC.
        "SELECT COUNT(CASE WHEN approve = 1 THEN 1 END), COUNT(*) FROM join_votes WHERE request_id = $1",
    )
    .bind(request)
    .fetch_one(&mut **tx)
    .await?;
    let (approvals, votes): (i64, i64) = (row.get(0), row.get(1));
    Ok(Tally { approvals, rejections: votes - approvals, members })
}

pub async fn decide_request(tx: &mut Tx, request: &str, status: JoinRequestStatus) -> Result<()> {
    sqlx::query("UPDATE join_requests SET status = $1, decided_ms = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(now_ms())
        .bind(request)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The CA a rotation replaced for a member organization: its certificate and key (sealed).
pub async fn previous_member_ca(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
) -> Result<Option<(String, String)>> {
    let r = sqlx::query(
        "SELECT previous_cert_pem, previous_key_pem FROM consortium_members \
         WHERE consortium_id = $1 AND org_id = $2 AND previous_key_pem IS NOT NULL",
    )
    .bind(consortium)
    .bind(org)
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.get(0), r.get(1))))
}

/// Makes `cert` and `key` (sealed) the member organization's CA, keeping the one it had as
/// the previous CA, whose key comes resealed as `previous_key`.
pub async fn rotate_member_ca(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
    (cert, key): (&str, &str),
    previous_key: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE consortium_members SET previous_cert_pem = cert_pem, previous_key_pem = $1, \
         cert_pem = $2, key_pem = $3 WHERE consortium_id = $4 AND org_id = $5",
    )
    .bind(previous_key)
    .bind(cert)
    .bind(key)
    .bind(consortium)
    .bind(org)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the member organization's previous CA (no chain trusts only it any more).
pub async fn forget_previous_member_ca(
    db: impl Exec<'_>,
    consortium: &str,
    org: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE consortium_members SET previous_cert_pem = NULL, previous_key_pem = NULL \
         WHERE consortium_id = $1 AND org_id = $2",
    )
    .bind(consortium)
    .bind(org)
    .execute(db)
    .await?;
    Ok(())
}
