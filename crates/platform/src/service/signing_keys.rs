//! Managed signing keys of the contract gateway: secp256k1 accounts the platform keeps sealed
//! for a user of an organization (a person, or an application's service account), made,
//! listed, rotated, disabled and enabled through the API; and who signs a transaction (an
//! organization's own account, or such a key).

use consortia_api::platform::{
    ChainView, CreateSigningKeyRequest, SigningKeyVersionView, SigningKeyView,
};
use consortia_crypto::{PrivateKey, Scheme};
use zeroize::Zeroizing;

use super::check_name;
use super::identity::Caller;
use crate::Platform;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::contracts as contract_store;
use crate::store::gateway::{self as store, KeyRow, KeyVersionRow};

/// Who signs a transaction: an organization's own account or one of its managed keys.
pub(crate) struct Signer {
    pub org: String,
    /// The managed key (none: the organization's account).
    pub key_id: Option<String>,
    pub key: PrivateKey,
    /// The account, EIP-55.
    pub address: String,
}

fn key_secret(key: &str, version: i64) -> Secret {
    Secret::SigningKey { key: key.into(), version: version as u32 }
}

impl Platform {
    /// The organization's own account as a signer.
    pub(crate) async fn org_signer(&self, org: &str) -> Result<Signer> {
        let key = self.org_key(org).await?;
        let address = key.public_key().address().to_checksum_hex();
        Ok(Signer { org: org.into(), key_id: None, key, address })
    }

    /// The accounts of the chain's organizations (`0x` lower-case hex) and whose each is, as
    /// stored beside their sealed keys: naming an account (every explorer page) neither opens
    /// a key nor makes one; an organization that never signed has no account to name.
    pub(crate) async fn org_accounts(&self, chain: &ChainView) -> Result<Vec<(String, String)>> {
        let mut accounts = Vec::with_capacity(chain.orgs.len());
        for org in &chain.orgs {
            if let Some(address) = contract_store::org_address(&self.db, org).await? {
                accounts.push((address.to_ascii_lowercase(), org.clone()));
            }
        }
        Ok(accounts)
    }

    /// A new secp256k1 key, sealed for the key `id` at `version`: the account and the sealed
    /// PEM.
    fn new_sealed_key(&self, id: &str, version: i64) -> Result<(String, String)> {
        let key = PrivateKey::generate(Scheme::Secp256k1);
        let address = key.public_key().address().to_checksum_hex();
        let sealed =
            self.keys()?.seal(&key_secret(id, version), &Zeroizing::new(key.to_pkcs8_pem()))?;
        Ok((address, sealed))
    }

    async fn key_view(&self, row: KeyRow) -> Result<SigningKeyView> {
        let versions = store::versions(&self.db, &row.id).await?;
        let address = versions
            .iter()
            .find(|v| v.version == row.version)
            .map(|v| v.address.clone())
            .ok_or_else(|| {
                Error::internal(format!("key {} has no version {}", row.id, row.version))
            })?;
        Ok(SigningKeyView {
            id: row.id,
            org_id: row.org_id,
            name: row.name,
            owner_id: row.owner_id,
            enabled: row.enabled,
            version: row.version as u32,
            address,
            versions: versions
                .into_iter()
                .map(|v| SigningKeyVersionView {
                    version: v.version as u32,
                    address: v.address,
                    created_ms: v.created_ms,
                    retired_ms: v.retired_ms,
                })
                .collect(),
            created_ms: row.created_ms,
            updated_ms: row.updated_ms,
        })
    }

    /// A key of `org`, 404 if it has none by that id.
    async fn key_of_org(&self, org: &str, id: &str) -> Result<KeyRow> {
        store::key(&self.db, id)
            .await?
            .filter(|k| k.org_id == org)
            .ok_or_else(|| Error::NotFound(format!("organization {org} has no signing key {id}")))
    }

    /// 403 unless the caller owns the key or may do `action` on it.
    async fn authorize_key(&self, caller: &Caller, key: &KeyRow, action: &str) -> Result<()> {
        if key.owner_id == caller.user_id {
            return Ok(());
        }
        let resource = format!("org/{}/keys/{}", key.org_id, key.id);
        self.authorize(caller, &key.org_id, action, &resource).await
    }

    /// A new managed key of `org`, for the caller or (with `key:create`) another member.
    pub async fn create_signing_key(
        &self,
        caller: &Caller,
        org: &str,
        req: &CreateSigningKeyRequest,
    ) -> Result<SigningKeyView> {
        self.org_exists(org).await?;
        let name = check_name("signing key", &req.name)?;
        let owner = req.owner_id.clone().unwrap_or_else(|| caller.user_id.clone());
        if owner != caller.user_id || self.role_in(&caller.user_id, org).await?.is_none() {
            self.authorize(caller, org, "key:create", &format!("org/{org}/keys")).await?;
        }
        if self.role_in(&owner, org).await?.is_none() {
            return Err(Error::invalid(
                "not_a_member",
                format!("user {owner} is not a member of {org}: add them first"),
            ));
        }
        // The sealed key is bound to its row: the id comes first.
        let id = crate::store::new_id("key");
        let (address, sealed) = self.new_sealed_key(&id, 1)?;
        let mut tx = self.db.begin().await?;
        store::insert_key(&mut tx, &id, org, &owner, name, &address, &sealed).await.map_err(
            |e| e.duplicate_as("conflict", format!("{org} already has a signing key named {name}")),
        )?;
        tx.commit().await?;
        self.key_view(store::key(&self.db, &id).await?.ok_or_else(|| Error::internal("key gone"))?)
            .await
    }

    /// The organization's keys: all of them for those who may `key:list` there, else the
    /// caller's own.
    pub async fn signing_keys(&self, caller: &Caller, org: &str) -> Result<Vec<SigningKeyView>> {
        self.org_exists(org).await?;
        let all = self.may(caller, org, "key:list", &format!("org/{org}/keys")).await;
        if !all && self.role_in(&caller.user_id, org).await?.is_none() {
            return Err(Error::Forbidden(format!("you are not a member of {org}")));
        }
        let owner = (!all).then_some(caller.user_id.as_str());
        let mut views = vec![];
        for row in store::keys_of_org(&self.db, org, owner).await? {
            views.push(self.key_view(row).await?);
        }
        Ok(views)
    }

    pub async fn signing_key(
        &self,
        caller: &Caller,
        org: &str,
        id: &str,
    ) -> Result<SigningKeyView> {
        let key = self.key_of_org(org, id).await?;
        self.authorize_key(caller, &key, "key:get").await?;
        self.key_view(key).await
    }

    /// A new version of the key: a new account signs from now on; the old one never again.
    pub async fn rotate_signing_key(
        &self,
        caller: &Caller,
        org: &str,
        id: &str,
    ) -> Result<SigningKeyView> {
        let key = self.key_of_org(org, id).await?;
        self.authorize_key(caller, &key, "key:update").await?;
        let mut tx = self.db.begin().await?;
        let version = store::lock_key(&mut tx, &key.id).await? + 1;
        let (address, sealed) = self.new_sealed_key(&key.id, version)?;
        store::rotate(&mut tx, &key.id, version, &address, &sealed).await?;
        tx.commit().await?;
        self.key_view(self.key_of_org(org, id).await?).await
    }

    /// Disables or enables a key. Its owner may disable it; enabling needs `key:update` (an
    /// administrator may have disabled it for a reason).
    pub async fn set_signing_key_enabled(
        &self,
        caller: &Caller,
        org: &str,
        id: &str,
        enabled: bool,
    ) -> Result<SigningKeyView> {
        let key = self.key_of_org(org, id).await?;
        if enabled {
            let resource = format!("org/{org}/keys/{}", key.id);
            self.authorize(caller, org, "key:update", &resource).await?;
        } else {
            self.authorize_key(caller, &key, "key:update").await?;
        }
        store::set_key_enabled(&self.db, &key.id, enabled).await?;
        self.key_view(self.key_of_org(org, id).await?).await
    }

    /// Who signs a call on `chain`: the managed key named (id, or name among the chain's
    /// organizations) if the caller may use it and it is enabled, else the organization the
    /// caller acts for (`contract:invoke` there in either case).
    pub(crate) async fn signer_for(
        &self,
        caller: &Caller,
        chain: &ChainView,
        requested_org: Option<&str>,
        key: Option<&str>,
    ) -> Result<Signer> {
        let Some(wanted) = key else {
            let org = self
                .acting_on_chain(caller, chain, requested_org, "contract:invoke", "contracts")
                .await?;
            return self.org_signer(&org).await;
        };
        let mut found: Vec<KeyRow> = store::keys_named(&self.db, wanted)
            .await?
            .into_iter()
            .filter(|k| chain.orgs.contains(&k.org_id))
            .filter(|k| requested_org.is_none_or(|o| o == k.org_id))
            .collect();
        let key = match found.len() {
            0 => {
                return Err(Error::invalid(
                    "unknown_key",
                    format!(
                        "no signing key `{wanted}` in an organization of chain {}: see GET /v1/orgs/{{org}}/signing-keys",
                        chain.id
                    ),
                ));
            }
            1 => found.remove(0),
            _ => {
                return Err(Error::invalid(
                    "ambiguous_key",
                    format!(
                        "several organizations have a key named `{wanted}`: name it by id or give `org_id`"
                    ),
                ));
            }
        };
        self.authorize_key(caller, &key, "key:use").await?;
        self.authorize_in_chain(caller, &key.org_id, "contract:invoke", chain, "contracts").await?;
        if !key.enabled {
            return Err(Error::invalid(
                "key_disabled",
                format!(
                    "signing key {} ({}) is disabled; enable it or use another",
                    key.name, key.id
                ),
            ));
        }
        let version = store::versions(&self.db, &key.id)
            .await?
            .into_iter()
            .find(|v| v.version == key.version)
            .ok_or_else(|| {
                Error::internal(format!("key {} has no version {}", key.id, key.version))
            })?;
        self.open_version(&key.org_id, &key.id, version)
    }

    /// The version of a managed key that signs as `address` (also a retired one).
    pub(crate) async fn key_version_signer(
        &self,
        org: &str,
        key: &str,
        address: &str,
    ) -> Result<Signer> {
        let version = store::versions(&self.db, key)
            .await?
            .into_iter()
            .find(|v| v.address == address)
            .ok_or_else(|| Error::internal(format!("key {key} has no version for {address}")))?;
        self.open_version(org, key, version)
    }

    fn open_version(&self, org: &str, key: &str, version: KeyVersionRow) -> Result<Signer> {
        let pem = self.keys()?.open(&key_secret(key, version.version), &version.key_pem)?;
        let private = PrivateKey::from_pkcs8_pem(&pem).map_err(Error::internal)?;
        Ok(Signer {
            org: org.into(),
            key_id: Some(key.into()),
            key: private,
            address: version.address,
        })
    }
}
