//! Messages. Receiving uses `FOR UPDATE SKIP LOCKED`, so many consumers and instances
//! share a queue without handing one message to two of them inside a visibility window.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, StoreError};

/// A message to insert; body and attributes are already sealed.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub body_sealed: &'a [u8],
    pub attributes_sealed: Option<&'a [u8]>,
    pub sender_id: &'a str,
    pub sent_at: DateTime<Utc>,
    pub visible_at: DateTime<Utc>,
}

/// A message as handed out by a receive.
#[derive(Debug, sqlx::FromRow)]
pub struct ReceivedRow {
    pub id: Uuid,
    pub body_sealed: Vec<u8>,
    pub attributes_sealed: Option<Vec<u8>>,
    pub sender_id: String,
    pub sent_at: DateTime<Utc>,
    pub receive_count: i32,
    pub first_received_at: Option<DateTime<Utc>>,
}

/// The state of one message, for explaining a refused visibility change.
#[derive(Debug, sqlx::FromRow)]
pub struct InflightRow {
    pub receive_count: i32,
    pub visible_at: DateTime<Utc>,
    pub last_received_at: Option<DateTime<Utc>>,
}

/// Message counts of a queue at one instant (expired messages excluded).
#[derive(Debug, Default, sqlx::FromRow)]
pub struct MessageCounts {
    pub visible: i64,
    pub not_visible: i64,
    pub delayed: i64,
}

/// The outcome of a receive: messages, or when the next one becomes visible by time alone.
#[derive(Debug)]
pub struct Received {
    pub rows: Vec<ReceivedRow>,
    pub next_visible_at: Option<DateTime<Utc>>,
}

impl PgStore {
    /// Inserts one message; returns once it is committed.
    pub async fn insert_message(&self, queue_id: Uuid, m: &NewMessage<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, sender_id, sent_at, visible_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(queue_id)
        .bind(m.id)
        .bind(m.body_sealed)
        .bind(m.attributes_sealed)
        .bind(m.sender_id)
        .bind(m.sent_at)
        .bind(m.visible_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Takes up to `max` visible messages sent after `not_before` (older ones have expired)
    /// and hides them until `visible_until`. When none is taken, also tells when the next
    /// message becomes visible by time alone (in the same statement).
    pub async fn receive_messages(
        &self,
        queue_id: Uuid,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
        max: i64,
        visible_until: DateTime<Utc>,
    ) -> Result<Received, StoreError> {
        let rows: Vec<ReceivedRow> = sqlx::query_as(
            "WITH picked AS (
                 SELECT id FROM messages
                 WHERE queue_id = $1 AND visible_at <= $2 AND sent_at > $3
                 ORDER BY visible_at
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             UPDATE messages m
             SET visible_at = $5,
                 receive_count = m.receive_count + 1,
                 first_received_at = COALESCE(m.first_received_at, $2),
                 last_received_at = $2
             FROM picked
             WHERE m.queue_id = $1 AND m.id = picked.id
             RETURNING m.id, m.body_sealed, m.attributes_sealed, m.sender_id, m.sent_at, m.receive_count, m.first_received_at",
        )
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .bind(max)
        .bind(visible_until)
        .fetch_all(self.db())
        .await?;
        if !rows.is_empty() {
            return Ok(Received { rows, next_visible_at: None });
        }
        let next_visible_at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(visible_at) FROM messages WHERE queue_id = $1 AND visible_at > $2 AND sent_at > $3",
        )
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .fetch_one(self.db())
        .await?;
        Ok(Received { rows, next_visible_at })
    }

    /// Deletes a message. Returns whether it was still there.
    pub async fn delete_message(&self, queue_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM messages WHERE queue_id = $1 AND id = $2")
            .bind(queue_id)
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets a new visibility deadline for the message's current receive `seq`, if it is still
    /// in flight at `now` and the deadline stays within `cap` of that receive. Returns
    /// whether it changed.
    pub async fn change_visibility(
        &self,
        queue_id: Uuid,
        id: Uuid,
        seq: i32,
        now: DateTime<Utc>,
        visible_at: DateTime<Utc>,
        cap: chrono::TimeDelta,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE messages SET visible_at = $5
             WHERE queue_id = $1 AND id = $2 AND receive_count = $3 AND visible_at > $4
               AND last_received_at + $6 >= $5",
        )
        .bind(queue_id)
        .bind(id)
        .bind(seq)
        .bind(now)
        .bind(visible_at)
        .bind(cap)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The state of one message (to explain a refused change).
    pub async fn inflight_state(&self, queue_id: Uuid, id: Uuid) -> Result<Option<InflightRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT receive_count, visible_at, last_received_at FROM messages WHERE queue_id = $1 AND id = $2",
        )
        .bind(queue_id)
        .bind(id)
        .fetch_optional(self.db())
        .await?)
    }

    /// Visible, in-flight and delayed messages of a queue at `now` (not yet expired).
    pub async fn message_counts(
        &self,
        queue_id: Uuid,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<MessageCounts, StoreError> {
        Ok(sqlx::query_as(
            "SELECT count(*) FILTER (WHERE visible_at <= $2) AS visible,
                    count(*) FILTER (WHERE visible_at > $2 AND receive_count > 0) AS not_visible,
                    count(*) FILTER (WHERE visible_at > $2 AND receive_count = 0) AS delayed
             FROM messages WHERE queue_id = $1 AND sent_at > $3",
        )
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .fetch_one(self.db())
        .await?)
    }

    /// Deletes the queue's messages sent at or before `not_after` (expired), at most
    /// `limit` at a time. Returns how many were deleted.
    pub async fn delete_expired(
        &self,
        queue_id: Uuid,
        not_after: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM messages WHERE queue_id = $1 AND id IN
                 (SELECT id FROM messages WHERE queue_id = $1 AND sent_at <= $2 LIMIT $3)",
        )
        .bind(queue_id)
        .bind(not_after)
        .bind(limit)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected())
    }
}
