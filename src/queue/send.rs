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
}

/// What SendMessage answers.
#[derive(Debug)]
pub struct SendOutput {
    pub message_id: MessageId,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
}

impl QueueService {
    /// Validates and seals one message for `q` (the per-entry part of a send).
    fn prepare(
        &self,
        q: &QueueRow,
        key: &crate::crypto::seal::DataCipher,
        input: SendInput,
        now: DateTime<Utc>,
    ) -> Result<(NewMessage, SendOutput, bool), SqsError> {
        message::validate_body(&input.body)?;
        message::validate_attributes(&input.attributes)?;
        let delay = in_range("DelaySeconds", input.delay_seconds, 0, MAX_DELAY)?;
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
        let delay = delay.unwrap_or(q.delay_seconds);
        let out = SendOutput {
            message_id: MessageId(id),
            md5_of_body: md5::of_body(&input.body),
            md5_of_attributes: md5::of_attribute_map(&input.attributes),
            md5_of_system_attributes: input.trace_header.as_deref().and_then(md5::of_trace_header),
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
        };
        Ok((row, out, delay == 0))
    }

    /// SendMessage: validates, seals, stores; answers once committed.
    pub async fn send_message(&self, r: &QueueRef, input: SendInput) -> Result<SendOutput, SqsError> {
        let q = self.hot_queue(r).await?;
        self.quotas.check_send(&q.account_id).await?;
        let key = self.sealing_key(&q).await?;
        let (row, out, visible_now) = self.prepare(&q, &key, input, self.clock.now())?;
        self.group.insert(q.id, vec![row]).await?;
        if visible_now {
            self.wake(q.id, 1);
        }
        Ok(out)
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
        self.quotas.check_send(&q.account_id).await?;
        let key = self.sealing_key(&q).await?;
        let now = self.clock.now();
        let mut rows = Vec::with_capacity(entries.len());
        let mut results = Vec::with_capacity(entries.len());
        let mut wake = 0;
        for (id, input) in entries {
            match self.prepare(&q, &key, input, now) {
                Ok((row, out, visible_now)) => {
                    rows.push(row);
                    wake += usize::from(visible_now);
                    results.push((id, Ok(out)));
                }
                Err(e) => results.push((id, Err(e))),
            }
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
            let (row, _, visible_now) = self.prepare(&q, &key, input, now)?;
            wake |= visible_now;
            rows.push(row);
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
