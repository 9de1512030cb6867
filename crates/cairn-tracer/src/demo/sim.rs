//! Simulated time and the distributions the workload draws from.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// A simulated clock: starts at a wall-clock instant and only moves when told.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimClock {
    start: SystemTime,
    now: SystemTime,
}

impl SimClock {
    pub(crate) fn new(start: SystemTime) -> SimClock {
        SimClock { start, now: start }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.now
    }

    /// Moves time forward by `ms` milliseconds and returns the new now.
    pub(crate) fn advance_ms(&mut self, ms: f64) -> SystemTime {
        self.now += Duration::from_secs_f64(ms.max(0.0) / 1000.0);
        self.now
    }

    /// Jumps to `t` if it is later than now.
    pub(crate) fn catch_up(&mut self, t: SystemTime) {
        if t > self.now {
            self.now = t;
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now.duration_since(self.start).unwrap_or_default()
    }
}

/// A standard normal draw (Box–Muller; two lines, so no `rand_distr` dependency).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal latency in milliseconds with the given median and shape (σ of the log).
pub(crate) fn lognormal_ms(rng: &mut impl Rng, median_ms: f64, sigma: f64) -> f64 {
    median_ms * (sigma * normal(rng)).exp()
}

/// A uniformly chosen element.
pub(crate) fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// An integer count around `mean`, never below `min`.
pub(crate) fn tokens(rng: &mut impl Rng, mean: f64, spread: f64, min: u64) -> u64 {
    let v = mean * (spread * normal(rng)).exp();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let v = v.max(0.0).round() as u64;
    v.max(min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut v: Vec<f64> = (0..2001)
            .map(|_| lognormal_ms(&mut rng, 100.0, 0.5))
            .collect();
        v.sort_by(f64::total_cmp);
        let median = v[1000];
        assert!((80.0..125.0).contains(&median), "median {median}");
        assert!(v.iter().all(|x| *x > 0.0));
    }

    #[test]
    fn clock_moves_forward_only() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut c = SimClock::new(start);
        c.advance_ms(1500.0);
        c.catch_up(start);
        assert_eq!(c.elapsed(), Duration::from_millis(1500));
        c.advance_ms(-5.0);
        assert_eq!(c.elapsed(), Duration::from_millis(1500));
    }
}
