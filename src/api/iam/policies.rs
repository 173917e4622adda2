//! Customer managed policies and their versions. A policy is named by its ARN, whose path
//! must be the stored one; answers name it by its stored ARN.

use chrono::{DateTime, Utc};

use super::{IamCall, date, el, encode_document};
use crate::api::SqsError;
use crate::policy::Authorized;
use crate::store::policies::ManagedPolicyRow;

type Answer = Result<Option<String>, SqsError>;

fn version_number(v: &str) -> Result<i32, SqsError> {
    v.strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| SqsError::InvalidInput(format!("The version id {v} is not valid (v1, v2, …).")))
}

pub async fn create_policy(call: &IamCall<'_>, name: Authorized<String>) -> Answer {
    let (name, path) = (name.resource(), call.opt("Path").unwrap_or("/"));
    let arn = call.tenancy().create_policy(call.account(), name, Some(path), call.param("PolicyDocument")?).await?;
    Ok(Some(format!(
        "<Policy>{}{}{}{}{}</Policy>",
        el("PolicyName", name),
        el("Arn", &arn),
        el("Path", path),
        el("DefaultVersionId", "v1"),
        el("AttachmentCount", "0")
    )))
}

pub async fn get_policy(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let arn = policy.resource().arn();
    let (p, attachments) = call.tenancy().get_policy(call.account(), &arn).await?;
    Ok(Some(format!(
        "<Policy>{}{}{}{}{}{}{}{}{}</Policy>",
        el("PolicyName", &p.name),
        el("PolicyId", &p.id),
        el("Arn", &arn),
        el("Path", &p.path),
        el("DefaultVersionId", &format!("v{}", p.default_version)),
        el("AttachmentCount", &attachments.to_string()),
        el("IsAttachable", "true"),
        el("CreateDate", &date(p.created_at)),
        el("UpdateDate", &date(p.updated_at))
    )))
}

pub async fn list_policies(call: &IamCall<'_>, _all: Authorized<()>) -> Answer {
    let members: Vec<String> = call
        .tenancy()
        .list_policies(call.account())
        .await?
        .iter()
        .map(|p| {
            format!(
                "<member>{}{}{}{}{}</member>",
                el("PolicyName", &p.name),
                el("PolicyId", &p.id),
                el("Arn", &p.arn()),
                el("Path", &p.path),
                el("DefaultVersionId", &format!("v{}", p.default_version))
            )
        })
        .collect();
    Ok(Some(call.page("Policies", members)?))
}

pub async fn delete_policy(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    call.tenancy().delete_policy(call.account(), &policy.resource().arn()).await?;
    Ok(None)
}

pub async fn create_policy_version(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let set_default = call.opt("SetAsDefault").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let doc = call.param("PolicyDocument")?;
    let v = call.tenancy().create_policy_version(call.account(), &policy.resource().arn(), doc, set_default).await?;
    Ok(Some(format!(
        "<PolicyVersion>{}{}{}</PolicyVersion>",
        el("VersionId", &format!("v{v}")),
        el("IsDefaultVersion", if set_default { "true" } else { "false" }),
        el("CreateDate", &date(call.tenancy().now()))
    )))
}

pub async fn set_default_policy_version(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let version = version_number(call.param("VersionId")?)?;
    call.tenancy().set_default_policy_version(call.account(), &policy.resource().arn(), version).await?;
    Ok(None)
}

pub async fn delete_policy_version(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let version = version_number(call.param("VersionId")?)?;
    call.tenancy().delete_policy_version(call.account(), &policy.resource().arn(), version).await?;
    Ok(None)
}

type Version = (i32, String, DateTime<Utc>);

fn render_version((v, doc, at): &Version, default: i32, with_doc: bool) -> String {
    format!(
        "{}{}{}{}",
        if with_doc { el("Document", &encode_document(doc)) } else { String::new() },
        el("VersionId", &format!("v{v}")),
        el("IsDefaultVersion", if *v == default { "true" } else { "false" }),
        el("CreateDate", &date(*at))
    )
}

pub async fn get_policy_version(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let arn = policy.resource().arn();
    let (default, versions) = call.tenancy().policy_versions(call.account(), &arn).await?;
    let wanted = version_number(call.param("VersionId")?)?;
    let v = versions
        .iter()
        .find(|(n, _, _)| *n == wanted)
        .ok_or_else(|| SqsError::NoSuchEntity(format!("Policy {arn} version v{wanted} does not exist.")))?;
    Ok(Some(format!("<PolicyVersion>{}</PolicyVersion>", render_version(v, default, true))))
}

pub async fn list_policy_versions(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let (default, versions) = call.tenancy().policy_versions(call.account(), &policy.resource().arn()).await?;
    let all: Vec<String> =
        versions.iter().map(|v| format!("<member>{}</member>", render_version(v, default, false))).collect();
    Ok(Some(call.page("Versions", all)?))
}

pub async fn list_entities_for_policy(call: &IamCall<'_>, policy: Authorized<ManagedPolicyRow>) -> Answer {
    let entities = call.tenancy().policy_entities(call.account(), &policy.resource().arn()).await?;
    let list = |kind: &str, tag: &str, id_tag: &str| -> String {
        entities
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, n, id)| format!("<member>{}{}</member>", el(tag, n), el(id_tag, id)))
            .collect()
    };
    Ok(Some(format!(
        "<PolicyUsers>{}</PolicyUsers><PolicyGroups>{}</PolicyGroups><PolicyRoles></PolicyRoles><IsTruncated>false</IsTruncated>",
        list("user", "UserName", "UserId"),
        list("group", "GroupName", "GroupId")
    )))
}
