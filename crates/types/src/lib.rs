//! Transactions, blocks, receipts, certificates, genesis and node configuration for Consortia, with their canonical encoding.
//!
//! Everything that is hashed or signed is encoded with borsh, which is canonical: one value has
//! one encoding, maps are sorted, and decoding refuses trailing bytes. JSON is only for files
//! people edit (genesis, `node.toml`) and for the API edge (`consortia-api`).
//!
//! The node's configuration file ([`config::NodeFile`]) is here too: the platform and the CLI
//! write it, the node reads it.
//!
//! Main types: [`Transaction`] (the chain's own signed envelope around a [`Payload`], or an
//! Ethereum transaction as a web3 client signed it: [`EthTx`]), [`Header`] and
//! [`Block`] with the [`CommitCertificate`] slot, [`Receipt`], and [`Genesis`].
//! `tests/conformance.rs` pins the hashes of fixed encodings, so a format change is deliberate.

mod block;
pub mod config;
mod error;
mod genesis;
pub mod ledger;
mod light;
pub mod notary;
mod receipt;
mod state;
mod transaction;

pub use block::{Block, CommitCertificate, Header, Vote, VoteKind, validators_hash};
pub use error::TypesError;
pub use genesis::{
    CREATE2_DEPLOYER, CREATE2_DEPLOYER_CODE, ChainParams, ConsensusKind, DeployPolicy,
    EVM_VERSIONS, Genesis, GenesisAccount, GenesisMember, NodeIdentity, Validator,
    standard_accounts,
};
pub use ledger::{LEDGER_ADDRESS, SqlValue, TableSchema};
pub use light::{CertifiedHeader, HeaderChain};
pub use receipt::{Event, Receipt, ReceiptStatus};
pub use state::{Account, account_key, code_key, slot_key};
pub use transaction::{
    EthTx, EvmCall, GOVERNANCE_ADDRESS, GOVERNANCE_KINDS, GOVERNANCE_RULES, MAX_INITCODE_BYTES,
    NOTARY_ADDRESS, NOTARY_LIMITS, NativeTx, NotarizeRecord, NotaryLimits, Payload, Transaction,
    TxBody,
};

pub use consortia_crypto as crypto;

/// Block height; the genesis block is height 0.
pub type Height = u64;

/// Encodes a value canonically. Encoding into a `Vec` cannot fail.
pub fn encode<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

/// Decodes a value, refusing trailing bytes.
pub fn decode<T: borsh::BorshDeserialize>(bytes: &[u8]) -> Result<T, TypesError> {
    borsh::from_slice(bytes).map_err(|e| TypesError::Decode(e.to_string()))
}
