// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.0;

/// @title Consortia's governance system contract
/// @notice Built into every Consortia chain at 0x0000000000000000000000000000000000001000.
/// The chain's member organizations decide together, on chain, who takes part: members, nodes
/// (validators and observers) and the policies that decide each kind of proposal. Its state
/// lives in the chain's authenticated state under `gov/` (provable with `GET /v1/state/{key}`
/// at any height); genesis seeds the first members and nodes.
///
/// Lifecycle: an admin account of a member organization proposes (which counts as its
/// organization's approval); admins of the other members vote, one vote per organization; the
/// vote that meets the kind's policy executes the proposal in that transaction. A proposal whose
/// policy can no longer be met is rejected; one still open after the chain's voting period
/// (`params.governance_voting_ms`, by block time) is expired; its proposer may cancel it while
/// it is open. A proposal checked at proposal time but no longer applicable when decided (the
/// node was removed meanwhile) ends failed, with the reason in `ProposalFailed`.
///
/// Validator sets: a change executed in block h takes effect at block h + 2 (each header
/// commits to the next block's set in `next_validators_hash`). BFT chains keep at least 4
/// validators and move less than a third of the voting power per proposal (so the quorums of the
/// old and the new set overlap in honest validators); Raft and solo chains refuse validator-set
/// changes (observers may still be added and removed).
///
/// Contracts: on a chain whose deploy policy is `approved` (parameter `deploy_policy` 1), a
/// transaction that deploys a contract needs the keccak-256 hash of its init code (the
/// transaction's data: creation bytecode with the constructor's arguments appended) approved
/// first, or it fails with the reason `deploy policy: …` (its nonce used, charged as a plain
/// call). Contracts created by a running contract (factories) need no approval of their own:
/// approving the factory approved what it creates. An approved upgrade gives a contract the
/// code of another deployed contract (the implementation) and keeps its address, balance and
/// storage. A frozen contract's calls (and DELEGATECALLs into its code) revert with
/// `contract frozen` until it is unfrozen; a revoked one's revert with `contract revoked`, for
/// good. Parameters: `deploy_policy` (0 open, 1 approved), `block_gas_limit`, `max_block_txs`,
/// `max_block_bytes`, `block_interval_ms`, `empty_block_interval_ms`, `timeout_propose_ms`,
/// `timeout_vote_ms`, `timeout_delta_ms`, `governance_voting_ms`. The deploy policy and the gas
/// limit bind from the next transaction, block limits from the next block, timing from when
/// each node decided the block that changed them.
///
/// @dev Kinds: 0 add member, 1 remove member, 2 add node, 3 remove node, 4 set a node's power,
/// 5 set a kind's policy, 6 approve code, 7 upgrade a contract, 8 freeze, 9 unfreeze, 10 revoke,
/// 11 set a parameter, 12 rotate a member's CA. Contract status: 0 active, 1 frozen, 2 revoked. Rules: 0 more than half of the members (the default), 1 at least two
/// thirds, 2 all members, 3 `n` members, 4 the `leader` member alone. Status: 0 open, 1 executed,
/// 2 rejected, 3 cancelled, 4 expired, 5 failed. Keys are `scheme:base64` strings, as in genesis
/// files (`ed25519:…`, `secp256k1:…`, `sm2:…`); TLS keys are Ed25519. Every call that changes
/// state costs 50,000 gas plus 16 per byte stored; a read costs 2,100 plus 3 per 32 bytes
/// returned. Every refusal reverts with a reason (`Error(string)`).
interface IGovernance {
    event ProposalCreated(uint64 indexed id, uint8 kind, string org, address proposer, string summary);
    event Voted(uint64 indexed id, string org, address voter, bool approve);
    event ProposalExecuted(uint64 indexed id);
    event ProposalRejected(uint64 indexed id);
    event ProposalCancelled(uint64 indexed id);
    event ProposalFailed(uint64 indexed id, string reason);
    event MemberAdded(string org);
    event MemberRemoved(string org);
    event NodeAdded(string name, string org, uint64 power);
    event NodeRemoved(string name);
    event NodePowerChanged(string name, uint64 power);
    /// @notice The validator set changed; the new set signs from block `effectiveHeight` on.
    event ValidatorSetChanged(uint64 effectiveHeight);
    event PolicyChanged(uint8 kind, uint8 rule, uint32 n, string leader);
    event CodeApproved(bytes32 indexed codeHash, string label);
    /// @notice `target` now runs the code whose hash is `codeHash` (its version `version`).
    event ContractUpgraded(address indexed target, bytes32 codeHash, uint64 version);
    event ContractStatusChanged(address indexed target, uint8 status);
    event ParameterChanged(string name, uint64 value);
    /// @notice `org` has a new CA; the one it replaced is trusted until block time
    /// `previousTrustedUntilMs` (0: not at all).
    event MemberCaRotated(string org, uint64 previousTrustedUntilMs);

    /// @notice Proposes `org` as a member, voting through any of `admins`; `caCert` is the PEM
    /// certificate of its CA (may be empty). Returns the proposal's id.
    function proposeAddMember(string calldata org, address[] calldata admins, string calldata caCert)
        external
        returns (uint64 id);

    /// @notice Proposes removing `org`; it must own no nodes any more (remove them first).
    function proposeRemoveMember(string calldata org) external returns (uint64 id);

    /// @notice Proposes a node of member `org`: a validator with `power` > 0 and its
    /// `consensusKey`, or an observer (`power` 0, `consensusKey` may be empty). `tlsKey` is the
    /// Ed25519 key of its TLS certificate, which its peers admit it by.
    function proposeAddNode(
        string calldata name,
        string calldata org,
        string calldata consensusKey,
        uint64 power,
        string calldata tlsKey
    ) external returns (uint64 id);

    /// @notice Proposes removing a node: it stops voting two blocks after the deciding block
    /// and is disconnected by its peers.
    function proposeRemoveNode(string calldata name) external returns (uint64 id);

    /// @notice Proposes a node's voting power (0 makes a validator an observer).
    function proposeSetPower(string calldata name, uint64 power) external returns (uint64 id);

    /// @notice Proposes the policy that decides proposals of `kind`.
    function proposeSetPolicy(uint8 kind, uint8 rule, uint32 n, string calldata leader)
        external
        returns (uint64 id);

    /// @notice Proposes approving the init code whose keccak-256 hash is `codeHash` for
    /// deployment (`label` names it for people, e.g. `token v2`).
    function proposeApproveCode(bytes32 codeHash, string calldata label) external returns (uint64 id);

    /// @notice Proposes giving `target` the code `implementation` runs now, keeping `target`'s
    /// address, balance and storage.
    function proposeUpgrade(address target, address implementation) external returns (uint64 id);

    /// @notice Proposes freezing `target`: calls to it revert until it is unfrozen.
    function proposeFreeze(address target) external returns (uint64 id);

    /// @notice Proposes unfreezing a frozen `target`.
    function proposeUnfreeze(address target) external returns (uint64 id);

    /// @notice Proposes revoking `target` for good: calls to it revert, and it can be neither
    /// unfrozen nor upgraded.
    function proposeRevoke(address target) external returns (uint64 id);

    /// @notice Proposes a chain parameter's value (names as in genesis files' `params`):
    /// `deploy_policy` (0 open, 1 approved), `block_gas_limit` (at least 1,000,000),
    /// `max_block_txs` (1 to 100,000), `max_block_bytes` (the largest transaction to 1 GiB),
    /// `block_interval_ms` (1 to 60,000), `empty_block_interval_ms` (0, none, to a day),
    /// `timeout_propose_ms` and `timeout_vote_ms` (10 to 600,000), `timeout_delta_ms` (0 to
    /// 600,000) or `governance_voting_ms` (at least 1,000).
    function proposeSetParameter(string calldata name, uint64 value) external returns (uint64 id);

    /// @notice Proposes `caCert` (one PEM certificate) as member `org`'s CA. Nodes trust the CA it
    /// replaces for `overlapMs` more of block time (at most 90 days), for peers' certificates
    /// and clients' credentials alike, so the member's nodes move to certificates of the new CA
    /// with no moment their peers refuse them; `overlapMs` 0 distrusts the old CA at once (a
    /// compromised key). The overlap ends with the first block whose time is past it. At most
    /// two replaced CAs of one member are in overlap at a time.
    function proposeRotateMemberCa(string calldata org, string calldata caCert, uint64 overlapMs)
        external
        returns (uint64 id);

    /// @notice Casts the caller's organization's vote; returns the proposal's status after it.
    function vote(uint64 id, bool approve) external returns (uint8 status);

    /// @notice Cancels an open proposal; only its proposer may.
    function cancel(uint64 id) external returns (bool);

    /// @notice How many proposals were ever made; ids run from 1 to this.
    function proposalCount() external view returns (uint64);

    /// @notice A proposal (`exists` false, the rest zero, for an unknown id). `approvals` and
    /// `rejections` list the organizations that voted each way.
    function getProposal(uint64 id)
        external
        view
        returns (
            bool exists,
            uint8 kind,
            uint8 status,
            string memory org,
            address proposer,
            uint64 createdHeight,
            uint64 deadlineMs,
            string memory summary,
            string[] memory approvals,
            string[] memory rejections
        );

    /// @notice The member organizations' ids, sorted.
    function memberIds() external view returns (string[] memory);

    /// @notice A member (`exists` false for an unknown id) and the names of its nodes.
    function getMember(string calldata org)
        external
        view
        returns (bool exists, address[] memory admins, string memory caCert, string[] memory nodes);

    /// @notice The nodes' names, in order (validators among them in the order certificates
    /// index them).
    function nodeNames() external view returns (string[] memory);

    /// @notice A node (`exists` false for an unknown name).
    function getNode(string calldata name)
        external
        view
        returns (bool exists, string memory org, string memory consensusKey, uint64 power, string memory tlsKey);

    /// @notice Whether deploying init code with hash `codeHash` was approved, and by which
    /// proposal (0 if not).
    function isCodeApproved(bytes32 codeHash) external view returns (bool approved, uint64 proposal);

    /// @notice A contract's status (0 active, 1 frozen, 2 revoked), how many upgrades it had
    /// and the hash of the code it runs.
    function contractStatus(address target)
        external
        view
        returns (uint8 status, uint64 version, bytes32 codeHash);

    /// @notice A chain parameter's current value (see `proposeSetParameter`).
    function getParameter(string calldata name) external view returns (uint64 value);

    /// @notice The policy deciding proposals of `kind`.
    function getPolicy(uint8 kind) external view returns (uint8 rule, uint32 n, string memory leader);
}
