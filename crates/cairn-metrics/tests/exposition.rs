//! The exposition: every contracted metric name is present, `promtool check metrics` is clean,
//! both formats are well-formed.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_metrics::{
    Format, Metrics, MetricsConfig, Protocol, RejectReason, RuntimeStats, Signal, content_type_for,
};

use crate::common::*;

/// Every sample name of `docs/metrics.md` (histograms by their `_bucket` series).
const CONTRACT: &[&str] = &[
    "gen_ai_client_operation_duration_seconds_bucket",
    "gen_ai_client_token_usage_bucket",
    "cairn_agent_runs_total",
    "cairn_agent_run_duration_seconds_bucket",
    "cairn_tool_calls_total",
    "cairn_tool_call_duration_seconds_bucket",
    "cairn_tool_calls_per_run_bucket",
    "cairn_run_max_same_tool_calls_bucket",
    "cairn_decisions_total",
    "cairn_decision_confidence_bucket",
    "cairn_reasoning_steps_per_run_bucket",
    "cairn_llm_tokens_total",
    "cairn_llm_cost_usd_total",
    "cairn_errors_total",
    "cairn_metrics_label_overflow_total",
    "cairn_metrics_pending_runs_evicted_total",
    "cairn_build_info",
    "cairn_ingest_requests_total",
    "cairn_ingest_request_duration_seconds_bucket",
    "cairn_ingest_received_bytes_total",
    "cairn_ingest_spans_accepted_total",
    "cairn_ingest_spans_rejected_total",
    "cairn_ledger_entries",
    "cairn_ledger_bytes",
    "cairn_ledger_append_duration_seconds_bucket",
    "cairn_ledger_fsync_duration_seconds_bucket",
    "cairn_ledger_last_checkpoint_timestamp_seconds",
    "cairn_ledger_checkpoints_signed_total",
    "cairn_ledger_verify_last_success",
    "cairn_ledger_verify_last_run_timestamp_seconds",
    "cairn_data_volume_free_bytes",
    "cairn_data_volume_size_bytes",
    "cairn_index_lag_entries",
    "cairn_index_lag_seconds",
    "cairn_exporter_sent_total",
    "cairn_exporter_failed_total",
    "cairn_exporter_retried_total",
    "cairn_exporter_dead_lettered_total",
    "cairn_exporter_lag_entries",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_threads",
    "process_start_time_seconds",
    "cairn_runtime_workers",
    "cairn_runtime_alive_tasks",
    "cairn_runtime_global_queue_depth",
    "cairn_runtime_busy_ratio",
];

/// Metrics with every metric touched at least once.
pub(crate) fn busy_metrics() -> Metrics {
    let m = Metrics::new(
        MetricsConfig {
            label_cap: 3,
            pending_runs_cap: 1,
            run_grace_ms: 0,
            ..MetricsConfig::default()
        },
        "0.1.0-test",
    );
    let t0 = Instant::now();
    let a = m.agents();
    a.observe_at(&tool(1, 2, 1, "web_search", 0.2), t0);
    a.observe_at(
        &failed(tool(1, 3, 1, "web_search", 0.2), "TimeoutError"),
        t0,
    );
    a.observe_at(&reasoning(1, 4, 1), t0);
    a.observe_at(&llm(1, 5, 1, "gpt-4o-mini", 300, 40), t0);
    a.observe_at(&decision(1, 6, 1, "route", 0.6), t0);
    a.observe_at(&agent(1, 1, None, "planner", 4.0), t0);
    // Evicts trace 1 (cap 1) and overflows the agent label (cap 3).
    for (trace, name) in [(2, "b"), (3, "c"), (4, "d"), (5, "e")] {
        a.observe_at(&agent(trace, 1, None, name, 1.0), t0);
    }
    a.tick(t0 + Duration::from_secs(1));

    let h = m.health();
    h.ingest_request(
        Protocol::Http,
        Signal::Traces,
        "200",
        Duration::from_millis(3),
        2048,
    );
    h.ingest_request(
        Protocol::Grpc,
        Signal::Logs,
        "RESOURCE_EXHAUSTED",
        Duration::from_millis(1),
        99,
    );
    h.spans_accepted(Signal::Traces, 10);
    h.spans_rejected(Signal::Traces, RejectReason::Validation, 2);
    h.set_ledger_size(12, 4096);
    h.ledger_append(Duration::from_micros(800));
    h.ledger_fsync(Duration::from_micros(500));
    h.checkpoint_signed(1_700_000_000.0);
    h.verify_finished(true, 1_700_000_100.0);
    h.set_index_lag(3, 0.25);
    h.exporter_sent("otlp", 5);
    h.exporter_failed("otlp");
    h.exporter_retried("otlp");
    h.exporter_dead_lettered("otlp", 1);
    h.set_exporter_lag("otlp", 7);
    h.set_data_dir(env!("CARGO_MANIFEST_DIR"));
    h.set_runtime_source(|| RuntimeStats {
        workers: 2,
        alive_tasks: 17,
        global_queue_depth: 1,
        busy_ratio: 0.25,
    });
    m
}

fn sample_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect()
}

#[test]
fn every_contracted_metric_is_exposed_in_both_formats() {
    let m = busy_metrics();
    for (format, text) in [
        (Format::Text, m.encode_text()),
        (Format::OpenMetrics, m.encode_openmetrics()),
    ] {
        let names = sample_names(&text);
        let missing: Vec<&&str> = CONTRACT.iter().filter(|n| !names.contains(n)).collect();
        assert!(missing.is_empty(), "{format:?} lacks {missing:?}:\n{text}");
    }
}

#[test]
fn text_and_openmetrics_differ_where_the_formats_do() {
    let m = busy_metrics();
    let text = m.encode_text();
    let om = m.encode_openmetrics();
    assert!(
        text.contains("# TYPE cairn_agent_runs_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"));
    assert!(!text.contains("# UNIT"));
    assert!(text.contains("# TYPE cairn_build_info gauge\n"));
    assert!(text.contains("cairn_build_info{version=\"0.1.0-test\"} 1\n"));
    assert!(om.contains("# TYPE cairn_agent_runs counter\n"), "{om}");
    assert!(om.contains("# UNIT cairn_agent_run_duration_seconds seconds\n"));
    assert!(om.contains("# TYPE cairn_build info\n"));
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(content_type_for("*/*").0, Format::Text.content_type());
}

#[test]
fn health_handles_show_up_with_their_values() {
    let m = busy_metrics();
    let text = m.encode_text();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v(
            r#"cairn_ingest_requests_total{protocol="grpc",signal="logs",code="RESOURCE_EXHAUSTED"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_ingest_received_bytes_total{protocol="http",signal="traces"}"#),
        Some(2048.0)
    );
    assert_eq!(
        v(r#"cairn_ingest_spans_rejected_total{signal="traces",reason="validation"}"#),
        Some(2.0)
    );
    assert_eq!(v("cairn_ledger_entries"), Some(12.0));
    assert_eq!(v("cairn_ledger_bytes"), Some(4096.0));
    assert_eq!(v("cairn_ledger_checkpoints_signed_total"), Some(1.0));
    assert_eq!(
        v("cairn_ledger_last_checkpoint_timestamp_seconds"),
        Some(1_700_000_000.0)
    );
    assert_eq!(v("cairn_ledger_verify_last_success"), Some(1.0));
    assert_eq!(v("cairn_index_lag_seconds"), Some(0.25));
    assert_eq!(
        v(r#"cairn_exporter_lag_entries{exporter="otlp"}"#),
        Some(7.0)
    );
    assert_eq!(v("cairn_runtime_alive_tasks"), Some(17.0));
    assert_eq!(v("cairn_runtime_busy_ratio"), Some(0.25));
    let free = v("cairn_data_volume_free_bytes").expect("statvfs of the crate directory");
    let size = v("cairn_data_volume_size_bytes").expect("statvfs of the crate directory");
    assert!(free > 0.0 && free <= size, "{free} {size}");
    assert!(v("process_resident_memory_bytes").is_some_and(|rss| rss > 1e6));

    m.health().verify_finished(false, 1_700_000_200.0);
    assert_eq!(
        value(&m.encode_text(), "cairn_ledger_verify_last_success"),
        Some(0.0)
    );
}

#[test]
fn verification_result_is_absent_until_the_first_run() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    let text = m.encode_text();
    assert_eq!(value(&text, "cairn_ledger_verify_last_success"), None);
    assert_eq!(
        value(&text, "cairn_ledger_verify_last_run_timestamp_seconds"),
        Some(0.0)
    );
    assert!(samples(&text, "cairn_data_volume").is_empty());
    assert!(samples(&text, "cairn_runtime").is_empty());
}

/// Runs `promtool check metrics` on `text`; fails clearly when promtool is not installed.
pub(crate) fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install Debian's `prometheus` package so that `promtool` is on PATH")
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics failed ({}):\n{stdout}{stderr}\n--- exposition ---\n{text}",
        output.status
    );
}

#[test]
fn promtool_check_metrics_is_clean() {
    promtool_check(&busy_metrics().encode_text());
}

#[test]
fn promtool_reports_problems_so_the_check_above_can_fail() {
    let bad = "# TYPE bad_counter counter\nbad_counter 1\n";
    let output = Command::new("sh")
        .args(["-c", &format!("printf '{bad}' | promtool check metrics")])
        .output()
        .expect("sh runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("_total"),
        "promtool should flag a counter without _total: {all}"
    );
}
