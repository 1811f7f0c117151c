//! Ledger table fixtures: a table's schema as tests of the contract, the projection and the
//! APIs use it.

use consortia_types::ledger::{Column, ColumnType, TableIndex, TableSchema};

/// A column that is neither nullable nor numbered by the chain.
pub fn column(name: &str, ty: ColumnType) -> Column {
    Column { name: name.into(), ty, nullable: false, auto_increment: false }
}

/// `orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(32) NOT NULL,
/// amount DOUBLE NULL, INDEX by_customer (customer))`.
pub fn orders() -> TableSchema {
    TableSchema {
        name: "orders".into(),
        columns: vec![
            Column {
                auto_increment: true,
                ..column("id", ColumnType::Int { bytes: 8, unsigned: true })
            },
            column("customer", ColumnType::Varchar(32)),
            Column { nullable: true, ..column("amount", ColumnType::Double) },
        ],
        primary_key: vec![0],
        indexes: vec![TableIndex { name: "by_customer".into(), columns: vec![1] }],
    }
}
