//! Consortiums as the seed's Baidu platform runs them: an organization creates one and leads
//! it; its admins invite users; an invited user accepts, and requests to join with an
//! organization of theirs; the request is decided by the consortium's approval policy (the
//! leader alone, or more than half of the member organizations). Each consortium has a CA, and
//! each member organization gets a CA certificate under it (its identity, with which it later
//! issues its nodes' certificates). A user takes part in a consortium through one
//! organization only.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use consortia_rpc::{ApiError, ApiResult, ErrorBody, json_body};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;
use utoipa::ToSchema;

use crate::api::{Body, Ctx, check_name, ids_for, org_exists, user_id_by_name};
use crate::auth::Caller;
use crate::authz;
use crate::db::{new_id, now_ms};
use crate::{Platform, db_error, db_error_or_duplicate};

pub(crate) fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/consortiums", post(create).get(list))
        .route("/v1/consortiums/{id}", get(show))
        .route("/v1/consortiums/{id}/invitations", post(invite))
        .route("/v1/invitations", get(my_invitations))
        .route("/v1/invitations/{id}/accept", post(accept))
        .route("/v1/invitations/{id}/decline", post(decline))
        .route("/v1/consortiums/{id}/join-requests", post(request_join).get(list_requests))
        .route("/v1/consortiums/{id}/join-requests/{request}/approve", post(approve))
        .route("/v1/consortiums/{id}/join-requests/{request}/reject", post(reject))
}

/// Who decides a join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalPolicy {
    /// The leader organization alone.
    Leader,
    /// More than half of the member organizations.
    Majority,
}

impl ApprovalPolicy {
    fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Leader => "leader",
            ApprovalPolicy::Majority => "majority",
        }
    }

    fn parse(s: &str) -> ApprovalPolicy {
        if s == "majority" { ApprovalPolicy::Majority } else { ApprovalPolicy::Leader }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateConsortiumRequest {
    pub name: String,
    /// The leader organization (the caller must be its admin).
    pub org_id: String,
    /// Default `leader`.
    pub approval_policy: Option<ApprovalPolicy>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsortiumMemberView {
    pub org_id: String,
    pub org_name: String,
    /// The organization's CA certificate under the consortium CA (PEM).
    pub cert_pem: String,
    pub joined_ms: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsortiumView {
    pub id: String,
    pub name: String,
    pub leader_org_id: String,
    pub approval_policy: ApprovalPolicy,
    /// The consortium CA certificate (PEM).
    pub ca_cert_pem: String,
    pub members: Vec<ConsortiumMemberView>,
    pub created_ms: i64,
}

fn conflict(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn pki_error(e: consortia_network::NetError) -> ApiError {
    ApiError::internal(format!("certificate authority: {e}"))
}

/// Create a consortium led by one of the caller's organizations
#[utoipa::path(post, path = "/v1/consortiums", tag = "consortiums",
    request_body = CreateConsortiumRequest,
    responses(
        (status = 201, body = ConsortiumView),
        (status = 403, description = "Not an admin of the organization", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
pub async fn create(
    Ctx { platform, caller }: Ctx,
    body: Body,
) -> ApiResult<(StatusCode, Json<ConsortiumView>)> {
    let req: CreateConsortiumRequest = json_body(body)?;
    let name = check_name("consortium", &req.name)?.to_owned();
    org_exists(&platform, &req.org_id).await?;
    let resource = format!("org/{}", req.org_id);
    authz::authorize(&platform.db, &caller, &req.org_id, "consortium:create", &resource).await?;
    let policy = req.approval_policy.unwrap_or(ApprovalPolicy::Leader);
    let org_name = org_name(&platform, &req.org_id).await?;
    let ca = consortia_network::pki::Ca::generate(&name).map_err(pki_error)?;
    let member = ca.issue_member(&name, &org_name).map_err(pki_error)?;
    let id = new_id("cons");
    let now = now_ms();
    let mut tx = platform.db.begin().await.map_err(db_error)?;
    sqlx::query(
        "INSERT INTO consortiums (id, name, leader_org_id, approval_policy, ca_cert_pem, ca_key_pem, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&name)
    .bind(&req.org_id)
    .bind(policy.as_str())
    .bind(ca.cert_pem())
    .bind(ca.key_pem())
    .bind(&caller.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    add_member(&mut tx, &id, &req.org_id, &member, now).await?;
    tx.commit().await.map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(view(&platform, &id).await?)))
}

async fn add_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    consortium: &str,
    org: &str,
    identity: &consortia_network::pki::Ca,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO consortium_members (consortium_id, org_id, cert_pem, key_pem, joined_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(consortium)
    .bind(org)
    .bind(identity.cert_pem())
    .bind(identity.key_pem())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn org_name(platform: &Platform, org: &str) -> ApiResult<String> {
    Ok(sqlx::query("SELECT name FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(&platform.db)
        .await
        .map_err(db_error)?
        .get(0))
}

async fn view(platform: &Platform, id: &str) -> ApiResult<ConsortiumView> {
    let row = sqlx::query(
        "SELECT id, name, leader_org_id, approval_policy, ca_cert_pem, created_ms FROM consortiums WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?
    .ok_or_else(|| ApiError::not_found(format!("no consortium {id}")))?;
    let members = sqlx::query(
        "SELECT m.org_id, o.name, m.cert_pem, m.joined_ms FROM consortium_members m \
         JOIN orgs o ON o.id = m.org_id WHERE m.consortium_id = $1 ORDER BY m.joined_ms, o.name",
    )
    .bind(id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?
    .iter()
    .map(|r| ConsortiumMemberView {
        org_id: r.get(0),
        org_name: r.get(1),
        cert_pem: r.get(2),
        joined_ms: r.get(3),
    })
    .collect();
    Ok(ConsortiumView {
        id: row.get(0),
        name: row.get(1),
        leader_org_id: row.get(2),
        approval_policy: ApprovalPolicy::parse(&row.get::<String, _>(3)),
        ca_cert_pem: row.get(4),
        members,
        created_ms: row.get(5),
    })
}

/// The caller's organizations that are members of `consortium`.
async fn caller_member_orgs(
    platform: &Platform,
    caller: &Caller,
    consortium: &str,
) -> ApiResult<Vec<String>> {
    Ok(sqlx::query(
        "SELECT c.org_id FROM consortium_members c JOIN org_members m ON m.org_id = c.org_id \
         WHERE c.consortium_id = $1 AND m.user_id = $2",
    )
    .bind(consortium)
    .bind(&caller.user_id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// The member organization the caller acts for in `consortium` (`requested`, or their only
/// one), once `action` is authorized there.
async fn acting_org(
    platform: &Platform,
    caller: &Caller,
    consortium: &str,
    requested: Option<&str>,
    action: &str,
) -> ApiResult<String> {
    let mine = caller_member_orgs(platform, caller, consortium).await?;
    let org = match (requested, mine.as_slice()) {
        (Some(r), _) if mine.iter().any(|m| m == r) || caller.admin => r.to_owned(),
        (Some(r), _) => {
            return Err(forbidden(format!("{r} is not your member organization in {consortium}")));
        }
        (None, [one]) => one.clone(),
        (None, []) => {
            return Err(forbidden(format!(
                "none of your organizations is a member of {consortium}"
            )));
        }
        (None, _) => {
            return Err(ApiError::bad_request(
                "org_required",
                "you are in several member organizations: name the one you act for (`org_id`)",
            ));
        }
    };
    let resource = format!("org/{org}/consortiums/{consortium}");
    authz::authorize(&platform.db, caller, &org, action, &resource).await?;
    Ok(org)
}

/// Consortiums the caller's organizations belong to (all for a platform administrator)
#[utoipa::path(get, path = "/v1/consortiums", tag = "consortiums",
    responses((status = 200, body = Vec<ConsortiumView>)))]
pub async fn list(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<ConsortiumView>>> {
    let ids = ids_for(
        &platform,
        &caller,
        "SELECT DISTINCT c.id, c.name FROM consortiums c \
         LEFT JOIN consortium_members cm ON cm.consortium_id = c.id \
         LEFT JOIN org_members m ON m.org_id = cm.org_id AND m.user_id = $1 \
         WHERE m.user_id IS NOT NULL OR $2 = 1 ORDER BY c.name",
    )
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(view(&platform, &id).await?);
    }
    Ok(Json(out))
}

/// A consortium, its members and their certificates (members and invitees may read it)
#[utoipa::path(get, path = "/v1/consortiums/{id}", tag = "consortiums",
    responses((status = 200, body = ConsortiumView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<ConsortiumView>> {
    let consortium = view(&platform, &id).await?;
    let invited =
        sqlx::query("SELECT 1 FROM invitations WHERE consortium_id = $1 AND invitee_id = $2")
            .bind(&id)
            .bind(&caller.user_id)
            .fetch_optional(&platform.db)
            .await
            .map_err(db_error)?
            .is_some();
    if !caller.admin && !invited && caller_member_orgs(&platform, &caller, &id).await?.is_empty() {
        return Err(forbidden(format!(
            "you are neither in a member organization of {id} nor invited"
        )));
    }
    Ok(Json(consortium))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteRequest {
    pub username: String,
    /// The member organization inviting (needed only if you are in several).
    pub org_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub consortium_id: String,
    pub consortium_name: String,
    pub invitee: String,
    pub invited_by: String,
    /// `pending`, `accepted` or `declined`.
    pub status: String,
    pub created_ms: i64,
}

const INVITATION_COLUMNS: &str = "SELECT i.id, i.consortium_id, c.name, u.username, b.username, i.status, i.created_ms, i.invitee_id \
     FROM invitations i JOIN consortiums c ON c.id = i.consortium_id \
     JOIN users u ON u.id = i.invitee_id JOIN users b ON b.id = i.invited_by";

fn invitation_view(r: &sqlx::any::AnyRow) -> InvitationView {
    InvitationView {
        id: r.get(0),
        consortium_id: r.get(1),
        consortium_name: r.get(2),
        invitee: r.get(3),
        invited_by: r.get(4),
        status: r.get(5),
        created_ms: r.get(6),
    }
}

/// The invitation with `id` and its invitee's user id.
async fn invitation(platform: &Platform, id: &str) -> ApiResult<(InvitationView, String)> {
    // Only constants are formatted into the statement.
    let sql = sqlx::AssertSqlSafe(format!("{INVITATION_COLUMNS} WHERE i.id = $1"));
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&platform.db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::not_found(format!("no invitation {id}")))?;
    Ok((invitation_view(&row), row.get(7)))
}

/// Invite a user into the consortium
#[utoipa::path(post, path = "/v1/consortiums/{id}/invitations", tag = "consortiums",
    request_body = InviteRequest,
    responses(
        (status = 201, body = InvitationView),
        (status = 403, description = "Not an admin of a member organization", body = ErrorBody),
        (status = 404, description = "Unknown consortium or user", body = ErrorBody),
        (status = 409, description = "Already invited and pending", body = ErrorBody),
    ))]
pub async fn invite(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    let req: InviteRequest = json_body(body)?;
    view(&platform, &id).await?;
    acting_org(&platform, &caller, &id, req.org_id.as_deref(), "consortium:invite").await?;
    let invitee = user_id_by_name(&platform, &req.username).await?;
    let pending = sqlx::query(
        "SELECT 1 FROM invitations WHERE consortium_id = $1 AND invitee_id = $2 AND status = 'pending'",
    )
    .bind(&id)
    .bind(&invitee)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?;
    if pending.is_some() {
        return Err(conflict(
            "already_invited",
            format!("{} has a pending invitation", req.username),
        ));
    }
    let invitation_id = new_id("inv");
    sqlx::query(
        "INSERT INTO invitations (id, consortium_id, invitee_id, invited_by, status, created_ms) VALUES ($1, $2, $3, $4, 'pending', $5)",
    )
    .bind(&invitation_id)
    .bind(&id)
    .bind(&invitee)
    .bind(&caller.user_id)
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(invitation(&platform, &invitation_id).await?.0)))
}

/// Invitations addressed to the caller
#[utoipa::path(get, path = "/v1/invitations", tag = "consortiums",
    responses((status = 200, body = Vec<InvitationView>)))]
pub async fn my_invitations(Ctx { platform, caller }: Ctx) -> ApiResult<Json<Vec<InvitationView>>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{INVITATION_COLUMNS} WHERE i.invitee_id = $1 ORDER BY i.created_ms DESC"
    ));
    let rows =
        sqlx::query(sql).bind(&caller.user_id).fetch_all(&platform.db).await.map_err(db_error)?;
    Ok(Json(rows.iter().map(invitation_view).collect()))
}

async fn answer_invitation(
    platform: &Platform,
    caller: &Caller,
    id: &str,
    status: &str,
) -> ApiResult<Json<InvitationView>> {
    let (invitation, invitee) = invitation(platform, id).await?;
    if invitee != caller.user_id {
        return Err(forbidden("this invitation is addressed to another user"));
    }
    if invitation.status != "pending" {
        return Err(conflict(
            "already_answered",
            format!("the invitation is already {}", invitation.status),
        ));
    }
    sqlx::query("UPDATE invitations SET status = $1 WHERE id = $2 AND status = 'pending'")
        .bind(status)
        .bind(id)
        .execute(&platform.db)
        .await
        .map_err(db_error)?;
    Ok(Json(self::invitation(platform, id).await?.0))
}

/// Accept an invitation (then request to join with one of your organizations)
#[utoipa::path(post, path = "/v1/invitations/{id}/accept", tag = "consortiums",
    responses((status = 200, body = InvitationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn accept(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    answer_invitation(&platform, &caller, &id, "accepted").await
}

/// Decline an invitation
#[utoipa::path(post, path = "/v1/invitations/{id}/decline", tag = "consortiums",
    responses((status = 200, body = InvitationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn decline(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<InvitationView>> {
    answer_invitation(&platform, &caller, &id, "declined").await
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinRequest {
    /// The organization that joins (the caller must be its admin).
    pub org_id: String,
    /// The caller's accepted invitation to this consortium.
    pub invitation_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinRequestView {
    pub id: String,
    pub consortium_id: String,
    pub org_id: String,
    pub org_name: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Member organizations that approved so far.
    pub approvals: Vec<String>,
    /// Member organizations that rejected so far.
    pub rejections: Vec<String>,
    pub created_ms: i64,
}

async fn request_view(
    platform: &Platform,
    consortium: &str,
    id: &str,
) -> ApiResult<JoinRequestView> {
    let row = sqlx::query(
        "SELECT r.id, r.consortium_id, r.org_id, o.name, r.status, r.created_ms FROM join_requests r          JOIN orgs o ON o.id = r.org_id WHERE r.id = $1 AND r.consortium_id = $2",
    )
    .bind(id)
    .bind(consortium)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?
    .ok_or_else(|| ApiError::not_found(format!("no join request {id} in {consortium}")))?;
    let votes = sqlx::query(
        "SELECT org_id, approve FROM join_votes WHERE request_id = $1 ORDER BY voted_ms",
    )
    .bind(id)
    .fetch_all(&platform.db)
    .await
    .map_err(db_error)?;
    let (yes, no): (Vec<_>, Vec<_>) = votes.iter().partition(|v| v.get::<i64, _>(1) != 0);
    Ok(JoinRequestView {
        id: row.get(0),
        consortium_id: row.get(1),
        org_id: row.get(2),
        org_name: row.get(3),
        status: row.get(4),
        approvals: yes.iter().map(|v| v.get(0)).collect(),
        rejections: no.iter().map(|v| v.get(0)).collect(),
        created_ms: row.get(5),
    })
}

/// Request to join with one of your organizations (needs your accepted invitation)
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests", tag = "consortiums",
    request_body = JoinRequest,
    responses(
        (status = 201, body = JoinRequestView),
        (status = 400, description = "The invitation is not yours, not for this consortium, or not accepted", body = ErrorBody),
        (status = 403, description = "Not an admin of the organization", body = ErrorBody),
        (status = 409, description = "Already a member, already requested, or you take part through another organization", body = ErrorBody),
    ))]
pub async fn request_join(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<JoinRequestView>)> {
    let req: JoinRequest = json_body(body)?;
    view(&platform, &id).await?;
    org_exists(&platform, &req.org_id).await?;
    let resource = format!("org/{}/consortiums/{id}", req.org_id);
    authz::authorize(&platform.db, &caller, &req.org_id, "consortium:join", &resource).await?;
    let (invitation, invitee) = invitation(&platform, &req.invitation_id).await?;
    if invitee != caller.user_id
        || invitation.consortium_id != id
        || invitation.status != "accepted"
    {
        return Err(ApiError::bad_request(
            "bad_invitation",
            "join with an invitation to this consortium that you accepted (POST /v1/invitations/{id}/accept)",
        ));
    }
    // One organization per user per consortium: none of the caller's other organizations may
    // be a member or have a pending request.
    let through = sqlx::query(
        "SELECT o.name FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 AND (            EXISTS (SELECT 1 FROM consortium_members c WHERE c.consortium_id = $2 AND c.org_id = m.org_id)            OR EXISTS (SELECT 1 FROM join_requests r WHERE r.consortium_id = $2 AND r.org_id = m.org_id AND r.status = 'pending'))",
    )
    .bind(&caller.user_id)
    .bind(&id)
    .fetch_optional(&platform.db)
    .await
    .map_err(db_error)?;
    if let Some(row) = through {
        return Err(conflict(
            "already_taking_part",
            format!(
                "you already take part in this consortium (or asked to) through {}",
                row.get::<String, _>(0)
            ),
        ));
    }
    let request_id = new_id("join");
    sqlx::query(
        "INSERT INTO join_requests (id, consortium_id, org_id, invitation_id, requested_by, status, created_ms)          VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(&request_id)
    .bind(&id)
    .bind(&req.org_id)
    .bind(&req.invitation_id)
    .bind(&caller.user_id)
    .bind(now_ms())
    .execute(&platform.db)
    .await
    .map_err(db_error)?;
    Ok((StatusCode::CREATED, Json(request_view(&platform, &id, &request_id).await?)))
}

/// Join requests of a consortium (for its members)
#[utoipa::path(get, path = "/v1/consortiums/{id}/join-requests", tag = "consortiums",
    responses((status = 200, body = Vec<JoinRequestView>), (status = 403, body = ErrorBody)))]
pub async fn list_requests(
    Ctx { platform, caller }: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<JoinRequestView>>> {
    view(&platform, &id).await?;
    acting_org(&platform, &caller, &id, None, "consortium:get")
        .await
        .or_else(|e| if caller.admin { Ok(String::new()) } else { Err(e) })?;
    let ids: Vec<String> =
        sqlx::query("SELECT id FROM join_requests WHERE consortium_id = $1 ORDER BY created_ms")
            .bind(&id)
            .fetch_all(&platform.db)
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
    let mut out = vec![];
    for request in ids {
        out.push(request_view(&platform, &id, &request).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct VoteRequest {
    /// The member organization voting (needed only if you are in several).
    pub org_id: Option<String>,
}

/// Records a member organization's vote and applies the approval policy.
async fn vote(
    platform: &Platform,
    caller: &Caller,
    consortium: &str,
    request: &str,
    body: Body,
    approve: bool,
) -> ApiResult<Json<JoinRequestView>> {
    let req: VoteRequest = match body {
        Ok(b) if b.is_empty() => VoteRequest::default(),
        other => json_body(other)?,
    };
    let current = request_view(platform, consortium, request).await?;
    let action = if approve { "consortium:approve" } else { "consortium:reject" };
    let voter = acting_org(platform, caller, consortium, req.org_id.as_deref(), action).await?;
    if current.status != "pending" {
        return Err(conflict(
            "already_decided",
            format!("the request is already {}", current.status),
        ));
    }
    let (name, policy, leader): (String, String, String) = {
        let r = sqlx::query(
            "SELECT name, approval_policy, leader_org_id FROM consortiums WHERE id = $1",
        )
        .bind(consortium)
        .fetch_one(&platform.db)
        .await
        .map_err(db_error)?;
        (r.get(0), r.get(1), r.get(2))
    };
    let now = now_ms();
    let mut tx = platform.db.begin().await.map_err(db_error)?;
    sqlx::query(
        "INSERT INTO join_votes (request_id, org_id, approve, voted_by, voted_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request)
    .bind(&voter)
    .bind(i64::from(approve))
    .bind(&caller.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_error_or_duplicate(e, "already_voted", format!("{voter} has already voted")))?;
    let members: i64 =
        sqlx::query("SELECT COUNT(*) FROM consortium_members WHERE consortium_id = $1")
            .bind(consortium)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?
            .get(0);
    let tally = sqlx::query(
        // COUNTs, not SUM: PostgreSQL sums BIGINTs as NUMERIC.
        "SELECT COUNT(CASE WHEN approve = 1 THEN 1 END), COUNT(*) FROM join_votes WHERE request_id = $1",
    )
    .bind(request)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    let (yes, votes): (i64, i64) = (tally.get(0), tally.get(1));
    let no = votes - yes;
    let decision = match ApprovalPolicy::parse(&policy) {
        ApprovalPolicy::Leader if voter == leader => Some(approve),
        ApprovalPolicy::Leader => None,
        ApprovalPolicy::Majority if yes * 2 > members => Some(true),
        ApprovalPolicy::Majority if no * 2 >= members => Some(false),
        ApprovalPolicy::Majority => None,
    };
    if let Some(approved) = decision {
        sqlx::query("UPDATE join_requests SET status = $1, decided_ms = $2 WHERE id = $3")
            .bind(if approved { "approved" } else { "rejected" })
            .bind(now)
            .bind(request)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if approved {
            let ca: (String, String) = {
                let r =
                    sqlx::query("SELECT ca_cert_pem, ca_key_pem FROM consortiums WHERE id = $1")
                        .bind(consortium)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?;
                (r.get(0), r.get(1))
            };
            let ca = consortia_network::pki::Ca::load(&name, &ca.0, &ca.1).map_err(pki_error)?;
            let identity = ca.issue_member(&name, &current.org_name).map_err(pki_error)?;
            add_member(&mut tx, consortium, &current.org_id, &identity, now).await?;
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(Json(request_view(platform, consortium, request).await?))
}

/// Approve a join request on behalf of your member organization
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests/{request}/approve", tag = "consortiums",
    request_body = VoteRequest,
    responses(
        (status = 200, description = "The request, decided if the policy is met", body = JoinRequestView),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already decided, or your organization already voted", body = ErrorBody),
    ))]
pub async fn approve(
    Ctx { platform, caller }: Ctx,
    Path((id, request)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<JoinRequestView>> {
    vote(&platform, &caller, &id, &request, body, true).await
}

/// Reject a join request on behalf of your member organization
#[utoipa::path(post, path = "/v1/consortiums/{id}/join-requests/{request}/reject", tag = "consortiums",
    request_body = VoteRequest,
    responses((status = 200, body = JoinRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    Ctx { platform, caller }: Ctx,
    Path((id, request)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<JoinRequestView>> {
    vote(&platform, &caller, &id, &request, body, false).await
}
