//! The contract gateway: managed signing keys (created, listed, rotated, disabled), calls
//! signed with them (synchronous or asynchronous, idempotent, in batches) and their status.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::TxOutcome;
use crate::ErrorBody;

/// A new managed key of an organization.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateSigningKeyRequest {
    /// Unique in the organization.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// The user who signs with it (an application's service account, or a person); default:
    /// the caller. Only those who may `key:create` in the organization make keys for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

/// One account a key signed or signs with.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SigningKeyVersionView {
    pub version: u32,
    /// The account (EIP-55).
    pub address: String,
    pub created_ms: i64,
    /// When a rotation replaced it (it never signs again).
    pub retired_ms: Option<i64>,
}

/// A managed signing key: the private key stays sealed in the platform.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SigningKeyView {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub owner_id: String,
    /// Whether it may sign now.
    pub enabled: bool,
    /// The version that signs.
    pub version: u32,
    /// The account that signs (the current version's).
    pub address: String,
    /// Every version, newest first.
    pub versions: Vec<SigningKeyVersionView>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// How to answer a call that sends a transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// `false`: answer 202 once the transaction is signed, recorded and sent, with the call's
    /// status resource (`Location`); default `true`: answer once it is final.
    pub wait: Option<bool>,
}

crate::wire_enum! {
    /// Where a gateway call stands.
    pub enum CallStatus {
        /// Signed, recorded and sent (again, until a receipt shows); not final yet.
        Pending = "pending",
        /// Final: executed.
        Success = "success",
        /// Final: executed and reverted (`error` says why).
        Reverted = "reverted",
        /// The chain refused the transaction (`error` says why); its nonce went to no
        /// transaction.
        Failed = "failed",
    }
}

/// A transaction the gateway signed, and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GatewayCallView {
    pub id: String,
    pub chain_id: String,
    pub status: CallStatus,
    /// The contract called (none for the platform's own transfers and votes).
    pub contract_id: Option<String>,
    /// The function's signature.
    pub function: Option<String>,
    pub org_id: String,
    /// The managed key that signed (none: the organization's own account).
    pub key_id: Option<String>,
    /// The account that signed.
    pub from: String,
    /// The nonce it took (none once refused).
    pub nonce: Option<u64>,
    pub tx_hash: String,
    /// The outcome, once final.
    pub outcome: Option<TxOutcome>,
    /// Why it reverted or was refused.
    pub error: Option<String>,
    /// The `Idempotency-Key` it was sent with.
    pub idempotency_key: Option<String>,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

/// Which calls to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallsQuery {
    /// Only calls in this state.
    pub status: Option<CallStatus>,
    /// Only calls signed with this key.
    pub key_id: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One call of a batch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    /// The contract's id or name.
    pub contract: String,
    /// A function name, or its signature for an overload.
    pub function: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// Several calls signed by one key, sent in order (consecutive nonces unless other calls of
/// the key interleave). Each is its own transaction: one failing does not undo the others.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchCallRequest {
    #[schema(min_items = 1, max_items = 100)]
    pub calls: Vec<BatchItem>,
    /// The managed key that signs (id or name); default: the organization's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The organization acted for (see `CallRequest.org_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// What became of one call of a batch: its call, or why it was not sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    pub call: Option<GatewayCallView>,
    pub error: Option<ErrorBody>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchCallView {
    /// One per call, in the request's order.
    pub results: Vec<BatchResult>,
}
