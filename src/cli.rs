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
    /// Decide a request against policy documents, offline: which statements allow or deny it.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Key management: master keys, rotation, status, backup and restore of key files.
    Keys {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
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
pub enum PolicyCommand {
    /// Simulate one request: principal, action, resource and context keys in; the decision
    /// and the deciding statements out.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The caller: `arn:aws:iam::ACCOUNT:root`, `…:user/NAME`, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`,
    /// or a service principal such as `s3.amazonaws.com`.
    #[arg(long, required_unless_present = "lint")]
    pub principal: Option<String>,
    /// The IAM action, e.g. `sqs:SendMessage`.
    #[arg(long, required_unless_present = "lint")]
    pub action: Option<String>,
    /// The resource ARN (`*` for account-level actions such as sqs:ListQueues).
    #[arg(long, default_value = "*")]
    pub resource: String,
    /// An identity policy document of the caller (repeatable).
    #[arg(long = "identity-policy")]
    pub identity_policies: Vec<PathBuf>,
    /// The queue's policy document.
    #[arg(long)]
    pub queue_policy: Option<PathBuf>,
    /// A context key, `key=value` (repeat a key for several values).
    #[arg(long = "context")]
    pub context: Vec<String>,
    /// Also report risky queue-policy statements: a service principal or `*` allowed without
    /// an `aws:SourceArn`/`aws:SourceAccount` condition (confused deputy). Without
    /// `--principal` and `--action`, only lints.
    #[arg(long, requires = "queue_policy")]
    pub lint: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts (tenants).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Service integrations (storage events, topics) and their bearer tokens.
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// IAM roles.
    #[command(subcommand)]
    Role(RoleCommand),
    /// The audit trail of management changes, newest first.
    Audit {
        #[arg(long)]
        account: Option<String>,
        /// An action, e.g. `iam:CreateUser`, `sqs:SetQueueAttributes`, `admin:account-delete`.
        #[arg(long)]
        action: Option<String>,
        /// Only entries at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Database backup and restore (logical, pg_dump/pg_restore). Keep `sluice keys backup`
    /// with it: the dump holds only sealed data.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Write a backup of the database (pg_dump custom format).
    Dump {
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the database's contents with a backup (run before `sluice serve`).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Print the database's connection URL (for psql, pgbench and other PostgreSQL tools).
    Url,
    /// A base backup of the managed cluster (the start of a point-in-time recovery).
    BaseBackup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Point-in-time recovery of the managed cluster (with `sluice serve` stopped): from a
    /// base backup and the WAL archive (`wal_archive_dir`), up to an instant (RFC 3339).
    Pitr {
        #[arg(long)]
        base: PathBuf,
        #[arg(long)]
        until: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a master key for an account (its queues select it with KmsMasterKeyId).
    Create {
        #[arg(long)]
        account: String,
        /// `alias/NAME`.
        #[arg(long)]
        alias: Option<String>,
    },
    /// List an account's master keys.
    List {
        #[arg(long)]
        account: String,
    },
    /// Destroy an account's master key: everything sealed under it becomes unreadable.
    Destroy {
        #[arg(long)]
        account: String,
        id: String,
        #[arg(long)]
        yes: bool,
    },
    /// Make a new version of a master key current (the service key unless `--key`), then
    /// re-wrap every data key under current versions (message bodies are not touched).
    Rotate {
        /// An account's key id (`sluice keys list`); default: the service key.
        #[arg(long)]
        key: Option<String>,
        /// The account owning `--key`.
        #[arg(long, requires = "key")]
        account: Option<String>,
    },
    /// Master keys in use: provider, current version, and how many data keys each wraps.
    Status,
    /// Copy the key files (master key and keyring) into one backup file (0600).
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Put the key files of a backup back (refuses to replace existing ones unless --force).
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// End every session of a role issued before now (IAM's "revoke active sessions").
    RevokeSessions {
        #[arg(long)]
        account: String,
        /// The role's name.
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Register an integration; prints its id and a first token.
    Create {
        /// The registering account (the integration's source account).
        #[arg(long)]
        account: String,
        /// The service principal it speaks as: s3.amazonaws.com or sns.amazonaws.com.
        #[arg(long)]
        service: String,
        /// A bucket name (S3) or a topic ARN of this account (SNS) it may claim; repeatable.
        #[arg(long = "source", required = true)]
        sources: Vec<String>,
        /// Lifetime of the token in seconds (default and most: the deployment's
        /// integration_token_max_lifetime_seconds, 30 days unless set).
        #[arg(long)]
        lifetime_seconds: Option<i64>,
    },
    /// List an account's integrations.
    List {
        #[arg(long)]
        account: String,
    },
    /// Issue another token for an integration (earlier tokens stay valid until they expire).
    Token {
        #[arg(long)]
        account: String,
        id: String,
        #[arg(long)]
        lifetime_seconds: Option<i64>,
    },
    /// Revoke one token (given whole, or by the token id printed when it was issued): every
    /// instance refuses it within the cache bound (30 s at most); the integration's other tokens
    /// keep working.
    RevokeToken {
        #[arg(long)]
        account: String,
        /// The token, or its id (`TOK…`).
        token: String,
    },
    /// Revoke an integration: none of its tokens is accepted any more.
    Revoke {
        #[arg(long)]
        account: String,
        id: String,
    },
    /// Make a new key sign the account's tokens (tokens of older keys stay valid).
    RotateKey {
        #[arg(long)]
        account: String,
    },
    /// Retire every signing key of the account but the newest: their tokens stop working.
    RetireOldKeys {
        #[arg(long)]
        account: String,
    },
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
    /// Disable an account: every key of it is refused (within the cache bound).
    Disable { id: String },
    /// Enable a disabled account again.
    Enable { id: String },
    /// Delete an account with its users, keys, policies, queues and messages.
    Delete {
        id: String,
        /// Confirms the deletion (it cannot be undone).
        #[arg(long)]
        yes: bool,
    },
    /// Replace the root access key: prints the new one as a profile; the old one stops working.
    RotateRootKey { id: String },
    /// Set an account's own limits (the others keep the configured defaults).
    Limits {
        id: String,
        /// Requests a second per action family (send, receive, delete, manage), per instance.
        #[arg(long)]
        requests_per_second: Option<i32>,
        #[arg(long)]
        max_queues: Option<i64>,
        #[arg(long)]
        max_stored_messages: Option<i64>,
        #[arg(long)]
        max_stored_bytes: Option<i64>,
        /// Open long polls (per instance).
        #[arg(long)]
        max_long_polls: Option<i32>,
    },
    /// Each account's use against its limits (stored data measured now).
    Usage {
        /// One account (default: every account).
        id: Option<String>,
    },
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
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal, never into a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Warns of every `SLUICE_*` variable that names no setting (it is ignored), naming the
/// setting it probably meant. Called once logging is set up.
fn warn_unknown_env() {
    for (var, closest) in Config::unknown_env_vars(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok())) {
        match closest {
            Some(k) => tracing::warn!("{var} is not a Sluice setting and is ignored; did you mean {k}?"),
            None => tracing::warn!("{var} is not a Sluice setting and is ignored (see docs/configuration.md)"),
        }
    }
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
            Command::Keys { common, command } => keys(cli.config, common, command).await,
            Command::Policy { command: PolicyCommand::Simulate(args) } => simulate(&args).map(|out| print!("{out}")),
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
    warn_unknown_env();
    let running = app::build(config, BuildOptions::default()).await?;
    tracing::info!(addr = %running.addr, url = %running.public_url, "Sluice is listening (HTTPS)");
    tracing::info!(addr = %running.metrics_addr, "metrics and health on http://{}/metrics", running.metrics_addr);
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
    // Stop accepting; open long polls answer at once (empty); requests in flight finish
    // within the shutdown timeout; then the managed database stops.
    running.queues.shut_down();
    handle.stop(true).await;
    let _ = server.await;
    running.database.close(true).await;
    tracing::info!("stopped");
    Ok(())
}

const BACKUP_MAGIC: &str = "SLUICE-KEY-BACKUP 1";

/// Writes a backup of the key files: `SLUICE-KEY-BACKUP 1`, then `NAME BASE64` per file.
fn backup_keys(config: &Config, out: &std::path::Path) -> Result<(), CliError> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = zeroize::Zeroizing::new(format!("{BACKUP_MAGIC}\n"));
    for (name, path) in [("master.key", config.master_key_path()), ("keyring", config.keyring_path())] {
        let data = zeroize::Zeroizing::new(
            std::fs::read(&path).map_err(|e| CliError::Other(format!("reading {}: {e}", path.display())))?,
        );
        let encoded = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(data.as_slice()));
        text.push_str(&format!("{name} {}\n", encoded.as_str()));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| CliError::Other(format!("creating {}: {e}", out.display())))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| CliError::Other(e.to_string()))?;
    Ok(())
}

/// Puts the key files of a backup back in place (0600).
fn restore_keys(config: &Config, from: &std::path::Path, force: bool) -> Result<(), CliError> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(from).map_err(|e| CliError::Other(format!("reading {}: {e}", from.display())))?,
    );
    let mut lines = text.lines();
    if lines.next() != Some(BACKUP_MAGIC) {
        return Err(CliError::Other(format!("{} is not a Sluice key backup", from.display())));
    }
    let mut files = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, data) = line.split_once(' ').ok_or_else(|| CliError::Other("malformed key backup".into()))?;
        let path = match name {
            "master.key" => config.master_key_path(),
            "keyring" => config.keyring_path(),
            _ => return Err(CliError::Other(format!("unknown file {name} in the key backup"))),
        };
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| CliError::Other("malformed key backup".into()))?,
        );
        files.push((path, bytes));
    }
    for (path, _) in &files {
        if path.exists() && !force {
            return Err(CliError::Other(format!("{} exists; repeat with --force to replace it", path.display())));
        }
    }
    for (path, bytes) in files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CliError::Other(e.to_string()))?;
        }
        let tmp = path.with_extension("restore-tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| CliError::Other(format!("creating {}: {e}", tmp.display())))?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| CliError::Other(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| CliError::Other(e.to_string()))?;
        println!("restored {}", path.display());
    }
    Ok(())
}

async fn keys(file: Option<PathBuf>, common: CommonArgs, command: KeysCommand) -> Result<(), CliError> {
    let mut config = Config::load(file.as_deref(), &common)?;
    init_logging(LogFormat::Human);
    warn_unknown_env();
    config.data_dir = app::ensure_data_dir(&config)?;
    // Files only: no database needed.
    match &command {
        KeysCommand::Backup { out } => {
            backup_keys(&config, out)?;
            println!("key files written to {} (keep it apart from the database backup)", out.display());
            return Ok(());
        }
        KeysCommand::Restore { from, force } => return restore_keys(&config, from, *force),
        _ => {}
    }
    let database = Database::open(&config).await?;
    let provider = app::open_key_provider(&config, &database.store).await?;
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(crate::clock::SystemClock);
    let keys = crate::keys::DataKeys::new(database.store.clone(), provider.clone(), clock);
    let fail = |e: crate::keys::KeysError| CliError::Other(e.to_string());
    let audited: Option<(String, Option<String>, String)> = match &command {
        KeysCommand::Create { account, alias } => {
            Some(("keys:create".into(), Some(account.clone()), alias.clone().unwrap_or_default()))
        }
        KeysCommand::Destroy { account, id, .. } => Some(("keys:destroy".into(), Some(account.clone()), id.clone())),
        KeysCommand::Rotate { key, account } => {
            Some(("keys:rotate".into(), account.clone(), key.clone().unwrap_or_else(|| "service key".into())))
        }
        _ => None,
    };
    let result = async {
        match command {
            KeysCommand::Create { account, alias } => {
                let k = keys.create_master_key(&account, alias.as_deref()).await.map_err(fail)?;
                println!("key: {}", k.id);
                println!("arn: arn:aws:kms:{}:{account}:key/{}", config.region, k.id);
                if let Some(a) = k.alias {
                    println!("alias: {a}");
                }
            }
            KeysCommand::List { account } => {
                println!("{:<38}{:<27}ALIAS", "KEY", "CREATED");
                for k in keys.master_keys(&account).await.map_err(fail)? {
                    let created = k.created_at.format("%Y-%m-%dT%H:%M:%SZ");
                    println!("{:<38}{:<27}{}", k.id, created, k.alias.unwrap_or_default());
                }
            }
            KeysCommand::Destroy { account, id, yes } => {
                if !yes {
                    return Err(CliError::Other(format!(
                        "destroying key {id} makes every message sealed under it unreadable, for good; repeat with --yes"
                    )));
                }
                keys.destroy_master_key(&account, &id).await.map_err(fail)?;
                println!("key {id} destroyed");
            }
            KeysCommand::Rotate { key, account } => {
                let provider_key = match (key, account) {
                    (Some(k), Some(a)) => keys.resolve_master_key(&a, &k).await.map_err(fail)?,
                    (Some(_), None) => return Err(CliError::Other("--key needs --account".into())),
                    _ => crate::keys::SERVICE_KEY.to_owned(),
                };
                let info = provider.rotate(&provider_key).await.map_err(|e| CliError::Other(e.to_string()))?;
                println!("{} is now at version {}", info.master_key, info.current_version);
                let (n, skipped) = keys.rewrap_all().await.map_err(fail)?;
                println!("{n} data key(s) re-wrapped under current versions");
                if skipped > 0 {
                    println!("{skipped} data key(s) skipped: their master key is gone (see the log)");
                }
            }
            KeysCommand::Status => {
                println!("{:<10}{:<60}{:<10}{:<10}DATA KEYS", "PROVIDER", "MASTER KEY", "VERSION", "VERSIONS");
                let counts = database.store.data_key_counts().await.map_err(|e| CliError::Other(e.to_string()))?;
                let mut seen = std::collections::BTreeSet::new();
                for (p, key, n) in &counts {
                    seen.insert(key.clone());
                    let info = provider.describe(key).await;
                    let (v, vs) = match &info {
                        Ok(i) => (i.current_version.clone(), i.versions.to_string()),
                        Err(e) => (format!("({e})"), String::new()),
                    };
                    println!("{p:<10}{key:<60}{v:<10}{vs:<10}{n}");
                }
                if !seen.contains(crate::keys::SERVICE_KEY)
                    && let Ok(i) = provider.describe(crate::keys::SERVICE_KEY).await
                {
                    println!("{:<10}{:<60}{:<10}{:<10}0", provider.id(), i.master_key, i.current_version, i.versions);
                }
            }
            KeysCommand::Backup { .. } | KeysCommand::Restore { .. } => {}
        }
        Ok(())
    }
    .await;
    if result.is_ok()
        && let Some((action, account, resource)) = audited
    {
        let entry = crate::store::audit::AuditEntry {
            at: crate::clock::Clock::now(&crate::clock::SystemClock),
            account_id: account,
            actor: "operator".into(),
            action,
            resource,
            source_ip: None,
            request_id: None,
            detail: serde_json::json!({}),
        };
        if let Err(e) = database.store.record_audit(&entry).await {
            database.close(false).await;
            return Err(CliError::Other(e.to_string()));
        }
    }
    database.close(false).await;
    result
}

async fn admin(file: Option<PathBuf>, common: CommonArgs, command: AdminCommand) -> Result<(), CliError> {
    let config = Config::load(file.as_deref(), &common)?;
    init_logging(LogFormat::Human);
    warn_unknown_env();
    let mut config = config;
    config.data_dir = app::ensure_data_dir(&config)?;
    if let AdminCommand::Db(DbCommand::Pitr { base, until }) = &command {
        app::point_in_time_recovery(&config, base, until).await?;
        println!("recovered to {until}; start sluice serve");
        return Ok(());
    }
    let database = Database::open(&config).await?;
    if let AdminCommand::Db(db) = &command {
        let done = match db {
            DbCommand::Dump { out } => {
                database.dump(&config, out).map(|()| println!("database written to {}", out.display()))
            }
            DbCommand::Restore { from } => {
                database.restore(&config, from).map(|()| println!("database restored from {}", from.display()))
            }
            DbCommand::BaseBackup { out } => {
                database.base_backup(&config, out).map(|()| println!("base backup written to {}", out.display()))
            }
            DbCommand::Pitr { .. } => Ok(()),
            DbCommand::Url => {
                println!("{}", database.url());
                Ok(())
            }
        };
        database.close(false).await;
        return Ok(done?);
    }
    let master = app::open_master_key(&config, &database.store).await?;
    let sealer = std::sync::Arc::new(crate::crypto::Sealer::new(master));
    let tenancy = Tenancy::new(database.store.clone(), sealer, std::sync::Arc::new(crate::clock::SystemClock))
        .with_max_token_lifetime(config.integration_token_max_lifetime_seconds);
    // What an operator command changes, for the audit trail: (action, account, resource).
    let audited: Option<(String, Option<String>, String)> = match &command {
        AdminCommand::Account(c) => match c {
            AccountCommand::Create { name, id } => Some(("admin:account-create".into(), id.clone(), name.clone())),
            AccountCommand::Disable { id } => Some(("admin:account-disable".into(), Some(id.clone()), id.clone())),
            AccountCommand::Enable { id } => Some(("admin:account-enable".into(), Some(id.clone()), id.clone())),
            AccountCommand::Delete { id, .. } => Some(("admin:account-delete".into(), Some(id.clone()), id.clone())),
            AccountCommand::RotateRootKey { id } => {
                Some(("admin:account-rotate-root-key".into(), Some(id.clone()), id.clone()))
            }
            AccountCommand::Limits { id, .. } => Some(("admin:account-limits".into(), Some(id.clone()), id.clone())),
            AccountCommand::List | AccountCommand::Usage { .. } => None,
        },
        AdminCommand::Integration(c) => match c {
            IntegrationCommand::Create { account, service, .. } => {
                Some(("admin:integration-create".into(), Some(account.clone()), service.clone()))
            }
            IntegrationCommand::Token { account, id, .. } => {
                Some(("admin:integration-token".into(), Some(account.clone()), id.clone()))
            }
            IntegrationCommand::Revoke { account, id } => {
                Some(("admin:integration-revoke".into(), Some(account.clone()), id.clone()))
            }
            IntegrationCommand::RevokeToken { account, token } => {
                // The audit names the token by its id, never by its text.
                let id = crate::crypto::token::unverified_claims(token).map_or_else(|| token.clone(), |c| c.jti);
                Some(("admin:integration-revoke-token".into(), Some(account.clone()), id))
            }
            IntegrationCommand::RotateKey { account } | IntegrationCommand::RetireOldKeys { account } => {
                Some(("admin:integration-signing-keys".into(), Some(account.clone()), account.clone()))
            }
            IntegrationCommand::List { .. } => None,
        },
        AdminCommand::Role(RoleCommand::RevokeSessions { account, role }) => {
            Some(("admin:role-revoke-sessions".into(), Some(account.clone()), role.clone()))
        }
        AdminCommand::Audit { .. } | AdminCommand::Db(_) => None,
    };
    let result = match command {
        AdminCommand::Db(_) => Ok(()),
        AdminCommand::Audit { account, action, since, limit } => {
            let since = match since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
                Some(Ok(t)) => Some(t.to_utc()),
                Some(Err(_)) => {
                    database.close(false).await;
                    return Err(CliError::Other("--since must be an RFC 3339 time".into()));
                }
                None => None,
            };
            let filter = crate::store::audit::AuditFilter { account_id: account, action, since, limit };
            tenancy.audit(&filter).await.map(|entries| {
                println!("{:<27}{:<14}{:<36}{:<50}{:<18}DETAIL", "AT", "ACCOUNT", "ACTION", "ACTOR", "FROM");
                for e in entries {
                    println!(
                        "{:<27}{:<14}{:<36}{:<50}{:<18}{} {}",
                        e.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                        e.account_id.unwrap_or_default(),
                        e.action,
                        e.actor,
                        e.source_ip.unwrap_or_else(|| "-".into()),
                        e.resource,
                        e.detail
                    );
                }
            })
        }
        AdminCommand::Account(AccountCommand::Create { name, id }) => {
            tenancy.create_account(&name, id.as_deref()).await.map(|a| print!("{}", a.credentials_profile(&name)))
        }
        AdminCommand::Account(AccountCommand::List) => tenancy.list_accounts().await.map(|accounts| {
            println!("{:<14}{:<10}{:<27}NAME", "ID", "STATUS", "CREATED");
            for a in accounts {
                println!("{:<14}{:<10}{:<27}{}", a.id, a.status, a.created_at.format("%Y-%m-%dT%H:%M:%SZ"), a.name);
            }
        }),
        AdminCommand::Account(AccountCommand::Disable { id }) => {
            tenancy.set_account_enabled(&id, false).await.map(|()| println!("account {id} disabled"))
        }
        AdminCommand::Account(AccountCommand::Enable { id }) => {
            tenancy.set_account_enabled(&id, true).await.map(|()| println!("account {id} enabled"))
        }
        AdminCommand::Account(AccountCommand::Delete { id, yes }) => {
            if !yes {
                database.close(false).await;
                return Err(CliError::Other(format!("deleting account {id} cannot be undone; repeat with --yes")));
            }
            let provider = app::open_key_provider(&config, &database.store).await?;
            let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(crate::clock::SystemClock);
            let keys = crate::keys::DataKeys::new(database.store.clone(), provider, clock);
            match app::delete_account(&tenancy, &keys, &id).await {
                Ok(n) => {
                    println!("account {id} deleted ({n} master key(s) destroyed)");
                    Ok(())
                }
                Err(e) => {
                    database.close(false).await;
                    return Err(e.into());
                }
            }
        }
        AdminCommand::Account(AccountCommand::RotateRootKey { id }) => {
            tenancy.rotate_root_key(&id).await.map(|a| print!("{}", a.credentials_profile(&a.name)))
        }
        AdminCommand::Account(AccountCommand::Limits {
            id,
            requests_per_second,
            max_queues,
            max_stored_messages,
            max_stored_bytes,
            max_long_polls,
        }) => {
            let o = crate::store::limits::LimitOverrides {
                requests_per_second,
                max_queues,
                max_stored_messages,
                max_stored_bytes,
                max_long_polls,
            };
            tenancy.set_account_limits(&id, &o).await.map(|()| println!("limits of account {id} set"))
        }
        AdminCommand::Account(AccountCommand::Usage { id }) => usage(&config, &database, &tenancy, id).await,
        AdminCommand::Integration(command) => integration(&tenancy, command).await,
        AdminCommand::Role(RoleCommand::RevokeSessions { account, role }) => {
            tenancy.revoke_role_sessions(&account, &role).await.map(|at| {
                println!("sessions of role {role} issued before {} are revoked", at.format("%Y-%m-%dT%H:%M:%SZ"))
            })
        }
    };
    if result.is_ok()
        && let Some((action, account, resource)) = audited
        && let Err(e) = tenancy.record(&tenancy.operator_entry(account.as_deref(), &action, &resource)).await
    {
        database.close(false).await;
        return Err(e.into());
    }
    database.close(false).await;
    Ok(result?)
}

/// Prints each account's use against its limits.
async fn usage(
    config: &Config,
    database: &Database,
    tenancy: &Tenancy,
    id: Option<String>,
) -> Result<(), crate::tenancy::TenancyError> {
    let store = &database.store;
    store.measure_usage(crate::clock::Clock::now(&crate::clock::SystemClock)).await?;
    let accounts = match id {
        Some(id) => vec![id],
        None => tenancy.list_accounts().await?.into_iter().map(|a| a.id).collect(),
    };
    let defaults = config.limit_defaults();
    println!("{:<14}{:>12}{:>20}{:>24}{:>30}", "ACCOUNT", "REQ/S", "QUEUES", "STORED MESSAGES", "STORED BYTES");
    for a in accounts {
        let limits = defaults.with(&store.limit_overrides(&a).await?);
        let u = store.usage(&a).await?;
        println!(
            "{:<14}{:>12}{:>20}{:>24}{:>30}",
            a,
            limits.requests_per_second,
            format!("{}/{}", u.queues, limits.max_queues),
            format!("{}/{}", u.stored_messages, limits.max_stored_messages),
            format!("{}/{}", u.stored_bytes, limits.max_stored_bytes)
        );
    }
    Ok(())
}

async fn integration(tenancy: &Tenancy, command: IntegrationCommand) -> Result<(), crate::tenancy::TenancyError> {
    use secrecy::ExposeSecret;
    let print_token = |t: crate::tenancy::integrations::IssuedToken| {
        println!("integration: {}", t.integration_id);
        println!("token id: {}", t.token_id);
        println!("expires: {}", t.expires_at.format("%Y-%m-%dT%H:%M:%SZ"));
        println!("token: {}", t.token.expose_secret());
    };
    let lifetime = |l: Option<i64>| l.unwrap_or(tenancy.max_token_lifetime());
    match command {
        IntegrationCommand::Create { account, service, sources, lifetime_seconds } => {
            let i = tenancy.create_integration(&account, &service, &sources).await?;
            print_token(tenancy.issue_integration_token(&account, &i.id, lifetime(lifetime_seconds)).await?);
        }
        IntegrationCommand::List { account } => {
            println!("{:<22}{:<20}{:<10}SOURCES", "ID", "SERVICE", "STATUS");
            for i in tenancy.list_integrations(&account).await? {
                let status = if i.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{:<22}{:<20}{:<10}{}", i.id, i.service, status, i.sources.join(","));
            }
        }
        IntegrationCommand::Token { account, id, lifetime_seconds } => {
            print_token(tenancy.issue_integration_token(&account, &id, lifetime(lifetime_seconds)).await?);
        }
        IntegrationCommand::RevokeToken { account, token } => {
            let r = tenancy.revoke_integration_token(&account, &token).await?;
            let state = if r.already { "was already revoked" } else { "revoked" };
            println!("token {} {state} (kept until {})", r.token_id, r.expires_at.format("%Y-%m-%dT%H:%M:%SZ"));
        }
        IntegrationCommand::Revoke { account, id } => {
            tenancy.revoke_integration(&account, &id).await?;
            println!("integration {id} revoked");
        }
        IntegrationCommand::RotateKey { account } => {
            println!("signing key {} now signs new tokens", tenancy.rotate_signing_key(&account).await?);
        }
        IntegrationCommand::RetireOldKeys { account } => {
            println!("{} signing key(s) retired", tenancy.retire_old_signing_keys(&account).await?);
        }
    }
    Ok(())
}

/// Runs `sluice policy simulate`; returns the report.
pub fn simulate(args: &SimulateArgs) -> Result<String, CliError> {
    use crate::policy::context::Context;
    use crate::policy::document::{Kind, parse};
    use crate::policy::eval::{Caller, PrincipalKind, Request, Source, evaluate};
    let read = |p: &PathBuf, kind: Kind| -> Result<crate::policy::document::Policy, CliError> {
        let text = std::fs::read_to_string(p).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))?;
        parse(&text, kind).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))
    };
    let identity = args.identity_policies.iter().map(|p| read(p, Kind::Identity)).collect::<Result<Vec<_>, _>>()?;
    let queue = args.queue_policy.as_ref().map(|p| read(p, Kind::Queue)).transpose()?;
    let mut lint = String::new();
    if args.lint
        && let Some(q) = &queue
    {
        let refused = crate::policy::lint::unbound_service_allows(q);
        let findings = crate::policy::lint::confused_deputy(q);
        if findings.is_empty() && refused.is_empty() {
            lint.push_str("lint: no findings\n");
        }
        for f in &refused {
            lint.push_str(&format!("error: queue policy {f} (SetQueueAttributes refuses it)\n"));
        }
        for f in findings.iter().filter(|f| !refused.iter().any(|r| r.at == f.at)) {
            lint.push_str(&format!("warning: queue policy {f}\n"));
        }
    }
    let (Some(p), Some(action)) = (&args.principal, &args.action) else {
        return Ok(lint);
    };
    let parts: Vec<&str> = p.splitn(6, ':').collect();
    let (kind, account, role_arn) = if p.ends_with(".amazonaws.com") && !p.starts_with("arn:") {
        (PrincipalKind::Service, None, None)
    } else if parts.len() == 6 && parts[0] == "arn" {
        let account = Some(parts[4].to_owned());
        match parts[5] {
            "root" => (PrincipalKind::Root, account, None),
            r if r.starts_with("user/") => (PrincipalKind::User, account, None),
            r if r.starts_with("assumed-role/") => {
                let role = r.trim_start_matches("assumed-role/").split('/').next().unwrap_or("");
                (PrincipalKind::AssumedRole, account.clone(), Some(format!("arn:aws:iam::{}:role/{role}", parts[4])))
            }
            _ => return Err(CliError::Other(format!("{p}: not a root, user or assumed-role ARN"))),
        }
    } else {
        return Err(CliError::Other(format!("{p}: not a principal ARN or service principal")));
    };
    let mut ctx = Context::new();
    let mut multi: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for kv in &args.context {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| CliError::Other(format!("--context {kv}: expected key=value")))?;
        multi.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    for (k, v) in multi {
        ctx.set_many(&k, v);
    }
    if let Some(a) = &account {
        ctx.set("aws:PrincipalAccount", a.clone());
    }
    ctx.set("aws:PrincipalArn", role_arn.clone().unwrap_or_else(|| p.clone()));
    let owner = args.resource.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_owned);
    let req = Request {
        caller: Caller {
            kind,
            account: account.as_deref(),
            arn: p,
            role_arn: role_arn.as_deref(),
            session_policy: None,
        },
        action,
        resource: &args.resource,
        resource_owner: owner.as_deref(),
        context: &ctx,
    };
    let identity_refs: Vec<&crate::policy::document::Policy> = identity.iter().collect();
    let d = evaluate(&req, &identity_refs, queue.as_ref());
    let mut out = format!("decision: {}\nreason: {:?}\n", if d.allowed { "Allow" } else { "Deny" }, d.reason);
    for s in &d.deciding {
        let source = match s.source {
            Source::Identity(i) => format!("identity policy {}", args.identity_policies[i].display()),
            Source::Resource => "queue policy".to_string(),
            Source::Session => "session policy".to_string(),
        };
        let sid = s.sid.as_deref().map(|x| format!(" (Sid {x})")).unwrap_or_default();
        out.push_str(&format!("statement: {source}, Statement[{}]{sid}\n", s.index));
    }
    out.push_str(&lint);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
    }

    #[test]
    fn simulate_reports_the_decision_and_the_deciding_statement() {
        let args = SimulateArgs {
            principal: Some("arn:aws:iam::444455556666:user/dev".into()),
            action: Some("sqs:DeleteQueue".into()),
            resource: "arn:aws:sqs:us-east-1:444455556666:team-a-prod-orders".into(),
            identity_policies: vec![policies().join("identity-explicit-deny-override.json")],
            queue_policy: None,
            context: vec![],
            lint: false,
        };
        let out = simulate(&args).unwrap();
        assert!(out.starts_with("decision: Deny\nreason: ExplicitDeny"), "{out}");
        assert!(out.contains("(Sid NeverDestroyProduction)"), "{out}");
        let allowed = SimulateArgs { resource: "arn:aws:sqs:us-east-1:444455556666:team-a-dev-orders".into(), ..args };
        let out = simulate(&allowed).unwrap();
        assert!(out.contains("decision: Allow") && out.contains("FullAccessToTeamQueues"), "{out}");
    }

    #[test]
    fn simulate_takes_service_principals_and_context_keys() {
        let args = SimulateArgs {
            principal: Some("sns.amazonaws.com".into()),
            action: Some("sqs:SendMessage".into()),
            resource: "*".into(),
            identity_policies: vec![],
            queue_policy: Some(policies().join("queue-sns-fan-in.json")),
            context: vec![],
            lint: false,
        };
        assert!(simulate(&args).unwrap().starts_with("decision: Deny"));
        let bad = SimulateArgs { principal: Some("nobody".into()), ..args };
        assert!(simulate(&bad).is_err());
    }

    #[test]
    fn simulate_lint_flags_a_service_principal_allowed_without_a_source_condition() {
        let dir = std::env::temp_dir().join(format!("sluice-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let risky = dir.join("risky.json");
        std::fs::write(
            &risky,
            r#"{"Statement":[{"Sid":"Topics","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},
                "Action":"sqs:SendMessage","Resource":"*"}]}"#,
        )
        .unwrap();
        let lint_only = SimulateArgs {
            principal: None,
            action: None,
            resource: "*".into(),
            identity_policies: vec![],
            queue_policy: Some(risky),
            context: vec![],
            lint: true,
        };
        let out = simulate(&lint_only).unwrap();
        assert!(
            out.starts_with("error: queue policy Statement[0] (Sid Topics): allows the service principal"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1, "one finding per statement: {out}");
        let safe = SimulateArgs { queue_policy: Some(policies().join("queue-sns-fan-in.json")), ..lint_only };
        assert_eq!(simulate(&safe).unwrap(), "lint: no findings\n");
        // With a request, the decision comes first and the findings after it.
        let both = SimulateArgs {
            principal: Some("sns.amazonaws.com".into()),
            action: Some("sqs:SendMessage".into()),
            ..safe
        };
        let out = simulate(&both).unwrap();
        assert!(out.starts_with("decision: Deny") && out.ends_with("lint: no findings\n"), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn simulate_needs_a_request_unless_it_only_lints() {
        use clap::Parser;
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--action", "sqs:SendMessage"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--lint"]).is_err(), "lint needs a queue policy");
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--lint", "--queue-policy", "p.json"]).is_ok());
    }
}
