//! Cairn's Prometheus metrics, served on the API port at `/metrics`.
//!
//! - [`AgentMetrics`]: metrics about the agents, derived from ingested spans
//!   ([`AgentMetrics::observe`], once per ledger entry).
//! - [`CairnMetrics`]: Cairn's own health (ingest, ledger, index, exporters, data volume, async
//!   runtime) plus the standard `process_*` metrics.
//! - [`OtlpMetricsSink`]: OTLP metrics received on `/v1/metrics`, re-exposed under
//!   OpenTelemetry → Prometheus names.
//! - [`Metrics`] ties them to one registry and renders it ([`Metrics::encode`]) in the format
//!   [`content_type_for`] negotiates.
//!
//! The metric names, labels and buckets are a contract with the monitoring mixin in
//! `deploy/mixin` (see `docs/metrics.md`); add metrics, never rename them.
//!
//! Every label that carries free-form values goes through a cardinality guard (see [`guard`]).
//! This crate does no network I/O and depends on no async runtime.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod agent;
pub mod config;
pub mod exposition;
pub mod guard;
pub mod health;
pub mod otlp;
pub mod process;

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub use agent::AgentMetrics;
pub use config::{MetricsConfig, Price, default_price_table};
pub use exposition::{Format, content_type_for};
pub use health::{CairnMetrics, Protocol, RejectReason, RuntimeStats, Signal};
pub use otlp::{IngestReport, OtlpMetricsSink, PointRejection};
pub use process::ProcessStats;

use guard::LabelGuard;

/// All of Cairn's metrics in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    agents: Arc<AgentMetrics>,
    health: Arc<CairnMetrics>,
    otlp: Arc<OtlpMetricsSink>,
}

impl Metrics {
    /// Builds every metric; `version` goes into `cairn_build_info{version}`.
    pub fn new(config: MetricsConfig, version: &str) -> Self {
        let series_cap = config.otlp_series_cap;
        let ttl = config.otlp_series_ttl();
        let label_cap = config.label_cap;
        let agents = Arc::new(AgentMetrics::new(config));
        let overflow = agents.overflow_counter().clone();
        let health = Arc::new(CairnMetrics::new(
            version,
            LabelGuard::new(label_cap, overflow.clone()),
        ));
        let otlp = Arc::new(OtlpMetricsSink::new(
            LabelGuard::new(label_cap, overflow),
            series_cap,
            ttl,
        ));
        let mut registry = Registry::default();
        health.register(&mut registry);
        agents.register(&mut registry);
        otlp.register(&mut registry);
        registry.register_collector(Box::new(SharedFamilies {
            agents: Arc::clone(&agents),
            otlp: Arc::clone(&otlp),
        }));
        Self {
            registry,
            agents,
            health,
            otlp,
        }
    }

    /// The agent metrics (give to the index consumer).
    pub fn agents(&self) -> &Arc<AgentMetrics> {
        &self.agents
    }

    /// Cairn's health handles (give to ingest, ledger, index and exporters).
    pub fn health(&self) -> &Arc<CairnMetrics> {
        &self.health
    }

    /// The OTLP metrics sink (give to the `/v1/metrics` handlers).
    pub fn otlp(&self) -> &Arc<OtlpMetricsSink> {
        &self.otlp
    }

    /// Renders every metric in `format`. Finalizes runs whose grace period has passed and drops
    /// expired OTLP series first, so the output is current even when ingestion is idle.
    pub fn encode(&self, format: Format) -> String {
        let now = Instant::now();
        self.agents.tick(now);
        self.otlp.prune(now);
        let mut out = String::new();
        // Writing into a String cannot fail, and the encoders fail only on writer errors.
        let _ = match format {
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        out
    }

    /// The Prometheus text format 0.0.4.
    pub fn encode_text(&self) -> String {
        self.encode(Format::Text)
    }

    /// The OpenMetrics 1.0 text format (ends with `# EOF`).
    pub fn encode_openmetrics(&self) -> String {
        self.encode(Format::OpenMetrics)
    }
}

/// Encodes the GenAI histograms: span-derived series and OTLP series of the same name in one
/// family, then every other OTLP family.
#[derive(Debug)]
struct SharedFamilies {
    agents: Arc<AgentMetrics>,
    otlp: Arc<OtlpMetricsSink>,
}

impl Collector for SharedFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let [duration, tokens] = otlp::SHARED_GENAI_FAMILIES;
        if !self.agents.genai_duration.is_empty() || self.otlp.has_family(duration) {
            let mut metric = encoder.encode_descriptor(
                duration,
                "GenAI operation duration (OpenTelemetry GenAI semantic conventions)",
                None,
                MetricType::Histogram,
            )?;
            self.agents.genai_duration.encode_series(&mut metric)?;
            self.otlp.encode_shared(duration, &mut metric)?;
        }
        if !self.agents.genai_tokens.is_empty() || self.otlp.has_family(tokens) {
            let mut metric = encoder.encode_descriptor(
                tokens,
                "Tokens used per GenAI operation, by token type (OpenTelemetry GenAI semantic conventions)",
                None,
                MetricType::Histogram,
            )?;
            self.agents.genai_tokens.encode_series(&mut metric)?;
            self.otlp.encode_shared(tokens, &mut metric)?;
        }
        self.otlp.encode_families(&mut encoder)
    }
}
