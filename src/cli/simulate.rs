//! `sluice policy simulate`: a decision of the policy engine on policy files, with the
//! statements that decided it, and the confused-deputy lint of a queue policy.

use std::path::PathBuf;

use super::*;

/// Runs `sluice policy simulate`; returns the report.
pub fn simulate(args: &SimulateArgs) -> Result<String, CliError> {
    use crate::policy::context::Context;
    use crate::policy::document::{Kind, parse};
    use crate::policy::eval::{Caller, PrincipalKind, Request, Source, evaluate};
    let read = |p: &PathBuf, kind: Kind| -> Result<crate::policy::document::Policy, CliError> {
        let text = std::fs::read_to_string(p).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))?;
        parse(&text, kind).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))
    };
    let identity = args.identity_policies.iter().map(|p| read(p, Kind::Identity)).collect::<Result<Vec<_>, _>>()?;
    let queue = args.queue_policy.as_ref().map(|p| read(p, Kind::Queue)).transpose()?;
    let mut lint = String::new();
    if args.lint
        && let Some(q) = &queue
    {
        let refused = crate::policy::lint::unbound_service_allows(q);
        let findings = crate::policy::lint::confused_deputy(q);
        if findings.is_empty() && refused.is_empty() {
            lint.push_str("lint: no findings\n");
        }
        for f in &refused {
            lint.push_str(&format!("error: queue policy {f} (SetQueueAttributes refuses it)\n"));
        }
        for f in findings.iter().filter(|f| !refused.iter().any(|r| r.at == f.at)) {
            lint.push_str(&format!("warning: queue policy {f}\n"));
        }
    }
    let (Some(p), Some(action)) = (&args.principal, &args.action) else {
        return Ok(lint);
    };
    use crate::domain::PrincipalName;
    let principal = PrincipalName::parse(p)
        .ok_or_else(|| CliError::Other(format!("{p}: not a root, user or assumed-role ARN, or a service principal")))?;
    let (kind, role_arn) = match &principal {
        PrincipalName::Service(_) => (PrincipalKind::Service, None),
        PrincipalName::Root { .. } => (PrincipalKind::Root, None),
        PrincipalName::User { .. } => (PrincipalKind::User, None),
        PrincipalName::AssumedRole { role_arn, .. } => (PrincipalKind::AssumedRole, Some(role_arn.clone())),
    };
    let account = principal.account().map(|a| a.as_str().to_owned());
    let mut ctx = Context::new();
    let mut multi: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for kv in &args.context {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| CliError::Other(format!("--context {kv}: expected key=value")))?;
        multi.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    for (k, v) in multi {
        ctx.set_many(&k, v);
    }
    if let Some(a) = &account {
        ctx.set("aws:PrincipalAccount", a.clone());
    }
    ctx.set("aws:PrincipalArn", role_arn.clone().unwrap_or_else(|| p.clone()));
    let owner = crate::domain::arn_account(&args.resource).map(|a| a.as_str().to_owned());
    let req = Request {
        caller: Caller {
            kind,
            account: account.as_deref(),
            arn: p,
            role_arn: role_arn.as_deref(),
            session_policy: None,
        },
        action,
        resource: &args.resource,
        resource_owner: owner.as_deref(),
        context: &ctx,
    };
    let identity_refs: Vec<&crate::policy::document::Policy> = identity.iter().collect();
    let d = evaluate(&req, &identity_refs, queue.as_ref());
    let mut out = format!("decision: {}\nreason: {:?}\n", if d.allowed { "Allow" } else { "Deny" }, d.reason);
    for s in &d.deciding {
        let source = match s.source {
            Source::Identity(i) => format!("identity policy {}", args.identity_policies[i].display()),
            Source::Resource => "queue policy".to_string(),
            Source::Session => "session policy".to_string(),
        };
        let sid = s.sid.as_deref().map(|x| format!(" (Sid {x})")).unwrap_or_default();
        out.push_str(&format!("statement: {source}, Statement[{}]{sid}\n", s.index));
    }
    out.push_str(&lint);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
    }

    #[test]
    fn simulate_reports_the_decision_and_the_deciding_statement() {
        let args = SimulateArgs {
            principal: Some("arn:aws:iam::444455556666:user/dev".into()),
            action: Some("sqs:DeleteQueue".into()),
            resource: "arn:aws:sqs:us-east-1:444455556666:team-a-prod-orders".into(),
            identity_policies: vec![policies().join("identity-explicit-deny-override.json")],
            queue_policy: None,
            context: vec![],
            lint: false,
        };
        let out = simulate(&args).unwrap();
        assert!(out.starts_with("decision: Deny\nreason: ExplicitDeny"), "{out}");
        assert!(out.contains("(Sid NeverDestroyProduction)"), "{out}");
        let allowed = SimulateArgs { resource: "arn:aws:sqs:us-east-1:444455556666:team-a-dev-orders".into(), ..args };
        let out = simulate(&allowed).unwrap();
        assert!(out.contains("decision: Allow") && out.contains("FullAccessToTeamQueues"), "{out}");
    }

    #[test]
    fn simulate_takes_service_principals_and_context_keys() {
        let args = SimulateArgs {
            principal: Some("sns.amazonaws.com".into()),
            action: Some("sqs:SendMessage".into()),
            resource: "*".into(),
            identity_policies: vec![],
            queue_policy: Some(policies().join("queue-sns-fan-in.json")),
            context: vec![],
            lint: false,
        };
        assert!(simulate(&args).unwrap().starts_with("decision: Deny"));
        let bad = SimulateArgs { principal: Some("nobody".into()), ..args };
        assert!(simulate(&bad).is_err());
    }

    #[test]
    fn simulate_lint_flags_a_service_principal_allowed_without_a_source_condition() {
        let dir = std::env::temp_dir().join(format!("sluice-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let risky = dir.join("risky.json");
        std::fs::write(
            &risky,
            r#"{"Statement":[{"Sid":"Topics","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},
                "Action":"sqs:SendMessage","Resource":"*"}]}"#,
        )
        .unwrap();
        let lint_only = SimulateArgs {
            principal: None,
            action: None,
            resource: "*".into(),
            identity_policies: vec![],
            queue_policy: Some(risky),
            context: vec![],
            lint: true,
        };
        let out = simulate(&lint_only).unwrap();
        assert!(
            out.starts_with("error: queue policy Statement[0] (Sid Topics): allows the service principal"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1, "one finding per statement: {out}");
        let safe = SimulateArgs { queue_policy: Some(policies().join("queue-sns-fan-in.json")), ..lint_only };
        assert_eq!(simulate(&safe).unwrap(), "lint: no findings\n");
        // With a request, the decision comes first and the findings after it.
        let both = SimulateArgs {
            principal: Some("sns.amazonaws.com".into()),
            action: Some("sqs:SendMessage".into()),
            ..safe
        };
        let out = simulate(&both).unwrap();
        assert!(out.starts_with("decision: Deny") && out.ends_with("lint: no findings\n"), "{out}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn simulate_needs_a_request_unless_it_only_lints() {
        use clap::Parser;
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--action", "sqs:SendMessage"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--lint"]).is_err(), "lint needs a queue policy");
        assert!(Cli::try_parse_from(["sluice", "policy", "simulate", "--lint", "--queue-policy", "p.json"]).is_ok());
    }
}
