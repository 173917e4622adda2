//! IAM users, groups and user access keys (policies are in `store::policies`).

use chrono::{DateTime, Utc};

use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    /// The user's ARN, with its path and its name as stored.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user{}{}", self.account_id, self.path, self.name)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created_at: DateTime<Utc>,
}

impl GroupRow {
    /// The group's ARN, with its path and its name as stored.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:group{}{}", self.account_id, self.path, self.name)
    }
}

pub(super) fn unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => StoreError::Conflict(what),
        _ => e.into(),
    }
}

impl PgStore {
    pub async fn insert_user(&self, u: &UserRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO users (id, account_id, name, path, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&u.id)
            .bind(&u.account_id)
            .bind(&u.name)
            .bind(&u.path)
            .bind(u.created_at)
            .execute(self.db())
            .await
            .map_err(|e| unique(e, "user"))?;
        Ok(())
    }

    pub async fn user_by_name(&self, account_id: &str, name: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, created_at FROM users WHERE account_id = $1 AND lower(name) = lower($2)",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(self.db())
        .await?)
    }

    /// Deletes a user; refused (`Conflict`) while it still has keys, policies or groups, as
    /// IAM refuses (DeleteConflict).
    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_unattached(
            "WITH gone AS (DELETE FROM users WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM access_keys WHERE user_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM inline_policies WHERE owner_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM policy_attachments WHERE principal_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM group_members WHERE user_id = $1) RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM gone), EXISTS (SELECT 1 FROM users WHERE id = $1)",
            id,
            "user with keys, policies or groups",
        )
        .await
    }

    /// Runs a `WITH gone AS (DELETE … RETURNING 1) SELECT deleted, still_there` statement:
    /// true when deleted, false when there was no such row, `Conflict(what)` when the row is
    /// still there because something is attached to it. One round trip, no window between
    /// the check and the delete.
    pub(super) async fn delete_unattached(
        &self,
        sql: &'static str,
        id: &str,
        what: &'static str,
    ) -> Result<bool, StoreError> {
        let (deleted, remains): (bool, bool) = sqlx::query_as(sql).bind(id).fetch_one(self.db()).await?;
        if !deleted && remains {
            return Err(StoreError::Conflict(what));
        }
        Ok(deleted)
    }

    pub async fn insert_group(&self, g: &GroupRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO groups (id, account_id, name, path, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&g.id)
            .bind(&g.account_id)
            .bind(&g.name)
            .bind(&g.path)
            .bind(g.created_at)
            .execute(self.db())
            .await
            .map_err(|e| unique(e, "group"))?;
        Ok(())
    }

    pub async fn group_by_name(&self, account_id: &str, name: &str) -> Result<Option<GroupRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, created_at FROM groups WHERE account_id = $1 AND lower(name) = lower($2)",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(self.db())
        .await?)
    }

    pub async fn add_group_member(&self, group_id: &str, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(group_id)
            .bind(user_id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn remove_group_member(&self, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Adds an access key for a user, unless the user already has `max` keys.
    pub async fn insert_user_key(
        &self,
        account_id: &str,
        user_id: &str,
        access_key_id: &str,
        secret_sealed: &[u8],
        now: DateTime<Utc>,
        max: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, user_id, secret_sealed, status, created_at)
             SELECT $1, $2, $3, $4, 'Active', $5
             WHERE (SELECT count(*) FROM access_keys WHERE user_id = $3) < $6",
        )
        .bind(access_key_id)
        .bind(account_id)
        .bind(user_id)
        .bind(secret_sealed)
        .bind(now)
        .bind(max)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets a key Active or Inactive; `owner` is the user id (None: the root's keys).
    pub async fn set_key_status(
        &self,
        account_id: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE access_keys SET status = $3 WHERE account_id = $1 AND access_key_id = $2")
            .bind(account_id)
            .bind(access_key_id)
            .bind(status)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn delete_key(&self, account_id: &str, access_key_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM access_keys WHERE account_id = $1 AND access_key_id = $2")
            .bind(account_id)
            .bind(access_key_id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn set_account_status(&self, account_id: &str, status: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE accounts SET status = $2 WHERE id = $1")
            .bind(account_id)
            .bind(status)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// An access key's public side.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub access_key_id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl PgStore {
    pub async fn list_users(&self, account_id: &str, path_prefix: &str) -> Result<Vec<UserRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, created_at FROM users
             WHERE account_id = $1 AND starts_with(path, $2) ORDER BY lower(name) LIMIT 1000",
        )
        .bind(account_id)
        .bind(path_prefix)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn user_keys(&self, user_id: &str) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT access_key_id, status, created_at FROM access_keys WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(self.db())
        .await?)
    }

    /// The key of a user (None if the key is not that user's).
    pub async fn user_key(&self, user_id: &str, access_key_id: &str) -> Result<Option<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT access_key_id, status, created_at FROM access_keys WHERE user_id = $1 AND access_key_id = $2",
        )
        .bind(user_id)
        .bind(access_key_id)
        .fetch_optional(self.db())
        .await?)
    }
}

impl PgStore {
    pub async fn list_groups(&self, account_id: &str) -> Result<Vec<GroupRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, name, path, created_at FROM groups WHERE account_id = $1 ORDER BY lower(name) LIMIT 1000",
        )
        .bind(account_id)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<GroupRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT g.id, g.account_id, g.name, g.path, g.created_at FROM groups g
             JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY lower(g.name)",
        )
        .bind(user_id)
        .fetch_all(self.db())
        .await?)
    }

    pub async fn group_members(&self, group_id: &str) -> Result<Vec<UserRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.account_id, u.name, u.path, u.created_at FROM users u
             JOIN group_members m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY lower(u.name)",
        )
        .bind(group_id)
        .fetch_all(self.db())
        .await?)
    }

    /// Deletes a group with no members, policies or attachments left.
    pub async fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_unattached(
            "WITH gone AS (DELETE FROM groups WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM inline_policies WHERE owner_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM policy_attachments WHERE principal_id = $1) RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM gone), EXISTS (SELECT 1 FROM groups WHERE id = $1)",
            id,
            "group with members or policies",
        )
        .await
    }
}

impl PgStore {
    /// Renames or moves a user.
    pub async fn update_user(&self, id: &str, name: &str, path: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET name = $2, path = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(path)
            .execute(self.db())
            .await
            .map_err(|e| unique(e, "user"))?;
        Ok(())
    }

    /// Records that a key was used (called at most once per cache period per instance).
    pub async fn touch_key(&self, access_key_id: &str, now: DateTime<Utc>, service: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE access_keys SET last_used_at = $2, last_used_service = $3 WHERE access_key_id = $1")
            .bind(access_key_id)
            .bind(now)
            .bind(service)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn key_last_used(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> Result<Option<(Option<String>, Option<DateTime<Utc>>, Option<String>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT u.name, k.last_used_at, k.last_used_service FROM access_keys k LEFT JOIN users u ON u.id = k.user_id
             WHERE k.account_id = $1 AND k.access_key_id = $2",
        )
        .bind(account_id)
        .bind(access_key_id)
        .fetch_optional(self.db())
        .await?)
    }
}
