//! Failed authentications per (source address, access key id): a bounded count per window.
//!
//! A pair past its budget is *suspect* until its window ends: its request bodies are read only
//! up to the pre-authentication limit (see `api::http`), so a client that keeps failing with
//! a known key id cannot make the server buffer megabytes for each attempt. A request whose
//! signature verifies is served as always, and clears its pair. Counting is never per
//! address alone: one failing client behind a NAT or a load balancer must not lock out every
//! tenant behind the same address.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures a pair may have in one window before it is suspect.
pub const BUDGET: u32 = 20;
/// The window over which failures are counted.
pub const WINDOW: Duration = Duration::from_secs(60);
const SHARDS: usize = 16;
/// Pairs tracked per shard; past it, expired pairs go first, then the least failing one.
const PER_SHARD: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    since: Instant,
}

/// The failure counts of one process (per instance: a bound on work, not a global quota).
#[derive(Debug)]
pub struct FailedAuth {
    shards: Vec<Mutex<HashMap<(IpAddr, String), Count>>>,
}

impl Default for FailedAuth {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl FailedAuth {
    fn shard(&self, ip: &IpAddr, key: &str) -> &Mutex<HashMap<(IpAddr, String), Count>> {
        let mut h = DefaultHasher::new();
        (ip, key).hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Whether the pair has used up its budget in the current window.
    pub fn suspect(&self, ip: IpAddr, key: &str, now: Instant) -> bool {
        let Ok(map) = self.shard(&ip, key).lock() else { return false };
        if map.is_empty() {
            // The usual case: nothing failing, nothing to look up (or allocate).
            return false;
        }
        map.get(&(ip, key.to_owned())).is_some_and(|c| now.duration_since(c.since) < WINDOW && c.failures >= BUDGET)
    }

    /// Counts one failed authentication of the pair.
    pub fn failed(&self, ip: IpAddr, key: &str, now: Instant) {
        let Ok(mut map) = self.shard(&ip, key).lock() else { return };
        if map.len() >= PER_SHARD && !map.contains_key(&(ip, key.to_owned())) {
            map.retain(|_, c| now.duration_since(c.since) < WINDOW);
            if map.len() >= PER_SHARD
                && let Some(least) = map.iter().min_by_key(|(_, c)| c.failures).map(|(k, _)| k.clone())
            {
                map.remove(&least);
            }
        }
        let c = map.entry((ip, key.to_owned())).or_insert(Count { failures: 0, since: now });
        if now.duration_since(c.since) >= WINDOW {
            *c = Count { failures: 0, since: now };
        }
        c.failures = c.failures.saturating_add(1);
    }

    /// A request of the pair authenticated: its count starts over.
    pub fn succeeded(&self, ip: IpAddr, key: &str) {
        let Ok(mut map) = self.shard(&ip, key).lock() else { return };
        if !map.is_empty() {
            map.remove(&(ip, key.to_owned()));
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map(|m| m.len()).unwrap_or(0)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_pair_is_suspect_past_its_budget_until_its_window_ends() {
        let f = FailedAuth::default();
        let t = Instant::now();
        for _ in 0..BUDGET - 1 {
            f.failed(A, "AKIA1", t);
        }
        assert!(!f.suspect(A, "AKIA1", t));
        f.failed(A, "AKIA1", t);
        assert!(f.suspect(A, "AKIA1", t));
        assert!(f.suspect(A, "AKIA1", t + WINDOW - Duration::from_millis(1)));
        assert!(!f.suspect(A, "AKIA1", t + WINDOW));
    }

    #[test]
    fn counting_is_per_address_and_key_never_per_address_alone() {
        let f = FailedAuth::default();
        let t = Instant::now();
        for _ in 0..BUDGET {
            f.failed(A, "AKIA1", t);
        }
        assert!(f.suspect(A, "AKIA1", t));
        assert!(!f.suspect(A, "AKIA2", t), "another key behind the same address");
        assert!(!f.suspect(B, "AKIA1", t), "the same key from another address");
    }

    #[test]
    fn a_success_clears_the_pair() {
        let f = FailedAuth::default();
        let t = Instant::now();
        for _ in 0..BUDGET {
            f.failed(A, "AKIA1", t);
        }
        f.succeeded(A, "AKIA1");
        assert!(!f.suspect(A, "AKIA1", t));
    }

    #[test]
    fn memory_stays_bounded_under_many_pairs() {
        let f = FailedAuth::default();
        let t = Instant::now();
        for i in 0..(SHARDS * PER_SHARD * 3) {
            f.failed(A, &format!("AKIA{i}"), t);
        }
        assert!(f.tracked() <= SHARDS * PER_SHARD, "{}", f.tracked());
    }
}
