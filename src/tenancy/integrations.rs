//! Service integrations: a service principal (`s3.amazonaws.com`, `sns.amazonaws.com`)
//! delivering into queues on behalf of sources of the registering account, authenticated by
//! a bearer token Sluice signs.
//!
//! Rotation: `issue_integration_token` again gives a second token while the first stays
//! valid until it expires (tokens overlap); `rotate_signing_key` makes a new key sign while
//! tokens of the old keys keep verifying, and `retire_old_signing_keys` ends them.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::TenancyError;
use super::accounts::{Tenancy, new_id};
use crate::crypto::Context;
use crate::crypto::token::{Claims, MAX_LIFETIME_SECONDS, SigningKey, TokenError, Verifier, unverified_claims};
use crate::store::integrations::{IntegrationRow, SigningKeyRow, SourceClaim};

/// The service principals an integration may speak as.
pub const SERVICES: &[&str] = &["s3.amazonaws.com", "sns.amazonaws.com"];
/// Most sources one integration may claim.
pub const MAX_SOURCES: usize = 100;
pub use crate::crypto::token::{TOKEN_AUDIENCE, TOKEN_ISSUER};

/// A token, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    pub integration_id: String,
    /// The token's `jti`: what names it for revocation.
    pub token_id: String,
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// A token revoked by `revoke_integration_token`.
#[derive(Debug, Clone)]
pub struct RevokedToken {
    pub token_id: String,
    /// Known when the token itself was given.
    pub integration_id: Option<String>,
    /// Until when the revocation is kept.
    pub expires_at: DateTime<Utc>,
    /// It had been revoked before.
    pub already: bool,
}

fn signing_key_context(account: &str, kid: &str) -> Context {
    Context::new("integration-signing-key").with(account).with(kid)
}

/// S3's bucket naming rules (general purpose buckets).
pub fn valid_bucket_name(b: &str) -> bool {
    let bytes = b.as_bytes();
    (3..=63).contains(&b.len())
        && bytes.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
        && bytes.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && bytes.last().is_some_and(|c| c.is_ascii_alphanumeric())
        && !b.contains("..")
        && b.parse::<std::net::Ipv4Addr>().is_err()
}

/// A topic ARN of `account`: `arn:aws:sns:REGION:ACCOUNT:NAME`.
pub fn valid_topic_arn(arn: &str, account: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let name = parts.get(5).copied().unwrap_or("");
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    parts.len() == 6
        && parts[..3] == ["arn", "aws", "sns"]
        && !parts[3].is_empty()
        && parts[3].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && parts[4] == account
        && (1..=256).contains(&name.len())
        && !base.is_empty()
        && base.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

impl Tenancy {
    /// Registers an integration of `account` speaking as `service` for `sources` (bucket
    /// names for S3, topic ARNs of this account for SNS).
    pub async fn create_integration(
        &self,
        account: &str,
        service: &str,
        sources: &[String],
    ) -> Result<IntegrationRow, TenancyError> {
        if !SERVICES.contains(&service) {
            return Err(TenancyError::InvalidInput(format!(
                "service must be one of {}; got '{service}'",
                SERVICES.join(", ")
            )));
        }
        if sources.is_empty() || sources.len() > MAX_SOURCES {
            return Err(TenancyError::InvalidInput(format!("an integration claims 1 to {MAX_SOURCES} sources")));
        }
        for s in sources {
            let ok = if service == "s3.amazonaws.com" { valid_bucket_name(s) } else { valid_topic_arn(s, account) };
            if !ok {
                let what = if service == "s3.amazonaws.com" {
                    "a valid bucket name"
                } else {
                    "a topic ARN of this account (arn:aws:sns:REGION:ACCOUNT:NAME)"
                };
                return Err(TenancyError::InvalidInput(format!("source '{s}' is not {what}")));
            }
        }
        if self.store.account_by_id(account).await?.is_none() {
            return Err(TenancyError::NoSuchEntity(format!("The account {account} does not exist.")));
        }
        let mut sources = sources.to_vec();
        sources.sort();
        sources.dedup();
        let row = IntegrationRow {
            id: new_id("INT", 17)?,
            account_id: account.to_owned(),
            service: service.to_owned(),
            sources,
            created_at: self.clock.now(),
            revoked_at: None,
        };
        match self.store.insert_integration(&row).await? {
            SourceClaim::Registered => Ok(row),
            SourceClaim::OwnedElsewhere(s) => {
                Err(TenancyError::InvalidInput(format!("source '{s}' is registered to another account")))
            }
        }
    }

    pub async fn list_integrations(&self, account: &str) -> Result<Vec<IntegrationRow>, TenancyError> {
        Ok(self.store.integrations_of(account).await?)
    }

    /// Revokes an integration: none of its tokens is accepted any more (on every instance,
    /// through the cache invalidation every change goes through).
    pub async fn revoke_integration(&self, account: &str, id: &str) -> Result<(), TenancyError> {
        if !self.store.revoke_integration(account, id, self.clock.now()).await? {
            return Err(TenancyError::NoSuchEntity(format!("No live integration {id} in account {account}.")));
        }
        self.store.caches_changed().await;
        Ok(())
    }

    /// Issues a token for a live integration, valid for `lifetime_seconds`.
    pub async fn issue_integration_token(
        &self,
        account: &str,
        id: &str,
        lifetime_seconds: i64,
    ) -> Result<IssuedToken, TenancyError> {
        let max = self.max_token_lifetime;
        if !(60..=max).contains(&lifetime_seconds) {
            return Err(TenancyError::InvalidInput(format!(
                "a token lives 60 to {max} seconds on this deployment; got {lifetime_seconds}"
            )));
        }
        let integration = self
            .store
            .integration(account, id)
            .await?
            .filter(|i| i.revoked_at.is_none())
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("No live integration {id} in account {account}.")))?;
        let key = self.signing_key(account).await?;
        let now = self.clock.now();
        let expires_at = now + TimeDelta::seconds(lifetime_seconds);
        let claims = Claims {
            iss: TOKEN_ISSUER.to_owned(),
            aud: TOKEN_AUDIENCE.to_owned(),
            sub: integration.id.clone(),
            acct: integration.account_id,
            svc: integration.service,
            jti: new_id("TOK", 20)?,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = key.sign(&claims)?;
        Ok(IssuedToken {
            integration_id: integration.id,
            token_id: claims.jti,
            token: SecretString::from(token),
            expires_at,
        })
    }

    /// Revokes one token of `account`, named by its text or by its id (`jti`): refused on
    /// every instance within the cache bound (at once here), while the integration's other
    /// tokens keep working. The revocation is kept until the token would have expired.
    pub async fn revoke_integration_token(
        &self,
        account: &str,
        token_or_id: &str,
    ) -> Result<RevokedToken, TenancyError> {
        let (jti, integration, expires_at) = if token_or_id.contains('.') {
            let c = unverified_claims(token_or_id)
                .ok_or_else(|| TenancyError::InvalidInput("the token is not a readable integration token".into()))?;
            if c.acct != account {
                return Err(TenancyError::NoSuchEntity(format!("The token is not one of account {account}'s.")));
            }
            let expires = chrono::DateTime::from_timestamp(c.exp, 0).unwrap_or_else(|| self.clock.now());
            (c.jti, Some(c.sub), expires)
        } else {
            let ok = (4..=64).contains(&token_or_id.len()) && token_or_id.bytes().all(|b| b.is_ascii_alphanumeric());
            if !ok {
                return Err(TenancyError::InvalidInput(format!("'{token_or_id}' is neither a token nor a token id")));
            }
            // Any token lives at most this long from now.
            (token_or_id.to_owned(), None, self.clock.now() + TimeDelta::seconds(MAX_LIFETIME_SECONDS))
        };
        if self.store.account_by_id(account).await?.is_none() {
            return Err(TenancyError::NoSuchEntity(format!("The account {account} does not exist.")));
        }
        let newly =
            self.store.revoke_token(&jti, account, integration.as_deref(), expires_at, self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(RevokedToken { token_id: jti, integration_id: integration, expires_at, already: !newly })
    }

    /// Forgets the revocations of tokens that have expired anyway.
    pub async fn sweep_token_revocations(&self) -> Result<u64, TenancyError> {
        Ok(self.store.delete_expired_token_revocations(self.clock.now() - TimeDelta::days(1)).await?)
    }

    /// The account's current signing key, made on first use.
    async fn signing_key(&self, account: &str) -> Result<SigningKey, TenancyError> {
        let row = match self.store.current_signing_key(account).await? {
            Some(row) => row,
            None => return self.new_signing_key(account).await,
        };
        let pem = self.sealer.open(&row.private_sealed, &signing_key_context(account, &row.kid))?;
        let pem = String::from_utf8(pem.to_vec())
            .map_err(|_| TokenError::Signing("a stored signing key is not PEM".into()))?;
        Ok(SigningKey::from_parts(row.kid, Zeroizing::new(pem), row.public_pem))
    }

    async fn new_signing_key(&self, account: &str) -> Result<SigningKey, TenancyError> {
        let key = SigningKey::generate(new_id("K", 16)?)?;
        let sealed = self.sealer.seal(key.private_pem().as_bytes(), &signing_key_context(account, &key.kid))?;
        let row = SigningKeyRow {
            kid: key.kid.clone(),
            account_id: account.to_owned(),
            private_sealed: sealed,
            public_pem: key.public_pem.clone(),
        };
        self.store.insert_signing_key(&row, self.clock.now()).await?;
        // Other instances learn the new kid at once rather than after their cache TTL.
        self.store.caches_changed().await;
        Ok(key)
    }

    /// Makes a new key sign the account's new tokens; tokens of its older keys stay valid.
    /// Returns the new kid.
    pub async fn rotate_signing_key(&self, account: &str) -> Result<String, TenancyError> {
        if self.store.account_by_id(account).await?.is_none() {
            return Err(TenancyError::NoSuchEntity(format!("The account {account} does not exist.")));
        }
        Ok(self.new_signing_key(account).await?.kid)
    }

    /// Retires every signing key of the account but the current one: their tokens stop
    /// being accepted.
    pub async fn retire_old_signing_keys(&self, account: &str) -> Result<u64, TenancyError> {
        let current = self.signing_key(account).await?;
        let n = self.store.retire_signing_keys_except(account, &current.kid, self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(n)
    }

    /// A verifier over every key whose tokens are accepted.
    pub async fn token_verifier(&self) -> Result<Verifier, TenancyError> {
        let mut v = Verifier::new(TOKEN_ISSUER, TOKEN_AUDIENCE);
        for (kid, account, pem) in self.store.verification_keys().await? {
            v.add_key(&kid, &pem, &account)?;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "example-uploads-bucket", "my.bucket.name", "a1b", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in ["ab", &"a".repeat(64), "Upper", "-lead", "trail-", "dou..ble", "192.168.1.1", "under_score"] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn topic_arns_must_belong_to_the_registering_account() {
        let a = "111122223333";
        assert!(valid_topic_arn("arn:aws:sns:us-east-1:111122223333:order-created", a));
        assert!(valid_topic_arn("arn:aws:sns:local:111122223333:orders.fifo", a));
        for bad in [
            "arn:aws:sns:us-east-1:444455556666:order-created",
            "arn:aws:sqs:us-east-1:111122223333:q",
            "arn:aws:sns::111122223333:t",
            "arn:aws:sns:us-east-1:111122223333:",
            "arn:aws:sns:us-east-1:111122223333:bad/name",
            "arn:aws:sns:us-east-1:111122223333:t:extra",
        ] {
            assert!(!valid_topic_arn(bad, a), "{bad}");
        }
    }
}
