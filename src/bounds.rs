//! Bounds on input checked before it is parsed: how deep a JSON document nests. A parser
//! asked to skip an unknown member still descends into it, so a body nested thousands of
//! levels deep under a member nobody reads would cost a recursion per level; this scan
//! refuses it in one pass over the bytes, without building anything.

/// How deep a JSON request body may nest (arrays and objects); SQS's deepest shape is four.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether `body`, read as JSON, nests no deeper than `max` (brackets inside strings do not
/// count). Malformed JSON is left to the parser.
pub fn json_depth_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize, inner: &str) -> String {
        format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(json_depth_within(br#"{"a":[{"b":[1]}]}"#, 4));
        assert!(!json_depth_within(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(json_depth_within(nested(64, "1").as_bytes(), 64));
        assert!(!json_depth_within(nested(65, "1").as_bytes(), 64));
        // Brackets in strings, escaped quotes included, are text.
        let text = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(json_depth_within(text.as_bytes(), 1));
        // Deep under a member nobody reads is deep all the same.
        let unknown = format!(r#"{{"QueueUrl":"q","Unknown":{}}}"#, nested(70, "0"));
        assert!(!json_depth_within(unknown.as_bytes(), MAX_JSON_DEPTH));
    }
}
