//! Queue attributes: names, ranges and defaults as AWS documents them, and the idempotency
//! rule of CreateQueue.

use std::collections::HashMap;

use super::SqsError;
use crate::store::QueueSettings;

/// AWS's defaults for a new standard queue.
pub const DEFAULTS: QueueSettings = QueueSettings {
    delay_seconds: 0,
    maximum_message_size: 1_048_576,
    retention_seconds: 345_600,
    receive_wait_seconds: 0,
    visibility_timeout: 30,
    fifo: false,
    content_based_dedup: false,
    dedup_per_group: false,
    throughput_per_group: false,
};

/// The settable integer attributes: name, range.
const INTEGER_ATTRIBUTES: &[(&str, i32, i32)] = &[
    ("DelaySeconds", 0, 900),
    ("MaximumMessageSize", 1024, 1_048_576),
    ("MessageRetentionPeriod", 60, 1_209_600),
    ("ReceiveMessageWaitTimeSeconds", 0, 20),
    ("VisibilityTimeout", 0, 43_200),
];

fn field<'a>(s: &'a mut QueueSettings, name: &str) -> Option<&'a mut i32> {
    Some(match name {
        "DelaySeconds" => &mut s.delay_seconds,
        "MaximumMessageSize" => &mut s.maximum_message_size,
        "MessageRetentionPeriod" => &mut s.retention_seconds,
        "ReceiveMessageWaitTimeSeconds" => &mut s.receive_wait_seconds,
        "VisibilityTimeout" => &mut s.visibility_timeout,
        _ => return None,
    })
}

/// Every name of the `QueueAttributeName` enum that a standard queue can be asked for.
pub const ALL_NAMES: &[&str] = &[
    "All",
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

/// Whether an attribute name is one SQS knows (GetQueueAttributes refuses others).
pub fn is_known(name: &str) -> bool {
    ALL_NAMES.contains(&name)
}

/// Validates CreateQueue attributes; returns the settings to store. A refused request
/// names the first offending attribute. Whether the name fits the type is the caller's check.
pub fn settings_for_create(attrs: &HashMap<String, String>) -> Result<QueueSettings, SqsError> {
    let fifo = match attrs.get("FifoQueue").map(String::as_str) {
        None => false,
        Some("true") => true,
        // A standard queue knows no FifoQueue attribute, not even `false`.
        Some("false") => return Err(SqsError::InvalidAttributeName("Unknown Attribute FifoQueue.".into())),
        Some(_) => return Err(SqsError::InvalidAttributeValue("Invalid value for the parameter FifoQueue.".into())),
    };
    apply(attrs, QueueSettings { fifo, ..DEFAULTS }, true)
}

/// Validates SetQueueAttributes on top of the queue's current settings.
pub fn settings_for_set(attrs: &HashMap<String, String>, current: QueueSettings) -> Result<QueueSettings, SqsError> {
    apply(attrs, current, false)
}

fn invalid_value(name: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

/// A FIFO setting's value: `on` or `off` (else InvalidAttributeValue).
fn choice(name: &str, value: &str, on: &str, off: &str) -> Result<bool, SqsError> {
    match value {
        v if v == on => Ok(true),
        v if v == off => Ok(false),
        _ => Err(invalid_value(name)),
    }
}

fn apply(attrs: &HashMap<String, String>, base: QueueSettings, create: bool) -> Result<QueueSettings, SqsError> {
    let mut s = base;
    let mut names: Vec<&String> = attrs.keys().collect();
    names.sort();
    for name in names {
        let value = &attrs[name];
        if let Some(&(_, min, max)) = INTEGER_ATTRIBUTES.iter().find(|(n, _, _)| n == name) {
            let v: i32 =
                value.trim().parse().ok().filter(|v| (min..=max).contains(v)).ok_or_else(|| invalid_value(name))?;
            if let Some(f) = field(&mut s, name) {
                *f = v;
            }
            continue;
        }
        match name.as_str() {
            // Checked by `redrive` (they need the database).
            "RedrivePolicy" | "RedriveAllowPolicy" | "Policy" => {}
            // Checked with the queue's encryption (`QueueService::encryption_for`).
            "KmsMasterKeyId" | "KmsDataKeyReusePeriodSeconds" => {}
            "SqsManagedSseEnabled" => {
                choice(name, value, "true", "false")?;
            }
            // The FIFO attributes: a standard queue knows none of them, in AWS's words.
            "FifoQueue" | "ContentBasedDeduplication" if !s.fifo => {
                return Err(SqsError::InvalidAttributeName(format!("Unknown Attribute {name}.")));
            }
            "DeduplicationScope" | "FifoThroughputLimit" if !s.fifo => {
                return Err(SqsError::InvalidAttributeName(format!(
                    "You can specify the {name} only when FifoQueue is set to true."
                )));
            }
            // Set at creation (`settings_for_create`); a FIFO queue stays one.
            "FifoQueue" if create => {}
            "FifoQueue" => {
                if value != "true" {
                    return Err(SqsError::InvalidAttributeValue(
                        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
                            .into(),
                    ));
                }
            }
            "ContentBasedDeduplication" => s.content_based_dedup = choice(name, value, "true", "false")?,
            "DeduplicationScope" => s.dedup_per_group = choice(name, value, "messageGroup", "queue")?,
            "FifoThroughputLimit" => s.throughput_per_group = choice(name, value, "perMessageGroupId", "perQueue")?,
            n => return Err(SqsError::InvalidAttributeName(format!("Unknown Attribute {n}."))),
        }
    }
    // High throughput (perMessageGroupId) needs deduplication per group (AWS's rule).
    if s.throughput_per_group && !s.dedup_per_group {
        return Err(SqsError::InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.".into(),
        ));
    }
    Ok(s)
}

/// What GetQueueAttributes reports besides the settings.
#[derive(Debug, Clone)]
pub struct QueueFacts {
    pub arn: String,
    pub created: i64,
    pub last_modified: i64,
    pub visible: i64,
    pub not_visible: i64,
    pub delayed: i64,
    pub redrive_policy: Option<String>,
    pub redrive_allow_policy: Option<String>,
    pub policy: Option<String>,
    pub encryption: crate::store::queues::Encryption,
}

/// The attributes a queue reports, in `ALL_NAMES` order, for the requested names (`All`
/// means every one that applies: the FIFO ones to FIFO queues only).
pub fn render(requested: &[String], s: &QueueSettings, f: &QueueFacts) -> Vec<(&'static str, String)> {
    let all = requested.iter().any(|n| n == "All");
    let mut out = Vec::new();
    for &name in ALL_NAMES {
        if !all && !requested.iter().any(|n| n == name) {
            continue;
        }
        let v = match name {
            "VisibilityTimeout" => s.visibility_timeout.to_string(),
            "MaximumMessageSize" => s.maximum_message_size.to_string(),
            "MessageRetentionPeriod" => s.retention_seconds.to_string(),
            "DelaySeconds" => s.delay_seconds.to_string(),
            "ReceiveMessageWaitTimeSeconds" => s.receive_wait_seconds.to_string(),
            "ApproximateNumberOfMessages" => f.visible.to_string(),
            "ApproximateNumberOfMessagesNotVisible" => f.not_visible.to_string(),
            "ApproximateNumberOfMessagesDelayed" => f.delayed.to_string(),
            "CreatedTimestamp" => f.created.to_string(),
            "LastModifiedTimestamp" => f.last_modified.to_string(),
            "QueueArn" => f.arn.clone(),
            "SqsManagedSseEnabled" => f.encryption.sse_sqs.to_string(),
            "FifoQueue" if s.fifo => "true".into(),
            "ContentBasedDeduplication" if s.fifo => s.content_based_dedup.to_string(),
            "DeduplicationScope" if s.fifo => (if s.dedup_per_group { "messageGroup" } else { "queue" }).into(),
            "FifoThroughputLimit" if s.fifo => {
                (if s.throughput_per_group { "perMessageGroupId" } else { "perQueue" }).into()
            }
            "KmsMasterKeyId" => match &f.encryption.kms_master_key_id {
                Some(k) => k.clone(),
                None => continue,
            },
            "KmsDataKeyReusePeriodSeconds" if f.encryption.kms_master_key_id.is_some() => {
                f.encryption.reuse_seconds.to_string()
            }
            "RedrivePolicy" => match &f.redrive_policy {
                Some(p) => p.clone(),
                None => continue,
            },
            "RedriveAllowPolicy" => match &f.redrive_allow_policy {
                Some(p) => p.clone(),
                None => continue,
            },
            "Policy" => match &f.policy {
                Some(p) => p.clone(),
                None => continue,
            },
            _ => continue,
        };
        out.push((name, v));
    }
    out
}

/// CreateQueue on an existing name succeeds only if every attribute the request gives
/// equals the queue's current value (AWS compares the supplied attributes).
pub fn same_as_existing(requested: &HashMap<String, String>, wanted: &QueueSettings, existing: &QueueSettings) -> bool {
    requested.keys().all(|name| {
        let mut w = *wanted;
        let mut e = *existing;
        match (field(&mut w, name), field(&mut e, name)) {
            (Some(a), Some(b)) => *a == *b,
            _ => match name.as_str() {
                "FifoQueue" => w.fifo == e.fifo,
                "ContentBasedDeduplication" => w.content_based_dedup == e.content_based_dedup,
                "DeduplicationScope" => w.dedup_per_group == e.dedup_per_group,
                "FifoThroughputLimit" => w.throughput_per_group == e.throughput_per_group,
                // Compared elsewhere (redrive) or not part of the comparison.
                _ => true,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_aws_defaults() {
        let s = settings_for_create(&HashMap::new()).unwrap();
        assert_eq!(s, DEFAULTS);
        assert_eq!(s.visibility_timeout, 30);
        assert_eq!(s.retention_seconds, 345_600);
    }

    #[test]
    fn ranges_are_enforced_with_invalid_attribute_value() {
        for (n, v) in [
            ("DelaySeconds", "901"),
            ("DelaySeconds", "-1"),
            ("MaximumMessageSize", "1023"),
            ("MaximumMessageSize", "1048577"),
            ("MessageRetentionPeriod", "59"),
            ("MessageRetentionPeriod", "1209601"),
            ("ReceiveMessageWaitTimeSeconds", "21"),
            ("VisibilityTimeout", "43201"),
            ("VisibilityTimeout", "abc"),
        ] {
            assert!(
                matches!(settings_for_create(&attrs(&[(n, v)])), Err(SqsError::InvalidAttributeValue(_))),
                "{n}={v}"
            );
        }
        let s = settings_for_create(&attrs(&[("VisibilityTimeout", "43200"), ("DelaySeconds", "900")])).unwrap();
        assert_eq!((s.visibility_timeout, s.delay_seconds), (43200, 900));
    }

    #[test]
    fn unknown_read_only_and_fifo_attributes_of_a_standard_queue_are_refused_by_name() {
        for n in ["Bogus", "QueueArn", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"] {
            assert!(matches!(settings_for_create(&attrs(&[(n, "x")])), Err(SqsError::InvalidAttributeName(_))), "{n}");
        }
        let text = |e| match e {
            Err(SqsError::InvalidAttributeName(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(text(settings_for_create(&attrs(&[("FifoQueue", "false")]))), "Unknown Attribute FifoQueue.");
        assert_eq!(
            text(settings_for_create(&attrs(&[("DeduplicationScope", "queue")]))),
            "You can specify the DeduplicationScope only when FifoQueue is set to true."
        );
    }

    #[test]
    fn fifo_settings_take_awss_values_and_combination_rule() {
        let s = settings_for_create(&attrs(&[("FifoQueue", "true")])).unwrap();
        assert!(s.fifo && !s.content_based_dedup && !s.dedup_per_group && !s.throughput_per_group);
        let s = settings_for_create(&attrs(&[
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "true"),
            ("DeduplicationScope", "messageGroup"),
            ("FifoThroughputLimit", "perMessageGroupId"),
        ]))
        .unwrap();
        assert!(s.content_based_dedup && s.dedup_per_group && s.throughput_per_group);
        for bad in [
            vec![("FifoQueue", "yes")],
            vec![("FifoQueue", "true"), ("ContentBasedDeduplication", "1")],
            vec![("FifoQueue", "true"), ("DeduplicationScope", "group")],
            vec![("FifoQueue", "true"), ("FifoThroughputLimit", "perMessageGroupId")],
        ] {
            assert!(matches!(settings_for_create(&attrs(&bad)), Err(SqsError::InvalidAttributeValue(_))), "{bad:?}");
        }
        let fifo = settings_for_create(&attrs(&[("FifoQueue", "true")])).unwrap();
        assert!(settings_for_set(&attrs(&[("FifoQueue", "true")]), fifo).is_ok());
        assert!(matches!(
            settings_for_set(&attrs(&[("FifoQueue", "false")]), fifo),
            Err(SqsError::InvalidAttributeValue(t)) if t.ends_with("Modifying queue type is not supported.")
        ));
    }

    #[test]
    fn set_starts_from_current_settings_and_refuses_fifo_queue() {
        let current = settings_for_create(&attrs(&[("DelaySeconds", "5")])).unwrap();
        let s = settings_for_set(&attrs(&[("VisibilityTimeout", "7")]), current).unwrap();
        assert_eq!((s.delay_seconds, s.visibility_timeout), (5, 7));
        assert!(matches!(
            settings_for_set(&attrs(&[("FifoQueue", "false")]), current),
            Err(SqsError::InvalidAttributeName(_))
        ));
    }

    #[test]
    fn render_reports_requested_or_all_applicable_attributes() {
        let f = QueueFacts {
            arn: "arn:aws:sqs:local:111111111111:q".into(),
            created: 1,
            last_modified: 2,
            visible: 3,
            not_visible: 4,
            delayed: 5,
            redrive_policy: None,
            redrive_allow_policy: None,
            policy: None,
            encryption: Default::default(),
        };
        let all = render(&["All".into()], &DEFAULTS, &f);
        assert_eq!(all.len(), 12);
        assert!(all.iter().all(|(n, _)| !["Policy", "RedrivePolicy", "FifoQueue", "KmsMasterKeyId"].contains(n)));
        let some =
            render(&["QueueArn".into(), "ApproximateNumberOfMessagesDelayed".into(), "Policy".into()], &DEFAULTS, &f);
        assert_eq!(
            some,
            vec![
                ("QueueArn", "arn:aws:sqs:local:111111111111:q".into()),
                ("ApproximateNumberOfMessagesDelayed", "5".into())
            ]
        );
        assert!(render(&[], &DEFAULTS, &f).is_empty());
    }

    #[test]
    fn idempotency_compares_supplied_attributes() {
        let existing = settings_for_create(&attrs(&[("VisibilityTimeout", "60")])).unwrap();
        let same = attrs(&[("VisibilityTimeout", "60")]);
        assert!(same_as_existing(&same, &settings_for_create(&same).unwrap(), &existing));
        let none = HashMap::new();
        assert!(same_as_existing(&none, &DEFAULTS, &existing));
        let other = attrs(&[("VisibilityTimeout", "61")]);
        assert!(!same_as_existing(&other, &settings_for_create(&other).unwrap(), &existing));
    }
}
