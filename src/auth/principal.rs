//! The authenticated caller.

/// What kind of identity signed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The account root: everything inside its own account.
    Root,
    /// An IAM user of the account.
    User,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: Kind,
    pub account_id: String,
    /// `arn:aws:iam::ACCOUNT:root` or `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    pub arn: String,
    pub access_key_id: String,
    /// The user's unique id (`AIDA…`) and name.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
}

impl Principal {
    pub fn root(account_id: &str, access_key_id: &str) -> Self {
        Self {
            kind: Kind::Root,
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            access_key_id: access_key_id.to_owned(),
            user_id: None,
            user_name: None,
        }
    }

    pub fn user(account_id: &str, access_key_id: &str, user_id: &str, name: &str, path: &str) -> Self {
        Self {
            kind: Kind::User,
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:user{path}{name}"),
            access_key_id: access_key_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            user_name: Some(name.to_owned()),
        }
    }

    /// `aws:userid`, and the `SenderId` SQS reports for messages this principal sends: the
    /// account id for a root, the user's unique id for a user.
    pub fn sender_id(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.account_id)
    }
}
