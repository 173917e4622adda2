//! What an IAM row is decided on, resolved from the request inside the caller's account, and
//! the gate's decision on it. An existing entity is decided on its stored ARN — its path and
//! its name as stored — so the letter case or the path a request writes sidesteps no policy: a
//! Deny on `user/admin` holds for `UserName=Admin`, an Allow on `role/team-a/*` gives nothing on
//! `/protected/` roles, and a policy ARN must carry its stored path. When the entity does not
//! exist, the decision is on the ARN the request implies (`KIND/NAME`), and only a caller
//! allowed that learns it is missing.
//!
//! The parameters that name the target, and those a row lists as required, are checked
//! before the decision; the others by the handler after it.

use super::IamCall;
use crate::api::{SqsError, decide};
use crate::policy::Authorized;
use crate::store::iam::{GroupRow, UserRow};
use crate::store::policies::ManagedPolicyRow;
use crate::store::roles::RoleRow;
use crate::tenancy::TenancyError;

/// Whose user a user row names when `UserName` is absent.
#[derive(Debug, Clone, Copy)]
pub enum UserName {
    /// `UserName` is required.
    Given,
    /// The caller's own user; a caller that is no user gets `InvalidInput` with this text.
    OrCaller(&'static str),
}

/// "Must specify userName when calling with non-User credentials".
pub const MUST_SPECIFY_USER: &str = "Must specify userName when calling with non-User credentials";

fn require(call: &IamCall<'_>, required: &[&str]) -> Result<(), SqsError> {
    for p in required {
        call.param(p)?;
    }
    Ok(())
}

/// Has the gate decide `action` on `arn` in the caller's account.
fn allow<T>(call: &IamCall<'_>, action: &str, arn: &str, target: T) -> Result<Authorized<T>, SqsError> {
    decide(
        call.principal,
        call.identity,
        call.session_policy,
        None,
        call.context,
        action,
        arn,
        Some(call.account()),
        target,
    )
}

/// Decides on the stored ARN of what was found, or on the implied one when nothing was.
fn found<T>(
    call: &IamCall<'_>,
    action: &str,
    found: Result<T, TenancyError>,
    stored_arn: impl FnOnce(&T) -> String,
    implied_arn: impl FnOnce() -> String,
) -> Result<Authorized<T>, SqsError> {
    match found {
        Ok(entity) => {
            let arn = stored_arn(&entity);
            allow(call, action, &arn, entity)
        }
        Err(TenancyError::NoSuchEntity(m)) => {
            allow(call, action, &implied_arn(), ())?;
            Err(TenancyError::NoSuchEntity(m).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// An entity the request makes: `KIND{Path}{NAME}` (the path as given, `/` when none). The
/// answer carries the name.
pub fn new_entity(
    call: &IamCall<'_>,
    action: &str,
    kind: &str,
    name_param: &str,
    required: &[&str],
) -> Result<Authorized<String>, SqsError> {
    let name = call.param(name_param)?.to_owned();
    require(call, required)?;
    let arn = format!("arn:aws:iam::{}:{kind}{}{name}", call.account(), call.opt("Path").unwrap_or("/"));
    allow(call, action, &arn, name)
}

/// A listing of one kind of entity: decided on `arn:aws:iam::ACCOUNT:KIND/`.
pub fn listing(call: &IamCall<'_>, action: &str, kind: &str) -> Result<Authorized<()>, SqsError> {
    allow(call, action, &format!("arn:aws:iam::{}:{kind}/", call.account()), ())
}

/// The user a request names (any letter case).
pub async fn user(
    call: &IamCall<'_>,
    action: &str,
    name: UserName,
    required: &[&str],
) -> Result<Authorized<UserRow>, SqsError> {
    let name = match (call.opt("UserName"), name) {
        (Some(n), _) => n.to_owned(),
        (None, UserName::Given) => return Err(SqsError::missing("UserName")),
        (None, UserName::OrCaller(why)) => {
            call.principal.user_name.clone().ok_or_else(|| SqsError::InvalidInput(why.into()))?
        }
    };
    require(call, required)?;
    let result = call.tenancy().user(call.account(), &name).await;
    found(call, action, result, UserRow::arn, || format!("arn:aws:iam::{}:user/{name}", call.account()))
}

/// UpdateUser: the user as it is, and — when the request renames or moves it — as it will be.
pub async fn renamed_user(call: &IamCall<'_>, action: &str) -> Result<Authorized<UserRow>, SqsError> {
    let user = user(call, action, UserName::Given, &[]).await?;
    let (new_name, new_path) = (call.opt("NewUserName"), call.opt("NewPath"));
    if new_name.is_some() || new_path.is_some() {
        let u = user.resource();
        let to = format!(
            "arn:aws:iam::{}:user{}{}",
            call.account(),
            new_path.unwrap_or(&u.path),
            new_name.unwrap_or(&u.name)
        );
        allow(call, action, &to, ())?;
    }
    Ok(user)
}

/// The group a request names.
pub async fn group(call: &IamCall<'_>, action: &str, required: &[&str]) -> Result<Authorized<GroupRow>, SqsError> {
    let name = call.param("GroupName")?.to_owned();
    require(call, required)?;
    let result = call.tenancy().group(call.account(), &name).await;
    found(call, action, result, GroupRow::arn, || format!("arn:aws:iam::{}:group/{name}", call.account()))
}

/// The role a request names.
pub async fn role(call: &IamCall<'_>, action: &str, required: &[&str]) -> Result<Authorized<RoleRow>, SqsError> {
    let name = call.param("RoleName")?.to_owned();
    require(call, required)?;
    let result = call.tenancy().role(call.account(), &name).await;
    found(call, action, result, RoleRow::arn, || format!("arn:aws:iam::{}:role/{name}", call.account()))
}

/// The managed policy `PolicyArn` names (its path must be the stored one).
pub async fn policy(call: &IamCall<'_>, action: &str) -> Result<Authorized<ManagedPolicyRow>, SqsError> {
    let arn = call.param("PolicyArn")?.to_owned();
    let result = call.tenancy().managed_policy(call.account(), &arn).await;
    found(call, action, result, ManagedPolicyRow::arn, || arn.clone())
}

/// One service integration (`IntegrationId`), or all of the account's (`*`, for calls about
/// no one integration). The answer carries the id.
pub fn integration(call: &IamCall<'_>, action: &str, id_param: Option<&str>) -> Result<Authorized<String>, SqsError> {
    let id = match id_param {
        Some(p) => call.param(p)?.to_owned(),
        None => "*".to_owned(),
    };
    let arn = format!("arn:aws:iam::{}:service-integration/{id}", call.account());
    allow(call, action, &arn, id)
}

/// A token to revoke, given whole (`Token`: decided on its integration) or by id (`TokenId`:
/// on every integration of the account). The answer carries what was given.
pub fn token(call: &IamCall<'_>, action: &str) -> Result<Authorized<String>, SqsError> {
    let given = call.param("Token").or_else(|_| call.param("TokenId"))?.to_owned();
    let integration = crate::crypto::token::unverified_claims(&given).map(|c| c.sub);
    let arn = format!("arn:aws:iam::{}:service-integration/{}", call.account(), integration.as_deref().unwrap_or("*"));
    allow(call, action, &arn, given)
}

/// What GetAccessKeyLastUsed reads of a key of the account.
#[derive(Debug)]
pub struct KeyUse {
    /// The key's user (`root` for the account's root key).
    pub owner: String,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub service: Option<String>,
}

/// The key `AccessKeyId` names, decided before the answer tells whether it exists: on its
/// owner when it is a key of this account (its user's stored ARN, or the account root), on
/// every user of the account when it is not.
pub async fn access_key(call: &IamCall<'_>, action: &str) -> Result<Authorized<KeyUse>, SqsError> {
    let key = call.param("AccessKeyId")?;
    let acct = call.account();
    let (user, at, service) = match call.tenancy().key_last_used(acct, key).await {
        Ok(found) => found,
        Err(TenancyError::NoSuchEntity(m)) => {
            allow(call, action, &format!("arn:aws:iam::{acct}:user/*"), ())?;
            return Err(TenancyError::NoSuchEntity(m).into());
        }
        Err(e) => return Err(e.into()),
    };
    match user {
        Some(name) => match call.tenancy().user(acct, &name).await {
            Ok(u) => {
                let arn = u.arn();
                allow(call, action, &arn, KeyUse { owner: u.name, at, service })
            }
            Err(TenancyError::NoSuchEntity(m)) => {
                allow(call, action, &format!("arn:aws:iam::{acct}:user/{name}"), ())?;
                Err(TenancyError::NoSuchEntity(m).into())
            }
            Err(e) => Err(e.into()),
        },
        None => allow(call, action, &format!("arn:aws:iam::{acct}:root"), KeyUse { owner: "root".into(), at, service }),
    }
}
