//! The operations listener: Prometheus metrics and health (live, ready), plain HTTP on
//! loopback, HTTPS with a bearer token anywhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App as ActixApp, HttpServer, web};
use secrecy::ExposeSecret;

use super::providers::read_secret_file;
use super::*;
use crate::config::Config;
use crate::queue::QueueService;
use crate::store::PgStore;

#[derive(Clone)]
struct MetricsState {
    metrics: Arc<crate::metrics::Metrics>,
    store: PgStore,
    queues: Arc<QueueService>,
    keys: Arc<crate::keys::DataKeys>,
    /// The bearer token `/metrics` needs (always set when the listener is not loopback).
    token: Option<Arc<secrecy::SecretString>>,
}

async fn metrics_page(req: actix_web::HttpRequest, s: web::Data<MetricsState>) -> actix_web::HttpResponse {
    if let Some(token) = &s.token {
        use subtle_compare::equal;
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !equal(given.as_bytes(), token.expose_secret().as_bytes()) {
            return actix_web::HttpResponse::Unauthorized().insert_header(("www-authenticate", "Bearer")).finish();
        }
    }
    let pool = s.store.pool();
    s.metrics.db_connections.set(i64::from(pool.size()));
    s.metrics.db_idle.set(pool.num_idle() as i64);
    s.metrics.long_polls.set(s.queues.open_long_polls() as i64);
    let counts = s.keys.counts();
    for (event, c) in [
        ("generate", &counts.generated),
        ("unwrap", &counts.unwrapped),
        ("failure", &counts.failures),
        ("cache_hit", &counts.cache_hits),
    ] {
        s.metrics.key_calls.with_label_values(&[event]).set(c.load(std::sync::atomic::Ordering::Relaxed) as i64);
    }
    let started = std::time::Instant::now();
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        s.metrics.db_ping.set(started.elapsed().as_secs_f64());
    }
    if let Ok(Ok(age)) = tokio::time::timeout(Duration::from_secs(2), s.store.oldest_transaction_age()).await {
        s.metrics.db_oldest_transaction.set(age);
    }
    // Depth of the deepest queues (bounded series; a slow database skips it this time).
    let now = s.queues.now();
    if let Ok(Ok(depths)) =
        tokio::time::timeout(Duration::from_secs(2), s.store.deepest_queues(now, crate::metrics::MAX_QUEUE_SERIES))
            .await
    {
        s.metrics.queue_messages.reset();
        s.metrics.queue_oldest_age.reset();
        for d in depths {
            let account = s.metrics.account_label(&d.account_id);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "visible"]).set(d.visible);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "not_visible"]).set(d.not_visible);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "delayed"]).set(d.delayed);
            s.metrics.queue_messages.with_label_values(&[&account, &d.name, "dead_letters"]).set(d.dead_letters);
            if let Some(o) = d.oldest {
                s.metrics.queue_oldest_age.with_label_values(&[&account, &d.name]).set((now - o).num_seconds());
            }
        }
    }
    actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(s.metrics.render())
}

async fn live() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().body("live\n")
}

/// Ready when the database answers within two seconds.
async fn ready(s: web::Data<MetricsState>) -> actix_web::HttpResponse {
    match tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        // A key-provider outage while cached keys serve is degraded, not unready: pulling
        // every instance out of the load balancer would turn a short outage into a full one.
        Ok(Ok(())) if s.keys.unavailable_within(60) => {
            actix_web::HttpResponse::Ok().body("degraded: the key provider is unavailable; cached data keys serve\n")
        }
        Ok(Ok(())) => actix_web::HttpResponse::Ok().body("ready\n"),
        _ => actix_web::HttpResponse::ServiceUnavailable().body("database unreachable\n"),
    }
}

/// Constant-time comparison of secrets.
mod subtle_compare {
    use hmac::{KeyInit, Mac};

    /// Whether `a == b`, in time independent of both: their MACs under a fresh random key
    /// are compared, and `verify_slice` compares in constant time.
    pub fn equal(a: &[u8], b: &[u8]) -> bool {
        let mut key = [0u8; 32];
        if crate::crypto::random_bytes(&mut key).is_err() {
            return false;
        }
        let Ok(mut ma) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key) else { return false };
        let Ok(mut mb) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key) else { return false };
        ma.update(a);
        mb.update(b);
        mb.verify_slice(&ma.finalize().into_bytes()).is_ok()
    }
}

/// The metrics and health listener: plain HTTP on a loopback address; elsewhere HTTPS (the
/// service's certificate) with `/metrics` behind a bearer token (`metrics_token_file`).
/// Health stays open to load balancers either way.
pub(super) fn metrics_server(
    config: &Config,
    tls: rustls::ServerConfig,
    metrics: Arc<crate::metrics::Metrics>,
    store: PgStore,
    queues: Arc<QueueService>,
    keys: Arc<crate::keys::DataKeys>,
) -> Result<(actix_web::dev::Server, SocketAddr), AppError> {
    let exposed = !config.metrics_listen.ip().is_loopback();
    let token = match (&config.metrics_token_file, exposed) {
        (Some(f), _) => Some(Arc::new(read_secret_file(f).map_err(|e| AppError::Io {
            what: format!("{}: {e}", f.display()),
            source: std::io::Error::other("token"),
        })?)),
        (None, true) => {
            return Err(AppError::Io {
                what: format!(
                    "metrics_listen {} is not a loopback address: set metrics_token_file (metrics are then served over HTTPS to bearers of that token)",
                    config.metrics_listen
                ),
                source: std::io::Error::other("refused"),
            });
        }
        (None, false) => None,
    };
    let listener = bind(config.metrics_listen, "--metrics-listen", "SLUICE_METRICS_LISTEN")?;
    let addr = listener.local_addr().map_err(io("metrics address"))?;
    let state = web::Data::new(MetricsState { metrics, store, queues, keys, token });
    let server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics_page))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
    })
    .workers(1)
    .disable_signals();
    let server = if exposed { server.listen_rustls_0_23(listener, tls) } else { server.listen(listener) }
        .map_err(io("starting the metrics listener"))?
        .run();
    Ok((server, addr))
}
