//! Nodes as containers of a Docker Engine, reached through its API (`bollard`): one container
//! and one named volume per node, both named `consortia-<node>`.
//!
//! - **Image.** The node image is made by the driver from the node program itself: a root
//!   filesystem holding the `consortia` binary and the shared libraries it links (read off
//!   `ldd`), imported as `consortia-node:<version>-<digest>` (`POST /images/create?fromSrc=-`,
//!   what `docker import` does). No registry is needed, and an image is never rebuilt for the
//!   same binary.
//! - **Files.** The node's files (configuration, genesis, encrypted keys, certificates) go into
//!   its volume at `/node` through the archive API, owned by the unprivileged user the node runs
//!   as (65534) and readable by it alone (0600 in a 0700 directory). Nothing is written to the
//!   platform machine's disk.
//! - **Secrets.** The secret that unlocks a node's keys is given at start: the container is
//!   (re)made with it in its environment, held by the engine (root-only), never in the image or
//!   the volume.
//! - **Supervision** is the engine's: restart policy `unless-stopped` restarts a node that exits
//!   (with the engine's backoff), and nodes outlive the platform.
//! - **Network.** Containers share the host's network (`network_mode: host`): a node listens on
//!   the host's address and ports as a local process would, so ports are chosen the same way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListImagesOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions, RemoveVolumeOptions, StopContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::{BoxFuture, HostDriver, HostError, NodeSpec, NodeStatus, Resources, check_name};

/// The user and group a node runs as in its container (`nobody`): not root.
const NODE_UID: u64 = 65534;
/// Where a node's volume is mounted, and its working directory.
const NODE_DIR: &str = "/node";
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
/// The label every object the driver makes carries: the node's name.
const NODE_LABEL: &str = "io.consortia.node";

/// Runs nodes as containers of one Docker Engine.
#[derive(Debug)]
pub struct DockerDriver {
    docker: Docker,
    endpoint: String,
    /// The node program the image is made from.
    program: PathBuf,
    /// The node image, once known to be on the engine.
    image: Mutex<Option<String>>,
    /// Environment given at start, per node; in memory only.
    secrets: Mutex<HashMap<String, Vec<(String, String)>>>,
}

fn engine(endpoint: &str, e: DockerError) -> HostError {
    HostError::Io(format!(
        "cannot reach the Docker Engine at {endpoint}: {e}; start dockerd (`scripts/docker` does) or register the host with its engine's endpoint"
    ))
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DockerDriver {
    /// A driver for the engine at `endpoint` (`unix:///var/run/docker.sock`, or a socket path;
    /// empty: the default socket) running `program` in its node image. It connects on each
    /// call, so an engine that was down is used again once it is back; `preflight` checks it
    /// answers.
    pub fn new(endpoint: &str, program: &Path) -> Result<DockerDriver, HostError> {
        let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
        let path = if path.is_empty() { DEFAULT_SOCKET } else { path };
        let endpoint = format!("unix://{path}");
        let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_S, API_VERSION)
            .map_err(|e| engine(&endpoint, e))?;
        Ok(DockerDriver {
            docker,
            endpoint,
            program: program.to_path_buf(),
            image: Mutex::new(None),
            secrets: Mutex::default(),
        })
    }

    /// The node image, made from the node program unless the engine has it already.
    async fn image(&self) -> Result<String, HostError> {
        if let Some(image) = lock(&self.image).clone() {
            return Ok(image);
        }
        let image = image_tag(&self.program)?;
        if self.docker.inspect_image(&image).await.is_err() {
            self.import_image(&image).await?;
            self.remove_unused_images(&image).await;
        }
        *lock(&self.image) = Some(image.clone());
        Ok(image)
    }

    /// Removes node images of other builds that no container uses (the engine refuses to
    /// remove one that a container, even a stopped one, still uses), so that rebuilding does
    /// not fill the disk.
    async fn remove_unused_images(&self, current: &str) {
        let filters = HashMap::from([("reference".to_owned(), vec![format!("{IMAGE_REPO}:*")])]);
        let options = ListImagesOptions { filters: Some(filters), ..Default::default() };
        let Ok(images) = self.docker.list_images(Some(options)).await else { return };
        for tag in images.iter().flat_map(|i| &i.repo_tags).filter(|t| *t != current) {
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
            changes: vec![
                "ENTRYPOINT [\"/bin/consortia\"]".into(),
                format!("WORKDIR {NODE_DIR}"),
                format!("USER {NODE_UID}:{NODE_UID}"),
            ],
            ..Default::default()
        };
        let mut progress =
            self.docker.create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| HostError::Io(format!("importing the node image: {e}")))?;
        }
        Ok(())
    }

    /// Makes the node's container from its command line and environment (`env`, with the
    /// secrets given at start), over its volume.
    async fn make_container(
        &self,
        name: &str,
        (args, env): (Vec<String>, Vec<String>),
        resources: Resources,
    ) -> Result<(), HostError> {
        let labels = HashMap::from([(NODE_LABEL.to_owned(), name.to_owned())]);
        let body = ContainerCreateBody {
            image: Some(self.image().await?),
            cmd: Some(args),
            env: Some(env),
            working_dir: Some(NODE_DIR.into()),
            labels: Some(labels),
            stop_timeout: Some(i64::from(STOP_GRACE_S)),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                memory: resources.memory_bytes.and_then(|b| i64::try_from(b).ok()),
                nano_cpus: resources.cpu_millis.map(|m| i64::from(m) * 1_000_000),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                mounts: Some(vec![Mount {
                    target: Some(NODE_DIR.into()),
                    source: Some(object(name)),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(object(name)), ..Default::default() };
        self.docker.create_container(Some(options), body).await.map_err(|e| refused(name, e))?;
        Ok(())
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

/// `consortia-node:<version>-<first 12 hex digits of the program's SHA-256>`.
fn image_tag(program: &Path) -> Result<String, HostError> {
    let bytes = std::fs::read(program).map_err(|e| {
        HostError::Io(format!("reading the node program {}: {e}", program.display()))
    })?;
    let digest = hex_prefix(&Sha256::digest(&bytes), 6);
    Ok(format!("{IMAGE_REPO}:{}-{digest}", env!("CARGO_PKG_VERSION")))
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
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

/// A tar of the node image's root: `/bin/consortia`, the libraries it links, and the node's
/// directory owned by the node's user.
fn root_filesystem(program: &Path) -> Result<Vec<u8>, HostError> {
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
    tar.append_data(&mut dir, NODE_DIR.trim_start_matches('/'), std::io::empty()).map_err(io)?;
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
            let image = self.image().await?;
            let version = version.version.unwrap_or_default();
            Ok(format!("Docker Engine {version} at {endpoint}, image {image}"))
        })
    }

    fn assign_ports<'a>(
        &'a self,
        address: IpAddr,
        wanted: &'a [[Option<u16>; 2]],
    ) -> BoxFuture<'a, Result<Vec<[u16; 2]>, HostError>> {
        // Host networking: the node's ports are the host's, so they are chosen as a local
        // process's are.
        Box::pin(async move { crate::ports::assign(address, wanted) })
    }

    fn create(&self, spec: NodeSpec) -> BoxFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            check_name(&spec.name)?;
            let name = &spec.name;
            if self.docker.inspect_container(&object(name), None).await.is_ok() {
                return Err(HostError::Exists(name.clone()));
            }
            let labels = HashMap::from([(NODE_LABEL.to_owned(), name.clone())]);
            let volume = VolumeCreateRequest {
                name: Some(object(name)),
                labels: Some(labels),
                ..Default::default()
            };
            self.docker.create_volume(volume).await.map_err(|e| refused(name, e))?;
            let env = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let made = self.make_container(name, (spec.args.clone(), env), spec.resources).await;
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

    fn start<'a>(
        &'a self,
        name: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            lock(&self.secrets).insert(name.to_owned(), secret_env.to_vec());
            let container = object(name);
            let found = self
                .docker
                .inspect_container(&container, None)
                .await
                .map_err(|e| refused(name, e))?;
            if found.state.as_ref().and_then(|s| s.running) == Some(true) {
                return Ok(());
            }
            let config = found.config.unwrap_or_default();
            let wanted: Vec<String> = secret_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut env = config.env.unwrap_or_default();
            if !wanted.iter().all(|w| env.contains(w)) {
                // The secrets go into the container's own configuration: make it anew (the
                // volume keeps the node's files and data).
                let secret_keys: Vec<&str> = secret_env.iter().map(|(k, _)| k.as_str()).collect();
                env.retain(|e| !secret_keys.iter().any(|k| e.starts_with(&format!("{k}="))));
                env.extend(wanted);
                let remove = RemoveContainerOptions { force: true, ..Default::default() };
                self.docker
                    .remove_container(&container, Some(remove))
                    .await
                    .map_err(|e| refused(name, e))?;
                let host = found.host_config.unwrap_or_default();
                let resources = Resources {
                    memory_bytes: host
                        .memory
                        .and_then(|b| u64::try_from(b).ok())
                        .filter(|b| *b > 0),
                    cpu_millis: host
                        .nano_cpus
                        .and_then(|n| u32::try_from(n / 1_000_000).ok())
                        .filter(|m| *m > 0),
                };
                self.make_container(name, (config.cmd.unwrap_or_default(), env), resources).await?;
            }
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

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            check_name(name)?;
            lock(&self.secrets).remove(name);
            let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            let container = self.docker.remove_container(&object(name), Some(options)).await;
            let volume = self
                .docker
                .remove_volume(&object(name), Some(RemoveVolumeOptions { force: true }))
                .await;
            match (container, volume) {
                (Err(c), Err(_)) => Err(refused(name, c)),
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
            check_name(name)?;
            let found = self
                .docker
                .inspect_container(&object(name), None)
                .await
                .map_err(|e| refused(name, e))?;
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
