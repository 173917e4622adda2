//! The load generator in its seconds-long smoke mode (CI runs no benchmark): each workload
//! runs, and a receive after the sends takes every message exactly once.

#[path = "../../benches/loadgen/gen.rs"]
mod generator;

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::harness::{TestServer, http_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_load_generator_runs_each_workload_and_loses_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let t = generator::Target {
        url: s.url.clone(),
        key: a.access_key_id.clone(),
        secret: a.secret_access_key.expose_secret().to_owned(),
        region: "us-east-1".into(),
        http: http_client(&s.ca_pem),
    };
    let url = t.queue("smoke").await.unwrap();
    let send = generator::run(&t, &url, generator::Workload::Send, 4, Duration::from_secs(2), 200, 1024).await;
    let batch = generator::run(&t, &url, generator::Workload::SendBatch, 4, Duration::from_secs(2), 200, 1024).await;
    for r in [&send, &batch] {
        assert!(r.messages > 0 && r.errors == 0, "{}", r.json());
        assert!(r.p50_ms > 0.0 && r.p99_ms >= r.p50_ms && r.max_ms >= r.p99_ms, "{}", r.json());
    }
    let sent = send.messages + batch.messages;
    let recv = generator::run(&t, &url, generator::Workload::Receive, 4, Duration::from_secs(20), sent, 1024).await;
    assert_eq!((recv.messages, recv.duplicates, recv.errors), (sent, 0, 0), "{}", recv.json());
}
