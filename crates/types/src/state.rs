//! How accounts and EVM state sit in the authenticated state: the keys and the account value,
//! so a client checking a state proof (`consortia-api`'s `proof`) reads them as the executor
//! writes them.

use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash};

const ACCOUNT_PREFIX: &[u8] = b"acct/";

/// An account: its next nonce, its balance (in the chain's smallest unit, wei for EVM tools)
/// and, for a contract, the keccak-256 hash of its code (kept under [`code_key`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub nonce: u64,
    pub balance: u128,
    pub code_hash: Option<Hash>,
}

/// State key of an account: `"acct/" ‖ address`.
pub fn account_key(address: &Address) -> Vec<u8> {
    [ACCOUNT_PREFIX, &address.0].concat()
}

/// State key of contract code, by the code's keccak-256 hash (shared by identical contracts).
pub fn code_key(code_hash: &Hash) -> Vec<u8> {
    [b"code/".as_slice(), &code_hash.0].concat()
}

/// State key of one EVM storage slot of a contract: `"slot/" ‖ address ‖ slot`.
pub fn slot_key(address: &Address, slot: &[u8; 32]) -> Vec<u8> {
    [b"slot/".as_slice(), &address.0, slot].concat()
}
