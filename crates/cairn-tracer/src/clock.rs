//! A cheap wall clock for span timestamps.
//!
//! Span timestamps are unix nanoseconds. Reading `SystemTime` for both ends of a span would make
//! durations jump with NTP steps and costs a `clock_gettime` each, so the clock is anchored once
//! per process: [`fastant`] captures the wall time together with a TSC reading, and every later
//! reading is `anchor + cycles × ns-per-cycle`. That is a few nanoseconds on x86 with an invariant
//! TSC (`fastant` falls back to the monotonic clock elsewhere), never a syscall, and monotonic: a
//! span's end is never before its start.
//!
//! On the recording path a span stores the raw reading ([`Stamp::Tick`]); the conversion to unix
//! nanoseconds (a float multiply and the anchor) runs on the exporter thread
//! ([`Stamp::unix_nanos`]). Explicit times (`start_time`, `end_at`) are stored as
//! [`Stamp::Unix`].

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();

/// A span timestamp: not set yet, unix nanoseconds, or a raw clock reading converted later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// Not set (a builder without an explicit start time).
    Unset,
    /// Unix nanoseconds.
    Unix(u64),
    /// A raw reading of the anchored clock.
    Tick(fastant::Instant),
}

impl Stamp {
    /// Now, as a raw reading (the recording path: no conversion).
    #[inline]
    pub(crate) fn now() -> Stamp {
        Stamp::Tick(fastant::Instant::now())
    }

    /// In unix nanoseconds (0 when unset).
    pub(crate) fn unix_nanos(self) -> u64 {
        match self {
            Stamp::Unset => 0,
            Stamp::Unix(ns) => ns,
            Stamp::Tick(t) => t.as_unix_nanos(anchor()),
        }
    }

    /// This stamp, or `earlier` if this one is before it (a span never ends before it starts).
    #[inline]
    pub(crate) fn not_before(self, earlier: Stamp) -> Stamp {
        match (self, earlier) {
            (Stamp::Tick(a), Stamp::Tick(b)) => Stamp::Tick(a.max(b)),
            (this, Stamp::Unset) => this,
            (this, earlier) => Stamp::Unix(this.unix_nanos().max(earlier.unix_nanos())),
        }
    }
}

fn anchor() -> &'static fastant::Anchor {
    ANCHOR.get_or_init(fastant::Anchor::new)
}

/// Now, in unix nanoseconds (monotonic within the process).
#[inline]
pub(crate) fn now_unix_nanos() -> u64 {
    fastant::Instant::now().as_unix_nanos(anchor())
}

/// A `SystemTime` in unix nanoseconds (0 for times before the epoch).
pub(crate) fn system_time_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d: Duration| {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_close_to_wall_time() {
        let a = now_unix_nanos();
        let b = now_unix_nanos();
        assert!(b >= a);
        let wall = system_time_nanos(SystemTime::now());
        assert!(
            wall.abs_diff(b) < 5_000_000_000,
            "anchor drifted: {wall} vs {b}"
        );
    }

    #[test]
    fn stamps_convert_and_never_go_backwards() {
        let start = Stamp::now();
        let end = Stamp::now().not_before(start);
        assert!(end.unix_nanos() >= start.unix_nanos());
        let wall = system_time_nanos(SystemTime::now());
        assert!(wall.abs_diff(start.unix_nanos()) < 5_000_000_000);
        // An explicit end before a raw start is clamped to the start.
        let clamped = Stamp::Unix(1).not_before(start);
        assert_eq!(clamped.unix_nanos(), start.unix_nanos());
        assert_eq!(Stamp::Unix(7).not_before(Stamp::Unset), Stamp::Unix(7));
        assert_eq!(Stamp::Unset.unix_nanos(), 0);
    }
}
