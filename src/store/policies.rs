//! Managed policies with their versions, inline policies of users and groups, and the
//! attachments between policies and principals.

use chrono::{DateTime, Utc};

use super::iam::unique;
use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedPolicyRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub default_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ManagedPolicyRow {
    /// The policy's ARN, with its path and its name as stored.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:policy{}{}", self.account_id, self.path, self.name)
    }
}

impl PgStore {
    /// Adds or replaces an inline policy of a user or group.
    pub async fn put_inline_policy(
        &self,
        account_id: &str,
        owner_id: &str,
        name: &str,
        document: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO inline_policies (owner_id, account_id, name, document) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner_id, name) DO UPDATE SET document = EXCLUDED.document",
        )
        .bind(owner_id)
        .bind(account_id)
        .bind(name)
        .bind(document)
        .execute(self.db())
        .await?;
        Ok(())
    }

    pub async fn delete_inline_policy(&self, owner_id: &str, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM inline_policies WHERE owner_id = $1 AND name = $2")
            .bind(owner_id)
            .bind(name)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Creates a managed policy with its first (default) version.
    pub async fn insert_managed_policy(&self, p: &ManagedPolicyRow, document: &str) -> Result<(), StoreError> {
        let mut tx = self.db().begin().await?;
        self.db();
        sqlx::query(
            "INSERT INTO managed_policies (id, account_id, name, path, default_version, next_version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 1, 2, $5, $5)",
        )
        .bind(&p.id)
        .bind(&p.account_id)
        .bind(&p.name)
        .bind(&p.path)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "policy"))?;
        self.db();
        sqlx::query("INSERT INTO policy_versions (policy_id, version, document, created_at) VALUES ($1, 1, $2, $3)")
            .bind(&p.id)
            .bind(document)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn managed_policy_by_name(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<Option<ManagedPolicyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, default_version, created_at, updated_at FROM managed_policies
             WHERE account_id = $1 AND lower(name) = lower($2)",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(self.db())
        .await?)
    }

    pub async fn attach_policy(&self, policy_id: &str, principal_id: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO policy_attachments (policy_id, principal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(policy_id)
            .bind(principal_id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn detach_policy(&self, policy_id: &str, principal_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM policy_attachments WHERE policy_id = $1 AND principal_id = $2")
            .bind(policy_id)
            .bind(principal_id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every identity policy document that applies to a user: its inline policies, its
    /// groups' inline policies, and the default versions of the managed policies attached to
    /// it or its groups. One statement.
    pub async fn user_policy_documents(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "WITH principals AS (
                 SELECT $1::text AS id UNION ALL SELECT group_id FROM group_members WHERE user_id = $1)
             SELECT ip.document FROM inline_policies ip JOIN principals p ON p.id = ip.owner_id
             UNION ALL
             SELECT v.document FROM policy_attachments a
                 JOIN principals p ON p.id = a.principal_id
                 JOIN managed_policies m ON m.id = a.policy_id
                 JOIN policy_versions v ON v.policy_id = m.id AND v.version = m.default_version",
        )
        .bind(user_id)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn inline_policy(&self, owner_id: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT document FROM inline_policies WHERE owner_id = $1 AND name = $2")
            .bind(owner_id)
            .bind(name)
            .fetch_optional(self.db())
            .await?)
    }

    pub async fn inline_policy_names(&self, owner_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT name FROM inline_policies WHERE owner_id = $1 ORDER BY name")
            .bind(owner_id)
            .fetch_all(self.db())
            .await?)
    }

    /// Managed policies attached to a user or group: (name, path).
    pub async fn attached_policies(&self, principal_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT m.name, m.path FROM managed_policies m JOIN policy_attachments a ON a.policy_id = m.id
             WHERE a.principal_id = $1 ORDER BY lower(m.name)",
        )
        .bind(principal_id)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn attachment_count(&self, policy_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM policy_attachments WHERE policy_id = $1")
            .bind(policy_id)
            .fetch_one(self.db())
            .await?)
    }

    /// Deletes a managed policy that is attached nowhere.
    pub async fn delete_managed_policy(&self, id: &str) -> Result<bool, StoreError> {
        if self.attachment_count(id).await? > 0 {
            return Err(StoreError::Conflict("attached policy"));
        }
        let r = sqlx::query("DELETE FROM managed_policies WHERE id = $1").bind(id).execute(self.db()).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Adds a version (at most `max` kept), optionally as the default. Returns its number, or
    /// `None` when the policy already has `max` versions.
    pub async fn add_policy_version(
        &self,
        policy_id: &str,
        document: &str,
        set_default: bool,
        now: DateTime<Utc>,
        max: i64,
    ) -> Result<Option<i32>, StoreError> {
        let mut tx = self.db().begin().await?;
        self.db();
        let (next, count): (i32, i64) = sqlx::query_as(
            "SELECT m.next_version, (SELECT count(*) FROM policy_versions v WHERE v.policy_id = m.id)
             FROM managed_policies m WHERE m.id = $1 FOR UPDATE",
        )
        .bind(policy_id)
        .fetch_one(&mut *tx)
        .await?;
        if count >= max {
            return Ok(None);
        }
        self.db();
        sqlx::query("INSERT INTO policy_versions (policy_id, version, document, created_at) VALUES ($1, $2, $3, $4)")
            .bind(policy_id)
            .bind(next)
            .bind(document)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        self.db();
        sqlx::query(
            "UPDATE managed_policies SET next_version = next_version + 1, updated_at = $3,
                 default_version = CASE WHEN $2 THEN next_version ELSE default_version END
             WHERE id = $1",
        )
        .bind(policy_id)
        .bind(set_default)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    /// Makes an existing version the default. Returns whether the version exists.
    pub async fn set_default_version(&self, policy_id: &str, version: i32) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE managed_policies SET default_version = $2
             WHERE id = $1 AND EXISTS (SELECT 1 FROM policy_versions WHERE policy_id = $1 AND version = $2)",
        )
        .bind(policy_id)
        .bind(version)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The versions of a policy: (version, document, created).
    pub async fn policy_versions(&self, policy_id: &str) -> Result<Vec<(i32, String, DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, document, created_at FROM policy_versions WHERE policy_id = $1 ORDER BY version",
        )
        .bind(policy_id)
        .fetch_all(self.db())
        .await?)
    }

    /// Deletes a version that is not the default. `Ok(false)`: no such version.
    pub async fn delete_policy_version(&self, policy_id: &str, version: i32) -> Result<bool, StoreError> {
        let is_default: Option<bool> =
            sqlx::query_scalar("SELECT default_version = $2 FROM managed_policies WHERE id = $1")
                .bind(policy_id)
                .bind(version)
                .fetch_optional(self.db())
                .await?;
        if is_default == Some(true) {
            return Err(StoreError::Conflict("default version"));
        }
        let r = sqlx::query("DELETE FROM policy_versions WHERE policy_id = $1 AND version = $2")
            .bind(policy_id)
            .bind(version)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Users and groups a managed policy is attached to: (kind, name, id).
    pub async fn policy_entities(&self, policy_id: &str) -> Result<Vec<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT 'user', u.name, u.id FROM policy_attachments a JOIN users u ON u.id = a.principal_id WHERE a.policy_id = $1
             UNION ALL
             SELECT 'group', g.name, g.id FROM policy_attachments a JOIN groups g ON g.id = a.principal_id WHERE a.policy_id = $1
             ORDER BY 1, 2",
        )
        .bind(policy_id)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn list_managed_policies(&self, account_id: &str) -> Result<Vec<ManagedPolicyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, default_version, created_at, updated_at FROM managed_policies
             WHERE account_id = $1 ORDER BY lower(name) LIMIT 1000",
        )
        .bind(account_id)
        .fetch_all(self.db())
        .await?)
    }
}
