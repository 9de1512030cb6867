//! Agent metrics derived from spans: run aggregation in both arrival orders, label caps, prices,
//! duplicates, errors.

use std::time::{Duration, Instant};

use cairn_metrics::{Metrics, MetricsConfig, Price};
use cairn_model::{KeyValue, Record};

use crate::common::*;

fn metrics(config: MetricsConfig) -> Metrics {
    Metrics::new(config, "test")
}

fn config() -> MetricsConfig {
    MetricsConfig {
        run_grace_ms: 1_000,
        ..MetricsConfig::default()
    }
}

/// Trace 1: planner (1) calls web_search ×3, calculator ×1, reasons twice, makes one LLM call and
/// one decision, and delegates to researcher (10), which calls fetch once and reasons once.
/// Returned children first (each span after all its descendants), as exporters deliver it.
fn planner_trace() -> Vec<Record> {
    vec![
        tool(1, 2, 1, "web_search", 0.2),
        tool(1, 3, 1, "web_search", 0.3),
        tool(1, 4, 1, "web_search", 0.4),
        tool(1, 5, 1, "calculator", 0.01),
        reasoning(1, 6, 1),
        reasoning(1, 7, 1),
        llm(1, 8, 1, "gpt-4o", 1000, 500),
        decision(1, 9, 1, "route", 0.85),
        tool(1, 11, 10, "fetch", 1.5),
        reasoning(1, 12, 10),
        agent(1, 10, Some(1), "researcher", 3.0),
        agent(1, 1, None, "planner", 12.0),
    ]
}

fn observe_all(m: &Metrics, records: &[Record], at: Instant) {
    for record in records {
        m.agents().observe_at(record, at);
    }
}

/// Agent-derived samples as (series, value), sorted by series.
fn agent_samples(text: &str) -> Vec<(String, f64)> {
    let mut samples: Vec<(String, f64)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && (l.starts_with("cairn_") || l.starts_with("gen_ai_")))
        .filter(|l| !l.starts_with("cairn_ingest") && !l.starts_with("cairn_ledger"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    samples
}

#[test]
fn children_first_runs_are_aggregated_per_nearest_agent() {
    let m = metrics(config());
    let t0 = Instant::now();
    observe_all(&m, &planner_trace(), t0);
    // Before the grace period ends the run histograms are empty, the counters are not.
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_tool_calls_total{agent="planner",tool="web_search",status="ok"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        samples(&text, "cairn_tool_calls_per_run").is_empty(),
        "{text}"
    );

    m.agents().tick(t0 + Duration::from_secs(2));
    let text = m.encode_text();
    let v = |series: &str| value(&text, series);
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="planner",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="researcher",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_agent_run_duration_seconds_sum{agent="planner"}"#),
        Some(12.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_total{agent="planner",tool="calculator",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_total{agent="researcher",tool="fetch",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_per_run_sum{agent="planner"}"#),
        Some(4.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_per_run_count{agent="planner"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_per_run_sum{agent="researcher"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_run_max_same_tool_calls_sum{agent="planner"}"#),
        Some(3.0)
    );
    assert_eq!(
        v(r#"cairn_run_max_same_tool_calls_bucket{agent="planner",le="2"}"#),
        Some(0.0)
    );
    assert_eq!(
        v(r#"cairn_run_max_same_tool_calls_bucket{agent="planner",le="3"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_reasoning_steps_per_run_sum{agent="planner"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"cairn_reasoning_steps_per_run_sum{agent="researcher"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_llm_tokens_total{agent="planner",model="gpt-4o",type="input"}"#),
        Some(1000.0)
    );
    assert_eq!(
        v(r#"cairn_llm_tokens_total{agent="planner",model="gpt-4o",type="output"}"#),
        Some(500.0)
    );
    let cost = v(r#"cairn_llm_cost_usd_total{agent="planner",model="gpt-4o"}"#).expect("cost");
    assert!((cost - 0.0075).abs() < 1e-12, "{cost}");
    assert_eq!(
        v(r#"cairn_decisions_total{agent="planner",decision="route"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_decision_confidence_sum{agent="planner"}"#),
        Some(0.85)
    );
    assert_eq!(
        v(
            r#"gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_token_type="input"}"#
        ),
        Some(1000.0)
    );
    assert_eq!(
        v(
            r#"gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",error_type=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        m.agents().pending().0,
        1,
        "the trace is retained for late spans"
    );
}

#[test]
fn parent_first_delivery_gives_the_same_metrics() {
    let t0 = Instant::now();
    let children_first = metrics(config());
    observe_all(&children_first, &planner_trace(), t0);
    children_first.agents().tick(t0 + Duration::from_secs(2));

    let parent_first = metrics(config());
    let mut reversed = planner_trace();
    reversed.reverse();
    // Children arrive within the grace period after their agent span.
    parent_first.agents().observe_at(&reversed[0], t0);
    observe_all(
        &parent_first,
        &reversed[1..],
        t0 + Duration::from_millis(500),
    );
    parent_first.agents().tick(t0 + Duration::from_secs(2));

    let expected = agent_samples(&children_first.encode_text());
    assert!(expected.len() > 50, "{expected:?}");
    let got = agent_samples(&parent_first.encode_text());
    assert_eq!(got.len(), expected.len());
    for ((series, want), (got_series, got)) in expected.iter().zip(&got) {
        assert_eq!(got_series, series);
        // Sums may differ in the last bit: the additions happen in another order.
        assert!((want - got).abs() < 1e-9, "{series}: {got} != {want}");
    }
}

#[test]
fn late_children_count_under_their_agent_but_not_in_the_closed_run() {
    let m = metrics(config());
    let t0 = Instant::now();
    m.agents()
        .observe_at(&agent(1, 1, None, "planner", 1.0), t0);
    m.agents().tick(t0 + Duration::from_secs(2));
    m.agents().observe_at(
        &tool(1, 2, 1, "web_search", 0.1),
        t0 + Duration::from_secs(3),
    );
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_tool_calls_total{agent="planner",tool="web_search",status="ok"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"cairn_tool_calls_per_run_sum{agent="planner"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&text, r#"cairn_tool_calls_per_run_count{agent="planner"}"#),
        Some(1.0)
    );
}

#[test]
fn spans_without_an_agent_are_counted_as_unknown() {
    let m = metrics(config());
    let t0 = Instant::now();
    // A root tool span: resolved at once.
    let root_tool = Record::Span(span(
        2,
        1,
        None,
        "execute_tool grep",
        0.1,
        vec![KeyValue::new("gen_ai.tool.name", "grep")],
    ));
    m.agents().observe_at(&root_tool, t0);
    // A tool whose parent never arrives: counted when the trace times out.
    m.agents().observe_at(&tool(3, 2, 9, "ls", 0.1), t0);
    let unknown_ls = r#"cairn_tool_calls_total{agent="unknown",tool="ls",status="ok"}"#;
    assert_eq!(value(&m.encode_text(), unknown_ls), None);
    m.agents()
        .tick(t0 + MetricsConfig::default().pending_timeout());
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_tool_calls_total{agent="unknown",tool="grep",status="ok"}"#
        ),
        Some(1.0)
    );
    assert_eq!(value(&text, unknown_ls), Some(1.0));
    assert_eq!(m.agents().pending(), (0, 0));
}

#[test]
fn a_span_naming_its_agent_is_counted_before_its_parent_arrives() {
    let m = metrics(config());
    let Record::Span(mut s) = tool(4, 2, 1, "search", 0.1) else {
        unreachable!()
    };
    s.attributes
        .push(KeyValue::new("gen_ai.agent.name", "scout"));
    m.agents().observe(&Record::Span(s));
    assert_eq!(
        value(
            &m.encode_text(),
            r#"cairn_tool_calls_total{agent="scout",tool="search",status="ok"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn errors_are_counted_by_agent_and_type() {
    let m = metrics(config());
    let t0 = Instant::now();
    m.agents().observe_at(
        &failed(tool(1, 2, 1, "web_search", 0.1), "TimeoutError"),
        t0,
    );
    m.agents()
        .observe_at(&failed(agent(1, 1, None, "planner", 1.0), "AgentError"), t0);
    let text = m.encode_text();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="planner",status="error"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_total{agent="planner",tool="web_search",status="error"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_errors_total{agent="planner",error_type="TimeoutError"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_errors_total{agent="planner",error_type="AgentError"}"#),
        Some(1.0)
    );
}

#[test]
fn a_record_observed_twice_while_pending_is_counted_once() {
    // Contract: the index consumer observes each ledger entry once. A span that reached the
    // ledger twice (a retried export) is still counted once while its trace is pending.
    let m = metrics(config());
    let t0 = Instant::now();
    let t = tool(1, 2, 1, "web_search", 0.1);
    let a = agent(1, 1, None, "planner", 1.0);
    for record in [&t, &t, &a, &a, &t] {
        m.agents().observe_at(record, t0);
    }
    m.agents().tick(t0 + Duration::from_secs(2));
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_tool_calls_total{agent="planner",tool="web_search",status="ok"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_agent_runs_total{agent="planner",status="ok"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"cairn_tool_calls_per_run_sum{agent="planner"}"#),
        Some(1.0)
    );
}

#[test]
fn label_values_over_the_cap_go_to_other() {
    let m = metrics(MetricsConfig {
        label_cap: 2,
        ..config()
    });
    for (i, name) in ["a", "b", "c", "d", "a"].into_iter().enumerate() {
        let id = u8::try_from(i).expect("small") + 1;
        m.agents().observe(&agent(id, 1, None, name, 1.0));
    }
    let text = m.encode_text();
    let v = |s: &str| value(&text, s);
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="a",status="ok"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="b",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="__other__",status="ok"}"#),
        Some(2.0)
    );
    assert_eq!(v(r#"cairn_agent_runs_total{agent="c",status="ok"}"#), None);
    assert_eq!(
        v(r#"cairn_metrics_label_overflow_total{metric="cairn_agent_runs_total",label="agent"}"#),
        Some(2.0)
    );
    assert_eq!(samples(&text, "cairn_agent_runs_total").len(), 3);
}

/// Recording goes through handles cached by label values; a value replaced by `__other__` must
/// not be cached, so its overflow is counted again on every observation, in each metric whose
/// label it would have been.
#[test]
fn overflow_is_counted_on_every_observation_of_every_metric() {
    let m = metrics(MetricsConfig {
        label_cap: 1,
        ..config()
    });
    let t0 = Instant::now();
    // Three traces: "planner" takes the one agent slot, "coder" overflows twice.
    for (trace, name) in [(1, "planner"), (2, "coder"), (3, "coder")] {
        m.agents()
            .observe_at(&failed(agent(trace, 1, None, name, 1.0), "AgentError"), t0);
        m.agents()
            .observe_at(&tool(trace, 2, 1, "web_search", 0.1), t0);
    }
    let text = m.encode_text();
    let v = |s: &str| value(&text, s);
    let overflow = |metric: &str| {
        v(&format!(
            r#"cairn_metrics_label_overflow_total{{metric="{metric}",label="agent"}}"#
        ))
    };
    assert_eq!(overflow("cairn_agent_runs_total"), Some(2.0), "{text}");
    assert_eq!(overflow("cairn_errors_total"), Some(2.0), "{text}");
    assert_eq!(overflow("cairn_tool_calls_total"), Some(2.0), "{text}");
    assert_eq!(
        v(r#"cairn_agent_runs_total{agent="__other__",status="error"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_total{agent="__other__",tool="web_search",status="ok"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"cairn_tool_calls_total{agent="planner",tool="web_search",status="ok"}"#),
        Some(1.0)
    );
    // An admitted value is recorded through its cached handles into the same series.
    for trace in 4..7 {
        m.agents()
            .observe_at(&agent(trace, 1, None, "planner", 1.0), t0);
    }
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_agent_runs_total{agent="planner",status="ok"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_agent_run_duration_seconds_count{agent="planner"}"#
        ),
        Some(4.0)
    );
}

#[test]
fn cost_comes_from_the_configured_price_table() {
    let toml = r#"
        label_cap = 50
        [price_table."my-model"]
        input_per_mtok_usd = 1.0
        output_per_mtok_usd = 2.0
    "#;
    let config: MetricsConfig = toml::from_str(toml).expect("valid config");
    assert_eq!(config.label_cap, 50);
    assert_eq!(
        config.pending_runs_cap, 10_000,
        "other fields keep their defaults"
    );
    assert_eq!(
        config.price_table.get("my-model"),
        Some(&Price {
            input_per_mtok_usd: 1.0,
            output_per_mtok_usd: 2.0
        })
    );
    assert!(
        config.price_of("gpt-4o").is_none(),
        "a configured table replaces the defaults"
    );
    let m = metrics(config);
    m.agents()
        .observe(&llm(1, 2, 1, "my-model-v2", 2_000_000, 1_000_000));
    m.agents().observe(&llm(1, 3, 1, "unpriced", 10, 10));
    m.agents().observe(&agent(1, 1, None, "planner", 1.0));
    let text = m.encode_text();
    assert_eq!(
        value(
            &text,
            r#"cairn_llm_cost_usd_total{agent="planner",model="my-model-v2"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_llm_cost_usd_total{agent="planner",model="unpriced"}"#
        ),
        None
    );
    assert_eq!(
        value(
            &text,
            r#"cairn_llm_tokens_total{agent="planner",model="unpriced",type="input"}"#
        ),
        Some(10.0)
    );
    assert!(toml::from_str::<MetricsConfig>("labelcap = 1").is_err());
}

#[test]
fn eviction_finalizes_the_oldest_run_and_is_counted() {
    let m = metrics(MetricsConfig {
        pending_runs_cap: 1,
        ..config()
    });
    let t0 = Instant::now();
    m.agents().observe_at(&tool(1, 2, 1, "web_search", 0.1), t0);
    m.agents()
        .observe_at(&agent(1, 1, None, "planner", 1.0), t0);
    m.agents().observe_at(&agent(2, 1, None, "other", 1.0), t0);
    let text = m.encode_text();
    assert_eq!(
        value(&text, "cairn_metrics_pending_runs_evicted_total"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"cairn_tool_calls_per_run_sum{agent="planner"}"#),
        Some(1.0)
    );
    assert_eq!(m.agents().pending().0, 1);
}
