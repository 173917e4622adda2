//! Accounts and access keys.

use chrono::{DateTime, Utc};

use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// An access key with its owner; the secret stays sealed here.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessKeyRow {
    pub access_key_id: String,
    pub account_id: String,
    pub secret_sealed: Vec<u8>,
    pub status: String,
    pub account_status: String,
    /// The user the key belongs to (None: the account root).
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_path: Option<String>,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

impl PgStore {
    /// Inserts an account and its root key in one transaction.
    pub async fn insert_account_with_key(
        &self,
        account: &AccountRow,
        access_key_id: &str,
        secret_sealed: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.db().begin().await?;
        self.db();
        sqlx::query("INSERT INTO accounts (id, name, status, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&account.id)
            .bind(&account.name)
            .bind(&account.status)
            .bind(account.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("account") } else { e.into() })?;
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, secret_sealed, status, created_at) VALUES ($1, $2, $3, 'Active', $4)",
        )
        .bind(access_key_id)
        .bind(&account.id)
        .bind(secret_sealed)
        .bind(account.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("access key") } else { e.into() })?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, status, created_at FROM accounts ORDER BY name")
            .fetch_all(self.db())
            .await?)
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        Ok(sqlx::query_as("SELECT id, name, status, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db())
            .await?)
    }

    pub async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT k.access_key_id, k.account_id, k.secret_sealed, k.status, a.status AS account_status, k.user_id,
                    u.name AS user_name, u.path AS user_path
             FROM access_keys k JOIN accounts a ON a.id = k.account_id LEFT JOIN users u ON u.id = k.user_id
             WHERE k.access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(self.db())
        .await?)
    }
}

impl PgStore {
    /// Whether anything sealed is stored (access keys, messages, token signing keys).
    pub async fn holds_sealed_data(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM access_keys) OR EXISTS (SELECT 1 FROM messages) \
             OR EXISTS (SELECT 1 FROM integration_signing_keys)",
        )
        .fetch_one(self.db())
        .await?)
    }

    /// The oldest access key of an account (its root key in the foundation).
    pub async fn first_access_key_of(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT access_key_id FROM access_keys WHERE account_id = $1 AND user_id IS NULL
             ORDER BY created_at, access_key_id LIMIT 1",
        )
        .bind(account_id)
        .fetch_optional(self.db())
        .await?)
    }
}

impl PgStore {
    /// Deletes an account (everything of it goes by cascade). Returns whether it existed.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.db().begin().await?;
        // Rows keyed by user or group ids have no foreign key to the account; remove them first.
        self.db();
        sqlx::query("DELETE FROM inline_policies WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        self.db();
        sqlx::query(
            "DELETE FROM policy_attachments WHERE principal_id IN
                 (SELECT id FROM users WHERE account_id = $1 UNION ALL SELECT id FROM groups WHERE account_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.db();
        let r = sqlx::query("DELETE FROM accounts WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Swaps the root key of an account for a new one in one transaction.
    pub async fn replace_root_key(
        &self,
        account_id: &str,
        access_key_id: &str,
        secret_sealed: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db().begin().await?;
        self.db();
        sqlx::query("DELETE FROM access_keys WHERE account_id = $1 AND user_id IS NULL")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        self.db();
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, secret_sealed, status, created_at) VALUES ($1, $2, $3, 'Active', $4)",
        )
        .bind(access_key_id)
        .bind(account_id)
        .bind(secret_sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
