//! Who is calling: turns a request into a `Principal` by verifying its SigV4 signature
//! against the caller's access key (secrets unsealed in memory only, cached briefly).

pub mod credentials;
pub mod failures;
pub mod policies;
pub mod principal;
pub mod sigv4;
pub mod token;

pub use principal::Principal;

use std::sync::Arc;

use crate::cache::EpochCache;
use crate::clock::Clock;
use crate::crypto::{CryptoError, Sealer};
use crate::store::{PgStore, StoreError};
use credentials::CachedKey;
use sigv4::SigV4Error;

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    SigV4(#[from] SigV4Error),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("The security token included in the request is invalid.")]
    BadSessionToken,
    #[error("The security token included in the request is expired")]
    SessionExpired,
    #[error("The security token included in the request is invalid.")]
    Disabled,
    #[error(transparent)]
    Token(#[from] crate::crypto::token::TokenError),
    #[error("The bearer token, or its integration, has been revoked or does not exist.")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Verifies signatures. One per process; cheap to clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// The region a signature must be scoped to: the deployment's.
    region: String,
    /// Longest lifetime a presigned request may claim.
    max_presign: chrono::TimeDelta,
    store: PgStore,
    sealer: Arc<Sealer>,
    clock: Arc<dyn Clock>,
    /// Access keys by id (an unknown id is not kept).
    keys: Arc<EpochCache<String, Option<Arc<CachedKey>>>>,
    bearer: Arc<token::BearerAuth>,
    /// The service's clock: session expiry is checked against what issued the session.
    token_clock: Arc<dyn Clock>,
    /// Sessions by access key id (an unknown id is not kept).
    sessions: Arc<EpochCache<String, Option<Arc<CachedSession>>>>,
}

/// Temporary credentials, unsealed, as a request is checked against them.
struct CachedSession {
    account_id: String,
    secret: zeroize::Zeroizing<String>,
    token_mac: Vec<u8>,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// Issued before the role's sessions were revoked.
    revoked: bool,
    active: bool,
    principal: Principal,
}

impl std::fmt::Debug for CachedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSession").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

/// A request whose credentials are known, waiting for its body to be verified.
pub struct Pending {
    sig: sigv4::Signature,
    service: Service,
    secret: Secret,
}

impl Pending {
    /// The access key id the request is signed with.
    pub fn access_key_id(&self) -> &str {
        &self.sig.access_key_id
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("access_key_id", &self.sig.access_key_id).finish_non_exhaustive()
    }
}

/// The secret a pending request is verified with.
enum Secret {
    /// A long-term key, and whether it was read from the database just now.
    Key(Arc<CachedKey>, bool),
    Session(Arc<CachedSession>),
}

/// The services a signature may be scoped to; the scope routes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    Iam,
    Sts,
}

impl Service {
    fn from_scope(s: &str) -> Option<Self> {
        match s {
            "sqs" => Some(Self::Sqs),
            "iam" => Some(Self::Iam),
            "sts" => Some(Self::Sts),
            _ => None,
        }
    }
}

/// What an `Authenticator` enforces, from the configuration.
pub struct AuthSettings {
    /// The region signatures must be scoped to.
    pub region: String,
    /// Longest lifetime a presigned request may claim.
    pub max_presign: chrono::TimeDelta,
    /// How long caches of keys and sessions trust what they hold (capped further inside).
    pub cache_ttl: chrono::TimeDelta,
    /// Longest lifetime of a bearer token, in seconds.
    pub max_token_lifetime: i64,
}

impl Authenticator {
    /// `clock` dates signatures (clients sign with their wall clock); `token_clock` is the
    /// service's clock: it issued the sessions and bearer tokens checked here, dates a key's
    /// last use, and measures how long the caches trust what they hold.
    pub fn new(
        settings: AuthSettings,
        store: PgStore,
        sealer: Arc<Sealer>,
        clock: Arc<dyn Clock>,
        token_clock: Arc<dyn Clock>,
    ) -> Self {
        let AuthSettings { region, max_presign, cache_ttl, max_token_lifetime } = settings;
        let bearer =
            Arc::new(token::BearerAuth::new(store.clone(), token_clock.clone(), cache_ttl, max_token_lifetime));
        let ttl = cache_ttl.min(credentials::MAX_TTL);
        Self {
            region,
            max_presign,
            store,
            sealer,
            clock,
            keys: Arc::new(
                EpochCache::new(ttl, credentials::MAX_ENTRIES)
                    .keeping(Option::is_some)
                    .absent_for(credentials::ABSENT_TTL),
            ),
            bearer,
            token_clock,
            sessions: Arc::new(
                EpochCache::new(ttl, credentials::MAX_ENTRIES)
                    .keeping(Option::is_some)
                    .absent_for(credentials::ABSENT_TTL),
            ),
        }
    }

    /// Authenticates a service integration's bearer token.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        self.bearer.authenticate(token).await
    }

    /// Authenticates a request: `begin` then `finish` (see there).
    pub async fn authenticate(&self, req: &sigv4::Request<'_>) -> Result<(Principal, Service), AuthError> {
        let pending = self.begin(req).await?;
        self.finish(pending, req)
    }

    /// The first half of authenticating, before the body is read: structure, scope and time
    /// (cheap), then the access key or session the signature names (cached; an unknown id is
    /// remembered briefly). Only a request that gets past this has its body read. The body of
    /// `req` is not used.
    pub async fn begin(&self, req: &sigv4::Request<'_>) -> Result<Pending, AuthError> {
        let sig = sigv4::parse(req)?;
        let service =
            Service::from_scope(&sig.service).ok_or_else(|| SigV4Error::WrongService { expected: "sqs".into() })?;
        sigv4::check_scope_and_time(&sig, &sig.service, &self.region, self.clock.now())?;
        if let Some(expires) = sig.expires
            && expires > self.max_presign.num_seconds()
        {
            // A presigned URL is a bearer secret until it expires; keep that short.
            return Err(SigV4Error::Incomplete(format!(
                "X-Amz-Expires must be at most {} seconds on this endpoint.",
                self.max_presign.num_seconds()
            ))
            .into());
        }
        if let Some(presented) = &sig.security_token {
            let session = self.session(&sig.access_key_id).await?;
            let ctx = crate::crypto::contexts::session_token(&sig.access_key_id, presented);
            if !self.sealer.verify_mac(crate::crypto::contexts::SESSION_TOKEN_MAC, &ctx, &session.token_mac)? {
                return Err(AuthError::BadSessionToken);
            }
            if !session.active || session.revoked {
                return Err(AuthError::BadSessionToken);
            }
            if self.token_clock.now() >= session.expires_at {
                return Err(AuthError::SessionExpired);
            }
            return Ok(Pending { sig, service, secret: Secret::Session(session) });
        }
        let (key, fresh) = self.key(&sig.access_key_id).await?;
        if !key.active {
            return Err(AuthError::Disabled);
        }
        Ok(Pending { sig, service, secret: Secret::Key(key, fresh) })
    }

    /// The second half: the signature, over the request as received with its body, checked
    /// in constant time against the secret `begin` found.
    pub fn finish(&self, pending: Pending, req: &sigv4::Request<'_>) -> Result<(Principal, Service), AuthError> {
        let Pending { sig, service, secret } = pending;
        match secret {
            Secret::Session(session) => {
                sigv4::verify(req, &sig, session.secret.as_bytes(), true)?;
                Ok((session.principal.clone(), service))
            }
            Secret::Key(key, fresh) => {
                sigv4::verify(req, &sig, key.secret.as_bytes(), true)?;
                if fresh {
                    // Last use is recorded when the key is read from the database: at most once
                    // per cache period per instance, and off the request's path.
                    let (store, id, now) = (self.store.clone(), sig.access_key_id.clone(), self.token_clock.now());
                    let svc = sig.service.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.touch_key(&id, now, &svc).await {
                            tracing::warn!(error = %e, "could not record a key's last use");
                        }
                    });
                }
                let principal = match &key.user {
                    None => Principal::root(&key.account_id, &sig.access_key_id),
                    Some((id, name, path)) => Principal::user(&key.account_id, &sig.access_key_id, id, name, path),
                };
                Ok((principal, service))
            }
        }
    }

    /// A session by its access key id (cached like keys; a missing one only briefly).
    async fn session(&self, access_key_id: &str) -> Result<Arc<CachedSession>, AuthError> {
        let (now, epoch) = (self.token_clock.now(), self.store.cache_epoch());
        let session = self.sessions.get_or_load(access_key_id, now, epoch, || self.load_session(access_key_id)).await?;
        session.ok_or(AuthError::BadSessionToken)
    }

    /// A session as the database has it; None when there is none.
    async fn load_session(&self, access_key_id: &str) -> Result<Option<Arc<CachedSession>>, AuthError> {
        let Some(row) = self.store.session(access_key_id).await? else { return Ok(None) };
        let ctx = crate::crypto::contexts::session_secret(&row.access_key_id, &row.account_id);
        let secret = self.sealer.open(&row.secret_sealed, &ctx)?;
        let secret = zeroize::Zeroizing::new(String::from_utf8(secret.to_vec()).map_err(|_| CryptoError::Malformed)?);
        let principal =
            match (&row.role_id, &row.role_name, &row.role_path, &row.user_id, &row.user_name, &row.user_path) {
                (Some(id), Some(name), Some(path), _, _, _) => Principal::assumed_role(
                    &row.account_id,
                    access_key_id,
                    principal::RoleSession {
                        role_id: id.clone(),
                        role_name: name.clone(),
                        role_arn: format!("arn:aws:iam::{}:role{path}{name}", row.account_id),
                        session_name: row.session_name.clone(),
                        userid: format!("{id}:{}", row.session_name),
                        session_policy: row.session_policy.clone(),
                    },
                ),
                (_, _, _, Some(id), Some(name), Some(path)) => {
                    let mut p = Principal::user(&row.account_id, access_key_id, id, name, path);
                    p.temporary = true;
                    p
                }
                _ => return Err(AuthError::BadSessionToken),
            };
        Ok(Some(Arc::new(CachedSession {
            account_id: row.account_id,
            secret,
            token_mac: row.token_mac,
            expires_at: row.expires_at,
            revoked: row.sessions_valid_after.is_some_and(|t| row.issued_at < t),
            active: row.account_status == "active",
            principal,
        })))
    }

    /// The key, and whether it was read from the database just now.
    async fn key(&self, access_key_id: &str) -> Result<(Arc<CachedKey>, bool), AuthError> {
        let mut fresh = false;
        let loaded = &mut fresh;
        let key = self
            .keys
            .get_or_load(access_key_id, self.token_clock.now(), self.store.cache_epoch(), || async move {
                *loaded = true;
                self.load_key(access_key_id).await
            })
            .await?;
        Ok((key.ok_or(AuthError::UnknownKey)?, fresh))
    }

    /// An access key as the database has it, its secret unsealed; None when there is none.
    async fn load_key(&self, access_key_id: &str) -> Result<Option<Arc<CachedKey>>, AuthError> {
        let Some(row) = self.store.access_key(access_key_id).await? else { return Ok(None) };
        let ctx = crate::crypto::contexts::access_key_secret(&row.access_key_id, &row.account_id);
        let secret = self.sealer.open(&row.secret_sealed, &ctx)?;
        let secret = zeroize::Zeroizing::new(String::from_utf8(secret.to_vec()).map_err(|_| CryptoError::Malformed)?);
        let user = match (row.user_id, row.user_name, row.user_path) {
            (Some(id), Some(name), Some(path)) => Some((id, name, path)),
            _ => None,
        };
        Ok(Some(Arc::new(CachedKey {
            account_id: row.account_id,
            secret,
            active: row.status == "Active" && row.account_status == "active",
            user,
        })))
    }
}
