//! Contracts of a chain, as the console handles them: upload bytecode and ABI (checked against
//! the hash the uploader states), deploy, and call or query through the ABI. The platform signs
//! for the caller's organization with a key it keeps for it (a contract gateway: one secp256k1
//! account per organization, nonces taken in turn). The same ABIs decode transactions in the
//! explorer.

use alloy_dyn_abi::{DynSolValue, FunctionExt, JsonAbiExt};
use alloy_json_abi::Function;
use alloy_json_abi::JsonAbi;
use alloy_primitives::keccak256;
use consortia_api::platform::{
    BatchCallRequest, BatchCallView, BatchResult, CallKind, CallRequest, CallView, ChainStatus,
    ChainView, ContractStatus, ContractView, DeployRequest, DeployView, GatewayCallView, TxOutcome,
    TxResult, UploadRequest,
};
use consortia_api::{ClientError, NodeClient};
use consortia_crypto::{PrivateKey, Scheme};
use serde_json::{Value, json};

use super::abi::{self, decode_events, receipt_logs};
use super::check_name;
use super::gateway::{Sent, call_view};
use super::identity::Caller;
use super::signing_keys::Signer;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::contracts::{self as store, ContractRow, NewContract};
use crate::store::gateway::{self as gateway_store, CallRecord, SignedTxRow};
use zeroize::Zeroizing;

/// A stored contract with its parsed ABI.
pub(crate) struct Contract {
    pub(crate) row: ContractRow,
    pub(crate) abi: JsonAbi,
}

/// A contract to store: its organization, name, ABI and creation bytecode, and which
/// standard contract of the platform's it is (if one).
pub(crate) struct Upload<'a> {
    pub(crate) org: &'a str,
    pub(crate) name: &'a str,
    pub(crate) abi: &'a JsonAbi,
    pub(crate) bytecode: &'a [u8],
    pub(crate) standard: Option<&'a str>,
}

impl Contract {
    pub(crate) fn of(row: ContractRow) -> Result<Contract> {
        let abi = serde_json::from_str(&row.abi).map_err(Error::internal)?;
        Ok(Contract { row, abi })
    }

    pub(crate) fn view(&self) -> Result<ContractView> {
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
            standard: r.standard.clone(),
            display: match &r.display {
                Some(text) => Some(serde_json::from_str(text).map_err(Error::internal)?),
                None => None,
            },
        })
    }
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
    pub(crate) async fn contract_of(&self, chain: &str, id: &str) -> Result<Contract> {
        let row = store::by_id_or_name(&self.db, chain, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no contract {id} on chain {chain}")))?;
        Contract::of(row)
    }

    /// A contract's parsed ABI.
    pub(crate) async fn contract_abi(&self, chain: &str, id: &str) -> Result<JsonAbi> {
        Ok(self.contract_of(chain, id).await?.abi)
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
        let new =
            Upload { org: &req.org_id, name, abi: &parsed, bytecode: &bytecode, standard: None };
        self.store_contract(caller, &chain, &new).await?.view()
    }

    /// Stores a contract's bytecode and ABI for `new.org`, not deployed yet.
    pub(crate) async fn store_contract(
        &self,
        caller: &Caller,
        chain: &ChainView,
        new: &Upload<'_>,
    ) -> Result<Contract> {
        let abi_text = serde_json::to_string(new.abi).map_err(Error::internal)?;
        let code_hash = format!("0x{}", hex::encode(keccak256(new.bytecode)));
        let row = NewContract {
            chain: &chain.id,
            org: new.org,
            name: new.name,
            abi: &abi_text,
            bytecode: new.bytecode,
            code_hash: &code_hash,
            created_by: &caller.user_id,
            standard: new.standard,
        };
        let id = store::insert(&self.db, &row).await.map_err(|e| {
            e.duplicate_as(
                "conflict",
                format!("chain {} already has a contract named {}", chain.id, new.name),
            )
        })?;
        self.contract_of(&chain.id, &id).await
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

    /// What `input` sent to `to` answers at the latest block (`eth_call`).
    pub(crate) async fn eth_call(
        &self,
        chain: &ChainView,
        to: alloy_primitives::Address,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        let call = json!({"to": to.to_checksum(None), "data": format!("0x{}", hex::encode(input))});
        Ok(abi::hex_bytes(&self.rpc(chain, "eth_call", json!([call, "latest"])).await?))
    }

    /// Signs `input` to `to` (none: a creation) with the organization's own account, sends
    /// it, and waits for its receipt.
    pub(crate) async fn transact(
        &self,
        chain: &ChainView,
        org: &str,
        to: Option<alloy_primitives::Address>,
        value: u128,
        input: Vec<u8>,
    ) -> Result<(TxOutcome, Value)> {
        let signer = self.org_signer(org).await?;
        let sent = self.submit(chain, &signer, to, value, input, &CallRecord::default()).await?;
        self.await_final(chain, &sent, &signer.address, None).await
    }

    /// A running chain the caller sees, and a contract of it.
    pub(crate) async fn running_contract(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
    ) -> Result<(ChainView, Contract)> {
        let chain = self.running_chain(caller, chain).await?;
        let stored = self.contract_of(&chain.id, contract).await?;
        Ok((chain, stored))
    }

    /// A running chain the caller sees.
    pub(crate) async fn running_chain(&self, caller: &Caller, chain: &str) -> Result<ChainView> {
        let chain = self.visible_chain(caller, chain).await?;
        if chain.status != ChainStatus::Running {
            return Err(Error::illegal_step(format!(
                "chain {} is {}; start it first",
                chain.id, chain.status
            )));
        }
        Ok(chain)
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
        self.deploy_stored(&chain, &stored, &req.args).await
    }

    /// Deploys a stored contract with its constructor's `args`, signed with its
    /// organization's account, once the chain's deploy policy allows it.
    pub(crate) async fn deploy_stored(
        &self,
        chain: &ChainView,
        stored: &Contract,
        args: &[String],
    ) -> Result<DeployView> {
        let row = &stored.row;
        if let Some(address) = &row.address {
            return Err(Error::illegal_step(format!(
                "contract {} is deployed already, at {address}",
                row.name
            )));
        }
        let input = stored.init_code(args)?;
        self.approve_deployment(chain, &row.org_id, &input, &row.name).await?;
        let (mut outcome, receipt) = self.transact(chain, &row.org_id, None, 0, input).await?;
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

    /// A deployed contract's function, by name or signature, with its encoded input.
    fn encode_call(
        stored: &Contract,
        wanted: &str,
        args: &[String],
    ) -> Result<(alloy_primitives::Address, Function, Vec<u8>)> {
        let Some(address) = stored.row.address.as_deref() else {
            return Err(Error::illegal_step(format!(
                "contract {} is not deployed yet",
                stored.row.name
            )));
        };
        let address: alloy_primitives::Address = address.parse().map_err(Error::internal)?;
        let wanted = wanted.trim();
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
            .abi_encode_input(&abi::arguments(&function.inputs, args)?)
            .map_err(|e| Error::invalid("bad_arguments", e.to_string()))?;
        Ok((address, function, input))
    }

    /// What the journal records of a gateway call (the fingerprint an idempotent retry must
    /// match: the chain, contract, function, arguments and signer).
    fn call_record(
        caller: &Caller,
        chain: &ChainView,
        stored: &Contract,
        function: &Function,
        args: &[String],
        signer: &Signer,
        idempotency_key: Option<String>,
    ) -> CallRecord {
        let request = json!({
            "chain": chain.id,
            "contract": stored.row.id,
            "function": function.signature(),
            "args": args,
            "org": signer.org,
            "key": signer.key_id,
        })
        .to_string();
        CallRecord {
            user_id: Some(caller.user_id.clone()),
            key_id: signer.key_id.clone(),
            contract_id: Some(stored.row.id.clone()),
            function: Some(function.signature()),
            fingerprint: Some(format!("0x{}", hex::encode(keccak256(request.as_bytes())))),
            request: Some(request),
            idempotency_key,
        }
    }

    /// An earlier call of the caller's with this idempotency key, if any (refused if it was
    /// made with another request).
    async fn earlier_call(
        &self,
        caller: &Caller,
        record: &CallRecord,
    ) -> Result<Option<SignedTxRow>> {
        let Some(key) = &record.idempotency_key else { return Ok(None) };
        let Some(earlier) =
            gateway_store::by_idempotency_key(&self.db, &caller.user_id, key).await?
        else {
            return Ok(None);
        };
        if earlier.fingerprint != record.fingerprint {
            return Err(Error::invalid(
                "idempotency_key_reused",
                format!(
                    "Idempotency-Key `{key}` was used for another request (call {}); use a new key for a new request",
                    earlier.id
                ),
            ));
        }
        Ok(Some(earlier))
    }

    /// Signs and sends a gateway call, or finds the earlier one its idempotency key names.
    async fn send_call(
        &self,
        chain: &ChainView,
        signer: &Signer,
        to: alloy_primitives::Address,
        input: Vec<u8>,
        record: &CallRecord,
        caller: &Caller,
    ) -> Result<Sent> {
        if let Some(earlier) = self.earlier_call(caller, record).await? {
            return match (earlier.status.as_str(), earlier.error) {
                ("failed", Some(why)) => Err(Error::invalid("chain_refused", why)),
                _ => Ok(Sent {
                    id: earlier.id,
                    hash: earlier.tx_hash,
                    raw: earlier.raw_tx.unwrap_or_default(),
                }),
            };
        }
        self.submit(chain, signer, Some(to), 0, input, record).await
    }

    /// A sent call's final outcome (waited for), unless recorded already.
    async fn final_outcome(
        &self,
        chain: &ChainView,
        sent: &Sent,
        from: &str,
        abi: &JsonAbi,
    ) -> Result<TxOutcome> {
        let row = gateway_store::tx(&self.db, &sent.id)
            .await?
            .ok_or_else(|| Error::internal(format!("call {} is not recorded", sent.id)))?;
        match row.outcome {
            Some(outcome) => serde_json::from_str(&outcome).map_err(Error::internal),
            None => Ok(self.await_final(chain, sent, from, Some(abi)).await?.0),
        }
    }

    /// The recorded state of a call.
    async fn recorded_call(&self, id: &str) -> Result<GatewayCallView> {
        let row = gateway_store::tx(&self.db, id)
            .await?
            .ok_or_else(|| Error::internal(format!("call {id} is not recorded")))?;
        call_view(row)
    }

    /// Calls a deployed contract: a query for view functions, a signed transaction otherwise
    /// (with the caller's managed key if named, else the organization's account), waited for
    /// unless `opts.wait` is false.
    pub async fn call(
        &self,
        caller: &Caller,
        chain: &str,
        contract: &str,
        req: &CallRequest,
        opts: &CallOptions,
    ) -> Result<CallAnswer> {
        let (chain, stored) = self.running_contract(caller, chain, contract).await?;
        self.call_stored(caller, &chain, &stored, req, opts).await
    }

    /// [`Platform::call`] of a contract already loaded, on a running chain.
    pub(crate) async fn call_stored(
        &self,
        caller: &Caller,
        chain: &ChainView,
        stored: &Contract,
        req: &CallRequest,
        opts: &CallOptions,
    ) -> Result<CallAnswer> {
        let (address, function, input) = Self::encode_call(stored, &req.function, &req.args)?;
        let requested = req.org_id.as_deref();
        if abi::read_only(&function) {
            // A query signs nothing: an administrator reads without acting for anyone.
            if !caller.admin || requested.is_some() {
                self.acting_on_chain(caller, chain, requested, "contract:get", "contracts").await?;
            }
            let out = self.eth_call(chain, address, &input).await?;
            let values = function.abi_decode_output(&out).map_err(|e| {
                Error::invalid("bad_output", format!("the result does not match the ABI: {e}"))
            })?;
            return Ok(CallAnswer::Done(CallView {
                function: function.signature(),
                kind: CallKind::Query,
                outputs: Some(abi::named(&function.outputs, &values)),
                outcome: None,
                call_id: None,
            }));
        }
        let signer = self.signer_for(caller, chain, requested, req.key.as_deref()).await?;
        let record = Self::call_record(
            caller,
            chain,
            stored,
            &function,
            &req.args,
            &signer,
            opts.idempotency_key.clone(),
        );
        let sent = self.send_call(chain, &signer, address, input, &record, caller).await?;
        if !opts.wait {
            return Ok(CallAnswer::Accepted(self.recorded_call(&sent.id).await?));
        }
        let outcome = self.final_outcome(chain, &sent, &signer.address, &stored.abi).await?;
        Ok(CallAnswer::Done(CallView {
            function: function.signature(),
            kind: CallKind::Transaction,
            outputs: None,
            outcome: Some(outcome),
            call_id: Some(sent.id),
        }))
    }

    /// Several calls signed by one key, sent in order, then (unless `opts.wait` is false)
    /// waited for together. An idempotency key covers the batch: call `i` is recorded under
    /// `KEY#i`, so a retried batch sends only what the first did not.
    pub async fn call_batch(
        &self,
        caller: &Caller,
        chain: &str,
        req: &BatchCallRequest,
        opts: &CallOptions,
    ) -> Result<BatchCallView> {
        if req.calls.is_empty() || req.calls.len() > MAX_BATCH {
            return Err(Error::invalid(
                "bad_batch",
                format!("a batch holds 1 to {MAX_BATCH} calls, not {}", req.calls.len()),
            ));
        }
        let chain = self.running_chain(caller, chain).await?;
        let signer =
            self.signer_for(caller, &chain, req.org_id.as_deref(), req.key.as_deref()).await?;
        let mut sent: Vec<Result<(Sent, JsonAbi)>> = vec![];
        for (i, item) in req.calls.iter().enumerate() {
            let one = async {
                let stored = self.contract_of(&chain.id, &item.contract).await?;
                let (address, function, input) =
                    Self::encode_call(&stored, &item.function, &item.args)?;
                if abi::read_only(&function) {
                    return Err(Error::invalid(
                        "read_only",
                        format!(
                            "{} is a view function: query it with POST …/contracts/{}/call",
                            function.signature(),
                            stored.row.name
                        ),
                    ));
                }
                let key = opts.idempotency_key.as_ref().map(|k| format!("{k}#{i}"));
                let record =
                    Self::call_record(caller, &chain, &stored, &function, &item.args, &signer, key);
                let sent = self.send_call(&chain, &signer, address, input, &record, caller).await?;
                Ok((sent, stored.abi))
            };
            sent.push(one.await);
        }
        let mut results = vec![];
        for one in sent {
            let result = match one {
                Ok((sent, abi)) => {
                    if opts.wait {
                        // A call not final in time shows as pending; others are waited for.
                        let _ = self.final_outcome(&chain, &sent, &signer.address, &abi).await;
                    }
                    match self.recorded_call(&sent.id).await {
                        Ok(call) => BatchResult { call: Some(call), error: None },
                        Err(e) => BatchResult { call: None, error: Some(error_body(&e)) },
                    }
                }
                Err(e) => BatchResult { call: None, error: Some(error_body(&e)) },
            };
            results.push(result);
        }
        Ok(BatchCallView { results })
    }
}

/// The most calls one batch holds.
pub const MAX_BATCH: usize = 100;

/// How a gateway call that sends a transaction is answered.
#[derive(Clone, Debug)]
pub struct CallOptions {
    /// Answer once final (else at once, with the call's status).
    pub wait: bool,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions { wait: true, idempotency_key: None }
    }
}

/// A call's answer: its result, or (not waited for) its status.
#[derive(Clone, Debug)]
pub enum CallAnswer {
    Done(CallView),
    Accepted(GatewayCallView),
}

/// An error as the API shows it inside a batch's answer.
fn error_body(e: &Error) -> consortia_api::ErrorBody {
    consortia_api::ErrorBody::new(e.code(), e.public_message())
}
