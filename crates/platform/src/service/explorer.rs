//! The block explorer behind the console: a chain's members read its nodes' explorer API
//! through the platform (same origin and login as the console; the nodes need not be
//! reachable from the browser), and a transaction comes back decoded with the ABIs of the
//! chain's contracts.

use consortia_api::platform::ChainView;
use serde_json::{Value, json};

use super::abi::{decode_events, decode_input, hex_bytes, topics};
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};

/// The node API reads the explorer may make: the first segment of the path after `/v1/`.
pub const READS: [&str; 8] =
    ["blocks", "transactions", "addresses", "stats", "accounts", "status", "notary", "governance"];

/// Whether a path (after `/v1/`, without its query) is one of the explorer's reads: its first
/// segment is allowed, and no segment climbs or smuggles a query, however often it was
/// percent-encoded (URL parsers resolve `%2e%2e` as `..`, so a proxied `blocks/%2e%2e/x` would
/// reach `/v1/x`).
pub fn is_explorer_read(path: &str) -> bool {
    let mut decoded = path.to_owned();
    for _ in 0..4 {
        let next = percent_decode(&decoded);
        if next == decoded {
            let first = decoded.split('/').next().unwrap_or_default();
            return READS.contains(&first)
                && !decoded.split('/').any(|s| s == ".." || s == ".")
                && !decoded.contains(['\\', '?', '#']);
        }
        decoded = next;
    }
    false
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Platform {
    /// GETs `path` (with its query) from the first node of the chain that answers: its status
    /// and JSON answer.
    async fn read_from_nodes(&self, chain: &ChainView, path: &str) -> Result<(u16, Value)> {
        let path = format!("/v1/{path}");
        let path = &path;
        self.on_any_node(chain, |node| async move { node.get_raw(path).await })
            .await?
            .map_err(|e| Error::Upstream { code: "chain_failed", message: e.to_string() })
    }

    /// A node API read (`path` after `/v1/`, with its query) of a running chain the caller may
    /// read: the node's status and answer.
    pub async fn explorer_read(
        &self,
        caller: &Caller,
        chain: &str,
        path: &str,
        query: Option<&str>,
    ) -> Result<(u16, Value)> {
        if !is_explorer_read(path) {
            return Err(Error::NotFound(format!(
                "the explorer reads {}; not `{path}`",
                READS.join(", ")
            )));
        }
        let chain = self.readable_chain(caller, chain).await?;
        let path = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        self.read_from_nodes(&chain, &path).await
    }

    /// A transaction by hash, with `decoded`: the contract it calls or created, its call and
    /// its events, by the ABIs of the chain's contracts.
    pub async fn chain_transaction(
        &self,
        caller: &Caller,
        chain: &str,
        hash: &str,
    ) -> Result<(u16, Value)> {
        let chain = self.readable_chain(caller, chain).await?;
        let (status, mut body) =
            self.read_from_nodes(&chain, &format!("transactions/{hash}")).await?;
        if status != 200 {
            return Ok((status, body));
        }
        let contracts = self.abis_by_address(&chain.id).await?;
        let payload = &body["transaction"]["payload"];
        let input = hex_bytes(&payload["input"]);
        // Whom it calls, or (a creation) what it created: the receipt's output is the address.
        let target = match payload["to"].as_str() {
            Some(to) => Some(to.to_ascii_lowercase()),
            None if payload["type"] == "evm" => {
                let output = body["receipt"]["output"].as_str().unwrap_or_default();
                (output.len() == 42).then(|| output.to_ascii_lowercase())
            }
            None => None,
        };
        let known = target.as_ref().and_then(|t| contracts.iter().find(|(a, _, _)| a == t));
        let mut decoded = json!({});
        if let Some((address, name, abi)) = known {
            decoded["contract"] = json!({"name": name, "address": address});
            if payload["to"].is_string()
                && let Some(call) = decode_input(abi, &input)
            {
                decoded["call"] = call;
            }
        }
        let events = body["receipt"]["events"].as_array().cloned().unwrap_or_default();
        let decoded_events = events
            .iter()
            .map(|event| {
                let contract = event["contract"].as_str().unwrap_or_default().to_ascii_lowercase();
                let Some((_, name, abi)) = contracts.iter().find(|(a, _, _)| *a == contract) else {
                    return Value::Null;
                };
                let log = (topics(&event["topics"]), hex_bytes(&event["data"]));
                match decode_events(abi, &[log]).pop() {
                    Some(mut e) => {
                        e["contract"] = json!(name);
                        e
                    }
                    None => Value::Null,
                }
            })
            .collect();
        decoded["events"] = Value::Array(decoded_events);
        body["decoded"] = decoded;
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explorer_reads_are_allowed_and_climbs_are_not_however_encoded() {
        for ok in [
            "blocks",
            "blocks/12",
            "transactions",
            "addresses/0xab/transactions",
            "stats/volume",
            "notary/records/a%20b",
        ] {
            assert!(is_explorer_read(ok), "{ok}");
        }
        for bad in [
            "metrics",
            "blocks/../metrics",
            "blocks/%2e%2e/%2e%2e/metrics",
            "blocks/%252e%252e/metrics",
            "blocks/%25252e%25252e/metrics",
            "blocks/%2E%2E/metrics",
            "blocks/./x",
            "blocks%2f..%2fmetrics",
            "blocks/x%3fy",
            "blocks/x%23y",
            "blocks\\..",
            "",
        ] {
            assert!(!is_explorer_read(bad), "{bad}");
        }
    }
}
