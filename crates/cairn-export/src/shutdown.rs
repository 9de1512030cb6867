//! A shutdown signal shared by exporter threads.
//!
//! Exporters block (on the ledger, on HTTP, in backoff sleeps); [`Shutdown::sleep`] lets a backoff
//! end early, and every loop checks [`Shutdown::is_triggered`] between steps. An HTTP request in
//! flight is not interrupted: it ends by its own timeout, so shutdown takes at most one request
//! timeout.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A cloneable, one-way stop flag. Triggering it wakes every [`Shutdown::sleep`].
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Shutdown {
    /// A signal that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop. Idempotent.
    pub fn trigger(&self) {
        let (flag, cv) = &*self.inner;
        // A poisoned mutex only means another thread panicked while holding it; the flag is a
        // plain bool and still meaningful.
        *flag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cv.notify_all();
    }

    /// `true` once [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self
            .inner
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sleeps for `duration` or until triggered; returns `true` if triggered.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let (flag, cv) = &*self.inner;
        let mut triggered = flag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*triggered {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            triggered = cv
                .wait_timeout(triggered, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_ends_early_when_triggered() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.sleep(Duration::from_millis(1)));
        let other = shutdown.clone();
        let started = Instant::now();
        let t = std::thread::spawn(move || other.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        shutdown.trigger();
        assert_eq!(t.join().ok(), Some(true));
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(shutdown.is_triggered());
    }
}
