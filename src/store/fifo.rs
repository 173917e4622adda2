//! FIFO queues: sends that deduplicate and number their messages, and receives that take a
//! group's messages in order and never hand one group to two receivers at once.
//!
//! A group is locked with a transaction-scoped advisory lock on a key derived from the queue
//! and the group id (`group_lock`), taken by sends to the group and, with "skip if taken",
//! by receives. A receive reads what it may deliver only after it holds the lock, in a new
//! statement: every receive of the group before it has committed, so it sees their hidden
//! messages. No per-group rows exist, so there is no group bookkeeping to reclaim when a
//! group empties, however many groups come and go.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::messages::{Columns, DeadLetter, NewMessage, Received, ReceivedRow};
use super::{PgStore, StoreError};

/// The advisory-lock key of a group of a queue: the first 8 bytes of SHA-256 over a label,
/// the queue id and the group id. `group_lock_sql!` computes the same in SQL.
pub fn group_lock(queue_id: Uuid, group: &str) -> i64 {
    let digest =
        Sha256::new().chain_update(b"sluice-fifo-group\0").chain_update(queue_id.as_bytes()).chain_update(group);
    let d = digest.finalize();
    i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// How a FIFO send ended for one message: the message that holds its deduplication id (this
/// one if `fresh`, else the one sent first within the window) and that message's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub message_id: Uuid,
    pub seq: i64,
    pub fresh: bool,
}

/// A retried receive attempt.
#[derive(Debug)]
pub enum Replay {
    /// The messages first handed out, hidden again.
    Same(Vec<ReceivedRow>),
    /// One of them was deleted, received again or changed: the attempt cannot be retried.
    Changed,
}

/// One send's part of a grouped FIFO insert: its queue, its messages and their keyed
/// deduplication ids.
pub type FifoPart<'a> = (Uuid, &'a [NewMessage], &'a [Vec<u8>]);

/// `group_lock` in SQL, of the queue `$q` and the group `$g` (SQL expressions).
macro_rules! group_lock_sql {
    ($q:literal, $g:literal) => {
        concat!(
            "('x' || encode(substring(sha256('\\x736c756963652d6669666f2d67726f757000'::bytea || uuid_send(",
            $q,
            ") || convert_to(",
            $g,
            ", 'UTF8')) from 1 for 8), 'hex'))::bit(64)::bigint"
        )
    };
}

/// The lock key SQL computes for (queue, group), to check it against `group_lock`.
pub async fn group_lock_in_sql(store: &PgStore, queue_id: Uuid, group: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(concat!("SELECT ", group_lock_sql!("$1::uuid", "$2::text")))
        .bind(queue_id)
        .bind(group)
        .fetch_one(store.db())
        .await?)
}

/// How each of `msgs` (with `keys`) ended, from the records a FIFO insert returned.
pub fn sent_for(held: &[(Vec<u8>, Uuid, i64)], msgs: &[NewMessage], keys: &[Vec<u8>]) -> Result<Vec<Sent>, StoreError> {
    keys.iter()
        .zip(msgs)
        .map(|(key, m)| {
            let (_, message_id, seq) =
                held.iter().find(|(k, ..)| k == key).ok_or(StoreError::Conflict("deduplication record"))?;
            Ok(Sent { message_id: *message_id, seq: *seq, fresh: *message_id == m.id })
        })
        .collect()
}

/// One FIFO receive, as the store runs it.
#[derive(Debug, Clone, Copy)]
pub struct FifoReceive<'a> {
    pub queue_id: Uuid,
    pub now: DateTime<Utc>,
    /// Messages sent at or before this instant have expired.
    pub not_before: DateTime<Utc>,
    pub max: i64,
    pub visible_until: DateTime<Utc>,
    pub dead_letter: Option<DeadLetter<'a>>,
    /// Where the walk over the queue's groups starts: after this group id ("" from the first),
    /// so that successive receives go round the groups rather than always from the first.
    pub after: &'a str,
}

impl PgStore {
    /// Stores the FIFO messages of several sends (each for its own queue; every key distinct)
    /// in one statement and one commit: a key recorded within its window keeps its first
    /// message; the others are numbered, recorded until `expires_at` and stored. The
    /// statement takes every group's lock first (a materialized step the rest depends on, in
    /// one key order, so two statements never wait on each other crosswise), then draws the
    /// numbers in entry order: numbers grow within a group in the order sends commit.
    /// Returns each key's record as it stands: (key, message id, sequence number).
    pub async fn insert_fifo_grouped(
        &self,
        parts: &[FifoPart<'_>],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<(Vec<u8>, Uuid, i64)>, StoreError> {
        let n = parts.iter().map(|(_, m, _)| m.len()).sum();
        let mut queues = Vec::with_capacity(n);
        let mut columns = Columns::with_capacity(n);
        let mut sealed: Vec<Option<&[u8]>> = Vec::with_capacity(n);
        let mut key_refs: Vec<&[u8]> = Vec::with_capacity(n);
        let mut locks: Vec<i64> = Vec::with_capacity(n);
        for (queue_id, msgs, keys) in parts {
            for (m, k) in msgs.iter().zip(keys.iter()) {
                queues.push(*queue_id);
                columns.push(m);
                sealed.push(m.dedup_id_sealed.as_deref());
                key_refs.push(k.as_slice());
                if let Some(g) = m.group_id.as_deref() {
                    locks.push(group_lock(*queue_id, g));
                }
            }
        }
        locks.sort_unstable();
        locks.dedup();
        // A conflicting key answers its record as it stands: replaced when expired, else kept
        // (the no-op update makes the existing row come back through RETURNING, even when it
        // was committed by a send this one waited for).
        let query = sqlx::query(
            "WITH locked AS MATERIALIZED (
                 SELECT count(pg_advisory_xact_lock(k)) AS n FROM (SELECT k FROM UNNEST($14::bigint[]) AS k ORDER BY k) l),
             input AS MATERIALIZED (
                 SELECT m.*, nextval('message_seq') AS seq
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[],
                             $8::timestamptz[], $9::bigint[], $10::text[], $11::bytea[], $12::bytea[])
                      WITH ORDINALITY AS m(queue, id, body, attrs, trace, sender, sent, visible, dek, grp, dedup, key, ord),
                      locked
                 WHERE locked.n >= 0
                 ORDER BY m.ord),
             records AS (
                 INSERT INTO fifo_dedup AS d (queue_id, dedup_key, message_id, seq, expires_at)
                 SELECT queue, key, id, seq, $15 FROM input
                 ON CONFLICT (queue_id, dedup_key) DO UPDATE SET
                     message_id = CASE WHEN d.expires_at <= $13 THEN EXCLUDED.message_id ELSE d.message_id END,
                     seq = CASE WHEN d.expires_at <= $13 THEN EXCLUDED.seq ELSE d.seq END,
                     expires_at = CASE WHEN d.expires_at <= $13 THEN EXCLUDED.expires_at ELSE d.expires_at END
                 RETURNING d.dedup_key, d.message_id, d.seq),
             stored AS (
                 INSERT INTO messages (queue_id, id, body_sealed, attributes_sealed, trace_header, sender_id, sent_at,
                                       visible_at, dek_id, group_id, dedup_id_sealed, seq)
                 SELECT i.queue, i.id, i.body, i.attrs, i.trace, i.sender, i.sent, i.visible, i.dek, i.grp, i.dedup, i.seq
                 FROM input i JOIN records r ON r.dedup_key = i.key AND r.message_id = i.id)
             SELECT dedup_key, message_id, seq FROM records",
        );
        let rows = columns
            .bind(query, queues)
            .bind(sealed)
            .bind(&key_refs)
            .bind(now)
            .bind(&locks)
            .bind(expires_at)
            .fetch_all(self.db_for_messages())
            .await
            .map_err(StoreError::from_insert)?;
        use sqlx::Row;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get::<Vec<u8>, _>(0)?, r.try_get::<Uuid, _>(1)?, r.try_get::<i64, _>(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// Takes up to `max` messages of a FIFO queue and hides them until `visible_until`: from
    /// the groups whose oldest message is visible, in group order from `after`, each group's
    /// messages in order up to its first hidden one. A message past the dead-letter queue's receive
    /// limit moves there (keeping its group and deduplication id, with a new number) instead.
    /// Returns the messages in delivery order.
    pub async fn receive_fifo(&self, req: &FifoReceive<'_>) -> Result<Received, StoreError> {
        let FifoReceive { queue_id, now, not_before, max, visible_until, dead_letter, after } = *req;
        let mut tx = self.db().begin().await?;
        // Groups whose head (oldest unexpired message) is visible now, walked in group order
        // from `after` (wrapping round), one index descent per group: a group whose backlog
        // waits behind a message in flight costs one descent, not a scan of its backlog.
        let mut groups: Vec<String> = Vec::new();
        for (from, below) in [(after, None), ("", (!after.is_empty()).then_some(after))] {
            if groups.len() as i64 >= max {
                break;
            }
            // The locks are taken as the walk finds visible heads, and the walk stops once it
            // holds enough groups.
            let more: Vec<String> = sqlx::query_scalar(concat!(
                "WITH RECURSIVE g AS (
                     (SELECT group_id FROM messages
                      WHERE queue_id = $1 AND seq IS NOT NULL AND group_id > $4 AND ($5::text IS NULL OR group_id <= $5)
                      ORDER BY group_id LIMIT 1)
                     UNION ALL
                     SELECT (SELECT m.group_id FROM messages m
                             WHERE m.queue_id = $1 AND m.seq IS NOT NULL AND m.group_id > g.group_id
                               AND ($5::text IS NULL OR m.group_id <= $5)
                             ORDER BY m.group_id LIMIT 1)
                     FROM g WHERE g.group_id IS NOT NULL)
                 SELECT g.group_id FROM g
                 CROSS JOIN LATERAL (
                     SELECT h.visible_at FROM messages h
                     WHERE h.queue_id = $1 AND h.group_id = g.group_id AND h.seq IS NOT NULL AND h.sent_at > $3
                     ORDER BY h.seq LIMIT 1) head
                 WHERE g.group_id IS NOT NULL
                   AND CASE WHEN head.visible_at <= $2 THEN pg_try_advisory_xact_lock(",
                group_lock_sql!("$1", "g.group_id"),
                ") ELSE false END
                 LIMIT $6"
            ))
            .bind(queue_id)
            .bind(now)
            .bind(not_before)
            .bind(from)
            .bind(below)
            .bind(max - groups.len() as i64)
            .fetch_all(&mut *tx)
            .await?;
            groups.extend(more);
        }
        if groups.is_empty() {
            tx.commit().await?;
            let next_visible_at = self.next_visible(queue_id, now, not_before).await?;
            return Ok(Received { rows: Vec::new(), next_visible_at, inflight_full: false });
        }
        // Under the locks, in a new statement: every earlier receive of these groups is seen.
        let dl = dead_letter;
        let mut rows: Vec<ReceivedRow> = sqlx::query_as(concat!(
            "WITH locked AS (SELECT g, o FROM UNNEST($10::text[]) WITH ORDINALITY AS l(g, o)),
             cand AS (
                 SELECT m.id, m.receive_count, m.seq, m.visible_at, l.o
                 FROM locked l CROSS JOIN LATERAL (
                     SELECT id, receive_count, seq, visible_at FROM messages
                     WHERE queue_id = $1 AND group_id = l.g AND seq IS NOT NULL AND sent_at > $3
                     ORDER BY seq LIMIT $4) m),
             picked AS (
                 SELECT c.id, c.receive_count, c.seq, c.o FROM cand c
                 WHERE NOT EXISTS (SELECT 1 FROM cand d WHERE d.o = c.o AND d.seq <= c.seq AND d.visible_at > $2)
                 ORDER BY c.o, c.seq LIMIT $4),",
            super::messages::dead_letter_tail!()
        ))
        .bind(queue_id)
        .bind(now)
        .bind(not_before)
        .bind(max)
        .bind(visible_until)
        .bind(dl.map(|d| d.max_receive_count))
        .bind(dl.map(|d| d.account_id))
        .bind(dl.map(|d| d.dlq_name))
        .bind(dl.map(|d| d.source_arn))
        .bind(&groups)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        // Delivery order: group by group as chosen, each in sequence.
        rows.sort_by_key(|r| (groups.iter().position(|g| Some(g) == r.group_id.as_ref()), r.seq));
        Ok(Received { rows, next_visible_at: None, inflight_full: false })
    }

    /// Deletes FIFO messages by (id, receive) if that receive still holds them at `now`.
    /// Returns, per message, whether it was deleted and, if not, whether it is still there
    /// (its handle has expired) rather than gone already.
    pub async fn delete_fifo(
        &self,
        queue_id: Uuid,
        receipts: &[(Uuid, i32)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, bool, bool)>, StoreError> {
        let ids: Vec<Uuid> = receipts.iter().map(|r| r.0).collect();
        let seqs: Vec<i32> = receipts.iter().map(|r| r.1).collect();
        Ok(sqlx::query_as(
            "WITH gone AS (
                 DELETE FROM messages m USING UNNEST($2::uuid[], $3::int[]) AS v(id, seq)
                 WHERE m.queue_id = $1 AND m.id = ANY($2) AND m.id = v.id AND m.receive_count = v.seq
                   AND m.visible_at > $4
                 RETURNING m.id)
             SELECT v.id, v.id IN (SELECT id FROM gone),
                    EXISTS (SELECT 1 FROM messages x WHERE x.queue_id = $1 AND x.id = v.id)
             FROM UNNEST($2::uuid[]) AS v(id)",
        )
        .bind(queue_id)
        .bind(&ids)
        .bind(&seqs)
        .bind(now)
        .fetch_all(self.db_for_messages())
        .await?)
    }

    /// Records what a FIFO receive with a ReceiveRequestAttemptId handed out (replacing an
    /// expired record of the same id).
    pub async fn record_attempt(
        &self,
        queue_id: Uuid,
        attempt_id: &str,
        received: &[(Uuid, i32)],
        visible_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = received.iter().map(|r| r.0).collect();
        let counts: Vec<i32> = received.iter().map(|r| r.1).collect();
        sqlx::query(
            "INSERT INTO fifo_attempts (queue_id, attempt_id, message_ids, receive_counts, visible_until, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (queue_id, attempt_id) DO UPDATE
                 SET message_ids = EXCLUDED.message_ids, receive_counts = EXCLUDED.receive_counts,
                     visible_until = EXCLUDED.visible_until, expires_at = EXCLUDED.expires_at",
        )
        .bind(queue_id)
        .bind(attempt_id)
        .bind(&ids)
        .bind(&counts)
        .bind(visible_until)
        .bind(expires_at)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Replays a recorded receive attempt: its messages, hidden again until `visible_until`,
    /// in the order first handed out, if none was deleted, received again or had its
    /// visibility changed since. `None` when no record of the attempt lives at `now`.
    pub async fn replay_attempt(
        &self,
        queue_id: Uuid,
        attempt_id: &str,
        now: DateTime<Utc>,
        visible_until: DateTime<Utc>,
    ) -> Result<Option<Replay>, StoreError> {
        let mut tx = self.db().begin().await?;
        let record: Option<(Vec<Uuid>, Vec<i32>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT message_ids, receive_counts, visible_until FROM fifo_attempts
             WHERE queue_id = $1 AND attempt_id = $2 AND expires_at > $3 FOR UPDATE",
        )
        .bind(queue_id)
        .bind(attempt_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((ids, counts, was)) = record else { return Ok(None) };
        let mut rows: Vec<ReceivedRow> = sqlx::query_as(
            "UPDATE messages m SET visible_at = $5
             FROM UNNEST($2::uuid[], $3::int[]) AS v(id, rc)
             WHERE m.queue_id = $1 AND m.id = ANY($2) AND m.id = v.id AND m.receive_count = v.rc
               AND m.visible_at = $4
             RETURNING m.id, m.body_sealed, m.attributes_sealed, m.sender_id, m.trace_header, m.sent_at, m.receive_count,
                       m.first_received_at, m.sealed_queue_id, m.dead_letter_source_arn, m.group_id, m.dedup_id_sealed, m.seq",
        )
        .bind(queue_id)
        .bind(&ids)
        .bind(&counts)
        .bind(was)
        .bind(visible_until)
        .fetch_all(&mut *tx)
        .await?;
        if rows.len() != ids.len() {
            // Something changed: nothing is hidden again (the transaction is dropped).
            return Ok(Some(Replay::Changed));
        }
        sqlx::query("UPDATE fifo_attempts SET visible_until = $3 WHERE queue_id = $1 AND attempt_id = $2")
            .bind(queue_id)
            .bind(attempt_id)
            .bind(visible_until)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
        Ok(Some(Replay::Same(rows)))
    }

    /// Forgets every deduplication record of a queue (PurgeQueue).
    pub async fn clear_dedup(&self, queue_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM fifo_dedup WHERE queue_id = $1").bind(queue_id).execute(self.db()).await?;
        Ok(())
    }
}
