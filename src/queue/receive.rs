//! Receiving: ReceiveMessage, short and long polls, the in-flight bound, redrive to the
//! dead-letter queue, and opening what was sealed (a message that does not open is set aside).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::message::{self, MessageAttributes};
use super::receipt::Receipt;
use super::service::*;
use super::{QueueRef, SqsError, md5};
use crate::domain::MessageId;
use crate::store::QueueRow;
use crate::store::fifo::{FifoReceive, Replay};
use crate::store::messages::{DeadLetter, ReceiveRequest};

/// What ReceiveMessage needs.
#[derive(Debug, Default)]
pub struct ReceiveInput {
    pub max_messages: Option<i32>,
    pub visibility_timeout: Option<i32>,
    pub wait_seconds: Option<i32>,
    /// Union of `AttributeNames` and `MessageSystemAttributeNames`.
    pub system_attribute_names: Vec<String>,
    pub message_attribute_names: Vec<String>,
    /// The account of the caller (long polls are bounded per caller account).
    pub caller_account: String,
    /// ReceiveRequestAttemptId (FIFO queues).
    pub attempt_id: Option<String>,
}

/// A received message, ready to serialize.
#[derive(Debug)]
pub struct ReceivedMessage {
    pub message_id: MessageId,
    pub receipt_handle: String,
    pub md5_of_body: String,
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
    pub md5_of_message_attributes: Option<String>,
    pub message_attributes: MessageAttributes,
}

/// Why a received message did not open. The key provider being away undoes the receive and is
/// answered (`KmsThrottled`); a database failure is answered; anything else is the message's
/// own fault (tampered, or sealed under a destroyed key): it is set aside, the rest returned.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// How often a queue's in-flight messages are counted (see `inflight_limit`).
const INFLIGHT_RECOUNT: Duration = Duration::from_secs(1);

impl QueueService {
    /// ReceiveMessage: a short poll, or a long poll that sleeps until a send to the queue
    /// wakes it, the next delayed or in-flight message becomes visible, or the wait ends.
    /// No database connection is held while it sleeps.
    pub async fn receive_message(&self, r: &QueueRef, input: ReceiveInput) -> Result<Vec<ReceivedMessage>, SqsError> {
        let max = in_range("MaxNumberOfMessages", input.max_messages, 1, MAX_RECEIVE)?.unwrap_or(1);
        let visibility = in_range("VisibilityTimeout", input.visibility_timeout, 0, MAX_VISIBILITY)?;
        let wait = in_range("WaitTimeSeconds", input.wait_seconds, 0, MAX_WAIT_SECONDS)?;
        if let Some(attempt) = &input.attempt_id {
            super::fifo::check_token("ReceiveRequestAttemptId", attempt)?;
        }
        let q = self.hot_queue(r).await?;
        let visibility = TimeDelta::seconds(visibility.unwrap_or(q.visibility_timeout).into());
        if let Some(attempt) = &input.attempt_id {
            if !q.fifo {
                return Err(super::fifo::not_for_this_queue_type("ReceiveRequestAttemptId", attempt));
            }
            // A retry of an attempt: the same messages and handles, or AWS's refusal.
            let now = self.clock.now();
            match self.store.replay_attempt(q.id, attempt, now, now + visibility).await? {
                Some(Replay::Same(rows)) => return self.open_all(&q, rows, &input, now).await,
                Some(Replay::Changed) => {
                    return Err(SqsError::InvalidParameterValue(format!(
                        "Value {attempt} for parameter ReceiveRequestAttemptId is invalid. Reason: The receiveRequestAttemptId is not valid anymore since the receive call is not retryable."
                    )));
                }
                None => {}
            }
        }
        let wait = Duration::from_secs(wait.unwrap_or(q.receive_wait_seconds).max(0) as u64);
        let deadline = tokio::time::Instant::now() + wait;
        // Open long polls are bounded per caller account and in all; past either bound a
        // caller is asked to slow down.
        let (_permit, _account_permit) = if wait.is_zero() {
            (None, None)
        } else {
            let mine = self.quotas.open_long_poll(&input.caller_account).await?;
            (
                Some(self.long_polls.clone().try_acquire_owned().map_err(|_| super::quotas::too_many_long_polls())?),
                Some(mine),
            )
        };
        let source_arn = self.queue_arn(r);
        let dead_letter = match (&q.dlq_name, q.max_receive_count) {
            (Some(dlq), Some(max)) => Some(DeadLetter {
                account_id: &q.account_id,
                dlq_name: dlq,
                max_receive_count: max,
                source_arn: source_arn.as_str(),
            }),
            _ => None,
        };
        let guard = match _permit {
            Some(_) => Some(self.wakeups.wait(q.id).await?),
            None => None,
        };
        loop {
            // Registered before looking, so a send between the look and the sleep wakes us.
            let notified = guard.as_ref().map(|g| g.notify.clone().notified_owned());
            let now = self.clock.now();
            let max_inflight = self.inflight_limit(q.id, max.into(), now).await?;
            let got = if q.fifo {
                self.receive_fifo(&q, now, max.into(), now + visibility, dead_letter, max_inflight).await?
            } else {
                self.store
                    .receive_messages(&ReceiveRequest {
                        queue_id: q.id,
                        now,
                        not_before: expiry_cutoff(&q, now),
                        max: max.into(),
                        visible_until: now + visibility,
                        dead_letter,
                        max_inflight,
                        fair: q.fair,
                    })
                    .await?
            };
            if !got.rows.is_empty() {
                self.count_received(q.id, got.rows.len());
                if let Some(attempt) = input.attempt_id.as_deref().filter(|_| q.fifo) {
                    let taken: Vec<(Uuid, i32)> = got.rows.iter().map(|r| (r.id, r.receive_count)).collect();
                    let expires = now + TimeDelta::seconds(super::fifo::DEDUP_WINDOW_SECONDS);
                    self.store.record_attempt(q.id, attempt, &taken, now + visibility, expires).await?;
                }
                // A send wakes one poll per message; one that takes all it asked for may have
                // left more behind, so it passes the wake-up on.
                if guard.is_some() && got.rows.len() as i64 >= i64::from(max) {
                    self.wakeups.wake_one_local(q.id);
                }
                return self.open_all(&q, got.rows, &input, now).await;
            }
            // Too many in flight: a short poll is told so; a long poll just finds nothing.
            if got.inflight_full && wait.is_zero() {
                return Err(SqsError::OverLimit(format!(
                    "The queue has reached its limit of {} in-flight messages.",
                    self.max_inflight
                )));
            }
            let real_now = tokio::time::Instant::now();
            if real_now >= deadline {
                return Ok(Vec::new());
            }
            let wake_at = match got.next_visible_at.and_then(|t| (t - now).to_std().ok()) {
                Some(until_visible) => deadline.min(real_now + until_visible),
                None => deadline,
            };
            // Subscribed before looking, so a shutdown between the look and the wait is seen.
            let mut stop = self.shutdown.subscribe();
            if *stop.borrow_and_update() {
                return Ok(Vec::new());
            }
            // Woken by the deadline alone (no send, no message due), there is nothing new to
            // look for: the poll ends without another statement, so an idle poll costs two.
            let _asleep = Asleep::new(&self.asleep);
            match notified {
                Some(n) => {
                    tokio::select! {
                        _ = n => {}
                        _ = tokio::time::sleep_until(wake_at) => if wake_at >= deadline { return Ok(Vec::new()) },
                        _ = stop.changed() => return Ok(Vec::new()),
                    }
                }
                None => tokio::select! {
                    _ = tokio::time::sleep_until(wake_at) => if wake_at >= deadline { return Ok(Vec::new()) },
                    _ = stop.changed() => return Ok(Vec::new()),
                },
            }
        }
    }

    /// One look at a FIFO queue: up to `max` messages, fewer when the in-flight limit (when
    /// `max_inflight` says it must be enforced) leaves less room.
    async fn receive_fifo(
        &self,
        q: &QueueRow,
        now: DateTime<Utc>,
        max: i64,
        visible_until: DateTime<Utc>,
        dead_letter: Option<DeadLetter<'_>>,
        max_inflight: Option<i64>,
    ) -> Result<crate::store::messages::Received, SqsError> {
        let room = match max_inflight {
            Some(limit) => limit - self.store.count_inflight(q.id, now, limit).await?,
            None => max,
        };
        if room <= 0 {
            return Ok(crate::store::messages::Received {
                rows: Vec::new(),
                next_visible_at: None,
                inflight_full: true,
            });
        }
        let after = self.fifo_cursor.lock().ok().and_then(|c| c.get(&q.id).cloned()).unwrap_or_default();
        let got = self
            .store
            .receive_fifo(&FifoReceive {
                queue_id: q.id,
                now,
                not_before: expiry_cutoff(q, now),
                max: max.min(room),
                visible_until,
                dead_letter,
                after: &after,
            })
            .await?;
        if let Some(last) = got.rows.last().and_then(|r| r.group_id.clone())
            && let Ok(mut cursors) = self.fifo_cursor.lock()
        {
            if cursors.len() > 10_000 {
                cursors.clear();
            }
            cursors.insert(q.id, last);
        }
        Ok(got)
    }

    /// Opens the messages a receive took. One that does not open (tampered, or sealed under
    /// a key that is gone) is never returned: it is counted, logged by id and set aside, and
    /// the others are returned. When the key provider is unavailable and no cached key can
    /// open a message, the receive is undone (receive counts unchanged, messages visible
    /// again) and fails with the provider's error, so an outage never drains a queue into
    /// its dead-letter queue.
    async fn open_all(
        &self,
        q: &QueueRow,
        rows: Vec<crate::store::ReceivedRow>,
        input: &ReceiveInput,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReceivedMessage>, SqsError> {
        let mut out = Vec::with_capacity(rows.len());
        let mut set_aside = Vec::new();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        for row in rows {
            let id = row.id;
            match self.open_received(q, row, input).await {
                Ok(m) => out.push(m),
                Err(OpenError::Keys(
                    e @ crate::keys::KeysError::Kms(crate::crypto::provider::KmsError::Unavailable(_)),
                )) => {
                    self.store.undo_receive(q.id, &ids, now).await?;
                    return Err(e.into());
                }
                Err(OpenError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    self.unopenable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(m) = &self.metrics {
                        m.unopenable.inc();
                    }
                    tracing::error!(queue = %q.id, message = %id, reason = %e, "a message did not open; it is set aside");
                    set_aside.push(id);
                }
            }
        }
        if !set_aside.is_empty() {
            self.store.set_aside(q.id, &set_aside).await?;
        }
        Ok(out)
    }

    /// Opens a sealed value of a message: format 1 under the service master key (messages
    /// stored before data keys), format 2 under the data key its header names.
    async fn open_sealed(
        &self,
        q: &QueueRow,
        sealed_by: Uuid,
        sealed: &[u8],
        ctx: &crate::crypto::Context,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, OpenError> {
        use crate::crypto::seal::SealedBy;
        Ok(match crate::crypto::seal::sealed_by(sealed)? {
            SealedBy::Master(_) => self.sealer.open(sealed, ctx)?,
            SealedBy::DataKey(dek) => {
                let key = self.keys.for_opening(dek, &q.account_id, sealed_by, q.kms_reuse_seconds.into()).await?;
                key.open(sealed, ctx)?
            }
        })
    }

    async fn open_received(
        &self,
        q: &QueueRow,
        row: crate::store::ReceivedRow,
        input: &ReceiveInput,
    ) -> Result<ReceivedMessage, OpenError> {
        // A message moved from another queue opens under the context of the queue that sealed it.
        let sealed_by = row.sealed_queue_id.unwrap_or(q.id);
        let body =
            self.open_sealed(q, sealed_by, &row.body_sealed, &body_context(&q.account_id, sealed_by, row.id)).await?;
        let body = String::from_utf8(body.to_vec()).map_err(|_| crate::crypto::CryptoError::Malformed)?;
        let attrs = match &row.attributes_sealed {
            Some(sealed) => {
                let raw = self
                    .open_sealed(q, sealed_by, sealed, &attributes_context(&q.account_id, sealed_by, row.id))
                    .await?;
                message::decode_attributes(&raw).ok_or(crate::crypto::CryptoError::Malformed)?
            }
            None => MessageAttributes::new(),
        };
        let attrs = message::filter_attributes(attrs, &input.message_attribute_names);
        let receipt = Receipt { queue_id: q.id, message_id: row.id, receive_seq: row.receive_count.max(0) as u32 };
        let wants = |name: &str| input.system_attribute_names.iter().any(|n| n == "All" || n == name);
        let mut system = Vec::new();
        if wants("SenderId") {
            system.push(("SenderId", row.sender_id.clone()));
        }
        if wants("SentTimestamp") {
            system.push(("SentTimestamp", row.sent_at.timestamp_millis().to_string()));
        }
        if wants("ApproximateReceiveCount") {
            system.push(("ApproximateReceiveCount", row.receive_count.to_string()));
        }
        if wants("AWSTraceHeader")
            && let Some(t) = &row.trace_header
        {
            system.push(("AWSTraceHeader", t.clone()));
        }
        if wants("DeadLetterQueueSourceArn")
            && let Some(arn) = &row.dead_letter_source_arn
        {
            system.push(("DeadLetterQueueSourceArn", arn.clone()));
        }
        if wants("ApproximateFirstReceiveTimestamp") {
            let first = row.first_received_at.unwrap_or(row.sent_at);
            system.push(("ApproximateFirstReceiveTimestamp", first.timestamp_millis().to_string()));
        }
        if wants("MessageGroupId")
            && let Some(g) = &row.group_id
        {
            system.push(("MessageGroupId", g.clone()));
        }
        if wants("MessageDeduplicationId")
            && let Some(sealed) = &row.dedup_id_sealed
        {
            let raw =
                self.open_sealed(q, sealed_by, sealed, &dedup_id_context(&q.account_id, sealed_by, row.id)).await?;
            let id = String::from_utf8(raw.to_vec()).map_err(|_| crate::crypto::CryptoError::Malformed)?;
            system.push(("MessageDeduplicationId", id));
        }
        if wants("SequenceNumber")
            && let Some(seq) = row.seq
        {
            system.push(("SequenceNumber", super::fifo::sequence_number(seq)));
        }
        Ok(ReceivedMessage {
            message_id: MessageId(row.id),
            receipt_handle: self.receipts.issue(&receipt),
            md5_of_body: md5::of_body(&body),
            body,
            attributes: system,
            md5_of_message_attributes: md5::of_attribute_map(&attrs),
            message_attributes: attrs,
        })
    }

    /// The in-flight limit a receive of up to `taking` messages must enforce in its statement,
    /// or None when the queue is known to be far enough below it. Counting in-flight
    /// messages is a scan of them, so it is done at most once per `INFLIGHT_RECOUNT` per
    /// queue; between counts, every message received here is added (an upper bound on this
    /// instance, as messages deleted or visible again are not subtracted). Near the limit
    /// every receive enforces it exactly. SQS documents the limit as approximate; receives
    /// on other instances between counts are what makes it so here.
    async fn inflight_limit(&self, queue_id: Uuid, taking: i64, now: DateTime<Utc>) -> Result<Option<i64>, SqsError> {
        let known = self
            .inflight
            .lock()
            .ok()
            .and_then(|m| m.get(&queue_id).copied())
            .filter(|(at, _)| at.elapsed() < INFLIGHT_RECOUNT);
        let n = match known {
            Some((_, n)) => n,
            None => {
                let n = self.store.count_inflight(queue_id, now, self.max_inflight).await?;
                if let Ok(mut m) = self.inflight.lock() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(queue_id, (std::time::Instant::now(), n));
                }
                n
            }
        };
        Ok((n + taking > self.max_inflight).then_some(self.max_inflight))
    }

    /// Adds messages just received to the queue's in-flight estimate.
    fn count_received(&self, queue_id: Uuid, n: usize) {
        if let Ok(mut m) = self.inflight.lock()
            && let Some((_, count)) = m.get_mut(&queue_id)
        {
            *count += n as i64;
        }
    }
}
