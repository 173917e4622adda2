//! Registrations of long polls across instances, and the notifications that wake them.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::{PgStore, StoreError};

/// The notification channel of wake-ups; the payload is a queue id.
pub const CHANNEL: &str = "sluice_wake";

impl PgStore {
    /// Records that `instance` has long polls waiting on `queue_id`.
    pub async fn register_waiter(&self, queue_id: Uuid, instance: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO queue_waiters (queue_id, instance, since) VALUES ($1, $2, $3)
             ON CONFLICT (queue_id, instance) DO UPDATE SET since = EXCLUDED.since",
        )
        .bind(queue_id)
        .bind(instance)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Keeps `instance`'s registrations for `active` queues fresh, drops its others, and
    /// drops everyone's registrations older than `stale_before`.
    pub async fn refresh_waiters(
        &self,
        instance: Uuid,
        active: &[Uuid],
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "WITH fresh AS (UPDATE queue_waiters SET since = $3 WHERE instance = $1 AND queue_id = ANY($2))
             DELETE FROM queue_waiters
             WHERE (instance = $1 AND NOT (queue_id = ANY($2))) OR (instance <> $1 AND since < $4)",
        )
        .bind(instance)
        .bind(active)
        .bind(now)
        .bind(stale_before)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Notifies the queues among `queues` that another instance waits on. One statement.
    pub async fn notify_waiters(&self, queues: &[Uuid], instance: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "SELECT pg_notify($3, q::text) FROM unnest($1::uuid[]) AS q
             WHERE EXISTS (SELECT 1 FROM queue_waiters w WHERE w.queue_id = q AND w.instance <> $2)",
        )
        .bind(queues)
        .bind(instance)
        .bind(CHANNEL)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// A listener on the wake-up channel (its own connection, reconnecting on loss).
    pub async fn listen(&self) -> Result<PgListener, StoreError> {
        let mut l = PgListener::connect_with(self.pool()).await?;
        l.listen(CHANNEL).await?;
        Ok(l)
    }
}
