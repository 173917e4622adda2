//! Authentication: each failure gets AWS's error, and nothing is served without a valid
//! signature.

use std::time::{Duration, SystemTime};

use crate::harness::{TestServer, error_code};

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let err = s
        .sqs_with(&a.access_key_id, "not-the-secret-not-the-secret-not-the-se")
        .list_queues()
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "SignatureDoesNotMatch");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn unknown_access_key_is_invalid_client_token_id() {
    let s = TestServer::start().await;
    let err = s.sqs_with("AKIAUNKNOWNUNKNOWN00", "secret").list_queues().send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidClientTokenId");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn unsigned_request_is_missing_authentication_token() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let headers = vec![
        ("content-type".to_string(), "application/x-amz-json-1.0".to_string()),
        ("x-amz-target".to_string(), "AmazonSQS.ListQueues".to_string()),
    ];
    let r = raw.send_raw("/", &headers, b"{}".to_vec()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-query-error"), Some("MissingAuthenticationToken;Sender"));
}

#[tokio::test]
async fn signature_outside_fifteen_minutes_of_skew_is_refused_and_inside_is_accepted() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let body = b"{}";
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.ListQueues")];
    for (offset, ok) in [(-20 * 60, false), (20 * 60, false), (-10 * 60, true), (10 * 60, true)] {
        let t = if offset < 0 {
            SystemTime::now() - Duration::from_secs((-offset) as u64)
        } else {
            SystemTime::now() + Duration::from_secs(offset as u64)
        };
        let signed = raw.sign("/", &headers, body, t, &raw.secret, "sqs");
        let r = raw.send_raw("/", &signed, body.to_vec()).await;
        if ok {
            assert_eq!(r.status, 200, "{offset}: {}", r.body);
        } else {
            assert_eq!(r.status, 403, "{offset}");
            assert_eq!(r.header("x-amzn-query-error"), Some("SignatureDoesNotMatch;Sender"));
            assert!(r.json()["message"].as_str().unwrap().contains("Signature"), "{}", r.body);
        }
    }
}

#[tokio::test]
async fn body_swapped_under_a_valid_signature_is_refused() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    raw.call("CreateQueue", r#"{"QueueName":"q"}"#).await;
    let url = s.queue_url(&a, "q");
    let good = format!(r#"{{"QueueUrl":"{url}","MessageBody":"pay 1"}}"#);
    let evil = format!(r#"{{"QueueUrl":"{url}","MessageBody":"pay 1000"}}"#);
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
    let signed = raw.sign("/", &headers, good.as_bytes(), SystemTime::now(), &raw.secret, "sqs");
    let r = raw.send_raw("/", &signed, evil.into_bytes()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-query-error"), Some("SignatureDoesNotMatch;Sender"));
    // The same signature over the body it was made for is accepted.
    let r = raw.send_raw("/", &signed, good.into_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Exactly one message arrived, and it is the signed one.
    let r = raw.call("ReceiveMessage", &format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":10}}"#)).await;
    let msgs = r.json()["Messages"].as_array().unwrap().clone();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["Body"], "pay 1");
}

#[tokio::test]
async fn content_sha256_header_disagreeing_with_the_body_or_unsigned_payload_is_refused() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let body = b"{}";
    for claimed in ["UNSIGNED-PAYLOAD", "0000000000000000000000000000000000000000000000000000000000000000"] {
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.ListQueues"),
            ("x-amz-content-sha256", claimed),
        ];
        let signed = raw.sign("/", &headers, body, SystemTime::now(), &raw.secret, "sqs");
        let r = raw.send_raw("/", &signed, body.to_vec()).await;
        assert_eq!(r.status, 403, "{claimed}: {}", r.body);
    }
}

#[tokio::test]
async fn credential_scoped_to_another_service_is_refused() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.ListQueues")];
    let signed = raw.sign("/", &headers, b"{}", SystemTime::now(), &raw.secret, "iam");
    let r = raw.send_raw("/", &signed, b"{}".to_vec()).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["message"].as_str().unwrap().contains("'sqs'"), "{}", r.body);
}

#[tokio::test]
async fn a_session_token_presented_with_a_long_term_key_is_refused() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "AmazonSQS.ListQueues"),
        ("x-amz-security-token", "FQoGZXIvYXdzEXAMPLE"),
    ];
    let signed = raw.sign("/", &headers, b"{}", SystemTime::now(), &raw.secret, "sqs");
    let r = raw.send_raw("/", &signed, b"{}".to_vec()).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-query-error"), Some("InvalidClientTokenId;Sender"));
}

#[tokio::test]
async fn malformed_authorization_header_is_incomplete_signature() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let headers = vec![
        ("content-type".to_string(), "application/x-amz-json-1.0".to_string()),
        ("x-amz-target".to_string(), "AmazonSQS.ListQueues".to_string()),
        ("x-amz-date".to_string(), "20240101T000000Z".to_string()),
        (
            "authorization".to_string(),
            format!("AWS4-HMAC-SHA256 Credential={}/20240101/us-east-1/sqs/aws4_request", a.access_key_id),
        ),
    ];
    let r = raw.send_raw("/", &headers, b"{}".to_vec()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-query-error"), Some("IncompleteSignature;Sender"));
}

/// A presigned GET made now.
fn presign(raw: &crate::harness::RawClient, query: &str, expires: Duration, secret: &str) -> String {
    raw.presign("GET", query, expires, secret, SystemTime::now())
}

#[tokio::test]
async fn presigned_query_requests_are_accepted_and_their_lifetime_is_capped() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let url = presign(&raw, "Action=ListQueues&Version=2012-11-05", Duration::from_secs(300), &raw.secret);
    let r = raw.http.get(&url).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<ListQueuesResponse"), "{body}");

    let tampered = url.replace("ListQueues", "ListQueuez");
    let r = raw.http.get(&tampered).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    let wrong = presign(&raw, "Action=ListQueues&Version=2012-11-05", Duration::from_secs(300), "not-the-secret");
    let r = raw.http.get(&wrong).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // An expired presigned URL: signed two hours ago for five minutes.
    let then = SystemTime::now() - Duration::from_secs(2 * 3600);
    let expired =
        raw.presign("GET", "Action=ListQueues&Version=2012-11-05", Duration::from_secs(300), &raw.secret, then);
    let r = raw.http.get(&expired).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert!(body.contains("<Code>RequestExpired</Code>"), "{status} {body}");
    assert!((400..500).contains(&status));
    // One signed a minute ago for five minutes is still good.
    let recent = raw.presign(
        "GET",
        "Action=ListQueues&Version=2012-11-05",
        Duration::from_secs(300),
        &raw.secret,
        SystemTime::now() - Duration::from_secs(60),
    );
    assert_eq!(raw.http.get(&recent).send().await.unwrap().status().as_u16(), 200);

    // A week-long presigned URL would be a week-long bearer secret.
    let long = presign(&raw, "Action=ListQueues&Version=2012-11-05", Duration::from_secs(7 * 86_400), &raw.secret);
    let r = raw.http.get(&long).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("X-Amz-Expires"));
}
