//! The engine's table-driven corpus: documents, operators, qualifiers, variables, evaluation.

use std::path::Path;

use super::context::Context;
use super::document::{Kind, Policy, parse};
use super::eval::{Caller, Decision, PrincipalKind, Reason, Request, evaluate};

fn load(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(name)).unwrap()
}

fn user(account: &'static str, name: &str) -> (String, &'static str) {
    (format!("arn:aws:iam::{account}:user/{name}"), account)
}

fn decide(
    caller_arn: &str,
    account: &str,
    action: &str,
    resource: &str,
    ctx: &Context,
    id: &[&Policy],
    res: Option<&Policy>,
) -> Decision {
    let owner = resource.split(':').nth(4).filter(|a| !a.is_empty());
    let req = Request {
        caller: Caller {
            kind: PrincipalKind::User,
            account: Some(account),
            arn: caller_arn,
            role_arn: None,
            session_policy: None,
        },
        action,
        resource,
        resource_owner: owner,
        context: ctx,
    };
    evaluate(&req, id, res)
}

#[test]
fn the_shared_valid_documents_parse_and_the_invalid_ones_are_refused_with_their_reason() {
    for (file, kind) in [
        ("queue-cross-account-send.json", Kind::Queue),
        ("queue-s3-event-notifications.json", Kind::Queue),
        ("queue-sns-fan-in.json", Kind::Queue),
        ("queue-deny-insecure-transport.json", Kind::Queue),
        ("queue-ip-restricted.json", Kind::Queue),
        ("identity-consumer.json", Kind::Identity),
        ("identity-producer-notaction.json", Kind::Identity),
        ("identity-explicit-deny-override.json", Kind::Identity),
        ("identity-username-variables.json", Kind::Identity),
    ] {
        parse(&load(file), kind).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    for (file, kind, reason) in [
        ("invalid-effect.json", Kind::Queue, "must be \"Allow\" or \"Deny\""),
        ("invalid-principal-in-identity-policy.json", Kind::Identity, "Principal is not allowed in identity policies"),
        ("invalid-condition-operator.json", Kind::Queue, "unknown condition operator 'ArnMatches'"),
        ("invalid-malformed-arn.json", Kind::Identity, "is not a valid ARN"),
        ("invalid-batch-action-and-both-action-forms.json", Kind::Identity, "mutually exclusive"),
    ] {
        let e = parse(&load(file), kind).expect_err(file);
        assert!(e.to_string().contains(reason), "{file}: {e}");
        assert!(e.at.starts_with("Statement") || e.at.starts_with("Policy"), "{file}: the place is named: {e}");
    }
}

#[test]
fn validation_refuses_what_iam_refuses() {
    let base = |stmt: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{stmt}]}}"#);
    for (stmt, reason) in [
        (r#"{"Effect":"Allow","Action":"sqs:SendMessageBatch","Resource":"*"}"#, "not an SQS action"),
        (r#"{"Effect":"Allow","Action":"SendMessage","Resource":"*"}"#, "service:Action"),
        (r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#, "empty list"),
        (r#"{"Effect":"allow","Action":"sqs:*","Resource":"*"}"#, "Allow"),
        (r#"{"Effect":"Allow","Action":"sqs:*"}"#, "Resource or NotResource is required"),
        (r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Extra":1}"#, "unknown element"),
        (
            r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"NumericLessThan":{"k":"ten"}}}"#,
            "not a number",
        ),
        (
            r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}}"#,
            "Null takes neither",
        ),
        (
            r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}"#,
            "CIDR",
        ),
        (
            r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}"#,
            "date",
        ),
        (r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}"#, "empty list"),
        (r#"{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:*:r:1:q"}"#, "service of an ARN"),
        (
            r#"{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:${aws:username}:1:q"}"#,
            "only in the resource part",
        ),
    ] {
        let e = parse(&base(stmt), Kind::Identity).expect_err(stmt);
        assert!(e.to_string().contains(reason), "{stmt}: {e}");
    }
    let dup = r#"{"Statement":[{"Sid":"a","Effect":"Allow","Action":"sqs:*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"sqs:*","Resource":"*"}]}"#;
    assert!(parse(dup, Kind::Identity).unwrap_err().to_string().contains("used twice"));
    let wild_principal = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"sqs:SendMessage","Resource":"*"}}"#;
    assert!(parse(wild_principal, Kind::Queue).unwrap_err().to_string().contains("wildcards"));
    let iam_in_queue = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"iam:CreateUser","Resource":"*"}}"#;
    assert!(parse(iam_in_queue, Kind::Queue).is_err());
    assert!(parse(&"x".repeat(9000), Kind::Queue).unwrap_err().to_string().contains("limit"));
}

/// (operator, policy value, request value that satisfies the positive form)
const OPERATORS: &[(&str, &str, &str)] = &[
    ("StringEquals", "abc", "abc"),
    ("StringNotEquals", "abc", "xyz"),
    ("StringEqualsIgnoreCase", "ABC", "abc"),
    ("StringNotEqualsIgnoreCase", "ABC", "xyz"),
    ("StringLike", "a*c", "abbbc"),
    ("StringNotLike", "a*c", "xyz"),
    ("NumericEquals", "10", "10"),
    ("NumericNotEquals", "10", "11"),
    ("NumericLessThan", "10", "9"),
    ("NumericLessThanEquals", "10", "10"),
    ("NumericGreaterThan", "10", "11"),
    ("NumericGreaterThanEquals", "10", "10"),
    ("DateEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("DateNotEquals", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("DateLessThan", "2026-01-01T00:00:00Z", "2025-06-01T00:00:00Z"),
    ("DateLessThanEquals", "2026-01-01", "2026-01-01T00:00:00Z"),
    ("DateGreaterThan", "2026-01-01T00:00:00Z", "1798761600"),
    ("DateGreaterThanEquals", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("Bool", "true", "true"),
    ("BinaryEquals", "aGk=", "hi"),
    ("IpAddress", "203.0.113.0/24", "203.0.113.7"),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1"),
    ("ArnEquals", "arn:aws:sns:*:111122223333:topic", "arn:aws:sns:us-east-1:111122223333:topic"),
    ("ArnLike", "arn:aws:s3:*:*:bucket-*", "arn:aws:s3:::bucket-1"),
    ("ArnNotEquals", "arn:aws:sns:*:111122223333:topic", "arn:aws:sns:us-east-1:999999999999:other"),
    ("ArnNotLike", "arn:aws:s3:*:*:bucket-*", "arn:aws:s3:::other"),
];

fn policy_with(effect: &str, op: &str, value: &str) -> Policy {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*"}},
            {{"Sid":"under-test","Effect":"{effect}","Action":"sqs:SendMessage","Resource":"*","Condition":{{"{op}":{{"k":"{value}"}}}}}}]}}"#
    );
    parse(&doc, Kind::Identity).unwrap_or_else(|e| panic!("{op}: {e}"))
}

#[test]
fn every_operator_by_effect_presence_and_if_exists() {
    let (arn, acct) = user("111122223333", "u");
    for &(op, value, satisfying) in OPERATORS {
        let negated = op.contains("Not");
        for if_exists in [false, true] {
            let name = if if_exists { format!("{op}IfExists") } else { op.to_string() };
            for present in [true, false] {
                let mut ctx = Context::new();
                if present {
                    ctx.set("K", satisfying);
                }
                // The condition's truth: present → satisfied (the value was chosen so);
                // absent → IfExists or a negated operator makes it true.
                let truth = if present { true } else { if_exists || negated };
                let allow = policy_with("Allow", &name, value);
                let d = decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:q", &ctx, &[&allow], None);
                assert_eq!(d.allowed, truth, "Allow {name} present={present}");
                // A Deny beside a broad Allow: denied exactly when the condition holds.
                let deny = policy_with("Deny", &name, value);
                let broad =
                    parse(r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#, Kind::Identity)
                        .unwrap();
                let d =
                    decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:q", &ctx, &[&broad, &deny], None);
                assert_eq!(!d.allowed, truth, "Deny {name} present={present}");
                if truth {
                    assert_eq!(d.reason, Reason::ExplicitDeny);
                    assert_eq!(d.deciding[0].sid.as_deref(), Some("under-test"));
                }
            }
        }
        // Present but not satisfying: the positive form is false, the negated form too.
        let mut ctx = Context::new();
        ctx.set("k", "zzz-not-matching-anything");
        let allow = policy_with("Allow", op, value);
        let d = decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:q", &ctx, &[&allow], None);
        assert_eq!(d.allowed, negated, "{op} with a non-matching value");
    }
}

#[test]
fn ip_conditions_match_ipv4_clients_seen_through_an_ipv6_socket_and_both_families_of_ranges() {
    let (arn, acct) = user("111122223333", "u");
    let q = "arn:aws:sqs:r:111122223333:q";
    for (range, ip, within) in [
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:11.1.2.3", false),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("203.0.113.7", "203.0.113.7", true),
        ("203.0.113.7", "203.0.113.8", false),
        ("10.1.2.3/8", "10.200.0.1", true),
        ("0.0.0.0/0", "192.0.2.1", true),
        ("2001:db8::/32", "2001:db8:1::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("10.0.0.0/8", "not-an-address", false),
    ] {
        let mut ctx = Context::new();
        ctx.set("aws:SourceIp", ip);
        let doc = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"{range}"}}}}}}}}"#
        );
        let p = parse(&doc, Kind::Identity).unwrap();
        assert_eq!(decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[&p], None).allowed, within, "{range} {ip}");
    }
    for bad in ["10.0.0.0/33", "10.0.0/8", "::/129", "host"] {
        let doc = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"{bad}"}}}}}}}}"#
        );
        assert!(parse(&doc, Kind::Identity).is_err(), "{bad}");
    }
}

#[test]
fn null_tests_presence_and_several_values_are_or_and_negations_are_nor() {
    let (arn, acct) = user("111122223333", "u");
    let doc = |cond: &str| {
        parse(
            &format!(r#"{{"Statement":{{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{cond}}}}}"#),
            Kind::Identity,
        )
        .unwrap()
    };
    let check = |p: &Policy, ctx: &Context| decide(&arn, acct, "sqs:SendMessage", "*", ctx, &[p], None).allowed;
    let mut with = Context::new();
    with.set("k", "b");
    let without = Context::new();
    assert!(check(&doc(r#"{"Null":{"k":"true"}}"#), &without));
    assert!(!check(&doc(r#"{"Null":{"k":"true"}}"#), &with));
    assert!(check(&doc(r#"{"Null":{"k":"false"}}"#), &with));
    assert!(check(&doc(r#"{"StringEquals":{"k":["a","b"]}}"#), &with), "OR over values");
    assert!(!check(&doc(r#"{"StringNotEquals":{"k":["a","b"]}}"#), &with), "NOR over values");
    assert!(check(&doc(r#"{"StringNotEquals":{"k":["a","c"]}}"#), &with));
    // Several keys and several operators: AND.
    let mut two = Context::new();
    two.set("k", "b").set("j", "1");
    assert!(check(&doc(r#"{"StringEquals":{"k":"b","j":"1"}}"#), &two));
    assert!(!check(&doc(r#"{"StringEquals":{"k":"b","j":"2"}}"#), &two));
    assert!(!check(&doc(r#"{"StringEquals":{"k":"b"},"NumericEquals":{"j":"2"}}"#), &two));
    // StringEquals treats * literally; StringLike does not.
    let mut star = Context::new();
    star.set("k", "a*");
    assert!(check(&doc(r#"{"StringEquals":{"k":"a*"}}"#), &star));
    assert!(!check(&doc(r#"{"StringEquals":{"k":"a*"}}"#), &with));
}

#[test]
fn set_qualifiers_follow_aws_rules_for_missing_and_empty_keys() {
    let (arn, acct) = user("111122223333", "u");
    let doc = |op: &str| {
        parse(
            &format!(r#"{{"Statement":{{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{{"{op}":{{"aws:TagKeys":["a","b"]}}}}}}}}"#),
            Kind::Identity,
        )
        .unwrap()
    };
    let check = |op: &str, tags: Option<Vec<&str>>| {
        let mut ctx = Context::new();
        if let Some(t) = tags {
            ctx.set_many("aws:TagKeys", t.into_iter().map(str::to_owned).collect());
        }
        decide(&arn, acct, "sqs:TagQueue", "*", &ctx, &[&doc(op)], None).allowed
    };
    assert!(check("ForAllValues:StringEquals", None), "missing: vacuously true");
    assert!(check("ForAllValues:StringEquals", Some(vec![])), "empty: vacuously true");
    assert!(check("ForAllValues:StringEquals", Some(vec!["a"])));
    assert!(!check("ForAllValues:StringEquals", Some(vec!["a", "c"])));
    assert!(!check("ForAnyValue:StringEquals", None), "missing: false");
    assert!(!check("ForAnyValue:StringEquals", Some(vec![])), "empty: false");
    assert!(check("ForAnyValue:StringEquals", Some(vec!["c", "b"])));
    assert!(!check("ForAnyValue:StringEquals", Some(vec!["c"])));
    assert!(check("ForAllValues:StringNotEquals", Some(vec!["c", "d"])), "no request value is a or b");
    assert!(!check("ForAllValues:StringNotEquals", Some(vec!["a", "d"])));
    assert!(check("ForAnyValue:StringNotEquals", Some(vec!["a", "d"])), "some value is neither a nor b");
}

#[test]
fn variables_resolve_from_the_context_only_in_2012_documents() {
    let doc = load("identity-username-variables.json").replace("444455556666", "111122223333");
    let p = parse(&doc, Kind::Identity).unwrap();
    let (arn, acct) = user("111122223333", "alice");
    let mut ctx = Context::new();
    ctx.set("aws:username", "alice");
    let own = "arn:aws:sqs:us-east-1:111122223333:alice-jobs";
    let other = "arn:aws:sqs:us-east-1:111122223333:bob-jobs";
    assert!(decide(&arn, acct, "sqs:SendMessage", own, &ctx, &[&p], None).allowed);
    assert!(!decide(&arn, acct, "sqs:SendMessage", other, &ctx, &[&p], None).allowed);
    // Creating needs the owner tag to equal the user name (negated operator: missing → Deny).
    assert!(!decide(&arn, acct, "sqs:CreateQueue", own, &ctx, &[&p], None).allowed);
    ctx.set("aws:RequestTag/owner", "alice");
    assert!(decide(&arn, acct, "sqs:CreateQueue", own, &ctx, &[&p], None).allowed);
    // Unresolved variable (no aws:username, e.g. a role): the resource matches nothing.
    let mut none = Context::new();
    none.set("aws:RequestTag/owner", "alice");
    assert!(!decide(&arn, acct, "sqs:SendMessage", own, &none, &[&p], None).allowed);
    // Defaults and escapes.
    let d = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:${aws:username, 'anon'}-${*}"}}"#,
        Kind::Identity,
    )
    .unwrap();
    assert!(
        decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:anon-*", &Context::new(), &[&d], None)
            .allowed
    );
    assert!(
        !decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:anon-x", &Context::new(), &[&d], None)
            .allowed
    );
    // A variable's value is literal, never a wildcard.
    let mut star = Context::new();
    star.set("aws:username", "*");
    assert!(!decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:x-1", &star, &[&d], None).allowed);
    // In a 2008 document ${…} is plain text.
    let old = parse(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:${aws:username}"}}"#,
        Kind::Identity,
    )
    .unwrap();
    assert!(!decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:alice", &ctx, &[&old], None).allowed);
    assert!(
        decide(&arn, acct, "sqs:SendMessage", "arn:aws:sqs:r:111122223333:${aws:username}", &ctx, &[&old], None)
            .allowed
    );
}

#[test]
fn not_action_not_resource_and_explicit_deny_as_in_the_shared_documents() {
    let p = parse(&load("identity-producer-notaction.json"), Kind::Identity).unwrap();
    let (arn, acct) = user("444455556666", "producer");
    let ctx = Context::new();
    let q = |region: &str, name: &str| format!("arn:aws:sqs:{region}:444455556666:{name}");
    assert!(decide(&arn, acct, "sqs:SendMessage", &q("us-east-1", "orders-eu"), &ctx, &[&p], None).allowed);
    let d = decide(&arn, acct, "sqs:SendMessage", &q("eu-west-1", "orders-eu"), &ctx, &[&p], None);
    assert_eq!((d.allowed, d.deciding[0].sid.as_deref()), (false, Some("SendOnlyInUsEast1")), "NotResource");
    let d = decide(&arn, acct, "sqs:ReceiveMessage", &q("us-east-1", "orders-eu"), &ctx, &[&p], None);
    assert_eq!((d.allowed, d.deciding[0].sid.as_deref()), (false, Some("NothingButProducingOnAnyQueue")), "NotAction");
    assert!(!decide(&arn, acct, "sqs:SendMessage", &q("us-east-1", "billing"), &ctx, &[&p], None).allowed);
    let deny = parse(&load("identity-explicit-deny-override.json"), Kind::Identity).unwrap();
    let (arn, acct) = user("444455556666", "dev");
    let prod = "arn:aws:sqs:us-east-1:444455556666:team-a-prod-orders";
    let dev = "arn:aws:sqs:us-east-1:444455556666:team-a-dev-orders";
    assert!(decide(&arn, acct, "sqs:DeleteQueue", dev, &ctx, &[&deny], None).allowed);
    assert!(decide(&arn, acct, "sqs:DeleteMessage", prod, &ctx, &[&deny], None).allowed);
    let d = decide(&arn, acct, "sqs:DeleteQueue", prod, &ctx, &[&deny], None);
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::ExplicitDeny);
    assert!(decide(&arn, acct, "sqs:SendMessage", prod, &ctx, &[&deny], None).allowed);
}

#[test]
fn accounts_roots_and_cross_account_rules() {
    let ctx = Context::new();
    let q = "arn:aws:sqs:us-east-1:444455556666:orders";
    let queue_policy = parse(&load("queue-cross-account-send.json"), Kind::Queue).unwrap();
    let grant = parse(r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#, Kind::Identity).unwrap();
    let (arn, acct) = user("111122223333", "partner");
    // Across accounts: identity Allow and queue policy both needed.
    assert!(decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[&grant], Some(&queue_policy)).allowed);
    assert!(!decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[], Some(&queue_policy)).allowed, "no identity allow");
    assert!(!decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[&grant], None).allowed, "no queue policy");
    assert!(!decide(&arn, acct, "sqs:ReceiveMessage", q, &ctx, &[&grant], Some(&queue_policy)).allowed, "not granted");
    // Never across accounts, whatever the queue policy says.
    let open =
        parse(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*"}}"#, Kind::Queue)
            .unwrap();
    let d = decide(&arn, acct, "sqs:DeleteQueue", q, &ctx, &[&grant], Some(&open));
    assert_eq!((d.allowed, d.reason), (false, Reason::NotCrossAccount));
    // Same account, no identity policy: implicit deny; the account root: allowed.
    let (arn, acct) = user("444455556666", "nobody");
    assert_eq!(decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[], None).reason, Reason::NoAllow);
    let root = Request {
        caller: Caller {
            kind: PrincipalKind::Root,
            account: Some("444455556666"),
            arn: "arn:aws:iam::444455556666:root",
            role_arn: None,
            session_policy: None,
        },
        action: "sqs:DeleteQueue",
        resource: q,
        resource_owner: Some("444455556666"),
        context: &ctx,
    };
    assert!(evaluate(&root, &[], None).allowed);
    // Same account: a queue policy naming the user itself suffices; naming the account does not.
    let named = parse(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/nobody"},"Action":"sqs:SendMessage","Resource":"*"}}"#,
        Kind::Queue,
    )
    .unwrap();
    assert!(decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[], Some(&named)).allowed);
    let account = parse(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sqs:SendMessage","Resource":"*"}}"#, Kind::Queue).unwrap();
    assert!(!decide(&arn, acct, "sqs:SendMessage", q, &ctx, &[], Some(&account)).allowed);
}

#[test]
fn service_principals_need_the_queue_policy_and_its_confused_deputy_guard() {
    let p = parse(&load("queue-s3-event-notifications.json"), Kind::Queue).unwrap();
    let text = load("queue-s3-event-notifications.json");
    let queue_arn = text.split('"').find(|s| s.starts_with("arn:aws:sqs:")).unwrap().to_owned();
    let owner = queue_arn.split(':').nth(4).unwrap().to_owned();
    let bucket = text.split('"').find(|s| s.starts_with("arn:aws:s3:")).unwrap().replace('*', "");
    let mut ctx = Context::new();
    ctx.set("aws:SourceArn", bucket.clone()).set("aws:SourceAccount", owner.clone());
    fn req<'a>(ctx: &'a Context, queue_arn: &'a str, owner: &'a str) -> Request<'a> {
        Request {
            caller: Caller {
                kind: PrincipalKind::Service,
                account: None,
                arn: "s3.amazonaws.com",
                role_arn: None,
                session_policy: None,
            },
            action: "sqs:SendMessage",
            resource: queue_arn,
            resource_owner: Some(owner),
            context: ctx,
        }
    }
    let d = evaluate(&req(&ctx, &queue_arn, &owner), &[], Some(&p));
    assert!(d.allowed, "{text} {bucket}");
    let mut foreign = Context::new();
    foreign.set("aws:SourceArn", bucket).set("aws:SourceAccount", "999999999999");
    assert!(!evaluate(&req(&foreign, &queue_arn, &owner), &[], Some(&p)).allowed, "another account's bucket");
    assert!(!evaluate(&req(&Context::new(), &queue_arn, &owner), &[], Some(&p)).allowed, "no source at all");
}

#[test]
fn adding_an_allow_never_removes_access_and_adding_a_deny_never_grants_it() {
    let statements = [
        r#"{"Effect":"Allow","Action":"sqs:*","Resource":"*"}"#,
        r#"{"Effect":"Allow","Action":"sqs:Send*","Resource":"arn:aws:sqs:*:111122223333:a*"}"#,
        r#"{"Effect":"Allow","NotAction":"sqs:DeleteQueue","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
        r#"{"Effect":"Allow","Action":"sqs:ReceiveMessage","NotResource":"arn:aws:sqs:*:*:b"}"#,
        r#"{"Effect":"Deny","Action":"sqs:SendMessage","Resource":"*","Condition":{"StringNotEquals":{"k":"v"}}}"#,
        r#"{"Effect":"Deny","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:b"}"#,
        r#"{"Effect":"Deny","NotAction":"sqs:Get*","Resource":"*","Condition":{"NumericGreaterThan":{"n":"5"}}}"#,
        r#"{"Effect":"Allow","Action":"sqs:Get*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
    ];
    let policy = |idx: &[usize]| {
        let body: Vec<&str> = idx.iter().map(|i| statements[*i]).collect();
        parse(&format!(r#"{{"Statement":[{}]}}"#, body.join(",")), Kind::Identity).unwrap()
    };
    let mut contexts = Vec::new();
    for (secure, k, n, ip) in
        [("true", "v", "1", "10.1.2.3"), ("false", "w", "9", "192.0.2.1"), ("true", "w", "6", "10.0.0.1")]
    {
        let mut c = Context::new();
        c.set("aws:SecureTransport", secure).set("k", k).set("n", n).set("aws:SourceIp", ip);
        contexts.push(c);
    }
    contexts.push(Context::new());
    let (arn, acct) = user("111122223333", "p");
    let mut checked = 0;
    // Every subset of the first six statements as the base; every statement as the addition.
    for mask in 0u32..(1 << 6) {
        let base: Vec<usize> = (0..6).filter(|i| mask & (1 << i) != 0).collect();
        if base.is_empty() {
            continue;
        }
        let before = policy(&base);
        for (extra, text) in statements.iter().enumerate() {
            let mut with = base.clone();
            with.push(extra);
            let after = policy(&with);
            let is_allow = text.contains("\"Allow\"");
            for ctx in &contexts {
                for action in ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:GetQueueUrl", "sqs:DeleteQueue"] {
                    for res in ["arn:aws:sqs:r:111122223333:a1", "arn:aws:sqs:r:111122223333:b", "*"] {
                        let b = decide(&arn, acct, action, res, ctx, &[&before], None).allowed;
                        let a = decide(&arn, acct, action, res, ctx, &[&after], None).allowed;
                        if is_allow {
                            assert!(!b || a, "an Allow removed access: {base:?}+{extra} {action} {res}");
                        } else {
                            assert!(b || !a, "a Deny granted access: {base:?}+{extra} {action} {res}");
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 10_000);
}
