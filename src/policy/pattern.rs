//! The values of the policy language, below documents and conditions: its versions, strings
//! with `${…}` variables and wildcards (`pattern`), and the error that names where a
//! document went wrong.

use super::glob::Token;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2008,
    V2012,
}

/// A string with policy variables: literal text, wildcards and `${key}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Token(Token),
    /// `${key}` or `${key, 'default'}` (key lower-cased).
    Var {
        key: String,
        default: Option<String>,
    },
}

pub type Pattern = Vec<Part>;

/// Why a document was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct PolicyError {
    pub at: String,
    pub reason: String,
}

pub(crate) fn err(at: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError { at: at.into(), reason: reason.into() }
}

/// Parses a value with `${…}` variables (Version 2012-10-17) into parts.
pub fn pattern(text: &str, version: Version, at: &str) -> Result<Pattern, PolicyError> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if version == Version::V2012
            && let Some(body) = rest.strip_prefix("${")
        {
            let end = body.find('}').ok_or_else(|| err(at, format!("unclosed policy variable in '{text}'")))?;
            let inner = &body[..end];
            match inner {
                "*" => out.push(Part::Token(Token::Char('*'))),
                "?" => out.push(Part::Token(Token::Char('?'))),
                "$" => out.push(Part::Token(Token::Char('$'))),
                _ => {
                    let (key, default) = match inner.split_once(',') {
                        Some((k, d)) => {
                            let d = d.trim();
                            let d = d
                                .strip_prefix('\'')
                                .and_then(|d| d.strip_suffix('\''))
                                .ok_or_else(|| err(at, format!("a variable default must be quoted: '{inner}'")))?;
                            (k.trim(), Some(d.to_owned()))
                        }
                        None => (inner.trim(), None),
                    };
                    if key.is_empty() || !key.contains(':') {
                        return Err(err(at, format!("'${{{inner}}}' is not a valid policy variable")));
                    }
                    out.push(Part::Var { key: key.to_ascii_lowercase(), default });
                }
            }
            rest = &body[end + 1..];
            continue;
        }
        let mut chars = rest.chars();
        let c = chars.next().unwrap_or_default();
        out.push(Part::Token(match c {
            '*' => Token::Any,
            '?' => Token::One,
            c => Token::Char(c),
        }));
        rest = chars.as_str();
    }
    Ok(out)
}
