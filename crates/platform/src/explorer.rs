//! The block explorer behind the console: a chain's members read its nodes' explorer API
//! through the platform (same origin and login as the console; the nodes need not be
//! reachable from the browser), and a transaction comes back decoded with the ABIs of the
//! chain's contracts.

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use consortia_rpc::{ApiError, ApiResult, ErrorBody};
use serde_json::{Value, json};

use crate::api::Ctx;
use crate::chains::{ChainView, visible_chain};
use crate::contracts::{abis_by_address, decode_events, decode_input};
use crate::{Platform, authz};

/// The node API reads the explorer may make.
const READS: [&str; 7] =
    ["blocks", "transactions", "addresses", "stats", "accounts", "status", "notary"];

/// GETs `path` (with its query) from the first node of the chain that answers.
async fn from_node(
    platform: &Platform,
    chain: &ChainView,
    path: &str,
) -> ApiResult<(StatusCode, Value)> {
    let mut last = String::from("the chain has no node with an address yet");
    for node in &chain.nodes {
        let Some(url) = &node.http_url else { continue };
        match platform.chain_http.get(format!("{url}/v1/{path}")).send().await {
            Ok(r) => {
                let status =
                    StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                return Ok((status, r.json().await.unwrap_or(Value::Null)));
            }
            Err(e) => last = format!("node {}: {e}", node.name),
        }
    }
    Err(ApiError::new(
        StatusCode::BAD_GATEWAY,
        "chain_unreachable",
        format!("no node of chain {} answers ({last}); check the nodes page", chain.id),
    ))
}

/// The chain `id` if it runs and the caller may read it.
pub(crate) async fn readable(
    platform: &Platform,
    ctx_caller: &crate::auth::Caller,
    id: &str,
) -> ApiResult<ChainView> {
    let chain = visible_chain(platform, ctx_caller, id).await?;
    if chain.status != "running" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_step",
            format!("chain {id} is {}; its explorer opens once it runs", chain.status),
        ));
    }
    if !ctx_caller.admin {
        let mut allowed = false;
        for org in &chain.orgs {
            let resource = format!("org/{org}/chains/{id}");
            if authz::authorize(&platform.db, ctx_caller, org, "chain:get", &resource).await.is_ok()
            {
                allowed = true;
                break;
            }
        }
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("you may not read chain {id}"),
            ));
        }
    }
    Ok(chain)
}

/// Read a chain through one of its nodes (the node API's explorer reads: `blocks`,
/// `transactions`, `addresses/{address}/transactions`, `stats/volume`, `accounts/{address}`,
/// `status`, `notary/…`)
#[utoipa::path(get, path = "/v1/chains/{id}/explorer/{path}", tag = "explorer",
    params(("path" = String, Path, description = "A node API path after /v1/, with its query")),
    responses(
        (status = 200, description = "The node's answer", body = Object),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, description = "No node answers", body = ErrorBody),
    ))]
pub async fn read(
    Ctx { platform, caller }: Ctx,
    Path((id, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let first = path.split('/').next().unwrap_or_default();
    if !READS.contains(&first) || path.contains("..") {
        return Err(ApiError::not_found(format!(
            "the explorer reads {}; not `{path}`",
            READS.join(", ")
        )));
    }
    let chain = readable(&platform, &caller, &id).await?;
    let path = match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let (status, body) = from_node(&platform, &chain, &path).await?;
    Ok((status, Json(body)))
}

/// A transaction, decoded with the ABI of the contract it calls or created
#[utoipa::path(get, path = "/v1/chains/{id}/transactions/{hash}", tag = "explorer",
    responses(
        (status = 200, description = "The node's transaction lookup, plus `decoded` when a contract of the chain is involved", body = Object),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn transaction(
    Ctx { platform, caller }: Ctx,
    Path((id, hash)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let chain = readable(&platform, &caller, &id).await?;
    let (status, mut body) = from_node(&platform, &chain, &format!("transactions/{hash}")).await?;
    if status != StatusCode::OK {
        return Ok((status, Json(body)));
    }
    let contracts = abis_by_address(&platform, &chain.id).await?;
    let payload = &body["transaction"]["payload"];
    let input = hex::decode(payload["input"].as_str().unwrap_or("0x").trim_start_matches("0x"))
        .unwrap_or_default();
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
    let mut decoded_events = vec![];
    for event in &events {
        let contract = event["contract"].as_str().unwrap_or_default().to_ascii_lowercase();
        let Some((_, name, abi)) = contracts.iter().find(|(a, _, _)| *a == contract) else {
            decoded_events.push(Value::Null);
            continue;
        };
        let topics = event["topics"].as_array().cloned().unwrap_or_default();
        let topics = topics.iter().filter_map(|t| t.as_str()?.parse().ok()).collect();
        let data = hex::decode(event["data"].as_str().unwrap_or("0x").trim_start_matches("0x"))
            .unwrap_or_default();
        let mut found = decode_events(abi, &[(topics, data)]);
        decoded_events.push(match found.pop() {
            Some(mut e) => {
                e["contract"] = json!(name);
                e
            }
            None => Value::Null,
        });
    }
    decoded["events"] = Value::Array(decoded_events);
    body["decoded"] = decoded;
    Ok((status, Json(body)))
}
