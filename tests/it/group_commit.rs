//! Group commit: concurrent sends (and deletes) are stored together, and one failing send never fails the
//! others of its group.

use sluice::domain::{QueueRef, ReceiptHandle};
use sluice::error::SqsError;
use sluice::queue::commit::GroupCommit;
use sluice::queue::send::SendInput;
use sluice::store::{NewMessage, StoreError};

use crate::harness::TestServer;

fn input(body: String) -> SendInput {
    SendInput {
        body,
        delay_seconds: None,
        attributes: Default::default(),
        trace_header: None,
        sender_id: "AIDATEST".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn concurrent_sends_share_statements_and_cache_loads_and_each_is_stored_once() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("grouped").send().await.unwrap().queue_url.unwrap();
    let r = QueueRef::from_url(&url).unwrap();
    // Warm the data-key cache; then a change anywhere (here, a notice as any queue or key
    // change sends) makes every cached row stale just before the burst.
    s.queues.send_message(&r, input("warm".into())).await.unwrap();
    s.store.caches_changed().await;
    let (statements, writes, epoch) = (s.store.statement_count(), s.store.message_writes(), s.store.cache_epoch());
    let started = std::time::Instant::now();
    let sends = (0..64).map(|i| s.queues.send_message(&r, input(format!("m{i}"))));
    let sent = futures_util::future::join_all(sends).await;
    // Wake-up notices for other instances go out at most once per 5 ms while sends arrive.
    let notices = u64::try_from(started.elapsed().as_millis() / 5).unwrap_or(u64::MAX) + 1;
    let statements = s.store.statement_count() - statements;
    let writes = s.store.message_writes() - writes;
    // Tests in parallel change accounts and queues meanwhile: each change starts an epoch.
    let changes = s.store.cache_epoch() - epoch;
    assert!(sent.iter().all(Result::is_ok), "every send succeeds");
    // Ungrouped, 64 sends take 64 inserts.
    assert!(writes <= 16, "64 concurrent sends took {writes} inserts: they were not grouped");
    // Each epoch costs one read of the queue's row and one of the account's limits and
    // usage (two statements), however many sends miss together; without single-flight
    // loads, each of the 64 sends would read all three.
    let others = statements - writes;
    assert!(
        others <= 3 * (changes + 1) + notices + 4,
        "64 concurrent sends took {others} other statements over {changes} cache changes and {notices} notice periods"
    );
    // Every one of them is there, once.
    let (mut bodies, mut handles) = (Vec::new(), Vec::new());
    loop {
        let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            bodies.extend(m.body);
            handles.extend(m.receipt_handle);
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = (0..64).map(|i| format!("m{i}")).chain(["warm".into()]).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    // Concurrent deletes are grouped the same way, and each takes effect.
    let before = s.store.message_writes();
    let handles: Vec<ReceiptHandle> = handles.iter().map(|h| ReceiptHandle::parse(h).unwrap()).collect();
    let deletes = handles.iter().map(|h| s.queues.delete_message(&r, h));
    assert!(futures_util::future::join_all(deletes).await.iter().all(Result::is_ok));
    let writes = s.store.message_writes() - before;
    assert!(writes <= 16, "65 concurrent deletes took {writes} deletes: they were not grouped");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    for n in ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] {
        assert_eq!(attrs[&aws_sdk_sqs::types::QueueAttributeName::from(n)], "0", "{n}");
    }
}

#[tokio::test]
async fn a_send_to_a_vanished_queue_fails_alone_in_its_group() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("kept").send().await.unwrap().queue_url.unwrap();
    let row = s.store.queue_by_name(&a.id, "kept").await.unwrap().unwrap();
    let message = |body: &str| NewMessage {
        id: uuid::Uuid::new_v4(),
        body_sealed: body.as_bytes().to_vec(),
        attributes_sealed: None,
        trace_header: None,
        sender_id: "s".into(),
        sent_at: chrono::Utc::now(),
        visible_at: chrono::Utc::now() + chrono::TimeDelta::hours(1),
        dek_id: None,
        group_id: None,
        dedup_id_sealed: None,
    };
    // The store names the failure.
    let gone = s.store.insert_grouped(&[(uuid::Uuid::new_v4(), &[message("x")])]).await;
    assert!(matches!(gone, Err(StoreError::Gone(_))), "{gone:?}");
    // In one group (a single flush at a time), the vanished queue's send fails and the
    // others are stored.
    let group = GroupCommit::new(s.store.clone(), 1);
    let inserts =
        (0..9).map(|i| if i == 4 { uuid::Uuid::new_v4() } else { row.id }).map(|q| group.insert(q, vec![message("y")]));
    let results = futures_util::future::join_all(inserts).await;
    for (i, res) in results.iter().enumerate() {
        if i == 4 {
            assert!(matches!(res, Err(SqsError::QueueDoesNotExist)), "{res:?}");
        } else {
            assert!(res.is_ok(), "send {i}: {res:?}");
        }
    }
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed =
        counts.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed].clone();
    assert_eq!(delayed, "8");
}
