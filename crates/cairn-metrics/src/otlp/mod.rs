//! OTLP metrics (`/v1/metrics`) re-exposed on `/metrics`.
//!
//! [`OtlpMetricsSink`] keeps the latest state of every series it receives and renders it in the
//! same exposition as Cairn's own metrics, named by the OpenTelemetry → Prometheus rules in
//! [`naming`]. Mapping:
//!
//! | OTLP | Prometheus |
//! |---|---|
//! | Gauge | gauge |
//! | Sum, monotonic | counter (`_total`) |
//! | Sum, not monotonic | gauge |
//! | Histogram (explicit buckets) | histogram (`_bucket{le}`, `_sum`, `_count`) |
//! | ExponentialHistogram, Summary | **rejected** and counted (`reason="unsupported_type"`) |
//!
//! - Cumulative points replace a series' state; delta points are added to it (a delta histogram
//!   whose bounds changed restarts the series). Retried delta exports therefore count twice.
//! - Labels: the data point's attributes (sanitized), `job` from the resource's `service.name`
//!   (`service.namespace/service.name` when a namespace is set, `unknown_service` when absent),
//!   `instance` from `service.instance.id`, and `otel_scope_name`/`otel_scope_version` from the
//!   instrumentation scope. An attribute whose label name collides with one of these (or `le`)
//!   becomes `exported_<name>`. Other resource attributes are not exposed.
//! - Names starting with `cairn_` and the standard `process_*` names are Cairn's own; metrics that
//!   map to them are rejected (`name_conflict`). `gen_ai_client_operation_duration_seconds` and
//!   `gen_ai_client_token_usage` are shared with the span-derived histograms: OTLP histograms of
//!   those names are exposed in the same family (told apart by their `job` label); other types
//!   are rejected. Two OTLP metrics mapping to the same name with different types, or to each
//!   other's sample names, are rejected the same way (first one wins).
//! - Cardinality: per metric and label at most `label_cap` distinct values; a data point with a
//!   value over the cap is **dropped** (not merged into `__other__`, since adding up unrelated
//!   cumulative series would expose wrong values) and counted in
//!   `cairn_metrics_label_overflow_total{metric, label}` and as `reason="cardinality"`. At most
//!   `otlp_series_cap` series in all (`reason="limit"`).
//! - A series not updated for `otlp_series_ttl` disappears from the exposition.
//! - Values must be finite (`reason="invalid_value"`); histogram bounds must be finite and
//!   strictly increasing, with one more bucket count than bounds that add up to the count, and a
//!   sum (`reason="malformed"`, `"missing_sum"`). Points flagged "no recorded value" remove their
//!   series.
//! - Help text is the metric's description with line breaks, backslashes and double quotes
//!   replaced, so it needs no escaping in either exposition format.

pub(crate) mod naming;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, HistogramDataPoint, NumberDataPoint, metric,
    number_data_point,
};
use parking_lot::RwLock;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::guard::LabelGuard;

/// Family names shared with the span-derived GenAI histograms.
pub(crate) const SHARED_GENAI_FAMILIES: [&str; 2] = [
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_token_usage",
];

/// Cairn's own `process_*` family names (an OTLP metric may not take them).
const PROCESS_FAMILIES: [&str; 7] = [
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_threads",
    "process_start_time_seconds",
];

/// Label names the sink sets itself.
const RESERVED_LABELS: [&str; 5] = [
    "job",
    "instance",
    "otel_scope_name",
    "otel_scope_version",
    "le",
];

/// Why data points were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PointRejection {
    /// Exponential histograms and summaries are not converted.
    UnsupportedType,
    /// The metric maps to a name Cairn or another OTLP metric already uses.
    NameConflict,
    /// A label value over the cardinality cap.
    Cardinality,
    /// Over the total series cap.
    Limit,
    /// A NaN or infinite value, or a negative counter.
    InvalidValue,
    /// Missing value, unspecified temporality, inconsistent histogram buckets.
    Malformed,
    /// A histogram without a sum.
    MissingSum,
}

impl PointRejection {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedType => "unsupported_type",
            Self::NameConflict => "name_conflict",
            Self::Cardinality => "cardinality",
            Self::Limit => "limit",
            Self::InvalidValue => "invalid_value",
            Self::Malformed => "malformed",
            Self::MissingSum => "missing_sum",
        }
    }
}

/// The outcome of one export request, for the OTLP response's partial success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Data points stored.
    pub accepted: u64,
    /// Data points dropped.
    pub rejected: u64,
    /// Why points were rejected (empty when none were), e.g.
    /// `2 data points rejected: 2 unsupported_type (gen_ai.x)`.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn metric_type(self) -> MetricType {
        match self {
            Self::Counter => MetricType::Counter,
            Self::Gauge => MetricType::Gauge,
            Self::Histogram => MetricType::Histogram,
        }
    }

    /// Sample names of a family of this kind.
    fn sample_names(self, family: &str) -> Vec<String> {
        match self {
            Self::Counter => vec![format!("{family}_total")],
            Self::Gauge => vec![family.to_owned()],
            Self::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    Histogram {
        bounds: Vec<f64>,
        /// One more than `bounds`: the last is the `+Inf` bucket. Not cumulative.
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

#[derive(Debug)]
struct Series {
    value: Value,
    updated: Instant,
}

type Labels = Vec<(String, String)>;

#[derive(Debug)]
struct FamilyState {
    kind: Kind,
    help: String,
    series: BTreeMap<Labels, Series>,
}

#[derive(Debug, Default)]
struct State {
    families: BTreeMap<String, FamilyState>,
    /// Every sample and family name in use → the family using it.
    names: HashMap<String, String>,
    series: usize,
}

/// Receives OTLP metrics and exposes their latest state.
#[derive(Debug)]
pub struct OtlpMetricsSink {
    guard: LabelGuard,
    series_cap: usize,
    ttl: Duration,
    state: RwLock<State>,
    accepted: Counter,
    rejected: Family<Vec<(&'static str, &'static str)>, Counter>,
    series_gauge: Gauge,
}

/// Per-request tally.
#[derive(Default)]
struct Tally {
    accepted: u64,
    rejected: BTreeMap<PointRejection, (u64, Vec<String>)>,
}

impl Tally {
    fn reject(&mut self, reason: PointRejection, metric: &str, n: u64) {
        if n == 0 {
            return;
        }
        let entry = self.rejected.entry(reason).or_default();
        entry.0 += n;
        if entry.1.len() < 3 && !entry.1.iter().any(|m| m == metric) {
            entry.1.push(metric.to_owned());
        }
    }
}

/// Resource- and scope-level labels.
struct Context {
    job: String,
    instance: Option<String>,
    scope_name: String,
    scope_version: String,
}

impl OtlpMetricsSink {
    pub(crate) fn new(guard: LabelGuard, series_cap: usize, ttl: Duration) -> Self {
        Self {
            guard,
            series_cap,
            ttl,
            state: RwLock::default(),
            accepted: Counter::default(),
            rejected: Family::default(),
            series_gauge: Gauge::default(),
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "cairn_otlp_metric_points_accepted",
            "OTLP metric data points accepted",
            self.accepted.clone(),
        );
        registry.register(
            "cairn_otlp_metric_points_rejected",
            "OTLP metric data points rejected, by reason",
            self.rejected.clone(),
        );
        registry.register(
            "cairn_otlp_metric_series",
            "OTLP metric series exposed",
            self.series_gauge.clone(),
        );
    }

    /// Stores the data points of an export request.
    pub fn ingest(&self, request: ExportMetricsServiceRequest) -> IngestReport {
        self.ingest_at(request, Instant::now())
    }

    /// [`OtlpMetricsSink::ingest`] with an explicit clock.
    pub fn ingest_at(&self, request: ExportMetricsServiceRequest, now: Instant) -> IngestReport {
        let mut tally = Tally::default();
        let mut state = self.state.write();
        prune(&mut state, now, self.ttl);
        for resource_metrics in request.resource_metrics {
            let resource = resource_metrics.resource.unwrap_or_default();
            let attr = |key: &str| {
                resource
                    .attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.as_ref())
                    .map(any_to_string)
                    .filter(|s| !s.is_empty())
            };
            let job = match (attr("service.namespace"), attr("service.name")) {
                (Some(ns), Some(name)) => format!("{ns}/{name}"),
                (None, Some(name)) => name,
                (_, None) => "unknown_service".to_owned(),
            };
            let instance = attr("service.instance.id");
            for scope_metrics in resource_metrics.scope_metrics {
                let scope = scope_metrics.scope.unwrap_or_default();
                let context = Context {
                    job: job.clone(),
                    instance: instance.clone(),
                    scope_name: scope.name,
                    scope_version: scope.version,
                };
                for metric in scope_metrics.metrics {
                    self.ingest_metric(&mut state, &context, metric, now, &mut tally);
                }
            }
        }
        self.series_gauge
            .set(i64::try_from(state.series).unwrap_or(i64::MAX));
        drop(state);
        self.accepted.inc_by(tally.accepted);
        let mut report = IngestReport {
            accepted: tally.accepted,
            ..IngestReport::default()
        };
        let mut parts = Vec::new();
        for (reason, (n, metrics)) in &tally.rejected {
            report.rejected += n;
            self.rejected
                .get_or_create(&vec![("reason", reason.as_str())])
                .inc_by(*n);
            parts.push(format!("{n} {} ({})", reason.as_str(), metrics.join(", ")));
        }
        if report.rejected > 0 {
            report.message = format!(
                "{} data points rejected: {}",
                report.rejected,
                parts.join("; ")
            );
        }
        report
    }

    fn ingest_metric(
        &self,
        state: &mut State,
        context: &Context,
        metric: opentelemetry_proto::tonic::metrics::v1::Metric,
        now: Instant,
        tally: &mut Tally,
    ) {
        let Some(data) = metric.data else {
            return;
        };
        let (kind, temporality, points): (Kind, i32, Points) = match data {
            metric::Data::Gauge(g) => (Kind::Gauge, 0, Points::Number(g.data_points)),
            metric::Data::Sum(s) => {
                let kind = if s.is_monotonic {
                    Kind::Counter
                } else {
                    Kind::Gauge
                };
                (
                    kind,
                    s.aggregation_temporality,
                    Points::Number(s.data_points),
                )
            }
            metric::Data::Histogram(h) => (
                Kind::Histogram,
                h.aggregation_temporality,
                Points::Histogram(h.data_points),
            ),
            metric::Data::ExponentialHistogram(h) => {
                tally.reject(
                    PointRejection::UnsupportedType,
                    &metric.name,
                    h.data_points.len() as u64,
                );
                return;
            }
            metric::Data::Summary(s) => {
                tally.reject(
                    PointRejection::UnsupportedType,
                    &metric.name,
                    s.data_points.len() as u64,
                );
                return;
            }
        };
        let total = points.len() as u64;
        let is_gauge = kind == Kind::Gauge;
        let family =
            naming::family_name(&metric.name, &metric.unit, is_gauge, kind == Kind::Counter);
        if !claim_family(state, &family, kind) {
            tally.reject(PointRejection::NameConflict, &metric.name, total);
            return;
        }
        let delta = match AggregationTemporality::try_from(temporality) {
            Ok(AggregationTemporality::Delta) => true,
            Ok(AggregationTemporality::Cumulative) => false,
            // Gauges carry no temporality.
            _ if kind == Kind::Gauge && temporality == 0 => false,
            _ => {
                tally.reject(PointRejection::Malformed, &metric.name, total);
                release_if_empty(state, &family);
                return;
            }
        };
        if let Some(f) = state.families.get_mut(&family) {
            if f.help.is_empty() {
                f.help = help_text(&metric.description, &metric.name);
            }
        }
        match points {
            Points::Number(points) => {
                for point in points {
                    let result = number_value(&point, kind).and_then(|value| {
                        self.store(
                            state,
                            context,
                            &family,
                            &point.attributes,
                            point.flags,
                            Value::Number(value),
                            delta,
                            now,
                        )
                    });
                    count(tally, &metric.name, result);
                }
            }
            Points::Histogram(points) => {
                for point in points {
                    let result = histogram_value(&point).and_then(|value| {
                        self.store(
                            state,
                            context,
                            &family,
                            &point.attributes,
                            point.flags,
                            value,
                            delta,
                            now,
                        )
                    });
                    count(tally, &metric.name, result);
                }
            }
        }
        release_if_empty(state, &family);
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        state: &mut State,
        context: &Context,
        family: &str,
        attributes: &[KeyValue],
        flags: u32,
        value: Value,
        delta: bool,
        now: Instant,
    ) -> Result<(), PointRejection> {
        let labels = self.labels(family, context, attributes)?;
        let series_count = state.series;
        let Some(f) = state.families.get_mut(family) else {
            return Err(PointRejection::NameConflict);
        };
        if flags & (DataPointFlags::NoRecordedValueMask as u32) != 0 {
            if f.series.remove(&labels).is_some() {
                state.series -= 1;
            }
            return Ok(());
        }
        match f.series.get_mut(&labels) {
            Some(series) => {
                series.value = if delta {
                    add(&series.value, value)
                } else {
                    value
                };
                series.updated = now;
            }
            None => {
                if series_count >= self.series_cap {
                    return Err(PointRejection::Limit);
                }
                f.series.insert(
                    labels,
                    Series {
                        value,
                        updated: now,
                    },
                );
                state.series += 1;
            }
        }
        Ok(())
    }

    fn labels(
        &self,
        family: &str,
        context: &Context,
        attributes: &[KeyValue],
    ) -> Result<Labels, PointRejection> {
        // Sanitized name → (original key, value), joined on collisions in original-key order.
        let mut by_name: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
        for kv in attributes {
            let mut name = naming::sanitize_label_name(&kv.key);
            if RESERVED_LABELS.contains(&name.as_str()) {
                name = format!("exported_{name}");
            }
            let value = kv.value.as_ref().map(any_to_string).unwrap_or_default();
            by_name.entry(name).or_default().push((&kv.key, value));
        }
        let mut labels: Labels = Vec::with_capacity(by_name.len() + 4);
        labels.push(("job".to_owned(), context.job.clone()));
        if let Some(instance) = &context.instance {
            labels.push(("instance".to_owned(), instance.clone()));
        }
        if !context.scope_name.is_empty() {
            labels.push(("otel_scope_name".to_owned(), context.scope_name.clone()));
        }
        if !context.scope_version.is_empty() {
            labels.push((
                "otel_scope_version".to_owned(),
                context.scope_version.clone(),
            ));
        }
        for (name, mut values) in by_name {
            values.sort_by(|a, b| a.0.cmp(b.0));
            let joined = values
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(";");
            labels.push((name, joined));
        }
        let mut capped = Vec::with_capacity(labels.len());
        for (name, value) in labels {
            let scope = format!("{family}\u{0}{name}");
            let value = self
                .guard
                .admit_scoped(&scope, family, &name, &value)
                .ok_or(PointRejection::Cardinality)?;
            capped.push((name, value));
        }
        capped.sort();
        Ok(capped)
    }

    /// Drops series idle for longer than the TTL.
    pub(crate) fn prune(&self, now: Instant) {
        let mut state = self.state.write();
        prune(&mut state, now, self.ttl);
        self.series_gauge
            .set(i64::try_from(state.series).unwrap_or(i64::MAX));
    }

    /// Encodes the OTLP series of a shared family into its already described encoder.
    pub(crate) fn encode_shared(
        &self,
        family: &str,
        encoder: &mut MetricEncoder<'_>,
    ) -> std::fmt::Result {
        let state = self.state.read();
        match state.families.get(family) {
            Some(f) => encode_series(f, encoder),
            None => Ok(()),
        }
    }

    /// Whether a shared family has OTLP series.
    pub(crate) fn has_family(&self, family: &str) -> bool {
        self.state
            .read()
            .families
            .get(family)
            .is_some_and(|f| !f.series.is_empty())
    }

    /// Encodes every family except the shared GenAI ones.
    pub(crate) fn encode_families(&self, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let state = self.state.read();
        for (name, family) in &state.families {
            if family.series.is_empty() || SHARED_GENAI_FAMILIES.contains(&name.as_str()) {
                continue;
            }
            let mut metric =
                encoder.encode_descriptor(name, &family.help, None, family.kind.metric_type())?;
            encode_series(family, &mut metric)?;
        }
        Ok(())
    }
}

enum Points {
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
}

impl Points {
    fn len(&self) -> usize {
        match self {
            Self::Number(p) => p.len(),
            Self::Histogram(p) => p.len(),
        }
    }
}

fn count(tally: &mut Tally, metric: &str, result: Result<(), PointRejection>) {
    match result {
        Ok(()) => tally.accepted += 1,
        Err(reason) => tally.reject(reason, metric, 1),
    }
}

/// Reserves `family` for `kind`; `false` when the name (or one of its sample names) is Cairn's
/// own or taken by a family of another kind.
fn claim_family(state: &mut State, family: &str, kind: Kind) -> bool {
    if let Some(existing) = state.families.get(family) {
        return existing.kind == kind;
    }
    let shared = SHARED_GENAI_FAMILIES.contains(&family);
    if shared && kind != Kind::Histogram {
        return false;
    }
    let samples = kind.sample_names(family);
    let own = |name: &str| {
        !shared
            && (name.starts_with("cairn_")
                || PROCESS_FAMILIES
                    .iter()
                    .any(|p| name == *p || name.strip_suffix("_total") == Some(p)))
    };
    if own(family) || samples.iter().any(|s| own(s)) {
        return false;
    }
    if state.names.contains_key(family) || samples.iter().any(|s| state.names.contains_key(s)) {
        return false;
    }
    for name in samples.into_iter().chain([family.to_owned()]) {
        state.names.insert(name, family.to_owned());
    }
    state.families.insert(
        family.to_owned(),
        FamilyState {
            kind,
            help: String::new(),
            series: BTreeMap::new(),
        },
    );
    true
}

/// Forgets a family with no series (so its name can be claimed again).
fn release_if_empty(state: &mut State, family: &str) {
    if state
        .families
        .get(family)
        .is_some_and(|f| f.series.is_empty())
    {
        state.families.remove(family);
        state.names.retain(|_, owner| owner != family);
    }
}

fn prune(state: &mut State, now: Instant, ttl: Duration) {
    let mut removed = 0;
    let mut emptied = Vec::new();
    for (name, family) in &mut state.families {
        let before = family.series.len();
        family
            .series
            .retain(|_, s| now.saturating_duration_since(s.updated) < ttl);
        removed += before - family.series.len();
        if family.series.is_empty() {
            emptied.push(name.clone());
        }
    }
    state.series -= removed;
    for name in emptied {
        release_if_empty(state, &name);
    }
}

fn encode_series(family: &FamilyState, encoder: &mut MetricEncoder<'_>) -> std::fmt::Result {
    for (labels, series) in &family.series {
        let mut metric = encoder.encode_family(labels)?;
        match &series.value {
            Value::Number(v) => match family.kind {
                Kind::Counter => ConstCounter::new(*v).encode(metric)?,
                _ => prometheus_client::metrics::gauge::ConstGauge::new(*v).encode(metric)?,
            },
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                let buckets: Vec<(f64, u64)> = bounds
                    .iter()
                    .copied()
                    .chain([f64::INFINITY])
                    .zip(counts.iter().copied())
                    .collect();
                metric.encode_histogram::<NoLabelSet>(*sum, *count, &buckets, None)?;
            }
        }
    }
    Ok(())
}

fn number_value(point: &NumberDataPoint, kind: Kind) -> Result<f64, PointRejection> {
    #[allow(clippy::cast_precision_loss)] // Prometheus values are doubles
    let value = match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None if point.flags & (DataPointFlags::NoRecordedValueMask as u32) != 0 => 0.0,
        None => return Err(PointRejection::Malformed),
    };
    if !value.is_finite() || (kind == Kind::Counter && value < 0.0) {
        return Err(PointRejection::InvalidValue);
    }
    Ok(value)
}

fn histogram_value(point: &HistogramDataPoint) -> Result<Value, PointRejection> {
    if point.flags & (DataPointFlags::NoRecordedValueMask as u32) != 0 {
        return Ok(Value::Number(0.0));
    }
    let bounds = &point.explicit_bounds;
    let mut counts = point.bucket_counts.clone();
    if counts.is_empty() && bounds.is_empty() {
        counts.push(point.count);
    }
    if counts.len() != bounds.len() + 1
        || bounds.iter().any(|b| !b.is_finite())
        || bounds.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(PointRejection::Malformed);
    }
    let total = counts
        .iter()
        .try_fold(0_u64, |acc, c| acc.checked_add(*c))
        .ok_or(PointRejection::Malformed)?;
    if total != point.count {
        return Err(PointRejection::Malformed);
    }
    let sum = point.sum.ok_or(PointRejection::MissingSum)?;
    if !sum.is_finite() {
        return Err(PointRejection::InvalidValue);
    }
    Ok(Value::Histogram {
        bounds: bounds.clone(),
        counts,
        sum,
        count: point.count,
    })
}

/// Adds a delta point to a series' state; a histogram with other bounds (or an overflowing
/// count) restarts from the delta.
fn add(current: &Value, delta: Value) -> Value {
    match (current, delta) {
        (Value::Number(a), Value::Number(b)) => Value::Number(a + b),
        (
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Value::Histogram {
                bounds: new_bounds,
                counts: new_counts,
                sum: new_sum,
                count: new_count,
            },
        ) if *bounds == new_bounds => {
            let merged: Option<Vec<u64>> = counts
                .iter()
                .zip(&new_counts)
                .map(|(a, b)| a.checked_add(*b))
                .collect();
            match (merged, count.checked_add(new_count)) {
                (Some(merged), Some(total)) => Value::Histogram {
                    bounds: new_bounds,
                    counts: merged,
                    sum: sum + new_sum,
                    count: total,
                },
                _ => Value::Histogram {
                    bounds: new_bounds,
                    counts: new_counts,
                    sum: new_sum,
                    count: new_count,
                },
            }
        }
        (_, delta) => delta,
    }
}

fn help_text(description: &str, name: &str) -> String {
    let text = if description.trim().is_empty() {
        name
    } else {
        description.trim()
    };
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            '\\' => '/',
            '"' => '\'',
            c => c,
        })
        .collect()
}

/// An attribute value as a label value: strings as they are, other scalars in their usual
/// spelling, arrays and maps as compact JSON-like text.
fn any_to_string(value: &AnyValue) -> String {
    match &value.value {
        // A string-table index only means something inside profiles.
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(any_value::Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values.iter().map(quoted).collect::<Vec<_>>().join(",")
        ),
        Some(any_value::Value::KvlistValue(kv)) => format!(
            "{{{}}}",
            kv.values
                .iter()
                .map(|kv| format!(
                    "{:?}:{}",
                    kv.key,
                    kv.value
                        .as_ref()
                        .map(quoted)
                        .unwrap_or_else(|| "null".to_owned())
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn quoted(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => format!("{s:?}"),
        _ => any_to_string(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_histograms_add_up_and_restart_on_new_bounds() {
        let h = |bounds: Vec<f64>, counts: Vec<u64>, sum: f64| Value::Histogram {
            count: counts.iter().sum(),
            bounds,
            counts,
            sum,
        };
        let a = h(vec![1.0], vec![1, 2], 3.0);
        assert_eq!(
            add(&a, h(vec![1.0], vec![0, 1], 2.0)),
            h(vec![1.0], vec![1, 3], 5.0)
        );
        assert_eq!(
            add(&a, h(vec![2.0], vec![1, 1], 2.0)),
            h(vec![2.0], vec![1, 1], 2.0)
        );
    }

    #[test]
    fn help_needs_no_escaping() {
        assert_eq!(help_text("a \"b\"\nc\\d", "x"), "a 'b' c/d");
        assert_eq!(help_text(" ", "x.y"), "x.y");
    }
}
