//! Messages. Receiving uses `FOR UPDATE SKIP LOCKED`, so many consumers and instances
//! share a queue without handing one message to two of them inside a visibility window.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, StoreError};

/// A message to insert; body and attributes are already sealed.
#[derive(Debug)]
pub struct NewMessage {
    pub id: Uuid,
    pub body_sealed: Vec<u8>,
    pub attributes_sealed: Option<Vec<u8>>,
    pub trace_header: Option<String>,
    pub sender_id: String,
    pub sent_at: DateTime<Utc>,
    pub visible_at: DateTime<Utc>,
    /// The data key that sealed body and attributes (None: the service master key).
    pub dek_id: Option<i64>,
    /// MessageGroupId (FIFO queues, and fair standard queues).
    pub group_id: Option<String>,
    /// MessageDeduplicationId, sealed like the attributes (FIFO queues).
    pub dedup_id_sealed: Option<Vec<u8>>,
}

/// A message as handed out by a receive.
#[derive(Debug, sqlx::FromRow)]
pub struct ReceivedRow {
    pub id: Uuid,
    pub body_sealed: Vec<u8>,
    pub attributes_sealed: Option<Vec<u8>>,
    pub sender_id: String,
    pub trace_header: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub receive_count: i32,
    pub first_received_at: Option<DateTime<Utc>>,
    /// The queue whose sealing context the body and attributes use (None: this queue).
    pub sealed_queue_id: Option<Uuid>,
    pub dead_letter_source_arn: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id_sealed: Option<Vec<u8>>,
    /// The SequenceNumber (FIFO queues).
    pub seq: Option<i64>,
}

/// Where messages received too often go: the dead-letter queue (by account and name) and
/// the receive count a message may reach before the next receive moves it.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    pub account_id: &'a str,
    pub dlq_name: &'a str,
    pub max_receive_count: i32,
    /// The ARN of the queue messages leave (DeadLetterQueueSourceArn in the DLQ).
    pub source_arn: &'a str,
}

/// The state of one message, for explaining a refused visibility change.
#[derive(Debug, sqlx::FromRow)]
pub struct InflightRow {
    pub id: Option<Uuid>,
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

/// One receive, as the store runs it.
#[derive(Debug, Clone, Copy)]
pub struct ReceiveRequest<'a> {
    pub queue_id: Uuid,
    pub now: DateTime<Utc>,
    /// Messages sent at or before this instant have expired.
    pub not_before: DateTime<Utc>,
    pub max: i64,
    pub visible_until: DateTime<Utc>,
    pub dead_letter: Option<DeadLetter<'a>>,
    /// Keep at most this many in flight (None: the caller knows the queue is far below its
    /// limit, and the count, a scan of the in-flight messages, is skipped).
    pub max_inflight: Option<i64>,
    /// A fair queue: take the groups' messages in turn (see `fair_pick!`).
    pub fair: bool,
}

/// Which visible messages a receive takes: the oldest first.
macro_rules! oldest_pick {
    () => {
        "picked AS (
                 SELECT id, receive_count FROM messages
                 WHERE queue_id = $1 AND visible_at <= $2 AND sent_at > $3
                 ORDER BY visible_at
                 LIMIT CASE WHEN $10::bigint IS NULL THEN $4
                            ELSE LEAST($4, GREATEST($10 - (SELECT n FROM inflight), 0)) END
                 FOR UPDATE SKIP LOCKED),"
    };
}

/// A fair queue's pick: each group's oldest visible message in turn (every group's first,
/// then every group's second, …), among the oldest 50,000 visible messages, so one
/// group's backlog does not hold the others' messages behind it. Messages without a group
/// count as one group.
macro_rules! fair_pick {
    () => {
        "recent AS (
                 SELECT id, group_id, visible_at FROM messages
                 WHERE queue_id = $1 AND visible_at <= $2 AND sent_at > $3
                 ORDER BY visible_at LIMIT 50000),
             turns AS (
                 SELECT ARRAY(SELECT id FROM (
                     SELECT id, visible_at, row_number() OVER (PARTITION BY group_id ORDER BY visible_at) AS turn
                     FROM recent) t ORDER BY turn, visible_at LIMIT $4 * 4) AS ids),
             picked AS (
                 SELECT m.id, m.receive_count FROM messages m, turns
                 WHERE m.queue_id = $1 AND m.id = ANY(turns.ids) AND m.visible_at <= $2
                 ORDER BY array_position(turns.ids, m.id)
                 LIMIT CASE WHEN $10::bigint IS NULL THEN $4
                            ELSE LEAST($4, GREATEST($10 - (SELECT n FROM inflight), 0)) END
                 FOR UPDATE OF m SKIP LOCKED),"
    };
}

/// The end of every receive, after a `picked` CTE of (id, receive_count): messages past the
/// receive limit move to the dead-letter queue (with group and sealed deduplication id; FIFO
/// ones renumbered in order), the others are hidden until `$5`, received at `$2` (now).
/// `$1`: the queue; `$6`–`$9`: the dead-letter queue's limit, account, name, source ARN.
macro_rules! dead_letter_tail {
    () => {
        "dlq AS (SELECT id FROM queues WHERE $6::int IS NOT NULL AND account_id = $7 AND name = $8),
             moved AS (
                 DELETE FROM messages m
                 WHERE m.queue_id = $1 AND m.id = ANY(ARRAY(SELECT id FROM picked WHERE receive_count >= $6))
                   AND EXISTS (SELECT 1 FROM dlq)
                 RETURNING m.*),
             into_dlq AS (
                 INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at,
                                       visible_at, sealed_queue_id, dead_letter_source_arn, dek_id, group_id,
                                       dedup_id_sealed, seq)
                 SELECT dlq.id, mv.id, mv.body_sealed, mv.attributes_sealed, mv.trace_header, mv.sender_id, mv.sent_at,
                        $2, COALESCE(mv.sealed_queue_id, mv.queue_id), COALESCE(mv.dead_letter_source_arn, $9), mv.dek_id,
                        mv.group_id, mv.dedup_id_sealed, CASE WHEN mv.seq IS NOT NULL THEN nextval('message_seq') END
                 FROM (SELECT * FROM moved ORDER BY seq) mv, dlq
                 RETURNING 1)
             UPDATE messages m
             SET visible_at = $5,
                 receive_count = m.receive_count + 1,
                 first_received_at = COALESCE(m.first_received_at, $2),
                 last_received_at = $2
             WHERE m.queue_id = $1 AND m.id = ANY(ARRAY(SELECT id FROM picked))
               AND NOT (m.receive_count >= $6 AND EXISTS (SELECT 1 FROM dlq))
             RETURNING m.id, m.body_sealed, m.attributes_sealed, m.sender_id, m.trace_header, m.sent_at, m.receive_count,
                       m.first_received_at, m.sealed_queue_id, m.dead_letter_source_arn, m.group_id, m.dedup_id_sealed, m.seq"
    };
}
pub(super) use dead_letter_tail;

/// The receive statement around a pick (`oldest_pick!` or `fair_pick!`).
macro_rules! receive_sql {
    ($pick:expr) => {
        concat!(
            "WITH inflight AS (
                 SELECT count(*) AS n FROM (SELECT 1 FROM messages
                     WHERE queue_id = $1 AND visible_at > $2 AND receive_count > 0 LIMIT $10) x),",
            $pick,
            dead_letter_tail!()
        )
    };
}

/// The outcome of a receive: messages, or when the next one becomes visible by time alone.
#[derive(Debug)]
pub struct Received {
    pub rows: Vec<ReceivedRow>,
    pub next_visible_at: Option<DateTime<Utc>>,
    /// Nothing was taken because the queue holds the most in-flight messages allowed.
    pub inflight_full: bool,
}

/// The columns of messages to insert, as arrays for `UNNEST`, bound as `$1` (the queue) and
/// `$2`–`$10` (id, body, attributes, trace header, sender, sent, visible, data key, group).
pub(super) struct Columns<'a> {
    ids: Vec<Uuid>,
    bodies: Vec<&'a [u8]>,
    attrs: Vec<Option<&'a [u8]>>,
    traces: Vec<Option<&'a str>>,
    senders: Vec<&'a str>,
    sent: Vec<DateTime<Utc>>,
    visible: Vec<DateTime<Utc>>,
    deks: Vec<Option<i64>>,
    groups: Vec<Option<&'a str>>,
}

pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl<'a> Columns<'a> {
    pub(super) fn of(msgs: &'a [NewMessage]) -> Self {
        let mut c = Self::with_capacity(msgs.len());
        msgs.iter().for_each(|m| c.push(m));
        c
    }

    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            bodies: Vec::with_capacity(n),
            attrs: Vec::with_capacity(n),
            traces: Vec::with_capacity(n),
            senders: Vec::with_capacity(n),
            sent: Vec::with_capacity(n),
            visible: Vec::with_capacity(n),
            deks: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, m: &'a NewMessage) {
        self.ids.push(m.id);
        self.bodies.push(m.body_sealed.as_slice());
        self.attrs.push(m.attributes_sealed.as_deref());
        self.traces.push(m.trace_header.as_deref());
        self.senders.push(m.sender_id.as_str());
        self.sent.push(m.sent_at);
        self.visible.push(m.visible_at);
        self.deks.push(m.dek_id);
        self.groups.push(m.group_id.as_deref());
    }

    pub(super) fn bind<'q, Q>(self, q: PgQuery<'q>, queue: Q) -> PgQuery<'q>
    where
        'a: 'q,
        Q: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        q.bind(queue)
            .bind(self.ids)
            .bind(self.bodies)
            .bind(self.attrs)
            .bind(self.traces)
            .bind(self.senders)
            .bind(self.sent)
            .bind(self.visible)
            .bind(self.deks)
            .bind(self.groups)
    }
}

impl PgStore {
    /// Inserts the messages of several sends, each for its own queue, in one statement and
    /// one commit (the group commit of concurrent sends); returns once committed. A queue
    /// deleted meanwhile fails the whole statement with `StoreError::Gone`.
    pub async fn insert_grouped(&self, groups: &[(Uuid, &[NewMessage])]) -> Result<(), StoreError> {
        let n = groups.iter().map(|(_, m)| m.len()).sum();
        let mut queues = Vec::with_capacity(n);
        let mut columns = Columns::with_capacity(n);
        for (queue_id, msgs) in groups {
            for m in *msgs {
                queues.push(*queue_id);
                columns.push(m);
            }
        }
        columns
            .bind(sqlx::query(
                "INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at, visible_at, dek_id, group_id)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::text[])",
            ), queues)
            .execute(self.db_for_messages())
            .await
            .map_err(StoreError::from_insert)?;
        Ok(())
    }

    /// Deletes the messages of several requests, each of its own queue, in one statement and
    /// one commit (those already gone are ignored).
    pub async fn delete_grouped(&self, groups: &[(Uuid, &[Uuid])]) -> Result<(), StoreError> {
        let n = groups.iter().map(|(_, ids)| ids.len()).sum();
        let (mut queues, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (queue_id, of_queue) in groups {
            for id in *of_queue {
                queues.push(*queue_id);
                ids.push(*id);
            }
        }
        sqlx::query(
            "DELETE FROM messages m
             WHERE m.queue_id = ANY($1) AND m.id = ANY($2)
               AND (m.queue_id, m.id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))",
        )
        .bind(queues)
        .bind(ids)
        .execute(self.db_for_messages())
        .await?;
        Ok(())
    }

    /// Inserts the messages whose event key (`keys[i]` for `msgs[i]`) has not been seen on
    /// this queue in an unexpired receipt, and records those keys until `expires_at`; one
    /// statement, so a replay racing the original enqueues each event once. Keys must be
    /// distinct. Returns the ids inserted.
    pub async fn insert_messages_once(
        &self,
        queue_id: Uuid,
        msgs: &[NewMessage],
        keys: &[Vec<u8>],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let columns = Columns::of(msgs);
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let query = sqlx::query(
            "WITH claimed AS (
                 INSERT INTO event_receipts (queue_id, dedup_key, expires_at)
                 SELECT $1, k, $13 FROM UNNEST($11::bytea[]) AS k
                 ON CONFLICT (queue_id, dedup_key) DO UPDATE SET expires_at = EXCLUDED.expires_at
                     WHERE event_receipts.expires_at <= $12
                 RETURNING dedup_key)
             INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at, visible_at, dek_id, group_id)
             SELECT $1, m.id, m.body, m.attrs, m.trace, m.sender, m.sent, m.visible, m.dek, m.grp
             FROM UNNEST($2::uuid[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::text[], $11::bytea[])
                  AS m(id, body, attrs, trace, sender, sent, visible, dek, grp, key)
             WHERE m.key IN (SELECT dedup_key FROM claimed)
             RETURNING id",
        );
        let rows = columns
            .bind(query, queue_id)
            .bind(keys)
            .bind(now)
            .bind(expires_at)
            .fetch_all(self.db_for_messages())
            .await?;
        use sqlx::Row;
        Ok(rows.iter().map(|r| r.try_get::<Uuid, _>(0)).collect::<Result<_, _>>()?)
    }

    /// Undoes a receive that could not be handed out (the key provider was unavailable):
    /// receive counts go back, the messages are visible again.
    pub async fn undo_receive(&self, queue_id: Uuid, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE messages SET receive_count = GREATEST(receive_count - 1, 0), visible_at = $3,
                 first_received_at = CASE WHEN receive_count <= 1 THEN NULL ELSE first_received_at END
             WHERE queue_id = $1 AND id = ANY($2)",
        )
        .bind(queue_id)
        .bind(ids)
        .bind(now)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Sets messages aside that do not open: never visible again, gone at retention.
    pub async fn set_aside(&self, queue_id: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET visible_at = 'infinity' WHERE queue_id = $1 AND id = ANY($2)")
            .bind(queue_id)
            .bind(ids)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Forgets event receipts, FIFO deduplication records and receive attempts of a queue
    /// whose window has passed.
    pub async fn delete_expired_receipts(&self, queue_id: Uuid, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "WITH dedup AS (DELETE FROM fifo_dedup WHERE queue_id = $1 AND expires_at <= $2 RETURNING 1),
                  attempts AS (DELETE FROM fifo_attempts WHERE queue_id = $1 AND expires_at <= $2 RETURNING 1),
                  events AS (DELETE FROM event_receipts WHERE queue_id = $1 AND expires_at <= $2 RETURNING 1)
             SELECT (SELECT count(*) FROM dedup) + (SELECT count(*) FROM attempts) + (SELECT count(*) FROM events)",
        )
        .bind(queue_id)
        .bind(now)
        .fetch_one(self.db())
        .await?;
        use sqlx::Row;
        Ok(r.try_get::<i64, _>(0)? as u64)
    }

    /// Takes up to `max` visible messages sent after `not_before` (older ones have expired)
    /// and hides them until `visible_until`, keeping at most `max_inflight` in flight. When
    /// none is taken, also tells when the next message becomes visible by time alone, and
    /// whether the in-flight limit is why.
    pub async fn receive_messages(&self, req: &ReceiveRequest<'_>) -> Result<Received, StoreError> {
        let ReceiveRequest { queue_id, now, not_before, max, visible_until, dead_letter, max_inflight, fair } = *req;
        // One statement: pick visible messages; those that would exceed the receive limit
        // move to the dead-letter queue (if it exists) instead of being returned, atomically.
        // The picked ids are handed on as arrays (`id = ANY(ARRAY(...))`), so each change can
        // be a primary-key lookup; a join on the picked rows can scan every message of a queue
        // its statistics think is empty. Plans are generic (see `PgStore::connect`).
        let dl = dead_letter;
        let sql = if fair { receive_sql!(fair_pick!()) } else { receive_sql!(oldest_pick!()) };
        let rows: Vec<ReceivedRow> = sqlx::query_as(sql)
            .bind(queue_id)
            .bind(now)
            .bind(not_before)
            .bind(max)
            .bind(visible_until)
            .bind(dl.map(|d| d.max_receive_count))
            .bind(dl.map(|d| d.account_id))
            .bind(dl.map(|d| d.dlq_name))
            .bind(dl.map(|d| d.source_arn))
            .bind(max_inflight)
            .fetch_all(self.db())
            .await?;
        if !rows.is_empty() {
            return Ok(Received { rows, next_visible_at: None, inflight_full: false });
        }
        let (next_visible_at, inflight): (Option<DateTime<Utc>>, i64) = sqlx::query_as(
            "SELECT (SELECT min(visible_at) FROM messages WHERE queue_id = $1 AND visible_at > $2 AND sent_at > $3),
                    CASE WHEN $4::bigint IS NULL THEN 0 ELSE (SELECT count(*) FROM (SELECT 1 FROM messages
                         WHERE queue_id = $1 AND visible_at > $2 AND receive_count > 0 LIMIT $4) x) END",
        )
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .bind(max_inflight)
        .fetch_one(self.db())
        .await?;
        Ok(Received { rows, next_visible_at, inflight_full: max_inflight.is_some_and(|m| inflight >= m) })
    }

    /// When the next message of the queue becomes visible by time alone (None: none will).
    pub async fn next_visible(
        &self,
        queue_id: Uuid,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT min(visible_at) FROM messages WHERE queue_id = $1 AND visible_at > $2 AND sent_at > $3",
        )
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .fetch_one(self.db())
        .await?)
    }

    /// How many messages of the queue are in flight, counting up to `cap`.
    pub async fn count_inflight(&self, queue_id: Uuid, now: DateTime<Utc>, cap: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM messages
                 WHERE queue_id = $1 AND visible_at > $2 AND receive_count > 0 LIMIT $3) x",
        )
        .bind(queue_id)
        .bind(now)
        .bind(cap)
        .fetch_one(self.db())
        .await?)
    }

    /// The batch form of `change_visibility`: each (id, seq, new deadline) changes under the
    /// same conditions; returns the ids that changed. One statement.
    pub async fn change_visibilities(
        &self,
        queue_id: Uuid,
        changes: &[(Uuid, i32, DateTime<Utc>)],
        now: DateTime<Utc>,
        cap: chrono::TimeDelta,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<Uuid> = changes.iter().map(|c| c.0).collect();
        let seqs: Vec<i32> = changes.iter().map(|c| c.1).collect();
        let deadlines: Vec<DateTime<Utc>> = changes.iter().map(|c| c.2).collect();
        Ok(sqlx::query_scalar(
            "UPDATE messages m SET visible_at = v.deadline
             FROM UNNEST($2::uuid[], $3::int[], $4::timestamptz[]) AS v(id, seq, deadline)
             WHERE m.queue_id = $1 AND m.id = ANY($2) AND m.id = v.id AND m.receive_count = v.seq AND m.visible_at > $5
               AND m.last_received_at + $6 >= v.deadline
             RETURNING m.id",
        )
        .bind(queue_id)
        .bind(ids)
        .bind(seqs)
        .bind(deadlines)
        .bind(now)
        .bind(cap)
        .fetch_all(self.db())
        .await?)
    }

    /// The states of several messages (to explain refused changes in a batch).
    pub async fn inflight_states(&self, queue_id: Uuid, ids: &[Uuid]) -> Result<Vec<(Uuid, InflightRow)>, StoreError> {
        let rows: Vec<InflightRow> = sqlx::query_as(
            "SELECT id, receive_count, visible_at, last_received_at FROM messages WHERE queue_id = $1 AND id = ANY($2)",
        )
        .bind(queue_id)
        .bind(ids)
        .fetch_all(self.db())
        .await?;
        Ok(rows.into_iter().filter_map(|r| r.id.map(|id| (id, r))).collect())
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
            "SELECT id, receive_count, visible_at, last_received_at FROM messages WHERE queue_id = $1 AND id = $2",
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

    /// Deletes up to `limit` messages of the queue sent at or before `not_after`. With
    /// `below`, only among messages whose id is below it: message ids are time-ordered
    /// (`queue::message::new_message_id`), so that is a range of the primary key and costs
    /// what the expired messages cost, however many others the queue holds. Without it, every
    /// message of the queue is looked at (ids that are not time-ordered: messages stored
    /// before ids were). The range is taken in id order, which makes even a generic plan walk
    /// the primary key (without it, a plan that expects matches everywhere scans the table).
    pub async fn delete_expired(
        &self,
        queue_id: Uuid,
        not_after: DateTime<Utc>,
        limit: i64,
        below: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let sql = match below {
            Some(_) => {
                "DELETE FROM messages WHERE queue_id = $1 AND id = ANY(ARRAY(
                     SELECT id FROM messages WHERE queue_id = $1 AND id < $4 AND sent_at <= $2 ORDER BY id LIMIT $3))"
            }
            None => {
                "DELETE FROM messages WHERE queue_id = $1 AND id = ANY(ARRAY(
                     SELECT id FROM messages WHERE queue_id = $1 AND sent_at <= $2 LIMIT $3))"
            }
        };
        let query = sqlx::query(sql).bind(queue_id).bind(not_after).bind(limit);
        let query = match below {
            Some(below) => query.bind(below),
            None => query,
        };
        let r = query.execute(self.db_for_messages()).await?;
        Ok(r.rows_affected())
    }

    /// Rows of `messages` inserted and deleted since PostgreSQL's statistics began, by every
    /// instance (each backend reports within a second or so of going idle, at most a minute
    /// late); 0 when the statistics are off.
    pub async fn messages_churn(&self) -> Result<i64, StoreError> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT (n_tup_ins + n_tup_del)::bigint FROM pg_stat_user_tables WHERE relid = 'messages'::regclass",
        )
        .fetch_optional(self.db())
        .await?;
        Ok(n.unwrap_or(0))
    }
}
