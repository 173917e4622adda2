//! The authenticated caller.

/// Who made a request. The foundation knows account roots; users and roles come later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    /// `arn:aws:iam::ACCOUNT:root`.
    pub arn: String,
    pub access_key_id: String,
}

impl Principal {
    pub fn root(account_id: &str, access_key_id: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            access_key_id: access_key_id.to_owned(),
        }
    }

    /// The `SenderId` SQS reports for messages this principal sends (the account id for a root).
    pub fn sender_id(&self) -> &str {
        &self.account_id
    }
}
