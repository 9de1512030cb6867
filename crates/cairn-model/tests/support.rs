//! Shared helpers: fixture access and small OTLP/JSON builders.

use cairn_model::otlp::{self, DecodedLogs, DecodedSpans, Format, Limits};
use serde_json::{Value, json};

pub(crate) const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
pub(crate) const SPAN_ID: &str = "eee19b7ec3c1b174";

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/otlp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A minimal valid OTLP/JSON span; `extra` fields are merged over it.
pub(crate) fn json_span(extra: Value) -> Value {
    let mut span = json!({
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "name": "span",
        "startTimeUnixNano": "1000",
        "endTimeUnixNano": "2000",
    });
    if let (Some(span), Value::Object(extra)) = (span.as_object_mut(), extra) {
        span.extend(extra);
    }
    span
}

pub(crate) fn traces_body(spans: Vec<Value>) -> Vec<u8> {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
        .to_string()
        .into_bytes()
}

pub(crate) fn decode_json_spans(spans: Vec<Value>) -> DecodedSpans {
    decode_json_spans_with(spans, &Limits::default())
}

pub(crate) fn decode_json_spans_with(spans: Vec<Value>, limits: &Limits) -> DecodedSpans {
    otlp::decode_traces(&traces_body(spans), Format::Json, limits).expect("well-formed body")
}

pub(crate) fn decode_json_logs(records: Vec<Value>) -> DecodedLogs {
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}).to_string();
    otlp::decode_logs(body.as_bytes(), Format::Json, &Limits::default()).expect("well-formed body")
}

/// The single accepted span, failing the test with the rejections otherwise.
pub(crate) fn only_span(decoded: DecodedSpans) -> cairn_model::Span {
    assert!(
        decoded.rejected.is_empty(),
        "rejected: {:?}",
        decoded.rejected
    );
    let [span] = <[_; 1]>::try_from(decoded.spans).expect("exactly one span");
    span
}
