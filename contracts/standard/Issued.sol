// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title What the platform's digital assets share: an issuer account that freezes and
/// unfreezes accounts and may hand its role on, and metadata describing the asset.
abstract contract Issued {
    /// @notice Where the asset's description lives (a URL or a content hash), as the issuer set it.
    string public metadataURI;
    address public issuer;
    mapping(address => bool) public frozen;

    event Frozen(address indexed account);
    event Unfrozen(address indexed account);
    event IssuerChanged(address indexed previous, address indexed next);

    constructor(string memory metadataURI_, address issuer_) {
        require(issuer_ != address(0), "the issuer is the zero address");
        metadataURI = metadataURI_;
        issuer = issuer_;
        emit IssuerChanged(address(0), issuer_);
    }

    modifier onlyIssuer() {
        require(msg.sender == issuer, "only the issuer may do this");
        _;
    }

    modifier notFrozen(address account) {
        require(!frozen[account], "the account is frozen");
        _;
    }

    function freeze(address account) external onlyIssuer {
        frozen[account] = true;
        emit Frozen(account);
    }

    function unfreeze(address account) external onlyIssuer {
        frozen[account] = false;
        emit Unfrozen(account);
    }

    function setIssuer(address next) external onlyIssuer {
        require(next != address(0), "the issuer is the zero address");
        emit IssuerChanged(issuer, next);
        issuer = next;
    }
}
