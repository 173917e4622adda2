//! Roles and temporary credentials: AssumeRole through the STS query API, sessions used
//! through the SDK, cross-account roles, expiry and revocation.

use aws_sdk_sqs::types::MessageSystemAttributeName as M;
use chrono::TimeDelta;

use crate::harness::{RawClient, TestServer, error_code, sqs_session_client};
use crate::iam_api::{el, iam};

/// Temporary credentials from an STS answer.
pub struct Session {
    pub key: String,
    pub secret: String,
    pub token: String,
}

fn session_of(body: &str) -> Session {
    Session {
        key: el(body, "AccessKeyId").unwrap().to_owned(),
        secret: el(body, "SecretAccessKey").unwrap().to_owned(),
        token: el(body, "SessionToken").unwrap().to_owned(),
    }
}

fn trust(principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

fn allow(actions: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"{resource}"}}]}}"#
    )
}

/// A user of `raw`'s account with its own key: (user ARN, its raw client).
async fn user(s: &TestServer, raw: &RawClient, account: &str, name: &str) -> (String, RawClient) {
    let r = iam(raw, "iam", &[("Action", "CreateUser"), ("UserName", name)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(raw, "iam", &[("Action", "CreateAccessKey"), ("UserName", name)]).await;
    let client = RawClient {
        key: el(&r.body, "AccessKeyId").unwrap().to_owned(),
        secret: el(&r.body, "SecretAccessKey").unwrap().to_owned(),
        url: s.url.clone(),
        http: raw.http.clone(),
    };
    (format!("arn:aws:iam::{account}:user/{name}"), client)
}

async fn create_role(raw: &RawClient, name: &str, trust_doc: &str, policy: Option<&str>) -> String {
    let r =
        iam(raw, "iam", &[("Action", "CreateRole"), ("RoleName", name), ("AssumeRolePolicyDocument", trust_doc)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    if let Some(p) = policy {
        let r = iam(
            raw,
            "iam",
            &[("Action", "PutRolePolicy"), ("RoleName", name), ("PolicyName", "p"), ("PolicyDocument", p)],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    el(&r.body, "Arn").unwrap().to_owned()
}

async fn assume(raw: &RawClient, role_arn: &str, extra: &[(&str, &str)]) -> crate::harness::RawResponse {
    let mut form = vec![("Action", "AssumeRole"), ("RoleArn", role_arn), ("RoleSessionName", "build-42")];
    form.extend_from_slice(extra);
    iam(raw, "sts", &form).await
}

#[tokio::test]
async fn a_role_session_acts_with_the_roles_permissions_narrowed_by_its_session_policy() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.raw(&a);
    let url = s.sqs(&a).create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    let (dev_arn, dev) = user(&s, &root, &a.id, "dev").await;
    let queue_arn = format!("arn:aws:sqs:local:{}:jobs", a.id);
    let role_arn = create_role(
        &root,
        "worker",
        &trust(&dev_arn),
        Some(&allow(r#"["sqs:SendMessage","sqs:ReceiveMessage"]"#, &queue_arn)),
    )
    .await;
    assert_eq!(role_arn, format!("arn:aws:iam::{}:role/worker", a.id));

    // The trust policy names dev itself: no identity allow needed in the same account.
    let r = assume(&dev, &role_arn, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sess = session_of(&r.body);
    assert!(sess.key.starts_with("ASIA"), "{}", sess.key);
    let role_id = el(&r.body, "AssumedRoleId").unwrap().split(':').next().unwrap().to_owned();
    assert!(role_id.starts_with("AROA"));
    assert_eq!(el(&r.body, "Arn"), Some(format!("arn:aws:sts::{}:assumed-role/worker/build-42", a.id).as_str()));

    let sqs = sqs_session_client(&s.url, &s.ca_pem, &sess.key, &sess.secret, Some(&sess.token));
    sqs.send_message().queue_url(&url).message_body("from the role").send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).message_system_attribute_names(M::SenderId).send().await.unwrap();
    let sender = got.messages()[0].attributes().unwrap().get(&M::SenderId).unwrap().clone();
    assert_eq!(sender, format!("{role_id}:build-42"), "SenderId is ROLEID:SESSION");
    // The role's policy does not grant DeleteMessage.
    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle(got.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "AccessDenied");
    // GetCallerIdentity names the session.
    let session_raw = RawClient { key: sess.key.clone(), secret: sess.secret.clone(), ..s.raw(&a) };
    let me = iam_with_token(&session_raw, &sess.token, "sts", &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(el(&me, "Arn"), Some(format!("arn:aws:sts::{}:assumed-role/worker/build-42", a.id).as_str()));
    assert_eq!(el(&me, "UserId"), Some(format!("{role_id}:build-42").as_str()));

    // A session policy that allows only SendMessage narrows the session; one that allows
    // more than the role grants no more.
    let narrow = allow(r#""sqs:SendMessage""#, "*");
    let r = assume(&dev, &role_arn, &[("Policy", &narrow)]).await;
    let narrow = session_of(&r.body);
    let sqs = sqs_session_client(&s.url, &s.ca_pem, &narrow.key, &narrow.secret, Some(&narrow.token));
    sqs.send_message().queue_url(&url).message_body("narrow").send().await.unwrap();
    let e = sqs.receive_message().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&e), "AccessDenied");
    let wide = allow(r#""sqs:*""#, "*");
    let r = assume(&dev, &role_arn, &[("Policy", &wide)]).await;
    let wide = session_of(&r.body);
    let sqs = sqs_session_client(&s.url, &s.ca_pem, &wide.key, &wide.secret, Some(&wide.token));
    let e = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&e), "AccessDenied", "the session policy cannot widen the role");
}

/// An STS/IAM query call signed with temporary credentials.
async fn iam_with_token(raw: &RawClient, token: &str, service: &str, form: &[(&str, &str)]) -> String {
    let body = serde_urlencoded::to_string(form).unwrap();
    let headers =
        [("content-type", "application/x-www-form-urlencoded; charset=utf-8"), ("x-amz-security-token", token)];
    let signed = raw.sign("/", &headers, body.as_bytes(), std::time::SystemTime::now(), &raw.secret.clone(), service);
    let r = raw.send_raw("/", &signed, body.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn cross_account_roles_need_the_trust_policy_and_the_callers_own_allow() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let (root_a, root_b) = (s.raw(&a), s.raw(&b));
    let url = s.sqs(&a).create_queue().queue_name("inbox").send().await.unwrap().queue_url().unwrap().to_owned();
    let queue_arn = format!("arn:aws:sqs:local:{}:inbox", a.id);
    let role_arn =
        create_role(&root_a, "partner-send", &trust(&b.id), Some(&allow(r#""sqs:SendMessage""#, &queue_arn))).await;
    let (_, ci) = user(&s, &root_b, &b.id, "ci").await;

    // B's user without its own allow: refused.
    let r = assume(&ci, &role_arn, &[]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (403, Some("AccessDenied")), "{}", r.body);
    // With it: the session sends to A's queue as the role.
    let doc = allow(r#""sts:AssumeRole""#, &role_arn);
    let r = iam(
        &root_b,
        "iam",
        &[("Action", "PutUserPolicy"), ("UserName", "ci"), ("PolicyName", "assume"), ("PolicyDocument", &doc)],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = assume(&ci, &role_arn, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sess = session_of(&r.body);
    let sqs = sqs_session_client(&s.url, &s.ca_pem, &sess.key, &sess.secret, Some(&sess.token));
    sqs.send_message().queue_url(&url).message_body("from B through A's role").send().await.unwrap();

    // A role whose trust policy names someone else: refused even with B's allow, and the
    // same answer as for a role that does not exist.
    let other = create_role(&root_a, "internal", &trust(&a.id), None).await;
    let doc = allow(r#""sts:AssumeRole""#, "*");
    iam(
        &root_b,
        "iam",
        &[("Action", "PutUserPolicy"), ("UserName", "ci"), ("PolicyName", "assume"), ("PolicyDocument", &doc)],
    )
    .await;
    let r1 = assume(&ci, &other, &[]).await;
    let r2 = assume(&ci, &format!("arn:aws:iam::{}:role/missing", a.id), &[]).await;
    assert_eq!((r1.status, el(&r1.body, "Code")), (403, Some("AccessDenied")));
    assert_eq!((r2.status, el(&r2.body, "Code")), (403, Some("AccessDenied")));
    // ExternalId conditions in the trust policy.
    let with_external = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"shared-7"}}}}}}]}}"#,
        b.id
    );
    let guarded = create_role(&root_a, "guarded", &with_external, None).await;
    assert_eq!(assume(&ci, &guarded, &[]).await.status, 403);
    assert_eq!(assume(&ci, &guarded, &[("ExternalId", "wrong-1")]).await.status, 403);
    assert_eq!(assume(&ci, &guarded, &[("ExternalId", "shared-7")]).await.status, 200);
}

#[tokio::test]
async fn sessions_expire_and_revoked_or_deleted_roles_sessions_stop() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.raw(&a);
    let url = s.sqs(&a).create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    let (dev_arn, dev) = user(&s, &root, &a.id, "dev").await;
    let role_arn = create_role(&root, "worker", &trust(&dev_arn), Some(&allow(r#""sqs:SendMessage""#, "*"))).await;
    let send = |sess: &Session| {
        let sqs = sqs_session_client(&s.url, &s.ca_pem, &sess.key, &sess.secret, Some(&sess.token));
        let url = url.clone();
        async move {
            sqs.send_message().queue_url(url).message_body("x").send().await.map(|_| ()).map_err(|e| error_code(&e))
        }
    };

    let short = session_of(&assume(&dev, &role_arn, &[("DurationSeconds", "900")]).await.body);
    send(&short).await.unwrap();
    s.clock.advance(TimeDelta::seconds(901));
    assert_eq!(send(&short).await, Err("ExpiredToken".into()));
    // A day after expiry the session is swept away (only sessions that ended are).
    s.clock.advance(TimeDelta::days(1));
    assert!(s.tenancy.sweep_expired_sessions().await.unwrap() >= 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE access_key_id = $1")
        .bind(&short.key)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    s.clock.advance(TimeDelta::days(-1));
    s.clock.advance(TimeDelta::seconds(-901));

    // A token that does not belong to the key, or a forged one.
    let other = session_of(&assume(&dev, &role_arn, &[]).await.body);
    let forged = Session { token: other.token.clone(), ..session_of(&assume(&dev, &role_arn, &[]).await.body) };
    assert_eq!(send(&forged).await, Err("InvalidClientTokenId".into()));

    // Revoking the role's active sessions (as `sluice admin role revoke-sessions` does).
    send(&other).await.unwrap();
    s.tenancy.revoke_role_sessions(&a.id, "worker").await.unwrap();
    assert_eq!(send(&other).await, Err("InvalidClientTokenId".into()));
    // A session issued after the revocation works ...
    s.clock.advance(TimeDelta::seconds(1));
    let later = session_of(&assume(&dev, &role_arn, &[]).await.body);
    send(&later).await.unwrap();
    // ... until the role's policy is removed, and the role is deleted.
    let r = iam(&root, "iam", &[("Action", "DeleteRole"), ("RoleName", "worker")]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (409, Some("DeleteConflict")));
    iam(&root, "iam", &[("Action", "DeleteRolePolicy"), ("RoleName", "worker"), ("PolicyName", "p")]).await;
    assert_eq!(send(&later).await, Err("AccessDenied".into()));
    let r = iam(&root, "iam", &[("Action", "DeleteRole"), ("RoleName", "worker")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(send(&later).await, Err("InvalidClientTokenId".into()));
}

#[tokio::test]
async fn bad_role_and_session_input_gets_iams_errors_and_changes_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.raw(&a);
    let (dev_arn, dev) = user(&s, &root, &a.id, "dev").await;
    let code = |r: &crate::harness::RawResponse| (r.status, el(&r.body, "Code").map(str::to_owned));
    let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#;
    for (name, doc, want) in [
        ("r1", no_principal, "MalformedPolicyDocument"),
        (
            "r2",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sqs:SendMessage"}]}"#,
            "MalformedPolicyDocument",
        ),
        ("bad name!", &trust(&dev_arn), "InvalidInput"),
    ] {
        let r =
            iam(&root, "iam", &[("Action", "CreateRole"), ("RoleName", name), ("AssumeRolePolicyDocument", doc)]).await;
        assert_eq!(code(&r), (400, Some(want.to_owned())), "{name}: {}", r.body);
    }
    let r = iam(
        &root,
        "iam",
        &[
            ("Action", "CreateRole"),
            ("RoleName", "r3"),
            ("AssumeRolePolicyDocument", &trust(&dev_arn)),
            ("MaxSessionDuration", "60"),
        ],
    )
    .await;
    assert_eq!(code(&r), (400, Some("ValidationError".to_owned())));
    let r = iam(&root, "iam", &[("Action", "ListRoles")]).await;
    assert!(!r.body.contains("<member>"), "nothing was created: {}", r.body);

    let role_arn = create_role(&root, "worker", &trust(&dev_arn), None).await;
    let r = iam(
        &root,
        "iam",
        &[("Action", "UpdateAssumeRolePolicy"), ("RoleName", "worker"), ("PolicyDocument", no_principal)],
    )
    .await;
    assert_eq!(code(&r), (400, Some("MalformedPolicyDocument".to_owned())));
    let r = iam(&root, "iam", &[("Action", "GetRole"), ("RoleName", "worker")]).await;
    assert!(r.body.contains("AssumeRolePolicyDocument"), "{}", r.body);
    assert!(r.body.contains(&urlencode(&dev_arn)), "the trust policy is unchanged: {}", r.body);

    for (extra, want) in [
        (vec![("DurationSeconds", "7200")], "ValidationError"),
        (vec![("DurationSeconds", "899")], "ValidationError"),
        (vec![("RoleSessionName", "x")], "ValidationError"),
        (vec![("Policy", "{not json")], "MalformedPolicyDocument"),
    ] {
        let mut form = vec![("Action", "AssumeRole"), ("RoleArn", role_arn.as_str())];
        if !extra.iter().any(|(k, _)| *k == "RoleSessionName") {
            form.push(("RoleSessionName", "ok-session"));
        }
        form.extend(extra.iter().copied());
        let r = iam(&dev, "sts", &form).await;
        assert_eq!(code(&r), (400, Some(want.to_owned())), "{extra:?}: {}", r.body);
    }
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE account_id = $1")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0, "no refused call issued a session");
    // Roots do not assume roles.
    let r = assume(&root, &role_arn, &[]).await;
    assert_eq!(code(&r), (403, Some("AccessDenied".to_owned())));
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn queue_policies_name_role_and_role_session_arns() {
    use aws_sdk_sqs::types::QueueAttributeName as N;
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let root_b = s.raw(&b);
    let sqs_a = s.sqs(&a);
    let url = sqs_a.create_queue().queue_name("shared").send().await.unwrap().queue_url().unwrap().to_owned();
    let (dev_arn, dev) = user(&s, &root_b, &b.id, "dev").await;
    let send_anywhere = allow(r#""sqs:SendMessage""#, "*");
    let publisher = create_role(&root_b, "publisher", &trust(&dev_arn), Some(&send_anywhere)).await;
    let other = create_role(&root_b, "other", &trust(&dev_arn), Some(&send_anywhere)).await;
    let policy = |principal: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:local:{}:shared","Condition":{{"StringEquals":{{"aws:PrincipalType":"AssumedRole"}}}}}}]}}"#,
            a.id
        )
    };
    let send = |role: String, name: &'static str| {
        let (dev, s, url) = (&dev, &s, url.clone());
        async move {
            let form = [("Action", "AssumeRole"), ("RoleArn", role.as_str()), ("RoleSessionName", name)];
            let sess = session_of(&iam(dev, "sts", &form).await.body);
            let sqs = sqs_session_client(&s.url, &s.ca_pem, &sess.key, &sess.secret, Some(&sess.token));
            sqs.send_message().queue_url(url).message_body("x").send().await.map(|_| ()).map_err(|e| error_code(&e))
        }
    };
    // The role's ARN: any of its sessions.
    sqs_a.set_queue_attributes().queue_url(&url).attributes(N::Policy, policy(&publisher)).send().await.unwrap();
    send(publisher.clone(), "s-one").await.unwrap();
    assert_eq!(send(other.clone(), "s-one").await, Err("AccessDenied".into()));
    // One session's ARN: that session only.
    let session_arn = format!("arn:aws:sts::{}:assumed-role/publisher/s-two", b.id);
    sqs_a.set_queue_attributes().queue_url(&url).attributes(N::Policy, policy(&session_arn)).send().await.unwrap();
    send(publisher.clone(), "s-two").await.unwrap();
    assert_eq!(send(publisher, "s-three").await, Err("AccessDenied".into()));
}

#[tokio::test]
async fn managed_role_policies_and_user_session_tokens_work_as_on_iam() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let root = s.raw(&a);
    let url = s.sqs(&a).create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_owned();
    let (dev_arn, dev) = user(&s, &root, &a.id, "dev").await;
    let role_arn = create_role(&root, "reader", &trust(&dev_arn), None).await;
    let doc = allow(r#""sqs:GetQueueAttributes""#, "*");
    let r =
        iam(&root, "iam", &[("Action", "CreatePolicy"), ("PolicyName", "read-attrs"), ("PolicyDocument", &doc)]).await;
    let policy_arn = el(&r.body, "Arn").unwrap().to_owned();
    let r =
        iam(&root, "iam", &[("Action", "AttachRolePolicy"), ("RoleName", "reader"), ("PolicyArn", &policy_arn)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(&root, "iam", &[("Action", "ListAttachedRolePolicies"), ("RoleName", "reader")]).await;
    assert_eq!(el(&r.body, "PolicyArn"), Some(policy_arn.as_str()));
    let sess = session_of(&assume(&dev, &role_arn, &[]).await.body);
    let sqs = sqs_session_client(&s.url, &s.ca_pem, &sess.key, &sess.secret, Some(&sess.token));
    sqs.get_queue_attributes().queue_url(&url).send().await.unwrap();
    let r =
        iam(&root, "iam", &[("Action", "DetachRolePolicy"), ("RoleName", "reader"), ("PolicyArn", &policy_arn)]).await;
    assert_eq!(r.status, 200);
    let e = sqs.get_queue_attributes().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&e), "AccessDenied", "a detached policy no longer applies to live sessions");

    // GetSessionToken: the user's own permissions, temporary; not for IAM calls.
    let doc = allow(r#""sqs:SendMessage""#, "*");
    iam(
        &root,
        "iam",
        &[("Action", "PutUserPolicy"), ("UserName", "dev"), ("PolicyName", "send"), ("PolicyDocument", &doc)],
    )
    .await;
    let r = iam(&dev, "sts", &[("Action", "GetSessionToken"), ("DurationSeconds", "900")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let st = session_of(&r.body);
    assert!(st.key.starts_with("ASIA"));
    let sqs = sqs_session_client(&s.url, &s.ca_pem, &st.key, &st.secret, Some(&st.token));
    sqs.send_message().queue_url(&url).message_body("with a session token").send().await.unwrap();
    assert_eq!(error_code(&sqs.purge_queue().queue_url(&url).send().await.unwrap_err()), "AccessDenied");
    let as_session = RawClient { key: st.key.clone(), secret: st.secret.clone(), ..s.raw(&a) };
    let body = serde_urlencoded::to_string([("Action", "ListUsers")]).unwrap();
    let headers = [
        ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("x-amz-security-token", st.token.as_str()),
    ];
    let signed = as_session.sign("/", &headers, body.as_bytes(), std::time::SystemTime::now(), &st.secret, "iam");
    let r = as_session.send_raw("/", &signed, body.into_bytes()).await;
    assert_eq!((r.status, el(&r.body, "Code")), (403, Some("AccessDenied")));
    let r = iam(&dev, "sts", &[("Action", "GetSessionToken"), ("DurationSeconds", "600")]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (400, Some("ValidationError")));
}
