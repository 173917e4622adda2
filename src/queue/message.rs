//! Message bodies and message attributes: validation as SQS documents it, and the compact
//! encoding stored (sealed) beside the body.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqsError;

/// Message attributes by name (sorted, which is also the MD5 order).
pub type MessageAttributes = BTreeMap<String, AttributeValue>;

/// A new message's id: a UUID version 7 stamped with its send time `at` (to the
/// millisecond), so a queue's messages lie in send order along its primary key and the
/// expired ones are a range of it (`ids_sent_by`).
pub fn new_message_id(at: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000))
}

/// The least id a message sent after `at` (to the millisecond) can have: every id
/// `new_message_id` made for a time up to `at` is below it.
pub fn ids_sent_by(at: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0).saturating_add(1);
    uuid::Builder::from_unix_timestamp_millis(ms, &[0; 10]).into_uuid()
}

/// The most attributes one message may carry.
pub const MAX_ATTRIBUTES: usize = 10;
const MAX_NAME_LEN: usize = 256;
const MAX_TYPE_LEN: usize = 256;

/// A message attribute's value with its full data type (`Number.int`, `Binary.gif`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeValue {
    pub data_type: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    Binary(Vec<u8>),
}

impl AttributeValue {
    /// Bytes this attribute counts toward the message size (name, type and value).
    pub fn size(&self, name: &str) -> usize {
        name.len()
            + self.data_type.len()
            + match &self.value {
                Value::String(s) => s.len(),
                Value::Binary(b) => b.len(),
            }
    }
}

/// The characters SQS allows in bodies and string values (XML 1.0 `Char`).
pub fn allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Checks a body: non-empty, allowed characters only.
pub fn validate_body(body: &str) -> Result<(), SqsError> {
    if body.is_empty() {
        return Err(SqsError::missing("MessageBody"));
    }
    // Printable ASCII, tab, LF and CR (most bodies) are checked a byte at a time; only a body
    // with other bytes is decoded character by character.
    if body.bytes().all(|b| (0x20..0x80).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r')) {
        return Ok(());
    }
    if let Some(c) = body.chars().find(|c| !allowed_char(*c)) {
        return Err(SqsError::InvalidMessageContents(format!(
            "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
            c as u32
        )));
    }
    Ok(())
}

fn invalid(msg: String) -> SqsError {
    SqsError::InvalidParameterValue(msg)
}

/// Checks names, types and values of message attributes as SQS does.
pub fn validate_attributes(attrs: &MessageAttributes) -> Result<(), SqsError> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    for (name, v) in attrs {
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || lower.starts_with("aws.")
            || lower.starts_with("amazon.")
        {
            return Err(invalid(format!(
                "Message attribute name '{name}' is invalid. Names may contain alphanumeric characters, '_', '-' and '.', may not start or end with '.', may not contain '..', and may not start with 'AWS.' or 'Amazon.'."
            )));
        }
        let dt = v.data_type.as_str();
        if dt.is_empty() {
            return Err(invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        let base = dt.split('.').next().unwrap_or("");
        if dt.len() > MAX_TYPE_LEN
            || !matches!(base, "String" | "Number" | "Binary")
            || dt.chars().any(|c| !allowed_char(c))
        {
            return Err(invalid(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        match (&v.value, base) {
            (Value::String(s), "String" | "Number") => {
                if s.is_empty() {
                    return Err(invalid(format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dt}'."
                    )));
                }
                if let Some(c) = s.chars().find(|c| !allowed_char(*c)) {
                    return Err(SqsError::InvalidMessageContents(format!(
                        "Invalid binary character '#x{:X}' was found in the value of message attribute '{name}'.",
                        c as u32
                    )));
                }
                if base == "Number" && !is_number(s) {
                    return Err(invalid(format!(
                        "Can't cast the value of message (user) attribute '{name}' to a number."
                    )));
                }
            }
            (Value::Binary(b), "Binary") => {
                if b.is_empty() {
                    return Err(invalid(format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{dt}'."
                    )));
                }
            }
            _ => {
                return Err(invalid(format!(
                    "The message attribute '{name}' with type '{base}' must use field '{}'.",
                    if base == "Binary" { "Binary" } else { "String" }
                )));
            }
        }
    }
    Ok(())
}

/// SQS numbers: optional sign, digits with an optional fraction and exponent; at most 38
/// significant digits.
fn is_number(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return false;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let significant = int.trim_start_matches('0').len() + frac.len();
    significant <= 38
}

/// Encodes attributes as `u32 len | name | u32 len | type | u8 transport | u32 len | value`
/// per attribute (the layout SQS hashes), for sealing.
pub fn encode_attributes(attrs: &MessageAttributes) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    };
    for (name, v) in attrs {
        put(&mut out, name.as_bytes());
        put(&mut out, v.data_type.as_bytes());
        match &v.value {
            Value::String(s) => {
                out.push(1);
                put(&mut out, s.as_bytes());
            }
            Value::Binary(b) => {
                out.push(2);
                put(&mut out, b);
            }
        }
    }
    out
}

/// Decodes what `encode_attributes` wrote. `None` if the bytes are not well formed.
pub fn decode_attributes(mut bytes: &[u8]) -> Option<MessageAttributes> {
    fn take<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let v = b.get(4..4 + len)?;
        *b = &b[4 + len..];
        Some(v)
    }
    let mut attrs = MessageAttributes::new();
    while !bytes.is_empty() {
        let name = String::from_utf8(take(&mut bytes)?.to_vec()).ok()?;
        let data_type = String::from_utf8(take(&mut bytes)?.to_vec()).ok()?;
        let transport = *bytes.first()?;
        bytes = &bytes[1..];
        let raw = take(&mut bytes)?;
        let value = match transport {
            1 => Value::String(String::from_utf8(raw.to_vec()).ok()?),
            2 => Value::Binary(raw.to_vec()),
            _ => return None,
        };
        attrs.insert(name, AttributeValue { data_type, value });
    }
    Some(attrs)
}

/// Applies a `MessageAttributeNames` filter: `All` / `.*` (everything), exact names, or
/// `prefix.*`. An empty filter returns nothing.
pub fn filter_attributes(attrs: MessageAttributes, names: &[String]) -> MessageAttributes {
    if names.iter().any(|n| n == "All" || n == ".*") {
        return attrs;
    }
    attrs
        .into_iter()
        .filter(|(name, _)| {
            names.iter().any(|n| match n.strip_suffix(".*") {
                Some(prefix) => name.starts_with(prefix) && name[prefix.len()..].starts_with('.'),
                None => n == name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_ordered_by_send_time_to_the_millisecond() {
        let t = DateTime::parse_from_rfc3339("2026-12-03T15:00:00.123456Z").unwrap().with_timezone(&Utc);
        let ms = chrono::TimeDelta::milliseconds(1);
        let id = new_message_id(t);
        assert_eq!(id.get_version_num(), 7);
        assert_ne!(id, new_message_id(t), "random beyond the time");
        // Sent by t (in the same millisecond or before): below the bound of t.
        for sent in [t, t - chrono::TimeDelta::microseconds(456), t - ms, t - chrono::TimeDelta::days(20)] {
            assert!(new_message_id(sent) < ids_sent_by(t), "{sent}");
        }
        // Sent in a later millisecond: not below it.
        for sent in [t + ms, t + chrono::TimeDelta::microseconds(877), t + chrono::TimeDelta::days(1)] {
            assert!(new_message_id(sent) >= ids_sent_by(t), "{sent}");
        }
    }

    fn s(dt: &str, v: &str) -> AttributeValue {
        AttributeValue { data_type: dt.into(), value: Value::String(v.into()) }
    }

    #[test]
    fn body_with_allowed_characters_passes_and_control_characters_fail() {
        assert!(validate_body("hello\tworld\n\r€😀").is_ok());
        assert!(matches!(validate_body("a\u{0}b"), Err(SqsError::InvalidMessageContents(_))));
        assert!(matches!(validate_body("\u{FFFF}"), Err(SqsError::InvalidMessageContents(_))));
        // All-ASCII bodies take the bytewise path: its edges.
        assert!(validate_body("\u{7F} ~").is_ok());
        for bad in ["plain\u{1F}text", "\u{B}", "x\u{8}"] {
            assert!(matches!(validate_body(bad), Err(SqsError::InvalidMessageContents(_))), "{bad:?}");
        }
        assert!(matches!(validate_body(""), Err(SqsError::MissingParameter(_))));
    }

    #[test]
    fn attribute_names_follow_sqs_rules() {
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "sp ace", &"x".repeat(257)] {
            let mut m = MessageAttributes::new();
            m.insert(bad.to_string(), s("String", "v"));
            assert!(validate_attributes(&m).is_err(), "{bad:?}");
        }
        let mut m = MessageAttributes::new();
        m.insert("a.b-c_d".into(), s("String.custom", "v"));
        assert!(validate_attributes(&m).is_ok());
    }

    #[test]
    fn attribute_types_and_values_are_checked() {
        for (dt, v) in [("Strin", "x"), ("Number", "abc"), ("String", ""), ("Binary", "x"), ("", "x")] {
            let mut m = MessageAttributes::new();
            m.insert("a".into(), s(dt, v));
            assert!(validate_attributes(&m).is_err(), "{dt} {v}");
        }
        for n in ["1", "-1.5", "1e10", "0.000", "+3"] {
            let mut m = MessageAttributes::new();
            m.insert("a".into(), s("Number.int", n));
            assert!(validate_attributes(&m).is_ok(), "{n}");
        }
        let mut m = MessageAttributes::new();
        m.insert("a".into(), AttributeValue { data_type: "Binary".into(), value: Value::Binary(vec![]) });
        assert!(validate_attributes(&m).is_err());
    }

    #[test]
    fn more_than_ten_attributes_are_refused() {
        let m: MessageAttributes = (0..11).map(|i| (format!("a{i}"), s("String", "v"))).collect();
        assert!(validate_attributes(&m).is_err());
    }

    #[test]
    fn attribute_encoding_round_trips() {
        let mut m = MessageAttributes::new();
        m.insert("b".into(), AttributeValue { data_type: "Binary.gz".into(), value: Value::Binary(vec![0, 1, 255]) });
        m.insert("s".into(), s("String", "héllo"));
        assert_eq!(decode_attributes(&encode_attributes(&m)).unwrap(), m);
        assert!(decode_attributes(&[0, 0, 0, 9, 1]).is_none());
    }

    #[test]
    fn attribute_filter_supports_all_exact_and_prefix() {
        let m: MessageAttributes =
            ["bar.x", "bar.y.z", "barn", "foo"].iter().map(|n| (n.to_string(), s("String", "v"))).collect();
        let names = |f: &[&str]| -> Vec<String> {
            filter_attributes(m.clone(), &f.iter().map(|s| s.to_string()).collect::<Vec<_>>()).into_keys().collect()
        };
        assert_eq!(names(&["All"]).len(), 4);
        assert_eq!(names(&[".*"]).len(), 4);
        assert_eq!(names(&["bar.*"]), vec!["bar.x", "bar.y.z"]);
        assert_eq!(names(&["foo"]), vec!["foo"]);
        assert!(names(&[]).is_empty());
    }
}
