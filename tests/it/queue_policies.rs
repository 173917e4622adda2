//! Queue policies: the Policy attribute, AddPermission/RemovePermission, and the combined
//! evaluation with identity policies across accounts.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName as N};
use secrecy::ExposeSecret;

use crate::harness::{TestServer, error_code};

/// A shared policy document with the example accounts, region and queue replaced.
fn sample(file: &str, owner: &str, partner: &str) -> String {
    std::fs::read_to_string(format!("{}/policies/{file}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("444455556666", owner)
        .replace("111122223333", partner)
        .replace("us-east-1", "local")
}

#[tokio::test]
async fn cross_account_send_needs_both_the_queue_policy_and_the_callers_own_allow() {
    let s = TestServer::start().await;
    let (owner, partner) = (s.account().await, s.account().await);
    let sqs_owner = s.sqs(&owner);
    let url = sqs_owner.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_owned();
    let missing = s.queue_url(&owner, "nothing-here");
    let root_b = s.sqs(&partner);
    // No policy yet: refused, and the same for a queue that does not exist.
    let e1 = root_b.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    let e2 = root_b.send_message().queue_url(&missing).message_body("x").send().await.unwrap_err();
    assert_eq!((error_code(&e1), error_code(&e2)), ("AccessDenied".into(), "AccessDenied".into()));

    let policy = sample("queue-cross-account-send.json", &owner.id, &partner.id);
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &policy).send().await.unwrap();
    let got = sqs_owner.get_queue_attributes().queue_url(&url).attribute_names(N::Policy).send().await.unwrap();
    assert_eq!(got.attributes().unwrap()[&N::Policy], policy, "stored exactly as written");

    // The partner's root: its account is its identity, so the queue policy suffices.
    root_b.send_message().queue_url(&url).message_body("from B").send().await.unwrap();
    let err = root_b.receive_message().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "only SendMessage was granted");
    let e1 = root_b.delete_queue().queue_url(&url).send().await.unwrap_err();
    let e2 = root_b.delete_queue().queue_url(&missing).send().await.unwrap_err();
    assert_eq!((error_code(&e1), error_code(&e2)), ("AccessDenied".into(), "AccessDenied".into()));
    // A user of B: the queue policy names B's account, which delegates to B's identity policies.
    s.tenancy.create_user(&partner.id, "app", None).await.unwrap();
    let (k, sec) = s.tenancy.create_access_key(&partner.id, "app").await.unwrap();
    let user_b = s.sqs_with(&k, sec.expose_secret());
    let err = user_b.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "no identity allow in B");
    s.tenancy
        .put_user_policy(
            &partner.id,
            "app",
            "send",
            r#"{"Statement":{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}}"#,
        )
        .await
        .unwrap();
    user_b.send_message().queue_url(&url).message_body("from B's app").send().await.unwrap();
    // The owner sees who sent what.
    let got = sqs_owner
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::SenderId)
        .send()
        .await
        .unwrap();
    let mut senders: Vec<String> =
        got.messages().iter().map(|m| m.attributes().unwrap()[&MessageSystemAttributeName::SenderId].clone()).collect();
    senders.sort();
    assert_eq!(senders.len(), 2);
    assert!(senders.contains(&partner.id) && senders.iter().any(|x| x.starts_with("AIDA")), "{senders:?}");
    // ListQueues stays the caller's own.
    assert!(root_b.list_queues().send().await.unwrap().queue_urls().is_empty());
}

#[tokio::test]
async fn an_explicit_deny_wins_and_the_owner_can_always_repair_the_policy() {
    let s = TestServer::start().await;
    let owner = s.account().await;
    let sqs = s.sqs(&owner);
    let url = sqs.create_queue().queue_name("locked").send().await.unwrap().queue_url().unwrap().to_owned();
    let arn = format!("arn:aws:sqs:local:{}:locked", owner.id);
    let deny_all = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyLoopback","Effect":"Deny","Principal":"*","Action":"sqs:*","Resource":"{arn}","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}}]}}"#
    );
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, &deny_all).send().await.unwrap();
    let err = sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "even the owner's root");
    let msg = err.as_service_error().unwrap().meta().message().unwrap().to_owned();
    assert!(msg.ends_with("with an explicit deny in a resource-based policy"), "{msg}");
    // The owner removes the Deny.
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, "").send().await.unwrap();
    sqs.send_message().queue_url(&url).message_body("open again").send().await.unwrap();
}

#[tokio::test]
async fn add_and_remove_permission_edit_the_policy_as_sqs_does() {
    let s = TestServer::start().await;
    let (owner, partner) = (s.account().await, s.account().await);
    let sqs = s.sqs(&owner);
    let url = sqs.create_queue().queue_name("shared").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.add_permission()
        .queue_url(&url)
        .label("partner-send")
        .aws_account_ids(&partner.id)
        .actions("SendMessage")
        .actions("GetQueueUrl")
        .send()
        .await
        .unwrap();
    let policy = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::Policy).send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&policy.attributes().unwrap()[&N::Policy]).unwrap();
    let arn = format!("arn:aws:sqs:local:{}:shared", owner.id);
    assert_eq!(doc["Id"], format!("{arn}/SQSDefaultPolicy"));
    assert_eq!(
        doc["Statement"][0],
        serde_json::json!({
            "Sid": "partner-send",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", partner.id)},
            "Action": ["SQS:SendMessage", "SQS:GetQueueUrl"],
            "Resource": arn,
        })
    );
    let partner_sqs = s.sqs(&partner);
    let found =
        partner_sqs.get_queue_url().queue_name("shared").queue_owner_aws_account_id(&owner.id).send().await.unwrap();
    assert_eq!(found.queue_url(), Some(url.as_str()));
    partner_sqs.send_message().queue_url(&url).message_body("granted").send().await.unwrap();

    let err = sqs
        .add_permission()
        .queue_url(&url)
        .label("partner-send")
        .aws_account_ids(&partner.id)
        .actions("SendMessage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue", "duplicate label");
    let err = sqs
        .add_permission()
        .queue_url(&url)
        .label("x")
        .aws_account_ids(&partner.id)
        .actions("DeleteQueue")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue", "only the owner may delete");
    let mut eight = sqs.add_permission().queue_url(&url).label("many").aws_account_ids(&partner.id);
    for a in [
        "SendMessage",
        "ReceiveMessage",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
        "GetQueueUrl",
        "PurgeQueue",
        "ListDeadLetterSourceQueues",
    ] {
        eight = eight.actions(a);
    }
    let err = eight.send().await.unwrap_err();
    assert_eq!(error_code(&err), "OverLimit");
    let err = partner_sqs
        .add_permission()
        .queue_url(&url)
        .label("mine")
        .aws_account_ids(&partner.id)
        .actions("*")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "AddPermission is never cross-account");

    sqs.remove_permission().queue_url(&url).label("partner-send").send().await.unwrap();
    let err = sqs.remove_permission().queue_url(&url).label("partner-send").send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue", "unknown label");
    let err = partner_sqs.send_message().queue_url(&url).message_body("revoked").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
}

#[tokio::test]
async fn the_policy_attribute_is_validated_as_a_queue_policy() {
    let s = TestServer::start().await;
    let owner = s.account().await;
    let sqs = s.sqs(&owner);
    let url = sqs.create_queue().queue_name("p").send().await.unwrap().queue_url().unwrap().to_owned();
    let other = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:local:{}:other"}}}}"#,
        owner.id
    );
    let identity_style = r#"{"Statement":{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}}"#;
    for (doc, why) in [(other.as_str(), "another queue"), (identity_style, "Principal"), ("{", "JSON")] {
        let err = sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, doc).send().await.unwrap_err();
        assert_eq!(error_code(&err), "InvalidAttributeValue", "{why}");
        let msg = err.as_service_error().unwrap().meta().message().unwrap().to_owned();
        assert!(msg.contains("Policy"), "{msg}");
    }
    let got = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();
    assert!(!got.attributes().unwrap().contains_key(&N::Policy), "nothing stored");
    // A pattern matching the queue is fine.
    let pattern = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:*:{}:*"}}}}"#,
        owner.id
    );
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, &pattern).send().await.unwrap();
}

#[tokio::test]
async fn sample_queue_policies_grant_exactly_what_their_conditions_say() {
    let s = TestServer::start().await;
    let (owner, partner) = (s.account().await, s.account().await);
    let sqs_owner = s.sqs(&owner);
    let url = sqs_owner.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_owned();
    let partner_sqs = s.sqs(&partner);
    let send = |body: &'static str| partner_sqs.send_message().queue_url(&url).message_body(body).send();

    // Deny without TLS, allow the partner account (named by its bare id): every Sluice
    // request is over TLS, so the Deny never fires and the Allow does.
    let policy = sample("queue-deny-insecure-transport.json", &owner.id, &partner.id);
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &policy).send().await.unwrap();
    send("over tls").await.unwrap();

    // The IP-restricted sample, its principal made the partner's root: the office ranges
    // do not include the test client's loopback address, so the partner is refused ...
    let ip = sample("queue-ip-restricted.json", &owner.id, &partner.id).replace(
        &format!("arn:aws:iam::{}:role/order-producer", partner.id),
        &format!("arn:aws:iam::{}:root", partner.id),
    );
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &ip).send().await.unwrap();
    assert_eq!(error_code(&send("from outside").await.unwrap_err()), "AccessDenied");
    // ... and allowed once loopback is one of them.
    let ip = ip.replace("203.0.113.0/24", "127.0.0.0/8");
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &ip).send().await.unwrap();
    send("from the office").await.unwrap();
    let got = partner_sqs.get_queue_url().queue_name("orders").queue_owner_aws_account_id(&owner.id).send().await;
    assert_eq!(got.unwrap().queue_url(), Some(url.as_str()), "GetQueueUrl is granted too");

    // Service-principal samples allow only their services: an account caller gains nothing.
    let sns = sample("queue-sns-fan-in.json", &owner.id, &partner.id).replace("orders-fanin", "orders");
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &sns).send().await.unwrap();
    assert_eq!(error_code(&send("not a topic").await.unwrap_err()), "AccessDenied");

    let n = sqs_owner
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(N::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(n.attributes().unwrap()[&N::ApproximateNumberOfMessages], "2", "refused sends enqueued nothing");
}

#[tokio::test]
async fn actions_sqs_never_allows_across_accounts_stay_denied_whatever_the_queue_policy_grants() {
    let s = TestServer::start().await;
    let (owner, partner) = (s.account().await, s.account().await);
    let sqs_owner = s.sqs(&owner);
    let url = sqs_owner.create_queue().queue_name("open").send().await.unwrap().queue_url().unwrap().to_owned();
    let everything = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sqs:*","Resource":"arn:aws:sqs:local:{}:open"}}]}}"#,
        partner.id, owner.id
    );
    sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, &everything).send().await.unwrap();
    let b = s.sqs(&partner);

    // Message actions work across accounts.
    b.send_message().queue_url(&url).message_body("hello").send().await.unwrap();
    let got = b.receive_message().queue_url(&url).send().await.unwrap();
    let handle = got.messages()[0].receipt_handle().unwrap().to_owned();
    b.change_message_visibility().queue_url(&url).receipt_handle(&handle).visibility_timeout(5).send().await.unwrap();
    b.delete_message().queue_url(&url).receipt_handle(&handle).send().await.unwrap();
    b.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();

    // Management actions never do, and the refusal says why.
    let denied = [
        error_and_message(b.set_queue_attributes().queue_url(&url).attributes(N::DelaySeconds, "5").send().await),
        error_and_message(b.delete_queue().queue_url(&url).send().await),
        error_and_message(b.tag_queue().queue_url(&url).tags("k", "v").send().await),
        error_and_message(b.untag_queue().queue_url(&url).tag_keys("k").send().await),
        error_and_message(b.list_queue_tags().queue_url(&url).send().await),
        error_and_message(
            b.add_permission()
                .queue_url(&url)
                .label("x")
                .aws_account_ids(&partner.id)
                .actions("SendMessage")
                .send()
                .await,
        ),
        error_and_message(b.remove_permission().queue_url(&url).label("x").send().await),
    ];
    for (i, (code, msg)) in denied.iter().enumerate() {
        assert_eq!(code, "AccessDenied", "case {i}");
        assert!(msg.contains("cannot be performed across accounts"), "case {i}: {msg}");
    }
    // Nothing changed.
    let attrs = sqs_owner.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&N::DelaySeconds], "0");
    assert_eq!(attrs[&N::Policy], everything);
}

fn error_and_message<T, E>(r: Result<T, aws_sdk_sqs::error::SdkError<E>>) -> (String, String)
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match r {
        Ok(_) => ("Ok".into(), String::new()),
        Err(e) => {
            let meta =
                e.as_service_error().map(|s| (s.code().unwrap_or("").to_owned(), s.message().unwrap_or("").to_owned()));
            meta.unwrap_or_else(|| ("no service error".into(), format!("{e:?}")))
        }
    }
}

#[tokio::test]
async fn aws_source_ip_comes_from_x_forwarded_for_only_through_a_trusted_proxy() {
    for trusted in [true, false] {
        let s = TestServer::start_with(|c| {
            if trusted {
                c.trusted_proxies = vec!["127.0.0.0/8".into()];
            }
        })
        .await;
        let (owner, partner) = (s.account().await, s.account().await);
        let sqs_owner = s.sqs(&owner);
        let url = sqs_owner.create_queue().queue_name("office").send().await.unwrap().queue_url().unwrap().to_owned();
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:local:{}:office","Condition":{{"IpAddress":{{"aws:SourceIp":"203.0.113.0/24"}}}}}}]}}"#,
            partner.id, owner.id
        );
        sqs_owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, policy).send().await.unwrap();
        let raw = s.raw(&partner);
        let send = |xff: Option<&'static str>| {
            let raw = raw.clone();
            let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"hello"}}"#);
            async move {
                let mut headers =
                    vec![("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
                if let Some(x) = xff {
                    headers.push(("x-forwarded-for", x));
                }
                let signed = raw.sign("/", &headers, body.as_bytes(), std::time::SystemTime::now(), &raw.secret, "sqs");
                raw.send_raw("/", &signed, body.into_bytes()).await.status
            }
        };
        // The office address, forwarded by the (loopback) proxy; a proxy chain whose
        // nearest untrusted hop is the office; another address; and no header at all.
        let office = send(Some("203.0.113.7")).await;
        let chain = send(Some("198.51.100.9, 203.0.113.7, 127.0.0.2")).await;
        let elsewhere = send(Some("198.51.100.1")).await;
        let direct = send(None).await;
        if trusted {
            assert_eq!((office, chain, elsewhere, direct), (200, 200, 403, 403));
        } else {
            // Without trusted proxies the header is ignored: the peer (127.0.0.1) decides.
            assert_eq!((office, chain, elsewhere, direct), (403, 403, 403, 403));
        }
    }
}
