//! Dead-letter queues: the RedrivePolicy of a source queue and the RedriveAllowPolicy of a
//! dead-letter queue, parsed and checked as SQS does.

use serde_json::Value;

use super::{QueueRef, SqsError};
use crate::domain::QueueArn;

/// Longest policy document accepted (a bound before parsing).
const MAX_POLICY_LEN: usize = 8192;
/// Most source queues a byQueue RedriveAllowPolicy may name.
const MAX_SOURCE_ARNS: usize = 10;

/// A parsed RedrivePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub target: QueueRef,
    pub target_arn: String,
    pub max_receive_count: i32,
}

fn invalid(attr: &str, text: &str, reason: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Value {text} for parameter {attr} is invalid. Reason: {reason}"))
}

/// A RedrivePolicy refused, in AWS's words: the policy as written, then why. AWS answers
/// these with InvalidParameterValue (a RedriveAllowPolicy with InvalidAttributeValue).
pub fn invalid_redrive(text: &str, reason: &str) -> SqsError {
    SqsError::InvalidParameterValue(format!("Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}"))
}

fn parse_json(text: &str, invalid: impl Fn(&str) -> SqsError) -> Result<serde_json::Map<String, Value>, SqsError> {
    if text.len() > MAX_POLICY_LEN {
        // Too long to echo whole.
        return Err(invalid("The policy is too long."));
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid JSON object.")),
    }
}

/// Parses a RedrivePolicy (`""` clears it: `None`).
pub fn parse_redrive_policy(text: &str) -> Result<Option<RedrivePolicy>, SqsError> {
    if text.is_empty() {
        return Ok(None);
    }
    let echo = if text.len() > MAX_POLICY_LEN { "" } else { text };
    let bad = |reason: &str| invalid_redrive(echo, reason);
    let m = parse_json(text, bad)?;
    for key in ["deadLetterTargetArn", "maxReceiveCount"] {
        if !m.contains_key(key) {
            return Err(bad(&format!("Redrive policy does not contain mandatory attribute: {key}.")));
        }
    }
    if m.len() > 2 {
        return Err(bad("Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount]."));
    }
    let count = &m["maxReceiveCount"];
    let valid = match count {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    }
    .filter(|c| (1..=1000).contains(c));
    let Some(count) = valid else {
        let shown = count.as_str().map_or_else(|| count.to_string(), str::to_owned);
        return Err(bad(&format!(
            "Invalid value for maxReceiveCount: {shown}, valid values are from 1 to 1000 both inclusive."
        )));
    };
    let target_arn = m["deadLetterTargetArn"].as_str().unwrap_or_default();
    let target = QueueArn::parse(target_arn)
        .map(|a| a.queue().clone())
        .ok_or_else(|| bad("Invalid value for deadLetterTargetArn."))?;
    Ok(Some(RedrivePolicy { target, target_arn: target_arn.to_owned(), max_receive_count: count as i32 }))
}

/// The RedrivePolicy attribute as SQS reports it.
pub fn render_redrive_policy(target_arn: &str, max_receive_count: i32) -> String {
    serde_json::json!({ "deadLetterTargetArn": target_arn, "maxReceiveCount": max_receive_count }).to_string()
}

/// Parses a RedriveAllowPolicy and returns its normalized JSON (`""` clears it: `None`).
pub fn parse_allow_policy(text: &str) -> Result<Option<String>, SqsError> {
    if text.is_empty() {
        return Ok(None);
    }
    let echo = if text.len() > MAX_POLICY_LEN { "" } else { text };
    let invalid = |reason: &str| invalid("RedriveAllowPolicy", echo, reason);
    let m = parse_json(text, invalid)?;
    if let Some(k) = m.keys().find(|k| *k != "redrivePermission" && *k != "sourceQueueArns") {
        return Err(invalid(&format!("Unknown key {k}.")));
    }
    let permission = m
        .get("redrivePermission")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("redrivePermission is required (allowAll, denyAll or byQueue)."))?;
    let arns: Option<Vec<String>> = match m.get("sourceQueueArns") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_str().filter(|s| QueueArn::parse(s).is_some()).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("sourceQueueArns must be a list of queue ARNs."))?,
        ),
        Some(_) => return Err(invalid("sourceQueueArns must be a list of queue ARNs.")),
    };
    let normalized = match (permission, arns) {
        ("allowAll" | "denyAll", None) => serde_json::json!({ "redrivePermission": permission }),
        ("allowAll" | "denyAll", Some(_)) => {
            return Err(invalid("sourceQueueArns is only allowed when redrivePermission is byQueue."));
        }
        ("byQueue", Some(a)) if !a.is_empty() && a.len() <= MAX_SOURCE_ARNS => {
            serde_json::json!({ "redrivePermission": "byQueue", "sourceQueueArns": a })
        }
        ("byQueue", _) => return Err(invalid("byQueue needs 1 to 10 sourceQueueArns.")),
        _ => return Err(invalid("redrivePermission must be allowAll, denyAll or byQueue.")),
    };
    Ok(Some(normalized.to_string()))
}

/// Whether a dead-letter queue with `allow_policy` (normalized, or none: allowAll) accepts
/// `source_arn` as a source.
pub fn allows(allow_policy: Option<&str>, source_arn: &str) -> bool {
    let Some(p) = allow_policy else { return true };
    let Ok(v) = serde_json::from_str::<Value>(p) else { return false };
    match v["redrivePermission"].as_str() {
        Some("allowAll") => true,
        Some("byQueue") => {
            v["sourceQueueArns"].as_array().is_some_and(|a| a.iter().any(|x| x.as_str() == Some(source_arn)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sqs:local:111122223333:dlq";

    #[test]
    fn redrive_policy_parses_and_renders() {
        let p = parse_redrive_policy(&format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":"5"}}"#))
            .unwrap()
            .unwrap();
        assert_eq!(p.max_receive_count, 5);
        assert_eq!(p.target.name.as_str(), "dlq");
        assert_eq!(render_redrive_policy(ARN, 5), format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":5}}"#));
        assert_eq!(parse_redrive_policy("").unwrap(), None);
    }

    #[test]
    fn bad_redrive_policies_are_invalid_parameter_values_in_awss_words() {
        for bad in [
            "not json",
            "[]",
            r#"{"maxReceiveCount":5}"#,
            &format!(r#"{{"deadLetterTargetArn":"{ARN}"}}"#),
            &format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":0}}"#),
            &format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":1001}}"#),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:local:12:q","maxReceiveCount":1}"#,
            &format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":1,"extra":1}}"#),
        ] {
            assert!(matches!(parse_redrive_policy(bad), Err(SqsError::InvalidParameterValue(_))), "{bad}");
        }
    }

    #[test]
    fn a_refused_redrive_policy_is_echoed_with_awss_reason() {
        let text = |policy: &str| match parse_redrive_policy(policy) {
            Err(SqsError::InvalidParameterValue(t)) => t,
            other => panic!("{policy}: {other:?}"),
        };
        let p = format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":"0"}}"#);
        assert_eq!(
            text(&p),
            format!(
                "Value {p} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."
            )
        );
        let p = r#"{"maxReceiveCount":3}"#;
        assert_eq!(
            text(p),
            format!(
                "Value {p} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory attribute: deadLetterTargetArn."
            )
        );
        let p = r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#;
        assert_eq!(
            text(p),
            format!("Value {p} for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn.")
        );
    }

    #[test]
    fn allow_policies_parse_and_decide() {
        let all = parse_allow_policy(r#"{"redrivePermission":"allowAll"}"#).unwrap();
        let deny = parse_allow_policy(r#"{"redrivePermission":"denyAll"}"#).unwrap();
        let by =
            parse_allow_policy(&format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{ARN}"]}}"#)).unwrap();
        assert!(allows(None, ARN) && allows(all.as_deref(), ARN));
        assert!(!allows(deny.as_deref(), ARN));
        assert!(allows(by.as_deref(), ARN) && !allows(by.as_deref(), "arn:aws:sqs:local:111122223333:other"));
        for bad in [
            r#"{"redrivePermission":"byQueue"}"#,
            r#"{"redrivePermission":"maybe"}"#,
            r#"{"redrivePermission":"allowAll","sourceQueueArns":[]}"#,
        ] {
            assert!(parse_allow_policy(bad).is_err(), "{bad}");
        }
    }
}
