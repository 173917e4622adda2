//! Queue tag rules: AWS's limits on count, key and value.

use std::collections::BTreeMap;

use super::SqsError;
use super::message::allowed_char;

/// Most tags on one queue.
pub const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

fn invalid(msg: String) -> SqsError {
    SqsError::InvalidParameterValue(msg)
}

/// AWS's answer to tags past the limit on queue `name`.
pub fn too_many(name: &str) -> SqsError {
    invalid(format!("Too many tags added for queue {name}."))
}

/// AWS's answer to a tag key of the wrong length (or, on UntagQueue, to no keys at all).
pub fn bad_key_length() -> SqsError {
    invalid(format!("Tag keys must be between 1 and {MAX_KEY} characters in length."))
}

/// Checks tags to add to queue `name`: keys 1–128 characters, values up to 256, no `aws:`
/// prefix, and no more than 50 in one request.
pub fn validate(name: &str, tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    if tags.len() > MAX_TAGS {
        return Err(too_many(name));
    }
    for (k, v) in tags {
        validate_key(k)?;
        if v.chars().count() > MAX_VALUE || v.chars().any(|c| (c.is_control() && c != '\t') || !allowed_char(c)) {
            return Err(invalid(format!("Tag value for key '{k}' must be at most {MAX_VALUE} printable characters.")));
        }
    }
    Ok(())
}

/// Checks one tag key.
pub fn validate_key(k: &str) -> Result<(), SqsError> {
    let n = k.chars().count();
    if n == 0 || n > MAX_KEY {
        return Err(bad_key_length());
    }
    if k.chars().any(|c| c.is_control() || !allowed_char(c)) {
        return Err(invalid(format!("Tag key '{}' contains a character that is not printable.", k.escape_debug())));
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err(invalid(format!("Tag key '{k}' uses the reserved prefix 'aws:'.")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits_follow_aws() {
        let ok: BTreeMap<String, String> = [("team".to_string(), "".to_string())].into();
        assert!(validate("q", &ok).is_ok());
        for (k, v) in [
            ("", "v"),
            ("aws:cost", "v"),
            ("AWS:x", "v"),
            (&"k".repeat(129)[..], "v"),
            ("k", &"v".repeat(257)[..]),
            ("k", "bell\u{7}"),
            ("k", "\u{FFFE}"),
            ("k\u{1}", "v"),
        ] {
            let t: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into();
            assert!(validate("q", &t).is_err(), "{k} {v}");
        }
        let many: BTreeMap<String, String> = (0..51).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert!(validate("q", &many).is_err());
    }
}
