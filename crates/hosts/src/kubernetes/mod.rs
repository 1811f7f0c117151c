//! Nodes on a Kubernetes cluster: the objects that run one node, typed by the Kubernetes
//! API's own OpenAPI types (`k8s-openapi`, Kubernetes 1.33), and [`KubernetesDriver`], which
//! applies them with server-side apply (applying again changes nothing). Per node, in its
//! chain's namespace:
//!
//! - a **Secret** with its key files (every file holding a `PRIVATE KEY`), and a second one,
//!   `<node>-env`, with the secret that unlocks them (`CONSORTIA_KEY_PASSPHRASE`), written at
//!   each start; the cluster encrypts both at rest where it is configured to;
//! - a **ConfigMap** with its other files (configuration, genesis, certificates);
//! - a **PersistentVolumeClaim** for its chain data;
//! - a **Deployment** of one replica (zero while stopped), strategy `Recreate` since the volume
//!   is `ReadWriteOnce`: the node runs as user 65534 on a read-only root, its files projected
//!   read-only at `/node/etc` (its working directory, so the configuration's relative paths
//!   hold), its data at `/node/data` (`--data-dir`), both listeners bound to `0.0.0.0`
//!   (`--bind`); readiness and liveness probes ask its `/v1/health`; requests and limits from
//!   its [`Resources`];
//! - a **Service** with its API and P2P ports, made first: its cluster IP is the node's address.
//!
//! Every object carries `app.kubernetes.io/name: consortia-node`,
//! `app.kubernetes.io/managed-by: consortia`, and the chain and node (`io.consortia/chain`,
//! `io.consortia/node`). Kubernetes names are DNS labels: [`object_name`] makes one of a node's
//! name.

mod driver;
#[cfg(test)]
mod fake;

pub use driver::KubernetesDriver;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    KeyToPath, Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ProjectedVolumeSource, ResourceRequirements, Secret, SecretEnvSource, SecretProjection,
    SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount, VolumeProjection,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::{HostError, NodeSpec, Resources};

/// The user and group the node runs as (`nobody`).
const NODE_UID: i64 = 65534;
/// Where the node's files are projected (read-only), and its working directory.
const FILES_DIR: &str = "/node/etc";
/// Where its data volume is mounted.
const DATA_DIR: &str = "/node/data";
/// The label naming the node.
pub const NODE_LABEL: &str = "io.consortia/node";
/// The label naming its chain.
pub const CHAIN_LABEL: &str = "io.consortia/chain";
/// The label naming the organization that runs it.
pub const ORG_LABEL: &str = "io.consortia/org";

/// The API port a node's Service gives when none was asked for.
pub const API_PORT: u16 = 8545;
/// The P2P port a node's Service gives when none was asked for.
pub const P2P_PORT: u16 = 30303;

/// Where and how nodes of a cluster run.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The repository of node images, where the cluster pulls from
    /// (`registry.example/consortia-node`): a node of build `b` runs `<repository>:<b>`.
    pub repository: String,
    /// The storage class of data volumes (none: the cluster's default).
    pub storage_class: Option<String>,
    /// The size each data volume asks for.
    pub storage_bytes: u64,
}

impl Cluster {
    /// The image of build `build`.
    pub fn image(&self, build: &str) -> String {
        format!("{}:{build}", self.repository)
    }
}

/// The objects that run one node.
#[derive(Clone, Debug)]
pub struct NodeObjects {
    pub secret: Secret,
    pub config_map: ConfigMap,
    pub claim: PersistentVolumeClaim,
    pub deployment: Deployment,
    pub service: Service,
}

/// A DNS label (RFC 1123: at most 63 lowercase letters, digits and `-`, starting and ending
/// alphanumeric) for `name`: lowered, other characters made `-`, and when that changed or
/// shortened it, ended by 8 hex digits of the name's SHA-256, so two names never meet.
pub fn object_name(name: &str) -> String {
    let mut label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    if label != name || label.len() > 63 {
        let digest = Sha256::digest(name.as_bytes());
        let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        label.truncate(63 - 9);
        label = format!("{}-{tag}", label.trim_end_matches('-'));
    }
    label.trim_matches('-').to_owned()
}

/// The namespace of the chain `group`.
pub fn namespace(group: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(namespace_name(group)),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/managed-by".to_owned(), "consortia".to_owned()),
                (CHAIN_LABEL.to_owned(), object_name(group)),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The namespace name of the chain `group`.
pub fn namespace_name(group: &str) -> String {
    object_name(&format!("consortia-{group}"))
}

/// The labels of the node `node` of the chain `group`, run by `org` (a label value is a
/// DNS label too, or empty).
fn node_labels(node: &str, group: &str, org: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "consortia-node".to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), "consortia".to_owned()),
        (CHAIN_LABEL.to_owned(), object_name(group)),
        (ORG_LABEL.to_owned(), object_name(org)),
        (NODE_LABEL.to_owned(), object_name(node)),
    ])
}

/// The metadata of the object `name` of the node `node` of the chain `group`, run by `org`.
fn node_meta(name: String, node: &str, group: &str, org: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace_name(group)),
        labels: Some(node_labels(node, group, org)),
        ..ObjectMeta::default()
    }
}

/// The name of the Secret holding a node's environment secrets.
pub fn env_secret_name(node: &str) -> String {
    format!("{}-env", object_name(node))
}

/// The Secret with the environment secrets of the node `node` of the chain `group` run by
/// `org` (the key files' passphrase), which its pod reads at each start.
pub fn env_secret(node: &str, group: &str, org: &str, secret_env: &[(String, String)]) -> Secret {
    let data = secret_env.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())));
    Secret {
        metadata: node_meta(env_secret_name(node), node, group, org),
        data: Some(data.collect()),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// The Service of the node `node` of the chain `group` run by `org`, with its API and P2P
/// `ports`.
pub fn node_service(node: &str, group: &str, org: &str, ports: [u16; 2]) -> Service {
    let port = |name: &str, port: u16| ServicePort {
        name: Some(name.into()),
        port: port.into(),
        target_port: Some(IntOrString::String(name.into())),
        ..ServicePort::default()
    };
    Service {
        metadata: node_meta(object_name(node), node, group, org),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(NODE_LABEL.to_owned(), object_name(node))])),
            ports: Some(vec![port("api", ports[0]), port("p2p", ports[1])]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The objects of the node `spec` running `build`, listening on `ports` (API, P2P), its
/// environment secrets read from [`env_secret`]; `running` sets one replica, or none.
pub fn node_objects(
    spec: &NodeSpec,
    cluster: &Cluster,
    build: &str,
    ports: [u16; 2],
    running: bool,
) -> Result<NodeObjects, HostError> {
    crate::check_name(&spec.name)?;
    let name = object_name(&spec.name);
    let labels = node_labels(&spec.name, &spec.group, &spec.org);
    let meta = node_meta(name.clone(), &spec.name, &spec.group, &spec.org);
    let (mut secret_files, mut config_files) = (BTreeMap::new(), BTreeMap::new());
    let mut secret_items = Vec::new();
    let mut config_items = Vec::new();
    for (index, (path, bytes)) in spec.files.iter().enumerate() {
        crate::relative(path)?;
        // Keys of a ConfigMap or Secret are flat: the path is restored by the projection.
        let key = format!("file-{index}");
        let item = KeyToPath { key: key.clone(), path: path.clone(), mode: None };
        if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
            secret_files.insert(key, ByteString(bytes.clone()));
            secret_items.push(item);
        } else {
            let text = String::from_utf8(bytes.clone()).map_err(|_| {
                HostError::Io(format!("file {path} of node {} is not text", spec.name))
            })?;
            config_files.insert(key, text);
            config_items.push(item);
        }
    }
    let secret = Secret {
        metadata: meta.clone(),
        data: Some(secret_files),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    let config_map =
        ConfigMap { metadata: meta.clone(), data: Some(config_files), ..ConfigMap::default() };
    let claim = PersistentVolumeClaim {
        metadata: meta.clone(),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: cluster.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(cluster.storage_bytes.to_string()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar { name: k.clone(), value: Some(v.clone()), value_from: None })
        .collect();
    let mut args = spec.args.clone();
    args.extend(["--data-dir".into(), DATA_DIR.into(), "--bind".into(), "0.0.0.0".into()]);
    let probe = |period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/v1/health".into()),
            port: IntOrString::String("api".into()),
            scheme: Some(if spec.https { "HTTPS" } else { "HTTP" }.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    let container = Container {
        name: "node".into(),
        image: Some(cluster.image(build)),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args),
        working_dir: Some(FILES_DIR.into()),
        env: Some(env),
        // Not optional: a pod started before its secrets were written waits for them.
        env_from: Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: env_secret_name(&spec.name),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        ports: Some(vec![
            ContainerPort {
                name: Some("api".into()),
                container_port: ports[0].into(),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("p2p".into()),
                container_port: ports[1].into(),
                ..ContainerPort::default()
            },
        ]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "files".into(),
                mount_path: FILES_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "data".into(),
                mount_path: DATA_DIR.into(),
                ..VolumeMount::default()
            },
        ]),
        readiness_probe: Some(probe(5, 3)),
        // A node catching up after a long time away answers health at once: six missed
        // probes in a row (a minute) mean it hangs.
        liveness_probe: Some(Probe { initial_delay_seconds: Some(30), ..probe(10, 6) }),
        resources: Some(requirements(spec.resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let deployment = Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(i32::from(running)),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(NODE_LABEL.to_owned(), name.clone())])),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    security_context: Some(PodSecurityContext {
                        run_as_user: Some(NODE_UID),
                        run_as_group: Some(NODE_UID),
                        fs_group: Some(NODE_UID),
                        ..PodSecurityContext::default()
                    }),
                    automount_service_account_token: Some(false),
                    volumes: Some(vec![
                        Volume {
                            name: "files".into(),
                            projected: Some(ProjectedVolumeSource {
                                default_mode: Some(0o400),
                                sources: Some(vec![
                                    VolumeProjection {
                                        config_map: Some(ConfigMapProjection {
                                            name: name.clone(),
                                            items: Some(config_items),
                                            optional: None,
                                        }),
                                        ..VolumeProjection::default()
                                    },
                                    VolumeProjection {
                                        secret: Some(SecretProjection {
                                            name: name.clone(),
                                            items: Some(secret_items),
                                            optional: None,
                                        }),
                                        ..VolumeProjection::default()
                                    },
                                ]),
                            }),
                            ..Volume::default()
                        },
                        Volume {
                            name: "data".into(),
                            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                                claim_name: name.clone(),
                                read_only: None,
                            }),
                            ..Volume::default()
                        },
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service = node_service(&spec.name, &spec.group, &spec.org, ports);
    Ok(NodeObjects { secret, config_map, claim, deployment, service })
}

/// Requests equal to limits (the scheduler reserves what the node may use): memory always
/// limited, CPU where asked.
fn requirements(resources: Resources) -> ResourceRequirements {
    let mut limits = BTreeMap::new();
    if let Some(bytes) = resources.memory_bytes {
        limits.insert("memory".to_owned(), Quantity(bytes.to_string()));
    }
    if let Some(millis) = resources.cpu_millis {
        limits.insert("cpu".to_owned(), Quantity(format!("{millis}m")));
    }
    ResourceRequirements {
        requests: Some(limits.clone()),
        limits: Some(limits),
        ..ResourceRequirements::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::Resource;

    use super::*;

    /// The environment variable of the secret a node's key files are encrypted under.
    const PASSPHRASE: &str = "CONSORTIA_KEY_PASSPHRASE";
    const BUILD: &str = "0.1.0-4ac1073d3cac";

    fn spec() -> NodeSpec {
        let key =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        NodeSpec {
            name: "chain_98303c901332a613a6974f425133f0b3-v0".into(),
            group: "chain_98303c901332a613a6974f425133f0b3".into(),
            org: "org_5b1e0c".into(),
            address: None,
            args: vec!["node".into(), "--config".into(), "node.toml".into()],
            env: vec![("MALLOC_ARENA_MAX".into(), "2".into())],
            files: vec![
                ("node.toml".into(), b"name = \"v0\"\n".to_vec()),
                ("genesis.json".into(), b"{}".to_vec()),
                ("node.key".into(), key.to_vec()),
            ],
            resources: Resources { memory_bytes: Some(1 << 30), cpu_millis: Some(500) },
            https: false,
        }
    }

    fn cluster() -> Cluster {
        Cluster {
            repository: "registry.example/consortia-node".into(),
            storage_class: None,
            storage_bytes: 10 << 30,
        }
    }

    fn objects(running: bool) -> NodeObjects {
        node_objects(&spec(), &cluster(), BUILD, [8545, 30303], running).unwrap()
    }

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn object_names_are_dns_labels_and_never_meet() {
        let long = "x".repeat(100);
        for name in ["chain_98303c901332a613a6974f425133f0b3-v0", "Node_1", &long, "v0"] {
            assert!(is_dns_label(&object_name(name)), "{name} -> {}", object_name(name));
        }
        assert_eq!(object_name("v0"), "v0", "a label stays as it is");
        assert_ne!(object_name("a_b"), object_name("a-b"));
        assert_ne!(object_name(&format!("{long}1")), object_name(&format!("{long}2")));
        assert!(is_dns_label(namespace(&spec().group).metadata.name.as_deref().unwrap()));
    }

    #[test]
    fn a_node_s_keys_go_to_its_secret_and_the_rest_to_its_config_map() {
        let o = objects(true);
        let config = o.config_map.data.unwrap();
        assert_eq!(config.len(), 2, "node.toml and genesis.json");
        assert!(config.values().all(|v| !v.contains("PRIVATE KEY")), "{config:?}");
        let secret = o.secret.data.unwrap();
        assert!(secret.values().any(|v| v.0.windows(11).any(|w| w == b"PRIVATE KEY")));
        let projected = o.deployment.spec.unwrap().template.spec.unwrap().volumes.unwrap()[0]
            .projected
            .clone()
            .unwrap();
        let paths: Vec<String> = projected
            .sources
            .unwrap()
            .into_iter()
            .flat_map(|s| {
                let items = s.config_map.and_then(|c| c.items).into_iter().flatten();
                items.chain(s.secret.and_then(|c| c.items).into_iter().flatten())
            })
            .map(|i| i.path)
            .collect();
        assert_eq!(paths, ["node.toml", "genesis.json", "node.key"], "every file at its path");
    }

    #[test]
    fn every_object_reads_back_as_its_kubernetes_kind() {
        let o = objects(true);
        fn check<T: Resource + serde::Serialize + serde::de::DeserializeOwned>(object: &T) {
            let json = serde_json::to_value(object).unwrap();
            assert_eq!(json["apiVersion"], T::API_VERSION);
            assert_eq!(json["kind"], T::KIND);
            let back: T = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), json);
            let labels = &json["metadata"]["labels"];
            assert_eq!(labels["app.kubernetes.io/managed-by"], "consortia", "{json}");
            if T::KIND != "Namespace" {
                let node = object_name(&spec().name);
                assert_eq!(labels[NODE_LABEL], node.as_str(), "{json}");
                assert_eq!(labels[CHAIN_LABEL], object_name(&spec().group).as_str());
                assert_eq!(labels[ORG_LABEL], object_name(&spec().org).as_str());
            }
        }
        check(&o.secret);
        check(&o.config_map);
        check(&o.claim);
        check(&o.deployment);
        check(&o.service);
        check(&namespace(&spec().group));
        check(&env_secret(&spec().name, &spec().group, &spec().org, &[]));
    }

    #[test]
    fn the_node_runs_as_one_unprivileged_replica_with_probes_and_limits() {
        let deployment = objects(true).deployment.spec.unwrap();
        assert_eq!(deployment.replicas, Some(1));
        assert_eq!(deployment.strategy.unwrap().type_.as_deref(), Some("Recreate"));
        let pod = deployment.template.spec.unwrap();
        assert_eq!(pod.security_context.unwrap().run_as_user, Some(NODE_UID));
        let node = &pod.containers[0];
        let args = node.args.clone().unwrap();
        assert_eq!(args[args.len() - 4..], ["--data-dir", DATA_DIR, "--bind", "0.0.0.0"]);
        assert_eq!(node.working_dir.as_deref(), Some(FILES_DIR));
        let probe = node.readiness_probe.clone().unwrap().http_get.unwrap();
        assert_eq!(
            (probe.path.as_deref(), probe.scheme.as_deref()),
            (Some("/v1/health"), Some("HTTP"))
        );
        assert!(node.liveness_probe.is_some());
        let limits = node.resources.clone().unwrap().limits.unwrap();
        assert_eq!(limits["memory"].0, (1u64 << 30).to_string());
        assert_eq!(limits["cpu"].0, "500m");
        assert_eq!(
            node.image.as_deref(),
            Some("registry.example/consortia-node:0.1.0-4ac1073d3cac")
        );
        let env = node.env.clone().unwrap();
        assert!(env.iter().all(|e| e.name != PASSPHRASE), "no secret in the manifest");
        let from = node.env_from.clone().unwrap()[0].secret_ref.clone().unwrap();
        assert_eq!(from.name, env_secret_name(&spec().name));
        let stopped = objects(false).deployment.spec.unwrap();
        assert_eq!(stopped.replicas, Some(0));
    }

    #[test]
    fn the_environment_secret_holds_the_passphrase_under_its_variable_name() {
        let secret = [(PASSPHRASE.to_owned(), "s3cret".to_owned())];
        let object = env_secret(&spec().name, &spec().group, &spec().org, &secret);
        assert_eq!(object.data.unwrap()[PASSPHRASE].0, b"s3cret");
        assert_eq!(object.metadata.name.unwrap(), format!("{}-env", object_name(&spec().name)));
    }

    #[test]
    fn the_service_exposes_the_api_and_p2p_ports_of_its_node() {
        let service = objects(true).service.spec.unwrap();
        let ports: Vec<i32> = service.ports.unwrap().iter().map(|p| p.port).collect();
        assert_eq!(ports, [8545, 30303]);
        let selector = service.selector.unwrap();
        assert_eq!(selector[NODE_LABEL], object_name(&spec().name));
    }

    #[test]
    fn a_file_outside_the_node_directory_is_refused() {
        let mut bad = spec();
        bad.files.push(("../etc/passwd".into(), b"x".to_vec()));
        let refused = node_objects(&bad, &cluster(), BUILD, [8545, 30303], true);
        assert!(refused.is_err());
    }
}
