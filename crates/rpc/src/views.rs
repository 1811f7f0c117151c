//! The JSON shapes of the API. Byte strings are `0x` hex; hashes and addresses too; balances
//! are decimal strings.

use std::collections::BTreeMap;

use consortia_execution::notary::StoredRecord;
use consortia_storage::{StoredHeader, StoredTx};
use consortia_types::{CommitCertificate, EvmCall, Payload, Receipt, ReceiptStatus, Transaction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorBody;

pub(crate) use consortia_crypto::hex0x;

/// A transaction to submit: its canonical (borsh) encoding in hex.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitRequest {
    #[schema(example = "0x0a000000...")]
    pub tx: String,
}

/// Many transactions at once (at most 10,000); each is admitted or refused on its own.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitBatchRequest {
    pub txs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SubmitResponse {
    pub hash: String,
    /// `pending`: admitted (or already waiting) and will be committed.
    pub status: String,
}

/// One result per submitted transaction, in order: a hash, or an error.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitBatchResponse {
    pub accepted: usize,
    pub results: Vec<BatchItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    pub certificate: Option<CertificateView>,
    pub tx_hashes: Vec<String>,
}

impl From<StoredHeader> for BlockView {
    fn from(s: StoredHeader) -> Self {
        let h = s.header;
        BlockView {
            hash: s.hash.to_hex(),
            height: h.height,
            chain_id: h.chain_id,
            parent_hash: h.parent_hash.to_hex(),
            time_ms: h.time_ms,
            proposer: h.proposer.to_checksum_hex(),
            tx_count: h.tx_count,
            tx_root: h.tx_root.to_hex(),
            state_root: h.state_root.to_hex(),
            receipts_root: h.receipts_root.to_hex(),
            certificate: s.certificate.map(|c: CommitCertificate| CertificateView {
                round: c.round,
                signatures: c.signatures.into_iter().map(|(i, sig)| (i, hex0x(&sig.0))).collect(),
            }),
            tx_hashes: s.tx_hashes.iter().map(|h| h.to_hex()).collect(),
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub sender: String,
    pub payload: PayloadView,
    /// Native: the signature, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Ethereum: the raw EIP-2718 bytes, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl From<&Transaction> for TransactionView {
    fn from(tx: &Transaction) -> Self {
        let evm = |call: EvmCall| PayloadView::Evm {
            to: call.to.map(|a| a.to_checksum_hex()),
            value: call.value.to_string(),
            input: hex0x(&call.input),
            gas_limit: call.gas_limit,
        };
        let payload = match tx {
            Transaction::Native(n) => match &n.body.payload {
                Payload::Notarize(r) => PayloadView::Notarize {
                    id: r.id.clone(),
                    fields: r.fields.clone(),
                    content_hash: r.content_hash.to_hex(),
                    metadata: r.metadata.clone(),
                },
                Payload::Evm(call) => evm(call.clone()),
            },
            Transaction::Ethereum(e) => evm(e.call()),
        };
        let (envelope, public_key, signature, raw) = match tx {
            Transaction::Native(n) => {
                ("native", Some(n.body.public_key.to_base64()), Some(hex0x(&n.signature.0)), None)
            }
            Transaction::Ethereum(e) => ("ethereum", None, None, Some(hex0x(e.raw()))),
        };
        TransactionView {
            envelope: envelope.to_owned(),
            chain_id: tx.chain_id(),
            nonce: tx.nonce(),
            public_key,
            sender: tx.sender().to_checksum_hex(),
            payload,
            signature,
            raw,
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    pub steps_used: u64,
    pub events: Vec<EventView>,
    pub output: String,
}

impl From<&Receipt> for ReceiptView {
    fn from(r: &Receipt) -> Self {
        let (status, error) = match &r.status {
            ReceiptStatus::Success => ("success", None),
            ReceiptStatus::Failed { code, message } => {
                ("failed", Some(ErrorBody { code: code.clone(), message: message.clone() }))
            }
        };
        ReceiptView {
            status: status.to_owned(),
            error,
            steps_used: r.steps_used,
            events: r
                .events
                .iter()
                .map(|e| EventView {
                    contract: e.contract.to_checksum_hex(),
                    topics: e.topics.iter().map(|t| t.to_hex()).collect(),
                    data: hex0x(&e.data),
                })
                .collect(),
            output: hex0x(&r.output),
        }
    }
}

/// A transaction by hash: committed (with receipt and block) or still pending.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TxLookupView {
    pub hash: String,
    /// `committed` or `pending`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<TransactionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
}

impl TxLookupView {
    pub(crate) fn committed(tx: &StoredTx, block_hash: String) -> Self {
        TxLookupView {
            hash: tx.hash.to_hex(),
            status: "committed".into(),
            height: Some(tx.height),
            position: Some(tx.position),
            block_hash: Some(block_hash),
            transaction: Some((&tx.transaction).into()),
            receipt: Some((&tx.receipt).into()),
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

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
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

impl From<StoredRecord> for RecordView {
    fn from(r: StoredRecord) -> Self {
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
