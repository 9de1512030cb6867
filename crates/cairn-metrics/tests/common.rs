//! Span builders and an exposition reader shared by the tests.

use cairn_model::{KeyValue, Record, Span, SpanId, StatusCode, TraceId};

/// A span of trace `trace` with id `id` and parent `parent` (ids are single bytes).
pub(crate) fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
    seconds: f64,
    attrs: Vec<KeyValue>,
) -> Span {
    let mut span = Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        name: name.to_owned(),
        start_unix_nano: 1_700_000_000_000_000_000,
        end_unix_nano: 1_700_000_000_000_000_000 + (seconds * 1e9) as u64,
        attributes: attrs,
        ..Span::default()
    };
    span.refresh_agent_kind();
    span
}

pub(crate) fn agent(trace: u8, id: u8, parent: Option<u8>, name: &str, seconds: f64) -> Record {
    Record::Span(span(
        trace,
        id,
        parent,
        &format!("invoke_agent {name}"),
        seconds,
        vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.name", name),
        ],
    ))
}

pub(crate) fn tool(trace: u8, id: u8, parent: u8, name: &str, seconds: f64) -> Record {
    Record::Span(span(
        trace,
        id,
        Some(parent),
        &format!("execute_tool {name}"),
        seconds,
        vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", name),
        ],
    ))
}

pub(crate) fn failed(record: Record, error_type: &str) -> Record {
    let Record::Span(mut span) = record else {
        panic!("a span")
    };
    span.status.code = StatusCode::Error;
    span.attributes
        .push(KeyValue::new("error.type", error_type));
    Record::Span(span)
}

pub(crate) fn reasoning(trace: u8, id: u8, parent: u8) -> Record {
    Record::Span(span(
        trace,
        id,
        Some(parent),
        "think",
        0.1,
        vec![KeyValue::new("cairn.kind", "reasoning")],
    ))
}

pub(crate) fn llm(trace: u8, id: u8, parent: u8, model: &str, input: i64, output: i64) -> Record {
    Record::Span(span(
        trace,
        id,
        Some(parent),
        &format!("chat {model}"),
        0.7,
        vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", model),
            KeyValue::new("gen_ai.usage.input_tokens", input),
            KeyValue::new("gen_ai.usage.output_tokens", output),
        ],
    ))
}

pub(crate) fn decision(trace: u8, id: u8, parent: u8, name: &str, confidence: f64) -> Record {
    Record::Span(span(
        trace,
        id,
        Some(parent),
        name,
        0.01,
        vec![
            KeyValue::new("cairn.kind", "decision"),
            KeyValue::new("cairn.decision.name", name),
            KeyValue::new("cairn.decision.chosen", "search"),
            KeyValue::new("cairn.decision.confidence", confidence),
        ],
    ))
}

/// The value of the sample written exactly as `series` (name and labels in exposition order).
pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
}

/// Every sample line whose series starts with `prefix`.
pub(crate) fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#') && line.starts_with(prefix))
        .collect()
}
