//! Acknowledged means durable: SIGKILL the whole process group after sends return, restart,
//! and every acknowledged message is there.

use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_sends_survive_sigkill_of_sluice_and_its_postgres() {
    let scratch = crate::harness::Scratch::new();
    let mut served = scratch.serve();
    let sqs = served.sqs();
    let url = sqs.create_queue().queue_name("durable").send().await.unwrap().queue_url().unwrap().to_owned();

    const N: usize = 40;
    let mut tasks = Vec::new();
    for i in 0..N {
        let (sqs, url) = (sqs.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(format!("m{i}"))
                .send()
                .await
                .unwrap()
                .message_id()
                .unwrap()
                .to_owned()
        }));
    }
    let mut sent = BTreeSet::new();
    for t in tasks {
        sent.insert(t.await.unwrap());
    }
    assert_eq!(sent.len(), N);
    served.kill_group();

    let mut served = scratch.serve();
    let sqs = served.sqs();
    let mut received = BTreeSet::new();
    for _ in 0..50 {
        let got = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            received.insert(m.message_id().unwrap().to_owned());
        }
    }
    assert!(served.terminate().success());
    assert_eq!(received, sent, "every acknowledged message survives");
}

fn postmaster_pid(data: &std::path::Path) -> Option<i32> {
    let cluster = sluice::store::local_pg::default_cluster_dir(data);
    std::fs::read_to_string(cluster.join("data/postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
        .unwrap_or(true);
    // SAFETY: signal 0 only checks existence.
    let exists = unsafe { libc::kill(pid, 0) == 0 };
    exists && !zombie
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managed_cluster_runs_durable_and_a_cluster_left_by_a_crashed_sluice_is_adopted() {
    use sqlx::Connection;
    let scratch = crate::harness::Scratch::new();
    let data = scratch.data.clone();
    let mut served = scratch.serve();
    let url = served.sqs().create_queue().queue_name("adopt").send().await.unwrap().queue_url().unwrap().to_owned();
    served.sqs().send_message().queue_url(&url).message_body("kept").send().await.unwrap();

    // The managed cluster keeps the durability settings on and listens on no TCP port.
    let cluster = sluice::store::local_pg::default_cluster_dir(&data);
    let pg_url = format!("postgres://postgres@localhost/postgres?host={}&port=5432", cluster.join("sock").display());
    let mut conn = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    for (setting, want) in
        [("fsync", "on"), ("synchronous_commit", "on"), ("full_page_writes", "on"), ("listen_addresses", "")]
    {
        let v: String =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}"))).fetch_one(&mut conn).await.unwrap();
        assert_eq!(v, want, "{setting}");
    }
    conn.close().await.unwrap();

    // Sluice alone crashes; its PostgreSQL keeps running.
    let pg_pid = postmaster_pid(&data).unwrap();
    // SAFETY: killing the process this test started.
    unsafe { libc::kill(served.child.id() as i32, libc::SIGKILL) };
    served.child.wait().unwrap();
    assert!(alive(pg_pid), "PostgreSQL outlives a crashed Sluice");

    // The next start adopts it and serves the data.
    let mut served = scratch.serve();
    assert_eq!(postmaster_pid(&data), Some(pg_pid), "the running cluster is reused");
    let got = served.sqs().receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(got.messages()[0].body(), Some("kept"));
    // A clean stop stops the adopted cluster too.
    assert!(served.terminate().success());
    for _ in 0..100 {
        if !alive(pg_pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(pg_pid), "the adopted PostgreSQL is stopped on shutdown");
}

#[test]
fn on_sigterm_open_long_polls_answer_at_once_and_the_server_stops_cleanly() {
    let scratch = crate::harness::Scratch::new();
    let mut served = scratch.serve();
    let sqs = served.sqs();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = rt.block_on(async {
        sqs.create_queue().queue_name("waiting").send().await.unwrap().queue_url().unwrap().to_owned()
    });
    let wait_end = crate::harness::WaitEnd::after_seconds(20);
    let poll = rt.spawn({
        let (sqs, url) = (sqs.clone(), url.clone());
        async move { sqs.receive_message().queue_url(url).wait_time_seconds(20).send().await }
    });
    rt.block_on(crate::harness::eventually("the long poll is open", || async {
        served.metric("sluice_long_polls_open").await == 1.0
    }));
    assert!(served.terminate().success(), "a clean exit");
    let got = rt.block_on(wait_end.answered_before("the long poll at shutdown", poll)).unwrap();
    let got = got.expect("the long poll is answered, not cut off");
    assert!(got.messages().is_empty());
}

/// A start that fails after its private PostgreSQL is up (here: the metrics address is taken)
/// says which flag moves the address, and stops the PostgreSQL it started.
#[test]
fn a_failed_start_names_the_flag_to_pass_and_stops_the_postgres_it_started() {
    let scratch = crate::harness::Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = std::process::Command::new(crate::harness::sluice_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(scratch.dir.path())
        .args(["serve", "--data-dir"])
        .arg(&scratch.data)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&scratch.log).unwrap())
        .spawn()
        .unwrap();
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > give_up {
            let _ = child.kill();
            panic!("serve did not give up on a taken metrics address");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(&scratch.log).unwrap();
    assert!(
        log.contains(&format!("{addr} is in use"))
            && log.contains("--metrics-listen")
            && log.contains("SLUICE_METRICS_LISTEN"),
        "{log}"
    );
    assert!(
        sluice::store::local_pg::default_cluster_dir(&scratch.data).join("data/PG_VERSION").exists(),
        "the cluster was made and started before the failure"
    );
    assert!(postmaster_pid(&scratch.data).is_none_or(|pid| !alive(pid)), "its PostgreSQL is stopped");
    drop(taken);
}

/// An operator command beside a running server connects to that server's PostgreSQL, says so,
/// and leaves it running for the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_command_beside_a_running_server_says_it_connects_to_its_postgres() {
    let scratch = crate::harness::Scratch::new();
    let mut served = scratch.serve();
    let mut cmd = std::process::Command::new(crate::harness::sluice_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.args(["admin", "account", "list", "--data-dir"]).arg(&scratch.data).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("000000000000"), "the bootstrap account is listed");
    assert!(stderr.contains("connecting to the PostgreSQL already running for this data directory"), "{stderr}");
    assert!(!stderr.contains("adopting"), "{stderr}");
    served.sqs().list_queues().send().await.expect("the server's PostgreSQL still runs");
    assert!(served.terminate().success());
}

/// What the clients of the FIFO crash test saw, in the order they saw it.
#[derive(Default)]
struct FifoLog {
    /// The next index each group's producer sends (all before it are acknowledged).
    next: Vec<usize>,
    /// The MessageId each acknowledged (group, index) was given.
    acked: std::collections::HashMap<(usize, usize), String>,
    /// Receives: (group, index, MessageId), in the order they were seen.
    received: Vec<(usize, usize, String)>,
    /// Each receive's (group, index) pairs, in order.
    batches: Vec<Vec<(usize, usize)>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifo_survives_sigkill_cycles_without_loss_reordering_or_duplicates() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    const GROUPS: usize = 3;
    const CYCLES: usize = 3;
    let scratch = crate::harness::Scratch::new();
    let log = Arc::new(Mutex::new(FifoLog { next: vec![0; GROUPS], ..FifoLog::default() }));
    let mut url = String::new();
    let record = |log: &Arc<Mutex<FifoLog>>, out: &aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput| {
        let mut log = log.lock().unwrap();
        let mut batch = Vec::new();
        for m in out.messages() {
            let (g, i) = m.body().unwrap().split_once(':').unwrap();
            let (g, i) = (g.parse().unwrap(), i.parse().unwrap());
            log.received.push((g, i, m.message_id().unwrap().to_owned()));
            batch.push((g, i));
        }
        log.batches.push(batch);
    };
    for cycle in 0..=CYCLES {
        let mut served = scratch.serve();
        let sqs = served.sqs();
        if cycle == 0 {
            url = sqs
                .create_queue()
                .queue_name("crash.fifo")
                .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_owned();
        }
        if cycle == CYCLES {
            // After the last crash: drain, waiting out the visibility of what was in flight.
            let mut empty = 0;
            while empty < 4 {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .visibility_timeout(30)
                    .send()
                    .await
                    .unwrap();
                if out.messages().is_empty() {
                    empty += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                empty = 0;
                record(&log, &out);
                for m in out.messages() {
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
            assert!(served.terminate().success());
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for g in 0..GROUPS {
            // One producer per group, in order; a send that fails is retried with the same
            // deduplication id (after the restart if the server is gone).
            let (sqs, url, log, stop) = (sqs.clone(), url.clone(), log.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let i = log.lock().unwrap().next[g];
                    let sent = sqs
                        .send_message()
                        .queue_url(&url)
                        .message_body(format!("{g}:{i}"))
                        .message_group_id(format!("g{g}"))
                        .message_deduplication_id(format!("{g}-{i}"))
                        .send()
                        .await;
                    match sent {
                        Ok(out) => {
                            let mut log = log.lock().unwrap();
                            log.acked.insert((g, i), out.message_id().unwrap().to_owned());
                            log.next[g] = i + 1;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }));
        }
        // One consumer, so the log's order is the server's (two receivers on one group are
        // the two-instance test's subject).
        {
            let (sqs, url, log, stop) = (sqs.clone(), url.clone(), log.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(out) = sqs
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(4)
                        .visibility_timeout(2)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    record(&log, &out);
                    for m in out.messages() {
                        let _ = sqs
                            .delete_message()
                            .queue_url(&url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send()
                            .await;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::spawn_blocking(move || served.kill_group()).await.unwrap();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
    }
    let log = log.lock().unwrap();
    assert!(log.acked.len() > GROUPS * CYCLES, "the workload ran: {} sends acknowledged", log.acked.len());
    for g in 0..GROUPS {
        let seen: Vec<&(usize, usize, String)> = log.received.iter().filter(|r| r.0 == g).collect();
        // Each (group, index) was stored once: every receive of it carries one MessageId, the
        // one its send was acknowledged with.
        for (_, i, id) in &seen {
            if let Some(acked) = log.acked.get(&(g, *i)) {
                assert_eq!(acked, id, "group {g} index {i} stored twice");
            }
            assert!(seen.iter().filter(|r| r.1 == *i).all(|r| &r.2 == id), "group {g} index {i} stored twice");
        }
        // First deliveries come in send order, with no gap.
        let mut firsts: Vec<usize> = Vec::new();
        for (_, i, _) in &seen {
            if !firsts.contains(i) {
                firsts.push(*i);
            }
        }
        assert_eq!(firsts, (0..firsts.len()).collect::<Vec<_>>(), "group {g} out of order");
        // The group lock: once a receive delivered j without an earlier i (so i was deleted),
        // i never comes again; a receive that delivers i again while a later j of the group
        // was handed out without it means two receives held the group at once.
        let batches: Vec<Vec<usize>> =
            log.batches.iter().map(|b| b.iter().filter(|r| r.0 == g).map(|r| r.1).collect()).collect();
        for (n, later) in batches.iter().enumerate() {
            for i in later {
                for earlier in &batches[..n] {
                    let skipped = earlier.iter().any(|j| j > i) && !earlier.contains(i);
                    assert!(!skipped, "group {g}: index {i} delivered after a receive that passed it by");
                }
            }
        }
        // Every acknowledged send arrived.
        for i in 0..log.next[g] {
            assert!(firsts.contains(&i), "group {g} lost acknowledged index {i}");
        }
    }
}
