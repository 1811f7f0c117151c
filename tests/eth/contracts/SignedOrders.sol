// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import "contracts/system/ICrypto.sol";
import "contracts/system/IBase64.sol";
import "contracts/system/IJson.sol";

/// Accepts purchase orders that a partner signs off chain: a JSON document with an RSA
/// signature (the partner's usual PKI), checked and read with the chain's extensions. It also
/// exposes each extension to the test as a Solidity contract calls it.
contract SignedOrders {
    ICrypto constant CRYPTO = ICrypto(0x0000000000000000000000000000000000001100);
    IBase64 constant BASE64 = IBase64(0x0000000000000000000000000000000000001101);
    IJson constant JSON = IJson(0x0000000000000000000000000000000000001102);

    bytes public modulus;
    bytes public exponent;
    mapping(string => uint256) public quantities;

    event Accepted(string id, uint256 qty, bool paid);

    constructor(bytes memory partnerModulus, bytes memory partnerExponent) {
        modulus = partnerModulus;
        exponent = partnerExponent;
    }

    /// `signature` is Base64, as the partner's API sends it.
    function accept(string calldata order, string calldata signature) external {
        bytes memory sig = BASE64.decode(signature);
        require(
            CRYPTO.rsaPkcs1v15Verify(modulus, exponent, ICrypto.RsaHash.Sha256, bytes(order), sig),
            "not signed by the partner"
        );
        string memory id = JSON.get(order, "/id");
        require(quantities[id] == 0, "order already accepted");
        uint256 qty = JSON.getUint(order, "/items/0/qty");
        quantities[id] = qty;
        emit Accepted(id, qty, JSON.getBool(order, "/paid"));
    }

    function sm3(bytes calldata data) external pure returns (bytes32) {
        return CRYPTO.sm3(data);
    }

    function sm2(bytes calldata key, bytes calldata message, bytes calldata sig) external pure returns (bool) {
        return CRYPTO.sm2Verify(key, message, sig);
    }

    function ed25519(bytes32 key, bytes calldata message, bytes calldata sig) external pure returns (bool) {
        return CRYPTO.ed25519Verify(key, message, sig);
    }

    function pss(bytes calldata message, bytes calldata sig, uint256 saltLength) external view returns (bool) {
        return CRYPTO.rsaPssVerify(modulus, exponent, ICrypto.RsaHash.Sha256, saltLength, message, sig);
    }

    function base64(bytes calldata data) external pure returns (string memory standard, string memory url) {
        return (BASE64.encode(data), BASE64.encodeUrl(data));
    }

    function json(string calldata document, string calldata pointer)
        external
        pure
        returns (bool found, uint256 length, int256 number)
    {
        found = JSON.has(document, pointer);
        if (found) {
            length = JSON.length(document, pointer);
            number = JSON.getInt(document, string.concat(pointer, "/0"));
        }
    }
}
