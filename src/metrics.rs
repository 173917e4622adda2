//! Prometheus metrics and health, served on their own listener (loopback by default).
//!
//! Label cardinality is bounded: the first `MAX_ACCOUNT_LABELS` accounts seen get their own
//! series, every later one is counted as `other`; actions and outcomes are closed sets (the
//! action table and the error codes).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Accounts with a series of their own; the rest share `other`.
pub const MAX_ACCOUNT_LABELS: usize = 200;

/// The service's metrics. One per process.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    refusals: IntCounterVec,
    latency: HistogramVec,
    pub unopenable: IntCounter,
    pub long_polls: IntGauge,
    pub db_connections: IntGauge,
    pub db_idle: IntGauge,
    /// Key provider calls (generate, unwrap), failures, and data-key cache hits.
    pub key_calls: IntGaugeVec,
    /// Per-queue depth (bounded: the `MAX_QUEUE_SERIES` deepest queues).
    pub queue_messages: IntGaugeVec,
    pub queue_oldest_age: IntGaugeVec,
    /// How long the database took to answer a trivial query at the last scrape.
    pub db_ping: prometheus::Gauge,
    /// Age of the oldest open transaction on the database (it holds back vacuum).
    pub db_oldest_transaction: prometheus::Gauge,
    accounts: Mutex<HashSet<String>>,
}

/// Queues with depth series of their own (the deepest ones, at each scrape).
pub const MAX_QUEUE_SERIES: i64 = 100;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Why metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(String);

fn err(e: prometheus::Error) -> MetricsError {
    MetricsError(e.to_string())
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("sluice_requests_total", "Requests by action, outcome (success or error code) and account"),
            &["action", "outcome", "account"],
        )
        .map_err(err)?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "sluice_refusals_total",
                "Refused requests (throttled, over a limit, denied, unauthenticated) by account and reason",
            ),
            &["account", "reason"],
        )
        .map_err(err)?;
        let latency = HistogramVec::new(
            HistogramOpts::new("sluice_request_duration_seconds", "Request latency by action")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0]),
            &["action"],
        )
        .map_err(err)?;
        let unopenable =
            IntCounter::new("sluice_messages_unopenable_total", "Messages that did not open and were set aside")
                .map_err(err)?;
        let long_polls = IntGauge::new("sluice_long_polls_open", "Long polls waiting now").map_err(err)?;
        let db_connections = IntGauge::new("sluice_db_connections", "Database pool connections").map_err(err)?;
        let db_idle = IntGauge::new("sluice_db_connections_idle", "Idle database pool connections").map_err(err)?;
        let key_calls = IntGaugeVec::new(
            Opts::new("sluice_key_provider_events", "Key provider calls, failures and data-key cache hits since start"),
            &["event"],
        )
        .map_err(err)?;
        let queue_messages = IntGaugeVec::new(
            Opts::new(
                "sluice_queue_messages",
                "Messages of a queue by state: visible, not_visible (in flight), delayed, dead_letters (the deepest queues)",
            ),
            &["account", "queue", "state"],
        )
        .map_err(err)?;
        let db_ping =
            prometheus::Gauge::new("sluice_db_ping_seconds", "Database round trip at the last scrape").map_err(err)?;
        let db_oldest_transaction = prometheus::Gauge::new(
            "sluice_db_oldest_transaction_seconds",
            "Age of the oldest transaction open on the database (it keeps vacuum from removing dead messages)",
        )
        .map_err(err)?;
        let queue_oldest_age = IntGaugeVec::new(
            Opts::new(
                "sluice_queue_oldest_message_age_seconds",
                "Age of a queue's oldest message (the deepest queues)",
            ),
            &["account", "queue"],
        )
        .map_err(err)?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(refusals.clone()),
            Box::new(latency.clone()),
            Box::new(unopenable.clone()),
            Box::new(long_polls.clone()),
            Box::new(db_connections.clone()),
            Box::new(db_idle.clone()),
            Box::new(key_calls.clone()),
            Box::new(queue_messages.clone()),
            Box::new(queue_oldest_age.clone()),
            Box::new(db_ping.clone()),
            Box::new(db_oldest_transaction.clone()),
        ] {
            registry.register(c).map_err(err)?;
        }
        Ok(Self {
            registry,
            requests,
            refusals,
            latency,
            unopenable,
            long_polls,
            db_connections,
            db_idle,
            key_calls,
            queue_messages,
            queue_oldest_age,
            db_ping,
            db_oldest_transaction,
            accounts: Mutex::new(HashSet::new()),
        })
    }

    /// The account's label: its id while there is room for one more, `other` after that.
    pub fn account_label(&self, account: &str) -> String {
        if account.is_empty() {
            return "none".into();
        }
        let Ok(mut seen) = self.accounts.lock() else { return "other".into() };
        if seen.contains(account) || (seen.len() < MAX_ACCOUNT_LABELS && seen.insert(account.to_owned())) {
            account.to_owned()
        } else {
            "other".into()
        }
    }

    /// Records one request: its action, its outcome (`success` or the error code), the
    /// account, and how long it took. Refusals are also counted by reason.
    pub fn request(&self, action: &str, outcome: &str, account: &str, took: Duration) {
        let account = self.account_label(account);
        self.requests.with_label_values(&[action, outcome, &account]).inc();
        self.latency.with_label_values(&[action]).observe(took.as_secs_f64());
        const REFUSALS: &[&str] = &[
            "RequestThrottled",
            "OverLimit",
            "AccessDenied",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "MissingAuthenticationToken",
            "IncompleteSignature",
            "ExpiredToken",
            "RequestExpired",
        ];
        if REFUSALS.contains(&outcome) {
            self.refusals.with_label_values(&[&account, outcome]).inc();
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_labels_are_bounded() {
        let m = Metrics::new().unwrap();
        for i in 0..MAX_ACCOUNT_LABELS {
            assert_eq!(m.account_label(&format!("{i:012}")), format!("{i:012}"));
        }
        assert_eq!(m.account_label("999999999999"), "other");
        assert_eq!(m.account_label("000000000001"), "000000000001", "a known account keeps its label");
    }

    #[test]
    fn refusals_are_counted_by_account_and_reason() {
        let m = Metrics::new().unwrap();
        m.request("SendMessage", "RequestThrottled", "111111111111", Duration::from_millis(1));
        m.request("SendMessage", "success", "111111111111", Duration::from_millis(1));
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains(r#"sluice_refusals_total{account="111111111111",reason="RequestThrottled"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_requests_total{account="111111111111",action="SendMessage",outcome="success"} 1"#)
        );
    }
}
