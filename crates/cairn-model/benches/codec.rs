//! Throughput of the hot paths: OTLP decoding + validation, and the canonical encoding.
//!
//! Run with `cargo bench -p cairn-model --bench codec`.

use cairn_model::codec;
use cairn_model::otlp::{self, Format, Limits};
use cairn_model::{KeyValue, Span, SpanId, TraceId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;

/// A tool-call span with typical GenAI attributes.
fn sample_span(i: u64) -> Span {
    let mut span = Span {
        trace_id: TraceId([7; 16]),
        span_id: SpanId((i + 1).to_be_bytes()),
        parent_span_id: Some(SpanId([9; 8])),
        name: "execute_tool web_search".to_owned(),
        start_unix_nano: 1_717_000_000_000_000_000 + i,
        end_unix_nano: 1_717_000_000_100_000_000 + i,
        attributes: vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "web_search"),
            KeyValue::new("gen_ai.tool.call.id", format!("call_{i}")),
            KeyValue::new(
                "gen_ai.tool.call.arguments",
                r#"{"query":"rust otlp","limit":10}"#,
            ),
            KeyValue::new("gen_ai.agent.name", "researcher"),
        ],
        ..Span::default()
    };
    span.resource.attributes = vec![KeyValue::new("service.name", "bench")];
    span.refresh_agent_kind();
    span
}

fn benches(c: &mut Criterion) {
    let spans: Vec<Span> = (0..1_000).map(sample_span).collect();
    let request = otlp::spans_to_request(&spans).encode_to_vec();
    let limits = Limits::default();

    let mut group = c.benchmark_group("spans");
    group.throughput(Throughput::Elements(spans.len() as u64));
    group.bench_function("otlp_protobuf_decode_validate", |b| {
        b.iter(|| otlp::decode_traces(&request, Format::Protobuf, &limits))
    });
    // The last span's name made invalid UTF-8: prost fails at the end of the body, then the
    // fallback decoder decodes it again and rejects that one span (the worst case).
    let mut bad_request = request.clone();
    let at = bad_request
        .windows(b"execute_tool web_search".len())
        .rposition(|w| w == b"execute_tool web_search")
        .expect("span name in the request");
    bad_request[at] = 0xff;
    group.bench_function("otlp_protobuf_decode_validate_utf8_fallback", |b| {
        b.iter(|| otlp::decode_traces(&bad_request, Format::Protobuf, &limits))
    });
    group.bench_function("prost_decode_only", |b| {
        b.iter(|| {
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                request.as_slice(),
            )
        })
    });
    group.bench_function("codec_encode", |b| {
        b.iter(|| spans.iter().map(codec::encode_span).collect::<Vec<_>>())
    });
    let encoded: Vec<Vec<u8>> = spans.iter().map(codec::encode_span).collect();
    group.bench_function("codec_decode", |b| {
        b.iter(|| {
            encoded
                .iter()
                .map(|bytes| codec::decode(bytes))
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(codec_benches, benches);
criterion_main!(codec_benches);
