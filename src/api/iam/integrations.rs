//! The service-integration admin calls (Sluice's own, beside IAM's): what `sluice admin
//! integration` does, for an account's administrators, decided as `iam:<Action>` on
//! `arn:aws:iam::ACCOUNT:service-integration/ID` (`…/*` for calls on no one integration).

use secrecy::ExposeSecret;

use super::{IamCall, date, el};
use crate::api::SqsError;
use crate::policy::Authorized;
use crate::store::integrations::IntegrationRow;
use crate::tenancy::integrations::IssuedToken;

type Answer = Result<Option<String>, SqsError>;

fn integration_xml(i: &IntegrationRow) -> String {
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

fn token_xml(t: &IssuedToken) -> String {
    format!(
        "<Token>{}{}{}{}</Token>",
        el("IntegrationId", &t.integration_id),
        el("TokenId", &t.token_id),
        el("BearerToken", t.token.expose_secret()),
        el("Expiration", &date(t.expires_at))
    )
}

/// `DurationSeconds` of a token: 60 s up to the deployment's cap (30 days unless set),
/// the cap by default.
fn lifetime(call: &IamCall<'_>) -> Result<i64, SqsError> {
    match call.opt("DurationSeconds") {
        None => Ok(call.tenancy().max_token_lifetime()),
        Some(d) => d.parse().map_err(|_| SqsError::InvalidInput(format!("DurationSeconds {d} is not a number."))),
    }
}

pub async fn create_service_integration(call: &IamCall<'_>, _all: Authorized<String>) -> Answer {
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
    let t = call.tenancy();
    let i = t.create_integration(call.account(), call.param("Service")?, &sources).await?;
    let token = t.issue_integration_token(call.account(), &i.id, lifetime(call)?).await?;
    Ok(Some(format!("<Integration>{}</Integration>{}", integration_xml(&i), token_xml(&token))))
}

pub async fn list_service_integrations(call: &IamCall<'_>, _all: Authorized<String>) -> Answer {
    let all: Vec<String> = call
        .tenancy()
        .list_integrations(call.account())
        .await?
        .iter()
        .map(|i| format!("<member>{}</member>", integration_xml(i)))
        .collect();
    Ok(Some(call.page("Integrations", all)?))
}

pub async fn create_service_integration_token(call: &IamCall<'_>, id: Authorized<String>) -> Answer {
    let token = call.tenancy().issue_integration_token(call.account(), id.resource(), lifetime(call)?).await?;
    Ok(Some(token_xml(&token)))
}

pub async fn revoke_service_integration(call: &IamCall<'_>, id: Authorized<String>) -> Answer {
    call.tenancy().revoke_integration(call.account(), id.resource()).await?;
    Ok(None)
}

/// Named by its id, or by the token itself (its integration is then known).
pub async fn revoke_service_integration_token(call: &IamCall<'_>, given: Authorized<String>) -> Answer {
    let r = call.tenancy().revoke_integration_token(call.account(), given.resource()).await?;
    Ok(Some(format!("{}{}", el("TokenId", &r.token_id), el("Expiration", &date(r.expires_at)))))
}

pub async fn rotate_service_integration_signing_key(call: &IamCall<'_>, _all: Authorized<String>) -> Answer {
    Ok(Some(el("KeyId", &call.tenancy().rotate_signing_key(call.account()).await?)))
}

pub async fn retire_service_integration_signing_keys(call: &IamCall<'_>, _all: Authorized<String>) -> Answer {
    Ok(Some(el("Retired", &call.tenancy().retire_old_signing_keys(call.account()).await?.to_string())))
}
