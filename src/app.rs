//! Wires the parts into one service: database (managed or configured), master key, TLS,
//! bootstrap account, and the HTTPS server. `build` is used by `serve` and by the tests.

use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App as ActixApp, HttpServer, web};
use secrecy::ExposeSecret;

use crate::api::ApiState;
use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::{MasterKey, Sealer};
use crate::queue::QueueService;
use crate::store::PgStore;
use crate::store::local_pg::{LocalPg, LocalPgOptions, default_cluster_dir};
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
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

/// The database side of a running service: a pool, and the managed cluster if we run one.
#[derive(Debug)]
pub struct Database {
    pub store: PgStore,
    pub local: Option<LocalPg>,
    /// The connection URL (for pg_dump and pg_restore).
    url: secrecy::SecretString,
}

impl Database {
    /// Connects to the configured URL, or starts (or adopts) the private cluster of the data
    /// directory; then applies migrations.
    pub async fn open(config: &Config) -> Result<Self, AppError> {
        let (url, local) = match &config.database_url {
            Some(url) => (url.expose_secret().to_owned(), None),
            None => {
                let pg = LocalPg::start(&LocalPgOptions {
                    cluster_dir: default_cluster_dir(&config.data_dir),
                    durable: true,
                    bin_dir: config.pg_bin_dir.clone(),
                    max_connections: 100,
                    die_with_parent: false,
                    wal_archive_dir: config.wal_archive_dir.clone(),
                })
                .await?;
                (pg.url().to_owned(), Some(pg))
            }
        };
        let store = PgStore::connect(&url, config.database_max_connections).await?;
        store.migrate().await?;
        Ok(Self { store, local, url: url.into() })
    }

    /// The connection URL (it may carry a password: for an operator's terminal only).
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    /// Runs a PostgreSQL client tool (`pg_dump`, `pg_restore`) against this database.
    fn run_tool(&self, config: &Config, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), AppError> {
        let bin = match &config.pg_bin_dir {
            Some(b) => b.clone(),
            None => crate::store::local_pg::find_bin_dir()?,
        };
        let out = std::process::Command::new(bin.join(tool))
            .args(args)
            .arg("-d")
            .arg(self.url.expose_secret())
            .output()
            .map_err(io(format!("running {tool}")))?;
        if !out.status.success() {
            return Err(AppError::Io {
                what: format!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
                source: std::io::Error::other("tool failed"),
            });
        }
        Ok(())
    }

    /// A logical backup of the whole database (pg_dump's custom format). Message bodies,
    /// secrets and data keys in it are sealed: restoring it needs the key files too.
    pub fn dump(&self, config: &Config, out: &Path) -> Result<(), AppError> {
        self.run_tool(config, "pg_dump", &["-Fc".as_ref(), "--no-owner".as_ref(), "-f".as_ref(), out.as_os_str()])
    }

    /// A base backup of the whole cluster (pg_basebackup, plain format, WAL included) into
    /// `out`, the starting point of a point-in-time recovery with the WAL archive.
    pub fn base_backup(&self, config: &Config, out: &Path) -> Result<(), AppError> {
        self.run_tool(
            config,
            "pg_basebackup",
            &[
                "-D".as_ref(),
                out.as_os_str(),
                "-Fp".as_ref(),
                "-X".as_ref(),
                "stream".as_ref(),
                "-c".as_ref(),
                "fast".as_ref(),
            ],
        )
    }

    /// Restores a dump over this database (its objects are replaced).
    pub fn restore(&self, config: &Config, from: &Path) -> Result<(), AppError> {
        self.run_tool(
            config,
            "pg_restore",
            &[
                "--clean".as_ref(),
                "--if-exists".as_ref(),
                "--no-owner".as_ref(),
                "--single-transaction".as_ref(),
                from.as_os_str(),
            ],
        )
    }

    /// Closes the pool and stops the managed cluster if we started it (or, with
    /// `stop_adopted`, also one we adopted from a crashed owner).
    pub async fn close(self, stop_adopted: bool) {
        self.store.close().await;
        if let Some(pg) = self.local
            && (stop_adopted || !pg.adopted())
        {
            pg.stop().await;
        }
    }
}

/// Loads the master key, creating it only for a database that holds nothing sealed yet: a
/// missing key file in front of existing data is an error (a new key could open nothing),
/// not a reason to start over silently.
pub async fn open_master_key(config: &Config, store: &PgStore) -> Result<MasterKey, AppError> {
    let path = config.master_key_path();
    if !path.exists() && store.holds_sealed_data().await? {
        return Err(AppError::Crypto(crate::crypto::CryptoError::KeyFile {
            path: path.display().to_string(),
            reason: "is missing, but the database holds data sealed under a master key; restore the key file (or point master_key_file at it)".into(),
        }));
    }
    Ok(MasterKey::load_or_create(&path)?)
}

/// Opens the key provider: the keyring, created only for a database that holds no data key
/// yet (a missing keyring in front of wrapped keys is an error, as for the master key).
pub async fn open_key_provider(
    config: &Config,
    store: &PgStore,
) -> Result<Arc<dyn crate::crypto::provider::KeyProvider>, AppError> {
    let fail = |what: &str, why: String| {
        AppError::Crypto(crate::crypto::CryptoError::KeyFile { path: what.to_owned(), reason: why })
    };
    match config.key_provider.as_str() {
        "local" => {
            let path = config.keyring_path();
            if !path.exists() && store.data_key_counts().await?.iter().any(|(p, _, _)| p == "local") {
                return Err(fail(
                    &path.display().to_string(),
                    "is missing, but the database holds data keys wrapped under it; restore the keyring (or point keyring_file at it)".into(),
                ));
            }
            let passphrase = match &config.keyring_passphrase_file {
                Some(f) => Some(read_secret_file(f).map_err(|e| fail(&f.display().to_string(), e))?),
                None => None,
            };
            let ring = crate::crypto::keyring::Keyring::open_or_create_with(&path, passphrase)
                .map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
            Ok(Arc::new(ring))
        }
        #[cfg(feature = "pkcs11")]
        "pkcs11" => {
            let (Some(module), Some(label), Some(pin_file)) =
                (&config.pkcs11_module, &config.pkcs11_token_label, &config.pkcs11_pin_file)
            else {
                return Err(fail("pkcs11", "needs pkcs11_module, pkcs11_token_label and pkcs11_pin_file".into()));
            };
            let pin = read_secret_file(pin_file).map_err(|e| fail(&pin_file.display().to_string(), e))?;
            let p = crate::crypto::pkcs11::Pkcs11Provider::open(module, label, pin)
                .map_err(|e| fail(&module.display().to_string(), e.to_string()))?;
            // The service key exists from the first start on.
            use crate::crypto::provider::KeyProvider;
            p.create_key(crate::keys::SERVICE_KEY).await.map_err(|e| fail("pkcs11", e.to_string()))?;
            Ok(Arc::new(p))
        }
        #[cfg(feature = "aws-kms")]
        "aws-kms" => {
            let (Some(key), Ok(id), Ok(secret)) =
                (&config.aws_kms_key_id, std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY"))
            else {
                return Err(fail(
                    "aws-kms",
                    "needs aws_kms_key_id, and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into(),
                ));
            };
            let p = crate::crypto::aws_kms::AwsKmsProvider::new(crate::crypto::aws_kms::AwsKmsOptions {
                region: config.aws_kms_region.clone().unwrap_or_else(|| "us-east-1".into()),
                endpoint: config.aws_kms_endpoint.clone(),
                access_key_id: id,
                secret_access_key: secret.into(),
                session_token: std::env::var("AWS_SESSION_TOKEN").ok().map(Into::into),
                service_key: key.clone(),
            });
            use crate::crypto::provider::KeyProvider;
            p.describe(crate::keys::SERVICE_KEY).await.map_err(|e| fail("aws-kms service key", e.to_string()))?;
            Ok(Arc::new(p))
        }
        other => {
            Err(fail("key_provider", format!("'{other}' is not a key provider of this build (local, pkcs11, aws-kms)")))
        }
    }
}

/// Reads a one-line secret from a file that only its owner may read.
fn read_secret_file(path: &Path) -> Result<secrecy::SecretString, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err("is readable by group or others; chmod 600 it".into());
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    Ok(secrecy::SecretString::from(text.trim_end_matches(['\n', '\r']).to_owned()))
}

/// Point-in-time recovery of the managed cluster (stopped): from the base backup `base`
/// and the WAL archive, up to `until` (RFC 3339); the cluster is started to replay and open
/// for writing, then stopped again, ready for `sluice serve`.
pub async fn point_in_time_recovery(config: &Config, base: &Path, until: &str) -> Result<(), AppError> {
    let fail = |what: String| AppError::Io { what, source: std::io::Error::other("recovery") };
    if config.database_url.is_some() {
        return Err(fail("point-in-time recovery is for the managed cluster; use your PostgreSQL's own tools".into()));
    }
    let Some(archive) = &config.wal_archive_dir else {
        return Err(fail("wal_archive_dir is not set: there is no WAL archive to replay".into()));
    };
    let target = chrono::DateTime::parse_from_rfc3339(until)
        .map_err(|_| fail(format!("'{until}' is not an RFC 3339 time")))?
        .to_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f+00")
        .to_string();
    let cluster = default_cluster_dir(&config.data_dir);
    crate::store::local_pg::prepare_point_in_time_recovery(&cluster, base, archive, &target)?;
    let pg = LocalPg::start(&LocalPgOptions {
        cluster_dir: cluster,
        durable: true,
        bin_dir: config.pg_bin_dir.clone(),
        max_connections: 100,
        die_with_parent: false,
        wal_archive_dir: config.wal_archive_dir.clone(),
    })
    .await?;
    let store = PgStore::connect(pg.url(), 2).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let done = loop {
        match store.in_recovery().await {
            Ok(false) => break Ok(()),
            _ if std::time::Instant::now() > deadline => {
                break Err(fail("the recovery did not finish in 120 s (see the cluster's postgres.log)".into()));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    store.close().await;
    pg.stop().await;
    done
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
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), AppError> {
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

/// The development CA and server certificate (localhost, 127.0.0.1, ::1), made with rcgen
/// on first start and reused after. Returns (certificate chain PEM, key PEM).
pub fn dev_certificates(data_dir: &Path) -> Result<(PathBuf, PathBuf), AppError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_pem = data_dir.join("ca.pem");
    let cert = data_dir.join("server.pem");
    let key = data_dir.join("server.key");
    if ca_pem.exists() && cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let tls = |e: rcgen::Error| AppError::Tls(e.to_string());
    let ca_key = KeyPair::generate().map_err(tls)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "Sluice development CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let year = chrono::Datelike::year(&SystemClock.now());
    ca_params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(tls)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])
        .map_err(tls)?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let server_cert = params.signed_by(&server_key, &issuer).map_err(tls)?;

    write_file(&key, server_key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert, format!("{}{}", server_cert.pem(), ca_cert.pem()).as_bytes(), 0o644)?;
    write_file(&ca_pem, ca_cert.pem().as_bytes(), 0o644)?;
    Ok((cert, key))
}

/// Reads a certificate chain and its key into a key rustls can serve.
fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, AppError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |e: &dyn std::fmt::Display| AppError::Tls(e.to_string());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls(&format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls(&format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(&format!("{}: {e}", key.display())))?;
    rustls::sign::CertifiedKey::from_der(certs, key, provider).map_err(|e| tls(&e))
}

/// The server's certificate, read again when its files change (checked at most once a
/// second, on a handshake), so a renewed certificate is served without a restart. A file
/// that does not load (say, half written) leaves the current certificate in place.
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
    checked: std::sync::Mutex<(std::time::Instant, Option<(std::time::SystemTime, std::time::SystemTime)>)>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("cert", &self.cert).finish_non_exhaustive()
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        if let Ok(mut checked) = self.checked.lock()
            && checked.0.elapsed() >= Duration::from_secs(1)
        {
            checked.0 = std::time::Instant::now();
            let stamps = modified(&self.cert).zip(modified(&self.key));
            if stamps.is_some() && stamps != checked.1 {
                match load_certified_key(&self.cert, &self.key, &self.provider) {
                    Ok(k) => {
                        if let Ok(mut current) = self.current.write() {
                            *current = Arc::new(k);
                        }
                        checked.1 = stamps;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the changed TLS certificate does not load; keeping the current one")
                    }
                }
            }
        }
        self.current.read().ok().map(|c| c.clone())
    }
}

fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, AppError> {
    let tls = |e: &dyn std::fmt::Display| AppError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let first = load_certified_key(cert, key, &provider)?;
    let resolver = ReloadingCert {
        cert: cert.to_owned(),
        key: key.to_owned(),
        provider: provider.clone(),
        current: std::sync::RwLock::new(Arc::new(first)),
        checked: std::sync::Mutex::new((std::time::Instant::now(), modified(cert).zip(modified(key)))),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
    /// Files written for the bootstrap account: (config, credentials).
    pub bootstrap_files: Option<(PathBuf, PathBuf)>,
    /// Background tasks: the expiry sweep, the wake-up notifier and listener, and the
    /// move-task worker (aborted when dropped).
    pub sweeper: Vec<AbortOnDrop>,
}

/// A background task that ends with its owner.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Deletes expired messages every `interval`; errors are logged and retried next time. The
/// first sweep comes one interval (at most a minute) after the start, not during it: a
/// sweep reads every queue, and an instance that starts has requests to serve first.
async fn sweep_forever(
    queues: Arc<QueueService>,
    wakeups: Arc<crate::queue::wait::Wakeups>,
    tenancy: Tenancy,
    interval: Duration,
) {
    let first = tokio::time::Instant::now() + interval.min(Duration::from_secs(60));
    let mut tick = tokio::time::interval_at(first, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queues.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired messages removed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        if let Err(e) = queues.measure_usage().await {
            tracing::warn!(error = %e, "measuring accounts' stored data failed");
        }
        if let Err(e) = tenancy.sweep_expired_sessions().await {
            tracing::warn!(error = %e, "removing expired sessions failed");
        }
        if let Err(e) = tenancy.sweep_token_revocations().await {
            tracing::warn!(error = %e, "removing revocations of expired tokens failed");
        }
        if let Err(e) = wakeups.refresh().await {
            tracing::warn!(error = %e, "refreshing long-poll registrations failed");
        }
    }
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
    let store = database.store.clone();
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
    let listener = std::net::TcpListener::bind(config.listen).map_err(io(format!("binding {}", config.listen)))?;
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
            store.clone(),
            sealer.clone(),
            Arc::new(SystemClock),
            clock.clone(),
            chrono::TimeDelta::seconds(config.presign_max_expires_seconds as i64),
            chrono::TimeDelta::seconds(config.cache_ttl_seconds as i64),
            config.integration_token_max_lifetime_seconds,
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
    Ok(Running {
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
    })
}

#[derive(Clone)]
struct MetricsState {
    metrics: Arc<crate::metrics::Metrics>,
    store: PgStore,
    queues: Arc<QueueService>,
    keys: Arc<crate::keys::DataKeys>,
    /// The bearer token `/metrics` needs (always set when the listener is not loopback).
    token: Option<Arc<secrecy::SecretString>>,
}

async fn metrics_page(req: actix_web::HttpRequest, s: web::Data<MetricsState>) -> actix_web::HttpResponse {
    if let Some(token) = &s.token {
        use subtle_compare::equal;
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !equal(given.as_bytes(), token.expose_secret().as_bytes()) {
            return actix_web::HttpResponse::Unauthorized().insert_header(("www-authenticate", "Bearer")).finish();
        }
    }
    let pool = s.store.pool();
    s.metrics.db_connections.set(i64::from(pool.size()));
    s.metrics.db_idle.set(pool.num_idle() as i64);
    s.metrics.long_polls.set(s.queues.open_long_polls() as i64);
    let counts = s.keys.counts();
    for (event, c) in [
        ("generate", &counts.generated),
        ("unwrap", &counts.unwrapped),
        ("failure", &counts.failures),
        ("cache_hit", &counts.cache_hits),
    ] {
        s.metrics.key_calls.with_label_values(&[event]).set(c.load(std::sync::atomic::Ordering::Relaxed) as i64);
    }
    let started = std::time::Instant::now();
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        s.metrics.db_ping.set(started.elapsed().as_secs_f64());
    }
    if let Ok(Ok(age)) = tokio::time::timeout(Duration::from_secs(2), s.store.oldest_transaction_age()).await {
        s.metrics.db_oldest_transaction.set(age);
    }
    // Depth of the deepest queues (bounded series; a slow database skips it this time).
    let now = s.queues.now();
    if let Ok(Ok(depths)) =
        tokio::time::timeout(Duration::from_secs(2), s.store.deepest_queues(now, crate::metrics::MAX_QUEUE_SERIES))
            .await
    {
        s.metrics.queue_messages.reset();
        s.metrics.queue_oldest_age.reset();
        for d in depths {
            let account = s.metrics.account_label(&d.account_id);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "visible"]).set(d.visible);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "not_visible"]).set(d.not_visible);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "delayed"]).set(d.delayed);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "dead_letters"]).set(d.dead_letters);
            if let Some(o) = d.oldest {
                s.metrics.queue_oldest_age.with_label_values(&[&account, &d.name]).set((now - o).num_seconds());
            }
        }
    }
    actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(s.metrics.render())
}

async fn live() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().body("live\n")
}

/// Ready when the database answers within two seconds.
async fn ready(s: web::Data<MetricsState>) -> actix_web::HttpResponse {
    match tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        // A key-provider outage while cached keys serve is degraded, not unready: pulling
        // every instance out of the load balancer would turn a short outage into a full one.
        Ok(Ok(())) if s.keys.unavailable_within(60) => {
            actix_web::HttpResponse::Ok().body("degraded: the key provider is unavailable; cached data keys serve\n")
        }
        Ok(Ok(())) => actix_web::HttpResponse::Ok().body("ready\n"),
        _ => actix_web::HttpResponse::ServiceUnavailable().body("database unreachable\n"),
    }
}

/// Constant-time comparison of secrets.
mod subtle_compare {
    use hmac::{KeyInit, Mac};

    /// Whether `a == b`, in time independent of both: their MACs under a fresh random key
    /// are compared, and `verify_slice` compares in constant time.
    pub fn equal(a: &[u8], b: &[u8]) -> bool {
        let mut key = [0u8; 32];
        if crate::crypto::random_bytes(&mut key).is_err() {
            return false;
        }
        let Ok(mut ma) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key) else { return false };
        let Ok(mut mb) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key) else { return false };
        ma.update(a);
        mb.update(b);
        mb.verify_slice(&ma.finalize().into_bytes()).is_ok()
    }
}

/// The metrics and health listener: plain HTTP on a loopback address; elsewhere HTTPS (the
/// service's certificate) with `/metrics` behind a bearer token (`metrics_token_file`).
/// Health stays open to load balancers either way.
fn metrics_server(
    config: &Config,
    tls: rustls::ServerConfig,
    metrics: Arc<crate::metrics::Metrics>,
    store: PgStore,
    queues: Arc<QueueService>,
    keys: Arc<crate::keys::DataKeys>,
) -> Result<(actix_web::dev::Server, SocketAddr), AppError> {
    let exposed = !config.metrics_listen.ip().is_loopback();
    let token = match (&config.metrics_token_file, exposed) {
        (Some(f), _) => Some(Arc::new(read_secret_file(f).map_err(|e| AppError::Io {
            what: format!("{}: {e}", f.display()),
            source: std::io::Error::other("token"),
        })?)),
        (None, true) => {
            return Err(AppError::Io {
                what: format!(
                    "metrics_listen {} is not a loopback address: set metrics_token_file (metrics are then served over HTTPS to bearers of that token)",
                    config.metrics_listen
                ),
                source: std::io::Error::other("refused"),
            });
        }
        (None, false) => None,
    };
    let listener = std::net::TcpListener::bind(config.metrics_listen)
        .map_err(io(format!("binding the metrics listener {}", config.metrics_listen)))?;
    let addr = listener.local_addr().map_err(io("metrics address"))?;
    let state = web::Data::new(MetricsState { metrics, store, queues, keys, token });
    let server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics_page))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
    })
    .workers(1)
    .disable_signals();
    let server = if exposed { server.listen_rustls_0_23(listener, tls) } else { server.listen(listener) }
        .map_err(io("starting the metrics listener"))?
        .run();
    Ok((server, addr))
}

/// Creates the bootstrap account the first time and writes its `credentials` file if there
/// is none (an existing one is never rewritten: it may be the operator's, or hold a key rotated
/// since); (re)writes `config`. Returns the paths of `config` and `credentials`.
async fn bootstrap(config: &Config, tenancy: &Tenancy, public_url: &str) -> Result<(PathBuf, PathBuf), AppError> {
    let dir = &config.data_dir;
    let id = &config.bootstrap_account_id;
    let credentials = dir.join("credentials");
    let root = tenancy.root_key(id).await?;
    let written = std::fs::symlink_metadata(&credentials).is_ok();
    if written {
        let current = root.as_ref().map(|(k, _)| k.as_str());
        let named = std::fs::read_to_string(&credentials).ok().and_then(|text| {
            text.lines().find_map(|l| {
                l.split_once('=').filter(|(k, _)| k.trim() == "aws_access_key_id").map(|(_, v)| v.trim().to_owned())
            })
        });
        if current.is_some() && named.as_deref() != current {
            tracing::warn!(
                file = %credentials.display(),
                "the credentials file does not hold the bootstrap account's current root key; it is left as it is"
            );
        }
    }
    let (key_id, secret) = match root {
        Some(k) => k,
        None => {
            let a = tenancy.create_account(&config.bootstrap_account_name, Some(id)).await?;
            tracing::info!(account = %a.id, "created the bootstrap account");
            (a.access_key_id, a.secret_access_key)
        }
    };
    if !written {
        let contents = zeroize::Zeroizing::new(format!(
            "[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {}\n",
            secret.expose_secret()
        ));
        write_file(&credentials, contents.as_bytes(), 0o600)?;
    }
    let ca = dir.join("ca.pem");
    let aws_config = dir.join("config");
    let ca_line = if ca.exists() && config.tls_cert_file.is_none() {
        format!("ca_bundle = {}\n", ca.display())
    } else {
        String::new()
    };
    write_file(
        &aws_config,
        format!("[default]\nregion = {}\nendpoint_url = {public_url}\n{ca_line}", config.region).as_bytes(),
        0o644,
    )?;
    Ok((aws_config, credentials))
}
