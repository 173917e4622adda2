//! The IAM API (query protocol, XML answers) on the SQS endpoint, routed by the signature's
//! service scope (`iam`). Each action is a row of `api::table`: `targets` resolves the entity
//! the request names inside the caller's account and has the gate decide `iam:<Action>` on its
//! stored ARN; the handler (one room per kind of entity) receives the proof.
//!
//! - `users`: users, their access keys, inline and attached policies, their groups.
//! - `groups`: groups, members, inline and attached policies.
//! - `policies`: managed policies and their versions.
//! - `roles`: roles, trust and role policies.
//! - `integrations`: Sluice's own service-integration admin calls (what `sluice admin
//!   integration` does), decided on `arn:aws:iam::ACCOUNT:service-integration/ID`.

pub mod groups;
pub mod integrations;
pub mod policies;
pub mod roles;
pub mod targets;
pub mod users;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, SecondsFormat, Utc};

use super::error::xml_escape;
use super::{ApiState, SqsError};
use crate::auth::Principal;
use crate::policy::context::Context;
use crate::policy::document::Policy;
use crate::store::iam::{GroupRow, UserRow};

pub(crate) const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An IAM or STS row's run: resolve, decide, handle; the result element's content (None for
/// actions that answer none).
pub type IamRun = for<'a> fn(&'a IamCall<'a>) -> Pin<Box<dyn Future<Output = Result<Option<String>, SqsError>> + 'a>>;

/// One IAM or STS call.
pub struct IamCall<'a> {
    pub state: &'a ApiState,
    pub principal: &'a Principal,
    pub identity: &'a [Policy],
    pub session_policy: Option<&'a Policy>,
    pub context: &'a Context,
    pub params: HashMap<String, String>,
}

impl IamCall<'_> {
    pub(crate) fn param(&self, name: &str) -> Result<&str, SqsError> {
        self.params.get(name).map(String::as_str).ok_or_else(|| SqsError::missing(name))
    }

    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    pub(crate) fn account(&self) -> &str {
        &self.principal.account_id
    }

    pub(crate) fn tenancy(&self) -> &crate::tenancy::Tenancy {
        &self.state.tenancy
    }

    /// One page of a listing (`MaxItems` 1–1000, default 100; `Marker` from the previous
    /// page), as IAM pages: the members, `IsTruncated`, and a `Marker` when more remain.
    pub(crate) fn page(&self, container: &str, items: Vec<String>) -> Result<String, SqsError> {
        let max = match self.opt("MaxItems") {
            None => 100,
            Some(m) => m
                .parse::<usize>()
                .ok()
                .filter(|m| (1..=1000).contains(m))
                .ok_or_else(|| SqsError::InvalidInput("MaxItems must be between 1 and 1000.".into()))?,
        };
        let start = match self.opt("Marker") {
            None => 0,
            Some(m) => m
                .strip_prefix("m")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= items.len())
                .ok_or_else(|| SqsError::InvalidInput("The Marker is not valid.".into()))?,
        };
        let end = (start + max).min(items.len());
        let members: String = items[start..end].iter().map(String::as_str).collect();
        let more = if end < items.len() {
            format!("<IsTruncated>true</IsTruncated>{}", el("Marker", &format!("m{end}")))
        } else {
            "<IsTruncated>false</IsTruncated>".to_owned()
        };
        Ok(format!("<{container}>{members}</{container}>{more}"))
    }

    pub(crate) fn opt_i64(&self, name: &str) -> Result<Option<i64>, SqsError> {
        self.opt(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| SqsError::ValidationError(format!("Value '{v}' at '{name}' is not a valid integer.")))
            })
            .transpose()
    }
}

pub(crate) fn date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn el(tag: &str, value: &str) -> String {
    format!("<{tag}>{}</{tag}>", xml_escape(value))
}

pub(crate) fn encode_document(doc: &str) -> String {
    percent_encoding::utf8_percent_encode(doc, percent_encoding::NON_ALPHANUMERIC).collect()
}

pub(crate) fn user_xml(u: &UserRow) -> String {
    format!(
        "{}{}{}{}{}",
        el("Path", &u.path),
        el("UserName", &u.name),
        el("UserId", &u.id),
        el("Arn", &u.arn()),
        el("CreateDate", &date(u.created_at))
    )
}

pub(crate) fn group_xml(g: &GroupRow) -> String {
    format!(
        "{}{}{}{}{}",
        el("Path", &g.path),
        el("GroupName", &g.name),
        el("GroupId", &g.id),
        el("Arn", &g.arn()),
        el("CreateDate", &date(g.created_at))
    )
}

/// `(PolicyName, PolicyArn)` members of a listing of attached policies.
pub(crate) fn attached_xml(attached: &[(String, String)]) -> Vec<String> {
    attached
        .iter()
        .map(|(n, arn)| format!("<member>{}{}</member>", el("PolicyName", n), el("PolicyArn", arn)))
        .collect()
}

/// Wraps a result in IAM's (or STS's) response envelope (`result: None` for calls with no
/// output).
pub(crate) fn respond(ns: &str, action: &str, result: Option<String>, request_id: &str) -> String {
    let body = match result {
        Some(r) => format!("<{action}Result>{r}</{action}Result>"),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0"?><{action}Response xmlns="{ns}">{body}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>"#,
        xml_escape(request_id)
    )
}
