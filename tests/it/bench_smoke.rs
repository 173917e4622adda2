//! The load generator in its seconds-long smoke mode (CI runs no benchmark): each workload
//! runs, and a receive after the sends takes every message exactly once.

#[path = "../../benches/loadgen/gen.rs"]
mod generator;

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::harness::{TestServer, http_client};

/// The generator's caller for `a` on `s`.
fn target(s: &TestServer, a: &sluice::tenancy::NewAccount) -> generator::Target {
    generator::Target {
        url: s.url.clone(),
        key: a.access_key_id.clone(),
        secret: a.secret_access_key.expose_secret().to_owned(),
        region: crate::harness::REGION.into(),
        http: http_client(&s.ca_pem),
        groups: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_load_generator_runs_each_workload_and_loses_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let t = target(&s, &a);
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
    // With groups: a FIFO queue, sends spread over the groups, every message received once.
    let fifo = generator::Target { groups: 5, ..t.clone() };
    let url = fifo.queue("smoke.fifo").await.unwrap();
    let send = generator::run(&fifo, &url, generator::Workload::SendBatch, 4, Duration::from_secs(2), 200, 256).await;
    assert!(send.messages > 0 && send.errors == 0, "{}", send.json());
    let recv =
        generator::run(&fifo, &url, generator::Workload::Receive, 4, Duration::from_secs(20), send.messages, 256).await;
    assert_eq!((recv.messages, recv.duplicates, recv.errors), (send.messages, 0, 0), "{}", recv.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pipeline_fanout_and_idle_workloads_run_and_lose_nothing() {
    let s = TestServer::start().await;
    let a = s.account().await;
    let t = target(&s, &a);
    let url = t.queue("pipe").await.unwrap();
    let pipe = generator::pipeline(&t, &url, 2, 2, 200.0, Duration::from_secs(2), 1024).await;
    assert!(pipe.sent > 100, "{}", pipe.json());
    assert_eq!((pipe.messages, pipe.lost, pipe.duplicates, pipe.errors), (pipe.sent, 0, 0, 0), "{}", pipe.json());
    assert!(pipe.p50_ms > 0.0 && pipe.p99_ms >= pipe.p50_ms, "{}", pipe.json());
    let queues = vec![t.queue("fan-0").await.unwrap(), t.queue("fan-1").await.unwrap()];
    let fan = generator::fanout(&[(t.clone(), queues)], 4, Duration::from_secs(1), 1024).await;
    assert!(fan.messages > 0 && fan.errors == 0, "{}", fan.json());
    let idle = generator::idle(&t, &t.queue("idle").await.unwrap(), 5, Duration::from_secs(2)).await;
    assert_eq!((idle.messages, idle.errors), (0, 0), "{}", idle.json());
    assert!(idle.requests >= 5, "{}", idle.json());
}

/// The README's benchmark table (between the `bench:begin` and `bench:end` markers) is the
/// latest results file's: it names that file, and every figure and ratio in it is the TSV's.
#[test]
fn the_readme_benchmark_table_agrees_with_the_latest_results_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("<!-- bench:begin -->").expect("a bench:begin marker");
    let end = readme.find("<!-- bench:end -->").expect("a bench:end marker");
    let block = &readme[start..end];
    let mut tsvs: Vec<String> = std::fs::read_dir(root.join("benches/results"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tsv") && !n.starts_with("soak-"))
        .collect();
    tsvs.sort();
    let latest = tsvs.last().expect("a results file");
    let stem = latest.trim_end_matches(".tsv");
    assert!(block.contains(&format!("benches/results/{stem}.md")), "the README shows {stem}, the latest run");
    assert!(block.contains(&format!("benches/results/{stem}.svg")), "the README shows the latest chart");
    let text = std::fs::read_to_string(root.join("benches/results").join(latest)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let rows: Vec<std::collections::HashMap<&str, &str>> =
        lines.map(|l| header.iter().copied().zip(l.split('\t')).collect()).collect();
    let value = |system: &str, workload: &str, clients: &str, unit: &str| -> f64 {
        let r = rows
            .iter()
            .find(|r| r["system"] == system && r["workload"] == workload && r["clients"] == clients)
            .unwrap_or_else(|| panic!("{system} {workload} {clients} in {latest}"));
        let num = |c: &str| r[c].parse::<f64>().unwrap_or_else(|_| panic!("{c} of {system} {workload} {clients}"));
        match unit {
            "msg/s" => num("msg_per_s"),
            "ms p50" => num("p50_ms"),
            "ms p99" => num("p99_ms"),
            "ms mean" => num("mean_ms"),
            "MB" => num("rss_mb"),
            "% of a core" => (num("cpu_server_s") + num("cpu_postgres_s")) / num("seconds") * 100.0,
            other => panic!("unknown unit {other}"),
        }
    };
    // "12345 msg/s (sluice send 32)" or "10 ms p99 (fixed)": the figure, checked against the TSV.
    let figure = |cell: &str| -> f64 {
        let (shown, key) = cell.split_once(" (").unwrap_or_else(|| panic!("a figure with its source: {cell}"));
        let key = key.trim_end_matches(')');
        let (number, unit) = shown.split_once(' ').unwrap();
        let number: f64 = number.parse().unwrap();
        if key == "fixed" {
            return number;
        }
        let k: Vec<&str> = key.split(' ').collect();
        let v = value(k[0], k[1], k[2], unit);
        let digits = if unit == "msg/s" { 0 } else { 2 };
        assert_eq!(shown, format!("{v:.digits$} {unit}"), "{cell} is not what {latest} holds");
        v
    };
    let table: Vec<Vec<&str>> = block
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| target"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert!(table.len() >= 10, "every target is in the table");
    for row in &table {
        let [title, measured, baseline, ratio, goal, met] = row[..] else { panic!("six cells: {row:?}") };
        let (m, b) = (figure(measured), figure(baseline));
        assert_eq!(ratio, format!("{:.2}", m / b), "{title}");
        let want = match goal.split_once(' ') {
            Some(("≥", g)) => Some(m / b >= g.parse::<f64>().unwrap()),
            Some(("≤", g)) => Some(m / b <= g.parse::<f64>().unwrap()),
            _ => None,
        };
        let shown = match met {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        assert_eq!(shown, want, "{title}: met");
    }
}
