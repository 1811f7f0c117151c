//! Contracts of a chain: upload (checked against the stated code hash), deploy, call.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadRequest {
    /// The organization that owns it (the caller needs `contract:create` there).
    pub org_id: String,
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// The contract's JSON ABI (an array, or a string holding one).
    #[schema(value_type = Object)]
    pub abi: Value,
    /// Creation bytecode, hex (`0x` optional).
    #[schema(pattern = "^(0x)?([0-9a-fA-F]{2})+$")]
    pub bytecode: String,
    /// Keccak-256 of the bytecode's bytes, hex: the upload is refused if it differs, so what
    /// was reviewed is what gets deployed.
    #[schema(pattern = "^(0x)?[0-9a-fA-F]{64}$")]
    pub code_hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ParamView {
    pub name: String,
    /// Solidity type (`uint256`, `address`, `string[]`, `(uint256,bool)` …).
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FunctionView {
    pub name: String,
    /// `name(type,…)`: names one overload exactly.
    pub signature: String,
    pub inputs: Vec<ParamView>,
    pub outputs: Vec<ParamView>,
    /// `view` and `pure` functions are queried (no transaction); others send one.
    pub read_only: bool,
}

crate::wire_enum! {
    /// Where a contract stands.
    pub enum ContractStatus {
        Uploaded = "uploaded",
        Deployed = "deployed",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    pub id: String,
    pub chain_id: String,
    pub org_id: String,
    pub name: String,
    pub code_hash: String,
    pub bytecode_size: usize,
    pub status: ContractStatus,
    pub address: Option<String>,
    pub deploy_tx: Option<String>,
    pub constructor: Vec<ParamView>,
    pub functions: Vec<FunctionView>,
    #[schema(value_type = Object)]
    pub abi: Value,
    pub created_ms: i64,
    /// Which of the platform's standard contracts it is: `erc20` or `erc721` (a digital
    /// asset, see `/v1/chains/{id}/assets`) or `shared-ledger`; none for an uploaded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
    /// Its business views for the console's app browser, if it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<DisplaySpec>,
}

/// How a contract shows to people who are not developers: business views made of its
/// events and functions, kept with its ABI (JD ChainEye's idea). The console's Apps page
/// renders them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DisplaySpec {
    /// The app's name (`Shipments`, `Invoices`).
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most 10.
    pub views: Vec<DisplayView>,
}

/// One business view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DisplayView {
    /// A table of one event's occurrences, newest first: a column per field named (event
    /// parameters, or `height`, `tx_hash`).
    Table { title: String, event: String, columns: Vec<DisplayField> },
    /// A form that sends a transaction calling `function`, a labelled input per parameter.
    Form {
        title: String,
        function: String,
        fields: Vec<DisplayField>,
        /// The button's text (default: the title).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        submit: Option<String>,
    },
    /// A form that queries a read-only `function` and shows its results labelled.
    Lookup {
        title: String,
        function: String,
        fields: Vec<DisplayField>,
        /// Results by name (or position, `0`, `1`, … for unnamed ones).
        outputs: Vec<DisplayField>,
    },
}

/// A parameter, column or result and the words it shows under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DisplayField {
    pub name: String,
    pub label: String,
}

/// Which of a contract's events, newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractEventQuery {
    /// Only this event (its name, or its signature for an overload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Only events in blocks below this height (the previous page's `next_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_height: Option<u64>,
    /// At most this many (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One page of a contract's events, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ContractEventsPage {
    /// Decoded: `{height, log_index, tx_hash, event, signature, args: [{name, type, value}]}`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Where the next (older) page starts: pass it as `before_height`; none at the genesis.
    pub next_before: Option<u64>,
}

crate::wire_enum! {
    /// How a sent transaction ended.
    pub enum TxResult {
        Success = "success",
        Reverted = "reverted",
    }
}

/// What a sent transaction came to.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxOutcome {
    pub tx_hash: String,
    pub height: u64,
    pub status: TxResult,
    pub gas_used: u64,
    /// Events the ABI knows, decoded.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Why a reverted transaction reverted (`Error(string)`, a panic code, or a custom
    /// error's selector), replayed at the block before its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_reason: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct DeployRequest {
    /// Constructor arguments, one string per parameter (`123`, `0xabc…`, `true`, `[1,2]`).
    #[serde(default)]
    pub args: Vec<String>,
    /// The organization deploying: the contract's own. Needed only when the caller is in
    /// several organizations of the chain, or in none (an administrator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeployView {
    pub contract: ContractView,
    pub outcome: TxOutcome,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CallRequest {
    /// A function name, or its signature (`transfer(address,uint256)`) for an overload.
    #[schema(min_length = 1)]
    pub function: String,
    /// One string per parameter.
    #[serde(default)]
    pub args: Vec<String>,
    /// The organization the caller acts for, whose key signs a transaction. Needed only when
    /// the caller is in several organizations of the chain, or in none (an administrator; who
    /// may query without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The managed signing key that signs a transaction (its id or name, in the key's
    /// organization); default: the organization's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

crate::wire_enum! {
    /// How a call ran.
    pub enum CallKind {
        /// A view function: no transaction.
        Query = "query",
        /// A signed transaction.
        Transaction = "transaction",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    pub function: String,
    pub kind: CallKind,
    /// A query's decoded results.
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    /// A transaction's outcome.
    pub outcome: Option<TxOutcome>,
    /// A transaction's gateway call (`GET /v1/chains/{id}/calls/{call}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

crate::wire_enum! {
    /// What an address the platform names is.
    pub enum AddressKind {
        /// A contract deployed through the platform (named as uploaded).
        Contract = "contract",
        /// An organization's own account (the platform signs with it for the organization).
        Organization = "organization",
    }
}

/// A name the platform knows for an address of a chain (`GET /v1/chains/{id}/address-book`):
/// what an explorer shows instead of the hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressName {
    /// `0x` and 40 lower-case hex digits.
    pub address: String,
    pub kind: AddressKind,
    /// The contract's name, or the organization's.
    pub name: String,
    /// The organization that deployed the contract, or whose account it is.
    pub org_id: String,
}
