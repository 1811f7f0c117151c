//! Checking a node's state proofs on the client, so the node need not be trusted for values.
//!
//! Both checks take the state root the caller trusts: the `stateRoot` of a block header whose
//! commit certificate it checked (or that enough independent nodes agree on). A proof checked
//! against the root the same answer names proves only that the node is self-consistent.
//!
//! - [`verify_state`]: a `GET /v1/state/{key}` answer ([`StateProofView`]): a key's value or
//!   its absence.
//! - [`verify_eth_proof`]: an `eth_getProof` answer: the account (nonce, balance, code hash) and
//!   each storage slot asked for, read from the proven values rather than the answer's fields.
//!
//! The state is one Jellyfish Merkle tree over every account and slot (docs/ethereum.md), so
//! each proof is a borsh-encoded `jmt` sparse Merkle proof; the keys are the executor's
//! ([`consortia_types::account_key`], [`consortia_types::slot_key`]).
//!
//! ```no_run
//! # async fn run(node: consortia_api::NodeClient, root: consortia_crypto::Hash) -> Result<(), Box<dyn std::error::Error>> {
//! use consortia_api::proof::{Suite, verify_state};
//! let answer = node.state("notary/rec/invoice-1", &Default::default()).await?;
//! let value = verify_state(&answer, Suite::Standard, root)?; // None: proven absent
//! # Ok(()) }
//! ```

use consortia_crypto::{Address, Hash};
use consortia_storage::verify_state_proof;
use consortia_types::{Account, account_key, slot_key};
use serde_json::Value;

pub use consortia_crypto::Suite;

use crate::node::StateProofView;

/// Why a proof answer is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the answer is for state root {answered}, not the trusted {trusted}")]
    OtherRoot { answered: String, trusted: String },
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("the proof of {what} does not verify against the trusted root: {detail}")]
    Invalid { what: String, detail: String },
    #[error("{what} is not certified: {detail}")]
    Uncertified { what: String, detail: String },
    #[error("the answer's {field} is {answered}, but the proven account holds {proven}")]
    Mismatch { field: &'static str, answered: String, proven: String },
}

/// An account and storage slots as an `eth_getProof` answer proved them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenAccount {
    pub address: Address,
    /// Zero nonce and balance, no code: the account does not exist (proven absent).
    pub account: Account,
    /// Each slot asked for and its word (zero when proven absent), in the answer's order.
    pub storage: Vec<([u8; 32], [u8; 32])>,
}

/// Checks a `GET /v1/state/{key}` answer against `trusted_root`: the proven value of its key,
/// `None` if the key is proven absent.
pub fn verify_state(
    answer: &StateProofView,
    suite: Suite,
    trusted_root: Hash,
) -> Result<Option<Vec<u8>>, ProofError> {
    same_root(&answer.state_root, trusted_root)?;
    let key = bytes(&answer.key, "key")?;
    let value = answer.value.as_deref().map(|v| bytes(v, "value")).transpose()?;
    check(suite, trusted_root, &key, value.as_deref(), &bytes(&answer.proof, "proof")?, || {
        format!("key {}", answer.key)
    })?;
    Ok(value)
}

/// Checks an `eth_getProof` answer (the JSON-RPC `result`) against `trusted_root`: the account
/// and every storage slot in it. The keys are derived here from the address and slots, never
/// taken from the answer, and the answer's `nonce`, `balance` and `codeHash` must be the proven
/// account's.
pub fn verify_eth_proof(
    answer: &Value,
    suite: Suite,
    trusted_root: Hash,
) -> Result<ProvenAccount, ProofError> {
    same_root(text(answer, "stateRoot")?, trusted_root)?;
    let address = Address::from_hex(text(answer, "address")?)
        .map_err(|e| ProofError::Malformed(format!("address: {e}")))?;
    let value = match answer.get("accountValue") {
        Some(Value::Null) | None => None,
        Some(v) => Some(bytes(v.as_str().unwrap_or_default(), "accountValue")?),
    };
    let proof = bytes(text(&answer["accountProof"], 0)?, "accountProof")?;
    check(suite, trusted_root, &account_key(&address), value.as_deref(), &proof, || {
        format!("account {address}")
    })?;
    let account = match &value {
        Some(raw) => consortia_types::decode::<Account>(raw)
            .map_err(|e| ProofError::Malformed(format!("accountValue: {e}")))?,
        None => Account::default(),
    };
    same_field("nonce", text(answer, "nonce")?, u128::from(account.nonce))?;
    same_field("balance", text(answer, "balance")?, account.balance)?;
    let proven_code = account.code_hash.map_or(EMPTY_CODE_HASH.to_owned(), |h| h.to_hex());
    let answered_code = text(answer, "codeHash")?;
    if !answered_code.eq_ignore_ascii_case(&proven_code) {
        return Err(ProofError::Mismatch {
            field: "codeHash",
            answered: answered_code.to_owned(),
            proven: proven_code,
        });
    }
    let entries = answer["storageProof"]
        .as_array()
        .ok_or_else(|| ProofError::Malformed("storageProof is not an array".into()))?;
    let storage = entries
        .iter()
        .map(|entry| {
            let slot = word(text(entry, "key")?, "storage key")?;
            let value = word(text(entry, "value")?, "storage value")?;
            let stored = (value != [0; 32]).then_some(value);
            let proof = bytes(text(&entry["proof"], 0)?, "storage proof")?;
            check(
                suite,
                trusted_root,
                &slot_key(&address, &slot),
                stored.as_ref().map(|v| &v[..]),
                &proof,
                || format!("slot {} of {address}", text(entry, "key").unwrap_or_default()),
            )?;
            Ok((slot, value))
        })
        .collect::<Result<_, ProofError>>()?;
    Ok(ProvenAccount { address, account, storage })
}

/// What Ethereum reports as the `codeHash` of an account without code: keccak-256 of nothing.
const EMPTY_CODE_HASH: &str = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";

fn check(
    suite: Suite,
    root: Hash,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
    what: impl FnOnce() -> String,
) -> Result<(), ProofError> {
    verify_state_proof(suite, root, key, value, proof)
        .map_err(|e| ProofError::Invalid { what: what(), detail: e.to_string() })
}

fn same_root(answered: &str, trusted: Hash) -> Result<(), ProofError> {
    let root =
        Hash::from_hex(answered).map_err(|e| ProofError::Malformed(format!("state root: {e}")))?;
    if root != trusted {
        return Err(ProofError::OtherRoot {
            answered: answered.to_owned(),
            trusted: trusted.to_hex(),
        });
    }
    Ok(())
}

fn same_field(field: &'static str, answered: &str, proven: u128) -> Result<(), ProofError> {
    let digits = answered.strip_prefix("0x").unwrap_or(answered);
    match u128::from_str_radix(digits, 16) {
        Ok(n) if n == proven => Ok(()),
        _ => Err(ProofError::Mismatch {
            field,
            answered: answered.to_owned(),
            proven: format!("0x{proven:x}"),
        }),
    }
}

/// The string at `index` (a field name or an array position) of `value`.
fn text<I: serde_json::value::Index + std::fmt::Display + Copy>(
    value: &Value,
    index: I,
) -> Result<&str, ProofError> {
    value
        .get(index)
        .and_then(Value::as_str)
        .ok_or_else(|| ProofError::Malformed(format!("missing string `{index}`")))
}

fn bytes(hex: &str, what: &str) -> Result<Vec<u8>, ProofError> {
    hex::decode(hex.strip_prefix("0x").unwrap_or(hex))
        .map_err(|e| ProofError::Malformed(format!("{what}: {e}")))
}

/// A quantity or 32-byte hex word, left-padded to 32 bytes.
fn word(hex: &str, what: &str) -> Result<[u8; 32], ProofError> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    if digits.is_empty() || digits.len() > 64 {
        return Err(ProofError::Malformed(format!("{what}: `{hex}` is not a 32-byte word")));
    }
    let padded = format!("{digits:0>64}");
    let mut out = [0u8; 32];
    hex::decode_to_slice(&padded, &mut out)
        .map_err(|e| ProofError::Malformed(format!("{what}: {e}")))?;
    Ok(out)
}
