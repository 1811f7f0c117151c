// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's cryptography extensions
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001100: the
/// Chinese national hash and signature (SM3, SM2), ed25519 and RSA signature checks, so
/// contracts can verify what banks, governments and devices sign off chain.
/// @dev Every function is pure: call it with STATICCALL (Solidity does for `pure`), from any
/// contract or with `eth_call`. A signature that does not verify, including one of the wrong
/// length, answers `false`; a malformed key or parameter reverts with `Error(string)` naming
/// it. Value sent with a call is refused.
///
/// Gas, priced at ecrecover's rate (3,000 gas) as measured on the reference machine, plus 12
/// per 32-byte word of the message as SHA-256's precompile charges: sm3 60; sm2Verify 6,500;
/// ed25519Verify 1,000; RSA 3,200 for a 2048-bit modulus, scaled by the modulus' length squared
/// (800 at 1024 bits, 7,200 at 3072, 12,800 at 4096).
interface ICrypto {
    /// @notice The hash that signs an RSA message. The ABI encodes it as uint8 (0, 1, 2).
    enum RsaHash {
        Sha256,
        Sha384,
        Sha512
    }

    /// @notice SM3 (GB/T 32905) of `data`.
    function sm3(bytes calldata data) external pure returns (bytes32);

    /// @notice Checks an SM2 signature (GB/T 32918.2) over `message`, signed as SM3(Z || message)
    /// with the standard's default distinguishing id "1234567812345678".
    /// @param publicKey the signer's key: SEC1 compressed (33 bytes), uncompressed (65 bytes,
    /// 0x04 || x || y) or raw x || y (64 bytes).
    /// @param signature r || s, 64 bytes.
    function sm2Verify(bytes calldata publicKey, bytes calldata message, bytes calldata signature)
        external
        pure
        returns (bool);

    /// @notice Checks an ed25519 signature (RFC 8032, pure Ed25519) over `message`.
    /// @param signature R || S, 64 bytes; non-canonical S is refused.
    function ed25519Verify(bytes32 publicKey, bytes calldata message, bytes calldata signature)
        external
        pure
        returns (bool);

    /// @notice Checks an RSASSA-PKCS1-v1_5 signature (RFC 8017) over `message` hashed with `hash`.
    /// @param modulus n, big-endian, 1024 to 4096 bits.
    /// @param exponent e, big-endian (usually 0x010001), 3 to 2^33 - 1.
    /// @param signature as long as the modulus.
    function rsaPkcs1v15Verify(
        bytes calldata modulus,
        bytes calldata exponent,
        RsaHash hash,
        bytes calldata message,
        bytes calldata signature
    ) external pure returns (bool);

    /// @notice Checks an RSASSA-PSS signature (RFC 8017, MGF1 with the same hash) over `message`.
    /// @param saltLength the salt's length in bytes as the signer chose it: the hash's length is
    /// the usual choice (32 for SHA-256); "maximum" signers use modulus bytes - hash bytes - 2.
    function rsaPssVerify(
        bytes calldata modulus,
        bytes calldata exponent,
        RsaHash hash,
        uint256 saltLength,
        bytes calldata message,
        bytes calldata signature
    ) external pure returns (bool);
}
