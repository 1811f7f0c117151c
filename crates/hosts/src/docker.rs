//! Nodes as containers of a Docker Engine, reached through its API (`bollard`): per node one
//! container `consortia-<node>`, a volume of its files `consortia-<node>` and a volume of its
//! data `consortia-<node>-data`.
//!
//! - **Image.** The node image is made by the driver from the node program itself: a root
//!   filesystem holding the `consortia` binary and the shared libraries it links (read off
//!   `ldd`), imported as `consortia-node:<version>-<digest>` (`POST /images/create?fromSrc=-`,
//!   what `docker import` does). No registry is needed, and an image is never rebuilt for the
//!   same binary.
//! - **Files.** The node's files (configuration, genesis, encrypted keys, certificates) go into
//!   its files volume at `/node` through the archive API, owned by the unprivileged user the
//!   node runs as (65534) and readable by it alone (0600 in a 0700 directory). Nothing is
//!   written to the platform machine's disk. Its chain data lives apart, in its data volume at
//!   `/node/data`: a node that lost it (a wiped disk) syncs the chain again from its peers.
//! - **Recipe.** How the container is made (command line, environment, limits, network and
//!   address) is kept as a label of the files volume, so a container that is gone (removed,
//!   its machine replaced) is made again at the next start.
//! - **Secrets.** The secret that unlocks a node's keys is given at start: the container is
//!   (re)made with it in its environment, held by the engine (root-only), never in the image or
//!   a volume.
//! - **Supervision** is the engine's: restart policy `unless-stopped` restarts a node that exits
//!   (with the engine's backoff), and nodes outlive the platform.
//! - **Network** ([`Networking`]). By default each chain gets a bridge network of its own,
//!   `consortia-<chain>`, and each node an address there (ports need not differ): nodes are
//!   apart from other chains, and a node can be cut off and brought back (`docker network
//!   disconnect`/`connect`), which is how partitions are tested. Or containers share the
//!   host's network (`network_mode: host`) and listen on the host's address and ports as a
//!   local process would: for chains that span machines.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig,
    Ipam, IpamConfig, Mount, MountType, NetworkCreateRequest, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListImagesOptions, ListVolumesOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions, StopContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub use consortia_network::TlsIdentity;

use crate::{
    BoxFuture, HostDriver, HostError, LOG_RETENTION, LogRetention, NodeSpec, NodeStatus, Resources,
    Wanted, check_name,
};

/// The user and group a node runs as in its container (`nobody`): not root.
const NODE_UID: u64 = 65534;
/// Where a node's files volume is mounted, and its working directory.
const NODE_DIR: &str = "/node";
/// Where its data volume is mounted: the `data` directory of its configuration.
const DATA_DIR: &str = "/node/data";
/// The local engine's socket when a host names no endpoint.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Seconds a node gets to stop after SIGTERM before the engine kills it.
const STOP_GRACE_S: i32 = 10;
/// Seconds the client waits for one engine request (an image import may take a while).
const REQUEST_TIMEOUT_S: u64 = 300;
/// The Engine API version spoken: Docker 20.10's, which later engines still take.
const API_VERSION: &bollard::ClientVersion =
    &bollard::ClientVersion { major_version: 1, minor_version: 41 };
/// The repository of node images.
const IMAGE_REPO: &str = "consortia-node";
/// How long a node image no container uses is kept before a newer build's import removes it.
const UNUSED_IMAGE_TTL: Duration = Duration::from_secs(3600);
/// The label every object the driver makes carries: the node's name.
const NODE_LABEL: &str = "io.consortia.node";
/// The label of a node's files volume and of a chain's network: the chain.
const GROUP_LABEL: &str = "io.consortia.chain";
/// The label naming its organization.
const ORG_LABEL: &str = "io.consortia.org";
/// The label of a node's files volume that holds its [`Recipe`].
const RECIPE_LABEL: &str = "io.consortia.recipe";
/// A node's ports on a chain network, unless chosen: every node has an address of its own.
const BRIDGE_PORTS: [u16; 2] = [8545, 30303];
/// How long an address handed out for a node about to be made is not handed out again.
const ADDRESS_HOLD: Duration = Duration::from_secs(120);

/// How a Docker host's nodes are networked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Networking {
    /// On the engine machine's network (`network_mode: host`), at the host's address, each
    /// node on ports of its own.
    Host,
    /// Each chain on a bridge network of its own (`consortia-<chain>`, a subnet the engine
    /// picks), each node at an address of its own there.
    Bridge,
}

/// How a node's container is made; kept as a label of its files volume.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Recipe {
    args: Vec<String>,
    /// `KEY=value`, without the secrets given at start.
    env: Vec<String>,
    resources: Resources,
    /// The chain network it is attached to, at `address`; none on the host's network.
    network: Option<String>,
    address: Option<Ipv4Addr>,
    /// The organization that runs it.
    #[serde(default)]
    org: String,
}

/// Runs nodes as containers of one Docker Engine.
#[derive(Debug)]
pub struct DockerDriver {
    docker: Docker,
    endpoint: String,
    /// The node program the image is made from.
    program: PathBuf,
    /// The node image, once known to be on the engine.
    image: Mutex<Option<String>>,
    networking: Networking,
}

/// Addresses handed out on chain networks for nodes about to be made (by engine endpoint,
/// network and address), and when: shared by every driver of this process, since two hosts
/// may share an engine and a chain.
static HANDED_OUT: Mutex<Option<HashMap<HeldAddress, Instant>>> = Mutex::new(None);

/// An engine's endpoint, a network's name and an address on it.
type HeldAddress = (String, String, Ipv4Addr);
/// One placement at a time in this process: making a network and choosing addresses.
static PLACING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The engine's `json-file` logging, rotated as `retention` says (the engine keeps no age).
fn log_config(retention: &LogRetention) -> HostConfigLogConfig {
    let options = [
        ("max-size".to_owned(), retention.max_bytes.to_string()),
        ("max-file".to_owned(), (retention.keep + 1).to_string()),
    ];
    HostConfigLogConfig { typ: Some("json-file".into()), config: Some(options.into()) }
}

fn engine(endpoint: &str, e: DockerError) -> HostError {
    // The cause's own words (a refused certificate, a refused connection) come last.
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        let words = inner.to_string();
        if !cause.contains(&words) {
            cause = format!("{cause}: {words}");
        }
        source = inner.source();
    }
    let fix = if Engine::is_remote(endpoint) {
        "check that dockerd listens there with --tlsverify, and that the host's CA certificate is the one that issued the engine's certificate and its client certificate one the engine trusts"
    } else {
        "start dockerd (`scripts/docker` does) or register the host with its engine's endpoint"
    };
    HostError::Io(format!("cannot reach the Docker Engine at {endpoint}: {cause}; {fix}"))
}

/// An engine refusal about `name`: 404 is an unknown node, 409 one that exists.
fn refused(name: &str, e: DockerError) -> HostError {
    match e {
        DockerError::DockerResponseServerError { status_code: 404, .. } => {
            HostError::UnknownNode(name.to_owned())
        }
        DockerError::DockerResponseServerError { status_code: 409, .. } => {
            HostError::Exists(name.to_owned())
        }
        other => HostError::Io(format!("docker: node {name}: {other}")),
    }
}

fn object(name: &str) -> String {
    format!("consortia-{name}")
}

fn data_volume(name: &str) -> String {
    format!("consortia-{name}-data")
}

fn network_name(group: &str) -> String {
    format!("consortia-{group}")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the platform reaches a Docker Engine: its endpoint, `unix:///var/run/docker.sock` (or
/// a socket path; empty: the default socket) on this machine, or `tcp://host:2376` on another,
/// which takes mutual TLS: the CA that issued the engine's certificate, and the client
/// certificate and key the platform presents (Docker's `ca.pem`, `cert.pem`, `key.pem`).
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub endpoint: String,
    pub tls: Option<TlsIdentity>,
}

impl Engine {
    /// The engine at `endpoint`, without TLS.
    pub fn at(endpoint: &str) -> Engine {
        Engine { endpoint: endpoint.to_owned(), tls: None }
    }

    /// Checks that TLS credentials parse: a CA certificate, a client certificate and its key.
    pub fn check_tls(tls: &TlsIdentity) -> Result<(), HostError> {
        consortia_network::tls_client_config(tls)
            .map(drop)
            .map_err(|e| HostError::Io(e.to_string()))
    }

    /// Whether the endpoint is a TCP one (which needs TLS).
    pub fn is_remote(endpoint: &str) -> bool {
        endpoint.starts_with("tcp://") || endpoint.starts_with("https://")
    }

    /// A client of the engine, and its endpoint as shown.
    fn connect(&self) -> Result<(Docker, String), HostError> {
        let remote =
            self.endpoint.strip_prefix("tcp://").or(self.endpoint.strip_prefix("https://"));
        let Some(address) = remote else {
            let path = self.endpoint.strip_prefix("unix://").unwrap_or(&self.endpoint);
            let path = if path.is_empty() { DEFAULT_SOCKET } else { path };
            let endpoint = format!("unix://{path}");
            let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_S, API_VERSION)
                .map_err(|e| engine(&endpoint, e))?;
            return Ok((docker, endpoint));
        };
        let endpoint = format!("tcp://{address}");
        let tls = self.tls.as_ref().ok_or_else(|| {
            HostError::Io(format!(
                "{endpoint} is reached over TCP, which takes mutual TLS: give the engine's CA certificate and a client certificate and key it trusts (Docker's ca.pem, cert.pem, key.pem)"
            ))
        })?;
        let config = consortia_network::tls_client_config(tls)
            .map_err(|e| HostError::Io(format!("the TLS credentials for {endpoint}: {e}")))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*config).clone())
            .https_only()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let transport = move |request: bollard::BollardRequest| {
            let client = client.clone();
            async move { Ok(client.request(request).await?) }
        };
        let docker = Docker::connect_with_custom_transport(
            transport,
            Some(format!("https://{address}")),
            REQUEST_TIMEOUT_S,
            API_VERSION,
        )
        .map_err(|e| engine(&endpoint, e))?;
        Ok((docker, endpoint))
    }
}

impl DockerDriver {
    /// A driver for `engine` running `program` in its node image, its nodes networked as
    /// `networking` says. It connects on each call, so an engine that was down is used again
    /// once it is back; `preflight` checks it answers.
    pub fn new(
        engine: &Engine,
        program: &Path,
        networking: Networking,
    ) -> Result<DockerDriver, HostError> {
        let (docker, endpoint) = engine.connect()?;
        Ok(DockerDriver {
            docker,
            endpoint,
            program: program.to_path_buf(),
            image: Mutex::new(None),
            networking,
        })
    }

    /// The node image of the node program as installed now, made from it unless the engine
    /// has it already.
    async fn image(&self) -> Result<String, HostError> {
        let image = image_of(&crate::version::installed_version(&self.program).await?);
        if lock(&self.image).as_ref() == Some(&image) {
            return Ok(image);
        }
        if self.docker.inspect_image(&image).await.is_err() {
            self.import_image(&image).await?;
            self.remove_unused_images(&image).await;
        }
        *lock(&self.image) = Some(image.clone());
        Ok(image)
    }

    /// Removes node images of other builds that no container uses (the engine refuses to
    /// remove one that a container, even a stopped one, still uses) and that are older than
    /// [`UNUSED_IMAGE_TTL`], so that rebuilding does not fill the disk. The age spares an image
    /// another platform on the same engine has just made and is about to run (an upgrade
    /// removes a node's container before making it again), and the build an upgrade may roll
    /// back to: the kubelet's image collection keeps a minimum age for the same reason.
    async fn remove_unused_images(&self, current: &str) {
        let filters = HashMap::from([("reference".to_owned(), vec![format!("{IMAGE_REPO}:*")])]);
        let options = ListImagesOptions { filters: Some(filters), ..Default::default() };
        let Ok(images) = self.docker.list_images(Some(options)).await else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let old = images.iter().filter(|i| i.created + UNUSED_IMAGE_TTL.as_secs() as i64 <= now);
        for tag in old.flat_map(|i| &i.repo_tags).filter(|t| *t != current) {
            if self.docker.remove_image(tag, None::<RemoveImageOptions>, None).await.is_ok() {
                tracing::info!(target: "hosts::docker", image = %tag, "removed an unused node image");
            }
        }
    }

    async fn import_image(&self, image: &str) -> Result<(), HostError> {
        tracing::info!(target: "hosts::docker", image, endpoint = %self.endpoint, "making the node image");
        let rootfs = root_filesystem(&self.program)?;
        let (repo, tag) = image.split_once(':').unwrap_or((image, "latest"));
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            changes: image_changes(),
            ..Default::default()
        };
        let mut progress =
            self.docker.create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| HostError::Io(format!("importing the node image: {e}")))?;
        }
        Ok(())
    }

    /// Makes the node's container of `image` from its recipe, with `secrets` (`KEY=value`)
    /// added to its environment, over its volumes.
    async fn make_container(
        &self,
        name: &str,
        (recipe, image): (&Recipe, String),
        secrets: Vec<String>,
    ) -> Result<(), HostError> {
        let labels = HashMap::from([
            (NODE_LABEL.to_owned(), name.to_owned()),
            (ORG_LABEL.to_owned(), recipe.org.clone()),
        ]);
        let volume = |source: String, target: &str| Mount {
            target: Some(target.into()),
            source: Some(source),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        };
        let (network_mode, networking_config) = match &recipe.network {
            Some(network) => {
                let endpoint = EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: recipe.address.map(|a| a.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let endpoints = HashMap::from([(network.clone(), endpoint)]);
                let config = NetworkingConfig { endpoints_config: Some(endpoints) };
                (network.clone(), Some(config))
            }
            None => ("host".to_owned(), None),
        };
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(recipe.args.clone()),
            env: Some(recipe.env.iter().cloned().chain(secrets).collect()),
            working_dir: Some(NODE_DIR.into()),
            labels: Some(labels),
            stop_timeout: Some(i64::from(STOP_GRACE_S)),
            host_config: Some(HostConfig {
                network_mode: Some(network_mode),
                memory: recipe.resources.memory_bytes.and_then(|b| i64::try_from(b).ok()),
                nano_cpus: recipe.resources.cpu_millis.map(|m| i64::from(m) * 1_000_000),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                mounts: Some(vec![
                    volume(object(name), NODE_DIR),
                    volume(data_volume(name), DATA_DIR),
                ]),
                log_config: Some(log_config(&LOG_RETENTION)),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(object(name)), ..Default::default() };
        self.docker.create_container(Some(options), body).await.map_err(|e| refused(name, e))?;
        Ok(())
    }

    /// The node's container as the engine sees it.
    async fn inspect(
        &self,
        name: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, HostError> {
        check_name(name)?;
        self.docker.inspect_container(&object(name), None).await.map_err(|e| refused(name, e))
    }

    /// The node's recipe, off its files volume.
    async fn recipe(&self, name: &str) -> Result<Recipe, HostError> {
        let volume =
            self.docker.inspect_volume(&object(name)).await.map_err(|e| refused(name, e))?;
        let json = volume.labels.get(RECIPE_LABEL).ok_or_else(|| {
            HostError::Io(format!(
                "node {name}: its volume carries no recipe: remove the node and add it again"
            ))
        })?;
        serde_json::from_str(json)
            .map_err(|e| HostError::Io(format!("node {name}: a bad recipe on its volume: {e}")))
    }

    /// The chain network `group`, made if missing: its subnet and gateway. The engine picks a
    /// subnet that clashes with none of its networks nor the machine's routes; the network is
    /// then made again with that subnet named, since the engine gives chosen addresses only
    /// on networks whose subnet was named.
    async fn chain_network(&self, group: &str) -> Result<(Ipv4Addr, u8, Ipv4Addr), HostError> {
        let name = network_name(group);
        let failed = |e: DockerError| HostError::Io(format!("docker: network {name}: {e}"));
        let subnet = |n: &bollard::models::NetworkInspect| {
            n.ipam
                .as_ref()
                .and_then(|i| i.config.as_ref())
                .and_then(|c| c.first())
                .and_then(|c| Some((c.subnet.clone()?, c.gateway.clone()?)))
        };
        if let Ok(found) = self.docker.inspect_network(&name, None).await {
            let (cidr, gateway) = subnet(&found)
                .ok_or_else(|| HostError::Io(format!("network {name} has no IPv4 subnet")))?;
            return parse_subnet(&cidr, &gateway);
        }
        let labels = HashMap::from([(GROUP_LABEL.to_owned(), group.to_owned())]);
        let mut request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker.create_network(request.clone()).await.map_err(failed)?;
        let probe = self.docker.inspect_network(&name, None).await.map_err(failed)?;
        self.docker.remove_network(&name).await.map_err(failed)?;
        let (cidr, gateway) = subnet(&probe)
            .ok_or_else(|| HostError::Io(format!("the engine gave network {name} no subnet")))?;
        request.ipam = Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(cidr.clone()),
                gateway: Some(gateway.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        self.docker.create_network(request).await.map_err(failed)?;
        tracing::info!(target: "hosts::docker", network = %name, subnet = %cidr, "made a chain network");
        parse_subnet(&cidr, &gateway)
    }

    /// The recipes of every node of the chain `group` on this engine.
    async fn group_recipes(&self, group: &str) -> Result<Vec<Recipe>, HostError> {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{GROUP_LABEL}={group}")])]);
        let options = ListVolumesOptions { filters: Some(filters) };
        let volumes = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| HostError::Io(format!("docker: listing volumes: {e}")))?;
        Ok(volumes
            .volumes
            .unwrap_or_default()
            .iter()
            .filter_map(|v| serde_json::from_str(v.labels.get(RECIPE_LABEL)?).ok())
            .collect())
    }

    /// Addresses on the chain network `group` for `count` new nodes: free of its gateway, of
    /// its nodes (also those cut off from it now) and of addresses just handed out.
    async fn assign_addresses(
        &self,
        group: &str,
        count: usize,
    ) -> Result<Vec<Ipv4Addr>, HostError> {
        let (base, prefix, gateway) = self.chain_network(group).await?;
        let taken: HashSet<Ipv4Addr> =
            self.group_recipes(group).await?.iter().filter_map(|r| r.address).collect();
        let network = network_name(group);
        let held = |a: Ipv4Addr| (self.endpoint.clone(), network.clone(), a);
        let mut handed = lock(&HANDED_OUT);
        let handed = handed.get_or_insert_with(HashMap::new);
        handed.retain(|_, at| at.elapsed() < ADDRESS_HOLD);
        let hosts = (1u64 << (32 - u32::from(prefix))).saturating_sub(2);
        let mut out = Vec::with_capacity(count);
        for n in 1..=hosts {
            if out.len() == count {
                break;
            }
            let Ok(n) = u32::try_from(n) else { break };
            let address = Ipv4Addr::from(u32::from(base) + n);
            if address != gateway
                && !taken.contains(&address)
                && !handed.contains_key(&held(address))
            {
                out.push(address);
            }
        }
        if out.len() < count {
            return Err(HostError::NoFreeAddress { network });
        }
        for a in &out {
            handed.insert(held(*a), Instant::now());
        }
        Ok(out)
    }

    /// Removes the chain network `group` once none of its nodes is left on this engine.
    async fn remove_network_if_unused(&self, group: &str) {
        if self.group_recipes(group).await.is_ok_and(|r| r.is_empty())
            && self.docker.remove_network(&network_name(group)).await.is_ok()
        {
            tracing::info!(target: "hosts::docker", network = %network_name(group), "removed a chain network");
        }
    }

    /// Puts `files` (path relative to the node's directory, contents) into the node's volume.
    async fn upload(&self, name: &str, files: &[(String, Vec<u8>)]) -> Result<(), HostError> {
        let archive = private_archive(files)?;
        let options = UploadToContainerOptions { path: NODE_DIR.into(), ..Default::default() };
        self.docker
            .upload_to_container(&object(name), Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| refused(name, e))
    }
}

/// The node image of a build: `consortia-node:<version>` ([`crate::program_version`]).
fn image_of(version: &str) -> String {
    format!("{IMAGE_REPO}:{version}")
}

/// The build of a node image ([`image_of`] undone).
fn build_of(image: &str) -> String {
    image.strip_prefix(IMAGE_REPO).and_then(|t| t.strip_prefix(':')).unwrap_or(image).to_owned()
}

/// `172.18.0.0/16` and `172.18.0.1`: the network's first address, prefix length and gateway.
fn parse_subnet(cidr: &str, gateway: &str) -> Result<(Ipv4Addr, u8, Ipv4Addr), HostError> {
    let bad = || {
        HostError::Io(format!("an IPv4 subnet and gateway were expected, not {cidr} via {gateway}"))
    };
    let (base, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let base: Ipv4Addr = base.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let gateway: Ipv4Addr = gateway.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&prefix) {
        return Err(bad());
    }
    let mask = u32::MAX << (32 - u32::from(prefix));
    Ok((Ipv4Addr::from(u32::from(base) & mask), prefix, gateway))
}

/// The shared libraries `program` links, by absolute path (none for a static binary).
fn linked_libraries(program: &Path) -> Result<Vec<PathBuf>, HostError> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|e| HostError::Io(format!("running ldd on the node program: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, target)) => target.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The settings an image imported from [`root_filesystem`] takes (`docker import --change`):
/// the node program as its entry point, the node's directory, the node's user.
pub fn image_changes() -> Vec<String> {
    vec![
        "ENTRYPOINT [\"/bin/consortia\"]".into(),
        format!("WORKDIR {NODE_DIR}"),
        format!("USER {NODE_UID}:{NODE_UID}"),
    ]
}

/// A tar of the node image's root: `/bin/consortia`, the libraries it links, and the node's
/// directory owned by the node's user. The same image runs on Docker hosts and, pushed to a
/// registry, on Kubernetes ones (`consortia node-image`).
pub fn root_filesystem(program: &Path) -> Result<Vec<u8>, HostError> {
    let io = |e: std::io::Error| HostError::Io(format!("making the node image: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes)
    };
    let binary = std::fs::read(program).map_err(io)?;
    add("bin/consortia", &binary, 0o755).map_err(io)?;
    for library in linked_libraries(program)? {
        let bytes = std::fs::read(&library).map_err(io)?;
        let inside = library.to_string_lossy().trim_start_matches('/').to_owned();
        add(&inside, &bytes, 0o755).map_err(io)?;
    }
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o700);
    dir.set_uid(NODE_UID);
    dir.set_gid(NODE_UID);
    dir.set_size(0);
    dir.set_cksum();
    // A new data volume takes the owner and mode of the image's directory it is mounted on.
    for path in [NODE_DIR, DATA_DIR] {
        let mut dir = dir.clone();
        tar.append_data(&mut dir, path.trim_start_matches('/'), std::io::empty()).map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

/// A tar of `files`, each 0600 and owned by the node's user, in 0700 directories of its.
fn private_archive(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, HostError> {
    let io = |e: std::io::Error| HostError::Io(format!("packing the node's files: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = files
        .iter()
        .filter_map(|(path, _)| Path::new(path).parent())
        .flat_map(|p| p.ancestors().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>())
        .filter(|d| !d.is_empty())
        .collect();
    dirs.sort();
    dirs.dedup();
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(NODE_UID);
        h.set_gid(NODE_UID);
        h.set_size(size);
        h.set_cksum();
        h
    };
    for dir in dirs {
        let mut h = header(tar::EntryType::Directory, 0o700, 0);
        tar.append_data(&mut h, &dir, std::io::empty()).map_err(io)?;
    }
    for (path, bytes) in files {
        crate::relative(path)?;
        let mut h = header(tar::EntryType::Regular, 0o600, bytes.len() as u64);
        tar.append_data(&mut h, path, bytes.as_slice()).map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

impl HostDriver for DockerDriver {
    fn kind(&self) -> &'static str {
        "docker"
    }

    /// The engine answers (API 1.41 or later) and has the node image, made now if missing.
    fn preflight(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(async move {
            let endpoint = &self.endpoint;
            self.docker.ping().await.map_err(|e| engine(endpoint, e))?;
            let version = self.docker.version().await.map_err(|e| engine(endpoint, e))?;
            let info = self.docker.info().await.map_err(|e| engine(endpoint, e))?;
            if let Some(time) = info.system_time.as_deref() {
                crate::preflight::check_clock(&format!("the Docker Engine at {endpoint}"), time)?;
            }
            let image = self.image().await?;
            let version = version.version.unwrap_or_default();
            Ok(format!("Docker Engine {version} at {endpoint}, image {image}"))
        })
    }

    fn place<'a>(
        &'a self,
        group: &'a str,
        address: IpAddr,
        wanted: &'a [Wanted],
    ) -> BoxFuture<'a, Result<Vec<[SocketAddr; 2]>, HostError>> {
        Box::pin(async move {
            if self.networking == Networking::Host {
                // The node's ports are the host's: chosen as a local process's are, or, on
                // another machine, where nothing can be checked from here.
                return if Engine::is_remote(&self.endpoint) {
                    crate::ports::place_elsewhere(address, wanted)
                } else {
                    crate::ports::place(address, wanted)
                };
            }
            check_name(group)?;
            let _placing = PLACING.lock().await;
            let addresses = self.assign_addresses(group, wanted.len()).await?;
            Ok(addresses
                .into_iter()
                .zip(wanted)
                .map(|(ip, Wanted { ports: [http, p2p], .. })| {
                    let at = |port: Option<u16>, default| {
                        SocketAddr::new(ip.into(), port.unwrap_or(default))
                    };
                    [at(*http, BRIDGE_PORTS[0]), at(*p2p, BRIDGE_PORTS[1])]
                })
                .collect())
        })
    }

    fn create(&self, spec: NodeSpec) -> BoxFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            check_name(&spec.name)?;
            let name = &spec.name;
            if self.docker.inspect_volume(&object(name)).await.is_ok() {
                return Err(HostError::Exists(name.clone()));
            }
            let address = match (self.networking, spec.address) {
                (Networking::Bridge, Some(IpAddr::V4(a))) => Some(a),
                (Networking::Bridge, _) => {
                    return Err(HostError::Io(format!(
                        "node {name} was not placed on its chain's network"
                    )));
                }
                (Networking::Host, _) => None,
            };
            let recipe = Recipe {
                args: spec.args.clone(),
                env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                resources: spec.resources,
                network: address.map(|_| network_name(&spec.group)),
                address,
                org: spec.org.clone(),
            };
            let json = serde_json::to_string(&recipe)
                .map_err(|e| HostError::Io(format!("node {name}: {e}")))?;
            let labels = HashMap::from([
                (NODE_LABEL.to_owned(), name.clone()),
                (GROUP_LABEL.to_owned(), spec.group.clone()),
                (ORG_LABEL.to_owned(), spec.org.clone()),
                (RECIPE_LABEL.to_owned(), json),
            ]);
            let volume = VolumeCreateRequest {
                name: Some(object(name)),
                labels: Some(labels),
                ..Default::default()
            };
            self.docker.create_volume(volume).await.map_err(|e| refused(name, e))?;
            let made = match self.image().await {
                Ok(image) => self.make_container(name, (&recipe, image), vec![]).await,
                Err(e) => Err(e),
            };
            let uploaded = match made {
                Ok(()) => self.upload(name, &spec.files).await,
                Err(e) => Err(e),
            };
            if let Err(e) = uploaded {
                let _ = self.remove(name).await;
                return Err(e);
            }
            Ok(())
        })
    }

    /// Starts the node's container, made anew when it is gone or lacks the secrets.
    fn start<'a>(
        &'a self,
        name: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            let recipe = self.recipe(name).await?;
            let container = object(name);
            let secrets: Vec<String> = secret_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let found = match self.docker.inspect_container(&container, None).await {
                Ok(found) => Some(found),
                Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => None,
                Err(e) => return Err(refused(name, e)),
            };
            // A container made anew keeps the build it ran; one that is gone gets the current.
            let image = match found {
                Some(found) => {
                    if found.state.as_ref().and_then(|s| s.running) == Some(true) {
                        return Ok(());
                    }
                    let config = found.config.unwrap_or_default();
                    let env = config.env.unwrap_or_default();
                    if secrets.iter().all(|s| env.contains(s)) {
                        return self
                            .docker
                            .start_container(&container, None)
                            .await
                            .map_err(|e| refused(name, e));
                    }
                    // The secrets go into the container's own configuration: make it anew
                    // (the volumes keep the node's files and data).
                    let remove = RemoveContainerOptions { force: true, ..Default::default() };
                    self.docker
                        .remove_container(&container, Some(remove))
                        .await
                        .map_err(|e| refused(name, e))?;
                    match config.image {
                        Some(image) => image,
                        None => self.image().await?,
                    }
                }
                None => {
                    tracing::info!(target: "hosts::docker", node = name, "making the node's container again from its recipe");
                    self.image().await?
                }
            };
            self.make_container(name, (&recipe, image), secrets).await?;
            self.docker.start_container(&container, None).await.map_err(|e| refused(name, e))
        })
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            let options = StopContainerOptions { t: Some(STOP_GRACE_S), ..Default::default() };
            match self.docker.stop_container(&object(name), Some(options)).await {
                // 304: it was not running.
                Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 304, .. }) => {
                    Ok(())
                }
                Err(e) => Err(refused(name, e)),
            }
        })
    }

    /// Removes the node's container and volumes, and its chain's network once no node of the
    /// chain is left here.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            let group = match self.docker.inspect_volume(&object(name)).await {
                Ok(v) => v.labels.get(GROUP_LABEL).cloned(),
                Err(_) => None,
            };
            let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            let container = self.docker.remove_container(&object(name), Some(options)).await;
            let mut volumes = 0;
            for volume in [object(name), data_volume(name)] {
                let options = Some(RemoveVolumeOptions { force: true });
                volumes += usize::from(self.docker.remove_volume(&volume, options).await.is_ok());
            }
            if let Some(group) = group.filter(|g| !g.is_empty()) {
                self.remove_network_if_unused(&group).await;
            }
            match container {
                Err(c) if volumes == 0 => Err(refused(name, c)),
                _ => Ok(()),
            }
        })
    }

    fn replace_file<'a>(
        &'a self,
        name: &'a str,
        path: &'a str,
        contents: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            self.upload(name, &[(path.to_owned(), contents)]).await
        })
    }

    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, HostError>> {
        Box::pin(async move {
            check_name(name)?;
            let options = LogsOptions {
                stdout: true,
                stderr: true,
                tail: lines.to_string(),
                ..Default::default()
            };
            let mut stream = self.docker.logs(&object(name), Some(options));
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| refused(name, e))?;
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            Ok(text.lines().map(str::to_owned).collect())
        })
    }

    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NodeStatus, HostError>> {
        Box::pin(async move {
            let found = self.inspect(name).await?;
            let restarts = u32::try_from(found.restart_count.unwrap_or(0)).unwrap_or(u32::MAX);
            let state = found.state.unwrap_or_default();
            Ok(if state.restarting == Some(true) {
                let code = state.exit_code.unwrap_or_default();
                NodeStatus::Restarting { restarts, last_exit: format!("exit status {code}") }
            } else if state.running == Some(true) {
                let pid = u32::try_from(state.pid.unwrap_or(0)).unwrap_or(0);
                NodeStatus::Running { pid, restarts }
            } else {
                NodeStatus::Stopped
            })
        })
    }

    fn version<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, HostError>> {
        Box::pin(async move {
            let found = self.inspect(name).await?;
            Ok(build_of(&found.config.and_then(|c| c.image).unwrap_or_default()))
        })
    }

    fn available_version(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(async move { Ok(build_of(&self.image().await?)) })
    }

    /// Makes the node's container anew on the image of `version` and starts it.
    fn run_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            let recipe = self.recipe(name).await?;
            let image = image_of(version);
            if self.docker.inspect_image(&image).await.is_err() {
                return Err(HostError::Io(format!(
                    "the engine at {} has no image {image} (any more): install that build of consortia where the platform runs",
                    self.endpoint
                )));
            }
            let container = object(name);
            let secrets = secret_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.stop(name).await?;
            let remove = RemoveContainerOptions { force: true, ..Default::default() };
            self.docker
                .remove_container(&container, Some(remove))
                .await
                .map_err(|e| refused(name, e))?;
            self.make_container(name, (&recipe, image), secrets).await?;
            self.docker.start_container(&container, None).await.map_err(|e| refused(name, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_archive_is_private_to_the_node_user() {
        let files =
            vec![("keys/node.key".to_owned(), b"k".to_vec()), ("node.toml".into(), b"t".to_vec())];
        let archive = private_archive(&files).unwrap();
        let mut tar = tar::Archive::new(archive.as_slice());
        let entries: Vec<(String, u32, u64)> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("keys".to_owned(), 0o700, NODE_UID),
                ("keys/node.key".to_owned(), 0o600, NODE_UID),
                ("node.toml".to_owned(), 0o600, NODE_UID),
            ]
        );
    }

    #[test]
    fn a_subnet_is_read_as_its_first_address_prefix_and_gateway() {
        let parsed = parse_subnet("172.18.0.5/16", "172.18.0.1").unwrap();
        assert_eq!(parsed, (Ipv4Addr::new(172, 18, 0, 0), 16, Ipv4Addr::new(172, 18, 0, 1)));
        assert!(parse_subnet("fd00::/64", "fd00::1").is_err(), "IPv6");
        assert!(parse_subnet("10.0.0.0/31", "10.0.0.1").is_err(), "no room for nodes");
        assert!(parse_subnet("10.0.0.0", "10.0.0.1").is_err(), "no prefix");
    }

    #[test]
    fn a_file_outside_the_node_directory_is_refused() {
        let files = vec![("../etc/passwd".to_owned(), b"x".to_vec())];
        assert!(private_archive(&files).is_err());
    }

    #[test]
    fn the_image_root_holds_the_program_and_what_it_links() {
        let program = std::env::current_exe().unwrap();
        let libraries = linked_libraries(&program).unwrap();
        assert!(libraries.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libraries:?}");
        let rootfs = root_filesystem(&program).unwrap();
        let mut tar = tar::Archive::new(rootfs.as_slice());
        let paths: Vec<String> = tar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(paths.contains(&"bin/consortia".to_owned()), "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("libc.so.6")), "{paths:?}");
    }
}
