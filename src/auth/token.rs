//! Bearer authentication of service integrations: `Authorization: Bearer <JWT>`.
//!
//! The token is verified offline against Sluice's own verification keys (looked up by `kid`
//! in the database, never fetched from a URL), then its integration is looked up: it must be
//! live and belong to an active account. Keys and integrations are cached per instance in the
//! store's cache epoch and for at most the credential TTL (≤ 30 s), so a revocation or a
//! retired key takes effect here at once and on other instances when the `sluice_caches`
//! notification arrives, or after the TTL if that notification is lost. So does the
//! revocation of one token (by its `jti`).

use std::sync::Arc;

use chrono::TimeDelta;

use super::AuthError;
use super::principal::{Principal, ServiceCaller};
use crate::cache::EpochCache;
use crate::clock::Clock;
use crate::crypto::token::{self, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenError, Verifier};
use crate::store::PgStore;
use crate::store::integrations::IntegrationRow;

const MAX_ENTRIES: usize = 10_000;

/// Verifies bearer tokens. One per process.
pub struct BearerAuth {
    store: PgStore,
    clock: Arc<dyn Clock>,
    /// The longest token lifetime accepted (seconds).
    max_lifetime: i64,
    /// kid → a verifier holding that one key.
    keys: EpochCache<String, Option<Arc<Verifier>>>,
    integrations: EpochCache<String, Option<Arc<IntegrationRow>>>,
    /// "account/jti" → whether that one token was revoked.
    revoked: EpochCache<String, bool>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl BearerAuth {
    /// Tokens living longer than `max_lifetime` seconds are refused.
    pub fn new(store: PgStore, clock: Arc<dyn Clock>, ttl: TimeDelta, max_lifetime: i64) -> Self {
        let ttl = ttl.min(super::credentials::MAX_TTL);
        Self {
            store,
            clock,
            max_lifetime,
            keys: EpochCache::new(ttl, MAX_ENTRIES),
            integrations: EpochCache::new(ttl, MAX_ENTRIES),
            revoked: EpochCache::new(ttl, MAX_ENTRIES),
        }
    }

    /// The service principal a token speaks for.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        let epoch = self.store.cache_epoch();
        let kid = token::key_id(bearer).ok_or(TokenError::Malformed)?;
        let verifier = self
            .keys
            .get_or_load(kid.as_str(), now, epoch, || async {
                match self.store.verification_key(&kid).await? {
                    Some((account, pem)) => {
                        let mut v = Verifier::new(TOKEN_ISSUER, TOKEN_AUDIENCE).with_max_lifetime(self.max_lifetime);
                        v.add_key(&kid, &pem, &account)?;
                        Ok::<_, AuthError>(Some(Arc::new(v)))
                    }
                    None => Ok(None),
                }
            })
            .await?;
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
        // One token revoked on its own (`sluice admin integration revoke-token`).
        let key = format!("{}/{}", claims.acct, claims.jti);
        let revoked = self
            .revoked
            .get_or_load(key.as_str(), now, epoch, || async {
                Ok::<_, AuthError>(self.store.token_revoked(&claims.jti, &claims.acct).await?)
            })
            .await?;
        if revoked {
            return Err(AuthError::Revoked);
        }
        let integration = self
            .integrations
            .get_or_load(claims.sub.as_str(), now, epoch, || async {
                Ok::<_, AuthError>(self.store.live_integration(&claims.sub).await?.map(Arc::new))
            })
            .await?;
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
