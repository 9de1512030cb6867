//! Hostile and invalid input: every case is an error or a rejection, never a panic, and no limit
//! truncates silently.

use cairn_model::otlp::{self, Format, Limits, OtlpError};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;
use prost::Message as _;
use serde_json::json;

use crate::support::{decode_json_spans, decode_json_spans_with, json_span, only_span};

fn proto_span() -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "span".to_owned(),
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn nested_proto(depth: usize) -> AnyValue {
    let mut value = AnyValue {
        value: Some(Value::IntValue(1)),
    };
    for _ in 1..depth {
        value = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    value
}

fn with_attribute(value: AnyValue) -> Span {
    Span {
        attributes: vec![KeyValue {
            key: "deep".to_owned(),
            value: Some(value),
            key_strindex: 0,
        }],
        ..proto_span()
    }
}

fn nested_json(depth: usize) -> serde_json::Value {
    let mut value = json!({"intValue": "1"});
    for _ in 1..depth {
        value = json!({"arrayValue": {"values": [value]}});
    }
    value
}

#[test]
fn nesting_at_the_limit_is_accepted_and_beyond_is_rejected() {
    let limits = Limits::default();
    let at_limit = otlp::spans_from_request(
        request(vec![with_attribute(nested_proto(limits.max_depth))]),
        &limits,
    );
    assert_eq!((at_limit.spans.len(), at_limit.rejected.len()), (1, 0));

    let beyond = otlp::spans_from_request(
        request(vec![
            with_attribute(nested_proto(limits.max_depth + 1)),
            proto_span(),
        ]),
        &limits,
    );
    assert_eq!(beyond.spans.len(), 1, "the other span is accepted");
    assert_eq!(beyond.rejected.len(), 1);
    assert_eq!(beyond.rejected[0].field, "attributes[\"deep\"]");
    assert!(
        beyond.rejected[0].message.contains("max_depth = 32"),
        "{}",
        beyond.rejected[0].message
    );
}

#[test]
fn deep_nesting_in_json_is_rejected_per_span_or_fails_the_parse() {
    let decoded = decode_json_spans(vec![json_span(json!({
        "attributes": [{"key": "deep", "value": nested_json(34)}]
    }))]);
    assert_eq!(decoded.rejected.len(), 1);
    assert!(decoded.rejected[0].message.contains("max_depth"));

    // Built as text: a `serde_json::Value` this deep could not even be dropped on a test thread.
    let depth = 100_000;
    let value = format!(
        "{}{{\"intValue\":\"1\"}}{}",
        "{\"arrayValue\":{\"values\":[".repeat(depth),
        "]}}".repeat(depth)
    );
    let span = json_span(json!({"attributes": [{"key": "deep", "value": "PLACEHOLDER"}]}));
    let body = String::from_utf8(crate::support::traces_body(vec![span]))
        .expect("utf-8")
        .replace("\"PLACEHOLDER\"", &value);
    let result = otlp::decode_traces(body.as_bytes(), Format::Json, &Limits::default());
    assert!(matches!(result, Err(OtlpError::Json(_))), "{result:?}");
}

#[test]
fn deep_nesting_in_protobuf_beyond_prost_limit_fails_the_body() {
    let bytes = request(vec![with_attribute(nested_proto(200))]).encode_to_vec();
    let result = otlp::decode_traces(&bytes, Format::Protobuf, &Limits::default());
    assert!(matches!(result, Err(OtlpError::Protobuf(_))), "{result:?}");
}

#[test]
fn absurdly_deep_in_memory_request_is_rejected_without_overflow() {
    // The gRPC path hands us messages built elsewhere; validation walks values iteratively.
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20) // only for building and dropping the value, both recursive
        .spawn(|| {
            let decoded = otlp::spans_from_request(
                request(vec![with_attribute(nested_proto(20_000))]),
                &Limits::default(),
            );
            (decoded.spans.len(), decoded.rejected.len())
        })
        .expect("spawn")
        .join()
        .expect("no panic");
    assert_eq!(outcome, (0, 1));
}

#[test]
fn huge_arrays_are_rejected_naming_the_limit() {
    let limits = Limits::default();
    let huge = AnyValue {
        value: Some(Value::ArrayValue(ArrayValue {
            values: vec![AnyValue::default(); limits.max_array_len + 1],
        })),
    };
    let decoded = otlp::spans_from_request(request(vec![with_attribute(huge)]), &limits);
    assert_eq!(decoded.rejected.len(), 1);
    assert!(decoded.rejected[0].message.contains("100001 values"));
    assert!(
        decoded.rejected[0]
            .message
            .contains("max_array_len = 100000")
    );
}

#[test]
fn multi_megabyte_values_are_accepted_by_default() {
    let output = "x".repeat(5 << 20);
    let span = only_span(decode_json_spans(vec![json_span(json!({
        "attributes": [{"key": "gen_ai.output", "value": {"stringValue": output}}]
    }))]));
    assert_eq!(
        span.attribute_str("gen_ai.output").map(str::len),
        Some(5 << 20)
    );
}

#[test]
fn every_limit_rejects_and_names_itself() {
    let small = Limits {
        max_attribute_value_bytes: 8,
        max_attributes: 2,
        max_events: 1,
        max_links: 1,
        max_depth: 2,
        max_array_len: 2,
        max_key_bytes: 4,
        max_name_bytes: 8,
        max_record_bytes: 1 << 20,
    };
    let link = json!({"traceId": "01010101010101010101010101010101", "spanId": "0202020202020202"});
    let cases = [
        (
            json!({"attributes": [{"key": "k", "value": {"stringValue": "123456789"}}]}),
            "max_attribute_value_bytes",
            "attributes[\"k\"]",
        ),
        (
            json!({"attributes": [{"key": "k", "value": {"bytesValue": "AAAAAAAAAAAAAA=="}}]}),
            "max_attribute_value_bytes",
            "attributes[\"k\"]",
        ),
        (
            json!({"attributes": [{"key": "a"}, {"key": "b"}, {"key": "c"}]}),
            "max_attributes",
            "attributes",
        ),
        (
            json!({"events": [{"name": "a"}, {"name": "b"}]}),
            "max_events",
            "events",
        ),
        (
            json!({"events": [{"name": "a", "attributes": [{"key": "toolong"}]}]}),
            "max_key_bytes",
            "events[0].attributes[0].key",
        ),
        (json!({"links": [link.clone(), link]}), "max_links", "links"),
        (
            json!({"attributes": [{"key": "k", "value": {"kvlistValue": {"values": [{"key": "x"}, {"key": "y"}, {"key": "z"}]}}}]}),
            "max_array_len",
            "attributes[\"k\"]",
        ),
        (
            json!({"attributes": [{"key": "k", "value": {"arrayValue": {"values": [{"arrayValue": {"values": [{"intValue": 1}]}}]}}}]}),
            "max_depth",
            "attributes[\"k\"]",
        ),
        (
            json!({"name": "a-long-span-name"}),
            "max_name_bytes",
            "name",
        ),
        (
            json!({"status": {"message": "a long status message"}}),
            "max_attribute_value_bytes",
            "status.message",
        ),
    ];
    for (extra, limit, field) in cases {
        let decoded = decode_json_spans_with(vec![json_span(extra.clone())], &small);
        assert_eq!(decoded.rejected.len(), 1, "{extra}");
        assert_eq!(decoded.rejected[0].field, field, "{extra}");
        assert!(
            decoded.rejected[0].message.contains(limit),
            "{}",
            decoded.rejected[0].message
        );
    }
    let record = Limits {
        max_record_bytes: 64,
        ..Limits::default()
    };
    let decoded = decode_json_spans_with(
        vec![json_span(
            json!({"attributes": [{"key": "k", "value": {"stringValue": "y".repeat(100)}}]}),
        )],
        &record,
    );
    assert_eq!(decoded.rejected[0].field, "span");
    assert!(
        decoded.rejected[0]
            .message
            .contains("max_record_bytes = 64")
    );
}

#[test]
fn bad_ids_are_rejected() {
    let cases = [
        (
            Span {
                trace_id: vec![1; 15],
                ..proto_span()
            },
            "trace_id",
            "must be 16 bytes, got 15",
        ),
        (
            Span {
                trace_id: vec![0; 16],
                ..proto_span()
            },
            "trace_id",
            "all zeros",
        ),
        (
            Span {
                trace_id: Vec::new(),
                ..proto_span()
            },
            "trace_id",
            "got 0",
        ),
        (
            Span {
                span_id: vec![0; 8],
                ..proto_span()
            },
            "span_id",
            "all zeros",
        ),
        (
            Span {
                span_id: vec![3; 9],
                ..proto_span()
            },
            "span_id",
            "must be 8 bytes",
        ),
        (
            Span {
                parent_span_id: vec![3; 4],
                ..proto_span()
            },
            "parent_span_id",
            "empty or 8 bytes",
        ),
    ];
    for (span, field, detail) in cases {
        let decoded = otlp::spans_from_request(request(vec![span]), &Limits::default());
        assert_eq!(decoded.rejected.len(), 1, "{field}");
        assert_eq!(decoded.rejected[0].field, field);
        assert!(
            decoded.rejected[0].message.contains(detail),
            "{}",
            decoded.rejected[0].message
        );
    }
    let zero_parent = Span {
        parent_span_id: vec![0; 8],
        ..proto_span()
    };
    let decoded = otlp::spans_from_request(request(vec![zero_parent]), &Limits::default());
    assert_eq!(
        only_span(decoded).parent_span_id,
        None,
        "all-zero parent means root"
    );
}

#[test]
fn bad_link_ids_enums_and_times_are_rejected() {
    use opentelemetry_proto::tonic::trace::v1::{Status, span::Link};
    let cases = [
        (
            Span {
                links: vec![Link {
                    trace_id: vec![1; 16],
                    span_id: vec![0; 8],
                    ..Link::default()
                }],
                ..proto_span()
            },
            "links[0].span_id",
        ),
        (
            Span {
                kind: 9,
                ..proto_span()
            },
            "kind",
        ),
        (
            Span {
                status: Some(Status {
                    code: 7,
                    message: String::new(),
                }),
                ..proto_span()
            },
            "status.code",
        ),
        (
            Span {
                start_time_unix_nano: 30,
                end_time_unix_nano: 20,
                ..proto_span()
            },
            "end_time_unix_nano",
        ),
    ];
    for (span, field) in cases {
        let decoded = otlp::spans_from_request(request(vec![span]), &Limits::default());
        assert_eq!(decoded.rejected.len(), 1, "{field}");
        assert_eq!(decoded.rejected[0].field, field);
    }
    let end_before_start = otlp::spans_from_request(
        request(vec![Span {
            start_time_unix_nano: 30,
            end_time_unix_nano: 20,
            ..proto_span()
        }]),
        &Limits::default(),
    );
    assert!(
        end_before_start.rejected[0]
            .message
            .contains("(20) is before start_time_unix_nano (30)")
    );
}

#[test]
fn invalid_utf8_in_protobuf_rejects_only_that_span() {
    let mut bytes = request(vec![
        Span {
            name: "MARK".to_owned(),
            ..proto_span()
        },
        Span {
            span_id: vec![3; 8],
            ..proto_span()
        },
    ])
    .encode_to_vec();
    let at = bytes
        .windows(4)
        .position(|w| w == b"MARK")
        .expect("name bytes present");
    bytes[at] = 0xff;
    // prost alone refuses the whole message ...
    assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
    // ... Cairn rejects the one span and accepts the other.
    let decoded =
        otlp::decode_traces(&bytes, Format::Protobuf, &Limits::default()).expect("body decodes");
    assert_eq!(decoded.spans.len(), 1);
    assert_eq!(decoded.spans[0].span_id.to_hex(), "0303030303030303");
    assert_eq!(decoded.rejected.len(), 1);
    assert_eq!(decoded.rejected[0].field, "name");
    assert_eq!(
        decoded.rejected[0].message,
        "span resource_spans[0].scope_spans[0].spans[0]: name is not valid UTF-8 \
         (first bad byte at offset 0)"
    );
}

#[test]
fn truncated_protobuf_fails_the_whole_body() {
    let bytes = request(vec![proto_span()]).encode_to_vec();
    let result = otlp::decode_traces(
        &bytes[..bytes.len() - 3],
        Format::Protobuf,
        &Limits::default(),
    );
    assert!(matches!(result, Err(OtlpError::Protobuf(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        let _ = otlp::decode_traces(&bytes, Format::Protobuf, &limits);
        let _ = otlp::decode_traces(&bytes, Format::Json, &limits);
        let _ = otlp::decode_logs(&bytes, Format::Protobuf, &limits);
        let _ = otlp::decode_logs(&bytes, Format::Json, &limits);
        let _ = cairn_model::codec::decode(&bytes);
    }

    #[test]
    fn mutated_valid_requests_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = crate::support::fixture("genai_agent.binpb");
        for (index, byte) in flips {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = otlp::decode_traces(&bytes, Format::Protobuf, &Limits::default());
    }
}
