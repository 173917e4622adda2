//! Boot: wires the parts into one service and starts it. `build` is used by `serve` and by
//! the tests.
//!
//! - `database`: the managed cluster or a configured database, backups and recovery;
//! - `providers`: the master key and the key provider;
//! - `tls`: certificates (the development CA, reloading renewed files);
//! - `tasks`: the background housekeeping;
//! - `ops_http`: the metrics and health listener;
//! - `bootstrap`: the bootstrap account and its files.

mod bootstrap;
mod database;
mod ops_http;
mod providers;
mod tasks;
mod tls;

pub use bootstrap::BootstrapFiles;
use bootstrap::bootstrap;
pub use database::{Database, point_in_time_recovery};
use ops_http::metrics_server;
pub use providers::{open_key_provider, open_master_key};
pub use tasks::AbortOnDrop;
use tasks::sweep_forever;
pub use tls::dev_certificates;
use tls::tls_config;

use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App as ActixApp, HttpServer, web};

use crate::api::ApiState;
use crate::auth::{AuthSettings, Authenticator};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::Sealer;
use crate::queue::QueueService;
use crate::tenancy::Tenancy;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    LocalPg(#[from] crate::store::local_pg::LocalPgError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Queue(#[from] crate::error::SqsError),
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::TenancyError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// A listen address another process holds, with the setting that moves it.
    #[error(
        "{addr} is in use (another sluice serve?): pass {flag} with another address (port 0 picks a free one), or set {env}"
    )]
    AddressInUse { addr: std::net::SocketAddr, flag: &'static str, env: &'static str },
}

/// Binds a listener; an address in use says which flag and variable choose another.
pub(super) fn bind(
    addr: std::net::SocketAddr,
    flag: &'static str,
    env: &'static str,
) -> Result<std::net::TcpListener, AppError> {
    std::net::TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => AppError::AddressInUse { addr, flag, env },
        _ => AppError::Io { what: format!("binding {addr}"), source },
    })
}

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

/// Deletes an account with everything it owns; its data keys go with its rows, and its own
/// master keys are destroyed in the key provider (crypto-shredding of its data).
pub async fn delete_account(tenancy: &Tenancy, keys: &crate::keys::DataKeys, account: &str) -> Result<usize, AppError> {
    let own = keys.master_keys(account).await?;
    tenancy.delete_account(account).await?;
    Ok(keys.destroy_provider_keys(&own).await?)
}

/// Creates the data directory (0700) if needed.
pub fn ensure_data_dir(config: &Config) -> Result<PathBuf, AppError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let meta = std::fs::metadata(dir).map_err(io(dir.display().to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir.display().to_string()))?;
    }
    std::fs::canonicalize(dir).map_err(io(dir.display().to_string()))
}

/// Writes `contents` to `path` with `mode`, replacing it atomically.
pub(super) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), AppError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(format!("writing {}", tmp.display())))?;
    f.write_all(contents).map_err(io(format!("writing {}", tmp.display())))?;
    f.sync_all().map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("renaming to {}", path.display())))
}

/// The public base URL: configured, or derived from the bound address.
pub fn public_url(config: &Config, bound: SocketAddr) -> String {
    if let Some(u) = &config.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = match bound.ip() {
        ip if ip.is_unspecified() => "localhost".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("https://{host}:{}", bound.port())
}

/// A running service.
pub struct Running {
    pub addr: SocketAddr,
    /// The metrics and health listener.
    pub metrics_addr: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub tenancy: Tenancy,
    pub queues: Arc<QueueService>,
    /// Data keys (the key commands, tests).
    pub keys: Arc<crate::keys::DataKeys>,
    /// The move-task worker's side (tests).
    pub moves: Arc<crate::queue::moves::Mover>,
    pub server: actix_web::dev::Server,
    pub database: Database,
    /// Files written for the bootstrap account.
    pub bootstrap_files: Option<BootstrapFiles>,
    /// Background tasks: the expiry sweep, the wake-up notifier and listener, and the
    /// move-task worker (aborted when dropped).
    pub sweeper: Vec<AbortOnDrop>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Options only tests change.
#[derive(Clone)]
pub struct BuildOptions {
    pub clock: Arc<dyn Clock>,
    /// A key provider to use instead of the configured one (tests inject failures with it).
    pub key_provider: Option<Arc<dyn crate::crypto::provider::KeyProvider>>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("key_provider", &self.key_provider.as_ref().map(|p| p.id()))
            .finish_non_exhaustive()
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), key_provider: None }
    }
}

/// Builds and starts the whole service: used by `sluice serve` and by the tests. The
/// returned `server` future must be awaited (or spawned) for the server to run.
pub async fn build(config: Config, opts: BuildOptions) -> Result<Running, AppError> {
    let data_dir = ensure_data_dir(&config)?;
    let mut config = config;
    config.data_dir = data_dir.clone();
    let database = Database::open(&config).await?;
    // A start that fails after the database is up stops the cluster it started (one it
    // adopted keeps running, as it was found); what else it started ends with `assemble`.
    match assemble(config, opts, data_dir, database.store.clone()).await {
        Ok(finish) => Ok(finish(database)),
        Err(e) => {
            database.close(false).await;
            Err(e)
        }
    }
}

/// Everything of a running service but its database, which `finish` is given last.
type Finish = Box<dyn FnOnce(Database) -> Running + Send>;

/// Builds every part on the open database: keys, tenancy, queues, listeners, background
/// tasks, the bootstrap account.
async fn assemble(
    config: Config,
    opts: BuildOptions,
    data_dir: PathBuf,
    store: crate::store::PgStore,
) -> Result<Finish, AppError> {
    let master = open_master_key(&config, &store).await?;
    let sealer = Arc::new(Sealer::new(master));
    let clock = opts.clock;
    let tenancy = Tenancy::new(store.clone(), sealer.clone(), clock.clone())
        .with_max_token_lifetime(config.integration_token_max_lifetime_seconds);

    let (cert, key) = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => dev_certificates(&data_dir)?,
    };
    let tls = tls_config(&cert, &key)?;

    // Bind first: the public URL may depend on the port the system chose.
    let listener = bind(config.listen, "--listen", "SLUICE_LISTEN")?;
    let addr = listener.local_addr().map_err(io("local address"))?;
    let public_url = public_url(&config, addr);

    let provider = match opts.key_provider {
        Some(p) => p,
        None => open_key_provider(&config, &store).await?,
    };
    let keys = Arc::new(crate::keys::DataKeys::new(store.clone(), provider, clock.clone()));
    let metrics = Arc::new(
        crate::metrics::Metrics::new()
            .map_err(|e| AppError::Io { what: e.to_string(), source: std::io::Error::other("metrics") })?,
    );
    let shared = crate::queue::service::Shared::new(
        &store,
        &sealer,
        keys,
        clock.clone(),
        config.limit_defaults(),
        config.concurrent_requests_per_account(),
    )?;
    let queues = Arc::new(
        QueueService::new(
            store.clone(),
            sealer.clone(),
            clock.clone(),
            config.region.clone(),
            public_url.clone(),
            config.max_long_polls,
            config.max_inflight_per_queue,
            config.concurrent_requests_per_account(),
            &shared,
        )?
        .with_metrics(metrics.clone()),
    );
    let (metrics_server, metrics_addr) =
        metrics_server(&config, tls.clone(), metrics.clone(), store.clone(), queues.clone(), shared.keys.clone())?;
    let metrics_task = AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = metrics_server.await {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    }));
    let sweeper = AbortOnDrop(tokio::spawn(sweep_forever(
        queues.clone(),
        shared.wakeups.clone(),
        tenancy.clone(),
        Duration::from_secs(config.sweep_interval_seconds),
    )));
    let notifier = AbortOnDrop(tokio::spawn(shared.wakeups.clone().run_notifier()));
    let mover = AbortOnDrop(tokio::spawn(shared.mover.clone().run()));
    let cache_listener = AbortOnDrop(tokio::spawn(store.clone().run_cache_listener()));
    let wake_listener = AbortOnDrop(tokio::spawn(shared.wakeups.clone().run_listener()));
    let state = web::Data::new(ApiState {
        tenancy: tenancy.clone(),
        // Signatures are dated by the client's wall clock, so authentication compares them
        // with the real time, not with the (possibly moved) clock of queue semantics.
        auth: Authenticator::new(
            AuthSettings {
                region: config.region.clone(),
                max_presign: chrono::TimeDelta::seconds(config.presign_max_expires_seconds as i64),
                cache_ttl: chrono::TimeDelta::seconds(config.cache_ttl_seconds as i64),
                max_token_lifetime: config.integration_token_max_lifetime_seconds,
            },
            store.clone(),
            sealer.clone(),
            Arc::new(SystemClock),
            clock.clone(),
        ),
        queues: queues.clone(),
        region: config.region.clone(),
        max_request_bytes: config.max_request_bytes,
        request_timeout: Duration::from_secs(config.request_timeout_seconds),
        metrics: metrics.clone(),
        trusted_proxies: Arc::new(
            config
                .trusted_proxy_nets()
                .map_err(|e| AppError::Io { what: e, source: std::io::Error::other("configuration") })?,
        ),
        failed_auth: Arc::new(crate::auth::failures::FailedAuth::default()),
        clock: clock.clone(),
        policies: Arc::new(crate::auth::policies::Policies::new(
            store.clone(),
            clock.clone(),
            chrono::TimeDelta::seconds(config.cache_ttl_seconds as i64),
        )),
        quotas: shared.quotas.clone(),
        moves: shared.mover.clone(),
    });

    let bootstrap_files =
        if config.bootstraps() { Some(bootstrap(&config, &tenancy, &public_url).await?) } else { None };

    let mut server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(state.clone())
            .service(
                web::resource("/events/s3/{account}/{queue}")
                    .route(web::post().to(crate::api::events::s3))
                    .route(web::head().to(crate::api::events::probe)),
            )
            .default_service(web::to(crate::api::http::entry))
    })
    .client_request_timeout(Duration::from_secs(config.request_timeout_seconds))
    .client_disconnect_timeout(Duration::from_secs(5))
    .tls_handshake_timeout(Duration::from_secs(config.tls_handshake_timeout_seconds))
    .keep_alive(Duration::from_secs(config.idle_timeout_seconds))
    .max_connections(config.max_connections_per_worker)
    .disable_signals()
    .shutdown_timeout(25);
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    let server = server.listen_rustls_0_23(listener, tls).map_err(io("starting the HTTPS server"))?.run();
    Ok(Box::new(move |database| Running {
        addr,
        metrics_addr,
        public_url,
        data_dir,
        tenancy,
        queues,
        keys: shared.keys.clone(),
        moves: shared.mover.clone(),
        server,
        database,
        bootstrap_files,
        sweeper: vec![sweeper, notifier, wake_listener, mover, cache_listener, metrics_task],
    }))
}
