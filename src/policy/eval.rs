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
    /// For a role session: the session policy given to AssumeRole. It caps the identity
    /// policies (an identity Allow counts only where it allows too) and its Denies apply.
    pub session_policy: Option<&'a Policy>,
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
    /// The session policy of a role session.
    Session,
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

/// Decides whether `req.caller` may assume a role (`sts:AssumeRole` on the role's ARN, owned
/// by the role's account) under its trust policy, as IAM does: the trust policy must always
/// allow; when it names the caller itself in the role's account that suffices, otherwise
/// (it names the caller's account, or the caller is in another account) the caller's own
/// identity policies must allow too. Account roots cannot assume roles. Explicit denies win.
pub fn evaluate_trust(req: &Request<'_>, identity: &[&Policy], trust: &Policy) -> Decision {
    let caller = &req.caller;
    if caller.kind == PrincipalKind::Root {
        return Decision::deny(Reason::NoAllow, Vec::new());
    }
    let cross = caller.account != req.resource_owner;
    let (mut denies, mut id_allows, mut direct, mut via_account) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, p) in identity.iter().enumerate() {
        for s in p.statements.iter().filter(|s| applies(s, req)) {
            match s.effect {
                Effect::Deny => denies.push(deciding(Source::Identity(i), s)),
                Effect::Allow => id_allows.push(deciding(Source::Identity(i), s)),
            }
        }
    }
    for s in &trust.statements {
        let named = names_caller(s, caller);
        if named == Named::No || !applies(s, req) {
            continue;
        }
        match (s.effect, named) {
            (Effect::Deny, _) => denies.push(deciding(Source::Resource, s)),
            (Effect::Allow, Named::Directly) => direct.push(deciding(Source::Resource, s)),
            (Effect::Allow, _) => via_account.push(deciding(Source::Resource, s)),
        }
    }
    if !denies.is_empty() {
        return Decision::deny(Reason::ExplicitDeny, denies);
    }
    let allowed = if !cross && !direct.is_empty() {
        true
    } else {
        let trusted = !direct.is_empty() || !via_account.is_empty();
        trusted && !id_allows.is_empty()
    };
    if allowed {
        let mut d = id_allows;
        d.extend(direct);
        d.extend(via_account);
        Decision { allowed: true, reason: Reason::Allowed, deciding: d }
    } else {
        Decision::deny(Reason::NoAllow, Vec::new())
    }
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
    if let Some(session) = caller.session_policy {
        let mut session_allows = false;
        for s in &session.statements {
            if applies(s, req) {
                match s.effect {
                    Effect::Deny => denies.push(deciding(Source::Session, s)),
                    Effect::Allow => session_allows = true,
                }
            }
        }
        if !session_allows {
            allows_id.clear();
        }
    }
    if let Some(p) = resource {
        for s in &p.statements {
            let named = names_caller(s, caller);
            if named == Named::No || !applies(s, req) {
                continue;
            }
            // A service acts for whoever owns the source it delivers from: an Allow counts for
            // it only when the statement binds that source (aws:SourceArn, aws:SourceAccount or
            // aws:SourceOwner). Otherwise one shared service would carry every tenant's events.
            if s.effect == Effect::Allow
                && caller.kind == PrincipalKind::Service
                && !s.conditions.iter().any(super::lint::binds_source)
            {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::{Kind, parse};

    const QUEUE: &str = "arn:aws:sqs:local:111111111111:orders";
    const ACTIONS: &[&str] = &["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"];

    /// A small deterministic generator (no dependency needed for a property this size).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n
        }
    }

    fn random_policy(r: &mut Lcg) -> Policy {
        let actions = ["sqs:SendMessage", "sqs:*", "sqs:Receive*", "sqs:DeleteMessage", "*", "sqs:Purge*"];
        let resources = ["*", QUEUE, "arn:aws:sqs:local:111111111111:other", "arn:aws:sqs:*:111111111111:ord*"];
        let n = 1 + r.next(3);
        let statements: Vec<String> = (0..n)
            .map(|_| {
                let effect = if r.next(4) == 0 { "Deny" } else { "Allow" };
                format!(
                    r#"{{"Effect":"{effect}","Action":"{}","Resource":"{}"}}"#,
                    actions[r.next(actions.len())],
                    resources[r.next(resources.len())]
                )
            })
            .collect();
        parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(",")), Kind::Identity).unwrap()
    }

    fn decide(identity: &[&Policy], session: Option<&Policy>, action: &str) -> bool {
        let context = Context::new();
        let req = Request {
            caller: Caller {
                kind: PrincipalKind::AssumedRole,
                account: Some("111111111111"),
                arn: "arn:aws:sts::111111111111:assumed-role/app/s1",
                role_arn: Some("arn:aws:iam::111111111111:role/app"),
                session_policy: session,
            },
            action,
            resource: QUEUE,
            resource_owner: Some("111111111111"),
            context: &context,
        };
        evaluate(&req, identity, None).allowed
    }

    #[test]
    fn a_session_policy_narrows_and_never_widens_the_roles_permissions() {
        let mut r = Lcg(7);
        let mut narrowed = 0;
        for _ in 0..3000 {
            let role: Vec<Policy> = (0..1 + r.next(2)).map(|_| random_policy(&mut r)).collect();
            let role: Vec<&Policy> = role.iter().collect();
            let session = random_policy(&mut r);
            for action in ACTIONS {
                let with = decide(&role, Some(&session), action);
                let without = decide(&role, None, action);
                let session_alone = decide(&[&session], None, action);
                assert!(!with || without, "widened: {action}");
                assert!(!with || session_alone, "allowed beyond the session policy: {action}");
                assert_eq!(with, without && session_alone, "{action}");
                narrowed += usize::from(without && !with);
            }
        }
        assert!(narrowed > 100, "the generator exercises narrowing ({narrowed})");
    }

    #[test]
    fn trust_needs_the_trust_policy_and_across_accounts_the_callers_allow() {
        let context = Context::new();
        let role = "arn:aws:iam::111111111111:role/app";
        let trust = |principal: &str| {
            parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}}}"#),
                Kind::Trust,
            )
            .unwrap()
        };
        let allow = parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{role}"}}}}"#),
            Kind::Identity,
        )
        .unwrap();
        let user = |account: &'static str, arn: &'static str| Request {
            caller: Caller {
                kind: PrincipalKind::User,
                account: Some(account),
                arn,
                role_arn: None,
                session_policy: None,
            },
            action: "sts:AssumeRole",
            resource: role,
            resource_owner: Some("111111111111"),
            context: &context,
        };
        let same = user("111111111111", "arn:aws:iam::111111111111:user/dev");
        let other = user("222222222222", "arn:aws:iam::222222222222:user/ci");
        // Same account: naming the user suffices; naming the account needs the user's allow.
        assert!(evaluate_trust(&same, &[], &trust("arn:aws:iam::111111111111:user/dev")).allowed);
        assert!(!evaluate_trust(&same, &[], &trust("111111111111")).allowed);
        assert!(evaluate_trust(&same, &[&allow], &trust("111111111111")).allowed);
        // An identity allow alone never suffices: the trust policy must allow.
        assert!(!evaluate_trust(&same, &[&allow], &trust("333333333333")).allowed);
        // Across accounts: both.
        assert!(!evaluate_trust(&other, &[], &trust("222222222222")).allowed);
        assert!(!evaluate_trust(&other, &[], &trust("arn:aws:iam::222222222222:user/ci")).allowed);
        assert!(evaluate_trust(&other, &[&allow], &trust("222222222222")).allowed);
        assert!(!evaluate_trust(&other, &[&allow], &trust("111111111111")).allowed);
        // Roots do not assume roles.
        let root = Request {
            caller: Caller {
                kind: PrincipalKind::Root,
                account: Some("111111111111"),
                arn: "arn:aws:iam::111111111111:root",
                role_arn: None,
                session_policy: None,
            },
            ..same
        };
        assert!(!evaluate_trust(&root, &[], &trust("111111111111")).allowed);
    }
}
