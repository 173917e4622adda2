//! Authorization. Pure: no I/O, no clock reads.
//!
//! The policy language lives in `document` (parse and validate), `condition` (operators),
//! `glob` and `arn` (the matchers), `context` (request keys) and `eval` (AWS's evaluation
//! logic).
//!
//! The gate is the only maker of `Authorized<T>`, the proof a handler needs. It decides with
//! the evaluation engine from the caller's identity policies and the resource's policy. It
//! sees only the resource named in the request (never whether it exists), so a refusal
//! reveals nothing.

pub mod arn;
pub mod condition;
pub mod context;
pub mod document;
pub mod eval;
pub mod glob;
pub mod lint;

#[cfg(test)]
mod corpus;

/// Proof that the gate allowed an action on `T`.
#[derive(Debug)]
pub struct Authorized<T>(T);

impl<T> Authorized<T> {
    pub fn resource(&self) -> &T {
        &self.0
    }
}

/// A refusal, as AWS words it: who, which action, on what, and why — never the policy text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("User: {principal} is not authorized to perform: {action} on resource: {resource} {why}")]
pub struct Denied {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub why: String,
}

/// The gate: decides `req` with the caller's identity policies and the resource's policy;
/// on Allow wraps `target` as proof.
pub fn authorize<T>(
    req: &eval::Request<'_>,
    identity: &[&document::Policy],
    resource: Option<&document::Policy>,
    target: T,
) -> Result<Authorized<T>, Denied> {
    let d = eval::evaluate(req, identity, resource);
    if d.allowed {
        return Ok(Authorized(target));
    }
    let why = match d.reason {
        eval::Reason::ExplicitDeny => {
            let place = match d.deciding.first().map(|s| s.source) {
                Some(eval::Source::Resource) => "a resource-based policy",
                Some(eval::Source::Session) => "a session policy",
                _ => "an identity-based policy",
            };
            format!("with an explicit deny in {place}")
        }
        eval::Reason::NotCrossAccount => "because this action cannot be performed across accounts".to_owned(),
        _ if req.resource_owner.is_some_and(|o| Some(o) != req.caller.account) => {
            format!("because no resource-based policy allows the {} action", req.action)
        }
        _ => format!("because no identity-based policy allows the {} action", req.action),
    };
    Err(Denied {
        principal: req.caller.arn.to_owned(),
        action: req.action.to_owned(),
        resource: req.resource.to_owned(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use context::Context;
    use eval::{Caller, PrincipalKind, Request};

    fn req<'a>(ctx: &'a Context, kind: PrincipalKind, arn: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            caller: Caller { kind, account: Some("111111111111"), arn, role_arn: None, session_policy: None },
            action: "sqs:SendMessage",
            resource,
            resource_owner: resource.split(':').nth(4),
            context: ctx,
        }
    }

    #[test]
    fn a_root_is_allowed_in_its_own_account_and_denied_elsewhere_with_the_reason() {
        let ctx = Context::new();
        let root = "arn:aws:iam::111111111111:root";
        let own = req(&ctx, PrincipalKind::Root, root, "arn:aws:sqs:r:111111111111:q");
        assert_eq!(*authorize(&own, &[], None, 7).unwrap().resource(), 7);
        let other = req(&ctx, PrincipalKind::Root, root, "arn:aws:sqs:r:222222222222:q");
        let d = authorize(&other, &[], None, ()).unwrap_err();
        assert!(d.to_string().contains("arn:aws:iam::111111111111:root"));
        assert!(d.to_string().ends_with("because no resource-based policy allows the sqs:SendMessage action"), "{d}");
    }

    #[test]
    fn denials_say_whether_no_allow_or_an_explicit_deny_decided() {
        let ctx = Context::new();
        let user = "arn:aws:iam::111111111111:user/u";
        let r = req(&ctx, PrincipalKind::User, user, "arn:aws:sqs:r:111111111111:q");
        let d = authorize(&r, &[], None, ()).unwrap_err();
        assert!(d.to_string().ends_with("because no identity-based policy allows the sqs:SendMessage action"), "{d}");
        let deny = document::parse(
            r#"{"Statement":{"Effect":"Deny","Action":"sqs:*","Resource":"*"}}"#,
            document::Kind::Identity,
        )
        .unwrap();
        let d = authorize(&r, &[&deny], None, ()).unwrap_err();
        assert!(d.to_string().ends_with("with an explicit deny in an identity-based policy"), "{d}");
        assert!(!d.to_string().contains("Statement"), "the policy text is never revealed");
    }
}
