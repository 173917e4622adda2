//! Queues.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, StoreError};

/// The settable attributes of a queue as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    pub delay_seconds: i32,
    pub maximum_message_size: i32,
    pub retention_seconds: i32,
    pub receive_wait_seconds: i32,
    pub visibility_timeout: i32,
    /// FifoQueue: fixed when the queue is created.
    pub fifo: bool,
    /// ContentBasedDeduplication.
    pub content_based_dedup: bool,
    /// DeduplicationScope=messageGroup (else `queue`).
    pub dedup_per_group: bool,
    /// FifoThroughputLimit=perMessageGroupId (else `perQueue`).
    pub throughput_per_group: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub id: Uuid,
    pub account_id: String,
    pub name: String,
    pub delay_seconds: i32,
    pub maximum_message_size: i32,
    pub retention_seconds: i32,
    pub receive_wait_seconds: i32,
    pub visibility_timeout: i32,
    pub created_at: DateTime<Utc>,
    pub last_modified_at: DateTime<Utc>,
    pub dlq_name: Option<String>,
    pub max_receive_count: Option<i32>,
    pub redrive_allow_policy: Option<String>,
    pub policy: Option<String>,
    pub sse_sqs: bool,
    pub kms_master_key_id: Option<String>,
    pub kms_master_key: Option<String>,
    pub kms_reuse_seconds: i32,
    pub fifo: bool,
    pub content_based_dedup: bool,
    pub dedup_per_group: bool,
    pub throughput_per_group: bool,
    /// A standard queue sent a MessageGroupId at least once: its receives are fair.
    pub fair: bool,
}

/// A queue's encryption attributes as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// SqsManagedSseEnabled.
    pub sse_sqs: bool,
    /// KmsMasterKeyId as written, and the provider key it resolved to.
    pub kms_master_key_id: Option<String>,
    pub kms_master_key: Option<String>,
    /// KmsDataKeyReusePeriodSeconds.
    pub reuse_seconds: i32,
}

impl Default for Encryption {
    fn default() -> Self {
        Self { sse_sqs: true, kms_master_key_id: None, kms_master_key: None, reuse_seconds: 300 }
    }
}

/// A queue's policy-like attributes as stored: its dead-letter queue and receive limit
/// (RedrivePolicy), which queues may use it as their dead-letter queue (RedriveAllowPolicy),
/// and its queue policy (Policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonAttributes {
    pub dlq_name: Option<String>,
    pub max_receive_count: Option<i32>,
    pub allow_policy: Option<String>,
    pub policy: Option<String>,
}

impl QueueRow {
    pub fn redrive(&self) -> JsonAttributes {
        JsonAttributes {
            dlq_name: self.dlq_name.clone(),
            max_receive_count: self.max_receive_count,
            allow_policy: self.redrive_allow_policy.clone(),
            policy: self.policy.clone(),
        }
    }

    pub fn encryption(&self) -> Encryption {
        Encryption {
            sse_sqs: self.sse_sqs,
            kms_master_key_id: self.kms_master_key_id.clone(),
            kms_master_key: self.kms_master_key.clone(),
            reuse_seconds: self.kms_reuse_seconds,
        }
    }

    pub fn settings(&self) -> QueueSettings {
        QueueSettings {
            delay_seconds: self.delay_seconds,
            maximum_message_size: self.maximum_message_size,
            retention_seconds: self.retention_seconds,
            receive_wait_seconds: self.receive_wait_seconds,
            visibility_timeout: self.visibility_timeout,
            fifo: self.fifo,
            content_based_dedup: self.content_based_dedup,
            dedup_per_group: self.dedup_per_group,
            throughput_per_group: self.throughput_per_group,
        }
    }
}

macro_rules! columns {
    () => {
        "id, account_id, name, delay_seconds, maximum_message_size, retention_seconds, \
         receive_wait_seconds, visibility_timeout, created_at, last_modified_at, \
         dlq_name, max_receive_count, redrive_allow_policy, policy, \
         sse_sqs, kms_master_key_id, kms_master_key, kms_reuse_seconds, \
         fifo, content_based_dedup, dedup_per_group, throughput_per_group, fair"
    };
}

/// Binds a queue's attributes, in the order both the insert and the update number them
/// (after the leading id, account and name, or id): settings, modified time, redrive and
/// policy, encryption, FIFO settings.
macro_rules! bind_attributes {
    ($q:expr, $s:expr, $now:expr, $r:expr, $e:expr) => {
        $q.bind($s.delay_seconds)
            .bind($s.maximum_message_size)
            .bind($s.retention_seconds)
            .bind($s.receive_wait_seconds)
            .bind($s.visibility_timeout)
            .bind($now)
            .bind(&$r.dlq_name)
            .bind($r.max_receive_count)
            .bind(&$r.allow_policy)
            .bind(&$r.policy)
            .bind($e.sse_sqs)
            .bind(&$e.kms_master_key_id)
            .bind(&$e.kms_master_key)
            .bind($e.reuse_seconds)
            .bind($s.fifo)
            .bind($s.content_based_dedup)
            .bind($s.dedup_per_group)
            .bind($s.throughput_per_group)
    };
}

/// The outcome of an idempotent create.
#[derive(Debug)]
pub enum Created {
    New(QueueRow),
    Existing(QueueRow),
}

impl PgStore {
    /// Creates the queue, or returns the existing one of the same name (one round trip
    /// in the common case; `ON CONFLICT` makes concurrent creates safe).
    pub async fn create_queue(
        &self,
        account_id: &str,
        name: &str,
        s: QueueSettings,
        r: &JsonAttributes,
        e: &Encryption,
        now: DateTime<Utc>,
    ) -> Result<Created, StoreError> {
        let insert = sqlx::query_as(concat!(
            "INSERT INTO queues (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, false)
             ON CONFLICT (account_id, name) DO NOTHING RETURNING ",
            columns!()
        ))
        .bind(Uuid::new_v4())
        .bind(account_id)
        .bind(name);
        let inserted: Option<QueueRow> = bind_attributes!(insert, s, now, r, e).fetch_optional(self.db()).await?;
        if let Some(row) = inserted {
            return Ok(Created::New(row));
        }
        match self.queue_by_name(account_id, name).await? {
            Some(row) => Ok(Created::Existing(row)),
            // Deleted between the two statements: report it as a conflict to retry.
            None => Err(StoreError::Conflict("queue")),
        }
    }

    pub async fn queue_by_name(&self, account_id: &str, name: &str) -> Result<Option<QueueRow>, StoreError> {
        Ok(sqlx::query_as(concat!("SELECT ", columns!(), " FROM queues WHERE account_id = $1 AND name = $2"))
            .bind(account_id)
            .bind(name)
            .fetch_optional(self.db())
            .await?)
    }

    /// Names of the account's queues starting with `prefix`, in name order, after `after`.
    pub async fn list_queue_names(
        &self,
        account_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM queues WHERE account_id = $1 AND starts_with(name, $2) AND ($3::text IS NULL OR name > $3)
             ORDER BY name COLLATE \"C\" LIMIT $4",
        )
        .bind(account_id)
        .bind(prefix)
        .bind(after)
        .bind(limit)
        .fetch_all(self.db())
        .await?)
    }

    /// Deletes a queue and (by cascade) its messages. Returns whether it existed.
    /// Deletes a queue, its messages and, in the same statement, its data keys
    /// (crypto-shredding) except those still sealing messages moved to another queue; and
    /// the kept keys of deleted source queues that only its own moved messages needed.
    /// Returns whether it existed and the ids of the data keys deleted.
    pub async fn delete_queue(&self, queue_id: uuid::Uuid) -> Result<(bool, Vec<i64>), StoreError> {
        let (existed, shredded): (bool, Vec<i64>) = sqlx::query_as(
            "WITH gone AS (DELETE FROM queues WHERE id = $1 RETURNING id),
             candidates AS (
                 SELECT id FROM queue_data_keys WHERE queue_id = $1
                 UNION
                 SELECT m.dek_id FROM messages m
                 WHERE m.queue_id = $1 AND m.sealed_queue_id IS NOT NULL AND m.sealed_queue_id <> $1
                   AND m.dek_id IS NOT NULL),
             shredded AS (
                 DELETE FROM queue_data_keys k USING candidates c
                 WHERE k.id = c.id AND EXISTS (SELECT 1 FROM gone)
                   -- its own keys, and keys of deleted source queues kept for moved messages
                   AND (k.queue_id = $1 OR NOT EXISTS (SELECT 1 FROM queues q WHERE q.id = k.queue_id))
                   -- unless a message moved elsewhere still needs it
                   AND NOT EXISTS (SELECT 1 FROM messages m
                                   WHERE m.sealed_queue_id = k.queue_id AND m.dek_id = k.id AND m.queue_id <> $1)
                 RETURNING k.id)
             SELECT EXISTS (SELECT 1 FROM gone), COALESCE((SELECT array_agg(id) FROM shredded), '{}')",
        )
        .bind(queue_id)
        .fetch_one(self.db_for_messages())
        .await?;
        Ok((existed, shredded))
    }
}

/// What a purge did.
#[derive(Debug, PartialEq, Eq)]
pub enum Purge {
    Done,
    /// A purge happened within the minimum interval; nothing was deleted.
    TooSoon,
}

impl PgStore {
    /// Replaces a queue's settable attributes and stamps `LastModifiedTimestamp`.
    pub async fn update_queue_settings(
        &self,
        queue_id: Uuid,
        s: QueueSettings,
        redrive: &JsonAttributes,
        e: &Encryption,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = sqlx::query(
            "UPDATE queues SET delay_seconds = $2, maximum_message_size = $3, retention_seconds = $4,
                 receive_wait_seconds = $5, visibility_timeout = $6, last_modified_at = $7,
                 dlq_name = $8, max_receive_count = $9, redrive_allow_policy = $10, policy = $11,
                 sse_sqs = $12, kms_master_key_id = $13, kms_master_key = $14, kms_reuse_seconds = $15,
                 fifo = $16, content_based_dedup = $17, dedup_per_group = $18, throughput_per_group = $19
             WHERE id = $1",
        )
        .bind(queue_id);
        let r = bind_attributes!(update, s, now, redrive, e).execute(self.db()).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records the provider key a queue's KmsMasterKeyId resolved to, if the queue still
    /// names that key and has none recorded. Whether it recorded one.
    pub async fn resolve_queue_master_key(
        &self,
        queue_id: Uuid,
        key_id: &str,
        master_key: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE queues SET kms_master_key = $3
             WHERE id = $1 AND kms_master_key_id = $2 AND kms_master_key IS NULL",
        )
        .bind(queue_id)
        .bind(key_id)
        .bind(master_key)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks a standard queue fair (it was sent a MessageGroupId). Whether it was not yet.
    pub async fn mark_fair(&self, queue_id: Uuid) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE queues SET fair = true WHERE id = $1 AND NOT fair")
            .bind(queue_id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes every message of the queue, unless it was purged less than `interval` ago.
    /// One transaction: the purge stamp and the deletion happen together.
    pub async fn purge_queue(
        &self,
        queue_id: Uuid,
        now: DateTime<Utc>,
        interval: chrono::TimeDelta,
    ) -> Result<Purge, StoreError> {
        let mut tx = self.db().begin().await?;
        self.db();
        let stamped = sqlx::query(
            "UPDATE queues SET purged_at = $2 WHERE id = $1 AND (purged_at IS NULL OR purged_at + $3 <= $2)",
        )
        .bind(queue_id)
        .bind(now)
        .bind(interval)
        .execute(&mut *tx)
        .await?;
        if stamped.rows_affected() == 0 {
            return Ok(Purge::TooSoon);
        }
        self.db_for_messages();
        sqlx::query("DELETE FROM messages WHERE queue_id = $1").bind(queue_id).execute(&mut *tx).await?;
        // A purge also forgets the FIFO deduplication ids (as on SQS).
        sqlx::query("DELETE FROM fifo_dedup WHERE queue_id = $1").bind(queue_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Purge::Done)
    }

    /// Every queue's id and retention, for the expiry sweep.
    pub async fn queue_retentions(&self) -> Result<Vec<(Uuid, i32)>, StoreError> {
        Ok(sqlx::query_as("SELECT id, retention_seconds FROM queues").fetch_all(self.db()).await?)
    }
}

impl PgStore {
    /// Names of the account's queues whose dead-letter queue is `dlq_name`, in name order.
    pub async fn dead_letter_sources(
        &self,
        account_id: &str,
        dlq_name: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM queues WHERE account_id = $1 AND dlq_name = $2 AND ($3::text IS NULL OR name > $3)
             ORDER BY name COLLATE \"C\" LIMIT $4",
        )
        .bind(account_id)
        .bind(dlq_name)
        .bind(after)
        .bind(limit)
        .fetch_all(self.db())
        .await?)
    }
}

impl PgStore {
    /// A queue's policy text (None: no queue, or no policy).
    pub async fn queue_policy(&self, account_id: &str, name: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>("SELECT policy FROM queues WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .fetch_optional(self.db())
            .await?
            .flatten())
    }
}

/// A queue's depth for the metrics.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueDepth {
    pub account_id: String,
    pub name: String,
    pub visible: i64,
    pub not_visible: i64,
    pub delayed: i64,
    /// Messages that arrived from a dead-letter move (this queue is someone's DLQ).
    pub dead_letters: i64,
    pub oldest: Option<DateTime<Utc>>,
}

impl PgStore {
    /// The `limit` deepest queues: visible and not-visible counts and the oldest message.
    pub async fn deepest_queues(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<QueueDepth>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT q.account_id, q.name,
                    count(*) FILTER (WHERE m.visible_at <= $1) AS visible,
                    count(*) FILTER (WHERE m.visible_at > $1 AND m.receive_count > 0) AS not_visible,
                    count(*) FILTER (WHERE m.visible_at > $1 AND m.receive_count = 0) AS delayed,
                    count(*) FILTER (WHERE m.dead_letter_source_arn IS NOT NULL) AS dead_letters,
                    min(m.sent_at) AS oldest
             FROM messages m JOIN queues q ON q.id = m.queue_id
             GROUP BY q.account_id, q.name ORDER BY count(*) DESC LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.db())
        .await?)
    }
}
