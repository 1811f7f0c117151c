use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash};

/// The outcome of one transaction in a committed block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    pub status: ReceiptStatus,
    /// Metered work; native system contracts charge fixed step costs, the EVM charges gas.
    pub steps_used: u64,
    pub events: Vec<Event>,
    pub output: Vec<u8>,
}

/// A committed transaction either succeeded or failed; a failed one still used its nonce.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ReceiptStatus {
    Success,
    /// `code` is stable and machine-readable (e.g. `notary_id_taken`), `message` is for people.
    Failed {
        code: String,
        message: String,
    },
}

/// A log entry, shaped like an EVM log so the same indexes serve both.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Event {
    pub contract: Address,
    pub topics: Vec<Hash>,
    pub data: Vec<u8>,
}
