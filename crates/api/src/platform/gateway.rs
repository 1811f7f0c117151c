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

/// A new webhook subscription: the chain's events that match, POSTed to `url`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Only events of this contract (its id or name on the chain, or a 0x address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Only this event, by its signature: `Transfer(address,address,uint256)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Filters for topics 1 to 3 (32-byte hex each; null: any), as `eth_getLogs` takes them.
    #[serde(default)]
    pub topics: Vec<Option<String>>,
    /// Deliver from this block on (default: the next block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_height: Option<u64>,
    /// The organization it belongs to (see `CallRequest.org_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A webhook subscription and how its delivery stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub url: String,
    /// The contract's address (none: any).
    pub address: Option<String>,
    pub event: Option<String>,
    pub topics: Vec<Option<String>>,
    pub enabled: bool,
    /// The last event delivered (or given up on): block height and log index (-1: none of
    /// that block yet). Delivery resumes after it.
    pub cursor_height: u64,
    pub cursor_index: i64,
    /// Events delivered so far.
    pub delivered: u64,
    /// Failed attempts at the next event, and why the last failed.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
}

/// A new subscription, with its signing secret (shown once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookView {
    pub webhook: WebhookView,
    /// The HMAC-SHA256 key of `X-Consortia-Signature`: `sha256=` hex of the MAC of
    /// `<X-Consortia-Timestamp>.<body>`. Shown once; the platform keeps it sealed.
    pub secret: String,
}

/// Where delivery resumes: after log `index` of block `height` (-1: from that block's
/// first event).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookCursorRequest {
    pub height: u64,
    #[serde(default = "minus_one")]
    pub index: i64,
}

fn minus_one() -> i64 {
    -1
}

/// An event given up on after the last retry.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    pub id: String,
    pub height: u64,
    pub log_index: u64,
    /// The payload as it was sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: u32,
    pub last_error: String,
    pub created_ms: i64,
}

/// Which events a stream carries (`GET /v1/chains/{id}/events`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventStreamQuery {
    /// Only events of this contract (its id or name on the chain, or a 0x address).
    pub contract: Option<String>,
    /// Only this event, by its signature: `Transfer(address,address,uint256)`.
    pub event: Option<String>,
    /// Start at this block (default: the next one); a `Last-Event-ID` header wins.
    pub from_height: Option<u64>,
}
