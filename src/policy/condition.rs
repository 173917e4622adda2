//! Condition operators, with AWS's rules for several keys and values (AND / OR / NOR),
//! missing keys, `…IfExists`, `Null`, and the `ForAllValues:` / `ForAnyValue:` qualifiers.

use std::net::IpAddr;

use base64::prelude::*;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::arn;
use super::context::Context;
use super::glob::{self, Token};
use super::pattern::{Part, Pattern, PolicyError, Version, err, pattern};

/// The operators (without `IfExists` or a set qualifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringNotEquals", Op::StringNotEquals),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Op::StringNotEqualsIgnoreCase),
    ("StringLike", Op::StringLike),
    ("StringNotLike", Op::StringNotLike),
    ("NumericEquals", Op::NumericEquals),
    ("NumericNotEquals", Op::NumericNotEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("DateEquals", Op::DateEquals),
    ("DateNotEquals", Op::DateNotEquals),
    ("DateLessThan", Op::DateLessThan),
    ("DateLessThanEquals", Op::DateLessThanEquals),
    ("DateGreaterThan", Op::DateGreaterThan),
    ("DateGreaterThanEquals", Op::DateGreaterThanEquals),
    ("Bool", Op::Bool),
    ("BinaryEquals", Op::BinaryEquals),
    ("IpAddress", Op::IpAddress),
    ("NotIpAddress", Op::NotIpAddress),
    ("ArnEquals", Op::ArnEquals),
    ("ArnLike", Op::ArnLike),
    ("ArnNotEquals", Op::ArnNotEquals),
    ("ArnNotLike", Op::ArnNotLike),
    ("Null", Op::Null),
];

impl Op {
    /// The negated operators, and the positive operator each negates.
    fn positive(self) -> (Op, bool) {
        use Op::*;
        match self {
            StringNotEquals => (StringEquals, true),
            StringNotEqualsIgnoreCase => (StringEqualsIgnoreCase, true),
            StringNotLike => (StringLike, true),
            NumericNotEquals => (NumericEquals, true),
            DateNotEquals => (DateEquals, true),
            NotIpAddress => (IpAddress, true),
            ArnNotEquals => (ArnEquals, true),
            ArnNotLike => (ArnLike, true),
            op => (op, false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    ForAllValues,
    ForAnyValue,
}

/// A policy value, parsed for its operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(Pattern),
    Number(f64),
    Date(DateTime<Utc>),
    Bool(bool),
    Bytes(Vec<u8>),
    Cidr(ipnet::IpNet),
}

/// One `operator: { key: values }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub qualifier: Option<Qualifier>,
    pub if_exists: bool,
    /// Lower case: condition keys are case-insensitive.
    pub key: String,
    pub values: Vec<Operand>,
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(secs) = s.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.to_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
}

/// An `IpAddress` operand: a CIDR range, or one address (a /32 or /128).
fn parse_cidr(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn operand(op: Op, raw: &str, version: Version, at: &str) -> Result<Operand, PolicyError> {
    use Op::*;
    let bad = |what: &str| err(at, format!("'{raw}' is not {what}"));
    Ok(match op.positive().0 {
        StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike => {
            Operand::Text(pattern(raw, version, at)?)
        }
        NumericEquals | NumericLessThan | NumericLessThanEquals | NumericGreaterThan | NumericGreaterThanEquals => {
            Operand::Number(raw.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or_else(|| bad("a number"))?)
        }
        DateEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals => {
            Operand::Date(parse_date(raw).ok_or_else(|| bad("an ISO 8601 date or epoch seconds"))?)
        }
        Bool | Null => Operand::Bool(match raw.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad("true or false")),
        }),
        BinaryEquals => Operand::Bytes(BASE64_STANDARD.decode(raw).map_err(|_| bad("base64"))?),
        IpAddress => Operand::Cidr(parse_cidr(raw).ok_or_else(|| bad("an IP address or CIDR range"))?),
        _ => unreachable!("positive() returns positive operators"),
    })
}

/// Parses a `Condition` block.
pub fn parse_conditions(v: &Value, version: Version, at: &str) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else { return Err(err(at, "must be an object of operators")) };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let at = format!("{at}.{name}");
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(Qualifier::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), r)
        } else {
            (None, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let op = OPS.iter().find(|(n, _)| *n == base).map(|(_, o)| *o).ok_or_else(|| {
            let hint = if base.starts_with("Arn") { " (did you mean ArnLike or ArnEquals?)" } else { "" };
            err(&at, format!("unknown condition operator '{name}'{hint}"))
        })?;
        if op == Op::Null && (if_exists || qualifier.is_some()) {
            return Err(err(&at, "Null takes neither IfExists nor a ForAllValues/ForAnyValue qualifier"));
        }
        let Value::Object(keys) = keys else { return Err(err(&at, "must be an object of condition keys")) };
        if keys.is_empty() {
            return Err(err(&at, "names no condition key"));
        }
        for (key, vals) in keys {
            let at = format!("{at}.{key}");
            let raw: Vec<String> = match vals {
                Value::Array(a) if a.is_empty() => return Err(err(&at, "must not be an empty list")),
                Value::Array(a) => a
                    .iter()
                    .map(|x| scalar_text(x).ok_or_else(|| err(&at, "values must be strings, numbers or booleans")))
                    .collect::<Result<_, _>>()?,
                v => vec![scalar_text(v).ok_or_else(|| err(&at, "values must be strings, numbers or booleans"))?],
            };
            if op == Op::Null && raw.len() != 1 {
                return Err(err(&at, "Null takes one value, true or false"));
            }
            let values = raw.iter().map(|r| operand(op, r, version, &at)).collect::<Result<Vec<_>, _>>()?;
            out.push(Condition { op, qualifier, if_exists, key: key.to_ascii_lowercase(), values });
        }
    }
    Ok(out)
}

/// A pattern with its variables resolved from the context; `None` when a variable has no
/// value and no default (the value then matches nothing).
pub fn resolve(p: &Pattern, ctx: &Context) -> Option<Vec<Token>> {
    let mut out = Vec::with_capacity(p.len());
    for part in p {
        match part {
            Part::Token(t) => out.push(t.clone()),
            Part::Var { key, default } => {
                let v = ctx.single(key).map(str::to_owned).or_else(|| default.clone())?;
                out.extend(v.chars().map(Token::Char));
            }
        }
    }
    Some(out)
}

/// The literal text of resolved tokens (for the Equals operators, where `*` is literal).
fn literal(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Token::Char(c) => *c,
            Token::Any => '*',
            Token::One => '?',
        })
        .collect()
}

/// Whether one request value matches one policy value under a positive operator.
fn value_matches(op: Op, v: &str, operand: &Operand, ctx: &Context) -> bool {
    use Op::*;
    match (op, operand) {
        (StringEquals, Operand::Text(p)) => resolve(p, ctx).is_some_and(|t| literal(&t) == v),
        (StringEqualsIgnoreCase, Operand::Text(p)) => {
            resolve(p, ctx).is_some_and(|t| literal(&t).to_lowercase() == v.to_lowercase())
        }
        (StringLike, Operand::Text(p)) => resolve(p, ctx).is_some_and(|t| glob::matches(&t, v, false)),
        (ArnEquals | ArnLike, Operand::Text(p)) => resolve(p, ctx).is_some_and(|t| arn::segments_match(&t, v)),
        (NumericEquals, Operand::Number(n)) => v.parse::<f64>().is_ok_and(|x| x == *n),
        (NumericLessThan, Operand::Number(n)) => v.parse::<f64>().is_ok_and(|x| x < *n),
        (NumericLessThanEquals, Operand::Number(n)) => v.parse::<f64>().is_ok_and(|x| x <= *n),
        (NumericGreaterThan, Operand::Number(n)) => v.parse::<f64>().is_ok_and(|x| x > *n),
        (NumericGreaterThanEquals, Operand::Number(n)) => v.parse::<f64>().is_ok_and(|x| x >= *n),
        (DateEquals, Operand::Date(d)) => parse_date(v).is_some_and(|x| x == *d),
        (DateLessThan, Operand::Date(d)) => parse_date(v).is_some_and(|x| x < *d),
        (DateLessThanEquals, Operand::Date(d)) => parse_date(v).is_some_and(|x| x <= *d),
        (DateGreaterThan, Operand::Date(d)) => parse_date(v).is_some_and(|x| x > *d),
        (DateGreaterThanEquals, Operand::Date(d)) => parse_date(v).is_some_and(|x| x >= *d),
        (Bool, Operand::Bool(b)) => v.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        (BinaryEquals, Operand::Bytes(b)) => v.as_bytes() == b.as_slice(),
        // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is an IPv4 address.
        (IpAddress, Operand::Cidr(net)) => v.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip.to_canonical())),
        _ => false,
    }
}

/// Evaluates one condition against the request context.
pub fn evaluate(c: &Condition, ctx: &Context) -> bool {
    let present = ctx.values(&c.key);
    if c.op == Op::Null {
        let absent = present.is_none_or(|v| v.is_empty());
        return matches!(c.values.first(), Some(Operand::Bool(b)) if *b == absent);
    }
    let (positive, negated) = c.op.positive();
    // A request value "matches" when it matches any policy value (OR); a negated operator
    // is true when it matches none of them (NOR).
    let one = |v: &String| {
        let any = c.values.iter().any(|o| value_matches(positive, v, o, ctx));
        if negated { !any } else { any }
    };
    match (c.qualifier, present) {
        (Some(Qualifier::ForAnyValue), None) => false,
        (Some(Qualifier::ForAnyValue), Some(vals)) => vals.iter().any(one),
        (Some(Qualifier::ForAllValues), None) => true,
        (Some(Qualifier::ForAllValues), Some(vals)) => vals.iter().all(one),
        (None, None) => c.if_exists || negated,
        (None, Some(vals)) if vals.is_empty() => c.if_exists || negated,
        (None, Some(vals)) => {
            let any = vals.iter().any(|v| c.values.iter().any(|o| value_matches(positive, v, o, ctx)));
            if negated { !any } else { any }
        }
    }
}
