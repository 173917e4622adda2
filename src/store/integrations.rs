//! Service integrations and the keys that sign their bearer tokens.

use chrono::{DateTime, Utc};

use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntegrationRow {
    pub id: String,
    pub account_id: String,
    pub service: String,
    pub sources: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub account_id: String,
    pub private_sealed: Vec<u8>,
    pub public_pem: String,
}

/// Why registering an integration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceClaim {
    Registered,
    /// The source already belongs to another account.
    OwnedElsewhere(String),
}

impl PgStore {
    /// Registers an integration and claims its sources for its account, all or nothing.
    pub async fn insert_integration(&self, row: &IntegrationRow) -> Result<SourceClaim, StoreError> {
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "INSERT INTO integration_source_owners (service, source, account_id) \
             SELECT $1, unnest($2::text[]), $3 ON CONFLICT DO NOTHING",
        )
        .bind(&row.service)
        .bind(&row.sources)
        .bind(&row.account_id)
        .execute(&mut *tx)
        .await?;
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT source FROM integration_source_owners \
             WHERE service = $1 AND source = ANY($2) AND account_id <> $3 ORDER BY source LIMIT 1",
        )
        .bind(&row.service)
        .bind(&row.sources)
        .bind(&row.account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(source) = taken {
            tx.rollback().await?;
            return Ok(SourceClaim::OwnedElsewhere(source));
        }
        sqlx::query(
            "INSERT INTO integrations (id, account_id, service, sources, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&row.account_id)
        .bind(&row.service)
        .bind(&row.sources)
        .bind(row.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SourceClaim::Registered)
    }

    /// Records one token of `account_id` as revoked until `expires_at`; false if it already was.
    pub async fn revoke_token(
        &self,
        jti: &str,
        account_id: &str,
        integration_id: Option<&str>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO revoked_tokens (jti, account_id, integration_id, expires_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, jti) DO NOTHING",
        )
        .bind(jti)
        .bind(account_id)
        .bind(integration_id)
        .bind(expires_at)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether the token `jti` of `account_id` was revoked.
    pub async fn token_revoked(&self, jti: &str, account_id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE account_id = $2 AND jti = $1)",
        )
        .bind(jti)
        .bind(account_id)
        .fetch_one(self.db())
        .await?)
    }

    /// Forgets revocations of tokens that expired before `before`.
    pub async fn delete_expired_token_revocations(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(self.db())
            .await?
            .rows_affected())
    }

    pub async fn integration(&self, account_id: &str, id: &str) -> Result<Option<IntegrationRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM integrations WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .fetch_optional(self.db())
            .await?)
    }

    /// A live integration of an active account, by id (for bearer authentication).
    pub async fn live_integration(&self, id: &str) -> Result<Option<IntegrationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.* FROM integrations i JOIN accounts a ON a.id = i.account_id \
             WHERE i.id = $1 AND i.revoked_at IS NULL AND a.status = 'active'",
        )
        .bind(id)
        .fetch_optional(self.db())
        .await?)
    }

    /// One key whose tokens are still accepted: (account, public PEM).
    pub async fn verification_key(&self, kid: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account_id, public_pem FROM integration_signing_keys WHERE kid = $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .fetch_optional(self.db())
        .await?)
    }

    pub async fn integrations_of(&self, account_id: &str) -> Result<Vec<IntegrationRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM integrations WHERE account_id = $1 ORDER BY created_at, id")
            .bind(account_id)
            .fetch_all(self.db())
            .await?)
    }

    /// Marks an integration revoked; false when there is no such live integration.
    pub async fn revoke_integration(&self, account_id: &str, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE integrations SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .bind(at)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The key that signs an account's new tokens: its newest one not retired.
    pub async fn current_signing_key(&self, account_id: &str) -> Result<Option<SigningKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, account_id, private_sealed, public_pem FROM integration_signing_keys \
             WHERE account_id = $1 AND retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1",
        )
        .bind(account_id)
        .fetch_optional(self.db())
        .await?)
    }

    /// Every key whose tokens are still accepted: (kid, account, public PEM).
    pub async fn verification_keys(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as("SELECT kid, account_id, public_pem FROM integration_signing_keys WHERE retired_at IS NULL")
            .fetch_all(self.db())
            .await?)
    }

    pub async fn insert_signing_key(&self, row: &SigningKeyRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO integration_signing_keys (kid, account_id, private_sealed, public_pem, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.kid)
        .bind(&row.account_id)
        .bind(&row.private_sealed)
        .bind(&row.public_pem)
        .bind(at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Retires every signing key of an account but `keep`: their tokens stop being accepted.
    pub async fn retire_signing_keys_except(
        &self,
        account_id: &str,
        keep: &str,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE integration_signing_keys SET retired_at = $3 \
             WHERE account_id = $1 AND kid <> $2 AND retired_at IS NULL",
        )
        .bind(account_id)
        .bind(keep)
        .bind(at)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected())
    }
}
