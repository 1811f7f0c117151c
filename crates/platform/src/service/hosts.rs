//! Hosts: where an organization's nodes run, and the driver the platform reaches each through.

use std::sync::Arc;

use consortia_api::platform::{CreateHostRequest, HostView};
use consortia_hosts::{HostDriver, HostError};

use super::check_name;
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::store::chains as store;
use crate::{OpenError, Platform, lock};

/// A host's failure as the domain sees it: an unknown node is 404, anything else the host's
/// own failure (502 `host_failed`).
pub(crate) fn host_error(e: HostError) -> Error {
    match e {
        HostError::UnknownNode(_) => Error::NotFound(e.to_string()),
        other => Error::Upstream { code: "host_failed", message: other.to_string() },
    }
}

impl Platform {
    /// The driver of a host (all hosts are local processes of this machine for now).
    pub(crate) fn driver(&self, host: &str) -> Result<Arc<dyn HostDriver>> {
        let mut hosts = lock(&self.hosts);
        if let Some(d) = hosts.get(host) {
            return Ok(d.clone());
        }
        let program = self.node_program.as_deref().ok_or_else(|| Error::Unavailable {
            code: "no_node_program",
            message:
                "this platform was started without a node program; run it as `consortia platform`"
                    .into(),
        })?;
        let root = self.data_dir.join("hosts").join(host);
        let driver = consortia_hosts::local::LocalDriver::open(&root, program)
            .map_err(|e| Error::internal(format!("host {host}: {e}")))?;
        let driver: Arc<dyn HostDriver> = Arc::new(driver);
        hosts.insert(host.to_owned(), driver.clone());
        Ok(driver)
    }

    /// Opens every host's driver, so nodes still running from before are supervised again.
    pub(crate) async fn open_hosts(&self) -> std::result::Result<(), OpenError> {
        for host in store::host_ids(&self.db).await? {
            self.driver(&host).map_err(|e| OpenError(format!("host {host}: {e}")))?;
        }
        Ok(())
    }

    /// Registers a host of an organization.
    pub async fn create_host(&self, caller: &Caller, req: &CreateHostRequest) -> Result<HostView> {
        let name = check_name("host", &req.name)?;
        self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}/hosts", req.org_id);
        self.authorize(caller, &req.org_id, "host:create", &resource).await?;
        let address = req.address.clone().unwrap_or_else(|| "127.0.0.1".into());
        if address.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid("bad_address", format!("`{address}` is not an IP address")));
        }
        store::insert_host(&self.db, &req.org_id, name, req.kind, &address).await.map_err(|e| {
            e.duplicate_as("conflict", format!("{} already has a host {name}", req.org_id))
        })
    }

    /// The hosts of the caller's organizations.
    pub async fn hosts(&self, caller: &Caller) -> Result<Vec<HostView>> {
        store::hosts_for(&self.db, &caller.user_id, caller.admin).await
    }
}
