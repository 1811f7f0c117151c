//! The node's REST API (`consortia node`): requests, views and query parameters. Byte
//! strings, hashes and addresses are `0x` hex; balances are decimal strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ErrorBody;

/// A transaction to submit: its canonical (borsh) encoding in hex.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    #[schema(example = "0x0a000000...", pattern = "^0x([0-9a-fA-F]{2})+$")]
    pub tx: String,
}

/// Many transactions at once (at most 10,000); each is admitted or refused on its own.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitBatchRequest {
    #[schema(max_items = 10_000)]
    pub txs: Vec<String>,
}

crate::wire_enum! {
    /// Where a submitted or looked-up transaction is.
    pub enum TxStatus {
        /// Admitted (or already waiting) in the pool: it will be committed.
        Pending = "pending",
        /// In a committed block (final).
        Committed = "committed",
        /// Admitted, then dropped without a block (`reason` says why): it will not be
        /// committed; sign it again (with a fresh nonce if needed).
        Dropped = "dropped",
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SubmitResponse {
    pub hash: String,
    /// `pending`: admitted (or already waiting) and will be committed.
    pub status: TxStatus,
}

/// One result per submitted transaction, in order: a hash, or an error.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitBatchResponse {
    pub accepted: usize,
    pub results: Vec<BatchItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    pub chain_id: u64,
    pub chain_name: String,
    /// `standard` or `sm`.
    pub suite: String,
    pub genesis_hash: String,
    pub height: u64,
    pub latest_block_hash: String,
    pub latest_block_time_ms: u64,
    pub pending_txs: usize,
    /// Peers connected over the chain's network (0 for a solo chain).
    pub peers: usize,
    /// The first block whose transactions and receipts this node holds besides block 0 (1
    /// when it keeps them all); reads of earlier ones answer `pruned` (HTTP 410, JSON-RPC
    /// 4444). Set by the `[history]` table of the node's configuration.
    #[serde(default = "first_block")]
    pub first_block: u64,
    /// How many of the blocks it holds are in its archive directory rather than on its main
    /// disk (read all the same).
    #[serde(default)]
    pub archived_blocks: u64,
}

fn first_block() -> u64 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateView {
    pub round: u32,
    /// Validator index → signature.
    pub signatures: Vec<(u32, String)>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    pub hash: String,
    pub height: u64,
    pub chain_id: u64,
    pub parent_hash: String,
    pub time_ms: u64,
    pub proposer: String,
    pub tx_count: u32,
    pub tx_root: String,
    pub state_root: String,
    pub receipts_root: String,
    /// Hash of the validator set that signs the next block (see `GET /v1/validators`).
    pub next_validators_hash: String,
    pub certificate: Option<CertificateView>,
    pub tx_hashes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockListView {
    pub blocks: Vec<BlockView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PayloadView {
    Notarize {
        id: String,
        fields: BTreeMap<String, String>,
        content_hash: String,
        metadata: String,
    },
    /// An EVM call: `to` is absent for a contract creation; `value` in wei, as a decimal string.
    Evm { to: Option<String>, value: String, input: String, gas_limit: u64 },
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    /// `native` (the chain's own envelope) or `ethereum` (as a web3 client signed it).
    pub envelope: String,
    pub chain_id: Option<u64>,
    pub nonce: u64,
    /// Native: the sender's key, `scheme:base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub sender: String,
    pub payload: PayloadView,
    /// Native: the signature, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Ethereum: the raw EIP-2718 bytes, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub contract: String,
    pub topics: Vec<String>,
    pub data: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    /// `success` or `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    pub steps_used: u64,
    pub events: Vec<EventView>,
    pub output: String,
}

/// A transaction by hash: committed (with receipt and block) or still pending.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxLookupView {
    pub hash: String,
    pub status: TxStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<TransactionView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
    /// Why a `dropped` transaction was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TxLookupView {
    /// A transaction still in the pool.
    pub fn pending(hash: String) -> TxLookupView {
        TxLookupView {
            hash,
            status: TxStatus::Pending,
            height: None,
            position: None,
            block_hash: None,
            transaction: None,
            receipt: None,
            reason: None,
        }
    }

    /// A transaction the pool dropped after admitting it.
    pub fn dropped(hash: String, reason: String) -> TxLookupView {
        TxLookupView {
            status: TxStatus::Dropped,
            reason: Some(reason),
            ..TxLookupView::pending(hash)
        }
    }
}

/// A state value at a height, with a Merkle proof against that block's `state_root`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StateProofView {
    pub key: String,
    pub height: u64,
    pub block_hash: String,
    pub state_root: String,
    /// `null` when the key is absent; the proof then proves absence.
    pub value: Option<String>,
    /// Borsh-encoded sparse Merkle proof (jmt), hex.
    pub proof: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    pub id: String,
    pub fields: BTreeMap<String, String>,
    pub content_hash: String,
    pub metadata: String,
    pub owner: String,
    pub tx_hash: String,
    pub height: u64,
    pub time_ms: u64,
}

impl From<consortia_types::notary::StoredRecord> for RecordView {
    fn from(r: consortia_types::notary::StoredRecord) -> RecordView {
        RecordView {
            id: r.id,
            fields: r.fields,
            content_hash: r.content_hash.to_hex(),
            metadata: r.metadata,
            owner: r.owner.to_checksum_hex(),
            tx_hash: r.tx_hash.to_hex(),
            height: r.height,
            time_ms: r.time_ms,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordsByHashView {
    pub content_hash: String,
    pub records: Vec<RecordView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub address: String,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
    /// Decimal string.
    pub balance: String,
    /// It holds contract code.
    pub contract: bool,
}

/// One committed transaction in a list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxSummaryView {
    pub hash: String,
    pub height: u64,
    pub position: u32,
    /// Its block's time, ms since the Unix epoch.
    pub time_ms: u64,
    pub sender: String,
    /// The called contract or account (the notary for a notarization); absent for a creation.
    pub to: Option<String>,
    /// `notarize`, `create` or `call`.
    pub kind: String,
    /// `success` or `failed`.
    pub status: String,
    /// `native` or `ethereum`.
    pub envelope: String,
}

/// A page of transactions, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxListView {
    pub transactions: Vec<TxSummaryView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<String>,
}

/// Most items one page of a transaction list holds.
pub const MAX_PAGE: usize = 200;

crate::wire_enum! {
    /// The token standard a contract's `Transfer` events follow.
    pub enum TokenStandardView {
        /// Fungible: amounts (three topics, the amount in the data).
        Erc20 = "erc20",
        /// Non-fungible: token ids (four topics, the id last).
        Erc721 = "erc721",
    }
}

/// A token contract as its ERC-20 or ERC-721 `Transfer` events add up
/// (`GET /v1/tokens/{address}`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// EIP-55.
    pub address: String,
    /// The standard of its first transfer.
    pub standard: TokenStandardView,
    /// Accounts with a balance above zero.
    pub holders: u64,
    /// Transfers ever, mints and burns included.
    pub transfers: u64,
}

/// One holder of a token.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenHolderView {
    /// EIP-55.
    pub address: String,
    /// Units (ERC-20) or tokens (ERC-721) held, as a decimal string.
    pub balance: String,
    /// The token ids held (ERC-721), ascending, decimal; at most `tokens` of the query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
}

/// A page of a token's holders, largest balance first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenHoldersView {
    pub holders: Vec<TokenHolderView>,
    /// Pass as `before` for the next page (`balance:address`); absent on the last page.
    pub next: Option<String>,
}

/// A page of a token's holders.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenHoldersQuery {
    /// How many (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// A cursor from an earlier page's `next` (`balance:address`).
    pub before: Option<String>,
    /// Token ids listed per holder (ERC-721; default 20, at most 100).
    #[param(maximum = 100)]
    pub tokens: Option<usize>,
}

/// Most holders one page lists.
pub const MAX_HOLDERS_PAGE: usize = 1000;
/// Most token ids listed per holder.
pub const MAX_TOKENS_PER_HOLDER: usize = 100;

/// One transfer of a token (a mint comes from, and a burn goes to, the zero address).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenTransferView {
    pub tx_hash: String,
    pub height: u64,
    /// The transaction's position in its block.
    pub position: u32,
    /// The event's index in its block, as `eth_getLogs` numbers it.
    pub log_index: u64,
    /// The block's time, ms since the Unix epoch.
    pub time_ms: u64,
    pub from: String,
    pub to: String,
    /// Units moved (ERC-20), decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The token moved (ERC-721), decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// A page of a token's transfers, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenTransfersView {
    pub transfers: Vec<TokenTransferView>,
    /// Pass as `before` for the next (older) page (`height:position:event`); absent on the
    /// last page.
    pub next: Option<String>,
}

/// A page of a transaction list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// A cursor from an earlier page's `next` (`height:position`): only older transactions.
    #[param(pattern = "^[0-9]+:[0-9]+$")]
    pub before: Option<String>,
}

crate::wire_enum! {
    /// The width of a volume bucket.
    pub enum Bucket {
        Minute = "minute",
        Hour = "hour",
    }
}

/// Most buckets one volume query answers (a day of minutes).
pub const MAX_BUCKETS: u64 = 1_440;

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VolumeQuery {
    /// `minute` (default) or `hour`.
    #[param(inline)]
    pub bucket: Option<Bucket>,
    /// Inclusive start, ms since the Unix epoch (default: 60 buckets before `to_time`).
    pub from_time: Option<u64>,
    /// Exclusive end, ms since the Unix epoch (default: the end of the current bucket).
    pub to_time: Option<u64>,
}

/// Blocks and transactions committed in one bucket.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeBucketView {
    /// The bucket's start, ms since the Unix epoch.
    pub start_ms: u64,
    pub blocks: u64,
    pub txs: u64,
}

/// What a chain has committed since its genesis.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotalsView {
    /// Blocks, the genesis included.
    pub blocks: u64,
    pub transactions: u64,
    /// Distinct accounts the genesis funded, or that sent, were called by, were created by or
    /// were named in an ERC-20/ERC-721 transfer by a transaction (contracts included).
    #[serde(default)]
    pub accounts: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub bucket: Bucket,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<VolumeBucketView>,
}

crate::wire_enum! {
    /// An order of blocks by time.
    pub enum Order {
        /// Oldest first.
        Asc = "asc",
        /// Newest first.
        Desc = "desc",
    }
}

/// A run of certified headers from a height (`GET /v1/headers`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadersQuery {
    /// The first height (default 1).
    pub from: Option<u64>,
    /// At most this many headers (default and maximum 1000; fewer when they pass 4 MiB).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A block header with its commit certificate and, where the validator set changes after it,
/// the next set: what a light client follows from the chain's genesis
/// (`consortia_types::HeaderChain`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertifiedHeaderView {
    pub height: u64,
    pub hash: String,
    pub state_root: String,
    /// The canonical (borsh) encoding of `consortia_types::CertifiedHeader`, hex.
    pub encoded: String,
}

/// Blocks in a time range, or a page of the latest blocks.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    /// Inclusive lower bound, milliseconds since the Unix epoch (default 0).
    pub from_time: Option<u64>,
    /// Exclusive upper bound, milliseconds since the Unix epoch (default: no bound).
    pub to_time: Option<u64>,
    /// At most this many blocks (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// `asc` (default: oldest first) or `desc` (newest first: with no range, the latest blocks).
    #[param(inline)]
    pub order: Option<Order>,
    /// Include each block's transaction hashes (default true).
    pub tx_hashes: Option<bool>,
    /// Only blocks below this height, newest first: pages through the latest blocks (the
    /// next page's `before_height` is the lowest height of this one). Takes no time range.
    pub before_height: Option<u64>,
}

/// A read at one height.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeightQuery {
    /// Read the state after this block (default: the latest).
    pub height: Option<u64>,
}

/// A bounded list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many records (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// A member organization of the chain (`GET /v1/governance/members`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub id: String,
    /// Addresses of its admin accounts: any one casts its vote.
    pub admins: Vec<String>,
    /// PEM certificate of its CA (empty if none).
    pub ca_cert: String,
    /// CAs a rotation replaced that nodes still trust until their overlap ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring_cas: Vec<RetiringCaView>,
    /// Names of the nodes it runs.
    pub nodes: Vec<String>,
}

/// A member's CA replaced by a rotation, trusted until block time `until_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetiringCaView {
    pub ca_cert: String,
    pub until_ms: u64,
}

/// A node of the chain's node list (`GET /v1/governance/nodes`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GovNodeView {
    pub name: String,
    /// The member organization that runs it.
    pub org: String,
    /// `validator` (power above 0) or `observer`.
    pub role: String,
    pub power: u64,
    /// `scheme:base64`, as in genesis files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus_key: Option<String>,
    /// The Ed25519 key of its TLS certificate, `ed25519:base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
}

/// A validator of a set.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidatorView {
    pub name: String,
    pub public_key: String,
    /// The address of its key (what a block's `proposer` names).
    pub address: String,
    pub power: u64,
}

/// The validator set that signs a height (`GET /v1/validators`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidatorSetView {
    pub height: u64,
    /// What the header of `height - 1` names as `next_validators_hash`.
    pub hash: String,
    pub total_power: u64,
    /// In order: a certificate's signer indexes refer to it.
    pub validators: Vec<ValidatorView>,
}

/// The height whose validator set is asked for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidatorsQuery {
    /// Default: the next height to commit (the latest set known ahead reaches two heights
    /// past the latest block).
    pub height: Option<u64>,
}

/// What a proposal changes when executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionView {
    AddMember {
        org: String,
        admins: Vec<String>,
        ca_cert: String,
    },
    RemoveMember {
        org: String,
    },
    AddNode {
        name: String,
        org: String,
        power: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consensus_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls_key: Option<String>,
    },
    RemoveNode {
        name: String,
    },
    SetPower {
        name: String,
        power: u64,
    },
    SetPolicy {
        kind: String,
        policy: PolicyView,
    },
    /// Init code whose keccak-256 hash is `code_hash` may be deployed.
    ApproveCode {
        code_hash: String,
        label: String,
    },
    /// `contract` gets the code `implementation` runs (hash `code_hash`), keeping its state.
    Upgrade {
        contract: String,
        implementation: String,
        code_hash: String,
    },
    Freeze {
        contract: String,
    },
    Unfreeze {
        contract: String,
    },
    Revoke {
        contract: String,
    },
    SetParameter {
        name: String,
        value: u64,
    },
    /// `org`'s CA becomes `ca_cert`; the replaced one stays trusted for `overlap_ms`.
    RotateCa {
        org: String,
        ca_cert: String,
        overlap_ms: u64,
    },
}

/// The chain parameters governance keeps (`GET /v1/governance/params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParamsView {
    /// `open` (anyone deploys) or `approved` (init code approved by a proposal first).
    pub deploy_policy: String,
    pub block_gas_limit: u64,
    pub governance_voting_ms: u64,
    pub max_block_txs: u64,
    pub max_block_bytes: u64,
    pub block_interval_ms: u64,
    /// 0: no empty blocks.
    pub empty_block_interval_ms: u64,
    pub timeout_propose_ms: u64,
    pub timeout_vote_ms: u64,
    pub timeout_delta_ms: u64,
    /// Fixed at genesis.
    pub max_tx_bytes: u64,
}

/// One upgrade of a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractVersionView {
    pub code_hash: String,
    pub height: u64,
    pub proposal: u64,
}

/// A contract as governance sees it (`GET /v1/governance/contracts/{address}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContractStatusView {
    pub address: String,
    /// `active`, `frozen` (calls revert until unfrozen) or `revoked` (for good).
    pub status: String,
    /// Hash of the code it runs now.
    pub code_hash: String,
    /// Its upgrades, oldest first (its version is their count).
    pub upgrades: Vec<ContractVersionView>,
}

/// Whether init code may be deployed (`GET /v1/governance/code/{hash}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeApprovalView {
    pub code_hash: String,
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The proposal that approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

/// A transaction to try without committing it (`POST /v1/simulate`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SimulateRequest {
    /// The sender (`0x…`); default the zero address.
    #[serde(default)]
    pub from: Option<String>,
    /// The contract to call; absent deploys `data` as init code.
    #[serde(default)]
    pub to: Option<String>,
    /// Calldata or init code, `0x`-hex.
    #[serde(default)]
    pub data: String,
    /// Wei, as a decimal string.
    #[serde(default)]
    pub value: Option<String>,
    /// Default: the chain's block gas limit (capped at 50,000,000).
    #[serde(default)]
    pub gas: Option<u64>,
}

/// What a transaction would do on the latest state.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SimulationView {
    /// `success`, `reverted`, `halted` or `invalid` (it could not be included at all).
    pub status: String,
    pub gas_used: u64,
    /// Return data (`0x`-hex); for a revert, the revert data.
    pub output: String,
    /// Why it reverted, halted or is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub events: Vec<EventView>,
    /// For a deployment: the address it would get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_address: Option<String>,
    /// For a deployment: the hash of the runtime code it would leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
    /// For a deployment: the keccak-256 hash of the init code, which an approval names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_code_hash: Option<String>,
    /// For a deployment the chain's deploy policy would refuse now: why (propose approving
    /// `init_code_hash` first). The dry run itself ignores the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_refusal: Option<String>,
}

/// How proposals of one kind are decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// `majority` (more than half of the members), `two_thirds`, `unanimous`, `n_of_m`, or
    /// `leader_only`.
    pub rule: String,
    /// For `n_of_m`.
    pub n: u32,
    /// For `leader_only`.
    pub leader: String,
}

/// One organization's vote.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BallotView {
    pub org: String,
    /// The admin account that cast it.
    pub voter: String,
    pub approve: bool,
    pub height: u64,
}

/// A governance proposal (`GET /v1/governance/proposals/{id}`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    pub id: u64,
    /// `add_member`, `remove_member`, `add_node`, `remove_node`, `set_power`, `set_policy`.
    pub kind: String,
    /// One line: what it would change.
    pub summary: String,
    pub action: ActionView,
    /// `open`, `executed`, `rejected`, `cancelled`, `expired` or `failed` (as of the latest
    /// block's time).
    pub status: String,
    /// The proposing organization and admin account.
    pub org: String,
    pub proposer: String,
    pub created_height: u64,
    pub created_ms: u64,
    pub deadline_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_height: Option<u64>,
    /// Why an approved proposal could not be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub votes: Vec<BallotView>,
    /// The policy its kind is decided by now, and how many approvals it takes of the members
    /// there are now.
    pub policy: PolicyView,
    pub approvals_needed: u64,
}

/// Proposals, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposalListView {
    pub proposals: Vec<ProposalView>,
    /// How many proposals were ever made (ids run from 1).
    pub total: u64,
}

/// Which proposals to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalsQuery {
    /// `open` lists only open proposals; default: all.
    pub status: Option<String>,
    /// Proposals with ids below this one (paging back); default: from the newest.
    pub before: Option<u64>,
    /// Only the proposals the block at this height made, voted on or decided.
    pub height: Option<u64>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<usize>,
}

/// A read-only SQL query over the chain's ledger tables (`POST /v1/sql/query`): one `SELECT`
/// in SQLite's dialect (which takes MySQL's backquotes and `LIMIT a, b`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlQuery {
    pub sql: String,
    /// Values of the statement's `?` parameters, in order: null, numbers and strings.
    #[serde(default)]
    pub params: Vec<serde_json::Value>,
    /// Answer only once the node's projection has applied this block (waiting up to 5 s): a
    /// read that must see a write committed at that height.
    #[serde(default)]
    pub min_height: Option<u64>,
}

/// A column of a SQL result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SqlColumn {
    pub name: String,
    /// The MySQL type of a table's column (`BIGINT UNSIGNED`, `VARCHAR(32)`, …); absent for an
    /// expression.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub decl_type: Option<String>,
}

/// What a SQL query answered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlResult {
    /// The block the projection had applied when the query ran.
    pub height: u64,
    pub columns: Vec<SqlColumn>,
    /// Rows of values: null, numbers, strings, and `0x` hex for binary columns.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A ledger table as the chain keeps it (`GET /v1/sql/tables`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlTableView {
    pub name: String,
    pub columns: Vec<SqlColumnView>,
    /// The primary key's columns, in key order.
    pub primary_key: Vec<String>,
    pub indexes: Vec<SqlIndexView>,
    /// The account whose transaction created it.
    pub creator: String,
    pub tx_hash: String,
    pub height: u64,
    pub rows: u64,
}

/// A column of a ledger table.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlColumnView {
    pub name: String,
    /// The MySQL type (`bigint unsigned`, `varchar(32)`, …).
    #[serde(rename = "type")]
    pub column_type: String,
    pub nullable: bool,
    pub auto_increment: bool,
}

/// A secondary index of a ledger table.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SqlIndexView {
    pub name: String,
    pub columns: Vec<String>,
}
