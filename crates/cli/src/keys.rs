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

pub(crate) use consortia_types::config::KEY_PASSPHRASE_ENV as PASSPHRASE_ENV;

/// A private key file: PKCS#8 PEM, or encrypted PKCS#8 opened with the passphrase in
/// `CONSORTIA_KEY_PASSPHRASE`.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKey> {
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    let passphrase = passphrase_for(path, &pem)?;
    PrivateKey::from_pem(&pem, passphrase.as_deref().map(|p| p.as_str())).with_context(|| {
        if passphrase.is_some() {
            format!("{} does not open with the passphrase in {PASSPHRASE_ENV}", path.display())
        } else {
            format!("{} is not a PKCS#8 PEM key; make one with `consortia keygen`", path.display())
        }
    })
}

/// A private key file as clear PKCS#8 PEM in memory (TLS takes PEM), decrypted if it is
/// encrypted.
pub(crate) fn read_key_pem(path: &Path) -> Result<zeroize::Zeroizing<String>> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    if !consortia_crypto::is_encrypted_pem(&pem) {
        return Ok(zeroize::Zeroizing::new(pem));
    }
    Ok(zeroize::Zeroizing::new(read_key(path)?.to_pkcs8_pem()))
}

/// The passphrase an encrypted key needs, from the environment.
fn passphrase_for(path: &Path, pem: &str) -> Result<Option<zeroize::Zeroizing<String>>> {
    if !consortia_crypto::is_encrypted_pem(pem) {
        return Ok(None);
    }
    match std::env::var(PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => Ok(Some(zeroize::Zeroizing::new(p))),
        _ => bail!("{} is encrypted: set {PASSPHRASE_ENV} to its passphrase", path.display()),
    }
}

/// Writes a new key to `out` (0600): encrypted under the passphrase in
/// `CONSORTIA_KEY_PASSPHRASE` with `encrypt`.
pub(crate) fn keygen(scheme: Scheme, out: &Path, encrypt: bool) -> Result<()> {
    let key = PrivateKey::generate(scheme);
    let pem = if encrypt {
        let passphrase = std::env::var(PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .with_context(|| format!("--encrypt takes the passphrase from {PASSPHRASE_ENV}"))?;
        key.to_encrypted_pem(&passphrase)?
    } else {
        key.to_pkcs8_pem()
    };
    write_secret(out, &pem)?;
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
