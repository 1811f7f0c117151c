// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The governance system contract, as far as the ledger asks it who an organization is.
interface IGovernanceMembers {
    function getMember(string calldata org)
        external
        view
        returns (bool exists, address[] memory admins, string memory caCert, string[] memory nodes);
}

/// @title Bookkeeping between the chain's member organizations.
/// @notice A party posts an entry (the debtor owes the creditor an amount in a currency); the
/// other party confirms or disputes it. Confirmed entries move the parties' balances (the
/// creditor's up, the debtor's down). Parties are the chain's governance members: whoever acts
/// for an organization must be one of the admin accounts governance holds for it, so the
/// ledger and the consortium's membership cannot disagree.
contract SharedLedger {
    IGovernanceMembers private constant GOVERNANCE =
        IGovernanceMembers(0x0000000000000000000000000000000000001000);

    uint8 public constant PENDING = 0;
    uint8 public constant CONFIRMED = 1;
    uint8 public constant DISPUTED = 2;

    struct Entry {
        string debtor;
        string creditor;
        uint256 amount;
        string currency;
        string docRef;
        bytes32 attachment;
        string postedBy;
        uint8 status;
        string note;
        uint64 postedAt;
        uint64 settledAt;
    }

    Entry[] private entries;
    mapping(bytes32 => int256) private balances;

    event EntryPosted(uint256 indexed id, string debtor, string creditor, uint256 amount, string currency);
    event EntryConfirmed(uint256 indexed id, string by);
    event EntryDisputed(uint256 indexed id, string by, string reason);

    /// @notice Posts an entry as `asOrg`, one of its two parties; returns its id.
    function post(
        string calldata debtor,
        string calldata creditor,
        uint256 amount,
        string calldata currency,
        string calldata docRef,
        bytes32 attachment,
        string calldata asOrg
    ) external returns (uint256 id) {
        require(amount > 0, "SharedLedger: the amount must be positive");
        require(bytes(currency).length > 0, "SharedLedger: name the currency");
        require(!_same(debtor, creditor), "SharedLedger: the debtor and the creditor are one organization");
        require(
            _same(asOrg, debtor) || _same(asOrg, creditor),
            "SharedLedger: only the debtor or the creditor posts an entry"
        );
        _member(_same(asOrg, debtor) ? creditor : debtor);
        _actsFor(asOrg);
        id = entries.length;
        Entry storage entry = entries.push();
        entry.debtor = debtor;
        entry.creditor = creditor;
        entry.amount = amount;
        entry.currency = currency;
        entry.docRef = docRef;
        entry.attachment = attachment;
        entry.postedBy = asOrg;
        entry.postedAt = uint64(block.timestamp);
        emit EntryPosted(id, debtor, creditor, amount, currency);
    }

    /// @notice Confirms entry `id` as `asOrg`, the party that did not post it.
    function confirm(uint256 id, string calldata asOrg) external {
        Entry storage entry = _settle(id, asOrg);
        entry.status = CONFIRMED;
        balances[_key(entry.creditor, entry.currency)] += int256(entry.amount);
        balances[_key(entry.debtor, entry.currency)] -= int256(entry.amount);
        emit EntryConfirmed(id, asOrg);
    }

    /// @notice Disputes entry `id` as `asOrg`, the party that did not post it, saying why.
    function dispute(uint256 id, string calldata asOrg, string calldata reason) external {
        require(bytes(reason).length > 0, "SharedLedger: say why the entry is disputed");
        Entry storage entry = _settle(id, asOrg);
        entry.status = DISPUTED;
        entry.note = reason;
        emit EntryDisputed(id, asOrg, reason);
    }

    function entryCount() external view returns (uint256) {
        return entries.length;
    }

    function getEntry(uint256 id) external view returns (Entry memory) {
        require(id < entries.length, "SharedLedger: no such entry");
        return entries[id];
    }

    /// @notice Up to `limit` entries from id `from` on.
    function getEntries(uint256 from, uint256 limit) external view returns (Entry[] memory page) {
        uint256 end = from + limit;
        if (end > entries.length) end = entries.length;
        if (from > end) from = end;
        page = new Entry[](end - from);
        for (uint256 i = from; i < end; i++) {
            page[i - from] = entries[i];
        }
    }

    /// @notice An organization's confirmed balance in a currency: what it is owed less what it
    /// owes.
    function balanceOf(string calldata org, string calldata currency) external view returns (int256) {
        return balances[_key(org, currency)];
    }

    function _settle(uint256 id, string calldata asOrg) internal returns (Entry storage entry) {
        require(id < entries.length, "SharedLedger: no such entry");
        entry = entries[id];
        require(entry.status == PENDING, "SharedLedger: the entry is settled already");
        require(
            (_same(asOrg, entry.debtor) || _same(asOrg, entry.creditor)) && !_same(asOrg, entry.postedBy),
            "SharedLedger: only the counterparty of the entry settles it"
        );
        _actsFor(asOrg);
        entry.settledAt = uint64(block.timestamp);
    }

    function _member(string memory org) internal view returns (address[] memory admins) {
        bool exists;
        (exists, admins,,) = GOVERNANCE.getMember(org);
        require(exists, string.concat("SharedLedger: ", org, " is not a member of the chain"));
    }

    function _actsFor(string memory org) internal view {
        address[] memory admins = _member(org);
        for (uint256 i = 0; i < admins.length; i++) {
            if (admins[i] == msg.sender) return;
        }
        revert(string.concat("SharedLedger: the sender is not an admin account of ", org));
    }

    function _key(string memory org, string memory currency) internal pure returns (bytes32) {
        return keccak256(abi.encode(org, currency));
    }

    function _same(string memory a, string memory b) internal pure returns (bool) {
        return keccak256(bytes(a)) == keccak256(bytes(b));
    }
}
