// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's Base64 extension
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001101:
/// Base64 (RFC 4648) in both alphabets, so contracts read and write what off-chain systems send.
/// @dev Pure: call it with STATICCALL or `eth_call`. Decoding text that is not Base64 reverts
/// with `Error(string)` naming the first bad character. Gas: 100 + 3 per 32 bytes of input.
interface IBase64 {
    /// @notice Standard alphabet (`+`, `/`), padded with `=`.
    function encode(bytes calldata data) external pure returns (string memory);

    /// @notice URL-safe alphabet (`-`, `_`), without padding (as JWTs use it).
    function encodeUrl(bytes calldata data) external pure returns (string memory);

    /// @notice Decodes the standard alphabet; padding is optional.
    function decode(string calldata text) external pure returns (bytes memory);

    /// @notice Decodes the URL-safe alphabet; padding is optional.
    function decodeUrl(string calldata text) external pure returns (bytes memory);
}
