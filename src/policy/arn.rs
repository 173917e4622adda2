//! The two ARN matchers of the policy language: the Resource element's whole-string glob
//! (where `*` crosses `:`), and `ArnLike`/`ArnEquals`, which match each of the six segments
//! on its own.

use super::glob::{self, Token};

/// Splits at the first five colons: six segments, the last may hold colons.
fn split6<T: Clone + PartialEq>(items: &[T], colon: &T) -> Option<Vec<Vec<T>>> {
    let mut out = Vec::with_capacity(6);
    let mut cur = Vec::new();
    for it in items {
        if *it == *colon && out.len() < 5 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(it.clone());
        }
    }
    out.push(cur);
    (out.len() == 6).then_some(out)
}

/// `ArnLike`/`ArnEquals`: each segment globbed separately; a value that is not an ARN never
/// matches.
pub fn segments_match(pattern: &[Token], value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let (Some(p), Some(v)) = (split6(pattern, &Token::Char(':')), split6(&chars, &':')) else { return false };
    if v[0].iter().collect::<String>() != "arn" {
        return false;
    }
    p.iter().zip(&v).all(|(ps, vs)| glob::matches(ps, &vs.iter().collect::<String>(), false))
}

/// The Resource element: the whole ARN as one glob, case-sensitive.
pub fn resource_matches(pattern: &[Token], resource: &str) -> bool {
    glob::matches(pattern, resource, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::glob::tokens;

    #[test]
    fn resource_glob_crosses_colons_but_arn_like_does_not() {
        // The reference's example (iam-policy.md §2.7).
        let pattern = tokens("arn:aws:svc:*:111122223333:finance/*");
        let value = "arn:aws:svc:us-east-2:999999999999:store/abc:111122223333:finance/doc";
        assert!(resource_matches(&pattern, value), "StringLike/Resource semantics");
        assert!(!segments_match(&pattern, value), "ArnLike semantics");
        assert!(segments_match(&pattern, "arn:aws:svc:us-east-2:111122223333:finance/doc"));
    }

    #[test]
    fn arn_like_needs_an_arn_and_matches_segment_by_segment() {
        let p = tokens("arn:aws:s3:*:*:bucket-*");
        assert!(segments_match(&p, "arn:aws:s3:::bucket-1"));
        assert!(!segments_match(&p, "arn:aws:s3:::other"));
        assert!(!segments_match(&p, "not-an-arn"));
        assert!(!segments_match(&tokens("arn:aws:sqs:r:1:q"), "arn:aws:sqs:r:1"));
        // The resource segment keeps its colons.
        assert!(segments_match(&tokens("arn:aws:x:r:1:a:b*"), "arn:aws:x:r:1:a:bc"));
    }

    #[test]
    fn resource_matching_is_case_sensitive() {
        assert!(!resource_matches(&tokens("arn:aws:sqs:*:1:Orders"), "arn:aws:sqs:r:1:orders"));
    }
}
