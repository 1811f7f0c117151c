//! The contract gateway's sending side: every transaction the platform signs (gateway calls,
//! deployments, votes, transfers, SQL statements) takes its nonce here, is written to the
//! journal (`signed_txs`) before it is sent, and is sent again until a receipt shows.
//!
//! - **Nonces, per account, never reused or skipped.** Each (chain, account) has its own lock
//!   and keeps its next nonce; accounts do not wait for each other. A nonce is recorded with
//!   its transaction before the send, and the journal holds it unique per account, so two
//!   transactions can never take one nonce, also across a restart (the first nonce after one
//!   is past both the node's pending count and the journal's highest). A transaction the chain
//!   refuses frees its nonce at once (the lock is still held, nothing took a later one).
//! - **Nothing acknowledged is lost.** A pending transaction is sent again from its recorded
//!   bytes (by [`gateway_job`]) until its receipt shows: after a node lost its pool, after a
//!   platform killed between record and send. One the chain refuses on such a resend (funds
//!   gone, say) would leave a gap no later transaction of the account could pass: its nonce
//!   is filled with an empty transfer to itself, as wallets cancel a transaction.
//! - **Idempotency.** A gateway call may carry an `Idempotency-Key`; a retry with the same
//!   key and request returns the first call (a retry with another request is refused, one
//!   while the first is being signed is 409), as Stripe's API does.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, keccak256};
use consortia_api::platform::{CallStatus, ChainView, GatewayCallView, TxOutcome, TxResult};
use consortia_types::EthTx;
use serde_json::{Value, json};

use super::abi::{decode_events, qty, receipt_logs};
use super::signing_keys::Signer;
use crate::error::{Error, Result};
use crate::store::gateway::{self as store, CallRecord, Finished, NewSignedTx, SignedTxRow};
use crate::{Platform, lock};

/// How long a synchronous call waits for its receipt.
pub(crate) const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A pending transaction without a receipt is sent again after this long.
const RESEND_AFTER_MS: i64 = 3_000;

/// Refusals that pass (a resend later is taken): anything else refuses the transaction for
/// good. The node's words, as geth's (`rpc::eth::refusal`).
const TRANSIENT: [&str; 5] = [
    "nonce too high",
    "txpool is full",
    "replacement transaction underpriced",
    "this node is shutting down",
    "state unavailable",
];

/// How often the journal's pending transactions are looked at.
const TRACK_EVERY: Duration = Duration::from_millis(500);

/// The account locks: per (chain, account), the next nonce once known.
#[derive(Debug, Default)]
pub(crate) struct Nonces(std::sync::Mutex<HashMap<(String, String), AccountLock>>);

type AccountLock = Arc<tokio::sync::Mutex<Option<u64>>>;

impl Nonces {
    fn account(&self, chain: &str, address: &str) -> AccountLock {
        lock(&self.0).entry((chain.into(), address.into())).or_default().clone()
    }
}

/// A transaction recorded and sent (or left to be sent again).
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub id: String,
    pub hash: String,
    pub raw: String,
}

/// How a send went.
enum Send {
    Accepted,
    /// The chain refused it, for this reason.
    Refused(String),
    /// No node took it (unreachable): it stays pending and is sent again.
    NotDelivered(String),
}

fn status_of(row: &SignedTxRow) -> CallStatus {
    row.status.parse().unwrap_or(CallStatus::Pending)
}

/// What an EIP-1559 transaction of the platform's says besides its input (no tip: the
/// chain's base fee is all it pays).
struct Unsigned {
    nonce: u64,
    gas: u64,
    fee: u128,
    /// None: a creation.
    to: Option<Address>,
    value: u128,
}

/// The chain's base fee per gas, what its `eth_gasPrice` answers: constant, set in its
/// genesis (the signer's account pays it, burned), so no node is asked per transaction.
pub(crate) fn base_fee(chain: &ChainView) -> u128 {
    u128::try_from(chain.base_fee_per_gas).unwrap_or_default()
}

/// Signs a transaction: its raw bytes (hex) and its hash (`0x` hex).
fn sign(
    chain: &ChainView,
    signer: &Signer,
    tx: Unsigned,
    input: Vec<u8>,
) -> Result<(String, String)> {
    let tx = alloy_consensus::TxEip1559 {
        chain_id: chain.chain_id as u64,
        nonce: tx.nonce,
        gas_limit: tx.gas,
        max_fee_per_gas: tx.fee,
        max_priority_fee_per_gas: 0,
        to: tx.to.map_or(alloy_primitives::TxKind::Create, alloy_primitives::TxKind::Call),
        value: alloy_primitives::U256::from(tx.value),
        access_list: Default::default(),
        input: input.into(),
    };
    let signed = EthTx::sign(tx, &signer.key).map_err(Error::internal)?;
    Ok((hex::encode(signed.raw()), format!("0x{}", hex::encode(keccak256(signed.raw())))))
}

/// The API's view of a journal row.
pub(crate) fn call_view(row: SignedTxRow) -> Result<GatewayCallView> {
    let outcome =
        row.outcome.as_deref().map(serde_json::from_str).transpose().map_err(Error::internal)?;
    Ok(GatewayCallView {
        status: status_of(&row),
        id: row.id,
        chain_id: row.chain_id,
        contract_id: row.contract_id,
        function: row.function,
        org_id: row.org_id,
        key_id: row.key_id,
        from: row.address,
        nonce: row.nonce.map(|n| n as u64),
        tx_hash: row.tx_hash,
        outcome,
        error: row.error,
        idempotency_key: row.idempotency_key,
        created_ms: row.created_ms,
        finished_ms: row.finished_ms,
    })
}

/// The text of a revert as a JSON-RPC error gives it (`execution reverted: reason`).
fn revert_text(e: &Error) -> String {
    let text = e.to_string();
    text.split_once(": ").map_or(text.clone(), |(_, rest)| rest.to_owned())
}

impl Platform {
    /// Sends a raw transaction to the chain.
    async fn send_raw(&self, chain: &ChainView, raw: &str) -> Send {
        match self.rpc(chain, "eth_sendRawTransaction", json!([format!("0x{raw}")])).await {
            Ok(_) => Send::Accepted,
            Err(Error::Invalid { message, .. }) => Send::Refused(
                message.strip_prefix("eth_sendRawTransaction: ").unwrap_or(&message).to_owned(),
            ),
            Err(e) => Send::NotDelivered(e.to_string()),
        }
    }

    /// The first nonce of an account this process signs for: past what the node counts
    /// (its pool included) and past what the journal recorded.
    async fn first_nonce(&self, chain: &ChainView, address: &str) -> Result<u64> {
        let node =
            qty(&self.rpc(chain, "eth_getTransactionCount", json!([address, "pending"])).await?);
        let recorded = store::max_nonce(&self.db, &chain.id, address).await?;
        Ok(recorded.map_or(node, |n| node.max(n + 1)))
    }

    /// Signs `input` to `to` (none: a creation) with `signer`, records it and sends it. A
    /// transaction that would fail is refused before it takes a nonce, with the reason.
    pub(crate) async fn submit(
        &self,
        chain: &ChainView,
        signer: &Signer,
        to: Option<Address>,
        value: u128,
        input: Vec<u8>,
        call: &CallRecord,
    ) -> Result<Sent> {
        let mut request = json!({
            "from": signer.address,
            "value": format!("{value:#x}"),
            "data": format!("0x{}", hex::encode(&input)),
        });
        if let Some(to) = to {
            request["to"] = json!(to.to_checksum(None));
        }
        let estimate = self.rpc(chain, "eth_estimateGas", json!([request])).await.map_err(|e| {
            Error::invalid(
                "would_revert",
                format!("the transaction would fail: {}", revert_text(&e)),
            )
        })?;
        let gas = qty(&estimate);
        let fee = base_fee(chain);
        let account = self.nonces.account(&chain.id, &signer.address);
        let mut next = account.lock().await;
        // One more try when the chain says the nonce was used (by a client outside the
        // platform that holds the same key): the count is asked again.
        for attempt in 0..2 {
            let nonce = match *next {
                Some(n) => n,
                None => self.first_nonce(chain, &signer.address).await?,
            };
            let unsigned = Unsigned { nonce, gas: gas + gas / 5 + 10_000, fee, to, value };
            let (raw, hash) = sign(chain, signer, unsigned, input.clone())?;
            let new = NewSignedTx {
                chain: &chain.id,
                org: &signer.org,
                address: &signer.address,
                nonce,
                tx_hash: &hash,
                raw_tx: &raw,
                call,
            };
            let id = match store::insert_tx(&self.db, &new).await {
                Ok(id) => id,
                Err(e) if e.is_duplicate() && call.idempotency_key.is_some() => {
                    return Err(Error::conflict(
                        "idempotent_request_in_flight",
                        "a request with this Idempotency-Key is being sent; retry it in a moment",
                    ));
                }
                Err(e) if e.is_duplicate() => {
                    // Another platform process signed for this account: ask again.
                    *next = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match self.send_raw(chain, &raw).await {
                Send::Accepted => {}
                Send::NotDelivered(why) => {
                    tracing::warn!(target: "platform::gateway", call = %id, %why, "not delivered; it is sent again");
                }
                Send::Refused(why) => {
                    store::refuse(&self.db, &id, &why, true).await?;
                    *next = None;
                    if attempt == 0 && why.starts_with("nonce too low") {
                        continue;
                    }
                    return Err(Error::invalid("chain_refused", why));
                }
            }
            *next = Some(nonce + 1);
            return Ok(Sent { id, hash, raw });
        }
        Err(Error::conflict("nonce_taken", "the account's nonces are being taken elsewhere; retry"))
    }

    /// What a receipt says, recorded as the transaction's outcome (events decoded with `abi`;
    /// a revert's reason replayed at the block before).
    async fn finish(
        &self,
        chain: &ChainView,
        id: &str,
        raw: Option<&str>,
        from: &str,
        receipt: &Value,
        abi: Option<&JsonAbi>,
    ) -> Result<TxOutcome> {
        let height = qty(&receipt["blockNumber"]);
        let success = receipt["status"] == "0x1";
        let revert_reason = match (success, raw) {
            (false, Some(raw)) => self.replay_revert(chain, raw, from, height).await,
            _ => None,
        };
        let outcome = TxOutcome {
            tx_hash: receipt["transactionHash"].as_str().unwrap_or_default().to_owned(),
            height,
            status: if success { TxResult::Success } else { TxResult::Reverted },
            gas_used: qty(&receipt["gasUsed"]),
            events: abi.map(|abi| decode_events(abi, &receipt_logs(receipt))).unwrap_or_default(),
            revert_reason: revert_reason.clone(),
        };
        let text = serde_json::to_string(&outcome).map_err(Error::internal)?;
        let finished = Finished {
            status: if success { "success" } else { "reverted" },
            height,
            outcome: &text,
            error: if success {
                None
            } else {
                Some(revert_reason.as_deref().unwrap_or("reverted"))
            },
        };
        store::finish(&self.db, id, &finished).await?;
        Ok(outcome)
    }

    /// Why a transaction reverted: the same call run on the state before its block.
    async fn replay_revert(
        &self,
        chain: &ChainView,
        raw: &str,
        from: &str,
        height: u64,
    ) -> Option<String> {
        let tx = EthTx::decode(&hex::decode(raw).ok()?).ok()?;
        let call = tx.call();
        let mut request = json!({
            "from": from,
            "value": format!("{:#x}", call.value),
            "data": format!("0x{}", hex::encode(&call.input)),
            "gas": format!("{:#x}", call.gas_limit),
        });
        if let Some(to) = call.to {
            request["to"] = json!(format!("0x{}", hex::encode(to.0)));
        }
        let at = format!("{:#x}", height.saturating_sub(1));
        match self.rpc(chain, "eth_call", json!([request, at])).await {
            Err(e) => Some(revert_text(&e)),
            // It succeeds on the state before: an earlier transaction of the block made it fail.
            Ok(_) => {
                Some("reverted on the state left by an earlier transaction of its block".into())
            }
        }
    }

    /// Waits for a sent transaction's receipt (up to [`RECEIPT_TIMEOUT`]) and records its
    /// outcome; the outcome and the receipt.
    pub(crate) async fn await_final(
        &self,
        chain: &ChainView,
        sent: &Sent,
        from: &str,
        abi: Option<&JsonAbi>,
    ) -> Result<(TxOutcome, Value)> {
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        // A transaction waits in the pool for the next block, which takes tens of
        // milliseconds: the first look after 30 ms finds most, then back off.
        let mut pause = Duration::from_millis(30);
        loop {
            let receipt = self.rpc(chain, "eth_getTransactionReceipt", json!([sent.hash])).await?;
            if !receipt.is_null() {
                let outcome =
                    self.finish(chain, &sent.id, Some(&sent.raw), from, &receipt, abi).await?;
                return Ok((outcome, receipt));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "transaction {} was sent but not committed within {} s; it is sent again until it is: follow GET /v1/chains/{}/calls/{}",
                    sent.hash,
                    RECEIPT_TIMEOUT.as_secs(),
                    chain.id,
                    sent.id
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// One round over the journal's pending transactions: each with a receipt is recorded,
    /// each without one for a while is sent again.
    async fn track_pending(&self) -> Result<()> {
        let due = crate::store::now_ms() - RESEND_AFTER_MS;
        let mut chains: HashMap<String, ChainView> = HashMap::new();
        for row in store::pending(&self.db, due, 500).await? {
            if !chains.contains_key(&row.chain_id) {
                chains.insert(row.chain_id.clone(), self.load_chain(&row.chain_id).await?);
            }
            let chain = &chains[&row.chain_id];
            if let Err(e) = self.track(chain, &row).await {
                tracing::warn!(target: "platform::gateway", call = %row.id, error = %e, "pending transaction not settled");
            }
        }
        Ok(())
    }

    async fn track(&self, chain: &ChainView, row: &SignedTxRow) -> Result<()> {
        let receipt = self.rpc(chain, "eth_getTransactionReceipt", json!([row.tx_hash])).await?;
        if !receipt.is_null() {
            let abi = match &row.contract_id {
                Some(c) => Some(self.contract_abi(&row.chain_id, c).await?),
                None => None,
            };
            self.finish(
                chain,
                &row.id,
                row.raw_tx.as_deref(),
                &row.address,
                &receipt,
                abi.as_ref(),
            )
            .await?;
            return Ok(());
        }
        let Some(raw) = &row.raw_tx else { return Ok(()) };
        match self.send_raw(chain, raw).await {
            Send::Accepted => store::touch_sent(&self.db, &row.id).await,
            Send::NotDelivered(why) => {
                Err(Error::Upstream { code: "chain_unreachable", message: why })
            }
            Send::Refused(why) => {
                // Committed meanwhile: its receipt shows next round.
                let receipt =
                    self.rpc(chain, "eth_getTransactionReceipt", json!([row.tx_hash])).await?;
                if !receipt.is_null() {
                    return Ok(());
                }
                if TRANSIENT.iter().any(|t| why.starts_with(t)) {
                    return Err(Error::invalid("chain_refused", why));
                }
                if why.starts_with("nonce too low") {
                    // Another transaction of the account (signed outside the platform) took
                    // the nonce: nothing to fill.
                    return store::refuse(&self.db, &row.id, &why, false).await;
                }
                tracing::warn!(target: "platform::gateway", call = %row.id, %why, "refused when sent again; filling its nonce");
                self.fill_nonce(chain, row, &why).await
            }
        }
    }

    /// A pending transaction the chain now refuses: recorded as failed, and its nonce given
    /// to an empty transfer to the account itself so later ones are not stuck behind a gap.
    async fn fill_nonce(&self, chain: &ChainView, row: &SignedTxRow, why: &str) -> Result<()> {
        let Some(nonce) = row.nonce else { return Ok(()) };
        let signer = self.signer_of_account(row).await?;
        let account = self.nonces.account(&chain.id, &signer.address);
        let _held = account.lock().await;
        let fee = base_fee(chain);
        let to = Some(signer.address.parse().map_err(Error::internal)?);
        let unsigned = Unsigned { nonce: nonce as u64, gas: 21_000, fee, to, value: 0 };
        let (raw, hash) = sign(chain, &signer, unsigned, vec![])?;
        let new = NewSignedTx {
            chain: &chain.id,
            org: &row.org_id,
            address: &row.address,
            nonce: nonce as u64,
            tx_hash: &hash,
            raw_tx: &raw,
            call: &CallRecord { key_id: row.key_id.clone(), ..CallRecord::default() },
        };
        // Both or neither: a freed nonce without its filler would be a gap for good.
        let mut db = self.db.begin().await?;
        store::refuse(&mut *db, &row.id, why, false).await?;
        store::insert_tx(&mut *db, &new).await?;
        db.commit().await?;
        match self.send_raw(chain, &raw).await {
            Send::Refused(why) => Err(Error::invalid("chain_refused", why)),
            _ => Ok(()),
        }
    }

    /// The key of the account a journal row was signed with (a retired version of a managed
    /// key still fills its own gaps).
    async fn signer_of_account(&self, row: &SignedTxRow) -> Result<Signer> {
        match &row.key_id {
            None => self.org_signer(&row.org_id).await,
            Some(key) => self.key_version_signer(&row.org_id, key, &row.address).await,
        }
    }

    /// A gateway call of a chain, for its maker, an administrator, or those who may read the
    /// chain's contracts in its organization.
    pub async fn gateway_call(
        &self,
        caller: &crate::Caller,
        chain: &str,
        id: &str,
    ) -> Result<GatewayCallView> {
        let chain = self.visible_chain(caller, chain).await?;
        let row = store::tx(&self.db, id)
            .await?
            .filter(|r| r.chain_id == chain.id && r.user_id.is_some())
            .ok_or_else(|| Error::NotFound(format!("no call {id} on chain {}", chain.id)))?;
        if row.user_id.as_deref() != Some(caller.user_id.as_str()) {
            self.authorize_in_chain(caller, &row.org_id, "contract:get", &chain, "contracts")
                .await?;
        }
        call_view(row)
    }

    /// The caller's gateway calls on a chain (an administrator's: everyone's), newest first.
    pub async fn gateway_calls(
        &self,
        caller: &crate::Caller,
        chain: &str,
        q: &consortia_api::platform::CallsQuery,
    ) -> Result<Vec<GatewayCallView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let filter = store::CallFilter {
            chain: &chain.id,
            user: (!caller.admin).then_some(caller.user_id.as_str()),
            status: q.status.map(CallStatus::as_str),
            key: q.key_id.as_deref(),
            limit: i64::from(q.limit.unwrap_or(100).clamp(1, 1000)),
        };
        store::calls(&self.db, &filter).await?.into_iter().map(call_view).collect()
    }
}

/// Settles the journal's pending transactions while the platform runs (and, after a restart,
/// those an earlier run left).
pub(crate) async fn gateway_job(platform: Weak<Platform>) {
    loop {
        tokio::time::sleep(TRACK_EVERY).await;
        let Some(platform) = platform.upgrade() else { return };
        if platform.seal_status().sealed {
            continue;
        }
        if let Err(e) = platform.track_pending().await {
            tracing::warn!(target: "platform::gateway", error = %e, "tracking round failed");
        }
    }
}
