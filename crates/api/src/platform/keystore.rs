//! `/v1/sys/*`: the sealed keystore's status, unsealing, sealing and rekeying (Vault's
//! `sys/seal-status`, `sys/unseal`, `sys/seal`, `sys/rekey`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether the platform's keys are open, and how far an unseal has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealStatus {
    /// While sealed the platform answers only `/v1/health`, `/v1/sys/seal-status` and
    /// `/v1/sys/unseal` (everything else is 503 `sealed`).
    pub sealed: bool,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// Shares handed out.
    pub shares: u8,
    /// Distinct shares given so far towards the next unseal.
    pub progress: u8,
    /// `aes-256-gcm` or `sm4-gcm`.
    pub cipher: String,
}

/// One key holder's share towards unsealing (`reset` discards the shares given so far).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UnsealRequest {
    /// A share as it was handed out (`cshare1-…`).
    #[serde(default)]
    pub share: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

/// Begins a rekey: a new share set of `shares` with `threshold`, once `threshold` holders of
/// the current set gave their shares.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RekeyRequest {
    pub shares: u8,
    pub threshold: u8,
}

/// One current holder's share towards a rekey, naming the rekey (its `nonce`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RekeyShareRequest {
    pub nonce: String,
    pub share: String,
}

/// A rekey under way, or done: then `new_shares` holds the new set, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RekeyStatus {
    pub nonce: String,
    /// Current shares given so far, of the current threshold (`required`).
    pub progress: u8,
    pub required: u8,
    /// The new set's shape.
    pub shares: u8,
    pub threshold: u8,
    pub complete: bool,
    /// The new shares (only in the answer that completes the rekey).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_shares: Vec<String>,
}
