//! Dead-letter queues: RedrivePolicy, RedriveAllowPolicy, the move on the receive that would
//! exceed maxReceiveCount, ListDeadLetterSourceQueues, DeadLetterQueueSourceArn.

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName as N};
use chrono::TimeDelta;

use crate::harness::{TestServer, error_code};

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned()
}

fn arn(s: &TestServer, account: &str, name: &str) -> String {
    let _ = s;
    format!("arn:aws:sqs:local:{account}:{name}")
}

fn policy(target: &str, max: u32) -> String {
    format!(r#"{{"deadLetterTargetArn":"{target}","maxReceiveCount":{max}}}"#)
}

#[tokio::test]
async fn third_receive_with_max_two_moves_the_message_to_the_dlq_exactly_once() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = queue(&sqs, "orders-dlq").await;
    let src = queue(&sqs, "orders").await;
    let p = policy(&arn(&s, &a.id, "orders-dlq"), 2);
    sqs.set_queue_attributes().queue_url(&src).attributes(N::RedrivePolicy, &p).send().await.unwrap();
    let got = sqs.get_queue_attributes().queue_url(&src).attribute_names(N::RedrivePolicy).send().await.unwrap();
    assert_eq!(got.attributes().unwrap()[&N::RedrivePolicy], p);

    let attr = MessageAttributeValue::builder().data_type("String").string_value("kept").build().unwrap();
    let sent =
        sqs.send_message().queue_url(&src).message_body("poison").message_attributes("a", attr).send().await.unwrap();
    for n in 1..=2 {
        let got = sqs.receive_message().queue_url(&src).visibility_timeout(5).send().await.unwrap();
        assert_eq!(got.messages().len(), 1, "delivery {n}");
        s.clock.advance(TimeDelta::seconds(6));
    }
    let third = sqs.receive_message().queue_url(&src).send().await.unwrap();
    assert!(third.messages().is_empty(), "the third receive moves it instead of returning it");
    assert!(sqs.receive_message().queue_url(&src).send().await.unwrap().messages().is_empty());

    let got = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1, "in the DLQ exactly once");
    let m = &got.messages()[0];
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(m.body(), Some("poison"), "sealed bodies stay readable in the DLQ");
    assert_eq!(m.message_attributes().unwrap()["a"].string_value(), Some("kept"));
    assert_eq!(m.md5_of_message_attributes(), sent.md5_of_message_attributes());
    let sys = m.attributes().unwrap();
    assert_eq!(sys[&MessageSystemAttributeName::DeadLetterQueueSourceArn], arn(&s, &a.id, "orders"));
    assert_eq!(sys[&MessageSystemAttributeName::ApproximateReceiveCount], "1");
    // Handles from the DLQ work there.
    sqs.delete_message().queue_url(&dlq).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
}

#[tokio::test]
async fn redrive_policy_is_validated_against_the_target() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let src = queue(&sqs, "src").await;
    let closed = queue(&sqs, "closed-dlq").await;
    let picky = queue(&sqs, "picky-dlq").await;
    sqs.set_queue_attributes()
        .queue_url(&closed)
        .attributes(N::RedriveAllowPolicy, r#"{"redrivePermission":"denyAll"}"#)
        .send()
        .await
        .unwrap();
    let by_queue = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#, arn(&s, &a.id, "other"));
    sqs.set_queue_attributes().queue_url(&picky).attributes(N::RedriveAllowPolicy, &by_queue).send().await.unwrap();
    let b = s.account().await;
    s.sqs(&b).create_queue().queue_name("theirs").send().await.unwrap();
    for (target, why) in [
        (arn(&s, &a.id, "missing"), "target does not exist"),
        (arn(&s, &a.id, "src"), "the queue itself"),
        (arn(&s, &a.id, "closed-dlq"), "denyAll"),
        (arn(&s, &a.id, "picky-dlq"), "byQueue without this source"),
        (arn(&s, &b.id, "theirs"), "another account"),
    ] {
        let err = sqs
            .set_queue_attributes()
            .queue_url(&src)
            .attributes(N::RedrivePolicy, policy(&target, 3))
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&err), "InvalidAttributeValue", "{why}");
    }
    let got = sqs.get_queue_attributes().queue_url(&src).attribute_names(N::All).send().await.unwrap();
    assert!(!got.attributes().unwrap().contains_key(&N::RedrivePolicy), "refusals stored nothing");
    let got = sqs.get_queue_attributes().queue_url(&picky).attribute_names(N::RedriveAllowPolicy).send().await.unwrap();
    assert_eq!(got.attributes().unwrap()[&N::RedriveAllowPolicy], by_queue);
    // At creation too, and clearing with "".
    let url = sqs
        .create_queue()
        .queue_name("born-with-dlq")
        .attributes(N::RedrivePolicy, policy(&arn(&s, &a.id, "src"), 4))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    sqs.set_queue_attributes().queue_url(&url).attributes(N::RedrivePolicy, "").send().await.unwrap();
    let got = sqs.get_queue_attributes().queue_url(&url).attribute_names(N::All).send().await.unwrap();
    assert!(!got.attributes().unwrap().contains_key(&N::RedrivePolicy));
}

#[tokio::test]
async fn list_dead_letter_source_queues_paginates() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = queue(&sqs, "shared-dlq").await;
    for n in ["s1", "s2", "s3"] {
        sqs.create_queue()
            .queue_name(n)
            .attributes(N::RedrivePolicy, policy(&arn(&s, &a.id, "shared-dlq"), 5))
            .send()
            .await
            .unwrap();
    }
    queue(&sqs, "unrelated").await;
    let all = sqs.list_dead_letter_source_queues().queue_url(&dlq).send().await.unwrap();
    assert_eq!(all.queue_urls(), [s.queue_url(&a, "s1"), s.queue_url(&a, "s2"), s.queue_url(&a, "s3")]);
    let page = sqs.list_dead_letter_source_queues().queue_url(&dlq).max_results(2).send().await.unwrap();
    assert_eq!(page.queue_urls().len(), 2);
    let rest = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .max_results(2)
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.queue_urls(), [s.queue_url(&a, "s3")]);
    assert!(rest.next_token().is_none());
    let none = sqs.list_dead_letter_source_queues().queue_url(s.queue_url(&a, "unrelated")).send().await.unwrap();
    assert!(none.queue_urls().is_empty());
}
