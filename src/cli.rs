//! The command line: `sluice serve` and `sluice admin …`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::app::{self, BuildOptions, Database};
use crate::config::{Config, LogFormat};
use crate::tenancy::Tenancy;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A multi-tenant, secured message-queue service that speaks the Amazon SQS API"
)]
pub struct Cli {
    /// TOML configuration file (unknown keys are refused).
    #[arg(long, global = true, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS SQS endpoint (starts a private PostgreSQL when no database URL is set).
    Serve(ServeArgs),
    /// Operator commands.
    Admin {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// Flags shared by every command; each overrides the file and the environment.
#[derive(Debug, Args, Serialize, Default)]
pub struct CommonArgs {
    /// State directory (default ./.sluice).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; when unset, a private cluster in the data directory is used.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args, Serialize, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Address to listen on (default 127.0.0.1:9324).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Public base URL used in queue URLs (default: from the listen address).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Certificate chain (PEM) for production; with --tls-key-file.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; prints its id and root key as a credentials profile.
    Create {
        name: String,
        /// The 12-digit account id (random when omitted).
        #[arg(long)]
        id: Option<String>,
    },
    /// List accounts.
    List,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    App(#[from] app::AppError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::TenancyError),
    #[error("{0}")]
    Other(String),
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn,actix_web=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    crate::install_crypto_provider();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(cli.config, args).await,
            Command::Admin { common, command } => admin(cli.config, common, command).await,
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sluice: {e}");
            1
        }
    }
}

async fn serve(file: Option<PathBuf>, args: ServeArgs) -> Result<(), CliError> {
    let config = Config::load(file.as_deref(), &args)?;
    init_logging(config.log_format);
    let running = app::build(config, BuildOptions::default()).await?;
    tracing::info!(addr = %running.addr, url = %running.public_url, "Sluice is listening (HTTPS)");
    if let Some((aws_config, credentials)) = &running.bootstrap_files {
        println!("# Sluice is ready at {}. For the aws CLI and boto3:", running.public_url);
        println!("export AWS_CONFIG_FILE={}", aws_config.display());
        println!("export AWS_SHARED_CREDENTIALS_FILE={}", credentials.display());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let handle = running.server.handle();
    let mut server = tokio::spawn(running.server);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Other(format!("signal handler: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        r = &mut server => tracing::warn!(?r, "server stopped"),
    }
    handle.stop(true).await;
    let _ = server.await;
    running.database.close(true).await;
    tracing::info!("stopped");
    Ok(())
}

async fn admin(file: Option<PathBuf>, common: CommonArgs, command: AdminCommand) -> Result<(), CliError> {
    let config = Config::load(file.as_deref(), &common)?;
    init_logging(LogFormat::Human);
    let mut config = config;
    config.data_dir = app::ensure_data_dir(&config)?;
    let database = Database::open(&config).await?;
    let master = app::open_master_key(&config, &database.store).await?;
    let sealer = std::sync::Arc::new(crate::crypto::Sealer::new(master));
    let tenancy = Tenancy::new(database.store.clone(), sealer, std::sync::Arc::new(crate::clock::SystemClock));
    let result = match command {
        AdminCommand::Account(AccountCommand::Create { name, id }) => {
            tenancy.create_account(&name, id.as_deref()).await.map(|a| print!("{}", a.credentials_profile(&name)))
        }
        AdminCommand::Account(AccountCommand::List) => tenancy.list_accounts().await.map(|accounts| {
            println!("{:<14}{:<10}{:<27}NAME", "ID", "STATUS", "CREATED");
            for a in accounts {
                println!("{:<14}{:<10}{:<27}{}", a.id, a.status, a.created_at.format("%Y-%m-%dT%H:%M:%SZ"), a.name);
            }
        }),
    };
    database.close(false).await;
    Ok(result?)
}
