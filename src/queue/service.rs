//! The queue operations, with SQS's validation and semantics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::message::{self, MessageAttributes};
use super::receipt::{Receipt, ReceiptKeys};
use super::wait::Wakeups;
use super::{AccountId, QueueName, QueueRef, SqsError, attributes, md5, redrive};
use crate::cache::EpochCache;
use crate::clock::Clock;
use crate::crypto::{Context, Sealer};
use crate::domain::{MessageId, ReceiptHandle};
use crate::store::messages::{DeadLetter, ReceiveRequest};
use crate::store::queues::Created;
use crate::store::queues::Encryption;
use crate::store::{JsonAttributes, NewMessage, PgStore, QueueRow};

/// Most queue URLs ListQueues returns.
pub const MAX_LIST: i64 = 1000;
/// Most entries in a batch.
pub const MAX_BATCH: usize = 10;
/// Most bytes (bodies and attributes) in one SendMessageBatch.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Most messages one receive returns.
pub const MAX_RECEIVE: i32 = 10;
/// Longest long poll.
pub const MAX_WAIT_SECONDS: i32 = 20;
/// Longest visibility timeout.
pub const MAX_VISIBILITY: i32 = 43_200;
/// Longest message delay.
pub const MAX_DELAY: i32 = 900;
/// The 12-hour visibility cap, counted from the receive.
pub const VISIBILITY_CAP: TimeDelta = TimeDelta::seconds(43_200);
/// AWS allows one purge per queue every 60 seconds.
pub const PURGE_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// How long a delivered event is remembered, so that its replay enqueues nothing: 24 hours
/// (MinIO retries a failed delivery every 3 s until it succeeds, from a persistent queue).
pub const EVENT_REPLAY_WINDOW_SECONDS: i64 = 24 * 3600;

/// The pause between two full deletion steps of the sweep.
const SWEEP_PAUSE: Duration = Duration::from_millis(20);

/// Expired messages deleted per statement by the sweep.
const SWEEP_BATCH: i64 = 10_000;

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

/// The queue service: one per process.
#[derive(Debug)]
pub struct QueueService {
    store: PgStore,
    sealer: Arc<Sealer>,
    receipts: ReceiptKeys,
    clock: Arc<dyn Clock>,
    region: String,
    public_url: String,
    wakeups: Arc<Wakeups>,
    long_polls: Arc<Semaphore>,
    max_long_polls: usize,
    mover: Arc<super::moves::Mover>,
    keys: Arc<crate::keys::DataKeys>,
    quotas: Arc<super::quotas::Quotas>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Messages that failed to open (tampered, or their key is gone) and were set aside.
    unopenable: std::sync::atomic::AtomicU64,
    max_inflight: i64,
    /// Parsed queue policies (None: the queue has none, or does not exist).
    /// Queue rows for the message paths (an absence is not kept).
    row_cache: EpochCache<QueueRef, Option<Arc<QueueRow>>>,
    /// In-flight estimates by queue: when last counted, and the count plus receives since.
    inflight: std::sync::Mutex<HashMap<Uuid, (std::time::Instant, i64)>>,
    /// Concurrent sends stored together (one statement and one commit per group).
    group: Arc<super::commit::GroupCommit>,
    /// When the expiry sweep last looked at every message (see `sweep_expired`).
    last_full_sweep: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// What `measure_usage` saw when it last measured: (message row churn, this instance's
    /// message writes), and when.
    last_usage: std::sync::Mutex<Option<UsageSeen>>,
}

/// How long a queue's row and parsed policy are trusted without reading them again (the
/// backstop when a change notification is lost).
const QUEUE_CACHE_TTL: TimeDelta = TimeDelta::seconds(30);
/// How many queues' rows (and policies) one instance keeps.
const QUEUE_CACHE_ENTRIES: usize = 10_000;

/// How often the expiry sweep looks at every message, not just the time-ordered range.
const FULL_SWEEP_EVERY: TimeDelta = TimeDelta::hours(1);
/// The longest stored data goes unmeasured, changes seen or not.
const USAGE_BACKSTOP: TimeDelta = TimeDelta::minutes(10);

/// Whether the sweep that runs at `now` looks at every message.
fn full_sweep_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now < at || now - at >= FULL_SWEEP_EVERY)
}

/// What a usage measurement saw: (message row churn, this instance's message writes), and
/// when.
type UsageSeen = ((i64, u64), DateTime<Utc>);

/// Whether stored data must be measured at `now`, having seen `seen` (message row churn,
/// this instance's message writes); `last` is what the last measurement saw, and when.
fn usage_due(last: Option<UsageSeen>, seen: (i64, u64), now: DateTime<Utc>) -> bool {
    match last {
        None => true,
        // Statistics off (the churn stays 0): nothing tells of changes elsewhere.
        Some(_) if seen.0 == 0 => true,
        Some((was, at)) => was != seen || now < at || now - at >= USAGE_BACKSTOP,
    }
}

/// How often a queue's in-flight messages are counted (see `inflight_limit`).
const INFLIGHT_RECOUNT: Duration = Duration::from_secs(1);

/// Which master key seals a queue's data keys (its KmsMasterKeyId's, or the service key),
/// and for how long one is reused.
fn key_ref(q: &QueueRow) -> crate::keys::QueueKeys<'_> {
    crate::keys::QueueKeys {
        queue_id: q.id,
        account_id: &q.account_id,
        master_key: q.kms_master_key.as_deref().unwrap_or(crate::keys::SERVICE_KEY),
        reuse_seconds: q.kms_reuse_seconds.into(),
    }
}

fn body_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-body").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

fn attributes_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-attributes").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

/// The whole-request checks of every batch, in this order: empty, too many, ids repeated,
/// an id of the wrong form.
pub fn check_batch_ids<'a>(ids: impl Iterator<Item = &'a str> + Clone) -> Result<(), SqsError> {
    let n = ids.clone().count();
    if n == 0 {
        return Err(SqsError::empty_batch());
    }
    if n > MAX_BATCH {
        return Err(SqsError::too_many_entries(n));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids.clone() {
        if !seen.insert(id) {
            return Err(SqsError::ids_not_distinct(&id.chars().take(80).collect::<String>()));
        }
    }
    for id in ids {
        if id.is_empty() || id.len() > 80 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(SqsError::invalid_batch_id(&id.chars().take(100).collect::<String>()));
        }
    }
    Ok(())
}

/// One page of queue names, as ListQueues and ListDeadLetterSourceQueues page them: without
/// MaxResults up to 1,000 and never a token; with it, a token (the last name, base64url)
/// only when more remain.
struct Page {
    max: Option<i32>,
    after: Option<String>,
}

impl Page {
    fn new(max: Option<i32>, next_token: Option<&str>) -> Result<Self, SqsError> {
        let after = match next_token {
            Some(t) if max.is_some() => Some(
                BASE64_URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| QueueName::parse(s).is_ok())
                    .ok_or_else(|| SqsError::InvalidParameterValue("Invalid NextToken value.".into()))?,
            ),
            _ => None,
        };
        Ok(Self { max, after })
    }

    fn limit(&self) -> i64 {
        self.max.map(i64::from).unwrap_or(MAX_LIST)
    }

    fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Rows to fetch: one more than the page, to know whether more remain.
    fn fetch(&self) -> i64 {
        self.limit() + 1
    }

    fn finish(&self, mut names: Vec<String>, url: impl Fn(&str) -> String) -> (Vec<String>, Option<String>) {
        let more = names.len() as i64 > self.limit();
        names.truncate(self.limit() as usize);
        let token = match (self.max, more, names.last()) {
            (Some(_), true, Some(last)) => Some(BASE64_URL_SAFE_NO_PAD.encode(last)),
            _ => None,
        };
        (names.iter().map(|n| url(n)).collect(), token)
    }
}

/// Messages sent at or before this instant have outlived the queue's retention period.
fn expiry_cutoff(q: &QueueRow, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    now - TimeDelta::seconds(q.retention_seconds.into())
}

fn in_range(name: &str, v: Option<i32>, min: i32, max: i32) -> Result<Option<i32>, SqsError> {
    match v {
        Some(v) if !(min..=max).contains(&v) => Err(SqsError::InvalidParameterValue(format!(
            "Value {v} for parameter {name} is invalid. Reason: Must be between {min} and {max}, if provided."
        ))),
        v => Ok(v),
    }
}

impl QueueService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: PgStore,
        sealer: Arc<Sealer>,
        keys: Arc<crate::keys::DataKeys>,
        clock: Arc<dyn Clock>,
        region: String,
        public_url: String,
        max_long_polls: usize,
        max_inflight: i64,
        limits: super::quotas::Defaults,
        max_working: usize,
    ) -> Result<Self, SqsError> {
        let (key_id, key) = sealer.derive_key("receipt-handle")?;
        let quotas = Arc::new(super::quotas::Quotas::new(store.clone(), clock.clone(), limits, max_working));
        // Two group inserts in flight at the default pool size: measured on 2 cores, more
        // only adds commits (benches/results/README.md).
        let group = super::commit::GroupCommit::new(store.clone(), (max_working / 8).clamp(1, 4));
        let wakeups = Wakeups::new(store.clone(), clock.clone());
        let (task_key_id, task_key) = sealer.derive_key("move-task-handle")?;
        let mover = super::moves::Mover::new(
            store.clone(),
            clock.clone(),
            super::moves::TaskHandles::new(task_key_id, task_key),
        );
        Ok(Self {
            store,
            receipts: ReceiptKeys::new(key_id, key),
            sealer,
            clock,
            region,
            public_url: public_url.trim_end_matches('/').to_owned(),
            wakeups,
            mover,
            keys,
            quotas,
            metrics: None,
            shutdown: tokio::sync::watch::channel(false).0,
            unopenable: std::sync::atomic::AtomicU64::new(0),
            max_inflight,
            row_cache: EpochCache::new(QUEUE_CACHE_TTL, QUEUE_CACHE_ENTRIES).keeping(Option::is_some),
            inflight: std::sync::Mutex::new(HashMap::new()),
            group,
            last_full_sweep: std::sync::Mutex::new(None),
            last_usage: std::sync::Mutex::new(None),
            long_polls: Arc::new(Semaphore::new(max_long_polls)),
            max_long_polls,
        })
    }

    /// `https://HOST:PORT/ACCOUNT/NAME`, from the configured public URL.
    pub fn queue_url(&self, account: &str, name: &str) -> String {
        format!("{}/{account}/{name}", self.public_url)
    }

    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    pub fn queue_arn(&self, r: &QueueRef) -> crate::domain::QueueArn {
        r.arn(&self.region)
    }

    async fn queue(&self, r: &QueueRef) -> Result<QueueRow, SqsError> {
        self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.ok_or(SqsError::QueueDoesNotExist)
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

    /// The queue's row for the message paths (send, receive, delete, visibility), from a
    /// cache kept fresh by the change notification of every queue change (the TTL is the
    /// backstop when one is lost; AWS allows up to 60 seconds for attribute changes to
    /// apply). Absence is not cached, so a queue made on another instance is found at once.
    async fn hot_queue(&self, r: &QueueRef) -> Result<Arc<QueueRow>, SqsError> {
        let row = self
            .row_cache
            .get_or_load(r, self.clock.now(), self.store.cache_epoch(), || async {
                Ok::<_, SqsError>(self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.map(Arc::new))
            })
            .await?;
        row.ok_or(SqsError::QueueDoesNotExist)
    }

    /// CreateQueue: idempotent when the supplied attributes match.
    /// CreateQueue, with tags for a new queue (an existing queue's tags are left alone).
    pub async fn create_queue(
        &self,
        r: &QueueRef,
        attrs: &HashMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        let settings = attributes::settings_for_create(attrs)?;
        super::tags::validate(tags)?;
        let redrive = self.redrive_for(r, attrs, JsonAttributes::default()).await?;
        let encryption = self.encryption_for(r.account.as_str(), attrs, Encryption::default()).await?;
        if let Err(e) = self.quotas.check_new_queue(r.account.as_str()).await {
            // At the limit, creating a queue that exists already still answers its URL.
            if self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.is_none() {
                return Err(e);
            }
        }
        let now = self.clock.now();
        let mut tries = 0;
        loop {
            match self
                .store
                .create_queue(r.account.as_str(), r.name.as_str(), settings, &redrive, &encryption, now)
                .await
            {
                Ok(Created::New(q)) => {
                    // Cached rows of this name (a queue deleted and made again) are stale.
                    self.store.caches_changed().await;
                    if !tags.is_empty() {
                        self.store.tag_queue(q.id, tags, super::tags::MAX_TAGS as i64).await?;
                    }
                    break;
                }
                Ok(Created::Existing(row)) => {
                    let same_redrive = (!attrs.contains_key("RedrivePolicy")
                        || (redrive.dlq_name == row.dlq_name && redrive.max_receive_count == row.max_receive_count))
                        && (!attrs.contains_key("RedriveAllowPolicy")
                            || redrive.allow_policy == row.redrive_allow_policy);
                    if !same_redrive || !attributes::same_as_existing(attrs, &settings, &row.settings()) {
                        return Err(SqsError::QueueNameExists(format!(
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

    pub async fn get_queue_url(&self, r: &QueueRef) -> Result<String, SqsError> {
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
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        let max = in_range("MaxResults", max_results, 1, MAX_LIST as i32)?;
        let prefix = prefix.unwrap_or("");
        if prefix.len() > QueueName::MAX_LEN {
            return Err(SqsError::InvalidParameterValue(
                "Value for parameter QueueNamePrefix is invalid. Reason: Must be at most 80 characters.".into(),
            ));
        }
        let page = Page::new(max, next_token)?;
        let names = self.store.list_queue_names(account.as_str(), prefix, page.after(), page.fetch()).await?;
        Ok(page.finish(names, |n| self.queue_url(account.as_str(), n)))
    }

    pub async fn delete_queue(&self, r: &QueueRef) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let (existed, shredded) = self.store.delete_queue(q.id).await?;
        // Its data keys are gone with it (but those sealing messages in a dead-letter queue).
        self.keys.forget_queue(q.id, &shredded);
        if !existed {
            return Err(SqsError::QueueDoesNotExist);
        }
        self.wakeups.forget(q.id);
        // Cached rows and policies of the queue (here and on other instances) are stale.
        self.store.caches_changed().await;
        Ok(())
    }

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

    /// `n` messages became visible on the queue: wake as many of its long polls.
    fn wake(&self, queue_id: Uuid, n: usize) {
        self.wakeups.sent(queue_id, n);
    }

    /// Message move tasks (its worker runs as a background task).
    pub fn moves(&self) -> &Arc<super::moves::Mover> {
        &self.mover
    }

    /// The wake-up hub (its notifier and listener run as background tasks).
    /// The service's clock's current time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    /// SendMessage: validates, seals, stores; answers once committed.
    pub async fn send_message(&self, r: &QueueRef, input: SendInput) -> Result<SendOutput, SqsError> {
        let q = self.hot_queue(r).await?;
        self.quotas.check_send(&q.account_id).await?;
        let key = self.keys.for_sealing(&key_ref(&q)).await?;
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
        check_batch_ids(entries.iter().map(|(id, _)| id.as_str()))?;
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
        let key = self.keys.for_sealing(&key_ref(&q)).await?;
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
        let key = self.keys.for_sealing(&key_ref(&q)).await?;
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

    /// ReceiveMessage: a short poll, or a long poll that sleeps until a send to the queue
    /// wakes it, the next delayed or in-flight message becomes visible, or the wait ends.
    /// No database connection is held while it sleeps.
    pub async fn receive_message(&self, r: &QueueRef, input: ReceiveInput) -> Result<Vec<ReceivedMessage>, SqsError> {
        let max = in_range("MaxNumberOfMessages", input.max_messages, 1, MAX_RECEIVE)?.unwrap_or(1);
        let visibility = in_range("VisibilityTimeout", input.visibility_timeout, 0, MAX_VISIBILITY)?;
        let wait = in_range("WaitTimeSeconds", input.wait_seconds, 0, MAX_WAIT_SECONDS)?;
        let q = self.hot_queue(r).await?;
        let visibility = TimeDelta::seconds(visibility.unwrap_or(q.visibility_timeout).into());
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
            let got = self
                .store
                .receive_messages(&ReceiveRequest {
                    queue_id: q.id,
                    now,
                    not_before: expiry_cutoff(&q, now),
                    max: max.into(),
                    visible_until: now + visibility,
                    dead_letter,
                    max_inflight: self.inflight_limit(q.id, max.into(), now).await?,
                })
                .await?;
            if !got.rows.is_empty() {
                self.count_received(q.id, got.rows.len());
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

    /// The service is stopping: open long polls answer at once (with what they found so
    /// far: nothing), new ones do not wait.
    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
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

    /// Messages set aside because they did not open, since this process started.
    pub fn unopenable_count(&self) -> u64 {
        self.unopenable.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn keys(&self) -> &Arc<crate::keys::DataKeys> {
        &self.keys
    }

    /// Counts what the queue layer sees (set once, at start).
    pub fn with_metrics(mut self, m: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(m);
        self
    }

    /// Long polls waiting now on this instance.
    pub fn open_long_polls(&self) -> usize {
        self.max_long_polls.saturating_sub(self.long_polls.available_permits())
    }

    pub fn quotas(&self) -> &Arc<super::quotas::Quotas> {
        &self.quotas
    }

    /// Measures what every account stores (run by the sweep; stored-data limits are
    /// enforced against the last measurement). The measurement reads every message, so it
    /// is skipped while no message was added or removed since the last one, here or on
    /// another instance (PostgreSQL's row counts of `messages`, which lag by a second or
    /// more, plus this instance's own writes), but made at least every `USAGE_BACKSTOP`.
    /// Returns how many accounts were measured (0 when skipped).
    pub async fn measure_usage(&self) -> Result<u64, SqsError> {
        let now = self.clock.now();
        let seen = (self.store.messages_churn().await?, self.store.message_writes());
        let last = self.last_usage.lock().ok().and_then(|l| *l);
        if !usage_due(last, seen, now) {
            return Ok(0);
        }
        let n = self.store.measure_usage(now).await?;
        if let Ok(mut l) = self.last_usage.lock() {
            *l = Some((seen, now));
        }
        self.quotas.clear_cache();
        Ok(n)
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

    /// DeleteMessage: a handle from another queue (or a recreated one) is invalid; a stale
    /// handle of this queue still deletes, as on AWS.
    pub async fn delete_message(&self, r: &QueueRef, handle: &ReceiptHandle) -> Result<(), SqsError> {
        let q = self.hot_queue(r).await?;
        let receipt = self
            .receipts
            .check(handle)
            .filter(|rc| rc.queue_id == q.id)
            .ok_or_else(|| SqsError::receipt_handle_invalid(handle.as_str()))?;
        self.group.delete(q.id, vec![receipt.message_id]).await
    }

    /// ChangeMessageVisibility: the new timeout counts from now, for the handle's own
    /// receive, and may not reach past 12 hours after that receive.
    pub async fn change_message_visibility(
        &self,
        r: &QueueRef,
        handle: &ReceiptHandle,
        timeout: i32,
    ) -> Result<(), SqsError> {
        in_range("VisibilityTimeout", Some(timeout), 0, MAX_VISIBILITY)?;
        let q = self.hot_queue(r).await?;
        let invalid = || SqsError::receipt_handle_invalid(handle.as_str());
        let receipt = self.receipts.check(handle).filter(|rc| rc.queue_id == q.id).ok_or_else(invalid)?;
        let seq = i32::try_from(receipt.receive_seq).map_err(|_| invalid())?;
        let now = self.clock.now();
        let visible_at = now + TimeDelta::seconds(timeout.into());
        if self.store.change_visibility(q.id, receipt.message_id, seq, now, visible_at, VISIBILITY_CAP).await? {
            if timeout == 0 {
                self.wake(q.id, 1);
            }
            return Ok(());
        }
        // Refused: say why, as SQS does.
        let Some(state) = self.store.inflight_state(q.id, receipt.message_id).await? else {
            return Err(invalid());
        };
        if state.receive_count != seq {
            return Err(invalid());
        }
        if state.visible_at <= now {
            return Err(SqsError::MessageNotInflight);
        }
        let received = state.last_received_at.unwrap_or(now);
        Err(SqsError::InvalidParameterValue(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds] (received {} s ago).",
            (now - received).num_seconds()
        )))
    }

    /// DeleteMessageBatch: malformed or foreign handles fail their entry; the rest are
    /// deleted in one statement (stale handles included, as with DeleteMessage).
    pub async fn delete_message_batch(
        &self,
        r: &QueueRef,
        entries: Vec<(String, ReceiptHandle)>,
    ) -> Result<Vec<(String, Result<(), SqsError>)>, SqsError> {
        check_batch_ids(entries.iter().map(|(id, _)| id.as_str()))?;
        let q = self.hot_queue(r).await?;
        let mut ids = Vec::new();
        let results: Vec<_> = entries
            .into_iter()
            .map(|(id, handle)| match self.receipts.check(&handle).filter(|rc| rc.queue_id == q.id) {
                Some(rc) => {
                    ids.push(rc.message_id);
                    (id, Ok(()))
                }
                None => (id, Err(SqsError::receipt_handle_invalid(handle.as_str()))),
            })
            .collect();
        if !ids.is_empty() {
            self.group.delete(q.id, ids).await?;
        }
        Ok(results)
    }

    /// ChangeMessageVisibilityBatch: each entry as ChangeMessageVisibility would treat it;
    /// the valid ones change in one statement.
    pub async fn change_message_visibility_batch(
        &self,
        r: &QueueRef,
        entries: Vec<(String, ReceiptHandle, Option<i32>)>,
    ) -> Result<Vec<(String, Result<(), SqsError>)>, SqsError> {
        check_batch_ids(entries.iter().map(|(id, _, _)| id.as_str()))?;
        let q = self.hot_queue(r).await?;
        let now = self.clock.now();
        let mut results: Vec<(String, Result<(), SqsError>)> = Vec::with_capacity(entries.len());
        let mut changes = Vec::new();
        let mut pending = Vec::new();
        for (id, handle, timeout) in entries {
            let checked = (|| {
                let timeout = timeout.ok_or(SqsError::missing("VisibilityTimeout"))?;
                in_range("VisibilityTimeout", Some(timeout), 0, MAX_VISIBILITY)?;
                let invalid = || SqsError::receipt_handle_invalid(handle.as_str());
                let rc = self.receipts.check(&handle).filter(|rc| rc.queue_id == q.id).ok_or_else(invalid)?;
                let seq = i32::try_from(rc.receive_seq).map_err(|_| invalid())?;
                Ok((rc.message_id, seq, now + TimeDelta::seconds(timeout.into()), timeout))
            })();
            match checked {
                Ok((msg, seq, deadline, timeout)) => {
                    changes.push((msg, seq, deadline));
                    pending.push((results.len(), msg, seq, timeout));
                    results.push((id, Ok(())));
                }
                Err(e) => results.push((id, Err(e))),
            }
        }
        if changes.is_empty() {
            return Ok(results);
        }
        let changed = self.store.change_visibilities(q.id, &changes, now, VISIBILITY_CAP).await?;
        let refused: Vec<Uuid> = pending.iter().map(|p| p.1).filter(|m| !changed.contains(m)).collect();
        let states: HashMap<Uuid, crate::store::messages::InflightRow> = if refused.is_empty() {
            HashMap::new()
        } else {
            self.store.inflight_states(q.id, &refused).await?.into_iter().collect()
        };
        let mut released = 0;
        for (index, msg, seq, timeout) in pending {
            if changed.contains(&msg) {
                released += usize::from(timeout == 0);
                continue;
            }
            let err = match states.get(&msg) {
                Some(s) if s.receive_count == seq && s.visible_at <= now => SqsError::MessageNotInflight,
                Some(s) if s.receive_count == seq => SqsError::InvalidParameterValue(format!(
                    "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]."
                )),
                _ => SqsError::receipt_handle_invalid("(batch entry)"),
            };
            results[index].1 = Err(err);
        }
        if released > 0 {
            self.wake(q.id, released);
        }
        Ok(results)
    }

    /// TagQueue: adds or overwrites; a queue holds at most 50 tags.
    pub async fn tag_queue(&self, r: &QueueRef, tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
        if tags.is_empty() {
            return Err(SqsError::missing("Tags"));
        }
        super::tags::validate(tags)?;
        let q = self.queue(r).await?;
        if !self.store.tag_queue(q.id, tags, super::tags::MAX_TAGS as i64).await? {
            return Err(SqsError::InvalidParameterValue(format!(
                "Too many tags added for queue {}. A queue holds at most {} tags.",
                q.name,
                super::tags::MAX_TAGS
            )));
        }
        Ok(())
    }

    /// UntagQueue: absent keys are ignored.
    pub async fn untag_queue(&self, r: &QueueRef, keys: &[String]) -> Result<(), SqsError> {
        if keys.is_empty() {
            return Err(SqsError::missing("TagKeys"));
        }
        if keys.len() > super::tags::MAX_TAGS {
            return Err(SqsError::InvalidParameterValue("Too many tag keys in one request.".into()));
        }
        for k in keys {
            super::tags::validate_key(k)?;
        }
        let q = self.queue(r).await?;
        self.store.untag_queue(q.id, keys).await?;
        Ok(())
    }

    /// The tags of a queue, or none when it does not exist (for authorization context).
    pub async fn tags_if_exists(&self, r: &QueueRef) -> Result<BTreeMap<String, String>, SqsError> {
        match self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await? {
            Some(q) => Ok(self.store.queue_tags(q.id).await?),
            None => Ok(BTreeMap::new()),
        }
    }

    pub async fn list_queue_tags(&self, r: &QueueRef) -> Result<BTreeMap<String, String>, SqsError> {
        let q = self.queue(r).await?;
        Ok(self.store.queue_tags(q.id).await?)
    }

    fn arn_of(&self, account: &str, name: &str) -> String {
        format!("arn:aws:sqs:{}:{account}:{name}", self.region)
    }

    /// The redrive settings a Create/SetQueueAttributes asks for, on top of `current`,
    /// checked as SQS does: the dead-letter queue is in the same account, exists, is not the
    /// queue itself, and its RedriveAllowPolicy admits this queue. Runs after authorization,
    /// so it reveals nothing about other accounts.
    async fn redrive_for(
        &self,
        r: &QueueRef,
        attrs: &HashMap<String, String>,
        current: JsonAttributes,
    ) -> Result<JsonAttributes, SqsError> {
        let mut next = current;
        if let Some(text) = attrs.get("Policy") {
            next.policy = if text.is_empty() { None } else { Some(self.check_queue_policy(r, text)?) };
        }
        if let Some(text) = attrs.get("RedriveAllowPolicy") {
            next.allow_policy = redrive::parse_allow_policy(text)?;
        }
        if let Some(text) = attrs.get("RedrivePolicy") {
            match redrive::parse_redrive_policy(text)? {
                None => {
                    next.dlq_name = None;
                    next.max_receive_count = None;
                }
                Some(p) => {
                    let bad = |reason: &str| {
                        SqsError::InvalidAttributeValue(format!(
                            "Value {} for parameter RedrivePolicy is invalid. Reason: {reason}",
                            p.target_arn
                        ))
                    };
                    if p.target.account != r.account {
                        return Err(bad("The dead-letter queue must be in the same account as the source queue."));
                    }
                    if p.target.name == r.name {
                        return Err(bad("A queue cannot be its own dead-letter queue."));
                    }
                    let dlq = self
                        .store
                        .queue_by_name(p.target.account.as_str(), p.target.name.as_str())
                        .await?
                        .ok_or_else(|| bad("Dead letter target does not exist."))?;
                    if !redrive::allows(dlq.redrive_allow_policy.as_deref(), self.queue_arn(r).as_str()) {
                        return Err(bad("The dead-letter queue's RedriveAllowPolicy does not allow this queue."));
                    }
                    next.dlq_name = Some(dlq.name);
                    next.max_receive_count = Some(p.max_receive_count);
                }
            }
        }
        Ok(next)
    }

    /// Validates a queue policy for queue `r`; returns the text to store, exactly as written.
    fn check_queue_policy(&self, r: &QueueRef, text: &str) -> Result<String, SqsError> {
        let bad = |reason: String| {
            SqsError::InvalidAttributeValue(format!("Invalid value for the parameter Policy. Reason: {reason}"))
        };
        let policy = crate::policy::document::parse(text, crate::policy::document::Kind::Queue)
            .map_err(|e| bad(e.to_string()))?;
        let arn = self.queue_arn(r);
        let ctx = crate::policy::context::Context::new();
        for s in &policy.statements {
            if s.not_resource {
                continue;
            }
            let matches = s.resources.iter().any(|p| {
                crate::policy::condition::resolve(p, &ctx)
                    .is_none_or(|t| crate::policy::arn::resource_matches(&t, arn.as_str()))
            });
            if !matches {
                let at =
                    s.sid.as_deref().map(|x| format!("Sid {x}")).unwrap_or_else(|| format!("Statement[{}]", s.index));
                return Err(bad(format!("{at}: Resource does not match this queue ({arn}).")));
            }
        }
        if let Some(finding) = crate::policy::lint::unbound_service_allows(&policy).into_iter().next() {
            return Err(bad(finding.to_string()));
        }
        for finding in crate::policy::lint::confused_deputy(&policy) {
            tracing::warn!(queue = %arn, %finding, "queue policy is open to a confused deputy");
        }
        Ok(text.to_owned())
    }

    /// AddPermission: adds a statement with Sid `label` granting `actions` to `accounts`,
    /// in the shape SQS writes it.
    pub async fn add_permission(
        &self,
        r: &QueueRef,
        label: &str,
        accounts: &[String],
        actions: &[String],
    ) -> Result<(), SqsError> {
        let invalid = |param: &str, value: &str, reason: &str| {
            SqsError::InvalidParameterValue(format!("Value {value} for parameter {param} is invalid. Reason: {reason}"))
        };
        if label.is_empty()
            || label.len() > 80
            || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "Label",
                label,
                "Must be 1 to 80 characters of letters, digits, hyphens or underscores.",
            ));
        }
        if accounts.is_empty() {
            return Err(SqsError::missing("AWSAccountIds"));
        }
        if actions.is_empty() {
            return Err(SqsError::missing("Actions"));
        }
        if actions.len() > 7 {
            return Err(SqsError::OverLimit(format!("{} Actions were found, maximum allowed is 7.", actions.len())));
        }
        const GRANTABLE: &[&str] = &[
            "*",
            "SendMessage",
            "ReceiveMessage",
            "DeleteMessage",
            "ChangeMessageVisibility",
            "GetQueueAttributes",
            "GetQueueUrl",
            "ListDeadLetterSourceQueues",
            "PurgeQueue",
        ];
        for a in actions {
            if !GRANTABLE.contains(&a.as_str()) {
                return Err(invalid(
                    "ActionName",
                    &format!("SQS:{a}"),
                    "Only the queue owner is allowed to invoke this action.",
                ));
            }
        }
        for acct in accounts {
            if AccountId::parse(acct).is_none() {
                return Err(invalid("AWSAccountIds", acct, "An AWS account id is 12 digits."));
            }
        }
        let q = self.queue(r).await?;
        let arn = self.queue_arn(r);
        let mut doc: serde_json::Value = match &q.policy {
            Some(p) => serde_json::from_str(p)
                .map_err(|_| SqsError::InvalidAttributeValue("The stored policy is not JSON.".into()))?,
            None => {
                serde_json::json!({ "Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": [] })
            }
        };
        let statements = match doc.get_mut("Statement") {
            Some(serde_json::Value::Array(a)) => a,
            Some(other) => {
                let one = other.take();
                *other = serde_json::Value::Array(vec![one]);
                other.as_array_mut().ok_or_else(|| SqsError::InvalidAttributeValue("bad policy".into()))?
            }
            None => return Err(SqsError::InvalidAttributeValue("The stored policy has no Statement.".into())),
        };
        if statements.iter().any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(label)) {
            return Err(invalid("Label", label, "Already exists."));
        }
        let one_or_many = |v: Vec<String>| {
            if v.len() == 1 { serde_json::Value::String(v[0].clone()) } else { serde_json::json!(v) }
        };
        let principals: Vec<String> = accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect();
        let actions: Vec<String> = actions.iter().map(|a| format!("SQS:{a}")).collect();
        statements.push(serde_json::json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": { "AWS": one_or_many(principals) },
            "Action": one_or_many(actions),
            "Resource": arn.as_str(),
        }));
        let text = doc.to_string();
        let policy = self.check_queue_policy(r, &text)?;
        let mut next = q.redrive();
        next.policy = Some(policy);
        self.store.update_queue_settings(q.id, q.settings(), &next, &q.encryption(), self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(())
    }

    /// RemovePermission: removes the statement whose Sid is `label`.
    pub async fn remove_permission(&self, r: &QueueRef, label: &str) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let missing = || {
            SqsError::InvalidParameterValue(format!(
                "Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
            ))
        };
        let mut doc: serde_json::Value =
            serde_json::from_str(q.policy.as_deref().ok_or_else(missing)?).map_err(|_| missing())?;
        let statements = match doc.get_mut("Statement") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err(missing()),
        };
        let before = statements.len();
        statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(label));
        if statements.len() == before {
            return Err(missing());
        }
        let mut next = q.redrive();
        next.policy = if statements.is_empty() { None } else { Some(doc.to_string()) };
        self.store.update_queue_settings(q.id, q.settings(), &next, &q.encryption(), self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(())
    }

    /// ListDeadLetterSourceQueues: queues of the same account whose dead-letter queue this is.
    pub async fn list_dead_letter_source_queues(
        &self,
        r: &QueueRef,
        max_results: Option<i32>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), SqsError> {
        let max = in_range("MaxResults", max_results, 1, MAX_LIST as i32)?;
        let q = self.queue(r).await?;
        let page = Page::new(max, next_token)?;
        let names = self.store.dead_letter_sources(&q.account_id, &q.name, page.after(), page.fetch()).await?;
        Ok(page.finish(names, |n| self.queue_url(&q.account_id, n)))
    }

    /// GetQueueAttributes. Unknown names are refused; names of features not built are
    /// valid and simply have no value.
    pub async fn get_queue_attributes(
        &self,
        r: &QueueRef,
        names: &[String],
    ) -> Result<Vec<(&'static str, String)>, SqsError> {
        if let Some(bad) = names.iter().find(|n| !attributes::is_known(n)) {
            let shown: String = bad.chars().take(100).collect();
            return Err(SqsError::InvalidAttributeName(format!("Unknown Attribute {shown}.")));
        }
        let q = self.queue(r).await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        const COUNTS: [&str; 3] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ];
        let wants_counts = names.iter().any(|n| n == "All" || COUNTS.contains(&n.as_str()));
        let now = self.clock.now();
        let counts = if wants_counts {
            self.store.message_counts(q.id, now, expiry_cutoff(&q, now)).await?
        } else {
            Default::default()
        };
        let facts = attributes::QueueFacts {
            arn: self.queue_arn(r).to_string(),
            created: q.created_at.timestamp(),
            last_modified: q.last_modified_at.timestamp(),
            visible: counts.visible,
            not_visible: counts.not_visible,
            delayed: counts.delayed,
            redrive_policy: match (&q.dlq_name, q.max_receive_count) {
                (Some(dlq), Some(max)) => Some(redrive::render_redrive_policy(&self.arn_of(&q.account_id, dlq), max)),
                _ => None,
            },
            redrive_allow_policy: q.redrive_allow_policy.clone(),
            policy: q.policy.clone(),
            encryption: q.encryption(),
        };
        Ok(attributes::render(names, &q.settings(), &facts))
    }

    /// The encryption attributes a request sets, over `base`: SqsManagedSseEnabled,
    /// KmsMasterKeyId (resolved to a key of the caller's account) and
    /// KmsDataKeyReusePeriodSeconds. One SSE mode at a time, as on SQS.
    async fn encryption_for(
        &self,
        account: &str,
        attrs: &HashMap<String, String>,
        base: Encryption,
    ) -> Result<Encryption, SqsError> {
        let mut e = base;
        if let Some(v) = attrs.get("KmsDataKeyReusePeriodSeconds") {
            e.reuse_seconds = v.trim().parse().ok().filter(|v| (60..=86_400).contains(v)).ok_or_else(|| {
                SqsError::InvalidAttributeValue("Invalid value for the parameter KmsDataKeyReusePeriodSeconds.".into())
            })?;
        }
        let sse = attrs.get("SqsManagedSseEnabled").map(String::as_str);
        match (sse, attrs.get("KmsMasterKeyId").map(String::as_str)) {
            (Some("true"), Some(k)) if !k.is_empty() => {
                return Err(SqsError::InvalidAttributeValue(
                    "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.".into(),
                ));
            }
            (_, Some("")) => {
                e.kms_master_key_id = None;
                e.kms_master_key = None;
                e.sse_sqs = sse == Some("true");
            }
            (_, Some(k)) => {
                if k.len() > 2048 {
                    return Err(SqsError::InvalidAttributeValue(
                        "Invalid value for the parameter KmsMasterKeyId.".into(),
                    ));
                }
                let resolved = self.keys.resolve_master_key(account, k).await?;
                e.kms_master_key_id = Some(k.to_owned());
                e.kms_master_key = Some(resolved);
                e.sse_sqs = false;
            }
            (Some(v), None) => {
                e.sse_sqs = v == "true";
                if e.sse_sqs {
                    e.kms_master_key_id = None;
                    e.kms_master_key = None;
                }
            }
            (None, None) => {}
        }
        Ok(e)
    }

    /// SetQueueAttributes: all or nothing; stamps LastModifiedTimestamp.
    pub async fn set_queue_attributes(&self, r: &QueueRef, attrs: &HashMap<String, String>) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        let settings = attributes::settings_for_set(attrs, q.settings())?;
        if attrs.is_empty() {
            return Ok(());
        }
        let redrive = self.redrive_for(r, attrs, q.redrive()).await?;
        let encryption = self.encryption_for(&q.account_id, attrs, q.encryption()).await?;
        if !self.store.update_queue_settings(q.id, settings, &redrive, &encryption, self.clock.now()).await? {
            return Err(SqsError::QueueDoesNotExist);
        }
        // Cached rows and policies of the queue (here and on other instances) are stale now.
        self.store.caches_changed().await;
        // A shorter delay or a longer retention may let waiting consumers see messages.
        self.wakeups.wake_local(q.id);
        Ok(())
    }

    /// PurgeQueue: deletes every message, in flight or not; once per 60 seconds.
    pub async fn purge_queue(&self, r: &QueueRef) -> Result<(), SqsError> {
        let q = self.queue(r).await?;
        match self.store.purge_queue(q.id, self.clock.now(), PURGE_INTERVAL).await? {
            crate::store::queues::Purge::Done => Ok(()),
            crate::store::queues::Purge::TooSoon => Err(SqsError::PurgeQueueInProgress(format!(
                "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                q.name
            ))),
        }
    }

    /// Deletes expired messages of every queue (they are never delivered in any case).
    /// Returns how many were removed. Each queue's expired messages are a range of its
    /// time-ordered ids; once an hour (and first on each instance) the sweep also looks at
    /// every message, for ids that are not time-ordered (stored before ids were).
    pub async fn sweep_expired(&self) -> Result<u64, SqsError> {
        let now = self.clock.now();
        let full = match self.last_full_sweep.lock() {
            Ok(mut last) => {
                let due = full_sweep_due(*last, now);
                if due {
                    *last = Some(now);
                }
                due
            }
            Err(_) => true,
        };
        self.sweep_expired_with(now, full).await
    }

    /// The sweep as of `now`: `full` looks at every message of each queue, otherwise at the
    /// range of ids sent before its retention began.
    async fn sweep_expired_with(&self, now: DateTime<Utc>, full: bool) -> Result<u64, SqsError> {
        let mut removed = 0;
        for (queue_id, retention) in self.store.queue_retentions().await? {
            let cutoff = now - TimeDelta::seconds(retention.into());
            let below = (!full).then(|| message::ids_sent_by(cutoff));
            self.store.delete_expired_receipts(queue_id, now).await?;
            loop {
                let n = self.store.delete_expired(queue_id, cutoff, SWEEP_BATCH, below).await?;
                removed += n;
                if n < SWEEP_BATCH as u64 {
                    break;
                }
                // Paced: a large backlog is deleted in steps that leave room for requests.
                tokio::time::sleep(SWEEP_PAUSE).await;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_looks_at_every_message_first_and_then_hourly() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(full_sweep_due(None, t));
        assert!(!full_sweep_due(Some(t), t + TimeDelta::minutes(59)));
        assert!(full_sweep_due(Some(t), t + TimeDelta::hours(1)));
        assert!(full_sweep_due(Some(t), t - TimeDelta::seconds(1)), "a clock that went back");
    }

    #[test]
    fn usage_is_measured_again_only_after_a_change_or_the_backstop() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let minute = TimeDelta::minutes(1);
        assert!(usage_due(None, (5, 0), t), "never measured");
        assert!(!usage_due(Some(((5, 0), t)), (5, 0), t + minute), "nothing changed");
        assert!(usage_due(Some(((5, 0), t)), (6, 0), t + minute), "written by any instance");
        assert!(usage_due(Some(((5, 0), t)), (5, 1), t + minute), "written here, not yet in the statistics");
        assert!(usage_due(Some(((5, 0), t)), (5, 0), t + USAGE_BACKSTOP));
        assert!(usage_due(Some(((0, 0), t)), (0, 0), t + minute), "statistics off");
        assert!(usage_due(Some(((5, 0), t)), (5, 0), t - minute), "a clock that went back");
    }
}
