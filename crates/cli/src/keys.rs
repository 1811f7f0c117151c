use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use consortia_crypto::{Address, PrivateKey, Scheme, Suite};
use consortia_types::{Genesis, GenesisAccount};

/// Writes `contents` to a new file readable only by its owner; never overwrites.
pub(crate) fn write_secret(path: &Path, contents: &str) -> Result<()> {
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(
            || format!("cannot create {} (does it exist already?)", path.display()),
        )?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

pub(crate) fn read_key(path: &Path) -> Result<PrivateKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    PrivateKey::from_pkcs8_pem(&pem).with_context(|| {
        format!("{} is not a PKCS#8 PEM key; make one with `consortia keygen`", path.display())
    })
}

pub(crate) fn keygen(scheme: Scheme, out: &Path) -> Result<()> {
    let key = PrivateKey::generate(scheme);
    write_secret(out, &key.to_pkcs8_pem())?;
    let address = key.public_key().address();
    println!("scheme:     {scheme}");
    println!("public key: {}", key.public_key());
    println!("address:    {address}");
    println!("base58:     {}", address.to_base58());
    println!("written to: {}", out.display());
    Ok(())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Funded genesis accounts from `--account ADDRESS=BALANCE` flags (balance in wei).
pub(crate) fn parse_accounts(specs: &[String]) -> Result<Vec<GenesisAccount>> {
    specs
        .iter()
        .map(|spec| {
            let Some((address, balance)) = spec.split_once('=') else {
                bail!("--account `{spec}`: expected ADDRESS=BALANCE");
            };
            let address: Address =
                address.parse().with_context(|| format!("--account `{spec}`"))?;
            let balance: u128 =
                balance.parse().with_context(|| format!("--account `{spec}`: balance"))?;
            Ok(GenesisAccount::funded(address, balance))
        })
        .collect()
}

pub(crate) fn genesis_new(
    chain_id: u64,
    name: String,
    suite: Suite,
    validator_key: &Path,
    accounts: &[String],
    out: &Path,
) -> Result<()> {
    let key = read_key(validator_key)?;
    let mut genesis = Genesis::solo(chain_id, name, suite, key.public_key(), now_ms());
    genesis.accounts.extend(parse_accounts(accounts)?);
    genesis.validate()?;
    if out.exists() {
        bail!("{} exists already; choose another --out", out.display());
    }
    std::fs::write(out, serde_json::to_string_pretty(&genesis)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("genesis hash: {}", genesis.hash());
    println!("written to:   {}", out.display());
    Ok(())
}
