//! Sending: SendMessage, SendMessageBatch and the deliveries of service integrations,
//! validated, sealed and stored together with other sends (group commit).

use chrono::{DateTime, TimeDelta, Utc};

use super::message::{self, MessageAttributes};
use super::service::*;
use super::{QueueRef, SqsError, md5};
use crate::domain::MessageId;
use crate::store::{NewMessage, QueueRow};

/// What SendMessage needs.
#[derive(Debug, Default)]
pub struct SendInput {
    pub body: String,
    pub delay_seconds: Option<i32>,
    pub attributes: MessageAttributes,
    /// The AWSTraceHeader system attribute.
    pub trace_header: Option<String>,
    pub sender_id: String,
    /// MessageGroupId: required on FIFO queues; on a standard queue it tags a fair queue's
    /// tenant.
    pub group_id: Option<String>,
    /// MessageDeduplicationId (FIFO queues only).
    pub dedup_id: Option<String>,
}

/// What SendMessage answers.
#[derive(Debug)]
pub struct SendOutput {
    pub message_id: MessageId,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    /// SequenceNumber (FIFO queues).
    pub sequence_number: Option<String>,
}

/// A message ready to store, what its send answers, whether it is visible at once, and (FIFO)
/// its keyed deduplication id.
struct Prepared {
    row: NewMessage,
    out: SendOutput,
    visible_now: bool,
    dedup_key: Option<Vec<u8>>,
}

const DEDUP_REQUIRED: &str =
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";

impl QueueService {
    /// Validates and seals one message for `q` (the per-entry part of a send).
    fn prepare(
        &self,
        q: &QueueRow,
        key: &crate::crypto::seal::DataCipher,
        input: SendInput,
        now: DateTime<Utc>,
    ) -> Result<Prepared, SqsError> {
        message::validate_body(&input.body)?;
        message::validate_attributes(&input.attributes)?;
        if let Some(g) = &input.group_id {
            super::fifo::check_token("MessageGroupId", g)?;
        }
        let dedup_id = match (&input.dedup_id, q.fifo) {
            (Some(d), false) => return Err(super::fifo::not_for_this_queue_type("MessageDeduplicationId", d)),
            (Some(d), true) => {
                super::fifo::check_token("MessageDeduplicationId", d)?;
                Some(d.clone())
            }
            (None, true) if q.content_based_dedup => Some(super::fifo::content_dedup_id(&input.body)),
            (None, true) => return Err(SqsError::InvalidParameterValue(DEDUP_REQUIRED.into())),
            (None, false) => None,
        };
        if q.fifo && input.group_id.is_none() {
            return Err(SqsError::missing("MessageGroupId"));
        }
        let delay = in_range("DelaySeconds", input.delay_seconds, 0, MAX_DELAY)?;
        if q.fifo
            && let Some(d) = delay.filter(|d| *d > 0)
        {
            // A FIFO queue delays by its DelaySeconds alone.
            return Err(super::fifo::not_for_this_queue_type("DelaySeconds", &d.to_string()));
        }
        let size = input.body.len() + input.attributes.iter().map(|(n, v)| v.size(n)).sum::<usize>();
        if size > q.maximum_message_size as usize {
            return Err(SqsError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
                q.maximum_message_size
            )));
        }
        let id = message::new_message_id(now);
        let body_sealed = key.seal(input.body.as_bytes(), &body_context(&q.account_id, q.id, id))?;
        let attributes_sealed = if input.attributes.is_empty() {
            None
        } else {
            let encoded = zeroize::Zeroizing::new(message::encode_attributes(&input.attributes));
            Some(key.seal(&encoded, &attributes_context(&q.account_id, q.id, id))?)
        };
        let (dedup_id_sealed, dedup_key) = match &dedup_id {
            Some(d) => {
                let scope = if q.dedup_per_group { input.group_id.as_deref() } else { None };
                (
                    Some(key.seal(d.as_bytes(), &dedup_id_context(&q.account_id, q.id, id))?),
                    Some(self.dedup.key(q.id, scope, d)),
                )
            }
            None => (None, None),
        };
        let delay = delay.unwrap_or(q.delay_seconds);
        let out = SendOutput {
            message_id: MessageId(id),
            md5_of_body: md5::of_body(&input.body),
            md5_of_attributes: md5::of_attribute_map(&input.attributes),
            md5_of_system_attributes: input.trace_header.as_deref().and_then(md5::of_trace_header),
            sequence_number: None,
        };
        let row = NewMessage {
            id,
            body_sealed,
            attributes_sealed,
            trace_header: input.trace_header,
            sender_id: input.sender_id,
            sent_at: now,
            visible_at: now + TimeDelta::seconds(delay.into()),
            dek_id: Some(key.id as i64),
            group_id: input.group_id,
            dedup_id_sealed,
        };
        Ok(Prepared { row, out, visible_now: delay == 0, dedup_key })
    }

    /// Marks a standard queue fair the first time it is sent a group id: from then on its
    /// receives take the groups in turn.
    async fn make_fair(&self, q: &QueueRow) -> Result<(), SqsError> {
        if !q.fair && self.store.mark_fair(q.id).await? {
            // Cached rows of the queue (here and on other instances) are stale now.
            self.store.caches_changed().await;
        }
        Ok(())
    }

    /// Stores prepared FIFO messages: a deduplication id seen within the window answers
    /// the message sent first (its id and number) and stores nothing. Entries of one request
    /// with one deduplication id are deduplicated among themselves the same way.
    async fn store_fifo(&self, q: &QueueRow, prepared: Vec<Prepared>) -> Result<Vec<SendOutput>, SqsError> {
        let now = self.clock.now();
        let mut firsts: Vec<usize> = Vec::with_capacity(prepared.len());
        let mut rows = Vec::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut outs = Vec::with_capacity(prepared.len());
        let mut visible = Vec::new();
        for p in prepared {
            let key = p.dedup_key.ok_or_else(|| SqsError::InvalidParameterValue(DEDUP_REQUIRED.into()))?;
            match keys.iter().position(|k| *k == key) {
                Some(i) => firsts.push(i),
                None => {
                    firsts.push(keys.len());
                    keys.push(key);
                    visible.push(p.visible_now);
                    rows.push(p.row);
                }
            }
            outs.push(p.out);
        }
        // With other FIFO sends in flight, stored together in one statement and one commit.
        let sent = self.group.fifo(q.id, rows, keys, now).await?;
        let woken = sent.iter().zip(&visible).filter(|(s, v)| s.fresh && **v).count();
        if woken > 0 {
            self.wake(q.id, woken);
        }
        Ok(outs
            .into_iter()
            .zip(firsts)
            .map(|(mut out, i)| {
                out.message_id = MessageId(sent[i].message_id);
                out.sequence_number = Some(super::fifo::sequence_number(sent[i].seq));
                out
            })
            .collect())
    }

    /// SendMessage: validates, seals, stores; answers once committed.
    pub async fn send_message(&self, r: &QueueRef, input: SendInput) -> Result<SendOutput, SqsError> {
        let q = self.hot_queue(r).await?;
        self.quotas.check_send(&q.account_id).await?;
        let key = self.sealing_key(&q).await?;
        let p = self.prepare(&q, &key, input, self.clock.now())?;
        if q.fifo {
            let mut outs = self.store_fifo(&q, vec![p]).await?;
            return outs.pop().ok_or_else(|| SqsError::internal(&"a FIFO send answered nothing"));
        }
        if p.row.group_id.is_some() {
            self.make_fair(&q).await?;
        }
        self.group.insert(q.id, vec![p.row]).await?;
        if p.visible_now {
            self.wake(q.id, 1);
        }
        Ok(p.out)
    }

    /// SendMessageBatch: whole-request checks first; then each entry succeeds or fails on its
    /// own, and every good entry is stored in one statement.
    pub async fn send_message_batch(
        &self,
        r: &QueueRef,
        entries: Vec<(String, SendInput)>,
    ) -> Result<Vec<(String, Result<SendOutput, SqsError>)>, SqsError> {
        check_batch_ids(Batch::Send, entries.iter().map(|(id, _)| id.as_str()))?;
        let total: usize = entries
            .iter()
            .map(|(_, e)| e.body.len() + e.attributes.iter().map(|(n, v)| v.size(n)).sum::<usize>())
            .sum();
        if total > MAX_BATCH_BYTES {
            return Err(SqsError::BatchRequestTooLong(format!(
                "Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes."
            )));
        }
        let q = self.hot_queue(r).await?;
        if q.fifo {
            // On a FIFO queue, a missing group or deduplication id fails the whole batch.
            if entries.iter().any(|(_, e)| e.group_id.is_none()) {
                return Err(SqsError::InvalidParameterValue(
                    "The request must contain the parameter MessageGroupId.".into(),
                ));
            }
            if !q.content_based_dedup && entries.iter().any(|(_, e)| e.dedup_id.is_none()) {
                return Err(SqsError::InvalidParameterValue(DEDUP_REQUIRED.into()));
            }
        }
        self.quotas.check_send(&q.account_id).await?;
        let key = self.sealing_key(&q).await?;
        let now = self.clock.now();
        let mut rows = Vec::with_capacity(entries.len());
        let mut results = Vec::with_capacity(entries.len());
        let mut wake = 0;
        // FIFO entries are stored together after the loop (None until then).
        let mut fifo = Vec::new();
        let mut slots: Vec<(String, Option<Result<SendOutput, SqsError>>)> = Vec::with_capacity(entries.len());
        for (id, input) in entries {
            match self.prepare(&q, &key, input, now) {
                Ok(p) if q.fifo => {
                    fifo.push(p);
                    slots.push((id, None));
                }
                Ok(p) => {
                    rows.push(p.row);
                    wake += usize::from(p.visible_now);
                    slots.push((id, Some(Ok(p.out))));
                }
                Err(e) => slots.push((id, Some(Err(e)))),
            }
        }
        // Entries are stored in the order given, numbered in that order.
        let mut stored = if fifo.is_empty() { Vec::new() } else { self.store_fifo(&q, fifo).await? }.into_iter();
        for (id, slot) in slots {
            match slot.or_else(|| stored.next().map(Ok)) {
                Some(result) => results.push((id, result)),
                None => results.push((id, Err(SqsError::internal(&"a FIFO entry was not stored")))),
            }
        }
        if rows.iter().any(|r| r.group_id.is_some()) {
            self.make_fair(&q).await?;
        }
        if !rows.is_empty() {
            self.group.insert(q.id, rows).await?;
        }
        if wake > 0 {
            self.wake(q.id, wake);
        }
        Ok(results)
    }

    /// Delivers events from a service integration: every event is checked first (one bad
    /// event enqueues none), then those whose `key` this queue has not seen within
    /// `EVENT_REPLAY_WINDOW` are stored in one statement. Returns (enqueued, duplicates).
    pub async fn send_events(
        &self,
        r: &QueueRef,
        events: Vec<(String, SendInput)>,
    ) -> Result<(usize, usize), SqsError> {
        use sha2::Digest;
        let q = self.hot_queue(r).await?;
        if q.fifo {
            return Err(SqsError::UnsupportedOperation(
                "Storage events and topic deliveries into FIFO queues are not supported.".into(),
            ));
        }
        self.quotas.check_send(&q.account_id).await?;
        let key = self.sealing_key(&q).await?;
        let now = self.clock.now();
        let mut rows = Vec::with_capacity(events.len());
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(events.len());
        let mut duplicates = 0;
        let mut wake = false;
        for (event_key, input) in events {
            let digest = sha2::Sha256::new()
                .chain_update(q.id.as_bytes())
                .chain_update(event_key.as_bytes())
                .finalize()
                .to_vec();
            if keys.contains(&digest) {
                duplicates += 1;
                continue;
            }
            let p = self.prepare(&q, &key, input, now)?;
            wake |= p.visible_now;
            rows.push(p.row);
            keys.push(digest);
        }
        let expires = now + TimeDelta::seconds(EVENT_REPLAY_WINDOW_SECONDS);
        let inserted = self.store.insert_messages_once(q.id, &rows, &keys, now, expires).await?;
        if wake && !inserted.is_empty() {
            self.wake(q.id, inserted.len());
        }
        Ok((inserted.len(), duplicates + rows.len() - inserted.len()))
    }
}
