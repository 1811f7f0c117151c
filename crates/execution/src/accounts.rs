use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::Address;
use consortia_storage::StateReader;
use consortia_types::decode;

use crate::{ExecutionError, Overlay};

const PREFIX: &[u8] = b"acct/";

/// An account: its next nonce and its balance (in the chain's smallest unit).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub nonce: u64,
    pub balance: u128,
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

pub(crate) fn key(address: &Address) -> Vec<u8> {
    [PREFIX, &address.0].concat()
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
