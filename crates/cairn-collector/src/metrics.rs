//! The collector's own telemetry, in one place (served at `/metrics` in the Prometheus text format).
//!
//! | Metric | Type | Labels |
//! |---|---|---|
//! | `cairn_ingest_requests_total` | counter | `transport` (`http`, `grpc`), `signal` (`traces`, `logs`), `outcome` |
//! | `cairn_ingest_accepted_total` | counter | `signal` — records made durable |
//! | `cairn_ingest_rejected_total` | counter | `signal`, `reason` (`invalid`, `queue_full`, `disk_full`, `unavailable`, `internal`) |
//! | `cairn_ledger_append_batches_total` | counter | — group commits by the ledger writer |
//! | `cairn_ledger_entries` | gauge | — durable ledger entries |
//! | `cairn_index_entries` | gauge | — ledger entries indexed (the index cursor) |
//! | `cairn_index_lag_entries` | gauge | — ledger entries not yet indexed |
//! | `cairn_index_lag_seconds` | gauge | — age of the oldest entry not yet indexed |
//! | `cairn_index_undecodable_entries_total` | counter | — ledger entries the index could not decode |
//!
//! Request `outcome`s: `ok`, `partial`, `malformed`, `too_large`, `unsupported`, `queue_full`,
//! `disk_full`, `unavailable`, `internal`. The full metrics set comes with the metrics issue.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

/// The OTLP transport a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Http,
    Grpc,
}

/// The OTLP signal of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

/// How an ingest request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    Ok,
    Partial,
    Malformed,
    TooLarge,
    Unsupported,
    QueueFull,
    DiskFull,
    Unavailable,
    Internal,
}

/// Why records were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RejectReason {
    Invalid,
    QueueFull,
    DiskFull,
    Unavailable,
    Internal,
}

/// Label values are the snake_case names of the variants.
macro_rules! label_values {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            #[allow(dead_code)]
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),*
                }
            }
        }
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_values!(Transport { Http => "http", Grpc => "grpc" });
label_values!(Signal { Traces => "traces", Logs => "logs" });
label_values!(Outcome {
    Ok => "ok",
    Partial => "partial",
    Malformed => "malformed",
    TooLarge => "too_large",
    Unsupported => "unsupported",
    QueueFull => "queue_full",
    DiskFull => "disk_full",
    Unavailable => "unavailable",
    Internal => "internal",
});
label_values!(RejectReason {
    Invalid => "invalid",
    QueueFull => "queue_full",
    DiskFull => "disk_full",
    Unavailable => "unavailable",
    Internal => "internal",
});

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    transport: Transport,
    signal: Signal,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SignalLabels {
    signal: Signal,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectLabels {
    signal: Signal,
    reason: RejectReason,
}

/// Point-in-time pipeline state, read when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PipelineSnapshot {
    pub(crate) ledger_entries: u64,
    pub(crate) indexed_entries: u64,
    pub(crate) lag_seconds: f64,
}

/// All collector metrics and their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    accepted: Family<SignalLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    append_batches: Counter,
    undecodable: Counter,
    ledger_entries: Gauge,
    index_entries: Gauge,
    lag_entries: Gauge,
    lag_seconds: Gauge<f64, AtomicU64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let accepted = Family::<SignalLabels, Counter>::default();
        let rejected = Family::<RejectLabels, Counter>::default();
        let append_batches = Counter::default();
        let undecodable = Counter::default();
        let ledger_entries = Gauge::default();
        let index_entries = Gauge::default();
        let lag_entries = Gauge::default();
        let lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "cairn_ingest_requests",
            "OTLP export requests by transport, signal and outcome",
            requests.clone(),
        );
        registry.register(
            "cairn_ingest_accepted",
            "Records (spans, log records) made durable in the ledger",
            accepted.clone(),
        );
        registry.register(
            "cairn_ingest_rejected",
            "Records not accepted, by reason",
            rejected.clone(),
        );
        registry.register(
            "cairn_ledger_append_batches",
            "Group commits made by the ledger writer",
            append_batches.clone(),
        );
        registry.register(
            "cairn_index_undecodable_entries",
            "Ledger entries the index could not decode (skipped, still in the ledger)",
            undecodable.clone(),
        );
        registry.register(
            "cairn_ledger_entries",
            "Durable ledger entries",
            ledger_entries.clone(),
        );
        registry.register(
            "cairn_index_entries",
            "Ledger entries indexed",
            index_entries.clone(),
        );
        registry.register(
            "cairn_index_lag_entries",
            "Ledger entries not yet indexed",
            lag_entries.clone(),
        );
        registry.register(
            "cairn_index_lag_seconds",
            "Age of the oldest ledger entry not yet indexed",
            lag_seconds.clone(),
        );
        Self {
            registry,
            requests,
            accepted,
            rejected,
            append_batches,
            undecodable,
            ledger_entries,
            index_entries,
            lag_entries,
            lag_seconds,
        }
    }

    pub(crate) fn request(&self, transport: Transport, signal: Signal, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabels {
                transport,
                signal,
                outcome,
            })
            .inc();
    }

    pub(crate) fn accepted(&self, signal: Signal, n: usize) {
        self.accepted
            .get_or_create(&SignalLabels { signal })
            .inc_by(n as u64);
    }

    pub(crate) fn rejected(&self, signal: Signal, reason: RejectReason, n: usize) {
        if n > 0 {
            self.rejected
                .get_or_create(&RejectLabels { signal, reason })
                .inc_by(n as u64);
        }
    }

    pub(crate) fn append_batch(&self) {
        self.append_batches.inc();
    }

    pub(crate) fn undecodable(&self, n: u64) {
        self.undecodable.inc_by(n);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub(crate) fn render(&self, snapshot: PipelineSnapshot) -> String {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.ledger_entries.set(to_i64(snapshot.ledger_entries));
        self.index_entries.set(to_i64(snapshot.indexed_entries));
        self.lag_entries.set(to_i64(
            snapshot
                .ledger_entries
                .saturating_sub(snapshot.indexed_entries),
        ));
        self.lag_seconds.set(snapshot.lag_seconds);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::new();
        m.request(Transport::Http, Signal::Traces, Outcome::Partial);
        m.accepted(Signal::Traces, 3);
        m.rejected(Signal::Traces, RejectReason::Invalid, 2);
        let text = m.render(PipelineSnapshot {
            ledger_entries: 10,
            indexed_entries: 7,
            lag_seconds: 0.5,
        });
        assert!(
            text.contains(
                "cairn_ingest_requests_total{transport=\"http\",signal=\"traces\",outcome=\"partial\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("cairn_ingest_accepted_total{signal=\"traces\"} 3"));
        assert!(
            text.contains("cairn_ingest_rejected_total{signal=\"traces\",reason=\"invalid\"} 2")
        );
        assert!(text.contains("cairn_index_lag_entries 3"));
        assert!(text.contains("cairn_index_lag_seconds 0.5"));
    }
}
