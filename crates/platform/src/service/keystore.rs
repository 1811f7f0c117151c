//! The keystore's life: initialization (before the first start), unsealing by M share holders
//! one at a time, sealing, and rekeying to a new share set while the platform runs.

use std::sync::Arc;

use consortia_api::platform::{RekeyStatus, SealStatus};
use consortia_crypto::Aead;
use consortia_crypto::shamir::KeyShare;

use crate::credentials::TokenKey;
use crate::error::{Error, OpenError, Result};
use crate::keystore::{self, Keys, Sealing, cipher_name};
use crate::service::identity::Caller;
use crate::store::{self, keystore as ks_store};
use crate::{Platform, PlatformConfig, lock};

/// The keystore as this process holds it: the stored sealing, the keys while unsealed, and
/// the shares given so far towards an unseal or a rekey (kept only in memory, as Vault does).
#[derive(Debug)]
pub(crate) struct Vault {
    sealing: Sealing,
    keys: Option<Arc<Keys>>,
    unseal_shares: Vec<KeyShare>,
    rekey: Option<Rekey>,
}

#[derive(Debug)]
struct Rekey {
    nonce: String,
    shares: u8,
    threshold: u8,
    given: Vec<KeyShare>,
}

impl Vault {
    pub(crate) fn sealed(sealing: Sealing) -> Vault {
        Vault { sealing, keys: None, unseal_shares: vec![], rekey: None }
    }

    fn status(&self) -> SealStatus {
        SealStatus {
            sealed: self.keys.is_none(),
            threshold: self.sealing.threshold,
            shares: self.sealing.shares,
            progress: distinct(&self.unseal_shares),
            cipher: cipher_name(self.sealing.cipher).into(),
        }
    }
}

impl Rekey {
    /// `required`: the current set's threshold.
    fn status(&self, required: u8, new_shares: Vec<String>) -> RekeyStatus {
        RekeyStatus {
            nonce: self.nonce.clone(),
            progress: distinct(&self.given),
            required,
            shares: self.shares,
            threshold: self.threshold,
            complete: !new_shares.is_empty(),
            new_shares,
        }
    }
}

fn distinct(shares: &[KeyShare]) -> u8 {
    let mut seen: Vec<u8> = shares.iter().map(KeyShare::index).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() as u8
}

fn parse_share(text: &str) -> Result<KeyShare> {
    text.parse().map_err(|e: consortia_crypto::CryptoError| {
        Error::invalid("bad_share", e.to_string().trim_start_matches("key share: ").to_owned())
    })
}

fn sealed_error() -> Error {
    Error::Unavailable {
        code: "sealed",
        message: "the platform is sealed: M key holders must unseal it (`consortia platform \
                  unseal`, or the console's unseal screen)"
            .into(),
    }
}

/// Initializes the keystore of the platform `config` names, before its first start: a root
/// key split into `shares` of which `threshold` unseal, a data key under it, the token key
/// (the old `platform.key`, if there is one), and every private key already in the database
/// sealed. Returns the shares, to hand out once.
pub async fn initialize(
    config: &PlatformConfig,
    shares: u8,
    threshold: u8,
    cipher: Aead,
) -> std::result::Result<Vec<KeyShare>, OpenError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| OpenError(format!("{}: {e}", config.data_dir.display())))?;
    let db = store::open(&config.database_url()).await?;
    if ks_store::sealing(&db).await?.is_some() {
        return Err(OpenError(
            "the keystore is already initialized; to hand out new shares, rekey it \
             (`consortia platform rekey`)"
                .into(),
        ));
    }
    let legacy = config.data_dir.join("platform.key");
    let tokens = match std::fs::read(&legacy) {
        Ok(bytes) => TokenKey::from_bytes(&bytes).ok_or_else(|| {
            OpenError(format!("{} must hold 32 bytes; delete it", legacy.display()))
        })?,
        Err(_) => TokenKey::random(),
    };
    let made = keystore::initialize(shares, threshold, cipher, tokens)?;
    let mut tx = db.begin().await.map_err(Error::from)?;
    ks_store::insert_sealing(&mut tx, &made.sealing).await?;
    for (secret, value) in ks_store::secrets(&mut tx).await? {
        if !keystore::is_sealed(&value) {
            ks_store::set_secret(&mut tx, &secret, &made.keys.seal(&secret, &value)?).await?;
        }
    }
    tx.commit().await.map_err(Error::from)?;
    db.close().await;
    if legacy.exists() {
        std::fs::remove_file(&legacy)
            .map_err(|e| OpenError(format!("{}: {e}", legacy.display())))?;
    }
    Ok(made.shares)
}

impl Platform {
    /// The keys, or 503 `sealed`.
    pub fn keys(&self) -> Result<Arc<Keys>> {
        lock(&self.keystore).keys.clone().ok_or_else(sealed_error)
    }

    pub fn seal_status(&self) -> SealStatus {
        lock(&self.keystore).status()
    }

    /// Takes one share towards unsealing (or, with `reset`, forgets those given). The share
    /// that completes the threshold unseals: the platform then opens its hosts and starts the
    /// nodes that should run. Shares that do not open the keystore are all forgotten.
    pub async fn unseal(&self, share: Option<&str>, reset: bool) -> Result<SealStatus> {
        let share = share.map(parse_share).transpose()?;
        let unsealed = {
            let mut vault = lock(&self.keystore);
            if reset {
                vault.unseal_shares.clear();
            }
            let Some(share) = share else { return Ok(vault.status()) };
            if vault.keys.is_some() {
                return Ok(vault.status());
            }
            keystore::check_share(&vault.sealing, &share)?;
            vault.unseal_shares.push(share);
            if distinct(&vault.unseal_shares) < vault.sealing.threshold {
                return Ok(vault.status());
            }
            let given = std::mem::take(&mut vault.unseal_shares);
            let keys = keystore::unseal(&vault.sealing, &given)?;
            vault.keys = Some(Arc::new(keys));
            vault.status()
        };
        tracing::info!(target: "platform::keystore", "unsealed");
        self.after_unseal().await.map_err(|e| Error::internal(e.0))?;
        Ok(unsealed)
    }

    /// Unseals with shares at hand (`--unseal-file`), at open.
    pub(crate) async fn unseal_with(&self, shares: &[KeyShare]) -> Result<()> {
        {
            let mut vault = lock(&self.keystore);
            let keys = keystore::unseal(&vault.sealing, shares)?;
            vault.keys = Some(Arc::new(keys));
        }
        self.after_unseal().await.map_err(|e| Error::internal(e.0))
    }

    /// What the platform does once it has its keys: supervise its hosts' nodes again, start
    /// those that should run, undo a start a previous run left half done.
    async fn after_unseal(&self) -> std::result::Result<(), OpenError> {
        if self.node_program.is_some() {
            self.open_hosts().await?;
            self.reconcile().await?;
        }
        self.undo_interrupted_starts().await
    }

    /// Seals: the keys leave memory until M holders unseal again (platform administrators).
    pub fn seal(&self, caller: &Caller) -> Result<SealStatus> {
        if !caller.admin {
            return Err(Error::Forbidden("only a platform administrator may seal".into()));
        }
        let mut vault = lock(&self.keystore);
        vault.keys = None;
        vault.unseal_shares.clear();
        vault.rekey = None;
        tracing::warn!(target: "platform::keystore", by = %caller.username, "sealed");
        Ok(vault.status())
    }

    /// Begins a rekey to a new set of `shares` with `threshold` (platform administrators);
    /// holders of the current set then give their shares (`rekey_share`). A rekey begun
    /// earlier is replaced.
    pub fn begin_rekey(&self, caller: &Caller, shares: u8, threshold: u8) -> Result<RekeyStatus> {
        if !caller.admin {
            return Err(Error::Forbidden("only a platform administrator may rekey".into()));
        }
        if threshold == 0 || threshold > shares {
            return Err(Error::invalid(
                "bad_shares",
                format!("the threshold must be between 1 and the number of shares ({shares})"),
            ));
        }
        let mut vault = lock(&self.keystore);
        let rekey = Rekey { nonce: store::new_id("rekey"), shares, threshold, given: vec![] };
        let status = rekey.status(vault.sealing.threshold, vec![]);
        vault.rekey = Some(rekey);
        Ok(status)
    }

    /// Takes one current share towards the rekey `nonce`. The share that completes the
    /// current threshold replaces the share set (the data key, and so every sealed value,
    /// stays: no downtime) and the answer carries the new shares, this once.
    pub async fn rekey_share(&self, nonce: &str, share: &str) -> Result<RekeyStatus> {
        let share = parse_share(share)?;
        let (old, next, status) = {
            let mut vault = lock(&self.keystore);
            if vault.keys.is_none() {
                return Err(sealed_error());
            }
            keystore::check_share(&vault.sealing, &share)?;
            let threshold = vault.sealing.threshold;
            let mut rekey = match vault.rekey.take() {
                Some(r) if r.nonce == nonce => r,
                other => {
                    vault.rekey = other;
                    return Err(Error::NotFound(format!("no rekey {nonce} under way")));
                }
            };
            rekey.given.push(share);
            if distinct(&rekey.given) < threshold {
                let status = rekey.status(threshold, vec![]);
                vault.rekey = Some(rekey);
                return Ok(status);
            }
            let (next, shares) =
                keystore::rekey(&vault.sealing, &rekey.given, rekey.shares, rekey.threshold)?;
            let status = rekey.status(threshold, shares.iter().map(|s| s.to_string()).collect());
            (vault.sealing.set.clone(), next, status)
        };
        if !ks_store::replace_sealing(&self.db, &old, &next).await? {
            return Err(Error::conflict("rekeyed", "another rekey finished first"));
        }
        lock(&self.keystore).sealing = next;
        tracing::warn!(target: "platform::keystore", "rekeyed: the previous shares no longer unseal");
        Ok(status)
    }
}
