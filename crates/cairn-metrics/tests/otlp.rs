//! OTLP metrics → Prometheus: a Python GenAI instrumentation's export, field by field.

use cairn_metrics::{Metrics, MetricsConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::common::*;
use crate::exposition::promtool_check;

const GENAI_TOKEN_BOUNDS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
const GENAI_DURATION_BOUNDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn genai_attrs(token_type: Option<&str>) -> Vec<KeyValue> {
    let mut attrs = vec![
        kv("gen_ai.operation.name", "chat"),
        kv("gen_ai.system", "openai"),
        kv("gen_ai.request.model", "gpt-4o-mini"),
        kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
        kv("server.address", "api.openai.com"),
    ];
    if let Some(t) = token_type {
        attrs.push(kv("gen_ai.token.type", t));
    }
    attrs
}

/// Bucket counts with `n` observations in bucket `index`.
fn counts(len: usize, index: usize, n: u64) -> Vec<u64> {
    let mut c = vec![0; len];
    c[index] = n;
    c
}

fn histogram(name: &str, unit: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: "Measures number of input and output tokens used".to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: CUMULATIVE,
        })),
        ..Metric::default()
    }
}

fn sum(
    name: &str,
    unit: &str,
    temporality: i32,
    monotonic: bool,
    points: Vec<NumberDataPoint>,
) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        })),
        ..Metric::default()
    }
}

fn int_point(attrs: Vec<KeyValue>, value: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        time_unix_nano: 1_700_000_060_000_000_000,
        value: Some(number_data_point::Value::AsInt(value)),
        ..NumberDataPoint::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "travel-agent"),
                    kv("service.instance.id", "pod-1"),
                    kv("telemetry.sdk.language", "python"),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai_v2".to_owned(),
                    version: "2.1b0".to_owned(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

/// What opentelemetry-instrumentation-openai-v2 exports after two chat calls.
fn python_genai_request() -> ExportMetricsServiceRequest {
    let point = |attrs, counts: Vec<u64>, sum: f64, bounds: &[f64]| HistogramDataPoint {
        attributes: attrs,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        time_unix_nano: 1_700_000_060_000_000_000,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts,
        explicit_bounds: bounds.to_vec(),
        min: Some(0.0),
        max: Some(0.0),
        ..HistogramDataPoint::default()
    };
    request(vec![
        histogram(
            "gen_ai.client.token.usage",
            "{token}",
            vec![
                // 1000 and 500 input tokens: both in (256, 1024].
                point(
                    genai_attrs(Some("input")),
                    counts(15, 5, 2),
                    1500.0,
                    &GENAI_TOKEN_BOUNDS,
                ),
                // 100 and 200 output tokens: both in (64, 256].
                point(
                    genai_attrs(Some("output")),
                    counts(15, 4, 2),
                    300.0,
                    &GENAI_TOKEN_BOUNDS,
                ),
            ],
        ),
        histogram(
            "gen_ai.client.operation.duration",
            "s",
            // 0.7 s and 1.2 s: both in (0.64, 1.28].
            vec![point(
                genai_attrs(None),
                counts(15, 7, 2),
                1.9,
                &GENAI_DURATION_BOUNDS,
            )],
        ),
        sum(
            "app.requests",
            "{request}",
            CUMULATIVE,
            true,
            vec![int_point(vec![kv("route", "/plan")], 42)],
        ),
        Metric {
            name: "queue.depth".to_owned(),
            unit: "{item}".to_owned(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    value: Some(number_data_point::Value::AsDouble(3.5)),
                    ..NumberDataPoint::default()
                }],
            })),
            ..Metric::default()
        },
        Metric {
            name: "gen_ai.server.time_per_output_token".to_owned(),
            unit: "s".to_owned(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default()],
                aggregation_temporality: CUMULATIVE,
            })),
            ..Metric::default()
        },
        sum(
            "cairn.agent.runs",
            "",
            CUMULATIVE,
            true,
            vec![int_point(vec![], 1)],
        ),
    ])
}

#[test]
fn a_python_genai_export_is_exposed_under_prometheus_names() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    let report = m.otlp().ingest(python_genai_request());
    assert_eq!(report.accepted, 5, "{report:?}");
    assert_eq!(report.rejected, 2, "{report:?}");
    assert!(
        report
            .message
            .contains("1 unsupported_type (gen_ai.server.time_per_output_token)"),
        "{}",
        report.message
    );
    assert!(
        report
            .message
            .contains("1 name_conflict (cairn.agent.runs)"),
        "{}",
        report.message
    );

    let text = m.encode_text();
    let common = r#"gen_ai_operation_name="chat",gen_ai_request_model="gpt-4o-mini",gen_ai_response_model="gpt-4o-mini-2024-07-18",gen_ai_system="openai""#;
    let resource = r#"instance="pod-1",job="travel-agent",otel_scope_name="opentelemetry.instrumentation.openai_v2",otel_scope_version="2.1b0",server_address="api.openai.com""#;
    let input = format!("{common},gen_ai_token_type=\"input\",{resource}");
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v(&format!("gen_ai_client_token_usage_count{{{input}}}")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        v(&format!("gen_ai_client_token_usage_sum{{{input}}}")),
        Some(1500.0)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_token_usage_bucket{{{input},le=\"256\"}}"
        )),
        Some(0.0)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_token_usage_bucket{{{input},le=\"1024\"}}"
        )),
        Some(2.0)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_token_usage_bucket{{{input},le=\"+Inf\"}}"
        )),
        Some(2.0)
    );
    let output = format!("{common},gen_ai_token_type=\"output\",{resource}");
    assert_eq!(
        v(&format!(
            "gen_ai_client_token_usage_bucket{{{output},le=\"256\"}}"
        )),
        Some(2.0)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_token_usage_bucket{{{output},le=\"64\"}}"
        )),
        Some(0.0)
    );
    let duration = format!("{common},{resource}");
    assert_eq!(
        v(&format!(
            "gen_ai_client_operation_duration_seconds_sum{{{duration}}}"
        )),
        Some(1.9)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_operation_duration_seconds_bucket{{{duration},le=\"1.28\"}}"
        )),
        Some(2.0)
    );
    assert_eq!(
        v(&format!(
            "gen_ai_client_operation_duration_seconds_bucket{{{duration},le=\"0.64\"}}"
        )),
        Some(0.0)
    );
    assert_eq!(
        v(r#"app_requests_total{job="travel-agent",instance="pod-1",otel_scope_name="opentelemetry.instrumentation.openai_v2",otel_scope_version="2.1b0",route="/plan"}"#)
            .or_else(|| v(r#"app_requests_total{instance="pod-1",job="travel-agent",otel_scope_name="opentelemetry.instrumentation.openai_v2",otel_scope_version="2.1b0",route="/plan"}"#)),
        Some(42.0),
        "{text}"
    );
    assert!(text.contains("# TYPE app_requests_total counter\n"));
    assert!(text.contains("# TYPE queue_depth gauge\n"));
    assert_eq!(samples(&text, "queue_depth").len(), 1);
    assert!(!text.contains("time_per_output_token"));
    assert_eq!(
        v(r#"cairn_otlp_metric_points_rejected_total{reason="unsupported_type"}"#),
        Some(1.0)
    );
    assert_eq!(v("cairn_otlp_metric_points_accepted_total"), Some(5.0));
    assert_eq!(v("cairn_otlp_metric_series"), Some(5.0));
    promtool_check(&text);
}

#[test]
fn otlp_and_span_derived_genai_histograms_share_one_family() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    m.agents().observe(&llm(1, 2, 1, "gpt-4o", 100, 10));
    m.otlp().ingest(python_genai_request());
    for text in [m.encode_text(), m.encode_openmetrics()] {
        assert_eq!(
            text.matches("# TYPE gen_ai_client_token_usage histogram")
                .count(),
            1,
            "{text}"
        );
        let series = samples(&text, "gen_ai_client_token_usage_count");
        assert_eq!(series.len(), 4, "{series:?}");
        assert_eq!(
            series
                .iter()
                .filter(|s| s.contains("job=\"travel-agent\""))
                .count(),
            2
        );
    }
    promtool_check(&m.encode_text());
}

#[test]
fn delta_sums_accumulate_and_cumulative_sums_replace() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    let delta = || {
        request(vec![sum(
            "tokens",
            "{token}",
            DELTA,
            true,
            vec![int_point(vec![], 5)],
        )])
    };
    let cumulative = |v| {
        request(vec![sum(
            "calls",
            "",
            CUMULATIVE,
            true,
            vec![int_point(vec![], v)],
        )])
    };
    m.otlp().ingest(delta());
    m.otlp().ingest(delta());
    m.otlp().ingest(cumulative(7));
    m.otlp().ingest(cumulative(9));
    let text = m.encode_text();
    let line = |name: &str| {
        samples(&text, name)
            .first()
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, v)| v.to_owned())
    };
    assert_eq!(line("tokens_total").as_deref(), Some("10.0"), "{text}");
    assert_eq!(line("calls_total").as_deref(), Some("9.0"), "{text}");
}

#[test]
fn label_values_over_the_cap_drop_the_point_and_are_counted() {
    let m = Metrics::new(
        MetricsConfig {
            label_cap: 2,
            ..MetricsConfig::default()
        },
        "x",
    );
    let points = ["/a", "/b", "/c", "/a"]
        .into_iter()
        .map(|route| int_point(vec![kv("route", route)], 1))
        .collect();
    let report = m
        .otlp()
        .ingest(request(vec![sum("hits", "", CUMULATIVE, true, points)]));
    assert_eq!((report.accepted, report.rejected), (3, 1), "{report:?}");
    assert!(report.message.contains("cardinality"));
    let text = m.encode_text();
    assert_eq!(samples(&text, "hits_total").len(), 2);
    assert!(!text.contains("route=\"/c\""));
    assert!(
        samples(&text, "hits_total")
            .iter()
            .all(|l| !l.contains("__other__"))
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_metrics_label_overflow_total{metric="hits",label="route"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn malformed_points_and_conflicting_types_are_rejected() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    let bad_histogram = HistogramDataPoint {
        count: 5, // the buckets add up to 2
        sum: Some(1.0),
        bucket_counts: vec![1, 1],
        explicit_bounds: vec![1.0],
        ..HistogramDataPoint::default()
    };
    let unsorted = HistogramDataPoint {
        count: 2,
        sum: Some(1.0),
        bucket_counts: vec![1, 1, 0],
        explicit_bounds: vec![2.0, 1.0],
        ..HistogramDataPoint::default()
    };
    let no_sum = HistogramDataPoint {
        count: 1,
        bucket_counts: vec![1],
        ..HistogramDataPoint::default()
    };
    let nan = NumberDataPoint {
        value: Some(number_data_point::Value::AsDouble(f64::NAN)),
        ..NumberDataPoint::default()
    };
    let report = m.otlp().ingest(request(vec![
        histogram("h", "s", vec![bad_histogram, unsorted, no_sum]),
        sum("x", "", CUMULATIVE, false, vec![nan]),
        sum("y", "", 0, true, vec![int_point(vec![], 1)]),
        // `z` as a gauge, then `z` as a histogram: the second conflicts.
        sum("z", "", CUMULATIVE, false, vec![int_point(vec![], 1)]),
        histogram(
            "z",
            "",
            vec![HistogramDataPoint {
                count: 0,
                sum: Some(0.0),
                ..HistogramDataPoint::default()
            }],
        ),
        // Would expose `process_cpu_seconds_total`, Cairn's own.
        sum(
            "process.cpu",
            "s",
            CUMULATIVE,
            true,
            vec![int_point(vec![], 1)],
        ),
        // The span-derived GenAI family is a histogram.
        sum(
            "gen_ai.client.token.usage",
            "{token}",
            CUMULATIVE,
            true,
            vec![int_point(vec![], 1)],
        ),
    ]));
    assert_eq!(report.accepted, 1, "{report:?}");
    assert_eq!(report.rejected, 8, "{report:?}");
    for reason in ["malformed", "missing_sum", "invalid_value", "name_conflict"] {
        assert!(
            report.message.contains(reason),
            "{reason}: {}",
            report.message
        );
    }
    let text = m.encode_text();
    assert!(text.contains("# TYPE z gauge"), "{text}");
    assert!(!text.contains("process_cpu_seconds_seconds"));
    promtool_check(&text);
}

#[test]
fn series_expire_after_their_ttl() {
    let m = Metrics::new(
        MetricsConfig {
            otlp_series_ttl_secs: 0,
            ..MetricsConfig::default()
        },
        "x",
    );
    let report = m.otlp().ingest(request(vec![sum(
        "hits",
        "",
        CUMULATIVE,
        true,
        vec![int_point(vec![], 1)],
    )]));
    assert_eq!(report.accepted, 1);
    let text = m.encode_text();
    assert!(samples(&text, "hits_total").is_empty(), "{text}");
    assert_eq!(value(&text, "cairn_otlp_metric_series"), Some(0.0));
}
