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
}

impl Workload {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "send" => Some(Self::Send),
            "send-batch" => Some(Self::SendBatch),
            "receive" => Some(Self::Receive),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::SendBatch => "send-batch",
            Self::Receive => "receive",
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
}

impl Report {
    pub fn msg_per_second(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }

    pub fn json(&self) -> String {
        format!(
            r#"{{"workload":"{}","clients":{},"seconds":{:.3},"messages":{},"requests":{},"errors":{},"duplicates":{},"msg_per_s":{:.1},"p50_ms":{:.3},"p99_ms":{:.3},"max_ms":{:.3}}}"#,
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
            self.max_ms
        )
    }
}

impl Target {
    /// One signed AWS JSON call; the answer's status and body.
    pub async fn call(&self, action: &str, body: &str) -> Result<(u16, String), String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = aws_credential_types::Credentials::new(&self.key, &self.secret, None, None, "loadgen").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("sqs")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let target = format!("AmazonSQS.{action}");
        let host = self.url.trim_start_matches("https://").trim_end_matches('/').to_owned();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
        ];
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

    /// Creates (or finds) a queue; its URL.
    pub async fn queue(&self, name: &str) -> Result<String, String> {
        let (status, body) = self.call("CreateQueue", &format!(r#"{{"QueueName":"{name}"}}"#)).await?;
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
                    .map(|n| format!(r#"{{"Id":"m{}","MessageBody":"{}"}}"#, n - start, body_of(size, n)))
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
                        let body = format!(r#"{{"QueueUrl":"{url}","MessageBody":"{}"}}"#, body_of(size, n));
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
                                format!(r#"{{"Id":"m{i}","MessageBody":"{}"}}"#, body_of(size, n))
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
                    Workload::Receive => {
                        let body = format!(r#"{{"QueueUrl":"{url}","MaxNumberOfMessages":10,"VisibilityTimeout":60}}"#);
                        match t.call("ReceiveMessage", &body).await {
                            Ok((200, text)) => {
                                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                                let msgs = v["Messages"].as_array().cloned().unwrap_or_default();
                                if msgs.is_empty() {
                                    // Concurrent receivers skip each other's locked rows, so an
                                    // empty answer does not mean an empty queue: try again
                                    // until the count or the time is up.
                                    continue;
                                }
                                let mut entries = Vec::new();
                                for (i, m) in msgs.iter().enumerate() {
                                    let id = m["MessageId"].as_str().unwrap_or_default().to_owned();
                                    if let Ok(mut s) = seen.lock()
                                        && !s.insert(id)
                                    {
                                        duplicates += 1;
                                    }
                                    entries.push(format!(
                                        r#"{{"Id":"d{i}","ReceiptHandle":"{}"}}"#,
                                        m["ReceiptHandle"].as_str().unwrap_or_default()
                                    ));
                                }
                                let del = format!(r#"{{"QueueUrl":"{url}","Entries":[{}]}}"#, entries.join(","));
                                let ok = matches!(t.call("DeleteMessageBatch", &del).await, Ok((200, _)));
                                if ok {
                                    done.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                                }
                                ok
                            }
                            _ => false,
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
    let seconds = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    Report {
        workload: workload.name(),
        clients,
        seconds,
        messages: done.load(Ordering::Relaxed),
        requests,
        errors,
        duplicates,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(0.0),
    }
}
