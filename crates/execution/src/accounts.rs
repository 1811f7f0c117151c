use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash};
use consortia_storage::StateReader;
use consortia_types::decode;

use crate::{ExecutionError, Overlay};

const PREFIX: &[u8] = b"acct/";

/// An account: its next nonce, its balance (in the chain's smallest unit, wei for EVM tools)
/// and, for a contract, the keccak-256 hash of its code (kept under [`code_key`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub nonce: u64,
    pub balance: u128,
    pub code_hash: Option<Hash>,
}

impl Account {
    /// The committed account (an address never seen is an empty account).
    pub fn read<S: StateReader + ?Sized>(
        state: &S,
        address: &Address,
    ) -> Result<Account, ExecutionError> {
        parse(address, state.get(&key(address))?)
    }
}

/// State key of an account.
pub fn account_key(address: &Address) -> Vec<u8> {
    key(address)
}

pub(crate) fn key(address: &Address) -> Vec<u8> {
    [PREFIX, &address.0].concat()
}

/// State key of contract code, by the code's keccak-256 hash (shared by identical contracts).
pub fn code_key(code_hash: &Hash) -> Vec<u8> {
    [b"code/".as_slice(), &code_hash.0].concat()
}

/// State key of one EVM storage slot of a contract.
pub fn slot_key(address: &Address, slot: &[u8; 32]) -> Vec<u8> {
    [b"slot/".as_slice(), &address.0, slot].concat()
}

pub(crate) fn load<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    address: &Address,
) -> Result<Account, ExecutionError> {
    parse(address, overlay.get(&key(address))?)
}

fn parse(address: &Address, raw: Option<Vec<u8>>) -> Result<Account, ExecutionError> {
    match raw {
        None => Ok(Account::default()),
        Some(bytes) => decode(&bytes).map_err(|e| ExecutionError::CorruptState {
            key: format!("account {address}"),
            detail: e.to_string(),
        }),
    }
}
