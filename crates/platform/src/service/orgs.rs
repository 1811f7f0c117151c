//! Organizations, members and roles, policies; and the authorization every service asks for:
//! may this caller do this action on this resource of this organization?

use std::collections::HashMap;

use consortia_api::platform::{
    AddMemberRequest, MemberView, OrgView, PolicyRequest, PolicyView, Role,
};

use super::check_name;
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::store::orgs as store;
use crate::{Platform, authz};

/// Which organization a caller acts for, among those taking part in `scope` (`eligible`):
/// the one they name (one of `mine`, their own eligible organizations; an administrator may
/// name any eligible one), else their only eligible one. Never another tenant's organization
/// by default: with none or several of their own, they must name one.
pub(crate) fn choose_org(
    mine: &[String],
    eligible: impl Fn(&str) -> bool,
    requested: Option<&str>,
    admin: bool,
    scope: &str,
) -> Result<String> {
    match (requested, mine) {
        (Some(r), _) if mine.iter().any(|m| m == r) => Ok(r.to_owned()),
        (Some(r), _) if admin && eligible(r) => Ok(r.to_owned()),
        (Some(r), _) if admin => {
            Err(Error::Forbidden(format!("{r} does not take part in {scope}")))
        }
        (Some(r), _) => {
            Err(Error::Forbidden(format!("{r} is not one of your organizations in {scope}")))
        }
        (None, [one]) => Ok(one.clone()),
        (None, []) if admin => Err(Error::invalid(
            "org_required",
            format!(
                "none of your organizations takes part in {scope}: name the organization you act for (`org_id`)"
            ),
        )),
        (None, []) => {
            Err(Error::Forbidden(format!("none of your organizations takes part in {scope}")))
        }
        (None, _) => Err(Error::invalid(
            "org_required",
            format!(
                "you are in several organizations taking part in {scope}: name the one you act for (`org_id`)"
            ),
        )),
    }
}

/// Most actions one permissions question names.
const MAX_ASKED: usize = 50;

fn last_admin() -> Error {
    Error::conflict(
        "last_admin",
        "an organization keeps at least one admin; make another member admin first",
    )
}

impl Platform {
    /// Why `caller` may not do `action` on `resource` of organization `org`, if it may not
    /// (see [`authz::decide`]).
    async fn denial(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
        resource: &str,
    ) -> Result<Option<authz::Denial>> {
        if caller.admin {
            return Ok(None);
        }
        let role = store::role_in(&self.db, &caller.user_id, org).await?;
        let policies = store::attached_policies(&self.db, &caller.user_id, org).await?;
        Ok(authz::decide(role, &policies, action, resource).err())
    }

    /// Whether `caller` may do `action` on `resource` of `org`: [`Platform::authorize`]
    /// without wording a refusal, for choosing what to offer or include (false if the
    /// decision cannot be read).
    pub(crate) async fn may(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
        resource: &str,
    ) -> bool {
        matches!(self.denial(caller, org, action, resource).await, Ok(None))
    }

    /// 403 unless `caller` may do `action` on `resource` of organization `org` (see
    /// [`authz::decide`]), worded with the names users know.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
        resource: &str,
    ) -> Result<()> {
        let Some(denial) = self.denial(caller, org, action, resource).await? else {
            return Ok(());
        };
        // Said with the names a user knows, not the platform's ids.
        let mut names = HashMap::new();
        for (kind, id) in authz::resource_parts(resource).0 {
            if let Some(name) = store::name_of(&self.db, kind, id).await? {
                names.insert((kind.to_owned(), id.to_owned()), name);
            }
        }
        let what = authz::resource_in_words(resource, |k, i| {
            names.get(&(k.to_owned(), i.to_owned())).cloned()
        });
        let owner = names
            .get(&("org".to_owned(), org.to_owned()))
            .cloned()
            .unwrap_or_else(|| org.to_owned());
        Err(Error::Forbidden(match denial {
            authz::Denial::Policy(policy) => {
                format!("policy `{policy}` attached to you denies {action} on {what}")
            }
            authz::Denial::Role(role) => format!(
                "your {} role in {owner} does not allow {action} on {what}; an administrator of {owner} can give you a role or attach a policy that does",
                role.as_str()
            ),
            authz::Denial::NotMember => {
                format!("you are not a member of {owner}, so you may not {action} on {what}")
            }
        }))
    }

    /// 404 unless the organization exists.
    pub(crate) async fn org_exists(&self, org: &str) -> Result<String> {
        store::org_name(&self.db, org)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no organization {org}")))
    }

    /// 404 for an unknown organization, 403 unless the caller may do `action` in it.
    pub(crate) async fn authorize_org(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
    ) -> Result<()> {
        self.org_exists(org).await?;
        self.authorize(caller, org, action, &format!("org/{org}")).await
    }

    /// The caller's own organizations among `eligible`.
    pub(crate) async fn own_orgs_among(
        &self,
        caller: &Caller,
        eligible: &[String],
    ) -> Result<Vec<String>> {
        let mine = store::list_orgs(&self.db, &caller.user_id, false).await?;
        Ok(mine.into_iter().map(|o| o.id).filter(|id| eligible.contains(id)).collect())
    }

    /// The user's role in an organization, if a member.
    pub(crate) async fn role_in(&self, user: &str, org: &str) -> Result<Option<Role>> {
        store::role_in(&self.db, user, org).await
    }

    /// An organization with the caller as its first admin.
    pub async fn create_org(&self, caller: &Caller, name: &str) -> Result<OrgView> {
        let name = check_name("organization", name)?;
        let mut tx = self.db.begin().await?;
        let view = store::insert_org(&mut tx, name, &caller.user_id).await.map_err(|e| {
            e.duplicate_as("conflict", format!("the organization name {name} is taken"))
        })?;
        tx.commit().await?;
        Ok(view)
    }

    /// The caller's organizations (all of them for a platform administrator).
    pub async fn orgs(&self, caller: &Caller) -> Result<Vec<OrgView>> {
        store::list_orgs(&self.db, &caller.user_id, caller.admin).await
    }

    pub async fn org(&self, caller: &Caller, org: &str) -> Result<OrgView> {
        self.authorize_org(caller, org, "org:get").await?;
        store::org(&self.db, org, &caller.user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no organization {org}")))
    }

    /// Which of `actions` the caller may do on `resource` (a path under the organization;
    /// default the organization itself), decided as each action would be: for a client to
    /// offer only what will be allowed. Asked by the organization's members (any role) and
    /// platform administrators.
    pub async fn permissions(
        &self,
        caller: &Caller,
        org: &str,
        actions: &str,
        resource: Option<&str>,
    ) -> Result<Vec<String>> {
        self.org_exists(org).await?;
        if !caller.admin && store::role_in(&self.db, &caller.user_id, org).await?.is_none() {
            return Err(Error::Forbidden("you are not a member of this organization".into()));
        }
        let actions: Vec<&str> = actions.split(',').map(str::trim).collect();
        let shaped = |a: &&str| {
            a.split_once(':').is_some_and(|(kind, verb)| {
                let word = |w: &str| {
                    !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                };
                word(kind) && word(verb)
            })
        };
        if actions.len() > MAX_ASKED || !actions.iter().all(shaped) {
            return Err(Error::invalid(
                "bad_actions",
                format!("name 1 to {MAX_ASKED} actions as `kind:verb`, separated by commas"),
            ));
        }
        let resource = match resource.map(|r| r.trim_matches('/')).filter(|r| !r.is_empty()) {
            Some(r) => format!("org/{org}/{r}"),
            None => format!("org/{org}"),
        };
        let mut allowed = vec![];
        for action in actions {
            if self.may(caller, org, action, &resource).await {
                allowed.push(action.to_owned());
            }
        }
        Ok(allowed)
    }

    /// Deletes an organization that is a member of no consortium in service (its admins, or
    /// a platform administrator, with `org:delete`): see [`store::delete_org`] for what goes.
    pub async fn delete_org(&self, caller: &Caller, org: &str) -> Result<()> {
        self.authorize_org(caller, org, "org:delete").await?;
        let mut tx = self.db.begin().await?;
        if !store::lock_org(&mut tx, org).await? {
            return Err(Error::NotFound(format!("no organization {org}")));
        }
        // Read under the organization's lock; a consortium dissolving meanwhile only makes
        // the list shorter, and joining one needs the organization's admins.
        let live = store::live_consortiums_of(&mut *tx, org).await?;
        if !live.is_empty() {
            return Err(Error::conflict(
                "member_of_consortium",
                format!(
                    "the organization is a member of consortium {}: its leader dissolves it once its chains are archived",
                    live.join(", ")
                ),
            ));
        }
        store::delete_org(&mut tx, org).await?;
        tx.commit().await?;
        tracing::info!(target: "platform::orgs", org, "deleted");
        Ok(())
    }

    pub async fn members(&self, caller: &Caller, org: &str) -> Result<Vec<MemberView>> {
        self.authorize_org(caller, org, "member:list").await?;
        store::members(&self.db, org).await
    }

    pub async fn add_member(
        &self,
        caller: &Caller,
        org: &str,
        req: &AddMemberRequest,
    ) -> Result<MemberView> {
        self.authorize_org(caller, org, "member:add").await?;
        let user = self.user_id(&req.username).await?;
        store::insert_member(&self.db, org, &user, req.role).await.map_err(|e| {
            let message = format!("{} is already a member; change the role with PUT", req.username);
            e.duplicate_as("conflict", message)
        })?;
        Ok(MemberView { user_id: user, username: req.username.clone(), role: req.role })
    }

    /// Changes a member's role; the last admin stays admin.
    pub async fn set_member_role(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
        role: Role,
    ) -> Result<()> {
        self.authorize_org(caller, org, "member:update").await?;
        // One membership change at a time: two demotions at once cannot remove both admins.
        let mut tx = self.db.begin().await?;
        store::lock_org(&mut tx, org).await?;
        if role != Role::Admin && store::other_admins(&mut *tx, org, user).await? == 0 {
            return Err(last_admin());
        }
        if !store::set_role(&mut *tx, org, user, role).await? {
            return Err(Error::NotFound(format!("{user} is not a member of {org}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member (and detaches the organization's policies from them); the last admin
    /// stays.
    pub async fn remove_member(&self, caller: &Caller, org: &str, user: &str) -> Result<()> {
        self.authorize_org(caller, org, "member:remove").await?;
        let mut tx = self.db.begin().await?;
        store::lock_org(&mut tx, org).await?;
        if store::other_admins(&mut *tx, org, user).await? == 0
            && store::role_in(&mut *tx, user, org).await? == Some(Role::Admin)
        {
            return Err(last_admin());
        }
        if !store::delete_member(&mut tx, org, user).await? {
            return Err(Error::NotFound(format!("{user} is not a member of {org}")));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_policy(
        &self,
        caller: &Caller,
        org: &str,
        req: &PolicyRequest,
    ) -> Result<PolicyView> {
        self.authorize_org(caller, org, "policy:create").await?;
        authz::check_document(&req.document).map_err(|m| Error::invalid("bad_policy", m))?;
        let name = check_name("policy", &req.name)?;
        store::insert_policy(&self.db, org, name, &req.document)
            .await
            .map_err(|e| e.duplicate_as("conflict", format!("{org} already has a policy {name}")))
    }

    pub async fn policies(&self, caller: &Caller, org: &str) -> Result<Vec<PolicyView>> {
        self.authorize_org(caller, org, "policy:list").await?;
        store::policies(&self.db, org).await
    }

    /// 404 unless `policy` belongs to `org` and `user` is a member of it.
    async fn policy_and_member(&self, org: &str, policy: &str, user: &str) -> Result<()> {
        if !store::policy_exists(&self.db, org, policy).await? {
            return Err(Error::NotFound(format!("no policy {policy} in {org}")));
        }
        if store::role_in(&self.db, user, org).await?.is_none() {
            return Err(Error::NotFound(format!("{user} is not a member of {org}")));
        }
        Ok(())
    }

    pub async fn attach_policy(
        &self,
        caller: &Caller,
        org: &str,
        policy: &str,
        user: &str,
    ) -> Result<()> {
        self.authorize_org(caller, org, "policy:attach").await?;
        self.policy_and_member(org, policy, user).await?;
        store::attach(&self.db, policy, user).await.map_err(|e| {
            e.duplicate_as("conflict", format!("{policy} is already attached to {user}"))
        })
    }

    pub async fn detach_policy(
        &self,
        caller: &Caller,
        org: &str,
        policy: &str,
        user: &str,
    ) -> Result<()> {
        self.authorize_org(caller, org, "policy:detach").await?;
        self.policy_and_member(org, policy, user).await?;
        if !store::detach(&self.db, policy, user).await? {
            return Err(Error::NotFound(format!("{policy} is not attached to {user}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    fn code(result: Result<String>) -> String {
        match result {
            Ok(org) => format!("ok {org}"),
            Err(e) => e.code().to_owned(),
        }
    }

    #[test]
    fn a_member_of_one_organization_acts_for_it_by_default() {
        assert_eq!(code(choose_org(&orgs(&["a"]), |_| true, None, false, "chain")), "ok a");
    }

    #[test]
    fn a_member_of_several_must_name_one_and_may_name_only_their_own() {
        let mine = orgs(&["a", "b"]);
        assert_eq!(code(choose_org(&mine, |_| true, None, false, "chain")), "org_required");
        assert_eq!(code(choose_org(&mine, |_| true, Some("b"), false, "chain")), "ok b");
        assert_eq!(code(choose_org(&mine, |_| true, Some("c"), false, "chain")), "forbidden");
    }

    #[test]
    fn nobody_acts_for_another_tenant_by_default() {
        // A user with no organization taking part, and an administrator in none: neither
        // falls back to some other organization.
        assert_eq!(code(choose_org(&[], |_| true, None, false, "chain")), "forbidden");
        assert_eq!(code(choose_org(&[], |_| true, None, true, "chain")), "org_required");
    }

    #[test]
    fn an_administrator_names_any_organization_that_takes_part_and_no_other() {
        let eligible = |o: &str| o == "a";
        assert_eq!(code(choose_org(&[], eligible, Some("a"), true, "chain")), "ok a");
        assert_eq!(code(choose_org(&[], eligible, Some("z"), true, "chain")), "forbidden");
    }
}
