//! The one source of time. Every rule that waits or expires reads a `Clock`, so tests can
//! move time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall-clock time plus an adjustable offset (tests move time forward or back).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves this clock by `delta` (may be negative).
    pub fn advance(&self, delta: TimeDelta) {
        self.offset_ms.fetch_add(delta.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_moves_by_what_it_is_told() {
        let c = OffsetClock::new();
        let before = SystemClock.now();
        c.advance(TimeDelta::hours(1));
        let moved = c.now() - before;
        assert!(moved >= TimeDelta::hours(1) && moved < TimeDelta::hours(1) + TimeDelta::seconds(5), "{moved}");
    }
}
