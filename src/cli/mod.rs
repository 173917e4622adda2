//! The command line (clap): `sluice serve`, `sluice admin …`, `sluice keys …` and `sluice
//! policy simulate`. This module holds the command tree and `main`; each command runs in its
//! own room: `serve`, `admin` (accounts, database, integrations, roles, audit, usage), `keys`
//! (master keys and key-file backups), `simulate`.

mod admin;
mod keys;
mod serve;
mod simulate;

pub use simulate::simulate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::{Config, LogFormat};

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
    /// Address of the metrics and health listener (default 127.0.0.1:9325; port 0 picks a
    /// free one, which the log names).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
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
    App(#[from] crate::boot::AppError),
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
            Command::Serve(args) => serve::serve(cli.config, args).await,
            Command::Admin { common, command } => admin::admin(cli.config, common, command).await,
            Command::Keys { common, command } => keys::keys(cli.config, common, command).await,
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
