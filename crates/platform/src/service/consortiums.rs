//! Consortiums as the seed's Baidu platform runs them: an organization creates one and leads
//! it; its admins invite users; an invited user accepts, and requests to join with an
//! organization of theirs; member organizations vote and the consortium's approval policy
//! decides (the leader alone, or more than half of the members). Each consortium has a CA,
//! and each member organization gets a CA certificate under it (its identity, with which it
//! issues its nodes' certificates). A user takes part in a consortium through one
//! organization only.
//!
//! Concurrent calls are serialized where their outcome depends on each other: votes on one
//! request run one at a time (the request's row is locked first), so every vote counts and
//! the request is decided exactly once; join requests to one consortium likewise; an
//! invitation is answered by exactly one of two concurrent answers.

use consortia_api::platform::{
    ApprovalPolicy, ConsortiumView, CreateConsortiumRequest, Decision, InvitationStatus,
    InvitationView, InviteRequest, JoinRequest, JoinRequestStatus, JoinRequestView, VoteRequest,
};
use consortia_crypto::pki::Ca;

use super::check_name;
use super::identity::Caller;
use super::orgs::choose_org;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::consortiums::{self as store, NewConsortium, Standing, Tally};
use crate::store::{Tx, new_id};

fn pki(e: consortia_crypto::CryptoError) -> Error {
    Error::internal(format!("certificate authority: {e}"))
}

fn dissolved(consortium: &str) -> Error {
    Error::conflict(
        "dissolved",
        format!("consortium {consortium} is dissolved: it is kept for the record, read-only"),
    )
}

/// 404 for an unknown consortium, 409 `dissolved` for a dissolved one, given what the store
/// read of its name and standing.
fn live(consortium: &str, found: Option<(String, Standing)>) -> Result<()> {
    match found {
        None => Err(Error::NotFound(format!("no consortium {consortium}"))),
        Some((name, Standing::Dissolved)) => Err(dissolved(&name)),
        Some((_, Standing::Live)) => Ok(()),
    }
}

/// Locks the consortium's row until `tx` ends (see [`store::lock_consortium`]), refusing an
/// unknown or dissolved one as [`live`] does.
pub(crate) async fn lock_live(tx: &mut Tx, consortium: &str) -> Result<()> {
    live(consortium, store::lock_consortium(tx, consortium).await?)
}

/// The action that dissolves a consortium, asked of its leader organization.
const DISSOLVE: &str = "consortium:delete";

/// What a vote leads to under a policy: approved (`Some(true)`), rejected, or not decided
/// yet. The leader policy follows the leader's vote; the majority policy approves once more
/// than half of the members approve and rejects once half of them reject.
pub fn decide(
    policy: ApprovalPolicy,
    voter_is_leader: bool,
    approve: bool,
    t: Tally,
) -> Option<bool> {
    match policy {
        ApprovalPolicy::Leader => voter_is_leader.then_some(approve),
        ApprovalPolicy::Majority if t.approvals * 2 > t.members => Some(true),
        ApprovalPolicy::Majority if t.rejections * 2 >= t.members => Some(false),
        ApprovalPolicy::Majority => None,
    }
}

impl Platform {
    /// A consortium led by one of the caller's organizations, with its CA and the leader's
    /// member certificate.
    pub async fn create_consortium(
        &self,
        caller: &Caller,
        req: &CreateConsortiumRequest,
    ) -> Result<ConsortiumView> {
        let name = check_name("consortium", &req.name)?;
        let org_name = self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}", req.org_id);
        self.authorize(caller, &req.org_id, "consortium:create", &resource).await?;
        let keys = self.keys()?;
        let ca = Ca::generate(name).map_err(pki)?;
        let member = ca.issue_member(name, &org_name).map_err(pki)?;
        let id = new_id("cons");
        let ca_key = keys.seal(&Secret::ConsortiumCa { consortium: id.clone() }, ca.key_pem())?;
        let member_key = keys.seal(
            &Secret::MemberCa { consortium: id.clone(), org: req.org_id.clone() },
            member.key_pem(),
        )?;
        let mut tx = self.db.begin().await?;
        let new = NewConsortium {
            id: &id,
            name,
            leader: &req.org_id,
            policy: req.approval_policy.unwrap_or(ApprovalPolicy::Leader),
            ca_cert_pem: ca.cert_pem(),
            ca_key_pem: &ca_key,
            created_by: &caller.user_id,
        };
        store::insert_consortium(&mut tx, &new).await.map_err(|e| {
            e.duplicate_as("conflict", format!("the consortium name {name} is taken"))
        })?;
        store::insert_member(&mut tx, &id, &req.org_id, member.cert_pem(), &member_key).await?;
        tx.commit().await?;
        self.consortium_view(&id).await
    }

    async fn consortium_view(&self, id: &str) -> Result<ConsortiumView> {
        consortium_in(&mut *self.db.acquire().await?, id).await
    }

    /// 404 for an unknown consortium, 409 `dissolved` for a dissolved one, 403
    /// `not_a_member` unless `org` is a member.
    pub(crate) async fn consortium_member(&self, consortium: &str, org: &str) -> Result<()> {
        live(consortium, store::standing(&self.db, consortium).await?)?;
        if !store::is_member(&self.db, consortium, org).await? {
            return Err(Error::NotAMember { org: org.into(), consortium: consortium.into() });
        }
        Ok(())
    }

    /// The member organization the caller acts for in `consortium` (`requested`, or their
    /// only one), once `action` is authorized there.
    async fn acting_org(
        &self,
        caller: &Caller,
        consortium: &str,
        requested: Option<&str>,
        action: &str,
    ) -> Result<String> {
        let mine = store::user_member_orgs(&self.db, consortium, &caller.user_id).await?;
        let named_member = match requested {
            Some(r) if caller.admin => store::is_member(&self.db, consortium, r).await?,
            _ => false,
        };
        let org = choose_org(&mine, |_| named_member, requested, caller.admin, consortium)?;
        let resource = format!("org/{org}/consortiums/{consortium}");
        self.authorize(caller, &org, action, &resource).await?;
        Ok(org)
    }

    /// The consortiums the caller's organizations belong to (all for an administrator).
    pub async fn consortiums(&self, caller: &Caller) -> Result<Vec<ConsortiumView>> {
        let ids = store::ids_for(&self.db, &caller.user_id, caller.admin).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.consortium_view(&id).await?);
        }
        Ok(out)
    }

    /// A consortium, for its members and invitees.
    pub async fn consortium(&self, caller: &Caller, id: &str) -> Result<ConsortiumView> {
        let view = self.consortium_view(id).await?;
        let invited = store::is_invited(&self.db, id, &caller.user_id).await?;
        if !caller.admin
            && !invited
            && store::user_member_orgs(&self.db, id, &caller.user_id).await?.is_empty()
        {
            return Err(Error::Forbidden(format!(
                "you are neither in a member organization of {id} nor invited"
            )));
        }
        Ok(view)
    }

    async fn invitation(&self, id: &str) -> Result<(InvitationView, String)> {
        store::invitation(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no invitation {id}")))
    }

    /// Invites a user on behalf of a member organization.
    pub async fn invite(
        &self,
        caller: &Caller,
        consortium: &str,
        req: &InviteRequest,
    ) -> Result<InvitationView> {
        let view = self.consortium_view(consortium).await?;
        if view.dissolved_ms.is_some() {
            return Err(dissolved(&view.name));
        }
        self.acting_org(caller, consortium, req.org_id.as_deref(), "consortium:invite").await?;
        let invitee = self.user_id(&req.username).await?;
        if store::has_pending_invitation(&self.db, consortium, &invitee).await? {
            return Err(Error::conflict(
                "already_invited",
                format!("{} has a pending invitation", req.username),
            ));
        }
        let id = store::insert_invitation(&self.db, consortium, &invitee, &caller.user_id).await?;
        Ok(self.invitation(&id).await?.0)
    }

    /// The invitations sent to join a consortium, for its members to follow (who was invited,
    /// by whom, the answer, and the join request made with it).
    pub async fn consortium_invitations(
        &self,
        caller: &Caller,
        consortium: &str,
    ) -> Result<Vec<InvitationView>> {
        self.consortium_view(consortium).await?;
        if !caller.admin {
            self.acting_org(caller, consortium, None, "consortium:get").await?;
        }
        store::invitations_to(&self.db, consortium).await
    }

    /// The invitations addressed to the caller.
    pub async fn my_invitations(&self, caller: &Caller) -> Result<Vec<InvitationView>> {
        store::invitations_of(&self.db, &caller.user_id).await
    }

    /// Accepts or declines an invitation addressed to the caller; of two answers at once,
    /// one takes effect and the other is refused (409).
    pub async fn answer_invitation(
        &self,
        caller: &Caller,
        id: &str,
        answer: InvitationStatus,
    ) -> Result<InvitationView> {
        let (invitation, invitee) = self.invitation(id).await?;
        if invitee != caller.user_id {
            return Err(Error::Forbidden("this invitation is addressed to another user".into()));
        }
        if !store::answer_invitation(&self.db, id, &invitee, answer).await? {
            let now = self.invitation(id).await?.0;
            return Err(Error::conflict(
                "already_answered",
                format!("the invitation is already {}", now.status),
            ));
        }
        Ok(InvitationView { status: answer, ..invitation })
    }

    /// Asks to join with an organization the caller administers, citing their accepted
    /// invitation.
    pub async fn request_join(
        &self,
        caller: &Caller,
        consortium: &str,
        req: &JoinRequest,
    ) -> Result<JoinRequestView> {
        self.consortium_view(consortium).await?;
        self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}/consortiums/{consortium}", req.org_id);
        self.authorize(caller, &req.org_id, "consortium:join", &resource).await?;
        let (invitation, invitee) = self.invitation(&req.invitation_id).await?;
        if invitee != caller.user_id
            || invitation.consortium_id != consortium
            || invitation.status != InvitationStatus::Accepted
        {
            return Err(Error::invalid(
                "bad_invitation",
                "join with an invitation to this consortium that you accepted (POST /v1/invitations/{id}/accept)",
            ));
        }
        // One organization per user per consortium, checked and recorded under the
        // consortium's lock: two requests at once cannot both pass the check.
        let mut tx = self.db.begin().await?;
        lock_live(&mut tx, consortium).await?;
        if let Some(org) = store::taking_part_through(&mut *tx, &caller.user_id, consortium).await?
        {
            return Err(Error::conflict(
                "already_taking_part",
                format!("you already take part in this consortium (or asked to) through {org}"),
            ));
        }
        let id = store::insert_join_request(
            &mut *tx,
            consortium,
            &req.org_id,
            &req.invitation_id,
            &caller.user_id,
        )
        .await?;
        tx.commit().await?;
        self.join_request(consortium, &id).await
    }

    async fn join_request(&self, consortium: &str, id: &str) -> Result<JoinRequestView> {
        let mut db = self.db.acquire().await?;
        store::join_request(&mut db, consortium, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no join request {id} in {consortium}")))
    }

    /// The join requests of a consortium, for its members.
    pub async fn join_requests(
        &self,
        caller: &Caller,
        consortium: &str,
    ) -> Result<Vec<JoinRequestView>> {
        self.consortium_view(consortium).await?;
        if !caller.admin {
            self.acting_org(caller, consortium, None, "consortium:get").await?;
        }
        let mut out = vec![];
        for id in store::join_request_ids(&self.db, consortium).await? {
            out.push(self.join_request(consortium, &id).await?);
        }
        Ok(out)
    }

    /// A member organization's vote on a join request. Votes on one request are counted one
    /// at a time; the vote that meets the policy decides it (and an approved organization
    /// becomes a member, with its CA certificate), later ones are refused.
    pub async fn vote(
        &self,
        caller: &Caller,
        consortium: &str,
        request: &str,
        vote: &VoteRequest,
    ) -> Result<JoinRequestView> {
        self.join_request(consortium, request).await?;
        let approve = vote.decision == Decision::Approve;
        let action = if approve { "consortium:approve" } else { "consortium:reject" };
        let voter = self.acting_org(caller, consortium, vote.org_id.as_deref(), action).await?;
        let mut tx = self.db.begin().await?;
        // The consortium first, then the request: the order a dissolution takes too.
        lock_live(&mut tx, consortium).await?;
        if !store::lock_join_request(&mut tx, consortium, request).await? {
            return Err(Error::NotFound(format!("no join request {request} in {consortium}")));
        }
        let current = store::join_request(&mut tx, consortium, request)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no join request {request}")))?;
        if current.status != JoinRequestStatus::Pending {
            return Err(Error::conflict(
                "already_decided",
                format!("the request is already {}", current.status),
            ));
        }
        store::insert_vote(&mut tx, request, &voter, approve, &caller.user_id)
            .await
            .map_err(|e| e.duplicate_as("already_voted", format!("{voter} has already voted")))?;
        let view = consortium_in(&mut tx, consortium).await?;
        let tally = store::tally(&mut tx, consortium, request).await?;
        let decision = decide(view.approval_policy, voter == view.leader_org_id, approve, tally);
        if let Some(approved) = decision {
            self.settle_request(&mut tx, consortium, &current, approved).await?;
        }
        tx.commit().await?;
        self.join_request(consortium, request).await
    }

    /// Records the decision on a pending join request (its consortium's row locked by `tx`):
    /// an approved organization becomes a member, with its CA certificate.
    async fn settle_request(
        &self,
        tx: &mut Tx,
        consortium: &str,
        request: &JoinRequestView,
        approved: bool,
    ) -> Result<()> {
        let status =
            if approved { JoinRequestStatus::Approved } else { JoinRequestStatus::Rejected };
        store::decide_request(tx, &request.id, status).await?;
        if !approved {
            return Ok(());
        }
        let keys = self.keys()?;
        let (name, cert, key) = store::ca(&mut **tx, consortium).await?;
        let key = keys.open(&Secret::ConsortiumCa { consortium: consortium.into() }, &key)?;
        let ca = Ca::load(&name, &cert, &key).map_err(pki)?;
        let identity = ca.issue_member(&name, &request.org_name).map_err(pki)?;
        let member =
            Secret::MemberCa { consortium: consortium.into(), org: request.org_id.clone() };
        let member_key = keys.seal(&member, identity.key_pem())?;
        store::insert_member(tx, consortium, &request.org_id, identity.cert_pem(), &member_key)
            .await
    }

    /// Counts again, after a member left a majority-policy consortium (its row locked by
    /// `tx`), the votes its leaving did not withdraw: a pending join request or a dissolution
    /// whose votes now make more than half of the fewer members is decided as the vote that
    /// got there would have decided it. Nothing is decided under the leader policy, which
    /// does not count members.
    async fn recount(&self, tx: &mut Tx, view: &ConsortiumView) -> Result<()> {
        if view.approval_policy != ApprovalPolicy::Majority {
            return Ok(());
        }
        for id in store::pending_request_ids(tx, &view.id).await? {
            let tally = store::tally(tx, &view.id, &id).await?;
            if let Some(approved) = decide(view.approval_policy, false, false, tally) {
                let request = store::join_request(tx, &view.id, &id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("no join request {id}")))?;
                self.settle_request(tx, &view.id, &request, approved).await?;
                tracing::info!(target: "platform::consortiums", consortium = %view.id, request = %id, approved, "decided by a recount");
            }
        }
        let (votes, members) = store::dissolution_tally(tx, &view.id).await?;
        if votes > 0
            && votes * 2 > members
            && store::live_chains(&mut **tx, &view.id).await?.is_empty()
        {
            store::dissolve(tx, &view.id).await?;
            tracing::info!(target: "platform::consortiums", consortium = %view.id, votes, members, "dissolved by a recount");
        }
        Ok(())
    }

    /// Dissolves a consortium once every chain of it is archived, as its policy decides
    /// join requests: under the leader policy its leader organization must allow
    /// `consortium:delete` (a platform administrator may always); under the majority policy
    /// this is the vote of the caller's member organization (`as_org`, with
    /// `consortium:delete` there), and the vote that makes more than half of the members
    /// dissolves it. It stays listed for its members, read-only (see [`store::dissolve`]);
    /// checked under the consortium's lock, which a new chain takes too, so no chain starts
    /// in a dissolving consortium.
    pub async fn dissolve_consortium(
        &self,
        caller: &Caller,
        id: &str,
        as_org: Option<&str>,
    ) -> Result<ConsortiumView> {
        let view = self.consortium(caller, id).await?;
        let voter = match view.approval_policy {
            ApprovalPolicy::Leader => {
                let resource = format!("org/{}/consortiums/{id}", view.leader_org_id);
                self.authorize(caller, &view.leader_org_id, DISSOLVE, &resource).await?;
                None
            }
            ApprovalPolicy::Majority => Some(self.acting_org(caller, id, as_org, DISSOLVE).await?),
        };
        let mut tx = self.db.begin().await?;
        lock_live(&mut tx, id).await?;
        let live = store::live_chains(&mut *tx, id).await?;
        if !live.is_empty() {
            return Err(Error::conflict(
                "chains_not_archived",
                format!(
                    "consortium {} still has chains in service: {}; archive them first",
                    view.name,
                    live.join(", ")
                ),
            ));
        }
        if let Some(org) = voter {
            let (votes, members) =
                store::vote_dissolution(&mut tx, id, &org, &caller.user_id).await?;
            if votes * 2 <= members {
                tx.commit().await?;
                tracing::info!(target: "platform::consortiums", consortium = %id, org, votes, members, "voted to dissolve");
                return self.consortium_view(id).await;
            }
        }
        store::dissolve(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(target: "platform::consortiums", consortium = %id, "dissolved");
        self.consortium_view(id).await
    }

    /// `org` leaves a consortium in service (its admins: `consortium:leave`), once it takes
    /// part in none of the consortium's chains in service: their members remove it through
    /// each chain's governance first, since the platform cannot take an organization off a
    /// chain by itself. The leader stays (it dissolves the consortium instead). Its votes on
    /// pending join requests go, and its membership with its member CA's keys; the votes
    /// left are counted again against the fewer members ([`Self::recount`]). To come back it
    /// needs a new invitation and approval.
    pub async fn leave_consortium(&self, caller: &Caller, id: &str, org: &str) -> Result<()> {
        let view = self.consortium(caller, id).await?;
        self.org_exists(org).await?;
        let resource = format!("org/{org}/consortiums/{id}");
        self.authorize(caller, org, "consortium:leave", &resource).await?;
        if org == view.leader_org_id {
            return Err(Error::conflict(
                "leader_stays",
                format!(
                    "{org} leads consortium {}: a leader does not leave; dissolve the consortium once its chains are archived",
                    view.name
                ),
            ));
        }
        let mut tx = self.db.begin().await?;
        lock_live(&mut tx, id).await?;
        if !store::is_member(&mut *tx, id, org).await? {
            return Err(Error::NotFound(format!(
                "{org} is not a member of consortium {}",
                view.name
            )));
        }
        let chains = store::live_chains_of(&mut *tx, id, org).await?;
        if !chains.is_empty() {
            return Err(Error::conflict(
                "takes_part_in_chains",
                format!(
                    "{org} takes part in chains of consortium {} in service: {}; have each chain's members remove it by a governance proposal (and its nodes), or archive the chain, then leave",
                    view.name,
                    chains.join(", ")
                ),
            ));
        }
        store::leave(&mut tx, id, org).await?;
        self.recount(&mut tx, &view).await?;
        tx.commit().await?;
        tracing::info!(target: "platform::consortiums", consortium = %id, org, "left");
        Ok(())
    }
}

async fn consortium_in(db: &mut sqlx::AnyConnection, id: &str) -> Result<ConsortiumView> {
    store::consortium(db, id).await?.ok_or_else(|| Error::NotFound(format!("no consortium {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(approvals: i64, rejections: i64, members: i64) -> Tally {
        Tally { approvals, rejections, members }
    }

    #[test]
    fn the_leader_decides_alone_under_the_leader_policy() {
        assert_eq!(decide(ApprovalPolicy::Leader, true, true, tally(1, 0, 3)), Some(true));
        assert_eq!(decide(ApprovalPolicy::Leader, true, false, tally(0, 1, 3)), Some(false));
        assert_eq!(decide(ApprovalPolicy::Leader, false, true, tally(3, 0, 3)), None);
    }

    #[test]
    fn more_than_half_approve_or_half_reject_under_the_majority_policy() {
        assert_eq!(decide(ApprovalPolicy::Majority, false, true, tally(2, 0, 4)), None);
        assert_eq!(decide(ApprovalPolicy::Majority, false, true, tally(3, 0, 4)), Some(true));
        assert_eq!(decide(ApprovalPolicy::Majority, false, false, tally(1, 2, 4)), Some(false));
        assert_eq!(decide(ApprovalPolicy::Majority, false, false, tally(0, 1, 3)), None);
        assert_eq!(decide(ApprovalPolicy::Majority, true, true, tally(1, 0, 1)), Some(true));
    }
}
