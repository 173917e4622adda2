//! The database: the managed local cluster (started, adopted, stopped) or a configured
//! one, with the migrations applied; dumps, base backups, restores and point-in-time recovery.

use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;
use crate::config::Config;
use crate::store::PgStore;
use crate::store::local_pg::{LocalPg, LocalPgOptions, default_cluster_dir};

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
                let pg = LocalPg::start(&service_cluster(config, default_cluster_dir(&config.data_dir))).await?;
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
    let pg = LocalPg::start(&service_cluster(config, cluster)).await?;
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

/// The managed cluster as the service runs it: durable, outliving no parent, archiving WAL
/// where configured.
fn service_cluster(config: &Config, cluster_dir: std::path::PathBuf) -> LocalPgOptions {
    LocalPgOptions {
        cluster_dir,
        durable: true,
        bin_dir: config.pg_bin_dir.clone(),
        max_connections: 100,
        die_with_parent: false,
        wal_archive_dir: config.wal_archive_dir.clone(),
    }
}
