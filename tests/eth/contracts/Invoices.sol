// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import "contracts/system/INotary.sol";

/// Files invoices with the chain's notary system contract, from Solidity.
contract Invoices {
    INotary constant NOTARY = INotary(0x0000000000000000000000000000000000001001);

    event Filed(string id, bytes32 digest);

    function file(string calldata id, bytes32 digest) external {
        require(NOTARY.notarize(id, digest, "invoice"), "notary said no");
        emit Filed(id, digest);
    }

    /// Files, then changes its mind: the record must not survive the revert.
    function fileAndRevert(string calldata id, bytes32 digest) external {
        NOTARY.notarize(id, digest, "invoice");
        revert("changed my mind");
    }

    /// Succeeds whatever `fileAndRevert` does.
    function tryFile(string calldata id, bytes32 digest) external returns (bool filed) {
        try this.fileAndRevert(id, digest) {
            filed = true;
        } catch {
            filed = false;
        }
    }

    function ownerOf(string calldata id) external view returns (address) {
        (bool exists,, address owner,,,,,,) = NOTARY.getRecord(id);
        require(exists, "no such record");
        return owner;
    }
}
