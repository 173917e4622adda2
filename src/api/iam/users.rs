//! IAM users: the users themselves, their access keys, their inline and attached policies,
//! and the groups they are in.

use secrecy::ExposeSecret;

use super::targets::KeyUse;
use super::{IamCall, attached_xml, date, el, encode_document, group_xml, user_xml};
use crate::api::SqsError;
use crate::policy::Authorized;
use crate::store::iam::UserRow;

/// The result element's content, or None for an action that answers none.
type Answer = Result<Option<String>, SqsError>;

pub async fn create_user(call: &IamCall<'_>, name: Authorized<String>) -> Answer {
    let u = call.tenancy().create_user(call.account(), name.resource(), call.opt("Path")).await?;
    Ok(Some(format!("<User>{}</User>", user_xml(&u))))
}

pub async fn get_user(_call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    Ok(Some(format!("<User>{}</User>", user_xml(user.resource()))))
}

pub async fn list_users(call: &IamCall<'_>, _all: Authorized<()>) -> Answer {
    let users = call.tenancy().list_users(call.account(), call.opt("PathPrefix")).await?;
    let members: Vec<String> = users.iter().map(|u| format!("<member>{}</member>", user_xml(u))).collect();
    Ok(Some(call.page("Users", members)?))
}

pub async fn delete_user(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    call.tenancy().delete_user(call.account(), &user.resource().name).await?;
    Ok(None)
}

/// UpdateUser: the gate decided on the user as it is and as it will be.
pub async fn update_user(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let (new_name, new_path) = (call.opt("NewUserName"), call.opt("NewPath"));
    call.tenancy().update_user(call.account(), &user.resource().name, new_name, new_path).await?;
    Ok(None)
}

pub async fn create_access_key(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let name = &user.resource().name;
    let (key, secret) = call.tenancy().create_access_key(call.account(), name).await?;
    Ok(Some(format!(
        "<AccessKey>{}{}{}{}{}</AccessKey>",
        el("UserName", name),
        el("AccessKeyId", &key),
        el("Status", "Active"),
        el("SecretAccessKey", secret.expose_secret()),
        el("CreateDate", &date(call.tenancy().now()))
    )))
}

pub async fn list_access_keys(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let name = &user.resource().name;
    let keys = call.tenancy().list_access_keys(call.account(), name).await?;
    let members: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "<member>{}{}{}{}</member>",
                el("UserName", name),
                el("AccessKeyId", &k.access_key_id),
                el("Status", &k.status),
                el("CreateDate", &date(k.created_at))
            )
        })
        .collect();
    Ok(Some(call.page("AccessKeyMetadata", members)?))
}

pub async fn update_access_key(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let active = match call.param("Status")? {
        "Active" => true,
        "Inactive" => false,
        other => return Err(SqsError::InvalidInput(format!("Status {other} must be Active or Inactive."))),
    };
    let key = call.param("AccessKeyId")?;
    call.tenancy().user_key_op(call.account(), &user.resource().name, key, Some(active)).await?;
    Ok(None)
}

pub async fn delete_access_key(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let key = call.param("AccessKeyId")?;
    call.tenancy().user_key_op(call.account(), &user.resource().name, key, None).await?;
    Ok(None)
}

pub async fn get_access_key_last_used(call: &IamCall<'_>, key: Authorized<KeyUse>) -> Answer {
    let k = key.resource();
    let used = match (k.at, &k.service) {
        (Some(at), Some(svc)) => {
            format!("{}{}{}", el("LastUsedDate", &date(at)), el("ServiceName", svc), el("Region", &call.state.region))
        }
        _ => format!("{}{}", el("ServiceName", "N/A"), el("Region", "N/A")),
    };
    Ok(Some(format!("{}<AccessKeyLastUsed>{used}</AccessKeyLastUsed>", el("UserName", &k.owner))))
}

pub async fn put_user_policy(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let (name, doc) = (call.param("PolicyName")?, call.param("PolicyDocument")?);
    call.tenancy().put_user_policy(call.account(), &user.resource().name, name, doc).await?;
    Ok(None)
}

pub async fn get_user_policy(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let (name, policy) = (&user.resource().name, call.param("PolicyName")?);
    let doc = call.tenancy().get_user_policy(call.account(), name, policy).await?;
    Ok(Some(format!(
        "{}{}{}",
        el("UserName", name),
        el("PolicyName", policy),
        el("PolicyDocument", &encode_document(&doc))
    )))
}

pub async fn list_user_policies(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let names = call.tenancy().list_user_policies(call.account(), &user.resource().name).await?;
    Ok(Some(call.page("PolicyNames", names.iter().map(|n| el("member", n)).collect())?))
}

pub async fn delete_user_policy(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let name = call.param("PolicyName")?;
    call.tenancy().delete_user_policy(call.account(), &user.resource().name, name).await?;
    Ok(None)
}

pub async fn attach_user_policy(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().attach_user_policy(call.account(), &user.resource().name, arn).await?;
    Ok(None)
}

pub async fn detach_user_policy(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().detach_user_policy(call.account(), &user.resource().name, arn).await?;
    Ok(None)
}

pub async fn list_attached_user_policies(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let attached = call.tenancy().attached_policies(call.account(), &user.resource().name, false).await?;
    Ok(Some(call.page("AttachedPolicies", attached_xml(&attached))?))
}

pub async fn list_groups_for_user(call: &IamCall<'_>, user: Authorized<UserRow>) -> Answer {
    let groups = call.tenancy().groups_for_user(call.account(), &user.resource().name).await?;
    let members: Vec<String> = groups.iter().map(|g| format!("<member>{}</member>", group_xml(g))).collect();
    Ok(Some(call.page("Groups", members)?))
}
