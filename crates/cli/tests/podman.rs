//! A chain's Kubernetes objects, as the Kubernetes driver writes them
//! (`consortia_hosts::kubernetes::node_objects`), run for real by Podman's `kube play`: the one
//! engine of Kubernetes manifests this machine can install (Debian 12's Podman 4.3.1). Four
//! validators, each a Deployment of one with its ConfigMap, Secret and claim, on the image
//! `consortia node-image` makes, commit a transaction; a node whose pod goes comes back on its
//! claim with its chain.
//!
//! What Podman 4.3 cannot run is adapted here, and only here (`for_podman`):
//! - it mounts ConfigMap, HostPath, EmptyDir and PVC volumes only, not projected or Secret
//!   ones: the node's files, its Secret's key files among them, are mounted from one
//!   ConfigMap (the key files are encrypted; their passphrase stays a secret);
//! - it reads `envFrom.secretRef` from its own secrets, made by `podman secret create` from
//!   the environment Secret's data;
//! - it plays no Services: each pod gets an address on the test's network (`--ip`), standing
//!   for its Service's cluster IP;
//! - it makes a volume of a ConfigMap's files named as the ConfigMap, the name a claim's
//!   volume has too (both are the node's): the claim is renamed `<node>-data`; and it refuses
//!   to play a claim whose volume exists, where Kubernetes applies it again unchanged: the
//!   claim is played once, apart;
//! - it publishes every container port on the machine's own (so a second node's 8545 clashes
//!   with the first's): the ports are dropped, the probes name theirs by number.
//!
//! Runs where `CONSORTIA_TEST_PODMAN` names the containers.conf `scripts/podman` writes (its
//! limits are ones this machine's runtime may set); skipped elsewhere.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use consortia_crypto::pki::Ca;
use consortia_crypto::{PrivateKey, Scheme, Suite};
use consortia_hosts::NodeSpec;
use consortia_hosts::kubernetes::{Cluster, env_secret, node_objects, object_name};
use consortia_platform::provision::{ChainPlan, NodeApi, NodePlan, plan, resources};
use consortia_test_utils::process::{BIN, get_json, http, notarize_tx, sdk};
use consortia_types::config::{Access, KEY_PASSPHRASE_ENV};
use consortia_types::{ChainParams, ConsensusKind, GenesisMember, encode};
use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, KeyToPath};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rand_core::RngCore;

const REPOSITORY: &str = "localhost/consortia-node";

/// One chain on Podman at a time: four nodes each are what this machine holds.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The containers.conf to run Podman with, if this machine runs it.
fn podman_conf() -> Option<String> {
    std::env::var("CONSORTIA_TEST_PODMAN").ok().filter(|c| !c.is_empty())
}

fn podman(conf: &str, args: &[&str]) -> std::process::Output {
    Command::new("podman").args(args).env("CONTAINERS_CONF", conf).output().unwrap()
}

/// Runs `podman args`, failing the test with its error output.
fn podman_ok(conf: &str, args: &[&str]) -> String {
    let out = podman(conf, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "podman {}: {err}", args.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The node image of the binary under test, imported once: its build.
fn image(conf: &str, dir: &Path) -> String {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let rootfs = dir.join("rootfs.tar");
            let out = Command::new(&*BIN).arg("node-image").arg("--output").arg(&rootfs).output();
            let out = out.unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let build = String::from_utf8(out.stdout).unwrap().trim().to_owned();
            let image = format!("{REPOSITORY}:{build}");
            if !podman(conf, &["image", "exists", &image]).status.success() {
                let mut args = vec!["import".to_owned()];
                for change in consortia_hosts::docker::image_changes() {
                    args.extend(["--change".to_owned(), change]);
                }
                args.extend([rootfs.to_string_lossy().into_owned(), image.clone()]);
                podman_ok(conf, &args.iter().map(String::as_str).collect::<Vec<_>>());
                // Images of builds before this one would only fill the disk.
                let format = "{{.Repository}}:{{.Tag}}";
                let listed = podman_ok(conf, &["images", "--format", format, REPOSITORY]);
                for old in listed.lines().filter(|l| *l != image) {
                    let _ = podman(conf, &["rmi", old]);
                }
            }
            std::fs::remove_file(rootfs).unwrap();
            build
        })
        .clone()
}

/// The node's objects as Podman 4.3 can play them (see the module's note): its claim, its
/// ConfigMap and Deployment (a YAML stream), and its environment secret's data.
fn for_podman(spec: &NodeSpec, build: &str, passphrase: &str) -> [String; 3] {
    let cluster =
        Cluster { repository: REPOSITORY.into(), storage_class: None, storage_bytes: 1 << 30 };
    let mut objects = node_objects(spec, &cluster, build, [8545, 30303], true).unwrap();
    let mut files = objects.config_map.data.take().unwrap_or_default();
    for (key, bytes) in objects.secret.data.take().unwrap_or_default() {
        files.insert(key, String::from_utf8(bytes.0).unwrap());
    }
    objects.config_map.data = Some(files);
    let pod = objects.deployment.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    let node = &mut pod.containers[0];
    node.ports = None;
    for probe in [&mut node.readiness_probe, &mut node.liveness_probe].into_iter().flatten() {
        probe.http_get.as_mut().unwrap().port = IntOrString::Int(8545);
    }
    let data = format!("{}-data", object_name(&spec.name));
    objects.claim.metadata.name = Some(data.clone());
    let volumes = pod.volumes.as_mut().unwrap();
    volumes[1].persistent_volume_claim.as_mut().unwrap().claim_name = data;
    let volume = &mut volumes[0];
    let projected = volume.projected.take().unwrap();
    let items: Vec<KeyToPath> = projected
        .sources
        .unwrap()
        .into_iter()
        .flat_map(|s| {
            let from_map = s.config_map.and_then(|c| c.items).unwrap_or_default();
            from_map.into_iter().chain(s.secret.and_then(|c| c.items).unwrap_or_default())
        })
        .collect();
    volume.config_map = Some(ConfigMapVolumeSource {
        name: object_name(&spec.name),
        items: Some(items),
        default_mode: projected.default_mode,
        optional: None,
    });
    let docs = [
        serde_json::to_string(&objects.config_map).unwrap(),
        serde_json::to_string(&objects.deployment).unwrap(),
    ];
    let env = env_secret(
        &spec.name,
        &spec.group,
        &spec.org,
        &[(KEY_PASSPHRASE_ENV.into(), passphrase.into())],
    );
    [
        serde_json::to_string(&objects.claim).unwrap(),
        docs.join("\n---\n"),
        serde_json::to_string(&env.data.unwrap()).unwrap(),
    ]
}

/// A 4-validator chain played on Podman; removed on drop.
struct PodmanChain {
    conf: String,
    dir: tempfile::TempDir,
    network: String,
    /// Each node's name and address.
    nodes: Vec<(String, String)>,
    chain_id: u64,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl PodmanChain {
    /// Plays a chain on the network `10.89.<subnet>.0/24`.
    fn play(conf: String, subnet: u8) -> PodmanChain {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let build = image(&conf, dir.path());
        let group = format!("podman{subnet}");
        let network = format!("consortia-{group}");
        let _ = podman(&conf, &["network", "rm", "-f", &network]);
        let cidr = format!("10.89.{subnet}.0/24");
        podman_ok(&conf, &["network", "create", "--subnet", &cidr, &network]);
        let ca = Ca::generate("podman").unwrap();
        // As random as the platform's (the key files' encryption takes a strong secret).
        let passphrases: Vec<String> = (0..4)
            .map(|_| {
                let mut bytes = [0u8; 32];
                rand_core::OsRng.fill_bytes(&mut bytes);
                hex::encode(bytes)
            })
            .collect();
        let address = |i: usize| format!("10.89.{subnet}.{}", 10 + i);
        let nodes: Vec<NodePlan<'_>> = (0..4)
            .map(|i| NodePlan {
                name: format!("v{i}"),
                spec_name: format!("{group}-v{i}"),
                group: group.clone(),
                org: "org".into(),
                resources: resources(Some(256), None),
                validator: true,
                issuer: &ca,
                http: format!("{}:8545", address(i)).parse().unwrap(),
                p2p: format!("{}:30303", address(i)).parse().unwrap(),
                key_secret: Some(&passphrases[i]),
                cert_days: None,
            })
            .collect();
        let admin = PrivateKey::generate(Scheme::Secp256k1);
        let chain_id = 7000 + u64::from(subnet);
        let chain = ChainPlan {
            chain_id,
            chain_name: group.clone(),
            suite: Suite::Standard,
            params: ChainParams { consensus: ConsensusKind::Bft, ..ChainParams::default() },
            accounts: vec![],
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            ca_cert_pem: ca.cert_pem().to_owned(),
            nodes,
            members: vec![GenesisMember {
                id: "org".into(),
                admins: vec![admin.public_key().address()],
                ca_cert: String::new(),
                nodes: (0..4).map(|i| format!("v{i}")).collect(),
            }],
            api: NodeApi { cors_origins: vec![], access: Access::Open, https: false },
        };
        let planned = plan(&chain).unwrap();
        let mut chain = PodmanChain { conf, dir, network, nodes: vec![], chain_id, _one: one };
        for (i, spec) in planned.specs.iter().enumerate() {
            let [claim, yaml, secret] = for_podman(spec, &build, &passphrases[i]);
            let name = object_name(&spec.name);
            let claim_file = chain.dir.path().join(format!("{name}.claim.yaml"));
            std::fs::write(&claim_file, claim).unwrap();
            podman_ok(&chain.conf, &["kube", "play", &claim_file.to_string_lossy()]);
            std::fs::write(chain.yaml(&name), yaml).unwrap();
            let secret_file = chain.dir.path().join(format!("{name}.env.json"));
            std::fs::write(&secret_file, secret).unwrap();
            let env_name = format!("{name}-env");
            let _ = podman(&chain.conf, &["secret", "rm", &env_name]);
            podman_ok(
                &chain.conf,
                &["secret", "create", &env_name, &secret_file.to_string_lossy()],
            );
            chain.nodes.push((name, address(i)));
        }
        for i in 0..4 {
            chain.start(i);
        }
        for i in 0..4 {
            chain.wait_height(i, 1, Duration::from_secs(120));
        }
        chain
    }

    fn yaml(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.yaml"))
    }

    /// Plays node `i`'s objects (again, replacing its pod; its claim's volume stays).
    fn start(&self, i: usize) {
        let (name, ip) = &self.nodes[i];
        let yaml = self.yaml(name).to_string_lossy().into_owned();
        podman_ok(
            &self.conf,
            &["kube", "play", "--replace", "--network", &self.network, "--ip", ip, &yaml],
        );
    }

    fn url(&self, i: usize) -> String {
        format!("http://{}:8545", self.nodes[i].1)
    }

    fn height(&self, i: usize) -> Option<u64> {
        let response = http().get(format!("{}/v1/status", self.url(i))).send().ok()?;
        response.json::<serde_json::Value>().ok()?["height"].as_u64()
    }

    /// Waits until node `i` is at `height` at least; fails with its log if it does not get there.
    fn wait_height(&self, i: usize, height: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(h) = self.height(i).filter(|h| *h >= height) {
                return h;
            }
            if Instant::now() > deadline {
                let container = format!("{}-pod-0-node", self.nodes[i].0);
                let log = podman(&self.conf, &["logs", "--tail", "30", &container]);
                panic!(
                    "node {i} did not reach height {height}: {}{}",
                    String::from_utf8_lossy(&log.stdout),
                    String::from_utf8_lossy(&log.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Sends a notarization to node `to` and waits until node `on` has committed it.
    fn notarize(&self, to: usize, on: usize, id: &str) {
        let key = PrivateKey::generate(Scheme::Ed25519);
        let tx = notarize_tx(&key, self.chain_id, 0, id, b"cargo");
        let client = consortia_api::NodeClient::new(&self.url(to));
        let sent = sdk(client.submit(&encode(&tx))).unwrap();
        let on = consortia_api::NodeClient::new(&self.url(on));
        sdk(on.wait_committed(&sent.hash, Duration::from_secs(60))).unwrap();
    }
}

impl Drop for PodmanChain {
    fn drop(&mut self) {
        for (name, _) in &self.nodes {
            let yaml = self.yaml(name).to_string_lossy().into_owned();
            let _ = podman(&self.conf, &["kube", "down", &yaml]);
            let _ = podman(&self.conf, &["volume", "rm", "-f", name, &format!("{name}-data")]);
            let _ = podman(&self.conf, &["secret", "rm", &format!("{name}-env")]);
        }
        let _ = podman(&self.conf, &["network", "rm", "-f", &self.network]);
    }
}

#[test]
fn four_validators_played_from_their_kubernetes_objects_commit() {
    let Some(conf) = podman_conf() else { return };
    let chain = PodmanChain::play(conf, 71);
    chain.notarize(0, 3, "podman-commit");
    let heights: Vec<u64> = (0..4).map(|i| chain.height(i).unwrap()).collect();
    let common = *heights.iter().min().unwrap();
    let hashes: BTreeMap<String, usize> = (0..4)
        .map(|i| {
            let (_, block) = get_json(&http(), &format!("{}/v1/blocks/{common}", chain.url(i)));
            block["hash"].as_str().unwrap_or_default().to_owned()
        })
        .fold(BTreeMap::new(), |mut seen, hash| {
            *seen.entry(hash).or_default() += 1;
            seen
        });
    assert_eq!(hashes.len(), 1, "every node holds the same block {common}: {hashes:?}");
}

#[test]
fn a_node_whose_pod_goes_comes_back_on_its_claim_and_catches_up() {
    let Some(conf) = podman_conf() else { return };
    let chain = PodmanChain::play(conf, 72);
    chain.notarize(0, 1, "before");
    let before = chain.height(1).unwrap();
    let pod = format!("{}-pod-0", chain.nodes[1].0);
    podman_ok(&chain.conf, &["pod", "rm", "-f", &pod]);
    let claim = format!("{}-data", chain.nodes[1].0);
    let at = podman_ok(&chain.conf, &["volume", "inspect", "--format", "{{.Mountpoint}}", &claim]);
    let kept = std::fs::read_dir(at.trim()).unwrap().count();
    assert!(kept > 0, "the claim's volume holds the node's chain after its pod went");
    chain.notarize(0, 2, "while-away");
    chain.start(1);
    // Its chain is on its claim: it answers at the height it had, then catches up.
    let back = chain.wait_height(1, before, Duration::from_secs(60));
    assert!(back >= before);
    let others = chain.height(0).unwrap();
    chain.wait_height(1, others, Duration::from_secs(60));
}
