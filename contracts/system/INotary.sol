// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's notarization system contract
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001001.
/// Records are write-once by id and live in the chain's authenticated state (key
/// `notary/rec/<id>`, provable with `GET /v1/state/{key}`), the same records native
/// `Notarize` transactions write. Find ids by content hash with
/// `GET /v1/notary/by-hash/{hash}` (an index of the `Notarized` events).
/// @dev Limits: id 1 to 128 bytes without control characters; at most 32 fields, names 1 to 64
/// bytes, values up to 1,024 bytes; metadata up to 64 KiB. Gas: 20,000 plus 16 per stored
/// byte to notarize; 2,100 plus 3 per 32 bytes returned to read. A record notarized inside a
/// call that later reverts is not kept.
interface INotary {
    /// @notice Emitted once per record; `owner` is the caller of `notarize`.
    event Notarized(string id, bytes32 indexed contentHash, address owner);

    /// @notice Records `contentHash` under `id`; the caller becomes the owner. Returns true.
    /// Reverts if `id` is taken or a limit is passed. (It returns a value so that Solidity
    /// callers decode the answer instead of checking for code, which a system contract has none.)
    function notarize(string calldata id, bytes32 contentHash, string calldata metadata)
        external
        returns (bool);

    /// @notice `notarize` with searchable fields (`fieldNames[i]` = `fieldValues[i]`; names unique).
    function notarizeWithFields(
        string calldata id,
        bytes32 contentHash,
        string calldata metadata,
        string[] calldata fieldNames,
        string[] calldata fieldValues
    ) external returns (bool);

    /// @notice The record with this id; `exists` is false (and the rest zero) if there is none.
    /// Fields come sorted by name.
    function getRecord(string calldata id)
        external
        view
        returns (
            bool exists,
            bytes32 contentHash,
            address owner,
            uint64 height,
            uint64 timeMs,
            bytes32 txHash,
            string memory metadata,
            string[] memory fieldNames,
            string[] memory fieldValues
        );
}
