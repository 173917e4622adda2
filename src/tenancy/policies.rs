//! Managed policies and their versions, inline policies of users and groups, and which
//! policies are attached to whom: the IAM policy rules (sizes, quotas, default version,
//! attachment limits) on top of `store::policies`.

use super::accounts::new_id;
use super::principals::{check_name, check_path, conflict};
use super::{Tenancy, TenancyError};
use crate::policy::document::{Kind, parse};
use crate::store::StoreError;
use crate::store::policies::ManagedPolicyRow;

/// IAM's quotas: inline policy characters per user, group and role (whitespace not counted),
/// managed policies attached per user or group.
pub const MAX_USER_INLINE_CHARS: usize = 2_048;
pub const MAX_GROUP_INLINE_CHARS: usize = 5_120;
pub const MAX_ROLE_INLINE_CHARS: usize = 10_240;
pub const MAX_ATTACHED_POLICIES: usize = 10;

/// Who holds an inline policy.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    User,
    Group,
    Role,
}

impl Holder {
    /// IAM's quota of inline policy characters for the holder, and its name in messages.
    fn quota(self) -> (usize, &'static str) {
        match self {
            Holder::User => (MAX_USER_INLINE_CHARS, "user"),
            Holder::Group => (MAX_GROUP_INLINE_CHARS, "group"),
            Holder::Role => (MAX_ROLE_INLINE_CHARS, "role"),
        }
    }
}

/// IAM counts policy size without whitespace.
fn significant_chars(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

impl Tenancy {
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
        self.put_inline(account, Holder::User, user, name, document).await
    }

    pub async fn delete_user_policy(&self, account: &str, user: &str, name: &str) -> Result<(), TenancyError> {
        let u = self.user(account, user).await?;
        self.delete_owner_policy(&u.id, "user", name).await
    }

    pub async fn put_group_policy(
        &self,
        account: &str,
        group: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        self.put_inline(account, Holder::Group, group, name, document).await
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

    /// The aggregate size of an owner's inline policies, with `document` replacing `name`.
    /// Puts an inline policy of a user, group or role, within IAM's size quota for it.
    pub(super) async fn put_inline(
        &self,
        account: &str,
        holder: Holder,
        holder_name: &str,
        name: &str,
        document: &str,
    ) -> Result<(), TenancyError> {
        self.changing(async {
            check_name("policyName", name, 128)?;
            Self::check_document(document)?;
            let owner = match holder {
                Holder::User => self.user(account, holder_name).await?.id,
                Holder::Group => self.group(account, holder_name).await?.id,
                Holder::Role => self.role(account, holder_name).await?.id,
            };
            self.check_inline_quota(&owner, name, document, holder).await?;
            Ok(self.store.put_inline_policy(account, &owner, name, document).await?)
        })
        .await
    }

    async fn check_inline_quota(
        &self,
        owner: &str,
        name: &str,
        document: &str,
        holder: Holder,
    ) -> Result<(), TenancyError> {
        let (max, kind) = holder.quota();
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

    pub async fn get_user_policy(&self, account: &str, user: &str, name: &str) -> Result<String, TenancyError> {
        let u = self.user(account, user).await?;
        self.owner_policy(&u.id, "user", name).await
    }

    pub async fn list_user_policies(&self, account: &str, user: &str) -> Result<Vec<String>, TenancyError> {
        let u = self.user(account, user).await?;
        Ok(self.store.inline_policy_names(&u.id).await?)
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
}
