//! The load generator: `cargo bench --bench loadgen -- [options]`.
//!
//! Drives a running Sluice (or any SQS-compatible endpoint) with concurrent SigV4-signed
//! clients and prints one JSON line per workload: messages a second and latency percentiles.
//!
//! Options: `--data-dir DIR` (take the endpoint, CA and bootstrap key from a `sluice serve`
//! data directory) or `--endpoint URL --ca FILE --key ID --secret SECRET`; `--workload
//! send|send-batch|receive` (repeatable; default all), `--clients N` (default 8),
//! `--seconds S` (default 10), `--messages N` (a cap), `--size BYTES` (default 1024),
//! `--queue NAME`.

#[path = "gen.rs"]
mod generator;

use std::time::Duration;

fn ini(path: &std::path::Path, key: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_owned()))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let all = |name: &str| -> Vec<String> {
        args.iter().enumerate().filter(|(_, a)| *a == name).filter_map(|(i, _)| args.get(i + 1).cloned()).collect()
    };
    let (endpoint, ca, key, secret) = match opt("--data-dir") {
        Some(d) => {
            let d = std::path::PathBuf::from(d);
            (
                ini(&d.join("config"), "endpoint_url").expect("endpoint_url in DATA_DIR/config"),
                d.join("ca.pem"),
                ini(&d.join("credentials"), "aws_access_key_id").expect("a key in DATA_DIR/credentials"),
                ini(&d.join("credentials"), "aws_secret_access_key").expect("a secret in DATA_DIR/credentials"),
            )
        }
        None => (
            opt("--endpoint").expect("--endpoint or --data-dir"),
            opt("--ca").expect("--ca").into(),
            opt("--key").expect("--key"),
            opt("--secret").expect("--secret"),
        ),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(&ca).expect("the CA file");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM CA"))
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTPS client");
    let target = generator::Target { url: endpoint, key, secret, region: "us-east-1".into(), http };
    let clients: usize = opt("--clients").map_or(8, |c| c.parse().expect("--clients N"));
    let seconds: u64 = opt("--seconds").map_or(10, |c| c.parse().expect("--seconds S"));
    let messages: u64 = opt("--messages").map_or(u64::MAX, |c| c.parse().expect("--messages N"));
    let size: usize = opt("--size").map_or(1024, |c| c.parse().expect("--size BYTES"));
    let queue = opt("--queue").unwrap_or_else(|| "loadgen".into());
    let mut workloads: Vec<generator::Workload> =
        all("--workload").iter().map(|w| generator::Workload::parse(w).expect("send, send-batch or receive")).collect();
    if workloads.is_empty() {
        workloads = vec![generator::Workload::Send, generator::Workload::SendBatch, generator::Workload::Receive];
    }
    let url = target.queue(&queue).await.expect("the queue");
    for w in workloads {
        // A receive run drains a queue filled for it: it ends when every message is taken.
        let cap = if w == generator::Workload::Receive {
            let fill = if messages == u64::MAX { 20_000 } else { messages };
            generator::prefill(&target, &url, fill, size).await.expect("prefill");
            fill
        } else {
            messages
        };
        let report = generator::run(&target, &url, w, clients, Duration::from_secs(seconds), cap, size).await;
        println!("{}", report.json());
    }
}
