//! IAM groups: the groups, their members, and their inline and attached policies.

use super::{IamCall, attached_xml, el, encode_document, group_xml, user_xml};
use crate::api::SqsError;
use crate::policy::Authorized;
use crate::store::iam::GroupRow;

type Answer = Result<Option<String>, SqsError>;

pub async fn create_group(call: &IamCall<'_>, name: Authorized<String>) -> Answer {
    let g = call.tenancy().create_group(call.account(), name.resource(), call.opt("Path")).await?;
    Ok(Some(format!("<Group>{}</Group>", group_xml(&g))))
}

pub async fn get_group(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let (g, members) = call.tenancy().group_with_members(call.account(), &group.resource().name).await?;
    let users: String = members.iter().map(|u| format!("<member>{}</member>", user_xml(u))).collect();
    Ok(Some(format!("<Group>{}</Group><Users>{users}</Users><IsTruncated>false</IsTruncated>", group_xml(&g))))
}

pub async fn list_groups(call: &IamCall<'_>, _all: Authorized<()>) -> Answer {
    let groups = call.tenancy().list_groups(call.account()).await?;
    let members: Vec<String> = groups.iter().map(|g| format!("<member>{}</member>", group_xml(g))).collect();
    Ok(Some(call.page("Groups", members)?))
}

pub async fn delete_group(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    call.tenancy().delete_group(call.account(), &group.resource().name).await?;
    Ok(None)
}

pub async fn add_user_to_group(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let user = call.param("UserName")?;
    call.tenancy().add_user_to_group(call.account(), &group.resource().name, user).await?;
    Ok(None)
}

pub async fn remove_user_from_group(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let user = call.param("UserName")?;
    call.tenancy().remove_user_from_group(call.account(), &group.resource().name, user).await?;
    Ok(None)
}

pub async fn put_group_policy(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let (name, doc) = (call.param("PolicyName")?, call.param("PolicyDocument")?);
    call.tenancy().put_group_policy(call.account(), &group.resource().name, name, doc).await?;
    Ok(None)
}

pub async fn get_group_policy(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let (group, name) = (&group.resource().name, call.param("PolicyName")?);
    let doc = call.tenancy().get_group_policy(call.account(), group, name).await?;
    Ok(Some(format!(
        "{}{}{}",
        el("GroupName", group),
        el("PolicyName", name),
        el("PolicyDocument", &encode_document(&doc))
    )))
}

pub async fn list_group_policies(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let names = call.tenancy().list_group_policies(call.account(), &group.resource().name).await?;
    Ok(Some(call.page("PolicyNames", names.iter().map(|n| el("member", n)).collect())?))
}

pub async fn delete_group_policy(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let name = call.param("PolicyName")?;
    call.tenancy().delete_group_policy(call.account(), &group.resource().name, name).await?;
    Ok(None)
}

pub async fn attach_group_policy(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().attach_group_policy(call.account(), &group.resource().name, arn).await?;
    Ok(None)
}

pub async fn detach_group_policy(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let arn = call.param("PolicyArn")?;
    call.tenancy().detach_group_policy(call.account(), &group.resource().name, arn).await?;
    Ok(None)
}

pub async fn list_attached_group_policies(call: &IamCall<'_>, group: Authorized<GroupRow>) -> Answer {
    let attached = call.tenancy().attached_policies(call.account(), &group.resource().name, true).await?;
    Ok(Some(call.page("AttachedPolicies", attached_xml(&attached))?))
}
