//! The block explorer behind the console: a chain's members read its nodes' explorer API
//! through the platform (same origin and login as the console; the nodes need not be
//! reachable from the browser), and a transaction comes back decoded with the ABIs of the
//! chain's contracts.

use consortia_api::platform::{AddressKind, AddressName, ChainView};
use serde_json::{Value, json};

use super::abi::{decode_events, decode_input, hex_bytes, topics};
use super::gateway::base_fee;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::store::{contracts as contract_store, orgs as org_store};

/// What kind of transaction a node's transaction view is, in the words wallets use:
/// `native` (the chain's own envelope), else the Ethereum type of its raw bytes (EIP-2718:
/// a first byte under 0x7f is the type; a legacy transaction starts with an RLP list).
fn tx_kind(tx: &Value) -> &'static str {
    if tx["envelope"] != "ethereum" {
        return "native";
    }
    let raw = tx["raw"].as_str().unwrap_or_default().trim_start_matches("0x");
    match raw.get(..2) {
        Some("01") => "eip2930",
        Some("02") => "eip1559",
        Some("03") => "eip4844",
        Some("04") => "eip7702",
        _ => "legacy",
    }
}

/// What an EVM transaction paid: the gas it used at the chain's base fee (no tip is paid to
/// anyone: the fee is burned), as decimal strings.
fn fee(chain: &ChainView, tx: &Value, receipt: &Value) -> Option<Value> {
    let payload = &tx["payload"];
    if payload["type"] != "evm" {
        return None;
    }
    let used = receipt["steps_used"].as_u64()?;
    let price = base_fee(chain);
    Some(json!({
        "gas_used": used,
        "gas_limit": payload["gas_limit"],
        "gas_price": price.to_string(),
        "fee": (u128::from(used) * price).to_string(),
    }))
}

/// The node API reads the explorer may make: the first segment of the path after `/v1/`.
pub const READS: [&str; 10] = [
    "blocks",
    "transactions",
    "addresses",
    "tokens",
    "stats",
    "accounts",
    "status",
    "notary",
    "governance",
    "validators",
];

/// The node API path (after `/v1/`, without its query) that an explorer read of `path`
/// forwards, or `None` if `path` is not one of the explorer's reads.
///
/// `path` is what the router decoded once. It is checked, then re-encoded segment by segment,
/// so that the node, decoding once, sees exactly what was checked: no URL parser or router
/// after this point can find a `..` in it. Refused: a first segment not in [`READS`], a `.` or
/// `..` segment, a backslash, `?` or `#`, and anything still percent-encoding a dot, slash,
/// backslash or percent sign (a path encoded twice, as `%252e%252e` arrives).
pub fn explorer_path(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let refused = |s: &&str| {
        *s == "."
            || *s == ".."
            || s.contains(['\\', '?', '#'])
            || ["%2e", "%2f", "%5c", "%25"].iter().any(|e| s.to_ascii_lowercase().contains(e))
    };
    if !READS.contains(&segments[0]) || segments.iter().any(refused) {
        return None;
    }
    Some(segments.iter().map(|s| encode_segment(s)).collect::<Vec<_>>().join("/"))
}

/// Percent-encodes every byte of a path segment but RFC 3986's unreserved characters.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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
        let Some(forwarded) = explorer_path(path) else {
            return Err(Error::NotFound(format!(
                "the explorer reads {}; not `{path}`",
                READS.join(", ")
            )));
        };
        let chain = self.readable_chain(caller, chain).await?;
        let path = match query {
            Some(q) => format!("{forwarded}?{q}"),
            None => forwarded,
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
        body["kind"] = json!(tx_kind(&body["transaction"]));
        if let Some(fee) = fee(&chain, &body["transaction"], &body["receipt"]) {
            body["fee"] = fee;
        }
        if let Some(height) = body["height"].as_u64()
            && let Ok((200, block)) =
                self.read_from_nodes(&chain, &format!("blocks/{height}")).await
        {
            body["block_time_ms"] = block["time_ms"].clone();
        }
        Ok((status, body))
    }

    /// The names the platform knows for the chain's addresses: its deployed contracts and its
    /// organizations' accounts.
    pub async fn address_book(&self, caller: &Caller, chain: &str) -> Result<Vec<AddressName>> {
        let chain = self.readable_chain(caller, chain).await?;
        let mut names = vec![];
        for row in contract_store::of_chain(&self.db, &chain.id, true).await? {
            let Some(address) = row.address else { continue };
            names.push(AddressName {
                address: address.to_ascii_lowercase(),
                kind: AddressKind::Contract,
                name: row.name,
                org_id: row.org_id,
            });
        }
        for (address, org) in self.org_accounts(&chain).await? {
            let name =
                org_store::name_of(&self.db, "org", &org).await?.unwrap_or_else(|| org.clone());
            names.push(AddressName { address, kind: AddressKind::Organization, name, org_id: org });
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_transactions_kind_is_its_envelope_or_its_ethereum_type() {
        let eth = |raw: &str| json!({"envelope": "ethereum", "raw": raw});
        assert_eq!(tx_kind(&json!({"envelope": "native"})), "native");
        assert_eq!(tx_kind(&eth("0x02f86c")), "eip1559");
        assert_eq!(tx_kind(&eth("01f86c")), "eip2930");
        assert_eq!(tx_kind(&eth("0xf86c")), "legacy");
    }

    #[test]
    fn an_evm_transaction_pays_the_gas_it_used_at_the_base_fee() {
        let chain = crate::service::test_chain("c", "n", 7);
        let tx = json!({"payload": {"type": "evm", "gas_limit": 90_000}});
        let paid = fee(&chain, &tx, &json!({"steps_used": 21_000})).unwrap();
        assert_eq!(
            paid,
            json!({"gas_used": 21_000, "gas_limit": 90_000, "gas_price": "7", "fee": "147000"})
        );
        assert!(fee(&chain, &json!({"payload": {"type": "notarize"}}), &json!({})).is_none());
    }

    #[test]
    fn explorer_reads_are_forwarded_encoded_for_one_decode() {
        assert_eq!(explorer_path("blocks").as_deref(), Some("blocks"));
        assert_eq!(explorer_path("blocks/12").as_deref(), Some("blocks/12"));
        assert_eq!(
            explorer_path("addresses/0xab/transactions").as_deref(),
            Some("addresses/0xab/transactions")
        );
        assert_eq!(explorer_path("notary/records/a b").as_deref(), Some("notary/records/a%20b"));
        assert_eq!(explorer_path("notary/records/v1.2").as_deref(), Some("notary/records/v1.2"));
    }

    #[test]
    fn climbs_and_twice_encoded_paths_are_refused() {
        for bad in [
            "metrics",
            "",
            "blocks/../metrics",
            "blocks/./x",
            "blocks/%2e%2e/metrics",
            "blocks/%2E%2E/metrics",
            "blocks/.%2e/metrics",
            "blocks/%252e%252e/metrics",
            "blocks%2f..%2fmetrics",
            "blocks/x%2fy",
            "blocks/x%5cy",
            "blocks/x?y",
            "blocks/x#y",
            "blocks\\..",
        ] {
            assert_eq!(explorer_path(bad), None, "{bad}");
        }
    }

    /// Pieces a path is made of, encoded any number of times.
    fn piece() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("blocks".to_owned()),
            Just("notary".to_owned()),
            Just("metrics".to_owned()),
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("%".to_owned()),
            Just("a".to_owned()),
            Just("7".to_owned()),
        ];
        (atom, 0..4usize).prop_map(|(atom, times)| {
            (0..times).fold(atom, |s, _| s.bytes().map(|b| format!("%{b:02x}")).collect())
        })
    }

    proptest! {
        /// Whatever was encoded how often, a forwarded path, resolved by a URL parser (what the
        /// HTTP client does) and decoded once (what the node's router does), stays under an
        /// allowed first segment and never climbs.
        #[test]
        fn no_encoding_of_a_path_reaches_outside_the_reads(pieces in prop::collection::vec(piece(), 1..8)) {
            let path = pieces.concat();
            if let Some(forwarded) = explorer_path(&path) {
                let url = reqwest::Url::parse(&format!("http://node/v1/{forwarded}")).unwrap();
                let segments: Vec<String> = url
                    .path_segments()
                    .unwrap()
                    .map(|s| String::from_utf8_lossy(&percent_decode(s)).into_owned())
                    .collect();
                prop_assert_eq!(&segments[0], "v1");
                prop_assert!(READS.contains(&segments[1].as_str()), "{} -> {}", path, url);
                prop_assert!(segments.iter().all(|s| s != ".." && s != "."), "{} -> {}", path, url);
            }
        }
    }

    /// One percent-decoding pass, as a router does.
    fn percent_decode(s: &str) -> Vec<u8> {
        let bytes = s.as_bytes();
        let hex = |i: usize| bytes.get(i).and_then(|b| char::from(*b).to_digit(16));
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
        out
    }
}
