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

/// Checks tags to add: keys 1–128 characters, values up to 256, no `aws:` prefix, and no
/// more than 50 in one request.
pub fn validate(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!("Too many tags: {} (at most {MAX_TAGS} per queue).", tags.len())));
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
    if n == 0 || n > MAX_KEY || k.chars().any(|c| c.is_control() || !allowed_char(c)) {
        return Err(invalid(format!("Tag keys must be between 1 and {MAX_KEY} printable characters.")));
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
        assert!(validate(&ok).is_ok());
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
            assert!(validate(&t).is_err(), "{k} {v}");
        }
        let many: BTreeMap<String, String> = (0..51).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert!(validate(&many).is_err());
    }
}
