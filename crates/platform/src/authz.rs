//! What a caller may do: roles per organization, and IAM-style policies attached to users.
//!
//! Actions are `resource-kind:verb` (`node:restart`, `org:update`); resources are paths under
//! an organization (`org/<id>`, `org/<id>/nodes/<id>`). A decision: a platform administrator
//! may do anything; otherwise an explicit `deny` in a policy attached to the caller wins, then
//! an `allow` from the caller's role in the organization or from an attached policy; nothing
//! else is allowed. Changing a sub-user's permissions is attaching or detaching policies.

use consortia_api::platform::{Effect, PolicyDocument, Role, Statement};

/// Whether a role allows an action by itself.
pub fn role_allows(role: Role, action: &str) -> bool {
    let verb = action.rsplit(':').next().unwrap_or("");
    match role {
        Role::Admin => true,
        // An operator runs things; taking a chain out of service is an administrator's.
        Role::Operator => {
            matches!(verb, "get" | "list")
                || action.starts_with("node:")
                || (action.starts_with("chain:") && action != "chain:delete")
                || action.starts_with("contract:")
        }
        Role::Viewer => matches!(verb, "get" | "list"),
    }
}

/// Refuses empty lists and patterns with a `*` anywhere but at the end.
pub fn check_document(doc: &PolicyDocument) -> Result<(), String> {
    if doc.statements.is_empty() {
        return Err("a policy needs at least one statement".into());
    }
    for s in &doc.statements {
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

/// The `(kind, id)` pairs of a resource path (`org/o1/chains/c1/nodes/n1`), and the area it
/// ends with, if any (`org/o1/chains/c1/contracts`).
pub fn resource_parts(resource: &str) -> (Vec<(&str, &str)>, Option<&str>) {
    let segments: Vec<&str> = resource.split('/').filter(|s| !s.is_empty()).collect();
    let pairs = segments.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let area = (segments.len() % 2 == 1).then(|| segments[segments.len() - 1]);
    (pairs, area)
}

/// A resource in words, with names for its ids where `name` knows them:
/// `node v2 of chain ledger of Alice Bank`, `the contracts of chain ledger of Alice Bank`.
pub fn resource_in_words(resource: &str, name: impl Fn(&str, &str) -> Option<String>) -> String {
    let (pairs, area) = resource_parts(resource);
    let mut words: Vec<String> = pairs
        .iter()
        .rev()
        .map(|(kind, id)| {
            let shown = name(kind, id).unwrap_or_else(|| (*id).to_owned());
            match *kind {
                "org" => shown,
                "chains" => format!("chain {shown}"),
                "nodes" => format!("node {shown}"),
                "consortiums" => format!("consortium {shown}"),
                "keys" => format!("signing key {shown}"),
                "hosts" => format!("host {shown}"),
                "contracts" => format!("contract {shown}"),
                other => format!("{other} {shown}"),
            }
        })
        .collect();
    if let Some(area) = area {
        words.insert(0, format!("the {area}"));
    }
    words.join(" of ")
}

fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Why a decision refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// An attached policy (named) denies it.
    Policy(String),
    /// The caller's role in the organization does not allow it, and no policy does.
    Role(Role),
    /// The caller is not in the organization, and no policy allows it.
    NotMember,
}

/// The decision over a role and policy documents (see the module docs).
pub fn decide(
    role: Option<Role>,
    policies: &[(String, PolicyDocument)],
    action: &str,
    resource: &str,
) -> Result<(), Denial> {
    let applies = |s: &Statement| {
        s.actions.iter().any(|a| pattern_matches(a, action))
            && s.resources.iter().any(|r| pattern_matches(r, resource))
    };
    for (name, doc) in policies {
        if doc.statements.iter().any(|s| s.effect == Effect::Deny && applies(s)) {
            return Err(Denial::Policy(name.clone()));
        }
    }
    let allowed_by_policy = policies
        .iter()
        .any(|(_, d)| d.statements.iter().any(|s| s.effect == Effect::Allow && applies(s)));
    if role.is_some_and(|r| role_allows(r, action)) || allowed_by_policy {
        return Ok(());
    }
    Err(role.map_or(Denial::NotMember, Denial::Role))
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
        assert!(decide(Some(Role::Operator), &[], "chain:alerts", node).is_ok());
        assert!(decide(Some(Role::Operator), &[], "chain:delete", node).is_err());
        assert!(decide(Some(Role::Admin), &[], "chain:delete", node).is_ok());
        assert!(decide(Some(Role::Viewer), &[], "node:restart", node).is_err());
        assert!(decide(None, &[], "node:get", node).is_err());
        // A policy allows beyond the role; a deny beats both.
        let allow = ("ops".to_owned(), doc(Effect::Allow, "node:*", "org/o1/nodes/*"));
        assert!(
            decide(Some(Role::Viewer), std::slice::from_ref(&allow), "node:restart", node).is_ok()
        );
        let deny = ("no-restart".to_owned(), doc(Effect::Deny, "node:restart", "*"));
        let err = decide(Some(Role::Admin), &[allow, deny], "node:restart", node).unwrap_err();
        assert_eq!(err, Denial::Policy("no-restart".into()));
        assert_eq!(
            decide(Some(Role::Viewer), &[], "node:restart", node),
            Err(Denial::Role(Role::Viewer))
        );
        assert_eq!(decide(None, &[], "node:get", node), Err(Denial::NotMember));
    }

    #[test]
    fn a_resource_reads_in_names_where_they_are_known() {
        let name = |kind: &str, id: &str| match (kind, id) {
            ("org", "org_1") => Some("Alice Bank".to_owned()),
            ("chains", "chain_1") => Some("ledger".to_owned()),
            _ => None,
        };
        let words = |r| resource_in_words(r, name);
        assert_eq!(
            words("org/org_1/chains/chain_1/nodes/node_9"),
            "node node_9 of chain ledger of Alice Bank"
        );
        assert_eq!(
            words("org/org_1/chains/chain_1/contracts"),
            "the contracts of chain ledger of Alice Bank"
        );
        assert_eq!(words("org/org_1"), "Alice Bank");
    }

    #[test]
    fn policy_documents_are_checked() {
        assert!(check_document(&doc(Effect::Allow, "node:*", "*")).is_ok());
        assert!(check_document(&doc(Effect::Allow, "no*de", "*")).is_err());
        assert!(check_document(&PolicyDocument { statements: vec![] }).is_err());
        let bad: Result<PolicyDocument, _> = serde_json::from_str(
            r#"{"statements":[{"effect":"maybe","actions":[],"resources":[]}]}"#,
        );
        assert!(bad.is_err());
    }
}
