//! The wire format, byte by byte, so a protocol bug cannot hide behind the SDK's leniency.

use crate::harness::TestServer;

#[tokio::test]
async fn success_is_json_with_request_id_header() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let r = raw.call("CreateQueue", r#"{"QueueName":"wire"}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert_eq!(r.header("x-amzn-requestid").map(str::len), Some(36));
    assert_eq!(r.json(), serde_json::json!({ "QueueUrl": s.queue_url(&a, "wire") }));
    let r = raw
        .call("DeleteMessage", &format!(r#"{{"QueueUrl":"{}","ReceiptHandle":"x"}}"#, s.queue_url(&a, "wire")))
        .await;
    assert_eq!(r.status, 404);
    let r = raw.call("ReceiveMessage", &format!(r#"{{"QueueUrl":"{}"}}"#, s.queue_url(&a, "wire"))).await;
    assert_eq!(r.body, "{}", "an empty receive leaves Messages out");
    let r = raw.call("ListQueues", "").await;
    assert_eq!(r.status, 200, "an empty body is an empty input");
}

#[tokio::test]
async fn modeled_error_has_type_message_query_error_header_and_status() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let r = s.raw(&a).call("GetQueueUrl", r#"{"QueueName":"missing"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert_eq!(r.header("x-amzn-query-error"), Some("AWS.SimpleQueueService.NonExistentQueue;Sender"));
    assert!(r.header("x-amzn-requestid").is_some());
    let j = r.json();
    assert_eq!(j["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    assert_eq!(j["message"], "The specified queue does not exist.");
}

#[tokio::test]
async fn unmodeled_errors_carry_their_code_in_the_query_error_header() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let r = raw.call("CreateQueue", r#"{}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-query-error"), Some("MissingParameter;Sender"));
    assert_eq!(r.json()["__type"], "com.amazonaws.sqs#MissingParameter");
    let r = raw.call("NoSuchAction", "{}").await;
    assert_eq!(r.header("x-amzn-query-error"), Some("InvalidAction;Sender"));
    let r = raw.call("CreateQueue", r#"{"QueueName": 5}"#).await;
    assert_eq!(r.status, 400);
    let r = raw.call("CreateQueue", "{not json").await;
    assert_eq!(r.status, 400);
    let r = raw.call("RemovePermission", &format!(r#"{{"QueueUrl":"{}","Label":"l"}}"#, s.queue_url(&a, "x"))).await;
    assert_eq!(r.header("x-amzn-query-error"), Some("AWS.SimpleQueueService.UnsupportedOperation;Sender"));
    assert_eq!(r.json()["__type"], "com.amazonaws.sqs#UnsupportedOperation");
}

#[tokio::test]
async fn query_protocol_request_gets_a_clear_xml_error() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let body = b"Action=ListQueues&Version=2012-11-05";
    let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    let signed = raw.sign("/", &headers, body, std::time::SystemTime::now(), &raw.secret, "sqs");
    let r = raw.send_raw("/", &signed, body.to_vec()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert!(r.body.contains("<Code>AWS.SimpleQueueService.UnsupportedOperation</Code>"), "{}", r.body);
    assert!(r.body.contains("<Type>Sender</Type>") && r.body.contains("<RequestId>"), "{}", r.body);
}

#[tokio::test]
async fn request_path_names_the_queue_when_queue_url_is_absent() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    raw.call("CreateQueue", r#"{"QueueName":"bypath"}"#).await;
    let path = format!("/{}/bypath", a.id);
    let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", "AmazonSQS.SendMessage")];
    let body = br#"{"MessageBody":"via path"}"#;
    let signed = raw.sign(&path, &headers, body, std::time::SystemTime::now(), &raw.secret, "sqs");
    let r = raw.send_raw(&path, &signed, body.to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn oversized_body_is_refused_before_parsing() {
    let s = TestServer::start_with(|c| c.max_request_bytes = 4096).await;
    let a = s.account().await;
    let r = s.raw(&a).call("CreateQueue", &format!(r#"{{"QueueName":"{}"}}"#, "x".repeat(5000))).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("x-amzn-query-error"), Some("RequestEntityTooLarge;Sender"));
}

#[tokio::test]
async fn plain_http_is_not_served() {
    let s = TestServer::start().await;
    let url = format!("http://127.0.0.1:{}/", s.port);
    let r = reqwest::Client::new().post(url).body("{}").send().await;
    // A TLS endpoint cannot answer a plain-HTTP request with an HTTP response.
    assert!(r.is_err() || !r.unwrap().status().is_success());
}
