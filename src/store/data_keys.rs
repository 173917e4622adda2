//! Wrapped data keys of queues.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DataKeyRow {
    pub id: i64,
    pub queue_id: Uuid,
    pub account_id: String,
    pub provider: String,
    pub master_key: String,
    pub wrapped: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl PgStore {
    pub async fn insert_data_key(&self, k: &DataKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO queue_data_keys (id, queue_id, account_id, provider, master_key, wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(k.id)
        .bind(k.queue_id)
        .bind(&k.account_id)
        .bind(&k.provider)
        .bind(&k.master_key)
        .bind(&k.wrapped)
        .bind(k.created_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    pub async fn data_key(&self, id: i64) -> Result<Option<DataKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM queue_data_keys WHERE id = $1").bind(id).fetch_optional(self.db()).await?)
    }

    /// A page of data keys after `after` (by id), for re-wrapping.
    pub async fn data_keys_after(&self, after: i64, limit: i64) -> Result<Vec<DataKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM queue_data_keys WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(self.db())
            .await?)
    }

    /// Replaces a key's wrapped form (the key itself is unchanged), if it is still `old`.
    pub async fn rewrap_data_key(&self, id: i64, old: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE queue_data_keys SET wrapped = $3 WHERE id = $1 AND wrapped = $2")
            .bind(id)
            .bind(old)
            .bind(new)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// How many data keys each master key wraps: (provider, master key, count).
    pub async fn data_key_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT provider, master_key, count(*) FROM queue_data_keys GROUP BY provider, master_key ORDER BY 1, 2",
        )
        .fetch_all(self.db())
        .await?)
    }
}
