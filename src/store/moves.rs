//! Message move tasks: their rows, their leases, and the statement that moves one batch.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MoveTaskRow {
    pub id: Uuid,
    pub account_id: String,
    pub source_queue_id: Uuid,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<i32>,
    pub status: String,
    pub moved: i64,
    pub to_move: i64,
    pub failure_reason: Option<String>,
    pub started_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, account_id, source_queue_id, source_arn, destination_arn, max_per_second, status, moved, to_move, failure_reason, started_at";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

impl PgStore {
    /// Starts a task, counting the messages to move; `Conflict` if one is already active.
    pub async fn start_move_task(&self, t: &MoveTaskRow) -> Result<MoveTaskRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO move_tasks (id, account_id, source_queue_id, source_arn, destination_arn, max_per_second, status, to_move, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', (SELECT count(*) FROM messages WHERE queue_id = $3), $7)
             RETURNING {COLUMNS}"
        )))
        .bind(t.id)
        .bind(&t.account_id)
        .bind(t.source_queue_id)
        .bind(&t.source_arn)
        .bind(&t.destination_arn)
        .bind(t.max_per_second)
        .bind(t.started_at)
        .fetch_one(self.db())
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("active move task") } else { e.into() })
    }

    /// Tasks of a source queue of `account`, most recent first.
    pub async fn move_tasks(
        &self,
        account: &str,
        source_queue_id: Uuid,
        limit: i64,
    ) -> Result<Vec<MoveTaskRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM move_tasks WHERE source_queue_id = $1 AND account_id = $2
             ORDER BY started_at DESC, id LIMIT $3"
        )))
        .bind(source_queue_id)
        .bind(account)
        .bind(limit)
        .fetch_all(self.db())
        .await?)
    }

    /// One task of a source queue of `account`.
    pub async fn move_task(
        &self,
        account: &str,
        source_queue_id: Uuid,
        id: Uuid,
    ) -> Result<Option<MoveTaskRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM move_tasks WHERE source_queue_id = $1 AND account_id = $2 AND id = $3"
        )))
        .bind(source_queue_id)
        .bind(account)
        .bind(id)
        .fetch_optional(self.db())
        .await?)
    }

    /// Cancels a running task of a source queue of `account`; returns it as it now is, or
    /// `None` if no such task was running.
    pub async fn cancel_move_task(
        &self,
        account: &str,
        source_queue_id: Uuid,
        id: Uuid,
    ) -> Result<Option<MoveTaskRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE move_tasks SET status = 'CANCELLED', lease_owner = NULL, lease_until = NULL
             WHERE source_queue_id = $1 AND account_id = $2 AND id = $3 AND status = 'RUNNING' RETURNING {COLUMNS}"
        )))
        .bind(source_queue_id)
        .bind(account)
        .bind(id)
        .fetch_optional(self.db())
        .await?)
    }

    /// Takes the lease of one running task nobody holds (or whose lease lapsed).
    pub async fn claim_move_task(
        &self,
        owner: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<MoveTaskRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE move_tasks SET lease_owner = $1, lease_until = $3
             WHERE id = (SELECT id FROM move_tasks
                         WHERE status = 'RUNNING' AND (lease_until IS NULL OR lease_until < $2 OR lease_owner = $1)
                         ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING {COLUMNS}"
        )))
        .bind(owner)
        .bind(now)
        .bind(lease_until)
        .fetch_optional(self.db())
        .await?)
    }

    /// Moves up to `limit` visible messages of the task's source to their destination (the
    /// task's, or each message's original source queue in the same account), renews the
    /// lease and counts them, all in one statement. A moved message keeps the time it became
    /// visible, so it is visible in its destination at once. Returns (moved now, task status), or
    /// `None` if this instance no longer holds the task (cancelled or taken over).
    pub async fn move_batch(
        &self,
        task: &MoveTaskRow,
        owner: Uuid,
        destination: Option<&str>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Option<i64>, StoreError> {
        let r: Option<(i64,)> = sqlx::query_as(
            "WITH task AS (
                 SELECT id FROM move_tasks WHERE id = $1 AND status = 'RUNNING' AND lease_owner = $2 FOR UPDATE),
             picked AS (
                 SELECT m.id, m.dead_letter_source_arn FROM messages m, task
                 WHERE m.queue_id = $3 AND m.visible_at <= $5
                 ORDER BY m.visible_at, m.seq LIMIT $6 FOR UPDATE OF m SKIP LOCKED),
             routed AS (
                 SELECT p.id, d.id AS dest, d.fifo FROM picked p
                 JOIN queues d ON d.account_id = $7
                   AND d.name = split_part(COALESCE($4, p.dead_letter_source_arn), ':', 6)
                   AND d.id <> $3),
             moved AS (
                 DELETE FROM messages m USING routed r
                 WHERE m.queue_id = $3 AND m.id = ANY(ARRAY(SELECT id FROM routed)) AND m.id = r.id
                 RETURNING m.*, r.dest, r.fifo),
             inserted AS (
                 INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at,
                                       visible_at, sealed_queue_id, dead_letter_source_arn, dek_id, group_id,
                                       dedup_id_sealed, seq)
                 -- Into a FIFO queue, in their order, numbered after the messages already there.
                 SELECT dest, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at, visible_at,
                        COALESCE(sealed_queue_id, queue_id), NULL, dek_id, group_id, dedup_id_sealed,
                        CASE WHEN fifo THEN nextval('message_seq') END
                 FROM (SELECT * FROM moved ORDER BY visible_at, seq) mv
                 RETURNING 1)
             UPDATE move_tasks t SET moved = t.moved + (SELECT count(*) FROM inserted), lease_until = $8
             FROM task WHERE t.id = task.id
             RETURNING (SELECT count(*) FROM inserted)",
        )
        .bind(task.id)
        .bind(owner)
        .bind(task.source_queue_id)
        .bind(destination)
        .bind(now)
        .bind(limit)
        .bind(&task.account_id)
        .bind(lease_until)
        .fetch_optional(self.db())
        .await?;
        Ok(r.map(|(n,)| n))
    }

    /// Ends a task the worker holds.
    pub async fn finish_move_task(
        &self,
        id: Uuid,
        owner: Uuid,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE move_tasks SET status = $3, failure_reason = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
        )
        .bind(id)
        .bind(owner)
        .bind(status)
        .bind(reason)
        .execute(self.db())
        .await?;
        Ok(())
    }
}
