//! The node's stored values as the API's views (`consortia_api::node`). Byte strings are
//! `0x` hex; hashes and addresses too; balances are decimal strings.

use consortia_api::ErrorBody;
use consortia_api::node::{
    BlockView, CertificateView, EventView, PayloadView, ReceiptView, TransactionView, TxLookupView,
    TxStatus,
};
use consortia_storage::{StoredHeader, StoredTx};
use consortia_types::{CommitCertificate, EvmCall, Payload, Receipt, ReceiptStatus, Transaction};

pub(crate) use consortia_crypto::hex0x;

pub(crate) fn block_view(s: StoredHeader) -> BlockView {
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
        next_validators_hash: h.next_validators_hash.to_hex(),
        certificate: s.certificate.map(|c: CommitCertificate| CertificateView {
            round: c.round,
            signatures: c.signatures.into_iter().map(|(i, sig)| (i, hex0x(&sig.0))).collect(),
        }),
        tx_hashes: s.tx_hashes.iter().map(|h| h.to_hex()).collect(),
    }
}

pub(crate) fn transaction_view(tx: &Transaction) -> TransactionView {
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

pub(crate) fn receipt_view(r: &Receipt) -> ReceiptView {
    let (status, error) = match &r.status {
        ReceiptStatus::Success => ("success", None),
        ReceiptStatus::Failed { code, message } => {
            ("failed", Some(ErrorBody::new(code, message.clone())))
        }
    };
    ReceiptView {
        status: status.to_owned(),
        error,
        steps_used: r.steps_used,
        events: r.events.iter().map(event_view).collect(),
        output: hex0x(&r.output),
    }
}

pub(crate) fn event_view(e: &consortia_types::Event) -> EventView {
    EventView {
        contract: e.contract.to_checksum_hex(),
        topics: e.topics.iter().map(|t| t.to_hex()).collect(),
        data: hex0x(&e.data),
    }
}

/// A committed transaction with its receipt, in the block with `block_hash`.
pub(crate) fn committed(tx: &StoredTx, block_hash: String) -> TxLookupView {
    TxLookupView {
        hash: tx.hash.to_hex(),
        status: TxStatus::Committed,
        height: Some(tx.height),
        position: Some(tx.position),
        block_hash: Some(block_hash),
        transaction: Some(transaction_view(&tx.transaction)),
        receipt: Some(receipt_view(&tx.receipt)),
        reason: None,
    }
}
