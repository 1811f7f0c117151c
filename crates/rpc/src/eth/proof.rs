//! `eth_getProof`, with our state's proofs: the state is one Jellyfish Merkle tree (sparse,
//! 256-bit keys) over every account and slot, not Ethereum's Patricia tries, so the proofs are
//! JMT sparse Merkle proofs rather than fake Patricia nodes. Each `accountProof` and storage
//! `proof` holds one element: the borsh-encoded `jmt::proof::SparseMerkleProof`, hex, proving
//! the state key's value (or absence) against `stateRoot`, the state root the block header of
//! that height commits to. The SDK's `consortia_api::proof::verify_eth_proof` checks an answer;
//! the keys and values are:
//! - account: key `"acct/" ‖ address` (`accountKey`), value `accountValue` (borsh of nonce,
//!   balance, code hash), `null` for an account that does not exist;
//! - slot: key `"slot/" ‖ address ‖ slot` (32 bytes), value the 32-byte word, absent for zero.
//!
//! `storageHash` is the state root too: there is no per-account storage root.

use consortia_execution::{Account, account_key, slot_key};
use serde_json::{Value, json};

use super::{Eth, RpcError, RpcResult, data, hash, parse_address, parse_qty_or_hash, qty};

/// The keccak-256 of empty code, what Ethereum reports as a codeless account's `codeHash`.
const EMPTY_CODE_HASH: &str = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

/// Most slots one `eth_getProof` proves.
const MAX_PROOF_SLOTS: usize = 1_000;

impl Eth<'_> {
    pub(super) fn get_proof(&self) -> RpcResult {
        let address = parse_address(self.param(0, "address")?, "address")?;
        let slots = match self.param(1, "storage keys")? {
            Value::Array(keys) if keys.len() <= MAX_PROOF_SLOTS => keys
                .iter()
                .map(|k| Ok((k.clone(), parse_qty_or_hash(k)?)))
                .collect::<Result<Vec<_>, RpcError>>()?,
            Value::Array(_) => {
                return Err(RpcError::params(format!(
                    "at most {MAX_PROOF_SLOTS} storage keys per request"
                )));
            }
            _ => return Err(RpcError::params("storage keys must be an array")),
        };
        let height = self.height_of(self.opt(2))?;
        let store = self.node.store();
        let key = account_key(&address);
        let proved = store.get_with_proof(&key, height).map_err(RpcError::server)?;
        let account = match &proved.value {
            Some(bytes) => consortia_types::decode::<Account>(bytes).map_err(RpcError::server)?,
            None => Account::default(),
        };
        let storage = slots
            .into_iter()
            .map(|(requested, slot)| {
                let p = store.get_with_proof(&slot_key(&address, &slot), height);
                let p = p.map_err(RpcError::server)?;
                let word = p.value.as_deref().unwrap_or(&[]);
                Ok(json!({
                    "key": requested,
                    "value": super::qty_u256(alloy_primitives::U256::from_be_slice(word)),
                    "proof": [data(&p.proof)],
                }))
            })
            .collect::<Result<Vec<_>, RpcError>>()?;
        Ok(json!({
            "address": super::addr(&address),
            "balance": qty(account.balance),
            "nonce": qty(account.nonce),
            "codeHash": account.code_hash.map_or(json!(EMPTY_CODE_HASH), |h| hash(&h)),
            "storageHash": hash(&proved.state_root),
            "accountProof": [data(&proved.proof)],
            "storageProof": storage,
            "stateRoot": hash(&proved.state_root),
            "accountKey": data(&key),
            "accountValue": proved.value.as_deref().map_or(Value::Null, data),
            "proofType": "jmt-sparse-merkle-borsh",
        }))
    }
}
