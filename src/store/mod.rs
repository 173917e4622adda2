//! Every SQL statement of Sluice, over one `PgStore` (a `sqlx::PgPool`). Values are always
//! bound parameters. Also the managed local PostgreSQL used by `serve` and the tests.

pub mod audit;
pub mod data_keys;
pub mod fifo;
pub mod iam;
pub mod integrations;
pub mod limits;
pub mod local_pg;
pub mod messages;
pub mod moves;
pub mod policies;
pub mod queues;
pub mod roles;
pub mod tags;
pub mod tenancy;
pub mod wake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use messages::{NewMessage, ReceivedRow};
pub use queues::{JsonAttributes, QueueRow, QueueSettings};
pub use tenancy::{AccessKeyRow, AccountRow};

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A row referred to (a queue, when inserting its messages) was deleted meanwhile.
    #[error("{0} no longer exists")]
    Gone(&'static str),
}

impl StoreError {
    /// A foreign-key violation on insert means the queue went away in the meantime.
    fn from_insert(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23503") => Self::Gone("queue"),
            _ => Self::Database(e),
        }
    }
}

/// The concrete store over PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Statements issued through this store (tests count them, e.g. during a long poll).
    statements: Arc<AtomicU64>,
    /// Bumped whenever accounts, keys or policies change (here or, through a notification,
    /// on another instance): cached credentials and policies from an older epoch are stale.
    cache_epoch: Arc<AtomicU64>,
    /// Statements issued here that add or remove messages (so the usage sweep knows whether
    /// this instance changed anything since it last measured).
    message_writes: Arc<AtomicU64>,
}

/// The notification channel of account, key and policy changes.
pub const CACHES_CHANNEL: &str = "sluice_caches";

impl PgStore {
    /// Connects a pool (bounded acquire time, so no request waits forever for a connection).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url.parse()?, max_connections).await
    }

    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        // Generic plans only: a plan made for one queue's id trusts that value's statistics,
        // and a queue that filled since the last ANALYZE looks empty, so a custom plan can
        // test `id = ANY(...)` against every message of it (30 ms a delete at 40,000
        // messages). A generic plan estimates any queue at the average size and looks rows up
        // by primary key (docs/performance.md).
        let options = options.options([("plan_cache_mode", "force_generic_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self::over(pool))
    }

    /// A pool that connects on first use (unit tests of logic that holds a store but does
    /// not touch the database).
    #[cfg(test)]
    pub fn connect_lazy_for_tests() -> Self {
        let pool = PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new().host("/nonexistent"));
        Self::over(pool)
    }

    /// Applies the embedded, forward-only migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // During a rolling upgrade a newer instance may have applied migrations this one
        // does not know: they are additive by rule (docs/upgrades.md), so an older instance
        // starts and serves beside them rather than refusing.
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Whether the server is still replaying WAL (a recovery in progress).
    pub async fn in_recovery(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(self.db()).await?)
    }

    /// Seconds since the oldest transaction still open on this database began (0 when none):
    /// while it stays open, vacuum cannot remove rows deleted after it began.
    pub async fn oldest_transaction_age(&self) -> Result<f64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(xact_start)), 0)::float8 FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)",
        )
        .fetch_one(self.db())
        .await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.db()).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn over(pool: PgPool) -> Self {
        let counter = || Arc::new(AtomicU64::new(0));
        Self { pool, statements: counter(), cache_epoch: counter(), message_writes: counter() }
    }

    /// The pool, for one statement: every statement goes through here and is counted.
    fn db(&self) -> &PgPool {
        self.statements.fetch_add(1, Ordering::Relaxed);
        &self.pool
    }

    /// The pool, for one statement that adds or removes messages (counted as such too).
    fn db_for_messages(&self) -> &PgPool {
        self.message_writes.fetch_add(1, Ordering::Relaxed);
        self.db()
    }

    /// How many statements that add or remove messages this store has issued.
    pub fn message_writes(&self) -> u64 {
        self.message_writes.load(Ordering::Relaxed)
    }

    /// The current cache epoch (see `cache_epoch`).
    pub fn cache_epoch(&self) -> u64 {
        self.cache_epoch.load(Ordering::Acquire)
    }

    /// Makes every cached credential and policy of this instance stale.
    pub fn bump_cache_epoch(&self) {
        self.cache_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Accounts, keys or policies changed: stale here at once, and on other instances through
    /// a notification (their TTL is the backstop when one is lost).
    pub async fn caches_changed(&self) {
        self.bump_cache_epoch();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(CACHES_CHANNEL).execute(self.db()).await {
            tracing::warn!(error = %e, "could not notify other instances of a change");
        }
    }

    /// Listens for other instances' changes and bumps the epoch (runs forever); after a
    /// reconnection it bumps too, since a notification may have been missed.
    pub async fn run_cache_listener(self) {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(self.pool()).await {
                Ok(mut l) => match l.listen(CACHES_CHANNEL).await {
                    Ok(()) => l,
                    Err(_) => continue,
                },
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.bump_cache_epoch();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) | Ok(None) => self.bump_cache_epoch(),
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }

    /// How many statements this store has issued.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Creates a database if it does not exist (used by tests against a shared cluster).
    pub async fn create_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            // Identifiers cannot be bound; the name is checked to be a plain identifier.
            if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(StoreError::Conflict("invalid database name"));
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        }
        Ok(())
    }
}
