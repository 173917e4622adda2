//! The IAM and STS query APIs at the same endpoint, routed by the signature's scope.

use secrecy::ExposeSecret;

use crate::harness::{RawClient, RawResponse, TestServer};

pub(crate) async fn iam(raw: &RawClient, service: &str, form: &[(&str, &str)]) -> RawResponse {
    let body = serde_urlencoded::to_string(form).unwrap();
    let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    let signed = raw.sign("/", &headers, body.as_bytes(), std::time::SystemTime::now(), &raw.secret.clone(), service);
    raw.send_raw("/", &signed, body.into_bytes()).await
}

pub(crate) fn el<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    Some(&xml[start..start + xml[start..].find(&format!("</{tag}>"))?])
}

#[tokio::test]
async fn groups_managed_policies_and_versions_through_the_iam_api() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let ok = |r: &RawResponse| assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "dev"), ("Path", "/team/")]).await;
    ok(&r);
    assert!(r.body.contains(r#"<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">"#), "{}", r.body);
    assert_eq!(el(&r.body, "Arn"), Some(format!("arn:aws:iam::{}:user/team/dev", a.id).as_str()));
    let r = iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "DEV")]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (409, Some("EntityAlreadyExists")), "names ignore case");
    ok(&iam(&raw, "iam", &[("Action", "CreateGroup"), ("GroupName", "devs")]).await);
    ok(&iam(&raw, "iam", &[("Action", "AddUserToGroup"), ("GroupName", "devs"), ("UserName", "dev")]).await);
    let r = iam(&raw, "iam", &[("Action", "GetGroup"), ("GroupName", "devs")]).await;
    assert!(r.body.contains("<UserName>dev</UserName>"), "{}", r.body);
    let r = iam(&raw, "iam", &[("Action", "ListGroupsForUser"), ("UserName", "dev")]).await;
    assert!(r.body.contains("<GroupName>devs</GroupName>"), "{}", r.body);

    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"}}"#;
    let r = iam(&raw, "iam", &[("Action", "CreatePolicy"), ("PolicyName", "list"), ("PolicyDocument", doc)]).await;
    ok(&r);
    let arn = el(&r.body, "Arn").unwrap().to_owned();
    ok(&iam(&raw, "iam", &[("Action", "AttachGroupPolicy"), ("GroupName", "devs"), ("PolicyArn", &arn)]).await);
    let r = iam(&raw, "iam", &[("Action", "ListAttachedGroupPolicies"), ("GroupName", "devs")]).await;
    assert_eq!(el(&r.body, "PolicyArn"), Some(arn.as_str()));
    for _ in 0..4 {
        ok(&iam(&raw, "iam", &[("Action", "CreatePolicyVersion"), ("PolicyArn", &arn), ("PolicyDocument", doc)]).await);
    }
    let r = iam(&raw, "iam", &[("Action", "CreatePolicyVersion"), ("PolicyArn", &arn), ("PolicyDocument", doc)]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (409, Some("LimitExceeded")), "five versions at most");
    ok(&iam(&raw, "iam", &[("Action", "SetDefaultPolicyVersion"), ("PolicyArn", &arn), ("VersionId", "v3")]).await);
    let r = iam(&raw, "iam", &[("Action", "GetPolicy"), ("PolicyArn", &arn)]).await;
    assert_eq!((el(&r.body, "DefaultVersionId"), el(&r.body, "AttachmentCount")), (Some("v3"), Some("1")));
    let r = iam(&raw, "iam", &[("Action", "DeletePolicy"), ("PolicyArn", &arn)]).await;
    assert_eq!(el(&r.body, "Code"), Some("DeleteConflict"));
    let r = iam(&raw, "iam", &[("Action", "DeleteGroup"), ("GroupName", "devs")]).await;
    assert_eq!(el(&r.body, "Code"), Some("DeleteConflict"));
    let r = iam(
        &raw,
        "iam",
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "dev"),
            ("PolicyName", "bad"),
            ("PolicyDocument", r#"{"Statement":{"Effect":"Permit","Action":"sqs:*","Resource":"*"}}"#),
        ],
    )
    .await;
    assert_eq!((r.status, el(&r.body, "Code")), (400, Some("MalformedPolicyDocument")));
    assert!(r.body.contains("Statement[0].Effect"), "the place is named: {}", r.body);
    let r = iam(&raw, "iam", &[("Action", "GetUser"), ("UserName", "nobody")]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (404, Some("NoSuchEntity")));
    let r = iam(&raw, "iam", &[("Action", "CreateInstanceProfile"), ("InstanceProfileName", "r")]).await;
    assert_eq!(el(&r.body, "Code"), Some("InvalidAction"));

    // The user, through its group's managed policy (default version 3 = the same document).
    let (key, secret) = s.tenancy.create_access_key(&a.id, "dev").await.unwrap();
    let user = s.sqs_with(&key, secret.expose_secret());
    user.list_queues().send().await.unwrap();
    let as_user = RawClient {
        url: s.url.clone(),
        http: crate::harness::http_client(&s.ca_pem),
        key,
        secret: secret.expose_secret().to_owned(),
    };
    let r = iam(&as_user, "iam", &[("Action", "CreateUser"), ("UserName", "sneaky")]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (403, Some("AccessDenied")), "{}", r.body);
    let r = iam(&as_user, "sts", &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]).await;
    assert!(
        r.body.contains(r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#),
        "{}",
        r.body
    );
    assert_eq!(el(&r.body, "Arn"), Some(format!("arn:aws:iam::{}:user/team/dev", a.id).as_str()));
    assert!(el(&r.body, "UserId").unwrap().starts_with("AIDA"));
}

#[tokio::test]
async fn a_signature_scoped_to_one_service_is_refused_by_another() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    // An IAM action under an sqs-scoped signature reaches SQS, which has no such action.
    let r = iam(&raw, "sqs", &[("Action", "CreateUser"), ("UserName", "x")]).await;
    assert_eq!(el(&r.body, "Code"), Some("InvalidAction"), "{}", r.body);
    // An SQS action under an iam-scoped signature reaches IAM, which has no such action.
    let r = iam(&raw, "iam", &[("Action", "ListQueues")]).await;
    assert_eq!(el(&r.body, "Code"), Some("InvalidAction"), "{}", r.body);
    // The JSON protocol is SQS's alone.
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.ListQueues")];
    let signed = raw.sign("/", &headers, b"{}", std::time::SystemTime::now(), &raw.secret.clone(), "sts");
    let r = raw.send_raw("/", &signed, b"{}".to_vec()).await;
    assert_eq!(r.status, 403);
    // A service Sluice does not serve.
    let r = iam(&raw, "s3", &[("Action", "ListBuckets")]).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn user_updates_policy_versions_entities_group_policies_and_key_last_use() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let ok = |r: &RawResponse| assert_eq!(r.status, 200, "{}", r.body);
    ok(&iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "old")]).await);
    ok(&iam(&raw, "iam", &[("Action", "UpdateUser"), ("UserName", "old"), ("NewUserName", "new")]).await);
    let r = iam(&raw, "iam", &[("Action", "GetUser"), ("UserName", "new")]).await;
    assert_eq!(el(&r.body, "UserName"), Some("new"));
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#;
    ok(&iam(&raw, "iam", &[("Action", "CreateGroup"), ("GroupName", "g")]).await);
    ok(&iam(
        &raw,
        "iam",
        &[("Action", "PutGroupPolicy"), ("GroupName", "g"), ("PolicyName", "p"), ("PolicyDocument", doc)],
    )
    .await);
    let r = iam(&raw, "iam", &[("Action", "ListGroupPolicies"), ("GroupName", "g")]).await;
    assert!(r.body.contains("<member>p</member>"), "{}", r.body);
    let r = iam(&raw, "iam", &[("Action", "GetGroupPolicy"), ("GroupName", "g"), ("PolicyName", "p")]).await;
    let encoded = el(&r.body, "PolicyDocument").unwrap();
    assert_eq!(
        percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap(),
        doc,
        "documents come back URL-encoded, as IAM's do"
    );
    ok(&iam(&raw, "iam", &[("Action", "DeleteGroupPolicy"), ("GroupName", "g"), ("PolicyName", "p")]).await);
    let r = iam(&raw, "iam", &[("Action", "CreatePolicy"), ("PolicyName", "mp"), ("PolicyDocument", doc)]).await;
    let arn = el(&r.body, "Arn").unwrap().to_owned();
    ok(&iam(&raw, "iam", &[("Action", "AttachUserPolicy"), ("UserName", "new"), ("PolicyArn", &arn)]).await);
    ok(&iam(&raw, "iam", &[("Action", "AttachGroupPolicy"), ("GroupName", "g"), ("PolicyArn", &arn)]).await);
    let r = iam(&raw, "iam", &[("Action", "ListPolicies")]).await;
    assert!(r.body.contains(&format!("<Arn>{arn}</Arn>")), "{}", r.body);
    let r = iam(&raw, "iam", &[("Action", "ListEntitiesForPolicy"), ("PolicyArn", &arn)]).await;
    assert!(r.body.contains("<UserName>new</UserName>") && r.body.contains("<GroupName>g</GroupName>"), "{}", r.body);
    ok(&iam(
        &raw,
        "iam",
        &[("Action", "CreatePolicyVersion"), ("PolicyArn", &arn), ("PolicyDocument", doc), ("SetAsDefault", "true")],
    )
    .await);
    let r = iam(&raw, "iam", &[("Action", "DeletePolicyVersion"), ("PolicyArn", &arn), ("VersionId", "v2")]).await;
    assert_eq!(el(&r.body, "Code"), Some("DeleteConflict"), "the default version stays");
    ok(&iam(&raw, "iam", &[("Action", "DeletePolicyVersion"), ("PolicyArn", &arn), ("VersionId", "v1")]).await);
    let r = iam(&raw, "iam", &[("Action", "ListPolicyVersions"), ("PolicyArn", &arn)]).await;
    assert!(
        !r.body.contains("<VersionId>v1</VersionId>") && r.body.contains("<VersionId>v2</VersionId>"),
        "{}",
        r.body
    );

    // A key's last use is recorded when it is first used.
    let (key, secret) = s.tenancy.create_access_key(&a.id, "new").await.unwrap();
    let r = iam(&raw, "iam", &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", &key)]).await;
    assert_eq!(el(&r.body, "ServiceName"), Some("N/A"));
    s.sqs_with(&key, secret.expose_secret()).list_queues().send().await.unwrap();
    let mut used = None;
    for _ in 0..50 {
        let r = iam(&raw, "iam", &[("Action", "GetAccessKeyLastUsed"), ("AccessKeyId", &key)]).await;
        if el(&r.body, "ServiceName") == Some("sqs") {
            used = Some(r.body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let used = used.expect("last use recorded");
    assert!(el(&used, "LastUsedDate").is_some() && el(&used, "UserName") == Some("new"), "{used}");
}

#[tokio::test]
async fn iam_quotas_apply() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let t = &s.tenancy;
    t.create_user(&a.id, "q", None).await.unwrap();
    let big = format!(
        r#"{{"Statement":{{"Sid":"{}","Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"}}}}"#,
        "x".repeat(1200)
    );
    t.put_user_policy(&a.id, "q", "one", &big).await.unwrap();
    let err = t.put_user_policy(&a.id, "q", "two", &big).await.unwrap_err();
    assert!(err.to_string().contains("2048"), "{err}");
    t.put_user_policy(&a.id, "q", "one", &big).await.expect("replacing a policy counts it once");
    for i in 0..10 {
        t.create_group(&a.id, &format!("g{i}"), None).await.unwrap();
        t.add_user_to_group(&a.id, &format!("g{i}"), "q").await.unwrap();
    }
    t.create_group(&a.id, "g10", None).await.unwrap();
    assert!(t.add_user_to_group(&a.id, "g10", "q").await.unwrap_err().to_string().contains("GroupsPerUser"));
    let doc = r#"{"Statement":{"Effect":"Allow","Action":"sqs:ListQueues","Resource":"*"}}"#;
    for i in 0..10 {
        let arn = t.create_policy(&a.id, &format!("p{i}"), None, doc).await.unwrap();
        t.attach_user_policy(&a.id, "q", &arn).await.unwrap();
    }
    let arn = t.create_policy(&a.id, "p10", None, doc).await.unwrap();
    assert!(t.attach_user_policy(&a.id, "q", &arn).await.unwrap_err().to_string().contains("10"));
}

#[tokio::test]
async fn iam_listings_page_with_max_items_and_markers() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    for i in 0..5 {
        s.tenancy.create_user(&a.id, &format!("u{i}"), None).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut form = vec![("Action", "ListUsers"), ("MaxItems", "2")];
        if let Some(m) = &marker {
            form.push(("Marker", m.as_str()));
        }
        let r = iam(&raw, "iam", &form).await;
        assert_eq!(r.status, 200, "{}", r.body);
        seen.extend(r.body.split("<UserName>").skip(1).map(|x| x.split('<').next().unwrap().to_owned()));
        if el(&r.body, "IsTruncated") == Some("true") {
            marker = Some(el(&r.body, "Marker").unwrap().to_owned());
        } else {
            break;
        }
    }
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
    let r = iam(&raw, "iam", &[("Action", "ListUsers"), ("MaxItems", "0")]).await;
    assert_eq!(el(&r.body, "Code"), Some("InvalidInput"));
}
