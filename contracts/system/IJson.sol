// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's JSON extension
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001102:
/// reads fields of a JSON document (RFC 8259), so a contract can act on a signed JSON payload
/// (check its signature with ICrypto, then read its fields here).
/// @dev Pure: call it with STATICCALL or `eth_call`. Values are found by JSON Pointer (RFC 6901):
/// "" is the whole document, "/order/items/0/sku" walks object members and array indexes, `~1`
/// stands for `/` and `~0` for `~` in a member name. A document that is not JSON, or a pointer
/// that names nothing, reverts with `Error(string)` saying which (except in `has`). Numbers are
/// read exactly from their text, never through floating point. Documents nest at most 128 deep.
/// Gas: 200 + 3 per 32 bytes of the document for each pointer segment walked, plus one.
interface IJson {
    /// @notice The value at `pointer` as text: a string's contents (unescaped), otherwise the
    /// value's JSON text as written (a number, `true`, `null`, an object or an array).
    function get(string calldata json, string calldata pointer) external pure returns (string memory);

    /// @notice The non-negative integer at `pointer`: a JSON number without fraction or
    /// exponent, or a string of decimal digits (as big numbers travel); reverts above 2^256 - 1.
    function getUint(string calldata json, string calldata pointer) external pure returns (uint256);

    /// @notice The integer at `pointer`, as getUint with an optional leading `-`.
    function getInt(string calldata json, string calldata pointer) external pure returns (int256);

    /// @notice The boolean at `pointer` (JSON `true` or `false`).
    function getBool(string calldata json, string calldata pointer) external pure returns (bool);

    /// @notice The number of elements of the array, or members of the object, at `pointer`.
    function length(string calldata json, string calldata pointer) external pure returns (uint256);

    /// @notice Whether `pointer` names a value; reverts only if `json` is not JSON.
    function has(string calldata json, string calldata pointer) external pure returns (bool);
}
