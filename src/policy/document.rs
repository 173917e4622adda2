//! The policy language: parsing and validation of policy documents into a form the
//! evaluator uses. Errors name the place (`Statement[1].Condition…`) and the reason.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::condition::{Condition, parse_conditions};
use super::glob::Token;
use super::pattern::err;
pub use super::pattern::{Part, Pattern, PolicyError, Version, pattern};

/// Longest identity policy document IAM accepts (inline user policies).
pub const MAX_IDENTITY_POLICY_BYTES: usize = 6_144;
/// SQS's limits on a queue's `Policy`.
pub const MAX_QUEUE_POLICY_BYTES: usize = 8_192;
pub const MAX_QUEUE_POLICY_STATEMENTS: usize = 20;
pub const MAX_QUEUE_POLICY_PRINCIPALS: usize = 50;

/// Every IAM action of SQS (the batch APIs authorize through the single-message actions).
pub const SQS_ACTIONS: &[&str] = &[
    "AddPermission",
    "CancelMessageMoveTask",
    "ChangeMessageVisibility",
    "CreateQueue",
    "DeleteMessage",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "RemovePermission",
    "SendMessage",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];

/// Where a policy is used: its grammar differs (Principal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attached to a user, group or role: no Principal.
    Identity,
    /// A queue's `Policy` attribute: Principal required.
    Queue,
    /// A role's trust policy: Principal required, `sts:` actions, no Resource (the role).
    Trust,
}

/// IAM's default limit on a role trust policy.
pub const MAX_TRUST_POLICY_BYTES: usize = 2_048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a queue-policy statement names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principals {
    /// `"*"` or `{"AWS": "*"}`.
    pub any: bool,
    /// Account roots (`arn:aws:iam::ACCOUNT:root`) and user/role/session ARNs.
    pub aws: Vec<String>,
    pub services: Vec<String>,
}

impl Principals {
    pub fn count(&self) -> usize {
        usize::from(self.any) + self.aws.len() + self.services.len()
    }
}

/// One statement, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    /// Position in the document (for explanations).
    pub index: usize,
    pub effect: Effect,
    /// `Some((negated, principals))` in queue policies.
    pub principal: Option<(bool, Principals)>,
    pub not_action: bool,
    /// Lower-cased action patterns.
    pub actions: Vec<Vec<Token>>,
    pub not_resource: bool,
    pub resources: Vec<Pattern>,
    pub conditions: Vec<Condition>,
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: Version,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Whether any condition of the policy reads a key starting with `prefix` (lower case).
    pub fn mentions_key_prefix(&self, prefix: &str) -> bool {
        self.statements.iter().any(|s| s.conditions.iter().any(|c| c.key.starts_with(prefix)))
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| err(at, "every entry must be a string")))
            .collect(),
        Value::Array(_) => Err(err(at, "must not be an empty list")),
        _ => Err(err(at, "must be a string or a list of strings")),
    }
}

fn check_action(a: &str, kind: Kind, at: &str) -> Result<Vec<Token>, PolicyError> {
    if a == "*" {
        return Ok(vec![Token::Any]);
    }
    let (service, name) = a.split_once(':').ok_or_else(|| err(at, format!("'{a}' must be service:Action or *")))?;
    if service.is_empty() || service.contains(['*', '?']) || name.is_empty() {
        return Err(err(at, format!("'{a}' must be service:Action with a literal service prefix")));
    }
    let service = service.to_ascii_lowercase();
    if kind == Kind::Queue && service != "sqs" {
        return Err(err(at, format!("'{a}': a queue policy grants only sqs: actions")));
    }
    if kind == Kind::Trust && service != "sts" {
        return Err(err(at, format!("'{a}': a trust policy grants only sts: actions")));
    }
    if service == "sqs" && !name.contains(['*', '?']) && !SQS_ACTIONS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        let hint = if name.to_ascii_lowercase().ends_with("batch") {
            format!(" (batch APIs are authorized by sqs:{})", name[..name.len() - 5].trim_end_matches(['-', '_']))
        } else {
            String::new()
        };
        return Err(err(at, format!("'{a}' is not an SQS action{hint}")));
    }
    Ok(super::glob::tokens(&format!("{service}:{}", name.to_ascii_lowercase())))
}

fn check_resource(r: &str, version: Version, at: &str) -> Result<Pattern, PolicyError> {
    if r == "*" {
        return Ok(vec![Part::Token(Token::Any)]);
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[1].is_empty() || parts[2].is_empty() {
        return Err(err(at, format!("'{r}' is not a valid ARN (arn:partition:service:region:account:resource)")));
    }
    if parts[2].contains(['*', '?']) {
        return Err(err(at, format!("'{r}': the service of an ARN cannot be a wildcard")));
    }
    // Variables only in the resource part.
    let head = parts[..5].join(":");
    if head.contains("${") {
        return Err(err(at, format!("'{r}': policy variables are allowed only in the resource part of an ARN")));
    }
    pattern(r, version, at)
}

fn check_principal(v: &Value, at: &str) -> Result<Principals, PolicyError> {
    let mut p = Principals::default();
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(m) if !m.is_empty() => {
            for (ty, vals) in m {
                let at = format!("{at}.{ty}");
                for val in strings(vals, &at)? {
                    match ty.as_str() {
                        "AWS" if val == "*" => p.any = true,
                        "AWS" => p.aws.push(normalize_aws_principal(&val, &at)?),
                        "Service" => {
                            if !val.ends_with(".amazonaws.com") || val.contains('*') {
                                return Err(err(
                                    &at,
                                    format!("'{val}' is not a service principal (name.amazonaws.com)"),
                                ));
                            }
                            p.services.push(val.to_ascii_lowercase());
                        }
                        other => {
                            return Err(err(
                                &at,
                                format!("principal type '{other}' is not supported for queues (AWS, Service)"),
                            ));
                        }
                    }
                }
            }
        }
        _ => return Err(err(at, "must be \"*\" or an object such as {\"AWS\": …} or {\"Service\": …}")),
    }
    Ok(p)
}

/// Account ids become their root ARN; ARNs of users, roles and sessions stay; no partial
/// wildcards.
fn normalize_aws_principal(v: &str, at: &str) -> Result<String, PolicyError> {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("arn:aws:iam::{v}:root"));
    }
    if v.contains(['*', '?']) {
        return Err(err(
            at,
            format!("'{v}': principals cannot contain wildcards (use a Condition on aws:PrincipalArn)"),
        ));
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && (parts[2] == "iam" || parts[2] == "sts")
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if !ok {
        return Err(err(at, format!("'{v}' is not an account id or an IAM/STS principal ARN")));
    }
    Ok(v.to_owned())
}

const STATEMENT_KEYS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn statement(m: &Map<String, Value>, index: usize, kind: Kind, version: Version) -> Result<Statement, PolicyError> {
    let sid = match m.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err(format!("Statement[{index}].Sid"), "must be a string")),
    };
    let at = match &sid {
        Some(s) => format!("Statement[{index}] (Sid {s})"),
        None => format!("Statement[{index}]"),
    };
    if let Some(k) = m.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return Err(err(&at, format!("unknown element '{k}'")));
    }
    let effect = match m.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(err(format!("{at}.Effect"), format!("'{other}' must be \"Allow\" or \"Deny\""))),
        None => return Err(err(&at, "Effect is required")),
    };
    let pair = |a: &str, b: &str| -> Result<Option<(bool, &Value)>, PolicyError> {
        match (m.get(a), m.get(b)) {
            (Some(_), Some(_)) => Err(err(&at, format!("{a} and {b} are mutually exclusive"))),
            (Some(v), None) => Ok(Some((false, v))),
            (None, Some(v)) => Ok(Some((true, v))),
            (None, None) => Ok(None),
        }
    };
    let principal = match (pair("Principal", "NotPrincipal")?, kind) {
        (Some(_), Kind::Identity) => {
            return Err(err(
                &at,
                "Principal is not allowed in identity policies (the principal is the identity it is attached to)",
            ));
        }
        (None, Kind::Queue) => return Err(err(&at, "a queue policy statement needs Principal (or NotPrincipal)")),
        (None, Kind::Trust) => return Err(err(&at, "a trust policy statement needs Principal (or NotPrincipal)")),
        (Some((neg, v)), Kind::Queue | Kind::Trust) => {
            let name = if neg { "NotPrincipal" } else { "Principal" };
            Some((neg, check_principal(v, &format!("{at}.{name}"))?))
        }
        (None, Kind::Identity) => None,
    };
    let (not_action, actions) =
        pair("Action", "NotAction")?.ok_or_else(|| err(&at, "Action or NotAction is required"))?;
    let action_at = format!("{at}.{}", if not_action { "NotAction" } else { "Action" });
    let actions = strings(actions, &action_at)?
        .iter()
        .map(|a| check_action(a, kind, &action_at))
        .collect::<Result<Vec<_>, _>>()?;
    let trust_resource = [Value::String("*".into())];
    let (not_resource, resources) = match (pair("Resource", "NotResource")?, kind) {
        // A trust policy is about its role: it names no resource.
        (Some(_), Kind::Trust) => return Err(err(&at, "Has prohibited field Resource")),
        (None, Kind::Trust) => (false, &trust_resource[0]),
        (r, _) => r.ok_or_else(|| err(&at, "Resource or NotResource is required"))?,
    };
    let resource_at = format!("{at}.{}", if not_resource { "NotResource" } else { "Resource" });
    let resources = strings(resources, &resource_at)?
        .iter()
        .map(|r| check_resource(r, version, &resource_at))
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = match m.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, version, &format!("{at}.Condition"))?,
    };
    Ok(Statement { sid, index, effect, principal, not_action, actions, not_resource, resources, conditions })
}

/// Parses and validates a policy document for `kind`.
pub fn parse(text: &str, kind: Kind) -> Result<Policy, PolicyError> {
    let max = match kind {
        Kind::Identity => MAX_IDENTITY_POLICY_BYTES,
        Kind::Queue => MAX_QUEUE_POLICY_BYTES,
        Kind::Trust => MAX_TRUST_POLICY_BYTES,
    };
    if text.len() > max {
        return Err(err("Policy", format!("is {} bytes; the limit is {max}", text.len())));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| err("Policy", format!("is not valid JSON: {e}")))?;
    let Value::Object(top) = doc else { return Err(err("Policy", "must be a JSON object")) };
    if let Some(k) = top.keys().find(|k| !["Version", "Id", "Statement"].contains(&k.as_str())) {
        return Err(err("Policy", format!("unknown element '{k}'")));
    }
    let version = match top.get("Version") {
        None => Version::V2008,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008,
        Some(v) => return Err(err("Version", format!("{v} must be \"2012-10-17\" or \"2008-10-17\""))),
    };
    let id = match top.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err("Id", "must be a string")),
    };
    let raw: Vec<&Map<String, Value>> = match top.get("Statement") {
        Some(Value::Object(m)) => vec![m],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|s| s.as_object().ok_or_else(|| err("Statement", "every statement must be an object")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(err("Statement", "must be a statement or a non-empty list of statements")),
        None => return Err(err("Policy", "Statement is required")),
    };
    if kind == Kind::Queue && raw.len() > MAX_QUEUE_POLICY_STATEMENTS {
        return Err(err(
            "Statement",
            format!("has {} statements; the limit is {MAX_QUEUE_POLICY_STATEMENTS}", raw.len()),
        ));
    }
    let statements =
        raw.iter().enumerate().map(|(i, m)| statement(m, i, kind, version)).collect::<Result<Vec<_>, _>>()?;
    let mut sids = HashSet::new();
    for s in &statements {
        if let Some(sid) = &s.sid
            && !sids.insert(sid.as_str())
        {
            return Err(err(format!("Statement[{}]", s.index), format!("Sid '{sid}' is used twice")));
        }
    }
    if kind == Kind::Queue {
        let principals: usize = statements.iter().filter_map(|s| s.principal.as_ref()).map(|(_, p)| p.count()).sum();
        if principals > MAX_QUEUE_POLICY_PRINCIPALS {
            return Err(err(
                "Policy",
                format!("names {principals} principals; the limit is {MAX_QUEUE_POLICY_PRINCIPALS}"),
            ));
        }
    }
    Ok(Policy { version, id, statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(i: usize, principals: usize) -> String {
        let aws: Vec<String> =
            (0..principals).map(|n| format!("\"arn:aws:iam::{:012}:root\"", 100_000_000_000u64 + n as u64)).collect();
        format!(
            r#"{{"Sid":"s{i}","Effect":"Allow","Principal":{{"AWS":[{}]}},"Action":"sqs:SendMessage","Resource":"*"}}"#,
            aws.join(",")
        )
    }

    fn doc(statements: usize, principals: usize) -> String {
        let s: Vec<String> = (0..statements).map(|i| statement(i, principals)).collect();
        format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, s.join(","))
    }

    #[test]
    fn queue_policies_hold_sqs_limits_on_statements_and_principals() {
        assert!(parse(&doc(20, 1), Kind::Queue).is_ok());
        let e = parse(&doc(21, 1), Kind::Queue).unwrap_err();
        assert!(e.reason.contains("21 statements"), "{e}");
        assert!(parse(&doc(1, 50), Kind::Queue).is_ok());
        let e = parse(&doc(1, 51), Kind::Queue).unwrap_err();
        assert!(e.reason.contains("51 principals"), "{e}");
    }

    #[test]
    fn queue_policies_hold_sqs_size_limit_counting_bytes() {
        let base = doc(1, 1);
        let pad = |n: usize| format!("{}{}", &base[..base.len() - 1], format_args!(",\"Id\":\"{}\"}}", "x".repeat(n)));
        let fill = MAX_QUEUE_POLICY_BYTES - pad(0).len();
        assert_eq!(pad(fill).len(), MAX_QUEUE_POLICY_BYTES);
        assert!(parse(&pad(fill), Kind::Queue).is_ok());
        let e = parse(&pad(fill + 1), Kind::Queue).unwrap_err();
        assert!(e.reason.contains("the limit is 8192"), "{e}");
        // Identity policies have IAM's smaller limit.
        let e = parse(&pad(fill), Kind::Identity).unwrap_err();
        assert!(e.reason.contains("the limit is 6144"), "{e}");
    }
}
