// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's ledger tables (TrustSQL) system contract
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001002.
/// Append-only tables: a row, once inserted, is never updated or deleted. Rows live in the
/// chain's authenticated state (key `sql/row/<table>` 0x00 `<primary key>`, provable with
/// `GET /v1/state/{key}`), each with its signer, transaction and height. The SQL gateway
/// speaks MySQL's protocol over these calls; most users never call them directly.
/// @dev Schemas and rows are in Consortia's canonical encoding (borsh) of `TableSchema` and
/// `Vec<Vec<SqlValue>>` (crate `consortia-types`, module `ledger`), which the SDK builds.
/// Names are lower-case; a table needs a primary key. Gas: 50,000 plus 16 per stored byte to
/// create a table; per row 20,000 plus 16 per stored byte. Nothing written inside a call
/// that later reverts is kept.
interface ILedger {
    /// @notice Emitted when a table is created; `creator` is the caller.
    event TableCreated(string name, address creator);

    /// @notice Emitted once per `insert`: how many rows, and the first number the chain gave an
    /// AUTO_INCREMENT column (0 if none).
    event RowsInserted(string table, uint64 rows, uint64 firstAutoId);

    /// @notice Creates a table. Reverts if the name is taken or the schema breaks a rule (the
    /// reason says which). On a chain whose deploy policy is `approved`, the keccak-256 hash of
    /// `schema` must first be approved as code is (`IGovernance.proposeApproveCode`).
    function createTable(bytes calldata schema) external returns (bool);

    /// @notice Inserts rows (each a list of values in column order; NULL in an AUTO_INCREMENT
    /// column takes the next number). All rows or none: reverts on a duplicate primary key or
    /// a value that does not fit its column. Returns the first AUTO_INCREMENT number given, or 0.
    function insert(string calldata table, bytes calldata rows) external returns (uint64 firstAutoId);
}
