// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import "contracts/standard/Issued.sol";

/// @title A fungible digital asset (ERC-20) as the platform issues it.
/// @notice The issuer (the account of the organization that issued the asset) issues new units,
/// freezes and unfreezes accounts, and may hand the role to another account. Holders transfer,
/// approve and burn their own units. A frozen account neither sends, receives, approves nor
/// burns until it is unfrozen.
contract AssetToken is Issued {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        string memory metadataURI_,
        address issuer_
    ) Issued(metadataURI_, issuer_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value)
        external
        notFrozen(msg.sender)
        returns (bool)
    {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value)
        external
        notFrozen(msg.sender)
        returns (bool)
    {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "AssetToken: the transfer exceeds the allowance");
            allowance[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    /// @notice Issues `value` new units to `to`.
    function issue(address to, uint256 value) external onlyIssuer notFrozen(to) {
        require(to != address(0), "AssetToken: cannot issue to the zero address");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    /// @notice Destroys `value` of the sender's units.
    function burn(uint256 value) external notFrozen(msg.sender) {
        uint256 balance = balanceOf[msg.sender];
        require(balance >= value, "AssetToken: the burn exceeds the balance");
        balanceOf[msg.sender] = balance - value;
        totalSupply -= value;
        emit Transfer(msg.sender, address(0), value);
    }

    function _transfer(address from, address to, uint256 value)
        internal
        notFrozen(from)
        notFrozen(to)
    {
        require(to != address(0), "AssetToken: transfer to the zero address (burn instead)");
        uint256 balance = balanceOf[from];
        require(balance >= value, "AssetToken: the transfer exceeds the balance");
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
