//! `consortia node --config FILE`: one validator or observer of a multi-node chain.

use std::path::Path;

use anyhow::{Context, Result, bail};
use consortia_api::serving::ServerCertificate;
use consortia_node::config::NodeFile;
use consortia_node::mempool::MempoolConfig;
use consortia_node::network::{NetworkConfig, PeerId, TlsIdentity};
use consortia_node::{Node, NodeConfig};
use consortia_types::Genesis;

use crate::keys::read_key;

/// Reads a node's configuration file, resolving its paths against the file's directory.
pub(crate) fn read_node_file(path: &Path) -> Result<NodeFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read node config {}", path.display()))?;
    let mut file: NodeFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid node config", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [
        &mut file.data_dir,
        &mut file.genesis,
        &mut file.p2p.ca,
        &mut file.p2p.cert,
        &mut file.p2p.key,
    ] {
        *p = base.join(&*p);
    }
    if let Some(k) = file.validator_key.as_mut() {
        *k = base.join(&*k);
    }
    if let Some(https) = file.https.as_mut() {
        https.cert = base.join(&https.cert);
        https.key = base.join(&https.key);
    }
    if let Some(dir) = file.history.archive_dir.as_mut() {
        *dir = base.join(&*dir);
    }
    validate(&file)?;
    Ok(file)
}

/// Every problem at once, so a hand-edited file is fixed in one pass.
fn validate(file: &NodeFile) -> Result<()> {
    let mut problems = Vec::new();
    let mut need = |what: &str, p: &Path| {
        if !p.is_file() {
            problems.push(format!("{what} {} does not exist", p.display()));
        }
    };
    need("genesis", &file.genesis);
    need("p2p.ca", &file.p2p.ca);
    need("p2p.cert", &file.p2p.cert);
    need("p2p.key", &file.p2p.key);
    if let Some(k) = &file.validator_key {
        need("validator_key", k);
    }
    if let Some(https) = &file.https {
        need("https.cert", &https.cert);
        need("https.key", &https.key);
    }
    problems.extend(file.history.problems());
    if file.http == file.p2p.listen {
        problems.push("http and p2p.listen must be different addresses".into());
    }
    if problems.is_empty() { Ok(()) } else { bail!("node config: {}", problems.join("; ")) }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The HTTP API's certificate and key, from their files.
pub(crate) fn https_certificate(
    https: &consortia_types::config::HttpsFile,
) -> Result<std::sync::Arc<ServerCertificate>> {
    let cert = read_text(&https.cert)?;
    let key = crate::keys::read_key(&https.key)?;
    let der = zeroize::Zeroizing::new(key.to_pkcs8_der());
    ServerCertificate::new(&cert, &der)
        .with_context(|| format!("HTTPS with {} and {}", https.cert.display(), https.key.display()))
}

/// How often a node looks whether its certificate files were renewed.
const CERTIFICATE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Presents renewed certificates without a restart: when the P2P certificate file (or the
/// HTTPS one) changes, the node reads it again and presents it from the next connection on
/// (open ones keep theirs, so consensus does not pause). A file that does not load (half
/// written, another key) is reported and the current certificate stays.
async fn watch_certificates(
    node: std::sync::Arc<Node>,
    file: NodeFile,
    https: Option<std::sync::Arc<ServerCertificate>>,
) {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let mut p2p = read(&file.p2p.cert);
    let mut api = file.https.as_ref().and_then(|h| read(&h.cert));
    loop {
        tokio::time::sleep(CERTIFICATE_CHECK).await;
        let now = read(&file.p2p.cert);
        if now.is_some() && now != p2p {
            match node.renew_certificate(now.as_deref().unwrap_or_default()) {
                Ok(()) => {
                    tracing::info!(target: "cli::node", path = %file.p2p.cert.display(), "presenting the renewed P2P certificate")
                }
                Err(e) => {
                    tracing::warn!(target: "cli::node", error = %e, "the renewed P2P certificate was not taken")
                }
            }
            p2p = now;
        }
        let (Some(paths), Some(certificate)) = (&file.https, &https) else { continue };
        let now = read(&paths.cert);
        if now.is_some() && now != api {
            let renewed = crate::keys::read_key(&paths.key).and_then(|key| {
                let der = zeroize::Zeroizing::new(key.to_pkcs8_der());
                Ok(certificate.replace(now.as_deref().unwrap_or_default(), &der)?)
            });
            match renewed {
                Ok(()) => {
                    node.metrics().certificate_expires("https", now.as_deref().unwrap_or_default());
                    tracing::info!(target: "cli::node", "presenting the renewed HTTPS certificate");
                }
                Err(e) => {
                    tracing::warn!(target: "cli::node", error = %e, "the renewed HTTPS certificate was not taken")
                }
            }
            api = now;
        }
    }
}

/// Puts a changed `[history]` table of the node's configuration file in force without a
/// restart. A file that does not load (half written, invalid) is reported and the policy in
/// force stays.
async fn watch_history(node: std::sync::Arc<Node>, config: std::path::PathBuf) {
    let mut seen = std::fs::read_to_string(&config).ok();
    loop {
        tokio::time::sleep(CERTIFICATE_CHECK).await;
        let now = std::fs::read_to_string(&config).ok();
        if now.is_none() || now == seen {
            continue;
        }
        seen = now;
        match read_node_file(&config) {
            Ok(file) => node.set_history_policy(file.history),
            Err(e) => {
                tracing::warn!(target: "cli::node", error = %format!("{e:#}"), "the changed node config was not taken")
            }
        }
    }
}

/// Opens the node a config file describes.
pub(crate) fn open(file: &NodeFile) -> Result<std::sync::Arc<Node>> {
    let genesis: Genesis = serde_json::from_str(&read_text(&file.genesis)?)
        .with_context(|| format!("{} is not a valid genesis file", file.genesis.display()))?;
    let validator_key = file.validator_key.as_deref().map(read_key).transpose()?;
    let allowed = genesis.nodes.iter().filter_map(|n| PeerId::of(&n.key)).collect();
    let max_frame_bytes = genesis.params.max_block_bytes as usize + 4 * 1024 * 1024;
    let network = NetworkConfig {
        listen: file.p2p.listen,
        peers: file.p2p.peers.clone(),
        tls: TlsIdentity {
            ca_pem: read_text(&file.p2p.ca)?,
            cert_pem: read_text(&file.p2p.cert)?,
            key_pem: crate::keys::read_key_pem(&file.p2p.key)?.to_string(),
        },
        allowed,
        handshake: genesis.hash().0.to_vec(),
        max_frame_bytes,
        protocol: consortia_node::p2p::PROTOCOL,
    };
    let node = Node::open(NodeConfig {
        data_dir: file.data_dir.clone(),
        genesis,
        validator_key,
        mempool: MempoolConfig { max_txs: file.mempool_max_txs, ..Default::default() },
        network: Some(network),
        history: file.history.clone(),
    })
    .with_context(|| format!("cannot start node `{}` in {}", file.name, file.data_dir.display()))?;
    if let Some(after) = file.sync.state_sync_after {
        node.set_state_sync_after((after > 0).then_some(after));
    }
    Ok(node)
}

/// What the command line says instead of the configuration file.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    pub data_dir: Option<std::path::PathBuf>,
    pub bind: Option<std::net::IpAddr>,
}

impl Overrides {
    fn apply(self, file: &mut NodeFile) {
        if let Some(dir) = self.data_dir {
            file.data_dir = dir;
        }
        if let Some(ip) = self.bind {
            file.http.set_ip(ip);
            file.p2p.listen.set_ip(ip);
        }
    }
}

pub(crate) async fn run(config: &Path, overrides: Overrides) -> Result<()> {
    let mut file = read_node_file(config)?;
    overrides.apply(&mut file);
    let node = open(&file)?;
    let name = file.name.clone();
    let p2p = file.p2p.listen;
    let role = if file.validator_key.is_some() { "validator" } else { "observer" };
    let (cors, hosts) = (&file.cors_origins, &file.allowed_hosts);
    let ca = read_text(&file.p2p.ca)?;
    let policy = consortia_rpc::AccessPolicy {
        access: file.access,
        consortium_ca: consortia_crypto::pki::ed25519_key_of_pem(&ca),
    };
    let access = file.access.as_str();
    let certificate = file.https.as_ref().map(https_certificate).transpose()?;
    if let Some(https) = &file.https {
        node.metrics().certificate_expires("https", &read_text(&https.cert)?);
    }
    tokio::spawn(watch_certificates(node.clone(), file.clone(), certificate.clone()));
    tokio::spawn(watch_history(node.clone(), config.to_path_buf()));
    let tls = certificate.map(consortia_api::serving::tls_config).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api = crate::serve::Api { cors_origins: cors, allowed_hosts: hosts, policy, tls };
    crate::serve::serve(node.clone(), file.http, api, move |addr| {
        let g = node.genesis();
        println!(
            "consortia node `{name}` ({role}) of chain `{}` (chain id {})",
            g.chain_name, g.chain_id
        );
        println!("  height:   {}", *node.committed().borrow());
        println!("  P2P:      {p2p} (mutual TLS)");
        println!("  REST API: {scheme}://{addr}/v1/status (access: {access})");
    })
    .await
}

/// `consortia node-image`: the node image's root filesystem at `output`; prints the build (its
/// tag) and how to import it.
pub(crate) fn image(output: &Path) -> Result<()> {
    let program = std::env::current_exe().context("cannot find this program")?;
    let build = consortia_hosts::program_version(&program)?;
    let rootfs = consortia_hosts::docker::root_filesystem(&program)?;
    std::fs::write(output, rootfs).with_context(|| format!("cannot write {}", output.display()))?;
    let changes: Vec<String> = consortia_hosts::docker::image_changes()
        .iter()
        .map(|c| format!("--change '{c}'"))
        .collect();
    eprintln!(
        "import it as REPOSITORY:{build} with: docker import {} {} REPOSITORY:{build}",
        changes.join(" "),
        output.display()
    );
    println!("{build}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_moves_the_data_and_the_listeners_but_keeps_the_ports() {
        let text = r#"
            name = "n"
            data_dir = "data"
            genesis = "genesis.json"
            http = "10.0.0.5:8545"
            [p2p]
            listen = "10.0.0.5:30303"
            ca = "ca.crt"
            cert = "node.crt"
            key = "node.key"
        "#;
        let mut file: NodeFile = toml::from_str(text).unwrap();
        let overrides =
            Overrides { data_dir: Some("/node/data".into()), bind: Some([0, 0, 0, 0].into()) };
        overrides.apply(&mut file);
        assert_eq!(file.data_dir, Path::new("/node/data"));
        assert_eq!(file.http, "0.0.0.0:8545".parse().unwrap());
        assert_eq!(file.p2p.listen, "0.0.0.0:30303".parse().unwrap());
    }

    /// A node config in `dir` whose files exist, with `more` appended.
    fn config_with(dir: &Path, more: &str) -> std::path::PathBuf {
        for f in ["genesis.json", "ca.crt", "node.crt", "node.key"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let text = format!(
            "name = \"n\"\ndata_dir = \"data\"\ngenesis = \"genesis.json\"\n\
             http = \"127.0.0.1:8545\"\n{more}\n[p2p]\nlisten = \"127.0.0.1:30303\"\n\
             ca = \"ca.crt\"\ncert = \"node.crt\"\nkey = \"node.key\"\n"
        );
        let path = dir.join("node.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_history_archive_directory_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let history = "[history]\nkeep_blocks = 1000\narchive_dir = \"cold\"\n";
        let file = read_node_file(&config_with(dir.path(), history)).unwrap();
        assert_eq!(file.history.archive_dir, Some(dir.path().join("cold")));
        assert_eq!(file.history.keep_blocks, Some(1000));
    }

    #[test]
    fn a_history_policy_keeping_too_few_blocks_is_refused_with_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let history = "[history]\nkeep_blocks = 10\nhot_blocks = 5\n";
        let e = read_node_file(&config_with(dir.path(), history)).unwrap_err().to_string();
        assert!(e.contains("history.keep_blocks must be at least 256"), "{e}");
        assert!(e.contains("history.hot_blocks needs history.archive_dir"), "{e}");
        assert!(e.contains("history.hot_blocks must be at least 256"), "{e}");
    }
}
