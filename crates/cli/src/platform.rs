//! `consortia platform`: the control plane's HTTP server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use consortia_platform::{Platform, PlatformConfig};

#[derive(Debug, Args)]
pub(crate) struct PlatformArgs {
    /// Where the platform keeps its SQLite database, its token key and generated files.
    #[arg(long, default_value = "consortia-platform")]
    data_dir: PathBuf,
    /// Keep the metadata in PostgreSQL instead: `postgres://user:password@host/database`.
    #[arg(long, env = "CONSORTIA_DATABASE_URL")]
    database_url: Option<String>,
    /// Address of the REST API (and, later, the console).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The administrator's password on a first start (default: a random one, printed once).
    #[arg(long, env = "CONSORTIA_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

pub(crate) async fn run(args: PlatformArgs) -> Result<()> {
    let program = std::env::current_exe().context("cannot find this program's path")?;
    let config = PlatformConfig {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url,
        node_program: Some(program),
        admin_password: args.admin_password.clone(),
    };
    let (platform, bootstrap) = Platform::open(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| {
        format!("cannot listen on {} (is a platform already running there?)", args.listen)
    })?;
    let addr = listener.local_addr()?;
    println!("data: {}", args.data_dir.display());
    if let Some(admin) = bootstrap {
        println!("first start: the platform administrator, shown this once (store it now):");
        println!("username: {}", admin.username);
        match args.admin_password {
            Some(_) => println!("password: (the one given to this command)"),
            None => println!("password: {}", admin.password),
        }
    }
    // Last: scripts wait for this line.
    println!("Consortia platform: http://{addr}  (API reference: http://{addr}/docs)");
    axum::serve(listener, consortia_platform::router(platform))
        .with_graceful_shutdown(crate::serve::shutdown_signal())
        .await
        .context("platform HTTP server")?;
    Ok(())
}
