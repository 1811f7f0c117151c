//! The shared ledger: bookkeeping between a chain's member organizations, kept by the
//! platform's standard `SharedLedger` contract (`contracts/standard/SharedLedger.sol`),
//! deployed on a chain's first entry under the name `shared-ledger`.
//!
//! A party posts an entry (who owes whom how much of which currency, a reference and an
//! attachment's hash); the other party confirms or disputes it; confirmed entries move the
//! balances. The contract checks on chain that the sender is an admin account governance holds
//! for the organization it acts as, so the platform cannot post for an organization it does
//! not sign for. The platform signs with the acting organization's account (its governance
//! admin) and reads entries and balances back from the contract.

use std::collections::BTreeMap;

use alloy_primitives::{B256, I256, U256};
use alloy_sol_types::sol;
use consortia_api::platform::{
    CallRequest, ChainView, CounterpartyLine, EntryQuery, EntryStatus, EntryView, PartyBalance,
    PostEntryRequest, ReconciliationView, SettleEntryRequest, TxResult,
};
use serde_json::Value;

use super::assets::{Standard, contract_address};
use super::contracts::{CallAnswer, CallOptions, Contract};
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};

/// The contract's name on every chain.
pub const CONTRACT_NAME: &str = "shared-ledger";
/// Entries read per call.
const PAGE: u64 = 100;

sol!("../../contracts/standard/SharedLedger.sol");

fn entry_view(id: u64, e: SharedLedger::Entry) -> EntryView {
    let status = match e.status {
        1 => EntryStatus::Confirmed,
        2 => EntryStatus::Disputed,
        _ => EntryStatus::Pending,
    };
    EntryView {
        id,
        debtor: e.debtor,
        creditor: e.creditor,
        amount: e.amount.to_string(),
        currency: e.currency,
        reference: e.docRef,
        attachment_hash: (!e.attachment.is_zero()).then(|| format!("{:#x}", e.attachment)),
        posted_by: e.postedBy,
        status,
        note: e.note,
        posted_ms: e.postedAt * 1000,
        settled_ms: (e.settledAt != 0).then_some(e.settledAt * 1000),
    }
}

/// An entry's amount, signed from `org`'s side: positive when it is owed.
fn signed_for(org: &str, entry: &EntryView) -> I256 {
    let amount =
        I256::try_from(entry.amount.parse::<U256>().unwrap_or_default()).unwrap_or(I256::MAX);
    if entry.creditor == org { amount } else { -amount }
}

/// `org`'s reconciliation over `entries`, with its confirmed `balances`.
fn reconcile(org: &str, entries: &[EntryView], balances: Vec<PartyBalance>) -> ReconciliationView {
    #[derive(Default)]
    struct Line {
        confirmed: I256,
        pending: u64,
        pending_net: I256,
        disputed: u64,
    }
    let mut lines: BTreeMap<(String, String), Line> = BTreeMap::new();
    let (mut awaiting_us, mut awaiting_them, mut disputed) = (vec![], vec![], vec![]);
    for entry in entries.iter().filter(|e| e.debtor == org || e.creditor == org) {
        let other = if entry.debtor == org { &entry.creditor } else { &entry.debtor };
        let line = lines.entry((other.clone(), entry.currency.clone())).or_default();
        match entry.status {
            EntryStatus::Confirmed => line.confirmed += signed_for(org, entry),
            EntryStatus::Pending => {
                line.pending += 1;
                line.pending_net += signed_for(org, entry);
                if entry.posted_by == org {
                    awaiting_them.push(entry.clone());
                } else {
                    awaiting_us.push(entry.clone());
                }
            }
            EntryStatus::Disputed => {
                line.disputed += 1;
                disputed.push(entry.clone());
            }
        }
    }
    let lines = lines
        .into_iter()
        .map(|((counterparty, currency), l)| CounterpartyLine {
            counterparty,
            currency,
            confirmed_net: l.confirmed.to_string(),
            pending: l.pending,
            pending_net: l.pending_net.to_string(),
            disputed: l.disputed,
        })
        .collect();
    ReconciliationView {
        org_id: org.to_owned(),
        balances,
        lines,
        awaiting_us,
        awaiting_them,
        disputed,
    }
}

/// The id an `EntryPosted` event of a call's outcome names.
fn posted_id(events: &[Value]) -> Option<u64> {
    let posted = events.iter().find(|e| e["event"] == "EntryPosted")?;
    let id = posted["args"].as_array()?.iter().find(|a| a["name"] == "id")?;
    id["value"].as_str()?.parse().ok()
}

impl Platform {
    /// The chain's shared-ledger contract, if deployed.
    async fn shared_ledger_contract(&self, chain: &ChainView) -> Result<Option<Contract>> {
        match self.contract_of(&chain.id, CONTRACT_NAME).await {
            Ok(c) if c.row.standard.as_deref() != Some(Standard::SharedLedger.id()) => {
                Err(Error::conflict(
                    "conflict",
                    format!(
                        "chain {} has a contract named {CONTRACT_NAME} that is not the platform's shared ledger",
                        chain.id
                    ),
                ))
            }
            Ok(c) if c.row.address.is_some() => Ok(Some(c)),
            Ok(_) | Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Posts an entry as one of its parties; deploys the ledger on the chain's first entry.
    pub async fn post_entry(
        &self,
        caller: &Caller,
        chain: &str,
        req: &PostEntryRequest,
    ) -> Result<EntryView> {
        let chain = self.running_chain(caller, chain).await?;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "contract:invoke", "contracts")
            .await?;
        let attachment = match req.attachment_hash.as_deref().map(str::trim) {
            None | Some("") => B256::ZERO,
            Some(h) => h.parse::<B256>().map_err(|_| {
                Error::invalid(
                    "bad_attachment",
                    format!("attachment_hash `{h}` is not 0x and 64 hex digits"),
                )
            })?,
        };
        let contract = match self.shared_ledger_contract(&chain).await? {
            Some(c) => c,
            None => {
                self.deploy_standard(
                    caller,
                    &chain,
                    (&org, CONTRACT_NAME),
                    Standard::SharedLedger,
                    &[],
                )
                .await?
            }
        };
        let args = vec![
            req.debtor.clone(),
            req.creditor.clone(),
            req.amount.clone(),
            req.currency.clone(),
            req.reference.clone(),
            format!("{attachment:#x}"),
            org.clone(),
        ];
        let events = self.shared_ledger_tx(caller, &chain, &contract, &org, "post", args).await?;
        let id = posted_id(&events)
            .ok_or_else(|| Error::internal("the posting emitted no EntryPosted event"))?;
        self.shared_ledger_entry(&chain, &contract, id).await
    }

    /// Confirms (or, with `confirm` false, disputes) an entry as its counterparty.
    pub async fn settle_entry(
        &self,
        caller: &Caller,
        chain: &str,
        id: u64,
        confirm: bool,
        req: &SettleEntryRequest,
    ) -> Result<EntryView> {
        let chain = self.running_chain(caller, chain).await?;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "contract:invoke", "contracts")
            .await?;
        let contract = self.shared_ledger_contract(&chain).await?.ok_or_else(|| no_entry(id))?;
        let (function, mut args) = match confirm {
            true => ("confirm", vec![id.to_string(), org.clone()]),
            false => ("dispute", vec![id.to_string(), org.clone()]),
        };
        if !confirm {
            let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
            if reason.is_empty() {
                return Err(Error::invalid(
                    "reason_required",
                    "say why the entry is disputed (`reason`)",
                ));
            }
            args.push(reason.to_owned());
        }
        self.shared_ledger_tx(caller, &chain, &contract, &org, function, args).await?;
        self.shared_ledger_entry(&chain, &contract, id).await
    }

    /// Sends a ledger transaction for `org` and waits for it: its decoded events, or the
    /// revert's reason as a refusal.
    async fn shared_ledger_tx(
        &self,
        caller: &Caller,
        chain: &ChainView,
        contract: &Contract,
        org: &str,
        function: &str,
        args: Vec<String>,
    ) -> Result<Vec<Value>> {
        let call =
            CallRequest { function: function.into(), args, org_id: Some(org.into()), key: None };
        let answer =
            self.call_stored(caller, chain, contract, &call, &CallOptions::default()).await?;
        let outcome = match answer {
            CallAnswer::Done(view) => view.outcome,
            CallAnswer::Accepted(_) => None,
        }
        .ok_or_else(|| Error::internal("a ledger transaction was not waited for"))?;
        match outcome.status {
            TxResult::Success => Ok(outcome.events),
            TxResult::Reverted => Err(Error::invalid(
                "reverted",
                outcome.revert_reason.unwrap_or_else(|| "the ledger refused the entry".into()),
            )),
        }
    }

    async fn shared_ledger_entry(
        &self,
        chain: &ChainView,
        contract: &Contract,
        id: u64,
    ) -> Result<EntryView> {
        let address = contract_address(contract)?;
        let call = SharedLedger::getEntriesCall { from: U256::from(id), limit: U256::from(1) };
        let mut page = self.view_call(chain, address, call).await?;
        match page.pop() {
            Some(entry) if page.is_empty() => Ok(entry_view(id, entry)),
            _ => Err(no_entry(id)),
        }
    }

    /// Every entry of the chain's ledger, oldest first.
    async fn shared_entries(&self, chain: &ChainView) -> Result<Vec<EntryView>> {
        let Some(contract) = self.shared_ledger_contract(chain).await? else { return Ok(vec![]) };
        let address = contract_address(&contract)?;
        let count: u64 = self
            .view_call(chain, address, SharedLedger::entryCountCall {})
            .await?
            .try_into()
            .map_err(Error::internal)?;
        let mut out = Vec::with_capacity(count as usize);
        while (out.len() as u64) < count {
            let from = out.len() as u64;
            let call =
                SharedLedger::getEntriesCall { from: U256::from(from), limit: U256::from(PAGE) };
            let page = self.view_call(chain, address, call).await?;
            if page.is_empty() {
                break;
            }
            out.extend(page.into_iter().enumerate().map(|(i, e)| entry_view(from + i as u64, e)));
        }
        Ok(out)
    }

    /// The entries a query asks for, oldest first.
    pub async fn entries(
        &self,
        caller: &Caller,
        chain: &str,
        query: &EntryQuery,
    ) -> Result<Vec<EntryView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let mut entries = self.shared_entries(&chain).await?;
        entries.retain(|e| {
            query.party.as_ref().is_none_or(|p| &e.debtor == p || &e.creditor == p)
                && query.status.is_none_or(|s| e.status == s)
        });
        Ok(entries)
    }

    /// One entry.
    pub async fn entry(&self, caller: &Caller, chain: &str, id: u64) -> Result<EntryView> {
        let chain = self.visible_chain(caller, chain).await?;
        let contract = self.shared_ledger_contract(&chain).await?.ok_or_else(|| no_entry(id))?;
        self.shared_ledger_entry(&chain, &contract, id).await
    }

    /// The confirmed balance of every party in every currency it has entries in, as the
    /// contract holds it.
    async fn shared_balances(
        &self,
        chain: &ChainView,
        entries: &[EntryView],
        only: Option<&str>,
    ) -> Result<Vec<PartyBalance>> {
        let Some(contract) = self.shared_ledger_contract(chain).await? else { return Ok(vec![]) };
        let address = contract_address(&contract)?;
        let mut pairs = std::collections::BTreeSet::new();
        for e in entries {
            pairs.insert((e.debtor.clone(), e.currency.clone()));
            pairs.insert((e.creditor.clone(), e.currency.clone()));
        }
        let mut out = vec![];
        for (org, currency) in pairs.into_iter().filter(|(o, _)| only.is_none_or(|x| x == o)) {
            let call = SharedLedger::balanceOfCall { org: org.clone(), currency: currency.clone() };
            let balance = self.view_call(chain, address, call).await?;
            out.push(PartyBalance { org_id: org, currency, balance: balance.to_string() });
        }
        Ok(out)
    }

    /// Every party's confirmed balances.
    pub async fn party_balances(&self, caller: &Caller, chain: &str) -> Result<Vec<PartyBalance>> {
        let chain = self.visible_chain(caller, chain).await?;
        let entries = self.shared_entries(&chain).await?;
        self.shared_balances(&chain, &entries, None).await
    }

    /// One organization's reconciliation (default: the one the caller acts for).
    pub async fn reconciliation(
        &self,
        caller: &Caller,
        chain: &str,
        org: Option<&str>,
    ) -> Result<ReconciliationView> {
        let chain = self.visible_chain(caller, chain).await?;
        let org = self.acting_on_chain(caller, &chain, org, "contract:get", "contracts").await?;
        let entries = self.shared_entries(&chain).await?;
        let balances = self.shared_balances(&chain, &entries, Some(&org)).await?;
        Ok(reconcile(&org, &entries, balances))
    }
}

fn no_entry(id: u64) -> Error {
    Error::NotFound(format!("no shared-ledger entry {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        id: u64,
        debtor: &str,
        creditor: &str,
        amount: u64,
        by: &str,
        status: EntryStatus,
    ) -> EntryView {
        EntryView {
            id,
            debtor: debtor.into(),
            creditor: creditor.into(),
            amount: amount.to_string(),
            currency: "CNY".into(),
            reference: String::new(),
            attachment_hash: None,
            posted_by: by.into(),
            status,
            note: String::new(),
            posted_ms: 0,
            settled_ms: None,
        }
    }

    #[test]
    fn a_reconciliation_nets_confirmed_entries_per_counterparty_and_sorts_the_open_ones() {
        let entries = [
            entry(0, "b", "a", 100, "a", EntryStatus::Confirmed),
            entry(1, "a", "b", 30, "b", EntryStatus::Confirmed),
            entry(2, "a", "b", 5, "b", EntryStatus::Pending),
            entry(3, "c", "a", 7, "a", EntryStatus::Pending),
            entry(4, "c", "a", 9, "a", EntryStatus::Disputed),
            entry(5, "b", "c", 1, "b", EntryStatus::Confirmed),
        ];
        let report = reconcile("a", &entries, vec![]);
        let lines: Vec<(&str, &str, &str, u64, u64)> = report
            .lines
            .iter()
            .map(|l| {
                (
                    l.counterparty.as_str(),
                    l.confirmed_net.as_str(),
                    l.pending_net.as_str(),
                    l.pending,
                    l.disputed,
                )
            })
            .collect();
        assert_eq!(lines, vec![("b", "70", "-5", 1, 0), ("c", "0", "7", 1, 1)]);
        let ids = |v: &[EntryView]| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&report.awaiting_us), vec![2], "b posted it: a answers");
        assert_eq!(ids(&report.awaiting_them), vec![3]);
        assert_eq!(ids(&report.disputed), vec![4]);
    }

    #[test]
    fn the_posted_id_is_read_from_the_decoded_event() {
        let events = vec![
            serde_json::json!({"event": "EntryPosted", "args": [{"name": "id", "value": "12"}]}),
        ];
        assert_eq!(posted_id(&events), Some(12));
        assert_eq!(posted_id(&[]), None);
    }
}
