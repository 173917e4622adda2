//! The queue service: its state, its construction, and the helpers its rooms share. The
//! operations live beside it, one room each: `catalog` (queues, attributes, tags,
//! permissions), `send`, `receive`, `visibility` (delete and change visibility), `sweep`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::receipt::ReceiptKeys;
use super::wait::Wakeups;
use super::{QueueRef, SqsError};
use crate::cache::EpochCache;
use crate::clock::Clock;
use crate::crypto::{Context, Sealer};
pub use crate::error::Batch;
use crate::store::{PgStore, QueueRow};

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

/// The parts of the queue layer that others run or consult too: data keys (the key
/// commands, the metrics), tenant limits (the API's admission), the wake-up hub and the
/// move-task worker (background tasks, the move-task actions). Built once by the caller.
#[derive(Debug, Clone)]
pub struct Shared {
    pub keys: Arc<crate::keys::DataKeys>,
    pub quotas: Arc<super::quotas::Quotas>,
    pub wakeups: Arc<Wakeups>,
    pub mover: Arc<super::moves::Mover>,
}

impl Shared {
    /// The parts over `store`, with the default and per-account limits and `max_working`
    /// requests of one account served at once.
    pub fn new(
        store: &PgStore,
        sealer: &Sealer,
        keys: Arc<crate::keys::DataKeys>,
        clock: Arc<dyn Clock>,
        limits: super::quotas::Defaults,
        max_working: usize,
    ) -> Result<Self, SqsError> {
        let (task_key_id, task_key) = sealer.derive_key("move-task-handle")?;
        Ok(Self {
            keys,
            quotas: Arc::new(super::quotas::Quotas::new(store.clone(), clock.clone(), limits, max_working)),
            wakeups: Wakeups::new(store.clone(), clock.clone()),
            mover: super::moves::Mover::new(
                store.clone(),
                clock,
                super::moves::TaskHandles::new(task_key_id, task_key),
            ),
        })
    }
}

/// The queue service: one per process.
/// What a usage measurement saw: (message row churn, this instance's message writes), and
/// when.
pub(super) type UsageSeen = ((i64, u64), DateTime<Utc>);

#[derive(Debug)]
pub struct QueueService {
    pub(super) store: PgStore,
    pub(super) sealer: Arc<Sealer>,
    pub(super) receipts: ReceiptKeys,
    /// Keys FIFO deduplication ids before they are stored.
    pub(super) dedup: super::fifo::DedupKeys,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) region: String,
    pub(super) public_url: String,
    pub(super) wakeups: Arc<Wakeups>,
    pub(super) long_polls: Arc<Semaphore>,
    pub(super) max_long_polls: usize,
    /// Long polls asleep now, having looked and found nothing (see `Asleep`).
    pub(super) asleep: Arc<std::sync::atomic::AtomicUsize>,
    pub(super) keys: Arc<crate::keys::DataKeys>,
    pub(super) quotas: Arc<super::quotas::Quotas>,
    pub(super) metrics: Option<Arc<crate::metrics::Metrics>>,
    pub(super) shutdown: tokio::sync::watch::Sender<bool>,
    /// Messages that failed to open (tampered, or their key is gone) and were set aside.
    pub(super) unopenable: std::sync::atomic::AtomicU64,
    pub(super) max_inflight: i64,
    /// Queue rows for the message paths (an absence is not kept).
    pub(super) row_cache: EpochCache<QueueRef, Option<Arc<QueueRow>>>,
    /// In-flight estimates by queue: when last counted, and the count plus receives since.
    pub(super) inflight: std::sync::Mutex<HashMap<Uuid, (std::time::Instant, i64)>>,
    /// Per FIFO queue, the last group a receive here took from: the next receive looks at the
    /// groups after it first, so receives go round the groups.
    pub(super) fifo_cursor: std::sync::Mutex<HashMap<Uuid, String>>,
    /// Concurrent sends stored together (one statement and one commit per group).
    pub(super) group: Arc<super::commit::GroupCommit>,
    /// When the expiry sweep last looked at every message (see `sweep_expired`).
    pub(super) last_full_sweep: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// What `measure_usage` saw when it last measured: (message row churn, this instance's
    /// message writes), and when.
    pub(super) last_usage: std::sync::Mutex<Option<UsageSeen>>,
}

/// How long a queue's row is trusted without reading it again (the backstop when a change
/// notification is lost).
pub(super) const QUEUE_CACHE_TTL: TimeDelta = TimeDelta::seconds(30);
/// How many queues' rows one instance keeps.
pub(super) const QUEUE_CACHE_ENTRIES: usize = 10_000;

/// Which master key seals a queue's data keys (its KmsMasterKeyId's, or the service key),
/// and for how long one is reused.
pub(super) fn key_ref(q: &QueueRow) -> crate::keys::QueueKeys<'_> {
    crate::keys::QueueKeys {
        queue_id: q.id,
        account_id: &q.account_id,
        master_key: q.kms_master_key.as_deref().unwrap_or(crate::keys::SERVICE_KEY),
        reuse_seconds: q.kms_reuse_seconds.into(),
    }
}

impl QueueService {
    /// The data key that seals what is sent to `q`. A KmsMasterKeyId that did not resolve
    /// when it was set is resolved now, as AWS checks a queue's key when a send uses it: its
    /// Kms* error fails the send, and once it resolves the queue keeps the resolved key.
    pub(super) async fn sealing_key(&self, q: &QueueRow) -> Result<Arc<crate::crypto::seal::DataCipher>, SqsError> {
        let (Some(id), None) = (&q.kms_master_key_id, &q.kms_master_key) else {
            return Ok(self.keys.for_sealing(&key_ref(q)).await?);
        };
        let master = self.keys.resolve_master_key(&q.account_id, id).await?;
        if self.store.resolve_queue_master_key(q.id, id, &master).await? {
            // Cached rows of the queue (here and on other instances) are stale now.
            self.store.caches_changed().await;
        }
        let keys = crate::keys::QueueKeys { master_key: &master, ..key_ref(q) };
        Ok(self.keys.for_sealing(&keys).await?)
    }
}

pub(super) fn body_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-body").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

pub(super) fn dedup_id_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-dedup-id").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

pub(super) fn attributes_context(account: &str, queue_id: Uuid, message_id: Uuid) -> Context {
    Context::new("message-attributes").with(account).with(queue_id.as_bytes()).with(message_id.as_bytes())
}

/// The whole-request checks of every batch, in this order: empty, too many, ids repeated,
/// an id of the wrong form.
pub fn check_batch_ids<'a>(batch: Batch, ids: impl Iterator<Item = &'a str> + Clone) -> Result<(), SqsError> {
    let n = ids.clone().count();
    if n == 0 {
        return Err(SqsError::empty_batch(batch));
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
            return Err(SqsError::invalid_batch_id());
        }
    }
    Ok(())
}

/// Messages sent at or before this instant have outlived the queue's retention period.
pub(super) fn expiry_cutoff(q: &QueueRow, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    now - TimeDelta::seconds(q.retention_seconds.into())
}

pub(super) fn in_range(name: &str, v: Option<i32>, min: i32, max: i32) -> Result<Option<i32>, SqsError> {
    match v {
        Some(v) if !(min..=max).contains(&v) => Err(SqsError::InvalidParameterValue(format!(
            "Value {v} for parameter {name} is invalid. Reason: Must be between {min} and {max}, if provided."
        ))),
        v => Ok(v),
    }
}

impl QueueService {
    #[allow(clippy::too_many_arguments)]
    /// The service over `shared` (built by the caller, which also runs its background parts:
    /// the wake-up notifier and listener, the move-task worker).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: PgStore,
        sealer: Arc<Sealer>,
        clock: Arc<dyn Clock>,
        region: String,
        public_url: String,
        max_long_polls: usize,
        max_inflight: i64,
        max_working: usize,
        shared: &Shared,
    ) -> Result<Self, SqsError> {
        let (key_id, key) = sealer.derive_key("receipt-handle")?;
        let (_, dedup_key) = sealer.derive_key("fifo-dedup")?;
        // Two group inserts in flight at the default pool size: measured on 2 cores, more
        // only adds commits (benches/results/README.md).
        let group = super::commit::GroupCommit::new(store.clone(), (max_working / 8).clamp(1, 4));
        let Shared { keys, quotas, wakeups, .. } = shared.clone();
        Ok(Self {
            store,
            receipts: ReceiptKeys::new(key_id, key),
            dedup: super::fifo::DedupKeys::new(dedup_key),
            sealer,
            clock,
            region,
            public_url: public_url.trim_end_matches('/').to_owned(),
            wakeups,
            keys,
            quotas,
            metrics: None,
            shutdown: tokio::sync::watch::channel(false).0,
            unopenable: std::sync::atomic::AtomicU64::new(0),
            max_inflight,
            row_cache: EpochCache::new(QUEUE_CACHE_TTL, QUEUE_CACHE_ENTRIES).keeping(Option::is_some),
            inflight: std::sync::Mutex::new(HashMap::new()),
            fifo_cursor: std::sync::Mutex::new(HashMap::new()),
            group,
            last_full_sweep: std::sync::Mutex::new(None),
            last_usage: std::sync::Mutex::new(None),
            long_polls: Arc::new(Semaphore::new(max_long_polls)),
            max_long_polls,
            asleep: Arc::default(),
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

    pub(super) async fn queue(&self, r: &QueueRef) -> Result<QueueRow, SqsError> {
        self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.ok_or(SqsError::QueueDoesNotExist)
    }

    /// The queue's row for the message paths (send, receive, delete, visibility), from a
    /// cache kept fresh by the change notification of every queue change (the TTL is the
    /// backstop when one is lost; AWS allows up to 60 seconds for attribute changes to
    /// apply). Absence is not cached, so a queue made on another instance is found at once.
    pub(super) async fn hot_queue(&self, r: &QueueRef) -> Result<Arc<QueueRow>, SqsError> {
        let row = self
            .row_cache
            .get_or_load(r, self.clock.now(), self.store.cache_epoch(), || async {
                Ok::<_, SqsError>(self.store.queue_by_name(r.account.as_str(), r.name.as_str()).await?.map(Arc::new))
            })
            .await?;
        row.ok_or(SqsError::QueueDoesNotExist)
    }

    /// `n` messages became visible on the queue: wake as many of its long polls.
    pub(super) fn wake(&self, queue_id: Uuid, n: usize) {
        self.wakeups.sent(queue_id, n);
    }

    /// The wake-up hub (its notifier and listener run as background tasks).
    /// The service's clock's current time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The service is stopping: open long polls answer at once (with what they found so
    /// far: nothing), new ones do not wait.
    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Messages set aside because they did not open, since this process started.
    pub fn unopenable_count(&self) -> u64 {
        self.unopenable.load(std::sync::atomic::Ordering::Relaxed)
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

    /// Long polls asleep now on this instance: they looked, found nothing, and wait for a
    /// wake-up, a message falling due or their deadline without touching the database.
    pub fn sleeping_long_polls(&self) -> usize {
        self.asleep.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Counts a long poll as asleep for as long as it lives.
pub(super) struct Asleep(Arc<std::sync::atomic::AtomicUsize>);

impl Asleep {
    pub(super) fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Asleep {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
