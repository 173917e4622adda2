//! The IAM and STS APIs (query protocol, XML answers) at the same endpoint, routed by the
//! signature's service scope (`iam`, `sts`). Every call is decided by the policy engine
//! (`iam:*`, `sts:*` actions). This version carries the user, group, access-key and
//! policy calls `aws iam` needs for users and their permissions, and GetCallerIdentity.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;

use super::error::xml_escape;
use super::{ApiState, SqsError, decide};
use crate::auth::Principal;
use crate::policy::context::Context;
use crate::policy::document::Policy;
use crate::store::iam::{GroupRow, ManagedPolicyRow, UserRow};
use crate::store::roles::RoleRow;
use crate::tenancy::TenancyError;

const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The integration admin calls (Sluice's own, beside IAM's): what `sluice admin
/// integration` does, for an account's administrators, decided as `iam:<Action>` on
/// `arn:aws:iam::ACCOUNT:service-integration/ID` (`…/*` for calls on no one integration).
fn integration_xml(i: &crate::store::integrations::IntegrationRow) -> String {
    let sources: String = i.sources.iter().map(|s| el("member", s)).collect();
    format!(
        "{}{}{}<Sources>{sources}</Sources>{}{}",
        el("IntegrationId", &i.id),
        el("Service", &i.service),
        el("Status", if i.revoked_at.is_some() { "Revoked" } else { "Active" }),
        el("CreateDate", &date(i.created_at)),
        i.revoked_at.map(|t| el("RevokeDate", &date(t))).unwrap_or_default()
    )
}

fn role_xml(r: &crate::store::roles::RoleRow) -> String {
    format!(
        "{}{}{}{}{}{}{}{}",
        el("Path", &r.path),
        el("RoleName", &r.name),
        el("RoleId", &r.id),
        el("Arn", &r.arn()),
        el("CreateDate", &date(r.created_at)),
        el("AssumeRolePolicyDocument", &encode_document(&r.trust_policy)),
        el("Description", &r.description),
        el("MaxSessionDuration", &r.max_session_duration.to_string())
    )
}

fn token_xml(t: &crate::tenancy::integrations::IssuedToken) -> String {
    format!(
        "<Token>{}{}{}{}</Token>",
        el("IntegrationId", &t.integration_id),
        el("TokenId", &t.token_id),
        el("BearerToken", t.token.expose_secret()),
        el("Expiration", &date(t.expires_at))
    )
}

/// One IAM or STS call.
pub struct IamCall<'a> {
    pub state: &'a ApiState,
    pub principal: &'a Principal,
    pub identity: &'a [Policy],
    pub session_policy: Option<&'a Policy>,
    pub context: &'a Context,
    pub params: HashMap<String, String>,
}

impl IamCall<'_> {
    fn param(&self, name: &str) -> Result<&str, SqsError> {
        self.params.get(name).map(String::as_str).ok_or_else(|| SqsError::missing(name))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// One page of a listing (`MaxItems` 1–1000, default 100; `Marker` from the previous
    /// page), as IAM pages: the members, `IsTruncated`, and a `Marker` when more remain.
    fn page(&self, container: &str, items: Vec<String>) -> Result<String, SqsError> {
        let max = match self.opt("MaxItems") {
            None => 100,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|m| (1..=1000).contains(m))
                .ok_or_else(|| SqsError::InvalidInput("MaxItems must be between 1 and 1000.".into()))?,
        };
        let start = match self.opt("Marker") {
            None => 0,
            Some(m) => m
                .strip_prefix("m")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= items.len())
                .ok_or_else(|| SqsError::InvalidInput("The Marker is not valid.".into()))?,
        };
        let end = (start + max).min(items.len());
        let members: String = items[start..end].iter().map(String::as_str).collect();
        let more = if end < items.len() {
            format!("<IsTruncated>true</IsTruncated>{}", el("Marker", &format!("m{end}")))
        } else {
            "<IsTruncated>false</IsTruncated>".to_owned()
        };
        Ok(format!("<{container}>{members}</{container}>{more}"))
    }

    fn account(&self) -> &str {
        &self.principal.account_id
    }

    /// Authorizes `iam:<action>` on `resource` in the caller's account.
    fn allow(&self, action: &str, resource: &str) -> Result<(), SqsError> {
        decide(
            self.principal,
            self.identity,
            self.session_policy,
            None,
            self.context,
            action,
            resource,
            Some(self.account()),
            (),
        )
        .map(|_| ())
    }

    /// A role's ARN as a request to create it writes it (the path as given, `/` when none).
    fn role_arn(&self, name: &str, path: Option<&str>) -> String {
        format!("arn:aws:iam::{}:role{}{name}", self.account(), path.unwrap_or("/"))
    }

    /// Authorizes `action` on an existing entity of the caller's account: on its stored ARN
    /// (its path, its name as stored), so the letter case or the path a request writes can
    /// sidestep no policy — a Deny on `user/admin` holds for `UserName=Admin`, an Allow on
    /// `role/team-a/*` gives nothing on `/protected/` roles. When the entity does not exist,
    /// the decision is on the ARN the request implies (`KIND/NAME`), and only a caller allowed
    /// that learns it is missing.
    fn resolved<T>(
        &self,
        action: &str,
        found: Result<T, TenancyError>,
        stored_arn: impl FnOnce(&T) -> String,
        implied_arn: impl FnOnce() -> String,
    ) -> Result<T, SqsError> {
        match found {
            Ok(entity) => {
                self.allow(action, &stored_arn(&entity))?;
                Ok(entity)
            }
            Err(TenancyError::NoSuchEntity(m)) => {
                self.allow(action, &implied_arn())?;
                Err(TenancyError::NoSuchEntity(m).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The user named `name` (any letter case), once `action` on it is authorized.
    async fn user_for(&self, action: &str, name: &str) -> Result<UserRow, SqsError> {
        let found = self.state.tenancy.user(self.account(), name).await;
        self.resolved(action, found, UserRow::arn, || format!("arn:aws:iam::{}:user/{name}", self.account()))
    }

    /// The group named `name`, once `action` on it is authorized.
    async fn group_for(&self, action: &str, name: &str) -> Result<GroupRow, SqsError> {
        let found = self.state.tenancy.group(self.account(), name).await;
        self.resolved(action, found, GroupRow::arn, || format!("arn:aws:iam::{}:group/{name}", self.account()))
    }

    /// The role named `name`, once `action` on it is authorized.
    async fn role_for(&self, action: &str, name: &str) -> Result<RoleRow, SqsError> {
        let found = self.state.tenancy.role(self.account(), name).await;
        self.resolved(action, found, RoleRow::arn, || self.role_arn(name, None))
    }

    /// The stored ARN of the managed policy `arn` names (its path must be the stored one),
    /// once `action` on it is authorized.
    async fn policy_for(&self, action: &str, arn: &str) -> Result<String, SqsError> {
        let found = self.state.tenancy.managed_policy(self.account(), arn).await;
        Ok(self.resolved(action, found, ManagedPolicyRow::arn, || arn.to_owned())?.arn())
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, SqsError> {
        self.opt(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| SqsError::ValidationError(format!("Value '{v}' at '{name}' is not a valid integer.")))
            })
            .transpose()
    }

    fn integration_arn(&self, id: &str) -> String {
        format!("arn:aws:iam::{}:service-integration/{id}", self.account())
    }

    /// `DurationSeconds` of a token: 60 s up to the deployment's cap (30 days unless set),
    /// the cap by default.
    fn lifetime(&self) -> Result<i64, SqsError> {
        match self.opt("DurationSeconds") {
            None => Ok(self.state.tenancy.max_token_lifetime()),
            Some(d) => d.parse().map_err(|_| SqsError::InvalidInput(format!("DurationSeconds {d} is not a number."))),
        }
    }
}

fn date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn el(tag: &str, value: &str) -> String {
    format!("<{tag}>{}</{tag}>", xml_escape(value))
}

fn group_xml(g: &crate::store::iam::GroupRow) -> String {
    format!(
        "{}{}{}{}{}",
        el("Path", &g.path),
        el("GroupName", &g.name),
        el("GroupId", &g.id),
        el("Arn", &format!("arn:aws:iam::{}:group{}{}", g.account_id, g.path, g.name)),
        el("CreateDate", &date(g.created_at))
    )
}

fn version_number(v: &str) -> Result<i32, SqsError> {
    v.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| SqsError::InvalidInput(format!("The version id {v} is not valid (v1, v2, …).")))
}

fn encode_document(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).collect()
}

fn user_xml(u: &UserRow) -> String {
    format!(
        "{}{}{}{}{}",
        el("Path", &u.path),
        el("UserName", &u.name),
        el("UserId", &u.id),
        el("Arn", &format!("arn:aws:iam::{}:user{}{}", u.account_id, u.path, u.name)),
        el("CreateDate", &date(u.created_at))
    )
}

/// Wraps a result in IAM's response envelope (`result: None` for calls with no output).
fn respond(ns: &str, action: &str, result: Option<String>, request_id: &str) -> String {
    let body = match result {
        Some(r) => format!("<{action}Result>{r}</{action}Result>"),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0"?><{action}Response xmlns="{ns}">{body}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>"#,
        xml_escape(request_id)
    )
}

/// Runs one IAM call; returns the XML answer.
pub async fn iam(call: &IamCall<'_>, action: &str, request_id: &str) -> Result<String, SqsError> {
    let t = &call.state.tenancy;
    let acct = call.account().to_owned();
    let iam_action = format!("iam:{action}");
    let result: Option<String> = match action {
        "CreateUser" => {
            let name = call.param("UserName")?;
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:user{}{name}", call.opt("Path").unwrap_or("/")))?;
            let u = t.create_user(&acct, name, call.opt("Path")).await?;
            Some(format!("<User>{}</User>", user_xml(&u)))
        }
        "GetUser" => {
            let name = match call.opt("UserName") {
                Some(n) => n.to_owned(),
                None => call.principal.user_name.clone().ok_or_else(|| {
                    SqsError::InvalidInput("Must specify userName when calling with non-User credentials".into())
                })?,
            };
            let user = call.user_for(&iam_action, &name).await?;
            Some(format!("<User>{}</User>", user_xml(&user)))
        }
        "ListUsers" => {
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:user/"))?;
            let users = t.list_users(&acct, call.opt("PathPrefix")).await?;
            let members: Vec<String> = users.iter().map(|u| format!("<member>{}</member>", user_xml(u))).collect();
            Some(call.page("Users", members)?)
        }
        "DeleteUser" => {
            let name = call.param("UserName")?;
            let resolved = call.user_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.delete_user(&acct, name).await?;
            None
        }
        "CreateAccessKey" => {
            let name = match call.opt("UserName") {
                Some(n) => n.to_owned(),
                None => call.principal.user_name.clone().ok_or_else(|| {
                    SqsError::InvalidInput("Root keys are managed with `sluice admin account`.".into())
                })?,
            };
            let resolved = call.user_for(&iam_action, &name).await?;
            let name = resolved.name.clone();
            let (key, secret) = t.create_access_key(&acct, &name).await?;
            Some(format!(
                "<AccessKey>{}{}{}{}{}</AccessKey>",
                el("UserName", &name),
                el("AccessKeyId", &key),
                el("Status", "Active"),
                el("SecretAccessKey", secret.expose_secret()),
                el("CreateDate", &date(call.state.tenancy.now()))
            ))
        }
        "ListAccessKeys" => {
            let name =
                call.opt("UserName").map(str::to_owned).or_else(|| call.principal.user_name.clone()).ok_or_else(
                    || SqsError::InvalidInput("Must specify userName when calling with non-User credentials".into()),
                )?;
            let resolved = call.user_for(&iam_action, &name).await?;
            let name = resolved.name.clone();
            let keys = t.list_access_keys(&acct, &name).await?;
            let members: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "<member>{}{}{}{}</member>",
                        el("UserName", &name),
                        el("AccessKeyId", &k.access_key_id),
                        el("Status", &k.status),
                        el("CreateDate", &date(k.created_at))
                    )
                })
                .collect();
            Some(call.page("AccessKeyMetadata", members)?)
        }
        "UpdateAccessKey" | "DeleteAccessKey" => {
            let name =
                call.opt("UserName").map(str::to_owned).or_else(|| call.principal.user_name.clone()).ok_or_else(
                    || SqsError::InvalidInput("Must specify userName when calling with non-User credentials".into()),
                )?;
            let key = call.param("AccessKeyId")?;
            let resolved = call.user_for(&iam_action, &name).await?;
            let name = resolved.name.clone();
            let op = if action == "DeleteAccessKey" {
                None
            } else {
                match call.param("Status")? {
                    "Active" => Some(true),
                    "Inactive" => Some(false),
                    other => {
                        return Err(SqsError::InvalidInput(format!("Status {other} must be Active or Inactive.")));
                    }
                }
            };
            t.user_key_op(&acct, &name, key, op).await?;
            None
        }
        "PutUserPolicy" => {
            let name = call.param("UserName")?;
            let resolved = call.user_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.put_user_policy(&acct, name, call.param("PolicyName")?, call.param("PolicyDocument")?).await?;
            None
        }
        "GetUserPolicy" => {
            let (name, policy) = (call.param("UserName")?, call.param("PolicyName")?);
            let resolved = call.user_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let doc = t.get_user_policy(&acct, name, policy).await?;
            let encoded: String =
                percent_encoding::utf8_percent_encode(&doc, percent_encoding::NON_ALPHANUMERIC).collect();
            Some(format!("{}{}{}", el("UserName", name), el("PolicyName", policy), el("PolicyDocument", &encoded)))
        }
        "ListUserPolicies" => {
            let name = call.param("UserName")?;
            let resolved = call.user_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let names: Vec<String> = t.list_user_policies(&acct, name).await?.iter().map(|n| el("member", n)).collect();
            Some(call.page("PolicyNames", names)?)
        }
        "DeleteUserPolicy" => {
            let name = call.param("UserName")?;
            let resolved = call.user_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.delete_user_policy(&acct, name, call.param("PolicyName")?).await?;
            None
        }
        "CreateGroup" => {
            let name = call.param("GroupName")?;
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:group{}{name}", call.opt("Path").unwrap_or("/")))?;
            let g = t.create_group(&acct, name, call.opt("Path")).await?;
            Some(format!(
                "<Group>{}{}{}{}{}</Group>",
                el("Path", &g.path),
                el("GroupName", &g.name),
                el("GroupId", &g.id),
                el("Arn", &format!("arn:aws:iam::{acct}:group{}{}", g.path, g.name)),
                el("CreateDate", &date(g.created_at))
            ))
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let (group, user) = (call.param("GroupName")?, call.param("UserName")?);
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            if action == "AddUserToGroup" {
                t.add_user_to_group(&acct, group, user).await?;
            } else {
                t.remove_user_from_group(&acct, group, user).await?;
            }
            None
        }
        "PutGroupPolicy" => {
            let group = call.param("GroupName")?;
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            t.put_group_policy(&acct, group, call.param("PolicyName")?, call.param("PolicyDocument")?).await?;
            None
        }
        "CreatePolicy" => {
            let name = call.param("PolicyName")?;
            let path = call.opt("Path").unwrap_or("/");
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:policy{path}{name}"))?;
            let arn = t.create_policy(&acct, name, Some(path), call.param("PolicyDocument")?).await?;
            Some(format!(
                "<Policy>{}{}{}{}{}</Policy>",
                el("PolicyName", name),
                el("Arn", &arn),
                el("Path", path),
                el("DefaultVersionId", "v1"),
                el("AttachmentCount", "0")
            ))
        }
        "AttachUserPolicy" | "DetachUserPolicy" => {
            let (user, arn) = (call.param("UserName")?, call.param("PolicyArn")?);
            let resolved = call.user_for(&iam_action, user).await?;
            let user = resolved.name.as_str();
            if action == "AttachUserPolicy" {
                t.attach_user_policy(&acct, user, arn).await?;
            } else {
                t.detach_user_policy(&acct, user, arn).await?;
            }
            None
        }
        "AttachGroupPolicy" | "DetachGroupPolicy" => {
            let (group, arn) = (call.param("GroupName")?, call.param("PolicyArn")?);
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            if action == "AttachGroupPolicy" {
                t.attach_group_policy(&acct, group, arn).await?;
            } else {
                t.detach_group_policy(&acct, group, arn).await?;
            }
            None
        }
        "UpdateUser" => {
            let name = call.param("UserName")?;
            let user = call.user_for(&iam_action, name).await?;
            // Renaming or moving needs the permission on the user as it will be, too.
            let (new_name, new_path) = (call.opt("NewUserName"), call.opt("NewPath"));
            if new_name.is_some() || new_path.is_some() {
                let to = format!(
                    "arn:aws:iam::{acct}:user{}{}",
                    new_path.unwrap_or(&user.path),
                    new_name.unwrap_or(&user.name)
                );
                call.allow(&iam_action, &to)?;
            }
            t.update_user(&acct, &user.name, new_name, new_path).await?;
            None
        }
        "DeletePolicyVersion" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            t.delete_policy_version(&acct, arn, version_number(call.param("VersionId")?)?).await?;
            None
        }
        "ListEntitiesForPolicy" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            let entities = t.policy_entities(&acct, arn).await?;
            let list = |kind: &str, tag: &str, id_tag: &str| -> String {
                entities
                    .iter()
                    .filter(|(k, _, _)| k == kind)
                    .map(|(_, n, id)| format!("<member>{}{}</member>", el(tag, n), el(id_tag, id)))
                    .collect()
            };
            Some(format!(
                "<PolicyUsers>{}</PolicyUsers><PolicyGroups>{}</PolicyGroups><PolicyRoles></PolicyRoles><IsTruncated>false</IsTruncated>",
                list("user", "UserName", "UserId"),
                list("group", "GroupName", "GroupId")
            ))
        }
        "GetGroupPolicy" | "ListGroupPolicies" | "DeleteGroupPolicy" => {
            let group = call.param("GroupName")?;
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            match action {
                "GetGroupPolicy" => {
                    let name = call.param("PolicyName")?;
                    let doc = t.get_group_policy(&acct, group, name).await?;
                    Some(format!(
                        "{}{}{}",
                        el("GroupName", group),
                        el("PolicyName", name),
                        el("PolicyDocument", &encode_document(&doc))
                    ))
                }
                "ListGroupPolicies" => {
                    let names: Vec<String> =
                        t.list_group_policies(&acct, group).await?.iter().map(|n| el("member", n)).collect();
                    Some(call.page("PolicyNames", names)?)
                }
                _ => {
                    t.delete_group_policy(&acct, group, call.param("PolicyName")?).await?;
                    None
                }
            }
        }
        "GetAccessKeyLastUsed" => {
            let key = call.param("AccessKeyId")?;
            // Authorized before the answer tells whether the key exists: on its owner when it
            // is a key of this account, on every user of the account when it is not.
            let (user, at, service) = match t.key_last_used(&acct, key).await {
                Ok(found) => found,
                Err(TenancyError::NoSuchEntity(m)) => {
                    call.allow(&iam_action, &format!("arn:aws:iam::{acct}:user/*"))?;
                    return Err(TenancyError::NoSuchEntity(m).into());
                }
                Err(e) => return Err(e.into()),
            };
            let owner = match &user {
                Some(name) => call.user_for(&iam_action, name).await?.name,
                None => {
                    call.allow(&iam_action, &format!("arn:aws:iam::{acct}:root"))?;
                    "root".to_owned()
                }
            };
            let used = match (at, service) {
                (Some(at), Some(svc)) => format!(
                    "{}{}{}",
                    el("LastUsedDate", &date(at)),
                    el("ServiceName", &svc),
                    el("Region", &call.state.region)
                ),
                _ => format!("{}{}", el("ServiceName", "N/A"), el("Region", "N/A")),
            };
            Some(format!("{}<AccessKeyLastUsed>{used}</AccessKeyLastUsed>", el("UserName", &owner)))
        }
        "GetGroup" => {
            let group = call.param("GroupName")?;
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            let (g, members) = t.group_with_members(&acct, group).await?;
            let users: String = members.iter().map(|u| format!("<member>{}</member>", user_xml(u))).collect();
            Some(format!("<Group>{}</Group><Users>{users}</Users><IsTruncated>false</IsTruncated>", group_xml(&g)))
        }
        "ListGroups" => {
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:group/"))?;
            let groups: Vec<String> =
                t.list_groups(&acct).await?.iter().map(|g| format!("<member>{}</member>", group_xml(g))).collect();
            Some(call.page("Groups", groups)?)
        }
        "DeleteGroup" => {
            let group = call.param("GroupName")?;
            let resolved = call.group_for(&iam_action, group).await?;
            let group = resolved.name.as_str();
            t.delete_group(&acct, group).await?;
            None
        }
        "ListGroupsForUser" => {
            let user = call.param("UserName")?;
            let resolved = call.user_for(&iam_action, user).await?;
            let user = resolved.name.as_str();
            let groups: Vec<String> = t
                .groups_for_user(&acct, user)
                .await?
                .iter()
                .map(|g| format!("<member>{}</member>", group_xml(g)))
                .collect();
            Some(call.page("Groups", groups)?)
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" => {
            let group = action == "ListAttachedGroupPolicies";
            let name = call.param(if group { "GroupName" } else { "UserName" })?;
            let name = if group {
                call.group_for(&iam_action, name).await?.name
            } else {
                call.user_for(&iam_action, name).await?.name
            };
            let attached: Vec<String> = t
                .attached_policies(&acct, &name, group)
                .await?
                .iter()
                .map(|(n, arn)| format!("<member>{}{}</member>", el("PolicyName", n), el("PolicyArn", arn)))
                .collect();
            Some(call.page("AttachedPolicies", attached)?)
        }
        "GetPolicy" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            let (p, attachments) = t.get_policy(&acct, arn).await?;
            Some(format!(
                "<Policy>{}{}{}{}{}{}{}{}{}</Policy>",
                el("PolicyName", &p.name),
                el("PolicyId", &p.id),
                el("Arn", arn),
                el("Path", &p.path),
                el("DefaultVersionId", &format!("v{}", p.default_version)),
                el("AttachmentCount", &attachments.to_string()),
                el("IsAttachable", "true"),
                el("CreateDate", &date(p.created_at)),
                el("UpdateDate", &date(p.updated_at))
            ))
        }
        "CreateRole" => {
            let name = call.param("RoleName")?;
            call.allow(&iam_action, &call.role_arn(name, call.opt("Path")))?;
            let max = call.opt_i64("MaxSessionDuration")?;
            let r = t
                .create_role(
                    &acct,
                    name,
                    call.opt("Path"),
                    call.param("AssumeRolePolicyDocument")?,
                    call.opt("Description"),
                    max,
                )
                .await?;
            Some(format!("<Role>{}</Role>", role_xml(&r)))
        }
        "GetRole" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            Some(format!("<Role>{}</Role>", role_xml(&t.role(&acct, name).await?)))
        }
        "ListRoles" => {
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:role/"))?;
            let roles = t.list_roles(&acct, call.opt("PathPrefix")).await?;
            let members: Vec<String> = roles.iter().map(|r| format!("<member>{}</member>", role_xml(r))).collect();
            Some(call.page("Roles", members)?)
        }
        "UpdateRole" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.update_role(&acct, name, call.opt("Description"), call.opt_i64("MaxSessionDuration")?).await?;
            Some(String::new())
        }
        "UpdateAssumeRolePolicy" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.update_assume_role_policy(&acct, name, call.param("PolicyDocument")?).await?;
            None
        }
        "DeleteRole" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.delete_role(&acct, name).await?;
            None
        }
        "PutRolePolicy" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.put_role_policy(&acct, name, call.param("PolicyName")?, call.param("PolicyDocument")?).await?;
            None
        }
        "GetRolePolicy" => {
            let (name, policy) = (call.param("RoleName")?, call.param("PolicyName")?);
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let doc = t.get_role_policy(&acct, name, policy).await?;
            Some(format!(
                "{}{}{}",
                el("RoleName", name),
                el("PolicyName", policy),
                el("PolicyDocument", &encode_document(&doc))
            ))
        }
        "ListRolePolicies" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let names: Vec<String> = t.list_role_policies(&acct, name).await?.iter().map(|n| el("member", n)).collect();
            Some(call.page("PolicyNames", names)?)
        }
        "DeleteRolePolicy" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            t.delete_role_policy(&acct, name, call.param("PolicyName")?).await?;
            None
        }
        "AttachRolePolicy" | "DetachRolePolicy" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let arn = call.param("PolicyArn")?;
            if action == "AttachRolePolicy" {
                t.attach_role_policy(&acct, name, arn).await?;
            } else {
                t.detach_role_policy(&acct, name, arn).await?;
            }
            None
        }
        "ListAttachedRolePolicies" => {
            let name = call.param("RoleName")?;
            let resolved = call.role_for(&iam_action, name).await?;
            let name = resolved.name.as_str();
            let members: Vec<String> = t
                .attached_role_policies(&acct, name)
                .await?
                .iter()
                .map(|(n, arn)| format!("<member>{}{}</member>", el("PolicyName", n), el("PolicyArn", arn)))
                .collect();
            Some(call.page("AttachedPolicies", members)?)
        }
        "CreateServiceIntegration" => {
            call.allow(&iam_action, &call.integration_arn("*"))?;
            let mut sources = Vec::new();
            for n in 1.. {
                match call.opt(&format!("Sources.member.{n}")) {
                    Some(v) => sources.push(v.to_owned()),
                    None => break,
                }
                if n > crate::tenancy::integrations::MAX_SOURCES {
                    break;
                }
            }
            let i = t.create_integration(&acct, call.param("Service")?, &sources).await?;
            let token = t.issue_integration_token(&acct, &i.id, call.lifetime()?).await?;
            Some(format!("<Integration>{}</Integration>{}", integration_xml(&i), token_xml(&token)))
        }
        "ListServiceIntegrations" => {
            call.allow(&iam_action, &call.integration_arn("*"))?;
            let all: Vec<String> = t
                .list_integrations(&acct)
                .await?
                .iter()
                .map(|i| format!("<member>{}</member>", integration_xml(i)))
                .collect();
            Some(call.page("Integrations", all)?)
        }
        "CreateServiceIntegrationToken" => {
            let id = call.param("IntegrationId")?;
            call.allow(&iam_action, &call.integration_arn(id))?;
            Some(token_xml(&t.issue_integration_token(&acct, id, call.lifetime()?).await?))
        }
        "RevokeServiceIntegration" => {
            let id = call.param("IntegrationId")?;
            call.allow(&iam_action, &call.integration_arn(id))?;
            t.revoke_integration(&acct, id).await?;
            None
        }
        "RevokeServiceIntegrationToken" => {
            // Named by its id, or by the token itself (its integration is then known).
            let given = call.param("Token").or_else(|_| call.param("TokenId"))?;
            let integration = crate::crypto::token::unverified_claims(given).map(|c| c.sub);
            call.allow(&iam_action, &call.integration_arn(integration.as_deref().unwrap_or("*")))?;
            let r = t.revoke_integration_token(&acct, given).await?;
            Some(format!("{}{}", el("TokenId", &r.token_id), el("Expiration", &date(r.expires_at))))
        }
        "RotateServiceIntegrationSigningKey" => {
            call.allow(&iam_action, &call.integration_arn("*"))?;
            Some(el("KeyId", &t.rotate_signing_key(&acct).await?))
        }
        "RetireServiceIntegrationSigningKeys" => {
            call.allow(&iam_action, &call.integration_arn("*"))?;
            Some(el("Retired", &t.retire_old_signing_keys(&acct).await?.to_string()))
        }
        "ListPolicies" => {
            call.allow(&iam_action, &format!("arn:aws:iam::{acct}:policy/"))?;
            let members: Vec<String> = t
                .list_policies(&acct)
                .await?
                .iter()
                .map(|p| {
                    format!(
                        "<member>{}{}{}{}{}</member>",
                        el("PolicyName", &p.name),
                        el("PolicyId", &p.id),
                        el("Arn", &format!("arn:aws:iam::{acct}:policy{}{}", p.path, p.name)),
                        el("Path", &p.path),
                        el("DefaultVersionId", &format!("v{}", p.default_version))
                    )
                })
                .collect();
            Some(call.page("Policies", members)?)
        }
        "DeletePolicy" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            t.delete_policy(&acct, arn).await?;
            None
        }
        "CreatePolicyVersion" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            let set_default = call.opt("SetAsDefault").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let v = t.create_policy_version(&acct, arn, call.param("PolicyDocument")?, set_default).await?;
            Some(format!(
                "<PolicyVersion>{}{}{}</PolicyVersion>",
                el("VersionId", &format!("v{v}")),
                el("IsDefaultVersion", if set_default { "true" } else { "false" }),
                el("CreateDate", &date(call.state.tenancy.now()))
            ))
        }
        "SetDefaultPolicyVersion" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            t.set_default_policy_version(&acct, arn, version_number(call.param("VersionId")?)?).await?;
            None
        }
        "GetPolicyVersion" | "ListPolicyVersions" => {
            let arn = call.param("PolicyArn")?;
            let resolved = call.policy_for(&iam_action, arn).await?;
            let arn = resolved.as_str();
            let (default, versions) = t.policy_versions(&acct, arn).await?;
            let render = |(v, doc, at): &(i32, String, DateTime<Utc>), with_doc: bool| {
                format!(
                    "{}{}{}{}",
                    if with_doc { el("Document", &encode_document(doc)) } else { String::new() },
                    el("VersionId", &format!("v{v}")),
                    el("IsDefaultVersion", if *v == default { "true" } else { "false" }),
                    el("CreateDate", &date(*at))
                )
            };
            if action == "GetPolicyVersion" {
                let wanted = version_number(call.param("VersionId")?)?;
                let v = versions
                    .iter()
                    .find(|(n, _, _)| *n == wanted)
                    .ok_or_else(|| SqsError::NoSuchEntity(format!("Policy {arn} version v{wanted} does not exist.")))?;
                Some(format!("<PolicyVersion>{}</PolicyVersion>", render(v, true)))
            } else {
                let all: Vec<String> =
                    versions.iter().map(|v| format!("<member>{}</member>", render(v, false))).collect();
                Some(call.page("Versions", all)?)
            }
        }
        // The table routes only the rows above here.
        other => return Err(SqsError::internal(&format!("IAM row {other} without a handler"))),
    };
    Ok(respond(IAM_NS, action, result, request_id))
}

/// Runs one STS call: GetCallerIdentity, AssumeRole, GetSessionToken.
pub async fn sts(call: &IamCall<'_>, action: &str, request_id: &str) -> Result<String, SqsError> {
    let p = call.principal;
    let result = match action {
        "GetCallerIdentity" => {
            // AWS answers GetCallerIdentity for any valid credentials, whatever the policies.
            format!("{}{}{}", el("Arn", &p.arn), el("UserId", p.sender_id()), el("Account", &p.account_id))
        }
        "AssumeRole" => assume_role(call).await?,
        "GetSessionToken" => {
            let (Some(user_id), Some(user_name), false) = (&p.user_id, &p.user_name, p.temporary) else {
                return Err(SqsError::AccessDenied(
                    "Cannot call GetSessionToken with session credentials or as an account root.".into(),
                ));
            };
            let creds = call
                .state
                .tenancy
                .issue_user_session(&p.account_id, user_id, user_name, call.opt_i64("DurationSeconds")?)
                .await?;
            credentials_xml(&creds)
        }
        // The table routes only the rows above here.
        other => return Err(SqsError::internal(&format!("STS row {other} without a handler"))),
    };
    Ok(respond(STS_NS, action, Some(result), request_id))
}

fn credentials_xml(c: &crate::tenancy::roles::TemporaryCredentials) -> String {
    format!(
        "<Credentials>{}{}{}{}</Credentials>",
        el("AccessKeyId", &c.access_key_id),
        el("SecretAccessKey", c.secret_access_key.expose_secret()),
        el("SessionToken", c.session_token.expose_secret()),
        el("Expiration", &date(c.expiration))
    )
}

/// AssumeRole: the trust policy and (where IAM needs it) the caller's identity policies
/// decide, before anything tells whether the role exists.
async fn assume_role(call: &IamCall<'_>) -> Result<String, SqsError> {
    let p = call.principal;
    let role_arn = call.param("RoleArn")?;
    let session_name = call.param("RoleSessionName")?;
    if role_arn.len() > 2048 {
        return Err(SqsError::ValidationError("RoleArn must be at most 2048 characters.".into()));
    }
    if let Some(e) = call.opt("ExternalId") {
        let ok =
            (2..=1224).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
        if !ok {
            return Err(SqsError::ValidationError("ExternalId must be 2 to 1224 characters of [\\w+=,.@:/-].".into()));
        }
    }
    let mut context = call.context.clone();
    context.set("sts:RoleSessionName", session_name);
    if let Some(e) = call.opt("ExternalId") {
        context.set("sts:ExternalId", e);
    }
    if let Some(s) = call.opt("SourceIdentity") {
        context.set("sts:SourceIdentity", s);
    }
    let denied = || {
        SqsError::AccessDenied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            p.arn
        ))
    };
    if p.service.is_some() || p.kind == crate::auth::principal::Kind::Root {
        return Err(denied());
    }
    let role = call.state.tenancy.role_by_arn(role_arn).await?.ok_or_else(denied)?;
    let trust = crate::policy::document::parse(&role.trust_policy, crate::policy::document::Kind::Trust)
        .map_err(|e| SqsError::internal(&e))?;
    let kind = match p.kind {
        crate::auth::principal::Kind::AssumedRole => crate::policy::eval::PrincipalKind::AssumedRole,
        _ => crate::policy::eval::PrincipalKind::User,
    };
    let req = crate::policy::eval::Request {
        caller: crate::policy::eval::Caller {
            kind,
            account: Some(&p.account_id),
            arn: &p.arn,
            role_arn: p.role.as_ref().map(|r| r.role_arn.as_str()),
            session_policy: call.session_policy,
        },
        action: "sts:AssumeRole",
        resource: role_arn,
        resource_owner: Some(&role.account_id),
        context: &context,
    };
    let identity: Vec<&Policy> = call.identity.iter().collect();
    if !crate::policy::eval::evaluate_trust(&req, &identity, &trust).allowed {
        return Err(denied());
    }
    let duration = call.opt_i64("DurationSeconds")?;
    let request = crate::tenancy::roles::SessionRequest {
        session_name: session_name.to_owned(),
        duration_seconds: duration,
        session_policy: call.opt("Policy").map(str::to_owned),
        source_identity: call.opt("SourceIdentity").map(str::to_owned),
        chained: p.role.is_some(),
    };
    let creds = call.state.tenancy.issue_role_session(&role, &request).await?;
    let assumed = format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", role.account_id, role.name);
    Ok(format!(
        "{}<AssumedRoleUser>{}{}</AssumedRoleUser>{}",
        credentials_xml(&creds),
        el("AssumedRoleId", &format!("{}:{session_name}", role.id)),
        el("Arn", &assumed),
        call.opt("SourceIdentity").map(|s| el("SourceIdentity", s)).unwrap_or_default()
    ))
}
