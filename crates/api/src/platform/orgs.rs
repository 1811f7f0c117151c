//! Organizations, their members and roles, and IAM-style policies.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

/// Which actions to ask about (`GET /v1/orgs/{org}/permissions`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    /// Comma-separated actions (`chain:delete,contract:deploy`), at most 50.
    pub actions: String,
    /// The resource under the organization they act on (`chains/{id}/contracts`); default:
    /// the organization itself.
    pub resource: Option<String>,
}

/// The asked actions the caller may do, decided as the actions themselves would be (role
/// and attached policies): what a client offers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PermissionsView {
    pub allowed: Vec<String>,
}
