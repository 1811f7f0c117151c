//! What a caller may do: roles per organization, and IAM-style policies attached to users.
//!
//! Actions are `resource-kind:verb` (`node:restart`, `org:update`); resources are paths under
//! an organization (`org/<id>`, `org/<id>/nodes/<id>`). A decision: a platform administrator
//! may do anything; otherwise an explicit `deny` in a policy attached to the caller wins, then
//! an `allow` from the caller's role in the organization or from an attached policy; nothing
//! else is allowed. Changing a sub-user's permissions is attaching or detaching policies.

use consortia_rpc::ApiError;
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db_error;

/// A member's role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in the organization, members and policies included.
    Admin,
    /// Reads, and operates chains, nodes and contracts (start, stop, restart, add, deploy,
    /// call).
    Operator,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    fn allows(self, action: &str) -> bool {
        let verb = action.rsplit(':').next().unwrap_or("");
        match self {
            Role::Admin => true,
            Role::Operator => {
                matches!(verb, "get" | "list")
                    || action.starts_with("node:")
                    || action.starts_with("chain:")
                    || action.starts_with("contract:")
            }
            Role::Viewer => matches!(verb, "get" | "list"),
        }
    }
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of a policy: `actions` on `resources`, each a pattern where a trailing `*`
/// matches any rest (`node:*`, `org/org_1/nodes/*`, `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// A policy document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Refuses empty lists and patterns with a `*` anywhere but at the end.
    pub fn check(&self) -> Result<(), String> {
        if self.statements.is_empty() {
            return Err("a policy needs at least one statement".into());
        }
        for s in &self.statements {
            if s.actions.is_empty() || s.resources.is_empty() {
                return Err("every statement names at least one action and one resource".into());
            }
            for p in s.actions.iter().chain(&s.resources) {
                if p.is_empty() || p.trim_end_matches('*').contains('*') {
                    return Err(format!("pattern `{p}`: `*` may only end a pattern"));
                }
            }
        }
        Ok(())
    }
}

fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// The decision over a role and policy documents (see the module docs).
pub fn decide(
    role: Option<Role>,
    policies: &[(String, PolicyDocument)],
    action: &str,
    resource: &str,
) -> Result<(), String> {
    let applies = |s: &Statement| {
        s.actions.iter().any(|a| pattern_matches(a, action))
            && s.resources.iter().any(|r| pattern_matches(r, resource))
    };
    for (name, doc) in policies {
        if doc.statements.iter().any(|s| s.effect == Effect::Deny && applies(s)) {
            return Err(format!("policy `{name}` denies {action} on {resource}"));
        }
    }
    let allowed_by_policy = policies
        .iter()
        .any(|(_, d)| d.statements.iter().any(|s| s.effect == Effect::Allow && applies(s)));
    if role.is_some_and(|r| r.allows(action)) || allowed_by_policy {
        return Ok(());
    }
    Err(match role {
        Some(r) => format!("the {} role does not allow {action} on {resource}", r.as_str()),
        None => format!("not a member of the organization owning {resource}"),
    })
}

/// The caller's role in `org_id`, if a member.
pub async fn role_in(db: &AnyPool, user_id: &str, org_id: &str) -> Result<Option<Role>, ApiError> {
    let row = sqlx::query("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(db)
        .await
        .map_err(db_error)?;
    Ok(row.and_then(|r| Role::parse(&r.get::<String, _>(0))))
}

/// 403 unless `caller` may do `action` on `resource` of organization `org_id`.
pub async fn authorize(
    db: &AnyPool,
    caller: &Caller,
    org_id: &str,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    let role = role_in(db, &caller.user_id, org_id).await?;
    let rows = sqlx::query(
        "SELECT p.name, p.document FROM policies p JOIN policy_attachments a ON a.policy_id = p.id \
         WHERE a.user_id = $1 AND p.org_id = $2",
    )
    .bind(&caller.user_id)
    .bind(org_id)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    let policies: Vec<(String, PolicyDocument)> = rows
        .iter()
        .filter_map(|r| {
            let doc = serde_json::from_str(&r.get::<String, _>(1)).ok()?;
            Some((r.get::<String, _>(0), doc))
        })
        .collect();
    decide(role, &policies, action, resource)
        .map_err(|m| ApiError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(effect: Effect, action: &str, resource: &str) -> PolicyDocument {
        PolicyDocument {
            statements: vec![Statement {
                effect,
                actions: vec![action.into()],
                resources: vec![resource.into()],
            }],
        }
    }

    #[test]
    fn roles_policies_and_deny_precedence() {
        let node = "org/o1/nodes/n1";
        assert!(decide(Some(Role::Admin), &[], "node:restart", node).is_ok());
        assert!(decide(Some(Role::Operator), &[], "node:restart", node).is_ok());
        assert!(decide(Some(Role::Operator), &[], "member:add", "org/o1").is_err());
        assert!(decide(Some(Role::Viewer), &[], "node:get", node).is_ok());
        assert!(decide(Some(Role::Viewer), &[], "node:restart", node).is_err());
        assert!(decide(None, &[], "node:get", node).is_err());
        // A policy allows beyond the role; a deny beats both.
        let allow = ("ops".to_owned(), doc(Effect::Allow, "node:*", "org/o1/nodes/*"));
        assert!(
            decide(Some(Role::Viewer), std::slice::from_ref(&allow), "node:restart", node).is_ok()
        );
        let deny = ("no-restart".to_owned(), doc(Effect::Deny, "node:restart", "*"));
        let err = decide(Some(Role::Admin), &[allow, deny], "node:restart", node).unwrap_err();
        assert!(err.contains("no-restart"), "{err}");
    }

    #[test]
    fn policy_documents_are_checked() {
        assert!(doc(Effect::Allow, "node:*", "*").check().is_ok());
        assert!(doc(Effect::Allow, "no*de", "*").check().is_err());
        assert!(PolicyDocument { statements: vec![] }.check().is_err());
        let bad: Result<PolicyDocument, _> = serde_json::from_str(
            r#"{"statements":[{"effect":"maybe","actions":[],"resources":[]}]}"#,
        );
        assert!(bad.is_err());
    }
}
