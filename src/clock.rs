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

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Time comes from a `Clock`, so tests move it instead of sleeping: nothing else in the
    /// service reads the wall clock.
    #[test]
    fn no_module_but_this_one_reads_the_wall_clock() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let this = src.join("clock.rs");
        let forbidden = [concat!("Utc::", "now()"), concat!("SystemTime::", "now()")];
        let mut found = Vec::new();
        for f in files.iter().filter(|f| **f != this) {
            let text = std::fs::read_to_string(f).unwrap();
            for (n, line) in text.lines().enumerate() {
                if forbidden.iter().any(|w| line.contains(w)) {
                    found.push(format!("{}:{}", f.display(), n + 1));
                }
            }
        }
        assert!(files.len() > 50, "only {} files read", files.len());
        assert!(found.is_empty(), "read the injected Clock instead: {found:?}");
    }

    #[test]
    fn an_offset_clock_moves_by_what_it_is_told() {
        let c = OffsetClock::new();
        let before = SystemClock.now();
        c.advance(TimeDelta::hours(1));
        let moved = c.now() - before;
        assert!(moved >= TimeDelta::hours(1) && moved < TimeDelta::hours(1) + TimeDelta::seconds(5), "{moved}");
    }
}
