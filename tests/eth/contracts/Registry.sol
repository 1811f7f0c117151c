// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Write-once key/value records with an event per record.
contract Registry {
    event Registered(address indexed who, bytes32 indexed key, string value);

    mapping(bytes32 => string) public values;

    function register(bytes32 key, string calldata value) external {
        require(bytes(values[key]).length == 0, "key taken");
        values[key] = value;
        emit Registered(msg.sender, key, value);
    }
}
