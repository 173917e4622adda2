//! Per-account limits and measured usage.

use chrono::{DateTime, Utc};

use super::{PgStore, StoreError};

/// An account's overrides (None: the configured default).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LimitOverrides {
    pub requests_per_second: Option<i32>,
    pub max_queues: Option<i64>,
    pub max_stored_messages: Option<i64>,
    pub max_stored_bytes: Option<i64>,
    pub max_long_polls: Option<i32>,
}

/// What an account stores and runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Usage {
    pub queues: i64,
    pub stored_messages: i64,
    pub stored_bytes: i64,
    pub measured_at: Option<DateTime<Utc>>,
}

impl PgStore {
    pub async fn limit_overrides(&self, account_id: &str) -> Result<LimitOverrides, StoreError> {
        Ok(sqlx::query_as(
            "SELECT requests_per_second, max_queues, max_stored_messages, max_stored_bytes, max_long_polls \
             FROM account_limits WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(self.db())
        .await?
        .unwrap_or_default())
    }

    /// Sets the given overrides (a None leaves that limit as it was).
    pub async fn set_limit_overrides(&self, account_id: &str, o: &LimitOverrides) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_limits (account_id, requests_per_second, max_queues, max_stored_messages, max_stored_bytes,
                                         max_long_polls)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account_id) DO UPDATE SET
                 requests_per_second = COALESCE(EXCLUDED.requests_per_second, account_limits.requests_per_second),
                 max_queues = COALESCE(EXCLUDED.max_queues, account_limits.max_queues),
                 max_stored_messages = COALESCE(EXCLUDED.max_stored_messages, account_limits.max_stored_messages),
                 max_stored_bytes = COALESCE(EXCLUDED.max_stored_bytes, account_limits.max_stored_bytes),
                 max_long_polls = COALESCE(EXCLUDED.max_long_polls, account_limits.max_long_polls)",
        )
        .bind(account_id)
        .bind(o.requests_per_second)
        .bind(o.max_queues)
        .bind(o.max_stored_messages)
        .bind(o.max_stored_bytes)
        .bind(o.max_long_polls)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Measures what every account stores (one pass over the messages) and records it.
    pub async fn measure_usage(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "INSERT INTO account_usage (account_id, stored_messages, stored_bytes, measured_at)
             SELECT a.id, COALESCE(u.n, 0), COALESCE(u.bytes, 0), $1
             FROM accounts a LEFT JOIN (
                 SELECT q.account_id, count(*) AS n,
                        sum(octet_length(m.body_sealed) + COALESCE(octet_length(m.attributes_sealed), 0)) AS bytes
                 FROM messages m JOIN queues q ON q.id = m.queue_id GROUP BY q.account_id) u ON u.account_id = a.id
             ON CONFLICT (account_id) DO UPDATE SET stored_messages = EXCLUDED.stored_messages,
                 stored_bytes = EXCLUDED.stored_bytes, measured_at = EXCLUDED.measured_at",
        )
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected())
    }

    /// An account's queues (counted now) and stored data (as last measured).
    pub async fn usage(&self, account_id: &str) -> Result<Usage, StoreError> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM queues WHERE account_id = $1) AS queues,
                    COALESCE(u.stored_messages, 0) AS stored_messages, COALESCE(u.stored_bytes, 0) AS stored_bytes,
                    u.measured_at
             FROM (SELECT 1) one LEFT JOIN account_usage u ON u.account_id = $1",
        )
        .bind(account_id)
        .fetch_one(self.db())
        .await?)
    }
}
