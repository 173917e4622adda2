//! Bearer authentication of service integrations: `Authorization: Bearer <JWT>`.
//!
//! The token is verified offline against Sluice's own verification keys (looked up by `kid`
//! in the database, never fetched from a URL), then its integration is looked up: it must be
//! live and belong to an active account. Keys and integrations are cached per instance in the
//! store's cache epoch and for at most the credential TTL (≤ 30 s), so a revocation or a
//! retired key takes effect here at once and on other instances when the `sluice_caches`
//! notification arrives, or after the TTL if that notification is lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::AuthError;
use super::principal::{Principal, ServiceCaller};
use crate::clock::Clock;
use crate::crypto::token::{self, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenError, Verifier};
use crate::store::PgStore;
use crate::store::integrations::IntegrationRow;

const MAX_ENTRIES: usize = 10_000;

/// When an entry was read, in which cache epoch, and what was read (None: nothing there).
type Entry<T> = (DateTime<Utc>, u64, Option<Arc<T>>);

/// A small map of entries valid for one epoch and a TTL.
pub(super) struct Cache<T> {
    ttl: TimeDelta,
    entries: Mutex<HashMap<String, Entry<T>>>,
}

impl<T> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<T> Cache<T> {
    pub(super) fn new(ttl: TimeDelta) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// Some(entry) when cached and fresh (the entry itself may be a cached absence).
    pub(super) fn get(&self, key: &str, now: DateTime<Utc>, epoch: u64) -> Option<Option<Arc<T>>> {
        let entries = self.entries.lock().ok()?;
        let (at, e, v) = entries.get(key)?;
        (*e == epoch && now >= *at && now - *at < self.ttl).then(|| v.clone())
    }

    pub(super) fn put(&self, key: &str, value: Option<Arc<T>>, now: DateTime<Utc>, epoch: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, e, _)| *e == epoch && now - *at < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key.to_owned(), (now, epoch, value));
        }
    }
}

/// Verifies bearer tokens. One per process.
pub struct BearerAuth {
    store: PgStore,
    clock: Arc<dyn Clock>,
    /// kid → a verifier holding that one key.
    keys: Cache<Verifier>,
    integrations: Cache<IntegrationRow>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl BearerAuth {
    pub fn new(store: PgStore, clock: Arc<dyn Clock>, ttl: TimeDelta) -> Self {
        let ttl = ttl.min(super::credentials::MAX_TTL);
        Self { store, clock, keys: Cache::new(ttl), integrations: Cache::new(ttl) }
    }

    /// The service principal a token speaks for.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        let epoch = self.store.cache_epoch();
        let kid = token::key_id(bearer).ok_or(TokenError::Malformed)?;
        let verifier = match self.keys.get(&kid, now, epoch) {
            Some(v) => v,
            None => {
                let v = match self.store.verification_key(&kid).await? {
                    Some((account, pem)) => {
                        let mut v = Verifier::new(TOKEN_ISSUER, TOKEN_AUDIENCE);
                        v.add_key(&kid, &pem, &account)?;
                        Some(Arc::new(v))
                    }
                    None => None,
                };
                self.keys.put(&kid, v.clone(), now, epoch);
                v
            }
        };
        // A token naming an unknown or retired key still has its header checked first, so
        // `alg: none` and HMAC tokens get the answer that names the algorithm.
        let verifier = match verifier {
            Some(v) => v,
            None => {
                let empty = Verifier::new(TOKEN_ISSUER, TOKEN_AUDIENCE);
                return Err(empty.verify(bearer, now.timestamp()).err().unwrap_or(TokenError::UnknownKey).into());
            }
        };
        let claims = verifier.verify(bearer, now.timestamp())?;
        let integration = match self.integrations.get(&claims.sub, now, epoch) {
            Some(i) => i,
            None => {
                let i = self.store.live_integration(&claims.sub).await?.map(Arc::new);
                self.integrations.put(&claims.sub, i.clone(), now, epoch);
                i
            }
        };
        let integration = integration.ok_or(AuthError::Revoked)?;
        if integration.account_id != claims.acct || integration.service != claims.svc {
            return Err(AuthError::Revoked);
        }
        Ok(Principal::service(ServiceCaller {
            service: integration.service.clone(),
            account_id: integration.account_id.clone(),
            integration_id: integration.id.clone(),
            sources: integration.sources.clone(),
        }))
    }
}
