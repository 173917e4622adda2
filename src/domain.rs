//! The names that cross layers, each a newtype whose only constructor enforces AWS's rules
//! (parse, don't validate): account ids, queue names, the queue a URL or an ARN names, message
//! ids, receipt handles and move-task handles. Made once at the edge; never a bare string
//! after it.

use std::fmt;

use uuid::Uuid;

use crate::error::SqsError;

/// A 12-digit account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A queue name: 1–80 characters of `[A-Za-z0-9_-]` (FIFO `.fifo` names come later).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueName(String);

impl QueueName {
    pub const MAX_LEN: usize = 80;

    /// The suffix of a FIFO queue's name (it counts toward the 80 characters).
    pub const FIFO_SUFFIX: &str = ".fifo";

    /// 1 to 80 of `[A-Za-z0-9_-]`, where the last five may be `.fifo` (whether the queue is
    /// FIFO is checked against its FifoQueue attribute when it is created).
    pub fn parse(s: &str) -> Result<Self, SqsError> {
        let stem = s.strip_suffix(Self::FIFO_SUFFIX).unwrap_or(s);
        if stem.is_empty()
            || s.len() > Self::MAX_LEN
            || !stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Self::refusal(s, false));
        }
        Ok(Self(s.to_owned()))
    }

    /// Checks the name against the queue's type: a FIFO queue's ends in `.fifo`, a standard
    /// queue's does not.
    pub fn check_type(&self, fifo: bool) -> Result<(), SqsError> {
        if self.is_fifo() == fifo { Ok(()) } else { Err(Self::refusal(&self.0, fifo)) }
    }

    /// AWS's refusal of a name, in the words of the rule for a FIFO or a standard queue.
    fn refusal(name: &str, fifo: bool) -> SqsError {
        let shown: String = name.chars().take(100).collect();
        let reason = if fifo {
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
        } else {
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length."
        };
        SqsError::InvalidParameterValue(format!("Value {shown} for parameter QueueName is invalid. Reason: {reason}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is a FIFO queue's (ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.0.ends_with(Self::FIFO_SUFFIX)
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A queue named by owner and name, before anyone knows whether it exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueRef {
    pub account: AccountId,
    pub name: QueueName,
}

impl QueueRef {
    /// Parses a QueueUrl (`https://host[:port]/ACCOUNT/NAME`) or a bare path
    /// (`/ACCOUNT/NAME`). The host is ignored: clients may reach us under another name.
    pub fn from_url(url: &str) -> Result<Self, SqsError> {
        // A URL of no queue's shape names no queue: AWS answers that the queue does not
        // exist, whatever the URL looks like.
        let bad = || SqsError::QueueDoesNotExist;
        let path = match url.split_once("://") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                    return Err(bad());
                }
                &rest[rest.find('/').ok_or_else(bad)?..]
            }
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut parts = path.trim_start_matches('/').trim_end_matches('/').split('/');
        let (Some(account), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let account = AccountId::parse(account).ok_or_else(bad)?;
        let name = QueueName::parse(name).map_err(|_| bad())?;
        Ok(Self { account, name })
    }
}

impl QueueRef {
    /// The queue's ARN in `region`.
    pub fn arn(&self, region: &str) -> QueueArn {
        QueueArn { text: format!("arn:aws:sqs:{region}:{}:{}", self.account, self.name), queue: self.clone() }
    }
}

/// A queue's ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`), with the queue it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueArn {
    text: String,
    queue: QueueRef,
}

impl QueueArn {
    /// Parses an ARN as a caller wrote it (any non-empty region).
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts[..] {
            ["arn", "aws", "sqs", region, account, name] if !region.is_empty() => Some(Self {
                text: arn.to_owned(),
                queue: QueueRef { account: AccountId::parse(account)?, name: QueueName::parse(name).ok()? },
            }),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The queue it names.
    pub fn queue(&self) -> &QueueRef {
        &self.queue
    }
}

impl fmt::Display for QueueArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A message id: a UUID (time-ordered for new messages), shown in its hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub Uuid);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A receipt handle as a caller gave it back: bounded before anything looks at it. Whether it
/// names a receive of a queue is `queue::receipt`'s to say (it is MACed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle(String);

impl ReceiptHandle {
    /// The longest handle looked at (Sluice's are far shorter).
    pub const MAX_LEN: usize = 1024;

    /// Refuses an empty or overlong handle with SQS's ReceiptHandleIsInvalid (without
    /// echoing it).
    pub fn parse(s: &str) -> Result<Self, SqsError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(SqsError::ReceiptHandleIsInvalid(
                "The input receipt handle is not a valid receipt handle.".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message-move task handle as a caller gave it back: bounded; whether it is one of this
/// deployment's is `queue::moves`'s to say (it is MACed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHandle(String);

impl TaskHandle {
    /// The longest handle looked at (a queue ARN is at most about 150 bytes).
    pub const MAX_LEN: usize = 512;

    pub fn parse(s: &str) -> Result<Self, SqsError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(SqsError::ResourceNotFoundException("The task handle is not valid.".into()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A principal as policies name it: an account root, an IAM user, a role session, or a
/// service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalName {
    /// `arn:aws:iam::ACCOUNT:root`.
    Root { account: AccountId },
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    User { account: AccountId },
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, with its role's ARN.
    AssumedRole { account: AccountId, role_arn: String },
    /// `SERVICE.amazonaws.com`.
    Service(String),
}

impl PrincipalName {
    pub fn parse(s: &str) -> Option<Self> {
        if !s.starts_with("arn:") {
            let ok = s.strip_suffix(".amazonaws.com").is_some_and(|n| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            });
            return ok.then(|| Self::Service(s.to_owned()));
        }
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let ["arn", "aws", service, "", account, resource] = parts[..] else { return None };
        let account = AccountId::parse(account)?;
        match (service, resource) {
            ("iam", "root") => Some(Self::Root { account }),
            ("iam", r) if r.strip_prefix("user/").is_some_and(|n| !n.is_empty()) => Some(Self::User { account }),
            ("sts", r) => {
                let mut it = r.strip_prefix("assumed-role/")?.split('/');
                let (Some(role), Some(session), None) = (it.next(), it.next(), it.next()) else { return None };
                if role.is_empty() || session.is_empty() {
                    return None;
                }
                let role_arn = format!("arn:aws:iam::{account}:role/{role}");
                Some(Self::AssumedRole { account, role_arn })
            }
            _ => None,
        }
    }

    /// The principal's account (none for a service).
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Self::Root { account } | Self::User { account } | Self::AssumedRole { account, .. } => Some(account),
            Self::Service(_) => None,
        }
    }
}

/// The account an ARN names (its fifth segment), when it names one.
pub fn arn_account(arn: &str) -> Option<AccountId> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    AccountId::parse(parts.nth(3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(QueueName::parse("a").is_ok());
        assert!(QueueName::parse(&"a".repeat(80)).is_ok());
        assert!(QueueName::parse("My_queue-1").is_ok());
        assert!(QueueName::parse("q.fifo").unwrap().is_fifo());
        assert!(QueueName::parse(&format!("{}.fifo", "a".repeat(75))).is_ok());
        assert!(!QueueName::parse("fifo").unwrap().is_fifo());
        for bad in ["", "a b", "a.b", ".fifo", "a.fifo.fifo", "é", &"a".repeat(81), &format!("{}.fifo", "a".repeat(76))]
        {
            assert!(matches!(QueueName::parse(bad), Err(SqsError::InvalidParameterValue(_))), "{bad}");
        }
    }

    #[test]
    fn queue_arns_name_their_queue_and_refuse_other_services_and_shapes() {
        let arn = QueueArn::parse("arn:aws:sqs:us-east-1:111122223333:dlq").unwrap();
        assert_eq!(arn.queue().account.as_str(), "111122223333");
        assert_eq!(arn.queue().name.as_str(), "dlq");
        assert_eq!(arn.as_str(), "arn:aws:sqs:us-east-1:111122223333:dlq");
        assert_eq!(arn.queue().arn("us-east-1"), arn);
        for bad in [
            "arn:aws:sns:us-east-1:111122223333:t",
            "arn:aws:sqs::111122223333:q",
            "arn:aws:sqs:r:1111:q",
            "arn:aws:sqs:r:111122223333:bad name",
            "arn:aws:sqs:r:111122223333:q:extra",
            "",
        ] {
            assert!(QueueArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn principals_parse_from_their_arns_or_service_names() {
        let a = AccountId::parse("111122223333").unwrap();
        assert_eq!(
            PrincipalName::parse("arn:aws:iam::111122223333:root"),
            Some(PrincipalName::Root { account: a.clone() })
        );
        assert_eq!(
            PrincipalName::parse("arn:aws:iam::111122223333:user/team/dev"),
            Some(PrincipalName::User { account: a.clone() })
        );
        assert_eq!(
            PrincipalName::parse("arn:aws:sts::111122223333:assumed-role/ops/alice"),
            Some(PrincipalName::AssumedRole {
                account: a.clone(),
                role_arn: "arn:aws:iam::111122223333:role/ops".into()
            })
        );
        assert_eq!(PrincipalName::parse("s3.amazonaws.com"), Some(PrincipalName::Service("s3.amazonaws.com".into())));
        for bad in [
            "arn:aws:iam::1111:root",
            "arn:aws:iam::111122223333:group/g",
            "arn:aws:sts::111122223333:assumed-role/ops",
            "arn:aws:iam:us-east-1:111122223333:root",
            "example.com",
            "",
        ] {
            assert_eq!(PrincipalName::parse(bad), None, "{bad}");
        }
        assert_eq!(arn_account("arn:aws:sqs:r:111122223333:q"), Some(a));
        assert_eq!(arn_account("*"), None);
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn handles_are_bounded_before_anything_reads_them() {
        assert!(ReceiptHandle::parse("h").is_ok());
        assert!(matches!(ReceiptHandle::parse(""), Err(SqsError::ReceiptHandleIsInvalid(_))));
        assert!(ReceiptHandle::parse(&"h".repeat(ReceiptHandle::MAX_LEN + 1)).is_err());
        assert!(TaskHandle::parse("t").is_ok());
        assert!(matches!(TaskHandle::parse(&"t".repeat(600)), Err(SqsError::ResourceNotFoundException(_))));
    }

    #[test]
    fn queue_urls_parse_to_account_and_name_whatever_the_host() {
        let r = QueueRef::from_url("https://sqs.example:9324/123456789012/orders").unwrap();
        assert_eq!(r.account.as_str(), "123456789012");
        assert_eq!(r.name.as_str(), "orders");
        assert_eq!(QueueRef::from_url("/123456789012/orders").unwrap(), r);
        for bad in [
            "https://h/12345/orders",
            "https://h/123456789012",
            "https://h/123456789012/a/b",
            "ftp://h/123456789012/q",
            "https://h/123456789012/bad name",
            "",
        ] {
            assert_eq!(QueueRef::from_url(bad), Err(SqsError::QueueDoesNotExist), "{bad}");
        }
    }
}
