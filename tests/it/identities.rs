//! IAM users of an account and their identity policies, decided on every call by the engine.

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use secrecy::ExposeSecret;

use crate::harness::{TestServer, error_code, eventually_within};

/// Past the one-second cache these servers keep: the tests move a server's clock this far
/// instead of waiting.
const CACHE_TTL_PASSED: chrono::TimeDelta = chrono::TimeDelta::milliseconds(1_100);

/// A server whose caches keep keys and policies for one second (the bound the tests pass).
async fn server() -> TestServer {
    TestServer::start_with(|c| c.cache_ttl_seconds = 1).await
}

async fn user_client(s: &TestServer, account: &str, name: &str) -> (aws_sdk_sqs::Client, String, String) {
    let u = s.tenancy.create_user(account, name, None).await.unwrap();
    let (key, secret) = s.tenancy.create_access_key(account, name).await.unwrap();
    (s.sqs_with(&key, secret.expose_secret()), key, u.id)
}

fn send_only(queue_arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"{queue_arn}"}}]}}"#
    )
}

#[tokio::test]
async fn a_user_granted_only_send_on_one_queue_can_do_only_that() {
    let s = server().await;
    let a = s.account().await;
    let root = s.raw(&a);
    for q in ["granted", "other"] {
        root.call("CreateQueue", &format!(r#"{{"QueueName":"{q}"}}"#)).await;
    }
    let arn = |q: &str| format!("arn:aws:sqs:local:{}:{q}", a.id);
    s.tenancy.create_user(&a.id, "producer", None).await.unwrap();
    s.tenancy.put_user_policy(&a.id, "producer", "send", &send_only(&arn("granted"))).await.unwrap();
    let (key, secret) = s.tenancy.create_access_key(&a.id, "producer").await.unwrap();
    let raw = crate::harness::RawClient {
        url: s.url.clone(),
        http: crate::harness::http_client(&s.ca_pem),
        key,
        secret: secret.expose_secret().to_owned(),
    };
    for queue in ["granted", "other"] {
        let url = s.queue_url(&a, queue);
        for spec in sluice::api::table::SQS {
            let body = format!(
                r#"{{"QueueUrl":"{url}","QueueName":"{queue}","SourceArn":"{}","TaskHandle":"{handle}","Label":"l","AWSAccountIds":["{id}"],"Actions":["SendMessage"],"Entries":[{{"Id":"a","MessageBody":"b","ReceiptHandle":"h"}}],"Tags":{{"k":"v"}},"TagKeys":["k"],"Attributes":{{"DelaySeconds":"0"}},"MessageBody":"b","ReceiptHandle":"h","VisibilityTimeout":0}}"#,
                arn(queue),
                id = a.id,
                handle = s.moves.issue_handle(uuid::Uuid::new_v4(), &arn(queue))
            );
            let r = raw.call(spec.name, &body).await;
            let denied = r.header("x-amzn-query-error") == Some("AccessDenied;Sender");
            let should_pass = queue == "granted" && matches!(spec.name, "SendMessage" | "SendMessageBatch");
            assert_eq!(!denied, should_pass, "{} on {queue}: {} {}", spec.name, r.status, r.body);
            if denied {
                let msg = r.json()["message"].as_str().unwrap().to_owned();
                assert!(msg.contains(":user/producer is not authorized to perform: sqs:"), "{msg}");
                assert!(msg.contains("because no identity-based policy allows"), "{msg}");
            }
        }
    }
}

#[tokio::test]
async fn an_explicit_managed_deny_with_a_condition_overrides_an_allow_until_detached() {
    let s = server().await;
    let a = s.account().await;
    let root = s.sqs(&a);
    let url = root.create_queue().queue_name("guarded").send().await.unwrap().queue_url().unwrap().to_owned();
    let (sqs, _, _) = user_client(&s, &a.id, "dev").await;
    let allow_all = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#;
    s.tenancy.put_user_policy(&a.id, "dev", "all", allow_all).await.unwrap();
    sqs.send_message().queue_url(&url).message_body("ok").send().await.unwrap();
    // A managed Deny that applies when the request comes over TLS (always, here).
    let deny = r#"{"Version":"2012-10-17","Statement":{"Sid":"NoSendsOverTls","Effect":"Deny","Action":"sqs:SendMessage","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}"#;
    let policy_arn = s.tenancy.create_policy(&a.id, "no-sends", None, deny).await.unwrap();
    s.tenancy.attach_user_policy(&a.id, "dev", &policy_arn).await.unwrap();
    s.clock.advance(CACHE_TTL_PASSED);
    let err = sqs.send_message().queue_url(&url).message_body("no").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
    let msg = err.as_service_error().unwrap().meta().message().unwrap().to_owned();
    assert!(msg.ends_with("with an explicit deny in an identity-based policy"), "{msg}");
    assert!(!msg.contains("NoSendsOverTls"), "the policy text is never revealed: {msg}");
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    s.tenancy.detach_user_policy(&a.id, "dev", &policy_arn).await.unwrap();
    s.clock.advance(CACHE_TTL_PASSED);
    sqs.send_message().queue_url(&url).message_body("again").send().await.unwrap();
}

#[tokio::test]
async fn group_policies_apply_to_members_and_messages_carry_the_user_id_as_sender() {
    let s = server().await;
    let a = s.account().await;
    let root = s.sqs(&a);
    let url = root.create_queue().queue_name("team").send().await.unwrap().queue_url().unwrap().to_owned();
    let (sqs, _, user_id) = user_client(&s, &a.id, "member").await;
    let err = sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied", "no policy yet");
    s.tenancy.create_group(&a.id, "producers", None).await.unwrap();
    s.tenancy.put_group_policy(&a.id, "producers", "send", &send_only("*")).await.unwrap();
    s.tenancy.add_user_to_group(&a.id, "producers", "member").await.unwrap();
    s.clock.advance(CACHE_TTL_PASSED);
    sqs.send_message().queue_url(&url).message_body("from a member").send().await.unwrap();
    let got = root
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::SenderId)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages()[0].attributes().unwrap()[&MessageSystemAttributeName::SenderId], user_id);
    assert!(user_id.starts_with("AIDA"));
}

#[tokio::test]
async fn a_deactivated_key_and_a_disabled_account_are_refused_on_every_instance_within_the_bound() {
    let first = server().await;
    let second = server().await;
    let a = first.account().await;
    let url = first.sqs(&a).create_queue().queue_name("k").send().await.unwrap().queue_url().unwrap().to_owned();
    let (_, key, _) = user_client(&first, &a.id, "worker").await;
    first
        .tenancy
        .put_user_policy(&a.id, "worker", "all", r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#)
        .await
        .unwrap();
    let (key2, secret2) = first.tenancy.create_access_key(&a.id, "worker").await.unwrap();
    let on_second = second.sqs_with(&key2, secret2.expose_secret());
    on_second.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    // A third key is over IAM's quota.
    let err = first.tenancy.create_access_key(&a.id, "worker").await.unwrap_err();
    assert!(err.to_string().contains("AccessKeysPerUser"), "{err}");
    first.tenancy.set_access_key_active(&a.id, &key2, false).await.unwrap();
    second.clock.advance(CACHE_TTL_PASSED);
    let err = on_second.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidClientTokenId");
    let _ = key;
    // The root still works until the account is disabled; then nothing of it does.
    let root_second = second.sqs(&a);
    root_second.list_queues().send().await.unwrap();
    first.tenancy.set_account_enabled(&a.id, false).await.unwrap();
    second.clock.advance(CACHE_TTL_PASSED);
    let err = root_second.list_queues().send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidClientTokenId");
}

#[tokio::test]
async fn a_user_cannot_touch_another_accounts_queues_whatever_its_policies_say() {
    let s = server().await;
    let a = s.account().await;
    let b = s.account().await;
    let theirs = s.sqs(&b).create_queue().queue_name("theirs").send().await.unwrap().queue_url().unwrap().to_owned();
    let (sqs, _, _) = user_client(&s, &a.id, "greedy").await;
    s.tenancy
        .put_user_policy(
            &a.id,
            "greedy",
            "everything",
            r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#,
        )
        .await
        .unwrap();
    for result in [
        sqs.send_message().queue_url(&theirs).message_body("x").send().await.map(|_| ()).map_err(|e| error_code(&e)),
        sqs.receive_message().queue_url(&theirs).send().await.map(|_| ()).map_err(|e| error_code(&e)),
        sqs.delete_queue().queue_url(&theirs).send().await.map(|_| ()).map_err(|e| error_code(&e)),
    ] {
        assert_eq!(result, Err("AccessDenied".to_string()));
    }
}

#[tokio::test]
async fn rotating_the_root_key_and_deleting_an_account_take_effect_within_the_bound() {
    let s = server().await;
    let a = s.account().await;
    let old = s.sqs(&a);
    old.create_queue().queue_name("kept").send().await.unwrap();
    let rotated = s.tenancy.rotate_root_key(&a.id).await.unwrap();
    assert_ne!(rotated.access_key_id, a.access_key_id);
    s.clock.advance(CACHE_TTL_PASSED);
    let err = old.list_queues().send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidClientTokenId");
    let new = s.sqs(&rotated);
    assert_eq!(new.list_queues().send().await.unwrap().queue_urls().len(), 1);

    s.tenancy.create_user(&a.id, "u", None).await.unwrap();
    s.tenancy
        .put_user_policy(&a.id, "u", "p", r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#)
        .await
        .unwrap();
    s.tenancy.delete_account(&a.id).await.unwrap();
    s.clock.advance(CACHE_TTL_PASSED);
    assert_eq!(error_code(&new.list_queues().send().await.unwrap_err()), "InvalidClientTokenId");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM queues WHERE account_id = $1")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "its queues are gone");
    let policies: i64 = sqlx::query_scalar("SELECT count(*) FROM inline_policies WHERE account_id = $1")
        .bind(&a.id)
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(policies, 0);
}

#[tokio::test]
async fn resource_tags_of_a_queue_can_decide_access() {
    let s = server().await;
    let a = s.account().await;
    let root = s.sqs(&a);
    let blue = root
        .create_queue()
        .queue_name("blue")
        .tags("team", "blue")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let red =
        root.create_queue().queue_name("red").tags("team", "red").send().await.unwrap().queue_url().unwrap().to_owned();
    let (sqs, _, _) = user_client(&s, &a.id, "blue-dev").await;
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:username}"}}}}"#;
    s.tenancy.put_user_policy(&a.id, "blue-dev", "by-tag", &policy.replace("${aws:username}", "blue")).await.unwrap();
    sqs.send_message().queue_url(&blue).message_body("x").send().await.unwrap();
    let err = sqs.send_message().queue_url(&red).message_body("x").send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
}

#[tokio::test]
async fn changes_reach_other_instances_by_notification_long_before_the_cache_expires() {
    // Caches trusted for 30 s: only a notification can make the change visible sooner.
    let first = TestServer::start().await;
    let second = TestServer::start().await;
    let a = first.account().await;
    let url = first.sqs(&a).create_queue().queue_name("n").send().await.unwrap().queue_url().unwrap().to_owned();
    first.tenancy.create_user(&a.id, "w", None).await.unwrap();
    first
        .tenancy
        .put_user_policy(&a.id, "w", "all", r#"{"Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#)
        .await
        .unwrap();
    let (key, secret) = first.tenancy.create_access_key(&a.id, "w").await.unwrap();
    let on_second = second.sqs_with(&key, secret.expose_secret());
    on_second.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    first.tenancy.delete_user_policy(&a.id, "w", "all").await.unwrap();
    // Well inside the 30 s the second instance may trust its cache.
    let notified = Duration::from_secs(10);
    eventually_within(notified, "the policy change reaches the second instance", || async {
        matches!(on_second.send_message().queue_url(&url).message_body("x").send().await,
            Err(e) if error_code(&e) == "AccessDenied")
    })
    .await;
    first.tenancy.set_access_key_active(&a.id, &key, false).await.unwrap();
    eventually_within(notified, "the deactivation reaches the second instance", || async {
        matches!(on_second.list_queues().send().await, Err(e) if error_code(&e) == "InvalidClientTokenId")
    })
    .await;
}
