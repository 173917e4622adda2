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

    pub fn parse(s: &str) -> Result<Self, SqsError> {
        if s.is_empty()
            || s.len() > Self::MAX_LEN
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            let shown: String = s.chars().take(100).collect();
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {shown} for parameter QueueName is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length."
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        let bad = || SqsError::invalid_address(&url.chars().take(300).collect::<String>());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(QueueName::parse("a").is_ok());
        assert!(QueueName::parse(&"a".repeat(80)).is_ok());
        assert!(QueueName::parse("My_queue-1").is_ok());
        for bad in ["", "a b", "a.b", "q.fifo", "é", &"a".repeat(81)] {
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
            assert!(matches!(QueueRef::from_url(bad), Err(SqsError::InvalidAddress(_))), "{bad}");
        }
    }
}
