//! Business services on a chain: digital assets (ERC-20 and ERC-721 contracts the platform
//! deploys for an issuing organization) and the shared ledger between member organizations.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::wire_enum! {
    /// What kind of digital asset.
    pub enum AssetKind {
        /// Interchangeable units (an ERC-20 token).
        Fungible = "fungible",
        /// Tokens each with an id and a URI (an ERC-721 collection).
        NonFungible = "non-fungible",
    }
}

/// A new asset: the platform deploys the standard contract for the issuing organization,
/// whose account becomes the asset's issuer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IssueAssetRequest {
    /// The asset's name on the platform (its contract's name): unique in the chain.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub kind: AssetKind,
    /// The token's `name()` as wallets show it; default: `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The ticker, e.g. `CNYT`.
    #[schema(min_length = 1, max_length = 11)]
    pub symbol: String,
    /// Decimal places of a fungible asset (default 2); a non-fungible asset has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Where the asset is described (a URL or a content hash).
    #[serde(default)]
    pub metadata_uri: String,
    /// The issuing organization; needed only when the caller is in several of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A digital asset, with its state on chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AssetView {
    /// Its name on the platform (the contract's name).
    pub name: String,
    pub kind: AssetKind,
    /// The contract (EIP-55).
    pub address: String,
    /// The organization that issued it.
    pub org_id: String,
    /// The token's `name()`.
    pub display_name: String,
    pub symbol: String,
    /// Decimal places (fungible assets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    pub metadata_uri: String,
    /// Units (fungible) or tokens (non-fungible) in existence, as a decimal string.
    pub total_supply: String,
    /// The account that issues, freezes and unfreezes (EIP-55).
    pub issuer: String,
    pub deploy_tx: Option<String>,
    pub created_ms: i64,
}

crate::wire_enum! {
    /// What an asset request does.
    pub enum AssetAction {
        /// The issuer issues units (`amount`) or a token (`token_id`, `uri`) to `to`.
        Issue = "issue",
        /// The signer sends units (`amount`) or a token (`token_id`) to `to`.
        Transfer = "transfer",
        /// The signer destroys units (`amount`) or a token (`token_id`) of its own.
        Burn = "burn",
        /// The issuer stops `account` from sending and receiving.
        Freeze = "freeze",
        /// The issuer lets `account` send and receive again.
        Unfreeze = "unfreeze",
    }
}

/// An asset operation, signed as a contract gateway call (same keys, `Idempotency-Key`,
/// `?wait=false`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AssetActionRequest {
    /// The recipient of `issue` and `transfer` (an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The account `freeze` and `unfreeze` act on (an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Units of a fungible asset, in its smallest unit (a decimal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The token of a non-fungible asset (a decimal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// A new token's URI (`issue` of a non-fungible asset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The organization the caller acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The managed signing key that signs; default: the organization's account (the issuer's
    /// for the organization that issued the asset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// An account holding an asset, as its transfers add up.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HolderView {
    /// EIP-55.
    pub address: String,
    /// Units (fungible) or tokens (non-fungible) held, as a decimal string.
    pub balance: String,
    /// The tokens held (non-fungible assets), ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    pub frozen: bool,
    /// Whose account it is, when the platform knows: an organization's, or a managed key's
    /// (`org/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The holders and the latest movements of an asset.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AssetLedgerView {
    /// Holders with a balance, largest first: a page of `holders` after `holders_after`.
    pub holders: Vec<HolderView>,
    /// Pass as `holders_after` for the next page of holders; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders_next: Option<String>,
    /// The latest transfers, newest first (at most `limit`): as the node's token index
    /// lists them (issues come from, and burns go to, the zero address).
    pub transfers: Vec<crate::node::TokenTransferView>,
    /// All transfers ever.
    pub transfer_count: u64,
    /// All holders with a balance.
    #[serde(default)]
    pub holder_count: u64,
}

/// How many transfers and holders an asset's ledger view lists.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetLedgerQuery {
    /// Transfers listed: default 50, at most 200.
    pub limit: Option<u32>,
    /// Holders listed: default 100, at most 1,000.
    pub holders: Option<u32>,
    /// The cursor of an earlier page's `holders_next`: the holders after it.
    pub holders_after: Option<String>,
}

crate::wire_enum! {
    /// Where a shared-ledger entry stands.
    pub enum EntryStatus {
        /// Posted by one party; the other has not answered.
        Pending = "pending",
        /// The counterparty confirmed it: it counts in the balances.
        Confirmed = "confirmed",
        /// The counterparty disputed it (`note` says why): it does not count.
        Disputed = "disputed",
    }
}

/// A new shared-ledger entry, posted by one of its parties (the organization the caller acts
/// for) and signed with that organization's account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PostEntryRequest {
    /// The organization that owes.
    pub debtor: String,
    /// The organization owed.
    pub creditor: String,
    /// In the currency's smallest unit (a positive decimal string).
    pub amount: String,
    /// E.g. `CNY`.
    #[schema(min_length = 1, max_length = 16)]
    pub currency: String,
    /// The business reference (invoice number, contract, …).
    #[serde(default)]
    pub reference: String,
    /// The SHA-256 or Keccak-256 of a supporting document (`0x` and 64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_hash: Option<String>,
    /// The party posting (the debtor or the creditor); needed only when the caller is in
    /// several organizations of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A counterparty's answer to an entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SettleEntryRequest {
    /// Why the entry is disputed (a dispute needs one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The counterparty; needed only when the caller is in several organizations of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A shared-ledger entry as the chain holds it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub id: u64,
    pub debtor: String,
    pub creditor: String,
    /// A decimal string.
    pub amount: String,
    pub currency: String,
    pub reference: String,
    /// `0x` and 64 hex digits, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_hash: Option<String>,
    pub posted_by: String,
    pub status: EntryStatus,
    /// A dispute's reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Block time of the posting, in milliseconds since the Unix epoch.
    pub posted_ms: u64,
    /// Block time of the confirmation or dispute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_ms: Option<u64>,
}

/// Which entries to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryQuery {
    /// Only entries this organization is a party to.
    pub party: Option<String>,
    pub status: Option<EntryStatus>,
}

/// A party's confirmed balance in one currency: what it is owed less what it owes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartyBalance {
    pub org_id: String,
    pub currency: String,
    /// A signed decimal string.
    pub balance: String,
}

/// What stands between one organization and one counterparty in one currency.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CounterpartyLine {
    pub counterparty: String,
    pub currency: String,
    /// Confirmed: what the counterparty owes the organization less what it owes the
    /// counterparty (signed decimal string).
    pub confirmed_net: String,
    /// Entries awaiting an answer, either way.
    pub pending: u64,
    /// Their net as if confirmed (signed decimal string).
    pub pending_net: String,
    pub disputed: u64,
}

/// One organization's reconciliation: its balances, and per counterparty what is agreed,
/// what waits for an answer (and on whom) and what is disputed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationView {
    pub org_id: String,
    pub balances: Vec<PartyBalance>,
    pub lines: Vec<CounterpartyLine>,
    /// Entries the organization must confirm or dispute.
    pub awaiting_us: Vec<EntryView>,
    /// Entries it posted that the counterparty has not answered.
    pub awaiting_them: Vec<EntryView>,
    pub disputed: Vec<EntryView>,
}

/// Whose reconciliation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// The organization; default: the one the caller acts for.
    pub org: Option<String>,
}
