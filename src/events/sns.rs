//! Topic fan-in: the SNS notification envelope SNS delivers to a subscribed SQS queue, built
//! server-side from what a topic integration sends.
//!
//! With raw delivery the message is delivered as it is and its attributes stay SQS message
//! attributes. Otherwise the body is the JSON envelope (`Type`, `MessageId`, `TopicArn`,
//! `Subject` when given, `Message`, `Timestamp`, `MessageAttributes` when any) and the SQS
//! message carries no attributes of its own, as SNS does. `SignatureVersion`, `Signature`,
//! `SigningCertURL` and `UnsubscribeURL` are left out: Sluice cannot sign as AWS, and a
//! certificate or unsubscribe URL that fetches nothing real would mislead a consumer that
//! verifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json, json};

use super::EventError;
use crate::queue::message::{MessageAttributes, Value};

/// SNS's limit on a subject.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// How a delivery from a topic is wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic_arn: String,
    pub subject: Option<String>,
    /// RawMessageDelivery: the message as published, attributes kept.
    pub raw: bool,
}

/// Checks a subject as SNS does: 1 to 100 printable ASCII characters, no line breaks.
pub fn check_subject(s: &str) -> Result<(), EventError> {
    if s.is_empty() || s.chars().count() > MAX_SUBJECT_CHARS || !s.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(EventError::Malformed(format!(
            "a subject has 1 to {MAX_SUBJECT_CHARS} printable ASCII characters and no line breaks"
        )));
    }
    Ok(())
}

/// The SNS attribute type of an SQS data type (`Number.int` → `Number`).
fn sns_type(data_type: &str) -> &str {
    if data_type == "String.Array" {
        return data_type;
    }
    data_type.split('.').next().unwrap_or(data_type)
}

/// The body and attributes the queue receives for one published message.
pub fn deliver(
    d: &Delivery,
    message_id: uuid::Uuid,
    message: String,
    attributes: MessageAttributes,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, MessageAttributes) {
    if d.raw {
        return (message, attributes);
    }
    let mut env = Map::new();
    env.insert("Type".into(), json!("Notification"));
    env.insert("MessageId".into(), json!(message_id.to_string()));
    env.insert("TopicArn".into(), json!(d.topic_arn));
    if let Some(s) = &d.subject {
        env.insert("Subject".into(), json!(s));
    }
    env.insert("Message".into(), Json::String(message));
    env.insert("Timestamp".into(), json!(now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
    if !attributes.is_empty() {
        let attrs: Map<String, Json> = attributes
            .iter()
            .map(|(name, v)| {
                let value = match &v.value {
                    Value::String(s) => s.clone(),
                    Value::Binary(b) => BASE64.encode(b),
                };
                (name.clone(), json!({"Type": sns_type(&v.data_type), "Value": value}))
            })
            .collect();
        env.insert("MessageAttributes".into(), Json::Object(attrs));
    }
    (Json::Object(env).to_string(), MessageAttributes::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::message::AttributeValue;

    fn delivery(raw: bool, subject: Option<&str>) -> Delivery {
        Delivery {
            topic_arn: "arn:aws:sns:us-west-2:123456789012:MyTopic".into(),
            subject: subject.map(str::to_owned),
            raw,
        }
    }

    #[test]
    fn the_envelope_has_snss_fields_and_no_invented_urls() {
        let mut attrs = MessageAttributes::new();
        attrs.insert("color".into(), AttributeValue { data_type: "String".into(), value: Value::String("red".into()) });
        attrs.insert("n".into(), AttributeValue { data_type: "Number.int".into(), value: Value::String("3".into()) });
        attrs.insert("b".into(), AttributeValue { data_type: "Binary".into(), value: Value::Binary(vec![1, 2]) });
        let id = uuid::Uuid::nil();
        let t = chrono::DateTime::parse_from_rfc3339("2012-03-29T05:12:16.901Z").unwrap().to_utc();
        let (body, kept) = deliver(&delivery(false, Some("Testing publish")), id, "Hello world!".into(), attrs, t);
        assert!(kept.is_empty(), "the queue message carries no attributes of its own");
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Type"], "Notification");
        assert_eq!(v["MessageId"], id.to_string());
        assert_eq!(v["TopicArn"], "arn:aws:sns:us-west-2:123456789012:MyTopic");
        assert_eq!(v["Subject"], "Testing publish");
        assert_eq!(v["Message"], "Hello world!");
        assert_eq!(v["Timestamp"], "2012-03-29T05:12:16.901Z");
        assert_eq!(v["MessageAttributes"]["color"], json!({"Type": "String", "Value": "red"}));
        assert_eq!(v["MessageAttributes"]["n"], json!({"Type": "Number", "Value": "3"}));
        assert_eq!(v["MessageAttributes"]["b"], json!({"Type": "Binary", "Value": "AQI="}));
        for absent in ["SigningCertURL", "UnsubscribeURL", "Signature", "SignatureVersion"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        let (body, _) = deliver(&delivery(false, None), id, "x".into(), MessageAttributes::new(), t);
        let v: Json = serde_json::from_str(&body).unwrap();
        assert!(v.get("Subject").is_none() && v.get("MessageAttributes").is_none());
    }

    #[test]
    fn raw_delivery_keeps_the_message_and_its_attributes() {
        let mut attrs = MessageAttributes::new();
        attrs.insert("k".into(), AttributeValue { data_type: "String".into(), value: Value::String("v".into()) });
        let (body, kept) = deliver(
            &delivery(true, Some("s")),
            uuid::Uuid::nil(),
            "{\"a\":1}".into(),
            attrs.clone(),
            chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        );
        assert_eq!(body, "{\"a\":1}");
        assert_eq!(kept, attrs);
    }

    #[test]
    fn subjects_follow_snss_rules() {
        assert!(check_subject("Order 42 shipped").is_ok());
        for bad in ["", "line\nbreak", "naïve", &"x".repeat(101)] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
    }
}
