//! The background tasks of one instance: the housekeeping sweep (expiry, usage, sessions,
//! revocations, long-poll registrations); each ends with its owner.

use std::sync::Arc;
use std::time::Duration;

use crate::queue::QueueService;
use crate::tenancy::Tenancy;

/// A background task that ends with its owner.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Deletes expired messages every `interval`; errors are logged and retried next time. The
/// first sweep comes one interval (at most a minute) after the start, not during it: a
/// sweep reads every queue, and an instance that starts has requests to serve first.
pub(super) async fn sweep_forever(
    queues: Arc<QueueService>,
    wakeups: Arc<crate::queue::wait::Wakeups>,
    tenancy: Tenancy,
    interval: Duration,
) {
    let first = tokio::time::Instant::now() + interval.min(Duration::from_secs(60));
    let mut tick = tokio::time::interval_at(first, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queues.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired messages removed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        if let Err(e) = queues.measure_usage().await {
            tracing::warn!(error = %e, "measuring accounts' stored data failed");
        }
        if let Err(e) = tenancy.sweep_expired_sessions().await {
            tracing::warn!(error = %e, "removing expired sessions failed");
        }
        if let Err(e) = tenancy.sweep_token_revocations().await {
            tracing::warn!(error = %e, "removing revocations of expired tokens failed");
        }
        if let Err(e) = wakeups.refresh().await {
            tracing::warn!(error = %e, "refreshing long-poll registrations failed");
        }
    }
}
