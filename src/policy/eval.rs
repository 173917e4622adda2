//! Evaluation, as AWS's logic states it (iam-policy.md §6): implicit deny; an explicit deny
//! in any applicable policy wins; inside one account an identity Allow or a queue-policy
//! Allow that names the caller suffices; across accounts both must allow; some actions are
//! never cross-account. The decision names the statements that decided it.

use super::arn::resource_matches;
use super::condition::{self, resolve};
use super::context::Context;
use super::document::{Effect, Policy, Statement};
use super::glob;

/// What kind of principal is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An account's root: full access inside its own account.
    Root,
    User,
    AssumedRole,
    /// A service principal (`s3.amazonaws.com`, …) delivering on behalf of a resource.
    Service,
}

/// The caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub kind: PrincipalKind,
    /// The caller's account (none for a service principal).
    pub account: Option<&'a str>,
    /// `arn:aws:iam::A:root`, `arn:aws:iam::A:user/…`, `arn:aws:sts::A:assumed-role/R/S`, or
    /// the service name.
    pub arn: &'a str,
    /// For an assumed role: the role's ARN.
    pub role_arn: Option<&'a str>,
}

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    /// `service:Action`, e.g. `sqs:SendMessage`.
    pub action: &'a str,
    /// The resource ARN, or `*` for account-level actions.
    pub resource: &'a str,
    /// The account owning the resource (none for account-level actions).
    pub resource_owner: Option<&'a str>,
    pub context: &'a Context,
}

/// SQS actions that never work across accounts, whatever a queue policy says.
pub const NOT_CROSS_ACCOUNT: &[&str] = &[
    "sqs:addpermission",
    "sqs:cancelmessagemovetask",
    "sqs:createqueue",
    "sqs:deletequeue",
    "sqs:listmessagemovetasks",
    "sqs:listqueues",
    "sqs:listqueuetags",
    "sqs:removepermission",
    "sqs:setqueueattributes",
    "sqs:startmessagemovetask",
    "sqs:tagqueue",
    "sqs:untagqueue",
];

/// Which policy a deciding statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The n-th identity policy given.
    Identity(usize),
    Resource,
}

/// A statement that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deciding {
    pub source: Source,
    pub index: usize,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ExplicitDeny,
    NotCrossAccount,
    AccountRoot,
    Allowed,
    /// Nothing allowed it (implicit deny).
    NoAllow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    pub deciding: Vec<Deciding>,
}

impl Decision {
    fn deny(reason: Reason, deciding: Vec<Deciding>) -> Self {
        Self { allowed: false, reason, deciding }
    }
}

/// How a queue-policy statement names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    No,
    /// By its account: delegation to the account's identity policies.
    Account,
    /// Directly (user, session or role ARN, service, or `*`).
    Directly,
}

fn names_caller(s: &Statement, caller: &Caller<'_>) -> Named {
    let Some((negated, p)) = &s.principal else { return Named::Directly };
    let direct = p.any
        || p.aws.iter().any(|a| a == caller.arn || Some(a.as_str()) == caller.role_arn)
        || (caller.kind == PrincipalKind::Service && p.services.iter().any(|sv| sv.eq_ignore_ascii_case(caller.arn)));
    let account = caller.account.is_some_and(|acct| p.aws.iter().any(|a| *a == format!("arn:aws:iam::{acct}:root")));
    let named = if direct {
        Named::Directly
    } else if account {
        Named::Account
    } else {
        Named::No
    };
    if *negated { if named == Named::No { Named::Directly } else { Named::No } } else { named }
}

/// Whether a statement applies to the request (principal aside).
fn applies(s: &Statement, req: &Request<'_>) -> bool {
    let action = req.action.to_ascii_lowercase();
    let action_hit = s.actions.iter().any(|p| glob::matches(p, &action, false));
    if action_hit == s.not_action {
        return false;
    }
    let resource_hit =
        s.resources.iter().any(|p| resolve(p, req.context).is_some_and(|t| resource_matches(&t, req.resource)));
    if resource_hit == s.not_resource {
        return false;
    }
    s.conditions.iter().all(|c| condition::evaluate(c, req.context))
}

fn deciding(source: Source, s: &Statement) -> Deciding {
    Deciding { source, index: s.index, sid: s.sid.clone() }
}

/// Decides a request against the caller's identity policies and the resource's policy.
pub fn evaluate(req: &Request<'_>, identity: &[&Policy], resource: Option<&Policy>) -> Decision {
    let caller = &req.caller;
    let action = req.action.to_ascii_lowercase();
    let cross = match (caller.account, req.resource_owner) {
        (Some(a), Some(o)) => a != o,
        (None, Some(_)) => true,
        _ => false,
    };
    if cross && caller.kind != PrincipalKind::Service && NOT_CROSS_ACCOUNT.contains(&action.as_str()) {
        return Decision::deny(Reason::NotCrossAccount, Vec::new());
    }

    let mut allows_id = Vec::new();
    let mut allows_res_direct = Vec::new();
    let mut allows_res_account = Vec::new();
    let mut denies = Vec::new();
    for (i, p) in identity.iter().enumerate() {
        for s in &p.statements {
            if applies(s, req) {
                match s.effect {
                    Effect::Deny => denies.push(deciding(Source::Identity(i), s)),
                    Effect::Allow => allows_id.push(deciding(Source::Identity(i), s)),
                }
            }
        }
    }
    if let Some(p) = resource {
        for s in &p.statements {
            let named = names_caller(s, caller);
            if named == Named::No || !applies(s, req) {
                continue;
            }
            match (s.effect, named) {
                (Effect::Deny, _) => denies.push(deciding(Source::Resource, s)),
                (Effect::Allow, Named::Directly) => allows_res_direct.push(deciding(Source::Resource, s)),
                (Effect::Allow, _) => allows_res_account.push(deciding(Source::Resource, s)),
            }
        }
    }
    if !denies.is_empty() {
        return Decision::deny(Reason::ExplicitDeny, denies);
    }
    let allow = |deciding: Vec<Deciding>| Decision { allowed: true, reason: Reason::Allowed, deciding };
    match caller.kind {
        PrincipalKind::Root if !cross => Decision { allowed: true, reason: Reason::AccountRoot, deciding: Vec::new() },
        PrincipalKind::Service => {
            if allows_res_direct.is_empty() {
                Decision::deny(Reason::NoAllow, Vec::new())
            } else {
                allow(allows_res_direct)
            }
        }
        _ if !cross => {
            // Same account: an identity Allow, or a queue policy naming the caller itself.
            if !allows_id.is_empty() {
                allow(allows_id)
            } else if !allows_res_direct.is_empty() {
                allow(allows_res_direct)
            } else {
                Decision::deny(Reason::NoAllow, Vec::new())
            }
        }
        _ => {
            // Across accounts: the caller's own policies and the queue policy must both allow.
            // (A root's identity is its whole account, so it needs only the queue policy.)
            let id_ok = caller.kind == PrincipalKind::Root || !allows_id.is_empty();
            let mut res = allows_res_direct;
            res.extend(allows_res_account);
            if id_ok && !res.is_empty() {
                let mut d = allows_id;
                d.extend(res);
                allow(d)
            } else {
                Decision::deny(Reason::NoAllow, Vec::new())
            }
        }
    }
}
