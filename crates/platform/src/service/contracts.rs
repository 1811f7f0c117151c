//! Contracts of a chain, as the console handles them: upload bytecode and ABI (checked against
//! the hash the uploader states), deploy, and call or query through the ABI. The platform signs
//! for the caller's organization with a key it keeps for it (a contract gateway: one secp256k1
//! account per organization, nonces taken in turn). The same ABIs decode transactions in the
//! explorer.

use std::time::Duration;

use alloy_dyn_abi::{DynSolValue, FunctionExt, JsonAbiExt};
use alloy_json_abi::JsonAbi;
use alloy_primitives::keccak256;
use consortia_api::platform::{
    CallKind, CallRequest, CallView, ChainStatus, ChainView, ContractStatus, ContractView,
    DeployRequest, DeployView, TxOutcome, TxResult, UploadRequest,
};
use consortia_api::{ClientError, NodeClient};
use consortia_crypto::{PrivateKey, Scheme};
use consortia_types::EthTx;
use serde_json::{Value, json};

use super::abi::{self, decode_events, qty, receipt_logs};
use super::check_name;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::contracts::{self as store, ContractRow, NewContract};
use zeroize::Zeroizing;

/// How long a deploy or a transaction waits for its receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A stored contract with its parsed ABI.
struct Contract {
    row: ContractRow,
    abi: JsonAbi,
}

impl Contract {
    fn of(row: ContractRow) -> Result<Contract> {
        let abi = serde_json::from_str(&row.abi).map_err(Error::internal)?;
        Ok(Contract { row, abi })
    }

    fn view(&self) -> Result<ContractView> {
        let r = &self.row;
        Ok(ContractView {
            id: r.id.clone(),
            chain_id: r.chain_id.clone(),
            org_id: r.org_id.clone(),
            name: r.name.clone(),
            code_hash: r.code_hash.clone(),
            bytecode_size: r.bytecode.len(),
            status: r.status.parse().unwrap_or(ContractStatus::Uploaded),
            address: r.address.clone(),
            deploy_tx: r.deploy_tx.clone(),
            constructor: self
                .abi
                .constructor
                .as_ref()
                .map(|c| abi::params(&c.inputs))
                .unwrap_or_default(),
            functions: abi::functions(&self.abi),
            abi: serde_json::from_str(&r.abi).map_err(Error::internal)?,
            created_ms: r.created_ms,
        })
    }
}

fn not_committed(hash: &str) -> Error {
    Error::Timeout(format!(
        "transaction {hash} was sent but not committed within {} s; look it up in the explorer",
        RECEIPT_TIMEOUT.as_secs()
    ))
}

impl Contract {
    /// The deployment's init code: the bytecode, then the constructor's arguments.
    fn init_code(&self, args: &[String]) -> Result<Vec<u8>> {
        let inputs = self.abi.constructor.as_ref().map(|c| c.inputs.clone()).unwrap_or_default();
        let values = abi::arguments(&inputs, args)?;
        let mut input = self.row.bytecode.clone();
        if !values.is_empty() {
            input.extend(DynSolValue::Tuple(values).abi_encode_params());
        }
        Ok(input)
    }
}

impl Platform {
    async fn contract_of(&self, chain: &str, id: &str) -> Result<Contract> {
        let row = store::by_id_or_name(&self.db, chain, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no contract {id} on chain {chain}")))?;
        Contract::of(row)
    }

    /// 403 unless `org` takes part in the chain and the caller may do `action` there.
    async fn authorize_contract(
        &self,
        caller: &Caller,
        org: &str,
        action: &str,
        chain: &ChainView,
    ) -> Result<()> {
        self.authorize_in_chain(caller, org, action, chain, "contracts").await
    }

    /// Uploads bytecode and ABI, refused unless the bytecode's Keccak-256 is the one stated
    /// (so what was reviewed is what gets deployed).
    pub async fn upload_contract(
        &self,
        caller: &Caller,
        chain: &str,
        req: &UploadRequest,
    ) -> Result<ContractView> {
        let chain = self.visible_chain(caller, chain).await?;
        self.authorize_contract(caller, &req.org_id, "contract:create", &chain).await?;
        let name = check_name("contract", &req.name)?;
        let parsed = abi::parse(&req.abi)?;
        let bytecode = hex::decode(req.bytecode.trim().trim_start_matches("0x"))
            .map_err(|e| Error::invalid("bad_bytecode", format!("the bytecode is not hex: {e}")))?;
        if bytecode.is_empty() || bytecode.len() > consortia_types::MAX_INITCODE_BYTES {
            return Err(Error::invalid(
                "bad_bytecode",
                format!("creation bytecode is 1 to {} bytes", consortia_types::MAX_INITCODE_BYTES),
            ));
        }
        let actual = format!("0x{}", hex::encode(keccak256(&bytecode)));
        let stated = req.code_hash.trim().to_ascii_lowercase();
        let stated = if stated.starts_with("0x") { stated } else { format!("0x{stated}") };
        if stated != actual {
            return Err(Error::invalid(
                "hash_mismatch",
                format!(
                    "the bytecode's Keccak-256 is {actual}, not the stated {stated}: upload the bytecode that was reviewed"
                ),
            ));
        }
        let abi_text = serde_json::to_string(&parsed).map_err(Error::internal)?;
        let new = NewContract {
            chain: &chain.id,
            org: &req.org_id,
            name,
            abi: &abi_text,
            bytecode: &bytecode,
            code_hash: &actual,
            created_by: &caller.user_id,
        };
        let id = store::insert(&self.db, &new).await.map_err(|e| {
            e.duplicate_as(
                "conflict",
                format!("chain {} already has a contract named {name}", chain.id),
            )
        })?;
        self.contract_of(&chain.id, &id).await?.view()
    }

    pub async fn contracts(&self, caller: &Caller, chain: &str) -> Result<Vec<ContractView>> {
        let chain = self.visible_chain(caller, chain).await?;
        store::of_chain(&self.db, &chain.id, false)
            .await?
            .into_iter()
            .map(|row| Contract::of(row)?.view())
            .collect()
    }

    pub async fn contract(&self, caller: &Caller, chain: &str, id: &str) -> Result<ContractView> {
        let chain = self.visible_chain(caller, chain).await?;
        self.contract_of(&chain.id, id).await?.view()
    }

    /// The deployed contracts of a chain by lowercase address, with their names and ABIs.
    pub(crate) async fn abis_by_address(
        &self,
        chain: &str,
    ) -> Result<Vec<(String, String, JsonAbi)>> {
        store::of_chain(&self.db, chain, true)
            .await?
            .into_iter()
            .map(|row| {
                let c = Contract::of(row)?;
                let address = c.row.address.clone().unwrap_or_default().to_ascii_lowercase();
                Ok((address, c.row.name, c.abi))
            })
            .collect()
    }

    /// The organization's signing key (made on first use, kept sealed).
    pub(crate) async fn org_key(&self, org: &str) -> Result<PrivateKey> {
        let keys = self.keys()?;
        let secret = Secret::OrgAccount { org: org.into() };
        let parse = |sealed: String| {
            PrivateKey::from_pkcs8_pem(&keys.open(&secret, &sealed)?).map_err(Error::internal)
        };
        if let Some(sealed) = store::org_key(&self.db, org).await? {
            return parse(sealed);
        }
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let address = key.public_key().address().to_checksum_hex();
        let sealed = keys.seal(&secret, &Zeroizing::new(key.to_pkcs8_pem()))?;
        let inserted = store::insert_org_key(&self.db, org, &address, &sealed).await;
        // Two first uses at once: one insert wins, and both use the key stored.
        match (inserted, store::org_key(&self.db, org).await?) {
            (_, Some(pem)) => parse(pem),
            (Err(e), None) => Err(e),
            (Ok(()), None) => Err(Error::internal("the organization's new key was not stored")),
        }
    }

    /// Calls the chain's JSON-RPC on the first node that answers.
    pub(crate) async fn rpc(
        &self,
        chain: &ChainView,
        method: &str,
        params: Value,
    ) -> Result<Value> {
        let call = |node: NodeClient| {
            let params = params.clone();
            async move { node.rpc(method, params).await }
        };
        match self.on_any_node(chain, call).await? {
            Ok(result) => Ok(result),
            Err(ClientError::JsonRpc(e)) => {
                Err(Error::invalid("chain_refused", format!("{method}: {}", e.message)))
            }
            Err(e) => Err(Error::Upstream { code: "chain_failed", message: e.to_string() }),
        }
    }

    /// Signs `input` to `to` (none: a creation) for the organization, sends it, and waits for
    /// its receipt.
    pub(crate) async fn transact(
        &self,
        chain: &ChainView,
        org: &str,
        to: Option<alloy_primitives::Address>,
        value: u128,
        input: Vec<u8>,
    ) -> Result<(TxOutcome, Value)> {
        let key = self.org_key(org).await?;
        let from = key.public_key().address().to_checksum_hex();
        let mut call = json!({
            "from": from,
            "value": format!("{value:#x}"),
            "data": format!("0x{}", hex::encode(&input)),
        });
        if let Some(to) = to {
            call["to"] = json!(to.to_checksum(None));
        }
        let estimate = self.rpc(chain, "eth_estimateGas", json!([call])).await.map_err(|e| {
            Error::invalid("would_revert", format!("the transaction would fail: {e}"))
        })?;
        let gas = qty(&estimate);
        // The chain's base fee (constant; the organization's account pays it, burned).
        let fee = u128::from(qty(&self.rpc(chain, "eth_gasPrice", json!([])).await?));
        let hash = {
            // One signer at a time: the nonce read and the send must not interleave.
            let mut next = self.signing.lock().await;
            let account = (chain.id.clone(), from.clone());
            let nonce = match next.get(&account) {
                Some(&kept) => kept,
                None => qty(&self
                    .rpc(chain, "eth_getTransactionCount", json!([from, "pending"]))
                    .await?),
            };
            let tx = alloy_consensus::TxEip1559 {
                chain_id: chain.chain_id as u64,
                nonce,
                gas_limit: gas + gas / 5 + 10_000,
                max_fee_per_gas: fee,
                max_priority_fee_per_gas: 0,
                to: to.map_or(alloy_primitives::TxKind::Create, alloy_primitives::TxKind::Call),
                value: alloy_primitives::U256::from(value),
                access_list: Default::default(),
                input: input.into(),
            };
            let signed = EthTx::sign(tx, &key).map_err(Error::internal)?;
            let raw = format!("0x{}", hex::encode(signed.raw()));
            // A refused send leaves the count to the node again.
            match self.rpc(chain, "eth_sendRawTransaction", json!([raw])).await {
                Ok(hash) => {
                    next.insert(account, nonce + 1);
                    hash
                }
                Err(e) => {
                    next.remove(&account);
                    return Err(e);
                }
            }
        };
        let hash = hash.as_str().unwrap_or_default().to_owned();
        let deadline = tokio::time::Instant::now() + RECEIPT_TIMEOUT;
        // A block takes tens of milliseconds: look soon, then back off.
        let mut pause = Duration::from_millis(10);
        let receipt = loop {
            let r = self.rpc(chain, "eth_getTransactionReceipt", json!([hash])).await?;
            if !r.is_null() {
                break r;
            }
            if tokio::time::Instant::now() > deadline {
                // Perhaps dropped: the next transaction asks the node for the nonce again.
                self.signing.lock().await.remove(&(chain.id.clone(), from.clone()));
                return Err(not_committed(&hash));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        };
        let outcome = TxOutcome {
            tx_hash: hash,
            height: qty(&receipt["blockNumber"]),
            status: if receipt["status"] == "0x1" { TxResult::Success } else { TxResult::Reverted },
            gas_used: qty(&receipt["gasUsed"]),
            events: vec![],
        };
        Ok((outcome, receipt))
    }

    /// A running chain the caller sees, and a contract of it.
    async fn running_contract(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
    ) -> Result<(ChainView, Contract)> {
        let chain = self.visible_chain(caller, chain).await?;
        if chain.status != ChainStatus::Running {
            return Err(Error::illegal_step(format!(
                "chain {} is {}; start it first",
                chain.id, chain.status
            )));
        }
        let stored = self.contract_of(&chain.id, contract).await?;
        Ok((chain, stored))
    }

    /// Deploys an uploaded contract, signed for its organization.
    /// Proposes approving the deployment of an uploaded contract with these constructor
    /// arguments (the chain's `approved` deploy policy asks for it): the keccak-256 of its
    /// init code, labelled with the contract's name, proposed for the organization the caller
    /// acts for.
    pub async fn propose_deploy_approval(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        req: &DeployRequest,
    ) -> Result<consortia_api::node::ProposalView> {
        let (chain, stored) = self.running_contract(caller, chain, contract).await?;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "chain:govern", "governance")
            .await?;
        let hash = alloy_primitives::keccak256(stored.init_code(&req.args)?);
        self.propose_code_approval(&chain, &org, hash.0, &stored.row.name).await
    }

    pub async fn deploy(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        req: &DeployRequest,
    ) -> Result<DeployView> {
        let (chain, stored) = self.running_contract(caller, chain, contract).await?;
        let row = &stored.row;
        let org = self
            .acting_on_chain(caller, &chain, req.org_id.as_deref(), "contract:deploy", "contracts")
            .await?;
        if org != row.org_id {
            return Err(Error::Forbidden(format!(
                "contract {} belongs to {}: only that organization deploys it",
                row.name, row.org_id
            )));
        }
        if let Some(address) = &row.address {
            return Err(Error::illegal_step(format!(
                "contract {} is deployed already, at {address}",
                row.name
            )));
        }
        let input = stored.init_code(&req.args)?;
        self.approve_deployment(&chain, &row.org_id, &input, &row.name).await?;
        let (mut outcome, receipt) = self.transact(&chain, &row.org_id, None, 0, input).await?;
        outcome.events = decode_events(&stored.abi, &receipt_logs(&receipt));
        let address = match (&outcome.status, receipt["contractAddress"].as_str()) {
            (TxResult::Success, Some(address)) => address.to_owned(),
            _ => {
                return Err(Error::invalid(
                    "deploy_failed",
                    format!(
                        "the creation {} reverted on chain; see it in the explorer",
                        outcome.tx_hash
                    ),
                ));
            }
        };
        if !store::mark_deployed(&self.db, &row.id, &address, &outcome.tx_hash).await? {
            return Err(Error::illegal_step(format!(
                "contract {} was deployed meanwhile",
                row.name
            )));
        }
        let contract = self.contract_of(&chain.id, &row.id).await?.view()?;
        Ok(DeployView { contract, outcome })
    }

    /// Calls a deployed contract: a query for view functions, a signed transaction otherwise.
    pub async fn call(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        req: &CallRequest,
    ) -> Result<CallView> {
        let (chain, stored) = self.running_contract(caller, chain, contract).await?;
        let Some(address) = stored.row.address.as_deref() else {
            return Err(Error::illegal_step(format!(
                "contract {} is not deployed yet",
                stored.row.name
            )));
        };
        let address: alloy_primitives::Address = address.parse().map_err(Error::internal)?;
        let wanted = req.function.trim();
        let function = stored
            .abi
            .functions()
            .find(|f| f.signature() == wanted)
            .or_else(|| {
                let mut named = stored.abi.functions().filter(|f| f.name == wanted);
                named.next().filter(|_| named.next().is_none())
            })
            .ok_or_else(|| {
                Error::invalid(
                    "unknown_function",
                    format!(
                        "{} has no function `{wanted}` (name an overload by its signature)",
                        stored.row.name
                    ),
                )
            })?
            .clone();
        let input = function
            .abi_encode_input(&abi::arguments(&function.inputs, &req.args)?)
            .map_err(|e| Error::invalid("bad_arguments", e.to_string()))?;
        let requested = req.org_id.as_deref();
        if abi::read_only(&function) {
            // A query signs nothing: an administrator reads without acting for anyone.
            if !caller.admin || requested.is_some() {
                self.acting_on_chain(caller, &chain, requested, "contract:get", "contracts")
                    .await?;
            }
            let call = json!({"to": address.to_checksum(None), "data": format!("0x{}", hex::encode(&input))});
            let out = self.rpc(&chain, "eth_call", json!([call, "latest"])).await?;
            let values = function.abi_decode_output(&abi::hex_bytes(&out)).map_err(|e| {
                Error::invalid("bad_output", format!("the result does not match the ABI: {e}"))
            })?;
            return Ok(CallView {
                function: function.signature(),
                kind: CallKind::Query,
                outputs: Some(abi::named(&function.outputs, &values)),
                outcome: None,
            });
        }
        let org =
            self.acting_on_chain(caller, &chain, requested, "contract:invoke", "contracts").await?;
        let (mut outcome, receipt) = self.transact(&chain, &org, Some(address), 0, input).await?;
        outcome.events = decode_events(&stored.abi, &receipt_logs(&receipt));
        Ok(CallView {
            function: function.signature(),
            kind: CallKind::Transaction,
            outputs: None,
            outcome: Some(outcome),
        })
    }
}
