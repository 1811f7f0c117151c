//! Event delivery: webhook subscriptions per chain (a contract, an event signature, topic
//! filters), delivered at least once and in block order by [`webhook_job`], each POST signed
//! with HMAC-SHA256 under the subscription's secret; failures retried with doubling waits,
//! then given up on into the dead letters; a cursor the consumer can move to replay.
//!
//! One subscription is delivered one event at a time: the next waits until the one before
//! was answered 2xx (or given up on), which is what keeps block order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use consortia_api::platform::{
    ChainView, CreateWebhookRequest, CreatedWebhookView, DeadLetterView, EventStreamQuery,
    WebhookCursorRequest, WebhookView,
};
use futures_util::Stream;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::abi::{decode_events, hex_bytes, qty, topics};
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::webhooks::{self as store, DeadLetter, NewWebhook, WebhookRow};
use crate::store::{new_id, now_ms};
use crate::{Platform, credentials};

/// How often due subscriptions are looked at.
const DELIVER_EVERY: Duration = Duration::from_millis(500);

/// The wait after the first failure; it doubles per failure up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 500;
const MAX_BACKOFF_MS: i64 = 300_000;

/// Attempts at one event before it goes to the dead letters (about 25 minutes of retries).
const MAX_ATTEMPTS: i64 = 14;

/// Blocks one `eth_getLogs` covers.
const BLOCKS_PER_ROUND: u64 = 500;

/// How long a receiver may take to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The client deliveries go out with: no redirects (a receiver names its URL itself).
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
});

/// `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`: what
/// `X-Consortia-Signature` carries (the timestamp in it keeps an old delivery from being
/// replayed as new).
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Which events: a contract's (lowercase address), one event signature's, topics 1 to 3.
#[derive(Clone, Debug)]
pub struct EventFilter {
    pub address: Option<String>,
    pub event: Option<String>,
    pub topics: Vec<Option<String>>,
}

/// An event as webhooks and streams carry it: where it is, its raw log, and decoded with the
/// ABI of the chain's contract that emitted it (if the platform knows one).
pub(crate) fn event_payload(
    chain: &str,
    log: &Value,
    abis: &[(String, String, alloy_json_abi::JsonAbi)],
) -> Value {
    let address = log["address"].as_str().unwrap_or_default().to_ascii_lowercase();
    let decoded = abis.iter().find(|(a, _, _)| *a == address).and_then(|(_, name, abi)| {
        let event = decode_events(abi, &[(topics(&log["topics"]), hex_bytes(&log["data"]))]);
        event.into_iter().next().map(|e| json!({"contract": name, "event": e}))
    });
    json!({
        "chain_id": chain,
        "height": qty(&log["blockNumber"]),
        "log_index": qty(&log["logIndex"]),
        "block_hash": log["blockHash"],
        "tx_hash": log["transactionHash"],
        "address": log["address"],
        "topics": log["topics"],
        "data": log["data"],
        "decoded": decoded,
    })
}

pub(crate) fn backoff_ms(attempts: i64) -> i64 {
    FIRST_BACKOFF_MS.saturating_mul(1 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS)
}

/// An `http://` or `https://` URL with a host, as receivers are given.
pub(crate) fn check_url(text: &str) -> Result<String> {
    reqwest::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(String::from)
        .ok_or_else(|| {
            Error::invalid("bad_url", format!("`{text}` is not an http:// or https:// URL"))
        })
}

/// POSTs a JSON body signed under `secret` (see [`signature`]) with `headers` beside the
/// delivery's id; `Err` with why unless answered 2xx.
pub(crate) async fn post_signed(
    url: &str,
    headers: &[(&str, &str)],
    delivery: &str,
    secret: &str,
    body: Vec<u8>,
) -> std::result::Result<(), String> {
    let timestamp = now_ms().to_string();
    let mut request = HTTP
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "consortia-webhooks/1")
        .header("x-consortia-delivery", delivery)
        .header("x-consortia-timestamp", &timestamp)
        .header("x-consortia-signature", signature(secret, &timestamp, &body));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.body(body).send().await.map_err(|e| format!("not delivered: {e}"))?;
    match answer.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!("the receiver answered {s}")),
    }
}

fn view(row: WebhookRow) -> Result<WebhookView> {
    Ok(WebhookView {
        topics: serde_json::from_str(&row.topics).map_err(Error::internal)?,
        id: row.id,
        chain_id: row.chain_id,
        org_id: row.org_id,
        url: row.url,
        address: row.address,
        event: row.event,
        enabled: row.enabled,
        cursor_height: row.cursor_height as u64,
        cursor_index: row.cursor_index,
        delivered: row.delivered as u64,
        attempts: row.attempts as u32,
        last_error: row.last_error,
        next_attempt_ms: row.next_attempt_ms,
        created_ms: row.created_ms,
    })
}

/// A 32-byte topic filter, lowercase; refused unless `0x` and 64 hex digits.
fn topic(t: &str) -> Result<String> {
    let hexed = t.strip_prefix("0x").filter(|h| h.len() == 64 && hex::decode(h).is_ok());
    hexed.map(|h| format!("0x{}", h.to_ascii_lowercase())).ok_or_else(|| {
        Error::invalid("bad_topic", format!("topic `{t}` is not 0x and 64 hex digits"))
    })
}

impl Platform {
    /// A subscription of `chain` the caller may see.
    async fn webhook_of(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
    ) -> Result<(ChainView, WebhookRow)> {
        let chain = self.visible_chain(caller, chain).await?;
        let mine = self.own_orgs_among(caller, &chain.orgs).await?;
        let row = store::webhook(&self.db, id)
            .await?
            .filter(|w| w.chain_id == chain.id && (caller.admin || mine.contains(&w.org_id)))
            .ok_or_else(|| Error::NotFound(format!("no webhook {id} on chain {}", chain.id)))?;
        Ok((chain, row))
    }

    /// 403 unless the caller may manage the subscription's organization's webhooks.
    async fn authorize_webhook(
        &self,
        caller: &Caller,
        chain: &ChainView,
        row: &WebhookRow,
    ) -> Result<()> {
        self.authorize_in_chain(caller, &row.org_id, "chain:subscribe", chain, "webhooks").await
    }

    /// A new subscription, delivering from the next block (or `from_height`) on.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        chain: &str,
        req: &CreateWebhookRequest,
    ) -> Result<CreatedWebhookView> {
        let chain = self.readable_chain(caller, chain).await?;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "chain:subscribe", "webhooks")
            .await?;
        let url = check_url(&req.url)?;
        let filter = self
            .event_filter(&chain, req.contract.as_deref(), req.event.as_deref(), &req.topics)
            .await?;
        let from_height = match req.from_height {
            Some(h) => h,
            None => qty(&self.rpc(&chain, "eth_blockNumber", json!([])).await?) + 1,
        };
        let id = new_id("wh");
        let secret = Zeroizing::new(format!("whsec_{}", credentials::random_secret()));
        let sealed = self.keys()?.seal(&Secret::WebhookSecret { webhook: id.clone() }, &secret)?;
        let topics_text = serde_json::to_string(&filter.topics).map_err(Error::internal)?;
        let new = NewWebhook {
            id: &id,
            chain: &chain.id,
            org: &org,
            created_by: &caller.user_id,
            url: &url,
            address: filter.address.as_deref(),
            event: filter.event.as_deref(),
            topics: &topics_text,
            secret: &sealed,
            from_height,
        };
        store::insert(&self.db, &new).await?;
        let row =
            store::webhook(&self.db, &id).await?.ok_or_else(|| Error::internal("webhook gone"))?;
        Ok(CreatedWebhookView { webhook: view(row)?, secret: secret.to_string() })
    }

    /// Which events a subscription or a stream takes, checked: a contract (deployed, by name,
    /// or a 0x address), an event signature, filters for topics 1 to 3.
    pub(crate) async fn event_filter(
        &self,
        chain: &ChainView,
        contract: Option<&str>,
        event: Option<&str>,
        topics: &[Option<String>],
    ) -> Result<EventFilter> {
        let address = match contract.map(str::trim) {
            None | Some("") => None,
            Some(a) if a.len() == 42 && a.starts_with("0x") && hex::decode(&a[2..]).is_ok() => {
                Some(a.to_ascii_lowercase())
            }
            Some(name) => {
                let abis = self.abis_by_address(&chain.id).await?;
                let found = abis.iter().find(|(_, n, _)| n == name);
                let (address, _, _) = found.ok_or_else(|| {
                    Error::invalid(
                        "unknown_contract",
                        format!("chain {} has no deployed contract {name}", chain.id),
                    )
                })?;
                Some(address.clone())
            }
        };
        let event = match event.map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(
                alloy_json_abi::Event::parse(e)
                    .map_err(|err| Error::invalid("bad_event", format!("event `{e}`: {err}")))?
                    .signature(),
            ),
        };
        if topics.len() > 3 {
            return Err(Error::invalid("bad_topic", "at most 3 topic filters (topics 1 to 3)"));
        }
        let topics: Vec<Option<String>> =
            topics.iter().map(|t| t.as_deref().map(topic).transpose()).collect::<Result<_>>()?;
        Ok(EventFilter { address, event, topics })
    }

    /// The chain's webhooks of the caller's organizations (an administrator sees all): a
    /// subscription's URL is its organization's business.
    pub async fn webhooks(&self, caller: &Caller, chain: &str) -> Result<Vec<WebhookView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let mine = self.own_orgs_among(caller, &chain.orgs).await?;
        store::of_chain(&self.db, &chain.id)
            .await?
            .into_iter()
            .filter(|w| caller.admin || mine.contains(&w.org_id))
            .map(view)
            .collect()
    }

    pub async fn webhook(&self, caller: &Caller, chain: &str, id: &str) -> Result<WebhookView> {
        view(self.webhook_of(caller, chain, id).await?.1)
    }

    pub async fn delete_webhook(&self, caller: &Caller, chain: &str, id: &str) -> Result<()> {
        let (chain, row) = self.webhook_of(caller, chain, id).await?;
        self.authorize_webhook(caller, &chain, &row).await?;
        let mut tx = self.db.begin().await?;
        store::delete(&mut tx, &row.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pauses or resumes delivery.
    pub async fn set_webhook_enabled(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
        enabled: bool,
    ) -> Result<WebhookView> {
        let (chain, row) = self.webhook_of(caller, chain, id).await?;
        self.authorize_webhook(caller, &chain, &row).await?;
        store::set_enabled(&self.db, &row.id, enabled).await?;
        self.webhook(caller, &chain.id, id).await
    }

    /// Moves the cursor: delivery resumes after the event named (a consumer replays from an
    /// earlier block, or skips ahead).
    pub async fn set_webhook_cursor(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
        req: &WebhookCursorRequest,
    ) -> Result<WebhookView> {
        let (chain, row) = self.webhook_of(caller, chain, id).await?;
        self.authorize_webhook(caller, &chain, &row).await?;
        if req.index < -1 {
            return Err(Error::invalid("bad_cursor", "index is -1 (none of that block) or more"));
        }
        store::advance(&self.db, &row.id, req.height, req.index, 0).await?;
        self.webhook(caller, &chain.id, id).await
    }

    pub async fn webhook_dead_letters(
        &self,
        caller: &Caller,
        chain: &str,
        id: &str,
    ) -> Result<Vec<DeadLetterView>> {
        let (_, row) = self.webhook_of(caller, chain, id).await?;
        store::dead_letters(&self.db, &row.id)
            .await?
            .into_iter()
            .map(|(id, height, log_index, payload, attempts, last_error, created_ms)| {
                Ok(DeadLetterView {
                    id,
                    height: height as u64,
                    log_index: log_index as u64,
                    payload: serde_json::from_str(&payload).map_err(Error::internal)?,
                    attempts: attempts as u32,
                    last_error,
                    created_ms,
                })
            })
            .collect()
    }

    /// The chain's events as they are committed, from the next block (or `from_height`, or
    /// after `resume`, a stream's last event id `height:index`), for a Server-Sent Events
    /// stream: each with its id. It follows the chain until the client goes away.
    pub async fn event_stream(
        self: Arc<Self>,
        caller: &Caller,
        chain: &str,
        q: &EventStreamQuery,
        resume: Option<&str>,
    ) -> Result<impl Stream<Item = (String, Value)> + Send + use<>> {
        let chain = self.readable_chain(caller, chain).await?;
        let filter =
            self.event_filter(&chain, q.contract.as_deref(), q.event.as_deref(), &[]).await?;
        let cursor = match resume {
            Some(id) => id
                .split_once(':')
                .and_then(|(h, i)| Some((h.parse::<u64>().ok()?, i.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    Error::invalid(
                        "bad_event_id",
                        format!("Last-Event-ID `{id}` is not height:index"),
                    )
                })?,
            None => match q.from_height {
                Some(h) => (h, -1),
                None => (qty(&self.rpc(&chain, "eth_blockNumber", json!([])).await?) + 1, -1),
            },
        };
        let abis = self.abis_by_address(&chain.id).await?;
        let state = (self, chain, filter, cursor, VecDeque::<Value>::new(), abis);
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            loop {
                let (platform, chain, filter, cursor, buffer, abis) = &mut st;
                if let Some(log) = buffer.pop_front() {
                    let payload = event_payload(&chain.id, &log, abis);
                    let id = format!("{}:{}", payload["height"], payload["log_index"]);
                    return Some(((id, payload), st));
                }
                match platform.events_after(chain, filter, *cursor).await {
                    Ok(Some((to, logs))) if !logs.is_empty() => {
                        *cursor = (to + 1, -1);
                        buffer.extend(logs);
                        continue;
                    }
                    Ok(Some((to, _))) => *cursor = (to + 1, -1),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(target: "platform::webhooks", error = %e, "event stream: no node answered")
                    }
                }
                tokio::time::sleep(DELIVER_EVERY).await;
            }
        }))
    }

    /// One round of delivery for every due subscription.
    async fn deliver_due(&self) -> Result<()> {
        let mut chains: HashMap<String, ChainView> = HashMap::new();
        for row in store::due(&self.db, now_ms()).await? {
            if !chains.contains_key(&row.chain_id) {
                chains.insert(row.chain_id.clone(), self.load_chain(&row.chain_id).await?);
            }
            if let Err(e) = self.deliver(&chains[&row.chain_id], &row).await {
                tracing::warn!(target: "platform::webhooks", webhook = %row.id, error = %e, "delivery round failed");
            }
        }
        Ok(())
    }

    /// Every event `filter` takes from block `from` to the head.
    pub(crate) async fn all_events(
        &self,
        chain: &ChainView,
        filter: &EventFilter,
        from: u64,
    ) -> Result<Vec<Value>> {
        let (mut out, mut cursor) = (vec![], (from, -1));
        while let Some((to, logs)) = self.events_after(chain, filter, cursor).await? {
            out.extend(logs);
            cursor = (to + 1, -1);
        }
        Ok(out)
    }

    /// The events `filter` takes after `cursor` (block, log index; -1: none of that block),
    /// from one node (its head and its logs agree): (the last block covered, the logs in
    /// order), or none while the cursor is past the head.
    pub(crate) async fn events_after(
        &self,
        chain: &ChainView,
        filter: &EventFilter,
        (from, after): (u64, i64),
    ) -> Result<Option<(u64, Vec<Value>)>> {
        let mut filter_topics = vec![filter.event.as_deref().map(|e| {
            json!(format!("0x{}", hex::encode(alloy_primitives::keccak256(e.as_bytes()))))
        })];
        filter_topics.extend(filter.topics.iter().map(|t| t.clone().map(Value::String)));
        let call = |node: consortia_api::NodeClient| {
            let (address, topics) = (filter.address.clone(), filter_topics.clone());
            async move {
                let latest = qty(&node.rpc("eth_blockNumber", json!([])).await?);
                if from > latest {
                    return Ok(None);
                }
                // A node answers at most 10,000 logs: a busy range is asked for in halves.
                let mut span = BLOCKS_PER_ROUND;
                loop {
                    let to = latest.min(from + span - 1);
                    let mut filter = json!({"fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"), "topics": topics});
                    if let Some(a) = &address {
                        filter["address"] = json!(a);
                    }
                    match node.rpc("eth_getLogs", json!([filter])).await {
                        Ok(logs) => {
                            return Ok(Some((to, logs.as_array().cloned().unwrap_or_default())));
                        }
                        Err(consortia_api::ClientError::JsonRpc(e))
                            if span > 1 && e.message.contains("smaller range") =>
                        {
                            span /= 2
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let found =
            self.on_any_node(chain, call).await?.map_err(|e: consortia_api::ClientError| {
                Error::Upstream { code: "chain_failed", message: e.to_string() }
            })?;
        Ok(found.map(|(to, mut logs)| {
            let at = |l: &Value| (qty(&l["blockNumber"]), qty(&l["logIndex"]));
            logs.retain(|l| {
                let (h, i) = at(l);
                h > from || i as i64 > after
            });
            logs.sort_by_key(at);
            (to, logs)
        }))
    }

    /// Delivers a subscription's next events in order, stopping at the first that fails.
    async fn deliver(&self, chain: &ChainView, row: &WebhookRow) -> Result<()> {
        let filter = EventFilter {
            address: row.address.clone(),
            event: row.event.clone(),
            topics: serde_json::from_str(&row.topics).map_err(Error::internal)?,
        };
        let cursor = (row.cursor_height as u64, row.cursor_index);
        let Some((to, logs)) = self.events_after(chain, &filter, cursor).await? else {
            return Ok(());
        };
        let secret =
            self.keys()?.open(&Secret::WebhookSecret { webhook: row.id.clone() }, &row.secret)?;
        let abis = self.abis_by_address(&chain.id).await?;
        let mut delivered = 0;
        let mut cursor = (row.cursor_height as u64, row.cursor_index);
        for log in &logs {
            let (height, index) = (qty(&log["blockNumber"]), qty(&log["logIndex"]));
            let mut payload = event_payload(&chain.id, log, &abis);
            payload["webhook_id"] = json!(row.id);
            payload["delivery_id"] = json!(format!("{}:{height}:{index}", row.id));
            let body = serde_json::to_vec(&payload).map_err(Error::internal)?;
            let headers = [("x-consortia-webhook", row.id.as_str())];
            let delivery = payload["delivery_id"].as_str().unwrap_or_default();
            if let Err(why) = post_signed(&row.url, &headers, delivery, &secret, body).await {
                if delivered > 0 {
                    store::advance(&self.db, &row.id, cursor.0, cursor.1, delivered).await?;
                }
                let attempts = if delivered > 0 { 0 } else { row.attempts };
                if attempts + 1 >= MAX_ATTEMPTS {
                    let text = payload.to_string();
                    let dead = DeadLetter {
                        webhook: &row.id,
                        height,
                        log_index: index,
                        payload: &text,
                        attempts: attempts + 1,
                        last_error: &why,
                    };
                    store::insert_dead_letter(&self.db, &dead).await?;
                    store::advance(&self.db, &row.id, height, index as i64, 0).await?;
                    tracing::warn!(target: "platform::webhooks", webhook = %row.id, height, index, %why, "given up: dead letter");
                } else {
                    store::failed(&self.db, &row.id, &why, now_ms() + backoff_ms(attempts)).await?;
                }
                return Ok(());
            }
            delivered += 1;
            cursor = (height, index as i64);
        }
        // Everything up to `to` is delivered.
        store::advance(&self.db, &row.id, to + 1, -1, delivered).await
    }
}

/// Delivers webhook events while the platform runs (resuming from each subscription's
/// cursor after a restart).
pub(crate) async fn webhook_job(platform: Weak<Platform>) {
    loop {
        tokio::time::sleep(DELIVER_EVERY).await;
        let Some(platform) = platform.upgrade() else { return };
        if platform.seal_status().sealed {
            continue;
        }
        if let Err(e) = platform.deliver_due().await {
            tracing::warn!(target: "platform::webhooks", error = %e, "delivery round failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_timestamp_and_every_byte_of_the_body() {
        let signed = signature("whsec_x", "1700000000000", b"{\"a\":1}");
        assert!(signed.starts_with("sha256=") && signed.len() == 7 + 64);
        assert_ne!(signed, signature("whsec_x", "1700000000000", b"{\"a\":2}"));
        assert_ne!(signed, signature("whsec_x", "1700000000001", b"{\"a\":1}"));
        assert_ne!(signed, signature("whsec_y", "1700000000000", b"{\"a\":1}"));
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_five_minutes() {
        assert_eq!((backoff_ms(0), backoff_ms(1), backoff_ms(3)), (500, 1000, 4000));
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }
}
