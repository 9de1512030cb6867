//! Exporter telemetry, emitted from one place: the runner.
//!
//! Each exporter owns one [`ExporterStats`] (shared through an `Arc`); the runner is the only
//! writer, anyone may read. The collector maps a [`StatsSnapshot`] to Prometheus:
//!
//! | Field           | Prometheus metric                                   | Meaning                                                        |
//! |-----------------|-----------------------------------------------------|----------------------------------------------------------------|
//! | `sent`          | `cairn_exporter_sent_total{exporter}`               | records the destination accepted (a 409 on replay counts)      |
//! | `failed`        | `cairn_exporter_failed_total{exporter}`             | send attempts that failed wholly or in part (request level)    |
//! | `retried`       | `cairn_exporter_retried_total{exporter}`            | records sent again after a failed attempt                      |
//! | `dead_lettered` | `cairn_exporter_dead_lettered_total{exporter}`      | records written to the dead-letter file                        |
//! | `lag`           | `cairn_exporter_lag_entries{exporter}`              | ledger entries not yet exported (ledger size minus cursor)     |
//!
//! `skipped` (records the exporter does not handle, e.g. log records for a span-only
//! destination) and `cursor` are reported for completeness.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one exporter. All counters are monotonic except `lag` and `cursor`.
#[derive(Debug, Default)]
pub struct ExporterStats {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    skipped: AtomicU64,
    lag: AtomicU64,
    cursor: AtomicU64,
}

/// A point-in-time copy of [`ExporterStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Records the destination accepted.
    pub sent: u64,
    /// Send attempts that failed wholly or in part.
    pub failed: u64,
    /// Records sent again after a failed attempt.
    pub retried: u64,
    /// Records written to the dead-letter file.
    pub dead_lettered: u64,
    /// Records the exporter does not handle.
    pub skipped: u64,
    /// Ledger entries not yet exported.
    pub lag: u64,
    /// Next ledger index to export (the persisted cursor).
    pub cursor: u64,
}

impl ExporterStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            lag: self.lag.load(Ordering::Relaxed),
            cursor: self.cursor.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_failed(&self, n: u64) {
        self.failed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_retried(&self, n: u64) {
        self.retried.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_position(&self, cursor: u64, ledger_size: u64) {
        self.cursor.store(cursor, Ordering::Relaxed);
        self.lag
            .store(ledger_size.saturating_sub(cursor), Ordering::Relaxed);
    }
}
