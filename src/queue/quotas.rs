//! Per-account limits, so that no team can starve the others: a request rate per account and
//! action family (token buckets, per instance), the number of queues (counted in the
//! database at create), and stored messages and bytes (measured in the database by the
//! sweep, enforced at send). Limits are the configured defaults unless an account has its
//! own (`sluice admin account limits`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::EpochCache;
use crate::store::PgStore;
use crate::store::limits::{LimitOverrides, Usage};

use super::SqsError;

/// The configured defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub requests_per_second: u32,
    pub max_queues: i64,
    pub max_stored_messages: i64,
    pub max_stored_bytes: i64,
    pub max_long_polls: u32,
}

/// An account's limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_second: u32,
    pub max_queues: i64,
    pub max_stored_messages: i64,
    pub max_stored_bytes: i64,
    pub max_long_polls: u32,
}

impl Defaults {
    pub fn with(&self, o: &LimitOverrides) -> Limits {
        Limits {
            requests_per_second: o.requests_per_second.map_or(self.requests_per_second, |v| v.max(1) as u32),
            max_queues: o.max_queues.unwrap_or(self.max_queues),
            max_stored_messages: o.max_stored_messages.unwrap_or(self.max_stored_messages),
            max_stored_bytes: o.max_stored_bytes.unwrap_or(self.max_stored_bytes),
            max_long_polls: o.max_long_polls.map_or(self.max_long_polls, |v| v.max(0) as u32),
        }
    }
}

/// How long an account's limits and measured usage are trusted without reading them again
/// (a change of limits also makes them stale at once, through the cache epoch).
const CACHE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
const MAX_ENTRIES: usize = 100_000;

/// The action families rates are counted in.
pub fn family(action: &str) -> &'static str {
    match action {
        "SendMessage" | "SendMessageBatch" | "S3Event" => "send",
        "ReceiveMessage" => "receive",
        "DeleteMessage" | "DeleteMessageBatch" | "ChangeMessageVisibility" | "ChangeMessageVisibilityBatch" => "delete",
        _ => "manage",
    }
}

/// The answer when this instance holds as many long polls as it allows.
pub fn too_many_long_polls() -> SqsError {
    SqsError::RequestThrottled("Too many open long polls on this server; retry later.".into())
}

/// A token bucket: `rate` tokens a second, up to twice that in reserve.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Refills `b` for the time passed and takes a token if there is one.
fn take(b: &mut Bucket, now: Instant, rate: u32) -> bool {
    let capacity = 2.0 * f64::from(rate);
    b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * f64::from(rate)).min(capacity);
    b.at = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        true
    } else {
        false
    }
}

/// Limits, usage and request buckets of every account. One per process.
#[derive(Debug)]
pub struct Quotas {
    store: PgStore,
    clock: Arc<dyn crate::clock::Clock>,
    defaults: Defaults,
    cache: EpochCache<String, (Limits, Usage)>,
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
    long_polls: Arc<Mutex<HashMap<String, u32>>>,
    /// Requests of each account being served now (all but receives), bounded so that one
    /// account's load cannot hold every database connection.
    working: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    max_working: usize,
}

/// How long a request waits for its account's turn before it is throttled.
const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// An open long poll of an account; closing it (dropping) frees its place.
#[derive(Debug)]
pub struct LongPoll {
    open: Arc<Mutex<HashMap<String, u32>>>,
    account: String,
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(n) = open.get_mut(&self.account)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.account);
            }
        }
    }
}

impl Quotas {
    /// `max_working`: requests of one account served at once (the rest wait their turn).
    pub fn new(store: PgStore, clock: Arc<dyn crate::clock::Clock>, defaults: Defaults, max_working: usize) -> Self {
        Self {
            clock,
            working: Mutex::new(HashMap::new()),
            max_working: max_working.max(1),
            store,
            defaults,
            cache: EpochCache::new(CACHE_TTL, MAX_ENTRIES),
            buckets: Mutex::new(HashMap::new()),
            long_polls: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn defaults(&self) -> Defaults {
        self.defaults
    }

    /// The account's limits and its usage as last measured (cached briefly).
    pub async fn of(&self, account: &str) -> Result<(Limits, Usage), SqsError> {
        self.cache
            .get_or_load(account, self.clock.now(), self.store.cache_epoch(), || async {
                let limits = self.defaults.with(&self.store.limit_overrides(account).await?);
                let usage = self.store.usage(account).await?;
                Ok::<_, SqsError>((limits, usage))
            })
            .await
    }

    /// Opens a long poll for `account` unless it has as many open as it may (on this
    /// instance): a flood of long polls from one account leaves room for the others.
    pub async fn open_long_poll(&self, account: &str) -> Result<LongPoll, SqsError> {
        let (limits, _) = self.of(account).await?;
        let mut open = self.long_polls.lock().map_err(|_| too_many_long_polls())?;
        let n = open.entry(account.to_owned()).or_insert(0);
        if *n >= limits.max_long_polls {
            return Err(too_many_long_polls());
        }
        *n += 1;
        Ok(LongPoll { open: self.long_polls.clone(), account: account.to_owned() })
    }

    /// Waits for the account's turn to be served (at most `max_working` of its requests at
    /// once); after `ADMISSION_WAIT` the request is throttled instead.
    pub async fn admit_work(&self, account: &str) -> Result<tokio::sync::OwnedSemaphorePermit, SqsError> {
        let sem = {
            let mut working = self.working.lock().map_err(|_| too_many_long_polls())?;
            if working.len() >= MAX_ENTRIES {
                working.retain(|_, s| s.available_permits() < self.max_working);
            }
            working
                .entry(account.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.max_working)))
                .clone()
        };
        match tokio::time::timeout(ADMISSION_WAIT, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(SqsError::RequestThrottled(format!(
                "Too many requests of this account at once (at most {}); retry later.",
                self.max_working
            ))),
        }
    }

    /// Forgets cached limits and usage (after a new measurement).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Takes one token from the account's bucket for the action's family; false when it is
    /// empty (the request is throttled).
    pub fn admit(&self, account: &str, family: &'static str, rate: u32) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        if buckets.len() >= MAX_ENTRIES {
            buckets.clear();
        }
        let now = Instant::now();
        let b =
            buckets.entry((account.to_owned(), family)).or_insert(Bucket { tokens: 2.0 * f64::from(rate), at: now });
        take(b, now, rate)
    }

    /// Refuses a new queue past the account's limit (queues counted now, in the database).
    pub async fn check_new_queue(&self, account: &str) -> Result<(), SqsError> {
        let (limits, _) = self.of(account).await?;
        let queues = self.store.usage(account).await?.queues;
        if queues >= limits.max_queues {
            return Err(SqsError::OverLimit(format!(
                "The account has reached its limit of {} queues.",
                limits.max_queues
            )));
        }
        Ok(())
    }

    /// Refuses a send once the account stores as much as its limits allow.
    pub async fn check_send(&self, account: &str) -> Result<(), SqsError> {
        let (limits, usage) = self.of(account).await?;
        if usage.stored_messages >= limits.max_stored_messages {
            return Err(SqsError::OverLimit(format!(
                "The account has reached its limit of {} stored messages.",
                limits.max_stored_messages
            )));
        }
        if usage.stored_bytes >= limits.max_stored_bytes {
            return Err(SqsError::OverLimit(format!(
                "The account has reached its limit of {} stored bytes.",
                limits.max_stored_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            requests_per_second: 100,
            max_queues: 10,
            max_stored_messages: 1000,
            max_stored_bytes: 1 << 20,
            max_long_polls: 5,
        }
    }

    #[tokio::test]
    async fn one_account_gets_at_most_its_share_of_concurrent_work() {
        let store = crate::store::PgStore::connect_lazy_for_tests();
        let d = defaults();
        let q = Quotas::new(store, Arc::new(crate::clock::SystemClock), d, 2);
        let (p1, _p2) = (q.admit_work("a").await.unwrap(), q.admit_work("a").await.unwrap());
        // A third request of A waits; B is served at once.
        let third = tokio::time::timeout(Duration::from_millis(50), q.admit_work("a")).await;
        assert!(third.is_err(), "A's third request waits for a turn");
        let _b = q.admit_work("b").await.unwrap();
        drop(p1);
        let _again = tokio::time::timeout(Duration::from_millis(50), q.admit_work("a")).await.unwrap().unwrap();
    }

    #[test]
    fn families_group_actions() {
        assert_eq!(family("SendMessageBatch"), "send");
        assert_eq!(family("ReceiveMessage"), "receive");
        assert_eq!(family("ChangeMessageVisibility"), "delete");
        assert_eq!(family("CreateQueue"), "manage");
    }

    #[test]
    fn a_bucket_allows_a_burst_of_twice_the_rate_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket { tokens: 20.0, at: t0 };
        let taken = (0..30).filter(|_| take(&mut b, t0, 10)).count();
        assert_eq!(taken, 20, "the burst");
        assert!(!take(&mut b, t0, 10));
        let later = t0 + Duration::from_millis(500);
        let taken = (0..30).filter(|_| take(&mut b, later, 10)).count();
        assert_eq!(taken, 5, "half a second at 10 a second");
        let much_later = t0 + Duration::from_secs(60);
        let taken = (0..100).filter(|_| take(&mut b, much_later, 10)).count();
        assert_eq!(taken, 20, "never more than the burst in reserve");
    }

    #[test]
    fn overrides_replace_defaults_one_by_one() {
        let d = defaults();
        let o = LimitOverrides { max_queues: Some(2), ..LimitOverrides::default() };
        let l = d.with(&o);
        assert_eq!((l.requests_per_second, l.max_queues, l.max_stored_messages), (100, 2, 1000));
    }
}
