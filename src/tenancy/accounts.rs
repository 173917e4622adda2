//! Creating and listing accounts; root access keys.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::TenancyError;
use crate::clock::Clock;
use crate::crypto::{Sealer, random_bytes};
use crate::domain::AccountId;
use crate::store::{AccountRow, PgStore};

/// A freshly created account and its root key. The secret is shown once and never again.
#[derive(Debug)]
pub struct NewAccount {
    pub id: String,
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

impl NewAccount {
    /// The account as an AWS shared-credentials profile.
    pub fn credentials_profile(&self, profile: &str) -> String {
        format!(
            "[{profile}]\n# account_id = {}\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            self.id,
            self.access_key_id,
            self.secret_access_key.expose_secret()
        )
    }
}

/// The sealing context of an access key's secret: bound to the key id and its account.
pub use crate::crypto::contexts::access_key_secret as secret_context;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new IAM-style id: `prefix` and `n` base32 characters.
pub(crate) fn new_id(prefix: &str, n: usize) -> Result<String, TenancyError> {
    let mut raw = vec![0u8; n];
    random_bytes(&mut raw)?;
    Ok(std::iter::once(prefix.to_string())
        .chain(raw.iter().map(|b| (BASE32[(b & 31) as usize] as char).to_string()))
        .collect())
}

/// A new access key id: `AKIA` and 16 base32 characters, as IAM's look.
pub(crate) fn new_access_key_id() -> Result<String, TenancyError> {
    new_id("AKIA", 16)
}

/// A new 40-character secret access key.
pub(crate) fn new_secret() -> Result<SecretString, TenancyError> {
    use base64::prelude::*;
    let mut raw = zeroize::Zeroizing::new([0u8; 30]);
    random_bytes(raw.as_mut())?;
    Ok(SecretString::from(BASE64_STANDARD.encode(raw.as_ref())))
}

fn new_account_id() -> Result<String, TenancyError> {
    let mut raw = [0u8; 8];
    random_bytes(&mut raw)?;
    // 12 digits, not starting with 0.
    Ok(format!("{}", 100_000_000_000 + u64::from_be_bytes(raw) % 900_000_000_000))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Account administration.
#[derive(Debug, Clone)]
pub struct Tenancy {
    pub(crate) store: PgStore,
    pub(crate) sealer: Arc<Sealer>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The longest lifetime of an integration token issued here (seconds).
    pub(crate) max_token_lifetime: i64,
}

impl Tenancy {
    pub fn new(store: PgStore, sealer: Arc<Sealer>, clock: Arc<dyn Clock>) -> Self {
        Self { store, sealer, clock, max_token_lifetime: crate::crypto::token::DEFAULT_MAX_LIFETIME_SECONDS }
    }

    /// With the longest lifetime of the integration tokens it issues (seconds; at most 90 days).
    pub fn with_max_token_lifetime(mut self, seconds: i64) -> Self {
        self.max_token_lifetime = seconds.clamp(60, crate::crypto::token::MAX_LIFETIME_SECONDS);
        self
    }

    /// The longest lifetime of the integration tokens it issues (the default lifetime too).
    pub fn max_token_lifetime(&self) -> i64 {
        self.max_token_lifetime
    }

    /// Creates an account with a root access key; the id is random unless given.
    pub async fn create_account(&self, name: &str, id: Option<&str>) -> Result<NewAccount, TenancyError> {
        if !valid_name(name) {
            return Err(TenancyError::InvalidName);
        }
        let id = match id {
            Some(id) => AccountId::parse(id).ok_or(TenancyError::InvalidId)?.to_string(),
            None => new_account_id()?,
        };
        let access_key_id = new_access_key_id()?;
        let secret = new_secret()?;
        let sealed = self.sealer.seal(secret.expose_secret().as_bytes(), &secret_context(&access_key_id, &id))?;
        let row =
            AccountRow { id: id.clone(), name: name.to_owned(), status: "active".into(), created_at: self.clock.now() };
        self.store.insert_account_with_key(&row, &access_key_id, &sealed).await?;
        Ok(NewAccount { id, name: name.to_owned(), access_key_id, secret_access_key: secret })
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountRow>, TenancyError> {
        Ok(self.store.list_accounts().await?)
    }

    /// Deletes an account and, by cascade, its users, keys, policies, queues and messages.
    pub async fn delete_account(&self, id: &str) -> Result<(), TenancyError> {
        if !self.store.delete_account(id).await? {
            return Err(TenancyError::NoSuchEntity(format!("The account {id} cannot be found.")));
        }
        self.store.caches_changed().await;
        Ok(())
    }

    /// Replaces the account's root key with a new one (shown once); the old one is deleted.
    pub async fn rotate_root_key(&self, id: &str) -> Result<NewAccount, TenancyError> {
        let account = self
            .store
            .account_by_id(id)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The account {id} cannot be found.")))?;
        let access_key_id = new_access_key_id()?;
        let secret = new_secret()?;
        let sealed = self.sealer.seal(secret.expose_secret().as_bytes(), &secret_context(&access_key_id, id))?;
        self.store.replace_root_key(id, &access_key_id, &sealed, self.clock.now()).await?;
        self.store.caches_changed().await;
        Ok(NewAccount { id: id.to_owned(), name: account.name, access_key_id, secret_access_key: secret })
    }

    /// The root key of an account, unsealed (used to rewrite the bootstrap credentials file).
    pub async fn root_key(&self, account_id: &str) -> Result<Option<(String, SecretString)>, TenancyError> {
        let Some(key_id) = self.store.first_access_key_of(account_id).await? else { return Ok(None) };
        let Some(row) = self.store.access_key(&key_id).await? else { return Ok(None) };
        let secret = self.sealer.open(&row.secret_sealed, &secret_context(&row.access_key_id, &row.account_id))?;
        let secret = String::from_utf8(secret.to_vec()).map_err(|_| crate::crypto::CryptoError::Malformed)?;
        Ok(Some((row.access_key_id, SecretString::from(secret))))
    }
}

impl Tenancy {
    /// Sets an account's own limits (those given; the others stay as they were). Every
    /// instance sees them within the cache bound.
    pub async fn set_account_limits(
        &self,
        account: &str,
        o: &crate::store::limits::LimitOverrides,
    ) -> Result<(), TenancyError> {
        let positive = [
            o.requests_per_second.map(i64::from),
            o.max_queues,
            o.max_stored_messages,
            o.max_stored_bytes,
            o.max_long_polls.map(i64::from),
        ];
        if positive.iter().flatten().any(|v| *v < 1) {
            return Err(TenancyError::InvalidInput("limits are positive numbers".into()));
        }
        if self.store.account_by_id(account).await?.is_none() {
            return Err(TenancyError::NoSuchEntity(format!("The account {account} does not exist.")));
        }
        self.store.set_limit_overrides(account, o).await?;
        self.store.caches_changed().await;
        Ok(())
    }
}

impl Tenancy {
    /// Records a management change in the audit trail (durably, before the change is
    /// answered).
    pub async fn record(&self, e: &crate::store::audit::AuditEntry) -> Result<(), TenancyError> {
        Ok(self.store.record_audit(e).await?)
    }

    /// Entries of the audit trail, newest first.
    pub async fn audit(
        &self,
        f: &crate::store::audit::AuditFilter,
    ) -> Result<Vec<crate::store::audit::AuditEntry>, TenancyError> {
        Ok(self.store.audit(f).await?)
    }

    /// An entry made now by an operator command.
    pub fn operator_entry(
        &self,
        account: Option<&str>,
        action: &str,
        resource: &str,
    ) -> crate::store::audit::AuditEntry {
        crate::store::audit::AuditEntry {
            at: self.clock.now(),
            account_id: account.map(str::to_owned),
            actor: "operator".into(),
            action: action.to_owned(),
            resource: resource.to_owned(),
            source_ip: None,
            request_id: None,
            detail: serde_json::json!({}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_aws_shapes() {
        let k = new_access_key_id().unwrap();
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("AKIA"));
        assert!(k.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(new_secret().unwrap().expose_secret().len(), 40);
        let id = new_account_id().unwrap();
        assert!(AccountId::parse(&id).is_some() && !id.starts_with('0'));
    }

    #[test]
    fn account_names_are_checked() {
        assert!(valid_name("team-a.prod_1"));
        for bad in ["", "a b", "a]b", &"x".repeat(65)] {
            assert!(!valid_name(bad));
        }
    }
}
