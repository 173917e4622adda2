//! The policies a request is decided with, loaded and cached: a caller's identity policies
//! (its user's or role's, groups' and attached managed policies included), a role session's
//! session policy, and a queue's resource policy. I/O and parsing only; every decision is
//! `policy::gate`'s.
//!
//! Entries live for one cache epoch (any change to accounts, keys, policies or queues, here
//! or on another instance, starts a new one) and at most the credential TTL (≤ 30 s).

use std::sync::Arc;

use chrono::TimeDelta;

use crate::cache::EpochCache;
use crate::clock::Clock;
use crate::domain::QueueRef;
use crate::policy::document::{Kind, Policy, PolicyError, parse};
use crate::store::{PgStore, StoreError};

/// How many callers' (and sessions') parsed policies one instance keeps.
const IDENTITY_ENTRIES: usize = 10_000;
/// How many queues' parsed policies one instance keeps.
const QUEUE_ENTRIES: usize = 10_000;

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PoliciesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Loads and caches policies. One per process; cheap to share.
pub struct Policies {
    store: PgStore,
    clock: Arc<dyn Clock>,
    /// User or role id → its identity policies; `session:KEY` → a session's policy.
    identity: EpochCache<String, Arc<Vec<Policy>>>,
    queues: EpochCache<QueueRef, Option<Arc<Policy>>>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies").finish_non_exhaustive()
    }
}

impl Policies {
    pub fn new(store: PgStore, clock: Arc<dyn Clock>, ttl: TimeDelta) -> Self {
        let ttl = ttl.min(super::credentials::MAX_TTL);
        Self {
            store,
            clock,
            identity: EpochCache::new(ttl, IDENTITY_ENTRIES),
            queues: EpochCache::new(ttl, QUEUE_ENTRIES),
        }
    }

    /// The identity policies of a user or role (by id). Documents were validated when
    /// stored; one that no longer parses is skipped and logged.
    pub async fn identity(&self, owner_id: &str) -> Result<Arc<Vec<Policy>>, PoliciesError> {
        self.identity
            .get_or_load(owner_id, self.clock.now(), self.store.cache_epoch(), || async {
                let docs = self.store.user_policy_documents(owner_id).await?;
                let parsed: Vec<Policy> = docs
                    .iter()
                    .filter_map(|d| match parse(d, Kind::Identity) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::error!(error = %e, "a stored identity policy no longer parses; ignoring it");
                            None
                        }
                    })
                    .collect();
                Ok::<_, PoliciesError>(Arc::new(parsed))
            })
            .await
    }

    /// A role session's session policy, parsed once per session (a list of one).
    pub async fn session(&self, access_key_id: &str, text: &str) -> Result<Arc<Vec<Policy>>, PoliciesError> {
        let key = format!("session:{access_key_id}");
        self.identity
            .get_or_load(key.as_str(), self.clock.now(), self.store.cache_epoch(), || async {
                Ok::<_, PoliciesError>(Arc::new(vec![parse(text, Kind::Identity)?]))
            })
            .await
    }

    /// A queue's policy; None when the queue has none or does not exist (the gate learns
    /// nothing of its existence from this).
    pub async fn queue(&self, r: &QueueRef) -> Result<Option<Arc<Policy>>, PoliciesError> {
        self.queues
            .get_or_load(r, self.clock.now(), self.store.cache_epoch(), || async {
                let text = self.store.queue_policy(r.account.as_str(), r.name.as_str()).await?;
                Ok::<_, PoliciesError>(text.and_then(|text| match parse(&text, Kind::Queue) {
                    Ok(p) => Some(Arc::new(p)),
                    Err(e) => {
                        tracing::error!(error = %e, "a stored queue policy no longer parses; ignoring it");
                        None
                    }
                }))
            })
            .await
    }
}
