//! Checks beyond AWS's grammar: statements that are valid but risky.
//!
//! The confused-deputy check: a queue policy that allows a service principal (or `*`, or
//! everyone but some principals) without binding the source with `aws:SourceArn` or
//! `aws:SourceAccount` lets any customer of that service — any bucket, any topic — act on
//! the queue through it.

use super::condition::{Condition, Op, Operand};
use super::document::{Effect, Part, Policy, Statement};
use super::glob::Token;

/// One risky statement: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `Statement[i]` with its Sid when it has one.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Whether `c` restricts the request to named sources: a positive string or ARN operator on
/// `aws:SourceArn`, `aws:SourceAccount` or `aws:SourceOwner`, required to be present, with a
/// value that is not all wildcards.
pub fn binds_source(c: &Condition) -> bool {
    let key = matches!(c.key.as_str(), "aws:sourcearn" | "aws:sourceaccount" | "aws:sourceowner");
    let positive =
        matches!(c.op, Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike | Op::ArnEquals | Op::ArnLike);
    let concrete = c.values.iter().all(|v| match v {
        Operand::Text(parts) => !parts.iter().all(|p| matches!(p, Part::Token(Token::Any))),
        _ => true,
    });
    key && positive && !c.if_exists && concrete
}

fn place(s: &Statement) -> String {
    match &s.sid {
        Some(sid) => format!("Statement[{}] (Sid {sid})", s.index),
        None => format!("Statement[{}]", s.index),
    }
}

/// The statements a queue policy may not have: an Allow naming a service principal without
/// binding its source. Such a statement would admit every tenant's buckets and topics (the
/// engine does not honour it for a service either; see `eval`).
pub fn unbound_service_allows(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &policy.statements {
        let Some((false, principals)) = &s.principal else { continue };
        if s.effect != Effect::Allow || principals.services.is_empty() || s.conditions.iter().any(binds_source) {
            continue;
        }
        out.push(Finding {
            at: place(s),
            message: format!(
                "allows the service principal {} without an aws:SourceArn, aws:SourceAccount or aws:SourceOwner \
                 condition naming its source; on a shared deployment it would admit every tenant's buckets and topics",
                principals.services.join(", ")
            ),
        });
    }
    out
}

/// The confused-deputy findings of a queue policy (empty when there is nothing to say).
pub fn confused_deputy(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &policy.statements {
        if s.effect != Effect::Allow {
            continue;
        }
        let Some((negated, principals)) = &s.principal else { continue };
        let (who, risk) = if *negated {
            (
                "everyone but the principals NotPrincipal names".to_owned(),
                "any caller, or any service acting for anyone",
            )
        } else if principals.any {
            ("any principal (\"*\")".to_owned(), "any caller, or any service acting for anyone")
        } else if !principals.services.is_empty() {
            (format!("the service principal {}", principals.services.join(", ")), "any bucket or topic of any account")
        } else {
            continue;
        };
        if s.conditions.iter().any(binds_source) {
            continue;
        }
        out.push(Finding {
            at: place(s),
            message: format!(
                "allows {who} without an aws:SourceArn, aws:SourceAccount or aws:SourceOwner condition: {risk} \
                 could use it on this queue (confused deputy)"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::{Kind, parse};

    fn findings(text: &str) -> Vec<Finding> {
        confused_deputy(&parse(text, Kind::Queue).unwrap())
    }

    fn shared(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn aws_documented_service_policies_with_source_conditions_pass() {
        assert_eq!(findings(&shared("queue-s3-event-notifications.json")), vec![]);
        assert_eq!(findings(&shared("queue-sns-fan-in.json")), vec![]);
        assert_eq!(findings(&shared("queue-cross-account-send.json")), vec![]);
    }

    #[test]
    fn a_service_principal_without_a_source_condition_is_flagged() {
        let f = findings(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"S3","Effect":"Allow",
            "Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"*"}]}"#,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].at, "Statement[0] (Sid S3)");
        assert!(f[0].message.contains("s3.amazonaws.com"), "{}", f[0]);
    }

    #[test]
    fn star_and_not_principal_allows_are_flagged_unless_bound_to_a_source() {
        let star = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#;
        assert_eq!(findings(star).len(), 1);
        let not = r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},
            "Action":"sqs:SendMessage","Resource":"*"}]}"#;
        assert!(findings(not)[0].message.contains("NotPrincipal"));
        let bound = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*",
            "Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}]}"#;
        assert_eq!(findings(bound), vec![]);
    }

    #[test]
    fn conditions_that_do_not_bind_a_source_do_not_count() {
        for cond in [
            r#"{"StringNotEquals":{"aws:SourceAccount":"111122223333"}}"#,
            r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::b"}}"#,
            r#"{"ArnLike":{"aws:SourceArn":"*"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        ] {
            let text = format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Service":"sns.amazonaws.com"}},
                "Action":"sqs:SendMessage","Resource":"*","Condition":{cond}}}]}}"#
            );
            assert_eq!(findings(&text).len(), 1, "{cond}");
        }
    }

    #[test]
    fn only_service_allows_without_a_source_are_unbound() {
        let unbound = |text: &str| unbound_service_allows(&parse(text, Kind::Queue).unwrap()).len();
        assert_eq!(unbound(&shared("queue-s3-event-notifications.json")), 0);
        assert_eq!(unbound(&shared("queue-sns-fan-in.json")), 0);
        for service in ["s3.amazonaws.com", "sns.amazonaws.com"] {
            let open = format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sqs:SendMessage","Resource":"*"}}]}}"#
            );
            assert_eq!(unbound(&open), 1, "{service}");
        }
        let owner = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:SendMessage",
            "Resource":"*","Condition":{"StringEquals":{"aws:SourceOwner":"111122223333"}}}]}"#;
        assert_eq!(unbound(owner), 0);
        // "*" and Denies are a matter for the confused-deputy warning, not a refusal.
        let star = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"},
            {"Effect":"Deny","Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:*","Resource":"*"}]}"#;
        assert_eq!(unbound(star), 0);
    }

    #[test]
    fn denies_and_named_aws_principals_are_not_flagged() {
        let text = r#"{"Statement":[
            {"Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sqs:SendMessage","Resource":"*"}]}"#;
        assert_eq!(findings(text), vec![]);
    }
}
