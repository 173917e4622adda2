//! Standard-queue semantics through the SDK: attributes, visibility, delay, retention,
//! purge, long polling. Time-dependent rules move the injected clock.

use std::collections::HashMap;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::types::QueueAttributeName as N;
use chrono::TimeDelta;

use crate::harness::{TestServer, WaitEnd, error_code};

async fn queue_with(sqs: &aws_sdk_sqs::Client, name: &str, attrs: &[(N, &str)]) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send().await.unwrap().queue_url().unwrap().to_owned()
}

async fn attrs(sqs: &aws_sdk_sqs::Client, url: &str) -> HashMap<String, String> {
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(N::All).send().await.unwrap();
    out.attributes().unwrap().iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect()
}

async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (String, String, String) {
    let a = attrs(sqs, url).await;
    (
        a["ApproximateNumberOfMessages"].clone(),
        a["ApproximateNumberOfMessagesNotVisible"].clone(),
        a["ApproximateNumberOfMessagesDelayed"].clone(),
    )
}

fn c(v: u32, n: u32, d: u32) -> (String, String, String) {
    (v.to_string(), n.to_string(), d.to_string())
}

#[tokio::test]
async fn get_queue_attributes_reports_every_standard_attribute_with_aws_defaults() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let before = chrono::Utc::now().timestamp();
    let url = queue_with(&sqs, "attrs", &[]).await;
    let got = attrs(&sqs, &url).await;
    let expect = [
        ("VisibilityTimeout", "30"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("DelaySeconds", "0"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("ApproximateNumberOfMessages", "0"),
        ("ApproximateNumberOfMessagesNotVisible", "0"),
        ("ApproximateNumberOfMessagesDelayed", "0"),
        ("SqsManagedSseEnabled", "true"),
    ];
    for (k, v) in expect {
        assert_eq!(got.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(got["QueueArn"], format!("arn:aws:sqs:local:{}:attrs", a.id));
    let created: i64 = got["CreatedTimestamp"].parse().unwrap();
    assert!((before - 1..=before + 5).contains(&created), "{created} vs {before}");
    assert_eq!(got["LastModifiedTimestamp"], got["CreatedTimestamp"]);
    assert_eq!(got.len(), 12, "{got:?}");
    for absent in ["Policy", "RedrivePolicy", "FifoQueue", "KmsMasterKeyId"] {
        assert!(!got.contains_key(absent), "{absent}");
    }

    let none = sqs.get_queue_attributes().queue_url(&url).send().await.unwrap();
    assert!(none.attributes().is_none_or(|m| m.is_empty()));
    let some = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(N::QueueArn)
        .attribute_names(N::Policy)
        .send()
        .await
        .unwrap();
    assert_eq!(some.attributes().unwrap().len(), 1);
    let err = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::from("Bogus")).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_invalid_attribute_name(), "{err:?}");
}

#[tokio::test]
async fn approximate_counts_track_visible_in_flight_and_delayed_messages() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "counts", &[]).await;
    for i in 0..3 {
        sqs.send_message().queue_url(&url).message_body(format!("m{i}")).send().await.unwrap();
    }
    sqs.send_message().queue_url(&url).message_body("later").delay_seconds(60).send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(3, 0, 1));
    sqs.receive_message().queue_url(&url).visibility_timeout(30).send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(2, 1, 1));
    s.clock.advance(TimeDelta::seconds(31));
    assert_eq!(counts(&sqs, &url).await, c(3, 0, 1));
    s.clock.advance(TimeDelta::seconds(30));
    assert_eq!(counts(&sqs, &url).await, c(4, 0, 0));
}

#[tokio::test]
async fn set_queue_attributes_changes_settings_and_stamps_last_modified() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "set", &[]).await;
    let created: i64 = attrs(&sqs, &url).await["CreatedTimestamp"].parse().unwrap();
    s.clock.advance(TimeDelta::seconds(100));
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(N::VisibilityTimeout, "45")
        .attributes(N::DelaySeconds, "5")
        .attributes(N::MaximumMessageSize, "2048")
        .attributes(N::MessageRetentionPeriod, "120")
        .attributes(N::ReceiveMessageWaitTimeSeconds, "3")
        .send()
        .await
        .unwrap();
    let got = attrs(&sqs, &url).await;
    assert_eq!(
        (
            got["VisibilityTimeout"].as_str(),
            got["DelaySeconds"].as_str(),
            got["MaximumMessageSize"].as_str(),
            got["MessageRetentionPeriod"].as_str(),
            got["ReceiveMessageWaitTimeSeconds"].as_str()
        ),
        ("45", "5", "2048", "120", "3")
    );
    let modified: i64 = got["LastModifiedTimestamp"].parse().unwrap();
    assert!(modified >= created + 100, "{modified} vs {created}");
    assert_eq!(got["CreatedTimestamp"], created.to_string());
}

#[tokio::test]
async fn set_queue_attributes_refusals_change_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "refuse", &[(N::VisibilityTimeout, "40")]).await;
    let before = attrs(&sqs, &url).await;
    s.clock.advance(TimeDelta::seconds(50));
    let cases: Vec<(Vec<(N, &str)>, &str)> = vec![
        (vec![(N::VisibilityTimeout, "43201")], "InvalidAttributeValue"),
        (vec![(N::VisibilityTimeout, "10"), (N::DelaySeconds, "x")], "InvalidAttributeValue"),
        (vec![(N::MessageRetentionPeriod, "59")], "InvalidAttributeValue"),
        (vec![(N::QueueArn, "arn")], "InvalidAttributeName"),
        (vec![(N::ApproximateNumberOfMessages, "1")], "InvalidAttributeName"),
        (vec![(N::Policy, "{}")], "InvalidAttributeValue"),
        (vec![(N::RedrivePolicy, "{}")], "InvalidParameterValue"),
        (vec![(N::RedriveAllowPolicy, r#"{"redrivePermission":"sometimes"}"#)], "InvalidAttributeValue"),
        (vec![(N::KmsDataKeyReusePeriodSeconds, "86401")], "InvalidAttributeValue"),
        (vec![(N::FifoQueue, "true")], "InvalidAttributeName"),
        (vec![(N::from("Bogus"), "1")], "InvalidAttributeName"),
        (vec![(N::SqsManagedSseEnabled, "no")], "InvalidAttributeValue"),
        (vec![(N::SqsManagedSseEnabled, "true"), (N::KmsMasterKeyId, "alias/aws/sqs")], "InvalidAttributeValue"),
    ];
    for (pairs, code) in cases {
        let mut req = sqs.set_queue_attributes().queue_url(&url);
        for (k, v) in &pairs {
            req = req.attributes(k.clone(), *v);
        }
        let err = req.send().await.unwrap_err();
        assert_eq!(error_code(&err), code, "{pairs:?}");
        assert_eq!(attrs(&sqs, &url).await, before, "{pairs:?} changed the queue");
    }
}

#[tokio::test]
async fn queue_defaults_for_delay_and_visibility_apply_to_sends_and_receives() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "defaults", &[(N::DelaySeconds, "20"), (N::VisibilityTimeout, "5")]).await;
    sqs.send_message().queue_url(&url).message_body("d").send().await.unwrap();
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    s.clock.advance(TimeDelta::seconds(21));
    assert_eq!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().len(), 1);
    s.clock.advance(TimeDelta::seconds(4));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    s.clock.advance(TimeDelta::seconds(2));
    assert_eq!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().len(), 1);
    // A per-message delay of 0 overrides the queue's.
    sqs.send_message().queue_url(&url).message_body("now").delay_seconds(0).send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("now"));
}

#[tokio::test]
async fn change_message_visibility_extends_releases_and_refuses_as_sqs_does() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "cmv", &[]).await;
    sqs.send_message().queue_url(&url).message_body("m").send().await.unwrap();
    let first = sqs.receive_message().queue_url(&url).visibility_timeout(10).send().await.unwrap();
    let h1 = first.messages()[0].receipt_handle().unwrap().to_owned();

    // Extend: counted from now.
    s.clock.advance(TimeDelta::seconds(8));
    sqs.change_message_visibility().queue_url(&url).receipt_handle(&h1).visibility_timeout(60).send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(30));
    assert!(sqs.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    // Release at once.
    sqs.change_message_visibility().queue_url(&url).receipt_handle(&h1).visibility_timeout(0).send().await.unwrap();
    let second = sqs.receive_message().queue_url(&url).visibility_timeout(10).send().await.unwrap();
    let h2 = second.messages()[0].receipt_handle().unwrap().to_owned();
    // The first receive's handle no longer governs the message.
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&h1)
        .visibility_timeout(5)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_receipt_handle_is_invalid(), "{err:?}");
    // Out of range.
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&h2)
        .visibility_timeout(43_201)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    // After its timeout expired, the message is no longer in flight.
    s.clock.advance(TimeDelta::seconds(11));
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&h2)
        .visibility_timeout(5)
        .send()
        .await
        .unwrap_err();
    assert!(err.as_service_error().unwrap().is_message_not_inflight(), "{err:?}");
    assert_eq!(error_code(&err), "AWS.SimpleQueueService.MessageNotInflight");
}

#[tokio::test]
async fn visibility_cannot_be_extended_beyond_twelve_hours_after_the_receive() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "cap", &[]).await;
    sqs.send_message().queue_url(&url).message_body("m").send().await.unwrap();
    let got = sqs.receive_message().queue_url(&url).visibility_timeout(43_200).send().await.unwrap();
    let h = got.messages()[0].receipt_handle().unwrap().to_owned();
    s.clock.advance(TimeDelta::hours(1));
    let err = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&h)
        .visibility_timeout(43_200)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue");
    // Up to the cap is fine.
    sqs.change_message_visibility().queue_url(&url).receipt_handle(&h).visibility_timeout(39_500).send().await.unwrap();
}

#[tokio::test]
async fn expired_messages_are_never_delivered_and_are_swept() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "ret", &[(N::MessageRetentionPeriod, "60")]).await;
    sqs.send_message().queue_url(&url).message_body("old").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(45));
    sqs.send_message().queue_url(&url).message_body("young").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(20));
    assert_eq!(counts(&sqs, &url).await, c(1, 0, 0));
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 1);
    assert_eq!(got.messages()[0].body(), Some("young"));
    assert!(s.queues.sweep_expired().await.unwrap() >= 1);
    // Lowering the retention applies to stored messages too.
    sqs.send_message().queue_url(&url).message_body("third").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(2000));
    sqs.set_queue_attributes().queue_url(&url).attributes(N::MessageRetentionPeriod, "1209600").send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(2, 0, 0), "raising it brings nothing back that was swept");
    sqs.set_queue_attributes().queue_url(&url).attributes(N::MessageRetentionPeriod, "60").send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(0, 0, 0));
}

#[tokio::test]
async fn the_expiry_sweep_takes_expired_ids_as_a_range_and_older_random_ids_on_its_full_pass() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    // The default retention (4 days): other tests' sweeps leave these messages alone; this
    // test names its own cutoff.
    let url = queue_with(&sqs, "sweep-range", &[]).await;
    let row = s.store.queue_by_name(&a.id, "sweep-range").await.unwrap().unwrap();
    sqs.send_message().queue_url(&url).message_body("timed").send().await.unwrap();
    // A message stored before ids were time-ordered: a random id (above any time-ordered one
    // of this century).
    let mut random = *uuid::Uuid::new_v4().as_bytes();
    random[0] |= 0x80;
    let now = sluice::clock::Clock::now(s.clock.as_ref());
    let legacy = sluice::store::NewMessage {
        id: uuid::Uuid::from_bytes(random),
        body_sealed: b"sealed".to_vec(),
        attributes_sealed: None,
        trace_header: None,
        sender_id: "s".into(),
        sent_at: now,
        visible_at: now,
        dek_id: None,
        group_id: None,
        dedup_id_sealed: None,
    };
    s.store.insert_grouped(&[(row.id, std::slice::from_ref(&legacy))]).await.unwrap();
    let cutoff = now + TimeDelta::seconds(1);
    s.clock.advance(TimeDelta::seconds(10));
    sqs.send_message().queue_url(&url).message_body("young").send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(3, 0, 0));
    let range = Some(sluice::queue::message::ids_sent_by(cutoff));
    assert_eq!(
        s.store.delete_expired(row.id, cutoff, 100, range).await.unwrap(),
        1,
        "the time-ordered id sent by the cutoff"
    );
    assert_eq!(s.store.delete_expired(row.id, cutoff, 100, range).await.unwrap(), 0);
    assert_eq!(
        s.store.delete_expired(row.id, cutoff, 100, None).await.unwrap(),
        1,
        "the full pass finds the random id"
    );
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["young"]);
}

#[tokio::test]
async fn purge_deletes_every_message_and_a_second_purge_within_sixty_seconds_is_refused() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "purge", &[]).await;
    for i in 0..3 {
        sqs.send_message().queue_url(&url).message_body(format!("m{i}")).send().await.unwrap();
    }
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(0, 0, 0));
    sqs.send_message().queue_url(&url).message_body("after").send().await.unwrap();
    s.clock.advance(TimeDelta::seconds(30));
    let err = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_purge_queue_in_progress(), "{err:?}");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(counts(&sqs, &url).await, c(1, 0, 0), "a refused purge deletes nothing");
    s.clock.advance(TimeDelta::seconds(31));
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(counts(&sqs, &url).await, c(0, 0, 0));
}

#[tokio::test]
async fn one_send_wakes_exactly_one_of_two_long_polling_consumers() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "lp2", &[]).await;
    let wait_end = WaitEnd::after_seconds(20);
    let consumer = |sqs: aws_sdk_sqs::Client, url: String| {
        tokio::spawn(async move {
            let out = sqs.receive_message().queue_url(url).wait_time_seconds(20).send().await.unwrap();
            out.messages().iter().map(|m| m.body().unwrap().to_owned()).collect::<Vec<_>>()
        })
    };
    let mut consumers = vec![consumer(sqs.clone(), url.clone()), consumer(sqs.clone(), url.clone())];
    s.until_long_polls_open(2).await;
    sqs.send_message().queue_url(&url).message_body("once").send().await.unwrap();
    // The winner returns at once; the other keeps waiting.
    let (first, i, rest) =
        wait_end.answered_before("the woken consumer", futures_util::future::select_all(consumers.drain(..))).await;
    assert_eq!(first.unwrap(), ["once"], "consumer {i} got the message");
    let other = rest.into_iter().next().unwrap();
    assert!(!other.is_finished(), "the other consumer still waits");
    s.until_long_polls_open(1).await;
    // Still waiting, the other takes the next message.
    sqs.send_message().queue_url(&url).message_body("next").send().await.unwrap();
    let got = wait_end.answered_before("the other consumer", other).await.unwrap();
    assert_eq!(got, ["next"], "each message went to exactly one consumer");
}

#[tokio::test]
async fn an_idle_long_poll_issues_no_database_statements_while_it_waits() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "idle", &[(N::ReceiveMessageWaitTimeSeconds, "4")]).await;
    let poll = tokio::spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).send().await.unwrap().messages().len() }
    });
    s.until_long_polls_asleep(1).await;
    // The poll has looked once and sleeps; from here to its end it issues nothing.
    let before = s.store.statement_count();
    assert_eq!(poll.await.unwrap(), 0, "the queue default wait applies and ends empty");
    // Woken by its deadline alone, the poll ends without looking again.
    assert_eq!(s.store.statement_count(), before, "statements issued while the poll slept or as it ended");
}

#[tokio::test]
async fn a_long_poll_wakes_when_a_delayed_message_becomes_visible() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "lpdelay", &[]).await;
    sqs.send_message().queue_url(&url).message_body("soon").delay_seconds(2).send().await.unwrap();
    let wait_end = WaitEnd::after_seconds(15);
    let poll = tokio::spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move {
            sqs.receive_message()
                .queue_url(url)
                .wait_time_seconds(15)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap()
        }
    });
    s.until_long_polls_open(1).await;
    assert_eq!(counts(&sqs, &url).await, c(0, 0, 1), "the message is delayed while the poll waits");
    // Nothing sends again: the poll wakes when the delay ends, not at the end of its wait.
    let got = wait_end.answered_before("the poll on a delayed message", poll).await.unwrap();
    let m = &got.messages()[0];
    let attr = |n: MessageSystemAttributeName| m.attributes().unwrap()[&n].parse::<i64>().unwrap();
    let (sent, received) = (
        attr(MessageSystemAttributeName::SentTimestamp),
        attr(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
    );
    assert!(received >= sent + 2_000, "received at {received}, sent at {sent} with a delay of 2 s");
}

#[tokio::test]
async fn open_long_polls_are_bounded() {
    let s = TestServer::start_with(|c| c.max_long_polls = 1).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "bound", &[]).await;
    let first = tokio::spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).wait_time_seconds(3).send().await.unwrap() }
    });
    s.until_long_polls_open(1).await;
    // A raw call: the SDK would retry RequestThrottled (it is a throttling error) and might
    // get through once the first poll ends.
    let r = s.raw(&a).call("ReceiveMessage", &format!(r#"{{"QueueUrl":"{url}","WaitTimeSeconds":3}}"#)).await;
    assert_eq!(r.header("x-amzn-query-error"), Some("RequestThrottled;Sender"), "{}", r.body);
    // Short polls are not limited.
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    first.await.unwrap();
    // The permit is released when a poll ends.
    sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await.unwrap();
}

#[tokio::test]
async fn past_the_in_flight_limit_a_short_poll_gets_over_limit_and_a_long_poll_nothing() {
    let s = TestServer::start_with(|c| c.max_inflight_per_queue = 3).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "inflight", &[]).await;
    for i in 0..5 {
        sqs.send_message().queue_url(&url).message_body(format!("m{i}")).send().await.unwrap();
    }
    let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 3, "no more than the limit in flight");
    let err = sqs.receive_message().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&err), "OverLimit");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    let long = sqs.receive_message().queue_url(&url).wait_time_seconds(1).send().await.unwrap();
    assert!(long.messages().is_empty());
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(got.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap().messages().len(),
        1
    );
}

#[tokio::test]
async fn the_in_flight_limit_holds_when_receives_skip_the_count() {
    // Far below the limit a receive does not count in-flight messages; the estimate kept
    // between counts must still stop receives exactly at the limit.
    let s = TestServer::start_with(|c| c.max_inflight_per_queue = 25).await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = queue_with(&sqs, "estimate", &[]).await;
    for i in 0..4 {
        let entries = (0..10).map(|j| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("e{j}"))
                .message_body(format!("m{i}-{j}"))
                .build()
                .unwrap()
        });
        sqs.send_message_batch().queue_url(&url).set_entries(Some(entries.collect())).send().await.unwrap();
    }
    let mut taken = 0;
    for _ in 0..4 {
        match sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await {
            Ok(got) => taken += got.messages().len(),
            Err(e) => assert_eq!(error_code(&e), "OverLimit"),
        }
    }
    assert_eq!(taken, 25, "exactly the limit is in flight");
}
