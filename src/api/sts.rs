//! The STS API (query protocol) on the same endpoint, routed by the signature's scope
//! (`sts`): GetCallerIdentity, AssumeRole and GetSessionToken, each a row of `api::table`.
//! AssumeRole is decided by the role's trust policy with the caller's identity policies
//! (`policy::gate::authorize_trust`), before anything tells whether the role exists.

use secrecy::ExposeSecret;

use super::SqsError;
use super::iam::{IamCall, date, el};
use crate::auth::principal::Kind;
use crate::policy::{Authorized, anyone};
use crate::store::roles::RoleRow;
use crate::tenancy::roles::{SessionRequest, TemporaryCredentials};

type Answer = Result<Option<String>, SqsError>;

fn credentials_xml(c: &TemporaryCredentials) -> String {
    format!(
        "<Credentials>{}{}{}{}</Credentials>",
        el("AccessKeyId", &c.access_key_id),
        el("SecretAccessKey", c.secret_access_key.expose_secret()),
        el("SessionToken", c.session_token.expose_secret()),
        el("Expiration", &date(c.expiration))
    )
}

/// The caller: AWS answers GetCallerIdentity and GetSessionToken for any valid credentials,
/// whatever the policies.
pub fn caller(_call: &IamCall<'_>) -> Result<Authorized<()>, SqsError> {
    Ok(anyone(()))
}

pub async fn get_caller_identity(call: &IamCall<'_>, _caller: Authorized<()>) -> Answer {
    let p = call.principal;
    Ok(Some(format!("{}{}{}", el("Arn", &p.arn), el("UserId", p.sender_id()), el("Account", &p.account_id))))
}

pub async fn get_session_token(call: &IamCall<'_>, _caller: Authorized<()>) -> Answer {
    let p = call.principal;
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
    Ok(Some(credentials_xml(&creds)))
}

/// A role a caller may assume, and the session it asks for.
#[derive(Debug)]
pub struct Assumable {
    pub role: RoleRow,
    pub session_name: String,
}

/// The role `RoleArn` names, decided by its trust policy (and, where IAM needs it, the
/// caller's identity policies) with the `sts:` condition keys of the request. A missing role
/// is refused as one that does not trust the caller.
pub async fn assumable(call: &IamCall<'_>) -> Result<Authorized<Assumable>, SqsError> {
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
    if p.service.is_some() || p.kind == Kind::Root {
        return Err(denied());
    }
    let role = call.state.tenancy.role_by_arn(role_arn).await?.ok_or_else(denied)?;
    let trust = crate::policy::document::parse(&role.trust_policy, crate::policy::document::Kind::Trust)
        .map_err(|e| SqsError::internal(&e))?;
    let identity: Vec<&crate::policy::document::Policy> = call.identity.iter().collect();
    let owner = role.account_id.clone();
    let target = Assumable { role, session_name: session_name.to_owned() };
    crate::policy::authorize_trust(
        &p.caller(call.session_policy),
        &identity,
        &trust,
        role_arn,
        &owner,
        &context,
        target,
    )
    .map_err(|_| denied())
}

pub async fn assume_role(call: &IamCall<'_>, assumable: Authorized<Assumable>) -> Answer {
    let p = call.principal;
    let Assumable { role, session_name } = assumable.resource();
    let request = SessionRequest {
        session_name: session_name.clone(),
        duration_seconds: call.opt_i64("DurationSeconds")?,
        session_policy: call.opt("Policy").map(str::to_owned),
        source_identity: call.opt("SourceIdentity").map(str::to_owned),
        chained: p.role.is_some(),
    };
    let creds = call.state.tenancy.issue_role_session(role, &request).await?;
    let assumed = format!("arn:aws:sts::{}:assumed-role/{}/{session_name}", role.account_id, role.name);
    Ok(Some(format!(
        "{}<AssumedRoleUser>{}{}</AssumedRoleUser>{}",
        credentials_xml(&creds),
        el("AssumedRoleId", &format!("{}:{session_name}", role.id)),
        el("Arn", &assumed),
        call.opt("SourceIdentity").map(|s| el("SourceIdentity", s)).unwrap_or_default()
    )))
}
