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
        assert_eq!(error_code(&err), "InvalidParameterValue", "{why}");
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

async fn wait_for_status(
    sqs: &aws_sdk_sqs::Client,
    source_arn: &str,
    status: &str,
) -> aws_sdk_sqs::types::ListMessageMoveTasksResultEntry {
    for _ in 0..100 {
        let out = sqs.list_message_move_tasks().source_arn(source_arn).send().await.unwrap();
        if let Some(t) = out.results().first()
            && t.status() == Some(status)
        {
            return t.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let last = sqs.list_message_move_tasks().source_arn(source_arn).send().await.unwrap();
    panic!("task never reached {status}: {:?}", last.results());
}

/// Sends `n` messages to `src` and lets them all fall into its DLQ `dlq` (maxReceiveCount 1):
/// receives until the DLQ holds them, each round making what is in flight visible again.
async fn poison(s: &TestServer, sqs: &aws_sdk_sqs::Client, src: &str, dlq: &str, n: usize) {
    for i in 0..n {
        sqs.send_message().queue_url(src).message_body(format!("m{i}")).send().await.unwrap();
    }
    let in_dlq = || async {
        let got =
            sqs.get_queue_attributes().queue_url(dlq).attribute_names(N::ApproximateNumberOfMessages).send().await;
        got.unwrap().attributes().unwrap()[&N::ApproximateNumberOfMessages].parse::<usize>().unwrap()
    };
    for _ in 0..(10 * n + 10) {
        if in_dlq().await == n {
            return;
        }
        sqs.receive_message().queue_url(src).max_number_of_messages(10).visibility_timeout(1).send().await.unwrap();
        s.clock.advance(TimeDelta::seconds(2));
    }
    assert_eq!(in_dlq().await, n, "every message fell into the DLQ");
}

#[tokio::test]
async fn a_move_task_returns_dead_letters_to_their_source_queue() {
    let s = TestServer::start_alone().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = queue(&sqs, "redrive-dlq").await;
    let src = sqs
        .create_queue()
        .queue_name("redrive-src")
        .attributes(N::RedrivePolicy, policy(&arn(&s, &a.id, "redrive-dlq"), 1))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    poison(&s, &sqs, &src, &dlq, 3).await;
    let dlq_count = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(N::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(dlq_count.attributes().unwrap()[&N::ApproximateNumberOfMessages], "3");

    let dlq_arn = arn(&s, &a.id, "redrive-dlq");
    let started =
        sqs.start_message_move_task().source_arn(&dlq_arn).max_number_of_messages_per_second(50).send().await.unwrap();
    assert!(started.task_handle().is_some());
    let done = wait_for_status(&sqs, &dlq_arn, "COMPLETED").await;
    assert_eq!(done.approximate_number_of_messages_moved(), 3);
    assert_eq!(done.approximate_number_of_messages_to_move(), Some(3));
    assert_eq!(done.source_arn(), Some(dlq_arn.as_str()));
    assert!(done.task_handle().is_none(), "a handle only while running");
    let got = sqs.receive_message().queue_url(&src).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2"], "back in the source, readable");
    assert!(sqs.receive_message().queue_url(&dlq).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn move_tasks_go_to_a_chosen_destination_one_at_a_time_and_can_be_cancelled() {
    let s = TestServer::start_alone().await;
    let a = s.account().await;
    let sqs = s.sqs(&a);
    let dlq = queue(&sqs, "mt-dlq").await;
    let dest = queue(&sqs, "mt-dest").await;
    let src = sqs
        .create_queue()
        .queue_name("mt-src")
        .attributes(N::RedrivePolicy, policy(&arn(&s, &a.id, "mt-dlq"), 1))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    poison(&s, &sqs, &src, &dlq, 20).await;
    let dlq_arn = arn(&s, &a.id, "mt-dlq");
    let slow = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(arn(&s, &a.id, "mt-dest"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .unwrap();
    let err = sqs.start_message_move_task().source_arn(&dlq_arn).send().await.unwrap_err();
    assert!(err.as_service_error().unwrap().is_unsupported_operation(), "one active task per queue: {err:?}");
    let running = wait_for_status(&sqs, &dlq_arn, "RUNNING").await;
    assert_eq!(running.task_handle(), slow.task_handle());
    assert_eq!(running.max_number_of_messages_per_second(), Some(1));
    crate::harness::eventually("the slow task moves its first message", || async {
        let out = sqs.list_message_move_tasks().source_arn(&dlq_arn).send().await.unwrap();
        out.results().first().is_some_and(|t| t.approximate_number_of_messages_moved() >= 1)
    })
    .await;
    let cancelled = sqs.cancel_message_move_task().task_handle(slow.task_handle().unwrap()).send().await.unwrap();
    let moved = cancelled.approximate_number_of_messages_moved();
    assert!((1..20).contains(&moved), "moved {moved} at one per second before the cancel");
    let t = wait_for_status(&sqs, &dlq_arn, "CANCELLED").await;
    assert_eq!(t.destination_arn(), Some(arn(&s, &a.id, "mt-dest").as_str()));
    let err = sqs.cancel_message_move_task().task_handle(slow.task_handle().unwrap()).send().await.unwrap_err();
    assert_eq!(error_code(&err), "InvalidParameterValue", "only a running task can be cancelled");
    // What moved is in the destination.
    let counted = sqs
        .get_queue_attributes()
        .queue_url(&dest)
        .attribute_names(N::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let in_dest: i64 = counted.attributes().unwrap()[&N::ApproximateNumberOfMessages].parse().unwrap();
    assert!(in_dest >= moved, "{in_dest} in the destination, {moved} reported");

    // A queue that is nobody's DLQ, and a missing queue, are not valid sources.
    let err = sqs.start_message_move_task().source_arn(arn(&s, &a.id, "mt-dest")).send().await.unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    let err = sqs.list_message_move_tasks().source_arn(arn(&s, &a.id, "nope")).send().await.unwrap_err();
    assert_eq!(error_code(&err), "ResourceNotFoundException");
    // Another account's queues are refused before anything is looked up.
    let b = s.account().await;
    let err = s.sqs(&b).start_message_move_task().source_arn(&dlq_arn).send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
    let err = s.sqs(&b).cancel_message_move_task().task_handle(slow.task_handle().unwrap()).send().await.unwrap_err();
    assert_eq!(error_code(&err), "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_task_runs_on_one_instance_and_survives_that_instance_stopping() {
    // Alone on a database: only these instances may take the task.
    let db = crate::harness::own_database().await;
    let on_db = |db: String| move |c: &mut sluice::Config| c.database_url = Some(db.into());
    let first = TestServer::start_with(on_db(db.clone())).await;
    let a = first.account().await;
    let sqs = first.sqs(&a);
    let dlq = queue(&sqs, "ha-dlq").await;
    let dest = queue(&sqs, "ha-dest").await;
    let src = sqs
        .create_queue()
        .queue_name("ha-src")
        .attributes(N::RedrivePolicy, policy(&arn(&first, &a.id, "ha-dlq"), 1))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    poison(&first, &sqs, &src, &dlq, 10).await;
    let dlq_arn = arn(&first, &a.id, "ha-dlq");
    sqs.start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(arn(&first, &a.id, "ha-dest"))
        .max_number_of_messages_per_second(2)
        .send()
        .await
        .unwrap();
    // A second instance while the first holds the task's lease: it must not run it too.
    let lease_owner = || async {
        let (owner,): (Option<uuid::Uuid>,) =
            sqlx::query_as("SELECT lease_owner FROM move_tasks WHERE account_id = $1 AND status = 'RUNNING'")
                .bind(&a.id)
                .fetch_one(first.store.pool())
                .await
                .unwrap();
        owner
    };
    let holder = loop {
        if let Some(o) = lease_owner().await {
            break o;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(holder, first.moves.instance(), "the first instance took the task");
    let second = TestServer::start_with(on_db(db.clone())).await;
    // Each look of the second instance's worker finds the task leased and leaves it.
    let looked = second.moves.looks();
    second.moves.kick();
    crate::harness::eventually("the second instance looks for tasks", || async { second.moves.looks() > looked }).await;
    second.moves.kick();
    crate::harness::eventually("and looks again", || async { second.moves.looks() >= looked + 2 }).await;
    assert_eq!(lease_owner().await, Some(holder), "only the instance holding the lease runs the task");
    drop(first);
    drop(second);
    // A later instance, after the lease has lapsed, takes the task over and finishes it.
    let later = sluice::clock::OffsetClock::new();
    later.advance(TimeDelta::seconds(61));
    let third = TestServer::start_with_clock(on_db(db), later).await;
    let sqs = third.sqs(&a);
    let done = wait_for_status(&sqs, &dlq_arn, "COMPLETED").await;
    assert_eq!(done.approximate_number_of_messages_moved(), 10);
    let mut bodies = Vec::new();
    loop {
        let got = sqs.receive_message().queue_url(&dest).max_number_of_messages(10).send().await.unwrap();
        if got.messages().is_empty() {
            break;
        }
        bodies.extend(got.messages().iter().map(|m| m.body().unwrap().to_owned()));
    }
    bodies.sort();
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        v.sort();
        v
    };
    assert_eq!(bodies, expected, "every message moved exactly once");
}
