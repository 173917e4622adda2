//! IAM roles: the roles, their trust policies, and their inline and attached policies.

use super::{IamCall, attached_xml, date, el, encode_document};
use crate::api::SqsError;
use crate::policy::Authorized;
use crate::store::roles::RoleRow;

type Answer = Result<Option<String>, SqsError>;

pub(crate) fn role_xml(r: &RoleRow) -> String {
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

pub async fn create_role(call: &IamCall<'_>, name: Authorized<String>) -> Answer {
    let max = call.opt_i64("MaxSessionDuration")?;
    let r = call
        .tenancy()
        .create_role(
            call.account(),
            name.resource(),
            call.opt("Path"),
            call.param("AssumeRolePolicyDocument")?,
            call.opt("Description"),
            max,
        )
        .await?;
    Ok(Some(format!("<Role>{}</Role>", role_xml(&r))))
}

pub async fn get_role(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let r = call.tenancy().role(call.account(), &role.resource().name).await?;
    Ok(Some(format!("<Role>{}</Role>", role_xml(&r))))
}

pub async fn list_roles(call: &IamCall<'_>, _all: Authorized<()>) -> Answer {
    let roles = call.tenancy().list_roles(call.account(), call.opt("PathPrefix")).await?;
    let members: Vec<String> = roles.iter().map(|r| format!("<member>{}</member>", role_xml(r))).collect();
    Ok(Some(call.page("Roles", members)?))
}

pub async fn update_role(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let max = call.opt_i64("MaxSessionDuration")?;
    call.tenancy().update_role(call.account(), &role.resource().name, call.opt("Description"), max).await?;
    Ok(Some(String::new()))
}

pub async fn update_assume_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let doc = call.param("PolicyDocument")?;
    call.tenancy().update_assume_role_policy(call.account(), &role.resource().name, doc).await?;
    Ok(None)
}

pub async fn delete_role(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    call.tenancy().delete_role(call.account(), &role.resource().name).await?;
    Ok(None)
}

pub async fn put_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let (name, doc) = (call.param("PolicyName")?, call.param("PolicyDocument")?);
    call.tenancy().put_role_policy(call.account(), &role.resource().name, name, doc).await?;
    Ok(None)
}

pub async fn get_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let (name, policy) = (&role.resource().name, call.param("PolicyName")?);
    let doc = call.tenancy().get_role_policy(call.account(), name, policy).await?;
    Ok(Some(format!(
        "{}{}{}",
        el("RoleName", name),
        el("PolicyName", policy),
        el("PolicyDocument", &encode_document(&doc))
    )))
}

pub async fn list_role_policies(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let names = call.tenancy().list_role_policies(call.account(), &role.resource().name).await?;
    Ok(Some(call.page("PolicyNames", names.iter().map(|n| el("member", n)).collect())?))
}

pub async fn delete_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let name = call.param("PolicyName")?;
    call.tenancy().delete_role_policy(call.account(), &role.resource().name, name).await?;
    Ok(None)
}

pub async fn attach_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().attach_role_policy(call.account(), &role.resource().name, arn).await?;
    Ok(None)
}

pub async fn detach_role_policy(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().detach_role_policy(call.account(), &role.resource().name, arn).await?;
    Ok(None)
}

pub async fn list_attached_role_policies(call: &IamCall<'_>, role: Authorized<RoleRow>) -> Answer {
    let attached = call.tenancy().attached_role_policies(call.account(), &role.resource().name).await?;
    Ok(Some(call.page("AttachedPolicies", attached_xml(&attached))?))
}
