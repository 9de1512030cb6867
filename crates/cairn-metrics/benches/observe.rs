//! `AgentMetrics::observe` throughput: one agent run of 1 agent span, 3 LLM spans, 4 tool spans,
//! 1 reasoning span and 1 decision span (10 spans), delivered children first.

use std::hint::black_box;

use cairn_metrics::{AgentMetrics, MetricsConfig};
use cairn_model::{AnyValue, KeyValue, Record, Span, SpanId, TraceId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn span(trace: u64, id: u8, parent: Option<u8>, name: &str, attrs: Vec<KeyValue>) -> Record {
    let mut trace_id = [0_u8; 16];
    trace_id[..8].copy_from_slice(&trace.to_be_bytes());
    trace_id[15] = 1;
    let mut span = Span {
        trace_id: TraceId(trace_id),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        name: name.to_owned(),
        start_unix_nano: 1_000_000_000,
        end_unix_nano: 1_250_000_000,
        attributes: attrs,
        ..Span::default()
    };
    span.refresh_agent_kind();
    Record::Span(span)
}

fn run(trace: u64) -> Vec<Record> {
    let llm = |id| {
        span(
            trace,
            id,
            Some(1),
            "chat gpt-4o",
            vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", "openai"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.usage.input_tokens", 1200_i64),
                KeyValue::new("gen_ai.usage.output_tokens", 300_i64),
            ],
        )
    };
    let tool = |id, name: &str| {
        span(
            trace,
            id,
            Some(1),
            "execute_tool",
            vec![
                KeyValue::new("gen_ai.operation.name", "execute_tool"),
                KeyValue::new("gen_ai.tool.name", name),
                KeyValue::new("gen_ai.tool.call.arguments", r#"{"q":"rust"}"#),
            ],
        )
    };
    vec![
        llm(2),
        tool(3, "web_search"),
        tool(4, "web_search"),
        llm(5),
        tool(6, "calculator"),
        tool(7, "web_search"),
        span(
            trace,
            8,
            Some(1),
            "think",
            vec![KeyValue::new("cairn.kind", "reasoning")],
        ),
        span(
            trace,
            9,
            Some(1),
            "route",
            vec![
                KeyValue::new("cairn.kind", "decision"),
                KeyValue::new("cairn.decision.name", "route"),
                KeyValue::new("cairn.decision.confidence", AnyValue::Double(0.8)),
            ],
        ),
        llm(10),
        span(
            trace,
            1,
            None,
            "invoke_agent planner",
            vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", "planner"),
            ],
        ),
    ]
}

fn observe(c: &mut Criterion) {
    let runs: Vec<Vec<Record>> = (0..1_000).map(run).collect();
    let spans = runs.iter().map(Vec::len).sum::<usize>() as u64;
    let mut group = c.benchmark_group("agent_metrics");
    group.throughput(Throughput::Elements(spans));
    group.bench_function("observe_children_first", |b| {
        let metrics = AgentMetrics::new(MetricsConfig::default());
        b.iter(|| {
            for record in runs.iter().flatten() {
                metrics.observe(black_box(record));
            }
            // Identical span ids would be filtered as duplicates on the next iteration.
            metrics.flush();
        });
    });
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
