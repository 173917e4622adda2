//! Every SQL statement of Sluice, over one `PgStore` (a `sqlx::PgPool`). Values are always
//! bound parameters. Also the managed local PostgreSQL used by `serve` and the tests.

pub mod iam;
pub mod local_pg;
pub mod messages;
pub mod moves;
pub mod queues;
pub mod tags;
pub mod tenancy;
pub mod wake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use messages::{NewMessage, ReceivedRow};
pub use queues::{QueueRow, QueueSettings, RedriveState};
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
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The concrete store over PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Statements issued through this store (tests count them, e.g. during a long poll).
    statements: Arc<AtomicU64>,
}

impl PgStore {
    /// Connects a pool (bounded acquire time, so no request waits forever for a connection).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url.parse()?, max_connections).await
    }

    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool, statements: Arc::new(AtomicU64::new(0)) })
    }

    /// Applies the embedded, forward-only migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool, for one statement: every statement goes through here and is counted.
    fn db(&self) -> &PgPool {
        self.statements.fetch_add(1, Ordering::Relaxed);
        &self.pool
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
