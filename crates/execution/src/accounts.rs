use consortia_crypto::Address;
use consortia_storage::StateReader;
use consortia_types::decode;
pub use consortia_types::{Account, account_key, code_key, slot_key};

use crate::{ExecutionError, Overlay};

/// The committed account (an address never seen is an empty account).
pub fn read_account<S: StateReader + ?Sized>(
    state: &S,
    address: &Address,
) -> Result<Account, ExecutionError> {
    parse(address, state.get(&account_key(address))?)
}

pub(crate) fn load<S: StateReader + ?Sized>(
    overlay: &Overlay<'_, S>,
    address: &Address,
) -> Result<Account, ExecutionError> {
    parse(address, overlay.get(&account_key(address))?)
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
