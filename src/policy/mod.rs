//! Authorization. Pure: no I/O, no clock reads.
//!
//! The policy language lives in `document` (parse and validate), `condition` (operators),
//! `glob` and `arn` (the matchers), `context` (request keys) and `eval` (AWS's evaluation
//! logic). The gate below still applies the foundation's rule; the accounts-and-policies
//! work connects it to `eval`.
//!
//! The gate is the only maker of `Authorized<T>`, the proof a handler needs. Its rule in
//! the foundation: a caller acts only inside its own account. The policy engine replaces
//! the rule later without touching handlers. The gate sees only the account named in the
//! request (never whether the resource exists), so a refusal reveals nothing.

pub mod arn;
pub mod condition;
pub mod context;
pub mod document;
pub mod eval;
pub mod glob;

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

/// The request as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The caller's account id.
    pub principal_account: &'a str,
    /// The caller's ARN (for messages).
    pub principal_arn: &'a str,
}

/// A refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("User: {principal} is not authorized to perform: {action} on resource: {resource}")]
pub struct Denied {
    pub principal: String,
    pub action: &'static str,
    pub resource: String,
}

/// Decides whether `ctx` may perform `action` on a resource owned by `resource_account`
/// (ARN `resource_arn`); on success wraps `target` as proof.
pub fn authorize<T>(
    ctx: &RequestContext<'_>,
    action: &'static str,
    resource_account: &str,
    resource_arn: &str,
    target: T,
) -> Result<Authorized<T>, Denied> {
    if ctx.principal_account == resource_account {
        Ok(Authorized(target))
    } else {
        Err(Denied { principal: ctx.principal_arn.to_owned(), action, resource: resource_arn.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: RequestContext<'static> =
        RequestContext { principal_account: "111111111111", principal_arn: "arn:aws:iam::111111111111:root" };

    #[test]
    fn own_account_is_allowed() {
        let ok = authorize(&CTX, "sqs:SendMessage", "111111111111", "arn:aws:sqs:r:111111111111:q", 7).unwrap();
        assert_eq!(*ok.resource(), 7);
    }

    #[test]
    fn other_account_is_denied_with_an_explanation() {
        let d = authorize(&CTX, "sqs:SendMessage", "222222222222", "arn:aws:sqs:r:222222222222:q", ()).unwrap_err();
        assert_eq!(d.action, "sqs:SendMessage");
        assert!(d.to_string().contains("arn:aws:iam::111111111111:root"));
    }
}
