use consortia_crypto::CryptoError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypesError {
    #[error("malformed encoding: {0}")]
    Decode(String),
    #[error("transaction is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("transaction is for chain {got}, this chain is {expected}")]
    WrongChain { expected: u64, got: u64 },
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error(
        "only replay-protected (EIP-155) transactions allowed: sign it with chain id {chain_id}"
    )]
    Unprotected { chain_id: u64 },
    #[error("bad signature: {0}")]
    Signature(#[from] CryptoError),
    #[error("bad signature: no signer recovers from it ({0})")]
    EthSignature(String),
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
}
