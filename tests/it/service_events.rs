//! Service integrations at work: storage events through the webhook sink, topic fan-in over
//! the SQS API, and the bearer tokens both use.

use aws_sdk_sqs::types::{MessageSystemAttributeName as M, QueueAttributeName as N};
use chrono::TimeDelta;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sluice::crypto::token::{Claims, SigningKey};

use crate::harness::{TestServer, http_client};

pub(crate) fn unique_bucket() -> String {
    format!("uploads-{}", uuid::Uuid::new_v4().simple())
}

/// AWS's S3-event queue policy sample, for `owner`'s queue `queue` and `bucket`.
pub(crate) fn s3_policy(owner: &str, queue: &str, bucket: &str) -> String {
    std::fs::read_to_string(format!("{}/policies/queue-s3-event-notifications.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("444455556666", owner)
        .replace("us-east-1", "local")
        .replace("uploads-events", queue)
        .replace("example-uploads-bucket", bucket)
}

/// A MinIO webhook body (as `internal/event/target/webhook.go` posts it) with one record
/// per (bucket, escaped key).
pub fn minio_body(objects: &[(&str, &str)], request_id: &str) -> String {
    let records: Vec<Value> = objects
        .iter()
        .map(|(bucket, key)| {
            json!({
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-11-25T09:40:01.123Z",
                "eventName": "s3:ObjectCreated:Put",
                "userIdentity": {"principalId": "minioadmin"},
                "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "10.0.0.7"},
                "responseElements": {
                    "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
                    "x-amz-request-id": request_id,
                    "x-minio-deployment-id": "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
                    "x-minio-origin-endpoint": "http://10.0.0.5:9000"
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"}, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {
                        "key": key,
                        "size": 2048,
                        "eTag": "0d6a3bd0d1c1b0a0f0e0d0c0b0a09080",
                        "contentType": "image/jpeg",
                        "userMetadata": {"content-type": "image/jpeg"},
                        "versionId": "1",
                        "sequencer": "187A1B2C3D4E5F61"
                    }
                },
                "source": {"host": "10.0.0.7", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"}
            })
        })
        .collect();
    let first = objects[0];
    json!({"EventName": "s3:ObjectCreated:Put", "Key": format!("{}/{}", first.0, first.1.replace('+', " ")), "Records": records})
        .to_string()
}

/// Posts to the S3 sink of `account`'s `queue`: (status, JSON body).
pub(crate) async fn post_event(
    s: &TestServer,
    account: &str,
    queue: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut req = http_client(&s.ca_pem)
        .post(format!("{}/events/s3/{account}/{queue}", s.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An SQS JSON call with a bearer token instead of a signature: (status, body).
async fn bearer_call(s: &TestServer, token: &str, action: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = http_client(&s.ca_pem)
        .post(format!("{}/", s.url))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("")
}

/// An account with a queue under the S3 sample policy, and an S3 integration for `bucket`.
pub(crate) struct S3Setup {
    pub account: sluice::tenancy::NewAccount,
    pub queue_url: String,
    pub integration: String,
    pub token: String,
}

pub(crate) async fn s3_setup(s: &TestServer, queue: &str, bucket: &str) -> S3Setup {
    let account = s.account().await;
    let sqs = s.sqs(&account);
    let queue_url = sqs.create_queue().queue_name(queue).send().await.unwrap().queue_url().unwrap().to_owned();
    let policy = s3_policy(&account.id, queue, bucket);
    sqs.set_queue_attributes().queue_url(&queue_url).attributes(N::Policy, &policy).send().await.unwrap();
    let i = s.tenancy.create_integration(&account.id, "s3.amazonaws.com", &[bucket.to_owned()]).await.unwrap();
    let t = s.tenancy.issue_integration_token(&account.id, &i.id, 3600).await.unwrap();
    S3Setup { account, queue_url, integration: i.id, token: t.token.expose_secret().to_owned() }
}

#[tokio::test]
async fn s3_events_from_a_registered_bucket_land_in_s3s_format_once() {
    let s = TestServer::start().await;
    let bucket = unique_bucket();
    let x = s3_setup(&s, "uploads-events", &bucket).await;
    let body = minio_body(&[(&bucket, "photos/red+flower.jpg")], "187A1B2C3D4E5F60");
    let (status, out) = post_event(&s, &x.account.id, "uploads-events", Some(&x.token), &body).await;
    assert_eq!((status, &out), (200, &json!({"Enqueued": 1, "Duplicates": 0})));

    let sqs = s.sqs(&x.account);
    let got =
        sqs.receive_message().queue_url(&x.queue_url).message_system_attribute_names(M::SenderId).send().await.unwrap();
    let msgs = got.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].attributes().unwrap().get(&M::SenderId).unwrap(), &x.integration, "the real sender");
    let v: Value = serde_json::from_str(msgs[0].body().unwrap()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    let r = &v["Records"][0];
    assert_eq!(v["Records"].as_array().unwrap().len(), 1);
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "local");
    assert_eq!(r["eventTime"], "2026-11-25T09:40:01.123Z");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["userIdentity"], json!({"principalId": "minioadmin"}));
    assert_eq!(r["requestParameters"], json!({"sourceIPAddress": "10.0.0.7"}));
    assert_eq!(
        r["responseElements"],
        json!({"x-amz-request-id": "187A1B2C3D4E5F60",
               "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8"})
    );
    assert_eq!(r["s3"]["s3SchemaVersion"], "1.0");
    assert_eq!(r["s3"]["configurationId"], "Config");
    assert_eq!(
        r["s3"]["bucket"],
        json!({"name": bucket, "ownerIdentity": {"principalId": "minioadmin"}, "arn": format!("arn:aws:s3:::{bucket}")})
    );
    assert_eq!(
        r["s3"]["object"],
        json!({"key": "photos/red+flower.jpg", "size": 2048, "eTag": "0d6a3bd0d1c1b0a0f0e0d0c0b0a09080",
               "versionId": "1", "sequencer": "187A1B2C3D4E5F61"})
    );
    assert_eq!(r.as_object().unwrap().len(), 9, "MinIO's own fields are dropped: {r}");

    // MinIO retries the same POST: nothing new is enqueued.
    let (status, out) = post_event(&s, &x.account.id, "uploads-events", Some(&x.token), &body).await;
    assert_eq!((status, &out), (200, &json!({"Enqueued": 0, "Duplicates": 1})));
    sqs.change_message_visibility()
        .queue_url(&x.queue_url)
        .receipt_handle(msgs[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let all = sqs.receive_message().queue_url(&x.queue_url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(all.messages().len(), 1, "the replay enqueued nothing");

    // MinIO's HEAD probe is answered without a token.
    let probe = http_client(&s.ca_pem)
        .head(format!("{}/events/s3/{}/uploads-events", s.url, x.account.id))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status().as_u16(), 200);
}

#[tokio::test]
async fn s3_events_are_all_or_nothing_and_only_for_the_integrations_own_buckets() {
    let s = TestServer::start().await;
    let bucket = unique_bucket();
    let x = s3_setup(&s, "uploads-events", &bucket).await;
    let sqs = s.sqs(&x.account);
    let count = || async {
        let a = sqs
            .get_queue_attributes()
            .queue_url(&x.queue_url)
            .attribute_names(N::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        a.attributes().unwrap()[&N::ApproximateNumberOfMessages].clone()
    };

    // A second record from a bucket the integration does not claim: nothing is enqueued.
    let stranger = unique_bucket();
    let body = minio_body(&[(&bucket, "a.txt"), (&stranger, "b.txt")], "REQ1");
    let (status, out) = post_event(&s, &x.account.id, "uploads-events", Some(&x.token), &body).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"), "{out}");
    assert_eq!(count().await, "0");

    // Another account registers its own bucket and tries it on this queue: the queue's
    // policy names this account's bucket and account, so it is refused.
    let other = s.account().await;
    let theirs = unique_bucket();
    let i = s.tenancy.create_integration(&other.id, "s3.amazonaws.com", std::slice::from_ref(&theirs)).await.unwrap();
    let t = s.tenancy.issue_integration_token(&other.id, &i.id, 3600).await.unwrap();
    let t = t.token.expose_secret();
    let (status, out) =
        post_event(&s, &x.account.id, "uploads-events", Some(t), &minio_body(&[(&theirs, "k")], "REQ2")).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"));
    // Nor can it claim this account's bucket: the bucket is not among its sources.
    let (status, out) =
        post_event(&s, &x.account.id, "uploads-events", Some(t), &minio_body(&[(&bucket, "k")], "REQ3")).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"));
    // Missing queue, same answer; no token; malformed body.
    let (status, out) =
        post_event(&s, &x.account.id, "no-such-queue", Some(&x.token), &minio_body(&[(&bucket, "k")], "R")).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"));
    let (status, out) =
        post_event(&s, &x.account.id, "uploads-events", None, &minio_body(&[(&bucket, "k")], "R")).await;
    assert_eq!((status, code(&out)), (403, "MissingAuthenticationToken"));
    let (status, out) = post_event(&s, &x.account.id, "uploads-events", Some(&x.token), "{\"Records\": 7}").await;
    assert_eq!((status, code(&out)), (400, "InvalidParameterValue"));
    assert_eq!(count().await, "0");

    // The good record alone goes through.
    let (status, _) =
        post_event(&s, &x.account.id, "uploads-events", Some(&x.token), &minio_body(&[(&bucket, "a.txt")], "REQ1"))
            .await;
    assert_eq!(status, 200);
    assert_eq!(count().await, "1");

    // S3's test message, posted by a bridge, is delivered in S3's shape.
    let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T09:00:00.000Z",
                      "Bucket": bucket, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw"});
    let (status, _) = post_event(&s, &x.account.id, "uploads-events", Some(&x.token), &test.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(count().await, "2");
}

#[tokio::test]
async fn a_bearer_token_can_only_send() {
    let s = TestServer::start().await;
    let bucket = unique_bucket();
    let x = s3_setup(&s, "uploads-events", &bucket).await;
    s.sqs(&x.account).send_message().queue_url(&x.queue_url).message_body("m").send().await.unwrap();
    let topic = format!("arn:aws:sns:local:{}:orders", x.account.id);
    let i =
        s.tenancy.create_integration(&x.account.id, "sns.amazonaws.com", std::slice::from_ref(&topic)).await.unwrap();
    let sns = s.tenancy.issue_integration_token(&x.account.id, &i.id, 3600).await.unwrap();
    let sns = sns.token.expose_secret();
    let q = json!({"QueueUrl": x.queue_url});
    for token in [x.token.as_str(), sns] {
        for action in ["ReceiveMessage", "PurgeQueue", "GetQueueAttributes", "DeleteQueue", "SetQueueAttributes"] {
            let (status, out) = bearer_call(&s, token, action, q.clone(), &[]).await;
            assert_eq!((status, code(&out)), (403, "AccessDenied"), "{action}: {out}");
        }
        let (status, out) = bearer_call(&s, token, "ListQueues", json!({}), &[]).await;
        assert_eq!((status, code(&out)), (403, "AccessDenied"));
    }
    // A storage integration sends through its event endpoint only, never a free-form body.
    let (status, out) =
        bearer_call(&s, &x.token, "SendMessage", json!({"QueueUrl": x.queue_url, "MessageBody": "forged"}), &[]).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"));
    // A topic integration cannot post storage events.
    let (status, out) =
        post_event(&s, &x.account.id, "uploads-events", Some(sns), &minio_body(&[(&bucket, "k")], "R")).await;
    assert_eq!((status, code(&out)), (403, "AccessDenied"));
    // The message is still there, untouched.
    let got = s.sqs(&x.account).receive_message().queue_url(&x.queue_url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("m"));
}

/// Signs arbitrary claims with a key the test registers for `account` (its private half
/// never stored: only verification matters here).
async fn forger(s: &TestServer, account: &str) -> SigningKey {
    let key =
        SigningKey::generate(format!("KTEST{}", uuid::Uuid::new_v4().simple()).chars().take(20).collect::<String>())
            .unwrap();
    sqlx::query(
        "INSERT INTO integration_signing_keys (kid, account_id, private_sealed, public_pem, created_at) \
         VALUES ($1, $2, '\\x00', $3, now() - interval '1 day')",
    )
    .bind(&key.kid)
    .bind(account)
    .bind(&key.public_pem)
    .execute(s.store.pool())
    .await
    .unwrap();
    key
}

#[tokio::test]
async fn bearer_tokens_are_refused_unless_issued_here_for_this_audience_and_live() {
    let s = TestServer::start().await;
    let bucket = unique_bucket();
    let x = s3_setup(&s, "uploads-events", &bucket).await;
    let now = sluice::clock::Clock::now(s.clock.as_ref()).timestamp();
    let key = forger(&s, &x.account.id).await;
    let good = Claims {
        iss: "sluice".into(),
        aud: "sluice-integrations".into(),
        sub: x.integration.clone(),
        acct: x.account.id.clone(),
        svc: "s3.amazonaws.com".into(),
        jti: "T1".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
    };
    let body = minio_body(&[(&bucket, "k")], "R-forge");
    let post = |t: String| {
        let body = body.clone();
        let s = &s;
        let account = x.account.id.clone();
        async move { post_event(s, &account, "uploads-events", Some(&t), &body).await }
    };
    let refused = |(status, v): (u16, Value), want: &str| {
        assert_eq!((status, code(&v)), (403, want), "{v}");
    };
    // The registered key signs a good token: accepted (so the refusals below are the claims').
    let (status, _) = post(key.sign(&Claims { jti: "ok".into(), ..good.clone() }).unwrap()).await;
    assert_eq!(status, 200);

    refused(post(key.sign(&Claims { exp: now - 1, nbf: now - 600, ..good.clone() }).unwrap()).await, "ExpiredToken");
    refused(
        post(key.sign(&Claims { nbf: now + 300, exp: now + 900, ..good.clone() }).unwrap()).await,
        "InvalidClientTokenId",
    );
    refused(
        post(key.sign(&Claims { aud: "another-service".into(), ..good.clone() }).unwrap()).await,
        "InvalidClientTokenId",
    );
    refused(
        post(key.sign(&Claims { iss: "https://issuer.example".into(), ..good.clone() }).unwrap()).await,
        "InvalidClientTokenId",
    );
    // A key of this account never vouches for another account's integration.
    refused(
        post(key.sign(&Claims { acct: "999999999999".into(), ..good.clone() }).unwrap()).await,
        "InvalidClientTokenId",
    );

    // alg: none, and HS256 keyed with the public key (algorithm confusion).
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = serde_json::to_value(&good).unwrap();
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT", "kid": key.kid})), b64(&claims));
    refused(post(none).await, "InvalidClientTokenId");
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(key.kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &good,
        &jsonwebtoken::EncodingKey::from_secret(key.public_pem.as_bytes()),
    )
    .unwrap();
    refused(post(hs).await, "InvalidClientTokenId");
    // An unknown kid, and a key that is not registered (signed by a stranger).
    let stranger = SigningKey::generate("KUNKNOWN0000000001").unwrap();
    refused(post(stranger.sign(&good).unwrap()).await, "InvalidClientTokenId");
    let impostor = SigningKey::from_parts(
        key.kid.clone(),
        zeroize::Zeroizing::new(stranger.private_pem().to_owned()),
        String::new(),
    );
    refused(post(impostor.sign(&good).unwrap()).await, "InvalidClientTokenId");

    // Time moves past an issued token's expiry.
    s.clock.advance(TimeDelta::seconds(3601));
    refused(post(x.token.clone()).await, "ExpiredToken");
}

#[tokio::test]
async fn revoking_an_integration_stops_its_tokens_on_another_instance_within_the_bound() {
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let bucket = unique_bucket();
    let x = s3_setup(&first, "uploads-events", &bucket).await;
    let body = minio_body(&[(&bucket, "k")], "revocation");
    let (account, token) = (x.account.id.as_str(), Some(x.token.as_str()));
    assert_eq!(
        post_event(&second, account, "uploads-events", token, &body).await.0,
        200,
        "the second instance accepts the live token (and caches it)"
    );
    first.tenancy.revoke_integration(&x.account.id, &x.integration).await.unwrap();
    assert_eq!(
        code(&post_event(&first, account, "uploads-events", token, &body).await.1),
        "InvalidClientTokenId",
        "at once where it was revoked"
    );
    // The other instance learns through the change notification; the cache TTL (30 s) is
    // the bound when a notification is lost. Poll well inside it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, v) = post_event(&second, account, "uploads-events", token, &body).await;
        if status == 403 {
            assert_eq!(code(&v), "InvalidClientTokenId");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second instance still accepts a revoked token");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn topic_integrations_deliver_snss_envelope_or_raw_messages_for_their_own_topics() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("orders-fanin").send().await.unwrap().queue_url().unwrap().to_owned();
    let policy = std::fs::read_to_string(format!("{}/policies/queue-sns-fan-in.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("444455556666", &a.id)
        .replace("us-east-1", "local");
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, &policy).send().await.unwrap();
    let created = format!("arn:aws:sns:local:{}:order-created", a.id);
    let shipped = format!("arn:aws:sns:local:{}:order-shipped", a.id);
    let i =
        s.tenancy.create_integration(&a.id, "sns.amazonaws.com", &[created.clone(), shipped.clone()]).await.unwrap();
    let t = s.tenancy.issue_integration_token(&a.id, &i.id, 3600).await.unwrap();
    let t = t.token.expose_secret();
    let send = json!({"QueueUrl": url, "MessageBody": "order 42 created",
                      "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}});

    // Several topics: the request names one.
    let (status, v) = bearer_call(&s, t, "SendMessage", send.clone(), &[]).await;
    assert_eq!((status, code(&v)), (400, "MissingParameter"));
    let (status, v) = bearer_call(
        &s,
        t,
        "SendMessage",
        send.clone(),
        &[("x-sluice-source-arn", &created), ("x-sluice-sns-subject", "Order created")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let got = sqs.receive_message().queue_url(&url).message_attribute_names("All").send().await.unwrap();
    let m = &got.messages()[0];
    assert!(m.message_attributes().is_none_or(|a| a.is_empty()), "attributes travel inside the envelope");
    let env: Value = serde_json::from_str(m.body().unwrap()).unwrap();
    assert_eq!(env["Type"], "Notification");
    assert_eq!(env["TopicArn"], created);
    assert_eq!(env["Subject"], "Order created");
    assert_eq!(env["Message"], "order 42 created");
    assert_eq!(env["MessageAttributes"]["color"], json!({"Type": "String", "Value": "red"}));
    assert!(uuid::Uuid::parse_str(env["MessageId"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(env["Timestamp"].as_str().unwrap()).is_ok());
    assert!(env.get("SigningCertURL").is_none() && env.get("UnsubscribeURL").is_none());

    // Raw delivery, batched.
    let batch = json!({"QueueUrl": url, "Entries": [
        {"Id": "a", "MessageBody": "{\"order\":1}", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "b", "MessageBody": "{\"order\":2}"}]});
    let (status, v) = bearer_call(
        &s,
        t,
        "SendMessageBatch",
        batch,
        &[("x-sluice-source-arn", &created), ("x-sluice-raw-delivery", "true")],
    )
    .await;
    assert_eq!((status, v["Successful"].as_array().map(Vec::len)), (200, Some(2)), "{v}");
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["{\"order\":1}", "{\"order\":2}"]);

    // The queue policy allows order-created only: order-shipped is refused, as is a topic
    // the integration does not claim.
    let (status, v) = bearer_call(&s, t, "SendMessage", send.clone(), &[("x-sluice-source-arn", &shipped)]).await;
    assert_eq!((status, code(&v)), (403, "AccessDenied"));
    let foreign = format!("arn:aws:sns:local:{}:order-cancelled", a.id);
    let (status, v) = bearer_call(&s, t, "SendMessage", send, &[("x-sluice-source-arn", &foreign)]).await;
    assert_eq!((status, code(&v)), (403, "AccessDenied"));
}

#[tokio::test]
async fn integrations_are_managed_through_the_admin_api_as_through_the_cli() {
    use crate::iam_api::{el, iam};
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let bucket = unique_bucket();
    let url = sqs.create_queue().queue_name("uploads-events").send().await.unwrap().queue_url().unwrap().to_owned();
    let policy = s3_policy(&a.id, "uploads-events", &bucket);
    sqs.set_queue_attributes().queue_url(&url).attributes(N::Policy, &policy).send().await.unwrap();
    let raw = s.raw(&a);

    let r = iam(
        &raw,
        "iam",
        &[
            ("Action", "CreateServiceIntegration"),
            ("Service", "s3.amazonaws.com"),
            ("Sources.member.1", &bucket),
            ("DurationSeconds", "3600"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = el(&r.body, "IntegrationId").unwrap().to_owned();
    let token = el(&r.body, "BearerToken").unwrap().to_owned();
    assert_eq!(el(&r.body, "Status"), Some("Active"));
    let (status, _) = post_event(&s, &a.id, "uploads-events", Some(&token), &minio_body(&[(&bucket, "k")], "A1")).await;
    assert_eq!(status, 200);

    let r = iam(&raw, "iam", &[("Action", "ListServiceIntegrations")]).await;
    assert!(r.body.contains(&format!("<IntegrationId>{id}</IntegrationId>")) && r.body.contains(&bucket), "{}", r.body);
    // A second token overlaps the first; bad lifetimes and other accounts' buckets are refused.
    let r = iam(
        &raw,
        "iam",
        &[("Action", "CreateServiceIntegrationToken"), ("IntegrationId", &id), ("DurationSeconds", "7200")],
    )
    .await;
    let second = el(&r.body, "BearerToken").unwrap().to_owned();
    let r = iam(
        &raw,
        "iam",
        &[("Action", "CreateServiceIntegrationToken"), ("IntegrationId", &id), ("DurationSeconds", "9999999999")],
    )
    .await;
    assert_eq!((r.status, el(&r.body, "Code")), (400, Some("InvalidInput")));
    let other = s.account().await;
    let r = iam(
        &s.raw(&other),
        "iam",
        &[("Action", "CreateServiceIntegration"), ("Service", "s3.amazonaws.com"), ("Sources.member.1", &bucket)],
    )
    .await;
    assert_eq!((r.status, el(&r.body, "Code")), (400, Some("InvalidInput")), "{}", r.body);
    // Another account cannot revoke it.
    let r = iam(&s.raw(&other), "iam", &[("Action", "RevokeServiceIntegration"), ("IntegrationId", &id)]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (404, Some("NoSuchEntity")));

    // A user needs an identity allow.
    let r = iam(&raw, "iam", &[("Action", "CreateUser"), ("UserName", "ops")]).await;
    assert_eq!(r.status, 200);
    let r = iam(&raw, "iam", &[("Action", "CreateAccessKey"), ("UserName", "ops")]).await;
    let user = crate::harness::RawClient {
        key: el(&r.body, "AccessKeyId").unwrap().to_owned(),
        secret: el(&r.body, "SecretAccessKey").unwrap().to_owned(),
        ..s.raw(&a)
    };
    let r = iam(&user, "iam", &[("Action", "RevokeServiceIntegration"), ("IntegrationId", &id)]).await;
    assert_eq!((r.status, el(&r.body, "Code")), (403, Some("AccessDenied")));
    let allow = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"iam:RevokeServiceIntegration","Resource":"arn:aws:iam::{}:service-integration/*"}}}}"#,
        a.id
    );
    let r = iam(
        &raw,
        "iam",
        &[("Action", "PutUserPolicy"), ("UserName", "ops"), ("PolicyName", "revoke"), ("PolicyDocument", &allow)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = iam(&user, "iam", &[("Action", "RevokeServiceIntegration"), ("IntegrationId", &id)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for t in [&token, &second] {
        let (status, v) = post_event(&s, &a.id, "uploads-events", Some(t), &minio_body(&[(&bucket, "k")], "A2")).await;
        assert_eq!((status, code(&v)), (403, "InvalidClientTokenId"));
    }
    let r = iam(&raw, "iam", &[("Action", "ListServiceIntegrations")]).await;
    assert!(r.body.contains("<Status>Revoked</Status>"), "{}", r.body);
}
