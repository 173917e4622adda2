//! IAM roles: trust policies, role policies, and the temporary credentials of their
//! sessions (AssumeRole) and of users (GetSessionToken).
//!
//! Whether a caller may assume a role is decided by the API layer with the policy engine
//! (`policy::eval::evaluate_trust`); this module validates, stores and issues.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::accounts::{new_id, new_secret};
use super::policies::Holder;
use super::principals::{check_name, check_path, conflict};
use super::{Tenancy, TenancyError};
use crate::crypto::contexts::{
    SESSION_TOKEN_MAC, session_secret as session_secret_context, session_token as session_token_context,
};
use crate::policy::document::{Kind, parse};
use crate::store::roles::{NewSession, RoleRow};

/// IAM's default quota of roles per account.
pub const MAX_ROLES: i64 = 1_000;
/// Session lengths, in seconds.
pub const MIN_SESSION_SECONDS: i64 = 900;
pub const DEFAULT_SESSION_SECONDS: i64 = 3_600;
/// Role chaining (a role session assuming a role) is limited to one hour, as on AWS.
pub const CHAINED_SESSION_SECONDS: i64 = 3_600;
/// GetSessionToken: 15 minutes to 36 hours, 12 hours by default.
pub const MAX_USER_SESSION_SECONDS: i64 = 129_600;
pub const DEFAULT_USER_SESSION_SECONDS: i64 = 43_200;
/// Most characters of a session policy.
pub const MAX_SESSION_POLICY_CHARS: usize = 2_048;

/// Temporary credentials, shown once.
#[derive(Debug)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: SecretString,
    pub expiration: DateTime<Utc>,
}

/// What an AssumeRole call asks for, once authorized.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub session_name: String,
    pub duration_seconds: Option<i64>,
    pub session_policy: Option<String>,
    pub source_identity: Option<String>,
    /// The caller is itself a role session (role chaining).
    pub chained: bool,
}

fn check_session_name(name: &str) -> Result<(), TenancyError> {
    let ok =
        (2..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TenancyError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )))
    }
}

/// IAM's rule for a role's description: up to 1,000 characters of tab, line feed, carriage
/// return, printable ASCII and U+00A1–U+00FF (no control characters: it is echoed in XML).
fn check_description(d: &str) -> Result<(), TenancyError> {
    let ok = d.chars().count() <= 1_000
        && d.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{A1}'..='\u{FF}'));
    if ok {
        Ok(())
    } else {
        Err(TenancyError::Validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]* and have length less than or equal to 1000".into(),
        ))
    }
}

fn check_max_session(max: i64) -> Result<i32, TenancyError> {
    if (3_600..=43_200).contains(&max) {
        Ok(max as i32)
    } else {
        Err(TenancyError::Validation(format!(
            "1 validation error detected: Value '{max}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"
        )))
    }
}

fn check_trust(document: &str) -> Result<(), TenancyError> {
    parse(document, Kind::Trust)?;
    Ok(())
}

impl Tenancy {
    pub async fn role(&self, account: &str, name: &str) -> Result<RoleRow, TenancyError> {
        self.store
            .role_by_name(account, name)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The role with name {name} cannot be found.")))
    }

    /// The role an ARN names, if it exists (`arn:aws:iam::ACCOUNT:role/PATH/NAME`).
    pub async fn role_by_arn(&self, arn: &str) -> Result<Option<RoleRow>, TenancyError> {
        let Some(rest) = arn.strip_prefix("arn:aws:iam::") else { return Ok(None) };
        let Some((account, resource)) = rest.split_once(':') else { return Ok(None) };
        let Some(path_name) = resource.strip_prefix("role/") else { return Ok(None) };
        let name = path_name.rsplit('/').next().unwrap_or(path_name);
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
            return Ok(None);
        }
        Ok(self.store.role_by_name(account, name).await?.filter(|r| r.arn() == arn))
    }

    pub async fn create_role(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        trust_policy: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<RoleRow, TenancyError> {
        check_name("roleName", name, 64)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        check_trust(trust_policy)?;
        let description = description.unwrap_or("");
        check_description(description)?;
        let max = check_max_session(max_session_duration.unwrap_or(DEFAULT_SESSION_SECONDS))?;
        if self.store.role_count(account).await? >= MAX_ROLES {
            return Err(TenancyError::LimitExceeded(format!("Cannot exceed quota for RolesPerAccount: {MAX_ROLES}")));
        }
        let row = RoleRow {
            id: new_id("AROA", 17)?,
            account_id: account.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            trust_policy: trust_policy.to_owned(),
            description: description.to_owned(),
            max_session_duration: max,
            sessions_valid_after: None,
            created_at: self.clock.now(),
        };
        self.store
            .insert_role(&row)
            .await
            .map_err(|e| conflict(e, format!("Role with name {name} already exists.")))?;
        Ok(row)
    }

    pub async fn list_roles(&self, account: &str, path_prefix: Option<&str>) -> Result<Vec<RoleRow>, TenancyError> {
        Ok(self.store.list_roles(account, path_prefix.unwrap_or("/")).await?)
    }

    pub async fn update_role(
        &self,
        account: &str,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<(), TenancyError> {
        let mut r = self.role(account, name).await?;
        if let Some(d) = description {
            check_description(d)?;
            r.description = d.to_owned();
        }
        if let Some(m) = max_session_duration {
            r.max_session_duration = check_max_session(m)?;
        }
        self.changing(async { Ok(self.store.update_role(&r).await?) }).await
    }

    pub async fn update_assume_role_policy(
        &self,
        account: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        check_trust(document)?;
        let mut r = self.role(account, name).await?;
        r.trust_policy = document.to_owned();
        self.changing(async { Ok(self.store.update_role(&r).await?) }).await
    }

    /// Deletes a role (refused while policies are attached or inline); its sessions end.
    pub async fn delete_role(&self, account: &str, name: &str) -> Result<(), TenancyError> {
        let r = self.role(account, name).await?;
        self.changing(async {
            match self.store.delete_role(&r.id).await {
                Ok(_) => Ok(()),
                Err(crate::store::StoreError::Conflict(_)) => {
                    Err(TenancyError::DeleteConflict("Cannot delete entity, must detach all policies first.".into()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    pub async fn put_role_policy(
        &self,
        account: &str,
        role: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        self.put_inline(account, Holder::Role, role, name, document).await
    }

    pub async fn get_role_policy(&self, account: &str, role: &str, name: &str) -> Result<String, TenancyError> {
        let r = self.role(account, role).await?;
        self.owner_policy(&r.id, "role", name).await
    }

    pub async fn list_role_policies(&self, account: &str, role: &str) -> Result<Vec<String>, TenancyError> {
        let r = self.role(account, role).await?;
        Ok(self.store.inline_policy_names(&r.id).await?)
    }

    pub async fn delete_role_policy(&self, account: &str, role: &str, name: &str) -> Result<(), TenancyError> {
        let r = self.role(account, role).await?;
        self.delete_owner_policy(&r.id, "role", name).await
    }

    pub async fn attach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.role(account, role).await?;
        self.attach_to(account, &o.id, "Role", policy_arn).await
    }

    pub async fn detach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.role(account, role).await?;
        self.detach_from(account, &o.id, "role", role, policy_arn).await
    }

    /// Managed policies attached to a role: (name, ARN).
    pub async fn attached_role_policies(
        &self,
        account: &str,
        role: &str,
    ) -> Result<Vec<(String, String)>, TenancyError> {
        let r = self.role(account, role).await?;
        self.attached_of(account, &r.id).await
    }

    /// Ends every session of the role issued before now (IAM's "revoke active sessions").
    pub async fn revoke_role_sessions(&self, account: &str, role: &str) -> Result<DateTime<Utc>, TenancyError> {
        let r = self.role(account, role).await?;
        let now = self.clock.now();
        self.changing(async { Ok(self.store.revoke_role_sessions(&r.id, now).await?) }).await?;
        Ok(now)
    }

    /// Forgets sessions that expired more than a day ago (they are refused from their expiry
    /// on; the day keeps `ExpiredToken`, rather than an unknown-token answer, for stragglers).
    pub async fn sweep_expired_sessions(&self) -> Result<u64, TenancyError> {
        Ok(self.store.delete_expired_sessions(self.clock.now() - TimeDelta::days(1)).await?)
    }

    /// Issues a session of `role` (the caller already authorized by its trust policy).
    pub async fn issue_role_session(
        &self,
        role: &RoleRow,
        req: &SessionRequest,
    ) -> Result<TemporaryCredentials, TenancyError> {
        check_session_name(&req.session_name)?;
        let max = if req.chained { CHAINED_SESSION_SECONDS } else { i64::from(role.max_session_duration) };
        let duration = req.duration_seconds.unwrap_or(DEFAULT_SESSION_SECONDS.min(max));
        if duration < MIN_SESSION_SECONDS {
            return Err(TenancyError::Validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_SESSION_SECONDS}"
            )));
        }
        if duration > max {
            return Err(TenancyError::Validation(if req.chained {
                format!(
                    "The requested DurationSeconds exceeds the {CHAINED_SESSION_SECONDS} second limit for a role chained session."
                )
            } else {
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into()
            }));
        }
        if let Some(p) = &req.session_policy {
            if p.chars().count() > MAX_SESSION_POLICY_CHARS {
                return Err(TenancyError::PackedPolicyTooLarge(format!(
                    "The session policy exceeds {MAX_SESSION_POLICY_CHARS} characters."
                )));
            }
            parse(p, Kind::Identity)?;
        }
        if let Some(s) = &req.source_identity {
            check_session_name(s).map_err(|_| {
                TenancyError::Validation("SourceIdentity must be 2 to 64 characters of [\\w+=,.@-].".into())
            })?;
        }
        self.issue_session(&role.account_id, Some(&role.id), None, req, duration).await
    }

    /// GetSessionToken for a user.
    pub async fn issue_user_session(
        &self,
        account: &str,
        user_id: &str,
        user_name: &str,
        duration_seconds: Option<i64>,
    ) -> Result<TemporaryCredentials, TenancyError> {
        let duration = duration_seconds.unwrap_or(DEFAULT_USER_SESSION_SECONDS);
        if !(MIN_SESSION_SECONDS..=MAX_USER_SESSION_SECONDS).contains(&duration) {
            return Err(TenancyError::Validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {MIN_SESSION_SECONDS} and {MAX_USER_SESSION_SECONDS}"
            )));
        }
        let req = SessionRequest { session_name: user_name.to_owned(), ..SessionRequest::default() };
        self.issue_session(account, None, Some(user_id), &req, duration).await
    }

    async fn issue_session(
        &self,
        account: &str,
        role_id: Option<&str>,
        user_id: Option<&str>,
        req: &SessionRequest,
        duration: i64,
    ) -> Result<TemporaryCredentials, TenancyError> {
        use base64::prelude::*;
        let access_key_id = new_id("ASIA", 16)?;
        let secret = new_secret()?;
        let mut raw = zeroize::Zeroizing::new([0u8; 48]);
        crate::crypto::random_bytes(raw.as_mut())?;
        let token = SecretString::from(BASE64_URL_SAFE_NO_PAD.encode(raw.as_ref()));
        let now = self.clock.now();
        let expiration = now + TimeDelta::seconds(duration);
        let row = NewSession {
            access_key_id: access_key_id.clone(),
            account_id: account.to_owned(),
            role_id: role_id.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            session_name: req.session_name.clone(),
            secret_sealed: self
                .sealer
                .seal(secret.expose_secret().as_bytes(), &session_secret_context(&access_key_id, account))?,
            token_mac: self
                .sealer
                .mac(SESSION_TOKEN_MAC, &session_token_context(&access_key_id, token.expose_secret()))?,
            session_policy: req.session_policy.clone(),
            source_identity: req.source_identity.clone(),
            issued_at: now,
            expires_at: expiration,
        };
        self.store.insert_session(&row).await?;
        Ok(TemporaryCredentials { access_key_id, secret_access_key: secret, session_token: token, expiration })
    }
}
