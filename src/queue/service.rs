//! The queue operations, with SQS's validation and semantics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::prelude::*;
use chrono::TimeDelta;
use tokio::sync::Notify;
use uuid::Uuid;

use super::message::{self, MessageAttributes};
use super::receipt::{Receipt, ReceiptKeys};
use super::{AccountId, QueueError, QueueName, QueueRef, attributes, md5};
use crate::clock::Clock;
use crate::crypto::{Context, Sealer};
use crate::store::queues::Created;
use crate::store::{NewMessage, PgStore, QueueRow};

/// Most queue URLs ListQueues returns.
pub const MAX_LIST: i64 = 1000;
/// Most messages one receive returns.
pub const MAX_RECEIVE: i32 = 10;
/// Longest long poll.
pub const MAX_WAIT_SECONDS: i32 = 20;
/// Longest visibility timeout.
pub const MAX_VISIBILITY: i32 = 43_200;
/// Longest message delay.
pub const MAX_DELAY: i32 = 900;
/// How often a long poll looks again when nothing woke it (messages can become visible
/// by time alone: delays and expiring visibility timeouts).
const POLL_RECHECK: Duration = Duration::from_millis(500);

/// What SendMessage needs.
#[derive(Debug, Default)]
pub struct SendInput {
    pub body: String,
    pub delay_seconds: Option<i32>,
    pub attributes: MessageAttributes,
    pub sender_id: String,
}

/// What SendMessage answers.
#[derive(Debug)]
pub struct SendOutput {
    pub message_id: Uuid,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
}

/// What ReceiveMessage needs.
#[derive(Debug, Default)]
pub struct ReceiveInput {
    pub max_messages: Option<i32>,
    pub visibility_timeout: Option<i32>,
    pub wait_seconds: Option<i32>,
    /// Union of `AttributeNames` and `MessageSystemAttributeNames`.
    pub system_attribute_names: Vec<String>,
    pub message_attribute_names: Vec<String>,
}

/// A received message, ready to serialize.
#[derive(Debug)]
pub struct ReceivedMessage {
    pub message_id: Uuid,
    pub receipt_handle: String,
    pub md5_of_body: String,
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
    pub md5_of_message_attributes: Option<String>,
    pub message_attributes: MessageAttributes,
}

/// The queue service: one per process.
#[derive(Debug)]
pub struct QueueService {
    store: PgStore,
    sealer: Arc<Sealer>,
    receipts: ReceiptKeys,
    clock: Arc<dyn Clock>,
    region: String,
    public_url: String,
    wakeups: Mutex<HashMap<Uuid, Arc<Notify>>>,
}

fn body_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-body").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

fn attributes_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-attributes").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

fn in_range(name: &str, v: Option<i32>, min: i32, max: i32) -> Result<Option<i32>, QueueError> {
    match v {
        Some(v) if !(min..=max).contains(&v) => Err(QueueError::InvalidParameterValue(format!(
            "Value {v} for parameter {name} is invalid. Reason: Must be between {min} and {max}, if provided."
        ))),
        v => Ok(v),
    }
}

impl QueueService {
    pub fn new(
        store: PgStore,
        sealer: Arc<Sealer>,
        clock: Arc<dyn Clock>,
        region: String,
        public_url: String,
    ) -> Result<Self, QueueError> {
        let (key_id, key) = sealer.derive_key("receipt-handle")?;
        Ok(Self {
            store,
            receipts: ReceiptKeys::new(key_id, key),
            sealer,
            clock,
            region,
            public_url: public_url.trim_end_matches('/').to_owned(),
            wakeups: Mutex::new(HashMap::new()),
        })
    }

    /// `https://HOST:PORT/ACCOUNT/NAME`, from the configured public URL.
    pub fn queue_url(&self, account: &str, name: &str) -> String {
        format!("{}/{account}/{name}", self.public_url)
    }

    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    pub fn queue_arn(&self, r: &QueueRef) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, r.account, r.name)
    }

    async fn queue(&self, r: &QueueRef) -> Result<QueueRow, QueueError> {
        self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.ok_or(QueueError::QueueDoesNotExist)
    }

    /// CreateQueue: idempotent when the supplied attributes match.
    pub async fn create_queue(&self, r: &QueueRef, attrs: &HashMap<String, String>) -> Result<String, QueueError> {
        let settings = attributes::settings_for_create(attrs)?;
        let now = self.clock.now();
        let mut tries = 0;
        loop {
            match self.store.create_queue(r.account.as_str(), r.name.as_str(), settings, now).await {
                Ok(Created::New(_)) => break,
                Ok(Created::Existing(row)) => {
                    if !attributes::same_as_existing(attrs, &settings, &row.settings()) {
                        return Err(QueueError::QueueNameExists(format!(
                            "A queue already exists with the same name and a different value for attribute(s) {}",
                            attrs.keys().cloned().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    break;
                }
                Err(crate::store::StoreError::Conflict(_)) if tries < 3 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.queue_url(r.account.as_str(), r.name.as_str()))
    }

    pub async fn get_queue_url(&self, r: &QueueRef) -> Result<String, QueueError> {
        let q = self.queue(r).await?;
        Ok(self.queue_url(&q.account_id, &q.name))
    }

    /// ListQueues: the account's own queues. Without `max_results`: up to 1000, never a token.
    pub async fn list_queues(
        &self,
        account: &AccountId,
        prefix: Option<&str>,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), QueueError> {
        let max = in_range("MaxResults", max_results, 1, MAX_LIST as i32)?;
        let prefix = prefix.unwrap_or("");
        if prefix.len() > QueueName::MAX_LEN {
            return Err(QueueError::InvalidParameterValue(
                "Value for parameter QueueNamePrefix is invalid. Reason: Must be at most 80 characters.".into(),
            ));
        }
        let after = match next_token {
            Some(t) if max.is_some() => Some(
                BASE64_URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| QueueName::parse(s).is_ok())
                    .ok_or_else(|| QueueError::InvalidParameterValue("Invalid NextToken value.".into()))?,
            ),
            _ => None,
        };
        let limit = max.map(i64::from).unwrap_or(MAX_LIST);
        let mut names = self.store.list_queue_names(account.as_str(), prefix, after.as_deref(), limit + 1).await?;
        let more = names.len() as i64 > limit;
        names.truncate(limit as usize);
        let token = match (max, more, names.last()) {
            (Some(_), true, Some(last)) => Some(BASE64_URL_SAFE_NO_PAD.encode(last)),
            _ => None,
        };
        Ok((names.iter().map(|n| self.queue_url(account.as_str(), n)).collect(), token))
    }

    pub async fn delete_queue(&self, r: &QueueRef) -> Result<(), QueueError> {
        let q = self.queue(r).await?;
        if !self.store.delete_queue(q.id).await? {
            return Err(QueueError::QueueDoesNotExist);
        }
        if let Ok(mut w) = self.wakeups.lock() {
            w.remove(&q.id);
        }
        Ok(())
    }

    fn wakeup(&self, queue_id: Uuid) -> Option<Arc<Notify>> {
        let mut w = self.wakeups.lock().ok()?;
        Some(w.entry(queue_id).or_insert_with(|| Arc::new(Notify::new())).clone())
    }

    /// SendMessage: validates, seals, stores; answers once committed.
    pub async fn send_message(&self, r: &QueueRef, input: SendInput) -> Result<SendOutput, QueueError> {
        message::validate_body(&input.body)?;
        message::validate_attributes(&input.attributes)?;
        let delay = in_range("DelaySeconds", input.delay_seconds, 0, MAX_DELAY)?;
        let q = self.queue(r).await?;
        let size = input.body.len() + input.attributes.iter().map(|(n, v)| v.size(n)).sum::<usize>();
        if size > q.maximum_message_size as usize {
            return Err(QueueError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
                q.maximum_message_size
            )));
        }
        let id = Uuid::new_v4();
        let body_sealed = self.sealer.seal(input.body.as_bytes(), &body_context(&q.account_id, q.id, id))?;
        let attributes_sealed = if input.attributes.is_empty() {
            None
        } else {
            let encoded = zeroize::Zeroizing::new(message::encode_attributes(&input.attributes));
            Some(self.sealer.seal(&encoded, &attributes_context(&q.account_id, q.id, id))?)
        };
        let now = self.clock.now();
        let delay = delay.unwrap_or(q.delay_seconds);
        self.store
            .insert_message(
                q.id,
                &NewMessage {
                    id,
                    body_sealed: &body_sealed,
                    attributes_sealed: attributes_sealed.as_deref(),
                    sender_id: &input.sender_id,
                    sent_at: now,
                    visible_at: now + TimeDelta::seconds(delay.into()),
                    expires_at: now + TimeDelta::seconds(q.retention_seconds.into()),
                },
            )
            .await?;
        if delay == 0
            && let Some(n) = self.wakeup(q.id)
        {
            n.notify_waiters();
        }
        Ok(SendOutput {
            message_id: id,
            md5_of_body: md5::of_body(&input.body),
            md5_of_attributes: md5::of_attribute_map(&input.attributes),
        })
    }

    /// ReceiveMessage: short poll, or a long poll that returns as soon as a message arrives.
    pub async fn receive_message(&self, r: &QueueRef, input: ReceiveInput) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max = in_range("MaxNumberOfMessages", input.max_messages, 1, MAX_RECEIVE)?.unwrap_or(1);
        let visibility = in_range("VisibilityTimeout", input.visibility_timeout, 0, MAX_VISIBILITY)?;
        let wait = in_range("WaitTimeSeconds", input.wait_seconds, 0, MAX_WAIT_SECONDS)?;
        let q = self.queue(r).await?;
        let visibility = visibility.unwrap_or(q.visibility_timeout);
        let wait = Duration::from_secs(wait.unwrap_or(q.receive_wait_seconds).max(0) as u64);
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.wakeup(q.id);
        loop {
            // Register interest before looking, so a send between the look and the wait wakes us.
            let notified = notify.as_ref().map(|n| n.clone().notified_owned());
            let now = self.clock.now();
            let rows =
                self.store.receive_messages(q.id, now, max.into(), now + TimeDelta::seconds(visibility.into())).await?;
            if !rows.is_empty() {
                return rows.into_iter().map(|row| self.open_received(&q, row, &input)).collect();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let nap = left.min(POLL_RECHECK);
            match notified {
                Some(n) => {
                    let _ = tokio::time::timeout(nap, n).await;
                }
                None => tokio::time::sleep(nap).await,
            }
        }
    }

    fn open_received(
        &self,
        q: &QueueRow,
        row: crate::store::ReceivedRow,
        input: &ReceiveInput,
    ) -> Result<ReceivedMessage, QueueError> {
        let body = self.sealer.open(&row.body_sealed, &body_context(&q.account_id, q.id, row.id))?;
        let body = String::from_utf8(body.to_vec()).map_err(|_| crate::crypto::CryptoError::Malformed)?;
        let attrs = match &row.attributes_sealed {
            Some(sealed) => {
                let raw = self.sealer.open(sealed, &attributes_context(&q.account_id, q.id, row.id))?;
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
        if wants("ApproximateFirstReceiveTimestamp") {
            let first = row.first_received_at.unwrap_or(row.sent_at);
            system.push(("ApproximateFirstReceiveTimestamp", first.timestamp_millis().to_string()));
        }
        Ok(ReceivedMessage {
            message_id: row.id,
            receipt_handle: self.receipts.issue(&receipt),
            md5_of_body: md5::of_body(&body),
            body,
            attributes: system,
            md5_of_message_attributes: md5::of_attribute_map(&attrs),
            message_attributes: attrs,
        })
    }

    /// DeleteMessage: a handle from another queue (or a recreated one) is invalid; a stale
    /// handle of this queue still deletes, as on AWS.
    pub async fn delete_message(&self, r: &QueueRef, handle: &str) -> Result<(), QueueError> {
        let q = self.queue(r).await?;
        let receipt = self
            .receipts
            .check(handle)
            .filter(|rc| rc.queue_id == q.id)
            .ok_or_else(|| QueueError::ReceiptHandleIsInvalid(handle.chars().take(100).collect()))?;
        self.store.delete_message(q.id, receipt.message_id).await?;
        Ok(())
    }
}
