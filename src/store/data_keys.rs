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

/// A master key of an account, held by the key provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MasterKeyRow {
    pub id: String,
    pub account_id: String,
    pub alias: Option<String>,
    pub provider: String,
    pub provider_key: String,
    pub created_at: DateTime<Utc>,
}

impl PgStore {
    pub async fn insert_master_key(&self, k: &MasterKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO master_keys (id, account_id, alias, provider, provider_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&k.id)
        .bind(&k.account_id)
        .bind(&k.alias)
        .bind(&k.provider)
        .bind(&k.provider_key)
        .bind(k.created_at)
        .execute(self.db())
        .await
        .map_err(|e| super::iam::unique(e, "master key alias"))?;
        Ok(())
    }

    /// A master key by id or by alias, in any account (the caller checks whose it is).
    pub async fn master_key_by_id(&self, id: &str) -> Result<Option<MasterKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM master_keys WHERE id = $1").bind(id).fetch_optional(self.db()).await?)
    }

    pub async fn master_key_by_alias(&self, account_id: &str, alias: &str) -> Result<Option<MasterKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM master_keys WHERE account_id = $1 AND alias = $2")
            .bind(account_id)
            .bind(alias)
            .fetch_optional(self.db())
            .await?)
    }

    pub async fn master_keys_of(&self, account_id: &str) -> Result<Vec<MasterKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM master_keys WHERE account_id = $1 ORDER BY created_at, id")
            .bind(account_id)
            .fetch_all(self.db())
            .await?)
    }

    pub async fn delete_master_key(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM master_keys WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
