//! The load generator: `cargo bench --bench loadgen -- [options]`.
//!
//! Drives a running Sluice (or any SQS-compatible endpoint) with concurrent SigV4-signed
//! clients and prints one JSON line per workload: messages a second, latency percentiles,
//! and (given the processes' ids) the CPU seconds of the generator, the server and
//! PostgreSQL, and the server's peak RSS.
//!
//! Options: `--data-dir DIR` (take the endpoint, CA and bootstrap key from a `sluice serve`
//! data directory) or `--endpoint URL [--ca FILE] --key ID --secret SECRET [--region R]`
//! (plain `http://` for a peer such as moto_server; the region signed for, default
//! `us-east-1`, which moto_server needs); `--workload send|send-batch|receive|pipeline|fanout|idle`
//! (repeatable; default send, send-batch, receive), `--clients N` (default 8), `--seconds S`
//! (default 10), `--messages N` (a cap), `--size BYTES` (default 1024), `--queue NAME`,
//! `--prefill N` (receive: messages put in first, default 20000), `--groups N` (a FIFO queue,
//! messages spread over N groups; send, send-batch and receive).
//! Pipeline: `--producers N` (default 16; `--clients` is the consumers), `--rate R` (messages
//! a second offered in all; 0, the default, is as fast as the producers can).
//! Fanout: `--accounts FILE` (lines `KEY SECRET`, one per account) and `--queues-per-account
//! N` (default 10).
//! `--as-user trivial|realistic`: first make a user with a one-statement or a ten-statement
//! identity policy (with conditions) through the IAM API, and run as that user.
//! `--server-pid PID`, `--postgres-pid PID` (the postmaster: its children are counted too).
//! `--seal-cost`: only measure, in process, what sealing and opening a 1 KiB body costs.

#[path = "gen.rs"]
mod generator;

use std::time::Duration;

use generator::{Target, Workload};

/// How long idle long polls are given to open before their CPU is measured.
const IDLE_WARM_UP: Duration = Duration::from_secs(5);

fn ini(path: &std::path::Path, key: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_owned()))
}

/// CPU seconds (user + system) of a process, and of its children when asked.
fn cpu_seconds(pid: u32, with_children: bool) -> f64 {
    let ticks = |p: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| {
                let f: Vec<u64> =
                    s.rsplit_once(')')?.1.split_whitespace().skip(11).take(2).filter_map(|x| x.parse().ok()).collect();
                Some(f.iter().sum())
            })
            .unwrap_or(0)
    };
    let mut total = ticks(pid);
    if with_children && let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let parent = std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok()));
            if parent == Some(pid) {
                total += ticks(child);
            }
        }
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    total as f64 / hz
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
                .map(|kb| kb / 1024.0)
        })
        .unwrap_or(0.0)
}

fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    Some(xml[start..start + xml[start..].find(&format!("</{name}>"))?].to_owned())
}

/// A user with a trivial (one statement) or a realistic (ten statements, with conditions)
/// identity policy, as a caller.
async fn as_user(root: &Target, variant: &str, account: &str) -> Target {
    let user = format!("loadgen-{variant}");
    let policy = match variant {
        "trivial" => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#.to_owned()
        }
        "realistic" => {
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/loadgen/realistic-policy.json"))
                .expect("benches/loadgen/realistic-policy.json")
                .replace("ACCOUNT", account)
        }
        other => panic!("--as-user trivial|realistic, not {other}"),
    };
    let _ = root.iam(&[("Action", "CreateUser"), ("UserName", &user)]).await;
    let (status, body) = root
        .iam(&[("Action", "PutUserPolicy"), ("UserName", &user), ("PolicyName", "bench"), ("PolicyDocument", &policy)])
        .await
        .expect("PutUserPolicy");
    assert_eq!(status, 200, "PutUserPolicy: {body}");
    let (status, body) =
        root.iam(&[("Action", "CreateAccessKey"), ("UserName", &user)]).await.expect("CreateAccessKey");
    assert_eq!(status, 200, "CreateAccessKey: {body}");
    let mut t = root.clone();
    t.key = tag(&body, "AccessKeyId").expect("AccessKeyId");
    t.secret = tag(&body, "SecretAccessKey").expect("SecretAccessKey");
    // A new key is usable at once, but give the caches of a busy server no excuse.
    tokio::time::sleep(Duration::from_millis(200)).await;
    t
}

/// What sealing costs per message, in process: AES-256-GCM seal of a body under a data key
/// with its message context, then the open of a receive; microseconds per message.
fn seal_cost(size: usize) -> f64 {
    use sluice::crypto::provider::PlainKey;
    use sluice::crypto::seal::{Context, DataCipher};
    let cipher = DataCipher::new(1, &PlainKey(zeroize::Zeroizing::new([7u8; 32])));
    let body = vec![b'x'; size];
    let (queue, n) = (uuid::Uuid::new_v4(), 100_000u32);
    let started = std::time::Instant::now();
    for _ in 0..n {
        let ctx = Context::new("message-body")
            .with("000000000000")
            .with(queue.as_bytes())
            .with(uuid::Uuid::new_v4().as_bytes());
        let sealed = cipher.seal(&body, &ctx).expect("seal");
        let opened = cipher.open(&sealed, &ctx).expect("open");
        assert_eq!(opened.len(), size);
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.iter().any(|a| a == "--seal-cost") {
        println!(r#"{{"workload":"seal","us_per_message":{:.3}}}"#, seal_cost(1024));
        return;
    }
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let all = |name: &str| -> Vec<String> {
        args.iter().enumerate().filter(|(_, a)| *a == name).filter_map(|(i, _)| args.get(i + 1).cloned()).collect()
    };
    let num = |name: &str, default: u64| -> u64 { opt(name).map_or(default, |v| v.parse().expect(name)) };
    let (endpoint, ca, key, secret, region) = match opt("--data-dir") {
        Some(d) => {
            let d = std::path::PathBuf::from(d);
            (
                ini(&d.join("config"), "endpoint_url").expect("endpoint_url in DATA_DIR/config"),
                Some(d.join("ca.pem")),
                ini(&d.join("credentials"), "aws_access_key_id").expect("a key in DATA_DIR/credentials"),
                ini(&d.join("credentials"), "aws_secret_access_key").expect("a secret in DATA_DIR/credentials"),
                ini(&d.join("config"), "region").expect("region in DATA_DIR/config"),
            )
        }
        None => (
            opt("--endpoint").expect("--endpoint or --data-dir"),
            opt("--ca").map(Into::into),
            opt("--key").expect("--key"),
            opt("--secret").expect("--secret"),
            opt("--region").unwrap_or_else(|| "us-east-1".into()),
        ),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut http = reqwest::Client::builder().pool_max_idle_per_host(2048);
    if let Some(ca) = ca {
        let ca = std::fs::read(&ca).expect("the CA file");
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM CA"));
    }
    let http = http.build().expect("an HTTP client");
    let groups = num("--groups", 0);
    let root = Target { url: endpoint, key, secret, region, http, groups };
    let queue = opt("--queue").unwrap_or_else(|| "loadgen".into());
    // With groups, the queue is a FIFO queue.
    let queue = if groups > 0 && !queue.ends_with(".fifo") { format!("{queue}.fifo") } else { queue };
    let url = root.queue(&queue).await.expect("the queue");
    let target = match opt("--as-user") {
        Some(v) => {
            // https://HOST/ACCOUNT/NAME
            let account = url.rsplit('/').nth(1).expect("an account in the queue URL");
            as_user(&root, &v, account).await
        }
        None => root.clone(),
    };
    let clients = num("--clients", 8) as usize;
    let seconds = Duration::from_secs(num("--seconds", 10));
    let messages = num("--messages", u64::MAX);
    let size = num("--size", 1024) as usize;
    let server = opt("--server-pid").map(|p| p.parse::<u32>().expect("--server-pid"));
    let postgres = opt("--postgres-pid").map(|p| p.parse::<u32>().expect("--postgres-pid"));
    let mut workloads: Vec<Workload> =
        all("--workload").iter().map(|w| Workload::parse(w).expect("a known workload")).collect();
    if workloads.is_empty() {
        workloads = vec![Workload::Send, Workload::SendBatch, Workload::Receive];
    }
    for w in workloads {
        // Set-up outside the measured span.
        let mut cap = messages;
        let mut fan = Vec::new();
        match w {
            Workload::Receive => {
                let fill = if messages == u64::MAX { num("--prefill", 20_000) } else { messages };
                generator::prefill(&target, &url, fill, size).await.expect("prefill");
                cap = fill;
            }
            Workload::Fanout => {
                let file = opt("--accounts").expect("fanout needs --accounts FILE");
                let per = num("--queues-per-account", 10);
                for line in std::fs::read_to_string(&file).expect("the accounts file").lines() {
                    let Some((k, s)) = line.trim().split_once(' ') else { continue };
                    let t = Target { key: k.into(), secret: s.trim().into(), ..target.clone() };
                    let mut urls = Vec::new();
                    for q in 0..per {
                        urls.push(t.queue(&format!("{queue}-{q}")).await.expect("a fanout queue"));
                    }
                    fan.push((t, urls));
                }
                assert!(!fan.is_empty(), "no accounts in {file}");
            }
            _ => {}
        }
        let cpu = |pid: Option<u32>, children: bool| pid.map_or(0.0, |p| cpu_seconds(p, children));
        // Idle: the polls are opened (TLS handshakes, first requests) during a warm-up that is
        // not measured; the CPU counted is that of 1,000 polls held open for `seconds`.
        let idle = (w == Workload::Idle).then(|| {
            let (t, url) = (target.clone(), url.clone());
            tokio::spawn(async move { generator::idle(&t, &url, clients, seconds + IDLE_WARM_UP).await })
        });
        if idle.is_some() {
            tokio::time::sleep(IDLE_WARM_UP).await;
        }
        let measured_from = std::time::Instant::now();
        let (gen0, srv0, pg0) = (cpu(Some(std::process::id()), false), cpu(server, false), cpu(postgres, true));
        let peak = std::sync::Arc::new(std::sync::Mutex::new(0f64));
        let sampler = server.map(|pid| {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    let now = rss_mb(pid);
                    if let Ok(mut p) = peak.lock() {
                        *p = p.max(now);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        });
        let report = match w {
            Workload::Pipeline => {
                let rate = opt("--rate").map_or(0.0, |r| r.parse().expect("--rate"));
                generator::pipeline(&target, &url, num("--producers", 16) as usize, clients, rate, seconds, size).await
            }
            Workload::Fanout => generator::fanout(&fan, clients, seconds, size).await,
            Workload::Idle => {
                let mut r = idle.expect("the idle task").await.expect("the idle run");
                r.seconds = measured_from.elapsed().as_secs_f64();
                r
            }
            _ => generator::run(&target, &url, w, clients, seconds, cap, size).await,
        };
        if let Some(s) = sampler {
            s.abort();
        }
        let (gen1, srv1, pg1) = (cpu(Some(std::process::id()), false), cpu(server, false), cpu(postgres, true));
        let rss = peak.lock().map_or(0.0, |p| *p);
        let json = report.json();
        println!(
            r#"{},"cpu_loadgen_s":{:.2},"cpu_server_s":{:.2},"cpu_postgres_s":{:.2},"server_rss_mb":{:.1}}}"#,
            json.trim_end_matches('}'),
            gen1 - gen0,
            srv1 - srv0,
            pg1 - pg0,
            rss
        );
    }
}
