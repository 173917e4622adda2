//! Housekeeping: deleting what outlived its retention, and measuring each account's stored
//! data for its limits.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::SqsError;
use super::message::{self};
use super::service::*;

/// The pause between two full deletion steps of the sweep.
const SWEEP_PAUSE: Duration = Duration::from_millis(20);

/// Expired messages deleted per statement by the sweep.
const SWEEP_BATCH: i64 = 10_000;

/// How often the expiry sweep looks at every message, not just the time-ordered range.
const FULL_SWEEP_EVERY: TimeDelta = TimeDelta::hours(1);
/// The longest stored data goes unmeasured, changes seen or not.
const USAGE_BACKSTOP: TimeDelta = TimeDelta::minutes(10);

/// Whether the sweep that runs at `now` looks at every message.
fn full_sweep_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|at| now < at || now - at >= FULL_SWEEP_EVERY)
}

/// Whether stored data must be measured at `now`, having seen `seen` (message row churn,
/// this instance's message writes); `last` is what the last measurement saw, and when.
fn usage_due(last: Option<UsageSeen>, seen: (i64, u64), now: DateTime<Utc>) -> bool {
    match last {
        None => true,
        // Statistics off (the churn stays 0): nothing tells of changes elsewhere.
        Some(_) if seen.0 == 0 => true,
        Some((was, at)) => was != seen || now < at || now - at >= USAGE_BACKSTOP,
    }
}

impl QueueService {
    /// Measures what every account stores (run by the sweep; stored-data limits are
    /// enforced against the last measurement). The measurement reads every message, so it
    /// is skipped while no message was added or removed since the last one, here or on
    /// another instance (PostgreSQL's row counts of `messages`, which lag by a second or
    /// more, plus this instance's own writes), but made at least every `USAGE_BACKSTOP`.
    /// Returns how many accounts were measured (0 when skipped).
    pub async fn measure_usage(&self) -> Result<u64, SqsError> {
        let now = self.clock.now();
        let seen = (self.store.messages_churn().await?, self.store.message_writes());
        let last = self.last_usage.lock().ok().and_then(|l| *l);
        if !usage_due(last, seen, now) {
            return Ok(0);
        }
        let n = self.store.measure_usage(now).await?;
        if let Ok(mut l) = self.last_usage.lock() {
            *l = Some((seen, now));
        }
        self.quotas.clear_cache();
        Ok(n)
    }

    /// Deletes expired messages of every queue (they are never delivered in any case).
    /// Returns how many were removed. Each queue's expired messages are a range of its
    /// time-ordered ids; once an hour (and first on each instance) the sweep also looks at
    /// every message, for ids that are not time-ordered (stored before ids were).
    pub async fn sweep_expired(&self) -> Result<u64, SqsError> {
        let now = self.clock.now();
        let full = match self.last_full_sweep.lock() {
            Ok(mut last) => {
                let due = full_sweep_due(*last, now);
                if due {
                    *last = Some(now);
                }
                due
            }
            Err(_) => true,
        };
        self.sweep_expired_with(now, full).await
    }

    /// The sweep as of `now`: `full` looks at every message of each queue, otherwise at the
    /// range of ids sent before its retention began.
    async fn sweep_expired_with(&self, now: DateTime<Utc>, full: bool) -> Result<u64, SqsError> {
        let mut removed = 0;
        for (queue_id, retention) in self.store.queue_retentions().await? {
            let cutoff = now - TimeDelta::seconds(retention.into());
            let below = (!full).then(|| message::ids_sent_by(cutoff));
            self.store.delete_expired_receipts(queue_id, now).await?;
            loop {
                let n = self.store.delete_expired(queue_id, cutoff, SWEEP_BATCH, below).await?;
                removed += n;
                if n < SWEEP_BATCH as u64 {
                    break;
                }
                // Paced: a large backlog is deleted in steps that leave room for requests.
                tokio::time::sleep(SWEEP_PAUSE).await;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_looks_at_every_message_first_and_then_hourly() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(full_sweep_due(None, t));
        assert!(!full_sweep_due(Some(t), t + TimeDelta::minutes(59)));
        assert!(full_sweep_due(Some(t), t + TimeDelta::hours(1)));
        assert!(full_sweep_due(Some(t), t - TimeDelta::seconds(1)), "a clock that went back");
    }

    #[test]
    fn usage_is_measured_again_only_after_a_change_or_the_backstop() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let minute = TimeDelta::minutes(1);
        assert!(usage_due(None, (5, 0), t), "never measured");
        assert!(!usage_due(Some(((5, 0), t)), (5, 0), t + minute), "nothing changed");
        assert!(usage_due(Some(((5, 0), t)), (6, 0), t + minute), "written by any instance");
        assert!(usage_due(Some(((5, 0), t)), (5, 1), t + minute), "written here, not yet in the statistics");
        assert!(usage_due(Some(((5, 0), t)), (5, 0), t + USAGE_BACKSTOP));
        assert!(usage_due(Some(((0, 0), t)), (0, 0), t + minute), "statistics off");
        assert!(usage_due(Some(((5, 0), t)), (5, 0), t - minute), "a clock that went back");
    }
}
