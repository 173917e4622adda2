//! The authenticated caller.

use std::sync::Arc;

/// What kind of identity made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The account root: everything inside its own account.
    Root,
    /// An IAM user of the account (with its long-term key or a GetSessionToken session).
    User,
    /// A session of an IAM role (AssumeRole).
    AssumedRole,
    /// A service integration speaking as a service principal (`s3.amazonaws.com`), on behalf
    /// of the sources of the account that registered it. Only a queue policy can allow it.
    Service,
}

/// A service integration, as its bearer token and registration establish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The service principal (`s3.amazonaws.com`, `sns.amazonaws.com`).
    pub service: String,
    /// The registering account: the `aws:SourceAccount` of its deliveries.
    pub account_id: String,
    pub integration_id: String,
    /// The buckets or topic ARNs it may speak for.
    pub sources: Vec<String>,
}

/// A role session, as its temporary credentials establish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSession {
    pub role_id: String,
    pub role_name: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub role_arn: String,
    pub session_name: String,
    /// `ROLEID:SESSION`: `aws:userid` and the SenderId of what the session sends.
    pub userid: String,
    /// The session policy given to AssumeRole (JSON), capping the role's permissions.
    pub session_policy: Option<String>,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: Kind,
    /// The caller's account; for a service integration, the registering account.
    pub account_id: String,
    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:iam::ACCOUNT:user/PATH/NAME`, or the service
    /// principal's name.
    pub arn: String,
    /// Empty for a bearer caller.
    pub access_key_id: String,
    /// The user's unique id (`AIDA…`) and name.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub service: Option<Arc<ServiceCaller>>,
    pub role: Option<Arc<RoleSession>>,
    /// Signed with temporary credentials (a role session or a user's session token).
    pub temporary: bool,
}

impl Principal {
    /// The caller as the policy engine sees it (with a role session's session policy).
    pub fn caller<'a>(
        &'a self,
        session_policy: Option<&'a crate::policy::document::Policy>,
    ) -> crate::policy::eval::Caller<'a> {
        use crate::policy::eval::PrincipalKind;
        let (kind, account) = match self.kind {
            Kind::Root => (PrincipalKind::Root, Some(self.account_id.as_str())),
            Kind::User => (PrincipalKind::User, Some(self.account_id.as_str())),
            Kind::AssumedRole => (PrincipalKind::AssumedRole, Some(self.account_id.as_str())),
            // A service principal belongs to no account: only a queue policy can allow it.
            Kind::Service => (PrincipalKind::Service, None),
        };
        crate::policy::eval::Caller {
            kind,
            account,
            arn: &self.arn,
            role_arn: self.role.as_ref().map(|r| r.role_arn.as_str()),
            session_policy,
        }
    }

    pub fn root(account_id: &str, access_key_id: &str) -> Self {
        Self {
            kind: Kind::Root,
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            access_key_id: access_key_id.to_owned(),
            user_id: None,
            user_name: None,
            service: None,
            role: None,
            temporary: false,
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
            service: None,
            role: None,
            temporary: false,
        }
    }

    /// A role session: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub fn assumed_role(account_id: &str, access_key_id: &str, session: RoleSession) -> Self {
        Self {
            kind: Kind::AssumedRole,
            account_id: account_id.to_owned(),
            arn: format!("arn:aws:sts::{account_id}:assumed-role/{}/{}", session.role_name, session.session_name),
            access_key_id: access_key_id.to_owned(),
            user_id: None,
            user_name: None,
            service: None,
            role: Some(Arc::new(session)),
            temporary: true,
        }
    }

    /// Whose identity policies apply: the user's or the role's id.
    pub fn policy_owner(&self) -> Option<&str> {
        self.user_id.as_deref().or(self.role.as_ref().map(|r| r.role_id.as_str()))
    }

    pub fn service(caller: ServiceCaller) -> Self {
        Self {
            kind: Kind::Service,
            account_id: caller.account_id.clone(),
            arn: caller.service.clone(),
            access_key_id: String::new(),
            user_id: None,
            user_name: None,
            service: Some(Arc::new(caller)),
            role: None,
            temporary: false,
        }
    }

    /// `aws:userid`, and the `SenderId` SQS reports for messages this principal sends: the
    /// account id for a root, the user's unique id for a user, the integration's id for a
    /// service integration.
    pub fn sender_id(&self) -> &str {
        if let Some(id) = &self.user_id {
            return id;
        }
        if let Some(r) = &self.role {
            return &r.userid;
        }
        match &self.service {
            Some(s) => &s.integration_id,
            None => &self.account_id,
        }
    }
}
