//! IAM users, groups and their access keys, with IAM's name, path and quota rules (policies
//! are in `tenancy::policies`; the ones a request is decided with are loaded by
//! `auth::policies`).

use secrecy::{ExposeSecret, SecretString};

use super::accounts::{new_access_key_id, new_id, new_secret, secret_context};
use super::{Tenancy, TenancyError};
use crate::store::StoreError;
use crate::store::iam::{GroupRow, UserRow};

/// IAM allows two access keys per user.
pub const MAX_KEYS_PER_USER: i64 = 2;
/// IAM's quota of groups per user.
pub const MAX_GROUPS_PER_USER: usize = 10;

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
