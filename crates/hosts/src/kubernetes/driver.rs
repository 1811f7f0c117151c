//! [`KubernetesDriver`]: a host that is a Kubernetes cluster, reached through its API with a
//! kubeconfig's credentials (or a pod's service account).
//!
//! Each chain gets a namespace; each node there the objects of [`super::node_objects`],
//! written by server-side apply under the field manager `consortia`, so applying again
//! changes nothing and fields other managers own (an operator's annotations) are kept. A node
//! is placed by applying its Service first: the cluster IP the cluster gives it is the node's
//! address, in genesis and in its certificate, and stays the node's for the Service's life.
//! The cluster supervises the pods; the driver only sets what should run (replicas, image)
//! and reads back what does.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerStatus, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{
    API_PORT, Cluster, NODE_LABEL, ORG_LABEL, P2P_PORT, env_secret, env_secret_name, namespace,
    namespace_name, node_objects, node_service, object_name,
};
use crate::{BoxFuture, HostDriver, HostError, NodeSpec, NodeStatus, Wanted, check_name};

/// The field manager of everything the driver applies.
const MANAGER: &str = "consortia";
/// How long a stopped node's pod may take to go (its grace period is 30 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The node's container in its pod.
const CONTAINER: &str = "node";

/// Runs nodes as Deployments of a Kubernetes cluster.
#[derive(Clone)]
pub struct KubernetesDriver {
    client: Client,
    /// The API server, for messages.
    server: String,
    cluster: Cluster,
    /// The node program whose build the cluster's image must hold.
    program: PathBuf,
}

impl std::fmt::Debug for KubernetesDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesDriver")
            .field("server", &self.server)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// A failure of the API at `server` doing `what`, with what to check.
fn api_error(server: &str, what: &str, e: kube::Error) -> HostError {
    let hint = match &e {
        kube::Error::Api(status) if status.code == 401 => {
            ": the kubeconfig's credentials were refused; give a current token or client certificate"
        }
        kube::Error::Api(status) if status.code == 403 => {
            ": give the kubeconfig's user a Role allowing namespaces, services, secrets, configmaps, persistentvolumeclaims, deployments and pods (get, list, patch, delete) and pods/log"
        }
        kube::Error::Api(_) => "",
        _ => ": check that the cluster runs and the kubeconfig's `server` is right",
    };
    HostError::Io(format!("the Kubernetes API at {server}, {what}: {e}{hint}"))
}

/// A kubeconfig that does not parse or names no usable context.
fn bad_kubeconfig(e: impl std::fmt::Display) -> HostError {
    HostError::Config(format!("the kubeconfig: {e}"))
}

impl KubernetesDriver {
    /// A driver for the cluster `kubeconfig` reaches (its current context), or, without one,
    /// the cluster the platform runs in (its pod's service account).
    pub async fn connect(
        kubeconfig: Option<&str>,
        cluster: Cluster,
        program: &Path,
    ) -> Result<Self, HostError> {
        let config = match kubeconfig {
            Some(text) => {
                let kubeconfig = Kubeconfig::from_yaml(text).map_err(bad_kubeconfig)?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(bad_kubeconfig)?
            }
            None => Config::incluster().map_err(|e| {
                HostError::Config(format!(
                    "no kubeconfig was given and the platform does not run in a cluster ({e}): give the cluster's kubeconfig"
                ))
            })?,
        };
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(bad_kubeconfig)?;
        Ok(Self::with_client(client, server, cluster, program))
    }

    /// A driver over `client`, the API at `server`.
    pub fn with_client(client: Client, server: String, cluster: Cluster, program: &Path) -> Self {
        KubernetesDriver { client, server, cluster, program: program.to_owned() }
    }

    /// The API server's address.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn api<K>(&self, group: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &namespace_name(group))
    }

    fn error(&self, what: &str) -> impl Fn(kube::Error) -> HostError + '_ {
        let what = what.to_owned();
        move |e| api_error(&self.server, &what, e)
    }

    /// Applies `object` (server-side apply, owning every field it sets).
    async fn apply<K>(&self, api: &Api<K>, object: &K) -> Result<K, HostError>
    where
        K: kube::Resource + k8s_openapi::Resource + Clone + DeserializeOwned + Serialize,
        K: std::fmt::Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let params = PatchParams::apply(MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(object))
            .await
            .map_err(self.error(&format!("applying {} {name}", <K as k8s_openapi::Resource>::KIND)))
    }

    /// Applies the chain's namespace.
    async fn apply_namespace(&self, group: &str) -> Result<(), HostError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        self.apply(&api, &namespace(group)).await.map(drop)
    }

    /// The chain a node belongs to: nodes are named `<chain>-<node>`, and the driver finds
    /// the namespace of a node it did not place (after the platform restarted) by that.
    fn group_of(name: &str) -> Result<&str, HostError> {
        check_name(name)?;
        name.split_once('-').map(|(group, _)| group).ok_or_else(|| {
            HostError::BadName(format!("{name}: a Kubernetes node is named <chain>-<node>"))
        })
    }

    /// The node's Deployment, or [`HostError::UnknownNode`].
    async fn deployment(&self, name: &str) -> Result<Deployment, HostError> {
        let api: Api<Deployment> = self.api(Self::group_of(name)?);
        api.get_opt(&object_name(name))
            .await
            .map_err(self.error(&format!("reading node {name}")))?
            .ok_or_else(|| HostError::UnknownNode(name.to_owned()))
    }

    /// The node's pods (one, or none while stopped; two for a moment while one goes).
    async fn pods(&self, name: &str) -> Result<Vec<Pod>, HostError> {
        let api: Api<Pod> = self.api(Self::group_of(name)?);
        let selector = format!("{NODE_LABEL}={}", object_name(name));
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(self.error(&format!("listing the pods of node {name}")))?;
        Ok(list.items)
    }

    /// Writes the node's environment secrets, then sets its replicas and, if given, image.
    async fn run(
        &self,
        name: &str,
        image: Option<String>,
        secret_env: &[(String, String)],
    ) -> Result<(), HostError> {
        let group = Self::group_of(name)?;
        let deployment = self.deployment(name).await?;
        let labels = deployment.metadata.labels.unwrap_or_default();
        let org = labels.get(ORG_LABEL).map_or("", String::as_str);
        self.apply(&self.api(group), &env_secret(name, group, org, secret_env)).await?;
        let mut patch = json!({ "spec": { "replicas": 1 } });
        if let Some(image) = image {
            // A strategic merge patch merges containers by name: only the image changes.
            patch["spec"]["template"]["spec"]["containers"] =
                json!([{ "name": CONTAINER, "image": image }]);
        }
        let api: Api<Deployment> = self.api(group);
        api.patch(&object_name(name), &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(self.error(&format!("starting node {name}")))?;
        Ok(())
    }

    /// Scales the node to none and waits until its pod is gone (the volume and the key are
    /// free for the next one).
    async fn scale_down(&self, name: &str) -> Result<(), HostError> {
        let api: Api<Deployment> = self.api(Self::group_of(name)?);
        let patch = Patch::Merge(json!({ "spec": { "replicas": 0 } }));
        api.patch(&object_name(name), &PatchParams::default(), &patch)
            .await
            .map_err(self.error(&format!("stopping node {name}")))?;
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while !self.pods(name).await?.is_empty() {
            if tokio::time::Instant::now() > deadline {
                return Err(HostError::Io(format!(
                    "the pod of node {name} did not stop within {} s: see `kubectl -n {} describe pod -l {NODE_LABEL}={}`",
                    STOP_TIMEOUT.as_secs(),
                    namespace_name(Self::group_of(name)?),
                    object_name(name)
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// The API and P2P ports of the node's Service.
    async fn service_ports(&self, name: &str, group: &str) -> Result<[u16; 2], HostError> {
        let api: Api<Service> = self.api(group);
        let service = api
            .get_opt(&object_name(name))
            .await
            .map_err(self.error(&format!("reading the Service of node {name}")))?
            .ok_or_else(|| {
                HostError::Io(format!("node {name} was not placed on this cluster: place it first"))
            })?;
        let ports = service.spec.and_then(|s| s.ports).unwrap_or_default();
        let port = |wanted: &str| {
            let found = ports.iter().find(|p| p.name.as_deref() == Some(wanted));
            found.and_then(|p| u16::try_from(p.port).ok()).ok_or_else(|| {
                HostError::Io(format!("the Service of node {name} has no `{wanted}` port"))
            })
        };
        Ok([port("api")?, port("p2p")?])
    }
}

/// What a pod's node container is doing.
fn container_status(pod: &Pod) -> NodeStatus {
    let status = pod.status.clone().unwrap_or_default();
    let node: Option<&ContainerStatus> =
        status.container_statuses.as_ref().and_then(|all| all.iter().find(|c| c.name == CONTAINER));
    let Some(node) = node else {
        // Not scheduled or not pulled yet: say why, from the pod's conditions.
        let why = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.status != "True")
            .filter_map(|c| c.message.or(c.reason))
            .next()
            .unwrap_or_else(|| status.phase.unwrap_or_else(|| "Pending".into()));
        return NodeStatus::Restarting { restarts: 0, last_exit: format!("pod pending: {why}") };
    };
    let restarts = u32::try_from(node.restart_count).unwrap_or(0);
    let state = node.state.clone().unwrap_or_default();
    if state.running.is_some() {
        // A pod shows no process id: 0.
        return NodeStatus::Running { pid: 0, restarts };
    }
    let last = node.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let exited = last.map(|t| format!(", last exit code {}", t.exit_code)).unwrap_or_default();
    let why = match (state.waiting, state.terminated) {
        (Some(w), _) => format!(
            "{}{}",
            w.reason.unwrap_or_else(|| "waiting".into()),
            w.message.map(|m| format!(": {m}")).unwrap_or_default()
        ),
        (None, Some(t)) => format!("exited with code {}", t.exit_code),
        (None, None) => "waiting".into(),
    };
    NodeStatus::Restarting { restarts, last_exit: format!("{why}{exited}") }
}

/// The build in an image reference `repository:build`.
fn build_of(image: &str) -> Option<&str> {
    let (repository, tag) = image.rsplit_once(':')?;
    // `registry:5000/name` has a colon but no tag.
    (!tag.contains('/') && !repository.is_empty()).then_some(tag)
}

/// The node `name` reads `path` from the object a projection item maps it from: which
/// object (`true`: the Secret) and which key.
fn file_key(deployment: &Deployment, path: &str) -> Option<(bool, String)> {
    let volumes = deployment.spec.as_ref()?.template.spec.as_ref()?.volumes.as_ref()?;
    let sources = volumes.iter().find_map(|v| v.projected.as_ref()?.sources.clone())?;
    sources.into_iter().find_map(|source| {
        let secret = source.secret.and_then(|s| s.items).unwrap_or_default();
        let config = source.config_map.and_then(|c| c.items).unwrap_or_default();
        let found = |items: Vec<k8s_openapi::api::core::v1::KeyToPath>| {
            items.into_iter().find(|i| i.path == path).map(|i| i.key)
        };
        found(secret).map(|k| (true, k)).or_else(|| found(config).map(|k| (false, k)))
    })
}

/// Reads and ignores "not found": what is gone need not be deleted.
fn gone<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

impl HostDriver for KubernetesDriver {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn preflight(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(async move {
            let request = http::Request::get("/version")
                .body(kube::client::Body::empty())
                .map_err(|e| HostError::Io(e.to_string()))?;
            // One request gives both the version and the server's clock (its `Date`).
            let asking = "asking its version";
            let response = self.client.send(request).await.map_err(self.error(asking))?;
            let (parts, body) = response.into_parts();
            let body = body.collect_bytes().await.map_err(self.error(asking))?;
            if !parts.status.is_success() {
                let status = serde_json::from_slice::<kube::core::Status>(&body)
                    .unwrap_or_else(|_| kube::core::Status::failure(&parts.status.to_string(), ""))
                    .with_code(parts.status.as_u16());
                return Err(api_error(&self.server, asking, kube::Error::Api(status.boxed())));
            }
            let version: k8s_openapi::apimachinery::pkg::version::Info =
                serde_json::from_slice(&body).map_err(|e| {
                    HostError::Io(format!(
                        "the Kubernetes API at {} gave no version: {e}",
                        self.server
                    ))
                })?;
            if let Some(date) = parts.headers.get(http::header::DATE) {
                let date = date.to_str().unwrap_or_default();
                let theirs = httpdate::parse_http_date(date).map_err(|_| {
                    HostError::Io(format!("the Kubernetes API at {} gave a bad Date", self.server))
                })?;
                crate::preflight::check_clock_at(
                    &format!("the Kubernetes API at {}", self.server),
                    theirs,
                )?;
            }
            let image = self.cluster.image(&crate::program_version(&self.program)?);
            Ok(format!(
                "Kubernetes {} at {}, image {image} (pushed where the cluster pulls from)",
                version.git_version, self.server
            ))
        })
    }

    fn place<'a>(
        &'a self,
        group: &'a str,
        _address: IpAddr,
        wanted: &'a [Wanted],
    ) -> BoxFuture<'a, Result<Vec<[SocketAddr; 2]>, HostError>> {
        Box::pin(async move {
            check_name(group)?;
            self.apply_namespace(group).await?;
            let api: Api<Service> = self.api(group);
            let mut placed = Vec::with_capacity(wanted.len());
            for node in wanted {
                check_name(&node.name)?;
                let ports = [node.ports[0].unwrap_or(API_PORT), node.ports[1].unwrap_or(P2P_PORT)];
                // Its organization's label comes with the node's other objects (`create`).
                let service = node_service(&node.name, group, "", ports);
                let service = self.apply(&api, &service).await?;
                let ip = service
                    .spec
                    .and_then(|s| s.cluster_ip)
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .ok_or_else(|| {
                        HostError::Io(format!(
                            "the cluster gave the Service of node {} no cluster IP",
                            node.name
                        ))
                    })?;
                placed.push(ports.map(|port| SocketAddr::new(ip, port)));
            }
            Ok(placed)
        })
    }

    fn create(&self, spec: NodeSpec) -> BoxFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            let group = spec.group.as_str();
            match self.deployment(&spec.name).await {
                Ok(_) => return Err(HostError::Exists(spec.name.clone())),
                Err(HostError::UnknownNode(_)) => {}
                Err(e) => return Err(e),
            }
            if Self::group_of(&spec.name)? != group {
                return Err(HostError::BadName(format!(
                    "{}: a node of chain {group} is named {group}-<node>",
                    spec.name
                )));
            }
            let ports = self.service_ports(&spec.name, group).await?;
            let build = crate::program_version(&self.program)?;
            let objects = node_objects(&spec, &self.cluster, &build, ports, false)?;
            self.apply(&self.api(group), &objects.secret).await?;
            self.apply(&self.api(group), &objects.config_map).await?;
            self.apply(&self.api(group), &objects.claim).await?;
            self.apply(&self.api(group), &objects.service).await?;
            self.apply(&self.api(group), &objects.deployment).await?;
            Ok(())
        })
    }

    fn start<'a>(
        &'a self,
        name: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(self.run(name, None, secret_env))
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.deployment(name).await?;
            self.scale_down(name).await
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let group = Self::group_of(name)?;
            let object = object_name(name);
            let params = DeleteParams::foreground();
            let failed = self.error(&format!("removing node {name}"));
            let deployments: Api<Deployment> = self.api(group);
            gone(deployments.delete(&object, &params).await).map_err(&failed)?;
            let services: Api<Service> = self.api(group);
            gone(services.delete(&object, &params).await).map_err(&failed)?;
            let secrets: Api<Secret> = self.api(group);
            gone(secrets.delete(&object, &params).await).map_err(&failed)?;
            gone(secrets.delete(&env_secret_name(name), &params).await).map_err(&failed)?;
            let maps: Api<ConfigMap> = self.api(group);
            gone(maps.delete(&object, &params).await).map_err(&failed)?;
            // The claim goes once no pod holds it (the cluster's protection finalizer).
            let claims: Api<PersistentVolumeClaim> = self.api(group);
            gone(claims.delete(&object, &params).await).map_err(&failed)?;
            Ok(())
        })
    }

    fn replace_file<'a>(
        &'a self,
        name: &'a str,
        path: &'a str,
        contents: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let group = Self::group_of(name)?;
            let deployment = self.deployment(name).await?;
            let (in_secret, key) = file_key(&deployment, path)
                .ok_or_else(|| HostError::Io(format!("node {name} has no file {path}")))?;
            let failed = self.error(&format!("replacing {path} of node {name}"));
            // The kubelet swaps a projected volume's files at once (a symbolic link flip).
            let params = PatchParams::default();
            let object = object_name(name);
            if in_secret {
                let patch = json!({ "data": { key: ByteString(contents) } });
                let api: Api<Secret> = self.api(group);
                api.patch(&object, &params, &Patch::Merge(patch)).await.map_err(failed)?;
            } else {
                let text = String::from_utf8(contents).map_err(|_| {
                    HostError::Io(format!("file {path} of node {name} is not text"))
                })?;
                let patch = json!({ "data": { key: text } });
                let api: Api<ConfigMap> = self.api(group);
                api.patch(&object, &params, &Patch::Merge(patch)).await.map_err(failed)?;
            }
            Ok(())
        })
    }

    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, HostError>> {
        Box::pin(async move {
            self.deployment(name).await?;
            let Some(pod) = self.pods(name).await?.into_iter().next() else {
                return Ok(vec![]);
            };
            let pod_name = pod.metadata.name.unwrap_or_default();
            let params = LogParams {
                container: Some(CONTAINER.into()),
                tail_lines: Some(i64::try_from(lines).unwrap_or(i64::MAX)),
                ..LogParams::default()
            };
            let api: Api<Pod> = self.api(Self::group_of(name)?);
            let text = api
                .logs(&pod_name, &params)
                .await
                .map_err(self.error(&format!("reading the log of node {name}")))?;
            Ok(text.lines().map(str::to_owned).collect())
        })
    }

    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NodeStatus, HostError>> {
        Box::pin(async move {
            let deployment = self.deployment(name).await?;
            if deployment.spec.and_then(|s| s.replicas) == Some(0) {
                return Ok(NodeStatus::Stopped);
            }
            let pods = self.pods(name).await?;
            // While one pod goes and the next comes, the one not being deleted counts.
            let pod = pods.iter().find(|p| p.metadata.deletion_timestamp.is_none());
            Ok(match pod {
                Some(pod) => container_status(pod),
                None => NodeStatus::Restarting { restarts: 0, last_exit: "no pod yet".into() },
            })
        })
    }

    fn version<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, HostError>> {
        Box::pin(async move {
            let deployment = self.deployment(name).await?;
            let image = deployment
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|p| p.containers.into_iter().find(|c| c.name == CONTAINER))
                .and_then(|c| c.image)
                .unwrap_or_default();
            build_of(&image).map(str::to_owned).ok_or_else(|| {
                HostError::Io(format!("node {name} runs image `{image}`, which names no build"))
            })
        })
    }

    fn available_version(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(async move { crate::version::installed_version(&self.program).await })
    }

    fn run_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            // `Recreate`: the old pod goes before the new one comes.
            self.run(name, Some(self.cluster.image(version)), secret_env).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::fake::{self, State};
    use super::*;
    use crate::Resources;

    const CHAIN: &str = "chain_98303c901332a613a6974f425133f0b3";
    const PASSPHRASE: &str = "CONSORTIA_KEY_PASSPHRASE";

    /// A driver on a fresh fake cluster; the temporary directory holds its node program.
    fn driver() -> (KubernetesDriver, Arc<Mutex<State>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("consortia");
        std::fs::write(&program, b"a node program").unwrap();
        let (client, state) = fake::cluster();
        let cluster = Cluster {
            repository: "registry.example/consortia-node".into(),
            storage_class: Some("fast".into()),
            storage_bytes: 1 << 30,
        };
        let driver = KubernetesDriver::with_client(
            client,
            "https://k8s.example:6443".into(),
            cluster,
            &program,
        );
        (driver, state, dir)
    }

    fn node(name: &str) -> String {
        format!("{CHAIN}-{name}")
    }

    fn wanted(name: &str, ports: [Option<u16>; 2]) -> Wanted {
        Wanted { name: node(name), ports }
    }

    fn spec(name: &str) -> NodeSpec {
        let key =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        NodeSpec {
            name: node(name),
            group: CHAIN.into(),
            org: "org_1".into(),
            address: None,
            args: vec!["node".into(), "--config".into(), "node.toml".into()],
            env: vec![],
            files: vec![
                ("node.toml".into(), b"name = \"v0\"\n".to_vec()),
                ("tls/node.crt".into(), b"-----BEGIN CERTIFICATE-----\n".to_vec()),
                ("node.key".into(), key.to_vec()),
            ],
            resources: Resources { memory_bytes: Some(256 << 20), cpu_millis: None },
            https: false,
        }
    }

    fn object(state: &Arc<Mutex<State>>, path: &str) -> Option<Value> {
        state.lock().unwrap().objects.get(path).cloned()
    }

    fn at(kind: &str, name: &str) -> String {
        let ns = namespace_name(CHAIN);
        let object = object_name(&node(name));
        match kind {
            "deployments" => format!("/apis/apps/v1/namespaces/{ns}/deployments/{object}"),
            "pods" => format!("/api/v1/namespaces/{ns}/pods/{object}-0"),
            kind => format!("/api/v1/namespaces/{ns}/{kind}/{object}"),
        }
    }

    /// A node placed and created, not started.
    async fn created(driver: &KubernetesDriver, name: &str) {
        driver.place(CHAIN, LOCALHOST, &[wanted(name, [None, None])]).await.unwrap();
        driver.create(spec(name)).await.unwrap();
    }

    const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn secret() -> Vec<(String, String)> {
        vec![(PASSPHRASE.to_owned(), "s3cret".to_owned())]
    }

    use serde_json::Value;

    #[test]
    fn a_build_is_read_off_an_image_tag() {
        let image = "registry.example/consortia-node:0.1.0-4ac1073d3cac";
        assert_eq!(build_of(image), Some("0.1.0-4ac1073d3cac"));
        assert_eq!(build_of("registry:5000/consortia-node"), None);
        assert_eq!(build_of("consortia-node"), None);
    }

    #[test]
    fn a_node_s_chain_is_the_prefix_of_its_name() {
        assert_eq!(KubernetesDriver::group_of(&node("org-1-v0")).unwrap(), CHAIN);
        assert!(KubernetesDriver::group_of("v0").is_err());
    }

    #[tokio::test]
    async fn placing_nodes_gives_each_its_service_s_cluster_ip() {
        let (driver, state, _dir) = driver();
        let placed = driver
            .place(
                CHAIN,
                LOCALHOST,
                &[wanted("v0", [None, None]), wanted("v1", [Some(9000), None])],
            )
            .await
            .unwrap();
        assert_eq!(placed[0].map(|a| a.port()), [API_PORT, P2P_PORT]);
        assert_eq!(placed[1].map(|a| a.port()), [9000, P2P_PORT]);
        assert_ne!(placed[0][0].ip(), placed[1][0].ip(), "each node its own address");
        let service = object(&state, &at("services", "v0")).unwrap();
        assert_eq!(service["spec"]["clusterIP"], placed[0][0].ip().to_string());
        let ns = format!("/api/v1/namespaces/{}", namespace_name(CHAIN));
        assert!(object(&state, &ns).is_some(), "the chain's namespace is applied");
    }

    #[tokio::test]
    async fn placing_again_keeps_a_node_s_address() {
        let (driver, _state, _dir) = driver();
        let first = driver.place(CHAIN, LOCALHOST, &[wanted("v0", [None, None])]).await.unwrap();
        let again = driver.place(CHAIN, LOCALHOST, &[wanted("v0", [None, None])]).await.unwrap();
        assert_eq!(first, again);
    }

    #[tokio::test]
    async fn every_write_is_a_forced_server_side_apply_or_a_patch() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        driver.start(&node("v0"), &secret()).await.unwrap();
        for (method, path, kind) in &state.lock().unwrap().requests {
            assert!(method == "GET" || method == "PATCH", "{method} {path}");
            if kind == "application/apply-patch+yaml" {
                assert!(
                    path.contains("fieldManager=consortia") && path.contains("force=true"),
                    "{path}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_created_node_has_its_objects_and_stays_stopped() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        for kind in ["secrets", "configmaps", "persistentvolumeclaims", "services"] {
            assert!(object(&state, &at(kind, "v0")).is_some(), "{kind}");
        }
        let deployment = object(&state, &at("deployments", "v0")).unwrap();
        assert_eq!(deployment["spec"]["replicas"], 0);
        let build = crate::program_version(&driver.program).unwrap();
        let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
        assert_eq!(*image, format!("registry.example/consortia-node:{build}"));
        assert_eq!(driver.status(&node("v0")).await.unwrap(), NodeStatus::Stopped);
        let claim = object(&state, &at("persistentvolumeclaims", "v0")).unwrap();
        assert_eq!(claim["spec"]["storageClassName"], "fast");
    }

    #[tokio::test]
    async fn a_node_not_placed_cannot_be_created() {
        let (driver, _state, _dir) = driver();
        let err = driver.create(spec("v0")).await.unwrap_err();
        assert!(err.to_string().contains("place it first"), "{err}");
    }

    #[tokio::test]
    async fn creating_a_node_twice_is_refused() {
        let (driver, _state, _dir) = driver();
        created(&driver, "v0").await;
        let err = driver.create(spec("v0")).await.unwrap_err();
        assert!(matches!(err, HostError::Exists(_)), "{err}");
    }

    #[tokio::test]
    async fn starting_writes_the_secret_environment_and_runs_one_pod() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        driver.start(&node("v0"), &secret()).await.unwrap();
        let env = format!(
            "/api/v1/namespaces/{}/secrets/{}",
            namespace_name(CHAIN),
            env_secret_name(&node("v0"))
        );
        let env = object(&state, &env).unwrap();
        let stored: ByteString = serde_json::from_value(env["data"][PASSPHRASE].clone()).unwrap();
        assert_eq!(stored.0, b"s3cret");
        let deployment = object(&state, &at("deployments", "v0")).unwrap();
        assert!(!deployment.to_string().contains("s3cret"), "no secret in the Deployment");
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(
            driver.status(&node("v0")).await.unwrap(),
            NodeStatus::Running { pid: 0, restarts: 2 }
        );
    }

    #[tokio::test]
    async fn stopping_scales_to_none_and_waits_for_the_pod_to_go() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        driver.start(&node("v0"), &secret()).await.unwrap();
        assert!(object(&state, &at("pods", "v0")).is_some());
        driver.stop(&node("v0")).await.unwrap();
        assert!(object(&state, &at("pods", "v0")).is_none());
        assert_eq!(driver.status(&node("v0")).await.unwrap(), NodeStatus::Stopped);
        assert!(object(&state, &at("persistentvolumeclaims", "v0")).is_some(), "data kept");
    }

    #[tokio::test]
    async fn a_crash_looping_pod_shows_as_restarting_with_its_reason() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        state.lock().unwrap().waiting = Some("CrashLoopBackOff".into());
        driver.start(&node("v0"), &secret()).await.unwrap();
        let NodeStatus::Restarting { restarts, last_exit } =
            driver.status(&node("v0")).await.unwrap()
        else {
            panic!("not restarting");
        };
        assert_eq!(restarts, 2);
        assert!(
            last_exit.contains("CrashLoopBackOff") && last_exit.contains("exit code 1"),
            "{last_exit}"
        );
    }

    #[tokio::test]
    async fn a_new_build_changes_only_the_image() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        driver.start(&node("v0"), &secret()).await.unwrap();
        let before = object(&state, &at("deployments", "v0")).unwrap();
        driver.run_version(&node("v0"), "0.2.0-000000000000", &secret()).await.unwrap();
        assert_eq!(driver.version(&node("v0")).await.unwrap(), "0.2.0-000000000000");
        let mut after = object(&state, &at("deployments", "v0")).unwrap();
        let pod = object(&state, &at("pods", "v0")).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            "registry.example/consortia-node:0.2.0-000000000000"
        );
        after["spec"]["template"]["spec"]["containers"][0]["image"] =
            before["spec"]["template"]["spec"]["containers"][0]["image"].clone();
        assert_eq!(after, before, "nothing else changed");
    }

    #[tokio::test]
    async fn a_replaced_file_lands_in_the_object_that_holds_it() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        let cert = b"-----BEGIN CERTIFICATE-----\nrenewed\n".to_vec();
        driver.replace_file(&node("v0"), "tls/node.crt", cert).await.unwrap();
        let map = object(&state, &at("configmaps", "v0")).unwrap();
        assert!(
            map["data"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v.as_str().unwrap().contains("renewed"))
        );
        let key = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nBBBB\n".to_vec();
        driver.replace_file(&node("v0"), "node.key", key.clone()).await.unwrap();
        let secret = object(&state, &at("secrets", "v0")).unwrap();
        let holds = secret["data"]
            .as_object()
            .unwrap()
            .values()
            .any(|v| serde_json::from_value::<ByteString>(v.clone()).unwrap().0 == key);
        assert!(holds, "{secret}");
        let err = driver.replace_file(&node("v0"), "other.toml", vec![]).await.unwrap_err();
        assert!(err.to_string().contains("no file other.toml"), "{err}");
    }

    #[tokio::test]
    async fn the_log_is_the_pod_s() {
        let (driver, _state, _dir) = driver();
        created(&driver, "v0").await;
        assert!(driver.logs(&node("v0"), 10).await.unwrap().is_empty(), "no pod, no log");
        driver.start(&node("v0"), &secret()).await.unwrap();
        assert_eq!(driver.logs(&node("v0"), 10).await.unwrap(), ["line 1", "line 2", "line 3"]);
    }

    #[tokio::test]
    async fn removing_a_node_deletes_its_objects_and_forgives_missing_ones() {
        let (driver, state, _dir) = driver();
        created(&driver, "v0").await;
        driver.start(&node("v0"), &secret()).await.unwrap();
        driver.remove(&node("v0")).await.unwrap();
        let left: Vec<String> = state.lock().unwrap().objects.keys().cloned().collect();
        assert!(left.iter().all(|p| !p.contains(&object_name(&node("v0")))), "{left:?}");
        // A node placed but never created (a start that failed half way) goes too.
        driver.place(CHAIN, LOCALHOST, &[wanted("v1", [None, None])]).await.unwrap();
        driver.remove(&node("v1")).await.unwrap();
        assert!(object(&state, &at("services", "v1")).is_none());
    }

    #[tokio::test]
    async fn an_unknown_node_is_unknown() {
        let (driver, _state, _dir) = driver();
        let err = driver.status(&node("v9")).await.unwrap_err();
        assert!(matches!(err, HostError::UnknownNode(_)), "{err}");
        assert!(matches!(driver.start(&node("v9"), &[]).await, Err(HostError::UnknownNode(_))));
    }

    #[tokio::test]
    async fn preflight_names_the_cluster_version_and_image() {
        let (driver, state, _dir) = driver();
        let ready = driver.preflight().await.unwrap();
        assert_eq!(state.lock().unwrap().requests.len(), 1, "version and clock in one request");
        assert!(ready.contains("Kubernetes v1.33.1 at https://k8s.example:6443"), "{ready}");
        assert!(ready.contains("registry.example/consortia-node:"), "{ready}");
    }

    #[tokio::test]
    async fn preflight_refuses_a_cluster_whose_clock_is_off() {
        let (driver, state, _dir) = driver();
        let late = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        state.lock().unwrap().date = Some(httpdate::fmt_http_date(late));
        let err = driver.preflight().await.unwrap_err();
        assert!(err.to_string().contains("behind this machine's"), "{err}");
    }

    #[tokio::test]
    async fn refused_credentials_say_what_to_give() {
        let (driver, state, _dir) = driver();
        state.lock().unwrap().refuse = Some(401);
        let err = driver.preflight().await.unwrap_err();
        assert!(err.to_string().contains("credentials were refused"), "{err}");
        state.lock().unwrap().refuse = Some(403);
        let err = driver.place(CHAIN, LOCALHOST, &[wanted("v0", [None, None])]).await.unwrap_err();
        assert!(err.to_string().contains("Role allowing"), "{err}");
    }

    #[tokio::test]
    async fn a_kubeconfig_that_does_not_parse_is_refused() {
        let cluster = Cluster { repository: "r".into(), storage_class: None, storage_bytes: 1 };
        let err = KubernetesDriver::connect(Some("not: [a kubeconfig"), cluster, Path::new("x"))
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("the kubeconfig"), "{err}");
    }
}
