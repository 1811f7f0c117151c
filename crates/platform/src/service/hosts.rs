//! Hosts: where an organization's nodes run, and the driver the platform reaches each through.

use std::sync::Arc;

use std::path::Path;

use consortia_api::platform::{
    CreateHostRequest, HostCheckView, HostKind, HostKubernetesView, HostNetwork, HostView,
};
use consortia_hosts::docker::{self, DockerDriver, Engine, Networking, TlsIdentity};
use consortia_hosts::kubernetes::Cluster;
use consortia_hosts::local::LocalDriver;
use consortia_hosts::{HostDriver, HostError, KubernetesDriver};

use super::check_name;
use super::identity::Caller;
use crate::error::{Error, Result};
use crate::keystore::Secret;
use crate::store::chains::{self as store, NewHost};
use crate::store::keystore as ks_store;
use crate::{OpenError, Platform, lock};

/// A host's failure as the domain sees it: an unknown node is 404, anything else the host's
/// own failure (502 `host_failed`).
pub(crate) fn host_error(e: HostError) -> Error {
    match e {
        HostError::UnknownNode(_) => Error::NotFound(e.to_string()),
        other => Error::Upstream { code: "host_failed", message: other.to_string() },
    }
}

/// The TLS credentials a request gives for a Docker Engine: required for a TCP endpoint (400
/// `tls_required`), refused for a socket (400 `bad_endpoint`), and checked to parse (400
/// `bad_tls`).
fn engine_tls(req: &CreateHostRequest) -> Result<Option<TlsIdentity>> {
    let endpoint = req.endpoint.as_deref().unwrap_or_default();
    let Some(tls) = &req.tls else {
        if Engine::is_remote(endpoint) {
            return Err(Error::invalid(
                "tls_required",
                format!(
                    "{endpoint} is reached over TCP, which takes mutual TLS: give `tls` (the engine's CA, a client certificate it trusts and its key: Docker's ca.pem, cert.pem, key.pem)"
                ),
            ));
        }
        return Ok(None);
    };
    if !Engine::is_remote(endpoint) {
        return Err(Error::invalid(
            "bad_endpoint",
            "TLS is for an engine reached over TCP (`tcp://host:2376`), not a local socket",
        ));
    }
    let identity = TlsIdentity {
        ca_pem: tls.ca_cert_pem.clone(),
        cert_pem: tls.cert_pem.clone(),
        key_pem: tls.key_pem.clone(),
    };
    Engine::check_tls(&identity)
        .map_err(|e| Error::invalid("bad_tls", format!("the TLS credentials: {e}")))?;
    Ok(Some(identity))
}

/// The Docker driver's networking for a host's.
fn networking(network: HostNetwork) -> Networking {
    match network {
        HostNetwork::Bridge => Networking::Bridge,
        HostNetwork::Host | HostNetwork::Cluster => Networking::Host,
    }
}

/// The size of a Kubernetes node's data volume when none is asked for, in GiB.
const DEFAULT_STORAGE_GIB: u32 = 10;

/// How a Kubernetes host runs nodes, as asked (400 `kubernetes_required`, `bad_image`,
/// `bad_storage` when it does not do).
fn kubernetes_view(req: &CreateHostRequest) -> Result<HostKubernetesView> {
    let Some(k) = &req.kubernetes else {
        return Err(Error::invalid(
            "kubernetes_required",
            "a kubernetes host needs `kubernetes`: the `image_repository` its cluster pulls node images from, and the `kubeconfig` that reaches it",
        ));
    };
    let repository = k.image_repository.trim();
    let tagged = repository.rsplit_once(':').is_some_and(|(_, tag)| !tag.contains('/'));
    if repository.is_empty()
        || repository.contains(char::is_whitespace)
        || tagged
        || repository.contains('@')
    {
        return Err(Error::invalid(
            "bad_image",
            format!(
                "`{repository}` is not an image repository: give one without a tag (`registry.example/consortia-node`); each node runs the tag of its build"
            ),
        ));
    }
    let storage_gib = k.storage_gib.unwrap_or(DEFAULT_STORAGE_GIB);
    if !(1..=65536).contains(&storage_gib) {
        return Err(Error::invalid("bad_storage", "storage_gib is 1 to 65536"));
    }
    Ok(HostKubernetesView {
        image_repository: repository.to_owned(),
        storage_class: k.storage_class.clone().filter(|c| !c.is_empty()),
        storage_gib,
    })
}

/// The driver's view of a cluster.
fn cluster(view: &HostKubernetesView) -> Cluster {
    Cluster {
        repository: view.image_repository.clone(),
        storage_class: view.storage_class.clone(),
        storage_bytes: u64::from(view.storage_gib) << 30,
    }
}

/// 502 `host_unreachable`: the host `name`'s engine did not answer.
fn unreachable_host(name: &str, e: HostError) -> Error {
    Error::Upstream { code: "host_unreachable", message: format!("host {name}: {e}") }
}

impl Platform {
    /// The driver of a host, made on first use from its row: local processes of this
    /// machine, containers of a Docker Engine, or Deployments of a Kubernetes cluster.
    pub(crate) async fn driver(&self, host: &str) -> Result<Arc<dyn HostDriver>> {
        if let Some(d) = lock(&self.hosts).get(host) {
            return Ok(d.clone());
        }
        let view = store::host(&self.db, host)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no host {host}")))?;
        let driver = self.make_driver(&view).await?;
        Ok(lock(&self.hosts).entry(host.to_owned()).or_insert(driver).clone())
    }

    async fn make_driver(&self, host: &HostView) -> Result<Arc<dyn HostDriver>> {
        let program = self.node_program.as_deref().ok_or_else(|| Error::Unavailable {
            code: "no_node_program",
            message:
                "this platform was started without a node program; run it as `consortia platform`"
                    .into(),
        })?;
        let failed = |e: HostError| Error::internal(format!("host {}: {e}", host.id));
        Ok(match host.kind {
            HostKind::Local => {
                let root = self.data_dir.join("hosts").join(&host.id);
                Arc::new(LocalDriver::open(&root, program).map_err(failed)?)
            }
            HostKind::Docker => {
                let tls = match store::host_tls(&self.db, &host.id).await? {
                    Some((ca_pem, cert_pem, sealed)) => {
                        let cell = Secret::HostKey { host: host.id.clone() };
                        let key = self.keys()?.open(&cell, &sealed)?;
                        Some(TlsIdentity { ca_pem, cert_pem, key_pem: key.to_string() })
                    }
                    None => None,
                };
                let endpoint = host.endpoint.clone().unwrap_or_default();
                let engine = Engine { endpoint, tls };
                let networking = networking(host.network);
                Arc::new(DockerDriver::new(&engine, program, networking).map_err(failed)?)
            }
            HostKind::Kubernetes => {
                let kubeconfig = match store::host_kubeconfig(&self.db, &host.id).await? {
                    Some(sealed) => {
                        let cell = Secret::KubeConfig { host: host.id.clone() };
                        Some(self.keys()?.open(&cell, &sealed)?.to_string())
                    }
                    None => None,
                };
                let view = host.kubernetes.as_ref().ok_or_else(|| {
                    Error::internal(format!("host {} has no cluster settings", host.id))
                })?;
                let driver =
                    KubernetesDriver::connect(kubeconfig.as_deref(), cluster(view), program)
                        .await
                        .map_err(|e| unreachable_host(&host.name, e))?;
                Arc::new(driver)
            }
        })
    }

    /// Opens every local host's driver, so nodes still running from before are supervised
    /// again. A Docker host's driver is only a client of an engine that supervises its nodes
    /// itself: it is made when first used (its engine may be down, its TLS key sealed now).
    pub(crate) async fn open_hosts(&self) -> std::result::Result<(), OpenError> {
        for id in store::host_ids(&self.db).await? {
            let host = store::host(&self.db, &id).await?;
            if host.is_some_and(|h| h.kind == HostKind::Local) {
                self.driver(&id).await.map_err(|e| OpenError(format!("host {id}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Registers a host of an organization, once its engine answered (a Docker host): 502
    /// `host_unreachable` with what to fix if not.
    pub async fn create_host(&self, caller: &Caller, req: &CreateHostRequest) -> Result<HostView> {
        let name = check_name("host", &req.name)?;
        self.org_exists(&req.org_id).await?;
        let resource = format!("org/{}/hosts", req.org_id);
        self.authorize(caller, &req.org_id, "host:create", &resource).await?;
        let address = req.address.clone().unwrap_or_else(|| "127.0.0.1".into());
        if address.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid("bad_address", format!("`{address}` is not an IP address")));
        }
        if req.kind != HostKind::Kubernetes && req.kubernetes.is_some() {
            return Err(Error::invalid("bad_kubernetes", "`kubernetes` is for a kubernetes host"));
        }
        if req.kind != HostKind::Docker && req.network == Some(HostNetwork::Bridge)
            || req.kind != HostKind::Kubernetes && req.network == Some(HostNetwork::Cluster)
        {
            let network = req.network.map(|n| n.as_str()).unwrap_or_default();
            return Err(Error::invalid(
                "bad_network",
                format!(
                    "a {} host's nodes cannot use network `{network}`: `bridge` is for Docker hosts, `cluster` for Kubernetes ones",
                    req.kind.as_str()
                ),
            ));
        }
        let mut kubernetes = None;
        let (endpoint, network) = match req.kind {
            HostKind::Local if req.endpoint.is_some() => {
                return Err(Error::invalid(
                    "bad_endpoint",
                    "a local host has no endpoint: its nodes are processes of the platform's machine",
                ));
            }
            HostKind::Local => (None, HostNetwork::Host),
            HostKind::Docker => {
                let endpoint = req.endpoint.as_deref().unwrap_or(docker::DEFAULT_SOCKET);
                let engine = Engine { endpoint: endpoint.to_owned(), tls: engine_tls(req)? };
                let remote = Engine::is_remote(endpoint);
                let network = match req.network {
                    Some(HostNetwork::Bridge) if remote => {
                        return Err(Error::invalid(
                            "bad_network",
                            "the bridge networks of an engine on another machine cannot be reached from the platform: use network `host` (its nodes at the host's `address`)",
                        ));
                    }
                    Some(network) => network,
                    None if remote => HostNetwork::Host,
                    None => HostNetwork::Bridge,
                };
                let program = self.node_program.as_deref().unwrap_or(Path::new(""));
                let probe = DockerDriver::new(&engine, program, networking(network))
                    .map_err(|e| unreachable_host(name, e))?;
                let ready = probe.preflight().await.map_err(|e| unreachable_host(name, e))?;
                tracing::info!(target: "platform::hosts", host = name, ready, "the host can run nodes");
                (Some(endpoint.to_owned()), network)
            }
            HostKind::Kubernetes => {
                if req.endpoint.is_some() || req.tls.is_some() {
                    return Err(Error::invalid(
                        "bad_endpoint",
                        "a kubernetes host is reached through its kubeconfig (its server and credentials): give no `endpoint` or `tls`",
                    ));
                }
                if req.network == Some(HostNetwork::Host) {
                    return Err(Error::invalid(
                        "bad_network",
                        "a kubernetes host's nodes are on the cluster's network (`cluster`)",
                    ));
                }
                let view = kubernetes_view(req)?;
                let kubeconfig = req.kubernetes.as_ref().and_then(|k| k.kubeconfig.as_deref());
                let program = self.node_program.as_deref().unwrap_or(Path::new(""));
                let probe = KubernetesDriver::connect(kubeconfig, cluster(&view), program)
                    .await
                    .map_err(|e| match e {
                        HostError::Config(message) => Error::invalid("bad_kubeconfig", message),
                        e => unreachable_host(name, e),
                    })?;
                let ready = probe.preflight().await.map_err(|e| unreachable_host(name, e))?;
                tracing::info!(target: "platform::hosts", host = name, ready, "the host can run nodes");
                kubernetes = Some(view);
                (Some(probe.server().to_owned()), HostNetwork::Cluster)
            }
        };
        let tls = req.tls.as_ref().map(|t| (t.ca_cert_pem.as_str(), t.cert_pem.as_str()));
        let new = NewHost {
            org: &req.org_id,
            name,
            kind: req.kind,
            address: &address,
            endpoint: endpoint.as_deref(),
            network,
            tls,
            kubernetes: kubernetes.as_ref(),
        };
        let mut tx = self.db.begin().await?;
        let host = store::insert_host(&mut *tx, &new).await.map_err(|e| {
            e.duplicate_as("conflict", format!("{} already has a host {name}", req.org_id))
        })?;
        if let Some(t) = &req.tls {
            let cell = Secret::HostKey { host: host.id.clone() };
            let sealed = self.keys()?.seal(&cell, &t.key_pem)?;
            ks_store::set_secret(&mut tx, &cell, &sealed).await?;
        }
        if let Some(kubeconfig) = req.kubernetes.as_ref().and_then(|k| k.kubeconfig.as_ref()) {
            let cell = Secret::KubeConfig { host: host.id.clone() };
            let sealed = self.keys()?.seal(&cell, kubeconfig)?;
            ks_store::set_secret(&mut tx, &cell, &sealed).await?;
        }
        tx.commit().await?;
        Ok(host)
    }

    /// Checks that a host of the caller's organizations (`host:get`) can run nodes now.
    pub async fn check_host(&self, caller: &Caller, id: &str) -> Result<HostCheckView> {
        let host = store::host(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no host {id}")))?;
        let resource = format!("org/{}/hosts", host.org_id);
        self.authorize(caller, &host.org_id, "host:get", &resource)
            .await
            .map_err(|_| Error::NotFound(format!("no host {id}")))?;
        let ready = self
            .driver(id)
            .await?
            .preflight()
            .await
            .map_err(|e| unreachable_host(&host.name, e))?;
        Ok(HostCheckView { host_id: host.id, ready })
    }

    /// The hosts of the caller's organizations.
    pub async fn hosts(&self, caller: &Caller) -> Result<Vec<HostView>> {
        store::hosts_for(&self.db, &caller.user_id, caller.admin).await
    }
}
