//! Two `sluice` instances on one database give the guarantees of one.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::TestServer;

/// A second instance: every test server shares the database and the master key.
async fn twin(_first: &TestServer) -> TestServer {
    TestServer::start().await
}

#[tokio::test]
async fn a_long_poll_on_one_instance_wakes_on_a_send_through_the_other() {
    let a_side = TestServer::start().await;
    let b_side = twin(&a_side).await;
    let acct = a_side.account().await;
    let (via_a, via_b) = (a_side.sqs(&acct), b_side.sqs(&acct));
    let url = via_a.create_queue().queue_name("across").send().await.unwrap().queue_url().unwrap().to_owned();
    let started = Instant::now();
    let poll = tokio::spawn({
        let (sqs, url) = (via_b.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).wait_time_seconds(20).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    via_a.send_message().queue_url(&url).message_body("from A").send().await.unwrap();
    let got = poll.await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("from A"));
    assert!(started.elapsed() < Duration::from_secs(5), "woke after {:?}", started.elapsed());
    // Handles issued by one instance work on the other.
    via_a
        .delete_message()
        .queue_url(&url)
        .receipt_handle(got.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producers_on_one_instance_and_consumers_on_another_see_every_message_once() {
    let a_side = TestServer::start().await;
    let b_side = twin(&a_side).await;
    let acct = a_side.account().await;
    let (via_a, via_b) = (a_side.sqs(&acct), b_side.sqs(&acct));
    let url = via_a.create_queue().queue_name("shared").send().await.unwrap().queue_url().unwrap().to_owned();
    const N: usize = 200;
    let producers_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut consumers = Vec::new();
    for c in 0..4 {
        // Consumers on both instances, long polling, with a visibility window longer than the test.
        let sqs = if c % 2 == 0 { via_b.clone() } else { via_a.clone() };
        let (url, done) = (url.clone(), producers_done.clone());
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let got = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .visibility_timeout(300)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                seen.extend(got.messages().iter().map(|m| m.body().unwrap().to_owned()));
                // Once the producers are done, an empty receive means the queue is drained.
                if got.messages().is_empty() && finished {
                    break;
                }
            }
            seen
        }));
    }
    let mut producers = Vec::new();
    for p in 0..4 {
        let (sqs, url) = (via_a.clone(), url.clone());
        producers.push(tokio::spawn(async move {
            for i in 0..N / 4 {
                sqs.send_message().queue_url(&url).message_body(format!("p{p}-m{i}")).send().await.unwrap();
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    producers_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a message was delivered twice inside its visibility window");
    assert_eq!(all.len(), N, "every message sent is received");
}
