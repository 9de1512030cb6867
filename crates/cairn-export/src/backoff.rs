//! Exponential backoff with jitter.
//!
//! The n-th consecutive failure (n from 0) waits `min(max, initial · 2ⁿ)` scaled by a random
//! factor in `[0.5, 1.0]` ("equal jitter": never less than half the nominal delay, so a fleet of
//! exporters spreads out without retrying immediately). A destination's `Retry-After` raises the
//! delay to at least that value, still capped at `max`. A success resets the sequence.

use std::time::Duration;

use rand::Rng as _;

/// Backoff state of one exporter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The delay before the next attempt; counts one more failure.
    pub(crate) fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let nominal = self
            .initial
            .saturating_mul(1_u32 << self.failures.min(30))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let jittered = nominal.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        match retry_after {
            Some(wait) => jittered.max(wait).min(self.max),
            None => jittered,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_and_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for n in 0..8_u32 {
            let nominal = (100_u64 << n).min(2000);
            let d = b.next_delay(None).as_millis();
            assert!(
                u64::try_from(d).is_ok_and(|d| d >= nominal / 2 && d <= nominal),
                "failure {n}: {d} ms not in [{}, {nominal}]",
                nominal / 2
            );
        }
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_raises_the_delay_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(5));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
    }
}
