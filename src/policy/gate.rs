//! The gate: the only maker of `Authorized<T>`. An action's checks (each an IAM action on a
//! resource, with that resource's policy when it has one) are decided in order with the
//! evaluation engine; the first refusal is answered, worded as AWS words it. Pure: the caller,
//! the policies and the request's context (its time included) are given.
//!
//! One rule is the gate's own, beside AWS's evaluation: the owning account's root may always
//! repair its queue's policy (SetQueueAttributes, RemovePermission), whatever that policy
//! denies, as on AWS; the account's users and roles stay bound by it.

use super::context::Context;
use super::document::Policy;
use super::eval::{self, Caller, PrincipalKind};
use super::{Authorized, Denied};

/// One check of an action: an IAM action on a resource (owned by `owner`; none for
/// account-level actions, whose resource is `*`), with the resource's own policy.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub owner: Option<&'a str>,
    pub resource_policy: Option<&'a Policy>,
}

/// Decides every check for `caller` (its identity policies given; a role session's session
/// policy is in the caller); on Allow of all of them wraps `target` as proof.
pub fn authorize<T>(
    caller: &Caller<'_>,
    identity: &[&Policy],
    context: &Context,
    checks: &[Check<'_>],
    target: T,
) -> Result<Authorized<T>, Denied> {
    for check in checks {
        decide(caller, identity, context, check)?;
    }
    Ok(Authorized(target))
}

/// Decides whether `caller` may assume a role (`sts:AssumeRole` on `role_arn`, owned by
/// `role_owner`) under the role's trust policy and the caller's identity policies, as IAM does
/// (`eval::evaluate_trust`); on Allow wraps `target` (the role) as proof.
pub fn authorize_trust<T>(
    caller: &Caller<'_>,
    identity: &[&Policy],
    trust: &Policy,
    role_arn: &str,
    role_owner: &str,
    context: &Context,
    target: T,
) -> Result<Authorized<T>, Denied> {
    let req = eval::Request {
        caller: *caller,
        action: "sts:AssumeRole",
        resource: role_arn,
        resource_owner: Some(role_owner),
        context,
    };
    if eval::evaluate_trust(&req, identity, trust).allowed {
        return Ok(Authorized(target));
    }
    Err(Denied {
        principal: caller.arn.to_owned(),
        action: "sts:AssumeRole".to_owned(),
        resource: role_arn.to_owned(),
        why: "because no trust policy and identity-based policy allow it".to_owned(),
    })
}

/// Actions AWS answers for any authenticated caller, whatever its policies
/// (GetCallerIdentity, GetSessionToken): nothing to decide.
pub fn anyone<T>(target: T) -> Authorized<T> {
    Authorized(target)
}

/// Whether the owning account's root repairs its queue's policy (its Denies do not apply).
fn repairs(caller: &Caller<'_>, check: &Check<'_>) -> bool {
    caller.kind == PrincipalKind::Root
        && check.owner.is_some()
        && check.owner == caller.account
        && (check.action.eq_ignore_ascii_case("sqs:SetQueueAttributes")
            || check.action.eq_ignore_ascii_case("sqs:RemovePermission"))
}

fn decide(caller: &Caller<'_>, identity: &[&Policy], context: &Context, check: &Check<'_>) -> Result<(), Denied> {
    let resource_policy = if repairs(caller, check) { None } else { check.resource_policy };
    let req = eval::Request {
        caller: *caller,
        action: check.action,
        resource: check.resource,
        resource_owner: check.owner,
        context,
    };
    let d = eval::evaluate(&req, identity, resource_policy);
    if d.allowed {
        return Ok(());
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
    use crate::policy::document::{self, Kind};

    fn caller(kind: PrincipalKind, arn: &str) -> Caller<'_> {
        Caller { kind, account: Some("111111111111"), arn, role_arn: None, session_policy: None }
    }

    fn check<'a>(action: &'a str, resource: &'a str, policy: Option<&'a Policy>) -> Check<'a> {
        Check { action, resource, owner: resource.split(':').nth(4), resource_policy: policy }
    }

    const ROOT: &str = "arn:aws:iam::111111111111:root";
    const USER: &str = "arn:aws:iam::111111111111:user/u";

    #[test]
    fn a_root_is_allowed_in_its_own_account_and_denied_elsewhere_with_the_reason() {
        let ctx = Context::new();
        let root = caller(PrincipalKind::Root, ROOT);
        let own = check("sqs:SendMessage", "arn:aws:sqs:r:111111111111:q", None);
        assert_eq!(*authorize(&root, &[], &ctx, &[own], 7).unwrap().resource(), 7);
        let other = check("sqs:SendMessage", "arn:aws:sqs:r:222222222222:q", None);
        let d = authorize(&root, &[], &ctx, &[other], ()).unwrap_err();
        assert!(d.to_string().contains(ROOT));
        assert!(d.to_string().ends_with("because no resource-based policy allows the sqs:SendMessage action"), "{d}");
    }

    #[test]
    fn denials_say_whether_no_allow_or_an_explicit_deny_decided() {
        let ctx = Context::new();
        let user = caller(PrincipalKind::User, USER);
        let c = check("sqs:SendMessage", "arn:aws:sqs:r:111111111111:q", None);
        let d = authorize(&user, &[], &ctx, &[c], ()).unwrap_err();
        assert!(d.to_string().ends_with("because no identity-based policy allows the sqs:SendMessage action"), "{d}");
        let deny =
            document::parse(r#"{"Statement":{"Effect":"Deny","Action":"sqs:*","Resource":"*"}}"#, Kind::Identity)
                .unwrap();
        let d = authorize(&user, &[&deny], &ctx, &[c], ()).unwrap_err();
        assert!(d.to_string().ends_with("with an explicit deny in an identity-based policy"), "{d}");
        assert!(!d.to_string().contains("Statement"), "the policy text is never revealed");
    }

    #[test]
    fn every_check_must_allow_and_the_first_refusal_is_answered() {
        let ctx = Context::new();
        let user = caller(PrincipalKind::User, USER);
        let create = document::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"sqs:CreateQueue","Resource":"*"}}"#,
            Kind::Identity,
        )
        .unwrap();
        let q = "arn:aws:sqs:r:111111111111:q";
        let checks = [check("sqs:TagQueue", q, None), check("sqs:CreateQueue", q, None)];
        let d = authorize(&user, &[&create], &ctx, &checks, ()).unwrap_err();
        assert_eq!(d.action, "sqs:TagQueue");
        assert!(authorize(&user, &[&create], &ctx, &checks[1..], ()).is_ok());
    }

    #[test]
    fn only_the_owning_root_repairs_a_queue_policy_that_denies_it() {
        let ctx = Context::new();
        let lock = document::parse(
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":"*"}}"#,
            Kind::Queue,
        )
        .unwrap();
        let all =
            document::parse(r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#, Kind::Identity)
                .unwrap();
        let q = "arn:aws:sqs:r:111111111111:q";
        let root = caller(PrincipalKind::Root, ROOT);
        let user = caller(PrincipalKind::User, USER);
        for action in ["sqs:SetQueueAttributes", "sqs:RemovePermission"] {
            assert!(authorize(&root, &[], &ctx, &[check(action, q, Some(&lock))], ()).is_ok(), "{action}");
            assert!(authorize(&user, &[&all], &ctx, &[check(action, q, Some(&lock))], ()).is_err(), "{action}");
        }
        assert!(authorize(&root, &[], &ctx, &[check("sqs:SendMessage", q, Some(&lock))], ()).is_err());
        // Another account's root repairs nothing.
        let other =
            Caller { account: Some("222222222222"), ..caller(PrincipalKind::Root, "arn:aws:iam::222222222222:root") };
        assert!(authorize(&other, &[], &ctx, &[check("sqs:SetQueueAttributes", q, Some(&lock))], ()).is_err());
    }
}
