use borsh::{BorshDeserialize, BorshSerialize};
use consortia_crypto::{Address, Hash, PublicKey, Suite};
use serde::{Deserialize, Serialize};

use crate::{TypesError, encode};

/// A validator: a voting key with its voting power.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Validator {
    pub name: String,
    pub public_key: PublicKey,
    pub power: u64,
}

/// An account at genesis: funded, and optionally holding contract code (as geth's `alloc`).
/// Balances are strings in JSON so no client rounds them; code is 0x-hex.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GenesisAccount {
    pub address: Address,
    #[serde(with = "u128_string")]
    pub balance: u128,
    #[serde(default, with = "hex_code", skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<u8>,
}

impl GenesisAccount {
    /// An account holding `balance` and no code.
    pub fn funded(address: Address, balance: u128) -> Self {
        GenesisAccount { address, balance, code: vec![] }
    }

    /// The deterministic deployment proxy (Arachnid's CREATE2 factory) at its standard
    /// address `0x4e59b44847b379578588920ca78fbf26c0b4956c`, as anvil, Hardhat and many L2s
    /// hold it: Foundry's `forge create --salt` and CREATE2 factories expect it. Its usual
    /// installation is a pre-EIP-155 transaction, which no node of ours accepts, so every new
    /// genesis carries it.
    pub fn create2_deployer() -> Self {
        GenesisAccount {
            address: Address(CREATE2_DEPLOYER),
            balance: 0,
            code: CREATE2_DEPLOYER_CODE.to_vec(),
        }
    }
}

/// The deterministic deployment proxy's address.
pub const CREATE2_DEPLOYER: [u8; 20] = [
    0x4e, 0x59, 0xb4, 0x48, 0x47, 0xb3, 0x79, 0x57, 0x85, 0x88, 0x92, 0x0c, 0xa7, 0x8f, 0xbf, 0x26,
    0xc0, 0xb4, 0x95, 0x6c,
];

/// Its runtime code: `salt (32 bytes) || init code` in, `CREATE2(salt, init code)` out (the
/// new address, 20 bytes), reverting when the creation fails.
pub const CREATE2_DEPLOYER_CODE: [u8; 69] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xe0, 0x36, 0x01, 0x60, 0x00, 0x81, 0x60, 0x20, 0x82, 0x37, 0x80, 0x35, 0x82, 0x82, 0x34, 0xf5,
    0x80, 0x15, 0x15, 0x60, 0x39, 0x57, 0x81, 0x82, 0xfd, 0x5b, 0x80, 0x82, 0x52, 0x50, 0x50, 0x50,
    0x60, 0x14, 0x60, 0x0c, 0xf3,
];

/// The accounts every new genesis starts with: [`GenesisAccount::create2_deployer`].
pub fn standard_accounts() -> Vec<GenesisAccount> {
    vec![GenesisAccount::create2_deployer()]
}

/// How blocks are agreed on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum ConsensusKind {
    /// One validator signs every block: development and single-organization chains.
    Solo = 0,
    /// Tendermint-style Byzantine fault tolerance: 3f+1 validators tolerate f faulty ones,
    /// even malicious ones; a block is final once more than 2/3 of the power precommits it.
    Bft = 1,
    /// Raft-style crash fault tolerance: 2f+1 validators tolerate f that stop, none that lie; a
    /// block is final once more than half of the power has accepted it.
    Raft = 2,
}

impl ConsensusKind {
    /// Whether `power` of `total` voting power is enough to commit a block.
    pub fn is_quorum(self, power: u128, total: u128) -> bool {
        match self {
            ConsensusKind::Solo | ConsensusKind::Bft => power * 3 > total * 2,
            ConsensusKind::Raft => power * 2 > total,
        }
    }
}

/// Who may deploy contracts.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum DeployPolicy {
    /// Anyone deploys anything (development chains).
    #[default]
    Open = 0,
    /// A deployment's init code must be approved by a governance proposal first.
    Approved = 1,
}

impl DeployPolicy {
    /// The policy's name in genesis files, the APIs and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            DeployPolicy::Open => "open",
            DeployPolicy::Approved => "approved",
        }
    }
}

/// Chain parameters fixed at genesis. Governance changes the deploy policy, the block gas limit
/// and the voting period later (`gov/params` in the state holds the current values).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default)]
pub struct ChainParams {
    pub consensus: ConsensusKind,
    /// Largest encoded transaction accepted.
    pub max_tx_bytes: u32,
    pub max_block_txs: u32,
    pub max_block_bytes: u64,
    /// Batching window: while transactions wait, a block is cut when it is full or when this
    /// long has passed since the previous block was cut.
    pub block_interval_ms: u64,
    /// With nothing to do, an empty block is cut after this long (a liveness heartbeat);
    /// 0 cuts no empty blocks.
    pub empty_block_interval_ms: u64,
    /// BFT: how long a validator waits for a round's proposal before voting nil.
    pub timeout_propose_ms: u64,
    /// BFT: how long a validator waits, after seeing votes of more than 2/3 of the power for
    /// different values, before voting nil in the next step.
    pub timeout_vote_ms: u64,
    /// BFT: every round waits this much longer than the previous one (linear backoff, so a
    /// slow network eventually fits in a round).
    pub timeout_delta_ms: u64,
    /// The Ethereum hard fork whose EVM rules contracts run under: `cancun`, `prague` or
    /// `osaka` (compile contracts with the same `evmVersion`).
    pub evm_version: String,
    /// Most gas the transactions of one block may use together.
    pub block_gas_limit: u64,
    /// How long a governance proposal stays open for votes, by block time.
    pub governance_voting_ms: u64,
    /// Whether deploying a contract needs its code approved by governance first.
    pub deploy_policy: DeployPolicy,
    /// The base fee per gas of every block, in wei, burned (EIP-1559, but constant: a
    /// consortium chain has no fee market). Ethereum-envelope transactions must offer at least
    /// this; native transactions pay no fee. 0 makes gas free (ethers v6 then sends legacy
    /// transactions); 1 wei makes wallets send EIP-1559 at a negligible, burned cost.
    pub base_fee_per_gas: u64,
}

/// EVM versions a chain may choose (Cancun and later: `SELFDESTRUCT` only deletes contracts
/// created in the same transaction, EIP-6780, so no account's storage is ever wiped whole).
pub const EVM_VERSIONS: [&str; 3] = ["cancun", "prague", "osaka"];

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            consensus: ConsensusKind::Solo,
            max_tx_bytes: 128 * 1024,
            max_block_txs: 2_000,
            max_block_bytes: 16 * 1024 * 1024,
            block_interval_ms: 20,
            empty_block_interval_ms: 0,
            timeout_propose_ms: 1_000,
            timeout_vote_ms: 500,
            timeout_delta_ms: 250,
            evm_version: "cancun".into(),
            block_gas_limit: 1_000_000_000,
            governance_voting_ms: 7 * 24 * 3_600_000,
            deploy_policy: DeployPolicy::Open,
            base_fee_per_gas: 0,
        }
    }
}

/// Everything a node needs to build block 0. Its hash names the chain: a node refuses a data
/// directory made from another genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: u64,
    pub chain_name: String,
    pub suite: Suite,
    pub time_ms: u64,
    pub validators: Vec<Validator>,
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    #[serde(default)]
    pub params: ChainParams,
    /// The nodes allowed in the chain's peer-to-peer network (validators and observers), by
    /// the Ed25519 key of their TLS certificate. A peer whose key is not here is refused.
    #[serde(default)]
    pub nodes: Vec<NodeIdentity>,
    /// The member organizations that govern the chain (`contracts/system/IGovernance.sol`):
    /// they vote on members, nodes and contracts. A chain without members cannot change its
    /// validators or approve code after genesis.
    #[serde(default)]
    pub members: Vec<GenesisMember>,
}

/// A member organization at genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GenesisMember {
    /// The organization's id (the platform's organization id, or any name on a bare network).
    pub id: String,
    /// The accounts that vote for it: any one of them casts the organization's one vote.
    pub admins: Vec<Address>,
    /// The PEM certificate of the organization's CA (empty: its nodes' certificates come from
    /// the consortium CA).
    #[serde(default)]
    pub ca_cert: String,
    /// Names of the validators and nodes (above) this organization runs.
    #[serde(default)]
    pub nodes: Vec<String>,
}

/// A node of the network: a name for people, and the key its TLS certificate carries.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub name: String,
    pub key: PublicKey,
}

impl Genesis {
    /// A chain with one validator (power 1), no funded accounts and default parameters: what
    /// `consortia dev` creates.
    pub fn solo(
        chain_id: u64,
        chain_name: impl Into<String>,
        suite: Suite,
        validator: PublicKey,
        time_ms: u64,
    ) -> Self {
        Genesis {
            chain_id,
            chain_name: chain_name.into(),
            suite,
            time_ms,
            validators: vec![Validator {
                name: "validator-0".into(),
                public_key: validator,
                power: 1,
            }],
            accounts: standard_accounts(),
            params: ChainParams::default(),
            nodes: vec![],
            members: vec![],
        }
    }

    pub fn hash(&self) -> Hash {
        self.suite.hash().digest(&encode(self))
    }

    /// Returns every problem at once, so a hand-edited file is fixed in one pass.
    pub fn validate(&self) -> Result<(), TypesError> {
        let mut problems = Vec::new();
        if self.validators.is_empty() {
            problems.push("at least one validator is needed".to_owned());
        }
        if self.validators.iter().any(|v| v.power == 0) {
            problems.push("every validator needs a voting power above 0".to_owned());
        }
        let mut keys: Vec<_> = self.validators.iter().map(|v| &v.public_key).collect();
        keys.sort();
        keys.dedup();
        if keys.len() != self.validators.len() {
            problems.push("validator keys must be distinct".to_owned());
        }
        let mut addresses: Vec<_> = self.accounts.iter().map(|a| a.address).collect();
        addresses.sort();
        addresses.dedup();
        if addresses.len() != self.accounts.len() {
            problems.push("account addresses must be distinct".to_owned());
        }
        let p = &self.params;
        if p.max_tx_bytes < 256 {
            problems.push("params.max_tx_bytes must be at least 256".to_owned());
        }
        if p.max_block_txs == 0 {
            problems.push("params.max_block_txs must be at least 1".to_owned());
        }
        if p.max_block_bytes < u64::from(p.max_tx_bytes) {
            problems.push(
                "params.max_block_bytes must hold at least one largest transaction".to_owned(),
            );
        }
        if p.block_interval_ms == 0 {
            problems.push("params.block_interval_ms must be at least 1".to_owned());
        }
        if !EVM_VERSIONS.contains(&p.evm_version.as_str()) {
            problems.push(format!(
                "params.evm_version `{}` is not one of {}",
                p.evm_version,
                EVM_VERSIONS.join(", ")
            ));
        }
        if p.block_gas_limit < 21_000 {
            problems.push("params.block_gas_limit must fit one transaction (21000)".to_owned());
        }
        if p.consensus == ConsensusKind::Solo && self.validators.len() > 1 {
            problems.push("solo consensus takes exactly one validator".to_owned());
        }
        let mut node_keys: Vec<_> = self.nodes.iter().map(|n| &n.key).collect();
        if node_keys.iter().any(|k| k.scheme() != consortia_crypto::Scheme::Ed25519) {
            problems.push("node keys (TLS identities) must be Ed25519 keys".to_owned());
        }
        node_keys.sort();
        node_keys.dedup();
        if node_keys.len() != self.nodes.len() {
            problems.push("node keys must be distinct".to_owned());
        }
        if p.consensus == ConsensusKind::Bft && self.validators.len() < 4 {
            problems.push(
                "BFT consensus needs at least 4 validators (3f+1 tolerate f faulty ones)"
                    .to_owned(),
            );
        }
        self.validate_members(&mut problems);
        if p.governance_voting_ms == 0 {
            problems.push("params.governance_voting_ms must be above 0".to_owned());
        }
        if p.timeout_propose_ms == 0 || p.timeout_vote_ms == 0 {
            problems
                .push("params.timeout_propose_ms and timeout_vote_ms must be above 0".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TypesError::InvalidGenesis(problems.join("; ")))
        }
    }
}

impl Genesis {
    fn validate_members(&self, problems: &mut Vec<String>) {
        let mut ids: Vec<_> = self.members.iter().map(|m| m.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != self.members.len() {
            problems.push("member ids must be distinct".to_owned());
        }
        for member in &self.members {
            if member.id.is_empty() || member.id.len() > 64 {
                problems.push("a member id takes 1 to 64 bytes".to_owned());
            }
            if member.admins.is_empty() {
                problems.push(format!("member `{}` needs at least one admin account", member.id));
            }
        }
        let known = |name: &str| {
            self.validators.iter().any(|v| v.name == name)
                || self.nodes.iter().any(|n| n.name == name)
        };
        let mut owned: Vec<&str> =
            self.members.iter().flat_map(|m| m.nodes.iter()).map(String::as_str).collect();
        if let Some(unknown) = owned.iter().find(|n| !known(n)) {
            problems.push(format!("member node `{unknown}` is neither a validator nor a node"));
        }
        let count = owned.len();
        owned.sort();
        owned.dedup();
        if owned.len() != count {
            problems.push("a node belongs to one member at most".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create2_deployer_is_the_standard_one() {
        assert_eq!(
            hex::encode(CREATE2_DEPLOYER_CODE),
            "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe036016000816020823780\
             35828234f58015156039578182fd5b8082525050506014600cf3"
        );
        assert_eq!(
            Address(CREATE2_DEPLOYER).to_checksum_hex(),
            "0x4e59b44847b379578588920cA78FbF26c0B4956C"
        );
    }
}

mod hex_code {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(serde::de::Error::custom)
    }
}

mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
