//! IAM roles and temporary credentials (role sessions and user session tokens).

use chrono::{DateTime, Utc};

use super::iam::unique;
use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub trust_policy: String,
    pub description: String,
    pub max_session_duration: i32,
    pub sessions_valid_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl RoleRow {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role{}{}", self.account_id, self.path, self.name)
    }
}

/// A session to store: the secret sealed, the token as its HMAC.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub access_key_id: String,
    pub account_id: String,
    pub role_id: Option<String>,
    pub user_id: Option<String>,
    pub session_name: String,
    pub secret_sealed: Vec<u8>,
    pub token_mac: Vec<u8>,
    pub session_policy: Option<String>,
    pub source_identity: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A session as authentication needs it, with its role or user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub access_key_id: String,
    pub account_id: String,
    pub session_name: String,
    pub secret_sealed: Vec<u8>,
    pub token_mac: Vec<u8>,
    pub session_policy: Option<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub role_id: Option<String>,
    pub role_name: Option<String>,
    pub role_path: Option<String>,
    pub sessions_valid_after: Option<DateTime<Utc>>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_path: Option<String>,
    pub account_status: String,
}

impl PgStore {
    pub async fn insert_role(&self, r: &RoleRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO roles (id, account_id, name, path, trust_policy, description, max_session_duration, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.account_id)
        .bind(&r.name)
        .bind(&r.path)
        .bind(&r.trust_policy)
        .bind(&r.description)
        .bind(r.max_session_duration)
        .bind(r.created_at)
        .execute(self.db())
        .await
        .map_err(|e| unique(e, "role"))?;
        Ok(())
    }

    pub async fn role_by_name(&self, account_id: &str, name: &str) -> Result<Option<RoleRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM roles WHERE account_id = $1 AND lower(name) = lower($2)")
            .bind(account_id)
            .bind(name)
            .fetch_optional(self.db())
            .await?)
    }

    pub async fn list_roles(&self, account_id: &str, path_prefix: &str) -> Result<Vec<RoleRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM roles WHERE account_id = $1 AND starts_with(path, $2) ORDER BY lower(name)")
            .bind(account_id)
            .bind(path_prefix)
            .fetch_all(self.db())
            .await?)
    }

    pub async fn role_count(&self, account_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM roles WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(self.db())
            .await?)
    }

    /// Updates what UpdateRole and UpdateAssumeRolePolicy change.
    pub async fn update_role(&self, r: &RoleRow) -> Result<(), StoreError> {
        sqlx::query("UPDATE roles SET trust_policy = $2, description = $3, max_session_duration = $4 WHERE id = $1")
            .bind(&r.id)
            .bind(&r.trust_policy)
            .bind(&r.description)
            .bind(r.max_session_duration)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Deletes a role; refused (`Conflict`) while policies are attached or inline, as IAM
    /// refuses. Its sessions go with it.
    pub async fn delete_role(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_unattached(
            "WITH gone AS (DELETE FROM roles WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM inline_policies WHERE owner_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM policy_attachments WHERE principal_id = $1) RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM gone), EXISTS (SELECT 1 FROM roles WHERE id = $1)",
            id,
            "role with policies",
        )
        .await
    }

    /// Refuses every session of the role issued before `at`.
    pub async fn revoke_role_sessions(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE roles SET sessions_valid_after = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn insert_session(&self, s: &NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (access_key_id, account_id, role_id, user_id, session_name, secret_sealed, token_mac, \
             session_policy, source_identity, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&s.access_key_id)
        .bind(&s.account_id)
        .bind(&s.role_id)
        .bind(&s.user_id)
        .bind(&s.session_name)
        .bind(&s.secret_sealed)
        .bind(&s.token_mac)
        .bind(&s.session_policy)
        .bind(&s.source_identity)
        .bind(s.issued_at)
        .bind(s.expires_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// A session by its access key id, with its role or user and its account's status.
    pub async fn session(&self, access_key_id: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.access_key_id, s.account_id, s.session_name, s.secret_sealed, s.token_mac, s.session_policy, \
                    s.issued_at, s.expires_at, r.id AS role_id, r.name AS role_name, r.path AS role_path, \
                    r.sessions_valid_after, u.id AS user_id, u.name AS user_name, u.path AS user_path, \
                    a.status AS account_status \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN roles r ON r.id = s.role_id LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(self.db())
        .await?)
    }

    /// Forgets sessions that expired before `before`.
    pub async fn delete_expired_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(before).execute(self.db()).await?;
        Ok(r.rows_affected())
    }
}
