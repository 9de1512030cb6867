//! Cairn's own health metrics (the "Cairn's own health" table of `docs/metrics.md`).
//!
//! [`CairnMetrics`] is a set of typed handles the server updates where things happen (ingest
//! handlers, the ledger writer, the index consumer, exporters). Values that are cheaper to read
//! than to track are read at scrape time instead: the data volume (`statvfs(2)` on the data
//! directory), the async runtime (a [`RuntimeStats`] source the server installs; this crate does
//! not depend on tokio) and the `process_*` metrics (see [`crate::process`]).
//!
//! `cairn_ledger_verify_last_success` appears only after the first background verification has
//! finished (a 0 before that would read as "failed"); `cairn_ledger_verify_last_run_timestamp_seconds`
//! and `cairn_ledger_last_checkpoint_timestamp_seconds` are exposed from the start (0 = never), so
//! staleness alerts fire when verification or checkpointing never happens.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::guard::LabelGuard;

/// Buckets of `cairn_ingest_request_duration_seconds`.
pub const INGEST_DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of `cairn_ledger_append_duration_seconds` and `cairn_ledger_fsync_duration_seconds`.
pub const LEDGER_DURATION_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The OTLP transport of an ingest request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OTLP/HTTP (`http`).
    Http,
    /// OTLP/gRPC (`grpc`).
    Grpc,
}

/// The OTLP signal of an ingest request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans (`traces`).
    Traces,
    /// Log records (`logs`).
    Logs,
    /// Metric data points (`metrics`).
    Metrics,
}

/// Why spans or log records were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// A record failed validation (`validation`).
    Validation,
    /// The request was over the size limit (`too_large`).
    TooLarge,
    /// The ingest queue was full (`overload`).
    Overload,
    /// The ledger could not take writes (`unavailable`).
    Unavailable,
    /// The request could not be decoded (`malformed`).
    Malformed,
}

/// Label values are fixed snake_case names.
macro_rules! label_values {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),*
                }
            }
        }

        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values!(Protocol { Http => "http", Grpc => "grpc" });
label_values!(Signal { Traces => "traces", Logs => "logs", Metrics => "metrics" });
label_values!(RejectReason {
    Validation => "validation",
    TooLarge => "too_large",
    Overload => "overload",
    Unavailable => "unavailable",
    Malformed => "malformed",
});

/// The async runtime's state, filled by the server from its runtime's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RuntimeStats {
    /// Worker threads.
    pub workers: u64,
    /// Tasks alive (spawned and not finished).
    pub alive_tasks: u64,
    /// Tasks in the global (injection) queue.
    pub global_queue_depth: u64,
    /// Share of wall time the workers were busy since the previous sample, `0..=1`.
    pub busy_ratio: f64,
}

/// A source of [`RuntimeStats`], called at every scrape.
pub type RuntimeSource = Box<dyn Fn() -> RuntimeStats + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    protocol: Protocol,
    signal: Signal,
    code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    protocol: Protocol,
    signal: Signal,
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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExporterLabels {
    exporter: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// State read at scrape time.
#[derive(Default)]
struct ScrapeSources {
    data_dir: RwLock<Option<PathBuf>>,
    runtime: RwLock<Option<RuntimeSource>>,
    verify_last_success: RwLock<Option<bool>>,
}

impl std::fmt::Debug for ScrapeSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeSources")
            .field("data_dir", &*self.data_dir.read())
            .field("runtime", &self.runtime.read().is_some())
            .field("verify_last_success", &*self.verify_last_success.read())
            .finish()
    }
}

/// Typed handles for Cairn's own health metrics. Cheap to share (`Arc` it); every method is
/// thread-safe and lock-free except the first use of a new label set.
#[derive(Debug)]
pub struct CairnMetrics {
    guard: LabelGuard,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<TransportLabels, Histogram, fn() -> Histogram>,
    received_bytes: Family<TransportLabels, Counter>,
    accepted: Family<SignalLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    ledger_entries: Gauge,
    ledger_bytes: Gauge,
    append_duration: Histogram,
    fsync_duration: Histogram,
    last_checkpoint: F64Gauge,
    checkpoints_signed: Counter,
    verify_last_run: F64Gauge,
    index_lag_entries: Gauge,
    index_lag_seconds: F64Gauge,
    exporter_sent: Family<ExporterLabels, Counter>,
    exporter_failed: Family<ExporterLabels, Counter>,
    exporter_retried: Family<ExporterLabels, Counter>,
    exporter_dead_lettered: Family<ExporterLabels, Counter>,
    exporter_lag: Family<ExporterLabels, Gauge>,
    audit_access_written: Counter,
    audit_access_failed: Counter,
    version: String,
    sources: Arc<ScrapeSources>,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl CairnMetrics {
    pub(crate) fn new(version: &str, guard: LabelGuard) -> Self {
        Self {
            guard,
            requests: Family::default(),
            request_duration: Family::new_with_constructor(|| {
                Histogram::new(INGEST_DURATION_BUCKETS)
            }),
            received_bytes: Family::default(),
            accepted: Family::default(),
            rejected: Family::default(),
            ledger_entries: Gauge::default(),
            ledger_bytes: Gauge::default(),
            append_duration: Histogram::new(LEDGER_DURATION_BUCKETS),
            fsync_duration: Histogram::new(LEDGER_DURATION_BUCKETS),
            last_checkpoint: F64Gauge::default(),
            checkpoints_signed: Counter::default(),
            verify_last_run: F64Gauge::default(),
            index_lag_entries: Gauge::default(),
            index_lag_seconds: F64Gauge::default(),
            exporter_sent: Family::default(),
            exporter_failed: Family::default(),
            exporter_retried: Family::default(),
            exporter_dead_lettered: Family::default(),
            exporter_lag: Family::default(),
            audit_access_written: Counter::default(),
            audit_access_failed: Counter::default(),
            version: version.to_owned(),
            sources: Arc::default(),
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "cairn_build",
            "Cairn build information",
            Info::new(vec![("version".to_owned(), self.version.clone())]),
        );
        registry.register(
            "cairn_ingest_requests",
            "OTLP export requests by protocol, signal and response code",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "cairn_ingest_request_duration",
            "Time to handle an OTLP export request",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register_with_unit(
            "cairn_ingest_received",
            "Request body bytes received (as sent, before decompression)",
            Unit::Bytes,
            self.received_bytes.clone(),
        );
        registry.register(
            "cairn_ingest_spans_accepted",
            "Spans or log records made durable in the ledger",
            self.accepted.clone(),
        );
        registry.register(
            "cairn_ingest_spans_rejected",
            "Spans or log records not accepted, by reason",
            self.rejected.clone(),
        );
        registry.register(
            "cairn_ledger_entries",
            "Durable ledger entries",
            self.ledger_entries.clone(),
        );
        registry.register_with_unit(
            "cairn_ledger",
            "Size of the ledger files",
            Unit::Bytes,
            self.ledger_bytes.clone(),
        );
        registry.register_with_unit(
            "cairn_ledger_append_duration",
            "Duration of one ledger group commit, fsync included",
            Unit::Seconds,
            self.append_duration.clone(),
        );
        registry.register_with_unit(
            "cairn_ledger_fsync_duration",
            "Duration of ledger fsync calls",
            Unit::Seconds,
            self.fsync_duration.clone(),
        );
        registry.register_with_unit(
            "cairn_ledger_last_checkpoint_timestamp",
            "Unix time of the last signed checkpoint (0 = none yet)",
            Unit::Seconds,
            self.last_checkpoint.clone(),
        );
        registry.register(
            "cairn_ledger_checkpoints_signed",
            "Checkpoints signed",
            self.checkpoints_signed.clone(),
        );
        registry.register_with_unit(
            "cairn_ledger_verify_last_run_timestamp",
            "Unix time the last background verification finished (0 = none yet)",
            Unit::Seconds,
            self.verify_last_run.clone(),
        );
        registry.register(
            "cairn_index_lag_entries",
            "Ledger entries not yet indexed",
            self.index_lag_entries.clone(),
        );
        registry.register_with_unit(
            "cairn_index_lag",
            "Age of the oldest ledger entry not yet indexed",
            Unit::Seconds,
            self.index_lag_seconds.clone(),
        );
        registry.register(
            "cairn_exporter_sent",
            "Ledger entries delivered by each exporter",
            self.exporter_sent.clone(),
        );
        registry.register(
            "cairn_exporter_failed",
            "Failed export attempts by exporter",
            self.exporter_failed.clone(),
        );
        registry.register(
            "cairn_exporter_retried",
            "Export attempts retried by exporter",
            self.exporter_retried.clone(),
        );
        registry.register(
            "cairn_exporter_dead_lettered",
            "Ledger entries an exporter gave up on (dead-lettered)",
            self.exporter_dead_lettered.clone(),
        );
        registry.register(
            "cairn_exporter_lag_entries",
            "Ledger entries not yet delivered by each exporter",
            self.exporter_lag.clone(),
        );
        registry.register(
            "cairn_audit_access_records",
            "Access records (reads of span content) appended to the ledger",
            self.audit_access_written.clone(),
        );
        registry.register(
            "cairn_audit_access_failures",
            "Access records that could not be queued or appended to the ledger",
            self.audit_access_failed.clone(),
        );
        registry.register_collector(Box::new(ScrapeCollector {
            sources: Arc::clone(&self.sources),
        }));
    }

    /// `n` access records appended to the ledger.
    pub fn audit_access_written(&self, n: u64) {
        self.audit_access_written.inc_by(n);
    }

    /// `n` access records lost (queue full, ledger failure, shutdown).
    pub fn audit_access_failed(&self, n: u64) {
        self.audit_access_failed.inc_by(n);
    }

    /// One OTLP export request handled: `code` is the HTTP status (`"200"`) or the gRPC code name
    /// (`"OK"`, `"RESOURCE_EXHAUSTED"` …); `bytes` is the request body as received.
    pub fn ingest_request(
        &self,
        protocol: Protocol,
        signal: Signal,
        code: &str,
        duration: Duration,
        bytes: u64,
    ) {
        let code = self
            .guard
            .admit("cairn_ingest_requests_total", "code", code);
        self.requests
            .get_or_create(&RequestLabels {
                protocol,
                signal,
                code,
            })
            .inc();
        let transport = TransportLabels { protocol, signal };
        self.request_duration
            .get_or_create(&transport)
            .observe(duration.as_secs_f64());
        self.received_bytes.get_or_create(&transport).inc_by(bytes);
    }

    /// `n` spans (or log records, metric data points) accepted.
    pub fn spans_accepted(&self, signal: Signal, n: u64) {
        self.accepted
            .get_or_create(&SignalLabels { signal })
            .inc_by(n);
    }

    /// `n` spans (or log records, metric data points) rejected for `reason`.
    pub fn spans_rejected(&self, signal: Signal, reason: RejectReason, n: u64) {
        if n > 0 {
            self.rejected
                .get_or_create(&RejectLabels { signal, reason })
                .inc_by(n);
        }
    }

    /// Ledger size after an append (or at startup).
    pub fn set_ledger_size(&self, entries: u64, bytes: u64) {
        self.ledger_entries.set(to_i64(entries));
        self.ledger_bytes.set(to_i64(bytes));
    }

    /// One group commit took `duration` (fsync included).
    pub fn ledger_append(&self, duration: Duration) {
        self.append_duration.observe(duration.as_secs_f64());
    }

    /// One fsync took `duration`.
    pub fn ledger_fsync(&self, duration: Duration) {
        self.fsync_duration.observe(duration.as_secs_f64());
    }

    /// A checkpoint was signed at `unix_seconds`. Also call it at startup with the ledger's latest
    /// checkpoint time (without counting it: use [`CairnMetrics::set_last_checkpoint`]).
    pub fn checkpoint_signed(&self, unix_seconds: f64) {
        self.checkpoints_signed.inc();
        self.last_checkpoint.set(unix_seconds);
    }

    /// Sets the time of the latest checkpoint without counting a new one (startup).
    pub fn set_last_checkpoint(&self, unix_seconds: f64) {
        self.last_checkpoint.set(unix_seconds);
    }

    /// A background verification finished at `unix_seconds`.
    pub fn verify_finished(&self, ok: bool, unix_seconds: f64) {
        *self.sources.verify_last_success.write() = Some(ok);
        self.verify_last_run.set(unix_seconds);
    }

    /// The index consumer's lag.
    pub fn set_index_lag(&self, entries: u64, seconds: f64) {
        self.index_lag_entries.set(to_i64(entries));
        self.index_lag_seconds.set(seconds);
    }

    fn exporter(&self, metric: &str, exporter: &str) -> ExporterLabels {
        ExporterLabels {
            exporter: self.guard.admit(metric, "exporter", exporter),
        }
    }

    /// `n` entries delivered by `exporter`.
    pub fn exporter_sent(&self, exporter: &str, n: u64) {
        let labels = self.exporter("cairn_exporter_sent_total", exporter);
        self.exporter_sent.get_or_create(&labels).inc_by(n);
    }

    /// One failed export attempt.
    pub fn exporter_failed(&self, exporter: &str) {
        let labels = self.exporter("cairn_exporter_failed_total", exporter);
        self.exporter_failed.get_or_create(&labels).inc();
    }

    /// One retried export attempt.
    pub fn exporter_retried(&self, exporter: &str) {
        let labels = self.exporter("cairn_exporter_retried_total", exporter);
        self.exporter_retried.get_or_create(&labels).inc();
    }

    /// `n` entries dead-lettered by `exporter`.
    pub fn exporter_dead_lettered(&self, exporter: &str, n: u64) {
        let labels = self.exporter("cairn_exporter_dead_lettered_total", exporter);
        self.exporter_dead_lettered.get_or_create(&labels).inc_by(n);
    }

    /// Entries `exporter` has not delivered yet.
    pub fn set_exporter_lag(&self, exporter: &str, entries: u64) {
        let labels = self.exporter("cairn_exporter_lag_entries", exporter);
        self.exporter_lag
            .get_or_create(&labels)
            .set(to_i64(entries));
    }

    /// The directory whose file system `cairn_data_volume_*_bytes` describe (the data directory).
    pub fn set_data_dir(&self, path: impl Into<PathBuf>) {
        *self.sources.data_dir.write() = Some(path.into());
    }

    /// Installs the source of the `cairn_runtime_*` gauges, called at every scrape.
    pub fn set_runtime_source(&self, source: impl Fn() -> RuntimeStats + Send + Sync + 'static) {
        *self.sources.runtime.write() = Some(Box::new(source));
    }

    /// Sets fixed runtime stats (for servers that sample on their own schedule).
    pub fn set_runtime_stats(&self, stats: RuntimeStats) {
        self.set_runtime_source(move || stats);
    }
}

/// Encodes the scrape-time gauges and the `process_*` metrics.
#[derive(Debug)]
struct ScrapeCollector {
    sources: Arc<ScrapeSources>,
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: V,
) -> std::fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, unit, gauge.metric_type())?)
}

impl Collector for ScrapeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        if let Some(ok) = *self.sources.verify_last_success.read() {
            gauge(
                &mut encoder,
                "cairn_ledger_verify_last_success",
                "Result of the last background ledger verification (1 ok, 0 failed)",
                None,
                i64::from(ok),
            )?;
        }
        if let Some(path) = self.sources.data_dir.read().as_ref() {
            if let Ok(stat) = rustix::fs::statvfs(path) {
                let block = stat.f_frsize.max(1);
                let free = stat.f_bavail.saturating_mul(block);
                let size = stat.f_blocks.saturating_mul(block);
                gauge(
                    &mut encoder,
                    "cairn_data_volume_free",
                    "Bytes available to Cairn on the data directory's file system",
                    Some(&Unit::Bytes),
                    to_i64(free),
                )?;
                gauge(
                    &mut encoder,
                    "cairn_data_volume_size",
                    "Size of the data directory's file system",
                    Some(&Unit::Bytes),
                    to_i64(size),
                )?;
            }
        }
        if let Some(source) = self.sources.runtime.read().as_ref() {
            let stats = source();
            let entries = [
                (
                    "cairn_runtime_workers",
                    "Async runtime worker threads",
                    stats.workers,
                ),
                (
                    "cairn_runtime_alive_tasks",
                    "Async tasks alive",
                    stats.alive_tasks,
                ),
                (
                    "cairn_runtime_global_queue_depth",
                    "Tasks waiting in the async runtime's global queue",
                    stats.global_queue_depth,
                ),
            ];
            for (name, help, value) in entries {
                gauge(&mut encoder, name, help, None, to_i64(value))?;
            }
            let busy = if stats.busy_ratio.is_finite() {
                stats.busy_ratio.clamp(0.0, 1.0)
            } else {
                0.0
            };
            gauge(
                &mut encoder,
                "cairn_runtime_busy_ratio",
                "Share of time the async runtime's workers were busy (0 to 1)",
                None,
                busy,
            )?;
        }
        crate::process::encode(&mut encoder)
    }
}
