//! Organizations, their members and roles, and IAM-style policies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::wire_enum! {
    /// A member's role in an organization.
    pub enum Role {
        /// Everything in the organization, members and policies included.
        Admin = "admin",
        /// Reads, and operates chains, nodes and contracts (start, stop, restart, add, deploy,
        /// call).
        Operator = "operator",
        /// Reads only.
        Viewer = "viewer",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateOrgRequest {
    /// Unique on the platform.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    /// The caller's role (none for a platform administrator who is not a member).
    pub role: Option<Role>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub username: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    pub username: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleRequest {
    pub role: Role,
}

crate::wire_enum! {
    /// Allow or deny.
    pub enum Effect {
        Allow = "allow",
        Deny = "deny",
    }
}

/// One statement of a policy: `actions` on `resources`, each a pattern where a trailing `*`
/// matches any rest (`node:*`, `org/org_1/nodes/*`, `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub effect: Effect,
    #[schema(min_items = 1)]
    pub actions: Vec<String>,
    #[schema(min_items = 1)]
    pub resources: Vec<String>,
}

/// A policy document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    #[schema(min_items = 1)]
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub document: PolicyDocument,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub name: String,
    pub document: PolicyDocument,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachRequest {
    pub user_id: String,
}
