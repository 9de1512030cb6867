//! A cheap wall clock for span timestamps.
//!
//! Span timestamps are unix nanoseconds. Reading `SystemTime` for both ends of a span would make
//! durations jump with NTP steps and costs a `clock_gettime` each, so the clock is anchored once
//! per process: [`fastant`] captures the wall time together with a TSC reading, and every later
//! reading is `anchor + cycles × ns-per-cycle`. That is a few nanoseconds on x86 with an invariant
//! TSC (`fastant` falls back to the monotonic clock elsewhere), never a syscall, and monotonic: a
//! span's end is never before its start.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();

/// Now, in unix nanoseconds (monotonic within the process).
pub(crate) fn now_unix_nanos() -> u64 {
    let anchor = ANCHOR.get_or_init(fastant::Anchor::new);
    fastant::Instant::now().as_unix_nanos(anchor)
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
}
