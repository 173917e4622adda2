//! IAM users, groups, their access keys and policies (stored, validated; the policies a
//! request is decided with are loaded by `auth::policies`).

use secrecy::{ExposeSecret, SecretString};

use super::accounts::{new_access_key_id, new_id, new_secret, secret_context};
use super::{Tenancy, TenancyError};
use crate::policy::document::{Kind, parse};
use crate::store::StoreError;
use crate::store::iam::{GroupRow, ManagedPolicyRow, UserRow};

/// IAM allows two access keys per user.
pub const MAX_KEYS_PER_USER: i64 = 2;
/// IAM's quotas: inline policy characters per user and per group (whitespace not counted),
/// groups per user, managed policies attached per user or group.
pub const MAX_USER_INLINE_CHARS: usize = 2_048;
pub const MAX_GROUP_INLINE_CHARS: usize = 5_120;
pub const MAX_GROUPS_PER_USER: usize = 10;
pub const MAX_ATTACHED_POLICIES: usize = 10;

pub(super) fn significant_chars(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

fn name_ok(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

pub(super) fn check_name(what: &str, name: &str, max: usize) -> Result<(), TenancyError> {
    if name_ok(name, max) {
        Ok(())
    } else {
        Err(TenancyError::InvalidInput(format!(
            "The specified value for {what} is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_- and be 1 to {max} characters long."
        )))
    }
}

pub(super) fn check_path(path: &str) -> Result<(), TenancyError> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok { Ok(()) } else { Err(TenancyError::InvalidInput("The specified value for path is invalid.".into())) }
}

pub(super) fn conflict(e: StoreError, what: String) -> TenancyError {
    match e {
        StoreError::Conflict(_) => TenancyError::EntityAlreadyExists(what),
        e => TenancyError::Store(e),
    }
}

impl Tenancy {
    /// The service's time (the injected clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub async fn user(&self, account: &str, name: &str) -> Result<UserRow, TenancyError> {
        self.store
            .user_by_name(account, name)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The user with name {name} cannot be found.")))
    }

    pub async fn group(&self, account: &str, name: &str) -> Result<GroupRow, TenancyError> {
        self.store
            .group_by_name(account, name)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The group with name {name} cannot be found.")))
    }

    /// The managed policy an ARN names, in `account`: its name (compared without regard to
    /// case, as IAM names are unique that way) and its path, which must be the stored path
    /// exactly (`policy/team-a/Admin` does not name `policy/Admin`).
    pub async fn managed_policy(&self, account: &str, arn: &str) -> Result<ManagedPolicyRow, TenancyError> {
        let missing = || TenancyError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."));
        let rest = arn.strip_prefix(&format!("arn:aws:iam::{account}:policy")).ok_or_else(missing)?;
        let (path, name) = rest.rsplit_once('/').ok_or_else(missing)?;
        let path = format!("{path}/");
        if name.is_empty() || !path.starts_with('/') {
            return Err(missing());
        }
        self.store.managed_policy_by_name(account, name).await?.filter(|p| p.path == path).ok_or_else(missing)
    }

    pub async fn create_user(&self, account: &str, name: &str, path: Option<&str>) -> Result<UserRow, TenancyError> {
        check_name("userName", name, 64)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        let row = UserRow {
            id: new_id("AIDA", 17)?,
            account_id: account.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            created_at: self.now(),
        };
        self.store
            .insert_user(&row)
            .await
            .map_err(|e| conflict(e, format!("User with name {name} already exists.")))?;
        Ok(row)
    }

    /// Deletes a user with no keys, policies or groups left (IAM's DeleteConflict otherwise).
    pub async fn delete_user(&self, account: &str, name: &str) -> Result<(), TenancyError> {
        self.changing(async {
            let u = self.user(account, name).await?;
            match self.store.delete_user(&u.id).await {
                Ok(_) => Ok(()),
                Err(StoreError::Conflict(_)) => Err(TenancyError::DeleteConflict(
                    "Cannot delete entity, must delete access keys, policies and group memberships first.".into(),
                )),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// A new access key for a user (at most two); the secret is returned once.
    pub async fn create_access_key(&self, account: &str, user: &str) -> Result<(String, SecretString), TenancyError> {
        let u = self.user(account, user).await?;
        let key_id = new_access_key_id()?;
        let secret = new_secret()?;
        let sealed = self.sealer.seal(secret.expose_secret().as_bytes(), &secret_context(&key_id, account))?;
        if !self.store.insert_user_key(account, &u.id, &key_id, &sealed, self.now(), MAX_KEYS_PER_USER).await? {
            return Err(TenancyError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
            )));
        }
        Ok((key_id, secret))
    }

    pub async fn set_access_key_active(&self, account: &str, key_id: &str, active: bool) -> Result<(), TenancyError> {
        self.changing(async {
            let status = if active { "Active" } else { "Inactive" };
            if !self.store.set_key_status(account, key_id, status).await? {
                return Err(TenancyError::NoSuchEntity(format!("The Access Key with id {key_id} cannot be found.")));
            }
            Ok(())
        })
        .await
    }

    /// Enables or disables an account: a disabled account's keys are all refused.
    pub async fn set_account_enabled(&self, account: &str, enabled: bool) -> Result<(), TenancyError> {
        self.changing(async {
            let status = if enabled { "active" } else { "disabled" };
            if !self.store.set_account_status(account, status).await? {
                return Err(TenancyError::NoSuchEntity(format!("The account {account} cannot be found.")));
            }
            Ok(())
        })
        .await
    }

    pub(super) fn check_document(document: &str) -> Result<(), TenancyError> {
        parse(document, Kind::Identity)?;
        Ok(())
    }

    pub async fn put_user_policy(
        &self,
        account: &str,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            check_name("policyName", name, 128)?;
            Self::check_document(document)?;
            let u = self.user(account, user).await?;
            self.check_inline_quota(&u.id, name, document, MAX_USER_INLINE_CHARS, "user").await?;
            Ok(self.store.put_inline_policy(account, &u.id, name, document).await?)
        })
        .await
    }

    pub async fn delete_user_policy(&self, account: &str, user: &str, name: &str) -> Result<(), TenancyError> {
        let u = self.user(account, user).await?;
        self.delete_owner_policy(&u.id, "user", name).await
    }

    pub async fn create_group(&self, account: &str, name: &str, path: Option<&str>) -> Result<GroupRow, TenancyError> {
        check_name("groupName", name, 128)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        let row = GroupRow {
            id: new_id("AGPA", 17)?,
            account_id: account.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            created_at: self.now(),
        };
        self.store
            .insert_group(&row)
            .await
            .map_err(|e| conflict(e, format!("Group with name {name} already exists.")))?;
        Ok(row)
    }

    pub async fn add_user_to_group(&self, account: &str, group: &str, user: &str) -> Result<(), TenancyError> {
        self.changing(async {
            let (g, u) = (self.group(account, group).await?, self.user(account, user).await?);
            let groups = self.store.groups_of_user(&u.id).await?;
            if groups.len() >= MAX_GROUPS_PER_USER && !groups.iter().any(|x| x.id == g.id) {
                return Err(TenancyError::LimitExceeded(format!(
                    "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
                )));
            }
            Ok(self.store.add_group_member(&g.id, &u.id).await?)
        })
        .await
    }

    pub async fn remove_user_from_group(&self, account: &str, group: &str, user: &str) -> Result<(), TenancyError> {
        self.changing(async {
            let (g, u) = (self.group(account, group).await?, self.user(account, user).await?);
            self.store.remove_group_member(&g.id, &u.id).await?;
            Ok(())
        })
        .await
    }

    pub async fn put_group_policy(
        &self,
        account: &str,
        group: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            check_name("policyName", name, 128)?;
            Self::check_document(document)?;
            let g = self.group(account, group).await?;
            self.check_inline_quota(&g.id, name, document, MAX_GROUP_INLINE_CHARS, "group").await?;
            Ok(self.store.put_inline_policy(account, &g.id, name, document).await?)
        })
        .await
    }

    /// A managed policy with its first version as the default; returns its ARN.
    pub async fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        document: &str,
    ) -> Result<String, TenancyError> {
        check_name("policyName", name, 128)?;
        let path = path.unwrap_or("/");
        check_path(path)?;
        Self::check_document(document)?;
        let now = self.now();
        let row = ManagedPolicyRow {
            id: new_id("ANPA", 17)?,
            account_id: account.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            default_version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_managed_policy(&row, document).await.map_err(|e| {
            conflict(e, format!("A policy called {name} already exists. Duplicate names are not allowed."))
        })?;
        Ok(format!("arn:aws:iam::{account}:policy{path}{name}"))
    }

    pub async fn attach_user_policy(&self, account: &str, user: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.user(account, user).await?;
        self.attach_to(account, &o.id, "User", policy_arn).await
    }

    pub async fn detach_user_policy(&self, account: &str, user: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.user(account, user).await?;
        self.detach_from(account, &o.id, "user", user, policy_arn).await
    }

    pub async fn attach_group_policy(&self, account: &str, group: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.group(account, group).await?;
        self.attach_to(account, &o.id, "Group", policy_arn).await
    }

    /// An inline policy of a user, group or role (`kind` names it in the error).
    pub(super) async fn owner_policy(&self, owner_id: &str, kind: &str, name: &str) -> Result<String, TenancyError> {
        self.store
            .inline_policy(owner_id, name)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The {kind} policy with name {name} cannot be found.")))
    }

    /// Deletes an inline policy of a user, group or role.
    pub(super) async fn delete_owner_policy(&self, owner_id: &str, kind: &str, name: &str) -> Result<(), TenancyError> {
        self.changing(async {
            if !self.store.delete_inline_policy(owner_id, name).await? {
                return Err(TenancyError::NoSuchEntity(format!("The {kind} policy with name {name} cannot be found.")));
            }
            Ok(())
        })
        .await
    }

    /// Managed policies attached to a user, group or role: (name, ARN).
    pub(super) async fn attached_of(
        &self,
        account: &str,
        owner_id: &str,
    ) -> Result<Vec<(String, String)>, TenancyError> {
        Ok(self
            .store
            .attached_policies(owner_id)
            .await?
            .into_iter()
            .map(|(n, path)| {
                let arn = format!("arn:aws:iam::{account}:policy{path}{n}");
                (n, arn)
            })
            .collect())
    }

    /// Attaches a managed policy to a user, group or role (`kind`: `User`, `Group`, `Role`).
    pub(super) async fn attach_to(
        &self,
        account: &str,
        owner_id: &str,
        kind: &str,
        policy_arn: &str,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            let p = self.managed_policy(account, policy_arn).await?;
            self.check_attachment_quota(owner_id, &p.name, kind).await?;
            Ok(self.store.attach_policy(&p.id, owner_id).await?)
        })
        .await
    }

    /// Detaches a managed policy from a user, group or role named `owner` (`kind`: `user`,
    /// `group`, `role`).
    pub(super) async fn detach_from(
        &self,
        account: &str,
        owner_id: &str,
        kind: &str,
        owner: &str,
        policy_arn: &str,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            let p = self.managed_policy(account, policy_arn).await?;
            if !self.store.detach_policy(&p.id, owner_id).await? {
                return Err(TenancyError::NoSuchEntity(format!(
                    "Policy {policy_arn} was not found attached to {kind} {owner}."
                )));
            }
            Ok(())
        })
        .await
    }

    /// Runs a change; on success, every cached key and policy (here and, by notification,
    /// on other instances) becomes stale.
    pub(super) async fn changing<T>(
        &self,
        change: impl std::future::Future<Output = Result<T, TenancyError>>,
    ) -> Result<T, TenancyError> {
        let r = change.await;
        if r.is_ok() {
            self.store.caches_changed().await;
        }
        r
    }

    /// The aggregate size of an owner's inline policies, with `document` replacing `name`.
    pub(super) async fn check_inline_quota(
        &self,
        owner: &str,
        name: &str,
        document: &str,
        max: usize,
        kind: &str,
    ) -> Result<(), TenancyError> {
        let mut total = significant_chars(document);
        for other in self.store.inline_policy_names(owner).await? {
            if other != name
                && let Some(doc) = self.store.inline_policy(owner, &other).await?
            {
                total += significant_chars(&doc);
            }
        }
        if total > max {
            return Err(TenancyError::LimitExceeded(format!(
                "Maximum policy size of {max} bytes exceeded for {kind} (inline policies together: {total})."
            )));
        }
        Ok(())
    }

    pub(super) async fn check_attachment_quota(
        &self,
        owner: &str,
        policy: &str,
        kind: &str,
    ) -> Result<(), TenancyError> {
        let attached = self.store.attached_policies(owner).await?;
        if attached.len() >= MAX_ATTACHED_POLICIES && !attached.iter().any(|(n, _)| n == policy) {
            return Err(TenancyError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerGroup/PoliciesPer{kind}: {MAX_ATTACHED_POLICIES}"
            )));
        }
        Ok(())
    }

    pub async fn list_users(&self, account: &str, path_prefix: Option<&str>) -> Result<Vec<UserRow>, TenancyError> {
        Ok(self.store.list_users(account, path_prefix.unwrap_or("/")).await?)
    }

    pub async fn list_access_keys(
        &self,
        account: &str,
        user: &str,
    ) -> Result<Vec<crate::store::iam::KeyRow>, TenancyError> {
        let u = self.user(account, user).await?;
        Ok(self.store.user_keys(&u.id).await?)
    }

    /// Activates, deactivates or deletes a key of the named user.
    pub async fn user_key_op(
        &self,
        account: &str,
        user: &str,
        key_id: &str,
        op: Option<bool>,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            let u = self.user(account, user).await?;
            if self.store.user_key(&u.id, key_id).await?.is_none() {
                return Err(TenancyError::NoSuchEntity(format!("The Access Key with id {key_id} cannot be found.")));
            }
            match op {
                Some(active) => self.set_access_key_active(account, key_id, active).await,
                None => {
                    self.store.delete_key(account, key_id).await?;
                    Ok(())
                }
            }
        })
        .await
    }

    pub async fn get_user_policy(&self, account: &str, user: &str, name: &str) -> Result<String, TenancyError> {
        let u = self.user(account, user).await?;
        self.owner_policy(&u.id, "user", name).await
    }

    pub async fn list_user_policies(&self, account: &str, user: &str) -> Result<Vec<String>, TenancyError> {
        let u = self.user(account, user).await?;
        Ok(self.store.inline_policy_names(&u.id).await?)
    }

    pub async fn list_groups(&self, account: &str) -> Result<Vec<GroupRow>, TenancyError> {
        Ok(self.store.list_groups(account).await?)
    }

    pub async fn groups_for_user(&self, account: &str, user: &str) -> Result<Vec<GroupRow>, TenancyError> {
        let u = self.user(account, user).await?;
        Ok(self.store.groups_of_user(&u.id).await?)
    }

    pub async fn group_with_members(
        &self,
        account: &str,
        group: &str,
    ) -> Result<(GroupRow, Vec<UserRow>), TenancyError> {
        let g = self.group(account, group).await?;
        let members = self.store.group_members(&g.id).await?;
        Ok((g, members))
    }

    pub async fn delete_group(&self, account: &str, group: &str) -> Result<(), TenancyError> {
        let g = self.group(account, group).await?;
        match self.store.delete_group(&g.id).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(TenancyError::DeleteConflict(
                "Cannot delete entity, must remove users and policies from the group first.".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn detach_group_policy(&self, account: &str, group: &str, policy_arn: &str) -> Result<(), TenancyError> {
        let o = self.group(account, group).await?;
        self.detach_from(account, &o.id, "group", group, policy_arn).await
    }

    /// Managed policies attached to a user (`group: false`) or group: (name, ARN).
    pub async fn attached_policies(
        &self,
        account: &str,
        name: &str,
        group: bool,
    ) -> Result<Vec<(String, String)>, TenancyError> {
        let id = if group { self.group(account, name).await?.id } else { self.user(account, name).await?.id };
        self.attached_of(account, &id).await
    }

    pub async fn list_policies(&self, account: &str) -> Result<Vec<ManagedPolicyRow>, TenancyError> {
        Ok(self.store.list_managed_policies(account).await?)
    }

    /// A managed policy with its attachment count.
    pub async fn get_policy(&self, account: &str, arn: &str) -> Result<(ManagedPolicyRow, i64), TenancyError> {
        let p = self.managed_policy(account, arn).await?;
        let n = self.store.attachment_count(&p.id).await?;
        Ok((p, n))
    }

    pub async fn delete_policy(&self, account: &str, arn: &str) -> Result<(), TenancyError> {
        let p = self.managed_policy(account, arn).await?;
        match self.store.delete_managed_policy(&p.id).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                Err(TenancyError::DeleteConflict("Cannot delete a policy attached to entities.".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// CreatePolicyVersion: at most five versions, as IAM allows.
    pub async fn create_policy_version(
        &self,
        account: &str,
        arn: &str,
        document: &str,
        set_default: bool,
    ) -> Result<i32, TenancyError> {
        self.changing(async {
            Self::check_document(document)?;
            let p = self.managed_policy(account, arn).await?;
            self.store.add_policy_version(&p.id, document, set_default, self.now(), 5).await?.ok_or_else(|| {
                TenancyError::LimitExceeded(
                    "A managed policy can have up to 5 versions. Delete a version first.".into(),
                )
            })
        })
        .await
    }

    pub async fn set_default_policy_version(&self, account: &str, arn: &str, version: i32) -> Result<(), TenancyError> {
        self.changing(async {
            let p = self.managed_policy(account, arn).await?;
            if !self.store.set_default_version(&p.id, version).await? {
                return Err(TenancyError::NoSuchEntity(format!("Policy {arn} version v{version} does not exist.")));
            }
            Ok(())
        })
        .await
    }

    pub async fn policy_versions(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<(i32, Vec<(i32, String, chrono::DateTime<chrono::Utc>)>), TenancyError> {
        let p = self.managed_policy(account, arn).await?;
        Ok((p.default_version, self.store.policy_versions(&p.id).await?))
    }

    pub async fn update_user(
        &self,
        account: &str,
        user: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            let u = self.user(account, user).await?;
            let name = new_name.unwrap_or(&u.name);
            let path = new_path.unwrap_or(&u.path);
            check_name("newUserName", name, 64)?;
            check_path(path)?;
            self.store
                .update_user(&u.id, name, path)
                .await
                .map_err(|e| conflict(e, format!("User with name {name} already exists.")))
        })
        .await
    }

    pub async fn delete_policy_version(&self, account: &str, arn: &str, version: i32) -> Result<(), TenancyError> {
        self.changing(async {
            let p = self.managed_policy(account, arn).await?;
            match self.store.delete_policy_version(&p.id, version).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    Err(TenancyError::NoSuchEntity(format!("Policy {arn} version v{version} does not exist.")))
                }
                Err(StoreError::Conflict(_)) => {
                    Err(TenancyError::DeleteConflict("Cannot delete the default version of a policy.".into()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Users and groups a policy is attached to: (kind, name, id).
    pub async fn policy_entities(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<(String, String, String)>, TenancyError> {
        let p = self.managed_policy(account, arn).await?;
        Ok(self.store.policy_entities(&p.id).await?)
    }

    pub async fn get_group_policy(&self, account: &str, group: &str, name: &str) -> Result<String, TenancyError> {
        let g = self.group(account, group).await?;
        self.owner_policy(&g.id, "group", name).await
    }

    pub async fn list_group_policies(&self, account: &str, group: &str) -> Result<Vec<String>, TenancyError> {
        let g = self.group(account, group).await?;
        Ok(self.store.inline_policy_names(&g.id).await?)
    }

    pub async fn delete_group_policy(&self, account: &str, group: &str, name: &str) -> Result<(), TenancyError> {
        let g = self.group(account, group).await?;
        self.delete_owner_policy(&g.id, "group", name).await
    }

    /// When a key was last used, and for which service: (user name, time, service).
    pub async fn key_last_used(
        &self,
        account: &str,
        key_id: &str,
    ) -> Result<(Option<String>, Option<chrono::DateTime<chrono::Utc>>, Option<String>), TenancyError> {
        self.store
            .key_last_used(account, key_id)
            .await?
            .ok_or_else(|| TenancyError::NoSuchEntity(format!("The Access Key with id {key_id} cannot be found.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_names_and_paths_follow_iam_rules() {
        assert!(name_ok("alice.b+c=d,e@f_g-h", 64));
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(!name_ok(bad, 64), "{bad}");
        }
        assert!(check_path("/").is_ok() && check_path("/team/a/").is_ok());
        for bad in ["team", "/team", "/a b/"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
