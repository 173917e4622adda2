//! The audit trail of management changes.

use chrono::{DateTime, Utc};

use super::{PgStore, StoreError};

/// One management change.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub account_id: Option<String>,
    /// The principal's ARN, or `operator` for `sluice` commands.
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub account_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

impl PgStore {
    pub async fn record_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, account_id, actor, action, resource, source_ip, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(&e.account_id)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.resource)
        .bind(&e.source_ip)
        .bind(&e.request_id)
        .bind(&e.detail)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// The newest entries first.
    pub async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, account_id, actor, action, resource, source_ip, request_id, detail FROM audit_log
             WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR action = $2)
               AND ($3::timestamptz IS NULL OR at >= $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(&f.account_id)
        .bind(&f.action)
        .bind(f.since)
        .bind(f.limit.clamp(1, 10_000))
        .fetch_all(self.db())
        .await?)
    }
}
