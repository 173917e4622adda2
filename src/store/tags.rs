//! Queue tags.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{PgStore, StoreError};

impl PgStore {
    /// Adds or overwrites tags, unless the queue would then hold more than `max`; returns
    /// whether they were stored. One transaction, the queue row locked so concurrent taggers
    /// cannot both pass the limit.
    pub async fn tag_queue(
        &self,
        queue_id: Uuid,
        tags: &BTreeMap<String, String>,
        max: i64,
    ) -> Result<bool, StoreError> {
        let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
        let values: Vec<&str> = tags.values().map(String::as_str).collect();
        let mut tx = self.db().begin().await?;
        self.db();
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM queue_tags t, (SELECT id FROM queues WHERE id = $1 FOR UPDATE) q
             WHERE t.queue_id = q.id AND NOT (t.key = ANY($2))",
        )
        .bind(queue_id)
        .bind(&keys)
        .fetch_one(&mut *tx)
        .await?;
        if others + keys.len() as i64 > max {
            return Ok(false);
        }
        self.db();
        sqlx::query(
            "INSERT INTO queue_tags (queue_id, key, value) SELECT $1, * FROM UNNEST($2::text[], $3::text[])
             ON CONFLICT (queue_id, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(queue_id)
        .bind(&keys)
        .bind(&values)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes tags by key (absent keys are ignored).
    pub async fn untag_queue(&self, queue_id: Uuid, keys: &[String]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM queue_tags WHERE queue_id = $1 AND key = ANY($2)")
            .bind(queue_id)
            .bind(keys)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn queue_tags(&self, queue_id: Uuid) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM queue_tags WHERE queue_id = $1")
            .bind(queue_id)
            .fetch_all(self.db())
            .await?;
        Ok(rows.into_iter().collect())
    }
}
