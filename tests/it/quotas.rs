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
    // A queue of A's with a message in it, made before A's burst.
    let sqs_a = s.sqs(&a);
    let a_url = sqs_a.create_queue().queue_name("a-q").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs_a.send_message().queue_url(&a_url).message_body("still yours").send().await.unwrap();
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
    // The refusals show in the metrics, by account and reason.
    let page = reqwest::get(format!("{}/metrics", s.metrics_url)).await.unwrap().text().await.unwrap();
    let line = format!(r#"sluice_refusals_total{{account="{}",reason="RequestThrottled"}} {ta}"#, a.id);
    assert!(page.contains(&line), "{line} not in:\n{page}");
    assert!(!page.contains(&format!(r#"sluice_refusals_total{{account="{}""#, b.id)));
    for path in ["/health/live", "/health/ready"] {
        assert_eq!(reqwest::get(format!("{}{path}", s.metrics_url)).await.unwrap().status().as_u16(), 200);
    }
    // Another family has its own bucket: right after its management burst, A still receives.
    let got = sqs_a.receive_message().queue_url(&a_url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("still yours"));
    sqs_a
        .delete_message()
        .queue_url(&a_url)
        .receipt_handle(got.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    // And B manages as ever.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_long_polls_from_one_account_leaves_room_for_another() {
    let s = TestServer::start_with(|c| {
        c.max_long_polls = 30;
        c.database_max_connections = 4;
    })
    .await;
    let (a, b) = (s.account().await, s.account().await);
    let limits = LimitOverrides { max_long_polls: Some(10), ..LimitOverrides::default() };
    s.tenancy.set_account_limits(&a.id, &limits).await.unwrap();
    let url_a = s.sqs(&a).create_queue().queue_name("idle").send().await.unwrap().queue_url().unwrap().to_owned();
    let raw_a = s.raw(&a);
    let body = format!(r#"{{"QueueUrl":"{url_a}","WaitTimeSeconds":20}}"#);
    let polls: Vec<_> = (0..10)
        .map(|_| {
            let (raw, body) = (raw_a.clone(), body.clone());
            tokio::spawn(async move { raw.call("ReceiveMessage", &body).await })
        })
        .collect();
    s.until_long_polls_open(10).await;
    // A's eleventh is refused; B goes on as usual, long polls included, while all of A's
    // are still open (more long polls are open than the database pool has connections).
    let r = raw_a.call("ReceiveMessage", &body).await;
    assert_eq!(r.header("x-amzn-query-error"), Some("RequestThrottled;Sender"), "{}", r.body);
    let sqs_b = s.sqs(&b);
    let url_b = sqs_b.create_queue().queue_name("busy").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs_b.send_message().queue_url(&url_b).message_body("served").send().await.unwrap();
    let got = sqs_b.receive_message().queue_url(&url_b).wait_time_seconds(2).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("served"));
    assert!(polls.iter().all(|p| !p.is_finished()), "B was served while A's long polls were all open");
    assert_eq!(s.queues.open_long_polls(), 10);
    // Messages for A end its polls, one each.
    let sqs_a = s.sqs(&a);
    let mut batch = sqs_a.send_message_batch().queue_url(&url_a);
    for i in 0..10 {
        batch = batch.entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body("for a")
                .build()
                .unwrap(),
        );
    }
    batch.send().await.unwrap();
    for p in polls {
        let r = p.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // Their places are free again.
    assert_eq!(
        raw_a.call("ReceiveMessage", &format!(r#"{{"QueueUrl":"{url_a}","WaitTimeSeconds":1}}"#)).await.status,
        200
    );
}

#[tokio::test]
async fn the_sdk_treats_request_throttled_as_throttling_and_retries_through_it() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let limits = LimitOverrides { requests_per_second: Some(5), ..LimitOverrides::default() };
    s.tenancy.set_account_limits(&a.id, &limits).await.unwrap();
    // The SDK's own client, with room for the retries a tight limit needs.
    let base = s.sqs(&a);
    let conf = base
        .config()
        .to_builder()
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(10))
        .build();
    let sqs = aws_sdk_sqs::Client::from_conf(conf);
    for _ in 0..20 {
        sqs.list_queues().send().await.expect("the SDK retries throttled calls with backoff until they pass");
    }
    // 20 calls at 5 a second after a burst of 10: some were refused, and retried until each
    // passed once.
    let page = reqwest::get(format!("{}/metrics", s.metrics_url)).await.unwrap().text().await.unwrap();
    let count = |series: String| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(series.as_str()).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let throttled = count(format!(r#"sluice_refusals_total{{account="{}",reason="RequestThrottled"}}"#, a.id));
    let passed = count(format!(r#"sluice_requests_total{{account="{}",action="ListQueues",outcome="success"}}"#, a.id));
    assert!(throttled >= 1, "nothing was throttled:\n{page}");
    assert_eq!(passed, 20, "{page}");
}

#[tokio::test]
async fn the_metrics_show_queue_depth_and_key_provider_use() {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry as E;
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("deep").send().await.unwrap().queue_url().unwrap().to_owned();
    for b in 0..8 {
        let mut req = sqs.send_message_batch().queue_url(&url);
        for i in 0..10 {
            req = req.entries(E::builder().id(format!("m{i}")).message_body(format!("{b}-{i}")).build().unwrap());
        }
        req.send().await.unwrap();
    }
    sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    // A denied call: another account on this queue.
    let b = s.account().await;
    assert!(s.sqs(&b).purge_queue().queue_url(&url).send().await.is_err());
    let page = reqwest::get(format!("{}/metrics", s.metrics_url)).await.unwrap().text().await.unwrap();
    let denied = format!(r#"sluice_refusals_total{{account="{}",reason="AccessDenied"}} 1"#, b.id);
    assert!(page.contains(&denied), "{denied} not in:\n{page}");
    let sends = format!(r#"sluice_requests_total{{account="{}",action="SendMessageBatch",outcome="success"}} 8"#, a.id);
    assert!(page.contains(&sends), "{sends}");
    let depth = |state: &str| format!(r#"sluice_queue_messages{{account="{}",queue="deep",state="{state}"}}"#, a.id);
    assert!(page.contains(&format!("{} 70", depth("visible"))), "{page}");
    assert!(page.contains(&format!("{} 10", depth("not_visible"))), "{page}");
    assert!(page.contains(&format!("{} 0", depth("delayed"))), "{page}");
    assert!(page.contains("sluice_db_ping_seconds"));
    assert!(page.contains(&format!(r#"sluice_queue_oldest_message_age_seconds{{account="{}",queue="deep"}}"#, a.id)));
    let generated = page
        .lines()
        .find_map(|l| l.strip_prefix(r#"sluice_key_provider_events{event="generate"} "#))
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap();
    assert!(generated >= 1);
    assert!(page.contains(r#"sluice_key_provider_events{event="cache_hit"}"#));
}

#[tokio::test]
async fn metrics_show_a_transaction_held_open_on_the_database() {
    // The known failure mode of SKIP LOCKED queues: a snapshot held elsewhere keeps vacuum
    // from removing dead messages. Operators watch its age.
    let s = TestServer::start().await;
    let gauge = |page: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix("sluice_db_oldest_transaction_seconds "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sluice_db_oldest_transaction_seconds in:\n{page}"))
    };
    let mut held = s.store.pool().begin().await.unwrap();
    sqlx::query("SELECT txid_current()").execute(&mut *held).await.unwrap();
    let page = || async { reqwest::get(format!("{}/metrics", s.metrics_url)).await.unwrap().text().await.unwrap() };
    crate::harness::eventually("the held transaction shows, two seconds old", || async { gauge(&page().await) >= 2.0 })
        .await;
    held.rollback().await.unwrap();
}
