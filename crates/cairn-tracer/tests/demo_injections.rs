//! `cairn demo --inject …`: each injection changes the workload the way the `demo` module docs
//! say, compared with a run of the same seed without it (the workload is a pure function of the
//! seed and the run index).

#[allow(dead_code)]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use cairn_tracer::demo::{self, DemoOptions, DemoSummary, Injection};
use cairn_tracer::{Tracer, semconv};
use opentelemetry_proto::tonic::common::v1::any_value;
use support::{Received, Receiver};

const WAIT: Duration = Duration::from_secs(60);
const SEED: u64 = 1234;

/// Runs the demo without exporting anything (counts only).
fn summary(runs: u64, inject: Option<Injection>, inject_after: Option<u64>) -> DemoSummary {
    let tracer = Tracer::builder("demo-summary")
        .discard_exports(true)
        .queue_capacity(1 << 14)
        .build()
        .expect("build tracer");
    let s = demo::run(
        &tracer,
        &DemoOptions {
            seed: SEED,
            runs: Some(runs),
            inject,
            inject_after,
            ..DemoOptions::default()
        },
    );
    tracer.shutdown(WAIT).expect("shutdown");
    s
}

/// Runs the demo into an in-process receiver and returns every span.
fn spans(runs: u64, inject: Option<Injection>) -> (DemoSummary, Vec<Received>) {
    let rx = Receiver::start();
    let tracer = Tracer::builder("demo-spans")
        .endpoint(rx.endpoint())
        .capture_content(true)
        .queue_capacity(1 << 14)
        .build()
        .expect("build tracer");
    let s = demo::run(
        &tracer,
        &DemoOptions {
            seed: SEED,
            runs: Some(runs),
            inject,
            ..DemoOptions::default()
        },
    );
    tracer.shutdown(WAIT).expect("shutdown");
    let spans = rx.wait_for(usize::try_from(s.spans).expect("span count"), WAIT);
    assert_eq!(spans.len() as u64, s.spans);
    (s, spans)
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

/// Everything but timing and the injected-run count.
fn shape(s: &DemoSummary) -> [u64; 9] {
    [
        s.runs,
        s.spans,
        s.llm_calls,
        s.tool_calls,
        s.tool_failures,
        s.tool_retries,
        s.decisions,
        s.failed_runs,
        s.input_tokens + s.output_tokens,
    ]
}

const RUNS: u64 = 120;

#[test]
fn injections_apply_from_the_second_half_by_default() {
    let base = summary(40, None, None);
    assert_eq!(base.injected_runs, 0);
    for injection in Injection::ALL {
        let s = summary(40, Some(injection), None);
        assert_eq!(s.runs, 40, "{injection}");
        assert_eq!(s.injected_runs, 20, "{injection}");
        let all = summary(40, Some(injection), Some(0));
        assert_eq!(all.injected_runs, 40, "{injection}");
    }
}

#[test]
fn error_burst_fails_most_tool_calls_and_a_third_of_the_runs() {
    let base = summary(RUNS, None, None);
    let burst = summary(RUNS, Some(Injection::ErrorBurst), Some(0));
    assert_eq!(burst.injected_runs, RUNS);
    let base_fail = ratio(base.tool_failures, base.tool_calls);
    let burst_fail = ratio(burst.tool_failures, burst.tool_calls);
    // "most tool calls fail"
    assert!(burst_fail > 0.5, "burst tool failure rate {burst_fail}");
    assert!(base_fail < 0.25, "baseline tool failure rate {base_fail}");
    assert!(
        burst.tool_retries > 2 * base.tool_retries,
        "{burst:?} vs {base:?}"
    );
    // "a third of the runs error out"
    let base_runs = ratio(base.failed_runs, base.runs);
    let burst_runs = ratio(burst.failed_runs, burst.runs);
    assert!(
        (0.2..=0.6).contains(&burst_runs),
        "burst failed-run rate {burst_runs}"
    );
    assert!(base_runs < 0.12, "baseline failed-run rate {base_runs}");
}

#[test]
fn latency_spike_stretches_time_and_nothing_else() {
    let base = summary(RUNS, None, None);
    let spike = summary(RUNS, Some(Injection::LatencySpike), Some(0));
    assert_eq!(spike.injected_runs, RUNS);
    // Same choices, failures and tokens: only the latencies change.
    assert_eq!(shape(&spike), shape(&base));
    let factor = spike.simulated.as_secs_f64() / base.simulated.as_secs_f64();
    // "~8× longer" (fixed waits such as retry-after hints and timeouts are not scaled).
    assert!(
        (4.0..=8.5).contains(&factor),
        "simulated time factor {factor}: {:?} vs {:?}",
        spike.simulated,
        base.simulated
    );
}

#[test]
fn token_spike_multiplies_token_usage() {
    let base = summary(RUNS, None, None);
    let spike = summary(RUNS, Some(Injection::TokenSpike), Some(0));
    assert_eq!(spike.injected_runs, RUNS);
    assert_eq!(spike.llm_calls, base.llm_calls);
    assert_eq!(spike.tool_calls, base.tool_calls);
    assert_eq!(spike.failed_runs, base.failed_runs);
    let input = ratio(spike.input_tokens, base.input_tokens);
    let output = ratio(spike.output_tokens, base.output_tokens);
    // "~15× higher"
    assert!((12.0..=15.5).contains(&input), "input token factor {input}");
    assert!(
        (12.0..=15.5).contains(&output),
        "output token factor {output}"
    );
}

#[test]
fn tool_loop_repeats_the_same_web_search() {
    let (base, base_spans) = spans(20, None);
    let (looped, loop_spans) = spans(20, Some(Injection::ToolLoop));
    assert!(
        looped.tool_calls > base.tool_calls,
        "{looped:?} vs {base:?}"
    );
    // The longest streak of identical web_search calls within one trace.
    let max_same = |spans: &[Received]| {
        let mut counts: HashMap<(Vec<u8>, String), usize> = HashMap::new();
        for s in spans
            .iter()
            .filter(|s| s.str_attr(semconv::GEN_AI_TOOL_NAME) == Some("web_search"))
        {
            let args = s
                .str_attr(semconv::GEN_AI_TOOL_CALL_ARGUMENTS)
                .unwrap_or_default()
                .to_owned();
            *counts.entry((s.span.trace_id.clone(), args)).or_default() += 1;
        }
        counts.values().copied().max().unwrap_or(0)
    };
    assert!(max_same(&loop_spans) >= 8, "no tool loop");
    assert!(max_same(&base_spans) < 8);
}

/// `(run index → delegate decision confidence)`, the run index read from the planner's
/// conversation id (`conv-NNNNNN`).
fn confidences(spans: &[Received]) -> HashMap<u64, f64> {
    let run_of_trace: HashMap<Vec<u8>, u64> = spans
        .iter()
        .filter(|s| s.span.name == "invoke_agent planner")
        .map(|s| {
            let conv = s
                .str_attr(semconv::GEN_AI_CONVERSATION_ID)
                .expect("conversation id");
            let index = conv
                .strip_prefix("conv-")
                .and_then(|n| n.parse().ok())
                .expect("conv-NNNNNN");
            (s.span.trace_id.clone(), index)
        })
        .collect();
    spans
        .iter()
        .filter(|s| s.str_attr(semconv::CAIRN_KIND) == Some("decision"))
        .map(|s| {
            let confidence = match s.attr(semconv::CAIRN_DECISION_CONFIDENCE) {
                Some(any_value::Value::DoubleValue(c)) => *c,
                other => panic!("confidence is a double: {other:?}"),
            };
            (run_of_trace[&s.span.trace_id], confidence)
        })
        .collect()
}

#[test]
fn confidence_drift_sinks_delegation_confidence_run_after_run() {
    const N: u64 = 20;
    let (_, base_spans) = spans(N, None);
    let (drift, drift_spans) = spans(N, Some(Injection::ConfidenceDrift));
    assert_eq!(drift.injected_runs, N / 2);
    let base = confidences(&base_spans);
    let drifted = confidences(&drift_spans);
    // Runs refused by the input guardrail make no decision; the same ones in both.
    assert_eq!(
        {
            let mut k: Vec<_> = base.keys().copied().collect();
            k.sort_unstable();
            k
        },
        {
            let mut k: Vec<_> = drifted.keys().copied().collect();
            k.sort_unstable();
            k
        }
    );
    assert!(base.len() as u64 >= N - 2, "decisions: {}", base.len());
    for (run, b) in &base {
        assert!(
            (0.75..=1.0).contains(b),
            "baseline confidence {b} in run {run}"
        );
        let d = drifted[run];
        if *run < N / 2 {
            assert!(
                (d - b).abs() < 1e-12,
                "run {run} is not injected: {d} vs {b}"
            );
        } else {
            // "sinks steadily from ~0.9 toward ~0.3": the drop grows with the run index.
            #[allow(clippy::cast_precision_loss)]
            let progress = (run - N / 2) as f64 / (N - N / 2) as f64;
            let drop = b - d;
            assert!(
                (drop - 0.55 * progress).abs() < 1e-9,
                "run {run}: drop {drop}, progress {progress}"
            );
        }
    }
    let late: Vec<f64> = drifted
        .iter()
        .filter(|(run, _)| **run >= N - 3)
        .map(|(_, c)| *c)
        .collect();
    assert!(!late.is_empty());
    // From ~0.9 (0.78..0.98) before the injection toward ~0.3 at its end.
    assert!(
        late.iter().all(|c| *c < 0.65),
        "late confidences {late:?} have not sunk"
    );
    let lowest = drifted.values().copied().fold(f64::INFINITY, f64::min);
    assert!(lowest < 0.45, "lowest confidence {lowest}");
}
