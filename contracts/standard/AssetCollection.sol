// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import "contracts/standard/Issued.sol";

interface IERC721Receiver {
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

/// @title A collection of non-fungible digital assets (ERC-721 with metadata) as the platform
/// issues it.
/// @notice The issuer (the account of the organization that issued the collection) issues new
/// tokens, freezes and unfreezes accounts, and may hand the role to another account. Owners
/// (and whom they approve) transfer and burn their tokens. A frozen account neither sends nor
/// receives tokens until it is unfrozen.
contract AssetCollection is Issued {
    string public name;
    string public symbol;
    uint256 public totalSupply;

    mapping(uint256 => address) private owners;
    mapping(address => uint256) private balances;
    mapping(uint256 => address) private approvals;
    mapping(address => mapping(address => bool)) private operators;
    mapping(uint256 => string) private uris;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);

    constructor(string memory name_, string memory symbol_, string memory metadataURI_, address issuer_)
        Issued(metadataURI_, issuer_)
    {
        name = name_;
        symbol = symbol_;
    }

    function supportsInterface(bytes4 id) external pure returns (bool) {
        // ERC-165, ERC-721, ERC-721 Metadata
        return id == 0x01ffc9a7 || id == 0x80ac58cd || id == 0x5b5e139f;
    }

    function balanceOf(address owner) external view returns (uint256) {
        require(owner != address(0), "AssetCollection: the zero address owns nothing");
        return balances[owner];
    }

    function ownerOf(uint256 tokenId) public view returns (address) {
        address owner = owners[tokenId];
        require(owner != address(0), "AssetCollection: no such token");
        return owner;
    }

    function tokenURI(uint256 tokenId) external view returns (string memory) {
        ownerOf(tokenId);
        return uris[tokenId];
    }

    function approve(address to, uint256 tokenId) external notFrozen(msg.sender) {
        address owner = ownerOf(tokenId);
        require(
            msg.sender == owner || operators[owner][msg.sender],
            "AssetCollection: only the owner or its operator approves"
        );
        approvals[tokenId] = to;
        emit Approval(owner, to, tokenId);
    }

    function getApproved(uint256 tokenId) external view returns (address) {
        ownerOf(tokenId);
        return approvals[tokenId];
    }

    function setApprovalForAll(address operator, bool approved) external notFrozen(msg.sender) {
        operators[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function isApprovedForAll(address owner, address operator) external view returns (bool) {
        return operators[owner][operator];
    }

    function transferFrom(address from, address to, uint256 tokenId) public {
        _transfer(from, to, tokenId);
    }

    function safeTransferFrom(address from, address to, uint256 tokenId) external {
        safeTransferFrom(from, to, tokenId, "");
    }

    function safeTransferFrom(address from, address to, uint256 tokenId, bytes memory data) public {
        _transfer(from, to, tokenId);
        if (to.code.length > 0) {
            bytes4 answer = IERC721Receiver(to).onERC721Received(msg.sender, from, tokenId, data);
            require(
                answer == IERC721Receiver.onERC721Received.selector,
                "AssetCollection: the recipient does not accept tokens"
            );
        }
    }

    /// @notice Issues token `tokenId` to `to`, described at `uri`.
    function issue(address to, uint256 tokenId, string calldata uri) external onlyIssuer notFrozen(to) {
        require(to != address(0), "AssetCollection: cannot issue to the zero address");
        require(owners[tokenId] == address(0), "AssetCollection: the token exists already");
        owners[tokenId] = to;
        balances[to] += 1;
        uris[tokenId] = uri;
        totalSupply += 1;
        emit Transfer(address(0), to, tokenId);
    }

    /// @notice Destroys token `tokenId` (its owner, or whom the owner approved).
    function burn(uint256 tokenId) external {
        address owner = ownerOf(tokenId);
        require(!frozen[owner], "the account is frozen");
        require(_allowed(msg.sender, owner, tokenId), "AssetCollection: not the owner nor approved");
        delete approvals[tokenId];
        delete uris[tokenId];
        delete owners[tokenId];
        balances[owner] -= 1;
        totalSupply -= 1;
        emit Transfer(owner, address(0), tokenId);
    }

    function _allowed(address spender, address owner, uint256 tokenId) internal view returns (bool) {
        return spender == owner || approvals[tokenId] == spender || operators[owner][spender];
    }

    function _transfer(address from, address to, uint256 tokenId) internal notFrozen(from) notFrozen(to) {
        require(ownerOf(tokenId) == from, "AssetCollection: `from` does not own the token");
        require(to != address(0), "AssetCollection: transfer to the zero address (burn instead)");
        require(_allowed(msg.sender, from, tokenId), "AssetCollection: not the owner nor approved");
        delete approvals[tokenId];
        balances[from] -= 1;
        balances[to] += 1;
        owners[tokenId] = to;
        emit Transfer(from, to, tokenId);
    }
}
