//! Digital assets: fungible (ERC-20) and non-fungible (ERC-721) assets as ordinary contracts
//! the platform deploys from its standard sources (`contracts/standard`), for an issuing
//! organization whose account becomes the asset's issuer. Wallets, explorers and web3
//! clients see standard tokens; the platform adds REST operations (signed as contract gateway
//! calls, so keys, idempotency and asynchronous answers work the same) and the holders and
//! transfers the nodes' token index adds up.
//!
//! Why contracts and not native system contracts (precompiles, like the notary): an asset's
//! rules are the ERC's, which Solidity states in a page a reviewer can read, and which every
//! tool already understands; a precompile would be Rust no wallet developer reviews, for no
//! speed that matters at consortium volumes. The issuer's powers (issue, freeze) are checked
//! on chain, so a platform bug cannot grant them.

use std::collections::{BTreeSet, HashMap};

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, keccak256};
use alloy_sol_types::{SolCall, sol};
use consortia_api::node::{
    MAX_HOLDERS_PAGE, MAX_PAGE, MAX_TOKENS_PER_HOLDER, PageQuery, TokenHoldersQuery,
};
use consortia_api::platform::{
    AssetAction, AssetKind, AssetLedgerQuery, AssetLedgerView, AssetView, CallRequest, ChainView,
    HolderView, IssueAssetRequest,
};
use consortia_api::{ClientError, NodeClient};
use serde_json::{Value, json};

use super::abi::{self, qty, topics};
use super::check_name;
use super::contracts::{CallAnswer, CallOptions, Contract, Upload};
use super::identity::Caller;
use super::webhooks::EventFilter;
use crate::Platform;
use crate::error::{Error, Result};

/// A contract the platform deploys from `contracts/standard` (compiled into
/// `assets/standard` by `scripts/compile-contracts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standard {
    Erc20,
    Erc721,
    SharedLedger,
}

impl Standard {
    /// How the contracts table names it.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Standard::Erc20 => "erc20",
            Standard::Erc721 => "erc721",
            Standard::SharedLedger => "shared-ledger",
        }
    }

    fn artifact(self) -> &'static str {
        match self {
            Standard::Erc20 => include_str!("../../assets/standard/AssetToken.json"),
            Standard::Erc721 => include_str!("../../assets/standard/AssetCollection.json"),
            Standard::SharedLedger => include_str!("../../assets/standard/SharedLedger.json"),
        }
    }

    /// The compiled ABI and creation bytecode.
    fn compiled(self) -> Result<(JsonAbi, Vec<u8>)> {
        let artifact: Value = serde_json::from_str(self.artifact()).map_err(Error::internal)?;
        let abi = abi::parse(&artifact["abi"])?;
        let code = artifact["bytecode"].as_str().unwrap_or_default().trim_start_matches("0x");
        Ok((abi, hex::decode(code).map_err(Error::internal)?))
    }

    fn of_asset(kind: AssetKind) -> Standard {
        match kind {
            AssetKind::Fungible => Standard::Erc20,
            AssetKind::NonFungible => Standard::Erc721,
        }
    }
}

sol! {
    /// What the platform reads of both asset contracts.
    interface IAsset {
        function name() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
        function metadataURI() external view returns (string);
        function totalSupply() external view returns (uint256);
        function issuer() external view returns (address);
    }
}

/// The kind of token an ABI describes: its `Transfer(address,address,uint256)` event with
/// the third parameter indexed (ERC-721's token id) or not (ERC-20's amount).
fn token_kind(abi: &JsonAbi) -> Option<AssetKind> {
    abi.events.get("Transfer")?.iter().find_map(|e| {
        let types: Vec<&str> = e.inputs.iter().map(|p| p.ty.as_str()).collect();
        (types == ["address", "address", "uint256"])
            .then(|| if e.inputs[2].indexed { AssetKind::NonFungible } else { AssetKind::Fungible })
    })
}

/// The kind of asset a stored contract is, if it is one.
fn asset_kind(stored: &Contract) -> Option<AssetKind> {
    match stored.row.standard.as_deref() {
        Some("erc20") => Some(AssetKind::Fungible),
        Some("erc721") => Some(AssetKind::NonFungible),
        _ => None,
    }
}

/// Checks the token's symbol: 1 to 11 letters and digits, as wallets show it.
fn check_symbol(symbol: &str) -> Result<&str> {
    let ok = (1..=11).contains(&symbol.len()) && symbol.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(Error::invalid(
            "bad_symbol",
            format!("symbol `{symbol}`: 1 to 11 ASCII letters and digits"),
        ));
    }
    Ok(symbol)
}

/// What one asset request calls: the function and its arguments.
fn action_call(
    kind: AssetKind,
    action: AssetAction,
    req: &consortia_api::platform::AssetActionRequest,
    signer: &str,
) -> Result<(&'static str, Vec<String>)> {
    let need = |value: &Option<String>, field: &str| {
        value.clone().ok_or_else(|| {
            Error::invalid("missing_field", format!("`{action}` of a {kind} asset needs `{field}`"))
        })
    };
    let (amount_or_token, unit) = match kind {
        AssetKind::Fungible => (&req.amount, "amount"),
        AssetKind::NonFungible => (&req.token_id, "token_id"),
    };
    Ok(match (action, kind) {
        (AssetAction::Issue, AssetKind::Fungible) => {
            ("issue", vec![need(&req.to, "to")?, need(amount_or_token, unit)?])
        }
        (AssetAction::Issue, AssetKind::NonFungible) => (
            "issue",
            vec![
                need(&req.to, "to")?,
                need(amount_or_token, unit)?,
                req.uri.clone().unwrap_or_default(),
            ],
        ),
        (AssetAction::Transfer, AssetKind::Fungible) => {
            ("transfer", vec![need(&req.to, "to")?, need(amount_or_token, unit)?])
        }
        (AssetAction::Transfer, AssetKind::NonFungible) => (
            "transferFrom",
            vec![signer.to_owned(), need(&req.to, "to")?, need(amount_or_token, unit)?],
        ),
        (AssetAction::Burn, _) => ("burn", vec![need(amount_or_token, unit)?]),
        (AssetAction::Freeze, _) => ("freeze", vec![need(&req.account, "account")?]),
        (AssetAction::Unfreeze, _) => ("unfreeze", vec![need(&req.account, "account")?]),
    })
}

/// The accounts `Frozen` and `Unfrozen` logs leave frozen, whatever order the logs come in.
fn frozen_accounts(mut logs: Vec<Value>) -> BTreeSet<Address> {
    logs.sort_by_key(|l| (qty(&l["blockNumber"]), qty(&l["logIndex"])));
    let (frozen_topic, unfrozen_topic) = (keccak256(FROZEN), keccak256(UNFROZEN));
    let mut frozen = BTreeSet::new();
    for log in logs {
        if let [topic, account] = topics(&log["topics"]).as_slice() {
            let account = Address::from_word(*account);
            if *topic == frozen_topic {
                frozen.insert(account);
            } else if *topic == unfrozen_topic {
                frozen.remove(&account);
            }
        }
    }
    frozen
}

const FROZEN: &str = "Frozen(address)";
const UNFROZEN: &str = "Unfrozen(address)";

impl Platform {
    /// Stores and deploys a standard contract under `name` for `org` (signed with its
    /// account). A standard contract of the same kind and organization stored earlier but not
    /// deployed (a deploy that failed) is deployed now, so a retry works.
    pub(crate) async fn deploy_standard(
        &self,
        caller: &Caller,
        chain: &ChainView,
        (org, name): (&str, &str),
        standard: Standard,
        args: &[String],
    ) -> Result<Contract> {
        let stored = match self.contract_of(&chain.id, name).await {
            Ok(earlier)
                if earlier.row.address.is_none()
                    && earlier.row.org_id == org
                    && earlier.row.standard.as_deref() == Some(standard.id()) =>
            {
                earlier
            }
            Ok(_) => {
                return Err(Error::conflict(
                    "conflict",
                    format!("chain {} already has a contract named {name}", chain.id),
                ));
            }
            Err(Error::NotFound(_)) => {
                let (abi, bytecode) = standard.compiled()?;
                let upload = Upload {
                    org,
                    name,
                    abi: &abi,
                    bytecode: &bytecode,
                    standard: Some(standard.id()),
                };
                self.store_contract(caller, chain, &upload).await?
            }
            Err(e) => return Err(e),
        };
        self.deploy_stored(chain, &stored, args).await?;
        self.contract_of(&chain.id, &stored.row.id).await
    }

    /// Reads a view function of the contract at `to` (latest state).
    pub(crate) async fn view_call<C: SolCall>(
        &self,
        chain: &ChainView,
        to: Address,
        call: C,
    ) -> Result<C::Return> {
        let out = self.eth_call(chain, to, &call.abi_encode()).await?;
        C::abi_decode_returns(&out)
            .map_err(|e| Error::internal(format!("{} answered outside its ABI: {e}", C::SIGNATURE)))
    }

    /// Issues a new asset: deploys its standard contract for the issuing organization.
    pub async fn issue_asset(
        &self,
        caller: &Caller,
        chain: &str,
        req: &IssueAssetRequest,
    ) -> Result<AssetView> {
        let chain = self.running_chain(caller, chain).await?;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "contract:deploy", "contracts")
            .await?;
        let name = check_name("asset", &req.name)?;
        let symbol = check_symbol(req.symbol.trim())?;
        let display = req.display_name.as_deref().unwrap_or(name).trim();
        if display.is_empty() || display.len() > 64 {
            return Err(Error::invalid("bad_name", "the display name is 1 to 64 bytes"));
        }
        let issuer = self.org_signer(&org).await?.address;
        let mut args = vec![display.to_owned(), symbol.to_owned()];
        match (req.kind, req.decimals) {
            (AssetKind::Fungible, decimals) => args.push(decimals.unwrap_or(2).to_string()),
            (AssetKind::NonFungible, Some(_)) => {
                return Err(Error::invalid(
                    "bad_decimals",
                    "a non-fungible asset has no decimals: leave `decimals` out",
                ));
            }
            (AssetKind::NonFungible, None) => {}
        }
        args.extend([req.metadata_uri.clone(), issuer]);
        let standard = Standard::of_asset(req.kind);
        let stored = self.deploy_standard(caller, &chain, (&org, name), standard, &args).await?;
        self.asset_view(&chain, &stored, req.kind).await
    }

    /// The chain's assets, oldest first.
    pub async fn assets(&self, caller: &Caller, chain: &str) -> Result<Vec<AssetView>> {
        let chain = self.visible_chain(caller, chain).await?;
        let mut out = vec![];
        for row in crate::store::contracts::of_chain(&self.db, &chain.id, true).await? {
            let stored = Contract::of(row)?;
            if let Some(kind) = asset_kind(&stored) {
                out.push(self.asset_view(&chain, &stored, kind).await?);
            }
        }
        Ok(out)
    }

    /// A deployed asset of a chain the caller sees, by name or id.
    async fn stored_asset(
        &self,
        caller: &Caller,
        chain: &str,
        name: &str,
    ) -> Result<(ChainView, Contract, AssetKind)> {
        let chain = self.visible_chain(caller, chain).await?;
        let stored = self.contract_of(&chain.id, name).await?;
        let kind = deployed_asset(&chain, &stored)?;
        Ok((chain, stored, kind))
    }

    pub async fn asset(&self, caller: &Caller, chain: &str, name: &str) -> Result<AssetView> {
        let (chain, stored, kind) = self.stored_asset(caller, chain, name).await?;
        self.asset_view(&chain, &stored, kind).await
    }

    /// An asset's view: the platform's record and the contract's state.
    async fn asset_view(
        &self,
        chain: &ChainView,
        stored: &Contract,
        kind: AssetKind,
    ) -> Result<AssetView> {
        let row = &stored.row;
        let address = contract_address(stored)?;
        let decimals = match kind {
            AssetKind::Fungible => {
                Some(self.view_call(chain, address, IAsset::decimalsCall {}).await?)
            }
            AssetKind::NonFungible => None,
        };
        Ok(AssetView {
            name: row.name.clone(),
            kind,
            address: address.to_checksum(None),
            org_id: row.org_id.clone(),
            display_name: self.view_call(chain, address, IAsset::nameCall {}).await?,
            symbol: self.view_call(chain, address, IAsset::symbolCall {}).await?,
            decimals,
            metadata_uri: self.view_call(chain, address, IAsset::metadataURICall {}).await?,
            total_supply: self
                .view_call(chain, address, IAsset::totalSupplyCall {})
                .await?
                .to_string(),
            issuer: self.view_call(chain, address, IAsset::issuerCall {}).await?.to_checksum(None),
            deploy_tx: row.deploy_tx.clone(),
            created_ms: row.created_ms,
        })
    }

    /// Issues, transfers, burns, freezes or unfreezes: a contract gateway call of the
    /// asset's function (signed with `req.key`, else the organization's account).
    pub async fn asset_action(
        &self,
        caller: &Caller,
        chain: &str,
        name: &str,
        action: AssetAction,
        req: &consortia_api::platform::AssetActionRequest,
        opts: &CallOptions,
    ) -> Result<CallAnswer> {
        let (chain, stored) = self.running_contract(caller, chain, name).await?;
        let kind = deployed_asset(&chain, &stored)?;
        let signer =
            self.signer_for(caller, &chain, req.org_id.as_deref(), req.key.as_deref()).await?;
        let (function, args) = action_call(kind, action, req, &signer.address)?;
        let call = CallRequest {
            function: function.into(),
            args,
            org_id: Some(signer.org),
            key: req.key.clone(),
        };
        self.call_stored(caller, &chain, &stored, &call, opts).await
    }

    /// An asset's holders and latest transfers, as its logs add up.
    pub async fn asset_ledger(
        &self,
        caller: &Caller,
        chain: &str,
        name: &str,
        query: &AssetLedgerQuery,
    ) -> Result<AssetLedgerView> {
        let (chain, stored, _) = self.stored_asset(caller, chain, name).await?;
        self.token_ledger(&chain, &stored, query).await
    }

    /// The holders and latest transfers of any deployed contract whose ABI has the ERC-20 or
    /// ERC-721 `Transfer` event (an asset of the platform's, or a token a member deployed);
    /// 404 for a contract without one.
    pub async fn contract_holders(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        query: &AssetLedgerQuery,
    ) -> Result<AssetLedgerView> {
        let chain = self.visible_chain(caller, chain).await?;
        let stored = self.contract_of(&chain.id, contract).await?;
        if asset_kind(&stored).or_else(|| token_kind(&stored.abi)).is_none() {
            return Err(Error::NotFound(format!(
                "contract {} has no ERC-20 or ERC-721 Transfer event: it has no holders to count",
                stored.row.name
            )));
        }
        self.token_ledger(&chain, &stored, query).await
    }

    /// A token contract's holders and latest transfers, from the nodes' token index (its
    /// `Transfer` events folded as they commit), with the accounts its `Frozen` and
    /// `Unfrozen` events since its deployment leave frozen.
    async fn token_ledger(
        &self,
        chain: &ChainView,
        stored: &Contract,
        query: &AssetLedgerQuery,
    ) -> Result<AssetLedgerView> {
        let address = contract_address(stored)?.to_checksum(None);
        let limit = (query.limit.unwrap_or(50) as usize).clamp(1, MAX_PAGE);
        let holders = TokenHoldersQuery {
            limit: Some((query.holders.unwrap_or(100) as usize).clamp(1, MAX_HOLDERS_PAGE)),
            before: query.holders_after.clone(),
            tokens: Some(MAX_TOKENS_PER_HOLDER),
        };
        let read = |node: NodeClient| {
            let (address, holders) = (address.clone(), holders.clone());
            async move {
                let stats = match node.token(&address).await {
                    Ok(stats) => Some(stats),
                    Err(ClientError::Refused { status: 404, .. }) => None,
                    Err(e) => return Err(e),
                };
                let holders = node.token_holders(&address, &holders).await?;
                let page = PageQuery { limit: Some(limit), before: None };
                let transfers = node.token_transfers(&address, &page).await?.transfers;
                Ok((stats, holders, transfers))
            }
        };
        let (stats, holders, transfers) = self
            .on_any_node(chain, read)
            .await?
            .map_err(|e| Error::Upstream { code: "chain_failed", message: e.to_string() })?;
        let frozen = self.frozen_accounts(chain, stored).await?;
        let mut labels = HashMap::new();
        for (account, org) in self.org_accounts(chain).await? {
            labels.insert(account.to_ascii_lowercase(), org);
        }
        let holders_next = holders.next;
        let holders = holders
            .holders
            .into_iter()
            .map(|h| {
                let parsed = h.address.parse::<Address>().map_err(Error::internal)?;
                Ok(HolderView {
                    frozen: frozen.contains(&parsed),
                    label: labels.get(&h.address.to_ascii_lowercase()).cloned(),
                    address: h.address,
                    balance: h.balance,
                    tokens: h.tokens,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AssetLedgerView {
            holders,
            holders_next,
            transfers,
            transfer_count: stats.as_ref().map_or(0, |s| s.transfers),
            holder_count: stats.as_ref().map_or(0, |s| s.holders),
        })
    }

    /// The accounts of `stored` (a token) its `Frozen` and `Unfrozen` events leave frozen:
    /// found through the nodes' topic index, from the block it was deployed in.
    async fn frozen_accounts(
        &self,
        chain: &ChainView,
        stored: &Contract,
    ) -> Result<BTreeSet<Address>> {
        let address = contract_address(stored)?;
        let from = match &stored.row.deploy_tx {
            Some(tx) => qty(
                &self.rpc(chain, "eth_getTransactionReceipt", json!([tx])).await?["blockNumber"],
            ),
            None => 0,
        };
        let mut logs = Vec::new();
        for event in [FROZEN, UNFROZEN] {
            let filter = EventFilter {
                address: Some(address.to_checksum(None).to_ascii_lowercase()),
                event: Some(event.to_owned()),
                topics: vec![],
            };
            logs.extend(self.all_events(chain, &filter, from).await?);
        }
        Ok(frozen_accounts(logs))
    }
}

/// The kind of asset a deployed contract of `chain` is; 404 for any other contract.
fn deployed_asset(chain: &ChainView, stored: &Contract) -> Result<AssetKind> {
    match (asset_kind(stored), &stored.row.address) {
        (Some(kind), Some(_)) => Ok(kind),
        _ => Err(Error::NotFound(format!("no asset {} on chain {}", stored.row.name, chain.id))),
    }
}

/// A deployed contract's address.
pub(crate) fn contract_address(stored: &Contract) -> Result<Address> {
    stored
        .row
        .address
        .as_deref()
        .ok_or_else(|| {
            Error::illegal_step(format!("contract {} is not deployed yet", stored.row.name))
        })?
        .parse()
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer_abi(third_indexed: bool) -> JsonAbi {
        let param = |name: &str, ty: &str, indexed: bool| json!({"name": name, "type": ty, "indexed": indexed, "internalType": ty});
        serde_json::from_value(json!([{"type": "event", "name": "Transfer", "anonymous": false,
            "inputs": [param("from", "address", true), param("to", "address", true),
                       param("value", "uint256", third_indexed)]}]))
        .unwrap()
    }

    #[test]
    fn a_contract_s_transfer_event_says_which_kind_of_token_it_is() {
        assert_eq!(token_kind(&transfer_abi(false)), Some(AssetKind::Fungible), "ERC-20");
        assert_eq!(token_kind(&transfer_abi(true)), Some(AssetKind::NonFungible), "ERC-721");
        let other: JsonAbi = serde_json::from_value(json!([{"type": "event", "name": "Transfer",
            "anonymous": false, "inputs": [{"name": "to", "type": "address", "indexed": true}]}]))
        .unwrap();
        assert_eq!(token_kind(&other), None, "a Transfer of another shape");
        assert_eq!(token_kind(&JsonAbi::new()), None);
    }

    #[test]
    fn the_last_freeze_or_unfreeze_of_an_account_decides_in_block_order() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let log = |event: &str, account: Address, block: u64, index: u64| {
            json!({"topics": [format!("{:#x}", keccak256(event)),
                              format!("0x{}", hex::encode(account.into_word()))],
                   "blockNumber": format!("{block:#x}"), "logIndex": format!("{index:#x}")})
        };
        // Given out of order, as two queries (freezes, then unfreezes) return them.
        let logs = vec![
            log(FROZEN, a, 1, 0),
            log(FROZEN, b, 2, 0),
            log(FROZEN, a, 3, 1),
            log(UNFROZEN, a, 2, 1),
            log(UNFROZEN, b, 3, 0),
        ];
        assert_eq!(frozen_accounts(logs), BTreeSet::from([a]), "a frozen again at 3; b thawed");
    }

    #[test]
    fn a_request_missing_its_recipient_is_refused_by_field() {
        let req = consortia_api::platform::AssetActionRequest {
            amount: Some("5".into()),
            ..Default::default()
        };
        let err =
            action_call(AssetKind::Fungible, AssetAction::Transfer, &req, "0x01").unwrap_err();
        assert!(err.public_message().contains("`to`"), "{}", err.public_message());
    }

    #[test]
    fn a_non_fungible_transfer_moves_the_signers_token() {
        let req = consortia_api::platform::AssetActionRequest {
            to: Some("0x02".into()),
            token_id: Some("7".into()),
            ..Default::default()
        };
        let call =
            action_call(AssetKind::NonFungible, AssetAction::Transfer, &req, "0x01").unwrap();
        assert_eq!(call, ("transferFrom", vec!["0x01".into(), "0x02".into(), "7".into()]));
    }

    #[test]
    fn the_standard_contracts_are_embedded_with_their_abis() {
        for standard in [Standard::Erc20, Standard::Erc721, Standard::SharedLedger] {
            let (abi, code) = standard.compiled().unwrap();
            assert!(
                !code.is_empty()
                    && abi.constructor.is_some() == (standard != Standard::SharedLedger)
            );
        }
        let (erc20, _) = Standard::Erc20.compiled().unwrap();
        for f in [
            "transfer",
            "approve",
            "transferFrom",
            "balanceOf",
            "allowance",
            "decimals",
            "issue",
            "burn",
            "freeze",
        ] {
            assert!(erc20.functions().any(|x| x.name == f), "ERC-20 lacks {f}");
        }
    }
}
