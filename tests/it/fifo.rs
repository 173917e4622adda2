//! FIFO queues through the official SDK: the points of the FIFO checklist (creation rules,
//! group and deduplication ids, deduplication and its window, sequence numbers, order within
//! a group, the head-of-line group lock, expired handles, fair standard queues).

use aws_sdk_sqs::types::{
    MessageSystemAttributeName as M, QueueAttributeName as N, SendMessageBatchRequestEntry as Entry,
};
use chrono::TimeDelta;

use crate::harness::{TestServer, error_code};

type Sqs = aws_sdk_sqs::Client;

async fn fifo(sqs: &Sqs, name: &str, extra: &[(N, &str)]) -> String {
    let mut req = sqs.create_queue().queue_name(name).attributes(N::FifoQueue, "true");
    for (k, v) in extra {
        req = req.attributes(k.clone(), *v);
    }
    req.send().await.unwrap().queue_url().unwrap().to_owned()
}

/// Sends `body` to group `group` with deduplication id `dedup`; returns (MessageId, SequenceNumber).
async fn send(sqs: &Sqs, url: &str, group: &str, dedup: &str, body: &str) -> (String, String) {
    let out = sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_group_id(group)
        .message_deduplication_id(dedup)
        .send()
        .await
        .unwrap();
    (out.message_id().unwrap().to_owned(), out.sequence_number().unwrap().to_owned())
}

/// Receives up to `max` messages hidden for `visibility` seconds; returns (body, handle).
async fn receive(sqs: &Sqs, url: &str, max: i32, visibility: i32) -> Vec<(String, String)> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .visibility_timeout(visibility)
        .send()
        .await
        .unwrap()
        .messages()
        .iter()
        .map(|m| (m.body().unwrap().to_owned(), m.receipt_handle().unwrap().to_owned()))
        .collect()
}

fn bodies(got: &[(String, String)]) -> Vec<&str> {
    got.iter().map(|(b, _)| b.as_str()).collect()
}

/// Sends `batches` batches of ten, 16 at a time; `entry(batch, i)` makes entry `i` of a batch
/// (its Id is set here).
async fn send_batches(
    sqs: &Sqs,
    url: &str,
    batches: usize,
    entry: fn(usize, usize) -> aws_sdk_sqs::types::builders::SendMessageBatchRequestEntryBuilder,
) {
    let mut sends = tokio::task::JoinSet::new();
    for batch in 0..batches {
        let (sqs, url) = (sqs.clone(), url.to_owned());
        sends.spawn(async move {
            let mut req = sqs.send_message_batch().queue_url(&url);
            for i in 0..10 {
                req = req.entries(entry(batch, i).id(format!("e{i}")).build().unwrap());
            }
            assert!(req.send().await.unwrap().failed().is_empty());
        });
        if sends.len() >= 16 {
            sends.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
}

#[tokio::test]
async fn fifo_creation_follows_awss_rules_for_names_attributes_and_recreation() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    // 1. FifoQueue=true without the suffix; 2. the suffix without FifoQueue.
    let e = sqs.create_queue().queue_name("plain").attributes(N::FifoQueue, "true").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    let e = sqs.create_queue().queue_name("plain.fifo").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    // 3. A standard queue knows no FifoQueue, not even false; 4. nor the FIFO settings.
    let e = sqs.create_queue().queue_name("plain").attributes(N::FifoQueue, "false").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidAttributeName");
    assert!(format!("{e:?}").contains("Unknown Attribute FifoQueue."), "{e:?}");
    for n in [N::DeduplicationScope, N::FifoThroughputLimit] {
        let e = sqs.create_queue().queue_name("plain").attributes(n.clone(), "x").send().await.unwrap_err();
        assert_eq!(error_code(&e), "InvalidAttributeName");
        assert!(format!("{e:?}").contains("only when FifoQueue is set to true"), "{n:?}: {e:?}");
    }
    // Defaults, as GetQueueAttributes(All) reports them.
    let url = fifo(&sqs, "orders.fifo", &[]).await;
    let got = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();
    let attrs = got.attributes().unwrap();
    assert_eq!(attrs[&N::FifoQueue], "true");
    assert_eq!(attrs[&N::ContentBasedDeduplication], "false");
    assert_eq!(attrs[&N::DeduplicationScope], "queue");
    assert_eq!(attrs[&N::FifoThroughputLimit], "perQueue");
    // 5. The type cannot change.
    let e = sqs.set_queue_attributes().queue_url(&url).attributes(N::FifoQueue, "false").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidAttributeValue");
    assert!(format!("{e:?}").contains("Modifying queue type is not supported."), "{e:?}");
    // High throughput needs per-group deduplication; together they are accepted.
    let e = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(N::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidAttributeValue");
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(N::DeduplicationScope, "messageGroup")
        .attributes(N::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .unwrap();
    // 6. Re-creating with the same attributes answers the same URL; another value does not.
    let again = fifo(&sqs, "orders.fifo", &[(N::DeduplicationScope, "messageGroup")]).await;
    assert_eq!(again, url);
    let e = sqs
        .create_queue()
        .queue_name("orders.fifo")
        .attributes(N::FifoQueue, "true")
        .attributes(N::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "QueueAlreadyExists");
    // A standard queue reports none of the FIFO attributes.
    let plain = sqs.create_queue().queue_name("plain").send().await.unwrap().queue_url().unwrap().to_owned();
    let got = sqs.get_queue_attributes().queue_url(&plain).attribute_names(N::All).send().await.unwrap();
    assert!(!got.attributes().unwrap().contains_key(&N::FifoQueue));
}

#[tokio::test]
async fn fifo_sends_need_a_group_and_a_deduplication_id_and_refuse_a_delay() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "sends.fifo", &[]).await;
    // 7. No group: MissingParameter alone, the whole batch in a batch.
    let e =
        sqs.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await.unwrap_err();
    assert_eq!(error_code(&e), "MissingParameter");
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            Entry::builder()
                .id("a")
                .message_body("x")
                .message_group_id("g")
                .message_deduplication_id("1")
                .build()
                .unwrap(),
        )
        .entries(Entry::builder().id("b").message_body("y").message_deduplication_id("2").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    assert!(format!("{e:?}").contains("The request must contain the parameter MessageGroupId."), "{e:?}");
    // 8. No deduplication id and no content-based deduplication.
    let e = sqs.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    assert!(format!("{e:?}").contains("ContentBasedDeduplication enabled or MessageDeduplicationId provided"));
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(Entry::builder().id("a").message_body("x").message_group_id("g").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    // 9. A message delay is refused; 0 is accepted; the queue's delay applies.
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    assert!(format!("{e:?}").contains("The request include parameter that is not valid for this queue type."));
    // 10. Token rules: 129 characters, empty, a space.
    for bad in ["a".repeat(129), String::new(), "a b".into()] {
        let e = sqs
            .send_message()
            .queue_url(&url)
            .message_body("x")
            .message_group_id("g")
            .message_deduplication_id(&bad)
            .send()
            .await
            .unwrap_err();
        assert!(format!("{e:?}").contains("1 to 128 in length."), "{bad:?}: {e:?}");
    }
    assert_eq!(
        sqs.get_queue_attributes()
            .queue_url(&url)
            .attribute_names(N::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&N::ApproximateNumberOfMessages],
        "0",
        "no refused send stored anything"
    );
    let records: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM fifo_dedup d JOIN queues q ON q.id = d.queue_id WHERE q.account_id = $1",
    )
    .bind(&a.id)
    .fetch_one(s.store.pool())
    .await
    .unwrap();
    assert_eq!(records, 0, "nor recorded a deduplication id");
    send(&sqs, &url, "g", &"a".repeat(128), "fine").await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("no delay")
        .message_group_id("g")
        .message_deduplication_id("zero")
        .delay_seconds(0)
        .send()
        .await
        .unwrap();
    let delayed = fifo(&sqs, "delayed.fifo", &[(N::DelaySeconds, "30")]).await;
    send(&sqs, &delayed, "g", "1", "later").await;
    assert!(receive(&sqs, &delayed, 10, 30).await.is_empty(), "the queue's delay holds it");
    s.clock.advance(TimeDelta::seconds(31));
    assert_eq!(bodies(&receive(&sqs, &delayed, 10, 30).await), ["later"]);
}

#[tokio::test]
async fn a_duplicate_answers_the_first_message_and_stores_nothing_for_five_minutes() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "dedup.fifo", &[(N::ContentBasedDeduplication, "true")]).await;
    // 11. Content-based: the same body twice is one message, answered with the first's ids.
    let first = sqs.send_message().queue_url(&url).message_body("Test").message_group_id("g").send().await.unwrap();
    let second = sqs.send_message().queue_url(&url).message_body("Test").message_group_id("g").send().await.unwrap();
    assert_eq!(first.message_id(), second.message_id());
    assert_eq!(first.sequence_number(), second.sequence_number());
    // 12. Its id is the SHA-256 of the body, shown as MessageDeduplicationId.
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(M::All)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    let m = &got.messages()[0];
    let sys = m.attributes().unwrap();
    assert_eq!(sys[&M::MessageDeduplicationId], "532eaabd9574880dbf76b9b8cc00832c20a6ec113d682299550d7a6e0f345e25");
    assert_eq!(sys[&M::MessageGroupId], "g");
    assert_eq!(Some(sys[&M::SequenceNumber].as_str()), first.sequence_number());
    // 14. Received and deleted, the id still deduplicates within the window.
    sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    let third = sqs.send_message().queue_url(&url).message_body("Test").message_group_id("g").send().await.unwrap();
    assert_eq!(third.message_id(), first.message_id());
    assert!(receive(&sqs, &url, 10, 30).await.is_empty());
    // 13. An explicit id overrides the content: the same body with another id is new.
    sqs.send_message()
        .queue_url(&url)
        .message_body("Test")
        .message_group_id("g")
        .message_deduplication_id("explicit")
        .send()
        .await
        .unwrap();
    assert_eq!(bodies(&receive(&sqs, &url, 10, 0).await), ["Test"]);
    // 15. After five minutes the same body is a new message.
    s.clock.advance(TimeDelta::seconds(301));
    let later = sqs.send_message().queue_url(&url).message_body("Test").message_group_id("g").send().await.unwrap();
    assert_ne!(later.message_id(), first.message_id());
    assert!(later.sequence_number().unwrap() > first.sequence_number().unwrap());
    // 16. PurgeQueue forgets deduplication ids.
    let (id, _) = send(&sqs, &url, "g", "p", "before purge").await;
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let (again, _) = send(&sqs, &url, "g", "p", "after purge").await;
    assert_ne!(id, again);
    assert_eq!(bodies(&receive(&sqs, &url, 10, 30).await), ["after purge"]);
    // Deduplication keys are stored keyed, never as the body's hash.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT d.dedup_key FROM fifo_dedup d JOIN queues q ON q.id = d.queue_id WHERE q.account_id = $1",
    )
    .bind(&a.id)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    assert!(!stored.is_empty());
    let clear = hex::decode("532eaabd9574880dbf76b9b8cc00832c20a6ec113d682299550d7a6e0f345e25").unwrap();
    assert!(stored.iter().all(|k| *k != clear && !k.windows(8).any(|w| w == &clear[..8])));
}

#[tokio::test]
async fn deduplication_scope_is_the_queue_or_the_group() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    // 17. Scope queue: the same id in another group is a duplicate.
    let url = fifo(&sqs, "scope-q.fifo", &[]).await;
    let (one, _) = send(&sqs, &url, "g1", "same", "a").await;
    let (two, _) = send(&sqs, &url, "g2", "same", "b").await;
    assert_eq!(one, two);
    // Scope messageGroup: it is not.
    let url = fifo(&sqs, "scope-g.fifo", &[(N::DeduplicationScope, "messageGroup")]).await;
    let (one, _) = send(&sqs, &url, "g1", "same", "a").await;
    let (two, _) = send(&sqs, &url, "g2", "same", "b").await;
    assert_ne!(one, two);
    let (three, _) = send(&sqs, &url, "g1", "same", "c").await;
    assert_eq!(one, three);
    let mut got = bodies(&receive(&sqs, &url, 10, 30).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    got.sort();
    assert_eq!(got, ["a", "b"]);
    // A changed scope applies to the sends after the change.
    let url = fifo(&sqs, "scope-change.fifo", &[]).await;
    send(&sqs, &url, "g1", "x", "first").await;
    sqs.set_queue_attributes().queue_url(&url).attributes(N::DeduplicationScope, "messageGroup").send().await.unwrap();
    let (in_g2, _) = send(&sqs, &url, "g2", "y", "g2 under the group scope").await;
    let (again_g2, _) = send(&sqs, &url, "g2", "y", "a duplicate in g2").await;
    assert_eq!(in_g2, again_g2);
    let (in_g3, _) = send(&sqs, &url, "g3", "y", "another group").await;
    assert_ne!(in_g2, in_g3);
}

#[tokio::test]
async fn sequence_numbers_grow_within_a_group_and_batches_keep_their_order() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "seq.fifo", &[]).await;
    // 18 and 28: every batch entry has a number, in entry order.
    let mut req = sqs.send_message_batch().queue_url(&url);
    for i in 0..10 {
        req = req.entries(
            Entry::builder()
                .id(format!("e{i}"))
                .message_body(format!("m{i}"))
                .message_group_id("g")
                .message_deduplication_id(format!("d{i}"))
                .build()
                .unwrap(),
        );
    }
    let out = req.send().await.unwrap();
    assert!(out.failed().is_empty());
    let seqs: Vec<&str> = out.successful().iter().map(|e| e.sequence_number().unwrap()).collect();
    assert_eq!(seqs.len(), 10);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs.iter().all(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit())));
    let (_, next) = send(&sqs, &url, "g", "after", "m10").await;
    assert!(next.as_str() > seqs[9]);
    // On receive, and again on redelivery, each message carries the number its send gave it.
    for _ in 0..2 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(M::SequenceNumber)
            .send()
            .await
            .unwrap();
        let received: Vec<&str> =
            got.messages().iter().map(|m| m.attributes().unwrap()[&M::SequenceNumber].as_str()).collect();
        assert_eq!(received, seqs);
    }
    let got = receive(&sqs, &url, 10, 30).await;
    assert_eq!(bodies(&got), (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // No sequence number on a standard queue.
    let plain = sqs.create_queue().queue_name("plain").send().await.unwrap().queue_url().unwrap().to_owned();
    let out = sqs.send_message().queue_url(&plain).message_body("x").send().await.unwrap();
    assert!(out.sequence_number().is_none());
}

#[tokio::test]
async fn a_receive_takes_one_group_in_order_then_fills_from_others() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "order.fifo", &[]).await;
    // 19. g1m1, g2m1, g1m2, g1m3: receive(10) gives g1 contiguous and in order, then g2.
    for (g, d) in [("g1", "g1m1"), ("g2", "g2m1"), ("g1", "g1m2"), ("g1", "g1m3")] {
        send(&sqs, &url, g, d, d).await;
    }
    assert_eq!(bodies(&receive(&sqs, &url, 10, 30).await), ["g1m1", "g1m2", "g1m3", "g2m1"]);
}

#[tokio::test]
async fn an_in_flight_group_stays_locked_until_its_head_is_deleted_or_visible() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "lock.fifo", &[]).await;
    send(&sqs, &url, "g1", "1", "g1m1").await;
    send(&sqs, &url, "g1", "2", "g1m2").await;
    send(&sqs, &url, "g2", "3", "g2m1").await;
    // 20. With g1m1 in flight, a second receiver gets only g2; new sends do not unlock g1.
    let first = receive(&sqs, &url, 1, 30).await;
    assert_eq!(bodies(&first), ["g1m1"]);
    send(&sqs, &url, "g1", "4", "g1m3").await;
    let second = receive(&sqs, &url, 10, 30).await;
    assert_eq!(bodies(&second), ["g2m1"]);
    assert!(receive(&sqs, &url, 10, 30).await.is_empty());
    // 21. Deleting the in-flight head unlocks the group at once.
    sqs.delete_message().queue_url(&url).receipt_handle(&first[0].1).send().await.unwrap();
    let next = receive(&sqs, &url, 10, 30).await;
    assert_eq!(bodies(&next), ["g1m2", "g1m3"]);
    // A partial delete does not: g1m3 still holds the group.
    sqs.delete_message().queue_url(&url).receipt_handle(&next[0].1).send().await.unwrap();
    send(&sqs, &url, "g1", "5", "g1m4").await;
    assert!(receive(&sqs, &url, 10, 30).await.is_empty());
}

#[tokio::test]
async fn head_of_line_only_the_visible_prefix_of_a_group_is_deliverable() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "hol.fifo", &[]).await;
    for b in ["foo", "bar", "baz"] {
        send(&sqs, &url, "g", b, b).await;
    }
    send(&sqs, &url, "g2", "other", "other").await;
    // 22. Receive all three, extend bar: once foo and baz expire, only foo is receivable.
    let got = receive(&sqs, &url, 3, 10).await;
    assert_eq!(bodies(&got), ["foo", "bar", "baz"]);
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&got[1].1)
        .visibility_timeout(100)
        .send()
        .await
        .unwrap();
    s.clock.advance(TimeDelta::seconds(11));
    let mut got = bodies(&receive(&sqs, &url, 10, 10).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    got.sort();
    assert_eq!(got, ["foo", "other"], "baz waits behind bar");
    // 23. ChangeMessageVisibility(0) on the head makes it receivable, not its in-flight sibling.
    let url = fifo(&sqs, "cmv.fifo", &[]).await;
    send(&sqs, &url, "g1", "1", "g1m1").await;
    send(&sqs, &url, "g1", "2", "g1m2").await;
    send(&sqs, &url, "g2", "3", "g2m1").await;
    let got = receive(&sqs, &url, 2, 30).await;
    assert_eq!(bodies(&got), ["g1m1", "g1m2"]);
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&got[0].1)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let mut again = bodies(&receive(&sqs, &url, 10, 30).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    again.sort();
    assert_eq!(again, ["g1m1", "g2m1"]);
    // 24. A receive with VisibilityTimeout=0 does not lock the group.
    let url = fifo(&sqs, "zero.fifo", &[]).await;
    send(&sqs, &url, "g", "1", "m1").await;
    assert_eq!(bodies(&receive(&sqs, &url, 1, 0).await), ["m1"]);
    assert_eq!(bodies(&receive(&sqs, &url, 1, 30).await), ["m1"]);
}

#[tokio::test]
async fn an_expired_handle_cannot_delete_a_fifo_message() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "expired.fifo", &[]).await;
    send(&sqs, &url, "g", "1", "m").await;
    let got = receive(&sqs, &url, 1, 5).await;
    s.clock.advance(TimeDelta::seconds(6));
    // 26.
    let e = sqs.delete_message().queue_url(&url).receipt_handle(&got[0].1).send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    assert!(format!("{e:?}").contains("The receipt handle has expired."), "{e:?}");
    let again = receive(&sqs, &url, 1, 30).await;
    assert_eq!(bodies(&again), ["m"], "the message is still there");
    sqs.delete_message().queue_url(&url).receipt_handle(&again[0].1).send().await.unwrap();
    // A handle of a message deleted already deletes nothing and is not an error.
    sqs.delete_message().queue_url(&url).receipt_handle(&again[0].1).send().await.unwrap();
}

#[tokio::test]
async fn a_fifo_queue_needs_a_fifo_dead_letter_queue() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let standard = sqs.create_queue().queue_name("std-dlq").send().await.unwrap().queue_url().unwrap().to_owned();
    let arn = |name: &str| format!("arn:aws:sqs:{}:{}:{name}", crate::harness::REGION, a.id);
    let policy = |target: &str| format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, arn(target));
    // 27.
    let e = sqs
        .create_queue()
        .queue_name("src.fifo")
        .attributes(N::FifoQueue, "true")
        .attributes(N::RedrivePolicy, policy("std-dlq"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    let _ = standard;
    let dlq = fifo(&sqs, "dlq.fifo", &[]).await;
    let url = fifo(&sqs, "src.fifo", &[(N::RedrivePolicy, &policy("dlq.fifo"))]).await;
    send(&sqs, &url, "g", "poison", "poison").await;
    send(&sqs, &url, "g", "next", "next").await;
    for _ in 0..2 {
        assert_eq!(bodies(&receive(&sqs, &url, 1, 0).await), ["poison"]);
    }
    // The third receive moves it; the group goes on with the next message.
    assert_eq!(bodies(&receive(&sqs, &url, 10, 30).await), ["next"]);
    let got = sqs.receive_message().queue_url(&dlq).message_system_attribute_names(M::All).send().await.unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some("poison"));
    let sys = m.attributes().unwrap();
    assert_eq!(sys[&M::MessageGroupId], "g");
    assert_eq!(sys[&M::MessageDeduplicationId], "poison");
    assert!(sys.contains_key(&M::SequenceNumber));
}

#[tokio::test]
async fn a_standard_queue_takes_a_group_id_as_a_fair_queue_tag_only() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("fair").send().await.unwrap().queue_url().unwrap().to_owned();
    // 29. Accepted, returned as an attribute, no sequence number, no lock.
    let out = sqs.send_message().queue_url(&url).message_body("a").message_group_id("tenant-1").send().await.unwrap();
    assert!(out.sequence_number().is_none());
    sqs.send_message().queue_url(&url).message_body("b").message_group_id("tenant-1").send().await.unwrap();
    // 30. Asked for through the legacy AttributeNames too.
    #[allow(deprecated)]
    let got =
        sqs.receive_message().queue_url(&url).max_number_of_messages(1).attribute_names(N::All).send().await.unwrap();
    let sys = got.messages()[0].attributes().unwrap();
    assert_eq!(sys[&M::MessageGroupId], "tenant-1");
    assert!(!sys.contains_key(&M::SequenceNumber));
    assert_eq!(receive(&sqs, &url, 10, 30).await.len(), 1, "the group is not locked");
    let e =
        sqs.send_message().queue_url(&url).message_body("c").message_deduplication_id("d").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
}

#[tokio::test]
async fn a_retried_receive_attempt_gets_the_same_messages_and_handles_on_any_instance() {
    let s = TestServer::start().await;
    let other = TestServer::start().await;
    let a = s.account().await;
    let (sqs, via_other) = (s.sqs(&a), other.sqs(&a));
    let url = fifo(&sqs, "attempts.fifo", &[]).await;
    for (g, d) in [("g1", "1"), ("g1", "2"), ("g2", "3")] {
        send(&sqs, &url, g, d, d).await;
    }
    let attempt = |sqs: &Sqs, id: &str| {
        sqs.receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(10)
            .receive_request_attempt_id(id)
    };
    let handles = |out: &aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput| -> Vec<(String, String)> {
        out.messages()
            .iter()
            .map(|m| (m.message_id().unwrap().to_owned(), m.receipt_handle().unwrap().to_owned()))
            .collect()
    };
    let first = handles(&attempt(&sqs, "try-1").send().await.unwrap());
    assert_eq!(first.len(), 3);
    // 25. The retry, here and on the other instance: identical ids and handles.
    assert_eq!(handles(&attempt(&sqs, "try-1").send().await.unwrap()), first);
    assert_eq!(handles(&attempt(&via_other, "try-1").send().await.unwrap()), first);
    // Another attempt id is a new receive: everything is in flight.
    assert!(attempt(&sqs, "try-2").send().await.unwrap().messages().is_empty());
    // The retry reset the visibility: 8 s later it hides them for 10 s more.
    s.clock.advance(TimeDelta::seconds(8));
    assert_eq!(handles(&attempt(&sqs, "try-1").send().await.unwrap()), first);
    s.clock.advance(TimeDelta::seconds(8));
    assert!(receive(&sqs, &url, 10, 10).await.is_empty(), "still hidden by the retry");
    // After a delete, the attempt is not retryable.
    sqs.delete_message().queue_url(&url).receipt_handle(&first[2].1).send().await.unwrap();
    let e = attempt(&sqs, "try-1").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    assert!(format!("{e:?}").contains("The receiveRequestAttemptId is not valid anymore"), "{e:?}");
    // Refused on a standard queue.
    let plain = sqs.create_queue().queue_name("plain").send().await.unwrap().queue_url().unwrap().to_owned();
    let e = sqs.receive_message().queue_url(&plain).receive_request_attempt_id("x").send().await.unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_on_two_instances_never_share_a_group_and_see_each_group_in_order() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let s = TestServer::start().await;
    let other = TestServer::start().await;
    let a = s.account().await;
    let (sqs, via_other) = (s.sqs(&a), other.sqs(&a));
    let url = fifo(&sqs, "shared.fifo", &[]).await;
    const GROUPS: usize = 6;
    const EACH: usize = 30;
    for i in 0..EACH {
        let mut req = sqs.send_message_batch().queue_url(&url);
        for g in 0..GROUPS {
            req = req.entries(
                Entry::builder()
                    .id(format!("g{g}"))
                    .message_body(format!("{g}:{i}"))
                    .message_group_id(format!("g{g}"))
                    .message_deduplication_id(format!("{g}-{i}"))
                    .build()
                    .unwrap(),
            );
        }
        assert!(req.send().await.unwrap().failed().is_empty());
    }
    // The next index each group may deliver: a receiver that gets a group checks that its
    // first message is that one (no other receiver holds earlier messages of the group).
    let next: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let mut consumers = Vec::new();
    for c in 0..4 {
        let sqs = if c % 2 == 0 { sqs.clone() } else { via_other.clone() };
        let (url, next) = (url.clone(), next.clone());
        consumers.push(tokio::spawn(async move {
            let mut got = 0;
            let mut idle = 0;
            while idle < 5 {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(4)
                    .visibility_timeout(120)
                    .send()
                    .await
                    .unwrap();
                if out.messages().is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                idle = 0;
                {
                    let mut next = next.lock().unwrap();
                    for m in out.messages() {
                        let (g, i) = m.body().unwrap().split_once(':').unwrap();
                        let (g, i): (usize, usize) = (g.parse().unwrap(), i.parse().unwrap());
                        let want = next.entry(g).or_insert(0);
                        assert_eq!(i, *want, "group {g} delivered out of turn");
                        *want += 1;
                    }
                }
                for m in out.messages() {
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
                got += out.messages().len();
            }
            got
        }));
    }
    let mut total = 0;
    for c in consumers {
        total += c.await.unwrap();
    }
    assert_eq!(total, GROUPS * EACH, "every message once");
    assert!(next.lock().unwrap().values().all(|n| *n == EACH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fair_queue_serves_quiet_groups_while_one_group_floods_it() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = sqs.create_queue().queue_name("fair").send().await.unwrap().queue_url().unwrap().to_owned();
    // 10,000 messages of group A, then 10 each of B to J.
    send_batches(&sqs, &url, 1000, |batch, i| {
        Entry::builder().message_body(format!("A{batch}-{i}")).message_group_id("A")
    })
    .await;
    for g in ["B", "C", "D", "E", "F", "G", "H", "I", "J"] {
        let mut req = sqs.send_message_batch().queue_url(&url);
        for i in 0..10 {
            req = req.entries(
                Entry::builder()
                    .id(format!("e{i}"))
                    .message_body(format!("{g}{i}"))
                    .message_group_id(g)
                    .build()
                    .unwrap(),
            );
        }
        assert!(req.send().await.unwrap().failed().is_empty());
    }
    // The first ten receives of ten take all 90 quiet messages.
    let mut quiet = 0;
    for _ in 0..10 {
        let got = receive(&sqs, &url, 10, 600).await;
        quiet += got.iter().filter(|(b, _)| !b.starts_with('A')).count();
    }
    assert_eq!(quiet, 90);
    let visible: usize = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(N::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&N::ApproximateNumberOfMessages]
        .parse()
        .unwrap();
    assert!(visible >= 9000, "A still has its backlog: {visible}");
}

#[tokio::test]
async fn a_move_task_returns_a_fifo_dead_letter_queues_messages_to_their_source_in_order() {
    // Any instance on a database may run a move task: this server has one of its own.
    let s = TestServer::start_alone().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let arn = |name: &str| format!("arn:aws:sqs:{}:{}:{name}", crate::harness::REGION, a.id);
    let dlq = fifo(&sqs, "back-dlq.fifo", &[]).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn("back-dlq.fifo"));
    let src = fifo(&sqs, "back.fifo", &[(N::RedrivePolicy, &policy)]).await;
    let standard = sqs.create_queue().queue_name("back-std").send().await.unwrap().queue_url().unwrap().to_owned();
    for i in 0..3 {
        send(&sqs, &src, "g", &i.to_string(), &format!("m{i}")).await;
    }
    // Received once each, then moved to the dead-letter queue by the next receive.
    assert_eq!(receive(&sqs, &src, 10, 0).await.len(), 3);
    assert!(receive(&sqs, &src, 10, 0).await.is_empty());
    // Moves go between queues of one type only.
    let e = sqs
        .start_message_move_task()
        .source_arn(arn("back-dlq.fifo"))
        .destination_arn(arn("back-std"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e), "InvalidParameterValue");
    let _ = (standard, dlq);
    sqs.start_message_move_task().source_arn(arn("back-dlq.fifo")).send().await.unwrap();
    crate::harness::eventually("the move task to complete", || async {
        let tasks = sqs.list_message_move_tasks().source_arn(arn("back-dlq.fifo")).send().await.unwrap();
        tasks.results().first().and_then(|t| t.status()) == Some("COMPLETED")
    })
    .await;
    let got = sqs
        .receive_message()
        .queue_url(&src)
        .max_number_of_messages(10)
        .message_system_attribute_names(M::All)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2"], "back in their group, in order");
    let seqs: Vec<&str> = got.messages().iter().map(|m| m.attributes().unwrap()[&M::SequenceNumber].as_str()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(got.messages().iter().all(|m| m.attributes().unwrap()[&M::MessageGroupId] == "g"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_that_come_and_go_leave_nothing_behind() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let url = fifo(&sqs, "many.fifo", &[]).await;
    // 2,000 groups of one message each (one per order, as users make them).
    send_batches(&sqs, &url, 200, |batch, i| {
        let n = batch * 10 + i;
        Entry::builder()
            .message_body(format!("order {n}"))
            .message_group_id(format!("order-{n}"))
            .message_deduplication_id(format!("d{n}"))
    })
    .await;
    let mut got = 0;
    while got < 2000 {
        let batch = receive(&sqs, &url, 10, 60).await;
        assert!(!batch.is_empty(), "every group is deliverable at once ({got} received)");
        let mut delete = sqs.delete_message_batch().queue_url(&url);
        for (i, (_, h)) in batch.iter().enumerate() {
            delete = delete.entries(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(h)
                    .build()
                    .unwrap(),
            );
        }
        assert!(delete.send().await.unwrap().failed().is_empty());
        got += batch.len();
    }
    // No state of any group is left but deduplication records, and those go with their window.
    let left = |table: &'static str| {
        let (pool, account) = (s.store.pool().clone(), a.id.clone());
        async move {
            let sql =
                format!("SELECT count(*) FROM {table} t JOIN queues q ON q.id = t.queue_id WHERE q.account_id = $1");
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(account).fetch_one(&pool).await.unwrap()
        }
    };
    assert_eq!(left("messages").await, 0);
    assert_eq!(left("fifo_dedup").await, 2000);
    s.clock.advance(TimeDelta::seconds(301));
    s.queues.sweep_expired().await.unwrap();
    assert_eq!(left("fifo_dedup").await, 0);
    assert_eq!(left("fifo_attempts").await, 0);
}

#[tokio::test]
async fn sends_and_receives_lock_a_group_under_one_key() {
    // Sends compute a group's lock key in Rust, receives in SQL: they must agree.
    let s = TestServer::start().await;
    for (q, g) in [
        (uuid::Uuid::new_v4(), "g"),
        (uuid::Uuid::nil(), "order-ünï-42"),
        (uuid::Uuid::new_v4(), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    ] {
        let in_sql = sluice::store::fifo::group_lock_in_sql(&s.store, q, g).await.unwrap();
        assert_eq!(in_sql, sluice::store::fifo::group_lock(q, g), "{g}");
    }
}

#[tokio::test]
async fn policies_sealing_and_the_audit_trail_apply_to_fifo_queues_as_to_standard_ones() {
    let s = TestServer::start().await;
    let (a, b) = (s.account().await, s.account().await);
    let (owner, other) = (s.sqs(&a), s.sqs(&b));
    let url = fifo(&owner, "shared-orders.fifo", &[]).await;
    let send_as_other = || {
        other
            .send_message()
            .queue_url(&url)
            .message_body("secret order body")
            .message_group_id("g")
            .message_deduplication_id("x1")
            .send()
    };
    // Deny by default across accounts.
    assert_eq!(error_code(&send_as_other().await.unwrap_err()), "AccessDenied");
    let arn = format!("arn:aws:sqs:{}:{}:shared-orders.fifo", crate::harness::REGION, a.id);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sqs:SendMessage","Resource":"{arn}"}}]}}"#,
        b.id
    );
    owner.set_queue_attributes().queue_url(&url).attributes(N::Policy, policy).send().await.unwrap();
    let sent = send_as_other().await.unwrap();
    assert!(sent.sequence_number().is_some());
    // Granted SendMessage only: the other account cannot receive.
    let e = other.receive_message().queue_url(&url).send().await.unwrap_err();
    assert_eq!(error_code(&e), "AccessDenied");
    // Sealed at rest: neither the body nor the deduplication id is stored in clear.
    let stored: Vec<(Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT m.body_sealed, m.dedup_id_sealed FROM messages m JOIN queues q ON q.id = m.queue_id WHERE q.account_id = $1",
    )
    .bind(&a.id)
    .fetch_all(s.store.pool())
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    let (body, dedup) = &stored[0];
    let dedup = dedup.as_ref().expect("the deduplication id is kept, sealed");
    assert!(!body.windows(12).any(|w| w == b"secret order"));
    assert!(!dedup.windows(2).any(|w| w == b"x1"));
    assert_eq!(bodies(&receive(&owner, &url, 10, 30).await), ["secret order body"]);
    // The audit trail records the FIFO queue's management changes.
    let entries = s
        .tenancy
        .audit(&sluice::store::audit::AuditFilter { account_id: Some(a.id.clone()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["sqs:CreateQueue", "sqs:SetQueueAttributes"]);
}
