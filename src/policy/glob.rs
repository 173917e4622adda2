//! Wildcard matching for policies: `*` (any run, also empty) and `?` (one character), with
//! literal characters that came from policy variables or `${*}`-style escapes.
//!
//! A pattern is split at its stars into pieces; the first piece must match at the start, the
//! last at the end, and the middle ones are found left to right, each at its leftmost place.
//! That is correct for stars-only separators and never backtracks, so a pattern such as
//! `*a*a*a*…b` costs at most (length of text × length of pattern), not an exponential blow-up.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A character that matches itself only (even `*` or `?` when it came from a variable).
    Char(char),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters.
    Any,
}

/// Tokenizes a plain pattern (no variables): `*` and `?` are wildcards.
pub fn tokens(pattern: &str) -> Vec<Token> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Token::Any,
            '?' => Token::One,
            c => Token::Char(c),
        })
        .collect()
}

fn char_eq(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Whether `piece` (no `Any` in it) matches `text` at exactly `at`.
fn piece_at(piece: &[Token], text: &[char], at: usize, ignore_case: bool) -> bool {
    if at + piece.len() > text.len() {
        return false;
    }
    piece.iter().zip(&text[at..]).all(|(t, &c)| match t {
        Token::Char(p) => char_eq(*p, c, ignore_case),
        Token::One => true,
        Token::Any => false,
    })
}

/// Matches `text` against a tokenized pattern.
pub fn matches(pattern: &[Token], text: &str, ignore_case: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pieces: Vec<&[Token]> = pattern.split(|t| *t == Token::Any).collect();
    if pieces.len() == 1 {
        return pieces[0].len() == text.len() && piece_at(pieces[0], &text, 0, ignore_case);
    }
    let (first, rest) = pieces.split_first().unwrap_or((&pieces[0], &[]));
    let (last, middle) = rest.split_last().unwrap_or((&pieces[0], &[]));
    if !piece_at(first, &text, 0, ignore_case) {
        return false;
    }
    let mut pos = first.len();
    for piece in middle {
        if piece.is_empty() {
            continue;
        }
        let mut found = None;
        let mut at = pos;
        while at + piece.len() <= text.len() {
            if piece_at(piece, &text, at, ignore_case) {
                found = Some(at);
                break;
            }
            at += 1;
        }
        match found {
            Some(at) => pos = at + piece.len(),
            None => return false,
        }
    }
    // The last piece sits at the end, after everything matched so far.
    text.len() >= pos + last.len() && piece_at(last, &text, text.len() - last.len(), ignore_case)
}

/// Convenience: plain pattern string against text.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    matches(&tokens(pattern), text, ignore_case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_as_iam_does() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("sqs:*", "sqs:SendMessage", true),
            ("sqs:Get*", "sqs:GetQueueUrl", true),
            ("sqs:Get*", "sqs:SendMessage", false),
            ("sqs:*Message*", "sqs:ChangeMessageVisibility", true),
            ("sqs:?eceiveMessage", "sqs:ReceiveMessage", true),
            ("sqs:?eceiveMessage", "sqs:eceiveMessage", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*a", "a", false),
            ("*ab", "aab", true),
            ("ab*", "a", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob(p, t, false), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn case_is_folded_only_when_asked() {
        assert!(glob("SQS:sendmessage", "sqs:SendMessage", true));
        assert!(!glob("SQS:sendmessage", "sqs:SendMessage", false));
    }

    #[test]
    fn literal_stars_from_variables_do_not_match_as_wildcards() {
        let mut p = tokens("user-");
        p.push(Token::Char('*'));
        assert!(matches(&p, "user-*", false));
        assert!(!matches(&p, "user-bob", false));
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let pattern = format!("{}b", "*a".repeat(200));
        let text = "a".repeat(20_000);
        let start = std::time::Instant::now();
        assert!(!glob(&pattern, &text, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
    }
}
