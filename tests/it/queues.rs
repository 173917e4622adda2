//! Queue management through the SDK: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue.

use crate::harness::{TestServer, error_code};

#[tokio::test]
async fn create_queue_returns_url_from_public_endpoint_with_account_and_name() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let out = sqs.create_queue().queue_name("orders").send().await.unwrap();
    assert_eq!(out.queue_url().unwrap(), format!("https://127.0.0.1:{}/{}/orders", s.port, a.id));
    let got = sqs.get_queue_url().queue_name("orders").send().await.unwrap();
    assert_eq!(got.queue_url(), out.queue_url());
}

#[tokio::test]
async fn create_queue_is_idempotent_with_same_attributes_and_refuses_different_ones() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let mk = |v: &str| {
        sqs.create_queue().queue_name("idem").attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, v)
    };
    let first = mk("60").send().await.unwrap();
    let again = mk("60").send().await.unwrap();
    assert_eq!(first.queue_url(), again.queue_url());
    // No attributes supplied: nothing to differ.
    sqs.create_queue().queue_name("idem").send().await.unwrap();
    let err = mk("61").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_name_exists(), "{err:?}");
    assert_eq!(error_code(&err), "QueueAlreadyExists");
}

#[tokio::test]
async fn create_queue_validates_name_and_attributes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    for bad in ["has space", "dot.name", &"x".repeat(81)] {
        let err = sqs.create_queue().queue_name(bad).send().await.unwrap_err();
        assert_eq!(error_code(&err), "InvalidParameterValue", "{bad}");
    }
    use aws_sdk_sqs::types::QueueAttributeName as N;
    let err = sqs.create_queue().queue_name("q").attributes(N::DelaySeconds, "901").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_attribute_value(), "{err:?}");
    let err = sqs.create_queue().queue_name("q").attributes(N::from("Bogus"), "1").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_attribute_name(), "{err:?}");
    let err = sqs.create_queue().queue_name("q").attributes(N::RedrivePolicy, "{}").send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue", "{err:?}");
    let err = sqs.create_queue().queue_name("q").attributes(N::Policy, "{}").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_attribute_value(), "{err:?}");
    let err = sqs.create_queue().queue_name("q").attributes(N::QueueArn, "x").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_attribute_name(), "{err:?}");
    // A refused create changed nothing.
    let err = sqs.get_queue_url().queue_name("q").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
}

#[tokio::test]
async fn get_queue_url_of_missing_queue_is_queue_does_not_exist_with_legacy_code() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let err = s.sqs(&a).get_queue_url().queue_name("nope").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
    assert_eq!(error_code(&err), "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test]
async fn list_queues_filters_by_prefix_and_paginates_only_with_max_results() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    for n in ["alpha-1", "alpha-2", "alpha-3", "beta-1"] {
        sqs.create_queue().queue_name(n).send().await.unwrap();
    }
    // Another account's queues never show.
    let b = s.account().await;
    s.sqs(&b).create_queue().queue_name("alpha-other").send().await.unwrap();

    let all = sqs.list_queues().send().await.unwrap();
    assert_eq!(all.queue_urls().len(), 4);
    assert!(all.next_token().is_none());
    let alpha = sqs.list_queues().queue_name_prefix("alpha").send().await.unwrap();
    assert_eq!(
        alpha.queue_urls(),
        [s.queue_url(&a, "alpha-1"), s.queue_url(&a, "alpha-2"), s.queue_url(&a, "alpha-3")]
    );

    let page1 = sqs.list_queues().queue_name_prefix("alpha").max_results(2).send().await.unwrap();
    assert_eq!(page1.queue_urls().len(), 2);
    let token = page1.next_token().expect("a token when more remain").to_owned();
    let page2 = sqs.list_queues().queue_name_prefix("alpha").max_results(2).next_token(token).send().await.unwrap();
    assert_eq!(page2.queue_urls(), [s.queue_url(&a, "alpha-3")]);
    assert!(page2.next_token().is_none());

    let none = sqs.list_queues().queue_name_prefix("zzz").send().await.unwrap();
    assert!(none.queue_urls().is_empty());
    let err = sqs.list_queues().max_results(1001).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
}

#[tokio::test]
async fn delete_queue_removes_it_and_a_second_delete_is_queue_does_not_exist() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("gone").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
    let err = sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist());
    assert!(sqs.list_queues().send().await.unwrap().queue_urls().is_empty());
}

#[tokio::test]
async fn a_malformed_queue_url_names_a_queue_that_does_not_exist() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let err = s.sqs(&a).delete_queue().queue_url("https://x/not-an-account/q").send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_queue_does_not_exist(), "{err:?}");
}
