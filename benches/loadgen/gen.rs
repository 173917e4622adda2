//! The load generator's engine: concurrent clients over HTTPS keep-alive connections, each
//! request SigV4-signed (aws-sigv4), 1 KiB bodies by default, bounded in time and count.
//! Shared by the `loadgen` bench binary and the integration tests' smoke run.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Where to send, as whom.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub key: String,
    pub secret: String,
    pub region: String,
    pub http: reqwest::Client,
    /// FIFO groups messages are spread over (0: a standard queue).
    pub groups: u64,
}

/// The FIFO members of message `n`'s JSON (none on a standard queue): its group, one of
/// `groups` in turn, and a deduplication id unique to this process's run.
fn fifo_members(groups: u64, n: u64) -> String {
    if groups == 0 {
        return String::new();
    }
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(micros_now);
    format!(r#","MessageGroupId":"g{}","MessageDeduplicationId":"{run}-{n}""#, n % groups)
}

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// SendMessage.
    Send,
    /// SendMessageBatch of 10.
    SendBatch,
    /// ReceiveMessage(10) + DeleteMessageBatch on a pre-filled queue.
    Receive,
    /// Producers (SendMessage) and long-polling consumers at once; latency is send to receive.
    Pipeline,
    /// SendMessage spread over many accounts' queues.
    Fanout,
    /// Open long polls and no traffic.
    Idle,
}

impl Workload {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "send" => Some(Self::Send),
            "send-batch" => Some(Self::SendBatch),
            "receive" => Some(Self::Receive),
            "pipeline" => Some(Self::Pipeline),
            "fanout" => Some(Self::Fanout),
            "idle" => Some(Self::Idle),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::SendBatch => "send-batch",
            Self::Receive => "receive",
            Self::Pipeline => "pipeline",
            Self::Fanout => "fanout",
            Self::Idle => "idle",
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub workload: &'static str,
    pub clients: usize,
    pub seconds: f64,
    /// Messages sent or received-and-deleted.
    pub messages: u64,
    pub requests: u64,
    pub errors: u64,
    /// Messages received more than once inside a visibility window (must be 0).
    pub duplicates: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Pipeline: messages sent, sent but never received (must be 0), and the offered rate
    /// (0: as fast as the producers can).
    pub sent: u64,
    pub lost: u64,
    pub offered_rate: f64,
    /// Pipeline: messages an earlier run left in the queue, taken by this one.
    pub earlier: u64,
}

impl Report {
    fn new(workload: Workload, clients: usize, seconds: f64, lat: &mut [f64]) -> Self {
        lat.sort_by(|a, b| a.total_cmp(b));
        Self {
            workload: workload.name(),
            clients,
            seconds,
            messages: 0,
            requests: 0,
            errors: 0,
            duplicates: 0,
            p50_ms: percentile(lat, 0.50),
            p99_ms: percentile(lat, 0.99),
            max_ms: lat.last().copied().unwrap_or(0.0),
            sent: 0,
            lost: 0,
            offered_rate: 0.0,
            earlier: 0,
        }
    }

    pub fn msg_per_second(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }

    pub fn json(&self) -> String {
        format!(
            r#"{{"workload":"{}","clients":{},"seconds":{:.3},"messages":{},"requests":{},"errors":{},"duplicates":{},"msg_per_s":{:.1},"p50_ms":{:.3},"p99_ms":{:.3},"max_ms":{:.3},"sent":{},"lost":{},"offered_rate":{:.1},"earlier":{}}}"#,
            self.workload,
            self.clients,
            self.seconds,
            self.messages,
            self.requests,
            self.errors,
            self.duplicates,
            self.msg_per_second(),
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.sent,
            self.lost,
            self.offered_rate,
            self.earlier
        )
    }
}

impl Target {
    /// One signed AWS JSON call; the answer's status and body.
    pub async fn call(&self, action: &str, body: &str) -> Result<(u16, String), String> {
        let target = format!("AmazonSQS.{action}");
        self.post("sqs", &[("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())], body)
            .await
    }

    /// One signed IAM Query call (form fields); the answer's status and body.
    pub async fn iam(&self, form: &[(&str, &str)]) -> Result<(u16, String), String> {
        let body = serde_urlencoded::to_string(form).map_err(|e| e.to_string())?;
        self.post("iam", &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")], &body).await
    }

    async fn post(&self, service: &str, extra: &[(&str, &str)], body: &str) -> Result<(u16, String), String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = aws_credential_types::Credentials::new(&self.key, &self.secret, None, None, "loadgen").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let host = self.url.split_once("://").map_or(self.url.as_str(), |(_, h)| h).trim_end_matches('/').to_owned();
        let mut headers = vec![("host", host.as_str())];
        headers.extend_from_slice(extra);
        let uri = format!("{}/", self.url.trim_end_matches('/'));
        let signable =
            SignableRequest::new("POST", &uri, headers.iter().copied(), SignableBody::Bytes(body.as_bytes()))
                .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
        let mut req = http::Request::builder().method("POST").uri(&uri);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(()).map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut req);
        let mut out = self.http.post(&uri).body(body.to_owned());
        for (k, v) in req.headers() {
            if k != "host" {
                out = out.header(k.as_str(), v.to_str().unwrap_or_default());
            }
        }
        let resp = out.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.map_err(|e| e.to_string())?))
    }

    /// ReceiveMessage with a JSON `body`: the messages answered (None: the call failed).
    async fn receive(&self, body: &str) -> Option<Vec<serde_json::Value>> {
        match self.call("ReceiveMessage", body).await {
            Ok((200, text)) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                Some(v["Messages"].as_array().cloned().unwrap_or_default())
            }
            _ => None,
        }
    }

    /// DeleteMessageBatch of received `msgs` by their receipt handles; whether it succeeded.
    async fn delete_all(&self, queue_url: &str, msgs: &[serde_json::Value]) -> bool {
        let entries: Vec<String> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(r#"{{"Id":"d{i}","ReceiptHandle":"{}"}}"#, m["ReceiptHandle"].as_str().unwrap_or_default())
            })
            .collect();
        let del = format!(r#"{{"QueueUrl":"{queue_url}","Entries":[{}]}}"#, entries.join(","));
        matches!(self.call("DeleteMessageBatch", &del).await, Ok((200, _)))
    }

    /// Creates (or finds) a queue; its URL.
    /// Creates (or finds) queue `name`: a FIFO queue when the name ends in `.fifo`.
    pub async fn queue(&self, name: &str) -> Result<String, String> {
        let attributes = if name.ends_with(".fifo") { r#","Attributes":{"FifoQueue":"true"}"# } else { "" };
        let (status, body) = self.call("CreateQueue", &format!(r#"{{"QueueName":"{name}"{attributes}}}"#)).await?;
        if status != 200 {
            return Err(format!("CreateQueue: {status} {body}"));
        }
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        v["QueueUrl"].as_str().map(str::to_owned).ok_or_else(|| "no QueueUrl".into())
    }
}

fn body_of(size: usize, n: u64) -> String {
    let mut b = format!("{n}:");
    while b.len() < size {
        b.push('x');
    }
    b
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Fills `queue_url` with `count` messages (batches of 10, 8 clients).
pub async fn prefill(t: &Target, queue_url: &str, count: u64, size: usize) -> Result<(), String> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (t, url, next) = (t.clone(), queue_url.to_owned(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(10, Ordering::Relaxed);
                if start >= count {
                    return Ok::<(), String>(());
                }
                let entries: Vec<String> = (start..(start + 10).min(count))
                    .map(|n| {
                        format!(
                            r#"{{"Id":"m{}","MessageBody":"{}"{}}}"#,
                            n - start,
                            body_of(size, n),
                            fifo_members(t.groups, n)
                        )
                    })
                    .collect();
                let body = format!(r#"{{"QueueUrl":"{url}","Entries":[{}]}}"#, entries.join(","));
                let (status, text) = t.call("SendMessageBatch", &body).await?;
                if status != 200 {
                    return Err(format!("prefill: {status} {text}"));
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Runs `workload` with `clients` concurrent clients until `duration` passes or `max_messages`
/// are done.
pub async fn run(
    t: &Target,
    queue_url: &str,
    workload: Workload,
    clients: usize,
    duration: Duration,
    max_messages: u64,
    size: usize,
) -> Report {
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::<String>::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (t, url, done, seen) = (t.clone(), queue_url.to_owned(), done.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut requests, mut errors, mut duplicates) = (Vec::new(), 0u64, 0u64, 0u64);
            let mut n = (c as u64) << 40;
            while started.elapsed() < duration && done.load(Ordering::Relaxed) < max_messages {
                let t0 = Instant::now();
                let ok = match workload {
                    Workload::Send => {
                        n += 1;
                        let body = format!(
                            r#"{{"QueueUrl":"{url}","MessageBody":"{}"{}}}"#,
                            body_of(size, n),
                            fifo_members(t.groups, n)
                        );
                        let r = t.call("SendMessage", &body).await;
                        let ok = matches!(r, Ok((200, _)));
                        if ok {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        ok
                    }
                    Workload::SendBatch => {
                        let entries: Vec<String> = (0..10)
                            .map(|i| {
                                n += 1;
                                format!(
                                    r#"{{"Id":"m{i}","MessageBody":"{}"{}}}"#,
                                    body_of(size, n),
                                    fifo_members(t.groups, n)
                                )
                            })
                            .collect();
                        let body = format!(r#"{{"QueueUrl":"{url}","Entries":[{}]}}"#, entries.join(","));
                        let r = t.call("SendMessageBatch", &body).await;
                        let ok = matches!(&r, Ok((200, b)) if !b.contains("\"Failed\":[{"));
                        if ok {
                            done.fetch_add(10, Ordering::Relaxed);
                        }
                        ok
                    }
                    // These have their own functions (pipeline, fanout, idle).
                    Workload::Pipeline | Workload::Fanout | Workload::Idle => break,
                    Workload::Receive => {
                        let body = format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":10,"VisibilityTimeout":60}}"#);
                        match t.receive(&body).await {
                            // Concurrent receivers skip each other's locked rows, so an empty
                            // answer does not mean an empty queue: try again until the count
                            // or the time is up.
                            Some(msgs) if msgs.is_empty() => continue,
                            Some(msgs) => {
                                for m in &msgs {
                                    let id = m["MessageId"].as_str().unwrap_or_default().to_owned();
                                    if let Ok(mut s) = seen.lock()
                                        && !s.insert(id)
                                    {
                                        duplicates += 1;
                                    }
                                }
                                let ok = t.delete_all(&url, &msgs).await;
                                if ok {
                                    done.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                                }
                                ok
                            }
                            None => false,
                        }
                    }
                };
                requests += 1;
                if ok {
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (lat, requests, errors, duplicates)
        }));
    }
    let (mut lat, mut requests, mut errors, mut duplicates) = (Vec::new(), 0, 0, 0);
    for task in tasks {
        if let Ok((l, r, e, d)) = task.await {
            lat.extend(l);
            requests += r;
            errors += e;
            duplicates += d;
        }
    }
    let mut report = Report::new(workload, clients, started.elapsed().as_secs_f64(), &mut lat);
    report.messages = done.load(Ordering::Relaxed);
    report.requests = requests;
    report.errors = errors;
    report.duplicates = duplicates;
    report
}

fn micros_now() -> u64 {
    SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A pipeline body: `RUN.n:SENT_MICROS:` then padding to `size` (RUN tells this run's
/// messages from those an earlier run left in the queue).
fn stamped_body(size: usize, run: u64, n: u64) -> String {
    let mut b = format!("{run}.{n}:{}:", micros_now());
    while b.len() < size {
        b.push('x');
    }
    b
}

/// Producers send (at `rate` messages a second in all, or as fast as they can when 0) for
/// `duration` while long-polling consumers receive and delete; then the consumers drain what
/// was sent. Latency is from the send (stamped in the body) to its receipt.
pub async fn pipeline(
    t: &Target,
    queue_url: &str,
    producers: usize,
    consumers: usize,
    rate: f64,
    duration: Duration,
    size: usize,
) -> Report {
    let started = Instant::now();
    let run = micros_now();
    let sent = Arc::new(AtomicU64::new(0));
    let producing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::<u64>::new()));
    let mut senders = Vec::new();
    for p in 0..producers {
        let (t, url, sent) = (t.clone(), queue_url.to_owned(), sent.clone());
        senders.push(tokio::spawn(async move {
            let mut errors = 0u64;
            let period = (rate > 0.0).then(|| Duration::from_secs_f64(producers as f64 / rate));
            let mut n = (p as u64) << 40;
            let mut k = 0u32;
            while started.elapsed() < duration {
                if let Some(period) = period {
                    // Open loop: each producer keeps its own schedule; late sends go at once.
                    let due = started + period * k;
                    k += 1;
                    tokio::time::sleep_until(due.into()).await;
                }
                n += 1;
                let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{}"}}"#, stamped_body(size, run, n));
                match t.call("SendMessage", &body).await {
                    Ok((200, _)) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => errors += 1,
                }
            }
            errors
        }));
    }
    let received = Arc::new(AtomicU64::new(0));
    let mut takers = Vec::new();
    for _ in 0..consumers {
        let (t, url) = (t.clone(), queue_url.to_owned());
        let (sent, received, producing, seen) = (sent.clone(), received.clone(), producing.clone(), seen.clone());
        takers.push(tokio::spawn(async move {
            let (mut lat, mut requests, mut errors, mut duplicates, mut backlog) = (Vec::new(), 0u64, 0u64, 0u64, 0u64);
            let drain_until = started + duration + Duration::from_secs(15);
            loop {
                let all_in = !producing.load(Ordering::Acquire)
                    && received.load(Ordering::Acquire) >= sent.load(Ordering::Acquire);
                if all_in || Instant::now() >= drain_until {
                    break;
                }
                let body = format!(
                    r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":10,"WaitTimeSeconds":1,"VisibilityTimeout":60}}"#
                );
                requests += 1;
                let Some(msgs) = t.receive(&body).await else {
                    errors += 1;
                    continue;
                };
                let at = micros_now();
                if msgs.is_empty() {
                    continue;
                }
                for m in &msgs {
                    let body = m["Body"].as_str().unwrap_or_default();
                    let mut parts = body.splitn(3, ':');
                    let (of_run, n) = parts
                        .next()
                        .and_then(|x| x.split_once('.'))
                        .and_then(|(r, n)| Some((r.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
                        .unwrap_or((0, u64::MAX));
                    let stamp: u64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(at);
                    if of_run != run {
                        // Left by an earlier run: taken (and deleted), not counted as this run's.
                        backlog += 1;
                    } else if let Ok(mut s) = seen.lock() {
                        if s.insert(n) {
                            received.fetch_add(1, Ordering::AcqRel);
                            lat.push(at.saturating_sub(stamp) as f64 / 1000.0);
                        } else {
                            duplicates += 1;
                        }
                    }
                }
                requests += 1;
                if !t.delete_all(&url, &msgs).await {
                    errors += 1;
                }
            }
            (lat, requests, errors, duplicates, backlog)
        }));
    }
    let mut errors = 0;
    for s in senders {
        errors += s.await.unwrap_or(1);
    }
    let producing_seconds = started.elapsed().as_secs_f64();
    producing.store(false, Ordering::Release);
    let (mut lat, mut requests, mut duplicates, mut backlog) = (Vec::new(), 0, 0, 0);
    for c in takers {
        if let Ok((l, r, e, d, b)) = c.await {
            lat.extend(l);
            requests += r;
            errors += e;
            duplicates += d;
            backlog += b;
        }
    }
    let mut report = Report::new(Workload::Pipeline, producers + consumers, producing_seconds, &mut lat);
    report.sent = sent.load(Ordering::Relaxed);
    report.messages = received.load(Ordering::Relaxed).min(report.sent);
    report.lost = report.sent.saturating_sub(received.load(Ordering::Relaxed));
    report.requests = requests + report.sent;
    report.errors = errors;
    report.duplicates = duplicates;
    report.offered_rate = rate;
    report.earlier = backlog;
    report
}

/// SendMessage from `clients` concurrent clients, each request to a random queue of a random
/// account: `targets` holds each account's caller and its queue URLs.
pub async fn fanout(targets: &[(Target, Vec<String>)], clients: usize, duration: Duration, size: usize) -> Report {
    let started = Instant::now();
    let targets = Arc::new(targets.to_vec());
    let mut tasks = Vec::new();
    for c in 0..clients {
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ok, mut errors) = (Vec::new(), 0u64, 0u64);
            let mut n = (c as u64) << 40;
            // A small xorshift: spread without a dependency.
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
            while started.elapsed() < duration {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (t, urls) = &targets[(x % targets.len() as u64) as usize];
                let url = &urls[((x >> 32) % urls.len() as u64) as usize];
                n += 1;
                let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{}"}}"#, body_of(size, n));
                let t0 = Instant::now();
                if matches!(t.call("SendMessage", &body).await, Ok((200, _))) {
                    ok += 1;
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (lat, ok, errors)
        }));
    }
    let (mut lat, mut ok, mut errors) = (Vec::new(), 0, 0);
    for task in tasks {
        if let Ok((l, o, e)) = task.await {
            lat.extend(l);
            ok += o;
            errors += e;
        }
    }
    let mut report = Report::new(Workload::Fanout, clients, started.elapsed().as_secs_f64(), &mut lat);
    report.messages = ok;
    report.requests = ok + errors;
    report.errors = errors;
    report
}

/// `clients` long polls (20 s, as an idle consumer makes them) held open on an empty queue for
/// `duration`, each opened again when it returns; polls still open at the end are dropped.
/// Nothing is sent.
pub async fn idle(t: &Target, queue_url: &str, clients: usize, duration: Duration) -> Report {
    let started = Instant::now();
    let (requests, errors, got) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (t, url) = (t.clone(), queue_url.to_owned());
        let (requests, errors, got) = (requests.clone(), errors.clone(), got.clone());
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"QueueUrl":"{url}","WaitTimeSeconds":20}}"#);
            loop {
                requests.fetch_add(1, Ordering::Relaxed);
                match t.call("ReceiveMessage", &body).await {
                    Ok((200, text)) => {
                        got.fetch_add(u64::from(text.contains("\"Messages\":[{")), Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    for task in &tasks {
        task.abort();
    }
    let mut report = Report::new(Workload::Idle, clients, started.elapsed().as_secs_f64(), &mut []);
    report.messages = got.load(Ordering::Relaxed);
    report.requests = requests.load(Ordering::Relaxed);
    report.errors = errors.load(Ordering::Relaxed);
    report
}
