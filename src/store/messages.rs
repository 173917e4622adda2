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
    pub expires_at: DateTime<Utc>,
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

impl PgStore {
    /// Inserts one message; returns once it is committed.
    pub async fn insert_message(&self, queue_id: Uuid, m: &NewMessage<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, sender_id, sent_at, visible_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(queue_id)
        .bind(m.id)
        .bind(m.body_sealed)
        .bind(m.attributes_sealed)
        .bind(m.sender_id)
        .bind(m.sent_at)
        .bind(m.visible_at)
        .bind(m.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes up to `max` visible, unexpired messages and hides them until `visible_until`.
    pub async fn receive_messages(
        &self,
        queue_id: Uuid,
        now: DateTime<Utc>,
        max: i64,
        visible_until: DateTime<Utc>,
    ) -> Result<Vec<ReceivedRow>, StoreError> {
        Ok(sqlx::query_as(
            "WITH picked AS (
                 SELECT id FROM messages
                 WHERE queue_id = $1 AND visible_at <= $2 AND expires_at > $2
                 ORDER BY visible_at
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             UPDATE messages m
             SET visible_at = $4,
                 receive_count = m.receive_count + 1,
                 first_received_at = COALESCE(m.first_received_at, $2)
             FROM picked
             WHERE m.queue_id = $1 AND m.id = picked.id
             RETURNING m.id, m.body_sealed, m.attributes_sealed, m.sender_id, m.sent_at, m.receive_count, m.first_received_at",
        )
        .bind(queue_id)
        .bind(now)
        .bind(max)
        .bind(visible_until)
        .fetch_all(self.pool())
        .await?)
    }

    /// Deletes a message. Returns whether it was still there.
    pub async fn delete_message(&self, queue_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM messages WHERE queue_id = $1 AND id = $2")
            .bind(queue_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
