//! Tenant limits: one account's load or storage cannot take what the others need.

use crate::harness::{TestServer, error_code};
use sluice::store::limits::LimitOverrides;

#[tokio::test]
async fn an_account_over_its_request_rate_is_throttled_while_another_is_not() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let limits = LimitOverrides { requests_per_second: Some(5), ..LimitOverrides::default() };
    s.tenancy.set_account_limits(&a.id, &limits).await.unwrap();
    let (raw_a, raw_b) = (s.raw(&a), s.raw(&b));
    let burst = |raw: crate::harness::RawClient| async move {
        let mut throttled = 0;
        for _ in 0..30 {
            let r = raw.call("ListQueues", "{}").await;
            if r.status != 200 {
                assert_eq!(r.header("x-amzn-query-error"), Some("RequestThrottled;Sender"), "{}", r.body);
                throttled += 1;
            }
        }
        throttled
    };
    // At the same moment.
    let (ta, tb) = tokio::join!(burst(raw_a), burst(raw_b));
    assert!(ta >= 15, "A's burst is 10 and it refills 5 a second: {ta} of 30 throttled");
    assert_eq!(tb, 0, "B is not affected");
    // Another family has its own bucket: A can still receive.
    let url = s.sqs(&b).create_queue().queue_name("b-q").send().await.unwrap().queue_url().unwrap().to_owned();
    s.sqs(&b).send_message().queue_url(&url).message_body("x").send().await.unwrap();
}

#[tokio::test]
async fn queue_count_and_stored_data_limits_refuse_with_over_limit_and_lose_nothing() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let (sqs_a, sqs_b) = (s.sqs(&a), s.sqs(&b));
    let limits = LimitOverrides { max_queues: Some(2), max_stored_messages: Some(3), ..LimitOverrides::default() };
    s.tenancy.set_account_limits(&a.id, &limits).await.unwrap();
    let q1 = sqs_a.create_queue().queue_name("one").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs_a.create_queue().queue_name("two").send().await.unwrap();
    let e = sqs_a.create_queue().queue_name("three").send().await.unwrap_err();
    assert_eq!(error_code(&e), "OverLimit");
    // An existing queue is still "created" (idempotent), at the limit.
    sqs_a.create_queue().queue_name("one").send().await.unwrap();
    for i in 0..3 {
        sqs_a.send_message().queue_url(&q1).message_body(format!("m{i}")).send().await.unwrap();
    }
    s.queues.measure_usage().await.unwrap();
    let e = sqs_a.send_message().queue_url(&q1).message_body("one too many").send().await.unwrap_err();
    assert_eq!(error_code(&e), "OverLimit");
    // Another account is not affected.
    let qb = sqs_b.create_queue().queue_name("three").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs_b.send_message().queue_url(&qb).message_body("fine").send().await.unwrap();
    // Nothing stored was lost; consuming frees room.
    let got = sqs_a.receive_message().queue_url(&q1).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 3);
    for m in got.messages() {
        sqs_a.delete_message().queue_url(&q1).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    }
    s.queues.measure_usage().await.unwrap();
    sqs_a.send_message().queue_url(&q1).message_body("room again").send().await.unwrap();
    // Bad limits are refused.
    let bad = LimitOverrides { max_queues: Some(0), ..LimitOverrides::default() };
    assert!(s.tenancy.set_account_limits(&a.id, &bad).await.is_err());
}
