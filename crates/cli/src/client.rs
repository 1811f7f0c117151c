use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use consortia_api::NodeClient;
use consortia_api::node::{SubmitRequest, TxLookupView};
use consortia_crypto::{Hash, HashAlgorithm, PrivateKey, Suite};
use consortia_types::{NotarizeRecord, Payload, Transaction, TxBody, encode};
use indicatif::{ProgressBar, ProgressStyle};

use crate::keys::read_key;

pub(crate) const DEFAULT_NODE: &str = "http://127.0.0.1:8545";

/// The CA certificate (PEM file) an HTTPS node's certificate is checked against.
const NODE_CA_ENV: &str = "CONSORTIA_NODE_CA";
/// A node credential (access token) sent to every node.
const NODE_TOKEN_ENV: &str = "CONSORTIA_NODE_TOKEN";

/// A client of the node at `url` as the command line's environment says: the node's CA
/// (`CONSORTIA_NODE_CA`, for HTTPS with a consortium's certificate) and a credential
/// (`CONSORTIA_NODE_TOKEN`; one in the URL, `http://ORG:TOKEN@host/`, works as well).
pub(crate) fn node_client(url: &str) -> Result<NodeClient> {
    let ca = std::env::var_os(NODE_CA_ENV).map(PathBuf::from);
    let token = std::env::var(NODE_TOKEN_ENV).ok().filter(|t| !t.is_empty());
    node_client_with(url, ca.as_deref(), token, Duration::from_secs(60))
}

/// A client of the node at `url` trusting the CA in `ca` (PEM file; no other), with `token`,
/// giving up on a request after `timeout`.
pub(crate) fn node_client_with(
    url: &str,
    ca: Option<&std::path::Path>,
    token: Option<String>,
    timeout: Duration,
) -> Result<NodeClient> {
    let mut http = reqwest::Client::builder().timeout(timeout);
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the node CA {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no PEM certificate", path.display()))?
        {
            http = http.add_root_certificate(cert);
        }
    }
    let client = NodeClient::with_client(url, http.build()?);
    Ok(match token {
        Some(t) => client.with_token(t),
        None => client,
    })
}

#[derive(Debug, Args)]
pub(crate) struct NotarizeArgs {
    #[arg(long, env = "CONSORTIA_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// The signer's private key (PKCS#8 PEM, from `consortia keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The record id (write-once).
    #[arg(long)]
    id: String,
    /// A key field, `NAME=VALUE` (repeatable).
    #[arg(long = "field")]
    fields: Vec<String>,
    /// Notarize this file: its content hash is computed here, streaming; the file is not sent.
    #[arg(long, conflicts_with = "content_hash")]
    file: Option<PathBuf>,
    /// Notarize a content hash computed elsewhere (0x + 64 hex digits).
    #[arg(long)]
    content_hash: Option<String>,
    #[arg(long, default_value = "")]
    metadata: String,
    /// Give up waiting for the commit after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub(crate) fn hash_file(path: &PathBuf, algo: HashAlgorithm) -> Result<Hash> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("hashing {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    let mut hasher = algo.hasher();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(hasher.finalize())
}

pub(crate) async fn notarize(args: NotarizeArgs) -> Result<()> {
    let client = node_client(&args.node)?;
    let key = read_key(&args.key)?;
    let status = client.status().await?;
    let suite: Suite = status.suite.parse()?;
    let content_hash = match (&args.file, &args.content_hash) {
        (Some(path), _) => hash_file(path, suite.hash())?,
        (None, Some(h)) => Hash::from_hex(h).context("--content-hash")?,
        (None, None) => bail!("give --file PATH or --content-hash HASH"),
    };
    let mut fields = BTreeMap::new();
    for f in &args.fields {
        let (k, v) =
            f.split_once('=').with_context(|| format!("--field `{f}`: expected NAME=VALUE"))?;
        fields.insert(k.to_owned(), v.to_owned());
    }
    let payload = Payload::Notarize(NotarizeRecord {
        id: args.id.clone(),
        fields,
        content_hash,
        metadata: args.metadata.clone(),
    });
    eprintln!("notarizing content hash {content_hash}");
    let lookup = sign_and_wait(&client, &key, status.chain_id, payload, args.timeout).await?;
    println!("{}", serde_json::to_string_pretty(&lookup)?);
    if lookup.receipt.as_ref().is_some_and(|r| r.status != "success") {
        bail!("the transaction was committed but failed (see the receipt above)");
    }
    Ok(())
}

/// Signs `payload` with `key` at the sender's next nonce, submits it and waits up to
/// `timeout_s` for its commit; the lookup holds the receipt.
pub(crate) async fn sign_and_wait(
    client: &NodeClient,
    key: &PrivateKey,
    chain_id: u64,
    payload: Payload,
    timeout_s: u64,
) -> Result<TxLookupView> {
    let sender = key.public_key().address();
    let account = client.account(&sender.to_string()).await?;
    let body = TxBody { chain_id, nonce: account.nonce, public_key: key.public_key(), payload };
    let tx = Transaction::sign(body, key);
    let request = SubmitRequest { tx: consortia_crypto::hex0x(&encode(&tx)) };
    let submitted = client.submit_json(&request).await?;
    eprintln!("submitted {}; waiting for the commit", submitted.hash);
    client
        .wait_committed(&submitted.hash, Duration::from_secs(timeout_s))
        .await
        .context("the transaction was not committed in time; check `consortia status`")
}

/// Signs a call of `input` to the system contract at `to` with `key`, waits for its commit and
/// returns its output and height; a refused call is an error carrying the contract's reason.
pub(crate) async fn call_contract(
    client: &NodeClient,
    key: &PrivateKey,
    to: consortia_crypto::Address,
    input: Vec<u8>,
    gas_limit: u64,
    timeout_s: u64,
) -> Result<(Vec<u8>, u64)> {
    let chain_id = client.status().await?.chain_id;
    let call = consortia_types::EvmCall { to: Some(to), value: 0, input, gas_limit };
    let lookup = sign_and_wait(client, key, chain_id, Payload::Evm(call), timeout_s).await?;
    let receipt = lookup.receipt.context("a committed transaction without a receipt")?;
    if receipt.status != "success" {
        bail!("{}", receipt.error.map(|e| e.message).unwrap_or(receipt.status));
    }
    let output =
        hex::decode(receipt.output.trim_start_matches("0x")).context("the receipt's output")?;
    Ok((output, lookup.height.unwrap_or_default()))
}

pub(crate) async fn block_get(node: &str, height: &str) -> Result<()> {
    let client = node_client(node)?;
    let block = match height {
        "latest" => client.latest_block().await?,
        h if h.starts_with("0x") => client.block_by_hash(h).await?,
        h => {
            client
                .block(
                    h.parse()
                        .with_context(|| format!("`{h}` is not a height, 0x hash or `latest`"))?,
                )
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&block)?);
    Ok(())
}

pub(crate) async fn status(node: &str) -> Result<()> {
    let status = node_client(node)?.status().await?;
    println!("{}", serde_json::to_string_pretty(&status)?);
    Ok(())
}
