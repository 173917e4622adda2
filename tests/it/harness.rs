//! Test harness: a shared throwaway PostgreSQL cluster per test process, a server per test,
//! SDK clients trusting the dev CA, and a raw SigV4-signed HTTP client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use secrecy::ExposeSecret;
use sluice::clock::OffsetClock;
use sluice::store::local_pg::{LocalPg, LocalPgOptions};
use sluice::tenancy::NewAccount;
use sluice::{BuildOptions, Config};

static DATABASE: OnceLock<String> = OnceLock::new();

/// Removes test clusters left by earlier test processes that are gone.
fn clean_stale_clusters() {
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("sluice-test-").and_then(|p| p.split('-').next()?.parse::<i32>().ok()) {
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The master key file every test server of this process shares (one deployment, one
/// key), made before any server starts.
pub fn master_key_file() -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-test-{}-keys", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        sluice::crypto::MasterKey::load_or_create(&path).expect("test master key");
        sluice::crypto::keyring::Keyring::open_or_create(&path.with_file_name("keyring")).expect("test keyring");
        path
    })
    .clone()
}

/// The URL of the test database: a fresh database on `SLUICE_TEST_DATABASE_URL`'s server,
/// or on a private cluster started once for this test process (it dies with the process),
/// with migrations applied.
pub fn database_url() -> String {
    DATABASE
        .get_or_init(|| {
            sluice::install_crypto_provider();
            if let Ok(admin) = std::env::var("SLUICE_TEST_DATABASE_URL") {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                return rt.block_on(async {
                    let name = format!("sluice_test_{}", std::process::id());
                    sluice::store::PgStore::create_database(&admin, &name).await.expect("create the test database");
                    let opts: sqlx::postgres::PgConnectOptions = admin.parse().expect("SLUICE_TEST_DATABASE_URL");
                    let opts = opts.database(&name);
                    let store = sluice::store::PgStore::connect_with(opts.clone(), 2).await.expect("connect");
                    store.migrate().await.expect("migrate");
                    store.close().await;
                    sqlx::ConnectOptions::to_url_lossy(&opts).to_string()
                });
            }
            clean_stale_clusters();
            let (tx, rx) = std::sync::mpsc::channel();
            // The cluster is started from a thread that lives as long as the process, so the
            // kernel's parent-death signal stops it exactly when the test process ends.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let url = rt.block_on(async {
                    let dir = PathBuf::from(format!("/tmp/sluice-test-{}", std::process::id()));
                    let pg = LocalPg::start(&LocalPgOptions {
                        cluster_dir: dir,
                        durable: false,
                        bin_dir: None,
                        max_connections: 400,
                        die_with_parent: true,
                        wal_archive_dir: None,
                    })
                    .await
                    .expect("start the test PostgreSQL cluster");
                    sluice::store::PgStore::create_database(pg.url(), "sluice_test").await.expect("create database");
                    let url = pg.url().replace("/postgres?", "/sluice_test?");
                    let store = sluice::store::PgStore::connect(&url, 2).await.expect("connect");
                    store.migrate().await.expect("migrate");
                    store.close().await;
                    std::mem::forget(pg);
                    url
                });
                tx.send(url).unwrap();
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("test cluster thread")
        })
        .clone()
}

/// A running server for one test.
pub struct TestServer {
    pub url: String,
    /// The metrics and health listener (`http://127.0.0.1:PORT`).
    pub metrics_url: String,
    pub port: u16,
    pub ca_pem: Vec<u8>,
    pub clock: Arc<OffsetClock>,
    pub tenancy: sluice::tenancy::Tenancy,
    pub queues: Arc<sluice::queue::QueueService>,
    pub keys: Arc<sluice::keys::DataKeys>,
    pub moves: Arc<sluice::queue::moves::Mover>,
    pub store: sluice::store::PgStore,
    pub data_dir: tempfile::TempDir,
    _tasks: Vec<sluice::boot::AbortOnDrop>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent at once; nothing needs to await it.
        drop(self.handle.stop(false));
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(adjust, OffsetClock::new()).await
    }

    /// Starts with a clock the test prepared (e.g. moved forward before anything runs).
    pub async fn start_with_clock(adjust: impl FnOnce(&mut Config), clock: Arc<OffsetClock>) -> Self {
        Self::start_with_options(adjust, clock, None).await
    }

    /// Starts with a key provider the test controls (to make it fail).
    pub async fn start_with_provider(provider: Arc<dyn sluice::crypto::provider::KeyProvider>) -> Self {
        Self::start_with_options(|_| {}, OffsetClock::new(), Some(provider)).await
    }

    async fn start_with_options(
        adjust: impl FnOnce(&mut Config),
        clock: Arc<OffsetClock>,
        key_provider: Option<Arc<dyn sluice::crypto::provider::KeyProvider>>,
    ) -> Self {
        sluice::install_crypto_provider();
        if std::env::var_os("SLUICE_TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("info,sqlx=warn").try_init();
        }
        let db = tokio::task::spawn_blocking(database_url).await.unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let key = tokio::task::spawn_blocking(master_key_file).await.unwrap();
        let mut config = Config {
            keyring_file: Some(key.with_file_name("keyring")),
            master_key_file: Some(key),
            data_dir: data_dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: "127.0.0.1:0".parse().unwrap(),
            database_url: Some(db.into()),
            database_max_connections: 8,
            bootstrap: Some(false),
            workers: 2,
            // Servers of one test process share the database but not their (movable) clocks:
            // a background sweep with a clock moved far ahead would expire other tests'
            // messages. Tests sweep explicitly (the first background sweep comes a minute
            // after the start).
            sweep_interval_seconds: 3600,
            ..Config::default()
        };
        adjust(&mut config);
        let running =
            sluice::build(config, BuildOptions { clock: clock.clone(), key_provider }).await.expect("build the app");
        let handle = running.server.handle();
        let store = running.database.store.clone();
        let queues = running.queues.clone();
        let (keys, moves) = (running.keys.clone(), running.moves.clone());
        let tenancy = running.tenancy.clone();
        let sweeper = running.sweeper;
        tokio::spawn(running.server);
        let ca_pem = std::fs::read(running.data_dir.join("ca.pem")).unwrap();
        TestServer {
            url: running.public_url.clone(),
            metrics_url: format!("http://{}", running.metrics_addr),
            port: running.addr.port(),
            ca_pem,
            clock,
            tenancy,
            queues,
            keys,
            moves,
            store,
            data_dir,
            _tasks: sweeper,
            handle,
        }
    }

    /// A server alone on a database of its own (see `own_database`).
    pub async fn start_alone() -> Self {
        let url = own_database().await;
        Self::start_with(move |c| c.database_url = Some(url.into())).await
    }

    /// A new account with its root key.
    pub async fn account(&self) -> NewAccount {
        let name = format!("t-{}", uuid::Uuid::new_v4().simple());
        self.tenancy.create_account(&name, None).await.expect("create account")
    }

    pub fn sqs(&self, account: &NewAccount) -> aws_sdk_sqs::Client {
        self.sqs_with(&account.access_key_id, account.secret_access_key.expose_secret())
    }

    pub fn sqs_with(&self, key: &str, secret: &str) -> aws_sdk_sqs::Client {
        sqs_client(&self.url, &self.ca_pem, key, secret)
    }

    pub fn raw(&self, account: &NewAccount) -> RawClient {
        RawClient {
            url: self.url.clone(),
            http: http_client(&self.ca_pem),
            key: account.access_key_id.clone(),
            secret: account.secret_access_key.expose_secret().to_owned(),
        }
    }

    pub fn queue_url(&self, account: &NewAccount, name: &str) -> String {
        format!("{}/{}/{}", self.url, account.id, name)
    }

    /// Returns once this server holds `n` open long polls: what a test waits for before it
    /// does what should wake or refuse them.
    pub async fn until_long_polls_open(&self, n: usize) {
        eventually(&format!("{n} long polls open"), || async { self.queues.open_long_polls() == n }).await;
    }

    /// Returns once `n` long polls of this server have looked, found nothing and sleep.
    pub async fn until_long_polls_asleep(&self, n: usize) {
        eventually(&format!("{n} long polls asleep"), || async { self.queues.sleeping_long_polls() == n }).await;
    }
}

/// A fresh database of its own on the test cluster (the service migrates it when it starts):
/// for a test that changes the schema, or whose background work must not meet other tests'
/// servers. Move tasks are one: any instance on a database may take a task over, and the
/// servers of other tests run with clocks of their own.
pub async fn own_database() -> String {
    let shared = tokio::task::spawn_blocking(database_url).await.unwrap();
    let name = format!("sluice_own_{}", uuid::Uuid::new_v4().simple());
    sluice::store::PgStore::create_database(&shared, &name).await.unwrap();
    let opts: sqlx::postgres::PgConnectOptions = shared.parse().unwrap();
    sqlx::ConnectOptions::to_url_lossy(&opts.database(&name)).to_string()
}

/// How long `eventually` keeps looking: a guard against a hang, not a measurement.
/// The region test servers serve (the default setting) and their clients sign for.
pub const REGION: &str = "local";

const PATIENCE: Duration = Duration::from_secs(30);

/// Returns once `check` holds, looking again every 20 ms; fails the test with `what` if it
/// never does. Tests wait on what they can observe with it instead of sleeping.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(PATIENCE, what, check).await;
}

/// As `eventually`, giving up after `patience`: for a change that must show before
/// something else would make it show anyway (a cache entry's end).
pub async fn eventually_within<F, Fut>(patience: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + patience;
    while !check().await {
        assert!(tokio::time::Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The moment a long poll's own wait ends, taken before the poll is sent.
#[derive(Debug, Clone, Copy)]
pub struct WaitEnd(tokio::time::Instant);

impl WaitEnd {
    pub fn after_seconds(wait_seconds: u64) -> Self {
        Self(tokio::time::Instant::now() + Duration::from_secs(wait_seconds))
    }

    /// The answer of the poll, which must come before its wait ends: "woken", as opposed to
    /// "ended by its deadline", with nothing else timed.
    pub async fn answered_before<T>(self, what: &str, answer: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout_at(self.0, answer).await.unwrap_or_else(|_| panic!("{what}: it waited out its whole wait"))
    }
}

/// An SDK client for `url`, trusting only `ca_pem`.
pub fn sqs_client(url: &str, ca_pem: &[u8], key: &str, secret: &str) -> aws_sdk_sqs::Client {
    sqs_session_client(url, ca_pem, key, secret, None)
}

/// An SDK client with temporary credentials (a session token) when `token` is given.
pub fn sqs_session_client(
    url: &str,
    ca_pem: &[u8],
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sqs::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(
            TlsContext::builder().with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem)).build().unwrap(),
        )
        .build_https();
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, token.map(str::to_owned), None, "test"))
        .endpoint_url(url)
        .http_client(http)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

pub fn http_client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap()).build().unwrap()
}

/// A raw HTTP client that signs with SigV4 (aws-sigv4), so tests control every byte.
#[derive(Clone)]
pub struct RawClient {
    pub url: String,
    pub http: reqwest::Client,
    pub key: String,
    pub secret: String,
}

/// A raw response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl RawClient {
    /// Signs `headers` + `body` for `POST path` at `time`, with `secret`.
    pub fn sign(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
        secret: &str,
        service: &str,
    ) -> Vec<(String, String)> {
        self.sign_for(REGION, path, headers, body, time, secret, service)
    }

    /// As `sign`, scoped to `region`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_for(
        &self,
        region: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
        secret: &str,
        service: &str,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = aws_credential_types::Credentials::new(&self.key, secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let host = self.url.trim_start_matches("https://").to_owned();
        let mut all: Vec<(String, String)> = vec![("host".into(), host)];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let uri = format!("{}{}", self.url, path);
        let signable = SignableRequest::new(
            "POST",
            &uri,
            all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder().method("POST").uri(&uri);
        for (k, v) in &all {
            req = req.header(k, v);
        }
        let mut req = req.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect()
    }

    /// A presigned request (signature in the query string) for `method /?query`, as
    /// aws-sigv4 makes it: only `host` is signed. Returns the URL.
    pub fn presign(&self, method: &str, query: &str, expires: Duration, secret: &str, time: SystemTime) -> String {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = aws_credential_types::Credentials::new(&self.key, secret, None, None, "t").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params =
            v4::SigningParams::builder().identity(&identity).region(REGION).name("sqs").time(time).settings(settings);
        let params = params.build().unwrap().into();
        let uri = format!("{}/?{query}", self.url);
        let host = self.url.trim_start_matches("https://").to_owned();
        let signable =
            SignableRequest::new(method, &uri, [("host", host.as_str())].into_iter(), SignableBody::Bytes(b""))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder().method(method).uri(&uri).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req.uri().to_string()
    }

    /// Sends prepared headers and body.
    pub async fn send_raw(&self, path: &str, headers: &[(String, String)], body: Vec<u8>) -> RawResponse {
        let mut req = self.http.post(format!("{}{}", self.url, path)).body(body);
        for (k, v) in headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        RawResponse { status, headers, body }
    }

    /// A correctly signed query-protocol call: `params` form-encoded after `Action` and
    /// `Version`.
    pub async fn query(&self, action: &str, params: &[(String, String)]) -> RawResponse {
        self.query_in(REGION, action, params).await
    }

    /// As `query`, signed for `region`.
    pub async fn query_in(&self, region: &str, action: &str, params: &[(String, String)]) -> RawResponse {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let mut body = format!("Action={action}&Version=2012-11-05");
        for (k, v) in params {
            body.push_str(&format!(
                "&{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            ));
        }
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let signed = self.sign_for(region, "/", &headers, body.as_bytes(), SystemTime::now(), &self.secret, "sqs");
        self.send_raw("/", &signed, body.into_bytes()).await
    }

    /// A correctly signed JSON call.
    pub async fn call(&self, action: &str, body: &str) -> RawResponse {
        self.call_in(REGION, action, body).await
    }

    /// As `call`, signed for `region`.
    pub async fn call_in(&self, region: &str, action: &str, body: &str) -> RawResponse {
        let target = format!("AmazonSQS.{action}");
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
        let signed = self.sign_for(region, "/", &headers, body.as_bytes(), SystemTime::now(), &self.secret, "sqs");
        self.send_raw("/", &signed, body.as_bytes().to_vec()).await
    }
}

/// The service error code of an SDK error (the legacy query code when the server sent one).
pub fn error_code<E, R>(err: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<none>").to_owned(),
        None => format!("<not a service error: {err:?}>"),
    }
}

/// The path of the built `sluice` binary.
pub fn sluice_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// A `sluice serve` process started from the built binary, in its own process group.
pub struct Served {
    pub child: std::process::Child,
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
    pub credentials_file: PathBuf,
    /// The `AWS_CA_BUNDLE` it printed (the dev CA), if it printed one.
    pub ca_bundle: Option<PathBuf>,
    pub log_file: PathBuf,
}

impl Served {
    /// Starts `sluice serve` in `cwd` (with `--data-dir` if given) and waits for the lines
    /// it prints when ready.
    pub fn start(cwd: &Path, data_dir: Option<&Path>, log_file: &Path) -> Served {
        Self::start_with_env(cwd, data_dir, log_file, &[])
    }

    /// As `start`, with these environment variables set for the server.
    pub fn start_with_env(cwd: &Path, data_dir: Option<&Path>, log_file: &Path, env: &[(&str, String)]) -> Served {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(sluice_bin());
        cmd.current_dir(cwd).arg("serve");
        if let Some(d) = data_dir {
            cmd.arg("--data-dir").arg(d);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("SLUICE_") || k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_file).unwrap();
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.env("SLUICE_LISTEN", "127.0.0.1:0")
            .env("SLUICE_METRICS_LISTEN", "127.0.0.1:0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn sluice serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut config_file, mut credentials_file, mut ca_bundle) = (None, None, None);
        while config_file.is_none() || credentials_file.is_none() {
            let line = rx.recv_timeout(Duration::from_secs(180)).unwrap_or_else(|_| {
                panic!(
                    "sluice serve did not get ready; log:\n{}",
                    std::fs::read_to_string(log_file).unwrap_or_default()
                )
            });
            if let Some(p) = line.strip_prefix("export AWS_CA_BUNDLE=") {
                ca_bundle = Some(PathBuf::from(p));
            } else if let Some(p) = line.strip_prefix("export AWS_CONFIG_FILE=") {
                config_file = Some(PathBuf::from(p));
            } else if let Some(p) = line.strip_prefix("export AWS_SHARED_CREDENTIALS_FILE=") {
                credentials_file = Some(PathBuf::from(p));
            }
        }
        let config_file = config_file.unwrap();
        let data_dir = config_file.parent().unwrap().to_path_buf();
        Served {
            child,
            data_dir,
            config_file,
            credentials_file: credentials_file.unwrap(),
            ca_bundle,
            log_file: log_file.to_path_buf(),
        }
    }

    fn ini_value(path: &Path, key: &str) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("{key} missing in {}", path.display()))
    }

    pub fn endpoint(&self) -> String {
        Self::ini_value(&self.config_file, "endpoint_url")
    }

    pub fn key(&self) -> (String, String) {
        (
            Self::ini_value(&self.credentials_file, "aws_access_key_id"),
            Self::ini_value(&self.credentials_file, "aws_secret_access_key"),
        )
    }

    /// The metrics listener of this run, as its log announced it.
    pub fn metrics_url(&self) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        log.rsplit("metrics and health on ")
            .next()
            .and_then(|rest| rest.split("/metrics").next())
            .filter(|url| url.starts_with("http://"))
            .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
            .to_owned()
    }

    /// A gauge or counter of this run's metrics page (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let page = reqwest::get(format!("{}/metrics", self.metrics_url())).await.unwrap().text().await.unwrap();
        page.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let ca = std::fs::read(self.data_dir.join("ca.pem")).unwrap();
        let (k, s) = self.key();
        sqs_client(&self.endpoint(), &ca, &k, &s)
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL to the whole process group: Sluice and its PostgreSQL. Returns when no live
    /// process of the group is left.
    pub fn kill_group(&mut self) {
        // SAFETY: signalling the process group this test created.
        unsafe { libc::killpg(self.pgid(), libc::SIGKILL) };
        let _ = self.child.wait();
        let start = std::time::Instant::now();
        while group_alive(self.pgid()) && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling the process this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        // Anything left in the group is an error; clean it up so nothing leaks.
        // SAFETY: as above.
        unsafe { libc::killpg(self.pgid(), libc::SIGKILL) };
        status
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Whatever happened in the test (a panic included), nothing it started stays running.
        // SAFETY: signalling the process group this test created; harmless once it is gone.
        unsafe { libc::killpg(self.pgid(), libc::SIGKILL) };
        let _ = self.child.try_wait();
    }
}

/// Removes the managed cluster of a data directory when dropped (at the end of a test,
/// even a failed one).
pub struct ClusterGuard(pub PathBuf);

/// A scratch home for a test's own `sluice serve`: `data` and `log` inside a temporary
/// directory; the managed cluster of `data` goes with it.
pub struct Scratch {
    pub data: PathBuf,
    pub log: PathBuf,
    _cluster: ClusterGuard,
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        sluice::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Scratch { log: dir.path().join("sluice.log"), _cluster: ClusterGuard(data.clone()), data, dir }
    }

    /// `sluice serve` in this home.
    pub fn serve(&self) -> Served {
        self.serve_with_env(&[])
    }

    pub fn serve_with_env(&self, env: &[(&str, String)]) -> Served {
        Served::start_with_env(self.dir.path(), Some(&self.data), &self.log, env)
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        remove_cluster(&self.0);
    }
}

/// Whether any live (non-zombie) process is in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { return false };
        let Some((_, rest)) = stat.rsplit_once(')') else { return false };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields after the command: state, ppid, pgrp, ...
        fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(pgid)
    })
}

/// Removes the managed cluster that `serve` made for `data_dir` (it may live outside it).
pub fn remove_cluster(data_dir: &Path) {
    let dir = sluice::store::local_pg::default_cluster_dir(data_dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes `request` (a raw HTTP/1.1 head and whatever part of a body the test chooses) over
/// TLS to 127.0.0.1:`port` and reads what comes back until the server closes or `wait`
/// passes, without sending anything more: this tells whether the server answers before it
/// has the body a request announced.
pub fn raw_tls_exchange(port: u16, ca_pem: &[u8], request: &[u8], wait: Duration) -> String {
    use rustls_pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from_pem_slice(ca_pem).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request).unwrap();
    tls.flush().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                    });
                    if length.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Runs the `sluice` command line against the database and keys of the test servers (as an
/// operator would on a host of the deployment): its output, and whether it succeeded.
pub fn operator(args: &[&str]) -> (bool, String, String) {
    operator_with_env(args, &[])
}

/// As `operator`, with these variables set too.
pub fn operator_with_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let data = tempfile::tempdir().unwrap();
    let key = master_key_file();
    let mut cmd = std::process::Command::new(sluice_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .env("SLUICE_DATABASE_URL", database_url())
        .env("SLUICE_DATA_DIR", data.path())
        .env("SLUICE_MASTER_KEY_FILE", &key)
        .env("SLUICE_KEYRING_FILE", key.with_file_name("keyring"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
