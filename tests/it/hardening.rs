//! The holes a security review found, each pinned by the request that used to get through:
//! headers that choose the action left out of the signature, a `+` read two ways, a move
//! task cancelled from another account.

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::QueueAttributeName as N;
use base64::prelude::*;

use crate::harness::{TestServer, error_code};

async fn count(sqs: &aws_sdk_sqs::Client, url: &str) -> i64 {
    let got =
        sqs.get_queue_attributes().queue_url(url).attribute_names(N::ApproximateNumberOfMessages).send().await.unwrap();
    got.attributes().unwrap()[&N::ApproximateNumberOfMessages].parse().unwrap()
}

#[tokio::test]
async fn an_action_header_added_to_a_request_signed_without_it_is_refused_and_changes_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("kept").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("precious").send().await.unwrap();
    let raw = s.raw(&a);
    let path = format!("/{}/kept", a.id);

    // Header form: a request signed over host and date only (a client that left the action
    // header unsigned), replayed with the action and protocol headers of a purge.
    let signed = raw.sign(&path, &[], b"", SystemTime::now(), &raw.secret, "sqs");
    let auth = &signed.iter().find(|(k, _)| k == "authorization").unwrap().1;
    assert!(auth.contains("SignedHeaders=host;x-amz-date,"), "{auth}");
    let mut replayed = signed.clone();
    replayed.push(("x-amz-target".into(), "AmazonSQS.PurgeQueue".into()));
    replayed.push(("content-type".into(), "application/x-amz-json-1.0".into()));
    let r = raw.send_raw(&path, &replayed, Vec::new()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.header("x-amzn-query-error"), Some("AccessDenied;Sender"));
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("not signed: content-type, x-amz-target"), "{msg}");

    // Presigned form: a POST URL for an empty body, used with the headers of a purge.
    let presigned = raw.presign(
        "POST",
        "Action=GetQueueUrl&QueueName=kept",
        Duration::from_secs(300),
        &raw.secret,
        SystemTime::now(),
    );
    let r = raw
        .http
        .post(&presigned)
        .header("x-amz-target", "AmazonSQS.PurgeQueue")
        .header("content-type", "application/x-amz-json-1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("not signed"));
    assert_eq!(count(&sqs, &url).await, 1, "nothing was purged");

    // The presigned URL still does what it was signed for.
    let r = raw.http.post(&presigned).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains(&format!("<QueueUrl>{url}</QueueUrl>")));
    // And the official SDK, which signs what it sends, works as before.
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(count(&sqs, &url).await, 0);
}

#[tokio::test]
async fn a_plus_swapped_for_its_encoding_in_the_query_breaks_the_signature() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("plus").send().await.unwrap().queue_url().unwrap().to_owned();
    let raw = s.raw(&a);
    let encoded_url = percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC).to_string();
    let signed_path = format!("/?Action=SendMessage&QueueUrl={encoded_url}&MessageBody=pay%2B1");
    let signed = raw.sign(&signed_path, &[], b"", SystemTime::now(), &raw.secret, "sqs");
    // The same bytes but for one `+`: a space to the request parser.
    let swapped = signed_path.replace("pay%2B1", "pay+1");
    let r = raw.send_raw(&swapped, &signed, Vec::new()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("SignatureDoesNotMatch"), "{}", r.body);
    assert_eq!(count(&sqs, &url).await, 0);
    // As signed, it is accepted and the body is the one signed.
    let r = raw.send_raw(&signed_path, &signed, Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("pay+1"));
}

async fn dead_letter_pair(sqs: &aws_sdk_sqs::Client, account: &str, prefix: &str) -> (String, String) {
    let dlq_name = format!("{prefix}-dlq");
    sqs.create_queue().queue_name(&dlq_name).send().await.unwrap();
    let dlq_arn = format!("arn:aws:sqs:local:{account}:{dlq_name}");
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":1}}"#);
    let src = sqs
        .create_queue()
        .queue_name(format!("{prefix}-src"))
        .attributes(N::RedrivePolicy, policy)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    (src, dlq_arn)
}

#[tokio::test]
async fn another_account_cannot_cancel_or_list_a_move_task_with_a_forged_handle() {
    let s = TestServer::start_alone().await;
    let a = s.account().await;
    let b = s.account().await;
    let (sqs_a, sqs_b) = (s.sqs(&a), s.sqs(&b));
    let (src, a_dlq) = dead_letter_pair(&sqs_a, &a.id, "a").await;
    let (_, b_dlq) = dead_letter_pair(&sqs_b, &b.id, "b").await;
    for i in 0..20 {
        sqs_a.send_message().queue_url(&src).message_body(format!("m{i}")).send().await.unwrap();
    }
    // Receives past maxReceiveCount move them to A's DLQ: receive until all twenty are there
    // (each round makes what is in flight visible again).
    let a_dlq_url = format!("{}/{}/a-dlq", s.url, a.id);
    for _ in 0..100 {
        if count(&sqs_a, &a_dlq_url).await == 20 {
            break;
        }
        sqs_a.receive_message().queue_url(&src).max_number_of_messages(10).visibility_timeout(1).send().await.unwrap();
        s.clock.advance(chrono::TimeDelta::seconds(2));
    }
    assert_eq!(count(&sqs_a, &a_dlq_url).await, 20);
    let started =
        sqs_a.start_message_move_task().source_arn(&a_dlq).max_number_of_messages_per_second(1).send().await.unwrap();
    let a_handle = started.task_handle().unwrap().to_owned();
    let (task_id, _) = s.moves.check_handle(&sluice::domain::TaskHandle::parse(&a_handle).unwrap()).unwrap();

    // B writes A's task id beside its own DLQ: once in the earlier unsigned form, once under
    // a valid MAC (as if B had any handle naming A's task with its own queue).
    let unsigned = BASE64_URL_SAFE_NO_PAD.encode(format!("{task_id}|{b_dlq}"));
    let err = sqs_b.cancel_message_move_task().task_handle(&unsigned).send().await.unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException", "{err:?}");
    let minted = s.moves.issue_handle(task_id, &b_dlq);
    let err = sqs_b.cancel_message_move_task().task_handle(&minted).send().await.unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException", "{err:?}");
    // A's own handle names A's queue: B is refused before anything is looked up.
    let err = sqs_b.cancel_message_move_task().task_handle(&a_handle).send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
    let err = sqs_b.list_message_move_tasks().source_arn(&a_dlq).send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
    // B's own queue lists none of A's tasks.
    let listed = sqs_b.list_message_move_tasks().source_arn(&b_dlq).max_results(10).send().await.unwrap();
    assert!(listed.results().is_empty());

    // A's task keeps running, and A can still cancel it.
    let listed = sqs_a.list_message_move_tasks().source_arn(&a_dlq).send().await.unwrap();
    let task = &listed.results()[0];
    assert_eq!(task.status(), Some("RUNNING"));
    assert_eq!(task.task_handle(), Some(a_handle.as_str()));
    sqs_a.cancel_message_move_task().task_handle(&a_handle).send().await.unwrap();
}

use crate::iam_api::{el, iam};

/// A raw client signing as `key`/`secret`.
fn raw_as(s: &TestServer, key: &str, secret: &str) -> crate::harness::RawClient {
    crate::harness::RawClient {
        url: s.url.clone(),
        http: crate::harness::http_client(&s.ca_pem),
        key: key.to_owned(),
        secret: secret.to_owned(),
    }
}

/// A user of `account` with `policy` inline, and a raw client for it.
async fn iam_user(s: &TestServer, account: &str, name: &str, policy: &str) -> crate::harness::RawClient {
    use secrecy::ExposeSecret;
    s.tenancy.create_user(account, name, None).await.unwrap();
    s.tenancy.put_user_policy(account, name, "p", policy).await.unwrap();
    let (key, secret) = s.tenancy.create_access_key(account, name).await.unwrap();
    raw_as(s, &key, secret.expose_secret())
}

fn code(r: &crate::harness::RawResponse) -> Option<&str> {
    el(&r.body, "Code")
}

#[tokio::test]
async fn iam_actions_are_authorized_on_the_stored_arn_whatever_case_or_path_the_request_writes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let id = &a.id;
    let root = s.raw(&a);
    let ok = |r: &crate::harness::RawResponse| assert_eq!(r.status, 200, "{}", r.body);
    ok(&iam(&root, "iam", &[("Action", "CreateUser"), ("UserName", "admin")]).await);
    let all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    let r =
        iam(&root, "iam", &[("Action", "CreatePolicy"), ("PolicyName", "AdminPolicy"), ("PolicyDocument", all)]).await;
    ok(&r);
    let admin_policy = el(&r.body, "Arn").unwrap().to_owned();
    assert_eq!(admin_policy, format!("arn:aws:iam::{id}:policy/AdminPolicy"));
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{id}:root"}},"Action":"sts:AssumeRole"}}}}"#
    );
    let r = iam(
        &root,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("RoleName", "keeper"),
            ("Path", "/protected/"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await;
    ok(&r);

    // IAM on every user, role and team-a policy; never on user/admin or protected roles.
    let operator = iam_user(
        &s,
        id,
        "operator",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Action":"iam:*","Resource":["arn:aws:iam::{id}:user/*","arn:aws:iam::{id}:role/*","arn:aws:iam::{id}:policy/team-a/*"]}},
              {{"Effect":"Deny","Action":"iam:*","Resource":["arn:aws:iam::{id}:user/admin","arn:aws:iam::{id}:role/protected/*"]}}]}}"#
        ),
    )
    .await;

    // A Deny on user/admin holds whatever the letter case of UserName.
    for name in ["admin", "Admin", "ADMIN"] {
        let r =
            iam(&operator, "iam", &[("Action", "AttachUserPolicy"), ("UserName", name), ("PolicyArn", &admin_policy)])
                .await;
        assert_eq!((r.status, code(&r)), (403, Some("AccessDenied")), "{name}: {}", r.body);
        let r = iam(
            &operator,
            "iam",
            &[("Action", "PutUserPolicy"), ("UserName", name), ("PolicyName", "x"), ("PolicyDocument", all)],
        )
        .await;
        assert_eq!((r.status, code(&r)), (403, Some("AccessDenied")), "{name}: {}", r.body);
    }
    let attached = s.tenancy.attached_policies(id, "admin", false).await.unwrap();
    assert!(attached.is_empty(), "{attached:?}");
    assert!(s.tenancy.list_user_policies(id, "admin").await.unwrap().is_empty());

    // A Deny on role/protected/* holds when the request names the role bare.
    for action in ["PutRolePolicy", "DeleteRole", "UpdateAssumeRolePolicy"] {
        let r = iam(
            &operator,
            "iam",
            &[("Action", action), ("RoleName", "keeper"), ("PolicyName", "x"), ("PolicyDocument", &trust)],
        )
        .await;
        assert_eq!((r.status, code(&r)), (403, Some("AccessDenied")), "{action}: {}", r.body);
    }
    s.tenancy.role(id, "keeper").await.unwrap();

    // An Allow on policy/team-a/* does not reach /AdminPolicy by writing team-a into its ARN.
    let disguised = format!("arn:aws:iam::{id}:policy/team-a/AdminPolicy");
    let r = iam(
        &operator,
        "iam",
        &[
            ("Action", "CreatePolicyVersion"),
            ("PolicyArn", &disguised),
            ("PolicyDocument", all),
            ("SetAsDefault", "true"),
        ],
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, Some("NoSuchEntity")), "{}", r.body);
    let r = iam(
        &operator,
        "iam",
        &[("Action", "CreatePolicyVersion"), ("PolicyArn", &admin_policy), ("PolicyDocument", all)],
    )
    .await;
    assert_eq!((r.status, code(&r)), (403, Some("AccessDenied")), "{}", r.body);
    let r = iam(&operator, "iam", &[("Action", "DeletePolicy"), ("PolicyArn", &disguised)]).await;
    assert_eq!(code(&r), Some("NoSuchEntity"));
    let (default, versions) = s.tenancy.policy_versions(id, &admin_policy).await.unwrap();
    assert_eq!((default, versions.len()), (1, 1), "AdminPolicy unchanged");

    // What the operator may touch still works, in any letter case, and answers the stored name.
    ok(&iam(&root, "iam", &[("Action", "CreateUser"), ("UserName", "dev1")]).await);
    let r = iam(&operator, "iam", &[("Action", "GetUser"), ("UserName", "DEV1")]).await;
    ok(&r);
    assert_eq!(el(&r.body, "UserName"), Some("dev1"));
    // A missing user is NoSuchEntity only to a caller allowed on it; to others AccessDenied,
    // as for a user that exists.
    let r = iam(&operator, "iam", &[("Action", "GetUser"), ("UserName", "nobody")]).await;
    assert_eq!(code(&r), Some("NoSuchEntity"));
    let none = iam_user(
        &s,
        id,
        "none",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#,
    )
    .await;
    for name in ["nobody", "dev1"] {
        let r = iam(&none, "iam", &[("Action", "GetUser"), ("UserName", name)]).await;
        assert_eq!(code(&r), Some("AccessDenied"), "{name}");
    }

    // Renaming or moving a user needs the permission on the user as it will be.
    let renamer = iam_user(
        &s,
        id,
        "renamer",
        &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"iam:UpdateUser","Resource":"arn:aws:iam::{id}:user/dev*"}}}}"#),
    )
    .await;
    let r = iam(&renamer, "iam", &[("Action", "UpdateUser"), ("UserName", "dev1"), ("NewUserName", "superuser")]).await;
    assert_eq!(code(&r), Some("AccessDenied"), "{}", r.body);
    let r = iam(&renamer, "iam", &[("Action", "UpdateUser"), ("UserName", "dev1"), ("NewPath", "/ops/")]).await;
    assert_eq!(code(&r), Some("AccessDenied"), "{}", r.body);
    ok(&iam(&renamer, "iam", &[("Action", "UpdateUser"), ("UserName", "dev1"), ("NewUserName", "dev2")]).await);
    s.tenancy.user(id, "dev2").await.unwrap();
}

#[tokio::test]
async fn get_access_key_last_used_is_authorized_before_it_tells_whether_a_key_exists() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let id = &a.id;
    s.tenancy.create_user(id, "owner", None).await.unwrap();
    let (owners_key, _) = s.tenancy.create_access_key(id, "owner").await.unwrap();
    let sqs_only = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#;
    let prober = iam_user(&s, id, "prober", sqs_only).await;
    for key in ["AKIANOSUCHKEY0000000", owners_key.as_str()] {
        let r = iam(&prober, "iam", &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", key)]).await;
        assert_eq!((r.status, code(&r)), (403, Some("AccessDenied")), "{key}: {}", r.body);
    }
    let auditor = iam_user(
        &s,
        id,
        "auditor",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetAccessKeyLastUsed","Resource":"*"}}"#,
    )
    .await;
    let r = iam(&auditor, "iam", &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", "AKIANOSUCHKEY0000000")]).await;
    assert_eq!(code(&r), Some("NoSuchEntity"));
    let r = iam(&auditor, "iam", &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", &owners_key)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(el(&r.body, "UserName"), Some("owner"));
}

#[tokio::test]
async fn only_the_account_root_is_exempt_from_its_queue_policys_denies_on_repair() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.sqs(&a);
    let url = root.create_queue().queue_name("locked").send().await.unwrap().queue_url().unwrap().to_owned();
    let arn = format!("arn:aws:sqs:local:{}:locked", a.id);
    let lock = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Principal":"*","Action":["sqs:SetQueueAttributes","sqs:RemovePermission"],"Resource":"{arn}"}}}}"#
    );
    root.set_queue_attributes().queue_url(&url).attributes(N::Policy, &lock).send().await.unwrap();
    use secrecy::ExposeSecret;
    s.tenancy.create_user(&a.id, "dev", None).await.unwrap();
    let all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#;
    s.tenancy.put_user_policy(&a.id, "dev", "all", all).await.unwrap();
    let (key, secret) = s.tenancy.create_access_key(&a.id, "dev").await.unwrap();
    let dev = s.sqs_with(&key, secret.expose_secret());
    let err = dev.set_queue_attributes().queue_url(&url).attributes(N::Policy, "").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "a user of the owning account is bound by the Deny");
    let err = dev.remove_permission().queue_url(&url).label("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
    // The root repairs it.
    root.set_queue_attributes().queue_url(&url).attributes(N::Policy, "").send().await.unwrap();
    dev.set_queue_attributes().queue_url(&url).attributes(N::DelaySeconds, "1").send().await.unwrap();
}

#[tokio::test]
async fn a_service_principal_allowed_without_a_source_is_refused_and_never_admits_another_accounts_events() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let b = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("inbox").send().await.unwrap().queue_url().unwrap().to_owned();
    let arn = format!("arn:aws:sqs:local:{}:inbox", a.id);
    let open = |service: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Events","Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sqs:SendMessage","Resource":"{arn}"}}]}}"#
        )
    };
    for service in ["s3.amazonaws.com", "sns.amazonaws.com"] {
        let err =
            sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, open(service)).send().await.unwrap_err();
        assert_eq!(error_code(&err), "InvalidAttributeValue", "{service}");
        let msg = err.as_service_error().unwrap().meta().message().unwrap().to_owned();
        assert!(msg.contains("Sid Events") && msg.contains("aws:SourceAccount"), "{msg}");
        let err = s
            .sqs(&a)
            .create_queue()
            .queue_name(format!("new-{}", &service[..3]))
            .attributes(N::Policy, open(service))
            .send()
            .await
            .unwrap_err();
        // (Which of the two codes CreateQueue answers for a bad attribute is the conformance
        // issue's to settle.)
        let code = error_code(&err);
        assert!(
            matches!(code.as_str(), "InvalidAttributeValue" | "InvalidParameterValue"),
            "CreateQueue, {service}: {code}"
        );
    }
    let got = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::Policy).send().await.unwrap();
    assert!(got.attributes().is_none_or(|m| !m.contains_key(&N::Policy)), "nothing stored");

    // A policy stored before this rule existed is not honoured for a service either: B's own
    // bucket integration cannot deliver into A's queue through it.
    sqlx::query("UPDATE queues SET policy = $1 WHERE account_id = $2 AND name = 'inbox'")
        .bind(open("s3.amazonaws.com"))
        .bind(&a.id)
        .execute(s.store.pool())
        .await
        .unwrap();
    s.store.caches_changed().await;
    let bucket = crate::service_events::unique_bucket();
    let i = s.tenancy.create_integration(&b.id, "s3.amazonaws.com", std::slice::from_ref(&bucket)).await.unwrap();
    let t = s.tenancy.issue_integration_token(&b.id, &i.id, 3600).await.unwrap();
    use secrecy::ExposeSecret;
    let body = crate::service_events::minio_body(&[(&bucket, "k")], "REQ1");
    let (status, out) =
        crate::service_events::post_event(&s, &a.id, "inbox", Some(t.token.expose_secret()), &body).await;
    assert_eq!(status, 403, "{out}");
    assert_eq!(count(&sqs, &url).await, 0);
    // Bound to A's own account and bucket, the policy still refuses B's bucket.
    let bound = crate::service_events::s3_policy(&a.id, "inbox", &crate::service_events::unique_bucket());
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, &bound).send().await.unwrap();
    let (status, _) = crate::service_events::post_event(&s, &a.id, "inbox", Some(t.token.expose_secret()), &body).await;
    assert_eq!(status, 403, "B's bucket is still not A's source");
}

#[tokio::test]
async fn characters_xml_cannot_carry_are_refused_in_iam_input_and_queue_tags() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.raw(&a);
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole"}}}}"#,
        a.id
    );
    let r = iam(
        &root,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", &trust),
            ("Description", "bell\u{7}"),
        ],
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, Some("ValidationError")), "{}", r.body);
    assert!(el(&r.body, "Message").unwrap().contains("Value at &apos;description&apos;"), "{}", r.body);
    assert!(s.tenancy.role(&a.id, "r").await.is_err(), "nothing was created");
    let r = iam(
        &root,
        "iam",
        &[("Action", "CreateRole"), ("RoleName", "r"), ("AssumeRolePolicyDocument", &trust), ("Description", "ok")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (k, v) in [("Description", "\u{1b}[31m"), ("Description", "\u{85}")] {
        let r = iam(&root, "iam", &[("Action", "UpdateRole"), ("RoleName", "r"), (k, v)]).await;
        assert_eq!((r.status, code(&r)), (400, Some("ValidationError")), "{v:?}: {}", r.body);
    }
    let r = iam(&root, "iam", &[("Action", "GetUser"), ("UserName", "x\u{0}y")]).await;
    assert_eq!((r.status, code(&r)), (400, Some("ValidationError")), "{}", r.body);

    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("tagged").send().await.unwrap().queue_url().unwrap().to_owned();
    for v in ["\u{FFFE}", "a\u{7}"] {
        let err = sqs.tag_queue().queue_url(&url).tags("k", v).send().await.unwrap_err();
        assert_eq!(error_code(&err), "InvalidParameterValue", "{v:?}");
    }
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()));
}

#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_listener_matches_ipv4_source_ip_conditions_and_trusted_proxies() {
    let s = TestServer::start_with(|c| {
        c.listen = "[::]:0".parse().unwrap();
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let a = s.account().await;
    // Connect over IPv4: the socket sees `::ffff:127.0.0.1`.
    let v4 = format!("https://127.0.0.1:{}", s.port);
    let root = {
        use secrecy::ExposeSecret;
        crate::harness::sqs_client(&v4, &s.ca_pem, &a.access_key_id, a.secret_access_key.expose_secret())
    };
    let url = root.create_queue().queue_name("by-address").send().await.unwrap().queue_url().unwrap().to_owned();
    let only_from = |range: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"sqs:*","Resource":"*","Condition":{{"IpAddress":{{"aws:SourceIp":"{range}"}}}}}}}}"#
        )
    };
    let local = iam_user(&s, &a.id, "local", &only_from("127.0.0.0/8")).await;
    let local = crate::harness::RawClient { url: v4.clone(), ..local };
    let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"hi"}}"#);
    let r = local.call("SendMessage", &body).await;
    assert_eq!(r.status, 200, "an IPv4 range matches an IPv4 client: {}", r.body);

    // Through the trusted proxy (127.0.0.1, written as IPv4), the forwarded address counts.
    let remote = iam_user(&s, &a.id, "remote", &only_from("198.51.100.0/24")).await;
    let remote = crate::harness::RawClient { url: v4.clone(), ..remote };
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
    let mut signed = remote.sign("/", &headers, body.as_bytes(), SystemTime::now(), &remote.secret, "sqs");
    let r = remote.send_raw("/", &signed, body.clone().into_bytes()).await;
    assert_eq!(r.status, 403, "no forwarded address: the proxy's own: {}", r.body);
    signed.push(("x-forwarded-for".into(), "198.51.100.7".into()));
    let r = remote.send_raw("/", &signed, body.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(count(&root, &url).await, 2);
}

#[tokio::test]
async fn nothing_of_a_body_is_read_before_the_credentials_it_is_signed_with_are_known() {
    let s = TestServer::start().await;
    let now = chrono::Utc::now();
    let (date, day) = (now.format("%Y%m%dT%H%M%SZ").to_string(), now.format("%Y%m%d").to_string());
    // Announces 5 MB and sends ten bytes: answered at once, not after waiting for the rest.
    let unknown_key = format!(
        "POST / HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: AmazonSQS.ListQueues\r\nX-Amz-Date: {date}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN00/{day}/local/sqs/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={zeros}\r\n\
         Content-Length: 5000000\r\n\r\n0123456789",
        port = s.port,
        zeros = "0".repeat(64)
    );
    let bad_token = format!(
        "POST /events/s3/000000000000/q HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer not.a.token\r\nContent-Length: 5000000\r\n\r\n{{\"Rec",
        s.port
    );
    for (request, code) in [(unknown_key, "InvalidClientTokenId"), (bad_token, "InvalidClientTokenId")] {
        let (port, ca) = (s.port, s.ca_pem.clone());
        let reply = tokio::task::spawn_blocking(move || {
            crate::harness::raw_tls_exchange(port, &ca, request.as_bytes(), Duration::from_secs(10))
        })
        .await
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert!(reply.contains(code), "{reply}");
    }
}

#[tokio::test]
async fn a_pair_of_address_and_key_that_keeps_failing_gets_small_bodies_only_until_it_succeeds() {
    use sluice::auth::failures::BUDGET;
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let url = s.sqs(&a).create_queue().queue_name("q").send().await.unwrap().queue_url().unwrap().to_owned();
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
    let send = |body: String, secret: &str| {
        let signed = raw.sign("/", &headers, body.as_bytes(), SystemTime::now(), secret, "sqs");
        let raw = raw.clone();
        async move { raw.send_raw("/", &signed, body.into_bytes()).await }
    };
    let big = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{}"}}"#, "b".repeat(100 * 1024));
    let small = format!(r#"{{"QueueUrl":"{url}","MessageBody":"small"}}"#);
    for _ in 0..BUDGET {
        let r = send(small.clone(), "not-the-secret-not-the-secret-not-the-se").await;
        assert_eq!(r.status, 403);
    }
    // The pair is suspect: a body over the pre-authentication limit is refused unread…
    let r = send(big.clone(), &raw.secret).await;
    assert_eq!(r.header("x-amzn-query-error"), Some("RequestThrottled;Sender"), "{}", r.body);
    // …while another key from the same address is not affected at all…
    s.tenancy.create_user(&a.id, "other", None).await.unwrap();
    let all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#;
    s.tenancy.put_user_policy(&a.id, "other", "all", all).await.unwrap();
    let (key, secret) = s.tenancy.create_access_key(&a.id, "other").await.unwrap();
    let other = {
        use secrecy::ExposeSecret;
        raw_as(&s, &key, secret.expose_secret())
    };
    let signed = other.sign("/", &headers, big.as_bytes(), SystemTime::now(), &other.secret, "sqs");
    assert_eq!(other.send_raw("/", &signed, big.clone().into_bytes()).await.status, 200);
    // …and a valid request within the limit is served and clears the pair.
    assert_eq!(send(small.clone(), &raw.secret).await.status, 200);
    assert_eq!(send(big, &raw.secret).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_revoked_integration_token_is_refused_on_every_instance_while_its_siblings_work() {
    use secrecy::ExposeSecret;
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let bucket = crate::service_events::unique_bucket();
    let x = crate::service_events::s3_setup(&first, "events", &bucket).await;
    let account = x.account.id.clone();
    let sibling = first.tenancy.issue_integration_token(&account, &x.integration, 3600).await.unwrap();
    let third = first.tenancy.issue_integration_token(&account, &x.integration, 3600).await.unwrap();
    async fn post_one(s: &TestServer, account: &str, bucket: &str, token: String, n: usize) -> u16 {
        let body = crate::service_events::minio_body(&[(bucket, &format!("k{n}"))], &format!("R{n}"));
        crate::service_events::post_event(s, account, "events", Some(&token), &body).await.0
    }
    let post = |s, token, n| post_one(s, &account, &bucket, token, n);
    assert_eq!(post(&second, x.token.clone(), 1).await, 200, "accepted (and cached) on the second instance");

    // The operator revokes the first token, given whole.
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (account, token) = (account.clone(), x.token.clone());
        move || crate::harness::operator(&["admin", "integration", "revoke-token", "--account", &account, &token])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.starts_with("token TOK") && out.contains(" revoked"), "{out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    let mut n = 2;
    loop {
        n += 1;
        if post(&second, x.token.clone(), n).await == 403 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second instance still accepts the revoked token");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(post(&first, x.token.clone(), 100).await, 403);
    assert_eq!(post(&second, sibling.token.expose_secret().to_owned(), 101).await, 200, "its sibling still works");

    // By its id, as printed when it was issued.
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (account, id) = (account.clone(), third.token_id.clone());
        move || crate::harness::operator(&["admin", "integration", "revoke-token", "--account", &account, &id])
    })
    .await
    .unwrap();
    assert!(ok && out.contains(&third.token_id), "{out}{err}");
    assert_eq!(post(&first, third.token.expose_secret().to_owned(), 102).await, 403);
    // Another account cannot revoke this account's tokens.
    let other = first.account().await;
    let err = first.tenancy.revoke_integration_token(&other.id, sibling.token.expose_secret()).await.unwrap_err();
    assert!(err.to_string().contains("not one of account"), "{err}");
    assert_eq!(post(&first, sibling.token.expose_secret().to_owned(), 103).await, 200);
    // The same through the admin API on the IAM endpoint.
    let r = iam(
        &first.raw(&x.account),
        "iam",
        &[("Action", "RevokeServiceIntegrationToken"), ("TokenId", &sibling.token_id)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(el(&r.body, "TokenId"), Some(sibling.token_id.as_str()));
    assert_eq!(post(&first, sibling.token.expose_secret().to_owned(), 104).await, 403);
}

#[tokio::test]
async fn integration_tokens_live_thirty_days_at_most_unless_the_deployment_says_otherwise() {
    let s = TestServer::start().await;
    let bucket = crate::service_events::unique_bucket();
    let x = crate::service_events::s3_setup(&s, "events", &bucket).await;
    let month = 30 * 24 * 3600;
    assert!(s.tenancy.issue_integration_token(&x.account.id, &x.integration, month).await.is_ok());
    let err = s.tenancy.issue_integration_token(&x.account.id, &x.integration, month + 1).await.unwrap_err();
    assert!(err.to_string().contains("60 to 2592000"), "{err}");
    // A deployment with a lower cap refuses the longer tokens issued before it.
    let capped = TestServer::start_with(|c| c.integration_token_max_lifetime_seconds = 3600).await;
    let long = s.tenancy.issue_integration_token(&x.account.id, &x.integration, 7200).await.unwrap();
    let body = crate::service_events::minio_body(&[(&bucket, "k")], "R1");
    use secrecy::ExposeSecret;
    let (status, out) =
        crate::service_events::post_event(&capped, &x.account.id, "events", Some(long.token.expose_secret()), &body)
            .await;
    assert_eq!(status, 403, "{out}");
    assert!(out["message"].as_str().unwrap().contains("lifetime"), "{out}");
    let (status, _) =
        crate::service_events::post_event(&s, &x.account.id, "events", Some(long.token.expose_secret()), &body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bootstrap_is_opt_in_with_an_external_database_and_never_rewrites_a_credentials_file() {
    let id = || format!("{}", 100_000_000_000u64 + u64::from(rand_u32()) * 7);
    // An external database and no word about bootstrap: no account, no file.
    let quiet = id();
    let s = TestServer::start_with(|c| {
        c.bootstrap = None;
        c.bootstrap_account_id = quiet.clone();
    })
    .await;
    assert!(s.tenancy.root_key(&quiet).await.unwrap().is_none());
    assert!(!s.data_dir.path().join("credentials").exists());

    // Asked for: made once; the file is written when there is none and then left alone.
    let dir = tempfile::tempdir().unwrap();
    let wanted = id();
    let start = || {
        let (dir, wanted) = (dir.path().to_path_buf(), wanted.clone());
        TestServer::start_with(move |c| {
            c.bootstrap = Some(true);
            c.bootstrap_account_name = format!("bootstrap-{wanted}");
            c.bootstrap_account_id = wanted;
            c.data_dir = dir;
        })
    };
    drop(start().await);
    let file = dir.path().join("credentials");
    let written = std::fs::read_to_string(&file).unwrap();
    let (key, _) = s.tenancy.root_key(&wanted).await.unwrap().unwrap();
    assert!(written.contains(&format!("aws_access_key_id = {key}")), "{written}");
    let edited = format!("{written}# the operator's own note\n");
    std::fs::write(&file, &edited).unwrap();
    drop(start().await);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited, "not rewritten on the next start");
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    u32::from_be_bytes(b) % 100_000_000
}

#[tokio::test]
async fn a_mistyped_sluice_variable_is_named_at_start_with_the_setting_it_meant() {
    let (ok, _, err) = tokio::task::spawn_blocking(|| {
        crate::harness::operator_with_env(&["admin", "account", "list"], &[("SLUICE_REGOIN", "eu-west-1")])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(err.contains("SLUICE_REGOIN is not a Sluice setting and is ignored; did you mean SLUICE_REGION?"), "{err}");
}
