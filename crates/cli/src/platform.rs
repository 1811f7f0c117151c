//! `consortia platform`: the control plane's HTTP server, and its keystore (`init`, `unseal`,
//! `seal`, `rekey`, `seal-status`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use consortia_api::PlatformClient;
use consortia_api::platform::SealStatus;
use consortia_api::serving::{AllowedHosts, Limits};
use consortia_crypto::shamir::KeyShare;
use consortia_platform::keystore::cipher_from_name;
use consortia_platform::logbook::Logbook;
use consortia_platform::{Platform, PlatformConfig};
use consortia_types::config::HttpsFile;
use zeroize::Zeroizing;

use crate::control::{DEFAULT_PLATFORM, with_session};
use crate::keys::write_secret;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct PlatformArgs {
    #[command(subcommand)]
    command: Option<PlatformCommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum PlatformCommand {
    /// Initialize the keystore before the first start: a root key split into `--shares`, any
    /// `--threshold` of which unseal the platform. Each share is shown once (or written to the
    /// `--share-file`s, one per share, mode 0600); hand them to different people.
    Init(InitArgs),
    /// Give key shares to a sealed platform (from `--share-file`s, or one per line on stdin).
    Unseal(UnsealArgs),
    /// Whether the platform is sealed, and an unseal's progress.
    SealStatus {
        #[arg(long, env = "CONSORTIA_PLATFORM", default_value = DEFAULT_PLATFORM)]
        platform: String,
    },
    /// Seal the running platform (a platform administrator, logged in): its keys leave memory
    /// until key holders unseal it.
    Seal,
    /// Hand out a new share set without downtime: `rekey begin` (an administrator), then
    /// `rekey share` by current holders until the threshold; the last prints the new shares.
    Rekey {
        #[command(subcommand)]
        command: RekeyCommand,
    },
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Where the platform keeps its SQLite database and generated files.
    #[arg(long, default_value = "consortia-platform")]
    data_dir: PathBuf,
    /// Keep the metadata in PostgreSQL instead: `postgres://user:password@host/database`.
    #[arg(long, env = "CONSORTIA_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataArgs {
    fn config(&self) -> PlatformConfig {
        PlatformConfig {
            database_url: self.database_url.clone(),
            ..PlatformConfig::new(&self.data_dir)
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address of the REST API and the console.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The administrator's password on a first start (default: a random one, printed once).
    #[arg(long, env = "CONSORTIA_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// A DNS name the platform answers for (repeat it; `*.domain` for its subdomains, `*` for
    /// any). IP addresses and `localhost` always work; other names are refused (DNS
    /// rebinding protection).
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// Unseal at start with the shares in this file (mode 0600, one per line): for a demo or
    /// a single-operator test platform. Without it the platform starts sealed.
    #[arg(long)]
    unseal_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate (PEM, then its chain), operator-provided; needs
    /// `--tls-key`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PKCS#8 PEM; may be encrypted, opened with
    /// `CONSORTIA_KEY_PASSPHRASE`).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve the SQL gateway to MySQL clients here (a chain is a database; log in as a
    /// platform user with one of their API keys as the password). With `--tls-cert`, clients
    /// must use TLS.
    #[arg(long, value_name = "ADDR")]
    mysql_listen: Option<SocketAddr>,
    /// Send alert e-mail through this SMTP server: `smtp://HOST:PORT` (plain),
    /// `smtp://HOST?tls=required` (STARTTLS), `smtps://HOST` (TLS), with `USER:PASSWORD@`
    /// before the host if it asks for a login. Without it alerts go to webhooks only.
    #[arg(long, env = "CONSORTIA_SMTP_URL", hide_env_values = true, value_name = "URL")]
    smtp_url: Option<String>,
    /// The sender alert e-mail names.
    #[arg(long, env = "CONSORTIA_SMTP_FROM", default_value = "Consortia <consortia@localhost>")]
    smtp_from: String,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 5)]
    shares: u8,
    #[arg(long, default_value_t = 3)]
    threshold: u8,
    /// Write share i to the i-th file given (as many files as shares) instead of printing.
    #[arg(long = "share-file")]
    share_files: Vec<PathBuf>,
    /// `aes-256-gcm`, or `sm4-gcm` for a platform held to the Chinese national standards.
    #[arg(long, default_value = "aes-256-gcm")]
    cipher: String,
}

#[derive(Debug, Args)]
struct UnsealArgs {
    #[arg(long, env = "CONSORTIA_PLATFORM", default_value = DEFAULT_PLATFORM)]
    platform: String,
    /// Files holding shares (one per line); default: read shares from stdin.
    #[arg(long = "share-file")]
    share_files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RekeyCommand {
    /// Begin a rekey to a new share set; prints the nonce holders give with their shares.
    Begin {
        #[arg(long)]
        shares: u8,
        #[arg(long)]
        threshold: u8,
    },
    /// Give current shares towards the rekey `--nonce`; the share that completes it prints
    /// the new shares (or writes them to the `--new-share-file`s).
    Share {
        #[arg(long, env = "CONSORTIA_PLATFORM", default_value = DEFAULT_PLATFORM)]
        platform: String,
        #[arg(long)]
        nonce: String,
        #[arg(long = "share-file")]
        share_files: Vec<PathBuf>,
        #[arg(long = "new-share-file")]
        new_share_files: Vec<PathBuf>,
    },
}

impl PlatformArgs {
    /// The server's own log (none for a subcommand): its last lines in memory, and a file
    /// under the data directory's `logs/`; in memory only if that directory cannot be made.
    pub(crate) fn logbook(&self) -> Option<Logbook> {
        if self.command.is_some() {
            return None;
        }
        let dir = self.serve.data.data_dir.join("logs");
        Some(Logbook::open(&dir).unwrap_or_else(|e| {
            eprintln!(
                "cannot keep the platform's log in {} ({e}); keeping it in memory only",
                dir.display()
            );
            Logbook::default()
        }))
    }
}

/// Runs the platform command; its server keeps its own log lines in `logbook` if given.
pub(crate) async fn run(args: PlatformArgs, logbook: Option<Logbook>) -> Result<()> {
    match args.command {
        None => serve(args.serve, logbook).await,
        Some(PlatformCommand::Init(init)) => {
            let shares = initialize(&init).await?;
            hand_out(&shares, &init.share_files)?;
            println!(
                "keystore initialized: {} shares, any {} unseal ({})",
                init.shares, init.threshold, init.cipher
            );
            Ok(())
        }
        Some(PlatformCommand::Unseal(u)) => {
            let client = PlatformClient::new(&u.platform);
            let mut status = client.seal_status().await?;
            for share in read_shares(&u.share_files)? {
                status = client.unseal(&share).await?;
            }
            print_status(&status);
            Ok(())
        }
        Some(PlatformCommand::SealStatus { platform }) => {
            print_status(&PlatformClient::new(&platform).seal_status().await?);
            Ok(())
        }
        Some(PlatformCommand::Seal) => {
            print_status(&with_session(async |c| c.seal().await).await?);
            Ok(())
        }
        Some(PlatformCommand::Rekey { command: RekeyCommand::Begin { shares, threshold } }) => {
            let status = with_session(async |c| c.rekey(shares, threshold).await).await?;
            println!("rekey begun: nonce {}", status.nonce);
            println!(
                "{} holders of the current shares now run `consortia platform rekey share --nonce {}`",
                status.required, status.nonce
            );
            Ok(())
        }
        Some(PlatformCommand::Rekey {
            command: RekeyCommand::Share { platform, nonce, share_files, new_share_files },
        }) => {
            let client = PlatformClient::new(&platform);
            for share in read_shares(&share_files)? {
                let status = client.rekey_share(&nonce, &share).await?;
                if status.complete {
                    let new: Vec<KeyShare> = status
                        .new_shares
                        .iter()
                        .map(|s| s.parse())
                        .collect::<Result<_, _>>()
                        .context("the platform answered a malformed share")?;
                    hand_out(&new, &new_share_files)?;
                    println!("rekeyed: the previous shares no longer unseal");
                    return Ok(());
                }
                println!("rekey: {} of {} shares given", status.progress, status.required);
            }
            Ok(())
        }
    }
}

/// Initializes the keystore `init` names.
pub(crate) async fn initialize(init: &InitArgs) -> Result<Vec<KeyShare>> {
    let cipher = cipher_from_name(&init.cipher)
        .with_context(|| format!("unknown cipher {} (aes-256-gcm or sm4-gcm)", init.cipher))?;
    if !init.share_files.is_empty() && init.share_files.len() != usize::from(init.shares) {
        bail!(
            "give one --share-file per share ({} files for --shares {})",
            init.share_files.len(),
            init.shares
        );
    }
    Ok(consortia_platform::service::keystore::initialize(
        &init.data.config(),
        init.shares,
        init.threshold,
        cipher,
    )
    .await?)
}

impl InitArgs {
    /// The demo's keystore: one share, in `share_file`.
    pub(crate) fn demo(data_dir: &Path, share_file: &Path) -> InitArgs {
        InitArgs {
            data: DataArgs { data_dir: data_dir.to_owned(), database_url: None },
            shares: 1,
            threshold: 1,
            share_files: vec![share_file.to_owned()],
            cipher: "aes-256-gcm".into(),
        }
    }
}

/// Writes share i to `files[i]` (0600), or prints them all when no files are given.
pub(crate) fn hand_out(shares: &[KeyShare], files: &[PathBuf]) -> Result<()> {
    if files.is_empty() {
        println!("the key shares, shown this once (give each to a different person):");
        for share in shares {
            println!("share {}: {share}", share.index());
        }
        return Ok(());
    }
    for (share, file) in shares.iter().zip(files) {
        write_secret(file, &format!("{share}\n"))?;
        println!("share {} written to {}", share.index(), file.display());
    }
    Ok(())
}

/// Shares from files (refusing one others may read), or from stdin.
fn read_shares(files: &[PathBuf]) -> Result<Vec<Zeroizing<String>>> {
    let mut texts = vec![];
    if files.is_empty() {
        let mut text = Zeroizing::new(String::new());
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        texts.push(text);
    }
    for file in files {
        texts.push(read_private(file)?);
    }
    Ok(texts
        .iter()
        .flat_map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()))
        .map(|l| Zeroizing::new(l.to_owned()))
        .collect())
}

/// A secret file's text, refused if its group or others may read it (as ssh refuses keys).
fn read_private(file: &Path) -> Result<Zeroizing<String>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!("{} is open to other users (mode {:o}): chmod 600 it", file.display(), mode & 0o777);
    }
    Ok(Zeroizing::new(std::fs::read_to_string(file)?))
}

fn print_status(s: &SealStatus) {
    if s.sealed {
        println!(
            "sealed: {} of {} shares given ({} handed out, {})",
            s.progress, s.threshold, s.shares, s.cipher
        );
    } else {
        println!("unsealed ({} of {} shares unseal, {})", s.threshold, s.shares, s.cipher);
    }
}

async fn serve(args: ServeArgs, logbook: Option<Logbook>) -> Result<()> {
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let unseal = match &args.unseal_file {
        Some(file) => read_shares(std::slice::from_ref(file))?
            .iter()
            .map(|s| s.parse::<KeyShare>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} does not hold key shares", file.display()))?,
        None => vec![],
    };
    let config = PlatformConfig {
        node_program: Some(program),
        admin_password: args.admin_password.clone(),
        unseal,
        smtp: args.smtp_url.clone().map(|url| (url, args.smtp_from.clone())),
        ..args.data.config()
    };
    let files = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(HttpsFile { cert: cert.clone(), key: key.clone() }),
        _ => None,
    };
    let tls = match &files {
        Some(files) => {
            Some(consortia_api::serving::tls_config(crate::node::https_certificate(files)?)?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (platform, bootstrap) = Platform::open(config).await?;
    if let Some(book) = logbook {
        platform.keep_log(book);
    }
    let mysql = match args.mysql_listen {
        Some(addr) => Some(mysql_listener(addr, files.as_ref()).await?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| {
        format!("cannot listen on {} (is a platform already running there?)", args.listen)
    })?;
    let addr = listener.local_addr()?;
    println!("data: {}", args.data.data_dir.display());
    if let Some(admin) = bootstrap {
        println!("first start: the platform administrator, shown this once (store it now):");
        println!("username: {}", admin.username);
        match args.admin_password {
            Some(_) => println!("password: (the one given to this command)"),
            None => println!("password: {}", admin.password),
        }
    }
    if platform.seal_status().sealed {
        println!(
            "sealed: give {} key shares (`consortia platform unseal`, or the console) to serve",
            platform.seal_status().threshold
        );
    }
    if let Some((listener, tls)) = mysql {
        platform.serving_mysql(listener.local_addr()?, tls.is_some());
        println!(
            "MySQL gateway: {} (TLS {})",
            listener.local_addr()?,
            if tls.is_some() { "required" } else { "off" }
        );
        tokio::spawn(consortia_platform::mysql::serve(listener, platform.clone(), tls));
    }
    // Last: scripts wait for this line.
    println!("Consortia platform: {scheme}://{addr}  (API reference: {scheme}://{addr}/docs)");
    let limits = Limits { hosts: AllowedHosts::new(&args.allowed_hosts), tls, ..Limits::default() };
    let app = consortia_platform::router(platform);
    consortia_api::serving::serve(listener, app, limits, crate::serve::shutdown_signal())
        .await
        .context("platform HTTP server")?;
    Ok(())
}

/// The SQL gateway's listener on `addr`, with TLS from the HTTPS certificate files if given.
async fn mysql_listener(
    addr: SocketAddr,
    files: Option<&HttpsFile>,
) -> Result<(tokio::net::TcpListener, Option<consortia_platform::mysql::TlsConfig>)> {
    let tls = match files {
        Some(files) => {
            let cert = std::fs::read_to_string(&files.cert)
                .with_context(|| format!("cannot read {}", files.cert.display()))?;
            let key = crate::keys::read_key(&files.key)?;
            let der = zeroize::Zeroizing::new(key.to_pkcs8_der());
            Some(
                consortia_platform::mysql::tls_config(&cert, &der)
                    .map_err(|e| anyhow::anyhow!("MySQL TLS with {}: {e}", files.cert.display()))?,
            )
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for MySQL clients on {addr} (is it taken?)"))?;
    Ok((listener, tls))
}
