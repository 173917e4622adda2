//! The one shape of cache for what the database says: credentials, sessions, parsed policies,
//! queue rows, tenant limits.
//!
//! An entry is valid for one cache epoch (`PgStore::cache_epoch`: a change anywhere in the
//! deployment, here or on another instance, starts a new one) and for a short TTL, the
//! backstop when a change notification is lost. The map is bounded.
//!
//! Loads are single-flight: requests that miss the same key at once wait for one load and share
//! its answer. A new epoch makes every entry stale at the same instant, so without this every
//! request in flight on a busy key (a hot queue's row, a busy caller's access key) would read
//! the database at once, one statement each.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::OnceCell;

/// What a load read, and when.
struct Loaded<V> {
    at: DateTime<Utc>,
    value: V,
    /// False for a value shared only with the requests that waited for its load (an absence
    /// that is not cached, so a thing made on another instance is found at once).
    keep: bool,
}

/// A key's current load: done, in flight, or failed (empty again: the next request loads).
struct Slot<V> {
    epoch: u64,
    cell: Arc<OnceCell<Loaded<V>>>,
}

/// A bounded map of values valid for one cache epoch and a TTL, loaded once per miss.
pub struct EpochCache<K, V> {
    ttl: TimeDelta,
    /// How long a value that is not kept (see `keeping`) still serves: zero unless
    /// `absent_for` sets it.
    absent_ttl: TimeDelta,
    max_entries: usize,
    keep: fn(&V) -> bool,
    slots: Mutex<HashMap<K, Slot<V>>>,
}

impl<K, V> std::fmt::Debug for EpochCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochCache").field("ttl", &self.ttl).field("max_entries", &self.max_entries).finish()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> EpochCache<K, V> {
    /// Entries live at most `ttl`; at most `max_entries` are kept.
    pub fn new(ttl: TimeDelta, max_entries: usize) -> Self {
        Self {
            ttl,
            absent_ttl: TimeDelta::zero(),
            max_entries: max_entries.max(1),
            keep: |_| true,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Values for which `keep` is false are handed to the requests waiting for their load
    /// but not kept for later ones (for example an absence: `Option::is_some`).
    pub fn keeping(mut self, keep: fn(&V) -> bool) -> Self {
        self.keep = keep;
        self
    }

    /// Values for which `keep` is false are still served for `ttl` (at most the cache's TTL):
    /// a brief memory of an absence, so that a flood of requests naming something that does
    /// not exist (an unknown access key id) costs one load per `ttl`, not one each.
    pub fn absent_for(mut self, ttl: TimeDelta) -> Self {
        self.absent_ttl = ttl.min(self.ttl);
        self
    }

    /// The value of `key`, from the cache when it was loaded in `epoch` less than the TTL
    /// before `now`; otherwise from `load`, run once for all the requests that miss together.
    /// An error is returned to the request whose load failed; those waiting load again.
    pub async fn get_or_load<Q, F, Fut, E>(&self, key: &Q, now: DateTime<Utc>, epoch: u64, load: F) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let cell = {
            let Ok(mut slots) = self.slots.lock() else {
                // Poisoned (a panic elsewhere): serve without the cache.
                return load().await;
            };
            // A slot serves while its load is in flight or its value is fresh.
            let serves = |s: &Slot<V>| s.epoch == epoch && s.cell.get().is_none_or(|l| self.fresh(l, now));
            let current = slots.get(key).filter(|s| serves(s)).map(|s| s.cell.clone());
            match current {
                Some(cell) => cell,
                None => {
                    if slots.len() >= self.max_entries {
                        slots.retain(|_, s| serves(s));
                        if slots.len() >= self.max_entries {
                            slots.clear();
                        }
                    }
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(key.to_owned(), Slot { epoch, cell: cell.clone() });
                    cell
                }
            }
        };
        let keep = self.keep;
        // The load (a database read) is boxed: it runs on a miss only, and inline it would
        // make every caller's future, hit or miss, as large as the read's.
        let loaded = cell
            .get_or_try_init(|| {
                Box::pin(async move {
                    let value = load().await?;
                    Ok(Loaded { at: now, keep: keep(&value), value })
                })
            })
            .await?;
        Ok(loaded.value.clone())
    }

    /// Whether a loaded value may still be handed to a new request at `now`.
    fn fresh(&self, l: &Loaded<V>, now: DateTime<Utc>) -> bool {
        let ttl = if l.keep { self.ttl } else { self.absent_ttl };
        now >= l.at && now - l.at < ttl
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn get(
        c: &EpochCache<String, Option<u32>>,
        loads: &AtomicUsize,
        at: DateTime<Utc>,
        epoch: u64,
    ) -> Option<u32> {
        c.get_or_load("k", at, epoch, || async {
            let n = loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(u32::try_from(n).ok())
        })
        .await
        .unwrap_or(None)
    }

    #[tokio::test]
    async fn entries_last_for_their_epoch_and_the_ttl() {
        let c = EpochCache::new(TimeDelta::seconds(30), 10);
        let loads = AtomicUsize::new(0);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(get(&c, &loads, t, 0).await, Some(0));
        assert_eq!(get(&c, &loads, t + TimeDelta::seconds(29), 0).await, Some(0));
        // The TTL ends it, so does a new epoch, and so does a clock that went back.
        assert_eq!(get(&c, &loads, t + TimeDelta::seconds(30), 0).await, Some(1));
        assert_eq!(get(&c, &loads, t + TimeDelta::seconds(30), 1).await, Some(2));
        assert_eq!(get(&c, &loads, t, 1).await, Some(3));
        c.clear();
        assert_eq!(get(&c, &loads, t, 1).await, Some(4));
    }

    #[tokio::test]
    async fn requests_that_miss_together_share_one_load() {
        let c = EpochCache::new(TimeDelta::seconds(30), 10);
        let loads = AtomicUsize::new(0);
        let gate = tokio::sync::Notify::new();
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let slow = || async {
            let n = loads.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok::<_, ()>(u32::try_from(n).ok())
        };
        let waiting = futures_util::future::join_all((0..50).map(|_| c.get_or_load("k", t, 7, slow)));
        let release = async {
            tokio::task::yield_now().await;
            gate.notify_one();
        };
        let (got, ()) = tokio::join!(waiting, release);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(got.iter().all(|v| *v == Ok(Some(0))), "{got:?}");
    }

    #[tokio::test]
    async fn a_failed_load_is_not_kept_and_the_next_request_loads_again() {
        let c: EpochCache<String, u32> = EpochCache::new(TimeDelta::seconds(30), 10);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(c.get_or_load("k", t, 0, || async { Err("down") }).await, Err("down"));
        assert_eq!(c.get_or_load("k", t, 0, || async { Ok::<_, &str>(5) }).await, Ok(5));
        assert_eq!(c.get_or_load("k", t, 0, || async { Ok::<_, &str>(6) }).await, Ok(5));
    }

    #[tokio::test]
    async fn values_not_kept_reach_only_the_requests_that_waited_for_them() {
        let c = EpochCache::new(TimeDelta::seconds(30), 10).keeping(Option::is_some);
        let loads = AtomicUsize::new(0);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let absent = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(None::<u32>)
        };
        let got = futures_util::future::join_all((0..10).map(|_| c.get_or_load("k", t, 0, absent))).await;
        assert!(got.iter().all(|v| *v == Ok(None)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Made meanwhile: the next request finds it.
        assert_eq!(c.get_or_load("k", t, 0, || async { Ok::<_, ()>(Some(3)) }).await, Ok(Some(3)));
        assert_eq!(c.get_or_load("k", t, 0, || async { Ok::<_, ()>(Some(4)) }).await, Ok(Some(3)));
    }

    #[tokio::test]
    async fn an_absence_kept_briefly_serves_for_its_own_ttl_and_its_epoch() {
        let c = EpochCache::new(TimeDelta::seconds(30), 10).keeping(Option::is_some).absent_for(TimeDelta::seconds(5));
        let loads = AtomicUsize::new(0);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let absent = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(None::<u32>)
        };
        for dt in [0, 1, 4] {
            assert_eq!(c.get_or_load("k", t + TimeDelta::seconds(dt), 0, absent).await, Ok(None));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for the absence within its TTL");
        assert_eq!(c.get_or_load("k", t + TimeDelta::seconds(5), 0, absent).await, Ok(None));
        assert_eq!(loads.load(Ordering::SeqCst), 2, "the absence's TTL ended");
        assert_eq!(
            c.get_or_load("k", t + TimeDelta::seconds(5), 1, || async { Ok::<_, ()>(Some(1)) }).await,
            Ok(Some(1))
        );
        // Present values keep the cache's own TTL.
        assert_eq!(c.get_or_load("k", t + TimeDelta::seconds(20), 1, absent).await, Ok(Some(1)));
    }

    #[tokio::test]
    async fn the_map_stays_within_its_bound() {
        let c: EpochCache<String, u32> = EpochCache::new(TimeDelta::seconds(30), 3);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..10u32 {
            let _ = c.get_or_load(i.to_string().as_str(), t, 0, || async { Ok::<_, ()>(i) }).await;
            assert!(c.slots.lock().map(|s| s.len()).unwrap_or(0) <= 3);
        }
        assert_eq!(c.get_or_load("9", t, 0, || async { Ok::<_, ()>(0) }).await, Ok(9));
    }
}
