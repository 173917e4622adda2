//! Newtypes whose only constructors enforce AWS's rules: account ids, queue names, and the
//! reference to a queue taken from a QueueUrl.

use std::fmt;

use super::SqsError;

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
