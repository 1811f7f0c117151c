//! The app browser's backend: a contract's display spec (business views made of its events
//! and functions, checked against its ABI and kept with it), and a contract's events newest
//! first, page by page, decoded (what the views' tables and the contract page list).

use alloy_json_abi::{Event, JsonAbi};
use consortia_api::platform::{
    ContractEventQuery, ContractEventsPage, ContractView, DisplayField, DisplaySpec, DisplayView,
};
use serde_json::{Value, json};

use super::abi::{self, decode_events, hex_bytes, qty, topics};
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::store::contracts as store;

/// Views a spec may hold, fields a view may hold, and the longest title or label.
const MAX_VIEWS: usize = 10;
const MAX_FIELDS: usize = 20;
const MAX_LABEL: usize = 80;

/// Blocks one `eth_getLogs` asks for, and the most one page looks through.
const WINDOW: u64 = 5_000;
const MAX_SCAN: u64 = 200_000;

/// Columns every event table may show besides the event's parameters.
const EVENT_COLUMNS: [&str; 2] = ["height", "tx_hash"];

/// The event `name` names: by name, or by signature for an overload.
fn event_named<'a>(abi: &'a JsonAbi, name: &str) -> Option<&'a Event> {
    abi.events().find(|e| e.signature() == name).or_else(|| abi.events().find(|e| e.name == name))
}

/// Parameters' names as views name them: an unnamed one by its position (`0`, `1`, …).
fn param_names(params: &[alloy_json_abi::Param]) -> Vec<String> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| if p.name.is_empty() { i.to_string() } else { p.name.clone() })
        .collect()
}

/// Every problem of `spec` against the contract's ABI (none: it can be kept).
pub fn check_display(abi: &JsonAbi, spec: &DisplaySpec) -> Vec<String> {
    let mut problems = vec![];
    let mut label = |what: &str, text: &str| {
        if text.trim().is_empty() || text.chars().count() > MAX_LABEL {
            problems.push(format!("{what} is empty or longer than {MAX_LABEL} characters"));
        }
    };
    label("the title", &spec.title);
    let mut labels = vec![];
    for view in &spec.views {
        let (title, fields) = match view {
            DisplayView::Table { title, columns, .. } => (title, columns),
            DisplayView::Form { title, fields, .. } | DisplayView::Lookup { title, fields, .. } => {
                (title, fields)
            }
        };
        labels.push(("a view's title".to_owned(), title.clone()));
        labels
            .extend(fields.iter().map(|f| (format!("the label of `{}`", f.name), f.label.clone())));
        if let DisplayView::Lookup { outputs, .. } = view {
            labels.extend(
                outputs.iter().map(|f| (format!("the label of `{}`", f.name), f.label.clone())),
            );
        }
    }
    for (what, text) in &labels {
        label(what, text);
    }
    if spec.views.is_empty() || spec.views.len() > MAX_VIEWS {
        problems.push(format!("a display spec has 1 to {MAX_VIEWS} views"));
    }
    for view in &spec.views {
        problems.extend(check_view(abi, view));
    }
    problems
}

fn check_view(abi: &JsonAbi, view: &DisplayView) -> Vec<String> {
    let mut problems = vec![];
    let unknown = |kind: &str, fields: &[DisplayField], known: &[String], of: &str| {
        fields
            .iter()
            .filter(|f| !known.contains(&f.name))
            .map(|f| format!("{of} has no {kind} `{}` (it has {})", f.name, known.join(", ")))
            .collect::<Vec<_>>()
    };
    let too_many = |fields: &[DisplayField], of: &str| {
        (fields.is_empty() || fields.len() > MAX_FIELDS)
            .then(|| format!("{of}: a view shows 1 to {MAX_FIELDS} fields"))
    };
    match view {
        DisplayView::Table { event, columns, .. } => {
            let Some(e) = event_named(abi, event) else {
                problems.push(format!("the ABI has no event `{event}`"));
                return problems;
            };
            let of = format!("event {}", e.signature());
            let mut known: Vec<String> = e.inputs.iter().map(|p| p.name.clone()).collect();
            known.extend(EVENT_COLUMNS.map(String::from));
            problems.extend(too_many(columns, &of));
            problems.extend(unknown("parameter", columns, &known, &of));
        }
        DisplayView::Form { function, fields, .. }
        | DisplayView::Lookup { function, fields, .. } => {
            let lookup = matches!(view, DisplayView::Lookup { .. });
            let f = abi
                .functions()
                .find(|f| f.signature() == *function)
                .or_else(|| abi.functions().find(|f| f.name == *function));
            let Some(f) = f else {
                problems.push(format!("the ABI has no function `{function}`"));
                return problems;
            };
            let of = format!("function {}", f.signature());
            match (lookup, abi::read_only(f)) {
                (true, false) => problems.push(format!(
                    "{of} sends a transaction: a lookup queries a view function (use a form)"
                )),
                (false, true) => problems
                    .push(format!("{of} is read-only: a form sends a transaction (use a lookup)")),
                _ => {}
            }
            let inputs = param_names(&f.inputs);
            problems.extend(unknown("parameter", fields, &inputs, &of));
            let missing: Vec<&String> =
                inputs.iter().filter(|i| !fields.iter().any(|f| f.name == **i)).collect();
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                problems.push(format!("{of} needs a field for {}", names.join(", ")));
            }
            if let DisplayView::Lookup { outputs, .. } = view {
                let named = param_names(&f.outputs);
                problems.extend(too_many(outputs, &of));
                problems.extend(unknown("result", outputs, &named, &of));
            }
        }
    }
    problems
}

/// A page of `logs` (newest first, every log of the blocks from `from` up): the first `limit`
/// and the rest of the last one's block (a page ends at a block boundary, so that the next,
/// which starts below it, misses nothing), and where the next page starts (none at the
/// genesis).
fn cut(mut logs: Vec<Value>, limit: usize, from: u64) -> (Vec<Value>, Option<u64>) {
    let next = if logs.len() > limit {
        let last = qty(&logs[limit - 1]["blockNumber"]);
        logs.retain(|l| qty(&l["blockNumber"]) >= last);
        last
    } else {
        from
    };
    (logs, (next > 0).then_some(next))
}

/// A log as the events page lists it: where it is, and decoded (if the ABI knows it).
fn listed(abi: &JsonAbi, log: &Value) -> Value {
    let decoded = decode_events(abi, &[(topics(&log["topics"]), hex_bytes(&log["data"]))]);
    let mut event = decoded.into_iter().next().unwrap_or_else(|| json!({"event": null}));
    event["height"] = json!(qty(&log["blockNumber"]));
    event["log_index"] = json!(qty(&log["logIndex"]));
    event["tx_hash"] = log["transactionHash"].clone();
    event
}

impl Platform {
    /// Sets a contract's business views (checked against its ABI), or clears them.
    pub async fn set_contract_display(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        spec: Option<&DisplaySpec>,
    ) -> Result<ContractView> {
        let chain = self.visible_chain(caller, chain).await?;
        let stored = self.contract_of(&chain.id, contract).await?;
        self.authorize_in_chain(caller, &stored.row.org_id, "contract:update", &chain, "contracts")
            .await?;
        let text = match spec {
            Some(spec) => {
                let problems = check_display(&stored.abi, spec);
                if !problems.is_empty() {
                    return Err(Error::invalid("bad_display_spec", problems.join("; ")));
                }
                Some(serde_json::to_string(spec).map_err(Error::internal)?)
            }
            None => None,
        };
        store::set_display(&self.db, &stored.row.id, text.as_deref()).await?;
        self.contract_of(&chain.id, &stored.row.id).await?.view()
    }

    /// A deployed contract's events, newest first: whole blocks until `limit` is reached
    /// (so a page may hold a few more), looking back at most [`MAX_SCAN`] blocks at a time.
    pub async fn contract_events(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        q: &ContractEventQuery,
    ) -> Result<ContractEventsPage> {
        let chain = self.readable_chain(caller, chain).await?;
        let stored = self.contract_of(&chain.id, contract).await?;
        let address = stored.row.address.clone().ok_or_else(|| {
            Error::illegal_step(format!("contract {} is not deployed yet", stored.row.name))
        })?;
        let topic0 = match q.event.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => Value::Null,
            Some(name) => {
                let e = event_named(&stored.abi, name).ok_or_else(|| {
                    Error::invalid(
                        "unknown_event",
                        format!("contract {} has no event `{name}`", stored.row.name),
                    )
                })?;
                json!(e.selector().to_string())
            }
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
        let head = qty(&self.rpc(&chain, "eth_blockNumber", json!([])).await?);
        let mut top = q.before_height.map_or(head, |b| b.saturating_sub(1).min(head));
        let floor = top.saturating_sub(MAX_SCAN);
        let (mut logs, mut window) = (Vec::<Value>::new(), WINDOW);
        loop {
            let from = top.saturating_sub(window - 1).max(floor);
            let filter = json!({"address": address, "fromBlock": format!("{from:#x}"),
                "toBlock": format!("{top:#x}"), "topics": [topic0]});
            match self.rpc(&chain, "eth_getLogs", json!([filter])).await {
                Ok(found) => {
                    let mut found = found.as_array().cloned().unwrap_or_default();
                    found.sort_by_key(|l| {
                        std::cmp::Reverse((qty(&l["blockNumber"]), qty(&l["logIndex"])))
                    });
                    logs.extend(found);
                }
                Err(Error::Invalid { message, .. })
                    if window > 1 && message.contains("smaller range") =>
                {
                    window /= 2;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if logs.len() >= limit || from <= floor {
                let (logs, next_before) = cut(logs, limit, from);
                let events = logs.iter().map(|l| listed(&stored.abi, l)).collect();
                return Ok(ContractEventsPage { events, next_before });
            }
            top = from - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi() -> JsonAbi {
        JsonAbi::parse([
            "event Transfer(address indexed from, address indexed to, uint256 value)",
            "function transfer(address to, uint256 amount) returns (bool)",
            "function balanceOf(address owner) view returns (uint256)",
        ])
        .unwrap()
    }

    fn field(name: &str) -> DisplayField {
        DisplayField { name: name.into(), label: format!("The {name}") }
    }

    fn spec(views: Vec<DisplayView>) -> DisplaySpec {
        DisplaySpec { title: "Payments".into(), description: None, views }
    }

    fn at(height: u64, index: u64) -> Value {
        json!({"blockNumber": format!("{height:#x}"), "logIndex": format!("{index:#x}")})
    }

    #[test]
    fn a_page_takes_the_whole_block_it_would_cut() {
        let logs = vec![at(9, 0), at(7, 2), at(7, 1), at(7, 0), at(5, 0)];
        let (page, next) = cut(logs, 2, 3);
        assert_eq!(page, [at(9, 0), at(7, 2), at(7, 1), at(7, 0)]);
        assert_eq!(next, Some(7), "the next page starts below block 7");
    }

    #[test]
    fn a_page_that_holds_every_log_it_looked_at_goes_on_below_where_it_looked() {
        assert_eq!(cut(vec![at(9, 0), at(8, 0)], 2, 3), (vec![at(9, 0), at(8, 0)], Some(3)));
        assert_eq!(cut(vec![at(9, 0)], 5, 0), (vec![at(9, 0)], None), "the genesis: no more");
    }

    #[test]
    fn a_spec_of_the_abis_events_and_functions_is_kept() {
        let good = spec(vec![
            DisplayView::Table {
                title: "Payments".into(),
                event: "Transfer".into(),
                columns: vec![field("from"), field("value"), field("height")],
            },
            DisplayView::Form {
                title: "Pay".into(),
                function: "transfer".into(),
                fields: vec![field("to"), field("amount")],
                submit: None,
            },
            DisplayView::Lookup {
                title: "Balance".into(),
                function: "balanceOf(address)".into(),
                fields: vec![field("owner")],
                outputs: vec![field("0")],
            },
        ]);
        assert_eq!(check_display(&abi(), &good), Vec::<String>::new());
    }

    #[test]
    fn unknown_events_functions_and_fields_are_each_named() {
        let bad = spec(vec![
            DisplayView::Table {
                title: "T".into(),
                event: "Shipped".into(),
                columns: vec![field("id")],
            },
            DisplayView::Table {
                title: "T".into(),
                event: "Transfer".into(),
                columns: vec![field("amount")],
            },
            DisplayView::Form {
                title: "F".into(),
                function: "refund".into(),
                fields: vec![],
                submit: None,
            },
        ]);
        let problems = check_display(&abi(), &bad);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("no event `Shipped`"));
        assert!(
            problems[1].contains("no parameter `amount`")
                && problems[1].contains("from, to, value")
        );
        assert!(problems[2].contains("no function `refund`"));
    }

    #[test]
    fn a_form_sends_and_a_lookup_queries() {
        let swapped = spec(vec![
            DisplayView::Form {
                title: "F".into(),
                function: "balanceOf".into(),
                fields: vec![field("owner")],
                submit: None,
            },
            DisplayView::Lookup {
                title: "L".into(),
                function: "transfer".into(),
                fields: vec![field("to"), field("amount")],
                outputs: vec![field("0")],
            },
        ]);
        let problems = check_display(&abi(), &swapped);
        assert!(problems[0].contains("is read-only"), "{problems:?}");
        assert!(problems[1].contains("sends a transaction"), "{problems:?}");
    }

    #[test]
    fn a_form_needs_a_field_for_every_parameter() {
        let partial = spec(vec![DisplayView::Form {
            title: "Pay".into(),
            function: "transfer".into(),
            fields: vec![field("to")],
            submit: None,
        }]);
        assert_eq!(
            check_display(&abi(), &partial),
            ["function transfer(address,uint256) needs a field for amount"]
        );
    }

    #[test]
    fn empty_titles_and_labels_and_too_many_views_are_refused() {
        let mut s = spec(vec![]);
        s.title = " ".into();
        let problems = check_display(&abi(), &s);
        assert!(problems.iter().any(|p| p.contains("the title is empty")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("1 to 10 views")), "{problems:?}");
        let blank = DisplayField { name: "from".into(), label: String::new() };
        let s = spec(vec![DisplayView::Table {
            title: "T".into(),
            event: "Transfer".into(),
            columns: vec![blank],
        }]);
        assert!(check_display(&abi(), &s)[0].contains("the label of `from`"));
    }
}
