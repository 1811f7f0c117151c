//! `consortia notary verify`: checks a notarization certificate (its PDF, or the bundle's JSON)
//! offline, trusting no server.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use consortia_api::notary_proof::{bundle_from_bytes, verify_bundle};
use consortia_types::Genesis;

use crate::client::hash_file;

#[derive(Debug, Subcommand)]
pub(crate) enum NotaryCommand {
    /// Check a record's certificate (the PDF, or its proof.json): every header certified by the
    /// validator set in force from the genesis on, and the record proven in the state of the
    /// last one.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The certificate (PDF) or proof bundle (JSON).
    bundle: PathBuf,
    /// The chain's genesis file: its validators must be where the bundle starts (without it,
    /// the bundle proves only that it agrees with the validators it names).
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// A document: its hash must be the record's content hash.
    #[arg(long)]
    file: Option<PathBuf>,
}

pub(crate) fn run(command: NotaryCommand) -> Result<()> {
    match command {
        NotaryCommand::Verify(args) => verify(&args),
    }
}

fn verify(args: &VerifyArgs) -> Result<()> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let bundle = bundle_from_bytes(&bytes).with_context(|| args.bundle.display().to_string())?;
    let genesis = args
        .genesis
        .as_ref()
        .map(|path| -> Result<Genesis> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read genesis {}", path.display()))?;
            let genesis: Genesis = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a genesis file", path.display()))?;
            if genesis.chain_id != bundle.chain_id {
                bail!(
                    "the bundle is of chain {}, the genesis of chain {}",
                    bundle.chain_id,
                    genesis.chain_id
                );
            }
            Ok(genesis)
        })
        .transpose()?;
    let proven = verify_bundle(&bundle, genesis.as_ref().map(|g| g.validators.as_slice()))
        .context("NOT VERIFIED")?;
    let record = &proven.record;
    println!(
        "verified: record `{}` is in the state of block {} of chain {}",
        record.id, proven.height, bundle.chain_id
    );
    println!("  content hash   {}", record.content_hash);
    println!("  owner          {}", record.owner.to_checksum_hex());
    println!("  notarized      block {}, transaction {}", record.height, record.tx_hash);
    println!("  state root     {}", proven.state_root);
    println!(
        "  certified by   {} validators (the set changed {} times since the genesis)",
        proven.validators.len(),
        proven.set_changes
    );
    match &args.genesis {
        Some(path) => println!("  trust          anchored in the genesis {}", path.display()),
        None => println!(
            "  trust          the bundle's own genesis validators: pass --genesis FILE to anchor them"
        ),
    }
    if let Some(path) = &args.file {
        let actual = hash_file(path, bundle.suite.hash())?;
        if actual != record.content_hash {
            bail!(
                "NOT THE DOCUMENT: {} hashes to {actual}, the record holds {}",
                path.display(),
                record.content_hash
            );
        }
        println!("  document       {} matches the content hash", path.display());
    }
    Ok(())
}
