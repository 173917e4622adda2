//! A small, bounded cache of unsealed access keys. Entries expire after a short TTL, so a
//! disabled key stops working within that bound even without a notification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use zeroize::Zeroizing;

/// The longest an unsealed key is trusted without asking the database again.
pub const MAX_TTL: TimeDelta = TimeDelta::seconds(30);
const MAX_ENTRIES: usize = 10_000;

/// An access key ready for verification.
pub struct CachedKey {
    pub account_id: String,
    pub secret: Zeroizing<String>,
    pub active: bool,
    /// The key's user: (id, name, path); None for the account root.
    pub user: Option<(String, String, String)>,
}

impl std::fmt::Debug for CachedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKey").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

/// When an entry was fetched, in which cache epoch, and the key.
type Entry = (DateTime<Utc>, u64, Arc<CachedKey>);

#[derive(Debug)]
pub struct CredentialCache {
    ttl: TimeDelta,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new(MAX_TTL)
    }
}

impl CredentialCache {
    pub fn new(ttl: TimeDelta) -> Self {
        Self { ttl: ttl.min(MAX_TTL), entries: Mutex::new(HashMap::new()) }
    }

    /// A key cached in `epoch` and younger than the TTL.
    pub fn get(&self, access_key_id: &str, now: DateTime<Utc>, epoch: u64) -> Option<Arc<CachedKey>> {
        let entries = self.entries.lock().ok()?;
        let (at, e, key) = entries.get(access_key_id)?;
        (*e == epoch && now >= *at && now - *at < self.ttl).then(|| key.clone())
    }

    pub fn put(&self, access_key_id: &str, key: Arc<CachedKey>, now: DateTime<Utc>, epoch: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, e, _)| *e == epoch && now - *at < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(access_key_id.to_owned(), (now, epoch, key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl_or_a_change() {
        let c = CredentialCache::default();
        let t = Utc::now();
        c.put(
            "K",
            Arc::new(CachedKey {
                account_id: "1".into(),
                secret: Zeroizing::new("s".into()),
                active: true,
                user: None,
            }),
            t,
            0,
        );
        assert!(c.get("K", t + TimeDelta::seconds(29), 0).is_some());
        assert!(c.get("K", t + TimeDelta::seconds(30), 0).is_none());
        assert!(c.get("other", t, 0).is_none());
        assert!(c.get("K", t, 1).is_none(), "a newer epoch makes it stale");
    }
}
