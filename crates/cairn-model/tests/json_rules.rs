//! OTLP/JSON encoding rules: key spellings, ids, enums, 64-bit integers, unknown fields.

use cairn_model::otlp::{self, Format, Limits, OtlpError};
use cairn_model::{AnyValue, KeyValue, SpanKind, StatusCode};
use serde_json::json;

use crate::support::{
    SPAN_ID, TRACE_ID, decode_json_logs, decode_json_spans, json_span, only_span,
};

#[test]
fn snake_case_keys_decode_like_lower_camel_case() {
    let camel = json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}], "droppedAttributesCount": 1},
            "schemaUrl": "https://opentelemetry.io/schemas/1.30.0",
            "scopeSpans": [{
                "scope": {"name": "lib", "version": "1"},
                "schemaUrl": "s",
                "spans": [{
                    "traceId": TRACE_ID, "spanId": SPAN_ID, "parentSpanId": "0102030405060708",
                    "traceState": "k=v", "name": "n", "kind": 3, "flags": 257,
                    "startTimeUnixNano": "10", "endTimeUnixNano": "20",
                    "attributes": [{"key": "a", "value": {"intValue": "5"}}],
                    "droppedAttributesCount": 2, "droppedEventsCount": 3, "droppedLinksCount": 4,
                    "events": [{"timeUnixNano": "15", "name": "e", "droppedAttributesCount": 1}],
                    "status": {"code": 2, "message": "bad"}
                }]
            }]
        }]
    });
    let snake = json!({
        "resource_spans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "svc"}}], "dropped_attributes_count": 1},
            "schema_url": "https://opentelemetry.io/schemas/1.30.0",
            "scope_spans": [{
                "scope": {"name": "lib", "version": "1"},
                "schema_url": "s",
                "spans": [{
                    "trace_id": TRACE_ID, "span_id": SPAN_ID, "parent_span_id": "0102030405060708",
                    "trace_state": "k=v", "name": "n", "kind": 3, "flags": 257,
                    "start_time_unix_nano": "10", "end_time_unix_nano": "20",
                    "attributes": [{"key": "a", "value": {"int_value": "5"}}],
                    "dropped_attributes_count": 2, "dropped_events_count": 3, "dropped_links_count": 4,
                    "events": [{"time_unix_nano": "15", "name": "e", "dropped_attributes_count": 1}],
                    "status": {"code": 2, "message": "bad"}
                }]
            }]
        }]
    });
    let decode = |v: serde_json::Value| {
        otlp::decode_traces(v.to_string().as_bytes(), Format::Json, &Limits::default())
            .expect("well-formed")
    };
    let span = only_span(decode(camel));
    assert_eq!(decode(snake).spans, std::slice::from_ref(&span));
    assert_eq!(span.trace_state, "k=v");
    assert_eq!(span.flags, 257);
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.dropped_attributes_count, 2);
    assert_eq!(span.dropped_events_count, 3);
    assert_eq!(span.dropped_links_count, 4);
    assert_eq!(span.events[0].dropped_attributes_count, 1);
    assert_eq!(span.resource.dropped_attributes_count, 1);
    assert_eq!(
        span.resource.schema_url,
        "https://opentelemetry.io/schemas/1.30.0"
    );
    assert_eq!(span.scope.schema_url, "s");
}

#[test]
fn integers_accept_strings_and_numbers() {
    let span = only_span(decode_json_spans(vec![json_span(json!({
        "startTimeUnixNano": 1_544_712_660_000_000_000_u64,
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [
            {"key": "s", "value": {"intValue": "-9223372036854775808"}},
            {"key": "n", "value": {"intValue": 42}},
            {"key": "e", "value": {"intValue": 1e3}}
        ]
    }))]));
    assert_eq!(span.duration_ns(), 1_000_000_000);
    assert_eq!(span.attribute("s"), Some(&AnyValue::Int(i64::MIN)));
    assert_eq!(span.attribute("n"), Some(&AnyValue::Int(42)));
    assert_eq!(span.attribute("e"), Some(&AnyValue::Int(1000)));
}

#[test]
fn enums_accept_integers_and_proto_names() {
    let span = only_span(decode_json_spans(vec![json_span(json!({
        "kind": "SPAN_KIND_CONSUMER",
        "status": {"code": "STATUS_CODE_OK"}
    }))]));
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(span.status.code, StatusCode::Ok);
    let logs = decode_json_logs(vec![json!({"severityNumber": "SEVERITY_NUMBER_WARN"})]);
    assert_eq!(logs.logs[0].severity_number, 13);
}

#[test]
fn ids_are_hex_in_either_case() {
    let upper = only_span(decode_json_spans(vec![json_span(json!({
        "traceId": TRACE_ID.to_uppercase(), "spanId": SPAN_ID.to_uppercase()
    }))]));
    assert_eq!(upper.trace_id.to_hex(), TRACE_ID);
    assert_eq!(upper.span_id.to_hex(), SPAN_ID);
}

#[test]
fn unknown_fields_and_nulls_are_ignored() {
    let span = only_span(decode_json_spans(vec![json_span(json!({
        "futureField": {"nested": [1, 2, 3]},
        "parentSpanId": null,
        "status": null,
        "attributes": [{"key": "k", "value": {"stringValue": "v", "extra": true}, "comment": 1}]
    }))]));
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.attributes, [KeyValue::new("k", "v")]);
}

#[test]
fn doubles_bytes_and_empty_values() {
    let span = only_span(decode_json_spans(vec![json_span(json!({
        "attributes": [
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "inf", "value": {"doubleValue": "-Infinity"}},
            {"key": "num", "value": {"doubleValue": 2.5}},
            {"key": "int_as_double", "value": {"doubleValue": 3}},
            {"key": "b64", "value": {"bytesValue": "3q2+7w=="}},
            {"key": "b64_nopad", "value": {"bytesValue": "3q2+7w"}},
            {"key": "b64_url", "value": {"bytesValue": "3q2-7w=="}},
            {"key": "empty", "value": {}},
            {"key": "missing"}
        ]
    }))]));
    assert!(matches!(span.attribute("nan"), Some(AnyValue::Double(d)) if d.is_nan()));
    assert_eq!(
        span.attribute("inf"),
        Some(&AnyValue::Double(f64::NEG_INFINITY))
    );
    assert_eq!(span.attribute("num"), Some(&AnyValue::Double(2.5)));
    assert_eq!(
        span.attribute("int_as_double"),
        Some(&AnyValue::Double(3.0))
    );
    let deadbeef = AnyValue::Bytes(vec![0xde, 0xad, 0xbe, 0xef]);
    for key in ["b64", "b64_nopad", "b64_url"] {
        assert_eq!(span.attribute(key), Some(&deadbeef), "{key}");
    }
    assert_eq!(span.attribute("empty"), Some(&AnyValue::Empty));
    assert_eq!(span.attribute("missing"), Some(&AnyValue::Empty));
}

#[test]
fn a_bad_field_rejects_only_its_span() {
    let decoded = decode_json_spans(vec![
        json_span(json!({"name": "good"})),
        json_span(json!({"traceId": "not-hex"})),
        json_span(json!({"attributes": [{"key": "tokens", "value": {"intValue": "many"}}]})),
        json_span(json!({"startTimeUnixNano": -5})),
        json_span(json!({"name": 7})),
    ]);
    assert_eq!(decoded.spans.len(), 1);
    assert_eq!(decoded.spans[0].name, "good");
    let fields: Vec<&str> = decoded.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "trace_id",
            "attributes[\"tokens\"]",
            "start_time_unix_nano",
            "name"
        ]
    );
    assert!(decoded.rejected[0].message.contains("hex"));
    assert!(decoded.rejected[0].message.contains("spans[1]"));
    assert!(decoded.rejected[1].message.contains("intValue"));
}

#[test]
fn nested_value_errors_name_their_path() {
    let decoded = decode_json_spans(vec![json_span(json!({
        "attributes": [{"key": "outer", "value": {"kvlistValue": {"values": [
            {"key": "inner", "value": {"arrayValue": {"values": [{"boolValue": "yes"}]}}}
        ]}}}]
    }))]);
    assert_eq!(decoded.rejected.len(), 1);
    assert_eq!(
        decoded.rejected[0].field,
        "attributes[\"outer\"][0][\"inner\"][0]"
    );
}

#[test]
fn a_bad_resource_rejects_all_its_spans_and_no_others() {
    let body = json!({"resourceSpans": [
        {"resource": {"attributes": "oops"}, "scopeSpans": [{"spans": [json_span(json!({})), json_span(json!({}))]}]},
        {"scopeSpans": [{"spans": [json_span(json!({"name": "fine"}))]}]}
    ]});
    let decoded = otlp::decode_traces(
        body.to_string().as_bytes(),
        Format::Json,
        &Limits::default(),
    )
    .expect("well-formed envelope");
    assert_eq!(decoded.spans.len(), 1);
    assert_eq!(decoded.spans[0].name, "fine");
    assert_eq!(decoded.rejected.len(), 2);
    assert_eq!(decoded.rejected[0].field, "resource.attributes");
}

#[test]
fn structural_errors_fail_the_whole_body() {
    let limits = Limits::default();
    let cases: [&[u8]; 5] = [
        b"not json",
        b"[1,2]",
        br#"{"resourceSpans": {"not": "an array"}}"#,
        br#"{"resourceSpans": [7]}"#,
        br#"{"resourceSpans": [{"scopeSpans": "x"}]}"#,
    ];
    for body in cases {
        let result = otlp::decode_traces(body, Format::Json, &limits);
        assert!(
            matches!(
                result,
                Err(OtlpError::Json(_) | OtlpError::JsonStructure { .. })
            ),
            "{}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    let empty = otlp::decode_traces(b"{}", Format::Json, &limits).expect("empty request is valid");
    assert!(empty.spans.is_empty() && empty.rejected.is_empty());
    let message = otlp::decode_traces(cases[2], Format::Json, &limits)
        .expect_err("structure error")
        .to_string();
    assert_eq!(
        message,
        "malformed otlp json: (body).resourceSpans must be an array"
    );
}

#[test]
fn log_ids_are_optional_and_zero_ids_mean_none() {
    let decoded = decode_json_logs(vec![
        json!({"body": {"stringValue": "no ids"}}),
        json!({"traceId": "00000000000000000000000000000000", "spanId": "0000000000000000"}),
        json!({"traceId": TRACE_ID, "spanId": SPAN_ID}),
        json!({"traceId": "abcd"}),
    ]);
    assert_eq!(decoded.logs.len(), 3);
    assert_eq!(decoded.logs[0].trace_id, None);
    assert_eq!(decoded.logs[1].trace_id, None);
    assert_eq!(decoded.logs[1].span_id, None);
    assert_eq!(
        decoded.logs[2].span_id.map(|s| s.to_hex()).as_deref(),
        Some(SPAN_ID)
    );
    assert_eq!(decoded.rejected.len(), 1);
    assert_eq!(decoded.rejected[0].field, "trace_id");
    assert!(
        decoded.rejected[0]
            .message
            .starts_with("log record resource_logs[0]")
    );
}

#[test]
fn content_type_maps_to_format() {
    assert_eq!(
        Format::from_content_type("application/json; charset=utf-8"),
        Some(Format::Json)
    );
    assert_eq!(
        Format::from_content_type("application/x-protobuf"),
        Some(Format::Protobuf)
    );
    assert_eq!(Format::from_content_type("text/plain"), None);
}
