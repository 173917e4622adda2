//! Two `sluice` instances on one database give the guarantees of one.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, WaitEnd, eventually, own_database};

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
    let wait_end = WaitEnd::after_seconds(20);
    let poll = tokio::spawn({
        let (sqs, url) = (via_b.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).wait_time_seconds(20).send().await.unwrap() }
    });
    b_side.until_long_polls_open(1).await;
    via_a.send_message().queue_url(&url).message_body("from A").send().await.unwrap();
    let got = wait_end.answered_before("the poll on B after a send through A", poll).await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("from A"));
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

#[tokio::test]
async fn an_older_instance_starts_and_serves_beside_a_newer_one_that_migrated_the_database() {
    let url = own_database().await;
    let u = url.clone();
    let first = TestServer::start_with(move |c| c.database_url = Some(u.into())).await;
    let a = first.account().await;
    let q = first.sqs(&a).create_queue().queue_name("rolling").send().await.unwrap().queue_url().unwrap().to_owned();
    first.sqs(&a).send_message().queue_url(&q).message_body("before the upgrade").send().await.unwrap();
    // A newer version rolls out: its (additive) migration is applied while this version's
    // instances still run.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in [
        "ALTER TABLE messages ADD COLUMN priority integer",
        "CREATE TABLE future_feature (id bigint PRIMARY KEY)",
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time)
         VALUES (99990001, 'a newer version', now(), true, '\\x00', 1)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    // An instance of this (older) version starts beside it, and both serve.
    let u = url.clone();
    let second = TestServer::start_with(move |c| c.database_url = Some(u.into())).await;
    second
        .sqs(&a)
        .send_message()
        .queue_url(second.queue_url(&a, "rolling"))
        .message_body("during the upgrade")
        .send()
        .await
        .unwrap();
    first.sqs(&a).send_message().queue_url(&q).message_body("still the first").send().await.unwrap();
    let got = second
        .sqs(&a)
        .receive_message()
        .queue_url(second.queue_url(&a, "rolling"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<&str> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["before the upgrade", "during the upgrade", "still the first"]);
}

#[tokio::test]
async fn readiness_is_false_while_the_database_is_away_and_true_when_it_returns() {
    let url = own_database().await;
    let name = url.split('?').next().unwrap().rsplit('/').next().unwrap().to_owned();
    let u = url.clone();
    let s = TestServer::start_with(move |c| c.database_url = Some(u.into())).await;
    let ready = || async { reqwest::get(format!("{}/health/ready", s.metrics_url)).await.unwrap().status().as_u16() };
    assert_eq!(ready().await, 200);
    // The database goes away: no new connections, the existing ones ended.
    let shared = tokio::task::spawn_blocking(crate::harness::database_url).await.unwrap();
    let admin = sqlx::PgPool::connect(&shared).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    eventually("not ready without a database", || async { ready().await == 503 }).await;
    // It returns.
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")))
        .execute(&admin)
        .await
        .unwrap();
    eventually("ready again after the database returned", || async { ready().await == 200 }).await;
    admin.close().await;
}

/// Two `sluice serve` processes, each with its own data directory, listener and certificate,
/// on one PostgreSQL and one master key: what a deployment with several instances runs.
#[test]
fn two_serve_processes_on_one_database_serve_one_deployment_and_survive_each_other() {
    use crate::harness::{Served, WaitEnd, eventually};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = rt.block_on(own_database());
    let key = crate::harness::master_key_file();
    let home = tempfile::tempdir().unwrap();
    let env = [
        ("SLUICE_DATABASE_URL", url),
        ("SLUICE_DATABASE_MAX_CONNECTIONS", "4".to_owned()),
        ("SLUICE_MASTER_KEY_FILE", key.display().to_string()),
        ("SLUICE_KEYRING_FILE", key.with_file_name("keyring").display().to_string()),
        ("SLUICE_BOOTSTRAP", "true".to_owned()),
    ];
    let start = |name: &str| {
        let data = home.path().join(name);
        Served::start_with_env(home.path(), Some(&data), &home.path().join(format!("{name}.log")), &env)
    };
    let mut first = start("first");
    let second = start("second");
    assert_ne!(first.endpoint(), second.endpoint());
    assert_eq!(first.key().0, second.key().0, "one bootstrap account, made once");
    let (one, two) = (first.sqs(), second.sqs());
    let q2 = rt.block_on(async {
        // A queue made on one is the other's; a message sealed by one opens on the other,
        // and the receipt handle one issues deletes on the other.
        let q = one.create_queue().queue_name("shared").send().await.unwrap().queue_url().unwrap().to_owned();
        let q2 = two.get_queue_url().queue_name("shared").send().await.unwrap().queue_url().unwrap().to_owned();
        one.send_message().queue_url(&q).message_body("sealed by the first").send().await.unwrap();
        let got = two.receive_message().queue_url(&q2).send().await.unwrap();
        assert_eq!(got.messages()[0].body(), Some("sealed by the first"));
        let handle = got.messages()[0].receipt_handle().unwrap();
        one.delete_message().queue_url(&q).receipt_handle(handle).send().await.unwrap();
        // A long poll on the second wakes on a send through the first.
        let wait_end = WaitEnd::after_seconds(20);
        let poll = tokio::spawn({
            let (two, q2) = (two.clone(), q2.clone());
            async move { two.receive_message().queue_url(q2).wait_time_seconds(20).send().await.unwrap() }
        });
        eventually("the second holds the long poll", || async { second.metric("sluice_long_polls_open").await == 1.0 })
            .await;
        one.send_message().queue_url(&q).message_body("across processes").send().await.unwrap();
        let got = wait_end.answered_before("the poll on the second process", poll).await.unwrap();
        assert_eq!(got.messages()[0].body(), Some("across processes"));
        two.delete_message()
            .queue_url(&q2)
            .receipt_handle(got.messages()[0].receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        // What the first acknowledged is kept when it is killed; the second serves on.
        one.send_message().queue_url(&q).message_body("acknowledged, then kill -9").send().await.unwrap();
        q2
    });
    first.kill_group();
    rt.block_on(async {
        let got = two.receive_message().queue_url(&q2).send().await.unwrap();
        assert_eq!(got.messages()[0].body(), Some("acknowledged, then kill -9"));
        two.send_message().queue_url(&q2).message_body("still serving").send().await.unwrap();
    });
}
