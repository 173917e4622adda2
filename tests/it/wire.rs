//! The wire format, byte by byte, so a protocol bug cannot hide behind the SDK's leniency.

use secrecy::ExposeSecret;

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
}

/// A signed query-protocol call: form body, XML answer.
async fn query(raw: &crate::harness::RawClient, form: &[(&str, &str)]) -> crate::harness::RawResponse {
    let body = serde_urlencoded::to_string(form).unwrap();
    let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    let signed = raw.sign("/", &headers, body.as_bytes(), std::time::SystemTime::now(), &raw.secret, "sqs");
    raw.send_raw("/", &signed, body.into_bytes()).await
}

fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

#[tokio::test]
async fn query_protocol_round_trip_answers_in_sqs_xml() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let r = query(
        &raw,
        &[
            ("Action", "CreateQueue"),
            ("Version", "2012-11-05"),
            ("QueueName", "xml"),
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "40"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert!(r.body.starts_with(r#"<?xml version="1.0"?><CreateQueueResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><CreateQueueResult><QueueUrl>"#), "{}", r.body);
    let url = element(&r.body, "QueueUrl").unwrap().to_owned();
    assert_eq!(url, s.queue_url(&a, "xml"));
    let rid = r.header("x-amzn-requestid").unwrap().to_owned();
    assert_eq!(element(&r.body, "RequestId"), Some(rid.as_str()));

    let body = "line\r\nwith <xml> & \"quotes\"";
    let r = query(
        &raw,
        &[
            ("Action", "SendMessage"),
            ("QueueUrl", &url),
            ("MessageBody", body),
            ("MessageAttribute.1.Name", "n"),
            ("MessageAttribute.1.Value.DataType", "Number"),
            ("MessageAttribute.1.Value.StringValue", "7"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let md5 = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(body.as_bytes()))
    };
    assert_eq!(element(&r.body, "MD5OfMessageBody"), Some(md5.as_str()));
    assert!(element(&r.body, "MessageId").is_some() && element(&r.body, "MD5OfMessageAttributes").is_some());

    let r = query(
        &raw,
        &[
            ("Action", "ReceiveMessage"),
            ("QueueUrl", &url),
            ("AttributeName.1", "All"),
            ("MessageAttributeName.1", "All"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<ReceiveMessageResult><Message>"), "{}", r.body);
    assert_eq!(
        element(&r.body, "Body"),
        Some("line&#xD;\nwith &lt;xml&gt; &amp; &quot;quotes&quot;"),
        "CR escaped so MD5s survive XML parsing"
    );
    assert!(
        r.body.contains("<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<MessageAttribute><Name>n</Name><Value><DataType>Number</DataType><StringValue>7</StringValue></Value></MessageAttribute>"), "{}", r.body);
    let handle = element(&r.body, "ReceiptHandle").unwrap().to_owned();

    let r = query(
        &raw,
        &[
            ("Action", "GetQueueAttributes"),
            ("QueueUrl", &url),
            ("AttributeName.1", "VisibilityTimeout"),
            ("AttributeName.2", "ApproximateNumberOfMessagesNotVisible"),
        ],
    )
    .await;
    assert!(r.body.contains("<Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>"), "{}", r.body);
    assert!(
        r.body.contains("<Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>1</Value></Attribute>"),
        "{}",
        r.body
    );

    let r = query(&raw, &[("Action", "DeleteMessage"), ("QueueUrl", &url), ("ReceiptHandle", &handle)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with(r#"<?xml version="1.0"?><DeleteMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ResponseMetadata><RequestId>"#), "{}", r.body);

    let r = query(&raw, &[("Action", "ListQueues")]).await;
    assert!(r.body.contains(&format!("<ListQueuesResult><QueueUrl>{url}</QueueUrl></ListQueuesResult>")), "{}", r.body);
}

#[tokio::test]
async fn query_protocol_errors_are_xml_with_legacy_codes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let raw = s.raw(&a);
    let r = query(&raw, &[("Action", "GetQueueUrl"), ("QueueName", "missing")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert_eq!(element(&r.body, "Code"), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert_eq!(element(&r.body, "Type"), Some("Sender"));
    assert!(element(&r.body, "RequestId").is_some());
    let r = query(&raw, &[("Action", "Frobnicate")]).await;
    assert_eq!(element(&r.body, "Code"), Some("InvalidAction"));
    let r = query(&raw, &[("QueueName", "q")]).await;
    assert_eq!(element(&r.body, "Code"), Some("MissingAction"));
    let r = query(
        &raw,
        &[
            ("Action", "CreateQueue"),
            ("QueueName", "q"),
            ("Attribute.1.Name", "DelaySeconds"),
            ("Attribute.1.Value", "901"),
        ],
    )
    .await;
    assert_eq!(element(&r.body, "Code"), Some("InvalidAttributeValue"));
    let r =
        query(&raw, &[("Action", "DeleteMessage"), ("QueueUrl", &s.queue_url(&a, "q")), ("ReceiptHandle", "x")]).await;
    assert_eq!(r.status, 400, "the queue does not exist: {}", r.body);
    // Unsigned: refused in XML too.
    let r = raw
        .send_raw(
            "/",
            &[("content-type".into(), "application/x-www-form-urlencoded".into())],
            b"Action=ListQueues".to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(element(&r.body, "Code"), Some("MissingAuthenticationToken"));
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

/// A new CA and a certificate for localhost/127.0.0.1 signed by it: (CA PEM, cert PEM, key PEM).
fn fresh_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let (ca, cert, key) = fresh_certificate();
    // Replaced the way certificate tools do: written aside, then renamed into place.
    for (name, pem) in [("server.key", &key), ("server.pem", &cert)] {
        let tmp = s.data_dir.path().join(format!("{name}.new"));
        std::fs::write(&tmp, pem).unwrap();
        std::fs::rename(&tmp, s.data_dir.path().join(name)).unwrap();
    }
    let new = crate::harness::sqs_client(&s.url, ca.as_bytes(), &a.access_key_id, a.secret_access_key.expose_secret());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match new.list_queues().send().await {
            Ok(_) => break,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "the new certificate is not served: {e:?}");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    }
    // A client that trusts only the old CA no longer gets through.
    let old = s.sqs(&a);
    assert!(old.list_queues().send().await.is_err());
}

#[tokio::test]
async fn metrics_off_loopback_need_https_and_a_bearer_token_while_health_stays_open() {
    use std::os::unix::fs::PermissionsExt;
    // Without a token file, a non-loopback metrics listener is refused at start.
    let refused = sluice::Config {
        data_dir: tempfile::tempdir().unwrap().path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "0.0.0.0:0".parse().unwrap(),
        database_url: Some(crate::harness::database_url().into()),
        master_key_file: Some(crate::harness::master_key_file()),
        keyring_file: Some(crate::harness::master_key_file().with_file_name("keyring")),
        bootstrap: Some(false),
        ..sluice::Config::default()
    };
    let err = sluice::build(refused, sluice::BuildOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("metrics_token_file"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "scrape-token-for-tests\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = TestServer::start_with(|c| {
        c.metrics_listen = "0.0.0.0:0".parse().unwrap();
        c.metrics_token_file = Some(token_file);
    })
    .await;
    let port = s.metrics_url.rsplit(':').next().unwrap().to_owned();
    let https = crate::harness::http_client(&s.ca_pem);
    let base = format!("https://127.0.0.1:{port}");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(https.get(format!("{base}/metrics")).send().await.unwrap()), 401);
    let wrong = https.get(format!("{base}/metrics")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(status(wrong), 401);
    let right = https.get(format!("{base}/metrics")).bearer_auth("scrape-token-for-tests").send().await.unwrap();
    assert_eq!(right.status().as_u16(), 200);
    assert!(right.text().await.unwrap().contains("sluice_db_connections"));
    assert_eq!(status(https.get(format!("{base}/health/ready")).send().await.unwrap()), 200);
    // Plain HTTP is not served there.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/health/live"))
            .await
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true)
    );
}
