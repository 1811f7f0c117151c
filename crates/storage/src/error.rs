use consortia_types::Height;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(String),
    #[error("corrupt record in `{table}`: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("authenticated state: {0}")]
    State(String),
    #[error("block {got} cannot follow block {head}")]
    OutOfOrder { head: Height, got: Height },
    #[error(
        "this data directory belongs to chain {found} (genesis {found_hash}), not {expected} \
         (genesis {expected_hash}); use another --data-dir or remove this one"
    )]
    GenesisMismatch { expected: String, expected_hash: String, found: String, found_hash: String },
    #[error("height {requested} is beyond the latest block {latest}")]
    FutureHeight { requested: Height, latest: Height },
    /// The block was pruned from this node's history (geth answers such reads with
    /// "pruned history unavailable").
    #[error(
        "block {height} was pruned from this node's history (it keeps blocks from {first}); \
         ask an archive node"
    )]
    Pruned { height: Height, first: Height },
    #[error("block archive: {0}")]
    Archive(String),
    #[error("invalid proof: {0}")]
    InvalidProof(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Database(e.to_string())
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
