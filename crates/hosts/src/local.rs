//! Nodes as processes of this machine: each in its own directory under the driver's root
//! (its files, `node.log`, `node.pid`) and its own process group, so nodes outlive the
//! platform (a chain never needs the platform). A node that exits on its own is started again
//! after 1 s, 2 s, 4 s … up to 30 s (a run of a minute resets the pause). A driver opened on a
//! root whose nodes still run (the platform restarted) adopts them and supervises them again.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::logfile;
use crate::process::{cmdline, exited, terminate};
use crate::{
    BoxFuture, HostDriver, HostError, LOG_RETENTION, NodeSpec, NodeStatus, Wanted, check_name,
};

/// How long a node gets to stop after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How often an adopted process (not our child: no exit notification) is checked.
const POLL: Duration = Duration::from_millis(200);
/// Most bytes of a log read for a tail.
const LOG_TAIL_BYTES: u64 = 1 << 20;
/// The file in a node's directory naming the build its process last started from.
const VERSION_FILE: &str = "node.version";

/// How often the nodes' logs are looked at for rotation.
const ROTATE_EVERY: Duration = Duration::from_secs(30);

/// Runs nodes as local processes of `program` (the `consortia` binary).
#[derive(Debug)]
pub struct LocalDriver {
    root: PathBuf,
    program: PathBuf,
    nodes: Mutex<HashMap<String, Supervisor>>,
    /// Rotates the nodes' logs ([`LOG_RETENTION`]), when opened in a runtime.
    rotation: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Supervisor {
    status: Arc<Mutex<NodeStatus>>,
    /// Environment given at start, for every (re)start; in memory only.
    secret_env: SecretEnv,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

type SecretEnv = Arc<Mutex<Vec<(String, String)>>>;

fn io(e: impl std::fmt::Display) -> HostError {
    HostError::Io(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocalDriver {
    /// A driver whose nodes live under `root`, run with `program`. Nodes of an earlier driver
    /// on the same root that still run are adopted: supervised again, restarted if they exit.
    pub fn open(root: &Path, program: &Path) -> Result<LocalDriver, HostError> {
        std::fs::create_dir_all(root).map_err(io)?;
        let rotation = tokio::runtime::Handle::try_current()
            .ok()
            .map(|runtime| runtime.spawn(rotate_logs(root.to_path_buf())));
        let driver = LocalDriver {
            root: root.to_path_buf(),
            program: program.to_path_buf(),
            nodes: Mutex::new(HashMap::new()),
            rotation,
        };
        for entry in std::fs::read_dir(root).map_err(io)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = driver.live_pid(&name) {
                tracing::info!(target: "hosts::local", node = %name, pid, "adopting a running node");
                driver.supervise(&name, Some(pid), &[])?;
            }
        }
        Ok(driver)
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The names of the nodes created on this host, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("spec.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn spec(&self, name: &str) -> Result<NodeSpec, HostError> {
        check_name(name)?;
        let raw = std::fs::read(self.dir(name).join("spec.json"))
            .map_err(|_| HostError::UnknownNode(name.to_owned()))?;
        serde_json::from_slice(&raw).map_err(io)
    }

    /// The pid in the node's pid file, if that process runs our program.
    fn live_pid(&self, name: &str) -> Option<u32> {
        let pid: u32 =
            std::fs::read_to_string(self.dir(name).join("node.pid")).ok()?.trim().parse().ok()?;
        let program = self.program.file_name()?.to_string_lossy().into_owned();
        cmdline(pid).filter(|c| c.contains(&program)).map(|_| pid)
    }

    fn supervise(
        &self,
        name: &str,
        adopt: Option<u32>,
        secrets: &[(String, String)],
    ) -> Result<(), HostError> {
        let spec = self.spec(name)?;
        let mut nodes = lock(&self.nodes);
        if let Some(running) = nodes.get(name).filter(|s| !s.task.is_finished()) {
            if !secrets.is_empty() {
                *lock(&running.secret_env) = secrets.to_vec();
            }
            return Ok(());
        }
        let (stop, stop_rx) = watch::channel(false);
        let status = Arc::new(Mutex::new(match adopt {
            Some(pid) => NodeStatus::Running { pid, restarts: 0 },
            None => NodeStatus::Stopped,
        }));
        let secret_env = Arc::new(Mutex::new(secrets.to_vec()));
        let run = Run {
            dir: self.dir(name),
            program: self.program.clone(),
            spec,
            status: status.clone(),
            secret_env: secret_env.clone(),
        };
        let task = tokio::spawn(run.supervise(stop_rx, adopt));
        nodes.insert(name.to_owned(), Supervisor { status, secret_env, stop, task });
        Ok(())
    }
}

impl Drop for LocalDriver {
    /// The nodes keep running (they are their own process groups); only supervision ends, and
    /// a driver opened later on the same root adopts them.
    fn drop(&mut self) {
        for s in lock(&self.nodes).values() {
            s.task.abort();
        }
        if let Some(rotation) = &self.rotation {
            rotation.abort();
        }
    }
}

/// One node's supervision.
struct Run {
    dir: PathBuf,
    program: PathBuf,
    spec: NodeSpec,
    status: Arc<Mutex<NodeStatus>>,
    secret_env: SecretEnv,
}

impl Run {
    fn set(&self, status: NodeStatus) {
        *lock(&self.status) = status;
    }

    fn note(&self, line: &str) {
        if let Ok(mut log) =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("node.log"))
        {
            let _ = writeln!(log, "[consortia-hosts] {line}");
        }
    }

    async fn supervise(self, mut stop: watch::Receiver<bool>, mut adopt: Option<u32>) {
        let mut restarts = 0;
        let mut pause = FIRST_PAUSE;
        loop {
            let started = Instant::now();
            let exit = match adopt.take() {
                Some(pid) => self.watch_adopted(pid, restarts, &mut stop).await,
                None => self.run_child(restarts, &mut stop).await,
            };
            let Some(exit) = exit else {
                // Stopped on request.
                let _ = std::fs::remove_file(self.dir.join("node.pid"));
                self.set(NodeStatus::Stopped);
                return;
            };
            let _ = std::fs::remove_file(self.dir.join("node.pid"));
            if started.elapsed() >= HEALTHY_RUN {
                pause = FIRST_PAUSE;
            }
            restarts += 1;
            self.note(&format!("node exited ({exit}); starting it again in {} s", pause.as_secs()));
            tracing::warn!(target: "hosts::local", node = %self.spec.name, %exit, restarts, "node exited; restarting");
            self.set(NodeStatus::Restarting { restarts, last_exit: exit });
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {
                    self.set(NodeStatus::Stopped);
                    return;
                }
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Runs the node as our child until it exits (`Some(how)`) or is stopped (`None`).
    async fn run_child(&self, restarts: u32, stop: &mut watch::Receiver<bool>) -> Option<String> {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("node.log"));
        let (out, err) = match log.and_then(|l| Ok((l.try_clone()?, l))) {
            Ok(pair) => pair,
            Err(e) => return Some(format!("cannot open its log: {e}")),
        };
        let child = tokio::process::Command::new(&self.program)
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .envs(lock(&self.secret_env).iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot start {}: {e}", self.program.display())),
        };
        let pid = child.id().unwrap_or(0);
        let _ = std::fs::write(self.dir.join("node.pid"), pid.to_string());
        self.set(NodeStatus::Running { pid, restarts });
        // Hashing the program reads all of it once (then it is remembered): off this thread.
        let (program, version_file) = (self.program.clone(), self.dir.join(VERSION_FILE));
        tokio::task::spawn_blocking(move || {
            if let Ok(version) = crate::program_version(&program) {
                let _ = std::fs::write(version_file, version);
            }
        });
        tokio::select! {
            status = child.wait() => Some(match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }),
            _ = stop.changed() => {
                terminate(pid, GRACE).await;
                let _ = child.wait().await;
                None
            }
        }
    }

    /// Watches a node another driver started, until it exits or is stopped.
    async fn watch_adopted(
        &self,
        pid: u32,
        restarts: u32,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<String> {
        self.set(NodeStatus::Running { pid, restarts });
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {
                    if exited(pid) {
                        return Some("exited while adopted".into());
                    }
                }
                _ = stop.changed() => {
                    terminate(pid, GRACE).await;
                    return None;
                }
            }
        }
    }
}

/// A relative path inside a node's directory (no `..`, not absolute).
fn inside(dir: &Path, rel: &str) -> Result<PathBuf, HostError> {
    Ok(dir.join(crate::relative(rel)?))
}

/// Writes a node's files into `dir` (created if missing): the directory is its owner's only
/// (0700) and so is every file (0600), for they hold the node's keys.
pub fn write_files(dir: &Path, spec: &NodeSpec) -> Result<(), HostError> {
    for (rel, _) in &spec.files {
        inside(dir, rel)?;
    }
    private_dir(dir)?;
    for (rel, bytes) in &spec.files {
        let path = inside(dir, rel)?;
        if let Some(parent) = path.parent() {
            private_dir(parent)?;
        }
        write_private(&path, bytes)?;
    }
    Ok(())
}

fn private_dir(dir: &Path) -> Result<(), HostError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)
}

/// Writes a file readable by its owner only (replacing one that was there).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    f.write_all(bytes).map_err(io)
}

impl HostDriver for LocalDriver {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn preflight(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(async move {
            let program = &self.program;
            if !program.is_file() {
                return Err(HostError::Io(format!(
                    "the node program {} is missing: reinstall consortia",
                    program.display()
                )));
            }
            crate::preflight::check_free_space(&self.root)?;
            Ok(format!("local processes of {}", program.display()))
        })
    }

    fn place<'a>(
        &'a self,
        _group: &'a str,
        address: IpAddr,
        wanted: &'a [Wanted],
    ) -> BoxFuture<'a, Result<Vec<[SocketAddr; 2]>, HostError>> {
        Box::pin(async move { crate::ports::place(address, wanted) })
    }

    fn create(&self, spec: NodeSpec) -> BoxFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            check_name(&spec.name)?;
            let dir = self.dir(&spec.name);
            if dir.join("spec.json").exists() {
                return Err(HostError::Exists(spec.name));
            }
            write_files(&dir, &spec)?;
            let json = serde_json::to_vec_pretty(&spec).map_err(io)?;
            write_private(&dir.join("spec.json"), &json)
        })
    }

    fn start<'a>(
        &'a self,
        name: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let adopt = self.live_pid(name);
            self.supervise(name, adopt, secret_env)
        })
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.spec(name)?;
            let supervisor = lock(&self.nodes).remove(name);
            match supervisor {
                Some(s) => {
                    let _ = s.stop.send(true);
                    let _ = s.task.await;
                }
                // Running without supervision (nobody started it since the driver opened).
                None => {
                    if let Some(pid) = self.live_pid(name) {
                        terminate(pid, GRACE).await;
                    }
                }
            }
            let _ = std::fs::remove_file(self.dir(name).join("node.pid"));
            Ok(())
        })
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.stop(name).await?;
            std::fs::remove_dir_all(self.dir(name)).map_err(io)
        })
    }

    fn replace_file<'a>(
        &'a self,
        name: &'a str,
        path: &'a str,
        contents: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let mut spec = self.spec(name)?;
            let dir = self.dir(name);
            let target = inside(&dir, path)?;
            let next = target.with_extension("next");
            write_private(&next, &contents)?;
            std::fs::rename(&next, &target).map_err(io)?;
            match spec.files.iter_mut().find(|(p, _)| p == path) {
                Some(file) => file.1 = contents,
                None => spec.files.push((path.to_owned(), contents)),
            }
            let json = serde_json::to_vec_pretty(&spec).map_err(io)?;
            let spec_next = dir.join("spec.json.next");
            write_private(&spec_next, &json)?;
            std::fs::rename(&spec_next, dir.join("spec.json")).map_err(io)
        })
    }

    fn logs<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, HostError>> {
        Box::pin(async move {
            self.spec(name)?;
            let path = self.dir(name).join("node.log");
            let Ok(bytes) = logfile::tail_bytes(&path, LOG_TAIL_BYTES) else { return Ok(vec![]) };
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            Ok(all[all.len().saturating_sub(lines)..].iter().map(|l| (*l).to_owned()).collect())
        })
    }

    fn status<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<NodeStatus, HostError>> {
        Box::pin(async move {
            self.spec(name)?;
            if let Some(s) = lock(&self.nodes).get(name) {
                return Ok(lock(&s.status).clone());
            }
            Ok(match self.live_pid(name) {
                Some(pid) => NodeStatus::Running { pid, restarts: 0 },
                None => NodeStatus::Stopped,
            })
        })
    }

    fn version<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, HostError>> {
        Box::pin(async move {
            self.spec(name)?;
            let version = std::fs::read_to_string(self.dir(name).join(VERSION_FILE));
            version.map_err(|_| HostError::Io(format!("node {name} has not run yet")))
        })
    }

    fn available_version(&self) -> BoxFuture<'_, Result<String, HostError>> {
        Box::pin(crate::version::installed_version(&self.program))
    }

    /// Restarts the node on the program as installed; a local host keeps no other build, so
    /// it cannot go back to one it replaced.
    fn run_version<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        secret_env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let installed = crate::version::installed_version(&self.program).await?;
            if version != installed {
                return Err(HostError::Io(format!(
                    "this local host runs the node program installed at {} ({installed}); build {version} is not there any more",
                    self.program.display()
                )));
            }
            self.stop(name).await?;
            self.start(name, secret_env).await
        })
    }
}

/// Every [`ROTATE_EVERY`], each node's log under `root` as [`logfile::rotate`] leaves it.
async fn rotate_logs(root: PathBuf) {
    loop {
        tokio::time::sleep(ROTATE_EVERY).await;
        let root = root.clone();
        let rotated = tokio::task::spawn_blocking(move || {
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if let Err(e) = logfile::rotate(&entry.path().join("node.log"), &LOG_RETENTION) {
                    tracing::warn!(target: "hosts::local", dir = %entry.path().display(), error = %e, "rotating a node's log");
                }
            }
        });
        let _ = rotated.await;
    }
}
