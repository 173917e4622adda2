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

fn invalid(attr: &str, reason: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Value for parameter {attr} is invalid. Reason: {reason}"))
}

fn parse_json(attr: &str, text: &str) -> Result<serde_json::Map<String, Value>, SqsError> {
    if text.len() > MAX_POLICY_LEN {
        return Err(invalid(attr, "The policy is too long."));
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid(attr, "Invalid JSON object.")),
    }
}

/// Parses a RedrivePolicy (`""` clears it: `None`).
pub fn parse_redrive_policy(text: &str) -> Result<Option<RedrivePolicy>, SqsError> {
    const A: &str = "RedrivePolicy";
    if text.is_empty() {
        return Ok(None);
    }
    let m = parse_json(A, text)?;
    if let Some(k) = m.keys().find(|k| *k != "deadLetterTargetArn" && *k != "maxReceiveCount") {
        return Err(invalid(A, &format!("Unknown key {k}.")));
    }
    let target_arn = m
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(A, "Redrive policy requires deadLetterTargetArn."))?;
    let target = QueueArn::parse(target_arn)
        .map(|a| a.queue().clone())
        .ok_or_else(|| invalid(A, "Invalid value for deadLetterTargetArn."))?;
    let count = match m.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        _ => None,
    }
    .filter(|c| (1..=1000).contains(c))
    .ok_or_else(|| invalid(A, "Redrive policy requires maxReceiveCount between 1 and 1000."))?;
    Ok(Some(RedrivePolicy { target, target_arn: target_arn.to_owned(), max_receive_count: count as i32 }))
}

/// The RedrivePolicy attribute as SQS reports it.
pub fn render_redrive_policy(target_arn: &str, max_receive_count: i32) -> String {
    serde_json::json!({ "deadLetterTargetArn": target_arn, "maxReceiveCount": max_receive_count }).to_string()
}

/// Parses a RedriveAllowPolicy and returns its normalized JSON (`""` clears it: `None`).
pub fn parse_allow_policy(text: &str) -> Result<Option<String>, SqsError> {
    const A: &str = "RedriveAllowPolicy";
    if text.is_empty() {
        return Ok(None);
    }
    let m = parse_json(A, text)?;
    if let Some(k) = m.keys().find(|k| *k != "redrivePermission" && *k != "sourceQueueArns") {
        return Err(invalid(A, &format!("Unknown key {k}.")));
    }
    let permission = m
        .get("redrivePermission")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(A, "redrivePermission is required (allowAll, denyAll or byQueue)."))?;
    let arns: Option<Vec<String>> = match m.get("sourceQueueArns") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_str().filter(|s| QueueArn::parse(s).is_some()).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(A, "sourceQueueArns must be a list of queue ARNs."))?,
        ),
        Some(_) => return Err(invalid(A, "sourceQueueArns must be a list of queue ARNs.")),
    };
    let normalized = match (permission, arns) {
        ("allowAll" | "denyAll", None) => serde_json::json!({ "redrivePermission": permission }),
        ("allowAll" | "denyAll", Some(_)) => {
            return Err(invalid(A, "sourceQueueArns is only allowed when redrivePermission is byQueue."));
        }
        ("byQueue", Some(a)) if !a.is_empty() && a.len() <= MAX_SOURCE_ARNS => {
            serde_json::json!({ "redrivePermission": "byQueue", "sourceQueueArns": a })
        }
        ("byQueue", _) => return Err(invalid(A, "byQueue needs 1 to 10 sourceQueueArns.")),
        _ => return Err(invalid(A, "redrivePermission must be allowAll, denyAll or byQueue.")),
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
    fn bad_redrive_policies_are_invalid_attribute_values() {
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
            assert!(matches!(parse_redrive_policy(bad), Err(SqsError::InvalidAttributeValue(_))), "{bad}");
        }
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
