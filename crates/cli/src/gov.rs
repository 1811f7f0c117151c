//! `consortia gov`: the chain's on-chain governance from the command line. Writes are
//! transactions to the governance contract (`contracts/system/IGovernance.sol`) signed with a
//! member admin's key; reads come from a node's REST API (`/v1/governance/…`).

use std::path::{Path, PathBuf};

use alloy_sol_types::SolCall;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use consortia_api::NodeClient;
use consortia_api::node::{ProposalView, ProposalsQuery, SimulateRequest};
use consortia_crypto::{Address, Hash, PrivateKey, PublicKey};
use consortia_execution::governance::{self, IGovernance, Kind, Param, Rule};

use crate::client::DEFAULT_NODE;
use crate::keys::read_key;

/// Gas a governance call may use: far above what any takes (50,000 plus 16 per byte stored).
const GAS: u64 = 5_000_000;

#[derive(Debug, Subcommand)]
pub(crate) enum GovCommand {
    /// Propose a change (your organization's approval counts with it).
    Propose {
        #[command(flatten)]
        signer: Signer,
        #[command(subcommand)]
        change: Change,
    },
    /// Vote for a proposal (or against it, with --reject), once per organization.
    Vote {
        #[command(flatten)]
        signer: Signer,
        id: u64,
        #[arg(long)]
        reject: bool,
    },
    /// Cancel an open proposal you made.
    Cancel {
        #[command(flatten)]
        signer: Signer,
        id: u64,
    },
    /// List proposals, newest first (open ones only with --open).
    List {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
        #[arg(long)]
        open: bool,
    },
    /// Show a proposal: what it changes, its votes, its policy.
    Show {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
        id: u64,
    },
    /// The member organizations and the node list.
    Members {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
    },
    /// The validator set of a height (default: the next one).
    Validators {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
        #[arg(long)]
        height: Option<u64>,
    },
    /// The chain parameters governance keeps (deploy policy, block gas limit, voting period).
    Params {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
    },
    /// A contract's status (active, frozen, revoked), code and upgrades.
    Contract {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
        address: String,
    },
    /// Dry-run a deployment or a call on the latest state: its result, gas, events, the
    /// contract it would create and the init code hash an approval must name. Nothing is kept.
    Simulate {
        #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
        node: String,
        /// Init code (or calldata with --to): a file of hex or raw bytes, or `0x…` inline.
        #[arg(long)]
        data: String,
        /// The contract to call; without it, `--data` is deployed.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        from: Option<String>,
    },
}

/// Who signs, and where to send it.
#[derive(Debug, Args)]
pub(crate) struct Signer {
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// The private key (PKCS#8 PEM) of an admin account of a member organization.
    #[arg(long)]
    key: PathBuf,
    /// Give up waiting for the commit after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Change {
    /// Add a member organization.
    AddMember {
        #[arg(long)]
        org: String,
        /// An admin account's address (repeatable): any one casts the organization's vote.
        #[arg(long = "admin", required = true)]
        admins: Vec<String>,
        /// The PEM certificate of the organization's CA.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Remove a member organization (it must run no nodes any more).
    RemoveMember {
        #[arg(long)]
        org: String,
    },
    /// Add a node: give its directory (`node.toml` with its keys), or its name and keys.
    AddNode {
        /// The new node's directory (`consortia net add-node` or the platform makes one): its
        /// name, consensus key and TLS key are read from it.
        #[arg(long, conflicts_with_all = ["name", "consensus_key", "tls_key"])]
        node_dir: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// The member organization that runs it.
        #[arg(long)]
        org: String,
        /// Voting power (0: an observer).
        #[arg(long, default_value_t = 1)]
        power: u64,
        /// `scheme:base64`, as in genesis files.
        #[arg(long)]
        consensus_key: Option<String>,
        /// The Ed25519 key of its TLS certificate, `ed25519:base64`.
        #[arg(long)]
        tls_key: Option<String>,
    },
    /// Remove a node: it stops signing two blocks after the deciding one, then is disconnected.
    RemoveNode {
        #[arg(long)]
        name: String,
    },
    /// Set a node's voting power (0 makes a validator an observer).
    SetPower {
        #[arg(long)]
        name: String,
        #[arg(long)]
        power: u64,
    },
    /// Set the policy that decides proposals of a kind.
    SetPolicy {
        /// add-member, remove-member, add-node, remove-node, set-power, set-policy,
        /// approve-code, upgrade, freeze, unfreeze, revoke or set-parameter.
        #[arg(long)]
        kind: String,
        /// majority, two-thirds, unanimous, n-of-m or leader-only.
        #[arg(long)]
        rule: String,
        /// For n-of-m.
        #[arg(long, default_value_t = 0)]
        n: u32,
        /// For leader-only: the member that decides alone.
        #[arg(long, default_value = "")]
        leader: String,
    },
    /// Approve init code for deployment (on chains whose deploy policy is `approved`).
    ApproveCode {
        /// The init code: a file of hex or raw bytes, or `0x…` inline (its keccak-256 hash is
        /// what gets approved; `consortia gov simulate` shows it).
        #[arg(long, conflicts_with = "code_hash", required_unless_present = "code_hash")]
        init_code: Option<String>,
        /// The keccak-256 hash of the init code, `0x…`.
        #[arg(long)]
        code_hash: Option<String>,
        /// A name for people (e.g. `token v2`).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Give a contract the code another deployed contract runs, keeping its address and state.
    Upgrade {
        #[arg(long)]
        contract: String,
        /// A deployed contract whose code the upgraded one runs from then on.
        #[arg(long)]
        implementation: String,
    },
    /// Freeze a contract: its calls revert until it is unfrozen.
    Freeze {
        #[arg(long)]
        contract: String,
    },
    /// Unfreeze a frozen contract.
    Unfreeze {
        #[arg(long)]
        contract: String,
    },
    /// Revoke a contract for good: its calls revert, and it can be neither unfrozen nor
    /// upgraded.
    Revoke {
        #[arg(long)]
        contract: String,
    },
    /// Set a chain parameter: deploy-policy (open or approved), block-gas-limit,
    /// max-block-txs, max-block-bytes, block-interval-ms, empty-block-interval-ms,
    /// timeout-propose-ms, timeout-vote-ms, timeout-delta-ms or governance-voting-ms.
    SetParameter {
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: String,
    },
    /// Replace a member organization's CA. Its nodes and clients need certificates and
    /// credentials of the new CA before the overlap ends (the platform's rotation, `consortia
    /// consortium rotate-ca`, reissues its nodes' certificates itself).
    RotateCa {
        #[arg(long)]
        org: String,
        /// The PEM certificate of the new CA.
        #[arg(long)]
        ca_cert: PathBuf,
        /// How long the replaced CA stays trusted beside the new one, by block time: `90s`,
        /// `30m`, `24h`, `7d` (at most 90 days), or `0` to distrust it at once (a compromised
        /// key).
        #[arg(long, value_parser = parse_overlap)]
        overlap: u64,
    },
}

/// A duration of whole seconds, minutes, hours or days (`90s`, `30m`, `24h`, `7d`, `0`), in ms.
pub(crate) fn parse_overlap(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{text}`: give a number and s, m, h or d (`24h`), or 0")),
    };
    let n: u64 = number.parse().map_err(|_| format!("`{text}`: `{number}` is not a number"))?;
    n.checked_mul(unit_ms).ok_or_else(|| format!("`{text}` is too long"))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Bytes given as `0x…` inline, or a file holding hex (solc's output) or raw bytes.
fn read_bytes(arg: &str) -> Result<Vec<u8>> {
    if let Some(hex) = arg.strip_prefix("0x") {
        return hex::decode(hex).context("inline bytes are 0x and hex digits");
    }
    let raw = std::fs::read(arg).with_context(|| format!("cannot read {arg}"))?;
    let text = String::from_utf8_lossy(&raw);
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(digits)
            .with_context(|| format!("{arg} holds an odd number of hex digits"));
    }
    Ok(raw)
}

fn contract_address(text: &str) -> Result<alloy_primitives::Address> {
    let address: Address =
        text.parse().with_context(|| format!("`{text}` is not an address (0x + 40 hex digits)"))?;
    Ok(address.0.into())
}

/// A node directory's name, consensus key (if a validator) and TLS key.
pub(crate) fn node_identity(dir: &Path) -> Result<(String, Option<PublicKey>, PublicKey)> {
    let file = crate::node::read_node_file(&dir.join("node.toml"))?;
    let consensus = file.validator_key.as_deref().map(read_key).transpose()?;
    let tls = read_key(&file.p2p.key)?;
    Ok((file.name, consensus.map(|k| k.public_key()), tls.public_key()))
}

fn call_data(change: Change) -> Result<Vec<u8>> {
    Ok(match change {
        Change::AddMember { org, admins, ca_cert } => {
            let admins = admins
                .iter()
                .map(|a| a.parse::<Address>().map(|a| a.0.into()))
                .collect::<Result<Vec<_>, _>>()
                .context("--admin takes an account address (0x + 40 hex digits)")?;
            let ca_cert = ca_cert.as_deref().map(read_text).transpose()?.unwrap_or_default();
            IGovernance::proposeAddMemberCall { org, admins, caCert: ca_cert }.abi_encode()
        }
        Change::RemoveMember { org } => IGovernance::proposeRemoveMemberCall { org }.abi_encode(),
        Change::AddNode { node_dir, name, org, power, consensus_key, tls_key } => {
            let (name, consensus_key, tls_key) = match node_dir {
                Some(dir) => {
                    let (name, consensus, tls) = node_identity(&dir)?;
                    let consensus = consensus.map(|k| k.to_base64()).unwrap_or_default();
                    (name, consensus, tls.to_base64())
                }
                None => (
                    name.context("give --node-dir DIR, or --name with the node's keys")?,
                    consensus_key.unwrap_or_default(),
                    tls_key.unwrap_or_default(),
                ),
            };
            let power = if consensus_key.is_empty() { 0 } else { power };
            add_node_call(name, org, consensus_key, power, tls_key)
        }
        Change::RemoveNode { name } => IGovernance::proposeRemoveNodeCall { name }.abi_encode(),
        Change::SetPower { name, power } => {
            IGovernance::proposeSetPowerCall { name, power }.abi_encode()
        }
        Change::SetPolicy { kind, rule, n, leader } => {
            let kind = Kind::from_name(&kind)
                .with_context(|| format!("--kind `{kind}` is not a proposal kind"))?;
            let rule = Rule::from_name(&rule).with_context(|| {
                format!(
                    "--rule `{rule}`: choose majority, two-thirds, unanimous, n-of-m or leader-only"
                )
            })?;
            IGovernance::proposeSetPolicyCall { kind: kind as u8, rule: rule as u8, n, leader }
                .abi_encode()
        }
        Change::ApproveCode { init_code, code_hash, label } => {
            let hash = match (init_code, code_hash) {
                (Some(init), _) => governance::init_code_hash(&read_bytes(&init)?),
                (None, Some(hash)) => Hash::from_hex(&hash)
                    .with_context(|| format!("--code-hash `{hash}` is not 32 bytes of hex"))?,
                (None, None) => bail!("give --init-code FILE or --code-hash HASH"),
            };
            IGovernance::proposeApproveCodeCall { codeHash: hash.0.into(), label }.abi_encode()
        }
        Change::Upgrade { contract, implementation } => IGovernance::proposeUpgradeCall {
            target: contract_address(&contract)?,
            implementation: contract_address(&implementation)?,
        }
        .abi_encode(),
        Change::Freeze { contract } => {
            IGovernance::proposeFreezeCall { target: contract_address(&contract)? }.abi_encode()
        }
        Change::Unfreeze { contract } => {
            IGovernance::proposeUnfreezeCall { target: contract_address(&contract)? }.abi_encode()
        }
        Change::Revoke { contract } => {
            IGovernance::proposeRevokeCall { target: contract_address(&contract)? }.abi_encode()
        }
        Change::SetParameter { name, value } => {
            let param = Param::from_name(&name).with_context(|| {
                let names: Vec<&str> = Param::ALL.iter().map(|p| p.name()).collect();
                format!("--name `{name}`: choose one of {}", names.join(", "))
            })?;
            let value = match (param, value.as_str()) {
                (Param::DeployPolicy, "open") => 0,
                (Param::DeployPolicy, "approved") => 1,
                (_, v) => v.parse().with_context(|| {
                    format!(
                        "--value `{v}` is not a number (deploy-policy also takes open or approved)"
                    )
                })?,
            };
            IGovernance::proposeSetParameterCall { name: param.name().into(), value }.abi_encode()
        }
        Change::RotateCa { org, ca_cert, overlap } => IGovernance::proposeRotateMemberCaCall {
            org,
            caCert: read_text(&ca_cert)?,
            overlapMs: overlap,
        }
        .abi_encode(),
    })
}

pub(crate) fn add_node_call(
    name: String,
    org: String,
    consensus_key: String,
    power: u64,
    tls_key: String,
) -> Vec<u8> {
    IGovernance::proposeAddNodeCall {
        name,
        org,
        consensusKey: consensus_key,
        power,
        tlsKey: tls_key,
    }
    .abi_encode()
}

/// Sends a call to the governance contract signed with `key` and returns its output; a
/// refused call is an error carrying the contract's reason.
pub(crate) async fn call(
    client: &NodeClient,
    key: &PrivateKey,
    input: Vec<u8>,
    timeout_s: u64,
) -> Result<Vec<u8>> {
    let to = governance::ADDRESS;
    Ok(crate::client::call_contract(client, key, to, input, GAS, timeout_s).await?.0)
}

/// Proposes and returns the new proposal's id.
pub(crate) async fn propose(
    client: &NodeClient,
    key: &PrivateKey,
    input: Vec<u8>,
    timeout_s: u64,
) -> Result<u64> {
    let output = call(client, key, input, timeout_s).await?;
    // Every propose function returns the id the same way.
    IGovernance::proposeRemoveNodeCall::abi_decode_returns(&output).context("a proposal id")
}

/// Votes for (or against) proposal `id`.
pub(crate) async fn vote(
    client: &NodeClient,
    key: &PrivateKey,
    id: u64,
    approve: bool,
    timeout_s: u64,
) -> Result<()> {
    call(client, key, IGovernance::voteCall { id, approve }.abi_encode(), timeout_s).await?;
    Ok(())
}

fn print_proposal(p: &ProposalView) {
    let votes: Vec<String> = p
        .votes
        .iter()
        .map(|v| format!("{} {}", v.org, if v.approve { "yes" } else { "no" }))
        .collect();
    println!(
        "#{} {} [{}] by {}: {} approvals, {} needed ({}); votes: {}",
        p.id,
        p.summary,
        p.status,
        p.org,
        p.votes.iter().filter(|v| v.approve).count(),
        p.approvals_needed,
        p.policy.rule,
        votes.join(", ")
    );
    if let Some(failure) = &p.failure {
        println!("   failed: {failure}");
    }
}

pub(crate) async fn run(command: GovCommand) -> Result<()> {
    match command {
        GovCommand::Propose { signer, change } => {
            let client = crate::client::node_client(&signer.node)?;
            let key = read_key(&signer.key)?;
            let id = propose(&client, &key, call_data(change)?, signer.timeout).await?;
            print_proposal(&client.proposal(id).await?);
        }
        GovCommand::Vote { signer, id, reject } => {
            let client = crate::client::node_client(&signer.node)?;
            let key = read_key(&signer.key)?;
            vote(&client, &key, id, !reject, signer.timeout).await?;
            print_proposal(&client.proposal(id).await?);
        }
        GovCommand::Cancel { signer, id } => {
            let client = crate::client::node_client(&signer.node)?;
            let key = read_key(&signer.key)?;
            call(&client, &key, IGovernance::cancelCall { id }.abi_encode(), signer.timeout)
                .await?;
            print_proposal(&client.proposal(id).await?);
        }
        GovCommand::List { node, open } => {
            let status = open.then(|| "open".to_owned());
            let query = ProposalsQuery { status, ..Default::default() };
            let list = crate::client::node_client(&node)?.proposals(&query).await?;
            if list.proposals.is_empty() {
                println!(
                    "no {}proposals ({} made in all)",
                    if open { "open " } else { "" },
                    list.total
                );
            }
            for p in &list.proposals {
                print_proposal(p);
            }
        }
        GovCommand::Show { node, id } => {
            let p = crate::client::node_client(&node)?.proposal(id).await?;
            println!("{}", serde_json::to_string_pretty(&p)?);
        }
        GovCommand::Members { node } => {
            let client = crate::client::node_client(&node)?;
            let members = client.members().await?;
            let nodes = client.governance_nodes().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "members": members, "nodes": nodes })
                )?
            );
        }
        GovCommand::Validators { node, height } => {
            let set = crate::client::node_client(&node)?.validators(height).await?;
            println!("{}", serde_json::to_string_pretty(&set)?);
        }
        GovCommand::Params { node } => {
            let params = crate::client::node_client(&node)?.params().await?;
            println!("{}", serde_json::to_string_pretty(&params)?);
        }
        GovCommand::Contract { node, address } => {
            let status = crate::client::node_client(&node)?.contract_status(&address).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        GovCommand::Simulate { node, data, to, from } => {
            let request = SimulateRequest {
                from,
                to,
                data: format!("0x{}", hex::encode(read_bytes(&data)?)),
                ..Default::default()
            };
            let simulation = crate::client::node_client(&node)?.simulate(&request).await?;
            println!("{}", serde_json::to_string_pretty(&simulation)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_overlap;

    #[test]
    fn an_overlap_takes_a_unit_or_zero() {
        assert_eq!(parse_overlap("90s"), Ok(90_000));
        assert_eq!(parse_overlap("30m"), Ok(1_800_000));
        assert_eq!(parse_overlap("24h"), Ok(86_400_000));
        assert_eq!(parse_overlap("7d"), Ok(604_800_000));
        assert_eq!(parse_overlap("0"), Ok(0));
    }

    #[test]
    fn an_overlap_without_a_unit_or_number_is_refused_with_the_forms_it_takes() {
        assert!(parse_overlap("24").unwrap_err().contains("s, m, h or d"));
        assert!(parse_overlap("xh").unwrap_err().contains("is not a number"));
        assert!(parse_overlap("").is_err());
    }
}
