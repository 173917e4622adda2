//! A private PostgreSQL cluster managed by Sluice, for the zero-configuration start and for
//! tests. It uses the installed server binaries, listens on a Unix socket only, and runs as
//! an unprivileged user when Sluice runs as root (initdb and postgres refuse root).
//!
//! `serve` keeps `fsync`, `synchronous_commit` and `full_page_writes` on; only throwaway
//! test clusters may turn them off (`durable: false`).

use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The port number only names the socket file; there is no TCP listener.
const PORT: u16 = 5432;
/// Unix socket paths are limited to about 107 bytes; keep well below.
const MAX_SOCKET_DIR: usize = 80;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb under /usr/lib/postgresql/*/bin and `pg_config --bindir`); install the postgresql package or set a database URL"
    )]
    NoBinaries,
    #[error("running as root and no unprivileged user to run PostgreSQL as (tried `postgres`, `nobody`)")]
    NoUser,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{step} failed; see {log}")]
    Failed { step: &'static str, log: String },
    #[error("PostgreSQL did not become ready within {0:?}; see {1}")]
    NotReady(Duration, String),
    #[error("PostgreSQL exited while starting; see {0}")]
    Exited(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalPgError {
    let what = what.into();
    move |source| LocalPgError::Io { what, source }
}

/// How to run a local cluster.
#[derive(Debug, Clone)]
pub struct LocalPgOptions {
    /// Directory of the cluster (data, socket, log). Created when missing.
    pub cluster_dir: PathBuf,
    /// Keep fsync, synchronous_commit and full_page_writes on.
    pub durable: bool,
    /// Server binaries; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    pub max_connections: u32,
    /// Ask the kernel to stop the server when the thread that started it exits (tests).
    pub die_with_parent: bool,
    /// Archive every finished WAL segment here (point-in-time recovery with a base backup).
    pub wal_archive_dir: Option<PathBuf>,
}

/// A running cluster. Stop it with `stop`; a crashed owner leaves it running, and the next
/// `start` on the same directory adopts it.
#[derive(Debug)]
pub struct LocalPg {
    child: Option<Child>,
    pid: i32,
    url: String,
    cluster_dir: PathBuf,
    adopted: bool,
}

/// The unprivileged account that runs PostgreSQL when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run_as() -> Result<Option<RunAs>, LocalPgError> {
    if !is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io("reading /etc/passwd"))?;
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4
                && f[0] == wanted
                && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
            {
                return Ok(Some(RunAs { uid, gid }));
            }
        }
    }
    Err(LocalPgError::NoUser)
}

/// Finds the directory holding `initdb` and `postgres`: the highest installed major
/// version under /usr/lib/postgresql, else `pg_config --bindir`.
pub fn find_bin_dir() -> Result<PathBuf, LocalPgError> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().map_err(|_| LocalPgError::NoBinaries)?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if bin.join("initdb").exists() { Ok(bin) } else { Err(LocalPgError::NoBinaries) }
}

/// Where `serve` keeps the cluster for a data directory: inside it normally; as root, under
/// /var/lib/sluice (the data directory may sit under a 0700 home the server user cannot
/// reach), named by a hash of the data directory's absolute path.
pub fn default_cluster_dir(data_dir: &Path) -> PathBuf {
    if is_root() {
        let abs = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let hash = hex::encode(Sha256::digest(abs.as_os_str().as_encoded_bytes()));
        PathBuf::from("/var/lib/sluice").join(format!("pg-{}", &hash[..16]))
    } else {
        data_dir.join("pg")
    }
}

fn socket_dir(cluster_dir: &Path) -> PathBuf {
    let inside = cluster_dir.join("sock");
    if inside.as_os_str().len() <= MAX_SOCKET_DIR {
        return inside;
    }
    let hash = hex::encode(Sha256::digest(cluster_dir.as_os_str().as_encoded_bytes()));
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/sluice-{uid}-{}", &hash[..12]))
}

/// Makes a directory owned by the server user, with `mode`.
fn make_dir(path: &Path, mode: u32, owner: Option<RunAs>) -> Result<(), LocalPgError> {
    std::fs::create_dir_all(path).map_err(io(format!("creating {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))?;
    if let Some(o) = owner {
        chown(path, Some(o.uid), Some(o.gid)).map_err(io(format!("chown {}", path.display())))?;
    }
    Ok(())
}

fn command(bin: &Path, owner: Option<RunAs>, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd).env_remove("PGDATA").env("LC_ALL", "C.UTF-8");
    if let Some(o) = owner {
        // std drops supplementary groups when root changes uid.
        cmd.uid(o.uid).gid(o.gid);
    }
    cmd
}

/// Whether `pid` is a live process (a zombie, which nobody has reaped yet, is not).
fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn is_postgres(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).next().is_some_and(|a| a.ends_with(b"postgres")))
        .unwrap_or(false)
}

impl LocalPg {
    /// Creates the cluster the first time, then starts it (or adopts one left running).
    pub async fn start(opts: &LocalPgOptions) -> Result<Self, LocalPgError> {
        let owner = run_as()?;
        let bin = match &opts.bin_dir {
            Some(b) => b.clone(),
            None => find_bin_dir()?,
        };
        let cluster = &opts.cluster_dir;
        if let Some(parent) = cluster.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        make_dir(cluster, 0o700, owner)?;
        let pgdata = cluster.join("data");
        let sock = socket_dir(cluster);
        make_dir(&sock, 0o700, owner)?;
        let log_path = cluster.join("postgres.log");
        let url = format!("postgres://postgres@localhost/postgres?host={}&port={PORT}", sock.display());

        if !pgdata.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(&pgdata);
            let log = std::fs::File::create(cluster.join("initdb.log")).map_err(io("creating initdb.log"))?;
            let mut cmd = command(&bin.join("initdb"), owner, cluster);
            cmd.arg("-D")
                .arg(&pgdata)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(io("initdb.log"))?)
                .stderr(log);
            if !opts.durable {
                cmd.arg("--no-sync");
            }
            let status = cmd.status().map_err(io("running initdb"))?;
            if !status.success() {
                return Err(LocalPgError::Failed {
                    step: "initdb",
                    log: cluster.join("initdb.log").display().to_string(),
                });
            }
        }

        // A server left running by a crashed owner: adopt it.
        if let Some(pid) = read_postmaster_pid(&pgdata)
            && process_alive(pid)
            && is_postgres(pid)
        {
            tracing::info!(
                pid,
                "connecting to the PostgreSQL already running for this data directory (a running sluice serve's, or one left by a start that ended without stopping it)"
            );
            let pg = Self { child: None, pid, url: url.clone(), cluster_dir: cluster.clone(), adopted: true };
            match pg.wait_ready(&log_path).await {
                Ok(()) => return Ok(pg),
                // It was on its way out (killed moments ago): start a fresh one below.
                Err(LocalPgError::Exited(_)) => wait_gone(pid).await,
                Err(e) => return Err(e),
            }
        }

        // Lock files of a server that is gone (killed, or a zombie nobody reaped) would make
        // postgres refuse to start; they are ours to remove.
        let socket_lock = sock.join(format!(".s.PGSQL.{PORT}.lock"));
        for lock in [pgdata.join("postmaster.pid"), socket_lock] {
            if read_pid(&lock).is_some_and(|pid| !process_alive(pid)) {
                tracing::info!(file = %lock.display(), "removing the stale lock file of a PostgreSQL server that is gone");
                let _ = std::fs::remove_file(&lock);
            }
        }

        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        if let Some(o) = owner {
            let _ = chown(&log_path, Some(o.uid), Some(o.gid));
        }
        let (fsync, full_page_writes) = if opts.durable { ("on", "on") } else { ("off", "off") };
        let mut cmd = command(&bin.join("postgres"), owner, cluster);
        if let Some(archive) = &opts.wal_archive_dir {
            make_dir(archive, 0o700, owner)?;
            let dir = archive.display().to_string().replace('\'', "");
            cmd.args(["-c", "archive_mode=on"])
                .args(["-c", &format!("archive_command=test ! -f '{dir}/%f' && cp %p '{dir}/%f'")])
                .args(["-c", "archive_timeout=60"]);
        }
        cmd.arg("-D")
            .arg(&pgdata)
            .arg("-k")
            .arg(&sock)
            .args(["-p", &PORT.to_string()])
            .args(["-c", "listen_addresses="])
            .args(["-c", &format!("fsync={fsync}")])
            .args(["-c", &format!("synchronous_commit={fsync}")])
            .args(["-c", &format!("full_page_writes={full_page_writes}")])
            .args(["-c", &format!("max_connections={}", opts.max_connections)])
            .args(["-c", "unix_socket_permissions=0700"])
            // Queue tables churn: look for tables to vacuum every 10 s, not every minute.
            .args(["-c", "autovacuum_naptime=10s"])
            // PostgreSQL's defaults (128 MB of buffers, a checkpoint every 1 GB of WAL) make
            // backends write out pages themselves and checkpoints crowd every commit under a
            // queue's write rate: an eighth of the memory (128 MB to 2 GB) and 4 GB of WAL.
            .args(["-c", &format!("shared_buffers={}MB", shared_buffers_mb())])
            .args(["-c", "max_wal_size=4GB"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io("postgres.log"))?)
            .stderr(log);
        if opts.die_with_parent {
            // SAFETY: prctl is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(io("starting postgres"))?;
        let pid = child.id() as i32;
        let mut pg = Self { child: Some(child), pid, url, cluster_dir: cluster.clone(), adopted: false };
        let ready = pg.wait_ready(&log_path).await;
        if let Err(e) = ready {
            pg.kill_now();
            return Err(e);
        }
        Ok(pg)
    }

    async fn wait_ready(&self, log_path: &Path) -> Result<(), LocalPgError> {
        use sqlx::Connection;
        let start = Instant::now();
        loop {
            if let Ok(conn) = sqlx::PgConnection::connect(&self.url).await {
                let _ = conn.close().await;
                return Ok(());
            }
            if !process_alive(self.pid) {
                return Err(LocalPgError::Exited(log_path.display().to_string()));
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(LocalPgError::NotReady(READY_TIMEOUT, log_path.display().to_string()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The connection URL (Unix socket).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this server was left running by an earlier owner and adopted.
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => !process_alive(self.pid),
        }
    }

    fn kill_now(&mut self) {
        // SAFETY: sending a signal to our own server process.
        unsafe { libc::kill(self.pid, libc::SIGQUIT) };
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        }
    }

    /// Fast shutdown (SIGINT), waiting for the server to exit; immediate shutdown after a timeout.
    pub async fn stop(mut self) {
        // SAFETY: sending a signal to our own server process.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let start = Instant::now();
        while !self.exited() {
            if start.elapsed() > STOP_TIMEOUT {
                tracing::warn!("PostgreSQL did not stop in time; sending SIGQUIT");
                self.kill_now();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Copies a directory tree (files and directories; symbolic links as links).
fn copy_tree(from: &Path, to: &Path, owner: Option<RunAs>) -> Result<(), LocalPgError> {
    make_dir(to, 0o700, owner)?;
    for entry in std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))? {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(src.display().to_string()))?;
        if kind.is_dir() {
            copy_tree(&src, &dst, owner)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(src.display().to_string()))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(dst.display().to_string()))?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(format!("copying {}", src.display())))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))
                .map_err(io(dst.display().to_string()))?;
            if let Some(o) = owner {
                chown(&dst, Some(o.uid), Some(o.gid)).map_err(io(format!("chown {}", dst.display())))?;
            }
        }
    }
    Ok(())
}

/// Prepares a stopped cluster for point-in-time recovery: its data becomes a copy of the
/// base backup `base`, and the next start replays the WAL archive up to `target` (a
/// PostgreSQL timestamp) and then opens for writing.
pub fn prepare_point_in_time_recovery(
    cluster: &Path,
    base: &Path,
    archive: &Path,
    target: &str,
) -> Result<(), LocalPgError> {
    let owner = run_as()?;
    let pgdata = cluster.join("data");
    if read_postmaster_pid(&pgdata).is_some_and(process_alive) {
        return Err(LocalPgError::Failed { step: "point-in-time recovery: stop the server first", log: String::new() });
    }
    if !base.join("PG_VERSION").exists() {
        return Err(LocalPgError::Failed {
            step: "point-in-time recovery: not a base backup",
            log: base.display().to_string(),
        });
    }
    make_dir(cluster, 0o700, owner)?;
    let _ = std::fs::remove_dir_all(&pgdata);
    copy_tree(base, &pgdata, owner)?;
    let _ = std::fs::remove_file(pgdata.join("postmaster.pid"));
    let quote = |s: &str| s.replace('\'', "");
    let settings = format!(
        "\nrestore_command = 'cp \"{}/%f\" \"%p\"'\nrecovery_target_time = '{}'\nrecovery_target_action = 'promote'\n",
        quote(&archive.display().to_string()),
        quote(target)
    );
    let auto = pgdata.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
    text.push_str(&settings);
    std::fs::write(&auto, text).map_err(io(auto.display().to_string()))?;
    let signal = pgdata.join("recovery.signal");
    std::fs::write(&signal, "").map_err(io(signal.display().to_string()))?;
    if let Some(o) = owner {
        for f in [&auto, &signal] {
            chown(f, Some(o.uid), Some(o.gid)).map_err(io(format!("chown {}", f.display())))?;
        }
    }
    Ok(())
}

/// Waits (bounded) until a process is gone.
async fn wait_gone(pid: i32) {
    let start = Instant::now();
    while process_alive(pid) && start.elapsed() < STOP_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_pid(lock_file: &Path) -> Option<i32> {
    std::fs::read_to_string(lock_file).ok()?.lines().next()?.trim().parse().ok()
}

fn read_postmaster_pid(pgdata: &Path) -> Option<i32> {
    read_pid(&pgdata.join("postmaster.pid"))
}

/// An eighth of this machine's memory for PostgreSQL's buffers, between 128 MB and 2 GB.
fn shared_buffers_mb() -> u64 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    (total_kb / 1024 / 8).clamp(128, 2048)
}
