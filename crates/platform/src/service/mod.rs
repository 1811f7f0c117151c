//! The service layer: the platform's domain operations, as methods of [`crate::Platform`],
//! by area. They authorize the caller (the decision needs what they load: the organization
//! that owns a node, the organizations of a chain), apply the domain's rules, and speak
//! [`crate::Error`]. SQL is the store's; HTTP is the handlers'.
//!
//! The areas build on each other in this order, and call only earlier ones:
//! `identity` → `orgs` (which also reads roles and policies for every authorization) →
//! `consortiums` → `hosts` → `chains` → `node_access` → `nodes` → `start` → `archive` → `signing_keys` → `gateway` → `contracts` (with the pure
//! `abi`) → `apps` (display specs and contract events) → `explorer` → `monitoring` → `alerts` (which reads the nodes' metrics through
//! `monitoring` and signs its webhooks as `webhooks` does); `governance` → `certificates` (nodes' certificates over
//! their lifetime, and member CAs' rotation: the issuing CA of an organization on a chain,
//! [`crate::Platform::chain_org_ca`], which `node_access` and `governance` ask too).

pub(crate) mod abi;
pub mod accounts;
pub mod alerts;
pub mod apps;
pub mod archive;
pub mod assets;
pub mod certificates;
pub mod chains;
pub mod consortiums;
pub mod contracts;
pub mod explorer;
pub mod gateway;
pub mod governance;
pub mod hosts;
pub mod identity;
pub mod keystore;
pub mod ledger_sql;
pub mod ledger_tables;
pub mod ledger_verify;
pub mod logs;
pub mod monitoring;
pub mod node_access;
pub mod nodes;
pub mod notary_certificate;
pub mod orgs;
pub mod shared_ledger;
pub mod signing_keys;
pub mod sql_gateway;
pub mod start;
pub mod upgrade;
pub mod webhooks;

use crate::error::{Error, Result};

/// The trimmed name, unless it is empty or over 64 characters (400 `bad_name`).
pub(crate) fn check_name<'a>(kind: &str, name: &'a str) -> Result<&'a str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Error::invalid("bad_name", format!("{kind} names are 1 to 64 characters")));
    }
    Ok(name)
}

/// A running chain's view with no organizations or nodes, for unit tests.
#[cfg(test)]
pub(crate) fn test_chain(
    id: &str,
    name: &str,
    base_fee: u64,
) -> consortia_api::platform::ChainView {
    serde_json::from_value(serde_json::json!({
        "id": id, "consortium_id": "k", "name": name, "chain_id": 1, "consensus": "bft",
        "suite": "standard", "max_block_txs": 1, "block_interval_ms": 1,
        "deploy_policy": "open", "base_fee_per_gas": base_fee, "allocations": [],
        "cors_origins": [], "node_access": "members", "node_https": false,
        "status": "running", "orgs": [], "nodes": [], "next_step": "none", "problems": []
    }))
    .expect("a chain view")
}
